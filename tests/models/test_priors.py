"""The LKJ correlation prior by canonical partial correlations (``lkj_corr_cholesky``).

Reference facts (Lewandowski, Kurowicka & Joe 2009, J. Multivariate Anal. 100:1989-2001):
under :math:`R \\sim \\mathrm{LKJ}(\\eta)` of dimension :math:`n`, every
off-diagonal :math:`r_{ij}` has the marginal law :math:`(r_{ij} + 1)/2 \\sim
\\mathrm{Beta}(\\eta - 1 + n/2, \\eta - 1 + n/2)`. The construction samples the
canonical partial correlations as independent :math:`(z_{ij} + 1)/2 \\sim \\mathrm{Beta}(a_j, a_j)`,
:math:`a_j = \\eta + (n - 2 - j)/2` (0-based column :math:`j`; derived in the docstring
of ``lkj_corr_cholesky``): the marginals of every pair test that derivation.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import integrate, stats

from bayes_hte.models.priors import lkj_corr_cholesky


def _prior(n: int, eta: float) -> pm.Model:
    with pm.Model(coords={"pair": np.arange(n * (n - 1) // 2)}) as model:
        lkj_corr_cholesky("L", n=n, eta=eta, cpc_name="z", cpc_dim="pair")
    return model


@pytest.mark.parametrize(("n", "eta"), [(2, 1.0), (4, 2.0), (6, 0.7)])
def test_draws_have_the_lkj_marginals_for_every_pair(n, eta):
    draws = pm.draw(_prior(n, eta)["L"], draws=4000, random_seed=5)
    corr = np.einsum("sij,skj->sik", draws, draws)
    np.testing.assert_allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0, atol=1e-12)
    assert np.all(np.triu(draws, 1) == 0) and np.all(np.diagonal(draws, axis1=1, axis2=2) > 0)
    b = eta - 1 + n / 2
    pvalues = [stats.kstest((corr[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue
               for i, j in zip(*np.tril_indices(n, -1), strict=True)]
    # Bonferroni over the pairs; a wrong a_j shifts the law of every pair with j >= 1
    assert min(pvalues) > 0.01 / len(pvalues), pvalues


def test_wrong_shapes_would_be_caught():
    """The marginal check can fail: the CPCs all drawn with a_0 give other marginals."""
    n, eta, size = 5, 1.5, 4000
    rng = np.random.default_rng(3)
    rows, cols = np.tril_indices(n, -1)
    a0 = eta + (n - 2) / 2
    z = 2 * rng.beta(a0, a0, size=(size, rows.size)) - 1
    Z = np.zeros((size, n, n))
    Z[:, rows, cols] = z
    S = np.exp(np.cumsum(0.5 * np.log1p(-Z**2), axis=2) - 0.5 * np.log1p(-Z**2))
    L = Z * S + np.eye(n) * S
    corr = np.einsum("sij,skj->sik", L, L)
    b = eta - 1 + n / 2
    assert stats.kstest((corr[:, 4, 3] + 1) / 2, stats.beta(b, b).cdf).pvalue < 1e-4


@pytest.mark.parametrize(("n", "eta"), [(3, 1.0), (5, 2.5)])
def test_log_density_is_that_of_the_draws(n, eta):
    """logp of the Fisher-z CPCs = the Beta(a_j, a_j) law of (z + 1)/2 moved to atanh z."""
    model = _prior(n, eta)
    y = pm.draw(model["z"], draws=50, random_seed=2)
    logp = model.compile_logp(sum=False, mode="FAST_COMPILE")
    cols = np.tril_indices(n, -1)[1]
    a = eta + (n - 2 - cols) / 2
    for row in y:
        z = np.tanh(row)
        expected = stats.beta(a, a).logpdf((z + 1) / 2) - np.log(2) + np.log1p(-z**2)
        np.testing.assert_allclose(logp({"z": row})[0], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("a", [0.6, 2.0, 4.5])
def test_log_density_integrates_to_one(a):
    model = _prior(2, a)  # n = 2: one CPC with a_0 = eta
    logp = model.compile_logp(mode="FAST_COMPILE")
    total, _ = integrate.quad(lambda y: np.exp(logp({"z": np.array([y])})), -40, 40)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_pair_coordinate_is_labelled_by_the_matrix_dim():
    with pm.Model(coords={"coef": ["a", "b", "c"], "coef_": ["a", "b", "c"]}) as model:
        lkj_corr_cholesky("L", n=3, eta=2.0, dims=("coef", "coef_"), cpc_name="z",
                          cpc_dim="coef_pair")
        lkj_corr_cholesky("L2", n=3, eta=2.0, dims=("coef", "coef_"), cpc_name="z2",
                          cpc_dim="coef_pair")  # a second factor reuses the coordinate
    assert model.coords["coef_pair"] == ("b | a", "c | a", "c | b")
    assert model.named_vars_to_dims["z2"] == ("coef_pair",)


def test_initial_point_is_the_identity():
    model = _prior(4, 2.0)
    point = model.initial_point()
    np.testing.assert_array_equal(point["z"], np.zeros(6))
    L = model["L"].eval({model["z"]: point["z"]}, mode="FAST_COMPILE")
    np.testing.assert_allclose(L, np.eye(4))


@pytest.mark.parametrize(("n", "eta"), [(1, 2.0), (3, 0.0), (3, -1.0)])
def test_bad_dimension_or_shape_parameter_raises(n, eta):
    with pm.Model(), pytest.raises(ValueError, match="n >= 2 and eta > 0"):
        lkj_corr_cholesky("L", n=n, eta=eta, cpc_name="z")
