"""E-for-benefit (loess calibration in matched pairs) and the RATE family (TOC, AUTOC,
Qini) against hand computations, brute-force re-implementations and R's loess.

Sources of the definitions:
- matched pairs and pair benefits: van Klaveren et al. (2018), J Clin Epidemiol 94:59-68;
- E-for-benefit (Eavg, E50, E90 of |loess(observed ~ predicted) - predicted| over the
  pairs): Efthimiou et al. (2023), Stat Med 42:1188-1206; Maas et al. (2023), BMC Med Res
  Methodol 23:165 (R package HTEPredictionMetrics, ``E.for.Benefit``);
- loess: Cleveland, Grosse & Shyu (1992), R ``stats::loess`` (span 0.75, degree 2,
  tricube weights on the floor(span * n) nearest points);
- TOC, AUTOC, Qini: Yadlowsky et al. (2025), J Am Stat Assoc 120:38-51, as computed by
  grf's ``rank_average_treatment_effect`` (TOC(j/n) = mean of the top-j scores minus the
  mean of all; AUTOC = mean over j of TOC(j/n); Qini = mean over j of (j/n) TOC(j/n);
  ties replaced by their group mean; fractional last unit on a grid; half-sample
  bootstrap).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_hte as bh
from bayes_hte.errors import DataError
from bayes_hte.evaluation import metrics as mt
from bayes_hte.evaluation.benefit_curve import e_for_benefit, loess
from bayes_hte.evaluation.metrics import c_for_benefit
from bayes_hte.evaluation.ranking import benefit_scores, rate


# --------------------------------------------------------------------------- helpers
def brute_loess(x, y, *, span=0.75, degree=2, at=None):
    """Loess written from its definition: for each point, the full distance vector, the
    q-th smallest distance, tricube weights and a weighted least-squares polynomial."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    at = x if at is None else np.asarray(at, float)
    q = int(np.floor(len(x) * span + 1e-10))
    out = []
    for x0 in at:
        dist = np.abs(x - x0)
        h = np.sort(dist)[q - 1]
        u = dist / h
        w = np.where(u < 1, (1 - u ** 3) ** 3, 0.0)
        design = np.vander(x - x0, degree + 1, increasing=True)
        beta = np.linalg.lstsq(design * np.sqrt(w)[:, None], np.sqrt(w) * y, rcond=None)[0]
        out.append(beta[0])
    return np.array(out)


def brute_rate(scores, priority, grid):
    """TOC / AUTOC / Qini by loops over the ranked units (ties: group means)."""
    scores, priority = np.asarray(scores, float), np.asarray(priority, float)
    n = len(scores)
    levels = sorted(set(priority), reverse=True)
    ranked = []                           # tie-averaged scores in decreasing priority
    for lev in levels:
        members = scores[priority == lev]
        ranked += [members.mean()] * len(members)
    ate = scores.mean()
    toc_j = [sum(ranked[:j]) / j - ate for j in range(1, n + 1)]
    autoc = sum(toc_j) / n
    qini = sum(j / n * t for j, t in enumerate(toc_j, start=1)) / n
    toc_grid = []
    for q in grid:
        units = q * n                     # the first q*n units, the last one fractional
        total = 0.0
        for i, s in enumerate(ranked):
            total += s * min(1.0, max(0.0, units - i))
        toc_grid.append(total / units - ate)
    return autoc, qini, np.array(toc_grid)


# 24 patients, 12 per arm, so that the 1:1 rank matching is deterministic. Controls
# have predicted benefit pred + 0.01, treated pred - 0.01, so sorted arm k pairs with
# sorted arm k and the predicted pair benefit (mean of the two) is pred[k]; observed
# pair benefit obs[k] = y_control - y_treated.
PRED = np.array([-0.06, -0.025, 0.005, 0.03, 0.06, 0.085, 0.11, 0.14, 0.17, 0.205, 0.245,
                 0.3])
OBS = np.array([-1, 0, 0, -1, 0, 1, 0, 0, 1, 0, 1, 1])


