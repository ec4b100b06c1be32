"""Property-based tests of the data containers (hypothesis).

Whatever frame a user passes, :meth:`IPDData.from_frame`,
:meth:`LongitudinalData.from_frame`, :class:`ArmTable` (``from_frame``, ``from_events``,
the constructor), :class:`EffectTable` (``from_arrays``, ``from_frame``, the
constructor) and :meth:`CovariateSummary.from_frame` either return a valid container
or raise :class:`bayes_hte.DataError` whose message names the culprit (a column, a
study label or a row label of the user's frame). Never another exception type, never a
warning other than :class:`bayes_hte.DataWarning`, never a NaN or an infinity in the
container's arrays, and the input frame is never modified.

The frames are drawn two ways: a valid frame with one to three corruptions (a missing
value, ``inf``, a string in a numeric column, a huge value, a negative or non-integer
count, a change of dtype to bool / categorical / text / object / nullable, a constant
column, duplicate row labels, a single row, no row), or a frame whose columns are
drawn independently from every dtype. Column names, study labels and row labels include
non-ASCII text. With a single corruption of a named column the message must name that
column, and rows must be named by the user's row labels, never by internal positions.

The default run uses few examples per property (fast); ``pytest -m slow`` runs every
property with many more. The failures these properties found are kept as plain
regression tests at the end of the file.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bayes_hte import DataError, DataWarning
from bayes_hte.data import (
    ArmTable,
    CovariateSummary,
    EffectTable,
    IPDData,
    LongitudinalData,
)

FAST = 200
SLOW = 3000
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def fast(strategy):
    """``@given(strategy)`` with the default (fast) budget."""
    def deco(check):
        return settings(max_examples=FAST, deadline=None, suppress_health_check=HEALTH)(
            given(strategy)(check))
    return deco


# ----------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One call: the frame (or arrays), the keywords, and what a message may name."""

    df: pd.DataFrame | None
    kwargs: dict
    #: the single corrupted column (None when several or none were corrupted)
    culprit: object = None
    #: extra words a message may use to name the culprit (labels, values)
    names: list = field(default_factory=list)
    #: labels that also name the culprit (the values of a corrupted study column)
    culprit_labels: list = field(default_factory=list)


def _tokens(values) -> set[str]:
    out = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, list | tuple | set):
            out |= _tokens(v)
            continue
        out |= {str(v), repr(v), str(v).strip()}
    return {t for t in out if t}


def assert_names_culprit(err: DataError, case: Case) -> None:
    """The message names a column / study / row of the user's input (see module doc)."""
    msg = str(err)
    assert msg, "empty DataError message"
    df = case.df
    if df is not None and len(df) == 0:
        return  # "the data frame has no rows": nothing else to name
    if df is None and any(np.size(v) == 0 for v in case.kwargs.values() if v is not None
                          and not isinstance(v, str)):
        return  # empty arrays: "the table has no studies"
    words = list(case.kwargs.values()) + list(case.names)
    if df is not None:
        words += list(df.columns) + list(df.index)
    tokens = _tokens(words)
    assert any(t in msg for t in tokens), f"message names no column/label/row: {msg!r}"
    if case.culprit is not None:
        assert any(t in msg for t in _tokens([case.culprit, *case.culprit_labels])), (
            f"message does not name the corrupted column {case.culprit!r}: {msg!r}")
    if df is not None and len(df) and all(isinstance(i, str) and i.startswith("r")
                                          for i in df.index):
        # user row labels are text: a message must not name rows by internal position
        assert not re.search(r"\brows? \d", msg), f"message names internal rows: {msg!r}"


def run(call, case: Case, validate):
    """Call ``call()``; check the result or the DataError; check the frame is unchanged."""
    before = None if case.df is None else case.df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DataWarning)
        try:
            out = call()
        except DataError as err:
            assert_names_culprit(err, case)
            out = None
    event("valid container" if out is not None else "DataError")
    if out is not None:
        validate(out)
    if before is not None:
        pd.testing.assert_frame_equal(case.df, before)
    return out


def finite(a) -> bool:
    a = np.asarray(a)
    return a.dtype.kind in "biuf" and bool(np.all(np.isfinite(a)))


# ------------------------------------------------------------------- building blocks
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
               max_size=4)
COLNAME = st.one_of(TEXT, st.sampled_from(["y", "über", "治疗", "Δ t", " ", "0", "nan"]))
LABEL = st.one_of(st.sampled_from(["A", "B", "Ü", "試験", "1", "2"]), TEXT,
                  st.integers(-2, 3)).filter(lambda v: str(v).strip() != "")


def same_label(v: object) -> str:
    """Labels count as the same study when they differ only by spaces (``"A"``, ``"A "``:
    refused by the aggregate containers), so generated labels are unique after this."""
    return str(v).strip()


HUGE = [1e308, -1e308, 1e300, 2.0**60, 1e-320]
BAD_CELL = ["nan", "none", "pdna", "inf", "ninf", "string", "huge", "negative", "half",
            "bool_cell", "tiny"]
BAD_COLUMN = ["bool", "category", "str", "object", "nullable", "constant0", "constant1",
              "all_nan", "complex", "datetime", "float", "huge_all", "unused_level"]


def row_index(draw, n: int):
    """Row labels: default, text (distinctive), unicode, duplicated, or offset integers."""
    kind = draw(st.sampled_from(["range", "text", "text", "dup", "offset"]))
    if kind == "range":
        return pd.RangeIndex(n)
    if kind == "text":
        return pd.Index([f"r{i}ü" for i in range(n)], dtype=object)
    if kind == "dup":
        return pd.Index([f"r{i // 2}" for i in range(n)], dtype=object)
    return pd.Index(np.arange(n) + 1000)


