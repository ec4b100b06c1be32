"""inference.fit: the pointwise log likelihood of every model family, and reproducibility.

Each family is fitted with the default ``log_likelihood=True`` (tiny runs) and its
``log_likelihood`` group is checked twice: its dims (one value per independent
observation unit: a patient, a study, a study and arm, a participant's vector of
visits, the one multinomial vector of study sizes) and its values, recomputed at a few
draws with scipy.stats from the posterior and the data alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import integrate, stats
from scipy.special import expit

import bayes_hte as bh
from bayes_hte.inference import fit
from bayes_hte.models.ipdma import build_ipdma_model
from bayes_hte.models.subgroup import build_subgroup_model
from bayes_hte.models.survival import build_ipdma_survival_model
from bayes_hte.models.synthesis_multivariate import build_mvmeta_model, build_one_stage_lmm
from bayes_hte.models.synthesis_univariate import (
    build_causal_meta_model,
    build_meta_analysis_model,
)
from bayes_hte.simulate import bouvier2024, two_step, tzimas2024
from tests._helpers import berkey1998

#: Tiny runs: the checks are of the log-likelihood's shape and values, not the posterior.
TINY = dict(draws=20, tune=20, chains=2, cores=1, sampler="pymc", random_seed=11)
#: (chain, draw) pairs at which the values are recomputed independently.
DRAWS = [(0, 0), (1, 7), (1, 19)]


def _draw(post: xr.Dataset, name: str, c: int, d: int) -> np.ndarray:
    return np.asarray(post[name].isel(chain=c, draw=d).values, dtype=float)


def _check(ll: xr.DataArray, dims: tuple, expected) -> None:
    """``ll`` has ``dims`` and, at each of :data:`DRAWS`, the values ``expected(c, d)``."""
    assert ll.dims == ("chain", "draw", *dims)
    assert ll.sizes["chain"] == TINY["chains"] and ll.sizes["draw"] == TINY["draws"]
    assert np.isfinite(ll.values).all()
    for c, d in DRAWS:
        np.testing.assert_allclose(ll.isel(chain=c, draw=d).values, expected(c, d),
                                   rtol=1e-8, atol=1e-10)


def _ipd(outcome: str = "binary"):
    sim = bouvier2024(trials=3, patients_per_trial=40, covariates=3, outcome=outcome, seed=5)
    kw = {"time": sim.time} if outcome == "time_to_event" else {}
    return bh.IPDData.from_frame(sim.data, outcome=sim.outcome, treatment="treat",
                                 study="trial", covariates=sim.covariates, **kw)


def _naive_lp(post, data, c, d) -> np.ndarray:
    """Naive S-learner linear predictor alpha + x theta + z (gamma + x eta), per patient."""
    a, th, g, e = (_draw(post, n, c, d) for n in ("alpha", "theta", "gamma", "eta"))
    return a + data.X @ th + data.z * (g + data.X @ e)


# --------------------------------------------------------------------------- IPD-MA
def test_ipdma_binary_log_likelihood_per_patient():
    data = _ipd()
    idata = fit(build_ipdma_model(data, heterogeneity="naive", learner="s"), **TINY)
    post = idata["posterior"].to_dataset()

    def expected(c, d):
        return stats.bernoulli.logpmf(data.y, expit(_naive_lp(post, data, c, d)))

    _check(idata["log_likelihood"]["y"], ("patient",), expected)


def test_ipdma_survival_log_likelihood_per_patient():
    """Weibull PH, right censored: log f(t) for events, log S(t) for censored patients;
    h(t) = kappa t^(kappa - 1) exp(lp) is Weibull with scale exp(-lp / kappa)."""
    data = _ipd("time_to_event")
    model = build_ipdma_survival_model(data, heterogeneity="naive", learner="s",
                                       baseline="weibull")
    with pytest.warns(UserWarning, match="posterior_predictive group not added"):
        idata = fit(model, **TINY)  # the censored PH density has no generator
    assert "posterior_predictive" not in idata
    post = idata["posterior"].to_dataset()
    t = np.maximum(data.t / model.bayes_hte["time_scale"], 1e-9)

    def expected(c, d):
        kappa = np.exp(_draw(post, "log_shape", c, d))
        dist = stats.weibull_min(kappa, scale=np.exp(-_naive_lp(post, data, c, d) / kappa))
        return np.where(data.y == 1, dist.logpdf(t), dist.logsf(t))

    _check(idata["log_likelihood"]["time"], ("patient",), expected)


# --------------------------------------------------------------------------- subgroup
def test_subgroup_log_likelihood_integrates_the_individual_effect():
    """Treated patients' individual effect eta ~ N(0, sigma_eta) is integrated out of
    their likelihood (Gauss-Hermite in the model; adaptive quadrature here)."""
    sim = tzimas2024(120, seed=2)
    data = bh.IPDData.from_frame(sim.data, outcome="event", treatment="treatment",
                                 covariates=["age", "diabetes", "bmi"])
    model = build_subgroup_model(data, interactions=["age"], n_quadrature=40)
    idata = fit(model, **TINY)
    post = idata["posterior"].to_dataset()
    X = idata["constant_data"]["X"].values
    inter = list(model.bayes_hte["layout"].interaction_idx)

    def expected(c, d):
        base = _draw(post, "alpha", c, d) + X @ _draw(post, "beta", c, d)
        effect = _draw(post, "mu_tau", c, d) + X[:, inter] @ _draw(post, "gamma", c, d)
        s = float(_draw(post, "sigma_eta", c, d))
        p = expit(base + data.z * effect)
        for i in np.flatnonzero(data.z == 1):
            lp = base[i] + effect[i]
            p[i] = integrate.quad(lambda e, lp=lp: expit(lp + s * e) * stats.norm.pdf(e),
                                  -12, 12, epsabs=1e-13, epsrel=1e-12)[0]
        return stats.bernoulli.logpmf(data.y, p)

    ll = idata["log_likelihood"]["y"]
    assert ll.dims == ("chain", "draw", "patient")
    for c, d in DRAWS:  # quadrature of 40 nodes against adaptive quadrature
        np.testing.assert_allclose(ll.isel(chain=c, draw=d).values, expected(c, d),
                                   rtol=1e-7)


# --------------------------------------------------------------------------- synthesis
def test_univariate_meta_analysis_log_likelihood_per_study():
    table = bh.EffectTable.from_arrays([-0.9, -1.6, -0.2, 0.0, -0.5],
                                       [0.3, 0.2, 0.05, 0.01, 0.1], measure="RR",
                                       scale="log")
    idata = fit(build_meta_analysis_model(table), **TINY)  # marginal: N(mu, s^2 + tau^2)
    post = idata["posterior"].to_dataset()

    def expected(c, d):
        sd = np.sqrt(table.vi + _draw(post, "tau", c, d) ** 2)
        return stats.norm.logpdf(table.yi, _draw(post, "mu", c, d), sd)

    _check(idata["log_likelihood"]["y"], ("study",), expected)
    assert list(idata["log_likelihood"]["study"].values) == list(table.labels)


def test_causal_meta_analysis_log_likelihood_the_documented_call():
    """The call of docs/meta_analysis.md that crashed (issue 13, 2a): Binomial events per
    study and arm, and ONE multinomial vector of study sizes (one value per draw)."""
    counts = pd.DataFrame({"n11": [20, 5, 12], "n10": [80, 95, 60], "n01": [30, 10, 15],
                           "n00": [70, 90, 60]})
    idata = fit(build_causal_meta_model(counts), **TINY)
    post = idata["posterior"].to_dataset()
    events = np.column_stack([counts["n01"], counts["n11"]])
    totals = np.column_stack([counts["n01"] + counts["n00"], counts["n11"] + counts["n10"]])
    sizes = totals.sum(axis=1)
    ll = idata["log_likelihood"]

    def binom(c, d):
        return stats.binom.logpmf(events, totals, expit(_draw(post, "logit_risk", c, d)))

    def multinom(c, d):
        return stats.multinomial.logpmf(sizes, sizes.sum(), _draw(post, "weight", c, d))

    _check(ll["events"], ("study", "arm"), binom)
    _check(ll["n_study"], (), multinom)


def test_multivariate_meta_analysis_log_likelihood_per_study():
    """MVN density of each study's reported components (two studies miss one)."""
    _, S, YM = berkey1998()
    idata = fit(build_mvmeta_model(YM, S, structure="compound_symmetry",
                                   names=["PD", "AL"]), **TINY)
    post = idata["posterior"].to_dataset()

    def expected(c, d):
        mu, omega = _draw(post, "mu", c, d), _draw(post, "Omega", c, d)
        out = []
        for y, s in zip(YM, S, strict=True):
            o = np.isfinite(y)
            cov = (omega + s)[np.ix_(o, o)]
            out.append(stats.multivariate_normal.logpdf(y[o], mu[o], cov))
        return np.array(out)

    _check(idata["log_likelihood"]["beta_hat"], ("study",), expected)


