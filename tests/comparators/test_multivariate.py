"""Multivariate random-effects meta-analysis (step 2) against metafor / mvmeta.

Data: Berkey et al. (1998), five periodontal trials, outcomes PD (probing depth) and
AL (attachment level), R metafor's ``dat.berkey1998`` (columns yi, v1i, v2i; original
source: Berkey, Hoaglin, Antczak-Bouckoms, Mosteller & Colditz 1998, Stat Med
17:2537-2550).

The data and the reference values of R metafor are in tests/data/metafor_berkey1998.json,
written by validation/metafor_reference.R (its "source" and "call" fields give the R and
metafor versions and the calls)::

    library(metafor); dat <- dat.berkey1998
    V <- bldiag(lapply(split(dat[,c("v1i","v2i")], dat$trial), as.matrix))
    res <- rma.mv(yi, V, mods=~outcome-1, random=~outcome|trial, struct="UN", data=dat)
    # and struct = "CS", "DIAG", "ID"; method = "REML", "ML"; rma.mv(..., method="FE")

The REML fit also reproduces the values of the mvmeta package's ``berkey98`` example
(Gasparrini, Armstrong & Kenward 2012, Stat Med 31:3821-3839): PD 0.3534 (SE 0.0588),
AL -0.3392 (0.0879), between-study SDs 0.1083 and 0.1807, correlation 0.6088,
log-likelihood 2.0823 (mvmeta's restricted likelihood, = metafor's 3.6918 minus
0.5 log 25; see the module docstring).
"""


import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators.multivariate import (
    MVMetaResult,
    compare_structures,
    mvmeta,
    mvmeta_loglik,
    n_omega_params,
)
from bayes_hte.errors import DataError
from tests._helpers import berkey1998, reference

# columns: PD, AL (metafor orders AL before PD; its numbers are re-ordered in the JSON)
REF = reference("metafor_berkey1998")
Y, S, _ = berkey1998()
NAMES = ["PD", "AL"]
TRIALS = ["Pihlstrom 1983", "Lindhe 1982", "Knowles 1979", "Ramfjord 1987", "Becker 1988"]
HALF_LOG_XTX = 0.5 * np.log(5 * 5)   # metafor's extra REML constant: 0.5 log|X'X|

# metafor results, (PD, AL) order: estimate, se, tau2, rho, logLik (metafor's)
METAFOR = {
    (f["structure"], f["method"]): (f["estimate"], f["se"], f["tau2"], f["rho"], f["loglik"])
    for f in REF["structures"]
}
UN_REML = REF["unstructured_reml"]
RTOL = 2e-4   # metafor's own optimiser stops at ~1e-5 relative precision


@pytest.mark.parametrize(("structure", "method"), list(METAFOR))
def test_berkey_matches_metafor(structure, method):
    est, se, tau2, rho, ll_metafor = METAFOR[(structure, method)]
    res = mvmeta(Y, S, method=method, structure=structure, names=NAMES)
    assert res.converged
    np.testing.assert_allclose(res.estimate, est, rtol=RTOL)
    np.testing.assert_allclose(res.se, se, rtol=RTOL)
    np.testing.assert_allclose(res.tau2, tau2, rtol=5 * RTOL)
    if rho != 0.0:
        assert res.corr[0, 1] == pytest.approx(rho, rel=5 * RTOL)
    else:
        assert res.Omega[0, 1] == 0.0
    const = HALF_LOG_XTX if method == "REML" else 0.0
    assert res.loglik == pytest.approx(ll_metafor - const, abs=1e-6)


