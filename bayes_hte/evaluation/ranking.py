r"""Rank-weighted average treatment effects (RATE): the TOC curve, AUTOC and Qini.

A prioritization rule ranks patients by predicted benefit; the targeting operator
characteristic (TOC) compares the average treatment effect among the top-:math:`q`
fraction with the overall one, and the RATE family integrates it (Yadlowsky et al.
2025). Conventions as in :mod:`bayes_hte.evaluation.metrics`: ``y`` = 1 is the
unfavourable event and the benefit (the priority) is larger when treatment is better, so
treatment effects here are risk *reductions*, :math:`E[y(0) - y(1)]`.

References
----------
Yadlowsky S, Fleming S, Shah N, Brunskill E, Wager S (2025). Evaluating treatment
prioritization rules via rank-weighted average treatment effects. J Am Stat Assoc
120:38-51. R package grf, function ``rank_average_treatment_effect``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.errors import DataError, format_rows
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
from bayes_hte.options import check_count

__all__ = ["RankAverageEffect", "benefit_scores", "rate"]

#: grf's default grid of the TOC curve: 10%, 20%, ..., 100%.
DEFAULT_Q = tuple(np.round(np.arange(1, 11) / 10, 10))


# --------------------------------------------------------------------------- scores
def benefit_scores(y: ArrayLike, treatment: ArrayLike, *, strata: ArrayLike | None = None
                   ) -> np.ndarray:
    r"""Unbiased per-patient scores of the benefit of treatment in a randomized trial.

    Within stratum :math:`s` (a trial) with :math:`n_s` patients, :math:`n_{1s}`
    treated, treated share :math:`\pi_s = n_{1s}/n_s` and arm event rates
    :math:`\bar y_{1s}, \bar y_{0s}`, patient :math:`i` gets the augmented
    inverse-probability-weighted score

    .. math::

        \Gamma_i = (\bar y_{0s} - \bar y_{1s})
                   + \frac{(1 - z_i)(y_i - \bar y_{0s})}{1 - \pi_s}
                   - \frac{z_i (y_i - \bar y_{1s})}{\pi_s},

    the score of grf's ``get_scores`` for a causal forest with the outcome model
    replaced by the arm mean of the stratum and the propensity by the randomization
    ratio (the arm share). Its average over a whole stratum is exactly the difference
    in means :math:`\bar y_{0s} - \bar y_{1s}`; its average over any set of patients
    chosen without looking at the outcomes estimates that set's average benefit
    (randomization makes :math:`z` independent of the ranking). Risk reduction scale:
    positive = fewer events with treatment.

    Parameters
    ----------
    y : array (n,)
        Binary outcome, 1 = event (the unfavourable outcome).
    treatment : array (n,)
        0/1 randomized treatment.
    strata : array (n,), optional
        Trials (or randomization strata): scores are formed within each.

    Returns
    -------
    ndarray (n,)
        The score :math:`\Gamma_i` of every patient (risk-difference scale).

    Raises
    ------
    DataError
        Non-binary ``y`` or ``treatment``, ``strata`` of the wrong length or with
        missing values, or a stratum without treated or without control patients.
    """
    y, z = check_outcomes(y, treatment)
    yf, zf = y.astype(float), z.astype(float)
    if strata is None:
        codes, levels = np.zeros(y.size, dtype=np.int64), np.array(["all"], dtype=object)
    else:
        strata = np.asarray(strata)
        if strata.shape != y.shape:
            raise DataError(f"strata has {strata.size} entries but y has {y.size}")
        codes, levels = pd.factorize(strata, sort=True)
        if (codes < 0).any():
            raise DataError(f"strata has missing values at "
                            f"{format_rows(np.flatnonzero(codes < 0))}")
    n_s = np.bincount(codes).astype(float)
    n1 = np.bincount(codes, weights=zf, minlength=n_s.size)
    n0 = n_s - n1
    empty = (n1 == 0) | (n0 == 0)
    if empty.any():
        s = int(np.flatnonzero(empty)[0])
        arm = "treated" if n1[s] == 0 else "control"
        raise DataError(f"stratum {str(levels[s])!r} has no {arm} patients; the benefit "
                        "scores compare the randomized arms within each stratum")
    m1 = np.bincount(codes, weights=yf * zf, minlength=n_s.size) / n1
    m0 = np.bincount(codes, weights=yf * (1 - zf), minlength=n_s.size) / n0
    pi = (n1 / n_s)[codes]
    return ((m0 - m1)[codes] + (1 - zf) * (yf - m0[codes]) / (1 - pi)
            - zf * (yf - m1[codes]) / pi)


# --------------------------------------------------------------------------- TOC / RATE
def tie_runs(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The run of equal values each position of sorted rows belongs to.

    Parameters
    ----------
    v : ndarray, shape (m, n)
        Rows of sorted values.

    Returns
    -------
    (ndarray, ndarray), each of shape (m, n)
        The first position of each entry's run of ties and one past its last.
    """
    m, n = v.shape
    pos = np.broadcast_to(np.arange(n), (m, n))
    new = np.ones((m, n), dtype=bool)
    new[:, 1:] = v[:, 1:] != v[:, :-1]
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    last = np.ones((m, n), dtype=bool)
    last[:, :-1] = new[:, 1:]
    end = np.minimum.accumulate(np.where(last, pos + 1, n)[:, ::-1], axis=1)[:, ::-1]
    return start, end


