"""Evaluation of ITE models: discrimination and calibration for benefit, MSE, PAPE, IECV."""

from bayes_hte.evaluation.compare import ITEComparison, compare_ite_models, evaluate_models
from bayes_hte.evaluation.iecv import IECVResult, iecv, recalibrate_intercept
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
    policy_metrics,
)

__all__ = [
    "BenefitCalibration",
    "IECVResult",
    "ITEComparison",
    "benefit_from_ite",
    "c_for_benefit",
    "calibration_for_benefit",
    "compare_ite_models",
    "coverage",
    "evaluate_models",
    "event_by_horizon",
    "iecv",
    "match_pairs",
    "metric_table",
    "mse",
    "policy_metrics",
    "recalibrate_intercept",
]
