r"""One-stage IPD meta-analysis models for individualized treatment effects.

Five ways to handle between-trial heterogeneity (Bouvier et al. 2024, "Risk prediction
models in IPD-MA"), each as an S-learner or a T-learner (Künzel et al. 2019). For
patient :math:`i` in trial :math:`j` with covariates :math:`x_{ij}` and treatment
:math:`z_{ij}`, the S-learner's linear predictor is

.. math::

    \ell_{ij} = a_j + s_j\,(\theta' x_{ij} + \gamma z_{ij} + \eta' x_{ij} z_{ij}),

and the T-learner fits one such predictor per arm :math:`z`, without the treatment
terms: :math:`\ell_{ij} = a_{jz} + s_{jz}\,\theta_z' x_{ij}` (every parameter then has an
``arm`` dimension). The structures set :math:`a_j` and :math:`s_j`:

``naive`` (NA)
    :math:`a_j = \alpha`, :math:`s_j = 1`.
``random_intercept`` (RI)
    :math:`a_j = \alpha_j \sim N(\alpha, \tau_\alpha^2)`, :math:`s_j = 1`.
``stratified_intercept`` (SI)
    :math:`a_j = \alpha_j` with independent priors (fixed trial intercepts). The
    intercept of an average / new trial is the random-effects synthesis of the
    :math:`\alpha_j` (Debray et al. 2013; Royston et al. 2004, as the paper does),
    computed per posterior draw by :func:`synthesize_intercepts`.
``rank1`` (R1)
    :math:`a_j = \alpha_j \sim N(\alpha, \tau_\alpha^2)`,
    :math:`s_j = \phi_j \sim N(1, \tau_\phi^2)`: trial linear predictors share a
    direction and differ in size (Steyerberg et al. 2019). The deviations
    :math:`\phi_j - 1` are constrained to sum to zero over the included trials
    (``pm.ZeroSumNormal``): the average trial then has :math:`\phi = 1` exactly, which
    identifies the scale of :math:`\theta` (without it, :math:`\phi_j\theta` has a ridge
    when few trials are pooled); a new trial draws :math:`\phi_{new} \sim N(1, \tau_\phi^2)`.
``fully_stratified`` (FS)
    Each trial has its own intercept and effects
    :math:`b_j = (\alpha_j, \theta_j, \gamma_j, \eta_j)` pooled by
    :math:`b_j \sim MVN(b, V)`, :math:`V = \mathrm{diag}(\sigma) R\, \mathrm{diag}(\sigma)`,
    :math:`R \sim \mathrm{LKJ}(\nu)` (the multivariate meta-analysis of the paper, done
    jointly in one posterior).

The outcome is Bernoulli with a logit link. An average trial has the pooled
parameters (:math:`\alpha, \theta, \gamma, \eta`, :math:`\phi=1`); a new trial draws its
own intercept (and :math:`\phi`, or the whole :math:`b`) from the between-trial
distribution, see :func:`linear_predictors`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.models.likelihood import bernoulli_logit
from bayes_hte.models.priors import (
    PriorDict,
    lkj_corr_cholesky,
    make_dist,
    make_rv,
    random_effect,
    resolve_priors,
)
from bayes_hte.models.reduction import (
    attach_per_unit_model,
    binomial_likelihood,
    cell_design,
    describe,
    plan_reduction,
)
from bayes_hte.options import (  # noqa: F401  (re-exported for users of this module)
    ABBREVIATION,
    DEFAULT_TARGET_ACCEPT,
    HETEROGENEITY,
    LEARNERS,
    MIN_STUDIES,
    PARAMETERIZATIONS,
    DataReduction,
    Heterogeneity,
    InterceptForm,
    Learner,
    Parameterization,
    UninformativeTrial,
    check_choice,
)

ARMS = ("control", "treated")

#: Standard error given to the intercept anchor of a trial (arm) without patients in the
#: partially centred form (:func:`intercept_anchors`): large against any trial SD
#: :math:`\tau_\alpha`, so that the trial's weight :math:`w_j` is ~0 (logit scale).
NO_PATIENTS_SE = 1.0e4

#: SDs of the normal penalties on the trial intercepts and on the other coefficients of
#: the regression that gives the partially centred form's anchors
#: (:func:`intercept_anchors`): the default priors' SDs of ``alpha`` and ``theta``.
ANCHOR_PRIOR_SD = (2.5, 1.0)

#: Default priors (logit scale; effects per unit of the encoded covariates).
DEFAULT_PRIORS: PriorDict = {
    "alpha": {"dist": "Normal", "mu": 0.0, "sigma": 2.5},
    **{name: {"dist": "Normal", "mu": 0.0, "sigma": 1.0} for name in ("theta", "gamma", "eta")},
    "tau_alpha": {"dist": "HalfNormal", "sigma": 1.0},
    "alpha_study": {"dist": "Normal", "mu": 0.0, "sigma": 2.5},
    **{name: {"dist": "HalfNormal", "sigma": 0.5} for name in ("tau_phi", "tau_b")},
    "corr_b": {"dist": "LKJ", "eta": 2.0},
}

_USES = {
    "naive": {"alpha", "theta", "gamma", "eta"},
    "random_intercept": {"alpha", "theta", "gamma", "eta", "tau_alpha"},
    "stratified_intercept": {"alpha_study", "theta", "gamma", "eta"},
    "rank1": {"alpha", "theta", "gamma", "eta", "tau_alpha", "tau_phi"},
    "fully_stratified": {"alpha", "theta", "gamma", "eta", "tau_b", "corr_b"},
}


def default_priors(heterogeneity: Heterogeneity, learner: Learner = "s") -> PriorDict:
    """The default priors a structure uses (a fresh copy).

    Parameters
    ----------
    heterogeneity : str
        Between-trial structure, one of ``"naive"``, ``"random_intercept"``,
        ``"stratified_intercept"``, ``"rank1"``, ``"fully_stratified"``.
    learner : {"s", "t"}
        The T-learner has no treatment terms, so no ``gamma`` / ``eta`` priors.

    Returns
    -------
    dict of str to dict
        The entries of :data:`DEFAULT_PRIORS` the structure declares (logit or
        log-hazard scale), each a fresh dict.

    Raises
    ------
    ValueError
        An unknown structure or learner.
    """
    check_options(heterogeneity, learner)
    names = set(_USES[heterogeneity])
    if learner == "t":
        names -= {"gamma", "eta"}
    return {k: dict(v) for k, v in DEFAULT_PRIORS.items() if k in names}


def check_options(heterogeneity: str, learner: str, parameterization: str = "auto") -> None:
    """Raise ``ValueError`` for a structure, learner or parameterization not offered.

    Parameters
    ----------
    heterogeneity : str
        Between-trial structure (:data:`bayes_hte.options.HETEROGENEITY`).
    learner : str
        ``"s"`` or ``"t"``.
    parameterization : str
        ``"auto"``, ``"centered"``, ``"non_centered"`` or ``"anchored"``.

    Raises
    ------
    ValueError
        Any of them outside its allowed values (the message lists them).
    """
    check_choice("heterogeneity", heterogeneity, HETEROGENEITY)
    check_choice("learner", learner, LEARNERS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)


def choose_parameterization(data: IPDData, *, learner: Learner = "s",
                            heterogeneity: Heterogeneity = "random_intercept",
                            min_events: int = 100) -> InterceptForm:
    r"""Form of the random trial intercepts under ``parameterization="auto"``.

    Binary outcome, random-intercept and rank-1 models: the partially centred form
    (:func:`_partially_centered_intercepts`, with nutpie's low-rank mass matrix, which
    ``mass_matrix="auto"`` adds) whenever every trial (trial arm, for the T-learner)
    with patients has an event and a non-event, so that its intercept has a finite
    maximum-likelihood anchor; else the non-centred form. The partially centred form
    moves between the non-centred form (:math:`\tau_\alpha` small against a trial's
    standard error) and the centred one (large) inside one fit, so it needs no event
    threshold: no divergences on the INDANA-sized draw with four nearly equal
    intercepts, where the centred, non-centred and anchored forms diverge
    (``benchmarks/bench_few_large_trials.py``), and on the demo data (7 trials x 400
    patients, 68-132 events per trial) about 6-10 times the smallest bulk ESS of the
    non-centred form for RI-S and RI-T at 4 x 1000 draws, without divergences
    (``benchmarks/bench_ipdma_sampler_settings.py``, ``docs/ipdma.md``,
    ``docs/performance.md`` item 20); for R1-S and R1-T about 1.3-1.6 times the smallest
    bulk ESS of the non-centred form the demo data had before (item 23).

    Time-to-event models pick by events. A trial (trial arm) with at least
    ``min_events`` events and as many non-events pins its own intercept down (standard
    error about 0.1 on the log-hazard scale): then a random-intercept model gets the
    anchored form (:func:`_anchored_intercepts`; with the low-rank mass matrix about
    six times the effective draws per second of the centred form with a diagonal one
    on an INDANA-sized Weibull model: ``benchmarks/bench_sampling_levers.py``) and the
    rank-1 model the centred form. With fewer events per trial the posterior of
    :math:`\tau_\alpha` reaches towards zero, the centred form diverges there, and
    the non-centred form is the safe choice (measured on the demo data: see
    ``docs/ipdma.md``). Rank-1 scales :math:`\phi_j` and fully stratified coefficient
    vectors are weakly identified and are always non-centred under ``"auto"``.

    Trials without patients (the held-out trial of an IECV fold,
    :func:`bayes_hte.workflows.iecv.empty_trial_fold`) are not counted.

    Parameters
    ----------
    data : IPDData
        Data with a study column (binary outcome, or the event indicator of a
        time-to-event outcome).
    learner : {"s", "t"}
        With the T-learner each trial arm has its own intercept, so arms are counted
        separately.
    heterogeneity : {"random_intercept", "rank1"}
        The structure whose intercepts are random.
    min_events : int
        Fewest events the least informative trial (arm) of a time-to-event model must
        have for its centred (rank-1) or anchored (random-intercept) form.

    Returns
    -------
    {"partially_centered", "anchored", "centered", "non_centered"}
        Form of the random trial intercepts.
    """
    _, events, totals = _events_by_intercept(data, learner)
    present = totals > 0
    least = np.minimum(events, totals - events)[present].min()
    if data.outcome_type == "binary":
        return "partially_centered" if least >= 1 else "non_centered"
    if least < min_events:
        return "non_centered"
    if heterogeneity == "rank1":
        return "centered"
    return "anchored"


def _events_by_intercept(data: IPDData, learner: str
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each patient's trial-intercept group (trial, or trial x arm for the T-learner:
    ``2 * study + z``) and the events and patients per group."""
    group = data.study_idx * 2 + data.z if learner == "t" else data.study_idx
    n_groups = data.n_studies * (2 if learner == "t" else 1)
    return (group, np.bincount(group, weights=data.y, minlength=n_groups),
            np.bincount(group, minlength=n_groups))


