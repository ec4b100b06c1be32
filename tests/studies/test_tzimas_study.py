"""The Tzimas (2024) study: per-patient accuracy and sampling health of the ``subgroup``
method kind, the true CATEs its data carry, and the docs tables made from a stored study
(``validation/tzimas2024_tables.py``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bayes_hte import diagnostics
from bayes_hte.errors import DataError
from bayes_hte.estimators import SubgroupHTEModel
from bayes_hte.evaluation.truth import cate_accuracy
from bayes_hte.simulate.tzimas2024 import tzimas2024
from bayes_hte.spec import run_study_spec
from bayes_hte.studies import Study, ipd_methods, load
from bayes_hte.studies import methods as M
from bayes_hte.studies.ipd_methods import SUBGROUP_HEALTH_METRICS, SUBGROUP_PATIENT_METRICS
from bayes_hte.studies.simulators import SIMULATORS, TrialIPD, data_seed
from tests._helpers import validation_script
from tests.studies._specs import edited_spec

#: The paper's analysis model, tiny single-chain PyMC fits.
OPTIONS = {"covariates": ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"],
           "interactions": ["age", "anticoagulant", "diabetes"], "subgroups": ["gender"],
           "contrasts": ["anticoagulant", "female"], "draws": 30, "tune": 30, "chains": 1,
           "sampler": "pymc"}
POPULATION = {"ate_logit", "ate_rd", "hte_anticoagulant", "hte_female"}


@pytest.fixture(scope="module")
def trial() -> TrialIPD:
    return SIMULATORS["tzimas2024"].data(tzimas2024(n=300, seed=3))


@pytest.fixture(scope="module")
def fitted(trial):
    """The method's output on the trial and the model it fitted (recorded)."""
    models = []

    class Recording(SubgroupHTEModel):
        def fit(self, *args, **kwargs):
            models.append(self)
            return super().fit(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ipd_methods, "SubgroupHTEModel", Recording)
        out = M.make_method("subgroup", options=OPTIONS)(trial)
    assert len(models) == 1
    return out, models[0]


def test_the_tzimas_data_carry_the_true_cates_in_row_order(trial):
    sim = tzimas2024(n=300, seed=3)
    truth = trial.true_effects
    assert list(truth.columns) == ["true_te", "true_cate"] and len(truth) == len(trial.frame)
    np.testing.assert_array_equal(truth["true_te"], sim.true_te)
    np.testing.assert_array_equal(truth["true_cate"], sim.data["true_cate"])
    # the truth is not in what a fit reads, nor in the data's seed (stored results hold)
    assert not {"true_te", "true_cate"} & set(trial.frame.columns)
    assert data_seed(trial) == data_seed(dataclasses.replace(trial, true_effects=None))


@pytest.mark.parametrize(("truth", "match"), [
    (pd.DataFrame({"true_te": [0.0, 1.0]}), r"lacks the column\(s\) \['true_cate'\]"),
    (pd.DataFrame({"true_te": [0.0], "true_cate": [0.0]}), "has 1 rows but the trial has 2"),
    (pd.DataFrame({"true_te": [0.0, np.nan], "true_cate": [0.0, 0.1]}), r"rows \[1\]"),
])
def test_bad_true_effects_are_refused(truth, match):
    frame = pd.DataFrame({"event": [0, 1], "treatment": [0, 1], "age": [50.0, 60.0]})
    with pytest.raises(DataError, match=match):
        TrialIPD(frame=frame, true_effects=truth)


