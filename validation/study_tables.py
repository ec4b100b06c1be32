"""The docs tables of the study specs of models/studies/, from their stored results.

One subcommand per table; each reads the estimates of a study's store
(``<out>/store/main``, :func:`bayes_hte.studies.load`), prints the markdown block and
writes it between the block's markers of its docs page (``--print-only``: print only).

``two_step_longitudinal``
    docs/multivariate.md, ``two-step-simulation`` markers: Tables 1-3 of the two-step
    IPD-MA paper (``models/studies/two_step_longitudinal.toml``) -- mean of the estimates,
    empirical SE, mean estimated SE, coverage of the 95% Wald interval and power, the
    paper's value in parentheses (``validation/two_step_paper_tables.json``); one-step
    versus two-step replicate by replicate in Simulation 1; the coverage of every method
    in every scenario.
``cima_two_step``
    docs/cima.md, ``cima-two-step`` markers: bias, empirical SD, mean SE and coverage of
    CIMA-AgD's target ATE with one- and two-step GMM (``models/studies/cima_two_step.toml``).
``maic_stc_coverage``
    docs/ipd_aggregate.md, ``maic-stc-coverage`` markers: bias, empirical SE, model SE,
    its relative error and coverage of MAIC and STC for the target's RD and log OR
    (``models/studies/maic_stc_coverage.toml``; the stored OR estimates logged).
``subgroup_ite_coverage``
    docs/subgroup.md, ``subgroup-coverage`` and ``subgroup-coverage-seed`` markers: the
    per-data-set coverage, width, accuracy and interval checks of the per-patient
    log-odds CATEs, averaged over data sets per design and method, and every fit of one
    data set (``--replicate``; ``models/studies/subgroup_ite_coverage.toml``, issue 13 f).
``berenfeld2026_figure2``
    docs/meta_analysis.md, ``figure2`` markers, and docs/figures/berenfeld2026_figure2.png:
    the median [5%, 95%] of the classical and causal estimates of the RD, RR and OR over
    the meta-analyses (``models/studies/berenfeld2026_figure2.toml``; Berenfeld et al.
    2026, Figure 2).

Run::

    bayes-hte study models/studies/two_step_longitudinal.toml --workers 2
    python validation/study_tables.py two_step_longitudinal [--out DIR] [--print-only]
    bayes-hte study models/studies/cima_two_step.toml --workers 2
    python validation/study_tables.py cima_two_step [--out DIR] [--print-only]
    bayes-hte study models/studies/maic_stc_coverage.toml
    python validation/study_tables.py maic_stc_coverage [--out DIR] [--print-only]
    bayes-hte study models/studies/subgroup_ite_coverage.toml --workers 2
    python validation/study_tables.py subgroup_ite_coverage [--replicate R] [--print-only]
    bayes-hte study models/studies/berenfeld2026_figure2.toml
    python validation/study_tables.py berenfeld2026_figure2 [--print-only]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))
from _docs import DOCS, write_block  # noqa: E402

STATS = ("Mean", "SE", "estSE", "Coverage", "Power")
#: The measures of :func:`bayes_hte.studies.performance` behind the paper's statistics
#: (estSE, the mean of the estimated SEs, is computed here: ``modelse`` is their root
#: mean square).
MEASURE_OF = {"Mean": "thetamean", "SE": "empse", "Coverage": "cover", "Power": "power"}


def estimates(out: Path) -> pd.DataFrame:
    """The successful estimates of a study's main store (rows without an error and with
    a finite estimate)."""
    est = bh.studies.load(out / "store" / "main").estimates
    return est[(est["error"] == "") & np.isfinite(est["estimate"])].reset_index(drop=True)


def statistics(est: pd.DataFrame) -> pd.DataFrame:
    """Per (scenario, method, estimand): the paper's five statistics and the replicates.

    Mean, empirical SE, coverage and power are ``bh.studies.performance``'s
    ``thetamean``, ``empse``, ``cover``, ``power``; estSE the mean estimated SE.
    """
    perf = bh.studies.performance(est, factors=["scenario"],
                                  measures=list(MEASURE_OF.values()))
    wide = perf.pivot_table(index=["scenario", "method", "estimand"], columns="measure",
                            values="value")
    out = pd.DataFrame({stat: wide[m] for stat, m in MEASURE_OF.items()})
    g = est.groupby(["scenario", "method", "estimand"])
    out["estSE"] = g["se"].mean()
    out["n"] = g["replicate"].nunique()
    return out[[*STATS, "n"]]


# =========================================================================== two-step
TWO_STEP = "two_step_longitudinal"
#: Estimand (coefficient of the design) -> the paper's name, for the coefficients its
#: tables show.
SHOW = {"treat": "mu2", "visit[3]": "mu4", "z": "mu5", "treat:visit[3]": "mu7",
        "visit[3]:z": "mu9", "treat:z": "mu10"}
COEFS = ("(intercept)", "treat", "visit[2]", "visit[3]", "z", "treat:visit[2]",
         "treat:visit[3]", "visit[2]:z", "visit[3]:z", "treat:z")
SIM1_N = (5, 10, 15, 20)
SIM2_COLUMNS = [(5, 0.1), (5, 0.2), (10, 0.1), (10, 0.2), (15, 0.1), (15, 0.2)]
#: Method labels of models/studies/two_step_longitudinal.toml.
ONE, FE, REML = "one_step", "two_step_FE", "two_step_REML"


def _paper() -> dict:
    return json.loads((ROOT / "validation" / "two_step_paper_tables.json").read_text())


def _scenario_index(est: pd.DataFrame) -> dict[tuple, int]:
    """(design, trials, tau2, missing_visit_fraction) -> scenario number."""
    keys = est.drop_duplicates("scenario")
    return {(r.design, int(r.trials), float(r.tau2), float(r.missing_visit_fraction)):
            int(r.scenario) for r in keys.itertuples()}


def equivalence(est: pd.DataFrame, scen: int) -> dict[str, float]:
    """One-step versus two-step FE, replicate by replicate, over the 10 coefficients."""
    sub = est[(est["scenario"] == scen) & est["estimand"].isin(COEFS)]
    wide = sub.pivot_table(index=["replicate", "estimand"], columns="method",
                           values=["estimate", "se"]).dropna()
    one, two = wide["estimate"][ONE].unstack(), wide["estimate"][FE].unstack()
    se_one, se_two = wide["se"][ONE].unstack(), wide["se"][FE].unstack()
    diff, n = two - one, len(one)
    return {
        "max |mean(two - one)| / MC SE of mean":
            float(np.max(np.abs(diff.mean()) / (one.std(ddof=1) / np.sqrt(n)))),
        "max SD(two - one) / SE(one)": float(np.max(diff.std(ddof=1) / one.std(ddof=1))),
        "min corr(one, two)": float(min(np.corrcoef(one[c], two[c])[0, 1]
                                        for c in one.columns)),
        "max |estSE two / estSE one - 1|": float(np.max(np.abs(se_two.mean() / se_one.mean()
                                                               - 1))),
    }


def frame_markdown(df: pd.DataFrame, *, digits: int = 3) -> str:
    """A small DataFrame as a markdown table."""
    head = "| " + " | ".join([str(df.index.name or "")] + [str(c) for c in df.columns]) + " |"
    lines = [head, "|" + "---|" * (df.shape[1] + 1)]
    for idx, row in df.iterrows():
        cells = [v if isinstance(v, str) else f"{v:.{digits}f}" for v in row]
        lines.append("| " + " | ".join([str(idx)] + cells) + " |")
    return "\n".join(lines)


def two_step_markdown(est: pd.DataFrame, *, command: str) -> str:
    """The ``two-step-simulation`` block of docs/multivariate.md."""
    paper, stats = _paper(), statistics(est)
    index = _scenario_index(est)
    truth = (est[est["estimand"].isin(COEFS)].drop_duplicates("estimand")
             .set_index("estimand")["truth"].to_dict())
    minutes = est.drop_duplicates(["scenario", "replicate", "method"])["seconds"].sum() / 60
    reps = est.groupby("scenario")["replicate"].nunique()
    blocks = [f"Command: `{command}` ({reps.min()}"
              + (f"-{reps.max()}" if reps.max() != reps.min() else "")
              + f" replicates per scenario; the fits took {minutes:.0f} min of worker time)."]
    mc = np.sqrt(0.95 * 0.05 / reps.min())

    # ------------------------------------------------------------------ Simulation 1
    sim1 = [(k, n, index.get(("simulation1", n, 0.0, 0.0))) for k, n in enumerate(SIM1_N)]
    sim1 = [(k, n, s) for k, n, s in sim1 if s is not None]
    if sim1:
        t1 = paper["table1"]
        cols, cells, eq = [], [], {}
        for k, n, s in sim1:
            cols += [f"N={n} one-step", f"N={n} two-step"]
            cells += [(s, ONE, k), (s, FE, k)]
            eq[n] = equivalence(est, s)
        t1 = {ONE: t1["one_step"], FE: t1["two_step"]}
        table = _with_paper(cols, cells, stats, t1, truth)
        cov = stats.loc[[(s, m, c) for s, m, _ in cells for c in COEFS
                         if (s, m, c) in stats.index], "Coverage"]
        eqf = pd.DataFrame(eq).T.rename_axis("N")
        blocks.append(
            f"**Table 1 (Simulation 1, no heterogeneity), {reps.loc[[s for *_, s in sim1]].min()}"
            " replicates per N** -- ours (paper, 10,000 replicates); two-step = per-trial REML "
            "+ fixed-effect multivariate meta-analysis:\n\n" + table + "\n\n"
            "One-step versus two-step, replicate by replicate (all 10 coefficients):\n\n"
            + frame_markdown(eqf) + "\n\n"
            f"Coverage over all 10 coefficients x {len(sim1)} N x 2 methods: "
            f"{cov.min():.3f} to {cov.max():.3f} (Monte Carlo SE {mc:.3f}).")

    # ------------------------------------------------------------------ Simulation 2
    conv = est[est["estimand"] == "converged"]
    for label, frac, key in (("2 (Simulation 2(a), all three visits)", 0.0, "table2"),
                             ("3 (Simulation 2(b), 40% of trials measure two visits)", 0.4,
                              "table3")):
        cols, cells = [], []
        for k, (n, tau2) in enumerate(SIM2_COLUMNS):
            s = index.get(("simulation2", n, tau2, frac))
            if s is not None:
                cols.append(f"N={n}, tau2={tau2}")
                cells.append((s, REML, k))
        if not cells:
            continue
        pap = {REML: {lab: d for lab, d in paper[key]["two_step"].items()}}
        text = _with_paper(cols, cells, stats, pap, truth)
        scen = [s for s, *_ in cells]
        cov_all = stats.loc[[(s, REML, c) for s in scen for c in COEFS
                             if (s, REML, c) in stats.index], "Coverage"]
        cov_show = stats.loc[[(s, REML, c) for s in scen for c in SHOW
                              if (s, REML, c) in stats.index], "Coverage"]
        fits = conv[(conv["method"] == REML) & conv["scenario"].isin(scen)]
        blocks.append(
            f"**Table {label}, two-step REML with compound-symmetric Omega, "
            f"{reps.loc[scen].min()} replicates per column** -- ours (paper):\n\n" + text
            + "\n\n"
            f"Coverage, the six coefficients shown: {cov_show.min():.3f} to "
            f"{cov_show.max():.3f}, mean {cov_show.mean():.3f}; all 10 coefficients: "
            f"{cov_all.min():.3f} to {cov_all.max():.3f}, mean {cov_all.mean():.3f} (Monte "
            f"Carlo SE {mc:.3f}); optimiser non-convergence: {int((fits['estimate'] == 0).sum())}"
            f" of {len(fits)} fits.")

    # ------------------------------------------------------------------ every method
    rows = {}
    for (design, n, tau2, frac), s in sorted(index.items(), key=lambda kv: kv[1]):
        name = (f"Simulation 1, N={n}" if design == "simulation1" else
                f"Simulation 2({'b' if frac else 'a'}), N={n}, tau2={tau2}")
        row = {}
        for m in (ONE, FE, REML):
            c = stats.loc[[(s, m, coef) for coef in COEFS if (s, m, coef) in stats.index],
                          "Coverage"]
            row[m] = f"{c.min():.3f}-{c.max():.3f} ({c.mean():.3f})" if len(c) else ""
        rows[name] = row
    blocks.append(
        "Coverage of every method of the spec in every scenario, over the 10 coefficients: "
        "min-max (mean). One-step and fixed-effect two-step ignore the between-trial "
        "variation of Simulation 2; REML two-step estimates it also when it is zero:\n\n"
        + frame_markdown(pd.DataFrame(rows).T.rename_axis("scenario")))
    return "\n\n".join(blocks)


def _with_paper(columns: list[str], cells: list[tuple[int, str, int]],
                stats: pd.DataFrame, paper: dict[str, dict], truth: dict[str, float]) -> str:
    """Coefficient x statistic rows, a column per cell (scenario, method, index k of the
    column in the paper's table); cells 'ours (paper)', the paper's value
    ``paper[method][coefficient][statistic][k]``."""
    lines = ["| coefficient | statistic | " + " | ".join(columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for coef, lab in SHOW.items():
        for stat in STATS:
            row = []
            for scen, method, k in cells:
                key = (scen, method, coef)
                ours = f"{stats.loc[key, stat]:.3f}" if key in stats.index else ""
                ref = paper.get(method, {}).get(lab, {}).get(stat)
                row.append(ours + (f" ({ref[k]:.3f})" if ref is not None else ""))
            name = f"{lab} = {truth[coef]:g} ({coef})" if stat == "Mean" else ""
            lines.append(f"| {name} | {stat} | " + " | ".join(row) + " |")
    return "\n".join(lines)


# =========================================================================== CIMA
CIMA = "cima_two_step"
#: Method labels of models/studies/cima_two_step.toml -> (reported effects, GMM steps).
CIMA_ROWS = {"x1_only_1step": ("x1 strata only", 1), "x1_only_2step": ("x1 strata only", 2),
             "all_1step": ("overall + x1 and x2 strata", 1),
             "all_2step": ("overall + x1 and x2 strata", 2)}


def cima_markdown(est: pd.DataFrame, *, command: str) -> str:
    """The ``cima-two-step`` block of docs/cima.md."""
    est = est[est["estimand"] == "ate"]
    perf = bh.studies.performance(est, measures=["bias", "empse", "cover"]).set_index(
        ["method", "measure"])
    reps = est["replicate"].nunique()
    minutes = est.drop_duplicates(["replicate", "method"])["seconds"].sum() / 60
    lines = [f"Reproduce: `{command}` ({reps} replicates; the fits took {minutes:.1f} "
             "min of worker time).", "",
             "| reported effects | GMM steps | bias | empirical SD | mean SE | coverage |",
             "|---|---|---|---|---|---|"]
    mcse = {"bias": [], "cover": []}
    for method, (name, steps) in CIMA_ROWS.items():
        if (method, "bias") not in perf.index:
            continue
        se = est.loc[est["method"] == method, "se"].mean()
        lines.append(f"| {name} | {steps} | {perf.loc[(method, 'bias'), 'value']:.4f} | "
                     f"{perf.loc[(method, 'empse'), 'value']:.4f} | {se:.4f} | "
                     f"{perf.loc[(method, 'cover'), 'value']:.2f} |")
        for m in mcse:
            mcse[m].append(perf.loc[(method, m), "mcse"])
    lines += ["", f"Monte Carlo SE of a bias {min(mcse['bias']):.4f}-{max(mcse['bias']):.4f}, "
              f"of a coverage {min(mcse['cover']):.2f}-{max(mcse['cover']):.2f}. The truth "
              "is the mean true CATE over each replicate's target rows."]
    return "\n".join(lines)


# =========================================================================== MAIC / STC
MAIC_STC = "maic_stc_coverage"
#: Measures of the block, in its column order.
MAIC_STC_MEASURES = ("bias", "empse", "modelse", "relerror", "cover")


def log_odds_ratios(est: pd.DataFrame) -> pd.DataFrame:
    """The stored estimates with the ``OR`` rows on the log scale, as estimand ``log OR``.

    The ``maic`` / ``stc`` kinds store an OR as exp(mu), its SE as exp(mu) se(mu) (delta
    method) and its Wald interval exponentiated (:mod:`bayes_hte.studies.
    comparator_methods`); this inverts that exactly: log of the estimate, the truth and
    the bounds, SE divided by the estimate.
    """
    out = est.copy()
    rows = out["estimand"] == "OR"
    ratio = out.loc[rows, "estimate"]
    out.loc[rows, "se"] = out.loc[rows, "se"] / ratio
    for col in ("estimate", "truth", "ci_low", "ci_high"):
        out.loc[rows, col] = np.log(out.loc[rows, col])
    out.loc[rows, "estimand"] = "log OR"
    return out


def maic_stc_markdown(est: pd.DataFrame, *, command: str) -> str:
    """The ``maic-stc-coverage`` block of docs/ipd_aggregate.md."""
    est = log_odds_ratios(est[est["estimand"].isin(["RD", "OR"])])
    perf = bh.studies.performance(est, measures=list(MAIC_STC_MEASURES)).set_index(
        ["method", "estimand", "measure"])
    reps = est["replicate"].nunique()
    seconds = est.drop_duplicates(["replicate", "method"])["seconds"].sum()
    truth = est.drop_duplicates("estimand").set_index("estimand")["truth"]
    lines = [f"Reproduce: `{command}` ({reps} replicates; the fits took {seconds:.1f} s of "
             f"worker time). Truth: RD {truth['RD']:.4f}, log OR {truth['log OR']:.4f}.",
             "", "| method | estimand | bias (MCSE) | empirical SE | model SE | "
             "relative error of model SE, % (MCSE) | coverage (MCSE) |",
             "|---|---|---|---|---|---|---|"]
    for method in ("MAIC", "STC"):
        for estimand in ("RD", "log OR"):
            if (method, estimand, "bias") not in perf.index:
                continue
            v = {m: perf.loc[(method, estimand, m), ["value", "mcse"]].to_numpy()
                 for m in MAIC_STC_MEASURES}
            lines.append(
                f"| {method} | {estimand} | {v['bias'][0]:.4f} ({v['bias'][1]:.4f}) | "
                f"{v['empse'][0]:.4f} | {v['modelse'][0]:.4f} | "
                f"{v['relerror'][0]:.1f} ({v['relerror'][1]:.1f}) | "
                f"{v['cover'][0]:.3f} ({v['cover'][1]:.3f}) |")
    return "\n".join(lines)


# =========================================================================== subgroup coverage
SUBGROUP = "subgroup_ite_coverage"
#: Column of the ``subgroup-coverage`` block -> the per-data-set metric (of the
#: ``subgroup`` and ``s_learner`` kinds) whose mean over data sets it shows.
SUBGROUP_MEANS = {
    "coverage": "cate_logit_cover", "mean_width": "cate_logit_width",
    "correlation": "cate_logit_corr", "bias": "cate_logit_bias", "rmse": "cate_logit_rmse",
    "coverage_debiased": "cate_logit_cover_debiased",
    "average_covered": "cate_logit_average_cover",
    "coverage_conditional": "cate_logit_cover_conditional",
    "coverage_individual": "eta_cover", "width_individual": "eta_width",
}
#: Columns of the ``subgroup-coverage-seed`` block (one data set) -> the metric.
SUBGROUP_ONE = {"coverage": "cate_logit_cover", "mean_width": "cate_logit_width",
                "correlation": "cate_logit_corr", "bias": "cate_logit_bias",
                "coverage_debiased": "cate_logit_cover_debiased",
                "average_z": "cate_logit_average_z"}


def spec_as_run(out: Path) -> dict:
    """The spec a study's output folder was made from (``spec.json``; {} without it)."""
    path = out / "spec.json"
    return json.loads(path.read_text()) if path.exists() else {}


def markdown_frame(df: pd.DataFrame, *, digits: int = 3) -> str:
    """A Markdown table of ``df``, its index levels as the first columns; floats with
    ``digits`` decimals, NaN empty, integers as integers."""
    def cell(v) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)
    names = list(df.index.names)
    lines = ["| " + " | ".join([str(n or "") for n in names] + [str(c) for c in df.columns])
             + " |", "|" + "---|" * (len(names) + len(df.columns))]
    for idx, row in df.astype(object).iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        lines.append("| " + " | ".join([str(i) for i in idx] + [cell(v) for v in row]) + " |")
    return "\n".join(lines)