def corrupt(draw, df: pd.DataFrame, col) -> pd.DataFrame:
    """One corruption of column ``col`` (a cell or the whole column)."""
    n = len(df)
    s = df[col]
    kind = draw(st.sampled_from(BAD_CELL + BAD_COLUMN))
    if kind in BAD_CELL:
        if n == 0:
            return df
        i = draw(st.integers(0, n - 1))
        numeric = (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                   and not pd.api.types.is_complex_dtype(s))
        value = {"nan": np.nan, "none": None, "pdna": pd.NA, "inf": np.inf, "ninf": -np.inf,
                 "string": draw(st.sampled_from(["x", "1", "ü", "", "0.5"])),
                 "huge": draw(st.sampled_from(HUGE)), "negative": -1, "half": 0.5,
                 "bool_cell": True, "tiny": 1e-320}[kind]
        if numeric and kind in ("nan", "inf", "ninf", "huge", "negative", "half", "tiny"):
            vals = s.to_numpy(dtype=float, copy=True)
            vals[i] = value
        else:
            vals = np.array(s.astype(object).tolist(), dtype=object)
            vals[i] = value
    elif kind == "bool":
        vals = np.array([False if pd.isna(v) else bool(v) for v in s.astype(object)],
                        dtype=bool)
    elif kind == "category":
        vals = pd.Categorical(s.astype(object).map(str))
    elif kind == "str":
        vals = pd.array(s.astype(object).map(str).to_numpy(dtype=object), dtype="str")
    elif kind == "object":
        vals = np.array(s.astype(object).tolist(), dtype=object)
    elif kind == "nullable":
        if pd.api.types.is_bool_dtype(s):
            dtype = "boolean"
        elif pd.api.types.is_integer_dtype(s):
            dtype = "Int64"
        elif pd.api.types.is_float_dtype(s):
            dtype = "Float64"
        else:
            dtype = "str"
        items = [None if pd.isna(v) else (str(v) if dtype == "str" else v)
                 for v in s.astype(object)]
        vals = pd.array(items, dtype=dtype)
        if n and draw(st.booleans()):
            vals[draw(st.integers(0, n - 1))] = pd.NA
    elif kind == "constant0":
        vals = np.zeros(n, dtype=np.int64)
    elif kind == "constant1":
        vals = np.ones(n, dtype=np.int64)
    elif kind == "all_nan":
        vals = np.full(n, np.nan)
    elif kind == "complex":
        vals = np.ones(n, dtype=complex) * (1 + 1j)
    elif kind == "huge_all":
        vals = np.array(draw(st.lists(st.sampled_from(HUGE), min_size=n, max_size=n)),
                        dtype=float)
    elif kind == "unused_level":  # a category no row has, declared first
        text = s.astype(object).map(str)
        vals = pd.Categorical(text, categories=["never", *sorted(set(text))])
    elif kind == "datetime":
        vals = pd.date_range("2020-01-01", periods=n).to_numpy()
    else:  # float
        vals = np.array(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                      min_size=n, max_size=n)), dtype=float)
    out = df.copy()
    out[col] = vals
    return out


def reshape_rows(draw, df: pd.DataFrame) -> pd.DataFrame:
    """No row, a single row, or duplicated row labels."""
    kind = draw(st.sampled_from(["empty", "single", "dup_labels"]))
    if kind == "empty":
        return df.iloc[:0]
    if kind == "single":
        return df.iloc[:1]
    return df.set_axis(pd.Index(["r0"] * len(df), dtype=object))


def any_column(draw, n: int):
    """A column of any dtype with any values (fully random frames)."""
    kind = draw(st.sampled_from(["binary", "bool", "int", "float", "text", "mixed",
                                 "category", "nullable_int", "nullable_bool", "labels",
                                 "positive"]))
    if kind == "binary":
        return np.array(draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)))
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "int":
        return np.array(draw(st.lists(st.integers(-3, 10**6), min_size=n, max_size=n)),
                        dtype=np.int64)
    if kind == "float":
        return np.array(draw(st.lists(st.floats(), min_size=n, max_size=n)), dtype=float)
    if kind == "positive":
        return np.array(draw(st.lists(st.floats(0.01, 100), min_size=n, max_size=n)))
    if kind == "text":
        return pd.array(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype="str")
    if kind == "mixed":
        items = st.one_of(st.integers(-2, 3), st.floats(), TEXT, st.booleans(), st.none())
        return np.array(draw(st.lists(items, min_size=n, max_size=n)) + [None],
                        dtype=object)[:n]
    if kind == "category":
        return pd.Categorical(draw(st.lists(st.sampled_from(["a", "b", "ü"]), min_size=n,
                                            max_size=n)), categories=["ü", "b", "a", "x"])
    if kind == "nullable_int":
        return pd.array(draw(st.lists(st.one_of(st.none(), st.integers(0, 1)), min_size=n,
                                      max_size=n)), dtype="Int64")
    if kind == "nullable_bool":
        return pd.array(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n,
                                      max_size=n)), dtype="boolean")
    return np.array(draw(st.lists(LABEL, min_size=n, max_size=n)) + [None],
                    dtype=object)[:n]


def damage(draw, df: pd.DataFrame, columns: list) -> tuple[pd.DataFrame, object]:
    """Apply 0-3 corruptions; return the frame and the single corrupted column, if any."""
    k = draw(st.integers(0, 3))
    culprit = None
    for _ in range(k):
        what = draw(st.sampled_from(["column"] * 5 + ["rows"]))
        if what == "rows":
            df = reshape_rows(draw, df)
            culprit = None
        else:
            col = draw(st.sampled_from(columns))
            df = corrupt(draw, df, col)
            culprit = col if k == 1 else None
    return df, culprit


