"""The two-step and CIMA two-step study specs: adapters, method kinds, specs end to end.

``models/studies/two_step_longitudinal.toml`` (simulator ``two_step``, kinds
``one_step_mixed`` and ``two_step_mvmeta``) and ``models/studies/cima_two_step.toml``
(simulator ``cima_linear``, kind ``cima`` with ``subgroups``), run shrunk, and the docs
tables of ``validation/study_tables.py`` made from their stores.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_hte.comparators import cima
from bayes_hte.comparators.mixed import mixed_model, per_trial_mixed_models
from bayes_hte.data import LongitudinalData
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.simulate import cima_linear, two_step
from bayes_hte.simulate.cima_linear import linear_cate_truth
from bayes_hte.simulate.two_step import COEF_NAMES, MU
from bayes_hte.spec import run_study_spec
from bayes_hte.studies import load
from bayes_hte.studies import methods as M
from bayes_hte.studies.longitudinal_methods import fit_one_step_mixed, fit_two_step_mvmeta
from bayes_hte.studies.simulators import SIMULATORS, TrialSummaries
from tests._helpers import validation_script
from tests.studies._specs import SPECS, edited_spec

ROOT = Path(__file__).resolve().parents[2]
FACTORS = ["design", "trials", "tau2", "missing_visit_fraction"]


def _tables():
    return validation_script("study_tables")


@pytest.fixture(scope="module")
def longitudinal() -> LongitudinalData:
    """Four small trials, two of them without visit 3 (Simulation 2(b))."""
    sim = two_step(design="simulation2", trials=4, tau2=0.1, missing_visit_fraction=0.4,
                   size_range=(40, 80), seed=3)
    return SIMULATORS["two_step"].data(sim)


@pytest.fixture(scope="module")
def summaries() -> TrialSummaries:
    gen = M.make_generate("cima_linear", params={"n_trial": 2000, "n_target": 800})
    return gen(np.random.default_rng(11))


# ----------------------------------------------------------------------------- adapters
def test_two_step_adapter_gives_longitudinal_data_and_the_design_truth(longitudinal):
    assert isinstance(longitudinal, LongitudinalData)
    assert longitudinal.n_studies == 4
    truth = M.make_truth("two_step")(design="simulation2", trials=5, tau2=0.2,
                                     missing_visit_fraction=0.4)
    assert truth == dict(zip(COEF_NAMES, MU, strict=True))       # the paper's mu
    other = tuple(0.1 * k for k in range(10))
    assert M.make_truth("two_step", params={"mu": list(other)})() == dict(
        zip(COEF_NAMES, other, strict=True))
    # the study's draw is the simulator's draw with the replicate's generator
    gen = M.make_generate("two_step", params={"size_range": [40, 60]}, factors=FACTORS)
    data = gen(np.random.default_rng(5), design="simulation1", trials=3, tau2=0.0,
               missing_visit_fraction=0.0)
    sim = two_step(design="simulation1", trials=3, tau2=0.0, size_range=(40, 60),
                   seed=np.random.default_rng(5))
    np.testing.assert_array_equal(data.y, LongitudinalData.from_frame(
        sim.data, **sim.columns).y)
    with pytest.raises(ValueError, match=r"scenario factors \['tau'\] are not parameters"):
        M.make_generate("two_step", factors=["tau"])
    with pytest.raises(ValueError, match="needs LongitudinalData data, but simulator "
                                         "'shi_cima' gives TrialSummaries"):
        M.check_method_data("two_step_mvmeta", "shi_cima")


def test_cima_linear_truth_is_the_target_mean_of_the_cate():
    sim = cima_linear(n_trial=500, n_target=300, seed=np.random.default_rng(4))
    truth = sim.true_ate
    # the CATE 0.5 + 0.3 x1 - 0.4 x2 averaged over this draw's target rows, by hand
    expected = float(np.mean(0.5 + 0.3 * sim.target["x1"] - 0.4 * sim.target["x2"]))
    assert truth == pytest.approx(expected, abs=1e-12)
    assert len(sim.target) == 300
    # population ATE: 0.5 + 0.3 * 0.3 - 0.4 * 0.45 (the design values)
    assert sim.true_ate_population == pytest.approx(0.41, abs=1e-12)
    data = SIMULATORS["cima_linear"].data(sim)
    assert SIMULATORS["cima_linear"].truth_reads_data
    assert M.make_truth("cima_linear")(data=data) == {"ate": truth}
    assert M.make_truth("cima_linear", params={"theta": [1.0, 0.0, 0.0]})(data=data) == {
        "ate": 1.0}
    assert linear_cate_truth(sim.target) == truth
    with pytest.raises(ValueError, match="theta must be 3 finite numbers"):
        cima_linear(theta=(1.0, 2.0))
    with pytest.raises(ValueError, match="n_trial must be an integer >= 20"):
        cima_linear(n_trial=10)


# ----------------------------------------------------------------------------- methods
def _same(out: dict, res) -> None:
    """The method's estimates equal the comparator result's, bit for bit."""
    lo, hi = res.ci
    for k, name in enumerate(res.names):
        got = out[name]
        assert got["estimate"] == res.estimate[k] or (
            np.isnan(got["estimate"]) and np.isnan(res.estimate[k]))
        assert got["se"] == res.se[k]
        assert got["ci_low"] == lo[k] and got["ci_high"] == hi[k]
    assert out["converged"] == {"estimate": float(bool(res.converged))}
    assert set(out) == {*res.names, "converged"}


def test_one_step_kind_equals_mixed_model(longitudinal):
    _same(M.make_method("one_step_mixed", options={"method": "REML"})(longitudinal),
          mixed_model(longitudinal))
    _same(fit_one_step_mixed(longitudinal, method="ML", ci_prob=0.9),
          mixed_model(longitudinal, method="ML", ci_prob=0.9))


@pytest.mark.parametrize("options", [{"method": "FE"},
                                     {"method": "REML", "structure": "compound_symmetry"},
                                     {"method": "ML", "structure": "diagonal",
                                      "lmm_method": "ML"}])
def test_two_step_kind_equals_per_trial_models_and_mvmeta(longitudinal, options):
    out = M.make_method("two_step_mvmeta", options=options)(longitudinal)
    step1 = per_trial_mixed_models(longitudinal, method=options.get("lmm_method", "REML"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = step1.mvmeta(method=options["method"],
                           structure=options.get("structure", "compound_symmetry"))
    _same(out, res)
    # the visit-3 coefficients come from the two trials that measured visit 3
    assert np.isfinite(out["treat:visit[3]"]["estimate"])


@pytest.mark.parametrize("subgroups", [["x1"], None])
@pytest.mark.parametrize("steps", [1, 2])
def test_cima_kind_with_subgroups_equals_cima_on_those_rows(summaries, subgroups, steps):
    method = M.make_method("cima", options={"cate": "~ x1 + x2", "base_fraction": 0.0,
                                             "steps": steps, "subgroups": subgroups})
    eff = summaries.effects
    rows = eff if subgroups is None else eff[eff["subgroup"].isin(subgroups)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        out = method(summaries)["ate"]
        ate = cima(rows, summaries.covariates, summaries.target, cate="~ x1 + x2",
                   steps=steps).ate
    assert out == {"estimate": float(ate.estimate), "se": float(ate.se),
                   "ci_low": float(ate.ci_low), "ci_high": float(ate.ci_high)}


@pytest.mark.parametrize(("kind", "options", "match"), [
    ("two_step_mvmeta", {"method": "DL"}, "method must be one of 'REML', 'ML', 'FE'"),
    ("two_step_mvmeta", {"structure": "banded"}, "structure must be one of"),
    ("two_step_mvmeta", {"covariance": "ar1"}, "covariance must be one of"),
    ("two_step_mvmeta", {"lmm_method": "FE"}, "lmm_method must be one of"),
    ("two_step_mvmeta", {"ci_prob": 95}, r"ci_prob \(the confidence level\) must lie in"),
    ("two_step_mvmeta", {"tau2": 0.1}, r"has no option\(s\) \['tau2'\]"),
    ("one_step_mixed", {"method": "FE"}, "method must be one of 'REML', 'ML'"),
    ("one_step_mixed", {"covariance": "ar1"}, "covariance must be one of"),
    ("cima", {"subgroups": "x1"}, "subgroups must be a list"),
])
def test_bad_options_raise_naming_the_option(kind, options, match):
    with pytest.raises(ValueError, match=match):
        M.make_method(kind, options=options)


def test_bad_calls_of_the_functions(longitudinal, summaries):
    with pytest.raises(ValueError, match="structure must be one of"):
        fit_two_step_mvmeta(longitudinal, structure="banded")
    with pytest.raises(ValueError, match="method must be one of"):
        fit_one_step_mixed(longitudinal, method="FE")
    with pytest.raises(ValueError, match=r"ci_prob \(the confidence level\) must lie in"):
        fit_one_step_mixed(longitudinal, ci_prob=1.0)
    with pytest.raises(TypeError, match="needs longitudinal IPD"):
        fit_two_step_mvmeta(summaries)
    with pytest.raises(ValueError, match="subgroups must be a non-empty list"):
        M.fit_cima(summaries, subgroups=[])
    with pytest.raises(DataError, match=r"subgroups \['x3'\] are not reported"):
        M.fit_cima(summaries, subgroups=["x3"])


# ----------------------------------------------------------------------------- specs
def test_two_step_spec_runs_shrunk_and_makes_its_docs_table(tmp_path):
    text = (SPECS / "two_step_longitudinal.toml").read_text()
    grid = text[text.index("# Simulation 1 (Table 1)"):text.index("[methods.one_step]")]
    assert grid.count("[[scenario]]") == 16
    two = ('[[scenario]]\ndesign = "simulation1"\ntrials = 5\ntau2 = 0.0\n'
           'missing_visit_fraction = 0.0\n\n[[scenario]]\ndesign = "simulation2"\n'
           'trials = 5\ntau2 = 0.1\nmissing_visit_fraction = 0.4\n\n')
    spec = edited_spec("two_step_longitudinal", tmp_path,
                       [(grid, two), ("params = {}", "params = { size_range = [30, 60] }"),
                        ('figures = ["performance"]', "figures = []")])
    out = run_study_spec(spec, replicates=2, progress=False, log=lambda m: None)
    perf = pd.read_csv(out / "performance.csv")
    assert list(perf.columns[:4]) == FACTORS
    assert list(pd.unique(perf["method"])) == ["one_step", "two_step_FE", "two_step_REML"]
    assert set(perf["estimand"]) == {*COEF_NAMES, "converged"}
    assert (perf["n_failed"] == 0).all()
    cover = perf[(perf["measure"] == "cover") & (perf["estimand"] != "converged")]
    assert len(cover) == 2 * 3 * 10 and (cover["n_ok"] == 2).all()
    est = load(out / "store" / "main").estimates
    coefs = est[est["estimand"] != "converged"]
    assert coefs.groupby("estimand")["truth"].unique().map(list).to_dict() == {
        c: [m] for c, m in zip(COEF_NAMES, MU, strict=True)}
    text = _tables().two_step_markdown(est, command="cmd")
    for part in ("**Table 1 (Simulation 1", "**Table 3 (Simulation 2(b)",
                 "| mu2 = 0.14 (treat) | Mean |", "(0.135)", "min corr(one, two)",
                 "| Simulation 2(b), N=5, tau2=0.1 |"):
        assert part in text, part
    assert "**Table 2" not in text                 # no Simulation 2(a) scenario was run


def test_cima_two_step_spec_runs_shrunk_and_makes_its_docs_table(tmp_path):
    spec = edited_spec("cima_two_step", tmp_path,
                       [("params = { n_trial = 20000, n_target = 5000 }",
                         "params = { n_trial = 3000, n_target = 600 }")])
    out = run_study_spec(spec, replicates=2, progress=False, log=lambda m: None)
    perf = pd.read_csv(out / "performance.csv")
    assert list(pd.unique(perf["method"])) == ["x1_only_1step", "x1_only_2step",
                                               "all_1step", "all_2step"]
    assert (perf["n_ok"] == 2).all() and (perf["n_failed"] == 0).all()
    assert (out / "estimates_ate.png").exists()
    est = load(out / "store" / "main").estimates
    # the truth is each replicate's target mean of the CATE, the same for every method
    assert est.groupby("replicate")["truth"].nunique().eq(1).all()
    assert est["truth"].sub(0.41).abs().max() < 0.05
    text = _tables().cima_markdown(est, command="cmd")
    assert "| x1 strata only | 1 |" in text and "| overall + x1 and x2 strata | 2 |" in text
