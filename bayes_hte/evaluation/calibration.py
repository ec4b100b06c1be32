r"""Calibration for benefit in quantile groups of predicted benefit (intercept, slope).

Conventions as in :mod:`bayes_hte.evaluation.metrics` (which re-exports
:func:`calibration_for_benefit` and :class:`BenefitCalibration`): ``y`` = 1 is the
unfavourable event, the benefit is larger when treatment is better, and ``benefit`` may
be a vector or posterior draws (intercept and slope per draw).

References
----------
Bouvier F, et al. (2024). Estimating individualized treatment effects using an
individual participant data meta-analysis. BMC Med Res Methodol (section "Model
validation": five bins of predicted benefit containing both arms).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.evaluation._inputs import Draws, as_rows, check_outcomes
from bayes_hte.evaluation.ranking import tie_runs
from bayes_hte.options import check_count

__all__ = ["BenefitCalibration", "calibration_for_benefit"]


@dataclass(frozen=True)
class BenefitCalibration:
    r"""Calibration for benefit in quantile groups of predicted benefit.

    Arrays have a leading shape ``(...)`` of the input's non-patient axes (empty for a
    benefit vector) and a trailing ``group`` axis where applicable. Built by
    :func:`calibration_for_benefit`; the fields are also its attributes. Benefits are
    risk differences on the probability scale, larger = treatment better.

    Parameters
    ----------
    predicted, observed, se : ndarray (..., groups)
        Mean predicted benefit, observed benefit :math:`\bar y_{control} - \bar y_{treated}`
        and its binomial standard error
        :math:`\sqrt{p_1(1-p_1)/n_1 + p_0(1-p_0)/n_0}`, per group.
    n_treated, n_control, events_treated, events_control : ndarray (..., groups)
        Patients and events (``y == 1``) per arm and group (float counts); groups
        differ in size when tied benefits straddle a quantile.
    intercept, slope : float or ndarray (...)
        Least-squares line of observed on predicted group benefit (perfect: 0 and 1);
        floats for a benefit vector, one value per draw otherwise (a DataArray
        ``(chain, draw)`` for a ``(chain, draw, patient)`` input).
    """

    predicted: np.ndarray
    observed: np.ndarray
    se: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray
    events_treated: np.ndarray
    events_control: np.ndarray
    intercept: float | np.ndarray
    slope: float | np.ndarray

    def table(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """One row per group (benefit vector only): counts, predicted, observed, interval.

        Parameters
        ----------
        ci_prob : float
            Probability of the Wald interval of the observed benefit,
            ``observed ± z * se`` with ``z`` the standard normal
            ``0.5 + ci_prob / 2`` quantile.

        Returns
        -------
        pandas.DataFrame
            Index ``group`` (1 = lowest predicted benefit); columns ``n_treated``,
            ``n_control``, ``events_treated``, ``events_control``, ``predicted``,
            ``observed``, ``se``, ``ci_low``, ``ci_high``.

        Raises
        ------
        ValueError
            ``ci_prob`` not a number in (0, 1), or the calibration was computed on
            posterior draws (index one draw first).
        """
        check_ci_prob(ci_prob, error=ValueError)
        if np.ndim(self.intercept) != 0:
            raise ValueError("table() is for a single benefit vector; index the draws first")
        from scipy.stats import norm

        q = norm.ppf(0.5 + ci_prob / 2)
        g = self.predicted.shape[-1]
        return pd.DataFrame({
            "group": np.arange(1, g + 1), "n_treated": self.n_treated,
            "n_control": self.n_control, "events_treated": self.events_treated,
            "events_control": self.events_control, "predicted": self.predicted,
            "observed": self.observed, "se": self.se,
            "ci_low": self.observed - q * self.se, "ci_high": self.observed + q * self.se,
        }).set_index("group")


def calibration_for_benefit(y: ArrayLike, treatment: ArrayLike, benefit: Draws, *,
                            groups: int = 5) -> BenefitCalibration:
    r"""Observed against predicted benefit in quantile groups; intercept and slope.

    Patients (both arms together) are sorted by predicted benefit and cut into
    ``groups`` quantile groups: without ties, groups of equal size (group :math:`g`
    holds sorted positions :math:`\lfloor g n / G \rfloor, \dots,
    \lfloor (g+1) n / G \rfloor - 1`). **Tied predicted benefits are always in the same
    group**: the patients sharing a benefit, at sorted positions :math:`i..j`, all go to
    the group of their middle position :math:`(i + j)/2` (a middle halfway between two
    groups goes to the lower one), so the groups, and every result, do not depend on
    the order of the rows; with ties the groups may differ in size (e.g. a rounded
    benefit). Each group must contain treated and control patients. Per group,

    .. math::

        \hat b_g = \text{mean predicted benefit}, \qquad
        B_g = \bar y_{g,\,control} - \bar y_{g,\,treated},

    and the calibration intercept :math:`a` and slope :math:`s` are the least-squares
    fit of :math:`B_g = a + s\,\hat b_g` over the groups (Bouvier et al. 2024: five bins
    containing both arms; a well calibrated model has :math:`a = 0`, :math:`s = 1`).

    Parameters
    ----------
    y, treatment : array (n,)
        Binary outcome (1 = event) and 0/1 treatment.
    benefit : array (n,), array (..., n) or DataArray with a ``patient`` dim
        Predicted benefit; draws give intercept and slope per draw (groups are formed
        per draw).
    groups : int
        Number of quantile groups (default quintiles).

    Returns
    -------
    BenefitCalibration
        Per-group predicted and observed benefit, counts and standard errors (arrays
        ``(..., groups)``) and the ``intercept`` and ``slope`` (float for a benefit
        vector, one per draw otherwise). A draw whose predicted benefit is the same
        for every patient has NaN in all of them.

    Raises
    ------
    DataError
        Bad inputs, ``groups`` not an integer in ``[2, n/2]``, a predicted benefit that
        is the same for every patient (one group of tied benefits; in every draw for
        draws), a group left empty by tied benefits or without treated or without
        control patients (use fewer groups), or a predicted benefit whose group means
        are all equal (no slope; in every draw for draws).

    Warns
    -----
    DataWarning
        Some draws (not all) have equal group means or a constant predicted benefit:
        their slope is NaN.
    """
    y, z = check_outcomes(y, treatment)
    rows, restore = as_rows(benefit, y.size)
    n = y.size
    groups = check_count("groups", groups, low=2, error=DataError)
    if groups > n // 2:
        raise DataError(f"groups must be between 2 and n/2 = {n // 2}, got {groups}")
    m = rows.shape[0]
    draw_of = (lambda r: f" (draw {r})") if m > 1 else (lambda r: "")
    constant = np.ptp(rows, axis=1) == 0
    if constant.all():
        raise DataError(f"the predicted benefit is the same for all {n} patients "
                        f"({rows[0, 0]:.6g}{' in draw 0; constant in every draw' if m > 1 else ''}"
                        "): tied benefits are kept in one calibration group, so the patients "
                        "cannot be split into groups (fewer groups do not help); a "
                        "calibration slope needs predicted benefits that differ")
    group = _tie_groups(rows, groups)
    cell = (np.arange(m)[:, None] * groups + group).ravel()

    def per_group(w):
        return np.bincount(cell, weights=np.broadcast_to(w, (m, n)).ravel(),
                           minlength=m * groups).reshape(m, groups)

    size = per_group(np.ones(n))
    n1 = per_group(z.astype(float))
    n0 = size - n1
    e1 = per_group((y * z).astype(float))
    e0 = per_group((y * (1 - z)).astype(float))
    live = ~constant[:, None]
    if ((size == 0) & live).any():
        r, g = np.argwhere((size == 0) & live)[0]
        values, counts = np.unique(rows[r], return_counts=True)
        raise DataError(f"calibration group {g + 1} of {groups}{draw_of(r)} is empty: tied "
                        f"predicted benefits are kept in one group, and {counts.max()} of "
                        f"the {n} patients share the benefit {values[counts.argmax()]:.6g} "
                        f"({values.size} distinct values{draw_of(r)}); use fewer groups")
    if (((n1 == 0) | (n0 == 0)) & live).any():
        r, g = np.argwhere(((n1 == 0) | (n0 == 0)) & live)[0]
        arm = "treated" if n1[r, g] == 0 else "control"
        members = rows[r, group[r] == g]
        tied = (f": its {members.size} patients all share the predicted benefit "
                f"{members[0]:.6g} (tied benefits are kept in one group)"
                if members.size > 1 and np.ptp(members) == 0 else "")
        raise DataError(f"calibration group {g + 1} of {groups}{draw_of(r)} has no {arm} "
                        f"patients{tied}; every group needs both arms: use fewer groups")
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = per_group(rows) / size
        p1, p0 = e1 / n1, e0 / n0
    obs = p0 - p1
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    xm = pred.mean(axis=1, keepdims=True)
    ym = obs.mean(axis=1, keepdims=True)
    sxx = ((pred - xm) ** 2).sum(axis=1)
    sxy = ((pred - xm) * (obs - ym)).sum(axis=1)
    # the groups' mean predicted benefits all equal (to rounding): no slope to estimate
    flat = constant | (sxx <= groups * (1e-12 * np.abs(pred).max(axis=1)) ** 2)
    if flat.all():
        raise DataError(f"the predicted benefit has the same mean in all {groups} "
                        f"calibration groups ({float(pred.flat[0]):.6g}"
                        f"{'' if m == 1 else ' in every draw'}): a calibration "
                        "slope needs predictions that differ between groups")
    if flat.any():
        warnings.warn(f"calibration_for_benefit: the slope is undefined (NaN) in "
                      f"{int(flat.sum())} of {flat.size} draws, whose predicted benefit has "
                      "the same mean in every group (or is the same for every patient: "
                      "then the draw's groups are NaN)", DataWarning, stacklevel=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(~flat, sxy / np.where(~flat, sxx, 1.0), np.nan)
    intercept = ym[:, 0] - slope * xm[:, 0]
    arrays = [pred, obs, se, n1, n0, e1, e0]
    for a in arrays:  # a constant draw has one group of tied benefits: no groups
        a[constant] = np.nan

    lead = np.shape(restore(np.zeros(m)))

    def grouped(a):
        return a.reshape(*lead, groups)

    return BenefitCalibration(
        predicted=grouped(pred), observed=grouped(obs), se=grouped(se),
        n_treated=grouped(n1), n_control=grouped(n0), events_treated=grouped(e1),
        events_control=grouped(e0), intercept=restore(intercept), slope=restore(slope))


def _tie_groups(rows: np.ndarray, groups: int) -> np.ndarray:
    r"""Quantile group (0..groups-1) of every patient of every row of ``rows`` (m, n).

    Sorted position :math:`k` is in group :math:`g` when
    :math:`\lfloor g n / G \rfloor \le k < \lfloor (g+1) n / G \rfloor`; a run of tied
    values at positions :math:`i..j` goes whole to the group of :math:`(i + j) / 2`
    (halfway between two groups: the lower), so the groups depend on the values only,
    not on the order of the rows.
    """
    m, n = rows.shape
    order = np.argsort(rows, axis=1, kind="stable")
    v = np.take_along_axis(rows, order, axis=1)
    first, end = tie_runs(v)
    final = end - 1
    bounds = (np.arange(groups + 1) * n) // groups
    in_sorted = np.searchsorted(bounds[1:-1], (first + final) / 2, side="right")
    group = np.empty((m, n), dtype=np.int64)
    np.put_along_axis(group, order, in_sorted, axis=1)
    return group
