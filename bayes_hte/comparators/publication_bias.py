r"""Small-study effects: the regression test for funnel plot asymmetry (metafor
``regtest``).

Egger et al. (1997, *BMJ* 315:629) regress the studies' effects on their precision; the
form metafor's ``regtest`` fits (Sterne & Egger 2005, in *Publication Bias in
Meta-Analysis*, ch. 6) adds the standard error :math:`s_i = \sqrt{v_i}` (or the variance
:math:`v_i`) as a moderator of the meta-analysis,

.. math:: y_i = \beta_0 + \beta_1 s_i + u_i + \varepsilon_i, \qquad
          u_i \sim N(0, \tau^2),\ \varepsilon_i \sim N(0, v_i),

with the fitted meta-analysis' :math:`\tau^2` estimator and test (``model="rma"``; a
fixed-effect fit has :math:`\tau^2 = 0`), or as the weighted least-squares regression
with weights :math:`1/v_i` and a multiplicative dispersion, t test on :math:`K-2` df
(``model="lm"``, Egger's original test). The test of asymmetry is that of
:math:`\beta_1 = 0`; :math:`\beta_0` is the "limit estimate", the effect of a study
of infinite precision (:math:`s_i \to 0`; Rücker et al. 2011, *Biostatistics*
12:122).

Checked against metafor 3.8-1 (``validation/metafor_diagnostics.R``,
``tests/data/metafor_regtest.json``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from bayes_hte.comparators.metareg import MetaRegression, meta_regression
from bayes_hte.comparators.univariate import MetaAnalysisResult, meta_analysis
from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import DataError
from bayes_hte.options import (
    FUNNEL_SIDES,
    REGTEST_MODELS,
    REGTEST_PREDICTORS,
    TRIM_FILL_ESTIMATORS,
    FunnelSide,
    RegtestModel,
    RegtestPredictor,
    TrimFillEstimator,
    check_choice,
    check_count,
)

_PREDICTOR_NAMES = {"sei": "standard error", "vi": "sampling variance"}


@dataclass(frozen=True, eq=False)
class RegtestResult:
    """The regression test for funnel plot asymmetry.

    Parameters
    ----------
    statistic, p : float
        z (or t) statistic of the predictor's coefficient and its two-sided p-value.
    df : float
        Degrees of freedom of the t test (``inf`` for z).
    limit, limit_ci : float, ndarray of shape (2,)
        The limit estimate :math:`\\hat\\beta_0` (the effect as the predictor goes to 0)
        and its interval at ``ci_prob``, on the scale of the meta-analysis (e.g. log RR).
    ci_prob : float
        Probability of ``limit_ci``.
    model : {"rma", "lm"}
        The regression (module doc).
    predictor : {"sei", "vi"}
        The standard error or the sampling variance.
    fit : MetaRegression
        The fitted regression (coefficients ``intrcpt`` and the predictor).
    """

    statistic: float
    p: float
    df: float
    limit: float
    limit_ci: np.ndarray
    ci_prob: float
    model: str
    predictor: str
    fit: MetaRegression = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """One row.

        Returns
        -------
        pandas.DataFrame
            Index ``test`` (``"regtest"``); columns ``statistic``, ``df``, ``p``,
            ``limit``, ``limit_ci_low``, ``limit_ci_high``, ``model``, ``predictor``.
        """
        return pd.DataFrame({"statistic": [self.statistic], "df": [self.df], "p": [self.p],
                             "limit": [self.limit], "limit_ci_low": [self.limit_ci[0]],
                             "limit_ci_high": [self.limit_ci[1]], "model": [self.model],
                             "predictor": [self.predictor]},
                            index=pd.Index(["regtest"], name="test"))

    def __str__(self) -> str:
        kind = ("weighted regression with multiplicative dispersion" if self.model == "lm"
                else "meta-regression model")
        stat = "z" if not np.isfinite(self.df) else f"t({self.df:g})"
        level = f"{100 * self.ci_prob:g}%"
        return "\n".join([
            "Regression Test for Funnel Plot Asymmetry", "",
            f"Model:     {kind}",
            f"Predictor: {_PREDICTOR_NAMES[self.predictor]}", "",
            f"Test for Funnel Plot Asymmetry: {stat} = {self.statistic:.4f}, "
            f"p = {self.p:.4g}",
            f"Limit Estimate (as {self.predictor} -> 0): b = {self.limit:.4f} ({level} CI: "
            f"{self.limit_ci[0]:.4f}, {self.limit_ci[1]:.4f})"])

    __repr__ = __str__


def _one_meta_analysis(result: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The effects and variances of one meta-analysis of at least 3 studies, or the
    TypeError / ValueError / DataError of ``what``'s docstring."""
    if not isinstance(result, MetaAnalysisResult):
        raise TypeError(f"{what} takes a MetaAnalysisResult (bh.comparators.meta_analysis), "
                        f"got {type(result).__name__}")
    if result.shape != ():
        raise ValueError(f"{what} takes one meta-analysis; select a replicate first")
    yi, vi = np.asarray(result.yi, dtype=float), np.asarray(result.vi, dtype=float)
    if yi.size < 3:
        raise DataError(f"{what} needs at least 3 studies, got {yi.size}")
    return yi, vi


