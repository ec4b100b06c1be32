"""Leave-one-out meta-analysis against R metafor's ``leave1out``.

Reference: tests/data/metafor_leave1out.json, written by validation/metafor_reference.R
(R 4.2.2, metafor 3.8-1): ``leave1out(rma(yi, vi, method=, test=))`` of the BCG log risk
ratios (``escalc(measure = "RR", ...)`` of ``dat.bcg``; Colditz et al. 1994).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators import leave_one_out, meta_analysis
from tests._helpers import reference

REF = reference("metafor_leave1out")
BCG = reference("metafor_bcg")["escalc"]["RR"]
YI, VI = np.array(BCG["yi"]), np.array(BCG["vi"])
COLUMNS = ["estimate", "se", "statistic", "p", "ci_low", "ci_high", "q", "q_p", "tau2",
           "i2", "h2"]


@pytest.mark.parametrize("fit", REF["fits"], ids=lambda f: f"{f['method']}-{f['test']}")
def test_matches_metafor_leave1out(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bh.DataWarning)   # knha with FE warns, as metafor
        table = leave_one_out(YI, VI, method=fit["method"], knha=fit["test"] == "knha",
                              labels=REF["studies"])
    assert list(table.index) == REF["studies"] and table.index.name == "left_out"
    for col in COLUMNS:
        np.testing.assert_allclose(table[col], fit[col], rtol=2e-6, atol=1e-9, err_msg=col)
    assert (table["q_df"] == len(YI) - 2).all() and table["converged"].all()


def test_each_row_is_the_meta_analysis_without_that_study():
    table = leave_one_out(YI, VI, transform="exp")
    for j in (0, 5, 12):
        keep = np.arange(len(YI)) != j
        one = meta_analysis(YI[keep], VI[keep]).summary(transform="exp").iloc[0]
        row = table.iloc[j]
        for col in ("estimate", "se_untransformed", "ci_low", "ci_high", "pi_low", "pi_high",
                    "tau2", "i2", "q"):
            assert row[col] == pytest.approx(one[col], rel=1e-9), col
    assert table.index[0] == "1"


def test_effect_table_labels_and_errors():
    eff = bh.EffectTable.from_arrays(YI, VI, labels=REF["studies"])
    table = leave_one_out(eff)
    assert list(table.index) == REF["studies"]
    pd.testing.assert_frame_equal(table, leave_one_out(YI, VI, labels=REF["studies"]))
    with pytest.raises(bh.DataError, match="needs at least 3 studies, got 2"):
        leave_one_out(YI[:2], VI[:2])
    with pytest.raises(bh.DataError, match="yi must be real numbers: 'x' at study 2"):
        leave_one_out([0.1, "x", 0.2], [0.1, 0.1, 0.1])


INFLUENCE = reference("metafor_influence")
INFLUENCE_STATS = ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "q_del", "hat",
                   "weight", "dfbs"]


@pytest.mark.parametrize("fit", INFLUENCE["fits"],
                         ids=lambda f: f"{f['data']}-{f['method']}-{f['test']}")
def test_influence_matches_metafor(fit):
    """metafor 3.8-1's influence(), REML and ML iterated to 1e-10 in R
    (validation/metafor_diagnostics.R); the outlier data flag trial 8, FE flags three."""
    yi = np.array(INFLUENCE["yi"][fit["data"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bh.DataWarning)
        table = bh.comparators.influence(yi, np.array(INFLUENCE["vi"]), method=fit["method"],
                                         knha=fit["test"] == "knha")
    for col in INFLUENCE_STATS:
        np.testing.assert_allclose(table[col], fit[col], rtol=1e-7, atol=1e-12, err_msg=col)
    assert list(table["influential"]) == fit["inf"]
    assert list(table.columns) == list(bh.comparators.sensitivity.INFLUENCE_COLUMNS)


def test_influence_labels_and_errors():
    eff = bh.EffectTable.from_arrays(YI, VI, labels=REF["studies"])
    table = bh.comparators.influence(eff)
    assert list(table.index) == REF["studies"] and table.index.name == "study"
    np.testing.assert_allclose(table["tau2_del"], leave_one_out(eff)["tau2"], rtol=1e-12)
    with pytest.raises(bh.DataError, match="at least 3 studies, got 2"):
        bh.comparators.influence(YI[:2], VI[:2])
    with pytest.raises(ValueError, match="method"):
        bh.comparators.influence(YI, VI, method="XX")


def test_a_fitted_meta_analysis_can_be_given_as_metafor_users_do():
    """leave1out(res) and influence(res): the result's effects, labels and settings."""
    eff = bh.EffectTable.from_arrays(YI, VI, labels=REF["studies"], measure="RR", scale="log")
    res = meta_analysis(eff, method="DL", knha=True, ci_prob=0.9)
    pd.testing.assert_frame_equal(
        leave_one_out(res), leave_one_out(eff, method="DL", knha=True, ci_prob=0.9))
    pd.testing.assert_frame_equal(bh.comparators.influence(res),
                                  bh.comparators.influence(eff, method="DL", knha=True))
    with pytest.raises(ValueError, match=r"do not also pass \['method'\]"):
        leave_one_out(res, method="PM")
    with pytest.raises(ValueError, match=r"do not also pass \['vi'\]"):
        bh.comparators.influence(res, VI)
    with pytest.raises(ValueError, match="one meta-analysis"):
        leave_one_out(meta_analysis(np.c_[YI, YI], np.c_[VI, VI]))
