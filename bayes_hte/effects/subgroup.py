r"""Estimands of the population -> subgroup -> individual model (Tzimas 2024).

Linear predictors, per-patient CATEs (marginal over the individual deviations, or
conditional), exact draws of the individual deviations, and CATE by risk group
(Table 8). Equations in :mod:`bayes_hte.models.subgroup`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.errors import DataError
from bayes_hte.models.subgroup import N_QUADRATURE, Layout, gauss_hermite
from bayes_hte.options import (
    CATE_KINDS,
    EFFECT_SCALES_HTE,
    CateKind,
    EffectScaleHTE,
    check_choice,
    check_count,
)


def _da(values, dims) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=float), dims=dims)


def linear_predictors(
    posterior: xr.Dataset,
    lay: Layout,
    X: np.ndarray,
    subgroup_idx: np.ndarray | None,
    *,
    new_trial: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[xr.DataArray, xr.DataArray]:
    r"""Baseline log-odds :math:`\ell_{0i}` and conditional effect :math:`\tau_i` per draw.

    Subgroup terms use each patient's own levels. With several trials the patient is
    placed in an average trial (:math:`\alpha_j = \alpha`, :math:`\tau_j = \mu_\tau`), or
    with ``new_trial=True`` in a new trial drawn per posterior draw,
    :math:`\alpha_{new} \sim N(\alpha, \tau_\alpha^2)`,
    :math:`\tau_{new} \sim N(\mu_\tau, \tau_\tau^2)` (a single trial has
    no between-trial variation to add). Returns ``(lp0, tau)``, dims (chain, draw,
    patient).

    Source: Tzimas (2024), equations 5-7 (the baseline log-odds and the mean of the
    individual effects); trial as a grouping level is this package's extension.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of :func:`bayes_hte.models.subgroup.build_subgroup_model`.
    lay : Layout
        The fit's encoding (``model.bayes_hte["layout"]``).
    X : numpy.ndarray
        Standardised covariates, shape (patient, covariate) (:meth:`Layout.design`).
    subgroup_idx : numpy.ndarray, optional
        Each patient's levels, shape (patient, subgrouping)
        (:meth:`Layout.subgroup_index`); ``None`` without subgroupings.
    new_trial : bool
        ``False``: an average trial; ``True``: a new trial drawn per posterior draw.
    rng : numpy.random.Generator, optional
        Source of the new-trial draws.

    Returns
    -------
    tuple of xarray.DataArray
        ``(lp0, tau)`` on the log-odds scale: baseline log-odds and conditional
        log-odds treatment effect, each with dims (chain, draw, patient).
    """
    rng = np.random.default_rng(rng)
    Xs = _da(X, ("patient", "covariate"))
    alpha, mu_tau = posterior["alpha"], posterior["mu_tau"]
    zeros = _da(np.zeros(X.shape[0]), ("patient",))
    base, effect = alpha + zeros, mu_tau + zeros
    if lay.covariate_names:
        base = base + xr.dot(Xs, posterior["beta"].drop_vars("covariate", errors="ignore"),
                             dim="covariate")
    if lay.interaction_names:
        Xi = _da(X[:, list(lay.interaction_idx)], ("patient", "interaction"))
        effect = effect + xr.dot(Xi, posterior["gamma"].drop_vars("interaction",
                                                                 errors="ignore"),
                                 dim="interaction")
    if lay.subgroups:
        a_dev = (posterior["alpha_subgroup"] - alpha).values  # (c, d, K)
        t_dev = (posterior["tau_subgroup"] - mu_tau).values
        idx = np.asarray(subgroup_idx)
        base = base + _da(a_dev[:, :, idx].sum(-1), ("chain", "draw", "patient"))
        effect = effect + _da(t_dev[:, :, idx].sum(-1), ("chain", "draw", "patient"))
    if lay.multi_study and new_trial:
        shape = alpha.shape
        base = base + posterior["tau_alpha"] * _da(rng.standard_normal(shape),
                                                           alpha.dims)
        effect = effect + posterior["tau_tau"] * _da(rng.standard_normal(shape),
                                                             alpha.dims)
    order = ("chain", "draw", "patient")
    return base.transpose(*order), effect.transpose(*order)


def _marginal_treated(lp1: np.ndarray, sigma: np.ndarray, n_nodes: int) -> tuple:
    r"""NumPy :math:`\int \mathrm{expit}(\ell + \sigma e)\phi(e)de` and its complement."""
    x, w = gauss_hermite(n_nodes)
    lp1 = np.asarray(lp1, dtype=float)
    p = np.zeros_like(lp1)
    q = np.zeros_like(lp1)
    for xk, wk in zip(x, w, strict=True):
        v = lp1 + xk * sigma
        p += wk * expit(v)
        q += wk * expit(-v)
    return p, q


def individual_deviations(
    posterior: xr.Dataset,
    lp0: xr.DataArray,
    tau: xr.DataArray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    grid: int = 241,
    chunk: int = 32,
    max_rounds: int = 50,
) -> xr.DataArray:
    r"""Posterior draws of the individual deviations :math:`\epsilon_i` (marginalized form).

    Given a posterior draw, the :math:`\epsilon_i` are independent with density
    :math:`\propto \phi(e)\,P(y_i \mid \ell_{0i} + z_i(\tau_i + \sigma_\eta e))`. A
    control patient's is :math:`\phi` itself. A treated patient's is sampled exactly by
    rejection (propose from :math:`\phi`, accept with probability
    :math:`P(y_i \mid e) \le 1`) for up to ``max_rounds`` rounds; what remains (the rare
    outcomes, whose acceptance rate is low) is sampled from a fine grid on [-8, 8]
    (``grid`` points; a bin by its weight, then uniformly within it). Returns dims
    (chain, draw, patient).

    Source: the individual layer of Tzimas (2024), equation 7, whose deviations the
    marginalized model integrates out; these are their exact conditional draws.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of the subgroup model (``sigma_eta``, dims (chain, draw)).
    lp0, tau : xarray.DataArray
        Baseline log-odds and conditional effect of the fit patients, dims
        (chain, draw, patient) (:func:`linear_predictors`).
    y : numpy.ndarray
        Observed outcomes (0/1), shape (patient,).
    z : numpy.ndarray
        Treatment indicator (0/1), shape (patient,).
    rng : numpy.random.Generator, optional
        Source of the draws.
    grid : int
        Points of the grid for the cells rejection sampling leaves.
    chunk : int
        Thousands of cells handled per grid step (bounds memory).
    max_rounds : int
        Rejection rounds before the grid takes over.

    Returns
    -------
    xarray.DataArray
        Standard-normal-scale deviations :math:`\epsilon_i` (named ``eta_raw``), dims
        (chain, draw, patient); plain N(0, 1) draws without the individual layer.
    """
    rng = np.random.default_rng(rng)
    eps = rng.standard_normal(lp0.shape)
    treated = np.asarray(z) == 1
    if "sigma_eta" not in posterior or not treated.any():
        return lp0.copy(data=eps).rename("eta_raw")
    sigma = np.broadcast_to(posterior["sigma_eta"].values[:, :, None], lp0.shape)
    lp1 = (lp0 + tau).values
    sign = np.where(np.asarray(y) == 1, 1.0, -1.0)
    # rejection: flat indices of the (draw, patient) cells still to sample
    todo = np.flatnonzero(np.broadcast_to(treated, lp0.shape).ravel())
    flat_eps, flat_lp1, flat_sigma = eps.reshape(-1), lp1.reshape(-1), sigma.reshape(-1)
    flat_sign = np.broadcast_to(sign, lp0.shape).reshape(-1)
    for _ in range(max_rounds):
        if todo.size == 0:
            break
        prop = rng.standard_normal(todo.size)
        accept = rng.random(todo.size) < expit(flat_sign[todo]
                                               * (flat_lp1[todo] + flat_sigma[todo] * prop))
        flat_eps[todo[accept]] = prop[accept]
        todo = todo[~accept]
    e = np.linspace(-8.0, 8.0, grid)
    width = e[1] - e[0]
    for start in range(0, todo.size, chunk * 1000):
        cells = todo[start:start + chunk * 1000]
        v = flat_lp1[cells, None] + flat_sigma[cells, None] * e
        logw = -0.5 * e**2 - np.logaddexp(0.0, -flat_sign[cells, None] * v)
        logw -= logw.max(axis=-1, keepdims=True)
        cdf = np.cumsum(np.exp(logw), axis=-1)
        u = rng.random((cells.size, 1)) * cdf[:, -1:]
        k = np.minimum((cdf < u).sum(axis=-1), grid - 1)
        flat_eps[cells] = e[k] + width * (rng.random(cells.size) - 0.5)
    return lp0.copy(data=flat_eps.reshape(lp0.shape)).rename("eta_raw")


def cate_draws(
    posterior: xr.Dataset,
    lay: Layout,
    X: np.ndarray,
    subgroup_idx: np.ndarray | None,
    *,
    kind: CateKind = "marginal",
    scale: EffectScaleHTE = "logit",
    new_trial: bool = False,
    rng: np.random.Generator | None = None,
    n_nodes: int = N_QUADRATURE,
) -> xr.DataArray:
    r"""Per-patient CATE draws, dims (chain, draw, patient).

    ``kind="marginal"`` (default) averages the treated risk over the individual
    deviations, :math:`\bar p_{1i} = \int \mathrm{expit}(\ell_{0i} + \tau_i +
    \sigma_\eta e)\phi(e)de` (Gauss-Hermite, ``n_nodes`` nodes), and returns
    :math:`\mathrm{logit}\,\bar p_{1i} - \ell_{0i}` (``scale="logit"``) or
    :math:`\bar p_{1i} - \mathrm{expit}(\ell_{0i})` (``"risk_difference"``): the
    effect identified by the data. ``kind="conditional"`` returns :math:`\tau_i` (the
    mean of the individual log-odds effects :math:`\eta_i`) or
    :math:`\mathrm{expit}(\ell_{0i} + \tau_i) - \mathrm{expit}(\ell_{0i})`. Without the
    individual layer both kinds coincide.

    Source: Tzimas (2024), the CATE of section 2.2; the marginal kind is this
    package's (see :mod:`bayes_hte.models.subgroup` on what the data identify).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of the subgroup model.
    lay : Layout
        The fit's encoding.
    X : numpy.ndarray
        Standardised covariates, shape (patient, covariate).
    subgroup_idx : numpy.ndarray, optional
        Each patient's levels, shape (patient, subgrouping); ``None`` without
        subgroupings.
    kind : {"marginal", "conditional"}
        Average the treated risk over the individual deviations, or not.
    scale : {"logit", "risk_difference"}
        Log-odds ratio scale or risk difference.
    new_trial : bool
        Place the patients in a new trial drawn per posterior draw (several trials
        only; see :func:`linear_predictors`).
    rng : numpy.random.Generator, optional
        Source of the new-trial draws.
    n_nodes : int
        Gauss-Hermite nodes of the marginal kind.

    Returns
    -------
    xarray.DataArray
        Named ``cate``, dims (chain, draw, patient), on ``scale`` (positive = more
        events when treated).

    Raises
    ------
    ValueError
        ``kind`` or ``scale`` outside its choices.
    """
    check_choice("kind", kind, CATE_KINDS)
    check_choice("scale", scale, EFFECT_SCALES_HTE)
    lp0, tau = linear_predictors(posterior, lay, X, subgroup_idx, new_trial=new_trial, rng=rng)
    if kind == "conditional" or "sigma_eta" not in posterior:
        if scale == "logit":
            out = tau
        else:
            out = xr.apply_ufunc(expit, lp0 + tau) - xr.apply_ufunc(expit, lp0)
    else:
        sigma = posterior["sigma_eta"].values[:, :, None]
        p, q = _marginal_treated((lp0 + tau).values, sigma, n_nodes)
        if scale == "logit":
            vals = np.log(p) - np.log(q) - lp0.values
        else:
            vals = p - expit(lp0.values)
        out = lp0.copy(data=vals)
    return out.rename("cate")


def risk_table(
    baseline_risk: xr.DataArray,
    cate: xr.DataArray,
    *,
    groups: int = 5,
    ci_prob: float = 0.95,
    truth: np.ndarray | None = None,
) -> pd.DataFrame:
    r"""CATE by groups of predicted baseline risk (Tzimas 2024, Table 8).

    Patients are split into ``groups`` equal-sized groups (quintiles by default,
    labelled ``Q1`` … lowest risk first) of their posterior-mean baseline risk
    :math:`\hat p_{0i}`. Per group:

    ``n``
        patients;
    ``mean_risk``
        mean of :math:`\hat p_{0i}`;
    ``mean_cate``
        posterior mean of the group's average CATE;
    ``cate_sd``
        SD across the group's patients of their posterior-mean CATE (the spread of
        effects within the group; the paper's ``te_sd``);
    ``ci_low``, ``ci_high``
        equal-tailed ``ci_prob`` posterior interval of the group's average CATE;
    ``patient_ci_low``, ``patient_ci_high``
        mean over the group's patients of their own interval bounds (how the paper's
        ``te_lower``/``te_upper`` read: they are far wider than the interval of the
        mean);
    ``true_mean_cate``
        mean of ``truth`` in the group, when given.

    Parameters
    ----------
    baseline_risk : xarray.DataArray
        Risk without treatment, dims (chain, draw, patient), in [0, 1].
    cate : xarray.DataArray
        Per-patient CATE draws, dims (chain, draw, patient), any scale.
    groups : int
        Number of risk groups (at least 2, at most the number of patients).
    ci_prob : float
        Probability of the equal-tailed intervals, in (0, 1).
    truth : numpy.ndarray, optional
        True CATE per patient, shape (patient,), on the scale of ``cate``.

    Returns
    -------
    pandas.DataFrame
        One row per risk group (index ``risk_group``: ``Q1`` … lowest risk first), the
        columns above; CATE columns on the scale of ``cate``.

    Raises
    ------
    DataError
        Bad ``groups``, mismatched patient counts, or ``truth`` of the wrong shape.
    ValueError
        ``ci_prob`` outside (0, 1).
    """
    check_count("groups", groups, low=2, error=DataError)
    n = cate.sizes["patient"]
    if baseline_risk.sizes["patient"] != n:
        raise DataError(f"baseline_risk has {baseline_risk.sizes['patient']} patients but "
                        f"cate has {n}")
    if groups > n:
        raise DataError(f"groups={groups} is more than the {n} patients")
    check_ci_prob(ci_prob, error=ValueError)
    sample = ("chain", "draw")
    risk = baseline_risk.mean(sample).values
    group = risk_groups(risk, groups=groups)
    labels = list(group.categories)
    codes = group.codes
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    point = cate.mean(sample).values
    bounds = cate.quantile([lo, hi], dim=list(sample)).transpose("quantile", "patient").values
    cv = cate.transpose("chain", "draw", "patient").values
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (n,):
            raise DataError(f"truth has shape {truth.shape}; expected one value per patient "
                            f"({n})")
    rows = []
    for k, lab in enumerate(labels):
        m = codes == k
        gmean = cv[:, :, m].mean(axis=-1)
        row = {"risk_group": lab, "n": int(m.sum()), "mean_risk": float(risk[m].mean()),
               "mean_cate": float(gmean.mean()), "cate_sd": float(point[m].std(ddof=1)),
               "ci_low": float(np.quantile(gmean, lo)), "ci_high": float(np.quantile(gmean, hi)),
               "patient_ci_low": float(bounds[0, m].mean()),
               "patient_ci_high": float(bounds[1, m].mean())}
        if truth is not None:
            row["true_mean_cate"] = float(truth[m].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("risk_group")


def risk_groups(risk: np.ndarray, *, groups: int = 5) -> pd.Categorical:
    """Equal-sized groups ``Q1`` (lowest) … ``Q<groups>`` of a per-patient risk.

    Ties are broken by order of appearance so the groups have equal sizes (to within
    one patient), as in Table 8 of Tzimas (2024).


    Parameters
    ----------
    risk : numpy.ndarray
        One risk per patient, shape (patient,) (e.g. the posterior-mean baseline risk).
    groups : int
        Number of groups.

    Returns
    -------
    pandas.Categorical
        Length (patient,), categories ``Q1`` … ``Q<groups>`` in increasing risk.

    Raises
    ------
    DataError
        Non-finite risks.
    """
    risk = np.asarray(risk, dtype=float)
    if not np.isfinite(risk).all():
        raise DataError("risk has non-finite values; cannot form risk groups")
    labels = [f"Q{k + 1}" for k in range(groups)]
    ranks = pd.Series(risk).rank(method="first").to_numpy()
    return pd.Categorical(pd.qcut(ranks, groups, labels=labels))
