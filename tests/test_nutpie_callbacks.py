"""nutpie's callbacks built with the straight-line data read (``bayes_hte.nutpie_callbacks``).

The generated read must hand the compiled PyTensor function the same arrays as nutpie's
own loop, for every kind of data container (scalar, vector, matrix; float and integer)
and after the data are swapped for a fold with another number of patients: the log
density, its gradient, the expanded draws and the draws of a seed are compared bit for
bit with nutpie's own callbacks.
"""

from __future__ import annotations

import contextlib
import ctypes

import numpy as np
import pymc as pm
import pytest
from nutpie import compile_pymc

from bayes_hte import nutpie_callbacks
from bayes_hte.models.ipdma import build_ipdma_model
from bayes_hte.simulate import bouvier2024

P = ctypes.POINTER(ctypes.c_double)


def _toy(n: int = 40, seed: int = 0) -> pm.Model:
    """Every kind of container: a scalar, an integer index, a matrix, a vector."""
    rng = np.random.default_rng(seed)
    with pm.Model() as model:
        scale = pm.Data("scale", 1.5)
        group = pm.Data("group", rng.integers(0, 3, n))
        X = pm.Data("X", rng.normal(size=(n, 2)))
        y = pm.Data("y", rng.normal(size=n))
        beta = pm.Normal("beta", 0, scale, shape=2)
        a = pm.Normal("a", 0, 1, shape=3)
        sigma = pm.HalfNormal("sigma", 1)
        pm.Deterministic("mu_mean", (X @ beta + a[group]).mean())
        pm.Normal("obs", X @ beta + a[group], sigma, observed=y)
    return model


