"""Sampling SE of the PAPE (Imai & Li 2021, Theorem 1) in ``policy_metrics``.

References: evalITR 1.0.0's ``PAPE()`` (``validation/evalitr_reference.R``, numbers in
``tests/data/evalitr_pape_reference.json``), and a Monte Carlo check of the theorem
itself: units drawn from a superpopulation and completely randomized, the mean of the
estimated variances against the variance of the estimates.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayes_hte.evaluation.policy import policy_metrics

REFERENCE = json.loads((Path(__file__).parents[1] / "data"
                        / "evalitr_pape_reference.json").read_text())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["name"])
@pytest.mark.parametrize("centered", [False, True])
def test_pape_and_se_match_evalitr(case, centered):
    y, z, b = (np.asarray(case[k], dtype=float) for k in ("y", "z", "benefit"))
    ref = case["centered" if centered else "uncentered"]
    res = policy_metrics(y, z, b, centered=centered)
    assert res["pape"] == pytest.approx(ref["pape"], rel=1e-9, abs=1e-14)
    assert res["pape_se"] == pytest.approx(ref["sd"], rel=1e-9)
    # centring moves only the PAPE: the risks and gains are those of the events
    plain = policy_metrics(y, z, b)
    for key in ("risk_rule", "gain_vs_treat_all", "gain_vs_treat_none", "proportion_treated"):
        assert res[key] == plain[key]


def test_se_per_draw_is_the_se_of_each_draws_rule():
    case = REFERENCE["cases"][1]
    y, z, b = (np.asarray(case[k], dtype=float) for k in ("y", "z", "benefit"))
    draws = np.stack([b, b - 0.4, b + 0.7, np.ones_like(b)])
    res = policy_metrics(y, z, draws)
    for k, row in enumerate(draws):
        one = policy_metrics(y, z, row)
        assert res["pape"][k] == pytest.approx(one["pape"], rel=1e-12, abs=1e-15)
        assert res["pape_se"][k] == pytest.approx(one["pape_se"], rel=1e-12, abs=1e-15)
    # treating everyone is random treatment of everyone: PAPE 0 with SE 0
    assert res["pape"][3] == pytest.approx(0.0, abs=1e-15)
    assert res["pape_se"][3] == pytest.approx(0.0, abs=1e-12)


def test_se_is_nan_with_a_single_patient_in_an_arm():
    y = np.array([1, 0, 1, 0, 1])
    z = np.array([1, 0, 0, 0, 0])
    res = policy_metrics(y, z, np.array([0.2, -0.1, 0.3, 0.4, -0.2]))
    assert np.isfinite(res["pape"]) and np.isnan(res["pape_se"])


def test_centered_must_be_a_bool():
    with pytest.raises(ValueError, match="centered must be True or False"):
        policy_metrics([1, 0, 1, 0], [1, 1, 0, 0], [0.1, -0.1, 0.2, 0.3], centered="yes")


@pytest.mark.parametrize("centered", [False, True])
def test_theorem_1_variance_by_monte_carlo(centered):
    """Units drawn from a superpopulation (x ~ N(0, 1), P(event | x, t) logistic with a
    treatment-by-x interaction), half of them randomized to treatment; the rule is fixed
    (treat if x > -0.3). Over 6,000 trials of 200 patients the estimates are unbiased for
    the population PAPE and the mean estimated variance equals their variance (Monte
    Carlo SE of a variance over 6,000 replicates: ~1.8 %)."""
    rng = np.random.default_rng(7)
    reps, n = 6000, 200

    def risks(x):
        return (1 / (1 + np.exp(-(-0.5 + 0.8 * x))),           # control
                1 / (1 + np.exp(-(-0.5 - 0.6 + 0.8 * x - 0.9 * x))))  # treated

    # the population PAPE with favourable outcome -y: E[(f - p)(r0 - r1)]
    big = rng.normal(size=2_000_000)
    r0, r1 = risks(big)
    fb = (big > -0.3).astype(float)
    truth = np.mean((fb - fb.mean()) * (r0 - r1))
    est, var = np.empty(reps), np.empty(reps)
    for k in range(reps):
        x = rng.normal(size=n)
        z = rng.permutation(np.repeat([1, 0], n // 2))
        c0, c1 = risks(x)
        y = (rng.random(n) < np.where(z == 1, c1, c0)).astype(float)
        res = policy_metrics(y, z, x + 0.3, centered=centered)
        est[k], var[k] = res["pape"], res["pape_se"] ** 2
    assert abs(est.mean() - truth) < 3.5 * est.std() / np.sqrt(reps)
    assert var.mean() / est.var(ddof=1) == pytest.approx(1.0, abs=0.06)
