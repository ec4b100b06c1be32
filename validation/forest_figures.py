"""Forest plots for docs/meta_analysis.md.

1. BCG vaccine trials (metafor's dat.bcg), log risk ratio, REML with prediction interval.
2. One appendix-A meta-analysis (Berenfeld et al. 2026): classical FE and RE, causal
   frequentist and causal Bayesian answers for the risk ratio on one plot, with the true
   theta(P*).

Run:  nice -n 10 .venv/bin/python validation/forest_figures.py
Writes docs/figures/bcg_forest_reml.png and docs/figures/berenfeld2026_combined_forest.png.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from bayes_hte import ArmTable, CausalMetaModel  # noqa: E402
from bayes_hte.comparators import causal_meta_analysis, meta_analysis  # noqa: E402
from bayes_hte.plots import combined_forest_plot, forest_plot  # noqa: E402
from bayes_hte.simulate.berenfeld2026 import berenfeld2026  # noqa: E402

FIG = Path(__file__).resolve().parents[1] / "docs" / "figures"

# metafor's dat.bcg (Colditz et al. 1994): tpos tneg cpos cneg
BCG = pd.DataFrame({
    "study": ["Aronson 1948", "Ferguson & Simes 1949", "Rosenthal 1960",
              "Hart & Sutherland 1977", "Frimodt-Moller 1973", "Stein & Aronson 1953",
              "Vandiviere 1973", "TPT Madras 1980", "Coetzee & Berjak 1968",
              "Rosenthal 1961", "Comstock 1974", "Comstock & Webster 1969", "Comstock 1976"],
    "n11": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    "n10": [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
    "n01": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    "n00": [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
})


def main() -> None:
    res = meta_analysis(ArmTable.from_frame(BCG).effects("RR"), method="REML")
    fig = forest_plot(res, title="BCG vaccine and tuberculosis: risk ratio (REML)")
    fig.savefig(FIG / "bcg_forest_reml.png", dpi=110)
    print(res.summary(transform="exp").T)

    sim = berenfeld2026(1000, seed=3)
    table = sim.arm_table()
    eff = table.effects("RR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bayes = CausalMetaModel().fit(table, draws=1000, tune=1000, chains=2, random_seed=1,
                                      log_likelihood=False, posterior_predictive=False)
    results = {
        "classical FE": meta_analysis(eff, method="FE"),
        "classical RE (DL)": meta_analysis(eff, method="DL"),
        "causal (frequentist)": causal_meta_analysis(table, "RR"),
        "causal (Bayesian)": bayes.result("RR"),
    }
    fig = combined_forest_plot(results, studies=results["causal (frequentist)"],
                               truth=sim.truth["theta_causal"]["RR"],
                               title="Appendix-A meta-analysis (seed 3): risk ratio")
    fig.savefig(FIG / "berenfeld2026_combined_forest.png", dpi=110)
    for k, r in results.items():
        print(k, r.estimate, r.ci)


if __name__ == "__main__":
    main()
