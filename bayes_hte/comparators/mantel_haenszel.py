r"""Mantel–Haenszel and Peto fixed-effect meta-analysis of 2×2 tables (metafor ``rma.mh``,
``rma.peto``).

Study :math:`i` has :math:`a_i` events and :math:`b_i` non-events among its
:math:`n_{1i} = a_i + b_i` treated patients, :math:`c_i` and :math:`d_i` among its
:math:`n_{2i} = c_i + d_i` controls, :math:`N_i = n_{1i} + n_{2i}` (the
:class:`~bayes_hte.ArmTable` cells ``n11 n10 n01 n00``). The pooled effects use the counts
as they are — no continuity correction — so studies with zero cells contribute what they
hold:

* **odds ratio** :math:`\hat\psi_{MH} = \sum_i R_i / \sum_i S_i`, :math:`R_i = a_i d_i /
  N_i`, :math:`S_i = b_i c_i / N_i`; the variance of :math:`\log\hat\psi_{MH}` of Robins,
  Breslow & Greenland (1986, *Biometrics* 42:311), with :math:`P_i = (a_i + d_i)/N_i`,
  :math:`Q_i = (b_i + c_i)/N_i`:
  :math:`\frac{\sum P_iR_i}{2(\sum R_i)^2} + \frac{\sum (P_iS_i + Q_iR_i)}{2\sum R_i
  \sum S_i} + \frac{\sum Q_iS_i}{2(\sum S_i)^2}`; weights :math:`S_i`;
* **risk ratio** :math:`\sum_i a_i n_{2i}/N_i \,/\, \sum_i c_i n_{1i}/N_i`, the variance
  of its log of Greenland & Robins (1985, *Biometrics* 41:55),
  :math:`\sum_i (n_{1i}n_{2i}(a_i+c_i) - a_ic_iN_i)/N_i^2 \,/\, (\sum_i a_in_{2i}/N_i
  \sum_i c_in_{1i}/N_i)`; weights :math:`c_in_{1i}/N_i`;
* **risk difference** :math:`\sum_i (a_in_{2i} - c_in_{1i})/N_i \,/\, W`, :math:`W =
  \sum_i n_{1i}n_{2i}/N_i`, with the variance of Sato, Greenland & Robins (1989,
  *Biometrics* 45:1323), :math:`(\widehat{RD}\sum_i P_i + \sum_i Q_i)/W^2`,
  :math:`P_i = (n_{1i}^2c_i - n_{2i}^2a_i + n_{1i}n_{2i}(n_{2i}-n_{1i})/2)/N_i^2`,
  :math:`Q_i = (a_i(n_{2i}-c_i) + c_i(n_{1i}-a_i))/(2N_i)`; weights
  :math:`n_{1i}n_{2i}/N_i`;
* **Peto's odds ratio** (Yusuf et al. 1985, *Prog Cardiovasc Dis* 27:335):
  :math:`\log\hat\psi = \sum_i (O_i - E_i) / \sum_i V_i`, variance :math:`1/\sum_i V_i`,
  :math:`O_i - E_i = a_i - n_{1i}(a_i+c_i)/N_i`, :math:`V_i = n_{1i}n_{2i}(a_i+c_i)(b_i+d_i)
  / (N_i^2(N_i-1))`; weights :math:`V_i`.

Heterogeneity, as metafor: Cochran's :math:`Q = \sum_i (y_i - \hat\theta)^2 / v_i` of the
studies' own effects (``escalc`` with ``add = 1/2`` to the studies with a zero cell; for
Peto :math:`y_i = (O_i-E_i)/V_i`, :math:`v_i = 1/V_i`, no correction) about the pooled
estimate, on :math:`k_y - 1` df, where studies without events or with only events in
both arms (no information on a ratio) are left out of :math:`Q` (metafor's ``drop00``)
though they count, with weight 0 for ratios, in the pooled effect; :math:`I^2 =
\max(0, (Q - (k_y-1))/Q)` in percent and :math:`H^2 = Q/(k_y-1)`. For the odds ratio the
Cochran–Mantel–Haenszel test of no association, :math:`(|\sum_i (a_i - E_i)| -
\tfrac12)^2 / \sum_i V_i` on 1 df (without the ½ when ``correct=False``), and the
tests of homogeneity of the odds ratios of Breslow & Day (1980, *Statistical Methods in
Cancer Research* I, IARC) and Tarone (1985, *Biometrika* 72:91): with
:math:`\tilde a_i` the treated events expected under the common odds ratio
:math:`\hat\psi_{MH}` given the study's margins (the root in range of a quadratic) and
:math:`W_i = (1/\tilde a_i + 1/\tilde b_i + 1/\tilde c_i + 1/\tilde d_i)^{-1}`,
:math:`X^2_{BD} = \sum_i (a_i - \tilde a_i)^2 / W_i` and Tarone's
:math:`X^2_{BD} - (\sum_i (a_i - \tilde a_i))^2 / \sum_i W_i`, on :math:`k_+ - 1` df,
:math:`k_+` the studies with events and non-events and :math:`\tilde a_i > 0` (as
metafor).

Checked against metafor 3.8-1 (``validation/metafor_mh_peto.R``,
``tests/data/metafor_mh_peto.json``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from bayes_hte.comparators.results import WaldInterval, check_ci_prob
from bayes_hte.comparators.univariate import _study_rows
from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.checks import name_studies
from bayes_hte.data.escalc import effect_sizes
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import MEASURES, Measure, Transform, check_choice, check_flag


@dataclass(frozen=True, eq=False)
class MantelHaenszelResult(WaldInterval):
    r"""A Mantel–Haenszel or Peto fixed-effect meta-analysis (model in the module doc).

    Parameters
    ----------
    estimate, se : float
        Pooled effect and its standard error on the analysis scale (log OR, log RR, or
        RD).
    statistic, p : float
        z statistic for no effect and its two-sided p-value.
    ci_prob : float
        Probability of the Wald interval ``ci`` (``ci_low``, ``ci_high``).
    q, q_df, q_p : float, int, float
        Cochran's Q of the studies' own effects about ``estimate``, its degrees of
        freedom :math:`k_y - 1` and p-value (with one such study 0 on 0 df and p 1, with
        I² 0 and H² 1, as metafor; NaN with none).
    i2, h2 : float
        :math:`I^2` (percent) and :math:`H^2` from ``q``.
    cmh, cmh_p : float
        Cochran–Mantel–Haenszel test of no association (odds ratio only, else NaN).
    breslow_day, breslow_day_p, tarone, tarone_p : float
        The Breslow–Day test of homogeneity of the odds ratios and Tarone's corrected
        version, on :math:`k_+ - 1` df (MH odds ratio only, else NaN; module doc).
    weights : ndarray, shape (k,)
        Study weights in percent (0 for a study that holds no information on a ratio).
    k, k_q : int
        Studies in the pooled effect, and in ``q``.
    method : {"MH", "Peto"}
        The estimator.
    measure : {"OR", "RR", "RD"}
        The effect measure (``"OR"`` for Peto).
    scale : {"log", "identity"}
        Scale of ``estimate``.
    labels : tuple of str
        Study labels.
    left_out_of_q : tuple of str
        Studies without events, or with only events, in both arms (not in ``q``).
    yi, vi : ndarray, shape (k,)
        The studies' own effects and variances of ``q`` (NaN for those left out).
    tau2 : float
        0 (a fixed-effect model); ``pi`` is ``ci``.
    knha : bool
        False (a z test).
    """

    estimate: float
    se: float
    statistic: float
    p: float
    ci_prob: float
    q: float
    q_df: int
    q_p: float
    i2: float
    h2: float
    cmh: float
    cmh_p: float
    weights: np.ndarray = field(repr=False)
    k: int
    k_q: int
    method: str
    measure: str
    scale: str
    breslow_day: float = np.nan
    breslow_day_p: float = np.nan
    tarone: float = np.nan
    tarone_p: float = np.nan
    labels: tuple[str, ...] = field(repr=False, default=())
    left_out_of_q: tuple[str, ...] = ()
    yi: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    vi: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    #: A fixed-effect model: no between-study variance, no prediction interval.
    tau2: float = 0.0
    knha: bool = False

    @property
    def pi(self) -> np.ndarray:
        """The interval of a new study's effect: ``ci`` (a fixed-effect model)."""
        return self.ci

    def summary(self, *, exponentiate: bool | None = None) -> pd.DataFrame:
        """One row: the pooled effect, its test and the heterogeneity statistics.

        Parameters
        ----------
        exponentiate : bool, optional
            Report ``estimate``, ``ci_low`` and ``ci_high`` as ratios (exp of the log
            scale); default: for the odds and risk ratios. The standard error stays on
            the log scale (``se_log``).

        Returns
        -------
        pandas.DataFrame
            Index ``method`` (``"MH"``, ``"Peto"``); columns ``estimate``, ``se`` (or
            ``se_log``), ``ci_low``, ``ci_high``, ``statistic``, ``p``, ``q``, ``q_df``,
            ``q_p``, ``i2``, ``h2``, ``cmh``, ``cmh_p``, ``tarone``, ``tarone_p``, ``k``,
            ``k_q``; ``attrs`` hold
            the measure, scale and ``ci_prob``.
        """
        exp = self.scale == "log" if exponentiate is None else check_flag(
            "exponentiate", exponentiate)
        if exp and self.scale != "log":
            raise ValueError("exponentiate=True needs a ratio (OR, RR), not the RD")
        f = np.exp if exp else (lambda x: x)
        cols = {"estimate": f(self.estimate), "se_log" if exp else "se": self.se,
                "ci_low": f(self.ci_low), "ci_high": f(self.ci_high),
                "statistic": self.statistic, "p": self.p, "q": self.q, "q_df": self.q_df,
                "q_p": self.q_p, "i2": self.i2, "h2": self.h2, "cmh": self.cmh,
                "cmh_p": self.cmh_p, "tarone": self.tarone, "tarone_p": self.tarone_p,
                "k": self.k, "k_q": self.k_q}
        out = pd.DataFrame(cols, index=pd.Index([self.method], name="method"))
        out.attrs.update(measure=self.measure, scale=self.scale, ci_prob=self.ci_prob)
        return out

    def study_table(self, *, transform: Transform | Callable | None = None) -> pd.DataFrame:
        """The studies' own effects (those of ``q``) and their weights in the pooled one.

        Parameters
        ----------
        transform : {None, "exp"} or callable
            Applied to the estimates and bounds (e.g. ``"exp"`` for odds ratios).

        Returns
        -------
        pandas.DataFrame
            Index ``study`` (the labels); ``estimate``, ``se`` (``se_untransformed``
            with a ``transform``), ``ci_low``, ``ci_high`` (Wald at ``ci_prob``; NaN for
            a study left out of ``q``) and ``weight`` in percent (0 for a study without
            information on a ratio).
        """
        return _study_rows(self, transform)

    def __str__(self) -> str:
        name = {"MH": "Mantel-Haenszel", "Peto": "Peto"}[self.method]
        level = f"{100 * self.ci_prob:g}%"
        lines = [f"Fixed-Effect Model, {name} (k = {self.k}; measure {self.measure}, "
                 f"{self.scale} scale)", "",
                 f"Pooled effect ({level} CI, z test):",
                 f"  estimate {self.estimate:.4f}  se {self.se:.4f}  z {self.statistic:.3f}"
                 f"  p {self.p:.4g}  CI {self.ci_low:.4f} to {self.ci_high:.4f}"]
        if self.scale == "log":
            lines.append(f"  {self.measure} {np.exp(self.estimate):.4f}  CI "
                         f"{np.exp(self.ci_low):.4f} to {np.exp(self.ci_high):.4f}")
        lines += ["", f"Heterogeneity ({self.k_q} {'study' if self.k_q == 1 else 'studies'}"
                  f" with information on the {self.measure}):",
                  f"  Q({self.q_df}) = {self.q:.4f}, p = {self.q_p:.4g}; I^2 = {self.i2:.2f}%, "
                  f"H^2 = {self.h2:.2f}"]
        if np.isfinite(self.cmh):
            lines.append(f"Cochran-Mantel-Haenszel test: X^2(1) = {self.cmh:.4f}, "
                         f"p = {self.cmh_p:.4g}")
        if np.isfinite(self.tarone):
            lines.append(f"Tarone's test for heterogeneity: X^2 = {self.tarone:.4f}, "
                         f"p = {self.tarone_p:.4g}")
        return "\n".join(lines)

    __repr__ = __str__