def test_berkey_reml_unstructured_full_output():
    """REML pooled estimates, SEs, covariance, between-study SDs/correlation and fit
    statistics against metafor (rma.mv struct="UN") and the mvmeta berkey98 example."""
    res = bh.comparators.mvmeta(Y, S, method="REML", structure="unstructured")
    # metafor vcov(res), reordered to (PD, AL)
    np.testing.assert_allclose(res.cov, UN_REML["vcov"], rtol=RTOL)
    np.testing.assert_allclose(res.tau, UN_REML["tau"], rtol=RTOL)
    # mvmeta's printed (4 decimals) berkey98 results
    np.testing.assert_allclose(res.estimate, [0.3534, -0.3392], atol=5e-5)
    np.testing.assert_allclose(res.se, [0.0588, 0.0879], atol=5e-5)
    np.testing.assert_allclose(res.tau, [0.1083, 0.1807], atol=5e-5)
    assert res.corr[0, 1] == pytest.approx(0.6088, abs=5e-5)
    assert res.loglik == pytest.approx(2.0823, abs=5e-5)
    # CI: metafor ci.lb / ci.ub
    lo, hi = res.ci
    np.testing.assert_allclose(lo, UN_REML["ci_low"], atol=2e-6)
    np.testing.assert_allclose(hi, UN_REML["ci_high"], atol=2e-6)
    # AIC / BIC: metafor's minus 2 x its constant (5 parameters; BIC uses log(k - p) = log 8)
    assert res.n_params == 5
    assert res.aic == pytest.approx(UN_REML["aic"] + 2 * HALF_LOG_XTX, abs=1e-5)
    assert res.bic == pytest.approx(UN_REML["bic"] + 2 * HALF_LOG_XTX, abs=1e-5)
    # multivariate Cochran Q: metafor QE (df = 8)
    q_ref = UN_REML["q"]
    assert res.q == pytest.approx(q_ref, rel=1e-8) and res.q_df == UN_REML["q_df"]
    assert res.i2 == pytest.approx(100 * (q_ref - 8) / q_ref, rel=1e-8)
    assert res.q_p < 1e-6
    assert isinstance(res, MVMetaResult)


def test_berkey_ml_fit_statistics_equal_metafor():
    res = mvmeta(Y, S, method="ML", structure="unstructured")
    # metafor ML AIC and BIC (BIC uses log 10)
    assert res.aic == pytest.approx(REF["unstructured_ml"]["aic"], abs=1e-6)
    assert res.bic == pytest.approx(REF["unstructured_ml"]["bic"], abs=1e-6)


def test_fixed_effect_matches_metafor():
    res = mvmeta(Y, S, method="FE")
    ref = REF["fixed_effect"]
    np.testing.assert_allclose(res.estimate, ref["estimate"], rtol=1e-8)
    np.testing.assert_allclose(res.se, ref["se"], rtol=1e-8)
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-7)
    assert res.aic == pytest.approx(ref["aic"], abs=1e-6)
    assert res.bic == pytest.approx(ref["bic"], abs=1e-6)
    assert np.all(res.Omega == 0) and res.n_params == 2
    assert res.q == pytest.approx(ref["q"], rel=1e-8)


# Missing components: PD of Lindhe 1982 and AL of Becker 1988 removed (metafor rows 3, 10)
#   keep <- -c(3, 10); rma.mv(yi, V[keep, keep], mods=~outcome-1, random=~outcome|trial,
#                             struct="UN", data=dat[keep,], method=...)
YM = Y.copy()
YM[1, 0] = np.nan
YM[4, 1] = np.nan


MISSING = REF["missing_components"]["fits"]


@pytest.mark.parametrize(
    ("method", "est", "se", "tau2", "rho", "ll", "vcov"),
    [(f["method"], f["estimate"], f["se"], f["tau2"], f["rho"], f["loglik"], f["vcov"])
     for f in MISSING],
    ids=[f["method"] for f in MISSING],
)
def test_missing_components_match_metafor(method, est, se, tau2, rho, ll, vcov):
    res = mvmeta(YM, S, method=method, structure="unstructured")
    np.testing.assert_allclose(res.estimate, est, rtol=RTOL)
    np.testing.assert_allclose(res.se, se, rtol=RTOL)
    np.testing.assert_allclose(res.tau2, tau2, rtol=10 * RTOL)
    assert res.corr[0, 1] == pytest.approx(rho, abs=2e-3 if method == "ML" else 5e-4)
    np.testing.assert_allclose(res.cov, vcov, rtol=5e-3, atol=2e-7)
    const = 0.5 * np.log(4 * 4) if method == "REML" else 0.0   # 4 studies per outcome
    assert res.loglik == pytest.approx(ll - const, abs=1e-6)
    ref_q = next(f for f in MISSING if f["method"] == method)
    assert res.q == pytest.approx(ref_q["q"], rel=1e-8) and res.q_df == ref_q["q_df"]
    assert res.n_obs == 8
    # unreported entries of the covariance are ignored, even if NaN
    S_nan = S.copy()
    S_nan[1, 0, :] = S_nan[1, :, 0] = np.nan
    again = mvmeta(YM, S_nan, method=method, structure="unstructured")
    np.testing.assert_allclose(again.estimate, res.estimate, rtol=1e-10)


