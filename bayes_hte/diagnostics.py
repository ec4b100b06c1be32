r"""Diagnostics of a fit: which variables to check, R-hat / ESS tables, Geweke, PSIS-LOO.

Numbers only (tables and dicts); figures are in :mod:`bayes_hte.plots.diagnostics` and
the document in :mod:`bayes_hte.report`.

Every diagnostic is computed only where it is defined, and where it is not the tables
say so in words instead of printing numerical warnings: R-hat compares chains, so it
needs at least 2 chains (a single-chain fit, e.g. an IECV refit, has none); R-hat and
ESS need at least 4 draws per chain; a parameter that does not vary over the draws (a
plug-in constant) has neither R-hat nor ESS. The sentences are in the ``notes`` of
:func:`diagnostics_table` (``table.attrs["notes"]``) and :func:`sampling_summary`.
PSIS-LOO (:func:`loo_table`) keeps the Pareto :math:`\hat k` reliability diagnostic of
every model (Vehtari et al. 2024, "Pareto smoothed importance sampling", JMLR) next to
its ``elpd_loo``, with ArviZ's warning text.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.errors import ConvergenceWarning
from bayes_hte.inference import ATTR_SAMPLING, divergences

#: Fewest chains R-hat is defined for, and fewest draws per chain for R-hat and ESS.
MIN_CHAINS_RHAT, MIN_DRAWS = 2, 4
#: Columns of :func:`diagnostics_table` that are undefined for a constant parameter.
_UNDEFINED_IF_CONSTANT = ("ess_bulk", "ess_tail", "r_hat", "r_hat_classic", "mcse_sd")


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
        # plug-in constants (e.g. SI's tau_alpha, one per arm for the T-learner): every
        # element equal over the draws, as diagnostics_table tests it (the SD of equal
        # values is not always 0 in floating point)
        if bool((da.max(("chain", "draw")) == da.min(("chain", "draw"))).all()):
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

    Diagnostics are computed only where defined (module docstring): with one chain
    the R-hat columns are NaN, as are R-hat, ESS and the MCSE of the SD of a parameter
    constant over the draws; ``table.attrs["notes"]`` says which and why, in words.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit (its ``posterior`` group is read); R-hat needs at least two chains.
    var_names : sequence of str, optional
        Posterior variables to tabulate; default :func:`population_vars`.
    ci_prob : float
        Probability of the equal-tailed credible interval, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Indexed ``name`` or ``name[label, ...]`` (one row per element of a vector or
        matrix variable); the parameters keep their posterior's scale (log-odds,
        log-hazard, SDs). ``attrs["notes"]``: list of sentences on the diagnostics not
        computed (empty when all are).
    """
    var_names = list(var_names or population_vars(idata))
    post = idata["posterior"]
    n_chain, n_draw = int(post.sizes["chain"]), int(post.sizes["draw"])
    rhat_ok = n_chain >= MIN_CHAINS_RHAT and n_draw >= MIN_DRAWS
    # the undefined cases are set to NaN and described below; ArviZ's 0/0 on them is not
    # a message for the user
    with np.errstate(divide="ignore", invalid="ignore"):
        table = az.summary(idata, var_names=var_names, ci_prob=ci_prob, ci_kind="eti",
                           round_to="none")
        classic = az.rhat(idata, var_names=var_names, method="split") if rhat_ok else None
    rows, constant = [], []
    for v in var_names:
        da = post[v]
        flat = da.stack(_i=[d for d in da.dims if d not in ("chain", "draw")]) \
            if da.ndim > 2 else da.expand_dims(_i=[0], axis=-1)
        spread = (flat.max(("chain", "draw")) - flat.min(("chain", "draw"))).values
        for i in range(flat.sizes["_i"]):
            name = v if da.ndim == 2 else _element_label(v, flat.isel(_i=i), da.dims)
            value = np.nan
            if classic is not None:
                c = classic[v]
                value = float(c) if c.ndim == 0 else float(c.stack(_i=c.dims).isel(_i=i))
            rows.append((name, value))
            if spread[i] == 0:
                constant.append(name)
    table["r_hat_classic"] = pd.Series(dict(rows)).reindex(table.index)
    notes = []
    if n_draw < MIN_DRAWS:
        table[["r_hat", "r_hat_classic", "ess_bulk", "ess_tail"]] = np.nan
        notes.append(f"R-hat and ESS not computed: {n_draw} draws per chain (they need at "
                     f"least {MIN_DRAWS})")
    elif n_chain < MIN_CHAINS_RHAT:
        table[["r_hat", "r_hat_classic"]] = np.nan
        notes.append(f"R-hat not computed: {n_chain} chain (R-hat compares chains, so it needs "
                     f"at least {MIN_CHAINS_RHAT})")
    constant = [c for c in constant if c in table.index]
    if constant:
        table.loc[constant, list(_UNDEFINED_IF_CONSTANT)] = np.nan
        shown = ", ".join(constant[:5]) + (f" and {len(constant) - 5} more"
                                           if len(constant) > 5 else "")
        notes.append(f"R-hat and ESS not computed for {len(constant)} parameter(s) constant "
                     f"over the draws ({shown}): nothing varies to compare")
    table.attrs["notes"] = notes
    return table


