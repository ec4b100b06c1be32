"""MeanTable: escalc's MD, SMD (Hedges' g) and ROM against metafor 3.8-1, and bad inputs.

Reference: tests/data/metafor_means.json, written by validation/metafor_means.R from
metafor's dat.normand1999 (escalc with its default vtype = "LS", then rma REML).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.errors import DataError

REFERENCE = json.loads((Path(__file__).resolve().parent / "metafor_means.json").read_text())
COLUMNS = {"mean1": "m1i", "sd1": "sd1i", "n1": "n1i", "mean0": "m2i", "sd0": "sd2i",
           "n0": "n2i"}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(REFERENCE["data"])


def _table(df=None) -> bh.MeanTable:
    return bh.MeanTable.from_frame(_frame() if df is None else df, **COLUMNS, study="source")


@pytest.mark.parametrize("measure", ["MD", "SMD", "ROM"])
def test_effects_and_their_meta_analysis_match_metafor(measure):
    ref = REFERENCE["effects"][measure]
    eff = _table().effects(measure)
    np.testing.assert_allclose(eff.yi, ref["yi"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(eff.vi, ref["vi"], rtol=1e-9)
    assert eff.measure == measure and eff.scale == ("log" if measure == "ROM" else "identity")
    assert eff.labels == tuple(_frame()["source"])
    res = bh.comparators.meta_analysis(eff, method="REML")
    # metafor's REML stops at a relative 1e-5 (docs/meta_analysis.md)
    for ours, theirs in ((res.estimate, ref["rma_reml"]["estimate"]),
                         (res.se, ref["rma_reml"]["se"]), (res.tau2, ref["rma_reml"]["tau2"])):
        assert ours == pytest.approx(theirs, rel=1e-6)


def test_default_measure_and_round_trip():
    table = _table()
    np.testing.assert_array_equal(table.effects().yi, table.effects("SMD").yi)
    frame = table.to_frame()
    assert list(frame.columns) == list(COLUMNS) and table.k == len(frame)
    again = bh.MeanTable.from_frame(frame.reset_index())
    np.testing.assert_array_equal(again.effects("MD").yi, table.effects("MD").yi)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.assign(m1i=d["m1i"].astype(str)),
     r"column 'm1i' \(treated mean\) must be real numbers: '55' in study 'Edinburgh'"),
    (lambda d: d.assign(sd2i=d["sd2i"].where(d.index != 2)),
     r"column 'sd2i' \(control SD\) is missing or not finite in study 'Orpington-Moderate'"),
    (lambda d: d.assign(sd1i=-d["sd1i"]), r"'sd1i' \(treated SD\) is negative"),
    (lambda d: d.assign(n1i=d["n1i"] + 0.5), r"'n1i' \(treated size\)"),
    (lambda d: d.assign(n2i=0), r"'n2i' \(control size\) is 0"),
    (lambda d: d.drop(columns="sd1i"), r"column 'sd1i' \(treated SD\) is not in the data"),
    (lambda d: d.assign(source="same"), r"source"),
])
def test_bad_frames_name_the_column_and_the_study(edit, match):
    with pytest.raises(DataError, match=match):
        _table(edit(_frame()))


def test_measures_refuse_what_they_cannot_compute():
    tiny = bh.MeanTable(mean1=[1.0, 2.0], sd1=[1.0, 1.0], n1=[1, 10], mean0=[0.5, 1.0],
                        sd0=[1.0, 1.0], n0=[1, 10], labels=["a", "b"])
    with pytest.raises(DataError, match="study 'a'.*at least 4 patients"):
        tiny.effects("SMD")
    tiny.effects("MD")  # defined with one patient per arm
    # 1 + 2 patients: Hedges' correction is 0 there (metafor 3.8-1's escalc gives NA;
    # before this check the study got g = 0 with variance 1.5)
    three = bh.MeanTable(mean1=[1.0, 2.0], sd1=[1.0, 1.0], n1=[1, 10], mean0=[0.5, 1.0],
                         sd0=[1.0, 1.0], n0=[2, 10], labels=["a", "b"])
    with pytest.raises(DataError, match="study 'a'.*at least 4 patients"):
        three.effects("SMD")
    four = bh.MeanTable(mean1=[1.0, 2.0], sd1=[1.0, 1.0], n1=[2, 10], mean0=[0.5, 1.0],
                        sd0=[1.0, 1.0], n0=[2, 10], labels=["a", "b"])
    assert np.isfinite(four.effects("SMD").yi).all()
    flat = bh.MeanTable(mean1=[1.0, 2.0], sd1=[0.0, 1.0], n1=[5, 10], mean0=[0.5, 1.0],
                        sd0=[0.0, 1.0], n0=[5, 10], labels=["a", "b"])
    for measure in ("SMD", "MD", "ROM"):
        with pytest.raises(DataError, match="study 'a'.*both SDs are 0"):
            flat.effects(measure)
    negative = bh.MeanTable(mean1=[-1.0, 2.0], sd1=[1.0, 1.0], n1=[5, 10], mean0=[0.5, 1.0],
                            sd0=[1.0, 1.0], n0=[5, 10], labels=["a", "b"])
    with pytest.raises(DataError, match="study 'a'.*positive means"):
        negative.effects("ROM")
    with pytest.raises(ValueError, match="measure"):
        negative.effects("smd")
    with pytest.raises(DataError, match="no studies"):
        bh.MeanTable(mean1=[], sd1=[], n1=[], mean0=[], sd0=[], n0=[])
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        bh.MeanTable.from_frame(_frame().to_numpy())


def test_the_bayesian_model_warns_that_its_default_priors_do_not_know_the_units():
    """Raw mean differences (in the outcome's units) with the default priors, set for log
    ratios: a DataWarning; the SMDs are on a unit-free scale and fit without it."""
    md = _table().effects("MD")
    with pytest.warns(bh.DataWarning, match="raw mean differences .*effects\\('SMD'\\)"):
        bh.models.synthesis_univariate.build_meta_analysis_model(md)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", bh.DataWarning)
        bh.models.synthesis_univariate.build_meta_analysis_model(_table().effects("SMD"))
        bh.models.synthesis_univariate.build_meta_analysis_model(
            md, priors={"tau": {"dist": "HalfNormal", "sigma": 30.0}})
