"""The IECV log summary and the IECV paragraph of the ipdma report state the refits'
largest R-hat and how many exceed 1.01 (``bayes_hte.workflows.iecv.r_hat_sentence``)."""

import numpy as np
import pandas as pd

from bayes_hte.workflows.iecv import IECVResult, log_iecv, r_hat_sentence


def test_every_refit_converged():
    assert r_hat_sentence(pd.Series([1.002, 1.009, 1.01])) == (
        ", largest R-hat 1.010 (every refit <= 1.01)")


def test_refits_above_the_threshold_are_counted_as_not_converged():
    assert r_hat_sentence(pd.Series([1.004, 1.2, 1.011, np.nan])) == (
        ", largest R-hat 1.200 (2 of 3 refits above 1.01: not converged)")


def test_single_chain_refits_have_nor_hat_sentence():
    assert r_hat_sentence(pd.Series([np.nan, np.nan])) == ""


def test_the_log_summary_counts_the_refits_above_the_threshold():
    fits = pd.DataFrame({"model": ["RI-S", "RI-S", "FS-S"], "trial": ["T1", "T2", "T1"],
                         "seconds": [2.0, 2.1, 20.5], "divergences": [0, 1, 0],
                         "max_r_hat": [1.004, 1.008, 1.018],
                         "min_ess_bulk": [900.0, 850.0, 412.0]})
    result = IECVResult(data=None, ite={}, ite_new={}, recalibration=pd.DataFrame(),
                        fits=fits, wall_seconds=24.6)
    lines = []
    log_iecv(result, lines.append)
    assert lines[-1] == ("IECV: 3 fits in 25 s wall time, 1 divergences in total, smallest "
                         "bulk ESS 412, largest R-hat 1.018 (1 of 3 refits above 1.01: not "
                         "converged)")
