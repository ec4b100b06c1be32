"""Benchmark: 10,000 random-effects meta-analyses of 13 studies in one vectorised call.

Peer: a Python loop over statsmodels' ``combine_effects`` (statsmodels.stats.meta_analysis)
in the same process, on the same data. statsmodels offers DerSimonian–Laird
(``method_re="chi2"``) and Paule–Mandel (``method_re="iterated"``) but no REML, so REML
is timed against the loop that is closest in work (the iterated PM), and DL against DL.
Answers are checked to agree before any time is reported.

Run:  nice -n 10 .venv/bin/python benchmarks/bench_meta_analysis.py [--replicates 10000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bayes_hte.comparators.univariate import meta_analysis


def simulate(replicates: int, k: int = 13, seed: int = 1):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.005, 0.5, size=(k, replicates))
    tau2 = rng.choice([0.0, 0.05, 0.3], size=replicates)
    yi = rng.normal(-0.5, np.sqrt(vi + tau2))
    return yi, vi


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from statsmodels.stats.meta_analysis import combine_effects

    yi, vi = simulate(args.replicates)
    R = args.replicates
    print(f"{R} meta-analyses of {yi.shape[0]} studies; best of {args.repeat} runs "
          "(loops: one run)")

    def ours(method):
        res = meta_analysis(yi, vi, method=method)
        return res

    def loop(method_re):
        est = np.empty(R)
        se = np.empty(R)
        t2 = np.empty(R)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in range(R):
                res = combine_effects(yi[:, r], vi[:, r], method_re=method_re)
                est[r], se[r], t2[r] = res.mean_effect_re, res.sd_eff_w_re, res.tau2
                res.conf_int()
        return est, se, t2

    rows = []
    for ours_method, peer_method, label in (("DL", "chi2", "DL vs statsmodels DL loop"),
                                            ("REML", "iterated",
                                             "REML vs statsmodels PM (iterated) loop"),
                                            ("PM", "iterated", "PM vs statsmodels PM loop")):
        t_ours = best_of(lambda m=ours_method: ours(m), args.repeat)
        res = ours(ours_method)
        assert bool(np.all(res.converged)), "non-convergence in the benchmark data"
        t0 = time.perf_counter()
        est, se, t2 = loop(peer_method)
        t_loop = time.perf_counter() - t0
        if ours_method == peer_method.replace("chi2", "DL").replace("iterated", "PM"):
            # same estimator: the answers must agree. statsmodels' DL does not truncate
            # tau² at 0 (it pools with a negative tau²), so compare where it is >= 0.
            ok = t2 >= 0
            np.testing.assert_allclose(t2[ok], res.tau2[ok], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(est[ok], res.estimate[ok], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(se[ok], res.se[ok], rtol=1e-4, atol=1e-6)
            agree = (f"agree (rtol 1e-4) on {ok.sum()}; statsmodels tau² < 0 on "
                     f"{(~ok).sum()}")
        else:
            agree = "different estimators"
        rows.append((label, t_ours, t_loop, agree))
    # the lazily computed Q-profile tau² interval, for the record
    t_qp = best_of(lambda: meta_analysis(yi, vi, method="REML").tau2_ci, args.repeat)
    print(f"{'comparison':42s} {'vectorised':>11s} {'loop':>9s} {'ratio':>8s}")
    for label, a, b, agree in rows:
        print(f"{label:42s} {a:10.3f}s {b:8.2f}s {b / a:7.0f}x  {agree}")
    print(f"{'REML + Q-profile tau² CI (vectorised)':42s} {t_qp:10.3f}s")


if __name__ == "__main__":
    main()
