r"""Matching-adjusted indirect comparison (MAIC; Signorovitch et al. 2010, 2012).

The IPD patients are reweighted so that their covariate moments equal those reported for
the aggregate trial's population (method of moments; NICE DSU TSD 18, Phillippo et al.
2016, section 3.2 and appendix D). With :math:`m_c` the reported mean (proportion) of
covariate :math:`c` and, for continuous covariates when ``match_sd=True``, :math:`s_c`
its reported SD, the centred moments of patient :math:`i` are

.. math::

    \tilde x_{ic} = x_{ic} - m_c, \qquad
    \tilde x_{ic}^{(2)} = (x_{ic} - m_c)^2 - s_c^2 ,

and the weights are :math:`w_i = \exp(\tilde x_i'a)` with :math:`\hat a` the minimiser of
the convex function :math:`Q(a) = \sum_i \exp(\tilde x_i'a)`, whose gradient
:math:`\sum_i \tilde x_i w_i = 0` is the moment condition: the weighted means equal the
targets, :math:`\sum_i w_i x_i / \sum_i w_i = m` (and the weighted second moments
:math:`m_c^2 + s_c^2`). It is minimised as :math:`\log Q` (same minimiser; overflow-free
log-sum-exp) by scipy's ``trust-exact`` Newton method with the analytic gradient and
Hessian, on columns scaled to unit SD. A solution exists if and only if the targets lie in
the interior of the convex hull of the IPD's moment vectors; otherwise :math:`Q` has no
minimum (its infimum 0 is approached as :math:`\|a\| \to \infty`) and a ``DataError``
names the covariate whose moment is missed most.

The effective sample size is :math:`\mathrm{ESS} = (\sum_i w_i)^2 / \sum_i w_i^2`
(Signorovitch et al. 2012; TSD 18, appendix D): a small ESS relative to :math:`n` warns of
little overlap and an estimate resting on a few patients.

**Effect in the aggregate population.** The weighted arm risks are computed within each
IPD trial :math:`j` (randomisation holds within trials) and mixed by the trials' shares of
the weighted population,

.. math::

    \hat\psi_{jz} = \frac{\sum_{i \in j, z_i = z} w_i y_i}{\sum_{i \in j, z_i = z} w_i},
    \qquad \hat\psi_z = \sum_j \pi_j \hat\psi_{jz}, \qquad
    \pi_j = \frac{\sum_{i \in j} w_i}{\sum_i w_i},

and :math:`\hat\theta = \Phi(\hat\psi_1, \hat\psi_0)` (RD, log RR, log OR). With one IPD
trial this is the usual weighted difference of the arms. With several, the weights are
estimated once across the pooled IPD (TSD 18 section 3.2 discusses pooling the IPD into
one sample to be weighted): the weighted mixture of all IPD patients matches the
aggregate moments, not each trial separately, so trials whose patients resemble the
aggregate population get more weight (:math:`\pi_j`), and no trial needs to cover the
targets on its own.

**Standard errors** (``variance=``):

``"sandwich"`` (default)
    M-estimation sandwich :math:`A^{-1} B A^{-\top}` of the stacked estimating equations
    of :math:`a` (:math:`\tilde x_i w_i`), of the trial-arm risks
    (:math:`1\{i \in j, z\} w_i (y_i - \psi_{jz})`) and of the mixed risks
    (:math:`w_i(\psi_{j(i)z} - \psi_z)`), with :math:`A` the summed Jacobian (analytic)
    and :math:`B = \sum_i \psi_i\psi_i'` (Stefanski & Boos 2002). Unlike the robust SE of
    a weighted regression with the weights held fixed (``survey``/``sandwich`` in R, as
    TSD 18 mentions), it includes the uncertainty of the estimated weights. The reported
    aggregate moments are treated as known (no sampling error), as in TSD 18.
``"bootstrap"``
    Patients resampled with replacement within each IPD trial and arm (arm sizes kept),
    the weights re-estimated in every replicate (``n_boot`` replicates, seeded by
    ``seed``); the SE is the replicates' SD on the analysis scale and the interval their
    percentile interval (exponentiated for ratios). Replicates whose weights have no
    solution are left out and counted (``n_failed``).

**Assumptions** (TSD 18): every effect modifier on the chosen scale is matched (and,
because the RD, RR and OR of marginal risks also depend on the baseline risk, the
prognostic factors that differ between the populations); the IPD cover the aggregate
population (overlap: positivity); outcome and treatment definitions agree.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize

from bayes_hte.comparators.population import (
    Inputs,
    MAICResult,
    check_risks,
    contrast_gradient,
    estimate_row,
    log_contrast,
    resolve_inputs,
    result_fields,
)
from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import MAIC_VARIANCES, MAICVariance, Measure, check_count

__all__ = ["maic", "maic_moments", "maic_weights"]

#: Largest weighted-mean error of a standardised moment accepted as a solution.
MOMENT_TOL = 1e-6


# =========================================================================== weights
def maic_moments(X: npt.ArrayLike, means: npt.ArrayLike, *,
                 sds: npt.ArrayLike | None = None) -> np.ndarray:
    r"""Centred moments :math:`\tilde x_i` whose weighted means MAIC sets to zero.

    Parameters
    ----------
    X : array_like, shape (n, K)
        Covariates of the IPD patients (raw scale).
    means : array_like, shape (K,)
        Target means (proportions for binary covariates).
    sds : array_like, shape (K,), optional
        Target SDs; ``nan`` for a covariate whose second moment is not matched.

    Returns
    -------
    numpy.ndarray, shape (n, K + S)
        :math:`x_{ic} - m_c` for every covariate, then :math:`(x_{ic} - m_c)^2 - s_c^2`
        for the :math:`S` covariates with a finite ``sds`` entry.
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    means = np.asarray(means, dtype=float)
    cols = X - means
    if sds is None:
        return cols
    sds = np.asarray(sds, dtype=float)
    sq = np.isfinite(sds)
    return np.hstack([cols, cols[:, sq] ** 2 - sds[sq] ** 2])


