r"""Metrics for individualized treatment effect (ITE) predictions in randomized trials.

Every metric takes the observed outcome ``y`` (1 = event, the unfavourable outcome),
the randomized treatment ``treatment`` (1 = treated) and the **predicted benefit** of
treatment, larger = treatment more favourable. For a binary outcome and a model whose
ITE is the risk difference :math:`P(y=1|x,1) - P(y=1|x,0)`, the benefit is minus the
ITE, :math:`b(x) = P(y=1|x,0) - P(y=1|x,1)` (see :func:`benefit_from_ite`).

``benefit`` may be one vector (``(n,)``: one value per patient, e.g. the posterior-mean
benefit) or posterior draws: an array whose **last axis** is the patient, or an
``xarray.DataArray`` with a ``patient`` dim (e.g. ``(chain, draw, patient)``). The
metric is then computed for every draw and returned with the patient axis removed
(a float, an array ``(...)`` or a DataArray ``(chain, draw)``), so that it comes with
a posterior interval.

Time-to-event outcomes are evaluated on the binary indicator "event by the horizon"
(:func:`event_by_horizon`), with the benefit being the predicted difference in survival
at that horizon; patients censored before the horizon have no known status and are
excluded (the caller states how many). This ignores the information in the censored
patients, a simplification of the time-to-event c-for-benefit.

The value of the treatment rule "treat if benefit > 0" (PAPE, gains against treat-all
and treat-none) is in :mod:`bayes_hte.evaluation.policy`, the E-for-benefit (loess
calibration in the c-for-benefit pairs) in :mod:`bayes_hte.evaluation.benefit_curve`
the RATE (TOC curve, AUTOC, Qini) in :mod:`bayes_hte.evaluation.ranking` and the
calibration for benefit in quantile groups in :mod:`bayes_hte.evaluation.calibration`
(re-exported here); :func:`metric_table` reports them with the metrics here.

Every numeric argument (benefit, ITE, truth, draws, times) takes real numbers only: text
(even ``"0.1"``), bools and complex numbers are refused with a
:class:`~bayes_hte.DataError` naming the argument and the patient, never converted.

References
----------
van Klaveren D, Steyerberg EW, Serruys PW, Kent DM (2018). The proposed 'concordance-
statistic for benefit' provided a useful metric when modeling heterogeneous treatment
effects. J Clin Epidemiol 94:59-68.

Bouvier F, et al. (2024). Estimating individualized treatment effects using an
individual participant data meta-analysis. BMC Med Res Methodol (section "Model
validation").

Imai K, Li ML (2021). Experimental evaluation of individualized treatment rules.
J Am Stat Assoc 118:242-256 (published online 2021).
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.evaluation._inputs import (
    Draws,
    Metric,
    RandomState,
    as_numbers,
    as_rng,
    as_rows,
    binary_vector,
    check_outcomes,
    real_vector,
)
from bayes_hte.evaluation.benefit_curve import e_for_benefit
from bayes_hte.evaluation.calibration import (  # noqa: F401 (re-exported)
    BenefitCalibration,
    calibration_for_benefit,
)
from bayes_hte.evaluation.matching import match_pairs, pair_benefit
from bayes_hte.evaluation.policy import policy_metrics
from bayes_hte.evaluation.ranking import rate
from bayes_hte.options import Outcome, check_count


# --------------------------------------------------------------------------- conventions
def benefit_from_ite(ite: np.ndarray | xr.DataArray, outcome: Outcome = "binary"
                     ) -> np.ndarray | xr.DataArray:
    r"""Predicted benefit of treatment (larger = treatment better) from a model's ITE.

    Binary outcome: the ITE is the risk difference :math:`P(y|x,1) - P(y|x,0)` of the
    unfavourable event, so the benefit is :math:`-\text{ITE}`. Time-to-event: the ITE
    is the survival difference :math:`S(h|x,1) - S(h|x,0)`, which is already a benefit.

    Parameters
    ----------
    ite : array_like or DataArray, any shape
        ITE on the model's scale: risk difference (binary) or survival difference at
        the horizon (time-to-event), probability scale in [-1, 1]. Any shape, e.g. a
        vector (n,), draws (..., n) or a DataArray (chain, draw, patient). Real numbers
        only (missing values stay NaN, for the metrics to refuse).
    outcome : {"binary", "time_to_event"}
        Outcome type, which fixes the sign convention.

    Returns
    -------
    ndarray or DataArray
        The benefit as floats, same shape (and dims, for a DataArray) as ``ite``
        (``-ite`` for a binary outcome, ``ite`` itself for time-to-event); an ndarray
        for any input other than a DataArray.

    Raises
    ------
    DataError
        ``ite`` holds text (even ``"0.1"``), bools, complex numbers or other objects
        that are not real numbers.
    ValueError
        An unknown ``outcome``.
    """
    if outcome not in ("binary", "time_to_event"):
        raise ValueError(f"outcome must be 'binary' or 'time_to_event', got {outcome!r}")
    sign = -1.0 if outcome == "binary" else 1.0
    if isinstance(ite, xr.DataArray):
        values = as_numbers(ite.values, "ite")
        return ite.copy(data=sign * values)
    return sign * as_numbers(ite, "ite")


def event_by_horizon(time: ArrayLike, event: ArrayLike, horizon: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Binary "event by ``horizon``" indicator and the mask of patients whose status is known.

    Status is known for patients with an event at ``time <= horizon`` (indicator 1) and
    for patients followed up to the horizon without an event before it (``time >=
    horizon``; indicator 0); patients censored before the horizon are unknown
    (``known`` is False; their indicator is set to 0 and must not be used).

    Parameters
    ----------
    time : array (n,)
        Follow-up time of each patient (event or censoring), in the data's time units.
    event : array (n,)
        0/1 (or bool): 1 = the follow-up ended with the event, 0 = censored.
    horizon : float
        Time, in the same units as ``time`` (> 0), at which the status is read.

    Returns
    -------
    y : int8 ndarray (n,)
        1 = event at or before ``horizon``; 0 otherwise (including unknown status).
    known : bool ndarray (n,)
        True where the status at ``horizon`` is known; evaluate the metrics on
        ``y[known]`` only.

    Raises
    ------
    DataError
        ``event`` not 0/1 (or bool), ``time`` not finite real numbers (text such as
        ``"1.5"``, bools and missing values are refused, naming the patient), ``time``
        and ``event`` of different lengths, or a ``horizon`` that is not a positive
        finite number (not a bool, not text).
    """
    e = binary_vector(event, "event")
    t = real_vector(time, "time", n=e.size, against="event")
    if (isinstance(horizon, bool | np.bool_) or not isinstance(horizon, numbers.Real)
            or not np.isfinite(horizon) or horizon <= 0):
        raise DataError(f"horizon must be a positive number, got {horizon!r}")
    y = ((e == 1) & (t <= horizon)).astype(np.int8)
    known = (y == 1) | (t >= horizon)
    return y, known


