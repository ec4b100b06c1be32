r"""The numpy core of the linear mixed models of :mod:`bayes_hte.comparators.mixed`: the
REML / ML fit of one design with a participant random intercept or an unstructured
within-participant covariance (:func:`lmm_fit`, the equations in that module's docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from bayes_hte.errors import DataError
from bayes_hte.options import LMMMethod, WithinCovariance

_LOG2PI = np.log(2.0 * np.pi)


# =========================================================================== numpy core
@dataclass(frozen=True, eq=False)
class _LMMStatistics:
    """Variance parameters and fit statistics shared by :class:`LMMFit` and
    :class:`MixedModelResult` (documented in :class:`LMMFit`)."""

    sd_intercept: float
    sd_error: float
    loglik: float
    n_obs: int
    n_subjects: int
    n_cov_params: int
    converged: bool


@dataclass(frozen=True, eq=False)
class LMMFit(_LMMStatistics):
    """Raw output of :func:`lmm_fit` (arrays over all P design columns).

    Parameters
    ----------
    beta : ndarray, shape (P,)
        Fixed effects; NaN for inestimable (all-zero) design columns.
    cov : ndarray, shape (P, P)
        Their model-based covariance; NaN rows/columns for inestimable columns.
    sigma : ndarray, shape (n_visits, n_visits)
        Within-participant covariance over the visits (NaN for visits not measured).
    sd_intercept, sd_error : float
        Random-intercept and residual SDs (random-intercept model; NaN otherwise).
    loglik : float
        Restricted (REML) or full (ML) log-likelihood.
    n_obs, n_subjects : int
        Measurements and participants.
    n_cov_params : int
        Number of variance parameters estimated.
    converged : bool
        Whether the optimiser converged.
    estimable : ndarray of bool, shape (P,)
        Design columns that are not all zero.
    """

    beta: np.ndarray
    cov: np.ndarray
    sigma: np.ndarray
    estimable: np.ndarray


def _check_rank(X: np.ndarray, names: Sequence[str], where: str) -> None:
    scale = np.sqrt((X * X).sum(axis=0))
    G = (X.T @ X) / np.outer(scale, scale)
    eig = np.linalg.eigvalsh(G)
    if eig[0] > 1e-10 * eig[-1]:
        return
    _, R, piv = linalg.qr(X / scale, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    tol = d.max() * max(X.shape) * np.finfo(float).eps * 10 if d.size else 0.0
    rank = int((d > tol).sum())
    if rank < X.shape[1]:
        aliased = [names[i] for i in piv[rank:]]
        raise DataError(f"{where}: the design is rank deficient; coefficients {aliased} are "
                        "confounded with others (e.g. a covariate constant within the trial or "
                        "an interaction without variation); drop the covariate or the "
                        "interaction")


def lmm_fit(
    y: np.ndarray,
    X: np.ndarray,
    subject: np.ndarray,
    visit: np.ndarray,
    *,
    n_visits: int,
    covariance: WithinCovariance = "random_intercept",
    method: LMMMethod = "REML",
    names: Sequence[str] | None = None,
    where: str = "the trial",
) -> LMMFit:
    """Fit one linear mixed model by REML or ML (numpy core of :func:`mixed_model`).

    Parameters
    ----------
    y : ndarray (n,)
    X : ndarray (n, P)
        Fixed-effects design; all-zero columns are inestimable (returned as NaN).
    subject, visit : ndarray of int (n,)
        Participant index (0..n_subjects-1) and visit index (0..n_visits-1).
    n_visits : int
        Number of visits the visit index refers to.
    covariance, method
        See :func:`mixed_model`.
    names : sequence of str, optional
        Names of the design columns (error messages).
    where : str
        Name of the data in error messages.

    Returns
    -------
    LMMFit

    Raises
    ------
    DataError
        Too few measurements for the model, or a rank-deficient design.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    P_all = X.shape[1]
    names = list(names) if names is not None else [f"x{i}" for i in range(P_all)]
    est = np.any(X != 0.0, axis=0)
    Xe = X[:, est]
    N, P = Xe.shape
    subj_codes, subject = np.unique(subject, return_inverse=True)
    n_subj = subj_codes.size
    measured = np.unique(visit)
    if covariance not in ("random_intercept", "unstructured"):
        raise ValueError(f"covariance must be 'random_intercept' or 'unstructured', got "
                         f"{covariance!r}")
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    n_cov = 2 if covariance == "random_intercept" else measured.size * (measured.size + 1) // 2
    if N - P < n_cov + 1:
        raise DataError(f"{where}: {N} measurements are too few for {P} fixed effects and "
                        f"{n_cov} variance parameters; fit a simpler model")
    _check_rank(Xe, [n for n, e in zip(names, est, strict=True) if e], where)

    if covariance == "random_intercept":
        fit = _fit_ri(y, Xe, subject, n_subj, method)
        sb2, se2 = fit["sb2"], fit["se2"]
        sigma = np.full((n_visits, n_visits), np.nan)
        mv = np.ix_(measured, measured)
        sigma[mv] = sb2 + se2 * np.eye(measured.size)
        sd_b = np.sqrt(sb2) if np.isfinite(sb2) else np.nan
        sd_e = np.sqrt(se2)
        n_cov_used = fit["n_cov"]
    else:
        vmap = np.full(n_visits, -1)
        vmap[measured] = np.arange(measured.size)
        fit = _fit_un(y, Xe, subject, vmap[visit], n_subj, measured.size, method)
        sigma = np.full((n_visits, n_visits), np.nan)
        sigma[np.ix_(measured, measured)] = fit["Sigma"]
        sd_b = sd_e = np.nan
        n_cov_used = n_cov
    beta = np.full(P_all, np.nan)
    beta[est] = fit["beta"]
    cov = np.full((P_all, P_all), np.nan)
    cov[np.ix_(est, est)] = fit["cov"]
    return LMMFit(beta=beta, cov=cov, sigma=sigma, sd_intercept=float(sd_b),
                  sd_error=float(sd_e), loglik=float(fit["loglik"]), n_obs=N,
                  n_subjects=n_subj, n_cov_params=n_cov_used, converged=bool(fit["converged"]),
                  estimable=est)


