"""Simulation 1 and 2 designs of the two-step paper: structure, truth and recovery."""

import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte.comparators import mixed_model, per_trial_mixed_models
from bayes_hte.simulate.two_step import COEF_NAMES, MU, TwoStepSimulation, two_step


def test_simulation1_structure_and_truth():
    sim = two_step(design="simulation1", trials=5, seed=1)
    assert isinstance(sim, TwoStepSimulation)
    df = sim.data
    assert list(df.columns) == ["trial", "subject", "visit", "treat", "z", "y"]
    sizes = df.groupby("trial").subject.nunique()
    assert sizes.between(50, 500).all() and len(sizes) == 5
    assert sizes.tolist() == sim.params["sizes"]
    # every participant measured at all three visits; 1:1 allocation within trials
    assert (df.groupby(["trial", "subject"]).size() == 3).all()
    arm = df.drop_duplicates(["trial", "subject"]).groupby("trial").treat.mean()
    assert arm.between(0.49, 0.51).all()
    # no heterogeneity: every trial has the grand mean
    np.testing.assert_array_equal(sim.beta.to_numpy(), np.tile(MU, (5, 1)))
    assert (sim.sd_intercept == 4.5).all() and (sim.sd_error == 3.2).all()
    assert np.all(sim.omega.to_numpy() == 0)
    assert list(sim.mu.index) == list(COEF_NAMES)
    # the column names make the model (3) design in the paper's order
    data = bh.LongitudinalData.from_frame(df, **sim.columns)
    assert data.design_matrix().names == COEF_NAMES


def test_simulation2_heterogeneity_and_missing_visits():
    sim = two_step(design="simulation2", trials=10, tau2=0.2, missing_visit_fraction=0.4,
                   seed=2)
    # 40% of the trials measure visits 1 and 2 only
    assert int((~sim.visits_measured[3]).sum()) == 4
    lacking = sim.visits_measured.index[~sim.visits_measured[3]]
    assert not sim.data[sim.data.trial.isin(lacking)].visit.eq(3).any()
    assert sim.data[~sim.data.trial.isin(lacking)].visit.eq(3).any()
    truth = sim.true_coefficients()
    assert truth.loc[lacking, ["visit[3]", "treat:visit[3]", "visit[3]:z"]].isna().all().all()
    assert truth.drop(index=lacking).notna().all().all()
    assert sim.sd_intercept.between(2.5, 9.0).all() and sim.sd_intercept.std() > 0.5
    assert np.allclose(sim.omega.to_numpy(), 0.2 * np.eye(10))
    assert sim.beta.std().mean() > 0.2     # trials differ


def test_between_trial_variance_is_tau2():
    """Across many simulated trials, the coefficients' variance is tau2 and mean mu."""
    sim = two_step(design="simulation2", trials=2000, tau2=0.1, size_range=(4, 4), seed=3)
    dev = sim.beta.to_numpy() - np.asarray(MU)
    assert dev.mean() == pytest.approx(0.0, abs=0.01)
    np.testing.assert_allclose(dev.var(axis=0), 0.1, rtol=0.1)
    assert abs(np.corrcoef(dev.T)[np.triu_indices(10, 1)]).max() < 0.1


def test_generated_outcomes_follow_model3():
    """A per-trial REML fit of a large simulated trial recovers its own coefficients,
    its random-intercept SD and the residual SD."""
    sim = two_step(design="simulation2", trials=1, tau2=0.2, size_range=(3000, 3000), seed=4)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    res = mixed_model(data)
    z = (res.estimate - sim.beta.iloc[0].to_numpy()) / res.se
    assert np.abs(z).max() < 3.5
    assert res.sd_intercept == pytest.approx(sim.sd_intercept.iloc[0], rel=0.05)
    assert res.sd_error == pytest.approx(3.2, rel=0.03)


def test_mar_dropout_and_reproducibility():
    a = two_step(trials=3, dropout=0.3, seed=5)
    b = two_step(trials=3, dropout=0.3, seed=5)
    assert a.data.equals(b.data)
    counts = a.data.groupby("visit").size()
    assert counts[1] > counts[2] > counts[3]
    # monotone: nobody comes back after missing a visit
    v = a.data.groupby(["trial", "subject"]).visit.agg(["max", "size"])
    assert (v["max"] == v["size"]).all()
    # dropout depends on the previous outcome (MAR): higher y -> more likely to leave
    wide = a.data.pivot_table(index=["trial", "subject"], columns="visit", values="y")
    left = wide[2].isna()
    assert wide.loc[left, 1].mean() > wide.loc[~left, 1].mean()
    c = two_step(trials=3, dropout=0.3, seed=6)
    assert not a.data.equals(c.data)
    # per-trial MAR analysis still recovers the trial coefficients
    step1 = per_trial_mixed_models(bh.LongitudinalData.from_frame(a.data, **a.columns))
    z = (step1.estimates - a.beta.to_numpy()) / np.sqrt(np.diagonal(step1.covariances, 0, 1, 2))
    assert np.abs(z).max() < 4


def test_treatment_effect_truth():
    sim = two_step(trials=3, tau2=0.1, seed=7)
    mu = sim.mu
    assert sim.treatment_effect(20.0, 1) == pytest.approx(mu["treat"] + 20 * mu["treat:z"])
    t = sim.beta.index[1]
    b = sim.beta.loc[t]
    assert sim.treatment_effect([0.0, 10.0], 3, trial=t) == pytest.approx(
        [b["treat"] + b["treat:visit[3]"], b["treat"] + b["treat:visit[3]"] + 10 * b["treat:z"]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"design": "simulation3"}, "design must be"),
     ({"trials": 0}, "trials must be an integer >= 1"),
     ({"trials": 2.5}, "trials must be an integer >= 1"),
     ({"design": "simulation1", "tau2": 0.1}, "simulation1 has no heterogeneity"),
     ({"tau2": -1.0}, "tau2 must be finite and >= 0"),
     ({"missing_visit_fraction": 1.0}, "missing_visit_fraction must be in"),
     ({"size_range": (2, 10)}, "size_range must be"),
     ({"size_range": (50, 10)}, "size_range must be"),
     ({"dropout": 0.8}, "dropout must be in"),
     ({"sd_error": 0.0}, "sd_error must be positive"),
     ({"sd_intercept_range": (3.0, 1.0)}, "sd_intercept_range must be"),
     ({"mu": (1.0, 2.0)}, "mu must have 10 values")],
)
def test_parameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_step(**kwargs)
