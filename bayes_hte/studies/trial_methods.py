r"""Study method kind ``s_learner``: a Bayesian S-learner on one trial, scored per patient.

:func:`fit_s_learner` is a method kind of :data:`bayes_hte.studies.methods.METHOD_KINDS`
on a :class:`~bayes_hte.studies.simulators.TrialIPD` (simulator ``tzimas2024``): the
one-stage model :class:`bayes_hte.IPDMetaModel` with the naive structure and the
S-learner (Bouvier et al. 2024) — main effects and a treatment interaction for every
covariate, N(0, 1) priors on the interactions — fitted to one trial. It reports the
estimands and the per-patient metrics of the ``subgroup`` kind
(:func:`bayes_hte.studies.ipd_methods.fit_subgroup_model`) under the same names, so
that a study compares the subgroup model with this plain regression on the same data
sets (issue 13 f, ``models/studies/subgroup_ite_coverage.toml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_hte import diagnostics
from bayes_hte.data import IPDData
from bayes_hte.errors import DataError
from bayes_hte.estimators import IPDMetaModel
from bayes_hte.estimators.ipdma import POPULATION_VARS
from bayes_hte.options import Sampler
from bayes_hte.studies.ipd_methods import (
    _patient_metrics,
    contrast_groups,
    population_estimands,
)
from bayes_hte.studies.meta_methods import Estimate, _quiet, _wrong_data
from bayes_hte.studies.simulators import TrialIPD, data_seed

#: Sampling-health metrics of :func:`fit_s_learner` (``patient_metrics``).
S_LEARNER_HEALTH_METRICS: tuple[str, ...] = ("divergences", "max_r_hat", "min_ess_bulk")


def _standardized(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` centred and the non-0/1 ones divided by their SD
    (``ddof=0``), as :class:`bayes_hte.SubgroupHTEModel` encodes its covariates."""
    out = frame.copy()
    for col in columns:
        x = out[col].to_numpy(dtype=float)
        sd = 1.0 if np.isin(x, (0.0, 1.0)).all() else float(x.std())
        if sd == 0:
            raise DataError(f"covariate column {col!r} is constant; it cannot be "
                            "standardised")
        out[col] = (x - x.mean()) / sd
    return out


