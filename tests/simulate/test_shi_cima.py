"""The 5-trial simulation setting of Shi et al. (CIMA-AgD)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from bayes_hte.comparators.cima import cima
from bayes_hte.comparators.univariate import meta_analysis
from bayes_hte.errors import DataError
from bayes_hte.simulate.shi_cima import BETA, GAMMA, THETA, scenario_parameters, shi_cima


def test_scenario_numbering_follows_expand_grid():
    assert scenario_parameters(1) == {"eta": 1, "beta": 1, "gamma": 1, "theta": 1}
    assert scenario_parameters(2) == {"eta": 2, "beta": 1, "gamma": 1, "theta": 1}
    assert scenario_parameters(3) == {"eta": 1, "beta": 2, "gamma": 1, "theta": 1}
    assert scenario_parameters(5) == {"eta": 1, "beta": 1, "gamma": 2, "theta": 1}
    assert scenario_parameters(9) == {"eta": 1, "beta": 1, "gamma": 1, "theta": 2}
    assert scenario_parameters(16) == {"eta": 2, "beta": 2, "gamma": 2, "theta": 2}
    for bad in (0, 17, 2.5, "1"):
        with pytest.raises(DataError, match="scenario must be an integer in 1..16"):
            scenario_parameters(bad)
    with pytest.raises(DataError, match="n must be an integer >= 100"):
        shi_cima(1, n=50)


def test_data_truth_and_aggregates():
    sim = shi_cima(1, seed=3)
    d = sim.data
    assert len(d) == 5000
    assert set(d.loc[d["R"] == 1, "S"]) == {"S1", "S2", "S3", "S4", "S5"}
    assert (d.loc[d["R"] == 0, "S"] == "").all()
    sizes = d[d["R"] == 1]["S"].value_counts()
    assert sizes.min() >= 100 and sizes.max() <= 900  # "100 to 800" in the paper
    # potential outcomes and consistency
    assert (d["Y"] == np.where(d["A"] == 1, d["Y1"], d["Y0"])).all()
    X = np.column_stack([np.ones(len(d)), d[["X1", "X2", "X3"]]])
    np.testing.assert_allclose(d["p1"], expit(X @ THETA[1][0]))
    tgt = d[d["R"] == 0]
    assert sim.true_ate == pytest.approx((tgt["Y1"] - tgt["Y0"]).mean())
    assert sim.true_ate_expected == pytest.approx((tgt["p1"] - tgt["p0"]).mean())
    assert len(sim.target) == len(tgt) and list(sim.target.columns) == ["X1", "X2", "X3"]
    # aggregates: overall RD from the counts; strata shares add to 1 for each covariate
    c = sim.counts.set_index("trial")
    s1 = d[d["S"] == "S1"]
    rd = s1.loc[s1["A"] == 1, "Y"].mean() - s1.loc[s1["A"] == 0, "Y"].mean()
    assert c.loc["S1", "estimate"] == pytest.approx(rd)
    eff = sim.effects
    assert set(eff.columns) == {"trial", "subgroup", "stratum", "estimate", "se", "n", "prop"}
    full = eff[eff["subgroup"] != "overall"].groupby(["trial", "subgroup"])["prop"].sum()
    np.testing.assert_allclose(full, 1.0)
    cov = sim.covariates.set_index(["trial", "covariate"])
    assert cov.loc[("S1", "X3"), "sd"] == pytest.approx(s1["X3"].std(ddof=0))
    assert np.isnan(cov.loc[("S1", "X1"), "sd"])
    # reproducible
    again = shi_cima(1, seed=3)
    pd.testing.assert_frame_equal(sim.data, again.data)
    assert not shi_cima(1, seed=4).data.equals(sim.data)


def test_selection_and_allocation_models():
    # large population: the selected share matches E[expit(beta'x)] and trial S2's
    # share among the selected matches the multinomial logit
    sim = shi_cima(4, n=200_000, seed=1)  # eta 2, beta 2, gamma 1
    d = sim.data
    X = np.column_stack([np.ones(len(d)), d[["X1", "X2", "X3"]]])
    assert d["R"].mean() == pytest.approx(expit(X @ np.array(BETA[2])).mean(), abs=0.005)
    sel = d["R"] == 1
    lp = np.column_stack([np.zeros(sel.sum()), X[sel] @ GAMMA[1].T])
    p = np.exp(lp) / np.exp(lp).sum(axis=1, keepdims=True)
    assert (d.loc[sel, "S"] == "S2").mean() == pytest.approx(p[:, 1].mean(), abs=0.005)
    assert d["X1"].mean() == pytest.approx(0.5, abs=0.005)  # eta 2
    assert d["X3"].std() == pytest.approx(1.0, abs=0.01)


def test_cima_removes_the_bias_of_standard_meta_analysis():
    # Tables 4-5: in scenario 1 the random-effects meta-analysis is biased by about -0.05
    # for the target ATE, CIMA-AgD is nearly unbiased (20 fixed-seed replicates)
    rng = np.random.default_rng(12)
    cima_err, truth = [], []
    yi, vi = [], []
    for _ in range(20):
        sim = shi_cima(1, seed=int(rng.integers(2**31)))
        T = sim.target
        perm = rng.permutation(len(T))
        half = len(T) // 2
        fit = cima(sim.effects, sim.covariates, T.iloc[perm[half:]], cate="~ X1 + X2 + X3",
                   base=T.iloc[perm[:half]])
        cima_err.append(fit.ate.estimate - sim.true_ate)
        truth.append(sim.true_ate)
        yi.append(sim.counts["estimate"].to_numpy())
        vi.append(sim.counts["se"].to_numpy() ** 2)
    ma = meta_analysis(np.array(yi).T, np.array(vi).T, method="REML")
    ma_bias = np.mean(ma.estimate - np.array(truth))
    cima_bias = np.mean(cima_err)
    assert ma_bias < -0.03  # paper: -0.0506
    assert abs(cima_bias) < 0.015  # paper: -0.0018; MC SE here about 0.007
    assert abs(cima_bias) < abs(ma_bias) / 3
