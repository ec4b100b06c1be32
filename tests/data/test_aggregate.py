"""ArmTable / EffectTable: validation and effect sizes against R metafor's escalc."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_hte import ArmTable, DataError, DataWarning, EffectTable
from bayes_hte.data.escalc import continuity_mask, effect_sizes
from tests._helpers import reference

# BCG vaccine trials (Colditz et al. 1994), metafor's dat.bcg: tpos tneg cpos cneg
# = n11 n10 n01 n00 (vaccinated / not; tuberculosis / not), in tests/data/metafor_bcg.json.
_BCG = reference("metafor_bcg")
BCG = pd.DataFrame(_BCG["data"])
# Made-up studies with zero cells (the last has only events in the treated arm).
ZERO = pd.DataFrame({"n11": [0, 2, 1, 5, 10], "n10": [20, 48, 99, 45, 0],
                     "n01": [3, 0, 4, 9, 8], "n00": [17, 50, 96, 41, 2]})

# Reference values of R metafor's escalc(measure=, ai=n11, bi=n10, ci=n01, di=n00) with its
# defaults add=1/2, to="only0", in tests/data/metafor_bcg.json and metafor_zero_cells.json
# (written by validation/metafor_reference.R; "source" and "call" give versions and calls).
ESCALC = {"BCG": _BCG["escalc"], "ZERO": reference("metafor_zero_cells")["escalc"]}


@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
def test_bcg_effect_sizes_match_metafor_escalc(measure):
    eff = ArmTable.from_frame(BCG).effects(measure)
    np.testing.assert_allclose(eff.yi, ESCALC["BCG"][measure]["yi"], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(eff.vi, ESCALC["BCG"][measure]["vi"], rtol=1e-9)
    assert eff.labels == tuple(BCG["study"])
    assert eff.measure == measure
    assert eff.scale == ("identity" if measure == "RD" else "log")
    assert eff.corrected == ()


@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
def test_zero_cells_get_metafor_continuity_correction(measure):
    eff = ArmTable.from_frame(ZERO).effects(measure)
    np.testing.assert_allclose(eff.yi, ESCALC["ZERO"][measure]["yi"], rtol=1e-9)
    np.testing.assert_allclose(eff.vi, ESCALC["ZERO"][measure]["vi"], rtol=1e-9)
    # studies 0, 1 and 4 have a zero cell (labels from the frame index)
    assert eff.corrected == ("0", "1", "4")


def test_vectorised_effect_sizes_equal_per_replicate():
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 30, size=(4, 6, 3))  # cell, study, replicate
    yi, vi = effect_sizes(*counts, measure="OR")
    for r in range(3):
        y1, v1 = effect_sizes(*counts[:, :, r], measure="OR")
        np.testing.assert_allclose(yi[:, r], y1)
        np.testing.assert_allclose(vi[:, r], v1)


def test_continuity_options():
    a, b, c, d = (ZERO[x].to_numpy() for x in ("n11", "n10", "n01", "n00"))
    np.testing.assert_array_equal(continuity_mask(a, b, c, d, to="only0"),
                                  [True, True, False, False, True])
    assert continuity_mask(a, b, c, d, to="all").all()
    assert continuity_mask(a, b, c, d, to="if0all").all()
    assert not continuity_mask(a, b, c, d, to="none").any()
    # add to all studies changes a study without zeros
    t = ArmTable.from_frame(ZERO)
    assert t.effects("RR", to="all").yi[2] != t.effects("RR").yi[2]
    with pytest.raises(ValueError, match="to must be"):
        continuity_mask(a, b, c, d, to="sometimes")


def test_no_correction_with_zero_cells_is_an_error():
    t = ArmTable.from_frame(ZERO)
    with pytest.raises(DataError, match="zero cell"):
        t.effects("RR", to="none")
    with pytest.raises(DataError, match="zero cell"):
        t.effects("OR", add=0.0)
    with pytest.raises(DataError, match="add must be"):
        t.effects("OR", add=-1.0)
    with pytest.raises(DataError, match="measure"):
        t.effects("HR")


def test_double_zero_studies_raise_unless_dropped_and_reported():
    df = pd.concat([BCG.head(3), pd.DataFrame({"study": ["empty", "all events"],
                                               "n11": [0, 10], "n10": [50, 0],
                                               "n01": [0, 12], "n00": [48, 0]})])
    t = ArmTable.from_frame(df)
    np.testing.assert_array_equal(t.double_zero, [False, False, False, True, True])
    with pytest.raises(DataError, match="'empty', 'all events'.*drop_double_zero=True"):
        t.effects("RR")
    with pytest.warns(DataWarning, match="excluded double-zero studies 'empty', 'all events'"):
        eff = t.effects("RR", drop_double_zero=True)
    assert eff.excluded == ("empty", "all events")
    assert eff.labels == tuple(BCG["study"][:3])
    np.testing.assert_allclose(eff.yi, ESCALC["BCG"]["RR"]["yi"][:3], rtol=1e-9)
    only = ArmTable(n11=[0], n10=[5], n01=[0], n00=[5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError, match="every study"):
            only.effects("RR", drop_double_zero=True)


def test_arm_table_views_and_frame_round_trip():
    t = ArmTable.from_frame(BCG)
    assert t.k == 13
    np.testing.assert_allclose(t.n1, BCG.n11 + BCG.n10)
    np.testing.assert_allclose(t.n, BCG[["n11", "n10", "n01", "n00"]].sum(axis=1))
    np.testing.assert_allclose(t.risk0, BCG.n01 / (BCG.n01 + BCG.n00))
    frame = t.to_frame()
    assert list(frame.index) == list(BCG.study)
    again = ArmTable.from_frame(frame.reset_index(), study="study")
    np.testing.assert_array_equal(again.n00, t.n00)


def test_from_events_matches_counts():
    ev = pd.DataFrame({"trial": ["A", "B"], "e1": [4, 6], "N1": [123, 306], "e0": [11, 29],
                       "N0": [139, 303]})
    t = ArmTable.from_events(ev, events1="e1", total1="N1", events0="e0", total0="N0",
                             study="trial")
    np.testing.assert_array_equal(t.n10, [119, 300])
    np.testing.assert_array_equal(t.n00, [128, 274])
    bad = ev.assign(e1=[200, 6])
    with pytest.raises(DataError, match="'e1' exceeds total column 'N1' in study 'A'"):
        ArmTable.from_events(bad, events1="e1", total1="N1", events0="e0", total0="N0",
                             study="trial")


def test_input_is_copied_not_modified():
    df = BCG.copy()
    arr = df["n11"].to_numpy(dtype=float)
    t = ArmTable(n11=arr, n10=df.n10, n01=df.n01, n00=df.n00)
    arr[0] = 1000
    assert t.n11[0] == 4
    assert not t.n11.flags.writeable
    ArmTable.from_frame(df).effects("OR")
    pd.testing.assert_frame_equal(df, BCG)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n11": [-1, 6, 3]}, "'n11' .*negative in study 'a'"),
        ({"n10": [119, 300.5, 228]}, "'n10' .*non-integer counts in study 'b'"),
        ({"n01": [11, np.nan, 11]}, "'n01' .*missing or not finite in study 'b'"),
        ({"n11": [0, 6, 3], "n10": [0, 300, 228]}, "treated .* arm is empty in study 'a'"),
        ({"n01": [11, 29, 0], "n00": [128, 274, 0]}, "control .* arm is empty in study 'c'"),
    ],
)
def test_bad_counts_raise_data_error(change, match):
    base = {"study": ["a", "b", "c"], "n11": [4, 6, 3], "n10": [119, 300, 228],
            "n01": [11, 29, 11], "n00": [128, 274, 209]}
    base.update(change)
    with pytest.raises(DataError, match=match):
        ArmTable.from_frame(pd.DataFrame(base))


def test_bad_frames_and_labels_raise_data_error():
    with pytest.raises(DataError, match="count column 'n00'"):
        ArmTable.from_frame(BCG.drop(columns="n00"))
    with pytest.raises(DataError, match="must be numeric"):
        ArmTable.from_frame(BCG.assign(n11="x"))
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        ArmTable.from_frame(BCG.to_numpy())
    with pytest.raises(DataError, match="labels must be unique"):
        ArmTable(n11=[1, 2], n10=[3, 4], n01=[1, 1], n00=[5, 5], labels=["x", "x"])
    with pytest.raises(DataError, match="has 1 counts but n11 has 2"):
        ArmTable(n11=[1, 2], n10=[3], n01=[1, 1], n00=[5, 5])
    with pytest.raises(DataError, match="no studies"):
        ArmTable(n11=[], n10=[], n01=[], n00=[])
    with pytest.raises(DataError, match="study column 'trial'"):
        ArmTable.from_frame(BCG, study="trial")


def test_effect_table_from_frame_with_se_and_subgroups():
    df = pd.DataFrame({"trial": ["A", "A", "B"], "sex": ["f", "m", "f"],
                       "est": [0.1, 0.3, -0.2], "se": [0.1, 0.2, 0.3]})
    t = EffectTable.from_frame(df, yi="est", se="se", study="trial", subgroup="sex")
    np.testing.assert_allclose(t.vi, [0.01, 0.04, 0.09])
    assert t.labels == ("A | f", "A | m", "B | f")
    np.testing.assert_array_equal(t.subgroup, ["f", "m", "f"])
    frame = t.to_frame()
    assert list(frame.columns) == ["yi", "vi", "se", "subgroup"]
    t2 = EffectTable.from_arrays([0.1, 0.2], se=[0.1, 0.2], labels=["x", "y"])
    np.testing.assert_allclose(t2.vi, [0.01, 0.04])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"yi": [0.1, np.nan], "vi": [0.1, 0.1]}, "yi is missing or not finite in study '2'"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.0]}, "vi must be finite and > 0.*study '2'"),
        ({"yi": [0.1, 0.2], "vi": [0.1, -1.0]}, "vi must be finite and > 0"),
        ({"yi": [0.1, 0.2], "vi": [0.1]}, "equal length"),
        ({"yi": [], "vi": []}, "no studies"),
    ],
)
def test_bad_effect_tables_raise_data_error(kwargs, match):
    with pytest.raises(DataError, match=match):
        EffectTable(labels=None, **kwargs)


def test_effect_table_frame_errors():
    df = pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "se": [0.3, 0.0]})
    with pytest.raises(DataError, match="exactly one of vi"):
        EffectTable.from_frame(df, vi="vi", se="se")
    with pytest.raises(DataError, match="se column 'se' must be finite and > 0.*study '1'"):
        EffectTable.from_frame(df, se="se")
    with pytest.raises(DataError, match="yi column 'effect'"):
        EffectTable.from_frame(df, yi="effect", vi="vi")
    with pytest.raises(DataError, match="must be numeric"):
        EffectTable.from_frame(df.assign(yi=["a", "b"]), vi="vi")
    with pytest.raises(DataError, match="exactly one of vi"):
        EffectTable.from_arrays([0.1, 0.2])
    with pytest.raises(DataError, match="subgroup must have one entry per study"):
        EffectTable(yi=[0.1, 0.2], vi=[0.1, 0.1], labels=None, subgroup=["a"])