# ----------------------------------------------------------------------- random intercept
def _fit_ri(y, X, subject, n_subj, method):
    N, P = X.shape
    m = np.bincount(subject, minlength=n_subj).astype(float)
    S = np.zeros((n_subj, P))
    np.add.at(S, subject, X)
    u = np.bincount(subject, weights=y, minlength=n_subj)
    XtX, Xty, yty = X.T @ X, X.T @ y, y @ y
    reml = method == "REML"
    dof = N - P if reml else N

    def parts(lam):
        c = lam / (1.0 + m * lam)
        A = XtX - (S * c[:, None]).T @ S
        b = Xty - S.T @ (c * u)
        yRy = yty - np.sum(c * u * u)
        L = np.linalg.cholesky(A)
        beta = np.linalg.solve(A, b)
        rRr = yRy - beta @ b
        logdetA = 2.0 * np.log(np.diagonal(L)).sum()
        return A, beta, max(rRr, 1e-300), logdetA, np.log1p(m * lam).sum()

    def crit(eta):  # -2 loglik profiled over sigma_e^2, as a function of log lambda
        lam = float(np.exp(eta))
        _, _, rRr, logdetA, logdetR = parts(lam)
        val = dof * (_LOG2PI + 1.0 + np.log(rRr / dof)) + logdetR
        return val + (logdetA if reml else 0.0)

    if m.max() <= 1:
        # each participant measured once: sigma_b^2 is not separable from sigma_e^2;
        # the fixed effects are ordinary least squares (V proportional to I).
        lam, converged, n_cov = 0.0, True, 1
    else:
        grid = np.linspace(-12.0, 6.0, 19)
        vals = np.array([crit(e) for e in grid])
        i = int(np.argmin(vals))
        lo = grid[max(i - 1, 0)]
        hi = grid[i + 1] if i < grid.size - 1 else 25.0
        res = optimize.minimize_scalar(crit, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-9})
        eta, best = float(res.x), float(res.fun)
        if i == 0 and crit(-np.inf) <= best:
            eta = -np.inf  # boundary: no between-participant variance
        lam = float(np.exp(eta))
        converged, n_cov = bool(res.success) and eta < 24.9, 2
    A, beta, rRr, logdetA, logdetR = parts(lam)
    se2 = rRr / dof
    if reml:  # -2 l_R = (N-P) log 2pi + log|V| + log|X'V^-1 X| + r'V^-1 r
        val = dof * (_LOG2PI + 1.0 + np.log(se2)) + logdetR + logdetA
    else:
        val = N * (_LOG2PI + 1.0 + np.log(se2)) + logdetR
    cov = se2 * linalg.cho_solve(linalg.cho_factor(A), np.eye(P))
    sb2 = lam * se2 if m.max() > 1 else np.nan
    return {"beta": beta, "cov": cov, "sb2": sb2, "se2": se2, "loglik": -0.5 * val,
            "converged": converged, "n_cov": n_cov}


