"""Parameter recovery of the one-stage IPD-MA as a study (``models/studies/ipdma_recovery.toml``):
the ``bouvier2024_fit`` simulator, its truth, the ``ipdma_fit`` method kind, and the docs
pages made from the store (``validation/ipdma_recovery_tables.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_hte.estimators import IPDMetaModel
from bayes_hte.simulate.bouvier2024 import DESIGNS, bouvier2024
from bayes_hte.spec import run_study_spec
from bayes_hte.studies import load
from bayes_hte.studies import methods as M
from bayes_hte.studies.design import _rng
from bayes_hte.studies.ipdma_methods import IPDMA_FIT_METRICS, fit_ipdma
from bayes_hte.studies.simulators import SIMULATORS, MetaIPD, data_seed
from tests._helpers import validation_script
from tests.studies._specs import edited_spec

ROOT = Path(__file__).resolve().parents[2]
#: The spec's design (fixed params) and study seed.
DESIGN = {"trials": 7, "patients_per_trial": 400, "covariates": 3}
SEED = 2024
#: Tiny single-chain PyMC fits (in process PyMC reuses its compiled model).
TINY = {"draws": 20, "tune": 20, "chains": 1, "sampler": "pymc"}
WEIBULL_SHAPE = 1.15    # bayes_hte.simulate.bouvier2024's default shape (the paper's)


def _design_truth(outcome: str) -> dict[str, float]:
    """The 3-covariate design's coefficients (bayes_hte.simulate.bouvier2024.DESIGNS,
    gamma = -0.4, tau_alpha = 0.4), times the Weibull shape on the log-hazard scale."""
    k = WEIBULL_SHAPE if outcome == "time_to_event" else 1.0
    design = DESIGNS[3]
    out = {"gamma": -0.4 * k, "tau_alpha": 0.4 * k}
    out |= {f"eta[{c}]": v * k for c, v in design["eta"].items()}
    out |= {f"theta[{c}]": v * k for c, v in design["theta"].items()}
    if outcome == "time_to_event":
        out["shape"] = WEIBULL_SHAPE
    return out


@pytest.fixture(scope="module")
def shrunk_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The spec with one replicate per outcome and tiny fits, run in process."""
    tmp = tmp_path_factory.mktemp("ipdma_recovery")
    spec = edited_spec("ipdma_recovery", tmp, [
        ("draws = 500", "draws = 20"), ("tune = 500", "tune = 20"),
        ("chains = 2", 'chains = 1\nsampler = "pymc"'),
        ('figures = ["performance"]', "figures = []")])
    out = run_study_spec(spec, replicates=1, progress=False, log=lambda m: None)
    return out, load(out / "store" / "main").estimates


def test_spec_runs_shrunk_with_the_design_truth(shrunk_run):
    out, est = shrunk_run
    assert (est["error"] == "").all(), est["error"].unique()
    assert list(pd.unique(est["method"])) == ["NA-S", "RI-S"]
    assert list(pd.unique(est["outcome"])) == ["binary", "time_to_event"]
    for (outcome, method), rows in est.groupby(["outcome", "method"]):
        truth = _design_truth(outcome)
        if method == "NA-S":             # the naive model has no between-trial SD
            truth.pop("tau_alpha")
        with_truth = rows[rows["truth"].notna()].set_index("estimand")
        assert set(with_truth.index) == set(truth), (outcome, method)
        for name, value in truth.items():
            assert with_truth.loc[name, "truth"] == pytest.approx(value, abs=1e-12), name
        coef = with_truth.loc[list(truth)]
        assert (coef["ci_low"] <= coef["estimate"]).all()
        assert (coef["estimate"] <= coef["ci_high"]).all() and (coef["se"] > 0).all()
        metrics = rows[rows["truth"].isna()].set_index("estimand")["estimate"]
        assert set(metrics.index) == set(IPDMA_FIT_METRICS)
        assert 0.5 < metrics["ite_corr"] <= 1 and metrics["divergences"] >= 0
        assert np.isnan(metrics["max_r_hat"])          # one chain: R-hat undefined
    perf = pd.read_csv(out / "performance.csv")
    assert set(perf["measure"]) == {"thetamean", "bias", "cover"}
    assert perf.query("estimand == 'ite_corr' and measure == 'cover'")["value"].isna().all()


