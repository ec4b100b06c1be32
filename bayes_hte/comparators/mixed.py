r"""Step 1 of the two-step IPD meta-analysis: a linear mixed model per trial, by REML.

For participant :math:`j` of one trial with measured visits :math:`O_j` (a subset of the
trial's visits), the outcome vector :math:`Y_j` has the marginal model (the paper's
eq. (1))

.. math::

    Y_j \sim MVN(X_j \beta, V_j),

with :math:`X_j` the rows of the fixed-effects design of model (3) (intercept,
treatment, visit indicators, covariates, treatment x visit, visit x covariate and
treatment x covariate; :meth:`LongitudinalData.design_matrix`) and one of two
within-participant covariances:

``random_intercept``
    :math:`V_j = \sigma_b^2 J + \sigma_e^2 I` (participant random intercept
    :math:`b_j \sim N(0, \sigma_b^2)`, independent errors; compound symmetry).
``unstructured``
    :math:`V_j = \Sigma_{O_jO_j}` with :math:`\Sigma` an unstructured
    :math:`T \times T` covariance over the trial's visits (MMRM; Mallinckrodt et al.).

REML maximises

.. math::

    \ell_R = -\tfrac12\Bigl\{(N - P)\log 2\pi + \sum_j \log|V_j|
       + \log\Bigl|\sum_j X_j^T V_j^{-1} X_j\Bigr|
       + \sum_j (Y_j - X_j\hat\beta)^T V_j^{-1} (Y_j - X_j\hat\beta)\Bigr\}

(lme4's REML criterion is :math:`-2\ell_R`), with :math:`\hat\beta` the generalised
least-squares estimate; ML drops the :math:`\log|\cdot|` term and uses :math:`N \log 2\pi`.
The random-intercept model is profiled to a one-dimensional search over
:math:`\lambda = \sigma_b^2/\sigma_e^2` using closed forms per participant; the
unstructured model optimises the Cholesky factor of :math:`\Sigma` with analytic
gradients, grouping participants by their pattern of measured visits. The reported
covariance of :math:`\hat\beta` is the model-based
:math:`(\sum_j X_j^T \hat V_j^{-1} X_j)^{-1}` (as lme4, nlme and SAS PROC MIXED).
Missing visits are ignorable under MAR: each participant contributes the visits
measured.

**Coefficients a trial cannot estimate** (the paper's Remark C: a visit the trial never
measured makes its indicator and interaction columns zero) are dropped from that
trial's fit and returned as NaN, with NaN rows and columns in the covariance, so that
step 2 (:func:`bayes_hte.comparators.mvmeta`) treats them as missing components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayes_hte.comparators.lmm import LMMFit, _LMMStatistics, lmm_fit  # noqa: F401
from bayes_hte.comparators.multivariate import MVMetaResult, mvmeta
from bayes_hte.comparators.printout import mixed_model_text, per_trial_text, two_step_text
from bayes_hte.comparators.results import WaldInterval
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.errors import DataError
from bayes_hte.options import LMMMethod, MVMethod, OmegaStructure, WithinCovariance


@dataclass(frozen=True, eq=False)
class MixedModelResult(WaldInterval, _LMMStatistics):
    r"""One linear mixed model (one trial, or all trials pooled with common effects).

    Parameters
    ----------
    estimate : ndarray (P,)
        Fixed effects; NaN for coefficients the data cannot estimate (visits never
        measured). Their standard errors are ``se``.
    cov : ndarray (P, P)
        :math:`\mathrm{Cov}(\hat\beta)`, NaN rows/columns for inestimable coefficients.
    names : tuple of str
        Coefficient names (the design over all trials' visits).
    within_cov : pandas.DataFrame
        Estimated within-participant covariance over the visits (NaN for visits not
        measured).
    sd_intercept, sd_error, loglik, n_obs, n_subjects, n_cov_params, converged
        As in :class:`~bayes_hte.comparators.lmm.LMMFit`, the raw fit this result is made
        from.
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance.
    method : {"REML", "ML"}
    study : object
        The trial fitted (``None`` for all trials pooled).
    reference_visit : object
        Reference level of the visit factor.
    ci_prob : float
        Probability of the Wald interval ``ci`` (shape (2, P); ``ci_low``, ``ci_high``).
    """

    estimate: np.ndarray
    cov: np.ndarray
    names: tuple[str, ...]
    within_cov: pd.DataFrame
    covariance: str
    method: str
    study: object
    reference_visit: object
    ci_prob: float = 0.95

    def __str__(self) -> str:
        return mixed_model_text(self)

    __repr__ = __str__

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def estimable(self) -> np.ndarray:
        return np.isfinite(self.estimate)


    @property
    def n_params(self) -> int:
        return int(self.estimable.sum()) + self.n_cov_params

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        n = self.n_subjects
        return -2.0 * self.loglik + self.n_params * np.log(n)

    def summary(self) -> pd.DataFrame:
        """One row per coefficient: estimate, se, z, p, CI (NaN rows: not estimable).

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: ``estimate, se, z, p, ci_low, ci_high``.
        """
        lo, hi = self.ci
        z = self.estimate / self.se
        return pd.DataFrame({"estimate": self.estimate, "se": self.se, "z": z,
                             "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": lo, "ci_high": hi},
                            index=pd.Index(list(self.names), name="coef"))


def mixed_model(
    data: LongitudinalData,
    *,
    study: object | None = None,
    covariance: WithinCovariance = "random_intercept",
    method: LMMMethod = "REML",
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
    ci_prob: float = 0.95,
) -> MixedModelResult:
    r"""Fit the linear mixed model of model (3) to one trial (or to all trials pooled).

    Parameters
    ----------
    data : LongitudinalData
    study : optional
        Label of the trial to fit. ``None`` fits all rows of ``data`` as one data set
        with common coefficients and common variance parameters (the one-step
        fixed-effect IPD-MA of Simulation 1; a single-trial ``data`` is just that trial).
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance: participant random intercept (compound
        symmetry) or unstructured over the visits (MMRM).
    method : {"REML", "ML"}
    reference_visit : optional
        Reference level of the visit factor (default: the first visit all trials share).
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of model (3) to include.
    ci_prob : float

    Returns
    -------
    MixedModelResult
        Coefficients are indexed by the names of the design over *all* trials' visits;
        those this trial cannot estimate are NaN (Remark C).

    Raises
    ------
    DataError
        Unknown study, too few measurements, or a rank-deficient design (other than
        columns of visits never measured, which come back as NaN).
    """
    design = data.design_matrix(reference_visit=reference_visit,
                                treatment_by_visit=treatment_by_visit,
                                covariate_by_visit=covariate_by_visit,
                                treatment_by_covariate=treatment_by_covariate)
    return _fit_design(data, design, study=study, covariance=covariance, method=method,
                       ci_prob=ci_prob)


#: Residual variance below this share of the outcome's variance is taken as an exact fit
#: (a constant outcome, or one the design determines), not an estimate.
EXACT_FIT = 1e-10


def _refuse_exact_fit(y: np.ndarray, resid: float, where: str, what: str) -> None:
    """Refuse a trial whose residual variance is 0 (before the fit: of least squares;
    after it: within participants): its standard errors would be 0, its log-likelihood
    unbounded, and step 2 would give it all the weight."""
    scale = float(np.var(y))
    if scale == 0.0 or resid <= EXACT_FIT * scale:
        head = (f"the outcome is constant ({float(y[0])}) in {where}" if scale == 0.0 else
                f"the model fits the outcome of {where} exactly ({what} {resid:.3g} "
                f"against the outcome's variance {scale:.3g})")
        raise DataError(f"{head}: its residual variance is 0, so its standard errors would "
                        "be 0 and it would take all the weight; check the outcome column, "
                        "or leave the trial out")


def _within_variance(fit, covariance: str) -> float:
    """The smallest within-participant (residual) variance of a fit."""
    if covariance == "random_intercept":
        return float(fit.sd_error) ** 2
    sig = np.asarray(fit.sigma, dtype=float)
    ok = np.isfinite(np.diag(sig))
    return float(np.linalg.eigvalsh(sig[np.ix_(ok, ok)]).min()) if ok.any() else np.inf


def _fit_design(data: LongitudinalData, design, *, study, covariance, method,
                ci_prob) -> MixedModelResult:
    if study is None:
        rows = np.ones(data.n_obs, dtype=bool)
        where = "the pooled data" if data.n_studies > 1 else (
            f"study {data.study_labels[0]!r}")
    else:
        if study not in data.study_labels:
            raise DataError(f"study {study!r} is not in the data (study column "
                            f"{data.study!r}); known: {list(data.study_labels)}")
        rows = data.study_idx == data.study_labels.index(study)
        where = f"study {study!r}"
    y, X = data.y[rows], design.X[rows]
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    _refuse_exact_fit(y, float(np.mean((y - X @ ols) ** 2)), where, "least-squares residual "
                      "variance")
    fit = lmm_fit(y, X, data.subject_idx[rows], data.visit_idx[rows],
                  n_visits=data.n_visits, covariance=covariance, method=method,
                  names=design.names, where=where)
    _refuse_exact_fit(y, _within_variance(fit, covariance), where,
                      "within-participant variance")
    visits = [str(v) for v in data.visit_labels]
    return MixedModelResult(
        estimate=fit.beta, cov=fit.cov, names=design.names,
        within_cov=pd.DataFrame(fit.sigma, index=visits, columns=visits),
        sd_intercept=fit.sd_intercept, sd_error=fit.sd_error, loglik=fit.loglik,
        n_obs=fit.n_obs, n_subjects=fit.n_subjects, n_cov_params=fit.n_cov_params,
        converged=fit.converged, covariance=covariance, method=method,
        study=study if study is not None else (
            data.study_labels[0] if data.n_studies == 1 else None),
        reference_visit=design.reference_visit, ci_prob=ci_prob,
    )


@dataclass(frozen=True, eq=False)
class PerTrialMixedModels:
    """Step 1 for every trial: coefficient vectors and their covariances.

    Parameters
    ----------
    estimates : ndarray (k, P)
        Per-trial coefficients, NaN where a trial cannot estimate one (Remark C).
    covariances : ndarray (k, P, P)
        Per-trial :math:`\\mathrm{Cov}(\\hat\\beta_i)`, NaN rows/columns likewise.
    names : tuple of str
        Coefficient names.
    study_labels : tuple
        Trial labels, in the order of the first axis.
    fits : dict
        Study label -> :class:`MixedModelResult`.
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance of the step-1 fits.
    method : {"REML", "ML"}
        Likelihood of the step-1 fits.
    """

    estimates: np.ndarray
    covariances: np.ndarray
    names: tuple[str, ...]
    study_labels: tuple
    fits: dict = field(repr=False)
    covariance: str = "random_intercept"
    method: str = "REML"

    def __str__(self) -> str:
        return per_trial_text(self)

    __repr__ = __str__

    def estimates_frame(self) -> pd.DataFrame:
        """Trials x coefficients table of the estimates (NaN: not estimable).

        Returns
        -------
        pandas.DataFrame
            Indexed by study, one column per coefficient.
        """
        return pd.DataFrame(self.estimates, index=pd.Index(list(self.study_labels),
                                                           name="study"),
                            columns=list(self.names))

    def covariance_array(self) -> xr.DataArray:
        """The per-trial covariances labelled by trial and coefficient, for
        :func:`~bayes_hte.comparators.mvmeta` to match to :meth:`estimates_frame` by label.

        Returns
        -------
        xarray.DataArray
            Dims ``(study, coef, coef_)``; NaN rows and columns where a trial cannot
            estimate a coefficient.
        """
        names = list(self.names)
        return xr.DataArray(self.covariances, dims=("study", "coef", "coef_"),
                            coords={"study": [str(s) for s in self.study_labels],
                                    "coef": names, "coef_": names})

    def summary(self) -> pd.DataFrame:
        """Long table of the step-1 coefficients.

        Returns
        -------
        pandas.DataFrame
            ``study, coef, estimate, se, z, p, ci_low, ci_high``.
        """
        frames = []
        for lab, res in self.fits.items():
            s = res.summary().reset_index()
            s.insert(0, "study", lab)
            frames.append(s)
        return pd.concat(frames, ignore_index=True)

    def variance_summary(self) -> pd.DataFrame:
        """Per trial: participants, measurements, SDs, log-likelihood, convergence.

        Returns
        -------
        pandas.DataFrame
            Indexed by study: ``n_subjects, n_obs, sd_intercept, sd_error, loglik,
            converged``.
        """
        return pd.DataFrame([{"study": lab, "n_subjects": r.n_subjects, "n_obs": r.n_obs,
                              "sd_intercept": r.sd_intercept, "sd_error": r.sd_error,
                              "loglik": r.loglik, "converged": r.converged}
                             for lab, r in self.fits.items()]).set_index("study")

    def mvmeta(self, *, method: MVMethod = "REML",
               structure: OmegaStructure = "compound_symmetry",
               coefs: Sequence[str] | None = None, ci_prob: float = 0.95) -> MVMetaResult:
        """Step 2: multivariate meta-analysis of the trial coefficient vectors
        (:func:`bayes_hte.comparators.mvmeta`), optionally of a subset ``coefs``.

        Parameters
        ----------
        method : {"REML", "ML", "FE"}
            Likelihood of step 2, or fixed effect.
        structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
            Structure of the between-trial covariance :math:`\\Omega`.
        coefs : sequence of str, optional
            Coefficients to pool (default: all).
        ci_prob : float
            Probability of the confidence and prediction intervals.

        Returns
        -------
        MVMetaResult

        Raises
        ------
        DataError
            Unknown coefficients, or invalid inputs (see :func:`mvmeta`).
        """
        idx = self._coef_index(coefs)
        return mvmeta(self.estimates[:, idx], self.covariances[np.ix_(range(len(
            self.study_labels)), idx, idx)], method=method, structure=structure,
            names=[self.names[i] for i in idx], study_labels=self.study_labels,
            ci_prob=ci_prob)

    def _coef_index(self, coefs) -> list[int]:
        if coefs is None:
            return list(range(len(self.names)))
        unknown = [c for c in coefs if c not in self.names]
        if unknown:
            raise DataError(f"coefficients {unknown} are not in the model; available: "
                            f"{list(self.names)}")
        return [self.names.index(c) for c in coefs]


def per_trial_mixed_models(
    data: LongitudinalData,
    *,
    covariance: WithinCovariance = "random_intercept",
    method: LMMMethod = "REML",
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
) -> PerTrialMixedModels:
    """Step 1 of the two-step method: :func:`mixed_model` for each trial separately.

    Every trial gets its own coefficients and its own variance parameters (so any
    heterogeneity of the within-trial covariances is accommodated, Remark B). The
    coefficient vector is indexed over the union of the trials' visits, with NaN for
    those a trial did not measure (Remark C).

    Parameters
    ----------
    data : LongitudinalData
    covariance, method, reference_visit : optional
        As in :func:`mixed_model`.
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of model (3) to include.

    Returns
    -------
    PerTrialMixedModels

    Raises
    ------
    DataError
        No trials, or a trial whose model cannot be fitted (see :func:`mixed_model`).
    """
    if data.n_studies < 1:
        raise DataError("no trials in the data")
    design = data.design_matrix(reference_visit=reference_visit,
                                treatment_by_visit=treatment_by_visit,
                                covariate_by_visit=covariate_by_visit,
                                treatment_by_covariate=treatment_by_covariate)
    fits = {lab: _fit_design(data, design, study=lab, covariance=covariance, method=method,
                             ci_prob=0.95)
            for lab in data.study_labels}
    first = next(iter(fits.values()))
    est = np.stack([r.estimate for r in fits.values()])
    cov = np.stack([r.cov for r in fits.values()])
    return PerTrialMixedModels(estimates=est, covariances=cov, names=first.names,
                               study_labels=tuple(data.study_labels), fits=fits,
                               covariance=covariance, method=method)


@dataclass(frozen=True, eq=False)
class TwoStepResult:
    """Both steps of the two-step IPD meta-analysis.

    Parameters
    ----------
    step1 : PerTrialMixedModels
        The per-trial mixed models.
    step2 : MVMetaResult
        The multivariate meta-analysis of their coefficients.
    """

    step1: PerTrialMixedModels
    step2: MVMetaResult

    def __str__(self) -> str:
        return two_step_text(self)

    __repr__ = __str__

    def summary(self) -> pd.DataFrame:
        """The pooled coefficients (:meth:`MVMetaResult.summary` of step 2).

        Returns
        -------
        pandas.DataFrame
        """
        return self.step2.summary()


def two_step_ipdma(
    data: LongitudinalData,
    *,
    covariance: WithinCovariance = "random_intercept",
    lmm_method: LMMMethod = "REML",
    method: MVMethod = "REML",
    structure: OmegaStructure = "compound_symmetry",
    coefs: Sequence[str] | None = None,
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
    ci_prob: float = 0.95,
) -> TwoStepResult:
    """Two-step IPD meta-analysis of longitudinal trials (the seed paper's method).

    Step 1 fits :func:`per_trial_mixed_models` (``covariance``, ``lmm_method``); step 2
    pools the coefficient vectors with :func:`bayes_hte.comparators.mvmeta`
    (``method``, ``structure``; compound symmetry by default, the paper's choice).

    Parameters
    ----------
    data : LongitudinalData
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance of the step-1 models.
    lmm_method : {"REML", "ML"}
        Likelihood of the step-1 models.
    method : {"REML", "ML", "FE"}
        Likelihood of step 2, or fixed effect.
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of the between-trial covariance.
    coefs : sequence of str, optional
        Coefficients pooled in step 2 (default: all).
    reference_visit : optional
        Reference level of the visit factor.
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of model (3) to include.
    ci_prob : float
        Probability of the step-2 intervals.

    Returns
    -------
    TwoStepResult

    Raises
    ------
    DataError
        Invalid data or options (see :func:`per_trial_mixed_models` and :func:`mvmeta`).
    """
    step1 = per_trial_mixed_models(
        data, covariance=covariance, method=lmm_method, reference_visit=reference_visit,
        treatment_by_visit=treatment_by_visit, covariate_by_visit=covariate_by_visit,
        treatment_by_covariate=treatment_by_covariate)
    step2 = step1.mvmeta(method=method, structure=structure, coefs=coefs, ci_prob=ci_prob)
    return TwoStepResult(step1=step1, step2=step2)
