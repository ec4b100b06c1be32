"""IECV folds that keep the held-out trial as a trial without patients
(:func:`bayes_hte.workflows.iecv.empty_trial_fold`): the fold's model is the model of
all the trials (same compiled log density), and its posterior of everything but the
empty trial is that of the model fitted on the other trials alone."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte.effects.ipdma import synthesize_intercepts
from bayes_hte.inference import structure_key
from bayes_hte.simulate.bouvier2024 import bouvier2024
from bayes_hte.workflows.iecv import (
    EMPTY_TRIAL_STRUCTURES,
    _drop_empty_trials,
    empty_trial_fold,
)

#: Constructor options as the IECV passes them (template_options), per structure.
OPTIONS = {het: {"heterogeneity": het, "learner": "s", "parameterization": "auto"}
           for het in EMPTY_TRIAL_STRUCTURES}


def _train(data, held_out):
    """The fold's training data as the IECV builds it."""
    return data.subset(data.study_idx != list(data.study_labels).index(held_out))


@pytest.mark.parametrize("het", EMPTY_TRIAL_STRUCTURES)
@pytest.mark.parametrize("learner", ["s", "t"])
def test_fold_is_the_model_of_all_trials(small_data, het, learner):
    opts = {**OPTIONS[het], "learner": learner}
    train = _train(small_data, "T2")
    fold = empty_trial_fold(small_data, train, opts)
    assert fold is not None
    assert list(fold.study_labels) == list(small_data.study_labels)
    # the held-out trial (position 1) has no patients; the others keep theirs, in order
    np.testing.assert_array_equal(np.bincount(fold.study_idx, minlength=4),
                                  [150, 0, 150, 150])
    np.testing.assert_array_equal(fold.X, train.X)      # train's centring, not all's
    np.testing.assert_array_equal(fold.y, train.y)
    np.testing.assert_array_equal(fold.z, train.z)
    model = bh.IPDMetaModel(**opts)
    assert structure_key(model.build(fold)) == structure_key(model.build(small_data))
    assert structure_key(model.build(train)) != structure_key(model.build(small_data))


def test_naive_folds_need_no_empty_trial(small_data):
    """No trial-level parameters: the fold on fewer trials already has the model of all
    the trials (and is left as it is)."""
    train = _train(small_data, "T2")
    opts = {"heterogeneity": "naive", "learner": "s", "parameterization": "auto"}
    assert empty_trial_fold(small_data, train, opts) is None
    model = bh.IPDMetaModel(**opts)
    assert structure_key(model.build(train)) == structure_key(model.build(small_data))


def test_no_empty_trial_where_it_would_change_the_posterior_or_the_sampler(small_data,
                                                                           small_sim):
    train = _train(small_data, "T1")
    # rank-1: the trial scales are constrained over the trials
    assert empty_trial_fold(small_data, train, {**OPTIONS["random_intercept"],
                                                "heterogeneity": "rank1"}) is None
    # a centred trial effect without data is a funnel
    for het in ("random_intercept", "fully_stratified"):
        opts = {**OPTIONS[het], "parameterization": "centered"}
        assert empty_trial_fold(small_data, train, opts) is None
    # covariates centred within trials: the held-out trial has no mean to centre by
    within = bh.IPDData.from_frame(small_sim.data, outcome="y", treatment="treat",
                                   study="trial", covariates=small_sim.covariates,
                                   center="within_study")
    assert empty_trial_fold(within, _train(within, "T1"),
                            OPTIONS["stratified_intercept"]) is None
    # aggregate-data trials in the model
    assert empty_trial_fold(small_data, train, {**OPTIONS["random_intercept"],
                                                "aggregate": object()}) is None


