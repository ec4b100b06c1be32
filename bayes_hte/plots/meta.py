"""Forest plots of aggregate-data meta-analyses (they only read results).

* :func:`forest_plot` — one meta-analysis: studies with their CIs and weights, the pooled
  diamond, the prediction interval, heterogeneity statistics.
* :func:`combined_forest_plot` — classical, causal-frequentist and causal-Bayesian answers
  (or any results with ``estimate`` and ``ci``) on one natural-scale axis, with the study
  rows above them and an optional reference line (e.g. the true :math:`\\theta(P^*)`).
* :func:`bubble_plot` — a meta-regression against one moderator (metafor's ``regplot``):
  the studies as circles sized by weight, the fitted line with its confidence and
  prediction bands.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.ticker import FuncFormatter
from scipy import stats

from bayes_hte.comparators.causal import CausalMetaResult
from bayes_hte.comparators.mantel_haenszel import MantelHaenszelResult
from bayes_hte.comparators.metareg import INTERCEPT, MetaRegression
from bayes_hte.comparators.publication_bias import TrimFillResult
from bayes_hte.comparators.univariate import MetaAnalysisResult
from bayes_hte.errors import DataError

#: Fixed-effect methods: no between-study variance, no prediction interval.
_FIXED = ("FE", "MH", "Peto")

_COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6")
_NULL = {"RD": 0.0, "RR": 1.0, "OR": 1.0}


def _fmt(x: float) -> str:
    return f"{x:.2f}" if abs(x) >= 0.01 or x == 0 else f"{x:.2g}"


def _diamond(ax, est, lo, hi, y, color, height=0.32):
    ax.add_patch(Polygon([(lo, y), (est, y + height), (hi, y), (est, y - height)],
                         closed=True, facecolor=color, edgecolor=color, zorder=3))


def _log_axis(ax) -> None:
    """Log x axis labelled with plain numbers (0.5, 1, 2) rather than powers of ten."""
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    lo, hi = ax.get_xlim()
    if hi / lo < 30:  # few decades: label the minor ticks too
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="minor", labelsize=7)


def _one_on_scale(result, transform, plot: str):
    """(whether to exponentiate, the function) for ``transform`` of one meta-analysis;
    ValueError for several replicates or an unknown ``transform``."""
    if np.ndim(result.estimate) != 0:
        raise ValueError(f"{plot} draws one meta-analysis; select a replicate first")
    if transform not in ("auto", "exp", None):
        raise ValueError(f"transform must be 'auto', 'exp' or None, got {transform!r}")
    use_exp = transform == "exp" or (transform == "auto" and result.scale == "log")
    return use_exp, (np.exp if use_exp else (lambda x: x))


def _axis_label(result, use_exp: bool) -> str:
    """``RR (log scale)`` for exponentiated ratios, ``log RR`` for them as analysed."""
    measure = result.measure or "effect"
    if use_exp:
        return f"{measure} (log scale)"
    return f"log {measure}" if result.scale == "log" else measure


def _natural(result, values):
    """Values of ``result`` on the natural scale (exp for log-scale classical results)."""
    return np.exp(values) if getattr(result, "scale", "natural") == "log" else values


def forest_plot(
    result: MetaAnalysisResult | MantelHaenszelResult,
    *,
    transform: str | None = "auto",
    title: str | None = None,
    xlabel: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Forest plot of one meta-analysis.

    Studies are squares sized by their weight with their confidence intervals; the
    pooled estimate is a diamond spanning its interval, with the prediction interval of
    a new study as dashed whiskers (random-effects methods), and the heterogeneity
    statistics (tau², I², H², Q) at the bottom, as in metafor's ``forest.rma``.

    Parameters
    ----------
    result : MetaAnalysisResult or MantelHaenszelResult
        From :func:`bayes_hte.comparators.meta_analysis` with 1-D input (one
        meta-analysis, scalar ``estimate``), or from
        :func:`~bayes_hte.comparators.mantel_haenszel` / :func:`~bayes_hte.comparators.peto`
        (the studies' own effects of their Q; those left out of Q are blank rows).
    transform : {"auto", "exp", None}
        ``"auto"`` exponentiates log-scale results (log RR / log OR from an EffectTable)
        and draws a log axis; ``"exp"`` forces it; ``None`` plots ``yi`` as they are.
    title : str, optional
        Axes title (left-aligned).
    xlabel : str, optional
        Label of the effect axis (default: the measure, with "(log scale)" if
        exponentiated).
    figsize : (float, float), optional
        Figure size in inches (default: 9 wide, 0.36 per row high).

    Returns
    -------
    matplotlib.figure.Figure
        The forest plot, with an estimate [CI] and a weight column at the right.

    Raises
    ------
    ValueError
        If ``result`` holds several replicates or ``transform`` is not one of the
        allowed values.
    """
    use_exp, f = _one_on_scale(result, transform, "forest_plot")
    studies = result.study_table(transform=f)
    k = len(studies)
    height = figsize or (9.0, 0.36 * (k + 5) + 1.0)
    fig, ax = plt.subplots(figsize=height)
    ys = np.arange(k, 0, -1) + 1.2
    wmax = studies["weight"].max()
    for y, (_, row) in zip(ys, studies.iterrows(), strict=True):
        ax.plot([row.ci_low, row.ci_high], [y, y], color="0.25", lw=1.1, zorder=2)
        size = 30 + 170 * row.weight / wmax
        ax.scatter([row.estimate], [y], s=size, marker="s", color=_COLORS[0], zorder=3)
    est, (lo, hi), (plo, phi) = f(result.estimate), f(result.ci), f(result.pi)
    y_pool = 1.0
    label = f"{result.method}{' + HKSJ' if result.knha else ''}"
    _diamond(ax, est, lo, hi, y_pool, _COLORS[1])
    fixed = result.method in _FIXED
    if not fixed:
        ax.plot([plo, lo], [y_pool, y_pool], color=_COLORS[1], lw=1.4, ls="--", zorder=2)
        ax.plot([hi, phi], [y_pool, y_pool], color=_COLORS[1], lw=1.4, ls="--", zorder=2)
        for x in (plo, phi):
            ax.plot([x, x], [y_pool - 0.15, y_pool + 0.15], color=_COLORS[1], lw=1.4)
    null = 1.0 if use_exp else 0.0
    ax.axvline(null, color="0.6", lw=1, zorder=1)
    ax.axvline(est, color=_COLORS[1], lw=0.8, ls=":", zorder=1)
    if use_exp:
        _log_axis(ax)
    ax.set_yticks([*ys, y_pool])
    ax.set_yticklabels([*studies.index, f"Pooled ({label})"])
    ax.set_ylim(0.0, ys.max() + 0.8)
    # right-hand text columns
    trans = ax.get_yaxis_transform()
    ax.text(1.02, ys.max() + 0.6, f"estimate [{int(round(100 * result.ci_prob))}% CI]",
            transform=trans, fontsize=8, fontweight="bold", va="bottom")
    ax.text(1.36, ys.max() + 0.6, "weight", transform=trans, fontsize=8,
            fontweight="bold", va="bottom")
    for y, (_, row) in zip(ys, studies.iterrows(), strict=True):
        shown = (f"{_fmt(row.estimate)} [{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
                 if np.isfinite(row.estimate) else "not estimable")  # left out of Q
        ax.text(1.02, y, shown, transform=trans, va="center", fontsize=8)
        ax.text(1.36, y, f"{row.weight:.1f}%", transform=trans, va="center", fontsize=8)
    ax.text(1.02, y_pool, f"{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]", transform=trans,
            va="center", fontsize=8, fontweight="bold")
    if not fixed:
        ax.text(1.02, y_pool - 0.55, f"PI [{_fmt(plo)}, {_fmt(phi)}]", transform=trans,
                va="center", fontsize=8, color=_COLORS[1])
    qp = "< 0.001" if result.q_p < 0.001 else f"= {result.q_p:.3f}"
    ax.set_title(title or "", loc="left")
    het = ("" if fixed else f"tau² = {result.tau2:.3g}, ") + (
        f"I² = {result.i2:.1f}%, H² = {result.h2:.2f}, Q = {result.q:.2f} "
        f"(df {result.q_df}, p {qp})")
    if not fixed:
        het += f";  dashed: {int(round(100 * result.ci_prob))}% prediction interval"
    fig.text(0.02, 0.015, het, fontsize=8, va="bottom")
    ax.set_xlabel(xlabel or _axis_label(result, use_exp))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.subplots_adjust(left=0.22, right=0.66, bottom=1.1 / height[1], top=1 - 0.45 / height[1])
    return fig


