"""Every numeric array argument of the evaluation metrics refuses text and bools alike.

Nothing is coerced: ``"0.1"`` is not read as 0.1 and ``True`` is not read as 1 in a truth,
an estimate, an ITE, a time, an offset, a grid or the points of the smoother; each is a
DataError naming the argument (and the patient or entry). The 0/1 indicators ``y``,
``treatment`` and ``event`` take 0/1 numbers or a bool array (as the data containers'
``binary_column``), never text and never a list mixing bools with numbers.
Also: a coverage from fewer than 2 draws, and a c-for-benefit from a single matched pair.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import bayes_hte as bh
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.evaluation import (
    benefit_from_ite,
    c_for_benefit,
    calibration_for_benefit,
    coverage,
    e_for_benefit,
    event_by_horizon,
    loess,
    match_pairs,
    metric_table,
    mse,
    policy_metrics,
    rate,
    recalibrate_intercept,
)
from bayes_hte.evaluation.truth import accuracy_metrics, cate_accuracy

_RNG = np.random.default_rng(2)
_N = 40
_Y = _RNG.integers(0, 2, _N)
_Z = np.tile([0, 1], _N // 2)
_B = _RNG.normal(0.05, 0.1, _N)
_T = _RNG.normal(size=_N)                       # a truth
_D = _RNG.normal(size=(50, _N))                 # draws
_TEXT = [str(v) for v in _T]                    # "0.12..." : numbers written as text
_BOOL = np.arange(_N) % 3 == 0                  # a bool array
_TEXT_D = _D.astype(str)


def _refused(call, match):
    with pytest.raises(DataError, match=match):
        call()


@pytest.mark.parametrize(("call", "match"), [
    # mse: truth and estimate alike (the truth was read as numbers: "0.1" -> 0.1)
    (lambda: mse(np.zeros(3), ["0.1"] * 3), r"truth must be real numbers: '0.1' at patient 0"),
    (lambda: mse(_T, _TEXT), r"truth must be real numbers"),
    (lambda: mse(_T, _BOOL), r"truth must be real numbers: True at patient 0"),
    (lambda: mse(_TEXT, _T), r"estimate must be real numbers"),
    (lambda: mse(_BOOL, _T), r"estimate must be real numbers: True at patient 0"),
    # coverage: truth and draws
    (lambda: coverage(_D, _TEXT), r"truth must be real numbers"),
    (lambda: coverage(_D, _BOOL), r"truth must be real numbers: True"),
    (lambda: coverage(_TEXT_D, _T), r"draws must be real numbers: '.*' at draw 0, patient 0"),
    (lambda: coverage(np.tile(_BOOL, (50, 1)), _T), r"draws must be real numbers: True"),
    # metric_table: ite, ite_new, truth, truth_new
    (lambda: metric_table(_Y, _Z, _TEXT_D), r"ite must be real numbers"),
    (lambda: metric_table(_Y, _Z, np.tile(_BOOL, (50, 1))), r"ite must be real numbers: True"),
    (lambda: metric_table(_Y, _Z, _D, truth=_TEXT), r"truth must be real numbers"),
    (lambda: metric_table(_Y, _Z, _D, truth=_BOOL), r"truth must be real numbers: True"),
    (lambda: metric_table(_Y, _Z, _D, truth=_T, ite_new=_TEXT_D), r"ite_new must be real numbers"),
    (lambda: metric_table(_Y, _Z, _D, truth=_T, ite_new=_D, truth_new=_BOOL),
     r"truth_new must be real numbers: True"),
    (lambda: metric_table(_Y, _Z, _D, truth=_T[:-1]), r"truth has 39 patients but y has 40"),
    # the benefit of every metric (text was already refused: bools too)
    (lambda: c_for_benefit(_Y, _Z, _BOOL), r"benefit must be real numbers: True"),
    (lambda: calibration_for_benefit(_Y, _Z, _BOOL), r"benefit must be real numbers: True"),
    (lambda: e_for_benefit(_Y, _Z, _BOOL), r"benefit must be real numbers: True"),
    (lambda: rate(_Y, _Z, _BOOL), r"benefit must be real numbers: True"),
    (lambda: policy_metrics(_Y, _Z, _BOOL), r"benefit must be real numbers: True"),
    (lambda: match_pairs(_Z, _TEXT), r"benefit must be real numbers: '.*' at patient 0"),
    (lambda: match_pairs(_Z, _BOOL), r"benefit must be real numbers: True"),
    # benefit_from_ite: a DataError, not numpy's UFuncTypeError
    (lambda: benefit_from_ite(np.array(["0.1"])), r"ite must be real numbers: '0.1' at patient 0"),
    (lambda: benefit_from_ite(np.array([True, False])), r"ite must be real numbers: True"),
    (lambda: benefit_from_ite(xr.DataArray(np.array(["0.1"]), dims="patient")),
     r"ite must be real numbers"),
    # event_by_horizon: time and horizon
    (lambda: event_by_horizon(["1.0", "2.0"], [1, 0], 1.5), r"time must be real numbers: '1.0'"),
    (lambda: event_by_horizon([True, False], [1, 0], 1.5), r"time must be real numbers: True"),
    (lambda: event_by_horizon([1.0, np.nan], [1, 0], 1.5), r"time has non-finite values"),
    (lambda: event_by_horizon([1.0, 2.0], [1, 0], "1.5"), r"horizon must be a positive"),
    (lambda: event_by_horizon([1.0, 2.0], [1, 0], True), r"horizon must be a positive"),
    # recalibrate_intercept: offset and y
    (lambda: recalibrate_intercept(np.array(["0"] * 4), [1, 0, 1, 0]),
     r"offset must be real numbers: '0' at patient 0"),
    (lambda: recalibrate_intercept(np.zeros(4, bool), [1, 0, 1, 0]),
     r"offset must be real numbers: False"),
    (lambda: recalibrate_intercept(np.zeros((2, 4)), ["1", "0", "1", "0"]),
     r"y must be coded 0/1 \(or bool\), got dtype <U1 \('1' at patient 0\)"),
    (lambda: recalibrate_intercept(np.zeros((2, 3)), [1, 0, 1, 0]),
     r"offset has 3 patients .* but y has 4"),
    # the smoother, the grids
    (lambda: loess(["1", "2", "3", "4"], [1, 2, 3, 4], degree=1),
     r"loess: x must be real numbers: '1' at entry 0"),
    (lambda: loess([1, 2, 3, 4], [True, False, True, True], degree=1),
     r"loess: y must be real numbers: True at entry 0"),
    (lambda: loess([1, 2, 3, 4], [1, 2, 3, 4], degree=1, at=["2"]), r"loess: at must be"),
    (lambda: loess([1, 2, 3, 4], [1, 2, 3, 4], degree=True), r"loess: degree must be"),
    (lambda: loess([1, 2, 3, 4], [1, 2, 3, 4], span="1"), r"loess: span must be a number"),
    (lambda: rate(_Y, _Z, _B, q=["0.5", "1"]), r"q must be real numbers: '0.5' at entry 0"),
    (lambda: rate(_Y, _Z, _B, q=[True]), r"q must be real numbers: True"),
    (lambda: e_for_benefit(_Y, _Z, _B, grid=["0", "0.1"]), r"grid must be real numbers: '0'"),
    (lambda: e_for_benefit(_Y, _Z, _B, grid="41"), r"grid must be an integer >= 2, got '41'"),
    (lambda: e_for_benefit(_Y, _Z, _B, grid=2.5), r"grid must be an integer >= 2, got 2.5"),
    (lambda: e_for_benefit(_Y, _Z, _B, span=True), r"span must be a number in \(0, 1\]"),
    # the scores against a simulation's truth
    (lambda: accuracy_metrics(_T, _TEXT), r"truth must be real numbers: '.*' at patient 0"),
    (lambda: accuracy_metrics(_BOOL, _T), r"estimate must be real numbers: True at patient 0"),
    (lambda: accuracy_metrics(_T, _T + 1, lower=_TEXT, upper=_T + 2),
     r"lower must be real numbers"),
    (lambda: cate_accuracy(xr.DataArray(_D[None], dims=("chain", "draw", "patient")), _TEXT),
     r"truth must be real numbers"),
    (lambda: cate_accuracy(xr.DataArray(_D[None] > 0, dims=("chain", "draw", "patient")), _T),
     r"values must be draws of real numbers, got dtype bool"),
    # 0/1 indicators: text refused, and a list mixing bools with numbers
    (lambda: c_for_benefit([str(v) for v in _Y], _Z, _B), r"y must be coded 0/1"),
    (lambda: c_for_benefit([True, *_Y[1:]], _Z, _B),
     r"y mixes bools with numbers: True at row 0"),
    (lambda: event_by_horizon([1.0, 2.0], ["1", "0"], 1.5), r"event must be coded 0/1"),
])
def test_text_and_bools_are_refused_in_every_numeric_argument(call, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        _refused(call, match)


def test_bool_indicator_arrays_and_numbers_as_objects_still_work():
    """0/1 as a bool array (the containers' coding) and real numbers in lists stay valid."""
    c_int = c_for_benefit(_Y, _Z, _B)
    assert c_for_benefit(_Y.astype(bool), _Z.astype(bool), list(_B)) == c_int
    assert mse(list(_T), np.asarray(_T, dtype=object)) == 0.0
    np.testing.assert_array_equal(benefit_from_ite([0.1, -0.2]), [-0.1, 0.2])
    da = xr.DataArray(np.array([[0.1, -0.2]]), dims=("draw", "patient"))
    out = benefit_from_ite(da)
    assert out.dims == da.dims and np.allclose(out.values, [[-0.1, 0.2]])
    # an unsigned ITE is negated as a number (a uint8 1 had wrapped round to 255)
    np.testing.assert_array_equal(benefit_from_ite(np.array([1], np.uint8)), [-1.0])
    y, known = event_by_horizon(np.array([1, 3]), np.array([True, False]), np.float32(2))
    np.testing.assert_array_equal(y, [1, 0])
    assert known.all()


# --------------------------------------------------------------------------- few draws
def test_coverage_refuses_a_single_draw():
    with pytest.raises(DataError, match=r"draws has 1 draw per patient; an interval needs at "
                                        r"least 2 draws .* biased down below 39 draws"):
        coverage(_D[:1, :1], _T[:1])
    with pytest.raises(DataError, match="at least 2 draws"):
        metric_table(_Y, _Z, _D[:1], truth=_T)
    with pytest.raises(DataError, match="at least 2 draws"):
        coverage(xr.DataArray(_D[None, :1], dims=("chain", "draw", "patient")), _T)


def test_coverage_warns_below_the_draws_a_nominal_interval_needs():
    """For a calibrated posterior (truth and draws from the same normal) the coverage of
    the 95% interval from S draws is biased down; measured (20,000 patients):
    S = 2: 0.32, 10: 0.79, 39: 0.91, 1000: 0.95. Below (1 + p)/(1 - p) = 39 draws, even
    the range of the draws holds the truth with probability (S-1)/(S+1) < 0.95."""
    rng = np.random.default_rng(1)
    truth = rng.normal(size=20_000)
    with pytest.warns(DataWarning, match=r"coverage from 2 draws .* \(S-1\)/\(S\+1\) = 0.333 "
                                         r"< ci_prob = 0.95 .* at least 39 draws"):
        two = coverage(rng.normal(size=(2, truth.size)), truth)
    assert two == pytest.approx(1 / 3, abs=0.03)
    with pytest.warns(DataWarning, match="at least 19 draws"):
        coverage(rng.normal(size=(10, truth.size)), truth, ci_prob=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        many = coverage(rng.normal(size=(1000, truth.size)), truth)
        coverage(rng.normal(size=(39, 10)), truth[:10])
    assert many == pytest.approx(0.95, abs=0.01)


# --------------------------------------------------------------------------- c, one pair
def test_c_for_benefit_single_pair_says_there_is_nothing_to_compare():
    with pytest.raises(DataError, match=r"needs at least 2 matched pairs, got 1: 1 treated "
                                        r"and 1 control .* pairs of pairs"):
        c_for_benefit([1, 0], [1, 0], [0.1, 0.2])
    # unequal arms: the smaller arm (1 treated) gives one pair
    with pytest.raises(DataError, match="at least 2 matched pairs, got 1"):
        c_for_benefit([1, 0, 0], [1, 0, 0], [0.1, 0.2, 0.3])
    # two pairs with the same observed benefit: undefined, and the message gives it
    with pytest.raises(DataError, match=r"every one of the 2 matched pairs has the same "
                                        r"observed benefit \(0\)"):
        c_for_benefit([0, 0, 0, 0], [1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])
    # pairs (0.2, -1) and (0.3, 0): concordant
    assert bh.evaluation.c_for_benefit([1, 0, 0, 0], [1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) \
        == pytest.approx(1.0)


def test_calibration_table_refuses_a_text_ci_prob():
    cal = calibration_for_benefit(_Y, _Z, _B, groups=2)
    with pytest.raises(ValueError, match=r"ci_prob .* must lie in \(0, 1\), got '0.9'"):
        cal.table(ci_prob="0.9")
    assert cal.table(ci_prob=0.9).shape == (2, 9)
