r"""Estimands of the one-stage IPD-MA models: linear predictors per draw and patient.

The structures and their equations are in :mod:`bayes_hte.models.ipdma`; here the
posterior is turned into linear predictors for an average trial, a new trial, or each
patient's own trial, and the stratified-intercept model's trial intercepts are pooled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from bayes_hte.comparators.univariate import meta_analysis
from bayes_hte.models.ipdma import ARMS
from bayes_hte.options import RANDOM_INTERCEPT, IPDMAOptions, Measure, check_choice


def synthesize_intercepts(idata: xr.DataTree, *, method: str = "REML",
                          also: Sequence[str] = ()) -> xr.DataTree:
    r"""Pooled intercept of the stratified-intercept model, per posterior draw.

    The paper pools the trial intercepts :math:`\hat\alpha_m` by an inverse-variance
    random-effects meta-analysis. We do it inside the posterior: with
    :math:`m_j, v_j` the posterior mean and variance of :math:`\alpha_j`, the
    between-trial variance :math:`\hat\tau^2_\alpha` is estimated from
    :math:`(m_j, v_j)` (REML by default), the weights are
    :math:`w_j = 1/(v_j + \hat\tau^2_\alpha)`, and each draw's pooled intercept is
    :math:`\alpha^{(d)} = \sum_j w_j \alpha_j^{(d)} / \sum_j w_j`. Uncertainty in the
    trial intercepts thus carries into :math:`\alpha`; :math:`\hat\tau_\alpha` is a
    plug-in constant (it is what a new trial's intercept varies by). Adds ``alpha`` and
    ``tau_alpha`` to the posterior group (returns a new DataTree).

    Source: Bouvier et al. (2024), stratified-intercept model, following Debray et al.
    (2013); the meta-analysis is :func:`bayes_hte.comparators.univariate.meta_analysis`.

    Parameters
    ----------
    idata : xarray.DataTree
        Fit of a stratified-intercept model (posterior variable ``alpha_study``, dims
        (chain, draw, study) or (chain, draw, study, arm)).
    method : {"REML", "DL", "ML", "PM", "FE"}
        Estimator of :math:`\tau^2_\alpha` (as in ``meta_analysis``).
    also : sequence of str
        Further posterior variables of trial intercepts pooled with ``alpha_study``
        (dims (chain, draw, <their trial dim>)), e.g. ``"alpha_aggregate"`` of the
        aggregate-data trials (:mod:`bayes_hte.models.ipd_aggregate`).

    Returns
    -------
    xarray.DataTree
        A copy whose posterior has ``alpha`` (dims (chain, draw) or (chain, draw, arm),
        log-odds or log-hazard) and the constant ``tau_alpha``; the input is not
        modified.
    """
    post = idata["posterior"].to_dataset()
    a_s = post["alpha_study"]
    if also:
        parts = [a_s.assign_coords(study=[str(v) for v in a_s["study"].values])]
        for name in also:
            extra = post[name]
            dim = next(d for d in extra.dims if d not in ("chain", "draw", "arm"))
            parts.append(extra.rename({dim: "study"}).assign_coords(
                study=[str(v) for v in extra[dim].values]))
        a_s = xr.concat(parts, dim="study")
    m = a_s.mean(("chain", "draw"))
    v = a_s.var(("chain", "draw"))
    # vectorised over a trailing axis (arm for the T-learner)
    mm = m.transpose("study", ...).values
    vv = v.transpose("study", ...).values
    res = meta_analysis(mm, vv, method=method)
    tau2 = np.asarray(res.tau2)
    w = 1.0 / (vv + tau2)
    w = w / w.sum(axis=0)
    wda = xr.DataArray(w, dims=m.transpose("study", ...).dims,
                       coords={k: m.coords[k] for k in m.dims})
    alpha = (a_s * wda).sum("study")
    tau = xr.full_like(alpha, 0.0) + xr.DataArray(np.sqrt(tau2), dims=alpha.dims[2:])
    new = idata.copy()
    post = post.assign(alpha=alpha, tau_alpha=tau)
    post.attrs = dict(idata["posterior"].attrs)
    post.attrs["alpha_synthesis"] = f"inverse-variance random-effects ({method}) per draw"
    new["posterior"] = xr.DataTree(post)
    return new


def linear_predictors(
    posterior: xr.Dataset,
    X: np.ndarray,
    *,
    options: IPDMAOptions,
    new_trial: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[xr.DataArray, xr.DataArray]:
    r"""Linear predictors under control and under treatment, per draw and patient.

    For an average trial the pooled parameters are used (:math:`\alpha`,
    :math:`\phi = 1`, the mean coefficient vector of FS). With ``new_trial=True`` each
    draw also draws a new trial from the between-trial distribution: intercept
    :math:`\alpha_{new} \sim N(\alpha, \tau_\alpha^2)` (RI, SI, R1), scale
    :math:`\phi_{new} \sim N(1, \tau_\phi^2)` (R1), or the whole vector
    :math:`b_{new} \sim MVN(b, V)` (FS); the naive model has no between-trial
    variation to add. Returns ``(lp0, lp1)`` with dims (chain, draw, patient).

    Source: Bouvier et al. (2024): the ITE of an average trial; the new-trial draw
    turns it into a prediction for a trial not in the meta-analysis.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a one-stage IPD-MA model (binary or time to event), with
        ``alpha`` pooled by :func:`synthesize_intercepts` for the stratified intercept.
    X : numpy.ndarray
        Encoded covariates, shape (patient, covariate), as ``IPDData.design``.
    options : IPDMAOptions
        The model's resolved options (structure and learner).
    new_trial : bool
        ``False``: the average trial; ``True``: a new trial drawn per posterior draw.
    rng : numpy.random.Generator, optional
        Source of the new-trial draws (anything ``numpy.random.default_rng`` takes).

    Returns
    -------
    tuple of xarray.DataArray
        ``(lp0, lp1)``: log-odds (binary) or log-hazard (time to event) under control
        and under treatment, each with dims (chain, draw, patient).
    """
    rng = np.random.default_rng(rng)
    heterogeneity = options.heterogeneity
    Xda = xr.DataArray(np.asarray(X, dtype=float), dims=("patient", "covariate"))
    post = posterior
    t = options.learner == "t"

    def normal_like(da):
        return xr.DataArray(rng.standard_normal(da.shape), dims=da.dims, coords=da.coords)

    alpha = post["alpha"]
    theta = post["theta"].drop_vars("covariate", errors="ignore")
    if heterogeneity == "fully_stratified" and new_trial:
        parts = []
        for a in ([None] if not t else [0, 1]):
            suffix = "" if a is None else f"_{ARMS[a]}"
            chol = post[f"chol_cov{suffix}"].values  # (c, d, K, K)
            noise = rng.standard_normal(chol.shape[:-1])
            parts.append(np.einsum("cdkl,cdl->cdk", chol, noise))
        p = Xda.sizes["covariate"]
        if not t:
            dev = parts[0]
            alpha = alpha + xr.DataArray(dev[..., 0], dims=("chain", "draw"))
            theta = theta + xr.DataArray(dev[..., 1:1 + p], dims=("chain", "draw", "covariate"))
            gamma_dev = xr.DataArray(dev[..., 1 + p], dims=("chain", "draw"))
            eta_dev = xr.DataArray(dev[..., 2 + p:], dims=("chain", "draw", "covariate"))
        else:
            dev = np.stack(parts, axis=2)  # (c, d, arm, K)
            alpha = alpha + xr.DataArray(dev[..., 0], dims=("chain", "draw", "arm"))
            theta = theta + xr.DataArray(dev[..., 1:], dims=("chain", "draw", "arm", "covariate"))
    elif new_trial and heterogeneity in RANDOM_INTERCEPT:
        alpha = alpha + post["tau_alpha"] * normal_like(alpha)

    scale = 1.0
    if heterogeneity == "rank1" and new_trial:
        scale = 1.0 + post["tau_phi"] * normal_like(post["tau_phi"].broadcast_like(alpha))

    if not t:
        base = xr.dot(Xda, theta, dim="covariate")
        gamma = post["gamma"]
        eta = post["eta"].drop_vars("covariate", errors="ignore")
        if heterogeneity == "fully_stratified" and new_trial:
            gamma = gamma + gamma_dev
            eta = eta + eta_dev
        treat = gamma + xr.dot(Xda, eta, dim="covariate")
        lp0 = alpha + scale * base
        lp1 = alpha + scale * (base + treat)
    else:
        lin = alpha + scale * xr.dot(Xda, theta, dim="covariate")
        lp0 = lin.isel(arm=0, drop=True)
        lp1 = lin.isel(arm=1, drop=True)
    order = ("chain", "draw", "patient")
    return lp0.transpose(*order), lp1.transpose(*order)


def fitted_linear_predictor(posterior: xr.Dataset, X: np.ndarray, z: np.ndarray,
                            study_idx: np.ndarray, *, options: IPDMAOptions) -> xr.DataArray:
    r"""Each patient's linear predictor in their own trial, at their own arm.


    Uses the trial-specific parameters (``alpha_study``, ``phi``, ``b_study``), as the
    likelihood does; for checks such as posterior predictive survival curves.
    Dims (chain, draw, patient).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a one-stage IPD-MA model.
    X : numpy.ndarray
        Encoded covariates of the fit patients, shape (patient, covariate).
    z : numpy.ndarray
        Treatment indicator (0/1), shape (patient,).
    study_idx : numpy.ndarray
        Trial index of each patient (0 .. n_studies - 1), shape (patient,).
    options : IPDMAOptions
        The model's resolved options.

    Returns
    -------
    xarray.DataArray
        The likelihood's linear predictor :math:`\ell_{ij}` (log-odds or log-hazard),
        dims (chain, draw, patient).
    """

    X = np.asarray(X, dtype=float)
    z = np.asarray(z, dtype=int)
    j = np.asarray(study_idx, dtype=int)
    n = X.shape[0]
    p = posterior
    heterogeneity = options.heterogeneity
    t = options.learner == "t"

    def arr(name):
        return np.asarray(p[name].values)

    if heterogeneity == "fully_stratified":
        if not t:
            design = np.column_stack([np.ones(n), X, z, X * z[:, None]])
            b = arr("b_study")[:, :, j, :]  # (c, d, n, K)
        else:
            design = np.column_stack([np.ones(n), X])
            b_arms = np.stack([arr(f"b_study_{a}") for a in ARMS], axis=3)  # (c,d,study,arm,K)
            b = b_arms[:, :, j, z, :]
        lp = np.einsum("cdnk,nk->cdn", b, design)
    else:
        theta = arr("theta")
        if not t:
            effect = (np.einsum("cdk,nk->cdn", theta, X)
                      + z * (arr("gamma")[..., None] + np.einsum("cdk,nk->cdn", arr("eta"), X)))
        else:
            effect = np.einsum("cdnk,nk->cdn", theta[:, :, z, :], X)
        if heterogeneity == "naive":
            alpha = arr("alpha")
            intercept = alpha[:, :, z] if t else alpha[..., None]
        else:
            a_s = arr("alpha_study")
            intercept = a_s[:, :, j, z] if t else a_s[:, :, j]
        if heterogeneity == "rank1":
            phi = arr("phi")
            effect = (phi[:, :, j, z] if t else phi[:, :, j]) * effect
        lp = intercept + effect
    return xr.DataArray(lp, dims=("chain", "draw", "patient"),
                        coords={"chain": p["chain"].values, "draw": p["draw"].values})


# --------------------------------------------------------------- IPD + aggregate data
def own_trial_posterior(posterior: xr.Dataset, label: str, *,
                        options: IPDMAOptions) -> xr.Dataset:
    r"""The posterior with the pooled intercept :math:`\alpha` replaced by trial ``label``'s.

    For population-average effects in an included trial: its intercept is
    ``alpha_study`` (IPD trials) or ``alpha_aggregate`` (aggregate-data trials,
    :mod:`bayes_hte.models.ipd_aggregate`); the naive model has :math:`\alpha` for
    every trial. Feeding the result to :func:`linear_predictors` with
    ``new_trial=False`` gives linear predictors in that trial.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a one-stage IPD-MA S-learner (naive, random or stratified
        intercept), possibly with aggregate trials.
    label : str
        A study label (``study`` or ``aggregate_study`` coordinate, as text).
    options : IPDMAOptions
        The model's resolved options.

    Returns
    -------
    xarray.Dataset
        A shallow copy whose ``alpha`` (dims (chain, draw), log-odds) is the trial's.

    Raises
    ------
    KeyError
        ``label`` is not an included trial.
    """
    if options.heterogeneity == "naive":
        return posterior
    for var, dim in (("alpha_study", "study"), ("alpha_aggregate", "aggregate_study")):
        if var in posterior and label in [str(v) for v in posterior[dim].values]:
            da = posterior[var]
            da = da.assign_coords({dim: [str(v) for v in da[dim].values]})
            return posterior.assign(alpha=da.sel({dim: label}, drop=True))
    raise KeyError(label)


def marginal_effect(lp0: xr.DataArray, lp1: xr.DataArray, *, measure: Measure = "RD"
                    ) -> xr.DataArray:
    r"""Population-average effect from per-patient log-odds, per posterior draw.

    With :math:`\bar p_z = \frac1N \sum_i \mathrm{expit}(\ell_i(z))` the average risk
    of the population under treatment :math:`z` (patients or integration points),
    the marginal risk difference :math:`\bar p_1 - \bar p_0`, risk ratio
    :math:`\bar p_1 / \bar p_0` or odds ratio
    :math:`\{\bar p_1/(1-\bar p_1)\}/\{\bar p_0/(1-\bar p_0)\}` (the population-average
    estimands of Phillippo et al. 2020, section 3.3; multinma's ``marginal_effects``).

    Parameters
    ----------
    lp0, lp1 : xarray.DataArray
        Log-odds under control and treatment, dims (chain, draw, patient).
    measure : {"RD", "RR", "OR"}
        The effect measure.

    Returns
    -------
    xarray.DataArray
        Named ``marginal_effect``, dims (chain, draw): a risk difference (in [-1, 1]),
        or a risk / odds ratio (ratio scale, not logged); ``attrs["measure"]``.

    Raises
    ------
    ValueError
        An unknown ``measure``.
    """
    check_choice("measure", measure, ("RD", "RR", "OR"))
    p0 = xr.apply_ufunc(expit, lp0).mean("patient")
    p1 = xr.apply_ufunc(expit, lp1).mean("patient")
    if measure == "RD":
        out = p1 - p0
    elif measure == "RR":
        out = p1 / p0
    else:
        out = (p1 / (1 - p1)) / (p0 / (1 - p0))
    out.name = "marginal_effect"
    out.attrs["measure"] = measure
    return out


def aggregate_risks(posterior: xr.Dataset, points: np.ndarray) -> xr.DataArray:
    r"""Integrated arm risks of the aggregate trials, :math:`\bar p_{kz}`, per draw.

    :math:`\bar p_{kz} = \frac1M\sum_m \mathrm{expit}\{a_k + \theta'x_{km} +
    z(\gamma + \eta'x_{km})\}` (Phillippo et al. 2020, eq. 5) with ``alpha_aggregate``
    as :math:`a_k` (:math:`\alpha` for the naive model), at the given points.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a model of :func:`bayes_hte.models.ipd_aggregate.
        build_ipd_aggregate_model`.
    points : numpy.ndarray, shape (aggregate_study, point, covariate)
        Integration points on the design scale.

    Returns
    -------
    xarray.DataArray
        Risks in [0, 1], dims (chain, draw, aggregate_study, arm) with arms
        ``("control", "treated")``.
    """
    pts = np.asarray(points, dtype=float)
    theta = posterior["theta"].values
    eta = posterior["eta"].values
    gamma = posterior["gamma"].values
    if "alpha_aggregate" in posterior:
        a = posterior["alpha_aggregate"].values
    else:
        a = np.repeat(posterior["alpha"].values[..., None], pts.shape[0], axis=-1)
    lin0 = a[..., None] + np.einsum("kmp,cdp->cdkm", pts, theta)
    lin1 = lin0 + gamma[..., None, None] + np.einsum("kmp,cdp->cdkm", pts, eta)
    risk = np.stack([expit(lin0).mean(-1), expit(lin1).mean(-1)], axis=-1)
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values,
              "arm": ["control", "treated"]}
    if "aggregate_study" in posterior.coords:
        coords["aggregate_study"] = posterior["aggregate_study"].values
    return xr.DataArray(risk, dims=("chain", "draw", "aggregate_study", "arm"), coords=coords)


def integration_error(posterior: xr.Dataset, points: np.ndarray,
                      more_points: np.ndarray) -> pd.DataFrame:
    r"""How much the aggregate arm risks move when the integration points are doubled.

    The cheap form of multinma's integration check (Phillippo et al. 2020, section
    3.4): the integrated risks :math:`\bar p_{kz}` are recomputed at the same posterior
    draws with the fitted points and with more points (``more_points``, e.g. the
    nested sequence of twice the size), and the change of their posterior mean is
    expressed in posterior SDs. A change above 0.05 SD means the integration error is
    not negligible next to the posterior uncertainty: increase the points.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a model with aggregate trials.
    points, more_points : numpy.ndarray, shape (aggregate_study, point, covariate)
        The fitted points and the larger set.

    Returns
    -------
    pandas.DataFrame
        One row per aggregate trial and arm (index ``aggregate_study``, ``arm``):
        ``risk_mean`` (fitted points), ``risk_mean_more`` (more points), ``risk_sd``
        (posterior SD with more points), ``change_sd`` (``|risk_mean -
        risk_mean_more| / risk_sd``) and ``max_abs_diff`` (largest per-draw difference);
        ``attrs["points"]``, ``attrs["more_points"]``.
    """
    r0 = aggregate_risks(posterior, points)
    r1 = aggregate_risks(posterior, more_points)
    sample = ("chain", "draw")
    m0, m1 = r0.mean(sample), r1.mean(sample)
    sd = r1.std(sample, ddof=1)
    table = xr.Dataset({
        "risk_mean": m0, "risk_mean_more": m1, "risk_sd": sd,
        "change_sd": abs(m0 - m1) / sd, "max_abs_diff": abs(r0 - r1).max(sample),
    }).to_dataframe(dim_order=["aggregate_study", "arm"])
    table.attrs["points"] = int(np.shape(points)[1])
    table.attrs["more_points"] = int(np.shape(more_points)[1])
    return table