def _row_of(result):
    """(estimate, lo, hi, pi or None) on the natural scale of any supported result."""
    ci = np.asarray(_natural(result, np.asarray(result.ci, dtype=float)), dtype=float)
    if ci.shape != (2,) or np.ndim(result.estimate) != 0:
        raise ValueError("each result must describe one estimate (ci of shape (2,))")
    est = float(np.asarray(_natural(result, result.estimate)))
    pi = getattr(result, "pi", None)
    if pi is not None and getattr(result, "method", None) not in _FIXED:
        pi = np.asarray(_natural(result, np.asarray(pi, dtype=float)), dtype=float)
    else:
        pi = None
    return est, ci[0], ci[1], pi


def combined_forest_plot(
    results: Mapping[str, object],
    *,
    studies: CausalMetaResult | MetaAnalysisResult | None = None,
    measure: str | None = None,
    truth: float | None = None,
    truth_label: str = "θ(P*)",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Several pooled answers (classical, causal, Bayesian ...) on one forest plot.

    Parameters
    ----------
    results : mapping of label -> result
        Each a :class:`~bayes_hte.comparators.univariate.MetaAnalysisResult` (log-scale
        results are exponentiated), :class:`~bayes_hte.comparators.causal.CausalMetaResult`
        or :class:`~bayes_hte.effects.synthesis.PosteriorSummary`. Prediction
        intervals (``pi``) are drawn as dashed whiskers.
    studies : CausalMetaResult or MetaAnalysisResult, optional
        Source of the per-study rows drawn above the pooled answers.
    measure : {"RD", "RR", "OR"}, optional
        Sets the null line and a log axis for RR/OR (default: from ``studies`` or the
        first result's ``measure``).
    truth : float, optional
        A reference value drawn as a red vertical line (e.g. the simulation's estimand).
    truth_label : str
        Label of the reference line.
    title : str, optional
        Figure title (left-aligned).
    figsize : (float, float), optional
        Figure size in inches (default: 9.5 wide, 0.42 per row high).

    Returns
    -------
    matplotlib.figure.Figure
        Study rows (grey squares) above one coloured diamond per pooled answer, with an
        estimate [CI] (and PI) column at the right.

    Raises
    ------
    ValueError
        If ``results`` is empty or a result describes more than one estimate.
    """
    if not results:
        raise ValueError("results is empty: give at least one labelled result")
    first = next(iter(results.values()))
    measure = measure or getattr(studies, "measure", None) or getattr(first, "measure", None)
    rows = []
    if studies is not None:
        if hasattr(studies, "table"):  # causal result: natural scale already
            tab = studies.study_table()
        else:
            tab = studies.study_table(transform=np.exp if studies.scale == "log" else None)
        for name, r in tab.iterrows():
            rows.append(("study", str(name), r.estimate, r.ci_low, r.ci_high, None,
                         r.weight))
    pooled = [("pooled", label, *_row_of(res), None) for label, res in results.items()]
    n_rows = len(rows) + len(pooled)
    fig, ax = plt.subplots(figsize=figsize or (9.5, 0.42 * (n_rows + 2) + 1.2))
    y = float(n_rows + (1 if rows else 0))
    yticks, ylabels = [], []
    trans = ax.get_yaxis_transform()
    wmax = max((r[6] for r in rows), default=1.0)
    for _kind, label, est, lo, hi, _, weight in rows:
        ax.plot([lo, hi], [y, y], color="0.3", lw=1.0)
        ax.scatter([est], [y], marker="s", s=25 + 120 * weight / wmax, color="0.35", zorder=3)
        ax.text(1.02, y, f"{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]", transform=trans,
                va="center", fontsize=8)
        yticks.append(y)
        ylabels.append(label)
        y -= 1
    if rows:
        ax.axhline(y + 0.5, color="0.8", lw=0.8)
        y -= 0.5
    for i, (_, label, est, lo, hi, pi, _) in enumerate(pooled):
        color = _COLORS[i % len(_COLORS)]
        _diamond(ax, est, lo, hi, y, color, height=0.3)
        if pi is not None:
            ax.plot([pi[0], lo], [y, y], color=color, ls="--", lw=1.2)
            ax.plot([hi, pi[1]], [y, y], color=color, ls="--", lw=1.2)
        txt = f"{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]"
        if pi is not None:
            txt += f"  PI [{_fmt(pi[0])}, {_fmt(pi[1])}]"
        ax.text(1.02, y, txt, transform=trans, va="center", fontsize=8, color=color,
                fontweight="bold")
        yticks.append(y)
        ylabels.append(label)
        y -= 1
    null = _NULL.get(measure or "", None)
    if null is not None:
        ax.axvline(null, color="0.6", lw=1, zorder=1)
    if truth is not None:
        ax.axvline(truth, color="red", lw=1.4, zorder=1)
        ax.text(truth, 1.0, f"{truth_label} = {_fmt(truth)}", color="red", fontsize=8,
                ha="center", va="bottom", transform=ax.get_xaxis_transform())
    if measure in ("RR", "OR"):
        _log_axis(ax)
    ax.set_yticks(yticks)
    ax.set_yticklabels(ylabels)
    ax.set_ylim(y + 0.3, n_rows + (1.7 if rows else 0.7))
    ax.set_xlabel(f"{measure} (log scale)" if measure in ("RR", "OR") else (measure or ""))
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.text(1.02, 1.0, "estimate [CI]", transform=ax.transAxes, fontsize=8,
            fontweight="bold", va="bottom")
    h = fig.get_figheight()
    fig.subplots_adjust(left=0.30, right=0.62, bottom=0.9 / h, top=1 - 0.75 / h)
    return fig


def bubble_plot(
    result: MetaRegression,
    moderator: str | None = None,
    *,
    at: Mapping[str, float] | None = None,
    transform: str | None = None,
    labels: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 4.8),
) -> Figure:
    r"""A meta-regression against one moderator (R metafor's ``regplot``).

    Each study is a circle at (its moderator value, its estimate) whose area grows
    linearly with its weight :math:`1/(v_k + \hat\tau^2)` (from a floor that keeps the
    lightest visible); the line is the fitted :math:`x'\hat\beta` along the moderator,
    the other moderators held at ``at`` (default: their means, as metafor's ``regplot``),
    with its confidence band (shaded) and, for a random-effects fit, the prediction band
    of a new study's true effect (dashed).

    Parameters
    ----------
    result : MetaRegression
        One meta-regression (:func:`bayes_hte.comparators.meta_regression`).
    moderator : str, optional
        The moderator on the x axis (default: the first one).
    at : mapping of str to float, optional
        Values of the other moderators along the line (default: their means).
    transform : {None, "exp"}
        ``"exp"`` draws RR / OR (log RR / log OR exponentiated) on a log axis.
    labels : bool
        Write each study's label next to its circle.
    title : str, optional
        Figure title (default: the moderator's test and :math:`R^2`).
    figsize : (float, float)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: x = the moderator, y = the effect (on the scale of ``yi``, or
        exponentiated).

    Raises
    ------
    DataError
        ``result`` holds several replicates or has no moderator, ``moderator`` is not
        one of them, or ``at`` lacks or adds one.
    ValueError
        ``transform`` is not ``None`` or ``"exp"``, or ``"exp"`` of effects that are
        not on the log scale (e.g. risk differences).
    """
    if result.n_replicates != 1:
        raise DataError("bubble_plot draws one meta-regression; this result holds "
                        f"{result.n_replicates} replicates")
    mods = [n for n in result.names if n != INTERCEPT]
    if not mods:
        raise DataError("bubble_plot needs a moderator; this is the intercept-only model")
    moderator = mods[0] if moderator is None else moderator
    if moderator not in mods:
        raise DataError(f"moderator {moderator!r} is not in the fit; its moderators are {mods}")
    if transform not in (None, "exp"):
        raise ValueError(f"transform must be None or 'exp', got {transform!r}")
    X = np.reshape(result.X, (result.k, len(result.names)))
    y, v = np.ravel(result.yi), np.ravel(result.vi)
    w = 1.0 / (v + float(result.tau2))
    others = [m for m in mods if m != moderator]
    at_given = at is not None
    at = dict(at) if at is not None else {  # the means, as metafor's regplot
        m: float(np.mean(X[:, result.names.index(m)])) for m in others}
    if sorted(at) != sorted(others):
        raise DataError(f"at must give the other moderators {others}, got {sorted(at)}")
    x = X[:, result.names.index(moderator)]
    grid = np.linspace(x.min(), x.max(), 200)
    newmods = {m: (grid if m == moderator else np.full(grid.size, at[m])) for m in mods}
    band = result.prediction(newmods, transform=transform)
    f = np.exp if transform == "exp" else (lambda a: a)
    fig, ax = plt.subplots(figsize=figsize)
    ax.fill_between(grid, band["ci_low"], band["ci_high"], color=_COLORS[0], alpha=0.18,
                    lw=0, label=f"{int(round(100 * result.ci_prob))}% CI")
    if result.method != "FE":  # a fixed-effects fit has no between-study spread
        ax.plot(grid, band["pi_low"], color=_COLORS[0], ls="--", lw=0.9,
                label="prediction interval")
        ax.plot(grid, band["pi_high"], color=_COLORS[0], ls="--", lw=0.9)
    ax.plot(grid, band["pred"], color=_COLORS[0], lw=1.8, label="fitted")
    area = 20 + 380 * w / w.max()  # the lightest study stays visible
    ax.scatter(x, f(y), s=area, facecolor="0.85", edgecolor="0.25", lw=0.8, zorder=3,
               label="studies (area: weight)")
    if labels:
        for xi, yi, lab in zip(x, f(y), result.labels, strict=True):
            ax.annotate(lab, (xi, yi), xytext=(4, 4), textcoords="offset points",
                        fontsize=7, color="0.3")
    null = 1.0 if transform == "exp" else 0.0
    ax.axhline(null, color="0.5", lw=0.8, ls=":")
    if transform == "exp":
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        # minor labels at 2 and 5 times a power of ten only (0.2, 0.5, 2), not 0.9 by 1
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if round(v / 10 ** np.floor(np.log10(v)), 6) in (2, 5)
            else ""))
    measure = result.measure or "effect"
    scale = ("" if transform == "exp" or result.scale != "log" else "log ")
    ax.set_ylabel(f"{scale}{measure}")
    held = (", ".join(f"{k} = {_fmt(v)}" for k, v in at.items()) if len(at) <= 3
            else f"{len(at)} others at {'the given values' if at_given else 'their means'}")
    ax.set_xlabel(moderator + ((f" (others at {held})" if len(at) <= 3 else f" ({held})")
                               if at else ""))
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8,
               frameon=False)
    p = float(np.ravel(result.p)[result.names.index(moderator)])
    r2 = float(np.ravel(result.r2)[0])
    auto = (f"coefficient of {moderator}: p = {p:.2g}; model {result.method}, k = "
            f"{result.k}" + (f", R² = {r2:.0f}%" if np.isfinite(r2) else ""))
    ax.set_title(title if title is not None else auto, fontsize=10)
    fig.tight_layout(rect=(0, 0.45 / figsize[1], 1, 1))  # the legend below, in inches
    return fig


def funnel_plot(
    result: MetaAnalysisResult | TrimFillResult,
    *,
    transform: str | None = "auto",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Funnel plot of one meta-analysis (metafor ``funnel``).

    Each study's effect (x) against its standard error (y, 0 at the top), with the pooled
    estimate as a vertical line and the pseudo-confidence region
    :math:`\\hat\\mu \\pm z\\,s` at ``ci_prob`` for standard errors :math:`s` from 0 to the
    largest (Sterne & Egger 2001, *J Clin Epidemiol* 54:1046): without small-study
    effects the studies scatter symmetrically inside it. Test the asymmetry with
    :func:`~bayes_hte.comparators.regtest`.

    Parameters
    ----------
    result : MetaAnalysisResult or TrimFillResult
        One meta-analysis (:func:`~bayes_hte.comparators.meta_analysis`, 1-D input), or
        a trim and fill (:func:`~bayes_hte.comparators.trim_and_fill`): its filled
        studies are drawn as open circles and its adjusted estimate as the line, as
        metafor's ``funnel`` of a ``trimfill``.
    transform : {"auto", "exp", None}
        ``"auto"`` draws log-scale results (log RR / log OR) on a log axis of the ratio;
        ``"exp"`` forces it; ``None`` draws ``yi`` as they are. The standard errors stay
        on the analysis scale.
    title : str, optional
        Axes title.
    figsize : (float, float), optional
        Figure size in inches (default 6 × 4.8).

    Returns
    -------
    matplotlib.figure.Figure
        The funnel plot.

    Raises
    ------
    ValueError
        ``result`` holds several replicates, or ``transform`` is not one of the allowed
        values.
    """
    filled = None
    if isinstance(result, TrimFillResult):
        filled, result = result.filled, result.fit
    use_exp, f = _one_on_scale(result, transform, "funnel_plot")
    se = np.sqrt(np.asarray(result.vi, dtype=float))
    top = 1.05 * float(np.nanmax(se))
    grid = np.linspace(0.0, top, 100)
    z = float(stats.norm.ppf(0.5 + result.ci_prob / 2.0))
    est = float(result.estimate)
    fig, ax = plt.subplots(figsize=figsize or (6.0, 4.8))
    ax.fill_betweenx(grid, f(est - z * grid), f(est + z * grid), color="0.93", zorder=0,
                     label=f"{100 * result.ci_prob:g}% pseudo-confidence region")
    ax.plot(f(est - z * grid), grid, color="0.55", lw=0.9, zorder=1)
    ax.plot(f(est + z * grid), grid, color="0.55", lw=0.9, zorder=1)
    ax.axvline(f(est), color=_COLORS[1], lw=1.2, zorder=2,
               label=f"pooled estimate ({result.method})")
    yi = f(np.asarray(result.yi, dtype=float))
    seen = np.ones(yi.size, dtype=bool) if filled is None else ~filled
    ax.scatter(yi[seen], se[seen], s=28, color=_COLORS[0], edgecolor="white", lw=0.5,
               zorder=3, label="studies")
    if filled is not None and filled.any():
        ax.scatter(yi[filled], se[filled], s=28, facecolor="white", edgecolor=_COLORS[0],
                   lw=1.0, zorder=3, label="filled (trim and fill)")
    ax.set_ylim(top, 0.0)
    if use_exp:
        _log_axis(ax)
    ax.set_xlabel(_axis_label(result, use_exp))
    ax.set_ylabel("standard error")
    ax.set_title(title or "", loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout(rect=(0.0, 0.07, 1.0, 1.0))  # the legend below, clear of the studies
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8,
               frameon=False)
    return fig
