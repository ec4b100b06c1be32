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

Run::

    bayes-hte study models/studies/two_step_longitudinal.toml --workers 2
    python validation/study_tables.py two_step_longitudinal [--out DIR] [--print-only]
    bayes-hte study models/studies/cima_two_step.toml --workers 2
    python validation/study_tables.py cima_two_step [--out DIR] [--print-only]
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


# =========================================================================== main
TABLES = {
    TWO_STEP: (two_step_markdown, "two-step-simulation", DOCS / "multivariate.md"),
    CIMA: (cima_markdown, "cima-two-step", DOCS / "cima.md"),
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
    args = ap.parse_args(argv)
    func, marker, doc = TABLES[args.table]
    out = args.out or ROOT / "results" / "studies" / args.table
    command = args.command or (f"bayes-hte study models/studies/{args.table}.toml "
                               f"--workers 2; python validation/study_tables.py {args.table}")
    text = func(estimates(out), command=command)
    print(text)
    if not args.print_only:
        write_block(marker, text, doc=doc)
        print(f"wrote the {marker} block of {doc}")
    return text


if __name__ == "__main__":
    main()
