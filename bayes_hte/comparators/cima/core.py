r"""The CIMA-AgD estimator (:func:`cima`) and the indirect comparison (:func:`cima_indirect`).

:func:`cima` runs in named steps: check the options, parse the reported inputs and the
formulas (:func:`_parse_inputs`), build the target and base samples (:func:`_samples`),
tilt the base sample to every trial (:func:`_tilt_trials`), form the moment equations
(:func:`_moment_equations`), check that the CATE is identified, solve the GMM problem
with its sandwich covariance (:func:`_gmm`), and marginalise the CATE over the target
(:func:`_result`). The formulas are in the package docstring.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import get_args

import numpy as np
import pandas as pd

from bayes_hte.comparators.cima.formula import Term, design_matrix, parse_formula
from bayes_hte.comparators.cima.inputs import (
    check_binary_shares,
    individual_rows,
    is_summary_frame,
    term_moment,
    trial_sizes,
)
from bayes_hte.comparators.cima.results import CIMAEstimate, CIMAResult
from bayes_hte.comparators.cima.solver import (
    TiltingFit,
    check_tilting_ess,
    floor_psd,
    solve_tilting,
)
from bayes_hte.comparators.cima.variance import moment_covariance, reported_covariance
from bayes_hte.comparators.results import check_ci_prob, interval_columns
from bayes_hte.data.summaries import OVERALL, CovariateSummary, validate_effects
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import (
    CIMACorrelation,
    CIMASteps,
    CIMAWeights,
    CopulaMethod,
    Representer,
)

__all__ = ["cima", "cima_indirect"]


# =========================================================================== steps
def _check_options(weights: str, steps: int, representer: str, correlation: str,
                   ci_prob: float) -> None:
    if weights not in get_args(CIMAWeights):
        raise DataError(f"weights must be 'reference' or 'inverse_variance', got {weights!r}")
    if steps not in (1, 2):
        raise DataError(f"steps must be 1 or 2, got {steps!r}")
    if representer not in get_args(Representer):
        raise DataError(f"representer must be 'reported' or 'tilted', got {representer!r}")
    if correlation not in get_args(CIMACorrelation):
        raise DataError(f"correlation must be 'reference' or 'paper', got {correlation!r}")
    check_ci_prob(ci_prob)


@dataclass(frozen=True)
class _Inputs:
    """The validated reported inputs and the parsed formulas."""

    cov: CovariateSummary
    eff: pd.DataFrame  # validated effects, one row per reported effect (J rows)
    kinds: dict[str, str]
    trials: list[str]
    cate_terms: list[Term]
    tilt_terms: list[Term]
    cate_vars: list[str]
    sub_vars: list[str]
    needed: list[str]  # every covariate a sample must have


def _parse_inputs(effects, covariates, cate: str, tilting: str | None) -> _Inputs:
    cov = covariates if isinstance(covariates, CovariateSummary) else \
        CovariateSummary.from_frame(covariates)
    if not cov.trials:
        raise DataError("the covariates table needs a 'trial' column (one block of rows per "
                        "trial)")
    eff = validate_effects(effects, cov)
    check_binary_shares(eff, cov)
    kinds = dict(cov.kinds)
    trials = list(dict.fromkeys(eff["trial"]))

    cate_terms = parse_formula(cate, what="cate")
    if tilting is None:  # means and SDs: every covariate, and the square of continuous ones
        tilt_terms = []
        for c in cov.covariates:
            tilt_terms += parse_formula(f"~ {c}" + (f" + I({c}^2)" if kinds[c] == "continuous"
                                                     else ""), what="tilting")
    else:
        tilt_terms = parse_formula(tilting, what="tilting")
    if not tilt_terms:
        raise DataError("tilting needs at least one feature")
    sub_vars = sorted(set(eff.loc[eff["subgroup"] != OVERALL, "subgroup"]))
    cate_vars = list(dict.fromkeys(v for t in cate_terms for v in t.variables))
    tilt_vars = list(dict.fromkeys(v for t in tilt_terms for v in t.variables))
    needed = list(dict.fromkeys(cate_vars + tilt_vars + sub_vars))
    return _Inputs(cov=cov, eff=eff, kinds=kinds, trials=trials, cate_terms=cate_terms,
                   tilt_terms=tilt_terms, cate_vars=cate_vars, sub_vars=sub_vars,
                   needed=needed)


@dataclass(frozen=True)
class _Samples:
    """The target sample T (marginalised over) and the base sample Q (tilted)."""

    target: pd.DataFrame
    base: pd.DataFrame
    target_source: str
    base_source: str


def _target_rows(inp: _Inputs, target, target_corr, target_n: int,
                 target_method: str, seed: int | None) -> tuple[pd.DataFrame, str]:
    """Individual target rows: given, or drawn by a Gaussian copula from a summary."""
    kinds = inp.kinds
    if isinstance(target, CovariateSummary) or (isinstance(target, pd.DataFrame)
                                                and is_summary_frame(target)):
        ts = target if isinstance(target, CovariateSummary) else \
            CovariateSummary.from_frame(target, corr=target_corr)
        if target_corr is not None and isinstance(target, CovariateSummary):
            raise DataError("target_corr is for a summary frame; a CovariateSummary carries "
                            "its own corr")
        miss = [v for v in inp.cate_vars + inp.sub_vars if v not in ts.kinds]
        if miss:
            raise DataError(f"the target summary has no rows for {miss}; it needs every "
                            "covariate of the CATE and of the reported subgroups")
        for v, k in ts.kinds.items():
            if v in kinds and kinds[v] != k:
                raise DataError(f"covariate {v!r} is {kinds[v]} in the trials' summaries but "
                                f"{k} in the target summary")
        if (not isinstance(target, CovariateSummary) and target_corr is None
                and len(ts.kinds) > 1):
            warnings.warn("the target is a summary frame without target_corr: its covariates "
                          "are drawn independently (correlation 0); pass target_corr (or a "
                          "CovariateSummary with corr) if they are correlated", DataWarning,
                          stacklevel=4)
        rows = ts.sample(target_n, method=target_method, seed=seed)
        return rows, f"copula ({target_method}, n={target_n})"
    if isinstance(target, pd.DataFrame):
        if target_corr is not None:
            raise DataError("target_corr only applies when target is a summary frame")
        return target, f"individual rows (n={len(target)})"
    raise DataError(f"target must be a DataFrame (rows or a summary) or a "
                    f"CovariateSummary, got {type(target).__name__}")


def _samples(inp: _Inputs, target, base, target_corr, target_n: int, target_method: str,
             seed: int | None) -> _Samples:
    target_rows, target_source = _target_rows(inp, target, target_corr, target_n,
                                              target_method, seed)
    own = inp.cate_vars + inp.sub_vars
    tgt_needed = [c for c in inp.needed if c in target_rows.columns or c in own]
    T = individual_rows(target_rows, tgt_needed, inp.kinds, "target sample")
    if base is None:
        Q = individual_rows(target_rows, inp.needed, inp.kinds,
                            "base sample (the target sample)")
        base_source = "target sample"
    elif isinstance(base, pd.DataFrame):
        Q = individual_rows(base, inp.needed, inp.kinds, "base sample")
        base_source = f"individual rows (n={len(base)})"
    else:
        raise DataError(f"base must be a DataFrame of covariate rows or None, got "
                        f"{type(base).__name__}")
    return _Samples(target=T, base=Q, target_source=target_source, base_source=base_source)


def _term_names(inp: _Inputs) -> list[str]:
    return ["(Intercept)"] + [t.label for t in inp.cate_terms]


def _check_enough_effects(inp: _Inputs, cate: str, p: int) -> None:
    J = len(inp.eff)
    if J < p:
        raise DataError(
            f"CATE {cate!r} is not identified: it has {p} parameters ({_term_names(inp)}) but "
            f"only {J} treatment effects are reported; at least {p} reported effects are "
            "needed (add subgroup effects or simplify the CATE)"
        )


def _tilt_trials(inp: _Inputs, Hraw: np.ndarray) -> tuple[list[TiltingFit], list[np.ndarray]]:
    """Tilt the base sample to each trial's reported feature means."""
    labels = [t.label for t in inp.tilt_terms]
    fits, mus = [], []
    for t in inp.trials:
        rows = inp.cov.rows(t)
        mu = np.array([term_moment(term, rows, inp.kinds, t) for term in inp.tilt_terms])
        mus.append(mu)
        fits.append(solve_tilting(Hraw, mu, trial=t, features=labels))
    check_tilting_ess(fits)
    return fits, mus