def _cells(counts) -> tuple[ArmTable, tuple[np.ndarray, ...]]:
    table = ArmTable.from_any(counts)
    if table.k < 2:
        raise DataError(f"a meta-analysis needs at least 2 studies, got {table.k}")
    a, b, c, d = (np.asarray(x, dtype=float) for x in (table.n11, table.n10, table.n01,
                                                       table.n00))
    return table, (a, b, c, d)


def _observed_minus_expected(a, b, c, d) -> tuple[np.ndarray, np.ndarray]:
    """Per study, treated events minus their expectation under no effect given the
    margins, :math:`O_i - E_i`, and its hypergeometric variance :math:`V_i` (module doc:
    Peto's odds ratio and the CMH test)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    return (a - n1 * (a + c) / n,
            n1 * n2 * (a + c) * (b + d) / (n**2 * (n - 1)))


def _heterogeneity(y: np.ndarray, v: np.ndarray, estimate: float) -> tuple:
    """Q about ``estimate``, its df and p, I² (percent) and H² (metafor's values for one
    study; NaN for none)."""
    if y.size == 0:
        return np.nan, 0, np.nan, np.nan, np.nan
    df = y.size - 1
    if df == 0:  # one study: no heterogeneity to see (metafor: Q = 0, p = 1, H² = 1)
        return 0.0, 0, 1.0, 0.0, 1.0
    q = float(np.sum((y - estimate) ** 2 / v))
    i2 = 100.0 * max(0.0, (q - df) / q) if q > 0 else 0.0
    return q, df, float(stats.chi2.sf(q, df)), i2, q / df


def _left_out_warning(table: ArmTable, out: np.ndarray) -> tuple[str, ...]:
    if out.any():
        warnings.warn(f"{name_studies(table.labels, out)} without events (or with only "
                      "events) in both arms: left out of the heterogeneity Q, as metafor's "
                      "drop00", DataWarning, stacklevel=3)
    return tuple(s for s, o in zip(table.labels, out, strict=True) if o)


def _breslow_day(a: np.ndarray, n1: np.ndarray, *, n0: np.ndarray, events: np.ndarray,
                 psi: float) -> dict[str, float]:
    """Breslow-Day and Tarone's tests of homogeneity of the odds ratios about ``psi``
    (module doc); NaN p-values below two informative studies."""
    n = n1 + n0
    if psi == 1:
        expected = n1 * events / n
    else:
        q = psi * (n1 + events) + (n0 - events)
        with np.errstate(invalid="ignore"):
            expected = ((q - np.sqrt(q**2 - 4 * n1 * events * psi * (psi - 1)))
                        / (2 * (psi - 1)))
    pos = (expected > 0) & (events > 0) & (n - events > 0)
    e, obs = expected[pos], a[pos]  # the other studies' cells may be 0: left out
    w = 1 / (1 / e + 1 / (n1[pos] - e) + 1 / (events[pos] - e) + 1 / (n[pos] - n1[pos]
                                                                        - events[pos] + e))
    bd = max(0.0, float(np.sum((obs - e) ** 2 / w)))
    ta = max(0.0, bd - float(np.sum(obs - e)) ** 2 / float(np.sum(w)))
    df = int(pos.sum()) - 1
    p = (lambda x: float(stats.chi2.sf(x, df))) if df >= 1 else (lambda x: np.nan)
    return {"breslow_day": bd, "breslow_day_p": p(bd), "tarone": ta, "tarone_p": p(ta)}


def _result(est: float, var: float, weights: np.ndarray, effects: tuple, *, ci_prob: float,
            cmh: tuple[float, float], keep: np.ndarray, method: str, measure: str,
            table: ArmTable, left_out: tuple[str, ...],
            **homogeneity: float) -> MantelHaenszelResult:
    """The result, with Q of the studies' own ``effects`` (y, v) of the ``keep`` studies."""
    if not var > 0:  # every study at risk 0 (or 0 against 1) in both arms
        raise DataError(f"the {'Peto' if method == 'Peto' else 'Mantel-Haenszel'} "
                        f"{measure}'s variance is 0: no study has both events and "
                        "non-events, so the data hold no information on its uncertainty")
    y, v = effects
    het = _heterogeneity(y, v, est)
    yi, vi = np.full(table.k, np.nan), np.full(table.k, np.nan)
    yi[keep], vi[keep] = y, v
    se = float(np.sqrt(var))
    z = est / se
    q, q_df, q_p, i2, h2 = het
    return MantelHaenszelResult(
        estimate=float(est), se=se, statistic=float(z), p=float(2 * stats.norm.sf(abs(z))),
        ci_prob=ci_prob, q=q, q_df=q_df, q_p=q_p, i2=i2, h2=h2, cmh=cmh[0], cmh_p=cmh[1],
        weights=100.0 * weights / weights.sum(), k=table.k, k_q=int(keep.sum()),
        method=method, measure=measure, scale="identity" if measure == "RD" else "log",
        labels=table.labels, left_out_of_q=left_out, yi=yi, vi=vi, **homogeneity)


