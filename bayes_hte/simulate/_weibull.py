r"""Weibull time-to-event outcomes for :func:`bayes_hte.simulate.bouvier2024`.

Bouvier et al. (2024) draw event times from a Weibull distribution with shape
:math:`k = 1.15` and scale :math:`b = a / \exp(\ell)` with :math:`a = 50` (their
"stretch" parameterisation, written here as R's ``rweibull(shape = k, scale = b)``):

.. math::

    T = b\,(-\log U)^{1/k}, \qquad S(t \mid x, z) = \exp\{-(t\, e^{\ell(x,z)} / a)^k\},

a proportional-hazards model whose log-hazard coefficients are :math:`k` times the
coefficients in :math:`\ell` (returned in ``truth["log_hazard"]``). Follow-up ends at
``follow_up`` (administrative censoring) or earlier at an exponential random
censoring time with rate ``censoring_rate``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_hte.data.survival import median_follow_up
from bayes_hte.errors import DataError


def add_weibull_outcome(df: pd.DataFrame, truth: dict, *, lp0: np.ndarray, lp1: np.ndarray,
                        lp0_avg: np.ndarray, lp1_avg: np.ndarray, rng: np.random.Generator,
                        shape: float = 1.15, a: float = 50.0, follow_up: float = 100.0,
                        censoring_rate: float = 0.002,
                        horizon: float | None = None) -> tuple[pd.DataFrame, dict]:
    r"""Add Weibull event times and the true survival difference at ``horizon``.

    Parameters
    ----------
    df : pandas.DataFrame
        The simulated patients (n rows, with a 0/1 column ``treat``); copied.
    truth : dict
        The data-generating parameters so far (``alpha``, ``gamma``, ``theta``,
        ``eta``); copied.
    lp0, lp1 : ndarray of float, shape (n,)
        Linear predictors :math:`\ell` of each patient under control and treatment,
        in the patient's own trial.
    lp0_avg, lp1_avg : ndarray of float, shape (n,)
        The same in an average trial.
    rng : numpy.random.Generator
        Random numbers (event and censoring times).
    shape, a : float
        Weibull shape :math:`k` and time scale :math:`a` (time units).
    follow_up : float
        Administrative censoring time (time units).
    censoring_rate : float
        Rate of the exponential random censoring (per time unit; 0 = none).
    horizon : float, optional
        Time at which the true survival difference is computed; default the median
        follow-up (reverse Kaplan–Meier) of the simulated data.

    Returns
    -------
    data : pandas.DataFrame
        ``df`` plus ``time``, ``event``, ``s0``, ``s1`` (true survival at ``horizon``),
        ``true_ite = s1 - s0`` and ``true_ite_average``.
    truth : dict
        ``truth`` plus the Weibull settings, ``horizon`` and ``log_hazard`` (the
        log-hazard coefficients, :math:`k` times those of :math:`\ell`).

    Raises
    ------
    DataError
        A non-positive ``shape``, ``a`` or ``follow_up`` or a negative ``censoring_rate``.
    """
    if shape <= 0 or a <= 0 or follow_up <= 0 or censoring_rate < 0:
        raise DataError("shape, a and follow_up must be > 0 and censoring_rate >= 0")
    treat = df["treat"].to_numpy()
    lp = np.where(treat == 1, lp1, lp0)
    scale = a / np.exp(lp)
    t_event = scale * (-np.log(rng.uniform(size=len(df)))) ** (1.0 / shape)
    t_cens = np.full(len(df), follow_up)
    if censoring_rate > 0:
        t_cens = np.minimum(t_cens, rng.exponential(1.0 / censoring_rate, len(df)))
    time = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(np.int64)
    df = df.copy()
    df["time"] = time
    df["event"] = event
    if horizon is None:
        horizon = median_follow_up(time, event)

    def surv(lin):
        return np.exp(-((horizon * np.exp(lin) / a) ** shape))

    df["s0"], df["s1"] = surv(lp0), surv(lp1)
    df["true_ite"] = df["s1"] - df["s0"]
    df["true_ite_average"] = surv(lp1_avg) - surv(lp0_avg)
    truth = dict(truth)
    truth.update(shape=shape, a=a, follow_up=follow_up, censoring_rate=censoring_rate,
                 horizon=float(horizon))
    truth["log_hazard"] = {
        "intercept": shape * (truth["alpha"] - np.log(a)),
        "gamma": shape * truth["gamma"],
        "theta": {k: shape * v for k, v in truth["theta"].items()},
        "eta": {k: shape * v for k, v in truth["eta"].items()},
    }
    return df, truth
