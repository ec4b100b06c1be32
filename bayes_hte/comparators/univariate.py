r"""Univariate aggregate-data meta-analysis: fixed effect and random effects.

For studies :math:`k = 1, \dots, K` with effect estimates :math:`y_k` and sampling
variances :math:`v_k` (treated as known), the random-effects model is

.. math::

    y_k \mid \theta_k \sim N(\theta_k, v_k), \qquad \theta_k \sim N(\mu, \tau^2),

and the fixed-effect (FE, "common effect") model sets :math:`\tau^2 = 0`. Given
:math:`\hat\tau^2`, with weights :math:`w_k = 1/(v_k + \hat\tau^2)`,

.. math::

    \hat\mu = \frac{\sum_k w_k y_k}{\sum_k w_k}, \qquad
    \widehat{\mathrm{se}}(\hat\mu) = \Big(\sum_k w_k\Big)^{-1/2}.

The between-study variance :math:`\tau^2` is estimated by ``DL`` (DerSimonian & Laird
1986), ``ML`` or ``REML`` (Viechtbauer 2005) or ``PM`` (Paule & Mandel 1982), all
truncated at 0 (formulas in :mod:`bayes_hte.comparators.heterogeneity`); likelihood
replicates that do not converge are reported as ``nan`` with a
:class:`~bayes_hte.ConvergenceWarning` (``result.converged`` is ``False``).

The Hartung–Knapp–Sidik–Jonkman adjustment (``knha=True``) replaces the standard error
by :math:`\sqrt{q / \sum_k w_k}`, :math:`q = \sum_k w_k (y_k-\hat\mu)^2 / (K-1)`, and
uses :math:`t_{K-1}` quantiles. The prediction interval for the effect of a new study is
:math:`\hat\mu \pm c\,\sqrt{\widehat{\mathrm{se}}^2 + \hat\tau^2}` with :math:`c` the
normal quantile (the :math:`t_{K-1}` quantile with ``knha=True``), as R metafor's
``predict.rma``; ``pi_type="higgins"`` uses :math:`t_{K-2}` (Higgins et al. 2009).
Heterogeneity: Cochran's :math:`Q` on :math:`K-1` df; with the "typical" within-study
variance :math:`s^2 = (K-1) S_1 / (S_1^2 - S_2)`, :math:`I^2 = 100\,\hat\tau^2/(\hat\tau^2
+ s^2)` percent and :math:`H^2 = (\hat\tau^2 + s^2)/s^2` (for FE: :math:`I^2 = 100
\max\{0, (Q-K+1)/Q\}`, :math:`H^2 = Q/(K-1)`), as metafor. The Q-profile confidence
interval for :math:`\tau^2` (Viechtbauer 2007) solves :math:`Q(\tau^2) =
\chi^2_{K-1}` quantiles and is computed on first access (``result.tau2_ci``).

All computations are numpy, vectorised over trailing replicate axes: ``yi`` and ``vi``
of shape ``(K, R...)`` give results of shape ``(R...)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from bayes_hte.comparators._wls import tau2_se
from bayes_hte.comparators.heterogeneity import (
    _check_inputs,
    _cochran,
    _real_effects,
    _tau2,
    _weighted,
    canonical_method,
    q_profile_ci,
)
from bayes_hte.comparators.printout import meta_analysis_text
from bayes_hte.comparators.results import IntervalBounds, check_ci_prob, wald_interval
from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import ConvergenceWarning, DataError, DataWarning
from bayes_hte.options import MetaMethod, PIType, Transform

PI_TYPES: tuple[str, ...] = get_args(PIType)
#: Ratio of the largest to the smallest sampling variance above which a DataWarning says
#: the results may be unstable (metafor's threshold).
MAX_VARIANCE_RATIO = 1e7


# ---------------------------------------------------------------------------- core fit
# variances spanning hundreds of orders of magnitude overflow the weights' powers; the
# affected replicates come out NaN or flagged, and warn_variance_ratio says why in words
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def meta_core(yi: npt.ArrayLike, vi: npt.ArrayLike, *, method: MetaMethod = "REML",
              knha: bool = False,
              ci_prob: float = 0.95, pi_type: PIType = "metafor", tol: float = 1e-10,
              maxiter: int = 200, labels: Sequence[str] | None = None) -> dict:
    """The numpy core of :func:`meta_analysis`: a dict of arrays of the trailing shape.

    Parameters
    ----------
    yi, vi : array_like, shape (K, R...)
        Effect sizes and sampling variances, studies on the first axis.
    method, knha, ci_prob, pi_type, tol, maxiter
        As in :func:`meta_analysis`.
    labels : sequence of str, shape (K,), optional
        Study labels naming the studies at fault in error messages (default: their
        positions from 1).

    Returns
    -------
    dict
        estimate, se, statistic, p, ci (2, ...), pi (2, ...), df, tau2, i2, h2, q, q_df,
        q_p, weights (K, ...; percent), converged, k.

    Raises
    ------
    ValueError
        An unknown method or pi_type, or ``ci_prob`` outside (0, 1).
    DataError
        Invalid ``yi``/``vi``.
    """
    method = canonical_method(method)
    if pi_type not in PI_TYPES:
        raise ValueError(f"pi_type must be 'metafor' or 'higgins', got {pi_type!r}")
    check_ci_prob(ci_prob, error=ValueError)
    y, v, trailing = _check_inputs(yi, vi, k_min=3 if pi_type == "higgins" else 2,
                                   labels=labels)
    k, m = y.shape
    tau2, conv = _tau2(y, v, method, tol=tol, maxiter=maxiter)
    t2 = np.where(conv, tau2, 0.0)
    w, sw, mu, r = _weighted(y, v, t2)
    se = 1.0 / np.sqrt(sw)
    if knha:
        s2 = (w * r**2).sum(axis=0) / (k - 1)
        se = np.sqrt(s2) * se
        df = float(k - 1)
    else:
        df = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):  # se = 0: knha, identical yi
        stat = mu / se
    p = 2 * (stats.t.sf(np.abs(stat), df) if knha else stats.norm.sf(np.abs(stat)))
    ci = wald_interval(mu, se, ci_prob, df=df)
    pi = wald_interval(mu, np.sqrt(se**2 + t2), ci_prob,
                       df=float(k - 2) if pi_type == "higgins" else df)
    q, s1, s2_ = _cochran(y, v)
    q_p = stats.chi2.sf(q, k - 1)
    if method == "FE":
        with np.errstate(divide="ignore", invalid="ignore"):
            i2 = np.where(q > 0, 100.0 * np.maximum(0.0, (q - (k - 1)) / q), 0.0)
        h2 = q / (k - 1)
    else:
        s2typ = (k - 1) * s1 / (s1**2 - s2_)
        i2 = 100.0 * t2 / (t2 + s2typ)
        h2 = (t2 + s2typ) / s2typ
    weights = 100.0 * w / sw
    out = {"estimate": mu, "se": se, "statistic": stat, "p": p, "ci": ci, "pi": pi,
           "tau2": t2, "i2": i2, "h2": h2, "q": q, "q_p": q_p, "weights": weights}
    if not conv.all():
        for key, val in out.items():
            val = np.asarray(val, dtype=float)
            val[..., ~conv] = np.nan
            out[key] = val
    shaped = {}
    for key, val in out.items():
        lead = val.shape[:-1]
        shaped[key] = val.reshape((*lead, *trailing))
    shaped.update(df=df, q_df=k - 1, k=k, converged=conv.reshape(trailing))
    return shaped


def _scalarise(x):
    """0-d arrays -> numpy float scalars; others unchanged."""
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class MetaAnalysisResult(IntervalBounds):
    r"""A fitted univariate meta-analysis (one, or many along trailing replicate axes).

    Scalars for one meta-analysis; arrays of the trailing shape ``R...`` for many.
    Intervals (``ci``, ``pi``, ``tau2_ci``) have a leading axis of length 2 (lower,
    upper): ``lo, hi = result.ci``. ``tau`` is :math:`\sqrt{\tau^2}`; ``tau2_ci`` and
    ``i2_ci`` (Q-profile) are computed on first access.

    Parameters
    ----------
    estimate, se : float or ndarray
        Pooled effect :math:`\hat\mu` and its standard error (HKSJ-adjusted with
        ``knha=True``), on the scale of ``yi`` (``scale="log"`` for log RR / log OR).
    statistic, p : float or ndarray
        z (or t with ``knha``) statistic for :math:`\mu = 0` and its two-sided p-value.
    df : float
        Degrees of freedom of the reference distribution (``inf`` for z).
    ci, pi : ndarray
        Confidence interval of :math:`\mu` (``ci_low``, ``ci_high``) and prediction
        interval of a new study's effect :math:`\theta_{new}` (``pi_low``, ``pi_high``).
    ci_prob : float
        Probability of the CI, the PI and the tau² interval.
    tau2 : float or ndarray
        Between-study variance (0 for FE).
    i2, h2 : float or ndarray
        :math:`I^2` (percent) and :math:`H^2`.
    q, q_df, q_p : float or ndarray
        Cochran's Q, its degrees of freedom :math:`K-1` and p-value.
    weights : ndarray, shape (K, R...)
        Study weights in percent.
    converged : bool or ndarray
        False where the tau² iteration failed (those replicates are ``nan``).
    k : int
        Number of studies.
    method : {"FE", "DL", "REML", "ML", "PM", "HS", "HSk", "HE", "SJ", "EB"}
        The estimator (``"EE"`` and ``"CE"`` given are recorded as ``"FE"``).
    knha : bool
        Whether the Hartung–Knapp–Sidik–Jonkman adjustment was used.
    pi_type : {"metafor", "higgins"}
        Quantile of the prediction interval.
    yi, vi : ndarray, shape (K, R...)
        The effect sizes and sampling variances analysed.
    labels : tuple of str
        Study labels.
    measure : str, optional
        Effect measure (``"RR"``, ``"OR"``, ``"RD"``) when known.
    scale : {"identity", "log"}
        Scale of ``yi`` and of the estimates.
    """

    estimate: float | np.ndarray
    se: float | np.ndarray
    statistic: float | np.ndarray
    p: float | np.ndarray
    df: float
    ci: np.ndarray
    pi: np.ndarray
    tau2: float | np.ndarray
    i2: float | np.ndarray
    h2: float | np.ndarray
    q: float | np.ndarray
    q_df: int
    q_p: float | np.ndarray
    weights: np.ndarray
    converged: bool | np.ndarray
    k: int
    method: str
    knha: bool
    ci_prob: float
    pi_type: str
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    labels: tuple[str, ...] = field(repr=False, default=())
    measure: str | None = None
    scale: str = "identity"

    def __str__(self) -> str:
        """metafor-style printout (:func:`bayes_hte.comparators.printout.meta_analysis_text`)."""
        return meta_analysis_text(self)

    __repr__ = __str__

    @property
    def tau(self):
        """Between-study standard deviation :math:`\\hat\\tau`."""
        return _scalarise(np.sqrt(self.tau2))

    @property
    def pi_low(self):
        """Lower bound of the prediction interval."""
        return _scalarise(self.pi[0])

    @property
    def pi_high(self):
        """Upper bound of the prediction interval."""
        return _scalarise(self.pi[1])

    @property
    def shape(self) -> tuple:
        """Trailing replicate shape (``()`` for one meta-analysis)."""
        return np.shape(self.estimate)

    @cached_property
    def tau2_ci(self) -> np.ndarray:
        """Q-profile confidence interval of tau² at ``ci_prob`` (computed on first access)."""
        out = q_profile_ci(self.yi, self.vi, ci_prob=self.ci_prob)
        conv = np.asarray(self.converged)
        if not conv.all():
            out[..., ~conv] = np.nan
        return out

    @cached_property
    def tau2_se(self):
        """Standard error of tau² as metafor 3.8 reports it for ``method`` (``se.tau2``;
        NaN for FE; computed on first access)."""
        if self.method == "FE":
            return _scalarise(np.full(self.shape, np.nan))
        y = self.yi.reshape(self.k, -1)
        v = self.vi.reshape(self.k, -1)
        t2 = np.asarray(self.tau2, dtype=float).reshape(-1)
        se = tau2_se(self.method, np.where(np.isfinite(t2), t2, 0.0), y, v,
                     np.ones((self.k, 1, y.shape[1])))
        return _scalarise(np.where(np.isfinite(t2), se, np.nan).reshape(self.shape))

    @cached_property
    def i2_ci(self) -> np.ndarray:
        """Interval for :math:`I^2` (percent) implied by the Q-profile tau² interval."""
        y = self.yi.reshape(self.k, -1)
        v = self.vi.reshape(self.k, -1)
        _, s1, s2 = _cochran(y, v)
        s2typ = ((self.k - 1) * s1 / (s1**2 - s2)).reshape(self.shape)
        t = self.tau2_ci
        return 100.0 * t / (t + s2typ)

    @property
    def h2_ci(self) -> np.ndarray:
        """Interval for :math:`H^2`, :math:`100/(100 - I^2)` at the limits of
        :attr:`i2_ci` (metafor's ``confint``)."""
        return 100.0 / (100.0 - np.asarray(self.i2_ci, dtype=float))

    @property
    def tau_ci(self) -> np.ndarray:
        """Interval for :math:`\tau`, the square roots of :attr:`tau2_ci`."""
        return np.sqrt(np.asarray(self.tau2_ci, dtype=float))

    def summary(self, *, transform: Transform | Callable | None = None
                ) -> pd.DataFrame:
        """One row per meta-analysis (replicate).

        Parameters
        ----------
        transform : {None, "exp"} or callable
            Applied to the estimate and the interval bounds (a callable such as
            ``numpy.exp``, or ``"exp"``), e.g. to report risk ratios from log RRs.

        Returns
        -------
        pandas.DataFrame
            ``estimate, se, ci_low, ci_high, pi_low, pi_high, statistic, p, tau2,
            tau2_se, tau2_ci_low, tau2_ci_high, tau, i2, h2, q, q_df, q_p, k, converged``; ``attrs``
            hold the method, ``knha``, ``ci_prob``, measure and scale. With a
            ``transform`` the standard error, which stays on the analysis scale (e.g.
            log RR), is named ``se_untransformed``.
        """
        f = _transform(transform)
        ci, pi, t2ci = (np.asarray(a).reshape(2, -1) for a in (self.ci, self.pi, self.tau2_ci))
        cols = {
            "estimate": f(np.ravel(self.estimate)), _se_column(transform): np.ravel(self.se),
            "ci_low": f(ci[0]), "ci_high": f(ci[1]),
            "pi_low": f(pi[0]), "pi_high": f(pi[1]),
            "statistic": np.ravel(self.statistic), "p": np.ravel(self.p),
            "tau2": np.ravel(self.tau2), "tau2_se": np.ravel(self.tau2_se),
            "tau2_ci_low": t2ci[0], "tau2_ci_high": t2ci[1],
            "tau": np.sqrt(np.ravel(self.tau2)),
            "i2": np.ravel(self.i2), "h2": np.ravel(self.h2),
            "q": np.ravel(self.q), "q_df": self.q_df, "q_p": np.ravel(self.q_p),
            "k": self.k, "converged": np.ravel(self.converged),
        }
        label = f"{self.method}{' + HKSJ' if self.knha else ''}"
        if self.shape == ():
            index = pd.Index([label], name="method")
        else:
            index = pd.MultiIndex.from_tuples(list(np.ndindex(self.shape)),
                                              names=[f"replicate_{i}"
                                                     for i in range(len(self.shape))])
        out = pd.DataFrame(cols, index=index)
        out.attrs.update(method=self.method, knha=self.knha, ci_prob=self.ci_prob,
                         measure=self.measure, scale=self.scale)
        return out

    def study_table(self, *, transform: Transform | Callable | None = None
                    ) -> pd.DataFrame:
        """Per-study estimates, CIs (normal, at ``ci_prob``) and weights (one meta-analysis).

        Parameters
        ----------
        transform : {None, "exp"} or callable
            Applied to the estimates and bounds (e.g. ``"exp"`` for risk ratios).

        Returns
        -------
        pandas.DataFrame
            One row per study: ``estimate, se, ci_low, ci_high, weight`` (percent);
            with a ``transform``, ``se`` (on the analysis scale) is named
            ``se_untransformed``.

        Raises
        ------
        ValueError
            The result holds several replicates.
        """
        if self.shape != ():
            raise ValueError("study_table is for a single meta-analysis (1-D yi)")
        return _study_rows(self, transform)


def _study_rows(result, transform: Transform | Callable | None = None) -> pd.DataFrame:
    """Per-study ``estimate``, ``se`` (``se_untransformed`` with a ``transform``), Wald
    ``ci_low`` and ``ci_high`` at ``ci_prob`` and ``weight`` of a result holding 1-D
    ``yi``, ``vi``, ``weights``, ``labels`` and ``ci_prob`` (index ``study``)."""
    f = _transform(transform)
    se = np.sqrt(result.vi)
    lo, hi = wald_interval(result.yi, se, result.ci_prob)
    return pd.DataFrame(
        {"estimate": f(result.yi), _se_column(transform): se, "ci_low": f(lo),
         "ci_high": f(hi), "weight": result.weights},
        index=pd.Index(result.labels, name="study"))


def _unpack_effects(yi, vi, labels):
    """``yi``, ``vi``, labels, measure and scale of an EffectTable (or of arrays, whose
    ``vi`` is then required), for the comparators that take either."""
    if not isinstance(yi, EffectTable):
        if vi is None:
            raise DataError("vi (sampling variances) is required unless yi is an "
                            "EffectTable")
        yi, vi = _aligned_series(yi, vi)
        return yi, vi, labels, None, "identity"
    if vi is not None:
        raise DataError("yi is an EffectTable, which already holds the variances; "
                        "do not pass vi")
    _warn_repeated_studies(yi)
    return (yi.yi, yi.vi, yi.labels if labels is None else labels, yi.measure, yi.scale)


def _aligned_series(yi, vi):
    """Two Series are paired by study label, never by position: ``vi`` follows ``yi``'s
    order when both are indexed by the same labels; other labels are refused."""
    if not (isinstance(yi, pd.Series) and isinstance(vi, pd.Series)) or \
            yi.index.equals(vi.index):
        return yi, vi
    if yi.index.is_unique and vi.index.is_unique and set(yi.index) == set(vi.index):
        return yi, vi.loc[yi.index]
    missing = [str(i) for i in yi.index.difference(vi.index)][:5]
    raise DataError(f"yi and vi are Series indexed by different studies (in yi but not vi: "
                    f"{missing}); index both by the same study labels, or pass arrays in "
                    "the same order")


def warn_variance_ratio(v: np.ndarray, labels: Sequence[str] | None) -> None:
    """Warn when the sampling variances span more than :data:`MAX_VARIANCE_RATIO` (as
    metafor does): the weights then differ by as much, and the results may be unstable.

    Parameters
    ----------
    v : ndarray, shape (K,) or (K, R)
        Sampling variances (positive), studies on the first axis.
    labels : sequence of str, optional
        Study labels, to name the studies with the largest and the smallest variance
        (default: their positions from 1).

    Warns
    -----
    DataWarning
        The largest variance is at least :data:`MAX_VARIANCE_RATIO` times the smallest.
    """
    v = np.asarray(v, dtype=float)
    ratio = v.max(axis=0) / v.min(axis=0)
    if np.any(ratio >= MAX_VARIANCE_RATIO):
        flat = v.reshape(len(v), -1)
        col = int(np.argmax(ratio.reshape(-1)))  # the meta-analysis with the widest span
        big, small = int(np.argmax(flat[:, col])), int(np.argmin(flat[:, col]))

        def who(k: int) -> str:
            return f"study {labels[k]!r}" if labels is not None else f"study {k + 1}"

        warnings.warn(f"the largest sampling variance ({who(big)}) is "
                      f"{float(np.max(ratio)):.3g} times the smallest ({who(small)}); the "
                      "results may be numerically unstable. Check those studies' variances",
                      DataWarning, stacklevel=3)


def _warn_repeated_studies(table: EffectTable) -> None:
    """Warn when the rows of ``table`` are subgroups (strata) of the same studies: they
    are pooled as if they were independent studies."""
    if table.subgroup is None and table.stratum is None:
        return
    studies = pd.Series([label.split(" | ")[0] for label in table.labels])
    repeated = studies[studies.duplicated(keep=False)].unique().tolist()
    if repeated:
        warnings.warn(
            f"the {len(table.labels)} rows come from {studies.nunique()} studies (studies "
            f"{repeated[:5]} give several subgroup / stratum rows): they are pooled as "
            "independent studies, so k counts rows, not studies. Analyse one subgroup at "
            "a time (an EffectTable of its rows), or pool each study's rows first",
            DataWarning, stacklevel=3)


def _se_column(transform) -> str:
    """``se``, or ``se_untransformed`` next to transformed estimates: the standard error
    stays on the analysis scale (e.g. log RR), which a plain ``se`` beside exponentiated
    estimates would hide (metafor's ``predict(transf=)`` drops it)."""
    return "se" if transform is None else "se_untransformed"


def _transform(transform):
    if transform is None:
        return lambda x: x
    if transform == "exp":
        return np.exp
    if callable(transform):
        return transform
    raise ValueError(f"transform must be None, 'exp' or a callable, got {transform!r}")


def meta_analysis(
    yi: npt.ArrayLike | EffectTable,
    vi: npt.ArrayLike | None = None,
    *,
    method: MetaMethod = "REML",
    knha: bool = False,
    ci_prob: float = 0.95,
    pi_type: PIType = "metafor",
    labels: Sequence[str] | None = None,
    tol: float = 1e-10,
    maxiter: int = 200,
) -> MetaAnalysisResult:
    r"""Fixed- or random-effects meta-analysis of effect sizes (the model in the module doc).

    Parameters
    ----------
    yi : array_like, shape (K,) or (K, R...), or EffectTable
        Study effect estimates, studies on the first axis; trailing axes are independent
        replicates fitted in one vectorised call. An :class:`~bayes_hte.EffectTable`
        supplies ``yi``, ``vi``, labels and the measure's scale.
    vi : array_like, same shape as ``yi``
        Sampling variances (> 0). Omit when ``yi`` is an EffectTable.
    method : {"FE", "DL", "REML", "ML", "PM", "HS", "HSk", "HE", "SJ", "EB"}
        Fixed effect (inverse variance; ``"EE"`` and ``"CE"``, metafor's names of the
        equal-effects model, are read as ``"FE"``) or the tau² estimator of the
        random-effects model (:mod:`bayes_hte.comparators.heterogeneity`: DerSimonian–Laird,
        REML, ML, Paule–Mandel, Hunter–Schmidt and its small-sample form, Hedges,
        Sidik–Jonkman, empirical Bayes).
    knha : bool
        Hartung–Knapp–Sidik–Jonkman adjustment (t-based, as metafor ``test="knha"``).
    ci_prob : float
        Probability of the CI, the PI and the tau² interval, in (0, 1).
    pi_type : {"metafor", "higgins"}
        Prediction-interval quantile: as metafor (z, or :math:`t_{K-1}` with ``knha``)
        or Higgins et al. (2009) :math:`t_{K-2}`.
    labels : sequence of str, optional
        Study labels (for plots and :meth:`MetaAnalysisResult.study_table`).
    tol, maxiter : float, int
        Convergence control of the iterative tau² estimators (REML, ML, PM, EB).

    Returns
    -------
    MetaAnalysisResult
        ``.estimate .se .ci .pi .tau2 .i2 .h2 .q .q_df .q_p .tau2_ci`` and ``.summary()``.

    Raises
    ------
    DataError
        Fewer than 2 studies, non-finite ``yi``, ``vi`` not finite and positive,
        mismatched shapes.
    ValueError
        An unknown ``method`` or ``pi_type``, or ``ci_prob`` outside (0, 1).

    Warns
    -----
    ConvergenceWarning
        The tau² iteration failed for some replicates (their results are ``nan``).
    DataWarning
        ``yi`` is an :class:`~bayes_hte.EffectTable` whose rows are subgroups or strata
        of the same studies (pooled as independent studies).

    Examples
    --------
    >>> import numpy as np
    >>> yi = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47])
    >>> vi = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.007, 0.22, 0.004, 0.06])
    >>> res = meta_analysis(yi, vi, method="REML")
    >>> bool(res.tau2 > 0), res.ci.shape
    (True, (2,))
    """
    method = canonical_method(method)
    yi, vi, labels, measure, scale = _unpack_effects(yi, vi, labels)
    y, v = _real_effects(yi, vi, labels)
    k = y.shape[0] if y.ndim else 0
    given = labels is not None  # name the studies at fault by label when there are labels
    labels = tuple(map(str, labels)) if given else tuple(str(i + 1) for i in range(k))
    if y.ndim and len(labels) != k:
        raise DataError(f"{len(labels)} labels for {k} studies")
    core = meta_core(yi, vi, method=method, knha=knha, ci_prob=ci_prob, pi_type=pi_type,
                     tol=tol, maxiter=maxiter, labels=labels if given and y.ndim else None)
    if y.ndim:
        warn_variance_ratio(v, labels if given else None)
    conv = core["converged"]
    if not np.all(conv):
        n_bad = int(np.size(conv) - np.count_nonzero(conv))
        where = np.argwhere(~np.asarray(conv))[:5].tolist()
        warnings.warn(f"{method}: the tau² iteration did not converge for {n_bad} of "
                      f"{np.size(conv)} meta-analyses (replicates {where}...); their results "
                      "are nan", ConvergenceWarning, stacklevel=2)
    s = _scalarise
    return MetaAnalysisResult(
        estimate=s(core["estimate"]), se=s(core["se"]), statistic=s(core["statistic"]),
        p=s(core["p"]), df=core["df"], ci=core["ci"], pi=core["pi"], tau2=s(core["tau2"]),
        i2=s(core["i2"]), h2=s(core["h2"]), q=s(core["q"]), q_df=core["q_df"],
        q_p=s(core["q_p"]), weights=core["weights"], converged=s(conv), k=k,
        method=method, knha=knha, ci_prob=ci_prob, pi_type=pi_type, yi=y, vi=v, labels=labels,
        measure=measure, scale=scale,
    )
