"""Bayesian multivariate synthesis and one-stage Bayesian LMM.

Small real fits (2 chains x 300 draws, PyMC's NUTS): the posterior means agree with the
REML answers on the same data within their posterior SDs (Berkey 1998 data, complete and
with missing components), and the one-stage model agrees with the two-step method.
"""


import numpy as np
import pymc as pm
import pytest
from scipy import stats

import bayes_hte as bh
from bayes_hte.comparators import mvmeta, two_step_ipdma
from bayes_hte.effects.synthesis import coefficient_table, new_trial_coefficients
from bayes_hte.errors import DataError
from bayes_hte.inference import fit
from bayes_hte.models.synthesis_multivariate import (
    _padded_mvn_logp,
    _padded_mvn_random,
    build_mvmeta_model,
    build_one_stage_lmm,
    default_priors,
)
from bayes_hte.simulate.two_step import two_step
from tests._helpers import berkey1998

# Berkey et al. (1998), metafor dat.berkey1998, in tests/data/metafor_berkey1998.json
# (see tests/comparators/test_multivariate.py and validation/metafor_reference.R); YM: two
# components removed
Y, S, YM = berkey1998()
SAMPLE = {"draws": 300, "tune": 300, "chains": 2, "sampler": "pymc",
          "posterior_predictive": False}


# --------------------------------------------------------------------------- structure
@pytest.mark.parametrize("structure", ["unstructured", "compound_symmetry", "diagonal",
                                       "identity"])
def test_mvmeta_model_structure(structure):
    m = build_mvmeta_model(YM, S, structure=structure, names=["PD", "AL"],
                           study_labels=list("abcde"))
    assert m.coords["coef"] == ("PD", "AL") and m.coords["study"] == tuple("abcde")
    assert m.named_vars_to_dims["beta_hat"] == ("study", "coef")
    assert m.named_vars_to_dims["Omega"] == ("coef", "coef_")
    assert m.named_vars_to_dims["mu"] == ("coef",)
    assert m.bayes_hte["structure"] == structure and m.bayes_hte["missing"] == 2
    assert set(m.bayes_hte["priors"]) >= {"mu", "tau"}
    if structure == "unstructured":
        assert {"corr", "tau", "chol_omega"} <= set(m.named_vars)
    if structure == "compound_symmetry":
        assert m.bayes_hte["priors"]["rho"]["lower"] == -1.0


def test_default_priors_and_overrides():
    p = default_priors("compound_symmetry", 10)
    assert p["rho"]["lower"] == pytest.approx(-1 / 9)
    assert set(default_priors("diagonal", 3)) == {"mu", "tau"}
    assert set(default_priors("identity", 3, one_stage="random_intercept")) == {
        "mu", "tau", "sigma_intercept", "sigma_error"}
    m = build_mvmeta_model(Y, S, structure="diagonal", priors={"tau": {"sigma": 0.3}})
    assert m.bayes_hte["priors"]["tau"] == {"dist": "HalfNormal", "sigma": 0.3}
    assert default_priors("diagonal", 3)["tau"]["sigma"] == 1.0   # defaults untouched
    with pytest.raises(ValueError, match="no parameter 'sigma_b'"):
        build_mvmeta_model(Y, S, priors={"sigma_b": {"sigma": 1}})


def test_marginal_likelihood_of_missing_components_is_the_observed_block():
    """The padded likelihood equals the MVN density of each study's reported components
    (plus the constant -1/2 log 2 pi per missing one)."""
    m = build_mvmeta_model(YM, S, structure="diagonal")
    mu = np.array([0.3, -0.3])
    tau = np.array([0.1, 0.2])
    logp = m.compile_logp(vars=[m["beta_hat"]], sum=True)
    val = logp({"mu": mu, "tau_log__": np.log(tau)})
    expect = 0.0
    for i in range(5):
        o = np.isfinite(YM[i])
        V = (np.diag(tau**2) + S[i])[np.ix_(o, o)]
        expect += stats.multivariate_normal(mu[o], V).logpdf(YM[i, o])
        expect += -0.5 * np.log(2 * np.pi) * (~o).sum()
    assert val == pytest.approx(expect, rel=1e-10)


def test_padded_helpers_match_scipy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    V = A @ A.T + np.eye(3)
    mask = np.array([1.0, 0.0, 1.0])
    o = mask.astype(bool)
    Vp = V * np.outer(mask, mask) + np.diag(1 - mask)
    value = np.array([0.3, 0.0, -1.2])
    mean = np.array([0.1, 0.0, 0.4])
    lp = _padded_mvn_logp(value, mean, np.linalg.inv(Vp), np.linalg.slogdet(Vp)[1], mask)
    assert float(lp) == pytest.approx(
        stats.multivariate_normal(mean[o], V[np.ix_(o, o)]).logpdf(value[o]))
    draws = _padded_mvn_random(np.tile(mean, (4000, 1)), np.linalg.inv(Vp), 0.0,
                               np.tile(mask, (4000, 1)), rng=1)
    assert np.all(draws[:, 1] == 0.0)
    np.testing.assert_allclose(np.cov(draws[:, o].T), V[np.ix_(o, o)], rtol=0.1, atol=0.1)


