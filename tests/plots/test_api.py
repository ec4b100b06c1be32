"""Every public plotting function: data arguments first, keyword-only options, documented,
and it returns a matplotlib Figure (small synthetic results, no model fits)."""

import inspect
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import bayes_hte as bh  # noqa: E402
from bayes_hte import plots  # noqa: E402
from bayes_hte.comparators import (  # noqa: E402
    causal_meta_analysis,
    meta_analysis,
    meta_regression,
    mvmeta,
)
from bayes_hte.errors import DataError  # noqa: E402
from bayes_hte.studies.performance import performance  # noqa: E402

#: name -> its data (positional) arguments; everything else must be keyword-only
DATA_ARGS = {
    "plot_ite_distribution": ("ites",),
    "plot_ppc_event_rates": ("idata", "data"),
    "plot_ite_vs_truth": ("ite", "truth"),
    "plot_km_ppc": ("predicted", "data"),
    "plot_cate_by_risk": ("cate", "baseline_risk"),
    "plot_cate_vs_truth": ("cate", "truth"),
    "plot_subgroup_effects": ("values",),
    "forest_plot": ("result",),
    "funnel_plot": ("result",),
    "combined_forest_plot": ("results",),
    "bubble_plot": ("result", "moderator"),
    "forest_coefficients": ("result",),
    "compare_estimates": ("tables",),
    "plot_calibration": ("comparison",),
    "plot_ite_distributions": ("comparison",),
    "plot_metric_forest": ("comparison",),
    "plot_toc": ("comparison",),
    "plot_benefit_curve": ("comparison",),
    "save_comparison_figures": ("comparison", "outdir"),
    "plot_trace": ("idata",),
    "plot_rank": ("idata",),
    "convergence_plots": ("idata", "outdir"),
    "plot_performance": ("perf",),
    "plot_zip": ("estimates",),
    "plot_estimates": ("estimates",),
    "plot_sbc": ("result", "model"),
}
SAVERS = {"save_comparison_figures", "convergence_plots"}
SAMPLE = ("chain", "draw", "patient")


def test_every_public_function_is_listed():
    assert set(plots.__all__) == set(DATA_ARGS)
    assert bh.plots is plots


@pytest.mark.parametrize("name", sorted(DATA_ARGS))
def test_keyword_only_after_data_typed_and_documented(name):
    func = getattr(plots, name)
    params = inspect.signature(func).parameters
    positional = tuple(n for n, p in params.items()
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    assert positional == DATA_ARGS[name]
    for n, p in params.items():
        assert p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD), f"{name}(*{n})"
        if n not in positional:
            assert p.kind == p.KEYWORD_ONLY, f"{name}: {n} is not keyword-only"
        assert p.annotation is not inspect.Parameter.empty, f"{name}: {n} has no type hint"
    assert inspect.signature(func).return_annotation is not inspect.Signature.empty
    doc = inspect.getdoc(func)
    for section in ("Parameters\n----------", "Returns\n-------", "Raises\n------"):
        assert section in doc, f"{name}: no {section.splitlines()[0]} section"
    for n in params:
        assert re.search(rf"^{n} :", doc, flags=re.MULTILINE), f"{name}: {n} undocumented"
    if name not in SAVERS:
        assert "Figure" in doc.split("Returns\n-------", 1)[1]


