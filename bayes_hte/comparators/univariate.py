r"""Univariate aggregate-data meta-analysis: fixed effect and random effects.

For studies :math:`k = 1, \dots, K` with effect estimates :math:`y_k` and sampling
variances :math:`v_k` (treated as known), the random-effects model is

.. math::

    y_k \mid \theta_k \sim N(\theta_k, v_k), \qquad \theta_k \sim N(\mu, \tau^2),

and the fixed-effect (FE, "common effect") model sets :math:`\tau^2 = 0`. Given
:math:`\hat\tau^2`, with weights :math:`w_k = 1/(v_k + \hat\tau^2)`,

.. math::

    \hat\mu = \frac{\sum_k w_k y_k}{\sum_k w_k}, \qquad
    \widehat{\mathrm{se}}(\hat\mu) = \Big(\sum_k w_k\Big)^{-1/2}.

Estimators of :math:`\tau^2` (all truncated at 0):

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
    re-solved by a bounded scalar optimiser and, failing that, reported as ``nan`` with a
    :class:`ConvergenceWarning` (``result.converged`` is ``False``).
``PM`` (Paule & Mandel 1982)
    The root of the generalised Q statistic
    :math:`Q(\tau^2) = \sum_k w_k(\tau^2)(y_k - \hat\mu(\tau^2))^2 = K - 1`
    (0 when :math:`Q(0) < K-1`), found by safeguarded Newton steps.

The Hartung–Knapp–Sidik–Jonkman adjustment (``knha=True``) replaces the standard error
by :math:`\sqrt{q / \sum_k w_k}`, :math:`q = \sum_k w_k (y_k-\hat\mu)^2 / (K-1)`, and
uses :math:`t_{K-1}` quantiles. The prediction interval for the effect of a new study is
:math:`\hat\mu \pm c\,\sqrt{\widehat{\mathrm{se}}^2 + \hat\tau^2}` with :math:`c` the
normal quantile (the :math:`t_{K-1}` quantile with ``knha=True``), as R metafor's
``predict.rma``; ``pi_type="higgins"`` uses :math:`t_{K-2}` (Higgins et al. 2009).
Heterogeneity: Cochran's :math:`Q` on :math:`K-1` df; with the "typical" within-study
variance :math:`s^2 = (K-1) S_1 / (S_1^2 - S_2)`, :math:`I^2 = 100\,\hat\tau^2/(\hat\tau^2
+ s^2)` percent and :math:`H^2 = (\hat\tau^2 + s^2)/s^2` (for FE: :math:`I^2 = 100
\max\{0, (Q-K+1)/Q\}`, :math:`H^2 = Q/(K-1)`), as metafor. The Q-profile confidence
interval for :math:`\tau^2` (Viechtbauer 2007) solves :math:`Q(\tau^2) =
\chi^2_{K-1}` quantiles and is computed on first access (``result.tau2_ci``).

All computations are numpy, vectorised over trailing replicate axes: ``yi`` and ``vi``
of shape ``(K, R...)`` give results of shape ``(R...)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import DataError

Method = Literal["FE", "DL", "REML", "ML", "PM"]
PIType = Literal["metafor", "higgins"]
METHODS: tuple[str, ...] = ("FE", "DL", "REML", "ML", "PM")


class ConvergenceWarning(RuntimeWarning):
    """An iterative estimator did not converge for some replicates (their results are nan)."""


# ---------------------------------------------------------------------------- input checks
def _check_inputs(yi, vi, *, k_min: int = 2) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Copy and validate; return (y, v) of shape (K, m) and the trailing shape."""
    y = np.array(yi, dtype=float, copy=True)
    v = np.array(vi, dtype=float, copy=True)
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

    def where(mask: np.ndarray) -> str:
        rows, cols = np.nonzero(mask)
        idx = [f"study {r}" + (f" (replicate {tuple(map(int, np.unravel_index(c, trailing)))})"
                               if trailing else "") for r, c in zip(rows[:5], cols[:5],
                                                                    strict=True)]
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        return ", ".join(idx) + more + " (0-based)"

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