@dataclass(frozen=True)
class _Moments:
    """The J moment equations :math:`D\\theta = \\hat\\tau` and what they are built from."""

    trial_idx: np.ndarray  # (J,) trial of each reported effect
    masks: np.ndarray  # (n_q, J) stratum membership of the base rows
    prop: np.ndarray  # (J,) reported shares
    tilted_share: np.ndarray  # (J,) tilted shares in the base sample
    A: np.ndarray  # (n_q, J) representers
    D: np.ndarray  # (J, p)
    tau: np.ndarray  # (J,) reported effects
    se: np.ndarray  # (J,) their standard errors
    is_overall: np.ndarray  # (J,) bool
    subgroup: np.ndarray  # (J,) covariate of each stratum


def _moment_equations(inp: _Inputs, Q: pd.DataFrame, B: np.ndarray, fits: list[TiltingFit],
                      representer: str) -> _Moments:
    eff = inp.eff
    nq, J = len(Q), len(eff)
    trial_idx = eff["trial"].map({t: i for i, t in enumerate(inp.trials)}).to_numpy()
    masks = np.empty((nq, J), dtype=float)
    for j, st in enumerate(eff["_stratum"]):
        sg = eff.at[j, "subgroup"]
        masks[:, j] = 1.0 if sg == OVERALL else st.mask(Q[sg].to_numpy())
    prop = eff["prop"].to_numpy(dtype=float)
    tilted_share = np.array([np.mean(fits[trial_idx[j]].weights * masks[:, j])
                             for j in range(J)])
    empty = tilted_share <= 0
    if empty.any():
        j = int(np.flatnonzero(empty)[0])
        raise DataError(f"no base-sample rows fall in stratum {eff.at[j, 'stratum']!r} of "
                        f"{eff.at[j, 'subgroup']!r} (trial {eff.at[j, 'trial']!r}); use a "
                        "base sample that covers every reported stratum")
    denom = prop if representer == "reported" else tilted_share
    A = np.column_stack([fits[trial_idx[j]].weights * masks[:, j] / denom[j]
                         for j in range(J)])
    return _Moments(
        trial_idx=trial_idx, masks=masks, prop=prop, tilted_share=tilted_share, A=A,
        D=A.T @ B / nq, tau=eff["estimate"].to_numpy(dtype=float),
        se=eff["se"].to_numpy(dtype=float),
        is_overall=(eff["subgroup"] == OVERALL).to_numpy(),
        subgroup=eff["subgroup"].to_numpy(),
    )