def test_one_stage_lmm_log_likelihood_per_participant():
    """Random-intercept LMM: each participant's measured visits are one MVN vector with
    covariance sigma_b^2 J + sigma_e^2 I of their trial (one value per participant)."""
    sim = two_step(design="simulation2", trials=3, size_range=(12, 15),
                   missing_visit_fraction=0.3, z_mean=0.0, z_sd=1.0, seed=3)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    idata = fit(build_one_stage_lmm(data, structure="diagonal"), **TINY)
    post = idata["posterior"].to_dataset()
    const = idata["constant_data"]
    X, M = const["X"].values, const["measured"].values.astype(bool)
    Y = idata["observed_data"]["y"].values
    sidx = const["study_idx"].values
    assert (~M).any()  # some participants miss visits

    def expected(c, d):
        beta = _draw(post, "beta_study", c, d)
        sb, se = _draw(post, "sigma_intercept", c, d), _draw(post, "sigma_error", c, d)
        out = []
        for i in range(Y.shape[0]):
            m, j = M[i], sidx[i]
            mean = X[i][m] @ beta[j]
            cov = sb[j] ** 2 * np.ones((m.sum(), m.sum())) + se[j] ** 2 * np.eye(m.sum())
            out.append(stats.multivariate_normal.logpdf(Y[i][m], mean, cov))
        return np.array(out)

    _check(idata["log_likelihood"]["y"], ("participant",), expected)