# --------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"y": (rng.random(n) < 0.3).astype(int), "z": np.tile([0, 1], n // 2),
                          "s": np.repeat(["A", "B", "C"], n // 3), "x1": rng.normal(size=n),
                          "t": rng.exponential(10, size=n)})
    data = bh.IPDData.from_frame(frame, outcome="y", treatment="z", study="s",
                                 covariates=["x1"])
    tdata = bh.IPDData.from_frame(frame, outcome="y", treatment="z", study="s",
                                  covariates=["x1"], time="t")

    def draws(loc, scale, shape=(2, 20, n), dims=SAMPLE):
        return xr.DataArray(rng.normal(loc, scale, size=shape), dims=dims)

    pp = xr.Dataset({"y": (SAMPLE, (rng.random((2, 20, n)) < 0.3).astype(int))})
    times = np.linspace(0, np.quantile(tdata.t, 0.98), 15)
    surv = np.exp(-times / rng.uniform(8, 12, (10, 3, 2, 1)))
    counts = pd.DataFrame({"study": ["A", "B", "C", "D"], "n11": [4, 6, 3, 62],
                           "n10": [119, 300, 228, 13536], "n01": [11, 29, 11, 248],
                           "n00": [128, 274, 209, 12619]})
    table = bh.ArmTable.from_frame(counts)
    y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, -0.12], [0.26, -0.31]])
    s = np.tile(np.array([[0.005, 0.001], [0.001, 0.004]]), (4, 1, 1))
    models = ["NA-S", "RI-T"]
    cal = {(v, m): pd.DataFrame({"predicted": [0.0, 0.02, 0.05], "observed": [0.01, 0.02, 0.04],
                                 "ci_low": [-0.02, 0.0, 0.01], "ci_high": [0.03, 0.05, 0.07]})
           for v in ("in-sample", "iecv") for m in models}
    tidy = pd.DataFrame([{"model": m, "validation": v, "trial": t, "metric": metric,
                          "estimate": 0.6, "ci_low": 0.5, "ci_high": 0.7}
                         for v, t in (("in-sample", "all"), ("iecv", "pooled"))
                         for m in models for metric in ("c_for_benefit", "mse")])
    comparison = SimpleNamespace(table=tidy, calibration=cal, truth=rng.normal(size=n),
                                 ite={m: rng.normal(size=(5, n)) for m in models},
                                 iecv=object())
    return SimpleNamespace(
        data=data, tdata=tdata, ite=draws(-0.05, 0.05), truth=rng.normal(-0.05, 0.05, n),
        idata=xr.DataTree.from_dict({"posterior_predictive": pp}),
        risk=xr.DataArray(rng.uniform(0.05, 0.6, (2, 20, n)), dims=SAMPLE),
        effects=draws(-0.2, 0.1, (2, 20, 3), ("chain", "draw", "subgroup")).assign_coords(
            subgroup=["low", "mid", "high"]),
        predicted=xr.DataArray(surv, dims=("draw", "study", "arm", "time"),
                               coords={"time": times}),
        meta=meta_analysis(table.effects("RR"), method="DL"),
        causal=causal_meta_analysis(table, "RR"),
        mv=mvmeta(y, s, names=["PD", "AL"]),
        comparison=comparison,
        posterior=az.from_dict({"posterior": {"mu": rng.normal(size=(2, 30)),
                                              "tau": np.abs(rng.normal(size=(2, 30)))}}),
    )


def _study_estimates() -> pd.DataFrame:
    """A tiny simulation-study table (two scenarios, two methods, Wald intervals)."""
    rng = np.random.default_rng(3)
    rows = [{"k": k, "scenario": s, "replicate": r, "method": m, "estimand": "mu",
             "truth": 0.3, "estimate": e, "se": 0.1, "ci_low": e - 0.196, "ci_high": e + 0.196,
             "seconds": 0.0, "error": ""}
            for s, k in enumerate((5, 10)) for r in range(20) for m in ("DL", "REML")
            for e in [0.3 + rng.normal(0, 0.1)]]
    return pd.DataFrame(rows)


def _with_curves(comparison):
    """The comparison with TOC and smoothed calibration curves (risk difference scale)."""
    q = np.linspace(0.1, 1, 10)
    toc = pd.DataFrame({"q": q, "estimate": 0.05 * (1 - q), "ci_low": 0.05 * (1 - q) - 0.02,
                        "ci_high": 0.05 * (1 - q) + 0.02})
    grid = np.linspace(-0.02, 0.06, 9)
    curve = pd.DataFrame({"predicted": grid, "observed": 0.9 * grid, "ci_low": grid - 0.03,
                          "ci_high": grid + 0.03})
    keys = list(comparison.calibration)
    return SimpleNamespace(**vars(comparison), toc=dict.fromkeys(keys, toc),
                           benefit_curve=dict.fromkeys(keys, curve))


