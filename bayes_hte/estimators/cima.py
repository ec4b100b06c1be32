r"""Bayesian CIMA from aggregate data: :class:`CIMAModel`.

A thin class over :func:`bayes_hte.comparators.cima.moments.cima_moments` (the trials'
tilted representation and the moment system of the frequentist
:func:`bayes_hte.comparators.cima`), the factory
:func:`bayes_hte.models.cima.build_cima_model` (the equations) and the effects of
:mod:`bayes_hte.effects.cima`.

>>> m = CIMAModel(cate="~ lvef + prehhf + diabetes")                        # doctest: +SKIP
>>> m.fit(d.effects, d.covariates, d.target, draws=1000, random_seed=1)     # doctest: +SKIP
>>> m.summary()          # ATE (target) and the CATE coefficients            # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import ClassVar, Self, get_args

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte import effects, inference
from bayes_hte.comparators.cima.formula import parse_formula
from bayes_hte.comparators.cima.moments import CIMAMoments, cima_moments
from bayes_hte.data.summaries import CovariateSummary, Stratum, parse_stratum
from bayes_hte.diagnostics import diagnostics_table
from bayes_hte.effects import synthesis as synthesis_effects
from bayes_hte.effects.cima import linear_effects
from bayes_hte.effects.synthesis import PosteriorSummary
from bayes_hte.errors import DataError
from bayes_hte.estimators.base import Estimator
from bayes_hte.models.cima import build_cima_model, reduced_stack
from bayes_hte.options import (
    CIMACorrelation,
    CIMACovariance,
    CopulaMethod,
    Representer,
    Sampler,
    check_choice,
    check_flag,
)

__all__ = ["CIMAModel"]

#: NUTS target acceptance with between-trial heterogeneity (nutpie, SGLT2 data, 2 x 1000
#: draws: 0.8 left about 10 divergences, 0.95 none).
HETEROGENEITY_TARGET_ACCEPT = 0.95
_EFFECT_COLS = ("trial", "subgroup", "stratum")
_EFFECT_NUMS = ("estimate", "se", "n", "prop", "tilted_prop")


class CIMAModel(Estimator):
    r"""Bayesian causally interpretable meta-analysis from aggregate data (CIMA-AgD).

    The Bayesian counterpart of :func:`bayes_hte.comparators.cima` (Shi et al.): the same
    linear CATE :math:`\tau(x;\theta) = b(x)'\theta`, the same representation of each
    trial's population by exponential tilting of a base sample to its reported covariate
    moments, and the reported overall and subgroup effects as data,

    .. math::

        K_k'\hat\tau_k \sim N(K_k'D_k\theta,\; K_k'V_kK_k), \qquad
        \theta_r \sim N(0, 0.5^2), \qquad
        \psi = \frac1{N_T}\sum_l b(x_l)'\theta,

    with :math:`D` the moment matrix of CIMA, :math:`V_k` a working covariance of trial
    :math:`k`'s reported effects and :math:`K_k` the directions they inform
    (:mod:`bayes_hte.comparators.cima.moments`; equations and priors in
    :mod:`bayes_hte.models.cima`). The posterior of the target-population ATE
    :math:`\psi` is the variable ``ate``.

    Parameters
    ----------
    cate : str
        CATE working model, e.g. ``"~ lvef + prehhf + diabetes"`` (intercept implied;
        the formula language of :func:`bayes_hte.comparators.cima`).
    tilting : str, optional
        Tilting features (default: the mean of every covariate and the square of each
        continuous one, i.e. means and SDs matched).
    representer : {"reported", "tilted"}
        Divide stratum representers by the reported (CIMAgD) or the tilted share.
    correlation : {"reference", "paper"}
        Working correlations of :math:`V^{rep}`, used with ``covariance="reported"``.
    covariance : {"tilted", "reported", "independent"}
        Working covariance of each trial's reported effects: the correlations of its
        tilted population with the reported SEs (default), CIMA's :math:`V^{rep}`, or
        independent effects (:mod:`bayes_hte.comparators.cima.moments`).
    heterogeneity : bool
        Add a between-trial shift of each trial's CATE, :math:`u_k \sim N(0, \tau^2)`
        (default off, as CIMA); the summary then also has ``tau`` and the ATE of a new
        trial.
    priors : mapping, optional
        Overrides by name: ``"theta"`` (default Normal(0, 0.5) per coefficient, on the
        scale of the reported effects) and ``"tau"`` (HalfNormal(0.025)).

    Raises
    ------
    ValueError
        An option outside its allowed values.
    DataError
        A ``cate`` or ``tilting`` formula that cannot be parsed.

    Examples
    --------
    >>> import bayes_hte as bh
    >>> d = bh.datasets.sglt2_hf()
    >>> m = bh.CIMAModel(cate="~ lvef + prehhf + diabetes")
    >>> m.fit(d.effects, d.covariates, d.target, random_seed=1)       # doctest: +SKIP
    >>> m.summary()            # ATE (target), coefficients            # doctest: +SKIP
    >>> m.subgroup_summary({"lvef": ["<=40", ">40"], "prehhf": [0, 1]})  # doctest: +SKIP
    """

    data_group: ClassVar[str] = "cima_moments"
    #: Posterior variables reported by :meth:`parameters` (those present).
    population: ClassVar[tuple[str, ...]] = ("ate", "theta", "tau", "ate_new")
    data: CIMAMoments | None = None
    _option_names = ("cate", "tilting", "representer", "correlation", "covariance",
                     "heterogeneity", "priors")

    def __init__(self, *, cate: str, tilting: str | None = None,
                 representer: Representer = "reported",
                 correlation: CIMACorrelation = "reference",
                 covariance: CIMACovariance = "tilted", heterogeneity: bool = False,
                 priors: Mapping | None = None):
        check_choice("representer", representer, get_args(Representer))
        check_choice("correlation", correlation, get_args(CIMACorrelation))
        check_choice("covariance", covariance, get_args(CIMACovariance))
        if not isinstance(heterogeneity, bool):
            raise ValueError(f"heterogeneity must be True or False, got {heterogeneity!r}")
        if not isinstance(cate, str):
            raise ValueError(f"cate must be a formula string such as '~ x1 + x2', got "
                             f"{type(cate).__name__}")
        parse_formula(cate, what="cate")
        if tilting is not None:
            parse_formula(tilting, what="tilting")
        self.cate = cate
        self.tilting = tilting
        self.representer = representer
        self.correlation = correlation
        self.covariance = covariance
        self.heterogeneity = heterogeneity
        self.priors = json.loads(json.dumps(dict(priors or {})))

    # ------------------------------------------------------------------ model
    def build(self, data: CIMAMoments) -> pm.Model:
        """Build (but do not fit) the model of a moment system.

        Parameters
        ----------
        data : CIMAMoments
            From :func:`bayes_hte.comparators.cima.moments.cima_moments` (what
            :meth:`fit` builds from the reported data).

        Returns
        -------
        pymc.Model
            :func:`bayes_hte.models.cima.build_cima_model` of the trials' reduced
            effects, with the target sample's mean design row.

        Raises
        ------
        DataError
            ``data`` is not a :class:`~bayes_hte.comparators.cima.moments.CIMAMoments`,
            or the factory rejects it (naming the trial).
        """
        if not isinstance(data, CIMAMoments):
            raise DataError(f"CIMAModel.build needs a CIMAMoments (bayes_hte.comparators."
                            f"cima.moments.cima_moments), got {type(data).__name__}")
        y, X, V, labels = reduced_stack(data.blocks(), data.trials)
        return build_cima_model(y, X, V, trial=labels, terms=data.terms,
                                target=data.target_design().mean(axis=0),
                                heterogeneity=self.heterogeneity, priors=self.priors)

    def fit(self, effects: pd.DataFrame, covariates: pd.DataFrame | CovariateSummary,
            target: pd.DataFrame | CovariateSummary, *, base: pd.DataFrame | None = None,
            target_corr: pd.DataFrame | np.ndarray | None = None, target_n: int = 50_000,
            target_method: CopulaMethod = "sobol", seed: int | None = None,
            draws: int = 1000, tune: int = 1000, chains: int = 4,
            random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = None, progressbar: bool = False,
            log_likelihood: bool = True, posterior_predictive: bool = True) -> Self:
        """Build the trials' moment system from the reports and sample the posterior.

        Parameters
        ----------
        effects : pandas.DataFrame
            Reported effects on an additive scale (e.g. risk differences): ``trial,
            subgroup, stratum, estimate, se, n`` (+ ``prop``), as for
            :func:`bayes_hte.comparators.cima`.
        covariates : DataFrame or CovariateSummary
            Per-trial covariate summaries ``trial, covariate, mean, sd``.
        target : DataFrame or CovariateSummary
            The target population: covariate rows, or a summary from which ``target_n``
            rows are drawn by a Gaussian copula.
        base : DataFrame, optional
            Base sample tilted to each trial (default: the target sample).
        target_corr : DataFrame or array, optional
            Latent correlations when ``target`` is a summary frame.
        target_n : int
            Size of the copula sample drawn from a target summary.
        target_method : {"sobol", "scrambled_sobol", "random"}
            Point set of that sample.
        seed : int, optional
            Seed of a scrambled or random copula sample.
        draws, tune, chains : int
            Kept draws and tuning steps per chain, number of chains.
        random_seed : int, optional
            Seed of the sampler.
        sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
            NUTS implementation; default nutpie when installed.
        target_accept : float, optional
            NUTS target acceptance; default the sampler's (0.8), or
            ``HETEROGENEITY_TARGET_ACCEPT`` (0.95) with heterogeneity.
        progressbar : bool
            Show the sampler's progress.
        log_likelihood : bool
            Store the log likelihood, one value per trial (the density of its reduced
            effects).
        posterior_predictive : bool
            Store posterior predictive draws of the reduced effects (the padding
            components of a shorter trial's vector are noise: ignore them).

        Returns
        -------
        CIMAModel
            ``self`` with :attr:`idata` (posterior ``theta``, ``ate`` and, with
            heterogeneity, ``tau``, ``trial_effect``, ``ate_new``) and :attr:`data`
            (the :class:`~bayes_hte.comparators.cima.moments.CIMAMoments`).

        Raises
        ------
        DataError
            Invalid effects, summaries or samples (the messages name the row, trial or
            covariate, as :func:`bayes_hte.comparators.cima`), a CATE the reported
            strata do not identify, tilting that does not converge (names the trial).
        """
        data = cima_moments(effects, covariates, target, cate=self.cate,
                            tilting=self.tilting, base=base, representer=self.representer,
                            correlation=self.correlation, covariance=self.covariance,
                            target_corr=target_corr, target_n=target_n,
                            target_method=target_method, seed=seed)
        model = self.build(data)
        self.data, self._model = data, model
        if target_accept is None and self.heterogeneity:
            target_accept = HETEROGENEITY_TARGET_ACCEPT
        idata = inference.fit(model, draws=draws, tune=tune, chains=chains,
                              random_seed=random_seed, sampler=sampler,
                              target_accept=target_accept, progressbar=progressbar,
                              log_likelihood=log_likelihood,
                              posterior_predictive=posterior_predictive)
        self.idata = self._attach(idata, model.bayes_hte["priors"], random_seed=random_seed)
        self._check_convergence()
        return self

    # ------------------------------------------------------------------ estimands
    def _theta(self) -> xr.DataArray:
        return self._posterior()["theta"]

    def ate(self, *, new_trial: bool = False) -> xr.DataArray:
        r"""Posterior draws of the target-population ATE :math:`\psi = \bar b_T'\theta`.

        Parameters
        ----------
        new_trial : bool
            With heterogeneity: the ATE of a new trial's CATE,
            :math:`\psi + u_{new}` (``ate_new``).

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw), on the scale of the reported effects.

        Raises
        ------
        RuntimeError
            Not fitted.
        ValueError
            ``new_trial=True`` without heterogeneity.
        """
        new_trial = check_flag("new_trial", new_trial)
        post = self._posterior()
        if new_trial:
            if "ate_new" not in post:
                raise ValueError("new_trial=True needs a model with heterogeneity=True")
            return post["ate_new"]
        return post["ate"]

    def cate_at(self, newdata: pd.DataFrame | None = None) -> xr.DataArray:
        r"""Posterior draws of the CATE :math:`b(x)'\theta` of covariate rows.

        (Named ``cate_at`` because ``cate`` is the option holding the CATE formula.)

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Covariate rows (a column per CATE variable); default the target sample.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, patient); ``patient`` holds the rows' index.

        Raises
        ------
        RuntimeError
            Not fitted.
        DataError
            A CATE variable missing from ``newdata`` or a term not finite on a row.
        """
        theta = self._theta()
        frame = self.data.target if newdata is None else newdata
        B = self.data.target_design(None if newdata is None else newdata)
        return linear_effects(theta, B, dim="patient", labels=list(frame.index))

    def _strata(self, by: Mapping[str, Sequence]) -> dict[str, list[Stratum]]:
        if not isinstance(by, Mapping) or not by:
            raise DataError("by must be a non-empty mapping covariate -> strata, e.g. "
                            "{'lvef': ['<=40', '>40'], 'prehhf': [0, 1]}")
        target = self.data.target
        parsed: dict[str, list[Stratum]] = {}
        for cov, levels in by.items():
            if cov not in target.columns:
                raise DataError(f"subgroup covariate {cov!r} is not a column of the target "
                                f"sample ({list(target.columns)})")
            kind = self.data.kinds.get(cov, "continuous")
            if isinstance(levels, str | int | float):
                levels = [levels]
            parsed[cov] = [parse_stratum(v, kind=kind, where=f"subgroup {cov!r}")  # type: ignore[arg-type]
                           for v in levels]
        return parsed

    def subgroup_effects(self, by: Mapping[str, Sequence]) -> xr.DataArray:
        r"""Posterior draws of the target population's (joint) subgroup effects.

        The effect of subgroup :math:`g` is :math:`\bar b_g'\theta`, the CATE averaged
        over the target rows in :math:`g` (as
        :meth:`bayes_hte.comparators.cima.CIMAResult.subgroup_effects`).

        Parameters
        ----------
        by : mapping
            ``covariate -> strata`` (levels 0/1 of binary covariates, intervals
            ``"<=a"``, ``">a"``, ``"a-b"`` ... of numeric ones); every combination is one
            joint subgroup, e.g. ``{"lvef": ["<=40", ">40"], "prehhf": [0, 1]}``.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, subgroup); ``subgroup`` is a MultiIndex of the covariates'
            stratum labels, with the coordinate ``n_target`` (target rows in the
            subgroup). An empty subgroup has NaN draws.

        Raises
        ------
        RuntimeError
            Not fitted.
        DataError
            ``by`` empty or not a mapping, a covariate that is not a target column, a
            stratum that is not valid for the covariate.
        """
        theta = self._theta()
        parsed = self._strata(by)
        target = self.data.target
        B = self.data.target_design()
        rows, labels, counts = [], [], []
        for combo in itertools.product(*parsed.values()):
            mask = np.ones(len(target), dtype=bool)
            for cov, st in zip(parsed, combo, strict=True):
                mask &= st.mask(target[cov].to_numpy(dtype=float))
            rows.append(B[mask].mean(axis=0) if mask.any() else np.full(B.shape[1], np.nan))
            labels.append(tuple(st.label for st in combo))
            counts.append(int(mask.sum()))
        index = pd.MultiIndex.from_tuples(labels, names=list(parsed))
        out = linear_effects(theta, np.vstack(rows), dim="subgroup", labels=index)
        out = out.assign_coords(n_target=("subgroup", counts))
        out.name = "subgroup_effect"
        return out

    def subgroup_summary(self, by: Mapping[str, Sequence], *,
                         ci_prob: float = 0.95) -> pd.DataFrame:
        """Posterior mean, SD and credible interval of the (joint) subgroup effects.

        Parameters
        ----------
        by : mapping
            As in :meth:`subgroup_effects`.
        ci_prob : float
            Probability of the equal-tailed credible intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            One row per joint subgroup: one column per covariate (the stratum label),
            ``n_target, mean, sd, ci_low, ci_high``.

        Raises
        ------
        RuntimeError
            Not fitted.
        DataError
            Invalid ``by`` (see :meth:`subgroup_effects`).
        """
        draws = self.subgroup_effects(by)
        n = draws["n_target"].values
        levels = draws.indexes["subgroup"].to_frame(index=False)
        flat = draws.drop_vars(["subgroup", "n_target", *levels.columns])
        table = effects.summarize(flat, ci_prob=ci_prob).reset_index(drop=True)
        levels["n_target"] = n
        return pd.concat([levels, table], axis=1)

    def moments(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        r"""Reported effects next to their posterior model means :math:`D\theta`.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible intervals of the fitted means, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            The reported effects (``trial, subgroup, stratum, estimate, se, n, prop,
            tilted_prop``) with ``fitted`` (posterior mean of the model mean, at
            :math:`u_k = 0`), ``fitted_sd``, ``fitted_low``, ``fitted_high``.

        Raises
        ------
        RuntimeError
            Not fitted.
        """
        fitted = linear_effects(self._theta(), self.data.design, dim="effect")
        table = effects.summarize(fitted, ci_prob=ci_prob).reset_index(drop=True)
        out = self.data.effects.copy().reset_index(drop=True)
        out["fitted"] = table["mean"].to_numpy()
        out["fitted_sd"] = table["sd"].to_numpy()
        out["fitted_low"] = table["ci_low"].to_numpy()
        out["fitted_high"] = table["ci_high"].to_numpy()
        return out

    # ------------------------------------------------------------------ tables
    def summary(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """The target-population ATE, the CATE coefficients and, with heterogeneity,
        ``tau`` and a new trial's ATE.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed credible intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Rows ``"ATE (target)"``, one per CATE term, and with heterogeneity
            ``"tau"`` and ``"ATE (new trial)"``; columns ``mean, sd, ci_low, ci_high``
            on the scale of the reported effects.

        Raises
        ------
        RuntimeError
            Not fitted.
        """
        post = self._posterior()
        parts = [("ATE (target)", post["ate"])]
        parts += [(str(c), post["theta"].sel(coef=c, drop=True))
                  for c in post["theta"]["coef"].values]
        if "tau" in post:
            parts += [("tau", post["tau"]), ("ATE (new trial)", post["ate_new"])]
        stacked = xr.concat([da.reset_coords(drop=True) for _, da in parts],
                            dim=pd.Index([n for n, _ in parts], name="parameter"))
        return effects.summarize(stacked, ci_prob=ci_prob)

    def result(self, *, ci_prob: float = 0.95) -> PosteriorSummary:
        """The target-population ATE in the comparators' vocabulary, for forest plots.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible interval (and, with heterogeneity, of the
            new-trial interval ``pi``), in (0, 1).

        Returns
        -------
        PosteriorSummary
            Posterior median, SD and equal-tailed interval of ``ate``.

        Raises
        ------
        RuntimeError
            Not fitted.
        """
        self._require_fit()
        predictive = "ate_new" if "ate_new" in self.idata["posterior"] else None
        return synthesis_effects.posterior_summary(self.idata, "ate", ci_prob=ci_prob,
                                                   label="ATE (target)",
                                                   predictive=predictive)

    def parameters(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """Convergence table of ``ate``, ``theta`` and, with heterogeneity, ``tau`` and
        ``ate_new``.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed credible intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            One row per element (:func:`bayes_hte.diagnostics.diagnostics_table`).

        Raises
        ------
        RuntimeError
            Not fitted.
        """
        self._require_fit()
        names = [v for v in self.population if v in self.idata["posterior"]]
        return diagnostics_table(self.idata, var_names=names, ci_prob=ci_prob)

    # ------------------------------------------------------------------ storage
    def _data_to_dataset(self, data: CIMAMoments) -> xr.Dataset:
        eff = data.effects
        ds = xr.Dataset(
            {**{c: ("effect", eff[c].astype(str).to_numpy()) for c in _EFFECT_COLS},
             **{c: ("effect", eff[c].to_numpy(dtype=float)) for c in _EFFECT_NUMS},
             "design": (("effect", "coef"), data.design),
             "covariance": (("effect", "effect_"), data.covariance),
             "basis": (("effect", "basis_column"), data.basis),
             "component_trial": ("basis_column", data.component_trial),
             "target": (("row", "covariate"), data.target.to_numpy(dtype=float))},
            coords={"coef": list(data.terms), "covariate": list(data.target.columns)},
        )
        ds.attrs["cima_moments"] = json.dumps(
            {"trials": list(data.trials), "cate": data.cate, "kinds": data.kinds,
             "options": data.options})
        return ds

    @classmethod
    def _data_from_dataset(cls, ds: xr.Dataset) -> CIMAMoments:
        cfg = json.loads(ds.attrs["cima_moments"])
        eff = pd.DataFrame({c: [str(v) for v in ds[c].values] for c in _EFFECT_COLS})
        for c in _EFFECT_NUMS:
            eff[c] = ds[c].values.astype(float)
        target = pd.DataFrame(ds["target"].values,
                              columns=[str(c) for c in ds["covariate"].values])
        return CIMAMoments(
            effects=eff, trials=tuple(cfg["trials"]),
            terms=tuple(str(c) for c in ds["coef"].values), design=ds["design"].values,
            covariance=ds["covariance"].values, basis=ds["basis"].values,
            component_trial=ds["component_trial"].values.astype(int), target=target,
            cate=cfg["cate"], kinds=cfg["kinds"], options=cfg["options"])
