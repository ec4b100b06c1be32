r"""Bayesian multivariate synthesis estimators: coefficient vectors and one-stage LMM.

Thin classes over :mod:`bayes_hte.models.synthesis_multivariate` (equations there) and
:mod:`bayes_hte.effects.synthesis`, with the protocol of
:class:`~bayes_hte.estimators.synthesis.SynthesisEstimator`:

* :class:`MultivariateMetaModel` -- study estimates (k, p) and covariances (k, p, p),
  e.g. step 1 of the two-step IPD-MA; counterpart :func:`bayes_hte.comparators.mvmeta`.
* :class:`LongitudinalMetaModel` -- all trials' repeated measures
  (``LongitudinalData``); counterpart :func:`bayes_hte.comparators.two_step_ipdma`.

Both summarise the pooled coefficients :math:`\mu` and predict a new trial's,
:math:`\beta_{new} \sim MVN(\mu, \Omega)` (:meth:`MultivariateMetaModel.new_trial_coefficients`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self, get_args

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.data.checks import is_categorical
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.data.multivariate import multivariate_inputs
from bayes_hte.effects import synthesis as synthesis_effects
from bayes_hte.errors import DataError
from bayes_hte.estimators.synthesis import SynthesisEstimator, _check_priors
from bayes_hte.models.synthesis_multivariate import build_mvmeta_model, build_one_stage_lmm
from bayes_hte.options import (
    OmegaStructure,
    OneStageParameterization,
    Sampler,
    WithinCovariance,
    canonical_structure,
    check_choice,
    check_flag,
)

__all__ = ["CoefficientEstimates", "LongitudinalMetaModel", "MultivariateMetaModel"]


# =========================================================================== coefficients
@dataclass(frozen=True, eq=False)
class CoefficientEstimates:
    """Per-study coefficient estimates and their within-study covariances.

    The data of :class:`MultivariateMetaModel` (e.g. step 1 of the two-step IPD-MA,
    :func:`bayes_hte.comparators.per_trial_mixed_models`). The full checks (finite,
    symmetric, positive definite on the reported components) are those of the model.

    Parameters
    ----------
    estimates : numpy.ndarray, shape (k, p)
        Study estimates; NaN for a component a study does not report.
    covariances : numpy.ndarray, shape (k, p, p)
        Within-study covariances (entries of unreported components ignored).
    names : tuple of str
        Coefficient names (``coef`` dim).
    study_labels : tuple of str
        Study labels (``study`` dim).
    """

    estimates: np.ndarray
    covariances: np.ndarray
    names: tuple[str, ...]
    study_labels: tuple[str, ...]

    @classmethod
    def from_arrays(cls, estimates: np.ndarray | pd.DataFrame, covariances: np.ndarray, *,
                    names: Sequence[str] | None = None,
                    study_labels: Sequence | None = None) -> CoefficientEstimates:
        """Normalise user input (a DataFrame gives the names and labels).

        Parameters
        ----------
        estimates : array_like, shape (k, p), or pandas.DataFrame
            Study estimates (NaN: not reported); a DataFrame's columns and index give
            ``names`` and ``study_labels``.
        covariances : array_like, shape (k, p, p), Mapping or xarray.DataArray
            Within-study covariances, by position or by study label
            (:func:`bayes_hte.data.multivariate.multivariate_inputs`).
        names, study_labels : sequence, optional
            Coefficient names and study labels (default ``0..p-1``, ``1..k``; with a
            DataFrame they must equal its columns and index).

        Returns
        -------
        CoefficientEstimates
            Float copies and text labels.

        Raises
        ------
        DataError
            ``estimates`` is not two-dimensional or has one study, or the names /
            labels do not match its shape, or the inputs are refused by
            :func:`~bayes_hte.data.multivariate.multivariate_inputs` (text among the
            numbers, repeated labels, labels that contradict the DataFrame's).
        """
        y, S, names, study_labels = multivariate_inputs(
            estimates, covariances, names=names, study_labels=study_labels)
        if y.ndim != 2:
            raise DataError(f"estimates must have shape (k, p) (studies x coefficients), "
                            f"got {y.shape}")
        k, p = y.shape
        names = tuple(str(n) for n in (names if names is not None else range(p)))
        labels = tuple(str(s) for s in (study_labels if study_labels is not None
                                        else range(1, k + 1)))
        if len(names) != p or len(labels) != k:
            raise DataError(f"names ({len(names)}) / study_labels ({len(labels)}) must "
                            f"match the {p} coefficients and {k} studies of estimates")
        if k < 2:  # as mvmeta: one study says nothing of the between-study covariance
            raise DataError(f"a between-study covariance needs at least 2 studies, got {k}")
        return cls(estimates=y, covariances=S, names=names, study_labels=labels)

    def to_dataset(self) -> xr.Dataset:
        """The arrays as an ``xarray.Dataset`` (dims study, coef, coef\\_).

        Returns
        -------
        xarray.Dataset
            Variables ``estimates`` (study, coef) and ``covariances`` (study, coef,
            coef\\_).
        """
        return xr.Dataset(
            {"estimates": (("study", "coef"), self.estimates),
             "covariances": (("study", "coef", "coef_"), self.covariances)},
            coords={"study": list(self.study_labels), "coef": list(self.names),
                    "coef_": list(self.names)})

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> CoefficientEstimates:
        """Inverse of :meth:`to_dataset`.

        Parameters
        ----------
        ds : xarray.Dataset
            Variables ``estimates`` and ``covariances`` with coordinates ``study`` and
            ``coef``, as :meth:`to_dataset` writes them.

        Returns
        -------
        CoefficientEstimates
            The same arrays and labels.
        """
        return cls(estimates=ds["estimates"].values, covariances=ds["covariances"].values,
                   names=tuple(str(c) for c in ds["coef"].values),
                   study_labels=tuple(str(s) for s in ds["study"].values))


class _CoefficientModel(SynthesisEstimator):
    """Shared summaries of the models whose estimand is the pooled vector ``mu``."""

    population: ClassVar[tuple[str, ...]] = (
        "mu", "tau", "rho", "corr", "sigma_intercept", "sigma_error", "sd_within")

    def new_trial_coefficients(self, *, random_seed: int | None = None) -> xr.DataArray:
        r"""Coefficient vector of a new trial, :math:`\beta_{new} \sim MVN(\mu, \Omega)`.

        Parameters
        ----------
        random_seed : int, optional
            Seed of the normal draws (default the fit's seed).

        Returns
        -------
        xarray.DataArray
            ``beta_new``, dims (chain, draw, coef)
            (:func:`bayes_hte.effects.synthesis.new_trial_coefficients`).

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        return synthesis_effects.new_trial_coefficients(
            self.idata, random_seed=self._seed_or(random_seed))

    def summary(self, *, ci_prob: float = 0.95, new_trial: bool = False,
                random_seed: int | None = None) -> pd.DataFrame:
        """Pooled coefficients (or a new trial's), one row per coefficient.

        Parameters
        ----------
        ci_prob : float
            Probability of the intervals of each coefficient (credible, or prediction
            intervals with ``new_trial``), in (0, 1).
        new_trial : bool
            Summarise :meth:`new_trial_coefficients` (prediction intervals) instead of
            :math:`\\mu`.
        random_seed : int, optional
            Seed of the new-trial draws (default the fit's seed).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``coef``; columns ``mean``, ``sd``, ``ci_low``, ``ci_high`` on the
            coefficients' scale. (:func:`bayes_hte.effects.synthesis.coefficient_table`
            gives the same numbers with ``estimate`` for the plots.)

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        new_trial = check_flag("new_trial", new_trial)
        self._require_fit()
        draws = self.new_trial_coefficients(random_seed=random_seed) if new_trial else None
        tab = synthesis_effects.coefficient_table(self.idata, ci_prob=ci_prob, draws=draws)
        return tab.rename(columns={"estimate": "mean"})


class MultivariateMetaModel(_CoefficientModel):
    r"""Bayesian multivariate random-effects meta-analysis of coefficient vectors.

    The Bayesian counterpart of :func:`bayes_hte.comparators.mvmeta` (step 2 of the
    two-step IPD-MA of longitudinal trials; seed paper ``two_step_mvma_longitudinal``):

    .. math::

        \hat\beta_i \sim MVN(\mu, \Omega + S_i) \text{ on the components } O_i
        \text{ study } i \text{ reports}, \qquad \mu_k \sim N(0, 10^2),\;
        \Omega \sim p(\Omega).

    Missing components are marginalised (Jackson, Riley & White 2011): each study's
    vector is padded (value 0, mean 0, variance 1, no covariance), which multiplies its
    density by a constant and leaves the posterior that of the observed components
    (:func:`bayes_hte.models.synthesis_multivariate.build_mvmeta_model`).

    Parameters
    ----------
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        :math:`\Omega = \mathrm{diag}(\tau) R\,\mathrm{diag}(\tau)` with
        :math:`R \sim \mathrm{LKJ}(2)`; :math:`\tau^2\{(1-\rho)I + \rho J\}`;
        :math:`\mathrm{diag}(\tau_k^2)`; :math:`\tau^2 I` (metafor's ``"UN"``, ``"CS"``,
        ``"DIAG"``, ``"ID"`` are read as these). Between-study SDs
        :math:`\tau \sim \mathrm{HalfNormal}(1)`.
    priors : mapping, optional
        Overrides by name: ``mu``, ``tau``, ``corr`` (LKJ ``eta``), ``rho``.

    Raises
    ------
    ValueError
        An unknown ``structure``.

    Notes
    -----
    The log likelihood has one value per study (``beta_hat``); a study with :math:`m`
    missing components carries the constant :math:`-\tfrac m2 \log 2\pi`.

    Examples
    --------
    >>> m = MultivariateMetaModel(structure="compound_symmetry")    # doctest: +SKIP
    >>> m.fit(step1.estimates, step1.covariances, names=step1.names)  # doctest: +SKIP
    >>> m.summary(new_trial=True)   # prediction intervals          # doctest: +SKIP
    """

    data_group: ClassVar[str] = "coefficient_estimates"
    data: CoefficientEstimates | None = None
    _data_type = CoefficientEstimates
    _factory = staticmethod(build_mvmeta_model)
    _option_names = ("structure", "priors")

    def __init__(self, *, structure: OmegaStructure = "unstructured",
                 priors: Mapping | None = None):
        structure = canonical_structure(structure)  # metafor's "UN", "CS", ... too
        self.structure = structure
        self.priors = _check_priors(priors)

    def _factory_arguments(self, data: CoefficientEstimates) -> tuple[tuple, dict]:
        if not isinstance(data, CoefficientEstimates):
            raise DataError(f"expected CoefficientEstimates, got {type(data).__name__}")
        return (data.estimates, data.covariances), {
            **self._options(), "names": data.names, "study_labels": data.study_labels}

    def fit(self, estimates: np.ndarray | pd.DataFrame | CoefficientEstimates,
            covariances: np.ndarray | Mapping | xr.DataArray | None = None, *,
            names: Sequence[str] | None = None, study_labels: Sequence | None = None,
            draws: int = 1000, tune: int = 1000,
            chains: int = 4, random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = None, progressbar: bool = False,
            log_likelihood: bool = True, posterior_predictive: bool = True) -> Self:
        """Sample the posterior given coefficient arrays (or a ``CoefficientEstimates``).

        Arrays are labelled by :meth:`CoefficientEstimates.from_arrays`; components a
        study does not report (NaN) are marginalised by the model.

        Parameters
        ----------
        estimates : array_like, shape (k, p), pandas.DataFrame or CoefficientEstimates
            Study estimates (NaN: not reported); a DataFrame's columns and index give
            the names and labels.
        covariances : array_like, shape (k, p, p), Mapping or xarray.DataArray
            Within-study covariances, by position or by study label (omit when
            ``estimates`` is a ``CoefficientEstimates``).
        names, study_labels : sequence, optional
            Coefficient names and study labels.
        draws, tune, chains, random_seed, sampler, target_accept, progressbar, \
log_likelihood, posterior_predictive
            As in :meth:`SynthesisEstimator.fit` (the log likelihood has one value per
            study, ``beta_hat``).

        Returns
        -------
        MultivariateMetaModel
            ``self`` with :attr:`idata` set: the pooled coefficients ``mu`` (dim
            ``coef``), the between-study SDs ``tau`` and ``Omega``.

        Raises
        ------
        DataError
            Invalid estimates or covariances (see :meth:`build`).
        """
        if not isinstance(estimates, CoefficientEstimates):
            if covariances is None:
                raise DataError("covariances (k, p, p) are required with the estimates")
            estimates = CoefficientEstimates.from_arrays(
                estimates, covariances, names=names, study_labels=study_labels)
        return super().fit(estimates, draws=draws, tune=tune, chains=chains,
                           random_seed=random_seed, sampler=sampler,
                           target_accept=target_accept, progressbar=progressbar,
                           log_likelihood=log_likelihood,
                           posterior_predictive=posterior_predictive)


# =========================================================================== one-stage LMM
class LongitudinalMetaModel(_CoefficientModel):
    r"""One-stage Bayesian linear mixed model over all trials' longitudinal IPD.

    For participant :math:`j` of trial :math:`i` with measured visits :math:`O_{ij}`,

    .. math::

        Y_{ij} \sim MVN\bigl(X_{ij}\beta_i,\; \Sigma_{i,O_{ij}O_{ij}}\bigr), \qquad
        \beta_i = \mu + \Omega^{1/2} u_i,\; u_i \sim N(0, I),

    with :math:`X_{ij}` the design of model (3) of the two-step IPD-MA paper (seed
    ``two_step_mvma_longitudinal``; :meth:`LongitudinalData.design_matrix`),
    trial-level random coefficients :math:`\beta_i \sim MVN(\mu, \Omega)` and the
    participant random intercept integrated out:
    :math:`\Sigma_i = \sigma_{b,i}^2 J + \sigma_{e,i}^2 I` with trial-specific SDs, or one
    unstructured :math:`\Sigma` with an LKJ prior
    (:func:`bayes_hte.models.synthesis_multivariate.build_one_stage_lmm`). The one-stage
    counterpart of :func:`bayes_hte.comparators.two_step_ipdma`.

    Parameters
    ----------
    structure : {"diagonal", "compound_symmetry", "unstructured", "identity"}
        Structure of the between-trial covariance :math:`\Omega` of the coefficients
        (metafor's ``"UN"``, ``"CS"``, ``"DIAG"``, ``"ID"`` are read as these).
    within : {"random_intercept", "unstructured"}
        Within-participant covariance (see above).
    priors : mapping, optional
        Overrides by name: ``mu``, ``tau``, ``corr`` / ``rho``, and ``sigma_intercept``,
        ``sigma_error`` (HalfNormal(10)) or ``sd_within``, ``corr_within``.
    reference_visit : str, int or float, optional
        Visit the visit indicators are contrasted with (default the first visit every
        trial measured).
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interaction blocks of model (3).
    parameterization : {"non_centered", "centered"}
        Form of the trial coefficients :math:`\beta_i`.

    Raises
    ------
    ValueError
        ``structure``, ``within`` or ``parameterization`` outside its allowed values.

    Notes
    -----
    The log likelihood has one value per participant (the exact MVN density of the
    measured visits). Default priors suit outcomes with an SD of about 6; rescale them
    with ``priors`` for other outcomes.

    Examples
    --------
    >>> m = LongitudinalMetaModel(structure="compound_symmetry")     # doctest: +SKIP
    >>> m.fit(data, draws=1000, chains=4, random_seed=1)              # doctest: +SKIP
    >>> m.summary()                 # pooled coefficients mu          # doctest: +SKIP
    """

    data_group: ClassVar[str] = "longitudinal_data"
    data: LongitudinalData | None = None
    _factory = staticmethod(build_one_stage_lmm)
    _option_names = ("structure", "within", "priors", "reference_visit", "treatment_by_visit",
                     "covariate_by_visit", "treatment_by_covariate", "parameterization")

    def __init__(self, *, structure: OmegaStructure = "diagonal",
                 within: WithinCovariance = "random_intercept",
                 priors: Mapping | None = None,
                 reference_visit: str | int | float | None = None,
                 treatment_by_visit: bool = True, covariate_by_visit: bool = True,
                 treatment_by_covariate: bool = True,
                 parameterization: OneStageParameterization = "non_centered"):
        structure = canonical_structure(structure)  # metafor's "UN", "CS", ... too
        check_choice("within", within, get_args(WithinCovariance))
        check_choice("parameterization", parameterization, ("centered", "non_centered"))
        self.structure = structure
        self.within = within
        self.priors = _check_priors(priors)
        self.reference_visit = (reference_visit.item() if hasattr(reference_visit, "item")
                                else reference_visit)
        self.treatment_by_visit = bool(treatment_by_visit)
        self.covariate_by_visit = bool(covariate_by_visit)
        self.treatment_by_covariate = bool(treatment_by_covariate)
        self.parameterization = parameterization

    def _data_to_dataset(self, data: LongitudinalData) -> xr.Dataset:
        return _longitudinal_to_dataset(data)

    @classmethod
    def _data_from_dataset(cls, ds: xr.Dataset) -> LongitudinalData:
        return _longitudinal_from_dataset(ds)


def _plain(value):
    """numpy scalars as Python ones (JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _longitudinal_to_dataset(data: LongitudinalData) -> xr.Dataset:
    """The role columns of the fit frame (dim ``row``) and the arguments of
    ``LongitudinalData.from_frame``; categorical columns as codes + categories."""
    roles = [data.outcome, data.treatment, data.study, data.subject, data.visit,
             *data.covariates]
    cols = list(dict.fromkeys(c for c in roles if c is not None))
    frame = data.frame[cols].reset_index(drop=True)
    data_vars, categories = {}, {}
    for c in cols:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            categories[str(c)] = {"categories": [_plain(v) for v in s.cat.categories],
                                  "ordered": bool(s.cat.ordered)}
            values = s.cat.codes.to_numpy()
        elif is_categorical(s):
            values = s.astype(str).to_numpy(dtype=str)
        else:
            values = s.to_numpy()
        data_vars[str(c)] = ("row", values)
    config = {"outcome": data.outcome, "treatment": data.treatment, "study": data.study,
              "subject": data.subject, "visit": data.visit,
              "covariates": list(data.covariates), "center": data.center,
              "levels": {k: [_plain(v) for v in lv] for k, lv in data.levels.items()}}
    ds = xr.Dataset(data_vars, coords={"row": np.arange(len(frame))})
    ds.attrs["longitudinal_config"] = json.dumps(config)
    ds.attrs["categories"] = json.dumps(categories)
    return ds


def _longitudinal_from_dataset(ds: xr.Dataset) -> LongitudinalData:
    """Inverse of :func:`_longitudinal_to_dataset`."""
    config = json.loads(ds.attrs["longitudinal_config"])
    categories = json.loads(ds.attrs["categories"])
    frame = pd.DataFrame({k: ds[k].values for k in ds.data_vars})
    for c, spec in categories.items():
        frame[c] = pd.Categorical.from_codes(frame[c].to_numpy(), spec["categories"],
                                             ordered=spec["ordered"])
    return LongitudinalData.from_frame(frame, **config)