# --------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_same_seed_gives_bit_identical_posteriors(sampler):
    """Issue 13, 3a: each sampler, two chains in parallel, seed 7 twice, then seed 8."""
    pytest.importorskip(sampler)
    table = bh.EffectTable.from_arrays([-0.9, -1.6, -0.2, 0.0, -0.5],
                                       [0.3, 0.2, 0.05, 0.01, 0.1])
    kw = dict(draws=30, tune=30, chains=2, sampler=sampler, posterior_predictive=True)

    def run(seed):
        return fit(build_meta_analysis_model(table), random_seed=seed, **kw)

    a, b, c = run(7), run(7), run(8)
    for group in ("posterior", "log_likelihood", "posterior_predictive"):
        da, db = a[group].to_dataset(), b[group].to_dataset()
        assert set(da.data_vars) == set(db.data_vars)
        for name in da.data_vars:
            np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=name)
    assert not np.array_equal(a["posterior"]["mu"].values, c["posterior"]["mu"].values)


@pytest.mark.parametrize(("setting", "match"), [
    ({"draws": 0}, "draws must be an integer >= 1, got 0"),
    ({"draws": "1000"}, "draws must be an integer >= 1, got '1000'"),
    ({"chains": 0}, "chains must be an integer >= 1"),
    ({"tune": -1}, "tune must be an integer >= 0"),
    ({"tune": 100.0}, "tune must be an integer >= 0"),
    ({"random_seed": True}, "random_seed must be an integer >= 0"),
    ({"target_accept": 0.0}, r"target_accept must be in \(0, 1\)"),
    ({"cores": 0}, "cores must be an integer >= 1"),
])
def test_bad_sampler_settings_are_refused_before_sampling(setting, match, monkeypatch):
    """Through the estimators users call, before anything is compiled or sampled."""
    import pymc as pm

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled")

    monkeypatch.setattr(pm, "sample", no_sampling)
    table = bh.EffectTable.from_arrays([-0.9, -1.6, -0.2], [0.3, 0.2, 0.05])
    with pytest.raises(ValueError, match=match):
        fit(build_meta_analysis_model(table), **setting)
    sim = bouvier2024(trials=3, patients_per_trial=40, covariates=3, seed=1)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1"])
    if "cores" not in setting:  # not a keyword of the estimators
        with pytest.raises(ValueError, match=match):
            bh.IPDMetaModel().fit(data, **setting)


