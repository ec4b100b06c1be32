"""Tied predicted benefits: no metric depends on the order of the rows.

Calibration for benefit keeps tied benefits in one quantile group (groups may then differ
in size); the matched pairs of the c-for-benefit and the E-for-benefit draw their random
subsample and tie order by the patients' values, so a seeded result is the same for any
row order; the RATE averages the scores of tied priorities.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from bayes_hte.errors import DataError, DataWarning
from bayes_hte.evaluation import (
    c_for_benefit,
    calibration_for_benefit,
    e_for_benefit,
    match_pairs,
    rate,
)


def _rounded_trial(seed: int = 3, n: int = 600):
    """A trial whose predicted benefit is rounded to 15 distinct values, unequal arms."""
    rng = np.random.default_rng(seed)
    b = np.clip(np.round(0.1 + 0.07 * rng.normal(size=n), 2), 0.03, 0.17)
    z = (rng.random(n) < 0.45).astype(int)
    p0 = 0.3 + b / 2
    y = rng.binomial(1, np.where(z == 1, p0 - b, p0))
    strata = rng.integers(0, 3, n)
    return y, z, b, strata


def _calibration_fields(cal):
    return np.concatenate([np.ravel(getattr(cal, f)) for f in (
        "predicted", "observed", "se", "n_treated", "n_control", "events_treated",
        "events_control", "intercept", "slope")])


def test_calibration_keeps_ties_in_one_group_hand_example():
    # b sorted: 0 0 0 0 | 1 1 1 | 2 2 2; equal halves would cut the three 1s' run after
    # position 4, giving one (which one: the data order decided) to the lower group. The
    # run of 1s (positions 4..6, middle 5) goes whole to the upper group:
    # group 1 = the four 0s: controls y 1, 0 -> 1/2; treated y 0, 0 -> 0; observed 1/2
    # group 2 = 1 1 1 2 2 2: controls y 1, 1, 1 -> 1; treated y 0, 0, 0 -> 0; observed 1;
    #   predicted (3 * 1 + 3 * 2) / 6 = 1.5
    # line through (0, 1/2) and (1.5, 1): slope 1/3, intercept 1/2
    b = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2], dtype=float)
    z = np.array([0, 1, 0, 1, 0, 1, 1, 0, 1, 0])
    y = np.array([1, 0, 0, 0, 1, 0, 0, 1, 0, 1])
    for seed in range(6):
        perm = np.random.default_rng(seed).permutation(10) if seed else np.arange(10)
        cal = calibration_for_benefit(y[perm], z[perm], b[perm], groups=2)
        np.testing.assert_allclose(cal.predicted, [0.0, 1.5])
        np.testing.assert_allclose(cal.observed, [0.5, 1.0])
        np.testing.assert_array_equal(cal.n_treated + cal.n_control, [4, 6])  # unequal
        assert cal.slope == pytest.approx(1 / 3) and cal.intercept == pytest.approx(0.5)


def test_calibration_of_rounded_benefits_does_not_depend_on_row_order():
    y, z, b, _ = _rounded_trial()
    assert np.unique(b).size == 15
    ref = calibration_for_benefit(y, z, b)
    sizes = ref.n_treated + ref.n_control
    assert sizes.sum() == y.size and np.ptp(sizes) > 0     # ties make the sizes unequal
    for seed in range(1, 6):
        perm = np.random.default_rng(seed).permutation(y.size)
        cal = calibration_for_benefit(y[perm], z[perm], b[perm])
        # the same groups; only the order of the sums differs (rounding, 1e-16)
        np.testing.assert_allclose(_calibration_fields(cal), _calibration_fields(ref),
                                   rtol=1e-12, atol=1e-15)
    # each group's benefits lie above the previous group's: no value is split
    groups = np.split(np.sort(b), np.cumsum(sizes)[:-1].astype(int))
    assert all(a.max() < c.min() for a, c in zip(groups, groups[1:], strict=False))
    # draws: every draw grouped on its own values, also for a DataArray
    draws = np.stack([b, np.round(b * 3, 1) / 3, b[::-1].copy()])
    perm = np.random.default_rng(9).permutation(y.size)
    a = calibration_for_benefit(y, z, draws)
    c = calibration_for_benefit(
        y[perm], z[perm], xr.DataArray(draws[:, perm][None], dims=("chain", "draw", "patient")))
    np.testing.assert_allclose(np.asarray(c.slope).ravel(), a.slope, rtol=1e-12)
    np.testing.assert_allclose(c.observed.reshape(3, -1), a.observed, rtol=1e-12)


def test_calibration_without_ties_is_the_equal_size_quantile_groups():
    rng = np.random.default_rng(0)
    n = 103
    b, z, y = rng.normal(size=n), np.tile([0, 1], n)[:n], rng.integers(0, 2, n)
    cal = calibration_for_benefit(y, z, b, groups=4)
    bounds = (np.arange(5) * n) // 4
    order = np.argsort(b)
    want = [b[order[lo:hi]].mean() for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    np.testing.assert_allclose(cal.predicted, want)
    np.testing.assert_array_equal(cal.n_treated + cal.n_control, np.diff(bounds))


def test_constant_benefit_says_tied_not_fewer_groups():
    y, z, _, _ = _rounded_trial()
    order = np.argsort(z, kind="stable")               # arm-sorted data
    for yy, zz in ((y[order], z[order]), (y, z)):
        with pytest.raises(DataError, match=r"the same for all 600 patients \(0.1\): tied "
                                            r"benefits are kept in one calibration group.*"
                                            r"fewer groups do not help") as err:
            calibration_for_benefit(yy, zz, np.full(600, 0.1), groups=2)
        assert "use fewer groups" not in str(err.value)
    with pytest.raises(DataError, match="constant in every draw"):
        calibration_for_benefit(y, z, np.stack([np.full(600, 0.1), np.full(600, 0.2)]))


def test_groups_emptied_or_one_armed_by_ties_name_the_ties():
    y = np.tile([0, 1], 5)
    z = np.tile([0, 0, 1, 1], 3)[:10]
    b = np.r_[np.zeros(8), 1.0, 2.0]     # eight tied: positions 0..7 all go to group 2
    with pytest.raises(DataError, match=r"group 1 of 5 is empty: tied predicted benefits "
                                        r"are kept in one group, and 8 of the 10 patients "
                                        r"share the benefit 0 \(3 distinct values\)"):
        calibration_for_benefit(y, z, b, groups=5)
    b = np.repeat([0.0, 1.0, 2.0], 4)
    z = np.array([0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1])   # every patient with b = 1 treated
    with pytest.raises(DataError, match=r"group 2 of 3 has no control patients: its 4 "
                                        r"patients all share the predicted benefit 1 "
                                        r"\(tied benefits are kept in one group\)"):
        calibration_for_benefit(np.tile([0, 1], 6), z, b, groups=3)


def test_a_constant_draw_among_draws_has_nan_groups():
    y, z, b, _ = _rounded_trial()
    with pytest.warns(DataWarning, match=r"undefined \(NaN\) in 1 of 2 draws.*same for "
                                         r"every patient"):
        cal = calibration_for_benefit(y, z, np.stack([b, np.full(b.size, 0.1)]))
    assert np.isfinite(cal.slope[0]) and np.isnan(cal.slope[1]) and np.isnan(cal.intercept[1])
    assert np.isnan(cal.observed[1]).all() and np.isnan(cal.n_treated[1]).all()
    assert np.isfinite(cal.observed[0]).all()


@pytest.mark.parametrize("strata", [False, True])
def test_matched_pair_metrics_with_ties_do_not_depend_on_row_order(strata):
    """Unequal arms and 15 tied values: the same seed gives the same pairs, C and E for
    any order of the rows (the random subsample and tie order were drawn by position)."""
    y, z, b, s = _rounded_trial()
    s = s if strata else None
    draws = np.stack([b, np.round(b + 0.02 * np.sin(np.arange(b.size)), 2)])

    def run(perm):
        sp = None if s is None else s[perm]
        t, c = match_pairs(z[perm], b[perm], random_state=5, strata=sp, y=y[perm])
        pairs = np.stack([b[perm][t], y[perm][t], b[perm][c], y[perm][c]])
        return (pairs,
                c_for_benefit(y[perm], z[perm], b[perm], random_state=5, strata=sp),
                c_for_benefit(y[perm], z[perm], b[perm], random_state=5, strata=sp,
                              n_resamples=4),
                c_for_benefit(y[perm], z[perm], draws[:, perm], random_state=5, strata=sp),
                e_for_benefit(y[perm], z[perm], b[perm], random_state=5, strata=sp,
                              n_bootstrap=5),
                rate(y[perm], z[perm], b[perm], strata=sp, n_bootstrap=0))

    ref = run(np.arange(b.size))
    for seed in range(1, 4):
        got = run(np.random.default_rng(seed).permutation(b.size))
        np.testing.assert_array_equal(got[0], ref[0])
        assert got[1] == ref[1] and got[2] == ref[2]
        np.testing.assert_array_equal(got[3], ref[3])
        e, e_ref = got[4], ref[4]
        assert (e.eavg, e.e50, e.e90) == (e_ref.eavg, e_ref.e50, e_ref.e90)
        np.testing.assert_array_equal(e.boot, e_ref.boot)
        np.testing.assert_allclose([got[5].autoc, got[5].qini], [ref[5].autoc, ref[5].qini],
                                   rtol=1e-12)


def test_random_tie_order_is_still_random():
    """The canonical order before the draws does not fix the tie order: different seeds
    pair tied patients differently, whichever outcome they have."""
    y = np.array([1, 0, 1, 0, 0, 1, 0, 1])
    z = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    b = np.zeros(8)                                    # all tied: pairs at random
    outcomes = set()
    for seed in range(40):
        t, c = match_pairs(z, b, random_state=seed, y=y)
        outcomes.add((tuple(y[t[0]]), tuple(y[c[0]])))
    # each arm has two events among four: C(4, 2) = 6 orders of its outcomes, all drawn
    assert {o[0] for o in outcomes} == {o[1] for o in outcomes} == {
        o for o in itertools.product([0, 1], repeat=4) if sum(o) == 2}
