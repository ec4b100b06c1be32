"""The simulation-study engine: definitions, seeds, runs (in process and Dask), store, resume."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.studies import Study, StudyResult, load, run
from bayes_hte.studies import engine as engine_mod
from bayes_hte.studies.design import COLUMNS
from tests.studies import _toy

ROOT = Path(__file__).resolve().parents[2]


def _values(est: pd.DataFrame) -> pd.DataFrame:
    return est.drop(columns="seconds")


@pytest.fixture(scope="module")
def reference():
    """The toy study (4 scenarios x 4 replicates x 2 methods) run in process, no store."""
    return run(_toy.make_study(), progress=False)


# ----------------------------------------------------------------------------- definition
def test_factorial_scenarios_in_given_order():
    study = _toy.make_study(scenarios={"tau2": [0.1, 0.0], "k": [8, 3]})
    assert study.scenarios == ({"tau2": 0.1, "k": 8}, {"tau2": 0.1, "k": 3},
                               {"tau2": 0.0, "k": 8}, {"tau2": 0.0, "k": 3})
    assert study.factors == ["tau2", "k"]
    listed = _toy.make_study(scenarios=[{"k": 3, "tau2": np.float64(0.0)}])
    assert listed.scenarios == ({"k": 3, "tau2": 0.0},)
    assert type(listed.scenarios[0]["tau2"]) is float


@pytest.mark.parametrize("change, match", [
    ({"name": ""}, "name"),
    ({"generate": 3}, "generate must be callable"),
    ({"methods": {}}, "methods is empty"),
    ({"methods": {"DL": "fit"}}, "not callable"),
    ({"methods": [("DL", _toy.fit_dl)]}, "mapping"),
    ({"scenarios": []}, "empty"),
    ({"scenarios": {"k": []}}, "no levels"),
    ({"scenarios": {"k": 3}}, "list of levels"),
    ({"scenarios": [{"k": 3}, {"tau2": 0.0}]}, "same factors"),
    ({"scenarios": [{"method": 3}]}, "reserved"),
    ({"scenarios": [{"k": [3, 4]}]}, "scenario levels must be"),
    ({"scenarios": [{"k": 3, "tau2": 0.0}, {"k": 3, "tau2": 0.0}]},
     r"scenario 1 repeats scenario 0 \(\{'k': 3, 'tau2': 0.0\}\)"),
    ({"scenarios": {"k": [5, 8, 5.0], "tau2": [0.0]}}, "scenario 2 repeats scenario 0"),
    ({"replicates": 0}, "replicates must be an integer >= 1"),
    ({"replicates": 2.0}, "replicates must be an integer >= 1, got 2.0"),
    ({"seed": -1}, "seed must be an integer >= 0"),
])
def test_study_validation(change, match):
    kw = {"name": "x", "generate": _toy.generate, "methods": {"DL": _toy.fit_dl},
          "truth": _toy.truth, "scenarios": {"k": [3], "tau2": [0.0]}, "replicates": 2,
          "seed": 1, **change}
    with pytest.raises((ValueError, TypeError), match=match):
        Study(**kw)


def test_fingerprint_tracks_definition_not_replicates():
    base = _toy.make_study()
    fp = base.fingerprint()
    assert _toy.make_study(replicates=50).fingerprint() == fp
    assert _toy.make_study(methods={"FE": _toy.fit_fe, "DL": _toy.fit_dl}).fingerprint() == fp
    assert _toy.make_study(seed=1).fingerprint() != fp
    assert _toy.make_study(methods={"DL": _toy.fit_dl}).fingerprint() != fp
    assert _toy.make_study(methods={"DL": _toy.fit_fe, "FE": _toy.fit_fe}).fingerprint() != fp
    assert _toy.make_study(scenarios={"k": [3, 8], "tau2": [0.0, 0.1]}).fingerprint() != fp
    a = _toy.make_study(methods={"m": functools.partial(_toy._fit, method="DL")})
    b = _toy.make_study(methods={"m": functools.partial(_toy._fit, method="PM")})
    assert a.fingerprint() != b.fingerprint()
    described = base.definition()["methods"]["DL"]
    assert described["name"] == "fit_dl" and len(described["source_sha256"]) == 16


def _closure_methods(levels, scale=None):
    """``{name: lambda}`` capturing a loop variable (and optionally an array): the
    common way to parametrise methods; it crashed definition() with a TypeError."""
    def make(z):
        return lambda data: {"mu": {"estimate": float(np.mean(data["yi"])) * z
                                    * (1.0 if scale is None else float(scale.sum()))}}
    return {f"z{z}": make(z) for z in levels}


def test_closures_run_and_their_captured_values_are_fingerprinted():
    study = _toy.make_study(methods=_closure_methods((1.0, 2.0)), replicates=2)
    res = run(study, progress=False)
    assert set(res.estimates["method"]) == {"z1.0", "z2.0"}
    est = res.estimates.set_index(["scenario", "replicate", "method"])["estimate"]
    np.testing.assert_allclose(est.xs("z2.0", level="method"),
                               2 * est.xs("z1.0", level="method"))
    fp = study.fingerprint()
    assert _toy.make_study(methods=_closure_methods((1.0, 3.0))).fingerprint() != fp
    with_array = _toy.make_study(methods=_closure_methods((1.0,), np.ones(3)))
    other_array = _toy.make_study(methods=_closure_methods((1.0,), np.full(3, 2.0)))
    assert with_array.fingerprint() != other_array.fingerprint()
    captured = with_array.definition()["methods"]["z1.0"]["closure"]
    assert captured["z"] == "1.0" and captured["scale"]["shape"] == [3]


def _bad_interval(data):
    m = float(np.mean(data["yi"]))
    return {"mu": {"estimate": m, "se": 0.1, "ci_low": m + 0.2, "ci_high": m - 0.2}}


def _negative_se(data):
    return {"mu": {"estimate": 0.0, "se": -0.1}}


def test_impossible_method_outputs_are_recorded_as_failures():
    """ci_low above ci_high (cover 0 and power 1 before) and a negative se (squared into
    modelse before) are the method's failures, with the reason."""
    study = _toy.make_study(methods={"swap": _bad_interval, "neg": _negative_se},
                            replicates=2)
    est = run(study, progress=False).estimates
    errors = est.groupby("method")["error"].unique()
    assert all(e.startswith("ValueError: estimand 'mu': ci_low ") and "is above ci_high" in e
               for e in errors["swap"])
    assert all("se is negative (-0.1)" in e for e in errors["neg"])


