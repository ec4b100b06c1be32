"""Estimators of the Bayesian synthesis models: fit with the default log likelihood,
agreement with the frequentist comparators, summaries, NetCDF round trip, bad inputs.

Small real fits (2 chains x 300 draws). Tolerances as in tests/models/test_synthesis_*.py
(the factories' own tests): the posterior of the pooled effect centres on the REML / causal
estimate within a fraction of its spread.
"""

import ast
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy import stats

import bayes_hte as bh
from bayes_hte.comparators import causal_meta_analysis, meta_analysis, mvmeta, two_step_ipdma
from bayes_hte.effects.synthesis import PosteriorSummary, coefficient_table
from bayes_hte.estimators.synthesis_multivariate import CoefficientEstimates
from bayes_hte.models.synthesis_univariate import TAU_PRIORS
from bayes_hte.simulate.berenfeld2026 import berenfeld2026
from bayes_hte.simulate.two_step import two_step
from tests._helpers import berkey1998, reference

SMALL = {"draws": 300, "tune": 300, "chains": 2}
COLUMNS = ["mean", "sd", "ci_low", "ci_high"]

# BCG vaccine trials, log RR (R metafor 3.8-1 escalc(measure="RR", data=dat.bcg)), in
# tests/data/metafor_bcg.json
_ESCALC_RR = reference("metafor_bcg")["escalc"]["RR"]
BCG_YI = np.array(_ESCALC_RR["yi"])
BCG_VI = np.array(_ESCALC_RR["vi"])
BCG = bh.EffectTable.from_arrays(BCG_YI, BCG_VI, labels=[f"trial {i}" for i in range(13)],
                                 measure="RR", scale="log")

# Berkey et al. (1998), metafor dat.berkey1998; YM: two components removed
Y, S, YM = berkey1998()
TRIALS = ["Pihlstrom", "Lindhe", "Knowles", "Ramfjord", "Becker"]


def _roundtrip(m, tmp_path):
    back = type(m).load(m.save(tmp_path / "fit.nc"))
    assert back._options() == m._options()
    assert isinstance(back.model, pm.Model)
    assert set(back.idata.children) >= {"posterior", "log_likelihood", m.data_group}
    xr.testing.assert_allclose(back.idata["log_likelihood"].to_dataset(),
                               m.idata["log_likelihood"].to_dataset())
    return back


# ------------------------------------------------------------------------ normal–normal
@pytest.fixture(scope="module")
def meta_fit():
    return bh.MetaAnalysisModel().fit(BCG, random_seed=3, **SMALL)


def test_meta_analysis_model_agrees_with_reml(meta_fit):
    m = meta_fit
    reml = meta_analysis(BCG, method="REML")
    tab = m.summary()
    assert list(tab.columns) == COLUMNS and list(tab.index) == ["mu", "tau", "theta_new"]
    assert tab.index.name == "parameter"
    assert abs(tab.loc["mu", "mean"] - reml.estimate) < 0.1
    assert 0.7 * reml.se < tab.loc["mu", "sd"] < 1.5 * reml.se
    assert tab.loc["tau", "ci_low"] < np.sqrt(reml.tau2) < tab.loc["tau", "ci_high"]
    # a new study's interval is wider than mu's and near the REML prediction interval
    assert tab.loc["theta_new", "ci_low"] < tab.loc["mu", "ci_low"]
    assert abs(tab.loc["theta_new", "ci_low"] - reml.pi[0]) < 0.5
    assert abs(tab.loc["theta_new", "ci_high"] - reml.pi[1]) < 0.5
    # the default log likelihood: one value per study
    assert m.idata["log_likelihood"]["y"].dims == ("chain", "draw", "study")
    res = m.result(ci_prob=0.9)
    assert isinstance(res, PosteriorSummary) and res.scale == "log" and res.ci_prob == 0.9
    assert res.ci_low < res.estimate < res.ci_high and res.sd == res.se
    assert res.pi[0] < res.ci_low and res.pi[1] > res.ci_high
    par = m.parameters()
    assert {"mu", "tau"} <= set(par.index) and "r_hat" in par.columns


