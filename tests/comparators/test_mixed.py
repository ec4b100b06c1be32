"""Step 1: per-trial linear mixed models (REML/ML) against R lme4 / nlme, and Remark C.

Reference trial: ``two_step(design="simulation2", trials=1, size_range=(120, 120),
dropout=0.25, z_mean=19.3, z_sd=6.3, seed=11)`` -- 120 participants, MAR dropout, 270
measurements (visit 1: 120, visit 2: 85, visit 3: 65), written to CSV and fitted in
R 4.2 with lme4 1.1.31 / nlme 3.1.162 by validation/metafor_reference.R (the values are in
tests/data/lme4_two_step_trial.json)::

    d <- read.csv("trial.csv"); d$visit <- factor(d$visit); d$subject <- factor(d$subject)
    f  <- y ~ treat + visit + z + treat:visit + visit:z + treat:z
    fr <- update(f, . ~ . + (1 | subject))
    lmer(fr, data = d, REML = TRUE)      # random intercept, REML  (RI_REML below)
    lmer(fr, data = d, REML = FALSE)     # random intercept, ML    (RI_ML)
    gls(f, correlation = corSymm(form = ~ as.integer(visit) | subject),
        weights = varIdent(form = ~ 1 | visit), data = d, method = "REML",
        control = glsControl(tolerance = 1e-10, msTol = 1e-10))   # MMRM, unstructured
    # coefficients fixef()/coef(), SEs sqrt(diag(vcov())), logLik()
"""

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators.mixed import (
    lmm_fit,
    mixed_model,
    per_trial_mixed_models,
    two_step_ipdma,
)
from bayes_hte.errors import DataError
from bayes_hte.simulate.two_step import COEF_NAMES, two_step
from tests._helpers import reference

# R's fits of the reference trial (coefficients in COEF_NAMES order), in
# tests/data/lme4_two_step_trial.json (written by validation/metafor_reference.R)
_LME4 = reference("lme4_two_step_trial")
RI_REML, RI_ML, UN_REML = (_LME4[k] for k in ("random_intercept_reml", "random_intercept_ml",
                                              "unstructured_reml"))
# Same trial without visit 3 (d <- d[d$visit != 3, ]), lmer(fr, REML = TRUE):
# coefficients (Intercept), treat, visit2, z, treat:visit2, visit2:z, treat:z
NO_V3_REML = _LME4["no_visit3_reml"]


@pytest.fixture(scope="module")
def trial_frame() -> pd.DataFrame:
    sim = two_step(design="simulation2", trials=1, size_range=(120, 120), dropout=0.25,
                   z_mean=19.3, z_sd=6.3, seed=11)
    df = sim.data
    assert df.shape == (270, 6)
    assert df.groupby("visit").size().to_dict() == {1: 120, 2: 85, 3: 65}
    return df


@pytest.fixture(scope="module")
def trial(trial_frame):
    return bh.LongitudinalData.from_frame(trial_frame, outcome="y", treatment="treat",
                                          study="trial", subject="subject", visit="visit",
                                          covariates=["z"])


