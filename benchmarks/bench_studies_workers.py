"""Throughput of a Bayesian simulation study with 1 and 2 Dask workers, in one process.

The study: Bayesian normal–normal random-effects meta-analysis (``bh.MetaAnalysisModel``,
half-normal prior on tau, marginal parameterisation) of k = 10 simulated studies per
replicate, yi ~ N(mu, vi + tau2) with vi ~ U(0.01, 0.2), mu = -0.3, tau2 = 0.1; nutpie,
2 chains x (500 tuning + 500 kept draws); estimands ``mu`` and ``tau`` (posterior mean,
SD, 95% equal-tailed interval). The sampler is seeded from the replicate's data, so both
runs give the same estimates (checked).

The same study is run twice with ``bh.studies.run``, each into a fresh store:

1. ``workers=1``: in this process, after one throwaway fit here (warm compile caches);
2. on a ``distributed.LocalCluster`` of 2 single-threaded worker processes, started by
   this script with the settings ``run(workers=2)`` uses and passed as ``client=``, so
   that the cluster's start-up and the warm-up (one throwaway fit in each worker,
   ``client.run``) are timed apart from the study.

Reported: replicate-fits per minute of each run (fits / wall time of ``run``, which
includes writing and reading back the store), their ratio, the second worker's
efficiency = throughput(2) / (2 x throughput(1)), the start-up and warm-up times, the
mean seconds of one fit inside each run, the CPU other processes of the machine used
meanwhile (in cores; it should be near 0), Dask's round trip per task (no-op tasks
submitted with the engine's arguments), the cost of writing and reading one store part,
and the load average of the machine before and after (other work on the machine lowers
the efficiency).

Run (about 3 minutes on 2 cores; nothing else heavy should run meanwhile):

    .venv/bin/python benchmarks/bench_studies_workers.py [--replicates 40]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh

MU = -0.3


def generate(rng: np.random.Generator, *, k: int, tau2: float) -> dict:
    """k study estimates yi ~ N(mu, vi + tau2) and their variances vi ~ U(0.01, 0.2)."""
    vi = rng.uniform(0.01, 0.2, size=k)
    yi = rng.normal(MU, np.sqrt(vi + tau2))
    return {"yi": yi, "vi": vi}


def truth(*, k: int, tau2: float) -> dict:
    return {"mu": MU, "tau": float(np.sqrt(tau2))}


def bayes_re(data: dict) -> dict:
    """Bayesian random-effects meta-analysis: posterior mean, SD and 95% CrI of mu, tau."""
    logging.getLogger("pymc").setLevel(logging.ERROR)
    seed = zlib.crc32(np.ascontiguousarray(data["yi"]).tobytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = bh.MetaAnalysisModel().fit(data["yi"], data["vi"], draws=500, tune=500,
                                       chains=2, random_seed=seed, log_likelihood=False,
                                       posterior_predictive=False)
    s = m.summary(ci_prob=0.95)
    return {p: {"estimate": s.loc[p, "mean"], "se": s.loc[p, "sd"],
                "ci_low": s.loc[p, "ci_low"], "ci_high": s.loc[p, "ci_high"]}
            for p in ("mu", "tau")}


def warm_up() -> float:
    """One throwaway fit (fills the compile caches of this process); its seconds."""
    t0 = time.perf_counter()
    bayes_re(generate(np.random.default_rng(12345), k=10, tau2=0.1))
    return time.perf_counter() - t0


def noop(*args: object) -> None:
    """A task that does nothing: its round trip is Dask's overhead per task."""


def make_study(replicates: int) -> bh.studies.Study:
    return bh.studies.Study(name="bench_workers", generate=generate,
                            methods={"bayes_re": bayes_re}, truth=truth,
                            scenarios=[{"k": 10, "tau2": 0.1}], replicates=replicates,
                            seed=2026)


