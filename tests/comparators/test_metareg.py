"""Meta-regression against R metafor: every number ``print.rma`` shows, by estimator.

Reference: tests/data/metafor_bcg_metareg.json, written by validation/metafor_reference.R
(R 4.2.2, metafor 3.8-1; ``rma(yi, vi, mods = ~ ablat [+ year], data = dat, method = ...,
test = "z" | "knha", control = tight)`` on dat.bcg's log RR, and ``predict(fit, newmods =
c(10, 30, 50))``; each block's "call" field).
"""

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators import meta_analysis, meta_regression
from bayes_hte.errors import DataError
from tests._helpers import reference

REF = reference("metafor_bcg_metareg")
BCG = bh.datasets.bcg()
EFF = bh.ArmTable.from_frame(BCG, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                             study="trial").effects("RR")
RTOL = 1e-6


#: factor(alloc) as pandas codes it: get_dummies' indicator columns are bool (True = 1)
ALLOC = pd.get_dummies(BCG["alloc"], drop_first=True)


def _fit(key: str):
    ref = REF[key]
    parts = key.split("_")
    mods = BCG[[p for p in parts if p in ("ablat", "year")]]
    if "alloc" in parts:
        mods = mods.join(ALLOC)
    method = next(p for p in parts if p in ("REML", "ML", "DL", "PM", "FE"))
    return ref, meta_regression(EFF, mods=mods, method=method, knha=key.endswith("knha"))


@pytest.mark.parametrize("key", [k for k in REF if k != "source"])
def test_matches_metafor(key):
    """Includes ~ ablat + factor(alloc) by ML, whose likelihood is highest inside while
    Fisher scoring from tau^2 = 0 stays at 0 (found by a fresh-user trial)."""
    ref, fit = _fit(key)
    assert fit.names == tuple(n.replace("factor(alloc)", "") for n in ref["names"])
    tab = fit.summary()
    for ours, theirs in [("estimate", "beta"), ("se", "se"), ("statistic", "stat"),
                         ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")]:
        np.testing.assert_allclose(tab[ours], ref[theirs], rtol=RTOL, err_msg=ours)
    assert fit.tau2 == pytest.approx(ref["tau2"], rel=RTOL, abs=1e-12)
    if ref["se_tau2"] is None:  # FE
        assert np.isnan(fit.tau2_se)
    else:
        assert fit.tau2_se == pytest.approx(ref["se_tau2"], rel=RTOL)
    for ours, theirs in [("i2", "I2"), ("h2", "H2"), ("qe", "QE"), ("qe_p", "QEp"),
                         ("qm", "QM"), ("qm_p", "QMp"), ("r2", "R2")]:
        # FE: metafor's R^2 is the adjusted R^2 of the weighted least-squares fit
        assert getattr(fit, ours) == pytest.approx(ref[theirs], rel=RTOL), ours
    assert (fit.qe_df, fit.qm_df, fit.k) == (ref["k"] - ref["p"], ref["QMdf"][0], ref["k"])
    assert fit.df == (np.inf if ref["df"] is None else ref["df"])
    if "pred" in ref:
        pred = fit.prediction(ref["pred"]["newmods"])
        for ours, theirs in [("pred", "pred"), ("se", "se"), ("ci_low", "ci_lb"),
                             ("ci_high", "ci_ub"), ("pi_low", "pi_lb"), ("pi_high", "pi_ub")]:
            if not ref["pred"][theirs]:  # FE: metafor gives no prediction interval ...
                np.testing.assert_allclose(pred[ours], pred[ours.replace("pi", "ci")])
                continue  # ... ours is the CI (tau^2 = 0)
            np.testing.assert_allclose(pred[ours], ref["pred"][theirs], rtol=RTOL,
                                       err_msg=ours)


def test_printout_shows_what_metafor_prints():
    text = str(meta_regression(EFF, mods=BCG[["ablat"]]))
    assert text.startswith("Mixed-Effects Model (k = 13; tau^2 estimator: REML)")
    for part in ["0.0763 (SE 0.0590)", "68.39%", "3.16", "75.63%", "QE = 30.7331 on 11 df",
                 "Test of the moderators (ablat): QM = 16.3582 on 1 df, p < 0.0001",
                 "-0.0291  0.0072  -4.0445"]:
        assert part in text, part
    knha = str(meta_regression(EFF, mods=BCG[["ablat", "year"]], knha=True))
    assert "F(2, 10) = 4.9649" in knha and "t test on 10 df, Knapp-Hartung" in knha
    fe = str(meta_regression(EFF, mods=BCG[["ablat"]], method="FE"))
    assert fe.startswith("Fixed-Effects with Moderators Model (k = 13)")
    assert "tau^2" not in fe and "R^2   (heterogeneity accounted for)      77.98%" in fe
    assert repr(meta_regression(EFF, mods=BCG[["ablat"]])) == text


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "FE"])
def test_intercept_only_is_the_meta_analysis(method):
    reg = meta_regression(EFF, method=method)
    ma = meta_analysis(EFF, method=method)
    assert reg.names == ("intrcpt",)
    assert reg.tau2 == pytest.approx(ma.tau2, rel=1e-7, abs=1e-12)
    assert reg.beta[0] == pytest.approx(ma.estimate, rel=1e-7)
    assert reg.se[0] == pytest.approx(ma.se, rel=1e-7)
    assert reg.qe == pytest.approx(ma.q, rel=1e-9)
    assert reg.i2 == pytest.approx(ma.i2, rel=1e-6)
    assert np.isnan(reg.qm) and np.isnan(reg.r2) and reg.qm_df == 0


