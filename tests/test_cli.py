"""`bayes-hte run` end to end on a tiny spec."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayes_hte import DataError
from bayes_hte.cli import main
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import load_spec, run_spec
from tests._helpers import assert_csv_columns_named, bouvier_ipdma_toml, sampler_toml

SPEC = bouvier_ipdma_toml(patients_per_trial=120, heterogeneity=[
    "naive", "random_intercept"]) + "\n" + sampler_toml() + """
[output]
dir = "{out}"
"""


def test_run_ipdma_spec(tmp_path):
    spec = tmp_path / "tiny.toml"
    out = tmp_path / "out"
    spec.write_text(SPEC.format(out=out))
    messages = []
    run_spec(spec, log=messages.append)
    assert_csv_columns_named(out)
    for name in ("ite_summary.csv", "parameters.csv", "diagnostics.csv", "loo_compare.csv",
                 "report.md", "report.html", "ite_distribution.png", "NA-S_trace.png",
                 "RI-S_rank.png", "RI-S_ppc.png", "posteriors/NA-S.nc", "spec.json"):
        assert (out / name).exists(), name
    ite = pd.read_csv(out / "ite_summary.csv")
    assert set(ite["model"]) == {"NA-S", "RI-S"} and len(ite) == 2 * 360
    assert {"mean", "ci_low", "ci_high", "pi_low", "pi_high"} <= set(ite.columns)
    assert list(ite.columns[:3]) == ["patient", "model", "study"]
    first = ite[ite["model"] == "NA-S"]
    assert first["patient"].tolist() == list(range(360))
    assert first["study"].value_counts().to_dict() == {f"T{i}": 120 for i in (1, 2, 3)}
    diag = pd.read_csv(out / "diagnostics.csv", index_col=0)
    assert {"divergences", "max_r_hat", "ite_corr_truth"} <= set(diag.columns)
    loo = pd.read_csv(out / "loo_compare.csv", index_col=0)
    assert set(loo.index) == {"NA-S", "RI-S"}
    assert any("RI-S" in m and "divergences" in m for m in messages)  # progress shown
    report = (out / "report.md").read_text()
    shown = [name for name in ("ite_distribution.png", "ite_by_model") if name in report]
    assert len(shown) == 1, shown  # one ITE-distribution figure, not the same violins twice
    assert json.loads((out / "spec.json").read_text())["model"]["family"] == "ipdma"
    # the trace and rank plots, drawn in a second process from the saved posteriors, are
    # those of the fitted model drawn here
    from bayes_hte import IPDMetaModel, diagnostics, plots

    m = IPDMetaModel.load(out / "posteriors" / "RI-S.nc")
    here = tmp_path / "here"
    here.mkdir()
    for path in plots.convergence_plots(m.idata, here, prefix="RI-S", grid=True,
                                        var_names=diagnostics.population_vars(m.idata,
                                                                              max_size=12)):
        assert path.read_bytes() == (out / path.name).read_bytes(), path.name
    # so is the prior-sensitivity table (computed there from the saved posterior)
    written = pd.read_csv(out / "prior_sensitivity.csv", index_col=0).loc["RI-S"]
    own = m.prior_sensitivity()
    assert list(written["parameter"]) == list(own["parameter"])
    np.testing.assert_allclose(written["prior_sensitivity"], own["prior_sensitivity"],
                               rtol=1e-12)


def test_cli_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\nsource = "simulate:bouvier2024"\n[model]\nfamily = "nope"\n')
    assert main(["run", str(bad)]) == 2
    assert "family 'nope' is unknown" in capsys.readouterr().err
    with pytest.raises(SpecError, match=r"needs a \[model\] table"):
        nomodel = tmp_path / "nomodel.toml"
        nomodel.write_text('[data]\nsource = "x.csv"\n')
        load_spec(nomodel)
    bad.write_text(SPEC.format(out=tmp_path / "o").replace("seed = 4", "seed = 4, trials_x = 1"))
    with pytest.raises(DataError, match=r"unknown options \['trials_x'\]"):
        run_spec(bad, log=lambda m: None)


@pytest.mark.parametrize("argv,message", [
    (["sbc", "synthesis/univariate", "--simulations", "0"],
     "argument --simulations: must be an integer >= 1, got '0'"),
    (["sbc", "synthesis/univariate", "--workers", "-3"],
     "argument --workers: must be an integer >= 1, got '-3'"),
    (["sbc", "synthesis/univariate", "--seed", "x"],
     "argument --seed: must be an integer, got 'x'"),
    (["study", "s.toml", "--workers", "0"], "argument --workers: must be an integer >= 1"),
    (["study", "s.toml", "--replicates", "0"],
     "argument --replicates: must be an integer >= 1"),
])
def test_cli_counts_are_checked_by_the_parser(argv, message, capsys):
    """--simulations 0 printed a traceback (exit 1) naming 'replicates'; now argparse's
    usage error names the option (exit 2), before anything runs."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_sbc_options_are_checked_before_any_fit(tmp_path):
    """thin=-1 ran and called every quantity calibrated (n_draws -1000); thin=0, draws=0,
    chains=0 made every fit fail, which read as miscalibration; target_accept=1.5 ran."""
    import bayes_hte as bh

    models = bh.sbc.models("synthesis/univariate")
    for kwargs, message in (({"thin": -1}, "thin must be an integer >= 1"),
                            ({"thin": 0}, "thin must be an integer >= 1"),
                            ({"draws": 0}, "draws must be an integer >= 1"),
                            ({"chains": 0}, "chains must be an integer >= 1"),
                            ({"target_accept": 1.5}, "target_accept")):
        with pytest.raises(ValueError, match=message):
            bh.sbc.run(models, simulations=2, store=tmp_path / "s", progress=False, **kwargs)
    assert not (tmp_path / "s").exists()


