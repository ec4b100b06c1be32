"""The regression test for funnel plot asymmetry against metafor 3.8-1 (regtest), and the
funnel plot.

Reference: tests/data/metafor_regtest.json, written by validation/metafor_diagnostics.R from
the BCG log risk ratios.
"""

import json
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte.comparators import regtest
from bayes_hte.errors import DataError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" /
                        "metafor_regtest.json").read_text())
YI, VI = np.array(REFERENCE["yi"]), np.array(REFERENCE["vi"])


@pytest.mark.parametrize("ref", REFERENCE["fits"],
                         ids=lambda r: f"{r['method']}-{r['test']}-{r['model']}-{r['predictor']}")
def test_matches_metafor(ref):
    res = bh.comparators.meta_analysis(YI, VI, method=ref["method"],
                                       knha=ref["test"] == "knha")
    out = regtest(res, model=ref["model"], predictor=ref["predictor"])
    # REML: metafor stops its iteration at a relative 1e-5 (docs/meta_analysis.md)
    rel = 1e-6 if ref["method"] == "REML" and ref["model"] == "rma" else 1e-9
    assert out.statistic == pytest.approx(ref["zval"], rel=rel)
    assert out.p == pytest.approx(ref["pval"], rel=rel)
    assert out.limit == pytest.approx(ref["est"], rel=rel)
    np.testing.assert_allclose(out.limit_ci, [ref["ci_lb"], ref["ci_ub"]], rtol=rel)
    assert out.df == (np.inf if ref["dfs"] is None else ref["dfs"])
    row = out.summary().iloc[0]
    assert row["p"] == out.p and row["model"] == ref["model"]
    assert "Funnel Plot Asymmetry" in str(out)


def test_symmetric_funnel_gives_no_evidence_and_a_skewed_one_does():
    """Studies placed symmetrically about the mean at every precision give a slope of 0;
    small studies that all report large effects give a clear asymmetry."""
    se = np.repeat([0.1, 0.2, 0.3, 0.4, 0.5], 2)
    sym = np.tile([-1.0, 1.0], 5) * se + 0.2
    res = bh.comparators.meta_analysis(sym, se**2, method="FE")
    assert regtest(res).statistic == pytest.approx(0.0, abs=1e-9)
    skew = 0.2 + 2.0 * se + np.tile([-0.05, 0.05], 5)
    out = regtest(bh.comparators.meta_analysis(skew, se**2, method="REML"))
    assert out.p < 0.001 and out.limit == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda r: regtest(r, model="egger"), ValueError, "model"),
    (lambda r: regtest(r, predictor="ni"), ValueError, "predictor"),
    (lambda r: regtest((YI, VI)), TypeError, "MetaAnalysisResult"),
    (lambda r: regtest(bh.comparators.meta_analysis(YI[:2], VI[:2])), DataError,
     "at least 3 studies"),
    (lambda r: regtest(bh.comparators.meta_analysis(YI[:4], np.full(4, 0.1))), DataError,
     "same standard error"),
    (lambda r: regtest(bh.comparators.meta_analysis(np.c_[YI, YI], np.c_[VI, VI]),),
     ValueError, "one meta-analysis"),
])
def test_bad_inputs(call, error, match):
    res = bh.comparators.meta_analysis(YI, VI)
    with pytest.raises(error, match=match):
        call(res)


def test_funnel_plot():
    res = bh.comparators.meta_analysis(bh.EffectTable.from_arrays(YI, VI, measure="RR",
                                                                  scale="log"))
    fig = bh.plots.funnel_plot(res)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "RR (log scale)"
    lo, hi = ax.get_ylim()
    assert lo > hi == 0.0  # standard error 0 at the top
    points = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(points[:, 0], np.exp(YI))
    np.testing.assert_allclose(points[:, 1], np.sqrt(VI))
    plt.close(fig)
    fig = bh.plots.funnel_plot(res, transform=None)
    assert fig.axes[0].get_xlabel() == "log RR" and fig.axes[0].get_xscale() == "linear"
    plt.close(fig)
    with pytest.raises(ValueError, match="transform"):
        bh.plots.funnel_plot(res, transform="log")


TRIMFILL = json.loads((Path(__file__).resolve().parents[1] / "data" /
                       "metafor_trimfill.json").read_text())


@pytest.mark.parametrize("ref", TRIMFILL["fits"],
                         ids=lambda r: f"{r['data']}-{r['method']}-{r['estimator']}-{r['side']}")
