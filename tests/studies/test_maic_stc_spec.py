"""MAIC and STC coverage as a study (``models/studies/maic_stc_coverage.toml``): the
``maic_stc`` simulator and its truth, the ``maic`` / ``stc`` kinds on its data, and the
docs block made from the store (``validation/study_tables.py maic_stc_coverage``).

The design and the truth are those of the former ``validation/maic_stc.py coverage``
(git history: the script before this spec), written out again below as the reference.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import bayes_hte as bh
from bayes_hte.errors import DataError
from bayes_hte.spec import run_study_spec
from bayes_hte.studies import load
from bayes_hte.studies import methods as M
from bayes_hte.studies.design import _rng
from bayes_hte.studies.simulators import SIMULATORS, IPDAggregateData, data_seed
from tests._helpers import validation_script
from tests.studies._specs import SPECS, edited_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = tomllib.loads((SPECS / "maic_stc_coverage.toml").read_text())
SEED = SPEC["study"]["seed"]


def _script_linear(x1, x2, z):
    """The former script's linear predictor."""
    return -1 + 0.8 * x1 + 0.5 * x2 + z * (-0.5 + 0.6 * x1 - 0.4 * x2)


def _script_truth() -> tuple[dict[str, float], np.random.Generator]:
    """The former script's truth (RD, log OR) and its generator after the truth's draws
    (the script drew its replicates from it next)."""
    rng = np.random.default_rng(0)
    x1 = rng.normal(0.4, 0.9, 2_000_000)
    x2 = rng.binomial(1, 0.6, x1.size)
    p1, p0 = expit(_script_linear(x1, x2, 1)).mean(), expit(_script_linear(x1, x2, 0)).mean()
    return {"RD": p1 - p0, "OR": np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))}, rng