def _calls(compiled, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log density, gradient and expanded values of nutpie's C callbacks at each point."""
    n, m = compiled.n_dim, compiled.n_expanded
    user = ctypes.c_void_p(compiled.user_data.ctypes.data)
    logp, grad, expanded = [], [], []
    for point in points:
        x, g, lp, e = np.array(point), np.zeros(n), np.zeros(1), np.zeros(m)
        rc = compiled.compiled_logp_func.ctypes(n, x.ctypes.data_as(P), g.ctypes.data_as(P),
                                                lp.ctypes.data_as(P), user)
        assert rc == 0
        rc = compiled.compiled_expand_func.ctypes(n, m, x.ctypes.data_as(P),
                                                  e.ctypes.data_as(P), user)
        assert rc == 0
        logp.append(lp[0]), grad.append(g), expanded.append(e)
    return np.array(logp), np.array(grad), np.array(expanded)


def _compile(model: pm.Model, straight: bool):
    import nutpie

    block = nutpie_callbacks.straight_line_extraction() if straight else contextlib.nullcontext()
    with block:
        return nutpie.compile_pymc_model(model, backend="numba")


def test_straight_line_read_gives_nutpies_values_for_every_kind_of_container():
    model = _toy()
    ours, theirs = _compile(model, True), _compile(model, False)
    points = np.random.default_rng(1).normal(size=(5, ours.n_dim))
    for a, b in zip(_calls(ours, points), _calls(theirs, points), strict=True):
        np.testing.assert_array_equal(a, b)
    # against PyMC's own log density, so that equal is also right
    logp = model.compile_logp()
    x = points[0]
    point = {"beta": x[:2], "a": x[2:5], "sigma_log__": x[5]}
    assert [v.name for v in model.value_vars] == ["beta", "a", "sigma_log__"]
    np.testing.assert_allclose(_calls(ours, points[:1])[0][0], logp(point), rtol=1e-12)
    # the data swapped for other patients (another length): read with the new shapes
    rng = np.random.default_rng(5)
    data = {"group": rng.integers(0, 3, 25), "X": rng.normal(size=(25, 2)),
            "y": rng.normal(size=25), "scale": np.asarray(0.7)}
    keys = {v.name: k for v, k in ours.shared_var_keys.items()}
    assert set(keys) == set(data)
    swapped = [c.with_data(**data) for c in (ours, theirs)]
    for a, b in zip(_calls(swapped[0], points), _calls(swapped[1], points), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_calls(swapped[0], points)[0], _calls(ours, points)[0])


def test_package_model_fold_swap_and_draws_are_nutpies():
    """A package model (trial index, design, outcome), the data of a fold with fewer
    patients swapped in, and the draws of a seed: the same as with nutpie's own
    callbacks."""
    import nutpie

    import bayes_hte as bh

    frame = bouvier2024(trials=4, patients_per_trial=60, covariates=3, seed=3).data
    cov = ["x1", "x2", "x3"]
    data = bh.IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                                 covariates=cov)
    model = build_ipdma_model(data, heterogeneity="naive", learner="s")
    ours, theirs = _compile(model, True), _compile(model, False)
    points = np.random.default_rng(2).normal(scale=0.3, size=(4, ours.n_dim))
    for a, b in zip(_calls(ours, points), _calls(theirs, points), strict=True):
        np.testing.assert_array_equal(a, b)
    fold = bh.IPDData.from_frame(frame[frame["trial"] != "T1"], outcome="y",
                                 treatment="treat", study="trial", covariates=cov)
    fold_model = build_ipdma_model(fold, heterogeneity="naive", learner="s")
    names = {v.name for v in ours.shared_var_keys}
    values = {k: fold_model[k].get_value() for k in names}
    assert {v.shape[0] for v in values.values() if v.ndim} == {180}  # 240 - 60
    swapped = [c.with_data(**values) for c in (ours, theirs)]
    for a, b in zip(_calls(swapped[0], points), _calls(swapped[1], points), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = _compile(fold_model, True)  # the fold compiled on its own data
    for a, b in zip(_calls(swapped[0], points), _calls(fresh, points), strict=True):
        np.testing.assert_array_equal(a, b)
    draws = [nutpie.sample(c, draws=20, tune=30, chains=2, seed=7, progress_bar=False)
             for c in (ours, theirs)]
    for var in draws[0].posterior.data_vars:
        np.testing.assert_array_equal(draws[0].posterior[var].values,
                                      draws[1].posterior[var].values)


def test_block_restores_nutpie_and_leaves_other_versions_alone(monkeypatch):
    own = compile_pymc.make_extraction_fn
    with nutpie_callbacks.straight_line_extraction() as replaced:
        assert replaced and compile_pymc.make_extraction_fn is not own
        with nutpie_callbacks.straight_line_extraction() as inner:  # nested: still ours
            assert inner and compile_pymc.make_extraction_fn._bayes_hte
    assert compile_pymc.make_extraction_fn is own
    with pytest.raises(RuntimeError), nutpie_callbacks.straight_line_extraction():
        raise RuntimeError("compilation failed")
    assert compile_pymc.make_extraction_fn is own

    monkeypatch.setattr(nutpie_callbacks, "STRAIGHT_LINE_READ", False)
    with nutpie_callbacks.straight_line_extraction() as replaced:
        assert not replaced and compile_pymc.make_extraction_fn is own
    monkeypatch.setattr(nutpie_callbacks, "STRAIGHT_LINE_READ", True)

    def other(inner, shared_data, keys, record_dtype, extra):  # another nutpie's signature
        return None

    monkeypatch.setattr(compile_pymc, "make_extraction_fn", other)
    with nutpie_callbacks.straight_line_extraction() as replaced:
        assert not replaced and compile_pymc.make_extraction_fn is other


def test_other_record_layout_falls_back_to_nutpies_function():
    calls = []

    def fallback(*args):
        calls.append(args)
        return "nutpie's"

    record = np.dtype([("shared", [("data", [("k", np.uintp)])])])  # no size, no shape
    out = nutpie_callbacks.make_extraction_fn(None, {"k": np.zeros(3)}, ["k"], record,
                                              fallback=fallback)
    assert out == "nutpie's" and len(calls) == 1
    assert nutpie_callbacks.make_extraction_fn(None, {}, [], record, fallback=fallback) == \
        "nutpie's"
