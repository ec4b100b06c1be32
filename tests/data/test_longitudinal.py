"""LongitudinalData: construction, encoding, design of model (3), and every DataError."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.errors import DataError

COLS = {"outcome": "y", "treatment": "treat", "study": "trial", "subject": "id",
        "visit": "week", "covariates": ["z"]}


def small_frame() -> pd.DataFrame:
    """Two trials; trial B never measures week 4; participant 2 of A misses week 2."""
    rows = []
    rng = np.random.default_rng(0)
    for trial, weeks in (("A", (0, 2, 4)), ("B", (0, 2))):
        for pid in range(1, 7):
            treat = pid % 2
            z = float(pid) + (0.5 if trial == "B" else 0.0)
            for w in weeks:
                if trial == "A" and pid == 2 and w == 2:
                    continue
                rows.append({"trial": trial, "id": pid, "week": w, "treat": treat, "z": z,
                             "y": rng.normal(), "sex": "f" if pid < 4 else "m"})
    return pd.DataFrame(rows)


def test_from_frame_encodes_and_copies():
    df = small_frame()
    before = df.copy()
    d = LongitudinalData.from_frame(df, **COLS)
    pd.testing.assert_frame_equal(df, before)          # input untouched
    assert d.frame is not df
    assert d.n_obs == len(df) and d.n_studies == 2 and d.n_subjects == 12
    assert d.visit_labels == (0, 2, 4)
    assert d.study_labels == ("A", "B")
    # subject ids are nested in trials: id 1 of A and id 1 of B are different people
    assert ("A", 1) in d.subject_labels and ("B", 1) in d.subject_labels
    tab = d.visits_by_study()
    assert tab.loc["B", 4] == 0 and tab.loc["A", 2] == 5 and tab.loc["A", 0] == 6
    st = d.study_table()
    assert st.loc["A", "n_treated"] == 3 and st.loc["A", "n_control"] == 3
    Y, M = d.to_padded()
    assert Y.shape == (12, 3) and M.sum() == d.n_obs
    assert np.allclose(Y[d.subject_idx, d.visit_idx], d.y)
    assert bh.LongitudinalData is LongitudinalData


def test_numeric_visits_sorted_numerically_and_categorical_order_kept():
    df = small_frame()
    df.loc[df.week == 0, "week"] = 10  # now weeks 2, 4, 10 (text order would be 10, 2, 4)
    d = LongitudinalData.from_frame(df, **COLS)
    assert d.visit_labels == (2, 4, 10)
    df2 = small_frame()
    df2["week"] = pd.Categorical(df2["week"].map({0: "base", 2: "w2", 4: "w4"}),
                                 categories=["base", "w2", "w4"], ordered=True)
    d2 = LongitudinalData.from_frame(df2, **COLS)
    assert d2.visit_labels == ("base", "w2", "w4")


def test_visits_held_as_objects_or_text():
    """Numbers in an object column are ordered as numbers (they were ordered as text,
    silently changing the reference visit); text is ordered as text, with a warning when
    the numbers inside the labels say otherwise; a mix is refused."""
    df = small_frame()
    weeks = df["week"].map({0: 10, 2: 2, 4: 4})
    assert LongitudinalData.from_frame(df.assign(week=weeks.astype(object)),
                                       **COLS).visit_labels == (2, 4, 10)
    assert LongitudinalData.from_frame(df.assign(week=(weeks + 0.5).astype(object)),
                                       **COLS).visit_labels == (2.5, 4.5, 10.5)
    text = weeks.map(lambda w: f"week {w}")
    with pytest.warns(bh.DataWarning, match=r"ordered as text: \['week 10', 'week 2', "
                      r"'week 4'\], not by the numbers in the labels \['week 2', 'week 4', "
                      r"'week 10'\]"):
        d = LongitudinalData.from_frame(df.assign(week=text), **COLS)
    assert d.visit_labels == ("week 10", "week 2", "week 4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # labels whose text order is their order: silent
        LongitudinalData.from_frame(df.assign(week=weeks.map({10: "c", 2: "a", 4: "b"})),
                                    **COLS)
    mixed = weeks.astype(object).where(weeks != 4, "4")
    with pytest.raises(DataError, match=r"visit column 'week' mixes numbers \[.*\] and "
                                        r"text \['4'\]"):
        LongitudinalData.from_frame(df.assign(week=mixed), **COLS)


def test_design_matrix_model3_and_remark_c_columns():
    d = LongitudinalData.from_frame(small_frame(), **COLS)
    des = d.design_matrix()
    assert des.names == ("(intercept)", "treat", "week[2]", "week[4]", "z", "treat:week[2]",
                         "treat:week[4]", "week[2]:z", "week[4]:z", "treat:z")
    assert des.reference_visit == 0
    X = des.X
    i = des.names.index
    assert np.allclose(X[:, i("treat:week[2]")], X[:, i("treat")] * X[:, i("week[2]")])
    assert np.allclose(X[:, i("week[4]:z")], X[:, i("week[4]")] * X[:, i("z")])
    assert np.allclose(X[:, i("treat:z")], d.z * d.X[:, 0])
    # trial B never measured week 4: its week-4 columns are all zero (Remark C)
    inB = d.study_idx == 1
    for c in ("week[4]", "treat:week[4]", "week[4]:z"):
        assert np.all(X[inB, i(c)] == 0) and np.any(X[~inB, i(c)] != 0)
    assert des.visit_of_coef[i("week[4]:z")] == 4
    slim = d.design_matrix(treatment_by_visit=False, covariate_by_visit=False,
                           treatment_by_covariate=False, reference_visit=2)
    assert slim.names == ("(intercept)", "treat", "week[0]", "week[4]", "z")


def test_categorical_covariate_and_centering():
    df = small_frame()
    d = LongitudinalData.from_frame(df, **{**COLS, "covariates": ["z", "sex"]},
                                    center="overall")
    assert d.covariate_names == ("z", "sex[m]")
    first = np.unique(d.subject_idx, return_index=True)[1]
    assert np.allclose(d.X[first].mean(axis=0), 0.0)   # participant-level means removed


def test_study_subset_keeps_encoding():
    d = LongitudinalData.from_frame(small_frame(), **COLS)
    b = d.study_subset("B")
    assert b.n_studies == 1 and b.n_subjects == 6 and b.visit_labels == d.visit_labels
    assert b.n_obs == int((d.study_idx == 1).sum())
    with pytest.raises(DataError, match="study 'C' is not in the data"):
        d.study_subset("C")


def test_single_trial_without_study_column():
    df = small_frame().query("trial == 'A'").drop(columns="trial")
    d = LongitudinalData.from_frame(df, **{**COLS, "study": None})
    assert d.n_studies == 1 and d.n_subjects == 6


def test_missing_outcome_raise_or_drop():
    df = small_frame()
    df.loc[3, "y"] = np.nan
    with pytest.raises(DataError, match="outcome column 'y' has missing values at row 3"):
        LongitudinalData.from_frame(df, **COLS)
    d = LongitudinalData.from_frame(df, **COLS, missing_outcome="drop")
    assert d.n_obs == len(df) - 1
    with pytest.raises(DataError, match="missing_outcome must be"):
        LongitudinalData.from_frame(df, **COLS, missing_outcome="impute")
    df["y"] = np.nan
    with pytest.raises(DataError, match="missing in every row"):
        LongitudinalData.from_frame(df, **COLS, missing_outcome="drop")


@pytest.mark.parametrize(
    ("mutate", "kwargs", "match"),
    [
        (lambda df: df, {"outcome": "nope"}, "outcome column 'nope' is not in the data frame"),
        (lambda df: df, {"subject": "nope"}, "subject column 'nope' is not in the data frame"),
        (lambda df: df, {"covariates": ["nope"]}, "covariate column 'nope' is not in"),
        (lambda df: df, {"visit": "id"}, "columns must differ"),
        (lambda df: df, {"covariates": ["week"]}, "used both as a covariate"),
        (lambda df: df, {"covariates": ["z", "z"]}, "contain duplicates"),
        (lambda df: df, {"center": "within_study"}, "center must be None or 'overall'"),
        (lambda df: df.assign(y=df.y.astype(str)), {}, "outcome column 'y' must be numeric"),
        (lambda df: df.assign(y=df.y > 0), {}, "outcome column 'y' must be numeric"),
        (lambda df: df.assign(y=np.where(df.index == 5, np.inf, df.y)), {},
         "outcome column 'y' has non-finite values at row 5"),
        (lambda df: df.assign(trial=np.where(df.index == 2, None, df.trial)), {},
         "study column 'trial' has missing values at row 2"),
        (lambda df: df.assign(id=np.where(df.index == 2, np.nan, df.id)), {},
         "subject column 'id' has missing values at row 2"),
        (lambda df: df.assign(week=np.where(df.index == 4, np.nan, df.week)), {},
         "visit column 'week' has missing values at row 4"),
        (lambda df: df.assign(week=np.where(df.index == 4, np.inf, df.week)), {},
         "visit column 'week' has non-finite values at row 4"),
        (lambda df: pd.concat([df, df.iloc[[0]]], ignore_index=True), {},
         "measured more than once at the same visit"),
        (lambda df: df.assign(treat=df.treat * 2), {}, "treatment column 'treat' must be 0/1"),
        (lambda df: df.assign(treat=df.treat.astype(str)), {},
         "treatment column 'treat' must be coded 0/1"),
        (lambda df: df.assign(treat=np.where(df.index == 1, 1 - df.treat, df.treat)), {},
         "treatment column 'treat' varies within participants"),
        (lambda df: df.assign(treat=np.where(df.trial == "B", 1, df.treat)), {},
         "study 'B' has only treated participants"),
        (lambda df: df.assign(z=np.where(df.index == 1, 99.0, df.z)), {},
         "covariate column 'z' varies within participants"),
        (lambda df: df.assign(z=np.where(df.index == 1, np.nan, df.z)), {},
         "covariate column 'z' has missing values at row 1"),
        (lambda df: df.assign(z=np.where(df.id == 1, np.inf, df.z)), {},
         "covariate 'z' has non-finite values"),
        (lambda df: df.assign(z=1.0), {}, "covariate 'z' is constant"),
        (lambda df: df.assign(z="a"), {}, "covariate 'z' is constant"),
        (lambda df: df.assign(z=np.where(df.index == 1, "b", "a")), {},
         "covariate column 'z' varies within participants"),
    ],
)
def test_data_errors(mutate, kwargs, match):
    df = mutate(small_frame())
    with pytest.raises(DataError, match=match):
        LongitudinalData.from_frame(df, **{**COLS, **kwargs})


def test_not_a_frame_and_empty():
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        LongitudinalData.from_frame(small_frame().to_dict(), **COLS)
    with pytest.raises(DataError, match="no rows"):
        LongitudinalData.from_frame(small_frame().iloc[:0], **COLS)


def test_unknown_categorical_level():
    with pytest.raises(DataError, match="has levels \\['m'\\]"):
        LongitudinalData.from_frame(small_frame(), **{**COLS, "covariates": ["sex"]},
                                    levels={"sex": ["f", "x"]})


def test_reference_visit_errors():
    d = LongitudinalData.from_frame(small_frame(), **COLS)
    with pytest.raises(DataError, match="reference_visit 7 is not a visit"):
        d.design_matrix(reference_visit=7)
    with pytest.raises(DataError, match="not measured in studies \\['B'\\]"):
        d.design_matrix(reference_visit=4)
    df = small_frame()
    df = df[~((df.trial == "B") & (df.week == 0))]   # B: weeks 2 only; A: 0, 2, 4
    df = df[~((df.trial == "A") & (df.week == 2))]   # A: weeks 0, 4 -> no common visit
    d2 = LongitudinalData.from_frame(df, **COLS)
    with pytest.raises(DataError, match="no visit \\(column 'week'\\) is measured by every"):
        d2.design_matrix()
