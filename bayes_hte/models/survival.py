r"""Time-to-event one-stage IPD-MA models (proportional hazards, right censoring).

The heterogeneity structures and learners of :mod:`bayes_hte.models.ipdma` act on the
log-hazard linear predictor :math:`\ell_{ij}` exactly as on the log-odds in the binary
case (Bouvier et al. 2024, Supplementary S1). The hazard of patient :math:`i` in trial
:math:`j` at time :math:`t` (measured in units of the data's median follow-up, see
:func:`time_scale`) is

.. math::

    h_{ij}(t) = h_0(t)\, \exp(\ell_{ij}),

with one of two baselines:

``"weibull"``
    :math:`h_0(t) = k\,t^{k-1}`, :math:`H_0(t) = t^k`, :math:`k = e^{\kappa}`. The shape
    is shared by all trials for NA, RI and R1 and trial-specific for the stratified
    structures (SI, FS): :math:`\kappa_j \sim N(\kappa, \tau_\kappa^2)` (partially
    pooled, so that an average or new trial has a shape too).
``"piecewise"``
    a piecewise-constant hazard :math:`h_0(t) = \exp(\lambda_m)` on
    :math:`[c_{m-1}, c_m)` — the Poisson / piecewise-exponential form of the Cox model,
    its Bayesian counterpart. Cut points are user-set or quantiles of the event times;
    the :math:`\lambda_m` sum to zero (the level is the intercept) and share their
    pattern across trials, trials differing by level (and, for FS, by effects).

With event indicator :math:`d_{ij}` the log likelihood is
:math:`d_{ij}(\log h_0(t_{ij}) + \ell_{ij}) - H_0(t_{ij}) e^{\ell_{ij}}`. The T-learner
gives every baseline parameter an ``arm`` dimension. The ITE at horizon :math:`h` is
:math:`S(h|x,1) - S(h|x,0)` with :math:`S(h|x,z) = \exp(-H_0(h) e^{\ell(x,z)})`:
positive values mean longer survival when treated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_hte.data.ipd import IPDData
from bayes_hte.data.survival import exposure_matrix, median_follow_up
from bayes_hte.errors import DataError, format_rows
from bayes_hte.models import ipdma
from bayes_hte.models.priors import PriorDict, make_rv, resolve_priors
from bayes_hte.models.reduction import (
    attach_per_unit_model,
    cell_design,
    describe,
    piecewise_poisson_likelihood,
    plan_reduction,
)
from bayes_hte.options import STRATIFIED, Baseline, DataReduction, Heterogeneity, Learner

#: Default priors of the baselines (time in units of the median follow-up).
BASELINE_PRIORS: PriorDict = {
    "log_shape": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "tau_log_shape": {"dist": "HalfNormal", "sigma": 0.3},
    "log_lambda": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
}


def time_scale(data: IPDData) -> float:
    """Times are divided by the median follow-up (reverse Kaplan–Meier) inside the model.

    Parameters
    ----------
    data : IPDData
        Time-to-event data.

    Returns
    -------
    float
        The median follow-up, in the data's time unit (reverse Kaplan–Meier: censoring
        treated as the event).
    """
    return median_follow_up(data.t, data.y)


def default_cuts(data: IPDData, n_intervals: int = 6) -> np.ndarray:
    """Inner cut points (original time units) at quantiles of the event times.

    Parameters
    ----------
    data : IPDData
        Time-to-event data.
    n_intervals : int
        Number of intervals of the piecewise-constant baseline (``n_intervals - 1``
        inner cuts at the equally spaced quantiles of the event times).

    Returns
    -------
    numpy.ndarray
        Increasing positive cut points, data's time unit (tied quantiles merged, so
        possibly fewer than ``n_intervals - 1``).

    Raises
    ------
    ValueError
        ``n_intervals`` below 1.
    """
    if n_intervals < 1:
        raise ValueError(f"n_intervals must be >= 1, got {n_intervals}")
    events = data.t[data.y == 1]
    qs = np.quantile(events, np.linspace(0, 1, n_intervals + 1)[1:-1])
    return np.unique(qs[qs > 0])


def resolve_cuts(data: IPDData, cuts: Sequence[float] | np.ndarray | None,
                 n_intervals: int) -> np.ndarray:
    """The inner cut points (original time units): ``cuts`` checked, or quantile-based.

    Parameters
    ----------
    data : IPDData
        Time-to-event data.
    cuts : sequence of float, optional
        User-set inner cut points (data's time unit); ``None``: :func:`default_cuts`.
    n_intervals : int
        Number of quantile-based intervals when ``cuts`` is ``None``.

    Returns
    -------
    numpy.ndarray
        Increasing positive cut points, data's time unit.

    Raises
    ------
    DataError
        ``cuts`` not one-dimensional, not positive or not strictly increasing, or a cut
        at or beyond the longest follow-up.
    """
    if cuts is None:
        return default_cuts(data, n_intervals)
    cuts = np.asarray(cuts, dtype=float)
    if cuts.ndim != 1 or np.any(cuts <= 0) or np.any(np.diff(cuts) <= 0):
        raise DataError(f"cuts must be increasing positive times, got {cuts.tolist()}")
    longest = float(np.max(data.t))
    if np.any(cuts >= longest):
        raise DataError(f"cuts {cuts[cuts >= longest].tolist()} are at or beyond the longest "
                        f"follow-up ({longest:g}): the intervals after them have no time at "
                        "risk, so their hazards are their priors")
    return cuts


def survival_priors(heterogeneity: str, learner: str, baseline: str) -> PriorDict:
    """Default priors of a time-to-event structure and baseline.

    Parameters
    ----------
    heterogeneity : str
        Between-trial structure (:data:`bayes_hte.options.HETEROGENEITY`).
    learner : {"s", "t"}
        S- or T-learner.
    baseline : {"weibull", "piecewise"}
        Baseline hazard.

    Returns
    -------
    dict of str to dict
        :func:`bayes_hte.models.ipdma.default_priors` (log-hazard scale) plus the
        baseline's entries of :data:`BASELINE_PRIORS`: ``log_shape`` (and
        ``tau_log_shape`` for the stratified structures) or ``log_lambda``.

    Raises
    ------
    ValueError
        An unknown structure or learner.
    """
    pri = ipdma.default_priors(heterogeneity, learner)
    if baseline == "weibull":
        pri["log_shape"] = dict(BASELINE_PRIORS["log_shape"])
        if heterogeneity in STRATIFIED:
            pri["tau_log_shape"] = dict(BASELINE_PRIORS["tau_log_shape"])
    else:
        pri["log_lambda"] = dict(BASELINE_PRIORS["log_lambda"])
    return pri


def build_ipdma_survival_model(
    data: IPDData,
    *,
    heterogeneity: Heterogeneity = "random_intercept",
    learner: Learner = "s",
    parameterization: ipdma.Parameterization = "auto",
    baseline: Baseline = "weibull",
    cuts: Sequence[float] | np.ndarray | None = None,
    n_intervals: int = 6,
    horizon: float | None = None,
    priors: Mapping | None = None,
    data_reduction: DataReduction = "never",
) -> pm.Model:
    r"""Build the one-stage IPD-MA proportional-hazards model (see the module docstring).

    The time-to-event models of Bouvier et al. (2024, Supplementary S1) as one joint
    Bayesian posterior: the trial structures of :mod:`bayes_hte.models.ipdma` on the
    log-hazard, a Weibull or piecewise-constant baseline, right censoring.

    Parameters
    ----------
    data : IPDData
        Time-to-event data (``IPDData.from_frame(..., time="t")``).
    heterogeneity, learner, parameterization, priors
        As in :func:`bayes_hte.models.ipdma.build_ipdma_model`. Extra priors:
        ``log_shape`` (Weibull :math:`\kappa`), ``tau_log_shape`` (SI/FS),
        ``log_lambda`` (piecewise; its ``sigma`` scales the zero-sum log-hazard steps).
    baseline : {"weibull", "piecewise"}
        Baseline hazard.
    cuts : sequence of float, optional
        Inner cut points of the piecewise baseline (original time units).
    n_intervals : int
        Number of quantile-based intervals when ``cuts`` is not given.
    horizon : float, optional
        Default horizon of the ITE (original units; default the median follow-up).
    data_reduction : {"never", "auto", "always"}
        Piecewise baseline: pool patients with the same covariates, arm and trial, with
        one Poisson-kernel term per (cell, interval) — events and time at risk summed,
        the same log likelihood (:mod:`bayes_hte.models.reduction`). ``"auto"`` when
        there are at least two patients per cell on average; ``"always"``; or
        ``"never"`` (default here; :class:`bayes_hte.IPDMetaModel` uses ``"auto"``).
        The Weibull likelihood is never reduced.

    Returns
    -------
    pymc.Model
        Observed variable ``time`` (dims ``patient``; times divided by
        :func:`time_scale`; data ``time_observed``), data ``event``; or, reduced,
        ``events`` (dims ``cell_interval``; data ``events_observed``,
        ``exposure_observed``); dims ``patient``, ``study``, ``covariate`` (and ``arm``,
        ``coef``, ``interval`` as the options need). ``model.bayes_hte`` records the
        options, the resolved priors, the time scale, the cuts and the form of the
        likelihood (``"data_reduction"``).

    Raises
    ------
    ValueError
        An option outside its allowed values, a prior for a parameter the model
        does not have, or ``data_reduction="always"`` with the Weibull baseline.
    DataError
        Binary data, too few trials for the structure, invalid ``cuts``, or an event at
        time 0 with the Weibull baseline (the rows are named).
    """
    ipdma.check_options(heterogeneity, learner, parameterization)
    if data.outcome_type != "time_to_event":
        raise DataError("build_ipdma_survival_model needs time-to-event data: "
                        "IPDData.from_frame(..., time=<column>)")
    if baseline not in ("weibull", "piecewise"):
        raise ValueError(f"baseline must be 'weibull' or 'piecewise', got {baseline!r}")
    data.require_studies(ipdma.MIN_STUDIES[heterogeneity], model=heterogeneity)
    if heterogeneity in STRATIFIED:
        data.warn_studies_without_events(model=heterogeneity, by_arm=learner == "t")
    resolved = resolve_priors(survival_priors(heterogeneity, learner, baseline), priors,
                              family=f"ipdma-survival/{heterogeneity}/{learner}/{baseline}")
    at_zero = (data.t == 0) & (data.y == 1)
    if baseline == "weibull" and at_zero.any():
        raise DataError(
            f"time column {data.time!r}: events at time 0 at "
            f"{format_rows(data.frame.index[at_zero])}; the Weibull baseline has no density "
            "at time 0 (its log density is infinite there). Record these event times to "
            "the precision of the follow-up (e.g. half the time unit), or use "
            "baseline='piecewise'"
        )
    scale = time_scale(data)
    # censored at time 0 (survival 1 whatever the parameters): log t stays finite
    t = np.maximum(data.t / scale, 1e-9)
    coords = ipdma._coords(data, learner)
    arm_dims: tuple = ("arm",) if learner == "t" else ()
    cuts_scaled = None
    if baseline == "piecewise":
        cuts_scaled = resolve_cuts(data, cuts, n_intervals) / scale
        coords["interval"] = [f"[{lo:.3g}, {hi:.3g})" for lo, hi in zip(
            np.concatenate([[0.0], cuts_scaled * scale]),
            np.concatenate([cuts_scaled * scale, [np.inf]]), strict=True)]

    cells = plan_reduction(data, data_reduction, baseline=baseline)
    rows = None
    with pm.Model(coords=coords) as model:
        if cells is None:
            X = pm.Data("X", data.X, dims=("patient", "covariate"))
            z = pm.Data("treatment", data.z.astype("int64"), dims="patient")
            sidx = pm.Data("study_idx", data.study_idx, dims="patient")
            event = pm.Data("event", data.y.astype("float64"), dims="patient")
            # times (scaled) as data: a refit on new times swaps data, not the graph
            tt = pm.Data("time_observed", t, dims="patient")
        else:  # piecewise baseline: one term per (trial, arm, covariate row, interval)
            X, z, sidx = cell_design(cells)
        lp = ipdma.ipdma_linear_predictor(
            X, z, sidx, heterogeneity=heterogeneity, learner=learner, priors=resolved,
            parameterization=parameterization, coef_names=ipdma._coef_names(data, learner),
            data=data,
        )
        if baseline == "weibull":
            log_shape = make_rv("log_shape", resolved["log_shape"], dims=arm_dims)
            if heterogeneity in STRATIFIED:
                sd = make_rv("tau_log_shape", resolved["tau_log_shape"], dims=arm_dims)
                raw = pm.Normal("log_shape_study_raw", 0, 1, dims=("study", *arm_dims))
                ks = pm.Deterministic("log_shape_study", log_shape + sd * raw,
                                      dims=("study", *arm_dims))
                kappa = ks[sidx, z] if learner == "t" else ks[sidx]
            else:
                kappa = log_shape[z] if learner == "t" else log_shape
            pm.Deterministic("shape", pt.exp(log_shape), dims=arm_dims)
            log_t = pt.log(tt)
            log_h0 = kappa + (pt.exp(kappa) - 1.0) * log_t
            cum_h0 = pt.exp(pt.exp(kappa) * log_t)
        else:
            E, idx = exposure_matrix(t, cuts_scaled)
            if cells is None:
                expo = pm.Data("exposure", E, dims=("patient", "interval"))
                idx = pm.Data("interval_idx", idx.astype("int64"), dims="patient")
            sigma = resolved["log_lambda"]["sigma"]
            ll = pm.ZeroSumNormal("log_lambda", sigma=sigma, dims=(*arm_dims, "interval"))
            if cells is not None:
                rows = piecewise_poisson_likelihood(cells, E, idx, data.y, lp=lp,
                                                    log_lambda=ll, z=z, learner=learner)
            elif learner == "t":
                log_h0 = ll[z, idx]
                cum_h0 = (expo * pt.exp(ll)[z]).sum(-1)
            else:
                log_h0 = ll[idx]
                cum_h0 = (expo * pt.exp(ll)[None, :]).sum(-1)
        if cells is None:
            pm.CustomDist("time", lp, event, log_h0, cum_h0, logp=_ph_logp, observed=tt,
                          dims="patient")
    model.bayes_hte = {"family": "ipdma", "heterogeneity": heterogeneity, "learner": learner,
                       "outcome": "time_to_event", "priors": resolved, "baseline": baseline,
                       "time_scale": scale, "cuts": None if cuts_scaled is None
                       else (cuts_scaled * scale).tolist(), "horizon": horizon,
                       "parameterization": parameterization,
                       "intercept_form": ipdma.intercept_form(
                           data, heterogeneity=heterogeneity, learner=learner,
                           parameterization=parameterization),
                       "data_reduction": describe(data, cells, data_reduction=data_reduction,
                                                  rows=rows)}
    if cells is not None:  # the per-patient form, for the pointwise log likelihood
        attach_per_unit_model(model, lambda: build_ipdma_survival_model(
            data, heterogeneity=heterogeneity, learner=learner,
            parameterization=parameterization, baseline=baseline, cuts=cuts,
            n_intervals=n_intervals, horizon=horizon, priors=priors))
    return model


def _ph_logp(value, lp, event, log_h0, cum_h0):
    """Right-censored proportional-hazards log likelihood of one patient."""
    return event * (log_h0 + lp) - cum_h0 * pt.exp(lp)
