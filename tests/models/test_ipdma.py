"""One-stage IPD-MA factory and estimator (binary outcome)."""

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

import bayes_hte as bh
from bayes_hte import diagnostics
from bayes_hte.models import ipdma
from bayes_hte.simulate.bouvier2024 import bouvier2024

GRID = [(h, lr) for h in ipdma.HETEROGENEITY for lr in ipdma.LEARNERS]
FAST = dict(draws=250, tune=400, chains=2, sampler="pymc", random_seed=3)


@pytest.fixture(scope="module")
def small():
    sim = bouvier2024(trials=4, patients_per_trial=150, covariates=3, seed=11)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=sim.covariates)
    return sim, data


@pytest.mark.parametrize("het,learner", GRID)
def test_build_every_structure(small, het, learner):
    _, data = small
    model = ipdma.build_ipdma_model(data, heterogeneity=het, learner=learner)
    # every free variable and deterministic carries named dims or is a scalar
    for rv in model.free_RVs + model.deterministics:
        dims = model.named_vars_to_dims.get(rv.name, ())
        assert len(dims) == rv.ndim, f"{rv.name} lacks dims"
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    assert model.named_vars_to_dims["y"] == ("patient",)
    if learner == "t":
        assert "arm" in model.named_vars_to_dims["theta"]
        assert "gamma" not in model.named_vars
    else:
        assert {"gamma", "eta"} <= set(model.named_vars)
    expected = {"naive": "alpha", "random_intercept": "tau_alpha",
                "stratified_intercept": "alpha_study", "rank1": "phi",
                "fully_stratified": "b_study" if learner == "s" else "b_study_control"}[het]
    assert expected in model.named_vars


def test_linear_predictor_matches_hand_computation(small):
    """Rank-1 S-learner: l = alpha_j + phi_j (theta'x + gamma z + eta'x z)."""
    _, data = small
    model = ipdma.build_ipdma_model(data, heterogeneity="rank1", parameterization="centered")
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(size=np.shape(v)) for k, v in model.initial_point().items()}
    names = ["alpha_study", "phi", "theta", "gamma", "eta"]
    outputs = model.replace_rvs_by_values([model[k] for k in names])
    fn = model.compile_fn([*outputs, model.observedlogp],
                          inputs=model.value_vars, on_unused_input="ignore", point_fn=True)
    *vals, got = fn(point)
    v = dict(zip(names, vals, strict=True))
    np.testing.assert_allclose(v["phi"].mean(), 1.0)  # zero-sum deviations
    j, x, z = data.study_idx, data.X, data.z
    lp = v["alpha_study"][j] + v["phi"][j] * (
        x @ v["theta"] + z * (v["gamma"] + x @ v["eta"]))
    expected = np.sum(data.y * lp - np.log1p(np.exp(lp)))
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_priors_are_data(small):
    _, data = small
    user = {"tau_alpha": {"sigma": 0.3}, "theta": {"dist": "StudentT", "nu": 3, "mu": 0,
                                                   "sigma": 1}}
    snapshot = {k: dict(v) for k, v in user.items()}
    model = ipdma.build_ipdma_model(data, heterogeneity="random_intercept", priors=user)
    assert user == snapshot  # not mutated
    pri = model.bayes_hte["priors"]
    assert pri["tau_alpha"] == {"dist": "HalfNormal", "sigma": 0.3}
    assert pri["theta"]["dist"] == "StudentT"
    assert ipdma.DEFAULT_PRIORS["tau_alpha"]["sigma"] == 1.0
    with pytest.raises(ValueError, match="no parameter 'tau_phi'"):
        ipdma.build_ipdma_model(data, heterogeneity="random_intercept",
                                priors={"tau_phi": {"sigma": 1}})
    with pytest.raises(ValueError, match="unknown distribution 'Normall'"):
        ipdma.build_ipdma_model(data, heterogeneity="naive",
                                priors={"alpha": {"dist": "Normall", "mu": 0}})
    with pytest.raises(ValueError, match="heterogeneity must be one of"):
        ipdma.build_ipdma_model(data, heterogeneity="random_slope")
    with pytest.raises(ValueError, match="learner must be"):
        ipdma.build_ipdma_model(data, learner="x")


