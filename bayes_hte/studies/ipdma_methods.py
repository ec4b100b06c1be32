r"""Study method for parameter recovery of the one-stage IPD meta-analysis (kind ``"ipdma_fit"``).

:func:`fit_ipdma` fits :class:`bayes_hte.IPDMetaModel` to every trial of a
:class:`~bayes_hte.studies.simulators.MetaIPD` (simulator ``bouvier2024_fit``: the
design of Bouvier et al. 2024, binary or Weibull time-to-event outcome) and reports

* the population coefficients (:data:`IPDMA_FIT_PARAMETERS`, every element named as
  :meth:`bayes_hte.IPDMetaModel.parameters` names it: ``gamma``, ``eta[x1]``,
  ``theta[x1]``, ``tau_alpha``, ``shape``; T-learner ``theta[control, x1]``, ...): the
  posterior mean, SD and equal-tailed interval, whose truth is the design's value (so
  ``bias`` and ``cover`` of :func:`bayes_hte.studies.performance` are the recovery of
  each coefficient);
* metrics as ``{"estimate": value}`` without a truth (:data:`IPDMA_FIT_METRICS`,
  summarised over replicates by ``thetamean``): the correlation of the posterior-mean
  ITE with the true average-trial ITE, and the health of the fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayes_hte import diagnostics
from bayes_hte.estimators import IPDMetaModel
from bayes_hte.estimators.ipdma import POPULATION_VARS
from bayes_hte.options import BASELINES, Baseline, Heterogeneity, Learner, Sampler, check_choice
from bayes_hte.studies.meta_methods import (
    Estimate,
    _draw_summary,
    _posterior_elements,
    _quiet,
    _wrong_data,
)
from bayes_hte.studies.simulators import MetaIPD, data_seed

#: Posterior variables whose elements :func:`fit_ipdma` reports (those the model has).
IPDMA_FIT_PARAMETERS: tuple[str, ...] = ("theta", "gamma", "eta", "tau_alpha", "shape")
#: Metrics of :func:`fit_ipdma` (``ite_corr`` only when the data carry the true
#: average-trial ITEs).
IPDMA_FIT_METRICS: tuple[str, ...] = ("ite_corr", "divergences", "max_r_hat",
                                      "min_ess_bulk")


def fit_ipdma(data: MetaIPD, *, heterogeneity: Heterogeneity = "random_intercept",
              learner: Learner = "s", baseline: Baseline = "weibull",
              priors: Mapping[str, Any] | None = None, draws: int = 500, tune: int = 500,
              chains: int = 2, sampler: Sampler | None = None,
              target_accept: float | None = None, ci_prob: float = 0.95, seed: int = 0
              ) -> dict[str, Estimate]:
    r"""Parameter recovery of a one-stage IPD meta-analysis (kind ``"ipdma_fit"``).

    :class:`bayes_hte.IPDMetaModel` with ``heterogeneity`` and ``learner`` (the models of
    Bouvier et al. 2024, *BMC Med Res Methodol*; outcome type as the data's: binary, or
    time to event with ``baseline``) fitted by NUTS to every trial of ``data`` (a
    held-out label, if any, is ignored); the sampler's seed is
    :func:`~bayes_hte.studies.simulators.data_seed` of the data and ``seed``. The fit
    keeps neither the pointwise log likelihood nor the posterior predictive (the
    sampler is unchanged by that). The study spec ``models/studies/ipdma_recovery.toml``
    runs it.

    Parameters
    ----------
    data : MetaIPD
        The replicate's trials (``bouvier2024_fit``: with the true average-trial ITEs
        and the design's coefficients).
    heterogeneity : str
        Trial structure: ``"naive"``, ``"random_intercept"``, ``"stratified_intercept"``,
        ``"rank1"`` or ``"fully_stratified"``.
    learner : {"s", "t"}
        S- or T-learner.
    baseline : {"weibull", "piecewise"}
        Baseline hazard of a time-to-event outcome (ignored for a binary one).
    priors : mapping, optional
        Prior overrides by parameter name (the estimator's ``priors``).
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains.
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        NUTS implementation (default nutpie when installed; PyMC cannot start its chain
        processes inside Dask's daemonic workers).
    target_accept : float, optional
        NUTS target acceptance (default: the structure's,
        :meth:`bayes_hte.options.IPDMAOptions.target_accept`).
    ci_prob : float
        Probability of the equal-tailed credible intervals, in (0, 1).
    seed : int
        Added to the data's hash to seed the sampler (>= 0).

    Returns
    -------
    dict
        For every element of the posterior variables of :data:`IPDMA_FIT_PARAMETERS`
        the model has (log-odds, or log-hazard for time to event; S-learner
        ``theta[x]``, ``gamma``, ``eta[x]``, T-learner ``theta[arm, x]``, and
        ``tau_alpha``, ``shape`` where the structure has them): ``{"estimate", "se",
        "ci_low", "ci_high"}`` = posterior mean, SD, equal-tailed ``ci_prob``
        interval. And as ``{"estimate": value}`` (no truth; ``thetamean``):

        * ``ite_corr`` — :math:`\mathrm{cor}(\hat\tau, \tau^{avg})`, the Pearson
          correlation over all patients of the posterior-mean ITE :math:`\hat\tau_i`
          (:meth:`bayes_hte.IPDMetaModel.ite`, average trial: a risk difference, or a
          survival difference at the median follow-up) with the true ITE in an average
          trial (:attr:`MetaIPD.true_ite_average`); only when the data carry it, NaN
          when either is constant;
        * ``divergences`` (divergent transitions), ``max_r_hat`` (largest rank-normalised
          R-hat; NaN with one chain), ``min_ess_bulk`` (smallest bulk ESS) over the
          population parameters (:meth:`bayes_hte.IPDMetaModel.parameters`;
          :func:`bayes_hte.diagnostics.sampling_summary`).

    Raises
    ------
    TypeError
        ``data`` is not MetaIPD.
    ValueError
        An unknown ``baseline`` (and, from the estimator, an unknown structure or
        learner).
    DataError
        As :meth:`bayes_hte.IPDMetaModel.fit` (e.g. too few trials for the structure).
    """
    if not isinstance(data, MetaIPD):
        raise _wrong_data("ipdma_fit", data, "IPD of several trials (MetaIPD)")
    check_choice("baseline", baseline, BASELINES)
    ipd = data.data
    outcome = ipd.outcome_type
    extra = {"baseline": baseline} if outcome == "time_to_event" else {}
    model = IPDMetaModel(heterogeneity=heterogeneity, learner=learner, outcome=outcome,
                         priors=dict(priors) if priors else None, **extra)
    with _quiet():
        model.fit(ipd, draws=draws, tune=tune, chains=chains, sampler=sampler,
                  random_seed=data_seed(data, seed), target_accept=target_accept,
                  log_likelihood=False, posterior_predictive=False)
        ite = model.ite().transpose("chain", "draw", "patient").values
        post = model.idata["posterior"]
        health = diagnostics.sampling_summary(
            model.idata, var_names=[v for v in POPULATION_VARS if v in post])
    out: dict[str, Estimate] = {}
    for name in IPDMA_FIT_PARAMETERS:
        if name in post:
            out |= {label: _draw_summary(draws, ci_prob)
                    for label, draws in _posterior_elements(post, name).items()}
    if data.true_ite_average is not None:
        est = ite.mean(axis=(0, 1))
        truth = np.asarray(data.true_ite_average, dtype=float)
        if est.std() > 0 and truth.std() > 0:
            corr = float(np.corrcoef(est, truth)[0, 1])
        else:
            corr = float("nan")
        out["ite_corr"] = {"estimate": corr}
    out |= {"divergences": {"estimate": float(health["divergences"])},
            "max_r_hat": {"estimate": float(health["max_r_hat"])},
            "min_ess_bulk": {"estimate": float(health["min_ess_bulk"])}}
    return out