def test_the_input_forms_give_the_same_fit():
    ref = meta_regression(EFF, mods=BCG[["ablat"]])
    X = np.column_stack([np.ones(13), BCG["ablat"]])
    forms = [meta_regression(EFF.yi, EFF.vi, X),
             meta_regression(EFF.yi, EFF.vi, mods=BCG["ablat"].to_numpy()),
             meta_regression(EFF, mods=BCG["ablat"]),
             meta_regression(EFF, mods={"ablat": BCG["ablat"].to_list()}),
             # indexed by the study labels, in another order: matched by label
             meta_regression(EFF, mods=BCG.set_index(BCG["trial"].astype(str))[["ablat"]]
                             .iloc[::-1])]
    for fit in forms:
        np.testing.assert_allclose(fit.beta, ref.beta, rtol=1e-10)
        assert fit.tau2 == pytest.approx(ref.tau2, rel=1e-10)
    assert forms[0].names == ("intrcpt", "X2")
    assert forms[1].names == ("intrcpt", "mods")
    assert forms[2].names == forms[3].names == ("intrcpt", "ablat")
    no_intercept = meta_regression(EFF, mods=BCG[["ablat"]], intercept=False)
    assert no_intercept.names == ("ablat",) and no_intercept.qm_df == 1
    assert np.isnan(no_intercept.r2)


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "FE"])
def test_replicates_along_the_trailing_axis_equal_single_fits(method):
    rng = np.random.default_rng(3)
    y = EFF.yi[:, None] + rng.normal(0, 0.3, (13, 3))
    v = np.repeat(EFF.vi[:, None], 3, axis=1)
    many = meta_regression(y, v, mods=BCG[["ablat"]], method=method, knha=True)
    assert many.n_replicates == 3
    for r in range(3):
        one = meta_regression(y[:, r], v[:, r], mods=BCG[["ablat"]], method=method,
                              knha=True)
        for name in ("beta", "se", "p"):
            np.testing.assert_allclose(getattr(many, name)[:, r], getattr(one, name),
                                       rtol=1e-7, atol=1e-12, err_msg=name)
        for name in ("tau2", "i2", "qm", "r2"):
            np.testing.assert_allclose(getattr(many, name)[r], getattr(one, name),
                                       rtol=1e-7, atol=1e-12, err_msg=name)
    with pytest.raises(ValueError, match="holds 3 replicates"):
        many.summary()
    assert str(many).endswith("3 meta-regressions (trailing axis of .beta); 0 not converged.")


def _frame(**cols):
    return BCG[["ablat"]].assign(**cols)


