r"""The methods and data-generating mechanisms a study spec can name (``bayes-hte study``).

A study spec (:mod:`bayes_hte.runners.study`) names a simulator of
:mod:`bayes_hte.simulate` and methods by their ``kind``; this module turns those names
into the callables of a :class:`~bayes_hte.studies.Study`:

* :func:`make_generate` — ``generate(rng, **scenario) -> data``: the simulator run with the
  spec's fixed parameters and the scenario's factors, its result reduced to what the
  methods read (an :class:`~bayes_hte.ArmTable` of 2×2 counts or an
  :class:`~bayes_hte.EffectTable` of effect sizes);
* :func:`make_truth` — ``truth(**scenario) -> {estimand: float}``: the simulator's true
  values, computed analytically from the parameters (never from a draw);
* :func:`make_method` — ``method(data) -> {estimand: {"estimate", "se", "ci_low",
  "ci_high"}}`` for a ``kind`` of :data:`METHOD_KINDS` and its options.

All three are :func:`functools.partial` objects of module-level functions, so they pickle
by reference to Dask workers and their bound options enter the study's fingerprint.

Estimands: for 2×2 counts, the measures ``"RD"``, ``"RR"``, ``"OR"`` on the natural scale
(ratios not logged; standard errors by the delta method, intervals back-transformed from
the log scale); for effect sizes, ``"mu"`` on the scale of ``yi``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from bayes_hte import simulate
from bayes_hte.comparators import causal_meta_analysis, meta_analysis
from bayes_hte.data import ArmTable, EffectTable
from bayes_hte.estimators import CausalMetaModel, MetaAnalysisModel
from bayes_hte.options import (
    MEASURES,
    SAMPLERS,
    CausalVariance,
    Measure,
    Membership,
    MetaMethod,
    MetaParameterization,
    Sampler,
    TauPrior,
    check_choice,
)

#: The values one method reports for one estimand.
Estimate = dict[str, float]
#: What a simulator's data become for the methods.
StudyData = ArmTable | EffectTable


# =========================================================================== helpers
def _measures(measure: Measure | Sequence[Measure] | None) -> tuple[str, ...]:
    if measure is None:
        return MEASURES
    out = (measure,) if isinstance(measure, str) else tuple(measure)
    if not out:
        raise ValueError("measure is empty: give one of RD, RR, OR or a list of them")
    for m in out:
        check_choice("measure", m, MEASURES)
    return out


def _wrong_data(kind: str, data: Any, wanted: str) -> TypeError:
    return TypeError(f"{kind} needs {wanted}, got {type(data).__name__}")


def _effect_tables(data: StudyData, measure: Measure | Sequence[Measure] | None,
                   kind: str) -> dict[str, EffectTable]:
    """Estimand -> effect sizes: ``{"mu": data}``, or one table per measure of counts."""
    if isinstance(data, EffectTable):
        if measure is not None:
            raise ValueError("measure is for 2x2 counts; the data are effect sizes")
        return {"mu": data}
    if isinstance(data, ArmTable):
        return {m: data.effects(m) for m in _measures(measure)}
    raise _wrong_data(kind, data, "an ArmTable or an EffectTable")


def _natural(estimate: float, se: float, lo: float, hi: float,
             *, log_scale: bool) -> Estimate:
    """An estimate on the natural scale: exp of a log-scale one, delta-method SE."""
    if not log_scale:
        return {"estimate": float(estimate), "se": float(se), "ci_low": float(lo),
                "ci_high": float(hi)}
    est = float(np.exp(estimate))
    return {"estimate": est, "se": est * float(se), "ci_low": float(np.exp(lo)),
            "ci_high": float(np.exp(hi))}


def _draw_summary(draws: np.ndarray, ci_prob: float) -> Estimate:
    """Posterior mean, SD and equal-tailed interval of a vector of draws."""
    draws = np.asarray(draws, dtype=float).ravel()
    lo, hi = np.quantile(draws, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    return {"estimate": float(draws.mean()), "se": float(draws.std(ddof=1)),
            "ci_low": float(lo), "ci_high": float(hi)}


def data_seed(data: StudyData, seed: int = 0) -> int:
    """A sampler seed fixed by the data set (and ``seed``), the same in every process.

    Parameters
    ----------
    data : ArmTable or EffectTable
        The data of one replicate.
    seed : int
        Added entropy (>= 0), so that two methods on the same data can use different
        streams.

    Returns
    -------
    int
        In ``[0, 2**32)``: the first 4 bytes of the SHA-256 of the data's arrays and
        ``seed`` (a replicate's Bayesian fits are therefore reproducible whatever worker
        runs them).
    """
    h = hashlib.sha256(str(int(seed)).encode())
    names = ("n11", "n10", "n01", "n00") if isinstance(data, ArmTable) else ("yi", "vi")
    for name in names:
        h.update(np.ascontiguousarray(getattr(data, name), dtype=float).tobytes())
    return int.from_bytes(h.digest()[:4], "little")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence PyMC's progress log and sampler warnings during one fit."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _sample(model: MetaAnalysisModel | CausalMetaModel, data: StudyData, *, seed: int,
            draws: int, tune: int, chains: int, sampler: Sampler | None,
            target_accept: float | None) -> None:
    """Fit ``model`` quietly, seeded by :func:`data_seed` of ``data`` and ``seed``, with
    the posterior only (no log likelihood, no posterior predictive)."""
    with _quiet():
        model.fit(data, draws=draws, tune=tune, chains=chains,
                  random_seed=data_seed(data, seed), sampler=sampler,
                  target_accept=target_accept, log_likelihood=False,
                  posterior_predictive=False)


# =========================================================================== methods
def fit_meta_analysis(data: StudyData, *, method: MetaMethod = "REML", knha: bool = False,
                      measure: Measure | Sequence[Measure] | None = None,
                      ci_prob: float = 0.95) -> dict[str, Estimate]:
    r"""Classical fixed- or random-effects meta-analysis (kind ``"meta_analysis"``).

    :func:`bayes_hte.comparators.meta_analysis` (inverse-variance FE, or the DL / REML /
    ML / PM estimators of :math:`\tau^2`, optionally with the Hartung–Knapp–Sidik–Jonkman
    adjustment; metafor's ``rma``). 2×2 counts are first turned into effect sizes with
    :meth:`bayes_hte.ArmTable.effects` (metafor ``escalc``, 1/2 added to studies with a
    zero cell).

    Parameters
    ----------
    data : ArmTable or EffectTable
        Counts (one analysis per measure) or effect sizes (one analysis).
    method : {"FE", "DL", "REML", "ML", "PM"}
        Fixed effect or the :math:`\tau^2` estimator.
    knha : bool
        Hartung–Knapp–Sidik–Jonkman (t-based) interval.
    measure : {"RD", "RR", "OR"} or list of them, optional
        With counts: the measures to analyse (default all three); must be ``None`` with
        effect sizes.
    ci_prob : float
        Probability of the confidence interval, in (0, 1).

    Returns
    -------
    dict
        With counts, one estimand per measure (``"RD"``, ``"RR"``, ``"OR"``): the pooled
        effect on the natural scale (RR and OR back-transformed, SE
        :math:`e^{\hat\mu}\,\mathrm{SE}(\hat\mu)`); with effect sizes, ``"mu"`` on the
        scale of ``yi``. Each is ``{"estimate", "se", "ci_low", "ci_high"}``; NaN where the
        :math:`\tau^2` iteration did not converge.

    Raises
    ------
    TypeError
        ``data`` is neither an ArmTable nor an EffectTable.
    ValueError
        ``measure`` given with effect sizes, or an unknown measure.
    DataError
        As :func:`~bayes_hte.comparators.meta_analysis` and
        :meth:`~bayes_hte.ArmTable.effects`.
    """
    tables = _effect_tables(data, measure, "meta_analysis")
    out = {}
    for name, table in tables.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = meta_analysis(table, method=method, knha=knha, ci_prob=ci_prob)
        log_scale = isinstance(data, ArmTable) and table.scale == "log"
        out[name] = _natural(res.estimate, res.se, res.ci_low, res.ci_high,
                             log_scale=log_scale)
    return out


def fit_causal_meta_analysis(data: ArmTable, *,
                             measure: Measure | Sequence[Measure] | None = None,
                             variance: CausalVariance = "delta",
                             ci_prob: float = 0.95) -> dict[str, Estimate]:
    r"""Frequentist causal meta-analysis of 2×2 counts (kind ``"causal_meta_analysis"``).

    :func:`bayes_hte.comparators.causal_meta_analysis` (Berenfeld et al. 2026): the
    contrast of the pooled risks :math:`\theta(P^*) = \Phi(\psi_1, \psi_0)` in the
    mixture of the trial populations with sample-size weights :math:`n_k / n`.

    Parameters
    ----------
    data : ArmTable
        Per-study counts.
    measure : {"RD", "RR", "OR"} or list of them, optional
        Measures to estimate (default all three).
    variance : {"delta", "paper", "conditional"}
        Variance formula: random study membership with the covariance of the pooled
        risks, the paper's printed formula, or study sizes fixed.
    ci_prob : float
        Probability of the Wald interval (on the log scale for RR and OR), in (0, 1).

    Returns
    -------
    dict
        One estimand per measure: ``{"estimate", "se", "ci_low", "ci_high"}`` on the
        natural scale (delta-method SE).

    Raises
    ------
    TypeError
        ``data`` is not an ArmTable.
    DataError
        As :func:`~bayes_hte.comparators.causal_meta_analysis` (e.g. a pooled risk of 0
        for the RR).
    """
    if not isinstance(data, ArmTable):
        raise _wrong_data("causal_meta_analysis", data, "2x2 counts (an ArmTable)")
    out = {}
    for m in _measures(measure):
        res = causal_meta_analysis(data, m, variance=variance, ci_prob=ci_prob)
        out[m] = {"estimate": res.estimate, "se": res.se, "ci_low": res.ci_low,
                  "ci_high": res.ci_high}
    return out


def fit_bayes_meta_analysis(data: StudyData, *,
                            measure: Measure | Sequence[Measure] | None = None,
                            tau_prior: TauPrior = "half_normal",
                            priors: Mapping[str, Any] | None = None,
                            parameterization: MetaParameterization = "marginal",
                            draws: int = 500, tune: int = 500, chains: int = 2,
                            sampler: Sampler | None = None,
                            target_accept: float | None = None, ci_prob: float = 0.95,
                            seed: int = 0) -> dict[str, Estimate]:
    r"""Bayesian normal–normal random-effects meta-analysis (kind ``"bayes_meta_analysis"``).

    :class:`bayes_hte.MetaAnalysisModel`: :math:`y_k \sim N(\theta_k, v_k)`,
    :math:`\theta_k \sim N(\mu, \tau^2)`, with the prior ``tau_prior`` on :math:`\tau`.
    The sampler's seed is :func:`data_seed` of the data and ``seed``.

    Parameters
    ----------
    data : ArmTable or EffectTable
        Counts (one fit per measure, on the effect sizes of
        :meth:`~bayes_hte.ArmTable.effects`) or effect sizes (one fit).
    measure : {"RD", "RR", "OR"} or list of them, optional
        With counts: the measures (default all three); ``None`` with effect sizes.
    tau_prior : {"half_normal", "half_cauchy", "half_student_t", "exponential", "uniform"}
        Prior of :math:`\tau` (:class:`~bayes_hte.MetaAnalysisModel`).
    priors : mapping, optional
        Prior overrides by name (``"mu"``, ``"tau"``).
    parameterization : {"marginal", "centered", "non_centered"}
        Form of the study effects.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains (small by default: a
        study fits many data sets).
    sampler : {"nutpie", "pymc"}, optional
        NUTS implementation (default nutpie when installed). PyMC runs its chains in
        child processes, which Dask's daemonic workers cannot start: use nutpie there.
    target_accept : float, optional
        NUTS target acceptance.
    ci_prob : float
        Probability of the equal-tailed credible interval, in (0, 1).
    seed : int
        Added to the data's hash to seed the sampler (>= 0).

    Returns
    -------
    dict
        ``"mu"`` (effect sizes) or one estimand per measure (counts): posterior mean,
        posterior SD and equal-tailed interval of :math:`\mu` — on the natural scale for
        RR and OR (the summaries of :math:`e^{\mu}`'s draws).

    Raises
    ------
    TypeError
        ``data`` is neither an ArmTable nor an EffectTable.
    ValueError
        ``measure`` given with effect sizes, or an unknown option value.
    DataError
        As :meth:`bayes_hte.MetaAnalysisModel.fit`.
    """
    tables = _effect_tables(data, measure, "bayes_meta_analysis")
    out = {}
    for i, (name, table) in enumerate(tables.items()):
        model = MetaAnalysisModel(tau_prior=tau_prior, priors=priors,
                                  parameterization=parameterization)
        _sample(model, table, seed=seed + i, draws=draws, tune=tune, chains=chains,
                sampler=sampler, target_accept=target_accept)
        mu = model.idata["posterior"]["mu"].values
        if isinstance(data, ArmTable) and table.scale == "log":
            mu = np.exp(mu)
        out[name] = _draw_summary(mu, ci_prob)
    return out


def fit_bayes_causal_meta_analysis(data: ArmTable, *,
                                   measure: Measure | Sequence[Measure] | None = None,
                                   membership: Membership = "random",
                                   priors: Mapping[str, Any] | None = None,
                                   draws: int = 500, tune: int = 500, chains: int = 2,
                                   sampler: Sampler | None = None,
                                   target_accept: float | None = None,
                                   ci_prob: float = 0.95,
                                   seed: int = 0) -> dict[str, Estimate]:
    r"""Bayesian causal meta-analysis of 2×2 counts (kind ``"bayes_causal_meta_analysis"``).

    :class:`bayes_hte.CausalMetaModel`: binomial events per study and arm, the pooled
    risks in :math:`P^* = \sum_k \omega_k P_k` with sample-size weights (a Dirichlet
    posterior with random membership) and their RD, RR and OR. One fit gives every
    measure. The sampler's seed is :func:`data_seed` of the data and ``seed``.

    Parameters
    ----------
    data : ArmTable
        Per-study counts.
    measure : {"RD", "RR", "OR"} or list of them, optional
        Measures to report (default all three).
    membership : {"random", "fixed"}
        Study membership random (weights with a posterior) or fixed at :math:`n_k/n`.
    priors : mapping, optional
        Prior override of ``"logit_risk"``.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains.
    sampler : {"nutpie", "pymc"}, optional
        NUTS implementation (default nutpie when installed; see
        :func:`fit_bayes_meta_analysis` about PyMC on Dask workers).
    target_accept : float, optional
        NUTS target acceptance.
    ci_prob : float
        Probability of the equal-tailed credible interval, in (0, 1).
    seed : int
        Added to the data's hash to seed the sampler (>= 0).

    Returns
    -------
    dict
        One estimand per measure: posterior mean, SD and equal-tailed interval of
        :math:`\theta(P^*)` on the natural scale.

    Raises
    ------
    TypeError
        ``data`` is not an ArmTable.
    ValueError
        An unknown option value.
    DataError
        As :meth:`bayes_hte.CausalMetaModel.fit`.
    """
    if not isinstance(data, ArmTable):
        raise _wrong_data("bayes_causal_meta_analysis", data, "2x2 counts (an ArmTable)")
    measures = _measures(measure)
    model = CausalMetaModel(membership=membership, priors=priors)
    _sample(model, data, seed=seed, draws=draws, tune=tune, chains=chains,
            sampler=sampler, target_accept=target_accept)
    theta = model.idata["posterior"]["theta"]
    return {m: _draw_summary(theta.sel(measure=m).values, ci_prob) for m in measures}


#: Spec ``kind`` -> method function (data first, keyword-only options).
METHOD_KINDS: dict[str, Callable[..., dict[str, Estimate]]] = {
    "meta_analysis": fit_meta_analysis,
    "causal_meta_analysis": fit_causal_meta_analysis,
    "bayes_meta_analysis": fit_bayes_meta_analysis,
    "bayes_causal_meta_analysis": fit_bayes_causal_meta_analysis,
}

#: kind -> the data types its function accepts.
METHOD_DATA: dict[str, tuple[type, ...]] = {
    "meta_analysis": (ArmTable, EffectTable),
    "causal_meta_analysis": (ArmTable,),
    "bayes_meta_analysis": (ArmTable, EffectTable),
    "bayes_causal_meta_analysis": (ArmTable,),
}

#: Options whose values are checked when a method is made: name -> allowed values.
_CHOICES: dict[str, tuple] = {
    "method": get_args(MetaMethod), "variance": get_args(CausalVariance),
    "tau_prior": get_args(TauPrior), "parameterization": get_args(MetaParameterization),
    "membership": get_args(Membership), "sampler": (None, *SAMPLERS),
}


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
        values, a measure other than RD / RR / OR, or ``ci_prob`` outside (0, 1);
        ``draws``, ``tune``, ``chains`` or ``seed`` that are not integers (>= 1, >= 0,
        >= 1, >= 0).
    """
    func = _kind(kind)
    allowed = method_options(kind)
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(options or {}).items()}
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"method kind {kind!r} has no option(s) {unknown}; its options: "
                         f"{sorted(allowed)}")
    for name, value in opts.items():
        if name in _CHOICES:
            check_choice(name, value, _CHOICES[name])
        elif name == "measure" and value is not None:
            _measures(value)
        elif name == "ci_prob" and not (isinstance(value, float | int) and 0 < value < 1):
            raise ValueError(f"ci_prob must be in (0, 1), got {value!r}")
        elif name in ("draws", "tune", "chains", "seed"):
            low = 0 if name in ("tune", "seed") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return functools.partial(func, **opts)


