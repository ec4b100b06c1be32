r"""One-stage IPD meta-analysis of individualized treatment effects: :class:`IPDMetaModel`.

>>> m = IPDMetaModel(heterogeneity="random_intercept", learner="s")   # doctest: +SKIP
>>> m.fit(data, draws=1000, tune=1000, chains=4, random_seed=1)       # doctest: +SKIP
>>> m.ite()            # (chain, draw, patient) risk differences      # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy.special import expit

from bayes_hte import effects
from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.diagnostics import diagnostics_table
from bayes_hte.effects import ipdma as ipdma_effects
from bayes_hte.effects import survival as survival_effects
from bayes_hte.errors import DataError
from bayes_hte.estimators.base import IPDEstimator
from bayes_hte.estimators.ipd_aggregate import AggregateTrialsMixin
from bayes_hte.inference import ATTR_SAMPLING, check_memory, fit, resolve_sampler
from bayes_hte.models.ipdma import ARMS, build_ipdma_model
from bayes_hte.models.ipdma import default_priors as ipdma_default_priors
from bayes_hte.models.priors import resolve_priors
from bayes_hte.models.survival import build_ipdma_survival_model, survival_priors
from bayes_hte.options import (
    Baseline,
    DataReduction,
    Heterogeneity,
    IPDMAOptions,
    Learner,
    MassMatrix,
    Outcome,
    Parameterization,
    Sampler,
    check_flag,
    check_real,
    check_sampler_setting,
)

#: Draws x patients of ITE computed at a time by :meth:`IPDMetaModel.summary` (2**24
#: values: 128 MB per float64 array).
SUMMARY_CHUNK = 2**24
#: (chain, draw, patient) float64 arrays alive at once while :meth:`IPDMetaModel.ite`
#: runs (two linear predictors, two risks, their difference), for its memory check.
ITE_ARRAYS = 3

#: Population-level parameters reported by :meth:`IPDMetaModel.parameters`.
POPULATION_VARS = ("alpha", "theta", "gamma", "eta", "tau_alpha", "tau_phi", "tau_b",
                   "log_lambda", "shape", "log_shape")


#: Posterior variables of files written by 0.1 (old name -> new name).
_RENAMED_VARS = {f"{old}{arm}": f"{new}{arm}" for arm in ("", "_control", "_treated")
                 for old, new in (("sd_study", "tau_b"), ("corr_study", "corr_b"),
                                  ("corr_chol_study", "corr_chol_b"))}
_RENAMED_VARS |= {"sd_log_shape": "tau_log_shape"}


def _option(name: str, doc: str) -> property:
    """A read-only property giving the resolved option ``name`` (``self.options``)."""
    return property(lambda self: getattr(self.options, name), doc=doc)


class IPDMetaModel(AggregateTrialsMixin, IPDEstimator):
    r"""One-stage IPD meta-analysis of individualized treatment effects.

    The five one-stage models of Bouvier et al. (2024) — naive (NA), random intercept
    (RI), stratified intercept (SI), rank-1 (R1), fully stratified (FS) — each as an
    S- or T-learner, for a binary or a time-to-event outcome, fitted as one Bayesian
    posterior (the paper fits them by maximum likelihood).

    Parameters
    ----------
    heterogeneity : str
        Between-trial structure: ``"naive"``, ``"random_intercept"``,
        ``"stratified_intercept"``, ``"rank1"`` or ``"fully_stratified"`` (equations in
        :mod:`bayes_hte.models.ipdma`).
    learner : {"s", "t"}
        S-learner (treatment interactions) or T-learner (one model per arm).
    outcome : {"binary", "time_to_event"}
        Binary (logit link) or censored time-to-event (proportional hazards).
    priors : dict, optional
        Prior overrides by parameter name (see ``bayes_hte.models.ipdma.DEFAULT_PRIORS``
        and, for time to event, ``bayes_hte.models.survival.BASELINE_PRIORS``).
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        Form of the trial-level effects (see
        :func:`bayes_hte.models.ipdma.build_ipdma_model`).
    baseline : {"weibull", "piecewise"}, optional
        Time to event only: baseline hazard (default ``"weibull"``).
    cuts : sequence of float, optional
        Time to event, piecewise baseline: inner cut points (data's time unit).
    n_intervals : int, optional
        Time to event, piecewise baseline: number of quantile-based intervals (default 6).
    horizon : float, optional
        Time to event: default horizon of :meth:`ite` (data's time unit; default the
        median follow-up of the fit data).
    data_reduction : {"auto", "always", "never"}
        Exact data reduction (:mod:`bayes_hte.models.reduction`): patients with the same
        covariates, arm and trial pooled into one binomial term (binary outcome) or one
        Poisson term per interval (piecewise baseline) — the same posterior, with a
        gradient cost proportional to the number of cells. ``"auto"`` reduces when there
        are at least two patients per cell on average (discrete covariates only);
        ``"always"`` whenever the form is exact; ``"never"`` keeps one term per patient.
        The pointwise log likelihood and posterior predictive draws stay per patient;
        the form used is in ``idata.posterior.attrs["bayes_hte_data_reduction"]``.

    Raises
    ------
    ValueError
        An option outside its allowed values, a time-to-event option for a binary
        outcome, or a prior for a parameter the structure does not have (or an invalid
        prior), checked when the model is made.

    Notes
    -----
    The ITE of a patient with covariates :math:`x` is
    :math:`\hat\tau(x) = \hat\mu(x, 1) - \hat\mu(x, 0)` (Bouvier et al. 2024): for a binary
    outcome a risk difference :math:`P(y=1|x,1) - P(y=1|x,0)` (negative = fewer events
    when treated), computed for every posterior draw; for a time-to-event outcome a
    survival difference :math:`S(h|x,1) - S(h|x,0)` at a horizon :math:`h` (positive =
    longer survival when treated). Every estimand keeps its draws: dims
    (chain, draw, patient).

    ``new_trial=False`` (default) predicts for a patient in an *average* trial (the
    pooled parameters, as in the paper); ``new_trial=True`` for a patient in a *new*
    trial, drawn per posterior draw from the between-trial distribution (intercept for
    RI/SI/R1, scale for R1, the whole coefficient vector for FS; nothing to add for
    NA), which gives prediction intervals.

    Trials reported only as arm-level counts join the fit through ``fit(...,
    aggregate=, aggregate_covariates=)`` (multilevel meta-regression, Phillippo et al.
    2020; binary S-learner with naive, random or stratified intercepts): the
    individual-level model integrated over each aggregate trial's covariate
    distribution (:mod:`bayes_hte.models.ipd_aggregate`). :meth:`marginal_effect` then
    gives population-average effects in any target population.

    Examples
    --------
    >>> import bayes_hte as bh
    >>> from bayes_hte.simulate import bouvier2024
    >>> sim = bouvier2024(trials=3, patients_per_trial=100, seed=1)
    >>> data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat",
    ...                              study="trial", covariates=["x1", "x2", "x3"])
    >>> m = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s")
    >>> m.fit(data, draws=200, tune=200, chains=2, random_seed=1)   # doctest: +SKIP
    >>> m.ite(new_trial=True)       # (chain, draw, patient)        # doctest: +SKIP
    """

    renamed_vars = _RENAMED_VARS
    _option_names = ("heterogeneity", "learner", "outcome", "priors", "parameterization",
                     "data_reduction")
    _repr_names = ("heterogeneity", "learner", "outcome")

    def __init__(self, *, heterogeneity: Heterogeneity = "random_intercept",
                 learner: Learner = "s", outcome: Outcome = "binary",
                 priors: dict | None = None,
                 parameterization: Parameterization = "auto",
                 baseline: Baseline | None = None, cuts: Sequence[float] | None = None,
                 n_intervals: int | None = None, horizon: float | None = None,
                 data_reduction: DataReduction = "auto"):
        given = {"baseline": baseline, "cuts": None if cuts is None else list(cuts),
                 "n_intervals": n_intervals, "horizon": horizon}
        self.model_options = {k: v for k, v in given.items() if v is not None}
        self.options = IPDMAOptions.resolve(
            heterogeneity=heterogeneity, learner=learner, outcome=outcome,
            parameterization=parameterization, model_options=self.model_options,
            data_reduction=data_reduction)
        self.priors = dict(priors or {})
        # checked now, not at the fit: a grid of models (a spec, compare_ite_models)
        # failed on a prior name after fitting the models before it
        resolve_priors(self.default_priors(), self.priors,
                       family=f"ipdma/{self.heterogeneity}/{self.learner}")

    def default_priors(self) -> dict:
        """The structure's default priors by parameter name (before ``priors``).

        Returns
        -------
        dict of str to dict
            ``bayes_hte.models.ipdma.default_priors`` (binary outcome) or
            ``bayes_hte.models.survival.survival_priors`` (time to event).
        """
        o = self.options
        if o.outcome == "binary":
            return ipdma_default_priors(o.heterogeneity, o.learner)
        return survival_priors(o.heterogeneity, o.learner, o.baseline)

    # the options users read back (str)
    heterogeneity = _option("heterogeneity", "The between-trial structure.")
    learner = _option("learner", '``"s"`` or ``"t"``.')
    outcome = _option("outcome", '``"binary"`` or ``"time_to_event"``.')
    parameterization = _option("parameterization", "Form of the trial-level effects as given "
                               '(``"auto"`` resolved by the factory).')
    label = _option("label", 'Short label, e.g. ``"RI-S"``.')
    data_reduction = _option("data_reduction", 'Exact data reduction: ``"auto"``, '
                             '``"always"`` or ``"never"``.')

    def _options(self) -> dict:
        return {**super()._options(), **self.model_options}

    def _check_data(self, data) -> None:
        super()._check_data(data)
        if data.outcome_type != self.outcome:
            raise DataError(f"the model has outcome={self.outcome!r} but the data are "
                            f"{data.outcome_type!r} (time column: {data.time!r})")

    def build(self, data: IPDData) -> pm.Model:
        """Build (but do not fit) the model for ``data``.

        Parameters
        ----------
        data : IPDData
            Validated data whose outcome type matches ``outcome``.

        Returns
        -------
        pymc.Model
            From :func:`bayes_hte.models.ipdma.build_ipdma_model` (binary; dims
            ``patient``, ``study``, ``covariate``, observed ``y``) or
            :func:`bayes_hte.models.survival.build_ipdma_survival_model` (observed
            ``time``): the models of Bouvier et al. (2024); observed ``events`` per cell
            when ``data_reduction`` pools the patients.

        Raises
        ------
        DataError
            Not an ``IPDData``, wrong outcome type, too few studies for the structure.
        """
        self._check_data(data)
        if self.outcome == "binary":
            return build_ipdma_model(
                data, heterogeneity=self.heterogeneity, learner=self.learner,
                priors=self.priors, parameterization=self.parameterization,
                data_reduction=self.data_reduction)
        return build_ipdma_survival_model(
            data, heterogeneity=self.heterogeneity, learner=self.learner, priors=self.priors,
            parameterization=self.parameterization, data_reduction=self.data_reduction,
            **self.model_options)

    def fit(self, data: IPDData, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
            random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = None, mass_matrix: MassMatrix = "auto",
            progressbar: bool = False, log_likelihood: bool | str = "auto",
            posterior_predictive: bool | str = "auto", aggregate: ArmTable | None = None,
            aggregate_covariates: CovariateSummary | None = None,
            integration_points: int = 64, reuse_compiled: bool = False) -> IPDMetaModel:
        r"""Sample the posterior; returns ``self`` with :attr:`idata` set.

        NUTS (:func:`bayes_hte.inference.fit`) on the model of :meth:`build`; for the
        stratified-intercept structure the trial intercepts are then pooled per draw
        (:func:`bayes_hte.effects.ipdma.synthesize_intercepts`, as Bouvier et al. 2024
        pool them by a random-effects meta-analysis).

        With ``aggregate`` and ``aggregate_covariates``, trials reported only as arm
        counts join the same posterior (multilevel meta-regression, Phillippo et al.
        2020, JRSS A; R package multinma): trial :math:`k`'s events are
        :math:`\mathrm{Binomial}(n_{kz}, \bar p_{kz})` with
        :math:`\bar p_{kz} = \frac1M\sum_m \mathrm{expit}\{a_k + \theta'x_{km} +
        z(\gamma + \eta'x_{km})\}` over ``integration_points`` quasi-Monte Carlo points
        :math:`x_{km}` of a Gaussian copula matching the trial's summaries, with the IPD's
        correlations (:class:`bayes_hte.data.integration.AggregateData`;
        :func:`bayes_hte.models.ipd_aggregate.build_ipd_aggregate_model`). The
        integration is then checked (:meth:`integration_check`, stored as
        :attr:`integration`; a ``DataWarning`` when doubling the points moves an arm risk
        by more than 0.05 posterior SD).

        Parameters
        ----------
        data : IPDData
            The trials' individual participant data.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, number of chains.
        random_seed : int, optional
            Seed of the sampler; also the default seed of new-trial draws in :meth:`ite`
            (how far a seed reproduces the draws: :func:`bayes_hte.inference.fit`).
        sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
            Default: nutpie when installed.
        target_accept : float, optional
            NUTS target acceptance; ``None`` uses the structure's default
            (:data:`bayes_hte.options.DEFAULT_TARGET_ACCEPT`: 0.9, and 0.95 for rank-1
            models).
        mass_matrix : {"auto", "diag", "low_rank"}
            ``"auto"`` adapts nutpie's low-rank corrected mass matrix for rank-1 models
            and for anchored or partially centred random intercepts, and a diagonal one
            otherwise (measurements in ``docs/ipdma.md``). The settings used — this,
            the target acceptance and the form of the trial intercepts — are kept in
            the posterior (:func:`bayes_hte.diagnostics.sampler_settings`).
        progressbar : bool
            Show the sampler's progress.
        log_likelihood : bool or "auto"
            Store the pointwise log likelihood (one value per patient) for LOO.
            ``"auto"``: when the chains x draws x patients float64 array is at most 2 GiB
            (:data:`bayes_hte.inference.PER_UNIT_BUDGET`; e.g. up to ~67,000 patients
            at 4 x 1000 draws), else left out with a
            :class:`~bayes_hte.errors.MemoryBudgetWarning`. ``True`` keeps it after
            checking that it fits in the memory available.
        posterior_predictive : bool or "auto"
            Store posterior predictive draws of ``y`` (binary outcomes only: survival
            checks use model-implied curves, :meth:`predictive_survival`); ``"auto"`` as
            for ``log_likelihood``.
        aggregate : ArmTable, optional
            Events and totals per arm of the aggregate-data trials; their study labels
            must differ from the IPD's.
        aggregate_covariates : CovariateSummary, optional
            Their covariate summaries (a ``trial`` column; for every aggregate trial a
            row per encoded covariate of ``data``: mean and SD, or a proportion with an
            empty SD for a 0/1 covariate).
        integration_points : int
            Quasi-Monte Carlo points per aggregate trial (multinma's ``n_int``; powers
            of 2 keep the Sobol sequence balanced). Scrambled with ``random_seed``
            (0 when it is ``None``).
        reuse_compiled : bool
            nutpie only: reuse the model compiled for an earlier fit of the same
            structure in this process (same options, priors and number of trials; other
            data), as the folds of :func:`bayes_hte.workflows.iecv.iecv` do
            (:func:`bayes_hte.inference.fit`). Same draws as compiling anew.

        Returns
        -------
        IPDMetaModel
            ``self``; ``idata`` holds the posterior (dims (chain, draw, ...); parameters
            on the log-odds or log-hazard scale), sample stats, log likelihood (dims
            (chain, draw, patient); with aggregate trials also ``aggregate_events``,
            dims (chain, draw, aggregate_study, arm): one value per independent unit),
            posterior predictive, observed and constant data, the fit data (group
            ``ipd_data``; the aggregate trials in ``aggregate_data``) and, in the
            posterior's attrs, the options and resolved priors.

        Raises
        ------
        DataError
            As :meth:`build`; with aggregate trials, any error of
            :meth:`bayes_hte.data.integration.AggregateData.from_summaries` (clashing
            study labels, a trial or covariate without summaries, named), only one of
            ``aggregate`` / ``aggregate_covariates``, or a structure they do not
            identify (rank-1, fully stratified, T-learner; the message says why).
        ValueError
            An unknown sampler or mass matrix, ``mass_matrix="low_rank"`` without nutpie.
        MemoryBudgetError
            ``log_likelihood=True`` or ``posterior_predictive=True`` for more patients
            and draws than the memory available holds (raised before sampling).
        """
        self.data = data
        self._prepare_aggregate(data, aggregate, aggregate_covariates, integration_points,
                                random_seed)
        self._model = (self.build(data) if self.aggregate is None
                       else self._build_aggregate(data))
        if self.outcome == "time_to_event":
            posterior_predictive = False
        self._fit_settings = dict(
            draws=draws, tune=tune, chains=chains, random_seed=random_seed, sampler=sampler,
            target_accept=target_accept, mass_matrix=mass_matrix, log_likelihood=False,
            posterior_predictive=False)
        sampler = resolve_sampler(sampler)
        form = self._model.bayes_hte.get("intercept_form")
        idata = fit(self._model, draws=draws, tune=tune, chains=chains,
                    random_seed=random_seed, sampler=sampler,
                    target_accept=self.options.target_accept(target_accept),
                    mass_matrix=self.options.mass_matrix(mass_matrix, sampler=sampler,
                                                         intercept_form=form),
                    progressbar=progressbar, log_likelihood=log_likelihood,
                    posterior_predictive=posterior_predictive, reuse_compiled=reuse_compiled)
        # fit() recorded the sampler, target acceptance and mass matrix; add the form
        idata["posterior"].attrs[ATTR_SAMPLING] = json.dumps(
            {**json.loads(idata["posterior"].attrs[ATTR_SAMPLING]), "intercept_form": form})
        if self.heterogeneity == "stratified_intercept":
            also = ("alpha_aggregate",) if self.aggregate is not None else ()
            idata = ipdma_effects.synthesize_intercepts(idata, also=also)
        self.idata = self._attach(idata, self._model.bayes_hte["priors"],
                                  random_seed=random_seed)
        self.idata = self._finish_aggregate(self.idata)
        self._check_convergence()
        return self

    # ----------------------------------------------------------------- estimands
    def linear_predictors(self, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
                          own_trial: bool = False, random_seed: int | None = None
                          ) -> tuple[xr.DataArray, xr.DataArray]:
        r"""Linear predictors (log-odds or log-hazard) under control and treatment.

        :math:`\ell(x, 0)` and :math:`\ell(x, 1)` of Bouvier et al. (2024) (equations
        in :mod:`bayes_hte.models.ipdma`), per posterior draw.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Patients to predict for (the covariate columns of the fit data); default the
            fit patients.
        new_trial : bool
            ``False``: the patients are in an average trial (pooled parameters);
            ``True``: in a new trial drawn, per posterior draw, from the between-trial
            distribution (:func:`bayes_hte.effects.ipdma.linear_predictors`).
        own_trial : bool
            ``True``: each patient in their own trial of the fit, with that trial's
            parameters (intercept, rank-1 scale, FS coefficient vector), as the
            likelihood has them — brms's ``re_formula = NULL``
            (:func:`bayes_hte.effects.ipdma.fitted_linear_predictor`); ``newdata`` then
            needs the study column. Not with ``new_trial``.
        random_seed : int, optional
            Seed of the new-trial draws (default the fit's seed).

        Returns
        -------
        tuple of xarray.DataArray
            ``(lp0, lp1)``, each with dims (chain, draw, patient): log-odds (binary)
            or log-hazard (time to event, time in units of the median follow-up).

        Raises
        ------
        DataError
            ``newdata`` lacks a covariate (or, with ``own_trial``, the study column or a
            trial of the fit) or has values the encoding cannot take.
        ValueError
            ``new_trial`` or ``own_trial`` not a bool, or both True.
        """
        new_trial = check_flag("new_trial", new_trial)
        own_trial = check_flag("own_trial", own_trial)
        if new_trial and own_trial:
            raise ValueError("new_trial=True (a trial not in the meta-analysis) and "
                             "own_trial=True (each patient's own trial of the fit) exclude "
                             "each other")
        self._require_fit()
        X = self.data.design(newdata)
        if own_trial:
            sidx, n = self.data.study_index(newdata), X.shape[0]
            post = self._posterior()
            lp0, lp1 = (ipdma_effects.fitted_linear_predictor(
                post, X, np.full(n, arm), sidx, options=self.options) for arm in (0, 1))
        else:
            lp0, lp1 = ipdma_effects.linear_predictors(
                self._posterior(), X, options=self.options, new_trial=new_trial,
                rng=self._rng(random_seed))
        coords = {"patient": np.arange(len(self._frame(newdata)))}
        return lp0.assign_coords(coords), lp1.assign_coords(coords)

    def ite(self, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
            own_trial: bool = False, random_seed: int | None = None,
            horizon: float | None = None) -> xr.DataArray:
        r"""Individualized treatment effects, dims (chain, draw, patient).

        The ITE of Bouvier et al. (2024), :math:`\hat\mu(x, 1) - \hat\mu(x, 0)`, for
        every posterior draw.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Patients to predict for; default the fit patients.
        new_trial : bool
            ``False``: a patient in an average trial; ``True``: in a new trial drawn from
            the between-trial distribution (a prediction interval).
        own_trial : bool
            Binary outcome: each patient in their own trial of the fit
            (:meth:`linear_predictors`; ``newdata`` needs the study column).
        random_seed : int, optional
            Seed of the new-trial draws (default the fit's seed).
        horizon : float, optional
            Time to event only: the time (data's unit) of the survival difference;
            default the model's ``horizon`` or the median follow-up.

        Returns
        -------
        xarray.DataArray
            Named ``ite``, dims (chain, draw, patient). Binary outcome: risk difference
            :math:`P(y=1|x,1) - P(y=1|x,0)` (negative = fewer events when treated).
            Time to event: survival difference :math:`S(h|x,1) - S(h|x,0)` (positive =
            longer survival when treated). ``attrs`` record the scale, ``new_trial``
            and the model label (and the horizon).

        Raises
        ------
        ValueError
            ``horizon`` given for a binary outcome, or not positive; ``own_trial`` for a
            time-to-event outcome (a trial's survival needs its own baseline hazard:
            :meth:`predictive_survival`); flags that are not bools, or both True.
        DataError
            ``newdata`` lacks a covariate (or, with ``own_trial``, the study column or a
            trial of the fit) or has values the encoding cannot take.
        MemoryBudgetError
            The (chain, draw, patient) arrays would not fit in the memory available
            (checked before computing; :meth:`summary` works in chunks of patients).
        """
        m0, m1, horizon = self._by_arm("ite()", newdata, new_trial=new_trial,
                                       own_trial=own_trial, random_seed=random_seed,
                                       horizon=horizon)
        out = m1 - m0
        out.name = "ite"
        if self.outcome == "time_to_event":
            out.attrs.update(scale="survival difference", horizon=horizon)
        else:
            out.attrs.update(scale="risk difference")
        out.attrs.update(new_trial=int(new_trial), own_trial=int(own_trial), model=self.label)
        return out

    def predict(self, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
                own_trial: bool = False, random_seed: int | None = None,
                horizon: float | None = None) -> xr.DataArray:
        r"""Expected outcome of each patient under control and under treatment, per draw.

        brms's ``posterior_epred`` for both arms (``re_formula = NA`` by default, ``NULL``
        with ``own_trial=True``): binary outcome
        :math:`\hat\mu(x, a) = P(y=1 \mid x, a) = \mathrm{expit}\,\ell(x, a)`; time to
        event :math:`S(h \mid x, a)`, the probability of no event by the horizon. The
        ITE is their difference, ``predict().sel(arm="treated") -
        predict().sel(arm="control")`` equals :meth:`ite` with the same arguments.

        Parameters
        ----------
        newdata, new_trial, own_trial, random_seed, horizon
            As in :meth:`ite`.

        Returns
        -------
        xarray.DataArray
            Named ``risk`` (binary; events per patient, in [0, 1]) or ``survival``
            (time to event, in [0, 1]), dims (chain, draw, patient, arm) with ``arm`` =
            ``["control", "treated"]``. ``attrs`` record the scale, ``new_trial``, the
            model label (and the horizon, data's time unit).

        Raises
        ------
        ValueError, DataError, MemoryBudgetError
            As :meth:`ite` (a ``horizon`` for a binary outcome or not positive, a
            ``newdata`` the encoding cannot take, arrays beyond the memory available).
        """
        m0, m1, horizon = self._by_arm("predict()", newdata, new_trial=new_trial,
                                       own_trial=own_trial, random_seed=random_seed,
                                       horizon=horizon)
        out = xr.concat([m0, m1], dim=pd.Index(list(ARMS), name="arm"))
        out = out.transpose("chain", "draw", "patient", "arm")
        if self.outcome == "time_to_event":
            out.name = "survival"
            out.attrs.update(scale="survival probability", horizon=horizon)
        else:
            out.name = "risk"
            out.attrs.update(scale="event probability")
        out.attrs.update(new_trial=int(new_trial), own_trial=int(own_trial), model=self.label)
        return out

    def _by_arm(self, what: str, newdata: pd.DataFrame | None, *, new_trial: bool,
                own_trial: bool, random_seed: int | None, horizon: float | None
                ) -> tuple[xr.DataArray, xr.DataArray, float | None]:
        """Event risk (binary) or survival at the horizon under control and treatment,
        dims (chain, draw, patient), and the horizon used (None for binary)."""
        if self.outcome == "binary" and horizon is not None:
            raise ValueError("horizon applies to time-to-event models only")
        own_trial = check_flag("own_trial", own_trial)
        if self.outcome == "time_to_event" and own_trial:
            raise ValueError("own_trial is for binary outcomes: a trial's survival needs its "
                             "own baseline hazard (predictive_survival() draws the fit "
                             "trials' survival curves)")
        self._require_fit()
        post = self._posterior()
        n_draws = post.sizes["chain"] * post.sizes["draw"]
        n_new = len(self._frame(newdata))
        check_memory(f"{what} ({n_draws} draws x {n_new:,} patients)",
                     values=ITE_ARRAYS * n_draws * n_new,
                     hint="Use summary() (computed in chunks of patients) or pass newdata "
                          "in chunks.")
        seed = self._seed_or(random_seed)
        lp0, lp1 = self.linear_predictors(newdata, new_trial=new_trial, own_trial=own_trial,
                                          random_seed=seed)
        if self.outcome == "time_to_event":
            return survival_effects.survival_by_arm(
                post, lp0, lp1, data=self.data, options=self.options, horizon=horizon,
                new_trial=new_trial, rng=np.random.default_rng(seed))
        return xr.apply_ufunc(expit, lp0), xr.apply_ufunc(expit, lp1), None

    def cate(self, by: str, newdata: pd.DataFrame | None = None, *, new_trial: bool = False,
             random_seed: int | None = None, horizon: float | None = None) -> xr.DataArray:
        """Conditional average treatment effect by the levels of column ``by``.

        The ITE averaged over the patients (of ``newdata`` or the fit data) in each
        level of ``by`` — any column of the frame, not only a covariate (Bouvier et
        al. 2024 report ITEs; this is their subgroup average, per posterior draw).

        Parameters
        ----------
        by : str
            Column of the frame defining the groups.
        newdata, new_trial, random_seed, horizon
            As in :meth:`ite` (``new_trial=False``: an average trial; ``True``: a new
            trial drawn per posterior draw).

        Returns
        -------
        xarray.DataArray
            Named ``cate``, dims (chain, draw, ``by``), levels sorted (a Categorical's in
            its categories' order); on the scale of
            :meth:`ite` (risk difference, or survival difference at the horizon).

        Raises
        ------
        DataError
            ``by`` is not a column, has missing values, or is numeric with more than
            :data:`~bayes_hte.estimators.base.MAX_CATE_LEVELS` distinct values (group it
            first, e.g. with ``pd.qcut``).
        """
        groups = self._check_by(by, newdata)
        ite = self.ite(newdata, new_trial=new_trial, random_seed=random_seed, horizon=horizon)
        return self._group_by(ite, groups, by)

    def hazard_ratio(self, newdata: pd.DataFrame | None = None) -> xr.DataArray:
        r"""Per-patient hazard ratio :math:`\exp(\gamma + \eta' x)` of a time-to-event
        S-learner, dims (chain, draw, patient).

        The proportional-hazards S-learner of Bouvier et al. (2024, Supplementary S1),
        in an average trial (the hazard ratio does not depend on the trial intercept;
        for R1 and FS the average trial's scale and effects are used).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Patients to predict for; default the fit patients.

        Returns
        -------
        xarray.DataArray
            Named ``hazard_ratio``, dims (chain, draw, patient): hazard ratio treated
            vs control (ratio scale; below 1 = lower hazard when treated).

        Raises
        ------
        ValueError
            A binary outcome, or a T-learner (its hazard ratio varies with time).
        """
        if self.outcome != "time_to_event":
            raise ValueError("hazard_ratio() is for time-to-event models")
        lp0, lp1 = self.linear_predictors(newdata)
        return survival_effects.hazard_ratio(lp0, lp1, options=self.options)

    def predictive_survival(self, times: Sequence[float] | np.ndarray, *, draws: int = 100,
                            random_seed: int = 0) -> xr.DataArray:
        """Model-implied survival per trial and arm at ``times`` (posterior predictive check).

        Each trial's own parameters (not an average or new trial), averaged over the
        trial arm's patients, to compare with the Kaplan–Meier curves of the data
        (:func:`bayes_hte.effects.survival.predictive_survival`).

        Parameters
        ----------
        times : array-like of float
            Times in the data's unit.
        draws : int
            Posterior draws used.
        random_seed : int
            Seed of the choice of draws.

        Returns
        -------
        xarray.DataArray
            Survival probabilities, dims (draw, study, arm, time); for
            :func:`bayes_hte.plots.plot_km_ppc`.

        Raises
        ------
        ValueError
            A binary outcome; ``times`` not a sequence of finite numbers >= 0 (text is
            not read as numbers); ``draws`` not an integer >= 1, ``random_seed`` not
            one >= 0.
        """
        if self.outcome != "time_to_event":
            raise ValueError("predictive_survival() is for time-to-event models")
        check_sampler_setting("draws", draws)
        check_sampler_setting("random_seed", random_seed)
        values = np.atleast_1d(np.asarray(times, dtype=object))
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"times must be a non-empty sequence of times, got {times!r}")
        t = np.array([check_real("times", v) for v in values])
        if (t < 0).any():
            raise ValueError(f"times must be >= 0 (the data's time unit), got "
                             f"{t[t < 0][:3].tolist()}")
        return survival_effects.predictive_survival(
            self._posterior(), t, data=self.data, options=self.options, draws=draws,
            random_seed=random_seed)

    def summary(self, *, ci_prob: float = 0.95, newdata: pd.DataFrame | None = None,
                new_trial: bool = False, horizon: float | None = None,
                prediction_interval: bool = True) -> pd.DataFrame:
        """Per-patient ITE table, with the new-trial prediction interval.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed intervals.
        newdata, new_trial, horizon
            As in :meth:`ite` (``new_trial=True``: every column summarises the
            new-trial draws, so ``ci_low`` and ``ci_high`` are the prediction interval).
        prediction_interval : bool
            With ``new_trial=False``: add ``pi_low`` and ``pi_high``, the equal-tailed
            interval of :meth:`ite` with ``new_trial=True`` — the treatment effect of
            this patient in a new trial drawn from the between-trial distribution (as
            ``ite_summary.csv`` of ``bayes-hte run``). ``False`` skips those draws.

        Returns
        -------
        pandas.DataFrame
            Indexed by patient (``0 .. n - 1``, the row's position in ``newdata`` or in
            the fit data, so ``df.reset_index(drop=True).join(table)`` joins it back);
            columns ``mean``, ``sd``, ``ci_low``, ``ci_high``
            summarising the (chain, draw) draws of :meth:`ite`, on its scale (risk
            difference, or survival difference at the horizon), then ``pi_low`` and
            ``pi_high`` (see ``prediction_interval``). Computed in chunks of
            patients (:data:`SUMMARY_CHUNK` draws x patients at a time), so memory stays
            bounded for any number of patients; the new-trial draws are the same in
            every chunk.
        """
        new_trial = check_flag("new_trial", new_trial)
        prediction_interval = check_flag("prediction_interval", prediction_interval)
        frame = self._frame(newdata)
        post = self._posterior()
        step = max(1, SUMMARY_CHUNK // (post.sizes["chain"] * post.sizes["draw"]))

        def chunk(rows: pd.DataFrame) -> pd.DataFrame:
            tab = effects.summarize(self.ite(rows, new_trial=new_trial, horizon=horizon),
                                    ci_prob=ci_prob)
            if prediction_interval and not new_trial:
                new = effects.summarize(self.ite(rows, new_trial=True, horizon=horizon),
                                        ci_prob=ci_prob)
                tab["pi_low"] = new["ci_low"].to_numpy()
                tab["pi_high"] = new["ci_high"].to_numpy()
            return tab

        parts = [chunk(frame.iloc[i:i + step]) for i in range(0, len(frame), step)]
        out = pd.concat(parts) if len(parts) > 1 else parts[0]
        out.index = pd.RangeIndex(len(frame), name=parts[0].index.name)
        return out

    def parameters(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """Convergence table of the population-level parameters (R-hat, ESS, MCSE).

        Parameters
        ----------
        ci_prob : float
            Probability of the credible intervals.

        Returns
        -------
        pandas.DataFrame
            One row per parameter element
            (:func:`bayes_hte.diagnostics.diagnostics_table`): mean, sd, equal-tailed
            interval, ESS, R-hat (rank-normalised and classic), MCSE, each only where it
            is defined (``attrs["notes"]`` says which are not, e.g. R-hat of one chain or
            of the constant plug-in ``tau_alpha`` of the stratified-intercept model); on
            the parameters' own scale (log-odds or log-hazard coefficients, SDs).

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        names = [v for v in POPULATION_VARS if v in self.idata["posterior"]]
        return diagnostics_table(self.idata, var_names=names, ci_prob=ci_prob)