def _check_identified(inp: _Inputs, mom: _Moments, cate: str) -> None:
    D = mom.D
    J, p = D.shape
    Dn = D / np.linalg.norm(D, axis=0, keepdims=True).clip(min=1e-300)
    sv = np.linalg.svd(Dn, compute_uv=False)
    rank = int(np.sum(sv > 1e-8 * sv[0]))
    if rank < p:
        raise DataError(
            f"CATE {cate!r} is not identified by the reported effects: the {J} moment "
            f"equations determine only {rank} of its {p} parameters ({_term_names(inp)}); "
            "report subgroups on the CATE's covariates, use trials that differ in them, or "
            "simplify the CATE"
        )


def _weighting_matrix(mom: _Moments, sizes: np.ndarray, weights: str) -> np.ndarray:
    """First-step GMM weights: block diagonal by trial (CIMAgD) or inverse variance."""
    se = mom.se
    if weights != "reference":
        return np.diag(1.0 / se**2)
    J = len(se)
    W = np.zeros((J, J))
    for k in range(len(sizes)):
        idx = np.flatnonzero(mom.trial_idx == k)
        W[np.ix_(idx, idx)] = np.linalg.inv(sizes[k] * np.diag(se[idx] ** 2)
                                            + 1e-8 * np.eye(len(idx)))
    return W