CALLS = {
    "plot_ite_distribution": lambda d: plots.plot_ite_distribution({"a": d.ite}, truth=d.truth),
    "plot_ppc_event_rates": lambda d: plots.plot_ppc_event_rates(d.idata, d.data, ci_prob=0.9),
    "plot_ite_vs_truth": lambda d: plots.plot_ite_vs_truth(d.ite, d.truth, title="t"),
    "plot_km_ppc": lambda d: plots.plot_km_ppc(d.predicted, d.tdata, title="RI-S"),
    "plot_cate_by_risk": lambda d: plots.plot_cate_by_risk(d.ite, d.risk, groups=3,
                                                           truth=d.truth),
    "plot_cate_vs_truth": lambda d: plots.plot_cate_vs_truth(d.ite, d.truth),
    "plot_subgroup_effects": lambda d: plots.plot_subgroup_effects(d.effects),
    "forest_plot": lambda d: plots.forest_plot(d.meta, title="t"),
    "funnel_plot": lambda d: plots.funnel_plot(d.meta, title="t"),
    "combined_forest_plot": lambda d: plots.combined_forest_plot(
        {"DL": d.meta, "causal": d.causal}, studies=d.causal, truth=0.5),
    "bubble_plot": lambda d: plots.bubble_plot(
        meta_regression(d.meta.yi, d.meta.vi, mods=np.arange(len(d.meta.yi))), "mods"),
    "forest_coefficients": lambda d: plots.forest_coefficients(d.mv),
    "compare_estimates": lambda d: plots.compare_estimates({"REML": d.mv.summary()}),
    "plot_calibration": lambda d: plots.plot_calibration(d.comparison, validation="iecv"),
    "plot_ite_distributions": lambda d: plots.plot_ite_distributions(d.comparison),
    "plot_metric_forest": lambda d: plots.plot_metric_forest(d.comparison),
    "plot_toc": lambda d: plots.plot_toc(_with_curves(d.comparison), validation="iecv"),
    "plot_benefit_curve": lambda d: plots.plot_benefit_curve(_with_curves(d.comparison)),
    "plot_trace": lambda d: plots.plot_trace(d.posterior, var_names=["mu", "tau"]),
    "plot_rank": lambda d: plots.plot_rank(d.posterior, var_names=["mu"]),
    "plot_performance": lambda d: plots.plot_performance(performance(_study_estimates()),
                                                         measure="bias"),
    "plot_zip": lambda d: plots.plot_zip(_study_estimates(), method="DL", estimand="mu"),
    "plot_estimates": lambda d: plots.plot_estimates(_study_estimates(), estimand="mu"),
    "plot_sbc": lambda d: plots.plot_sbc(_sbc_result(), "m"),
}


def _sbc_result():
    """An SBC result of 30 simulations with uniform ranks (no fitting)."""
    from bayes_hte.sbc import SBCResult
    from bayes_hte.studies import StudyResult

    rng = np.random.default_rng(0)
    rows = [{"model": "m", "scenario": 0, "replicate": r, "method": "nuts", "estimand": q,
             "truth": np.nan, "estimate": float(rng.integers(0, 201)) if q != "~n_draws"
             else 200.0, "se": 0.1, "ci_low": np.nan, "ci_high": np.nan, "seconds": 1.0,
             "error": ""} for r in range(30) for q in ("mu", "loglik", "~n_draws")]
    return SBCResult(StudyResult(name="t", estimates=pd.DataFrame(rows), factors=["model"],
                                 methods=["nuts"]))


def test_every_figure_function_is_called():
    assert set(CALLS) == set(DATA_ARGS) - SAVERS


@pytest.mark.parametrize("name", sorted(CALLS))
def test_returns_a_figure(name, inputs):
    fig = CALLS[name](inputs)
    assert isinstance(fig, Figure)
    assert any(ax.has_data() for ax in fig.axes)
    plt.close(fig)


def test_km_ppc_panels_and_title(inputs):
    fig = plots.plot_km_ppc(inputs.predicted, inputs.tdata, ci_prob=0.8, title="RI-S")
    assert len([a for a in fig.axes if a.has_data()]) == inputs.tdata.n_studies
    assert fig._suptitle.get_text().startswith("RI-S: Kaplan-Meier")
    assert "80% bands" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(DataError, match="dims"):
        plots.plot_km_ppc(inputs.predicted.isel(draw=0), inputs.tdata)
    with pytest.raises(DataError, match="studies"):
        plots.plot_km_ppc(inputs.predicted.isel(study=[0, 1]), inputs.tdata)


def test_metric_forest_reads_the_tidy_table_too(inputs):
    fig = plots.plot_metric_forest(inputs.comparison.table, metrics=["mse"])
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["mse"]
    plt.close(fig)
    # an unknown metric is named (it had drawn an empty panel)
    open_before = plt.get_fignums()
    with pytest.raises(DataError, match=r"unknown metric 'c_index'; metrics: \['c_for_benefit'"):
        plots.plot_metric_forest(inputs.comparison.table, metrics=["mse", "c_index"])
    assert plt.get_fignums() == open_before
    with pytest.raises(ValueError, match="no calibration tables"):
        plots.plot_calibration(inputs.comparison, validation="kfold")


def test_savers_write_pngs(inputs, tmp_path):
    open_before = plt.get_fignums()
    paths = plots.save_comparison_figures(inputs.comparison, tmp_path / "out", prefix="ev")
    assert set(paths) == {"calibration_in_sample", "ite_by_model", "metric_forest",
                          "calibration_iecv"}
    assert all(p.exists() and p.name.startswith("ev_") for p in paths.values())
    written = plots.convergence_plots(inputs.posterior, tmp_path, prefix="m",
                                      var_names=["mu", "tau"])
    assert [p.name for p in written] == ["m_trace.png", "m_rank.png"]
    assert all(p.stat().st_size > 0 for p in written)
    assert plt.get_fignums() == open_before  # the savers close what they open