BOUNDARY = reference("metafor_mvmeta_boundary")   # validation/metafor_reference.R


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_optimum_at_a_correlation_of_minus_one_is_found(method):
    """Berkey without PD of trial 2 and AL of trial 4: the (restricted) likelihood has a
    local maximum at correlation 0.23 (REML) or +1 (ML) and its maximum at -1. One
    L-BFGS-B run from the diagonal moment start stopped at the local one (REML loglik
    0.958 against 1.206), reporting ``converged``. rma.mv's local optimiser finds one or
    the other depending on the order of the outcome levels (both fits are in the JSON);
    our fit equals the better one and is at least as good as both."""
    y = Y.copy()
    y[1, 0] = y[3, 1] = np.nan
    res = mvmeta(y, S, method=method, structure="unstructured")
    assert res.converged
    const = 0.5 * np.log(4 * 4) if method == "REML" else 0.0   # 4 studies per outcome
    fits = [f for f in BOUNDARY["berkey_missing"]["fits"] if f["method"] == method]
    best = max(fits, key=lambda f: f["loglik"])
    for f in fits:
        assert res.loglik >= f["loglik"] - const - 1e-7
    assert best["rho"] == pytest.approx(-1.0, abs=1e-9)
    assert res.loglik == pytest.approx(best["loglik"] - const, abs=1e-6)
    assert res.corr[0, 1] == pytest.approx(-1.0, abs=1e-4)
    np.testing.assert_allclose(res.estimate, best["estimate"], rtol=RTOL)
    np.testing.assert_allclose(res.se, best["se"], rtol=RTOL)
    np.testing.assert_allclose(res.tau2, best["tau2"], rtol=10 * RTOL)


