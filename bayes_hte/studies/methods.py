r"""The methods and data-generating mechanisms a study spec can name (``bayes-hte study``).

A study spec (:mod:`bayes_hte.runners.study`) names a simulator of
:mod:`bayes_hte.simulate` and methods by their ``kind``; this module turns those names
into the callables of a :class:`~bayes_hte.studies.Study`:

* :func:`make_generate` — ``generate(rng, **scenario) -> data``: the simulator run with the
  spec's fixed parameters and the scenario's factors, its result reduced to what the
  methods read (:data:`~bayes_hte.studies.simulators.SIMULATORS`: an
  :class:`~bayes_hte.ArmTable` of 2×2 counts, an :class:`~bayes_hte.EffectTable` of
  effect sizes, :class:`~bayes_hte.studies.simulators.TrialSummaries` of trials and a
  target population, or :class:`~bayes_hte.studies.simulators.TrialIPD` of one trial);
* :func:`make_truth` — ``truth(**scenario) -> {estimand: float}``: the simulator's true
  values, computed from the parameters (never from a draw);
* :func:`make_method` — ``method(data) -> {estimand: {"estimate", "se", "ci_low",
  "ci_high"}}`` for a ``kind`` of :data:`METHOD_KINDS` and its options.

All three are :func:`functools.partial` objects of module-level functions, so they pickle
by reference to Dask workers and their bound options enter the study's fingerprint.

The method functions live in :mod:`bayes_hte.studies.meta_methods` (aggregate data:
meta-analyses, causal meta-analyses, meta-regression, CIMA) and
:mod:`bayes_hte.studies.ipd_methods` (the subgroup model, IECV of an IPD-MA),
:mod:`bayes_hte.studies.trial_methods` (an S-learner on one trial),
:mod:`bayes_hte.studies.ipdma_methods` (parameter recovery of an IPD-MA, estimands
named as :meth:`bayes_hte.IPDMetaModel.parameters` names them),
:mod:`bayes_hte.studies.longitudinal_methods` (one- and two-step IPD-MA of longitudinal
trials, estimands named by the coefficients of model (3)); the simulators' adapters and
truths in :mod:`bayes_hte.studies.simulators`. Their estimands: ``"RD"``, ``"RR"``,
``"OR"`` for 2×2 counts, ``"mu"`` for effect sizes, ``"ate"`` for trial summaries,
``"ate_logit"``, ``"ate_rd"``, ``"hte_<column>"`` for one trial's patients.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args

import numpy as np

from bayes_hte import simulate
from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.data import ArmTable, EffectTable, LongitudinalData
from bayes_hte.options import (
    BASELINES,
    HETEROGENEITY,
    INDIVIDUAL_FORMS,
    IPD_AGGREGATE_SOURCES,
    LEARNERS,
    MAIC_VARIANCES,
    SAMPLER_SETTINGS,
    SAMPLERS,
    STC_VARIANCES,
    SUBGROUP_PARAMETERIZATIONS,
    CausalVariance,
    CIMACorrelation,
    CIMASteps,
    CIMAWeights,
    Membership,
    MetaMethod,
    MetaParameterization,
    Representer,
    TauPrior,
    check_choice,
    check_count,
    check_sampler_setting,
    check_type_of_default,
)
from bayes_hte.studies.comparator_methods import fit_maic, fit_stc
from bayes_hte.studies.ipd_methods import (
    fit_ipd_aggregate,
    fit_ipdma_holdout,
    fit_subgroup_model,
)
from bayes_hte.studies.ipdma_methods import fit_ipdma
from bayes_hte.studies.longitudinal_methods import (
    LMM_METHODS,
    MV_METHODS,
    OMEGA_STRUCTURES,
    WITHIN_COVARIANCES,
    fit_one_step_mixed,
    fit_two_step_mvmeta,
)
from bayes_hte.studies.meta_methods import (
    Estimate,
    _measures,
    fit_bayes_causal_meta_analysis,
    fit_bayes_meta_analysis,
    fit_causal_meta_analysis,
    fit_cima,
    fit_meta_analysis,
    fit_target_meta_regression,
)
from bayes_hte.studies.simulators import (
    SIMULATORS,
    IPDAggregateData,
    MetaIPD,
    Simulator,
    StudyData,
    TrialIPD,
    TrialSummaries,
    data_seed,
)
from bayes_hte.studies.trial_methods import fit_s_learner

__all__ = [
    "METHOD_DATA", "METHOD_KINDS", "SIMULATORS", "Estimate", "MetaIPD", "Simulator",
    "StudyData", "TrialIPD", "TrialSummaries", "check_method_data", "data_seed",
    "fit_bayes_causal_meta_analysis", "fit_bayes_meta_analysis", "fit_causal_meta_analysis",
    "fit_cima", "fit_ipd_aggregate", "fit_ipdma", "fit_ipdma_holdout", "fit_maic",
    "fit_meta_analysis", "fit_stc", "fit_subgroup_model", "fit_target_meta_regression",
    "make_generate", "make_method", "make_truth", "method_options", "simulator_params",
    "fit_one_step_mixed", "fit_two_step_mvmeta", "fit_s_learner",
]

#: Spec ``kind`` -> method function (data first, keyword-only options).
METHOD_KINDS: dict[str, Callable[..., dict[str, Estimate]]] = {
    "meta_analysis": fit_meta_analysis,
    "causal_meta_analysis": fit_causal_meta_analysis,
    "bayes_meta_analysis": fit_bayes_meta_analysis,
    "bayes_causal_meta_analysis": fit_bayes_causal_meta_analysis,
    "target_meta_regression": fit_target_meta_regression,
    "cima": fit_cima,
    "subgroup": fit_subgroup_model,
    "s_learner": fit_s_learner,
    "ipdma_holdout": fit_ipdma_holdout,
    "ipdma_fit": fit_ipdma,
    "ipd_aggregate": fit_ipd_aggregate,
    "maic": fit_maic,
    "stc": fit_stc,
    "one_step_mixed": fit_one_step_mixed,
    "two_step_mvmeta": fit_two_step_mvmeta,
}

#: kind -> the data types its function accepts.
METHOD_DATA: dict[str, tuple[type, ...]] = {
    "meta_analysis": (ArmTable, EffectTable, TrialSummaries),
    "causal_meta_analysis": (ArmTable,),
    "bayes_meta_analysis": (ArmTable, EffectTable, TrialSummaries),
    "bayes_causal_meta_analysis": (ArmTable,),
    "target_meta_regression": (TrialSummaries,),
    "cima": (TrialSummaries,),
    "subgroup": (TrialIPD,),
    "s_learner": (TrialIPD,),
    "ipdma_holdout": (MetaIPD,),
    "ipdma_fit": (MetaIPD,),
    "ipd_aggregate": (IPDAggregateData,),
    "maic": (IPDAggregateData,),
    "stc": (IPDAggregateData,),
    "one_step_mixed": (LongitudinalData,),
    "two_step_mvmeta": (LongitudinalData,),
}

#: Options whose values are checked when a method is made: name -> allowed values.
_CHOICES: dict[str, tuple] = {
    "method": get_args(MetaMethod), "variance": get_args(CausalVariance),
    "tau_prior": get_args(TauPrior), "parameterization": get_args(MetaParameterization),
    "membership": get_args(Membership), "sampler": (None, *SAMPLERS),
    "weights": get_args(CIMAWeights), "steps": get_args(CIMASteps),
    "representer": get_args(Representer), "correlation": get_args(CIMACorrelation),
    "individual_form": INDIVIDUAL_FORMS, "heterogeneity": HETEROGENEITY,
    "learner": LEARNERS, "source": IPD_AGGREGATE_SOURCES,
}
#: Per-kind choices that differ from :data:`_CHOICES`.
_KIND_CHOICES: dict[str, dict[str, tuple]] = {
    "subgroup": {"parameterization": SUBGROUP_PARAMETERIZATIONS},
    "maic": {"variance": MAIC_VARIANCES}, "stc": {"variance": STC_VARIANCES},
    "ipdma_fit": {"baseline": BASELINES},
    "one_step_mixed": {"method": LMM_METHODS, "covariance": WITHIN_COVARIANCES},
    "two_step_mvmeta": {"method": MV_METHODS, "structure": OMEGA_STRUCTURES,
                        "covariance": WITHIN_COVARIANCES, "lmm_method": LMM_METHODS},
}
#: Options holding a list of column names (``interactions`` may also be absent).
_NAME_LISTS = ("covariates", "interactions", "subgroups", "contrasts", "effect_modifiers")


def _kind(kind: str) -> Callable[..., dict[str, Estimate]]:
    if kind not in METHOD_KINDS:
        raise ValueError(f"unknown method kind {kind!r}; choose one of {sorted(METHOD_KINDS)}")
    return METHOD_KINDS[kind]


def method_options(kind: str) -> dict[str, Any]:
    """The options of a method kind and their defaults.

    Parameters
    ----------
    kind : str
        A key of :data:`METHOD_KINDS`.

    Returns
    -------
    dict
        Option name -> default value (the keyword-only parameters of its function).

    Raises
    ------
    ValueError
        An unknown ``kind`` (the message lists the known ones).
    """
    sig = inspect.signature(_kind(kind))
    return {name: p.default for name, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def make_method(kind: str, *, options: Mapping[str, Any] | None = None
                ) -> functools.partial:
    """A study method ``method(data) -> {estimand: {...}}`` of a kind and its options.

    Parameters
    ----------
    kind : str
        A key of :data:`METHOD_KINDS`.
    options : mapping, optional
        Keyword options of the kind's function (:func:`method_options`); TOML lists are
        kept as tuples. Checked here, so that a wrong value fails before the study runs.

    Returns
    -------
    functools.partial
        The kind's function with the options bound (picklable; its ``keywords`` enter
        the study's fingerprint).

    Raises
    ------
    ValueError
        An unknown kind, an unknown option (named), an option value outside its allowed
        values, a measure other than RD / RR / OR, ``ci_prob`` or ``target_accept``
        outside (0, 1), a list of columns that is not a list of strings, a subgroup or
        S-learner method without ``covariates``; ``draws``, ``tune``, ``chains`` or
        ``seed`` that are not integers (>= 1, >= 0, >= 1, >= 0).
    """
    func = _kind(kind)
    allowed = method_options(kind)
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(options or {}).items()}
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"method kind {kind!r} has no option(s) {unknown}; its options: "
                         f"{sorted(allowed)}")
    choices = {**_CHOICES, **_KIND_CHOICES.get(kind, {})}
    for name, value in opts.items():
        if name in choices:
            check_choice(name, value, choices[name])
        elif name in _NAME_LISTS and value is not None:
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of column names, got {value!r}")
        elif name in SAMPLER_SETTINGS:
            check_sampler_setting(name, value)
        elif name == "seed":
            check_count("seed", value, low=0)
        elif name == "measure" and value is not None:
            _measures(value)
        elif name == "ci_prob":
            check_ci_prob(value, error=ValueError)
        else:  # e.g. base_fraction = "half" where a number is meant
            check_type_of_default(name, value, allowed[name])
    if kind in ("subgroup", "s_learner") and not opts.get("covariates"):
        raise ValueError(f"method kind {kind!r} needs covariates (a list of columns)")
    return functools.partial(func, **opts)



# =========================================================================== simulators
def _simulator(name: str) -> Simulator:
    if name not in SIMULATORS:
        exported = sorted(n for n in getattr(simulate, "__all__", ())
                          if inspect.isfunction(getattr(simulate, n, None)))
        where = ("it is a function of bayes_hte.simulate, but no study adapter is "
                 "registered for it" if name in exported else
                 f"bayes_hte.simulate exports {exported}")
        raise ValueError(f"simulator {name!r} cannot be used in a study ({where}); "
                         f"studies know {sorted(SIMULATORS)}")
    return SIMULATORS[name]


def simulator_params(name: str) -> dict[str, Any]:
    """The design parameters of a study simulator and their defaults.

    Parameters
    ----------
    name : str
        A key of :data:`SIMULATORS`.

    Returns
    -------
    dict
        Parameter -> default (``inspect.Parameter.empty`` when it has none), without
        ``seed`` (the study's) and the adapter's fixed parameters.

    Raises
    ------
    ValueError
        An unknown simulator.
    """
    sim = _simulator(name)
    func = sim.function.func if isinstance(sim.function, functools.partial) else sim.function
    return {k: p.default for k, p in inspect.signature(func).parameters.items()
            if k != "seed" and k not in sim.fixed}


def _check_params(name: str, params: Mapping[str, Any], what: str) -> None:
    allowed = simulator_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{what} {unknown} are not parameters of simulator {name!r}; it "
                         f"takes {sorted(allowed)}")
    for key, value in params.items():  # e.g. n = "5000": refused before any replicate
        if value is not None:
            check_type_of_default(f"{what[:-1] if what.endswith('s') else what} {key!r}",
                                  value, allowed[key])


def _generate(rng: np.random.Generator, simulator: str, fixed: Mapping[str, Any],
              **scenario: Any) -> StudyData:
    sim = SIMULATORS[simulator]
    return sim.data(sim.function(**fixed, **scenario, seed=rng))


def _truth(simulator: str, fixed: Mapping[str, Any], **scenario: Any) -> dict[str, float]:
    return SIMULATORS[simulator].truth(**fixed, **scenario)


def _truth_of_data(*, data: StudyData, simulator: str, fixed: Mapping[str, Any],
                   **scenario: Any) -> dict[str, float]:
    return SIMULATORS[simulator].truth(data=data, **fixed, **scenario)


def make_generate(simulator: str, *, params: Mapping[str, Any] | None = None,
                  factors: Sequence[str] = ()) -> functools.partial:
    """The ``generate(rng, **scenario)`` of a study from a simulator and fixed parameters.

    Parameters
    ----------
    simulator : str
        A key of :data:`SIMULATORS` (a function of :mod:`bayes_hte.simulate`).
    params : mapping, optional
        Fixed design parameters (the same in every scenario).
    factors : sequence of str
        Names of the scenario factors, checked to be parameters of the simulator and
        not among ``params``.

    Returns
    -------
    functools.partial
        ``generate(rng, **scenario)``: the simulator's draw with ``seed=rng``, reduced to
        the methods' data (:attr:`Simulator.data_type`).

    Raises
    ------
    ValueError
        An unknown simulator, or a parameter or factor it does not take (named), or a
        factor also fixed in ``params``.
    """
    fixed = dict(params or {})
    _check_params(simulator, fixed, "fixed params")
    _check_params(simulator, dict.fromkeys(factors), "scenario factors")
    both = sorted(set(fixed) & set(factors))
    if both:
        raise ValueError(f"{both} are both fixed params and scenario factors; give each "
                         "parameter in one place")
    return functools.partial(_generate, simulator=simulator, fixed=fixed)


def make_truth(simulator: str, *, params: Mapping[str, Any] | None = None
               ) -> functools.partial:
    """The ``truth(**scenario)`` of a study: the simulator's analytic true values.

    Parameters
    ----------
    simulator : str
        A key of :data:`SIMULATORS`.
    params : mapping, optional
        Fixed design parameters (as in :func:`make_generate`).

    Returns
    -------
    functools.partial
        ``truth(**scenario) -> {estimand: float}``, a function of the parameters only,
        or ``truth(*, data, **scenario)`` for a simulator whose truth reads the draw
        (:attr:`Simulator.truth_reads_data`; bouvier2024). berenfeld2026:
        :math:`\\theta(P^*)` as RD, RR, OR from
        :func:`bayes_hte.simulate.berenfeld_truth`; normal_meta: ``mu``, ``tau2``,
        ``tau``).

    Raises
    ------
    ValueError
        An unknown simulator or parameter.
    """
    fixed = dict(params or {})
    _check_params(simulator, fixed, "fixed params")
    if SIMULATORS[simulator].truth_reads_data:
        return functools.partial(_truth_of_data, simulator=simulator, fixed=fixed)
    return functools.partial(_truth, simulator=simulator, fixed=fixed)


def check_method_data(kind: str, simulator: str) -> None:
    """Check that a method kind can read the data a simulator gives.

    Parameters
    ----------
    kind : str
        A key of :data:`METHOD_KINDS`.
    simulator : str
        A key of :data:`SIMULATORS`.

    Raises
    ------
    ValueError
        An unknown kind or simulator, or a kind that does not take the simulator's data
        (e.g. a causal meta-analysis of effect sizes).
    """
    _kind(kind)
    sim = _simulator(simulator)
    if not issubclass(sim.data_type, METHOD_DATA[kind]):
        wanted = " or ".join(t.__name__ for t in METHOD_DATA[kind])
        raise ValueError(f"method kind {kind!r} needs {wanted} data, but simulator "
                         f"{simulator!r} gives {sim.data_type.__name__}")
