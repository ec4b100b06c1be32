"""Bayesian normal–normal and causal meta-analysis factories: structure and small real fits."""


import numpy as np
import pandas as pd
import pytest

from bayes_hte import ArmTable, DataError, EffectTable
from bayes_hte.comparators import causal_meta_analysis, meta_analysis
from bayes_hte.effects.synthesis import posterior_summary
from bayes_hte.inference import divergences, fit
from bayes_hte.models.synthesis_univariate import (
    TAU_PRIORS,
    build_causal_meta_model,
    build_meta_analysis_model,
)
from bayes_hte.simulate.berenfeld2026 import berenfeld2026
from tests._helpers import reference

# BCG vaccine trials, log RR and variances from R metafor's escalc(measure="RR",
# data=dat.bcg), in tests/data/metafor_bcg.json (written by validation/metafor_reference.R)
_ESCALC_RR = reference("metafor_bcg")["escalc"]["RR"]
BCG_YI = np.array(_ESCALC_RR["yi"])
BCG_VI = np.array(_ESCALC_RR["vi"])
BCG = EffectTable.from_arrays(BCG_YI, BCG_VI, measure="RR", scale="log")
SMALL = dict(draws=300, tune=300, chains=2, random_seed=3, posterior_predictive=False)


# ------------------------------------------------------------------------ structure
@pytest.mark.parametrize("tau_prior", sorted(TAU_PRIORS))
def test_tau_prior_choice_sets_the_distribution(tau_prior):
    m = build_meta_analysis_model(BCG, tau_prior=tau_prior)
    expected = TAU_PRIORS[tau_prior]["dist"]
    assert type(m["tau"].owner.op).__name__.lower().startswith(expected.lower())
    assert m.bayes_hte["priors"]["tau"] == TAU_PRIORS[tau_prior]
    assert m.named_vars_to_dims["theta"] == ("study",)
    assert m.named_vars_to_dims["y"] == ("study",)
    assert m.bayes_hte["parameterization"] == "marginal"
    assert list(m.coords["study"]) == list(BCG.labels)


def test_priors_override_and_centered_form():
    m = build_meta_analysis_model(BCG, priors={"tau": {"sigma": 0.05},
                                               "mu": {"dist": "StudentT", "nu": 4, "mu": 0,
                                                      "sigma": 2}},
                                  parameterization="centered")
    assert m.bayes_hte["priors"]["tau"] == {"dist": "HalfNormal", "sigma": 0.05}
    assert m.bayes_hte["priors"]["mu"]["dist"] == "StudentT"
    assert "z" not in m.named_vars and "theta" in {v.name for v in m.free_RVs}
    # the log density at the same point differs between priors: the choice is live
    a = build_meta_analysis_model(BCG, tau_prior="half_normal")
    b = build_meta_analysis_model(BCG, tau_prior="half_cauchy")
    pt = a.initial_point()
    assert a.compile_logp()(pt) != pytest.approx(b.compile_logp()(pt))


def test_marginal_form_reconstructs_study_effects_from_their_conditional_posterior():
    m = build_meta_analysis_model(BCG)  # default: marginal
    assert {v.name for v in m.free_RVs} == {"mu", "tau", "z", "z_new"}
    point = {"mu": -0.7, "tau_log__": np.log(0.4), "z": np.linspace(-1, 1, 13),
             "z_new": 0.3}
    [theta_v] = m.replace_rvs_by_values([m["theta"]])
    theta = m.compile_fn(theta_v, inputs=m.value_vars, on_unused_input="ignore")(point)
    v = 1 / (1 / BCG_VI + 1 / 0.4**2)
    want = v * (BCG_YI / BCG_VI + -0.7 / 0.4**2) + np.sqrt(v) * point["z"]
    np.testing.assert_allclose(theta, want, rtol=1e-10)
    # the observed y has the marginal likelihood N(mu, s² + tau²)
    logp = m.compile_fn(m.logp(vars=[m["y"]], sum=True), inputs=m.value_vars,
                        on_unused_input="ignore")(point)
    from scipy import stats

    assert logp == pytest.approx(stats.norm.logpdf(BCG_YI, -0.7,
                                                   np.sqrt(BCG_VI + 0.16)).sum())


def test_meta_model_errors():
    with pytest.raises(DataError, match="EffectTable"):
        build_meta_analysis_model(pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.1, 0.1]}))
    with pytest.raises(DataError, match="at least 2 studies"):
        build_meta_analysis_model(EffectTable.from_arrays([0.1], [0.1]))
    with pytest.raises(ValueError, match="tau_prior"):
        build_meta_analysis_model(BCG, tau_prior="jeffreys")
    with pytest.raises(ValueError, match="no parameter 'sigma'"):
        build_meta_analysis_model(BCG, priors={"sigma": {"dist": "HalfNormal", "sigma": 1}})
    with pytest.raises(ValueError, match="parameterization"):
        build_meta_analysis_model(BCG, parameterization="auto")
    nc = build_meta_analysis_model(BCG, parameterization="non_centered")
    assert {v.name for v in nc.free_RVs} == {"mu", "tau", "z", "z_new"}


