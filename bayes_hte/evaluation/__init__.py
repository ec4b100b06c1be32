"""Metrics of ITE models: discrimination and calibration for benefit, MSE, PAPE, coverage,
intercept recalibration. The workflows that refit models (model comparison, IECV) are in
:mod:`bayes_hte.workflows`."""

from bayes_hte.evaluation.metrics import (
    BenefitCalibration,
    benefit_from_ite,
    c_for_benefit,
    calibration_for_benefit,
    coverage,
    event_by_horizon,
    match_pairs,
    metric_table,
    mse,
)
from bayes_hte.evaluation.policy import policy_metrics
from bayes_hte.evaluation.recalibration import recalibrate_intercept

__all__ = [
    "BenefitCalibration",
    "benefit_from_ite",
    "c_for_benefit",
    "calibration_for_benefit",
    "coverage",
    "event_by_horizon",
    "match_pairs",
    "metric_table",
    "mse",
    "policy_metrics",
    "recalibrate_intercept",
]
