"""Metrics for benefit against small examples computed by hand (and one R reference)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit

import bayes_hte as bh
from bayes_hte.errors import DataError
from bayes_hte.evaluation import metrics as mt
from bayes_hte.evaluation.metrics import (
    benefit_from_ite,
    c_for_benefit,
    calibration_for_benefit,
    coverage,
    mse,
)
from bayes_hte.evaluation.policy import policy_metrics


def brute_force_c(pred, obs):
    """Harrell's C by enumerating every pair of units (reference for the rank formula)."""
    num = den = 0.0
    for i, j in itertools.combinations(range(len(pred)), 2):
        if obs[i] == obs[j]:
            continue
        hi, lo = (i, j) if obs[i] > obs[j] else (j, i)
        den += 1
        num += 1.0 if pred[hi] > pred[lo] else 0.5 if pred[hi] == pred[lo] else 0.0
    return num / den


# --------------------------------------------------------------------------- c-for-benefit
def test_c_for_benefit_hand_example_equal_arms():
    # controls (z=0): benefit 0.40 0.10 0.30 0.20, y 1 0 0 1
    # treated  (z=1): benefit 0.35 0.05 0.15 0.25, y 0 1 0 0
    # sorted controls: 0.10(y0) 0.20(y1) 0.30(y0) 0.40(y1)
    # sorted treated:  0.05(y1) 0.15(y0) 0.25(y0) 0.35(y0)
    # pairs (predicted = mean, observed = y_c - y_t):
    #   p1 (0.075, -1)  p2 (0.175, +1)  p3 (0.275, 0)  p4 (0.375, +1)
    # usable pairs of pairs (observed differ): p1p2 C, p1p3 C, p1p4 C, p2p3 D, p3p4 C
    # (p2p4 tied in observed: not usable)  ->  C = 4 / 5
    y = [1, 0, 0, 1, 0, 1, 0, 0]
    z = [0, 0, 0, 0, 1, 1, 1, 1]
    b = [0.40, 0.10, 0.30, 0.20, 0.35, 0.05, 0.15, 0.25]
    c, pred, obs = c_for_benefit(y, z, b, return_pairs=True)
    assert c == pytest.approx(0.8)
    np.testing.assert_allclose(pred[0], [0.075, 0.175, 0.275, 0.375])
    np.testing.assert_array_equal(obs[0], [-1, 1, 0, 1])
    # the input order does not matter
    perm = np.random.default_rng(0).permutation(8)
    assert c_for_benefit(np.take(y, perm), np.take(z, perm), np.take(b, perm)) == \
        pytest.approx(0.8)


def test_c_for_benefit_ties_in_predicted_pair_benefit_count_one_half():
    # controls: benefit 0.2 0.2 0.5, y 1 0 0; treated: benefit 0.1 0.1 0.4, y 0 0 1
    # the two tied controls meet the two tied treated (both y = 0) in either order:
    #   P1 (0.15, +1)  P2 (0.15, 0)  P3 (0.45, -1)
    # P1P2: observed differ, predicted tie -> 1/2; P1P3 discordant; P2P3 discordant
    # C = 0.5 / 3 = 1/6, whatever the random order of the ties
    y = [1, 0, 0, 0, 0, 1]
    z = [0, 0, 0, 1, 1, 1]
    b = [0.2, 0.2, 0.5, 0.1, 0.1, 0.4]
    for seed in range(5):
        assert c_for_benefit(y, z, b, random_state=seed) == pytest.approx(1 / 6)


