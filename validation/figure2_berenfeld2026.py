"""Reproduce Figure 2 of Berenfeld et al. (2026): classical vs causal meta-analysis.

100 meta-analyses of n = 1000 patients from the appendix-A design (two latent-covariate
studies). For each: classical inverse-variance meta-analysis of the RD, log RR and log OR
(fixed effect; random effects DL and REML; effect sizes as metafor's escalc with its
continuity correction) and the causal estimator theta(P*) with n_k/n weights. The red
line is the causal estimand theta(P*), the grey line no effect.

Run:  nice -n 10 .venv/bin/python validation/figure2_berenfeld2026.py
Writes docs/figures/berenfeld2026_figure2.png and the "figure2" block of
docs/meta_analysis.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import write_block  # noqa: E402

from bayes_hte.comparators.causal import causal_core  # noqa: E402
from bayes_hte.comparators.univariate import meta_analysis  # noqa: E402
from bayes_hte.data.escalc import effect_sizes  # noqa: E402
from bayes_hte.simulate.berenfeld2026 import berenfeld2026_counts  # noqa: E402

REPLICATES, N, SEED = 100, 1000, 20260130
OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "berenfeld2026_figure2.png"


def main() -> None:
    c = berenfeld2026_counts(REPLICATES, n=N, seed=SEED)
    truth = c["truth"]
    cells = [c[k] for k in ("n11", "n10", "n01", "n00")]
    est: dict[str, dict[str, np.ndarray]] = {}
    for measure in ("RD", "RR", "OR"):
        yi, vi = effect_sizes(*cells, measure=measure)
        back = (lambda x: x) if measure == "RD" else np.exp
        est[measure] = {
            "classical FE": back(meta_analysis(yi, vi, method="FE").estimate),
            "classical RE (DL)": back(meta_analysis(yi, vi, method="DL").estimate),
            "classical RE (REML)": back(meta_analysis(yi, vi, method="REML").estimate),
            "causal": causal_core(*cells, measure=measure)["estimate"],
        }
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    rng = np.random.default_rng(0)
    colors = ["#1f4e79", "#c55a11", "#bf9000", "#548235"]
    for ax, measure in zip(axes, ("RD", "RR", "OR"), strict=True):
        data = est[measure]
        labels = list(data)
        ax.boxplot([data[k] for k in labels], positions=range(len(labels)), widths=0.5,
                   showfliers=False, medianprops={"color": "black"})
        for i, k in enumerate(labels):
            ax.scatter(i + rng.uniform(-0.18, 0.18, REPLICATES), data[k], s=8, alpha=0.5,
                       color=colors[i], zorder=3)
        ax.axhline(0.0 if measure == "RD" else 1.0, color="0.6", lw=1.2)
        ax.axhline(truth["theta_causal"][measure], color="red", lw=1.6,
                   label="θ(P*) (causal estimand)")
        if measure != "RD":
            ax.set_yscale("log")
            plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([lab.replace(" ", "\n", 1) for lab in labels], fontsize=8)
        ax.set_title({"RD": "risk difference", "RR": "risk ratio (log scale)",
                      "OR": "odds ratio (log scale)"}[measure])
    axes[0].legend(loc="lower left", fontsize=8, frameon=False)
    fig.suptitle(f"Appendix-A design, {REPLICATES} meta-analyses of n = {N} "
                 "(reproduction of Berenfeld et al. 2026, Figure 2)", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)
    lines = ["| measure | θ(P*) | classical target (section 4.1) | classical FE | "
             "classical RE (DL) | classical RE (REML) | causal |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for measure in ("RD", "RR", "OR"):
        row = est[measure]
        med = [f"{np.median(row[k]):.3f} [{np.quantile(row[k], 0.05):.3f}, "
               f"{np.quantile(row[k], 0.95):.3f}]" for k in row]
        lines.append(f"| {measure} | {truth['theta_causal'][measure]:.3f} | "
                     f"{truth['theta_meta'][measure]:.3f} | " + " | ".join(med) + " |")
    table = "\n".join(lines)
    text = (f"Median [5%, 95%] of the estimates over {REPLICATES} meta-analyses "
            f"(seed {SEED}); made by `nice -n 10 .venv/bin/python "
            "validation/figure2_berenfeld2026.py`.\n\n" + table)
    print(text)
    write_block("figure2", text)


if __name__ == "__main__":
    main()
