"""The lean logit likelihoods equal PyMC's Bernoulli / Binomial exactly (module
:mod:`bayes_hte.models.likelihood`): log density per observation, its gradient, the
random draws, and the event probability read back from the variable."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from bayes_hte.models.likelihood import bernoulli_logit, binomial_logit, event_probability

#: log-odds from far below to far above the softplus switch points (-37, 18, 33.3)
LOGITS = np.array([-60.0, -37.5, -20.0, -3.0, -0.1, 0.0, 0.7, 5.0, 17.9, 18.5, 33.0, 40.0,
                   80.0])


def _pointwise(model: pm.Model, name: str):
    """Log density of each observation of ``name`` and its gradient in the log-odds
    ``l`` (a free variable), at ``l = LOGITS``."""
    value = model.rvs_to_values[model["l"]]
    logp = model.logp(vars=[model[name]], sum=False)[0]
    grad = pt.grad(logp.sum(), value)
    return pytensor.function([value], [logp, grad], mode="FAST_RUN")(LOGITS)


@pytest.mark.parametrize("y", [0, 1])
def test_bernoulli_logit_equals_pymc_bernoulli(y):
    values = np.full(LOGITS.size, y, dtype="int64")
    out = []
    for lean in (True, False):
        with pm.Model() as model:
            logit = pm.Flat("l", shape=LOGITS.size)
            if lean:
                bernoulli_logit("y", logit, observed=values)
            else:
                pm.Bernoulli("y", logit_p=logit, observed=values)
        out.append(_pointwise(model, "y"))
    (lean_lp, lean_g), (ref_lp, ref_g) = out
    # y l - softplus(l) cancels for y = 1 and large l: values below ~1e-14 in magnitude
    # lose their relative accuracy, not their absolute one (irrelevant in a sum of
    # log densities or an elpd)
    np.testing.assert_allclose(lean_lp, ref_lp, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(lean_g, ref_g, rtol=1e-12, atol=1e-13)
    # against the closed form, independent of PyMC: y l - log(1 + e^l)
    np.testing.assert_allclose(lean_lp, y * LOGITS - np.logaddexp(0.0, LOGITS), rtol=1e-12,
                               atol=1e-13)


def test_binomial_logit_equals_pymc_binomial():
    n = np.array([1, 5, 40, 400, 7, 3, 12, 100, 9, 2, 50, 8, 1], dtype="int64")
    k = np.array([0, 2, 40, 13, 0, 3, 6, 99, 9, 1, 0, 4, 1], dtype="int64")
    out = []
    for lean in (True, False):
        with pm.Model() as model:
            logit = pm.Flat("l", shape=LOGITS.size)
            if lean:
                binomial_logit("k", n, logit, observed=k)
            else:
                pm.Binomial("k", n=n, logit_p=logit, observed=k)
        out.append(_pointwise(model, "k"))
    (lean_lp, lean_g), (ref_lp, ref_g) = out
    np.testing.assert_allclose(lean_lp, ref_lp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lean_g, ref_g, rtol=1e-10, atol=1e-12)


#: a few log-odds and their event probabilities, for the draws and the read-back
SMALL_LOGITS = np.array([-2.0, 0.0, 1.5])
SMALL_P = 1.0 / (1.0 + np.exp(-SMALL_LOGITS))


def _lean_outcomes() -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """``bernoulli_logit`` and ``binomial_logit`` (10 trials each) at ``SMALL_LOGITS``,
    declared in the current model."""
    zeros = np.zeros(SMALL_LOGITS.size, dtype="int64")
    y = bernoulli_logit("y", pt.as_tensor(SMALL_LOGITS), observed=zeros)
    k = binomial_logit("k", np.full(SMALL_LOGITS.size, 10), pt.as_tensor(SMALL_LOGITS),
                       observed=zeros)
    return y, k


def test_draws_are_bernoulli_and_binomial_draws():
    with pm.Model():
        y, k = _lean_outcomes()
    ys, ks = pm.draw([y, k], draws=20_000, random_seed=1)
    assert ys.dtype.kind == "i" and set(np.unique(ys)) == {0, 1}
    # Monte Carlo SE of a mean of 20,000 Bernoulli draws <= 0.0036; 5 SE
    np.testing.assert_allclose(ys.mean(0), SMALL_P, atol=0.018)
    np.testing.assert_allclose(ks.mean(0), 10 * SMALL_P, atol=0.12)


def test_event_probability_reads_the_log_odds_back():
    with pm.Model():
        y, k = _lean_outcomes()
        b = pm.Bernoulli("b", logit_p=pt.as_tensor(SMALL_LOGITS),
                         observed=np.zeros(SMALL_LOGITS.size, dtype="int64"))
    np.testing.assert_allclose(event_probability(y).eval(), SMALL_P, rtol=1e-12)
    np.testing.assert_allclose(event_probability(k).eval(), SMALL_P, rtol=1e-12)
    assert event_probability(b) is None  # not made here