# ------------------------------------------------------------------------ IPDData
@st.composite
def ipd_cases(draw) -> Case:
    names = draw(st.lists(COLNAME, min_size=6, max_size=6, unique=True))
    y_col, z_col, s_col, t_col, c1, c2 = names
    n_studies = draw(st.integers(1, 3))
    per = draw(st.integers(2, 4))
    n = 2 * n_studies * per
    labels = draw(st.lists(LABEL, min_size=n_studies, max_size=n_studies,
                           unique_by=same_label))
    study = np.repeat(np.array(labels, dtype=object), 2 * per)
    z = np.tile([0, 1], n_studies * per)
    y = np.array(draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)))
    y[:4] = [1, 1, 0, 0]  # events and non-events in both arms
    cols = {y_col: y, z_col: z, s_col: study,
            t_col: np.array(draw(st.lists(st.floats(0, 50), min_size=n, max_size=n))),
            c1: np.array(draw(st.lists(st.floats(-100, 100), min_size=n, max_size=n))),
            c2: np.array(draw(st.lists(st.sampled_from(["m", "f", "ö"]), min_size=n,
                                       max_size=n)), dtype=object)}
    cols[c1][:2] = [0.0, 1.0]  # covariates not constant
    cols[c2][:2] = ["m", "f"]
    if draw(st.booleans()):
        cols[c2] = pd.Categorical(cols[c2], categories=["ö", "f", "m"])
    random = draw(st.integers(0, 4)) == 0
    if random:  # fully random columns
        cols = {c: any_column(draw, n) for c in cols}
    df = pd.DataFrame(cols, index=row_index(draw, n))
    df, culprit = damage(draw, df, names)
    kwargs = {"outcome": y_col, "treatment": z_col,
              "study": draw(st.sampled_from([s_col, s_col, None])),
              "covariates": draw(st.sampled_from([[], [c1], [c2], [c1, c2]])),
              "time": draw(st.sampled_from([None, None, t_col])),
              "center": draw(st.sampled_from([None, "overall", "within_study"]))}
    if draw(st.integers(0, 9)) == 0:  # a user mistake in the roles themselves
        kwargs[draw(st.sampled_from(["outcome", "treatment", "covariates", "center"]))] = \
            draw(st.sampled_from(["missing ü", y_col, [y_col], "bad"]))
        random = True
    covs = kwargs["covariates"]
    used = {str(v) for v in (kwargs["outcome"], kwargs["treatment"], kwargs["study"],
                             kwargs["time"], *([covs] if isinstance(covs, str) else covs))}
    if random or culprit not in used or (kwargs["center"] == "within_study"
                                         and kwargs["study"] is None):
        culprit = None
    return Case(df, kwargs, culprit, names=list(labels),
                culprit_labels=list(df[s_col]) if culprit == s_col else [])


def validate_ipd(d: IPDData) -> None:
    n = len(d.frame)
    assert n > 0
    assert d.y.shape == d.z.shape == d.study_idx.shape == (n,)
    assert set(np.unique(d.y)) <= {0, 1} and set(np.unique(d.z)) <= {0, 1}
    assert d.y.sum() > 0
    assert d.X.shape == (n, len(d.covariate_names)) and finite(d.X)
    assert d.centers is None or finite(d.centers)
    raw = d.X if d.centers is None else d.X + (d.centers[d.study_idx] if d.centers.ndim == 2
                                               else d.centers)
    for k, name in enumerate(d.covariate_names):  # constant covariates are refused
        assert raw[:, k].min() < raw[:, k].max(), f"constant column {name!r} in X"
    for c, lv in d.levels.items():  # every level, the reference too, is present
        assert set(map(str, lv)) == set(map(str, d.frame[c].unique())), c
    assert (d.t is None) == (d.time is None)
    if d.t is not None:
        assert d.t.shape == (n,) and finite(d.t) and (d.t >= 0).all()
    assert ((d.study_idx >= 0) & (d.study_idx < d.n_studies)).all()
    for j in range(d.n_studies):
        assert set(d.z[d.study_idx == j].tolist()) == {0, 1}, d.study_labels[j]
    assert len(set(map(str, d.study_labels))) == d.n_studies


def check_ipd(case: Case) -> None:
    run(lambda: IPDData.from_frame(case.df, **case.kwargs), case, validate_ipd)


@fast(ipd_cases())
def test_ipd_from_frame_any_frame(case):
    check_ipd(case)


# ---------------------------------------------------------------- LongitudinalData
@st.composite
def longitudinal_cases(draw) -> Case:
    names = draw(st.lists(COLNAME, min_size=6, max_size=6, unique=True))
    y_col, z_col, s_col, id_col, v_col, c1 = names
    n_studies = draw(st.integers(1, 3))
    labels = draw(st.lists(LABEL, min_size=n_studies, max_size=n_studies, unique_by=same_label))
    visit_kind = draw(st.sampled_from(["int", "float", "text", "category"]))
    visits = {"int": [0, 1, 2], "float": [0.5, 1.0, 2.5], "text": ["wk1", "wk2", "wk10"],
              "category": ["wk10", "wk2", "wk1"]}[visit_kind]
    rows = []
    for s in labels:
        for i in range(draw(st.integers(1, 3))):
            arm = i % 2
            x = draw(st.floats(-10, 10))
            for v in draw(st.lists(st.sampled_from(visits), min_size=1, max_size=3,
                                   unique=True)):
                rows.append({y_col: draw(st.floats(-100, 100)), z_col: arm, s_col: s,
                             id_col: f"p{i}", v_col: v, c1: x})
        # every trial has both arms, and the covariate varies
        rows.append({y_col: 0.0, z_col: 1, s_col: s, id_col: "p_t", v_col: visits[0],
                     c1: 1.0})
        rows.append({y_col: 0.5, z_col: 0, s_col: s, id_col: "p_c", v_col: visits[0],
                     c1: 2.0})
    df = pd.DataFrame(rows, columns=names)
    if visit_kind == "category":
        df[v_col] = pd.Categorical(df[v_col], categories=visits, ordered=True)
    df = df.set_axis(row_index(draw, len(df)))
    random = draw(st.integers(0, 5)) == 0
    if random:
        df = pd.DataFrame({c: any_column(draw, len(df)) for c in names}, index=df.index)
    df, culprit = damage(draw, df, names)
    culprit = None if random else culprit
    kwargs = {"outcome": y_col, "treatment": z_col,
              "study": draw(st.sampled_from([s_col, s_col, None])), "subject": id_col,
              "visit": v_col, "covariates": draw(st.sampled_from([[], [c1]])),
              "center": draw(st.sampled_from([None, "overall"])),
              "missing_outcome": draw(st.sampled_from(["raise", "drop"]))}
    used = {kwargs["outcome"], kwargs["treatment"], kwargs["study"], id_col, v_col,
            *kwargs["covariates"]}
    if culprit not in used or (culprit == y_col and kwargs["missing_outcome"] == "drop"):
        culprit = None
    if kwargs["study"] is None and n_studies > 1:  # subjects then repeat across trials
        culprit = None
    return Case(df, kwargs, culprit, names=list(labels),
                culprit_labels=list(df[s_col]) if culprit == s_col else [])


