"""Data-generating processes of the seed papers; each returns the data AND the truth.

One simulator function per paper, exported here::

    import bayes_hte as bh

    sim = bh.simulate.bouvier2024(trials=7, patients_per_trial=100, seed=1)
    sim.data, sim.truth

* :func:`bouvier2024` → :class:`SimulatedIPDMA`: an IPD meta-analysis with a binary or
  Weibull time-to-event outcome (Bouvier et al. 2024);
* :func:`tzimas2024` → :class:`SimulatedRCT`: one RCT with subgroups (Tzimas 2024);
* :func:`berenfeld2026` → :class:`SimulatedCausalMA`: the two-study design of Berenfeld
  et al. (2026, appendix A); :func:`berenfeld2026_counts` draws the 2×2 counts of many
  replicates at once and :func:`berenfeld_truth` gives its estimands;
* :func:`normal_meta` → :class:`SimulatedMeta`: the normal–normal random-effects
  meta-analysis of effect sizes (the model of DerSimonian & Laird 1986), a baseline for
  simulation studies of meta-analysis intervals; :func:`normal_meta_truth` its estimands;
* :func:`shi_cima` → :class:`SimulatedCIMA`: the 5-trial setting of Shi et al. (CIMA-AgD);
* :func:`cima_linear` → :class:`SimulatedLinearCIMA`: four trials with a linear CATE and
  exact tilts (CIMA-AgD's one- vs two-step GMM);
* :func:`ipd_aggregate` → :class:`SimulatedIPDAggregate`: covariate-shifted trials of
  the Bouvier design, every other one reduced to aggregate data, and a target population.
* :func:`two_step` → :class:`TwoStepSimulation`: longitudinal trials (simulations 1 and 2
  of the two-step IPD-MA paper).
* :func:`maic_stc` → :class:`SimulatedMAICSTC`: one IPD trial with two effect modifiers
  and a target population known by its summaries (MAIC / STC coverage);
  :func:`maic_stc_truth` gives its marginal effects in the target.

The submodules carry the names of their simulator functions: after ``import
bayes_hte.simulate``, the attribute ``bayes_hte.simulate.bouvier2024`` is the function;
the module (with its constants such as ``DESIGNS``) stays importable as
``from bayes_hte.simulate.bouvier2024 import DESIGNS``.
"""

from bayes_hte.simulate.berenfeld2026 import (
    SimulatedCausalMA,
    berenfeld2026,
    berenfeld2026_counts,
    berenfeld_truth,
)
from bayes_hte.simulate.bouvier2024 import SimulatedIPDMA, bouvier2024
from bayes_hte.simulate.cima_linear import SimulatedLinearCIMA, cima_linear
from bayes_hte.simulate.ipd_aggregate import SimulatedIPDAggregate, ipd_aggregate
from bayes_hte.simulate.maic_stc import SimulatedMAICSTC, maic_stc, maic_stc_truth
from bayes_hte.simulate.normal_meta import SimulatedMeta, normal_meta, normal_meta_truth
from bayes_hte.simulate.shi_cima import SimulatedCIMA, shi_cima
from bayes_hte.simulate.two_step import TwoStepSimulation, two_step
from bayes_hte.simulate.tzimas2024 import SimulatedRCT, tzimas2024

__all__ = [
    "SimulatedCIMA",
    "SimulatedCausalMA",
    "SimulatedIPDAggregate",
    "SimulatedIPDMA",
    "SimulatedLinearCIMA",
    "SimulatedMAICSTC",
    "SimulatedMeta",
    "SimulatedRCT",
    "TwoStepSimulation",
    "berenfeld2026",
    "berenfeld2026_counts",
    "berenfeld_truth",
    "bouvier2024",
    "cima_linear",
    "ipd_aggregate",
    "maic_stc",
    "maic_stc_truth",
    "normal_meta",
    "normal_meta_truth",
    "shi_cima",
    "two_step",
    "tzimas2024",
]