def intercept_form(data: IPDData, *, heterogeneity: str, learner: str,
                   parameterization: str) -> str | None:
    """The form the random trial intercepts of a model get, ``"auto"`` resolved.

    Parameters
    ----------
    data : IPDData
        The fit data.
    heterogeneity, learner, parameterization : str
        As in :func:`build_ipdma_model`.

    Returns
    -------
    {"partially_centered", "anchored", "centered", "non_centered"} or None
        ``None`` for structures without random intercepts (naive, stratified
        intercept, fully stratified).
    """
    if heterogeneity not in ("random_intercept", "rank1"):
        return None
    if parameterization != "auto":
        return parameterization
    return choose_parameterization(data, learner=learner, heterogeneity=heterogeneity)


def _coords(data: IPDData, learner: str) -> dict:
    coords = {
        "patient": np.arange(data.n_patients),
        "study": list(map(str, data.study_labels)),
        "covariate": list(data.covariate_names),
    }
    if learner == "t":
        coords["arm"] = list(ARMS)
    return coords


def _coef_names(data: IPDData, learner: str) -> list[str]:
    """Names of the fully stratified coefficient vector b."""
    names = ["(intercept)"] + [f"x:{c}" for c in data.covariate_names]
    if learner == "s":
        names += ["(treatment)"] + [f"treatment:{c}" for c in data.covariate_names]
    return names