def validate_longitudinal(d: LongitudinalData) -> None:
    n = len(d.frame)
    assert n > 0 and d.n_obs == n
    for a in (d.y, d.z, d.study_idx, d.subject_idx, d.visit_idx):
        assert a.shape == (n,)
    assert finite(d.y) and finite(d.X) and d.X.shape == (n, len(d.covariate_names))
    assert d.centers is None or finite(d.centers)
    assert set(np.unique(d.z)) <= {0, 1}
    assert ((d.study_idx >= 0) & (d.study_idx < d.n_studies)).all()
    assert ((d.visit_idx >= 0) & (d.visit_idx < d.n_visits)).all()
    assert ((d.subject_idx >= 0) & (d.subject_idx < d.n_subjects)).all()
    assert len(set(zip(d.subject_idx.tolist(), d.visit_idx.tolist(), strict=True))) == n
    assert d.subject_study.shape == (d.n_subjects,)
    np.testing.assert_array_equal(d.subject_study[d.subject_idx], d.study_idx)
    for j in range(d.n_studies):
        assert set(d.z[d.study_idx == j].tolist()) == {0, 1}
    for s in range(d.n_subjects):
        assert len(set(d.z[d.subject_idx == s].tolist())) == 1
    Y, M = d.to_padded()
    assert M.sum() == n and finite(Y)


def check_longitudinal(case: Case) -> None:
    run(lambda: LongitudinalData.from_frame(case.df, **case.kwargs), case,
        validate_longitudinal)


@fast(longitudinal_cases())
def test_longitudinal_from_frame_any_frame(case):
    check_longitudinal(case)


# ----------------------------------------------------------------------- ArmTable
COUNT_ROLES = ("n11", "n10", "n01", "n00")


def validate_arms(t: ArmTable) -> None:
    k = t.k
    assert k > 0 and len(t.labels) == k == len(set(t.labels))
    for name in COUNT_ROLES:
        a = getattr(t, name)
        assert a.shape == (k,) and finite(a) and (a >= 0).all() and (a == np.round(a)).all()
    assert (t.n1 > 0).all() and (t.n0 > 0).all()
    for derived in (t.n1, t.n0, t.n, t.risk1, t.risk0):
        assert finite(derived)
    for measure in ("RD", "RR", "OR"):
        for drop in (False, True):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    warnings.simplefilter("ignore", DataWarning)
                    eff = t.effects(measure, drop_double_zero=drop)
            except DataError as err:
                assert any(lab in str(err) for lab in t.labels) or "every study" in str(err)
            else:
                validate_effects(eff)


@st.composite
def arm_frames(draw) -> Case:
    k = draw(st.integers(1, 4))
    labels = draw(st.lists(LABEL, min_size=k, max_size=k, unique_by=same_label))
    custom = draw(st.booleans())
    names = (draw(st.lists(COLNAME, min_size=5, max_size=5, unique=True)) if custom
             else [*COUNT_ROLES, "study"])
    counts = st.lists(st.integers(0, 500), min_size=k, max_size=k)
    cols = {names[i]: np.array(draw(counts)) + (1 if i % 2 else 0) for i in range(4)}
    cols[names[4]] = np.array(labels, dtype=object)
    df = pd.DataFrame(cols, index=row_index(draw, k))
    random = draw(st.integers(0, 5)) == 0
    if random:
        df = pd.DataFrame({c: any_column(draw, k) for c in names}, index=df.index)
    df, culprit = damage(draw, df, names)
    culprit = None if random else culprit
    kwargs = dict(zip(COUNT_ROLES, names[:4], strict=True)) if custom else {}
    if custom or draw(st.booleans()):
        kwargs["study"] = names[4]
    return Case(df, kwargs, culprit, names=list(labels))


def check_arm_frame(case: Case) -> None:
    run(lambda: ArmTable.from_frame(case.df, **case.kwargs), case, validate_arms)


@fast(arm_frames())
def test_arm_table_from_frame_any_frame(case):
    check_arm_frame(case)


