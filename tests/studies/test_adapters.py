"""Study adapters of the CIMA and Tzimas simulators and the methods that read their data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_hte.comparators import meta_analysis, meta_regression
from bayes_hte.errors import DataError
from bayes_hte.simulate.shi_cima import shi_cima
from bayes_hte.simulate.tzimas2024 import tzimas2024
from bayes_hte.studies import methods as M
from bayes_hte.studies import simulators as S


@pytest.mark.parametrize(("number", "levels"), [
    (1, {"eta": 1, "beta": 1, "gamma": 1, "theta": 1}),
    (6, {"eta": 2, "beta": 1, "gamma": 2, "theta": 1}),
    (16, {"eta": 2, "beta": 2, "gamma": 2, "theta": 2}),
])
def test_shi_cima_levels_and_truth(number, levels):
    a, b = S._shi_cima(**levels, seed=3), shi_cima(number, seed=3)
    pd.testing.assert_frame_equal(a.effects, b.effects)
    truth = S._shi_cima_truth(**levels)["ate"]
    # the exact target ATE is the expectation of each draw's E{p1 - p0 | target rows}
    draws = np.array([shi_cima(number, seed=s).true_ate_expected for s in range(30)])
    assert abs(truth - draws.mean()) < 4 * draws.std(ddof=1) / np.sqrt(30)
    with pytest.raises(DataError, match="eta must be 1 or 2"):
        S._shi_cima(eta=3)


def test_tzimas_truth_against_a_large_draw():
    truth = S._tzimas_truth()
    sim = tzimas2024(n=200_000, seed=11)
    d = sim.data
    se_te = d["true_te"].std() / np.sqrt(len(d))
    assert abs(truth["ate_logit"] - d["true_te"].mean()) < 4 * se_te
    assert abs(truth["ate_rd"] - d["true_cate"].mean()) < 4 * d["true_cate"].std() / np.sqrt(
        len(d))
    for col in ("anticoagulant", "prior_bleeding", "diabetes"):
        diff = d.loc[d[col] == 1, "true_te"].mean() - d.loc[d[col] == 0, "true_te"].mean()
        assert abs(truth[f"hte_{col}"] - diff) < 0.01, col
    assert truth["hte_anticoagulant"] == 0.4 and truth["hte_female"] == 0.0
    # overridden coefficients enter the truth
    assert S._tzimas_truth(effect={"anticoagulant": 0.0})["hte_anticoagulant"] == 0.0


def test_tzimas_data_keep_the_truth_from_the_methods():
    data = S.SIMULATORS["tzimas2024"].data(tzimas2024(n=50, seed=1))
    assert isinstance(data, S.TrialIPD)
    assert not {"true_te", "p0", "p1", "true_cate"} & set(data.frame.columns)
    assert {"bmi_over_30", "female"} <= set(data.frame.columns)
    assert S.data_seed(data) == S.data_seed(S.SIMULATORS["tzimas2024"].data(
        tzimas2024(n=50, seed=1))) != S.data_seed(data, 1)


@pytest.fixture(scope="module")
def summaries():
    gen = M.make_generate("shi_cima", params={"n": 5000}, factors=["eta"])
    return gen(np.random.default_rng(4), eta=1)


def test_meta_analysis_and_meta_regression_of_trial_summaries(summaries):
    overall = summaries.overall
    assert overall.labels == ("S1", "S2", "S3", "S4", "S5") and overall.measure == "RD"
    out = M.make_method("meta_analysis", options={"method": "REML"})(summaries)
    direct = meta_analysis(overall, method="REML")
    assert list(out) == ["ate"] and out["ate"]["estimate"] == pytest.approx(direct.estimate)
    reg = M.make_method("target_meta_regression", options={"covariates": ["X1", "X3"]})(summaries)
    means = summaries.trial_means
    X = np.column_stack([np.ones(5), means[["X1", "X3"]].to_numpy()])
    x0 = np.r_[1.0, summaries.target[["X1", "X3"]].mean().to_numpy()]
    est, se, lo, hi = meta_regression(overall.yi, overall.vi, X).predict(x0)
    assert reg["ate"] == pytest.approx({"estimate": est, "se": se, "ci_low": lo,
                                        "ci_high": hi})
    with pytest.raises(DataError, match=r"covariate\(s\) \['X9'\]"):
        M.fit_target_meta_regression(summaries, covariates=["X9"])


def test_cima_method_splits_the_target_reproducibly(summaries):
    fit = M.make_method("cima", options={"cate": "~ X1 + X2 + X3"})
    a, b = fit(summaries), fit(summaries)
    assert a == b and a["ate"]["ci_low"] < a["ate"]["estimate"] < a["ate"]["ci_high"]
    other = M.make_method("cima", options={"cate": "~ X1 + X2 + X3", "seed": 1})(summaries)
    assert other["ate"]["estimate"] != a["ate"]["estimate"]       # another split
    whole = M.fit_cima(summaries, base_fraction=0.0)             # default CATE: X1+X2+X3
    assert np.isfinite(whole["ate"]["estimate"])
    with pytest.raises(ValueError, match="base_fraction"):
        M.fit_cima(summaries, base_fraction=1.0)
    with pytest.raises(TypeError, match="TrialSummaries"):
        M.fit_cima(summaries.overall)


@pytest.mark.parametrize(("kind", "options", "match"), [
    ("cima", {"weights": "equal"}, "weights must be one of"),
    ("cima", {"steps": 3}, "steps must be one of"),
    ("subgroup", {}, "needs covariates"),
    ("subgroup", {"covariates": "age"}, "list of column names"),
    ("subgroup", {"covariates": ["age"], "parameterization": "marginal"},
     "parameterization must be one of"),
    ("subgroup", {"covariates": ["age"], "target_accept": 1.5}, "target_accept"),
    # another type than the option's default: refused, not a failed replicate each
    ("cima", {"base_fraction": "half"}, "base_fraction must be a number, got 'half'"),
    ("maic", {"n_boot": "1000"}, "n_boot must be a number, got '1000'"),
])
def test_bad_method_options(kind, options, match):
    with pytest.raises(ValueError, match=match):
        M.make_method(kind, options=options)


def test_trial_summaries_validation():
    eff = pd.DataFrame({"trial": ["A"], "subgroup": ["X1"], "estimate": [0.1], "se": [0.1]})
    cov = pd.DataFrame({"trial": ["A"], "covariate": ["X1"], "mean": [0.5]})
    with pytest.raises(DataError, match=r"trial\(s\) \['A'\] have no overall effect"):
        S.TrialSummaries(effects=eff, covariates=cov, target=pd.DataFrame({"X1": [1.0]}))
    with pytest.raises(DataError, match=r"no column\(s\) \['se'\]"):
        S.TrialSummaries(effects=eff.drop(columns="se"), covariates=cov,
                         target=pd.DataFrame({"X1": [1.0]}))
    with pytest.raises(ValueError, match="needs TrialSummaries data"):
        M.check_method_data("cima", "normal_meta")
    with pytest.raises(ValueError, match="needs TrialIPD data"):
        M.check_method_data("subgroup", "shi_cima")
