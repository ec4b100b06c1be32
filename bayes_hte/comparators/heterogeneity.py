r"""Between-study variance of a univariate meta-analysis: estimators and intervals.

For studies :math:`k = 1, \dots, K` with effect estimates :math:`y_k`, sampling variances
:math:`v_k` and the random-effects model :math:`y_k \sim N(\mu, v_k + \tau^2)`
(:mod:`bayes_hte.comparators.univariate`) and :math:`w_k = 1/(v_k + \tau^2)`, the
estimators of :math:`\tau^2` (all truncated at 0) are

``DL`` (DerSimonian & Laird 1986)
    :math:`\hat\tau^2 = \max\{0, (Q - (K-1)) / (S_1 - S_2/S_1)\}` with the FE weights
    :math:`u_k = 1/v_k`, :math:`S_r = \sum u_k^r` and Cochran's
    :math:`Q = \sum u_k (y_k - \hat\mu_{FE})^2`.
``ML``, ``REML`` (Viechtbauer 2005)
    Maximise the (restricted) log-likelihood
    :math:`\ell_{ML} = -\tfrac12 \sum_k [\log(v_k+\tau^2) + w_k (y_k-\hat\mu)^2]`,
    :math:`\ell_{REML} = \ell_{ML} - \tfrac12 \log \sum_k w_k` by Newton steps (Fisher
    scoring where the observed information is not positive) with step halving on
    :math:`[0, \infty)`, vectorised; replicates that do not converge are
    re-solved by a bounded scalar optimiser and, failing that, reported as ``nan`` with
    ``converged=False`` (:func:`~bayes_hte.comparators.univariate.meta_analysis` then
    warns).
``PM`` (Paule & Mandel 1982)
    The root of the generalised Q statistic
    :math:`Q(\tau^2) = \sum_k w_k(\tau^2)(y_k - \hat\mu(\tau^2))^2 = K - 1`
    (0 when :math:`Q(0) < K-1`), found by safeguarded Newton steps.
``EB`` (empirical Bayes; Morris 1983, Berkey et al. 1995)
    Its estimating equation :math:`Q(\tau^2)\,K/(K-1) = K` is PM's, so is its estimate;
    its standard error differs.
``HS``, ``HSk``, ``HE``, ``SJ``
    Hunter & Schmidt (2004) :math:`\max\{0, (Q - K)/S_1\}` (``HSk``: :math:`Q` scaled
    by :math:`K/(K-1)`), Hedges (1983)
    :math:`\max\{0, s^2_y - \bar v\}` (the sample variance of :math:`y_k` less the mean
    sampling variance), Sidik & Jonkman (2005) :math:`\tau^2_0 Q(\tau^2_0)/(K-1)` from
    :math:`\tau^2_0 = \sum_k(y_k-\bar y)^2/K`.

``"EE"`` and ``"CE"`` (metafor's names of the equal-effects model) are read as ``"FE"``.

The generalised Q statistic is decreasing in :math:`\tau^2`; the Q-profile confidence
interval for :math:`\tau^2` (Viechtbauer 2007) solves :math:`Q(\tau^2) = \chi^2_{K-1}`
quantiles. Cochran's :math:`Q` is :math:`Q(0)`.

All computations are numpy, vectorised over trailing replicate axes: ``yi`` and ``vi``
of shape ``(K, R...)`` give results of shape ``(R...)``.
"""

from __future__ import annotations

from typing import get_args

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from bayes_hte.comparators._wls import MOMENT_METHODS, moment_tau2
from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.data.numbers import real_numbers
from bayes_hte.errors import DataError
from bayes_hte.options import MetaMethod, canonical_choice

__all__ = ["FE_ALIASES", "METHODS", "canonical_method", "estimate_tau2", "generalized_q",
           "q_profile_ci", "tau2_dl", "tau2_likelihood", "tau2_pm"]

#: metafor's other names of the fixed-effects (equal-effects) model, read as ``"FE"``.
FE_ALIASES: tuple[str, ...] = ("EE", "CE")
#: The estimators (``MetaMethod`` without the aliases of ``"FE"``).
METHODS: tuple[str, ...] = tuple(m for m in get_args(MetaMethod) if m not in FE_ALIASES)