def test_c_for_benefit_unequal_arms_subsamples_the_larger_arm():
    # 4 controls: benefit 0.1 0.2 0.3 0.4, y 0 1 0 1; 3 treated: 0.12 0.22 0.32, y 0 1 0
    # one control is dropped at random before the rank matching; by hand:
    #   drop 0.1: pairs (0.16,+1) (0.26,-1) (0.36,+1)          -> C = 1/2
    #   drop 0.2: pairs (0.11, 0) (0.26,-1) (0.36,+1)          -> C = 2/3
    #   drop 0.3: pairs (0.11, 0) (0.21, 0) (0.36,+1)          -> C = 1
    #   drop 0.4: pairs (0.11, 0) (0.21, 0) (0.31, 0)          -> undefined
    y = np.array([0, 1, 0, 1, 0, 1, 0])
    z = np.array([0, 0, 0, 0, 1, 1, 1])
    b = np.array([0.1, 0.2, 0.3, 0.4, 0.12, 0.22, 0.32])
    seen = set()
    for seed in range(40):
        try:
            seen.add(round(c_for_benefit(y, z, b, random_state=seed), 10))
        except DataError:
            seen.add("undefined")
    assert seen == {0.5, round(2 / 3, 10), 1.0, "undefined"}
    # averaging many subsamples: the mean over the defined ones, (1/2 + 2/3 + 1) / 3
    avg = c_for_benefit(y, z, b, random_state=1, n_resamples=3000)
    assert avg == pytest.approx(13 / 18, abs=0.01)
    # the undefined case on its own raises
    keep = np.array([0, 1, 2, 4, 5, 6])
    with pytest.raises(DataError, match="undefined"):
        c_for_benefit(y[keep], z[keep], b[keep])


