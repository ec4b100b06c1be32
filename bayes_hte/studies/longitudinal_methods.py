r"""Study methods on longitudinal IPD of several trials: one-step and two-step IPD-MA.

Each function is a method kind of :data:`bayes_hte.studies.methods.METHOD_KINDS`:
``method(data, *, options) -> {estimand: {"estimate", "se", "ci_low", "ci_high"}}`` on
a :class:`~bayes_hte.LongitudinalData` (the ``two_step`` simulator's data), for the
simulation studies of the two-step IPD meta-analysis paper
("A two-step approach for IPD meta-analysis of longitudinal trials", "Simulation studies"):

* ``one_step_mixed`` — :func:`bayes_hte.comparators.mixed_model` on all trials' rows at
  once: model (3) with common coefficients and common random-intercept and residual
  variances (the paper's one-step analysis, correctly specified in Simulation 1);
* ``two_step_mvmeta`` — :func:`bayes_hte.comparators.per_trial_mixed_models` (step 1: a
  mixed model per trial, its own variances) and the multivariate meta-analysis of the
  trials' coefficient vectors
  (:meth:`~bayes_hte.comparators.mixed.PerTrialMixedModels.mvmeta`, step 2: fixed
  effect, or REML / ML with a structured between-trial covariance :math:`\Omega`; a
  trial that did not measure a visit contributes the coefficients it has, Remark C).

Estimands: the coefficients of model (3), named as
:meth:`~bayes_hte.LongitudinalData.design_matrix` names them (``(intercept)``,
``treat``, ``visit[2]``, ``visit[3]``, ``z``, ``treat:visit[2]``, ``treat:visit[3]``,
``visit[2]:z``, ``visit[3]:z``, ``treat:z`` for the simulator's columns: the paper's
:math:`\mu_1, \dots, \mu_{10}`), each with its Wald interval
:math:`\hat\mu_k \pm \Phi^{-1}(1/2 + p/2)\,\widehat{\mathrm{se}}_k`; and ``converged``,
``{"estimate": 1.0}`` when the optimiser of the fit (step 2 for the two-step method)
converged, else 0.0 (no truth: its ``thetamean`` is the share of converged fits).
"""

from __future__ import annotations

import warnings
from typing import Any, get_args

import numpy as np

from bayes_hte.comparators.mixed import mixed_model, per_trial_mixed_models
from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.data import LongitudinalData
from bayes_hte.options import (
    OMEGA_STRUCTURES,
    LMMMethod,
    MVMethod,
    OmegaStructure,
    WithinCovariance,
    check_choice,
)
from bayes_hte.studies.meta_methods import Estimate, _wrong_data

#: Allowed values of the options of the two kinds (checked by the functions and by
#: :func:`bayes_hte.studies.methods.make_method`).
LMM_METHODS: tuple[str, ...] = get_args(LMMMethod)
MV_METHODS: tuple[str, ...] = get_args(MVMethod)
WITHIN_COVARIANCES: tuple[str, ...] = get_args(WithinCovariance)


def _check(kind: str, data: Any, ci_prob: float, **choices: tuple[Any, tuple]) -> None:
    if not isinstance(data, LongitudinalData):
        raise _wrong_data(kind, data, "longitudinal IPD of several trials (LongitudinalData)")
    for name, (value, allowed) in choices.items():
        check_choice(name, value, allowed)
    check_ci_prob(ci_prob, error=ValueError)


def _coefficients(names: tuple[str, ...], estimate: np.ndarray, se: np.ndarray,
                  ci: np.ndarray, converged: Any) -> dict[str, Estimate]:
    """``{coef: {estimate, se, ci_low, ci_high}}`` of a result, and ``converged``."""
    out: dict[str, Estimate] = {
        name: {"estimate": float(estimate[k]), "se": float(se[k]),
               "ci_low": float(ci[0][k]), "ci_high": float(ci[1][k])}
        for k, name in enumerate(names)}
    out["converged"] = {"estimate": float(bool(converged))}
    return out


