"""Convergence and cost of the IECV refits under other sampler settings.

The demo job's cross-validation (``models/ipdma_binary_demo.toml``: 7 trials x 400
patients, 3 covariates) refits each model without each trial with the main fits'
settings (:data:`bayes_hte.workflows.iecv.IECV_SAMPLER`: four nutpie chains, 1000
tuning + 1000 kept draws; before, two chains of 200 + 100, which had not converged:
``docs/performance.md`` item 21). For each structure and each setting
``chains/tune/draws`` (default: the main fits' ``4/1000/1000``), all seven folds are
refitted in this one process (:func:`bayes_hte.workflows.iecv.iecv`, seed
11 as in the demo spec, or each of ``--seeds``), and the largest and median R-hat over
the folds, the smallest bulk ESS, the divergences and the seconds of folds 2-7 (those that reuse the
first fold's compilation) are printed, the settings one after the other, for each
sampler (``--samplers nutpie nutpie_jax``: the refits on JAX too), mass matrix and
target acceptance (``--target-accept 0.9 0.95``; default: the structure's) and form of
the trial-level effects (``--parameterization non_centered partially_centered``; default
``auto``).

    python benchmarks/bench_iecv_settings.py [--structures random_intercept:s ...]
        [--settings 2/200/100 4/200/100 ...] [--samplers nutpie nutpie_jax]
        [--mass-matrix auto diag low_rank] [--target-accept 0.9 0.95]
        [--parameterization auto non_centered partially_centered]
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

from demo_data import demo_data

from bayes_hte import IPDMetaModel
from bayes_hte.workflows.iecv import iecv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", nargs="+",
                        default=["random_intercept:s", "rank1:s", "fully_stratified:s"],
                        help="heterogeneity:learner pairs")
    parser.add_argument("--settings", nargs="+",
                        default=["4/1000/1000"], help="chains/tune/draws")
    parser.add_argument("--samplers", nargs="+", default=["nutpie"],
                        choices=["nutpie", "nutpie_jax"])
    parser.add_argument("--mass-matrix", nargs="+", default=["auto"],
                        choices=["auto", "diag", "low_rank"])
    parser.add_argument("--target-accept", nargs="+", type=float, default=[None],
                        help="NUTS target acceptance (default: the structure's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[11],
                        help="random_seed of the cross-validation (default: the demo's 11)")
    parser.add_argument("--parameterization", nargs="+", default=["auto"],
                        help="form of the trial-level effects (IPDMetaModel's keyword)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    data = demo_data()
    print("model  form  sampler  mass matrix  target_accept  chains/tune/draws  folds 2-7 (s)  "
          "max R-hat  median R-hat  min bulk ESS  divergences")
    for pair in args.structures:
        het, learner = pair.split(":")
        for sampler, mass, accept, form, seed in itertools.product(
                args.samplers, args.mass_matrix, args.target_accept, args.parameterization,
                args.seeds):
            model = IPDMetaModel(heterogeneity=het, learner=learner, parameterization=form)
            for setting in args.settings:
                chains, tune, draws = (int(v) for v in setting.split("/"))
                start, cpu = time.perf_counter(), time.process_time()
                fits = iecv(data, [model], chains=chains,
                            tune=tune, draws=draws, sampler=sampler, mass_matrix=mass,
                            target_accept=accept, random_seed=seed).fits
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                print(f"{het}:{learner}  {form}  seed {seed}  {sampler}  {mass}  "
                      f"{accept or 'default'}  "
                      f"{setting:>11}  "
                      f"{fits.seconds.iloc[1:].sum():13.1f}  {fits.max_r_hat.max():9.3f}  "
                      f"{fits.max_r_hat.median():12.3f}  {fits.min_ess_bulk.min():12.0f}  "
                      f"{int(fits.divergences.sum()):11d}  (wall {wall:.0f} s, "
                      f"CPU {cpu:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