# --------------------------------------------------------------------------- JAX path
def test_nutpie_jax_gives_the_posterior_of_the_numba_path():
    """sampler="nutpie_jax" (nutpie, log density and gradient compiled by JAX): the same
    posterior as the default numba-compiled nutpie, on the estimator's default path
    (log likelihood and posterior predictive kept, low-rank mass matrix of the
    partially centred form), within Monte Carlo error."""
    pytest.importorskip("jax")
    sim = bouvier2024(trials=4, patients_per_trial=300, covariates=3, seed=3)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=sim.covariates)
    fits = {}
    for sampler in ("nutpie", "nutpie_jax"):
        m = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s")
        m.fit(data, draws=500, tune=500, chains=2, random_seed=4, sampler=sampler)
        fits[sampler] = m.idata
    a, b = fits["nutpie"], fits["nutpie_jax"]
    assert {"log_likelihood", "posterior_predictive"} <= set(b.children)
    for name in ("alpha", "tau_alpha", "theta", "gamma", "eta"):
        da, db = a["posterior"][name], b["posterior"][name]
        sd = da.std(("chain", "draw"))
        # two independent runs of ~500+ effective draws: means within 0.25 SD
        diff = abs(da.mean(("chain", "draw")) - db.mean(("chain", "draw"))) / sd
        assert float(diff.max()) < 0.25, (name, diff.values)
    assert int(b["sample_stats"]["diverging"].sum()) == 0


def test_nutpie_jax_without_jax_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(ImportError, match=r"bayes_hte\[jax\]"):
        bh.inference.resolve_sampler("nutpie_jax")


# --------------------------------------------------------------------------- helper modes
def test_helper_functions_avoid_per_element_python_loops():
    """A per-draw helper runs in FAST_COMPILE (NumPy) only when no element-wise operation
    of its graph would be a Python call per element; the logit likelihood's softplus is
    written in NumPy's functions for the values, so its pointwise log likelihood stays
    there (12 s against ~2 s per demo model, docs/performance.md)."""
    import pytensor
    import pytensor.tensor as pt

    from bayes_hte import graph_modes

    x = pt.vector("x")
    assert graph_modes.python_loop_ops([pt.softplus(x) + pt.sigmoid(x)]) == ["Softplus"]
    assert graph_modes.python_loop_ops([pt.exp(x) * x + pt.cast(x, "int64")]) == []
    assert graph_modes.helper_mode(2800, outputs=[pt.softplus(x)]) is None
    assert graph_modes.helper_mode(2800, outputs=[pt.sigmoid(x)]) == "FAST_COMPILE"
    assert graph_modes.helper_mode(graph_modes.FAST_COMPILE_MAX_UNITS + 1,
                                   outputs=[pt.sigmoid(x)]) is None
    (out,) = graph_modes.numpy_evaluable([2.0 * pt.softplus(x)])
    assert graph_modes.python_loop_ops([out]) == []
    values = np.array([-800.0, -40.0, -1e-3, 0.0, 1e-3, 3.0, 40.0, 800.0])
    got = pytensor.function([x], out, mode="FAST_COMPILE")(values)
    np.testing.assert_allclose(got, 2.0 * np.logaddexp(0.0, values), rtol=1e-15)


def test_lean_logit_log_likelihood_graph_runs_in_numpy():
    """The IPD-MA model's pointwise log-likelihood graph has the likelihood module's own
    softplus, whose NumPy function PyTensor's Python linker calls on whole arrays
    (``nfunc_spec``): no per-element Python operation, so it runs in FAST_COMPILE as
    fit() runs it for a small data set (through numpy_evaluable, which leaves it alone),
    with the compiled graph's values."""
    import pytensor
    from pymc.model.transform.conditioning import remove_value_transforms

    from bayes_hte import graph_modes

    data = _ipd()
    model = remove_value_transforms(build_ipdma_model(data, heterogeneity="naive",
                                                      learner="s"))
    outs = model.logp(vars=model.observed_RVs, sum=False)
    assert graph_modes.python_loop_ops(outs) == []
    lean = graph_modes.numpy_evaluable(outs)
    assert graph_modes.helper_mode(data.n_patients, outputs=lean) == "FAST_COMPILE"
    free = [model.rvs_to_values[rv] for rv in model.free_RVs]
    rng = np.random.default_rng(2)
    start = model.initial_point()
    point = [start[v.name] + rng.normal(size=np.shape(start[v.name])) for v in free]
    fast = pytensor.function(free, lean, mode="FAST_COMPILE", on_unused_input="ignore")
    ref = pytensor.function(free, outs, on_unused_input="ignore")
    np.testing.assert_allclose(fast(*point)[0], ref(*point)[0], rtol=1e-12, atol=1e-14)
