"""A seed gives the same draws whether the log density was compiled or loaded.

Two fresh processes share one pair of empty compilation caches (PyTensor's
``base_compiledir`` and ``NUMBA_CACHE_DIR``): the first compiles the fully stratified
S-learner cold, the second loads it from the caches. With PyTensor's default fastmath
the posteriors differed (seed 1: different hashes for FS-S and FS-T with 1 and with 3
covariates; ``docs/performance.md`` item 18) because numba optimised nutpie's callback
together with the log density only in the process that compiled both. ``fit`` compiles
without fastmath (``inference.NUTPIE_NUMBA_FASTMATH``).

Slow: the cold compilation of the fully stratified model takes ~50 s on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import hashlib, warnings
import numpy as np
import bayes_hte as bh
from bayes_hte.simulate import bouvier2024

warnings.filterwarnings("ignore")
sim = bouvier2024(trials=4, patients_per_trial=150, covariates=3, tau_alpha=1.0,
                  effect_variation=False, seed=12)
data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                             covariates=["x1"])
model = bh.IPDMetaModel(heterogeneity="fully_stratified", learner="s")
model.fit(data, draws=100, tune=200, chains=2, random_seed=1, progressbar=False)
post = model.idata["posterior"]
blob = b"".join(np.ascontiguousarray(post[v].values).tobytes() for v in sorted(post.data_vars))
print("HASH", hashlib.sha1(blob).hexdigest())
"""


def _posterior_hash(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("HASH"))


@pytest.mark.slow
def test_fully_stratified_draws_same_compiled_cold_and_loaded_from_cache(tmp_path):
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir")]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PYTENSOR_FLAGS": ",".join([*flags, f"base_compiledir={tmp_path / 'pytensor'}"])}
    cold = _posterior_hash(env)
    warm = _posterior_hash(env)
    assert cold == warm
