"""Compilation time of nutpie's callbacks: the straight-line data read
(:mod:`bayes_hte.nutpie_callbacks`) against nutpie's own ``literal_unroll`` loop.

For each arm, a fresh Python process compiles the structures x learners of the demo spec
(``models/ipdma_binary_demo.toml``: 7 trials x 400 patients, 3 covariates) one after the
other, in the job's order, as ``fit()`` does (:func:`bayes_hte.inference.compile_nutpie`),
first with **empty** PyTensor and numba caches (what a fresh machine has; each arm its
own) and then, in another fresh process, with the caches that run filled (what the
cross-validation's process and the next run find). The four processes run one after the
other, the arms alternating; the table gives each model's compilation time and the
ratio of the arms.

    python benchmarks/bench_nutpie_callbacks.py [--structures naive rank1 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

from bayes_hte.options import ABBREVIATION, HETEROGENEITY

ARMS = ("nutpie", "straight")


def _child(arm: str, structures: list[str]) -> None:
    """Compile each model once in this process and print the seconds as JSON."""
    warnings.filterwarnings("ignore")
    from demo_data import demo_data

    import bayes_hte.models.ipdma as ipdma_models
    from bayes_hte import nutpie_callbacks
    from bayes_hte.inference import compile_nutpie

    nutpie_callbacks.STRAIGHT_LINE_READ = arm == "straight"
    data = demo_data()
    seconds = {}
    for het in structures:
        for learner in ("s", "t"):
            model = ipdma_models.build_ipdma_model(data, heterogeneity=het, learner=learner,
                                                   parameterization="auto")
            start = time.perf_counter()
            compile_nutpie(model)
            seconds[f"{ABBREVIATION[het]}-{learner.upper()}"] = time.perf_counter() - start
    print(json.dumps(seconds))


def _run(arm: str, structures: list[str], cache: str) -> dict[str, float]:
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}/pytensor",
               NUMBA_CACHE_DIR=f"{cache}/numba")
    out = subprocess.run([sys.executable, __file__, "--child", arm, *structures],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", nargs="+", default=list(HETEROGENEITY),
                        choices=list(HETEROGENEITY))
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        _child(args.child, rest or args.structures)
        return
    with tempfile.TemporaryDirectory() as tmp:
        times = {}
        for state in ("empty", "filled"):
            for arm in ARMS:
                times[arm, state] = _run(arm, args.structures, f"{tmp}/{arm}")
    models = list(times["nutpie", "empty"])
    print("compilation (s)   caches empty: nutpie  straight  ratio | caches filled: "
          "nutpie  straight  ratio")
    rows = [*models, "total"]
    for name in rows:
        cells = []
        for state in ("empty", "filled"):
            a, b = (sum(times[arm, state].values()) if name == "total"
                    else times[arm, state][name] for arm in ARMS)
            cells.append(f"{a:20.1f} {b:9.1f} {b / a:6.2f}")
        print(f"{name:<8}" + " |".join(cells))


if __name__ == "__main__":
    main()
