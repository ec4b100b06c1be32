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

from bayes_hte.comparators.metareg import MetaRegression, meta_regression
from bayes_hte.comparators.univariate import MetaAnalysisResult
from bayes_hte.errors import DataError
from bayes_hte.options import (
    REGTEST_MODELS,
    REGTEST_PREDICTORS,
    RegtestModel,
    RegtestPredictor,
    check_choice,
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
    if not isinstance(result, MetaAnalysisResult):
        raise TypeError(f"regtest takes a MetaAnalysisResult (bh.comparators.meta_analysis), "
                        f"got {type(result).__name__}")
    if result.shape != ():
        raise ValueError("regtest tests one meta-analysis; select a replicate first")
    check_choice("model", model, REGTEST_MODELS)
    check_choice("predictor", predictor, REGTEST_PREDICTORS)
    yi, vi = np.asarray(result.yi, dtype=float), np.asarray(result.vi, dtype=float)
    if yi.size < 3:
        raise DataError(f"the regression test needs at least 3 studies, got {yi.size}")
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