def _element_label(v: str, element: xr.DataArray, dims: Sequence[str]) -> str:
    """``v[label, ...]``: ArviZ's row label of one element of a vector variable."""
    labels = ", ".join(str(element.coords[d].item()) for d in dims
                       if d not in ("chain", "draw"))
    return f"{v}[{labels}]"


def sampler_settings(idata: xr.DataTree) -> dict:
    """The sampler settings a fit recorded in its posterior (:data:`ATTR_SAMPLING`).

    Parameters
    ----------
    idata : xarray.DataTree
        A fit's result, with a ``posterior`` group.

    Returns
    -------
    dict
        ``sampler``, ``target_accept``, ``mass_matrix`` (``"diag"`` or ``"low_rank"``)
        of every fit by :func:`bayes_hte.inference.fit` (so of every estimator), and
        for :class:`~bayes_hte.IPDMetaModel` ``intercept_form`` (the form of the random
        trial intercepts: ``"centered"``, ``"non_centered"``, ``"anchored"``,
        ``"partially_centered"``, or None for structures without them) — what
        ``"auto"`` and the structure's defaults resolved to; empty for results saved
        before they were recorded.
    """
    text = idata["posterior"].attrs.get(ATTR_SAMPLING)
    return json.loads(text) if text else {}


def sampling_summary(idata: xr.DataTree, *, var_names: Sequence[str] | None = None,
                     table: pd.DataFrame | None = None) -> dict:
    """One-line health summary: divergences, worst R-hat, smallest ESS, ESS per second.

    Parameters
    ----------
    idata, var_names
        As in :func:`diagnostics_table`, which gives the R-hat and ESS.
    table : pandas.DataFrame, optional
        ``diagnostics_table(idata, var_names=var_names)`` already computed (any
        ``ci_prob``; only its ``r_hat``, ``ess_bulk``, ``ess_tail`` columns and notes
        are read), so that it is not computed again.

    Returns
    -------
    dict
        ``divergences`` (int), ``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail`` (NaN
        where not defined, see :func:`diagnostics_table`), ``sampling_seconds`` (NaN
        when the sampler did not record it), ``min_ess_per_second``, ``chains`` and
        ``draws`` (per chain), and ``notes``: the diagnostics not computed and why, in
        words (``""`` when all were). A fit that recorded its sampler settings
        (:func:`sampler_settings`) adds them: ``sampler``, ``target_accept``,
        ``mass_matrix`` and ``intercept_form``, the values ``"auto"`` resolved to.
    """
    if table is None:
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
        "notes": "; ".join(table.attrs["notes"]),
        **sampler_settings(idata),
    }


#: Targets of a fit (Vehtari et al. 2021): no divergences, R-hat at most 1.01, a bulk
#: and tail ESS of at least 100 per chain.
MAX_R_HAT, MIN_ESS_PER_CHAIN = 1.01, 100