@pytest.mark.parametrize("kwargs, match", [
    (dict(X=np.ones(13)), r"X must be 2-D .* pass mods=x"),
    (dict(mods=_frame(x=[1.0] * 12 + [np.nan])), r"moderator 'x' is missing \(or infinite\) "
                                                 r"at row 12"),
    (dict(mods=_frame(x=[1.0] * 12 + [np.inf])), r"moderator 'x' is missing"),
    (dict(mods=_frame(x=[1.0] * 12 + [None])), r"moderator 'x' is missing"),
    (dict(mods=_frame(x=["1"] * 13)), r"moderator 'x' holds numbers as text \(e.g. '1'\); "
                                      r"convert it \(pandas.to_numeric\), or make it a "
                                      r"pandas category"),
    (dict(mods=_frame(x=["13N"] + [str(v) for v in range(12)])),
     r"moderator 'x' is text, but 12 of 13 values read as numbers; '13N' at row 0 do not"),
    (dict(mods=_frame(x=[1.0, object()] * 6 + [1.0])), r"moderator 'x' is not a number at "
                                                       r"rows 1, 3, 5"),
    (dict(mods=_frame(x=[True] * 13)), r"rank-deficient: 'x'"),  # True reads as 1
    (dict(mods=_frame(x=[1.0, "a"] * 6 + [1.0])), r"moderator 'x' is text, but 7 of 13 "
                                                  r"values read as numbers; 'a' at rows 1, 3"),
    (dict(mods=_frame(twice=2 * BCG["ablat"])), r"rank-deficient: 'twice' is \(nearly\) a "
                                                r"linear combination of \['intrcpt', "
                                                r"'ablat'\]"),
    # nearly collinear: numerically a linear combination, not a LinAlgError
    (dict(mods=_frame(near=2 * BCG["ablat"] + 1 + 1e-9 * np.random.default_rng(1)
                      .normal(size=13))), r"rank-deficient: 'near' is \(nearly\)"),
    (dict(mods={"ablat": 5}), r"moderator 'ablat' is one value; give one value per study"),
    (dict(mods=["ablat"]), r"holds names, not values.*df\[\['ablat'\]\]"),
    (dict(mods="~ ablat"), r"formulas and column names are not read"),
    # rows named by the user's index labels
    (dict(mods=BCG[["ablat"]].assign(x=[1.0] * 12 + [np.nan]).set_axis(
        [str(s) for s in range(1, 14)])), r"'x' is missing \(or infinite\) at row 13"),
    (dict(mods=_frame(const=5.0)), r"rank-deficient: 'const'"),
    (dict(mods=pd.concat([BCG[["ablat"]], BCG[["ablat"]]], axis=1)),
     r"column 'ablat' appears 2 times"),
    (dict(mods=_frame(intrcpt=1.0)), r"'intrcpt' is the intercept's name"),
    (dict(mods=BCG[["ablat"]].set_axis([f"s{i}" for i in range(13)])),
     r"mods has no row for the studies \['1', '2', '3', '4', '5'\] \(its index holds "
     r"\['s0'"),
    (dict(mods=BCG[["ablat"]].iloc[:12]), r"mods has 12 rows for 13 studies"),
    (dict(mods=BCG[["ablat"]], X=np.ones((13, 2))), r"either X .* or mods"),
    (dict(mods=np.ones((13, 2, 2))), r"mods must be 1-D or 2-D"),
    (dict(mods=BCG[["ablat"]], intercept=False, X=None), None),
])
def test_bad_moderators_are_refused_naming_the_column(kwargs, match):
    if match is None:
        meta_regression(EFF, **kwargs)
        return
    with pytest.raises(DataError, match=match):
        meta_regression(EFF, **kwargs)


def test_bad_data_and_options():
    with pytest.raises(DataError, match="do not pass vi"):
        meta_regression(EFF, EFF.vi, mods=BCG["ablat"])
    with pytest.raises(DataError, match="vi .* is required"):
        meta_regression(EFF.yi, mods=BCG["ablat"])
    vi = EFF.vi.copy()
    vi[4] = 0.0
    with pytest.raises(DataError, match=r"studies \['5'\] have a variance that is not a "
                                        "positive number"):
        meta_regression(EFF.yi, vi, mods=BCG["ablat"])
    with pytest.raises(DataError, match="needs more than 2 studies, has 2"):
        meta_regression(EFF.yi[:2], EFF.vi[:2], mods=BCG["ablat"][:2])
    with pytest.raises(ValueError, match="method must be one of"):
        meta_regression(EFF, mods=BCG["ablat"], method="GENQ")
    with pytest.raises(ValueError, match="ci_prob"):
        meta_regression(EFF, mods=BCG["ablat"], ci_prob=95)
    fit = meta_regression(EFF, mods=BCG[["ablat", "year"]])
    with pytest.raises(DataError, match="newmods has 1 values per point; the fit has 2"):
        fit.prediction([[10.0]])
    with pytest.raises(DataError, match=r"newmods has columns \['ablat'\]; the fit's "
                                        r"moderators are \['ablat', 'year'\]"):
        fit.prediction(pd.DataFrame({"ablat": [10.0]}))
    with pytest.raises(DataError, match=r"newmods has columns"):  # not silently dropped
        fit.prediction({"ablat": [10.0], "year": [1950], "dose": [1.0]})
    with pytest.raises(DataError, match="moderator 'year' is missing"):
        fit.prediction({"ablat": [10.0], "year": [np.nan]})
    one = fit.prediction({"ablat": [10.0, 30.0], "year": [1950, 1970]})
    np.testing.assert_allclose(one["pred"], fit.prediction([[10, 1950], [30, 1970]])["pred"])


