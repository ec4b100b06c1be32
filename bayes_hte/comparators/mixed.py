r"""Step 1 of the two-step IPD meta-analysis: a linear mixed model per trial, by REML.

For participant :math:`j` of one trial with measured visits :math:`O_j` (a subset of the
trial's visits), the outcome vector :math:`Y_j` has the marginal model (the paper's
eq. (1))

.. math::

    Y_j \sim MVN(X_j \beta, V_j),

with :math:`X_j` the rows of the fixed-effects design of model (3) (intercept,
treatment, visit indicators, covariates, treatment x visit, visit x covariate and
treatment x covariate; :meth:`LongitudinalData.design_matrix`) and one of two
within-participant covariances:

``random_intercept``
    :math:`V_j = \sigma_b^2 J + \sigma_e^2 I` (participant random intercept
    :math:`b_j \sim N(0, \sigma_b^2)`, independent errors; compound symmetry).
``unstructured``
    :math:`V_j = \Sigma_{O_jO_j}` with :math:`\Sigma` an unstructured
    :math:`T \times T` covariance over the trial's visits (MMRM; Mallinckrodt et al.).

REML maximises

.. math::

    \ell_R = -\tfrac12\Bigl\{(N - P)\log 2\pi + \sum_j \log|V_j|
       + \log\Bigl|\sum_j X_j^T V_j^{-1} X_j\Bigr|
       + \sum_j (Y_j - X_j\hat\beta)^T V_j^{-1} (Y_j - X_j\hat\beta)\Bigr\}

(lme4's REML criterion is :math:`-2\ell_R`), with :math:`\hat\beta` the generalised
least-squares estimate; ML drops the :math:`\log|\cdot|` term and uses :math:`N \log 2\pi`.
The random-intercept model is profiled to a one-dimensional search over
:math:`\lambda = \sigma_b^2/\sigma_e^2` using closed forms per participant; the
unstructured model optimises the Cholesky factor of :math:`\Sigma` with analytic
gradients, grouping participants by their pattern of measured visits. The reported
covariance of :math:`\hat\beta` is the model-based
:math:`(\sum_j X_j^T \hat V_j^{-1} X_j)^{-1}` (as lme4, nlme and SAS PROC MIXED).
Missing visits are ignorable under MAR: each participant contributes the visits
measured.

**Coefficients a trial cannot estimate** (the paper's Remark C: a visit the trial never
measured makes its indicator and interaction columns zero) are dropped from that
trial's fit and returned as NaN, with NaN rows and columns in the covariance, so that
step 2 (:func:`bayes_hte.comparators.mvmeta`) treats them as missing components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from bayes_hte.comparators.multivariate import MVMetaResult, mvmeta
from bayes_hte.comparators.printout import mixed_model_text, per_trial_text, two_step_text
from bayes_hte.comparators.results import WaldInterval
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.errors import DataError
from bayes_hte.options import LMMMethod, MVMethod, OmegaStructure, WithinCovariance

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
@dataclass(frozen=True, eq=False)
class MixedModelResult(WaldInterval, _LMMStatistics):
    r"""One linear mixed model (one trial, or all trials pooled with common effects).

    Parameters
    ----------
    estimate : ndarray (P,)
        Fixed effects; NaN for coefficients the data cannot estimate (visits never
        measured). Their standard errors are ``se``.
    cov : ndarray (P, P)
        :math:`\mathrm{Cov}(\hat\beta)`, NaN rows/columns for inestimable coefficients.
    names : tuple of str
        Coefficient names (the design over all trials' visits).
    within_cov : pandas.DataFrame
        Estimated within-participant covariance over the visits (NaN for visits not
        measured).
    sd_intercept, sd_error, loglik, n_obs, n_subjects, n_cov_params, converged
        As in :class:`LMMFit`, the raw fit this result is made from.
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance.
    method : {"REML", "ML"}
    study : object
        The trial fitted (``None`` for all trials pooled).
    reference_visit : object
        Reference level of the visit factor.
    ci_prob : float
        Probability of the Wald interval ``ci`` (shape (2, P); ``ci_low``, ``ci_high``).
    """

    estimate: np.ndarray
    cov: np.ndarray
    names: tuple[str, ...]
    within_cov: pd.DataFrame
    covariance: str
    method: str
    study: object
    reference_visit: object
    ci_prob: float = 0.95

    def __str__(self) -> str:
        return mixed_model_text(self)

    __repr__ = __str__

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def estimable(self) -> np.ndarray:
        return np.isfinite(self.estimate)


    @property
    def n_params(self) -> int:
        return int(self.estimable.sum()) + self.n_cov_params

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        n = self.n_subjects
        return -2.0 * self.loglik + self.n_params * np.log(n)

    def summary(self) -> pd.DataFrame:
        """One row per coefficient: estimate, se, z, p, CI (NaN rows: not estimable).

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: ``estimate, se, z, p, ci_low, ci_high``.
        """
        lo, hi = self.ci
        z = self.estimate / self.se
        return pd.DataFrame({"estimate": self.estimate, "se": self.se, "z": z,
                             "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": lo, "ci_high": hi},
                            index=pd.Index(list(self.names), name="coef"))


def mixed_model(
    data: LongitudinalData,
    *,
    study: object | None = None,
    covariance: WithinCovariance = "random_intercept",
    method: LMMMethod = "REML",
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
    ci_prob: float = 0.95,
) -> MixedModelResult:
    r"""Fit the linear mixed model of model (3) to one trial (or to all trials pooled).

    Parameters
    ----------
    data : LongitudinalData
    study : optional
        Label of the trial to fit. ``None`` fits all rows of ``data`` as one data set
        with common coefficients and common variance parameters (the one-step
        fixed-effect IPD-MA of Simulation 1; a single-trial ``data`` is just that trial).
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance: participant random intercept (compound
        symmetry) or unstructured over the visits (MMRM).
    method : {"REML", "ML"}
    reference_visit : optional
        Reference level of the visit factor (default: the first visit all trials share).
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of model (3) to include.
    ci_prob : float

    Returns
    -------
    MixedModelResult
        Coefficients are indexed by the names of the design over *all* trials' visits;
        those this trial cannot estimate are NaN (Remark C).

    Raises
    ------
    DataError
        Unknown study, too few measurements, or a rank-deficient design (other than
        columns of visits never measured, which come back as NaN).
    """
    design = data.design_matrix(reference_visit=reference_visit,
                                treatment_by_visit=treatment_by_visit,
                                covariate_by_visit=covariate_by_visit,
                                treatment_by_covariate=treatment_by_covariate)
    return _fit_design(data, design, study=study, covariance=covariance, method=method,
                       ci_prob=ci_prob)


def _fit_design(data: LongitudinalData, design, *, study, covariance, method,
                ci_prob) -> MixedModelResult:
    if study is None:
        rows = np.ones(data.n_obs, dtype=bool)
        where = "the pooled data" if data.n_studies > 1 else (
            f"study {data.study_labels[0]!r}")
    else:
        if study not in data.study_labels:
            raise DataError(f"study {study!r} is not in the data (study column "
                            f"{data.study!r}); known: {list(data.study_labels)}")
        rows = data.study_idx == data.study_labels.index(study)
        where = f"study {study!r}"
    fit = lmm_fit(data.y[rows], design.X[rows], data.subject_idx[rows], data.visit_idx[rows],
                  n_visits=data.n_visits, covariance=covariance, method=method,
                  names=design.names, where=where)
    visits = [str(v) for v in data.visit_labels]
    return MixedModelResult(
        estimate=fit.beta, cov=fit.cov, names=design.names,
        within_cov=pd.DataFrame(fit.sigma, index=visits, columns=visits),
        sd_intercept=fit.sd_intercept, sd_error=fit.sd_error, loglik=fit.loglik,
        n_obs=fit.n_obs, n_subjects=fit.n_subjects, n_cov_params=fit.n_cov_params,
        converged=fit.converged, covariance=covariance, method=method,
        study=study if study is not None else (
            data.study_labels[0] if data.n_studies == 1 else None),
        reference_visit=design.reference_visit, ci_prob=ci_prob,
    )


@dataclass(frozen=True, eq=False)
class PerTrialMixedModels:
    """Step 1 for every trial: coefficient vectors and their covariances.

    Parameters
    ----------
    estimates : ndarray (k, P)
        Per-trial coefficients, NaN where a trial cannot estimate one (Remark C).
    covariances : ndarray (k, P, P)
        Per-trial :math:`\\mathrm{Cov}(\\hat\\beta_i)`, NaN rows/columns likewise.
    names : tuple of str
        Coefficient names.
    study_labels : tuple
        Trial labels, in the order of the first axis.
    fits : dict
        Study label -> :class:`MixedModelResult`.
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance of the step-1 fits.
    method : {"REML", "ML"}
        Likelihood of the step-1 fits.
    """

    estimates: np.ndarray
    covariances: np.ndarray
    names: tuple[str, ...]
    study_labels: tuple
    fits: dict = field(repr=False)
    covariance: str = "random_intercept"
    method: str = "REML"

    def __str__(self) -> str:
        return per_trial_text(self)

    __repr__ = __str__

    def estimates_frame(self) -> pd.DataFrame:
        """Trials x coefficients table of the estimates (NaN: not estimable).

        Returns
        -------
        pandas.DataFrame
            Indexed by study, one column per coefficient.
        """
        return pd.DataFrame(self.estimates, index=pd.Index(list(self.study_labels),
                                                           name="study"),
                            columns=list(self.names))

    def summary(self) -> pd.DataFrame:
        """Long table of the step-1 coefficients.

        Returns
        -------
        pandas.DataFrame
            ``study, coef, estimate, se, z, p, ci_low, ci_high``.
        """
        frames = []
        for lab, res in self.fits.items():
            s = res.summary().reset_index()
            s.insert(0, "study", lab)
            frames.append(s)
        return pd.concat(frames, ignore_index=True)

    def variance_summary(self) -> pd.DataFrame:
        """Per trial: participants, measurements, SDs, log-likelihood, convergence.

        Returns
        -------
        pandas.DataFrame
            Indexed by study: ``n_subjects, n_obs, sd_intercept, sd_error, loglik,
            converged``.
        """
        return pd.DataFrame([{"study": lab, "n_subjects": r.n_subjects, "n_obs": r.n_obs,
                              "sd_intercept": r.sd_intercept, "sd_error": r.sd_error,
                              "loglik": r.loglik, "converged": r.converged}
                             for lab, r in self.fits.items()]).set_index("study")

    def mvmeta(self, *, method: MVMethod = "REML",
               structure: OmegaStructure = "compound_symmetry",
               coefs: Sequence[str] | None = None, ci_prob: float = 0.95) -> MVMetaResult:
        """Step 2: multivariate meta-analysis of the trial coefficient vectors
        (:func:`bayes_hte.comparators.mvmeta`), optionally of a subset ``coefs``.

        Parameters
        ----------
        method : {"REML", "ML", "FE"}
            Likelihood of step 2, or fixed effect.
        structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
            Structure of the between-trial covariance :math:`\\Omega`.
        coefs : sequence of str, optional
            Coefficients to pool (default: all).
        ci_prob : float
            Probability of the confidence and prediction intervals.

        Returns
        -------
        MVMetaResult

        Raises
        ------
        DataError
            Unknown coefficients, or invalid inputs (see :func:`mvmeta`).
        """
        idx = self._coef_index(coefs)
        return mvmeta(self.estimates[:, idx], self.covariances[np.ix_(range(len(
            self.study_labels)), idx, idx)], method=method, structure=structure,
            names=[self.names[i] for i in idx], study_labels=self.study_labels,
            ci_prob=ci_prob)

    def _coef_index(self, coefs) -> list[int]:
        if coefs is None:
            return list(range(len(self.names)))
        unknown = [c for c in coefs if c not in self.names]
        if unknown:
            raise DataError(f"coefficients {unknown} are not in the model; available: "
                            f"{list(self.names)}")
        return [self.names.index(c) for c in coefs]


def per_trial_mixed_models(
    data: LongitudinalData,
    *,
    covariance: WithinCovariance = "random_intercept",
    method: LMMMethod = "REML",
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
) -> PerTrialMixedModels:
    """Step 1 of the two-step method: :func:`mixed_model` for each trial separately.

    Every trial gets its own coefficients and its own variance parameters (so any
    heterogeneity of the within-trial covariances is accommodated, Remark B). The
    coefficient vector is indexed over the union of the trials' visits, with NaN for
    those a trial did not measure (Remark C).

    Parameters
    ----------
    data : LongitudinalData
    covariance, method, reference_visit : optional
        As in :func:`mixed_model`.
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of model (3) to include.

    Returns
    -------
    PerTrialMixedModels

    Raises
    ------
    DataError
        No trials, or a trial whose model cannot be fitted (see :func:`mixed_model`).
    """
    if data.n_studies < 1:
        raise DataError("no trials in the data")
    design = data.design_matrix(reference_visit=reference_visit,
                                treatment_by_visit=treatment_by_visit,
                                covariate_by_visit=covariate_by_visit,
                                treatment_by_covariate=treatment_by_covariate)
    fits = {lab: _fit_design(data, design, study=lab, covariance=covariance, method=method,
                             ci_prob=0.95)
            for lab in data.study_labels}
    first = next(iter(fits.values()))
    est = np.stack([r.estimate for r in fits.values()])
    cov = np.stack([r.cov for r in fits.values()])
    return PerTrialMixedModels(estimates=est, covariances=cov, names=first.names,
                               study_labels=tuple(data.study_labels), fits=fits,
                               covariance=covariance, method=method)


@dataclass(frozen=True, eq=False)
class TwoStepResult:
    """Both steps of the two-step IPD meta-analysis.

    Parameters
    ----------
    step1 : PerTrialMixedModels
        The per-trial mixed models.
    step2 : MVMetaResult
        The multivariate meta-analysis of their coefficients.
    """

    step1: PerTrialMixedModels
    step2: MVMetaResult

    def __str__(self) -> str:
        return two_step_text(self)

    __repr__ = __str__

    def summary(self) -> pd.DataFrame:
        """The pooled coefficients (:meth:`MVMetaResult.summary` of step 2).

        Returns
        -------
        pandas.DataFrame
        """
        return self.step2.summary()


def two_step_ipdma(
    data: LongitudinalData,
    *,
    covariance: WithinCovariance = "random_intercept",
    lmm_method: LMMMethod = "REML",
    method: MVMethod = "REML",
    structure: OmegaStructure = "compound_symmetry",
    coefs: Sequence[str] | None = None,
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
    ci_prob: float = 0.95,
) -> TwoStepResult:
    """Two-step IPD meta-analysis of longitudinal trials (the seed paper's method).

    Step 1 fits :func:`per_trial_mixed_models` (``covariance``, ``lmm_method``); step 2
    pools the coefficient vectors with :func:`bayes_hte.comparators.mvmeta`
    (``method``, ``structure``; compound symmetry by default, the paper's choice).

    Parameters
    ----------
    data : LongitudinalData
    covariance : {"random_intercept", "unstructured"}
        Within-participant covariance of the step-1 models.
    lmm_method : {"REML", "ML"}
        Likelihood of the step-1 models.
    method : {"REML", "ML", "FE"}
        Likelihood of step 2, or fixed effect.
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of the between-trial covariance.
    coefs : sequence of str, optional
        Coefficients pooled in step 2 (default: all).
    reference_visit : optional
        Reference level of the visit factor.
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of model (3) to include.
    ci_prob : float
        Probability of the step-2 intervals.

    Returns
    -------
    TwoStepResult

    Raises
    ------
    DataError
        Invalid data or options (see :func:`per_trial_mixed_models` and :func:`mvmeta`).
    """
    step1 = per_trial_mixed_models(
        data, covariance=covariance, method=lmm_method, reference_visit=reference_visit,
        treatment_by_visit=treatment_by_visit, covariate_by_visit=covariate_by_visit,
        treatment_by_covariate=treatment_by_covariate)
    step2 = step1.mvmeta(method=method, structure=structure, coefs=coefs, ci_prob=ci_prob)
    return TwoStepResult(step1=step1, step2=step2)
