"""Figures of a simulation study, drawn from synthetic estimates tables."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayes_hte.errors import DataError  # noqa: E402
from bayes_hte.plots import plot_estimates, plot_performance, plot_zip  # noqa: E402
from bayes_hte.studies.performance import performance  # noqa: E402

Z = 1.959963984540054
SCENARIOS = [{"k": 5, "tau2": 0.0}, {"k": 5, "tau2": 0.1}, {"k": 20, "tau2": 0.1}]
METHODS = {"FE": (0.0, 0.7), "DL": (0.0, 1.0), "biased": (0.15, 1.0)}  # (bias, SE factor)


def synthetic_estimates(replicates: int = 200, seed: int = 1) -> pd.DataFrame:
    """A study table as bayes_hte.studies.run gives it: FE's SEs too small, one method
    biased, DL failing in 3 replicates of the last scenario."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, scen in enumerate(SCENARIOS):
        sd = np.sqrt(0.04 + scen["tau2"]) / np.sqrt(scen["k"])
        for r in range(replicates):
            for method, (bias, factor) in METHODS.items():
                if method == "DL" and s == 2 and r < 3:
                    rows.append(scen | {"scenario": s, "replicate": r, "method": method,
                                        "estimand": "", "truth": np.nan, "estimate": np.nan,
                                        "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                        "seconds": 0.01, "error": "RuntimeError: no fit"})
                    continue
                for estimand, truth in (("mu", 0.3), ("tau", np.sqrt(scen["tau2"]))):
                    est = truth + bias + rng.normal(0, sd)
                    se = factor * sd * rng.uniform(0.8, 1.2)
                    rows.append(scen | {"scenario": s, "replicate": r, "method": method,
                                        "estimand": estimand, "truth": truth,
                                        "estimate": est, "se": se, "ci_low": est - Z * se,
                                        "ci_high": est + Z * se, "seconds": 0.01,
                                        "error": ""})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def estimates():
    return synthetic_estimates()


@pytest.fixture(scope="module")
def perf(estimates):
    return performance(estimates)


def test_plot_performance_draws_value_and_mc_bars(perf, tmp_path):
    fig = plot_performance(perf, measure="cover")
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["mu", "tau"]
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == ["k=5, tau2=0", "k=5, tau2=0.1", "k=20, tau2=0.1"]
    # one errorbar container per method; the points are the coverages in percent
    containers = axes[0].containers
    assert len(containers) == 3
    fe = perf.query("measure == 'cover' and estimand == 'mu' and method == 'FE'")
    xs = containers[0].lines[0].get_xdata()
    assert list(xs) == pytest.approx(list(100 * fe["value"]))
    # the bars span +-1.96 MCSE
    seg = containers[0].lines[2][0].get_segments()[0]
    assert seg[1][0] - seg[0][0] == pytest.approx(2 * Z * 100 * fe["mcse"].iloc[0])
    # the nominal 95% line
    assert any(np.allclose(line.get_xdata(), 95.0) for line in axes[0].lines)
    fig.savefig(tmp_path / "cover.png")
    plt.close(fig)
    fig = plot_performance(perf, measure="bias", estimands=["mu"], methods=["DL", "biased"],
                           reference=False, title="Bias")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1 and len(axes[0].containers) == 2
    assert fig._suptitle.get_text() == "Bias"
    plt.close(fig)


def test_plot_performance_errors(perf):
    with pytest.raises(DataError, match=r"unknown measure 'rmse'; measures: \['thetamean', "):
        plot_performance(perf, measure="rmse")
    # an unknown estimand or method is named, not silently left out
    with pytest.raises(DataError, match=r"unknown estimand 'nope'; estimands: \['mu', 'tau'\]"):
        plot_performance(perf, measure="bias", estimands=["mu", "nope"])
    with pytest.raises(DataError, match=r"unknown method 'nope'; methods: \['FE', 'DL', "):
        plot_performance(perf, measure="bias", methods=["nope"])
    with pytest.raises(DataError, match="mcse"):
        plot_performance(perf.drop(columns="mcse"), measure="bias")


def test_plot_zip_colours_non_coverers_and_shows_mc_interval(estimates, perf, tmp_path):
    fig = plot_zip(estimates, method="FE", estimand="mu")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    ax = axes[0]
    covers, misses = [c for c in ax.collections if isinstance(c, LineCollection)]
    cover = perf.query("k == 5 and tau2 == 0.0 and method == 'FE' and estimand == 'mu' "
                       "and measure == 'cover'")["value"].iloc[0]
    assert len(covers.get_segments()) == round(200 * cover)
    assert len(misses.get_segments()) == 200 - round(200 * cover)
    # non-coverers sit at the top: their centiles are above every coverer's (Wald CIs)
    top = min(s[0][1] for s in misses.get_segments())
    assert top > max(s[0][1] for s in covers.get_segments())
    assert f"coverage {100 * cover:.1f}%" in ax.get_title()
    assert ax.get_title().startswith("k=5, tau2=0")
    fig.savefig(tmp_path / "zip.png")
    plt.close(fig)
    one = plot_zip(estimates, method="DL", estimand="mu", scenario=2, ci_prob=0.9)
    assert len([a for a in one.axes if a.get_visible()]) == 1
    assert "n=197" in one.axes[0].get_title()  # 3 failed replicates left out
    plt.close(one)


def test_plot_zip_uses_the_interval_when_se_is_missing(estimates):
    no_se = estimates.assign(se=np.nan)
    fig = plot_zip(no_se, method="DL", estimand="mu", scenario=[0])
    segs = [s for c in fig.axes[0].collections if isinstance(c, LineCollection)
            for s in c.get_segments()]
    assert len(segs) == 200
    plt.close(fig)


def test_plot_zip_with_a_truth_per_replicate(estimates, tmp_path):
    """A truth that reads the data differs between replicates: the intervals are drawn
    minus their own truth around a line at 0 (one line at the mean truth had drawn far
    intervals as covering); the colours follow each replicate's truth."""
    rng = np.random.default_rng(4)
    sub = estimates.query("scenario == 0 and method == 'FE' and estimand == 'mu'").copy()
    sub["truth"] = sub["truth"] + rng.normal(0, 0.5, len(sub))
    fig = plot_zip(sub, method="FE", estimand="mu")
    ax = fig.axes[0]
    assert "minus its replicate's truth" in ax.get_xlabel()
    assert [line.get_xdata()[0] for line in ax.lines if line.get_color() == "k"] == [0.0]
    covers, misses = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert all(s[0][0] <= 0 <= s[1][0] for s in covers.get_segments())
    assert not any(s[0][0] <= 0 <= s[1][0] for s in misses.get_segments())
    fig.savefig(tmp_path / "zip_truth_per_replicate.png")
    plt.close(fig)


def test_plot_zip_draws_one_sided_intervals_to_the_edge(estimates):
    """Intervals with an infinite upper limit count in coverage (performance()) and are
    drawn to the panel's right edge, not left out."""
    sub = estimates.query("scenario == 0 and method == 'FE' and estimand == 'mu'").copy()
    sub["ci_high"] = np.inf
    fig = plot_zip(sub, method="FE", estimand="mu")
    ax = fig.axes[0]
    segs = [s for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()]
    assert len(segs) == 200 and "n=200" in ax.get_title()
    right = ax.get_xlim()[1]
    assert all(np.isfinite(s).all() and s[1][0] <= right for s in segs)
    cover = performance(sub).query("measure == 'cover'")["value"].iloc[0]
    assert f"coverage {100 * cover:.1f}%" in ax.get_title()
    plt.close(fig)


def test_plot_zip_errors(estimates):
    with pytest.raises(DataError, match="scenario \\[7\\]"):
        plot_zip(estimates, method="FE", estimand="mu", scenario=7)
    # an unknown name is named as such, with the names there are
    with pytest.raises(DataError, match=r"unknown method 'nope'; methods: "
                                        r"\['FE', 'DL', 'biased'\]"):
        plot_zip(estimates, method="nope", estimand="mu")
    with pytest.raises(DataError, match=r"unknown estimand 'nope'; estimands: \['mu', 'tau'\]"):
        plot_zip(estimates, method="FE", estimand="nope")
    # a known method without a usable interval (every replicate failed)
    failed = estimates.assign(error=np.where(estimates["method"] == "DL", "boom", ""))
    with pytest.raises(DataError, match="method 'DL' has no usable interval for estimand "
                                        "'mu' in scenario 0"):
        plot_zip(failed, method="DL", estimand="mu")
    with pytest.raises(DataError, match="ci_low"):
        plot_zip(estimates.drop(columns="ci_low"), method="FE", estimand="mu")


def test_plot_estimates_marks_truth_and_counts_failures(estimates, tmp_path):
    open_before = plt.get_fignums()
    fig = plot_estimates(estimates, estimand="tau")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    labels = [t.get_text() for t in axes[2].get_yticklabels()]
    assert labels == ["FE (n=200)", "DL (n=197, 3 failed)", "biased (n=200)"]
    truth = [line.get_xdata()[0] for line in axes[1].lines if line.get_linestyle() == "--"]
    assert truth == pytest.approx([np.sqrt(0.1)])
    fig.savefig(tmp_path / "estimates.png")
    plt.close(fig)
    fig = plot_estimates(estimates, estimand="mu", methods=["DL"], scenario=1, title="mu")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["DL (n=200)"]
    plt.close(fig)
    with pytest.raises(DataError, match=r"unknown estimand 'nope'; estimands: \['mu', 'tau'\]"):
        plot_estimates(estimates, estimand="nope")
    with pytest.raises(DataError, match=r"unknown method 'nope'; methods: \['FE', 'DL', "):
        plot_estimates(estimates, estimand="mu", methods=["DL", "nope"])
    with pytest.raises(DataError, match="no finite estimate"):
        plot_estimates(estimates.assign(estimate=np.nan), estimand="mu")
    assert plt.get_fignums() == open_before  # a failed call leaves no figure open
