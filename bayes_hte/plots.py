"""Plots of treatment-effect results. Plots only read results and return the figure."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from bayes_hte.data.ipd import IPDData


def plot_ite_distribution(ites: Mapping[str, xr.DataArray], *, truth: np.ndarray | None = None,
                          ax=None, title: str = "Posterior-mean ITE per patient"):
    """Violins of the posterior-mean ITE across patients, one per model.

    Parameters
    ----------
    ites : mapping label -> DataArray (chain, draw, patient)
    truth : array, optional
        True ITEs (simulations), drawn as a grey reference violin.
    """
    labels = list(ites)
    values = [ites[k].mean(("chain", "draw")).values for k in labels]
    if truth is not None:
        labels.append("truth")
        values.append(np.asarray(truth))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(
        figsize=(max(5, 0.8 * len(labels) + 2), 4))
    parts = ax.violinplot(values, showmedians=True)
    if truth is not None:
        parts["bodies"][-1].set_facecolor("0.6")
    ax.axhline(0, color="k", lw=0.6, ls=":")
    ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=45, ha="right")
    ax.set_ylabel("ITE (risk difference)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_ppc_event_rates(idata: xr.DataTree, data: IPDData, *, ci_prob: float = 0.95,
                         ax=None, title: str = "Posterior predictive check: event rate"):
    """Observed event rate per trial and arm against its posterior predictive interval."""
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
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(
        figsize=(max(5, 0.5 * n_groups + 2), 3.8))
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


def plot_ite_vs_truth(ite: xr.DataArray, truth: np.ndarray, *, ax=None, title: str = ""):
    """Posterior-mean ITE against the true ITE, with the identity line."""
    est = ite.mean(("chain", "draw")).values
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 4))
    ax.plot(truth, est, ".", ms=2, alpha=0.5)
    lim = [min(np.min(truth), est.min()), max(np.max(truth), est.max())]
    ax.plot(lim, lim, "k:", lw=0.8)
    r = np.corrcoef(est, truth)[0, 1]
    ax.set_xlabel("true ITE")
    ax.set_ylabel("posterior-mean ITE")
    ax.set_title(f"{title} r = {r:.3f}".strip())
    fig.tight_layout()
    return fig