def test_causal_model_structure_and_options():
    counts = pd.DataFrame({"study": ["a", "b", "c"], "n11": [5, 7, 9], "n10": [45, 43, 41],
                           "n01": [10, 12, 8], "n00": [40, 38, 42]})
    m = build_causal_meta_model(counts)
    assert m.named_vars_to_dims["risk"] == ("study", "arm")
    assert m.named_vars_to_dims["theta_study"] == ("study", "measure")
    assert list(m.coords["measure"]) == ["RD", "RR", "OR"]
    assert list(m.coords["arm"]) == ["control", "treated"]
    assert {v.name for v in m.free_RVs} == {"logit_risk", "weight"}
    np.testing.assert_array_equal(m["n_events"].get_value(), [[10, 5], [12, 7], [8, 9]])
    np.testing.assert_array_equal(m["n_per_study"].get_value(), [100, 100, 100])
    fixed = build_causal_meta_model(counts, membership="fixed")
    assert {v.name for v in fixed.free_RVs} == {"logit_risk"}
    np.testing.assert_allclose(fixed["weight"].get_value(), [1 / 3] * 3)
    user = build_causal_meta_model(ArmTable.from_frame(counts), weights=[0.5, 0.5, 0.0])
    assert user.bayes_hte["weights"] == "user" and user.bayes_hte["membership"] == "fixed"
    with pytest.raises(DataError, match="sum to 1"):
        build_causal_meta_model(counts, weights=[0.5, 0.6, 0.0])
    with pytest.raises(ValueError, match="membership"):
        build_causal_meta_model(counts, membership="sometimes")
    with pytest.raises(DataError, match="ArmTable or a DataFrame"):
        build_causal_meta_model(counts.to_numpy())
    with pytest.raises(DataError, match="negative"):
        build_causal_meta_model(counts.assign(n11=[-1, 7, 9]))


def test_causal_model_takes_zero_and_all_event_trials_without_correction():
    """Binomial likelihoods need no continuity correction: a trial without events (T2),
    with only events (T5) or with an all-events arm (T4) enters with its raw counts."""
    from scipy import stats

    counts = pd.DataFrame({"study": ["T1", "T2", "T3", "T4", "T5"],
                           "n11": [3, 0, 5, 30, 20], "n10": [47, 40, 55, 0, 0],
                           "n01": [6, 0, 9, 26, 20], "n00": [44, 40, 51, 4, 0]})
    m = build_causal_meta_model(counts)
    np.testing.assert_array_equal(m["n_events"].get_value(),
                                  [[6, 3], [0, 0], [9, 5], [26, 30], [20, 20]])
    point = m.initial_point()
    point["logit_risk"] = np.full((5, 2), 0.3)
    logp = m.compile_logp(vars=[m["events"]], sum=False)(point)[0]
    p = 1 / (1 + np.exp(-0.3))
    expected = stats.binom.logpmf(m["n_events"].get_value(), m["n_arm"].get_value(), p)
    np.testing.assert_allclose(logp, expected, rtol=1e-10)
    assert np.isfinite(m.compile_logp()(point))
    assert np.isfinite(m.compile_dlogp()(point)).all()
    # and the normal-normal model takes the RD table that keeps the double-zero trial
    rd = ArmTable.from_frame(counts).effects("RD")
    assert build_meta_analysis_model(rd).coords["study"] == ("T1", "T2", "T3", "T4", "T5")


# ------------------------------------------------------------------------ small real fits
def test_normal_normal_fit_on_bcg_agrees_with_reml():
    idata = fit(build_meta_analysis_model(BCG), **SMALL)
    reml = meta_analysis(BCG, method="REML")
    mu = posterior_summary(idata, "mu", predictive="theta_new", scale="log")
    tau = posterior_summary(idata, "tau")
    # posterior of mu centred near the REML estimate, with a similar spread
    assert abs(mu.estimate - reml.estimate) < 0.1
    assert 0.7 * reml.se < mu.se < 1.5 * reml.se
    assert mu.ci[0] < reml.estimate < mu.ci[1]
    # clear heterogeneity: tau away from 0 and covering the REML tau
    assert tau.ci[0] > 0.15 and tau.ci[0] < np.sqrt(reml.tau2) < tau.ci[1]
    # predictive for a new study is wider than the CrI of mu and near the REML PI
    assert mu.pi[0] < mu.ci[0] and mu.pi[1] > mu.ci[1]
    assert abs(mu.pi[0] - reml.pi[0]) < 0.5 and abs(mu.pi[1] - reml.pi[1]) < 0.5
    assert divergences(idata) <= 3


def test_causal_bayes_recovers_theta_p_star_like_the_frequentist_estimator():
    sim = berenfeld2026(1000, seed=3)
    idata = fit(build_causal_meta_model(sim.arm_table()), **SMALL)
    w = idata["posterior"]["weight"]
    assert float(w.mean()) == pytest.approx(0.5)  # two studies: mean of the weights
    for measure in ("RD", "RR", "OR"):
        post = posterior_summary(idata, "theta", sel={"measure": measure})
        freq = causal_meta_analysis(sim.counts, measure)
        truth = sim.truth["theta_causal"][measure]
        assert post.ci[0] < truth < post.ci[1]
        assert abs(post.estimate - freq.estimate) < 0.3 * freq.se
        # random membership: posterior SD close to the delta-method SE
        assert 0.8 * freq.se < post.se < 1.25 * freq.se, (measure, post.se, freq.se)
    # pooled risks equal the weighted per-study risks, draw by draw
    psi = idata["posterior"]["psi"]
    risk = idata["posterior"]["risk"]
    np.testing.assert_allclose(psi, (risk * w).sum("study"), rtol=1e-10)
    assert divergences(idata) == 0


def test_posterior_summary_errors():
    idata = fit(build_meta_analysis_model(EffectTable.from_arrays([0.1, 0.3, 0.2],
                                                                   [0.05, 0.05, 0.05])),
                draws=50, tune=50, chains=1, random_seed=1, posterior_predictive=False)
    with pytest.raises(KeyError, match="'psi' is not in the posterior"):
        posterior_summary(idata, "psi")
    with pytest.raises(ValueError, match="still has dims"):
        posterior_summary(idata, "theta")
    one = posterior_summary(idata, "theta", sel={"study": "2"})
    assert one.ci_low < one.estimate < one.ci_high