# =========================================================================== simulators
@dataclass(frozen=True)
class Simulator:
    """How a study uses one simulator of :mod:`bayes_hte.simulate`.

    Parameters
    ----------
    function : callable
        The simulator (``seed=`` takes a :class:`numpy.random.Generator`).
    data : callable
        ``data(result) -> ArmTable | EffectTable``: what the methods read.
    truth : callable
        ``truth(**params) -> {estimand: float}``: the true values from the design
        parameters alone (the simulator's defaults fill the ones not given).
    data_type : type
        The type ``data`` returns.
    fixed : tuple of str
        Parameters that are not design parameters (e.g. ``replicates``), set by the
        study and not allowed in a spec.
    """

    function: Callable[..., Any]
    data: Callable[[Any], StudyData]
    truth: Callable[..., dict[str, float]]
    data_type: type
    fixed: tuple[str, ...] = ()


_BERENFELD_TRUTH_KEYS = ("beta1", "beta0", "mu", "sigma", "p_study")


def _berenfeld_truth(**params: Any) -> dict[str, float]:
    truth = simulate.berenfeld_truth(**{k: params[k] for k in _BERENFELD_TRUTH_KEYS
                                        if k in params})
    return {m: float(v) for m, v in truth["theta_causal"].items()}


def _counts_table(counts: dict) -> ArmTable:
    k = counts["n11"].shape[0]
    return ArmTable(**{c: counts[c][:, 0] for c in ("n11", "n10", "n01", "n00")},
                    labels=[f"study{i + 1}" for i in range(k)])


