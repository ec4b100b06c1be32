"""Parameter recovery of the one-stage IPD-MA models over several simulated data sets.

For each seed, simulate a Bouvier et al. (2024) IPD-MA (7 trials x 400 patients,
3 covariates, 3 interactions; binary or Weibull time-to-event), fit the requested
structures x learners, and record whether the 95% interval of each treatment and
interaction coefficient (S-learners: gamma, eta; and the prognostic theta) covers the
truth, plus the correlation of the posterior-mean ITE with the true average-trial ITE.

    python validation/ipdma_recovery.py --outcome binary --seeds 20 \
        --models random_intercept:s naive:s --write-docs
    python validation/ipdma_recovery.py --outcome time_to_event --seeds 20 \
        --models random_intercept:s --write-docs

Writes a table to stdout and, with --write-docs, to docs/validation_ipdma_recovery_<outcome>.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.report import markdown_table
from bayes_hte.simulate.bouvier2024 import bouvier2024


def one(seed: int, outcome: str, het: str, learner: str, args) -> list[dict]:
    sim = bouvier2024(trials=7, patients_per_trial=400, covariates=3, seed=seed,
                      outcome=outcome)
    tte = outcome == "time_to_event"
    data = bh.IPDData.from_frame(sim.data, outcome="event" if tte else "y", treatment="treat",
                                 study="trial", covariates=sim.covariates,
                                 time="time" if tte else None)
    extra = {"baseline": args.baseline} if tte else {}
    m = bh.IPDMetaModel(heterogeneity=het, learner=learner, outcome=outcome, **extra)
    m.fit(data, draws=args.draws, tune=args.tune, chains=args.chains, sampler=args.sampler,
          random_seed=seed, log_likelihood=False, posterior_predictive=False)
    post = m.idata["posterior"].to_dataset()
    q = post.quantile([0.025, 0.975], ("chain", "draw"))
    truth = sim.truth["log_hazard"] if tte else sim.truth
    rows = []
    checks = [("gamma", None, truth["gamma"])] if learner == "s" else []
    if learner == "s":
        checks += [("eta", c, v) for c, v in truth["eta"].items()]
        checks += [("theta", c, v) for c, v in truth["theta"].items()]
    for name, cov, value in checks:
        lo, hi = (q[name].sel(covariate=cov).values if cov else q[name].values)
        rows.append({"seed": seed, "model": m.label, "parameter": f"{name}[{cov}]" if cov
                     else name, "covered": bool(lo <= value <= hi),
                     "estimate": float(post[name].sel(covariate=cov).mean() if cov
                                       else post[name].mean()), "truth": value})
    ite = m.ite().mean(("chain", "draw")).to_numpy()
    rows.append({"seed": seed, "model": m.label, "parameter": "ITE correlation",
                 "covered": np.nan,
                 "estimate": float(np.corrcoef(ite, sim.data["true_ite_average"])[0, 1]),
                 "truth": np.nan})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outcome", choices=["binary", "time_to_event"], default="binary")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=["random_intercept:s"])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--sampler", default="pymc")
    parser.add_argument("--baseline", default="weibull")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for spec in args.models:
        het, learner = spec.split(":")
        for seed in range(1, args.seeds + 1):
            rows += one(seed, args.outcome, het, learner, args)
    df = pd.DataFrame(rows)
    cov = df[df["parameter"] != "ITE correlation"]
    by_param = cov.groupby(["model", "parameter"]).agg(
        coverage=("covered", "mean"), mean_estimate=("estimate", "mean"),
        truth=("truth", "first")).reset_index()
    overall = cov.groupby("model")["covered"].agg(["mean", "size"]).rename(
        columns={"mean": "coverage_all", "size": "intervals"})
    corr = df[df["parameter"] == "ITE correlation"].groupby("model")["estimate"].agg(
        ["mean", "min"]).rename(columns={"mean": "ite_corr_mean", "min": "ite_corr_min"})
    summary = overall.join(corr)
    elapsed = time.perf_counter() - start
    print(by_param.to_string(index=False))
    print(summary.to_string())
    print(f"{elapsed:.0f} s")
    if args.write_docs:
        cmd = ("python validation/ipdma_recovery.py --outcome " + args.outcome + " --seeds "
               + str(args.seeds) + " --models " + " ".join(args.models)
               + (f" --baseline {args.baseline}" if args.outcome != "binary" else "")
               + " --write-docs")
        out = Path(__file__).resolve().parents[1] / "docs" / (
            f"validation_ipdma_recovery_{args.outcome}.md")
        out.write_text(
            f"# Parameter recovery, {args.outcome} outcome\n\nCommand: `{cmd}` "
            f"({args.chains} chains x {args.draws} draws, sampler {args.sampler}; "
            f"{elapsed:.0f} s).\n\n"
            f"Data: Bouvier et al. (2024) design, 7 trials x 400 patients, 3 covariates, "
            f"seeds 1..{args.seeds}. Coverage = share of seeds whose 95% interval holds "
            f"the truth"
            + (" (log-hazard scale: shape x the simulator's coefficients)"
               if args.outcome != "binary" else "") + ".\n\n"
            "## Overall\n\n" + markdown_table(summary) + "\n\n## Per parameter\n\n"
            + markdown_table(by_param, index=False) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
