"""Demo data and measurements for IPD + aggregate-data trials (docs/ipd_aggregate.md).

Data: six trials of the Bouvier et al. (2024) design (3 covariates, 3 interactions,
trial intercepts with SD 0.4) whose populations differ: each trial's patients are drawn
from a pool of 6000 simulated patients of that trial with probabilities proportional to
exp(d1 x1 + d3 x3), an exponential tilt that shifts the covariate distribution while
keeping every patient's outcome model (selection on covariates only). T1-T4 stay IPD,
T5 and T6 are reduced to arm counts and covariate summaries (``to_aggregate``).

    python validation/ipd_aggregate_demo.py data      # write models/data/ipd_ad_demo/*.csv
    python validation/ipd_aggregate_demo.py measure   # all-IPD vs IPD+AgD vs IPD-only, timing
    python validation/ipd_aggregate_demo.py cost      # gradient cost vs points and trials

Writes the CSV files and prints the tables quoted in docs/ipd_aggregate.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

import bayes_hte as bh
from bayes_hte.data.integration import to_aggregate
from bayes_hte.simulate import bouvier2024

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "models" / "data" / "ipd_ad_demo"
COVS = ["x1", "x2", "x3"]
#: Tilt (d1 on x1, d3 on x3) and size of each trial.
TRIALS = {"T1": (-0.5, -0.8, 300), "T2": (0.0, 0.0, 300), "T3": (0.4, 0.4, 300),
          "T4": (-0.2, 0.8, 300), "T5": (0.9, 1.0, 400), "T6": (-0.9, -1.0, 400)}
AGGREGATE = ["T5", "T6"]
#: Target population: x1 ~ N(0.6, 0.9), x2 ~ N(-0.3, 1), P(x3 = 1) = 0.7, independent.
TARGET = pd.DataFrame({"covariate": COVS, "mean": [0.6, -0.3, 0.7], "sd": [0.9, 1.0, np.nan]})


def demo_frame(seed: int = 2026) -> tuple[pd.DataFrame, dict]:
    """Six trials with shifted covariate distributions, and the simulation's truth."""
    pool = bouvier2024(trials=len(TRIALS), patients_per_trial=6000, seed=seed)
    rng = np.random.default_rng(seed + 1)
    parts = []
    for j, (label, (d1, d3, n)) in enumerate(TRIALS.items()):
        sub = pool.data[pool.data["trial"] == f"T{j + 1}"]
        w = np.exp(d1 * sub["x1"] + d3 * sub["x3"]).to_numpy()
        keep = rng.choice(len(sub), size=n, replace=False, p=w / w.sum())
        parts.append(sub.iloc[np.sort(keep)].assign(trial=label))
    frame = pd.concat(parts, ignore_index=True)
    return frame, pool.truth