def test_subgroup_kind_reports_every_per_patient_metric_and_the_sampling_health(fitted):
    out, _ = fitted
    assert set(out) == POPULATION | set(SUBGROUP_PATIENT_METRICS) | set(SUBGROUP_HEALTH_METRICS)
    for name in (*SUBGROUP_PATIENT_METRICS, *SUBGROUP_HEALTH_METRICS):
        assert list(out[name]) == ["estimate"], name      # metrics: no SE, no interval
    value = {k: v["estimate"] for k, v in out.items()}
    for scale in ("logit", "rd"):
        assert -1 <= value[f"cate_{scale}_corr"] <= 1
        assert 0 <= value[f"cate_{scale}_cover"] <= 1
        assert 0 <= value[f"cate_{scale}_mae"] <= value[f"cate_{scale}_rmse"]
        assert abs(value[f"cate_{scale}_bias"]) <= value[f"cate_{scale}_mae"]
        assert value[f"cate_{scale}_width"] > 0
    assert value["divergences"] >= 0 and value["divergences"] == int(value["divergences"])
    assert np.isnan(value["max_r_hat"])                    # one chain: R-hat undefined
    assert 0 < value["min_ess_bulk"] and 0 < value["min_ess_tail"]
    assert 0 <= value["geweke_over_2"] <= 1


def test_the_metrics_equal_a_hand_computation_from_the_fitted_draws(fitted, trial):
    out, model = fitted
    truth = trial.true_effects
    cate = model.cate_logit()                                  # (chain, draw, patient)
    draws = cate.transpose("chain", "draw", "patient").values.reshape(-1, len(trial.frame))
    est = draws.mean(axis=0)
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    te = truth["true_te"].to_numpy()
    assert out["cate_logit_corr"]["estimate"] == pytest.approx(np.corrcoef(est, te)[0, 1])
    assert out["cate_logit_cover"]["estimate"] == pytest.approx(np.mean((lo <= te) & (te <= hi)))
    assert out["cate_logit_rmse"]["estimate"] == pytest.approx(np.sqrt(np.mean((est - te) ** 2)))
    # the same as bayes_hte.evaluation.truth.cate_accuracy (the old script's scoring)
    acc = cate_accuracy(cate, te)
    for ours, theirs in (("corr", "correlation"), ("rmse", "rmse"), ("mae", "mae"),
                         ("bias", "bias"), ("cover", "coverage"), ("width", "mean_width")):
        assert out[f"cate_logit_{ours}"]["estimate"] == pytest.approx(acc[theirs]), ours
    rd = cate_accuracy(model.ite(), truth["true_cate"].to_numpy())
    assert out["cate_rd_rmse"]["estimate"] == pytest.approx(rd["rmse"])
    cond = model.cate_logit(kind="conditional").mean(("chain", "draw")).values
    assert out["cate_logit_bias_conditional"]["estimate"] == pytest.approx(np.mean(cond - te))
    health = diagnostics.sampling_summary(model.idata, var_names=model.diagnostic_vars())
    assert out["divergences"]["estimate"] == health["divergences"]
    assert out["min_ess_bulk"]["estimate"] == pytest.approx(health["min_ess_bulk"])


def test_trial_without_truth_gives_no_per_patient_metrics(trial, fitted):
    out = M.make_method("subgroup", options=OPTIONS)(
        dataclasses.replace(trial, true_effects=None))
    assert set(out) == POPULATION | set(SUBGROUP_HEALTH_METRICS)
    # the same fit (seeded by the data, not the truth): the same population estimands
    for name in POPULATION:
        assert out[name] == pytest.approx(fitted[0][name])


def test_patient_metrics_false_reports_the_population_estimands_only(trial):
    options = {**OPTIONS, "interactions": [], "subgroups": [], "contrasts": [],
               "individual_effects": False, "draws": 10, "tune": 10,
               "patient_metrics": False}
    assert set(M.make_method("subgroup", options=options)(trial)) == {"ate_logit", "ate_rd"}


def test_patient_accuracy_of_a_constant_estimate_has_no_correlation():
    draws = np.zeros((1, 4, 3)) + np.array([0.0, 1.0, 2.0, 3.0])[None, :, None]
    acc = ipd_methods._patient_accuracy(draws, np.array([0.0, 1.5, 3.0]), 0.5)
    assert np.isnan(acc["corr"])
    # posterior mean 1.5 for all; 50 % intervals [0.75, 2.25] (linear quantiles)
    assert acc["rmse"] == pytest.approx(np.sqrt((1.5**2 * 2) / 3))
    assert acc["cover"] == pytest.approx(1 / 3) and acc["width"] == pytest.approx(1.5)


