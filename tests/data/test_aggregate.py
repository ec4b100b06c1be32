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
    # a column named "study" labels the studies, as in from_frame (it was ignored)
    named = ev.rename(columns={"trial": "study"})
    assert ArmTable.from_events(named, events1="e1", total1="N1", events0="e0",
                                total0="N0").labels == ("A", "B")
    # a frame of arm counts given where cell counts are expected says how to read it
    arms = named.rename(columns={"e1": "events1", "N1": "total1", "e0": "events0",
                                 "N0": "total0"})
    with pytest.raises(DataError, match=r"'n11' .* read it with ArmTable.from_events\(df, "
                                        "events1='events1'"):
        ArmTable.from_frame(arms)


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
        ({"n11": [0, 6, 3], "n10": [0, 300, 228]},
         r"treated arm \(columns 'n11' \+ 'n10'\) is empty in study 'a'"),
        ({"n01": [11, 29, 0], "n00": [128, 274, 0]},
         r"control arm \(columns 'n01' \+ 'n00'\) is empty in study 'c'"),
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


# ------------------------------------------------------------------------ zero-cell rules
# Four trials whose second trial T2 has a zero pattern, and metafor's escalc with its
# defaults (add = 1/2, to = "only0", drop00 = FALSE) and with drop00 = TRUE, in
# tests/data/metafor_zero_patterns.json (validation/metafor_reference.R).
_ZP = reference("metafor_zero_patterns")
ZERO_FITS = _ZP["fits"]


def _zero_table(pattern):
    return ArmTable.from_frame(pd.DataFrame(_ZP["data"][pattern]))


@pytest.mark.parametrize("fit", ZERO_FITS,
                         ids=[f"{f['pattern']}-{f['measure']}-drop00={f['drop00']}"
                              for f in ZERO_FITS])
