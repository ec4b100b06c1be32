r"""The likelihood of the multivariate random-effects meta-analysis and its maximisation
(the model and formulas: :mod:`bayes_hte.comparators.multivariate`).

* :func:`mvmeta_loglik`: the (restricted) log-likelihood at a given :math:`\Omega`, the
  mean profiled at its GLS estimate;
* :func:`n_omega_params`: the free parameters of each between-study covariance structure;
* ``_fit_one``: ML / REML over a structure's :math:`\Omega` by L-BFGS-B with analytic
  gradients from several starts, among them the optima of the nested structures.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import optimize

from bayes_hte.errors import DataError
from bayes_hte.options import LikelihoodMethod

_LOG2PI = np.log(2.0 * np.pi)


# =========================================================================== structures
def n_omega_params(structure: str, p: int) -> int:
    """Number of free parameters of the between-study covariance.

    Parameters
    ----------
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
    p : int
        Number of coefficients.

    Returns
    -------
    int
    """
    return {"unstructured": p * (p + 1) // 2,
            "compound_symmetry": 2 if p > 1 else 1,
            "diagonal": p, "identity": 1}[structure]


def _omega(theta: np.ndarray, structure: str, p: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Omega(theta) and its derivatives dOmega/dtheta_m (list of p x p)."""
    if structure == "unstructured":
        L = np.zeros((p, p))
        rows, cols = np.tril_indices(p)
        L[rows, cols] = theta
        om = L @ L.T
        derivs = []
        for r, c in zip(rows, cols, strict=True):
            E = np.zeros((p, p))
            E[r, c] = 1.0
            d = E @ L.T
            derivs.append(d + d.T)
        return om, derivs
    if structure == "compound_symmetry":
        v = theta[0]
        if p == 1:
            return np.array([[v]]), [np.ones((1, 1))]
        rho = theta[1]
        C = (1.0 - rho) * np.eye(p) + rho * np.ones((p, p))
        return v * C, [C, v * (np.ones((p, p)) - np.eye(p))]
    if structure == "diagonal":
        derivs = []
        for k in range(p):
            E = np.zeros((p, p))
            E[k, k] = 1.0
            derivs.append(E)
        return np.diag(theta), derivs
    if structure == "identity":
        return theta[0] * np.eye(p), [np.eye(p)]
    raise ValueError(structure)


