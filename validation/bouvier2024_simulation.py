"""Reduced Monte Carlo reproduction of Bouvier et al. (2024), Figures 1 and 2.

Source: ``seeds/bouvier2024_ite_ipdma_one_stage.txt``, "Monte Carlo simulation study"
and "Results" (1000 replicates per scenario there; ``--reps`` here). Binary outcome,
7 trials x 400 patients (total 2800), between-trial variation of predictor effects:

* scenario 7  — 3 covariates (1 binary, 2 continuous), 3 treatment interactions;
* scenario 10 — 9 covariates (6 binary, 3 continuous), 4 treatment interactions.

The paper validates every model by internal–external cross-validation (IECV). To keep
the cost at one fit per model and replicate, each replicate holds out **one** trial
(trial ``rep mod 7``, rotating), fits the 10 models (NA, RI, SI, R1, FS x S/T learners)
on the other six, recalibrates the intercept in the held-out trial (not for NA) and
scores the held-out patients: c-for-benefit, calibration-for-benefit intercept and slope
(quintiles), and the MSE of the posterior-mean ITE against the true ITE of the held-out
patients in their own trial. Since the trials of a replicate are exchangeable, the mean
over replicates estimates the mean over IECV folds that the paper reports.

The data-generating coefficients are ours (the paper's are in an additional file we do
not have; see ``bayes_hte.simulate.bouvier2024``), so levels differ from the paper;
the comparison is about the patterns.

Run (writes the table into docs/evaluation.md between the ``bouvier2024-simulation``
markers; per-replicate rows go to ``--csv`` and are reused when rerun)::

    nice -n 10 .venv/bin/python validation/bouvier2024_simulation.py --reps 50 \\
        --workers 2 --write-docs
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))
from _docs import DOCS, write_block  # noqa: E402

DOC = DOCS / "evaluation.md"
CSV = ROOT / "validation" / "results" / "bouvier2024_simulation.csv"
SCENARIOS = {7: 3, 10: 9}                 # paper scenario -> number of covariates
STRUCTURES = ("naive", "random_intercept", "stratified_intercept", "rank1",
              "fully_stratified")
METRICS = ("c_for_benefit", "calibration_intercept", "calibration_slope", "mse")


def one_replicate(scenario: int, rep: int, sampler: dict) -> pd.DataFrame:
    """Simulate, hold out one trial, fit the 10 models, score the held-out trial."""
    import bayes_hte as bh
    from bayes_hte.simulate.bouvier2024 import bouvier2024
    from bayes_hte.workflows.iecv import iecv

    seed = 100_000 * scenario + rep
    sim = bouvier2024(trials=7, patients_per_trial=400, covariates=SCENARIOS[scenario],
                      effect_variation=True, seed=seed)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=sim.covariates)
    held = data.study_labels[rep % 7]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iecv(data, heterogeneity=STRUCTURES, learner=("s", "t"), folds=[held],
                   random_seed=seed, **sampler)
    tab = res.metrics(truth=sim.data["true_ite"].to_numpy(), random_state=seed)
    tab = tab[(tab["trial"] == str(held)) & tab["metric"].isin(METRICS)]
    out = tab[["model", "metric", "estimate"]].copy()
    out.insert(0, "rep", rep)
    out.insert(0, "scenario", scenario)
    fits = res.fits.set_index("model")
    out["divergences"] = out["model"].map(fits["divergences"])
    out["seconds"] = time.perf_counter() - start
    return out


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean (Monte Carlo SE) of each metric per scenario x model."""
    g = rows.groupby(["scenario", "model", "metric"])["estimate"]
    summ = pd.DataFrame({"mean": g.mean(), "mcse": g.std(ddof=1) / np.sqrt(g.count()),
                         "reps": g.count()}).reset_index()
    return summ