def test_parameterization_choice(small):
    _, data = small
    # a binary outcome's partially centred form needs only a finite anchor per trial,
    # whatever the number of events (min_events is for time-to-event models)
    for het in ("random_intercept", "rank1"):
        for min_events in (10, 10_000):
            assert ipdma.choose_parameterization(data, min_events=min_events,
                                                 heterogeneity=het) == "partially_centered"
        for learner in ("s", "t"):
            assert ipdma.intercept_form(data, heterogeneity=het, learner=learner,
                                        parameterization="auto") == "partially_centered"
    nc = ipdma.build_ipdma_model(data, heterogeneity="random_intercept",
                                 parameterization="non_centered")
    assert "alpha_study_raw" in nc.named_vars
    c = ipdma.build_ipdma_model(data, heterogeneity="random_intercept",
                                parameterization="centered")
    assert "alpha_study_raw" not in c.named_vars
    with pytest.raises(ValueError, match="parameterization must be"):
        ipdma.build_ipdma_model(data, heterogeneity="random_intercept", parameterization="centred")


class _Captured(Exception):
    pass


def _sampler_kwargs(monkeypatch, estimator, data, **fit_kwargs) -> dict:
    """The keywords ``estimator.fit(data, **fit_kwargs)`` hands to inference.fit."""
    from bayes_hte.estimators import ipdma as estimators

    seen = {}

    def capture(model, **kwargs):
        seen.update(kwargs)
        raise _Captured

    monkeypatch.setattr(estimators, "fit", capture)
    with pytest.raises(_Captured):
        estimator.fit(data, **fit_kwargs)
    return seen


@pytest.mark.parametrize("het,sampler,accept,mass", [
    ("rank1", "nutpie", 0.95, "low_rank"),
    ("rank1", "pymc", 0.95, "diag"),
    ("fully_stratified", "nutpie", 0.9, "diag"),
    # small data: the partially centred intercepts (auto), with the low-rank correction
    ("random_intercept", "nutpie", 0.9, "low_rank"),
    ("random_intercept", "pymc", 0.9, "diag"),
])
def test_structure_sampler_defaults(small, monkeypatch, het, sampler, accept, mass):
    """target_accept / mass matrix defaults per structure reach the sampler."""
    _, data = small
    seen = _sampler_kwargs(monkeypatch, bh.IPDMetaModel(heterogeneity=het), data,
                           sampler=sampler)
    assert seen["target_accept"] == accept and seen["mass_matrix"] == mass
    seen = _sampler_kwargs(monkeypatch, bh.IPDMetaModel(heterogeneity=het), data,
                           sampler=sampler, target_accept=0.8, mass_matrix="diag")
    assert seen["target_accept"] == 0.8 and seen["mass_matrix"] == "diag"


@pytest.mark.parametrize("het,outcome,model_options,accept", [
    ("naive", "binary", {}, 0.9),
    ("rank1", "binary", {}, 0.95),
    ("fully_stratified", "binary", {}, 0.9),
    ("rank1", "time_to_event", {"baseline": "weibull"}, 0.95),
    ("fully_stratified", "time_to_event", {"baseline": "piecewise"}, 0.9),
    ("random_intercept", "time_to_event", {"baseline": "piecewise"}, 0.9),
])
def test_default_target_accept_by_structure(het, outcome, model_options, accept):
    """The default target acceptance depends on the structure, for either outcome; a
    value the user gives is used as given."""
    from bayes_hte.options import IPDMAOptions

    options = IPDMAOptions.resolve(heterogeneity=het, learner="t", outcome=outcome,
                                   parameterization="auto", model_options=model_options)
    assert options.target_accept() == accept
    assert options.target_accept(0.85) == 0.85


@pytest.mark.parametrize("form,sampler,mass", [
    ("partially_centered", "nutpie", "low_rank"), ("partially_centered", "nutpie_jax", "low_rank"),
    ("anchored", "nutpie", "low_rank"), ("partially_centered", "pymc", "diag"),
    ("non_centered", "nutpie", "diag"),
])
def test_auto_mass_matrix_follows_the_intercept_form(small, monkeypatch, form, sampler, mass):
    """mass_matrix="auto": low-rank for the partially centred and anchored intercepts
    (nutpie, either backend), diagonal for the non-centred ones and for PyMC's NUTS."""
    _, data = small
    seen = _sampler_kwargs(monkeypatch, bh.IPDMetaModel(parameterization=form), data,
                           sampler=sampler)
    assert seen["mass_matrix"] == mass


