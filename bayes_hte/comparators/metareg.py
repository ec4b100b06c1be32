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
- ``"FE"``: 0 (fixed-effects meta-regression).

Then :math:`\hat\beta = (X'WX)^{-1}X'Wy` with covariance :math:`(X'WX)^{-1}`, Wald z
tests, or with ``knha=True`` the Knapp–Hartung adjustment (covariance times
:math:`y'Py/(K-p)`, t tests on :math:`K-p` df). :math:`Q_E` tests the residual
heterogeneity (:math:`\chi^2_{K-p}`), :math:`Q_M` the moderators (Wald
:math:`\chi^2_m`, or :math:`F_{m, K-p}` with ``knha``). :math:`I^2 = \tau^2 /
(\tau^2 + s^2)` and :math:`H^2 = (\tau^2 + s^2)/s^2` with the typical sampling variance
:math:`s^2 = (K-p)/\mathrm{tr}P_0` (for ``"FE"``: :math:`(Q_E - (K-p))/Q_E` and
:math:`Q_E/(K-p)`), and :math:`R^2 = (\tau^2_0 - \tau^2)/\tau^2_0` against the
intercept-only model's :math:`\tau^2_0` (Raudenbush 2009). The standard error of
:math:`\tau^2` is that of metafor 3.8 for each estimator (REML
:math:`\sqrt{2/\mathrm{tr}(PP)}`, ML :math:`\sqrt{2/\mathrm{tr}(WW)}`, DL and PM their
moment formulas). Viechtbauer (2010), *J Stat Softw* 36(3); Viechtbauer et al. (2015),
*Res Synth Methods* 6:306 (the test statistics); matches metafor 3.8-1 to 6 significant
digits (tests/comparators/test_metareg.py).

Every array keeps a trailing replicate axis of length R, so that simulation studies fit
R meta-regressions in one call; one analysis has R = 1 and prints as metafor does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from bayes_hte.comparators.heterogeneity import METHODS
from bayes_hte.comparators.printout import metareg_text
from bayes_hte.comparators.results import check_ci_prob, critical_value
from bayes_hte.comparators.univariate import _unpack_effects
from bayes_hte.data.aggregate import EffectTable
from bayes_hte.data.checks import real_values
from bayes_hte.errors import DataError, format_rows
from bayes_hte.options import MetaMethod, check_choice

#: Name of the intercept column, as metafor names it.
INTERCEPT = "intrcpt"