def build_ipdma_model(
    data: IPDData,
    *,
    heterogeneity: Heterogeneity = "random_intercept",
    learner: Learner = "s",
    parameterization: Parameterization = "auto",
    priors: Mapping | None = None,
    extra_studies: int = 0,
    data_reduction: DataReduction = "never",
) -> pm.Model:
    r"""Build the one-stage IPD-MA model for a binary outcome.

    The model of Bouvier et al. (2024), fitted jointly in one posterior: the
    heterogeneity structures and learners of the module docstring, a Bernoulli outcome
    with :math:`\mathrm{logit}\,P(y_{ij}=1) = \ell_{ij}`.

    Parameters
    ----------
    data : IPDData
        Validated data (binary outcome).
    heterogeneity : str
        Between-trial structure: ``"naive"``, ``"random_intercept"``,
        ``"stratified_intercept"``, ``"rank1"`` or ``"fully_stratified"`` (see the
        module docstring for the equations).
    learner : {"s", "t"}
        S-learner (treatment and treatment x covariate terms in one predictor) or
        T-learner (one predictor per arm; every parameter gains an ``arm`` dim).
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        Form of the trial-level effects (RI/R1 intercepts and scales, FS coefficient
        vectors). ``"auto"`` uses :func:`choose_parameterization` for the intercepts and
        the non-centred form for rank-1 scales and FS vectors. ``"anchored"`` and
        ``"partially_centered"`` write the centred RI/R1 intercepts in the variables of
        :func:`_anchored_intercepts` and :func:`_partially_centered_intercepts` (the
        same model; fewer divergences when a few large trials pin their intercepts
        down but not :math:`\tau_\alpha`; ``"partially_centered"`` for binary outcomes).
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS` by parameter name, e.g.
        ``{"tau_alpha": {"dist": "HalfNormal", "sigma": 0.5}}`` or ``{"theta": {"sigma": 2}}``.
    extra_studies : int
        Trials outside ``data`` that share the model's between-trial structure (the
        aggregate-data trials of :mod:`bayes_hte.models.ipd_aggregate`): they count
        towards the structure's minimum number of studies. 0 for an IPD-only model.
    data_reduction : {"never", "auto", "always"}
        Pool patients with the same covariates, arm and trial into one
        :math:`\mathrm{Binomial}(n_c, \mathrm{expit}\,\ell_c)` term per cell (the same
        posterior; :mod:`bayes_hte.models.reduction`): ``"auto"`` when there are at least
        two patients per cell on average (discrete covariates only), ``"always"``,
        or ``"never"`` (default here; :class:`bayes_hte.IPDMetaModel` uses ``"auto"``).

    Returns
    -------
    pymc.Model
        Dims ``patient``, ``study``, ``covariate`` (and ``arm``, ``coef``); observed
        variable ``y`` (data ``y_observed``) or, reduced, ``events`` (dims ``cell``, data
        ``events_observed``). ``model.bayes_hte`` records the family, options, the
        resolved priors and the form of the likelihood (``"data_reduction"``:
        :func:`bayes_hte.models.reduction.describe`).

    Raises
    ------
    ValueError
        An option outside its allowed values, or a prior for a parameter the structure
        does not have.
    DataError
        A time-to-event outcome, or fewer trials than the structure needs
        (:data:`bayes_hte.options.MIN_STUDIES`).

    Examples
    --------
    >>> from bayes_hte.simulate import bouvier2024
    >>> sim = bouvier2024(trials=3, patients_per_trial=100, seed=1)
    >>> data = IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
    ...                           covariates=["x1", "x2", "x3"])
    >>> model = build_ipdma_model(data, heterogeneity="rank1", learner="s")
    >>> sorted(model.named_vars)[:3]
    ['alpha', 'alpha_study', 'eta']
    """
    check_options(heterogeneity, learner, parameterization)
    if data.outcome_type != "binary":
        raise DataError("build_ipdma_model is for binary outcomes; for time-to-event data use "
                        "bayes_hte.models.survival.build_ipdma_survival_model")
    data.require_studies(max(MIN_STUDIES[heterogeneity] - int(extra_studies), 1),
                         model=heterogeneity)
    if heterogeneity in ("stratified_intercept", "fully_stratified"):
        data.warn_studies_without_events(model=heterogeneity, by_arm=learner == "t")
    resolved = resolve_priors(default_priors(heterogeneity, learner), priors,
                              family=f"ipdma/{heterogeneity}/{learner}")

    coords = _coords(data, learner)
    cells = plan_reduction(data, data_reduction)
    with pm.Model(coords=coords) as model:
        if cells is None:
            X = pm.Data("X", data.X, dims=("patient", "covariate"))
            z = pm.Data("treatment", data.z.astype("int64"), dims="patient")
            sidx = pm.Data("study_idx", data.study_idx, dims="patient")
        else:  # one likelihood term per (trial, arm, covariate row) cell
            X, z, sidx = cell_design(cells)
        lp = ipdma_linear_predictor(
            X, z, sidx, heterogeneity=heterogeneity, learner=learner, priors=resolved,
            parameterization=parameterization, coef_names=_coef_names(data, learner), data=data,
        )
        if cells is None:
            y = pm.Data("y_observed", data.y.astype("int64"), dims="patient")
            bernoulli_logit("y", lp, observed=y, dims="patient")
        else:
            binomial_likelihood(cells, data.y, lp)
    model.bayes_hte = {"family": "ipdma", "heterogeneity": heterogeneity, "learner": learner,
                       "outcome": "binary", "priors": resolved,
                       "parameterization": parameterization,
                       "intercept_form": intercept_form(
                           data, heterogeneity=heterogeneity, learner=learner,
                           parameterization=parameterization),
                       "data_reduction": describe(data, cells, data_reduction=data_reduction)}
    if cells is None and "alpha_anchor" in model.named_vars:
        model.bayes_hte["derived_data"] = functools.partial(_anchor_data, data, learner)
    if cells is not None:  # the per-patient form, for the pointwise log likelihood
        attach_per_unit_model(model, lambda: build_ipdma_model(
            data, heterogeneity=heterogeneity, learner=learner,
            parameterization=parameterization, priors=priors, extra_studies=extra_studies))
    return model


