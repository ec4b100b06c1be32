"""Thin estimator classes users hold; one protocol (:mod:`bayes_hte.estimators.base`)."""

from bayes_hte.estimators.base import Estimator, IPDEstimator
from bayes_hte.estimators.cima import CIMAModel
from bayes_hte.estimators.ipdma import IPDMetaModel
from bayes_hte.estimators.subgroup import SubgroupHTEModel
from bayes_hte.estimators.synthesis import CausalMetaModel, MetaAnalysisModel
from bayes_hte.estimators.synthesis_multivariate import (
    LongitudinalMetaModel,
    MultivariateMetaModel,
)

__all__ = ["Estimator", "IPDEstimator", "IPDMetaModel", "SubgroupHTEModel",
           "MetaAnalysisModel", "CausalMetaModel", "MultivariateMetaModel",
           "LongitudinalMetaModel", "CIMAModel"]