def _metric_wide(est: pd.DataFrame) -> pd.DataFrame:
    """One row per (design, method, replicate), one column per estimand (its estimate)."""
    return est.pivot_table(index=["design", "method", "replicate"], columns="estimand",
                           values="estimate", aggfunc="first", sort=False)


def _row_order(est: pd.DataFrame, index: pd.MultiIndex, methods: list[str]) -> list:
    """(design, method) keys by scenario, then in the spec's method order."""
    scen = est.drop_duplicates("design").set_index("design")["scenario"]
    rank = {m: i for i, m in enumerate(methods)}
    return sorted(index, key=lambda k: (scen[k[0]], rank.get(k[1], len(rank)), k[1]))


def subgroup_coverage_table(est: pd.DataFrame, *, methods: list[str] = ()) -> pd.DataFrame:
    """The ``subgroup-coverage`` table: per design and method, the mean over data sets
    of each per-data-set metric (``thetamean`` of :func:`bayes_hte.studies.performance`),
    ``coverage_se`` (its Monte Carlo SE: SD over data sets / sqrt(replicates)),
    ``average_z_sd`` (the SD over data sets of ``cate_logit_average_z``) and the total
    ``divergences``."""
    est = est[est["estimand"].isin([*SUBGROUP_MEANS.values(), "cate_logit_average_z",
                                    "divergences"])]
    perf = bh.studies.performance(est, factors=["design"], measures=["thetamean"])
    # pivot, not pivot_table: keep the NaN MCSEs of a single replicate
    value, mcse, n_ok = (perf.pivot(index=["design", "method"], columns="estimand", values=v)
                         for v in ("value", "mcse", "n_ok"))
    wide = _metric_wide(est).groupby(level=["design", "method"], sort=False)
    table = pd.DataFrame(index=value.index)
    table["replicates"] = n_ok["cate_logit_cover"].fillna(0).astype(int)
    for col, metric in SUBGROUP_MEANS.items():
        table[col] = value[metric] if metric in value else np.nan
        if col == "coverage":
            table["coverage_se"] = mcse[metric]
        if col == "average_covered":
            table["average_z_sd"] = wide["cate_logit_average_z"].std()
    table["divergences"] = wide["divergences"].sum().astype(int)
    return table.loc[_row_order(est, table.index, list(methods))]


