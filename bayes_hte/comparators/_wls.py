r"""Weighted least squares of a (meta-)regression and the moment estimators of tau².

Shared by :mod:`~bayes_hte.comparators.metareg` (any design :math:`X`) and
:mod:`~bayes_hte.comparators.heterogeneity` (:math:`X = 1`). For studies
:math:`k = 1, \dots, K` with estimates :math:`y_k`, sampling variances :math:`v_k`, a
design of :math:`p` columns and weights :math:`W = \mathrm{diag}(w_k)`,
:math:`P = W - WX(X'WX)^{-1}X'W` and :math:`V = \mathrm{diag}(v_k)`:

``HS`` (Hunter & Schmidt 2004)
    :math:`\max\{0, (y'P_0y - K)/\sum_k 1/v_k\}` with :math:`W = V^{-1}`;
``HSk``
    the same with :math:`y'P_0y` scaled by :math:`K/(K-p)` (Brannick et al. 2019);
``HE`` (Hedges 1983; Hedges & Olkin 1985)
    :math:`\max\{0, (y'P_Iy - \mathrm{tr}(P_IV))/(K-p)\}` with :math:`W = I`
    (ordinary least squares);
``SJ`` (Sidik & Jonkman 2005)
    :math:`\tau_0^2\, y'P_sy/(K-p)` with :math:`W = (V + \tau_0^2 I)^{-1}` and
    :math:`\tau_0^2 = \sum_k (y_k - \bar y)^2/K`;
``EB`` (Morris 1983; Berkey et al. 1995)
    the root of :math:`y'P(\tau^2)y\,K/(K-p) = K`, i.e. the Paule–Mandel equation, so the
    estimate is PM's (metafor's documentation says the same); only its standard error is
    reported under its own name.

The standard errors of :math:`\hat\tau^2` are those metafor 3.8 reports for each
estimator (Viechtbauer 2010, *J Stat Softw* 36(3); tests/comparators/
test_tau2_estimators.py holds its numbers).
"""

from __future__ import annotations

import functools

import numpy as np

#: Largest number of (K, K) matrix entries over the replicates held at once: the
#: estimators below work on P, (R, K, K), so many replicates are taken in chunks.
CHUNK_ENTRIES = 4_000_000

#: The moment estimators computed here (beside DL, which both modules compute).
MOMENT_METHODS: tuple[str, ...] = ("HS", "HSk", "HE", "SJ")


