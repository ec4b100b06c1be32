"""The IPD + aggregate-data simulator of issue 16 and its study adapter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import bayes_hte as bh
from bayes_hte.errors import DataError
from bayes_hte.simulate.ipd_aggregate import ipd_aggregate_truth, target_rd, target_summary


def test_target_rd_matches_monte_carlo():
    """Quadrature against 4 million draws (MC SE about 5e-5)."""
    truth = {"alpha": -1.1, "gamma": -0.4, "theta": {"x1": 0.6, "x2": -0.4, "x3": 0.5},
             "eta": {"x1": -0.5, "x2": 0.4, "x3": -0.6}}
    rng = np.random.default_rng(0)
    n = 4_000_000
    x1, x2, x3 = rng.normal(0.6, 0.9, n), rng.normal(-0.3, 1.0, n), rng.binomial(1, 0.7, n)
    lp0 = -1.1 + 0.6 * x1 - 0.4 * x2 + 0.5 * x3
    d = expit(lp0 - 0.4 - 0.5 * x1 + 0.4 * x2 - 0.6 * x3) - expit(lp0)
    value = target_rd(truth, target_summary())
    assert abs(value - d.mean()) < 4 * d.std() / np.sqrt(n)
    assert ipd_aggregate_truth()["rd_target"] == value


def test_trials_aggregate_and_truth():
    sim = bh.simulate.ipd_aggregate(seed=1)
    assert sim.aggregate.labels == ("T2", "T4", "T6")
    assert sorted(sim.ipd["trial"].unique()) == ["T1", "T3", "T5"]
    assert len(sim.frame) == 6 * 300 and len(sim.ipd) == 3 * 300
    # the aggregate trials' counts and summaries are those of their patients
    t2 = sim.frame[sim.frame["trial"] == "T2"]
    arms = sim.aggregate.to_frame().loc["T2"]
    assert arms["n11"] == t2.loc[t2["treat"] == 1, "y"].sum()
    summ = sim.aggregate_covariates.frame.set_index(["trial", "covariate"])
    assert summ.loc[("T2", "x1"), "mean"] == pytest.approx(t2["x1"].mean())
    # the tilts shift the populations: the trials' x1 means spread out
    means = sim.frame.groupby("trial")["x1"].mean()
    assert means.max() - means.min() > 1.0
    flat = bh.simulate.ipd_aggregate(seed=1, shift=0.0).frame.groupby("trial")["x1"].mean()
    assert flat.max() - flat.min() < 0.4
    # same seed, same data
    again = bh.simulate.ipd_aggregate(seed=1)
    assert again.frame.equals(sim.frame)


@pytest.mark.parametrize(("options", "match"), [
    ({"trials": 3}, "trials must be >= 4"), ({"shift": -1.0}, "shift >= 0"),
    ({"x3_prob": 1.0}, "x3_prob"), ({"x1_sd": 0.0}, "SDs must be > 0")])
def test_bad_design_raises(options, match):
    with pytest.raises(DataError, match=match):
        bh.simulate.ipd_aggregate(**options)


def test_study_adapter_and_frequentist_kinds():
    from bayes_hte.studies.methods import make_method
    from bayes_hte.studies.simulators import SIMULATORS, IPDAggregateData, data_seed

    sim = SIMULATORS["ipd_aggregate"]
    data = sim.data(sim.function(seed=np.random.default_rng(4)))
    assert isinstance(data, IPDAggregateData)
    assert data.full.n_patients == 1800 and data.ipd.n_patients == 900
    assert "true_ite" not in data.full.frame.columns
    truth = sim.truth()
    assert truth["RD"] == ipd_aggregate_truth()["rd_target"] and truth["eta[x2]"] == 0.4
    assert data_seed(data) == data_seed(sim.data(sim.function(seed=np.random.default_rng(4))))
    for kind in ("maic", "stc"):
        out = make_method(kind)(data)["RD"]
        assert out["ci_low"] < out["estimate"] < out["ci_high"]
        assert abs(out["estimate"] - truth["RD"]) < 4 * out["se"]
