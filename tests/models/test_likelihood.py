"""The lean logit likelihoods equal PyMC's Bernoulli / Binomial exactly (module
:mod:`bayes_hte.models.likelihood`): log density per observation, its gradient, the
random draws, and the event probability read back from the variable."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from bayes_hte.models.likelihood import (
    bernoulli_logit,
    binomial_logit,
    event_probability,
    register_jax,
    softplus,
    softplus_expit,
)

#: log-odds from far below to far above the softplus switch points (-37, 18, 33.3)
LOGITS = np.array([-60.0, -37.5, -20.0, -3.0, -0.1, 0.0, 0.7, 5.0, 17.9, 18.5, 33.0, 40.0,
                   80.0])


#: PyTensor's backends: numba (the default; nutpie's), C, and the Python linker (NumPy)
MODES = ["NUMBA", "FAST_RUN", "FAST_COMPILE"]


def _pointwise(model: pm.Model, name: str, mode: str = "NUMBA"):
    """Log density of each observation of ``name`` and its gradient in the log-odds
    ``l`` (a free variable), at ``l = LOGITS``."""
    value = model.rvs_to_values[model["l"]]
    logp = model.logp(vars=[model[name]], sum=False)[0]
    grad = pt.grad(logp.sum(), value)
    return pytensor.function([value], [logp, grad], mode=mode)(LOGITS)


#: from far below to far above any switch point; -800 and 800 overflow a naive exp
WIDE = np.array([-800.0, -745.0, -60.0, -37.5, -20.0, -3.0, -1e-3, -0.0, 0.0, 1e-300,
                 1e-3, 0.7, 5.0, 17.9, 18.5, 33.0, 40.0, 80.0, 745.0, 800.0])


@pytest.mark.parametrize("mode", MODES)
def test_shared_exp_softplus_and_expit_values_and_derivatives(mode):
    """softplus(x) = log(1 + e^x) and expit(x) = 1 / (1 + e^-x) computed from one
    e^-|x|: the closed forms to rounding in every backend, finite everywhere, with
    softplus' = expit and expit' = expit (1 - expit)."""
    from scipy.special import expit as sp_expit

    x = pt.vector("x")
    sp, p = softplus_expit(x)
    d_sp = pt.grad(sp.sum(), x)
    d_p = pt.grad(p.sum(), x)
    got = pytensor.function([x], [sp, p, d_sp, d_p], mode=mode)(WIDE)
    want_p = sp_expit(WIDE)
    np.testing.assert_allclose(got[0], np.logaddexp(0.0, WIDE), rtol=1e-15, atol=0)
    # scipy's expit(-745) underflows to 0 where e^-745 / (1 + e^-745) is 5e-324
    np.testing.assert_allclose(got[1], want_p, rtol=1e-15, atol=1e-320)
    np.testing.assert_allclose(got[2], want_p, rtol=1e-15, atol=1e-320)
    np.testing.assert_allclose(got[3], want_p * (1 - want_p), rtol=1e-14, atol=1e-320)
    assert all(np.isfinite(g).all() for g in got)


def test_gradient_reads_the_expit_of_the_softplus_node():
    """The log density's gradient takes the expit from the node that computed the
    softplus (one exponential per patient): in the graph of a fully stratified model's
    log-odds, a row-wise sum, and in the compiled numba function alike, there is one
    softplus-expit node and no other sigmoid or softplus."""
    from pytensor.graph.traversal import applys_between
    from pytensor.scalar.basic import Composite

    design, b = pt.matrix("design"), pt.matrix("b")
    y = np.array([0.0, 1.0, 1.0])
    logit = (design * b).sum(-1)
    logp = (y * logit - softplus(logit)).sum()
    grads = pt.grad(logp, [b])

    def scalar_ops(nodes):
        found = []
        for node in nodes:
            op = getattr(node.op, "scalar_op", None)
            inner = op.fgraph.apply_nodes if isinstance(op, Composite) else [node]
            found += [type(getattr(n.op, "scalar_op", n.op)).__name__ for n in inner]
        return found

    ops = scalar_ops(applys_between([design, b], [logp, *grads]))
    assert ops.count("_SoftplusExpit") == 1
    f = pytensor.function([design, b], [logp, *grads], mode="NUMBA")
    compiled = scalar_ops(f.maker.fgraph.apply_nodes)
    assert compiled.count("_SoftplusExpit") == 1
    assert not {"Sigmoid", "Softplus", "Exp"} & set(compiled)
    rng = np.random.default_rng(3)
    d, bv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    lv = (d * bv).sum(-1)
    lp, g = f(d, bv)
    np.testing.assert_allclose(lp, np.sum(y * lv - np.logaddexp(0, lv)), rtol=1e-14)
    np.testing.assert_allclose(g, (y - 1 / (1 + np.exp(-lv)))[:, None] * d, rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_shared_exp_ops_keep_float32(mode):
    """float32 in, float32 out, the closed form to float32's rounding (absolute below
    float32's smallest normal number, 1.2e-38)."""
    x = pt.vector("x", dtype="float32")
    values = np.array([-100.0, -20.0, -1.0, 0.0, 2.5, 20.0, 100.0], dtype="float32")
    sp, p = pytensor.function([x], softplus_expit(x), mode=mode)(values)
    assert sp.dtype == p.dtype == np.float32
    np.testing.assert_allclose(sp, np.logaddexp(0.0, values.astype(float)), rtol=2e-7,
                               atol=1.2e-38)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-values.astype(float))), rtol=2e-7,
                               atol=1.2e-38)


