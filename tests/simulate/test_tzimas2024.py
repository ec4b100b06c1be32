"""The Tzimas (2024) synthetic RCT: Table 2 covariates, appendix-A equations, truth."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

import bayes_hte as bh
from bayes_hte.runners.base import load_frame
from bayes_hte.simulate.tzimas2024 import (
    ALL_COVARIATES,
    BASELINE,
    EFFECT,
    PAPER_COVARIATES,
    PAPER_INTERACTIONS,
    tzimas2024,
)


@pytest.fixture(scope="module")
def big():
    return tzimas2024(n=100_000, seed=3).data


def test_columns_types_and_reproducibility():
    sim = tzimas2024(n=300, seed=1)
    df = sim.data
    assert list(df.columns) == (["subject_id"] + ALL_COVARIATES
                                + ["treatment", "event", "true_te", "p0", "p1", "true_cate"])
    assert len(df) == 300 and df["subject_id"].tolist() == list(range(1, 301))
    assert set(df["gender"]) == {"Female", "Male"}
    for c in ("hypertension", "diabetes", "smoking", "anticoagulant", "prior_bleeding",
              "treatment", "event"):
        assert set(df[c].unique()) <= {0, 1}, c
    pd.testing.assert_frame_equal(df, tzimas2024(n=300, seed=1).data)
    assert not df.equals(tzimas2024(n=300, seed=2).data)
    assert sim.covariates == PAPER_COVARIATES and sim.interactions == PAPER_INTERACTIONS
    assert sim.subgroups == ["gender"] and sim.study is None
    np.testing.assert_array_equal(sim.true_te, df["true_te"])
    # rounding of the recorded covariates, as in the paper's data frame
    np.testing.assert_allclose(df["age"], df["age"].round(1))
    np.testing.assert_allclose(df["sbp"], df["sbp"].round(0))
    # the container accepts it as a single trial with the paper's covariates
    data = bh.IPDData.from_frame(df, outcome="event", treatment="treatment",
                                 covariates=sim.covariates)
    assert data.n_studies == 1 and data.covariate_names == tuple(PAPER_COVARIATES)


def test_table2_covariate_distributions(big):
    df = big
    # age ~ N(55, 12) clipped to [25, 85]; BMI ~ N(28, 5) clipped to [16, 50]
    assert df["age"].between(25, 85).all() and df["bmi"].between(16, 50).all()
    assert df["age"].mean() == pytest.approx(55, abs=0.15)
    assert df["age"].std() == pytest.approx(12, abs=0.2)
    assert df["bmi"].mean() == pytest.approx(28, abs=0.05)
    # gender ~ Bernoulli(0.52), 1 = female
    assert (df["gender"] == "Female").mean() == pytest.approx(0.52, abs=0.005)
    # (SBP, DBP) bivariate normal, means (130, 80), covariance [[200, 100], [100, 100]]
    cov = np.cov(df["sbp"], df["dbp"])
    np.testing.assert_allclose(cov, [[200, 100], [100, 100]], rtol=0.03)
    assert df["sbp"].mean() == pytest.approx(130, abs=0.1)
    # derived and Bernoulli covariates
    hyp = ((df["sbp"] >= 140) | (df["dbp"] >= 90)).astype(int)
    np.testing.assert_array_equal(df["hypertension"], hyp)
    obese = df["bmi"] > 30
    assert df.loc[~obese, "diabetes"].mean() == pytest.approx(0.2, abs=0.01)
    assert df.loc[obese, "diabetes"].mean() == pytest.approx(0.4, abs=0.01)
    old = df["age"] > 65
    assert df.loc[~old, "smoking"].mean() == pytest.approx(0.25, abs=0.01)
    assert df.loc[old, "smoking"].mean() == pytest.approx(0.15, abs=0.01)
    assert df["anticoagulant"].mean() == pytest.approx(0.3, abs=0.005)
    assert df["prior_bleeding"].mean() == pytest.approx(0.1, abs=0.005)
    assert df["treatment"].mean() == pytest.approx(0.5, abs=0.005)


def test_truth_follows_appendix_a(big):
    df = big
    lp0 = (-3.5 + 0.02 * (df["age"] - 55) + 0.8 * df["anticoagulant"]
           + 1.2 * df["prior_bleeding"] + 0.3 * df["diabetes"] + 0.01 * (df["sbp"] - 130))
    te = (-0.2 + 0.5 * (df["age"] - 55) / 10 + 0.4 * df["anticoagulant"]
          - 0.3 * df["diabetes"] - 0.2 * (df["bmi"] > 30) + 0.3 * df["prior_bleeding"])
    np.testing.assert_allclose(df["true_te"], te, atol=1e-12)
    np.testing.assert_allclose(logit(df["p0"]), lp0, atol=1e-9)
    np.testing.assert_allclose(df["p1"], expit(lp0 + te), atol=1e-12)
    np.testing.assert_allclose(df["true_cate"], df["p1"] - df["p0"], atol=1e-15)
    # outcome drawn once from the stated probabilities (treatment and baseline once)
    for arm, p in ((0, "p0"), (1, "p1")):
        rows = df["treatment"] == arm
        se = np.sqrt(df.loc[rows, p].mean() / rows.sum())
        assert abs(df.loc[rows, "event"].mean() - df.loc[rows, p].mean()) < 4 * se
    # Tzimas 2024, Table 1 (n = 2000): true_te mean -0.15 / -0.18 (SD 0.66 / 0.65) and
    # event rates 4.9 % (control) / 6.4 % (treated). The appendix-A equation gives a
    # mean of -0.20 (the paper's single data set drew a little above it) and SD 0.65.
    assert df["true_te"].mean() == pytest.approx(-0.2, abs=0.01)
    assert df["true_te"].std() == pytest.approx(0.655, abs=0.01)
    rates = df.groupby("treatment")["event"].mean()
    assert rates[0] == pytest.approx(0.049, abs=0.01)
    assert rates[1] == pytest.approx(0.064, abs=0.01)


def test_overrides_and_errors():
    base = tzimas2024(n=500, seed=4).data
    no_prior = tzimas2024(n=500, seed=4, effect={"prior_bleeding": 0.0}).data
    pb = base["prior_bleeding"] == 1
    np.testing.assert_allclose(base.loc[pb, "true_te"] - no_prior.loc[pb, "true_te"], 0.3)
    np.testing.assert_allclose(base.loc[~pb, "true_te"], no_prior.loc[~pb, "true_te"])
    high = tzimas2024(n=500, seed=4, baseline={"intercept": -1.0}).data
    assert high["p0"].mean() > 3 * base["p0"].mean()
    assert BASELINE["intercept"] == -3.5 and EFFECT["intercept"] == -0.2  # not mutated
    with pytest.raises(bh.DataError, match="no coefficient 'bmi'"):
        tzimas2024(n=100, effect={"bmi": 0.1})
    with pytest.raises(bh.DataError, match=r"n \(patients\) must be an integer >= 20"):
        tzimas2024(n=10)
    with pytest.raises(bh.DataError, match=r"n \(patients\) must be an integer"):
        tzimas2024(n=100.5)
    with pytest.raises(bh.DataError, match="p_female"):
        tzimas2024(n=100, p_female=1.2)


def test_spec_source():
    sim = load_frame({"source": "simulate:tzimas2024", "params": {"n": 100, "seed": 5}})
    pd.testing.assert_frame_equal(sim.data, tzimas2024(n=100, seed=5).data)