@st.composite
def event_frames(draw) -> Case:
    k = draw(st.integers(1, 4))
    labels = draw(st.lists(LABEL, min_size=k, max_size=k, unique_by=same_label))
    names = draw(st.lists(COLNAME, min_size=5, max_size=5, unique=True))
    e1, n1, e0, n0, s = names
    ev1 = np.array(draw(st.lists(st.integers(0, 50), min_size=k, max_size=k)))
    ev0 = np.array(draw(st.lists(st.integers(0, 50), min_size=k, max_size=k)))
    df = pd.DataFrame({e1: ev1, n1: ev1 + draw(st.integers(0, 50)) + 1, e0: ev0,
                       n0: ev0 + draw(st.integers(0, 50)) + 1,
                       s: np.array(labels, dtype=object)}, index=row_index(draw, k))
    random = draw(st.integers(0, 5)) == 0
    if random:
        df = pd.DataFrame({c: any_column(draw, k) for c in names}, index=df.index)
    df, culprit = damage(draw, df, names)
    culprit = None if random else culprit
    kwargs = {"events1": e1, "total1": n1, "events0": e0, "total0": n0,
              "study": draw(st.sampled_from([s, None]))}
    if kwargs["study"] is None and (culprit == s or not df.index.is_unique):
        culprit = None
    return Case(df, kwargs, culprit, names=list(labels))


def check_events(case: Case) -> None:
    run(lambda: ArmTable.from_events(case.df, **case.kwargs), case, validate_arms)


@fast(event_frames())
def test_arm_table_from_events_any_frame(case):
    check_events(case)


CELL = st.one_of(st.integers(-1, 300), st.floats(), st.sampled_from(HUGE), TEXT,
                 st.booleans(), st.none(), st.just(pd.NA))


@st.composite
def arm_arrays(draw) -> Case:
    k = draw(st.integers(0, 4))
    cols = {}
    for role in COUNT_ROLES:
        if draw(st.integers(0, 3)) == 0:
            vals = draw(st.lists(CELL, min_size=k, max_size=k + 1))
        else:
            vals = draw(st.lists(st.integers(1, 300), min_size=k, max_size=k))
        cols[role] = draw(st.sampled_from([list, np.array, pd.Series]))(vals) \
            if vals else []
    labels = draw(st.one_of(st.none(), st.lists(LABEL, min_size=k, max_size=k),
                            st.lists(LABEL, max_size=5)))
    return Case(None, {**cols, "labels": labels},
                names=["n11", "n10", "n01", "n00", "labels"])


def check_arm_arrays(case: Case) -> None:
    run(lambda: ArmTable(**case.kwargs), case, validate_arms)


@fast(arm_arrays())
def test_arm_table_constructor_any_arrays(case):
    check_arm_arrays(case)


# ---------------------------------------------------------------------- EffectTable
def validate_effects(e: EffectTable) -> None:
    k = e.k
    assert k > 0 and e.yi.shape == e.vi.shape == (k,)
    assert finite(e.yi) and finite(e.vi) and (e.vi > 0).all() and finite(e.se)
    assert finite(1 / e.vi), "a variance so small that its weight 1/vi overflows"
    assert len(e.labels) == k == len(set(e.labels))
    assert e.scale in ("identity", "log")
    for extra in (e.subgroup, e.stratum):
        assert extra is None or extra.shape == (k,)


@st.composite
def effect_arrays(draw) -> Case:
    k = draw(st.integers(0, 4))
    good = st.lists(st.floats(-5, 5), min_size=k, max_size=k)
    pos = st.lists(st.floats(0.001, 10), min_size=k, max_size=k)
    yi = draw(st.one_of(good, st.lists(CELL, min_size=k, max_size=k + 1)))
    var = draw(st.one_of(pos, st.lists(CELL, min_size=k, max_size=k + 1)))
    which = draw(st.sampled_from(["vi", "se", "both", "neither"]))
    kwargs = {"yi": draw(st.sampled_from([list, np.array]))(yi)}
    if which in ("vi", "both"):
        kwargs["vi"] = var
    if which in ("se", "both"):
        kwargs["se"] = var
    kwargs["labels"] = draw(st.one_of(st.none(), st.lists(LABEL, min_size=k, max_size=k),
                                      st.lists(LABEL, max_size=5)))
    kwargs["scale"] = draw(st.sampled_from(["identity", "log", "logit"]))
    kwargs["measure"] = draw(st.sampled_from([None, "RR", "SMD"]))
    return Case(None, kwargs, names=["yi", "vi", "se", "scale", "labels"])


def check_effect_arrays(case: Case) -> None:
    run(lambda: EffectTable.from_arrays(**case.kwargs), case, validate_effects)


@fast(effect_arrays())
def test_effect_table_from_arrays_any_arrays(case):
    check_effect_arrays(case)


@st.composite
def effect_frames(draw) -> Case:
    k = draw(st.integers(1, 4))
    names = draw(st.lists(COLNAME, min_size=5, max_size=5, unique=True))
    y, v, s, g, h = names
    labels = draw(st.lists(LABEL, min_size=k, max_size=k, unique_by=same_label))
    df = pd.DataFrame({y: draw(st.lists(st.floats(-5, 5), min_size=k, max_size=k)),
                       v: draw(st.lists(st.floats(0.001, 10), min_size=k, max_size=k)),
                       s: np.array(labels, dtype=object),
                       g: draw(st.lists(st.sampled_from(["a", "b"]), min_size=k,
                                        max_size=k)),
                       h: draw(st.lists(st.sampled_from([0, 1]), min_size=k, max_size=k))},
                      index=row_index(draw, k))
    random = draw(st.integers(0, 5)) == 0
    if random:
        df = pd.DataFrame({c: any_column(draw, k) for c in names}, index=df.index)
    df, culprit = damage(draw, df, names)
    culprit = None if random else culprit
    study = draw(st.sampled_from([s, None]))
    kwargs = {"yi": y, draw(st.sampled_from(["vi", "se"])): v, "study": study,
              "subgroup": draw(st.sampled_from([g, None])),
              "stratum": draw(st.sampled_from([h, None]))}
    if culprit not in kwargs.values() or (study is None and not df.index.is_unique):
        culprit = None
    return Case(df, kwargs, culprit, names=list(labels))


def check_effect_frame(case: Case) -> None:
    run(lambda: EffectTable.from_frame(case.df, **case.kwargs), case, validate_effects)


