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
    structures (SI, FS): :math:`\kappa_j \sim N(\kappa, \sigma_\kappa^2)` (partially
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

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.models import ipdma
from bayes_hte.models.priors import PriorDict, make_rv, resolve_priors
from bayes_hte.survival_tools import exposure_matrix, median_follow_up

Baseline = Literal["weibull", "piecewise"]
STRATIFIED = ("stratified_intercept", "fully_stratified")

#: Default priors of the baselines (time in units of the median follow-up).
BASELINE_PRIORS: PriorDict = {
    "log_shape": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "sd_log_shape": {"dist": "HalfNormal", "sigma": 0.3},
    "log_lambda": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
}


def time_scale(data: IPDData) -> float:
    """Times are divided by the median follow-up (reverse Kaplan–Meier) inside the model."""
    return median_follow_up(data.t, data.y)


def default_cuts(data: IPDData, n_intervals: int = 6) -> np.ndarray:
    """Inner cut points (original time units) at quantiles of the event times."""
    if n_intervals < 1:
        raise ValueError(f"n_intervals must be >= 1, got {n_intervals}")
    events = data.t[data.y == 1]
    qs = np.quantile(events, np.linspace(0, 1, n_intervals + 1)[1:-1])
    return np.unique(qs[qs > 0])


def _resolve_cuts(data: IPDData, cuts, n_intervals: int) -> np.ndarray:
    if cuts is None:
        return default_cuts(data, n_intervals)
    cuts = np.asarray(cuts, dtype=float)
    if cuts.ndim != 1 or np.any(cuts <= 0) or np.any(np.diff(cuts) <= 0):
        raise DataError(f"cuts must be increasing positive times, got {cuts.tolist()}")
    return cuts


def survival_priors(heterogeneity: str, learner: str, baseline: str) -> PriorDict:
    """Default priors of a time-to-event structure and baseline."""
    pri = ipdma.default_priors(heterogeneity, learner)
    if baseline == "weibull":
        pri["log_shape"] = dict(BASELINE_PRIORS["log_shape"])
        if heterogeneity in STRATIFIED:
            pri["sd_log_shape"] = dict(BASELINE_PRIORS["sd_log_shape"])
    else:
        pri["log_lambda"] = dict(BASELINE_PRIORS["log_lambda"])
    return pri


def build_ipdma_survival_model(
    data: IPDData,
    *,
    heterogeneity: ipdma.Heterogeneity = "random_intercept",
    learner: ipdma.Learner = "s",
    priors: Mapping | None = None,
    parameterization: ipdma.Parameterization = "auto",
    baseline: Baseline = "weibull",
    cuts=None,
    n_intervals: int = 6,
    horizon: float | None = None,
) -> pm.Model:
    r"""Build the one-stage IPD-MA proportional-hazards model (see the module docstring).

    Parameters
    ----------
    data : IPDData
        Time-to-event data (``IPDData.from_frame(..., time="t")``).
    heterogeneity, learner, priors, parameterization
        As in :func:`bayes_hte.models.ipdma.build_ipdma_model`. Extra priors:
        ``log_shape`` (Weibull :math:`\kappa`), ``sd_log_shape`` (SI/FS),
        ``log_lambda`` (piecewise; its ``sigma`` scales the zero-sum log-hazard steps).
    baseline : {"weibull", "piecewise"}
        Baseline hazard.
    cuts : sequence of float, optional
        Inner cut points of the piecewise baseline (original time units).
    n_intervals : int
        Number of quantile-based intervals when ``cuts`` is not given.
    horizon : float, optional
        Default horizon of the ITE (original units; default the median follow-up).

    Returns
    -------
    pymc.Model
        Observed variable ``time`` (dims ``patient``).
    """
    ipdma._check_options(heterogeneity, learner, parameterization)
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
    scale = time_scale(data)
    t = np.maximum(data.t / scale, 1e-9)  # an event at time 0 would have log t = -inf
    coords = ipdma._coords(data, learner)
    arm_dims: tuple = ("arm",) if learner == "t" else ()
    cuts_scaled = None
    if baseline == "piecewise":
        cuts_scaled = _resolve_cuts(data, cuts, n_intervals) / scale
        coords["interval"] = [f"[{lo:.3g}, {hi:.3g})" for lo, hi in zip(
            np.concatenate([[0.0], cuts_scaled * scale]),
            np.concatenate([cuts_scaled * scale, [np.inf]]), strict=True)]

    with pm.Model(coords=coords) as model:
        X = pm.Data("X", data.X, dims=("patient", "covariate"))
        z = pm.Data("treatment", data.z.astype("int64"), dims="patient")
        sidx = pm.Data("study_idx", data.study_idx, dims="patient")
        event = pm.Data("event", data.y.astype("float64"), dims="patient")
        lp = ipdma.ipdma_linear_predictor(
            X, z, sidx, heterogeneity=heterogeneity, learner=learner, priors=resolved,
            parameterization=parameterization, coef_names=ipdma._coef_names(data, learner),
            data=data,
        )
        if baseline == "weibull":
            log_shape = make_rv("log_shape", resolved["log_shape"], dims=arm_dims)
            if heterogeneity in STRATIFIED:
                sd = make_rv("sd_log_shape", resolved["sd_log_shape"], dims=arm_dims)
                raw = pm.Normal("log_shape_study_raw", 0, 1, dims=("study", *arm_dims))
                ks = pm.Deterministic("log_shape_study", log_shape + sd * raw,
                                      dims=("study", *arm_dims))
                kappa = ks[sidx, z] if learner == "t" else ks[sidx]
            else:
                kappa = log_shape[z] if learner == "t" else log_shape
            pm.Deterministic("shape", pt.exp(log_shape), dims=arm_dims)
            log_t = np.log(t)
            log_h0 = kappa + (pt.exp(kappa) - 1.0) * log_t
            cum_h0 = pt.exp(pt.exp(kappa) * log_t)
        else:
            E, idx = exposure_matrix(t, cuts_scaled)
            expo = pm.Data("exposure", E, dims=("patient", "interval"))
            sigma = resolved["log_lambda"]["sigma"]
            ll = pm.ZeroSumNormal("log_lambda", sigma=sigma, dims=(*arm_dims, "interval"))
            if learner == "t":
                log_h0 = ll[z, idx]
                cum_h0 = (expo * pt.exp(ll)[z]).sum(-1)
            else:
                log_h0 = ll[idx]
                cum_h0 = (expo * pt.exp(ll)[None, :]).sum(-1)
        pm.CustomDist("time", lp, event, log_h0, cum_h0, logp=_ph_logp, observed=t,
                      dims="patient")
    model.bayes_hte = {"family": "ipdma", "heterogeneity": heterogeneity, "learner": learner,
                       "outcome": "time_to_event", "priors": resolved, "baseline": baseline,
                       "time_scale": scale, "cuts": None if cuts_scaled is None
                       else (cuts_scaled * scale).tolist(), "horizon": horizon,
                       "parameterization": parameterization}
    return model


def _ph_logp(value, lp, event, log_h0, cum_h0):
    """Right-censored proportional-hazards log likelihood of one patient."""
    return event * (log_h0 + lp) - cum_h0 * pt.exp(lp)


# --------------------------------------------------------------------------- prediction
def cumulative_baseline(posterior: xr.Dataset, times_scaled: np.ndarray, *, baseline: str,
                        heterogeneity: str, cuts_scaled: np.ndarray | None,
                        new_trial: bool = False, rng: np.random.Generator | None = None,
                        study: bool = False) -> xr.DataArray:
    r"""Baseline cumulative hazard :math:`H_0(t)` per draw at scaled times (dim ``time``).

    For the stratified Weibull shapes: the pooled shape :math:`e^\kappa` (average trial),
    a new trial's :math:`e^{\kappa + \sigma_\kappa \epsilon}` with ``new_trial``, or each
    trial's own shape with ``study=True`` (dims gain ``study``).
    """
    tt = xr.DataArray(np.asarray(times_scaled, dtype=float), dims="time")
    if baseline == "weibull":
        if study and "log_shape_study" in posterior:
            kappa = posterior["log_shape_study"]
        else:
            kappa = posterior["log_shape"]
            if new_trial and "sd_log_shape" in posterior:
                rng = np.random.default_rng(rng)
                noise = xr.DataArray(rng.standard_normal(kappa.shape), dims=kappa.dims)
                kappa = kappa + posterior["sd_log_shape"] * noise
        return np.exp(np.exp(kappa) * np.log(np.maximum(tt, 1e-12)))
    E, _ = exposure_matrix(np.asarray(times_scaled, dtype=float), cuts_scaled)
    Eda = xr.DataArray(E, dims=("time", "interval"))
    return xr.dot(Eda, np.exp(posterior["log_lambda"].drop_vars("interval")), dim="interval")


def _model_info(m) -> dict:
    opts = m.model_options
    scale = time_scale(m.data)
    baseline = opts.get("baseline", "weibull")
    cuts = None
    if baseline == "piecewise":
        cuts = _resolve_cuts(m.data, opts.get("cuts"), opts.get("n_intervals", 6)) / scale
    return {"scale": scale, "baseline": baseline, "cuts": cuts}


def default_horizon(m) -> float:
    """The ITE horizon: the model option ``horizon`` or the median follow-up."""
    return float(m.model_options.get("horizon") or median_follow_up(m.data.t, m.data.y))


def survival_ite(m, *, newdata=None, new_trial: bool = False, random_seed=None,
                 horizon: float | None = None) -> xr.DataArray:
    r"""ITE of a fitted time-to-event :class:`~bayes_hte.IPDMetaModel`:
    :math:`S(h|x,1) - S(h|x,0)` per draw and patient (positive = treatment better)."""
    horizon = float(horizon) if horizon is not None else default_horizon(m)
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    info = _model_info(m)
    seed = random_seed if random_seed is not None else getattr(m, "_seed", None)
    rng = np.random.default_rng(seed)
    lp0, lp1 = m.linear_predictors(newdata, new_trial=new_trial, random_seed=seed)
    H0 = cumulative_baseline(m.idata["posterior"].to_dataset(), [horizon / info["scale"]],
                             baseline=info["baseline"], heterogeneity=m.heterogeneity,
                             cuts_scaled=info["cuts"], new_trial=new_trial,
                             rng=rng.spawn(1)[0]).isel(time=0, drop=True)
    if "arm" in H0.dims:
        H00, H01 = H0.isel(arm=0, drop=True), H0.isel(arm=1, drop=True)
    else:
        H00 = H01 = H0
    s0 = np.exp(-H00 * np.exp(lp0))
    s1 = np.exp(-H01 * np.exp(lp1))
    out = (s1 - s0).transpose("chain", "draw", "patient")
    out.name = "ite"
    out.attrs.update(scale="survival difference", horizon=horizon, new_trial=int(new_trial),
                     model=m.label)
    return out


def hazard_ratio(m, newdata=None) -> xr.DataArray:
    r"""Per-patient hazard ratio :math:`\exp(\gamma + \eta' x)` of an S-learner.

    Dims (chain, draw, patient).
    """
    if m.learner != "s":
        raise ValueError("the T-learner has separate baselines per arm, so its hazard ratio "
                         "varies with time; use ite() (survival difference at a horizon)")
    lp0, lp1 = m.linear_predictors(newdata)
    out = np.exp(lp1 - lp0)
    out.name = "hazard_ratio"
    return out


# --------------------------------------------------------------------------- checks
def predictive_survival(m, times: np.ndarray, *, draws: int = 100,
                        random_seed: int = 0) -> xr.DataArray:
    """Model-implied survival per trial and arm, averaged over each group's patients.

    Uses each trial's own parameters (``ipdma.fitted_linear_predictor``), on ``draws``
    posterior draws. Dims (sample, study, arm, time).
    """
    info = _model_info(m)
    post = m.idata["posterior"].to_dataset()
    stacked = post.stack(sample=("chain", "draw"))
    rng = np.random.default_rng(random_seed)
    pick = rng.choice(stacked.sizes["sample"], size=min(draws, stacked.sizes["sample"]),
                      replace=False)
    sub = stacked.isel(sample=pick).drop_vars(["sample", "chain", "draw"])
    sub = sub.assign_coords(sample=np.arange(len(pick))).expand_dims(chain=[0])
    sub = sub.rename({"sample": "draw"}).transpose("chain", "draw", ...)
    data = m.data
    lp = ipdma.fitted_linear_predictor(sub, data.X, data.z, data.study_idx,
                                       heterogeneity=m.heterogeneity, learner=m.learner)
    H0 = cumulative_baseline(sub, np.asarray(times) / info["scale"], baseline=info["baseline"],
                             heterogeneity=m.heterogeneity, cuts_scaled=info["cuts"],
                             study=True)
    lp = lp.isel(chain=0, drop=True)
    H0 = H0.isel(chain=0, drop=True)
    out = np.full((lp.sizes["draw"], data.n_studies, 2, len(times)), np.nan)
    for j in range(data.n_studies):
        for a in (0, 1):
            rows = np.flatnonzero((data.study_idx == j) & (data.z == a))
            if rows.size == 0:
                continue
            h = H0
            if "study" in h.dims:
                h = h.isel(study=j)
            if "arm" in h.dims:
                h = h.isel(arm=a)
            h = h.transpose("draw", "time")
            risk = np.exp(lp.isel(patient=rows)).transpose("draw", "patient")
            s = np.exp(-h.values[:, None, :] * risk.values[:, :, None]).mean(1)
            out[:, j, a, :] = s
    return xr.DataArray(out, dims=("draw", "study", "arm", "time"),
                        coords={"study": list(map(str, data.study_labels)),
                                "arm": list(ipdma.ARMS), "time": np.asarray(times)})


def plot_km_ppc(m, *, ci_prob: float = 0.9, draws: int = 100):
    """Observed Kaplan–Meier curves per trial and arm against posterior predictive survival."""
    import matplotlib.pyplot as plt

    from bayes_hte.survival_tools import kaplan_meier

    data = m.data
    times = np.linspace(0, np.quantile(data.t, 0.98), 60)
    pred = predictive_survival(m, times, draws=draws)
    n = data.n_studies
    ncol = min(4, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False,
                             sharey=True)
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    for j in range(n):
        ax = axes[j // ncol, j % ncol]
        for a, color in ((0, "C0"), (1, "C3")):
            rows = (data.study_idx == j) & (data.z == a)
            knots, surv = kaplan_meier(data.t[rows], data.y[rows])
            ax.step(knots, surv, where="post", color=color, lw=1.2,
                    label=f"KM {'treated' if a else 'control'}")
            band = pred.isel(study=j, arm=a)
            ax.fill_between(times, band.quantile(lo_q, "draw"), band.quantile(hi_q, "draw"),
                            color=color, alpha=0.25, lw=0)
        ax.set_title(str(data.study_labels[j]), fontsize=9)
        ax.set_ylim(0, 1.02)
    for k in range(n, nrow * ncol):
        axes[k // ncol, k % ncol].axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{m.label}: Kaplan-Meier (lines) vs posterior predictive survival "
                 f"({ci_prob:.0%} bands)", fontsize=10)
    fig.tight_layout()
    return fig
