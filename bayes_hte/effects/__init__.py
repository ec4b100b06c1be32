"""Posterior -> individualized and conditional average treatment effects.

The estimand layer: functions of (posterior, design, resolved options), never of an
estimator. Submodules: :mod:`~bayes_hte.effects.ipdma` (linear predictors, pooled
intercepts), :mod:`~bayes_hte.effects.survival` (survival ITE, hazard ratio,
predictive survival), :mod:`~bayes_hte.effects.subgroup` (CATEs of the subgroup model,
risk tables), :mod:`~bayes_hte.effects.synthesis` (summaries of the synthesis models).

Every estimand keeps its draws: functions return ``xarray.DataArray`` objects with
dims ``(chain, draw, ...)``; tables are made last, by :func:`summarize`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from bayes_hte.comparators.results import check_ci_prob

SAMPLE_DIMS = ("chain", "draw")


def risk_difference(lp0: xr.DataArray, lp1: xr.DataArray) -> xr.DataArray:
    r"""ITE as a risk difference, :math:`\mathrm{expit}(\ell_1) - \mathrm{expit}(\ell_0)`.

    The ITE of Bouvier et al. (2024) for a binary outcome,
    :math:`P(y=1|x,1) - P(y=1|x,0)`, per posterior draw.

    Parameters
    ----------
    lp0, lp1 : xarray.DataArray
        Log-odds under control and under treatment, same dims, typically
        (chain, draw, patient).

    Returns
    -------
    xarray.DataArray
        Same dims: risk difference in [-1, 1] (negative = fewer events when treated).
    """
    return xr.apply_ufunc(expit, lp1) - xr.apply_ufunc(expit, lp0)


def group_mean(values: xr.DataArray, groups: Sequence | pd.Series, *, name: str,
               dim: str = "patient") -> xr.DataArray:
    """Average ``values`` over ``dim`` within each level of ``groups`` (draws kept).

    Levels are sorted — a pandas Categorical's in the order of its categories, as R's
    factor levels (those with units only); the result has dims ``(chain, draw, <name>)``.

    Parameters
    ----------
    values : xarray.DataArray
        Per-unit draws, dims (chain, draw, ``dim``), e.g. ITEs.
    groups : sequence or pandas.Series
        The group of each unit along ``dim`` (same length), e.g. a column of the data.
    name : str
        Name of the new dim (usually the grouping column's name).
    dim : str
        The dim averaged over.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, ``name``) with the sorted levels as coordinates; the scale
        of ``values``.

    Raises
    ------
    ValueError
        ``groups`` has the wrong length or missing values.
    """
    g = groups if isinstance(groups, pd.Series) else pd.Series(groups)
    if not isinstance(g.dtype, pd.CategoricalDtype):
        g = pd.Series(np.asarray(g))
    g = g.reset_index(drop=True)
    if len(g) != values.sizes[dim]:
        raise ValueError(f"groups has {len(g)} entries but values have {values.sizes[dim]} "
                         f"along {dim!r}")
    codes, levels = pd.factorize(g, sort=True)
    if (codes < 0).any():
        raise ValueError(f"the grouping {name!r} has missing values")
    labels = xr.DataArray(codes, dims=dim)
    out = values.groupby(labels.rename("_group")).mean()
    out = out.rename({"_group": name}).assign_coords({name: list(np.asarray(levels))})
    return out.transpose(*SAMPLE_DIMS, name, ...)


def summarize(values: xr.DataArray | xr.Dataset, *, ci_prob: float = 0.95,
              sample_dims: Sequence[str] = SAMPLE_DIMS) -> pd.DataFrame:
    """Mean, SD and equal-tailed interval at ``ci_prob`` for every non-sample index.

    Parameters
    ----------
    values : xarray.DataArray or xarray.Dataset
        Draws, dims (chain, draw, ...).
    ci_prob : float
        Probability of the equal-tailed interval, in (0, 1).
    sample_dims : sequence of str
        The dims that index draws (summarised over).

    Returns
    -------
    pandas.DataFrame
        Indexed by the remaining dims (one row for a scalar) with columns ``mean``,
        ``sd`` (``ddof=1``), ``ci_low``, ``ci_high``, on the scale of ``values``;
        a Dataset adds a leading ``variable`` column and a flat index.

    Raises
    ------
    ValueError
        ``ci_prob`` outside (0, 1).
    """
    check_ci_prob(ci_prob, error=ValueError)
    if isinstance(values, xr.Dataset):
        parts = []
        for name, da in values.data_vars.items():
            df = summarize(da, ci_prob=ci_prob, sample_dims=sample_dims).reset_index()
            df.insert(0, "variable", name)
            parts.append(df)
        return pd.concat(parts, ignore_index=True)
    dims = [d for d in sample_dims if d in values.dims]
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    q = values.quantile([lo, hi], dim=dims)
    table = xr.Dataset({
        "mean": values.mean(dims),
        "sd": values.std(dims, ddof=1),
        "ci_low": q.sel(quantile=lo, drop=True),
        "ci_high": q.sel(quantile=hi, drop=True),
    })
    if not table["mean"].dims:
        return pd.DataFrame({k: [float(v)] for k, v in table.data_vars.items()})
    df = table.to_dataframe()
    return df[["mean", "sd", "ci_low", "ci_high"]]


def interval_coverage(values: xr.DataArray, truth: np.ndarray, *, ci_prob: float = 0.95,
                      dim: str = "patient") -> float:
    """Share of ``truth`` inside the equal-tailed ``ci_prob`` intervals of ``values``.

    Parameters
    ----------
    values : xarray.DataArray
        Draws, dims (chain, draw, ``dim``).
    truth : numpy.ndarray
        True values, one per element of ``dim``, on the scale of ``values``.
    ci_prob : float
        Probability of the intervals, in (0, 1).
    dim : str
        The dim along which ``truth`` is laid out.

    Returns
    -------
    float
        Empirical coverage in [0, 1] (bounds included).
    """
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    q = values.quantile([lo, hi], dim=list(SAMPLE_DIMS)).transpose("quantile", dim).values
    truth = np.asarray(truth)
    return float(np.mean((truth >= q[0]) & (truth <= q[1])))