def ipdma_linear_predictor(X: pt.TensorVariable, z: pt.TensorVariable,
                           sidx: pt.TensorVariable, *, heterogeneity: str, learner: str,
                           priors: PriorDict, parameterization: str, coef_names: list[str],
                           data: IPDData) -> pt.TensorVariable:
    r"""Declare the structure's parameters in the current model and return the linear predictor.

    Shared by the binary and the time-to-event factories: the heterogeneity structures
    act on the linear predictor (log-odds or log-hazard) in the same way,
    :math:`\ell_{ij} = a_j + s_j(\theta'x_{ij} + \gamma z_{ij} + \eta'x_{ij}z_{ij})` for
    the S-learner (module docstring; Bouvier et al. 2024). Must be called inside a
    ``pm.Model`` that has the coords ``patient``, ``study``, ``covariate`` (and
    ``arm`` for the T-learner).

    Parameters
    ----------
    X : pytensor.tensor.TensorVariable
        Encoded covariates, shape (patient, covariate).
    z : pytensor.tensor.TensorVariable
        Treatment indicator (0/1, integer), shape (patient,).
    sidx : pytensor.tensor.TensorVariable
        Trial index of each patient (0 .. n_studies - 1), shape (patient,).
    heterogeneity : str
        Between-trial structure (:data:`bayes_hte.options.HETEROGENEITY`).
    learner : {"s", "t"}
        S- or T-learner.
    priors : dict of str to dict
        Resolved priors (:func:`default_priors` overlaid by the user's).
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        Form of the trial-level effects (see :func:`build_ipdma_model`).
    coef_names : list of str
        Labels of the fully stratified coefficient vector (coord ``coef``).
    data : IPDData
        The fit data (event counts for ``parameterization="auto"``, number of trials).

    Returns
    -------
    pytensor.tensor.TensorVariable
        Linear predictor of each patient in their own trial and arm, shape (patient,),
        on the log-odds (binary) or log-hazard (time to event) scale.
    """
    auto = parameterization == "auto"
    form = intercept_form(data, heterogeneity=heterogeneity, learner=learner,
                          parameterization=parameterization)
    weak_form = ("non_centered" if auto or parameterization in ("anchored", "partially_centered")
                 else parameterization)
    arm_dims: tuple = ("arm",) if learner == "t" else ()
    s_dims = ("study", *arm_dims)

    if heterogeneity == "fully_stratified":
        return _fully_stratified(X, z, sidx, learner=learner, priors=priors,
                                 parameterization=weak_form, coef_names=coef_names)

    theta = make_rv("theta", priors["theta"], dims=(*arm_dims, "covariate"))
    if learner == "s":
        gamma = make_rv("gamma", priors["gamma"])
        eta = make_rv("eta", priors["eta"], dims="covariate")
        effect = pt.dot(X, theta) + z * (gamma + pt.dot(X, eta))
    else:
        effect = (X * theta[z]).sum(-1)  # each patient's own arm

    if heterogeneity == "naive":
        alpha = make_rv("alpha", priors["alpha"], dims=arm_dims)
        intercept = alpha[z] if learner == "t" else alpha
    elif heterogeneity == "stratified_intercept":
        a_s = make_rv("alpha_study", priors["alpha_study"], dims=s_dims)
        intercept = a_s[sidx, z] if learner == "t" else a_s[sidx]
    else:  # random_intercept, rank1
        if form == "anchored":
            a_s = _anchored_intercepts(priors, data.n_studies, arm_dims=arm_dims,
                                       s_dims=s_dims)
        elif form == "partially_centered":
            a_s = _partially_centered_intercepts(priors, *intercept_anchors(data, learner),
                                                 arm_dims=arm_dims, s_dims=s_dims)
        else:
            alpha = make_rv("alpha", priors["alpha"], dims=arm_dims)
            tau = make_rv("tau_alpha", priors["tau_alpha"], dims=arm_dims)
            a_s = random_effect("alpha_study", alpha, tau, dims=s_dims,
                                 parameterization=form)
        intercept = a_s[sidx, z] if learner == "t" else a_s[sidx]

    if heterogeneity == "rank1":
        tau_phi = make_rv("tau_phi", priors["tau_phi"], dims=arm_dims)
        # deviations of phi_j from 1 sum to zero over the trials (per arm): the average
        # included trial has phi = 1 exactly, which identifies theta's scale
        zs_dims = (*arm_dims, "study")
        sd = tau_phi[:, None] if learner == "t" else tau_phi
        if weak_form == "centered":
            dev = pm.ZeroSumNormal("phi_dev", sigma=sd, dims=zs_dims)
        else:
            dev = sd * pm.ZeroSumNormal("phi_dev_raw", sigma=1.0, dims=zs_dims)
        phi = pm.Deterministic("phi", 1.0 + (dev.T if learner == "t" else dev), dims=s_dims)
        scale = phi[sidx, z] if learner == "t" else phi[sidx]
        effect = scale * effect
    return intercept + effect


