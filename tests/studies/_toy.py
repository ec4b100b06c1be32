"""A toy random-effects study for the engine tests (importable by Dask workers and subprocesses).

Environment variables read by :func:`counted_dl` (so that a subprocess and the test process
define the *same* study): ``BAYES_HTE_TOY_SLEEP`` (seconds to sleep per fit) and
``BAYES_HTE_TOY_COUNTER`` (a file to which each fit appends the hash of its data).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import numpy as np

from bayes_hte.comparators import meta_analysis
from bayes_hte.studies import Study, run

MU = 0.3


def generate(rng, *, k, tau2):
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    vi = rng.uniform(0.01, 0.1, size=k)
    theta = rng.normal(MU, np.sqrt(tau2), size=k)
    return {"yi": rng.normal(theta, np.sqrt(vi)), "vi": vi}


def truth(*, k, tau2):
    return {"mu": MU, "tau2": tau2}


def _fit(data, method):
    res = meta_analysis(data["yi"], data["vi"], method=method)
    return {"mu": {"estimate": res.estimate, "se": res.se, "ci_low": res.ci_low,
                   "ci_high": res.ci_high},
            "tau2": {"estimate": res.tau2}}


def fit_dl(data):
    return _fit(data, "DL")


def fit_fe(data):
    return _fit(data, "FE")


def fit_fragile(data):
    if data["yi"][0] > MU:
        raise ZeroDivisionError("first study above the mean")
    return _fit(data, "DL")


def data_hash(data):
    return hashlib.sha256(np.asarray(data["yi"]).tobytes()).hexdigest()[:16]


def counted_dl(data):
    time.sleep(float(os.environ.get("BAYES_HTE_TOY_SLEEP", "0")))
    out = fit_dl(data)
    counter = os.environ.get("BAYES_HTE_TOY_COUNTER")
    if counter:
        with open(counter, "a") as fh:
            fh.write(data_hash(data) + "\n")
    return out


def make_study(*, methods=None, replicates=4, seed=2026, scenarios=None,
               truth=None):
    return Study(name="toy_re", generate=generate,
                 methods=methods or {"DL": fit_dl, "FE": fit_fe}, truth=truth or _scenario_truth,
                 scenarios=scenarios or {"k": [3, 8], "tau2": [0.0, 0.05]},
                 replicates=replicates, seed=seed)


_scenario_truth = truth


def counted_study():
    return make_study(methods={"DL": counted_dl})


if __name__ == "__main__":  # python -m tests.studies._toy STORE: the run that gets killed
    run(counted_study(), store=sys.argv[1], progress=False)
