"""Thin estimator classes: convert data, call a factory, sample, post-process.

>>> m = IPDMetaModel(heterogeneity="random_intercept", learner="s")   # doctest: +SKIP
>>> m.fit(data, draws=1000, tune=1000, chains=4, random_seed=1)       # doctest: +SKIP
>>> m.ite()            # (chain, draw, patient) risk differences      # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte import effects
from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.inference import Sampler, default_sampler, fit
from bayes_hte.models import ipdma
from bayes_hte.models.priors import priors_to_json

Outcome = Literal["binary", "time_to_event"]


class _Fitted:
    """Shared plumbing: the fitted state and NetCDF save/load."""

    idata: xr.DataTree | None = None
    data: IPDData | None = None
    _model: pm.Model | None = None

    def _require_fit(self) -> None:
        if self.idata is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(data) first")

    @property
    def model(self) -> pm.Model:
        """The ``pm.Model`` (rebuilt from the stored data after :meth:`load`)."""
        if self._model is None:
            if self.data is None:
                raise RuntimeError("no data: call .fit(data) first")
            self._model = self.build(self.data)
        return self._model

    def _options(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def _attach(self, idata: xr.DataTree, priors: dict) -> xr.DataTree:
        """Store the options, resolved priors and the fit data in the result."""
        post = idata["posterior"].to_dataset()
        post.attrs = dict(idata["posterior"].attrs)
        post.attrs["bayes_hte_estimator"] = type(self).__name__
        post.attrs["bayes_hte_options"] = json.dumps(self._options())
        post.attrs["bayes_hte_priors"] = priors_to_json(priors)
        idata["posterior"] = xr.DataTree(post)
        idata["ipd_data"] = xr.DataTree(self.data.to_dataset())
        return idata

    def save(self, path: str | Path) -> Path:
        """Write the posterior, the fit data and the options to one NetCDF file."""
        self._require_fit()
        path = Path(path)
        tree = self.idata.copy()
        if "sample_stats" in tree:  # object columns (messages) cannot go to NetCDF
            ss = tree["sample_stats"].to_dataset()
            ss = ss.drop_vars([v for v in ss.data_vars if ss[v].dtype == object])
            tree["sample_stats"] = xr.DataTree(ss)
        tree.to_netcdf(path, engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path: str | Path):
        """Rebuild a fitted estimator saved by :meth:`save`."""
        tree = xr.open_datatree(path, engine="h5netcdf").load()
        attrs = tree["posterior"].attrs
        if attrs.get("bayes_hte_estimator") != cls.__name__:
            raise ValueError(f"{path} holds a {attrs.get('bayes_hte_estimator')!r}, "
                             f"not a {cls.__name__}")
        opts = json.loads(attrs["bayes_hte_options"])
        obj = cls(**opts)
        obj.idata = tree
        obj.data = IPDData.from_dataset(tree["ipd_data"].to_dataset())
        return obj


class IPDMetaModel(_Fitted):
    r"""One-stage IPD meta-analysis of individualized treatment effects.

    Parameters
    ----------
    heterogeneity : {"naive", "random_intercept", "stratified_intercept", "rank1", \
"fully_stratified"}
        Between-trial structure (equations in :mod:`bayes_hte.models.ipdma`).
    learner : {"s", "t"}
        S-learner (treatment interactions) or T-learner (one model per arm).
    outcome : {"binary", "time_to_event"}
        Binary (logit link) or censored time-to-event (proportional hazards).
    priors : dict, optional
        Prior overrides by parameter name (see ``ipdma.DEFAULT_PRIORS``).
    parameterization : {"auto", "centered", "non_centered", "anchored"}
        Form of the trial-level effects (see ``ipdma.build_ipdma_model``).
    **model_options
        Passed to the factory (time-to-event: ``baseline``, ``cuts``, ``horizon``).

    Notes
    -----
    The ITE of a patient with covariates :math:`x` is
    :math:`\hat\tau(x) = \hat\mu(x, 1) - \hat\mu(x, 0)` (Bouvier et al. 2024): for a binary
    outcome a risk difference :math:`P(y=1|x,1) - P(y=1|x,0)` (negative = fewer events
    when treated), computed for every posterior draw.
    """

    def __init__(self, heterogeneity: ipdma.Heterogeneity = "random_intercept",
                 learner: ipdma.Learner = "s", outcome: Outcome = "binary",
                 priors: dict | None = None,
                 parameterization: ipdma.Parameterization = "auto", **model_options):
        ipdma._check_options(heterogeneity, learner)
        if outcome not in ("binary", "time_to_event"):
            raise ValueError(f"outcome must be 'binary' or 'time_to_event', got {outcome!r}")
        self.heterogeneity = heterogeneity
        self.learner = learner
        self.outcome = outcome
        self.priors = dict(priors or {})
        self.parameterization = parameterization
        self.model_options = dict(model_options)
        self.idata = None
        self.data = None
        self._model = None

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (f"IPDMetaModel(heterogeneity={self.heterogeneity!r}, learner={self.learner!r}, "
                f"outcome={self.outcome!r}) [{state}]")

    @property
    def label(self) -> str:
        """Short label, e.g. ``"RI-S"``."""
        return f"{ipdma.ABBREVIATION[self.heterogeneity]}-{self.learner.upper()}"

    def _options(self) -> dict:
        return {"heterogeneity": self.heterogeneity, "learner": self.learner,
                "outcome": self.outcome, "priors": self.priors,
                "parameterization": self.parameterization, **self.model_options}

    def _check_data(self, data: IPDData) -> None:
        if not isinstance(data, IPDData):
            raise DataError(f"expected an IPDData (bh.IPDData.from_frame), got "
                            f"{type(data).__name__}")
        if data.outcome_type != self.outcome:
            raise DataError(f"the model has outcome={self.outcome!r} but the data are "
                            f"{data.outcome_type!r} (time column: {data.time!r})")

    def build(self, data: IPDData) -> pm.Model:
        """Build (but do not fit) the model for ``data``."""
        self._check_data(data)
        if self.outcome == "binary":
            if self.model_options:
                raise ValueError(f"options {sorted(self.model_options)} apply to "
                                 "time-to-event models only")
            return ipdma.build_ipdma_model(
                data, heterogeneity=self.heterogeneity, learner=self.learner,
                priors=self.priors, parameterization=self.parameterization)
        from bayes_hte.models import survival

        return survival.build_ipdma_survival_model(
            data, heterogeneity=self.heterogeneity, learner=self.learner, priors=self.priors,
            parameterization=self.parameterization, **self.model_options)

    def fit(self, data: IPDData, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
            random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = None, mass_matrix: str = "auto",
            progressbar: bool = False, log_likelihood: bool = True,
            posterior_predictive: bool = True) -> IPDMetaModel:
        """Sample the posterior; returns ``self`` with :attr:`idata` set.

        ``idata`` holds the posterior, sample stats, log likelihood, posterior
        predictive, observed and constant data, the fit data (group ``ipd_data``)
        and, in the posterior's attrs, the options and resolved priors.

        ``target_accept=None`` uses the structure's default
        (:data:`bayes_hte.models.ipdma.DEFAULT_TARGET_ACCEPT`: 0.9, and 0.95 for rank-1
        and fully stratified models); ``mass_matrix="auto"`` adapts a low-rank
        corrected mass matrix for rank-1 models with nutpie and a diagonal one
        otherwise (measurements in ``docs/ipdma.md``).
        """
        self.data = data
        self._model = self.build(data)
        if self.outcome == "time_to_event":
            # survival checks use model-implied curves (survival.plot_km_ppc), not
            # simulated censored times
            posterior_predictive = False
        sampler = sampler or default_sampler()
        if target_accept is None:
            target_accept = ipdma.DEFAULT_TARGET_ACCEPT[self.heterogeneity]
        if mass_matrix == "auto":
            mass_matrix = ("low_rank" if sampler == "nutpie" and self.heterogeneity == "rank1"
                           else "diag")
        idata = fit(self._model, draws=draws, tune=tune, chains=chains,
                    random_seed=random_seed, sampler=sampler, target_accept=target_accept,
                    mass_matrix=mass_matrix, progressbar=progressbar,
                    log_likelihood=log_likelihood, posterior_predictive=posterior_predictive)
        if self.heterogeneity == "stratified_intercept":
            idata = ipdma.synthesize_intercepts(idata)
        self._seed = random_seed
        self.idata = self._attach(idata, self._model.bayes_hte["priors"])
        return self

    # ----------------------------------------------------------------- estimands
    def linear_predictors(self, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
                          random_seed: int | None = None) -> tuple[xr.DataArray, xr.DataArray]:
        """Linear predictors (log-odds or log-hazard) under control and treatment."""
        self._require_fit()
        X = self.data.design(newdata)
        seed = random_seed if random_seed is not None else getattr(self, "_seed", None)
        lp0, lp1 = ipdma.linear_predictors(
            self.idata["posterior"].to_dataset(), X, heterogeneity=self.heterogeneity,
            learner=self.learner, new_trial=new_trial, rng=np.random.default_rng(seed))
        coords = {"patient": self._patient_index(newdata)}
        return lp0.assign_coords(coords), lp1.assign_coords(coords)

    def _patient_index(self, newdata: pd.DataFrame | None) -> np.ndarray:
        frame = self.data.frame if newdata is None else newdata
        return np.arange(len(frame))

    def ite(self, newdata: pd.DataFrame | None = None, new_trial: bool = False, *,
            random_seed: int | None = None, **kwargs) -> xr.DataArray:
        """Individualized treatment effects, dims (chain, draw, patient).

        Binary outcome: :math:`P(y|x,1) - P(y|x,0)` for a patient in an average trial,
        or with ``new_trial=True`` in a new trial drawn from the between-trial
        distribution (a prediction interval). Time-to-event: the difference in
        survival probability at ``horizon`` (keyword), :math:`S(h|x,1) - S(h|x,0)`.
        """
        if self.outcome == "time_to_event":
            from bayes_hte.models import survival

            self._require_fit()
            return survival.survival_ite(self, newdata=newdata, new_trial=new_trial,
                                         random_seed=random_seed, **kwargs)
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)} for a binary outcome")
        lp0, lp1 = self.linear_predictors(newdata, new_trial=new_trial, random_seed=random_seed)
        out = effects.risk_difference(lp0, lp1)
        out.name = "ite"
        out.attrs.update(scale="risk difference", new_trial=int(new_trial), model=self.label)
        return out

    def cate(self, by: str, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
             **kwargs) -> xr.DataArray:
        """Conditional average treatment effect by the levels of column ``by``.

        The ITE averaged over the patients (of ``newdata`` or the fit data) in each
        level of ``by`` — any column of the frame, not only a covariate. Dims
        (chain, draw, ``by``).
        """
        self._require_fit()
        frame = self.data.frame if newdata is None else newdata
        if by not in frame.columns:
            raise DataError(f"cate(by={by!r}): no such column; available: "
                            f"{list(map(str, frame.columns))}")
        if frame[by].isna().any():
            raise DataError(f"cate(by={by!r}): the column has missing values")
        ite = self.ite(newdata, new_trial=new_trial, **kwargs)
        out = effects.group_mean(ite, frame[by], name=by)
        out.name = "cate"
        return out

    def summary(self, *, ci_prob: float = 0.95, newdata: pd.DataFrame | None = None,
                new_trial: bool = False, **kwargs) -> pd.DataFrame:
        """Per-patient ITE table: mean, sd, ci_low, ci_high at ``ci_prob``."""
        return effects.summarize(self.ite(newdata, new_trial=new_trial, **kwargs),
                                 ci_prob=ci_prob)

    def parameters(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """ArviZ summary of the population-level parameters (R-hat, ESS, MCSE)."""
        import arviz as az

        self._require_fit()
        names = [v for v in ("alpha", "theta", "gamma", "eta", "tau_alpha", "tau_phi",
                             "sd_study", "log_lambda", "shape", "log_shape")
                 if v in self.idata["posterior"]]
        return az.summary(self.idata, var_names=names, ci_prob=ci_prob)


# =========================================================================== subgroup model
# (appended for the hierarchical population -> subgroup -> individual model)
from collections.abc import Sequence  # noqa: E402

from bayes_hte.errors import format_rows  # noqa: E402
from bayes_hte.models import subgroup as _subgroup  # noqa: E402


class SubgroupHTEModel(_Fitted):
    r"""Hierarchical population → subgroup → individual treatment-effect model.

    The model of Tzimas (2024) for a binary outcome (equations in
    :mod:`bayes_hte.models.subgroup`): population intercept, treatment effect,
    covariate effects and treatment × covariate interactions; per named subgrouping,
    subgroup intercepts and treatment effects :math:`\tau_k \sim N(\mu_\tau,
    \sigma_\tau^2)`; individual effects :math:`\eta_i \sim N(\tau_{k[i]}, \sigma_\eta^2)`;
    with several trials, trial as one more grouping level.

    Parameters
    ----------
    subgroups : sequence of str
        Columns of the data frame that define subgroupings (any column other than the
        outcome, treatment, study and the covariates).
    individual_effects : bool
        Include the individual layer.
    priors : dict, optional
        Prior overrides by parameter name (see ``subgroup.DEFAULT_PRIORS``).
    interactions : sequence of str, optional
        Covariates with a treatment interaction (default: all covariates).
    standardize : bool
        Centre covariates and scale non-binary ones to unit SD.
    parameterization : {"non_centered", "centered"}
        Form of the subgroup and trial levels.
    individual_form : {"marginalized", "non_centered"}
        Integrate the individual deviations out (default) or sample them.

    Notes
    -----
    Scales and signs: the CATE on the log-odds scale (:meth:`cate_logit`) is the
    log-odds ratio of an event under treatment vs control for a patient's covariates
    and subgroups; on the risk-difference scale (:meth:`ite`, :meth:`cate`) it is
    :math:`P(y=1|x,1) - P(y=1|x,0)`. With an unfavourable event (a bleed), positive
    values mean harm.

    Examples
    --------
    >>> from bayes_hte.simulate.tzimas2024 import tzimas2024
    >>> sim = tzimas2024(n=2000, seed=1)
    >>> data = IPDData.from_frame(sim.data, outcome="event", treatment="treatment",
    ...                           covariates=sim.covariates)
    >>> sg = SubgroupHTEModel(subgroups=["gender"], interactions=sim.interactions)
    >>> sg.fit(data, random_seed=1)                                   # doctest: +SKIP
    >>> sg.cate_logit()          # (chain, draw, patient)             # doctest: +SKIP
    >>> sg.risk_table()          # Table 8: CATE by quintile of risk  # doctest: +SKIP
    """

    def __init__(self, subgroups: Sequence[str] = (), individual_effects: bool = True,
                 priors: dict | None = None, *, interactions: Sequence[str] | None = None,
                 standardize: bool = True,
                 parameterization: _subgroup.Parameterization = "non_centered",
                 individual_form: _subgroup.IndividualForm = "marginalized"):
        if isinstance(subgroups, str):
            subgroups = [subgroups]
        if not isinstance(individual_effects, bool | np.bool_):
            raise ValueError(f"individual_effects must be True or False, got "
                             f"{individual_effects!r}")
        if parameterization not in ("centered", "non_centered"):
            raise ValueError(f"parameterization must be 'centered' or 'non_centered', got "
                             f"{parameterization!r}")
        if individual_form not in ("marginalized", "non_centered"):
            raise ValueError(f"individual_form must be 'marginalized' or 'non_centered', got "
                             f"{individual_form!r}")
        self.subgroups = list(subgroups)
        self.individual_effects = bool(individual_effects)
        self.priors = dict(priors or {})
        self.interactions = None if interactions is None else (
            [interactions] if isinstance(interactions, str) else list(interactions))
        self.standardize = bool(standardize)
        self.parameterization = parameterization
        self.individual_form = individual_form
        self.idata = None
        self.data = None
        self._model = None
        self._layout = None

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (f"SubgroupHTEModel(subgroups={self.subgroups!r}, "
                f"individual_effects={self.individual_effects!r}) [{state}]")

    def _options(self) -> dict:
        return {"subgroups": self.subgroups, "individual_effects": self.individual_effects,
                "priors": self.priors, "interactions": self.interactions,
                "standardize": self.standardize, "parameterization": self.parameterization,
                "individual_form": self.individual_form}

    def build(self, data: IPDData) -> pm.Model:
        """Build (but do not fit) the model for ``data``."""
        if not isinstance(data, IPDData):
            raise DataError(f"expected an IPDData (bh.IPDData.from_frame), got "
                            f"{type(data).__name__}")
        return _subgroup.build_subgroup_model(
            data, subgroups=self.subgroups, individual_effects=self.individual_effects,
            priors=self.priors, interactions=self.interactions, standardize=self.standardize,
            parameterization=self.parameterization, individual_form=self.individual_form)

    def fit(self, data: IPDData, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
            random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = 0.9, progressbar: bool = False,
            log_likelihood: bool = True,
            posterior_predictive: bool = True) -> SubgroupHTEModel:
        """Sample the posterior; returns ``self`` with :attr:`idata` set (as
        :meth:`IPDMetaModel.fit`).

        ``target_accept`` defaults to 0.9 (NUTS' default is 0.8): the SDs of a
        subgrouping with two levels are identified by their prior only, and at 0.8 the
        paper's design gave 0-7 divergences per 4000 draws (none at 0.9, for about 1.5x
        the gradient evaluations).
        """
        self._model = self.build(data)
        self.data = data
        self._layout = self._model.bayes_hte["layout"]
        idata = fit(self._model, draws=draws, tune=tune, chains=chains,
                    random_seed=random_seed, sampler=sampler, target_accept=target_accept,
                    progressbar=progressbar, log_likelihood=log_likelihood,
                    posterior_predictive=posterior_predictive)
        self._seed = random_seed
        self.idata = self._attach(idata, self._model.bayes_hte["priors"])
        return self

    # ----------------------------------------------------------------- inputs
    @property
    def layout(self) -> _subgroup.Layout:
        """Encoding of the fit data (standardisation, interactions, subgroup levels)."""
        if getattr(self, "_layout", None) is None:
            if self.data is None:
                raise RuntimeError("no data: call .fit(data) first")
            self._layout = _subgroup.layout(self.data, subgroups=self.subgroups,
                                            interactions=self.interactions,
                                            standardize=self.standardize)
        return self._layout

    def _inputs(self, newdata: pd.DataFrame | None):
        self._require_fit()
        lay = self.layout
        frame = self.data.frame if newdata is None else newdata
        X = lay.design(self.data, newdata)
        idx = lay.subgroup_index(frame) if lay.subgroups else None
        return lay, X, idx

    def _rng(self, random_seed: int | None) -> np.random.Generator:
        seed = random_seed if random_seed is not None else getattr(self, "_seed", None)
        return np.random.default_rng(seed)

    def _posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    # ----------------------------------------------------------------- estimands
    def linear_predictors(self, newdata: pd.DataFrame | None = None, *,
                          new_trial: bool = False,
                          random_seed: int | None = None) -> tuple[xr.DataArray, xr.DataArray]:
        r"""Baseline log-odds :math:`\ell_{0i}` and conditional log-odds effect
        :math:`\tau_i`, dims (chain, draw, patient)."""
        lay, X, idx = self._inputs(newdata)
        return _subgroup.linear_predictors(self._posterior(), lay, X, idx,
                                           new_trial=new_trial, rng=self._rng(random_seed))

    def baseline_risk(self, newdata: pd.DataFrame | None = None, *,
                      new_trial: bool = False,
                      random_seed: int | None = None) -> xr.DataArray:
        """Predicted risk without treatment, :math:`P(y=1|x, 0)`, (chain, draw, patient)."""
        lp0, _ = self.linear_predictors(newdata, new_trial=new_trial, random_seed=random_seed)
        out = 1.0 / (1.0 + np.exp(-lp0))
        out.name = "baseline_risk"
        return out

    def _cate(self, newdata, *, kind, scale, new_trial, random_seed) -> xr.DataArray:
        lay, X, idx = self._inputs(newdata)
        out = _subgroup.cate_draws(self._posterior(), lay, X, idx, kind=kind, scale=scale,
                                   new_trial=new_trial, rng=self._rng(random_seed))
        return out.assign_coords(patient=np.arange(X.shape[0]))

    def cate_logit(self, newdata: pd.DataFrame | None = None, *,
                   kind: _subgroup.CateKind = "marginal", new_trial: bool = False,
                   random_seed: int | None = None) -> xr.DataArray:
        r"""Per-patient CATE on the log-odds scale, dims (chain, draw, patient).

        ``kind="marginal"``: :math:`\mathrm{logit}\,\bar p_{1i} - \ell_{0i}`, with the
        treated risk averaged over the individual deviations (identified by the data;
        what a simulation's ``true_te`` is compared with). ``kind="conditional"``:
        :math:`\tau_i`, the mean of the individual log-odds effects (depends on the
        prior of :math:`\sigma_\eta`). Equal without the individual layer.
        """
        out = self._cate(newdata, kind=kind, scale="logit", new_trial=new_trial,
                         random_seed=random_seed)
        out.name = "cate_logit"
        out.attrs.update(scale="log-odds", kind=kind, new_trial=int(new_trial))
        return out

    def eta(self, *, random_seed: int | None = None) -> xr.DataArray:
        r"""Individual log-odds effects :math:`\eta_i = \tau_i + \sigma_\eta\epsilon_i` of the
        fit patients, dims (chain, draw, patient).

        :math:`\epsilon_i` are the sampled ``eta_raw`` (``individual_form=
        "non_centered"``) or drawn from their exact conditional posterior
        (:func:`bayes_hte.models.subgroup.individual_deviations`). A control patient's
        :math:`\epsilon_i` is its prior; a treated patient's leans towards the outcome
        it had — descriptive of that outcome, not a prediction.
        """
        if not self.individual_effects:
            raise ValueError("the model has no individual layer (individual_effects=False)")
        lp0, tau = self.linear_predictors()
        post = self._posterior()
        if "eta_raw" in post:
            eps = post["eta_raw"].transpose("chain", "draw", "patient").values
        else:
            eps = _subgroup.individual_deviations(post, lp0, tau, self.data.y, self.data.z,
                                                  rng=self._rng(random_seed)).values
        out = tau + post["sigma_eta"] * tau.copy(data=eps)
        out.name = "eta"
        return out.transpose("chain", "draw", "patient")

    def ite(self, newdata: pd.DataFrame | None = None, new_trial: bool = False, *,
            individual: bool = False, kind: _subgroup.CateKind = "marginal",
            random_seed: int | None = None) -> xr.DataArray:
        r"""Treatment effects on the risk-difference scale, dims (chain, draw, patient).

        By default each patient's CATE, :math:`\bar p_{1i} - p_{0i}` (``kind`` as in
        :meth:`cate_logit`). ``individual=True`` uses each fit patient's own
        :math:`\eta_i` (:meth:`eta`): :math:`\mathrm{expit}(\ell_{0i} + \eta_i) -
        \mathrm{expit}(\ell_{0i})`.
        """
        if individual:
            if newdata is not None or new_trial:
                raise ValueError("individual=True is for the fit patients only (their "
                                 "eta_i); drop newdata / new_trial")
            lp0, _ = self.linear_predictors()
            eta = self.eta(random_seed=random_seed)
            out = 1.0 / (1.0 + np.exp(-(lp0 + eta))) - 1.0 / (1.0 + np.exp(-lp0))
        else:
            out = self._cate(newdata, kind=kind, scale="risk_difference", new_trial=new_trial,
                             random_seed=random_seed)
        out.name = "ite"
        out.attrs.update(scale="risk difference", new_trial=int(new_trial),
                         individual=int(individual))
        return out

    def cate(self, by: str, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
             scale: Literal["risk_difference", "logit"] = "risk_difference",
             kind: _subgroup.CateKind = "marginal",
             random_seed: int | None = None) -> xr.DataArray:
        """CATE averaged over the patients in each level of column ``by``, dims
        (chain, draw, ``by``); ``scale="logit"`` averages the log-odds CATEs."""
        self._require_fit()
        frame = self.data.frame if newdata is None else newdata
        if by not in frame.columns:
            raise DataError(f"cate(by={by!r}): no such column; available: "
                            f"{list(map(str, frame.columns))}")
        if frame[by].isna().any():
            raise DataError(f"cate(by={by!r}): the column has missing values at "
                            f"{format_rows(frame.index[frame[by].isna()])}")
        if scale not in ("risk_difference", "logit"):
            raise ValueError(f"scale must be 'risk_difference' or 'logit', got {scale!r}")
        values = self._cate(newdata, kind=kind, scale=scale, new_trial=new_trial,
                            random_seed=random_seed)
        out = effects.group_mean(values, frame[by], name=by)
        out.name = "cate"
        out.attrs.update(scale=scale)
        return out

    def subgroup_effects(self, subgrouping: str | None = None) -> xr.DataArray:
        r"""Subgroup treatment effects :math:`\tau_{g,k}` (log-odds), the paper's
        ``te_gender[k] = b_trt + re_trt[k]``.

        The effect in each level at the average of the covariates (standardised
        model) and of the other subgroupings. With ``subgrouping`` the result has that
        column's name as dim and its levels as coordinates; without, dim ``subgroup``
        with labels ``"col[level]"``.
        """
        self._require_fit()
        lay = self.layout
        if not lay.subgroups:
            raise ValueError("the model has no subgroupings (subgroups=[])")
        tau = self.idata["posterior"]["tau_subgroup"]
        if subgrouping is None:
            return tau.rename("tau_subgroup")
        if subgrouping not in lay.subgroups:
            raise DataError(f"{subgrouping!r} is not one of the model's subgroupings "
                            f"{list(lay.subgroups)}")
        g = lay.subgroups.index(subgrouping)
        levels = list(lay.subgroup_levels[g])
        labels = [f"{subgrouping}[{lv}]" for lv in levels]
        out = tau.sel(subgroup=labels).rename(subgroup=subgrouping)
        return out.assign_coords({subgrouping: [str(v) for v in levels]}).rename(
            f"te_{subgrouping}")

    def risk_table(self, *, groups: int = 5,
                   scale: Literal["logit", "risk_difference"] = "logit",
                   kind: _subgroup.CateKind = "marginal", ci_prob: float = 0.95,
                   newdata: pd.DataFrame | None = None, truth=None) -> pd.DataFrame:
        """CATE by quantile group of predicted baseline risk (Tzimas 2024, Table 8).

        Columns in :func:`bayes_hte.models.subgroup.risk_table`; ``truth`` (one value per
        patient on the same ``scale``) adds ``true_mean_cate``.
        """
        if scale not in ("risk_difference", "logit"):
            raise ValueError(f"scale must be 'risk_difference' or 'logit', got {scale!r}")
        risk = self.baseline_risk(newdata)
        values = self._cate(newdata, kind=kind, scale=scale, new_trial=False,
                            random_seed=None)
        out = _subgroup.risk_table(risk, values, groups=groups, ci_prob=ci_prob, truth=truth)
        out.attrs["scale"] = scale
        return out

    def summary(self, *, ci_prob: float = 0.95, newdata: pd.DataFrame | None = None,
                new_trial: bool = False,
                scale: Literal["risk_difference", "logit"] = "risk_difference") -> pd.DataFrame:
        """Per-patient CATE table: mean, sd, ci_low, ci_high at ``ci_prob``."""
        if scale == "logit":
            values = self.cate_logit(newdata, new_trial=new_trial)
        elif scale == "risk_difference":
            values = self.ite(newdata, new_trial=new_trial)
        else:
            raise ValueError(f"scale must be 'risk_difference' or 'logit', got {scale!r}")
        return effects.summarize(values, ci_prob=ci_prob)

    def diagnostic_vars(self, *, max_size: int = 60) -> list[str]:
        """Names of the population, subgroup and trial parameters to diagnose: the
        posterior's non-per-patient variables without the sampler's ``*_anchor``
        coordinates (``alpha`` and ``mu_tau`` are diagnosed instead)."""
        from bayes_hte import report

        self._require_fit()
        return [v for v in report.population_vars(self.idata, max_size=max_size)
                if not v.endswith("_anchor")]

    def parameters(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """Convergence table of the population, subgroup and trial parameters
        (:func:`bayes_hte.report.diagnostics_table`: both R-hats, ESS, MCSE)."""
        from bayes_hte import report

        return report.diagnostics_table(self.idata, var_names=self.diagnostic_vars(),
                                        ci_prob=ci_prob)
