"""IPDData: encoding and every bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.data.ipd import IPDData


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({
        "trial": np.repeat(["A", "B", "C"], 20),
        "treat": np.tile([0, 1], 30),
        "y": rng.binomial(1, 0.3, n),
        "age": rng.normal(60, 10, n),
        "sex": rng.choice(["F", "M"], n),
        "smoker": rng.choice([True, False], n),
        "region": pd.Categorical(rng.choice(["north", "south", "west"], n),
                                 categories=["west", "north", "south"]),
    })


def make(df, **kw):
    args = dict(outcome="y", treatment="treat", study="trial", covariates=["age", "sex"])
    args.update(kw)
    return IPDData.from_frame(df, **args)


def test_encoding(frame):
    d = make(frame, covariates=["age", "sex", "smoker", "region"])
    assert d.covariate_names == ("age", "sex[M]", "smoker", "region[north]", "region[south]")
    assert d.X.shape == (60, 5)
    np.testing.assert_array_equal(d.X[:, 1], (frame["sex"] == "M").astype(float))
    # categorical order is respected: "west" is the reference level
    np.testing.assert_array_equal(d.X[:, 3], (frame["region"] == "north").astype(float))
    assert d.study_labels == ("A", "B", "C")
    np.testing.assert_array_equal(d.study_idx, np.repeat([0, 1, 2], 20))
    assert d.n_patients == 60 and d.n_studies == 3 and d.n_covariates == 5


def test_input_not_modified(frame):
    before = frame.copy()
    d = make(frame, center="within_study")
    pd.testing.assert_frame_equal(frame, before)
    assert d.frame is not frame


def test_within_study_centering(frame):
    d = make(frame, center="within_study")
    for j in range(3):
        np.testing.assert_allclose(d.X[d.study_idx == j].mean(0), 0, atol=1e-12)
    # new data are centred with the fitted trial means
    new = frame.iloc[[0, 25]]
    np.testing.assert_allclose(d.design(new), d.X[[0, 25]])


def test_overall_centering(frame):
    d = make(frame, center="overall")
    np.testing.assert_allclose(d.X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(d.design(frame.iloc[:3]), d.X[:3])


def test_design_newdata_and_subset(frame):
    d = make(frame)
    np.testing.assert_allclose(d.design(frame.iloc[5:9]), d.X[5:9])
    sub = d.subset(d.study_idx == 1)
    assert sub.study_labels == ("B",) and sub.covariate_names == d.covariate_names


def test_single_study(frame):
    d = IPDData.from_frame(frame, outcome="y", treatment="treat", covariates=["age"])
    assert d.n_studies == 1 and d.study is None


def test_dataset_roundtrip(frame):
    d = make(frame, covariates=["age", "sex", "region"], center="within_study")
    back = IPDData.from_dataset(d.to_dataset())
    np.testing.assert_allclose(back.X, d.X)
    assert back.covariate_names == d.covariate_names


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("role,kw", [("outcome", {"outcome": "death"}),
                                     ("treatment", {"treatment": "arm"}),
                                     ("study", {"study": "site"}),
                                     ("covariate", {"covariates": ["age", "bmi"]}),
                                     ("time", {"time": "t"})])
def test_unknown_column(frame, role, kw):
    with pytest.raises(bh.DataError, match=f"{role} column '{list(kw.values())[0]}"
                       if role != "covariate" else "covariate column 'bmi'"):
        make(frame, **kw)


@pytest.mark.parametrize("col", ["y", "treat", "trial", "age", "sex"])
def test_missing_values_name_column_and_row(frame, col):
    df = frame.copy()
    df[col] = df[col].astype(object) if col in ("y", "treat") else df[col]
    df.loc[7, col] = None
    with pytest.raises(bh.DataError, match=rf"{col!r} has missing values at row 7"):
        make(df)


def test_non_binary_outcome(frame):
    df = frame.copy()
    df.loc[3, "y"] = 2
    with pytest.raises(bh.DataError, match=r"outcome column 'y' must be 0/1 but has values \[2\] "
                                           r"at row 3"):
        make(df)


def test_string_outcome(frame):
    df = frame.copy()
    df["y"] = np.where(df["y"] == 1, "dead", "alive")
    with pytest.raises(bh.DataError, match="outcome column 'y' must be coded 0/1"):
        make(df)


def test_non_binary_treatment(frame):
    df = frame.copy()
    df.loc[[4, 9], "treat"] = 3
    with pytest.raises(bh.DataError, match=r"treatment column 'treat' must be 0/1 .* rows 4, 9"):
        make(df)


def test_single_arm_study(frame):
    df = frame.copy()
    df.loc[df.trial == "B", "treat"] = 1
    with pytest.raises(bh.DataError, match="study 'B' has only treated patients"):
        make(df)


def test_no_events_at_all(frame):
    df = frame.copy()
    df["y"] = 0
    with pytest.raises(bh.DataError, match="no events"):
        make(df)


def test_study_without_events_warns_for_stratified_models(frame):
    df = frame.copy()
    df.loc[df.trial == "C", "y"] = 0
    df.loc[0, "y"] = 1
    d = make(df)
    from bayes_hte.models.ipdma import build_ipdma_model

    with pytest.warns(bh.DataWarning, match=r"studies with no events \['C'\]"):
        build_ipdma_model(d, heterogeneity="stratified_intercept")
    with pytest.warns(bh.DataWarning, match=r"\('C', 'control'\)"):
        build_ipdma_model(d, heterogeneity="fully_stratified", learner="t")


def test_constant_covariate(frame):
    df = frame.copy()
    df["age"] = 50.0
    with pytest.raises(bh.DataError, match="covariate 'age' is constant"):
        make(df)
    df["sex"] = "F"
    with pytest.raises(bh.DataError, match="covariate 'sex' is constant"):
        make(df, covariates=["sex"])


def test_non_finite_covariate(frame):
    df = frame.copy()
    df.loc[11, "age"] = np.inf
    with pytest.raises(bh.DataError, match="covariate 'age' has non-finite values at row 11"):
        make(df)


def test_numbers_as_text_are_not_expanded_to_indicators(frame):
    """A numeric covariate read as text (decimal commas, ``astype(str)``, object dtype)
    or mixed with a missing-value code must not become one indicator per value."""
    for text in (frame["age"].map(lambda v: f"{v:.2f}".replace(".", ",")),
                 frame["age"].astype(str), frame["age"].astype(object)):
        df = frame.assign(age=text)
        with pytest.raises(bh.DataError, match=r"covariate 'age' holds numbers as text.*"
                                               r"59 indicator columns.*pd.to_numeric"):
            make(df)
    df = frame.assign(age=frame["age"].astype(object))
    df.loc[[7, 12], "age"] = [".", "NA "]
    with pytest.raises(bh.DataError, match=r"covariate 'age' is text, but 58 of 60 values "
                                           r"read as numbers and \['.', 'NA '\] at rows "
                                           r"7, 12 do not"):
        make(df)


def test_identifier_as_covariate(frame):
    df = frame.assign(pid=[f"P{i}" for i in range(60)])
    with pytest.raises(bh.DataError, match="covariate 'pid' has 60 distinct text values in "
                                           "60 rows.*identifier"):
        make(df, covariates=["age", "pid"])


def test_text_codes_stay_categorical(frame):
    """Few numeric-looking codes, with or without a text level, and declared categories
    with many levels are categories, as documented."""
    df = frame.assign(grade=np.where(frame["age"] > 60, "1", "2"))
    df.loc[3, "grade"] = "unknown"
    d = make(df, covariates=["age", "grade"])
    assert d.covariate_names == ("age", "grade[2]", "grade[unknown]")
    df = frame.assign(site=pd.Categorical([f"s{i % 40}" for i in range(60)]))
    assert make(df, covariates=["site"]).X.shape == (60, 39)


@pytest.mark.parametrize("col", ["y", "treat", "trial", "age", "sex"])
def test_duplicated_column_label(frame, col):
    df = pd.concat([frame, frame[[col]]], axis=1)
    with pytest.raises(bh.DataError, match=f"column '{col}' appears 2 times in the data "
                                           "frame"):
        make(df)


def test_role_conflicts(frame):
    with pytest.raises(bh.DataError, match="one role only"):
        make(frame, covariates=["age", "treat"])
    with pytest.raises(bh.DataError, match="duplicates"):
        make(frame, covariates=["age", "age"])


def test_fewer_studies_than_model_needs(frame):
    from bayes_hte.models.ipdma import build_ipdma_model

    d = IPDData.from_frame(frame, outcome="y", treatment="treat", covariates=["age"])
    with pytest.raises(bh.DataError, match="random_intercept model needs at least 2 studies"):
        build_ipdma_model(d, heterogeneity="random_intercept")
    two = make(frame[frame.trial != "C"])
    with pytest.raises(bh.DataError, match="fully_stratified model needs at least 3 studies"):
        build_ipdma_model(two, heterogeneity="fully_stratified")


def test_time_validation(frame):
    df = frame.copy()
    df["t"] = np.linspace(0.1, 5, 60)
    df.loc[12, "t"] = -1.0
    with pytest.raises(bh.DataError, match="time column 't' must be finite and >= 0; bad values "
                                           "at row 12"):
        make(df, time="t")
    df.loc[12, "t"] = 1.0
    df.loc[df.treat == 1, "y"] = 0
    with pytest.raises(bh.DataError, match="treated arm has no events"):
        make(df, time="t")


def test_newdata_errors(frame):
    d = make(frame, center="within_study")
    with pytest.raises(bh.DataError, match="newdata lacks covariate column 'sex'"):
        d.design(frame[["age", "trial"]])
    new = frame.iloc[:2].copy()
    new["trial"] = "Z"
    with pytest.raises(bh.DataError, match=r"studies not seen in the fit, \['Z'\], at rows 0, "
                                           r"1; .*known studies \(\['A', 'B', 'C'\]\)"):
        d.design(new)
    new = frame.iloc[:2].copy()
    new["sex"] = "X"
    with pytest.raises(bh.DataError, match="unknown levels"):
        d.design(new)
    # messages that say what to do with newdata (not "before building the data
    # container") and name the value and row of a text column
    with pytest.raises(bh.DataError, match=r"newdata covariate column 'age' has missing "
                                           r"values at row 1; .*a prediction needs every"):
        d.design(frame.iloc[:2].assign(age=[50.0, np.nan]))
    with pytest.raises(bh.DataError, match=r"newdata covariate 'age' must be numeric as in "
                                           r"the fit; it holds text .*e.g. '50' at row 0"):
        d.design(frame.iloc[:2].assign(age=["50", "60"]))


def test_bad_center_and_frame(frame):
    with pytest.raises(bh.DataError, match="center must be"):
        make(frame, center="study")
    with pytest.raises(bh.DataError, match="within_study' needs a study column"):
        IPDData.from_frame(frame, outcome="y", treatment="treat", covariates=["age"],
                           center="within_study")
    with pytest.raises(bh.DataError, match="pandas DataFrame"):
        IPDData.from_frame(frame.to_dict(), outcome="y", treatment="treat")
    with pytest.raises(bh.DataError, match="no rows"):
        make(frame.iloc[:0])


# ------------------------------------------------------------------ only events (the twin)
def test_only_events_at_all(frame):
    with pytest.raises(bh.DataError, match=r"outcome column 'y' has only events \(all 1\)"):
        make(frame.assign(y=1))
    with pytest.raises(bh.DataError, match=r"outcome column 'y' has no events \(all 0\)"):
        make(frame.assign(y=0))


def test_time_to_event_without_censoring_is_fine(frame):
    """Every patient had the event: the event times carry the information."""
    df = frame.assign(y=1, t=np.linspace(0.1, 5, 60))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = make(df, time="t")
        d.warn_studies_without_events(model="stratified_intercept")
        d.warn_studies_without_events(model="fully_stratified", by_arm=True)
    assert d.y.all()
    with pytest.raises(bh.DataError, match=r"event indicator column 'y' has no events"):
        make(df.assign(y=0), time="t")


def test_study_with_only_events_warns_for_stratified_models(frame):
    df = frame.copy()
    df.loc[df.trial == "C", "y"] = 1
    df.loc[0, "y"] = 0
    d = make(df)
    with pytest.warns(bh.DataWarning, match=r"stratified_intercept: studies with only events "
                                            r"\['C'\]; .*prior only"):
        d.warn_studies_without_events(model="stratified_intercept")
    with pytest.warns(bh.DataWarning, match=r"study arms with only events \[\('C', 'control'\), "
                                            r"\('C', 'treated'\)\]"):
        d.warn_studies_without_events(model="fully_stratified", by_arm=True)


def test_study_arm_with_only_events_warns_for_the_t_learner(frame):
    df = frame.copy()
    df.loc[(df.trial == "B") & (df.treat == 1), "y"] = 1
    df.loc[(df.trial == "B") & (df.treat == 0), "y"] = [0, 1] * 5
    d = make(df)
    from bayes_hte.models.ipdma import build_ipdma_model

    with pytest.warns(bh.DataWarning, match=r"study arms with only events \[\('B', 'treated'\)\]"):
        build_ipdma_model(d, heterogeneity="stratified_intercept", learner="t")
    with warnings.catch_warnings():  # a study-level intercept is identified here
        warnings.simplefilter("error")
        d.warn_studies_without_events(model="stratified_intercept")


def test_study_table_counts_more_events_than_int8_holds():
    """Outcomes are stored as int8; counts per arm must not wrap past 127 (pandas 3 keeps
    int8 in a grouped sum), nor warn about overflow when studies are summed."""
    n = 400
    frame = pd.DataFrame({"trial": ["A"] * n + ["B"] * n, "treat": [0, 1] * n,
                          "y": [1] * 300 + [0] * 100 + [1, 0] * 200, "x": range(2 * n)})
    data = IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                              covariates=["x"])
    tab = data.study_table()
    assert tab.loc["A", "events_control"] == 150 and tab.loc["A", "events_treated"] == 150
    assert tab.loc["B", "events_treated"] == 0 and tab.loc["B", "events_control"] == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(bh.DataWarning, match=r"no events \[\('B', 'treated'\)\]"):
            data.warn_studies_without_events(model="stratified_intercept", by_arm=True)
        data.warn_studies_without_events(model="stratified_intercept")


def test_repr_is_a_short_summary(frame):
    d = make(frame, covariates=["age", "sex", "region"])
    text = repr(d)
    assert text.startswith("IPDData: 60 patients in 3 studies (A, B, C)")
    assert f"outcome 'y' (binary, {int(frame['y'].sum())} events); treatment 'treat'" in text
    assert "covariates [age, sex[M], region[north], region[south]] (X: 60 x 4" in text
    assert len(text) < 300 and "DataFrame" not in text and "array(" not in text


@pytest.mark.parametrize("labels, match", [
    (["A", "A ", "B"], r"study column 'trial' has labels that differ only by spaces \('A', "
                       r"'A ', at rows 0, 1, 2, 3, 4 \(and 35 more\)\)"),
    ([" C", "B", "C"], r"differ only by spaces \(' C', 'C', at rows 0, 1"),
    (["A", "", "C"], r"study column 'trial' has empty labels at rows 20, 21, 22, 23, 24 "
                     r"\(and 15 more\)"),
    (["A", "   ", "C"], r"has empty labels at rows 20,"),
])
def test_study_labels_blank_or_differing_by_spaces_are_refused(frame, labels, match):
    """As for the aggregate tables: "A" and "A " would be two studies, "" none."""
    df = frame.assign(trial=np.repeat(labels, 20))
    with pytest.raises(bh.DataError, match=match):
        make(df)
    with pytest.raises(bh.DataError, match=match):  # pandas' own string dtype too
        make(df.astype({"trial": "string"}))


def test_labels_that_differ_otherwise_are_kept(frame):
    d = make(frame.assign(trial=np.repeat(["A", "a", "A-1"], 20)))
    assert set(d.study_labels) == {"A", "a", "A-1"}


@pytest.mark.parametrize(("values", "match"), [
    # number codes with a missing-value marker: the marker became a level (the reference)
    (lambda s: s.astype(str).where(s.index != 7, "."),
     r"covariate 'smoker' holds number codes with the missing-value code \['.'\] at row 7"),
    (lambda s: s.astype(str).where(s.index != 7, ""), r"missing-value code \[''\] at row 7"),
    (lambda s: s.astype(str).where(s.index != 7, "NA"), r"missing-value code \['NA'\]"),
    # numbers held as objects mixed with text: the numbers silently became text
    (lambda s: s.astype(object).where(s.index != 7, "a"),
     r"covariate 'smoker' mixes numbers \[0, 1\] and text \['a'\] \(e.g. at row 7\)"),
    # dates: every date a level
    (lambda s: pd.Series(pd.to_datetime(["2021-01-01", "2021-02-01"])[s.to_numpy()],
                         index=s.index),
     r"covariate 'smoker' holds dates or durations"),
])
def test_codes_markers_and_dates_are_not_categories(frame, values, match):
    codes = frame["smoker"].astype(int)
    with pytest.raises(bh.DataError, match=match):
        make(frame.assign(smoker=values(codes)), covariates=["age", "smoker"])
    # the codes alone, as text, are categories as documented
    data = make(frame.assign(smoker=codes.astype(str)), covariates=["age", "smoker"])
    assert data.covariate_names == ("age", "smoker[1]")


def test_bools_held_as_objects_are_named_as_bools(frame):
    """Python bools in an object column were shown as the strings ['False', 'True']."""
    with pytest.raises(bh.DataError, match=r"treatment column 'treat' must be coded 0/1 \(or "
                                           r"bool\) but has dtype object holding bool values "
                                           r"False, True; recode it as 0/1 \(.astype\(int\)"):
        make(frame.assign(treat=frame["treat"].astype(bool).astype(object)))


def test_levels_for_a_column_that_is_not_a_covariate_are_refused(frame):
    """A misspelt name in levels= was ignored without a word."""
    with pytest.raises(bh.DataError, match=r"levels are given for \['sexx'\], which are not "
                                           r"covariates \['age', 'sex'\]"):
        make(frame, levels={"sexx": ["F", "M"]})
    # ... and so were levels of a numeric covariate
    with pytest.raises(bh.DataError, match=r"levels are given for covariate 'age', which is "
                                           "numeric"):
        make(frame, levels={"age": [1, 2]})


def test_loading_a_file_that_is_not_there(tmp_path):
    with pytest.raises(FileNotFoundError, match="no posterior file .*nope.nc"):
        bh.IPDMetaModel.load(tmp_path / "nope.nc")


@pytest.mark.parametrize(("typo", "match"), [
    (" mild", r"covariate 'sev' has levels that differ only by spaces or case \('mild', "
              r"' mild', at row 7\)"),
    ("MILD", r"differ only by spaces or case \('mild', 'MILD', at row 7\)"),
    ("NA", r"covariate 'sev' has the missing-value code\(s\) 'NA' at row 7"),
    ("", r"covariate 'sev' has the missing-value code\(s\) '' at row 7"),
])
def test_text_levels_that_are_typos_or_missing_codes_are_refused(frame, typo, match):
    """One row's " mild" (a stray space) became its own level — the reference, sorted
    first — and moved every ITE; so did "MILD", and a text "NA" or "" among text levels
    (only number codes were checked for missing-value markers)."""
    sev = pd.Series(np.where(frame["age"] > 55, "mild", "severe"), index=frame.index)
    sev.iloc[3::4] = "moderate"
    make(frame.assign(sev=sev), covariates=["age", "sev"])   # clean text: three levels
    sev.loc[7] = typo
    with pytest.raises(bh.DataError, match=match):
        make(frame.assign(sev=sev), covariates=["age", "sev"])


def test_collinear_covariates_are_refused(frame):
    """``age`` and ``2 * age``, or a categorical with a copy of one of its indicators,
    were accepted: the sampler wandered along the ridge (R-hat 1.24) with only the
    generic convergence warning. glmer drops such a column; nothing is dropped here."""
    with pytest.raises(bh.DataError, match=r"covariate column 'age2' is a linear combination "
                                           r"of the intercept and \['age'\] \(collinear\)"):
        make(frame.assign(age2=2 * frame["age"] + 1), covariates=["age", "age2"])
    sev = pd.Series(np.where(frame["age"] > 55, "mild", "severe"), index=frame.index)
    both = frame.assign(sev=sev, severe=(sev == "severe").astype(float))
    with pytest.raises(bh.DataError, match=r"'severe' is a linear combination of the intercept "
                                           r"and \['age', 'sev\[severe\]'\]"):
        make(both, covariates=["age", "sev", "severe"])
    make(frame.assign(age2=frame["age"] ** 2), covariates=["age", "age2"])   # not linear