class OtherLoad:
    """CPU used by other processes of the machine while a block runs, in cores.

    Busy CPU time of the whole machine (psutil) minus that of this process and its
    children (the Dask scheduler-side threads are in this process, the workers and
    nannies are its children), divided by the wall time.
    """

    def __enter__(self) -> OtherLoad:
        self.t0 = time.perf_counter()
        self.busy0, self.ours0 = self._busy(), self._ours()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        self.cores = ((self._busy() - self.busy0) - (self._ours() - self.ours0)) / wall

    @staticmethod
    def _busy() -> float:
        import psutil

        t = psutil.cpu_times()
        return sum(t) - t.idle - t.iowait

    @staticmethod
    def _ours() -> float:
        import psutil

        me = psutil.Process()
        total = 0.0
        for proc in [me, *me.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total


def per_minute(fits: int, seconds: float) -> float:
    return 60.0 * fits / seconds


def store_io(store: Path) -> tuple[float, float]:
    """Seconds to write and to read one part of ``store`` (means over its parts)."""
    import pyarrow.parquet as pq

    parts = sorted((store / "parts").glob("*.parquet"))
    tables = [pq.read_table(p) for p in parts]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, table in enumerate(tables):  # what the store does per finished replicate
            path = Path(tmp) / f"p{i}.parquet"
            pq.write_table(table, path.with_suffix(".tmp"))
            os.replace(path.with_suffix(".tmp"), path)
        write = (time.perf_counter() - t0) / len(tables)
    t0 = time.perf_counter()
    bh.studies.load(store)
    read = (time.perf_counter() - t0) / len(tables)
    return write, read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=40)
    ap.add_argument("--overhead-tasks", type=int, default=500)
    args = ap.parse_args()
    import dask
    import distributed
    import nutpie

    logging.getLogger("pymc").setLevel(logging.ERROR)
    load0 = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average before: "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (1, 5, 15 min)")
    print(f"bayes_hte {bh.__version__}, dask {dask.__version__}, distributed "
          f"{distributed.__version__}, nutpie {nutpie.__version__}")
    study = make_study(args.replicates)
    n_fits = args.replicates * len(study.scenarios) * len(study.methods)
    print(f"study: {n_fits} replicate-fits (bh.MetaAnalysisModel, k=10, tau2=0.1, "
          "nutpie 2 chains x 500+500)\n")

    with tempfile.TemporaryDirectory() as tmp:
        # ---- 1 worker: in process
        w_in = warm_up()
        with OtherLoad() as other1:
            res1 = bh.studies.run(study, store=Path(tmp) / "w1", workers=1, progress=False)
        t1 = res1.wall_seconds
        # ---- 2 workers: a LocalCluster as run(workers=2) starts it
        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        client.wait_for_workers(2)
        startup = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            w_workers = client.run(warm_up)
            warm2 = time.perf_counter() - t0
            with OtherLoad() as other2:
                res2 = bh.studies.run(study, store=Path(tmp) / "w2", client=client,
                                      progress=False)
            t2 = res2.wall_seconds
            # overhead per task: the engine's submit arguments (functions pickled by
            # value, since they live in __main__), a no-op task, the result gathered
            t0 = time.perf_counter()
            methods = list(study.methods.items())
            futures = [client.submit(noop, study.generate, methods, study.scenarios[0], 0,
                                     [r], study.seed, truth(k=10, tau2=0.1), pure=False)
                       for r in range(args.overhead_tasks)]
            client.gather(futures)
            overhead = (time.perf_counter() - t0) / args.overhead_tasks
            del futures
        finally:
            client.close()
            cluster.close()
        write, read = store_io(Path(tmp) / "w1")

    cols = ["scenario", "replicate", "method", "estimand", "estimate", "se", "ci_low",
            "ci_high", "error"]
    pd.testing.assert_frame_equal(res1.estimates[cols], res2.estimates[cols])
    assert (res1.estimates["error"] == "").all(), res1.failures()
    f1, f2 = per_minute(n_fits, t1), per_minute(n_fits, t2)
    fit1 = res1.estimates.drop_duplicates(["scenario", "replicate"])["seconds"]
    fit2 = res2.estimates.drop_duplicates(["scenario", "replicate"])["seconds"]
    load1 = os.getloadavg()
    print(f"warm-up fit in process: {w_in:.1f} s; in the 2 workers (concurrently): "
          + ", ".join(f"{v:.1f} s" for v in w_workers.values()) + f" ({warm2:.1f} s wall)")
    print(f"LocalCluster(n_workers=2) start-up: {startup:.1f} s (not in the throughput)\n")
    print(f"{'run':<24}{'wall s':>8}{'fits/min':>10}{'s per fit (mean)':>18}"
          f"{'other processes (cores)':>25}")
    print(f"{'workers=1 (in process)':<24}{t1:>8.1f}{f1:>10.1f}{fit1.mean():>18.2f}"
          f"{other1.cores:>25.2f}")
    print(f"{'2 Dask workers':<24}{t2:>8.1f}{f2:>10.1f}{fit2.mean():>18.2f}"
          f"{other2.cores:>25.2f}")
    print(f"\nratio throughput(2) / throughput(1): {f2 / f1:.2f}")
    print(f"second worker's efficiency = throughput(2) / (2 x throughput(1)): "
          f"{f2 / (2 * f1):.2f}")
    print("estimates of the two runs identical: yes")
    print(f"Dask overhead per task (submit, no-op task, gather; {args.overhead_tasks} "
          f"tasks): {overhead * 1e3:.1f} ms")
    print(f"store: {write * 1e3:.1f} ms to write one part, {read * 1e3:.1f} ms to read one "
          "part back")
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if max(other1.cores, other2.cores) > 0.2:
        print("WARNING: other processes used more than 0.2 cores during a run: the ratio "
              "and the efficiency are not a clean measurement; rerun on a quiet machine")


if __name__ == "__main__":
    main()