def test_errors():
    with pytest.raises(DataError, match="one meta-analysis at a time"):
        build_mvmeta_model(np.stack([Y, Y], -1), np.stack([S, S], -1))
    with pytest.raises(ValueError, match="structure must be one of"):
        build_mvmeta_model(Y, S, structure="ar1")
    with pytest.raises(DataError, match="names \\(3\\)"):
        build_mvmeta_model(Y, S, names=["a", "b", "c"])
    with pytest.raises(DataError, match="covariances must have shape"):
        build_mvmeta_model(Y, S[:3])
    sim = two_step(trials=1, size_range=(30, 30), seed=1)
    one = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    with pytest.raises(DataError, match="needs at least 2 trials"):
        build_one_stage_lmm(one)
    with pytest.raises(DataError, match="must be a LongitudinalData"):
        build_one_stage_lmm(sim.data)
    sim2 = two_step(trials=2, size_range=(30, 30), seed=1)
    two = bh.LongitudinalData.from_frame(sim2.data, **sim2.columns)
    with pytest.raises(ValueError, match="within must be"):
        build_one_stage_lmm(two, within="ar1")
    with pytest.raises(ValueError, match="parameterization must be"):
        build_one_stage_lmm(two, parameterization="auto")


def test_one_stage_model_structure():
    sim = two_step(trials=3, size_range=(20, 30), missing_visit_fraction=0.34, dropout=0.2,
                   seed=2)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    for within in ("random_intercept", "unstructured"):
        m = build_one_stage_lmm(data, structure="compound_symmetry", within=within)
        assert m.named_vars_to_dims["y"] == ("participant", "visit")
        assert m.named_vars_to_dims["beta_study"] == ("study", "coef")
        assert len(m.coords["participant"]) == data.n_subjects
        assert m.bayes_hte["within"] == within
    assert {"sigma_intercept", "sigma_error"} <= set(
        build_one_stage_lmm(data, within="random_intercept").named_vars)
    # the observed log-likelihood at a point equals the per-participant MVN densities
    m = build_one_stage_lmm(data, structure="identity", within="random_intercept",
                            parameterization="centered")
    rng = np.random.default_rng(0)
    beta = rng.normal(0, 0.3, size=(3, 10))
    sb, se = np.array([4.0, 5.0, 6.0]), np.array([3.0, 3.5, 2.5])
    point = {"mu": np.zeros(10), "tau_log__": np.log(0.5), "beta_study": beta,
             "sigma_intercept_log__": np.log(sb), "sigma_error_log__": np.log(se)}
    val = m.compile_logp(vars=[m["y"]], sum=True)(point)
    X = data.design_matrix().X
    expect = 0.0
    for j in range(data.n_subjects):
        rows = data.subject_idx == j
        s = data.subject_study[j]
        k = int(rows.sum())
        V = sb[s] ** 2 * np.ones((k, k)) + se[s] ** 2 * np.eye(k)
        expect += stats.multivariate_normal(X[rows] @ beta[s], V).logpdf(data.y[rows])
    assert val == pytest.approx(expect, rel=1e-9)   # exact: no constant for unmeasured cells


# --------------------------------------------------------------------------- small fits
def _agree(idata, reml, *, k=1.0):
    tab = coefficient_table(idata)
    diff = np.abs(tab["estimate"].to_numpy() - reml.estimate)
    assert np.all(diff < k * tab["sd"].to_numpy()), (tab, reml.estimate)
    return tab


def test_bayesian_synthesis_agrees_with_reml_berkey():
    m = build_mvmeta_model(Y, S, structure="unstructured", names=["PD", "AL"])
    idata = fit(m, random_seed=1, **SAMPLE)
    assert bh.inference.divergences(idata) <= 3
    reml = mvmeta(Y, S, method="REML", structure="unstructured")
    tab = _agree(idata, reml)
    # posterior SDs are of the order of the REML SEs (wider: tau uncertainty, 5 trials)
    assert np.all(tab["sd"].to_numpy() > 0.8 * reml.se)
    assert np.all(tab["sd"].to_numpy() < 3.0 * reml.se)
    post = idata["posterior"]
    assert float(post["corr"].sel(coef="PD", coef_="AL").mean()) > 0
    tau = post["tau"].median(("chain", "draw")).values
    assert np.all(tau > 0.5 * reml.tau) and np.all(tau < 2.5 * reml.tau)
    new = new_trial_coefficients(idata, random_seed=2)
    assert new.dims == ("chain", "draw", "coef")
    assert np.all(new.std(("chain", "draw")).values > post["mu"].std(("chain", "draw")).values)
    pred = coefficient_table(idata, draws=new)
    assert np.all(pred["ci_low"] < tab["ci_low"]) and np.all(pred["ci_high"] > tab["ci_high"])


def test_bayesian_synthesis_with_missing_components_agrees_with_reml():
    m = build_mvmeta_model(YM, S, structure="compound_symmetry")
    idata = fit(m, random_seed=3, **SAMPLE)
    reml = mvmeta(YM, S, method="REML", structure="compound_symmetry")
    _agree(idata, reml)


def test_one_stage_bayesian_agrees_with_two_step():
    """Same IPD, both ways: one-stage Bayesian LMM vs the two-step REML (CS Omega). A
    covariate centred near 0 keeps the fit small; one trial lacks visit 3."""
    sim = two_step(design="simulation2", trials=4, tau2=0.1, size_range=(50, 70),
                   missing_visit_fraction=0.25, z_mean=0.0, z_sd=1.0, seed=8)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    two = two_step_ipdma(data, structure="compound_symmetry")
    m = build_one_stage_lmm(data, structure="compound_symmetry", within="random_intercept",
                            priors={"tau": {"sigma": 0.5}})
    idata = fit(m, random_seed=4, **SAMPLE)
    tab = _agree(idata, two.step2)
    # trial-specific random-intercept SDs are recovered from each trial's data
    sb = idata["posterior"]["sigma_intercept"].mean(("chain", "draw")).values
    np.testing.assert_allclose(sb, sim.sd_intercept.to_numpy(), rtol=0.35)
    assert tab.index.tolist() == list(two.step2.names)
    assert isinstance(m, pm.Model)
