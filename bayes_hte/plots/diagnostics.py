"""Convergence figures of a posterior: trace + density, rank and per-chain density plots
(ArviZ).

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

#: Figure kinds of :func:`convergence_plots`: ArviZ function and its fixed options.
_KINDS = {
    "trace": (az.plot_trace_dist, {}),
    "rank": (az.plot_rank, {}),
    "density": (az.plot_dist, {"aes": {"color": ["chain"]}}),
}
#: ``grid=True``: panels per row, and inches per row (trace: per variable), of the figures.
_GRID_COLUMNS, _GRID_ROW_HEIGHT, _TRACE_ROW_HEIGHT = 4, 2.4, 1.8


def _figure(kind: str, idata: xr.DataTree, var_names: Sequence[str], *,
            grid: bool) -> Figure:
    """The ArviZ figure ``kind`` of ``var_names`` (see :func:`convergence_plots`)."""
    func, options = _KINDS[kind]
    names = list(var_names)
    options = dict(options)
    if grid and kind == "trace":
        options["figure_kwargs"] = {"figsize": (12, _TRACE_ROW_HEIGHT * len(names)),
                                    "layout": "constrained"}
    elif grid:
        post = idata["posterior"]
        panels = sum(int(post[v].size // (post.sizes["chain"] * post.sizes["draw"]))
                     for v in names)
        rows = max(1, -(-panels // _GRID_COLUMNS))
        options.update(col_wrap=_GRID_COLUMNS,
                       figure_kwargs={"figsize": (13, _GRID_ROW_HEIGHT * rows),
                                      "layout": "constrained"})
    pc = func(idata, var_names=names, backend="matplotlib", **options)
    return pc.get_viz("figure")


def plot_trace(idata: xr.DataTree, *, var_names: Sequence[str], grid: bool = False) -> Figure:
    """Trace and per-chain density of each variable (ArviZ ``plot_trace_dist``).

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior`` group (dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Posterior variables to draw (keep them few and low-dimensional).
    grid : bool
        Size the figure to its rows (12 x 1.8 inches per variable, constrained layout);
        ``False`` leaves the size to ArviZ.

    Returns
    -------
    matplotlib.figure.Figure
        One row per variable element: density per chain (left), trace (right).

    Raises
    ------
    KeyError
        If a name is not a posterior variable.
    """
    return _figure("trace", idata, var_names, grid=grid)


def plot_rank(idata: xr.DataTree, *, var_names: Sequence[str], grid: bool = False) -> Figure:
    """Rank plots of each variable (ArviZ ``plot_rank``; Vehtari et al. 2021).

    The fractional ranks of every chain's draws within all chains should be uniform
    when the chains mix; their ECDF difference is drawn with a simultaneous band.

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior`` group (dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Posterior variables to draw.
    grid : bool
        Four panels per row, 13 inches wide and 2.4 inches per row (constrained
        layout); ``False`` leaves the layout to ArviZ.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per variable element.

    Raises
    ------
    KeyError
        If a name is not a posterior variable.
    """
    return _figure("rank", idata, var_names, grid=grid)


def convergence_plots(
    idata: xr.DataTree,
    outdir: str | Path,
    *,
    prefix: str,
    var_names: Sequence[str],
    kinds: Sequence[str] = ("trace", "rank"),
    grid: bool = False,
    dpi: int = 80,
) -> list[Path]:
    """Write convergence figures of ``var_names`` as PNGs.

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior`` group.
    outdir : str or pathlib.Path
        Existing directory to write to.
    prefix : str
        File names are ``<prefix>_<kind>.png``, e.g. ``<prefix>_trace.png``.
    var_names : sequence of str
        Posterior variables to draw, e.g.
        ``bayes_hte.diagnostics.population_vars(idata, max_size=12)``.
    kinds : sequence of {"trace", "rank", "density"}
        Figures to write, in this order: :func:`plot_trace`, :func:`plot_rank`, and the
        posterior density of each variable element with one colour per chain (ArviZ
        ``plot_dist``).
    grid : bool
        Size each figure to its panels, as ``grid`` of :func:`plot_trace` (trace) and
        :func:`plot_rank` (rank and density).
    dpi : int
        Resolution of the PNGs.

    Returns
    -------
    list of pathlib.Path
        One path per kind, in the order of ``kinds``.

    Raises
    ------
    KeyError
        If a name is not a posterior variable.
    ValueError
        If a kind is not one of the above.
    """
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown:
        raise ValueError(f"unknown figure kinds {unknown}; choose from {list(_KINDS)}")
    outdir = Path(outdir)
    paths = []
    for kind in kinds:
        fig = _figure(kind, idata, var_names, grid=grid)
        path = outdir / f"{prefix}_{kind}.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        paths.append(path)
    return paths