def test_empty_trial_only_for_intercept_forms_without_a_funnel():
    """Large trials: ``parameterization="auto"`` gives the random intercepts the
    partially centred form, whose intercept of a trial without patients is non-centred
    (anchor standard error NO_PATIENTS_SE, weight ~0): the fold keeps the empty trial and
    the model of all the trials. A centred or anchored intercept without patients would
    be a funnel: no empty trial there."""
    sim = bouvier2024(trials=4, patients_per_trial=3000, covariates=3, tau_alpha=0.3, alpha=0.0,
                      effect_variation=False, seed=3)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=sim.covariates)
    from bayes_hte.models.ipdma import NO_PATIENTS_SE, intercept_form

    train = _train(data, "T1")
    for learner in ("s", "t"):
        opts = {**OPTIONS["random_intercept"], "learner": learner}
        assert intercept_form(train, **opts) == "partially_centered"
        fold = empty_trial_fold(data, train, opts)
        assert fold is not None
        model = bh.IPDMetaModel(**opts)
        built = model.build(fold)
        assert structure_key(built) == structure_key(model.build(data))
        se = built["alpha_anchor_se"].get_value()
        np.testing.assert_array_equal(se[0], NO_PATIENTS_SE)   # T1, held out
        assert np.all(se[1:] < 0.2)                             # 3000-patient trials
        for form in ("centered", "anchored"):
            assert empty_trial_fold(data, train, {**opts, "parameterization": form}) is None
    # the structures without random intercepts keep the empty trial at any size
    assert empty_trial_fold(data, train, OPTIONS["stratified_intercept"]) is not None


def test_no_empty_trial_for_time_to_event():
    sim = bouvier2024(trials=3, patients_per_trial=80, covariates=3, outcome="time_to_event",
                      seed=4)
    data = bh.IPDData.from_frame(sim.data, outcome=sim.outcome, treatment="treat",
                                 study="trial", covariates=sim.covariates, time=sim.time)
    opts = {**OPTIONS["random_intercept"], "outcome": "time_to_event"}
    assert empty_trial_fold(data, _train(data, "T1"), opts) is None


#: The fit's defaults otherwise (log likelihood and posterior predictive kept).
FIT = dict(draws=400, tune=400, chains=2, sampler="pymc")


@pytest.mark.parametrize("het", ["random_intercept", "stratified_intercept"])
def test_empty_trial_leaves_the_other_trials_posterior_unchanged(small_data, het):
    """Fit on the fold with the empty trial, drop it: the posterior of the population
    and the kept trials' parameters agrees with the fit on the kept trials alone
    (within Monte Carlo error: means within 0.25 posterior SD; measured below 0.08),
    and the stratified intercepts' synthesis is that of the kept trials exactly."""
    train = _train(small_data, "T3")
    fold = empty_trial_fold(small_data, train, OPTIONS[het])
    ghost, plain = bh.IPDMetaModel(**OPTIONS[het]), bh.IPDMetaModel(**OPTIONS[het])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ghost.fit(fold, random_seed=11, **FIT)
        plain.fit(train, random_seed=12, **FIT)
    _drop_empty_trials(ghost, train)
    assert ghost.data is train
    post, ref = ghost.idata["posterior"].to_dataset(), plain.idata["posterior"].to_dataset()
    assert list(post["study"].values) == ["T1", "T2", "T4"]
    assert post.attrs["bayes_hte_options"] == ref.attrs["bayes_hte_options"]
    stored = ghost.idata[ghost.data_group].to_dataset()
    assert sorted(set(stored["trial"].values)) == ["T1", "T2", "T4"]
    # the per-patient groups of the default fit describe the kept patients
    np.testing.assert_array_equal(
        ghost.idata["constant_data"].to_dataset()["study_idx"].values, train.study_idx)
    loglik = ghost.idata["log_likelihood"].to_dataset()["y"]
    assert loglik.sizes["patient"] == train.n_patients and np.isfinite(loglik).all()
    assert ghost.idata["posterior_predictive"].to_dataset()["y"].sizes["patient"] == 450
    names = ["gamma", "eta", "theta", "alpha_study"]
    names += ["alpha", "tau_alpha"] if het == "random_intercept" else []
    for name in names:
        a, b = post[name], ref[name]
        sd = float(b.std()) if b.ndim == 2 else b.std(("chain", "draw"))
        gap = np.abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw"))) / sd
        assert float(gap.max()) < 0.25, name
    if het == "stratified_intercept":
        again = synthesize_intercepts(ghost.idata)["posterior"].to_dataset()
        np.testing.assert_array_equal(post["alpha"].values, again["alpha"].values)
        # the pooled intercept is computed over the kept trials: it agrees with the
        # plain fit's, not with a synthesis that included the empty trial's prior draws
        gap = abs(float(post["alpha"].mean() - ref["alpha"].mean())) / float(ref["alpha"].std())
        assert gap < 0.25
    # predictions for the held-out trial work on the reduced model
    test = small_data.subset(small_data.study_idx == 2)
    ite = ghost.ite(test.frame, new_trial=True)
    assert np.isfinite(np.asarray(ite)).all()
