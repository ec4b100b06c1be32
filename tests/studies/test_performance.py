"""Performance measures of a simulation study against hand-computed values and R rsimsum.

The fixed table: one scenario (k = 5), true value 0.5, method "A" succeeds in replicates
0-4, method "B" in replicates 0-3 and raises in replicate 4. Intervals are Wald 95%
(estimate ± 1.959963984540054 se). Every expected number below is worked out with plain
Python sums over the values written here, not with the code under test's numpy calls.
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_hte.errors import DataError, DataWarning
from bayes_hte.studies.performance import MEASURES, performance

Z = 1.959963984540054
THETA = 0.5
EST = {"A": [0.62, 0.41, 0.55, 0.78, 0.15], "B": [0.70, 0.95, 0.81, 0.66]}
SE = {"A": [0.10, 0.12, 0.09, 0.12, 0.10], "B": [0.05, 0.20, 0.06, 0.08]}
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "rsimsum_reference.json"


def _row(method, replicate, estimate, se, *, error="", estimand="theta", scenario=0, k=5,
         truth=THETA):
    lo, hi = (estimate - Z * se, estimate + Z * se) if error == "" else (math.nan, math.nan)
    return {"k": k, "scenario": scenario, "replicate": replicate, "method": method,
            "estimand": estimand, "truth": truth, "estimate": estimate, "se": se,
            "ci_low": lo, "ci_high": hi, "seconds": 0.01, "error": error}


def fixed_table() -> pd.DataFrame:
    rows = [_row(m, r, e, s) for m in ("A", "B")
            for r, (e, s) in enumerate(zip(EST[m], SE[m], strict=True))]
    rows.append(_row("B", 4, math.nan, math.nan, error="LinAlgError: singular", estimand=""))
    return pd.DataFrame(rows)


def _by_hand(est: list[float], se: list[float]) -> dict[str, tuple[float, float]]:
    """Table 6 of Morris, White & Crowther (2019), sum by sum."""
    n = len(est)
    mean = sum(est) / n
    ss = sum((e - mean) ** 2 for e in est)  # sum of squared deviations from the mean
    bias = sum(e - THETA for e in est) / n
    empse = math.sqrt(ss / (n - 1))
    mse = sum((e - THETA) ** 2 for e in est) / n
    mse_mcse = math.sqrt(sum(((e - THETA) ** 2 - mse) ** 2 for e in est) / (n * (n - 1)))
    v = [s * s for s in se]
    v_mean = sum(v) / n
    v_var = sum((x - v_mean) ** 2 for x in v) / (n - 1)
    modelse = math.sqrt(v_mean)
    relerror = 100 * (modelse / empse - 1)
    relerror_mcse = 100 * (modelse / empse) * math.sqrt(
        v_var / (4 * n * modelse**4) + 1 / (2 * (n - 1)))
    pairs = list(zip(est, se, strict=True))
    covers = sum(1 for e, s in pairs if e - Z * s <= THETA <= e + Z * s)
    becovers = sum(1 for e, s in pairs if e - Z * s <= mean <= e + Z * s)
    rejects = sum(1 for e, s in pairs if e - Z * s > 0 or e + Z * s < 0)

    def prop(count):
        p = count / n
        return p, math.sqrt(p * (1 - p) / n)

    return {
        "thetamean": (mean, math.sqrt(ss / (n * (n - 1)))),
        "bias": (bias, math.sqrt(ss / (n * (n - 1)))),
        "empse": (empse, empse / math.sqrt(2 * (n - 1))),
        "mse": (mse, mse_mcse),
        "modelse": (modelse, math.sqrt(v_var / (4 * n * modelse**2))),
        "relerror": (relerror, relerror_mcse),
        "cover": prop(covers),
        "becover": prop(becovers),
        "power": prop(rejects),
    }


def test_columns_and_rows():
    perf = performance(fixed_table())
    assert list(perf.columns) == ["k", "method", "estimand", "measure", "value", "mcse",
                                  "n_ok", "n_failed", "n_missing"]
    assert list(perf["measure"]) == list(MEASURES) * 2
    assert list(perf["method"]) == ["A"] * len(MEASURES) + ["B"] * len(MEASURES)
    assert set(perf["estimand"]) == {"theta"} and set(perf["k"]) == {5}
    assert perf["k"].dtype == np.int64


@pytest.mark.parametrize("method", ["A", "B"])
def test_every_measure_and_mcse_equals_the_hand_computation(method):
    perf = performance(fixed_table()).query("method == @method").set_index("measure")
    expected = _by_hand(EST[method], SE[method])
    for measure, (value, mcse) in expected.items():
        assert perf.loc[measure, "value"] == pytest.approx(value, rel=1e-12, abs=1e-15), measure
        assert perf.loc[measure, "mcse"] == pytest.approx(mcse, rel=1e-12, abs=1e-15), measure


def test_hand_values_spelled_out():
    """A few of the hand values in decimals, so a slip in _by_hand shows too."""
    perf = performance(fixed_table()).set_index(["method", "measure"])
    # A: mean 2.51 / 5 = 0.502, bias 0.002; B: mean 3.12 / 4 = 0.78, bias 0.28
    assert perf.loc[("A", "bias"), "value"] == pytest.approx(0.002)
    assert perf.loc[("B", "bias"), "value"] == pytest.approx(0.28)
    # B: squared errors .04, .2025, .0961, .0256 -> MSE .3642 / 4
    assert perf.loc[("B", "mse"), "value"] == pytest.approx(0.3642 / 4)
    # B: variances .0025, .04, .0036, .0064 -> ModSE sqrt(.0525 / 4)
    assert perf.loc[("B", "modelse"), "value"] == pytest.approx(math.sqrt(0.0525 / 4))
    # A: replicates 3 (|0.28| > 1.96 * 0.12) and 4 miss the truth; 4 does not reject 0
    assert perf.loc[("A", "cover"), "value"] == pytest.approx(3 / 5)
    assert perf.loc[("A", "power"), "value"] == pytest.approx(4 / 5)
    # B misses the truth every time but covers its own mean 0.78 every time
    assert perf.loc[("B", "cover"), "value"] == 0.0 and perf.loc[("B", "cover"), "mcse"] == 0.0
    assert perf.loc[("B", "becover"), "value"] == 1.0


def test_failures_are_counted_not_used():
    perf = performance(fixed_table())
    assert set(perf.loc[perf["method"] == "A", "n_ok"]) == {5}
    assert set(perf.loc[perf["method"] == "A", "n_failed"]) == {0}
    assert set(perf.loc[perf["method"] == "B", "n_ok"]) == {4}
    assert set(perf.loc[perf["method"] == "B", "n_failed"]) == {1}
    assert set(perf["n_missing"]) == {0}
    assert "" not in set(perf["estimand"])


def test_matches_r_rsimsum():
    ref = json.loads(REFERENCE.read_text())
    data = pd.DataFrame(ref["data"])
    for m in ("A", "B"):  # the JSON was made from the same table
        sub = data[data["method"] == m]
        assert list(sub["estimate"]) == pytest.approx(EST[m])
        assert list(sub["se"]) == pytest.approx(SE[m])
    perf = performance(fixed_table()).set_index(["method", "measure"])
    for row in ref["summ"]:
        key = (row["method"], row["stat"])
        if row["stat"] == "nsim":
            assert set(perf.loc[row["method"], "n_ok"]) == {row["est"]}
            continue
        assert perf.loc[key, "value"] == pytest.approx(row["est"], rel=1e-9, abs=1e-12), key
        if row["stat"] == "se2mean":  # rsimsum gives no MCSE; ours is SD(se^2) / sqrt(n)
            v = [s * s for s in SE[row["method"]]]
            mean = sum(v) / len(v)
            sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
            assert perf.loc[key, "mcse"] == pytest.approx(sd / math.sqrt(len(v)), rel=1e-12)
        elif row["mcse"] is None:  # the medians: no MCSE, as rsimsum
            assert np.isnan(perf.loc[key, "mcse"]), key
        else:
            assert perf.loc[key, "mcse"] == pytest.approx(row["mcse"], rel=1e-9, abs=1e-12), key


def test_wald_intervals_stand_in_for_missing_ones_as_rsimsum_without_ci_limits():
    """A method that gives an SE and no interval: cover, becover and power from
    estimate -/+ z se at ci_prob (rsimsum 0.13.0 without ci.limits, level 0.5)."""
    ref = json.loads(REFERENCE.read_text())
    table = fixed_table().assign(ci_low=math.nan, ci_high=math.nan)
    perf = performance(table, measures=["cover", "becover", "power"],
                       ci_prob=ref["wald_level"]).set_index(["method", "measure"])
    for row in ref["wald"]:
        key = (row["method"], row["stat"])
        assert perf.loc[key, "value"] == pytest.approx(row["est"], abs=1e-12), key
        assert perf.loc[key, "mcse"] == pytest.approx(row["mcse"], rel=1e-9, abs=1e-12), key
        assert perf.loc[key, "n_ok"] == len(EST[row["method"]])
    # the stored intervals are used as they are: with them, ci_prob changes nothing
    stored = performance(fixed_table(), measures=["cover"], ci_prob=0.5)
    assert list(stored["value"]) == list(performance(fixed_table(), measures=["cover"])["value"])
    # neither an interval nor an SE: the replicate does not count
    none = fixed_table().assign(ci_low=math.nan, ci_high=math.nan, se=math.nan)
    assert set(performance(none, measures=["cover"])["n_ok"]) == {0}
    with pytest.raises(ValueError, match="ci_prob"):
        performance(fixed_table(), ci_prob=95)


def test_rbias_needs_a_true_value_other_than_zero():
    table = fixed_table()
    rel = performance(table, measures=["rbias"]).set_index("method")
    a = [(e - THETA) / THETA for e in EST["A"]]
    assert rel.loc["A", "value"] == pytest.approx(sum(a) / 5, rel=1e-12)
    zero = performance(table.assign(truth=0.0), measures=["rbias", "bias"])
    r = zero[zero["measure"] == "rbias"]
    assert r["value"].isna().all() and set(r["n_ok"]) == {0}
    assert zero[zero["measure"] == "bias"]["value"].notna().all()
    # a truth varying by replicate: each estimate against its own truth, zeros left out
    varying = table.assign(truth=[0.5, 0.0, 0.25, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, math.nan])
    va = performance(varying, measures=["rbias"]).set_index("method").loc["A"]
    terms = [(0.62 - 0.5) / 0.5, (0.55 - 0.25) / 0.25, (0.78 - 1.0) / 1.0, (0.15 - 0.5) / 0.5]
    assert va["value"] == pytest.approx(sum(terms) / 4, rel=1e-12) and va["n_ok"] == 4


def test_group_of_one_gives_nan_where_two_are_needed():
    perf = performance(pd.DataFrame([_row("A", 0, 0.7, 0.1)])).set_index("measure")
    assert perf.loc["bias", "value"] == pytest.approx(0.2)
    assert perf.loc["mse", "value"] == pytest.approx(0.04)
    assert perf.loc["modelse", "value"] == pytest.approx(0.1)
    for measure in ("bias", "mse", "modelse"):
        assert np.isnan(perf.loc[measure, "mcse"])
    for measure in ("empse", "relerror"):
        assert np.isnan(perf.loc[measure, "value"]) and np.isnan(perf.loc[measure, "mcse"])
    assert perf.loc["cover", "value"] == 0.0  # |0.2| > 1.96 * 0.1
    assert perf.loc["cover", "mcse"] == 0.0
    assert set(perf["n_ok"]) == {1}
    assert np.isnan(perf.loc["relprec", "value"])  # an EmpSE ratio needs two replicates


def test_method_failing_everywhere_gets_nan_rows():
    rows = [_row("A", r, e, s) for r, (e, s) in enumerate(zip(EST["A"], SE["A"], strict=True))]
    rows += [_row("B", r, math.nan, math.nan, error="boom", estimand="") for r in range(5)]
    perf = performance(pd.DataFrame(rows))
    b = perf[perf["method"] == "B"]
    assert list(b["measure"]) == list(MEASURES) and set(b["estimand"]) == {"theta"}
    assert b["value"].isna().all() and b["mcse"].isna().all()
    assert set(b["n_ok"]) == {0} and set(b["n_failed"]) == {5}


def test_non_finite_estimates_and_missing_se_or_interval():
    table = fixed_table()
    extra = _row("A", 5, math.nan, 0.1)  # a successful run with no estimate: not used
    table = pd.concat([table, pd.DataFrame([extra])], ignore_index=True)
    a_idx = table.index[(table["method"] == "A") & (table["replicate"] == 0)]
    table.loc[a_idx, ["se", "ci_low", "ci_high"]] = math.nan
    perf = performance(table).query("method == 'A'").set_index("measure")
    # estimate-only measures keep all 5 finite estimates
    assert perf.loc["bias", "n_ok"] == 5
    assert perf.loc["bias", "value"] == pytest.approx(0.002)
    # SE- and interval-based measures use the 4 replicates that have them
    est, se = EST["A"][1:], SE["A"][1:]
    hand = _by_hand(est, se)
    for measure in ("modelse", "relerror", "cover", "power"):
        assert perf.loc[measure, "n_ok"] == 4
        assert perf.loc[measure, "value"] == pytest.approx(hand[measure][0]), measure
        assert perf.loc[measure, "mcse"] == pytest.approx(hand[measure][1]), measure
    # becover: the mean is over all 5 estimates (0.502), the intervals over 4
    assert perf.loc["becover", "n_ok"] == 4
    assert perf.loc["becover", "value"] == pytest.approx(
        sum(1 for e, s in zip(est, se, strict=True) if e - Z * s <= 0.502 <= e + Z * s) / 4)


def test_replicates_without_an_estimate_are_counted_as_missing():
    """A NaN estimate, or an estimand a method left out in some replicates, is neither a
    failure nor used: n_missing counts it, so that every replicate is accounted for."""
    table = fixed_table()
    nan_row = _row("A", 5, math.nan, 0.1)  # ran, estimate NaN
    other = [_row("A", r, 0.1, 0.05, estimand="tau") for r in (0, 1, 2)]  # 3 of 6 have tau
    table = pd.concat([table, pd.DataFrame([nan_row, *other])], ignore_index=True)
    perf = performance(table).set_index(["method", "estimand", "measure"])
    assert perf.loc[("A", "theta", "bias"), ["n_ok", "n_failed", "n_missing"]].tolist() == \
        [5, 0, 1]
    assert perf.loc[("A", "tau", "bias"), ["n_ok", "n_failed", "n_missing"]].tolist() == \
        [3, 0, 3]
    assert perf.loc[("B", "theta", "bias"), ["n_ok", "n_failed", "n_missing"]].tolist() == \
        [4, 1, 0]


def test_relative_precision_by_hand():
    """Morris et al. (2019), Table 6: 100((EmpSE_A / EmpSE_B)^2 - 1) with MCSE
    200 (EmpSE_A / EmpSE_B)^2 sqrt((1 - rho^2)/(n - 1)), over the replicates both have
    (B failed in its fifth)."""
    perf = performance(fixed_table(), measures=["relprec"]).set_index("method")
    a, b = EST["A"][:4], EST["B"]
    ratio2 = (np.std(a, ddof=1) / np.std(b, ddof=1)) ** 2
    rho = np.corrcoef(a, b)[0, 1]
    assert perf.loc["B", "value"] == pytest.approx(100 * (ratio2 - 1), rel=1e-12)
    assert perf.loc["B", "mcse"] == pytest.approx(200 * ratio2 * math.sqrt((1 - rho**2) / 3),
                                                  rel=1e-12)
    assert perf.loc["B", "n_ok"] == 4
    assert perf.loc["A", ["value", "mcse", "n_ok"]].tolist() == [0.0, 0.0, 5]  # the reference
    against_b = performance(fixed_table(), measures=["relprec"], ref="B").set_index("method")
    assert against_b.loc["A", "value"] == pytest.approx(100 * (1 / ratio2 - 1), rel=1e-12)
    with pytest.raises(ValueError, match="ref='C' is not a method"):
        performance(fixed_table(), ref="C")


def test_intervals_with_an_infinite_limit_count():
    """A one-sided interval [m - 1.645 se, inf) covers when its lower limit is below the
    truth (rsimsum reads ci.limits the same way); it was left out of cover and power."""
    table = fixed_table().query("method == 'A'").copy()
    table["ci_low"] = table["estimate"] - 1.6448536269514722 * table["se"]
    table["ci_high"] = math.inf
    perf = performance(table).set_index("measure")
    hits = [e - 1.6448536269514722 * s <= THETA for e, s in zip(EST["A"], SE["A"],
                                                                strict=True)]
    assert perf.loc["cover", "n_ok"] == 5
    assert perf.loc["cover", "value"] == pytest.approx(sum(hits) / 5)
    assert perf.loc["power", "value"] == pytest.approx(
        sum(e - 1.6448536269514722 * s > 0 for e, s in zip(EST["A"], SE["A"],
                                                           strict=True)) / 5)


def test_scenarios_factors_and_measures_subset():
    rows = []
    for scen, (k, tau2) in enumerate([(5, 0.0), (5, 0.1), (10, 0.0)]):
        for r in range(3):
            for est in ("ate", "cate"):
                rows.append(_row("A", r, 0.5 + 0.1 * r + scen, 0.1, scenario=scen, k=k,
                                 estimand=est) | {"tau2": tau2})
    rows.append(_row("A", 3, math.nan, math.nan, scenario=1, k=5, error="x", estimand="")
                | {"tau2": 0.1})
    cols = ["k", "tau2", "scenario", "replicate", "method", "estimand", "truth", "estimate",
            "se", "ci_low", "ci_high", "seconds", "error"]
    table = pd.DataFrame(rows)[cols].sample(frac=1.0, random_state=1)  # any row order
    perf = performance(table, measures=["bias", "cover"])
    assert list(perf.columns[:2]) == ["k", "tau2"]
    assert list(perf[["k", "tau2"]].drop_duplicates().itertuples(index=False, name=None)) == \
        [(5, 0.0), (5, 0.1), (10, 0.0)]
    assert len(perf) == 3 * 2 * 2 and list(perf["measure"][:2]) == ["bias", "cover"]
    bias = perf.query("measure == 'bias' and estimand == 'ate'")
    assert list(bias["value"]) == pytest.approx([0.1, 1.1, 2.1])
    assert list(bias["n_failed"]) == [0, 1, 0]
    # pooling over tau2: the k = 5 cell has 6 replicates and one failure
    pooled = performance(table, factors=["k"], measures=["bias"])
    assert list(pooled["n_ok"]) == [6, 6, 3, 3] and list(pooled["n_failed"]) == [1, 1, 0, 0]
    assert pooled["value"].iloc[0] == pytest.approx((0.1 + 1.1) / 2)


def test_errors():
    table = fixed_table()
    with pytest.raises(ValueError, match="measures"):
        performance(table, measures=["bias", "rmse"])
    with pytest.raises(DataError, match="se"):
        performance(table.drop(columns="se"))
    with pytest.raises(DataError, match="factors"):
        performance(table.drop(columns="scenario"))
    with pytest.raises(DataError, match="tau2"):
        performance(table, factors=["tau2"])
    with pytest.raises(DataError, match="twice"):
        performance(pd.concat([table, table.iloc[[0]]]))
    # without scenario / replicate columns, named factors still work
    no_keys = table.drop(columns=["scenario", "replicate"])
    assert len(performance(no_keys, factors=["k"])) == 2 * len(MEASURES)


def test_measures_against_the_truth_skip_replicates_without_one():
    """A replicate whose truth is NaN (a metric, or a truth the data did not give) is
    left out of bias, mse and cover, and counted in thetamean and empse."""
    table = fixed_table().query("method == 'A'").copy()
    table.loc[table["replicate"] == 4, "truth"] = math.nan
    perf = performance(table).set_index("measure")
    known = _by_hand(EST["A"][:4], SE["A"][:4])
    every = _by_hand(EST["A"], SE["A"])
    for measure in ("bias", "mse", "cover"):
        assert perf.loc[measure, "value"] == pytest.approx(known[measure][0]), measure
        assert perf.loc[measure, "mcse"] == pytest.approx(known[measure][1]), measure
        assert perf.loc[measure, "n_ok"] == 4
    for measure in ("thetamean", "empse", "becover"):
        assert perf.loc[measure, "value"] == pytest.approx(every[measure][0]), measure
        assert perf.loc[measure, "n_ok"] == 5
    # no truth at all: NaN, never a coverage of 0
    table["truth"] = math.nan
    perf = performance(table).set_index("measure")
    for measure in ("bias", "mse", "cover"):
        assert math.isnan(perf.loc[measure, "value"]) and perf.loc[measure, "n_ok"] == 0
    assert perf.loc["thetamean", "value"] == pytest.approx(sum(EST["A"]) / 5)


def test_pooling_scenarios_with_different_truths_warns():
    """Pooling k = 5 and k = 10 is fine when the truth is the same; with different truths
    empse or becover would mix them (bias and cover do not: own truth per row)."""
    same = pd.DataFrame([_row("A", r, e, 0.1, scenario=s, k=k)
                         for s, k in ((0, 5), (1, 10)) for r, e in enumerate(EST["A"])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        performance(same, factors=[])
    differ = same.assign(truth=np.where(same["scenario"] == 0, 0.5, 1.0))
    with pytest.warns(DataWarning, match=r"pool scenarios whose true values differ .*"
                                         r"'estimand': 'theta'.*\['thetamean', 'thetamedian', "
                                         r"'se2mean', 'se2median', 'empse'"):
        pooled = performance(differ, factors=[]).set_index("measure")
    bias = np.mean(np.r_[np.array(EST["A"]) - 0.5, np.array(EST["A"]) - 1.0])
    assert pooled.loc["bias", "value"] == pytest.approx(bias)
    with warnings.catch_warnings():  # unpooled, or measures against the truth only: silent
        warnings.simplefilter("error")
        performance(differ)
        performance(differ, factors=[], measures=["bias", "rbias", "cover"])


def _two_scenarios() -> pd.DataFrame:
    rows = [_row(m, r, e + s, 0.1, scenario=s, k=k) | {"tau2": 0.1 * s}
            for s, k in ((0, 5), (1, 10)) for m in ("A", "B")
            for r, e in enumerate(EST["A"])]
    return pd.DataFrame(rows)


def test_factors_do_not_depend_on_the_column_order():
    """The scenario factors were the columns before ``scenario``: after
    ``set_index(['scenario', 'replicate']).reset_index()`` none were left and the
    scenarios were pooled silently; with the columns sorted, ``ci_high``, ``estimate``
    and the rest became factors (one row per replicate). The factors are now the columns
    that are not the estimates' own, whatever their order."""
    table = _two_scenarios()
    expected = performance(table)
    assert list(expected.columns[:2]) == ["k", "tau2"] and len(expected) == 2 * 2 * len(MEASURES)
    moved = table.set_index(["scenario", "replicate"]).reset_index()
    pd.testing.assert_frame_equal(performance(moved), expected)
    shuffled = table[sorted(table.columns)]
    got = performance(shuffled)
    pd.testing.assert_frame_equal(got[expected.columns.tolist()], expected)


