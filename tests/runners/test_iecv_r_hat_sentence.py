"""The IECV paragraph of the ipdma report states the refits' largest R-hat and how many
exceed 1.01 (``bayes_hte.runners.ipdma._r_hat_sentence``)."""

import numpy as np
import pandas as pd

from bayes_hte.runners.ipdma import _r_hat_sentence


def test_every_refit_converged():
    assert _r_hat_sentence(pd.Series([1.002, 1.009, 1.01])) == (
        ", largest R-hat 1.010 (every refit <= 1.01)")


def test_refits_above_the_threshold_are_counted_as_not_converged():
    assert _r_hat_sentence(pd.Series([1.004, 1.2, 1.011, np.nan])) == (
        ", largest R-hat 1.200 (2 of 3 refits above 1.01: not converged)")


def test_single_chain_refits_have_no_r_hat_sentence():
    assert _r_hat_sentence(pd.Series([np.nan, np.nan])) == ""