def _example_24():
    y_c = np.where(OBS == 1, 1, 0)
    y_t = np.where(OBS == -1, 1, 0)
    y_c[[1, 7]] = y_t[[1, 7]] = 1         # two pairs with an event in both members
    b = np.r_[PRED + 0.01, PRED - 0.01]
    y = np.r_[y_c, y_t]
    z = np.r_[np.zeros(12, int), np.ones(12, int)]
    perm = np.random.default_rng(4).permutation(24)
    return y[perm], z[perm], b[perm]


# --------------------------------------------------------------------------- loess
def test_loess_equals_r_direct_surface():
    # R 4.2: f <- loess(obs ~ pred, control = loess.control(surface = "direct"));
    # sprintf("%.15f", fitted(f)) with pred = PRED, obs = OBS
    r_fitted = [-0.751394295368014, -0.495121246080457, -0.286613954981452,
                -0.135728178758736, 0.015625061236860, 0.212699931909275,
                0.396245694563967, 0.408973900107456, 0.330761112650019,
                0.508741717614297, 0.709031241965054, 1.063980893615857]
    np.testing.assert_allclose(loess(PRED, OBS), r_fitted, atol=1e-12)


@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize("span", [0.3, 0.75, 1.0])
def test_loess_equals_brute_force_with_ties(degree, span):
    rng = np.random.default_rng(degree * 10 + int(span * 10))
    x = np.round(rng.normal(size=60), 1)          # many ties
    y = rng.integers(-1, 2, size=60).astype(float)
    grid = np.linspace(x.min(), x.max(), 7) + 0.013
    np.testing.assert_allclose(loess(x, y, span=span, degree=degree),
                               brute_loess(x, y, span=span, degree=degree), atol=1e-10)
    np.testing.assert_allclose(loess(x, y, span=span, degree=degree, at=grid),
                               brute_loess(x, y, span=span, degree=degree, at=grid),
                               atol=1e-10)
    # rows are smoothed separately
    two = loess(np.stack([x, -x]), np.stack([y, y]), span=span, degree=degree)
    np.testing.assert_allclose(two[1], brute_loess(-x, y, span=span, degree=degree),
                               atol=1e-10)


def test_loess_degenerate_inputs():
    # all x tied: every neighbourhood is the whole tie, the fit is the mean of y
    np.testing.assert_allclose(loess(np.zeros(8), np.arange(8.0)), 3.5)
    # a tie larger than q plus two other points: the tie gets the mean of all its y
    fit = loess(np.r_[np.zeros(8), 1, 2], np.r_[np.arange(8.0), 0, 0])
    np.testing.assert_allclose(fit[:8], 3.5)
    with pytest.raises(DataError, match="fewer than the 3"):
        loess([0.0, 1.0, 2.0], [0.0, 1.0, 0.0])          # floor(0.75 * 3) = 2 < 3
    with pytest.raises(DataError, match="span"):
        loess(PRED, OBS, span=1.5)
    with pytest.raises(DataError, match="degree"):
        loess(PRED, OBS, degree=3)
    with pytest.raises(DataError, match="shape"):
        loess(PRED, OBS[:-1])


# --------------------------------------------------------------------------- E-for-benefit
def test_e_for_benefit_equals_r_on_hand_matched_pairs():
    y, z, b = _example_24()
    res = e_for_benefit(y, z, b)
    # the pairs, derived by hand above
    np.testing.assert_allclose(res.predicted, PRED, atol=1e-15)
    np.testing.assert_array_equal(res.observed, OBS)
    # R 4.2 with pred = PRED, obs = OBS:
    #   f <- loess(obs ~ pred, control = loess.control(surface = "direct"))
    #   e <- abs(fitted(f) - pred); c(mean(e), median(e), quantile(e, 0.9))
    assert res.eavg == pytest.approx(0.336555592198144, abs=1e-12)
    assert res.e50 == pytest.approx(0.288929824772710, abs=1e-12)
    assert res.e90 == pytest.approx(0.669266990439258, abs=1e-12)
    # same R call with degree = 1, span = 0.9
    res1 = e_for_benefit(y, z, b, degree=1, span=0.9)
    assert (res1.eavg, res1.e50, res1.e90) == pytest.approx(
        (0.324487587052765, 0.302477357549172, 0.628604077106470), abs=1e-12)
    # R's default surface = "interpolate" (what HTEPredictionMetrics::E.for.Benefit
    # calls) gives Eavg 0.336541527479981 here: the k-d tree interpolation differs by 1e-5
    assert res.eavg == pytest.approx(0.336541527479981, abs=1e-4)