def _softmax(eta: np.ndarray) -> np.ndarray:
    e = np.exp(eta - eta.max())
    return e / e.sum()


def maic_weights(moments: npt.ArrayLike, *, start: npt.ArrayLike | None = None,
                 max_iter: int = 200) -> dict:
    r"""Method-of-moments weights :math:`w_i = \exp(\tilde x_i'\hat a)` (module docstring).

    Minimises :math:`\log\sum_i \exp(\tilde x_i'a)` (convex; the minimiser of
    :math:`Q(a) = \sum_i \exp(\tilde x_i'a)`) with scipy's ``trust-exact`` and the
    analytic gradient (the softmax-weighted mean of :math:`\tilde x`) and Hessian (their
    weighted covariance), on the moment columns scaled to unit SD.

    Parameters
    ----------
    moments : array_like, shape (n, m)
        Centred moments :math:`\tilde x_i` (:func:`maic_moments`).
    start : array_like, shape (m,), optional
        Starting value of :math:`a` (default 0; a bootstrap starts at the estimate).
    max_iter : int
        Newton iterations allowed.

    Returns
    -------
    dict
        ``a`` (shape (m,), on the scale of ``moments``), ``weights`` (shape (n,),
        :math:`\exp(\tilde x_i'\hat a)`), ``residual`` (shape (m,): weighted means of the
        standardised moments, 0 at a solution) and ``converged`` (bool: every
        ``|residual|`` below :data:`MOMENT_TOL` and the weights finite). Not converged
        means the targets lie outside (or on the edge of) the convex hull of the
        moments.
    """
    M = np.atleast_2d(np.asarray(moments, dtype=float))
    n, m = M.shape
    if m == 0:
        return {"a": np.zeros(0), "weights": np.ones(n), "residual": np.zeros(0),
                "converged": True}
    scale = M.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Ms = M / scale

    def fun(b):
        eta = Ms @ b
        c = eta.max()
        return c + np.log(np.exp(eta - c).sum())

    def jac(b):
        return Ms.T @ _softmax(Ms @ b)

    def hess(b):
        p = _softmax(Ms @ b)
        mu = Ms.T @ p
        return (Ms * p[:, None]).T @ Ms - np.outer(mu, mu)

    b0 = np.zeros(m) if start is None else np.asarray(start, dtype=float) * scale
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = optimize.minimize(fun, b0, jac=jac, hess=hess, method="trust-exact",
                                options={"gtol": 1e-12, "maxiter": int(max_iter)})
    b = res.x
    residual = jac(b)
    with np.errstate(over="ignore"):
        weights = np.exp(M @ (b / scale))
    ok = bool(np.all(np.isfinite(residual)) and np.max(np.abs(residual)) < MOMENT_TOL
              and np.all(np.isfinite(weights)) and weights.sum() > 0)
    return {"a": b / scale, "weights": weights, "residual": residual, "converged": ok}


