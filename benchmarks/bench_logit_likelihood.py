"""Cost of one log-density gradient: the lean logit likelihood against PyMC's Bernoulli.

For each structure x learner of the demo spec (``models/ipdma_binary_demo.toml``: 7
trials x 400 patients, 3 covariates), the model is built twice in this one process —
with the package's observed ``y`` (:func:`bayes_hte.models.likelihood.bernoulli_logit`:
log density ``y l - softplus(l)``) and with ``pm.Bernoulli(logit_p=l)`` as before (the
peer) — each compiled by nutpie with numba as ``fit()`` does
(:func:`bayes_hte.inference.compile_nutpie`). The compiled C callback that nutpie calls
per leapfrog step is timed at the same point of the unconstrained space, the two
functions interleaved, best of 8 rounds of 2,000 calls; the log densities and gradients
of both are compared.

    python benchmarks/bench_logit_likelihood.py [--structures naive rank1 ...]
"""

from __future__ import annotations

import argparse
import ctypes
import time
import warnings

import numpy as np
import pymc as pm

import bayes_hte.models.ipdma as ipdma_models
from bayes_hte import IPDData
from bayes_hte.inference import compile_nutpie
from bayes_hte.options import ABBREVIATION, HETEROGENEITY
from bayes_hte.simulate import bouvier2024

_P = ctypes.POINTER(ctypes.c_double)


def _pymc_bernoulli(name, logit_p, *, observed, dims=None):
    return pm.Bernoulli(name, logit_p=logit_p, observed=observed, dims=dims)


def _callback(data: IPDData, heterogeneity: str, learner: str, *, peer: bool):
    """nutpie's compiled log density + gradient and its arguments at a fixed point."""
    lean = ipdma_models.bernoulli_logit
    if peer:
        ipdma_models.bernoulli_logit = _pymc_bernoulli
    try:
        model = ipdma_models.build_ipdma_model(data, heterogeneity=heterogeneity,
                                               learner=learner, parameterization="auto")
    finally:
        ipdma_models.bernoulli_logit = lean
    compiled = compile_nutpie(model)
    n = compiled.n_dim
    x, grad, logp = np.full(n, 0.05), np.zeros(n), np.zeros(1)
    args = (n, x.ctypes.data_as(_P), grad.ctypes.data_as(_P), logp.ctypes.data_as(_P),
            ctypes.c_void_p(compiled.user_data.ctypes.data))
    fn = compiled.compiled_logp_func.ctypes
    if fn(*args) != 0:
        raise RuntimeError(f"{heterogeneity}/{learner}: log density failed at the test point")
    return fn, args, logp, grad, compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", nargs="*", default=list(HETEROGENEITY))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sim = bouvier2024(trials=7, patients_per_trial=400, covariates=3,
                      effect_variation=True, seed=1)
    data = IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                              covariates=["x1", "x2", "x3"])
    print(f"{data.n_patients} patients; gradient in microseconds, best of {args.rounds} x "
          f"{args.calls} calls\n")
    print("| model | PyMC Bernoulli (µs) | lean (µs) | lean / Bernoulli | largest |Δ grad| |")
    print("|---|---|---|---|---|")
    ratios = []
    for het in args.structures:
        for learner in ("s", "t"):
            pair = [_callback(data, het, learner, peer=peer) for peer in (True, False)]
            best = [np.inf, np.inf]
            for _ in range(args.rounds):
                for k, (fn, fargs, *_rest) in enumerate(pair):
                    t0 = time.perf_counter()
                    for _call in range(args.calls):
                        fn(*fargs)
                    best[k] = min(best[k], (time.perf_counter() - t0) / args.calls * 1e6)
            (_, _, lp_ref, g_ref, _), (_, _, lp_new, g_new, _) = pair
            if not np.isclose(lp_ref[0], lp_new[0], rtol=1e-12):
                raise AssertionError(f"{het}/{learner}: log densities differ "
                                     f"({lp_ref[0]} against {lp_new[0]})")
            ratios.append(best[1] / best[0])
            label = f"{ABBREVIATION[het]}-{learner.upper()}"
            print(f"| {label} | {best[0]:.1f} | {best[1]:.1f} | {best[1] / best[0]:.2f} | "
                  f"{np.max(np.abs(g_ref - g_new)):.1e} |", flush=True)
    print(f"\nlean / Bernoulli: {min(ratios):.2f} to {max(ratios):.2f}")


if __name__ == "__main__":
    main()
