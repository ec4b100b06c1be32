r"""Random-effects meta-regression (REML), vectorised over a trailing replicate axis.

A private helper for the CIMA-AgD comparisons (the paper's "standard meta-regression",
R ``meta::metareg`` / ``metafor::rma``): study :math:`k` with estimate :math:`y_k`,
known sampling variance :math:`v_k` and study-level covariates :math:`x_k`,

.. math::

    y_k = x_k'\beta + u_k + e_k, \qquad u_k \sim N(0, \tau^2), \quad e_k \sim N(0, v_k).

:math:`\tau^2` maximises the restricted likelihood
:math:`-\tfrac12\{\sum_k \log(v_k+\tau^2) + \log|X'WX| + y'Py\}`, with
:math:`W = \mathrm{diag}\{1/(v_k+\tau^2)\}` and :math:`P = W - WX(X'WX)^{-1}X'W`, by
Fisher scoring :math:`\tau^2 \leftarrow \max\{0, \tau^2 + (y'PPy - \mathrm{tr}P) /
\mathrm{tr}(PP)\}`; then :math:`\hat\beta = (X'WX)^{-1}X'Wy` with covariance
:math:`(X'WX)^{-1}`. A prediction at :math:`x_0` is :math:`x_0'\hat\beta` with variance
:math:`x_0'(X'WX)^{-1}x_0` and a Wald (z) interval, as ``metafor::predict.rma`` with
``test="z"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from bayes_hte.comparators.results import wald_interval
from bayes_hte.errors import DataError


@dataclass(frozen=True)
class MetaRegression:
    """REML meta-regression fits; arrays have the trailing replicate shape."""

    beta: np.ndarray  # (p, R)
    cov: np.ndarray  # (p, p, R)
    tau2: np.ndarray  # (R,)
    converged: np.ndarray  # (R,)

    def predict(self, x0: np.ndarray, *, ci_prob: float = 0.95):
        """Prediction ``x0' beta`` with its standard error and Wald interval.

        Parameters
        ----------
        x0 : ndarray, shape (p,) or (p, R)
            Covariate vector (intercept first), shared or one per replicate.
        ci_prob : float
            Probability of the interval.

        Returns
        -------
        (ndarray, ndarray, ndarray, ndarray)
            ``estimate, se, ci_low, ci_high``, each of shape (R,).
        """
        x0 = np.asarray(x0, dtype=float)
        if x0.ndim == 1:
            x0 = np.broadcast_to(x0[:, None], self.beta.shape)
        est = np.einsum("pr,pr->r", x0, self.beta)
        se = np.sqrt(np.einsum("pr,pqr,qr->r", x0, self.cov, x0))
        lo, hi = wald_interval(est, se, ci_prob)
        return est, se, lo, hi


def _parts(y, v, X, tau2):
    w = 1.0 / (v + tau2[None, :])  # (K, R)
    XtWX = np.einsum("kpr,kr,kqr->rpq", X, w, X)
    inv = np.linalg.inv(XtWX)  # (R, p, p)
    # P = W - W X inv X' W
    WX = X * w[:, None, :]  # (K, p, R)
    P = -np.einsum("kpr,rpq,lqr->rkl", WX, inv, WX)
    idx = np.arange(y.shape[0])
    P[:, idx, idx] += w.T
    return w, inv, P


def _reml(y1, v1, X1, t):
    w = 1 / (v1 + t)
    XtWX = X1.T @ (w[:, None] * X1)
    b = np.linalg.solve(XtWX, X1.T @ (w * y1))
    r = y1 - X1 @ b
    return 0.5 * (np.log(v1 + t).sum() + np.linalg.slogdet(XtWX)[1] + (w * r * r).sum())


def meta_regression(yi, vi, X, *, maxiter: int = 200, tol: float = 1e-10) -> MetaRegression:
    """REML random-effects meta-regression.

    Parameters
    ----------
    yi, vi : array, shape (K,) or (K, R)
        Estimates and sampling variances (studies on the first axis).
    X : array, shape (K, p) or (K, p, R)
        Study-level design, intercept column included.

    Raises
    ------
    DataError
        Non-positive variances, or no residual degrees of freedom (K <= p).
    """
    y = np.array(yi, dtype=float, copy=True)
    v = np.array(vi, dtype=float, copy=True)
    X = np.array(X, dtype=float, copy=True)
    if y.ndim == 1:
        y, v = y[:, None], v[:, None]
    if X.ndim == 2:
        X = np.broadcast_to(X[:, :, None], (*X.shape, y.shape[1])).copy()
    K, p, R = X.shape
    if y.shape != (K, R) or v.shape != (K, R):
        raise DataError(f"yi and vi must have shape ({K}, {R}) to match X")
    if not np.all(np.isfinite(v) & (v > 0)) or not np.all(np.isfinite(y)):
        raise DataError("meta-regression needs finite estimates and positive variances")
    if K <= p:
        raise DataError(f"meta-regression with {p} coefficients needs more than {p} studies, "
                        f"has {K}")
    tau2 = np.zeros(R)
    converged = np.zeros(R, dtype=bool)
    for _ in range(maxiter):
        _, _, P = _parts(y, v, X, tau2)
        Py = np.einsum("rkl,lr->kr", P, y)
        score = np.einsum("kr,kr->r", Py, Py) - np.einsum("rkk->r", P)
        info = np.einsum("rkl,rlk->r", P, P)
        new = np.maximum(0.0, tau2 + score / info)
        step = np.abs(new - tau2)
        tau2 = np.where(converged, tau2, new)
        converged |= step < tol * np.maximum(1.0, tau2)
        if converged.all():
            break
    for r in np.flatnonzero(~converged):  # bounded scalar fallback
        y1, v1, X1 = y[:, r], v[:, r], X[:, :, r]
        hi = 10 * (np.var(y1) + v1.max())
        res = optimize.minimize_scalar(lambda t, y1=y1, v1=v1, X1=X1: _reml(y1, v1, X1, t),
                                       bounds=(0.0, hi), method="bounded",
                                       options={"xatol": 1e-12})
        tau2[r] = res.x if _reml(y1, v1, X1, res.x) < _reml(y1, v1, X1, 0.0) else 0.0
        converged[r] = bool(res.success)
    w, inv, _ = _parts(y, v, X, tau2)
    beta = np.einsum("rpq,kqr,kr,kr->pr", inv, X, w, y)
    return MetaRegression(beta=beta, cov=np.moveaxis(inv, 0, -1), tau2=tau2,
                          converged=converged)
