r"""IPD and aggregate-data trials in one model: multilevel meta-regression (ML-NMR).

The individual-level model is the one-stage S-learner of :mod:`bayes_hte.models.ipdma`:
for patient :math:`i` of IPD trial :math:`j`,
:math:`\mathrm{logit}\,P(y_{ij}=1) = a_j + \theta'x_{ij} + z_{ij}(\gamma + \eta'x_{ij})`.
A trial :math:`k` that reports only events :math:`r_{kz}` out of :math:`n_{kz}` per arm
enters through the same model integrated over its covariate distribution
(Phillippo et al. 2020, JRSS A 183:1189–1210, eq. 5; R package multinma):

.. math::

    r_{kz} \sim \mathrm{Binomial}(n_{kz}, \bar p_{kz}), \qquad
    \bar p_{kz} = \frac1M \sum_{m=1}^M \mathrm{expit}\{a_k + \theta'x_{km}
        + z(\gamma + \eta'x_{km})\},

with the integration points :math:`x_{km}` of
:class:`bayes_hte.data.integration.AggregateData` (quasi-Monte Carlo, drawn once, stored
as ``pm.Data``). The aggregate trials' intercepts follow the IPD trials' structure:
naive, :math:`a_k = \alpha`; random intercept, :math:`a_k \sim N(\alpha, \tau_\alpha^2)`
(the same :math:`\alpha, \tau_\alpha`); stratified intercept, own intercepts with the
``alpha_study`` prior. :math:`\theta, \gamma, \eta` are shared: the aggregate trials
inform the effect modifiers only through the between-trial differences of their
covariate distributions (shared effect modifiers and conditional constancy of relative
effects, Phillippo et al. 2020, section 2).

Rank-1 (a scale :math:`\phi_k` per trial), fully stratified (a coefficient vector per
trial) and the T-learner (one intercept per trial arm) give each aggregate trial as many
or more own parameters than its two arm counts can inform, so they are refused.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_hte.data.integration import ARM_LABELS, AggregateData
from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.models.ipdma import build_ipdma_model
from bayes_hte.models.priors import PriorDict, make_rv, random_effect
from bayes_hte.options import CenteredForm, Heterogeneity, Learner, Parameterization

#: Structures whose aggregate trials are identified by two arm counts each.
AGGREGATE_STRUCTURES: tuple[str, ...] = ("naive", "random_intercept", "stratified_intercept")

_WHY = {
    "rank1": "rank-1 gives every trial its own scale phi_j of the linear predictor as well "
             "as its intercept, and an aggregate trial reports only two arm-level counts, "
             "which cannot separate phi_j from the shared effects",
    "fully_stratified": "fully stratified gives every trial its own intercept and "
                        "coefficient vector, far more than the two arm-level counts of an "
                        "aggregate trial identify",
    "t": "the T-learner gives every trial one intercept per arm, which fits an aggregate "
         "trial's two arm counts exactly and leaves nothing for the shared effects",
}


def check_aggregate_structure(heterogeneity: str, learner: str) -> None:
    """Raise :class:`DataError` for a structure the aggregate trials do not identify.

    Parameters
    ----------
    heterogeneity : str
        Between-trial structure (:data:`bayes_hte.options.HETEROGENEITY`).
    learner : {"s", "t"}
        S- or T-learner.

    Raises
    ------
    DataError
        ``rank1``, ``fully_stratified`` or the T-learner (the message says why), as
        multilevel meta-regression needs the aggregate trials' own parameters to be
        fewer than their reported counts (Phillippo et al. 2020, section 3).
    """
    if learner == "t":
        raise DataError(f"aggregate-data trials need learner='s': {_WHY['t']}")
    if heterogeneity not in AGGREGATE_STRUCTURES:
        raise DataError(f"aggregate-data trials cannot be added to heterogeneity="
                        f"{heterogeneity!r}: {_WHY[heterogeneity]}; use one of "
                        f"{list(AGGREGATE_STRUCTURES)}")


def aggregate_form(aggregate: AggregateData, parameterization: str,
                   *, min_events: int = 100) -> CenteredForm:
    """Form of the aggregate trials' random intercepts.

    ``"centered"`` and ``"non_centered"`` as given; ``"auto"``, ``"anchored"`` and
    ``"partially_centered"`` (which act on the IPD intercepts only): centred when every
    aggregate trial has at least ``min_events`` events and as many non-events (its
    intercept is then pinned down, as in
    :func:`bayes_hte.models.ipdma.choose_parameterization`), else non-centred.

    Parameters
    ----------
    aggregate : AggregateData
        The aggregate trials.
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        The model's parameterization.
    min_events : int
        Fewest events (and non-events) the least informative aggregate trial must have.

    Returns
    -------
    {"centered", "non_centered"}
        The form of ``alpha_aggregate``.
    """
    if parameterization in ("centered", "non_centered"):
        return parameterization
    events = aggregate.events.sum(axis=1)
    totals = aggregate.totals.sum(axis=1)
    least = np.minimum(events, totals - events).min()
    return "centered" if least >= min_events else "non_centered"


def add_aggregate_likelihood(aggregate: AggregateData, *, heterogeneity: Heterogeneity,
                             priors: PriorDict, parameterization: Parameterization = "auto",
                             model: pm.Model | None = None) -> pt.TensorVariable:
    r"""Add the aggregate trials' binomial likelihood to a one-stage IPD-MA model.

    Inside a model built by :func:`bayes_hte.models.ipdma.build_ipdma_model` (S-learner,
    naive / random / stratified intercept), declares the coords ``aggregate_study``,
    ``point`` and ``arm``, the data ``aggregate_points`` (aggregate_study, point,
    covariate), ``aggregate_n`` and ``aggregate_events_observed`` (aggregate_study, arm),
    the intercepts ``alpha_aggregate`` (random intercept: :math:`N(\alpha,
    \tau_\alpha^2)` with the IPD's :math:`\alpha, \tau_\alpha`; stratified: the
    ``alpha_study`` prior; naive: none, :math:`\alpha` is used), the integrated arm risks
    ``aggregate_risk`` and the observed ``aggregate_events``
    :math:`\sim \mathrm{Binomial}(n_{kz}, \bar p_{kz})` (module docstring; Phillippo et
    al. 2020, eq. 5).

    Parameters
    ----------
    aggregate : AggregateData
        The aggregate trials and their integration points.
    heterogeneity : {"naive", "random_intercept", "stratified_intercept"}
        The IPD model's structure.
    priors : dict of str to dict
        The IPD model's resolved priors (``model.bayes_hte["priors"]``).
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        Form of the random aggregate intercepts (:func:`aggregate_form`).
    model : pymc.Model, optional
        The model to extend (default: the model in context).

    Returns
    -------
    pytensor.tensor.TensorVariable
        The integrated risks :math:`\bar p_{kz}`, shape (aggregate_study, arm), arms
        ``("control", "treated")``.

    Raises
    ------
    DataError
        A structure outside :data:`AGGREGATE_STRUCTURES`, or points whose covariates
        differ from the model's.
    """
    model = pm.modelcontext(model)
    check_aggregate_structure(heterogeneity, "s")
    names = list(model.coords["covariate"])
    if list(aggregate.covariate_names) != names:
        raise DataError(f"the integration points have covariates "
                        f"{list(aggregate.covariate_names)}, the model {names}")
    with model:
        model.add_coord("aggregate_study", list(aggregate.labels))
        model.add_coord("point", np.arange(aggregate.n_points))
        if "arm" not in model.coords:
            model.add_coord("arm", list(ARM_LABELS))
        pts = pm.Data("aggregate_points", aggregate.points,
                      dims=("aggregate_study", "point", "covariate"))
        n = pm.Data("aggregate_n", aggregate.totals, dims=("aggregate_study", "arm"))
        r = pm.Data("aggregate_events_observed", aggregate.events,
                    dims=("aggregate_study", "arm"))
        theta, gamma, eta = model["theta"], model["gamma"], model["eta"]
        if heterogeneity == "naive":
            a_k = model["alpha"] * pt.ones(len(aggregate.labels))
        elif heterogeneity == "random_intercept":
            a_k = random_effect("alpha_aggregate", model["alpha"], model["tau_alpha"],
                                dims="aggregate_study",
                                parameterization=aggregate_form(aggregate, parameterization))
        else:
            a_k = make_rv("alpha_aggregate", priors["alpha_study"], dims="aggregate_study")
        lin0 = a_k[:, None] + pt.dot(pts, theta)            # (aggregate_study, point)
        lin1 = lin0 + gamma + pt.dot(pts, eta)
        risk = pt.stack([pm.math.sigmoid(lin0).mean(axis=1),
                         pm.math.sigmoid(lin1).mean(axis=1)], axis=1)
        risk = pm.Deterministic("aggregate_risk", risk, dims=("aggregate_study", "arm"))
        pm.Binomial("aggregate_events", n=n, p=pt.clip(risk, 1e-12, 1 - 1e-12), observed=r,
                    dims=("aggregate_study", "arm"))
    return risk


def build_ipd_aggregate_model(
    data: IPDData,
    aggregate: AggregateData,
    *,
    heterogeneity: Heterogeneity = "random_intercept",
    learner: Learner = "s",
    parameterization: Parameterization = "auto",
    priors: Mapping | None = None,
) -> pm.Model:
    r"""Build the joint model of IPD and aggregate-data trials (binary outcome).

    The one-stage IPD model of :func:`bayes_hte.models.ipdma.build_ipdma_model`
    (variables and dims unchanged) plus the aggregate trials' integrated binomial
    likelihood of :func:`add_aggregate_likelihood`: multilevel meta-regression of
    Phillippo et al. (2020) for a pairwise meta-analysis (multinma's ``nma()`` with
    ``add_integration()``; ``aggregate_events`` is its arm-level binomial likelihood).

    Parameters
    ----------
    data : IPDData
        The IPD trials (binary outcome).
    aggregate : AggregateData
        The aggregate trials with their integration points.
    heterogeneity : {"naive", "random_intercept", "stratified_intercept"}
        Between-trial structure, shared by both kinds of trials.
    learner : {"s"}
        Only the S-learner (see :func:`check_aggregate_structure`).
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        Form of the random intercepts (IPD: as in ``build_ipdma_model``; aggregate:
        :func:`aggregate_form`).
    priors : mapping, optional
        Overrides of :data:`bayes_hte.models.ipdma.DEFAULT_PRIORS`.

    Returns
    -------
    pymc.Model
        Dims ``patient``, ``study``, ``covariate``, ``aggregate_study``, ``point``,
        ``arm``; observed ``y`` (per patient) and ``aggregate_events`` (per aggregate
        trial arm). ``model.bayes_hte`` adds ``"aggregate"``: the labels and the number
        of integration points.

    Raises
    ------
    DataError
        A structure or learner the aggregate trials do not identify, a time-to-event
        IPD, or any error of ``build_ipdma_model`` (the aggregate trials count towards
        the structure's minimum number of studies, so one IPD trial can do).
    ValueError
        An option outside its allowed values or an unknown prior.
    """
    check_aggregate_structure(heterogeneity, learner)
    model = build_ipdma_model(data, heterogeneity=heterogeneity, learner=learner,
                              parameterization=parameterization, priors=priors,
                              extra_studies=len(aggregate.labels))
    add_aggregate_likelihood(aggregate, heterogeneity=heterogeneity,
                             priors=model.bayes_hte["priors"],
                             parameterization=parameterization, model=model)
    model.bayes_hte["aggregate"] = {"labels": list(aggregate.labels),
                                    "integration_points": aggregate.n_points}
    return model
