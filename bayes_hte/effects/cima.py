r"""Posterior -> effects of the Bayesian CIMA (:mod:`bayes_hte.models.cima`).

The CATE is linear in its coefficients, :math:`\tau(x;\theta) = b(x)'\theta`, so every
population effect is a linear function of the draws of :math:`\theta`: the CATE of a
row, :math:`b(x)'\theta`, and the average effect over a set of target rows,
:math:`\bar b_g'\theta` with :math:`\bar b_g` the mean design row of the set (the
target-population ATE and the effects of its subgroups, as
:meth:`bayes_hte.comparators.cima.CIMAResult.average_effect` computes them at
:math:`\hat\theta`). Draws are kept (dims chain, draw, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.effects import SAMPLE_DIMS

__all__ = ["linear_effects"]


def linear_effects(theta: xr.DataArray, design: np.ndarray, *, dim: str,
                   labels: Sequence | pd.Index | None = None) -> xr.DataArray:
    r"""Draws of :math:`b'\theta` for every row :math:`b` of a design matrix.

    Parameters
    ----------
    theta : xarray.DataArray
        Coefficient draws, dims (chain, draw, coef).
    design : ndarray, shape (n, p)
        One design row per unit (a covariate row, or the mean design row of a set of
        rows); columns in the order of ``theta``'s ``coef``.
    dim : str
        Name of the units' dim (e.g. ``"patient"`` or ``"subgroup"``).
    labels : sequence or pandas.Index, optional
        Coordinates of ``dim`` (default 0..n-1; a MultiIndex keeps its levels).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, ``dim``), on the scale of the CATE (e.g. risk difference).

    Raises
    ------
    ValueError
        ``design`` does not have one column per coefficient, or ``labels`` the wrong
        length.
    """
    B = np.atleast_2d(np.asarray(design, dtype=float))
    p = theta.sizes["coef"]
    if B.shape[1] != p:
        raise ValueError(f"design has {B.shape[1]} columns but theta has {p} coefficients")
    if labels is not None and len(labels) != B.shape[0]:
        raise ValueError(f"{len(labels)} labels for {B.shape[0]} design rows")
    coef = theta["coef"].values
    Bd = xr.DataArray(B, dims=(dim, "coef"), coords={"coef": coef})
    out = xr.dot(theta, Bd, dim="coef")
    if labels is not None:
        idx = labels if isinstance(labels, pd.Index) else pd.Index(list(labels), name=dim)
        if isinstance(idx, pd.MultiIndex):
            out = out.assign_coords(xr.Coordinates.from_pandas_multiindex(idx, dim))
        else:
            out = out.assign_coords({dim: np.asarray(idx)})
    return out.transpose(*SAMPLE_DIMS, dim)