def mantel_haenszel(counts: ArmTable | pd.DataFrame, *, measure: Measure = "OR",
                    ci_prob: float = 0.95, correct: bool = True) -> MantelHaenszelResult:
    r"""Mantel–Haenszel fixed-effect meta-analysis of 2×2 tables (metafor ``rma.mh``).

    Parameters
    ----------
    counts : ArmTable or pandas.DataFrame
        The studies' 2×2 counts (an :class:`~bayes_hte.ArmTable`, or a frame with columns
        ``n11 n10 n01 n00``: treated events and non-events, control events and
        non-events).
    measure : {"OR", "RR", "RD"}
        Odds ratio, risk ratio (both pooled on the log scale) or risk difference.
    ci_prob : float
        Probability of the Wald interval, in (0, 1).
    correct : bool
        Continuity correction of the Cochran–Mantel–Haenszel test (odds ratio).

    Returns
    -------
    MantelHaenszelResult
        ``.estimate .se .ci .p .q .i2 .h2 .cmh .weights``, ``.summary()``; the formulas
        and their sources are in the module doc.

    Raises
    ------
    DataError
        Fewer than 2 studies, bad counts (:class:`~bayes_hte.ArmTable`), a pooled
        ratio that is 0 or infinite (no events in one arm across the studies, or, for the
        odds ratio, no study with a non-event in that arm), or a variance of 0 (no study
        with both events and non-events).
    ValueError
        An unknown ``measure``, ``ci_prob`` outside (0, 1), ``correct`` not a bool.

    Warns
    -----
    DataWarning
        Studies without events, or with only events, in both arms are left out of Q.
    """
    check_choice("measure", measure, MEASURES)
    check_ci_prob(ci_prob, error=ValueError)
    correct = check_flag("correct", correct)
    table, (a, b, c, d) = _cells(counts)
    n1, n2 = a + b, c + d
    n = n1 + n2
    if measure == "RD":
        w = n1 * n2 / n
        est = float(np.sum((a * n2 - c * n1) / n) / w.sum())
        p_i = (n1**2 * c - n2**2 * a + n1 * n2 * (n2 - n1) / 2.0) / n**2
        q_i = (a * (n2 - c) + c * (n1 - a)) / (2.0 * n)
        var = float((est * p_i.sum() + q_i.sum()) / w.sum() ** 2)
        weights = w
    else:
        r, s = (a * d / n, b * c / n) if measure == "OR" else (a * n2 / n, c * n1 / n)
        if r.sum() == 0 or s.sum() == 0:
            raise DataError(f"the Mantel-Haenszel {measure} is 0 or infinite (numerator "
                            f"sum {r.sum():g}, denominator sum {s.sum():g}): too few events "
                            "or non-events in one arm across the studies")
        est = float(np.log(r.sum() / s.sum()))
        if measure == "OR":
            p, q = (a + d) / n, (b + c) / n
            var = float(np.sum(p * r) / (2 * r.sum() ** 2)
                        + np.sum(p * s + q * r) / (2 * r.sum() * s.sum())
                        + np.sum(q * s) / (2 * s.sum() ** 2))
        else:
            var = float(np.sum((n1 * n2 * (a + c) - a * c * n) / n**2) / (r.sum() * s.sum()))
        weights = s
    out = np.asarray(table.double_zero, dtype=bool)  # no information on a ratio
    left_out = _left_out_warning(table, out)
    keep = ~out
    y, v = effect_sizes(a[keep], b[keep], c[keep], d[keep], measure=measure, add=0.5,
                        to="only0")
    cmh = (np.nan, np.nan)
    homogeneity: dict[str, float] = {}
    if measure == "OR":
        o_e, v_i = _observed_minus_expected(a, b, c, d)
        dev = abs(float(np.sum(o_e))) - (0.5 if correct else 0.0)
        stat = dev**2 / float(v_i.sum()) if v_i.sum() > 0 else np.nan
        cmh = (stat, float(stats.chi2.sf(stat, 1)))
        homogeneity = _breslow_day(a, n1, n0=n2, events=a + c, psi=float(np.exp(est)))
    return _result(est, var, weights, (y, v), ci_prob=ci_prob, cmh=cmh, keep=keep,
                   method="MH", measure=measure, table=table, left_out=left_out,
                   **homogeneity)