def subgroup_one_table(est: pd.DataFrame, *, replicate: int,
                       methods: list[str] = ()) -> pd.DataFrame:
    """The ``subgroup-coverage-seed`` table: every fit of one replicate's data sets."""
    wide = _metric_wide(est[est["replicate"] == replicate]).droplevel("replicate")
    table = pd.DataFrame({col: wide[m] for col, m in SUBGROUP_ONE.items()}, index=wide.index)
    return table.loc[_row_order(est, table.index, list(methods))]


def subgroup_blocks(out: Path, *, command: str, replicate: int | None = None,
                    figure: Path | None = None) -> dict[str, str]:
    """The ``subgroup-coverage`` and ``subgroup-coverage-seed`` blocks of docs/subgroup.md.

    ``replicate``: the data set of the second block (default: the one with the lowest
    mean ``cate_logit_cover`` over its fits, where a data set's misses show); ``figure``
    is not used.
    """
    est = estimates(out)
    spec = spec_as_run(out)
    methods = list(spec.get("methods", {}))
    first = spec.get("methods", {}).get(methods[0], {}) if methods else {}
    n = spec.get("data", {}).get("params", {}).get("n")
    settings = (f"n = {n}, {first['chains']} chains x {first['draws']} draws "
                f"({first['tune']} tuning), " if {"chains", "draws", "tune"} <= set(first)
                else "") + f"{first.get('sampler') or 'nutpie'}, "
    cover = est[est["estimand"] == "cate_logit_cover"]
    reps = cover.groupby(["design", "method"])["replicate"].nunique()
    minutes = est.drop_duplicates(["scenario", "replicate", "method"])["seconds"].sum() / 60
    seed = spec.get("study", {}).get("seed")
    head = (f"Data sets: replicates 0, 1, ... of the study (seed {seed}; `replicates` per "
            f"row), {settings}{100 * spec.get('study', {}).get('ci_prob', 0.95):g}% "
            "equal-tailed intervals of the per-patient log-odds CATE against `true_te`; "
            "every number is the mean over data sets of the per-data-set value "
            "(`coverage_se`: SD over data sets / sqrt(replicates); `average_z_sd`: the SD "
            "over data sets of the average's z-score; `divergences`: the total). Made by "
            f"`{command}` ({reps.min()}"
            + (f"-{reps.max()}" if reps.max() != reps.min() else "")
            + " replicates per row; the fits took "
            f"{minutes:.0f} min of worker time).\n\n")
    if replicate is None:
        replicate = int(cover.groupby("replicate")["estimate"].mean().idxmin())
    one = subgroup_one_table(est, replicate=replicate, methods=methods)
    return {"subgroup-coverage": head + markdown_frame(
                subgroup_coverage_table(est, methods=methods)),
            "subgroup-coverage-seed": f"Data set {replicate} alone (replicate {replicate} "
            "of every design; the data set of lowest mean coverage unless chosen by "
            "`--replicate`; same fits):\n\n" + markdown_frame(one)}


