"""One rule for ``ci_prob`` everywhere (``comparators.results.check_ci_prob``): a real
number strictly between 0 and 1 — not a percentage, not text that reads as a number, not
a bool — and one message naming it."""

import numpy as np
import pytest
import xarray as xr

from bayes_hte import effects
from bayes_hte.comparators import meta_analysis, meta_regression
from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.errors import DataError
from bayes_hte.evaluation.truth import cate_accuracy

YI = np.array([0.3, -0.2, 0.25, -0.1, 0.05, 0.4])
VI = np.array([0.01, 0.02, 0.015, 0.01, 0.03, 0.02])
DRAWS = xr.DataArray(np.random.default_rng(0).normal(size=(2, 50, 4)),
                     dims=("chain", "draw", "patient"))


@pytest.mark.parametrize("bad", [95, 0, 1, 1.0, -0.5, np.nan, "0.95", True, np.True_, None,
                                 [0.95]])
def test_everything_but_a_number_in_the_open_unit_interval_is_refused(bad):
    with pytest.raises(DataError, match=r"ci_prob \(the confidence level\) must lie in "
                                        r"\(0, 1\), got "):
        check_ci_prob(bad)
    calls = [lambda: meta_analysis(YI, VI, ci_prob=bad),
             lambda: meta_regression(YI, VI, mods=np.arange(6.0), ci_prob=bad),
             lambda: effects.summarize(DRAWS, ci_prob=bad),
             lambda: cate_accuracy(DRAWS, np.zeros(4), ci_prob=bad, dim="patient")]
    for call in calls:
        with pytest.raises(ValueError, match=r"ci_prob \(the confidence level\) must lie in"):
            call()


@pytest.mark.parametrize("good", [0.5, 0.95, np.float32(0.9), 0.999])
def test_numbers_in_the_open_unit_interval_pass(good):
    check_ci_prob(good)
    assert effects.summarize(DRAWS, ci_prob=good).shape[0] == 4