def _redundant_trials(inp: _Inputs, mom: _Moments) -> list[str]:
    """Trials reporting their overall effect and a complete set of strata of a covariate."""
    ti, is_ov, sub, prop = mom.trial_idx, mom.is_overall, mom.subgroup, mom.prop
    return [t for k, t in enumerate(inp.trials) if is_ov[ti == k].any() and any(
        prop[(ti == k) & (sub == sg)].sum() > 0.99
        for sg in set(sub[(ti == k) & ~is_ov]))]


@dataclass(frozen=True)
class _GMMFit:
    theta: np.ndarray  # (p,)
    V: np.ndarray  # (p, p) sandwich covariance
    omega: np.ndarray  # (J, J) moment covariance
    W: np.ndarray  # (J, J) weighting matrix of the last step


def _gmm(inp: _Inputs, mom: _Moments, B: np.ndarray, Hraw: np.ndarray,
         fits: list[TiltingFit], mus_raw: list[np.ndarray], *, weights: str, steps: int,
         correlation: str) -> _GMMFit:
    """One- or two-step GMM estimate and its sandwich covariance."""
    D, tau, trial_idx = mom.D, mom.tau, mom.trial_idx
    nq, p = B.shape
    sizes = trial_sizes(inp.eff, inp.cov, inp.trials)
    W = _weighting_matrix(mom, sizes, weights)

    # reported covariance and standardised tilting features for Omega
    Vrep = []
    for k in range(len(inp.trials)):
        idx = np.flatnonzero(trial_idx == k)
        Vrep.append(reported_covariance(mom.se[idx], mom.prop[idx], mom.is_overall[idx],
                                        mom.subgroup[idx], mom.masks[:, idx],
                                        fits[k].weights, correlation))
    c, s = Hraw.mean(axis=0), Hraw.std(axis=0)
    Ht = np.column_stack([np.ones(nq), (Hraw - c) / s])
    mus = [np.concatenate([[1.0], (mu - c) / s]) for mu in mus_raw]
    wts = [f.weights for f in fits]

    def solve(Wm):
        return np.linalg.solve(D.T @ Wm @ D, D.T @ Wm @ tau)

    def omega(theta, psd=False):
        return moment_covariance(theta, mom.A, B, tau, Ht, mus, wts, trial_idx, Vrep, sizes,
                                 psd=psd)

    theta = solve(W)
    Om = omega(theta)
    if steps == 2:
        redundant = _redundant_trials(inp, mom)
        if redundant:
            warnings.warn(
                f"steps=2: trials {redundant} report their overall effect and a complete "
                "set of strata of one covariate, so the moment covariance is nearly "
                "singular and its working approximation (unreported covariances) is "
                "least reliable exactly there; the second GMM step can then be badly "
                "biased with too-small standard errors (docs/cima.md). Prefer steps=1.",
                DataWarning, stacklevel=3)
        Om2 = omega(theta, psd=True)
        W = np.linalg.inv(floor_psd(Om2, 1e-12 * np.abs(np.diag(Om2)).max()))
        theta = solve(W)
        Om = omega(theta)
    Jt = -np.linalg.solve(D.T @ W @ D + 1e-8 * np.eye(p), D.T @ W)
    return _GMMFit(theta=theta, V=floor_psd(Jt @ Om @ Jt.T), omega=Om, W=W)


