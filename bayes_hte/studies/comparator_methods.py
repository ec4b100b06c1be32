r"""Study methods on IPD next to aggregate data: MAIC and STC carried to a target population.

Each function is a method kind for :mod:`bayes_hte.studies.methods`:
``method(data, *, options) -> {measure: {"estimate", "se", "ci_low", "ci_high"}}``.

The data are IPD trials with aggregate-data trials and a target population (the
simulators' ``IPDAggregateData``): the functions read ``data.ipd``
(:class:`~bayes_hte.IPDData` of the IPD trials) and ``data.target`` (a one-population
:class:`~bayes_hte.CovariateSummary`); ``data.aggregate`` (an
:class:`~bayes_hte.ArmTable`) and ``data.aggregate_covariates`` describe the aggregate
trials, whose counts estimate effects in their own populations, not in the target, so
MAIC and STC do not use them. The estimand is the marginal effect in the target
population: MAIC weights the IPD to the target's covariate means
(:func:`bayes_hte.comparators.maic`), STC averages its outcome regression over the
target's covariate distribution (:func:`bayes_hte.comparators.stc`).

Estimands: ``"RD"``, ``"RR"``, ``"OR"`` on the natural scale, as the other study methods
of 2×2 data report them (ratios not logged; the SE by the delta method,
:math:`e^{\hat\mu}\,\mathrm{se}(\hat\mu)`; intervals back-transformed from the log scale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bayes_hte.comparators import maic, stc
from bayes_hte.options import MAICVariance, Measure, STCVariance
from bayes_hte.studies.meta_methods import Estimate, _measures, _natural

__all__ = ["fit_maic", "fit_stc"]


def _in_target(kind: str, method: Callable[..., Any], data: Any,
               measure: Measure | Sequence[Measure], **options: Any) -> dict[str, Estimate]:
    """``method`` (``maic`` or ``stc``) of ``data.ipd`` in ``data.target``, once per measure."""
    missing = [a for a in ("ipd", "target") if not hasattr(data, a)]
    if missing:
        raise TypeError(f"{kind} needs IPD trials with a target population (IPDAggregateData: "
                        f"attributes ipd, aggregate, aggregate_covariates, target); "
                        f"{type(data).__name__} has no {missing}")
    out = {}
    for m in _measures(measure):
        res = method(data.ipd, None, data.target, measure=m, **options)
        out[m] = _natural(res.estimate, res.se, res.ci_low, res.ci_high, log_scale=False)
    return out


def fit_maic(data: Any, *, measure: Measure | Sequence[Measure] = "RD",
             covariates: Sequence[str] | None = None, match_sd: bool = False,
             variance: MAICVariance = "sandwich", n_boot: int = 1000, seed: int = 0,
             ci_prob: float = 0.95) -> dict[str, Estimate]:
    r"""Matching-adjusted indirect comparison in the target population (kind ``"maic"``).

    :func:`bayes_hte.comparators.maic` of ``data.ipd`` to the covariate summaries
    ``data.target`` (Signorovitch et al. 2010; NICE DSU TSD 18): weights
    :math:`w_i = \exp(\tilde x_i'\hat a)` matching the target's means (and SDs with
    ``match_sd``), estimated across the pooled IPD trials; weighted arm risks within each
    trial mixed by the trials' weight shares; their RD, RR or OR.

    Parameters
    ----------
    data : IPDAggregateData
        An object with ``ipd`` (:class:`~bayes_hte.IPDData`) and ``target`` (a
        one-population :class:`~bayes_hte.CovariateSummary`).
    measure : {"RD", "RR", "OR"} or list of them
        The measures to report (one estimand each).
    covariates : sequence of str, optional
        Covariates to match (default every covariate of the target summary).
    match_sd : bool
        Also match the SDs of continuous covariates.
    variance : {"sandwich", "bootstrap"}
        M-estimation sandwich (default) or a bootstrap of the patients.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of the bootstrap.
    ci_prob : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    dict
        One estimand per measure: ``{"estimate", "se", "ci_low", "ci_high"}`` on the
        natural scale (ratios back-transformed, delta-method SE).

    Raises
    ------
    TypeError
        ``data`` has no ``ipd`` or ``target``.
    ValueError
        An unknown measure.
    DataError
        As :func:`~bayes_hte.comparators.maic` (e.g. target means outside the IPD's
        convex hull).
    """
    return _in_target("maic", maic, data, measure, covariates=covariates, match_sd=match_sd,
                      variance=variance, n_boot=n_boot, seed=seed, ci_prob=ci_prob)


def fit_stc(data: Any, *, measure: Measure | Sequence[Measure] = "RD",
            covariates: Sequence[str] | None = None,
            effect_modifiers: Sequence[str] | None = None, n_points: int = 4096,
            variance: STCVariance = "delta", n_draws: int = 2000, seed: int = 0,
            ci_prob: float = 0.95) -> dict[str, Estimate]:
    r"""Simulated treatment comparison in the target population (kind ``"stc"``).

    :func:`bayes_hte.comparators.stc` of ``data.ipd`` predicted in ``data.target``
    (NICE DSU TSD 18; Ishak et al. 2015): a logistic regression with trial intercepts,
    covariates and treatment × effect-modifier interactions, its risks averaged over
    Gaussian-copula points of the target's summaries (the marginal effect, not the
    plug-in at the means; Remiro-Azócar et al. 2021).

    Parameters
    ----------
    data : IPDAggregateData
        An object with ``ipd`` (:class:`~bayes_hte.IPDData`) and ``target`` (a
        one-population :class:`~bayes_hte.CovariateSummary`).
    measure : {"RD", "RR", "OR"} or list of them
        The measures to report (one estimand each).
    covariates : sequence of str, optional
        Covariates of the regression (default every covariate of the target summary).
    effect_modifiers : sequence of str, optional
        Covariates interacting with treatment (default all ``covariates``).
    n_points : int
        Copula points integrating over the target.
    variance : {"delta", "draws"}
        Delta method (default) or parametric draws of the coefficients.
    n_draws : int
        Parametric draws (``variance="draws"``).
    seed : int
        Seed of the copula points and the draws.
    ci_prob : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    dict
        One estimand per measure: ``{"estimate", "se", "ci_low", "ci_high"}`` on the
        natural scale (ratios back-transformed, delta-method SE).

    Raises
    ------
    TypeError
        ``data`` has no ``ipd`` or ``target``.
    ValueError
        An unknown measure.
    DataError
        As :func:`~bayes_hte.comparators.stc` (e.g. a regression that does not
        converge).
    """
    return _in_target("stc", stc, data, measure, covariates=covariates,
                      effect_modifiers=effect_modifiers, n_points=n_points, variance=variance,
                      n_draws=n_draws, seed=seed, ci_prob=ci_prob)