def canonical_method(method: str) -> str:
    """``method`` with metafor's aliases of fixed effects (``"EE"``, ``"CE"``) read as
    ``"FE"``.

    Parameters
    ----------
    method : str
        An estimator of :data:`METHODS`, or ``"EE"`` / ``"CE"``.

    Returns
    -------
    str
        The estimator's name in :data:`METHODS`.

    Raises
    ------
    ValueError
        Not one of :data:`METHODS` or :data:`FE_ALIASES`.
    """
    return canonical_choice("method", method, METHODS, dict.fromkeys(FE_ALIASES, "FE"))


# ---------------------------------------------------------------------------- input checks
def _real_effects(yi, vi, labels) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` as new float arrays, or a DataError naming a text / bool entry
    and its study (first axis: by label, or by position from 1)."""
    names = None if labels is None else [str(x) for x in labels]

    def at(w: tuple[int, ...]) -> str:
        return f" at study {names[w[0]]!r}" if names is not None else f" at study {w[0] + 1}"
    return tuple(real_numbers(x, name, place=at, note="; nothing is converted")
                 for x, name in ((yi, "yi"), (vi, "vi")))


def _check_inputs(yi, vi, *, k_min: int = 2,
                  labels=None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Copy and validate; return (y, v) of shape (K, m) and the trailing shape.

    Studies at fault are named by ``labels`` when given, else by their position on the
    first axis counted from 1 (the default labels of the results). Text (even ``"0.5"``)
    and bools are refused, not read as numbers.
    """
    y, v = _real_effects(yi, vi, labels)
    if y.ndim == 0:
        raise DataError("yi must have studies on its first axis, got a scalar")
    if y.shape != v.shape:
        raise DataError(f"yi and vi must have the same shape (studies first), got {y.shape} "
                        f"and {v.shape}")
    k = y.shape[0]
    if k < k_min:
        raise DataError(f"a meta-analysis needs at least {k_min} studies, got {k}")
    trailing = y.shape[1:]
    y2 = y.reshape(k, -1)
    v2 = v.reshape(k, -1)

    names = [str(s) for s in labels] if labels is not None else None
    if names is not None and len(names) != k:
        raise DataError(f"{len(names)} labels for {k} studies; give one label per study")
    if names is not None and len(set(names)) != k:
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"study labels {twice} occur more than once; give every study its "
                        "own label")

    def where(mask: np.ndarray) -> str:
        rows, cols = np.nonzero(mask)
        idx = [(f"study {names[r]!r}" if names is not None else f"study {r + 1}")
               + (f" (replicate {tuple(map(int, np.unravel_index(c, trailing)))})"
                  if trailing else "") for r, c in zip(rows[:5], cols[:5], strict=True)]
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        return ", ".join(idx) + more

    bad = ~np.isfinite(y2)
    if bad.any():
        raise DataError(f"effect sizes yi are missing or not finite at {where(bad)}; "
                        "remove those studies or fix their estimates")
    bad = ~np.isfinite(v2) | (v2 <= 0)
    if bad.any():
        raise DataError(f"sampling variances vi must be finite and > 0, not so at "
                        f"{where(bad)}; a zero variance would give a study infinite weight")
    return y2, v2, trailing


# ---------------------------------------------------------------------------- core pieces
def _weighted(y: np.ndarray, v: np.ndarray, tau2: np.ndarray):
    """RE weights, pooled mean and residuals for tau2 of shape (m,)."""
    w = 1.0 / (v + tau2[None, :])
    sw = w.sum(axis=0)
    mu = (w * y).sum(axis=0) / sw
    r = y - mu[None, :]
    return w, sw, mu, r


def generalized_q(yi: npt.ArrayLike, vi: npt.ArrayLike, tau2: npt.ArrayLike) -> np.ndarray:
    r"""Generalised Q statistic :math:`Q(\tau^2) = \sum_k w_k (y_k - \hat\mu)^2`, vectorised.

    Decreasing in :math:`\tau^2`; :math:`w_k = 1/(v_k + \tau^2)`.

    Parameters
    ----------
    yi, vi : array_like, shape (K, m)
        Effect sizes and sampling variances, studies on the first axis.
    tau2 : array_like, shape (m,)
        Between-study variance of each column.

    Returns
    -------
    ndarray, shape (m,)
    """
    w, _, _, r = _weighted(np.asarray(yi), np.asarray(vi), np.asarray(tau2, dtype=float))
    return (w * r**2).sum(axis=0)


def _cochran(y: np.ndarray, v: np.ndarray):
    u = 1.0 / v
    s1 = u.sum(axis=0)
    s2 = (u**2).sum(axis=0)
    mu = (u * y).sum(axis=0) / s1
    q = (u * (y - mu) ** 2).sum(axis=0)
    return q, s1, s2


def tau2_dl(y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """DerSimonian–Laird estimate of tau² for (K, m) arrays (module docstring).

    Parameters
    ----------
    y, v : ndarray, shape (K, m)
        Effect sizes and sampling variances (validated), studies on the first axis.

    Returns
    -------
    ndarray, shape (m,)
        :math:`\\hat\\tau^2`, truncated at 0.
    """
    k = y.shape[0]
    q, s1, s2 = _cochran(y, v)
    return np.maximum(0.0, (q - (k - 1)) / (s1 - s2 / s1))


def _loglik(y, v, tau2, reml: bool) -> np.ndarray:
    w, sw, _, r = _weighted(y, v, tau2)
    ll = -0.5 * (np.log(v + tau2[None, :]).sum(axis=0) + (w * r**2).sum(axis=0))
    if reml:
        ll = ll - 0.5 * np.log(sw)
    return ll


def _score_info(y, v, tau2, reml: bool):
    """Twice the score and the information used for the step, for tau².

    The information is the observed one (Newton) where it is positive — quadratic
    convergence near the maximum — else the expected one (Fisher scoring).
    """
    w, sw, _, r = _weighted(y, v, tau2)
    w2 = (w**2).sum(axis=0)
    a = (w**2 * r**2).sum(axis=0)
    b = (w**3 * r**2).sum(axis=0) - (w**2 * r).sum(axis=0) ** 2 / sw
    if reml:
        w3 = (w**3).sum(axis=0)
        score = a - (sw - w2 / sw)
        expected = w2 - 2.0 * w3 / sw + (w2 / sw) ** 2
    else:
        score = a - sw
        expected = w2
    observed = 2.0 * b - expected
    info = np.where(observed > 0, observed, expected)
    return score, info


def _fallback_likelihood(y, v, reml: bool, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounded scalar maximisation for replicates where the Newton iteration failed."""
    out = np.full(cols.size, np.nan)
    ok = np.zeros(cols.size, dtype=bool)
    for i, c in enumerate(cols):
        yc, vc = y[:, c:c + 1], v[:, c:c + 1]
        hi = 10.0 * (np.var(yc) + vc.max()) + 1.0

        def neg(t, yc=yc, vc=vc):
            return -float(_loglik(yc, vc, np.array([t]), reml)[0])

        res = optimize.minimize_scalar(neg, bounds=(0.0, hi), method="bounded",
                                       options={"xatol": 1e-12 * (1 + np.mean(vc))})
        if res.success and np.isfinite(res.x):
            t = float(res.x)
            if neg(0.0) <= res.fun:  # boundary maximum
                t = 0.0
            out[i], ok[i] = t, True
    return out, ok


def tau2_likelihood(y: np.ndarray, v: np.ndarray, *, reml: bool = True, tol: float = 1e-10,
                    maxiter: int = 200, init: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(RE)ML estimate of tau² by Newton / Fisher scoring with step halving, vectorised.

    Unconverged columns are re-solved by a bounded scalar optimiser, and are ``nan`` with
    ``converged=False`` only if that fails too.

    Parameters
    ----------
    y, v : ndarray, shape (K, m)
        Effect sizes and sampling variances (validated), studies on the first axis.
    reml : bool
        Restricted (True) or full maximum likelihood.
    tol : float
        Convergence: a step below ``tol * (tau2 + mean(v))``.
    maxiter : int
        Maximum number of Newton / Fisher-scoring steps.
    init : ndarray, shape (m,), optional
        Starting values (default: the DerSimonian–Laird estimate).

    Returns
    -------
    (ndarray, ndarray)
        ``tau2`` and ``converged``, each of shape (m,).
    """
    m = y.shape[1]
    tau2 = tau2_dl(y, v) if init is None else np.array(init, dtype=float)
    scale = v.mean(axis=0)
    done = np.zeros(m, dtype=bool)
    ll = _loglik(y, v, tau2, reml)
    for _ in range(maxiter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        ya, va, ta, lla, sa = y[:, act], v[:, act], tau2[act], ll[act], scale[act]
        score, info = _score_info(ya, va, ta, reml)
        step = score / info
        new = np.maximum(0.0, ta + step)
        small = np.abs(new - ta) <= tol * (ta + sa)
        # a step that is not negligible must not lower the likelihood: halve it until
        # it does not (or until it is negligible)
        lln = _loglik(ya, va, new, reml)
        worse = ~small & (lln < lla)
        h = np.ones_like(ta)
        for _ in range(60):
            if not worse.any():
                break
            h = np.where(worse, h / 2.0, h)
            new = np.where(worse, np.maximum(0.0, ta + h * step), new)
            lln = np.where(worse, _loglik(ya, va, new, reml), lln)
            small = small | (np.abs(new - ta) <= tol * (ta + sa))
            worse = ~small & (lln < lla)
        bad = ~np.isfinite(new)
        tau2[act] = np.where(worse | bad, ta, new)
        ll[act] = np.where(worse | bad, lla, lln)
        done[act] = small & ~bad
    converged = done & np.isfinite(tau2)
    # the stopping rule is relative to the mean variance: with one tiny variance a step
    # of that size left tau2 at ~1e-11 where the maximum is at 0, and the SE (~sqrt(tau2))
    # far from the tiny study's; the boundary is taken wherever it is at least as likely
    at_zero = converged & (tau2 > 0)
    if at_zero.any():
        cols = np.flatnonzero(at_zero)
        ll0 = _loglik(y[:, cols], v[:, cols], np.zeros(cols.size), reml)
        tau2[cols] = np.where(ll0 >= ll[cols], 0.0, tau2[cols])
    if not converged.all():
        cols = np.flatnonzero(~converged)
        vals, ok = _fallback_likelihood(y, v, reml, cols)
        tau2[cols] = np.where(ok, vals, np.nan)
        converged[cols] = ok
    return tau2, converged


def _root_decreasing(y, v, target: np.ndarray, active: np.ndarray, *, tol: float = 1e-12,
                     maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    r"""Solve :math:`Q(\tau^2) = \text{target}` for the decreasing generalised Q, vectorised.

    Only columns in ``active`` are solved (others return 0). Safeguarded Newton steps
    inside a bracket that is first grown until :math:`Q(hi) < \text{target}`;
    :math:`dQ/d\tau^2 = -\sum_k w_k^2 (y_k-\hat\mu)^2`.
    """
    m = y.shape[1]
    out = np.zeros(m)
    conv = np.ones(m, dtype=bool)
    cols = np.flatnonzero(active)
    if cols.size == 0:
        return out, conv
    ya, va, ta = y[:, cols], v[:, cols], target[cols]
    scale = va.mean(axis=0)
    lo = np.zeros(cols.size)
    hi = np.var(ya, axis=0, ddof=0) * ya.shape[0] + va.max(axis=0)
    for _ in range(200):  # grow the bracket
        need = generalized_q(ya, va, hi) > ta
        if not need.any():
            break
        hi = np.where(need, hi * 4.0, hi)
    x = lo.copy()  # Newton from below: Q convex-ish and decreasing, start at the left end
    ok = np.zeros(cols.size, dtype=bool)
    for _ in range(maxiter):
        w, _, _, r = _weighted(ya, va, x)
        f = (w * r**2).sum(axis=0) - ta
        df = -(w**2 * r**2).sum(axis=0)
        lo = np.where(f > 0, x, lo)
        hi = np.where(f <= 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - f / df
        bad = ~np.isfinite(newton) | (newton <= lo) | (newton >= hi)
        new = np.where(bad, 0.5 * (lo + hi), newton)
        new = np.where(ok, x, new)
        change = np.abs(new - x)
        x = new
        ok = ok | (change <= tol * (x + scale)) | (hi - lo <= tol * (x + scale))
        if ok.all():
            break
    out[cols] = x
    conv[cols] = ok
    return out, conv


def tau2_pm(y: np.ndarray, v: np.ndarray, *, tol: float = 1e-12,
            maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Paule–Mandel estimate of tau²: root of Q(tau²) = K - 1 (0 if Q(0) <= K - 1).

    Parameters
    ----------
    y, v : ndarray, shape (K, m)
        Effect sizes and sampling variances (validated), studies on the first axis.
    tol : float
        Convergence tolerance, relative to ``tau2 + mean(v)``.
    maxiter : int
        Maximum number of safeguarded Newton steps.

    Returns
    -------
    (ndarray, ndarray)
        ``tau2`` and ``converged``, each of shape (m,).
    """
    k = y.shape[0]
    target = np.full(y.shape[1], float(k - 1))
    active = generalized_q(y, v, np.zeros(y.shape[1])) > target
    return _root_decreasing(y, v, target, active, tol=tol, maxiter=maxiter)


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # as meta_core
def estimate_tau2(yi: npt.ArrayLike, vi: npt.ArrayLike, method: MetaMethod = "REML", *,
                  tol: float = 1e-10, maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Between-study variance by ``method``, vectorised.

    Parameters
    ----------
    yi, vi : array_like, shape (K, R...)
        Effect sizes and sampling variances, studies on the first axis.
    method : {"FE", "DL", "REML", "ML", "PM", "HS", "HSk", "HE", "SJ", "EB"}
        The estimator (module docstring); ``"FE"`` (or ``"EE"``, ``"CE"``) gives 0.
    tol, maxiter : float, int
        Convergence control of the iterative estimators (REML, ML, PM, EB).

    Returns
    -------
    (ndarray, ndarray)
        ``tau2`` and ``converged``, each of shape (R...).

    Raises
    ------
    DataError
        Invalid ``yi``/``vi`` (see :func:`meta_analysis`).
    ValueError
        An unknown method.
    """
    method = canonical_method(method)
    y, v, trailing = _check_inputs(yi, vi)
    tau2, conv = _tau2(y, v, method, tol=tol, maxiter=maxiter)
    return tau2.reshape(trailing), conv.reshape(trailing)


def _tau2(y, v, method: str, *, tol: float, maxiter: int) -> tuple[np.ndarray, np.ndarray]:
    m = y.shape[1]
    if method == "FE":
        return np.zeros(m), np.ones(m, dtype=bool)
    if method == "DL":
        return tau2_dl(y, v), np.ones(m, dtype=bool)
    if method in ("REML", "ML"):
        return tau2_likelihood(y, v, reml=method == "REML", tol=tol, maxiter=maxiter)
    if method in ("PM", "EB"):
        return tau2_pm(y, v, tol=min(tol, 1e-12), maxiter=maxiter)
    if method in MOMENT_METHODS:
        return moment_tau2(y, v, np.ones((y.shape[0], 1, m)), method), np.ones(m, dtype=bool)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def q_profile_ci(yi: npt.ArrayLike, vi: npt.ArrayLike, *, ci_prob: float = 0.95
                 ) -> np.ndarray:
    r"""Q-profile confidence interval for tau² (Viechtbauer 2007), vectorised.

    The bounds solve :math:`Q(\tau^2) = \chi^2_{K-1, 1-\alpha/2}` (lower) and
    :math:`\chi^2_{K-1, \alpha/2}` (upper), :math:`\alpha = 1 -` ``ci_prob``; a bound is
    0 when :math:`Q(0)` is already below its quantile.

    Parameters
    ----------
    yi, vi : array_like, shape (K, R...)
        Effect sizes and sampling variances, studies on the first axis.
    ci_prob : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    ndarray, shape (2, R...)
        Lower and upper bounds for :math:`\tau^2`.

    Raises
    ------
    DataError
        Invalid ``yi``/``vi`` (see :func:`meta_analysis`).
    ValueError
        ``ci_prob`` outside (0, 1).
    """
    check_ci_prob(ci_prob, error=ValueError)
    y, v, trailing = _check_inputs(yi, vi)
    return _q_profile(y, v, ci_prob).reshape((2, *trailing))


def _q_profile(y, v, ci_prob: float) -> np.ndarray:
    k, m = y.shape
    alpha = 1.0 - ci_prob
    q0 = generalized_q(y, v, np.zeros(m))
    bounds = []
    for p in (1.0 - alpha / 2.0, alpha / 2.0):
        target = np.full(m, stats.chi2.ppf(p, k - 1))
        root, _ = _root_decreasing(y, v, target, q0 > target)
        bounds.append(root)
    return np.stack(bounds)