def test_the_documented_calls():
    """docs/meta_analysis.md, "Meta-regression", as written."""
    bcg = bh.datasets.bcg()
    eff = bh.ArmTable.from_frame(bcg, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                                 study="trial").effects("RR")
    reg = bh.comparators.meta_regression(eff, mods=bcg[["ablat", "year"]], knha=True)
    assert "Test of the moderators (ablat, year): F(2, 10)" in str(reg)
    assert list(reg.summary().columns) == ["estimate", "se", "statistic", "p", "ci_low",
                                           "ci_high"]
    pred = reg.prediction({"ablat": [10, 50], "year": [1960, 1960]})
    assert (pred["pi_low"] < pred["ci_low"]).all() and (pred["ci_high"] < pred["pi_high"]).all()
    assert pred["pred"].iloc[1] < pred["pred"].iloc[0]  # higher latitude, stronger effect
    fig = bh.plots.bubble_plot(reg, "ablat", transform="exp")
    assert fig.axes[0].get_ylabel() == "RR"


def test_one_analysis_gives_floats_as_meta_analysis_does():
    fit = meta_regression(EFF, mods=BCG[["ablat"]])
    assert isinstance(fit.tau2, float) and isinstance(fit.qm, float)
    assert isinstance(fit.converged, bool) and fit.n_replicates == 1
    assert fit.beta.shape == (2,) and fit.cov.shape == (2, 2) and fit.ci.shape == (2, 2)
    assert f"{fit.tau2:.4f}" == "0.0763"
    est, se, lo, hi = fit.predict([1.0, 30.0])
    assert isinstance(est, float) and lo < est < hi
    # (K, 1) input keeps the replicate axis
    col = meta_regression(EFF.yi[:, None], EFF.vi[:, None], mods=BCG[["ablat"]])
    assert col.tau2.shape == (1,) and col.beta.shape == (2, 1)
    np.testing.assert_allclose(col.beta[:, 0], fit.beta)


def test_moderators_by_position_or_by_label_never_silently_misaligned():
    shuffled = BCG[["ablat"]].sample(frac=1, random_state=1)
    with pytest.raises(DataError, match=r"the studies have no labels to match it to.*"
                                        r"reset_index\(drop=True\)"):
        meta_regression(EFF.yi, EFF.vi, mods=shuffled)
    # labels from a Series of estimates indexed by study: rows matched by label
    yi = pd.Series(EFF.yi, index=BCG["trial"].astype(str))
    vi = pd.Series(EFF.vi, index=yi.index)
    by_label = meta_regression(yi, vi, mods=BCG.set_index(yi.index)[["ablat"]].iloc[::-1])
    ref = meta_regression(EFF, mods=BCG[["ablat"]])
    np.testing.assert_allclose(by_label.beta, ref.beta, rtol=1e-10)
    assert by_label.labels == tuple(yi.index)
    # a filtered frame whose index is not 0..K-1, with labels given: matched by label
    kept = BCG[BCG["year"] > 1940]
    sub = meta_regression(EFF.yi[kept.index], EFF.vi[kept.index],
                          labels=[str(i) for i in kept.index], mods=kept[["ablat"]])
    assert sub.k == len(kept)


