"""compare_ite_models / evaluate_models / the runner hook, on small real fits."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bayes_hte as bh  # noqa: E402
from bayes_hte import plots, report  # noqa: E402
from bayes_hte.errors import DataError  # noqa: E402
from bayes_hte.evaluation.metrics import c_for_benefit  # noqa: E402
from bayes_hte.runners.ipdma import evaluate_fitted  # noqa: E402
from bayes_hte.runners.schema import SpecError  # noqa: E402
from bayes_hte.workflows import evaluate_models  # noqa: E402
from bayes_hte.workflows.compare import COLUMNS  # noqa: E402


@pytest.fixture(scope="module")
def in_sample(small_fitted, small_data):
    return evaluate_models(small_fitted, small_data, truth="true_ite_average",
                           truth_new="true_ite", random_state=3)


def test_in_sample_table(in_sample, small_fitted, small_data, small_sim):
    tab = in_sample.table
    assert list(tab.columns) == COLUMNS
    assert set(tab["validation"]) == {"in-sample"}
    wide = in_sample.summary()
    assert list(wide.index) == ["NA-S", "RI-T"]
    for metric in ("c_for_benefit", "calibration_intercept", "calibration_slope", "mse",
                   "ci_coverage", "pi_coverage", "pape", "pape_se", "gain_vs_treat_all",
                   "gain_vs_treat_none", "proportion_treated", "elpd_loo", "elpd_diff"):
        assert metric in wide.columns, metric
    # the c-for-benefit estimate is the metric of the posterior-mean benefit, matched
    # within trials
    m = small_fitted["NA-S"]
    benefit = -m.ite().mean(("chain", "draw")).values
    trials = small_sim.data["trial"].to_numpy()
    direct = c_for_benefit(small_data.y, small_data.z, benefit, strata=trials,
                           random_state=0, n_resamples=200)
    assert wide.loc["NA-S", "c_for_benefit"] == pytest.approx(direct, abs=0.01)
    # recovery: these models include the true interactions, so in-sample they
    # discriminate, are roughly calibrated and close to the truth
    assert (wide["c_for_benefit"] > 0.58).all()
    assert (wide["calibration_slope"].between(0.4, 1.8)).all()
    assert (wide["mse"] < 0.01).all()
    assert (wide["ci_coverage"] > 0.6).all()
    # elpd_diff is 0 for the best model
    assert (wide["elpd_diff"] == 0).sum() == 1
    cal = in_sample.calibration[("in-sample", "NA-S")]
    assert list(cal.index) == [1, 2, 3, 4, 5]
    assert cal["predicted"].is_monotonic_increasing


def test_given_ite_draws_score_as_the_models_own(in_sample, small_fitted, small_data):
    """``ite_draws`` and ``diagnostics_tables`` (what ``bayes-hte run`` passes from its
    ITE tables, the new-trial draws thinned by ``thin_draws``) give the table computed
    from the models."""
    from bayes_hte import diagnostics
    from bayes_hte.workflows.scoring import thin_draws

    draws = {k: (m.ite(), thin_draws(m.ite(new_trial=True), 50))
             for k, m in small_fitted.items()}
    assert all(new.shape[:2] == (1, 50) for _, new in draws.values())
    tables = {k: diagnostics.diagnostics_table(m.idata, ci_prob=0.9)
              for k, m in small_fitted.items()}
    given = evaluate_models(small_fitted, small_data, truth="true_ite_average",
                            truth_new="true_ite", random_state=3, ite_draws=draws,
                            max_draws=50, diagnostics_tables=tables)
    own = evaluate_models(small_fitted, small_data, truth="true_ite_average",
                          truth_new="true_ite", random_state=3, max_draws=50)
    pd.testing.assert_frame_equal(given.table, own.table)
    assert "pi_coverage" in set(own.table["metric"])
    for k in own.ite:
        np.testing.assert_array_equal(given.ite[k], own.ite[k])


def test_plots_and_save(in_sample, tmp_path):
    for fig in (plots.plot_calibration(in_sample), plots.plot_ite_distributions(in_sample),
                plots.plot_metric_forest(in_sample)):
        assert isinstance(fig, plt.Figure)
        assert len(fig.axes) >= 1
        plt.close(fig)
    paths = in_sample.save(tmp_path) | plots.save_comparison_figures(in_sample, tmp_path)
    for key in ("table", "calibration_table", "calibration_in_sample", "ite_by_model",
                "metric_forest"):
        assert paths[key].exists() and paths[key].stat().st_size > 0
    back = pd.read_csv(paths["table"])
    assert len(back) == len(in_sample.table)


def test_truth_errors(small_fitted, small_data):
    with pytest.raises(DataError, match="not a column"):
        evaluate_models(small_fitted, small_data, truth="no_such_column", loo=False)
    with pytest.raises(DataError, match="one value per patient"):
        evaluate_models(small_fitted, small_data, truth=np.zeros(3), loo=False)
    with pytest.raises(ValueError, match="cv must be"):
        evaluate_models(small_fitted, small_data, cv="kfold", loo=False)
    with pytest.raises(DataError, match="expected an IPDData"):
        bh.compare_ite_models(small_data.frame, heterogeneity="naive", learner="s")
    # data other than the fitted data: was numpy's "boolean index did not match"
    other = bh.IPDData.from_frame(small_data.frame.iloc[:200], outcome="y", treatment="treat",
                                  study="trial", covariates=list(small_data.covariates))
    with pytest.raises(DataError, match=r"model 'NA-S' was fitted on other data \(\d+ "
                                        r"patients\) than the data given \(200\)"):
        evaluate_models(small_fitted, other, cv="none", loo=False)
    # the same patients in a new container are the same data
    again = bh.IPDData.from_frame(small_data.frame, outcome="y", treatment="treat",
                                  study="trial", covariates=list(small_data.covariates))
    evaluate_models({"NA-S": small_fitted["NA-S"]}, again, cv="none", loo=False,
                    max_draws=50)


def test_compare_ite_models_end_to_end(small_data, cv_fast, tmp_path):
    tab = bh.compare_ite_models(
        small_data, heterogeneity=["naive"], learner=["s"], cv="iecv",
        truth="true_ite_average", truth_new="true_ite", draws=100, tune=150, chains=1,
        sampler="pymc", random_seed=2, cv_options=cv_fast, outdir=tmp_path,
        save_figures=plots.save_comparison_figures)
    assert isinstance(tab, pd.DataFrame)
    assert set(tab["validation"]) == {"in-sample", "iecv"}
    assert set(tab["model"]) == {"NA-S"}
    iecv_pooled = tab[(tab["validation"] == "iecv") & (tab["trial"] == "pooled")]
    assert set(iecv_pooled["metric"]) >= {"c_for_benefit", "calibration_slope", "mse",
                                          "pi_coverage", "pape"}
    assert (tmp_path / "evaluation_calibration_iecv.png").exists()
    assert bh.workflows.compare_ite_models is bh.compare_ite_models
    # the held-out trials' PAPE SEs hold (a rule learnt on other trials); the median
    # row's is a median of them, and says so
    se = tab[(tab["validation"] == "iecv") & (tab["metric"] == "pape_se")].set_index("trial")
    assert (se.drop(index="median")["note"] == "").all()
    assert se.loc["median", "note"].startswith("the median of the held-out trials' SEs")


def test_runner_hook_writes_tables_figures_and_report(small_fitted, small_data, tmp_path):
    rep = report.Report(title="t")
    messages = []
    spec = {"compare": True, "cv": "iecv", "draws": 60, "tune": 80, "chains": 1,
            "sampler": "pymc", "workers": 2, "random_seed": 4}
    truth = small_data.frame["true_ite_average"].to_numpy()
    one = {"NA-S": small_fitted["NA-S"]}
    res = evaluate_fitted(one, small_data, truth=truth, spec=spec, outdir=tmp_path,
                          rep=rep, log=messages.append)
    assert res.iecv is not None and res.iecv.options["workers"] == 2
    for name in ("evaluation_metrics.csv", "evaluation_iecv_fits.csv",
                 "evaluation_calibration_iecv.png", "evaluation_metric_forest.png"):
        assert (tmp_path / name).exists(), name
    headings = [c[1] for kind, c in rep.blocks if kind == "heading"]
    assert "Evaluation of the ITE models" in headings
    assert any("Internal-external" in h for h in headings)
    assert any("IECV" in m and "wall time" in m for m in messages)
    md, _ = rep.write(tmp_path)
    assert "c_for_benefit" in md.read_text()


def test_runner_hook_reports_why_iecv_is_skipped(small_sim, tmp_path):
    # two trials cannot be cross-validated by trial; after the (expensive) main fits the
    # runner still writes the in-sample evaluation and says in the log and report why
    # there is no IECV
    import warnings

    df = small_sim.data
    two = bh.IPDData.from_frame(df[df["trial"].isin(["T1", "T2"])], outcome="y",
                                treatment="treat", study="trial", covariates=small_sim.covariates)
    m = bh.IPDMetaModel(heterogeneity="naive", learner="s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(two, draws=100, tune=100, chains=1, sampler="pymc", random_seed=1,
              posterior_predictive=False)
    rep, messages = report.Report(title="t"), []
    res = evaluate_fitted({"NA-S": m}, two, spec={"compare": True, "cv": "iecv"},
                          outdir=tmp_path, rep=rep, log=messages.append)
    assert res.iecv is None
    assert set(res.table["validation"]) == {"in-sample"}
    assert any("IECV skipped" in msg and "at least 3 trials" in msg for msg in messages)
    texts = [c for kind, c in rep.blocks if kind == "text"]
    assert any("skipped" in t and "at least 3 trials" in t for t in texts)


def test_runner_hook_spec_errors(small_fitted, small_data, tmp_path):
    rep = report.Report(title="t")
    with pytest.raises(SpecError, match="unknown keys"):
        evaluate_fitted(small_fitted, small_data, spec={"compare": True, "folds": 3},
                        outdir=tmp_path, rep=rep, log=print)
    with pytest.raises(SpecError, match="cv must be"):
        evaluate_fitted(small_fitted, small_data, spec={"compare": True, "cv": "loo"},
                        outdir=tmp_path, rep=rep, log=print)


@pytest.mark.slow
def test_time_to_event_models_are_scored_at_the_horizon():
    # time-to-event: metrics on the event-by-horizon indicator of the patients with known
    # status, benefit = survival difference; IECV without recalibration
    import warnings

    from bayes_hte.simulate.bouvier2024 import bouvier2024

    sim = bouvier2024(trials=4, patients_per_trial=150, covariates=3,
                      outcome="time_to_event", seed=3)
    data = bh.IPDData.from_frame(sim.data, outcome=sim.outcome, treatment="treat",
                                 study="trial", covariates=sim.covariates, time=sim.time)
    m = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s",
                        outcome="time_to_event")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(data, draws=200, tune=200, chains=1, sampler="pymc", random_seed=1,
              posterior_predictive=False)
    res = evaluate_models({m.label: m}, data, cv="iecv", truth="true_ite_average",
                          cv_options=dict(draws=100, tune=150))
    horizon = m.ite().attrs["horizon"]
    assert res.iecv.horizon == pytest.approx(horizon)
    _, known = bh.evaluation.event_by_horizon(data.t, data.y, horizon)
    tab = res.table.set_index(["validation", "trial", "metric"])
    assert tab.loc[("in-sample", "all", "c_for_benefit"), "n"] == known.sum()
    assert tab.loc[("in-sample", "all", "c_for_benefit"), "estimate"] > 0.55
    assert res.iecv.recalibration.empty


def test_fits_record_the_sampler_settings_auto_resolved_to(small_fitted, small_data, in_sample):
    """What ``parameterization="auto"``, ``mass_matrix="auto"`` and the structure's default
    target acceptance chose is kept with the posterior and reported with the diagnostics."""
    from bayes_hte.diagnostics import sampler_settings
    from bayes_hte.models.ipdma import intercept_form

    naive = sampler_settings(small_fitted["NA-S"].idata)
    assert naive["intercept_form"] is None and naive["mass_matrix"] == "diag"
    assert naive["target_accept"] == 0.9
    ri = sampler_settings(small_fitted["RI-T"].idata)
    form = intercept_form(small_data, heterogeneity="random_intercept", learner="t",
                          parameterization="auto")
    assert ri["intercept_form"] == form
    assert ri["mass_matrix"] == small_fitted["RI-T"].options.mass_matrix(
        "auto", sampler=ri["sampler"], intercept_form=form)
    assert in_sample.diagnostics.loc["RI-T", "intercept_form"] == form


def test_pape_se_rows_say_where_the_se_does_not_hold(in_sample):
    """Imai & Li's Theorem 1 holds for a rule fixed before the patients are seen: the
    in-sample rule was learnt from them, and the note says so."""
    from bayes_hte.workflows.compare import IN_SAMPLE_PAPE_SE_NOTE

    rows = in_sample.table[in_sample.table["metric"] == "pape_se"]
    assert len(rows) == 2 and (rows["estimate"] > 0).all()
    assert (rows["note"] == IN_SAMPLE_PAPE_SE_NOTE).all()
    others = in_sample.table[in_sample.table["metric"] == "pape"]
    assert (others["note"] == "").all()