def test_seeds_depend_only_on_seed_scenario_replicate():
    study = _toy.make_study(replicates=3)
    forward = [study.rng(s, r).random(4) for s in range(4) for r in range(3)]
    backward = [study.rng(s, r).random(4) for s in reversed(range(4)) for r in reversed(range(3))]
    np.testing.assert_array_equal(np.array(forward), np.array(backward[::-1]))
    spawned = np.random.SeedSequence(study.seed).spawn(4)[2].spawn(3)[1]
    np.testing.assert_array_equal(study.rng(2, 1).random(4),
                                  np.random.default_rng(spawned).random(4))
    assert not np.array_equal(study.rng(0, 1).random(4), study.rng(1, 0).random(4))
    # data of one replicate, regenerated, are the data the methods saw
    d1, d2 = study.data(3, 2), study.data(3, 2)
    np.testing.assert_array_equal(d1["yi"], d2["yi"])


# ----------------------------------------------------------------------------- running
def test_estimates_columns_and_order(reference):
    est = reference.estimates
    assert list(est.columns) == ["k", "tau2", *COLUMNS]
    assert len(est) == 4 * 4 * 2 * 2
    assert est["scenario"].dtype == np.int64 and est["replicate"].dtype == np.int64
    for col in ("truth", "estimate", "se", "ci_low", "ci_high", "seconds"):
        assert est[col].dtype == np.float64
    keys = est[["scenario", "replicate"]].to_numpy()
    assert (np.diff(keys[:, 0] * 100 + keys[:, 1]) >= 0).all()
    first = est[(est.scenario == 0) & (est.replicate == 0)]
    assert list(first["method"]) == ["DL", "DL", "FE", "FE"]
    assert list(first["estimand"]) == ["mu", "tau2", "mu", "tau2"]
    assert (est["error"] == "").all() and (est["seconds"] > 0).all()
    mu = est[est.estimand == "mu"]
    assert (mu["truth"] == _toy.MU).all() and mu["se"].notna().all()
    tau2 = est[est.estimand == "tau2"]
    np.testing.assert_array_equal(tau2["truth"], tau2["tau2"])
    assert tau2["se"].isna().all()  # missing keys are NaN
    # the method's estimate is the one fitted on the regenerated data
    row = est[(est.scenario == 3) & (est.replicate == 2) & (est.method == "DL")
              & (est.estimand == "mu")].iloc[0]
    direct = _toy.fit_dl(reference.study.data(3, 2))["mu"]
    assert row["estimate"] == float(direct["estimate"]) and row["ci_high"] == direct["ci_high"]
    assert isinstance(reference, StudyResult) and reference.n_run == 16
    perf = reference.performance()
    assert {"bias", "cover"} <= set(perf["measure"])
    assert list(perf.columns[:2]) == ["k", "tau2"]