@pytest.mark.parametrize(("method", "ref"), [("REML", RI_REML), ("ML", RI_ML)])
def test_random_intercept_matches_lme4(trial, method, ref):
    res = mixed_model(trial, covariance="random_intercept", method=method)
    assert res.names == COEF_NAMES
    np.testing.assert_allclose(res.estimate, ref["est"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.se, ref["se"], rtol=1e-6)
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert (res.sd_intercept, res.sd_error) == pytest.approx(ref["sd"], rel=1e-6)
    assert res.converged and res.n_obs == 270 and res.n_subjects == 120


def test_unstructured_mmrm_matches_nlme_gls(trial):
    res = mixed_model(trial, covariance="unstructured", method="REML")
    # nlme's optimiser stops slightly short (our restricted likelihood is at least as
    # high), so agreement is to ~1e-4 relative
    assert res.loglik >= UN_REML["loglik"] - 1e-8
    assert res.loglik == pytest.approx(UN_REML["loglik"], abs=1e-5)
    np.testing.assert_allclose(res.estimate, UN_REML["est"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(res.se, UN_REML["se"], rtol=1e-4)
    np.testing.assert_allclose(res.within_cov.to_numpy(), UN_REML["sigma"], rtol=2e-4)
    assert res.n_cov_params == 6 and np.isnan(res.sd_intercept)
    s = res.summary()
    assert list(s.columns) == ["estimate", "se", "z", "p", "ci_low", "ci_high"]


def test_remark_c_unmeasured_visit_is_nan_and_rest_matches_lme4(trial_frame):
    """Trial A never measures visit 3 (trial B does): A's visit-3 coefficients come back
    NaN, with NaN covariance rows/columns, and the rest equal lme4 on A alone."""
    a = trial_frame[trial_frame.visit != 3].assign(trial="A")
    b = trial_frame.assign(trial="B")
    data = bh.LongitudinalData.from_frame(pd.concat([a, b], ignore_index=True),
                                          outcome="y", treatment="treat", study="trial",
                                          subject="subject", visit="visit", covariates=["z"])
    res = mixed_model(data, study="A")
    v3 = [COEF_NAMES.index(c) for c in ("visit[3]", "treat:visit[3]", "visit[3]:z")]
    keep = [i for i in range(10) if i not in v3]
    assert np.isnan(res.estimate[v3]).all()
    assert np.isnan(res.cov[v3]).all() and np.isnan(res.cov[:, v3]).all()
    assert np.isfinite(res.cov[np.ix_(keep, keep)]).all()
    np.testing.assert_allclose(res.estimate[keep], NO_V3_REML["est"], rtol=1e-6)
    np.testing.assert_allclose(res.se[keep], NO_V3_REML["se"], rtol=1e-6)
    assert res.loglik == pytest.approx(NO_V3_REML["loglik"], abs=1e-6)
    assert res.within_cov.loc["3"].isna().all()
    # step 1 over both trials: NaN only where A lacks visit 3, passed on to step 2
    step1 = per_trial_mixed_models(data)
    assert step1.estimates.shape == (2, 10) and step1.covariances.shape == (2, 10, 10)
    assert np.isnan(step1.estimates[0, v3]).all() and np.isfinite(step1.estimates[1]).all()
    np.testing.assert_allclose(step1.estimates[1], RI_REML["est"], rtol=1e-6, atol=1e-8)
    fe = step1.mvmeta(method="FE")
    assert (fe.summary()["n_studies"].iloc[v3] == 1).all()
    assert np.isfinite(fe.estimate).all()


def test_per_trial_fits_equal_single_fits_and_two_step_recovers_truth():
    sim = two_step(design="simulation2", trials=6, tau2=0.1, missing_visit_fraction=0.34,
                   seed=21)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    step1 = per_trial_mixed_models(data)
    truth = sim.true_coefficients()
    np.testing.assert_array_equal(np.isnan(step1.estimates), truth.isna().to_numpy())
    for j, lab in enumerate(data.study_labels):
        single = mixed_model(data, study=lab)
        np.testing.assert_allclose(step1.estimates[j], single.estimate, equal_nan=True)
    # each trial's estimates agree with its true coefficients (z-scores)
    z = (step1.estimates - truth.to_numpy()) / np.sqrt(np.diagonal(step1.covariances, 0, 1, 2))
    assert np.nanmax(np.abs(z)) < 4.0
    assert step1.variance_summary()["sd_intercept"].between(2.0, 10.0).all()
    assert set(step1.summary()["study"]) == set(data.study_labels)
    res = two_step_ipdma(data, structure="compound_symmetry")
    zz = (res.step2.estimate - sim.mu.to_numpy()) / res.step2.se
    assert np.abs(zz).max() < 3.5
    assert res.summary().index.tolist() == list(COEF_NAMES)
    sub = step1.mvmeta(coefs=["treat", "treat:z"], structure="unstructured")
    assert sub.names == ("treat", "treat:z")
    with pytest.raises(DataError, match="coefficients \\['nope'\\] are not in the model"):
        step1.mvmeta(coefs=["nope"])


def test_pooled_one_step_fit_recovers_simulation1_truth():
    sim = two_step(design="simulation1", trials=4, seed=2)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    res = mixed_model(data)            # study=None: all trials pooled, common effects
    z = (res.estimate - sim.mu.to_numpy()) / res.se
    assert np.abs(z).max() < 3.5
    assert res.sd_intercept == pytest.approx(4.5, rel=0.1)
    assert res.sd_error == pytest.approx(3.2, rel=0.05)
    assert res.study is None and res.n_subjects == data.n_subjects


def test_participants_measured_once_reduce_to_ols(trial_frame):
    one = trial_frame[trial_frame.visit == 1]
    data = bh.LongitudinalData.from_frame(one, outcome="y", treatment="treat", study="trial",
                                          subject="subject", visit="visit", covariates=["z"])
    res = mixed_model(data)
    X = np.column_stack([np.ones(len(one)), one.treat, one.z, one.treat * one.z])
    ols = np.linalg.lstsq(X, one.y.to_numpy(), rcond=None)[0]
    assert res.names == ("(intercept)", "treat", "z", "treat:z")   # no other visit
    np.testing.assert_allclose(res.estimate, ols, rtol=1e-8)
    assert np.isnan(res.sd_intercept) and res.n_cov_params == 1


def test_random_intercept_at_zero_boundary():
    rng = np.random.default_rng(4)
    n = 80
    subj = np.repeat(np.arange(n), 3)
    vis = np.tile(np.arange(3), n)
    X = np.column_stack([np.ones(3 * n), np.repeat(rng.integers(0, 2, n), 3)])
    y = X @ [1.0, 0.5] + rng.normal(size=3 * n)   # no participant effect at all
    fit = lmm_fit(y, X, subj, vis, n_visits=3, covariance="random_intercept")
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    if fit.sd_intercept == 0.0:
        np.testing.assert_allclose(fit.beta, ols, rtol=1e-10)
    assert fit.sd_intercept < 0.3 and fit.converged


def test_errors(trial, trial_frame):
    with pytest.raises(DataError, match="study 'X' is not in the data"):
        mixed_model(trial, study="X")
    tiny = trial_frame[trial_frame.subject <= 4]
    d = bh.LongitudinalData.from_frame(tiny, outcome="y", treatment="treat", study="trial",
                                       subject="subject", visit="visit", covariates=["z"])
    with pytest.raises(DataError, match="study 'T01': .* measurements are too few"):
        mixed_model(d, covariance="unstructured")
    # a covariate constant within one trial: its interactions are confounded there
    two = pd.concat([trial_frame.assign(trial="A"),
                     trial_frame.assign(trial="B", z=5.0)], ignore_index=True)
    d2 = bh.LongitudinalData.from_frame(two, outcome="y", treatment="treat", study="trial",
                                        subject="subject", visit="visit", covariates=["z"])
    with pytest.raises(DataError, match="study 'B': the design is rank deficient"):
        per_trial_mixed_models(d2)
    with pytest.raises(ValueError, match="covariance must be"):
        mixed_model(trial, covariance="ar1")
    with pytest.raises(ValueError, match="method must be 'REML' or 'ML'"):
        mixed_model(trial, method="FE")


@pytest.mark.parametrize("covariance", ["random_intercept", "unstructured"])
def test_a_trial_fitted_exactly_is_refused(trial_frame, covariance):
    """A constant outcome (or one the design determines) gave residual SDs of 1e-152, a
    log-likelihood of +64,000 and SEs of 0 (random intercept; a raw numpy error with the
    unstructured covariance), and step 2 gave that trial all the weight."""
    cols = dict(outcome="y", treatment="treat", study="trial", subject="subject",
                visit="visit", covariates=["z"])
    two = pd.concat([trial_frame.assign(trial="A"), trial_frame.assign(trial="B", y=0.0)],
                    ignore_index=True)
    data = bh.LongitudinalData.from_frame(two, **cols)
    with pytest.raises(DataError, match=r"the outcome is constant \(0.0\) in study 'B': "
                                        "its residual variance is 0"):
        per_trial_mixed_models(data, covariance=covariance)
    exact = trial_frame.assign(y=1.0 + 2.0 * trial_frame["treat"] - 0.1 * trial_frame["z"])
    data = bh.LongitudinalData.from_frame(exact, **cols)
    with pytest.raises(DataError, match="fits the outcome of study 'T01' exactly"):
        mixed_model(data, covariance=covariance)
    # each participant's outcome constant over the visits: no within-participant variance
    same = trial_frame.assign(y=trial_frame.groupby("subject")["y"].transform("first"))
    data = bh.LongitudinalData.from_frame(same, **cols)
    with pytest.raises(DataError, match="within-participant variance|exactly"):
        mixed_model(data, covariance=covariance)


def test_input_frame_unchanged(trial_frame):
    before = trial_frame.copy()
    d = bh.LongitudinalData.from_frame(trial_frame, outcome="y", treatment="treat",
                                       study="trial", subject="subject", visit="visit",
                                       covariates=["z"])
    mixed_model(d, covariance="unstructured")
    pd.testing.assert_frame_equal(trial_frame, before)