def regtest(result: MetaAnalysisResult, *, model: RegtestModel = "rma",
            predictor: RegtestPredictor = "sei") -> RegtestResult:
    """Regression test for funnel plot asymmetry of a meta-analysis (metafor ``regtest``).

    Parameters
    ----------
    result : MetaAnalysisResult
        One meta-analysis (:func:`~bayes_hte.comparators.meta_analysis` with 1-D input):
        its effects, variances, :math:`\\tau^2` estimator, test (z or Knapp–Hartung t)
        and ``ci_prob`` are used.
    model : {"rma", "lm"}
        The meta-analysis with the predictor as moderator (default, metafor's), or
        Egger's weighted least-squares regression (module doc).
    predictor : {"sei", "vi"}
        The studies' standard errors (default) or sampling variances.

    Returns
    -------
    RegtestResult
        ``.statistic .p .df .limit .limit_ci``, ``.summary()``, ``print()``.

    Raises
    ------
    TypeError
        ``result`` is not a :class:`~bayes_hte.comparators.MetaAnalysisResult`.
    ValueError
        ``result`` holds several replicates, or an unknown ``model`` or ``predictor``.
    DataError
        Fewer than 3 studies (the regression has two coefficients), or studies whose
        predictor is all the same (no slope to test).
    """
    yi, vi = _one_meta_analysis(result, "regtest")
    check_choice("model", model, REGTEST_MODELS)
    check_choice("predictor", predictor, REGTEST_PREDICTORS)
    x = np.sqrt(vi) if predictor == "sei" else vi
    if np.ptp(x) == 0:
        raise DataError(f"every study has the same {_PREDICTOR_NAMES[predictor]}: there is "
                        "no slope to test")
    design = pd.DataFrame({"intrcpt": np.ones(yi.size), predictor: x})
    method, knha = (result.method, result.knha) if model == "rma" else ("FE", True)
    with warnings.catch_warnings():  # Egger's dispersion is the point of model="lm"
        warnings.filterwarnings("ignore", message="knha=True with method='FE'")
        fit = meta_regression(yi, vi, X=design, method=method, knha=knha,
                              ci_prob=result.ci_prob, labels=list(result.labels) or None)
    return RegtestResult(statistic=float(fit.statistic[1]), p=float(fit.p[1]),
                         df=float(fit.df), limit=float(fit.beta[0]),
                         limit_ci=np.asarray(fit.ci, dtype=float)[:, 0].copy(),
                         ci_prob=result.ci_prob, model=model, predictor=predictor, fit=fit)