# --------------------------------------------------------------------------- c-for-benefit
def _harrell_c(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    r"""Harrell's C of ``pred`` against ``obs`` per row, for discrete ``obs``.

    Over all pairs of units with different ``obs``: concordant (the unit with the larger
    ``obs`` has the larger ``pred``) counts 1, tied ``pred`` counts 1/2, discordant 0;
    C = count / number of such pairs. Pairs with equal ``obs`` are not usable.

    Computed with ranks: for a unit with level :math:`o`, the number of units of lower
    levels with smaller ``pred`` (plus half the ties) is its mid-rank among the units of
    levels :math:`\le o` minus its mid-rank among the units of level :math:`o`.
    """
    levels = np.unique(obs)
    num = np.zeros(pred.shape[0])
    counts = np.stack([(obs == lev).sum(axis=1) for lev in levels], axis=1)  # (m, L)
    below = np.cumsum(counts, axis=1) - counts
    den = (counts * below).sum(axis=1).astype(float)
    for lev in levels[1:]:
        le = np.where(obs <= lev, pred, np.inf)
        eq = np.where(obs == lev, pred, np.inf)
        r_le = rankdata(le, axis=1)
        r_eq = rankdata(eq, axis=1)
        num += np.where(obs == lev, r_le - r_eq, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def c_for_benefit(y: ArrayLike, treatment: ArrayLike, benefit: Draws, *,
                  random_state: RandomState = None, n_resamples: int = 1,
                  strata: ArrayLike | None = None, return_pairs: bool = False
                  ) -> Metric | tuple[Metric, np.ndarray, np.ndarray]:
    r"""Concordance statistic for benefit (van Klaveren et al. 2018).

    Treated and control patients are matched 1:1 on the rank of their predicted benefit
    (:func:`match_pairs`). For pair :math:`p` with treated member :math:`t` and control
    member :math:`c`,

    .. math::

        \hat b_p = \tfrac12\,\{\hat b(x_t) + \hat b(x_c)\}, \qquad
        B_p = y_c - y_t \in \{-1, 0, 1\},

    the predicted and the observed pair benefit (:math:`B_p = 1`: only the control
    patient had the event). The c-for-benefit is Harrell's C of :math:`\hat b` against
    :math:`B` over the pairs of pairs with unequal observed benefit,

    .. math::

        C = \frac{\sum_{p, q:\, B_p > B_q} \{ 1(\hat b_p > \hat b_q)
            + \tfrac12\, 1(\hat b_p = \hat b_q) \}}{\#\{p, q:\, B_p > B_q\}},

    ties in predicted pair benefit counting one half (as ``Hmisc::rcorr.cens``).

    **Unequal arm sizes.** The method pairs every patient of one arm with one of the
    other; with unequal arms the patients of the larger arm that cannot be paired are
    left out. Which ones are left out is decided at random: the larger arm is
    subsampled without replacement to the size of the smaller arm before the rank
    matching, as in the R implementations of the method (function ``cbendelta``, whose
    ``nresample`` argument repeats the subsampling and averages the concordances).
    Here every row of ``benefit`` (every posterior draw) gets its own subsample, and
    ``n_resamples`` repeats the subsampling per row and averages (over the subsamples
    whose C is defined), so that for a single benefit vector the arbitrary choice can be
    averaged out. With equal arms and no
    ties in predicted benefit the result is deterministic.

    **Ties.** Patients of one arm with tied predicted benefit are ordered at random
    (also through ``random_state``): which of them meets which patient of the other arm
    changes the observed pair benefits, and no order of them is better founded than
    another — ordering them by outcome would steer the C, by position would make it
    depend on the row order. ``n_resamples`` averages over the random orders too (with
    equal arms as well). For a given ``random_state`` the result does not depend on the
    order of the rows: the random draws pick patients by their values (benefit and
    outcome), not by their position (:func:`match_pairs`).

    Parameters
    ----------
    y : array (n,)
        Binary outcome, 1 = event (the unfavourable outcome).
    treatment : array (n,)
        0/1 randomized treatment.
    benefit : array (n,), array (..., n) or DataArray with a ``patient`` dim
        Predicted benefit (larger = treatment better), e.g. :math:`P(y|x,0) - P(y|x,1)`;
        posterior draws give one C per draw.
    random_state : int or numpy Generator, optional
        Seed of the subsampling of the larger arm and of the tie-breaking.
    n_resamples : int
        Matchings averaged per row: random subsamples of the larger arm when the arms
        are unequal, and random orders of tied benefits.
    strata : array (n,), optional
        Match within strata (e.g. the trials of pooled held-out predictions) and
        compute C over all pairs.
    return_pairs : bool
        Also return the predicted and observed pair benefit of the (first) resample,
        arrays ``(m, k)``.

    Returns
    -------
    c : float, ndarray or DataArray
        C in [0, 1] (0.5 = no discrimination of benefit): a float for a benefit vector;
        one C per draw otherwise, with the patient axis removed (ndarray ``(...)``, or a
        DataArray ``(chain, draw)`` for a ``(chain, draw, patient)`` input). NaN for the
        draws whose C is undefined (with a ``RuntimeWarning``).
    pred, obs : ndarray (m, k)
        Only with ``return_pairs``: predicted and observed pair benefit of the first
        resample, one row per draw (``m = 1`` for a vector) and one column per pair.

    Raises
    ------
    DataError
        Non-binary ``y`` or ``treatment``, a missing arm, benefit that is not finite
        real numbers, a single matched pair (C compares pairs of pairs), or a C that
        is undefined because every pair has the same observed benefit.
    ValueError
        ``n_resamples < 1``.

    Examples
    --------
    >>> y = [1, 0, 0, 0, 0, 1]; z = [0, 0, 0, 1, 1, 1]
    >>> b = [0.3, 0.2, 0.1, 0.25, 0.15, 0.05]
    >>> c_for_benefit(y, z, b)   # pairs (pred, obs): (0.075, -1), (0.175, 0), (0.275, 1)
    1.0
    """
    y, z = check_outcomes(y, treatment)
    rows, restore = as_rows(benefit, y.size)
    n_resamples = check_count("n_resamples", n_resamples, low=1)
    rng = as_rng(random_state)
    values, first = [], None
    for r in range(int(n_resamples)):
        it, ic = match_pairs(z, rows, random_state=rng, strata=strata, y=y)
        pred, obs = pair_benefit(y, rows, it, ic)
        if r == 0 and pred.shape[1] < 2:
            raise DataError(
                f"c-for-benefit needs at least 2 matched pairs, got {pred.shape[1]}: "
                f"{int(z.sum())} treated and {int(z.size - z.sum())} control patients "
                f"{'within the strata ' if strata is not None else ''}give "
                f"{pred.shape[1]} treated-control pair, and the C compares the observed "
                "benefit of pairs of pairs, so one pair gives nothing to compare")
        values.append(_harrell_c(pred, obs))
        if r == 0:
            first = (pred, obs)
    values = np.stack(values)
    defined = np.isfinite(values).sum(axis=0)
    # mean over the subsamples whose C is defined (all of them with equal arms)
    c = np.where(defined > 0, np.nansum(values, axis=0) / np.maximum(defined, 1), np.nan)
    if np.isnan(c).all():
        same = np.unique(first[1])
        value = f" ({int(same[0])})" if same.size == 1 else " within each draw"
        raise DataError(f"c-for-benefit is undefined: every one of the {first[1].shape[1]} "
                        f"matched pairs has the same observed benefit{value} "
                        "(y_control - y_treated); check that y has events in both arms")
    if np.isnan(c).any():
        warnings.warn(f"c-for-benefit undefined for {int(np.isnan(c).sum())} of {c.size} draws "
                      "(all matched pairs with equal observed benefit); they are NaN",
                      RuntimeWarning, stacklevel=2)
    out = restore(c)
    return (out, *first) if return_pairs else out


# --------------------------------------------------------------------------- truth-based
def mse(estimate: Draws, truth: ArrayLike) -> Metric:
    r"""Mean squared error over patients, :math:`\frac1n\sum_i (\hat\tau_i - \tau_i)^2`.

    ``estimate`` is a vector (n,) or draws (..., n) / a DataArray with a ``patient`` dim
    (one MSE per draw). ``truth`` is the true ITE (n,) on the same scale.

    Bouvier et al. (2024) report this MSE of the posterior-mean / fitted ITE (risk
    difference for a binary outcome, survival difference for time-to-event) against
    the simulation's true ITE.

    Parameters
    ----------
    estimate : array (n,), array (..., n) or DataArray with a ``patient`` dim
        Estimated ITE, e.g. the posterior mean, or posterior draws
        ``(chain, draw, patient)``.
    truth : array (n,)
        True ITE of each patient, same scale as ``estimate`` (the sign convention does
        not matter as long as both share it).

    Returns
    -------
    float, ndarray or DataArray
        MSE in squared units of the ITE: a float for a vector; one MSE per draw
        otherwise (ndarray ``(...)`` or DataArray ``(chain, draw)``).

    Raises
    ------
    DataError
        ``truth`` not a vector of finite real numbers, ``estimate`` with a different
        number of patients or values that are not finite real numbers (in either, text
        such as ``"0.1"``, bools and complex numbers are refused, naming the patient).
    """
    truth = real_vector(truth, "truth")
    rows, restore = as_rows(estimate, truth.size, name="estimate", against="truth")
    return restore(((rows - truth) ** 2).mean(axis=1))


def coverage(draws: Draws, truth: ArrayLike, *, ci_prob: float = 0.95) -> float:
    r"""Share of patients whose true value lies in the equal-tailed ``ci_prob`` interval.

    ``draws``: array (..., n) or DataArray with a ``patient`` dim; all non-patient axes
    are posterior samples. With :math:`[l_i, u_i]` the :math:`(1 - p)/2` and
    :math:`(1 + p)/2` quantiles of patient :math:`i`'s draws (linear interpolation,
    NumPy's default), :math:`\frac1n \sum_i 1\{l_i \le \tau_i \le u_i\}`.

    **Number of draws.** At least 2 draws per patient are required (from one draw the
    interval is a point, whose coverage is 0 whatever the posterior). Few draws bias the
    coverage down even for a perfectly calibrated posterior: the interpolated sample
    quantiles lie inside the range of the :math:`S` draws, which holds the truth with
    probability :math:`(S-1)/(S+1)`. Measured for truth and draws from the same normal
    (20,000 patients), the coverage of the 95% interval is 0.32 with 2 draws, 0.79 with
    10, 0.91 with 39, 0.93 with 100 and 0.95 with 1,000. Below
    :math:`(1 + p)/(1 - p)` draws (39 for :math:`p = 0.95`), where even the whole range
    falls short of :math:`p`, a :class:`~bayes_hte.DataWarning` says so.

    Parameters
    ----------
    draws : array (..., n) or DataArray with a ``patient`` dim
        Posterior (or posterior-predictive, new-trial) draws of the ITE, e.g.
        ``(chain, draw, patient)``; every non-patient axis is pooled as samples.
    truth : array (n,)
        True value per patient, same scale as ``draws``.
    ci_prob : float
        Probability of the equal-tailed interval, in (0, 1).

    Returns
    -------
    float
        Coverage in [0, 1] (nominal: ``ci_prob``).

    Raises
    ------
    ValueError
        ``ci_prob`` not in (0, 1).
    DataError
        ``truth`` not a vector of finite real numbers, ``draws`` one value per patient,
        fewer than 2 draws, a different number of patients or values that are not finite
        real numbers (text such as ``"0.1"``, bools and complex numbers are refused in
        both, naming the patient).

    Warns
    -----
    DataWarning
        Fewer than :math:`(1 + p)/(1 - p)` draws: the coverage is biased down (see
        "Number of draws").
    """
    check_ci_prob(ci_prob, error=ValueError)
    truth = real_vector(truth, "truth")
    if isinstance(draws, xr.DataArray) and draws.ndim < 2 or (
            not isinstance(draws, xr.DataArray) and np.ndim(draws) < 2):
        raise DataError("draws must be posterior draws (..., patient), not one value per "
                        "patient: coverage is the share of the draws' intervals that hold "
                        "the truth")
    rows, _ = as_rows(draws, truth.size, name="draws", against="truth")
    if rows.shape[0] < MIN_COVERAGE_DRAWS:
        raise DataError(f"draws has {rows.shape[0]} draw per patient; an interval needs at "
                        f"least {MIN_COVERAGE_DRAWS} draws (one draw gives a point, which "
                        "covers nothing), and its coverage is biased down below "
                        f"{_full_range_draws(ci_prob)} draws for ci_prob={ci_prob}")
    if rows.shape[0] < _full_range_draws(ci_prob):
        s = rows.shape[0]
        warnings.warn(f"coverage from {s} draws per patient is biased down: even the range "
                      f"of {s} draws holds the truth with probability (S-1)/(S+1) = "
                      f"{(s - 1) / (s + 1):.3f} < ci_prob = {ci_prob} for a calibrated "
                      f"posterior; use at least {_full_range_draws(ci_prob)} draws",
                      DataWarning, stacklevel=2)
    lo, hi = np.quantile(rows, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
    return float(np.mean((truth >= lo) & (truth <= hi)))


#: Fewest draws per patient :func:`coverage` accepts (one draw is not an interval).
MIN_COVERAGE_DRAWS = 2


def _full_range_draws(ci_prob: float) -> int:
    """Fewest draws S whose range holds a calibrated truth with probability
    (S-1)/(S+1) >= ci_prob: S >= (1 + p)/(1 - p) (39 for 0.95)."""
    return int(np.ceil((1 + ci_prob) / (1 - ci_prob) - 1e-9))


# --------------------------------------------------------------------------- one table
#: Metrics reported by :func:`metric_table`, in order, with a short description.
METRICS: dict[str, str] = {
    "c_for_benefit": "c-for-benefit (0.5 = no discrimination; higher is better)",
    "calibration_intercept": "calibration-for-benefit intercept (ideal 0)",
    "calibration_slope": "calibration-for-benefit slope (ideal 1)",
    "mse": "mean squared error of the ITE against the truth",
    "ci_coverage": "share of true ITEs inside the credible intervals",
    "pi_coverage": "share of true ITEs inside the new-trial prediction intervals",
    "pape": "PAPE of 'treat if benefit > 0' vs random treatment (risk reduction)",
    "pape_se": "sampling SE of the PAPE for the rule as fixed (Imai & Li 2021, Theorem 1; "
               "valid where the rule was not fitted on these patients, as in IECV)",
    "gain_vs_treat_all": "risk under treat-all minus risk under the rule",
    "gain_vs_treat_none": "risk under treat-none minus risk under the rule",
    "proportion_treated": "share of patients the rule treats",
}
#: Rows added by :func:`metric_table` with ``benefit_metrics=True``.
BENEFIT_METRICS: dict[str, str] = {
    "eavg_for_benefit": "E-for-benefit: mean |smoothed observed - predicted| pair benefit "
                        "(ideal 0)",
    "e50_for_benefit": "E-for-benefit: median |smoothed observed - predicted| (ideal 0)",
    "e90_for_benefit": "E-for-benefit: 90th percentile |smoothed observed - predicted| "
                       "(ideal 0)",
    "autoc": "RATE AUTOC: area under the TOC curve (0 = ranking no better than random)",
    "qini": "RATE Qini: q-weighted area under the TOC curve (0 = no better than random)",
}


def _draw_summary(values: np.ndarray, ci_prob: float) -> dict:
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": np.nan, "sd": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    lo, hi = np.quantile(v, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
            "ci_low": float(lo), "ci_high": float(hi)}


def metric_table(y: ArrayLike, treatment: ArrayLike, ite: ArrayLike, *,
                 outcome: Outcome = "binary", truth: ArrayLike | None = None,
                 ite_new: ArrayLike | None = None, truth_new: ArrayLike | None = None,
                 strata: ArrayLike | None = None, groups: int = 5, ci_prob: float = 0.95,
                 random_state: RandomState = None, n_resamples: int = 20,
                 benefit_metrics: bool = False) -> pd.DataFrame:
    r"""All metrics for one set of ITE predictions: one row per metric.

    The metrics of :data:`METRICS`: :func:`c_for_benefit` (van Klaveren et al. 2018),
    :func:`calibration_for_benefit` intercept and slope and :func:`mse` (Bouvier et al.
    2024), :func:`coverage` of the credible and new-trial intervals, and
    :func:`~bayes_hte.evaluation.policy.policy_metrics` of the rule "treat if benefit > 0"
    (PAPE of Imai & Li 2021).
    Each metric is computed for the posterior-mean benefit (``estimate``) and for every
    draw (``mean``, ``sd``, interval).

    Parameters
    ----------
    y, treatment : array (n,)
        Binary outcome (1 = event; for time-to-event the event-by-horizon indicator of
        the patients with known status) and 0/1 treatment.
    ite : array (..., n)
        Posterior draws of the ITE on the model's scale (binary: risk difference
        :math:`P(y|x,1) - P(y|x,0)`; time-to-event: survival difference), turned into a
        benefit by :func:`benefit_from_ite`. All leading axes are draws, the patient
        last (e.g. the values of a ``(chain, draw, patient)`` DataArray).
    outcome : {"binary", "time_to_event"}
        Scale of ``ite``, which fixes the sign of the benefit.
    truth : array (n,), optional
        True ITE (same scale): adds ``mse`` and ``ci_coverage``.
    ite_new, truth_new : optional
        New-trial ITE draws and the truth they should cover (default ``truth``): adds
        ``pi_coverage``.
    strata : array (n,), optional
        Trials: c-for-benefit pairs are matched within them.
    groups : int
        Quantile groups for calibration.
    ci_prob : float
        Probability of the equal-tailed intervals: of the per-draw metrics
        (``ci_low``, ``ci_high``) and of the ITE intervals whose coverage is reported.
    random_state : int or numpy Generator, optional
        Seed of the c-for-benefit subsampling and tie-breaking.
    n_resamples : int
        Subsamples averaged for the point c-for-benefit when arms are unequal.
    benefit_metrics : bool
        Also report the rows of :data:`BENEFIT_METRICS`: the E-for-benefit
        (:func:`~bayes_hte.evaluation.benefit_curve.e_for_benefit`, on the same matched
        pairs as the c-for-benefit) and the RATE AUTOC and Qini
        (:func:`~bayes_hte.evaluation.ranking.rate`, scores within ``strata``), after
        the calibration rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``estimate`` (the metric of the posterior-mean ITE; for
        coverage the coverage itself), ``mean``, ``sd``, ``ci_low``, ``ci_high`` (over
        the per-draw metrics; the ``ci_prob`` equal-tailed interval) and ``n`` (patients).

    Raises
    ------
    DataError
        Inputs rejected by the metrics (non-binary ``y``/``treatment``, a missing arm,
        ``ite``, ``ite_new``, ``truth`` or ``truth_new`` not finite real numbers — text
        such as ``"0.1"`` and bools are refused, naming the argument and patient —,
        shapes that do not match, a calibration group without one arm, an undefined
        c-for-benefit, fewer than 2 draws for a coverage).
    ValueError
        ``ci_prob`` not a number in (0, 1), or a bad option of a metric (e.g.
        ``n_resamples < 1``).

    Warns
    -----
    DataWarning
        Too few draws for an unbiased coverage (:func:`coverage`).
    """
    y, z = check_outcomes(y, treatment)
    draws, _ = as_rows(np.asarray(ite) if isinstance(ite, xr.DataArray) else ite, y.size,
                       name="ite")
    benefit = benefit_from_ite(draws, outcome)
    point = benefit.mean(axis=0)
    # every argument checked before any metric is computed
    check_ci_prob(ci_prob, error=ValueError)
    if truth is not None:
        truth = real_vector(truth, "truth", n=y.size)
    if truth_new is not None:
        truth_new = real_vector(truth_new, "truth_new", n=y.size)
    if ite_new is not None:
        ite_new, _ = as_rows(np.asarray(ite_new) if isinstance(ite_new, xr.DataArray)
                             else ite_new, y.size, name="ite_new")
    rng = as_rng(random_state)
    # E-for-benefit replays the matching of c-for-benefit on a copy of the generator, so
    # both score the same pairs and ``rng`` advances exactly as without it
    twin = copy.deepcopy(rng)
    rows = []

    def add(metric, estimate, per_draw=None):
        summ = (_draw_summary(per_draw, ci_prob) if per_draw is not None else
                {"mean": np.nan, "sd": np.nan, "ci_low": np.nan, "ci_high": np.nan})
        rows.append({"metric": metric, "estimate": float(estimate), **summ, "n": int(y.size)})

    add("c_for_benefit",
        c_for_benefit(y, z, point, random_state=rng, n_resamples=n_resamples, strata=strata),
        c_for_benefit(y, z, benefit, random_state=rng, strata=strata))
    cal_point = calibration_for_benefit(y, z, point, groups=groups)
    cal_draws = calibration_for_benefit(y, z, benefit, groups=groups)
    add("calibration_intercept", cal_point.intercept, cal_draws.intercept)
    add("calibration_slope", cal_point.slope, cal_draws.slope)
    if benefit_metrics:
        e_point = e_for_benefit(y, z, point, strata=strata, random_state=twin,
                                n_resamples=n_resamples)
        e_draws = e_for_benefit(y, z, benefit, strata=strata, random_state=twin)
        for key in ("eavg", "e50", "e90"):
            add(f"{key}_for_benefit", getattr(e_point, key), getattr(e_draws, key))
        r_point = rate(y, z, point, strata=strata, n_bootstrap=0)
        r_draws = rate(y, z, benefit, strata=strata, n_bootstrap=0)
        add("autoc", r_point.autoc, r_draws.autoc)
        add("qini", r_point.qini, r_draws.qini)
    if truth is not None:
        add("mse", mse(draws.mean(axis=0), truth), mse(draws, truth))
        add("ci_coverage", coverage(draws, truth, ci_prob=ci_prob))
    if ite_new is not None and (truth_new is not None or truth is not None):
        target = truth if truth_new is None else truth_new
        add("pi_coverage", coverage(ite_new, target, ci_prob=ci_prob))
    pol_point = policy_metrics(y, z, point)
    pol_draws = policy_metrics(y, z, benefit)
    for key in ("pape", "pape_se", "gain_vs_treat_all", "gain_vs_treat_none",
                "proportion_treated"):
        add(key, pol_point[key], pol_draws[key])
    return pd.DataFrame(rows)
