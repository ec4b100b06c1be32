r"""Estimands of the time-to-event IPD-MA models: survival ITE, hazard ratio, checks.

With the linear predictors :math:`\ell(x, z)` of :mod:`bayes_hte.effects.ipdma` and the
baseline cumulative hazard :math:`H_0` of :mod:`bayes_hte.models.survival`, the survival
of a patient at time :math:`t` is :math:`S(t|x,z) = \exp(-H_0(t)\, e^{\ell(x,z)})`, and the
ITE at horizon :math:`h` is :math:`S(h|x,1) - S(h|x,0)` (positive: longer survival when
treated; Bouvier et al. 2024, Supplementary S1).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayes_hte.data.ipd import IPDData
from bayes_hte.data.survival import exposure_matrix, median_follow_up
from bayes_hte.effects.ipdma import fitted_linear_predictor
from bayes_hte.errors import DataWarning
from bayes_hte.models.ipdma import ARMS
from bayes_hte.models.survival import resolve_cuts, time_scale
from bayes_hte.options import IPDMAOptions, check_real


def _time_info(data: IPDData, options: IPDMAOptions) -> dict:
    """Time scale of the fit data and the baseline's scaled cut points."""
    scale = time_scale(data)
    cuts = None
    if options.baseline == "piecewise":
        cuts = resolve_cuts(data, options.cuts, options.n_intervals) / scale
    return {"scale": scale, "baseline": options.baseline, "cuts": cuts}


def default_horizon(data: IPDData, options: IPDMAOptions) -> float:
    """The ITE horizon (data's time unit): ``options.horizon`` or the median follow-up.

    Parameters
    ----------
    data : IPDData
        The fit data (time-to-event).
    options : IPDMAOptions
        The model's resolved options.

    Returns
    -------
    float
    """
    return float(options.horizon or median_follow_up(data.t, data.y))


def cumulative_baseline(posterior: xr.Dataset, times_scaled: np.ndarray, *, baseline: str,
                        cuts_scaled: np.ndarray | None,
                        new_trial: bool = False, rng: np.random.Generator | None = None,
                        study: bool = False) -> xr.DataArray:
    r"""Baseline cumulative hazard :math:`H_0(t)` per draw at scaled times (dim ``time``).

    For the stratified Weibull shapes: the pooled shape :math:`e^\kappa` (average trial),
    a new trial's :math:`e^{\kappa + \tau_\kappa \epsilon}` with ``new_trial``, or each
    trial's own shape with ``study=True`` (dims gain ``study``).

    Weibull: :math:`H_0(t) = t^{k}`, :math:`k = e^\kappa`; piecewise:
    :math:`H_0(t) = \sum_m e^{\lambda_m} E_m(t)` with :math:`E_m(t)` the time spent in
    interval :math:`m` (:mod:`bayes_hte.models.survival`).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a time-to-event IPD-MA model.
    times_scaled : numpy.ndarray
        Times divided by the model's time scale
        (:func:`bayes_hte.models.survival.time_scale`), shape (time,).
    baseline : {"weibull", "piecewise"}
        The model's baseline hazard.
    cuts_scaled : numpy.ndarray, optional
        Inner cut points of the piecewise baseline, scaled like ``times_scaled``
        (``None`` for Weibull).
    new_trial : bool
        Weibull with trial-specific shapes: draw a new trial's shape per draw
        (``False``: the pooled shape of an average trial).
    rng : numpy.random.Generator, optional
        Source of the new-trial draws.
    study : bool
        Weibull with trial-specific shapes: each trial's own shape (adds dim ``study``).

    Returns
    -------
    xarray.DataArray
        :math:`H_0(t)` (dimensionless) with dims chain, draw and time, plus ``arm``
        for the T-learner and ``study`` with ``study=True`` (order not fixed: select
        by name).

    """
    tt = xr.DataArray(np.asarray(times_scaled, dtype=float), dims="time")
    if baseline == "weibull":
        if study and "log_shape_study" in posterior:
            kappa = posterior["log_shape_study"]
        else:
            kappa = posterior["log_shape"]
            if new_trial and "tau_log_shape" in posterior:
                rng = np.random.default_rng(rng)
                noise = xr.DataArray(rng.standard_normal(kappa.shape), dims=kappa.dims)
                kappa = kappa + posterior["tau_log_shape"] * noise
        return np.exp(np.exp(kappa) * np.log(np.maximum(tt, 1e-12)))
    E, _ = exposure_matrix(np.asarray(times_scaled, dtype=float), cuts_scaled)
    Eda = xr.DataArray(E, dims=("time", "interval"))
    return xr.dot(Eda, np.exp(posterior["log_lambda"].drop_vars("interval")), dim="interval")


