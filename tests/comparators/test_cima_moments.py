"""The moment system of CIMA-AgD for the Bayesian CIMA (comparators/cima/moments.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.comparators.cima.moments import (
    CIMAMoments,
    cima_moments,
    informative_basis,
    tilted_correlation,
)
from bayes_hte.errors import DataError
from tests._helpers import linear_cate_trials

CATE = "~ lvef + prehhf + diabetes"


@pytest.fixture(scope="module")
def sglt2():
    return bh.datasets.sglt2_hf()


@pytest.fixture(scope="module")
def system(sglt2) -> CIMAMoments:
    return cima_moments(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE)


def _closed_form(s: CIMAMoments, prior_sd: float | None):
    """Posterior mean and covariance of theta (GLS for prior_sd=None)."""
    A = sum(M.T @ np.linalg.solve(V, M) for _, M, V in s.blocks())
    b = sum(M.T @ np.linalg.solve(V, y) for y, M, V in s.blocks())
    if prior_sd is not None:
        A = A + np.eye(len(b)) / prior_sd**2
    C = np.linalg.inv(A)
    return C @ b, C


@pytest.mark.parametrize("representer", ["reported", "tilted"])
def test_design_is_the_moment_matrix_of_cima(sglt2, representer):
    s = cima_moments(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE,
                     representer=representer)
    f = bh.comparators.cima(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE,
                            representer=representer)
    np.testing.assert_array_equal(s.design, f.D)
    assert s.terms == ("(Intercept)", "lvef", "prehhf", "diabetes")
    assert s.trials == ("EMPEROR-Preserved", "DELIVER", "DAPA-HF", "EMPEROR-Reduced")
    np.testing.assert_allclose(s.target_design(), f.target_design())
    assert s.effects["estimate"].tolist() == f.moments["estimate"].tolist()


def test_reduction_drops_only_directions_without_information(system):
    # every trial reports its overall effect and complete partitions of prior HHF and
    # diabetes (2 exact dependencies); the LVEF strata of the HFpEF trials do not cover
    # the tilted population below LVEF 40, so they are not a dependency
    assert [len(y) for y, _, _ in system.blocks()] == [6, 6, 3, 3]
    ti = system.trial_index
    for k in range(len(system.trials)):
        rows = np.flatnonzero(ti == k)
        K = system.basis[np.ix_(rows, np.flatnonzero(system.component_trial == k))]
        np.testing.assert_allclose(K.T @ K, np.eye(K.shape[1]), atol=1e-12)
        D = system.design[rows]
        # D lies in the span of K: the dropped combinations have c'D = 0 (no information)
        np.testing.assert_allclose(K @ (K.T @ D), D, atol=1e-10 * np.abs(D).max())
    # the basis of representers whose columns are exactly dependent
    rng = np.random.default_rng(0)
    a = rng.random((50, 2))
    assert informative_basis(np.column_stack([a, a.sum(axis=1)])).shape == (3, 2)


def test_tilted_correlation_is_that_of_overlapping_difference_in_means():
    x = np.repeat([0.0, 1.0], 50)
    w = np.where(x == 1, 0.6 / 0.5, 0.4 / 0.5)  # tilted share of x = 1: 0.6
    masks = np.column_stack([np.ones(100), x == 1, x == 0]).astype(float)
    R = tilted_correlation(masks, w)
    np.testing.assert_allclose(np.diag(R), 1.0)
    assert R[0, 1] == pytest.approx(np.sqrt(0.6))    # overall vs stratum: sqrt(share)
    assert R[0, 2] == pytest.approx(np.sqrt(0.4))
    assert R[1, 2] == 0.0                             # disjoint strata
    assert np.linalg.eigvalsh(R).min() > -1e-12       # a Gram matrix


def test_covariances_have_the_reported_variances(sglt2):
    se = sglt2.effects["se"].to_numpy()
    for kind in ("tilted", "independent"):
        s = cima_moments(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE,
                         covariance=kind)
        np.testing.assert_allclose(np.diag(s.covariance), se**2, rtol=1e-12)
        other = s.trial_index[:, None] != s.trial_index[None, :]
        assert (s.covariance[other] == 0).all()
    s = cima_moments(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE,
                     covariance="independent")
    np.testing.assert_array_equal(s.covariance, np.diag(se**2))
    rep = cima_moments(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE,
                       covariance="reported")
    assert rep.options["covariance"] == "reported"
    assert np.linalg.eigvalsh(rep.covariance).min() >= 0


def test_sglt2_closed_form_posterior_is_close_to_cima(system, sglt2):
    # the Gaussian posterior of the default system; its ATE is within 0.5 SE of the
    # frequentist -0.0365 (docs/cima.md, "Bayesian CIMA")
    m, C = _closed_form(system, prior_sd=0.5)
    b = system.target_design().mean(axis=0)
    freq = bh.comparators.cima(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE)
    assert abs(b @ m - freq.ate.estimate) < 0.5 * freq.ate.se
    assert 0.8 < np.sqrt(b @ C @ b) / freq.ate.se < 1.1


def test_unreduced_reported_covariance_is_degenerate(sglt2):
    """V^rep without the reduction pins theta by near-deterministic combinations."""
    s = cima_moments(sglt2.effects, sglt2.covariates, sglt2.target, cate=CATE,
                     covariance="reported")
    P = np.linalg.inv(s.covariance)
    A = s.design.T @ P @ s.design
    theta = np.linalg.solve(A, s.design.T @ P @ s.effects["estimate"].to_numpy())
    b = s.target_design().mean(axis=0)
    sd = np.sqrt(b @ np.linalg.solve(A, b))
    assert sd < 0.001                       # 100 times smaller than CIMA's SE 0.0062
    assert abs(b @ theta - (-0.0365)) > 0.01


def test_closed_form_intervals_are_calibrated_on_a_linear_cate():
    """100 replicates of trials with a linear CATE, overall + two complete partitions
    reported (the redundant reports the reduction is for): the Gaussian posterior of the
    ATE (prior N(0, 0.5^2)) covers the truth at about the nominal rate."""
    rng = np.random.default_rng(5)
    err, sd = [], []
    for _ in range(100):
        eff, cov, target, truth = linear_cate_trials(rng, n_target=2000)
        s = cima_moments(eff, cov, target, cate="~ x1 + x2")
        m, C = _closed_form(s, prior_sd=0.5)
        b = s.target_design().mean(axis=0)
        err.append(b @ m - truth)
        sd.append(np.sqrt(b @ C @ b))
    err, sd = np.array(err), np.array(sd)
    assert np.mean(np.abs(err) < 1.96 * sd) >= 0.9     # 0.95 with this seed
    assert 0.85 < sd.mean() / err.std() < 1.2          # 1.01 with this seed
    assert abs(err.mean()) < 3 * err.std() / 10


def test_bad_inputs_name_the_trial_or_subgroup(sglt2):
    eff, cov, tgt = sglt2.effects, sglt2.covariates, sglt2.target
    with pytest.raises(DataError, match="covariance must be one of"):
        cima_moments(eff, cov, tgt, cate=CATE, covariance="full")
    bad = eff.copy()
    bad.loc[3, "se"] = 0.0
    with pytest.raises(DataError, match="'se' must be finite and > 0"):
        cima_moments(bad, cov, tgt, cate=CATE)
    bad = eff.copy()
    bad.loc[4, "subgroup"] = "nyha"
    with pytest.raises(DataError, match="subgroup 'nyha' is not a covariate"):
        cima_moments(bad, cov, tgt, cate=CATE)
    with pytest.raises(DataError, match=r"trials \['DAPA-HF'\] have effects but no"):
        cima_moments(eff, cov[cov["trial"] != "DAPA-HF"], tgt, cate=CATE)
    one = eff[eff["subgroup"] == "overall"]
    with pytest.raises(DataError, match="not identified"):
        cima_moments(one, cov, tgt, cate="~ lvef + prehhf + diabetes + I(lvef^2)")
    far = cov.copy()
    far.loc[(far["trial"] == "DELIVER") & (far["covariate"] == "lvef"), "mean"] = 500.0
    with pytest.raises(DataError, match="trial 'DELIVER'.*outside the range"):
        cima_moments(eff, far, tgt, cate=CATE)


def test_target_rows_are_returned(sglt2):
    rows = sglt2.target.sample(3000, method="random", seed=2)
    s = cima_moments(sglt2.effects, sglt2.covariates, rows, cate=CATE)
    assert len(s.target) == 3000 and isinstance(s.target, pd.DataFrame)
    assert s.options["n_base"] == 3000