def test_meta_analysis_model_roundtrip(meta_fit, tmp_path):
    back = _roundtrip(meta_fit, tmp_path)
    pd.testing.assert_frame_equal(back.summary(), meta_fit.summary())
    np.testing.assert_array_equal(back.data.yi, BCG.yi)
    np.testing.assert_array_equal(back.data.vi, BCG.vi)
    assert back.data.labels == BCG.labels
    assert (back.data.measure, back.data.scale) == ("RR", "log")
    with pytest.raises(ValueError, match="holds a 'MetaAnalysisModel'"):
        bh.CausalMetaModel.load(tmp_path / "fit.nc")


def test_meta_analysis_model_inputs():
    m = bh.MetaAnalysisModel(tau_prior="half_cauchy", parameterization="non_centered")
    built = m.build(BCG)
    assert built.bayes_hte["tau_prior"] == "half_cauchy"
    with pytest.raises(ValueError, match="tau_prior must be one of"):
        bh.MetaAnalysisModel(tau_prior="jeffreys")
    with pytest.raises(bh.DataError, match="not finite in study 'b'"):
        m.fit([0.1, np.nan, 0.3], [0.1, 0.1, 0.1], labels=["a", "b", "c"])
    with pytest.raises(bh.DataError, match="vi must be finite and > 0, but is not in study 'c'"):
        m.fit([0.1, 0.2, 0.3], [0.1, 0.1, 0.0], labels=["a", "b", "c"])
    with pytest.raises(bh.DataError, match="vi column 'vi' is not in the data frame"):
        m.fit(pd.DataFrame({"yi": [0.1, 0.2], "var": [0.1, 0.1]}))
    with pytest.raises(bh.DataError, match="vi \\(sampling variances\\) is required"):
        m.fit([0.1, 0.2])
    with pytest.raises(bh.DataError, match="already holds them"):
        m.fit(BCG, BCG_VI)
    with pytest.raises(bh.DataError, match="at least 2 studies"):
        m.fit([0.1], [0.1])
    with pytest.raises(RuntimeError, match="not fitted"):
        m.summary()


@pytest.mark.parametrize("tau_prior", ["half_normal", "half_cauchy", "half_student_t",
                                       "exponential", "uniform"])