def paired_differences(rows: pd.DataFrame, reference: str = "NA-S") -> pd.DataFrame:
    """Mean (Monte Carlo SE) over replicates of each model's metric minus ``reference``'s.

    The models of a replicate share its data, so their differences are far less noisy
    than the metrics themselves.
    """
    wide = rows.pivot_table(index=["scenario", "rep", "metric"], columns="model",
                            values="estimate")
    diff = wide.sub(wide[reference], axis=0).stack().rename("diff").reset_index()
    g = diff.groupby(["scenario", "model", "metric"])["diff"]
    return pd.DataFrame({"mean": g.mean(),
                         "mcse": g.std(ddof=1) / np.sqrt(g.count())}).reset_index()


def markdown(summ: pd.DataFrame, rows: pd.DataFrame, command: str) -> str:
    models = [f"{a}-{lr}" for a in ("NA", "RI", "SI", "R1", "FS") for lr in ("S", "T")]
    diffs = paired_differences(rows)
    lines = []
    for scenario, ncov in SCENARIOS.items():
        sub = summ[summ["scenario"] == scenario]
        if sub.empty:
            continue
        reps = int(sub["reps"].max())
        div = rows[rows["scenario"] == scenario].drop_duplicates(["rep", "model"])
        lines += [f"**Scenario {scenario}** ({ncov} covariates, 7 trials x 400, varying "
                  f"predictor effects; {reps} replicates; mean (Monte Carlo SE))", "",
                  "| model | c-for-benefit | calibration intercept | calibration slope | "
                  "MSE x 1000 | c-for-benefit − NA-S | MSE x 1000 − NA-S | divergent fits |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in models:
            cells = []
            for metric in METRICS:
                r = sub[(sub["model"] == m) & (sub["metric"] == metric)]
                if r.empty:
                    cells.append("")
                    continue
                scale = 1000 if metric == "mse" else 1
                cells.append(f"{r['mean'].iloc[0] * scale:.3f} "
                             f"({r['mcse'].iloc[0] * scale:.3f})")
            for metric, scale in (("c_for_benefit", 1), ("mse", 1000)):
                d = diffs[(diffs["scenario"] == scenario) & (diffs["model"] == m)
                          & (diffs["metric"] == metric)]
                cells.append("" if m == "NA-S" or d.empty else
                             f"{d['mean'].iloc[0] * scale:+.4f} ({d['mcse'].iloc[0] * scale:.4f})")
            nd = int((div[div["model"] == m]["divergences"] > 0).sum())
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {nd} |")
        lines.append("")
    lines.append(f"Made by `{command}`.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--scenarios", type=int, nargs="+", default=list(SCENARIOS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--tune", type=int, default=200)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    sampler = {"draws": args.draws, "tune": args.tune, "chains": args.chains,
               "sampler": "pymc"}
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(args.csv) if args.csv.exists() else pd.DataFrame(
        columns=["scenario", "rep"])
    have = set(zip(done["scenario"], done["rep"], strict=True))
    todo = [(s, r) for r in range(args.reps) for s in args.scenarios if (s, r) not in have]
    print(f"{len(have)} replicates on file, {len(todo)} to run", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(one_replicate, s, r, sampler): (s, r) for s, r in todo}
        for k, fut in enumerate(as_completed(futures), start=1):
            s, r = futures[fut]
            try:
                out = fut.result()
            except Exception as err:  # noqa: BLE001 - reported and counted, never hidden
                print(f"scenario {s} rep {r} FAILED: {err!r}", flush=True)
                continue
            header = not args.csv.exists()
            out.to_csv(args.csv, mode="a", header=header, index=False)
            print(f"[{k}/{len(todo)}] scenario {s} rep {r}: {out['seconds'].iloc[0]:.0f} s "
                  f"({time.perf_counter() - start:.0f} s so far)", flush=True)
    rows = pd.read_csv(args.csv)
    rows = rows[rows["rep"] < args.reps]
    summ = summarise(rows)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(summ.pivot_table(index=["scenario", "model"], columns="metric", values="mean"))
    if args.write_docs:
        command = ("nice -n 10 .venv/bin/python validation/bouvier2024_simulation.py "
                   f"--reps {args.reps} --workers {args.workers} --draws {args.draws} "
                   f"--tune {args.tune} --chains {args.chains} --write-docs")
        write_block("bouvier2024-simulation", markdown(summ, rows, command), doc=DOC)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
