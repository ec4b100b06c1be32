r"""Leave-one-out sensitivity analysis of a univariate meta-analysis (metafor's
``leave1out``).

Each study :math:`j = 1..K` is left out in turn and the meta-analysis of the other
:math:`K - 1` studies refitted with the same estimator and options: a study whose removal
moves the pooled estimate, :math:`\tau^2` or :math:`I^2` much is influential (Viechtbauer
& Cheung 2010, "Outlier and influence diagnostics for meta-analysis", *Research
Synthesis Methods* 1:112-125). The :math:`K` fits run at once on the vectorised core of
:func:`bayes_hte.comparators.meta_analysis` (one replicate per left-out study).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from bayes_hte.comparators.univariate import MetaAnalysisResult, meta_analysis
from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import MetaMethod, Transform

__all__ = ["influence", "leave_one_out"]

#: Columns of :func:`leave_one_out`'s table (metafor's estimate, se, zval, pval, ci.lb,
#: ci.ub, Q, Qp, tau2, I2, H2, with the prediction interval added).
LEAVE_ONE_OUT_COLUMNS: tuple[str, ...] = (
    "estimate", "se", "statistic", "p", "ci_low", "ci_high", "pi_low", "pi_high", "q",
    "q_df", "q_p", "tau2", "i2", "h2", "converged")


def _from_result(yi, vi, options: dict, what: str) -> tuple:
    """(yi, vi, options) with a fitted :class:`MetaAnalysisResult` given as ``yi`` read
    as its effects, variances, labels and settings (metafor's ``leave1out(res)``); its
    settings then replace the keywords, which must be left at their defaults."""
    if not isinstance(yi, MetaAnalysisResult):
        return yi, vi, options
    if yi.shape != ():
        raise ValueError(f"{what} takes one meta-analysis; select a replicate first")
    given = {k: v for k, v in options.items() if v != _DEFAULTS[k]}
    if vi is not None or given:
        raise ValueError(f"{what}(result) takes the result's variances and settings; do not "
                         f"also pass {['vi'] if vi is not None else list(given)}")
    table = EffectTable.from_arrays(yi.yi, yi.vi, labels=list(yi.labels),
                                    measure=yi.measure, scale=yi.scale)
    settings = {"method": yi.method, "knha": yi.knha, "ci_prob": yi.ci_prob, "labels": None}
    return table, None, {k: settings[k] for k in options}


#: The keyword defaults of :func:`leave_one_out` and :func:`influence`.
_DEFAULTS = {"method": "REML", "knha": False, "ci_prob": 0.95, "labels": None}


def _without_each(y: np.ndarray, v: np.ndarray, **options) -> MetaAnalysisResult:
    """The K meta-analyses without one study each (replicate j leaves out study j), in
    one vectorised call; the full fit has warned about the inputs already."""
    keep = ~np.eye(y.size, dtype=bool)  # column j: every study but j
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return meta_analysis(np.stack([y[keep[:, j]] for j in range(y.size)], axis=1),
                             np.stack([v[keep[:, j]] for j in range(y.size)], axis=1),
                             **options)


def leave_one_out(
    yi: EffectTable | npt.ArrayLike,
    vi: npt.ArrayLike | None = None,
    *,
    method: MetaMethod = "REML",
    knha: bool = False,
    ci_prob: float = 0.95,
    labels: Sequence[str] | None = None,
    transform: Transform | Callable | None = None,
) -> pd.DataFrame:
    r"""The meta-analysis refitted without each study in turn (metafor's ``leave1out``).

    Parameters
    ----------
    yi : EffectTable, MetaAnalysisResult or array_like, shape (K,)
        An :class:`~bayes_hte.EffectTable` (it supplies the variances and labels), a
        fitted meta-analysis (metafor's ``leave1out(res)``: its effects, labels,
        ``method``, ``knha`` and ``ci_prob``; the keywords are then left at their
        defaults), or the effect sizes on the analysis scale (e.g. log risk ratios).
    vi : array_like, shape (K,), optional
        Sampling variances (required with arrays; not with an EffectTable).
    method, knha, ci_prob
        As in :func:`bayes_hte.comparators.meta_analysis` (estimator of
        :math:`\tau^2`, Hartung–Knapp–Sidik–Jonkman test, interval probability).
    labels : sequence of str, optional
        Study labels (default: the EffectTable's, else positions from 1).
    transform : {None, "exp"} or callable
        Applied to the estimate and the interval limits, as in
        :meth:`~bayes_hte.comparators.univariate.MetaAnalysisResult.summary`
        (``"exp"``: risk or odds ratios from their logarithms; the standard error is
        then named ``se_untransformed``).

    Returns
    -------
    pandas.DataFrame
        One row per left-out study (index ``left_out``, the study labels), columns
        :data:`LEAVE_ONE_OUT_COLUMNS`: the pooled estimate of the other studies with its
        SE, Wald (or t) statistic, p-value, confidence and prediction interval, Cochran's
        :math:`Q` with its degrees of freedom (:math:`K - 2`) and p-value,
        :math:`\tau^2`, :math:`I^2` (percent), :math:`H^2` and whether the
        :math:`\tau^2` iteration converged.

    Raises
    ------
    DataError
        Fewer than 3 studies (two are needed after leaving one out), or the inputs
        :func:`~bayes_hte.comparators.meta_analysis` refuses (text, non-finite values,
        variances <= 0, repeated labels).
    ValueError
        An unknown ``method`` or ``transform``, ``ci_prob`` outside (0, 1), or a result
        of several replicates, or with ``vi`` or other keywords given.

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_hte.comparators import leave_one_out
    >>> yi = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47])
    >>> vi = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.007, 0.22, 0.004, 0.06])
    >>> table = leave_one_out(yi, vi)
    >>> table.shape, table.index[0]
    ((9, 15), '1')
    """
    yi, vi, opts = _from_result(yi, vi, {"method": method, "knha": knha, "ci_prob": ci_prob,
                                         "labels": labels}, "leave_one_out")
    method, knha, ci_prob = opts["method"], opts["knha"], opts["ci_prob"]
    full: MetaAnalysisResult = meta_analysis(yi, vi, **opts)
    y, v, names = np.ravel(full.yi), np.ravel(full.vi), list(full.labels)
    k = y.size
    if k < 3:
        raise DataError(f"leaving one study out needs at least 3 studies, got {k}")
    fits = _without_each(y, v, method=method, knha=knha, ci_prob=ci_prob)
    table = fits.summary(transform=transform)
    table.index = pd.Index(names, name="left_out")
    se = "se" if "se" in table.columns else "se_untransformed"
    return table[[se if c == "se" else c for c in LEAVE_ONE_OUT_COLUMNS]]


#: Columns of :func:`influence`'s table (metafor's ``influence.rma.uni`` names, with
#: dots as underscores).
INFLUENCE_COLUMNS: tuple[str, ...] = (
    "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "q_del", "hat", "weight", "dfbs",
    "influential")


def influence(
    yi: EffectTable | npt.ArrayLike,
    vi: npt.ArrayLike | None = None,
    *,
    method: MetaMethod = "REML",
    knha: bool = False,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    r"""Outlier and influence diagnostics of a meta-analysis (metafor's ``influence``).

    From the full fit (:math:`\hat\mu`, :math:`\hat\tau^2`, weights :math:`w_i = 1/(v_i +
    \hat\tau^2)`, :math:`\mathrm{Var}(\hat\mu)`) and the fits without study :math:`i`
    (:math:`\hat\mu_{(i)}`, :math:`\hat\tau^2_{(i)}`, :math:`\mathrm{Var}(\hat\mu_{(i)})`,
    as :func:`leave_one_out`), Viechtbauer & Cheung (2010, *Res Synth Methods* 1:112):

    * ``rstudent``, the externally standardised residual :math:`(y_i -
      \hat\mu_{(i)})/\sqrt{s^2_{(i)}(v_i + \hat\tau^2_{(i)}) +
      \mathrm{Var}(\hat\mu_{(i)})}`, with :math:`s^2_{(i)}` the Knapp–Hartung factor of
      the fit without :math:`i` (1 without ``knha``);
    * ``dffits`` :math:`= (\hat\mu - \hat\mu_{(i)})/\sqrt{s^2_{(i)} h_i (\hat\tau^2_{(i)} +
      v_i)}`;
    * ``cook_d``, Cook's distance :math:`(\hat\mu - \hat\mu_{(i)})^2 /
      \mathrm{Var}(\hat\mu)`;
    * ``cov_r``, the covariance ratio :math:`\mathrm{Var}(\hat\mu_{(i)}) /
      \mathrm{Var}(\hat\mu)`;
    * ``tau2_del``, ``q_del``: :math:`\hat\tau^2_{(i)}` and Cochran's :math:`Q` without
      study :math:`i`;
    * ``hat`` :math:`h_i = w_i/\sum_j w_j` and ``weight`` (:math:`100\,h_i`, percent);
    * ``dfbs`` (DFBETAS) :math:`= (\hat\mu - \hat\mu_{(i)})/\sqrt{s^2_{(i)} / \sum_j
      1/(v_j + \hat\tau^2_{(i)})}`, the variance of :math:`\hat\mu` from all the
      studies at :math:`\hat\tau^2_{(i)}`;
    * ``influential``, metafor's flag: :math:`|\mathrm{dffits}| > 3\sqrt{1/(K-1)}`,
      :math:`P(\chi^2_1 \le \mathrm{cook\_d}) > 0.5`, :math:`h_i > 3/K` or
      :math:`|\mathrm{dfbs}| > 1`.

    Parameters
    ----------
    yi : EffectTable, MetaAnalysisResult or array_like, shape (K,)
        As in :func:`leave_one_out` (``influence(res)`` as metafor's).
    vi : array_like, shape (K,), optional
        Sampling variances (with arrays).
    method, knha
        As in :func:`bayes_hte.comparators.meta_analysis`.
    labels : sequence of str, optional
        Study labels (default: the EffectTable's, else positions from 1).

    Returns
    -------
    pandas.DataFrame
        One row per study (index ``study``), columns :data:`INFLUENCE_COLUMNS`, on the
        analysis scale (e.g. log RR).

    Raises
    ------
    DataError
        Fewer than 3 studies, or the inputs :func:`~bayes_hte.comparators.meta_analysis`
        refuses.
    ValueError
        An unknown ``method``, or a result of several replicates, or with ``vi`` or other
        keywords given.
    """
    yi, vi, opts = _from_result(yi, vi, {"method": method, "knha": knha, "labels": labels},
                                "influence")
    method, knha = opts["method"], opts["knha"]
    full: MetaAnalysisResult = meta_analysis(yi, vi, **opts)
    y, v = np.ravel(full.yi), np.ravel(full.vi)
    k = y.size
    if k < 3:
        raise DataError(f"influence diagnostics need at least 3 studies, got {k}")
    dele = _without_each(y, v, method=method, knha=knha)
    mu, var = float(full.estimate), float(full.se) ** 2
    mu_d, var_d = np.asarray(dele.estimate), np.asarray(dele.se) ** 2
    t2_d = np.asarray(dele.tau2, dtype=float)
    hat = np.ravel(full.weights) / 100.0  # w_i / sum(w), w_i = 1 / (v_i + tau²)
    diff = mu - mu_d
    w_all = 1.0 / (v[None, :] + t2_d[:, None])  # (left out i, study j) at tau² without i
    # the Knapp-Hartung factor s² of each fit without i: its variance over the one of
    # the z test, 1 / sum_{j != i} w_ij (1 without knha)
    s2 = var_d * (w_all.sum(axis=1) - np.diag(w_all)) if knha else np.ones(k)
    cook = diff**2 / var
    table = pd.DataFrame({
        "rstudent": (y - mu_d) / np.sqrt(s2 * (v + t2_d) + var_d),
        "dffits": diff / np.sqrt(s2 * hat * (t2_d + v)),
        "cook_d": cook,
        "cov_r": var_d / var,
        "tau2_del": t2_d,
        "q_del": np.asarray(dele.q, dtype=float),
        "hat": hat,
        "weight": 100.0 * hat,
        "dfbs": diff / np.sqrt(s2 / w_all.sum(axis=1)),
    }, index=pd.Index(list(full.labels), name="study"))
    table["influential"] = ((np.abs(table["dffits"]) > 3 * np.sqrt(1 / (k - 1)))
                            | (stats.chi2.cdf(cook, 1) > 0.5) | (hat > 3 / k)
                            | (np.abs(table["dfbs"]) > 1))
    return table