# ----------------------------------------------------------------------- unstructured
def _patterns(y, X, subject, vidx, n_subj, T):
    """Group participants by their set of measured visits; returns a list of
    (visit indices, Y (n_p, m), X (n_p, m, P))."""
    mask = np.zeros((n_subj, T), dtype=bool)
    mask[subject, vidx] = True
    Yp = np.zeros((n_subj, T))
    Yp[subject, vidx] = y
    Xp = np.zeros((n_subj, T, X.shape[1]))
    Xp[subject, vidx] = X
    keys = mask @ (1 << np.arange(T))
    out = []
    for key in np.unique(keys):
        rows = keys == key
        vis = np.flatnonzero(mask[np.flatnonzero(rows)[0]])
        out.append((vis, Yp[rows][:, vis], Xp[rows][:, vis, :]))
    return out


def _fit_un(y, X, subject, vidx, n_subj, T, method):
    N, P = X.shape
    reml = method == "REML"
    pats = _patterns(y, X, subject, vidx, n_subj, T)
    tril = np.tril_indices(T)

    def evaluate(Sigma, want_grad=True):
        A = np.zeros((P, P))
        b = np.zeros(P)
        logdet = 0.0
        cache = []
        for vis, Yp, Xp in pats:
            Sg = Sigma[np.ix_(vis, vis)]
            try:
                c = linalg.cho_factor(Sg)
            except linalg.LinAlgError:
                return None
            K = linalg.cho_solve(c, np.eye(vis.size))
            logdet += Yp.shape[0] * 2.0 * np.log(np.diag(c[0])).sum()
            KX = np.einsum("ab,nbp->nap", K, Xp)
            A += np.einsum("nap,naq->pq", Xp, KX)
            b += np.einsum("nap,na->p", KX, Yp)
            cache.append((vis, Yp, Xp, K, KX))
        try:
            cA = linalg.cho_factor(A)
        except linalg.LinAlgError:
            return None
        beta = linalg.cho_solve(cA, b)
        Ainv = linalg.cho_solve(cA, np.eye(P))
        quad = 0.0
        G = np.zeros((T, T))
        for vis, Yp, Xp, K, KX in cache:
            r = Yp - Xp @ beta
            Kr = r @ K
            quad += np.sum(r * Kr)
            if want_grad:
                g = Yp.shape[0] * K - Kr.T @ Kr
                if reml:
                    g -= np.einsum("nap,pq,nbq->ab", KX, Ainv, KX)
                G[np.ix_(vis, vis)] += g
        logdetA = 2.0 * np.log(np.diag(cA[0])).sum()
        m2ll = (N - P if reml else N) * _LOG2PI + logdet + quad + (logdetA if reml else 0.0)
        return m2ll, G, beta, Ainv

    # start: pairwise residual covariances of the OLS fit, made positive definite
    beta0 = np.linalg.lstsq(X, y, rcond=None)[0]
    res = np.zeros((n_subj, T))
    msk = np.zeros((n_subj, T))
    res[subject, vidx] = y - X @ beta0
    msk[subject, vidx] = 1.0
    cnt = msk.T @ msk
    S0 = (res.T @ res) / np.maximum(cnt, 1.0)
    w, v = np.linalg.eigh(S0)
    S0 = (v * np.maximum(w, 0.05 * w.max())) @ v.T
    scale = np.sqrt(np.diag(S0).mean())
    L0 = np.linalg.cholesky(S0 / scale**2)

    def fun(theta):
        L = np.zeros((T, T))
        L[tril] = theta
        Sigma = (L @ L.T) * scale**2
        out = evaluate(Sigma)
        if out is None:
            return 1e300, np.zeros_like(theta)
        m2ll, G, _, _ = out
        grad = 2.0 * (G @ L)[tril] * scale**2
        return m2ll, grad

    r = optimize.minimize(fun, L0[tril], jac=True, method="L-BFGS-B",
                          options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-8})
    L = np.zeros((T, T))
    L[tril] = r.x
    Sigma = (L @ L.T) * scale**2
    m2ll, _, beta, Ainv = evaluate(Sigma, want_grad=False)
    converged = bool(r.success) or (r.status == 2 and np.max(np.abs(r.jac)) < 1e-3)
    return {"beta": beta, "cov": Ainv, "Sigma": Sigma, "loglik": -0.5 * m2ll,
            "converged": converged}


# =========================================================================== result objects
