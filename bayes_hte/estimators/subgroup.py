r"""The population → subgroup → individual treatment-effect model: :class:`SubgroupHTEModel`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte import effects
from bayes_hte.data.ipd import IPDData
from bayes_hte.diagnostics import diagnostics_table, population_vars
from bayes_hte.effects import subgroup as subgroup_effects
from bayes_hte.errors import DataError
from bayes_hte.estimators.base import IPDEstimator
from bayes_hte.inference import fit
from bayes_hte.models import subgroup as subgroup_models
from bayes_hte.options import (
    EFFECT_SCALES_HTE,
    INDIVIDUAL_FORMS,
    SUBGROUP_PARAMETERIZATIONS,
    CateKind,
    EffectScaleHTE,
    IndividualForm,
    Sampler,
    SubgroupParameterization,
    check_choice,
    check_flag,
)


class SubgroupHTEModel(IPDEstimator):
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

    Every estimand keeps its draws: per-patient results have dims
    (chain, draw, patient). ``new_trial`` matters only with several trials (trial is
    then a grouping level): ``False`` places the patients in an average trial
    (:math:`\alpha_j = \alpha`, :math:`\tau_j = \mu_\tau`), ``True`` in a new trial
    drawn per posterior draw from :math:`N(\alpha, \tau_\alpha^2)`
    and :math:`N(\mu_\tau, \tau_\tau^2)`; a single trial has no
    between-trial variation to add.

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

    #: Posterior variables of files written by 0.1 (old name -> new name).
    renamed_vars = {"sigma_alpha_study": "tau_alpha", "sigma_tau_study": "tau_tau"}
    _option_names = ("subgroups", "individual_effects", "priors", "interactions",
                     "standardize", "parameterization", "individual_form")
    _repr_names = ("subgroups", "individual_effects")

    def __init__(self, *, subgroups: Sequence[str] = (), individual_effects: bool = True,
                 priors: dict | None = None, interactions: Sequence[str] | None = None,
                 standardize: bool = True,
                 parameterization: SubgroupParameterization = "non_centered",
                 individual_form: IndividualForm = "marginalized"):
        if isinstance(subgroups, str):
            subgroups = [subgroups]
        if not isinstance(individual_effects, bool | np.bool_):
            raise ValueError(f"individual_effects must be True or False, got "
                             f"{individual_effects!r}")
        check_choice("parameterization", parameterization, SUBGROUP_PARAMETERIZATIONS)
        check_choice("individual_form", individual_form, INDIVIDUAL_FORMS)
        self.subgroups = list(subgroups)
        self.individual_effects = bool(individual_effects)
        self.priors = dict(priors or {})
        self.interactions = None if interactions is None else (
            [interactions] if isinstance(interactions, str) else list(interactions))
        self.standardize = bool(standardize)
        self.parameterization = parameterization
        self.individual_form = individual_form
        self._layout = None

    def build(self, data: IPDData) -> pm.Model:
        """Build (but do not fit) the model for ``data``.

        Parameters
        ----------
        data : IPDData
            Validated data with a binary outcome (one trial or several).

        Returns
        -------
        pymc.Model
            :func:`bayes_hte.models.subgroup.build_subgroup_model` (Tzimas 2024,
            equations 5-11): dims ``patient``, ``covariate``, ``interaction``,
            ``subgroup``, ``subgrouping`` (and ``study``); observed ``y``.

        Raises
        ------
        DataError
            Not an ``IPDData``, a time-to-event outcome, or a subgrouping or
            interaction the data cannot support.
        ValueError
            A prior for a parameter the configuration does not have.
        """
        self._check_data(data)
        return subgroup_models.build_subgroup_model(
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

        NUTS replaces the JAGS sampler of Tzimas (2024) (appendix B); the model is the
        same.


        Parameters
        ----------
        data : IPDData
            Binary-outcome data.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, number of chains.
        random_seed : int, optional
            Seed of the sampler; also the default seed of new-trial draws and of the
            individual deviations (:meth:`eta`).
        sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
            Default: nutpie when installed.
        target_accept : float, optional
            NUTS target acceptance rate.
        progressbar : bool
            Show the sampler's progress.
        log_likelihood : bool
            Store the pointwise log likelihood (one value per patient) for LOO.
        posterior_predictive : bool
            Store posterior predictive draws of ``y``.

        Returns
        -------
        SubgroupHTEModel
            ``self``; ``idata`` holds the posterior (dims (chain, draw, ...), log-odds
            scale), sample stats, log likelihood (chain, draw, patient), posterior
            predictive, observed and constant data, the fit data (group ``ipd_data``)
            and, in the posterior's attrs, the options and resolved priors.

        Raises
        ------
        DataError
            As :meth:`build`.
        """
        self._model = self.build(data)
        self.data = data
        self._layout = self._model.bayes_hte["layout"]
        idata = fit(self._model, draws=draws, tune=tune, chains=chains,
                    random_seed=random_seed, sampler=sampler, target_accept=target_accept,
                    progressbar=progressbar, log_likelihood=log_likelihood,
                    posterior_predictive=posterior_predictive)
        self.idata = self._attach(idata, self._model.bayes_hte["priors"],
                                  random_seed=random_seed)
        self._check_convergence()
        return self

    # ----------------------------------------------------------------- inputs
    @property
    def layout(self) -> subgroup_models.Layout:
        """Encoding of the fit data (standardisation, interactions, subgroup levels)."""
        if getattr(self, "_layout", None) is None:
            if self.data is None:
                raise RuntimeError("no data: call .fit(data) first")
            self._layout = subgroup_models.layout(self.data, subgroups=self.subgroups,
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

    # ----------------------------------------------------------------- estimands
    def linear_predictors(self, newdata: pd.DataFrame | None = None, *,
                          new_trial: bool = False,
                          random_seed: int | None = None) -> tuple[xr.DataArray, xr.DataArray]:
        r"""Baseline log-odds :math:`\ell_{0i}` and conditional log-odds effect
        :math:`\tau_i`, dims (chain, draw, patient).

        Tzimas (2024), equations 5-7: :math:`\ell_{0i} = \alpha + x_i'\beta + \sum_g
        a_{g,k_g[i]}`, :math:`\tau_i = \mu_\tau + x_i^{(I)\prime}\gamma + \sum_g
        (\tau_{g,k_g[i]} - \mu_\tau)` (plus the trial terms with several trials).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Patients to predict for (covariate and subgrouping columns); default the
            fit patients.
        new_trial : bool
            Several trials only: ``False`` an average trial, ``True`` a new trial drawn
            per posterior draw.
        random_seed : int, optional
            Seed of the new-trial draws (default the fit's seed).

        Returns
        -------
        tuple of xarray.DataArray
            ``(lp0, tau)``, log-odds scale, each with dims (chain, draw, patient).

        Raises
        ------
        DataError
            ``newdata`` lacks a covariate or subgrouping column, or has a level the fit
            data did not have.
        """
        new_trial = check_flag("new_trial", new_trial)
        lay, X, idx = self._inputs(newdata)
        return subgroup_effects.linear_predictors(self._posterior(), lay, X, idx,
                                           new_trial=new_trial, rng=self._rng(random_seed))

    def baseline_risk(self, newdata: pd.DataFrame | None = None, *,
                      new_trial: bool = False,
                      random_seed: int | None = None) -> xr.DataArray:
        """Predicted risk without treatment, :math:`P(y=1|x, 0)`, (chain, draw, patient).

        :math:`\\mathrm{expit}(\\ell_{0i})` (Tzimas 2024: the baseline risk that defines
        the risk groups of Table 8).

        Parameters
        ----------
        newdata, new_trial, random_seed
            As in :meth:`linear_predictors`.

        Returns
        -------
        xarray.DataArray
            Named ``baseline_risk``, probabilities in (0, 1), dims
            (chain, draw, patient).
        """
        lp0, _ = self.linear_predictors(newdata, new_trial=new_trial, random_seed=random_seed)
        out = 1.0 / (1.0 + np.exp(-lp0))
        out.name = "baseline_risk"
        return out

    def _cate(self, newdata, *, kind, scale, new_trial, random_seed) -> xr.DataArray:
        new_trial = check_flag("new_trial", new_trial)
        lay, X, idx = self._inputs(newdata)
        out = subgroup_effects.cate_draws(self._posterior(), lay, X, idx, kind=kind, scale=scale,
                                   new_trial=new_trial, rng=self._rng(random_seed))
        return out.assign_coords(patient=np.arange(X.shape[0]))

    def cate_logit(self, newdata: pd.DataFrame | None = None, *,
                   kind: CateKind = "marginal", new_trial: bool = False,
                   random_seed: int | None = None) -> xr.DataArray:
        r"""Per-patient CATE on the log-odds scale, dims (chain, draw, patient).

        ``kind="marginal"``: :math:`\mathrm{logit}\,\bar p_{1i} - \ell_{0i}`, with the
        treated risk averaged over the individual deviations (identified by the data;
        what a simulation's ``true_te`` is compared with). ``kind="conditional"``:
        :math:`\tau_i`, the mean of the individual log-odds effects (depends on the
        prior of :math:`\sigma_\eta`). Equal without the individual layer.

        The CATE of Tzimas (2024), section 2.2, on the log-odds scale.

        Parameters
        ----------
        newdata, new_trial, random_seed
            As in :meth:`linear_predictors`.
        kind : {"marginal", "conditional"}
            As above.

        Returns
        -------
        xarray.DataArray
            Named ``cate_logit``, dims (chain, draw, patient): log-odds ratio treated
            vs control (positive = higher odds of the event when treated).

        Raises
        ------
        ValueError
            ``kind`` outside its choices.
        DataError
            ``newdata`` cannot be encoded like the fit data.

        Notes
        -----
        Each draw carries every modelled component of the patient's effect: population
        effect, interactions, the patient's subgroup deviations and, with
        ``new_trial=True``, a new trial's effect (``tests/effects/test_subgroup.py``).
        The individual deviation :math:`\sigma_\eta\epsilon_i` is not one of them: it is
        part of an individual's effect (:meth:`eta`), not of the CATE. The per-patient
        intervals share the error of the population effect, so in one data set they
        mostly miss together: the share of patients covered in one data set says little
        about calibration (``docs/subgroup.md``, "Coverage of the per-patient
        intervals").
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
        (:func:`bayes_hte.effects.subgroup.individual_deviations`). A control patient's
        :math:`\epsilon_i` is its prior; a treated patient's leans towards the outcome
        it had — descriptive of that outcome, not a prediction.

        The individual layer of Tzimas (2024), equation 7, in an average trial.

        Parameters
        ----------
        random_seed : int, optional
            Seed of the deviations' draws (marginalized form; default the fit's seed).

        Returns
        -------
        xarray.DataArray
            Named ``eta``, log-odds scale, dims (chain, draw, patient).

        Raises
        ------
        ValueError
            The model has no individual layer.
        """
        if not self.individual_effects:
            raise ValueError("the model has no individual layer (individual_effects=False)")
        lp0, tau = self.linear_predictors()
        post = self._posterior()
        if "eta_raw" in post:
            eps = post["eta_raw"].transpose("chain", "draw", "patient").values
        else:
            eps = subgroup_effects.individual_deviations(post, lp0, tau, self.data.y, self.data.z,
                                                  rng=self._rng(random_seed)).values
        out = tau + post["sigma_eta"] * tau.copy(data=eps)
        out.name = "eta"
        return out.transpose("chain", "draw", "patient")

    def ite(self, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
            individual: bool = False, kind: CateKind = "marginal",
            random_seed: int | None = None) -> xr.DataArray:
        r"""Treatment effects on the risk-difference scale, dims (chain, draw, patient).

        By default each patient's CATE, :math:`\bar p_{1i} - p_{0i}` (``kind`` as in
        :meth:`cate_logit`). ``individual=True`` uses each fit patient's own
        :math:`\eta_i` (:meth:`eta`): :math:`\mathrm{expit}(\ell_{0i} + \eta_i) -
        \mathrm{expit}(\ell_{0i})`.

        Source: Tzimas (2024), the individual treatment effects of section 2.2.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Patients to predict for; default the fit patients.
        new_trial : bool
            Several trials only: ``False`` an average trial, ``True`` a new trial drawn
            per posterior draw.
        individual : bool
            Use the fit patients' own :math:`\eta_i` (no ``newdata``, no
            ``new_trial``).
        kind : {"marginal", "conditional"}
            As in :meth:`cate_logit` (ignored with ``individual=True``).
        random_seed : int, optional
            Seed of the new-trial or individual draws (default the fit's seed).

        Returns
        -------
        xarray.DataArray
            Named ``ite``, dims (chain, draw, patient): risk difference
            :math:`P(y=1|x,1) - P(y=1|x,0)` in [-1, 1] (positive = more events when
            treated).

        Raises
        ------
        ValueError
            ``individual=True`` with ``newdata`` or ``new_trial``, or a model without
            the individual layer.
        DataError
            ``newdata`` cannot be encoded like the fit data.
        """
        new_trial = check_flag("new_trial", new_trial)
        individual = check_flag("individual", individual)
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
             scale: EffectScaleHTE = "risk_difference",
             kind: CateKind = "marginal",
             random_seed: int | None = None) -> xr.DataArray:
        """CATE averaged over the patients in each level of column ``by``, dims
        (chain, draw, ``by``); ``scale="logit"`` averages the log-odds CATEs.

        Tzimas (2024) report the subgroup effects by gender (the model's parameters,
        :meth:`subgroup_effects`) and the CATE by risk group (:meth:`risk_table`);
        this averages the per-patient CATEs over the levels of any column.

        Parameters
        ----------
        by : str
            Column of the frame defining the groups (any column).
        newdata : pandas.DataFrame, optional
            Patients to average over; default the fit patients.
        new_trial, random_seed
            As in :meth:`linear_predictors`.
        scale : {"risk_difference", "logit"}
            Risk difference or log-odds ratio.
        kind : {"marginal", "conditional"}
            As in :meth:`cate_logit`.

        Returns
        -------
        xarray.DataArray
            Named ``cate``, dims (chain, draw, ``by``), levels sorted (a Categorical's in
            its categories' order); ``attrs["scale"]``
            records the scale.

        Raises
        ------
        DataError
            ``by`` is not a column, has missing values or is numeric with more than
            :data:`~bayes_hte.estimators.base.MAX_CATE_LEVELS` distinct values (group it
            first, e.g. with ``pd.qcut``); ``newdata`` cannot be encoded.
        ValueError
            ``scale`` or ``kind`` outside its choices.
        """
        groups = self._check_by(by, newdata)
        check_choice("scale", scale, EFFECT_SCALES_HTE)
        values = self._cate(newdata, kind=kind, scale=scale, new_trial=new_trial,
                            random_seed=random_seed)
        out = self._group_by(values, groups, by)
        out.attrs.update(scale=scale)
        return out

    def subgroup_effects(self, subgrouping: str | None = None) -> xr.DataArray:
        r"""Subgroup treatment effects :math:`\tau_{g,k}` (log-odds), the paper's
        ``te_gender[k] = b_trt + re_trt[k]``.

        The effect in each level at the average of the covariates (standardised
        model) and of the other subgroupings. With ``subgrouping`` the result has that
        column's name as dim and its levels as coordinates; without, dim ``subgroup``
        with labels ``"col[level]"``.

        Tzimas (2024), equation 6. Parameters, not per-patient predictions: no
        ``new_trial`` (they are the population-level effects, i.e. an average trial).

        Parameters
        ----------
        subgrouping : str, optional
            One of the model's subgroupings; default all levels of all of them.

        Returns
        -------
        xarray.DataArray
            Log-odds ratios, dims (chain, draw, ``subgroup``) or
            (chain, draw, ``subgrouping``), named ``tau_subgroup`` or
            ``te_<subgrouping>``.

        Raises
        ------
        ValueError
            The model has no subgroupings.
        DataError
            ``subgrouping`` is not one of the model's.
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
                   scale: EffectScaleHTE = "logit",
                   kind: CateKind = "marginal", ci_prob: float = 0.95,
                   newdata: pd.DataFrame | None = None,
                   truth: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """CATE by quantile group of predicted baseline risk (Tzimas 2024, Table 8).

        Columns in :func:`bayes_hte.effects.subgroup.risk_table`; ``truth`` (one value per
        patient on the same ``scale``) adds ``true_mean_cate``.

        Parameters
        ----------
        groups : int
            Number of equal-sized risk groups (quintiles by default).
        scale : {"logit", "risk_difference"}
            Scale of the CATE (the paper's table is on the log-odds scale).
        kind : {"marginal", "conditional"}
            As in :meth:`cate_logit`.
        ci_prob : float
            Probability of the equal-tailed intervals.
        newdata : pandas.DataFrame, optional
            Patients to tabulate; default the fit patients. Always an average trial.
        truth : array-like of float, optional
            True CATE per patient, on ``scale``.

        Returns
        -------
        pandas.DataFrame
            One row per risk group ``Q1`` (lowest baseline risk) …; ``attrs["scale"]``
            records the scale.

        Raises
        ------
        DataError
            Bad ``groups`` or ``truth``, or ``newdata`` that cannot be encoded.
        ValueError
            ``scale``, ``kind`` or ``ci_prob`` out of range.
        """
        check_choice("scale", scale, EFFECT_SCALES_HTE)
        risk = self.baseline_risk(newdata)
        values = self._cate(newdata, kind=kind, scale=scale, new_trial=False,
                            random_seed=None)
        out = subgroup_effects.risk_table(risk, values, groups=groups, ci_prob=ci_prob, truth=truth)
        out.attrs["scale"] = scale
        return out

    def summary(self, *, ci_prob: float = 0.95, newdata: pd.DataFrame | None = None,
                new_trial: bool = False,
                scale: EffectScaleHTE = "risk_difference") -> pd.DataFrame:
        """Per-patient CATE table: mean, sd, ci_low, ci_high at ``ci_prob``.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed intervals.
        newdata : pandas.DataFrame, optional
            Patients to predict for; default the fit patients.
        new_trial : bool
            Several trials only: ``False`` an average trial, ``True`` a new trial drawn
            per posterior draw (prediction intervals).
        scale : {"risk_difference", "logit"}
            :meth:`ite` (risk difference) or :meth:`cate_logit` (log-odds ratio); the
            marginal CATE of Tzimas (2024) either way.

        Returns
        -------
        pandas.DataFrame
            Indexed by patient; columns ``mean``, ``sd``, ``ci_low``, ``ci_high`` over
            the (chain, draw) draws, on ``scale``.

        Raises
        ------
        ValueError
            ``scale`` outside its choices.
        """
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
        coordinates (``alpha`` and ``mu_tau`` are diagnosed instead).

        Parameters
        ----------
        max_size : int
            Largest number of elements per draw a variable may have
            (:func:`bayes_hte.diagnostics.population_vars`).

        Returns
        -------
        list of str
            Posterior variable names.

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        return [v for v in population_vars(self.idata, max_size=max_size)
                if not v.endswith("_anchor")]

    def parameters(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """Convergence table of the population, subgroup and trial parameters
        (:func:`bayes_hte.diagnostics.diagnostics_table`: both R-hats, ESS, MCSE).

        The Gelman-Rubin diagnostics of Tzimas (2024), Table 5, with the rank-normalised
        R-hat and effective sample sizes next to them.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed credible intervals.

        Returns
        -------
        pandas.DataFrame
            One row per parameter element (:meth:`diagnostic_vars`), on the log-odds
            scale (SDs for the ``sigma_*``).

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        return diagnostics_table(self.idata, var_names=self.diagnostic_vars(),
                                        ci_prob=ci_prob)