def fit_s_learner(data: TrialIPD, *, covariates: Sequence[str] = (), standardize: bool = True,
                  priors: Mapping[str, Any] | None = None, contrasts: Sequence[str] = (),
                  draws: int = 1000, tune: int = 1000, chains: int = 4,
                  sampler: Sampler | None = None, target_accept: float | None = None,
                  ci_prob: float = 0.95, seed: int = 0, patient_metrics: bool = True
                  ) -> dict[str, Estimate]:
    r"""A Bayesian S-learner fitted to one trial (kind ``"s_learner"``).

    :class:`bayes_hte.IPDMetaModel` with ``heterogeneity="naive"`` and ``learner="s"``
    (Bouvier et al. 2024, *Stat Med*: :math:`\mathrm{logit}\,P(y_i = 1) = \alpha +
    x_i^\top\theta + z_i(\gamma + x_i^\top\eta)`, every covariate interacted, the
    estimator's default priors) on ``covariates``, by NUTS seeded with
    :func:`~bayes_hte.studies.simulators.data_seed` of the data and ``seed``. With
    ``standardize`` the covariates are first centred and the non-binary ones divided by
    their SD (``ddof=0``), as :class:`bayes_hte.SubgroupHTEModel` does internally, so
    that the N(0, 1) priors act per SD of each covariate in both models. The per-patient
    log-odds CATE is :math:`\ell_{1i} - \ell_{0i} = \gamma + x_i^\top\eta`
    (:meth:`bayes_hte.IPDMetaModel.linear_predictors`), the risk-difference CATE
    :meth:`bayes_hte.IPDMetaModel.ite`.

    Parameters
    ----------
    data : TrialIPD
        One trial's patients.
    covariates : sequence of str
        Covariate columns (at least one), each with a main effect and a treatment
        interaction.
    standardize : bool
        Centre the covariates and scale the non-binary ones to SD 1 before the fit.
    priors : mapping, optional
        Prior overrides by parameter name (:class:`bayes_hte.IPDMetaModel`'s
        ``priors``).
    contrasts : sequence of str
        0/1 columns whose CATE contrast ``hte_<column>`` is reported.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains.
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        NUTS implementation (default nutpie when installed).
    target_accept : float, optional
        NUTS target acceptance (default: the estimator's).
    ci_prob : float
        Probability of the equal-tailed credible intervals, in (0, 1).
    seed : int
        Added to the data's hash to seed the sampler (>= 0).
    patient_metrics : bool
        Also report the fit's sampling health and, when the data carry the patients'
        true effects, the per-patient metrics (Returns).

    Returns
    -------
    dict
        ``ate_logit``, ``ate_rd`` (the patients' mean CATE, log-odds and risk
        difference) and one ``hte_<column>`` per contrast (the difference of the mean
        log-odds CATE of the patients with the column 1 and 0): posterior mean, SD and
        interval. With ``patient_metrics``, metrics as ``{"estimate": value}`` (no
        truth; ``thetamean``): when ``data.true_effects`` is given, the ``cate_logit_*``
        and ``cate_rd_*`` accuracy metrics and the ``cate_logit_cover_debiased``,
        ``cate_logit_average_cover``, ``cate_logit_average_z`` checks of the subgroup
        kind (same definitions; :func:`bayes_hte.studies.ipd_methods.fit_subgroup_model`);
        always :data:`S_LEARNER_HEALTH_METRICS` — divergent transitions, the largest
        R-hat (NaN with one chain) and the smallest bulk ESS of the population
        parameters (:func:`bayes_hte.diagnostics.sampling_summary`).

    Raises
    ------
    TypeError
        ``data`` is not TrialIPD.
    ValueError
        No covariates.
    DataError
        A contrast column that is not 0/1 or has a single value; a constant covariate
        with ``standardize``; as :meth:`bayes_hte.IPDData.from_frame` and
        :meth:`bayes_hte.IPDMetaModel.fit`.
    """
    if not isinstance(data, TrialIPD):
        raise _wrong_data("s_learner", data, "one trial's patient data (TrialIPD)")
    if not covariates:
        raise ValueError("the S-learner needs covariates")
    frame = data.frame
    groups = contrast_groups(frame, contrasts)
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise DataError(f"covariate column(s) {missing} are not in the data")
    fit_frame = _standardized(frame, covariates) if standardize else frame
    ipd = IPDData.from_frame(fit_frame, outcome=data.outcome, treatment=data.treatment,
                             covariates=list(covariates))
    model = IPDMetaModel(heterogeneity="naive", learner="s",
                         priors=dict(priors) if priors else None)
    with _quiet():
        model.fit(ipd, draws=draws, tune=tune, chains=chains, sampler=sampler,
                  random_seed=data_seed(data, seed), target_accept=target_accept,
                  log_likelihood=False, posterior_predictive=False)
        lp0, lp1 = model.linear_predictors()
        logit = (lp1 - lp0).transpose("chain", "draw", "patient").values
        rd = model.ite().transpose("chain", "draw", "patient").values
    out = population_estimands(logit, rd, groups, n_patients=len(frame), ci_prob=ci_prob)
    if patient_metrics and data.true_effects is not None:
        out.update(_patient_metrics(logit, rd, data.true_effects, ci_prob))
    if patient_metrics:
        post = model.idata["posterior"]
        with _quiet():
            health = diagnostics.sampling_summary(
                model.idata, var_names=[v for v in POPULATION_VARS if v in post])
        out.update({k: {"estimate": float(health[k])} for k in S_LEARNER_HEALTH_METRICS})
    return out