def test_shared_exp_ops_in_jax():
    """The JAX linker (``fit(sampler="nutpie_jax")``) evaluates both operations once
    :func:`register_jax` has given them their JAX functions."""
    pytest.importorskip("jax")
    from scipy.special import expit as sp_expit

    register_jax()
    register_jax()  # a second call does nothing
    x = pt.vector("x")
    y = np.array([0, 1, 1, 0, 1] * 4, dtype="float64")
    logp = (y * x - softplus(x)).sum()
    f = pytensor.function([x], [logp, pt.grad(logp, x)], mode="JAX")
    lp, g = f(WIDE)
    np.testing.assert_allclose(lp, np.sum(y * WIDE - np.logaddexp(0.0, WIDE)), rtol=1e-14)
    np.testing.assert_allclose(g, y - sp_expit(WIDE), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("y", [0, 1])
def test_bernoulli_logit_equals_pymc_bernoulli(y, mode):
    values = np.full(LOGITS.size, y, dtype="int64")
    out = []
    for lean in (True, False):
        with pm.Model() as model:
            logit = pm.Flat("l", shape=LOGITS.size)
            if lean:
                bernoulli_logit("y", logit, observed=values)
            else:
                pm.Bernoulli("y", logit_p=logit, observed=values)
        # PyMC's own graph is accurate only after PyTensor's stabilising rewrites
        # (FAST_COMPILE has none: -inf at l = 40), so the reference runs in numba
        out.append(_pointwise(model, "y", mode if lean else "NUMBA"))
    (lean_lp, lean_g), (ref_lp, ref_g) = out
    # y l - softplus(l) cancels for y = 1 and large l: values below ~1e-14 in magnitude
    # lose their relative accuracy, not their absolute one (irrelevant in a sum of
    # log densities or an elpd)
    np.testing.assert_allclose(lean_lp, ref_lp, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(lean_g, ref_g, rtol=1e-12, atol=1e-13)
    # against the closed form, independent of PyMC: y l - log(1 + e^l)
    np.testing.assert_allclose(lean_lp, y * LOGITS - np.logaddexp(0.0, LOGITS), rtol=1e-12,
                               atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_binomial_logit_equals_pymc_binomial(mode):
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
        # PyMC's own graph is accurate only after PyTensor's stabilising rewrites
        # (FAST_COMPILE has none: -inf at l = 40), so the reference runs in numba
        out.append(_pointwise(model, "k", mode if lean else "NUMBA"))
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