def test_compound_symmetry_optimum_at_a_correlation_of_one_is_found():
    """Six made-up studies (the JSON's data): REML compound symmetry has its maximum at
    rho = 1, tau^2 = 0.00382; one run from rho = 0 stopped at tau^2 = 0 (loglik below
    the identity structure's, which compound symmetry contains) with SEs 20 % too small."""
    cs = BOUNDARY["compound_symmetry"]
    y, s = np.array(cs["estimates"]), np.array(cs["covariances"])
    ref = {f["struct"]: f for f in cs["fits"]}
    const = 0.5 * np.log(6 * 6)
    res = mvmeta(y, s, structure="compound_symmetry")
    ident = mvmeta(y, s, structure="identity")
    assert res.converged and ident.converged
    assert res.loglik == pytest.approx(ref["CS"]["loglik"] - const, abs=1e-6)
    assert ident.loglik == pytest.approx(ref["ID"]["loglik"] - const, abs=1e-6)
    assert res.loglik > ident.loglik
    assert res.corr[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert res.tau2[0] == pytest.approx(ref["CS"]["tau2"], rel=1e-4)
    np.testing.assert_allclose(res.estimate, ref["CS"]["estimate"], rtol=1e-5)
    np.testing.assert_allclose(res.se, ref["CS"]["se"], rtol=1e-4)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_nested_structures_never_fit_better(method):
    """A structure's maximum is at least that of every structure it contains (identity in
    diagonal and compound symmetry, both in unstructured), on random data with two or
    three components, some missing."""
    rng = np.random.default_rng(7)
    for _ in range(12):
        k, p = rng.integers(4, 8), rng.integers(2, 4)
        y = rng.normal(size=(k, p)) + rng.normal(scale=0.4, size=p)
        a = rng.normal(scale=0.3, size=(k, p, p))
        s = a @ np.swapaxes(a, 1, 2) + 0.02 * np.eye(p)
        y[rng.random((k, p)) < 0.15] = np.nan
        y[np.isnan(y).all(axis=1), 0] = 0.1
        if (np.isfinite(y).sum(axis=0) < 2).any():
            continue
        ll = {st: mvmeta(y, s, method=method, structure=st).loglik
              for st in ("identity", "diagonal", "compound_symmetry", "unstructured")}
        assert ll["diagonal"] >= ll["identity"] - 1e-8
        assert ll["compound_symmetry"] >= ll["identity"] - 1e-8
        assert ll["unstructured"] >= max(ll["diagonal"], ll["compound_symmetry"]) - 1e-8


def test_blups_match_metafor_ranef():
    """ranef(res) of the REML UN fit (deviations from the pooled mean), trials 1 and 5."""
    res = mvmeta(Y, S, names=NAMES, study_labels=TRIALS)
    b = res.blup()
    assert list(b.index) == TRIALS
    mu = res.estimate
    np.testing.assert_allclose(b.iloc[0] - mu, UN_REML["ranef"][0], atol=2e-6)
    np.testing.assert_allclose(b.iloc[4] - mu, UN_REML["ranef"][1], atol=2e-6)


def test_blup_predicts_missing_component_through_correlation():
    res = mvmeta(YM, S)
    O = res.Omega
    mu = res.estimate
    # Lindhe (row 1) reports AL only: its PD BLUP borrows via Omega's correlation
    expect_pd = mu[0] + O[0, 1] / (O[1, 1] + S[1, 1, 1]) * (YM[1, 1] - mu[1])
    assert res.blup().iloc[1, 0] == pytest.approx(expect_pd, rel=1e-10)


def test_rescaling_a_component_is_equivariant():
    """Unstructured Omega: multiplying PD by 100 multiplies its results by 100."""
    D = np.diag([100.0, 1.0])
    res = mvmeta(Y, S)
    big = mvmeta(Y @ D, D @ S @ D)
    np.testing.assert_allclose(big.estimate, D @ res.estimate, rtol=1e-6)
    np.testing.assert_allclose(big.Omega, D @ res.Omega @ D, rtol=1e-4)
    assert big.corr[0, 1] == pytest.approx(res.corr[0, 1], rel=1e-4)


def test_replicate_axis_equals_separate_fits():
    rng = np.random.default_rng(3)
    reps = [Y, YM, Y + rng.normal(0, 0.05, Y.shape)]
    yy = np.stack(reps, axis=-1)
    SS = np.stack([S] * 3, axis=-1)
    for structure in ("unstructured", "compound_symmetry"):
        many = mvmeta(yy, SS, method="REML", structure=structure)
        assert many.estimate.shape == (2, 3) and many.Omega.shape == (2, 2, 3)
        assert many.loglik.shape == (3,) and many.bic.shape == (3,)
        for r, y in enumerate(reps):
            one = mvmeta(y, S, method="REML", structure=structure)
            np.testing.assert_allclose(many.estimate[:, r], one.estimate, rtol=1e-10)
            np.testing.assert_allclose(many.Omega[..., r], one.Omega, rtol=1e-10)
            pd.testing.assert_frame_equal(many.summary(replicate=r), one.summary())
        with pytest.raises(ValueError, match="pass replicate"):
            many.summary()


def test_dataframe_input_summary_and_tables():
    df = pd.DataFrame(Y, columns=NAMES, index=TRIALS)
    res = mvmeta(df, S)
    s = res.summary()
    assert list(s.index) == NAMES
    assert {"estimate", "se", "ci_low", "ci_high", "tau", "pi_low", "pi_high",
            "n_studies"} <= set(s.columns)
    assert (s["pi_low"] < s["ci_low"]).all() and (s["pi_high"] > s["ci_high"]).all()
    om = res.omega_table()
    assert om.loc["PD", "PD"] == pytest.approx(res.tau[0])
    assert om.loc["AL", "PD"] == pytest.approx(res.corr[0, 1])
    fit = res.fit_table()
    assert fit["structure"] == "unstructured" and fit["n_params"] == 5


def test_loglik_function_matches_fit():
    res = mvmeta(Y, S, method="ML")
    assert mvmeta_loglik(Y, S, res.Omega, method="ML") == pytest.approx(res.loglik)
    # the maximum: perturbing Omega lowers the likelihood
    assert mvmeta_loglik(Y, S, res.Omega * 1.1, method="ML") < res.loglik


def test_compare_structures_bic_table():
    tab = compare_structures(Y, S, method="REML")
    assert list(tab["structure"]) == ["unstructured", "compound_symmetry", "diagonal",
                                      "identity", "fixed_effect"]
    fe = tab.iloc[-1]
    # fixed effect under the same restricted likelihood, at Omega = 0
    assert fe["loglik"] == pytest.approx(mvmeta_loglik(Y, S, np.zeros((2, 2))))
    assert fe["bic"] > tab["bic"].iloc[:4].max()   # heterogeneity is obvious (I2 ~ 94%)
    assert [n_omega_params(s, 10) for s in ("unstructured", "compound_symmetry", "diagonal",
                                            "identity")] == [55, 2, 10, 1]


def test_single_coefficient_reduces_to_univariate_reml():
    """p = 1: metafor rma(yi, vi, data = PD rows, method = "REML") (default control),
    REF["univariate_pd"].

    metafor's Fisher scoring stops at tau2 = 0.011871008; the restricted likelihood is
    higher at ours (0.01187056, gradient 1e-10), so agreement is to ~4e-5 relative."""
    ref = REF["univariate_pd"]
    for structure in ("unstructured", "compound_symmetry", "diagonal", "identity"):
        res = mvmeta(Y[:, :1], S[:, :1, :1], structure=structure)
        assert res.estimate[0] == pytest.approx(ref["estimate"], rel=1e-5)
        assert res.se[0] == pytest.approx(ref["se"], rel=1e-4)
        assert res.tau2[0] == pytest.approx(ref["tau2"], rel=1e-4)
        ll_metafor_tau2 = mvmeta_loglik(Y[:, :1], S[:, :1, :1], [[ref["tau2"]]])
        assert res.loglik >= ll_metafor_tau2
        assert res.q == pytest.approx(ref["q"], rel=1e-8)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        (Y[:, 0], S[:, :1, :1], "must be 2-dimensional"),
        (Y[None, None], S, "must have shape \\(k, p\\) or \\(k, p, R\\)"),
        (Y, S[:4], "covariances must have shape \\(5, 2, 2\\)"),
        (np.where(np.arange(2) == 0, np.inf, Y), S, "estimates are infinite"),
        (np.vstack([Y, [[np.nan, np.nan]]]), np.concatenate([S, S[:1]]),
         "no component is reported in study '6'"),
        (np.column_stack([Y, np.full(5, np.nan)]),
         np.stack([np.pad(s, ((0, 1), (0, 1))) for s in S]),
         "coefficients \\(columns\\) \\[2\\] are missing in every study"),
        (Y, np.where(np.arange(5)[:, None, None] == 2, np.nan, S), "not finite for the "
         "reported components in study '3'"),
        (Y, S + np.array([[0, 1e-3], [0, 0]])[None], "are not symmetric"),
        (Y, np.where(np.arange(5)[:, None, None] == 3, np.array([[1e-3, 2e-3], [2e-3, 1e-3]]),
                     S), "not positive definite on the reported components in study '4'"),
    ],
)
def test_data_errors(y, s, match):
    with pytest.raises(DataError, match=match):
        mvmeta(y, s)