@dataclass(frozen=True)
class MetaRegression:
    r"""A fitted meta-regression (one, or R along the trailing axis).

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
        intercept or moderators, for ``"FE"``, and where :math:`\tau^2_0 = 0`).
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

    @property
    def n_replicates(self) -> int:
        """R, the number of meta-regressions held."""
        return int(self.beta.shape[1])

    def _one(self, what: str) -> None:
        if self.n_replicates != 1:
            raise ValueError(f"{what} describes one meta-regression; this result holds "
                             f"{self.n_replicates} replicates (index .beta[:, r] etc.)")

    def summary(self) -> pd.DataFrame:
        """The coefficient table (metafor's ``coef(summary(fit))``).

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
        return pd.DataFrame({"estimate": self.beta[:, 0], "se": self.se[:, 0],
                             "statistic": self.statistic[:, 0], "p": self.p[:, 0],
                             "ci_low": self.ci[0, :, 0], "ci_high": self.ci[1, :, 0]},
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
        (ndarray, ndarray, ndarray, ndarray)
            ``estimate, se, ci_low, ci_high``, each of shape (R,); the interval uses the
            fit's reference distribution (z, or t on :math:`K-p` df with ``knha``).
        """
        ci_prob = self.ci_prob if ci_prob is None else ci_prob
        check_ci_prob(ci_prob)
        x0 = np.asarray(x0, dtype=float)
        if x0.ndim == 1:
            x0 = np.broadcast_to(x0[:, None], self.beta.shape)
        est = np.einsum("pr,pr->r", x0, self.beta)
        se = np.sqrt(np.einsum("pr,pqr,qr->r", x0, self.cov, x0))
        crit = critical_value(ci_prob, df=self.df)
        return est, se, est - crit * se, est + crit * se

    def prediction(self, newmods: npt.ArrayLike | pd.DataFrame | Mapping | float, *,
                   ci_prob: float | None = None) -> pd.DataFrame:
        r"""Predicted effects at new moderator values (metafor's ``predict(fit, newmods=)``).

        Parameters
        ----------
        newmods : float, array_like of shape (m,) or (n, m), DataFrame or mapping
            Moderator values without the intercept, one row per point (a DataFrame or
            mapping by moderator name; a 1-D array is n points of one moderator when
            there is one, else one point).
        ci_prob : float, optional
            Probability of both intervals (default the fit's ``ci_prob``).

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
            Values that are not finite numbers, or the wrong number of moderators.
        """
        self._one("prediction()")
        ci_prob = self.ci_prob if ci_prob is None else ci_prob
        check_ci_prob(ci_prob)
        mods = [n for n in self.names if n != INTERCEPT]
        if isinstance(newmods, pd.DataFrame | Mapping):
            frame = pd.DataFrame(newmods)
            missing = [m for m in mods if m not in frame.columns]
            if missing:
                raise DataError(f"newmods has no column {missing}; the moderators are {mods}")
            values = _real_matrix(frame[mods], "newmods", columns=mods)
        else:
            arr = np.atleast_1d(np.asarray(newmods, dtype=object))
            if arr.ndim == 1:
                arr = arr[:, None] if len(mods) == 1 else arr[None, :]
            values = _real_matrix(arr, "newmods", columns=mods)
            if values.shape[1] != len(mods):
                raise DataError(f"newmods has {values.shape[1]} values per point; the fit "
                                f"has {len(mods)} moderators {mods}")
        X0 = (np.column_stack([np.ones(len(values)), values])
              if INTERCEPT in self.names else values)
        est = X0 @ self.beta[:, 0]
        se = np.sqrt(np.einsum("np,pq,nq->n", X0, self.cov[:, :, 0], X0))
        crit = critical_value(ci_prob, df=self.df)
        spread = np.sqrt(se**2 + self.tau2[0])
        return pd.DataFrame({"pred": est, "se": se, "ci_low": est - crit * se,
                             "ci_high": est + crit * se, "pi_low": est - crit * spread,
                             "pi_high": est + crit * spread})

    def __str__(self) -> str:
        return metareg_text(self)

    def __repr__(self) -> str:
        return metareg_text(self)


# =========================================================================== inputs
def _real_matrix(values, what: str, *, columns: Sequence[str]) -> np.ndarray:
    """Numbers only (no text, booleans or missing values), the culprit named."""
    arr, bad = real_values(values)
    arr = arr.reshape(len(arr), -1) if arr.ndim < 2 else arr
    bad = bad.reshape(arr.shape)
    wrong = bad | ~np.isfinite(arr)
    if wrong.any():
        r, c = np.argwhere(wrong)[0]
        col = columns[c] if c < len(columns) else f"column {c}"
        rows = np.flatnonzero(wrong[:, c])
        value = np.asarray(values, dtype=object).reshape(arr.shape)[r, c]
        raise DataError(f"{what}: moderator {col!r} is not a finite number at "
                        f"{format_rows(rows)} (value {value!r}); text moderators must be "
                        "coded as numbers or indicators first (e.g. "
                        "pandas.get_dummies(..., drop_first=True))")
    return arr


def _mods_matrix(mods, labels: tuple[str, ...], named: bool) -> tuple[np.ndarray, list[str]]:
    """Moderators as a (K, m) matrix with their names, aligned to the studies."""
    if isinstance(mods, Mapping) and not isinstance(mods, pd.DataFrame):
        mods = pd.DataFrame(dict(mods))
    if isinstance(mods, pd.Series):
        mods = mods.to_frame(name=mods.name if mods.name is not None else "mods")
    if isinstance(mods, pd.DataFrame):
        dup = mods.columns[mods.columns.duplicated()].unique().tolist()
        if dup:
            raise DataError(f"mods: column {dup[0]!r} appears "
                            f"{int((mods.columns == dup[0]).sum())} times")
        if named and not isinstance(mods.index, pd.RangeIndex):
            index = [str(i) for i in mods.index]
            if sorted(index) != sorted(labels):
                raise DataError(f"mods is indexed by {index[:5]}..., which are not the "
                                f"study labels {list(labels[:5])}...: index it by the "
                                "study labels, or reset its index to align by position")
            mods = mods.set_axis(index).loc[list(labels)]
        names = [str(c) for c in mods.columns]
        if INTERCEPT in names:
            raise DataError(f"mods: {INTERCEPT!r} is the intercept's name; the intercept is "
                            "added for you (intercept=False to leave it out)")
        return _real_matrix(mods.to_numpy(dtype=object), "mods", columns=names), names
    arr = np.asarray(mods, dtype=object)
    if arr.ndim == 1:
        return _real_matrix(arr[:, None], "mods", columns=["mods"]), ["mods"]
    if arr.ndim != 2:
        raise DataError(f"mods must be 1-D or 2-D (studies x moderators), got {arr.ndim}-D")
    names = [f"mods{j + 1}" for j in range(arr.shape[1])]
    return _real_matrix(arr, "mods", columns=names), names


def _inputs(yi, vi, X, mods, intercept: bool, labels):
    yi, vi, labels, measure, scale = _unpack_effects(yi, vi, labels)
    y = np.array(yi, dtype=float, copy=True)
    v = np.array(vi, dtype=float, copy=True)
    if y.ndim == 1:
        y, v = y[:, None], v[:, None]
    K, R = y.shape if y.ndim == 2 else (len(y), 0)
    named = labels is not None
    labels = tuple(map(str, labels)) if named else tuple(str(i + 1) for i in range(K))
    if len(labels) != K:
        raise DataError(f"{len(labels)} labels for {K} studies")
    if X is not None and mods is not None:
        raise DataError("give either X (the full design, intercept column included) or "
                        "mods (the moderators; the intercept is added), not both")
    if X is not None:
        names = ([str(c) for c in X.columns] if isinstance(X, pd.DataFrame)
                 else [f"X{j + 1}" for j in range(np.shape(X)[1] if np.ndim(X) > 1 else 0)])
        X = np.array(X, dtype=float, copy=True)
        if X.ndim == 1:
            raise DataError("X must be 2-D (studies x coefficients) with its intercept "
                            "column; for one moderator pass mods=x instead, which adds "
                            "the intercept")
        if X.ndim == 2:
            X = np.broadcast_to(X[:, :, None], (*X.shape, R)).copy()
        has_intercept = bool(np.all(X[:, 0, :] == 1.0))
        if has_intercept and names[0] == "X1":
            names[0] = INTERCEPT
    else:
        m, names = (np.empty((K, 0)), []) if mods is None else _mods_matrix(mods, labels,
                                                                           named)
        if len(m) != K:
            raise DataError(f"mods has {len(m)} rows for {K} studies")
        if intercept:
            m, names = np.column_stack([np.ones(K), m]), [INTERCEPT, *names]
        if not names:
            raise DataError("no coefficients: give mods, or keep intercept=True")
        X = np.broadcast_to(m[:, :, None], (*m.shape, R)).copy()
        has_intercept = intercept
    Kx, p, Rx = X.shape
    if y.shape != (Kx, Rx) or v.shape != (Kx, Rx):
        raise DataError(f"yi and vi must have shape ({Kx}, {Rx}) to match X")
    bad_v = ~(np.isfinite(v) & (v > 0)).all(axis=1)
    bad_y = ~np.isfinite(y).all(axis=1)
    if bad_v.any() or bad_y.any():
        which = [labels[i] for i in np.flatnonzero(bad_v | bad_y)]
        raise DataError(f"meta-regression needs finite estimates and positive variances; "
                        f"studies {which[:5]} have "
                        + ("a variance that is not a positive number" if bad_v.any()
                           else "an estimate that is not finite"))
    if Kx <= p:
        raise DataError(f"meta-regression with {p} coefficients needs more than {p} studies, "
                        f"has {Kx}")
    _check_rank(X, names)
    return y, v, X, names, labels, measure, scale, has_intercept


def _check_rank(X: np.ndarray, names: list[str]) -> None:
    """The design's columns are linearly independent (in every replicate)."""
    for r in range(X.shape[2]):
        Xr = X[:, :, r]
        if np.linalg.matrix_rank(Xr) == Xr.shape[1]:
            continue
        for j in range(1, Xr.shape[1] + 1):
            if np.linalg.matrix_rank(Xr[:, :j]) < j:
                raise DataError(f"the design is rank-deficient: {names[j - 1]!r} is a "
                                f"linear combination of {names[:j - 1]} (or constant); drop "
                                "it or recode the moderators")


# =========================================================================== fitting
def _parts(v, X, tau2):
    w = 1.0 / (v + tau2[None, :])  # (K, R)
    inv = np.linalg.inv(np.einsum("kpr,kr,kqr->rpq", X, w, X))  # (R, p, p)
    WX = X * w[:, None, :]  # (K, p, R)
    P = -np.einsum("kpr,rpq,lqr->rkl", WX, inv, WX)
    idx = np.arange(X.shape[0])
    P[:, idx, idx] += w.T
    return w, inv, P


def _quad(P, y):
    return np.einsum("kr,rkl,lr->r", y, P, y)


def _neg_loglik(y1, v1, X1, t, reml: bool) -> float:
    w = 1 / (v1 + t)
    XtWX = X1.T @ (w[:, None] * X1)
    r = y1 - X1 @ np.linalg.solve(XtWX, X1.T @ (w * y1))
    extra = np.linalg.slogdet(XtWX)[1] if reml else 0.0
    return 0.5 * (np.log(v1 + t).sum() + extra + (w * r * r).sum())


def _tau2(y, v, X, method: str, maxiter: int, tol: float):
    K, p, R = X.shape
    tau2, converged = np.zeros(R), np.ones(R, dtype=bool)
    if method == "FE":
        return tau2, converged
    _, _, P0 = _parts(v, X, tau2)
    qe = _quad(P0, y)
    if method == "DL":
        tr = np.einsum("rkk->r", P0)
        return np.maximum(0.0, (qe - (K - p)) / tr), converged
    if method == "PM":
        lo, hi = np.zeros(R), np.full(R, 10 * (y.var(axis=0) + v.max(axis=0)))
        need = qe > K - p
        for _ in range(200):  # bisection on the decreasing y'P(tau2)y - (K - p)
            mid = 0.5 * (lo + hi)
            above = _quad(_parts(v, X, mid)[2], y) > K - p
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
            if np.all(hi - lo < tol * np.maximum(1.0, hi)):
                break
        return np.where(need, 0.5 * (lo + hi), 0.0), converged
    converged = np.zeros(R, dtype=bool)
    reml = method == "REML"
    for _ in range(maxiter):
        w, _, P = _parts(v, X, tau2)
        Py = np.einsum("rkl,lr->kr", P, y)
        if reml:
            score = np.einsum("kr,kr->r", Py, Py) - np.einsum("rkk->r", P)
            info = np.einsum("rkl,rlk->r", P, P)
        else:
            score = np.einsum("kr,kr->r", Py, Py) - w.sum(axis=0)
            info = (w * w).sum(axis=0)
        new = np.maximum(0.0, tau2 + score / info)
        step = np.abs(new - tau2)
        tau2 = np.where(converged, tau2, new)
        converged |= step < tol * np.maximum(1.0, tau2)
        if converged.all():
            break
    for r in np.flatnonzero(~converged):  # bounded scalar fallback
        y1, v1, X1 = y[:, r], v[:, r], X[:, :, r]
        hi = 10 * (np.var(y1) + v1.max())
        res = optimize.minimize_scalar(
            lambda t, y1=y1, v1=v1, X1=X1: _neg_loglik(y1, v1, X1, t, reml),
            bounds=(0.0, hi), method="bounded", options={"xatol": 1e-12})
        better = _neg_loglik(y1, v1, X1, res.x, reml) < _neg_loglik(y1, v1, X1, 0.0, reml)
        tau2[r] = res.x if better else 0.0
        converged[r] = bool(res.success)
    return tau2, converged


def _tau2_se(method, tau2, w, P, P0, K, p):
    if method == "REML":
        return np.sqrt(2 / np.einsum("rkl,rlk->r", P, P))
    if method == "ML":
        return np.sqrt(2 / (w * w).sum(axis=0))
    if method == "DL":
        tr0 = np.einsum("rkk->r", P0)
        pp0 = np.einsum("rkl,rlk->r", P0, P0)
        return np.sqrt((2 * (K - p) + 4 * tau2 * tr0 + 2 * tau2**2 * pp0) / tr0**2)
    if method == "PM":
        return np.sqrt(2 * K**2 / (K - p) / w.sum(axis=0) ** 2)
    return np.full(tau2.shape, np.nan)


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
        The moderators (metafor's ``mods``), numbers only; named by their columns (an
        array's by ``mods``, ``mods1``, ...). A DataFrame or Series not indexed
        0..K-1 must be indexed by the study labels (rows are matched by label). Without
        ``X`` and ``mods`` the model is intercept-only (a random-effects meta-analysis).
    intercept : bool
        Add the intercept column ``"intrcpt"`` to ``mods``.
    method : {"REML", "ML", "DL", "PM", "FE"}
        Estimator of the residual :math:`\tau^2`.
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
        that are not numbers (text, missing values; the column and rows named), a
        design that is 1-D or rank-deficient (the dependent column named), mods
        indexed by other labels than the studies', both ``X`` and ``mods``, or no
        more studies than coefficients.
    ValueError
        An unknown ``method`` or ``ci_prob`` outside (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_hte.comparators import meta_regression
    >>> fit = meta_regression([0.3, -0.2, 0.25, -0.1, 0.05, 0.4],
    ...                       [0.01, 0.02, 0.015, 0.01, 0.03, 0.02], mods=np.arange(1, 7))
    >>> fit.names, round(float(fit.tau2[0]), 4)
    (('intrcpt', 'mods'), 0.0541)
    """
    check_choice("method", method, METHODS)
    check_ci_prob(ci_prob, error=ValueError)
    y, v, X, names, labels, measure, scale, has_intercept = _inputs(yi, vi, X, mods,
                                                                     intercept, labels)
    K, p, R = X.shape
    tau2, converged = _tau2(y, v, X, method, maxiter, tol)
    w, inv, P = _parts(v, X, tau2)
    beta = np.einsum("rpq,kqr,kr,kr->pr", inv, X, w, y)
    cov = np.moveaxis(inv, 0, -1).copy()
    df = np.inf
    if knha:
        cov *= (_quad(P, y) / (K - p))[None, None, :]
        df = float(K - p)
    se = np.sqrt(np.einsum("ppr->pr", cov))
    statistic = beta / se
    dist = stats.norm if np.isinf(df) else stats.t(df)
    pval = 2 * dist.sf(np.abs(statistic))
    crit = critical_value(ci_prob, df=df)
    ci = np.stack([beta - crit * se, beta + crit * se])
    _, _, P0 = _parts(v, X, np.zeros(R))
    qe = _quad(P0, y)
    if method == "FE":
        i2 = np.maximum(0.0, 100 * (qe - (K - p)) / qe)
        h2 = qe / (K - p)
    else:
        s2 = (K - p) / np.einsum("rkk->r", P0)
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
    r2 = np.full(R, np.nan)
    if has_intercept and m and method != "FE":
        tau2_0, _ = _tau2(y, v, np.ones((K, 1, R)), method, maxiter, tol)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(tau2_0 > 0, np.maximum(0.0, 100 * (tau2_0 - tau2) / tau2_0), np.nan)
    return MetaRegression(
        beta=beta, cov=cov, tau2=tau2, converged=converged, names=tuple(names), se=se,
        statistic=statistic, p=pval, ci=ci, df=df,
        tau2_se=_tau2_se(method, tau2, w, P, P0, K, p), i2=i2, h2=h2, r2=r2, qe=qe,
        qe_df=K - p, qe_p=stats.chi2.sf(qe, K - p), qm=qm, qm_df=m, qm_p=qm_p, k=K,
        method=method, knha=knha, ci_prob=ci_prob, labels=labels, measure=measure,
        scale=scale, yi=y, vi=v, X=X)
