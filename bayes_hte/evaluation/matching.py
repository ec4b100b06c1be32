"""1:1 matching of treated and control patients on the rank of predicted benefit.

The pairs of the c-for-benefit (:func:`bayes_hte.evaluation.metrics.c_for_benefit`) and
of the E-for-benefit (:func:`bayes_hte.evaluation.benefit_curve.e_for_benefit`): both
call :func:`match_pairs` in the same way, so that with the same ``random_state`` they
score the same pairs (van Klaveren et al. 2018, J Clin Epidemiol 94:59-68).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayes_hte.errors import DataError, format_rows
from bayes_hte.evaluation._inputs import RandomState, as_rng, as_rows, binary_vector

__all__ = ["match_pairs", "pair_benefit"]


def match_pairs(treatment: ArrayLike, benefit: ArrayLike, *, random_state: RandomState = None,
                strata: ArrayLike | None = None, y: ArrayLike | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """1:1 treated-control pairs matched on the rank of predicted benefit.

    Within each stratum (``strata=None``: one stratum), the larger arm is first reduced
    at random (without replacement) to the size of the smaller arm; the patients of each
    arm are then sorted by predicted benefit (ties in a random order) and the k-th
    treated patient is paired with the k-th control patient.

    **Row order.** With ``y`` given, the result does not depend on the order of the
    rows: before the random draws, each arm is put in a canonical order, by predicted
    benefit and then by outcome, so that the seeded subsample and tie order pick
    patients by their values, not by their position in the data; patients with equal
    benefit and outcome are interchangeable in every metric of the pairs
    (:func:`pair_benefit`). The random permutation that follows is uniform whatever
    the canonical order, so the outcome does not steer the pairing: the pairs have the
    distribution of a uniformly random subsample and tie order. Without ``y``, the
    canonical order is by benefit only and tied patients keep their data order before
    the random draws, so a seeded result can change when the rows are shuffled.

    Parameters
    ----------
    treatment : array (n,)
        0/1 treatment.
    benefit : array (n,) or (m, n)
        Predicted benefit (real numbers); with ``m`` rows each row is matched
        separately (its own random subsample of the larger arm).
    random_state : int or numpy Generator, optional
        Seed of the subsampling and of the tie-breaking.
    strata : array (n,), optional
        Match within strata (e.g. trials), then pool the pairs.
    y : array (n,), optional
        0/1 outcome: only orders tied patients canonically before the random draws
        (see "Row order"), so that a seeded result is the same for any order of the
        rows.

    Returns
    -------
    treated, control : int arrays (m, k)
        Patient indices of the treated and control member of each pair, ``k`` pairs per
        row (sum over strata of the smaller arm's size).

    Raises
    ------
    DataError
        ``treatment`` (or ``y``) not 0/1, ``benefit`` not finite real numbers (text such
        as ``"0.1"`` and bools are refused), ``benefit``, ``y`` or ``strata`` of the
        wrong length, missing strata, or a stratum without treated or without control
        patients.
    """
    z = binary_vector(treatment, "treatment")
    if np.ndim(benefit) > 2:
        raise DataError(f"benefit must be (n,) or (m, n), got shape {np.shape(benefit)}")
    rows, _ = as_rows(benefit, z.size, against="treatment")
    if y is None:
        outcome = np.zeros(z.size, dtype=np.int8)
    else:
        outcome = binary_vector(y, "y")
        if outcome.size != z.size:
            raise DataError(f"y has {outcome.size} patients but treatment has {z.size}")
    rng = as_rng(random_state)
    m = rows.shape[0]
    if strata is None:
        codes = np.zeros(z.size, dtype=np.int64)
    else:
        strata = np.asarray(strata)
        if strata.shape != z.shape:
            raise DataError(f"strata has {strata.size} entries but treatment has {z.size}")
        codes, levels = pd.factorize(strata, sort=True)
        if (codes < 0).any():
            raise DataError("strata has missing values at "
                            f"{format_rows(np.flatnonzero(codes < 0))}")
    t_parts, c_parts = [], []
    for s in np.unique(codes):
        idx_t = np.flatnonzero((codes == s) & (z == 1))
        idx_c = np.flatnonzero((codes == s) & (z == 0))
        if idx_t.size == 0 or idx_c.size == 0:
            label = "" if strata is None else f" in stratum {str(levels[s])!r}"
            raise DataError(f"no {'treated' if idx_t.size == 0 else 'control'} patients{label}; "
                            "every stratum needs both arms for matched pairs")
        k = min(idx_t.size, idx_c.size)
        t_parts.append(_rank_match_arm(rows, idx_t, k, rng, outcome))
        c_parts.append(_rank_match_arm(rows, idx_c, k, rng, outcome))
    treated = np.concatenate(t_parts, axis=1)
    control = np.concatenate(c_parts, axis=1)
    assert treated.shape == control.shape == (m, treated.shape[1])
    return treated, control


def _rank_match_arm(rows: np.ndarray, idx: np.ndarray, k: int, rng, y: np.ndarray
                    ) -> np.ndarray:
    """For every row: a random k-subset of ``idx`` sorted by benefit (random tie order).

    The arm is first put in the canonical order (benefit, then ``y``), which depends on
    the patients' values only, so the seeded draws below pick the same values whatever
    the order of the rows."""
    m = rows.shape[0]
    values = rows[:, idx]                                          # (m, s)
    canon = np.lexsort((np.broadcast_to(y[idx], values.shape), values), axis=-1)
    ordered = idx[canon]                                           # (m, s) patients
    # a random permutation per row: its first k entries are the random subsample, and the
    # stable sort below then breaks ties in benefit in this random order
    perm = np.argsort(rng.random((m, idx.size)), axis=1)[:, :k]
    chosen = np.take_along_axis(ordered, perm, axis=1)             # (m, k) patients
    values = np.take_along_axis(rows, chosen, axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1)


def pair_benefit(y: np.ndarray, rows: np.ndarray, treated: np.ndarray, control: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""Predicted and observed benefit of matched pairs.

    For pair :math:`p` with treated member :math:`t` and control member :math:`c`,
    :math:`\hat b_p = \tfrac12\{\hat b(x_t) + \hat b(x_c)\}` and
    :math:`B_p = y_c - y_t \in \{-1, 0, 1\}` (van Klaveren et al. 2018).

    Parameters
    ----------
    y : ndarray (n,)
        0/1 outcome, 1 = the unfavourable event.
    rows : ndarray (m, n)
        Predicted benefit, one row per draw (larger = treatment better).
    treated, control : int ndarray (m, k)
        Patient indices of the pairs, from :func:`match_pairs`.

    Returns
    -------
    predicted, observed : ndarray (m, k)
        Predicted pair benefit (the mean of the two members' predictions, benefit
        scale) and observed pair benefit (float, -1, 0 or 1).
    """
    pred = 0.5 * (np.take_along_axis(rows, treated, 1) + np.take_along_axis(rows, control, 1))
    obs = (y[control] - y[treated]).astype(float)
    return pred, obs