# =========================================================================== risks
def _risks(y: np.ndarray, z: np.ndarray, trial: np.ndarray, n_trials: int,
           w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted trial-arm risks (J, 2), trial shares (J,), mixed risks (2,) [control, treated]."""
    p_jz = np.empty((n_trials, 2))
    for z_ in (0, 1):
        num = np.bincount(trial, weights=w * y * (z == z_), minlength=n_trials)
        den = np.bincount(trial, weights=w * (z == z_), minlength=n_trials)
        p_jz[:, z_] = num / den
    W = np.bincount(trial, weights=w, minlength=n_trials)
    pi = W / W.sum()
    return p_jz, pi, pi @ p_jz


def _sandwich(M: np.ndarray, w: np.ndarray, y: np.ndarray, z: np.ndarray, trial: np.ndarray,
              p_jz: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Sandwich covariance of (psi_0, psi_1) from the stacked estimating equations."""
    n, K = M.shape
    J = p_jz.shape[0]
    P = K + 2 * J + 2
    ia = np.arange(K)
    ijz = lambda j, z_: K + 2 * j + z_  # noqa: E731
    iz = lambda z_: K + 2 * J + z_  # noqa: E731
    psi_i = np.zeros((n, P))
    A = np.zeros((P, P))
    psi_i[:, ia] = M * w[:, None]
    A[np.ix_(ia, ia)] = (M * w[:, None]).T @ M
    onehot = np.zeros((n, J))
    onehot[np.arange(n), trial] = 1.0
    for z_ in (0, 1):
        in_arm = (z == z_).astype(float)
        for j in range(J):
            cell = in_arm * onehot[:, j]
            r = cell * w * (y - p_jz[j, z_])
            psi_i[:, ijz(j, z_)] = r
            A[ijz(j, z_), ia] = r @ M
            A[ijz(j, z_), ijz(j, z_)] = -(cell * w).sum()
        m_i = p_jz[trial, z_]
        r = w * (m_i - psi[z_])
        psi_i[:, iz(z_)] = r
        A[iz(z_), ia] = r @ M
        for j in range(J):
            A[iz(z_), ijz(j, z_)] = (w * onehot[:, j]).sum()
        A[iz(z_), iz(z_)] = -w.sum()
    B = psi_i.T @ psi_i
    Ainv = np.linalg.inv(A)
    V = Ainv @ B @ Ainv.T
    sel = [iz(0), iz(1)]
    return V[np.ix_(sel, sel)]


# =========================================================================== checks
def _check_targets(inp: Inputs, match_sd: bool, who: str) -> np.ndarray:
    """Range checks naming the covariate; returns the SDs to match (nan: not matched)."""
    for k, c in enumerate(inp.names):
        x, m = inp.X[:, k], inp.means[k]
        if not (x.min() < m < x.max()):
            raise DataError(
                f"MAIC: the mean of covariate {c!r} in {who} ({m:.4g}) lies outside the "
                f"range of the IPD ({x.min():.4g} to {x.max():.4g}; the IPD must cover it "
                "strictly): no positive weights can match it, the populations do not overlap")
    sds = np.where([inp.kinds[c] == "continuous" for c in inp.names], inp.sds, np.nan) \
        if match_sd else np.full(len(inp.names), np.nan)
    for k, c in enumerate(inp.names):
        if np.isfinite(sds[k]):
            d2 = (inp.X[:, k] - inp.means[k]) ** 2
            if not (d2.min() < sds[k] ** 2 < d2.max()):
                raise DataError(
                    f"MAIC: the SD of covariate {c!r} in {who} ({sds[k]:.4g}) cannot be "
                    "matched by weighting the IPD (its squared deviations from the target "
                    f"mean range from {d2.min():.4g} to {d2.max():.4g}); use match_sd=False")
    return sds


def _moment_names(names: Sequence[str], sds: np.ndarray) -> list[str]:
    return [*names, *(f"{c}^2" for c, s in zip(names, sds, strict=True) if np.isfinite(s))]


def _balance(inp: Inputs, w: np.ndarray) -> pd.DataFrame:
    ww = w / w.sum()
    wmean = ww @ inp.X if len(inp.names) else np.zeros(0)
    out = pd.DataFrame({"target": inp.means, "ipd": inp.X.mean(axis=0), "weighted": wmean},
                       index=pd.Index(list(inp.names), name="covariate"))
    cont = np.array([inp.kinds[c] == "continuous" for c in inp.names], dtype=bool)
    wsd = np.sqrt(np.maximum(ww @ (inp.X - wmean) ** 2, 0.0)) if len(inp.names) else wmean
    out["target_sd"] = np.where(cont, inp.sds, np.nan)
    out["ipd_sd"] = np.where(cont, inp.X.std(axis=0, ddof=1) if len(inp.X) > 1 else np.nan,
                             np.nan)
    out["weighted_sd"] = np.where(cont, wsd, np.nan)
    return out


def _bootstrap(M: np.ndarray, y, z, trial, n_trials, a_hat, measure, n_boot, seed):
    rng = np.random.default_rng(seed)
    cells = [np.flatnonzero((trial == j) & (z == z_)) for j in range(n_trials) for z_ in (0, 1)]
    cells = [c for c in cells if c.size]
    out = np.full(n_boot, np.nan)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(c, size=c.size, replace=True) for c in cells])
        fit = maic_weights(M[idx], start=a_hat)
        if not fit["converged"]:
            continue
        _, _, psi = _risks(y[idx], z[idx], trial[idx], n_trials, fit["weights"])
        out[b] = log_contrast(psi[1], psi[0], measure)
    return out[np.isfinite(out)]