def fit_one_step_mixed(data: LongitudinalData, *,
                       covariance: WithinCovariance = "random_intercept",
                       method: LMMMethod = "REML", ci_prob: float = 0.95
                       ) -> dict[str, Estimate]:
    r"""One-step IPD-MA: one linear mixed model on every trial's rows (kind
    ``"one_step_mixed"``).

    :func:`bayes_hte.comparators.mixed_model` with ``study=None``: model (3) of the
    two-step paper with coefficients, random-intercept variance and residual variance
    common to all trials (the one-step analysis of its Simulation 1, Table 1), fitted by
    REML (or ML).

    Parameters
    ----------
    data : LongitudinalData
        The trials' repeated measurements.
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance: a participant random intercept (compound
        symmetry) or unstructured over the visits (MMRM).
    method : {"REML", "ML"}
        Likelihood of the variance parameters.
    ci_prob : float
        Probability of the Wald intervals, in (0, 1).

    Returns
    -------
    dict
        One entry per coefficient of the design (module docstring), each ``{"estimate",
        "se", "ci_low", "ci_high"}``, and ``converged`` (``{"estimate": 1.0 or 0.0}``).

    Raises
    ------
    TypeError
        ``data`` is not LongitudinalData.
    ValueError
        ``covariance`` or ``method`` not among the values above (named), ``ci_prob``
        outside (0, 1).
    DataError
        As :func:`bayes_hte.comparators.mixed_model` (e.g. a rank-deficient design),
        recorded by the study as a failed replicate.
    """
    _check("one_step_mixed", data, ci_prob, covariance=(covariance, WITHIN_COVARIANCES),
           method=(method, LMM_METHODS))
    res = mixed_model(data, covariance=covariance, method=method, ci_prob=ci_prob)
    return _coefficients(res.names, res.estimate, res.se, res.ci, res.converged)


def fit_two_step_mvmeta(data: LongitudinalData, *, method: MVMethod = "REML",
                        structure: OmegaStructure = "compound_symmetry",
                        covariance: WithinCovariance = "random_intercept",
                        lmm_method: LMMMethod = "REML", ci_prob: float = 0.95
                        ) -> dict[str, Estimate]:
    r"""Two-step IPD-MA: a mixed model per trial, then a multivariate meta-analysis
    (kind ``"two_step_mvmeta"``).

    Step 1, :func:`bayes_hte.comparators.per_trial_mixed_models`: model (3) fitted to each
    trial alone (its own coefficients and variances; ``covariance``, ``lmm_method``).
    Step 2, :meth:`~bayes_hte.comparators.mixed.PerTrialMixedModels.mvmeta`: the trials'
    coefficient vectors :math:`\hat\beta_i` with their covariances :math:`S_i` pooled by
    the multivariate model :math:`\hat\beta_i \sim N(\mu, S_i + \Omega)` — fixed effect
    (:math:`\Omega = 0`, ``method="FE"``: the paper's Simulation 1) or REML / ML with
    :math:`\Omega` of the given ``structure`` (the paper's Simulation 2: REML, compound
    symmetry). The paper's method (R ``mvmeta``); the script this replaces ran
    ``per_trial_mixed_models(data).mvmeta(method=..., structure=...)``, as here.

    Parameters
    ----------
    data : LongitudinalData
        The trials' repeated measurements.
    method : {"REML", "ML", "FE"}
        Step 2: restricted or full likelihood of :math:`\Omega`, or fixed effect.
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of :math:`\Omega` (not used by ``"FE"``).
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance of the step-1 models.
    lmm_method : {"REML", "ML"}
        Likelihood of the step-1 models.
    ci_prob : float
        Probability of the step-2 Wald intervals, in (0, 1).

    Returns
    -------
    dict
        One entry per coefficient (module docstring), each ``{"estimate", "se",
        "ci_low", "ci_high"}``, and ``converged`` (of the step-2 optimiser).

    Raises
    ------
    TypeError
        ``data`` is not LongitudinalData.
    ValueError
        An option not among the values above (named), ``ci_prob`` outside (0, 1).
    DataError
        As :func:`~bayes_hte.comparators.per_trial_mixed_models` and
        :func:`~bayes_hte.comparators.mvmeta`, recorded by the study as a failed
        replicate.

    Notes
    -----
    The warnings (``RuntimeWarning``) of the step-2 optimiser are silenced, as in the
    script this replaces; non-convergence is reported by ``converged``.
    """
    _check("two_step_mvmeta", data, ci_prob, method=(method, MV_METHODS),
           structure=(structure, OMEGA_STRUCTURES),
           covariance=(covariance, WITHIN_COVARIANCES), lmm_method=(lmm_method, LMM_METHODS))
    step1 = per_trial_mixed_models(data, covariance=covariance, method=lmm_method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = step1.mvmeta(method=method, structure=structure, ci_prob=ci_prob)
    return _coefficients(res.names, res.estimate, res.se, res.ci, res.converged)


__all__ = ["LMM_METHODS", "MV_METHODS", "OMEGA_STRUCTURES", "WITHIN_COVARIANCES",
           "fit_one_step_mixed", "fit_two_step_mvmeta"]