# =========================================================================== Berenfeld Fig. 2
FIGURE2 = "berenfeld2026_figure2"
#: Method labels of models/studies/berenfeld2026_figure2.toml -> the column of the block.
FIGURE2_METHODS = {"FE": "classical FE", "DL": "classical RE (DL)",
                   "REML": "classical RE (REML)", "causal": "causal"}
FIGURE2_MEASURES = ("RD", "RR", "OR")
FIGURE2_PNG = DOCS / "figures" / "berenfeld2026_figure2.png"


def figure2_markdown(est: pd.DataFrame, *, command: str, seed: int | None = None) -> str:
    """The ``figure2`` block of docs/meta_analysis.md: the median [5%, 95%] of each
    method's estimates (``numpy.quantile``, linear interpolation) next to θ(P*) (the
    stored truth) and the classical target of section 4.1
    (:func:`bayes_hte.simulate.berenfeld_truth`, the design's defaults)."""
    meta = bh.simulate.berenfeld_truth()["theta_meta"]
    reps = est["replicate"].nunique()
    lines = ["| measure | θ(P*) | classical target (section 4.1) | "
             + " | ".join(FIGURE2_METHODS.values()) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in FIGURE2_METHODS) + " |"]
    for measure in FIGURE2_MEASURES:
        sub = est[est["estimand"] == measure]
        cells = []
        for method in FIGURE2_METHODS:
            v = sub.loc[sub["method"] == method, "estimate"].to_numpy(dtype=float)
            cells.append(f"{np.median(v):.3f} [{np.quantile(v, 0.05):.3f}, "
                         f"{np.quantile(v, 0.95):.3f}]" if v.size else "")
        lines.append(f"| {measure} | {sub['truth'].iloc[0]:.3f} | {meta[measure]:.3f} | "
                     + " | ".join(cells) + " |")
    where = f" (study seed {seed})" if seed is not None else ""
    return (f"Median [5%, 95%] of the estimates over {reps} meta-analyses{where}; made "
            f"by `{command}`.\n\n" + "\n".join(lines))