def generalized_q(yi, vi, tau2) -> np.ndarray:
    r"""Generalised Q statistic :math:`Q(\tau^2) = \sum_k w_k (y_k - \hat\mu)^2`, vectorised.

    ``yi``, ``vi`` of shape (K, m); ``tau2`` of shape (m,). Decreasing in :math:`\tau^2`.
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
    """DerSimonian–Laird estimate of tau² for (K, m) arrays."""
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

    Returns ``(tau2, converged)``; unconverged columns are re-solved by a bounded scalar
    optimiser, and are ``nan`` with ``converged=False`` only if that fails too.
    Convergence: a step below ``tol * (tau2 + mean(v))``.
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
    """Paule–Mandel estimate of tau²: root of Q(tau²) = K - 1 (0 if Q(0) <= K - 1)."""
    k = y.shape[0]
    target = np.full(y.shape[1], float(k - 1))
    active = generalized_q(y, v, np.zeros(y.shape[1])) > target
    return _root_decreasing(y, v, target, active, tol=tol, maxiter=maxiter)


def estimate_tau2(yi, vi, method: Method = "REML", *, tol: float = 1e-10,
                  maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Between-study variance by ``method``, vectorised; returns ``(tau2, converged)``.

    ``yi``, ``vi`` of shape (K, R...); results of shape (R...).
    """
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
    if method == "PM":
        return tau2_pm(y, v, tol=min(tol, 1e-12), maxiter=maxiter)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def q_profile_ci(yi, vi, *, level: float = 0.95) -> np.ndarray:
    r"""Q-profile confidence interval for tau² (Viechtbauer 2007), vectorised.

    The bounds solve :math:`Q(\tau^2) = \chi^2_{K-1, 1-\alpha/2}` (lower) and
    :math:`\chi^2_{K-1, \alpha/2}` (upper); a bound is 0 when :math:`Q(0)` is already
    below its quantile. Returns shape (2, R...).
    """
    y, v, trailing = _check_inputs(yi, vi)
    return _q_profile(y, v, level).reshape((2, *trailing))


def _q_profile(y, v, level: float) -> np.ndarray:
    k, m = y.shape
    alpha = 1.0 - level
    q0 = generalized_q(y, v, np.zeros(m))
    bounds = []
    for p in (1.0 - alpha / 2.0, alpha / 2.0):
        target = np.full(m, stats.chi2.ppf(p, k - 1))
        root, _ = _root_decreasing(y, v, target, q0 > target)
        bounds.append(root)
    return np.stack(bounds)


