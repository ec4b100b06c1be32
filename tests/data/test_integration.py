"""Aggregate-data trials next to IPD: correlations, integration points, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.data.integration import (
    AggregateData,
    integration_points,
    ipd_correlation,
    to_aggregate,
)
from bayes_hte.errors import DataError
from bayes_hte.simulate import bouvier2024

COVS = ["x1", "x2", "x3"]


@pytest.fixture(scope="module")
def split():
    sim = bouvier2024(trials=4, patients_per_trial=150, seed=11)
    ipd, arms, summ = to_aggregate(sim.data, trials=["T3", "T4"], study="trial",
                                   treatment="treat", outcome="y", covariates=COVS)
    return sim, ipd, arms, summ


def _ipd(frame, **kw):
    return bh.IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                                 covariates=COVS, **kw)


def test_to_aggregate_counts_and_summaries(split):
    sim, ipd, arms, summ = split
    assert set(ipd["trial"]) == {"T1", "T2"}
    t3 = sim.data[sim.data["trial"] == "T3"]
    assert arms.labels == ("T3", "T4")
    assert arms.n11[0] == t3.loc[t3["treat"] == 1, "y"].sum()
    assert arms.n0[0] == (t3["treat"] == 0).sum()
    rows = summ.rows("T3")
    assert rows.loc["x1", "mean"] == pytest.approx(t3["x1"].mean())
    assert rows.loc["x1", "sd"] == pytest.approx(t3["x1"].std(ddof=1))
    assert np.isnan(rows.loc["x3", "sd"]) and summ.kinds["x3"] == "binary"
    with pytest.raises(DataError, match="'T9' is not in study column 'trial'"):
        to_aggregate(sim.data, trials=["T9"], study="trial", treatment="treat", outcome="y",
                     covariates=COVS)
    with pytest.raises(DataError, match="keep at least one IPD trial"):
        to_aggregate(sim.data, trials=["T1", "T2", "T3", "T4"], study="trial",
                     treatment="treat", outcome="y", covariates=COVS)


def test_ipd_correlation_recovers_a_known_correlation():
    """Normal scores of bivariate normal covariates with correlation 0.5, pooled over
    three trials of 1500 patients (SE of r about 0.015)."""
    rng = np.random.default_rng(3)
    n = 4500
    L = np.linalg.cholesky([[1.0, 0.5], [0.5, 1.0]])
    x = rng.standard_normal((n, 2)) @ L.T
    frame = pd.DataFrame({"trial": np.repeat(["A", "B", "C"], n // 3),
                          "treat": rng.integers(0, 2, n), "y": rng.integers(0, 2, n),
                          "a": x[:, 0] + np.repeat([0.0, 3.0, -2.0], n // 3), "b": x[:, 1]})
    data = bh.IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                                 covariates=["a", "b"])
    R = ipd_correlation(data)
    assert list(R.index) == ["a", "b"]
    assert R.loc["a", "b"] == pytest.approx(0.5, abs=0.04)  # between-trial shift ignored


def test_points_match_the_marginals_and_are_nested(split):
    _, ipd, arms, summ = split
    data = _ipd(ipd)
    x = integration_points(summ, data=data, n_points=1024, seed=5, trial="T3")
    rows = summ.rows("T3")
    assert x.shape == (1024, 3)
    assert x[:, 0].mean() == pytest.approx(rows.loc["x1", "mean"], abs=0.01)
    assert x[:, 0].std() == pytest.approx(rows.loc["x1", "sd"], rel=0.02)
    assert x[:, 2].mean() == pytest.approx(rows.loc["x3", "mean"], abs=0.005)
    assert set(np.unique(x[:, 2])) <= {0.0, 1.0}
    # the doubled sequence extends the fitted points
    ad = AggregateData.from_summaries(arms, summ, ipd=data, n_points=32, seed=2)
    more = ad.with_points(64, ipd=data)
    np.testing.assert_array_equal(more.points[:, :32], ad.points)
    assert ad.points.shape == (2, 32, 3) and ad.labels == ("T3", "T4")
    np.testing.assert_array_equal(ad.events, np.column_stack([arms.n01, arms.n11]))


def test_points_are_centred_like_the_ipd(split):
    _, ipd, arms, summ = split
    plain = AggregateData.from_summaries(arms, summ, ipd=_ipd(ipd), n_points=16)
    centred_data = _ipd(ipd, center="overall")
    centred = AggregateData.from_summaries(arms, summ, ipd=centred_data, n_points=16)
    np.testing.assert_allclose(centred.points, plain.points - centred_data.centers)
    with pytest.raises(DataError, match="centred within study"):
        AggregateData.from_summaries(arms, summ, ipd=_ipd(ipd, center="within_study"))


def test_dataset_round_trip(split):
    _, ipd, arms, summ = split
    ad = AggregateData.from_summaries(arms, summ, ipd=_ipd(ipd), n_points=8, seed=4)
    back = AggregateData.from_dataset(ad.to_dataset())
    np.testing.assert_array_equal(back.points, ad.points)
    assert back.labels == ad.labels and back.seed == 4
    np.testing.assert_array_equal(back.totals, ad.totals)
    pd.testing.assert_frame_equal(back.corr, ad.corr)


def test_bad_inputs_name_the_label_or_covariate(split):
    sim, ipd, arms, summ = split
    data = _ipd(ipd)
    clash = bh.ArmTable(n11=[3], n10=[40], n01=[5], n00=[40], labels=["T1"])
    with pytest.raises(DataError, match="aggregate study label 'T1' is also an IPD study"):
        AggregateData.from_summaries(clash, summ, ipd=data)
    frame = summ.frame
    no_trial = bh.CovariateSummary.from_frame(frame[frame["trial"] != "T4"])
    with pytest.raises(DataError, match="aggregate trial 'T4' has no covariate summaries"):
        AggregateData.from_summaries(arms, no_trial, ipd=data)
    no_cov = bh.CovariateSummary.from_frame(
        frame[~((frame["trial"] == "T4") & (frame["covariate"] == "x2"))])
    with pytest.raises(DataError, match="trial 'T4' have no row for covariate 'x2'"):
        AggregateData.from_summaries(arms, no_cov, ipd=data)
    stranger = bh.CovariateSummary.from_frame(
        pd.concat([frame, frame[frame["trial"] == "T4"].assign(trial="T9")]))
    with pytest.raises(DataError, match="describe trial 'T9'"):
        AggregateData.from_summaries(arms, stranger, ipd=data)
    as_continuous = frame.copy()
    as_continuous.loc[as_continuous["covariate"] == "x3", "sd"] = 0.5
    with pytest.raises(DataError, match="'x3' is binary .* in the IPD"):
        AggregateData.from_summaries(arms, bh.CovariateSummary.from_frame(as_continuous),
                                     ipd=data)
    as_binary = frame.copy()
    as_binary.loc[as_binary["covariate"] == "x1", ["mean", "sd"]] = [0.4, np.nan]
    with pytest.raises(DataError, match="'x1' is continuous in the IPD"):
        AggregateData.from_summaries(arms, bh.CovariateSummary.from_frame(as_binary),
                                     ipd=data)
    with pytest.raises(DataError, match="integer >= 2"):
        AggregateData.from_summaries(arms, summ, ipd=data, n_points=1)
    with pytest.raises(DataError, match="CovariateSummary"):
        AggregateData.from_summaries(arms, frame, ipd=data)
    with pytest.raises(DataError, match="needs a 'trial' column"):
        one = bh.CovariateSummary.from_frame(frame[frame["trial"] == "T3"].drop(
            columns="trial"))
        AggregateData.from_summaries(arms, one, ipd=data)
    tte = bouvier2024(trials=2, patients_per_trial=60, seed=1, outcome="time_to_event")
    tdata = bh.IPDData.from_frame(tte.data, outcome="event", treatment="treat",
                                  study="trial", covariates=COVS, time="time")
    with pytest.raises(DataError, match="binary outcome only"):
        AggregateData.from_summaries(arms, summ, ipd=tdata)
