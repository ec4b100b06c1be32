"""The further tau² estimators (HS, HSk, HE, SJ, EB), metafor's EE / CE names of fixed
effects, and the standard error of tau² of every estimator, against R metafor.

Reference: tests/data/metafor_tau2_estimators.json, written by
validation/metafor_reference.R (R 4.2.2, metafor 3.8-1; ``rma(yi, vi, mods = ~ 1 | ~ ablat
| ~ ablat + year, data = dat, method = ..., test = "z" | "knha", control = tight)`` on
dat.bcg's log RR, and five made-up homogeneous studies; each block's "call" field).
"""

import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte.comparators import _wls, meta_analysis, meta_regression
from bayes_hte.comparators.heterogeneity import METHODS, estimate_tau2
from tests._helpers import reference

REF = reference("metafor_tau2_estimators")
BCG = bh.datasets.bcg()
EFF = bh.ArmTable.from_frame(BCG, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                             study="trial").effects("RR")
RTOL = 1e-6
FITS = [k for k in REF if k not in ("source", "homogeneous")]


def _method(call: str) -> str:
    return call.split('method = "')[1].split('"')[0]


def _close(got, want, name):
    want = np.asarray(want, dtype=float)
    np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=RTOL, atol=1e-12,
                               err_msg=name)


@pytest.mark.parametrize("key", FITS)
def test_matches_metafor(key):
    """tau², its SE, the coefficients with SEs and p-values, I², H², R², QE and QM."""
    ref = REF[key]
    method, knha = _method(ref["call"]), "knha" in ref["call"]
    if key.startswith("intercept_"):  # no moderators: meta_analysis
        res = meta_analysis(EFF, method=method, knha=knha)
        got = {"tau2": res.tau2, "beta": res.estimate, "se": res.se, "pval": res.p,
               "I2": res.i2, "H2": res.h2, "QE": res.q}
    else:
        mods = BCG[["ablat", "year"]] if "_year_" in key else BCG[["ablat"]]
        res = meta_regression(EFF, mods=mods, method=method, knha=knha)
        got = {"tau2": res.tau2, "beta": res.beta, "se": res.se, "pval": res.p, "I2": res.i2,
               "H2": res.h2, "R2": res.r2, "QE": res.qe, "QM": res.qm}
    for name, value in got.items():
        _close(value, ref[name], f"{key}: {name}")
    if ref["se_tau2"] is None:  # metafor has none for EE
        assert np.isnan(res.tau2_se)
    else:
        _close(res.tau2_se, ref["se_tau2"], f"{key}: se_tau2")
    assert res.method == ("FE" if method == "EE" else method)


@pytest.mark.parametrize("method", ["HS", "HSk", "HE", "SJ", "EB"])
def test_homogeneous_studies(method):
    """Below the truncation point: tau² 0 (SJ: its small positive value), SE as metafor."""
    ref = REF["homogeneous"]
    res = meta_analysis(ref["yi"], ref["vi"], method=method)
    _close(res.tau2, ref[method]["tau2"], "tau2")
    _close(res.tau2_se, ref[method]["se_tau2"], "se_tau2")
    _close(res.estimate, ref[method]["beta"], "beta")
    _close(res.se, ref[method]["se"], "se")


def test_printout_shows_the_se_of_tau2():
    text = str(meta_analysis(EFF, method="REML"))
    assert "tau^2 (between-study variance)     0.3132 (SE 0.1664)  (95% Q-profile" in text
    assert "SE" not in str(meta_analysis(EFF, method="EE")).split("Heterogeneity:")[1]


@pytest.mark.parametrize("alias", ["EE", "CE"])
def test_equal_effects_names_are_fixed_effects(alias):
    fe, ee = meta_analysis(EFF, method="FE"), meta_analysis(EFF, method=alias)
    assert ee.method == "FE" and ee.estimate == fe.estimate and ee.se == fe.se
    reg = meta_regression(EFF, mods=BCG[["ablat"]], method=alias)
    assert reg.method == "FE" and reg.tau2 == 0.0
    assert estimate_tau2(EFF.yi, EFF.vi, alias)[0] == 0.0


@pytest.mark.parametrize("bad", ["GENQ", "fe", "", None, 1])
def test_unknown_method_is_refused(bad):
    with pytest.raises(ValueError, match="method must be one of"):
        meta_analysis(EFF, method=bad)
    with pytest.raises(ValueError, match="method must be one of"):
        meta_regression(EFF, mods=BCG[["ablat"]], method=bad)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "FE"])
def test_replicates_match_single_fits_and_chunks(method, monkeypatch):
    """Vectorised over replicates (studies engine) equals fitting each alone, also when
    the replicates are taken in chunks (P is (R, K, K))."""
    rng = np.random.default_rng(3)
    K, R = 6, 9
    v = rng.uniform(0.01, 0.2, (K, R))
    y = rng.normal(0.2, np.sqrt(v + 0.05))
    whole = meta_analysis(y, v, method=method)
    monkeypatch.setattr(_wls, "CHUNK_ENTRIES", 2 * K * K)  # chunks of 2 replicates
    chunked = meta_analysis(y, v, method=method)
    np.testing.assert_allclose(chunked.tau2, whole.tau2, rtol=1e-12)
    np.testing.assert_allclose(chunked.tau2_se, whole.tau2_se, rtol=1e-12)
    for r in (0, 4, 8):
        one = meta_analysis(y[:, r], v[:, r], method=method)
        np.testing.assert_allclose(one.tau2, whole.tau2[r], rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(one.tau2_se, whole.tau2_se[r], rtol=1e-9)
        reg = meta_regression(y[:, r], v[:, r], mods=np.arange(K), method=method)
        reg_all = meta_regression(y, v, mods=np.arange(K), method=method)
        np.testing.assert_allclose(reg.tau2, reg_all.tau2[r], rtol=1e-9, atol=1e-14)


def test_eb_is_the_paule_mandel_estimate():
    """EB's estimating equation is PM's (metafor's documentation): same tau², other SE."""
    pm, eb = meta_analysis(EFF, method="PM"), meta_analysis(EFF, method="EB")
    assert eb.tau2 == pm.tau2 and eb.method == "EB"


def test_moment_estimators_are_scale_free():
    """Multiplying y by c and v by c² multiplies tau² by c² and its SE by c², at any c."""
    y, v = np.asarray(EFF.yi), np.asarray(EFF.vi)
    for method in ("HS", "HSk", "HE", "SJ", "EB"):
        base = meta_analysis(y, v, method=method)
        for c in (1e-5, 1e3):
            scaled = meta_analysis(c * y, c**2 * v, method=method)
            np.testing.assert_allclose(scaled.tau2, c**2 * base.tau2, rtol=1e-9)
            np.testing.assert_allclose(scaled.tau2_se, c**2 * base.tau2_se, rtol=1e-9)
