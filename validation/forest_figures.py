"""Forest plots for docs/meta_analysis.md.

1. BCG vaccine trials (metafor's dat.bcg), log risk ratio, REML with prediction interval.
2. One appendix-A meta-analysis (Berenfeld et al. 2026): classical FE and RE, causal
   frequentist and causal Bayesian answers for the risk ratio on one plot, with the true
   theta(P*).
3. The BCG meta-regression on absolute latitude (REML; metafor's regplot).

Run:  nice -n 10 .venv/bin/python validation/forest_figures.py
Writes docs/figures/bcg_forest_reml.png, docs/figures/berenfeld2026_combined_forest.png
and docs/figures/bcg_bubble_ablat.png.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from bayes_hte import ArmTable, CausalMetaModel, datasets  # noqa: E402
from bayes_hte.comparators import (  # noqa: E402
    causal_meta_analysis,
    meta_analysis,
    meta_regression,
)
from bayes_hte.plots import bubble_plot, combined_forest_plot, forest_plot  # noqa: E402
from bayes_hte.simulate.berenfeld2026 import berenfeld2026  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIG = ROOT / "docs" / "figures"

# metafor's dat.bcg (Colditz et al. 1994) as n11 n10 n01 n00 (tpos tneg cpos cneg), written
# by validation/metafor_reference.R
BCG = pd.DataFrame(json.loads((ROOT / "tests" / "data" / "metafor_bcg.json").read_text())["data"])


def bubble() -> None:
    """The BCG meta-regression on absolute latitude, as bayes-hte run draws it."""
    bcg = datasets.bcg()
    eff = ArmTable.from_frame(bcg, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                              study="study").effects("RR")
    reg = meta_regression(eff, mods=bcg[["ablat"]])
    fig = bubble_plot(reg, "ablat", transform="exp", labels=True,
                      title="BCG: risk ratio against absolute latitude (REML)")
    fig.savefig(FIG / "bcg_bubble_ablat.png", dpi=110)
    print(reg)


def main() -> None:
    bubble()
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
