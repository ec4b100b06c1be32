r"""E-for-benefit: the smoothed calibration curve of benefit in matched pairs.

Treated and control patients are matched 1:1 on the rank of predicted benefit (the
pairs of the c-for-benefit, :func:`bayes_hte.evaluation.matching.match_pairs`); the
observed pair benefit is smoothed against the predicted pair benefit by local
regression (loess), and the E-statistics summarise the absolute distance between the
smoothed curve and the diagonal: Eavg (mean), E50 (median) and E90 (90th percentile)
over the pairs. Conventions as in :mod:`bayes_hte.evaluation.metrics`: ``y`` = 1 is the
unfavourable event, benefit is larger when treatment is better, and ``benefit`` may be a
vector or posterior draws (one E per draw).

References
----------
van Klaveren D, Steyerberg EW, Serruys PW, Kent DM (2018). The proposed 'concordance-
statistic for benefit' provided a useful metric when modeling heterogeneous treatment
effects. J Clin Epidemiol 94:59-68 (the matched pairs).

Efthimiou O, Hoogland J, Debray TPA, et al. (2023). Measuring the performance of
prediction models to personalize treatment choice. Stat Med 42:1188-1206 (the
E-for-benefit statistics).

Maas CCHM, Kent DM, Hughes MC, Dekker R, Lingsma HF, van Klaveren D (2023). Performance
metrics for models designed to predict treatment effect. BMC Med Res Methodol 23:165;
R package HTEPredictionMetrics, function ``E.for.Benefit``.

Cleveland WS, Grosse E, Shyu WM (1992). Local regression models. Chapter 8 of
Statistical Models in S (the loess of R's ``stats::loess``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.errors import DataError
from bayes_hte.evaluation._inputs import (
    Draws,
    Metric,
    RandomState,
    as_rng,
    as_rows,
    check_outcomes,
    posterior_row,
    real_array,
)
from bayes_hte.evaluation.matching import match_pairs, pair_benefit
from bayes_hte.options import check_count

__all__ = ["EForBenefit", "e_for_benefit", "loess"]

#: Quantiles of |smoothed - predicted| reported as E50 and E90.
_E_QUANTILES = (0.5, 0.9)


# --------------------------------------------------------------------------- loess
def loess(x: ArrayLike, y: ArrayLike, *, span: float = 0.75, degree: int = 2,
          at: ArrayLike | None = None) -> np.ndarray:
    r"""Local polynomial regression of ``y`` on one predictor ``x`` (loess).

    At each point :math:`x_0` the :math:`q = \lfloor \text{span}\cdot n \rfloor` nearest
    observations are weighted by the tricube kernel
    :math:`w_i = (1 - (|x_i - x_0| / h)^3)^3` (:math:`h`: the distance to the q-th
    nearest observation; observations at distance :math:`\ge h` weigh 0), a polynomial
    of degree ``degree`` in :math:`x - x_0` is fitted by weighted least squares and its
    value at :math:`x_0` is returned (Cleveland, Grosse & Shyu 1992). This is the fit of
    R's ``stats::loess(y ~ x, span = span, degree = degree, family = "gaussian")`` with
    ``surface = "direct"`` (checked to 1e-12 in the tests); R's default
    ``surface = "interpolate"`` approximates it by interpolation over a k-d tree.

    A local design of rank below ``degree + 1`` (fewer distinct ``x`` with positive
    weight, e.g. ties) is solved by the minimum-norm least-squares solution; when
    :math:`h = 0` (at least :math:`q` observations tied at :math:`x_0`) the tied
    observations weigh 1, so the fit is their mean.

    Parameters
    ----------
    x, y : array (n,) or (m, n)
        Predictor and response; with ``m`` rows every row is smoothed separately.
    span : float
        Share of the observations in each neighbourhood, in (0, 1]; R's default 0.75.
    degree : {0, 1, 2}
        Degree of the local polynomial; R's default 2.
    at : array (g,) or (m, g), optional
        Where to evaluate the curve (default: at ``x``, the fitted values).

    Returns
    -------
    ndarray (n,) / (m, n), or (g,) / (m, g) with ``at``
        The smoothed ``y``, same scale as ``y``.

    Raises
    ------
    DataError
        ``x``, ``y`` or ``at`` not finite real numbers (text such as ``"0.1"`` and
        bools are refused, naming the entry), ``x`` and ``y`` of different shapes,
        ``span`` not a number in (0, 1], ``degree`` not the integer 0, 1 or 2 (not a
        bool), or fewer than ``degree + 1`` observations in a neighbourhood
        (:math:`q \le` ``degree``).
    """
    vector = np.ndim(x) == 1
    xr_ = np.atleast_2d(real_array(x, "loess: x"))
    yr = np.atleast_2d(real_array(y, "loess: y"))
    if xr_.shape != yr.shape or xr_.ndim != 2:
        raise DataError(f"loess: x has shape {np.shape(x)} but y has {np.shape(y)}")
    span, degree = _loess_options(span, degree)
    m, n = xr_.shape
    q = int(np.floor(n * span + 1e-10))
    if q < degree + 1:
        raise DataError(f"loess: a neighbourhood holds floor(span * n) = {q} of n = {n} "
                        f"observations, fewer than the {degree + 1} a local polynomial of "
                        f"degree {degree} needs; more observations or a larger span")
    if at is None:
        ar = xr_
    else:
        ar = np.atleast_2d(real_array(at, "loess: at"))
        if ar.shape[0] == 1 and m > 1:
            ar = np.broadcast_to(ar, (m, ar.shape[1]))
        if ar.shape[0] != m or not np.isfinite(ar).all():
            raise DataError(f"loess: at has shape {np.shape(at)}; it needs one finite row "
                            f"per row of x ({m})")
    out = _loess_rows(xr_, yr, np.ascontiguousarray(ar), q, degree)
    return out[0] if vector and (at is None or np.ndim(at) == 1) else out


def _loess_options(span: object, degree: object) -> tuple[float, int]:
    """``span`` a number in (0, 1] and ``degree`` the integer 0, 1 or 2 (not bools, not
    text), or a DataError naming the option."""
    if (isinstance(span, bool | np.bool_) or not isinstance(span, numbers.Real)
            or not 0 < span <= 1):
        raise DataError(f"loess: span must be a number in (0, 1], got {span!r}")
    return float(span), check_count("loess: degree", degree, low=0, high=2, error=DataError)


def _loess_rows(x: np.ndarray, y: np.ndarray, at: np.ndarray, q: int, degree: int
                ) -> np.ndarray:
    """The rows of :func:`loess` (x, y: (m, n); at: (m, g)): the q nearest observations
    of each point form a window of consecutive observations in sorted order. The window
    sums of all rows are computed in one parallel call (one thread pool start per call,
    not per row: on a busy machine a start per row cost more than the sums)."""
    m, n = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.ascontiguousarray(np.take_along_axis(x, order, axis=1))
    ys = np.ascontiguousarray(np.take_along_axis(y, order, axis=1))
    # start of the window of the q nearest: the first l with xs[l] + xs[l+q] >= 2 x0
    # (moving the window right no longer brings a nearer point in)
    start = _window_starts(xs, at, q)
    # rank of each local design: the distinct x with positive weight, a run of
    # consecutive sorted observations (ranked by ``distinct``)
    distinct = np.cumsum(np.c_[np.ones((m, 1), bool), xs[:, 1:] != xs[:, :-1]], axis=1)
    moments, rhs, zero_h, first, last = _window_moments(xs, ys, at, start, q, degree)
    full = (np.take_along_axis(distinct, last, axis=1)
            - np.take_along_axis(distinct, first, axis=1) + 1 >= degree + 1)
    p = degree + 1
    gram = moments[..., np.arange(p)[:, None] + np.arange(p)[None, :]]   # (m, g, p, p)
    beta0 = np.empty(at.shape)
    if full.any():
        try:
            beta0[full] = np.linalg.solve(gram[full], rhs[full][..., None])[:, 0, 0]
        except np.linalg.LinAlgError:                      # numerically singular
            full[:] = False
    if (~full).any():
        beta0[~full] = (np.linalg.pinv(gram[~full]) @ rhs[~full][..., None])[:, 0, 0]
    for r in np.flatnonzero(zero_h.any(axis=1)):
        # q or more observations tied at x0: the mean of all of them (not of the q that
        # happen to be in the window)
        tied = zero_h[r]
        a = np.searchsorted(xs[r], at[r, tied], side="left")
        b = np.searchsorted(xs[r], at[r, tied], side="right")
        csum = np.r_[0.0, np.cumsum(ys[r])]
        beta0[r, tied] = (csum[b] - csum[a]) / (b - a)
    return beta0


@numba.njit(cache=True, nogil=True, parallel=True)
def _window_starts(xs, at, q):  # pragma: no cover - compiled
    """Start of the window of the ``q`` nearest observations of each point (xs: (m, n),
    sorted rows; at: (m, g)): the first ``l`` with ``xs[l] + xs[l + q] >= 2 x0``
    (moving the window right no longer brings a nearer point in), by binary search;
    0 when ``q = n``. No fastmath: the sums and the comparison are those of NumPy's
    ``searchsorted(xs[:n-q] + xs[q:], 2 * at, side="left")``."""
    m, g_n = at.shape
    n = xs.shape[1]
    start = np.zeros((m, g_n), dtype=np.int64)
    if q >= n:
        return start
    for k in numba.prange(m * g_n):
        r = k // g_n
        g = k - r * g_n
        target = 2 * at[r, g]
        lo = 0
        hi = n - q
        while lo < hi:
            mid = (lo + hi) // 2
            if xs[r, mid] + xs[r, mid + q] < target:
                lo = mid + 1
            else:
                hi = mid
        start[r, g] = lo
    return start


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _window_moments(xs, ys, at, start, q, degree):  # pragma: no cover - compiled
    """Tricube-weighted moments of each evaluation point's window, in one pass.

    Row ``r`` of ``xs``, ``ys`` (m, n; ``xs`` sorted) and ``at``, ``start`` (m, g);
    for its point ``g`` with window ``xs[start[g]:start[g] + q]``: ``h`` the larger distance
    from ``at[g]`` to the window's ends, ``t = (x - at[g]) / h`` (``h = 0``: all tied,
    weights 1), ``w = (1 - |t|^3)^3`` with ``1 - |t|^3 < 1e-4`` set to 0 (rounding can
    leave a point at distance ``h`` a weight of 1e-46 instead of 0), then
    ``moments[r, g, k] = sum w t^k`` (k <= 2 degree), ``rhs[r, g, k] = sum w t^k y``
    (k <= degree), and the first and last window index with a positive weight.

    The weight falls with the distance and ``xs`` is sorted, so the points with a
    positive weight are one run: it is found by scanning in from both window ends, and
    the sums run over it without a branch (which lets LLVM vectorise them; 2.2x faster
    than a loop testing each point, same sums to 1e-12).
    """
    m, g_n = at.shape
    moments = np.zeros((m, g_n, 5))
    rhs = np.zeros((m, g_n, 3))
    zero_h = np.zeros((m, g_n), dtype=np.bool_)
    first = np.empty((m, g_n), dtype=np.int64)
    last = np.empty((m, g_n), dtype=np.int64)
    for k in numba.prange(m * g_n):  # independent windows, shared out to the threads
        r = k // g_n
        g = k - r * g_n
        xs_r = xs[r]
        ys_r = ys[r]
        st = start[r, g]
        en = st + q - 1
        x0 = at[r, g]
        h = max(x0 - xs_r[st], xs_r[en] - x0)
        if h <= 0:  # all tied at x0: weights 1, t = 0
            zero_h[r, g] = True
            r0 = 0.0
            for i in range(st, en + 1):
                r0 += ys_r[i]
            moments[r, g, 0] = q
            rhs[r, g, 0] = r0
            first[r, g] = st
            last[r, g] = en
            continue
        inv = 1.0 / h
        lo = st
        while lo <= en:
            a = abs((xs_r[lo] - x0) * inv)
            if 1.0 - a * a * a >= 1e-4:
                break
            lo += 1
        hi = en
        while hi >= lo:
            a = abs((xs_r[hi] - x0) * inv)
            if 1.0 - a * a * a >= 1e-4:
                break
            hi -= 1
        m0 = m1 = m2 = m3 = m4 = r0 = r1 = r2 = 0.0
        for i in range(lo, hi + 1):
            t = (xs_r[i] - x0) * inv
            a = abs(t)
            u = 1.0 - a * a * a
            w = u * u * u
            yi = ys_r[i]
            w1 = w * t
            w2 = w1 * t
            m0 += w
            m1 += w1
            m2 += w2
            m3 += w2 * t
            m4 += w2 * t * t
            r0 += w * yi
            r1 += w1 * yi
            r2 += w2 * yi
        moments[r, g, 0] = m0
        moments[r, g, 1] = m1
        moments[r, g, 2] = m2
        moments[r, g, 3] = m3
        moments[r, g, 4] = m4
        rhs[r, g, 0] = r0
        rhs[r, g, 1] = r1
        rhs[r, g, 2] = r2
        first[r, g] = lo if lo <= hi else st
        last[r, g] = hi if lo <= hi else st
    return moments[..., : 2 * degree + 1], rhs[..., : degree + 1], zero_h, first, last


# --------------------------------------------------------------------------- E-for-benefit
@dataclass(frozen=True)
class EForBenefit:
    r"""E-for-benefit and the smoothed calibration curve of benefit.

    Built by :func:`e_for_benefit`. Arrays have a leading shape ``(...)`` of the input's
    non-patient axes (empty for a benefit vector). Benefits are risk differences on the
    probability scale (larger = treatment better); the E-statistics are on that scale.

    Parameters
    ----------
    eavg, e50, e90 : float, ndarray (...) or DataArray
        Mean, median and 90th percentile over the pairs of
        :math:`|\tilde B_p - \hat b_p|`, the distance between the smoothed observed and
        the predicted pair benefit (ideal 0). One value per draw for draws (a DataArray
        ``(chain, draw)`` for a ``(chain, draw, patient)`` input); averaged over the
        ``n_resamples`` subsamples with unequal arms.
    predicted, observed, smoothed : ndarray (..., k)
        Per pair of the first subsample: predicted pair benefit :math:`\hat b_p`
        (mean of the two members' predictions), observed pair benefit
        :math:`B_p = y_c - y_t` and the loess fit :math:`\tilde B_p`.
    grid : ndarray (g,)
        Predicted benefit at which the curve is evaluated.
    curve : ndarray (..., g)
        The loess curve of observed on predicted pair benefit on ``grid`` (first
        subsample); NaN outside the range of the row's predicted pair benefits.
    boot : ndarray (..., n_bootstrap, 3) or None
        Eavg, E50, E90 of each bootstrap resample of the pairs (``None`` without
        bootstrap).
    boot_curve : ndarray (..., n_bootstrap, g) or None
        The curve of each bootstrap resample on ``grid``.
    span, degree : float, int
        The loess settings.
    """

    eavg: Metric
    e50: Metric
    e90: Metric
    predicted: np.ndarray
    observed: np.ndarray
    smoothed: np.ndarray
    grid: np.ndarray
    curve: np.ndarray
    boot: np.ndarray | None
    boot_curve: np.ndarray | None
    span: float
    degree: int

    def table(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """The three E-statistics with their intervals, one row each.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Index ``metric`` (``eavg``, ``e50``, ``e90``); columns ``estimate``, ``sd``,
            ``ci_low``, ``ci_high``, ``interval``. For a benefit vector: the estimate
            and the bootstrap percentile interval and SD over the resampled pairs
            (``interval = "bootstrap"``; NaN without bootstrap). For draws: the
            posterior mean, SD and equal-tailed interval over the draws
            (``interval = "posterior"``).

        Raises
        ------
        ValueError
            ``ci_prob`` not in (0, 1).
        """
        _check_prob(ci_prob)
        tails = [(1 - ci_prob) / 2, (1 + ci_prob) / 2]
        rows = []
        for j, name in enumerate(("eavg", "e50", "e90")):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.ndim == 0:
                b = None if self.boot is None else self.boot[:, j]
                b = None if b is None else b[np.isfinite(b)]
                ok = b is not None and b.size > 1
                lo, hi = np.quantile(b, tails) if ok else (np.nan, np.nan)
                rows.append({"metric": name, "estimate": float(value),
                             "sd": float(b.std(ddof=1)) if ok else np.nan,
                             "ci_low": lo, "ci_high": hi,
                             "interval": "bootstrap" if ok else ""})
            else:
                rows.append(posterior_row(name, value, ci_prob, sd_name="sd"))
        return pd.DataFrame(rows).set_index("metric")

    def curve_table(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """The smoothed calibration curve of benefit on the grid, with a pointwise band.

        Parameters
        ----------
        ci_prob : float
            Probability of the pointwise equal-tailed band, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Columns ``predicted`` (the grid, benefit scale), ``observed`` (the smoothed
            observed benefit: the curve of a benefit vector, the pointwise posterior
            mean of the draws' curves), ``ci_low``, ``ci_high`` (pointwise percentile
            band over the bootstrap resamples of the pairs for a vector, NaN without
            bootstrap; over the draws' curves for draws; NaN where fewer than 80% of
            the resamples or draws reach that far) and ``interval``.

        Raises
        ------
        ValueError
            ``ci_prob`` not in (0, 1).
        """
        _check_prob(ci_prob)
        tails = [(1 - ci_prob) / 2, (1 + ci_prob) / 2]
        if self.curve.ndim == 1:
            est, spread, kind = self.curve, self.boot_curve, "bootstrap"
        else:
            spread = self.curve.reshape(-1, self.grid.size)
            est, kind = _nanmean(spread), "posterior"
        if spread is None or spread.shape[0] < 2:
            lo = hi = np.full(self.grid.size, np.nan)
            kind = ""
        else:
            lo, hi = _nanquantile(spread, tails)
        return pd.DataFrame({"predicted": self.grid, "observed": est, "ci_low": lo,
                             "ci_high": hi, "interval": kind})


def e_for_benefit(y: ArrayLike, treatment: ArrayLike, benefit: Draws, *,
                  strata: ArrayLike | None = None, span: float = 0.75, degree: int = 2,
                  random_state: RandomState = None, n_resamples: int = 1,
                  n_bootstrap: int = 0, grid: ArrayLike | int = 41) -> EForBenefit:
    r"""E-for-benefit (Eavg, E50, E90): calibration for benefit in matched pairs.

    Treated and control patients are matched 1:1 on the rank of predicted benefit, as
    for the c-for-benefit (:func:`bayes_hte.evaluation.matching.match_pairs`: within
    ``strata``; the larger arm subsampled at random; ties ordered at random, and for a
    given ``random_state`` independently of the order of the rows). Pair
    :math:`p` (treated :math:`t`, control :math:`c`) has the predicted and the observed
    benefit

    .. math::

        \hat b_p = \tfrac12\{\hat b(x_t) + \hat b(x_c)\}, \qquad
        B_p = y_c - y_t \in \{-1, 0, 1\}.

    The observed pair benefit is smoothed against the predicted one by loess
    (:func:`loess`: local quadratic, span 0.75, tricube weights — R's ``stats::loess``
    defaults), giving :math:`\tilde B_p`, and with :math:`e_p = |\tilde B_p - \hat b_p|`
    (the distance of the calibration curve from the diagonal at each pair),

    .. math::

        E_{avg} = \frac1k \sum_p e_p, \qquad E_{50} = \mathrm{median}_p\, e_p, \qquad
        E_{90} = q_{0.9}(e_p)

    (the 90th percentile by linear interpolation, R's ``quantile`` type 7). These are
    the E-for-benefit statistics of Efthimiou et al. (2023) and Maas et al. (2023) as
    computed by ``HTEPredictionMetrics::E.for.Benefit``, with three differences: (1) the
    pairs are those of the c-for-benefit here (rank matching on predicted benefit,
    within trials), where ``E.for.Benefit`` matches with ``MatchIt`` (nearest neighbour
    on covariates or on the prediction); (2) the predicted pair benefit is the mean of
    the members' predicted benefits (van Klaveren et al. 2018), where ``E.for.Benefit``
    takes the control member's risk under control minus the treated member's risk under
    treatment — a model's benefit alone does not give the arm risks; (3) the loess is
    evaluated exactly at each pair (R's ``surface = "direct"``), where R's default
    interpolates it over a k-d tree. With the same pairs and ``surface = "direct"`` the
    numbers are R's (tests). With the same ``random_state`` and ``strata`` as
    :func:`~bayes_hte.evaluation.metrics.c_for_benefit`, the pairs are the same.

    All predicted benefits tied: the curve is the mean observed pair benefit (each
    neighbourhood is all tied), so the E-statistics measure calibration in the large,
    :math:`|\bar B - \hat b|`.

    Parameters
    ----------
    y : array (n,)
        Binary outcome, 1 = event (the unfavourable outcome).
    treatment : array (n,)
        0/1 randomized treatment.
    benefit : array (n,), array (..., n) or DataArray with a ``patient`` dim
        Predicted benefit (larger = treatment better, risk-difference scale); draws
        give the E-statistics per draw (their posterior).
    strata : array (n,), optional
        Match within strata (the trials of an IPD-MA), then pool the pairs.
    span : float
        Loess span, in (0, 1] (share of the pairs in each neighbourhood).
    degree : {0, 1, 2}
        Degree of the local polynomial.
    random_state : int or numpy Generator, optional
        Seed of the matching (subsampling of the larger arm, ties) and of the bootstrap.
    n_resamples : int
        Subsamples of the larger arm averaged per row when the arms are unequal (as
        ``n_resamples`` of :func:`~bayes_hte.evaluation.metrics.c_for_benefit`).
    n_bootstrap : int
        Bootstrap resamples of the pairs (with replacement, loess refitted on each; as
        the ``CI`` option of ``E.for.Benefit``) per row, for :meth:`EForBenefit.table`
        and the band of :meth:`EForBenefit.curve_table`; 0 = none. Each costs one loess.
    grid : int or array (g,)
        Points of predicted benefit at which the curve is evaluated: a number of
        equally spaced points over the range of the predicted pair benefits (all
        rows), or the points themselves.

    Returns
    -------
    EForBenefit
        ``eavg``, ``e50``, ``e90`` (a float for a benefit vector; one per draw
        otherwise), the pairs, the fitted curve and the bootstrap resamples.

    Raises
    ------
    DataError
        Non-binary ``y`` or ``treatment``, a missing arm or a stratum without one arm,
        non-finite benefit, too few pairs for the loess (fewer than
        ``(degree + 1) / span``), a bad ``span`` or ``degree`` (:func:`loess`), or a
        bad ``grid`` (an integer below 2, a bool or text, or points that are not finite
        real numbers).
    ValueError
        ``n_resamples < 1`` or ``n_bootstrap < 0``.

    Examples
    --------
    >>> y = [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    >>> z = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> b = [0.3, 0.1, 0.2, 0.4, 0.0, 0.5, 0.05, 0.35, 0.15, 0.25, 0.45, 0.0]
    >>> round(e_for_benefit(y, z, b, degree=1).eavg, 4)
    0.2527
    """
    y, z = check_outcomes(y, treatment)
    rows, restore = as_rows(benefit, y.size)
    n_resamples = check_count("n_resamples", n_resamples, low=1)
    n_bootstrap = check_count("n_bootstrap", n_bootstrap, low=0)
    span, degree = _loess_options(span, degree)
    if np.ndim(grid) != 0:
        grid = real_array(grid, "grid")
    else:
        grid = check_count("grid", grid, low=2, error=DataError)
    rng = as_rng(random_state)
    pairs = []
    for _ in range(int(n_resamples)):
        # the call sequence of c_for_benefit: the same random_state gives the same pairs
        it, ic = match_pairs(z, rows, random_state=rng, strata=strata, y=y)
        pairs.append(pair_benefit(y, rows, it, ic))
    pred0, obs0 = pairs[0]
    k = pred0.shape[1]
    q = int(np.floor(k * span + 1e-10))
    if q < degree + 1:
        raise DataError(f"E-for-benefit: {k} matched pairs are too few for the loess "
                        f"(span {span} x {k} pairs = {q} per neighbourhood; a local "
                        f"polynomial of degree {degree} needs {degree + 1})")
    grid = _grid(grid, pred0)
    # every subsample has the same number of pairs: one loess over all their rows
    pred_all = np.concatenate([pred for pred, _ in pairs])
    smooth = loess(pred_all, np.concatenate([obs for _, obs in pairs]), span=span,
                   degree=degree)
    m = pred0.shape[0]
    stats = _e_stats(np.abs(smooth - pred_all)).reshape(len(pairs), m, 3)
    smooth0 = smooth[:m]
    e = stats.mean(axis=0)                                  # (m, 3)
    curve = _curve(pred0, obs0, grid, span, degree)
    boot = boot_curve = None
    if int(n_bootstrap) > 0:
        boot, boot_curve = _bootstrap(pred0, obs0, grid, span, degree, int(n_bootstrap), rng)
    lead = np.shape(restore(np.zeros(rows.shape[0])))

    def shaped(a):
        return None if a is None else a.reshape(*lead, *a.shape[1:])

    return EForBenefit(eavg=restore(e[:, 0]), e50=restore(e[:, 1]), e90=restore(e[:, 2]),
                       predicted=shaped(pred0), observed=shaped(obs0),
                       smoothed=shaped(smooth0), grid=grid, curve=shaped(curve),
                       boot=shaped(boot), boot_curve=shaped(boot_curve), span=span,
                       degree=degree)


def _e_stats(dist: np.ndarray) -> np.ndarray:
    """(m, k) distances -> (m, 3): mean, median, 90th percentile (R type 7)."""
    qs = np.quantile(dist, _E_QUANTILES, axis=-1)
    return np.stack([dist.mean(axis=-1), qs[0], qs[1]], axis=-1)


def _grid(grid: int | np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The evaluation points: ``grid`` (checked) points over the range of ``pred``, or
    the given finite points, sorted."""
    if np.ndim(grid) == 0:
        lo, hi = float(pred.min()), float(pred.max())
        return np.linspace(lo, hi, grid) if hi > lo else np.array([lo])
    return np.sort(grid.ravel())


def _curve(pred: np.ndarray, obs: np.ndarray, grid: np.ndarray, span: float, degree: int
           ) -> np.ndarray:
    """Loess of each row on the grid; NaN outside the row's range of predictions."""
    curve = loess(pred, obs, span=span, degree=degree, at=np.broadcast_to(
        grid, (pred.shape[0], grid.size)))
    inside = (grid >= pred.min(axis=1, keepdims=True)) & (grid <= pred.max(axis=1,
                                                                          keepdims=True))
    return np.where(inside, curve, np.nan)


def _bootstrap(pred, obs, grid, span, degree, n_boot, rng):
    """Pairs resampled with replacement, loess refitted: E-statistics and curves."""
    m, k = pred.shape
    # the draws of n_boot successive (m, k) calls, in one: resample b is rows b*m...
    pick = rng.integers(0, k, size=(n_boot * m, k))
    rows = np.tile(np.arange(m), n_boot)
    bp = np.take_along_axis(pred[rows], pick, 1)
    bo = np.take_along_axis(obs[rows], pick, 1)
    boot = _e_stats(np.abs(loess(bp, bo, span=span, degree=degree) - bp))
    curves = _curve(bp, bo, grid, span, degree)
    return (boot.reshape(n_boot, m, 3).transpose(1, 0, 2),
            curves.reshape(n_boot, m, grid.size).transpose(1, 0, 2))


def _check_prob(ci_prob: float) -> None:
    check_ci_prob(ci_prob, error=ValueError)


def _nanmean(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(axis=0), np.where(ok, a, 0).sum(axis=0) / ok.sum(axis=0),
                        np.nan)


def _nanquantile(a: np.ndarray, tails) -> tuple[np.ndarray, np.ndarray]:
    # only where most curves reach: near the ends of the range few resamples (or draws)
    # have pairs that far out, and a band from those few would be misleadingly narrow
    ok = np.isfinite(a).mean(axis=0) >= 0.8
    lo = np.full(a.shape[1], np.nan)
    hi = np.full(a.shape[1], np.nan)
    if ok.any():
        lo[ok], hi[ok] = np.nanquantile(a[:, ok], tails, axis=0)
    return lo, hi