def test_same_estimates_on_a_local_dask_cluster(reference, tmp_path):
    """Two worker processes, chunks of 3 replicates, any completion order: same numbers."""
    res = run(_toy.make_study(), workers=2, chunk=3, store=tmp_path / "s", progress=False)
    pd.testing.assert_frame_equal(_values(res.estimates), _values(reference.estimates))
    # one part per task: replicates 0-2 and 3 of each of the 4 scenarios
    names = sorted(p.name for p in (tmp_path / "s" / "parts").glob("*.parquet"))
    assert names == sorted(f"s{s}_r{r}.parquet" for s in range(4) for r in ("0-2", "3"))


class _WorkerFailure(BaseException):
    """Escapes the engine's per-method ``except Exception``: a failure of the task itself."""


def _crash(data):
    raise _WorkerFailure("worker-level failure")


def test_existing_client_or_scheduler_address(reference, tmp_path):
    """A cluster given as a Client or as an address (threads: starts in milliseconds)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=2,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        by_client = run(_toy.make_study(), client=client, progress=False)
        by_address = run(_toy.make_study(), client=cluster.scheduler_address, chunk=4,
                         progress=False)
        for res in (by_client, by_address):
            pd.testing.assert_frame_equal(_values(res.estimates), _values(reference.estimates))
        study = _toy.make_study(methods={"DL": _toy.fit_dl, "crash": _crash})
        with pytest.raises(RuntimeError, match="failed on the cluster: _WorkerFailure"):
            run(study, client=client, store=tmp_path / "s", progress=False)
        assert client.status == "running"  # a client given by the caller stays open
    with pytest.raises(TypeError, match="client"):
        run(_toy.make_study(replicates=1), client=3)


def test_chunking_in_process_gives_same_estimates(reference):
    res = run(_toy.make_study(), chunk=3, progress=False)
    pd.testing.assert_frame_equal(_values(res.estimates), _values(reference.estimates))


def test_more_replicates_keep_the_old_ones(reference, tmp_path):
    store = tmp_path / "s"
    small = run(_toy.make_study(), store=store, replicates=2, progress=False)
    assert set(small.estimates["replicate"]) == {0, 1}
    parts = sorted((store / "parts").glob("*.parquet"))
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts}
    big = run(_toy.make_study(), store=store, replicates=4, progress=False)
    assert big.n_skipped == 8 and big.n_run == 8
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts} == stamps
    old = big.estimates[big.estimates["replicate"] < 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, small.estimates)  # bit-identical, seconds included
    pd.testing.assert_frame_equal(_values(big.estimates), _values(reference.estimates))
    assert json.loads((store / "study.json").read_text())["replicates"] == 4
    # rerunning with fewer replicates computes nothing and returns those replicates
    again = run(_toy.make_study(), store=store, replicates=1, progress=False)
    assert again.n_run == 0 and set(again.estimates["replicate"]) == {0}
    loaded = load(store)
    pd.testing.assert_frame_equal(loaded.estimates, big.estimates)
    assert loaded.study is None and loaded.factors == ["k", "tau2"]
    assert loaded.methods == ["DL", "FE"]


def test_errors_are_recorded_never_fatal():
    study = _toy.make_study(methods={"DL": _toy.fit_dl, "fragile": _toy.fit_fragile},
                            scenarios=[{"k": 1, "tau2": 0.0}, {"k": 5, "tau2": 0.0}],
                            replicates=6)
    res = run(study, progress=False)
    est = res.estimates
    gen = est[est.scenario == 0]  # generate raises for k = 1
    assert len(gen) == 12 and set(gen["method"]) == {"DL", "fragile"}
    assert (gen["error"] == "generate: ValueError: k must be >= 2, got 1").all()
    assert (gen["estimand"] == "").all() and gen[["estimate", "se", "seconds"]].isna().all().all()
    fragile = est[(est.scenario == 1) & (est.method == "fragile")]
    failed = fragile[fragile["error"] != ""]
    assert 0 < failed["replicate"].nunique() < 6  # some replicates, not all
    assert (failed["error"] == "ZeroDivisionError: first study above the mean").all()
    assert (failed["estimand"] == "").all() and failed["estimate"].isna().all()
    ok = fragile[fragile["error"] == ""]
    assert len(ok) == 2 * (6 - len(failed))
    assert (est[(est.scenario == 1) & (est.method == "DL")]["error"] == "").all()
    assert len(res.failures()) == 12 + len(failed)
    perf = res.performance(measures=["bias"])
    row = perf[(perf.method == "fragile") & (perf.estimand == "mu") & (perf.k == 5)].iloc[0]
    assert row["n_failed"] == len(failed) and row["n_ok"] == 6 - len(failed)


@pytest.mark.parametrize("bad", [
    lambda data: [1.0],
    lambda data: {},
    lambda data: {"mu": {"estimate": 1.0, "pi_low": 0.0}},
    lambda data: {"mu": {"estimate": np.ones(2)}},
])
def test_malformed_method_output_is_an_error_row(bad):
    study = _toy.make_study(methods={"bad": bad}, scenarios=[{"k": 3, "tau2": 0.0}],
                            replicates=1)
    est = run(study, progress=False).estimates
    assert len(est) == 1 and est["error"].iloc[0] != "" and est["estimand"].iloc[0] == ""


@pytest.mark.parametrize(("value", "shown"), [("1.0", "'1.0'"), (True, "True"),
                                             (np.bool_(False), "np.False_")])
def test_text_or_bool_estimates_are_errors_not_numbers(value, shown):
    """``{"estimate": "1.0"}`` and ``True`` were stored as 1.0."""
    study = _toy.make_study(methods={"bad": lambda data: {"mu": {"estimate": value}}},
                            scenarios=[{"k": 3, "tau2": 0.0}], replicates=1)
    est = run(study, progress=False).estimates
    assert est["error"].iloc[0] == f"ValueError: 'mu' estimate must be a real number, got {shown}"
    assert np.isnan(est["estimate"].iloc[0])


def test_a_method_that_modifies_its_data_changes_no_other_method():
    """A method setting the data to 100 gave the next method an estimate of 100 in every
    replicate, and the result depended on the methods' order."""
    def vandal(data):
        data["yi"][:] = 100.0
        return {"mu": {"estimate": 0.0}}

    def mean(data):
        return {"mu": {"estimate": float(np.mean(data["yi"]))}}

    def truth(*, data, k, tau2):
        data["yi"][:] = -1.0
        return {"mu": 0.3}

    first = _toy.make_study(methods={"vandal": vandal, "mean": mean}, truth=truth,
                            scenarios=[{"k": 3, "tau2": 0.0}], replicates=2)
    alone = _toy.make_study(methods={"mean": mean}, scenarios=[{"k": 3, "tau2": 0.0}],
                            replicates=2)
    a = run(first, progress=False).estimates.query("method == 'mean'")["estimate"]
    b = run(alone, progress=False).estimates["estimate"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert (a.abs() < 5).all()


def test_a_text_truth_names_the_estimand():
    """The message was numpy's "could not convert string to float: 'one'"."""
    study = _toy.make_study(truth=lambda *, data, k, tau2: {"mu": "one"}, replicates=1,
                            scenarios=[{"k": 3, "tau2": 0.0}])
    est = run(study, progress=False).estimates
    assert (est["error"] == "truth: ValueError: truth 'mu' must be a real number, "
                            "got 'one'").all()


def test_truth_that_raises_is_fatal_before_any_work(tmp_path):
    study = Study(name="x", generate=_toy.generate, methods={"DL": _toy.fit_dl},
                  truth=lambda *, k, tau2: 1 / 0, scenarios=[{"k": 3, "tau2": 0.0}],
                  replicates=1, seed=1)
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        run(study, store=tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()


def test_changed_definition_refused_unless_overwrite(tmp_path):
    store = tmp_path / "s"
    run(_toy.make_study(replicates=2), store=store, progress=False)
    with pytest.raises(ValueError, match=r"methods removed: \['FE'\]"):
        run(_toy.make_study(methods={"DL": _toy.fit_dl}), store=store, progress=False)
    with pytest.raises(ValueError, match="seed 2026 -> 7"):
        run(_toy.make_study(seed=7), store=store, progress=False)
    with pytest.raises(ValueError, match="method 'FE': fit_fe -> fit_dl"):
        run(_toy.make_study(methods={"DL": _toy.fit_dl, "FE": _toy.fit_dl}), store=store,
            progress=False)
    new = run(_toy.make_study(methods={"DL": _toy.fit_dl}, replicates=3), store=store,
              overwrite=True, progress=False)
    assert new.n_skipped == 0 and list(new.estimates["method"].unique()) == ["DL"]
    assert len(list((store / "parts").glob("*.parquet"))) == 12
    assert set(load(store).estimates["replicate"]) == {0, 1, 2}
    # a folder holding other files is not taken for a store
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="non-empty folder"):
        run(_toy.make_study(), store=other, overwrite=True, progress=False)
    assert (other / "notes.txt").exists()


def test_bad_options():
    study = _toy.make_study(replicates=1)
    with pytest.raises(ValueError, match="workers"):
        run(study, workers=0)
    with pytest.raises(ValueError, match="chunk"):
        run(study, chunk=0)
    with pytest.raises(ValueError, match="replicates"):
        run(study, replicates=0)
    with pytest.raises(ValueError, match="not both"):
        run(study, client="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(TypeError, match="Study"):
        run({"name": "x"})


def test_progress_plain_line_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.std", None)  # import fails -> plain lines
    monkeypatch.setattr(engine_mod, "PLAIN_PROGRESS_INTERVAL", 0.0)
    run(_toy.make_study(replicates=1), progress=True)
    err = capsys.readouterr().err
    assert "toy_re: 4 replicates to run" in err
    assert "toy_re: 4/4 replicates" in err and "left" in err


def test_public_namespace():
    assert bh.studies.run is run and bh.studies.load is load
    assert callable(bh.studies.performance)


# ----------------------------------------------------------------------------- kill, resume
def test_kill_and_resume(tmp_path, monkeypatch, reference):
    """SIGKILL a running study; the resumed run refits nothing finished and matches."""
    store, counter = tmp_path / "store", tmp_path / "fits.txt"
    env = {**os.environ, "BAYES_HTE_TOY_SLEEP": "0.2", "BAYES_HTE_TOY_COUNTER": str(counter),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "tests.studies._toy", str(store)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((store / "parts").glob("*.parquet"))) >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
              for p in (store / "parts").glob("*.parquet")}
    assert 4 <= len(before) < 16, "the run was not interrupted mid-way"
    for name in before:  # every part left by the kill is complete
        pd.read_parquet(store / "parts" / name)

    monkeypatch.setenv("BAYES_HTE_TOY_COUNTER", str(counter))
    monkeypatch.delenv("BAYES_HTE_TOY_SLEEP", raising=False)
    study = _toy.counted_study()
    res = run(study, store=store, progress=False)
    assert res.n_skipped == len(before) and res.n_run == 16 - len(before)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
             for p in (store / "parts").glob("*.parquet")}
    assert len(after) == 16
    assert {k: after[k] for k in before} == before  # no finished part rewritten
    fits = counter.read_text().split()
    for s in range(4):
        for r in range(4):
            n = fits.count(_toy.data_hash(study.data(s, r)))
            if f"s{s}_r{r}.parquet" in before:
                assert n == 1, f"finished replicate s{s} r{r} fitted {n} times"
            else:
                assert n in (1, 2)  # 2 only if killed between its fit and its write
    # the final table equals an uninterrupted run's (except seconds)
    monkeypatch.delenv("BAYES_HTE_TOY_COUNTER")
    fresh = run(study, progress=False)
    pd.testing.assert_frame_equal(_values(res.estimates), _values(fresh.estimates))
    dl = reference.estimates[reference.estimates["method"] == "DL"].reset_index(drop=True)
    pd.testing.assert_frame_equal(_values(res.estimates), _values(dl))


