r"""Estimands of the one-stage IPD-MA models: linear predictors per draw and patient.

The structures and their equations are in :mod:`bayes_hte.models.ipdma`; here the
posterior is turned into linear predictors for an average trial, a new trial, or each
patient's own trial, and the stratified-intercept model's trial intercepts are pooled.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_hte.comparators.univariate import meta_analysis
from bayes_hte.models.ipdma import ARMS
from bayes_hte.options import RANDOM_INTERCEPT, IPDMAOptions


def synthesize_intercepts(idata: xr.DataTree, *, method: str = "REML") -> xr.DataTree:
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

    Returns
    -------
    xarray.DataTree
        A copy whose posterior has ``alpha`` (dims (chain, draw) or (chain, draw, arm),
        log-odds or log-hazard) and the constant ``tau_alpha``; the input is not
        modified.
    """
    post = idata["posterior"].to_dataset()
    a_s = post["alpha_study"]
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