def test_trim_and_fill_matches_metafor(ref):
    """metafor 3.8-1 trimfill (validation/metafor_diagnostics.R): the BCG trials and
    dat.hackshaw1998, L0 / R0 / Q0, the side estimated or given."""
    y, v = np.array(TRIMFILL["yi"][ref["data"]]), np.array(TRIMFILL["vi"][ref["data"]])
    res = bh.comparators.meta_analysis(y, v, method=ref["method"])
    out = bh.comparators.trim_and_fill(res, estimator=ref["estimator"], side=ref["side"])
    assert (out.k0, out.side) == (ref["k0"], ref["side_used"])
    # metafor's REML fits stop at a relative 1e-5
    rel = 1e-5 if ref["method"] == "REML" else 1e-9
    assert out.se_k0 == pytest.approx(ref["se_k0"], rel=1e-9)
    for ours, theirs in ((out.fit.estimate, ref["estimate"]), (out.fit.se, ref["se"]),
                         (out.fit.ci_low, ref["ci_lb"]), (out.fit.ci_high, ref["ci_ub"]),
                         (out.fit.q, ref["QE"])):
        assert ours == pytest.approx(theirs, rel=rel)
    filled = np.atleast_1d(np.asarray(ref["yi_filled"] or [], dtype=float))
    np.testing.assert_allclose(np.sort(out.fit.yi[out.filled]), np.sort(filled), rtol=rel)
    assert out.filled.sum() == out.k0 and out.fit.k == len(y) + out.k0
    if out.k0:
        assert list(out.fit.labels[-out.k0:]) == [f"Filled {i}" for i in range(1, out.k0 + 1)]
        assert "missing studies" in str(out)
    else:
        assert out.fit is res


def test_trim_and_fill_bad_inputs():
    res = bh.comparators.meta_analysis(YI, VI)
    with pytest.raises(ValueError, match="estimator"):
        bh.comparators.trim_and_fill(res, estimator="L1")
    with pytest.raises(ValueError, match="side"):
        bh.comparators.trim_and_fill(res, side="up")
    with pytest.raises(ValueError, match="maxiter"):
        bh.comparators.trim_and_fill(res, maxiter=0)
    with pytest.raises(TypeError, match="MetaAnalysisResult"):
        bh.comparators.trim_and_fill(YI)
    with pytest.raises(DataError, match="at least 3 studies"):
        bh.comparators.trim_and_fill(bh.comparators.meta_analysis(YI[:2], VI[:2]))


def test_funnel_plot_of_a_trim_and_fill():
    ref = TRIMFILL["fits"][1]  # hackshaw, FE, L0: 7 studies filled on the left
    res = bh.comparators.meta_analysis(np.array(TRIMFILL["yi"]["hackshaw"]),
                                       np.array(TRIMFILL["vi"]["hackshaw"]), method="FE")
    out = bh.comparators.trim_and_fill(res)
    fig = bh.plots.funnel_plot(out)
    observed, filled = fig.axes[0].collections[-2:]
    assert len(observed.get_offsets()) == res.k and len(filled.get_offsets()) == ref["k0"]
    line = [ln for ln in fig.axes[0].lines if ln.get_xdata()[0] == ln.get_xdata()[-1]]
    assert any(ln.get_xdata()[0] == pytest.approx(ref["estimate"]) for ln in line)
    plt.close(fig)


def test_trim_and_fill_edge_cases_as_metafor():
    """metafor 3.8-1 trimfill(rma(c(.1, .5, .3), c(.01, .02, .03))) in this session: k0 = 2
    (SE 1.488086), estimate 0.100 (SE 0.141023) -- the trimming leaves one study; the
    fit keeps the measure and scale; an undefined L0 SE is NaN (metafor: NA); Q0 where
    it is undefined is a DataError."""
    small = bh.comparators.trim_and_fill(bh.comparators.meta_analysis(
        bh.EffectTable.from_arrays([0.1, 0.5, 0.3], [0.01, 0.02, 0.03])))
    assert small.k0 == 2 and small.se_k0 == pytest.approx(1.488086, rel=1e-6)
    assert small.fit.estimate == pytest.approx(0.1) and small.fit.se == pytest.approx(
        0.141023, rel=1e-5)
    eff = bh.EffectTable.from_arrays(YI, VI, measure="RR", scale="log")
    filled = bh.comparators.trim_and_fill(bh.comparators.meta_analysis(eff))
    assert (filled.fit.measure, filled.fit.scale) == ("RR", "log")
    fig = bh.plots.funnel_plot(filled)
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        none = bh.comparators.trim_and_fill(bh.comparators.meta_analysis(eff, method="FE"),
                                            side="left")
    assert none.k0 == 0 and np.isnan(none.se_k0) and "SE not defined" in str(none)
    # every deviation positive: S_r = k(k+1)/2 and 2k² - 4 S_r + 1/4 = 1/4 - 2k < 0
    from bayes_hte.comparators.publication_bias import _k0

    with pytest.raises(DataError, match="Q0 .* undefined .* use estimator='L0' or 'R0'"):
        _k0(np.arange(1.0, 11.0), 10, "Q0")
