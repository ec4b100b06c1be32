"""Prior sensitivity by power-scaling (bayes_hte.sensitivity, Estimator.prior_sensitivity).

The headline check follows Kallioinen et al. (2024, Stat Comput 34:57, Sect. 5): a prior
placed far from the data and made strong is flagged as a prior-data conflict (both the
prior and the likelihood sensitivity exceed 0.05), a vague prior is not. Then the log
prior against scipy's densities, the LKJ term, ArviZ's diagnosis rule, and one tiny fit
of every estimator. Small fits (nutpie, 1-2 chains, few draws).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import bayes_hte as bh
from bayes_hte import sensitivity
from bayes_hte.simulate import bouvier2024
from bayes_hte.simulate.berenfeld2026 import berenfeld2026
from bayes_hte.simulate.two_step import two_step
from tests._helpers import berkey1998

SMALL = {"draws": 400, "tune": 300, "chains": 2, "random_seed": 1}
TINY = {"draws": 100, "tune": 100, "chains": 1, "random_seed": 2}
COLUMNS = ["parameter", "prior_sensitivity", "likelihood_sensitivity", "diagnosis"]


def _centred_at_zero() -> bh.EffectTable:
    """Eight studies with estimates near 0 (SE 0.2): the data put mu near 0, +-0.07."""
    rng = np.random.default_rng(1)
    return bh.EffectTable.from_arrays(rng.normal(0.0, 0.2, 8), np.full(8, 0.04))


@pytest.fixture(scope="module")
def conflict_and_vague():
    data = _centred_at_zero()
    strong = bh.MetaAnalysisModel(priors={"mu": {"mu": 3.0, "sigma": 0.1}}).fit(data, **SMALL)
    vague = bh.MetaAnalysisModel().fit(data, **SMALL)  # mu ~ N(0, 10^2)
    return strong, vague


def test_conflicting_prior_is_flagged_and_vague_prior_is_not(conflict_and_vague):
    strong, vague = conflict_and_vague
    tab = strong.prior_sensitivity().set_index("parameter")
    assert list(tab.reset_index().columns) == COLUMNS
    assert tab.loc["mu", "diagnosis"] == "potential prior-data conflict", tab
    assert tab.loc["mu", "prior_sensitivity"] > 0.05
    assert tab.loc["mu", "likelihood_sensitivity"] > 0.05
    assert tab.attrs["prior_terms"] == ["mu", "tau"]
    ok = vague.prior_sensitivity().set_index("parameter")
    assert ok.loc["mu", "diagnosis"] == "✓", ok
    assert ok.loc["mu", "prior_sensitivity"] < 0.01 < ok.loc["mu", "likelihood_sensitivity"]
    # the table covers the parameters of .parameters(), nothing per study
    assert set(ok.index) == set(vague.parameters().index)


def test_log_prior_matches_scipy(conflict_and_vague):
    strong, _ = conflict_and_vague
    lp = sensitivity.log_prior(strong.idata)
    post = strong.idata["posterior"]
    np.testing.assert_allclose(lp["mu"].values, stats.norm(3.0, 0.1).logpdf(post["mu"].values),
                               rtol=1e-6)
    np.testing.assert_allclose(lp["tau"].values,
                               stats.halfnorm(scale=0.5).logpdf(post["tau"].values), rtol=1e-6)
    # explicit priors override the stored ones; the diagnosis follows them
    vague = sensitivity.prior_sensitivity(
        strong.idata, var_names=["mu"],
        priors={"mu": {"dist": "Normal", "mu": 0.0, "sigma": 100.0}})
    assert vague.attrs["prior_terms"] == ["mu"]
    assert vague["prior_sensitivity"].iloc[0] < 0.01


def test_lkj_term_and_arm_copies():
    """An LKJ(eta) prior on R enters as (eta - 1) log det R; for 2x2, log det R = log(1-r^2).
    A prior named ``tau_b`` applies to the per-arm copies ``tau_b_control`` / ``_treated``."""
    r = np.array([[0.0, 0.5], [0.3, -0.9]])  # (chain, draw)
    corr = np.ones((2, 2, 2, 2))
    corr[..., 0, 1] = corr[..., 1, 0] = r
    rng = np.random.default_rng(0)
    post = xr.Dataset({
        "corr_b_control": (("chain", "draw", "coef", "coef_"), corr),
        "tau_b_treated": (("chain", "draw"), rng.uniform(0.1, 1.0, (2, 2))),
        "tau_alpha": (("chain", "draw"), np.full((2, 2), 0.3)),  # a plug-in constant
    })
    tree = xr.DataTree.from_dict({"posterior": post})
    priors = {"corr_b": {"dist": "LKJ", "eta": 3.0},
              "tau_b": {"dist": "HalfNormal", "sigma": 0.5},
              "tau_alpha": {"dist": "HalfNormal", "sigma": 1.0}}
    lp = sensitivity.log_prior(tree, priors=priors)
    np.testing.assert_allclose(lp["corr_b_control"].values, 2.0 * np.log(1 - r**2))
    np.testing.assert_allclose(lp["tau_b_treated"].values,
                               stats.halfnorm(scale=0.5).logpdf(post["tau_b_treated"].values))
    assert lp.attrs["prior_terms"] == ["corr_b_control", "tau_b_treated"]


def test_diagnosis_rule():
    # arviz_stats.psense_summary's rule (threshold 0.05)
    assert sensitivity.diagnose(0.06, 0.2) == "potential prior-data conflict"
    assert sensitivity.diagnose(0.06, 0.01) == "potential strong prior / weak likelihood"
    assert sensitivity.diagnose(0.01, 0.2) == "✓"
    assert sensitivity.diagnose(0.01, 0.01) == "✓"
    assert sensitivity.diagnose(0.2, 0.2, threshold=0.3) == "✓"


def test_errors(conflict_and_vague):
    strong, _ = conflict_and_vague
    no_ll = xr.DataTree.from_dict({"posterior": strong.idata["posterior"].to_dataset()})
    with pytest.raises(ValueError, match="no log_likelihood group"):
        sensitivity.prior_sensitivity(no_ll)
    with pytest.raises(ValueError, match="no posterior variable"):
        sensitivity.prior_sensitivity(strong.idata, var_names=["nope"])
    post = strong.idata["posterior"].to_dataset()
    post.attrs = {}
    with pytest.raises(ValueError, match="stores no priors"):
        sensitivity.log_prior(xr.DataTree.from_dict({"posterior": post}))
    with pytest.raises(ValueError, match="matches a posterior variable"):
        sensitivity.log_prior(strong.idata, priors={"x": {"dist": "Normal", "mu": 0,
                                                          "sigma": 1}})
    with pytest.raises(RuntimeError, match="not fitted"):
        bh.MetaAnalysisModel().prior_sensitivity()


# ------------------------------------------------------------------ every estimator
def _ipd(**kw):
    sim = bouvier2024(trials=3, patients_per_trial=80, covariates=3, seed=2)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2"])
    return bh.IPDMetaModel(**kw).fit(data, **TINY)


def _subgroup():
    sim = bouvier2024(trials=3, patients_per_trial=80, covariates=3, seed=2)
    frame = sim.data.assign(group=np.where(sim.data["x1"] > 0, "high", "low"))
    data = bh.IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2"])
    return bh.SubgroupHTEModel(subgroups=["group"]).fit(data, **TINY)


def _causal():
    return bh.CausalMetaModel().fit(berenfeld2026(600, seed=3).arm_table(), **TINY)


def _multivariate():
    _y, s, ym = berkey1998()
    return bh.MultivariateMetaModel(structure="unstructured").fit(
        ym, s, names=["PD", "AL"], **TINY)


def _longitudinal():
    sim = two_step(design="simulation2", trials=3, tau2=0.1, size_range=(30, 40),
                   missing_visit_fraction=0.0, z_mean=0.0, z_sd=1.0, seed=8)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    return bh.LongitudinalMetaModel(structure="diagonal").fit(data, **TINY)


@pytest.mark.parametrize("make", [
    lambda: _ipd(heterogeneity="random_intercept", learner="s"),
    lambda: _ipd(heterogeneity="fully_stratified", learner="t"),
    _subgroup, _causal, _multivariate, _longitudinal,
], ids=["RI-S", "FS-T", "subgroup", "causal", "multivariate", "longitudinal"])
def test_every_estimator_has_a_sensitivity_table(make):
    m = make()
    tab = m.prior_sensitivity()
    assert list(tab.columns) == COLUMNS and len(tab) > 0
    assert np.isfinite(tab[["prior_sensitivity", "likelihood_sensitivity"]]).all().all()
    assert (tab[["prior_sensitivity", "likelihood_sensitivity"]] >= 0).all().all()
    assert set(tab["diagnosis"]) <= {"✓", "potential prior-data conflict",
                                     "potential strong prior / weak likelihood"}
    stored = json.loads(m.idata["posterior"].attrs["bayes_hte_priors"])
    terms = tab.attrs["prior_terms"]
    assert terms and all(t in m.idata["posterior"] for t in terms)
    assert {t.removesuffix("_control").removesuffix("_treated") for t in terms} <= set(stored)
