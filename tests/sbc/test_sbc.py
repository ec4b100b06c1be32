"""Simulation-based calibration harness: detection, smoke runs, every family's model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_hte import sbc
from bayes_hte.cli import main
from bayes_hte.plots.sbc import plot_sbc
from bayes_hte.sbc.core import _observed_data, _rank
from bayes_hte.sbc.result import _holm


def test_rank_counts_draws_below_truth_and_breaks_ties_at_random():
    post = np.array([[0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [0.4, 1.0]])
    true = np.array([0.25, 1.0])
    ranks = [_rank(post, true, np.random.default_rng(s)) for s in range(200)]
    assert all(r[0] == 2 for r in ranks)          # 0.1 and 0.2 lie below 0.25
    tie = np.array([r[1] for r in ranks])          # all four draws tie with the truth
    assert set(tie) == {0, 1, 2, 3, 4}             # uniform over 0..4


def test_holm_matches_hand_computation():
    # Holm (1979): sorted p (0.01, 0.02, 0.04) x (3, 2, 1) -> 0.03, 0.04, 0.04 (monotone)
    np.testing.assert_allclose(_holm(np.array([0.04, 0.01, 0.02])), [0.04, 0.03, 0.04])


def test_every_family_keeps_its_observed_values_as_data():
    """SBC swaps simulated outcomes in as data: every factory's observed value is pm.Data."""
    for spec in sbc.models():
        model = spec.build()
        data = _observed_data(model)
        assert data and all(isinstance(n, str) for n in data.values()), spec.name


def test_harness_detects_a_wrong_prior_and_passes_the_right_one(tmp_path):
    """Simulated with mu's default prior, fitted with N(1.5, 0.5^2): mu must fail."""
    res = sbc.run([*sbc.models("synthesis/univariate"), sbc.wrong_prior_model()],
                  simulations=40, seed=7, chunk=20, progress=False, store=tmp_path / "s")
    uni = res.uniformity().set_index(["model", "quantity"])
    assert uni.loc[("synthesis/univariate/wrong_prior", "mu"), "verdict"] == "fail"
    assert uni.loc[("synthesis/univariate/wrong_prior", "mu"), "p_value"] < 1e-6
    assert (uni.loc["synthesis/univariate", "verdict"] == "pass").all()
    summary = res.summary().set_index("model")
    assert summary.loc["synthesis/univariate", "verdict"] == "pass"
    assert summary.loc["synthesis/univariate/wrong_prior", "verdict"] == "fail"
    assert (summary["simulations"] == 40).all() and (summary["failed"] == 0).all()
    # resumed from the store: nothing refitted, the same ranks
    again = sbc.run([*sbc.models("synthesis/univariate"), sbc.wrong_prior_model()],
                    simulations=40, seed=7, chunk=20, progress=False, store=tmp_path / "s")
    assert again.study.n_run == 0
    pd.testing.assert_frame_equal(again.ranks, res.ranks)
    fig = plot_sbc(res, "synthesis/univariate/wrong_prior")
    assert "mu" in [ax.get_title().split("\n")[0] for ax in fig.axes]


def test_smoke_binary_and_piecewise_survival_models():
    """A few simulations of an IPD-MA binary model and a piecewise survival model."""
    chosen = [*sbc.models("ipdma/binary/random_intercept/s"),
              *sbc.models("ipdma/piecewise/stratified_intercept/t")]
    res = sbc.run(chosen, simulations=3, seed=3, draws=100, tune=200, thin=2, chunk=3,
                  progress=False)
    fits = res.fits
    assert (fits["error"] == "").all(), fits["error"].tolist()
    ranks = res.ranks
    assert ranks["rank"].between(0, ranks["n_draws"]).all()
    assert (ranks["n_draws"] == 100).all()
    assert ranks["pit"].between(0, 1).all()
    binary = set(ranks.loc[ranks["model"] == "ipdma/binary/random_intercept/s", "quantity"])
    assert {"loglik", "ite[0]", "ite[1]", "ite[2]", "theta[x1]", "tau_alpha"} <= binary
    surv = set(ranks.loc[ranks["model"] != "ipdma/binary/random_intercept/s", "quantity"])
    assert {"loglik", "ite[0]"} <= surv
    assert any(q.startswith("log_lambda[") for q in surv)


def test_simulated_survival_data_are_censored_at_the_design_end():
    spec = sbc.models("ipdma/weibull/random_intercept/s")[0]
    sim = sbc.core.simulate(spec, np.random.default_rng(1))
    t, event = sim["data"]["time_observed"], sim["data"]["event"]
    horizon = t.max()
    assert set(np.unique(event)) <= {0.0, 1.0}
    assert np.all(t[event == 0] == horizon) and np.all(t[event == 1] <= horizon)
    assert np.all(t > 0)


def test_cli_sbc_writes_tables_and_figures(tmp_path):
    out = tmp_path / "out"
    code = main(["sbc", "synthesis/univariate", "--simulations", "8", "--store",
                 str(tmp_path / "store"), "--out", str(out)])
    assert code == 0
    for name in ("summary.csv", "summary.md", "uniformity.csv", "fits.csv", "ranks.csv",
                 "ecdf_synthesis_univariate.png"):
        assert (out / name).exists(), name
    uni = pd.read_csv(out / "uniformity.csv")
    assert set(uni.columns) >= {"model", "quantity", "test", "p_value", "verdict"}


