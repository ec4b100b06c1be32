r"""Simulation-based calibration of one model: prior draw, simulated data, fit, ranks.

For a Bayesian model :math:`p(\theta)\,p(y \mid \theta)` and a fixed design, SBC
(Talts, Betancourt, Simpson, Vehtari & Gelman 2018, arXiv:1804.06788; Modrák, Moon,
Kim, Bürkner, Huurre, Faltejsková, Gelman & Vehtari 2023, *Bayesian Analysis*,
doi:10.1214/23-BA1404) repeats

1. draw :math:`\tilde\theta \sim p(\theta)` and :math:`\tilde y \sim p(y \mid \tilde\theta)`;
2. draw :math:`\theta^{(1)}, \dots, \theta^{(L)}` from the posterior :math:`p(\theta \mid
   \tilde y)` (thinned NUTS draws);
3. record, for every test quantity :math:`f`, the rank
   :math:`r = \#\{l : f(\theta^{(l)}, \tilde y) < f(\tilde\theta, \tilde y)\}`
   (ties broken at random), an integer in :math:`0, \dots, L`.

When the sampler and the model's code are right, each rank is uniform on
:math:`\{0, \dots, L\}` (the self-consistency :math:`p(\theta) = \int\!\!\int
p(\theta \mid y)\,p(y \mid \tilde\theta)\,p(\tilde\theta)\,dy\,d\tilde\theta`).
Test quantities are every parameter element (constrained scale, including
deterministic transforms such as :math:`\tau^2`), the log likelihood of the simulated
data :math:`\log p(\tilde y \mid \theta)` and a few patients' individual treatment
effects, as Modrák et al. (2023, Sect. 3) recommend: data-dependent quantities catch
errors (a wrong likelihood term, a mis-indexed trial) that parameter ranks miss.

Both steps use the model itself: the prior draw is PyMC's forward sampling of the
factory's graph (for time-to-event models, whose likelihood has no random generator,
event times are drawn by inverting each patient's cumulative hazard and censored at
the design's longest follow-up — an ignorable censoring mechanism); the fit is nutpie
on the same graph compiled once per process, with the simulated outcome swapped in as
data (every factory keeps its observed values in ``pm.Data``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import clone_replace, graph_replace
from pytensor.graph.traversal import ancestors, graph_inputs
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.variable import TensorVariable

from bayes_hte.data.survival import exposure_matrix
from bayes_hte.models.likelihood import event_probability

#: Estimand names of the per-fit diagnostics in the study's estimates table.
DIAGNOSTICS: tuple[str, ...] = ("~divergences", "~max_rhat", "~min_ess_bulk", "~n_draws")
#: Dims of per-individual variables, never ranked (one per patient: too many, and
#: their information is in the ITE and log-likelihood quantities).
INDIVIDUAL_DIMS: frozenset[str] = frozenset({"patient", "participant"})


@dataclass(frozen=True)
class SBCModel:
    r"""One model to calibrate: how to build it on a fixed design, and what to rank.

    Parameters
    ----------
    name : str
        Label of the model in the results (e.g. ``"ipdma/binary/random_intercept/s"``).
    build : callable
        ``build() -> pymc.Model``: the model that simulates (its prior and likelihood).
        Must be picklable (a module-level function or a :func:`functools.partial` of
        one) when the study runs on Dask workers. Every observed value must be a
        ``pm.Data`` container (the package's factories are).
    fit_build : callable, optional
        ``fit_build() -> pymc.Model``: the model that is fitted, when it differs from
        ``build`` (same variables, e.g. another prior: the harness's detection check).
        Default: ``build``.
    n_ite : int
        Number of patients (the first ``n_ite`` of the design) whose individual
        treatment effects are ranked; 0 for models without patients. The effect is
        the difference of the observed distribution's first parameter between
        treatment 1 and 0: the risk difference for a Bernoulli outcome, the log
        hazard ratio for the proportional-hazards likelihood.
    exclude : tuple of str
        Free or deterministic variables not ranked (e.g. non-centred ``*_raw``
        variables, ranked implicitly through their transforms).
    """

    name: str
    build: Callable[[], pm.Model]
    fit_build: Callable[[], pm.Model] | None = None
    n_ite: int = 3
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class FitSettings:
    """NUTS settings of every SBC fit (nutpie, compiled once per process).

    Parameters
    ----------
    draws, tune, chains : int
        Kept draws per chain, tuning steps per chain, chains.
    thin : int
        Keep every ``thin``-th draw of each chain for the ranks; the number of ranked
        draws is :math:`L = \\text{chains} \\cdot \\lceil \\text{draws} / \\text{thin} \\rceil`.
        Thinning makes the kept draws close to independent, which the rank
        statistic's uniformity assumes (Talts et al. 2018, Sect. 5.1).
    target_accept : float
        Target acceptance rate of the step-size adaptation.
    """

    draws: int = 500
    tune: int = 500
    chains: int = 2
    thin: int = 5
    target_accept: float = 0.9

    @property
    def n_ranked(self) -> int:
        """Number of ranked posterior draws :math:`L`."""
        return self.chains * math.ceil(self.draws / self.thin)


# ---------------------------------------------------------------------------
# one compiled model per process
# ---------------------------------------------------------------------------

@dataclass
class _Prepared:
    sim: pm.Model
    fit: pm.Model
    tracked: list[str]
    labels: dict[str, list[str]]
    obs_data: dict[str, str]          # observed RV name -> pm.Data name (fit model)
    forward: Any
    forward_rngs: list
    forward_names: list[str]
    quantities: Any                    # f(free RV values...) -> [loglik, ite]
    fit_free: list[str]                # the simulating model's free variables
    compiled: Any
    survival: dict | None
    shared: dict[str, SharedVariable] = field(default_factory=dict)


#: Compiled models of this process by :attr:`SBCModel.name` (names are unique in a run).
_CACHE: dict[str, _Prepared] = {}


def _labels(model: pm.Model, name: str) -> list[str]:
    """Element labels ``name[a,b]`` of a variable in C order (``name`` for a scalar)."""
    dims = model.named_vars_to_dims.get(name, ()) or ()
    var = model[name]
    if var.ndim == 0:
        return [name]
    if len(dims) != var.ndim or any(d is None or d not in model.coords for d in dims):
        shape = tuple(int(s) for s in var.shape.eval())
        return [f"{name}[{','.join(map(str, ix))}]" for ix in np.ndindex(*shape)]
    levels = [list(model.coords[d]) for d in dims]
    out = []
    for ix in np.ndindex(*[len(lv) for lv in levels]):
        out.append(f"{name}[{','.join(str(levels[k][i]) for k, i in enumerate(ix))}]")
    return out


def _observed_data(model: pm.Model) -> dict[str, str]:
    out = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        roots = [v for v in graph_inputs([value]) if isinstance(v, SharedVariable)]
        # pm.Data may be cast to the distribution's dtype: accept a cast of one container
        value = roots[0] if len(roots) == 1 else value
        if not isinstance(value, SharedVariable) or not value.name:
            raise TypeError(
                f"observed variable {rv.name!r} of the model is not a pm.Data container; "
                "SBC swaps simulated outcomes in as data (use observed=pm.Data(...))")
        out[rv.name] = value.name
    return out


def _first_param(rv) -> pt.TensorVariable:
    """The observed distribution's first parameter: the event probability of a binary
    outcome (also when it is declared on the log-odds scale,
    :func:`bayes_hte.models.likelihood.event_probability`)."""
    probability = event_probability(rv)
    return probability if probability is not None else rv.owner.op.dist_params(rv.owner)[0]


def _prepare(spec: SBCModel) -> _Prepared:
    key = spec.name
    if key in _CACHE:
        return _CACHE[key]
    from bayes_hte.inference import compile_nutpie

    sim = spec.build()
    fit = spec.fit_build() if spec.fit_build is not None else sim
    fit_names = {v.name for v in [*fit.free_RVs, *fit.deterministics]}
    sim_free = [v.name for v in sim.free_RVs]
    missing = [n for n in sim_free if n not in fit_names]
    if missing:
        raise ValueError(f"{spec.name}: the fitted model has no variable {missing} of the "
                         "simulating model (SBC needs every simulated parameter in the "
                         "posterior, as a free or deterministic variable)")
    tracked = [v.name for v in [*sim.free_RVs, *sim.deterministics]
               if v.name in fit_names and v.name not in spec.exclude
               and not v.name.endswith("_raw")
               and not INDIVIDUAL_DIMS & set(sim.named_vars_to_dims.get(v.name, ()) or ())]
    labels = {n: _labels(sim, n) for n in tracked}
    obs_data = _observed_data(sim)
    _observed_data(fit)
    survival = None
    meta = getattr(sim, "bayes_hte", {}) or {}
    forward_vars = [sim[n] for n in tracked]
    forward_names = list(tracked)
    for n in sim_free:
        if n not in forward_names:
            forward_vars.append(sim[n])
            forward_names.append(n)
    if meta.get("outcome") == "time_to_event":
        survival = {"baseline": meta["baseline"],
                    "cuts": None if meta.get("cuts") is None
                    else np.asarray(meta["cuts"]) / meta["time_scale"]}
    else:
        for rv in sim.observed_RVs:
            forward_vars.append(rv)
            forward_names.append(rv.name)
    forward = pm.pytensorf.compile([], forward_vars, random_seed=0)
    rngs = [s for s in forward.get_shared()
            if isinstance(s.get_value(borrow=True), np.random.Generator)]

    # test quantities as functions of the simulating model's free variables (their
    # posterior draws are free or deterministic variables of the fitted model). The
    # graphs are rewritten onto placeholders: compiling with the random variables
    # themselves as inputs would leave cloned copies of them drawing from the prior.
    free_rvs = [sim[n] for n in sim_free]
    inputs = [rv.type(name=rv.name) for rv in free_rvs]
    to_inputs = dict(zip(free_rvs, inputs, strict=True))
    ll = pt.add(*[pm.logp(rv, sim.rvs_to_values[rv]).sum() for rv in sim.observed_RVs])
    first = _first_param(sim.observed_RVs[0])
    cum = (sim.observed_RVs[0].owner.inputs[5] * pt.exp(first) if survival is not None
           else pt.constant(0.0))
    ll, first, cum = graph_replace([ll, first, cum], to_inputs, strict=False)
    outs = [ll]
    shared = {v.name: v for v in sim.data_vars}
    if spec.n_ite > 0 and "treatment" in shared:
        trt = shared["treatment"]
        n = min(spec.n_ite, int(trt.get_value().shape[0]))
        on = clone_replace(first, {trt: pt.ones_like(trt)})
        off = clone_replace(first, {trt: pt.zeros_like(trt)})
        outs.append((on - off)[:n])
    if survival is not None:
        outs.append(cum)
    if any(isinstance(v, TensorVariable) and v.owner is not None
           and isinstance(v.owner.op, RandomVariable) for v in ancestors(outs)):
        raise RuntimeError(f"{spec.name}: a test quantity still depends on a random draw")
    quantities = pytensor.function(inputs, outs, on_unused_input="ignore")
    compiled = compile_nutpie(fit)
    prep = _Prepared(sim=sim, fit=fit, tracked=tracked, labels=labels, obs_data=obs_data,
                     forward=forward, forward_rngs=rngs, forward_names=forward_names,
                     quantities=quantities, fit_free=sim_free, compiled=compiled,
                     survival=survival, shared=shared)
    _CACHE[key] = prep
    return prep


# ---------------------------------------------------------------------------
# simulate, fit, rank
# ---------------------------------------------------------------------------

def _set_data(prep: _Prepared, data: Mapping[str, np.ndarray]) -> None:
    for name, value in data.items():
        var = prep.shared[name]
        var.set_value(np.asarray(value, dtype=var.dtype))


def _survival_data(prep: _Prepared, t: np.ndarray, event: np.ndarray) -> dict:
    out = {"time_observed": t, "event": event.astype("float64")}
    if prep.survival["baseline"] == "piecewise":
        E, idx = exposure_matrix(t, prep.survival["cuts"])
        out["exposure"] = E
        out["interval_idx"] = idx.astype("int64")
    return out


def _draw_times(prep: _Prepared, free: list[np.ndarray], rng: np.random.Generator
                ) -> dict[str, np.ndarray]:
    """Event times by inverting each patient's cumulative hazard; censored at the end."""
    t0 = np.asarray(prep.shared["time_observed"].get_value(), dtype=float)
    horizon = float(t0.max())
    target = rng.exponential(size=t0.shape[0])

    def cumhaz(t):
        _set_data(prep, _survival_data(prep, t, np.ones_like(t)))
        return np.asarray(prep.quantities(*free)[-1], dtype=float)

    event = cumhaz(np.full_like(t0, horizon)) >= target
    lo = np.full_like(t0, np.log(horizon) - 30.0)
    hi = np.full_like(t0, np.log(horizon))
    for _ in range(60):  # bisection on log t: Λ_i is increasing in t
        mid = 0.5 * (lo + hi)
        above = cumhaz(np.exp(mid)) >= target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    t = np.where(event, np.exp(hi), horizon)
    return _survival_data(prep, np.maximum(t, 1e-9), event)


def simulate(spec: SBCModel, rng: np.random.Generator) -> dict[str, Any]:
    """One SBC draw: parameters from the prior and data from the likelihood.

    Parameters
    ----------
    spec : SBCModel
        The model; compiled once per process and cached.
    rng : numpy.random.Generator
        Source of every random number of this draw (parameters, data, fit seed).

    Returns
    -------
    dict
        ``"model"`` (the name), ``"truth"`` (variable name → array on the constrained
        scale), ``"data"`` (pm.Data name → simulated observed values, shapes as in the
        design), ``"seed"`` (int, the fit's sampler seed).
    """
    prep = _prepare(spec)
    for shared in prep.forward_rngs:
        shared.set_value(np.random.default_rng(rng.integers(2**63)), borrow=True)
    draws = dict(zip(prep.forward_names, prep.forward(), strict=True))
    if prep.survival is not None:
        free = [draws[n] for n in prep.fit_free]
        data = _draw_times(prep, free, rng)
    else:
        data = {prep.obs_data[rv.name]: draws[rv.name] for rv in prep.sim.observed_RVs}
    truth = {n: np.asarray(draws[n]) for n in prep.forward_names if n in prep.tracked
             or n in prep.fit_free}
    return {"model": spec.name, "truth": truth, "data": data,
            "seed": int(rng.integers(2**31 - 1))}


def _rank(post: np.ndarray, true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ranks of ``true`` (shape ``q``) among ``post`` (shape ``L × q``), ties at random."""
    less = (post < true[None]).sum(0)
    ties = (post == true[None]).sum(0)
    return less + rng.integers(0, ties + 1)


def _stack(ds, name: str, thin: int) -> np.ndarray:
    a = np.asarray(ds[name].values)[:, ::thin]
    return a.reshape(a.shape[0] * a.shape[1], -1)


def fit_and_rank(spec: SBCModel, sim: Mapping[str, Any], settings: FitSettings
                 ) -> dict[str, dict[str, float]]:
    """Fit the model to one simulated data set and rank the truth among the draws.

    Parameters
    ----------
    spec : SBCModel
        The model (``sim["model"]`` must be its name).
    sim : mapping
        Output of :func:`simulate`.
    settings : FitSettings
        NUTS settings.

    Returns
    -------
    dict
        Quantity label → ``{"estimate": rank (0..L), "se": posterior SD,
        "ci_low", "ci_high": central 95% posterior interval}`` for every parameter
        element, ``loglik`` and ``ite[i]``; plus the diagnostics of :data:`DIAGNOSTICS`
        (``estimate`` only): divergent transitions after tuning, the largest R-hat and
        the smallest bulk ESS over the ranked parameters, and :math:`L`.
    """
    import arviz_stats as azs
    import nutpie

    prep = _prepare(spec)
    known = {v.name for v in prep.compiled.shared_var_keys}
    data = dict(sim["data"])
    # data containers of the fitted model computed from its outcomes (e.g. the partially
    # centred intercepts' anchors): computed from the simulated ones, as a user's fit
    # computes them from the user's outcomes
    derived = (getattr(prep.fit, "bayes_hte", None) or {}).get("derived_data")
    if derived is not None:
        data |= derived(data)
    compiled = prep.compiled.with_data(**{k: v for k, v in data.items() if k in known})
    tree = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune,
                         chains=settings.chains, seed=sim["seed"], progress_bar=False,
                         target_accept=settings.target_accept)
    post = tree["posterior"].to_dataset()
    rng = np.random.default_rng(sim["seed"])
    out: dict[str, dict[str, float]] = {}

    def record(labels, draws, true):
        ranks = _rank(draws, true, rng)
        lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
        sd = draws.std(0, ddof=1)
        for k, lab in enumerate(labels):
            out[lab] = {"estimate": float(ranks[k]), "se": float(sd[k]),
                        "ci_low": float(lo[k]), "ci_high": float(hi[k])}

    for name in prep.tracked:
        record(prep.labels[name], _stack(post, name, settings.thin),
               np.asarray(sim["truth"][name], dtype=float).ravel())
    # data-dependent quantities at the true parameters and at each kept draw
    _set_data(prep, sim["data"])
    kept = [_stack(post, n, settings.thin) for n in prep.fit_free]
    shapes = [np.shape(sim["truth"][n]) for n in prep.fit_free]
    n_kept = kept[0].shape[0]
    true_q = prep.quantities(*[sim["truth"][n] for n in prep.fit_free])
    draw_q = [prep.quantities(*[k[i].reshape(s) for k, s in zip(kept, shapes, strict=True)])
              for i in range(n_kept)]
    record(["loglik"], np.array([[float(q[0])] for q in draw_q]), np.array([float(true_q[0])]))
    if spec.n_ite > 0 and len(true_q) > (2 if prep.survival is not None else 1):
        ite = np.array([np.asarray(q[1], dtype=float) for q in draw_q])
        record([f"ite[{i}]" for i in range(ite.shape[1])], ite,
               np.asarray(true_q[1], dtype=float))
    stats = tree["sample_stats"].to_dataset()
    # convergence over the free parameters (deterministics may be constant, e.g. a
    # correlation matrix's diagonal, where R-hat is undefined)
    ranked = post[[v.name for v in prep.fit.free_RVs if v.name in post]]
    with warnings.catch_warnings():
        # a parameter with no within-chain variance (a stuck chain) has no R-hat: it is
        # reported as infinite, once, in the fits table
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = azs.rhat(ranked) if settings.chains > 1 else None
        ess = azs.ess(ranked, method="bulk")
    out["~divergences"] = {"estimate": float(np.asarray(stats["diverging"]).sum())}
    if rhat is not None:
        # elements constant over every draw of every chain (the zeros and the leading
        # one of an LKJ Cholesky factor) have no R-hat; skip them
        varying = np.concatenate([np.ravel(np.asarray(ranked[v].values).reshape(
            settings.chains * settings.draws, -1).std(0) > 0) for v in rhat])
        values = np.concatenate([np.ravel(rhat[v].values) for v in rhat])[varying]
        worst = float(np.max(np.where(np.isfinite(values), values, np.inf)))
    else:
        worst = math.nan
    out["~max_rhat"] = {"estimate": worst}
    out["~min_ess_bulk"] = {"estimate": float(np.nanmin([float(ess[v].min()) for v in ess]))}
    out["~n_draws"] = {"estimate": float(settings.n_ranked)}
    return out


def _describe_model(spec: SBCModel) -> dict[str, Any]:
    """The model as plain data for the study's fingerprint (no memory addresses)."""
    def call(fn):
        if fn is None:
            return None
        args: list = []
        while isinstance(fn, functools.partial):
            args.append([repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in
                                                       sorted(fn.keywords.items())])
            fn = fn.func
        return {"function": f"{fn.__module__}.{fn.__qualname__}", "args": args}
    return {"name": spec.name, "build": call(spec.build), "fit_build": call(spec.fit_build),
            "n_ite": spec.n_ite, "exclude": list(spec.exclude)}


@dataclass(frozen=True)
class SBCGenerate:
    """The study's data generator: ``generate(rng, model=name)`` → :func:`simulate`.

    Parameters
    ----------
    models : tuple of SBCModel
        The models of the run (the study's scenarios name them).
    """

    models: tuple[SBCModel, ...]

    def study_definition(self) -> dict[str, Any]:
        """The models, for :meth:`bayes_hte.studies.Study.fingerprint`.

        Returns
        -------
        dict
            ``{"models": [...]}``: each model's name, builder functions and their bound
            arguments, ``n_ite`` and ``exclude``.
        """
        return {"models": [_describe_model(m) for m in self.models]}

    def __call__(self, rng: np.random.Generator, *, model: str) -> dict[str, Any]:
        spec = {m.name: m for m in self.models}[model]
        return simulate(spec, rng)


@dataclass(frozen=True)
class SBCFit:
    """The study's method: fit the named model to a simulated data set and rank.

    Parameters
    ----------
    models : tuple of SBCModel
        The models of the run.
    settings : FitSettings
        NUTS settings of every fit.
    """

    models: tuple[SBCModel, ...]
    settings: FitSettings

    def study_definition(self) -> dict[str, Any]:
        """The models and NUTS settings, for :meth:`bayes_hte.studies.Study.fingerprint`.

        Returns
        -------
        dict
            ``{"models": [...], "settings": {...}}`` (see
            :meth:`SBCGenerate.study_definition` and :class:`FitSettings`).
        """
        return {"models": [_describe_model(m) for m in self.models],
                "settings": dataclasses.asdict(self.settings)}

    def __call__(self, data: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        spec = {m.name: m for m in self.models}[data["model"]]
        start = time.perf_counter()
        out = fit_and_rank(spec, data, self.settings)
        out["~seconds"] = {"estimate": time.perf_counter() - start}
        return out
