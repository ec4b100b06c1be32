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
from bayes_hte.inference import Sampler, fit
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
    parameterization : {"auto", "centered", "non_centered"}
        Form of the trial-level effects.
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
            target_accept: float | None = None, progressbar: bool = False,
            log_likelihood: bool = True, posterior_predictive: bool = True) -> IPDMetaModel:
        """Sample the posterior; returns ``self`` with :attr:`idata` set.

        ``idata`` holds the posterior, sample stats, log likelihood, posterior
        predictive, observed and constant data, the fit data (group ``ipd_data``)
        and, in the posterior's attrs, the options and resolved priors.
        """
        self.data = data
        self._model = self.build(data)
        if self.outcome == "time_to_event":
            # survival checks use model-implied curves (survival.plot_km_ppc), not
            # simulated censored times
            posterior_predictive = False
        idata = fit(self._model, draws=draws, tune=tune, chains=chains,
                    random_seed=random_seed, sampler=sampler, target_accept=target_accept,
                    progressbar=progressbar, log_likelihood=log_likelihood,
                    posterior_predictive=posterior_predictive)
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