@fast(effect_frames())
def test_effect_table_from_frame_any_frame(case):
    check_effect_frame(case)


# ------------------------------------------------------------------ CovariateSummary
def validate_summary(c: CovariateSummary) -> None:
    f = c.frame
    assert len(f) > 0
    assert finite(f["mean"].to_numpy(dtype=float))
    sd = f["sd"].to_numpy(dtype=float)
    binary = np.isnan(sd)
    assert finite(sd[~binary]) and (sd[~binary] > 0).all()
    mean = f["mean"].to_numpy(dtype=float)
    assert ((mean[binary] >= 0) & (mean[binary] <= 1)).all()
    assert set(c.kinds) == set(c.covariates)
    if "n" in f.columns:
        assert not np.isinf(f["n"].to_numpy(dtype=float)).any()
    if "min" in f.columns:
        assert not (f["min"].to_numpy(dtype=float) == np.inf).any()
    if "max" in f.columns:
        assert not (f["max"].to_numpy(dtype=float) == -np.inf).any()
    if c.corr is not None:
        R = c.corr.to_numpy()
        assert finite(R)
        np.linalg.cholesky(R)
    for trial in c.trials or [None]:
        rows = c.rows(trial)
        assert rows.index.is_unique


@st.composite
def summary_cases(draw) -> Case:
    k = draw(st.integers(1, 4))
    covs = draw(st.lists(st.one_of(TEXT, st.sampled_from(["age", "männlich", "bmi"])),
                         min_size=k, max_size=k, unique_by=same_label))
    sd = draw(st.lists(st.one_of(st.none(), st.floats(0.1, 20)), min_size=k, max_size=k))
    mean = [draw(st.floats(0, 1)) if s is None else draw(st.floats(-100, 100)) for s in sd]
    cols = {"covariate": np.array(covs, dtype=object), "mean": mean,
            "sd": np.array([np.nan if s is None else s for s in sd])}
    optional = draw(st.lists(st.sampled_from(["trial", "n", "min", "max"]), unique=True))
    if "trial" in optional:
        cols["trial"] = np.array([draw(LABEL)] * k, dtype=object)
    if "n" in optional:
        cols["n"] = draw(st.lists(st.integers(1, 1000), min_size=k, max_size=k))
    if "min" in optional:
        cols["min"] = [np.nan if s is None else m - 50 for s, m in zip(sd, mean, strict=True)]
    if "max" in optional:
        cols["max"] = [np.nan if s is None else m + 50 for s, m in zip(sd, mean, strict=True)]
    df = pd.DataFrame(cols, index=row_index(draw, k))
    random = draw(st.integers(0, 5)) == 0
    if random:
        df = pd.DataFrame({c: any_column(draw, k) for c in cols}, index=df.index)
    if draw(st.integers(0, 4)) == 0 and "trial" in df.columns:  # two populations
        other = df.copy()
        other["trial"] = "zweite"
        df = pd.concat([df, other])
        df = df.set_axis(row_index(draw, len(df)))
    df, culprit = damage(draw, df, list(df.columns))
    culprit = None if random else culprit
    corr_kind = draw(st.sampled_from([None, None, "eye", "frame", "bad", "random", "text",
                                      "ragged"]))
    m = len(df)
    corr = {None: None, "eye": np.eye(m), "bad": np.full((m, m), 2.0),
            "frame": pd.DataFrame(np.eye(m), index=[str(c).strip() for c in
                                                    df["covariate"].astype(object)],
                                  columns=[str(c).strip() for c in
                                           df["covariate"].astype(object)])
            if "covariate" in df.columns else None,
            "random": np.array(draw(st.lists(st.floats(), min_size=m * m, max_size=m * m)))
            .reshape(m, m) if m else np.eye(0),
            "text": [["1", "x"][:m]] * m, "ragged": [[1.0], [0.5, 1.0]]}[corr_kind]
    kwargs = {"corr": corr, "n": draw(st.sampled_from([None, 100, 0, -5, 2.5, True]))}
    two_populations = "trial" in df.columns and df["trial"].nunique() > 1
    if corr_kind in ("bad", "random", "text", "ragged") or kwargs["n"] not in (None, 100) or (
            corr is not None and two_populations):
        culprit = None
    return Case(df, kwargs, culprit, names=["corr", "n", "covariate", "mean", "sd", "trial",
                                            "correlation"])


def check_summary(case: Case) -> None:
    out = run(lambda: CovariateSummary.from_frame(case.df, **case.kwargs), case,
              validate_summary)
    if out is not None:
        assert not isinstance(case.kwargs["n"], bool), "n=True taken as a population size"


@fast(summary_cases())
def test_covariate_summary_any_frame(case):
    check_summary(case)


