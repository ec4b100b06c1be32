"""Figures of the one-stage IPD meta-analysis: ITE distributions, event-rate PPC, ITE vs truth.

Plots only read results (posterior draws, data containers), take keyword-only options
and return the matplotlib Figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayes_hte.data import IPDData


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of ``figsize`` inches with one axes."""
    return (ax.figure, ax) if ax is not None else plt.subplots(figsize=figsize)


def plot_ite_distribution(
    ites: Mapping[str, xr.DataArray],
    *,
    truth: np.ndarray | None = None,
    ax: Axes | None = None,
    title: str = "Posterior-mean ITE per patient",
) -> Figure:
    """Violins of the posterior-mean ITE across patients, one per model.

    Parameters
    ----------
    ites : mapping of str to xarray.DataArray
        Label -> ITE draws with dims ``(chain, draw, patient)`` (risk difference, as
        returned by :meth:`bayes_hte.IPDMetaModel.ite`); each violin is the distribution
        over patients of the posterior mean.
    truth : numpy.ndarray, optional
        True ITE per patient, shape ``(patient,)`` (simulations), drawn as a grey
        reference violin labelled ``"truth"``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (default: a new figure sized to the number of models).
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes: one violin per model, then the truth.

    Raises
    ------
    ValueError
        If a DataArray lacks the ``chain`` or ``draw`` dim.
    """
    labels = list(ites)
    values = [ites[k].mean(("chain", "draw")).values for k in labels]
    if truth is not None:
        labels.append("truth")
        values.append(np.asarray(truth))
    fig, ax = _axes(ax, (max(5, 0.8 * len(labels) + 2), 4))
    parts = ax.violinplot(values, showmedians=True)
    if truth is not None:
        parts["bodies"][-1].set_facecolor("0.6")
    ax.axhline(0, color="k", lw=0.6, ls=":")
    ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=45, ha="right")
    ax.set_ylabel("ITE (risk difference)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_ppc_event_rates(
    idata: xr.DataTree,
    data: IPDData,
    *,
    ci_prob: float = 0.95,
    ax: Axes | None = None,
    title: str = "Posterior predictive check: event rate",
) -> Figure:
    """Observed event rate per trial and arm against its posterior predictive interval.

    For every (trial, arm) group the share of events is computed in each posterior
    predictive replicate; the figure shows the median and the equal-tailed ``ci_prob``
    interval of these replicated rates and the observed rate (a standard graphical
    posterior predictive check, Gelman et al., *Bayesian Data Analysis*, ch. 6).

    Parameters
    ----------
    idata : xarray.DataTree
        Fit result with a ``posterior_predictive`` group holding the binary outcome
        ``y`` with dims ``(chain, draw, patient)``.
    data : IPDData
        The binary data the model was fitted on (same patient order).
    ci_prob : float
        Probability mass of the predictive interval, in (0, 1).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (default: a new figure at least 5 inches wide, half an inch
        per trial x arm group).
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One vertical interval per trial x arm (``C`` control, ``T`` treated).

    Raises
    ------
    KeyError
        If ``idata`` has no ``posterior_predictive`` group or no ``y`` in it.
    """
    pp = idata["posterior_predictive"]["y"]
    groups = data.study_idx * 2 + data.z
    n_groups = 2 * data.n_studies
    onehot = np.zeros((data.n_patients, n_groups))
    onehot[np.arange(data.n_patients), groups] = 1
    counts = onehot.sum(0)
    rates = np.einsum("cdn,ng->cdg", pp.values, onehot) / counts
    observed = (data.y @ onehot) / counts
    lo, hi = np.quantile(rates.reshape(-1, n_groups), [(1 - ci_prob) / 2, (1 + ci_prob) / 2],
                         axis=0)
    med = np.median(rates.reshape(-1, n_groups), axis=0)
    fig, ax = _axes(ax, (max(5, 0.5 * n_groups + 2), 3.8))
    x = np.arange(n_groups)
    ax.vlines(x, lo, hi, color="C0", lw=3, alpha=0.5, label=f"{ci_prob:.0%} predictive")
    ax.plot(x, med, "_", color="C0", ms=12)
    ax.plot(x, observed, "o", color="k", ms=4, label="observed")
    ticks = [f"{s}\n{'T' if a else 'C'}" for s in data.study_labels for a in (0, 1)]
    ax.set_xticks(x, ticks, fontsize=7)
    ax.set_ylabel("event rate")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_ite_vs_truth(
    ite: xr.DataArray,
    truth: np.ndarray,
    *,
    ax: Axes | None = None,
    title: str = "",
) -> Figure:
    """Posterior-mean ITE against the true ITE, with the identity line.

    Parameters
    ----------
    ite : xarray.DataArray
        ITE draws with dims ``(chain, draw, patient)``.
    truth : numpy.ndarray
        True ITE per patient, shape ``(patient,)``, on the same scale as ``ite``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (default: a new 4 x 4 inch figure).
    title : str
        Prefix of the title, which ends with the Pearson correlation ``r``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes: one dot per patient.

    Raises
    ------
    ValueError
        If ``truth`` does not have one value per patient.
    """
    est = ite.mean(("chain", "draw")).values
    if np.shape(truth) != est.shape:
        raise ValueError(f"truth has shape {np.shape(truth)}; expected {est.shape}")
    fig, ax = _axes(ax, (4, 4))
    ax.plot(truth, est, ".", ms=2, alpha=0.5)
    lim = [min(np.min(truth), est.min()), max(np.max(truth), est.max())]
    ax.plot(lim, lim, "k:", lw=0.8)
    r = np.corrcoef(est, truth)[0, 1]
    ax.set_xlabel("true ITE")
    ax.set_ylabel("posterior-mean ITE")
    ax.set_title(f"{title} r = {r:.3f}".strip())
    fig.tight_layout()
    return fig
