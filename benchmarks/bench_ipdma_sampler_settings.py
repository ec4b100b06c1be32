"""Mass matrix and target acceptance per IPD-MA structure, on the demo data.

Fits one structure x learner on the data of ``models/ipdma_binary_demo.toml``
(Bouvier et al. 2024 design, 7 trials x 400 patients, seed 1) — or, with
``--data indana``, on the INDANA-sized draw of ``bench_ipdma_indana.py`` (40,237
patients in 4 trials, ~2 % events, 4 covariates) — with nutpie, 4 chains x
1000 draws, for two seeds, both mass matrices (diagonal; nutpie's low-rank
corrected one) and the forms of the trial intercepts asked for (``--parameterization``,
default ``auto``), and prints divergences, the largest rank-normalised R-hat over the
population parameters, the smallest bulk ESS and ESS per second of sampling. The
table in ``docs/ipdma.md`` ("Sampler settings per structure") was made with it:

    python benchmarks/bench_ipdma_sampler_settings.py rank1 s --target-accept 0.9
    python benchmarks/bench_ipdma_sampler_settings.py fully_stratified t --target-accept 0.95
    python benchmarks/bench_ipdma_sampler_settings.py random_intercept s \
        --parameterization non_centered partially_centered
    python benchmarks/bench_ipdma_sampler_settings.py rank1 s --data indana \
        --target-accept 0.95 --mass-matrix low_rank \
        --parameterization centered non_centered partially_centered
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import arviz as az
from bench_ipdma_indana import indana_like
from demo_data import demo_data

import bayes_hte as bh
from bayes_hte.inference import fit
from bayes_hte.models.ipdma import build_ipdma_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("heterogeneity")
    ap.add_argument("learner", choices=["s", "t"])
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--mass-matrix", nargs="+", default=["diag", "low_rank"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--parameterization", nargs="+", default=["auto"])
    ap.add_argument("--data", choices=["demo", "indana"], default="demo")
    args = ap.parse_args()
    if args.data == "demo":
        data = demo_data()
    else:
        data = bh.IPDData.from_frame(indana_like(), outcome="y", treatment="treat",
                                     study="trial", covariates=["age", "sex", "sbp", "creat"])
    for form, mass, seed in itertools.product(args.parameterization, args.mass_matrix,
                                              args.seeds):
        model = build_ipdma_model(data, heterogeneity=args.heterogeneity,
                                  learner=args.learner, parameterization=form)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = fit(model, draws=1000, tune=1000, chains=4, random_seed=seed,
                        sampler="nutpie", target_accept=args.target_accept,
                        mass_matrix=mass, log_likelihood=False,
                        posterior_predictive=False)
        seconds = time.perf_counter() - start
        post = idata["posterior"]
        pop = [v for v in post.data_vars
               if not v.endswith(("_raw", "_z")) and "study" not in v and v != "phi"]
        s = az.summary(idata, var_names=pop)
        div = int(idata["sample_stats"]["diverging"].sum())
        print(f"{args.heterogeneity}-{args.learner} {form} mass_matrix={mass} "
              f"target_accept={args.target_accept} seed={seed}: {seconds:.0f} s, "
              f"{div} divergences, max R-hat {s['r_hat'].max():.4f} "
              f"({s['r_hat'].idxmax()}), min bulk ESS {s['ess_bulk'].min():.0f}, "
              f"ESS/s {s['ess_bulk'].min() / seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