def test_c_for_benefit_matches_hmisc_rcorr_cens():
    # Reference: R 4.2, Hmisc::rcorr.cens(pred, obs)["C Index"] = 0.508896797153025 for the
    # rank-matched pairs of this data set (controls and treated sorted by b, paired by rank,
    # pred = mean b, obs = y_control - y_treated), computed from the same arrays in R.
    rng = np.random.default_rng(20240501)
    n = 60
    z = np.repeat([0, 1], n // 2)
    b = np.round(rng.normal(0.05, 0.1, n), 4)
    y = rng.binomial(1, 0.3, n)
    assert c_for_benefit(y, z, b) == pytest.approx(0.508896797153025, abs=1e-12)


def test_rank_formula_equals_brute_force_with_ties():
    rng = np.random.default_rng(3)
    pred = np.round(rng.normal(size=(20, 50)), 1)      # many ties
    obs = rng.integers(-1, 2, size=(20, 50)).astype(float)
    got = mt._harrell_c(pred, obs)
    want = [brute_force_c(p, o) for p, o in zip(pred, obs, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_c_for_benefit_draws_return_draws():
    y = [1, 0, 0, 1, 0, 1, 0, 0]
    z = [0, 0, 0, 0, 1, 1, 1, 1]
    b = np.array([0.40, 0.10, 0.30, 0.20, 0.35, 0.05, 0.15, 0.25])
    draws = np.stack([b, -b, b])                     # reversing the ranking
    out = c_for_benefit(y, z, draws)
    assert out.shape == (3,)
    assert out[0] == pytest.approx(0.8) and out[2] == pytest.approx(0.8)
    # -b: sorted controls 0.40(y1) 0.30(y0) 0.20(y1) 0.10(y0), treated 0.35 0.25 0.15 0.05
    # (y 0 0 0 1): pairs (-0.375,+1) (-0.275,0) (-0.175,+1) (-0.075,-1) -> C = 1/5
    assert out[1] == pytest.approx(0.2)
    da = xr.DataArray(np.stack([draws, draws]), dims=("chain", "draw", "patient"))
    res = c_for_benefit(y, z, da)
    assert res.dims == ("chain", "draw")
    np.testing.assert_allclose(res.values, [out, out])


def _heterogeneous_trial(seed: int, n: int):
    """A randomized trial with strong treatment-effect heterogeneity: logit p0 = -1 + x,
    logit p1 = -1 - x, so the true benefit p0 - p1 has sd 0.36 and spans -0.9 to 0.9.
    Returns the generator (for further draws), z, p0, p1 and the outcome y."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.binomial(1, 0.5, n)
    p0, p1 = expit(-1 + x), expit(-1 - x)
    y = rng.binomial(1, np.where(z == 1, p1, p0))
    return rng, z, p0, p1, y


def test_c_for_benefit_perfect_predictor_beats_random():
    n = 4000
    rng, z, p0, p1, y = _heterogeneous_trial(11, n)
    perfect = c_for_benefit(y, z, p0 - p1, random_state=1, n_resamples=20)
    random = c_for_benefit(y, z, rng.normal(size=n), random_state=1, n_resamples=20)
    # measured: perfect predictor 0.7425, random predictor 0.4911 (seed 11)
    assert perfect > 0.68
    assert abs(random - 0.5) < 0.03
    assert perfect - random > 0.15


def test_match_pairs_within_strata():
    z = np.array([0, 0, 1, 1, 1, 0, 1, 1])
    s = np.array(["a", "a", "a", "a", "a", "b", "b", "b"])
    b = np.arange(8.0)
    t, c = mt.match_pairs(z, b, strata=s, random_state=0)
    assert t.shape == c.shape == (1, 3)            # 2 pairs in a, 1 in b
    assert set(c[0]) == {0, 1, 5}
    assert (s[t[0]] == s[c[0]]).all()
    assert (z[t[0]] == 1).all() and (z[c[0]] == 0).all()
    assert len(set(t[0])) == 3


@pytest.mark.parametrize("bad, match", [
    (dict(y=[0, 2, 1, 0]), "y must be 0/1"),
    (dict(treatment=[1, 1, 1, 1]), "no control"),
    (dict(benefit=[0.1, np.nan, 0.2, 0.3]), "non-finite"),
    (dict(benefit=[0.1, 0.2, 0.3]), "patients along its last axis"),
    (dict(y=["a", "b", "a", "b"]), "coded 0/1"),
])
def test_c_for_benefit_errors(bad, match):
    args = dict(y=[1, 0, 0, 1], treatment=[0, 0, 1, 1], benefit=[0.1, 0.2, 0.3, 0.4])
    args.update(bad)
    with pytest.raises(DataError, match=match):
        c_for_benefit(args["y"], args["treatment"], args["benefit"])


def test_match_pairs_stratum_without_an_arm():
    with pytest.raises(DataError, match="stratum 'b'"):
        mt.match_pairs([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], strata=["a", "a", "b", "b"])


# --------------------------------------------------------------------------- calibration
def test_calibration_for_benefit_hand_example():
    # sorted by benefit 0.0 .. 0.9; two groups of five
    # group 1 (b 0.0-0.4): mean predicted 0.2; controls y 1,0,1 -> 2/3; treated y 1,0 -> 1/2
    #   observed 2/3 - 1/2 = 1/6; se = sqrt(.5*.5/2 + (2/3)(1/3)/3) = sqrt(0.199074)
    # group 2 (b 0.5-0.9): mean predicted 0.7; controls y 1,1 -> 1; treated y 0,0,0 -> 0
    #   observed 1
    # line through (0.2, 1/6) and (0.7, 1): slope (5/6)/0.5 = 5/3, intercept 1/6 - 1/3 = -1/6
    b = np.arange(10) / 10
    z = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 1, 0])
    perm = np.random.default_rng(5).permutation(10)
    cal = calibration_for_benefit(y[perm], z[perm], b[perm], groups=2)
    np.testing.assert_allclose(cal.predicted, [0.2, 0.7])
    np.testing.assert_allclose(cal.observed, [1 / 6, 1.0])
    np.testing.assert_allclose(cal.se[0], np.sqrt(0.25 / 2 + (2 / 9) / 3))
    assert cal.slope == pytest.approx(5 / 3)
    assert cal.intercept == pytest.approx(-1 / 6)
    tab = cal.table()
    assert list(tab["n_treated"]) == [2, 3] and list(tab["n_control"]) == [3, 2]
    assert tab["ci_low"].iloc[0] == pytest.approx(1 / 6 - 1.959964 * cal.se[0], rel=1e-6)


def test_calibration_draws_and_errors():
    b = np.arange(10) / 10
    z = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 1, 0])
    cal = calibration_for_benefit(y, z, np.stack([b, b + 1.0]), groups=2)
    np.testing.assert_allclose(cal.slope, [5 / 3, 5 / 3])
    np.testing.assert_allclose(cal.intercept, [-1 / 6, -1 / 6 - 5 / 3])
    assert cal.observed.shape == (2, 2)
    with pytest.raises(ValueError, match="single benefit vector"):
        cal.table()
    # a group without controls: the five lowest predicted benefits are all treated
    z_bad = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    with pytest.raises(DataError, match="group 1 of 2.*no control"):
        calibration_for_benefit(y, z_bad, b, groups=2)
    with pytest.raises(DataError, match="groups must be"):
        calibration_for_benefit(y, z, b, groups=6)


# --------------------------------------------------------------------------- MSE, coverage
def test_mse_and_coverage_hand():
    truth = np.array([0.0, 0.1, -0.2])
    est = np.array([0.1, 0.1, 0.0])
    # ((0.1)^2 + 0 + (0.2)^2) / 3 = 0.05 / 3
    assert mse(est, truth) == pytest.approx(0.05 / 3)
    np.testing.assert_allclose(mse(np.stack([est, truth]), truth), [0.05 / 3, 0.0])
    # draws 0..100 per patient: the 95% interval is [2.5, 97.5]
    draws = np.tile(np.arange(101.0)[:, None], (1, 3))
    assert coverage(draws, np.array([50.0, 1.0, 97.0])) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="one value per patient"):
        mse(est, np.array([[0.0]]))


# --------------------------------------------------------------------------- policy
def test_policy_metrics_hand_example():
    # rule f = benefit > 0 = 1 0 1 0 | 1 0 1 0 ; treated are the first four
    # risk(f) = (1/4) sum y z f + (1/4) sum y (1-z)(1-f) = 0/4 + (y5 + y7)/4 = 1/4
    # treat-all risk = mean y | treated = 2/4, treat-none = mean y | control = 3/4
    # PAPE = n/(n-1) (p_f R1 + (1-p_f) R0 - R(f)) = 8/7 (0.25 + 0.375 - 0.25) = 3/7
    z = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    y = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    b = np.array([0.2, -0.1, 0.3, -0.2, 0.1, -0.3, 0.4, -0.05])
    res = policy_metrics(y, z, b)
    assert res["risk_rule"] == pytest.approx(0.25)
    assert res["pape"] == pytest.approx(3 / 7)
    assert res["gain_vs_treat_all"] == pytest.approx(0.25)
    assert res["gain_vs_treat_none"] == pytest.approx(0.5)
    assert res["proportion_treated"] == pytest.approx(0.5)
    # the PAPE estimator of Imai & Li (2021) written out with the favourable outcome Y = -y
    Y, n, n1, n0, f = -y, 8, 4, 4, (b > 0).astype(float)
    pf = f.mean()
    pape_il = n / (n - 1) * ((Y * z * f).sum() / n1 + (Y * (1 - z) * (1 - f)).sum() / n0
                             - pf / n1 * (Y * z).sum() - (1 - pf) / n0 * (Y * (1 - z)).sum())
    assert res["pape"] == pytest.approx(pape_il)


def test_policy_treat_everyone_has_zero_pape_and_draws():
    z = np.array([1, 1, 0, 0])
    y = np.array([0, 1, 1, 1])
    res = policy_metrics(y, z, np.stack([np.ones(4), -np.ones(4)]))
    np.testing.assert_allclose(res["pape"], [0.0, 0.0])
    np.testing.assert_allclose(res["gain_vs_treat_all"], [0.0, -0.5])
    np.testing.assert_allclose(res["gain_vs_treat_none"], [0.5, 0.0])


# --------------------------------------------------------------------------- conventions
def test_benefit_sign_and_event_by_horizon():
    assert benefit_from_ite(np.array([-0.1]), "binary")[0] == pytest.approx(0.1)
    assert benefit_from_ite(np.array([0.1]), "time_to_event")[0] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        benefit_from_ite(np.array([0.1]), "count")
    # event at 1 (by the horizon 2), event at 3 (after it), censored at 1 (unknown),
    # censored at 5 and exactly at 2 (event-free at the horizon)
    y, known = mt.event_by_horizon([1.0, 3.0, 1.0, 5.0, 2.0], [1, 1, 0, 0, 0], horizon=2.0)
    np.testing.assert_array_equal(y, [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(known, [True, True, False, True, True])
    with pytest.raises(DataError, match="horizon"):
        mt.event_by_horizon([1.0], [1], horizon=0.0)


def test_metric_table_rows_and_public_names():
    n = 400
    rng, z, p0, p1, y = _heterogeneous_trial(2, n)
    ite = (p1 - p0) + rng.normal(scale=0.02, size=(2, 50, n))
    tab = mt.metric_table(y, z, ite, truth=p1 - p0, ite_new=ite, random_state=1)
    assert list(tab["metric"]) == ["c_for_benefit", "calibration_intercept",
                                   "calibration_slope", "mse", "ci_coverage", "pi_coverage",
                                   "pape", "pape_se", "gain_vs_treat_all",
                                   "gain_vs_treat_none", "proportion_treated"]
    row = tab.set_index("metric")
    assert row.loc["c_for_benefit", "ci_low"] <= row.loc["c_for_benefit", "ci_high"]
    assert row.loc["mse", "estimate"] < row.loc["mse", "mean"]     # MSE of the mean is smaller
    assert row.loc["ci_coverage", "estimate"] > 0.9
    assert np.isnan(row.loc["ci_coverage", "sd"])
    assert bh.evaluation.c_for_benefit is c_for_benefit


# --------------------------------------------------------------------------- bad inputs
_RNG = np.random.default_rng(1)
_N = 40
_Y = _RNG.integers(0, 2, _N)
_Z = _RNG.permutation(np.r_[np.ones(20, int), np.zeros(20, int)])
_B = _RNG.normal(size=_N)


@pytest.mark.parametrize(("call", "error", "match"), [
    # nothing coerced: text (even "0.1"), complex numbers
    (lambda: c_for_benefit(_Y, _Z, [str(v) for v in _B]), DataError,
     r"benefit must be real numbers: '.*' at patient 0 is not \(40 such entries\)"),
    (lambda: policy_metrics(_Y, _Z, _B + 1j), DataError, "benefit must be real numbers"),
    # integer options: not 2.5, not True, not text
    (lambda: calibration_for_benefit(_Y, _Z, _B, groups=2.5), DataError,
     r"groups must be an integer >= 2, got 2.5"),
    (lambda: calibration_for_benefit(_Y, _Z, _B, groups=True), DataError,
     r"groups must be an integer >= 2, got True"),
    (lambda: c_for_benefit(_Y, _Z, _B, n_resamples=2.7), ValueError,
     r"n_resamples must be an integer >= 1, got 2.7"),
    (lambda: bh.evaluation.rate(_Y, _Z, _B, n_bootstrap=2.5), ValueError,
     r"n_bootstrap must be an integer >= 0"),
    (lambda: bh.evaluation.e_for_benefit(_Y, _Z, _B, n_bootstrap="3"), ValueError,
     r"n_bootstrap must be an integer >= 0, got '3'"),
    (lambda: c_for_benefit(_Y, _Z, _B, random_state="a"), ValueError,
     r"random_state must be an integer >= 0, got 'a'"),
    # a threshold that is not a finite number (NaN had treated nobody: PAPE 0)
    (lambda: policy_metrics(_Y, _Z, _B, threshold=np.nan), ValueError,
     r"threshold must be a finite number, got nan"),
    (lambda: policy_metrics(_Y, _Z, _B, threshold="0.1"), ValueError,
     r"threshold must be a finite number"),
    # no draws; a NaN named by its draw and patient; the length named by its argument
    (lambda: c_for_benefit(_Y, _Z, np.zeros((0, _N))), DataError, r"benefit has no draws"),
    (lambda: policy_metrics(_Y, _Z, np.zeros((0, _N))), DataError, r"benefit has no draws"),
    (lambda: c_for_benefit(_Y, _Z, np.where(np.arange(3 * _N).reshape(3, _N) == 87, np.nan,
                                            1.0)), DataError,
     r"non-finite values at draw 2, patient 7 \(1 entries; patients \[7\]\)"),
    (lambda: mse(_B, _B[:-1]), DataError, r"estimate has 40 patients .* but truth has 39"),
    (lambda: coverage(_B, _B), DataError, r"draws must be posterior draws"),
    # a predicted benefit that does not vary has no groups (ties stay together), no slope
    (lambda: calibration_for_benefit(_Y, _Z, np.zeros(_N), groups=4), DataError,
     r"the same for all 40 patients \(0\): tied benefits are kept in one calibration "
     r"group.*fewer groups do not help"),
])
def test_bad_inputs_and_options_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_calibration_slope_undefined_in_some_draws_warns():
    draws = np.vstack([_B, np.zeros(_N)])
    with pytest.warns(bh.DataWarning, match=r"slope is undefined \(NaN\) in 1 of 2 draws"):
        cal = calibration_for_benefit(_Y, _Z, draws, groups=4)
    assert np.isfinite(cal.slope[0]) and np.isnan(cal.slope[1])
    cal_da = calibration_for_benefit(
        _Y, _Z, xr.DataArray(np.tile(_B, (2, 2, 1)), dims=("chain", "draw", "patient")),
        groups=np.int64(4))  # numpy integers are integers
    assert cal_da.slope.dims == ("chain", "draw")
