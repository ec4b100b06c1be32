"""Every integer option (a count, a size, a number of points or replicates) is read by one
check, :func:`bayes_hte.options.check_count`: not a bool, not ``2.0``, not ``"2"``.

Before, the checks were written out per function and differed: ``normal_meta(k=5.0)``
and ``maic_stc(n=200.0)`` ran (``int(k) == k``), ``maic_stc(n="a")`` failed in
``int()`` with Python's own ``ValueError``, ``shi_cima(scenario=True)`` ran scenario 1,
and ``run_study(workers=np.int64(2))`` was refused as not an integer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.options import check_count
from bayes_hte.simulate import cima_linear, maic_stc, normal_meta, shi_cima, two_step


@pytest.mark.parametrize("value", [True, np.bool_(True), 2.0, np.float64(3.0), "3", None,
                                   [3]])
def test_check_count_refuses_what_is_not_an_integer(value):
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got "):
        check_count("k", value, low=1)


@pytest.mark.parametrize(("value", "low", "high", "message"), [
    (0, 1, None, "k must be an integer >= 1, got 0"),
    (17, 1, 16, r"k must be an integer in 1\.\.16, got 17"),
    (0, 1, 16, r"k must be an integer in 1\.\.16, got 0"),
])
def test_check_count_bounds(value, low, high, message):
    with pytest.raises(ValueError, match=message):
        check_count("k", value, low=low, high=high)


def test_check_count_returns_python_ints_and_raises_the_callers_error():
    assert type(check_count("k", np.int64(3), low=1)) is int
    assert check_count("k", 16, low=1, high=16) == 16
    with pytest.raises(bh.DataError, match="n must be an integer >= 2"):
        check_count("n", 1, low=2, error=bh.DataError)


# (call, the option's name in the message, the error class)
CALLERS = [
    (lambda v: normal_meta(v, seed=1), r"k \(number of studies\)", bh.DataError),
    (lambda v: maic_stc(v, seed=1), r"n \(patients\)", bh.DataError),
    (lambda v: shi_cima(v, n=200, seed=1), "scenario", bh.DataError),
    (lambda v: shi_cima(1, n=v, seed=1), "n", bh.DataError),
    (lambda v: cima_linear(n_trial=v, seed=1), "n_trial", ValueError),
    (lambda v: two_step(trials=v, seed=1), "trials", ValueError),
    (lambda v: bh.IPDMetaModel(heterogeneity="random_intercept", learner="s",
                               outcome="time_to_event", baseline="piecewise", n_intervals=v),
     "n_intervals", ValueError),
    (lambda v: bh.CovariateSummary.from_frame(
        pd.DataFrame({"covariate": ["age"], "mean": [60.0], "sd": [10.0]}), n=v),
     "n", bh.DataError),
]


@pytest.mark.parametrize("call, name, error", CALLERS)
@pytest.mark.parametrize("value", [True, 6.0, "6"])
def test_public_integer_options_refuse_bools_floats_and_text(call, name, error, value):
    with pytest.raises(error, match=rf"{name} must be an integer (>=|in) "):
        call(value)


def test_numpy_integers_are_integers():
    assert normal_meta(np.int64(5), seed=1).effects.k == 5
    sim = maic_stc(np.int32(200), seed=1)
    assert sim.data.shape[0] == 200
