"""Univariate meta-analysis: agreement with R metafor, vectorisation, properties, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import optimize

import bayes_hte as bh
from bayes_hte import DataError, DataWarning, EffectTable
from bayes_hte.comparators import heterogeneity as uv
from bayes_hte.comparators.heterogeneity import estimate_tau2, q_profile_ci
from bayes_hte.comparators.univariate import ConvergenceWarning, meta_analysis
from tests._helpers import reference

METHODS = ["FE", "DL", "REML", "ML", "PM"]

# ----------------------------------------------------------------------------------------
# Reference numbers of R metafor in tests/data/metafor_bcg.json and metafor_small.json,
# written by validation/metafor_reference.R (their "source" and "call" fields give the R
# and metafor versions and the exact calls). BCG vaccine data (metafor's dat.bcg):
# yi/vi = escalc(measure="RR"/"OR"/"RD", ai=tpos, bi=tneg, ci=cpos, di=cneg).
# METAFOR[(method, knha)]: rma(yi, vi, method=, test="z"/"knha",
#     control=list(threshold=1e-12, tol=1e-12, maxiter=1000)) -> b, se, zval, pval, ci.lb/ub,
#     tau2, I2, H2, QE, QEp; predict(fit) -> pi.lb/ub (FE: none, we store the CI);
#     confint(fit, control=list(tol=1e-12))$random["tau^2", ] -> tau2_ci (FE: none, nan).
# The tight control only removes metafor's default iteration tolerance (1e-5 on tau² for
# REML/ML, uniroot tol 1.2e-4 for PM and confint); with defaults the values agree with
# these to the 4 significant digits metafor prints.
# METAFOR_OTHER: same for log OR and RD (DL, REML). SMALL: three made-up data sets
# (a: tau² truncated at 0; b: Q below both chi² quantiles; c: clear heterogeneity).
# ----------------------------------------------------------------------------------------
_BCG = reference("metafor_bcg")
_SMALL = reference("metafor_small")


def _ref(fit: dict, keys) -> dict:
    """The reference values of one fit (JSON null -> nan)."""
    return {k: np.asarray(fit[k], dtype=float) for k in keys}


BCG_RR_YI = np.array(_BCG["escalc"]["RR"]["yi"])
BCG_RR_VI = np.array(_BCG["escalc"]["RR"]["vi"])
BCG_OR_YI = np.array(_BCG["escalc"]["OR"]["yi"])
BCG_OR_VI = np.array(_BCG["escalc"]["OR"]["vi"])
BCG_RD_YI = np.array(_BCG["escalc"]["RD"]["yi"])
BCG_RD_VI = np.array(_BCG["escalc"]["RD"]["vi"])

METAFOR = {
    (f["method"], f["test"] == "knha"): _ref(f, ("estimate", "se", "stat", "p", "ci", "pi",
                                                  "tau2", "i2", "h2", "q", "q_p", "tau2_ci"))
    for f in _BCG["rma"]["fits"]
}
METAFOR_OTHER = {
    (f["measure"], f["method"]): _ref(f, ("estimate", "se", "tau2", "i2", "q"))
    for f in _BCG["rma_other"]["fits"]
}
SMALL = {
    (f["data"], f["method"]): _ref(f, ("estimate", "se", "tau2", "i2", "h2", "q", "pi",
                                       "tau2_ci", "i2_ci"))
    for f in _SMALL["rma"]["fits"]
}
SMALL_DATA = {name: (d["yi"], d["vi"]) for name, d in _SMALL["data"].items()}


def _close(got, want, rtol=1e-6, atol=1e-10):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize(("method", "knha"), list(METAFOR))
def test_bcg_log_rr_matches_metafor(method, knha):
    ref = METAFOR[(method, knha)]
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method=method, knha=knha)
    _close(res.estimate, ref["estimate"])
    _close(res.se, ref["se"])
    _close(res.statistic, ref["stat"])
    _close(res.p, ref["p"], rtol=1e-5, atol=1e-300)
    _close(res.ci, ref["ci"])
    _close(res.pi, ref["pi"])
    _close(res.tau2, ref["tau2"])
    _close(res.i2, ref["i2"])
    _close(res.h2, ref["h2"])
    _close(res.q, ref["q"])
    _close(res.q_p, ref["q_p"], rtol=1e-5, atol=1e-300)
    assert res.q_df == 12 and res.k == 13
    # the Q-profile interval does not depend on the tau² estimator (metafor has none for FE)
    _close(res.tau2_ci, METAFOR[("REML", False)]["tau2_ci"])
    assert res.df == (12 if knha else np.inf)


@pytest.mark.parametrize(("measure", "method"), list(METAFOR_OTHER))
def test_bcg_log_or_and_rd_match_metafor(measure, method):
    ref = METAFOR_OTHER[(measure, method)]
    yi, vi = globals()[f"BCG_{measure}_YI"], globals()[f"BCG_{measure}_VI"]
    res = meta_analysis(yi, vi, method=method)
    for key in ("estimate", "se", "tau2", "i2", "q"):
        _close(getattr(res, key), ref[key])


@pytest.mark.parametrize(("name", "method"), list(SMALL))
def test_small_sets_match_metafor_including_zero_bounds(name, method):
    ref = SMALL[(name, method)]
    res = meta_analysis(*SMALL_DATA[name], method=method)
    for key in ("estimate", "se", "tau2", "i2", "h2", "q", "pi", "tau2_ci", "i2_ci"):
        _close(getattr(res, key), ref[key], atol=1e-9)


def test_effect_table_input_and_public_entry_point():
    table = EffectTable.from_arrays(BCG_RR_YI, BCG_RR_VI, measure="RR", scale="log",
                                    labels=[f"t{i}" for i in range(13)])
    res = bh.comparators.meta_analysis(table, method="REML", knha=False)
    _close(res.estimate, METAFOR[("REML", False)]["estimate"])
    assert res.measure == "RR" and res.scale == "log"
    st_ = res.study_table()
    assert tuple(st_.index) == table.labels
    assert st_["weight"].sum() == pytest.approx(100.0)
    summ = res.summary(transform="exp")
    assert summ.loc["REML", "estimate"] == pytest.approx(np.exp(res.estimate))
    assert summ.loc["REML", "ci_low"] == pytest.approx(np.exp(res.ci[0]))
    assert summ.loc["REML", "tau2_ci_high"] == pytest.approx(res.tau2_ci[1])
    # the SE stays on the log scale and says so beside exponentiated estimates
    assert "se" not in summ and summ.loc["REML", "se_untransformed"] == pytest.approx(res.se)
    assert res.summary().loc["REML", "se"] == pytest.approx(res.se)
    assert list(res.study_table(transform="exp").columns) == [
        "estimate", "se_untransformed", "ci_low", "ci_high", "weight"]
    assert summ.attrs["measure"] == "RR"
    lo, hi = res.ci
    assert lo < res.estimate < hi
    assert isinstance(res.estimate, float) and isinstance(res.tau2, float)
    assert res.tau == pytest.approx(np.sqrt(res.tau2))


def test_higgins_prediction_interval_uses_t_k_minus_2():
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="REML", pi_type="higgins")
    from scipy import stats

    half = stats.t.ppf(0.975, 11) * np.sqrt(res.se**2 + res.tau2)
    _close(res.pi, [res.estimate - half, res.estimate + half])
    ref = METAFOR[("REML", False)]["pi"]
    assert res.pi[1] - res.pi[0] > ref[1] - ref[0]


# ------------------------------------------------------------------------ vectorisation
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("knha", [False, True])
def test_vectorised_equals_loop(method, knha):
    rng = np.random.default_rng(11)
    k, shape = 7, (3, 4)
    vi = rng.uniform(0.01, 0.5, size=(k, *shape))
    yi = rng.normal(0.0, np.sqrt(vi + rng.choice([0.0, 0.1, 1.0], size=shape)))
    res = meta_analysis(yi, vi, method=method, knha=knha)
    assert np.shape(res.estimate) == shape and res.ci.shape == (2, *shape)
    assert res.tau2_ci.shape == (2, *shape) and res.weights.shape == (k, *shape)
    for idx in np.ndindex(shape):
        one = meta_analysis(yi[(slice(None), *idx)], vi[(slice(None), *idx)], method=method,
                            knha=knha)
        for key in ("estimate", "se", "p", "tau2", "i2", "h2", "q"):
            _close(np.asarray(getattr(res, key))[idx], getattr(one, key), rtol=1e-8)
        _close(res.ci[(slice(None), *idx)], one.ci, rtol=1e-8)
        _close(res.pi[(slice(None), *idx)], one.pi, rtol=1e-8)
        _close(res.tau2_ci[(slice(None), *idx)], one.tau2_ci, rtol=1e-7)
    summ = res.summary()
    assert len(summ) == 12 and summ.index.nlevels == 2


def _profile_max(y, v, reml):
    def neg(t):
        return -float(uv._loglik(y[:, None], v[:, None], np.array([t]), reml)[0])

    grid = np.concatenate([[0.0], np.geomspace(1e-8, 100.0, 400)])
    t0 = grid[np.argmin([neg(t) for t in grid])]
    if t0 == 0.0:
        return 0.0 if neg(0.0) <= neg(1e-9) else optimize.minimize_scalar(
            neg, bounds=(0, 1e-6), method="bounded").x
    lo, hi = t0 / 1.1, t0 * 1.1
    return optimize.minimize_scalar(neg, bounds=(lo, hi), method="bounded",
                                    options={"xatol": 1e-13}).x


def test_reml_ml_converge_on_hard_replicates_and_find_the_maximum():
    """10,000 replicates mixing k=2, extreme variance ratios and huge heterogeneity."""
    rng = np.random.default_rng(5)
    k, R = 13, 10_000
    vi = np.exp(rng.uniform(-9, 3, size=(k, R)))  # variances from 1e-4 to 20 within a study set
    tau2 = rng.choice([0.0, 1e-3, 0.3, 50.0], size=R)
    yi = rng.normal(rng.normal(0, 3, size=R), np.sqrt(vi + tau2))
    for method in ("REML", "ML", "PM"):
        t2, conv = estimate_tau2(yi, vi, method=method)
        assert conv.all() and np.isfinite(t2).all() and (t2 >= 0).all()
    t2, _ = estimate_tau2(yi, vi, method="REML")
    for r in rng.choice(R, size=25, replace=False):
        want = _profile_max(yi[:, r], vi[:, r], True)
        assert t2[r] == pytest.approx(want, rel=1e-5, abs=1e-9)
    # two studies
    t2, conv = estimate_tau2(yi[:2], vi[:2], method="REML")
    assert conv.all() and (t2 >= 0).all()


def test_non_convergence_is_reported_not_returned(monkeypatch):
    monkeypatch.setattr(uv, "_fallback_likelihood",
                        lambda y, v, reml, cols: (np.full(cols.size, np.nan),
                                                  np.zeros(cols.size, dtype=bool)))
    yi = np.stack([BCG_RR_YI, BCG_RR_YI[::-1], np.zeros(13)], axis=1)
    vi = np.stack([BCG_RR_VI] * 3, axis=1)
    with pytest.warns(ConvergenceWarning, match="did not converge for 2 of 3"):
        res = meta_analysis(yi, vi, method="REML", maxiter=1)
    # the third replicate (all yi equal) converges at the boundary tau² = 0 in one step
    np.testing.assert_array_equal(res.converged, [False, False, True])
    assert np.isnan(res.estimate[:2]).all() and np.isnan(res.tau2_ci[:, :2]).all()
    assert res.tau2[2] == 0.0 and np.isfinite(res.estimate[2])
    # and the default settings converge
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ok = meta_analysis(yi, vi, method="REML")
    assert ok.converged.all()


def test_q_profile_function_matches_result_attribute():
    ci = q_profile_ci(BCG_RR_YI, BCG_RR_VI, ci_prob=0.9)
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, ci_prob=0.9)
    _close(res.tau2_ci, ci)
    assert ci[0] > METAFOR[("REML", False)]["tau2_ci"][0]


# ------------------------------------------------------------------------ properties
def _studies(k_min=2, k_max=12):
    return st.integers(k_min, k_max).flatmap(lambda k: st.tuples(
        hnp.arrays(float, k, elements=st.floats(-4, 4)),
        hnp.arrays(float, k, elements=st.floats(1e-3, 2.0)),
    ))


PROP = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@PROP
@given(data=_studies(), method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_permutation_of_studies_leaves_results_unchanged(data, method, seed):
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(yi.size)
    a = meta_analysis(yi, vi, method=method)
    b = meta_analysis(yi[perm], vi[perm], method=method)
    for key in ("estimate", "se", "tau2", "i2", "q"):
        _close(getattr(b, key), getattr(a, key), rtol=1e-6, atol=1e-9)
    _close(b.tau2_ci, a.tau2_ci, rtol=1e-6, atol=1e-9)


@PROP
@given(data=_studies(), method=st.sampled_from(METHODS), shift=st.floats(-10, 10),
       scale=st.floats(0.05, 20))
def test_shift_and_scale_equivariance(data, method, shift, scale):
    yi, vi = data
    a = meta_analysis(yi, vi, method=method)
    b = meta_analysis(yi + shift, vi, method=method)
    _close(b.estimate, a.estimate + shift, rtol=1e-6, atol=1e-8)
    _close(b.tau2, a.tau2, rtol=1e-6, atol=1e-9)
    _close(b.ci, a.ci + shift, rtol=1e-6, atol=1e-8)
    c = meta_analysis(yi * scale, vi * scale**2, method=method)
    _close(c.estimate, a.estimate * scale, rtol=1e-6, atol=1e-8)
    _close(c.tau2, a.tau2 * scale**2, rtol=1e-5, atol=1e-9 * scale**2)
    _close(c.i2, a.i2, rtol=1e-5, atol=1e-6)
    _close(c.q, a.q, rtol=1e-8)
    _close(c.statistic, a.statistic, rtol=1e-5, atol=1e-8)


@PROP
@given(data=_studies(), method=st.sampled_from(METHODS), knha=st.booleans())
def test_tau2_nonnegative_and_intervals_ordered(data, method, knha):
    yi, vi = data
    res = meta_analysis(yi, vi, method=method, knha=knha)
    assert res.tau2 >= 0 and 0 <= res.i2 <= 100
    # H² = (tau² + s²)/s² >= 1 for RE fits; FE reports Q/(K-1), as metafor
    assert res.h2 >= (0 if method == "FE" else 1 - 1e-12)
    assert res.ci[0] <= res.estimate <= res.ci[1]
    if not knha:  # with knha the adjusted se can be below the unadjusted one
        assert res.pi[0] <= res.ci[0] + 1e-12 and res.ci[1] <= res.pi[1] + 1e-12
    lo, hi = res.tau2_ci
    assert 0 <= lo <= hi


@PROP
@given(data=_studies(k_min=3), method=st.sampled_from(["DL", "REML", "ML", "PM"]))
def test_random_effects_equals_fixed_effect_when_tau2_is_zero(data, method):
    yi, vi = data
    # shrink the spread until the data are homogeneous: every estimator gives tau² = 0
    mid = np.average(yi, weights=1 / vi)
    y0 = mid + 0.01 * (yi - mid) * np.sqrt(vi.min())
    re = meta_analysis(y0, vi, method=method)
    fe = meta_analysis(y0, vi, method="FE")
    assert re.tau2 == 0.0
    for key in ("estimate", "se", "p"):
        _close(getattr(re, key), getattr(fe, key), rtol=1e-10, atol=1e-12)
    _close(re.pi, fe.ci, rtol=1e-10, atol=1e-12)
    # and on general data: where an estimator returns 0, it is the FE answer
    r2 = meta_analysis(yi, vi, method=method)
    assume(r2.tau2 == 0.0)
    _close(r2.estimate, meta_analysis(yi, vi, method="FE").estimate, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("yi", "vi", "match"),
    [
        ([0.1], [0.1], "at least 2 studies"),
        # studies of bare arrays are named by position from 1, as the results label them
        ([0.1, np.nan, 0.3], [0.1, 0.1, 0.1], r"yi are missing or not finite at study 2;"),
        ([0.1, 0.2, 0.3], [0.1, 0.0, 0.1], r"vi must be finite and > 0.*study 2;"),
        ([0.1, 0.2, 0.3], [0.1, -2, np.inf], r"study 2, study 3;"),
        # text is not read as a number (it was: "0.5" silently, "abc" in numpy's float())
        (["0.5", "0.2", "0.3"], [0.1, 0.1, 0.1],
         r"yi must be real numbers: '0.5' at study 1 is not \(3 such entries\)"),
        ([0.5, "abc", 0.3], [0.1, 0.1, 0.1], r"yi must be real numbers: 'abc' at study 2"),
        ([0.5, 0.2, 0.3], [0.1, True, 0.1], r"vi must be real numbers: True at study 2"),
        ([0.1, 0.2], [0.1, 0.2, 0.3], "same shape"),
        (0.1, 0.1, "first axis"),
    ],
)
def test_bad_inputs_raise_data_error(yi, vi, match):
    with pytest.raises(DataError, match=match):
        meta_analysis(yi, vi)


def test_bad_replicate_is_named():
    yi = np.zeros((3, 2, 2))
    vi = np.ones((3, 2, 2))
    vi[1, 1, 0] = 0.0
    with pytest.raises(DataError, match=r"study 2 \(replicate \(1, 0\)\)"):
        meta_analysis(yi, vi)


def test_labels_name_studies_and_must_be_unique():
    """metafor-style labels: EffectTable refused repeated ones, meta_analysis took them."""
    with pytest.raises(DataError, match=r"study labels \['a'\] occur more than once"):
        meta_analysis([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], labels=["a", "a", "b"])
    with pytest.raises(DataError, match=r"yi must be real numbers: 'x' at study 'b'"):
        meta_analysis([0.1, "x", 0.3], [0.1, 0.1, 0.1], labels=["a", "b", "c"])


def test_the_variance_warning_names_both_studies():
    """It named the smallest-variance study only, asking to check it, where the outlier
    was the largest."""
    with pytest.warns(DataWarning, match=r"largest sampling variance \(study 3\) is 1e\+10 "
                                         r"times the smallest \(study 1\)"):
        meta_analysis([0.1, 0.2, 0.3, 0.1], [0.1, 0.1, 1e9, 0.1])


def test_option_errors():
    table = EffectTable.from_arrays([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(DataError, match="do not pass vi"):
        meta_analysis(table, [0.1, 0.1])
    with pytest.raises(DataError, match="vi .* is required"):
        meta_analysis([0.1, 0.2])
    with pytest.raises(ValueError, match="method must be one of"):
        meta_analysis([0.1, 0.2], [0.1, 0.1], method="GENQ")
    with pytest.raises(ValueError, match="level"):
        meta_analysis([0.1, 0.2], [0.1, 0.1], ci_prob=95)
    with pytest.raises(DataError, match="at least 3 studies"):
        meta_analysis([0.1, 0.2], [0.1, 0.1], pi_type="higgins")
    with pytest.raises(DataError, match="2 labels for 3 studies"):
        meta_analysis([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], labels=["a", "b"])


def test_inputs_not_modified():
    yi, vi = BCG_RR_YI.copy(), BCG_RR_VI.copy()
    res = meta_analysis(yi, vi)
    res.yi[0] = 99.0
    np.testing.assert_array_equal(yi, BCG_RR_YI)
    assert isinstance(res.summary(), pd.DataFrame)


# ------------------------------------------------------------------------ zero-cell trials
# tests/data/metafor_zero_patterns.json: four trials whose second, T2, has a zero pattern
# (one zero cell, double zero, an all-events arm, all events in both arms); escalc with
# metafor's defaults (drop00 = FALSE) and with drop00 = TRUE, then rma(method = "REML").
_ZP = reference("metafor_zero_patterns")


@pytest.mark.parametrize("fit", _ZP["fits"],
                         ids=[f"{f['pattern']}-{f['measure']}-drop00={f['drop00']}"
                              for f in _ZP["fits"]])
def test_zero_cell_meta_analysis_matches_metafor_rma(fit):
    table = bh.ArmTable.from_frame(pd.DataFrame(_ZP["data"][fit["pattern"]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bh.DataWarning)
        eff = table.effects(fit["measure"], drop_double_zero=fit["drop00"])
    res = meta_analysis(eff, method="REML")
    assert res.k == fit["k"]
    _close(res.estimate, fit["estimate"], rtol=1e-6, atol=1e-9)
    _close(res.se, fit["se"], rtol=1e-6)
    _close(res.tau2, fit["tau2"], rtol=1e-5, atol=1e-9)


def test_rd_of_a_double_zero_trial_counts_as_in_metafor():
    """The report that found it: T2 (0/40 vs 0/40) is informative for the RD; metafor 3.8.1
    (escalc(measure="RD"), rma(method="REML"), default control) keeps it."""
    counts = pd.DataFrame({"study": ["T1", "T2", "T3", "T4"], "e1": [3, 0, 5, 2],
                           "n1": [50, 40, 60, 30], "e0": [6, 0, 9, 4], "n0": [50, 40, 60, 30]})
    table = bh.ArmTable.from_events(counts, events1="e1", total1="n1", events0="e0",
                                    total0="n0", study="study")
    eff = table.effects("RD")
    np.testing.assert_allclose(eff.yi, [-0.06, 0, -0.0666667, -0.0666667], atol=5e-8)
    np.testing.assert_allclose(eff.vi, [0.00324, 0.000587629, 0.00339815, 0.00592593],
                               rtol=5e-6)
    res = bh.comparators.meta_analysis(eff, method="REML")
    assert res.estimate == pytest.approx(-0.0248434, rel=1e-5)
    assert res.se == pytest.approx(0.0233233, rel=1e-5)
    assert res.tau2 == pytest.approx(0.000301236, rel=1e-4)
    with pytest.warns(bh.DataWarning, match="excluded double-zero study 'T2'"):
        dropped = table.effects("RD", drop_double_zero=True)
    assert meta_analysis(dropped, method="REML").estimate == pytest.approx(-0.064, abs=5e-5)


def test_bad_inputs_name_the_studies_by_label():
    with pytest.raises(DataError, match=r"yi are missing or not finite at study 'B'"):
        meta_analysis([0.1, np.nan, 0.3], [0.1, 0.1, 0.1], labels=["A", "B", "C"])
    with pytest.raises(DataError, match=r"vi must be finite and > 0, not so at study 'C'"):
        meta_analysis([0.1, 0.2, 0.3], [0.1, 0.1, 0.0], labels=["A", "B", "C"])
    with pytest.raises(DataError, match="2 labels for 3 studies"):
        meta_analysis([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], labels=["A", "B"])


def test_subgroup_rows_of_the_same_studies_are_flagged():
    """Rows that are subgroups of one study are pooled as independent studies: said."""
    df = pd.DataFrame({"study": ["A", "A", "B", "B"], "sg": ["m", "f", "m", "f"],
                       "yi": [0.1, 0.2, 0.3, 0.4], "vi": [0.1] * 4})
    table = bh.EffectTable.from_frame(df, yi="yi", vi="vi", study="study", subgroup="sg")
    with pytest.warns(bh.DataWarning, match=r"the 4 rows come from 2 studies \(studies "
                                            r"\['A', 'B'\]"):
        bh.comparators.meta_analysis(table, method="REML")
    one = bh.EffectTable.from_frame(df[df["sg"] == "f"], yi="yi", vi="vi", study="study",
                                    subgroup="sg")
    with warnings.catch_warnings():
        warnings.simplefilter("error", bh.DataWarning)  # one row per study: nothing to say
        bh.comparators.meta_analysis(one, method="REML")


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_one_tiny_variance_puts_tau2_at_its_boundary(method):
    """The stopping rule is relative to the mean variance, so with one variance of 1e-30
    the iteration stopped at tau2 ~ 6e-12 and the SE was sqrt(tau2) ~ 2.4e-6. The maximum
    is at 0 (metafor: tau2 = 0), and then the SE is sqrt(1 / (1e30 + 10 + 10)) = 1e-15."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bh.DataWarning)   # the variance-ratio warning
        res = meta_analysis([0.1, 0.2, 0.3], [1e-30, 0.1, 0.1], method=method)
    assert res.tau2 == 0.0
    assert res.se == pytest.approx(1e-15, rel=1e-9)
    assert res.estimate == pytest.approx(0.1, abs=1e-12)


def test_tau_and_h2_intervals_as_metafor_confint():
    """metafor 3.8-1, confint(rma(yi, vi, data = escalc("RR", BCG), control =
    list(threshold = 1e-10)), control = list(tol = 1e-12))$random, run in this session:
    tau 0.346003412037 to 1.05426708384, H^2 5.531149223964 to 43.06771243098."""
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="REML")
    np.testing.assert_allclose(res.tau_ci, [0.346003412037, 1.05426708384], rtol=1e-6)
    np.testing.assert_allclose(res.h2_ci, [5.531149223964, 43.06771243098], rtol=1e-6)
    np.testing.assert_allclose(res.h2_ci, 100 / (100 - np.asarray(res.i2_ci)), rtol=1e-12)
