"""Every figure of bayes_hte: plots read results only, take keyword-only options after
their data arguments and return the matplotlib Figure.

Modules by subject: :mod:`~bayes_hte.plots.ipdma` (ITE distributions, event-rate
posterior predictive check, ITE against truth), :mod:`~bayes_hte.plots.survival`
(Kaplan–Meier against model-implied survival), :mod:`~bayes_hte.plots.subgroup`
(CATE by risk group, against truth, subgroup forest), :mod:`~bayes_hte.plots.meta`
(forest plots of meta-analyses), :mod:`~bayes_hte.plots.multivariate` (per-coefficient
forests of the two-step models), :mod:`~bayes_hte.plots.evaluation` (ITE model
comparison: calibration for benefit, TOC curves),
:mod:`~bayes_hte.plots.diagnostics` (trace and rank plots) and
:mod:`~bayes_hte.plots.studies` (simulation studies: performance measures with Monte
Carlo SEs, zip plots, distributions of estimates) and :mod:`~bayes_hte.plots.sbc`
(simulation-based calibration: PIT-ECDF differences with simultaneous bands).
"""

from bayes_hte.plots.diagnostics import convergence_plots, plot_rank, plot_trace
from bayes_hte.plots.evaluation import (
    plot_benefit_curve,
    plot_calibration,
    plot_ite_distributions,
    plot_metric_forest,
    plot_toc,
    save_comparison_figures,
)
from bayes_hte.plots.ipdma import plot_ite_distribution, plot_ite_vs_truth, plot_ppc_event_rates
from bayes_hte.plots.meta import bubble_plot, combined_forest_plot, forest_plot, funnel_plot
from bayes_hte.plots.multivariate import compare_estimates, forest_coefficients
from bayes_hte.plots.sbc import plot_sbc
from bayes_hte.plots.studies import plot_estimates, plot_performance, plot_zip
from bayes_hte.plots.subgroup import plot_cate_by_risk, plot_cate_vs_truth, plot_subgroup_effects
from bayes_hte.plots.survival import plot_km_ppc

__all__ = [
    "bubble_plot",
    "combined_forest_plot",
    "compare_estimates",
    "convergence_plots",
    "forest_coefficients",
    "forest_plot",
    "funnel_plot",
    "plot_benefit_curve",
    "plot_calibration",
    "plot_cate_by_risk",
    "plot_cate_vs_truth",
    "plot_estimates",
    "plot_sbc",
    "plot_ite_distribution",
    "plot_ite_distributions",
    "plot_ite_vs_truth",
    "plot_km_ppc",
    "plot_metric_forest",
    "plot_performance",
    "plot_ppc_event_rates",
    "plot_rank",
    "plot_subgroup_effects",
    "plot_toc",
    "plot_trace",
    "plot_zip",
    "save_comparison_figures",
]
