"""Multivariate random-effects meta-analysis (step 2) against metafor / mvmeta.

Data: Berkey et al. (1998), five periodontal trials, outcomes PD (probing depth) and
AL (attachment level), transcribed from R metafor's ``dat.berkey1998`` (metafor 3.8.1;
columns yi, v1i, v2i; original source: Berkey, Hoaglin, Antczak-Bouckoms, Mosteller &
Colditz 1998, Stat Med 17:2537-2550).

Reference values were computed with R 4.2 / metafor 3.8.1::

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

# columns: PD, AL (metafor orders AL before PD; its numbers are re-ordered below)
Y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, -0.12], [0.26, -0.31], [0.56, -0.39]])
S = np.array([[[0.0075, 0.0030], [0.0030, 0.0077]],
              [[0.0057, 0.0009], [0.0009, 0.0008]],
              [[0.0021, 0.0007], [0.0007, 0.0014]],
              [[0.0029, 0.0009], [0.0009, 0.0015]],
              [[0.0148, 0.0072], [0.0072, 0.0304]]])
NAMES = ["PD", "AL"]
TRIALS = ["Pihlstrom 1983", "Lindhe 1982", "Knowles 1979", "Ramfjord 1987", "Becker 1988"]
HALF_LOG_XTX = 0.5 * np.log(5 * 5)   # metafor's extra REML constant: 0.5 log|X'X|

# metafor 3.8.1 results, (PD, AL) order: estimate, se, tau2, rho, logLik (metafor's)
METAFOR = {
    ("unstructured", "REML"): ([0.3534283518, -0.3392152256], [0.05884884472, 0.08790526868],
                               [0.01173314394, 0.03265144369], 0.6087962504, 3.691767694),
    ("unstructured", "ML"): ([0.3448392565, -0.3379381152], [0.04945993336, 0.07976320931],
                             [0.007002038374, 0.026144559805], 0.6992295348, 5.8406568848),
    ("compound_symmetry", "REML"): ([0.3635941811, -0.3379611557],
                                    [0.07876251358, 0.07817944937],
                                    [0.02502042689, 0.02502042689], 0.5290409613, 3.310561110),
    ("compound_symmetry", "ML"): ([0.3604717110, -0.3368066773], [0.07159039988, 0.07059276324],
                                  [0.0197396099, 0.0197396099], 0.5530612943, 5.205557407),
    ("diagonal", "REML"): ([0.3613388466, -0.3529477874], [0.05862491669, 0.08737129923],
                           [0.01158825663, 0.03222858704], 0.0, 3.201244715),
    ("diagonal", "ML"): ([0.3572552618, -0.3538886249], [0.04996158969, 0.07883442933],
                         [0.00714553811, 0.02547340805], 0.0, 5.165417641),
    ("identity", "REML"): ([0.3677150732, -0.3495763288], [0.07745040504, 0.07700215114],
                           [0.0240731171, 0.0240731171], 0.0, 2.8990248393),
    ("identity", "ML"): ([0.3658201645, -0.3497717555], [0.06998640946, 0.06912714912],
                         [0.01868761195, 0.01868761195], 0.0, 4.6844490070),
}
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
    np.testing.assert_allclose(res.cov, [[0.003463186525, 0.002828935418],
                                         [0.002828935418, 0.007727336262]], rtol=RTOL)
    np.testing.assert_allclose(res.tau, [0.1083196378, 0.1806971048], rtol=RTOL)
    # mvmeta's printed (4 decimals) berkey98 results
    np.testing.assert_allclose(res.estimate, [0.3534, -0.3392], atol=5e-5)
    np.testing.assert_allclose(res.se, [0.0588, 0.0879], atol=5e-5)
    np.testing.assert_allclose(res.tau, [0.1083, 0.1807], atol=5e-5)
    assert res.corr[0, 1] == pytest.approx(0.6088, abs=5e-5)
    assert res.loglik == pytest.approx(2.0823, abs=5e-5)
    # CI: metafor ci.lb / ci.ub
    lo, hi = res.ci
    np.testing.assert_allclose(lo, [0.238087, -0.511506], atol=2e-6)
    np.testing.assert_allclose(hi, [0.468770, -0.166924], atol=2e-6)
    # AIC / BIC: metafor's minus 2 x its constant (5 parameters; BIC uses log(k - p) = log 8)
    assert res.n_params == 5
    assert res.aic == pytest.approx(2.616464611 + 2 * HALF_LOG_XTX, abs=1e-5)
    assert res.bic == pytest.approx(3.013672320 + 2 * HALF_LOG_XTX, abs=1e-5)
    # multivariate Cochran Q: metafor QE(df = 8) = 128.2267
    assert res.q == pytest.approx(128.2267162, rel=1e-8) and res.q_df == 8
    assert res.i2 == pytest.approx(100 * (128.2267162 - 8) / 128.2267162, rel=1e-8)
    assert res.q_p < 1e-6
    assert isinstance(res, MVMetaResult)


def test_berkey_ml_fit_statistics_equal_metafor():
    res = mvmeta(Y, S, method="ML", structure="unstructured")
    # metafor ML: logLik 5.8406568848, AIC -1.6813137695, BIC -0.1683883046 (log 10)
    assert res.aic == pytest.approx(-1.6813137695, abs=1e-6)
    assert res.bic == pytest.approx(-0.1683883046, abs=1e-6)


def test_fixed_effect_matches_metafor():
    res = mvmeta(Y, S, method="FE")
    np.testing.assert_allclose(res.estimate, [0.3072186085, -0.3943770079], rtol=1e-8)
    np.testing.assert_allclose(res.se, [0.02857515244, 0.01864922504], rtol=1e-8)
    assert res.loglik == pytest.approx(-45.44163143, abs=1e-7)
    assert res.aic == pytest.approx(94.88326287, abs=1e-6)
    assert res.bic == pytest.approx(95.48843305, abs=1e-6)
    assert np.all(res.Omega == 0) and res.n_params == 2
    assert res.q == pytest.approx(128.2267162, rel=1e-8)


# Missing components: PD of Lindhe 1982 and AL of Becker 1988 removed (metafor rows 3, 10)
#   keep <- -c(3, 10); rma.mv(yi, V[keep, keep], mods=~outcome-1, random=~outcome|trial,
#                             struct="UN", data=dat[keep,], method=...)
YM = Y.copy()
YM[1, 0] = np.nan
YM[4, 1] = np.nan


@pytest.mark.parametrize(
    ("method", "est", "se", "tau2", "rho", "ll", "vcov"),
    [("REML", [0.4027921607, -0.3460171084], [0.06018338424, 0.10258823983],
      [0.00909490530, 0.03953271695], -0.1929183063, 2.556086357,
      [[0.0036220397389, -0.0004966156707], [-0.0004966156707, 0.0105243469514]]),
     ("ML", [0.3895727346, -0.3425268381], [0.04925054695, 0.08973730086],
      [0.004707028327, 0.029644075287], -0.07659326806, 4.5919020195,
      [[2.425616375e-03, 7.130968494e-05], [7.130968494e-05, 8.052783166e-03]])],
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
    assert res.q == pytest.approx(123.6017989, rel=1e-8) and res.q_df == 6
    assert res.n_obs == 8
    # unreported entries of the covariance are ignored, even if NaN
    S_nan = S.copy()
    S_nan[1, 0, :] = S_nan[1, :, 0] = np.nan
    again = mvmeta(YM, S_nan, method=method, structure="unstructured")
    np.testing.assert_allclose(again.estimate, res.estimate, rtol=1e-10)


def test_blups_match_metafor_ranef():
    """ranef(res) of the REML UN fit (deviations from the pooled mean), trials 1 and 5."""
    res = mvmeta(Y, S, names=NAMES, study_labels=TRIALS)
    b = res.blup()
    assert list(b.index) == TRIALS
    mu = res.estimate
    np.testing.assert_allclose(b.iloc[0] - mu, [0.0641482255, 0.0143222914], atol=2e-6)
    np.testing.assert_allclose(b.iloc[4] - mu, [0.0773211190, -0.0047129165], atol=2e-6)


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
    """p = 1: metafor rma(yi, vi, data = PD rows, method = "REML"):
    estimate 0.36057661773, se 0.05920307677, tau2 0.01187100775, QE 12.82129634.

    metafor's Fisher scoring stops at tau2 = 0.011871008; the restricted likelihood is
    higher at ours (0.01187056, gradient 1e-10), so agreement is to ~4e-5 relative."""
    for structure in ("unstructured", "compound_symmetry", "diagonal", "identity"):
        res = mvmeta(Y[:, :1], S[:, :1, :1], structure=structure)
        assert res.estimate[0] == pytest.approx(0.36057661773, rel=1e-5)
        assert res.se[0] == pytest.approx(0.05920307677, rel=1e-4)
        assert res.tau2[0] == pytest.approx(0.01187100775, rel=1e-4)
        ll_metafor_tau2 = mvmeta_loglik(Y[:, :1], S[:, :1, :1], [[0.01187100775]])
        assert res.loglik >= ll_metafor_tau2
        assert res.q == pytest.approx(12.82129634019, rel=1e-8)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        (Y[:, 0], S[:, :1, :1], "must be 2-dimensional"),
        (Y[None, None], S, "must have shape \\(k, p\\) or \\(k, p, R\\)"),
        (Y, S[:4], "covariances must have shape \\(5, 2, 2\\)"),
        (np.where(np.arange(2) == 0, np.inf, Y), S, "estimates are infinite"),
        (np.vstack([Y, [[np.nan, np.nan]]]), np.concatenate([S, S[:1]]),
         "studies \\(rows\\) \\[5\\] report no component"),
        (np.column_stack([Y, np.full(5, np.nan)]),
         np.stack([np.pad(s, ((0, 1), (0, 1))) for s in S]),
         "coefficients \\(columns\\) \\[2\\] are missing in every study"),
        (Y, np.where(np.arange(5)[:, None, None] == 2, np.nan, S), "studies \\[2\\] are not "
         "finite"),
        (Y, S + np.array([[0, 1e-3], [0, 0]])[None], "are not symmetric"),
        (Y, np.where(np.arange(5)[:, None, None] == 3, np.array([[1e-3, 2e-3], [2e-3, 1e-3]]),
                     S), "studies \\[3\\] are not positive definite"),
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
