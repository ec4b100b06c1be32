r"""Numerical solvers of CIMA-AgD: exponential tilting and positive-definite repair.

* :func:`solve_tilting`: the tilting weights :math:`w(x) = e^{\lambda'h^+(x)}` that give
  a base sample a trial's reported feature means, by Newton's method on the convex dual.
* :func:`nearest_pd`: the nearest positive definite (or correlation) matrix by Higham's
  alternating projections, as R ``Matrix::nearPD`` (used on the working covariance of
  the reported effects, as the authors' reference implementation CIMAgD does).
* :func:`floor_psd`: a symmetric matrix with its eigenvalues floored (sandwich
  covariances and the second-step weighting matrix).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bayes_hte.errors import DataError, DataWarning

__all__ = ["MIN_ESS_SHARE", "TiltingFit", "check_tilting_ess", "floor_psd", "nearest_pd",
           "solve_tilting"]

#: Smallest effective sample size of a trial's tilting weights, as a share of the base
#: sample, that passes without a ``DataWarning`` (:func:`check_tilting_ess`).
MIN_ESS_SHARE = 0.05


@dataclass(frozen=True)
class TiltingFit:
    r"""Exponential tilting of the base sample to one trial's moments.

    Parameters
    ----------
    trial : str
        The trial's label.
    coef : ndarray, shape (1 + q,)
        :math:`\lambda` on the original feature scale, intercept first.
    weights : ndarray, shape (n_q,)
        The tilting weights :math:`w_k(x_i)` of the base-sample rows (mean 1).
    iterations : int
        Newton steps taken.
    max_error : float
        Largest absolute moment error :math:`|\overline{h^+ w} - \mu^+|` on the original
        feature scale.
    """

    trial: str
    coef: np.ndarray
    weights: np.ndarray
    iterations: int
    max_error: float

    @property
    def ess(self) -> float:
        r"""Kish's effective sample size of the weights,
        :math:`(\sum_i w_i)^2 / \sum_i w_i^2` (Kish 1965; the ESS reported for
        matching-adjusted indirect comparison, Phillippo et al. 2016, NICE DSU TSD 18):
        the number of equally weighted base-sample rows worth as much as the tilted ones.
        """
        return float(self.weights.sum() ** 2 / (self.weights**2).sum())


def check_tilting_ess(fits: Sequence[TiltingFit]) -> None:
    """Warn for the trials whose tilting weights have an effective sample size below
    :data:`MIN_ESS_SHARE` of the base sample.

    A small ESS means the base sample covers the trial's population poorly: matching its
    reported moments puts most of the weight on a few rows at the edge of the base
    sample, so the trial's tilted moments rest on those rows and the large-sample
    variance of CIMA is least trustworthy there. ``fit.tilting`` has each trial's
    ``ess`` and ``ess_share``.

    Parameters
    ----------
    fits : sequence of TiltingFit
        One per trial, weights over the same base sample.

    Warns
    -----
    DataWarning
        Naming each such trial with its ESS and the base sample's size.
    """
    low = [f for f in fits if f.ess < MIN_ESS_SHARE * len(f.weights)]
    if low:
        n = len(low[0].weights)
        where = ", ".join(f"{f.trial!r} (ESS {f.ess:.0f})" for f in low)
        warnings.warn(
            f"the tilting weights of {'trial' if len(low) == 1 else 'trials'} {where} have "
            f"an effective sample size below {MIN_ESS_SHARE:.0%} of the {n} base-sample "
            "rows: the base sample covers that population poorly, so its moments rest on "
            "a few heavily weighted rows and the standard errors may be too small; use a "
            "base sample that covers its population, or tilt on fewer features (tilting=)",
            DataWarning, stacklevel=5)


def solve_tilting(
    H: np.ndarray,
    mu: np.ndarray,
    *,
    trial: str = "trial",
    features: Sequence[str] | None = None,
    tol: float = 1e-11,
    maxiter: int = 200,
) -> TiltingFit:
    r"""Exponential tilting weights matching the moments ``mu`` of features ``H``.

    Solves :math:`n^{-1}\sum_i h^+_i e^{\lambda'h^+_i} = (1, \mu)` by Newton's method
    with the analytic Hessian :math:`n^{-1}\sum_i w_i h^+_i h^{+\prime}_i` and a
    backtracking line search on the convex dual :math:`\overline{e^{\lambda'h^+}} -
    \lambda'\mu^+`, in standardised features (the weights do not depend on the affine
    scale of the features). The linear predictor is clipped to [-700, 700].

    Parameters
    ----------
    H : ndarray, shape (n, q)
        Tilting features of the base sample (no intercept column).
    mu : ndarray, shape (q,)
        Target means of the features.
    trial : str
        Name used in error messages.
    features : sequence of str, optional
        Feature labels used in error messages (default ``h0, h1, ...``).
    tol : float
        Convergence: largest absolute gradient of the dual (standardised features).
    maxiter : int
        Maximum number of Newton steps.

    Returns
    -------
    TiltingFit
        ``coef`` (:math:`\lambda` on the original feature scale, intercept first,
        shape (q + 1,)), ``weights`` (shape (n,), mean 1), ``iterations`` and
        ``max_error`` (largest absolute moment error on the original scale).

    Raises
    ------
    DataError
        A feature constant in the base sample, a target mean on or outside the range of
        the base sample, or no convergence within ``maxiter`` Newton steps (the message
        names the trial).
    """
    H = np.asarray(H, dtype=float)
    mu = np.asarray(mu, dtype=float)
    n, q = H.shape
    names = list(features) if features is not None else [f"h{j}" for j in range(q)]
    c = H.mean(axis=0)
    s = H.std(axis=0)
    for j in range(q):
        if s[j] == 0:
            raise DataError(f"tilting trial {trial!r}: feature {names[j]!r} is constant in the "
                            "base sample, so it cannot be tilted; use a base sample in which "
                            "it varies or leave it out of tilting=")
        lo, hi = H[:, j].min(), H[:, j].max()
        if not lo < mu[j] < hi:
            raise DataError(
                f"exponential tilting for trial {trial!r} cannot converge: the reported mean "
                f"{mu[j]:.4g} of {names[j]!r} lies outside the range ({lo:.4g}, {hi:.4g}) of "
                "the base sample; check this trial's covariate summaries or use a base "
                "sample that covers its population"
            )
    Ht = np.column_stack([np.ones(n), (H - c) / s])
    mt = np.concatenate([[1.0], (mu - c) / s])
    lam = np.zeros(q + 1)

    def objective(lam):
        eta = np.clip(Ht @ lam, -700, 700)
        w = np.exp(eta)
        return w.mean() - lam @ mt, w

    f, w = objective(lam)
    it = 0
    converged = False
    grad = Ht.T @ w / n - mt
    while it < maxiter:
        it += 1
        hess = (Ht * w[:, None]).T @ Ht / n
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        dec = float(grad @ step)
        t = 1.0
        for _ in range(60):
            f_new, w_new = objective(lam - t * step)
            # in the quadratic regime the decrease is below rounding: take the full step
            if np.isfinite(f_new) and (f_new <= f - 0.25 * t * dec or dec < 1e-14):
                break
            t *= 0.5
        else:
            break
        lam = lam - t * step
        f, w = f_new, w_new
        grad = Ht.T @ w / n - mt
        if np.max(np.abs(grad)) < tol:
            converged = True
            break
    Hp = np.column_stack([np.ones(n), H])
    mup = np.concatenate([[1.0], mu])
    err = float(np.max(np.abs(Hp.T @ w / n - mup)))
    scale = np.concatenate([[1.0], np.maximum(np.abs(mu), 1.0)])
    if not converged or not np.all(np.abs(Hp.T @ w / n - mup) <= 1e-6 * scale):
        raise DataError(
            f"exponential tilting for trial {trial!r} did not converge after {it} Newton "
            f"steps (largest moment error {err:.3g}); its reported covariate moments may be "
            "incompatible with the base sample (e.g. a proportion near 0 or 1, or means "
            "and SDs that the base sample cannot reach): check this trial's covariate "
            "summaries, simplify tilting=, or use a base sample that covers its population"
        )
    coef = np.concatenate([[lam[0] - np.sum(lam[1:] * c / s)], lam[1:] / s])
    return TiltingFit(trial=trial, coef=coef, weights=w, iterations=it, max_error=err)


# =========================================================================== nearPD
def nearest_pd(
    x: np.ndarray,
    *,
    corr: bool = False,
    eig_tol: float = 1e-6,
    conv_tol: float = 1e-7,
    posd_tol: float = 1e-8,
    maxit: int = 100,
) -> np.ndarray:
    """Nearest positive definite matrix (Higham 2002, alternating projections with
    Dykstra's correction), with the defaults of R ``Matrix::nearPD``.

    Parameters
    ----------
    x : ndarray, shape (p, p)
        A symmetric (or nearly symmetric) matrix; it is symmetrised first.
    corr : bool
        Project onto correlation matrices (unit diagonal).
    eig_tol : float
        Eigenvalues below ``eig_tol`` times the largest are treated as zero.
    conv_tol : float
        Convergence tolerance of the alternating projections (relative change).
    posd_tol : float
        Final eigenvalue floor, relative to the largest eigenvalue, which makes the
        result positive definite.
    maxit : int
        Maximum number of projection iterations.

    Returns
    -------
    ndarray, shape (p, p)
        The repaired matrix (unit diagonal when ``corr=True``).

    Raises
    ------
    DataError
        The matrix has no positive eigenvalue.
    """
    X = (np.asarray(x, dtype=float) + np.asarray(x, dtype=float).T) / 2
    DS = np.zeros_like(X)
    for _ in range(maxit):
        Y = X
        R = Y - DS
        d, Q = np.linalg.eigh(R)
        d, Q = d[::-1], Q[:, ::-1]
        keep = d > eig_tol * d[0]
        if not keep.any():
            raise DataError("nearest_pd: the matrix seems negative semi-definite")
        Qk = Q[:, keep]
        X = (Qk * d[keep]) @ Qk.T
        DS = X - R
        if corr:
            np.fill_diagonal(X, 1.0)
        conv = np.abs(Y - X).sum(axis=1).max() / np.abs(Y).sum(axis=1).max()
        if conv <= conv_tol:
            break
    d, Q = np.linalg.eigh(X)
    d, Q = d[::-1], Q[:, ::-1]
    eps = posd_tol * abs(d[0])
    if d[-1] < eps:
        d = np.maximum(d, eps)
        o_diag = np.diag(X).copy()
        X = (Q * d) @ Q.T
        D = np.sqrt(np.maximum(eps, o_diag) / np.diag(X))
        X = D[:, None] * X * D[None, :]
    if corr:
        np.fill_diagonal(X, 1.0)
    return X


def floor_psd(V: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Symmetrise a matrix and floor its eigenvalues.

    Parameters
    ----------
    V : ndarray, shape (p, p)
        A (nearly) symmetric matrix.
    floor : float
        Smallest eigenvalue kept.

    Returns
    -------
    ndarray, shape (p, p)
        :math:`Q\\,\\max(D, \\text{floor})\\,Q'` for the eigendecomposition
        :math:`QDQ'` of :math:`(V + V')/2`.
    """
    V = (V + V.T) / 2
    d, Q = np.linalg.eigh(V)
    return (Q * np.maximum(d, floor)) @ Q.T
