"""Geweke (1992) z-scores with AR spectral densities at zero (bayes_hte.diagnostics.geweke)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.signal import lfilter

from bayes_hte.diagnostics import geweke, geweke_z, spectrum0_ar


def _series() -> np.ndarray:
    """Three AR(1) chains (phi = 0, 0.5, 0.9) of 1000 draws; the last with a shifted start."""
    rng = np.random.default_rng(2024)
    n = 1000
    x = np.zeros((3, n))
    for i, phi in enumerate((0.0, 0.5, 0.9)):
        e = rng.standard_normal(n)
        for t in range(1, n):
            x[i, t] = phi * x[i, t - 1] + e[t]
    x[2, :100] += 0.8
    return x


def test_matches_coda():
    x = _series()
    # R 4.2, coda 0.19-4, on these series written to CSV with 17 digits:
    #   m <- mcmc(x); geweke.diag(m)$z; spectrum0.ar(x)$spec; spectrum0.ar(x[1:101, ])$spec
    np.testing.assert_allclose(geweke_z(x), [0.334243478592, -1.609021534071, 0.386782533917],
                               rtol=1e-9)
    np.testing.assert_allclose(spectrum0_ar(x), [0.956187707089, 3.177429303781,
                                                 80.111174180540], rtol=1e-9)
    np.testing.assert_allclose(spectrum0_ar(x[:, :101]), [0.77004995453, 1.93158930805,
                                                          35.57849400482], rtol=1e-9)


def test_spectral_density_of_ar1():
    # S(0) of an AR(1) with unit innovations is 1 / (1 - phi)^2
    rng = np.random.default_rng(1)
    for phi in (0.0, 0.5, 0.8):
        x = lfilter([1.0], [1.0, -phi], rng.standard_normal((100, 20_000)), axis=-1)
        s = spectrum0_ar(x)
        assert s.shape == (100,)
        assert s.mean() == pytest.approx(1 / (1 - phi) ** 2, rel=0.03)


def test_stationary_chains_give_standard_normal_z():
    rng = np.random.default_rng(2)
    e = rng.standard_normal((2000, 1200))
    x = lfilter([1.0], [1.0, -0.5], e, axis=-1)[:, 200:]  # stationary AR(1), phi = 0.5
    z = geweke_z(x)
    assert z.shape == (2000,)
    assert abs(z.mean()) < 0.08
    # slightly over-dispersed: the AR fit to the 101-draw first window is noisy
    assert 0.95 < z.std() < 1.15
    assert 0.03 < np.mean(np.abs(z) > 1.96) < 0.09


def test_flags_chains_that_drift():
    rng = np.random.default_rng(3)
    x = lfilter([1.0], [1.0, -0.5], rng.standard_normal((300, 1000)), axis=-1)
    drift = x + np.linspace(1.0, 0.0, 1000)
    assert np.mean(np.abs(geweke_z(drift)) > 1.96) > 0.8
    assert np.mean(geweke_z(drift) > 0) > 0.95  # the start is higher than the end


def test_vectorised_constant_and_errors():
    x = _series()
    stacked = np.stack([x, x[::-1]])  # (parameter, chain, draw)
    z = geweke_z(stacked)
    assert z.shape == (2, 3)
    np.testing.assert_allclose(z[0], geweke_z(x))
    assert np.isnan(geweke_z(np.ones(500)))
    np.testing.assert_allclose(geweke_z(x, first=0.2, last=0.3)[0],
                               geweke_z(x[0], first=0.2, last=0.3))
    with pytest.raises(ValueError, match="first and last"):
        geweke_z(x, first=0.6, last=0.5)
    with pytest.raises(ValueError, match="too few"):
        geweke_z(np.arange(8.0))


def test_geweke_table_from_posterior():
    x = _series()
    post = xr.Dataset(
        {"mu": (("chain", "draw"), x),
         "theta": (("chain", "draw", "covariate"), np.stack([x, 2 * x + 1], axis=-1))},
        coords={"chain": [0, 1, 2], "draw": np.arange(1000), "covariate": ["age", "sex"]})
    tree = xr.DataTree.from_dict({"posterior": post})
    tab = geweke(tree, var_names=["mu", "theta"])
    assert isinstance(tab, pd.DataFrame)
    assert list(tab.columns) == ["chain_1", "chain_2", "chain_3"]
    assert list(tab.index) == ["mu", "theta[age]", "theta[sex]"]
    np.testing.assert_allclose(tab.loc["mu"], geweke_z(x))
    np.testing.assert_allclose(tab.loc["theta[sex]"], geweke_z(x))  # affine invariant
