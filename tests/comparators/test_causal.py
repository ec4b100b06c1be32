"""Causal meta-analysis (Berenfeld et al. 2026): formulas, properties, coverage, errors."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import bayes_hte as bh
from bayes_hte import ArmTable, DataError
from bayes_hte.comparators.causal import causal_core, causal_meta_analysis
from bayes_hte.simulate.berenfeld2026 import berenfeld2026_counts

COUNTS = pd.DataFrame({"study": ["A", "B", "C"], "n11": [30, 12, 80], "n10": [70, 138, 120],
                       "n01": [45, 20, 60], "n00": [55, 130, 140]})


def _paper_formulas(df):
    """Section 3 of the paper, written out term by term with Python loops."""
    rows = df.to_dict("records")
    n = sum(r["n11"] + r["n10"] + r["n01"] + r["n00"] for r in rows)
    out = {}
    for a, (ev, ne) in {1: ("n11", "n10"), 0: ("n01", "n00")}.items():
        psi_k = [r[ev] / (r[ev] + r[ne]) for r in rows]
        na_k = [r[ev] + r[ne] for r in rows]
        nk = [r["n11"] + r["n10"] + r["n01"] + r["n00"] for r in rows]
        psi = sum(nk[i] / n * psi_k[i] for i in range(len(rows)))
        sigma2 = (sum(nk[i] ** 2 / (n * na_k[i]) * psi_k[i] * (1 - psi_k[i])
                      for i in range(len(rows)))
                  + sum(nk[i] / n * psi_k[i] ** 2 for i in range(len(rows))) - psi**2)
        out[a] = (psi, sigma2, psi_k, nk)
    return out, n


@pytest.mark.parametrize("measure", ["RD", "RR", "OR"])
def test_paper_formulas_term_by_term(measure):
    f, n = _paper_formulas(COUNTS)
    (p1, s1, r1, nk), (p0, s0, r0, _) = f[1], f[0]
    if measure == "RD":
        theta, d1, d0 = p1 - p0, 1.0, -1.0
    elif measure == "RR":
        theta, d1, d0 = p1 / p0, 1 / p0, -p1 / p0**2
    else:
        theta = p1 / (1 - p1) / (p0 / (1 - p0))
        d1, d0 = theta / (p1 * (1 - p1)), -theta / (p0 * (1 - p0))
    paper_var = (s1 * d1**2 + s0 * d0**2) / n  # the paper's sigma^2, per patient -> / n
    res = causal_meta_analysis(COUNTS, measure, variance="paper")
    assert res.estimate == pytest.approx(theta, rel=1e-12)
    assert res.psi1 == pytest.approx(p1) and res.psi0 == pytest.approx(p0)
    assert res.se == pytest.approx(np.sqrt(paper_var), rel=1e-10)
    assert res.var_psi1 == pytest.approx(s1 / n) and res.var_psi0 == pytest.approx(s0 / n)
    # the default adds the covariance of the pooled risks through the shared weights
    cov = (sum(nk[i] / n * r1[i] * r0[i] for i in range(3)) - p1 * p0) / n
    delta = causal_meta_analysis(COUNTS, measure)
    assert delta.cov_psi == pytest.approx(cov)
    assert delta.se == pytest.approx(np.sqrt(paper_var + 2 * d1 * d0 * cov), rel=1e-10)
    z = stats.norm.ppf(0.975)
    if measure == "RD":
        np.testing.assert_allclose(delta.ci, [theta - z * delta.se, theta + z * delta.se])
    else:  # CI on the log scale
        assert delta.log_se == pytest.approx(delta.se / theta)
        np.testing.assert_allclose(np.log(delta.ci),
                                   [np.log(theta) - z * delta.log_se,
                                    np.log(theta) + z * delta.log_se])


def test_conditional_variance_and_user_weights():
    t = ArmTable.from_frame(COUNTS)
    res = causal_meta_analysis(t, "RD", variance="conditional")
    w = t.n / t.n.sum()
    v = (w**2 * (t.risk1 * (1 - t.risk1) / t.n1 + t.risk0 * (1 - t.risk0) / t.n0)).sum()
    assert res.se == pytest.approx(np.sqrt(v))
    # a target population equal to study C alone: its own RD and binomial variance
    only_c = causal_meta_analysis(t, "RD", weights=[0, 0, 1])
    assert only_c.estimate == pytest.approx(t.risk1[2] - t.risk0[2])
    assert only_c.se == pytest.approx(np.sqrt(t.risk1[2] * (1 - t.risk1[2]) / t.n1[2]
                                              + t.risk0[2] * (1 - t.risk0[2]) / t.n0[2]))
    assert only_c.weighting == "user"
    # fixed user weights: the conditional variance, and the result says so (it had said
    # "delta", the default asked for, while computing the conditional one)
    assert only_c.variance == "conditional" and "delta" not in str(only_c)
    sizes = causal_meta_analysis(t, "RD", weights=t.n / t.n.sum())
    assert sizes.variance == "conditional" and sizes.se == pytest.approx(res.se)
    # equal weights, as a Series aligned by label
    eq = causal_meta_analysis(t, "RR", weights=pd.Series({"C": 1 / 3, "A": 1 / 3, "B": 1 / 3}))
    assert eq.psi1 == pytest.approx(t.risk1.mean())
    assert eq.estimate == pytest.approx(t.risk1.mean() / t.risk0.mean())


def test_summary_and_study_table():
    res = bh.comparators.causal_meta_analysis(COUNTS, measure="OR")
    s = res.summary()
    assert s.loc["causal OR", "estimate"] == pytest.approx(res.estimate)
    assert s.loc["causal OR", "n"] == COUNTS[["n11", "n10", "n01", "n00"]].to_numpy().sum()
    tab = res.study_table()
    assert list(tab.index) == ["A", "B", "C"]
    assert tab["weight"].sum() == pytest.approx(100)
    assert (tab.ci_low < tab.estimate).all() and (tab.estimate < tab.ci_high).all()
    assert res.ci_low < res.estimate < res.ci_high


def test_vectorised_core_equals_loop():
    c = berenfeld2026_counts(5, n=400, seed=4)
    for measure in ("RD", "RR", "OR"):
        core = causal_core(c["n11"], c["n10"], c["n01"], c["n00"], measure=measure)
        for r in range(5):
            df = pd.DataFrame({k: c[k][:, r] for k in ("n11", "n10", "n01", "n00")})
            one = causal_meta_analysis(df, measure)
            assert core["estimate"][r] == pytest.approx(one.estimate, rel=1e-12)
            assert core["se"][r] == pytest.approx(one.se, rel=1e-12)
            np.testing.assert_allclose(core["ci"][:, r], one.ci, rtol=1e-12)


def test_coverage_in_the_appendix_a_design():
    """Quick version of the study models/studies/berenfeld2026_coverage.toml (4,000 replicates)."""
    c = berenfeld2026_counts(4000, n=1000, seed=2026)
    truth = c["truth"]["theta_causal"]
    cover = {}
    for variance in ("delta", "paper"):
        for measure in ("RD", "RR", "OR"):
            ci = causal_core(c["n11"], c["n10"], c["n01"], c["n00"], measure=measure,
                             variance=variance)["ci"]
            cover[variance, measure] = np.mean((ci[0] <= truth[measure])
                                               & (truth[measure] <= ci[1]))
    for measure in ("RD", "RR", "OR"):
        # Monte Carlo SE of a 95% coverage estimate with 4,000 replicates: 0.0034
        assert 0.937 <= cover["delta", measure] <= 0.963, cover
        # the printed formula ignores the covariance of the pooled risks: conservative here
        assert cover["paper", measure] > cover["delta", measure] + 0.01, cover


counts_strategy = st.integers(2, 8).flatmap(lambda k: st.tuples(
    *(st.lists(st.integers(1, 60), min_size=k, max_size=k) for _ in range(4))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=counts_strategy, seed=st.integers(0, 1000))
def test_rd_is_the_n_weighted_average_of_study_rds_and_permutation_invariant(cells, seed):
    n11, n10, n01, n00 = (np.array(c, dtype=float) for c in cells)
    df = pd.DataFrame({"n11": n11, "n10": n10, "n01": n01, "n00": n00})
    res = causal_meta_analysis(df, "RD")
    nk = n11 + n10 + n01 + n00
    rd_k = n11 / (n11 + n10) - n01 / (n01 + n00)
    assert res.estimate == pytest.approx(np.sum(nk / nk.sum() * rd_k), abs=1e-12)
    perm = np.random.default_rng(seed).permutation(len(df))
    for measure in ("RD", "RR", "OR"):
        a = causal_meta_analysis(df, measure)
        b = causal_meta_analysis(df.iloc[perm].reset_index(drop=True), measure)
        assert b.estimate == pytest.approx(a.estimate, rel=1e-10)
        assert b.se == pytest.approx(a.se, rel=1e-8)
        assert a.se > 0


@settings(max_examples=40, deadline=None)
@given(cells=counts_strategy)
def test_swapping_arms_inverts_ratios_and_negates_rd(cells):
    n11, n10, n01, n00 = cells
    df = pd.DataFrame({"n11": n11, "n10": n10, "n01": n01, "n00": n00})
    swapped = pd.DataFrame({"n11": n01, "n10": n00, "n01": n11, "n00": n10})
    for measure in ("RD", "RR", "OR"):
        a = causal_meta_analysis(df, measure)
        b = causal_meta_analysis(swapped, measure)
        if measure == "RD":
            assert b.estimate == pytest.approx(-a.estimate, abs=1e-12)
            assert b.se == pytest.approx(a.se, rel=1e-9)
        else:
            assert b.estimate == pytest.approx(1 / a.estimate, rel=1e-10)
            assert b.log_se == pytest.approx(a.log_se, rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [0.5, 0.6, 0.1]}, "sum to 1"),
        ({"weights": [0.5, 0.5]}, "one entry per study"),
        ({"weights": [1.5, -0.5, 0.0]}, "finite and >= 0.*'A', 'B'|finite and >= 0"),
        ({"weights": "equal"}, "'sample_size' or an array"),
        ({"weights": pd.Series({"A": 0.5, "Z": 0.5})}, "missing .*'B'"),
        ({"weights": [0.2, 0.3, 0.5], "variance": "paper"}, "paper's formula"),
        ({"variance": "robust"}, "variance must be one of"),
        ({"ci_prob": 1.5}, "level"),
    ],
)
def test_bad_options_raise_data_error(kwargs, match):
    with pytest.raises(DataError, match=match):
        causal_meta_analysis(COUNTS, "RD", **kwargs)


def test_undefined_contrasts_and_bad_counts_raise_data_error():
    no_ctrl = COUNTS.assign(n01=[0, 0, 0])
    with pytest.raises(DataError, match="no events in the control arm.*risk ratio"):
        causal_meta_analysis(no_ctrl, "RR")
    assert causal_meta_analysis(no_ctrl, "RD").estimate > 0  # the RD is fine
    all_events = COUNTS.assign(n10=[0, 0, 0])
    with pytest.raises(DataError, match="odds ratio is undefined"):
        causal_meta_analysis(all_events, "OR")
    with pytest.raises(DataError, match="measure must be one of"):
        causal_meta_analysis(COUNTS, "HR")
    with pytest.raises(DataError, match="negative"):
        causal_meta_analysis(COUNTS.assign(n00=[-1, 2, 3]), "RD")
    with pytest.raises(DataError, match="columns n11 n10 n01 n00"):
        causal_meta_analysis(COUNTS.to_numpy(), "RD")
    degenerate = pd.DataFrame({"n11": [0, 0], "n10": [5, 5], "n01": [5, 5], "n00": [0, 0]})
    with pytest.raises(DataError, match="no events in the treated arm"):
        causal_meta_analysis(degenerate, "RR")
    with pytest.raises(DataError, match="variance is zero"):
        causal_meta_analysis(degenerate, "RD")


def test_input_frame_not_modified():
    df = COUNTS.copy()
    causal_meta_analysis(df, "OR", weights=[0.2, 0.3, 0.5])
    pd.testing.assert_frame_equal(df, COUNTS)


# ------------------------------------------------------------------------ zero-cell trials
ZERO_TRIALS = {  # events/total treated vs control; T2 takes the zero pattern
    "double_zero": ([3, 0, 5, 2], [6, 0, 9, 4]),
    "double_all_events": ([47, 40, 55, 28], [44, 40, 51, 26]),
    "one_zero": ([3, 0, 5, 2], [6, 3, 9, 4]),
    "all_events_arm": ([47, 40, 55, 28], [44, 36, 51, 26]),
}


def _zero_counts(pattern):
    e1, e0 = (np.array(x, dtype=float) for x in ZERO_TRIALS[pattern])
    n = np.array([50.0, 40.0, 60.0, 30.0])
    return pd.DataFrame({"study": ["T1", "T2", "T3", "T4"], "n11": e1, "n10": n - e1,
                         "n01": e0, "n00": n - e0})


@pytest.mark.parametrize("pattern", list(ZERO_TRIALS))
@pytest.mark.parametrize("measure", ["RD", "RR", "OR"])
def test_zero_cell_trials_keep_their_weight_and_raw_risks(pattern, measure):
    """Berenfeld et al. pool arm risks: no continuity correction, no trial dropped."""
    df = _zero_counts(pattern)
    n1, n0 = df.n11 + df.n10, df.n01 + df.n00
    w = (n1 + n0) / (n1 + n0).sum()
    psi1, psi0 = float((w * df.n11 / n1).sum()), float((w * df.n01 / n0).sum())
    res = causal_meta_analysis(df, measure)
    assert res.table.k == 4 and res.weights[1] == pytest.approx(80 / 360)
    assert res.psi1 == pytest.approx(psi1) and res.psi0 == pytest.approx(psi0)
    expected = {"RD": psi1 - psi0, "RR": psi1 / psi0,
                "OR": psi1 / (1 - psi1) / (psi0 / (1 - psi0))}[measure]
    assert res.estimate == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(res.se) and res.se > 0
    tab = res.study_table()
    if pattern.startswith("double") and measure != "RD":
        # no study-level ratio for a double-zero trial; it still counts in P*
        assert tab.loc["T2", ["estimate", "ci_low", "ci_high"]].isna().all()
    else:
        assert tab.loc["T2", "ci_low"] < tab.loc["T2", "estimate"] < tab.loc["T2", "ci_high"]
    assert tab.loc["T2", "weight"] == pytest.approx(100 * 80 / 360)


def test_dropping_a_double_zero_trial_would_change_the_target():
    df = _zero_counts("double_zero")
    kept = causal_meta_analysis(df, "RD")
    dropped = causal_meta_analysis(df[df.study != "T2"], "RD")
    # the RD of P* averages the study RDs with weights n_k/n, T2's RD being 0
    assert kept.estimate == pytest.approx(dropped.estimate * 280 / 360)