def test_a_column_varying_within_a_scenario_is_not_taken_as_a_factor():
    table = _two_scenarios().assign(note=lambda d: d["replicate"].astype(str))
    with pytest.raises(DataError, match=r"column\(s\) \['note'\] of estimates vary within a "
                                        "scenario"):
        performance(table)
    assert len(performance(table, factors=["k", "tau2"])) == 2 * 2 * len(MEASURES)
    with pytest.raises(DataError, match=r"factors \['estimate'\] are columns of the estimates"):
        performance(table, factors=["k", "estimate"])
    with pytest.raises(ValueError, match="factors must be a list of column names"):
        performance(table, factors="k")


def test_a_single_measure_name_is_one_measure():
    """``measures="cover"`` was read letter by letter ("got 'c'")."""
    perf = performance(fixed_table(), measures="cover")
    assert set(perf["measure"]) == {"cover"}


def test_relprec_of_the_reference_is_exactly_zero():
    """rho = corr(a, a) came out as 1 - 1e-16, so the reference's MCSE was ~1e-7."""
    rng = np.random.default_rng(2)
    rows = [_row(m, r, float(e), 0.1) for r, e in enumerate(rng.normal(size=200))
            for m in ("A", "B")]
    perf = performance(pd.DataFrame(rows), measures=["relprec"]).set_index("method")
    assert perf.loc["A", ["value", "mcse"]].tolist() == [0.0, 0.0]


