"""Reported effects, covariate summaries, Gaussian copula and the SGLT2 data set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.data.summaries import (
    CovariateSummary,
    gaussian_copula_sample,
    parse_stratum,
    validate_effects,
)
from bayes_hte.errors import DataError


# ------------------------------------------------------------------------- strata
@pytest.mark.parametrize(
    "label, inside, outside",
    [
        ("40-50", [40.0, 49.99], [39.99, 50.0]),
        ("<=40", [40.0, -5.0], [40.01]),
        ("<40", [39.99], [40.0]),
        (">60", [60.01], [60.0]),
        (">=60", [60.0, 99.0], [59.99]),
        ("-1.5-0", [-1.5, -0.1], [0.0, -1.6]),
    ],
)
def test_interval_strata(label, inside, outside):
    st = parse_stratum(label, kind="continuous", where="row")
    assert st.kind == "interval"
    assert st.mask(np.array(inside)).all()
    assert not st.mask(np.array(outside)).any()


@pytest.mark.parametrize("value, level", [(1, 1.0), (0, 0.0), ("yes", 1.0), ("No", 0.0),
                                          (True, 1.0), (1.0, 1.0), ("0", 0.0)])
def test_binary_levels(value, level):
    st = parse_stratum(value, kind="binary", where="row")
    assert st.kind == "level" and st.level == level
    assert st.mask(np.array([level]))[0] and not st.mask(np.array([1 - level]))[0]


def test_stratum_errors():
    with pytest.raises(DataError, match="continuous covariate must be an interval"):
        parse_stratum("1", kind="continuous", where="row 3")
    with pytest.raises(DataError, match="not a level of this binary covariate"):
        parse_stratum("2", kind="binary", where="row 3")
    with pytest.raises(DataError, match="needs a < b"):
        parse_stratum("50-40", kind="continuous", where="row 3")
    with pytest.raises(DataError, match="stratum is empty"):
        parse_stratum(np.nan, kind="binary", where="row 3")


# ---------------------------------------------------------------- covariate summaries
def _cov_frame():
    return pd.DataFrame({
        "trial": ["A", "A", "B", "B"], "covariate": ["age", "male"] * 2,
        "mean": [60.0, 0.4, 65.0, 0.5], "sd": [10.0, np.nan, 8.0, np.nan],
    })


def test_covariate_summary_kinds_and_rows():
    cs = CovariateSummary.from_frame(_cov_frame())
    assert cs.kinds == {"age": "continuous", "male": "binary"}
    assert cs.trials == ["A", "B"] and cs.covariates == ["age", "male"]
    assert cs.rows("B").loc["age", "mean"] == 65.0
    with pytest.raises(DataError, match="several trials"):
        cs.rows()
    with pytest.raises(DataError, match="no rows for trial 'C'"):
        cs.rows("C")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.assign(sd=[0.0, np.nan, 8.0, np.nan]), r"'sd' must be > 0"),
        (lambda d: d.assign(sd=[-2.0, np.nan, 8.0, np.nan]), r"'sd' must be > 0"),
        (lambda d: d.assign(mean=[60.0, 1.4, 65.0, 0.5]), r"proportion outside \[0, 1\]"),
        (lambda d: d.assign(mean=[60.0, -0.1, 65.0, 0.5]), r"proportion outside \[0, 1\]"),
        (lambda d: d.assign(mean=[np.nan, 0.4, 65.0, 0.5]), "'mean' is missing"),
        (lambda d: d.assign(sd=[10.0, np.nan, 8.0, 0.5]), "binary .no SD. or continuous"),
        (lambda d: d.assign(covariate=["age", "age", "age", "male"]), "repeats"),
        (lambda d: d.drop(columns="sd"), r"missing \['sd'\]"),
        (lambda d: d.assign(trial=[None, "A", "B", "B"]), "'trial' is empty"),
        (lambda d: d.assign(n=[100, 100, 0, 50]), "'n' must be > 0"),
        (lambda d: d.assign(mean=["a", 0.4, 65.0, 0.5]), "must be numeric"),
        # numbers written as text are refused, not read (nothing is converted)
        (lambda d: d.assign(mean=["60.0", 0.4, 65.0, 0.5]),
         r"'mean' must be numeric \(real numbers\), but has '60.0' at row 0; nothing is "
         "converted"),
        (lambda d: d.assign(sd=d["sd"].astype(str)), "'sd' must be numeric"),
    ],
)
def test_covariate_summary_errors(edit, match):
    with pytest.raises(DataError, match=match):
        CovariateSummary.from_frame(edit(_cov_frame()))


def test_covariate_summary_does_not_modify_input():
    df = _cov_frame()
    before = df.copy()
    CovariateSummary.from_frame(df)
    pd.testing.assert_frame_equal(df, before)


def _target_frame():
    return pd.DataFrame({"covariate": ["a", "b", "c"], "mean": [1.0, 0.3, -2.0],
                         "sd": [2.0, np.nan, 0.5]})


@pytest.mark.parametrize(
    "corr, match",
    [
        (np.eye(2), "shape"),
        (np.array([[1, 0.5, 0], [0.4, 1, 0], [0, 0, 1]]), "not symmetric"),
        (np.array([[2, 0, 0], [0, 1, 0], [0, 0, 1]]), "unit diagonal"),
        (np.array([[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]]), "not positive definite"),
        (pd.DataFrame(np.eye(2), index=["a", "b"], columns=["a", "b"]), r"no rows/columns"),
    ],
)
def test_correlation_errors(corr, match):
    with pytest.raises(DataError, match=match):
        CovariateSummary.from_frame(_target_frame(), corr=corr)


def test_correlation_only_for_one_population():
    with pytest.raises(DataError, match="one-population"):
        CovariateSummary.from_frame(_cov_frame(), corr=np.eye(2))


# ---------------------------------------------------------------------------- copula
def test_copula_marginals_and_correlation():
    R = np.array([[1, 0.6, 0.3], [0.6, 1, 0.0], [0.3, 0.0, 1]])
    x = gaussian_copula_sample(_target_frame(), corr=R, n=20_000)
    assert list(x.columns) == ["a", "b", "c"] and len(x) == 20_000
    assert np.all(np.isfinite(x.to_numpy()))
    assert x["a"].mean() == pytest.approx(1.0, abs=0.01)
    assert x["a"].std() == pytest.approx(2.0, rel=0.01)
    assert set(np.unique(x["b"])) == {0.0, 1.0}
    assert x["b"].mean() == pytest.approx(0.3, abs=0.005)
    assert x["c"].std() == pytest.approx(0.5, rel=0.01)
    # continuous pair: the latent correlation is the Pearson correlation
    assert np.corrcoef(x["a"], x["c"])[0, 1] == pytest.approx(0.3, abs=0.02)
    # normal-binary: point-biserial correlation of a latent 0.6 (probit model) is
    # 0.6 * phi(Phi^-1(0.3)) / sqrt(0.3 * 0.7)
    from scipy import stats
    rpb = 0.6 * stats.norm.pdf(stats.norm.ppf(0.3)) / np.sqrt(0.21)
    assert np.corrcoef(x["a"], x["b"])[0, 1] == pytest.approx(rpb, abs=0.02)


def test_copula_methods_determinism():
    s = _target_frame()
    a = gaussian_copula_sample(s, n=500)
    b = gaussian_copula_sample(s, n=500)
    pd.testing.assert_frame_equal(a, b)  # unscrambled Sobol: no randomness
    r1 = gaussian_copula_sample(s, n=500, method="random", seed=3)
    r2 = gaussian_copula_sample(s, n=500, method="random", seed=3)
    r3 = gaussian_copula_sample(s, n=500, method="random", seed=4)
    pd.testing.assert_frame_equal(r1, r2)
    assert not r1.equals(r3)
    sc = gaussian_copula_sample(s, n=500, method="scrambled_sobol", seed=1)
    assert np.all(np.isfinite(sc.to_numpy()))
    with pytest.raises(DataError, match="method must be"):
        gaussian_copula_sample(s, n=10, method="halton")
    with pytest.raises(DataError, match="n must be an integer"):
        gaussian_copula_sample(s, n=1)


def test_copula_truncated_normal():
    s = pd.DataFrame({"covariate": ["lvef"], "mean": [45.0], "sd": [14.0], "min": [10.0],
                      "max": [80.0]})
    x = gaussian_copula_sample(s, n=5000)["lvef"]
    assert x.min() >= 10.0 and x.max() <= 80.0
    assert x.mean() == pytest.approx(45.0, abs=1.0)  # nearly symmetric truncation
    with pytest.raises(DataError, match="min < max"):
        CovariateSummary.from_frame(s.assign(min=90.0))


# ------------------------------------------------------------------- effects table
def _effects():
    return pd.DataFrame({
        "trial": ["A"] * 5 + ["B"] * 3,
        "subgroup": ["overall", "male", "male", "age", "age", "Overall", "male", "male"],
        "stratum": [None, 1, 0, "<65", ">=65", None, "yes", "no"],
        "estimate": [-0.1, -0.12, -0.08, -0.05, -0.15, -0.2, -0.25, -0.15],
        "se": [0.02, 0.03, 0.03, 0.03, 0.03, 0.04, 0.05, 0.05],
        "n": [1000, 400, 600, 500, 500, 800, 400, 400],
    })


def test_validate_effects_fills_props():
    cs = CovariateSummary.from_frame(_cov_frame())
    raw = _effects()
    before = raw.copy()
    eff = validate_effects(raw, cs)
    pd.testing.assert_frame_equal(raw, before)
    np.testing.assert_allclose(eff["prop"], [1, 0.4, 0.6, 0.5, 0.5, 1, 0.5, 0.5])
    assert list(eff["subgroup"])[5] == "overall"
    assert list(eff["prop_source"]) == ["overall", "n", "n", "n", "n", "overall", "n", "n"]
    assert eff.loc[6, "_stratum"].level == 1.0
    given = validate_effects(raw.assign(prop=[np.nan, 0.45, 0.55, 0.5, 0.5, 1.0, 0.5, 0.5]),
                             cs)
    assert given.loc[1, "prop"] == 0.45 and given.loc[1, "prop_source"] == "reported"


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.assign(se=[0.02, 0.0, 0.03, 0.03, 0.03, 0.04, 0.05, 0.05]),
         r"'se' must be finite and > 0"),
        (lambda d: d.assign(se=[0.02, -0.01, 0.03, 0.03, 0.03, 0.04, 0.05, 0.05]),
         r"'se' must be finite and > 0"),
        (lambda d: d.assign(estimate=[np.nan, 0, 0, 0, 0, 0, 0, 0]), "'estimate' is missing"),
        (lambda d: d.assign(n=[1000, 0, 600, 500, 500, 800, 400, 400]), "'n' must be > 0"),
        (lambda d: d.assign(prop=[np.nan, 1.4, 0.6, 0.5, 0.5, 1, 0.5, 0.5]),
         r"'prop' must lie in \(0, 1\]"),
        (lambda d: d.assign(prop=[np.nan, -0.2, 0.6, 0.5, 0.5, 1, 0.5, 0.5]),
         r"'prop' must lie in \(0, 1\]"),
        (lambda d: d.assign(prop=[0.9, 0.4, 0.6, 0.5, 0.5, 1, 0.5, 0.5]),
         "its 'prop' must be 1 or empty"),
        (lambda d: d.assign(n=[1000, 1400, 600, 500, 500, 800, 400, 400]),
         r"exceeds the overall n .* outside \[0, 1\]"),
        (lambda d: d.assign(subgroup=["overall", "sex", "sex", "age", "age", "overall",
                                      "male", "male"]),
         "subgroup 'sex' is not a covariate of the covariate summaries"),
        (lambda d: d.assign(stratum=[None, 2, 0, "<65", ">=65", None, "yes", "no"]),
         "not a level of this binary covariate"),
        (lambda d: d.assign(stratum=[None, 1, 0, "old", ">=65", None, "yes", "no"]),
         "continuous covariate must be an interval"),
        (lambda d: d.assign(stratum=[None, 1, 1, "<65", ">=65", None, "yes", "no"]),
         r"\(trial, subgroup, stratum\) = \('A', 'male', '1'\) repeats at rows 1, 2"),
        (lambda d: d.assign(stratum=["x", 1, 0, "<65", ">=65", None, "yes", "no"]),
         "overall row must leave 'stratum' empty"),
        (lambda d: d.assign(n=[np.nan, 400, 600, 500, 500, 800, 400, 400]),
         "share of the trial in this stratum is unknown"),
        (lambda d: d.assign(trial=["A"] * 5 + ["C"] * 3),
         r"trials \['C'\] have effects but no covariate summaries"),
        (lambda d: d[d["trial"] == "A"], r"trials \['B'\] have covariate summaries but no"),
        (lambda d: d.drop(columns="n"), r"missing \['n'\]"),
        (lambda d: d.assign(trial=[None] + ["A"] * 4 + ["B"] * 3), "'trial' is empty"),
        (lambda d: d.assign(se=d["se"].astype(str)), "'se' must be numeric .* nothing is "
                                                      "converted"),
    ],
)
def test_validate_effects_errors(edit, match):
    cs = CovariateSummary.from_frame(_cov_frame())
    with pytest.raises(DataError, match=match):
        validate_effects(edit(_effects()), cs)


def test_validate_effects_needs_trial_column_in_covariates():
    cs = CovariateSummary.from_frame(_target_frame())
    with pytest.raises(DataError, match="need a 'trial' column"):
        validate_effects(_effects(), cs)


# ------------------------------------------------------------------- SGLT2 data set
# Shi et al., Table 1: risk difference and SE as printed (3 decimals). Four printed
# values differ from the counts by rounding in the third decimal (e.g. DAPA-HF preHHF
# yes: counts give -0.0896, printed -0.089), hence the 0.001 tolerance.
TABLE1 = [
    ("EMPEROR-Preserved", -0.032, 0.009), ("EMPEROR-Preserved", -0.050, 0.017),
    ("EMPEROR-Preserved", -0.034, 0.016), ("EMPEROR-Preserved", -0.014, 0.016),
    ("EMPEROR-Preserved", -0.062, 0.023), ("EMPEROR-Preserved", -0.025, 0.009),
    ("EMPEROR-Preserved", -0.035, 0.014), ("EMPEROR-Preserved", -0.030, 0.012),
    ("DELIVER", -0.033, 0.009), ("DELIVER", -0.029, 0.017), ("DELIVER", -0.032, 0.015),
    ("DELIVER", -0.038, 0.016), ("DELIVER", -0.064, 0.021), ("DELIVER", -0.023, 0.010),
    ("DELIVER", -0.035, 0.015), ("DELIVER", -0.030, 0.012),
    ("DAPA-HF", -0.048, 0.011), ("DAPA-HF", -0.089, 0.023), ("DAPA-HF", -0.031, 0.013),
    ("DAPA-HF", -0.054, 0.018), ("DAPA-HF", -0.043, 0.014),
    ("EMPEROR-Reduced", -0.054, 0.014), ("EMPEROR-Reduced", -0.043, 0.027),
    ("EMPEROR-Reduced", -0.058, 0.015), ("EMPEROR-Reduced", -0.070, 0.020),
    ("EMPEROR-Reduced", -0.038, 0.018),
]


def test_sglt2_dataset_matches_seed_tables():
    d = bh.datasets.sglt2_hf()
    e = d.effects
    assert list(e.columns) == ["trial", "subgroup", "stratum", "estimate", "se", "n", "prop"]
    assert list(e["trial"]) == [t for t, _, _ in TABLE1]
    np.testing.assert_allclose(e["estimate"], [v for _, v, _ in TABLE1], atol=0.001)
    np.testing.assert_allclose(e["se"], [v for _, _, v in TABLE1], atol=0.001)
    # the arm sizes add up within each one-at-a-time subgroup
    for _key, grp in e[e["subgroup"] != "overall"].groupby(["trial", "subgroup"]):
        assert grp["prop"].sum() == pytest.approx(1.0)
    # Table 2 (DELIVER mean LVEF 54.0, SD 8.9)
    c = d.covariates.set_index(["trial", "covariate"])
    assert c.loc[("DELIVER", "lvef"), "mean"] == 54.0
    assert c.loc[("DELIVER", "lvef"), "sd"] == 8.9
    assert c.loc[("EMPEROR-Reduced", "prehhf"), "mean"] == 0.309
    assert np.isnan(c.loc[("DAPA-HF", "diabetes"), "sd"])
    assert d.target.kinds == {"lvef": "continuous", "prehhf": "binary", "diabetes": "binary"}
    assert d.target.corr.loc["prehhf", "diabetes"] == 0.7
    assert d.target.n == 383_896
    eff = validate_effects(e, CovariateSummary.from_frame(d.covariates))
    assert (eff["prop_source"] != "").all()


def test_sglt2_target_copula_sample():
    d = bh.datasets.sglt2_hf()
    x = d.target.sample(50_000)
    # PULSE summaries (seed section 4.3)
    assert x["lvef"].mean() == pytest.approx(45.4, abs=0.01)
    assert x["lvef"].std() == pytest.approx(14.0, rel=0.001)
    assert x["prehhf"].mean() == pytest.approx(0.091, abs=0.0005)
    assert x["diabetes"].mean() == pytest.approx(0.265, abs=0.0005)


def test_overall_stratum_missing_as_pandas_na():
    d = bh.datasets.sglt2_hf()
    e = d.effects.assign(stratum=d.effects["stratum"].astype("string"))
    assert e["stratum"].isna().sum() == 4
    eff = validate_effects(e, CovariateSummary.from_frame(d.covariates))
    assert (eff.loc[eff["subgroup"] == "overall", "stratum"] == "").all()
    with pytest.raises(DataError, match="stratum is empty"):
        validate_effects(e.assign(stratum=e["stratum"].where(e.index != 1, pd.NA)),
                         CovariateSummary.from_frame(d.covariates))


def test_summary_errors_name_the_users_rows_not_positions():
    """Rows are named by the frame's own index, whatever it is."""
    cov = _cov_frame().set_axis(["r1", "r2", "r3", "r4"])
    with pytest.raises(DataError, match=r"'sd' must be > 0 .*but is \[0.0\] at row r3"):
        CovariateSummary.from_frame(cov.assign(sd=[10.0, np.nan, 0.0, np.nan]))
    with pytest.raises(DataError, match="'mean' is missing or not finite at row r2"):
        CovariateSummary.from_frame(cov.assign(mean=[60.0, np.nan, 65.0, 0.5]))
    with pytest.raises(DataError, match=r"\['trial', 'covariate'\] = \('A', 'age'\) repeats "
                                        r"at rows r1, r2"):
        CovariateSummary.from_frame(cov.assign(covariate=["age", "age", "age", "male"]))
    cs = CovariateSummary.from_frame(_cov_frame())
    eff = _effects().set_axis([f"e{i}" for i in range(8)])
    with pytest.raises(DataError, match=r"'se' must be finite and > 0 but is \[0.0\] at row e1"):
        validate_effects(eff.assign(se=[0.02, 0.0, 0.03, 0.03, 0.03, 0.04, 0.05, 0.05]), cs)
    with pytest.raises(DataError, match="effects row e1 .*subgroup 'sex' is not a covariate"):
        validate_effects(eff.assign(subgroup=["overall", "sex", "sex", "age", "age",
                                              "overall", "male", "male"]), cs)
    with pytest.raises(DataError, match="effects row e1 .*share of the trial in this stratum "
                                        "is unknown"):
        validate_effects(eff.assign(n=[np.nan, 400, 600, 500, 500, 800, 400, 400]), cs)