def _reported_subgroup_effects(res: CIMAResult, inp: _Inputs, mom: _Moments,
                               B_target: np.ndarray) -> pd.DataFrame:
    """Target-population effect of every reported (one-at-a-time) stratum."""
    eff, T = inp.eff, res.target
    rows = []
    seen = set()
    for j in range(len(eff)):
        if mom.is_overall[j]:
            continue
        key = (eff.at[j, "subgroup"], eff.at[j, "stratum"])
        if key in seen:
            continue
        seen.add(key)
        m = eff.at[j, "_stratum"].mask(T[key[0]].to_numpy())
        e_, s_ = res.average_effect(B_target, m)
        rows.append(dict(subgroup=key[0], stratum=key[1], n_target=int(m.sum()),
                         estimate=e_, se=s_))
    sub = pd.DataFrame(rows, columns=["subgroup", "stratum", "n_target", "estimate", "se"])
    return interval_columns(sub, res.ci_prob)


def _result(inp: _Inputs, smp: _Samples, mom: _Moments, gmm: _GMMFit,
            fits: list[TiltingFit], options: dict) -> CIMAResult:
    """Assemble the result and marginalise the CATE over the target sample."""
    names = _term_names(inp)
    ci_prob = options["ci_prob"]
    coef = pd.DataFrame({"estimate": gmm.theta, "se": np.sqrt(np.diag(gmm.V))},
                        index=pd.Index(names, name="term"))
    interval_columns(coef, ci_prob)

    fitted = mom.D @ gmm.theta
    moments = inp.eff[["trial", "subgroup", "stratum", "estimate", "se", "n", "prop",
                       "prop_source"]].copy()
    moments["tilted_prop"] = mom.tilted_share
    moments["fitted"] = fitted
    moments["residual"] = fitted - mom.tau
    labels = [t.label for t in inp.tilt_terms]
    tilt_tab = pd.DataFrame(
        [f.coef for f in fits], index=pd.Index(inp.trials, name="trial"),
        columns=["(Intercept)"] + labels)
    tilt_tab["iterations"] = [f.iterations for f in fits]
    tilt_tab["max_error"] = [f.max_error for f in fits]
    tilt_tab["ess"] = [f.ess for f in fits]
    tilt_tab["ess_share"] = tilt_tab["ess"] / len(fits[0].weights)

    res = CIMAResult(
        coef=coef, vcov=pd.DataFrame(gmm.V, index=names, columns=names),
        ate=CIMAEstimate(np.nan, np.nan, ci_prob), subgroups=pd.DataFrame(),
        moments=moments, tilting=tilt_tab,
        options=options,
        omega=gmm.omega, D=mom.D, W=gmm.W, target=smp.target, cate_terms=inp.cate_terms,
        kinds=inp.kinds,
    )
    BT = res.target_design()
    est, se = res.average_effect(BT)
    res.ate = CIMAEstimate(est, se, ci_prob)
    res.subgroups = _reported_subgroup_effects(res, inp, mom, BT)
    return res


# =========================================================================== API
def _moment_setup(effects, covariates, target, *, cate, tilting, base, target_corr,
                  target_n, target_method, seed, representer):
    """Inputs, samples, design matrices, tilted trials and moment equations of CIMA:
    ``(inp, smp, Q, B, Hraw, fits, mus_raw, mom)`` (the steps :func:`cima` and the
    Bayesian moment system share)."""
    inp = _parse_inputs(effects, covariates, cate, tilting)
    smp = _samples(inp, target, base, target_corr, target_n, target_method, seed)
    Q = smp.base
    B = design_matrix(inp.cate_terms, Q, what="base sample")
    Hraw = design_matrix(inp.tilt_terms, Q, intercept=False, what="base sample")
    _check_enough_effects(inp, cate, B.shape[1])
    fits, mus_raw = _tilt_trials(inp, Hraw)
    mom = _moment_equations(inp, Q, B, fits, representer)
    _check_identified(inp, mom, cate)
    return inp, smp, Q, B, Hraw, fits, mus_raw, mom


