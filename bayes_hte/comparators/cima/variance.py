r"""Variances of CIMA-AgD's moment equations (method note ``methods/cima_agd.md``, section 4).

* :func:`reported_covariance`: the working covariance :math:`V^{rep}` of one trial's
  reported effects, whose unreported off-diagonal entries are approximated from the
  overlap of the strata in the tilted base sample.
* :func:`moment_covariance`: :math:`\hat\Omega`, the variance of the moment vector
  (base-sample error, tilting error and the reported effects' covariance).
"""

from __future__ import annotations

import itertools

import numpy as np

from bayes_hte.comparators.cima.solver import nearest_pd
from bayes_hte.options import CIMACorrelation

__all__ = ["moment_covariance", "reported_covariance"]


def reported_covariance(
    se: np.ndarray, prop: np.ndarray, is_overall: np.ndarray, subgroup: np.ndarray,
    masks: np.ndarray, w: np.ndarray, correlation: CIMACorrelation,
) -> np.ndarray:
    """Working covariance of one trial's reported effects (method note, section 4).

    Parameters
    ----------
    se : ndarray, shape (J,)
        Reported standard errors of the trial's J effects.
    prop : ndarray, shape (J,)
        Reported share of each effect's stratum (1 for the overall effect).
    is_overall : ndarray of bool, shape (J,)
        Whether each effect is the trial's overall effect.
    subgroup : ndarray, shape (J,)
        The covariate defining each effect's stratum.
    masks : ndarray, shape (n_q, J)
        Stratum membership (0/1) of the base-sample rows.
    w : ndarray, shape (n_q,)
        The trial's tilting weights.
    correlation : {"reference", "paper"}
        Overlap/(p_j p_j') passed through ``nearPD`` twice (CIMAgD) or
        overlap/sqrt(p_j p_j') (the paper).

    Returns
    -------
    ndarray, shape (J, J)
        Positive definite covariance on the scale of the effects.
    """
    J = len(se)
    C = np.eye(J)
    for a, b in itertools.combinations(range(J), 2):
        if is_overall[a] != is_overall[b]:
            o, s = (a, b) if is_overall[a] else (b, a)
            c = prop[s] * se[s] / se[o]
        else:
            overlap = float(np.mean(w * masks[:, a] * masks[:, b]))
            if not is_overall[a] and subgroup[a] == subgroup[b] and overlap == 0.0:
                c = 0.0  # disjoint strata of one covariate
            elif correlation == "paper":
                c = overlap / np.sqrt(prop[a] * prop[b])
            else:
                c = overlap / (prop[a] * prop[b])
        C[a, b] = C[b, a] = np.clip(c, -0.999, 0.999)
    if correlation == "reference":
        C = nearest_pd(C, corr=True)
        V = se[:, None] * C * se[None, :]
        return nearest_pd(V)
    V = se[:, None] * C * se[None, :]
    if np.linalg.eigvalsh(V).min() <= 0:
        V = nearest_pd(V)
    return V


def moment_covariance(theta: np.ndarray, A: np.ndarray, B: np.ndarray, tau: np.ndarray,
                      Ht: np.ndarray, mus: list[np.ndarray], wts: list[np.ndarray],
                      trial_idx: np.ndarray, Vrep: list[np.ndarray], sizes: np.ndarray, *,
                      psd: bool = False) -> np.ndarray:
    r"""Variance of the moment vector (method note, section 4).

    Parameters
    ----------
    theta : ndarray, shape (p,)
        CATE coefficients at which the moments are evaluated.
    A : ndarray, shape (n_q, J)
        Representers of the J reported effects on the base sample.
    B : ndarray, shape (n_q, p)
        CATE model matrix of the base sample.
    tau : ndarray, shape (J,)
        Reported effects.
    Ht : ndarray, shape (n_q, 1 + q)
        Standardised tilting features with an intercept column.
    mus : list of ndarray, shape (1 + q,)
        Each trial's standardised target moments.
    wts : list of ndarray, shape (n_q,)
        Each trial's tilting weights.
    trial_idx : ndarray of int, shape (J,)
        Trial of each reported effect.
    Vrep : list of ndarray
        Each trial's :func:`reported_covariance`.
    sizes : ndarray, shape (n_trials,)
        Trial sizes (variance of the reported means).
    psd : bool
        ``False``: the reference formula (M centred at the reported effects; per-trial
        tilting influences Phi_k with the cross term 2 M'Phi_k; no cross-trial Phi
        terms), which need not be positive semi-definite. ``True``: the
        influence-function form of the paper's appendix A.6,
        (M + sum_k Phi_k)'(M + sum_k Phi_k) / n_q^2 with M centred at its column means,
        plus the same reported-effect and reported-mean terms: positive semi-definite by
        construction (used to weight a second GMM step).

    Returns
    -------
    ndarray, shape (J, J)
        :math:`\hat\Omega`.
    """
    nq, J = A.shape
    g = B @ theta
    M = A * g[:, None]
    M = M - (M.mean(axis=0) if psd else tau)[None, :]
    Om = np.zeros((J, J)) if psd else M.T @ M / nq**2
    infl = M.copy()
    ph = Ht.shape[1]
    for k, (mu, w) in enumerate(zip(mus, wts, strict=True)):
        idx = np.flatnonzero(trial_idx == k)
        Ak = np.zeros((J, ph))
        Ak[idx] = (A[:, idx] * g[:, None]).T @ Ht / nq
        Hk = (Ht * w[:, None]).T @ Ht / nq
        Gk = -Ak @ np.linalg.inv(Hk + 1e-8 * np.eye(ph))
        dev = Ht * w[:, None] - mu[None, :]
        Phi = dev @ Gk.T
        if psd:
            infl += Phi
        else:
            Om += (Phi.T @ Phi + 2 * M.T @ Phi) / nq**2
        Om[np.ix_(idx, idx)] += Vrep[k]
        cen = Ht - mu[None, :]
        Sig = (cen * w[:, None]).T @ cen / nq
        Om += Gk @ Sig @ Gk.T / sizes[k]
    if psd:
        Om += infl.T @ infl / nq**2
    return Om

