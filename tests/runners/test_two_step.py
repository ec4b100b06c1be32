"""``bayes-hte run`` with family "two_step": outputs, consistency with the library, errors."""

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.cli import main
from bayes_hte.runners import FAMILIES
from bayes_hte.runners.schema import SpecError
from bayes_hte.simulate.two_step import two_step
from bayes_hte.spec import run_spec
from tests._helpers import assert_csv_columns_named, sampler_toml, two_step_data_toml

SPEC = two_step_data_toml() + """
[data.params]
design = "simulation2"
trials = 5
tau2 = 0.1
size_range = [40, 60]
missing_visit_fraction = 0.4
z_mean = 0.0
z_sd = 1.0
seed = 1

[model]
family = "two_step"
structure = "compound_symmetry"
bayesian = {bayesian}
one_stage = {one_stage}
{extra}

""" + sampler_toml(draws=100, tune=100) + """
[output]
dir = "{out}"
"""


def write(tmp_path, *, bayesian="false", one_stage="false", extra="", name="spec.toml"):
    p = tmp_path / name
    p.write_text(SPEC.format(bayesian=bayesian, one_stage=one_stage, extra=extra,
                             out=tmp_path / "out"))
    return p


def test_family_registered():
    assert FAMILIES["two_step"] == "bayes_hte.runners.two_step:run"


def test_frequentist_run_outputs_match_library(tmp_path):
    out = run_spec(write(tmp_path), log=lambda m: None)
    assert_csv_columns_named(out)
    for f in ("step1_estimates.csv", "step1_variances.csv", "step2_summary.csv",
              "step2_omega.csv", "structures.csv", "comparison.csv", "forest.png",
              "comparison.png", "report.md"):
        assert (out / f).exists(), f
    sim = two_step(design="simulation2", trials=5, tau2=0.1, size_range=(40, 60),
                   missing_visit_fraction=0.4, z_mean=0.0, z_sd=1.0, seed=1)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    res = bh.comparators.two_step_ipdma(data, structure="compound_symmetry")
    summary = pd.read_csv(out / "step2_summary.csv", index_col=0)
    np.testing.assert_allclose(summary["estimate"], res.step2.estimate, rtol=1e-8)
    np.testing.assert_allclose(summary["se"], res.step2.se, rtol=1e-8)
    comp = pd.read_csv(out / "comparison.csv", index_col=0)
    np.testing.assert_allclose(comp["truth"], sim.mu.to_numpy())
    step1 = pd.read_csv(out / "step1_estimates.csv")
    assert step1["estimate"].isna().sum() == 2 * 3          # 2 trials x 3 visit-3 coefs
    tab = pd.read_csv(out / "structures.csv")
    assert set(tab["structure"]) == {"compound_symmetry", "diagonal", "identity",
                                     "fixed_effect"}
    assert "Two-step IPD meta-analysis" in (out / "report.md").read_text()


def test_bayesian_run_via_cli(tmp_path, capsys):
    spec = write(tmp_path, bayesian="true", one_stage="true")
    assert main(["run", str(spec)]) == 0
    out = tmp_path / "out"
    comp = pd.read_csv(out / "comparison.csv", index_col=0)
    assert {"two_step", "bayes_synthesis", "one_stage"} <= set(comp.columns)
    # the three answers agree within the Bayesian posterior SDs
    assert (abs(comp["bayes_synthesis"] - comp["two_step"]) < comp["bayes_synthesis_sd"]).all()
    assert (abs(comp["one_stage"] - comp["two_step"]) < 1.5 * comp["one_stage_sd"]).all()
    assert (out / "posteriors" / "synthesis.nc").exists()
    assert (out / "posteriors" / "one_stage.nc").exists()
    syn = pd.read_csv(out / "synthesis_summary.csv", index_col=0)
    assert (syn["new_trial_sd"] > syn["sd"]).all()
    assert "done in" in capsys.readouterr().out


def test_spec_errors(tmp_path, capsys):
    with pytest.raises(SpecError, match="\\[model\\] has unknown keys \\['strucure'\\]"):
        run_spec(write(tmp_path, extra='strucure = "identity"'), log=lambda m: None)
    bad = tmp_path / "bad.toml"
    bad.write_text(write(tmp_path).read_text().replace('subject = "subject"\n', ""))
    with pytest.raises(SpecError, match="\\[data\\] needs the column roles \\['subject'\\]"):
        run_spec(bad, log=lambda m: None)
    # errors reach the command line as a message and exit code 2
    assert main(["run", str(bad)]) == 2
    assert "needs the column roles" in capsys.readouterr().err