def health_problems(health: Mapping) -> list[str]:
    """The targets a fit misses, in words (empty when it meets them all).

    Parameters
    ----------
    health : mapping
        From :func:`sampling_summary`.

    Returns
    -------
    list of str
        E.g. ``"3 divergent transitions (the posterior may be biased; raise
        target_accept)"``, ``"max R-hat 1.209 > 1.01 (the chains disagree; run longer)"``,
        ``"min bulk ESS 58 and tail ESS 48 < 200 (100 per chain x 2 chains): ... draw more
        (e.g. draws=200)"`` (the suggestion scales the draws per chain by the shortfall);
        targets: :data:`MAX_R_HAT`,
        :data:`MIN_ESS_PER_CHAIN`, no divergences. Diagnostics that are not defined
        (NaN) are not targets missed (their ``notes`` say why).
    """
    out = []
    if health["divergences"]:
        out.append(f"{int(health['divergences'])} divergent transitions (the posterior may be "
                   "biased; raise target_accept or reparameterise)")
    if np.isfinite(health.get("max_r_hat", np.nan)) and health["max_r_hat"] > MAX_R_HAT:
        r_hat = health["max_r_hat"]  # 4 decimals where 3 would print the threshold itself
        shown = f"{r_hat:.3f}" if round(r_hat, 3) > MAX_R_HAT else f"{r_hat:.4f}"
        out.append(f"max R-hat {shown} > {MAX_R_HAT} (the chains disagree; run longer)")
    chains = int(health["chains"])
    need = MIN_ESS_PER_CHAIN * chains
    low = {kind: ess for kind in ("bulk", "tail")
           if np.isfinite(ess := health.get(f"min_ess_{kind}", np.nan)) and ess < need}
    if low:
        draws = int(health.get("draws", 0))
        more = (f" (e.g. draws={int(np.ceil(draws * need / min(low.values()) / 100) * 100)})"
                if draws and min(low.values()) > 0 else "")
        out.append(f"min {' and '.join(f'{k} ESS {e:.0f}' for k, e in low.items())} < "
                   f"{need} ({MIN_ESS_PER_CHAIN} per chain x {chains} chain"
                   f"{'s' if chains != 1 else ''}): too few effective draws for reliable "
                   f"intervals; draw more{more}")
    return out


#: Whether a fit warns when it misses the targets (off where the caller reports them).
_CONVERGENCE_WARNINGS: ContextVar[bool] = ContextVar("bayes_hte_convergence_warnings",
                                                    default=True)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@contextmanager
def convergence_warnings(enabled: bool) -> Iterator[None]:
    """Turn the :class:`~bayes_hte.ConvergenceWarning` of ``fit()`` on or off in a block.

    The job runners, the cross-validation refits, :func:`compare_ite_models` and the
    simulation studies fit inside ``convergence_warnings(False)``: they log and tabulate
    each fit's health themselves, so the warning (and the R-hat it computes) is skipped.
    The setting is a context variable, so it holds for the thread or task that sets it.

    Parameters
    ----------
    enabled : bool
        Whether fits in the block check their convergence and warn.

    Yields
    ------
    None
    """
    token = _CONVERGENCE_WARNINGS.set(bool(enabled))
    try:
        yield
    finally:
        _CONVERGENCE_WARNINGS.reset(token)


def convergence_warnings_on() -> bool:
    """Whether fits warn here (:func:`convergence_warnings`); ``True`` unless turned off.

    Returns
    -------
    bool
    """
    return _CONVERGENCE_WARNINGS.get()