def _anchored_intercepts(priors: PriorDict, n_studies: int, *, arm_dims: tuple,
                         s_dims: tuple):
    r"""Random trial intercepts sampled directly, their mean anchored to them.

    The model is that of the centred form, :math:`\alpha_j \sim N(\alpha, \tau^2)`
    with priors on :math:`\alpha` and :math:`\tau`, written in the variables
    :math:`(\alpha_j, \tau, u)` with

    .. math::

        \alpha = \bar\alpha + \tau u / \sqrt{J}, \qquad u \sim N(0, 1),

    where :math:`\bar\alpha` is the mean of the :math:`J` trial intercepts. Since
    :math:`\sum_j(\alpha_j-\alpha)^2 = S + J(\bar\alpha-\alpha)^2` with
    :math:`S=\sum_j(\alpha_j-\bar\alpha)^2`, and the Jacobian of
    :math:`u \mapsto \alpha` is :math:`\tau/\sqrt J`, the joint density becomes

    .. math::

        p(\alpha)\,p(\tau)\,\tau^{-(J-1)} e^{-S/(2\tau^2)}\; \phi(u)

    (up to a constant), added as potentials (``alpha_study`` itself is ``Flat``). When
    large trials pin each :math:`\alpha_j` down, :math:`S` is almost fixed and the
    posterior of :math:`(\alpha_j, \tau, u)` has no funnel, while in the centred form
    :math:`\alpha`'s conditional SD :math:`\tau/\sqrt J` shrinks with :math:`\tau`
    (the divergences of ``benchmarks/bench_ipdma_indana.py``).
    """
    a_s = pm.Flat("alpha_study", dims=s_dims)
    tau = make_rv("tau_alpha", priors["tau_alpha"], dims=arm_dims)
    u = pm.Normal("alpha_anchor", 0.0, 1.0, dims=arm_dims)
    abar = a_s.mean(axis=0)
    spread = ((a_s - abar) ** 2).sum(axis=0)
    alpha = pm.Deterministic("alpha", abar + tau * u / np.sqrt(n_studies), dims=arm_dims)
    pm.Potential("alpha_study_density",
                 (-(n_studies - 1) * pt.log(tau) - spread / (2.0 * tau**2)).sum())
    pm.Potential("alpha_prior", pm.logp(make_dist(priors["alpha"]), alpha).sum())
    return a_s