def test_the_kind_equals_a_direct_fit_with_the_same_seed(shrunk_run):
    """RI-S of replicate 0, binary scenario (scenario 0): the same posterior as
    IPDMetaModel fitted to the regenerated data with the data's seed."""
    _, est = shrunk_run
    data = SIMULATORS["bouvier2024_fit"].function(**DESIGN, outcome="binary",
                                                  seed=_rng(SEED, 0, 0))
    model = IPDMetaModel(heterogeneity="random_intercept", learner="s")
    # the fit a user makes (default log likelihood and posterior predictive, which the
    # study kind skips): the posterior itself must be the same draws
    model.fit(data.data, draws=20, tune=20, chains=1, sampler="pymc",
              random_seed=data_seed(data, 0))
    assert "log_likelihood" in model.idata and "posterior_predictive" in model.idata
    table = model.parameters()
    stored = est[(est["outcome"] == "binary") & (est["method"] == "RI-S")].set_index(
        "estimand")
    for name in ("gamma", "eta[x1]", "eta[x2]", "eta[x3]", "theta[x1]", "theta[x2]",
                 "theta[x3]", "tau_alpha"):
        assert stored.loc[name, "estimate"] == pytest.approx(table.loc[name, "mean"],
                                                             rel=1e-12), name
        assert stored.loc[name, "se"] == pytest.approx(table.loc[name, "sd"], rel=1e-9)
    ite = model.ite().mean(("chain", "draw")).to_numpy()
    corr = np.corrcoef(ite, data.true_ite_average)[0, 1]
    assert stored.loc["ite_corr", "estimate"] == pytest.approx(corr, rel=1e-12)


def test_the_tables_script_writes_the_pages_layout(shrunk_run):
    out, est = shrunk_run
    mod = validation_script("ipdma_recovery_tables")
    tabs = mod.tables(est, "binary")
    assert list(tabs["overall"].columns) == ["coverage_all", "intervals", "ite_corr_mean",
                                             "ite_corr_min"]
    assert tabs["overall"]["intervals"].tolist() == [7, 7]     # gamma, 3 eta, 3 theta
    per = tabs["per_parameter"]
    assert list(per.columns) == ["model", "parameter", "coverage", "mean_estimate", "truth"]
    assert per["coverage"].isin([0.0, 1.0]).all()              # one replicate
    ri = per[per["model"] == "RI-S"].set_index("parameter")
    assert ri.loc["gamma", "truth"] == -0.4 and "tau_alpha" in ri.index
    text = mod.page(est, "time_to_event", command="bayes-hte study x.toml",
                    fits=mod.settings({"methods": {"RI-S": {"draws": 20}}}))
    assert text.startswith("# Parameter recovery, time_to_event outcome\n")
    for heading in ("## Overall", "## Per parameter", "## Sampling", "log-hazard scale",
                    "RI-S: 2 chains x 20 draws"):
        assert heading in text


def test_bouvier2024_fit_draws_the_simulators_patients():
    """The adapter's data are bouvier2024's with the same generator (both outcomes):
    every trial, no truth columns, the true ITEs and coefficients alongside."""
    for outcome in ("binary", "time_to_event"):
        fit = SIMULATORS["bouvier2024_fit"].function(
            trials=3, patients_per_trial=50, outcome=outcome, seed=np.random.default_rng(5))
        sim = bouvier2024(trials=3, patients_per_trial=50, outcome=outcome,
                          seed=np.random.default_rng(5))
        assert fit.holdout is None and not fit.held_mask.any()
        assert fit.data.n_patients == 150 and fit.data.outcome_type == outcome
        np.testing.assert_array_equal(fit.data.y, sim.data[sim.outcome])
        np.testing.assert_array_equal(fit.true_ite, sim.data["true_ite"])
        np.testing.assert_array_equal(fit.true_ite_average, sim.data["true_ite_average"])
        assert SIMULATORS["bouvier2024_fit"].truth(data=fit) == fit.coefficients
        lh = sim.truth["log_hazard"] if outcome == "time_to_event" else sim.truth
        assert fit.coefficients["theta[treated, x2]"] == pytest.approx(
            lh["theta"]["x2"] + lh["eta"]["x2"])