def test_a_truth_that_varies_between_replicates():
    """A truth that reads the data (each replicate's own PAPE, a conditional effect) is
    not Table 6's fixed theta: SD(estimate) then holds the truth's spread too, and
    relerror called a correct SE 76 % too small (a user's PAPE study). The spread measures
    are those of the errors: estimates theta_i + N(0, 0.1^2) with SE 0.1 and theta_i of
    SD 0.5 have EmpSE ~0.1 (not ~0.51), relerror ~0 and becover ~0.95. With a constant
    truth the errors' spread is the estimates' (the rsimsum-checked formulas)."""
    rng = np.random.default_rng(11)
    n = 4000
    theta = rng.normal(0.3, 0.5, size=n)
    noise = rng.normal(0.0, 0.1, size=n)
    rows = [_row("A", r, float(t + e), 0.1, truth=float(t)) | {"k": 5}
            for r, (t, e) in enumerate(zip(theta, noise, strict=True))]
    rows += [_row("B", r, float(t + 2 * e + 0.05), 0.2, truth=float(t))
             for r, (t, e) in enumerate(zip(theta, noise, strict=True))]
    perf = performance(pd.DataFrame(rows)).set_index(["method", "measure"])
    a = perf.loc["A"]
    assert a.loc["empse", "value"] == pytest.approx(np.std(noise, ddof=1), rel=1e-12)
    assert abs(a.loc["relerror", "value"]) < 3 * a.loc["relerror", "mcse"] + 1e-9
    assert a.loc["cover", "value"] == pytest.approx(0.95, abs=0.015)
    assert a.loc["becover", "value"] == pytest.approx(0.95, abs=0.015)
    assert a.loc["thetamean", "value"] == pytest.approx(np.mean(theta + noise), rel=1e-12)
    b = perf.loc["B"]
    # B's errors are 2 x A's plus a bias of 0.05: relprec -75 %, exactly, corr 1
    assert b.loc["relprec", "value"] == pytest.approx(-75.0, abs=1e-9)
    assert b.loc["bias", "value"] == pytest.approx(0.05 + 2 * np.mean(noise), rel=1e-12)
    assert b.loc["becover", "value"] == pytest.approx(0.95, abs=0.015)
    # the same estimates against a constant truth: the estimates' own SD (Table 6)
    const = pd.DataFrame(rows).assign(truth=0.3)
    c = performance(const).set_index(["method", "measure"]).loc["A"]
    assert c.loc["empse", "value"] == pytest.approx(np.std(theta + noise, ddof=1), rel=1e-12)