def figure2_figure(est: pd.DataFrame, path: Path, *, n: int = 1000) -> None:
    """Figure 2 from the stored estimates: per measure, a box plot and the points of
    each method's estimates, θ(P*) (red) and no effect (grey); RR and OR on a log
    scale. Written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reps = est["replicate"].nunique()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    rng = np.random.default_rng(0)                     # jitter only
    colors = ["#1f4e79", "#c55a11", "#bf9000", "#548235"]
    for ax, measure in zip(axes, FIGURE2_MEASURES, strict=True):
        sub = est[est["estimand"] == measure]
        data = [sub.loc[sub["method"] == m, "estimate"].to_numpy(dtype=float)
                for m in FIGURE2_METHODS]
        labels = list(FIGURE2_METHODS.values())
        ax.boxplot(data, positions=range(len(labels)), widths=0.5, showfliers=False,
                   medianprops={"color": "black"})
        for i, v in enumerate(data):
            ax.scatter(i + rng.uniform(-0.18, 0.18, v.size), v, s=8, alpha=0.5,
                       color=colors[i], zorder=3)
        ax.axhline(0.0 if measure == "RD" else 1.0, color="0.6", lw=1.2)
        ax.axhline(float(sub["truth"].iloc[0]), color="red", lw=1.6,
                   label="θ(P*) (causal estimand)")
        if measure != "RD":
            ax.set_yscale("log")
            plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([lab.replace(" ", "\n", 1) for lab in labels], fontsize=8)
        ax.set_title({"RD": "risk difference", "RR": "risk ratio (log scale)",
                      "OR": "odds ratio (log scale)"}[measure])
    axes[0].legend(loc="lower left", fontsize=8, frameon=False)
    fig.suptitle(f"Appendix-A design, {reps} meta-analyses of n = {n} "
                 "(reproduction of Berenfeld et al. 2026, Figure 2)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure2_blocks(out: Path, *, command: str, replicate: int | None = None,
                   figure: Path | None = None) -> dict[str, str]:
    """The ``figure2`` block of docs/meta_analysis.md and, when ``figure`` is given,
    the figure (``replicate`` is not used)."""
    est = estimates(out)
    spec = spec_as_run(out)
    if figure is not None:
        figure2_figure(est, figure, n=spec.get("data", {}).get("params", {}).get("n", 1000))
    return {"figure2": figure2_markdown(est, command=command,
                                        seed=spec.get("study", {}).get("seed"))}


#: Tables made from a study's output folder (its store and ``spec.json``), several
#: blocks (and a figure) each: name -> function(out, *, command, replicate, figure).
FOLDER_TABLES = {SUBGROUP: subgroup_blocks, FIGURE2: figure2_blocks}
#: The figure each folder table writes with its blocks.
FOLDER_FIGURES = {FIGURE2: FIGURE2_PNG}


# =========================================================================== main
TABLES = {
    TWO_STEP: (two_step_markdown, "two-step-simulation", DOCS / "multivariate.md"),
    CIMA: (cima_markdown, "cima-two-step", DOCS / "cima.md"),
    MAIC_STC: (maic_stc_markdown, "maic-stc-coverage", DOCS / "ipd_aggregate.md"),
    SUBGROUP: (subgroup_blocks, None, DOCS / "subgroup.md"),
    FIGURE2: (figure2_blocks, None, DOCS / "meta_analysis.md"),
}


def main(argv: list[str] | None = None) -> str:
    """Parse the command line, print the block and (unless ``--print-only``) write it."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("table", choices=sorted(TABLES), help="the study spec's name")
    ap.add_argument("--out", type=Path, default=None,
                    help="the study's output folder (default results/studies/<table>)")
    ap.add_argument("--command", default=None,
                    help="the command that made the store, quoted in the docs")
    ap.add_argument("--print-only", action="store_true", help="do not write the docs page")
    ap.add_argument("--replicate", type=int, default=None,
                    help=f"{SUBGROUP}: the data set of the one-data-set table")
    args = ap.parse_args(argv)
    func, marker, doc = TABLES[args.table]
    out = args.out or ROOT / "results" / "studies" / args.table
    command = args.command or (f"bayes-hte study models/studies/{args.table}.toml "
                               f"--workers 2; python validation/study_tables.py {args.table}")
    if args.table in FOLDER_TABLES:
        figure = None if args.print_only else FOLDER_FIGURES.get(args.table)
        blocks = func(out, command=command, replicate=args.replicate, figure=figure)
        if figure is not None:
            print(f"wrote {figure}")
    else:
        blocks = {marker: func(estimates(out), command=command)}
    for name, text in blocks.items():
        print(text)
        if not args.print_only:
            write_block(name, text, doc=doc)
            print(f"wrote the {name} block of {doc}")
    return "\n\n".join(blocks.values())


if __name__ == "__main__":
    main()