@dataclass(frozen=True, eq=False)
class TrimFillResult:
    """Duval & Tweedie's trim and fill.

    Parameters
    ----------
    k0, se_k0 : int, float
        The estimated number of missing studies and its standard error (NaN where its
        variance formula is negative, as metafor's NA).
    side : {"left", "right"}
        The side of the funnel where studies are missing (filled).
    estimator : {"L0", "R0", "Q0"}
        The estimator of ``k0``.
    fit : MetaAnalysisResult
        The meta-analysis of the observed and the filled studies (the input itself when
        ``k0`` is 0); filled studies are labelled ``"Filled 1"``, ``"Filled 2"``, ...
    filled : ndarray of bool, shape (k + k0,)
        Which rows of ``fit`` are filled.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    fit: MetaAnalysisResult = field(repr=False)
    filled: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        level = f"{100 * self.fit.ci_prob:g}%"
        return "\n".join([
            f"Trim and fill ({self.estimator}): estimated {self.k0} missing studies on the "
            f"{self.side} side (SE "
            f"{f'{self.se_k0:.4f}' if np.isfinite(self.se_k0) else 'not defined'})",
            f"Adjusted estimate ({self.fit.method}, {self.fit.k} studies): "
            f"{self.fit.estimate:.4f} (se {self.fit.se:.4f}; {level} CI {self.fit.ci_low:.4f} "
            f"to {self.fit.ci_high:.4f})"])

    __repr__ = __str__


def _k0(ranked: np.ndarray, k: int, estimator: str) -> tuple[float, float]:
    """The estimator of the number of missing studies from the signed ranks, and its SE
    (Duval & Tweedie 2000, *Biometrics* 56:455)."""
    if estimator == "R0":
        k0 = (k - np.max(-ranked[ranked < 0], initial=0)) - 1
        return k0, np.sqrt(2 * max(0.0, k0) + 2)
    sr = float(ranked[ranked > 0].sum())
    if estimator == "Q0" and 2 * k**2 - 4 * sr + 0.25 < 0:
        raise DataError("the Q0 estimator of the missing studies is undefined for these "
                        "data (2k² - 4 S_r + 1/4 < 0); use estimator='L0' or 'R0'")
    k0 = ((4 * sr - k * (k + 1)) / (2 * k - 1) if estimator == "L0"
          else k - 0.5 - np.sqrt(2 * k**2 - 4 * sr + 0.25))
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0
              - 18 * k * k0**2 - 18 * k * k0 + 6 * k**2 * k0) / 24
    with np.errstate(invalid="ignore"):  # a negative variance: the SE is undefined (NaN)
        se = (4 * np.sqrt(var_sr) / (2 * k - 1) if estimator == "L0"
              else 2 * np.sqrt(var_sr) / np.sqrt((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)))
    return k0, se


def trim_and_fill(result: MetaAnalysisResult, *, estimator: TrimFillEstimator = "L0",
                  side: FunnelSide | None = None, maxiter: int = 100) -> TrimFillResult:
    r"""Trim and fill (Duval & Tweedie 2000, *Biometrics* 56:455; metafor ``trimfill``).

    The studies are ordered on the side opposite to the missing ones; the :math:`k_0`
    most extreme are trimmed, the model refitted, and :math:`k_0` re-estimated from the
    signed ranks of the deviations :math:`y_i - \hat\mu` (``"L0"``:
    :math:`(4S_r - k(k+1))/(2k-1)`, :math:`S_r` the sum of the positive ranks;
    ``"R0"``: the length of the rightmost run of positive ranks minus 1; ``"Q0"``), until
    :math:`k_0` no longer changes. The trimmed studies are then mirrored about the
    trimmed estimate, :math:`2\hat\mu - y_i` with the same variance, and the model is
    fitted to the observed and the filled studies. As metafor, the fits use the
    estimator of :math:`\tau^2` of ``result`` and the z test; the side, when not given,
    is where the slope of the effects on their standard errors (the regression test's
    model) points away from: missing on the right if it is negative, else on the left.

    Trim and fill assumes the asymmetry comes from suppressed studies; it is a
    sensitivity analysis, not a correction (Peters et al. 2007, *Stat Med* 26:4544).

    Parameters
    ----------
    result : MetaAnalysisResult
        One meta-analysis (:func:`~bayes_hte.comparators.meta_analysis`, 1-D input).
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies.
    side : {"left", "right"}, optional
        Side of the funnel where studies are missing (default: estimated, as metafor).
    maxiter : int
        Iterations before the algorithm is declared not to converge.

    Returns
    -------
    TrimFillResult
        ``.k0``, ``.se_k0``, ``.side``, ``.fit`` (the filled meta-analysis, on the scale
        of ``result``), ``.filled``.

    Raises
    ------
    TypeError
        ``result`` is not a :class:`~bayes_hte.comparators.MetaAnalysisResult`.
    ValueError
        Several replicates, an unknown ``estimator`` or ``side``, or a bad ``maxiter``.
    DataError
        Fewer than 3 studies, or ``estimator="Q0"`` where it is undefined.
    RuntimeError
        ``k0`` still changes after ``maxiter`` iterations (as metafor).
    """
    y0, v0 = _one_meta_analysis(result, "trim_and_fill")
    check_choice("estimator", estimator, TRIM_FILL_ESTIMATORS)
    if side is not None:
        check_choice("side", side, FUNNEL_SIDES)
    maxiter = check_count("maxiter", maxiter, low=1)
    k = y0.size
    quiet = {"method": result.method, "ci_prob": result.ci_prob}
    if side is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slope = meta_regression(y0, v0, X=np.column_stack([np.ones(k), np.sqrt(v0)]),
                                    method=result.method).beta[1]
        side = "right" if float(slope) < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y0, kind="stable")
    y, v = sign * y0[order], v0[order]
    k0, previous = 0, -1
    for _ in range(maxiter):
        if k0 == previous:
            break
        previous = k0
        if k - k0 == 1:  # one study left: its own effect (metafor's rma of one study)
            mu = float(y[0])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mu = float(meta_analysis(y[:k - k0], v[:k - k0], **quiet).estimate)
        centred = y - mu
        ranks = stats.rankdata(np.abs(centred), method="ordinal")
        estimate, se_k0 = _k0(np.sign(centred) * ranks, k, estimator)
        k0 = min(k - 1, max(0, int(np.round(estimate))))
    else:
        raise RuntimeError(f"trim and fill did not converge in {maxiter} iterations "
                               f"(k0 alternates near {k0})")
    se_k0 = max(0.0, float(se_k0)) if np.isfinite(se_k0) else float("nan")
    if k0 == 0:
        return TrimFillResult(k0=0, se_k0=se_k0, side=side,
                              estimator=estimator, fit=result, filled=np.zeros(k, dtype=bool))
    fill_y = sign * (2 * mu - y[k - k0:])
    labels = [*result.labels, *(f"Filled {i}" for i in range(1, k0 + 1))]
    table = EffectTable.from_arrays(np.r_[y0, fill_y], np.r_[v0, v[k - k0:]], labels=labels,
                                    measure=result.measure, scale=result.scale)
    fit = meta_analysis(table, **quiet)
    return TrimFillResult(k0=k0, se_k0=se_k0, side=side,
                          estimator=estimator, fit=fit,
                          filled=np.r_[np.zeros(k, dtype=bool), np.ones(k0, dtype=bool)])
