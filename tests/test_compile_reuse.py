"""Compile reuse across fits of the same structure (``fit(reuse_compiled=True)``).

The folds of a leave-one-trial-out validation have the same parameters and other data;
the compiled nutpie model of the first is reused for the next with its data swapped
in. The draws must be those of a fresh compilation with the same seed, with the new
fold's coordinates (trial labels); a model whose graph or constants differ (another
prior, another intercept form, another number of trials) must not share the key.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

import bayes_hte as bh
from bayes_hte import inference
from bayes_hte.models.ipdma import build_ipdma_model
from bayes_hte.simulate import bouvier2024

#: The default path users take: log likelihood and posterior predictive kept.
SETTINGS = dict(draws=30, tune=40, chains=2, random_seed=4, sampler="nutpie")


@pytest.fixture(scope="module")
def frame():
    return bouvier2024(trials=5, patients_per_trial=80, covariates=3, seed=2).data


def _fold(frame, held_out: int, drop: int = 0) -> bh.IPDData:
    label = sorted(frame["trial"].unique())[held_out]
    train = frame[frame["trial"] != label].reset_index(drop=True)
    train = train.iloc[:len(train) - drop]
    return bh.IPDData.from_frame(train, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2", "x3"])


def test_structure_key_same_for_folds_and_different_for_other_models(frame):
    a = build_ipdma_model(_fold(frame, 0), heterogeneity="random_intercept")
    b = build_ipdma_model(_fold(frame, 1, drop=3), heterogeneity="random_intercept")
    assert inference.structure_key(a) == inference.structure_key(b)
    others = [
        build_ipdma_model(_fold(frame, 0), heterogeneity="random_intercept",
                          priors={"theta": {"sigma": 2.0}}),
        build_ipdma_model(_fold(frame, 0), heterogeneity="random_intercept",
                          parameterization="centered"),
        build_ipdma_model(_fold(frame, 0), heterogeneity="random_intercept", learner="t"),
        build_ipdma_model(bh.IPDData.from_frame(frame, outcome="y", treatment="treat",
                                                study="trial", covariates=["x1", "x2", "x3"]),
                          heterogeneity="random_intercept"),  # 5 trials, not 4
    ]
    keys = {inference.structure_key(m) for m in others}
    assert inference.structure_key(a) not in keys and len(keys) == len(others)


@pytest.mark.parametrize("heterogeneity", ["random_intercept", "fully_stratified"])
def test_reused_compilation_gives_the_fresh_draws_and_coordinates(frame, heterogeneity):
    first = build_ipdma_model(_fold(frame, 0), heterogeneity=heterogeneity)
    second = build_ipdma_model(_fold(frame, 2, drop=5), heterogeneity=heterogeneity)
    inference.fit(first, reuse_compiled=True, **SETTINGS)
    assert inference.structure_key(second) in inference._COMPILED
    reused = inference.fit(second, reuse_compiled=True, **SETTINGS)
    fresh = inference.fit(second, **SETTINGS)
    for name, values in fresh["posterior"].data_vars.items():
        got = reused["posterior"][name]
        assert got.dims == values.dims
        np.testing.assert_array_equal(got.values, values.values)
        for dim in values.dims:
            assert list(got[dim].values) == list(values[dim].values), (name, dim)
    assert "T3" not in reused["posterior"]["alpha_study" if heterogeneity ==
                                           "random_intercept" else "b_study"]["study"]
    assert sorted(reused.children) == sorted(fresh.children)
    assert {"log_likelihood", "posterior_predictive"} <= set(reused.children)
    for group in ("log_likelihood", "posterior_predictive"):
        np.testing.assert_array_equal(reused[group]["y"].values, fresh[group]["y"].values)
    assert reused["observed_data"]["y"].shape == (5 * 80 - 80 - 5,)


def test_nutpie_compiles_at_the_package_numba_level_and_restores_it(frame, monkeypatch):
    """The log density is compiled at ``NUTPIE_NUMBA_OPT`` (LLVM -O1: 22 s less on the
    cold demo job, same gradient cost, ``docs/performance.md``); numba's level is back
    to its own afterwards, and a ``NUMBA_OPT`` the user set wins. Both paths compile
    without fastmath and with the straight-line data read of the callbacks."""
    import nutpie
    from numba.core import config
    from nutpie import compile_pymc

    seen, fastmath, extraction = [], [], []
    real, own = nutpie.compile_pymc_model, compile_pymc.make_extraction_fn

    def spy(model, **kwargs):
        seen.append(int(config.OPT))
        fastmath.append(pytensor.config.numba__fastmath)
        extraction.append(getattr(compile_pymc.make_extraction_fn, "_bayes_hte", False))
        return real(model, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", spy)
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    before = config.OPT
    model = build_ipdma_model(_fold(frame, 3), heterogeneity="naive")
    inference._COMPILED.pop(inference.structure_key(model), None)
    idata = inference.fit(model, reuse_compiled=True, **SETTINGS)
    assert seen == [inference.NUTPIE_NUMBA_OPT] and config.OPT == before
    assert np.isfinite(idata.posterior["theta"].values).all()
    inference.fit(model, **SETTINGS)  # the default path: PyMC's pm.sample with nutpie
    assert seen == [inference.NUTPIE_NUMBA_OPT] * 2 and config.OPT == before
    assert fastmath == [inference.NUTPIE_NUMBA_FASTMATH] * 2 == [False] * 2
    # both paths build the callbacks with the straight-line data read, and give nutpie
    # its own function back afterwards (tests/test_nutpie_callbacks.py)
    assert extraction == [True, True] and compile_pymc.make_extraction_fn is own
    monkeypatch.setenv("NUMBA_OPT", "2")
    with inference.numba_opt_level(1):
        assert config.OPT == before


def test_fastmath_is_off_while_compiling_and_restored_and_pytensor_flags_win(monkeypatch):
    """PyTensor's ``numba__fastmath`` is off inside the block (so a seed's draws do not
    depend on the compilation cache, ``docs/performance.md`` item 18) and back to its
    value afterwards; a ``numba__fastmath`` the user named in ``PYTENSOR_FLAGS`` wins."""
    before = pytensor.config.numba__fastmath
    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64")
    with inference.numba_fastmath(False):
        assert pytensor.config.numba__fastmath is False
    assert pytensor.config.numba__fastmath == before
    with inference.numba_fastmath(None):
        assert pytensor.config.numba__fastmath == before
    monkeypatch.setenv("PYTENSOR_FLAGS", f"numba__fastmath={before}")
    with inference.numba_fastmath(not before):
        assert pytensor.config.numba__fastmath == before
