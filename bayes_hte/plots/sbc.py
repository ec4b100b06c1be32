"""Figures of simulation-based calibration: PIT-ECDF differences with simultaneous bands.

:func:`plot_sbc` draws, for each test quantity of one model, the difference between the
empirical CDF of its SBC ranks (as PIT values) and the uniform CDF, inside the 95%
simultaneous band of Säilynoja, Bürkner & Vehtari (2022, *Stat Comput* 32:32) — ArviZ's
:func:`arviz_stats.ecdf_utils.ecdf_pit` band. A curve leaving the band means the quantity's
posterior is miscalibrated: a ∩ shape, too wide posteriors; ∪, too narrow; a curve
entirely above or below zero, a biased posterior (Talts et al. 2018, Fig. 3-5).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bayes_hte.sbc.result import SBCResult

#: Quantities drawn when none are named (the least uniform first).
MAX_PANELS = 12
_LINE, _FAIL = "#2e75b6", "#c00000"


def plot_sbc(result: SBCResult, model: str, *, quantities: Sequence[str] | None = None,
             envelope_prob: float = 0.95) -> Figure:
    """PIT-ECDF difference plot of one model's SBC ranks, with simultaneous bands.

    Parameters
    ----------
    result : SBCResult
        From :func:`bayes_hte.sbc.run`.
    model : str
        A model name of the run.
    quantities : sequence of str, optional
        Quantities to draw (labels of ``result.ranks["quantity"]``). Default: the
        log likelihood, then the other quantities in increasing order of their
        uniformity test p-value, :data:`MAX_PANELS` panels at most.
    envelope_prob : float
        Simultaneous coverage of the band (the probability that all of a calibrated
        quantity's ECDF stays inside it).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per quantity; x: PIT (normalised rank), y: ECDF − uniform CDF.

    Raises
    ------
    KeyError
        ``model`` or a named quantity is not in the results.
    """
    import numpy as np
    from arviz_stats.ecdf_utils import ecdf_pit

    ranks = result.ranks
    g = ranks[ranks["model"] == model]
    if g.empty:
        raise KeyError(f"no SBC results for model {model!r}")
    uni = result.uniformity()
    uni = uni[uni["model"] == model].set_index("quantity")
    names = list(dict.fromkeys(g["quantity"]))
    if quantities is None:
        order = ["loglik"] + [q for q in uni.sort_values("p_value").index if q != "loglik"]
        quantities = [q for q in order if q in names][:MAX_PANELS]
    missing = [q for q in quantities if q not in names]
    if missing:
        raise KeyError(f"no SBC quantity {missing} for model {model!r}")
    ncol = min(4, len(quantities))
    nrow = -(-len(quantities) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    for ax, q in zip(axes.ravel(), quantities, strict=False):
        pit = g.loc[g["quantity"] == q, "pit"].to_numpy()
        # ArviZ's simultaneous band (Säilynoja et al. 2022, simulation method)
        x, ecdf, lo, hi = ecdf_pit(pit, envelope_prob, n_simulations=1000,
                                   rng=np.random.default_rng(0))
        ax.fill_between(x, lo - x, hi - x, color="0.85", step="post", lw=0)
        ax.step(x, ecdf - x, where="post", color=_LINE)
        ax.axhline(0.0, color="0.4", lw=0.6)
        p = uni.loc[q, "p_value"] if q in uni.index else float("nan")
        bad = q in uni.index and uni.loc[q, "verdict"] == "fail"
        ax.set_title(f"{q}\np = {p:.2g}" + (" (fails)" if bad else ""), fontsize=8,
                     color=_FAIL if bad else "black")
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(quantities):]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("PIT of rank", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("ECDF − uniform", fontsize=8)
    fig.suptitle(f"SBC of {model} ({len(set(g['simulation']))} simulations): "
                 f"{envelope_prob:.0%} simultaneous band", fontsize=9)
    return fig