def test_option_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        mvmeta(Y, S, method="DL")
    with pytest.raises(ValueError, match="structure must be one of"):
        mvmeta(Y, S, structure="toeplitz")
    with pytest.raises(DataError, match="names has 3 entries for 2"):
        mvmeta(Y, S, names=["a", "b", "c"])
    with pytest.raises(DataError, match="study_labels has 2 entries for 5"):
        mvmeta(Y, S, study_labels=["a", "b"])
    with pytest.raises(ValueError, match="ci_prob"):
        mvmeta(Y, S, ci_prob=95)
    with pytest.raises(ValueError, match="method must be 'REML' or 'ML'"):
        compare_structures(Y, S, method="FE")


def test_inputs_are_not_modified():
    y, s = YM.copy(), S.copy()
    mvmeta(y, s)
    np.testing.assert_array_equal(y, YM)
    np.testing.assert_array_equal(s, S)


def test_errors_name_coefficients_and_studies_by_label():
    frame = pd.DataFrame(np.column_stack([Y, np.full(5, np.nan)]), index=TRIALS,
                         columns=["PD", "AL", "CAL"])
    s3 = np.stack([np.pad(s, ((0, 1), (0, 1))) for s in S])
    with pytest.raises(DataError, match=r"coefficients \['CAL'\] are missing in every study"):
        mvmeta(frame, s3)
    with pytest.raises(DataError, match=r"coefficients \['CAL'\] are missing"):
        bh.models.synthesis_multivariate.build_mvmeta_model(frame, s3)
    two = frame[["PD", "AL"]].copy()
    two.loc["Knowles 1979"] = np.nan
    with pytest.raises(DataError, match="no component is reported in study 'Knowles 1979'"):
        mvmeta(two, S)


# ------------------------------------------------------------------ labels and inputs
def _berkey_frame():
    y, S, _ = berkey1998()
    return pd.DataFrame(y, columns=["PD", "AL"], index=[f"s{i}" for i in range(1, 6)]), S


