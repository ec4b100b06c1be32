"""Memory budget of per-draw x per-patient outputs (issue 15, "large N").

``fit(log_likelihood="auto")`` leaves out an array larger than the budget with a
``MemoryBudgetWarning``; an explicit ``True`` that would not fit in memory raises
``MemoryBudgetError`` before sampling; ``IPDMetaModel.ite()`` checks the same before it
computes; ``IPDMetaModel.summary()`` works in chunks of patients and gives the same
table as the unchunked computation (new-trial draws included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte import effects, inference
from bayes_hte.errors import MemoryBudgetError, MemoryBudgetWarning
from bayes_hte.estimators import ipdma as ipdma_estimator
from bayes_hte.models.ipdma import build_ipdma_model
from bayes_hte.simulate import bouvier2024

TINY = dict(draws=20, tune=20, chains=2, cores=1, sampler="pymc", random_seed=3)


@pytest.fixture(scope="module")
def data() -> bh.IPDData:
    sim = bouvier2024(trials=3, patients_per_trial=60, covariates=3, seed=4)
    return bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=sim.covariates)


@pytest.fixture(scope="module")
def fitted(data) -> bh.IPDMetaModel:
    return bh.IPDMetaModel(heterogeneity="random_intercept").fit(
        data, draws=30, tune=30, chains=2, sampler="pymc", random_seed=5)


def test_check_memory_message_names_size_and_budget():
    with pytest.raises(MemoryBudgetError, match=r"ite\(\) needs 8\.0 GB .* 1\.0 GB of "
                                                r"memory are available\. Use summary"):
        inference.check_memory("ite()", values=10**9, budget=10**9, hint="Use summary().")
    inference.check_memory("small", values=10, budget=10**9)  # fits: no error


def test_explicit_log_likelihood_too_large_raises_before_sampling(data, monkeypatch):
    model = build_ipdma_model(data, heterogeneity="naive")
    monkeypatch.setattr(inference, "available_memory", lambda: 10_000)
    calls = []
    monkeypatch.setattr(inference.pm, "sample", lambda *a, **k: calls.append(1))
    with pytest.raises(MemoryBudgetError, match=r"log_likelihood \(2 chains x 20 draws x "
                                                r"180 units\) needs"):
        inference.fit(model, log_likelihood=True, posterior_predictive=False, **TINY)
    assert calls == []  # raised before sampling
    with pytest.raises(ValueError, match="log_likelihood must be True, False or 'auto'"):
        inference.fit(model, log_likelihood="yes", **TINY)


def test_auto_leaves_out_what_exceeds_the_budget(data, monkeypatch):
    model = build_ipdma_model(data, heterogeneity="naive")
    idata = inference.fit(model, log_likelihood="auto", posterior_predictive="auto", **TINY)
    assert idata["log_likelihood"]["y"].shape == (2, 20, 180)
    assert "posterior_predictive" in idata.children
    monkeypatch.setattr(inference, "PER_UNIT_BUDGET", 1000)
    with pytest.warns(MemoryBudgetWarning, match="log_likelihood .* not kept: .* Pass "
                                                 "log_likelihood=True"):
        idata = inference.fit(model, log_likelihood="auto", posterior_predictive="auto",
                              **TINY)
    assert "log_likelihood" not in idata.children
    assert "posterior_predictive" not in idata.children


def test_ite_checks_memory_first(fitted, monkeypatch):
    monkeypatch.setattr(inference, "available_memory", lambda: 1000)
    with pytest.raises(MemoryBudgetError, match=r"ite\(\) \(60 draws x 180 patients\) "
                                                r".*Use summary\(\)"):
        fitted.ite()


@pytest.mark.parametrize("new_trial", [False, True])
def test_summary_in_chunks_equals_the_whole(fitted, monkeypatch, new_trial):
    whole = effects.summarize(fitted.ite(new_trial=new_trial))
    monkeypatch.setattr(ipdma_estimator, "SUMMARY_CHUNK", 60 * 7)  # 7 patients a chunk
    chunked = fitted.summary(new_trial=new_trial)
    assert len(chunked) == 180
    if not new_trial:  # the new-trial prediction interval, chunked the same way
        pi = effects.summarize(fitted.ite(new_trial=True))
        whole["pi_low"], whole["pi_high"] = pi["ci_low"], pi["ci_high"]
    pd.testing.assert_frame_equal(chunked, whole)
    assert np.isfinite(chunked.to_numpy()).all()