def test_e_for_benefit_uses_the_pairs_of_c_for_benefit():
    # unequal arms and two strata: the subsampling is random, and the same random_state
    # gives c- and E-for-benefit the same pairs
    rng = np.random.default_rng(1)
    n = 90
    z = (rng.random(n) < 0.4).astype(int)
    strata = np.repeat(["A", "B", "C"], 30)
    y = (rng.random(n) < 0.3).astype(int)
    b = rng.normal(0.05, 0.1, n)
    _, pred, obs = c_for_benefit(y, z, b, random_state=7, strata=strata, return_pairs=True)
    res = e_for_benefit(y, z, b, random_state=7, strata=strata)
    np.testing.assert_array_equal(res.predicted, pred[0])
    np.testing.assert_array_equal(res.observed, obs[0])
    # and E is computed from them by the definition
    e = np.abs(brute_loess(pred[0], obs[0]) - pred[0])
    assert res.eavg == pytest.approx(e.mean(), abs=1e-12)
    assert res.e50 == pytest.approx(np.median(e), abs=1e-12)
    assert res.e90 == pytest.approx(np.quantile(e, 0.9), abs=1e-12)


def test_e_for_benefit_draws_and_bootstrap():
    y, z, b = _example_24()
    rng = np.random.default_rng(3)
    draws = b + rng.normal(0, 0.02, size=(2, 5, 24))
    da = xr.DataArray(draws, dims=("chain", "draw", "patient"))
    res = e_for_benefit(y, z, da, random_state=0)
    assert isinstance(res.eavg, xr.DataArray) and res.eavg.dims == ("chain", "draw")
    assert res.predicted.shape == (2, 5, 12) and res.curve.shape == (2, 5, res.grid.size)
    # equal arms without ties: each draw is its own deterministic matching
    for c in range(2):
        for d in range(5):
            one = e_for_benefit(y, z, draws[c, d])
            assert float(res.eavg[c, d]) == pytest.approx(one.eavg, abs=1e-12)
            assert float(res.e90[c, d]) == pytest.approx(one.e90, abs=1e-12)
    tab = res.table(ci_prob=0.9)
    assert list(tab.index) == ["eavg", "e50", "e90"] and (tab["interval"] == "posterior").all()
    assert tab.loc["eavg", "estimate"] == pytest.approx(float(res.eavg.mean()))
    curve = res.curve_table()
    assert list(curve.columns) == ["predicted", "observed", "ci_low", "ci_high", "interval"]
    # bootstrap of the pairs for a single vector: reproducible, interval around the value
    boot = e_for_benefit(y, z, b, n_bootstrap=40, random_state=5)
    again = e_for_benefit(y, z, b, n_bootstrap=40, random_state=5)
    np.testing.assert_array_equal(boot.boot, again.boot)
    assert boot.boot.shape == (40, 3) and boot.boot_curve.shape == (40, boot.grid.size)
    t = boot.table()
    assert (t["interval"] == "bootstrap").all() and (t["ci_low"] <= t["ci_high"]).all()
    band = boot.curve_table()
    inside = band.dropna()
    assert len(inside) > 0 and (inside["ci_low"] <= inside["ci_high"] + 1e-12).all()
    # without bootstrap there is no interval, and it says so
    assert e_for_benefit(y, z, b).table()["ci_low"].isna().all()