def _normal_meta_truth(**params: Any) -> dict[str, float]:
    return simulate.normal_meta_truth(**{k: params[k] for k in ("mu", "tau2") if k in params})


#: Simulator name (an export of :mod:`bayes_hte.simulate`) -> how a study uses it.
SIMULATORS: dict[str, Simulator] = {
    "berenfeld2026": Simulator(function=simulate.berenfeld2026,
                               data=lambda res: res.arm_table(),
                               truth=_berenfeld_truth, data_type=ArmTable),
    "berenfeld2026_counts": Simulator(
        function=functools.partial(simulate.berenfeld2026_counts, 1),
        data=_counts_table, truth=_berenfeld_truth, data_type=ArmTable,
        fixed=("replicates",)),
    "normal_meta": Simulator(function=simulate.normal_meta, data=lambda res: res.effects,
                             truth=_normal_meta_truth, data_type=EffectTable),
}


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


def _generate(rng: np.random.Generator, simulator: str, fixed: Mapping[str, Any],
              **scenario: Any) -> StudyData:
    sim = SIMULATORS[simulator]
    return sim.data(sim.function(**fixed, **scenario, seed=rng))


def _truth(simulator: str, fixed: Mapping[str, Any], **scenario: Any) -> dict[str, float]:
    return SIMULATORS[simulator].truth(**fixed, **scenario)


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
        ``truth(**scenario) -> {estimand: float}``, a function of the parameters only
        (berenfeld2026: :math:`\\theta(P^*)` as RD, RR, OR from
        :func:`bayes_hte.simulate.berenfeld_truth`; normal_meta: ``mu``, ``tau2``,
        ``tau``).

    Raises
    ------
    ValueError
        An unknown simulator or parameter.
    """
    fixed = dict(params or {})
    _check_params(simulator, fixed, "fixed params")
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
