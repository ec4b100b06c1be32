r"""Posterior -> summaries of the Bayesian evidence-synthesis models.

Functions of a posterior (an ``xarray.DataTree`` with a ``posterior`` group, or the
posterior ``xarray.Dataset`` itself) from the factories of
:mod:`bayes_hte.models.synthesis_univariate` and
:mod:`bayes_hte.models.synthesis_multivariate`; never of an estimator.

* :func:`posterior_summary` -> :class:`PosteriorSummary`, one scalar quantity in the
  comparators' vocabulary (``estimate``, ``se``, ``ci``, ``ci_low``, ``ci_high``,
  ``ci_prob``; :mod:`bayes_hte.comparators.results`), so a Bayesian answer sits on the
  same forest plot as the frequentist ones.
* :func:`parameter_table` -> mean, SD and equal-tailed interval of named scalar
  parameters (``mu``, ``tau``, ``theta_new`` ...).
* :func:`new_trial_coefficients` -> draws of a new trial's coefficient vector,
  :math:`\beta_{new} \sim MVN(\mu, \Omega)`, one per posterior draw.
* :func:`coefficient_table` -> mean (``estimate``), SD and interval of a coefficient
  vector, the table :func:`bayes_hte.plots.forest_coefficients` takes.

Intervals are equal-tailed posterior quantiles at ``ci_prob`` (credible intervals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.comparators.results import IntervalBounds, check_ci_prob
from bayes_hte.effects import SAMPLE_DIMS, summarize

__all__ = ["PosteriorSummary", "coefficient_table", "new_trial_coefficients",
           "parameter_table", "posterior_summary"]


# ---------------------------------------------------------------------------- one scalar
@dataclass(frozen=True)
class PosteriorSummary(IntervalBounds):
    """Posterior median, SD and equal-tailed interval of one scalar quantity.

    Has the comparators' vocabulary (``estimate``, ``se``, ``ci``, ``ci_low``,
    ``ci_high``, ``ci_prob``) so it sits on the same forest plot as
    :class:`~bayes_hte.comparators.univariate.MetaAnalysisResult` and
    :class:`~bayes_hte.comparators.causal.CausalMetaResult`
    (:func:`bayes_hte.plots.combined_forest_plot`).

    Parameters
    ----------
    label : str
        Name of the quantity (e.g. ``"mu"`` or ``"theta"``).
    estimate : float
        Posterior median (commutes with monotone transformations: the median of a log
        RR exponentiated is the median RR).
    se : float
        Posterior standard deviation (also available as :attr:`sd`).
    ci : numpy.ndarray, shape (2,)
        Equal-tailed credible interval (low, high) at ``ci_prob``.
    ci_prob : float
        Probability of ``ci`` (and ``pi``), e.g. 0.95.
    scale : str
        Scale of the values: ``"natural"``, or ``"log"`` for a log RR / log OR (plots
        exponentiate log-scale results).
    pi : numpy.ndarray, shape (2,), optional
        Equal-tailed interval of a predictive quantity (e.g. a new study's effect
        ``theta_new``): the Bayesian prediction interval.
    """

    label: str
    estimate: float
    se: float
    ci: np.ndarray
    ci_prob: float
    scale: str = "natural"
    pi: np.ndarray | None = None

    @property
    def sd(self) -> float:
        """Posterior standard deviation (the same number as ``se``)."""
        return self.se


def _draws(idata, var_name: str, sel: Mapping | None) -> xr.DataArray:
    """Draws (chain, draw) of one scalar posterior variable, after ``sel``."""
    post = idata if isinstance(idata, xr.Dataset) else idata["posterior"]
    if var_name not in post:
        raise KeyError(f"{var_name!r} is not in the posterior; variables: "
                       f"{sorted(post.data_vars)}")
    da = post[var_name]
    if sel:
        da = da.sel(dict(sel))
    extra = set(da.dims) - set(SAMPLE_DIMS)
    if extra:
        raise ValueError(f"{var_name!r} still has dims {sorted(extra)}; select one element "
                         f"with sel=, e.g. sel={{'measure': 'RR'}}")
    return da


def posterior_summary(idata: xr.DataTree | xr.Dataset, var_name: str = "theta", *,
                      sel: Mapping | None = None, ci_prob: float = 0.95,
                      label: str | None = None, predictive: str | None = None,
                      scale: str = "natural") -> PosteriorSummary:
    """Summarise one scalar posterior quantity (median, SD, equal-tailed interval).

    Parameters
    ----------
    idata : xarray.DataTree or xarray.Dataset
        A fit (its ``posterior`` group is read) or the posterior itself.
    var_name : str
        Posterior variable, e.g. ``"mu"`` of the normal–normal model or ``"theta"`` of
        the causal model.
    sel : mapping, optional
        Selection that leaves the variable scalar per draw, e.g. ``{"measure": "RR"}``.
    ci_prob : float
        Probability of the equal-tailed intervals, in (0, 1).
    label : str, optional
        Label of the result (default ``var_name``).
    predictive : str, optional
        A second variable (e.g. ``"theta_new"``) whose interval is stored as ``pi``.
    scale : str
        Recorded in the result (``"log"`` for log RR / log OR).

    Returns
    -------
    PosteriorSummary
        Median, SD, interval at ``ci_prob`` and, with ``predictive``, ``pi``. Medians
        and equal-tailed intervals commute with monotone transformations (RR, OR vs
        their logarithms).

    Raises
    ------
    KeyError
        ``var_name`` (or ``predictive``) is not in the posterior.
    ValueError
        The selection leaves the variable with dims other than (chain, draw), or
        ``ci_prob`` is not in (0, 1).
    """
    check_ci_prob(ci_prob, error=ValueError)
    da = _draws(idata, var_name, sel).values.ravel()
    q = [(1 - ci_prob) / 2, (1 + ci_prob) / 2]
    pi = None
    if predictive is not None:
        pi = np.quantile(_draws(idata, predictive, sel).values.ravel(), q)
    return PosteriorSummary(label=label or var_name, estimate=float(np.median(da)),
                            se=float(np.std(da, ddof=1)), ci=np.quantile(da, q),
                            ci_prob=ci_prob, scale=scale, pi=pi)


# ---------------------------------------------------------------------------- tables
def parameter_table(idata: xr.DataTree | xr.Dataset, var_names: Sequence[str], *,
                    ci_prob: float = 0.95, dim: str = "parameter") -> pd.DataFrame:
    """Mean, SD and equal-tailed interval of scalar posterior parameters, one row each.

    Parameters
    ----------
    idata : xarray.DataTree or xarray.Dataset
        A fit (its ``posterior`` group is read) or the posterior itself.
    var_names : sequence of str
        Scalar posterior variables (dims chain, draw), e.g. ``["mu", "tau",
        "theta_new"]``.
    ci_prob : float
        Probability of the intervals, in (0, 1).
    dim : str
        Name of the index of the table.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``dim`` (the variable names, in order); columns ``mean``, ``sd``,
        ``ci_low``, ``ci_high`` on the posterior's scale.

    Raises
    ------
    KeyError
        A variable is not in the posterior.
    ValueError
        A variable is not scalar per draw, or ``ci_prob`` is not in (0, 1).
    """
    check_ci_prob(ci_prob, error=ValueError)
    draws = [_draws(idata, v, None) for v in var_names]
    stacked = xr.concat(draws, dim=pd.Index(list(var_names), name=dim), coords="minimal",
                        compat="override")
    return summarize(stacked, ci_prob=ci_prob)


def new_trial_coefficients(idata: xr.DataTree, *, random_seed: int | None = None,
                           group: str = "posterior") -> xr.DataArray:
    r"""Posterior predictive coefficient vector of a new trial.

    :math:`\beta_{new} \sim MVN(\mu, \Omega)` for each posterior draw of
    :math:`(\mu, \Omega)`: one normal draw per posterior draw, through the symmetric
    square root of :math:`\Omega` (eigen-decomposition, negative rounding-error
    eigenvalues set to 0). Works for the posteriors of
    :func:`~bayes_hte.models.synthesis_multivariate.build_mvmeta_model` and
    :func:`~bayes_hte.models.synthesis_multivariate.build_one_stage_lmm`.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit with variables ``mu`` (chain, draw, coef) and ``Omega`` (chain, draw, coef,
        coef\_) in ``group``.
    random_seed : int, optional
        Seed of the normal draws.
    group : str
        Group holding ``mu`` and ``Omega``.

    Returns
    -------
    xarray.DataArray
        ``beta_new``, dims (chain, draw, coef), on the coefficients' scale.
    """
    post = idata[group]
    mu = post["mu"]
    om = post["Omega"].values  # (c, d, p, p)
    w, v = np.linalg.eigh(om)
    root = v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]
    rng = np.random.default_rng(random_seed)
    z = rng.standard_normal(mu.shape)
    dev = np.einsum("cdij,cdj->cdi", root, z)
    out = mu.copy(data=mu.values + dev)
    out.name = "beta_new"
    return out


def coefficient_table(idata: xr.DataTree | None, var_name: str = "mu", *,
                      ci_prob: float = 0.95,
                      draws: xr.DataArray | None = None) -> pd.DataFrame:
    """Posterior mean (``estimate``), SD and equal-tailed interval of a coefficient vector.

    The table :func:`bayes_hte.plots.forest_coefficients` and
    :func:`bayes_hte.plots.compare_estimates` take.

    Parameters
    ----------
    idata : xarray.DataTree or None
        A fit; ``idata["posterior"][var_name]`` has dims (chain, draw, coef). May be
        ``None`` when ``draws`` is given.
    var_name : str
        The coefficient vector (``"mu"``: the pooled coefficients).
    ci_prob : float
        Probability of the intervals, in (0, 1).
    draws : xarray.DataArray, optional
        Draws (chain, draw, coef) to summarise instead of ``idata[var_name]``, e.g.
        :func:`new_trial_coefficients`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``coef`` (as text); columns ``estimate`` (posterior mean), ``sd``,
        ``ci_low``, ``ci_high``.

    Raises
    ------
    ValueError
        ``ci_prob`` is not in (0, 1).
    """
    check_ci_prob(ci_prob, error=ValueError)
    da = draws if draws is not None else idata["posterior"][var_name]
    flat = da.stack(sample=SAMPLE_DIMS).transpose("coef", "sample")
    vals = flat.values
    a = (1 - ci_prob) / 2
    return pd.DataFrame({"estimate": vals.mean(axis=1), "sd": vals.std(axis=1, ddof=1),
                         "ci_low": np.quantile(vals, a, axis=1),
                         "ci_high": np.quantile(vals, 1 - a, axis=1)},
                        index=pd.Index([str(c) for c in flat["coef"].values], name="coef"))