def true_target_rd(truth: dict, *, n: int = 400_000, seed: int = 5) -> float:
    """Population-average RD of the target in an average trial (Monte Carlo, 4e5 draws)."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(0.6, 0.9, n), rng.normal(-0.3, 1.0, n),
                         rng.binomial(1, 0.7, n)])
    theta = np.array([truth["theta"][c] for c in COVS])
    eta = np.array([truth["eta"][c] for c in COVS])
    lp0 = truth["alpha"] + x @ theta
    return float(np.mean(expit(lp0 + truth["gamma"] + x @ eta) - expit(lp0)))


def write_data() -> None:
    frame, truth = demo_frame()
    ipd, arms, summ = to_aggregate(frame, trials=AGGREGATE, study="trial", treatment="treat",
                                   outcome="y", covariates=COVS)
    OUT.mkdir(parents=True, exist_ok=True)
    cols = ["trial", "treat", "y", *COVS, "p0", "p1", "true_ite", "true_ite_average"]
    ipd[cols].round(5).to_csv(OUT / "ipd.csv", index=False)
    agg = arms.to_frame().reset_index()
    true_rd = (frame["p1"] - frame["p0"]).groupby(frame["trial"]).mean()
    pd.DataFrame({"study": agg["study"], "events1": agg["n11"].astype(int),
                  "total1": agg["n1"].astype(int), "events0": agg["n01"].astype(int),
                  "total0": agg["n0"].astype(int),
                  "true_rd": true_rd.loc[list(arms.labels)].round(5).to_numpy()}
                 ).to_csv(OUT / "aggregate.csv", index=False)
    summ.frame.round(5).to_csv(OUT / "aggregate_covariates.csv", index=False)
    TARGET.to_csv(OUT / "target.csv", index=False)
    print(f"wrote {OUT}; true target RD (average trial) {true_target_rd(truth):.4f}")
    print(summ.frame.round(3).to_string())
    print(arms.to_frame().round(3).to_string())


def measure(draws: int, tune: int, chains: int) -> None:
    frame, truth = demo_frame()
    ipd, arms, summ = to_aggregate(frame, trials=AGGREGATE, study="trial", treatment="treat",
                                   outcome="y", covariates=COVS)
    full = bh.IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                                 covariates=COVS)
    part = bh.IPDData.from_frame(ipd, outcome="y", treatment="treat", study="trial",
                                 covariates=COVS)
    target = bh.CovariateSummary.from_frame(TARGET)
    fit = dict(draws=draws, tune=tune, chains=chains, sampler="nutpie", random_seed=1)
    fits, walls = {}, {}
    for name, data, extra in (("all IPD", full, {}),
                              ("IPD + AgD", part, {"aggregate": arms,
                                                   "aggregate_covariates": summ}),
                              ("IPD only", part, {})):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fits[name] = bh.IPDMetaModel().fit(data, **fit, **extra)
        walls[name] = time.perf_counter() - start
    tabs = {k: m.parameters() for k, m in fits.items()}
    ref = tabs["all IPD"]
    rows = pd.DataFrame({"truth": [truth["alpha"], *truth["theta"].values(), truth["gamma"],
                                   *truth["eta"].values(), truth["tau_alpha"]]},
                        index=ref.index)
    for k, t in tabs.items():
        rows[f"{k} mean"] = t["mean"]
        rows[f"{k} sd"] = t["sd"]
    rows["IPD+AgD vs all IPD (SD)"] = (tabs["IPD + AgD"]["mean"] - ref["mean"]) / ref["sd"]
    print(rows.round(3).to_markdown())
    true_rd = (frame["p1"] - frame["p0"]).groupby(frame["trial"]).mean()
    me = []
    for pop in [*(f"trial:{t}" for t in TRIALS), "target"]:
        row = {"population": pop,
               "truth": true_target_rd(truth) if pop == "target" else true_rd[pop[6:]]}
        for k, m in fits.items():
            if k == "IPD only" and pop[6:] in AGGREGATE:
                continue
            est = m.marginal_effect(target if pop == "target" else pop)
            row[k] = (f"{float(est.mean()):.3f} [{float(est.quantile(0.025)):.3f}, "
                      f"{float(est.quantile(0.975)):.3f}]")
        me.append(row)
    print(pd.DataFrame(me).to_markdown(index=False))
    print("wall seconds:", {k: round(v, 1) for k, v in walls.items()})
    print("integration check (64 points):",
          round(float(fits["IPD + AgD"].integration["change_sd"].max()), 4))
    # time per fit against the number of points
    for n in (16, 64, 256):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = bh.IPDMetaModel().fit(part, aggregate=arms, aggregate_covariates=summ,
                                      integration_points=n, **fit)
        print(f"points {n}: {time.perf_counter() - start:.1f} s, integration change "
              f"{float(m.integration['change_sd'].max()):.3f} SD")


def cost(repeats: int = 300) -> None:
    """CPU seconds per log-density + gradient evaluation (what NUTS pays per leapfrog step)
    against the number of points and of aggregate trials (process time: robust to load)."""
    from bayes_hte.data.integration import AggregateData
    from bayes_hte.models.ipd_aggregate import build_ipd_aggregate_model
    from bayes_hte.models.ipdma import build_ipdma_model

    frame, _ = demo_frame()
    rows = []
    for n_agg in (2, 8):
        trials = [f"A{k}" for k in range(n_agg)]
        # copies of T5 / T6 relabelled: n_agg aggregate trials of 400 patients
        extra = pd.concat([frame[frame["trial"] == ("T5" if k % 2 == 0 else "T6")]
                           .assign(trial=t) for k, t in enumerate(trials)])
        both = pd.concat([frame[~frame["trial"].isin(AGGREGATE)], extra], ignore_index=True)
        ipd, arms, summ = to_aggregate(both, trials=trials, study="trial", treatment="treat",
                                       outcome="y", covariates=COVS)
        part = bh.IPDData.from_frame(ipd, outcome="y", treatment="treat", study="trial",
                                     covariates=COVS)
        models = {"IPD only": build_ipdma_model(part)}
        for n in (16, 64, 256, 1024):
            agg = AggregateData.from_summaries(arms, summ, ipd=part, n_points=n)
            models[f"{n} points"] = build_ipd_aggregate_model(part, agg)
        for name, model in models.items():
            fn = model.logp_dlogp_function(ravel_inputs=True)
            fn.set_extra_values({})
            x = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
            fn(x)
            start = time.process_time()
            for _ in range(repeats):
                fn(x)
            rows.append({"aggregate trials": n_agg, "model": name,
                         "microseconds per gradient": 1e6 * (time.process_time() - start)
                         / repeats})
    print(pd.DataFrame(rows).pivot(index="model", columns="aggregate trials",
                                   values="microseconds per gradient").round(0).to_markdown())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["data", "measure", "cost"])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    if args.what == "data":
        write_data()
    elif args.what == "cost":
        cost()
    else:
        measure(args.draws, args.tune, args.chains)
