"""Figures of the ITE model comparison: calibration curves, ITE distributions, metrics.

Plots only read results (tables and arrays), take keyword-only options and return the
matplotlib Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayes_hte.evaluation.metrics import METRICS

LEARNER_COLORS = {"s": "tab:blue", "t": "tab:red"}


def plot_calibration(tables: Mapping[str, pd.DataFrame], *, ncols: int = 5,
                     title: str = "Calibration for benefit", panel_size: float = 2.6):
    """Observed against predicted benefit per quantile group, one panel per model.

    Parameters
    ----------
    tables : mapping label -> DataFrame
        :meth:`BenefitCalibration.table` of each model (columns ``predicted``,
        ``observed``, ``ci_low``, ``ci_high``).
    ncols : int
        Panels per row.
    """
    labels = list(tables)
    if not labels:
        raise ValueError("no calibration tables to plot")
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


def plot_ite_distributions(ites: Mapping[str, np.ndarray], *, truth: np.ndarray | None = None,
                           title: str = "Posterior-mean ITE per patient",
                           ylabel: str = "ITE (risk difference)"):
    """Violins of the posterior-mean ITE per model, S- and T-learner side by side.

    Bouvier et al. (2024), Fig. 7: labels ``"<structure>-S"`` (blue, left) and
    ``"<structure>-T"`` (red, right) are drawn as a pair per structure; other labels get
    their own position. ``truth`` adds a grey violin.

    Parameters
    ----------
    ites : mapping label -> array (patient,) or (..., patient)
        Posterior-mean ITE per patient (draws are averaged over the leading axes).
    """
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


def plot_metric_forest(table: pd.DataFrame, *, metrics: Sequence[str] | None = None,
                       selections: Sequence[tuple[str, str]] = (("in-sample", "all"),
                                                                ("iecv", "pooled")),
                       ncols: int = 3, title: str = "ITE model comparison"):
    """Forest plot: each metric's estimate and interval per model, one panel per metric.

    Parameters
    ----------
    table : DataFrame
        The tidy table of :func:`~bayes_hte.evaluation.compare.compare_ite_models`.
    metrics : sequence of str, optional
        Default: every metric in the table that has an interval.
    selections : sequence of (validation, trial)
        Which rows to draw, each in its own colour (default in-sample and IECV pooled).
    """
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    sel = [(v, t) for v, t in selections
           if ((table["validation"] == v) & (table["trial"] == t)).any()]
    if not sel:
        raise ValueError(f"the table has no rows for {list(selections)}")
    if metrics is None:
        present = set(table["metric"])
        metrics = [m for m in [*METRICS, "elpd_loo"] if m in present]
    metrics = list(metrics)
    models = list(dict.fromkeys(table["model"]))
    ncols = min(ncols, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 0.28 * len(models) * nrows
                                                    + 1.2 * nrows + 0.6),
                             squeeze=False, sharey=True)
    ref = {"c_for_benefit": 0.5, "calibration_intercept": 0.0, "calibration_slope": 1.0,
           "pape": 0.0, "gain_vs_treat_all": 0.0, "gain_vs_treat_none": 0.0, "mse": 0.0}
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
