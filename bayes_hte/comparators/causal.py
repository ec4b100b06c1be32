r"""Causal meta-analysis of 2×2 tables (Berenfeld et al. 2026, section 3).

The target is the effect :math:`\theta(P^*) = \Phi(\psi_1, \psi_0)` in the population
:math:`P^* = \sum_k \omega_k P_k` pooling the trial populations, with
:math:`\psi_a = E_{P^*}[Y(a)]`; by default :math:`\omega_k = n_k/n` (the union of the
trials), or any convex weights the user gives. From the per-arm risks
:math:`\hat\psi_a(k) = n_{a1}(k)/n_a(k)`,

.. math::

    \hat\psi_a = \sum_k \omega_k \hat\psi_a(k), \qquad
    \hat\theta = \Phi(\hat\psi_1, \hat\psi_0),

with :math:`\Phi` the difference (RD), ratio (RR) or odds ratio (OR) of the pooled risks.
For the RD this is the :math:`\omega`-weighted average of the study risk differences.

Variances (``variance=``), written as :math:`\mathrm{Var}(\hat\psi_a)`:

``"delta"`` (default)
    The asymptotic variance when study membership is random
    (:math:`P(H = k) = n_k/n`, the paper's set-up),

    .. math::

        \mathrm{Var}(\hat\psi_a) = \frac1n\Big[\sum_k \frac{n_k^2}{n\,n_a(k)}
        \hat\psi_a(k)(1-\hat\psi_a(k)) + \sum_k \frac{n_k}{n}\hat\psi_a(k)^2
        - \hat\psi_a^2\Big] = \sigma_a^2/n,

    (the paper's :math:`\hat\sigma_a^2`), and the covariance induced by the shared
    weights, :math:`\mathrm{Cov}(\hat\psi_1, \hat\psi_0) = \frac1n[\sum_k \frac{n_k}{n}
    \hat\psi_1(k)\hat\psi_0(k) - \hat\psi_1\hat\psi_0]`; then the delta method
    :math:`\mathrm{Var}(\hat\theta) = g_1^2 V_1 + g_0^2 V_0 + 2 g_1 g_0 C` with
    :math:`g_a = \partial\Phi/\partial\psi_a`.
``"paper"``
    The formula as printed in the paper: the same :math:`\sigma_a^2` but without the
    covariance term, :math:`\hat\sigma^2 = \sigma_1^2 g_1^2 + \sigma_0^2 g_0^2`. It
    overstates the variance when the arms' risks move together across trials.
``"conditional"``
    Study sizes held fixed (the target is the realised mixture):
    :math:`\mathrm{Var}(\hat\psi_a) = \sum_k \omega_k^2 \hat\psi_a(k)(1-\hat\psi_a(k)) /
    n_a(k)` and no covariance. This is the variance used with user-given weights,
    which are fixed by design.

Confidence intervals are Wald intervals on the natural scale for the RD and on the log
scale for the RR and OR (then exponentiated).

**Zero cells.** The estimator pools the arm risks, not study contrasts, so it needs no
continuity correction: a risk of 0 or 1 is a valid :math:`\hat\psi_a(k)`. Every trial
— with a zero cell, without events in either arm, or with only events — keeps its
weight :math:`\omega_k` and its risks; leaving it out would change the target population
:math:`P^*` (and, for the RD, bias the estimate away from 0). The contrast is undefined
only for the pooled risks: :math:`\hat\psi_0 = 0` or :math:`\hat\psi_1 = 0` for the
RR, a pooled risk of 0 or 1 for the OR (a ``DataError`` then says so), and the variance
is zero when every arm of every trial has risk 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from bayes_hte.comparators.population import contrast_gradient
from bayes_hte.comparators.printout import causal_meta_text
from bayes_hte.comparators.results import IntervalBounds, check_ci_prob, wald_interval
from bayes_hte.data.aggregate import ArmTable, check_weights
from bayes_hte.errors import DataError
from bayes_hte.options import MEASURES, CausalVariance, Measure, SampleSizeWeights

VARIANCES: tuple[str, ...] = get_args(CausalVariance)


def contrast(psi1: npt.ArrayLike, psi0: npt.ArrayLike, measure: Measure) -> np.ndarray:
    r""":math:`\Phi(\psi_1, \psi_0)`: risk difference, risk ratio or odds ratio.

    Parameters
    ----------
    psi1, psi0 : float or array_like
        Risks under treatment and control (broadcast against each other).
    measure : {"RD", "RR", "OR"}
        The contrast.

    Returns
    -------
    ndarray
        :math:`\psi_1 - \psi_0`, :math:`\psi_1/\psi_0` or the odds ratio (natural
        scale; ``inf``/``nan`` where undefined).

    Raises
    ------
    ValueError
        An unknown measure.
    """
    psi1, psi0 = np.asarray(psi1, dtype=float), np.asarray(psi0, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RD":
            return psi1 - psi0
        if measure == "RR":
            return psi1 / psi0
        if measure == "OR":
            return psi1 / (1 - psi1) / (psi0 / (1 - psi0))
    raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")


def causal_core(n11: npt.ArrayLike, n10: npt.ArrayLike, n01: npt.ArrayLike,
                n00: npt.ArrayLike, *, measure: Measure = "RR",
                weights: npt.ArrayLike | None = None, variance: CausalVariance = "delta",
                ci_prob: float = 0.95) -> dict:
    r"""Vectorised causal estimator (module docstring) for counts of shape (K, R...).

    Parameters
    ----------
    n11, n10, n01, n00 : array_like, shape (K, R...)
        Counts per study (first axis) and replicate (trailing axes); every arm non-empty.
    measure : {"RD", "RR", "OR"}
    weights : array_like, optional
        Convex study weights, shape (K,) or broadcastable to (K, R...); default
        :math:`n_k/n`.
    variance : {"delta", "paper", "conditional"}
        See the module docstring. With ``weights`` given, ``"delta"`` equals
        ``"conditional"`` (fixed weights carry no membership variance).
    ci_prob : float
        Probability of the confidence interval, in (0, 1).

    Returns
    -------
    dict
        ``estimate`` (natural scale), ``se`` (natural scale, delta method), ``log_se``
        (SE of log RR / log OR; equals ``se`` for the RD), ``ci`` (2, R...), ``z``, ``p``,
        ``psi1``, ``psi0``, ``var_psi1``, ``var_psi0``, ``cov_psi``; ``nan`` where the
        contrast is undefined (e.g. no control events anywhere for the RR).

    Raises
    ------
    ValueError
        An unknown measure or variance, ``variance="paper"`` with user weights, or
        ``ci_prob`` outside (0, 1).
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    check_ci_prob(ci_prob, error=ValueError)
    a, b, c, d = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (n11, n10, n01, n00)))
    n1, n0 = a + b, c + d
    nk = n1 + n0
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r0 = a / n1, c / n0
    if weights is None:
        w = nk / nk.sum(axis=0, keepdims=True)
        n_tot = nk.sum(axis=0)
        membership = variance in ("delta", "paper")
    else:
        w = np.broadcast_to(np.asarray(weights, dtype=float).reshape(
            (-1,) + (1,) * (a.ndim - 1)), a.shape)
        membership = False
        if variance == "paper":
            raise ValueError("variance='paper' is the paper's formula for n_k/n weights; with "
                             "user-given weights use 'delta' or 'conditional'")
    psi1 = (w * r1).sum(axis=0)
    psi0 = (w * r0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        v1 = (w**2 * r1 * (1 - r1) / n1).sum(axis=0)
        v0 = (w**2 * r0 * (1 - r0) / n0).sum(axis=0)
    cov = np.zeros_like(psi1)
    if membership:
        v1 = v1 + ((w * r1**2).sum(axis=0) - psi1**2) / n_tot
        v0 = v0 + ((w * r0**2).sum(axis=0) - psi0**2) / n_tot
        if variance == "delta":
            cov = ((w * r1 * r0).sum(axis=0) - psi1 * psi0) / n_tot
    g1, g0 = contrast_gradient(psi1, psi0, measure)
    with np.errstate(invalid="ignore"):
        var_scale = g1**2 * v1 + g0**2 * v0 + 2 * g1 * g0 * cov
        log_se = np.sqrt(np.maximum(var_scale, 0.0))
    theta = contrast(psi1, psi0, measure)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RD":
            est_scale, null = theta, 0.0
            ci = wald_interval(theta, log_se, ci_prob)
            se = log_se
        else:
            est_scale, null = np.log(theta), 0.0
            ci = np.exp(wald_interval(est_scale, log_se, ci_prob))
            se = theta * log_se
        z = (est_scale - null) / log_se
    p = 2 * stats.norm.sf(np.abs(z))
    return {"estimate": theta, "se": se, "log_se": log_se, "ci": ci, "z": z, "p": p,
            "psi1": psi1, "psi0": psi0, "var_psi1": v1, "var_psi0": v0, "cov_psi": cov}


@dataclass(frozen=True, eq=False)
class CausalMetaResult(IntervalBounds):
    r"""Causal meta-analysis estimate :math:`\hat\theta(P^*)`.

    Parameters
    ----------
    measure : {"RD", "RR", "OR"}
        The contrast.
    estimate : float
        :math:`\hat\theta` on the natural scale (RD, RR or OR).
    se : float
        Its delta-method standard error on the natural scale.
    log_se : float
        Standard error of :math:`\log\hat\theta` (RR, OR), the scale of the CI; equals
        ``se`` for the RD.
    ci : ndarray, shape (2,)
        Confidence interval on the natural scale (``ci_low``, ``ci_high``); Wald on the
        log scale for the RR and OR.
    z, p : float
        Wald statistic against no effect (RD 0, RR/OR 1) and its two-sided p-value.
    psi1, psi0 : float
        Pooled risks under treatment and control in :math:`P^*`.
    var_psi1, var_psi0, cov_psi : float
        Variances of the pooled risks and their covariance (module docstring).
    weights : ndarray, shape (K,)
        Study weights :math:`\omega_k` (sum 1).
    ci_prob : float
        Probability of the interval.
    variance : {"delta", "paper", "conditional"}
        The variance formula used (``"conditional"`` whenever the weights are the
        user's, whatever was asked: fixed weights carry no membership variance).
    weighting : {"sample_size", "user"}
        Where the weights came from.
    table : ArmTable
        The analysed counts.
    scale : str
        Scale of ``estimate`` (``"natural"``).
    """

    measure: str
    estimate: float
    se: float
    log_se: float
    ci: np.ndarray
    z: float
    p: float
    psi1: float
    psi0: float
    var_psi1: float
    var_psi0: float
    cov_psi: float
    weights: np.ndarray
    ci_prob: float
    variance: str
    weighting: str
    table: ArmTable = field(repr=False)
    scale: str = "natural"

    def __str__(self) -> str:
        """metafor-style printout (:func:`bayes_hte.comparators.printout.causal_meta_text`)."""
        return causal_meta_text(self)

    __repr__ = __str__

    def summary(self) -> pd.DataFrame:
        """One row: estimate, se, CI, z, p and the pooled risks.

        Returns
        -------
        pandas.DataFrame
            Indexed ``"causal <measure>"``; ``attrs`` hold the measure, ``ci_prob``,
            the variance formula and the weighting.
        """
        out = pd.DataFrame(
            {"estimate": [self.estimate], "se": [self.se], "log_se": [self.log_se],
             "ci_low": [self.ci_low], "ci_high": [self.ci_high], "z": [self.z],
             "p": [self.p], "psi1": [self.psi1], "psi0": [self.psi0],
             "k": [self.table.k], "n": [float(self.table.n.sum())]},
            index=pd.Index([f"causal {self.measure}"], name="method"))
        out.attrs.update(measure=self.measure, ci_prob=self.ci_prob, variance=self.variance,
                         weighting=self.weighting)
        return out

    def study_table(self) -> pd.DataFrame:
        """Per-study risks, the study contrast with its Wald CI, and the weights (percent).

        For display only (the pooled estimate uses the raw risks): the study contrast
        and its CI follow :meth:`~bayes_hte.ArmTable.effects` — Wald on the log scale for
        RR/OR, 1/2 added to every cell of a study with a zero cell — and are ``nan`` for
        the RR and OR of a double-zero study (no events in either arm, or only events in
        both), which has no study-level ratio; its risks and weight still count in
        :math:`P^*`.

        Returns
        -------
        pandas.DataFrame
            One row per study: ``risk1, risk0`` (raw risks), ``estimate, ci_low,
            ci_high`` (natural scale), ``weight`` (percent), ``n``.
        """
        t = self.table
        zero = (t.n11 == 0) | (t.n10 == 0) | (t.n01 == 0) | (t.n00 == 0)
        add = np.where(zero, 0.5, 0.0)
        a, b, c, d = t.n11 + add, t.n10 + add, t.n01 + add, t.n00 + add
        p1, p0 = a / (a + b), c / (c + d)
        if self.measure == "RD":
            est = p1 - p0
            se = np.sqrt(p1 * (1 - p1) / (a + b) + p0 * (1 - p0) / (c + d))
            lo, hi = wald_interval(est, se, self.ci_prob)
        else:
            if self.measure == "RR":
                ly, se = np.log(p1 / p0), np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
            else:
                ly = np.log(a * d / (b * c))
                se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
            ly = np.where(t.double_zero, np.nan, ly)
            est = np.exp(ly)
            lo, hi = np.exp(wald_interval(ly, se, self.ci_prob))
        return pd.DataFrame({"risk1": t.risk1, "risk0": t.risk0, "estimate": est,
                             "ci_low": lo, "ci_high": hi, "weight": 100 * self.weights,
                             "n": t.n}, index=pd.Index(t.labels, name="study"))


def causal_meta_analysis(
    counts: ArmTable | pd.DataFrame,
    measure: Measure = "RR",
    *,
    weights: SampleSizeWeights | Sequence[float] | np.ndarray | pd.Series = "sample_size",
    variance: CausalVariance = "delta",
    ci_prob: float = 0.95,
) -> CausalMetaResult:
    r"""Causal meta-analysis of per-arm counts (Berenfeld et al. 2026).

    Estimates :math:`\theta(P^*) = \Phi(\psi_1, \psi_0)` for the population
    :math:`P^* = \sum_k \omega_k P_k`; formulas in the module docstring.

    Parameters
    ----------
    counts : ArmTable or pandas.DataFrame
        One row per study with columns ``n11 n10 n01 n00`` (arm 1/0 × event 1/0) and
        optionally ``study`` (labels).
    measure : {"RD", "RR", "OR"}
        Risk difference, risk ratio or odds ratio of the pooled risks.
    weights : "sample_size" or array_like or pandas.Series
        :math:`\omega_k = n_k/n` (default) or convex weights (>= 0, sum 1) defining
        another mixture of the trial populations; a Series is aligned by study label.
    variance : {"delta", "paper", "conditional"}
        Variance formula (module docstring). ``"delta"``: random study membership with
        the covariance of the two pooled risks; ``"paper"``: as printed in the paper;
        ``"conditional"``: study sizes fixed. With user ``weights`` ``"delta"`` is read as
        ``"conditional"`` (and the result says so) and ``"paper"`` is refused.
    ci_prob : float
        Probability of the confidence interval, in (0, 1).

    Returns
    -------
    CausalMetaResult
        ``.estimate .se .ci`` (natural scale), ``.log_se``, ``.psi1 .psi0``, ``.summary()``.

    Raises
    ------
    DataError
        Bad counts (see :class:`~bayes_hte.ArmTable`), bad weights (see
        :func:`bayes_hte.data.aggregate.check_weights`), ``ci_prob`` outside (0, 1), or a
        contrast that is undefined for the pooled risks (no control events anywhere for
        the RR; pooled risk 0 or 1 for the OR).

    Examples
    --------
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"n11": [20, 5], "n10": [80, 95], "n01": [30, 10],
    ...                        "n00": [70, 90]})
    >>> res = causal_meta_analysis(counts, measure="RD")
    >>> round(res.estimate, 4)
    -0.075
    """
    if measure not in MEASURES:
        raise DataError(f"measure must be one of {MEASURES}, got {measure!r}")
    if variance not in VARIANCES:
        raise DataError(f"variance must be one of {VARIANCES}, got {variance!r}")
    check_ci_prob(ci_prob)
    table = ArmTable.from_any(counts)
    w = check_weights(weights, table)
    if w is not None and variance == "paper":
        raise DataError("variance='paper' is the paper's formula for n_k/n weights; with "
                        "user-given weights the variance is the conditional one "
                        "(variance='conditional'; 'delta' is read as it)")
    core = causal_core(table.n11, table.n10, table.n01, table.n00, measure=measure,
                       weights=w, variance=variance, ci_prob=ci_prob)
    psi1, psi0 = float(core["psi1"]), float(core["psi0"])
    if measure == "RR" and (psi0 == 0 or psi1 == 0):
        arm = "control" if psi0 == 0 else "treated"
        raise DataError(f"no events in the {arm} arm of any study with positive weight: the "
                        "pooled risk is 0 and the risk ratio is undefined; use measure='RD'")
    if measure == "OR" and not (0 < psi0 < 1 and 0 < psi1 < 1):
        raise DataError(f"a pooled risk is 0 or 1 (psi1={psi1:.3g}, psi0={psi0:.3g}): the odds "
                        "ratio is undefined; use measure='RD'")
    if not np.isfinite(core["log_se"]) or core["log_se"] == 0:
        raise DataError(f"the {measure} variance is zero or undefined for these counts "
                        "(every arm has risk 0 or 1); there is no sampling uncertainty to "
                        "report")
    weights_used = w if w is not None else table.n / table.n.sum()
    return CausalMetaResult(
        measure=measure, estimate=float(core["estimate"]), se=float(core["se"]),
        log_se=float(core["log_se"]), ci=np.asarray(core["ci"], dtype=float),
        z=float(core["z"]), p=float(core["p"]), psi1=psi1, psi0=psi0,
        var_psi1=float(core["var_psi1"]), var_psi0=float(core["var_psi0"]),
        cov_psi=float(core["cov_psi"]), weights=np.asarray(weights_used, dtype=float),
        # fixed user weights carry no membership variance: 'delta' computes 'conditional'
        ci_prob=ci_prob, variance="conditional" if w is not None else variance,
        weighting="sample_size" if w is None else "user", table=table,
    )