# ---------------------------------------------------------------------------- core fit
def meta_core(yi, vi, *, method: Method = "REML", knha: bool = False, level: float = 0.95,
              pi_type: PIType = "metafor", tol: float = 1e-10, maxiter: int = 200) -> dict:
    """The numpy core of :func:`meta_analysis`: a dict of arrays of the trailing shape.

    Keys: estimate, se, statistic, p, ci (2, ...), pi (2, ...), df, tau2, i2, h2, q, q_df,
    q_p, weights (K, ...; percent), converged, k.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if pi_type not in ("metafor", "higgins"):
        raise ValueError(f"pi_type must be 'metafor' or 'higgins', got {pi_type!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    y, v, trailing = _check_inputs(yi, vi, k_min=3 if pi_type == "higgins" else 2)
    k, m = y.shape
    tau2, conv = _tau2(y, v, method, tol=tol, maxiter=maxiter)
    t2 = np.where(conv, tau2, 0.0)
    w, sw, mu, r = _weighted(y, v, t2)
    se = 1.0 / np.sqrt(sw)
    alpha = 1.0 - level
    if knha:
        s2 = (w * r**2).sum(axis=0) / (k - 1)
        se = np.sqrt(s2) * se
        df = float(k - 1)
        crit = stats.t.ppf(1 - alpha / 2, df)
    else:
        df = np.inf
        crit = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):  # se = 0: knha, identical yi
        stat = mu / se
    p = 2 * (stats.t.sf(np.abs(stat), df) if knha else stats.norm.sf(np.abs(stat)))
    ci = np.stack([mu - crit * se, mu + crit * se])
    if pi_type == "higgins":
        pcrit, pse = stats.t.ppf(1 - alpha / 2, k - 2), np.sqrt(se**2 + t2)
    else:
        pcrit, pse = crit, np.sqrt(se**2 + t2)
    pi = np.stack([mu - pcrit * pse, mu + pcrit * pse])
    q, s1, s2_ = _cochran(y, v)
    q_p = stats.chi2.sf(q, k - 1)
    if method == "FE":
        with np.errstate(divide="ignore", invalid="ignore"):
            i2 = np.where(q > 0, 100.0 * np.maximum(0.0, (q - (k - 1)) / q), 0.0)
        h2 = q / (k - 1)
    else:
        s2typ = (k - 1) * s1 / (s1**2 - s2_)
        i2 = 100.0 * t2 / (t2 + s2typ)
        h2 = (t2 + s2typ) / s2typ
    weights = 100.0 * w / sw
    out = {"estimate": mu, "se": se, "statistic": stat, "p": p, "ci": ci, "pi": pi,
           "tau2": t2, "i2": i2, "h2": h2, "q": q, "q_p": q_p, "weights": weights}
    if not conv.all():
        for key, val in out.items():
            val = np.asarray(val, dtype=float)
            val[..., ~conv] = np.nan
            out[key] = val
    shaped = {}
    for key, val in out.items():
        lead = val.shape[:-1]
        shaped[key] = val.reshape((*lead, *trailing))
    shaped.update(df=df, q_df=k - 1, k=k, converged=conv.reshape(trailing))
    return shaped


def _scalarise(x):
    """0-d arrays -> numpy float scalars; others unchanged."""
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class MetaAnalysisResult:
    r"""A fitted univariate meta-analysis (one, or many along trailing replicate axes).

    Scalars for one meta-analysis; arrays of the trailing shape ``R...`` for many.
    Intervals (``ci``, ``pi``, ``tau2_ci``) have a leading axis of length 2 (lower,
    upper): ``lo, hi = result.ci``.

    Attributes
    ----------
    estimate, se : float or ndarray
        Pooled effect :math:`\hat\mu` and its standard error (HKSJ-adjusted with
        ``knha=True``), on the scale of ``yi`` (``scale="log"`` for log RR / log OR).
    statistic, p : float or ndarray
        z (or t with ``knha``) statistic for :math:`\mu = 0` and its two-sided p-value.
    df : float
        Degrees of freedom of the reference distribution (``inf`` for z).
    ci, pi : ndarray
        Confidence interval of :math:`\mu` and prediction interval of a new study's
        effect :math:`\theta_{new}`.
    tau2, tau : float or ndarray
        Between-study variance (0 for FE) and its square root.
    i2, h2 : float or ndarray
        :math:`I^2` (percent) and :math:`H^2`.
    q, q_df, q_p : float or ndarray
        Cochran's Q, its degrees of freedom :math:`K-1` and p-value.
    weights : ndarray, shape (K, R...)
        Study weights in percent.
    converged : bool or ndarray
        False where the tau² iteration failed (those replicates are ``nan``).
    """

    estimate: float | np.ndarray
    se: float | np.ndarray
    statistic: float | np.ndarray
    p: float | np.ndarray
    df: float
    ci: np.ndarray
    pi: np.ndarray
    tau2: float | np.ndarray
    i2: float | np.ndarray
    h2: float | np.ndarray
    q: float | np.ndarray
    q_df: int
    q_p: float | np.ndarray
    weights: np.ndarray
    converged: bool | np.ndarray
    k: int
    method: str
    knha: bool
    level: float
    pi_type: str
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    labels: tuple[str, ...] = field(repr=False, default=())
    measure: str | None = None
    scale: str = "identity"

    @property
    def tau(self):
        """Between-study standard deviation :math:`\\hat\\tau`."""
        return _scalarise(np.sqrt(self.tau2))

    @property
    def ci_low(self):
        return self.ci[0]

    @property
    def ci_high(self):
        return self.ci[1]

    @property
    def pi_low(self):
        return self.pi[0]

    @property
    def pi_high(self):
        return self.pi[1]

    @property
    def shape(self) -> tuple:
        """Trailing replicate shape (``()`` for one meta-analysis)."""
        return np.shape(self.estimate)

    @cached_property
    def tau2_ci(self) -> np.ndarray:
        """Q-profile confidence interval of tau² at ``level`` (computed on first access)."""
        out = q_profile_ci(self.yi, self.vi, level=self.level)
        conv = np.asarray(self.converged)
        if not conv.all():
            out[..., ~conv] = np.nan
        return out

    @cached_property
    def i2_ci(self) -> np.ndarray:
        """Interval for :math:`I^2` (percent) implied by the Q-profile tau² interval."""
        y = self.yi.reshape(self.k, -1)
        v = self.vi.reshape(self.k, -1)
        _, s1, s2 = _cochran(y, v)
        s2typ = ((self.k - 1) * s1 / (s1**2 - s2)).reshape(self.shape)
        t = self.tau2_ci
        return 100.0 * t / (t + s2typ)

    def summary(self, *, transform=None) -> pd.DataFrame:
        """One row per meta-analysis (replicate).

        ``transform`` (a callable such as ``numpy.exp``, or ``"exp"``) is applied to the
        estimate and the interval bounds, e.g. to report risk ratios from log RRs.
        """
        f = _transform(transform)
        ci, pi, t2ci = (np.asarray(a).reshape(2, -1) for a in (self.ci, self.pi, self.tau2_ci))
        cols = {
            "estimate": f(np.ravel(self.estimate)), "se": np.ravel(self.se),
            "ci_low": f(ci[0]), "ci_high": f(ci[1]),
            "pi_low": f(pi[0]), "pi_high": f(pi[1]),
            "statistic": np.ravel(self.statistic), "p": np.ravel(self.p),
            "tau2": np.ravel(self.tau2), "tau2_ci_low": t2ci[0], "tau2_ci_high": t2ci[1],
            "tau": np.sqrt(np.ravel(self.tau2)),
            "i2": np.ravel(self.i2), "h2": np.ravel(self.h2),
            "q": np.ravel(self.q), "q_df": self.q_df, "q_p": np.ravel(self.q_p),
            "k": self.k, "converged": np.ravel(self.converged),
        }
        label = f"{self.method}{' + HKSJ' if self.knha else ''}"
        if self.shape == ():
            index = pd.Index([label], name="method")
        else:
            index = pd.MultiIndex.from_tuples(list(np.ndindex(self.shape)),
                                              names=[f"replicate_{i}"
                                                     for i in range(len(self.shape))])
        out = pd.DataFrame(cols, index=index)
        out.attrs.update(method=self.method, knha=self.knha, level=self.level,
                         measure=self.measure, scale=self.scale)
        return out

    def study_table(self, *, transform=None) -> pd.DataFrame:
        """Per-study estimates, CIs (normal, at ``level``) and weights (one meta-analysis)."""
        if self.shape != ():
            raise ValueError("study_table is for a single meta-analysis (1-D yi)")
        f = _transform(transform)
        z = stats.norm.ppf(0.5 + self.level / 2)
        se = np.sqrt(self.vi)
        return pd.DataFrame(
            {"estimate": f(self.yi), "se": se, "ci_low": f(self.yi - z * se),
             "ci_high": f(self.yi + z * se), "weight": self.weights},
            index=pd.Index(self.labels, name="study"))


def _transform(transform):
    if transform is None:
        return lambda x: x
    if transform == "exp":
        return np.exp
    if callable(transform):
        return transform
    raise ValueError(f"transform must be None, 'exp' or a callable, got {transform!r}")


def meta_analysis(
    yi,
    vi=None,
    *,
    method: Method = "REML",
    knha: bool = False,
    level: float = 0.95,
    pi_type: PIType = "metafor",
    labels=None,
    tol: float = 1e-10,
    maxiter: int = 200,
) -> MetaAnalysisResult:
    r"""Fixed- or random-effects meta-analysis of effect sizes (the model in the module doc).

    Parameters
    ----------
    yi : array_like, shape (K,) or (K, R...), or EffectTable
        Study effect estimates, studies on the first axis; trailing axes are independent
        replicates fitted in one vectorised call. An :class:`~bayes_hte.EffectTable`
        supplies ``yi``, ``vi``, labels and the measure's scale.
    vi : array_like, same shape as ``yi``
        Sampling variances (> 0). Omit when ``yi`` is an EffectTable.
    method : {"FE", "DL", "REML", "ML", "PM"}
        Fixed effect (inverse variance) or the tau² estimator of the random-effects model.
    knha : bool
        Hartung–Knapp–Sidik–Jonkman adjustment (t-based, as metafor ``test="knha"``).
    level : float
        Confidence level of the CI, PI and tau² interval.
    pi_type : {"metafor", "higgins"}
        Prediction-interval quantile: as metafor (z, or :math:`t_{K-1}` with ``knha``)
        or Higgins et al. (2009) :math:`t_{K-2}`.
    labels : sequence of str, optional
        Study labels (for plots and :meth:`MetaAnalysisResult.study_table`).
    tol, maxiter : float, int
        Convergence control of the iterative tau² estimators (REML, ML, PM).

    Returns
    -------
    MetaAnalysisResult
        ``.estimate .se .ci .pi .tau2 .i2 .h2 .q .q_df .q_p .tau2_ci`` and ``.summary()``.

    Raises
    ------
    DataError
        Fewer than 2 studies, non-finite ``yi``, ``vi`` not finite and positive,
        mismatched shapes.

    Examples
    --------
    >>> import numpy as np
    >>> yi = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47])
    >>> vi = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.007, 0.22, 0.004, 0.06])
    >>> res = meta_analysis(yi, vi, method="REML")
    >>> bool(res.tau2 > 0), res.ci.shape
    (True, (2,))
    """
    measure, scale = None, "identity"
    if isinstance(yi, EffectTable):
        if vi is not None:
            raise DataError("yi is an EffectTable, which already holds the variances; "
                            "do not pass vi")
        table = yi
        yi, vi = table.yi, table.vi
        labels = table.labels if labels is None else labels
        measure, scale = table.measure, table.scale
    elif vi is None:
        raise DataError("vi (sampling variances) is required unless yi is an EffectTable")
    core = meta_core(yi, vi, method=method, knha=knha, level=level, pi_type=pi_type,
                     tol=tol, maxiter=maxiter)
    y = np.array(yi, dtype=float, copy=True)
    v = np.array(vi, dtype=float, copy=True)
    k = y.shape[0]
    if labels is None:
        labels = tuple(str(i + 1) for i in range(k))
    labels = tuple(map(str, labels))
    if len(labels) != k:
        raise DataError(f"{len(labels)} labels for {k} studies")
    conv = core["converged"]
    if not np.all(conv):
        n_bad = int(np.size(conv) - np.count_nonzero(conv))
        where = np.argwhere(~np.asarray(conv))[:5].tolist()
        warnings.warn(f"{method}: the tau² iteration did not converge for {n_bad} of "
                      f"{np.size(conv)} meta-analyses (replicates {where}...); their results "
                      "are nan", ConvergenceWarning, stacklevel=2)
    s = _scalarise
    return MetaAnalysisResult(
        estimate=s(core["estimate"]), se=s(core["se"]), statistic=s(core["statistic"]),
        p=s(core["p"]), df=core["df"], ci=core["ci"], pi=core["pi"], tau2=s(core["tau2"]),
        i2=s(core["i2"]), h2=s(core["h2"]), q=s(core["q"]), q_df=core["q_df"],
        q_p=s(core["q_p"]), weights=core["weights"], converged=s(conv), k=k,
        method=method, knha=knha, level=level, pi_type=pi_type, yi=y, vi=v, labels=labels,
        measure=measure, scale=scale,
    )
