"""The regression test for funnel plot asymmetry against metafor 3.8-1 (regtest), and the
funnel plot.

Reference: tests/data/metafor_regtest.json, written by validation/metafor_diagnostics.R from
the BCG log risk ratios.
"""

import json
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