def test_mass_matrix_options(small):
    from bayes_hte.inference import fit

    _, data = small
    model = ipdma.build_ipdma_model(data, heterogeneity="naive")
    with pytest.raises(ValueError, match="needs sampler='nutpie'"):
        fit(model, sampler="pymc", mass_matrix="low_rank")
    with pytest.raises(ValueError, match="mass_matrix must be"):
        fit(model, sampler="nutpie", mass_matrix="dense")


@pytest.fixture(scope="module")
def fitted_grid(small):
    _, data = small
    out = {}
    for het, learner in GRID:
        m = bh.IPDMetaModel(heterogeneity=het, learner=learner)
        # rank-1 scales need a longer warm-up with PyMC's NUTS (diagonal mass matrix):
        # R1-T max R-hat 1.060 with 400 tuning steps, 1.016 with 800 (seed 3)
        kw = dict(FAST, tune=800) if het == "rank1" else FAST
        out[(het, learner)] = m.fit(data, **kw)
    return out


@pytest.mark.parametrize("het,learner", GRID)
def test_fit_every_structure(small, fitted_grid, het, learner):
    sim, data = small
    m = fitted_grid[(het, learner)]
    ite = m.ite()
    assert ite.dims == ("chain", "draw", "patient")
    assert ite.shape == (2, 250, data.n_patients)
    assert np.all(np.abs(ite.values) < 1)
    r = np.corrcoef(ite.mean(("chain", "draw")), sim.data["true_ite_average"])[0, 1]
    assert r > 0.6, f"{m.label}: ITE correlation with truth {r:.2f}"
    summ = diagnostics.sampling_summary(m.idata)
    assert summ["max_r_hat"] < 1.05, summ
    for group in ("posterior", "log_likelihood", "posterior_predictive", "observed_data",
                  "ipd_data"):
        assert group in m.idata
    assert "bayes_hte_priors" in m.idata["posterior"].attrs
    # a new trial adds between-trial variation: prediction intervals at least as wide
    new = m.ite(new_trial=True)
    width = ite.quantile(0.975, ("chain", "draw")) - ite.quantile(0.025, ("chain", "draw"))
    new_width = new.quantile(0.975, ("chain", "draw")) - new.quantile(0.025, ("chain", "draw"))
    if het == "naive":
        xr.testing.assert_allclose(new, ite)
    else:
        assert float((new_width - width).mean()) > 0


def test_stratified_intercept_synthesis(fitted_grid):
    m = fitted_grid[("stratified_intercept", "s")]
    post = m.idata["posterior"]
    a_s = post["alpha_study"]
    m_j = a_s.mean(("chain", "draw")).values
    v_j = a_s.var(("chain", "draw")).values
    tau2 = float(post["tau_alpha"].values.flat[0]) ** 2
    w = 1 / (v_j + tau2)
    expected = (a_s * xr.DataArray(w / w.sum(), dims="study")).sum("study")
    np.testing.assert_allclose(post["alpha"].values, expected.values)
    res = bh.comparators.meta_analysis(m_j, v_j, method="REML")
    np.testing.assert_allclose(tau2, res.tau2, rtol=1e-10)
    # T-learner: one synthesis per arm
    mt = fitted_grid[("stratified_intercept", "t")]
    assert mt.idata["posterior"]["alpha"].dims == ("chain", "draw", "arm")