def test_labelled_covariances_are_matched_by_label():
    """A mapping of per-study DataFrames, or a DataArray (step 1's covariance_array),
    follows the estimates whatever the order of their rows and columns."""
    import xarray as xr

    Y, S = _berkey_frame()
    ref = mvmeta(Y, S)
    by_label = {lab: pd.DataFrame(S[i], index=["PD", "AL"], columns=["PD", "AL"])
                for i, lab in enumerate(Y.index)}
    res = mvmeta(Y[["AL", "PD"]].iloc[::-1], by_label)
    np.testing.assert_allclose(res.estimate, ref.estimate[::-1], rtol=1e-6)  # optimiser
    arr = xr.DataArray(S, dims=("study", "coef", "coef_"),
                       coords={"study": list(Y.index), "coef": ["PD", "AL"],
                               "coef_": ["PD", "AL"]})
    res = mvmeta(Y.iloc[[2, 0, 4, 1, 3]], arr)
    np.testing.assert_allclose(res.estimate, ref.estimate, rtol=1e-6)
    with pytest.raises(DataError, match=r"no covariance for studies \['s5'\]"):
        mvmeta(Y, {k: v for k, v in list(by_label.items())[:4]})
    # text in one study's block is named by its (row, column) coefficients, not as a
    # "study" of the block's rows (it said "in study '2'")
    bad = dict(by_label)
    bad["s3"] = bad["s3"].astype(object)
    bad["s3"].loc["AL", "PD"] = "0.01"
    with pytest.raises(DataError, match=r"the covariance of study 's3' must be real numbers: "
                                        r"'0.01' at \('AL', 'PD'\) is not"):
        mvmeta(Y, bad)
    with pytest.raises(DataError, match=r"not in the estimates: \['x'\]"):
        mvmeta(Y, {**by_label, "x": by_label["s1"]})
    with pytest.raises(DataError, match="study 's2' is labelled"):
        mvmeta(Y, {**by_label, "s2": by_label["s2"].set_axis(["PD", "XX"], axis=1)})
    with pytest.raises(DataError, match="estimates are not"):
        mvmeta(Y.to_numpy(), by_label)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"names": ["AL", "PD"]}, r"names=\['AL', 'PD'\] differ from the columns"),
    ({"study_labels": list("abcde")}, r"study_labels=.* differ from the index"),
])
def test_arguments_that_contradict_the_frame_are_refused(kwargs, match):
    Y, S = _berkey_frame()
    with pytest.raises(DataError, match=match):
        mvmeta(Y, S, **kwargs)
    with pytest.raises(DataError, match=match):
        bh.MultivariateMetaModel().fit(Y, S, **kwargs)


def test_text_repeated_labels_and_one_study_are_refused():
    Y, S = _berkey_frame()
    text = Y.astype(object)
    text.loc["s3", "PD"] = "n/a"
    with pytest.raises(DataError, match="'n/a' in study 's3', coefficient 'PD' is not"):
        mvmeta(text, S)
    with pytest.raises(DataError, match="'0.47' in study 's1', coefficient 'PD'"):
        mvmeta(Y.astype(str), S)  # numbers as text are not read as numbers
    with pytest.raises(DataError, match="covariances must be real numbers"):
        mvmeta(Y, S.astype(str))
    with pytest.raises(DataError, match="estimates must be real numbers"):
        mvmeta(Y.astype(bool), S)
    with pytest.raises(DataError, match=r"study labels are repeated: \['s'\]"):
        mvmeta(Y.set_axis(["s", "s", "t", "u", "v"]), S)
    with pytest.raises(DataError, match=r"study labels are repeated"):
        compare_structures(Y.set_axis(["s", "s", "t", "u", "v"]), S)
    for method in ("REML", "ML"):
        with pytest.raises(DataError, match="needs at least 2 studies, got 1"):
            mvmeta(Y.iloc[:1], S[:1], method=method)
    one = mvmeta(Y.iloc[:1], S[:1], method="FE")  # one study: its own estimate
    np.testing.assert_allclose(one.estimate, Y.iloc[0].to_numpy())


@pytest.mark.parametrize(("alias", "structure"), [("UN", "unstructured"),
                                                  ("CS", "compound_symmetry"),
                                                  ("DIAG", "diagonal"), ("ID", "identity")])
def test_metafor_structure_names(alias, structure):
    Y, S = _berkey_frame()
    a, b = mvmeta(Y, S, structure=alias), mvmeta(Y, S, structure=structure)
    assert a.structure == structure
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert bh.MultivariateMetaModel(structure=alias).structure == structure
    assert bh.LongitudinalMetaModel(structure=alias).structure == structure
    with pytest.raises(ValueError, match="structure must be one of"):
        mvmeta(Y, S, structure=alias.lower())
