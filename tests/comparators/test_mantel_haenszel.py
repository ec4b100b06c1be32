"""Mantel-Haenszel and Peto meta-analyses against metafor 3.8-1 (rma.mh, rma.peto).

Reference: tests/data/metafor_mh_peto.json, written by validation/metafor_mh_peto.R from
the BCG trials (metafor's dat.bcg) and a made-up table with zero cells, a study without
events and one with only events in both arms.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators import mantel_haenszel, peto
from bayes_hte.errors import DataError, DataWarning

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" /
                        "metafor_mh_peto.json").read_text())
CELLS = {"ai": "n11", "bi": "n10", "ci": "n01", "di": "n00"}


def _counts(name: str) -> pd.DataFrame:
    return pd.DataFrame(REFERENCE["data"][name]).rename(columns=CELLS)


def _fits(name: str):
    d = _counts(name)
    return {f"{name}_OR_MH": lambda: mantel_haenszel(d, measure="OR"),
            f"{name}_RR_MH": lambda: mantel_haenszel(d, measure="RR"),
            f"{name}_RD_MH": lambda: mantel_haenszel(d, measure="RD"),
            f"{name}_OR_MH_uncorrected_level90":
                lambda: mantel_haenszel(d, measure="OR", correct=False, ci_prob=0.9),
            f"{name}_Peto": lambda: peto(d)}


@pytest.mark.parametrize("name", ["bcg", "zero"])
def test_matches_metafor(name):
    for key, fit in _fits(name).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            res = fit()
        ref = REFERENCE["fits"][key]
        ours = {"estimate": res.estimate, "se": res.se, "zval": res.statistic,
                "pval": res.p, "ci_lb": res.ci_low, "ci_ub": res.ci_high, "QE": res.q,
                "QEp": res.q_p, "I2": res.i2, "H2": res.h2}
        if ref.get("CMH") is not None:  # the MH odds ratio
            ours |= {"CMH": res.cmh, "CMHp": res.cmh_p, "BD": res.breslow_day,
                     "BDp": res.breslow_day_p, "TA": res.tarone, "TAp": res.tarone_p}
        else:
            assert np.isnan([res.cmh, res.breslow_day, res.tarone]).all()
        for stat, value in ours.items():
            assert value == pytest.approx(ref[stat], rel=1e-9, abs=1e-14), (key, stat)
        assert res.k == ref["k"] and res.k_q == ref["k_yi"], key
        np.testing.assert_allclose(res.weights, ref["weights"], rtol=1e-9, atol=1e-12)


def test_studies_without_information_on_a_ratio_are_named_and_kept_in_the_pooled_rd():
    d = _counts("zero").assign(study=[f"s{i}" for i in range(1, 8)]).set_index("study")
    table = bh.ArmTable.from_frame(d.reset_index(), study="study")
    with pytest.warns(DataWarning, match=r"studies? .*s6.*s7.*left out of the "
                                         r"heterogeneity Q"):
        rd = mantel_haenszel(table, measure="RD")
    assert rd.left_out_of_q == ("s6", "s7") and rd.k == 7 and rd.k_q == 5
    weights = rd.study_table()["weight"]
    assert weights["s6"] > 0 and weights["s7"] > 0  # they hold information on the RD
    with pytest.warns(DataWarning):
        orr = mantel_haenszel(table, measure="OR")
    assert orr.study_table()["weight"][["s6", "s7"]].tolist() == [0.0, 0.0]
    with warnings.catch_warnings():  # the BCG trials all have events: silent
        warnings.simplefilter("error")
        mantel_haenszel(_counts("bcg"))
        peto(_counts("bcg"))


def test_summary_and_printout():
    res = mantel_haenszel(_counts("bcg"), measure="RR")
    row = res.summary().iloc[0]
    assert row["estimate"] == pytest.approx(np.exp(res.estimate))
    assert row["ci_low"] == pytest.approx(np.exp(res.ci_low))
    assert row["se_log"] == res.se and res.summary().index[0] == "MH"
    assert res.summary(exponentiate=False).iloc[0]["estimate"] == res.estimate
    text = str(res)
    assert "Mantel-Haenszel" in text and "Q(12) = 152.5676" in text
    rd = mantel_haenszel(_counts("bcg"), measure="RD")
    assert "se" in rd.summary().columns
    with pytest.raises(ValueError, match="exponentiate=True needs a ratio"):
        rd.summary(exponentiate=True)
    assert "Cochran-Mantel-Haenszel" in str(mantel_haenszel(_counts("bcg")))
    assert "Tarone's test for heterogeneity: X^2 = 171.7567" in str(
        mantel_haenszel(_counts("bcg")))  # as metafor prints it
    assert peto(_counts("bcg")).summary().index[0] == "Peto"


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda d: mantel_haenszel(d.iloc[:1]), DataError, "at least 2 studies, got 1"),
    (lambda d: mantel_haenszel(d, measure="SMD"), ValueError, "measure"),
    (lambda d: mantel_haenszel(d, measure="or"), ValueError, "measure"),
    (lambda d: mantel_haenszel(d, ci_prob=95), ValueError, "ci_prob"),
    (lambda d: peto(d, ci_prob="0.95"), ValueError, "ci_prob"),
    (lambda d: mantel_haenszel(d, correct="yes"), ValueError, "correct"),
    (lambda d: mantel_haenszel(d.assign(n11=0)), DataError, "Mantel-Haenszel OR is 0 or "
                                                             "infinite"),
    (lambda d: mantel_haenszel(d.assign(n11=0), measure="RR"), DataError, "RR is 0"),
    (lambda d: peto(d.assign(n11=0, n01=0)), DataError, "both events and non-events"),
    (lambda d: mantel_haenszel(d.assign(n11=d["n11"].astype(str))), DataError, "n11"),
    (lambda d: mantel_haenszel(d.assign(n10=-1)), DataError, "n10"),
    (lambda d: mantel_haenszel(d.drop(columns="n00")), DataError, "n00"),
    (lambda d: mantel_haenszel(d.to_numpy()), DataError, "ArmTable or a DataFrame"),
])
def test_bad_inputs(call, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(error, match=match):
            call(_counts("bcg"))


def test_public_names():
    assert bh.comparators.mantel_haenszel is mantel_haenszel
    assert bh.comparators.peto is peto
    assert isinstance(peto(_counts("bcg")), bh.comparators.MantelHaenszelResult)


def test_forest_plot_of_a_mantel_haenszel_fit():
    """metafor's forest(rma.mh): the studies' own effects, blank rows for those left
    out of Q, the pooled diamond and no prediction interval (a fixed-effect model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with pytest.warns(DataWarning):
        res = mantel_haenszel(_counts("zero"))
    table = res.study_table(transform="exp")
    assert table["estimate"].isna().sum() == 2 and "se_untransformed" in table.columns
    np.testing.assert_allclose(res.pi, res.ci)
    fig = bh.plots.forest_plot(res)
    texts = [t.get_text() for t in fig.axes[0].texts] + [t.get_text() for t in fig.texts]
    assert texts.count("not estimable") == 2
    assert not any("prediction interval" in t or "tau²" in t for t in texts)
    assert any("Q = 5.78" in t for t in texts)
    plt.close(fig)


def test_no_information_on_the_variance_is_a_data_error():
    """The MH RD of studies without events (or at risk 1 against 0) has variance 0:
    refused, not a ZeroDivisionError (metafor returns SE 0 and z NA)."""
    none = pd.DataFrame({"n11": [0, 0], "n10": [10, 20], "n01": [0, 0], "n00": [10, 20]})
    with pytest.warns(DataWarning), pytest.raises(DataError, match="variance is 0"):
        mantel_haenszel(none, measure="RD")
    split = pd.DataFrame({"n11": [10, 5], "n10": [0, 0], "n01": [0, 0], "n00": [10, 5]})
    with pytest.raises(DataError, match="RD's variance is 0"):
        mantel_haenszel(split, measure="RD")


def test_one_study_in_q_gives_metafors_values():
    """metafor: Q = 0 on 0 df, p = 1, I² = 0 %, H² = 1 when one study is left for Q."""
    d = pd.DataFrame({"n11": [3, 0], "n10": [47, 40], "n01": [6, 0], "n00": [44, 40]})
    with pytest.warns(DataWarning):
        res = mantel_haenszel(d)
    assert (res.q, res.q_df, res.q_p, res.i2, res.h2, res.k_q) == (0.0, 0, 1.0, 0.0, 1.0, 1)
    assert "(1 study with information on the OR)" in str(res)
    rr = pd.DataFrame({"n11": [3, 10], "n10": [47, 0], "n01": [6, 10], "n00": [44, 0]})
    with pytest.warns(DataWarning):  # only events in both arms: weight kept in the RR
        np.testing.assert_allclose(mantel_haenszel(rr, measure="RR").weights, [37.5, 62.5])
