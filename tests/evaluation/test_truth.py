"""CATE against a simulation's truth: correlation, RMSE, MAE, coverage (Tzimas Table 7)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_hte as bh
from bayes_hte.evaluation.truth import METRICS, accuracy_metrics, cate_accuracy


def test_hand_computed_metrics():
    est = np.array([1.0, 2.0, 4.0, 3.0])
    tru = np.array([1.5, 2.0, 3.0, 3.0])
    lo, hi = est - 0.6, est + 0.6
    m = accuracy_metrics(est, tru, lower=lo, upper=hi)
    err = est - tru                                  # -0.5, 0, 1, 0
    assert m["rmse"] == pytest.approx(np.sqrt(1.25 / 4))
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["bias"] == pytest.approx(err.mean())
    assert m["correlation"] == pytest.approx(np.corrcoef(est, tru)[0, 1])
    assert m["coverage"] == pytest.approx(0.75)      # the third truth is 1.0 outside
    assert m["mean_width"] == pytest.approx(1.2)
    assert set(accuracy_metrics(est, tru)) == {"correlation", "rmse", "mae", "bias"}


def test_vectorised_over_replicates():
    rng = np.random.default_rng(0)
    tru = rng.normal(size=(50, 7))
    est = tru + rng.normal(scale=0.5, size=(50, 7))
    m = accuracy_metrics(est, tru, lower=est - 1, upper=est + 1)
    for k in range(7):
        one = accuracy_metrics(est[:, k], tru[:, k], lower=est[:, k] - 1, upper=est[:, k] + 1)
        for name, value in one.items():
            assert m[name][k] == pytest.approx(value)


def test_cate_accuracy_on_draws():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=400)
    # calibrated posteriors: the truth is a draw from each patient's posterior
    centre = truth + rng.normal(scale=0.3, size=400)
    draws = centre + rng.normal(scale=0.3, size=(2, 500, 400))
    values = xr.DataArray(draws, dims=("chain", "draw", "patient"))
    res = cate_accuracy(values, truth)
    assert isinstance(res, pd.Series) and tuple(res.index) == METRICS
    assert res["coverage"] == pytest.approx(0.95, abs=0.035)
    assert res["mean_width"] == pytest.approx(2 * 1.96 * 0.3, rel=0.03)
    assert res["rmse"] == pytest.approx(0.3, rel=0.12)
    np.testing.assert_allclose(res["correlation"],
                               np.corrcoef(draws.mean(axis=(0, 1)), truth)[0, 1])
    assert cate_accuracy(values, truth, ci_prob=0.5)["coverage"] < 0.6


def test_errors():
    est, tru = np.arange(5.0), np.arange(5.0) ** 2
    with pytest.raises(bh.DataError, match="shape"):
        accuracy_metrics(est, tru[:4])
    with pytest.raises(bh.DataError, match="truth has missing or non-finite values at "
                                           r"patients \[2\]"):
        accuracy_metrics(est, np.array([0, 1, np.nan, 3, 4.0]))
    with pytest.raises(bh.DataError, match="estimate is constant"):
        accuracy_metrics(np.ones(5), tru)
    with pytest.raises(bh.DataError, match="at least 3 patients"):
        accuracy_metrics(est[:2], tru[:2])
    with pytest.raises(bh.DataError, match="lower > upper"):
        accuracy_metrics(est, tru, lower=est + 1, upper=est)
    with pytest.raises(bh.DataError, match="both lower and upper"):
        accuracy_metrics(est, tru, lower=est)
    with pytest.raises(bh.DataError, match="scalar"):
        accuracy_metrics(1.0, 2.0)
    values = xr.DataArray(np.zeros((2, 10, 5)), dims=("chain", "draw", "patient"))
    with pytest.raises(bh.DataError, match="truth has shape"):
        cate_accuracy(values, np.arange(4.0))
    with pytest.raises(bh.DataError, match="lack dims"):
        cate_accuracy(values.rename(patient="row"), np.arange(5.0))
    with pytest.raises(bh.DataError, match="xarray.DataArray"):
        cate_accuracy(np.zeros((2, 10, 5)), np.arange(5.0))
    with pytest.raises(ValueError, match="ci_prob"):
        cate_accuracy(values, np.arange(5.0), ci_prob=1.5)
