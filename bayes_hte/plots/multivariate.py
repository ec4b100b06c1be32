"""Figures of the multivariate / two-step meta-analysis results (read-only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from bayes_hte.comparators.multivariate import MVMetaResult

_OTHER_COLOURS = ("tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def forest_coefficients(
    result: MVMetaResult,
    *,
    coefs: Sequence[str] | None = None,
    others: Mapping[str, pd.DataFrame] | None = None,
    truth: Mapping[str, float] | pd.Series | None = None,
    pooled_label: str | None = None,
    ncols: int = 3,
    panel_size: tuple[float, float] = (3.6, 0.32),
) -> Figure:
    """Forest plot per coefficient: every trial's estimate with its CI, then the pooled one.

    Parameters
    ----------
    result : MVMetaResult
        A multivariate meta-analysis (one replicate); its trial estimates and
        within-trial covariances give the trial rows (a trial that cannot estimate a
        coefficient shows "not estimable").
    coefs : sequence of str, optional
        Coefficients to show (default: all), one panel each.
    others : mapping, optional
        Further pooled answers to show under the two-step one, e.g.
        ``{"Bayesian synthesis": df}``; each a DataFrame indexed by coefficient with
        columns ``estimate``, ``ci_low``, ``ci_high``.
    truth : mapping or Series, optional
        True values, drawn as a dashed vertical line.
    pooled_label : str, optional
        Label of the pooled row (default ``"pooled (<method>, <structure>)"``).
    ncols : int
        Panels per row.
    panel_size : (float, float)
        Width of a panel and height per row, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Pooled rows are diamonds spanning the CI; the thin line through the diamond is
        the prediction interval of a new trial's coefficient.

    Raises
    ------
    ValueError
        If ``result`` holds several replicates or ``coefs`` names a coefficient that is
        not in it.
    """
    if np.ndim(result.loglik) != 0:
        raise ValueError("forest_coefficients needs a single meta-analysis, not replicates")
    names = list(result.names)
    coefs = names if coefs is None else list(coefs)
    unknown = [c for c in coefs if c not in names]
    if unknown:
        raise ValueError(f"coefficients {unknown} are not in the result; available: {names}")
    others = dict(others or {})
    z = stats.norm.ppf(0.5 + result.ci_prob / 2)
    est = result.estimates
    se = np.sqrt(np.diagonal(result.covariances, axis1=1, axis2=2))
    pooled = result.summary()
    abbrev = {"unstructured": "UN", "compound_symmetry": "CS", "diagonal": "DIAG",
              "identity": "ID"}
    pooled_label = pooled_label or (
        f"pooled ({result.method}"
        f"{', ' + abbrev[result.structure] if result.method != 'FE' else ''})")
    k = len(result.study_labels)
    n_rows = k + 1 + len(others)
    ncols = max(1, min(ncols, len(coefs)))
    nrows = int(np.ceil(len(coefs) / ncols))
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, sharey=True,
                             figsize=(panel_size[0] * ncols + 1.6,
                                      panel_size[1] * n_rows * nrows + 0.9 * nrows))
    ypos = np.arange(n_rows)[::-1].astype(float)
    labels = [str(s) for s in result.study_labels] + [pooled_label] + list(others)
    for a, name in enumerate(coefs):
        ax = axes[a // ncols, a % ncols]
        j = names.index(name)
        for i in range(k):
            if np.isfinite(est[i, j]):
                ax.errorbar(est[i, j], ypos[i], xerr=z * se[i, j], fmt="s", color="0.25",
                            ms=4, lw=1, capsize=0)
            else:
                ax.text(0.02, ypos[i], "not estimable", transform=ax.get_yaxis_transform(),
                        va="center", fontsize=7, color="0.5")
        yp = ypos[k]
        row = pooled.loc[name]
        ax.fill([row.ci_low, row.estimate, row.ci_high, row.estimate],
                [yp, yp + 0.3, yp, yp - 0.3], color="tab:blue", zorder=3)
        ax.plot([row.pi_low, row.pi_high], [yp, yp], color="tab:blue", lw=0.8, zorder=2)
        for r, (_lab, tab) in enumerate(others.items()):
            if name in tab.index:
                t = tab.loc[name]
                ax.errorbar(t["estimate"], ypos[k + 1 + r],
                            xerr=[[t["estimate"] - t["ci_low"]], [t["ci_high"] - t["estimate"]]],
                            fmt="D", color=_OTHER_COLOURS[r % len(_OTHER_COLOURS)], ms=4, lw=1.2)
        if truth is not None and name in truth:
            ax.axvline(float(truth[name]), color="k", ls="--", lw=0.8)
        ax.axhline(ypos[k] + 0.5, color="0.8", lw=0.6)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for a in range(len(coefs), nrows * ncols):
        axes[a // ncols, a % ncols].set_visible(False)
    for r in range(nrows):
        axes[r, 0].set_yticks(ypos)
        axes[r, 0].set_yticklabels(labels, fontsize=7)
    fig.suptitle(f"Trial and pooled coefficients ({int(round(100 * result.ci_prob))}% "
                 "intervals; thin line: prediction interval)", fontsize=9)
    fig.tight_layout()
    return fig


def compare_estimates(
    tables: Mapping[str, pd.DataFrame],
    *,
    coefs: Sequence[str] | None = None,
    truth: Mapping[str, float] | pd.Series | None = None,
) -> Figure:
    r"""Several pooled answers side by side, one row per coefficient.

    Dot-and-interval plot of e.g. the two-step REML, Bayesian synthesis and one-stage
    Bayesian estimates. Coefficients live on different scales, so every value is
    standardised by the first table: :math:`(x - \hat\beta_1) / h_1`, with
    :math:`\hat\beta_1` the first table's estimate and :math:`h_1` its interval
    half-width, so that all fit one axis (the first answer is centred at 0 with
    half-width 1).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Label -> DataFrame indexed by coefficient with columns ``estimate``,
        ``ci_low``, ``ci_high``; the first one is the reference.
    coefs : sequence of str, optional
        Coefficients to show, top to bottom (default: the first table's index).
    truth : mapping or Series, optional
        True values, drawn as black ticks.

    Returns
    -------
    matplotlib.figure.Figure
        One row per coefficient, one colour per table, legend at the right.

    Raises
    ------
    ValueError
        If ``tables`` is empty.
    """
    if not tables:
        raise ValueError("tables is empty")
    first = next(iter(tables.values()))
    coefs = list(first.index) if coefs is None else list(coefs)
    scale = ((first["ci_high"] - first["ci_low"]) / 2).reindex(coefs)
    centre = first["estimate"].reindex(coefs)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(coefs) + 1.0))
    m = len(tables)
    for r, (lab, tab) in enumerate(tables.items()):
        tab = tab.reindex(coefs)
        y = np.arange(len(coefs))[::-1] + (r - (m - 1) / 2) * 0.18
        e = (tab["estimate"] - centre) / scale
        lo = (tab["ci_low"] - centre) / scale
        hi = (tab["ci_high"] - centre) / scale
        ax.errorbar(e, y, xerr=[e - lo, hi - e], fmt="o", ms=4, lw=1.2, label=lab,
                    color=(["tab:blue"] + list(_OTHER_COLOURS))[r % 6])
    if truth is not None:
        t = (pd.Series(truth).reindex(coefs) - centre) / scale
        ax.scatter(t, np.arange(len(coefs))[::-1], marker="|", s=200, color="k",
                   label="truth", zorder=5)
    ax.set_yticks(np.arange(len(coefs))[::-1])
    ax.set_yticklabels(coefs, fontsize=8)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.set_xlabel(f"(estimate - {next(iter(tables))} estimate) / its CI half-width")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
