"""bayes_hte: Bayesian heterogeneous treatment effects in evidence synthesis of trials."""

import sys

from bayes_hte import comparators, evaluation, models, plots, sbc, simulate, studies, workflows
from bayes_hte.data import IPDData, LongitudinalData, datasets
from bayes_hte.data.aggregate import ArmTable, EffectTable  # noqa: F401
from bayes_hte.data.means import MeanTable  # noqa: F401
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.errors import (
    ConvergenceWarning,
    DataError,
    DataWarning,
    MemoryBudgetError,
    MemoryBudgetWarning,
)
from bayes_hte.estimators import (
    CausalMetaModel,
    CIMAModel,
    IPDMetaModel,
    LongitudinalMetaModel,
    MetaAnalysisModel,
    MultivariateMetaModel,
    SubgroupHTEModel,
)
from bayes_hte.workflows import compare_ite_models

__version__ = "0.1.0"

# ``bayes_hte.datasets`` is the module ``bayes_hte.data.datasets``; registered under its
# public name too, so that ``from bayes_hte.datasets import sglt2_hf`` works as the API
# reference shows it
sys.modules.setdefault(f"{__name__}.datasets", datasets)

__all__ = [
    "ArmTable",
    "EffectTable",
    "MeanTable",
    "CovariateSummary",
    "datasets",
    "DataError",
    "DataWarning",
    "ConvergenceWarning",
    "MemoryBudgetError",
    "MemoryBudgetWarning",
    "IPDData",
    "LongitudinalData",
    "IPDMetaModel",
    "SubgroupHTEModel",
    "MetaAnalysisModel",
    "CausalMetaModel",
    "MultivariateMetaModel",
    "LongitudinalMetaModel",
    "CIMAModel",
    "comparators",
    "compare_ite_models",
    "evaluation",
    "models",
    "plots",
    "simulate",
    "sbc",
    "studies",
    "workflows",
]