def _bounds(structure: str, p: int) -> list:
    """L-BFGS-B bounds of the structure's parameters."""
    if structure == "unstructured":
        return [(None, None)] * (p * (p + 1) // 2)
    if structure == "compound_symmetry" and p > 1:
        return [(0.0, None), (-1.0 / (p - 1), 1.0)]
    return [(0.0, None)] * (p if structure == "diagonal" else 1)


def _theta_from_omega(omega: np.ndarray, structure: str) -> np.ndarray:
    """The structure's parameters of a p x p covariance (its projection for a covariance
    of another structure): a start of the optimiser."""
    p = omega.shape[0]
    d = np.diag(omega)
    if structure == "unstructured":
        # a tiny ridge: the Cholesky factor of a singular start (a correlation of +-1)
        ridge = 1e-8 * max(float(d.mean()), 1e-12)
        return np.linalg.cholesky(omega + ridge * np.eye(p))[np.tril_indices(p)]
    if structure == "diagonal":
        return d.copy()
    v = float(d.mean())
    if structure == "identity" or p == 1:
        return np.array([v])
    off = (omega.sum() - d.sum()) / (p * (p - 1))
    rho = np.clip(off / v if v > 0 else 0.0, -1.0 / (p - 1), 1.0)
    return np.array([v, rho])


def _equicorrelated(d: np.ndarray, rho: float) -> np.ndarray:
    """Covariance with variances ``d`` and every correlation ``rho``."""
    s = np.sqrt(d)
    C = (1.0 - rho) * np.eye(len(d)) + rho
    return C * np.outer(s, s)


# =========================================================================== likelihood
def _gls(y0: np.ndarray, o: np.ndarray, S0: np.ndarray, omega: np.ndarray):
    """Inverse marginal covariances (zero-padded), GLS mean and the pieces of the
    likelihood for one replicate. Returns None if a V_i is not positive definite."""
    k, p = y0.shape
    mask = o[:, :, None] & o[:, None, :]
    V = np.where(mask, omega[None] + S0, 0.0) + np.eye(p)[None] * (~o)[:, :, None]
    try:
        chol = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    Vinv = np.linalg.inv(V)
    W = np.where(mask, Vinv, 0.0)
    A = W.sum(axis=0)
    try:
        cA = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None
    Ainv = np.linalg.inv(A)
    mu = Ainv @ np.einsum("kij,kj->i", W, y0)
    r = np.where(o, y0 - mu, 0.0)
    Wr = np.einsum("kij,kj->ki", W, r)
    quad = (r * Wr).sum(axis=1)
    logdetA = 2.0 * np.log(np.diag(cA)).sum()
    return {"W": W, "A": A, "Ainv": Ainv, "mu": mu, "r": r, "Wr": Wr, "quad": quad,
            "logdet": logdet, "logdetA": logdetA}


def _loglik(g: dict, o: np.ndarray, reml: bool) -> float:
    n_i = o.sum(axis=1)
    ll = -0.5 * float((g["logdet"] + g["quad"] + n_i * _LOG2PI).sum())
    if reml:
        p = o.shape[1]
        ll += -0.5 * g["logdetA"] + 0.5 * p * _LOG2PI
    return ll


def _grad_omega(g: dict, reml: bool) -> np.ndarray:
    """d loglik / d Omega (symmetric matrix form: dl = tr(G dOmega))."""
    W, Wr = g["W"], g["Wr"]
    G = 0.5 * (np.einsum("ki,kj->ij", Wr, Wr) - W.sum(axis=0))
    if reml:
        G += 0.5 * np.einsum("kia,ab,kbj->ij", W, g["Ainv"], W)
    return G


def mvmeta_loglik(estimates: npt.ArrayLike, covariances: npt.ArrayLike, omega: npt.ArrayLike,
                  *, method: LikelihoodMethod = "REML") -> float:
    """(Restricted) log-likelihood of a multivariate meta-analysis at a given Omega
    (the mean profiled at its GLS estimate), for one replicate.

    Parameters
    ----------
    estimates : array_like, shape (k, p)
        Study estimates; NaN marks a missing component.
    covariances : array_like, shape (k, p, p)
        Within-study covariances.
    omega : array_like, shape (p, p)
        Between-study covariance.
    method : {"REML", "ML"}

    Returns
    -------
    float
        The log-likelihood (module docstring); ``-inf`` where a marginal covariance is
        not positive definite.
    """
    y = np.asarray(estimates, dtype=float)
    o = np.isfinite(y)
    S0 = np.where(o[:, :, None] & o[:, None, :], np.nan_to_num(np.asarray(covariances,
                                                                          dtype=float)), 0.0)
    g = _gls(np.where(o, y, 0.0), o, S0, np.asarray(omega, dtype=float))
    if g is None:
        return -np.inf
    return _loglik(g, o, method == "REML")


# =========================================================================== fitting core
def _moment_start(y0: np.ndarray, o: np.ndarray, S0: np.ndarray) -> np.ndarray:
    """A diagonal start: per component, between-study variance minus mean within variance,
    floored at a tenth of the mean within variance (so every start is interior)."""
    p = y0.shape[1]
    d = np.empty(p)
    for j in range(p):
        yy = y0[o[:, j], j]
        s = S0[o[:, j], j, j]
        between = yy.var(ddof=1) if yy.size > 1 else 0.0
        d[j] = max(between - s.mean(), 0.1 * s.mean(), 1e-12)
    return np.diag(d)


#: Nested structures whose optimum starts the optimiser of a structure, so its maximum
#: is at least theirs (identity within diagonal and compound symmetry, both within
#: unstructured).
_NESTED = {"identity": (), "diagonal": ("identity",), "compound_symmetry": ("identity",),
           "unstructured": ("diagonal", "compound_symmetry")}


def _fit_omega(structure: str, y0: np.ndarray, o: np.ndarray, S0: np.ndarray, reml: bool,
               maxiter: int, done: dict) -> tuple[np.ndarray, bool, int]:
    """Maximise the (restricted) likelihood over one structure's Omega, from several
    starts; ``done`` caches each structure's result, ``(omega, converged, n_iter)``.

    One local search can stop short of the maximum: at a variance of zero the gradient
    in a correlation vanishes, and optima at a correlation of +-1 lie on the boundary of
    the Cholesky parameterisation. The starts are the moment estimate (diagonal), a
    tenth of it, the optima of the nested structures (:data:`_NESTED`, so the maximum is
    at least theirs) and, with more than one component, the moment variances with every
    correlation at 0.9 and at -0.9/(p-1); the best end point is kept.
    """
    if structure in done:
        return done[structure]
    p = y0.shape[1]
    # scale: per component for structures that are scale-equivariant, common otherwise
    sd = np.sqrt(np.array([np.median(S0[o[:, j], j, j]) for j in range(p)]))
    if structure in ("compound_symmetry", "identity"):
        sd = np.full(p, np.exp(np.log(sd).mean()))
    scale = np.outer(sd, sd)
    ys, Ss = y0 / sd, S0 / scale[None]
    m = _moment_start(ys, o, Ss)
    d = np.diag(m)
    omegas = [m, 0.1 * m]
    omegas += [_fit_omega(s, y0, o, S0, reml, maxiter, done)[0] / scale
               for s in _NESTED[structure]]
    if p > 1 and structure in ("compound_symmetry", "unstructured"):
        omegas += [_equicorrelated(d, 0.9), _equicorrelated(d, -0.9 / (p - 1))]
    bounds = _bounds(structure, p)

    def fun(theta):
        om, derivs = _omega(theta, structure, p)
        gg = _gls(ys, o, Ss, om)
        if gg is None:
            return 1e300, np.zeros_like(theta)
        G = _grad_omega(gg, reml)
        grad = np.array([np.sum(G * dd) for dd in derivs])
        return -_loglik(gg, o, reml), -grad

    runs = [optimize.minimize(fun, _theta_from_omega(om, structure), jac=True,
                              method="L-BFGS-B", bounds=bounds,
                              options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-9})
            for om in omegas]
    best = min(runs, key=lambda r: r.fun)
    # converged: the best point was reached by a run that met L-BFGS-B's criteria, or a
    # run that did stopped within 1e-6 of it (a line search that ends on a bound, e.g.
    # the compound-symmetry correlation at -1/(p-1), is flagged "abnormal" otherwise)
    converged = any(r.success and r.fun <= best.fun + 1e-6 for r in runs)
    om_s, _ = _omega(best.x, structure, p)
    omega = om_s * scale
    done[structure] = (0.5 * (omega + omega.T), converged, int(best.nit))
    return done[structure]


