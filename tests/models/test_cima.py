"""The Bayesian CIMA factory: structure, the conjugate posterior, the log likelihood."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayes_hte.errors import DataError
from bayes_hte.inference import divergences, fit
from bayes_hte.models.cima import build_cima_model, default_priors, reduced_stack

TERMS = ["(Intercept)", "x1", "x2"]


def _system(seed: int = 0):
    """Three trials with 2, 3 and 4 correlated effects, a linear model in 3 coefficients
    with an uncentred covariate (intercept and slope strongly correlated)."""
    rng = np.random.default_rng(seed)
    theta = np.array([-0.05, 0.001, -0.02])
    blocks = []
    for k, r in enumerate((2, 3, 4)):
        X = np.column_stack([np.ones(r), 30 + 10 * k + 5 * rng.random(r), rng.random(r)])
        A = rng.standard_normal((r, r))
        V = 1e-4 * (A @ A.T / r + np.eye(r))
        y = X @ theta + np.linalg.cholesky(V) @ rng.standard_normal(r)
        blocks.append((y, X, V))
    return reduced_stack(blocks, ["A", "B", "C"])


def _posterior_closed_form(y, X, V, prior_sd):
    """Conjugate posterior of theta: N(m, S), S = (X'V^-1X + I/s0^2)^-1, m = S X'V^-1 y."""
    P = np.linalg.inv(V)
    S = np.linalg.inv(X.T @ P @ X + np.eye(X.shape[1]) / prior_sd**2)
    return S @ X.T @ P @ y, S


def test_structure_and_priors():
    y, X, V, trial = _system()
    m = build_cima_model(y, X, V, trial=trial, terms=TERMS, target=[1.0, 45.0, 0.3])
    assert {v.name for v in m.free_RVs} == {"theta"}
    assert m.named_vars_to_dims["y"] == ("trial", "component")
    assert m.named_vars_to_dims["theta"] == ("coef",)
    assert list(m.coords["trial"]) == ["A", "B", "C"]
    assert m.bayes_hte["priors"] == default_priors()
    assert m.bayes_hte["priors"]["theta"] == {"dist": "Normal", "mu": 0.0, "sigma": 0.5}
    np.testing.assert_allclose(m.bayes_hte["log_likelihood_offset"]["y"],
                               0.5 * np.log(2 * np.pi) * np.array([2, 1, 0]))
    h = build_cima_model(y, X, V, trial=trial, terms=TERMS, target=[1.0, 45.0, 0.3],
                         heterogeneity=True, priors={"tau": {"sigma": 0.01}})
    assert {v.name for v in h.free_RVs} == {"theta", "tau", "trial_effect_raw", "z_new"}
    assert h.bayes_hte["priors"]["tau"] == {"dist": "HalfNormal", "sigma": 0.01}
    with pytest.raises(ValueError, match="no parameter 'tau'"):
        build_cima_model(y, X, V, trial=trial, terms=TERMS, target=[1.0, 45.0, 0.3],
                         priors={"tau": {"sigma": 0.01}})


def test_the_whitened_coefficients_keep_the_model():
    """theta is sampled as theta = m + L eta; the log density in theta is the model's."""
    y, X, V, trial = _system()
    m = build_cima_model(y, X, V, trial=trial, terms=TERMS, target=[1.0, 45.0, 0.3])
    theta = np.array([-0.04, 0.0008, -0.01])
    logp = m.compile_logp(jacobian=False)
    value = m.rvs_to_transforms[m["theta"]].forward(theta).eval()
    direct = (stats.norm(0, 0.5).logpdf(theta).sum()
              + stats.multivariate_normal(X @ theta, V).logpdf(y))
    padding = 3 * stats.norm.logpdf(0.0)  # trials A and B are padded by 2 and 1 values
    assert logp({"theta_whiten__": value}) == pytest.approx(direct + padding, rel=1e-8)


@pytest.mark.parametrize("prior_sd", [100.0, 0.01])
def test_posterior_is_the_conjugate_normal(prior_sd):
    """Flat-ish prior: the GLS estimate (X'V^-1X)^-1 X'V^-1 y and its covariance; an
    informative prior (SD 0.01, as tight as the data on the intercept): the conjugate
    posterior. Exact up to Monte Carlo error (4 MCSE on the means, 15 % on the SDs)."""
    y, X, V, trial = _system()
    target = np.array([1.0, 45.0, 0.3])
    m = build_cima_model(y, X, V, trial=trial, terms=TERMS, target=target,
                         priors={"theta": {"sigma": prior_sd}})
    idata = fit(m, draws=1000, tune=500, chains=2, random_seed=4, sampler="nutpie",
                posterior_predictive=False)
    assert divergences(idata) == 0
    mean, S = _posterior_closed_form(y, X, V, prior_sd)
    post = idata["posterior"]
    draws = post["theta"].values.reshape(-1, 3)
    mcse = az.mcse(idata, var_names=["theta", "ate"])
    np.testing.assert_array_less(np.abs(draws.mean(0) - mean),
                                 4 * mcse["theta"].values)
    np.testing.assert_allclose(draws.std(0), np.sqrt(np.diag(S)), rtol=0.15)
    np.testing.assert_allclose(np.corrcoef(draws.T), S / np.sqrt(np.outer(np.diag(S),
                                                                          np.diag(S))),
                               atol=0.05)
    ate = post["ate"].values.ravel()
    assert abs(ate.mean() - target @ mean) < 4 * float(mcse["ate"])
    assert ate.std() == pytest.approx(np.sqrt(target @ S @ target), rel=0.15)
    if prior_sd == 100.0:  # the GLS estimate, up to the prior's 1e-4 ridge
        P = np.linalg.inv(V)
        gls = np.linalg.solve(X.T @ P @ X, X.T @ P @ y)
        np.testing.assert_allclose(mean, gls, rtol=1e-6, atol=1e-9)
    # the pointwise log likelihood is each trial's exact MvNormal density (no padding)
    ll = idata["log_likelihood"]["y"]
    assert ll.dims == ("chain", "draw", "trial")
    th = post["theta"].values[0, 0]
    for k, t in enumerate(["A", "B", "C"]):
        rows = np.array(trial) == t
        expect = stats.multivariate_normal(X[rows] @ th, V[np.ix_(rows, rows)]).logpdf(y[rows])
        assert float(ll.values[0, 0, k]) == pytest.approx(expect, rel=1e-9)


def test_inputs_are_checked_naming_the_trial():
    y, X, V, trial = _system()
    kw = dict(trial=trial, terms=TERMS, target=[1.0, 45.0, 0.3])
    bad = V.copy()
    bad[0, 3] = bad[3, 0] = 1e-5
    with pytest.raises(DataError, match="trials 'A' and 'B'.*block diagonal"):
        build_cima_model(y, X, bad, **kw)
    bad = V.copy()
    bad[2, 3] = bad[3, 2] = 1.0
    with pytest.raises(DataError, match="trial 'B'.*not positive definite"):
        build_cima_model(y, X, bad, **kw)
    yy = y.copy()
    yy[-1] = np.nan
    with pytest.raises(DataError, match="trial 'C'.*non-finite"):
        build_cima_model(yy, X, V, **kw)
    with pytest.raises(DataError, match="design must have shape"):
        build_cima_model(y, X[:-1], V, **kw)
    with pytest.raises(DataError, match="target must be the mean design row"):
        build_cima_model(y, X, V, trial=trial, terms=TERMS, target=[1.0, 45.0])
    with pytest.raises(DataError, match="first term must be '\\(Intercept\\)'"):
        build_cima_model(y, X, V, trial=trial, terms=["a", "x1", "x2"],
                         target=[1.0, 45.0, 0.3], heterogeneity=True)
