r"""One result vocabulary for the frequentist comparators.

Every comparator result reports its interval the same way:

``ci_prob``
    The probability of the interval (0.95 for a 95% confidence interval); every
    comparator function takes it as the keyword ``ci_prob``.
``ci``
    The interval, an array whose leading axis of length 2 holds (low, high), so that
    ``lo, hi = result.ci`` works for one estimate and for arrays of estimates.
``ci_low``, ``ci_high``
    ``ci[0]`` and ``ci[1]`` (tables: columns of these names).

A Wald interval is :math:`\hat\theta \pm c\,\widehat{\mathrm{se}}` with
:math:`c = \Phi^{-1}(1/2 + p/2)` the standard normal quantile, or the :math:`t_{df}`
quantile when degrees of freedom are given (Hartung–Knapp–Sidik–Jonkman), with
:math:`p` = ``ci_prob``. Result classes whose interval is a Wald interval of their
``estimate`` and ``se`` inherit :class:`WaldInterval`; those that store bounds computed
otherwise (log-scale intervals mapped back, t-based intervals) store ``ci`` and inherit
:class:`IntervalBounds`.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from bayes_hte.errors import DataError

__all__ = ["IntervalBounds", "WaldInterval", "check_ci_prob", "critical_value",
           "interval_columns", "wald_interval"]


def check_ci_prob(ci_prob: float, *, error: type[Exception] = DataError) -> None:
    """Raise unless ``ci_prob`` lies strictly between 0 and 1.

    Parameters
    ----------
    ci_prob : float
        Probability of the interval (e.g. 0.95).
    error : type of Exception
        The exception raised (``DataError`` for user-facing functions, ``ValueError``
        for the numpy cores).

    Raises
    ------
    DataError or ValueError
        ``ci_prob`` is not a number in (0, 1) (e.g. a percentage such as 95, or the
        text ``"0.95"``).
    """
    # a number, not text or a bool that float() would read as one
    ok = (isinstance(ci_prob, numbers.Real) and not isinstance(ci_prob, bool | np.bool_)
          and 0.0 < float(ci_prob) < 1.0)
    if not ok:
        raise error(f"ci_prob (the confidence level) must lie in (0, 1), got {ci_prob!r}")


def critical_value(ci_prob: float, *, df: float = np.inf) -> float:
    r"""Two-sided critical value of an interval of probability ``ci_prob``.

    Parameters
    ----------
    ci_prob : float
        Probability of the interval, in (0, 1).
    df : float
        Degrees of freedom of a :math:`t` reference distribution; ``inf`` (default)
        gives the standard normal quantile.

    Returns
    -------
    float
        :math:`\Phi^{-1}(1/2 + p/2)`, or the :math:`t_{df}` quantile at the same
        probability.
    """
    q = 0.5 + ci_prob / 2.0
    if np.isinf(df):
        return float(stats.norm.ppf(q))
    return float(stats.t.ppf(q, df))


def wald_interval(estimate: npt.ArrayLike, se: npt.ArrayLike, ci_prob: float, *,
                  df: float = np.inf) -> np.ndarray:
    r"""Wald interval :math:`\hat\theta \pm c\,\widehat{\mathrm{se}}`, vectorised.

    Parameters
    ----------
    estimate, se : float or array_like
        Estimates and their standard errors, on the scale of the interval (broadcast
        against each other).
    ci_prob : float
        Probability of the interval, in (0, 1).
    df : float
        Degrees of freedom of a :math:`t` critical value; ``inf`` for the normal one.

    Returns
    -------
    ndarray, shape (2, ...)
        Lower and upper bounds along the leading axis.
    """
    est = np.asarray(estimate, dtype=float)
    half = critical_value(ci_prob, df=df) * np.asarray(se, dtype=float)
    return np.stack(np.broadcast_arrays(est - half, est + half))


def interval_columns(frame: pd.DataFrame, ci_prob: float, *, estimate: str = "estimate",
                     se: str = "se") -> pd.DataFrame:
    """Append the Wald bounds ``ci_low`` and ``ci_high`` to a table (in place).

    Parameters
    ----------
    frame : pandas.DataFrame
        A table with an estimate column and a standard-error column.
    ci_prob : float
        Probability of the interval, in (0, 1).
    estimate, se : str
        Names of the estimate and standard-error columns.

    Returns
    -------
    pandas.DataFrame
        ``frame``, with ``ci_low`` and ``ci_high`` set (appended if new).
    """
    lo, hi = wald_interval(frame[estimate].to_numpy(dtype=float),
                           frame[se].to_numpy(dtype=float), ci_prob)
    frame["ci_low"] = lo
    frame["ci_high"] = hi
    return frame


def _scalar(x):
    """0-d arrays as numpy scalars (float subclasses); other arrays unchanged."""
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


class IntervalBounds:
    """``ci_low`` and ``ci_high`` of a result that holds its interval as ``ci``.

    The class using it provides ``ci`` (a field or a property) whose leading axis of
    length 2 holds (low, high).
    """

    @property
    def ci_low(self):
        """Lower bound of ``ci``: a float, or an array of the replicate shape."""
        return _scalar(np.asarray(self.ci, dtype=float)[0])  # type: ignore[attr-defined]

    @property
    def ci_high(self):
        """Upper bound of ``ci``: a float, or an array of the replicate shape."""
        return _scalar(np.asarray(self.ci, dtype=float)[1])  # type: ignore[attr-defined]


class WaldInterval(IntervalBounds):
    """``ci``, ``ci_low``, ``ci_high``: the Wald interval of ``estimate`` and ``se``.

    The class using it provides ``estimate``, ``se`` and ``ci_prob``.
    """

    @property
    def ci(self) -> np.ndarray:
        """Wald interval at ``ci_prob``, shape (2, ...): ``lo, hi = result.ci``."""
        return wald_interval(self.estimate, self.se, self.ci_prob)  # type: ignore[attr-defined]
