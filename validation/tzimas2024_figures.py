"""Tzimas (2024) on one simulated data set: the risk-quintile table (Table 8) and the two
figures of docs/subgroup.md, from one fit of the paper's model.

The paper's model (appendix B; equations 5-9): main effects of age, anticoagulant,
diabetes, prior bleeding and BMI, treatment interactions with age, anticoagulant and
diabetes, gender subgroups, individual layer (marginalized), with the estimator's default
sampler settings (4 chains x 1000 draws after 1000 tuning steps, nutpie unless
``--sampler``), fitted to ``bayes_hte.simulate.tzimas2024(n=2000, seed=1)``. The Monte
Carlo study over many data sets is ``models/studies/tzimas2024_coverage.toml`` (tables:
``validation/tzimas2024_tables.py``).

Run (one fit, about 2 minutes on 2 cores; ``--write-docs`` writes the table between the
``tzimas-risk`` markers of docs/subgroup.md and the figures into docs/figures/)::

    nice -n 10 .venv/bin/python validation/tzimas2024_figures.py --write-docs
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import bayes_hte as bh  # noqa: E402
from bayes_hte.plots import plot_cate_by_risk, plot_cate_vs_truth  # noqa: E402
from bayes_hte.simulate.tzimas2024 import tzimas2024  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))
from _docs import DOCS, write_block  # noqa: E402
from tzimas2024_tables import fmt_table  # noqa: E402

FIGURES = DOCS / "figures"
PAPER_COV = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"]
PAPER_INTER = ["age", "anticoagulant", "diabetes"]
# Tzimas 2024, Table 8 (log-odds CATE by quintile of predicted baseline risk)
PAPER_TABLE8 = pd.DataFrame(
    {"mean_risk": [0.169, 0.197, 0.226, 0.281, 0.421],
     "mean_te": [-0.359, -0.052, 0.203, 0.505, 0.547],
     "te_sd": [0.249, 0.209, 0.224, 0.229, 0.502],
     "te_lower": [-1.663, -1.261, -1.052, -0.813, -0.762],
     "te_upper": [0.985, 1.189, 1.478, 1.832, 1.845]},
    index=pd.Index(["Q1", "Q2", "Q3", "Q4", "Q5"], name="risk_group"))
RISK_COLUMNS = ["mean_risk", "mean_cate", "true_mean_cate", "cate_sd", "ci_low", "ci_high",
                "patient_ci_low", "patient_ci_high"]


def fit(*, seed: int, n: int, draws: int, tune: int, chains: int, sampler: str | None):
    """The paper's model fitted to one simulated data set: (estimator, simulation)."""
    sim = tzimas2024(n=n, seed=seed)
    data = bh.IPDData.from_frame(sim.data, outcome="event", treatment="treatment",
                                 covariates=PAPER_COV)
    sg = bh.SubgroupHTEModel(subgroups=["gender"], interactions=PAPER_INTER,
                             individual_effects=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sg.fit(data, draws=draws, tune=tune, chains=chains, sampler=sampler,
               random_seed=seed, log_likelihood=False, posterior_predictive=False)
    return sg, sim


def risk_table(sg: bh.SubgroupHTEModel, sim) -> pd.DataFrame:
    """Our Table 8 (log-odds CATE by quintile of predicted baseline risk, with the true
    mean CATE of each quintile) next to the paper's (``paper_*``)."""
    ours = sg.risk_table(truth=sim.true_te)[RISK_COLUMNS]
    return ours.join(PAPER_TABLE8.add_prefix("paper_"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1, help="seed of the simulated data set")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--figures", type=Path, default=None,
                    help="folder of the two PNGs (default docs/figures with --write-docs)")
    ap.add_argument("--doc", type=Path, default=DOCS / "subgroup.md")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    sg, sim = fit(seed=args.seed, n=args.n, draws=args.draws, tune=args.tune,
                  chains=args.chains, sampler=args.sampler)
    table = risk_table(sg, sim)
    health = bh.diagnostics.sampling_summary(sg.idata, var_names=sg.diagnostic_vars())
    print(table.round(3).to_string())
    print(bh.diagnostics.format_health(health))
    folder = args.figures or (FIGURES if args.write_docs else None)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        title = f"paper's model, data set {args.seed}"
        fig = plot_cate_by_risk(sg.cate_logit(), sg.baseline_risk(), truth=sim.true_te,
                                title=title)
        fig.savefig(folder / "tzimas2024_cate_by_risk.png", dpi=90)
        plt.close(fig)
        fig = plot_cate_vs_truth(sg.cate_logit(), sim.true_te, title=title)
        fig.savefig(folder / "tzimas2024_cate_vs_truth.png", dpi=90)
        plt.close(fig)
        print(f"figures in {folder}/")
    if args.write_docs:
        cmd = " ".join(["nice -n 10 .venv/bin/python validation/tzimas2024_figures.py",
                        *sys.argv[1:]])
        head = (f"One data set (`tzimas2024(n={args.n}, seed={args.seed})`), the paper's "
                f"model, {args.chains} chains x {args.draws} draws ({args.tune} tuning), "
                f"sampler {args.sampler or bh.inference.default_sampler()}. Made by "
                f"`{cmd}`.\n\nOur columns from this fit, `paper_*` from its Table 8.\n\n")
        write_block("tzimas-risk", head + fmt_table(table), doc=args.doc)


if __name__ == "__main__":
    main()
