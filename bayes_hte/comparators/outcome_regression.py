r"""Simulated treatment comparison (STC; NICE DSU TSD 18, Ishak et al. 2015).

An outcome regression fitted to the IPD is predicted in the aggregate trial's population
(Phillippo et al. 2016, TSD 18 section 3.3; Ishak, Proskorovsky & Benedict 2015,
PharmacoEconomics 33:537–549). For patient :math:`i` of IPD trial :math:`j` with
covariates :math:`x_i`, treatment :math:`z_i` and effect modifiers :math:`x_i^{E}` (a
subset of the covariates; ``effect_modifiers=``, default all),

.. math::

    \mathrm{logit}\,P(y_i = 1) = \alpha_j + \theta'x_i + z_i(\gamma + \eta'x_i^{E}),

fitted by maximum likelihood (Newton–Raphson / IRLS; one intercept per IPD trial, so
that trials are compared within themselves). The effect in the aggregate population
:math:`F` is a **marginal** one: the model's risks are averaged over :math:`F`,

.. math::

    \bar p_z = \sum_j \frac{n_j}{n} \int \mathrm{expit}\{\alpha_j + \theta'x
    + z(\gamma + \eta'x^{E})\}\,dF(x)
    \approx \sum_j \frac{n_j}{n}\,\frac1M \sum_{m=1}^{M}
    \mathrm{expit}\{\alpha_j + \theta'x_m + z(\gamma + \eta'x_m^{E})\},

:math:`\hat\theta = \Phi(\bar p_1, \bar p_0)` (RD, log RR, log OR), with the points
:math:`x_m` drawn from a Gaussian copula whose marginals are the population's reported
summaries (normal with the reported mean and SD, truncated to ``[min, max]`` when given;
Bernoulli with the reported proportion) and whose latent correlation is the summary's own
``corr`` when given, else the IPD's pooled within-trial normal-score correlation
(:func:`bayes_hte.data.integration.ipd_correlation`, as multinma and
:meth:`bayes_hte.IPDMetaModel.marginal_effect` do): scrambled Sobol points
(:func:`bayes_hte.data.summaries.gaussian_copula_sample`), ``n_points`` of them, seeded.
The baseline risk is the IPD trials' mixture (intercepts weighted by :math:`n_j/n`): the
aggregate trial's own baseline is not used, so on the RD and RR scales (which depend on
the baseline risk) the prognostic covariates must capture the differences in baseline
risk, as for MAIC.

**Marginal, not conditional.** Plugging the population's mean covariates into the
model, :math:`\mathrm{expit}\{\alpha + \theta'\bar x + z(\gamma + \eta'\bar x^{E})\}`
(the STC of TSD 18 as often applied), gives the effect for a patient with average
covariates — a conditional effect. With a non-linear link it differs from the marginal
population effect even without effect modification, because the odds ratio is
non-collapsible (Remiro-Azócar, Heath & Baio 2021, Res Synth Methods 12:750–775; 2022,
Res Synth Methods 13:716–744, parametric G-computation). The plug-in value is reported
next to the marginal estimate (``result.conditional``) so the difference can be seen; it
is not the estimand.

**Standard errors** (``variance=``): ``"delta"`` (default) —
:math:`\nabla_\beta\hat\theta'\,\hat V\,\nabla_\beta\hat\theta` with :math:`\hat V` the
inverse Fisher information of the logistic fit and the analytic gradient
:math:`\partial\bar p_z/\partial\beta = \sum_j \frac{n_j}{n}\frac1M\sum_m
p_{jzm}(1-p_{jzm})\,d_{jzm}` (:math:`d_{jzm}` the design row); Wald interval (log scale
for ratios). ``"draws"`` — ``n_draws`` parametric draws
:math:`\beta^{(s)} \sim N(\hat\beta, \hat V)` (seeded), the SE their SD on the analysis
scale and the interval their percentiles. The integration points and the population's
summaries are held fixed (no sampling error of the aggregate summaries, as TSD 18).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from scipy.special import expit

from bayes_hte.comparators.population import (
    Inputs,
    STCResult,
    check_risks,
    contrast_gradient,
    estimate_row,
    log_contrast,
    resolve_inputs,
    result_fields,
)
from bayes_hte.comparators.results import critical_value
from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.integration import ipd_correlation
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.summaries import CovariateSummary, gaussian_copula_sample
from bayes_hte.errors import DataError
from bayes_hte.options import STC_VARIANCES, Measure, STCVariance, check_count

__all__ = ["logistic_regression", "stc"]


# =========================================================================== logistic fit
def logistic_regression(X: npt.ArrayLike, y: npt.ArrayLike, *, max_iter: int = 100,
                        tol: float = 1e-10) -> dict:
    r"""Maximum-likelihood logistic regression by Newton–Raphson (IRLS).

    :math:`\beta \leftarrow \beta + (X'WX)^{-1}X'(y - p)`, :math:`W = \mathrm{diag}
    \{p(1-p)\}`, from :math:`\beta = 0`, halving a step that lowers the log likelihood
    (R ``glm(family = binomial)``).

    Parameters
    ----------
    X : array_like, shape (n, P)
        Design matrix (with its intercept columns).
    y : array_like, shape (n,)
        0/1 outcomes.
    max_iter : int
        Newton iterations allowed.
    tol : float
        Convergence when the largest step is below ``tol``.

    Returns
    -------
    dict
        ``beta`` (P,), ``vcov`` (P, P; :math:`(X'\hat WX)^{-1}`), ``loglik``,
        ``converged`` (False also when a fitted risk is within :math:`10^{-10}` of 0 or
        1, the sign of separation) and ``iterations``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.zeros(X.shape[1])

    def loglik(b):
        eta = X @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    ll = loglik(beta)
    converged = False
    it = 0
    for it in range(1, int(max_iter) + 1):  # noqa: B007
        p = expit(X @ beta)
        info = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(info, X.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        t = 1.0
        new = beta + step
        ll_new = loglik(new)
        while ll_new < ll - 1e-12 and t > 1e-8:
            t /= 2
            new = beta + t * step
            ll_new = loglik(new)
        beta, ll = new, ll_new
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    p = expit(X @ beta)
    info = (X * (p * (1 - p))[:, None]).T @ X
    try:
        vcov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        vcov = np.full(info.shape, np.nan)
        converged = False
    if np.any((p < 1e-10) | (p > 1 - 1e-10)) or not np.all(np.isfinite(vcov)):
        converged = False
    return {"beta": beta, "vcov": vcov, "loglik": ll, "converged": converged,
            "iterations": it}


# =========================================================================== pieces
def _check_trials(ipd: IPDData) -> None:
    tab = ipd.study_table()
    events = tab["events_control"] + tab["events_treated"]
    n = tab["n_control"] + tab["n_treated"]
    for label in tab.index:
        if events[label] == 0 or events[label] == n[label]:
            kind = "no events" if events[label] == 0 else "only events"
            raise DataError(f"STC: IPD trial {label!r} has {kind}; its intercept in the outcome "
                            "regression is not estimable (leave the trial out)")


def _points(inp: Inputs, summary: CovariateSummary, n_points: int, seed: int) -> np.ndarray:
    names = list(inp.names)
    if not names:
        return np.zeros((1, 0))
    if summary.corr is not None:
        R = summary.corr.loc[names, names].to_numpy()
    else:
        R = ipd_correlation(inp.ipd).loc[names, names].to_numpy()
    frame = inp.rows.reset_index()
    cols = [c for c in ("covariate", "mean", "sd", "min", "max") if c in frame.columns]
    sample = gaussian_copula_sample(frame[cols], corr=R, n=int(n_points),
                                    method="scrambled_sobol", seed=int(seed),
                                    kinds=dict(inp.kinds))
    return sample[names].to_numpy(dtype=float)


def _design_rows(points: np.ndarray, em: np.ndarray, n_trials: int, j: int,
                 z: int) -> np.ndarray:
    """Design rows (M, P) of trial j, arm z at the points."""
    M = points.shape[0]
    onehot = np.zeros((M, n_trials))
    onehot[:, j] = 1.0
    zcol = np.full((M, 1), float(z))
    return np.hstack([onehot, points, zcol, z * points[:, em]])


def _marginal(beta: np.ndarray, rows: list[list[np.ndarray]], share: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Mixed risks (2,) [control, treated] and their gradient (2, P)."""
    psi = np.zeros(2)
    grad = np.zeros((2, beta.size))
    for j, per_arm in enumerate(rows):
        for z, D in enumerate(per_arm):
            p = expit(D @ beta)
            psi[z] += share[j] * p.mean()
            grad[z] += share[j] * (D * (p * (1 - p))[:, None]).mean(axis=0)
    return psi, grad


def _draw_contrasts(beta, vcov, rows, share, measure, n_draws, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(beta, vcov, size=int(n_draws), method="cholesky")
    psi = np.zeros((int(n_draws), 2))
    for j, per_arm in enumerate(rows):
        for z, D in enumerate(per_arm):
            for start in range(0, int(n_draws), 250):  # blocks keep (draw x point) small
                block = slice(start, start + 250)
                psi[block, z] += share[j] * expit(draws[block] @ D.T).mean(axis=1)
    out = np.array([log_contrast(p1, p0, measure) for p0, p1 in psi])
    return out[np.isfinite(out)]


# =========================================================================== STC
def stc(
    ipd: IPDData,
    aggregate: ArmTable | pd.DataFrame | None,
    aggregate_covariates: CovariateSummary,
    *,
    trial: str | None = None,
    measure: Measure = "RD",
    covariates: Sequence[str] | None = None,
    effect_modifiers: Sequence[str] | None = None,
    n_points: int = 4096,
    variance: STCVariance = "delta",
    n_draws: int = 2000,
    seed: int = 0,
    ci_prob: float = 0.95,
) -> STCResult:
    r"""Simulated treatment comparison: a logistic model of the IPD averaged over a population.

    NICE DSU TSD 18 (Phillippo et al. 2016), section 3.3; Ishak et al. (2015). The
    logistic outcome regression with treatment, covariates and treatment × effect-modifier
    interactions is fitted to the IPD and its risks are averaged over the aggregate
    trial's covariate distribution (a Gaussian copula of its reported summaries), giving
    the marginal effect in that population — not the conditional effect at the mean
    covariates (Remiro-Azócar et al. 2021, 2022), which is reported alongside as
    ``conditional``. Formulas, standard errors and assumptions in
    :mod:`bayes_hte.comparators.outcome_regression`.

    Parameters
    ----------
    ipd : IPDData
        IPD of one or more trials, binary outcome, 0/1 treatment (covariates on their
        raw scale; the container's centring is undone). Every IPD trial needs events and
        non-events (its own intercept).
    aggregate : ArmTable, pandas.DataFrame or None
        Arm-level counts of the aggregate trial(s) (the observed effect is reported
        next to the adjusted one); ``None`` for a population given by summaries only.
    aggregate_covariates : CovariateSummary
        The population's covariate summaries (``trial`` column for several trials; a
        one-population summary may carry the copula's ``corr``).
    trial : str, optional
        The aggregate trial to predict in (needed when there are several).
    measure : {"RD", "RR", "OR"}
        Risk difference, risk ratio or odds ratio of the marginal risks.
    covariates : sequence of str, optional
        Covariates of the regression (prognostic terms :math:`\theta'x`); default every
        covariate summarised for the trial (each must be an IPD covariate).
    effect_modifiers : sequence of str, optional
        Covariates interacting with treatment (:math:`\eta'x^E`); default all
        ``covariates``; ``[]`` for none.
    n_points : int
        Copula points integrating over the population (>= 2; powers of 2 keep the Sobol
        sequence balanced).
    variance : {"delta", "draws"}
        Delta method with the model's covariance (default; Wald interval, log scale for
        ratios) or parametric draws of the coefficients (percentile interval).
    n_draws : int
        Parametric draws (``variance="draws"``; >= 100).
    seed : int
        Seed of the scrambled Sobol points and of the draws.
    ci_prob : float
        Probability of the interval, in (0, 1).

    Returns
    -------
    STCResult
        ``estimate, se, log_se, ci, ci_low, ci_high, z, p`` (natural scale), the marginal
        risks ``psi1, psi0``, ``conditional`` (the plug-in effect at the means), ``coef``
        and ``vcov`` of the regression, ``observed`` and ``difference``, ``summary()``;
        ``print(res)`` shows it all.

    Raises
    ------
    DataError
        As :func:`bayes_hte.comparators.maic` for the inputs; besides, an effect
        modifier that is not among ``covariates`` (named), an IPD trial without events
        or with only events (named), a regression that does not converge (separation),
        bad ``n_points``, ``n_draws`` or ``variance``.

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
    >>> cov = bh.CovariateSummary.from_frame(pd.DataFrame(
    ...     {"covariate": ["x"], "mean": [0.5], "sd": [1.0]}))
    >>> res = bh.comparators.stc(ipd, None, cov, measure="OR")
    >>> res.estimate > 0
    True
    """
    if variance not in STC_VARIANCES:
        raise DataError(f"variance must be one of {STC_VARIANCES}, got {variance!r}")
    for name, value, low in (("n_points", n_points, 2), ("n_draws", n_draws, 100)):
        check_count(name, value, low=low, error=DataError)
    inp = resolve_inputs(ipd, aggregate, aggregate_covariates, trial=trial,
                         covariates=covariates, measure=measure, ci_prob=ci_prob,
                         method="STC")
    names = list(inp.names)
    if effect_modifiers is None:
        em_names = names
    else:
        em_names = [effect_modifiers] if isinstance(effect_modifiers, str) \
            else list(effect_modifiers)
        for c in em_names:
            if c not in names:
                raise DataError(f"effect modifier {c!r} is not among the covariates of the "
                                f"regression {names}; add it to covariates= (it needs a "
                                "summary row)")
        if len(set(em_names)) < len(em_names):
            raise DataError(f"effect_modifiers lists a covariate twice: {em_names}")
    em = np.array([names.index(c) for c in em_names], dtype=np.int64)
    _check_trials(ipd)
    J = ipd.n_studies
    labels = tuple(map(str, ipd.study_labels))
    onehot = np.zeros((ipd.n_patients, J))
    onehot[np.arange(ipd.n_patients), ipd.study_idx] = 1.0
    zc = ipd.z.astype(float)[:, None]
    X = np.hstack([onehot, inp.X, zc, zc * inp.X[:, em]])
    coef_names = ([f"(Intercept: {s})" for s in labels] if J > 1 else ["(Intercept)"]) \
        + names + ["treatment"] + [f"treatment:{c}" for c in em_names]
    fit = logistic_regression(X, ipd.y)
    if not fit["converged"]:
        raise DataError("STC: the logistic outcome regression did not converge (complete or "
                        "quasi-complete separation: a covariate, arm or trial predicts the "
                        "outcome perfectly?); drop a covariate or effect modifier")
    beta, vcov = fit["beta"], fit["vcov"]
    share = np.bincount(ipd.study_idx, minlength=J) / ipd.n_patients
    points = _points(inp, aggregate_covariates, n_points, seed)
    rows = [[_design_rows(points, em, J, j, z) for z in (0, 1)] for j in range(J)]
    psi, grad = _marginal(beta, rows, share)
    check_risks(psi[1], psi[0], measure, who="STC")
    est = log_contrast(psi[1], psi[0], measure)
    g = contrast_gradient(psi[1], psi[0], measure)
    gb = g[0] * grad[1] + g[1] * grad[0]
    used_draws = 0
    if variance == "delta":
        row = estimate_row(est, float(np.sqrt(max(gb @ vcov @ gb, 0.0))), measure, ci_prob)
    else:
        reps = _draw_contrasts(beta, vcov, rows, share, measure, n_draws, seed)
        used_draws = int(reps.size)
        q = np.quantile(reps, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
        row = estimate_row(est, float(reps.std(ddof=1)), measure, ci_prob, ci=q)
    # the plug-in (conditional) effect at the population's mean covariates
    mean_rows = [[_design_rows(inp.means[None, :], em, J, j, z) for z in (0, 1)]
                 for j in range(J)]
    cpsi, cgrad = _marginal(beta, mean_rows, share)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cest = log_contrast(cpsi[1], cpsi[0], measure)
        cg = contrast_gradient(cpsi[1], cpsi[0], measure)
    cgb = cg[0] * cgrad[1] + cg[1] * cgrad[0]
    conditional = estimate_row(cest, float(np.sqrt(max(cgb @ vcov @ cgb, 0.0))), measure,
                               ci_prob)
    conditional.update(psi1=float(cpsi[1]), psi0=float(cpsi[0]))
    se_b = np.sqrt(np.diag(vcov))
    zb = beta / se_b
    crit = critical_value(ci_prob)
    coef = pd.DataFrame({"estimate": beta, "se": se_b, "z": zb,
                         "p": 2 * stats.norm.sf(np.abs(zb)), "ci_low": beta - crit * se_b,
                         "ci_high": beta + crit * se_b},
                        index=pd.Index(coef_names, name="coef"))
    return STCResult(
        **result_fields(inp, method="STC", measure=measure, est=est, row=row, psi=psi,
                        ci_prob=ci_prob, variance=variance),
        coef=coef, vcov=pd.DataFrame(vcov, index=coef_names, columns=coef_names),
        effect_modifiers=tuple(em_names), conditional=conditional,
        n_points=int(points.shape[0]), n_draws=used_draws)