@pytest.fixture(scope="module")
def shrunk_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The spec with 3 replicates, no figures, run in process."""
    tmp = tmp_path_factory.mktemp("maic_stc")
    spec = edited_spec("maic_stc_coverage", tmp, [('figures = ["performance"]',
                                                   "figures = []")])
    out = run_study_spec(spec, replicates=3, progress=False, log=lambda m: None)
    return out, load(out / "store" / "main").estimates


def test_spec_runs_shrunk(shrunk_run):
    out, est = shrunk_run
    assert (est["error"] == "").all(), est["error"].unique()
    assert sorted(est["replicate"].unique()) == [0, 1, 2]
    assert set(zip(est["method"], est["estimand"], strict=True)) == {
        (m, e) for m in ("MAIC", "STC") for e in ("RD", "OR")}
    truth = bh.simulate.maic_stc_truth()
    for estimand in ("RD", "OR"):
        assert (est.loc[est["estimand"] == estimand, "truth"] == truth[estimand]).all()
    assert ((est["ci_low"] < est["estimate"]) & (est["estimate"] < est["ci_high"])).all()
    assert (est["se"] > 0).all()
    perf = pd.read_csv(out / "performance.csv")
    assert set(perf["measure"]) == {"bias", "empse", "modelse", "relerror", "cover"}
    assert len(perf) == 2 * 2 * 5 and (perf["n_ok"] == 3).all()


def test_truth_equals_the_scripts():
    """The simulator's truth is the script's Monte Carlo integral, to the last bit, and
    that integral is within 1e-5 (RD; 2e-4 log OR) of Gauss–Hermite quadrature (x1
    normal, 80 nodes; x2 summed exactly; measured 6e-7 and 6e-5)."""
    script, _ = _script_truth()
    truth = bh.simulate.maic_stc_truth()
    assert truth["RD"] == script["RD"]
    assert truth["log_OR"] == script["OR"]
    assert truth["OR"] == pytest.approx(np.exp(script["OR"]), rel=1e-15)
    assert truth["RR"] == pytest.approx(truth["p1"] / truth["p0"], rel=1e-15)
    # what the study's truth function gives (spec params: none, the defaults)
    study_truth = M.make_truth("maic_stc", params=SPEC["data"].get("params"))()
    assert study_truth == {m: truth[m] for m in ("RD", "RR", "OR")}
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    x1, w = 0.4 + 0.9 * nodes, weights / weights.sum()
    p = {t: sum(px * np.sum(w * expit(_script_linear(x1, x2, t)))
                for x2, px in ((0, 0.4), (1, 0.6))) for t in (0, 1)}
    assert truth["RD"] == pytest.approx(p[1] - p[0], abs=1e-5)
    log_or = np.log(p[1] / (1 - p[1])) - np.log(p[0] / (1 - p[0]))
    assert truth["log_OR"] == pytest.approx(log_or, abs=2e-4)


def test_the_simulator_draws_the_scripts_patients():
    """With the generator the script used for its first replicate, the simulator draws
    the same patients (same draws in the same order)."""
    _, rng = _script_truth()
    state = rng.bit_generator.state
    n = 400
    a, b, z = rng.normal(size=n), rng.binomial(1, 0.4, n), rng.integers(0, 2, n)
    y = rng.binomial(1, expit(_script_linear(a, b, z)))
    again = np.random.default_rng()
    again.bit_generator.state = state
    sim = bh.simulate.maic_stc(seed=again)
    np.testing.assert_array_equal(sim.data["x1"], a)
    np.testing.assert_array_equal(sim.data["x2"], b)
    np.testing.assert_array_equal(sim.data["z"], z)
    np.testing.assert_array_equal(sim.data["y"], y)
    target = sim.target.rows()
    assert list(target.index) == ["x1", "x2"]
    np.testing.assert_array_equal(target["mean"], [0.4, 0.6])
    assert target["sd"].iloc[0] == 0.9 and np.isnan(target["sd"].iloc[1])


def test_the_kinds_equal_direct_comparator_calls(shrunk_run):
    """Replicate 0 regenerated: the kinds (the spec's options) give what
    bh.comparators.maic / stc give on the same IPD and target, and what the store holds."""
    _, est = shrunk_run
    data = M.make_generate("maic_stc")(_rng(SEED, 0, 0))
    assert isinstance(data, IPDAggregateData) and data.aggregate is None
    assert data.ipd.n_patients == 400 and data.full is data.ipd
    stored = est[est["replicate"] == 0].set_index(["method", "estimand"])
    for label, direct, extra in (("MAIC", bh.comparators.maic, {"variance": "sandwich"}),
                                 ("STC", bh.comparators.stc,
                                  {"n_points": 1024, "variance": "delta"})):
        options = {k: v for k, v in SPEC["methods"][label].items() if k != "kind"}
        out = M.make_method(SPEC["methods"][label]["kind"], options=options)(data)
        for measure in ("RD", "OR"):
            res = direct(data.ipd, None, data.target, measure=measure, **extra)
            got = out[measure]
            assert got["estimate"] == res.estimate
            assert got["se"] == pytest.approx(res.se, rel=1e-15)
            assert (got["ci_low"], got["ci_high"]) == (res.ci_low, res.ci_high)
            if measure == "OR":            # natural scale, delta-method SE
                assert got["se"] == pytest.approx(res.estimate * res.log_se, rel=1e-12)
            row = stored.loc[(label, measure)]
            assert row["estimate"] == got["estimate"] and row["se"] == got["se"]


def test_the_tables_script_logs_the_odds_ratios(shrunk_run):
    _, est = shrunk_run
    mod = validation_script("study_tables")
    logged = mod.log_odds_ratios(est).set_index(["replicate", "method", "estimand"])
    raw = est.set_index(["replicate", "method", "estimand"])
    for method in ("MAIC", "STC"):
        a, b = logged.loc[(0, method, "log OR")], raw.loc[(0, method, "OR")]
        assert a["estimate"] == pytest.approx(np.log(b["estimate"]), rel=1e-14)
        assert a["se"] == pytest.approx(b["se"] / b["estimate"], rel=1e-14)
        assert a["truth"] == pytest.approx(bh.simulate.maic_stc_truth()["log_OR"], rel=1e-14)
        assert (a["ci_low"], a["ci_high"]) == pytest.approx(
            (np.log(b["ci_low"]), np.log(b["ci_high"])), rel=1e-14)
        assert logged.loc[(0, method, "RD"), "estimate"] == raw.loc[(0, method, "RD"),
                                                                    "estimate"]
    text = mod.maic_stc_markdown(est, command="bayes-hte study x.toml")
    assert text.startswith("Reproduce: `bayes-hte study x.toml` (3 replicates;")
    rows = [line for line in text.splitlines() if line.startswith("| MAIC") or
            line.startswith("| STC")]
    assert [r.split(" | ")[:2] for r in rows] == [["| MAIC", "RD"], ["| MAIC", "log OR"],
                                                  ["| STC", "RD"], ["| STC", "log OR"]]


def test_data_seed_and_method_checks_without_an_aggregate_trial():
    data = M.make_generate("maic_stc")(np.random.default_rng(4))
    assert data_seed(data) == data_seed(M.make_generate("maic_stc")(np.random.default_rng(4)))
    assert data_seed(data) != data_seed(data, 1)
    for kind in ("maic", "stc"):
        M.check_method_data(kind, "maic_stc")
    assert SIMULATORS["maic_stc"].data_type is IPDAggregateData
    assert not SIMULATORS["maic_stc"].truth_reads_data
    assert {"n", "x2_prob", "target_x1_mean", "eta"} <= set(M.simulator_params("maic_stc"))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n": 5}, "n \\(patients\\)"), ({"n": 40.5}, "n \\(patients\\)"),
    ({"x2_prob": 1.0}, "x2_prob"), ({"target_x1_sd": 0.0}, "target_x1_sd"),
    ({"target_x2_prob": 0.0}, "target_x2_prob"), ({"beta": (0.8,)}, "beta and eta"),
])
def test_bad_design_parameters_are_refused(kwargs, match):
    with pytest.raises(DataError, match=match):
        bh.simulate.maic_stc(**kwargs, seed=1)
