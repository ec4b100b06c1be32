"""Frequentist comparators: numpy cores vectorised over a trailing replicate axis."""

from bayes_hte.comparators.causal import (  # noqa: F401
    CausalMetaResult,
    causal_core,
    causal_meta_analysis,
)
from bayes_hte.comparators.cima import cima, cima_indirect  # noqa: F401
from bayes_hte.comparators.mixed import (  # noqa: F401
    lmm_fit,
    mixed_model,
    per_trial_mixed_models,
    two_step_ipdma,
)
from bayes_hte.comparators.multivariate import compare_structures, mvmeta  # noqa: F401
from bayes_hte.comparators.univariate import (  # noqa: F401
    MetaAnalysisResult,
    estimate_tau2,
    meta_analysis,
    meta_core,
    q_profile_ci,
)
