"""Figures of the hierarchical subgroup model (they only read results).

* :func:`plot_cate_by_risk` — CATE by group of predicted baseline risk (Tzimas 2024,
  Figure 3 / Table 8) and against the risk itself.
* :func:`plot_cate_vs_truth` — estimated against true CATE, and their distributions
  (the paper's Figure 2).
* :func:`plot_subgroup_effects` — subgroup treatment effects with intervals.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayes_hte.effects.subgroup import risk_groups
from bayes_hte.errors import DataError
from bayes_hte.evaluation.truth import accuracy_metrics

_BLUE, _ORANGE, _GREY = "#1f4e79", "#c55a11", "#7f7f7f"
SAMPLE = ("chain", "draw")


def _check_draws(values: xr.DataArray, name: str) -> None:
    if not isinstance(values, xr.DataArray) or not {"chain", "draw", "patient"} <= set(
            values.dims):
        raise DataError(f"{name} must be an xarray.DataArray with dims (chain, draw, patient)")


def _check_truth(truth: np.ndarray, point: np.ndarray) -> np.ndarray:
    """``truth`` as floats, one value per patient of the posterior means ``point``."""
    truth = np.asarray(truth, dtype=float)
    if truth.shape != point.shape:
        raise DataError(f"truth has shape {truth.shape}; expected {point.shape}")
    return truth


def _finish(fig: Figure, title: str | None) -> Figure:
    """Title (when given) and tight layout of a two-panel figure."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_cate_by_risk(
    cate: xr.DataArray,
    baseline_risk: xr.DataArray,
    *,
    groups: int = 5,
    truth: np.ndarray | None = None,
    ci_prob: float = 0.95,
    ylabel: str = "CATE (log-odds ratio)",
    title: str | None = None,
) -> Figure:
    """CATE by quantile group of predicted baseline risk, and against the risk.

    Left: per group (``Q1`` = lowest risk) a box of the patients' posterior-mean CATE,
    the posterior mean of the group's average CATE with its ``ci_prob`` interval, and
    (when ``truth`` is given) the group's true mean. Right: each patient's posterior-mean
    CATE against the posterior-mean baseline risk (log axis), with the truth in grey.
    Risk-based subgroups follow Tzimas et al. (2024), Figure 3 / Table 8.

    Parameters
    ----------
    cate : xarray.DataArray
        CATE draws with dims ``(chain, draw, patient)``, on the scale named by
        ``ylabel`` (e.g. :meth:`SubgroupHTEModel.cate_logit`).
    baseline_risk : xarray.DataArray
        Predicted baseline (control) risk draws, dims ``(chain, draw, patient)``,
        probabilities in (0, 1).
    groups : int
        Number of equal-sized risk groups (quantiles of the posterior-mean risk).
    truth : numpy.ndarray, optional
        True CATE per patient, shape ``(patient,)``, same scale as ``cate``.
    ci_prob : float
        Probability mass of the group-mean intervals, in (0, 1).
    ylabel : str
        Label of the CATE axis.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: by risk group, and per patient.

    Raises
    ------
    DataError
        If ``cate`` or ``baseline_risk`` are not DataArrays with dims
        ``(chain, draw, patient)``, if ``truth`` has the wrong shape, or if the risk has
        non-finite values.
    """
    _check_draws(cate, "cate")
    _check_draws(baseline_risk, "baseline_risk")
    risk = baseline_risk.mean(SAMPLE).values
    point = cate.mean(SAMPLE).values
    group = risk_groups(risk, groups=groups)
    codes, labels = group.codes, list(group.categories)
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    cv = cate.transpose("chain", "draw", "patient").values
    if truth is not None:
        truth = _check_truth(truth, point)

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[1.1, 1])
    pos = np.arange(1, len(labels) + 1)
    ax.boxplot([point[codes == k] for k in range(len(labels))], positions=pos, widths=0.5,
               showfliers=False, patch_artist=True,
               boxprops={"facecolor": "#dce6f2", "edgecolor": _GREY},
               medianprops={"color": _GREY}, whiskerprops={"color": _GREY},
               capprops={"color": _GREY})
    gm = np.stack([cv[:, :, codes == k].mean(axis=-1).ravel() for k in range(len(labels))])
    mean = gm.mean(axis=1)
    ql, qh = np.quantile(gm, lo, axis=1), np.quantile(gm, hi, axis=1)
    ax.errorbar(pos, mean, yerr=[mean - ql, qh - mean], fmt="o", color=_BLUE, capsize=4,
                lw=2, ms=6, zorder=4,
                label=f"posterior mean of group mean ({ci_prob:.0%} interval)")
    if truth is not None:
        tm = [truth[codes == k].mean() for k in range(len(labels))]
        ax.plot(pos, tm, "x", color=_ORANGE, ms=9, mew=2, zorder=5, label="true group mean")
    ax.axhline(0, color="black", lw=0.7)
    ax.set_xticks(pos, [f"{lab}\n{risk[codes == k].mean():.3f}"
                        for k, lab in enumerate(labels)])
    ax.set_xlabel("group of predicted baseline risk (mean risk)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("by risk group (boxes: patients' posterior means)", fontsize=10)

    if truth is not None:
        ax2.scatter(risk, truth, s=6, color=_GREY, alpha=0.5, label="true", lw=0)
    ax2.scatter(risk, point, s=6, color=_BLUE, alpha=0.6, label="posterior mean", lw=0)
    ax2.axhline(0, color="black", lw=0.7)
    ax2.set_xscale("log")
    ax2.set_xlabel("predicted baseline risk")
    ax2.set_ylabel(ylabel)
    ax2.legend(fontsize=8, loc="upper left", markerscale=2)
    ax2.set_title("per patient", fontsize=10)
    return _finish(fig, title)


def plot_cate_vs_truth(
    cate: xr.DataArray,
    truth: np.ndarray,
    *,
    label: str = "CATE (log-odds ratio)",
    title: str | None = None,
) -> Figure:
    """Posterior-mean against true CATE, and the two distributions overlaid.

    Left: scatter with the identity line and the correlation, RMSE and MAE of
    :func:`bayes_hte.evaluation.truth.accuracy_metrics`; right: histograms of the true
    and posterior-mean CATEs (Tzimas et al. 2024, Figure 2).

    Parameters
    ----------
    cate : xarray.DataArray
        CATE draws with dims ``(chain, draw, patient)``.
    truth : numpy.ndarray
        True CATE per patient, shape ``(patient,)``, same scale as ``cate``.
    label : str
        Name and scale of the effect, used in the axis labels.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: scatter and histograms.

    Raises
    ------
    DataError
        If ``cate`` is not a DataArray with dims ``(chain, draw, patient)`` or ``truth``
        has the wrong shape.
    """
    _check_draws(cate, "cate")
    point = cate.mean(SAMPLE).values
    truth = _check_truth(truth, point)
    m = accuracy_metrics(point, truth)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.scatter(truth, point, s=6, alpha=0.5, color=_BLUE, lw=0)
    lim = [min(truth.min(), point.min()), max(truth.max(), point.max())]
    ax.plot(lim, lim, color="black", lw=0.8)
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"posterior-mean {label}")
    ax.text(0.03, 0.97, f"r = {m['correlation']:.3f}\nRMSE = {m['rmse']:.3f}\n"
            f"MAE = {m['mae']:.3f}", transform=ax.transAxes, va="top", fontsize=9)
    bins = np.linspace(lim[0], lim[1], 40)
    ax2.hist(truth, bins=bins, alpha=0.5, color=_GREY, label="true")
    ax2.hist(point, bins=bins, alpha=0.5, color=_BLUE, label="posterior mean")
    ax2.set_xlabel(label)
    ax2.set_ylabel("patients")
    ax2.legend(fontsize=8)
    return _finish(fig, title)


def plot_subgroup_effects(
    values: xr.DataArray,
    *,
    ci_prob: float = 0.95,
    reference: xr.DataArray | None = None,
    xlabel: str = "treatment effect (log-odds ratio)",
    title: str | None = None,
) -> Figure:
    """Forest plot of subgroup effects: posterior mean and equal-tailed interval per level.

    Parameters
    ----------
    values : xarray.DataArray
        Effect draws with dims ``(chain, draw, <level>)``, one further dim whose
        coordinate labels the rows (e.g. ``SubgroupHTEModel.subgroup_effects()``).
    ci_prob : float
        Probability mass of the intervals, in (0, 1).
    reference : xarray.DataArray, optional
        Draws of a reference effect (e.g. the overall ``mu_tau``), any dims: its
        ``ci_prob`` interval is a shaded band and its mean a grey line.
    xlabel : str
        Label of the effect axis (name and scale).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One row per level, first level on top.

    Raises
    ------
    DataError
        If ``values`` is not a DataArray or has not exactly one dim besides
        ``(chain, draw)``.
    """
    if not isinstance(values, xr.DataArray):
        raise DataError("values must be an xarray.DataArray of draws")
    dims = [d for d in values.dims if d not in SAMPLE]
    if len(dims) != 1:
        raise DataError(f"values must have one dim besides (chain, draw), got {dims}")
    dim = dims[0]
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    mean = values.mean(SAMPLE).values
    q = values.quantile([lo, hi], dim=list(SAMPLE)).transpose("quantile", dim).values
    labels = [str(v) for v in values[dim].values]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    if reference is not None:
        rq = np.quantile(reference.values, [lo, hi])
        ax.axvspan(rq[0], rq[1], color="#dce6f2", zorder=0,
                   label=f"{reference.name or 'reference'} ({ci_prob:.0%})")
        ax.axvline(float(reference.mean()), color=_GREY, lw=1)
    ax.errorbar(mean, y, xerr=[mean - q[0], q[1] - mean], fmt="s", color=_BLUE, capsize=3)
    ax.axvline(0, color="black", lw=0.7)
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    if reference is not None:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
