"""Figures of a simulation study (they only read its tables).

* :func:`plot_performance` — one performance measure (bias, coverage, ...) of every method
  in every scenario, with ±1.96 Monte Carlo SE bars, one panel per estimand (the table of
  :func:`bayes_hte.studies.performance`).
* :func:`plot_zip` — the zip plot of Morris, White & Crowther (2019, Stat Med 38:2074,
  Fig. 3): every replicate's interval, ranked by the fractional centile of
  :math:`|z_i| = |\\hat\\theta_i - \\theta| / s_i`, coverers and non-coverers coloured, with
  the Monte Carlo confidence interval of the coverage.
* :func:`plot_estimates` — the distribution of the estimates of each method in each
  scenario, the true value marked (violins, as the seed papers show model comparisons).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.stats import norm

from bayes_hte.errors import DataError

#: Half-width multiplier of the Monte Carlo bars (a 95% normal interval).
MC_Z = 1.959963984540054
_COVERS, _MISSES = "#2e75b6", "#c00000"
_LABELS = {
    "bias": "bias (estimate − truth)", "empse": "empirical SE", "mse": "mean squared error",
    "relprec": "relative increase in precision (%)", "modelse": "model-based SE",
    "relerror": "relative error in model SE (%)",
    "cover": "coverage", "becover": "bias-eliminated coverage", "power": "power (CI excludes 0)",
    "thetamedian": "median estimate", "thetamean": "mean estimate",
    "se2mean": "mean model-based variance", "se2median": "median model-based variance",
    "rbias": "relative bias ((estimate − truth) / truth)",
}


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks the column(s) {missing}")


def _known(frame: pd.DataFrame, column: str, wanted: Sequence, what: str) -> None:
    """Raise a DataError naming the first of ``wanted`` that is not a value of
    ``frame[column]``, with the values there are (blank and missing ones left out)."""
    present = [v for v in pd.unique(frame[column]) if not pd.isna(v) and v != ""]
    for value in wanted:
        if not any(value == p for p in present):
            raise DataError(f"unknown {what} {value!r}; {what}s: {present}")


def _method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def _label(values: Sequence, factors: Sequence[str]) -> str:
    return ", ".join(f"{f}={v:g}" if isinstance(v, float) else f"{f}={v}"
                     for f, v in zip(factors, values, strict=True)) or "all"


def _grid(n: int, ncols: int, figsize: tuple[float, float] | None,
          panel: tuple[float, float]) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    size = figsize or (panel[0] * ncols, panel[1] * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _tight_below_title(fig: Figure, *, title_inches: float = 0.45,
                       legend_inches: float = 0.4) -> None:
    """Lay the panels out between the figure's legend (bottom) and its title (top), in
    inches, so that neither overlaps the panels' own titles however tall the figure."""
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, min(0.2, legend_inches / height), 1,
                           max(0.8, 1 - title_inches / height)))


def _scenarios(estimates: pd.DataFrame,
               scenario: int | Sequence[int] | None) -> tuple[list[int], list[str]]:
    """Scenario indices to draw and the factor columns (those before ``scenario``)."""
    cols = list(estimates.columns)
    factors = cols[: cols.index("scenario")]
    present = sorted(pd.unique(estimates["scenario"]))
    if scenario is None:
        return present, factors
    wanted = [int(scenario)] if np.ndim(scenario) == 0 else [int(s) for s in scenario]
    absent = [s for s in wanted if s not in present]
    if absent:
        raise DataError(f"scenario {absent} not in estimates (present: {present})")
    return wanted, factors


def _successful(estimates: pd.DataFrame) -> pd.Series:
    return estimates["error"].fillna("").astype(str) == ""


#: Panels per row of :func:`plot_performance` (more estimands wrap to further rows).
PERFORMANCE_COLUMNS = 4