def intercept_anchors(data: IPDData, learner: str, *,
                      uninformative: UninformativeTrial = "raise"
                      ) -> tuple[np.ndarray, np.ndarray]:
    r"""Penalised maximum-likelihood trial intercepts and their conditional standard errors.

    A logistic regression with one intercept per trial (trial arm, for the
    T-learner) and the learner's fixed covariate and treatment terms, fitted by
    Newton–Raphson (iteratively reweighted least squares) on the patients, with normal
    penalties of SD :data:`ANCHOR_PRIOR_SD` (the default priors' 2.5 on intercepts, 1
    on the other coefficients; the posterior mode under those priors, finite under
    separation); the standard error of intercept :math:`j` is
    :math:`(\sum_{i \in j} p_i(1-p_i) + 2.5^{-2})^{-1/2}`, its SD given the other
    coefficients. Used only as constants of the
    ``"partially_centered"`` form (:func:`_partially_centered_intercepts`): any values
    give the same posterior, close ones a posterior without a funnel.

    Parameters
    ----------
    data : IPDData
        Binary outcome with a study column; every trial (arm) with patients has events
        and non-events, unless ``uninformative="non_centered"``.
    learner : {"s", "t"}
        The learner whose fixed terms the regression includes.
    uninformative : {"raise", "non_centered"}
        A trial (arm) with patients but no events or only events (its intercept has no
        finite maximum-likelihood estimate): raise, or give it the anchor of a trial
        without patients and leave its patients out of the regression.

    Returns
    -------
    estimate, se : numpy.ndarray
        Logit-scale intercepts and standard errors, shape (study,) for the S-learner,
        (study, arm) for the T-learner. A trial (arm) without patients (the held-out
        trial of an IECV fold) gets estimate 0 and standard error
        :data:`NO_PATIENTS_SE`: its weight :math:`w_j` is then ~0 and its intercept
        non-centred, :math:`\alpha_j \approx \alpha + \tau_\alpha r_j`.

    Raises
    ------
    DataError
        A time-to-event outcome (the form is offered for binary outcomes), or, with
        ``uninformative="raise"``, a trial (arm) with patients but no events or no
        non-events (named in the message).
    """
    if data.outcome_type != "binary":
        raise DataError("parameterization='partially_centered' is for binary outcomes; "
                        "use 'anchored', 'centered' or 'non_centered' for time-to-event data")
    group, events, totals = _events_by_intercept(data, learner)
    n_groups = events.size
    degenerate = (totals > 0) & ((events == 0) | (events == totals))
    if degenerate.any() and uninformative == "raise":
        g = int(np.flatnonzero(degenerate)[0])
        where = (f"trial {data.study_labels[g // 2]!r}, {ARMS[g % 2]} arm" if learner == "t"
                 else f"trial {data.study_labels[g]!r}")
        raise DataError(f"parameterization='partially_centered' needs events and non-events "
                        f"in every trial{' arm' if learner == 't' else ''}: {where} has "
                        f"{int(events[g])} events in {int(totals[g])} patients (its intercept "
                        f"has no finite maximum-likelihood estimate); use 'non_centered'")
    none = (totals == 0) | degenerate  # no anchor: the non-centred limit
    keep = ~none[group]
    X = np.asarray(data.X, dtype=float)[keep]
    z = data.z.astype(float)[keep, None]
    fixed = np.hstack([X * (1 - z), X * z]) if learner == "t" else np.hstack([X, z, X * z])
    design = np.hstack([np.eye(n_groups)[group[keep]], fixed])
    y = data.y.astype(float)[keep]
    # normal penalties with the default priors' SDs keep the mode finite under
    # (quasi-)separation, e.g. a small trial whose few events a covariate separates
    penalty = np.r_[np.full(n_groups, ANCHOR_PRIOR_SD[0] ** -2),
                    np.full(fixed.shape[1], ANCHOR_PRIOR_SD[1] ** -2)]
    beta = np.zeros(design.shape[1])
    beta[:n_groups] = np.where(none, 0.0, np.log((events + 0.5) / (totals - events + 0.5)))
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        w = p * (1.0 - p)
        info = design.T @ (design * w[:, None]) + np.diag(penalty)
        step = np.linalg.solve(info, design.T @ (y - p) - penalty * beta)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = 1.0 / (1.0 + np.exp(-(design @ beta)))
    precision = np.bincount(group[keep], weights=p * (1.0 - p), minlength=n_groups)
    estimate = np.where(none, 0.0, beta[:n_groups])
    se = np.where(none, NO_PATIENTS_SE, 1.0 / np.sqrt(precision + penalty[0]))
    shape = (data.n_studies, 2) if learner == "t" else (data.n_studies,)
    return estimate.reshape(shape), se.reshape(shape)