def _sample_truth(*, data, k, tau2):
    """The replicate's own truth: here the mean of its simulated study effects."""
    return {"mu": float(np.mean(data["yi"]))}


def _failing_sample_truth(*, data, k, tau2):
    raise RuntimeError("no truth for this data set")


def test_truth_reading_the_data_is_called_per_replicate(reference):
    study = _toy.make_study(truth=_sample_truth)
    assert study.truth_reads_data and not _toy.make_study().truth_reads_data
    est = run(study, progress=False).estimates
    mu = est[est["estimand"] == "mu"]
    for (s, r), rows in mu.groupby(["scenario", "replicate"]):
        data = study.data(int(s), int(r))
        np.testing.assert_allclose(rows["truth"], np.mean(data["yi"]), rtol=0, atol=1e-15)
    assert mu.groupby(["scenario", "replicate"])["truth"].nunique().eq(1).all()
    assert mu["truth"].nunique() == len(mu) / 2  # one value per replicate, two methods
    # the estimates themselves are those of the scenario-truth study
    ref = reference.estimates
    np.testing.assert_array_equal(
        est["estimate"].to_numpy(), ref["estimate"].to_numpy())


def test_truth_reading_the_data_that_raises_is_an_error_row():
    study = _toy.make_study(truth=_failing_sample_truth, replicates=1,
                            scenarios=[{"k": 3, "tau2": 0.0}])
    est = run(study, progress=False).estimates
    assert (est["error"] == "truth: RuntimeError: no truth for this data set").all()
    assert est["estimate"].isna().all()