def _sorted_tie_averaged(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Scores sorted by decreasing priority per row, each tie group replaced by its mean
    (so that the order within ties does not matter, as grf's ``estimate_rate``)."""
    order = np.argsort(-rows, axis=1, kind="stable")
    v = np.take_along_axis(rows, order, axis=1)
    g = scores[order]
    m, n = v.shape
    csum = np.concatenate([np.zeros((m, 1)), np.cumsum(g, axis=1)], axis=1)
    start, end = tie_runs(v)
    rows_i = np.arange(m)[:, None]
    mean = (csum[rows_i, end] - csum[rows_i, start]) / (end - start)
    return mean


def _rate_core(rows: np.ndarray, scores: np.ndarray, q: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AUTOC, Qini (m,), TOC on the grid (m, g) and the ATE (scalar) of each row."""
    m, n = rows.shape
    g = _sorted_tie_averaged(rows, scores)
    ate = scores.mean()
    csum = np.cumsum(g, axis=1)
    j = np.arange(1, n + 1)
    toc_all = csum / j - ate                          # TOC(j/n), j = 1..n
    autoc = toc_all.mean(axis=1)
    qini = (toc_all * (j / n)).mean(axis=1)
    # TOC on the grid: the first q*n units, the last one counted fractionally (grf)
    qn = q * n
    whole = np.minimum(np.floor(qn + 1e-12).astype(int), n)
    frac = qn - whole
    head = np.where(whole > 0, csum[:, np.maximum(whole - 1, 0)], 0.0)
    nxt = g[:, np.minimum(whole, n - 1)]
    toc = np.where(whole > 0, (head + frac * nxt) / qn, nxt) - ate
    return autoc, qini, toc, ate


@dataclass(frozen=True)
class RankAverageEffect:
    r"""RATE (AUTOC and Qini) and the TOC curve of a ranking by predicted benefit.

    Built by :func:`rate`. Arrays have a leading shape ``(...)`` of the input's
    non-patient axes (empty for a benefit vector). All effects are risk reductions on
    the probability scale (positive = the top-ranked patients benefit more than
    average).

    Parameters
    ----------
    autoc, qini : float, ndarray (...) or DataArray
        The RATE with uniform weight (area under the TOC curve) and with weight
        :math:`q` (Qini coefficient); one per draw for draws.
    autoc_se, qini_se : float or ndarray (...)
        Half-sample bootstrap standard errors (NaN without bootstrap).
    q : ndarray (g,)
        Fractions of the TOC grid, in (0, 1].
    toc : ndarray (..., g)
        TOC(q): average benefit among the top-q fraction minus the overall average.
    toc_se : ndarray (..., g)
        Its bootstrap standard error (NaN without bootstrap).
    ate : float
        Overall average benefit (the mean score; difference in means within strata).
    n_bootstrap : int
        Half-samples drawn per row.
    """

    autoc: Metric
    qini: Metric
    autoc_se: float | np.ndarray
    qini_se: float | np.ndarray
    q: np.ndarray
    toc: np.ndarray
    toc_se: np.ndarray
    ate: float
    n_bootstrap: int

    def table(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """AUTOC and Qini with their standard errors and intervals, one row each.

        Parameters
        ----------
        ci_prob : float
            Probability of the intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Index ``metric`` (``autoc``, ``qini``); columns ``estimate``, ``se``,
            ``ci_low``, ``ci_high``, ``interval``. For a benefit vector: the estimate,
            its half-sample bootstrap SE and the normal interval ``estimate ± z se``
            (as grf's documentation builds it; ``interval = "bootstrap"``). For draws:
            the posterior mean, SD and equal-tailed interval over the draws
            (``interval = "posterior"``).

        Raises
        ------
        ValueError
            ``ci_prob`` not in (0, 1).
        """
        check_ci_prob(ci_prob, error=ValueError)
        z = norm.ppf(0.5 + ci_prob / 2)
        rows = []
        for name in ("autoc", "qini"):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.ndim == 0:
                se = float(getattr(self, f"{name}_se"))
                rows.append({"metric": name, "estimate": float(value), "se": se,
                             "ci_low": float(value) - z * se, "ci_high": float(value) + z * se,
                             "interval": "bootstrap" if np.isfinite(se) else ""})
            else:
                rows.append(posterior_row(name, value, ci_prob, sd_name="se"))
        return pd.DataFrame(rows).set_index("metric")

    def toc_table(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """The TOC curve on its grid with a pointwise interval.

        Parameters
        ----------
        ci_prob : float
            Probability of the pointwise intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Columns ``q``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``interval``:
            for a benefit vector the TOC with its bootstrap SE and normal interval; for
            draws the pointwise posterior mean, SD and equal-tailed interval.

        Raises
        ------
        ValueError
            ``ci_prob`` not in (0, 1).
        """
        check_ci_prob(ci_prob, error=ValueError)
        if self.toc.ndim == 1:
            z = norm.ppf(0.5 + ci_prob / 2)
            est, se = self.toc, self.toc_se
            lo, hi = est - z * se, est + z * se
            kind = "bootstrap" if np.isfinite(se).all() else ""
        else:
            draws = self.toc.reshape(-1, self.q.size)
            est = draws.mean(axis=0)
            se = draws.std(axis=0, ddof=1) if draws.shape[0] > 1 else np.full(est.shape,
                                                                               np.nan)
            lo, hi = np.quantile(draws, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
            kind = "posterior"
        return pd.DataFrame({"q": self.q, "estimate": est, "se": se, "ci_low": lo,
                             "ci_high": hi, "interval": kind})


def rate(y: ArrayLike, treatment: ArrayLike, benefit: Draws, *,
         strata: ArrayLike | None = None, q: ArrayLike = DEFAULT_Q,
         n_bootstrap: int | None = None, random_state: RandomState = None
         ) -> RankAverageEffect:
    r"""Rank-weighted average treatment effects (AUTOC, Qini) and the TOC curve.

    Patients are ranked by predicted benefit (the priority; larger = treat first). With
    :math:`\Gamma_{(1)}, \dots, \Gamma_{(n)}` the benefit scores
    (:func:`benefit_scores`) in that order — each group of tied priorities replaced by
    its mean score, so the order within ties does not matter — and
    :math:`\hat\tau = \frac1n\sum_i \Gamma_i` the average benefit, the targeting
    operator characteristic at :math:`q = j/n` is

    .. math::

        \widehat{TOC}(j/n) = \frac1j \sum_{i \le j} \Gamma_{(i)} - \hat\tau,

    the average benefit among the top :math:`j` minus the overall one, and the RATE
    with weight :math:`\alpha(q)` is :math:`\int_0^1 \alpha(q)\,TOC(q)\,dq`, estimated
    as in grf (``rank_average_treatment_effect``; Yadlowsky et al. 2025, eq. 2.4):

    .. math::

        \widehat{AUTOC} = \frac1n \sum_{j=1}^n \widehat{TOC}(j/n), \qquad
        \widehat{Qini} = \frac1n \sum_{j=1}^n \frac jn\, \widehat{TOC}(j/n).

    AUTOC weighs all fractions equally (each score :math:`\Gamma_{(i)}` then carries a
    weight :math:`\sum_{j \ge i} 1/j - 1 \approx -\log(i/n) - 1`, a logarithmic
    emphasis on the top of the ranking); Qini weighs fraction :math:`q` by :math:`q`
    (each score carries :math:`1 - i/n` up to a constant, a linear emphasis). AUTOC has
    more power when a small subgroup benefits, Qini when benefit varies across the
    whole population. On the grid ``q`` the TOC uses the first :math:`qn` units, the
    last one counted fractionally (grf).

    **Treatment effects in randomized trials.** grf scores each unit with a doubly
    robust score built on a causal forest. Here the trials are randomized, so no
    outcome or propensity model is needed: the scores (:func:`benefit_scores`) use the
    arm event rates of the patient's trial as the outcome model and the trial's
    treated share as the randomization probability. This makes the overall average
    score exactly the difference in means within each trial (weighted by trial
    size), keeps every TOC(q) defined (a top fraction holding one arm only still has
    scores, which a difference in means of the fraction would not), and keeps the
    statistics linear in the scores, as the paper's estimator and bootstrap assume.
    The ranking should not have been fitted on the same outcomes (an in-sample RATE is
    optimistic); in an IPD-MA use cross-validated predictions (IECV).

    **Uncertainty.** For a single ranking (a benefit vector) the standard errors come
    from grf's half-sample bootstrap: ``n_bootstrap`` times, half of the patients
    (:math:`\lfloor n/2 \rfloor`, without replacement) are drawn and the statistics
    recomputed from their scores (fixed, as in grf) and priorities; the SE is the
    standard deviation of the half-sample statistics (the half-sample spread around the
    full-sample estimate matches its sampling variance). For posterior draws each
    draw's ranking gives its own statistics: their spread is the posterior
    uncertainty of the ranking, not the sampling uncertainty.

    All priorities tied: no ranking, so TOC = AUTOC = Qini = 0 exactly (grf also).

    Parameters
    ----------
    y : array (n,)
        Binary outcome, 1 = event (the unfavourable outcome).
    treatment : array (n,)
        0/1 randomized treatment.
    benefit : array (n,), array (..., n) or DataArray with a ``patient`` dim
        Predicted benefit, used as the priority (larger = treat first); draws give
        the statistics per draw.
    strata : array (n,), optional
        Trials: the scores are formed within each (the ranking is over all patients).
    q : array (g,)
        Grid of the TOC curve: increasing fractions in (0, 1] ending at 1 (default
        grf's 0.1, 0.2, ..., 1).
    n_bootstrap : int, optional
        Half-samples for the standard errors, per row; default 200 (grf's ``R``) for a
        benefit vector and 0 for draws; 0 = no standard errors (NaN).
    random_state : int or numpy Generator, optional
        Seed of the half-samples.

    Returns
    -------
    RankAverageEffect
        ``autoc``, ``qini`` (floats for a vector, one per draw otherwise), their
        standard errors, the TOC curve on ``q`` with its SEs, and the ATE;
        :meth:`RankAverageEffect.table` and :meth:`RankAverageEffect.toc_table` give
        them with intervals.

    Raises
    ------
    DataError
        Non-binary ``y`` or ``treatment``, a missing arm or a stratum without one arm,
        benefit that is not finite real numbers, fewer than 4 patients with
        ``n_bootstrap > 0``, or a bad ``q`` grid (not finite real numbers — text such as
        ``"0.5"`` and bools are refused —, not increasing, not in (0, 1], not ending at
        1).
    ValueError
        ``n_bootstrap < 0``.

    Examples
    --------
    >>> y = [0, 1, 0, 1, 1, 0, 1, 0]
    >>> z = [1, 0, 1, 0, 1, 0, 1, 0]
    >>> b = [0.4, 0.3, 0.2, 0.1, 0.05, 0.0, -0.1, -0.2]
    >>> res = rate(y, z, b, n_bootstrap=0)
    >>> round(res.autoc, 4), round(res.qini, 4)
    (0.6345, 0.25)
    """
    y, z = check_outcomes(y, treatment)
    rows, restore = as_rows(benefit, y.size)
    scores = benefit_scores(y, z, strata=strata)
    grid = real_array(q, "q").ravel()
    if (grid.size == 0 or not np.isfinite(grid).all() or (np.diff(grid) <= 0).any()
            or grid[0] <= 0 or abs(grid[-1] - 1) > 1e-12):
        raise DataError(f"q must be increasing fractions in (0, 1] ending at 1, got {q!r}")
    if n_bootstrap is None:
        n_bootstrap = 200 if rows.shape[0] == 1 and np.ndim(benefit) == 1 else 0
    n_bootstrap = check_count("n_bootstrap", n_bootstrap, low=0)
    autoc, qini, toc, ate = _rate_core(rows, scores, grid)
    m, n = rows.shape
    autoc_se = qini_se = np.full(m, np.nan)
    toc_se = np.full(toc.shape, np.nan)
    if n_bootstrap > 0:
        half = n // 2
        if half < 2:
            raise DataError(f"the half-sample bootstrap needs at least 4 patients, got {n}")
        rng = as_rng(random_state)
        reps = np.empty((n_bootstrap, m, 2 + grid.size))
        for b in range(n_bootstrap):
            pick = rng.choice(n, size=half, replace=False)
            a_b, q_b, toc_b, _ = _rate_core(rows[:, pick], scores[pick], grid)
            reps[b] = np.concatenate([a_b[:, None], q_b[:, None], toc_b], axis=1)
        sd = reps.std(axis=0, ddof=1) if n_bootstrap > 1 else np.zeros(reps.shape[1:])
        autoc_se, qini_se, toc_se = sd[:, 0], sd[:, 1], sd[:, 2:]
    lead = np.shape(restore(np.zeros(m)))

    def per_row(a):
        a = np.asarray(a, dtype=float)
        return float(a.reshape(())) if not lead else a.reshape(lead)

    return RankAverageEffect(
        autoc=restore(autoc), qini=restore(qini), autoc_se=per_row(autoc_se),
        qini_se=per_row(qini_se), q=grid, toc=toc.reshape(*lead, grid.size),
        toc_se=toc_se.reshape(*lead, grid.size), ate=float(ate), n_bootstrap=n_bootstrap)