def warn_if_not_converged(idata: xr.DataTree, table: pd.DataFrame | None = None, *,
                          label: str) -> list[str]:
    """Warn with :class:`~bayes_hte.ConvergenceWarning` when a fit misses a target.

    The targets are those of :func:`health_problems` (no divergent transitions, R-hat
    at most :data:`MAX_R_HAT`, bulk and tail ESS at least :data:`MIN_ESS_PER_CHAIN` per
    chain; Vehtari et al. 2021); a single chain, whose R-hat cannot be computed, is
    reported too. Nothing is computed inside ``convergence_warnings(False)``.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit (``posterior`` and ``sample_stats`` groups).
    table : pandas.DataFrame, optional
        Its :func:`diagnostics_table` over the parameters to check (default: over
        :func:`population_vars`).
    label : str
        What was fitted, for the message (e.g. the estimator's ``repr``).

    Returns
    -------
    list of str
        The targets missed, in words (empty when none, or when warnings are off).

    Warns
    -----
    bayes_hte.ConvergenceWarning
        One warning naming every target missed; attributed to the caller's line
        outside bayes_hte.
    """
    if not convergence_warnings_on():
        return []
    health = sampling_summary(idata, table=table)
    problems = health_problems(health)
    if health["chains"] < MIN_CHAINS_RHAT:
        problems.append(f"R-hat not checked: {health['chains']} chain (R-hat compares "
                        f"chains; run chains >= {MIN_CHAINS_RHAT}, e.g. the default 4)")
    if problems:
        warnings.warn(ConvergenceWarning(
            f"{label}: " + "; ".join(problems) + ". See parameters() for R-hat and ESS "
            "per parameter."), skip_file_prefixes=(_PACKAGE_DIR,))
    return problems


def format_health(health: Mapping) -> str:
    """One line of words for a :func:`sampling_summary`, for logs and reports.

    Parameters
    ----------
    health : mapping
        From :func:`sampling_summary` (keys ``divergences``, ``max_r_hat``,
        ``min_ess_bulk``, ``chains``, optionally ``notes``).

    Returns
    -------
    str
        E.g. ``"0 divergences, max R-hat 1.004, min bulk ESS 812"``, or with one chain
        ``"0 divergences, R-hat not computed (1 chain), min bulk ESS 80"``.
    """
    parts = [f"{int(health['divergences'])} divergences"]
    r_hat = health.get("max_r_hat", np.nan)
    if np.isfinite(r_hat):
        parts.append(f"max R-hat {r_hat:.3f}")
    else:
        parts.append(f"R-hat not computed ({int(health['chains'])} chain"
                     f"{'s' if int(health['chains']) != 1 else ''})")
    ess = health.get("min_ess_bulk", np.nan)
    parts.append(f"min bulk ESS {ess:.0f}" if np.isfinite(ess) else "ESS not computed")
    return ", ".join(parts)


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


# --------------------------------------------------------------------------- PSIS-LOO
#: Columns of :func:`loo_table`.
LOO_COLUMNS = ["elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "n_obs", "n_draws",
               "pareto_k_max", "pareto_k_threshold", "pareto_k_bad", "loo_reliable",
               "warning"]


def _recorded(caught: list) -> list[str]:
    """Unique messages of recorded warnings, in order."""
    return list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))