def test_fitted_values_and_back_transformed_tables():
    fit = meta_regression(EFF, mods=BCG[["ablat"]])
    fitted = fit.prediction()            # metafor's predict(fit): one row per study
    assert list(fitted.index) == list(EFF.labels)
    np.testing.assert_allclose(fitted["pred"], fit.beta[0] + fit.beta[1] * BCG["ablat"])
    rr = fit.prediction([10, 30, 50], transform="exp")
    log = fit.prediction([10, 30, 50])
    np.testing.assert_allclose(rr["pred"], np.exp(log["pred"]))
    np.testing.assert_allclose(rr["pi_high"], np.exp(log["pi_high"]))
    assert "se_untransformed" in rr.columns and "se" not in rr.columns
    tab = fit.summary(transform="exp")
    assert tab.loc["ablat", "estimate"] == pytest.approx(np.exp(fit.beta[1]))
    assert tab.loc["ablat", "se_untransformed"] == pytest.approx(fit.se[1])


def test_text_moderators_are_coded_as_factors_as_metafor_does():
    """mods = ~ ablat + factor(alloc): a text column becomes one indicator per level but
    the first (sorted; a category's first level), named "alloc[random]"."""
    text = meta_regression(EFF, mods=BCG[["ablat", "alloc"]], method="ML")
    dummies = meta_regression(EFF, mods=BCG[["ablat"]].join(ALLOC), method="ML")
    assert text.names == ("intrcpt", "ablat", "alloc[random]", "alloc[systematic]")
    np.testing.assert_allclose(text.beta, dummies.beta, rtol=1e-10)
    np.testing.assert_allclose(text.beta, REF["ablat_alloc_ML"]["beta"], rtol=1e-6)
    cat = BCG["alloc"].astype(pd.CategoricalDtype(["random", "alternate", "systematic"]))
    recoded = meta_regression(EFF, mods=BCG[["ablat"]].assign(alloc=cat), method="ML")
    assert recoded.names[2:] == ("alloc[alternate]", "alloc[systematic]")
    assert recoded.tau2 == pytest.approx(text.tau2, rel=1e-8)  # same model, other reference


def test_series_of_estimates_and_variances_are_paired_by_study():
    """vi follows yi's index (a silent misalignment found by a fresh-user trial), in
    meta_analysis too; Series indexed by different studies are refused."""
    yi = pd.Series(EFF.yi, index=EFF.labels)
    vi = pd.Series(EFF.vi, index=EFF.labels)
    ref = meta_regression(EFF, mods=BCG[["ablat"]])
    mods = BCG.set_axis(EFF.labels)[["ablat"]]
    fit = meta_regression(yi.sort_index(), vi, mods=mods)
    np.testing.assert_allclose(fit.beta, ref.beta, rtol=1e-10)
    assert meta_analysis(yi.sort_index(), vi).tau2 == pytest.approx(meta_analysis(EFF).tau2)
    with pytest.raises(DataError, match=r"yi and vi are Series indexed by different studies"):
        meta_analysis(yi, vi.set_axis([f"s{i}" for i in range(13)]))


@pytest.mark.parametrize("scale", [1e-10, 1e-4, 1e6])
def test_every_estimator_is_scale_free(scale):
    """y -> sqrt(s) y, v -> s v gives tau2 -> s tau2 and the same tests (risk differences
    of rare events have variances near 1e-10; PM used to stop at an absolute tolerance)."""
    for method in ("REML", "ML", "DL", "PM", "FE"):
        one = meta_regression(EFF, mods=BCG[["ablat"]], method=method)
        scaled = meta_regression(EFF.yi * np.sqrt(scale), EFF.vi * scale,
                                 mods=BCG[["ablat"]], method=method)
        assert scaled.tau2 / scale == pytest.approx(one.tau2, rel=1e-6, abs=1e-12), method
        np.testing.assert_allclose(scaled.p, one.p, rtol=1e-6)
        assert scaled.qm == pytest.approx(one.qm, rel=1e-6)


def test_a_tiny_variance_is_warned_about_and_the_statistics_stay_valid():
    """metafor warns when the largest variance is >= 1e7 times the smallest; the fit (QR of
    the weighted design, rows by weight) stays stable up to 1e-300."""
    limits = {}
    for tiny in (1e-12, 1e-30, 1e-300):
        vi = EFF.vi.copy()
        vi[0] = tiny
        with pytest.warns(bh.DataWarning, match=r"times the smallest \(study '1'\); the "
                                                r"results may be numerically unstable"):
            fit = meta_regression(EFF.yi, vi, mods=BCG[["ablat"]])
        assert fit.qe >= 0 and 0 <= fit.i2 <= 100
        limits[tiny] = (fit.tau2, fit.qe, fit.i2)
    np.testing.assert_allclose(limits[1e-300], limits[1e-12], rtol=1e-6)
    with pytest.warns(bh.DataWarning, match="times the smallest"):
        meta_analysis(EFF.yi, np.r_[1e-300, EFF.vi[1:]])