class WLSFit:
    r"""The weighted least-squares fit at one tau2 per replicate, by a complete QR of
    :math:`W^{1/2}X` with the rows in decreasing weight (no normal equations: their
    condition number is the square of the design's, and a study with a tiny variance
    would swamp them; the sorted rows keep Householder QR accurate when the weights span
    many orders of magnitude).

    ``y`` (K, R), ``v`` (K, R), ``X`` (K, p, R), ``tau2`` (R,); the weights are
    :math:`1/(v + \tau^2)`. ``w`` (K, R) the weights, ``inv`` (R, p, p)
    :math:`(X'WX)^{-1}`, ``beta`` (p, R), ``quad`` (R,) :math:`y'Py`, the weighted
    residual sum of squares (>= 0 by construction), ``Py`` (K, R), ``trace`` (R,)
    :math:`\mathrm{tr}P`; ``P`` (R, K, K) on first use. With :math:`Q = [Q_1, Q_2]`,
    :math:`P = W^{1/2}Q_2Q_2'W^{1/2}`, so the residual quantities come from :math:`Q_2`
    without cancellation.
    """

    def __init__(self, y, v, X, tau2):
        K, p, _ = X.shape
        self.w = 1.0 / (v + tau2[None, :])
        order = np.argsort(-self.w, axis=0, kind="stable").T  # (R, K)
        self._order = order
        sw = np.take_along_axis(np.sqrt(self.w).T, order, axis=1)  # (R, K), sorted
        A = np.take_along_axis(np.moveaxis(X, -1, 0), order[:, :, None], axis=1) \
            * sw[:, :, None]
        Q, Rm = np.linalg.qr(A, mode="complete")  # Q (R, K, K), Rm (R, K, p)
        Rinv = np.linalg.inv(Rm[:, :p, :])
        self.inv = Rinv @ np.swapaxes(Rinv, 1, 2)
        z = sw * np.take_along_axis(y.T, order, axis=1)  # (R, K)
        qz = np.einsum("rkj,rk->rj", Q, z)
        self.beta = np.einsum("rpq,rq->pr", Rinv, qz[:, :p])
        self.quad = (qz[:, p:] ** 2).sum(axis=1)
        self._sw, self._Q2 = sw, Q[:, :, p:]
        resid = np.einsum("rkj,rj->rk", self._Q2, qz[:, p:])  # Q2 Q2' W^(1/2) y
        self.Py = self._unsort(sw * resid).T  # (K, R)
        self.trace = (sw**2 * (self._Q2**2).sum(axis=2)).sum(axis=1)

    def _unsort(self, a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        np.put_along_axis(out, self._order, a, axis=1)
        return out

    @property
    def P(self) -> np.ndarray:
        """P (R, K, K), in the studies' order."""
        half = self._sw[:, :, None] * self._Q2  # W^(1/2) Q2, sorted rows
        Ps = np.einsum("rkj,rlj->rkl", half, half)
        inv = np.argsort(self._order, axis=1)
        Ps = np.take_along_axis(Ps, inv[:, :, None], axis=1)
        return np.take_along_axis(Ps, inv[:, None, :], axis=2)


def _ols(y, X) -> WLSFit:
    """The unweighted fit (W = I), as a WLSFit of unit variances."""
    return WLSFit(y, np.ones_like(y), X, np.zeros(y.shape[1]))


def _sj_start(y) -> np.ndarray:
    """Sidik & Jonkman's initial tau2: the variance of y about its mean, divisor K."""
    return y.var(axis=0)


def _by_chunks(fn):
    """Apply ``fn(..., y, v, X, ...)`` to chunks of the replicates when (R, K, K) is large
    (arrays with a trailing replicate axis are split; the WLS fits must not be given)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = dict(zip(fn.__code__.co_varnames, args, strict=False), **kwargs)
        K, R = bound["y"].shape
        size = max(1, CHUNK_ENTRIES // (K * K))
        if R <= size or bound.get("fit") is not None or bound.get("fit0") is not None:
            return fn(**bound)
        parts = []
        for start in range(0, R, size):
            sl = slice(start, start + size)
            part = {k: (a[..., sl] if isinstance(a, np.ndarray) else a)
                    for k, a in bound.items()}
            parts.append(fn(**part))
        return np.concatenate(parts)

    return wrapper


@_by_chunks
def moment_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> np.ndarray:
    """tau2 (R,) by one of :data:`MOMENT_METHODS` (module docstring); ``y``, ``v`` (K, R),
    ``X`` (K, p, R)."""
    K, p, R = X.shape
    if method in ("HS", "HSk"):
        fit0 = WLSFit(y, v, X, np.zeros(R))
        rss = fit0.quad * (K / (K - p) if method == "HSk" else 1.0)
        return np.maximum(0.0, (rss - K) / fit0.w.sum(axis=0))
    if method == "HE":
        ols = _ols(y, X)
        tr_pv = np.einsum("rkk,kr->r", ols.P, v)
        return np.maximum(0.0, (ols.quad - tr_pv) / (K - p))
    if method == "SJ":
        t0 = _sj_start(y)
        return t0 * WLSFit(y, v, X, t0).quad / (K - p)
    raise ValueError(f"not a moment estimator: {method!r}")


def _frob(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum(A * B) over the last two axes (metafor's ``sum(A * B)``), per replicate."""
    return np.einsum("rkl,rkl->r", A, B)


@_by_chunks
def tau2_se(method: str, tau2: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray,
            fit: WLSFit | None = None, fit0: WLSFit | None = None) -> np.ndarray:
    r"""Standard error of :math:`\hat\tau^2` (R,) as metafor 3.8 reports it.

    ``fit`` is the fit at ``tau2`` and ``fit0`` at 0 (computed when not given); NaN for
    ``"FE"``.
    """
    K, p, R = X.shape
    t = np.maximum(tau2, 0.0)
    if method == "FE":
        return np.full(R, np.nan)
    if method in ("REML", "ML", "EB", "PM"):
        fit = fit if fit is not None else WLSFit(y, v, X, tau2)
        if method == "REML":
            P = fit.P
            return np.sqrt(2 / _frob(P, P))
        if method == "ML":
            return np.sqrt(2 / (fit.w * fit.w).sum(axis=0))
        return np.sqrt(2 * K**2 / (K - p) / fit.w.sum(axis=0) ** 2)
    if method in ("DL", "HS", "HSk"):
        fit0 = fit0 if fit0 is not None else WLSFit(y, v, X, np.zeros(R))
        P0 = fit0.P
        core = 2 * (K - p) + 4 * t * fit0.trace + 2 * t**2 * _frob(P0, P0)
        if method == "DL":
            return np.sqrt(core / fit0.trace**2)
        scale = K / (K - p) if method == "HSk" else 1.0
        return scale * np.sqrt(core / fit0.w.sum(axis=0) ** 2)
    if method in ("HE", "SJ"):
        P = _ols(y, X).P if method == "HE" else WLSFit(y, v, X, _sj_start(y)).P
        PV = P * v.T[:, None, :]  # P V: column l times v_l
        pvpv = 2 * _frob(PV, np.swapaxes(PV, 1, 2))
        if method == "HE":  # P = I - H is idempotent: sum(PV * P) = tr(PV), tr(PP) = K - p
            tr_pv = np.einsum("rkk->r", PV)
            return np.sqrt((pvpv + 4 * t * tr_pv + 2 * t**2 * (K - p)) / (K - p) ** 2)
        core = pvpv + 4 * t * _frob(PV, P) + 2 * t**2 * _frob(P, P)
        return np.sqrt(_sj_start(y) ** 2 * core / (K - p) ** 2)
    raise ValueError(f"no standard error of tau2 for method {method!r}")