def test_cate_and_summary(small, fitted_grid):
    sim, data = small
    m = fitted_grid[("random_intercept", "s")]
    cate = m.cate(by="x3")
    assert cate.dims == ("chain", "draw", "x3")
    assert list(cate["x3"].values) == [0, 1]
    ite = m.ite()
    by_hand = ite.isel(patient=np.flatnonzero(sim.data["x3"] == 1)).mean("patient")
    np.testing.assert_allclose(cate.sel(x3=1).values, by_hand.values)
    # any column, e.g. the trial
    assert m.cate(by="trial").sizes["trial"] == 4
    tab = m.summary(ci_prob=0.9)
    assert list(tab.columns) == ["mean", "sd", "ci_low", "ci_high", "pi_low", "pi_high"]
    assert len(tab) == data.n_patients
    assert (tab["ci_low"] <= tab["mean"]).all() and (tab["mean"] <= tab["ci_high"]).all()
    # the prediction interval is that of the new-trial draws, and wider
    new = m.summary(ci_prob=0.9, new_trial=True)
    assert list(new.columns) == ["mean", "sd", "ci_low", "ci_high"]
    np.testing.assert_array_equal(tab["pi_low"], new["ci_low"])
    np.testing.assert_array_equal(tab["pi_high"], new["ci_high"])
    assert ((tab["pi_high"] - tab["pi_low"]) > (tab["ci_high"] - tab["ci_low"])).mean() > 0.9
    assert list(m.summary(prediction_interval=False).columns) == ["mean", "sd", "ci_low",
                                                                  "ci_high"]
    with pytest.raises(bh.DataError, match="cate\\(by='bmi'\\): no such column"):
        m.cate(by="bmi")
    # several columns or an array: was a raw "unhashable type" TypeError
    for by in (["x1", "trial"], np.zeros(3)):
        with pytest.raises(ValueError, match=r"cate\(by=\.\.\.\) takes one column name"):
            m.cate(by=by)
    # grouping by the outcome is allowed but warned about (a post-treatment variable)
    with pytest.warns(bh.DataWarning, match=r"cate\(by='y'\) groups patients by their "
                                            "outcome"):
        m.cate(by="y")
    # a continuous column is refused (one group per patient); grouped, it is a CATE
    with pytest.raises(bh.DataError, match=r"cate\(by='x1'\): the column has \d+ distinct "
                                           r"values \(a continuous variable\?\).*pd.qcut"):
        m.cate(by="x1")
    grouped = sim.data.assign(group=pd.qcut(sim.data["x1"], 4))
    assert m.cate(by="group", newdata=grouped).sizes["group"] == 4
    # a Categorical keeps its categories' order (R's factor levels), not the text's
    bands = pd.Categorical(np.where(sim.data["x1"] < -0.5, "<-0.5",
                                    np.where(sim.data["x1"] < 0.5, "-0.5-0.5", ">0.5")),
                           categories=["<-0.5", "-0.5-0.5", ">0.5"], ordered=True)
    by_band = m.cate(by="band", newdata=sim.data.assign(band=bands))
    assert list(by_band["band"].values) == ["<-0.5", "-0.5-0.5", ">0.5"]
    low = ite.isel(patient=np.flatnonzero(sim.data["x1"] < -0.5)).mean("patient")
    np.testing.assert_allclose(by_band.sel(band="<-0.5").values, low.values)


def test_newdata(small, fitted_grid):
    sim, data = small
    m = fitted_grid[("fully_stratified", "s")]
    new = sim.data.iloc[:5][["x1", "x2", "x3"]]
    np.testing.assert_allclose(m.ite(newdata=new).values, m.ite().isel(patient=slice(0, 5)))
    with pytest.raises(bh.DataError, match="newdata lacks covariate column 'x2'"):
        m.ite(newdata=new[["x1", "x3"]])
    # no rows: raw IndexError / reshape errors before; a repeated covariate column: a raw
    # pandas "truth value of a Series is ambiguous"
    for call in (lambda d: m.ite(newdata=d), lambda d: m.summary(newdata=d),
                 lambda d: m.linear_predictors(d)):
        with pytest.raises(bh.DataError, match="newdata has no rows"):
            call(new.iloc[:0])
    twice = new.copy()
    twice.insert(1, "x2", new["x1"].to_numpy(), allow_duplicates=True)
    for call in (lambda d: m.ite(newdata=d), lambda d: m.summary(newdata=d)):
        with pytest.raises(bh.DataError, match=r"newdata has the columns \['x2'\] more than "
                                               "once"):
            call(twice)


