"""CIMAModel: the Bayesian CIMA on the bundled SGLT2 data, next to the frequentist cima()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators.cima.moments import cima_moments
from bayes_hte.errors import DataError

CATE = "~ lvef + prehhf + diabetes"
BY = {"lvef": ["<=40", ">40"], "prehhf": [0, 1], "diabetes": [0, 1]}
# the frequentist CIMA-AgD on the same data (docs/cima.md; Shi et al. Table 3 prints
# -0.037 (-0.049, -0.025)): ATE -0.0365, SE 0.0062
FREQ_ATE, FREQ_SE = -0.0365, 0.0062


@pytest.fixture(scope="module")
def sglt2():
    return bh.datasets.sglt2_hf()


@pytest.fixture(scope="module")
def bayes_fit(sglt2) -> bh.CIMAModel:
    # defaults but the size: log likelihood and posterior predictive on
    return bh.CIMAModel(cate=CATE).fit(sglt2.effects, sglt2.covariates, sglt2.target,
                                       draws=300, tune=300, chains=2, random_seed=7,
                                       sampler="nutpie")


def _closed_form(s):
    """Conjugate posterior of theta under the default N(0, 0.5^2) prior."""
    A = sum(M.T @ np.linalg.solve(V, M) for _, M, V in s.blocks()) + np.eye(4) / 0.25
    b = sum(M.T @ np.linalg.solve(V, y) for y, M, V in s.blocks())
    C = np.linalg.inv(A)
    return C @ b, C


def test_sglt2_posterior_ate_is_close_to_the_frequentist_cima(bayes_fit):
    tab = bayes_fit.summary()
    assert list(tab.index) == ["ATE (target)", "(Intercept)", "lvef", "prehhf", "diabetes"]
    ate = tab.loc["ATE (target)"]
    # stated tolerance: half of CIMA's standard error (the difference is the weighting:
    # CIMA's reference GMM weights ignore the effects' correlations; see docs/cima.md)
    assert abs(ate["mean"] - FREQ_ATE) < 0.5 * FREQ_SE
    assert 0.8 < ate["sd"] / FREQ_SE < 1.1
    assert ate["ci_high"] < 0
    # and it is the conjugate posterior, up to Monte Carlo error
    mean, C = _closed_form(bayes_fit.data)
    b = bayes_fit.data.target_design().mean(axis=0)
    assert abs(ate["mean"] - b @ mean) < 4 * ate["sd"] / np.sqrt(400)
    assert ate["sd"] == pytest.approx(np.sqrt(b @ C @ b), rel=0.15)
    assert bayes_fit.parameters()["r_hat"].max() < 1.02
    assert bh.inference.divergences(bayes_fit.idata) == 0


def test_joint_subgroups_next_to_cima(bayes_fit, sglt2):
    freq = bh.comparators.cima(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE)
    fj = freq.subgroup_effects(BY)
    bj = bayes_fit.subgroup_summary(BY)
    assert list(bj.columns) == ["lvef", "prehhf", "diabetes", "n_target", "mean", "sd",
                                "ci_low", "ci_high"]
    assert bj[["lvef", "prehhf", "diabetes"]].equals(fj[["lvef", "prehhf", "diabetes"]])
    assert bj["n_target"].tolist() == fj["n_target"].tolist()
    # every joint subgroup within one frequentist SE of CIMA's estimate
    assert (np.abs(bj["mean"] - fj["estimate"]) < fj["se"]).all()
    draws = bayes_fit.subgroup_effects(BY)
    assert draws.dims == ("chain", "draw", "subgroup")
    # the ATE is the target-weighted mean of the joint subgroups
    w = draws["n_target"] / draws["n_target"].sum()
    np.testing.assert_allclose((draws * w).sum("subgroup"), bayes_fit.ate(), atol=1e-12)


def test_groups_estimands_and_roundtrip(bayes_fit, sglt2, tmp_path):
    idata = bayes_fit.idata
    assert idata["log_likelihood"]["y"].dims == ("chain", "draw", "trial")
    assert "posterior_predictive" in idata
    rows = sglt2.target.sample(5, method="random", seed=1)
    cate = bayes_fit.cate_at(rows)
    assert cate.dims == ("chain", "draw", "patient")
    theta = idata["posterior"]["theta"].values[0, 0]
    b = np.column_stack([np.ones(5), rows[["lvef", "prehhf", "diabetes"]].to_numpy()])
    np.testing.assert_allclose(cate.values[0, 0], b @ theta)
    mom = bayes_fit.moments()
    assert len(mom) == 26 and {"fitted", "fitted_sd"} <= set(mom.columns)
    assert bayes_fit.result().label == "ATE (target)"
    with pytest.raises(ValueError, match="heterogeneity=True"):
        bayes_fit.ate(new_trial=True)
    with pytest.raises(ValueError, match="new_trial must be True or False"):
        bayes_fit.ate(new_trial="no")
    path = bayes_fit.save(tmp_path / "cima.nc")
    back = bh.CIMAModel.load(path)
    pd.testing.assert_frame_equal(back.summary(), bayes_fit.summary())
    pd.testing.assert_frame_equal(back.subgroup_summary(BY), bayes_fit.subgroup_summary(BY))
    np.testing.assert_array_equal(back.data.design, bayes_fit.data.design)
    assert back.data.trials == bayes_fit.data.trials
    assert "heterogeneity=False" in repr(back)


def test_heterogeneity_adds_tau_and_a_new_trial():
    m = bh.CIMAModel(cate=CATE, heterogeneity=True, priors={"tau": {"sigma": 0.01}})
    d = bh.datasets.sglt2_hf()
    s = cima_moments(d.effects, d.covariates, d.target, cate=CATE)
    model = m.build(s)
    assert {v.name for v in model.free_RVs} == {"theta", "tau", "trial_effect_raw", "z_new"}
    assert model.named_vars_to_dims["trial_effect"] == ("trial",)
    assert model.bayes_hte["priors"]["tau"] == {"dist": "HalfNormal", "sigma": 0.01}


def test_options_and_inputs_are_checked(sglt2):
    with pytest.raises(ValueError, match="covariance"):
        bh.CIMAModel(cate=CATE, covariance="full")
    with pytest.raises(ValueError, match="representer"):
        bh.CIMAModel(cate=CATE, representer="both")
    with pytest.raises(ValueError, match="heterogeneity must be True or False"):
        bh.CIMAModel(cate=CATE, heterogeneity="yes")
    with pytest.raises(DataError, match="one-sided"):
        bh.CIMAModel(cate="y ~ lvef")
    with pytest.raises(DataError, match="CIMAMoments"):
        bh.CIMAModel(cate=CATE).build(sglt2.effects)
    m = bh.CIMAModel(cate=CATE)
    eff, cov = sglt2.effects, sglt2.covariates
    bad = eff.copy()
    bad.loc[eff.index[eff["trial"] == "DAPA-HF"][0], "se"] = -1.0
    with pytest.raises(DataError, match="'se' must be finite and > 0"):
        m.fit(bad, cov, sglt2.target)
    bad = eff.copy()
    bad.loc[5, "subgroup"] = "age"
    with pytest.raises(DataError, match=r"trial 'EMPEROR-Preserved', subgroup 'age'"):
        m.fit(bad, cov, sglt2.target)
    with pytest.raises(DataError, match=r"trials \['EMPEROR-Reduced'\] have effects"):
        m.fit(eff, cov[cov["trial"] != "EMPEROR-Reduced"], sglt2.target)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.summary()