def plot_performance(
    perf: pd.DataFrame,
    *,
    measure: str,
    estimands: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    reference: float | bool = True,
    ci_prob: float = 0.95,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """One performance measure of every method in every scenario, with Monte Carlo bars.

    Each scenario is a row (labelled by its factor values), each method a coloured point
    within it, with a bar of ±1.96 Monte Carlo SE (a 95% Monte Carlo interval, Morris,
    White & Crowther 2019, Section 5.2); one panel per estimand, sharing the rows.

    Parameters
    ----------
    perf : pandas.DataFrame
        The table of :func:`bayes_hte.studies.performance`: scenario factor columns (those
        before ``method``), ``method``, ``estimand``, ``measure``, ``value``, ``mcse``.
    measure : str
        The measure to draw (a value of ``perf["measure"]``, e.g. ``"bias"``,
        ``"cover"``); coverage and power are drawn in percent.
    estimands : sequence of str, optional
        Estimands to draw, one panel each (default: all, in table order).
    methods : sequence of str, optional
        Methods to draw, in this order (default: all, in table order).
    reference : float or bool
        Vertical reference line: ``True`` draws the measure's target (0 for ``bias``,
        ``rbias``, ``relprec`` and ``relerror``, ``100 * ci_prob`` for ``cover`` and
        ``becover``, none otherwise), ``False`` none, a number a line there (in the drawn units).
    ci_prob : float
        Nominal level of the methods' intervals, in (0, 1), for the coverage target.
    title : str, optional
        Figure title (default: the measure's name).
    figsize : (float, float), optional
        Figure size in inches (default: grows with the numbers of scenarios and panels).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per estimand (at most :data:`PERFORMANCE_COLUMNS` per row, further
        estimands on further rows); y = scenarios, x = the measure.

    Raises
    ------
    DataError
        ``perf`` lacks a column; ``measure``, one of ``estimands`` or one of ``methods``
        is not in ``perf`` (the message lists those there are); or ``perf`` has no row
        for ``measure`` with the chosen estimands and methods.
    """
    _require(perf, ("method", "estimand", "measure", "value", "mcse"), "perf")
    _known(perf, "measure", [measure], "measure")
    if estimands is not None:
        _known(perf, "estimand", list(estimands), "estimand")
    if methods is not None:
        _known(perf, "method", list(methods), "method")
    cols = list(perf.columns)
    factors = cols[: cols.index("method")]
    rows = perf[perf["measure"] == measure]
    if estimands is not None:
        rows = rows[rows["estimand"].isin(list(estimands))]
    if methods is not None:
        rows = rows[rows["method"].isin(list(methods))]
    if rows.empty:
        raise DataError(f"perf has no rows for measure {measure!r} (measures: "
                        f"{sorted(pd.unique(perf['measure']))})")
    est_order = list(estimands) if estimands is not None else list(pd.unique(rows["estimand"]))
    est_order = [e for e in est_order if (rows["estimand"] == e).any()]
    meth_order = list(methods) if methods is not None else list(pd.unique(rows["method"]))
    meth_order = [m for m in meth_order if (rows["method"] == m).any()]
    cells = (list(rows[factors].drop_duplicates().itertuples(index=False, name=None))
             if factors else [()])
    scale = 100.0 if measure in ("cover", "becover", "power") else 1.0
    colors = _method_colors(meth_order)
    k = len(meth_order)
    offsets = (np.arange(k) - (k - 1) / 2) * (0.7 / max(k, 1))
    height = max(2.5, 0.35 * len(cells) * max(1, k / 2) + 1.2)
    ncol = min(len(est_order), PERFORMANCE_COLUMNS)
    nrow = -(-len(est_order) // ncol)
    fig, grid = plt.subplots(nrow, ncol, sharey=True, squeeze=False,
                             figsize=figsize or (3.6 * ncol + 1.8, height * nrow))
    axes = grid.ravel()
    for ax in axes[len(est_order):]:  # the unused places of the last row
        ax.set_visible(False)
    for ax, estimand in zip(axes[:len(est_order)], est_order, strict=True):
        sub = rows[rows["estimand"] == estimand]
        for j, method in enumerate(meth_order):
            msub = sub[sub["method"] == method]
            ys, xs, errs = [], [], []
            for i, cell in enumerate(cells):
                hit = msub
                for f, v in zip(factors, cell, strict=True):
                    hit = hit[(hit[f] == v) | (hit[f].isna() & pd.isna(v))]
                if hit.empty:
                    continue
                ys.append(i + offsets[j])
                xs.append(scale * float(hit["value"].iloc[0]))
                errs.append(MC_Z * scale * float(hit["mcse"].iloc[0]))
            errs_arr = np.nan_to_num(np.asarray(errs, dtype=float), nan=0.0)
            ax.errorbar(xs, ys, xerr=errs_arr, fmt="o", ms=4, capsize=2.5, lw=1.1,
                        color=colors[method], label=method)
        target = None
        if reference is True:
            target = {"bias": 0.0, "rbias": 0.0, "relerror": 0.0, "relprec": 0.0,
                      "cover": 100.0 * ci_prob,
                      "becover": 100.0 * ci_prob}.get(measure)
        elif reference is not False:
            target = float(reference)
        if target is not None:
            ax.axvline(target, color="0.3", lw=0.9, ls="--", zorder=0)
        ax.set_title(estimand)
        unit = " (%)" if scale == 100.0 else ""
        ax.set_xlabel(_LABELS.get(measure, measure) + unit)
        ax.grid(axis="x", color="0.9", lw=0.6)
    ax0 = axes[0]
    ax0.set_yticks(range(len(cells)), [_label(c, factors) for c in cells])
    ax0.set_ylim(len(cells) - 0.5, -0.5)
    for i in range(1, len(cells), 2):  # band every other scenario
        for ax in axes[:len(est_order)]:
            ax.axhspan(i - 0.5, i + 0.5, color="0.96", zorder=-1)
    grid[0][ncol - 1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8,
                             frameon=False, title="method")
    bars = " ± 1.96 Monte Carlo SE" if rows["mcse"].notna().any() else " (no Monte Carlo SE)"
    fig.suptitle(title if title is not None else f"{_LABELS.get(measure, measure)}{bars}")
    fig.tight_layout()
    return fig


def plot_zip(
    estimates: pd.DataFrame,
    *,
    method: str,
    estimand: str,
    scenario: int | Sequence[int] | None = None,
    ci_prob: float = 0.95,
    ncols: int = 3,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Zip plot of the intervals of one method for one estimand (Morris et al. 2019, Fig. 3).

    Each successful replicate's interval ``[ci_low, ci_high]`` is a horizontal line at the
    height of the fractional centile of :math:`|z_i| = |\\hat\\theta_i - \\theta| / s_i`
    (``100 * rank / n``; :math:`s_i` is ``se``, or the interval's width over
    :math:`2 z_{(1+p)/2}` where ``se`` is missing), so intervals far from the truth rise
    to the top. Intervals covering the truth are blue, the others red: for Wald intervals
    the red ones "zip" down from the top to ``100 * coverage``. The shaded band is the
    coverage's 95% Monte Carlo interval, coverage ± 1.96 :math:`\\sqrt{c(1-c)/n}`; the
    dashed line is the nominal ``100 * ci_prob``, which a method with correct coverage
    keeps inside the band. The truth is the vertical line; when it differs between
    replicates (a truth that reads the data) each interval is drawn minus its own truth,
    the line at 0.

    Parameters
    ----------
    estimates : pandas.DataFrame
        The table of ``bayes_hte.studies.run(...).estimates``: scenario factor columns
        (before ``scenario``), ``scenario``, ``method``, ``estimand``, ``truth``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``error``. Replicates whose
        ``error`` is not ``""`` or whose estimate or interval is not finite are left out.
    method : str
        The method whose intervals are drawn.
    estimand : str
        The estimand whose intervals are drawn.
    scenario : int or sequence of int, optional
        Scenario index(es) (the ``scenario`` column), one panel each (default: all).
    ci_prob : float
        Nominal probability of the intervals, in (0, 1): the dashed line, and the width
        that turns an interval into an SE where ``se`` is missing.
    ncols : int
        Panels per row.
    title : str, optional
        Figure title (default: method, estimand and the nominal level).
    figsize : (float, float), optional
        Figure size in inches (default: 4 x 4 per panel).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per scenario; x = the estimand's scale, y = centile of :math:`|z|`
        (0-100). Each axes' title gives the scenario and the coverage with its Monte
        Carlo SE.

    Raises
    ------
    DataError
        ``estimates`` lacks a column, ``method`` or ``estimand`` is not in it (the
        message lists those there are), a requested scenario is absent, or the method
        has no usable interval for the estimand in a scenario (e.g. every replicate
        failed).
    """
    _require(estimates, ("scenario", "method", "estimand", "truth", "estimate", "se",
                         "ci_low", "ci_high", "error"), "estimates")
    _known(estimates, "method", [method], "method")
    _known(estimates, "estimand", [estimand], "estimand")
    scenarios, factors = _scenarios(estimates, scenario)
    rows = estimates[_successful(estimates) & (estimates["method"] == method)
                     & (estimates["estimand"] == estimand)]
    crit = norm.ppf(0.5 + ci_prob / 2)
    panels = []
    for scen in scenarios:  # check every panel's data before drawing any
        sub = rows[rows["scenario"] == scen]
        cols = [sub[c].to_numpy(dtype=float)
                for c in ("estimate", "ci_low", "ci_high", "truth", "se")]
        # an infinite limit (a one-sided interval) is drawn to the panel's edge, as
        # performance() counts it; NaN limits leave the replicate out
        ok = (np.isfinite(cols[0]) & np.isfinite(cols[3]) & ~np.isnan(cols[1])
              & ~np.isnan(cols[2]))
        if not ok.any():
            raise DataError(f"method {method!r} has no usable interval for estimand "
                            f"{estimand!r} in scenario {scen}")
        panels.append((scen, sub, [c[ok] for c in cols]))
    fig, axes = _grid(len(scenarios), ncols, figsize, (4.0, 4.0))
    for ax, (scen, sub, (est, lo, hi, truth, se)) in zip(axes, panels, strict=True):
        se = np.where(np.isfinite(se) & (se > 0), se, (hi - lo) / (2 * crit))
        with np.errstate(divide="ignore", invalid="ignore"):
            absz = np.abs(est - truth) / se
        absz = np.nan_to_num(absz, nan=0.0)  # est == truth with a zero-width interval
        n = est.size
        rank = np.empty(n)
        rank[np.argsort(absz, kind="stable")] = np.arange(1, n + 1)
        centile = 100.0 * rank / n
        covers = (lo <= truth) & (truth <= hi)
        # a truth that reads the data differs between replicates: draw each interval
        # against its own truth (interval - truth, the truth at 0), not one line
        varies = np.ptp(truth) > 1e-12 * max(1.0, float(np.max(np.abs(truth))))
        if varies:
            lo, hi = lo - truth, hi - truth
        finite = np.r_[lo[np.isfinite(lo)], hi[np.isfinite(hi)], est - (truth if varies else 0)]
        left, right = finite.min(), finite.max()
        pad = 0.05 * (right - left) + 1e-12
        lo, hi = np.maximum(lo, left - pad), np.minimum(hi, right + pad)
        for mask, color in ((covers, _COVERS), (~covers, _MISSES)):
            segs = np.stack([np.column_stack([lo[mask], centile[mask]]),
                             np.column_stack([hi[mask], centile[mask]])], axis=1)
            ax.add_collection(LineCollection(segs, colors=color,
                                             linewidths=max(0.4, min(1.5, 150 / n))))
        cover = covers.mean()
        mcse = np.sqrt(cover * (1 - cover) / n)
        band = (100 * max(0.0, cover - MC_Z * mcse), 100 * min(1.0, cover + MC_Z * mcse))
        ax.axhspan(*band, color="#ffc000", alpha=0.45, zorder=0, lw=0)
        ax.axhline(100 * ci_prob, color="0.2", lw=0.9, ls="--")
        ax.axvline(0.0 if varies else float(truth[0]), color="k", lw=1.0)
        ax.set_xlim(left - pad, right + pad)
        ax.set_ylim(0, 100.5)
        ax.set_xlabel(f"{ci_prob:.0%} interval of {estimand}"
                      + (" minus its replicate's truth" if varies else ""))
        ax.set_ylabel("fractional centile of |z|")
        label = _label(sub.iloc[0][factors].tolist(), factors) if factors else f"scenario {scen}"
        ax.set_title(f"{label}\ncoverage {100 * cover:.1f}% (MCSE {100 * mcse:.1f}), n={n}",
                     fontsize=9)
    handles = [Line2D([], [], color=_COVERS, label="covers truth"),
               Line2D([], [], color=_MISSES, label="misses truth"),
               Patch(color="#ffc000", alpha=0.45, label="coverage, 95% MC interval"),
               Line2D([], [], color="0.2", ls="--", label=f"nominal {ci_prob:.0%}")]
    # one narrow panel: the legend in two rows, so that it fits the figure's width
    fig.legend(handles=handles, loc="lower center", ncol=4 if len(panels) > 1 else 2,
               fontsize=8, frameon=False)
    fig.suptitle(title if title is not None else f"Zip plot: {method}, {estimand}")
    _tight_below_title(fig)
    return fig


def plot_estimates(
    estimates: pd.DataFrame,
    *,
    estimand: str,
    methods: Sequence[str] | None = None,
    scenario: int | Sequence[int] | None = None,
    ncols: int = 3,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Distribution of each method's estimates in each scenario, the truth marked.

    One panel per scenario; in it one violin per method (the estimates of its successful
    replicates, median marked) with the estimates as points and their mean as a white
    diamond; the true value is a dashed vertical line. The number of successful
    replicates, and of failed ones if any, follows each method's name.

    Parameters
    ----------
    estimates : pandas.DataFrame
        The table of ``bayes_hte.studies.run(...).estimates``: scenario factor columns
        (before ``scenario``), ``scenario``, ``replicate``, ``method``, ``estimand``,
        ``truth``, ``estimate``, ``error``.
    estimand : str
        The estimand whose estimates are drawn (on its own scale).
    methods : sequence of str, optional
        Methods to draw, top to bottom (default: all, in table order).
    scenario : int or sequence of int, optional
        Scenario index(es), one panel each (default: all).
    ncols : int
        Panels per row.
    title : str, optional
        Figure title (default: the estimand).
    figsize : (float, float), optional
        Figure size in inches (default: grows with the numbers of methods and panels).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per scenario; x = the estimate, y = methods.

    Raises
    ------
    DataError
        ``estimates`` lacks a column, ``estimand`` or one of ``methods`` is not in it
        (the message lists those there are), a requested scenario is absent, or no
        method has a finite estimate of ``estimand``.
    """
    _require(estimates, ("scenario", "method", "estimand", "truth", "estimate", "error"),
             "estimates")
    _known(estimates, "estimand", [estimand], "estimand")
    if methods is not None:
        _known(estimates, "method", list(methods), "method")
    scenarios, factors = _scenarios(estimates, scenario)
    ok = _successful(estimates)
    meth = list(methods) if methods is not None else list(pd.unique(estimates["method"]))
    rows = estimates[ok & (estimates["estimand"] == estimand)
                     & estimates["method"].isin(meth) & np.isfinite(estimates["estimate"])]
    if rows.empty:
        raise DataError(f"no finite estimate of {estimand!r} for methods {meth}")
    failed = estimates[~ok]
    colors = _method_colors(meth)
    rng = np.random.default_rng(0)  # jitter only
    fig, axes = _grid(len(scenarios), ncols, figsize, (4.2, 0.55 * len(meth) + 1.6))
    for ax, scen in zip(axes, scenarios, strict=True):
        sub = rows[rows["scenario"] == scen]
        labels = []
        for j, m in enumerate(meth):
            v = sub.loc[sub["method"] == m, "estimate"].to_numpy(dtype=float)
            fails = failed[(failed["method"] == m) & (failed["scenario"] == scen)]
            n_fail = (fails["replicate"].nunique() if "replicate" in fails.columns
                      else len(fails))
            labels.append(f"{m} (n={v.size}" + (f", {n_fail} failed)" if n_fail else ")"))
            if v.size == 0:
                continue
            if v.size >= 2 and np.ptp(v) > 0:
                parts = ax.violinplot([v], positions=[j], orientation="horizontal", widths=0.8,
                                      showmedians=True, showextrema=False)
                for body in parts["bodies"]:
                    body.set_facecolor(colors[m])
                    body.set_alpha(0.35)
                parts["cmedians"].set_color(colors[m])
            ax.scatter(v, j + rng.uniform(-0.12, 0.12, v.size), s=6, color=colors[m],
                       alpha=0.6, lw=0)
            ax.scatter([v.mean()], [j], marker="D", s=28, color="white",
                       edgecolor=colors[m], zorder=3)
        truth = estimates.loc[(estimates["scenario"] == scen)
                              & (estimates["estimand"] == estimand), "truth"]
        truth = truth[np.isfinite(truth)]
        if not truth.empty:
            ax.axvline(float(truth.mean()), color="#c00000", lw=1.1, ls="--")
        ax.set_yticks(range(len(meth)), labels, fontsize=8)
        ax.set_ylim(len(meth) - 0.5, -0.5)
        ax.set_xlabel(f"estimate of {estimand}")
        srow = estimates.loc[estimates["scenario"] == scen].iloc[0]
        ax.set_title(_label(srow[factors].tolist(), factors) if factors
                     else f"scenario {scen}", fontsize=9)
        ax.grid(axis="x", color="0.9", lw=0.6)
    fig.legend(handles=[Line2D([], [], color="#c00000", ls="--", label="truth"),
                        Line2D([], [], marker="D", ls="", markerfacecolor="white",
                               markeredgecolor="0.3", label="mean")],
               loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(title if title is not None else f"Estimates of {estimand}")
    _tight_below_title(fig)
    return fig