def test_zero_patterns_match_metafor_escalc(fit):
    t = _zero_table(fit["pattern"])
    keep = np.array([y is not None for y in fit["yi"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        eff = t.effects(fit["measure"], drop_double_zero=fit["drop00"])
    np.testing.assert_allclose(eff.yi, np.array(fit["yi"], dtype=float)[keep], rtol=1e-9,
                               atol=1e-14)
    np.testing.assert_allclose(eff.vi, np.array(fit["vi"], dtype=float)[keep], rtol=1e-9)
    assert eff.excluded == tuple(np.array(t.labels)[~keep])
    assert eff.corrected == ("T2",) if keep[1] else eff.corrected == ()


@pytest.mark.parametrize("pattern", ["double_zero", "double_all_events"])
def test_rd_keeps_double_zero_trials_by_default_as_metafor(pattern):
    t = _zero_table(pattern)
    ref = next(f for f in ZERO_FITS if f["pattern"] == pattern and f["measure"] == "RD"
               and not f["drop00"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # kept silently: nothing to warn about
        eff = t.effects("RD")
    assert eff.labels == ("T1", "T2", "T3", "T4") and eff.excluded == ()
    assert eff.yi[1] == 0.0
    np.testing.assert_allclose(eff.vi, ref["vi"], rtol=1e-9)
    # dropping is still possible on request, and reported
    with pytest.warns(DataWarning, match="excluded double-zero study 'T2' from the RD"):
        assert t.effects("RD", drop_double_zero=True).labels == ("T1", "T3", "T4")


@pytest.mark.parametrize("pattern", ["double_zero", "double_all_events"])
@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_ratio_measures_refuse_double_zero_trials_unless_told(pattern, measure):
    t = _zero_table(pattern)
    with pytest.raises(DataError, match=rf"study 'T2' has no events in both arms .*no "
                                        rf"information on the {measure}.*drop_double_zero"):
        t.effects(measure)
    with pytest.warns(DataWarning, match=f"excluded double-zero study 'T2' from the {measure}"):
        assert t.effects(measure, drop_double_zero=True).excluded == ("T2",)
    assert t.effects(measure, drop_double_zero=False).corrected == ("T2",)


@pytest.mark.parametrize("pattern", ["one_zero", "all_events_arm"])
@pytest.mark.parametrize("measure", ["RD", "RR", "OR"])
def test_single_zero_cell_is_corrected_for_every_measure(pattern, measure):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eff = _zero_table(pattern).effects(measure)
    assert eff.corrected == ("T2",) and eff.excluded == ()


def test_uncorrected_zero_cells_follow_what_each_measure_needs():
    one_zero = _zero_table("one_zero")              # T2: 0/40 vs 3/40
    all_arm = _zero_table("all_events_arm")         # T2: 40/40 vs 36/40
    # RD: a zero cell in one arm leaves the RD and its variance finite (metafor with add=0)
    rd = one_zero.effects("RD", add=0.0)
    assert rd.yi[1] == pytest.approx(-3 / 40)
    assert rd.vi[1] == pytest.approx((3 / 40) * (37 / 40) / 40)
    assert rd.corrected == ()
    assert all_arm.effects("RD", to="none").yi[1] == pytest.approx(1 - 36 / 40)
    # RR: defined when both arms have events, even when one arm has only events
    rr = all_arm.effects("RR", to="none")
    assert rr.yi[1] == pytest.approx(np.log(1 / 0.9))
    assert rr.vi[1] == pytest.approx(1 / 40 - 1 / 40 + 1 / 36 - 1 / 40)
    with pytest.raises(DataError, match=r"study 'T2' have a zero cell .*RR needs events in "
                                        r"both arms"):
        one_zero.effects("RR", add=0.0)
    # OR: every zero cell makes it infinite
    for t in (one_zero, all_arm):
        with pytest.raises(DataError, match="study 'T2' .*OR needs all four cells > 0"):
            t.effects("OR", to="none")
    # RD of a double-zero trial without correction: variance 0
    with pytest.raises(DataError, match="study 'T2' .*RD needs a risk strictly between"):
        _zero_table("double_zero").effects("RD", add=0.0)
    with pytest.raises(DataError, match="drop_double_zero must be None, True or False"):
        one_zero.effects("RD", drop_double_zero="yes")


# ------------------------------------------------------------------------ the user's names
def test_count_errors_name_the_frames_columns_not_the_roles():
    df = pd.DataFrame({"trial": ["A", "B"], "tpos": [4, np.nan], "tneg": [119, 300],
                       "cpos": [11, 29], "cneg": [128, 274]})
    cols = {"n11": "tpos", "n10": "tneg", "n01": "cpos", "n00": "cneg", "study": "trial"}
    with pytest.raises(DataError, match=r"column 'tpos' \(treated events\) is missing or not "
                                        r"finite in study 'B'"):
        ArmTable.from_frame(df, **cols)
    with pytest.raises(DataError, match=r"column 'cneg' \(control non-events\) is negative in "
                                        r"study 'A'"):
        ArmTable.from_frame(df.assign(tpos=[4, 6], cneg=[-1, 274]), **cols)


def test_events_table_errors_name_the_frames_columns():
    ev = pd.DataFrame({"trial": ["A", "B"], "e1": [4, 6], "N1": [123, 306], "e0": [11, 29],
                       "N0": [139, 303]})
    args = dict(events1="e1", total1="N1", events0="e0", total0="N0", study="trial")
    with pytest.raises(DataError, match=r"column 'N0' \(control patients\) is missing or not "
                                        r"finite in study 'B'"):
        ArmTable.from_events(ev.assign(N0=[139, np.nan]), **args)
    with pytest.raises(DataError, match=r"column 'e1' \(treated events\) has non-integer "
                                        r"counts in study 'A'"):
        ArmTable.from_events(ev.assign(e1=[4.5, 6]), **args)
    with pytest.raises(DataError, match=r"column 'e0' \(control events\) must be numeric"):
        ArmTable.from_events(ev.assign(e0=["x", "y"]), **args)


def test_effect_table_errors_name_the_frames_columns():
    df = pd.DataFrame({"trial": ["A", "B"], "logrr": [0.1, np.inf], "var": [0.1, 0.2]})
    with pytest.raises(DataError, match="yi column 'logrr' .*not finite in study 'B'"):
        EffectTable.from_frame(df, yi="logrr", vi="var", study="trial")
    with pytest.raises(DataError, match=r"vi column 'var' .*must be finite and > 0, but is not "
                                        r"in study 'A'"):
        EffectTable.from_frame(df.assign(logrr=[0.1, 0.2], var=[0.0, 0.2]), yi="logrr",
                               vi="var", study="trial")


def test_duplicated_column_labels_are_refused():
    dup = pd.concat([ZERO, ZERO[["n01"]]], axis=1)
    with pytest.raises(DataError, match=r"count \(control events\) column 'n01' appears 2 "
                                        "times"):
        ArmTable.from_frame(dup)
    counts = pd.DataFrame({"e1": [3, 4], "t1": [20, 30], "e0": [5, 6], "t0": [20, 30]})
    with pytest.raises(DataError, match="total0 column 't0' appears 2 times"):
        ArmTable.from_events(pd.concat([counts, counts[["t0"]]], axis=1), events1="e1",
                             total1="t1", events0="e0", total0="t0")
    effects = pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]})
    with pytest.raises(DataError, match="yi column 'yi' appears 2 times"):
        EffectTable.from_frame(pd.concat([effects, effects[["yi"]]], axis=1), vi="vi")


@pytest.mark.parametrize(("labels", "match"), [
    (["A", "A ", "B"], r"labels differ only by spaces: \[\['A', 'A '\]\]"),
    (["A", "", "B"], r"labels must not be empty \(1 of 3 are\)"),
    (["A", "  ", "B"], "labels must not be empty"),
])
def test_doubtful_study_labels_are_refused(labels, match):
    df = pd.DataFrame({"study": labels, "yi": [0.1, 0.2, 0.3], "vi": [0.01] * 3})
    with pytest.raises(DataError, match=match):
        EffectTable.from_frame(df, vi="vi", study="study")
    with pytest.raises(DataError, match=match):
        EffectTable.from_arrays([0.1, 0.2, 0.3], [0.01] * 3, labels=labels)


@pytest.mark.parametrize(("vi", "why"), [
    ([0.01, 0.0, 0.02], "a zero .or subnormal. variance would give the study infinite weight"),
    ([0.01, -0.5, 0.02], r"a variance is a squared standard error: check the column"),
    ([0.01, np.nan, 0.02], r"a variance is a squared standard error: check the column"),
])
def test_bad_variances_say_why(vi, why):
    with pytest.raises(DataError, match=rf"vi must be finite and > 0, but is not in study "
                                        rf"'2' .*{why}"):
        EffectTable.from_arrays([0.1, 0.2, 0.3], vi)


def test_an_empty_arm_is_named_by_the_users_columns():
    """The frame's own column names, not the ArmTable's cells (found by hypothesis)."""
    df = pd.DataFrame({"trial": ["a", "b"], "e1": [0, 3], "N1": [0, 50], "e0": [2, 4],
                       "N0": [40, 50]})
    with pytest.raises(DataError, match=r"total column 'N1' is 0 in study 'a'"):
        ArmTable.from_events(df, events1="e1", total1="N1", events0="e0", total0="N0",
                             study="trial")
    renamed = df.rename(columns={"e1": "tpos", "N1": "tneg", "e0": "cpos", "N0": "cneg"})
    with pytest.raises(DataError, match=r"treated arm \(columns 'tpos' \+ 'tneg'\) is empty "
                                        r"in study 'a'"):
        ArmTable.from_frame(renamed, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                            study="trial")


def test_text_counts_are_named_by_value_and_study():
    """The message had said only "must be numeric, got dtype object"."""
    df = pd.DataFrame({"trial": ["a", "b", "c"], "n11": [3, "4x", 5], "n10": [10, 10, 10],
                       "n01": [2, 2, 2], "n00": [11, 11, 11]})
    with pytest.raises(DataError, match=r"count column 'n11' \(treated events\) must be "
                                        r"numeric: '4x' in study 'b' is not a number \(1 text"):
        ArmTable.from_frame(df, study="trial")
    # read from a file, one bad cell makes the whole column text: the message names that
    # cell, not the first row's '3'
    import io
    csv = io.StringIO("trial,n11,n10,n01,n00\na,3,10,2,11\nb,4,10,2,11\nc,nine,10,2,11\n")
    with pytest.raises(DataError, match=r"'n11' \(treated events\) must be numeric: 'nine' in "
                                        r"study 'c' is not a number \(3 text entries"):
        ArmTable.from_frame(pd.read_csv(csv), study="trial")
    ev = pd.DataFrame({"trial": ["a", "b"], "e1": [1, 2], "n1": [10, "ten"], "e0": [1, 1],
                       "n0": [10, 10]})
    with pytest.raises(DataError, match=r"column 'n1' \(treated patients\) must be numeric: "
                                        r"'ten' in study 'b'"):
        ArmTable.from_events(ev, events1="e1", total1="n1", events0="e0", total0="n0",
                             study="trial")


def test_text_effect_sizes_are_named_with_their_own_study():
    """The message sorted the values and listed the studies apart ("has '0.1', '0.3', 'a'
    in studies '1', '2', '3'"), so they no longer lined up."""
    with pytest.raises(DataError, match=r"effect size yi must hold numbers, but has '0.3' in "
                                        r"study '1', 'a' in study '2', '0.1' in study '3';"):
        EffectTable.from_arrays(["0.3", "a", "0.1"], [0.1, 0.1, 0.1])
    with pytest.raises(DataError, match=r"sampling variance vi must hold numbers, but has "
                                        r"True in study 'B';"):
        EffectTable.from_arrays([0.3, 0.2], [0.1, True], labels=["A", "B"])


def test_rr_without_correction_and_all_events_in_both_arms_says_why():
    """10/10 against 10/10: log RR 0 with variance 0 (metafor's escalc gives vi = 0). The
    message said "the RR needs events in both arms", which this study has."""
    arms = ArmTable.from_frame(pd.DataFrame({"n11": [10, 4], "n10": [0, 6], "n01": [10, 3],
                                             "n00": [0, 7]}, index=["T1", "T2"]))
    with pytest.raises(DataError, match=r"study 'T1'.*its variance non-events in one"):
        arms.effects("RR", to="none", drop_double_zero=False)
