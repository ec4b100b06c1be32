"""Per-patient CATE draws of the subgroup model carry every variance component they should.

Issue 13 (f) asked whether the intervals of the subgroup model's per-patient effects leave
a variance component out (subgroup deviations, the trial level, the individual layer).
These tests build posteriors by hand (no sampling) and check each component draw by
draw: what the model's linear predictor adds (Tzimas 2024, equations 5-7; trial as a
grouping level) must be in the CATE draws, and nothing else.
"""

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit

import bayes_hte as bh
from bayes_hte.effects import subgroup as subgroup_effects
from bayes_hte.models import subgroup
from bayes_hte.simulate.bouvier2024 import bouvier2024

C, D = 2, 4000


@pytest.fixture(scope="module")
def setup():
    """Three trials, subgrouping x3 (two levels), interaction with x1, and a posterior
    with every parameter drawn at random (independent across draws)."""
    sim = bouvier2024(trials=3, patients_per_trial=60, covariates=3, seed=4)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2"])
    lay = subgroup.layout(data, subgroups=["x3"], interactions=["x1"])
    rng = np.random.default_rng(1)
    cd = ("chain", "draw")

    def draws(*shape, loc=0.0, scale=1.0):
        return rng.normal(loc, scale, (C, D, *shape))

    mu_tau, alpha = draws(loc=-0.3, scale=0.2), draws(loc=-2.0, scale=0.3)
    post = xr.Dataset({
        "alpha": (cd, alpha), "mu_tau": (cd, mu_tau),
        "beta": ((*cd, "covariate"), draws(2, scale=0.5)),
        "gamma": ((*cd, "interaction"), draws(1, scale=0.5)),
        "alpha_subgroup": ((*cd, "subgroup"), alpha[..., None] + draws(2, scale=0.4)),
        "tau_subgroup": ((*cd, "subgroup"), mu_tau[..., None] + draws(2, scale=0.4)),
        "tau_alpha": (cd, np.abs(draws(scale=0.5))),
        "tau_tau": (cd, np.abs(draws(scale=0.5))),
        "sigma_eta": (cd, np.abs(draws(scale=0.5))),
    })
    X = lay.design(data)
    idx = lay.subgroup_index(data.frame)
    return lay, post, X, idx


def test_conditional_cate_is_the_models_effect_draw_by_draw(setup):
    """tau_i = mu_tau + x_i' gamma + (tau_k[i] - mu_tau): the population effect, the
    interactions and the patient's subgroup deviation, per draw (an average trial)."""
    lay, post, X, idx = setup
    got = subgroup_effects.cate_draws(post, lay, X, idx, kind="conditional").values
    gamma = post["gamma"].values  # (C, D, 1)
    k = idx[:, 0]
    expected = (post["tau_subgroup"].values[:, :, k]
                + gamma[..., 0][..., None] * X[:, 0][None, None, :])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # so the posterior spread of a patient's effect includes its subgroup deviation
    sd_with = got.std(axis=(0, 1))
    sd_without = (post["mu_tau"].values[..., None]
                  + gamma[..., 0][..., None] * X[:, 0]).std(axis=(0, 1))
    assert (sd_with > sd_without).all()


def test_new_trial_adds_the_trial_level_effect_and_average_trial_none(setup):
    """new_trial=True adds tau_tau * N(0, 1), one draw per posterior draw shared by all
    patients; the average trial adds nothing."""
    lay, post, X, idx = setup
    avg = subgroup_effects.cate_draws(post, lay, X, idx, kind="conditional").values
    new = subgroup_effects.cate_draws(post, lay, X, idx, kind="conditional", new_trial=True,
                                      rng=np.random.default_rng(7)).values
    diff = new - avg
    np.testing.assert_allclose(diff, diff[:, :, :1] * np.ones_like(diff), atol=1e-12)
    u = diff[:, :, 0] / post["tau_tau"].values
    # standard normal (n = 8000 draws): mean within 4 SE, SD within 4 SE (about 0.032)
    assert abs(u.mean()) < 4 / np.sqrt(C * D)
    assert u.std() == pytest.approx(1.0, abs=4 / np.sqrt(2 * C * D))


def test_marginal_cate_adds_only_the_average_over_the_individual_layer(setup):
    """The marginal CATE is logit(E expit(l0 + tau + sigma_eta e)) - l0: with
    sigma_eta = 0 it is the conditional one; the individual deviation averages out (it is
    not a component of the CATE interval; it is of an individual's effect, ``eta``)."""
    lay, post, X, idx = setup
    lp0, tau = subgroup_effects.linear_predictors(post, lay, X, idx)
    zero = post.assign(sigma_eta=xr.zeros_like(post["sigma_eta"]))
    np.testing.assert_allclose(
        subgroup_effects.cate_draws(zero, lay, X, idx).values, tau.values, atol=1e-9)
    marg = subgroup_effects.cate_draws(post, lay, X, idx).values
    # one (draw, patient) cell against direct quadrature
    c, d, i = 1, 17, 5
    e = np.linspace(-10, 10, 40001)
    w = np.exp(-e**2 / 2)
    s = float(post["sigma_eta"].values[c, d])
    p = (w * expit(lp0.values[c, d, i] + tau.values[c, d, i] + s * e)).sum() / w.sum()
    assert marg[c, d, i] == pytest.approx(np.log(p / (1 - p)) - lp0.values[c, d, i], abs=1e-8)