def _anchor_data(data: IPDData, learner: str, observed: Mapping[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """The partially centred form's anchors (:func:`intercept_anchors`) for other outcomes
    of the same patients: ``model.bayes_hte["derived_data"]``, used by simulation-based
    calibration, which swaps simulated outcomes (``observed["y_observed"]``, shape
    (patient,)) into the fitted model. A trial (arm) with no events or only events gets
    the anchor of a trial without patients (non-centred), where ``"auto"`` would have
    made the whole model non-centred."""
    y = np.asarray(observed["y_observed"]).astype(data.y.dtype)
    estimate, se = intercept_anchors(replace(data, y=y), learner,
                                     uninformative="non_centered")
    return {"alpha_anchor": estimate, "alpha_anchor_se": se}


def _partially_centered_intercepts(priors: PriorDict, estimate: np.ndarray, se: np.ndarray,
                                   *, arm_dims: tuple, s_dims: tuple):
    r"""Random trial intercepts and their mean centred by how much the data pin them down.

    The model is that of the centred form, :math:`\alpha_j \sim N(\alpha, \tau^2)` with
    priors on :math:`\alpha` and :math:`\tau`, written in the variables
    :math:`(\tau, u, r_j)` with

    .. math::

        \alpha = m(\tau) + \sqrt{V(\tau)}\,u, \qquad
        \alpha_j = w_j \hat\alpha_j + (1 - w_j)\,\alpha + \sqrt{w_j}\, s_j r_j,

    .. math::

        w_j = \frac{\tau^2}{\tau^2 + s_j^2}, \qquad
        V(\tau)^{-1} = \sum_j \frac{1}{\tau^2 + s_j^2}, \qquad
        m(\tau) = V(\tau) \sum_j \frac{\hat\alpha_j}{\tau^2 + s_j^2},

    where :math:`\hat\alpha_j` and :math:`s_j` are the trial's (penalised)
    maximum-likelihood intercept and its standard error (:func:`intercept_anchors`).
    If trial :math:`j`'s likelihood for :math:`\alpha_j` were
    :math:`N(\hat\alpha_j, s_j^2)` (and the prior on :math:`\alpha` flat),
    :math:`\alpha_j` given :math:`(\alpha, \tau)` would be
    :math:`N(w_j\hat\alpha_j + (1-w_j)\alpha,\ w_j s_j^2)` and :math:`\alpha` given
    :math:`\tau` would be :math:`N(m, V)`, so :math:`u` and :math:`r_j` would be
    standard normal whatever :math:`\tau`: no funnel between :math:`\tau` and either the
    trial intercepts or their mean. The intercepts are non-centred where
    :math:`\tau \ll s_j` and centred where :math:`\tau \gg s_j`, the weights moving
    with :math:`\tau` (the data-dependent partial non-centring of Papaspiliopoulos,
    Roberts & Sköld 2007, Statistical Science 22:59, with the weights of the normal
    hierarchical model). The transformation is triangular with Jacobian
    :math:`\sqrt{V}\prod_j \sqrt{w_j}\,s_j`; the prior of :math:`\alpha`, the density of
    the :math:`\alpha_j` and the log Jacobian are added as potentials, the latter two
    written without dividing by :math:`\tau`:

    .. math::

        \log N(\alpha_j \mid \alpha, \tau^2) + \log(\sqrt{w_j} s_j)
        = -\tfrac12 \rho_j^2 + \log s_j - \tfrac12 \log(\tau^2 + s_j^2) + c,
        \quad \rho_j = \frac{\tau(\hat\alpha_j - \alpha)}{\tau^2 + s_j^2}
        + \frac{s_j r_j}{\sqrt{\tau^2 + s_j^2}}.

    :math:`u` (``alpha_z``) and :math:`r_j` (``alpha_study_z``) are ``Flat``;
    ``alpha`` and ``alpha_study`` are deterministics. :math:`\hat\alpha_j` and
    :math:`s_j` are the data containers ``alpha_anchor`` and ``alpha_anchor_se``
    (dims ``study`` and, T-learner, ``arm``), so that the folds of a
    cross-validation with the same number of trials share one compiled log density.
    """
    # data containers, not constants: a model of other trials of the same number (an
    # IECV fold) is the same compiled function with other anchors swapped in
    estimate = pm.Data("alpha_anchor", estimate, dims=s_dims)
    se = pm.Data("alpha_anchor_se", se, dims=s_dims)
    tau = make_rv("tau_alpha", priors["tau_alpha"], dims=arm_dims)
    u = pm.Flat("alpha_z", dims=arm_dims)
    r = pm.Flat("alpha_study_z", dims=s_dims)
    total = tau**2 + se**2                                   # (study, *arm)
    precision = (1.0 / total).sum(axis=0)
    mean = (estimate / total).sum(axis=0) / precision
    alpha = pm.Deterministic("alpha", mean + u / pt.sqrt(precision), dims=arm_dims)
    weight = tau**2 / total
    a_s = pm.Deterministic(
        "alpha_study", weight * estimate + (1.0 - weight) * alpha + pt.sqrt(weight) * se * r,
        dims=s_dims)
    rho = tau * (estimate - alpha) / total + se * r / pt.sqrt(total)
    pm.Potential("alpha_study_density",
                 (-0.5 * rho**2 - 0.5 * np.log(2 * np.pi) + pt.log(se)
                  - 0.5 * pt.log(total)).sum() - 0.5 * pt.log(precision).sum())
    pm.Potential("alpha_prior", pm.logp(make_dist(priors["alpha"]), alpha).sum())
    return a_s


def _fully_stratified(X, z, sidx, *, learner, priors, parameterization, coef_names):
    model = pm.modelcontext(None)
    model.add_coord("coef", coef_names)
    model.add_coord("coef_", coef_names)
    n_coef = len(coef_names)
    arms = [None] if learner == "s" else [0, 1]
    arm_dims: tuple = ("arm",) if learner == "t" else ()

    alpha = make_rv("alpha", priors["alpha"], dims=arm_dims)
    theta = make_rv("theta", priors["theta"], dims=(*arm_dims, "covariate"))
    if learner == "s":
        gamma = make_rv("gamma", priors["gamma"])
        eta = make_rv("eta", priors["eta"], dims="covariate")
        mean = pt.concatenate([alpha[None], theta, gamma[None], eta])
        design = pt.concatenate([pt.ones((X.shape[0], 1)), X, z[:, None],
                                 X * z[:, None]], axis=1)
        means = [mean]
    else:
        means = [pt.concatenate([alpha[a][None], theta[a]]) for a in arms]
        design = pt.concatenate([pt.ones((X.shape[0], 1)), X], axis=1)

    b_arms = []
    for a, mean in zip(arms, means, strict=True):
        suffix = "" if a is None else f"_{ARMS[a]}"
        # SDs and correlation kept apart (LKJ Cholesky factor of the correlation
        # matrix), so that the non-centred form only has the plain sd funnel to undo
        sds = make_rv(f"tau_b{suffix}", priors["tau_b"], dims="coef")
        corr_chol = lkj_corr_cholesky(f"corr_chol_b{suffix}", n=n_coef,
                                      eta=priors["corr_b"]["eta"], dims=("coef", "coef_"),
                                      cpc_name=f"corr_z_b{suffix}", cpc_dim="coef_pair")
        pm.Deterministic(f"corr_b{suffix}", corr_chol @ corr_chol.T, dims=("coef", "coef_"))
        chol = pm.Deterministic(f"chol_cov{suffix}", sds[:, None] * corr_chol,
                                dims=("coef", "coef_"))
        if parameterization == "centered":
            b = pm.MvNormal(f"b_study{suffix}", mu=mean, chol=chol, dims=("study", "coef"))
        else:
            raw = pm.Normal(f"b_study{suffix}_raw", 0.0, 1.0, dims=("study", "coef"))
            b = pm.Deterministic(f"b_study{suffix}", mean + (raw @ corr_chol.T) * sds,
                                 dims=("study", "coef"))
        b_arms.append(b)

    if learner == "s":
        return (design * b_arms[0][sidx]).sum(-1)
    b_both = pt.stack(b_arms, axis=1)  # (study, arm, coef)
    return (design * b_both[sidx, z]).sum(-1)
