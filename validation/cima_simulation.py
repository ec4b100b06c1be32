"""CIMA-AgD in the paper's 5-trial simulation setting (Shi et al., Tables 4-5).

For each scenario and replicate: simulate with ``bayes_hte.simulate.shi_cima``; fit

* CIMA-AgD (``bh.comparators.cima``), as the authors' script: CATE ``~ X1 + X2 + X3``,
  tilting on the means of X1, X2, X3 and X3^2, base sample = a random half of the target
  rows, marginalised over the other half;
* the standard random-effects meta-analysis of the trials' overall risk differences
  (``bayes_hte.comparators.univariate.meta_analysis``, REML, Wald CI; R ``meta::metabin``
  with ``sm="RD"``, ``method.tau="REML"``);
* the random-effects meta-regression on the trials' covariate means, predicted at the
  target means (``bayes_hte.comparators._metareg.meta_regression``, REML, z-CI; R
  ``meta::metareg`` + ``predict.rma``).

As in the script, bias, variance and coverage are computed against the mean over
replicates of the true target ATE (the sample mean of Y(1) - Y(0) over the target).

Run (writes the table into docs/cima.md between the ``cima-simulation`` markers)::

    nice -n 10 .venv/bin/python validation/cima_simulation.py --reps 200 --write-docs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_hte.comparators._metareg import meta_regression
from bayes_hte.comparators.cima import cima
from bayes_hte.comparators.univariate import meta_analysis
from bayes_hte.errors import DataError
from bayes_hte.simulate.shi_cima import shi_cima

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import DOCS, report  # noqa: E402

# Shi et al., Appendix B.2, Table 4 (bias) and Table 5 (coverage), 1000 replicates each:
# scenario: (bias_meta, bias_metareg, bias_CIMA, cov_meta, cov_metareg, cov_CIMA)
PAPER = {
    1: (-0.0506, -0.0464, -0.0018, 0.591, 0.973, 0.971),
    2: (-0.0486, 0.0521, -0.0037, 0.717, 0.956, 0.972),
    3: (0.0597, 0.0207, 0.0018, 0.573, 0.971, 0.941),
    4: (0.0607, 0.0152, 0.0041, 0.590, 0.967, 0.958),
    5: (-0.0587, 0.0057, 0.0001, 0.474, 0.963, 0.968),
    6: (-0.0598, 0.0399, -0.0025, 0.592, 0.971, 0.952),
    7: (0.0522, 0.0088, 0.0033, 0.625, 0.959, 0.959),
    8: (0.0502, -0.0186, 0.0033, 0.668, 0.960, 0.962),
    9: (-0.0244, -0.0409, 0.0006, 0.795, 0.953, 0.973),
    10: (-0.0248, 0.0302, 0.0001, 0.800, 0.967, 0.971),
    11: (0.0266, 0.0256, 0.0006, 0.777, 0.966, 0.948),
    12: (0.0280, 0.0140, 0.0013, 0.753, 0.958, 0.963),
    13: (-0.0265, -0.0112, 0.0007, 0.768, 0.964, 0.966),
    14: (-0.0252, 0.0021, -0.0007, 0.830, 0.961, 0.952),
    15: (0.0261, 0.0392, 0.0010, 0.787, 0.960, 0.959),
    16: (0.0249, -0.0054, 0.0016, 0.770, 0.964, 0.964),
}


def run_scenario(scenario: int, reps: int, seed: int) -> dict:
    truth, cima_est, cima_lo, cima_hi = [], [], [], []
    yi, vi, Xs, x0s = [], [], [], []
    failures = 0
    rng = np.random.default_rng([seed, scenario])
    r = 0
    while len(truth) < reps:
        r += 1
        try:
            sim = shi_cima(scenario, seed=int(rng.integers(2**31)))
        except DataError:
            failures += 1
            continue
        T = sim.target
        perm = rng.permutation(len(T))
        half = len(T) // 2
        try:
            fit = cima(sim.effects, sim.covariates, T.iloc[perm[half:]], cate="~ X1 + X2 + X3",
                       base=T.iloc[perm[:half]])
            est, lo, hi = fit.ate.estimate, *fit.ate.ci
        except DataError:
            failures += 1
            est = lo = hi = np.nan
        truth.append(sim.true_ate)
        cima_est.append(est)
        cima_lo.append(lo)
        cima_hi.append(hi)
        c = sim.counts
        yi.append(c["estimate"].to_numpy())
        vi.append(c["se"].to_numpy() ** 2)
        Xs.append(np.column_stack([np.ones(len(c)), c[["X1_mean", "X2_mean", "X3_mean"]]]))
        x0s.append(np.r_[1.0, T.mean().to_numpy()])
    truth = np.array(truth)
    true_mean = truth.mean()
    yi, vi = np.array(yi).T, np.array(vi).T  # (K, R)
    ma = meta_analysis(yi, vi, method="REML")
    mr = meta_regression(yi, vi, np.moveaxis(np.array(Xs), 0, -1))
    mr_est, _, mr_lo, mr_hi = mr.predict(np.array(x0s).T)
    out = {"scenario": scenario, "reps": reps, "failures": failures, "true_ate": true_mean}
    for name, est, lo, hi in [
        ("meta", ma.estimate, ma.ci[0], ma.ci[1]),
        ("metareg", mr_est, mr_lo, mr_hi),
        ("cima", np.array(cima_est), np.array(cima_lo), np.array(cima_hi)),
    ]:
        ok = np.isfinite(est)
        out[f"bias_{name}"] = float(np.mean(est[ok] - true_mean))
        out[f"var_{name}"] = float(np.var(est[ok], ddof=1))
        out[f"cover_{name}"] = float(np.mean((lo[ok] <= true_mean) & (true_mean <= hi[ok])))
        out[f"n_{name}"] = int(ok.sum())
    return out


def markdown(df: pd.DataFrame, reps: int, seconds: float, command: str) -> str:
    lines = [
        f"Reproduce: `{command}` ({reps} replicates per scenario, {seconds / 60:.1f} min on "
        "2 shared cores). Paper values (1000 replicates, Tables 4-5) in parentheses. Monte "
        f"Carlo SE of a coverage near 0.95: {np.sqrt(0.95 * 0.05 / reps):.3f}.",
        "",
        "| scenario | bias meta | bias meta-reg | bias CIMA | var meta-reg | var CIMA "
        "| coverage meta | coverage meta-reg | coverage CIMA |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in df.iterrows():
        p = PAPER[int(r.scenario)]
        lines.append(
            f"| {int(r.scenario)} | {r.bias_meta:.4f} ({p[0]:.4f}) | {r.bias_metareg:.4f} "
            f"({p[1]:.4f}) | {r.bias_cima:.4f} ({p[2]:.4f}) | {r.var_metareg:.3f} | "
            f"{r.var_cima:.4f} | {r.cover_meta:.3f} ({p[3]:.3f}) | {r.cover_metareg:.3f} "
            f"({p[4]:.3f}) | {r.cover_cima:.3f} ({p[5]:.3f}) |"
        )
    m = df.mean(numeric_only=True)
    lines.append(
        f"| mean | {m.bias_meta:.4f} | {m.bias_metareg:.4f} | {m.bias_cima:.4f} | "
        f"{m.var_metareg:.3f} | {m.var_cima:.4f} | {m.cover_meta:.3f} | "
        f"{m.cover_metareg:.3f} | {m.cover_cima:.3f} |"
    )
    mean_abs = df[["bias_meta", "bias_cima"]].abs().mean()
    lines += ["", f"Mean |bias|: meta-analysis {mean_abs.bias_meta:.4f}, CIMA "
              f"{mean_abs.bias_cima:.4f}. CIMA fits that failed (DataError): "
              f"{int(df.failures.sum())} of {int(df.reps.sum())}."]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--scenarios", type=int, nargs="*", default=list(range(1, 17)))
    ap.add_argument("--seed", type=int, default=20260208)
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the table between the cima-simulation markers of docs/cima.md")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rows = []
    for s in args.scenarios:
        t0 = time.perf_counter()
        rows.append(run_scenario(s, args.reps, args.seed))
        r = rows[-1]
        print(f"scenario {s:2d}: bias meta {r['bias_meta']:+.4f} metareg "
              f"{r['bias_metareg']:+.4f} CIMA {r['bias_cima']:+.4f} | coverage meta "
              f"{r['cover_meta']:.3f} metareg {r['cover_metareg']:.3f} CIMA "
              f"{r['cover_cima']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    seconds = time.perf_counter() - start
    cmd = "nice -n 10 .venv/bin/python validation/cima_simulation.py --reps " + str(args.reps)
    if args.scenarios != list(range(1, 17)):
        cmd += " --scenarios " + " ".join(map(str, args.scenarios))
    cmd += " --write-docs"
    md = markdown(df, args.reps, seconds, cmd)
    report("cima-simulation", md, doc=DOCS / "cima.md", write=args.write_docs)


if __name__ == "__main__":
    main()