@pytest.mark.parametrize("het,learner", [("random_intercept", "s"), ("rank1", "t")])
def test_predict_gives_each_arms_risk_whose_difference_is_the_ite(small, fitted_grid, het,
                                                                   learner):
    """brms's posterior_epred for both arms: expit of each arm's linear predictor."""
    sim, data = small
    m = fitted_grid[(het, learner)]
    risk = m.predict()
    assert risk.name == "risk" and risk.dims == ("chain", "draw", "patient", "arm")
    assert list(risk["arm"].values) == ["control", "treated"]
    assert ((risk > 0) & (risk < 1)).all()
    lp0, lp1 = m.linear_predictors()
    np.testing.assert_allclose(risk.sel(arm="control").values, 1 / (1 + np.exp(-lp0.values)))
    np.testing.assert_allclose(risk.sel(arm="treated").values, 1 / (1 + np.exp(-lp1.values)))
    xr.testing.assert_allclose(risk.sel(arm="treated", drop=True)
                               - risk.sel(arm="control", drop=True), m.ite(), rtol=0, atol=0)
    # the fitted risks track the simulated ones (the patients' own arm, average trial)
    new = m.predict(new_trial=True, newdata=sim.data.iloc[:7])
    np.testing.assert_allclose(
        (new.sel(arm="treated", drop=True) - new.sel(arm="control", drop=True)).values,
        m.ite(new_trial=True, newdata=sim.data.iloc[:7]).values)
    assert new.attrs["new_trial"] == 1 and new.attrs["scale"] == "event probability"
    with pytest.raises(ValueError, match="horizon applies to time-to-event models only"):
        m.predict(horizon=3.0)
    # a flag is a bool and a seed an integer, checked before anything is computed:
    # new_trial="False" ran as a new trial, "yes" failed in int() after the work, a
    # seed of 1.5 gave numpy's SeedSequence TypeError
    for call in (m.predict, m.ite, m.linear_predictors, m.summary):
        with pytest.raises(ValueError, match="new_trial must be True or False"):
            call(new_trial="False")
    with pytest.raises(ValueError, match="new_trial must be True or False"):
        m.cate(by="x3", new_trial=None)
    for seed in (1.5, -1, True, "1"):
        with pytest.raises(ValueError, match="random_seed must be None or an integer >= 0"):
            m.predict(new_trial=True, random_seed=seed)
    assert m.predict(new_trial=np.True_, random_seed=np.int64(3)).attrs["new_trial"] == 1


@pytest.mark.parametrize("het,learner", [("random_intercept", "s"), ("rank1", "t"),
                                         ("fully_stratified", "s")])
def test_predict_in_each_patients_own_trial_is_the_likelihoods(small, fitted_grid, het,
                                                                learner):
    """own_trial=True (brms's re_formula = NULL): at each patient's own arm, the risk is the
    one the likelihood used, so its Bernoulli log density is the stored pointwise log
    likelihood, draw by draw (an independent record: computed by the sampler's graph)."""
    sim, data = small
    m = fitted_grid[(het, learner)]
    risk = m.predict(own_trial=True)
    assert risk.attrs["own_trial"] == 1
    own = risk.values[..., np.arange(data.n_patients), data.z]      # (chain, draw, patient)
    y = data.y
    loglik = y * np.log(own) + (1 - y) * np.log1p(-own)
    np.testing.assert_allclose(loglik, m.idata["log_likelihood"]["y"].values, rtol=1e-9,
                               atol=1e-12)
    # the ITE in own trials differs from the average trial's where trials differ
    assert not np.allclose(m.ite(own_trial=True).values, m.ite().values)
    # newdata with the study column: the same rows give the same values
    rows = sim.data.iloc[[3, 250, 599]]
    np.testing.assert_allclose(m.predict(rows, own_trial=True).values,
                               risk.values[:, :, [3, 250, 599], :])
    with pytest.raises(bh.DataError, match="needs the study column 'trial'"):
        m.predict(rows.drop(columns="trial"), own_trial=True)
    with pytest.raises(bh.DataError, match=r"studies not seen in the fit, \['T9'\]"):
        m.predict(rows.assign(trial="T9"), own_trial=True)
    with pytest.raises(ValueError, match="exclude each other"):
        m.ite(new_trial=True, own_trial=True)
    with pytest.raises(bh.DataError, match="newdata lacks covariate column 'x2'"):
        m.predict(newdata=sim.data[["x1", "x3"]])


