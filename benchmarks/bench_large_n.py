"""A random-intercept S-learner on up to a million patients with continuous covariates.

The INDANA-like design of ``bench_ipdma_indana.py`` (4 trials, ~2 % events, 3
continuous covariates and sex, 4 treatment interactions) scaled to ``--patients``
patients, fitted with the defaults a user gets (``bh.IPDMetaModel(heterogeneity=
"random_intercept").fit(data)``: nutpie, 4 chains x 1000 draws after 1000 tuning
steps, ``parameterization="auto"``, ``mass_matrix="auto"``, ``log_likelihood="auto"``,
``posterior_predictive="auto"``), then the per-patient ITE table (``summary()``,
computed in chunks of patients). Prints the wall time of each step, the peak resident
memory of the process, divergences, R-hat and bulk ESS; and whether the per-patient
groups were kept (at 1,000,000 patients they exceed the 2 GiB default budget and are
left out with a ``MemoryBudgetWarning``).

    /usr/bin/time -v python benchmarks/bench_large_n.py --patients 1000000
    python benchmarks/bench_large_n.py --patients 40000 400000   # time ratio
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
import warnings
from pathlib import Path

import arviz as az

sys.path.insert(0, str(Path(__file__).parent))
from bench_ipdma_indana import SIZES, indana_like  # noqa: E402

import bayes_hte as bh  # noqa: E402

POP = ["alpha", "theta", "gamma", "eta", "tau_alpha"]


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    times = {}
    for n in args.patients:
        start = time.perf_counter()
        df = indana_like(scale=n / sum(SIZES))
        data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                     covariates=["age", "sex", "sbp", "creat"])
        del df
        t_data = time.perf_counter() - start
        model = bh.IPDMetaModel(heterogeneity="random_intercept")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(data, random_seed=args.seed)
        t_fit = time.perf_counter() - start
        budget = [str(w.message).split(":")[0] for w in caught
                  if issubclass(w.category, bh.MemoryBudgetWarning)]
        start = time.perf_counter()
        table = model.summary()
        t_summary = time.perf_counter() - start
        idata = model.idata
        s = az.summary(idata, var_names=[v for v in POP if v in idata["posterior"]])
        times[n] = t_fit
        print(f"{data.n_patients:,} patients, {int(data.y.sum()):,} events: data {t_data:.0f} s, "
              f"fit {t_fit:.0f} s (sampling {idata['posterior'].attrs['sampling_time']:.0f} s), "
              f"summary() {t_summary:.0f} s for {len(table):,} patients; divergences "
              f"{int(idata['sample_stats']['diverging'].sum())}, max R-hat "
              f"{s['r_hat'].max():.4f}, min bulk ESS {s['ess_bulk'].min():.0f}; "
              f"log_likelihood kept: {'log_likelihood' in idata.children}; left out: "
              f"{budget or 'nothing'}; peak RSS so far {peak_gb():.2f} GB", flush=True)
        del model, idata, table, data
    ns = sorted(times)
    for small, large in itertools.pairwise(ns):
        print(f"fit time({large:,}) / time({small:,}) = {times[large] / times[small]:.2f} "
              f"(N ratio {large / small:.1f})")


if __name__ == "__main__":
    main()