def test_default_tau_prior_on_risk_differences_warns_with_a_scale_that_fits(tau_prior):
    """tau's default scales suit log RR / log OR; P(tau > 0.1) under them is 0.84
    (half-normal 0.5), 0.87 (half-Cauchy 0.5), 0.85 (half-t 3, 0.5), 0.82 (exponential
    2), 0.98 (uniform 0-5): on risk differences the warning suggests the same prior with
    P(tau > 0.1) = 0.05 (to the suggestion's 3 digits), which builds without it."""
    rd = bh.EffectTable.from_arrays([0.05, -0.02, 0.01], [0.001, 0.002, 0.0015],
                                    measure="RD", scale="identity")
    m = bh.MetaAnalysisModel(tau_prior=tau_prior)
    with pytest.warns(bh.DataWarning, match="the risk differences get tau's prior "
                      f"'{tau_prior}'.*more than 80% of its mass") as rec:
        m.build(rd)
    text = str(rec[0].message)
    suggestion = ast.literal_eval(text.split("priors=")[1].split(" (the same")[0])
    spec = {**TAU_PRIORS[tau_prior], **suggestion["tau"]}
    tail = {"HalfNormal": lambda p: 2 * stats.norm.sf(0.1 / p["sigma"]),
            "HalfCauchy": lambda p: 2 * stats.cauchy.sf(0.1 / p["beta"]),
            "HalfStudentT": lambda p: 2 * stats.t.sf(0.1 / p["sigma"], p["nu"]),
            "Exponential": lambda p: np.exp(-0.1 * p["lam"]),
            "Uniform": lambda p: (p["upper"] - 0.1) / (p["upper"] - p["lower"])}
    assert tail[spec["dist"]](spec) == pytest.approx(0.05, abs=0.003)
    # an empty override keeps the default prior, and the warning
    with pytest.warns(bh.DataWarning, match="the risk differences get tau's prior"):
        bh.MetaAnalysisModel(tau_prior=tau_prior, priors={"tau": {}}).build(rd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bh.MetaAnalysisModel(tau_prior=tau_prior, priors=suggestion).build(rd)
        # log ratios keep the defaults silently
        bh.MetaAnalysisModel(tau_prior=tau_prior).build(
            bh.EffectTable.from_arrays([0.5, -0.2, 0.1], [0.1, 0.2, 0.15], measure="RR",
                                       scale="log"))


# ------------------------------------------------------------------------ causal
@pytest.fixture(scope="module")
def causal_fit():
    sim = berenfeld2026(1000, seed=3)
    return sim, bh.CausalMetaModel().fit(sim.arm_table(), random_seed=3, **SMALL)


def test_causal_meta_model_agrees_with_the_frequentist_estimator(causal_fit):
    sim, m = causal_fit
    tab = m.summary()
    assert list(tab.columns) == COLUMNS and list(tab.index) == ["RD", "RR", "OR"]
    for measure in ("RD", "RR", "OR"):
        freq = causal_meta_analysis(sim.counts, measure)
        post = m.result(measure)
        assert post.label == measure and post.scale == "natural"
        assert abs(post.estimate - freq.estimate) < 0.3 * freq.se
        assert abs(tab.loc[measure, "mean"] - freq.estimate) < 0.5 * freq.se
        assert 0.8 * freq.se < tab.loc[measure, "sd"] < 1.25 * freq.se
        truth = sim.truth["theta_causal"][measure]
        assert tab.loc[measure, "ci_low"] < truth < tab.loc[measure, "ci_high"]
    # the default log likelihood: per study and arm, and one multinomial study-size vector
    ll = m.idata["log_likelihood"]
    assert ll["events"].dims == ("chain", "draw", "study", "arm")
    assert ll["n_study"].dims == ("chain", "draw")
    assert np.isfinite(ll["n_study"]).all()
    assert {"psi[control]", "theta[RR]"} <= set(m.parameters().index)


def test_causal_meta_model_roundtrip(causal_fit, tmp_path):
    _, m = causal_fit
    back = _roundtrip(m, tmp_path)
    pd.testing.assert_frame_equal(back.summary(), m.summary())
    assert back.data.labels == m.data.labels
    for c in ("n11", "n10", "n01", "n00"):
        np.testing.assert_array_equal(getattr(back.data, c), getattr(m.data, c))


def test_causal_meta_model_inputs():
    counts = pd.DataFrame({"study": ["a", "b", "c"], "n11": [5, 7, 9], "n10": [45, 43, 41],
                           "n01": [10, 12, 8], "n00": [40, 38, 42]})
    user = bh.CausalMetaModel(weights={"a": 0.5, "b": 0.5, "c": 0.0})
    assert user.build(bh.ArmTable.from_frame(counts)).bayes_hte["weights"] == "user"
    assert user._options()["weights"] == {"a": 0.5, "b": 0.5, "c": 0.0}
    with pytest.raises(bh.DataError, match="'n11' \\(treated events\\) is negative in study 'b'"):
        bh.CausalMetaModel().fit(counts.assign(n11=[5, -1, 9]))
    with pytest.raises(bh.DataError, match="count column 'n00'"):
        bh.CausalMetaModel().fit(counts.drop(columns="n00"))
    with pytest.raises(bh.DataError, match="missing \\['c'\\]"):
        bh.CausalMetaModel(weights={"a": 0.5, "b": 0.5}).fit(counts)
    with pytest.raises(bh.DataError, match="ArmTable or a DataFrame"):
        bh.CausalMetaModel().fit(counts.to_numpy())
    with pytest.raises(ValueError, match="membership must be one of"):
        bh.CausalMetaModel(membership="sometimes")
    with pytest.raises(ValueError, match="weights must be one of"):
        bh.CausalMetaModel(weights="equal")


# ------------------------------------------------------------------------ multivariate
@pytest.fixture(scope="module")
def mv_fit():
    m = bh.MultivariateMetaModel(structure="compound_symmetry")
    return m.fit(YM, S, names=["PD", "AL"], study_labels=TRIALS, random_seed=3,
                 sampler="pymc", **SMALL)


def test_multivariate_meta_model_agrees_with_reml(mv_fit):
    m = mv_fit
    reml = mvmeta(YM, S, method="REML", structure="compound_symmetry")
    tab = m.summary()
    assert list(tab.columns) == COLUMNS and list(tab.index) == ["PD", "AL"]
    assert np.all(np.abs(tab["mean"].to_numpy() - reml.estimate) < tab["sd"].to_numpy())
    np.testing.assert_allclose(tab["mean"], coefficient_table(m.idata)["estimate"])
    new = m.summary(new_trial=True)
    with pytest.raises(ValueError, match="new_trial must be True or False"):
        m.summary(new_trial="True")
    assert np.all(new["ci_low"] < tab["ci_low"]) and np.all(new["ci_high"] > tab["ci_high"])
    # new-trial draws default to the fit's seed: reproducible
    xr.testing.assert_equal(m.new_trial_coefficients(), m.new_trial_coefficients())
    assert m.new_trial_coefficients().dims == ("chain", "draw", "coef")
    # one log-likelihood value per study (the MVN density of its reported components)
    assert m.idata["log_likelihood"]["beta_hat"].dims == ("chain", "draw", "study")
    assert list(m.idata["log_likelihood"]["study"].values) == TRIALS
    assert {"mu[PD]", "tau", "rho"} <= set(m.parameters().index)


def test_multivariate_meta_model_roundtrip(mv_fit, tmp_path):
    back = _roundtrip(mv_fit, tmp_path)
    pd.testing.assert_frame_equal(back.summary(), mv_fit.summary())
    np.testing.assert_array_equal(back.data.estimates, YM)           # NaN kept
    np.testing.assert_array_equal(back.data.covariances, S)
    assert back.data.names == ("PD", "AL") and back.data.study_labels == tuple(TRIALS)
    xr.testing.assert_equal(back.new_trial_coefficients(), mv_fit.new_trial_coefficients())


def test_multivariate_meta_model_inputs():
    m = bh.MultivariateMetaModel(structure="diagonal")
    frame = pd.DataFrame(Y, index=TRIALS, columns=["PD", "AL"])
    data = CoefficientEstimates.from_arrays(frame, S)
    assert data.names == ("PD", "AL") and data.study_labels == tuple(TRIALS)
    assert m.build(data).coords["study"] == tuple(TRIALS)
    bad = S.copy()
    bad[2] = [[0.01, 0.02], [0.02, 0.01]]
    with pytest.raises(bh.DataError, match="not positive definite on the reported components "
                       "in study '3'"):   # by position from 1
        m.fit(Y, bad)
    with pytest.raises(bh.DataError, match="in study 'Knowles'"):   # named by its label
        m.fit(frame, bad)
    # one study: refused as mvmeta refuses it (it sampled with 178 divergences)
    with pytest.raises(bh.DataError, match="needs at least 2 studies, got 1"):
        m.fit(Y[:1], S[:1])
    with pytest.raises(bh.DataError, match="names \\(3\\)"):
        m.fit(Y, S, names=["a", "b", "c"])
    with pytest.raises(bh.DataError, match="covariances \\(k, p, p\\) are required"):
        m.fit(Y)
    with pytest.raises(bh.DataError, match="shape \\(k, p\\)"):
        m.fit(Y[:, 0], S)
    with pytest.raises(ValueError, match="structure must be one of"):
        bh.MultivariateMetaModel(structure="ar1")


# ------------------------------------------------------------------------ one-stage LMM
def test_longitudinal_meta_model_agrees_with_two_step(tmp_path):
    """Same IPD both ways (as tests/models/test_synthesis_multivariate.py): the one-stage
    Bayesian LMM vs the two-step REML, compound-symmetric Omega; one trial lacks visit 3."""
    sim = two_step(design="simulation2", trials=4, tau2=0.1, size_range=(50, 70),
                   missing_visit_fraction=0.25, z_mean=0.0, z_sd=1.0, seed=8)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    two = two_step_ipdma(data, structure="compound_symmetry")
    m = bh.LongitudinalMetaModel(structure="compound_symmetry", priors={"tau": {"sigma": 0.5}})
    m.fit(data, random_seed=4, sampler="pymc", **SMALL)
    tab = m.summary()
    assert list(tab.columns) == COLUMNS and tab.index.tolist() == list(two.step2.names)
    diff = np.abs(tab["mean"].to_numpy() - two.step2.estimate)
    assert np.all(diff < tab["sd"].to_numpy()), (tab, two.step2.estimate)
    ll = m.idata["log_likelihood"]["y"]
    assert ll.dims == ("chain", "draw", "participant") and ll.sizes["participant"] == \
        data.n_subjects
    assert "sigma_intercept[" + str(data.study_labels[0]) + "]" in m.parameters().index
    back = _roundtrip(m, tmp_path)
    pd.testing.assert_frame_equal(back.summary(), tab)
    np.testing.assert_array_equal(back.data.y, data.y)
    np.testing.assert_array_equal(back.data.X, data.X)
    assert back.data.visit_labels == data.visit_labels
    assert back.data.study_labels == data.study_labels
    np.testing.assert_array_equal(back.data.subject_study, data.subject_study)


def test_longitudinal_data_storage_keeps_categorical_visits(tmp_path):
    sim = two_step(trials=2, size_range=(20, 20), seed=1)
    df = sim.data.copy()
    visit = sim.columns["visit"]
    order = [f"v{v}" for v in sorted(df[visit].unique())][::-1]       # not text order
    df[visit] = pd.Categorical([f"v{v}" for v in df[visit]], categories=order, ordered=True)
    data = bh.LongitudinalData.from_frame(df, **sim.columns)
    m = bh.LongitudinalMetaModel()
    path = tmp_path / "data.nc"
    m._data_to_dataset(data).to_netcdf(path, engine="h5netcdf")
    back = bh.LongitudinalMetaModel._data_from_dataset(xr.open_dataset(path,
                                                                       engine="h5netcdf"))
    assert back.visit_labels == data.visit_labels == tuple(order)
    np.testing.assert_array_equal(back.y, data.y)
    np.testing.assert_array_equal(back.design_matrix().X, data.design_matrix().X)


def test_longitudinal_meta_model_inputs():
    sim = two_step(trials=1, size_range=(30, 30), seed=1)
    one = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    m = bh.LongitudinalMetaModel()
    with pytest.raises(bh.DataError, match="needs at least 2 trials \\(study column"):
        m.fit(one)
    with pytest.raises(bh.DataError, match="must be a LongitudinalData"):
        m.fit(sim.data)
    with pytest.raises(ValueError, match="within must be one of"):
        bh.LongitudinalMetaModel(within="ar1")
    with pytest.raises(ValueError, match="parameterization must be one of"):
        bh.LongitudinalMetaModel(parameterization="auto")


def test_parameters_list_each_correlation_once():
    """An unstructured Omega's table listed corr[PD, PD] (a constant 1, R-hat NaN) and
    both corr[PD, AL] and corr[AL, PD]; each correlation now appears once."""
    from bayes_hte.estimators.synthesis import _each_correlation_once

    index = ["mu[PD]", "mu[AL]", "tau[PD]", "corr[PD, PD]", "corr[PD, AL]", "corr[AL, PD]",
             "corr[AL, AL]", "corr_within[1, 2]", "corr_within[2, 1]", "rho"]
    kept = [r for r, k in zip(index, _each_correlation_once(index), strict=True) if k]
    assert kept == ["mu[PD]", "mu[AL]", "tau[PD]", "corr[PD, AL]", "corr_within[1, 2]", "rho"]
