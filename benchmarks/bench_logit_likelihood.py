"""Cost of one log-density gradient: the lean logit likelihood against PyMC's Bernoulli,
its softplus from one shared exponential against PyTensor's ``softplus``, and numba
without fastmath against PyTensor's default fastmath.

For each structure x learner of the demo spec (``models/ipdma_binary_demo.toml``: 7
trials x 400 patients, 3 covariates), the model is built four times in this one
process and each compiled by nutpie with numba as ``fit()`` does
(:func:`bayes_hte.inference.compile_nutpie`):

- ``pm.Bernoulli(logit_p=l)`` (the peer; as before ``docs/performance.md`` item 11);
- the lean log density ``y l - softplus(l)`` with PyTensor's ``pt.softplus``, whose
  gradient takes ``pt.sigmoid`` (item 11), compiled with PyTensor's fastmath (as before
  item 18);
- the same without fastmath (item 18);
- the package's observed ``y`` as shipped (:func:`bayes_hte.models.likelihood.bernoulli_logit`:
  the same log density, softplus and its derivative from one ``exp(-|l|)``; item 17),
  without fastmath.

The compiled C callback that nutpie calls per leapfrog step is timed at the same point
of the unconstrained space, the four functions interleaved, best of 8 rounds of 2,000
calls; their log densities and gradients are compared.

    python benchmarks/bench_logit_likelihood.py [--structures naive rank1 ...]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import time
import warnings

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from demo_data import demo_data

import bayes_hte.inference as inference
import bayes_hte.models.ipdma as ipdma_models
import bayes_hte.models.likelihood as likelihood
from bayes_hte import IPDData
from bayes_hte.inference import compile_nutpie
from bayes_hte.options import ABBREVIATION, HETEROGENEITY

_P = ctypes.POINTER(ctypes.c_double)
#: the four forms, in the order of the table's columns
FORMS = ("bernoulli", "softplus_fastmath", "softplus", "shared")


def _pymc_bernoulli(name, logit_p, *, observed, dims=None):
    return pm.Bernoulli(name, logit_p=logit_p, observed=observed, dims=dims)


@contextlib.contextmanager
def _form(form: str):
    """The observed ``y`` of the models built (and compiled) inside: ``form`` of FORMS."""
    lean, shared = ipdma_models.bernoulli_logit, likelihood.softplus
    fastmath = inference.NUTPIE_NUMBA_FASTMATH
    if form == "bernoulli":
        ipdma_models.bernoulli_logit = _pymc_bernoulli
    elif form.startswith("softplus"):
        likelihood.softplus = pt.softplus
    if form == "softplus_fastmath":
        inference.NUTPIE_NUMBA_FASTMATH = True  # PyTensor's default
    try:
        yield
    finally:
        ipdma_models.bernoulli_logit, likelihood.softplus = lean, shared
        inference.NUTPIE_NUMBA_FASTMATH = fastmath


def _callback(data: IPDData, heterogeneity: str, learner: str, *, form: str):
    """nutpie's compiled log density + gradient and its arguments at a fixed point."""
    with _form(form):
        model = ipdma_models.build_ipdma_model(data, heterogeneity=heterogeneity,
                                               learner=learner, parameterization="auto")
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
    data = demo_data()
    print(f"{data.n_patients} patients; gradient in microseconds, best of {args.rounds} x "
          f"{args.calls} calls\n")
    print("| model | PyMC Bernoulli (µs) | `pt.softplus`, fastmath (µs) | `pt.softplus` (µs) "
          "| shared exp (µs) | no fastmath / fastmath | shared / `pt.softplus` "
          "| shared / before | largest \\|Δ grad\\| |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for het in args.structures:
        for learner in ("s", "t"):
            forms = [_callback(data, het, learner, form=form) for form in FORMS]
            best = [np.inf] * len(forms)
            for _ in range(args.rounds):
                for k, (fn, fargs, *_rest) in enumerate(forms):
                    t0 = time.perf_counter()
                    for _call in range(args.calls):
                        fn(*fargs)
                    best[k] = min(best[k], (time.perf_counter() - t0) / args.calls * 1e6)
            (_, _, lp_ref, g_ref, _), *others = forms
            for _, _, lp_new, _, _ in others:
                if not np.isclose(lp_ref[0], lp_new[0], rtol=1e-12):
                    raise AssertionError(f"{het}/{learner}: log densities differ "
                                         f"({lp_ref[0]} against {lp_new[0]})")
            dgrad = max(np.max(np.abs(g_ref - other[3])) for other in others)
            ratios.append((best[2] / best[1], best[3] / best[2], best[3] / best[1]))
            label = f"{ABBREVIATION[het]}-{learner.upper()}"
            print(f"| {label} | " + " | ".join(f"{b:.1f}" for b in best) + " | "
                  + " | ".join(f"{r:.2f}" for r in ratios[-1]) + f" | {dgrad:.1e} |",
                  flush=True)
    print()
    for k, name in enumerate(("no fastmath / fastmath", "shared exp / pt.softplus",
                              "shared exp without fastmath / pt.softplus with it (before)")):
        low, high = min(r[k] for r in ratios), max(r[k] for r in ratios)
        print(f"{name}: {low:.2f} to {high:.2f}")


if __name__ == "__main__":
    main()
