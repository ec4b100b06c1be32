"""Every diagnostic of a model comparison reaches the returned table, the log and the
report (issue 13, 2d): divergences, R-hat, ESS, Pareto k; the single-chain IECV refits
say once, in words, that R-hat is not defined for them."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import xarray as xr

from bayes_hte.workflows import evaluate_models
from bayes_hte.workflows.compare import COLUMNS, DIAGNOSTICS
from bayes_hte.workflows.iecv import iecv


def _with_influential_patient(model):
    """A copy of a fitted model whose first patient's log likelihood has Pareto-tailed
    importance ratios (k = 1.25), as a patient of a 4-patient trial can have."""
    m = copy.copy(model)
    m.idata = model.idata.copy()
    ll = m.idata["log_likelihood"].to_dataset()
    y = ll["y"].values.copy()
    rng = np.random.default_rng(3)
    y[..., 0] = -np.log1p(rng.pareto(0.8, size=y.shape[:2]))
    m.idata["log_likelihood"] = xr.DataTree(ll.assign(y=(ll["y"].dims, y)))
    return m


def test_pareto_k_and_sampling_diagnostics_reach_table_log_and_diagnostics(small_fitted,
                                                                            small_data):
    fitted = {"NA-S": _with_influential_patient(small_fitted["NA-S"]),
              "RI-T": small_fitted["RI-T"]}
    messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # no numerical noise printed
        res = evaluate_models(fitted, small_data, log=messages.append, random_state=1)
    tab = res.table
    assert list(tab.columns) == COLUMNS and tab["note"].notna().all()
    rows = tab.set_index(["model", "metric"])
    # Pareto k: the count and the warning text next to elpd_loo
    assert rows.loc[("NA-S", "pareto_k_bad"), "estimate"] >= 1
    assert rows.loc[("NA-S", "pareto_k_max"), "estimate"] > 0.7
    assert rows.loc[("NA-S", "pareto_k_bad"), "n"] == small_data.n_patients
    note = rows.loc[("NA-S", "elpd_loo"), "note"]
    assert "observations with Pareto k >" in note and "unreliable" in note
    assert "ArviZ: Estimated shape parameter of Pareto distribution" in note
    assert rows.loc[("NA-S", "elpd_diff"), "note"] == "from an unreliable elpd_loo"
    assert any(m.startswith("LOO NA-S: ") and "Pareto k" in m for m in messages)
    assert res.loo.loc["NA-S", "loo_reliable"] == False  # noqa: E712 - numpy bool
    # sampling diagnostics: one chain, so R-hat is not computed, and the note says why
    for model in fitted:
        for metric in DIAGNOSTICS:
            assert (model, metric) in rows.index, (model, metric)
        assert rows.loc[(model, "divergences"), "estimate"] == 0
        assert np.isnan(rows.loc[(model, "max_r_hat"), "estimate"])
        assert rows.loc[(model, "max_r_hat"), "note"].startswith("R-hat not computed: 1 chain")
        assert rows.loc[(model, "min_ess_bulk"), "estimate"] > 10
    assert any(m.startswith("RI-T: 0 divergences, R-hat not computed (1 chain)")
               for m in messages)
    diag = res.diagnostics
    assert list(diag.index) == ["NA-S", "RI-T"]
    assert diag.loc["NA-S", "pareto_k_bad"] >= 1 and "Pareto k" in diag.loc["NA-S",
                                                                            "loo_warning"]
    assert diag["notes"].str.startswith("R-hat not computed").all()
    # the wide summaries keep to the ITE metrics
    assert "pareto_k_bad" not in res.summary().columns


def test_single_chain_iecv_refits_say_once_that_rhat_is_undefined(small_fitted, small_data,
                                                                  cv_fast):
    messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = iecv(small_data, {"NA-S": small_fitted["NA-S"]}, folds=["T1", "T2"],
                   log=messages.append, **cv_fast)
    assert res.fits["max_r_hat"].isna().all() and (res.fits["min_ess_bulk"] > 5).all()
    assert res.notes == ["R-hat not computed: 1 chain (R-hat compares chains, so it needs at "
                         "least 2) (every fit)"]
    said = [m for m in messages if "R-hat" in m]
    assert said == ["IECV: " + res.notes[0]]
