"""Tzimas (2024): the hierarchical subgroup model's CATE against the truth, averaged
over simulated data sets of the paper's design (n = 2000), with sampling health.

Three analysis models per data set, each with the estimator's default sampler settings
(4 chains x 1000 draws after 1000 tuning steps, nutpie unless ``--sampler``):

``paper``
    the paper's model (appendix B; equations 5-9): main effects of age, anticoagulant,
    diabetes, prior bleeding and BMI, treatment interactions with age, anticoagulant
    and diabetes, gender subgroups, individual layer (marginalized);
``paper_no_individual``
    the same without the individual layer: the JAGS model the paper actually ran;
``full``
    the correctly specified linear predictors: main effects of age, anticoagulant,
    diabetes, prior bleeding, SBP and BMI > 30, treatment interactions with age,
    anticoagulant, diabetes, prior bleeding and BMI > 30, gender subgroups, individual
    layer.

Run (about 1-2 minutes per fit on 2 cores; per-fit rows go to ``--csv`` as each fit
finishes and are reused when rerun; writes the tables into docs/subgroup.md between the
``tzimas-*`` markers and two figures into docs/figures/)::

    nice -n 10 .venv/bin/python validation/tzimas2024_simulation.py --datasets 10 --write-docs
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayes_hte as bh  # noqa: E402
from bayes_hte import diagnostics  # noqa: E402
from bayes_hte.evaluation.truth import cate_accuracy  # noqa: E402
from bayes_hte.plots import plot_cate_by_risk, plot_cate_vs_truth  # noqa: E402
from bayes_hte.runners.subgroup import PAPER_TABLE7  # noqa: E402
from bayes_hte.simulate.tzimas2024 import tzimas2024  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import write_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "subgroup.md"
FIGURES = ROOT / "docs" / "figures"
CSV = ROOT / "validation" / "results" / "tzimas2024_simulation.csv"

PAPER_COV = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"]
PAPER_INTER = ["age", "anticoagulant", "diabetes"]
FULL_COV = ["age", "anticoagulant", "diabetes", "prior_bleeding", "sbp", "bmi_over_30"]
FULL_INTER = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi_over_30"]
VARIANTS = {
    "paper": dict(covariates=PAPER_COV, interactions=PAPER_INTER, individual_effects=True),
    "paper_no_individual": dict(covariates=PAPER_COV, interactions=PAPER_INTER,
                                individual_effects=False),
    "full": dict(covariates=FULL_COV, interactions=FULL_INTER, individual_effects=True),
}
# Tzimas 2024, Table 8 (log-odds CATE by quintile of predicted baseline risk)
PAPER_TABLE8 = pd.DataFrame(
    {"mean_risk": [0.169, 0.197, 0.226, 0.281, 0.421],
     "mean_te": [-0.359, -0.052, 0.203, 0.505, 0.547],
     "te_sd": [0.249, 0.209, 0.224, 0.229, 0.502],
     "te_lower": [-1.663, -1.261, -1.052, -0.813, -0.762],
     "te_upper": [0.985, 1.189, 1.478, 1.832, 1.845]},
    index=pd.Index(["Q1", "Q2", "Q3", "Q4", "Q5"], name="risk_group"))


def fit_one(seed: int, variant: str, args) -> tuple[dict, pd.DataFrame, tuple]:
    sim = tzimas2024(n=args.n, seed=seed)
    frame = sim.data.assign(bmi_over_30=(sim.data["bmi"] > 30).astype(int))
    opts = VARIANTS[variant]
    data = bh.IPDData.from_frame(frame, outcome="event", treatment="treatment",
                                 covariates=opts["covariates"])
    sg = bh.SubgroupHTEModel(subgroups=["gender"], interactions=opts["interactions"],
                             individual_effects=opts["individual_effects"])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sg.fit(data, draws=args.draws, tune=args.tune, chains=args.chains,
               sampler=args.sampler, random_seed=seed, log_likelihood=False,
               posterior_predictive=False)
    wall = time.perf_counter() - start
    names = sg.diagnostic_vars()
    health = diagnostics.sampling_summary(sg.idata, var_names=names)
    gew = diagnostics.geweke(sg.idata, var_names=names).to_numpy()
    cate = sg.cate_logit()
    logit = cate_accuracy(cate, sim.true_te)
    rd = cate_accuracy(sg.ite(), sim.true_cate)
    cond = cate_accuracy(sg.cate_logit(kind="conditional"), sim.true_te)
    row = {"seed": seed, "variant": variant, "events": int(data.y.sum()),
           **{k: logit[k] for k in ("correlation", "rmse", "mae", "bias", "coverage",
                                    "mean_width")},
           "bias_conditional": cond["bias"],
           **{f"rd_{k}": rd[k] for k in ("correlation", "rmse", "coverage")},
           "divergences": health["divergences"], "max_r_hat": health["max_r_hat"],
           "min_ess_bulk": health["min_ess_bulk"], "min_ess_tail": health["min_ess_tail"],
           "sampling_s": health["sampling_seconds"], "wall_s": wall,
           "ess_per_s": health["min_ess_per_second"],
           "geweke_over_2": float(np.mean(np.abs(gew) > 2))}
    if "sigma_eta" in sg.idata["posterior"]:
        row["sigma_eta_mean"] = float(sg.idata["posterior"]["sigma_eta"].mean())
    risk = sg.risk_table(truth=sim.true_te)
    risk.insert(0, "seed", seed)
    risk.insert(1, "variant", variant)
    return row, risk, (sg, sim)


def fmt_table(df: pd.DataFrame, digits: int = 3) -> str:
    def f(v):
        if isinstance(v, float | np.floating):
            return f"{v:.{digits}f}"
        return str(v)
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join([df.index.name or ""] + cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [f(v) for v in row]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--variants", default="paper,paper_no_individual,full")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--csv", type=Path, default=CSV)
    args = ap.parse_args()
    variants = args.variants.split(",")
    seeds = range(args.first_seed, args.first_seed + args.datasets)
    risk_csv = args.csv.with_name(args.csv.stem + "_risk.csv")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    done = (set(zip(*pd.read_csv(args.csv)[["seed", "variant"]].to_numpy().T, strict=True))
            if args.csv.exists() else set())
    t0 = time.perf_counter()
    for seed in seeds:
        for variant in variants:
            if (seed, variant) in done:
                continue
            row, risk, (sg, sim) = fit_one(seed, variant, args)
            pd.DataFrame([row]).to_csv(args.csv, mode="a", header=not args.csv.exists(),
                                       index=False)
            risk.to_csv(risk_csv, mode="a", header=not risk_csv.exists())
            print(f"seed {seed} {variant:20s} r {row['correlation']:.3f} rmse {row['rmse']:.3f}"
                  f" mae {row['mae']:.3f} cov {row['coverage']:.3f} | div "
                  f"{row['divergences']} rhat {row['max_r_hat']:.4f} ess "
                  f"{row['min_ess_bulk']:.0f} ({row['ess_per_s']:.1f}/s) wall "
                  f"{row['wall_s']:.0f}s", flush=True)
            if args.write_docs and seed == args.first_seed and variant == "paper":
                fig = plot_cate_by_risk(sg.cate_logit(), sg.baseline_risk(), truth=sim.true_te,
                                        title=f"paper's model, data set {seed}")
                fig.savefig(FIGURES / "tzimas2024_cate_by_risk.png", dpi=90)
                plt.close(fig)
                fig = plot_cate_vs_truth(sg.cate_logit(), sim.true_te,
                                         title=f"paper's model, data set {seed}")
                fig.savefig(FIGURES / "tzimas2024_cate_vs_truth.png", dpi=90)
                plt.close(fig)
    res = pd.read_csv(args.csv)
    res = res[res["seed"].isin(seeds) & res["variant"].isin(variants)]
    risk = pd.read_csv(risk_csv)
    risk = risk[risk["seed"].isin(seeds)]
    elapsed = time.perf_counter() - t0
    fit_minutes = res["wall_s"].sum() / 60

    metrics = ["correlation", "rmse", "mae", "coverage", "mean_width", "bias",
               "bias_conditional", "rd_correlation", "rd_rmse", "rd_coverage"]
    mean = res.groupby("variant", sort=False)[metrics].mean().T
    sd = res.groupby("variant", sort=False)[metrics].std().T
    summary = pd.DataFrame(index=pd.Index(metrics, name="metric"))
    summary["paper (1 data set)"] = pd.Series(PAPER_TABLE7)
    for v in variants:
        summary[v] = [f"{m:.3f} ({s:.3f})" for m, s in zip(mean[v], sd[v], strict=True)]
    summary = summary.astype(object).where(summary.notna(), "")

    worst = {"divergences": "max", "max_r_hat": "max", "min_ess_bulk": "min",
             "min_ess_tail": "min", "ess_per_s": "min", "sampling_s": "max", "wall_s": "max",
             "geweke_over_2": "max"}
    grouped = res.groupby("variant", sort=False)
    sampling = pd.DataFrame(index=pd.Index(variants, name="variant"))
    sampling["divergences (total)"] = grouped["divergences"].sum().astype(int).astype(str)
    for col, how in worst.items():
        if col == "divergences":
            continue
        sampling[f"{col} mean"] = grouped[col].mean()
        sampling[f"{col} {'worst (' + how + ')'}"] = grouped[col].agg(how)
    rk = (risk[risk["variant"] == "paper"]
          .groupby("risk_group")[["mean_risk", "mean_cate", "true_mean_cate", "cate_sd",
                                  "ci_low", "ci_high", "patient_ci_low", "patient_ci_high"]]
          .mean())
    rk = rk.join(PAPER_TABLE8.add_prefix("paper_"))

    perfit = res.set_index("seed")[["variant", "events", "correlation", "rmse", "mae",
                                    "bias", "coverage", "divergences", "max_r_hat",
                                    "min_ess_bulk", "min_ess_tail", "ess_per_s", "wall_s"]]
    perfit = perfit.astype({"divergences": str, "events": str})
    print(summary.to_string())
    print(sampling.round(3).to_string())
    print(rk.round(3).to_string())
    print(f"this run {elapsed / 60:.1f} min; fits {fit_minutes:.1f} min")

    if args.write_docs:
        cmd = ("nice -n 10 .venv/bin/python validation/tzimas2024_simulation.py "
               f"--datasets {args.datasets} --write-docs")
        head = (f"{args.datasets} data sets (seeds {seeds.start}-{seeds.stop - 1}), n = "
                f"{args.n}, {args.chains} chains x {args.draws} draws ({args.tune} tuning), "
                f"sampler {args.sampler or bh.inference.default_sampler()}, target_accept "
                f"0.9 (the estimator's defaults); {fit_minutes:.0f} min of fitting on 2 "
                f"shared cores. Made by `{cmd}` (per-fit rows in "
                f"`validation/results/{args.csv.name}`).\n\n")
        write_block("tzimas-metrics", head + "Mean (SD over data sets) of each metric; "
                    "log-odds scale unless `rd_` (risk difference).\n\n" + fmt_table(summary),
                    doc=DOC)
        write_block("tzimas-sampling", head + "Mean and worst value over the data sets of "
                    "each fit's worst parameter (`max_r_hat`: largest rank-normalised R-hat; "
                    "`min_ess_*`: smallest bulk/tail ESS; `ess_per_s`: smallest bulk ESS per "
                    "second of sampling; `wall_s`: compilation + tuning + sampling, without "
                    "log-likelihood and posterior predictive; `geweke_over_2`: share of "
                    "|z| > 2 over parameters x chains).\n\n" + fmt_table(sampling.T, 3),
                    doc=DOC)
        write_block("tzimas-risk", head + "Paper's model; our columns averaged over the "
                    "data sets, `paper_*` from its Table 8.\n\n" + fmt_table(rk), doc=DOC)
        write_block("tzimas-perfit", fmt_table(perfit), doc=DOC)


if __name__ == "__main__":
    main()