def test_cli_errors_for_what_is_not_a_spec_file(tmp_path, capsys):
    """A folder, a file that is not TOML and one that is not UTF-8 give one line each."""
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nsome text here\n")
    binary = tmp_path / "data.toml"
    binary.write_bytes(b"\xff\xfe\x00[data]")
    for path, message in [(tmp_path, "is a folder; give the spec's TOML file"),
                          (notes, "not a valid TOML spec: Expected '=' after a key"),
                          (binary, "not a valid TOML spec")]:
        assert main(["run", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bayes-hte: error: ") and message in err
        assert "Traceback" not in err
        assert main(["study", str(path)]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize(("section", "setting", "match"), [
    ("sampler", 'draws = "1000"', r"\[sampler\] draws must be an integer >= 1, got '1000'"),
    ("sampler", "chains = 0", r"\[sampler\] chains must be an integer >= 1"),
    ("sampler", "tune = 10.5", r"\[sampler\] tune must be an integer >= 0"),
    ("sampler", "random_seed = -1", r"\[sampler\] random_seed must be an integer >= 0"),
    ("sampler", "target_accept = 1", r"\[sampler\] target_accept must be in \(0, 1\)"),
    ("sampler", 'mass_matrix = "dense"', r"\[sampler\] mass_matrix must be one of"),
])
def test_bad_sampler_setting_stops_the_run_before_the_output_folder(tmp_path, section,
                                                                   setting, match):
    """Checked with the spec, before anything is loaded, fitted or written."""
    text = SPEC.format(out=tmp_path / "out")
    key = setting.split(" = ")[0]
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    at = lines.index(f"[{section}]") + 1
    spec = tmp_path / "bad.toml"
    spec.write_text("\n".join([*lines[:at], setting, *lines[at:]]) + "\n")
    with pytest.raises(SpecError, match=match):
        run_spec(spec, log=lambda m: None)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("setting", "match"), [
    ('mass_matrix = "dense"', r"\[evaluation\] mass_matrix must be one of"),
    ("draws = 0", r"\[evaluation\] draws must be an integer >= 1"),
    ("target_accept = 1.5", r"\[evaluation\] target_accept must be in"),
    ('sampler = "stan"', r"\[evaluation\] sampler must be one of"),
])
def test_bad_evaluation_sampler_setting_stops_the_run_before_any_fit(tmp_path, monkeypatch,
                                                                     setting, match):
    import bayes_hte

    def no_fit(*args, **kwargs):
        raise AssertionError("a model was fitted")

    monkeypatch.setattr(bayes_hte.IPDMetaModel, "fit", no_fit)
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.format(out=tmp_path / "out")
                    + f'\n[evaluation]\ncompare = true\ncv = "iecv"\n{setting}\n')
    with pytest.raises(SpecError, match=match):
        run_spec(spec, log=lambda m: None)


def test_console_script_help():
    res = subprocess.run([sys.executable, "-m", "bayes_hte.cli", "run", "--help"],
                         capture_output=True, text=True, check=True)
    assert "TOML spec" in res.stdout
    top = " ".join(subprocess.run([sys.executable, "-m", "bayes_hte.cli", "--help"],
                                  capture_output=True, text=True, check=True).stdout.split())
    for command in ("bayes-hte run", "bayes-hte study", "bayes-hte sbc", "--version"):
        assert command in top
    assert "``" not in top  # no reStructuredText markup in the terminal
    version = subprocess.run([sys.executable, "-m", "bayes_hte.cli", "--version"],
                             capture_output=True, text=True, check=True).stdout
    import bayes_hte

    assert version.strip() == f"bayes-hte {bayes_hte.__version__}"


def test_tte_demo_spec_runs_small(tmp_path):
    """models/ipdma_tte_demo.toml itself, shrunk: survival tables and the KM check."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "models" / "ipdma_tte_demo.toml").read_text()
    for old, new in [("trials = 7, patients_per_trial = 300",
                      "trials = 3, patients_per_trial = 100"),
                     ('heterogeneity = ["naive", "random_intercept", "stratified_intercept", '
                      '"rank1", "fully_stratified"]', 'heterogeneity = ["random_intercept"]'),
                     ('learner = ["s", "t"]', 'learner = ["s"]'),
                     ("draws = 1500", "draws = 100"), ("tune = 1000", "tune = 150"),
                     ("chains = 4", 'chains = 2\nsampler = "pymc"'),
                     ('dir = "results/ipdma_tte_demo"', f'dir = "{tmp_path / "out"}"')]:
        assert old in text, old
        text = text.replace(old, new)
    spec = tmp_path / "tte.toml"
    spec.write_text(text)
    run_spec(spec, log=lambda m: None)
    out = tmp_path / "out"
    assert (out / "RI-S_km_ppc.png").exists() and (out / "report.html").exists()
    ite = pd.read_csv(out / "ite_summary.csv")
    assert len(ite) == 300 and ite["mean"].between(-1, 1).all()


@pytest.mark.parametrize(("flag", "expected"), [(["--progress"], True),
                                                (["--no-progress"], False), ([], None)])
def test_progress_flag_reaches_run_spec(monkeypatch, flag, expected):
    import bayes_hte.cli as cli

    seen = {}

    def fake_run_spec(path, **options):
        seen.update(options)
        return path

    monkeypatch.setattr(cli, "run_spec", fake_run_spec)
    assert cli.main(["run", "models/ipdma_binary_demo.toml", *flag]) == 0
    assert seen["progress"] is expected


def test_runner_passes_the_progress_bar_to_every_fit(tmp_path):
    """``Runner.sample`` hands ``progressbar`` to the estimator with the spec's sampler."""
    from bayes_hte.runners.subgroup import SubgroupRunner

    spec = {"model": {"family": "subgroup"}, "data": {"outcome": "y", "treatment": "t",
            "covariates": ["x"]}, "sampler": {"draws": 5}, "output": {}}

    class Stub:
        def fit(self, data, **options):
            self.options = options

    for progress in (True, False):
        runner = SubgroupRunner(spec, tmp_path, lambda m: None, progress=progress)
        stub = Stub()
        runner.sample(stub, None, label="x")
        assert stub.options["progressbar"] is progress and stub.options["draws"] == 5


def test_run_ipdma_spec_with_comparison_shows_the_ite_violins_once(tmp_path):
    """With ``[evaluation] compare = true`` the comparison's per-model violins
    (``ite_by_model``) replace the plain ITE-distribution figure in the report; the PNG
    of the latter is still written."""
    spec = tmp_path / "tiny.toml"
    out = tmp_path / "out"
    spec.write_text(SPEC.format(out=out) + "\n[evaluation]\ncompare = true\n")
    run_spec(spec, log=lambda m: None)
    report = (out / "report.md").read_text()
    assert "ite_by_model" in report and "ite_distribution.png" not in report
    assert (out / "ite_distribution.png").exists()


def test_run_ipdma_spec_cross_validates_in_a_second_process_alongside_the_fits(tmp_path):
    """``cv = "iecv"``: the runner starts the cross-validation in another process before
    the main fits (it refits from the data) and collects it for the evaluation; its
    refits are logged when collected, and its tables written as before."""
    spec = tmp_path / "tiny.toml"
    out = tmp_path / "out"
    spec.write_text(SPEC.format(out=out) + '\n[evaluation]\ncompare = true\ncv = "iecv"\n'
                    "draws = 40\ntune = 60\n")
    messages = []
    run_spec(spec, log=messages.append)
    started = next(i for i, m in enumerate(messages) if "started in a second process" in m)
    first_fit = next(i for i, m in enumerate(messages) if "NA-S: fitting" in m)
    assert started < first_fit
    assert sum(m.startswith("IECV [") for m in messages) == 6      # 2 models x 3 trials
    assert any(m.startswith("IECV: 6 fits in") for m in messages)
    fits = pd.read_csv(out / "evaluation_iecv_fits.csv")
    assert len(fits) == 6 and set(fits["model"]) == {"NA-S", "RI-S"}
    assert fits["max_r_hat"].notna().all()                        # four chains each
    # the report gives the refits' largest R-hat and how many exceed 1.01 (here short
    # chains of 40 draws: the sentence must count them, whatever the seed gives)
    above = int((fits["max_r_hat"] > 1.01).sum())
    report = (out / "report.md").read_text()
    assert f"largest R-hat {fits['max_r_hat'].max():.3f} (" in report
    assert (f"{above} of 6 refits above 1.01: not converged" if above
            else "every refit <= 1.01") in report
    table = pd.read_csv(out / "evaluation_metrics.csv")
    assert {"in-sample", "iecv"} <= set(table["validation"])


@pytest.mark.parametrize(("argv", "target", "kept"), [
    (["study", "s.toml"], "run_study_spec", "the replicates stored"),
    (["run", "r.toml"], "run_spec", "the models fitted"),
    (["sbc", "ipdma/binary"], "run_sbc", "the replicates stored"),
])
def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys, argv, target, kept):
    """Ctrl-C printed an 80-line KeyboardInterrupt traceback through the sampler; the
    stores resume, and the message says so."""
    import bayes_hte.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, target, interrupted)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err == (f"bayes-hte: interrupted; {kept} so far are kept: rerun the same command "
                   "to resume\n")
