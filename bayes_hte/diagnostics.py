r"""Convergence diagnostics of a fit: which variables to check, R-hat / ESS tables, Geweke.

Numbers only (tables and dicts); figures are in :mod:`bayes_hte.plots.diagnostics` and
the document in :mod:`bayes_hte.report`.
"""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.inference import divergences


def population_vars(idata: xr.DataTree, *, exclude_dims: Sequence[str] = ("patient",),
                    max_size: int = 60) -> list[str]:
    """Posterior variables worth diagnosing: no per-patient or raw (non-centred) ones.

    Skipped: variables with a dim in ``exclude_dims``, the non-centred ``*_raw``
    innovations, Cholesky factors and correlation matrices (``chol_*``, ``corr_*``),
    variables with more than ``max_size`` elements per draw, and constants (e.g. the
    plug-in ``tau_alpha`` of the stratified-intercept model).

    Parameters
    ----------
    idata : xarray.DataTree
        A fit (its ``posterior`` group is read).
    exclude_dims : sequence of str
        Dims that mark per-unit variables (per patient by default).
    max_size : int
        Largest number of elements per draw a variable may have.

    Returns
    -------
    list of str
        Posterior variable names, in the posterior's order.
    """
    post = idata["posterior"]
    names = []
    for v in post.data_vars:
        da = post[v]
        if any(d in da.dims for d in exclude_dims) or v.endswith("_raw"):
            continue
        if v.startswith("chol_") or v.startswith("corr_"):
            continue
        if da.size / (da.sizes["chain"] * da.sizes["draw"]) > max_size:
            continue
        if float(da.std()) == 0.0:  # plug-in constants (e.g. SI's tau_alpha)
            continue
        names.append(v)
    return names


def diagnostics_table(idata: xr.DataTree, *, var_names: Sequence[str] | None = None,
                      ci_prob: float = 0.95) -> pd.DataFrame:
    """Posterior summary with convergence diagnostics, one row per scalar parameter.

    Columns: mean, sd, the ``ci_prob`` equal-tailed interval, ``ess_bulk``,
    ``ess_tail``, ``r_hat`` (rank-normalised split R-hat, Vehtari et al. 2021),
    ``r_hat_classic`` (Gelman–Rubin potential scale reduction on split chains without
    rank normalisation), ``mcse_mean`` and ``mcse_sd``.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit with at least two chains.
    var_names : sequence of str, optional
        Posterior variables to tabulate; default :func:`population_vars`.
    ci_prob : float
        Probability of the equal-tailed credible interval, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Indexed ``name`` or ``name[label, ...]`` (one row per element of a vector or
        matrix variable); the parameters keep their posterior's scale (log-odds,
        log-hazard, SDs).
    """
    var_names = list(var_names or population_vars(idata))
    table = az.summary(idata, var_names=var_names, ci_prob=ci_prob, ci_kind="eti",
                       round_to="none")
    classic = az.rhat(idata, var_names=var_names, method="split")
    rows = []
    for v in var_names:
        da = classic[v]
        if da.ndim == 0:
            rows.append((v, float(da)))
            continue
        stacked = da.stack(_i=da.dims)
        for i in range(stacked.sizes["_i"]):
            idx = stacked.isel(_i=i)
            labels = ", ".join(str(idx.coords[d].item()) for d in da.dims)
            rows.append((f"{v}[{labels}]", float(idx)))
    table["r_hat_classic"] = pd.Series(dict(rows)).reindex(table.index)
    return table