# ----------------------------------------------------------------------------- tables
def _tables():
    return validation_script("tzimas2024_tables")


def test_the_docs_tables_come_from_a_stored_study(tmp_path):
    """The spec shrunk to one small replicate; every block of docs/subgroup.md from it."""
    path = edited_spec("tzimas2024_coverage", tmp_path, [
        ("draws = 1000", "draws = 30"), ("tune = 1000", "tune = 30"),
        ("chains = 4", 'chains = 1\nsampler = "pymc"'), ("n = 2000 }", "n = 300 }"),
        ('figures = ["performance", "estimates"]', "figures = []")])
    out = run_study_spec(path, replicates=1, progress=False, log=lambda m: None)
    est = load(out / "store" / "main").estimates
    assert (est["error"] == "").all(), est["error"].unique()
    perf = pd.read_csv(out / "performance.csv")
    mean = perf[perf["measure"] == "thetamean"].set_index(["method", "estimand"])["value"]
    assert set(SUBGROUP_PATIENT_METRICS) <= set(mean.loc["full"].index)

    tables = _tables()
    blocks = tables.blocks(out, command="CMD")
    assert list(blocks) == ["tzimas-metrics", "tzimas-population", "tzimas-sampling",
                            "tzimas-perfit"]
    methods = ["paper", "paper_no_individual", "full"]
    metrics = blocks["tzimas-metrics"]
    assert "| metric | paper (1 data set) | paper | paper_no_individual | full |" in metrics
    # one replicate: the mean is the replicate's value, its MCSE undefined
    corr = mean["paper", "cate_logit_corr"]
    assert f"| correlation | 0.784 | {corr:.3f} (nan) |" in metrics
    assert "Made by `CMD`" in metrics and "1 data sets" in metrics
    population = blocks["tzimas-population"]
    bias = est[(est["method"] == "full") & (est["estimand"] == "ate_logit")].iloc[0]
    assert f"| ate_logit | {bias['truth']:.4f} |" in population
    assert f"{bias['estimate'] - bias['truth']:.3f} (nan)" in population
    sampling = blocks["tzimas-sampling"]
    assert "| measure | " + " | ".join(methods) + " |" in sampling
    for row in ("divergences (total)", "min_ess_bulk worst (min)", "wall_s mean",
                "geweke_over_2 worst (max)"):
        assert f"| {row} |" in sampling, row
    perfit = blocks["tzimas-perfit"].splitlines()
    assert perfit[0].startswith("| replicate | method | events | correlation | rmse |")
    assert len(perfit) == 2 + len(methods)
    assert all(line.startswith(f"| 0 | {m} | ") for m, line in zip(methods, perfit[2:],
                                                                      strict=True))
    # events: those of the replicate's data set, regenerated by the study's seeds
    study = Study(name="x", generate=M.make_generate("tzimas2024", params={"n": 300}),
                  methods={"m": lambda d: {}}, truth=M.make_truth("tzimas2024"),
                  scenarios=[{}], replicates=1, seed=2024)
    data = study.data(0, 0)
    assert perfit[2].split(" | ")[2] == str(int(data.frame["event"].sum()))
    # --write-docs replaces the blocks of the page, markers kept
    doc = tmp_path / "subgroup.md"
    doc.write_text("".join(f"<!-- {n}:start -->\nOLD TEXT\n<!-- {n}:end -->\n" for n in blocks))
    for name, text in blocks.items():
        tables.write_block(name, text, doc=doc)
    written = doc.read_text()
    assert "OLD TEXT" not in written and metrics in written and "tzimas-perfit:end" in written
