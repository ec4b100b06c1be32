"""Shared small data and fits for the evaluation tests (fitted once per session)."""

from __future__ import annotations

import warnings

import pytest

import bayes_hte as bh
from bayes_hte.simulate.bouvier2024 import bouvier2024

#: Cheap sampler settings of the fixtures' main fits.
FAST = dict(draws=250, tune=150, chains=1, sampler="pymc", random_seed=5)
#: Cheap settings of the cross-validation fits in the tests.
CV_FAST = dict(draws=80, tune=100, chains=1, sampler="pymc", random_seed=7)


@pytest.fixture(scope="session")
def cv_fast():
    return dict(CV_FAST)


@pytest.fixture(scope="session")
def small_sim():
    # 4 trials x 150 patients; clearly different trial intercepts (tau_alpha = 1) so that
    # the recalibration shifts have something to recover
    return bouvier2024(trials=4, patients_per_trial=150, covariates=3, tau_alpha=1.0,
                       effect_variation=False, seed=12)


@pytest.fixture(scope="session")
def small_data(small_sim):
    return bh.IPDData.from_frame(small_sim.data, outcome="y", treatment="treat",
                                 study="trial", covariates=small_sim.covariates)


@pytest.fixture(scope="session")
def small_fitted(small_data):
    fitted = {}
    for het, lr in (("naive", "s"), ("random_intercept", "t")):
        m = bh.IPDMetaModel(heterogeneity=het, learner=lr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(small_data, **FAST, posterior_predictive=False)
        fitted[m.label] = m
    return fitted
