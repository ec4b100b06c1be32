"""Figures of the ITE model comparison: calibration, TOC curves, ITE distributions, metrics.

They read an :class:`~bayes_hte.workflows.compare.ITEComparison` (the result of
:func:`~bayes_hte.workflows.compare.evaluate_models`) and never refit a model; options
are keyword-only and each function returns the matplotlib Figure.
:func:`save_comparison_figures` writes all of them as PNGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_hte.errors import DataError
from bayes_hte.evaluation.metrics import BENEFIT_METRICS, METRICS

if TYPE_CHECKING:
    from bayes_hte.workflows.compare import ITEComparison

LEARNER_COLORS = {"s": "tab:blue", "t": "tab:red"}


def plot_calibration(
    comparison: ITEComparison,
    *,
    validation: str = "in-sample",
    ncols: int = 5,
    title: str | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """Calibration for benefit: observed against predicted benefit, one panel per model.

    Each panel shows the quantile groups of predicted benefit (mean predicted benefit
    against the observed control-minus-treated event rate, with its interval), the
    identity line (dashed) and the least-squares line with its intercept ``a`` and slope
    ``b`` (van Klaveren et al. 2018; Bouvier et al. 2024, Fig. 6). S-learners are blue,
    T-learners red.

    Parameters
    ----------
    comparison : ITEComparison
        Result of :func:`bayes_hte.workflows.compare.evaluate_models`; its
        ``calibration`` tables (columns ``predicted``, ``observed``, ``ci_low``,
        ``ci_high``, benefit on the risk-difference scale) are drawn.
    validation : {"in-sample", "iecv"}
        Which calibration tables to draw.
    ncols : int
        Panels per row.
    title : str, optional
        Figure title (default ``"Calibration for benefit (<validation>)"``).
    panel_size : float
        Width and height of one panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Panels share both axes.

    Raises
    ------
    ValueError
        If ``comparison`` has no calibration table for ``validation``.
    """
    tables = {lab: t for (v, lab), t in comparison.calibration.items() if v == validation}
    labels = list(tables)
    if not labels:
        raise ValueError(f"no calibration tables to plot for validation={validation!r}")
    title = f"Calibration for benefit ({validation})" if title is None else title
    ncols = min(ncols, len(labels))
    nrows = int(np.ceil(len(labels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols + 0.6,
                                                    panel_size * nrows + 0.8),
                             sharex=True, sharey=True, squeeze=False)
    allv = np.concatenate([np.r_[t["predicted"], t["ci_low"], t["ci_high"]]
                           for t in tables.values()])
    lo, hi = float(np.min(allv)), float(np.max(allv))
    pad = 0.05 * (hi - lo or 1.0)
    lim = (lo - pad, hi + pad)
    for ax, label in zip(axes.flat, labels, strict=False):
        t = tables[label]
        x, yv = t["predicted"].to_numpy(), t["observed"].to_numpy()
        learner = label.rsplit("-", 1)[-1].lower() if "-" in label else "s"
        color = LEARNER_COLORS.get(learner, "k")
        ax.plot(lim, lim, ls="--", color="0.5", lw=0.8)
        ax.axhline(0, color="0.85", lw=0.6)
        ax.axvline(0, color="0.85", lw=0.6)
        ax.errorbar(x, yv, yerr=[yv - t["ci_low"].to_numpy(), t["ci_high"].to_numpy() - yv],
                    fmt="o", color=color, ms=4, capsize=2, lw=1)
        if np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, yv, 1)
            ax.plot(lim, intercept + slope * np.asarray(lim), color=color, lw=1)
            ax.set_title(f"{label}\na={intercept:.3f}, b={slope:.2f}", fontsize=9)
        else:
            ax.set_title(label, fontsize=9)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("predicted benefit")
    for ax in axes[:, 0]:
        ax.set_ylabel("observed benefit")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _structure_and_learner(label: str) -> tuple[str, str]:
    if "-" in label:
        het, lr = label.rsplit("-", 1)
        return het, lr.lower()
    return label, ""


def plot_ite_distributions(
    comparison: ITEComparison,
    *,
    title: str = "Posterior-mean ITE per patient",
    ylabel: str = "ITE (risk difference)",
) -> Figure:
    """Violins of the posterior-mean ITE per model, S- and T-learner side by side.

    Bouvier et al. (2024), Fig. 7: labels ``"<structure>-S"`` (blue, left) and
    ``"<structure>-T"`` (red, right) are drawn as a pair per structure; other labels get
    their own position. The comparison's ``truth`` (simulations) adds a grey violin.

    Parameters
    ----------
    comparison : ITEComparison
        Result of :func:`bayes_hte.workflows.compare.evaluate_models`; its ``ite``
        (label -> posterior-mean ITE, shape ``(patient,)``, or draws ``(..., patient)``
        averaged over the leading axes) and ``truth`` (``(patient,)`` or None) are drawn.
    title : str
        Axes title.
    ylabel : str
        Label of the ITE axis (scale of the ITE).

    Returns
    -------
    matplotlib.figure.Figure
        One violin per model, grouped by structure.

    Raises
    ------
    ValueError
        If ``comparison`` holds no ITE.
    """
    ites, truth = comparison.ite, comparison.truth
    if not ites:
        raise ValueError("no ITEs to plot")
    structures: list[str] = []
    for label in ites:
        het, _ = _structure_and_learner(label)
        if het not in structures:
            structures.append(het)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(structures) + 2.5), 4))
    handles = {}
    for label, values in ites.items():
        v = np.asarray(values, dtype=float)
        v = v.reshape(-1, v.shape[-1]).mean(axis=0) if v.ndim > 1 else v
        het, lr = _structure_and_learner(label)
        pos = structures.index(het) + {"s": -0.2, "t": 0.2}.get(lr, 0.0)
        parts = ax.violinplot([v], positions=[pos], widths=0.36, showmedians=True)
        color = LEARNER_COLORS.get(lr, "tab:gray")
        for body in parts["bodies"]:
            body.set_facecolor(color)
            body.set_alpha(0.55)
        for key in ("cmedians", "cmins", "cmaxes", "cbars"):
            if key in parts:
                parts[key].set_color(color)
        handles.setdefault(lr, body)
    ticks = list(range(len(structures)))
    names = list(structures)
    if truth is not None:
        parts = ax.violinplot([np.asarray(truth, dtype=float)], positions=[len(structures)],
                              widths=0.5, showmedians=True)
        for body in parts["bodies"]:
            body.set_facecolor("0.6")
        for key in ("cmedians", "cmins", "cmaxes", "cbars"):
            if key in parts:
                parts[key].set_color("0.4")
        ticks.append(len(structures))
        names.append("truth")
    ax.axhline(0, color="k", lw=0.6, ls=":")
    ax.set_xticks(ticks, names)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    legend = [(handles[k], f"{k.upper()}-learner") for k in ("s", "t") if k in handles]
    if legend:
        ax.legend([h for h, _ in legend], [n for _, n in legend], loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def plot_metric_forest(
    comparison: ITEComparison | pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    selections: Sequence[tuple[str, str]] = (("in-sample", "all"), ("iecv", "pooled")),
    ncols: int = 3,
    title: str = "ITE model comparison",
) -> Figure:
    """Forest plot: each metric's estimate and interval per model, one panel per metric.

    The point is the metric of the posterior-mean ITE (``estimate``), the line its
    interval over posterior draws (``ci_low``, ``ci_high``); dashed lines mark the
    no-information values (c-for-benefit 0.5, calibration slope 1, ...).

    Parameters
    ----------
    comparison : ITEComparison or pandas.DataFrame
        Result of :func:`bayes_hte.workflows.compare.evaluate_models`, or its tidy
        metric table (as returned by :func:`bayes_hte.compare_ite_models`, columns
        ``model, validation, trial, metric, estimate, ci_low, ci_high``).
    metrics : sequence of str, optional
        Default: every metric of :data:`bayes_hte.evaluation.metrics.METRICS` but
        ``pape_se`` (a standard error, not a score of the model), of
        :data:`~bayes_hte.evaluation.metrics.BENEFIT_METRICS` and ``elpd_loo`` present
        in the table.
    selections : sequence of (validation, trial)
        Which rows to draw, each in its own colour (default in-sample and IECV pooled).
    ncols : int
        Panels per row.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Panels share the model axis.

    Raises
    ------
    ValueError
        If the table has no rows for any of ``selections``.
    DataError
        One of ``metrics`` is not a metric of the table (the message lists those there
        are); a :class:`ValueError` too.
    """
    table = comparison if isinstance(comparison, pd.DataFrame) else comparison.table
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    sel = [(v, t) for v, t in selections
           if ((table["validation"] == v) & (table["trial"] == t)).any()]
    if not sel:
        raise ValueError(f"the table has no rows for {list(selections)}")
    if metrics is None:
        present = set(table["metric"])
        metrics = [m for m in [*METRICS, *BENEFIT_METRICS, "elpd_loo"]
                   if m in present and m != "pape_se"]
    metrics = list(metrics)
    present = list(dict.fromkeys(table["metric"]))
    unknown = [m for m in metrics if m not in present]
    if unknown:
        raise DataError(f"unknown metric {unknown[0]!r}; metrics: {present}")
    models = list(dict.fromkeys(table["model"]))
    ncols = min(ncols, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 0.28 * len(models) * nrows
                                                    + 1.2 * nrows + 0.6),
                             squeeze=False, sharey=True)
    ref = {"c_for_benefit": 0.5, "calibration_intercept": 0.0, "calibration_slope": 1.0,
           "pape": 0.0, "gain_vs_treat_all": 0.0, "gain_vs_treat_none": 0.0, "mse": 0.0,
           "eavg_for_benefit": 0.0, "e50_for_benefit": 0.0, "e90_for_benefit": 0.0,
           "autoc": 0.0, "qini": 0.0}
    ypos = {m: i for i, m in enumerate(models)}
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for k, (v, t) in enumerate(sel):
            sub = table[(table["metric"] == metric) & (table["validation"] == v)
                        & (table["trial"] == t)]
            if sub.empty:
                continue
            offset = (k - (len(sel) - 1) / 2) * 0.25
            y = np.array([ypos[m] for m in sub["model"]]) + offset
            est = sub["estimate"].to_numpy(dtype=float)
            lo = sub["ci_low"].to_numpy(dtype=float)
            hi = sub["ci_high"].to_numpy(dtype=float)
            has = np.isfinite(lo) & np.isfinite(hi)
            ax.hlines(y[has], lo[has], hi[has], color=colors[k % 4], lw=1.2)
            ax.plot(est, y, "o", color=colors[k % 4], ms=4,
                    label=f"{v}" if t in ("all", "pooled") else f"{v} ({t})")
        if metric in ref:
            ax.axvline(ref[metric], color="0.5", ls="--", lw=0.8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    axes[0, 0].set_yticks(range(len(models)), models)
    axes[0, 0].invert_yaxis()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    return fig


def _model_panels(n: int, ncols: int, panel_size: float, *, sharey: bool = True):
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(panel_size * ncols + 0.6, 4.4),
                                                    panel_size * nrows + 0.8),
                             sharex=True, sharey=sharey, squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def _learner_color(label: str) -> str:
    learner = label.rsplit("-", 1)[-1].lower() if "-" in label else "s"
    return LEARNER_COLORS.get(learner, "k")


def _metric_value(comparison, metric: str, label: str, validation: str) -> float:
    table = getattr(comparison, "table", None)
    if table is None:
        return np.nan
    trial = "all" if validation == "in-sample" else "pooled"
    sub = table[(table["metric"] == metric) & (table["model"] == label)
                & (table["validation"] == validation) & (table["trial"] == trial)]
    return float(sub["estimate"].iloc[0]) if len(sub) else np.nan


def plot_toc(
    comparison: ITEComparison,
    *,
    validation: str = "in-sample",
    ncols: int = 5,
    title: str | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """Targeting operator characteristic (TOC) curves, one panel per model.

    TOC(q) is the average benefit (risk reduction) among the fraction q of patients
    with the largest predicted benefit minus the average benefit of all (Yadlowsky et
    al. 2025; grf's ``plot`` of ``rank_average_treatment_effect``): a ranking that
    finds the patients who benefit most has a curve high on the left, a useless one
    stays at 0 (dotted). The band is the pointwise interval of the half-sample
    bootstrap; the panel title gives the AUTOC (the area under the curve) and the Qini
    of the posterior-mean benefit. S-learners are blue, T-learners red.

    Parameters
    ----------
    comparison : ITEComparison
        Result of :func:`bayes_hte.workflows.compare.evaluate_models`; its ``toc``
        tables (``q``, ``estimate``, ``ci_low``, ``ci_high``, risk reduction scale)
        and the ``autoc`` / ``qini`` rows of its ``table`` are drawn.
    validation : {"in-sample", "iecv"}
        Which curves to draw (IECV: the pooled held-out predictions).
    ncols : int
        Panels per row.
    title : str, optional
        Figure title (default ``"TOC curves (<validation>)"``).
    panel_size : float
        Width and height of one panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Panels share both axes.

    Raises
    ------
    ValueError
        If ``comparison`` has no TOC curve for ``validation``.
    """
    curves = {lab: t for (v, lab), t in (getattr(comparison, "toc", None) or {}).items()
              if v == validation}
    if not curves:
        raise ValueError(f"no TOC curves to plot for validation={validation!r}")
    fig, axes = _model_panels(len(curves), ncols, panel_size)
    for ax, (label, t) in zip(axes.flat, curves.items(), strict=False):
        color = _learner_color(label)
        q = t["q"].to_numpy(dtype=float)
        est = t["estimate"].to_numpy(dtype=float)
        lo, hi = t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float)
        ax.axhline(0, color="0.5", ls=":", lw=0.8)
        if np.isfinite(lo).any():
            ax.fill_between(q, lo, hi, color=color, alpha=0.2, lw=0)
        ax.plot(q, est, "-o", color=color, ms=2.5, lw=1.2)
        autoc = _metric_value(comparison, "autoc", label, validation)
        qini = _metric_value(comparison, "qini", label, validation)
        sub = f"\nAUTOC={autoc:.3f}, Qini={qini:.3f}" if np.isfinite(autoc) else ""
        ax.set_title(f"{label}{sub}", fontsize=9)
        ax.set_xlim(0, 1)
    for ax in axes[-1]:
        ax.set_xlabel("fraction treated first (q)")
    for ax in axes[:, 0]:
        ax.set_ylabel("TOC (risk reduction)")
    fig.suptitle(f"TOC curves ({validation})" if title is None else title)
    fig.tight_layout()
    return fig


def plot_benefit_curve(
    comparison: ITEComparison,
    *,
    validation: str = "in-sample",
    ncols: int = 5,
    title: str | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """Smoothed calibration for benefit with intervals, one panel per model.

    The loess curve of observed on predicted pair benefit in the pairs of the
    c-for-benefit (:func:`bayes_hte.evaluation.benefit_curve.e_for_benefit`) with its
    pointwise bootstrap band, the quantile groups of :func:`plot_calibration` (mean
    predicted against observed benefit, with their intervals) and the diagonal of
    perfect calibration (dashed); the title gives the Eavg-for-benefit, the mean
    vertical distance between the curve and the diagonal over the pairs (the table's
    estimate when the comparison has one, else the curve's own). S-learners are blue,
    T-learners red.

    Parameters
    ----------
    comparison : ITEComparison
        Result of :func:`bayes_hte.workflows.compare.evaluate_models`; its
        ``benefit_curve`` tables (``predicted``, ``observed``, ``ci_low``, ``ci_high``,
        risk difference scale) and, when present, its ``calibration`` tables are drawn.
    validation : {"in-sample", "iecv"}
        Which curves to draw (IECV: the pooled held-out predictions).
    ncols : int
        Panels per row.
    title : str, optional
        Figure title (default ``"Smoothed calibration for benefit (<validation>)"``).
    panel_size : float
        Width and height of one panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Panels share both axes.

    Raises
    ------
    ValueError
        If ``comparison`` has no calibration curve for ``validation``.
    """
    curves = {lab: t for (v, lab), t in
              (getattr(comparison, "benefit_curve", None) or {}).items() if v == validation}
    if not curves:
        raise ValueError(f"no calibration curves to plot for validation={validation!r}")
    groups = {lab: t for (v, lab), t in (getattr(comparison, "calibration", None) or {}).items()
              if v == validation}
    fig, axes = _model_panels(len(curves), ncols, panel_size)
    pred = np.concatenate([t["predicted"].to_numpy(dtype=float) for t in curves.values()])
    lo_x, hi_x = float(np.nanmin(pred)), float(np.nanmax(pred))
    pad = 0.05 * (hi_x - lo_x or 0.1)
    xlim = (lo_x - pad, hi_x + pad)
    for ax, (label, t) in zip(axes.flat, curves.items(), strict=False):
        color = _learner_color(label)
        x = t["predicted"].to_numpy(dtype=float)
        est = t["observed"].to_numpy(dtype=float)
        lo, hi = t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float)
        ax.plot(xlim, xlim, ls="--", color="0.5", lw=0.8)
        ax.axhline(0, color="0.85", lw=0.6)
        if np.isfinite(lo).any():
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
        ax.plot(x, est, color=color, lw=1.4)
        if label in groups:
            g = groups[label]
            gx, gy = g["predicted"].to_numpy(dtype=float), g["observed"].to_numpy(dtype=float)
            ax.errorbar(gx, gy, yerr=[gy - g["ci_low"].to_numpy(dtype=float),
                                      g["ci_high"].to_numpy(dtype=float) - gy],
                        fmt="o", color="k", ms=3, capsize=2, lw=0.8, alpha=0.7)
        eavg = _metric_value(comparison, "eavg_for_benefit", label, validation)
        eavg = t.attrs.get("eavg", np.nan) if not np.isfinite(eavg) else eavg
        sub = f"\nEavg={eavg:.3f}" if np.isfinite(eavg) else ""
        ax.set_title(f"{label}{sub}", fontsize=9)
        ax.set_xlim(xlim)
    for ax in axes[-1]:
        ax.set_xlabel("predicted benefit")
    for ax in axes[:, 0]:
        ax.set_ylabel("observed benefit (loess)")
    fig.suptitle(f"Smoothed calibration for benefit ({validation})" if title is None
                 else title)
    fig.tight_layout()
    return fig


def save_comparison_figures(
    comparison: ITEComparison,
    outdir: str | Path,
    *,
    prefix: str = "evaluation",
    dpi: int = 90,
) -> dict[str, Path]:
    """Write the figures of a model comparison as PNGs (the tables are written by
    :meth:`ITEComparison.save <bayes_hte.workflows.compare.ITEComparison.save>`).

    Parameters
    ----------
    comparison : ITEComparison
        Result of :func:`bayes_hte.workflows.compare.evaluate_models`.
    outdir : str or pathlib.Path
        Directory to write to (created if missing).
    prefix : str
        File name prefix: ``<prefix>_<name>.png``.
    dpi : int
        Resolution of the PNGs.

    Returns
    -------
    dict of str to pathlib.Path
        ``calibration_in_sample`` (:func:`plot_calibration`), ``ite_by_model``
        (:func:`plot_ite_distributions`), ``metric_forest`` (:func:`plot_metric_forest`),
        when the comparison has cross-validation results ``calibration_iecv``, and per
        validation with curves (``in_sample``, ``iecv``) ``toc_<validation>``
        (:func:`plot_toc`) and ``benefit_curve_<validation>``
        (:func:`plot_benefit_curve`).

    Raises
    ------
    ValueError
        If a figure has nothing to draw (see the plotting functions).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    figures = {"calibration_in_sample": lambda: plot_calibration(comparison),
               "ite_by_model": lambda: plot_ite_distributions(comparison),
               "metric_forest": lambda: plot_metric_forest(comparison)}
    if comparison.iecv is not None:
        figures["calibration_iecv"] = lambda: plot_calibration(comparison, validation="iecv")
    for v in ("in-sample", "iecv"):
        key = v.replace("-", "_")
        if any(val == v for val, _ in getattr(comparison, "toc", {}) or {}):
            figures[f"toc_{key}"] = lambda v=v: plot_toc(comparison, validation=v)
        if any(val == v for val, _ in getattr(comparison, "benefit_curve", {}) or {}):
            figures[f"benefit_curve_{key}"] = lambda v=v: plot_benefit_curve(comparison,
                                                                           validation=v)
    paths = {}
    for name, make in figures.items():
        fig = make()
        paths[name] = outdir / f"{prefix}_{name}.png"
        fig.savefig(paths[name], dpi=dpi)
        plt.close(fig)
    return paths
