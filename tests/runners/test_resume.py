"""`bayes-hte run` never overwrites a results folder unless told to, and an interrupted run
resumes: posteriors that match the spec are reused, only the other models are fitted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bayes_hte.cli import main
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import RUN_FILE, run_spec
from tests._helpers import bouvier_ipdma_toml, two_step_data_toml

ROOT = Path(__file__).resolve().parents[2]

SPEC = bouvier_ipdma_toml(patients_per_trial=60, heterogeneity=[
    "naive", "random_intercept", "stratified_intercept"]) + """
[priors]
{priors}

[sampler]
draws = 40
tune = 40
chains = 1
random_seed = 1
sampler = "pymc"

[output]
dir = "{out}"
"""
LABELS = ["NA-S", "RI-S", "SI-S"]


def _write(tmp_path: Path, priors: str = "") -> tuple[Path, Path]:
    spec, out = tmp_path / "three.toml", tmp_path / "out"
    spec.write_text(SPEC.format(out=out, priors=priors))
    return spec, out


def _interrupt(spec: Path, out: Path) -> dict[str, int]:
    """Start `bayes-hte run` in a subprocess, kill it once the first posterior file is
    written; the posterior files then present, with their mtimes."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    log = open(out.parent / "first_run.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "bayes_hte.cli", "run", str(spec)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not list((out / "posteriors").glob("*.nc")):
            assert proc.poll() is None, (out.parent / "first_run.log").read_text()
            assert time.monotonic() < deadline, "no posterior written in 10 minutes"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
    return {p.stem: p.stat().st_mtime_ns for p in (out / "posteriors").glob("*.nc")}


def test_interrupted_run_refits_only_the_unfinished_models(tmp_path):
    spec, out = _write(tmp_path)
    done = _interrupt(spec, out)
    assert 1 <= len(done) < len(LABELS), done     # interrupted before the end
    assert json.loads((out / RUN_FILE).read_text())["status"] == "running"
    assert not list((out / "posteriors").glob("*.part"))  # no half-written file kept

    messages: list[str] = []
    run_spec(spec, log=messages.append)
    assert any("resuming the interrupted run" in m for m in messages)
    for k, label in enumerate(LABELS, start=1):
        tag = f"[{k}/3] {label}"
        reused = any(m == f"{tag}: reusing posteriors/{label}.nc (matches the spec)"
                     for m in messages)
        fitted = any(m.startswith(f"{tag}: fitting") for m in messages)
        assert reused == (label in done) and fitted == (label not in done), (label, messages)
    for label, mtime in done.items():  # untouched
        assert (out / "posteriors" / f"{label}.nc").stat().st_mtime_ns == mtime
    assert {p.stem for p in (out / "posteriors").glob("*.nc")} == set(LABELS)
    state = json.loads((out / RUN_FILE).read_text())
    assert state["status"] == "finished" and state["bayes_hte_version"]
    # the diagnostics reach the tables, the log and the report (issue 13, 2d): Pareto k
    # next to elpd_loo, and R-hat said once in words to be undefined for one chain
    loo = pd.read_csv(out / "loo_compare.csv", index_col=0)
    assert {"pareto_k_max", "pareto_k_bad", "loo_reliable", "warning"} <= set(loo.columns)
    assert set(loo.index) == set(LABELS)
    diag = pd.read_csv(out / "diagnostics.csv", index_col=0)
    assert diag["notes"].str.startswith("R-hat not computed: 1 chain").all()
    report = (out / "report.md").read_text()
    assert "## Warnings and diagnostic notes" in report
    assert report.count("R-hat not computed: 1 chain (R-hat compares chains") >= len(LABELS)
    for label, row in loo.iterrows():
        if not row["loo_reliable"]:
            assert row["warning"] in report and f"LOO {label}: {row['warning']}" in messages

    # a finished folder is never overwritten by accident ...
    with pytest.raises(SpecError, match=f"output folder '{out}' already holds the results "
                       "of a finished run .* --overwrite"):
        run_spec(spec, log=lambda m: None)

    # ... and a posterior fitted under other priors is not reused (interrupted again)
    (out / RUN_FILE).write_text(json.dumps({**state, "status": "running"}))
    spec.write_text(SPEC.format(out=out, priors='naive = { theta = { sigma = 0.5 } }'))
    messages.clear()
    mtimes = {p.stem: p.stat().st_mtime_ns for p in (out / "posteriors").glob("*.nc")}
    run_spec(spec, log=messages.append)
    assert "[1/3] NA-S: posteriors/NA-S.nc was fitted under other options, priors, sampler " \
        "settings or data: refitting" in messages
    assert any(m.startswith("[1/3] NA-S: fitting") for m in messages)
    assert "[2/3] RI-S: reusing posteriors/RI-S.nc (matches the spec)" in messages
    assert (out / "posteriors" / "NA-S.nc").stat().st_mtime_ns != mtimes["NA-S"]
    assert (out / "posteriors" / "RI-S.nc").stat().st_mtime_ns == mtimes["RI-S"]


TWO_STEP = two_step_data_toml(
    "params = {{ trials = 3, size_range = [20, 30], seed = 2 }}\n") + """
[model]
family = "two_step"
bayesian = false

[output]
dir = "{out}"
"""


def test_existing_results_are_kept_unless_overwrite(tmp_path, capsys):
    spec, out = tmp_path / "two.toml", tmp_path / "out"
    spec.write_text(TWO_STEP.format(out=out))
    run_spec(spec, log=lambda m: None)
    before = (out / "step2_summary.csv").stat().st_mtime_ns
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"output folder '{out}' already holds the results of a finished run" in err
    assert "--overwrite" in err
    assert (out / "step2_summary.csv").stat().st_mtime_ns == before
    assert main(["run", str(spec), "--overwrite"]) == 0
    assert "--overwrite: replacing the results" in capsys.readouterr().out
    assert (out / "step2_summary.csv").stat().st_mtime_ns != before
    # a folder with other files is not a results folder to write into either
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SpecError, match="files not written by an interrupted"):
        run_spec(spec, log=lambda m: None, outdir=other)