def test_save_load_roundtrip(tmp_path, small, fitted_grid):
    m = fitted_grid[("rank1", "t")]
    path = m.save(tmp_path / "r1t.nc")
    back = bh.IPDMetaModel.load(path)
    assert back.heterogeneity == "rank1" and back.learner == "t"
    xr.testing.assert_allclose(back.ite(), m.ite())
    np.testing.assert_allclose(back.data.X, m.data.X)
    assert isinstance(back.model, pm.Model)
    with pytest.raises(RuntimeError, match="not fitted"):
        bh.IPDMetaModel().ite()


def test_recovery_random_intercept_s():
    """Truth inside the 95% intervals; ITE tracks the true ITE (7 trials x 400)."""
    sim = bouvier2024(trials=7, patients_per_trial=400, covariates=3, seed=5)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=sim.covariates)
    m = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s")
    m.fit(data, draws=500, tune=500, chains=2, sampler="pymc", random_seed=2,
          posterior_predictive=False)
    post = m.idata["posterior"].to_dataset()
    q = post.quantile([0.025, 0.975], ("chain", "draw"))
    truth = sim.truth
    checks = [("gamma", None, truth["gamma"]), ("alpha", None, truth["alpha"])]
    checks += [("eta", c, v) for c, v in truth["eta"].items()]
    checks += [("theta", c, v) for c, v in truth["theta"].items()]
    for name, cov, value in checks:
        lo, hi = q[name].sel(covariate=cov).values if cov else q[name].values
        assert lo <= value <= hi, f"{name}[{cov}] = {value} outside ({lo:.3f}, {hi:.3f})"
    r = np.corrcoef(m.ite().mean(("chain", "draw")), sim.data["true_ite_average"])[0, 1]
    assert r > 0.95


