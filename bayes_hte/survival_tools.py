"""Small survival-analysis tools: Kaplan–Meier, median follow-up, piecewise exposures."""

from __future__ import annotations

import numpy as np


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier estimate: distinct event times and the survival just after each.

    Returns ``(times, survival)`` as step-function knots, starting at ``(0, 1)``.
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
    """Evaluate a right-continuous step function given by ``kaplan_meier`` at ``t``."""
    idx = np.searchsorted(knots, np.asarray(t, dtype=float), side="right") - 1
    return values[np.clip(idx, 0, len(values) - 1)]


def median_follow_up(time: np.ndarray, event: np.ndarray) -> float:
    """Median follow-up by the reverse Kaplan–Meier method (censoring as the event).

    Falls back to the largest time when the reverse KM never reaches one half.
    """
    knots, surv = kaplan_meier(time, 1 - np.asarray(event, dtype=int))
    below = np.flatnonzero(surv <= 0.5)
    return float(knots[below[0]]) if below.size else float(np.max(time))


def exposure_matrix(time: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time at risk in each interval of a piecewise-constant hazard, and the interval of ``time``.

    ``cuts`` are the inner cut points ``0 < c_1 < ... < c_{M-1}``; the intervals are
    ``[0, c_1), [c_1, c_2), ..., [c_{M-1}, inf)``. Returns ``E`` of shape (n, M) with
    ``E[i, m] = max(0, min(t_i, c_{m+1}) - c_m)`` and the index of the interval
    holding ``t_i``.
    """
    time = np.asarray(time, dtype=float)
    lower = np.concatenate([[0.0], cuts])
    upper = np.concatenate([cuts, [np.inf]])
    E = np.clip(np.minimum(time[:, None], upper[None, :]) - lower[None, :], 0.0, None)
    idx = np.searchsorted(cuts, time, side="right")
    return E, idx
