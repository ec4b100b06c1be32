r"""Study methods on individual patient data: the subgroup model and IPD meta-analysis.

Each function is a method kind of :data:`bayes_hte.studies.methods.METHOD_KINDS`:
``method(data, *, options) -> {estimand: {"estimate", "se", "ci_low", "ci_high"}}``, on a
:class:`~bayes_hte.studies.simulators.TrialIPD` (``subgroup``) or a
:class:`~bayes_hte.studies.simulators.MetaIPD` (``ipdma_holdout``, estimands in
:func:`fit_ipdma_holdout`).

Estimands of the subgroup model (averages over the data set's patients, each summarised
by its posterior mean, SD and equal-tailed interval):

* ``ate_logit`` — the mean CATE on the log-odds scale, :math:`\frac1n\sum_i \tau(x_i)`;
* ``ate_rd`` — the mean CATE on the risk-difference scale;
* ``hte_<x>`` — for a 0/1 column :math:`x` named in ``contrasts``, the difference of the
  mean log-odds CATE of the patients with :math:`x = 1` and with :math:`x = 0`.

With ``patient_metrics`` it also reports, as metrics ``{"estimate": value}`` without a
truth (summarised over replicates by ``thetamean``), how well the per-patient CATEs match
the patients' true effects when the data carry them (:data:`SUBGROUP_PATIENT_METRICS`,
Tzimas 2024, Table 7) and the health of the fit (:data:`SUBGROUP_HEALTH_METRICS`).

They estimate the population values the simulator's truth gives (for the Tzimas
design, :func:`bayes_hte.studies.simulators` ``tzimas2024``); the sample average differs
from the population one by the sampling of the covariates, an SD of about
:math:`\mathrm{SD}(TE_i)/\sqrt n` (0.016 on the log-odds scale for the Tzimas design at
n = 2000), small next to the posterior SDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_hte import diagnostics
from bayes_hte.data import IPDData
from bayes_hte.errors import DataError
from bayes_hte.estimators import IPDMetaModel, SubgroupHTEModel
from bayes_hte.evaluation.metrics import metric_table
from bayes_hte.options import (
    IPD_AGGREGATE_SOURCES,
    Heterogeneity,
    IndividualForm,
    IPDAggregateSource,
    Learner,
    Sampler,
    SubgroupParameterization,
    check_choice,
)
from bayes_hte.studies.meta_methods import (
    Estimate,
    _draw_summary,
    _posterior_elements,
    _quiet,
    _wrong_data,
)
from bayes_hte.studies.simulators import IPDAggregateData, MetaIPD, TrialIPD, data_seed
from bayes_hte.workflows.iecv import iecv

#: Metrics of the held-out predictions that :func:`fit_ipdma_holdout` reports.
HOLDOUT_METRICS: tuple[str, ...] = (
    "c_for_benefit", "calibration_intercept", "calibration_slope", "mse", "ci_coverage",
    "pi_coverage", "pape",
)


#: Per-patient measures of a CATE against the truth, :func:`_patient_accuracy`.
_PATIENT_MEASURES = ("corr", "rmse", "mae", "bias", "cover", "width")
#: Checks of the per-patient log-odds intervals over one data set, :func:`_interval_checks`.
_INTERVAL_CHECKS = ("cover_debiased", "average_cover", "average_z")
#: Per-patient accuracy metrics of :func:`fit_subgroup_model` (``patient_metrics`` and
#: data with ``true_effects``): ``cate_<scale>_<measure>`` on the log-odds (``logit``) and
#: risk-difference (``rd``) scales, the mean error and the coverage of the conditional
#: log-odds CATE, the interval checks of :func:`_interval_checks` and, with the
#: individual layer only, the coverage and width of the intervals of ``eta()``.
SUBGROUP_PATIENT_METRICS: tuple[str, ...] = (
    *(f"cate_logit_{m}" for m in _PATIENT_MEASURES), "cate_logit_bias_conditional",
    *(f"cate_rd_{m}" for m in _PATIENT_MEASURES),
    *(f"cate_logit_{m}" for m in _INTERVAL_CHECKS), "cate_logit_cover_conditional",
    "eta_cover", "eta_width",
)
#: Sampling-health metrics of :func:`fit_subgroup_model` (``patient_metrics``).
SUBGROUP_HEALTH_METRICS: tuple[str, ...] = (
    "divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail", "geweke_over_2",
)


def _patient_accuracy(draws: np.ndarray, truth: np.ndarray, ci_prob: float
                      ) -> dict[str, float]:
    r"""Posterior-mean CATE against the truth, over the patients of one data set.

    ``draws`` has shape (chain, draw, patient), ``truth`` (patient,). The measures of
    :func:`bayes_hte.evaluation.truth.accuracy_metrics` (point estimate: posterior mean;
    interval: equal-tailed ``ci_prob`` quantiles): ``corr`` (Pearson, NaN when the
    estimate or the truth is constant), ``rmse``, ``mae``, ``bias`` (mean error),
    ``cover`` (share of patients whose interval holds their truth), ``width`` (mean
    interval width).
    """
    flat = draws.reshape(-1, draws.shape[-1])
    est = flat.mean(axis=0)
    lo, hi = np.quantile(flat, [(1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2], axis=0)
    err = est - truth
    ec, tc = est - est.mean(), truth - truth.mean()
    den = float(np.sqrt(np.sum(ec**2) * np.sum(tc**2)))
    return {"corr": float(np.sum(ec * tc) / den) if den > 0 else float("nan"),
            "rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "bias": float(np.mean(err)),
            "cover": float(np.mean((truth >= lo) & (truth <= hi))),
            "width": float(np.mean(hi - lo))}


def _interval_checks(draws: np.ndarray, truth: np.ndarray, ci_prob: float
                     ) -> dict[str, float]:
    r"""What the per-patient intervals of one data set share (issue 13 f).

    ``draws`` (chain, draw, patient), ``truth`` (patient,); :math:`\hat\theta_i` the
    posterior mean, :math:`[l_i, u_i]` the equal-tailed ``ci_prob`` interval,
    :math:`\bar e = \frac1n\sum_i(\hat\theta_i - \theta_i)` the mean error and
    :math:`A^{(s)} = \frac1n\sum_i c_i^{(s)}` the patients' average CATE in draw
    :math:`s` (:math:`c_i^{(s)}` the draws):

    * ``cover_debiased`` — :math:`\frac1n\sum_i 1(l_i \le \theta_i + \bar e \le u_i)`,
      the coverage once the error every patient shares is removed;
    * ``average_cover`` — 1 if the equal-tailed interval of :math:`A` holds
      :math:`\bar\theta = \frac1n\sum_i\theta_i`, else 0;
    * ``average_z`` — :math:`(\bar A - \bar\theta) / \mathrm{SD}(A)` (posterior mean and
      SD over the draws, ``ddof=1``; NaN when the SD is 0): near N(0, 1) over data sets
      when the intervals are calibrated.
    """
    flat = draws.reshape(-1, draws.shape[-1])
    est = flat.mean(axis=0)
    lo, hi = np.quantile(flat, [(1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2], axis=0)
    shifted = truth + np.mean(est - truth)
    avg, target = flat.mean(axis=1), float(np.mean(truth))
    a_lo, a_hi = np.quantile(avg, [(1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2])
    sd = float(avg.std(ddof=1)) if avg.size > 1 else 0.0
    return {"cover_debiased": float(np.mean((shifted >= lo) & (shifted <= hi))),
            "average_cover": float(a_lo <= target <= a_hi),
            "average_z": (float(avg.mean()) - target) / sd if sd > 0 else float("nan")}


def _patient_metrics(logit: np.ndarray, rd: np.ndarray, truth: Any, ci_prob: float
                     ) -> dict[str, Estimate]:
    """``cate_<scale>_<measure>`` (:func:`_patient_accuracy`) of the log-odds and
    risk-difference CATE draws (chain, draw, patient) against ``truth``'s ``true_te`` and
    ``true_cate``, and ``cate_logit_<check>`` (:func:`_interval_checks`), as metrics."""
    out: dict[str, Estimate] = {}
    for scale, draws, column in (("logit", logit, "true_te"), ("rd", rd, "true_cate")):
        acc = _patient_accuracy(draws, truth[column].to_numpy(dtype=float), ci_prob)
        out.update({f"cate_{scale}_{m}": {"estimate": v} for m, v in acc.items()})
    checks = _interval_checks(logit, truth["true_te"].to_numpy(dtype=float), ci_prob)
    out.update({f"cate_logit_{m}": {"estimate": v} for m, v in checks.items()})
    return out


def _sampling_health(model: SubgroupHTEModel) -> dict[str, float]:
    """Divergences, worst R-hat, smallest bulk / tail ESS of the population, subgroup
    and trial parameters (:meth:`SubgroupHTEModel.diagnostic_vars`), and the share of
    Geweke |z| > 2 over those parameters and chains (NaN when no z-score is defined)."""
    names = model.diagnostic_vars()
    health = diagnostics.sampling_summary(model.idata, var_names=names)
    try:
        z = diagnostics.geweke(model.idata, var_names=names).to_numpy(dtype=float)
    except ValueError:  # chains too short for the Geweke windows
        z = np.array([])
    z = z[np.isfinite(z)]
    return {"divergences": float(health["divergences"]), "max_r_hat": health["max_r_hat"],
            "min_ess_bulk": health["min_ess_bulk"], "min_ess_tail": health["min_ess_tail"],
            "geweke_over_2": float(np.mean(np.abs(z) > 2)) if z.size else float("nan")}


def contrast_groups(frame: pd.DataFrame, contrasts: Sequence[str]) -> dict[str, np.ndarray]:
    """The patients with ``x = 1`` of each 0/1 contrast column, checked.

    Parameters
    ----------
    frame : pandas.DataFrame
        The trial's patients.
    contrasts : sequence of str
        0/1 columns whose CATE contrast ``hte_<column>`` a method reports.

    Returns
    -------
    dict
        Column -> boolean mask, shape (patient,).

    Raises
    ------
    DataError
        A column that is missing, or does not hold both 0 and 1 (and nothing else).
    """
    groups = {}
    for col in contrasts:
        if col not in frame.columns:
            raise DataError(f"contrast column {col!r} is not in the data")
        values = frame[col].to_numpy()
        if not np.isin(values, (0, 1)).all() or np.unique(values).size < 2:
            raise DataError(f"contrast column {col!r} must hold 0 and 1")
        groups[col] = values == 1
    return groups


def population_estimands(logit: np.ndarray, rd: np.ndarray, groups: dict[str, np.ndarray],
                         *, n_patients: int, ci_prob: float) -> dict[str, Estimate]:
    """``ate_logit``, ``ate_rd`` and ``hte_<column>`` from per-patient CATE draws.

    Parameters
    ----------
    logit, rd : numpy.ndarray, shape (chain, draw, patient)
        CATE draws on the log-odds and risk-difference scales.
    groups : dict
        Contrast column -> mask of its patients with ``x = 1`` (:func:`contrast_groups`).
    n_patients : int
        Patients of the data set (the draws must cover every one).
    ci_prob : float
        Probability of the equal-tailed intervals.

    Returns
    -------
    dict
        Posterior mean, SD and interval of the mean CATE on both scales and of each
        contrast (difference of the mean log-odds CATE with ``x = 1`` and ``x = 0``).

    Raises
    ------
    DataError
        The draws do not cover every patient.
    """
    if logit.shape[-1] != n_patients:
        raise DataError(f"the model kept {logit.shape[-1]} of the {n_patients} patients; "
                        "contrasts and per-patient metrics need every row")
    out = {"ate_logit": _draw_summary(logit.mean(axis=-1), ci_prob),
           "ate_rd": _draw_summary(rd.mean(axis=-1), ci_prob)}
    for col, ones in groups.items():
        diff = logit[..., ones].mean(axis=-1) - logit[..., ~ones].mean(axis=-1)
        out[f"hte_{col}"] = _draw_summary(diff, ci_prob)
    return out


def fit_subgroup_model(data: TrialIPD, *, covariates: Sequence[str] = (),
                       interactions: Sequence[str] | None = None,
                       subgroups: Sequence[str] = (), individual_effects: bool = True,
                       individual_form: IndividualForm = "marginalized",
                       parameterization: SubgroupParameterization = "non_centered",
                       priors: Mapping[str, Any] | None = None,
                       contrasts: Sequence[str] = (), draws: int = 1000, tune: int = 1000,
                       chains: int = 4, sampler: Sampler | None = None,
                       target_accept: float | None = 0.9, ci_prob: float = 0.95,
                       seed: int = 0, patient_metrics: bool = True) -> dict[str, Estimate]:
    r"""The hierarchical subgroup model of Tzimas (2024) (kind ``"subgroup"``).

    :class:`bayes_hte.SubgroupHTEModel`: covariate main effects and treatment
    interactions, random subgroup effects per named subgrouping and (optionally) an
    individual layer, fitted by NUTS with the estimator's defaults unless set here; the
    sampler's seed is :func:`~bayes_hte.studies.simulators.data_seed` of the data and
    ``seed``. The CATEs are the marginal ones (:meth:`SubgroupHTEModel.cate_logit`).

    Parameters
    ----------
    data : TrialIPD
        One trial's patients.
    covariates : sequence of str
        Covariate columns with main effects (at least one).
    interactions : sequence of str, optional
        Covariates with a treatment interaction (default: all covariates).
    subgroups : sequence of str
        Subgrouping columns with random subgroup effects (e.g. ``["gender"]``).
    individual_effects : bool
        Include the individual layer.
    individual_form : {"marginalized", "non_centered"}
        Integrate the individual deviations out or sample them.
    parameterization : {"non_centered", "centered"}
        Form of the subgroup levels.
    priors : mapping, optional
        Prior overrides by parameter name.
    contrasts : sequence of str
        0/1 columns whose CATE contrast ``hte_<column>`` is reported.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains.
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        NUTS implementation (default nutpie when installed; PyMC cannot start its
        chain processes inside Dask's daemonic workers).
    target_accept : float, optional
        NUTS target acceptance (the estimator's default 0.9).
    ci_prob : float
        Probability of the equal-tailed credible intervals, in (0, 1).
    seed : int
        Added to the data's hash to seed the sampler (>= 0).
    patient_metrics : bool
        Also report the fit's sampling health and, when the data carry the patients'
        true effects (:attr:`TrialIPD.true_effects`), the accuracy of the per-patient
        CATEs (Returns).

    Returns
    -------
    dict
        ``ate_logit``, ``ate_rd`` and one ``hte_<column>`` per contrast, each
        ``{"estimate", "se", "ci_low", "ci_high"}`` (posterior mean, SD, interval).
        With ``patient_metrics``, metrics as ``{"estimate": value}`` (no truth: the
        performance measure is their mean over replicates, ``thetamean``):

        * when ``data.true_effects`` is given, :data:`SUBGROUP_PATIENT_METRICS` — the
          posterior-mean CATE :math:`\hat\theta_i` of the :math:`n` patients against
          their true effects :math:`\theta_i`, on the log-odds scale (``cate_logit_*``:
          the marginal CATE vs ``true_te``) and the risk-difference scale (``cate_rd_*``:
          vs ``true_cate``): ``corr`` :math:`= \mathrm{cor}(\hat\theta, \theta)`
          (NaN when either is constant), ``rmse`` :math:`= \sqrt{\frac1n\sum_i
          (\hat\theta_i - \theta_i)^2}`, ``mae`` :math:`= \frac1n\sum_i
          |\hat\theta_i - \theta_i|`, ``bias`` :math:`= \frac1n\sum_i (\hat\theta_i
          - \theta_i)`, ``cover`` (share of patients whose equal-tailed ``ci_prob``
          interval holds :math:`\theta_i`), ``width`` (mean interval width); and
          ``cate_logit_bias_conditional``, the ``bias`` of the conditional CATE
          :math:`\tau_i` (:meth:`SubgroupHTEModel.cate_logit`, ``kind="conditional"``;
          equal to ``cate_logit_bias`` without the individual layer). Tzimas (2024),
          Table 7; the formulas of :func:`bayes_hte.evaluation.truth.accuracy_metrics`.
          And what a data set's log-odds intervals share (issue 13 f,
          ``docs/subgroup.md``): ``cate_logit_cover_debiased`` (the coverage of
          :math:`\theta_i` shifted by the mean error), ``cate_logit_average_cover`` (1 if
          the interval of the patients' average CATE holds their average true effect),
          ``cate_logit_average_z`` (that average's error in posterior SDs),
          ``cate_logit_cover_conditional`` (the coverage of the intervals of
          :math:`\tau_i`); with the individual layer, ``eta_cover`` and ``eta_width``,
          the coverage of :math:`\theta_i` by the intervals of the individual effects
          :math:`\eta_i` (:meth:`SubgroupHTEModel.eta`) and their mean width.
        * :data:`SUBGROUP_HEALTH_METRICS` — ``divergences`` (divergent transitions),
          ``max_r_hat`` (largest rank-normalised R-hat; NaN with one chain),
          ``min_ess_bulk``, ``min_ess_tail`` (smallest ESS) of the population, subgroup
          and trial parameters (:meth:`SubgroupHTEModel.diagnostic_vars`;
          :func:`bayes_hte.diagnostics.sampling_summary`) and ``geweke_over_2``, the
          share of Geweke (1992) z-scores beyond ±2 over those parameters × chains
          (:func:`bayes_hte.diagnostics.geweke`; NaN when the chains are too short).

    Raises
    ------
    TypeError
        ``data`` is not TrialIPD.
    ValueError
        No covariates.
    DataError
        A contrast column that is not 0/1 or has a single value in the data; as
        :meth:`bayes_hte.IPDData.from_frame` and :meth:`bayes_hte.SubgroupHTEModel.fit`.
    """
    if not isinstance(data, TrialIPD):
        raise _wrong_data("subgroup", data, "one trial's patient data (TrialIPD)")
    if not covariates:
        raise ValueError("the subgroup model needs covariates")
    frame = data.frame
    groups = contrast_groups(frame, contrasts)
    ipd = IPDData.from_frame(frame, outcome=data.outcome, treatment=data.treatment,
                             covariates=list(covariates))
    model = SubgroupHTEModel(subgroups=list(subgroups), interactions=(
        None if interactions is None else list(interactions)),
        individual_effects=individual_effects, individual_form=individual_form,
        parameterization=parameterization, priors=dict(priors) if priors else None)
    with _quiet():
        model.fit(ipd, draws=draws, tune=tune, chains=chains, sampler=sampler,
                  random_seed=data_seed(data, seed), target_accept=target_accept,
                  log_likelihood=False, posterior_predictive=False)
        logit = model.cate_logit().transpose("chain", "draw", "patient").values
        rd = model.ite().transpose("chain", "draw", "patient").values
        truth = data.true_effects if patient_metrics else None
        conditional = (model.cate_logit(kind="conditional").transpose(
            "chain", "draw", "patient").values
            if truth is not None and individual_effects else logit)
        eta = (model.eta().transpose("chain", "draw", "patient").values
               if truth is not None and individual_effects else None)
    out = population_estimands(logit, rd, groups, n_patients=len(frame), ci_prob=ci_prob)
    if truth is not None:
        out.update(_patient_metrics(logit, rd, truth, ci_prob))
        te = truth["true_te"].to_numpy(dtype=float)
        bias = float(np.mean(conditional.mean(axis=(0, 1)) - truth["true_te"].to_numpy()))
        out["cate_logit_bias_conditional"] = {"estimate": bias}
        out["cate_logit_cover_conditional"] = {
            "estimate": _patient_accuracy(conditional, te, ci_prob)["cover"]}
        if eta is not None:
            acc = _patient_accuracy(eta, te, ci_prob)
            out["eta_cover"], out["eta_width"] = ({"estimate": acc["cover"]},
                                                  {"estimate": acc["width"]})
    if patient_metrics:
        with _quiet():
            health = _sampling_health(model)
        out.update({k: {"estimate": v} for k, v in health.items()})
    return out


def fit_ipdma_holdout(data: MetaIPD, *, heterogeneity: Heterogeneity = "random_intercept",
                      learner: Learner = "s", draws: int = 200, tune: int = 200,
                      chains: int = 1, sampler: Sampler | None = "pymc",
                      target_accept: float | None = None, recalibrate: bool = True,
                      groups: int = 5, ci_prob: float = 0.95, seed: int = 0
                      ) -> dict[str, Estimate]:
    r"""One fold of internal–external cross-validation of an IPD-MA model (kind
    ``"ipdma_holdout"``).

    The design of the Monte Carlo study of Bouvier et al. (2024, *Stat Med*): the model
    (:class:`bayes_hte.IPDMetaModel` with ``heterogeneity`` and ``learner``) is fitted
    to every trial but the held-out one (:attr:`MetaIPD.holdout`), its intercept is
    recalibrated in the held-out trial (not for the naive model; see
    :func:`bayes_hte.workflows.iecv.iecv`), and the held-out patients' predicted ITEs
    (risk differences) are scored against their outcomes and true ITEs. Since the
    trials of a replicate are exchangeable, the mean over replicates of a one-fold
    metric estimates the mean over IECV folds the paper reports, at a seventh of the
    cost.

    Parameters
    ----------
    data : MetaIPD
        The replicate's trials and the held-out one.
    heterogeneity : str
        Trial structure of the model: ``"naive"``, ``"random_intercept"``,
        ``"stratified_intercept"``, ``"rank1"`` or ``"fully_stratified"``.
    learner : {"s", "t"}
        S- or T-learner.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains (default: the cheap
        one-chain IECV setting of the paper replication, 200 + 200).
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        NUTS implementation (one chain in process: PyMC works inside Dask workers).
    target_accept : float, optional
        NUTS target acceptance (default: the estimator's).
    recalibrate : bool
        Recalibrate the intercept in the held-out trial.
    groups : int
        Quantile groups of predicted benefit for calibration for benefit.
    ci_prob : float
        Probability of the equal-tailed intervals (ITE coverage, ``ate_heldout``).
    seed : int
        Added to the data's hash to seed the sampler and the c-for-benefit matching.

    Returns
    -------
    dict
        Each metric of :data:`HOLDOUT_METRICS` computed from the posterior-mean ITE of
        the held-out patients as ``{"estimate": value}`` (no truth: the performance
        measure is the mean over replicates, ``thetamean``) — ``c_for_benefit`` (van
        Klaveren et al. 2018), ``calibration_intercept`` and ``calibration_slope`` of
        calibration for benefit (``groups`` quantile groups), ``mse`` of the ITE
        against the true ITE, ``ci_coverage`` / ``pi_coverage`` (share of patients whose
        true ITE lies in their credible / new-trial prediction interval), ``pape``
        with its ``se`` (Imai & Li 2021, Theorem 1: the performance table's
        (``modelse``, ``relerror``) against the ``empse`` over replicates);
        ``divergences`` (divergent transitions of the fit, ``{"estimate": count}``);
        ``ate_heldout`` — the posterior mean, SD and interval of the held-out trial's
        mean predicted (recalibrated) ITE, whose truth is the mean true ITE of those
        patients; and ``ate_heldout_new``, the same from the new-trial predictions
        (trial effects drawn from their between-trial distribution, not recalibrated:
        the prediction interval for a trial like the held-out one).

    Raises
    ------
    TypeError
        ``data`` is not MetaIPD.
    DataError, ValueError
        As :func:`bayes_hte.workflows.iecv.iecv` and
        :func:`bayes_hte.evaluation.metrics.metric_table` (a calibration group without
        one arm, an undefined c-for-benefit), recorded by the study as a failed
        replicate.
    """
    if not isinstance(data, MetaIPD):
        raise _wrong_data("ipdma_holdout", data, "IPD of several trials (MetaIPD)")
    ipd, held = data.data, data.held_mask
    run_seed = data_seed(data, seed)
    with _quiet():
        res = iecv(ipd, heterogeneity=heterogeneity, learner=learner, folds=[data.holdout],
                   draws=draws, tune=tune, chains=chains, sampler=sampler,
                   random_seed=run_seed, target_accept=target_accept,
                   recalibrate=recalibrate)
    label = res.labels[0]
    ite, ite_new = res.ite[label][..., held], res.ite_new[label][..., held]
    tab = metric_table(ipd.y[held], ipd.z[held], ite, truth=data.true_ite[held],
                       ite_new=ite_new, groups=groups, ci_prob=ci_prob,
                       random_state=run_seed).set_index("metric")["estimate"]
    out: dict[str, Estimate] = {m: {"estimate": float(tab[m])} for m in HOLDOUT_METRICS}
    out["pape"]["se"] = float(tab["pape_se"])
    out["divergences"] = {"estimate": float(res.fits["divergences"].sum())}
    out["ate_heldout"] = _draw_summary(ite.mean(axis=-1), ci_prob)
    out["ate_heldout_new"] = _draw_summary(ite_new.mean(axis=-1), ci_prob)
    return out


#: Population-level parameters :func:`fit_ipd_aggregate` reports besides ``RD``.
IPD_AGGREGATE_PARAMETERS: tuple[str, ...] = ("alpha", "theta", "gamma", "eta", "tau_alpha")


def fit_ipd_aggregate(data: IPDAggregateData, *, source: IPDAggregateSource = "ipd_ad",
                      heterogeneity: Heterogeneity = "random_intercept",
                      integration_points: int = 64, new_trial: bool = False,
                      draws: int = 500, tune: int = 500, chains: int = 2,
                      sampler: Sampler | None = None, target_accept: float | None = None,
                      ci_prob: float = 0.95, seed: int = 0) -> dict[str, Estimate]:
    r"""The Bayesian IPD + aggregate-data model in a target population (kind
    ``"ipd_aggregate"``).

    :class:`bayes_hte.IPDMetaModel` (S-learner with ``heterogeneity``) fitted to
    ``source``: ``"ipd_ad"`` — the IPD trials and the aggregate trials' arm counts
    integrated over their covariate summaries (``integration_points`` quasi-Monte Carlo
    points per trial; Phillippo et al. 2020); ``"ipd_only"`` — the IPD trials alone;
    ``"all_ipd"`` — every trial as IPD (the reference a real analysis does not have).
    The target-population risk difference is
    :meth:`~bayes_hte.IPDMetaModel.marginal_effect` of ``data.target`` (average trial, or
    a new trial with ``new_trial``). The fit keeps neither the pointwise log likelihood
    nor the posterior predictive (a study needs neither; the sampler is unchanged).

    Parameters
    ----------
    data : IPDAggregateData
        The replicate's IPD trials, aggregate trials, target and all-IPD twin.
    source : {"ipd_ad", "ipd_only", "all_ipd"}
        Which trials the fit uses.
    heterogeneity : {"naive", "random_intercept", "stratified_intercept"}
        Trial structure (the ones the aggregate data identify).
    integration_points : int
        Points per aggregate trial (``"ipd_ad"`` only).
    new_trial : bool
        The target's effect in a new trial (intercept drawn from its between-trial
        distribution) instead of an average one.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, chains.
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        NUTS implementation (default nutpie).
    target_accept : float, optional
        NUTS target acceptance (default: the estimator's).
    ci_prob : float
        Probability of the equal-tailed credible intervals.
    seed : int
        Added to the data's hash to seed the sampler and the integration points.

    Returns
    -------
    dict
        ``RD`` (the target population's risk difference, named as the MAIC and STC
        kinds name it) and each element of the population parameters
        (:data:`IPD_AGGREGATE_PARAMETERS`, named as
        :meth:`~bayes_hte.IPDMetaModel.parameters` names them: ``alpha``,
        ``theta[x1]``, ..., ``gamma``, ``eta[x1]``, ..., ``tau_alpha``; logit scale):
        posterior mean, SD and interval.

    Raises
    ------
    TypeError
        ``data`` is not IPDAggregateData.
    ValueError
        An unknown ``source``.
    DataError
        As :meth:`bayes_hte.IPDMetaModel.fit` (e.g. a structure the aggregate data do
        not identify).
    """
    if not isinstance(data, IPDAggregateData):
        raise _wrong_data("ipd_aggregate", data,
                          "IPD and aggregate-data trials with a target (IPDAggregateData)")
    check_choice("source", source, IPD_AGGREGATE_SOURCES)
    run_seed = data_seed(data, seed)
    ipd = data.full if source == "all_ipd" else data.ipd
    extra = ({"aggregate": data.aggregate, "aggregate_covariates": data.aggregate_covariates,
              "integration_points": integration_points} if source == "ipd_ad" else {})
    model = IPDMetaModel(heterogeneity=heterogeneity, learner="s")
    with _quiet():
        model.fit(ipd, draws=draws, tune=tune, chains=chains, sampler=sampler,
                  random_seed=run_seed, target_accept=target_accept,
                  log_likelihood=False, posterior_predictive=False, **extra)
        rd = model.marginal_effect(data.target, measure="RD", new_trial=new_trial,
                                   random_seed=run_seed)
    out = {"RD": _draw_summary(rd.values, ci_prob)}
    post = model.idata["posterior"]
    for name in IPD_AGGREGATE_PARAMETERS:
        if name in post:
            out |= {label: _draw_summary(draws, ci_prob)
                    for label, draws in _posterior_elements(post, name).items()}
    return out