def test_pointwise_log_likelihood_matches_pymc(small):
    """Our log-likelihood group equals PyMC's compute_log_likelihood where that works."""
    from bayes_hte.inference import fit

    _, data = small
    model = ipdma.build_ipdma_model(data, heterogeneity="random_intercept", learner="t")
    idata = fit(model, draws=20, tune=50, chains=1, sampler="pymc", random_seed=3,
                posterior_predictive=False)
    ours = idata["log_likelihood"]["y"]
    ref = pm.compute_log_likelihood(idata, model=model, extend_inferencedata=False,
                                    progressbar=False)["y"]
    np.testing.assert_allclose(ours.values, ref.values, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("learner", ["s", "t"])
def test_anchored_form_is_the_centred_model(small, learner):
    """Same density as the centred form after alpha = mean(alpha_j) + tau u / sqrt(J).

    log p_centred(alpha_j, tau, alpha) = log p_anchored(alpha_j, tau, u) - log(tau/sqrt(J))
    + const: the difference must not depend on the point.
    """
    _, data = small
    kw = dict(heterogeneity="random_intercept", learner=learner)
    cen = ipdma.build_ipdma_model(data, parameterization="centered", **kw)
    anc = ipdma.build_ipdma_model(data, parameterization="anchored", **kw)
    assert "alpha_anchor" in anc.named_vars and "alpha_anchor" not in cen.named_vars
    f_cen, f_anc = cen.compile_logp(), anc.compile_logp()
    rng = np.random.default_rng(0)
    n_j = data.n_studies
    diffs = []
    for _ in range(4):
        pa = {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in anc.initial_point().items()}
        tau = np.exp(pa["tau_alpha_log__"])
        pc = {k: v for k, v in pa.items() if k != "alpha_anchor"}
        pc["alpha"] = pa["alpha_study"].mean(0) + tau * pa["alpha_anchor"] / np.sqrt(n_j)
        diffs.append(f_cen(pc) - f_anc(pa) + np.log(tau / np.sqrt(n_j)).sum())
    np.testing.assert_allclose(diffs, diffs[0], atol=1e-8)


@pytest.mark.parametrize("heterogeneity", ["random_intercept", "rank1"])
@pytest.mark.parametrize("learner", ["s", "t"])
def test_partially_centred_form_is_the_centred_model(small, learner, heterogeneity):
    """Same density as the centred form after the triangular change of variables.

    alpha = m(tau) + sqrt(V(tau)) u and alpha_j = w a_hat + (1 - w) alpha + sqrt(w) s r
    (w_j = tau^2 / (tau^2 + s_j^2), 1/V = sum 1/(tau^2 + s_j^2), m = V sum a_hat/(tau^2 +
    s_j^2)): log p_pc(tau, u, r) = log p_centred(tau, alpha, alpha_j) + log sqrt(V)
    + sum log(sqrt(w_j) s_j) exactly, at points far from the anchors as well. Rank-1:
    the partially centred model's scales are non-centred (phi_dev = tau_phi phi_dev_raw,
    sum-to-zero over the J trials), the centred model's centred, which adds the Jacobian
    (J - 1) log tau_phi of that scaling (per arm).
    """
    _, data = small
    kw = dict(heterogeneity=heterogeneity, learner=learner)
    cen = ipdma.build_ipdma_model(data, parameterization="centered", **kw)
    pc = ipdma.build_ipdma_model(data, parameterization="partially_centered", **kw)
    assert pc.bayes_hte["intercept_form"] == "partially_centered"
    est, se = ipdma.intercept_anchors(data, learner)
    f_cen, f_pc = cen.compile_logp(), pc.compile_logp()
    rng = np.random.default_rng(0)
    diffs = []
    for scale in (0.3, 0.3, 2.0, 2.0):
        pp = {k: v + scale * rng.normal(size=np.shape(v)) for k, v in pc.initial_point().items()}
        tau = np.exp(pp["tau_alpha_log__"])
        total = tau**2 + se**2
        prec = (1 / total).sum(0)
        alpha = (est / total).sum(0) / prec + pp["alpha_z"] / np.sqrt(prec)
        w = tau**2 / total
        a_j = w * est + (1 - w) * alpha + np.sqrt(w) * se * pp["alpha_study_z"]
        pcen = {"alpha": alpha, "alpha_study": a_j, "tau_alpha_log__": pp["tau_alpha_log__"]}
        pcen |= {k: v for k, v in pp.items()
                 if k not in ("alpha_z", "alpha_study_z", "phi_dev_raw_zerosum__")}
        jac = 0.5 * np.log(1 / prec).sum() + np.log(np.sqrt(w) * se).sum()
        if heterogeneity == "rank1":
            tau_phi = np.exp(pp["tau_phi_log__"])
            raw = pp["phi_dev_raw_zerosum__"]  # (*arm, J - 1): the transform is linear
            pcen["phi_dev_zerosum__"] = (tau_phi[:, None] if learner == "t" else tau_phi) * raw
            jac += (data.n_studies - 1) * np.log(tau_phi).sum()
        diffs.append(f_pc(pp) - f_cen(pcen) - jac)
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8)


@pytest.mark.parametrize("learner", ["s", "t"])
def test_partially_centred_form_needs_events_in_every_trial(small, learner):
    sim, _ = small
    df = sim.data.copy()
    first = df["trial"].iloc[0]
    rows = (df["trial"] == first) & ((df["treat"] == 1) if learner == "t" else True)
    df.loc[rows, "y"] = 0
    data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2", "x3"])
    arm = r", treated arm" if learner == "t" else ""
    with pytest.raises(bh.DataError, match=rf"trial '{first}'{arm} has 0 events"):
        ipdma.build_ipdma_model(data, heterogeneity="random_intercept", learner=learner,
                                parameterization="partially_centered")
    # auto never picks it there (the trial's intercept has no finite anchor)
    for het in ("random_intercept", "rank1"):
        assert ipdma.choose_parameterization(data, learner=learner,
                                             heterogeneity=het) == "non_centered"