def test_e_for_benefit_edge_cases():
    y, z, b = _example_24()
    # all predicted benefits tied: the curve is the mean observed pair benefit, so every
    # pair is |mean(OBS) - 0.1| away from the diagonal (calibration in the large)
    res = e_for_benefit(y, z, np.full(24, 0.1))
    expected = abs(OBS.mean() - 0.1)
    assert (res.eavg, res.e50, res.e90) == pytest.approx((expected,) * 3, abs=1e-12)
    # a stratum with one arm only
    strata = np.where(np.arange(24) < 12, "T1", "T2")
    only_control = np.r_[np.zeros(12, int), z[12:]]
    with pytest.raises(DataError, match="stratum 'T1'"):
        e_for_benefit(y, only_control, b, strata=strata)
    with pytest.raises(DataError, match="no treated patients"):
        e_for_benefit(y, np.zeros(24, int), b)
    # too few pairs for the loess
    with pytest.raises(DataError, match="too few for the loess"):
        e_for_benefit([1, 0, 0, 1], [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(DataError, match="non-finite"):
        e_for_benefit(y, z, np.r_[b[:-1], np.nan])


# --------------------------------------------------------------------------- RATE
def test_benefit_scores_hand_example_two_strata():
    # stratum A: z = 1 1 0 0, y = 0 1 1 1: pi = 1/2, treated rate 1/2, control rate 1
    #   treated: 1/2 - (y - 1/2)/(1/2) -> 3/2 (y=0), -1/2 (y=1); controls: 1/2 + 0 = 1/2
    # stratum B: z = 1 0 0 0, y = 0 0 1 0: pi = 1/4, rates 0 and 1/3
    #   treated: 1/3 - 0 = 1/3; controls: 1/3 + (y - 1/3)/(3/4) -> -1/9 (y=0), 11/9 (y=1)
    y = [0, 1, 1, 1, 0, 0, 1, 0]
    z = [1, 1, 0, 0, 1, 0, 0, 0]
    s = list("AAAABBBB")
    g = benefit_scores(y, z, strata=s)
    np.testing.assert_allclose(g, [1.5, -0.5, 0.5, 0.5, 1 / 3, -1 / 9, 11 / 9, -1 / 9])
    # the mean over a stratum is its difference in means (control - treated rate)
    assert g[:4].mean() == pytest.approx(0.5) and g[4:].mean() == pytest.approx(1 / 3)
    with pytest.raises(DataError, match="stratum 'B' has no treated"):
        benefit_scores(y, [1, 1, 0, 0, 0, 0, 0, 0], strata=s)


def test_rate_hand_example_with_a_tie():
    # scores of the previous test; priorities with a tie (patients 1 and 2 at 0.5):
    # order 0.9 (3/2), 0.8 (11/9), 0.7 (1/3), 0.5 tie (-1/2, 1/2 -> both 0), 0.4 (1/2),
    # 0.3 (-1/9), 0.2 (-1/9); ATE = (4 * 1/2 + 4 * 1/3) / 8 = 5/12
    # TOC(j/8) = (cumulative sum)/j - 5/12 =
    #   13/12, 17/18, 65/108, 25/72, 7/36, 19/108, 19/252, 0
    # AUTOC = sum / 8 = 575/1344; Qini = sum_j (j/8) TOC_j / 8 = 157/1152
    # TOC(0.3): 2.4 units, (3/2 + 11/9 + 0.4 * 1/3) / 2.4 - 5/12 = 167/216
    y = [0, 1, 1, 1, 0, 0, 1, 0]
    z = [1, 1, 0, 0, 1, 0, 0, 0]
    s = list("AAAABBBB")
    b = [0.9, 0.5, 0.5, 0.4, 0.7, 0.3, 0.8, 0.2]
    res = rate(y, z, b, strata=s, q=[0.25, 0.3, 1.0], n_bootstrap=0)
    assert res.autoc == pytest.approx(575 / 1344, abs=1e-14)
    assert res.qini == pytest.approx(157 / 1152, abs=1e-14)
    np.testing.assert_allclose(res.toc, [17 / 18, 167 / 216, 0.0], atol=1e-14)
    assert res.ate == pytest.approx(5 / 12)
    assert np.isnan(res.autoc_se)
    # the order within the tie does not matter
    perm = [0, 2, 1, 3, 4, 5, 6, 7]
    again = rate(np.take(y, perm), np.take(z, perm), np.take(b, perm),
                 strata=np.take(s, perm), n_bootstrap=0)
    assert again.autoc == pytest.approx(res.autoc, abs=1e-14)


def test_rate_equals_brute_force_and_draws():
    rng = np.random.default_rng(11)
    n = 40
    z = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.35).astype(int)
    strata = np.repeat(["a", "b"], 20)
    draws = np.round(rng.normal(size=(3, 4, n)), 1)           # ties in every draw
    grid = np.linspace(0.05, 1, 20)
    res = rate(y, z, xr.DataArray(draws, dims=("chain", "draw", "patient")),
               strata=strata, q=grid)
    assert res.autoc.dims == ("chain", "draw") and res.toc.shape == (3, 4, 20)
    assert res.n_bootstrap == 0                               # draws: no bootstrap default
    g = benefit_scores(y, z, strata=strata)
    for c in range(3):
        for d in range(4):
            autoc, qini, toc = brute_rate(g, draws[c, d], grid)
            assert float(res.autoc[c, d]) == pytest.approx(autoc, abs=1e-12)
            assert float(res.qini[c, d]) == pytest.approx(qini, abs=1e-12)
            np.testing.assert_allclose(res.toc[c, d], toc, atol=1e-12)
    tab = res.table()
    assert (tab["interval"] == "posterior").all()
    assert tab.loc["autoc", "ci_low"] <= tab.loc["autoc", "ci_high"]
    toc_tab = res.toc_table()
    assert list(toc_tab.columns) == ["q", "estimate", "se", "ci_low", "ci_high", "interval"]


def test_rate_half_sample_bootstrap():
    rng = np.random.default_rng(2)
    n = 101
    z = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.3).astype(int)
    b = rng.normal(size=n)
    res = rate(y, z, b, random_state=3)                       # a vector: 200 half-samples
    assert res.n_bootstrap == 200 and np.isfinite(res.autoc_se) and res.autoc_se > 0
    # re-implementation: the same half-samples (50 of 101, without replacement) drawn
    # from the same generator; SE = standard deviation over them (grf's boot_grf)
    gen = np.random.default_rng(3)
    g = benefit_scores(y, z)
    reps = []
    for _ in range(200):
        pick = gen.choice(n, size=n // 2, replace=False)
        reps.append(brute_rate(g[pick], b[pick], [1.0])[:2])
    reps = np.array(reps)
    assert res.autoc_se == pytest.approx(reps[:, 0].std(ddof=1), abs=1e-12)
    assert res.qini_se == pytest.approx(reps[:, 1].std(ddof=1), abs=1e-12)
    assert res.toc_se[-1] == pytest.approx(0.0, abs=1e-12)   # TOC(1) = 0 in every sample
    tab = res.table(ci_prob=0.9)
    assert tab.loc["autoc", "ci_high"] - tab.loc["autoc", "estimate"] == pytest.approx(
        1.6448536269514722 * res.autoc_se)


def test_rate_edge_cases():
    y = [0, 1, 0, 1, 1, 0, 1, 0]
    z = [1, 0, 1, 0, 1, 0, 1, 0]
    # all priorities tied: no ranking, so TOC = AUTOC = Qini = 0 exactly
    flat = rate(y, z, np.full(8, 0.2), random_state=1)
    assert flat.autoc == 0 and flat.qini == 0 and np.all(flat.toc == 0)
    assert flat.autoc_se == 0
    with pytest.raises(DataError, match="no control patients"):
        rate(y, np.ones(8, int), np.arange(8.0))
    with pytest.raises(DataError, match="stratum 'T2' has no control"):
        rate(y, [1, 0, 1, 0, 1, 1, 1, 1], np.arange(8.0), strata=["T1"] * 4 + ["T2"] * 4)
    with pytest.raises(DataError, match="q must be"):
        rate(y, z, np.arange(8.0), q=[0.5, 0.9])
    with pytest.raises(DataError, match="at least 4 patients"):
        rate([0, 1, 1], [0, 1, 0], [1.0, 2.0, 3.0], n_bootstrap=10)


# --------------------------------------------------------------------------- the table
def test_metric_table_benefit_rows_share_the_c_pairs():
    rng = np.random.default_rng(5)
    n = 120
    z = (rng.random(n) < 0.45).astype(int)
    y = (rng.random(n) < 0.3).astype(int)
    strata = np.repeat(["A", "B", "C"], 40)
    ite = rng.normal(-0.05, 0.08, n) + rng.normal(0, 0.02, size=(30, n))
    plain = mt.metric_table(y, z, ite, strata=strata, random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        tab = mt.metric_table(y, z, ite, strata=strata, random_state=4, benefit_metrics=True)
    assert list(tab["metric"]) == ["c_for_benefit", "calibration_intercept",
                                   "calibration_slope", *mt.BENEFIT_METRICS, "pape",
                                   "pape_se", "gain_vs_treat_all", "gain_vs_treat_none",
                                   "proportion_treated"]
    # the other rows are unchanged (same random stream for c-for-benefit)
    same = tab[tab["metric"].isin(plain["metric"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, plain)
    row = tab.set_index("metric")
    point = -ite.mean(axis=0)
    # E of the point: the 20 subsamples of the c-for-benefit point estimate
    e = e_for_benefit(y, z, point, strata=strata, random_state=4, n_resamples=20)
    assert row.loc["eavg_for_benefit", "estimate"] == pytest.approx(e.eavg, abs=1e-12)
    r = rate(y, z, point, strata=strata, n_bootstrap=0)
    assert row.loc["autoc", "estimate"] == pytest.approx(r.autoc, abs=1e-12)
    assert row.loc["qini", "estimate"] == pytest.approx(r.qini, abs=1e-12)
    assert row.loc["autoc", "ci_low"] <= row.loc["autoc", "ci_high"]
    assert bh.evaluation.e_for_benefit is e_for_benefit and bh.evaluation.rate is rate


# --------------------------------------------------------------------------- workflows
def test_comparison_and_iecv_report_the_benefit_metrics(small_fitted, small_data, cv_fast,
                                                        tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayes_hte import plots
    from bayes_hte.workflows import evaluate_models
    from bayes_hte.workflows.scoring import TOC_GRID

    res = evaluate_models({"NA-S": small_fitted["NA-S"]}, small_data, cv="iecv",
                          cv_options=cv_fast, loo=False, random_state=3)
    for validation in ("in-sample", "iecv"):
        wide = res.summary(validation=validation)
        for metric in mt.BENEFIT_METRICS:
            assert np.isfinite(wide.loc["NA-S", metric]), (validation, metric)
        toc = res.toc[(validation, "NA-S")]
        np.testing.assert_allclose(toc["q"], TOC_GRID)
        assert toc["estimate"].iloc[-1] == pytest.approx(0.0, abs=1e-12)
        assert (toc["ci_low"] <= toc["ci_high"]).all()
        curve = res.benefit_curve[(validation, "NA-S")]
        assert curve["observed"].notna().any() and "eavg" in curve.attrs
    # the in-sample AUTOC of the table is the RATE of the posterior-mean benefit
    trials = np.asarray(small_data.study_labels, dtype=object)[small_data.study_idx]
    benefit = -small_fitted["NA-S"].ite().mean(("chain", "draw")).values
    direct = rate(small_data.y, small_data.z, benefit, strata=trials, n_bootstrap=0)
    assert res.summary().loc["NA-S", "autoc"] == pytest.approx(direct.autoc, rel=0.02)
    # IECV: per held-out trial, pooled and median rows
    iecv_rows = res.table[(res.table["validation"] == "iecv")
                          & (res.table["metric"] == "autoc")]
    assert set(iecv_rows["trial"]) == {*small_data.study_labels, "pooled", "median"}
    paths = res.save(tmp_path) | plots.save_comparison_figures(res, tmp_path)
    for key in ("toc", "benefit_curve", "toc_in_sample", "toc_iecv",
                "benefit_curve_in_sample", "benefit_curve_iecv"):
        assert paths[key].exists() and paths[key].stat().st_size > 0, key
    assert set(pd.read_csv(paths["toc"])["validation"]) == {"in-sample", "iecv"}
    assert plt.get_fignums() == []