def cima(
    effects: pd.DataFrame,
    covariates: pd.DataFrame | CovariateSummary,
    target: pd.DataFrame | CovariateSummary,
    *,
    cate: str = "~ x1 + x2",
    tilting: str | None = None,
    base: pd.DataFrame | None = None,
    weights: CIMAWeights = "reference",
    steps: CIMASteps = 1,
    representer: Representer = "reported",
    correlation: CIMACorrelation = "reference",
    target_corr: pd.DataFrame | np.ndarray | None = None,
    target_n: int = 50_000,
    target_method: CopulaMethod = "sobol",
    seed: int | None = None,
    ci_prob: float = 0.95,
) -> CIMAResult:
    r"""Causally interpretable meta-analysis from aggregate data (CIMA-AgD).

    Estimates a linear-in-parameters CATE :math:`\tau(x;\theta) = b(x)'\theta` from the
    trials' reported overall and one-at-a-time subgroup effects and covariate
    summaries (exponential tilting + GMM), and marginalises it over a target
    population (Shi et al.; see the :mod:`bayes_hte.comparators.cima` docstring for the
    estimator and its variance).

    Parameters
    ----------
    effects : pandas.DataFrame
        Reported effects on the additive scale (e.g. risk differences): columns
        ``trial, subgroup, stratum, estimate, se, n`` and optionally ``prop``
        (see :func:`bayes_hte.data.summaries.validate_effects`).
    covariates : DataFrame or CovariateSummary
        Per-trial summaries: ``trial, covariate, mean, sd`` (empty ``sd`` for a binary
        covariate, whose ``mean`` is its proportion).
    target : DataFrame or CovariateSummary
        The target population: individual covariate rows (one column per covariate),
        or a summary (``covariate, mean, sd`` frame with ``target_corr``, or a
        :class:`CovariateSummary` with its ``corr``) from which ``target_n`` rows are
        generated by a Gaussian copula.
    cate : str
        CATE working model, e.g. ``"~ lvef + prehhf + diabetes"`` (intercept implied).
    tilting : str, optional
        Tilting features, e.g. ``"~ lvef + I(lvef^2) + prehhf + diabetes"``. Default:
        the mean of every covariate in ``covariates`` plus the square of each
        continuous one (i.e. means and SDs are matched).
    base : DataFrame, optional
        Base sample :math:`Q` that is tilted to each trial. Default: the target sample.
    weights : {"reference", "inverse_variance"}
        First-step GMM weighting: ``"reference"`` (CIMAgD)
        :math:`W_k = (n_k\,\mathrm{diag}(s^2) + 10^{-8}I)^{-1}`; ``"inverse_variance"``
        :math:`W = \mathrm{diag}(1/s^2)` (the paper's diagonal first step).
    steps : {1, 2}
        ``2`` re-estimates with :math:`W = \hat\Omega^{-1}` (two-step GMM).
    representer : {"reported", "tilted"}
        Divide stratum representers by the reported share :math:`p_j` (CIMAgD) or by
        the tilted share :math:`\overline{w_k 1\{S_j\}}` (the paper's
        :math:`w_k 1_{S_j}/P_k(S_j)`).
    correlation : {"reference", "paper"}
        Working correlation of two subgroup effects defined by different covariates:
        overlap/:math:`(p_jp_{j'})` followed by ``nearPD`` twice (CIMAgD) or
        overlap/:math:`\sqrt{p_jp_{j'}}` (the paper's difference-in-means approximation).
    target_corr : DataFrame or array, optional
        Latent correlation matrix when ``target`` is a summary frame.
    target_n : int
        Size of the copula sample drawn from a target summary.
    target_method : {"sobol", "scrambled_sobol", "random"}
        Point set of the copula sample (see
        :func:`bayes_hte.data.summaries.gaussian_copula_sample`).
    seed : int, optional
        Seed of a scrambled or random copula sample.
    ci_prob : float
        Probability of the Wald intervals, in (0, 1).

    Returns
    -------
    CIMAResult
        ``.coef``, ``.ate``, ``.subgroups``, ``.subgroup_effects(by)``, ``.summary()``.

    Raises
    ------
    DataError
        Invalid options, effects, summaries or samples (see the validators); fewer
        reported effects than CATE parameters or a CATE not identified by the reported
        strata; exponential tilting that does not converge (names the trial).

    Warns
    -----
    DataWarning
        ``steps=2`` with trials whose reported effects make the moment covariance nearly
        singular.

    Examples
    --------
    >>> import bayes_hte as bh
    >>> d = bh.datasets.sglt2_hf()
    >>> fit = bh.comparators.cima(d.effects, d.covariates, d.target,
    ...                           cate="~ lvef + prehhf + diabetes")
    >>> round(fit.ate.estimate, 4)
    -0.0365
    """
    _check_options(weights, steps, representer, correlation, ci_prob)
    inp, smp, Q, B, Hraw, fits, mus_raw, mom = _moment_setup(
        effects, covariates, target, cate=cate, tilting=tilting, base=base,
        target_corr=target_corr, target_n=target_n, target_method=target_method,
        seed=seed, representer=representer)
    gmm = _gmm(inp, mom, B, Hraw, fits, mus_raw, weights=weights, steps=steps,
               correlation=correlation)
    options = dict(cate=cate, tilting="~ " + " + ".join(t.label for t in inp.tilt_terms),
                   weights=weights, steps=steps, representer=representer,
                   correlation=correlation, ci_prob=ci_prob, target=smp.target_source,
                   base=smp.base_source, n_base=len(smp.base), n_target=len(smp.target))
    return _result(inp, smp, mom, gmm, fits, options)


