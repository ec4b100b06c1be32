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


def _fit(key: str):
    ref = REF[key]
    mods = BCG[["ablat", "year"]] if "year" in key else BCG[["ablat"]]
    method = key.split("_")[2] if "year" in key else key.split("_")[1]
    return ref, meta_regression(EFF, mods=mods, method=method, knha=key.endswith("knha"))


@pytest.mark.parametrize("key", [k for k in REF if k != "source"])
def test_matches_metafor(key):
    ref, fit = _fit(key)
    assert fit.names == tuple(ref["names"])
    tab = fit.summary()
    for ours, theirs in [("estimate", "beta"), ("se", "se"), ("statistic", "stat"),
                         ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")]:
        np.testing.assert_allclose(tab[ours], ref[theirs], rtol=RTOL, err_msg=ours)
    assert fit.tau2[0] == pytest.approx(ref["tau2"], rel=RTOL, abs=1e-12)
    if ref["se_tau2"] is None:  # FE
        assert np.isnan(fit.tau2_se[0])
    else:
        assert fit.tau2_se[0] == pytest.approx(ref["se_tau2"], rel=RTOL)
    for ours, theirs in [("i2", "I2"), ("h2", "H2"), ("qe", "QE"), ("qe_p", "QEp"),
                         ("qm", "QM"), ("qm_p", "QMp")]:
        assert getattr(fit, ours)[0] == pytest.approx(ref[theirs], rel=RTOL), ours
    if fit.method != "FE":  # metafor stores an R^2 for FE fits but does not print it
        assert fit.r2[0] == pytest.approx(ref["R2"], rel=RTOL)
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
    assert "tau^2" not in fe and "R^2" not in fe
    assert repr(meta_regression(EFF, mods=BCG[["ablat"]])) == text


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "FE"])
def test_intercept_only_is_the_meta_analysis(method):
    reg = meta_regression(EFF, method=method)
    ma = meta_analysis(EFF, method=method)
    assert reg.names == ("intrcpt",)
    assert reg.tau2[0] == pytest.approx(ma.tau2, rel=1e-7, abs=1e-12)
    assert reg.beta[0, 0] == pytest.approx(ma.estimate, rel=1e-7)
    assert reg.se[0, 0] == pytest.approx(ma.se, rel=1e-7)
    assert reg.qe[0] == pytest.approx(ma.q, rel=1e-9)
    assert reg.i2[0] == pytest.approx(ma.i2, rel=1e-6)
    assert np.isnan(reg.qm[0]) and np.isnan(reg.r2[0]) and reg.qm_df == 0


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
        assert fit.tau2[0] == pytest.approx(ref.tau2[0], rel=1e-10)
    assert forms[0].names == ("intrcpt", "X2")
    assert forms[1].names == ("intrcpt", "mods")
    assert forms[2].names == forms[3].names == ("intrcpt", "ablat")
    no_intercept = meta_regression(EFF, mods=BCG[["ablat"]], intercept=False)
    assert no_intercept.names == ("ablat",) and no_intercept.qm_df == 1
    assert np.isnan(no_intercept.r2[0])


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
            np.testing.assert_allclose(getattr(many, name)[:, r], getattr(one, name)[:, 0],
                                       rtol=1e-7, atol=1e-12, err_msg=name)
        for name in ("tau2", "i2", "qm", "r2"):
            np.testing.assert_allclose(getattr(many, name)[r], getattr(one, name)[0],
                                       rtol=1e-7, atol=1e-12, err_msg=name)
    with pytest.raises(ValueError, match="holds 3 replicates"):
        many.summary()
    assert str(many).endswith("3 meta-regressions (trailing axis of .beta); 0 not converged.")


def _frame(**cols):
    return BCG[["ablat"]].assign(**cols)


@pytest.mark.parametrize("kwargs, match", [
    (dict(X=np.ones(13)), r"X must be 2-D .* pass mods=x"),
    (dict(mods=_frame(alloc=BCG["alloc"])), r"moderator 'alloc' is not a finite number at "
                                            r"rows 0, 1, 2, 3, 4 \(and 8 more\) \(value "
                                            r"'random'\).*get_dummies"),
    (dict(mods=_frame(x=[1.0] * 12 + [np.nan])), r"moderator 'x' is not a finite number at "
                                                 r"row 12"),
    (dict(mods=_frame(x=["1"] * 13)), r"moderator 'x' is not a finite number"),
    (dict(mods=_frame(x=[True] * 13)), r"moderator 'x' is not a finite number"),
    (dict(mods=_frame(twice=2 * BCG["ablat"])), r"rank-deficient: 'twice' is a linear "
                                                r"combination of \['intrcpt', 'ablat'\]"),
    (dict(mods=_frame(const=5.0)), r"rank-deficient: 'const'"),
    (dict(mods=pd.concat([BCG[["ablat"]], BCG[["ablat"]]], axis=1)),
     r"column 'ablat' appears 2 times"),
    (dict(mods=_frame(intrcpt=1.0)), r"'intrcpt' is the intercept's name"),
    (dict(mods=BCG[["ablat"]].set_axis([f"s{i}" for i in range(13)])),
     r"mods is indexed by \['s0', .* not the study labels"),
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
        meta_regression(EFF, mods=BCG["ablat"], method="EB")
    with pytest.raises(ValueError, match="ci_prob"):
        meta_regression(EFF, mods=BCG["ablat"], ci_prob=95)
    fit = meta_regression(EFF, mods=BCG[["ablat", "year"]])
    with pytest.raises(DataError, match="newmods has 1 values per point; the fit has 2"):
        fit.prediction([[10.0]])
    with pytest.raises(DataError, match=r"newmods has no column \['year'\]"):
        fit.prediction(pd.DataFrame({"ablat": [10.0]}))
    with pytest.raises(DataError, match="moderator 'year' is not a finite number"):
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