def _fit_one(y: np.ndarray, S: np.ndarray, method: str, structure: str,
             maxiter: int) -> dict:
    """One meta-analysis (k, p): the estimates of :func:`mvmeta_core` as a dict."""
    k, p = y.shape
    o = np.isfinite(y)
    y0 = np.where(o, y, 0.0)
    S0 = np.where(o[:, :, None] & o[:, None, :], np.nan_to_num(S), 0.0)
    reml = method == "REML"
    n_obs = int(o.sum())
    if method == "FE":
        omega = np.zeros((p, p))
        converged, n_iter = True, 0
    else:
        omega, converged, n_iter = _fit_omega(structure, y0, o, S0, reml, maxiter, {})
    g = _gls(y0, o, S0, omega)
    if g is None:
        raise DataError("the marginal covariances Omega + S_i are not positive definite at the "
                        "estimate; check the within-study covariances")
    ll = _loglik(g, o, reml)
    # Cochran's multivariate Q at the fixed-effect estimate
    gfe = g if method == "FE" else _gls(y0, o, S0, np.zeros((p, p)))
    q = float(gfe["quad"].sum())
    return {"mu": g["mu"], "cov": g["Ainv"], "omega": omega, "loglik": ll,
            "converged": converged, "n_iter": n_iter, "q": q, "q_df": n_obs - p,
            "n_obs": n_obs, "blup": _blup(g, omega, o) if method != "FE" else None}


def _blup(g: dict, omega: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Best linear unbiased predictions of the trial coefficients beta_i (all components,
    missing ones predicted through the between-study correlation)."""
    return g["mu"][None] + np.einsum("ij,kj->ki", omega, g["Wr"])