def test_optional_metaipd_fields_leave_the_holdout_data_and_seed_unchanged():
    """bouvier2024 (the running IECV study) still draws the same MetaIPD, and the new
    optional fields do not enter data_seed."""
    held = SIMULATORS["bouvier2024"].function(trials=4, patients_per_trial=60,
                                              seed=_rng(SEED, 0, 0))
    assert held.true_ite_average is None and held.coefficients is None
    labels = np.asarray(held.data.study_labels, dtype=object)
    np.testing.assert_array_equal(held.held_mask,
                                  labels[held.data.study_idx] == held.holdout)
    extended = dataclasses.replace(held, true_ite_average=held.true_ite * 2,
                                   coefficients={"gamma": -0.4})
    assert data_seed(extended) == data_seed(held)
    assert data_seed(extended, 3) == data_seed(held, 3)
    # the held-out draw itself: bouvier2024 with the same generator, then the label
    rng = _rng(SEED, 0, 0)
    sim = bouvier2024(trials=4, patients_per_trial=60, seed=rng)
    np.testing.assert_array_equal(held.true_ite, sim.true_ite)
    assert held.holdout == f"T{int(rng.integers(4)) + 1}"


def test_a_t_learner_reports_its_coefficients_by_the_truths_names():
    """T-learner coefficients carry an arm (``theta[control, x1]``): the truth names
    them the same way, so bias and coverage are computed for them too."""
    data = SIMULATORS["bouvier2024_fit"].function(trials=3, patients_per_trial=80,
                                                  seed=np.random.default_rng(2))
    out = M.make_method("ipdma_fit", options={"learner": "t", **TINY})(data)
    truth = SIMULATORS["bouvier2024_fit"].truth(data=data)
    thetas = [k for k in out if k.startswith("theta[")]
    assert len(thetas) == 6 and set(thetas) <= set(truth)
    assert "gamma" not in out and "ite_corr" in out


@pytest.mark.parametrize(("options", "match"), [
    ({"baseline": "cox"}, "baseline"),
    ({"heterogeneity": "random_slope"}, "heterogeneity"),
    ({"learner": "x"}, "learner"),
    ({"draws": 0}, "draws"),
    ({"chains": 1.5}, "chains"),
    ({"sampler": "stan"}, "sampler"),
    ({"ci_prob": 1.5}, "ci_prob"),
    ({"target_accept": 2.0}, "target_accept"),
    ({"horizon": 5.0}, "horizon"),
])
def test_bad_options_are_refused_naming_the_option(options, match):
    with pytest.raises(ValueError, match=match):
        M.make_method("ipdma_fit", options=options)


def test_bad_data_and_simulator_parameters_are_refused():
    with pytest.raises(TypeError, match="ipdma_fit needs IPD of several trials"):
        fit_ipdma(pd.DataFrame({"y": [0, 1]}))
    with pytest.raises(ValueError, match="needs MetaIPD data"):
        M.check_method_data("ipdma_fit", "tzimas2024")
    M.check_method_data("ipdma_fit", "bouvier2024_fit")
    with pytest.raises(ValueError, match=r"\['horizon'\] are not parameters"):
        M.make_generate("bouvier2024_fit", params={"horizon": 10.0})
    assert {"outcome", "covariates", "shape"} <= set(M.simulator_params("bouvier2024_fit"))
    assert M.SIMULATORS["bouvier2024_fit"].data_type is MetaIPD
