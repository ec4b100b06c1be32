"""Bayesian evidence synthesis: univariate, causal and multivariate meta-analysis factories."""

from bayes_hte.models.synthesis_multivariate import (  # noqa: F401
    build_mvmeta_model,
    build_one_stage_lmm,
    coefficient_table,
    new_trial_coefficients,
)
from bayes_hte.models.synthesis_univariate import (  # noqa: F401
    TAU_PRIORS,
    PosteriorSummary,
    build_causal_meta_model,
    build_meta_analysis_model,
    posterior_summary,
)