#: Warning categories about the libraries' own code, not about a fit or its data.
_LIBRARY_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def fit_warnings(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """The messages of warnings recorded around a fit, to log and report them.

    Parameters
    ----------
    caught : sequence of warnings.WarningMessage
        From ``warnings.catch_warnings(record=True)`` around a fit.

    Returns
    -------
    list of str
        Each distinct message once, in order, prefixed by its category (e.g.
        ``"DataWarning: trial 'T3' has no events ..."``); deprecation and future
        warnings about the libraries' own code are left out.
    """
    return list(dict.fromkeys(
        f"{w.category.__name__}: {' '.join(str(w.message).split())}" for w in caught
        if not issubclass(w.category, _LIBRARY_WARNINGS)))


def loo_table(idatas: Mapping[str, xr.DataTree], *, var_name: str | None = None
              ) -> pd.DataFrame:
    r"""PSIS-LOO of each model with its Pareto :math:`\hat k` reliability diagnostic.

    ArviZ's ``loo`` per model (Vehtari, Gelman & Gabry 2017) and, for several models,
    ``compare`` (``elpd_diff`` and its SE against the best model, stacking weights).
    Nothing is silenced: the Pareto :math:`\hat k` of every observation is summarised
    next to ``elpd_loo`` and ArviZ's warnings are kept as text in ``warning``. An
    observation with :math:`\hat k` above the threshold
    :math:`\min(1 - 1/\log_{10} S, 0.7)` for :math:`S` draws (Vehtari et al. 2024,
    JMLR 25:72; 0.7 from 2,200 draws on) has an unreliable importance-sampling
    estimate, so ``elpd_loo`` is then unreliable too (e.g. a trial of 4 patients whose
    patients each move the trial's own parameters).

    Parameters
    ----------
    idatas : mapping of str to xarray.DataTree
        Fits with a ``log_likelihood`` group, by model label.
    var_name : str, optional
        The ``log_likelihood`` variable (needed when a model has several, e.g. the
        causal meta-analysis's ``events`` and ``n_study``).

    Returns
    -------
    pandas.DataFrame
        One row per model (best ``elpd_loo`` first for several models), columns
        :data:`LOO_COLUMNS`: ``elpd_loo`` and its ``se`` (log scale), ``p_loo``,
        ``elpd_diff``, ``dse`` and ``weight`` (NaN for one model), ``n_obs``
        (observation units), ``n_draws``, ``pareto_k_max`` (``inf`` when some
        :math:`\hat k` could not be estimated, which counts as unreliable),
        ``pareto_k_threshold``,
        ``pareto_k_bad`` (number of observations above the threshold),
        ``loo_reliable`` (no observation above it) and ``warning`` (``""``, or the
        count in words followed by ArviZ's warning texts).

    Raises
    ------
    ValueError
        No models, or a model without a ``log_likelihood`` group (the message says how
        to add it).
    """
    if not idatas:
        raise ValueError("loo_table needs at least one model")
    rows, results = {}, {}
    for label, idata in idatas.items():
        if "log_likelihood" not in idata:
            raise ValueError(f"model {label!r} has no log_likelihood group: fit it with "
                             "log_likelihood=True (the default)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = az.loo(idata, pointwise=True, var_name=var_name)
        k = np.asarray(res.pareto_k, dtype=float).ravel()
        # a k that cannot be estimated (NaN: ratios too extreme to fit) is no better
        k_max = float(np.inf) if np.isnan(k).any() else float(k.max())
        bad = int(np.sum((k > res.good_k) | np.isnan(k)))
        texts = []
        if bad:
            texts.append(f"{bad} of {k.size} observations with Pareto k > "
                         f"{res.good_k:.2f} (max {k_max:.2f}"
                         f"{'; k not estimable for some' if np.isnan(k).any() else ''}): "
                         "PSIS-LOO is unreliable for this model (refit without them or use "
                         "k-fold cross-validation)")
        texts += [f"ArviZ: {m}" for m in _recorded(caught)]
        results[label] = res
        rows[label] = {"elpd_loo": float(res.elpd), "se": float(res.se), "p_loo": float(res.p),
                       "elpd_diff": np.nan, "dse": np.nan, "weight": np.nan,
                       "n_obs": int(res.n_data_points), "n_draws": int(res.n_samples),
                       "pareto_k_max": k_max,
                       "pareto_k_threshold": float(res.good_k), "pareto_k_bad": bad,
                       "loo_reliable": bad == 0, "warning": "; ".join(texts)}
    table = pd.DataFrame.from_dict(rows, orient="index")[LOO_COLUMNS]
    if len(results) > 1:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            comp = az.compare(results, round_to="none")
        for col in ("elpd_diff", "dse", "weight"):
            table[col] = comp[col].reindex(table.index).astype(float)
        table = table.loc[list(comp.index)]
        for m in _recorded(caught):  # comparison-level warnings concern every model
            table["warning"] = [f"{w}; ArviZ compare: {m}" if w else f"ArviZ compare: {m}"
                                for w in table["warning"]]
    table.index.name = "model"
    return table
