"""Internal-external cross-validation: recalibration by hand / statsmodels, small real fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

import bayes_hte as bh
from bayes_hte.errors import DataError
from bayes_hte.evaluation.recalibration import recalibrate_intercept
from bayes_hte.workflows.iecv import iecv


def test_recalibrate_intercept_zero_offset_is_logit_of_event_rate():
    # with offset 0 the score equation sum(y - expit(d)) = 0 gives d = logit(mean y)
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0])              # 2 events of 8
    d = recalibrate_intercept(np.zeros((1, 8)), y)
    assert d[0] == pytest.approx(logit(0.25), abs=1e-10)


def test_recalibrate_intercept_matches_glm_with_offset():
    # reference: statsmodels GLM(y ~ 1, Binomial, offset=o), the R glm(y ~ 1 + offset(o))
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(4)
    o = rng.normal(-1.0, 1.0, size=(3, 300))
    y = rng.binomial(1, expit(o[0] + 0.7))
    d = recalibrate_intercept(o, y)
    for k in range(3):
        glm = sm.GLM(y, np.ones((300, 1)), family=sm.families.Binomial(), offset=o[k]).fit()
        assert d[k] == pytest.approx(glm.params[0], abs=1e-8)
    assert d[0] == pytest.approx(0.7, abs=0.35)


def test_recalibrate_intercept_needs_events_and_non_events():
    with pytest.raises(DataError, match="0 events out of 4"):
        recalibrate_intercept(np.zeros((1, 4)), np.zeros(4))


@pytest.fixture(scope="module")
def cv_result(small_data, small_fitted, cv_fast):
    return iecv(small_data, small_fitted, **cv_fast)


def test_iecv_predictions_and_recalibration(cv_result, small_data, small_sim, cv_fast):
    res = cv_result
    assert res.labels == ["NA-S", "RI-T"]
    n = small_data.n_patients
    assert res.ite["RI-T"].shape == (1, cv_fast["draws"], n)
    assert res.ite_new["NA-S"].shape == (1, cv_fast["draws"], n)
    assert np.isfinite(res.ite["RI-T"]).all()
    # the naive model is not recalibrated (as in Bouvier et al.); RI once per held-out trial
    assert set(res.recalibration["model"]) == {"RI-T"}
    assert list(res.recalibration["trial"]) == list(small_data.study_labels)
    assert len(res.fits) == 2 * small_data.n_studies
    # recovery: the shift moves each held-out trial's intercept towards its true value, so
    # it follows the true trial intercepts alpha_j (sd 1 between trials)
    alpha_j = np.asarray(small_sim.truth["alpha_j"])
    shifts = res.recalibration["shift_mean"].to_numpy()
    assert np.corrcoef(shifts, alpha_j)[0, 1] > 0.8


def test_iecv_metric_table(cv_result, small_data, small_sim):
    tab = cv_result.metrics(truth=small_sim.data["true_ite"].to_numpy(), random_state=1)
    assert set(tab["trial"]) == {*small_data.study_labels, "pooled", "median"}
    pooled = tab[(tab["trial"] == "pooled")].set_index(["model", "metric"])
    per_trial = tab[tab["trial"].isin(small_data.study_labels)]
    # every held-out patient is scored once
    n_by_model = per_trial[per_trial["metric"] == "c_for_benefit"].groupby("model")["n"].sum()
    assert (n_by_model == small_data.n_patients).all()
    # the simulated ITE varies strongly with x1..x3: out-of-trial predictions discriminate
    for label in ("NA-S", "RI-T"):
        c = pooled.loc[(label, "c_for_benefit")]
        assert 0.55 < c["estimate"] < 0.85
        assert c["ci_low"] <= c["mean"] <= c["ci_high"]
        assert pooled.loc[(label, "mse"), "estimate"] < 0.01
    med = tab[tab["trial"] == "median"]
    assert med["mean"].isna().all() and med["estimate"].notna().all()


def test_iecv_metrics_score_at_most_max_draws(cv_result, small_sim):
    """``max_draws`` thins the held-out draws as ``evaluate_models`` thins the in-sample
    ones (evenly over the chains laid end to end): the table is that of a result whose
    draws were thinned by hand, and the scores made in the cross-validation's process
    are reused only for the same ``max_draws``."""
    from dataclasses import replace

    from bayes_hte.workflows.scoring import same_settings, score_settings

    truth = small_sim.data["true_ite"].to_numpy()
    n_draws = cv_result.ite["NA-S"].shape[0] * cv_result.ite["NA-S"].shape[1]
    keep = np.linspace(0, n_draws - 1, 20).round().astype(int)

    def by_hand(arrays):
        return {k: v.reshape(-1, v.shape[-1])[keep][None] for k, v in arrays.items()}

    thinned = replace(cv_result, ite=by_hand(cv_result.ite), ite_new=by_hand(cv_result.ite_new))
    got = cv_result.metrics(truth=truth, random_state=1, max_draws=20)
    want = thinned.metrics(truth=truth, random_state=1)
    pd.testing.assert_frame_equal(got, want)
    assert not got.equals(cv_result.metrics(truth=truth, random_state=1))
    a, b = score_settings(None, 5, 0.95, 1, 500), score_settings(None, 5, 0.95, 1, None)
    assert same_settings(a, dict(a)) and not same_settings(a, b)


def test_iecv_input_errors(small_sim, small_data):
    df = small_sim.data
    two = bh.IPDData.from_frame(df[df["trial"].isin(["T1", "T2"])], outcome="y",
                                treatment="treat", study="trial", covariates=small_sim.covariates)
    with pytest.raises(DataError, match="at least 3 trials"):
        iecv(two, heterogeneity="naive", learner="s")
    three = bh.IPDData.from_frame(df[df["trial"] != "T4"], outcome="y", treatment="treat",
                                  study="trial", covariates=small_sim.covariates)
    with pytest.raises(DataError, match="fully stratified model needs 3 training trials"):
        iecv(three, heterogeneity="fully_stratified", learner="s")
    centred = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                    covariates=small_sim.covariates, center="within_study")
    with pytest.raises(DataError, match="centred within study"):
        iecv(centred, heterogeneity="naive", learner="s")
    with pytest.raises(DataError, match="expected an IPDData"):
        iecv(df, heterogeneity="naive", learner="s")
    with pytest.raises(ValueError, match="give models"):
        iecv(small_data)


BAD_SETTINGS = [
    ({"draws": 0}, "draws must be an integer >= 1"),
    ({"tune": -1}, "tune must be an integer >= 0"),
    ({"chains": 2.5}, "chains must be an integer >= 1"),
    ({"random_seed": "one"}, "random_seed must be an integer >= 0"),
    ({"target_accept": 1.0}, r"target_accept must be in \(0, 1\)"),
    ({"sampler": "stan"}, "sampler must be one of"),
    ({"mass_matrix": "dense"}, "mass_matrix must be one of"),
]


@pytest.mark.parametrize(("setting", "match"), BAD_SETTINGS)
def test_iecv_rejects_bad_sampler_settings_before_fitting(small_data, setting, match,
                                                          monkeypatch):
    import importlib

    iecv_module = importlib.import_module("bayes_hte.workflows.iecv")

    def no_fit(task):  # the check comes first: no fold is fitted
        raise AssertionError("a fold was fitted")

    monkeypatch.setattr(iecv_module, "_fit_one", no_fit)
    with pytest.raises(ValueError, match=match):
        iecv(small_data, heterogeneity="naive", learner="s", **setting)


@pytest.mark.parametrize(("setting", "match"), BAD_SETTINGS)
def test_submit_iecv_rejects_bad_sampler_settings_at_once(small_data, setting, match):
    from bayes_hte.workflows.iecv import submit_iecv

    # raised in this process, before another one is started
    with pytest.raises(ValueError, match=match):
        submit_iecv(small_data, options={"heterogeneity": "naive", "learner": "s",
                                         **setting})


def test_iecv_defaults_are_valid_chains_compiled_once(small_data, monkeypatch):
    """The default refits (IECV_SAMPLER) are full fits with a main fit's settings — four
    nutpie chains of 1000 tuning + 1000 draws — so that they converge (R-hat <= 1.01,
    reported per refit), with one compilation per structure: the second fold reuses the
    first fold's, and every fold's model is the model of all the trials (the held-out
    trial kept without patients, :func:`bayes_hte.workflows.iecv.empty_trial_fold`),
    so the main fit of the structure finds that compilation too."""
    from bayes_hte import inference
    from bayes_hte.workflows.iecv import IECV_SAMPLER

    assert IECV_SAMPLER == {"draws": 1000, "tune": 1000, "chains": 4, "sampler": "nutpie"}
    compiles, keys = [], []
    real = inference._sample_nutpie_reused

    def counting(model, **kw):
        keys.append(inference.structure_key(model))
        compiles.append(keys[-1] not in inference._COMPILED)
        return real(model, **kw)

    monkeypatch.setattr(inference, "_sample_nutpie_reused", counting)
    messages = []
    res = iecv(small_data, heterogeneity="random_intercept", learner="s",
               folds=["T1", "T2"], random_seed=3, log=messages.append)
    assert compiles[1:] == [False]  # the second fold reused the first's compilation
    main = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s").build(small_data)
    assert keys == [inference.structure_key(main)] * 2
    # valid chains: every parameter's R-hat <= 1.01 and 0 divergences in both refits
    # (largest R-hat 1.0011-1.0049 and smallest bulk ESS >= 2263 over seeds 1-8,
    # measured 2026-12-02; two chains of 100 draws, the earlier default, gave 1.024-1.128)
    assert (res.fits["max_r_hat"] <= 1.01).all(), res.fits
    assert (res.fits["divergences"] == 0).all() and (res.fits["min_ess_bulk"] > 400).all()
    assert any("max R-hat" in m for m in messages if m.startswith("IECV [2/2]"))
    assert res.ite["RI-S"].shape[:2] == (4, 1000)
    assert np.isfinite(res.ite["RI-S"][..., small_data.study_idx <= 1]).all()


def test_iecv_in_a_second_process_gives_the_same_result(cv_result, small_data, small_fitted,
                                                       cv_fast, small_sim):
    """``submit_iecv`` (what ``bayes-hte run`` starts before the main fits) returns what
    ``iecv`` returns in this process: same seeds, same refits, same predictions; scored
    there (``score=``), ``evaluate_models`` takes those scores, equal to the ones it
    computes itself from the in-process result. Only the draws scored travel back
    (``max_draws`` 30 of the 80 here): the in-process draws thinned alike."""
    from bayes_hte.workflows import evaluate_models
    from bayes_hte.workflows.iecv import log_iecv, r_hat_sentence, submit_iecv

    scoring = dict(truth_new=small_sim.data["true_ite"].to_numpy(), groups=4, ci_prob=0.9,
                   random_state=3, max_draws=30)
    background = submit_iecv(small_data, small_fitted, options=cv_fast, score=scoring)
    messages = []
    # given while it runs (as ``bayes-hte run`` does): waited for after the in-sample
    # metrics, which are computed meanwhile; its refits logged when it is collected
    there = evaluate_models(small_fitted, small_data, cv="iecv", cv_result=background,
                            loo=False, log=messages.append, **scoring)
    in_sample = next(i for i, m in enumerate(messages) if "in-sample metrics of" in m)
    waited = next(i for i, m in enumerate(messages)
                  if "s waited for it after the in-sample metrics" in m)
    assert in_sample < waited
    res = background.result()                             # collected once, kept
    assert sum(m.startswith("IECV [") for m in messages[in_sample:waited]) == len(res.fits)
    assert res.scores is not None and cv_result.scores is None
    here = evaluate_models(small_fitted, small_data, cv="iecv", cv_result=cv_result,
                           loo=False, **scoring)
    assert any("computed in the cross-validation process" in m for m in messages)
    # the given cross-validation's own fit time, not the ~0 s of taking its tables here
    assert any(m.startswith("evaluation: IECV tables from the given cross-validation")
               and f"its fits took {res.wall_seconds:.0f} s" in m for m in messages)
    assert not any("IECV (fits + metrics)" in m for m in messages)
    pd.testing.assert_frame_equal(there.table, here.table)
    assert (there.table["validation"] == "iecv").sum() > 50
    for key in here.calibration:
        pd.testing.assert_frame_equal(there.calibration[key], here.calibration[key])
        pd.testing.assert_frame_equal(there.toc[key], here.toc[key])
        pd.testing.assert_frame_equal(there.benefit_curve[key], here.benefit_curve[key])
    # other settings: scored again here, not taken from the other process
    other = evaluate_models(small_fitted, small_data, cv="iecv", cv_result=res, loo=False,
                            log=messages.append, **{**scoring, "random_state": 4})
    assert sum("computed in the cross-validation process" in m for m in messages) == 1
    assert not other.table.equals(there.table)
    background.cancel()                                   # a finished process: no-op
    assert res.labels == cv_result.labels
    thinned = cv_result.thinned(30)
    for label in res.labels:
        assert res.ite[label].shape == (1, 30, small_data.n_patients)
        assert cv_result.ite[label].shape == (1, 80, small_data.n_patients)
        np.testing.assert_array_equal(res.ite[label], thinned.ite[label])
        np.testing.assert_array_equal(res.ite_new[label], thinned.ite_new[label])
    pd.testing.assert_frame_equal(res.recalibration, cv_result.recalibration)
    lines = []
    log_iecv(res, lines.append)
    assert len(lines) == len(res.fits) + 1 + len(res.notes)
    assert lines[0].startswith("IECV [1/") and "without trial" in lines[0]
    # the totals line ends with the report's R-hat clause (none for these 1-chain refits;
    # tests/runners/test_iecv_r_hat_sentence.py logs refits with R-hat)
    summary = lines[len(res.fits)]
    assert summary.startswith(f"IECV: {len(res.fits)} fits")
    assert summary.endswith(r_hat_sentence(res.fits["max_r_hat"]))


def test_iecv_in_a_second_process_raises_its_errors_here(small_sim):
    from bayes_hte.workflows.iecv import submit_iecv

    df = small_sim.data
    two = bh.IPDData.from_frame(df[df["trial"].isin(["T1", "T2"])], outcome="y",
                                treatment="treat", study="trial", covariates=small_sim.covariates)
    grid = {"heterogeneity": "naive", "learner": "s"}
    background = submit_iecv(two, options=grid)
    with pytest.raises(DataError, match="at least 3 trials"):
        background.result()
    with pytest.raises(TypeError, match="log"):
        submit_iecv(two, options={**grid, "log": print})
    with pytest.raises(DataError, match="expected an IPDData"):
        submit_iecv(df, options=grid)
