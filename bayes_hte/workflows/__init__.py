"""Workflows that refit models: model comparison and internal–external cross-validation.

They sit above the estimators (they build and fit :class:`~bayes_hte.IPDMetaModel` objects)
and below the figures: :mod:`bayes_hte.plots.evaluation` draws their results.

* :func:`compare_ite_models` — fit a grid of structures x learners and score it;
  :func:`evaluate_models` — score models already fitted (:class:`ITEComparison`);
* :func:`iecv` — leave-one-trial-out refits with intercept recalibration
  (:class:`IECVResult`).
"""

from bayes_hte.workflows.compare import ITEComparison, compare_ite_models, evaluate_models
from bayes_hte.workflows.iecv import IECVResult, check_iecv, iecv

__all__ = [
    "IECVResult",
    "ITEComparison",
    "check_iecv",
    "compare_ite_models",
    "evaluate_models",
    "iecv",
]
