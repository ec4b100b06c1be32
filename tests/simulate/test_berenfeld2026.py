"""Appendix-A design of Berenfeld et al. (2026): data, counts and the causal estimand."""

import numpy as np
import pytest
from scipy.special import expit

from bayes_hte import DataError
from bayes_hte.simulate.berenfeld2026 import (
    berenfeld2026,
    berenfeld2026_counts,
    berenfeld_truth,
    true_risks,
)


def test_true_risks_match_monte_carlo_integration():
    rng = np.random.default_rng(0)
    psi = true_risks()
    for k, mu in enumerate([(1.0, 0.0), (0.0, 1.0)]):
        x = np.asarray(mu) + 0.1 * rng.standard_normal((400_000, 2))
        for a, beta in ((0, (2.94, -4.60)), (1, (0.36, -1.38))):
            mc = expit(x @ np.asarray(beta)).mean()
            assert psi[k, a] == pytest.approx(mc, abs=2e-4)


def test_estimands_show_the_papers_mismatch():
    t = berenfeld_truth()
    # harmful in the pooled population (the outcome is desirable) ...
    assert t["theta_causal"]["RD"] < 0
    assert t["theta_causal"]["RR"] < 1 and t["theta_causal"]["OR"] < 1
    # ... while the classical random-effects target suggests a three-fold benefit (sec. 4.1)
    assert 2.5 < t["theta_meta"]["RR"] < 4.0
    assert t["theta_meta"]["OR"] > 1
    # RD is collapsible: the classical target with equal weights is the causal one
    assert t["theta_meta"]["RD"] == pytest.approx(t["theta_causal"]["RD"])
    psi1, psi0 = t["psi1"], t["psi0"]
    assert t["theta_causal"]["RR"] == pytest.approx(psi1 / psi0)
    assert psi1 == pytest.approx(t["psi"]["treated"].mean())


def test_one_meta_analysis_data_counts_and_truth_agree():
    sim = berenfeld2026(1000, seed=1)
    d = sim.data
    assert len(d) == 1000 and set(d.columns) == {"study", "treat", "y", "x1", "x2"}
    for _, row in sim.counts.iterrows():
        s = d[d.study == row.study]
        assert row.n11 == ((s.treat == 1) & (s.y == 1)).sum()
        assert row.n00 == ((s.treat == 0) & (s.y == 0)).sum()
    assert sim.counts[["n11", "n10", "n01", "n00"]].to_numpy().sum() == 1000
    table = sim.arm_table()
    assert table.labels == ("study1", "study2")
    # covariates sit at the study means
    assert d.loc[d.study == "study1", "x1"].mean() == pytest.approx(1.0, abs=0.02)
    assert d.loc[d.study == "study2", "x2"].mean() == pytest.approx(1.0, abs=0.02)
    again = berenfeld2026(1000, seed=1)
    assert again.data.equals(sim.data)
    assert not berenfeld2026(1000, seed=2).data.equals(sim.data)


def test_patient_level_and_count_samplers_have_the_same_distribution():
    reps = 300
    ipd = np.array([berenfeld2026(1000, seed=s).counts[["n11", "n10", "n01", "n00"]]
                    .to_numpy() for s in range(reps)])  # (reps, K, 4)
    c = berenfeld2026_counts(20_000, n=1000, seed=9)
    fast = np.stack([c[k] for k in ("n11", "n10", "n01", "n00")], axis=-1)  # (K, R, 4)
    mean_ipd, mean_fast = ipd.mean(axis=0), fast.mean(axis=1)
    se = ipd.std(axis=0) / np.sqrt(reps)
    assert np.all(np.abs(mean_ipd - mean_fast) < 4 * se + 0.05)
    # and the exact cell means
    psi = true_risks()
    np.testing.assert_allclose(mean_fast[:, 0], 250 * psi[:, 1], rtol=0.02)
    np.testing.assert_allclose(mean_fast[:, 2], 250 * psi[:, 0], rtol=0.03)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 2}, "n \\(patients"), ({"n": 100.5}, "n \\(patients"),
     ({"p_study": (0.3, 0.3)}, "p_study"), ({"p_study": (1.0,)}, "p_study"),
     ({"p_treat": 1.0}, "p_treat"), ({"sigma": 0.0}, "sigma")],
)
def test_bad_parameters_raise_data_error(kwargs, match):
    with pytest.raises(DataError, match=match):
        berenfeld2026(**kwargs)


def test_bad_replicates_raise_data_error():
    with pytest.raises(DataError, match="replicates"):
        berenfeld2026_counts(0)