def survival_by_arm(posterior: xr.Dataset, lp0: xr.DataArray, lp1: xr.DataArray, *,
                    data: IPDData, options: IPDMAOptions, horizon: float | None = None,
                    new_trial: bool = False, rng: np.random.Generator | None = None
                    ) -> tuple[xr.DataArray, xr.DataArray, float]:
    r"""Survival at a horizon under control and under treatment, :math:`S(h|x,0)` and
    :math:`S(h|x,1)`, per draw and patient.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a time-to-event IPD-MA model.
    lp0, lp1 : xarray.DataArray
        Log-hazard linear predictors under control and treatment, dims
        (chain, draw, patient) (:func:`bayes_hte.effects.ipdma.linear_predictors`).
    data : IPDData
        The fit data (its time scale and baseline cut points).
    options : IPDMAOptions
        The model's resolved options.
    horizon : float, optional
        Time in the data's unit; default :func:`default_horizon`.
    new_trial : bool
        Draw a new trial's Weibull shape (stratified structures) per draw.
    rng : numpy.random.Generator, optional
        Source of the new-trial draws.

    Returns
    -------
    tuple
        ``(s0, s1, horizon)``: survival probabilities in [0, 1] with dims (chain, draw,
        patient), and the horizon used (data's time unit).

    Raises
    ------
    ValueError
        ``horizon`` is not positive.
    """
    horizon = (check_real("horizon", horizon) if horizon is not None
               else default_horizon(data, options))
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    longest = float(np.max(data.t))
    if horizon > longest:
        warnings.warn(f"horizon {horizon:g} lies beyond the longest follow-up of the fit data "
                      f"({longest:g}): the survival there is the model's extrapolation (the "
                      "baseline hazard's form carried past the data)", DataWarning, stacklevel=4)
    info = _time_info(data, options)
    rng = np.random.default_rng(rng)
    H0 = cumulative_baseline(posterior, [horizon / info["scale"]],
                             baseline=info["baseline"],
                             cuts_scaled=info["cuts"], new_trial=new_trial,
                             rng=rng.spawn(1)[0]).isel(time=0, drop=True)
    if "arm" in H0.dims:
        H00, H01 = H0.isel(arm=0, drop=True), H0.isel(arm=1, drop=True)
    else:
        H00 = H01 = H0
    s0 = np.exp(-H00 * np.exp(lp0)).transpose("chain", "draw", "patient")
    s1 = np.exp(-H01 * np.exp(lp1)).transpose("chain", "draw", "patient")
    return s0, s1, horizon


def survival_difference(posterior: xr.Dataset, lp0: xr.DataArray, lp1: xr.DataArray, *,
                        data: IPDData, options: IPDMAOptions, horizon: float | None = None,
                        new_trial: bool = False,
                        rng: np.random.Generator | None = None) -> xr.DataArray:
    r"""ITE at a horizon: :math:`S(h|x,1) - S(h|x,0)` per draw and patient.

    Parameters
    ----------
    posterior, lp0, lp1, data, options, horizon, new_trial, rng
        As in :func:`survival_by_arm`.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, patient): survival-probability difference (positive =
        longer survival when treated).

    Raises
    ------
    ValueError
        ``horizon`` is not positive.
    """
    s0, s1, horizon = survival_by_arm(posterior, lp0, lp1, data=data, options=options,
                                      horizon=horizon, new_trial=new_trial, rng=rng)
    out = s1 - s0
    out.name = "ite"
    out.attrs.update(scale="survival difference", horizon=horizon, new_trial=int(new_trial),
                     model=options.label)
    return out


def hazard_ratio(lp0: xr.DataArray, lp1: xr.DataArray, *, options: IPDMAOptions) -> xr.DataArray:
    r"""Per-patient hazard ratio :math:`\exp(\gamma + \eta' x)` of an S-learner.

    Parameters
    ----------
    lp0, lp1 : xarray.DataArray
        Log-hazard linear predictors under control and treatment, dims
        (chain, draw, patient).
    options : IPDMAOptions
        The model's resolved options.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, patient); below 1 = lower hazard when treated.

    Raises
    ------
    ValueError
        For a T-learner (its hazard ratio varies with time).
    """
    if options.learner != "s":
        raise ValueError("the T-learner has separate baselines per arm, so its hazard ratio "
                         "varies with time; use ite() (survival difference at a horizon)")
    out = np.exp(lp1 - lp0)
    out.name = "hazard_ratio"
    return out


def predictive_survival(posterior: xr.Dataset, times: np.ndarray, *, data: IPDData,
                        options: IPDMAOptions, draws: int = 100,
                        random_seed: int = 0) -> xr.DataArray:
    r"""Model-implied survival per trial and arm, averaged over each group's patients.

    Uses each trial's own parameters
    (:func:`bayes_hte.effects.ipdma.fitted_linear_predictor`), on ``draws`` posterior
    draws. Dims (draw, study, arm, time).

    For trial :math:`j` and arm :math:`a` the curve is
    :math:`\bar S_{ja}(t) = n_{ja}^{-1}\sum_i \exp(-H_{0j}(t)\, e^{\ell_{ij}})` over the
    trial's patients in that arm, per draw: to set against the Kaplan–Meier curves of
    the data (a posterior predictive check).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a time-to-event IPD-MA model.
    times : numpy.ndarray
        Times in the data's unit, shape (time,).
    data : IPDData
        The fit data.
    options : IPDMAOptions
        The model's resolved options.
    draws : int
        Number of posterior draws used (sampled without replacement over chains and
        draws; all when there are fewer).
    random_seed : int
        Seed of the choice of draws.

    Returns
    -------
    xarray.DataArray
        Survival probabilities, dims (draw, study, arm, time); NaN for a trial arm
        without patients.
    """
    info = _time_info(data, options)
    post = posterior
    stacked = post.stack(sample=("chain", "draw"))
    rng = np.random.default_rng(random_seed)
    pick = rng.choice(stacked.sizes["sample"], size=min(draws, stacked.sizes["sample"]),
                      replace=False)
    sub = stacked.isel(sample=pick).drop_vars(["sample", "chain", "draw"])
    sub = sub.assign_coords(sample=np.arange(len(pick))).expand_dims(chain=[0])
    sub = sub.rename({"sample": "draw"}).transpose("chain", "draw", ...)
    lp = fitted_linear_predictor(sub, data.X, data.z, data.study_idx, options=options)
    H0 = cumulative_baseline(sub, np.asarray(times) / info["scale"], baseline=info["baseline"],
                             cuts_scaled=info["cuts"], study=True)

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
                                "arm": list(ARMS), "time": np.asarray(times)})