def test_cli_sbc_unknown_family_is_an_error(tmp_path, capsys):
    assert main(["sbc", "no/such/family", "--store", str(tmp_path / "s"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no/such/family" in capsys.readouterr().err


def test_run_refuses_duplicate_model_names():
    spec = sbc.models("synthesis/univariate")[0]
    with pytest.raises(ValueError, match="unique"):
        sbc.run([spec, spec], simulations=2, progress=False)


def test_structural_constants_are_not_ranked():
    """A correlation matrix's unit diagonal has posterior SD 0: left out of the ranks."""
    from bayes_hte.sbc.result import SBCResult
    from bayes_hte.studies.result import StudyResult

    rows = []
    for rep in range(3):
        for est, (rank, sd) in {"corr[0,0]": (100.0, 0.0), "corr[0,1]": (40.0 + rep, 0.2),
                                "~n_draws": (200.0, np.nan)}.items():
            rows.append({"model": "m", "scenario": 0, "replicate": rep, "method": "nuts",
                         "estimand": est, "truth": np.nan, "estimate": rank, "se": sd,
                         "ci_low": np.nan, "ci_high": np.nan, "seconds": 1.0, "error": ""})
    res = SBCResult(StudyResult(name="t", estimates=pd.DataFrame(rows), factors=["model"],
                                methods=["nuts"]))
    assert set(res.ranks["quantity"]) == {"corr[0,1]"}
    assert res.ranks["rank"].tolist() == [40, 41, 42]
    assert (res.ranks["n_draws"] == 200).all()


def test_test_quantities_are_functions_of_the_parameters_given():
    """loglik and ITEs evaluated at given parameters equal hand computations (a graph
    left with random variables in it would draw them instead: constant ITEs)."""
    from scipy.special import expit
    from scipy.stats import bernoulli

    from bayes_hte.sbc.core import _prepare
    from bayes_hte.sbc.families import ipd_design

    spec = sbc.models("ipdma/binary/naive/s")[0]
    prep = _prepare(spec)
    design = ipd_design()
    X, z, y = design.X, design.z, design.y
    for vals in ({"theta": np.array([0.1, 0.2]), "gamma": -0.5, "eta": np.array([0.3, 0.1]),
                  "alpha": 1.0},
                 {"theta": np.array([-0.4, 0.0]), "gamma": 0.8, "eta": np.array([0.0, -0.6]),
                  "alpha": -0.3}):
        ll, ite = prep.quantities(*[vals[n] for n in prep.fit_free])
        lp0 = vals["alpha"] + X @ vals["theta"]
        lp1 = lp0 + vals["gamma"] + X @ vals["eta"]
        np.testing.assert_allclose(ite, (expit(lp1) - expit(lp0))[:3], rtol=1e-10)
        p = expit(np.where(z == 1, lp1, lp0))
        np.testing.assert_allclose(ll, bernoulli.logpmf(y, p).sum(), rtol=1e-10)


def test_a_model_whose_simulations_all_failed_is_summarised_as_failing():
    """Every simulation raised (e.g. a model with flat variables cannot be drawn
    forward): the summary says so instead of raising, and does not pass the model."""
    from bayes_hte.sbc.result import SBCResult
    from bayes_hte.studies.result import StudyResult

    rows = [{"model": "m", "scenario": 0, "replicate": rep, "method": "nuts", "estimand": "",
             "truth": np.nan, "estimate": np.nan, "se": np.nan, "ci_low": np.nan,
             "ci_high": np.nan, "seconds": np.nan,
             "error": "generate: NotImplementedError: Cannot sample from flat variable"}
            for rep in range(3)]
    res = SBCResult(StudyResult(name="t", estimates=pd.DataFrame(rows), factors=["model"],
                                methods=["nuts"]))
    assert res.uniformity().empty
    row = res.summary().set_index("model").loc["m"]
    assert row["simulations"] == 3 and row["failed"] == 3 and row["quantities"] == 0
    assert row["verdict"] == "fail"


@pytest.mark.parametrize("name", ["ipdma/binary/random_intercept/t", "ipdma/binary/rank1/s",
                                  "ipdma/binary/rank1/t"])
def test_default_random_intercepts_are_simulated_centred_and_fitted_as_users_fit_them(name):
    """The default binary random intercepts (partially centred, RI and rank-1) have flat
    variables: the SBC model simulates the centred form and fits the default one, whose
    posterior has every simulated parameter (rank-1: phi_dev = phi - 1 added)."""
    spec = sbc.models(name)[0]
    sim_model, fit_model = spec.build(), spec.fit_build()
    assert sim_model.bayes_hte["intercept_form"] == "centered"
    assert fit_model.bayes_hte["intercept_form"] == "partially_centered"
    fit_names = {v.name for v in [*fit_model.free_RVs, *fit_model.deterministics]}
    assert {v.name for v in sim_model.free_RVs} <= fit_names
    if "rank1" in name:  # the added deviations are the centred form's phi_dev
        assert "phi_dev_raw" in fit_model.named_vars
        assert fit_model.named_vars_to_dims["phi_dev"] == sim_model.named_vars_to_dims["phi_dev"]
        rng = np.random.default_rng(0)  # away from phi = 1, where the check is trivial
        point = {k: v + 0.5 * rng.normal(size=np.shape(v))
                 for k, v in fit_model.initial_point().items()}
        phi, dev = fit_model.compile_fn([fit_model["phi"], fit_model["phi_dev"]],
                                        inputs=fit_model.value_vars,
                                        on_unused_input="ignore")(point)
        np.testing.assert_allclose(dev, (phi - 1.0).T if name.endswith("/t") else phi - 1.0)
    sim = sbc.core.simulate(spec, np.random.default_rng(2))
    assert np.isin(sim["data"]["y_observed"], [0, 1]).all()
