"""Figures of the time-to-event models: Kaplan–Meier against model-implied survival."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayes_hte.data import IPDData
from bayes_hte.data.survival import kaplan_meier
from bayes_hte.errors import DataError

PREDICTED_DIMS = ("draw", "study", "arm", "time")


def plot_km_ppc(
    predicted: xr.DataArray,
    data: IPDData,
    *,
    ci_prob: float = 0.9,
    title: str = "",
) -> Figure:
    """Observed Kaplan–Meier curves per trial and arm against model-implied survival.

    One panel per trial: the Kaplan–Meier estimate of each arm (steps; blue control,
    red treated) and the equal-tailed ``ci_prob`` band over posterior draws of the
    survival the model implies for the same patients (shaded) — a graphical posterior
    predictive check of a proportional-hazards model.

    Parameters
    ----------
    predicted : xarray.DataArray
        Model-implied survival probability averaged over each group's patients, dims
        ``(draw, study, arm, time)`` with a ``time`` coordinate in the data's time
        units and ``arm`` ordered (control, treated), as returned by
        :func:`bayes_hte.effects.survival.predictive_survival`.
    data : IPDData
        The time-to-event data the model was fitted on (``data.t`` times, ``data.y``
        event indicators); its trials are the ``study`` positions of ``predicted``.
    ci_prob : float
        Probability mass of the bands, in (0, 1).
    title : str
        Label put before the figure's title (e.g. the model label).

    Returns
    -------
    matplotlib.figure.Figure
        A grid of at most four panels per row, one per trial.

    Raises
    ------
    DataError
        If ``predicted`` lacks a dim of ``(draw, study, arm, time)`` or has another
        number of trials than ``data``.
    """
    if not isinstance(predicted, xr.DataArray) or set(predicted.dims) != set(PREDICTED_DIMS):
        raise DataError(f"predicted must be an xarray.DataArray with dims {PREDICTED_DIMS}")
    if predicted.sizes["study"] != data.n_studies or "time" not in predicted.coords:
        raise DataError(f"predicted must have a 'time' coordinate and {data.n_studies} "
                        f"studies, got {predicted.sizes['study']}")
    times = np.asarray(predicted["time"].values, dtype=float)
    n = data.n_studies
    ncol = min(4, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False,
                             sharey=True)
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    for j in range(n):
        ax = axes[j // ncol, j % ncol]
        for a, color in ((0, "C0"), (1, "C3")):
            rows = (data.study_idx == j) & (data.z == a)
            knots, surv = kaplan_meier(data.t[rows], data.y[rows])
            ax.step(knots, surv, where="post", color=color, lw=1.2,
                    label=f"KM {'treated' if a else 'control'}")
            band = predicted.isel(study=j, arm=a)
            ax.fill_between(times, band.quantile(lo_q, "draw"), band.quantile(hi_q, "draw"),
                            color=color, alpha=0.25, lw=0)
        ax.set_title(str(data.study_labels[j]), fontsize=9)
        ax.set_ylim(0, 1.02)
    for k in range(n, nrow * ncol):
        axes[k // ncol, k % ncol].axis("off")
    axes[0, 0].legend(fontsize=7)
    head = f"{title}: " if title else ""
    fig.suptitle(f"{head}Kaplan-Meier (lines) vs posterior predictive survival "
                 f"({ci_prob:.0%} bands)", fontsize=10)
    fig.tight_layout()
    return fig
