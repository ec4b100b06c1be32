"""Survival-data helpers: Kaplan–Meier, median follow-up, piecewise exposures.

Plain numpy functions on follow-up times and event indicators, used by the
time-to-event model factories and effects (time scale, piecewise-constant baseline),
by the simulators (default horizon) and by the figures (Kaplan–Meier curves).
"""

from __future__ import annotations

import numpy as np

__all__ = ["exposure_matrix", "kaplan_meier", "median_follow_up", "step_at"]


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Kaplan–Meier estimate of the survival function.

    Product-limit estimator (Kaplan & Meier 1958):
    :math:`\hat S(t) = \prod_{t_k \le t} (1 - d_k / n_k)` over the distinct event
    times :math:`t_k`, with :math:`d_k` events among the :math:`n_k` units at risk.

    Parameters
    ----------
    time : array_like of float, shape (n,)
        Follow-up times (any unit, >= 0).
    event : array_like of bool or 0/1, shape (n,)
        Event indicator (1 = event, 0 = censored at ``time``).

    Returns
    -------
    times : ndarray of float, shape (m + 1,)
        ``0`` followed by the ``m`` distinct event times, ascending (same unit as ``time``).
    survival : ndarray of float, shape (m + 1,)
        ``1`` followed by the survival just after each event time: the knots of a
        right-continuous step function (evaluate it with :func:`step_at`).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    order = np.argsort(time, kind="stable")
    t, d = time[order], event[order]
    uniq, first = np.unique(t, return_index=True)
    at_risk = len(t) - first
    deaths = np.add.reduceat(d.astype(float), first)
    keep = deaths > 0
    surv = np.cumprod(1.0 - deaths[keep] / at_risk[keep])
    return np.concatenate([[0.0], uniq[keep]]), np.concatenate([[1.0], surv])


def step_at(knots: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evaluate a right-continuous step function at given times.

    Parameters
    ----------
    knots : ndarray of float, shape (m,)
        Ascending jump points, e.g. the ``times`` of :func:`kaplan_meier`.
    values : ndarray, shape (m,)
        Value from each knot until the next one.
    t : array_like of float, shape (...)
        Where to evaluate (same unit as ``knots``).

    Returns
    -------
    ndarray, shape (...)
        ``values[k]`` for the last knot ``k`` with ``knots[k] <= t``; times before the
        first knot take the first value.
    """
    idx = np.searchsorted(knots, np.asarray(t, dtype=float), side="right") - 1
    return values[np.clip(idx, 0, len(values) - 1)]


def median_follow_up(time: np.ndarray, event: np.ndarray) -> float:
    """Median follow-up by the reverse Kaplan–Meier method.

    The Kaplan–Meier estimate with censoring as the event and events as censored
    (Schemper & Smith 1996); its median is the median potential follow-up.

    Parameters
    ----------
    time : array_like of float, shape (n,)
        Follow-up times (>= 0).
    event : array_like of 0/1, shape (n,)
        Event indicator (1 = event, 0 = censored).

    Returns
    -------
    float
        The first time at which the reverse Kaplan–Meier curve is <= 1/2, in the unit
        of ``time``; the largest time when the curve never reaches one half.
    """
    knots, surv = kaplan_meier(time, 1 - np.asarray(event, dtype=int))
    below = np.flatnonzero(surv <= 0.5)
    return float(knots[below[0]]) if below.size else float(np.max(time))


def exposure_matrix(time: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time at risk in each interval of a piecewise-constant hazard.

    The intervals are ``[0, c_1), [c_1, c_2), ..., [c_{M-1}, inf)`` for the inner cut
    points ``0 < c_1 < ... < c_{M-1}``; the log-likelihood of the piecewise-exponential
    model uses the exposure ``E[i, m] = max(0, min(t_i, c_{m+1}) - c_m)`` of each unit in
    each interval and the interval its time falls in.

    Parameters
    ----------
    time : array_like of float, shape (n,)
        Follow-up times (>= 0).
    cuts : ndarray of float, shape (M - 1,)
        Inner cut points, ascending, in the unit of ``time``.

    Returns
    -------
    E : ndarray of float, shape (n, M)
        Time at risk per unit and interval (unit of ``time``); rows sum to ``time``.
    idx : ndarray of int, shape (n,)
        Index of the interval holding each ``time``.
    """
    time = np.asarray(time, dtype=float)
    lower = np.concatenate([[0.0], cuts])
    upper = np.concatenate([cuts, [np.inf]])
    E = np.clip(np.minimum(time[:, None], upper[None, :]) - lower[None, :], 0.0, None)
    idx = np.searchsorted(cuts, time, side="right")
    return E, idx
