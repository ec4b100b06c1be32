"""The normal–normal random-effects simulator (bayes_hte.simulate.normal_meta)."""

import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte import DataError
from bayes_hte.simulate import normal_meta, normal_meta_truth


def test_draw_is_seeded_and_consistent():
    a, b = normal_meta(6, mu=0.2, tau2=0.05, seed=3), normal_meta(6, mu=0.2, tau2=0.05, seed=3)
    np.testing.assert_array_equal(a.effects.yi, b.effects.yi)
    assert isinstance(a.effects, bh.EffectTable) and a.effects.k == 6
    assert list(a.data.columns) == ["study", "n", "theta", "yi", "vi"]
    assert a.data["n"].between(20, 200).all()
    n1 = a.data["n"] // 2
    np.testing.assert_allclose(a.data["vi"], 1 / n1 + 1 / (a.data["n"] - n1))
    assert a.truth["mu"] == 0.2 and a.truth["tau"] == pytest.approx(np.sqrt(0.05))
    np.testing.assert_array_equal(a.truth["theta"], a.data["theta"])


def test_moments_over_many_draws():
    rng = np.random.default_rng(1)
    sims = [normal_meta(4, mu=0.3, tau2=0.1, sizes=(100, 100), seed=rng) for _ in range(2000)]
    theta = np.concatenate([s.data["theta"] for s in sims])
    dev = np.concatenate([s.data["yi"] - s.data["theta"] for s in sims])
    assert theta.mean() == pytest.approx(0.3, abs=0.02)
    assert theta.var() == pytest.approx(0.1, rel=0.1)
    assert dev.var() == pytest.approx(0.04, rel=0.1)      # v = 1/50 + 1/50
    common = normal_meta(5, tau2=0.0, seed=2)
    assert (common.data["theta"] == 0.0).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 1}, "k .* integer >= 2"),
    ({"tau2": -0.1}, "tau2 must be finite and >= 0"),
    ({"sizes": (1, 10)}, "sizes must be two integers"),
    ({"sizes": (50, 20)}, "sizes must be two integers"),
    ({"sd": 0.0}, "sd must be > 0"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(DataError, match=message):
        normal_meta(**kwargs)


def test_truth_function():
    assert normal_meta_truth(mu=1.0, tau2=0.25) == {"mu": 1.0, "tau2": 0.25, "tau": 0.5}
