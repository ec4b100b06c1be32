"""Frequentist comparators: numpy cores vectorised over a trailing replicate axis.

Every result speaks one vocabulary (:mod:`bayes_hte.comparators.results`): the keyword
and attribute ``ci_prob`` for the interval probability, ``ci`` (leading axis low, high),
``ci_low`` and ``ci_high``.
"""

from bayes_hte.comparators.causal import (  # noqa: F401
    CausalMetaResult,
    causal_core,
    causal_meta_analysis,
)
from bayes_hte.comparators.cima import cima, cima_indirect  # noqa: F401
from bayes_hte.comparators.heterogeneity import estimate_tau2, q_profile_ci  # noqa: F401
from bayes_hte.comparators.mantel_haenszel import (  # noqa: F401
    MantelHaenszelResult,
    mantel_haenszel,
    peto,
)
from bayes_hte.comparators.metareg import MetaRegression, meta_regression  # noqa: F401
from bayes_hte.comparators.mixed import (  # noqa: F401
    lmm_fit,
    mixed_model,
    per_trial_mixed_models,
    two_step_ipdma,
)
from bayes_hte.comparators.multivariate import compare_structures, mvmeta  # noqa: F401
from bayes_hte.comparators.outcome_regression import stc  # noqa: F401
from bayes_hte.comparators.population import (  # noqa: F401
    MAICResult,
    PopulationAdjustedResult,
    STCResult,
)
from bayes_hte.comparators.publication_bias import (  # noqa: F401
    RegtestResult,
    TrimFillResult,
    regtest,
    trim_and_fill,
)
from bayes_hte.comparators.sensitivity import influence, leave_one_out  # noqa: F401
from bayes_hte.comparators.univariate import (  # noqa: F401
    MetaAnalysisResult,
    meta_analysis,
    meta_core,
)
from bayes_hte.comparators.weighting import maic, maic_weights  # noqa: F401