def cima_indirect(b_vs_a: CIMAResult, c_vs_a: CIMAResult, *,
                  ci_prob: float | None = None) -> CIMAEstimate:
    r"""Indirect comparison B vs C through a common comparator A, in the target.

    With :math:`\hat\tau_{BA}` and :math:`\hat\tau_{CA}` fitted by :func:`cima` from two
    independent sets of trials (B vs A and C vs A) against the *same* target sample,

    .. math::

        \hat\psi_{BC} = \frac1{N_T}\sum_l \{\hat\tau_{BA}(x_l) - \hat\tau_{CA}(x_l)\},
        \qquad
        \widehat{\mathrm{Var}} = \frac1{N_T^2}\sum_l(\Delta\hat g_l - \hat\psi_{BC})^2
        + \bar b_{BA}'V_{BA}\bar b_{BA} + \bar b_{CA}'V_{CA}\bar b_{CA}.

    Parameters
    ----------
    b_vs_a, c_vs_a : CIMAResult
        :func:`cima` fits of the B-vs-A and the C-vs-A trials, marginalised over the
        same target sample.
    ci_prob : float, optional
        Probability of the Wald interval (default: that of ``b_vs_a``).

    Returns
    -------
    CIMAEstimate
        :math:`\hat\psi_{BC}` with its standard error and interval.

    Raises
    ------
    DataError
        Arguments that are not :class:`CIMAResult` objects, or fits marginalised over
        different target samples.
    """
    for r in (b_vs_a, c_vs_a):
        if not isinstance(r, CIMAResult):
            raise DataError(f"cima_indirect needs two CIMAResult objects, got {type(r).__name__}")
    t1, t2 = b_vs_a.target, c_vs_a.target
    common = [c for c in t1.columns if c in t2.columns]
    if len(t1) != len(t2) or not np.array_equal(t1[common].to_numpy(), t2[common].to_numpy()):
        raise DataError("the B-vs-A and C-vs-A fits were marginalised over different target "
                        "samples; fit both against the same target rows (or the same summary, "
                        "target_n and target_method)")
    ci_prob = b_vs_a.ci_prob if ci_prob is None else ci_prob
    check_ci_prob(ci_prob)
    B1, B2 = b_vs_a.target_design(), c_vs_a.target_design()
    dg = B1 @ b_vs_a.theta - B2 @ c_vs_a.theta
    psi = float(dg.mean())
    b1, b2 = B1.mean(axis=0), B2.mean(axis=0)
    var = (((dg - psi) ** 2).sum() / len(dg) ** 2 + b1 @ b_vs_a.vcov.to_numpy() @ b1
           + b2 @ c_vs_a.vcov.to_numpy() @ b2)
    return CIMAEstimate(psi, float(np.sqrt(var)), ci_prob)
