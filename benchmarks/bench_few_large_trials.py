"""Few large trials with similar intercepts: divergences per intercept form and tau prior.

The INDANA-sized design of ``bench_ipdma_indana.py`` (40,237 patients in 4 trials,
~2 % events), but with the trial intercepts close together: offsets ``spread`` x
(-0.39, 0.13, -0.13, 0.39) around -4.3 (``--spread 0.33`` gives an SD of about 0.1, the
draw on which every form diverged, docs/ipdma.md). Each trial's intercept is then
estimated to about 0.07 while the between-trial SD tau_alpha has a posterior that
reaches 0: the funnel's neck, where neither the centred nor the non-centred form
samples cleanly.

Runs the random-intercept S-learner (nutpie, 4 chains x 1000 draws after 1000 tuning
steps, seed 1, the estimator's target_accept for the structure, 0.9) with each
intercept form and mass matrix under the default HalfNormal(1) prior on
tau_alpha and under a boundary-avoiding Gamma(2, rate) prior (Chung, Rabe-Hesketh,
Dorie, Gelman & Liu 2013, Psychometrika 78:685: a Gamma(2, ·) prior on a group-level SD
has zero density at 0, which keeps the posterior mode off the boundary when there are
few groups), and prints divergences, the largest R-hat and the smallest bulk ESS of the
population parameters, and ESS per second.

    python benchmarks/bench_few_large_trials.py [--spread 0.33] [--rate 5] [--seeds 1 2]
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import arviz as az
import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.inference import fit
from bayes_hte.models import ipdma

SIZES = (10_512, 12_020, 8_705, 9_000)
POP = ["alpha", "theta", "gamma", "eta", "tau_alpha"]


def close_intercepts(*, spread: float, seed: int = 2024) -> pd.DataFrame:
    """4 trials of INDANA's sizes, ~2 % events, intercepts -4.3 + spread x offsets."""
    rng = np.random.default_rng(seed)
    n = sum(SIZES)
    trial = np.repeat(np.arange(4), SIZES)
    df = pd.DataFrame({"trial": [f"T{j + 1}" for j in trial],
                       "treat": rng.binomial(1, 0.5, n), "age": rng.standard_normal(n),
                       "sex": rng.binomial(1, 0.45, n).astype(float),
                       "sbp": rng.standard_normal(n), "creat": rng.standard_normal(n)})
    x = df[["age", "sex", "sbp", "creat"]].to_numpy()
    alpha_j = -4.3 + spread * np.array([-0.39, 0.13, -0.13, 0.39])
    lp = (alpha_j[trial] + x @ np.array([0.8, 0.4, 0.3, 0.25])
          + df["treat"] * (-0.15 + x @ np.array([-0.15, 0.1, -0.1, 0.05])))
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spread", type=float, default=0.33)
    ap.add_argument("--rate", type=float, default=5.0,
                    help="rate of the Gamma(2, rate) prior on tau_alpha (mean 2 / rate)")
    ap.add_argument("--forms", nargs="+", default=["centered", "non_centered", "anchored",
                                                   "partially_centered"])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--mass-matrix", nargs="+", default=["diag", "low_rank"],
                    choices=["diag", "low_rank"])
    ap.add_argument("--priors", nargs="+", default=["default"], choices=["default", "gamma"])
    ap.add_argument("--target-accept", type=float,
                    default=ipdma.DEFAULT_TARGET_ACCEPT["random_intercept"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = ap.parse_args()
    df = close_intercepts(spread=args.spread)
    data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                 covariates=["age", "sex", "sbp", "creat"])
    print(f"{data.n_patients} patients, {int(data.y.sum())} events; intercept offsets SD "
          f"{args.spread * np.std([-0.39, 0.13, -0.13, 0.39], ddof=1):.3f}", flush=True)
    gamma = {"tau_alpha": {"dist": "Gamma", "alpha": 2.0, "beta": args.rate}}
    priors = {key: (label, prior) for key, label, prior in (
        ("default", "HalfNormal(1) (default)", None),
        ("gamma", f"Gamma(2, {args.rate:g})", gamma)) if key in args.priors}
    for (label, prior), form, mass, seed in itertools.product(
            priors.values(), args.forms, args.mass_matrix, args.seeds):
        model = ipdma.build_ipdma_model(data, heterogeneity="random_intercept",
                                        learner="s", parameterization=form,
                                        priors=prior)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = fit(model, draws=args.draws, tune=args.tune, chains=args.chains,
                        random_seed=seed, sampler="nutpie", mass_matrix=mass,
                        target_accept=args.target_accept,
                        log_likelihood=False,
                        posterior_predictive=False)
        wall = time.perf_counter() - start
        names = [v for v in POP if v in idata["posterior"]]
        s = az.summary(idata, var_names=names)
        div = int(idata["sample_stats"]["diverging"].sum())
        secs = float(idata["posterior"].attrs["sampling_time"])
        tau = idata["posterior"]["tau_alpha"].values.ravel()
        print(f"{label:24s} {form:18s} {mass:8s} seed {seed} divergences {div:4d}  max R-hat "
              f"{s['r_hat'].max():.3f}  min bulk ESS {s['ess_bulk'].min():6.0f}  "
              f"ESS/s {s['ess_bulk'].min() / secs:6.1f}  tau_alpha {tau.mean():.3f} "
              f"[{np.quantile(tau, 0.025):.3f}, {np.quantile(tau, 0.975):.3f}]  "
              f"wall {wall:.0f} s", flush=True)


if __name__ == "__main__":
    main()