def peto(counts: ArmTable | pd.DataFrame, *, ci_prob: float = 0.95) -> MantelHaenszelResult:
    r"""Peto's one-step odds ratio, a fixed-effect meta-analysis (metafor ``rma.peto``).

    Parameters
    ----------
    counts : ArmTable or pandas.DataFrame
        The studies' 2×2 counts, as in :func:`mantel_haenszel`.
    ci_prob : float
        Probability of the Wald interval, in (0, 1).

    Returns
    -------
    MantelHaenszelResult
        ``method="Peto"``, ``measure="OR"``, log scale; Q from the studies' own Peto log
        odds ratios :math:`(O_i - E_i)/V_i` with variances :math:`1/V_i` (module doc).

    Raises
    ------
    DataError
        Fewer than 2 studies, bad counts, or no study with events and non-events
        (every :math:`V_i = 0`).
    ValueError
        ``ci_prob`` outside (0, 1).

    Warns
    -----
    DataWarning
        Studies without events, or with only events, in both arms are left out of Q.
    """
    check_ci_prob(ci_prob, error=ValueError)
    table, (a, b, c, d) = _cells(counts)
    o_e, v = _observed_minus_expected(a, b, c, d)
    if v.sum() == 0:
        raise DataError("Peto's odds ratio needs a study with both events and non-events; "
                        "every study has none of one of them")
    est = float(o_e.sum() / v.sum())
    out = v == 0
    left_out = _left_out_warning(table, out)
    keep = ~out
    return _result(est, 1.0 / float(v.sum()), v, (o_e[keep] / v[keep], 1.0 / v[keep]),
                   ci_prob=ci_prob, cmh=(np.nan, np.nan), keep=keep, method="Peto",
                   measure="OR", table=table, left_out=left_out)
