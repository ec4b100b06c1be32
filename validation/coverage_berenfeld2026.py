"""Coverage of the causal meta-analysis intervals in the appendix-A design.

Berenfeld et al. (2026), appendix A: two latent-covariate studies, n = 1000 patients per
meta-analysis. For each replicate: the frequentist causal estimator with its three
variance formulas (``delta``: random study membership incl. the covariance of the pooled
risks, the default; ``paper``: the formula as printed; ``conditional``: study sizes
fixed), the classical FE / RE (DL, DL + HKSJ) intervals back-transformed, and the Bayesian
causal model (random membership, 2 chains x 500 draws, on fewer replicates). Coverage
is of the fixed estimand theta(P*) with P* = (P_1 + P_2)/2.

Run:  nice -n 10 .venv/bin/python validation/coverage_berenfeld2026.py \
          [--replicates 10000] [--bayes-replicates 200]
Writes the "coverage" block of docs/meta_analysis.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pymc as pm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import write_block  # noqa: E402

from bayes_hte.comparators.causal import causal_core  # noqa: E402
from bayes_hte.comparators.univariate import meta_analysis  # noqa: E402
from bayes_hte.data.aggregate import ArmTable  # noqa: E402
from bayes_hte.data.escalc import effect_sizes  # noqa: E402
from bayes_hte.inference import fit  # noqa: E402
from bayes_hte.models.synthesis_univariate import build_causal_meta_model  # noqa: E402
from bayes_hte.simulate.berenfeld2026 import berenfeld2026_counts  # noqa: E402

MEASURES = ("RD", "RR", "OR")


def fmt(p, r: int) -> str:
    p, ci = p if isinstance(p, tuple) else (p, None)
    out = f"{100 * p:.1f}% (±{100 * 1.96 * np.sqrt(p * (1 - p) / r):.1f})"
    if ci is not None:
        out += f"<br>median CI {np.median(ci[0]):.3g} to {np.median(ci[1]):.3g}"
    return out


def covered(ci, th):
    return np.mean((ci[0] <= th) & (th <= ci[1])), ci


def frequentist(replicates: int, seed: int) -> tuple[list[str], dict]:
    c = berenfeld2026_counts(replicates, seed=seed)
    cells = [c[k] for k in ("n11", "n10", "n01", "n00")]
    truth = c["truth"]["theta_causal"]
    rows = {}
    for measure in MEASURES:
        th = truth[measure]
        for variance in ("delta", "paper", "conditional"):
            ci = causal_core(*cells, measure=measure, variance=variance)["ci"]
            rows[f"causal, variance='{variance}'", measure] = covered(ci, th)
        yi, vi = effect_sizes(*cells, measure=measure)
        back = (lambda x: x) if measure == "RD" else np.exp
        for label, kw in (("classical FE", {"method": "FE"}),
                          ("classical RE (DL)", {"method": "DL"}),
                          ("classical RE (DL + HKSJ)", {"method": "DL", "knha": True})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ci = back(meta_analysis(yi, vi, **kw).ci)
            rows[label, measure] = covered(ci, th)
    return c, rows


def bayesian(replicates: int, seed: int, draws: int) -> tuple[dict, float]:
    logging.getLogger("pymc").setLevel(logging.ERROR)
    c = berenfeld2026_counts(replicates, seed=seed)
    truth = c["truth"]["theta_causal"]
    first = ArmTable(**{k: c[k][:, 0] for k in ("n11", "n10", "n01", "n00")})
    model = build_causal_meta_model(first)  # data swapped per replicate
    hits = {m: 0 for m in MEASURES}
    bounds = {m: np.empty((2, replicates)) for m in MEASURES}
    t0 = time.perf_counter()
    for r in range(replicates):
        ev = np.column_stack([c["n01"][:, r], c["n11"][:, r]])
        na = np.column_stack([c["n01"][:, r] + c["n00"][:, r],
                              c["n11"][:, r] + c["n10"][:, r]])
        with model:
            pm.set_data({"n_events": ev, "n_arm": na, "n_per_study": na.sum(axis=1)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = fit(model, draws=draws, tune=draws, chains=2, random_seed=r,
                        sampler="pymc", cores=1, log_likelihood=False,
                        posterior_predictive=False)
        theta = idata["posterior"]["theta"]
        for m in MEASURES:
            q = np.quantile(theta.sel(measure=m).values.ravel(), [0.025, 0.975])
            hits[m] += int(q[0] <= truth[m] <= q[1])
            bounds[m][:, r] = q
        if (r + 1) % 25 == 0:
            print(f"  bayes {r + 1}/{replicates} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return ({m: (hits[m] / replicates, bounds[m]) for m in MEASURES},
            time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=10_000)
    ap.add_argument("--bayes-replicates", type=int, default=200)
    ap.add_argument("--bayes-draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    R, B = args.replicates, args.bayes_replicates
    _, rows = frequentist(R, args.seed)
    lines = ["| interval | RD | RR | OR |", "| --- | --- | --- | --- |"]
    for label in dict.fromkeys(k[0] for k in rows):
        lines.append(f"| {label} ({R} replicates) | "
                     + " | ".join(fmt(rows[label, m], R) for m in MEASURES) + " |")
    if B > 0:
        cov, secs = bayesian(B, args.seed + 1, args.bayes_draws)
        lines.append(f"| causal Bayesian, 95% equal-tailed ({B} replicates) | "
                     + " | ".join(fmt(cov[m], B) for m in MEASURES) + " |")
    text = ("Coverage of θ(P*) by nominal 95% intervals (± 1.96 Monte Carlo SE); made by "
            f"`nice -n 10 .venv/bin/python validation/coverage_berenfeld2026.py "
            f"--replicates {R} --bayes-replicates {B}` (seed {args.seed}"
            + (f"; Bayesian fits 2 chains × {args.bayes_draws} draws, {secs:.0f} s"
               if B > 0 else "") + ").\n\n" + "\n".join(lines))
    print(text)
    write_block("coverage", text)


if __name__ == "__main__":
    main()
