"""Metrics of ITE models: discrimination and calibration for benefit (c-for-benefit,
quantile groups, E-for-benefit), ranking (RATE: AUTOC, Qini, TOC curve), MSE, PAPE,
coverage, intercept recalibration. The workflows that refit models (model comparison,
IECV) are in :mod:`bayes_hte.workflows`."""

from bayes_hte.evaluation.benefit_curve import EForBenefit, e_for_benefit, loess
from bayes_hte.evaluation.matching import match_pairs
from bayes_hte.evaluation.metrics import (
    BenefitCalibration,
    benefit_from_ite,
    c_for_benefit,
    calibration_for_benefit,
    coverage,
    event_by_horizon,
    metric_table,
    mse,
)
from bayes_hte.evaluation.policy import policy_metrics
from bayes_hte.evaluation.ranking import RankAverageEffect, benefit_scores, rate
from bayes_hte.evaluation.recalibration import recalibrate_intercept

__all__ = [
    "BenefitCalibration",
    "EForBenefit",
    "RankAverageEffect",
    "benefit_from_ite",
    "benefit_scores",
    "c_for_benefit",
    "calibration_for_benefit",
    "coverage",
    "e_for_benefit",
    "event_by_horizon",
    "loess",
    "match_pairs",
    "metric_table",
    "mse",
    "policy_metrics",
    "rate",
    "recalibrate_intercept",
]