def test_covariate_summary_with_a_duplicated_column_label():
    df = _cov_frame()
    with pytest.raises(DataError, match="covariate summaries column 'mean' appears 2 times"):
        CovariateSummary.from_frame(pd.concat([df, df[["mean"]]], axis=1))


@pytest.mark.parametrize("mean,sd,lo,hi", [(45.0, 14.0, 10.0, 80.0), (54.3, 8.8, 40.0, np.nan),
                                           (0.5, 0.45, 0.0, 4.0), (2.0, 0.8, np.nan, 3.0)])
def test_truncated_marginal_keeps_the_reported_mean_and_sd(mean, sd, lo, hi):
    """A Table 1's mean and SD are those of the observed (truncated) values: the sample
    has them. Before, the truncation of N(mean, sd^2) moved them (mean 0.5, SD 1 on
    [0, 4]: sample mean 1.008, SD 0.695)."""
    s = pd.DataFrame({"covariate": ["x"], "mean": [mean], "sd": [sd], "min": [lo],
                      "max": [hi]})
    x = gaussian_copula_sample(s, n=200_000, method="random", seed=1)["x"]
    assert x.mean() == pytest.approx(mean, abs=0.01 * sd)
    assert x.std() == pytest.approx(sd, rel=0.01)
    if np.isfinite(lo):
        assert x.min() >= lo
    if np.isfinite(hi):
        assert x.max() <= hi


def test_truncated_marginal_refuses_what_no_truncated_normal_has():
    """A mean outside [min, max] was accepted silently; an SD too large for the range
    (mean 1, SD 1 on [0, inf): the exponential's, a truncated normal's limit) cannot be
    matched and is refused, naming the covariate."""
    base = {"covariate": ["x"], "mean": [5.0], "sd": [1.0], "min": [-2.0], "max": [2.0]}
    with pytest.raises(DataError, match=r"the mean must lie inside \(min, max\)"):
        CovariateSummary.from_frame(pd.DataFrame(base))
    wide = pd.DataFrame({**base, "mean": [1.0], "min": [0.0], "max": [np.nan]})
    with pytest.raises(DataError, match=r"covariate 'x': no normal truncated to \[0, inf\] "
                                        r"has mean 1 and SD 1"):
        gaussian_copula_sample(wide, n=100)
