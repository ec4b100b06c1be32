"""Convergence figures of a posterior: trace + density and rank plots (ArviZ).

Which variables to show is the caller's choice (e.g.
:func:`bayes_hte.diagnostics.population_vars`); the figures only read the posterior.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import xarray as xr
from matplotlib.figure import Figure


def plot_trace(idata: xr.DataTree, *, var_names: Sequence[str]) -> Figure:
    """Trace and per-chain density of each variable (ArviZ ``plot_trace_dist``).

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior`` group (dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Posterior variables to draw (keep them few and low-dimensional).

    Returns
    -------
    matplotlib.figure.Figure
        One row per variable element: density per chain (left), trace (right).

    Raises
    ------
    KeyError
        If a name is not a posterior variable.
    """
    pc = az.plot_trace_dist(idata, var_names=list(var_names), backend="matplotlib")
    return pc.get_viz("figure")


def plot_rank(idata: xr.DataTree, *, var_names: Sequence[str]) -> Figure:
    """Rank plots of each variable (ArviZ ``plot_rank``; Vehtari et al. 2021).

    The fractional ranks of every chain's draws within all chains should be uniform
    when the chains mix; their ECDF difference is drawn with a simultaneous band.

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior`` group (dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Posterior variables to draw.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per variable element.

    Raises
    ------
    KeyError
        If a name is not a posterior variable.
    """
    pc = az.plot_rank(idata, var_names=list(var_names), backend="matplotlib")
    return pc.get_viz("figure")


def convergence_plots(
    idata: xr.DataTree,
    outdir: str | Path,
    *,
    prefix: str,
    var_names: Sequence[str],
    dpi: int = 80,
) -> list[Path]:
    """Write the trace and rank plots of ``var_names`` as PNGs.

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior`` group.
    outdir : str or pathlib.Path
        Existing directory to write to.
    prefix : str
        File names are ``<prefix>_trace.png`` and ``<prefix>_rank.png``.
    var_names : sequence of str
        Posterior variables to draw, e.g.
        ``bayes_hte.diagnostics.population_vars(idata, max_size=12)``.
    dpi : int
        Resolution of the PNGs.

    Returns
    -------
    list of pathlib.Path
        The trace plot's path, then the rank plot's.

    Raises
    ------
    KeyError
        If a name is not a posterior variable.
    """
    outdir = Path(outdir)
    paths = []
    for kind, func in (("trace", plot_trace), ("rank", plot_rank)):
        fig = func(idata, var_names=var_names)
        path = outdir / f"{prefix}_{kind}.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        paths.append(path)
    return paths
