"""``bayes-hte run`` with family "subgroup": outputs, consistency with the library, errors."""

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.evaluation.truth import cate_accuracy
from bayes_hte.runners import FAMILIES
from bayes_hte.runners.schema import SpecError
from bayes_hte.simulate.tzimas2024 import tzimas2024
from bayes_hte.spec import run_spec
from tests._helpers import assert_csv_columns_named, sampler_toml

SPEC = """
[data]
source = "simulate:tzimas2024"
params = {{ n = 600, seed = 3 }}
outcome = "event"
treatment = "treatment"
covariates = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"]
{data_extra}

[model]
family = "subgroup"
subgroups = {subgroups}
interactions = ["age", "anticoagulant", "diabetes"]
{model_extra}

""" + sampler_toml() + """
[output]
dir = "{out}"
risk_groups = 4
"""


def write(tmp_path, *, data_extra="", model_extra="", subgroups='["gender"]'):
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(out=tmp_path / "out", data_extra=data_extra,
                             model_extra=model_extra, subgroups=subgroups))
    return p


def test_family_registered():
    assert FAMILIES["subgroup"] == "bayes_hte.runners.subgroup:run"


def test_run_writes_report_consistent_with_library(tmp_path):
    logs = []
    out = run_spec(write(tmp_path), log=logs.append)
    assert_csv_columns_named(out)
    for f in ("posterior.nc", "parameters.csv", "geweke.csv", "sampling.csv",
              "cate_summary.csv", "subgroup_effects.csv", "risk_table.csv",
              "truth_metrics.csv", "subgroup_trace.png", "subgroup_rank.png",
              "subgroup_density.png", "cate_by_risk.png", "cate_vs_truth.png",
              "subgroup_effects.png", "ppc_event_rates.png", "report.md", "report.html"):
        assert (out / f).exists(), f
    params = pd.read_csv(out / "parameters.csv", index_col=0)
    for col in ("r_hat", "r_hat_classic", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd"):
        assert col in params.columns
    assert "mu_tau" in params.index and "alpha_anchor" not in params.index
    gew = pd.read_csv(out / "geweke.csv", index_col=0)
    assert list(gew.columns) == ["chain_1", "chain_2"] and list(gew.index) == list(params.index)
    # the saved posterior reproduces the tables
    sg = bh.SubgroupHTEModel.load(out / "posterior.nc")
    sim = tzimas2024(n=600, seed=3)
    metrics = pd.read_csv(out / "truth_metrics.csv", index_col=0)
    expected = cate_accuracy(sg.cate_logit(), sim.true_te)
    np.testing.assert_allclose(metrics.loc[expected.index, "logit"], expected, rtol=1e-10)
    assert metrics.loc["correlation", "paper_table7"] == 0.784
    risk = pd.read_csv(out / "risk_table.csv", index_col=[0, 1])
    np.testing.assert_allclose(risk.loc["logit"]["mean_cate"],
                               sg.risk_table(groups=4)["mean_cate"], rtol=1e-10)
    assert (risk.loc["logit"]["n"] == 150).all()
    cate = pd.read_csv(out / "cate_summary.csv", index_col=0)
    np.testing.assert_allclose(cate["true_logit"], sim.true_te)
    report = (out / "report.md").read_text()
    for heading in ("## Sampling", "## Convergence diagnostics", "### Geweke z-scores",
                    "## Subgroup treatment effects",
                    "## CATE by group of predicted baseline risk", "## CATE against the truth"):
        assert heading in report
    assert any("CATE vs truth" in m for m in logs)


def test_spec_errors(tmp_path):
    with pytest.raises(SpecError, match=r"\[model\] has unknown keys \['learner'\]"):
        run_spec(write(tmp_path, model_extra='learner = "s"'), log=lambda m: None)
    with pytest.raises(SpecError, match="truth_logit = 'nope' is not a column"):
        run_spec(write(tmp_path, data_extra='truth_logit = "nope"'), log=lambda m: None)
    with pytest.raises(bh.DataError, match="subgrouping column 'sex' is not in the data"):
        run_spec(write(tmp_path, subgroups='["sex"]'), log=lambda m: None)