# ----------------------------------------------------------------- many more examples
PROPERTIES = {
    "ipd": (ipd_cases(), check_ipd),
    "longitudinal": (longitudinal_cases(), check_longitudinal),
    "arm_frame": (arm_frames(), check_arm_frame),
    "arm_events": (event_frames(), check_events),
    "arm_arrays": (arm_arrays(), check_arm_arrays),
    "effect_arrays": (effect_arrays(), check_effect_arrays),
    "effect_frame": (effect_frames(), check_effect_frame),
    "summary": (summary_cases(), check_summary),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_properties_many_examples(name):
    strategy, check = PROPERTIES[name]
    settings(max_examples=SLOW, deadline=None, suppress_health_check=HEALTH)(
        given(strategy)(check))()


# ----------------------------------------------------------------- regressions
# Each failure the properties found, as the smallest input that showed it. Every one
# raised something other than a DataError, passed a bad value into a container, or
# gave a message that did not name the culprit.
IPD = pd.DataFrame({"y": [1, 1, 0, 0], "z": [0, 1, 0, 1], "s": ["A", "A", "B", "B"],
                    "x": [0.5, 1.0, 2.0, 3.0], "t": [1.0, 2.0, 3.0, 4.0]},
                   index=["r1", "r2", "r3", "r4"])


def _ipd(df=IPD, **kw):
    args = {"outcome": "y", "treatment": "z", "study": "s"} | kw
    return IPDData.from_frame(df, **args)


def test_regression_role_given_as_a_list():
    # TypeError: unhashable type: 'list' (IPDData, LongitudinalData, ArmTable)
    with pytest.raises(DataError, match=r"outcome column must be one column name, got \['y'\]"):
        _ipd(outcome=["y"])
    with pytest.raises(DataError, match=r"count column \['n11'\]"):
        ArmTable.from_frame(pd.DataFrame({"n11": [1], "n10": [1], "n01": [1], "n00": [1]}),
                            n11=["n11"])


@pytest.mark.parametrize("role", ["x", "t"])
def test_regression_complex_numbers_are_not_cut_to_their_real_part(role):
    # ComplexWarning: the imaginary part was dropped silently
    df = IPD.assign(**{role: IPD[role] + 1j})
    with pytest.raises(DataError, match=f"column '{role}' must be numeric"):
        _ipd(df, covariates=["x"], time="t")


def test_regression_complex_numbers_in_every_container():
    with pytest.raises(DataError, match="outcome column 'y' must be numeric"):
        LongitudinalData.from_frame(pd.DataFrame({"y": [1 + 1j, 2], "z": [0, 1],
                                                  "id": [1, 2], "v": [0, 0]}),
                                    outcome="y", treatment="z", study=None, subject="id",
                                    visit="v")
    with pytest.raises(DataError, match="column 'n11'.*1j.*study 'A'"):
        ArmTable.from_frame(pd.DataFrame({"study": ["A"], "n11": [1 + 1j], "n10": [1],
                                          "n01": [1], "n00": [1]}))
    with pytest.raises(DataError, match="yi column 'yi' must be numeric"):
        EffectTable.from_frame(pd.DataFrame({"yi": [1j], "vi": [1.0]}), vi="vi")
    with pytest.raises(DataError, match="column 'mean' must be numeric.*row r1"):
        CovariateSummary.from_frame(pd.DataFrame({"covariate": ["age"], "mean": [1j],
                                                  "sd": [1.0]}, index=["r1"]))


def test_regression_unused_category_is_not_a_level():
    # the declared reference "never" had no row: the indicators of "f" and "m" summed
    # to 1 (collinear with the intercept), and a covariate constant in the data passed
    sex = pd.Categorical(["m", "f", "m", "f"], categories=["never", "f", "m"])
    d = _ipd(IPD.assign(sex=sex), covariates=["sex"])
    assert d.covariate_names == ("sex[m]",) and d.levels["sex"] == ["f", "m"]
    const = pd.Categorical(["m"] * 4, categories=["f", "m"])
    with pytest.raises(DataError, match="covariate 'sex' is constant"):
        _ipd(IPD.assign(sex=const), covariates=["sex"])


def test_regression_unused_study_category_is_not_a_study():
    # was "study 'C' has only control patients" for a study without any patient
    s = pd.Categorical(IPD["s"], categories=["A", "B", "C"])
    assert _ipd(IPD.assign(s=s)).study_labels == ("A", "B")


@pytest.mark.parametrize("labels", [[1, 1, "1", "1"], [1, 1, True, True]])
def test_regression_labels_that_read_alike(labels):
    # 1 and "1" were two studies printed alike; 1 and True were merged into one
    df = IPD.assign(s=np.array(labels, dtype=object))
    with pytest.raises(DataError, match="study column 's' mixes labels.*rows r1, r2, r3, r4"):
        _ipd(df)


@pytest.mark.parametrize("center", ["overall", "within_study"])
def test_regression_huge_covariates_do_not_overflow_when_centred(center):
    # RuntimeWarning: overflow; X held inf / NaN
    df = IPD.assign(x=[1e308, 1e308, 1e308, -1e308])
    with pytest.raises(DataError, match=r"covariates \['x'\] are too large to centre"):
        _ipd(df, covariates=["x"], center=center)
    d = _ipd(df, covariates=["x"])  # uncentred they are finite and kept
    assert np.isfinite(d.X).all()


def test_regression_longitudinal_messages_name_the_participant_column():
    # participants merged by a corrupted study / subject column: the message named
    # only the visit or treatment column
    df = pd.DataFrame({"y": [0.0, 1.0, 2.0, 3.0], "z": [0, 1, 0, 1],
                       "s": [True] * 4, "id": ["p", "q", "p", "q"], "v": [0, 0, 0, 0]})
    kw = {"outcome": "y", "treatment": "z", "subject": "id", "visit": "v"}
    with pytest.raises(DataError, match="participants \\(column 'id', within study column "
                                        "'s'\\) measured more than once"):
        LongitudinalData.from_frame(df, study="s", **kw)
    with pytest.raises(DataError, match="treatment column 'z' varies within participants "
                                        "\\(column 'id'\\)"):
        LongitudinalData.from_frame(df.assign(v=[0, 0, 1, 1], z=[0, 1, 1, 0]), study="s",
                                    **kw)


def test_regression_arm_table_lengths_checked_before_values():
    # IndexError: tuple index out of range (a bad value beyond the labels of n11)
    with pytest.raises(DataError, match="column 'n00'.*has 1 counts but n11 has 0"):
        ArmTable(n11=[], n10=[], n01=[], n00=[-1])


@pytest.mark.parametrize("value", [pd.NA, "x", True, 1 + 1j])
def test_regression_counts_that_are_not_numbers(value):
    # float() argument must be ... 'NAType' (TypeError); bools were taken as 0/1 patients
    df = pd.DataFrame({"study": ["A", "B"], "n11": [value, value], "n10": [1, 1],
                       "n01": [1, 1], "n00": [1, 1]})
    with pytest.raises(DataError, match="column 'n11'"):
        ArmTable.from_frame(df)
    with pytest.raises(DataError, match="n11.*study '1'"):
        ArmTable(n11=[value, 1], n10=[1, 1], n01=[1, 1], n00=[1, 1])


@pytest.mark.parametrize("dtype", ["str", "category", "bool", "complex"])
def test_regression_from_events_reads_validated_counts(dtype):
    # an empty frame (or one of these dtypes) reached `total - events` on raw columns:
    # TypeError / ArrowNotImplementedError
    df = pd.DataFrame({"e1": [1], "n1": [5], "e0": [1], "n0": [5]}).astype(
        {"n1": dtype})
    kw = {"events1": "e1", "total1": "n1", "events0": "e0", "total0": "n0"}
    for frame in (df, df.iloc[:0]):
        with pytest.raises(DataError):
            ArmTable.from_events(frame, **kw)


def test_regression_huge_counts():
    # 1e308 + 1e308 = inf patients in an arm, risk 0
    with pytest.raises(DataError, match="counts above 9e\\+15 in study 'A'"):
        ArmTable(n11=[1e308], n10=[1e308], n01=[1], n00=[1], labels=["A"])


def test_regression_missing_and_repeated_study_labels_name_the_column():
    # a missing label became the study "nan"; repeats named no column
    counts = {"n11": [1, 2], "n10": [3, 4], "n01": [1, 1], "n00": [5, 5]}
    with pytest.raises(DataError, match="study column 'trial' has missing values at row 1"):
        ArmTable.from_frame(pd.DataFrame({"trial": ["A", None], **counts}), study="trial")
    with pytest.raises(DataError, match="study column 'trial' labels must be unique"):
        ArmTable.from_events(pd.DataFrame({"trial": [False, False], "e": [1, 1],
                                           "n": [5, 5]}), events1="e", total1="n",
                             events0="e", total0="n", study="trial")
    with pytest.raises(DataError, match="study column 'trial' has missing values"):
        EffectTable.from_frame(pd.DataFrame({"trial": [np.nan, "B"], "yi": [0.1, 0.2],
                                             "vi": [1.0, 1.0]}), vi="vi", study="trial")
    with pytest.raises(DataError, match="subgroup column 'g' has missing values at row 0"):
        EffectTable.from_frame(pd.DataFrame({"yi": [0.1], "vi": [1.0], "g": [None]}),
                               vi="vi", subgroup="g")


@pytest.mark.parametrize("kw", [{"yi": [0.1, ":"], "vi": [1.0, 1.0]},
                                {"yi": [0.1, 0.2], "se": [1.0, pd.NA]},
                                {"yi": [0.1, 0.2], "se": [1.0, ":"]},
                                {"yi": [0.1, 0.2], "vi": [1.0, None]}])
def test_regression_effect_arrays_that_are_not_numbers(kw):
    # ValueError: could not convert string to float / TypeError: ... 'NAType'
    with pytest.raises(DataError, match="study 'b'"):
        EffectTable.from_arrays(**kw, labels=["a", "b"])


def test_regression_variances_that_overflow_or_underflow():
    # se**2 overflowed (RuntimeWarning) and the error blamed vi; a subnormal vi gave an
    # infinite weight 1/vi
    with pytest.raises(DataError, match="standard error se is too large or too small in "
                                        "study 'b'"):
        EffectTable.from_arrays([0.1, 0.2], se=[1.0, 1e200], labels=["a", "b"])
    with pytest.raises(DataError, match="vi column 'v'.*study 'b'"):
        EffectTable.from_frame(pd.DataFrame({"yi": [0.1, 0.2], "v": [1.0, 1e-320]},
                                            index=["a", "b"]), vi="v")
    with pytest.raises(DataError, match="sampling variance vi .*study 'b'"):
        EffectTable.from_arrays([0.1, 0.2], [1.0, 1e-320], labels=["a", "b"])


def test_regression_covariate_summary_bounds_and_sizes():
    base = pd.DataFrame({"covariate": ["age"], "mean": [60.0], "sd": [10.0]}, index=["r1"])
    with pytest.raises(DataError, match="n must be an integer >= 1, got True"):
        CovariateSummary.from_frame(base, n=True)
    with pytest.raises(DataError, match="'n' must be > 0 and finite at row r1"):
        CovariateSummary.from_frame(base.assign(n=[np.inf]))
    with pytest.raises(DataError, match="'min'/'max'.*row r1"):
        CovariateSummary.from_frame(base.assign(min=[np.inf]))
    with pytest.raises(DataError, match="'min'/'max'.*row r1"):
        CovariateSummary.from_frame(base.assign(max=[-np.inf]))


def test_regression_correlation_matrix_that_is_not_numbers():
    # ValueError: could not convert string to float: 'x'
    s = pd.DataFrame({"covariate": ["a", "b"], "mean": [0.5, 1.0], "sd": [np.nan, 2.0]})
    with pytest.raises(DataError, match="correlation matrix must hold numbers; it has 'x'"):
        CovariateSummary.from_frame(s, corr=[[1, "x"], ["x", 1]])
    with pytest.raises(DataError, match="correlation matrix has shape \\(2,\\)"):
        CovariateSummary.from_frame(s, corr=[[1.0], [0.5, 1.0]])


def test_new_data_covariates_are_finite_real_numbers():
    # design(newdata) read numeric covariates unchecked: inf reached the predictions
    d = _ipd(covariates=["x"])
    with pytest.raises(DataError, match="newdata covariate 'x' has non-finite values at row r2"):
        d.design(IPD.assign(x=[1.0, np.inf, 0.0, 0.0]))
    with pytest.raises(DataError, match="newdata covariate column 'x' must be numeric"):
        d.design(IPD.assign(x=IPD["x"] + 1j))
