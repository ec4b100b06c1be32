"""Diagnostics are computed only where defined and said in words; none is swallowed.

R-hat needs two chains (the single-chain IECV refits have none) and a parameter that
varies; PSIS-LOO keeps its Pareto k reliability flag and ArviZ's warning text.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from bayes_hte import diagnostics


def _tree(n_chain: int, n_draw: int = 200, *, seed: int = 0, heavy: bool = False
          ) -> xr.DataTree:
    """A posterior (``a`` varies, ``b`` per coef, ``c`` is a constant plug-in) with its
    sample stats and a pointwise log likelihood of 40 observations."""
    rng = np.random.default_rng(seed)
    post = xr.Dataset(
        {"a": (("chain", "draw"), rng.normal(size=(n_chain, n_draw))),
         "b": (("chain", "draw", "coef"), rng.normal(size=(n_chain, n_draw, 2))),
         "c": (("chain", "draw"), np.full((n_chain, n_draw), 0.5))},
        coords={"coef": ["x1", "x2"]})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((n_chain, n_draw), bool))})
    ll = -0.5 * rng.normal(1.0, 0.1, size=(n_chain, n_draw, 40)) ** 2
    if heavy:  # one observation whose importance ratios 1 / p(y | draw) are Pareto, k = 1.25
        ll[..., 0] = -np.log1p(rng.pareto(0.8, size=(n_chain, n_draw)))
        # and one whose ratios are too extreme for k to be estimated (NaN: also unreliable)
        ll[..., 1] = -np.exp(rng.normal(0.0, 4.0, size=(n_chain, n_draw)))
    loglik = xr.Dataset({"y": (("chain", "draw", "patient"), ll)})
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats,
                                  "log_likelihood": loglik})


def test_rhat_needs_two_chains_and_a_varying_parameter():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ArviZ's 0/0 must not reach the user
        one = diagnostics.diagnostics_table(_tree(1), var_names=["a", "b", "c"])
        two = diagnostics.diagnostics_table(_tree(2), var_names=["a", "b", "c"])
        health = diagnostics.sampling_summary(_tree(1), var_names=["a", "b"])
    assert list(one.index) == ["a", "b[x1]", "b[x2]", "c"]
    # one chain: no R-hat, said once in words; ESS is defined
    assert one["r_hat"].isna().all() and one["r_hat_classic"].isna().all()
    assert (one.loc[["a", "b[x1]"], "ess_bulk"] > 50).all()
    assert one.attrs["notes"][0] == ("R-hat not computed: 1 chain (R-hat compares chains, so "
                                     "it needs at least 2)")
    # two chains: R-hat where the parameter varies; the constant is named, not divided by 0
    assert two.loc[["a", "b[x1]", "b[x2]"], "r_hat"].between(0.98, 1.05).all()
    assert two.loc[["a", "b[x2]"], "r_hat_classic"].notna().all()
    assert two.loc["c", ["r_hat", "r_hat_classic", "ess_bulk"]].isna().all()
    assert len(two.attrs["notes"]) == 1 and "constant over the draws (c)" in \
        two.attrs["notes"][0]
    assert health["notes"].startswith("R-hat not computed: 1 chain")
    assert np.isnan(health["max_r_hat"])
    assert diagnostics.format_health(health) == (
        f"0 divergences, R-hat not computed (1 chain), min bulk ESS "
        f"{health['min_ess_bulk']:.0f}")


def test_too_few_draws_gives_no_rhat_or_ess():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = diagnostics.diagnostics_table(_tree(2, n_draw=3), var_names=["a"])
    assert table[["r_hat", "ess_bulk", "ess_tail"]].isna().all(axis=None)
    assert "3 draws per chain" in table.attrs["notes"][0]


def test_loo_table_keeps_the_pareto_k_flag_and_the_warning_text():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recorded into the table, not printed
        tab = diagnostics.loo_table({"ok": _tree(2, seed=1),
                                     "flagged": _tree(2, seed=2, heavy=True)})
    assert list(tab.columns) == diagnostics.LOO_COLUMNS
    assert set(tab.index) == {"ok", "flagged"}
    bad = tab.loc["flagged"]
    assert bad["pareto_k_max"] == np.inf and bad["pareto_k_bad"] == 2
    assert bad["pareto_k_threshold"] == pytest.approx(min(1 - 1 / np.log10(400), 0.7))
    assert not bad["loo_reliable"] and bad["n_obs"] == 40 and bad["n_draws"] == 400
    assert bad["warning"].startswith("2 of 40 observations with Pareto k > 0.62 (max inf; k "
                                     "not estimable for some)")
    assert "unreliable" in bad["warning"] and "ArviZ: Estimated shape parameter" in \
        bad["warning"]
    good = tab.loc["ok"]
    assert good["loo_reliable"] and good["pareto_k_bad"] == 0
    assert np.isfinite(tab["elpd_diff"]).all() and (tab["elpd_diff"] == 0).sum() == 1
    one = diagnostics.loo_table({"ok": _tree(2, seed=1)})
    assert np.isnan(one.loc["ok", "elpd_diff"]) and one.loc["ok", "warning"] == ""
    with pytest.raises(ValueError, match="no log_likelihood group: fit it with"):
        diagnostics.loo_table({"x": xr.DataTree.from_dict({"posterior": xr.Dataset()})})


def test_fit_warnings_keep_data_warnings_and_drop_library_deprecations():
    from bayes_hte.errors import DataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("trial 'T3' has no events", DataWarning, stacklevel=1)
        warnings.warn("trial 'T3' has no events", DataWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert diagnostics.fit_warnings(caught) == ["DataWarning: trial 'T3' has no events"]


def test_population_vars_skips_constants_per_element():
    """Plug-in constants are skipped although the SD of equal values is not always 0 in
    floating point (the stratified-intercept S-learner's tau_alpha, 4 x 1000 draws) and
    when they differ between arms (the T-learner's); a variable with one constant and
    one varying element is kept."""
    tree = _tree(4, n_draw=1000)
    post = tree["posterior"].to_dataset()
    n = post.sizes["chain"], post.sizes["draw"]
    post["tau_s"] = (("chain", "draw"), np.full(n, 0.3251627329845173))
    per_arm = np.array([0.29065530908072706, 0.3780686722595864])
    post["tau_t"] = (("chain", "draw", "arm"), np.broadcast_to(per_arm, (*n, 2)).copy())
    half = np.stack([np.full(n, 0.5), np.random.default_rng(3).normal(size=n)], axis=-1)
    post["half"] = (("chain", "draw", "arm"), half)
    assert float(post["tau_s"].std()) > 0.0  # equal values, nonzero SD
    tree["posterior"] = xr.DataTree(post)
    assert diagnostics.population_vars(tree) == ["a", "b", "half"]


def test_sampling_summary_reads_a_table_already_computed():
    """A diagnostics table computed before (any interval probability) gives the same
    summary as computing it again (the runner passes its per-model tables on)."""
    tree = _tree(2, seed=3)
    table = diagnostics.diagnostics_table(tree, var_names=["a", "b", "c"], ci_prob=0.8)
    own = diagnostics.sampling_summary(tree, var_names=["a", "b", "c"])
    given = diagnostics.sampling_summary(tree, table=table)
    assert given.keys() == own.keys()
    for key, value in own.items():
        assert given[key] == value or (np.isnan(value) and np.isnan(given[key])), key
    assert "constant over the draws (c)" in given["notes"]
