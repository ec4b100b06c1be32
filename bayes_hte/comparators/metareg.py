r"""Mixed-effects meta-regression, R metafor's ``rma(yi, vi, mods = ...)``.

Study :math:`k` with estimate :math:`y_k`, known sampling variance :math:`v_k` and
moderators :math:`x_k` (intercept first):

.. math::

    y_k = x_k'\beta + u_k + e_k, \qquad u_k \sim N(0, \tau^2), \quad e_k \sim N(0, v_k).

With :math:`W = \mathrm{diag}\{1/(v_k+\tau^2)\}` and
:math:`P = W - WX(X'WX)^{-1}X'W`, the residual heterogeneity :math:`\tau^2` is

- ``"REML"``: Fisher scoring :math:`\tau^2 \leftarrow \max\{0, \tau^2 + (y'PPy -
  \mathrm{tr}P) / \mathrm{tr}(PP)\}` of the restricted likelihood
  :math:`-\tfrac12\{\sum_k \log(v_k+\tau^2) + \log|X'WX| + y'Py\}`;
- ``"ML"``: the same with :math:`(y'PPy - \mathrm{tr}W) / \mathrm{tr}(WW)` (full
  likelihood, no :math:`\log|X'WX|`);
- ``"DL"``: the generalised DerSimonian–Laird estimator
  :math:`\max\{0, (Q_E - (K-p)) / \mathrm{tr}P_0\}`, with :math:`P_0` at
  :math:`\tau^2 = 0` and :math:`Q_E = y'P_0y`;
- ``"PM"``: the generalised Paule–Mandel estimator, the root of
  :math:`y'P y = K - p` (0 when :math:`Q_E \le K - p`);
- ``"EB"``: empirical Bayes, whose equation :math:`y'Py\,K/(K-p) = K` is PM's (the
  same estimate, its own standard error);
- ``"HS"``: Hunter–Schmidt, :math:`\max\{0, (Q_E - K)/\sum_k v_k^{-1}\}`; ``"HSk"``
  the same with :math:`Q_E` scaled by :math:`K/(K-p)`;
- ``"HE"``: Hedges, :math:`\max\{0, (y'P_Iy - \mathrm{tr}(P_IV))/(K-p)\}` with
  :math:`P_I` the ordinary least-squares :math:`P` (:math:`W = I`), :math:`V =
  \mathrm{diag}(v_k)`;
- ``"SJ"``: Sidik–Jonkman, :math:`\tau^2_0\, y'P_sy/(K-p)` with :math:`P_s` at
  :math:`\tau^2_0 = \sum_k (y_k - \bar y)^2/K`;
- ``"FE"``: 0 (fixed-effects meta-regression; ``"EE"`` and ``"CE"``, metafor's names of
  the equal-effects model, are read as ``"FE"``).

Then :math:`\hat\beta = (X'WX)^{-1}X'Wy` with covariance :math:`(X'WX)^{-1}`, Wald z
tests, or with ``knha=True`` the Knapp–Hartung adjustment (covariance times
:math:`y'Py/(K-p)`, t tests on :math:`K-p` df). :math:`Q_E` tests the residual
heterogeneity (:math:`\chi^2_{K-p}`), :math:`Q_M` the moderators (Wald
:math:`\chi^2_m`, or :math:`F_{m, K-p}` with ``knha``). :math:`I^2 = \tau^2 /
(\tau^2 + s^2)` and :math:`H^2 = (\tau^2 + s^2)/s^2` with the typical sampling variance
:math:`s^2 = (K-p)/\mathrm{tr}P_0` (for ``"FE"``: :math:`(Q_E - (K-p))/Q_E` and
:math:`Q_E/(K-p)`), and :math:`R^2 = \max\{0, (\tau^2_0 - \tau^2)/\tau^2_0\}`
against the intercept-only model's :math:`\tau^2_0` (Raudenbush 2009; 0 when
:math:`\tau^2_0 = 0`; for ``"FE"`` the adjusted :math:`R^2` of the weighted least-squares
fit, :math:`1 - \{Q_E/(K-p)\}/\{Q_{E,0}/(K-1)\}`, as metafor computes it). The standard error of
:math:`\tau^2` is that of metafor 3.8 for each estimator (REML
:math:`\sqrt{2/\mathrm{tr}(PP)}`, ML :math:`\sqrt{2/\mathrm{tr}(WW)}`, DL and PM their
moment formulas).
Viechtbauer (2010), *J Stat Softw* 36(3); Viechtbauer et al. (2015),
*Res Synth Methods* 6:306 (the test statistics); matches metafor 3.8-1 to 6 significant
digits (tests/comparators/test_metareg.py).

With ``yi`` of shape (K, R) every array keeps a trailing replicate axis of length R, so
that simulation studies fit R meta-regressions in one call; one analysis (``yi`` of shape
(K,)) gives floats and arrays without that axis, and prints as metafor does.

Moderators are numbers: text is refused (code it as indicators first), and True / False
(the indicator columns of ``pandas.get_dummies``) read as 1 / 0. ``"ML"`` and ``"REML"``
take the global maximum of the likelihood over :math:`\tau^2 \ge 0`: Fisher scoring
from 0 and from the best point of a 40-point grid, the better of the two (scoring from 0
alone can stop at the boundary when the likelihood is higher inside).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from bayes_hte.comparators._moderators import INTERCEPT, design_inputs, real_matrix
from bayes_hte.comparators._wls import MOMENT_METHODS, WLSFit, moment_tau2, tau2_se
from bayes_hte.comparators.heterogeneity import canonical_method, estimate_tau2
from bayes_hte.comparators.printout import metareg_text
from bayes_hte.comparators.results import check_ci_prob, critical_value
from bayes_hte.comparators.univariate import _se_column, _transform, warn_variance_ratio
from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import DataError
from bayes_hte.options import MetaMethod, Transform


@dataclass(frozen=True)
class MetaRegression:
    r"""A fitted meta-regression (one, or R along the trailing axis).

    The shapes below are those of R replicates; for one analysis (1-D ``yi``) the
    trailing axis is dropped: ``beta`` (p,), ``tau2`` a float, ``converged`` a bool.

    Parameters
    ----------
    beta : ndarray, shape (p, R)
        Coefficients :math:`\hat\beta`, on the scale of ``yi`` (log RR for log RR).
    cov : ndarray, shape (p, p, R)
        Their covariance (Knapp–Hartung-scaled with ``knha``).
    tau2 : ndarray, shape (R,)
        Residual between-study variance (0 for ``"FE"``).
    converged : ndarray of bool, shape (R,)
        False where the :math:`\tau^2` iteration did not converge.
    names : tuple of str
        Coefficient names (``"intrcpt"`` and the moderators).
    se, statistic, p : ndarray, shape (p, R)
        Standard errors, z (or t) statistics for :math:`\beta_j = 0`, two-sided p-values.
    ci : ndarray, shape (2, p, R)
        Confidence intervals (lower, upper).
    df : float
        Degrees of freedom of the tests (``inf`` for z, :math:`K-p` with ``knha``).
    tau2_se : ndarray, shape (R,)
        Standard error of :math:`\tau^2` (NaN for ``"FE"``).
    i2, h2, r2 : ndarray, shape (R,)
        :math:`I^2` and :math:`R^2` in percent, :math:`H^2` (:math:`R^2` NaN without an
        intercept or moderators; 0 where :math:`\tau^2_0 = 0`; for ``"FE"`` the
        adjusted :math:`R^2` of the weighted least-squares fit, as metafor).
    qe, qe_p : ndarray, shape (R,)
        Test of residual heterogeneity and its p-value.
    qe_df : int
        Its degrees of freedom, :math:`K-p`.
    qm, qm_p : ndarray, shape (R,)
        Test of the moderators (every coefficient but the intercept): Wald
        :math:`\chi^2` on ``qm_df`` df, or F on (``qm_df``, :math:`K-p`) with ``knha``;
        NaN without moderators.
    qm_df : int
        Number of moderator coefficients tested (0 for the intercept-only model).
    k, method, knha, ci_prob, labels, measure, scale
        Number of studies, estimator, adjustment, interval probability, study labels,
        effect measure and its scale (``"log"`` for log RR / OR).
    yi, vi : ndarray, shape (K, R)
        The data analysed.
    X : ndarray, shape (K, p, R)
        The design (intercept column first when there is one).
    single : bool
        One analysis (the arrays have no replicate axis).
    """

    beta: np.ndarray
    cov: np.ndarray
    tau2: np.ndarray
    converged: np.ndarray
    names: tuple[str, ...] = ()
    se: np.ndarray = field(default=None, repr=False)
    statistic: np.ndarray = field(default=None, repr=False)
    p: np.ndarray = field(default=None, repr=False)
    ci: np.ndarray = field(default=None, repr=False)
    df: float = np.inf
    tau2_se: np.ndarray = field(default=None, repr=False)
    i2: np.ndarray = field(default=None, repr=False)
    h2: np.ndarray = field(default=None, repr=False)
    r2: np.ndarray = field(default=None, repr=False)
    qe: np.ndarray = field(default=None, repr=False)
    qe_df: int = 0
    qe_p: np.ndarray = field(default=None, repr=False)
    qm: np.ndarray = field(default=None, repr=False)
    qm_df: int = 0
    qm_p: np.ndarray = field(default=None, repr=False)
    k: int = 0
    method: str = "REML"
    knha: bool = False
    ci_prob: float = 0.95
    labels: tuple[str, ...] = ()
    measure: str | None = None
    scale: str = "identity"
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)

    single: bool = field(default=False, repr=False)

    @property
    def n_replicates(self) -> int:
        """R, the number of meta-regressions held (1 for one analysis)."""
        return 1 if self.single else int(np.shape(self.beta)[1])

    def _rep(self, name: str) -> np.ndarray:
        """A field with its trailing replicate axis (added back for one analysis)."""
        value = np.asarray(getattr(self, name))
        return value[..., None] if self.single else value

    def _check_transform(self, transform) -> None:
        if transform is not None and self.scale != "log" and self.measure is not None:
            raise ValueError(f"transform={transform!r} back-transforms log-scale effects; "
                             f"these are {self.measure} on the {self.scale} scale")

    def _one(self, what: str) -> None:
        if self.n_replicates != 1:
            raise ValueError(f"{what} describes one meta-regression; this result holds "
                             f"{self.n_replicates} replicates (index .beta[:, r] etc.)")

    def summary(self, *, transform: Transform | None = None) -> pd.DataFrame:
        """The coefficient table (metafor's ``coef(summary(fit))``).

        Parameters
        ----------
        transform : {None, "exp"} or callable
            Applied to the estimates and interval bounds (``"exp"``: ratios per unit of
            a moderator of a log RR / log OR); the standard error stays on the analysis
            scale and is then named ``se_untransformed``.

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient name: ``estimate``, ``se``, ``statistic`` (z, or t
            with ``knha``), ``p``, ``ci_low``, ``ci_high``, on the scale of ``yi``.

        Raises
        ------
        ValueError
            The result holds more than one replicate.
        """
        self._one("summary()")
        self._check_transform(transform)
        f = _transform(transform)
        ci = self._rep("ci")[..., 0]
        return pd.DataFrame({"estimate": f(self._rep("beta")[:, 0]),
                             _se_column(transform): self._rep("se")[:, 0],
                             "statistic": self._rep("statistic")[:, 0],
                             "p": self._rep("p")[:, 0], "ci_low": f(ci[0]),
                             "ci_high": f(ci[1])},
                            index=pd.Index(self.names, name="coefficient"))

    def predict(self, x0: npt.ArrayLike, *, ci_prob: float | None = None):
        """Prediction ``x0' beta`` with its standard error and interval (vectorised form).

        Parameters
        ----------
        x0 : array_like, shape (p,) or (p, R)
            Full design row (intercept first), shared or one per replicate.
        ci_prob : float, optional
            Probability of the interval (default the fit's ``ci_prob``).

        Returns
        -------
        (float or ndarray, ...)
            ``estimate, se, ci_low, ci_high``: floats for one analysis, else arrays of
            shape (R,); the interval uses the fit's reference distribution (z, or t on
            :math:`K-p` df with ``knha``).
        """
        ci_prob = self.ci_prob if ci_prob is None else ci_prob
        check_ci_prob(ci_prob)
        beta, cov = self._rep("beta"), self._rep("cov")
        x0 = np.asarray(x0, dtype=float)
        if x0.ndim == 1:
            x0 = np.broadcast_to(x0[:, None], beta.shape)
        est = np.einsum("pr,pr->r", x0, beta)
        se = np.sqrt(np.einsum("pr,pqr,qr->r", x0, cov, x0))
        crit = critical_value(ci_prob, df=self.df)
        out = (est, se, est - crit * se, est + crit * se)
        return tuple(float(a[0]) for a in out) if self.single else out

    def prediction(self, newmods: npt.ArrayLike | pd.DataFrame | Mapping | float | None = None,
                   *, ci_prob: float | None = None,
                   transform: Transform | None = None) -> pd.DataFrame:
        r"""Predicted effects at moderator values (metafor's ``predict(fit, newmods=)``).

        Parameters
        ----------
        newmods : float, array_like of shape (m,) or (n, m), DataFrame or mapping, optional
            Moderator values without the intercept, one row per point (a DataFrame or
            mapping by moderator name, which must name exactly the fit's moderators; a
            1-D array is n points of one moderator when there is one, else one point;
            True / False read as 1 / 0). Default: the studies' own values (the fitted
            values, ``predict(fit)``), indexed by study label.
        ci_prob : float, optional
            Probability of both intervals (default the fit's ``ci_prob``).
        transform : {None, "exp"} or callable
            Applied to the predictions and interval bounds (``"exp"``: RR or OR from a
            log RR / log OR); ``se`` is then named ``se_untransformed``.

        Returns
        -------
        pandas.DataFrame
            One row per point: ``pred``, ``se``, ``ci_low``, ``ci_high`` and the
            prediction interval of a new study's true effect ``pi_low``, ``pi_high``
            (:math:`\pm q\sqrt{\mathrm{se}^2 + \tau^2}`), on the scale of ``yi``.

        Raises
        ------
        ValueError
            Several replicates, or ``ci_prob`` outside (0, 1).
        DataError
            Values that are not finite numbers, moderators missing or not in the fit, or
            the wrong number of moderators.
        """
        self._one("prediction()")
        self._check_transform(transform)
        ci_prob = self.ci_prob if ci_prob is None else ci_prob
        check_ci_prob(ci_prob)
        mods = [n for n in self.names if n != INTERCEPT]
        index = None
        if newmods is None:
            X0, index = self._rep("X")[:, :, 0], pd.Index(self.labels, name="study")
        else:
            if isinstance(newmods, pd.DataFrame | Mapping):
                frame = (newmods if isinstance(newmods, pd.DataFrame) else pd.DataFrame(
                    {k: np.atleast_1d(np.asarray(v, dtype=object)) for k, v in
                     newmods.items()}))
                missing = [m for m in mods if m not in frame.columns]
                extra = [str(c) for c in frame.columns if c not in mods]
                if missing or extra:
                    raise DataError(f"newmods has columns {[str(c) for c in frame.columns]}; "
                                    f"the fit's moderators are {mods}")
                values = real_matrix(frame[mods], "newmods", columns=mods)
            else:
                arr = np.atleast_1d(np.asarray(newmods, dtype=object))
                if arr.ndim == 1:
                    arr = arr[:, None] if len(mods) == 1 else arr[None, :]
                values = real_matrix(arr, "newmods", columns=mods)
                if values.shape[1] != len(mods):
                    raise DataError(f"newmods has {values.shape[1]} values per point; the "
                                    f"fit has {len(mods)} moderators {mods}")
            X0 = (np.column_stack([np.ones(len(values)), values])
                  if INTERCEPT in self.names else values)
        beta, cov = self._rep("beta")[:, 0], self._rep("cov")[:, :, 0]
        est = X0 @ beta
        se = np.sqrt(np.einsum("np,pq,nq->n", X0, cov, X0))
        crit = critical_value(ci_prob, df=self.df)
        spread = np.sqrt(se**2 + float(self._rep("tau2")[0]))
        f = _transform(transform)
        return pd.DataFrame({"pred": f(est), _se_column(transform): se,
                             "ci_low": f(est - crit * se), "ci_high": f(est + crit * se),
                             "pi_low": f(est - crit * spread),
                             "pi_high": f(est + crit * spread)}, index=index)

    def __str__(self) -> str:
        return metareg_text(self)

    def __repr__(self) -> str:
        return metareg_text(self)


# =========================================================================== fitting
def _loglik(y, v, X, tau2, reml: bool) -> np.ndarray:
    """The (restricted) log-likelihood of each replicate at ``tau2`` (R,), up to a
    constant."""
    fit = WLSFit(y, v, X, tau2)
    ll = -0.5 * (np.log(v + tau2[None, :]).sum(axis=0) + fit.quad)
    if reml:
        ll = ll + 0.5 * np.linalg.slogdet(fit.inv)[1]  # - log|X'WX| / 2
    return ll


def _scoring(y, v, X, start, reml: bool, maxiter: int, tol: float):
    """Fisher scoring of the (restricted) likelihood from ``start``, truncated at 0; the
    step is small relative to tau2 or to the typical variance (scale-free)."""
    tau2, converged = start.copy(), np.zeros(start.shape, dtype=bool)
    scale = v.mean(axis=0)
    for _ in range(maxiter):
        fit = WLSFit(y, v, X, tau2)
        yPPy = (fit.Py**2).sum(axis=0)
        if reml:
            P = fit.P
            score = yPPy - fit.trace
            info = np.einsum("rkl,rlk->r", P, P)
        else:
            score = yPPy - fit.w.sum(axis=0)
            info = (fit.w * fit.w).sum(axis=0)
        new = np.maximum(0.0, tau2 + score / info)
        step = np.abs(new - tau2)
        tau2 = np.where(converged, tau2, new)
        converged |= step < tol * np.maximum(tau2, scale)
        if converged.all():
            break
    return tau2, converged


#: Points of the grid (0 and a geometric sequence up to the bound) that the likelihood
#: estimators compare against, so that a local maximum (or the boundary) is not taken
#: for the global one.
GRID = 40


def _likelihood_tau2(y, v, X, reml: bool, maxiter: int, tol: float):
    r"""The global maximiser of the (restricted) likelihood over tau2 >= 0.

    Fisher scoring from 0 and from the best point of a grid over
    :math:`[0, 10(\mathrm{var}(y) + \max v)]`; the better of the two (the likelihood
    of a meta-regression need not be unimodal, and scoring from 0 can stay at the
    boundary). Replicates where neither converges fall back to a bounded scalar search.
    """
    R = y.shape[1]
    hi = 10 * (y.var(axis=0) + v.max(axis=0))
    grid = np.concatenate([np.zeros((1, R)), hi[None, :] * np.geomspace(1e-6, 1, GRID - 1)
                           [:, None]])
    ll_grid = np.stack([_loglik(y, v, X, g, reml) for g in grid])
    best = grid[np.argmax(ll_grid, axis=0), np.arange(R)]
    cands = [_scoring(y, v, X, np.zeros(R), reml, maxiter, tol),
             _scoring(y, v, X, best, reml, maxiter, tol)]
    lls = np.stack([np.where(c, _loglik(y, v, X, t, reml), -np.inf) for t, c in cands])
    pick = np.argmax(lls, axis=0)
    tau2 = np.choose(pick, [t for t, _ in cands])
    converged = np.isfinite(lls.max(axis=0))
    for r in np.flatnonzero(~converged):  # bounded scalar fallback
        y1, v1, X1 = y[:, [r]], v[:, [r]], X[:, :, [r]]
        res = optimize.minimize_scalar(
            lambda t, y1=y1, v1=v1, X1=X1: -_loglik(y1, v1, X1, np.array([t]), reml)[0],
            bounds=(0.0, hi[r]), method="bounded", options={"xatol": 1e-12 * hi[r]})
        at0 = _loglik(y1, v1, X1, np.zeros(1), reml)[0]
        tau2[r] = res.x if -res.fun > at0 else 0.0
        converged[r] = bool(res.success)
    return tau2, converged


def _tau2(y, v, X, method: str, maxiter: int, tol: float):
    K, p, R = X.shape
    tau2, converged = np.zeros(R), np.ones(R, dtype=bool)
    if method == "FE":
        return tau2, converged
    if method in ("ML", "REML"):
        return _likelihood_tau2(y, v, X, method == "REML", maxiter, tol)
    if method in MOMENT_METHODS:
        return moment_tau2(y, v, X, method), converged
    fit0 = WLSFit(y, v, X, tau2)
    qe = fit0.quad
    if method == "DL":
        return np.maximum(0.0, (qe - (K - p)) / fit0.trace), converged
    # PM and EB: bisection on the decreasing y'P(tau2)y - (K - p), to a relative tolerance
    lo, hi = np.zeros(R), np.full(R, 10 * (y.var(axis=0) + v.max(axis=0)))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = WLSFit(y, v, X, mid).quad > K - p
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        if np.all(hi - lo <= tol * hi):
            break
    return np.where(qe > K - p, 0.5 * (lo + hi), 0.0), converged


def _r2(y, v, X, tau2, qe, method, maxiter, tol) -> np.ndarray:
    """metafor's R^2 in percent: the share of the intercept-only model's tau2 that the
    moderators account for, max(0, (tau2_0 - tau2) / tau2_0) (0 when tau2_0 = 0); for
    FE the adjusted R^2 of the weighted least-squares fit, 1 - (QE/(K-p)) / (QE_0/(K-1))."""
    K, p, R = X.shape
    if method == "FE":
        qe0 = WLSFit(y, v, np.ones((K, 1, R)), np.zeros(R)).quad
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = 1 - (qe / (K - p)) / (qe0 / (K - 1))
        return np.where(qe0 > 0, np.maximum(0.0, 100 * adj), 0.0)
    tau2_0, _ = estimate_tau2(y, v, method, tol=tol, maxiter=maxiter)  # meta_analysis's
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tau2_0 > 0, np.maximum(0.0, 100 * (tau2_0 - tau2) / tau2_0), 0.0)


def meta_regression(yi: npt.ArrayLike | EffectTable, vi: npt.ArrayLike | None = None,
                    X: npt.ArrayLike | pd.DataFrame | None = None, *,
                    mods: npt.ArrayLike | pd.DataFrame | pd.Series | Mapping | None = None,
                    intercept: bool = True, method: MetaMethod = "REML", knha: bool = False,
                    ci_prob: float = 0.95, labels: Sequence[str] | None = None,
                    maxiter: int = 200, tol: float = 1e-10) -> MetaRegression:
    r"""Mixed-effects meta-regression (R metafor's ``rma(yi, vi, mods = ~ ...)``).

    The model, the estimators of :math:`\tau^2` and the tests are in the module
    docstring (:mod:`bayes_hte.comparators.metareg`).

    Parameters
    ----------
    yi : array_like, shape (K,) or (K, R), or EffectTable
        Study estimates (e.g. log RR); R replicates along the trailing axis are fitted
        in one vectorised call. An EffectTable supplies ``yi``, ``vi``, the study labels
        and the measure.
    vi : array_like, optional
        Sampling variances (> 0), of the shape of ``yi``; omit with an EffectTable.
    X : array_like of shape (K, p) or (K, p, R), or DataFrame, optional
        The full design, intercept column included (metafor's model matrix with
        ``intercept=FALSE``). Give either ``X`` or ``mods``.
    mods : DataFrame, Series, mapping, or array_like of shape (K,) or (K, m), optional
        The moderators (metafor's ``mods``), named by their columns (an array's by
        ``mods``, ``mods1``, ...). Numbers, True / False (read as 1 / 0), or text /
        category columns, which are coded as factors (one indicator ``"name[level]"``
        per level but the first; every level for the first factor when
        ``intercept=False``). A DataFrame or Series not indexed 0..K-1 must be indexed by
        the study labels (rows are matched by label). Without ``X`` and ``mods`` the
        model is intercept-only (a random-effects meta-analysis).
    intercept : bool
        Add the intercept column ``"intrcpt"`` to ``mods``.
    method : {"REML", "ML", "DL", "PM", "EB", "HS", "HSk", "HE", "SJ", "FE"}
        Estimator of the residual :math:`\tau^2` (module docstring; ``"EE"`` and ``"CE"``
        are read as ``"FE"``).
    knha : bool
        Knapp–Hartung adjustment (t and F tests on :math:`K-p` df).
    ci_prob : float
        Probability of the confidence intervals, in (0, 1).
    labels : sequence of str, optional
        Study labels (default the EffectTable's, else ``"1"``, ``"2"``, ...).
    maxiter, tol : int, float
        Fisher-scoring iterations and relative tolerance on :math:`\tau^2`.

    Returns
    -------
    MetaRegression
        Coefficients, tests, :math:`\tau^2`, :math:`I^2`, :math:`H^2`, :math:`R^2`,
        :math:`Q_E` and :math:`Q_M`; ``print(fit)`` shows them as ``print.rma`` does,
        ``fit.summary()`` is the coefficient table and ``fit.prediction(newmods)`` the
        predictions with confidence and prediction intervals.

    Raises
    ------
    DataError
        Estimates or variances that are not finite (variances not > 0), moderators
        with missing values, text that reads as numbers, or a factor with one level (the
        column and rows named), a design that is 1-D or (nearly) rank-deficient (the
        dependent column named), mods without a row for some study, both ``X`` and
        ``mods``, or no more studies than coefficients.
    ValueError
        An unknown ``method`` or ``ci_prob`` outside (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_hte.comparators import meta_regression
    >>> fit = meta_regression([0.3, -0.2, 0.25, -0.1, 0.05, 0.4],
    ...                       [0.01, 0.02, 0.015, 0.01, 0.03, 0.02], mods=np.arange(1, 7))
    >>> fit.names, round(fit.tau2, 4)
    (('intrcpt', 'mods'), 0.0541)
    """
    method = canonical_method(method)
    check_ci_prob(ci_prob, error=ValueError)
    y, v, X, names, labels, measure, scale, has_intercept, single = design_inputs(
        yi, vi, X, mods, intercept, labels)
    K, p, R = X.shape
    warn_variance_ratio(v, labels)
    if knha and method == "FE":
        warnings.warn("knha=True with method='FE': the Knapp-Hartung adjustment is meant "
                      "for random-effects models (metafor warns too)", UserWarning,
                      stacklevel=2)
    tau2, converged = _tau2(y, v, X, method, maxiter, tol)
    fit = WLSFit(y, v, X, tau2)
    beta = fit.beta
    cov = np.moveaxis(fit.inv, 0, -1).copy()
    df = np.inf
    if knha:
        cov *= (fit.quad / (K - p))[None, None, :]
        df = float(K - p)
    se = np.sqrt(np.einsum("ppr->pr", cov))
    statistic = beta / se
    dist = stats.norm if np.isinf(df) else stats.t(df)
    pval = 2 * dist.sf(np.abs(statistic))
    crit = critical_value(ci_prob, df=df)
    ci = np.stack([beta - crit * se, beta + crit * se])
    fit0 = fit if method == "FE" else WLSFit(y, v, X, np.zeros(R))  # FE: tau2 is 0
    qe = fit0.quad
    if method == "FE":
        i2 = np.where(qe > 0, np.maximum(0.0, 100 * (qe - (K - p)) / np.where(qe > 0, qe, 1)),
                      0.0)
        h2 = qe / (K - p)
    else:
        s2 = (K - p) / fit0.trace
        i2, h2 = 100 * tau2 / (tau2 + s2), (tau2 + s2) / s2
    mod_idx = list(range(1, p)) if has_intercept else list(range(p))
    m = len(mod_idx)
    if m:
        b = beta[mod_idx].T[:, :, None]  # (R, m, 1)
        vb = np.moveaxis(cov[np.ix_(mod_idx, mod_idx)], -1, 0)  # (R, m, m)
        qm = np.linalg.solve(vb, b)[..., 0]
        qm = np.einsum("rm,rm->r", b[..., 0], qm)
        if knha:
            qm = qm / m
            qm_p = stats.f.sf(qm, m, K - p)
        else:
            qm_p = stats.chi2.sf(qm, m)
    else:
        qm = qm_p = np.full(R, np.nan)
    r2 = (_r2(y, v, X, tau2, qe, method, maxiter, tol) if has_intercept and m
          else np.full(R, np.nan))
    out = dict(beta=beta, cov=cov, tau2=tau2, converged=converged, se=se,
               statistic=statistic, p=pval, ci=ci,
               tau2_se=tau2_se(method, tau2, y, v, X, fit, fit0), i2=i2, h2=h2, r2=r2, qe=qe,
               qe_p=stats.chi2.sf(qe, K - p), qm=qm, qm_p=qm_p, yi=y, vi=v, X=X)
    if single:  # one analysis: scalars and arrays without the replicate axis
        out = {k: (a[..., 0].item() if a.ndim == 1 else a[..., 0]) for k, a in out.items()}
    return MetaRegression(**out, names=tuple(names), df=df, qe_df=K - p, qm_df=m, k=K,
                          method=method, knha=knha, ci_prob=ci_prob, labels=labels,
                          measure=measure, scale=scale, single=single)