@pytest.mark.parametrize("learner", ["s", "t"])
def test_anchors_of_uninformative_trials_are_non_centred(small, learner):
    """``uninformative="non_centered"`` (the SBC's anchors for simulated outcomes): a
    trial (arm) without events gets the anchor of a trial without patients, and the
    other anchors are those of the regression on the other patients."""
    sim, _ = small
    df = sim.data.copy()
    rows = (df["trial"] == "T2") & ((df["treat"] == 1) if learner == "t" else True)
    df.loc[rows, "y"] = 0
    data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2", "x3"])
    est, se = ipdma.intercept_anchors(data, learner, uninformative="non_centered")
    # the regression without those patients: T2 (or T2's treated arm) dropped
    keep = ~rows.to_numpy()
    ref_est, ref_se = ipdma.intercept_anchors(
        replace(data, y=data.y[keep], X=data.X[keep], z=data.z[keep],
                study_idx=data.study_idx[keep]), learner, uninformative="non_centered")
    hole = (1, 1) if learner == "t" else (1,)
    assert est[hole] == 0.0 and se[hole] == ipdma.NO_PATIENTS_SE
    np.testing.assert_allclose(est, ref_est, atol=1e-8)
    np.testing.assert_allclose(se, ref_se, atol=1e-8)
    assert np.all(np.delete(se.ravel(), np.ravel_multi_index(hole, se.shape)) < 1)
    # the model's hook gives the anchors of the outcomes swapped in (its own: the build's)
    model = ipdma.build_ipdma_model(data.subset(data.study_idx != 1), learner=learner)
    own = model.bayes_hte["derived_data"]({"y_observed": model["y_observed"].get_value()})
    np.testing.assert_array_equal(own["alpha_anchor"], model["alpha_anchor"].get_value())
    np.testing.assert_array_equal(own["alpha_anchor_se"], model["alpha_anchor_se"].get_value())


def test_intercept_anchors_stay_finite_under_separation():
    """Four trials of 20 patients with one non-event each: the covariates separate the
    non-events (the unpenalised regression's intercepts run off to ~27 at seed 0). The
    penalised anchors stay finite and moderate, and the default model (partially
    centred) has a finite log density."""
    sim = bouvier2024(trials=4, patients_per_trial=20, covariates=3, seed=0)
    df = sim.data.assign(y=1)
    df.loc[df.groupby("trial").head(1).index, "y"] = 0
    data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2", "x3"])
    est, se = ipdma.intercept_anchors(data, "s")
    assert np.all(np.abs(est) < 5) and np.all(se < 2.5), (est, se)
    model = ipdma.build_ipdma_model(data, heterogeneity="random_intercept")
    assert model.bayes_hte["intercept_form"] == "partially_centered"
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_intercept_anchors_are_the_penalised_intercept_mode(small):
    """The anchors maximise the trial-intercept logistic likelihood penalised by normal
    priors (ANCHOR_PRIOR_SD): its score is 0 there."""
    _, data = small
    est, se = ipdma.intercept_anchors(data, "s")
    X = np.asarray(data.X, float)
    z = data.z.astype(float)
    # refit with the anchors fixed: the remaining coefficients by scipy's optimiser
    from scipy.optimize import minimize

    sd_a, sd_b = ipdma.ANCHOR_PRIOR_SD  # the penalties: normal priors' SDs

    def nll(b, a):
        lp = a[data.study_idx] + X @ b[:X.shape[1]] + z * (b[X.shape[1]] + X @ b[X.shape[1] + 1:])
        return (np.sum(np.logaddexp(0, lp) - data.y * lp)
                + 0.5 * np.sum(a**2) / sd_a**2 + 0.5 * np.sum(b**2) / sd_b**2)

    rest = minimize(nll, np.zeros(2 * X.shape[1] + 1), args=(est,), method="BFGS").x
    moved = minimize(lambda a: nll(rest, a), est, method="BFGS").x
    np.testing.assert_allclose(moved, est, atol=1e-3)
    assert se.shape == (data.n_studies,) and np.all((se > 0.05) & (se < 1))


def test_default_random_intercept_fit_raises_no_potentials_warning(small):
    """The partially centred intercepts are written with potentials; every free variable
    is in the posterior, so PyMC's warning that posterior predictive sampling ignores
    potentials does not apply and is not shown (the predictive group is still made)."""
    _, data = small
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = bh.IPDMetaModel(heterogeneity="random_intercept").fit(
            data, draws=30, tune=30, chains=1, random_seed=1)
    assert m.idata["posterior"].attrs  # fitted
    assert m.options.parameterization == "auto" and "alpha_anchor" in m.idata["constant_data"]
    assert "posterior_predictive" in m.idata
    assert not [w for w in caught if "Potentials" in str(w.message)]