# =========================================================================== MAIC
def maic(
    ipd: IPDData,
    aggregate: ArmTable | pd.DataFrame | None,
    aggregate_covariates: CovariateSummary,
    *,
    trial: str | None = None,
    measure: Measure = "RD",
    covariates: Sequence[str] | None = None,
    match_sd: bool = False,
    variance: MAICVariance = "sandwich",
    n_boot: int = 1000,
    seed: int = 0,
    ci_prob: float = 0.95,
) -> MAICResult:
    r"""Matching-adjusted indirect comparison: the IPD's effect in an aggregate trial's population.

    Signorovitch et al. (2010, PharmacoEconomics 28:935–945; 2012, Value Health
    15:940–947); NICE DSU TSD 18 (Phillippo et al. 2016), section 3.2 and appendix D.
    Weights :math:`w_i = \exp(\tilde x_i'\hat a)` on the IPD patients make their
    covariate means (and, with ``match_sd``, SDs) equal the aggregate trial's; the
    weighted arm risks give the effect in that trial's population (formulas, the pooling
    of several IPD trials, standard errors and assumptions in
    :mod:`bayes_hte.comparators.weighting`).

    Parameters
    ----------
    ipd : IPDData
        IPD of one or more trials, binary outcome, 0/1 treatment. Covariates are read on
        their raw scale (any centring of the container is undone); a categorical
        covariate's indicator ``"col[level]"`` is a binary covariate of that name.
    aggregate : ArmTable, pandas.DataFrame or None
        Arm-level counts of the aggregate trial(s) (a frame with columns
        ``n11 n10 n01 n00``); the trial's own observed effect is reported next to the
        adjusted one. ``None``: adjust to a population given by summaries only (no
        observed effect).
    aggregate_covariates : CovariateSummary
        The population's covariate summaries: means and SDs of continuous covariates,
        proportions (empty SD) of binary ones; with a ``trial`` column for several
        trials.
    trial : str, optional
        The aggregate trial to adjust to (needed when the ArmTable or the summaries hold
        several).
    measure : {"RD", "RR", "OR"}
        Risk difference, risk ratio or odds ratio of the adjusted marginal risks.
    covariates : sequence of str, optional
        Covariates to match (default: every covariate summarised for the trial; each must
        be an IPD covariate).
    match_sd : bool
        Also match the SDs of continuous covariates (second moments
        :math:`(x - m)^2 - s^2`); binary covariates are matched by their proportion only.
        The weighted SD matched is the population (``ddof=0``) SD of the weighted IPD.
    variance : {"sandwich", "bootstrap"}
        Standard error and interval: M-estimation sandwich including the estimation of
        the weights (default; Wald interval, on the log scale for ratios), or a
        bootstrap of the patients within trial and arm (percentile interval).
    n_boot : int
        Bootstrap replicates (``variance="bootstrap"``; >= 50).
    seed : int
        Seed of the bootstrap.
    ci_prob : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    MAICResult
        ``estimate, se, log_se, ci, ci_low, ci_high, z, p`` (natural scale; ratios tested
        on the log scale), the adjusted risks ``psi1, psi0``, ``weights``,
        ``rescaled_weights``, ``ess``, ``coef`` (:math:`\hat a`), ``balance`` (weighted
        means equal to the targets), ``trial_share``, ``observed`` and ``difference``
        (the trial's own effect and adjusted minus observed), ``summary()``,
        ``weight_table()``; ``print(res)`` shows it all.

    Raises
    ------
    DataError
        ``ipd`` not an IPDData or with a time-to-event outcome; ``aggregate_covariates``
        not a CovariateSummary; an aggregate trial not in the ArmTable, or several and no
        ``trial``; no summary rows for the trial; a chosen covariate without a summary
        row, or not an IPD covariate (named); a covariate binary in the summaries whose
        IPD column is not 0/1, or binary in the IPD but given an SD (named); a target
        mean outside the IPD's range, an SD that cannot be matched, or targets outside
        the IPD's convex hull (naming the covariate missed most); an undefined ratio
        (adjusted risk 0 or 1); an unknown ``measure`` or ``variance``; bad ``n_boot``
        or ``ci_prob``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import bayes_hte as bh
    >>> rng = np.random.default_rng(1)
    >>> n = 400
    >>> x = rng.normal(size=n); z = rng.integers(0, 2, n)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-(-1 + x + z * (-0.5 + 0.5 * x)))))
    >>> ipd = bh.IPDData.from_frame(pd.DataFrame({"x": x, "z": z, "y": y}), outcome="y",
    ...                             treatment="z", covariates=["x"])
    >>> agd = bh.ArmTable.from_frame(pd.DataFrame({"study": ["B"], "n11": [40],
    ...                                            "n10": [60], "n01": [45], "n00": [55]}))
    >>> cov = bh.CovariateSummary.from_frame(pd.DataFrame(
    ...     {"trial": ["B"], "covariate": ["x"], "mean": [0.5], "sd": [1.0]}))
    >>> res = bh.comparators.maic(ipd, agd, cov)
    >>> round(float(res.balance.loc["x", "weighted"]), 6)
    0.5
    """
    if variance not in MAIC_VARIANCES:
        raise DataError(f"variance must be one of {MAIC_VARIANCES}, got {variance!r}")
    if not isinstance(match_sd, bool | np.bool_):
        raise DataError(f"match_sd must be True or False, got {match_sd!r}")
    if variance == "bootstrap":
        check_count("n_boot", n_boot, low=50, error=DataError)
    inp = resolve_inputs(ipd, aggregate, aggregate_covariates, trial=trial,
                         covariates=covariates, measure=measure, ci_prob=ci_prob,
                         method="MAIC")
    who = inp.population if inp.population != "target" else "the target population"
    sds = _check_targets(inp, bool(match_sd), who)
    M = maic_moments(inp.X, inp.means, sds=sds)
    fit = maic_weights(M)
    names = _moment_names(inp.names, sds)
    if not fit["converged"]:
        worst = int(np.nanargmax(np.abs(np.nan_to_num(fit["residual"], nan=np.inf))))
        raise DataError(
            f"MAIC: no weights reproduce the covariate summaries of {who}: they lie outside "
            "the convex hull of the IPD covariates (the populations do not overlap "
            f"jointly); moment {names[worst]!r} is missed most. Drop or coarsen that "
            "covariate, or use match_sd=False")
    w = fit["weights"]
    y = ipd.y.astype(float)
    z = ipd.z.astype(np.int64)
    trial_idx = ipd.study_idx
    J = ipd.n_studies
    p_jz, pi, psi = _risks(y, z, trial_idx, J, w)
    check_risks(psi[1], psi[0], measure, who="MAIC")
    est = log_contrast(psi[1], psi[0], measure)
    n_failed, used_boot = 0, 0
    if variance == "sandwich":
        V = _sandwich(M, w, y, z, trial_idx, p_jz, psi)
        g = contrast_gradient(psi[1], psi[0], measure)[::-1]  # order (psi0, psi1)
        se = float(np.sqrt(max(g @ V @ g, 0.0)))
        row = estimate_row(est, se, measure, ci_prob)
    else:
        reps = _bootstrap(M, y, z, trial_idx, J, fit["a"], measure, int(n_boot), seed)
        used_boot = int(reps.size)
        n_failed = int(n_boot) - used_boot
        if n_failed:
            warnings.warn(f"MAIC bootstrap: the weights had no solution in {n_failed} of "
                          f"{n_boot} replicates (left out); the overlap is poor",
                          DataWarning, stacklevel=2)
        if used_boot < 2:
            raise DataError("MAIC bootstrap: fewer than 2 replicates had weights")
        q = np.quantile(reps, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
        row = estimate_row(est, float(reps.std(ddof=1)), measure, ci_prob, ci=q)
    return MAICResult(
        **result_fields(inp, method="MAIC", measure=measure, est=est, row=row, psi=psi,
                        ci_prob=ci_prob, variance=variance),
        weights=w,
        coef=pd.Series(fit["a"], index=pd.Index(names, name="moment"), name="a"),
        ess=float(w.sum() ** 2 / (w**2).sum()), balance=_balance(inp, w),
        trial_share=pd.Series(pi, index=pd.Index(list(map(str, ipd.study_labels)),
                                                 name="study"), name="share"),
        match_sd=bool(match_sd), n_boot=used_boot, n_failed=n_failed,
        study_idx=np.asarray(trial_idx), z_arm=np.asarray(z))
