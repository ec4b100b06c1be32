r"""Multivariate random-effects meta-analysis (step 2 of the two-step IPD-MA).

Each study :math:`i = 1..k` reports estimates :math:`\hat\beta_i` of a :math:`p`-vector of
coefficients (some components possibly missing) with within-study covariance
:math:`S_i`. The model (Jackson, Riley & White 2011; the two-step paper's eq. (2)) is

.. math::

    \hat\beta_i \mid \beta_i \sim MVN(\beta_i, S_i), \qquad
    \beta_i \sim MVN(\mu, \Omega),
    \quad\text{so}\quad \hat\beta_i \sim MVN(\mu, \Omega + S_i).

With :math:`O_i` the components study :math:`i` reports, :math:`p_i = |O_i|`,
:math:`V_i = (\Omega + S_i)_{O_iO_i}` and :math:`W_i` the inverse of :math:`V_i`
placed in the :math:`O_i` rows and columns of a :math:`p \times p` zero matrix, the
log-likelihood and restricted log-likelihood are (the paper's formulas, extended to
missing components by using only what each study has; Jackson et al. 2011)

.. math::

    \ell(\mu, \Omega) = -\tfrac12 \sum_i \{\log|V_i| + (\hat\beta_i - \mu)^T W_i
        (\hat\beta_i - \mu) + p_i \log 2\pi\},

    \ell_R(\Omega) = \ell(\hat\mu(\Omega), \Omega)
        - \tfrac12 \log\Bigl|\sum_i W_i\Bigr| + \tfrac12 p \log 2\pi,

where :math:`\hat\mu(\Omega) = (\sum_i W_i)^{-1} \sum_i W_i \hat\beta_i` (generalised
least squares) and :math:`\mathrm{Cov}(\hat\mu) = (\sum_i W_i)^{-1}`. :math:`\ell_R` is
the restricted likelihood of the R package mvmeta (Gasparrini et al. 2012); metafor's
``rma.mv`` adds the constant :math:`\tfrac12 \log|X^TX| = \tfrac12 \sum_k \log k_k`
(:math:`k_k` = studies reporting component :math:`k`), which changes no estimate.

Between-study covariance structures:

``unstructured``
    :math:`\Omega = LL^T` (any positive semi-definite matrix, :math:`p(p+1)/2`
    parameters)
``compound_symmetry``
    :math:`\Omega = \tau^2\{(1-\rho) I + \rho J\}` (common variance and correlation,
    2 parameters; the paper's choice in Simulation 2)
``diagonal``
    :math:`\Omega = \mathrm{diag}(\tau_1^2, \dots, \tau_p^2)`
``identity``
    :math:`\Omega = \tau^2 I`

``method="FE"`` fixes :math:`\Omega = 0`. ML and REML maximise :math:`\ell` or
:math:`\ell_R` over the structure's parameters (L-BFGS-B with analytic gradients; the
unstructured :math:`\Omega` through an unconstrained Cholesky factor, so every iterate
is positive semi-definite). AIC and BIC count :math:`p` + the structure's parameters;
BIC uses :math:`\log(\sum_i p_i - p)` under REML and :math:`\log \sum_i p_i` under ML
(as metafor and mvmeta). The multivariate Cochran statistic is
:math:`Q = \sum_i (\hat\beta_i - \hat\mu_{FE})^T S_{i}^{-1} (\hat\beta_i - \hat\mu_{FE})`
over the reported components, with :math:`\sum_i p_i - p` degrees of freedom.

The numpy core is vectorised over a trailing replicate axis: ``estimates`` of shape
(k, p, R) and ``covariances`` (k, p, p, R) fit R meta-analyses in one call (the
likelihood is evaluated for all studies at once; the optimiser loops over replicates).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from bayes_hte.comparators.printout import mvmeta_text
from bayes_hte.comparators.results import WaldInterval, check_ci_prob, wald_interval
from bayes_hte.data.multivariate import multivariate_inputs, validate_multivariate
from bayes_hte.errors import ConvergenceWarning, DataError
from bayes_hte.options import (
    OMEGA_STRUCTURES,
    LikelihoodMethod,
    MVMethod,
    OmegaStructure,
    canonical_structure,
)

METHODS: tuple[str, ...] = get_args(MVMethod)
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


def _theta_start(omega0: np.ndarray, structure: str) -> tuple[np.ndarray, list]:
    """Starting parameters from a diagonal moment estimate, and L-BFGS-B bounds."""
    p = omega0.shape[0]
    d = np.diag(omega0)
    if structure == "unstructured":
        L = np.diag(np.sqrt(d))
        return L[np.tril_indices(p)], [(None, None)] * (p * (p + 1) // 2)
    if structure == "compound_symmetry":
        if p == 1:
            return np.array([d.mean()]), [(0.0, None)]
        return np.array([d.mean(), 0.0]), [(0.0, None), (-1.0 / (p - 1), 1.0)]
    if structure == "diagonal":
        return d.copy(), [(0.0, None)] * p
    return np.array([d.mean()]), [(0.0, None)]


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


def _fit_one(y: np.ndarray, S: np.ndarray, method: str, structure: str,
             maxiter: int) -> dict:
    k, p = y.shape
    o = np.isfinite(y)
    y0 = np.where(o, y, 0.0)
    S0 = np.where(o[:, :, None] & o[:, None, :], np.nan_to_num(S), 0.0)
    reml = method == "REML"
    n_obs = int(o.sum())
    if method == "FE":
        omega = np.zeros((p, p))
        g = _gls(y0, o, S0, omega)
        converged, n_iter = True, 0
    else:
        # scale: per component for structures that are scale-equivariant, common otherwise
        sd = np.sqrt(np.array([np.median(S0[o[:, j], j, j]) for j in range(p)]))
        if structure in ("compound_symmetry", "identity"):
            sd = np.full(p, np.exp(np.log(sd).mean()))
        ys = y0 / sd
        Ss = S0 / np.outer(sd, sd)[None]
        theta0, bounds = _theta_start(_moment_start(ys, o, Ss), structure)

        def fun(theta):
            om, derivs = _omega(theta, structure, p)
            gg = _gls(ys, o, Ss, om)
            if gg is None:
                return 1e300, np.zeros_like(theta)
            G = _grad_omega(gg, reml)
            grad = np.array([np.sum(G * d) for d in derivs])
            return -_loglik(gg, o, reml), -grad

        best, ok_fun = None, np.inf
        for start in (theta0, 0.1 * theta0 if structure != "unstructured" else theta0 * 0.3):
            res = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-9})
            if best is None or res.fun < best.fun - 1e-10:
                best = res
            if res.success:
                ok_fun = min(ok_fun, float(res.fun))
                break
        om_s, _ = _omega(best.x, structure, p)
        omega = om_s * np.outer(sd, sd)
        omega = 0.5 * (omega + omega.T)
        g = _gls(y0, o, S0, omega)
        # converged: the best point was reached by a run that met L-BFGS-B's criteria, or a
        # run that did stopped within 1e-6 of it (a line search that ends on a bound, e.g.
        # the compound-symmetry correlation at -1/(p-1), is flagged "abnormal" otherwise)
        converged = bool(best.success) or ok_fun <= best.fun + 1e-6
        n_iter = int(best.nit)
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


def mvmeta_core(estimates: npt.ArrayLike, covariances: npt.ArrayLike, *,
                method: MVMethod = "REML",
                structure: OmegaStructure = "unstructured", maxiter: int = 1000) -> dict:
    """Numpy core of :func:`mvmeta`: arrays with a trailing replicate axis.

    Parameters
    ----------
    estimates, covariances, method, structure, maxiter
        As in :func:`mvmeta` (arrays only).

    Returns
    -------
    dict
        ``mu`` (p, R), ``cov`` (p, p, R), ``omega`` (p, p, R), ``loglik`` (R,), ``q``
        (R,), ``q_df`` (R,), ``n_obs`` (R,), ``converged`` (R,), ``blup`` (k, p, R),
        ``observed`` (k, p, R) and ``squeeze`` (True when the input had no replicate
        axis).

    Raises
    ------
    ValueError
        An unknown method or structure.
    DataError
        Invalid inputs (see :func:`bayes_hte.data.multivariate.validate_multivariate`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    structure = canonical_structure(structure)
    squeeze = np.ndim(estimates) == 2
    y, S = validate_multivariate(estimates, covariances)
    k, p, R = y.shape
    if k < 2 and method != "FE":
        raise DataError(f"a between-study covariance ({method}) needs at least 2 studies, "
                        "got 1; use method='FE' for one study")
    fits = [_fit_one(y[..., r], S[..., r], method, structure, maxiter) for r in range(R)]
    out = {
        "mu": np.stack([f["mu"] for f in fits], axis=-1),
        "cov": np.stack([f["cov"] for f in fits], axis=-1),
        "omega": np.stack([f["omega"] for f in fits], axis=-1),
        "loglik": np.array([f["loglik"] for f in fits]),
        "q": np.array([f["q"] for f in fits]),
        "q_df": np.array([f["q_df"] for f in fits]),
        "n_obs": np.array([f["n_obs"] for f in fits]),
        "converged": np.array([f["converged"] for f in fits]),
        "blup": (np.stack([f["blup"] for f in fits], axis=-1) if method != "FE"
                 else np.repeat(np.stack([f["mu"] for f in fits], axis=-1)[None], k, axis=0)),
        "squeeze": squeeze,
        "observed": np.isfinite(y),
    }
    if not out["converged"].all():
        warnings.warn(f"mvmeta: the optimiser did not converge in "
                      f"{int((~out["converged"]).sum())} of {R} fits", ConvergenceWarning,
                      stacklevel=3)
    return out


# =========================================================================== result object
@dataclass(frozen=True, eq=False)
class MVMetaResult(WaldInterval):
    r"""Result of :func:`mvmeta`.

    Arrays have a trailing replicate axis when the input had one.

    Parameters
    ----------
    estimate : ndarray (p,)
        Pooled coefficients :math:`\hat\mu`; standard errors ``se``, Wald interval
        ``ci`` (shape (2, p); ``ci_low``, ``ci_high``) at ``ci_prob``.
    cov : ndarray (p, p)
        :math:`\mathrm{Cov}(\hat\mu) = (\sum_i W_i)^{-1}`.
    Omega : ndarray (p, p)
        Between-study covariance :math:`\hat\Omega`.
    loglik : float
        (Restricted, for REML) log-likelihood; ``aic``, ``bic`` are derived from it.
    q, q_df : float, int
        Multivariate Cochran Q and its degrees of freedom (p-value ``q_p``).
    n_obs : int
        Number of reported components :math:`\sum_i p_i`.
    converged : bool
        Whether the optimiser converged.
    method : {"REML", "ML", "FE"}
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
    names : tuple of str
        Coefficient names.
    study_labels : tuple
        Study labels.
    estimates : ndarray (k, p)
        The study estimates (NaN: not reported).
    covariances : ndarray (k, p, p)
        The within-study covariances.
    blups : ndarray (k, p)
        Shrunken trial coefficients (:meth:`blup`).
    ci_prob : float
        Probability of the confidence and prediction intervals.
    """

    estimate: np.ndarray
    cov: np.ndarray
    Omega: np.ndarray
    loglik: np.ndarray | float
    q: np.ndarray | float
    q_df: np.ndarray | int
    n_obs: np.ndarray | int
    converged: np.ndarray | bool
    method: str
    structure: str
    names: tuple[str, ...]
    study_labels: tuple
    estimates: np.ndarray = field(repr=False)
    covariances: np.ndarray = field(repr=False)
    blups: np.ndarray = field(repr=False)
    ci_prob: float = 0.95

    # ------------------------------------------------------------------ basic vocabulary
    @property
    def p(self) -> int:
        return len(self.names)

    @property
    def k(self) -> int:
        return len(self.study_labels)

    @property
    def se(self) -> np.ndarray:
        """Standard errors of the pooled coefficients."""
        return np.sqrt(np.diagonal(self.cov, axis1=0, axis2=1).T)

    @property
    def tau2(self) -> np.ndarray:
        """Between-study variances (diagonal of Omega)."""
        return np.diagonal(self.Omega, axis1=0, axis2=1).T

    @property
    def tau(self) -> np.ndarray:
        """Between-study SDs."""
        return np.sqrt(np.clip(self.tau2, 0.0, None))

    @property
    def corr(self) -> np.ndarray:
        """Between-study correlation matrix (NaN where an SD is 0)."""
        t = self.tau
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.Omega.ndim == 3:
                return self.Omega / (t[:, None] * t[None, :])
            return self.Omega / np.outer(t, t)

    @property
    def pi(self) -> np.ndarray:
        r"""Prediction interval for a new trial's coefficients (leading axis low, high),
        :math:`\hat\mu \pm z \sqrt{\mathrm{diag}(\mathrm{Cov}(\hat\mu) + \hat\Omega)}`."""
        s = np.sqrt(np.diagonal(self.cov + self.Omega, axis1=0, axis2=1).T)
        return wald_interval(self.estimate, s, self.ci_prob)

    @property
    def pi_low(self) -> np.ndarray:
        return self.pi[0]

    @property
    def pi_high(self) -> np.ndarray:
        return self.pi[1]

    @property
    def n_params(self) -> int:
        base = n_omega_params(self.structure, self.p) if self.method != "FE" else 0
        return self.p + base

    @property
    def aic(self):
        return -2.0 * np.asarray(self.loglik) + 2.0 * self.n_params

    @property
    def bic(self):
        n = np.asarray(self.n_obs) - (self.p if self.method == "REML" else 0)
        return -2.0 * np.asarray(self.loglik) + self.n_params * np.log(n)

    @property
    def q_p(self):
        """Chi-square p-value of the multivariate Q test."""
        return stats.chi2.sf(self.q, self.q_df)

    @property
    def i2(self):
        """Multivariate :math:`I^2 = 100 \\max(0, (Q - df)/Q)` in percent (Jackson, White &
        Riley 2012)."""
        q = np.asarray(self.q, dtype=float)
        return 100.0 * np.clip((q - self.q_df) / q, 0.0, None)

    # ------------------------------------------------------------------ tables
    def _one(self, replicate: int | None):
        if np.ndim(self.loglik) == 0:
            return self
        if replicate is None:
            raise ValueError("this result holds several replicates; pass replicate=<index>")
        sl = (..., replicate)
        return MVMetaResult(
            estimate=self.estimate[sl], cov=self.cov[sl], Omega=self.Omega[sl],
            loglik=float(self.loglik[replicate]), q=float(self.q[replicate]),
            q_df=int(self.q_df[replicate]), n_obs=int(self.n_obs[replicate]),
            converged=bool(self.converged[replicate]), method=self.method,
            structure=self.structure, names=self.names, study_labels=self.study_labels,
            estimates=self.estimates[sl], covariances=self.covariances[sl],
            blups=self.blups[sl], ci_prob=self.ci_prob)

    def summary(self, *, replicate: int | None = None) -> pd.DataFrame:
        """One row per coefficient: estimate, se, z, p, CI, between-study SD, PI.

        Parameters
        ----------
        replicate : int, optional
            Which replicate, when the result holds several (required then).

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: ``estimate, se, z, p, ci_low, ci_high, tau, pi_low,
            pi_high, n_studies``.
        """
        r = self._one(replicate)
        lo, hi = r.ci
        plo, phi = r.pi
        z = r.estimate / r.se
        return pd.DataFrame({
            "estimate": r.estimate, "se": r.se, "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": lo, "ci_high": hi,
            "tau": r.tau, "pi_low": plo, "pi_high": phi,
            "n_studies": np.isfinite(r.estimates).sum(axis=0),
        }, index=pd.Index(list(r.names), name="coef"))

    def omega_table(self, *, replicate: int | None = None) -> pd.DataFrame:
        """Between-study SDs (diagonal) and correlations (off-diagonal) as a table.

        Parameters
        ----------
        replicate : int, optional
            Which replicate's :math:`\\hat\\Omega`, as in :meth:`summary`.

        Returns
        -------
        pandas.DataFrame
            Coefficients x coefficients.
        """
        r = self._one(replicate)
        tab = r.corr.copy()
        np.fill_diagonal(tab, r.tau)
        names = list(r.names)
        return pd.DataFrame(tab, index=names, columns=names)

    def fit_table(self, *, replicate: int | None = None) -> pd.Series:
        """Method, structure, log-likelihood, AIC, BIC, Q test and parameter count.

        Parameters
        ----------
        replicate : int, optional
            Which replicate's fit, as in :meth:`summary`.

        Returns
        -------
        pandas.Series
            ``method, structure, loglik, n_params, aic, bic, q, q_df, q_p, i2, converged``.
        """
        r = self._one(replicate)
        return pd.Series({"method": r.method, "structure": r.structure if r.method != "FE"
                          else "fixed_effect", "loglik": r.loglik, "n_params": r.n_params,
                          "aic": float(r.aic), "bic": float(r.bic), "q": r.q, "q_df": r.q_df,
                          "q_p": float(r.q_p), "i2": float(r.i2),
                          "converged": r.converged})

    def blup(self, *, replicate: int | None = None) -> pd.DataFrame:
        r"""Shrunken trial coefficients
        :math:`\tilde\beta_i = \hat\mu + \hat\Omega W_i(\hat\beta_i - \hat\mu)` (components
        a study did not report are predicted through the between-study correlations).

        Parameters
        ----------
        replicate : int, optional
            Which replicate's shrunken coefficients, as in :meth:`summary`.

        Returns
        -------
        pandas.DataFrame
            Studies x coefficients.
        """
        r = self._one(replicate)
        return pd.DataFrame(r.blups, index=pd.Index(list(r.study_labels), name="study"),
                            columns=list(r.names))

    def __str__(self) -> str:
        """metafor-style printout (:func:`bayes_hte.comparators.printout.mvmeta_text`)."""
        return mvmeta_text(self)

    __repr__ = __str__


def mvmeta(
    estimates: npt.ArrayLike | pd.DataFrame,
    covariances: npt.ArrayLike,
    *,
    method: MVMethod = "REML",
    structure: OmegaStructure = "unstructured",
    names: Sequence[str] | None = None,
    study_labels: Sequence | None = None,
    ci_prob: float = 0.95,
    maxiter: int = 1000,
) -> MVMetaResult:
    r"""Multivariate random-effects meta-analysis, :math:`\hat\beta_i \sim MVN(\mu, \Omega + S_i)`.

    Parameters
    ----------
    estimates : array-like (k, p) or (k, p, R), or DataFrame (k, p)
        Study estimates; NaN marks a component a study does not report (it then
        contributes its other components, Remark C of the two-step paper).
    covariances : array-like (k, p, p) or (k, p, p, R), Mapping or xarray.DataArray
        Within-study covariance matrices :math:`S_i`; entries of unreported
        components are ignored (may be NaN). An array is read by position (the rows of
        ``estimates``); a mapping ``{study label: (p, p) array or DataFrame}`` or a
        DataArray with the study labels on its first dimension (e.g.
        ``step1.covariance_array()``) is matched to the estimates by label
        (:func:`bayes_hte.data.multivariate.multivariate_inputs`).
    method : {"REML", "ML", "FE"}
        Restricted or full maximum likelihood, or fixed effect (:math:`\Omega = 0`).
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of :math:`\Omega` (ignored for FE; metafor's ``"UN"``, ``"CS"``,
        ``"DIAG"``, ``"ID"`` are read as these).
    names, study_labels : sequence, optional
        Coefficient and study labels (default: the DataFrame's, which they must equal
        when given, else 0..p-1 / 0..k-1).
    ci_prob : float
        Probability of the confidence and prediction intervals, in (0, 1).
    maxiter : int
        Iteration limit of the optimiser.

    Returns
    -------
    MVMetaResult
        ``.estimate``, ``.se``, ``.cov``, ``.ci``, ``.pi``, ``.Omega``, ``.tau``,
        ``.corr``, ``.loglik``, ``.aic``, ``.bic``, ``.q``, ``.i2`` (percent),
        ``.summary()``, ``.omega_table()``, ``.fit_table()``, ``.blup()``.

    Raises
    ------
    DataError
        Shapes that do not match, a study reporting nothing, a coefficient no study
        reports, non-finite, asymmetric or non-positive-definite covariances, text
        among the numbers, repeated study labels, labels that contradict the
        DataFrame's or the labelled covariances', or one study with ``"REML"`` or
        ``"ML"`` (:math:`\Omega` needs two).
    ValueError
        An unknown method or structure, or ``ci_prob`` outside (0, 1).

    Examples
    --------
    Berkey et al. (1998) periodontal trials (metafor's ``dat.berkey1998``)::

        >>> import numpy as np
        >>> y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, -0.12], [0.26, -0.31],
        ...               [0.56, -0.39]])
        >>> S = np.array([[[0.0075, 0.0030], [0.0030, 0.0077]],
        ...               [[0.0057, 0.0009], [0.0009, 0.0008]],
        ...               [[0.0021, 0.0007], [0.0007, 0.0014]],
        ...               [[0.0029, 0.0009], [0.0009, 0.0015]],
        ...               [[0.0148, 0.0072], [0.0072, 0.0304]]])
        >>> res = mvmeta(y, S, method="REML", structure="unstructured", names=["PD", "AL"])
        >>> np.round(res.estimate, 4)
        array([ 0.3534, -0.3392])
    """
    check_ci_prob(ci_prob, error=ValueError)
    structure = canonical_structure(structure)
    estimates, covariances, names, study_labels = multivariate_inputs(
        estimates, covariances, names=names, study_labels=study_labels)
    validate_multivariate(estimates, covariances, study_labels=study_labels,
                          names=names)  # names the studies and coefficients at fault
    core = mvmeta_core(estimates, covariances, method=method, structure=structure,
                       maxiter=maxiter)
    y = np.array(estimates, dtype=float)
    S = np.array(covariances, dtype=float)
    if y.ndim == 2:
        y, S = y[..., None], S[..., None]
    k, p = y.shape[:2]
    names = tuple(str(n) for n in (names if names is not None else range(p)))
    study_labels = tuple(study_labels if study_labels is not None else range(k))
    if len(names) != p:
        raise DataError(f"names has {len(names)} entries for {p} coefficients")
    if len(study_labels) != k:
        raise DataError(f"study_labels has {len(study_labels)} entries for {k} studies")

    def sq(a):
        return a[..., 0] if core["squeeze"] else a

    def sq0(a):
        return a[0].item() if core["squeeze"] else a

    return MVMetaResult(
        estimate=sq(core["mu"]), cov=sq(core["cov"]), Omega=sq(core["omega"]),
        loglik=sq0(core["loglik"]), q=sq0(core["q"]), q_df=sq0(core["q_df"]),
        n_obs=sq0(core["n_obs"]), converged=sq0(core["converged"]), method=method,
        structure=structure, names=names, study_labels=study_labels,
        estimates=sq(y), covariances=sq(S), blups=sq(core["blup"]), ci_prob=ci_prob,
    )


def compare_structures(
    estimates: npt.ArrayLike | pd.DataFrame,
    covariances: npt.ArrayLike,
    *,
    method: LikelihoodMethod = "REML",
    structures: Sequence[str] = OMEGA_STRUCTURES,
    include_fixed: bool = True,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    r"""Fit several Omega structures and tabulate log-likelihood, AIC and BIC.

    The paper's application chooses :math:`\Omega` by BIC among structures and the
    fixed-effect model. For a like-for-like comparison the fixed-effect row
    (``include_fixed``) is the same (restricted, for REML) likelihood evaluated at
    :math:`\Omega = 0`, with :math:`p` parameters.

    Parameters
    ----------
    estimates, covariances : array_like
        As in :func:`mvmeta` (no replicate axis).
    method : {"REML", "ML"}
        Likelihood compared across structures.
    structures : sequence of str
        Structures of :math:`\Omega` to fit (default: all four).
    include_fixed : bool
        Add the fixed-effect row (:math:`\Omega = 0`).
    names : sequence of str, optional
        Coefficient labels.

    Returns
    -------
    pandas.DataFrame
        One row per model (:meth:`MVMetaResult.fit_table`): ``method, structure, loglik,
        n_params, aic, bic, q, q_df, q_p, i2, converged``.

    Raises
    ------
    ValueError
        ``method`` not REML or ML.
    DataError
        Invalid inputs (see :func:`mvmeta`).
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    estimates, covariances, names, _ = multivariate_inputs(estimates, covariances,
                                                           names=names)
    rows = []
    for s in structures:
        rows.append(mvmeta(estimates, covariances, method=method, structure=s,
                           names=names).fit_table())
    if include_fixed:
        fe = mvmeta(estimates, covariances, method="FE", names=names)
        p = fe.p
        ll = mvmeta_loglik(estimates, covariances, np.zeros((p, p)), method=method)
        n = fe.n_obs - (p if method == "REML" else 0)
        row = fe.fit_table()
        row["method"] = method
        row["loglik"] = ll
        row["aic"] = -2 * ll + 2 * p
        row["bic"] = -2 * ll + p * np.log(n)
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)