def test_a_study_whose_every_fit_failed_still_reports_its_failures():
    """The only method failing in every replicate gave an empty table, hiding n_failed."""
    rows = [_row("A", r, math.nan, math.nan, error="LinAlgError: singular", estimand="")
            for r in range(3)]
    perf = performance(pd.DataFrame(rows), measures=["bias", "cover"])
    assert list(perf["estimand"]) == ["", ""] and list(perf["n_failed"]) == [3, 3]
    assert perf["value"].isna().all() and (perf["n_ok"] == 0).all()


@pytest.mark.parametrize(("column", "value", "match"), [
    ("estimate", "abc", r"column 'estimate' must hold real numbers, but has 'abc' in row 3"),
    ("estimate", "0.7", r"'estimate' must hold real numbers, but has '0.7'.*nothing is"),
    ("se", True, r"column 'se' must hold real numbers, but has True"),
    ("truth", "0.5", r"column 'truth' must hold real numbers"),
    ("ci_low", "x", r"column 'ci_low'"),
    ("se", -0.1, r"column 'se' is negative in row 3; a standard error is >= 0"),
])
def test_number_columns_are_read_without_conversion(column, value, match):
    """Text (even numeric text) and bools are refused, not converted; a negative SE is
    refused (the studies engine counts it as a failed fit; here it is the caller's)."""
    table = fixed_table().astype({column: object})
    table.loc[3, column] = value
    with pytest.raises(DataError, match=match):
        performance(table)