def sampling_summary(idata: xr.DataTree, *, var_names: Sequence[str] | None = None) -> dict:
    """One-line health summary: divergences, worst R-hat, smallest ESS, ESS per second.

    Parameters
    ----------
    idata, var_names
        As in :func:`diagnostics_table`, which gives the R-hat and ESS.

    Returns
    -------
    dict
        ``divergences`` (int), ``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail``,
        ``sampling_seconds`` (NaN when the sampler did not record it),
        ``min_ess_per_second``, ``chains`` and ``draws`` (per chain).
    """
    table = diagnostics_table(idata, var_names=var_names)
    seconds = float(idata["posterior"].attrs.get("sampling_time", np.nan))
    ess_min = float(table["ess_bulk"].min())
    return {
        "divergences": divergences(idata),
        "max_r_hat": float(table["r_hat"].max()),
        "min_ess_bulk": ess_min,
        "min_ess_tail": float(table["ess_tail"].min()),
        "sampling_seconds": seconds,
        "min_ess_per_second": ess_min / seconds if seconds and seconds > 0 else np.nan,
        "chains": int(idata["posterior"].sizes["chain"]),
        "draws": int(idata["posterior"].sizes["draw"]),
    }


def spectrum0_ar(x: np.ndarray) -> np.ndarray:
    r"""Spectral density at frequency zero of each series along the last axis.

    Fits an autoregression AR(:math:`p`) by Yule-Walker (Levinson-Durbin on the
    biased autocovariances), with :math:`p \le \min(n - 1, \lfloor 10\log_{10} n\rfloor)`
    chosen by AIC, :math:`n\log\hat\sigma^2_p + 2p`, and returns

    .. math::

        \hat S(0) = \frac{\hat\sigma^2_p\, n / (n - p - 1)}{(1 - \sum_{j=1}^p \hat\phi_j)^2},

    the estimator of ``spectrum0.ar`` in R's coda (Plummer et al. 2006), so that
    :math:`\hat S(0)/n` estimates the variance of the series mean. A constant series
    has :math:`\hat S(0) = 0`. Vectorised over the leading axes.

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis, shape ``(..., n)`` with :math:`n \ge 3`.

    Returns
    -------
    numpy.ndarray
        Shape ``x.shape[:-1]``: :math:`\hat S(0)` of each series (units of ``x``
        squared).

    Raises
    ------
    ValueError
        Fewer than 3 values per series.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    if n < 3:
        raise ValueError(f"a series needs at least 3 draws for a spectral estimate, got {n}")
    lead = x.shape[:-1]
    xs = x.reshape(-1, n)
    xc = xs - xs.mean(axis=-1, keepdims=True)
    kmax = int(min(n - 1, np.floor(10 * np.log10(n))))
    # biased autocovariances r_0 .. r_kmax (divided by n), by FFT
    m = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(xc, m, axis=-1)
    r = np.fft.irfft(f * np.conj(f), m, axis=-1)[:, : kmax + 1] / n
    s = xs.shape[0]
    constant = r[:, 0] <= 1e-14 * np.maximum(1.0, np.abs(xs).max(axis=-1)) ** 2
    r0 = np.where(constant, 1.0, r[:, 0])
    var = np.empty((s, kmax + 1))
    var[:, 0] = r0
    sums = np.zeros((s, kmax + 1))  # sum of the AR coefficients at each order
    phi = np.zeros((s, kmax))
    for k in range(1, kmax + 1):  # Levinson-Durbin
        acc = r[:, k] - np.einsum("sj,sj->s", phi[:, : k - 1], r[:, k - 1:0:-1])
        kappa = np.where(constant, 0.0, acc / var[:, k - 1])
        prev = phi[:, : k - 1].copy()
        phi[:, : k - 1] = prev - kappa[:, None] * prev[:, ::-1]
        phi[:, k - 1] = kappa
        var[:, k] = var[:, k - 1] * (1.0 - kappa**2)
        sums[:, k] = phi[:, :k].sum(axis=-1)
    with np.errstate(divide="ignore"):
        aic = n * np.log(np.maximum(var, 1e-300)) + 2.0 * np.arange(kmax + 1)
    order = np.argmin(aic, axis=-1)
    rows = np.arange(s)
    v = var[rows, order] * n / (n - (order + 1))
    spec = v / (1.0 - sums[rows, order]) ** 2
    spec = np.where(constant, 0.0, spec)
    return spec.reshape(lead)


def geweke_z(draws: np.ndarray, *, first: float = 0.1, last: float = 0.5) -> np.ndarray:
    r"""Geweke (1992) z-scores of each chain along the last axis.

    Compares the mean of the first ``first`` fraction of the draws with the mean of
    the last ``last`` fraction,

    .. math::

        z = \frac{\bar\theta_A - \bar\theta_B}
                 {\sqrt{\hat S_A(0)/n_A + \hat S_B(0)/n_B}},

    with the variances of the two means from spectral densities at frequency zero
    (:func:`spectrum0_ar`). The windows follow coda's ``geweke.diag``: draws
    :math:`1 .. \lceil 1 + f_1(N-1)\rceil` and :math:`\lfloor N - f_2(N-1)\rfloor .. N`.
    For a stationary chain :math:`z` is approximately standard normal; :math:`|z| > 2`
    flags a chain whose start differs from its end. Vectorised over leading axes
    (e.g. (parameter, chain, draw)).

    Parameters
    ----------
    draws : numpy.ndarray
        Draws along the last axis, shape ``(..., draw)``.
    first : float
        Fraction of the draws in the first window, :math:`f_1`.
    last : float
        Fraction of the draws in the last window, :math:`f_2`
        (:math:`0 < f_1, f_2` and :math:`f_1 + f_2 \le 1`).

    Returns
    -------
    numpy.ndarray
        Shape ``draws.shape[:-1]``: the z-scores; NaN for a constant chain.

    Raises
    ------
    ValueError
        Window fractions outside their range, or a window with fewer than 3 draws.
    """
    x = np.asarray(draws, dtype=float)
    if not (0 < first < 1 and 0 < last < 1 and first + last <= 1):
        raise ValueError(f"first and last must be in (0, 1) with first + last <= 1, got "
                         f"{first}, {last}")
    n = x.shape[-1]
    end_a = int(np.ceil(1 + first * (n - 1)))
    start_b = int(np.floor(n - last * (n - 1)))
    a, b = x[..., :end_a], x[..., start_b - 1:]
    if a.shape[-1] < 3 or b.shape[-1] < 3:
        raise ValueError(f"{n} draws are too few for Geweke windows of {first:g} and {last:g}")
    var = spectrum0_ar(a) / a.shape[-1] + spectrum0_ar(b) / b.shape[-1]
    diff = a.mean(axis=-1) - b.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, diff / np.sqrt(var), np.nan)


def geweke(idata: xr.DataTree, *, var_names: Sequence[str] | None = None,
           first: float = 0.1, last: float = 0.5) -> pd.DataFrame:
    """Geweke z-scores per parameter (rows, labelled as :func:`diagnostics_table`) and
    chain (columns ``chain_1`` …), as Table 6 of Tzimas (2024); see :func:`geweke_z`.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit (its ``posterior`` group is read).
    var_names : sequence of str, optional
        Posterior variables; default :func:`population_vars`.
    first, last : float
        Window fractions, as in :func:`geweke_z` (coda's ``frac1``, ``frac2``).

    Returns
    -------
    pandas.DataFrame
        One row per scalar parameter element, one column per chain; values are
        approximately standard normal for a chain that has converged.

    Raises
    ------
    ValueError
        As :func:`geweke_z`.
    """
    post = idata["posterior"]
    var_names = list(var_names or population_vars(idata))
    rows, labels = [], []
    for v in var_names:
        da = post[v]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:
            stacked = da.stack(_i=extra).transpose("_i", "chain", "draw")
            for i in range(stacked.sizes["_i"]):
                idx = stacked.isel(_i=i)
                labels.append(f"{v}[" + ", ".join(str(idx.coords[d].item()) for d in extra)
                              + "]")
                rows.append(idx.values)
        else:
            labels.append(v)
            rows.append(da.transpose("chain", "draw").values)
    z = geweke_z(np.stack(rows), first=first, last=last)
    return pd.DataFrame(z, index=labels,
                        columns=[f"chain_{c + 1}" for c in range(z.shape[1])])
