"""The study specs of models/studies/ run end to end (shrunk), and bad specs are refused.

``bayes-hte study`` = :func:`bayes_hte.spec.run_study_spec` → :mod:`bayes_hte.runners.study`
→ :mod:`bayes_hte.studies` (with the methods of :mod:`bayes_hte.studies.methods`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_hte.cli import main
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import load_spec, load_study_spec, run_study_spec
from bayes_hte.studies import load
from bayes_hte.studies.ipd_methods import SUBGROUP_HEALTH_METRICS, SUBGROUP_PATIENT_METRICS
from tests.studies._specs import edited_spec as _edited

SPECS = Path(__file__).resolve().parents[2] / "models" / "studies"
#: Few, short, single-chain PyMC fits (in process, PyMC reuses its compiled model).
FAST_BAYES = [("draws = 500", "draws = 40"), ("tune = 500", "tune = 40"),
              ("chains = 2", 'chains = 1\nsampler = "pymc"')]


def _shrunk(name: str, tmp_path: Path, edits=()) -> Path:
    return _edited(name, tmp_path, [*FAST_BAYES, *edits])


def test_berenfeld2026_coverage_spec_runs_shrunk(tmp_path):
    spec = _shrunk("berenfeld2026_coverage", tmp_path,
                   [('figures = ["performance", "zip", "estimates"]',
                     'figures = ["performance", "estimates"]')])
    messages = []
    out = run_study_spec(spec, replicates=3, progress=False, log=messages.append)
    assert out == tmp_path / "out"
    perf = pd.read_csv(out / "performance.csv")
    methods = ["causal_delta", "causal_paper", "causal_conditional", "FE", "DL", "DL_HKSJ",
               "bayes_causal"]
    assert list(pd.unique(perf["method"])) == methods
    assert set(perf["estimand"]) == {"RD", "RR", "OR"}
    assert set(perf["measure"]) == {"cover", "becover", "bias", "empse", "modelse",
                                    "relerror"}
    assert (perf["n_ok"] == 3).all() and (perf["n_failed"] == 0).all()
    cover = perf[perf["measure"] == "cover"].set_index(["method", "estimand"])["value"]
    assert cover["FE", "RR"] == 0.0           # the FE interval targets another population
    # the methods without their own replicates share a sub-store; bayes_causal has its own
    main_store, bayes_store = load(out / "store" / "main"), load(out / "store" / "bayes_causal")
    assert main_store.methods == methods[:-1] and bayes_store.methods == ["bayes_causal"]
    est = main_store.estimates
    assert sorted(pd.unique(est["replicate"])) == [0, 1, 2]
    assert est.loc[est["estimand"] == "RR", "truth"].round(3).eq(0.828).all()
    for name in ("report.md", "report.html", "spec.json", "performance_cover.png",
                 "performance_relerror.png", "estimates_RR.png"):
        assert (out / name).exists(), name
    assert not list(out.glob("zip_*.png"))
    report = (out / "report.md").read_text()
    for text in ("## ADEMP", "### Aims", "### Data-generating mechanisms", "### Estimands",
                 "### Performance measures", "### cover", "| method | RD | RR | OR | n |",
                 "bayes-hte study berenfeld2026_coverage.toml"):
        assert text in report, text
    assert json.loads((out / "spec.json").read_text())["study"]["seed"] == 2026
    # a rerun on the same store fits nothing and gives the same table
    messages.clear()
    run_study_spec(spec, replicates=3, progress=False, log=messages.append)
    assert sum("0 replicates run, 3 found in the store" in m for m in messages) == 2
    pd.testing.assert_frame_equal(pd.read_csv(out / "performance.csv"), perf)
    # a rerun asking for fewer replicates (a quick look) does not shrink the tables: they
    # are rewritten from every stored replicate, and the log says so
    messages.clear()
    run_study_spec(spec, replicates=2, progress=False, log=messages.append)
    assert sum("the store holds 3 replicates per scenario (more than this run's 2)" in m
               for m in messages) == 2
    pd.testing.assert_frame_equal(pd.read_csv(out / "performance.csv"), perf)


def test_bayes_meta_coverage_spec_runs_shrunk_on_the_command_line(tmp_path):
    spec = _shrunk("bayes_meta_coverage", tmp_path, [("k = [5, 10]", "k = [5]")])
    assert main(["study", str(spec), "--replicates", "3"]) == 0
    out = tmp_path / "out"
    perf = pd.read_csv(out / "performance.csv")
    assert list(perf.columns[:2]) == ["k", "tau2"]
    assert set(perf["method"]) == {"REML", "bayes"} and set(perf["estimand"]) == {"mu"}
    assert len(perf) == 2 * 2 * 4 and (perf["n_ok"] == 3).all()
    for name in ("report.md", "zip_REML_mu.png", "zip_bayes_mu.png", "estimates_mu.png",
                 "performance_modelse.png"):
        assert (out / name).exists(), name
    est = load(out / "store" / "main").estimates
    assert est["truth"].eq(0.3).all() and (est["error"] == "").all()


BASE = "bayes_meta_coverage"


@pytest.mark.parametrize(("edit", "message"), [
    (("seed = 2026", "seed = 2026\nrepeats = 3"),
     r"\[study\] has unknown keys \['repeats'\]"),
    (('method = "REML"', 'method = "REML"\nknha_x = true'),
     r"\[methods.REML\] has unknown keys \['knha_x'\]"),
    (("[output]", "[outputs]\n[output]"), r"unknown tables \['outputs'\]"),
    (('kind = "meta_analysis"', 'kind = "meta_regression"'),
     r"\[methods.REML\]: unknown method kind 'meta_regression'"),
    (('method = "REML"', 'method = "GENQ"'), r"\[methods.REML\]: method must be one of"),
    (('simulator = "normal_meta"', 'simulator = "normal_metaa"'),
     r"\[data\] simulator 'normal_metaa' cannot be used"),
    (('simulator = "normal_meta"', 'simulator = "normal_meta_truth"'),
     r"no study adapter is registered"),
    (("params = { mu = 0.3,", "params = { muu = 0.3,"),
     r"fixed params \['muu'\] are not parameters of simulator 'normal_meta'"),
    (("k = [5, 10]", "kk = [5, 10]"), r"scenario factors \['kk'\] are not parameters"),
    # a value of another type than the parameter's or option's default is refused before
    # any replicate, not stored as 100 % failed replicates
    (("params = { mu = 0.3,", 'params = { mu = "0.3",'),
     r"fixed param 'mu' must be a number, got '0.3'"),
    # ... and so is a scenario level: of the wrong type, or one the simulator refuses
    (("k = [5, 10]", 'k = [5, "twenty"]'),
     r"\[scenarios\] scenario 2 \(\{'k': 'twenty'.*level of 'k' must be a number"),
    (("k = [5, 10]", "k = [5, -3]"),
     r"\[scenarios\] scenario 2 \(\{'k': -3.*cannot be simulated with 'normal_meta': "
     r"DataError: .*k"),
    (("k = [5, 10]", "k = [5, 10, 5]"), r"\[scenarios\] scenario 4 repeats scenario 0"),
    (('tau_prior = "half_normal"', 'tau_prior = "half_normal"\nparameterization = 1'),
     r"\[methods.bayes\]"),
    (('kind = "bayes_meta_analysis"', 'kind = "causal_meta_analysis"'),
     r"needs ArmTable data, but simulator 'normal_meta' gives EffectTable"),
    (('measures = ["cover", "bias", "empse", "modelse"]', 'measures = ["coverage"]'),
     r"\[output\] measures \['coverage'\] are unknown"),
    (('measures = ["cover", "bias", "empse", "modelse"]', 'measures = ["bias"]'),
     r"\[output\] figures has 'zip' .* needs 'cover' in \[output\] measures"),
    (('estimands = "μ, the mean of the study effects (0.3)."', ""),
     r"\[ademp\] needs 'estimands'"),
    # a dpi of 0 passed, and failed in matplotlib after the whole study had run
    (('figures = ["performance", "zip", "estimates"]',
      'figures = ["performance", "zip", "estimates"]\ndpi = 0'),
     r"\[output\] dpi must be an integer in 10\.\.1200, got 0"),
    (('figures = ["performance", "zip", "estimates"]',
      'figures = ["performance", "zip", "estimates"]\ndpi = 100000'),
     r"\[output\] dpi must be an integer in 10\.\.1200"),
])
def test_bad_specs_raise_spec_errors_naming_the_key(tmp_path, edit, message):
    text = (SPECS / f"{BASE}.toml").read_text()
    assert edit[0] in text, edit[0]
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(SpecError, match=message):
        run_study_spec(path, outdir=tmp_path / "out", progress=False, log=lambda m: None)
    assert not (tmp_path / "out" / "store").exists()   # refused before any work


def test_spec_kinds_are_told_apart(tmp_path, capsys):
    with pytest.raises(SpecError, match="simulation-study spec.*bayes-hte study"):
        load_spec(SPECS / f"{BASE}.toml")
    analysis = SPECS.parent / "cima_sglt2.toml"
    with pytest.raises(SpecError, match="needs a \\[study\\] table.*bayes-hte run"):
        load_study_spec(analysis)
    assert main(["study", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["study", str(SPECS / f"{BASE}.toml"), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "o")]) == 2
    assert "not both" in capsys.readouterr().err


SMALL = """
[study]
replicates = 4
seed = 7
[ademp]
aims = "a"
data = "d"
estimands = "e"
methods = "m"
performance = "p"
[data]
simulator = "normal_meta"
params = {{ mu = 0.1 }}
{scenarios}
[methods.REML]
kind = "meta_analysis"
[methods.DL]
kind = "meta_analysis"
method = "DL"
replicates = 2
[output]
dir = "{out}"
measures = ["cover", "bias"]
figures = []
"""
TABLES = """
[[scenario]]
k = 3
tau2 = 0.0
[[scenario]]
k = 6
tau2 = 0.2
"""


def test_scenario_tables_and_methods_with_their_own_replicates(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(scenarios=TABLES, out=tmp_path / "out"))
    out = run_study_spec(path, progress=False, log=lambda m: None)
    perf = pd.read_csv(out / "performance.csv")
    n_ok = perf.groupby("method")["n_ok"].unique()
    assert list(n_ok["REML"]) == [4] and list(n_ok["DL"]) == [2]
    assert sorted(set(zip(perf["k"], perf["tau2"], strict=True))) == [(3, 0.0), (6, 0.2)]
    assert load(out / "store" / "DL").estimates["replicate"].max() == 1
    # --replicates caps a method's own number; the same data sets are reused
    first = load(out / "store" / "main").estimates
    run_study_spec(path, replicates=1, outdir=tmp_path / "out1", store=tmp_path / "s1",
                   progress=False, log=lambda m: None)
    capped = load(tmp_path / "s1" / "DL").estimates
    assert capped["replicate"].max() == 0
    again = load(tmp_path / "s1" / "main").estimates
    pd.testing.assert_frame_equal(again.drop(columns="seconds"),
                                  first[first["replicate"] == 0].reset_index(drop=True)
                                  .drop(columns="seconds"))
    both = SMALL.format(scenarios=TABLES + "\n[scenarios]\nk = [3]\n", out=tmp_path / "o2")
    path.write_text(both)
    with pytest.raises(SpecError, match="not both"):
        run_study_spec(path, progress=False, log=lambda m: None)
    ragged = SMALL.format(scenarios=TABLES.replace("tau2 = 0.2\n", ""), out=tmp_path / "o3")
    path.write_text(ragged)
    with pytest.raises(SpecError, match=r"\[scenarios\] scenario 1 has factors"):
        run_study_spec(path, progress=False, log=lambda m: None)


def test_cima_spec_runs_shrunk(tmp_path):
    """Two of the 16 scenarios, 2 replicates: the three methods, the exact truth."""
    spec = _edited("cima_shi_5trial", tmp_path, [
        ("theta = [1, 2]", "theta = [1]"), ("gamma = [1, 2]", "gamma = [1]"),
        ("beta = [1, 2]", "beta = [2]"), ('figures = ["performance", "estimates"]',
                                          "figures = []")])
    out = run_study_spec(spec, replicates=2, progress=False, log=lambda m: None)
    perf = pd.read_csv(out / "performance.csv")
    assert list(perf.columns[:4]) == ["theta", "gamma", "beta", "eta"]
    assert list(pd.unique(perf["method"])) == ["meta", "metareg", "CIMA"]
    assert set(perf["estimand"]) == {"ate"} and (perf["n_ok"] == 2).all()
    est = load(out / "store" / "main").estimates
    assert (est["error"] == "").all()
    # scenario 1 is eta = 2 (the paper's scenario 4); the truth is exact
    from bayes_hte.studies.simulators import _shi_cima_truth

    truth = est.groupby("scenario")["truth"].first()
    assert truth[1] == _shi_cima_truth(eta=2, beta=2)["ate"]
    assert sorted(p.name for p in (out / "store" / "main" / "parts").iterdir()) == [
        "s0_r0-1.parquet", "s1_r0-1.parquet"]                 # chunk = 10: one part each


def test_tzimas_spec_runs_shrunk(tmp_path):
    """One small trial, tiny single-chain fits: every method reports every estimand."""
    path = _edited("tzimas2024_coverage", tmp_path, [
        ("draws = 1000", "draws = 30"), ("tune = 1000", "tune = 30"),
        ("chains = 4", 'chains = 1\nsampler = "pymc"'), ("n = 2000 }", "n = 300 }"),
        ('figures = ["performance", "estimates"]', "figures = []")])
    out = run_study_spec(path, replicates=1, progress=False, log=lambda m: None)
    est = load(out / "store" / "main").estimates
    assert (est["error"] == "").all(), est["error"].unique()
    assert list(pd.unique(est["method"])) == ["paper", "paper_no_individual", "full"]
    # the population estimands with their truth and intervals; the per-patient metrics
    # and the sampling health (tests/studies/test_tzimas_study.py) without
    population = {"ate_logit", "ate_rd", "hte_anticoagulant", "hte_prior_bleeding",
                  "hte_diabetes", "hte_female"}
    assert set(est["estimand"]) == population | set(SUBGROUP_PATIENT_METRICS) | set(
        SUBGROUP_HEALTH_METRICS)
    est = est[est["estimand"].isin(population)]
    assert est["truth"].notna().all()
    assert (est["ci_low"] <= est["estimate"]).all() and (est["estimate"] <= est["ci_high"]).all()


def _docs_example() -> str:
    text = (SPECS.parents[1] / "docs" / "studies.md").read_text()
    part = text.split("### An annotated example", 1)[1]
    return part.split("```toml\n", 1)[1].split("```", 1)[0]


def test_the_annotated_example_of_the_docs_runs(tmp_path):
    text = _docs_example()
    edits = [*FAST_BAYES, ('dir = "results/studies/re_example"', f'dir = "{tmp_path / "o"}"'),
             ('store = "results/studies/re_example/store"', f'store = "{tmp_path / "s"}"'),
             ('figures = ["performance", "zip", "estimates"]', 'figures = ["performance"]'),
             ("k = [5, 20]", "k = [5]")]
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "re_example.toml"
    path.write_text(text)
    out = run_study_spec(path, replicates=2, progress=False, log=lambda m: None)
    perf = pd.read_csv(out / "performance.csv")
    assert list(pd.unique(perf["method"])) == ["DL_HKSJ", "REML", "bayes"]
    assert set(perf["measure"]) == {"cover", "bias", "empse", "modelse"}
    assert (out / "performance_cover.png").exists()
    assert load(tmp_path / "s" / "bayes").estimates["replicate"].max() == 1


def test_bouvier_spec_runs_shrunk_with_per_replicate_truth(tmp_path):
    """Four small trials, two of the ten models, one tiny fit each: every metric of the
    held-out trial is stored, and ate_heldout's truth is that replicate's own value."""
    import re

    from bayes_hte.studies.simulators import SIMULATORS

    text = (SPECS / "bouvier2024_iecv.toml").read_text()
    keep = ("NA-S", "FS-T")
    text = re.sub(r"\[methods\.([A-Z0-9-]+)\]\n(?:(?!\[).*\n)*",
                  lambda m: m.group(0) if m.group(1) in keep else "", text)
    for old, new in [("trials = 7, patients_per_trial = 400", "trials = 4, "
                      "patients_per_trial = 120"), ("covariates = [3, 9]", "covariates = [3]"),
                     ('dir = "results/studies/bouvier2024_iecv"', f'dir = "{tmp_path / "o"}"'),
                     ('figures = ["performance"]', "figures = []")]:
        assert old in text, old
        text = text.replace(old, new)
    text = text.replace('learner = "s"\n', 'learner = "s"\ndraws = 40\ntune = 40\n').replace(
        'learner = "t"\n', 'learner = "t"\ndraws = 40\ntune = 40\n')
    path = tmp_path / "bouvier.toml"
    path.write_text(text)
    out = run_study_spec(path, replicates=2, progress=False, log=lambda m: None)
    est = load(out / "store" / "main").estimates
    assert (est["error"] == "").all(), est["error"].unique()
    assert list(pd.unique(est["method"])) == list(keep)
    assert set(est["estimand"]) == {
        "c_for_benefit", "calibration_intercept", "calibration_slope", "mse", "ci_coverage",
        "pi_coverage", "pape", "divergences", "ate_heldout", "ate_heldout_new"}
    ate = est[est["estimand"] == "ate_heldout"].set_index(["replicate", "method"])
    from bayes_hte.studies.design import _rng

    for r in (0, 1):
        data = SIMULATORS["bouvier2024"].function(
            trials=4, patients_per_trial=120, effect_variation=True, covariates=3,
            seed=_rng(2024, 0, r))
        expected = SIMULATORS["bouvier2024"].truth(data=data)["ate_heldout"]
        assert ate.loc[(r, "NA-S"), "truth"] == ate.loc[(r, "FS-T"), "truth"] == expected
    assert ate["truth"].nunique() == 2
    metrics = est[est["estimand"] == "c_for_benefit"]
    assert metrics["truth"].isna().all() and metrics["estimate"].between(0, 1).all()
    perf = pd.read_csv(out / "performance.csv")
    mean_c = perf.query("estimand == 'c_for_benefit' and measure == 'thetamean'")
    assert (mean_c["n_ok"] == 2).all()
    assert perf.query("estimand == 'c_for_benefit' and measure == 'cover'")["value"].isna().all()
    # the PAPE carries its Theorem 1 SE (Imai & Li 2021), scored against the empirical SE
    pape = est[est["estimand"] == "pape"]
    assert (pape["se"] > 0).all() and pape["se"].notna().all()
    assert est.loc[est["estimand"] == "c_for_benefit", "se"].isna().all()


def test_ipd_aggregate_spec_runs_shrunk(tmp_path):
    """One replicate, the IPD + AgD fit tiny, MAIC and STC in their own sub-stores: every
    method estimates the target RD against the exact truth; the Bayesian fit also
    reports every population parameter."""
    import re

    text = (SPECS / "ipd_aggregate_target.toml").read_text()
    text = re.sub(r"\[methods\.(IPD-only|all-IPD)\]\n(?:(?!\[).*\n)*", "", text)
    for old, new in [('source = "ipd_ad"\n', 'source = "ipd_ad"\ndraws = 60\ntune = 60\n'
                      "chains = 1\nintegration_points = 16\n"),
                     ('dir = "results/studies/ipd_aggregate_target"', f'dir = "{tmp_path / "o"}"'),
                     ('figures = ["performance"]', "figures = []")]:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "ipd_ad.toml"
    path.write_text(text)
    out = run_study_spec(path, replicates=1, progress=False, log=lambda m: None)
    from bayes_hte.simulate.ipd_aggregate import ipd_aggregate_truth

    truth = ipd_aggregate_truth()
    est = pd.concat([load(out / "store" / g).estimates for g in ("main", "MAIC", "STC")])
    assert (est["error"] == "").all(), est["error"].unique()
    rd = est[est["estimand"] == "RD"].set_index("method")
    assert sorted(rd.index) == ["IPD-AgD", "MAIC", "STC"]
    assert (rd["truth"] == truth["rd_target"]).all()
    assert ((rd["ci_low"] < rd["estimate"]) & (rd["estimate"] < rd["ci_high"])).all()
    bayes = est[est["method"] == "IPD-AgD"].set_index("estimand")
    for name in ("alpha", "theta[x1]", "gamma", "eta[x3]", "tau_alpha"):
        assert bayes.loc[name, "truth"] == truth[name]


def test_rsimsum_measures_beyond_table_6_in_a_spec(tmp_path):
    """``[output] measures`` may name rsimsum's other measures: their tables and figures
    are in the report, and the performance table holds their values."""
    path = tmp_path / "small.toml"
    spec = SMALL.format(scenarios=TABLES, out=tmp_path / "out").replace(
        'measures = ["cover", "bias"]\nfigures = []',
        'measures = ["rbias", "thetamedian", "se2mean", "se2median", "cover"]\n'
        'figures = ["performance"]')
    path.write_text(spec)
    out = run_study_spec(path, progress=False, log=lambda m: None)
    perf = pd.read_csv(out / "performance.csv")
    assert list(pd.unique(perf["measure"])) == ["rbias", "thetamedian", "se2mean",
                                                "se2median", "cover"]
    rows = perf[perf["method"] == "REML"].set_index(["k", "estimand", "measure"])
    est = load(out / "store" / "main").estimates
    reml = est[(est["method"] == "REML") & (est["k"] == 3) & (est["estimand"] == "mu")]
    assert rows.loc[(3, "mu", "rbias"), "value"] == pytest.approx(
        float(np.mean((reml["estimate"] - 0.1) / 0.1)), rel=1e-12)
    assert rows.loc[(3, "mu", "se2median"), "value"] == pytest.approx(
        float(np.median(reml["se"] ** 2)), rel=1e-12)
    report = (out / "report.md").read_text()
    for measure in ("rbias", "thetamedian", "se2mean", "se2median"):
        assert f"### {measure}" in report
        assert (out / f"performance_{measure}.png").exists()
