r"""Study methods on aggregate data: meta-analyses, causal meta-analyses, meta-regression, CIMA.

Each function is a method kind of :data:`bayes_hte.studies.methods.METHOD_KINDS`:
``method(data, *, options) -> {estimand: {"estimate", "se", "ci_low", "ci_high"}}``.

Estimands: for 2×2 counts (:class:`~bayes_hte.ArmTable`), the measures ``"RD"``, ``"RR"``,
``"OR"`` on the natural scale (ratios not logged; standard errors by the delta method,
intervals back-transformed from the log scale); for effect sizes
(:class:`~bayes_hte.EffectTable`), ``"mu"`` on the scale of ``yi``; for trial summaries
with a target population (:class:`~bayes_hte.studies.simulators.TrialSummaries`),
``"ate"``, the target-population average treatment effect on the scale of the reported
effects (a meta-analysis of the trials' overall effects takes its pooled effect as that
ATE).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from bayes_hte.comparators import causal_meta_analysis, cima, meta_analysis, meta_regression
from bayes_hte.data import ArmTable, EffectTable
from bayes_hte.diagnostics import convergence_warnings
from bayes_hte.errors import DataError
from bayes_hte.estimators import CausalMetaModel, MetaAnalysisModel
from bayes_hte.options import (
    MEASURES,
    CausalVariance,
    CIMACorrelation,
    CIMASteps,
    CIMAWeights,
    Measure,
    Membership,
    MetaMethod,
    MetaParameterization,
    Representer,
    Sampler,
    TauPrior,
    check_choice,
)
from bayes_hte.studies.simulators import StudyData, TrialSummaries, data_seed

#: The values one method reports for one estimand.
Estimate = dict[str, float]


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
    if isinstance(data, EffectTable | TrialSummaries):
        if measure is not None:
            raise ValueError("measure is for 2x2 counts; the data are effect sizes")
        return {"mu": data} if isinstance(data, EffectTable) else {"ate": data.overall}
    if isinstance(data, ArmTable):
        return {m: data.effects(m) for m in _measures(measure)}
    raise _wrong_data(kind, data, "an ArmTable, an EffectTable or TrialSummaries")


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


def _posterior_elements(posterior: Any, name: str) -> dict[str, np.ndarray]:
    """``{label: draws}`` of one posterior variable, each element labelled as
    :func:`bayes_hte.diagnostics.diagnostics_table` labels it (``v`` or ``v[a, b]``);
    draws of shape (chain, draw)."""
    da = posterior[name]
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        return {name: da.transpose("chain", "draw").values}
    flat = da.stack(_elem=dims).transpose("chain", "draw", "_elem")
    out = {}
    for k in range(flat.sizes["_elem"]):
        element = flat.isel(_elem=k)
        labels = ", ".join(str(element.coords[d].item()) for d in dims)
        out[f"{name}[{labels}]"] = flat.values[..., k]
    return out


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence PyMC's progress log and sampler warnings during one fit."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), convergence_warnings(False):
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
    data : ArmTable, EffectTable or TrialSummaries
        Counts (one analysis per measure), effect sizes (one analysis) or trial
        summaries (one analysis of the trials' overall effects).
    method : {"FE", "DL", "REML", "ML", "PM", "HS", "HSk", "HE", "SJ", "EB"}
        Fixed effect or the :math:`\tau^2` estimator
        (:func:`bayes_hte.comparators.meta_analysis`).
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
        scale of ``yi``; with trial summaries, ``"ate"`` (the pooled overall effect).
        Each is ``{"estimate", "se", "ci_low", "ci_high"}``; NaN where the
        :math:`\tau^2` iteration did not converge.

    Raises
    ------
    TypeError
        ``data`` is not an ArmTable, an EffectTable or TrialSummaries.
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
    data : ArmTable, EffectTable or TrialSummaries
        Counts (one fit per measure, on the effect sizes of
        :meth:`~bayes_hte.ArmTable.effects`), effect sizes (one fit) or trial summaries
        (one fit to the trials' overall effects, estimand ``"ate"``).
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
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
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
        ``"mu"`` (effect sizes), ``"ate"`` (trial summaries) or one estimand per measure
        (counts): posterior mean,
        posterior SD and equal-tailed interval of :math:`\mu` — on the natural scale for
        RR and OR (the summaries of :math:`e^{\mu}`'s draws).

    Raises
    ------
    TypeError
        ``data`` is not an ArmTable, an EffectTable or TrialSummaries.
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
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
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


def _summaries(data: Any, kind: str) -> TrialSummaries:
    if not isinstance(data, TrialSummaries):
        raise _wrong_data(kind, data, "trial summaries with a target population "
                          "(TrialSummaries)")
    return data


def fit_target_meta_regression(data: TrialSummaries, *,
                               covariates: Sequence[str] | None = None,
                               ci_prob: float = 0.95) -> dict[str, Estimate]:
    r"""Random-effects meta-regression predicted at the target.

    Kind ``"target_meta_regression"``.

    The trials' overall effects :math:`y_k` (sampling variances :math:`v_k`) regressed on
    their covariate means :math:`\bar x_k`,
    :math:`y_k = (1, \bar x_k)'\beta + u_k + e_k`, :math:`u_k \sim N(0, \tau^2)`, with
    :math:`\tau^2` by REML (:func:`bayes_hte.comparators.meta_regression`); the target
    ATE is the prediction :math:`(1, \bar x_T)'\hat\beta` at the target's covariate
    means with a Wald (z) interval — the "standard meta-regression" comparator of Shi
    et al. (CIMA-AgD; R ``meta::metareg`` + ``predict.rma``).

    Parameters
    ----------
    data : TrialSummaries
        The trials' reported effects and covariate means, and the target rows.
    covariates : sequence of str, optional
        Covariates of the regression (default every covariate of ``data.covariates``);
        more than ``len(covariates) + 1`` trials are needed.
    ci_prob : float
        Probability of the Wald interval, in (0, 1).

    Returns
    -------
    dict
        ``{"ate": {"estimate", "se", "ci_low", "ci_high"}}`` on the scale of the
        reported effects.

    Raises
    ------
    TypeError
        ``data`` is not TrialSummaries.
    DataError
        A covariate missing from the trials or the target, or no residual degrees of
        freedom (as :func:`~bayes_hte.comparators.meta_regression`).
    """
    data = _summaries(data, "target_meta_regression")
    means = data.trial_means
    names = list(means.columns) if covariates is None else list(covariates)
    missing = [c for c in names if c not in means.columns or c not in data.target.columns]
    if missing:
        raise DataError(f"target_meta_regression: covariate(s) {missing} are not summarised for "
                        "every trial and given for the target")
    overall = data.overall
    X = np.column_stack([np.ones(len(means)), means[names].to_numpy(dtype=float)])
    fit = meta_regression(overall.yi, overall.vi, X)
    x0 = np.r_[1.0, data.target[names].to_numpy(dtype=float).mean(axis=0)]
    est, se, lo, hi = fit.predict(x0, ci_prob=ci_prob)  # floats: one analysis
    return {"ate": {"estimate": est, "se": se, "ci_low": lo, "ci_high": hi}}


def fit_cima(data: TrialSummaries, *, cate: str | None = None, tilting: str | None = None,
             base_fraction: float = 0.5, weights: CIMAWeights = "reference",
             steps: CIMASteps = 1, representer: Representer = "reported",
             correlation: CIMACorrelation = "reference",
             subgroups: Sequence[str] | None = None, ci_prob: float = 0.95,
             seed: int = 0) -> dict[str, Estimate]:
    r"""Causally interpretable meta-analysis of aggregate data (kind ``"cima"``).

    :func:`bayes_hte.comparators.cima` (CIMA-AgD, Shi et al.): a linear CATE fitted to
    the trials' overall and subgroup effects by exponential tilting of a base sample to
    each trial and GMM, averaged over the target rows. As in the authors' simulation
    script, a random ``base_fraction`` of the target rows is the base sample that is
    tilted and the other rows are the target the CATE is averaged over; the split is
    seeded by :func:`~bayes_hte.studies.simulators.data_seed` of the data and ``seed``.

    Parameters
    ----------
    data : TrialSummaries
        Reported effects, covariate summaries and target rows.
    cate : str, optional
        CATE working model, e.g. ``"~ X1 + X2 + X3"`` (default: every covariate of
        ``data.covariates``, linearly).
    tilting : str, optional
        Tilting features (default of :func:`~bayes_hte.comparators.cima`: the means of
        the covariates and the squares of the continuous ones).
    base_fraction : float
        Share of the target rows used as the base sample, in [0, 1); ``0``: the whole
        target is the base sample too (CIMA's default).
    weights, steps, representer, correlation
        Options of :func:`~bayes_hte.comparators.cima` (first-step GMM weights, one- or
        two-step GMM, stratum representers, working correlation).
    subgroups : sequence of str, optional
        The reported effects the fit uses, by their ``subgroup`` value (``"overall"``
        for the trials' overall effects, a covariate name for its strata), e.g.
        ``["x1"]``: one partition only; default: every reported effect.
    ci_prob : float
        Probability of the Wald interval, in (0, 1).
    seed : int
        Added to the data's hash to seed the split (>= 0).

    Returns
    -------
    dict
        ``{"ate": {"estimate", "se", "ci_low", "ci_high"}}``: the target-population
        ATE on the scale of the reported effects.

    Raises
    ------
    TypeError
        ``data`` is not TrialSummaries.
    ValueError
        ``base_fraction`` outside [0, 1); ``subgroups`` empty or not a list of strings.
    DataError
        A name of ``subgroups`` that no reported effect has; as
        :func:`~bayes_hte.comparators.cima` (e.g. tilting that does not converge).
    """
    data = _summaries(data, "cima")
    if not 0 <= base_fraction < 1:
        raise ValueError(f"base_fraction must be in [0, 1), got {base_fraction!r}")
    effects = data.effects
    if subgroups is not None:
        if (isinstance(subgroups, str) or not subgroups
                or not all(isinstance(g, str) for g in subgroups)):
            raise ValueError(f"subgroups must be a non-empty list of subgroup names, got "
                             f"{subgroups!r}")
        unknown = sorted(set(subgroups) - set(effects["subgroup"].astype(str)))
        if unknown:
            raise DataError(f"subgroups {unknown} are not reported (the effects' subgroup "
                            f"column holds {sorted(set(effects['subgroup'].astype(str)))})")
        effects = effects[effects["subgroup"].astype(str).isin(list(subgroups))]
    if cate is None:
        cate = "~ " + " + ".join(map(str, dict.fromkeys(data.covariates["covariate"])))
    target, base = data.target, None
    if base_fraction > 0:
        perm = np.random.default_rng(data_seed(data, seed)).permutation(len(target))
        cut = int(round(base_fraction * len(target)))
        base, target = target.iloc[perm[:cut]], target.iloc[perm[cut:]]
    fit = cima(effects, data.covariates, target, cate=cate, tilting=tilting,
               base=base, weights=weights, steps=steps, representer=representer,
               correlation=correlation, ci_prob=ci_prob)
    ate = fit.ate
    return {"ate": {"estimate": float(ate.estimate), "se": float(ate.se),
                    "ci_low": float(ate.ci_low), "ci_high": float(ate.ci_high)}}