def test_knapp_hartung_with_fixed_effects_is_warned_about():
    with pytest.warns(UserWarning, match="Knapp-Hartung adjustment is meant for "
                                         "random-effects"):
        meta_regression(EFF, mods=BCG[["ablat"]], method="FE", knha=True)


def test_factors_follow_rs_contrasts():
    """intercept=False: the first factor keeps every level (R's ~ factor(alloc) - 1, the
    cell means); unused category levels are dropped; a single level is refused; the
    reference is the first level in case-insensitive order, as R sorts."""
    cells = meta_regression(EFF, mods=BCG[["alloc"]], intercept=False)
    assert cells.names == ("alloc[alternate]", "alloc[random]", "alloc[systematic]")
    ref = meta_regression(EFF, mods=BCG[["alloc"]])        # same model, other coding
    assert cells.tau2 == pytest.approx(ref.tau2, rel=1e-8)
    np.testing.assert_allclose(cells.beta, [ref.beta[0], ref.beta[0] + ref.beta[1],
                                            ref.beta[0] + ref.beta[2]], rtol=1e-8)
    both = meta_regression(EFF, mods=BCG[["ablat", "alloc"]], intercept=False)
    assert both.names == ("ablat", "alloc[alternate]", "alloc[random]", "alloc[systematic]")
    sub = BCG.iloc[:6].reset_index(drop=True)
    cat = sub["alloc"].astype(pd.CategoricalDtype(["alternate", "random", "systematic"]))
    unused = meta_regression(EFF.yi[:6], EFF.vi[:6], mods=sub[["ablat"]].assign(alloc=cat))
    assert unused.names == ("intrcpt", "ablat", "alloc[random]")  # systematic: unused
    with pytest.raises(DataError, match=r"moderator 'alloc' has one level \('random'\)"):
        meta_regression(EFF.yi[:4], EFF.vi[:4], mods=BCG[["ablat", "alloc"]].iloc[:4])
    mixed = meta_regression([.1, .2, .15, .12, .18, .3, .2], [.05] * 7,
                            mods={"design": ["RCT", "cohort"] * 3 + ["RCT"]})
    assert mixed.names == ("intrcpt", "design[RCT]")       # R: "cohort" < "RCT"
    with pytest.raises(DataError, match=r"'alloc\[random\]' is given twice"):
        meta_regression(EFF, mods=pd.DataFrame({"alloc": BCG["alloc"],
                                                "alloc[random]": BCG["ablat"]}))


def test_more_bad_inputs_are_data_errors():
    X = BCG[["ablat", "alloc"]].assign(intrcpt=1.0)
    with pytest.raises(DataError, match=r"X: moderator 'alloc' is not a number"):
        meta_regression(EFF.yi, EFF.vi, X=X)
    ablat = BCG["ablat"].to_numpy(dtype=float)
    ablat[3] = np.nan
    with pytest.raises(DataError, match=r"'X2' is missing \(or infinite\) at row 3"):
        meta_regression(EFF.yi, EFF.vi, X=np.c_[np.ones(13), ablat])
    flags = pd.Series([True, False] * 6 + [None], dtype=object)
    with pytest.raises(DataError, match=r"moderator 'r' is missing \(or infinite\) at row 12"):
        meta_regression(EFF.yi, EFF.vi, mods=flags.rename("r"))
    fit = meta_regression(EFF, mods=BCG[["ablat"]])
    np.testing.assert_allclose(fit.prediction({"ablat": 10})["pred"],
                               fit.prediction([10])["pred"])
    # a frame indexed by study with a row the analysis does not have (a dropped study)
    extra = pd.concat([BCG.set_axis(EFF.labels)[["ablat"]],
                       pd.DataFrame({"ablat": [1.0]}, index=["dropped study"])])
    np.testing.assert_allclose(meta_regression(EFF, mods=extra).beta, fit.beta)
    with pytest.raises(DataError, match=r"mods has no row for the studies \['13'\]"):
        meta_regression(EFF, mods=extra.iloc[[*range(12), 13]])
