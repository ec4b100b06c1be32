"""docs/subgroup.md's Tzimas (2024) Monte Carlo tables, from the study's stored results.

The study is ``models/studies/tzimas2024_coverage.toml`` (``bayes-hte study``): the
paper's subgroup model with and without the individual layer and the correctly specified
one, fitted to each simulated data set of the paper's design. This script only reads the
stored estimates (``<out>/store/main``, :func:`bayes_hte.studies.load`) and writes the
blocks of docs/subgroup.md between their markers:

``tzimas-metrics``
    the accuracy of each data set's per-patient CATEs against the patients' true
    effects (the ``cate_*`` metrics of the ``subgroup`` method kind): mean over the data
    sets with its Monte Carlo SE (``bh.studies.performance(..., measures=["thetamean"])``),
    next to the paper's Table 7 (one data set);
``tzimas-population``
    bias and coverage of the population estimands (``ate_logit``, ``ate_rd``,
    ``hte_<x>``) against their exact values, with Monte Carlo SEs;
``tzimas-sampling``
    the sampling health of the fits: mean and worst value over the data sets;
``tzimas-perfit``
    one row per data set and method.

The risk-quintile table (the paper's Table 8) and the two figures come from one fitted
model: ``validation/tzimas2024_figures.py``.

Run::

    bayes-hte study models/studies/tzimas2024_coverage.toml --workers 2 --replicates 10
    python validation/tzimas2024_tables.py --write-docs [--out results/studies/tzimas2024_coverage]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.runners.study import MAIN_GROUP, StudyRunner
from bayes_hte.runners.subgroup import PAPER_TABLE7

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))
from _docs import DOCS, write_block  # noqa: E402

OUT = ROOT / "results" / "studies" / "tzimas2024_coverage"
COMMAND = ("bayes-hte study models/studies/tzimas2024_coverage.toml --workers 2 "
           "--replicates 10; python validation/tzimas2024_tables.py --write-docs")
#: Rows of the metrics table: docs name -> estimand of the ``subgroup`` kind.
METRICS = {
    "correlation": "cate_logit_corr", "rmse": "cate_logit_rmse", "mae": "cate_logit_mae",
    "coverage": "cate_logit_cover", "mean_width": "cate_logit_width",
    "bias": "cate_logit_bias", "bias_conditional": "cate_logit_bias_conditional",
    "rd_correlation": "cate_rd_corr", "rd_rmse": "cate_rd_rmse",
    "rd_coverage": "cate_rd_cover",
}
POPULATION = ("ate_logit", "ate_rd", "hte_anticoagulant", "hte_prior_bleeding",
              "hte_diabetes", "hte_female")
#: Sampling-health columns and the worst value over data sets (``ess_per_s`` and
#: ``wall_s`` from the stored wall time of each fit, the ``seconds`` column).
HEALTH = {"max_r_hat": "max", "min_ess_bulk": "min", "min_ess_tail": "min",
          "ess_per_s": "min", "wall_s": "max", "geweke_over_2": "max"}


def fmt_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A markdown table of ``df`` with its index as the first column."""
    def f(v):
        if isinstance(v, float | np.floating):
            return f"{v:.{digits}f}"
        return str(v)
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join([df.index.name or ""] + cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [f(v) for v in row]) + " |")
    return "\n".join(lines)


def estimates(out: Path, store: Path | None = None) -> pd.DataFrame:
    """Every stored row of the study's main group (failures included)."""
    return bh.studies.load(Path(store or out / "store") / MAIN_GROUP).estimates


def _spec(out: Path) -> dict:
    return json.loads((out / "spec.json").read_text())


def events(out: Path, est: pd.DataFrame) -> pd.Series:
    """Events in each data set, regenerated from the spec as run (``<out>/spec.json``):
    the replicate's generator gives the data the methods received."""
    spec = _spec(out)
    plan = StudyRunner(spec, out, lambda _: None).load()
    study = next(g.study for g in plan.groups if g.label == MAIN_GROUP)
    keys = est[["scenario", "replicate"]].drop_duplicates().itertuples(index=False)
    counts = {}
    for s, r in keys:
        data = study.data(int(s), int(r))
        counts[(s, r)] = int(data.frame[data.outcome].sum())
    return pd.Series(counts, name="events").rename_axis(["scenario", "replicate"])


def per_fit(est: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, replicate, method) of the successful fits: every metric
    estimand as a column, ``wall_s`` (the method's stored wall time) and ``ess_per_s``
    (smallest bulk ESS per second of it)."""
    ok = est[est["error"] == ""]
    wide = ok.pivot_table(index=["scenario", "replicate", "method"], columns="estimand",
                          values="estimate", aggfunc="first", dropna=False)
    wall = ok.groupby(["scenario", "replicate", "method"])["seconds"].first()
    wide["wall_s"] = wall
    wide["ess_per_s"] = wide["min_ess_bulk"] / wide["wall_s"]
    wide = wide.reset_index()
    rank = wide["method"].map({m: i for i, m in enumerate(_methods(est))})
    return (wide.assign(_rank=rank).sort_values(["scenario", "replicate", "_rank"])
                .drop(columns="_rank").reset_index(drop=True))


def _methods(est: pd.DataFrame) -> list[str]:
    return list(pd.unique(est["method"]))


def metrics_table(est: pd.DataFrame) -> pd.DataFrame:
    """Mean (MCSE) over data sets of each per-patient metric, per method."""
    perf = bh.studies.performance(est, measures=["thetamean"]).set_index(
        ["method", "estimand"])
    table = pd.DataFrame(index=pd.Index(list(METRICS), name="metric"))
    table["paper (1 data set)"] = pd.Series(PAPER_TABLE7)
    for m in _methods(est):
        cells = []
        for estimand in METRICS.values():
            if (m, estimand) not in perf.index:
                cells.append("")
                continue
            r = perf.loc[(m, estimand)]
            cells.append(f"{r['value']:.3f} ({r['mcse']:.3f})")
        table[m] = cells
    return table.astype(object).where(table.notna(), "")


def population_table(est: pd.DataFrame) -> pd.DataFrame:
    """Truth, bias (MCSE) and coverage in % (MCSE) of each population estimand."""
    perf = bh.studies.performance(est, measures=["bias", "cover"]).set_index(
        ["method", "estimand", "measure"])
    truth = est[est["estimand"].isin(POPULATION)].groupby("estimand")["truth"].first()
    rows = [e for e in POPULATION if e in truth.index]
    table = pd.DataFrame(index=pd.Index(rows, name="estimand"))
    table["truth"] = [f"{truth[e]:.4f}" for e in rows]
    for m in _methods(est):
        for measure, scale, digits, label in (("bias", 1, 3, "bias"),
                                              ("cover", 100, 0, "coverage %")):
            cells = []
            for e in rows:
                key = (m, e, measure)
                if key not in perf.index:
                    cells.append("")
                    continue
                r = perf.loc[key]
                cells.append(f"{r['value'] * scale:.{digits}f} ({r['mcse'] * scale:.{digits}f})")
            table[f"{m} {label}"] = cells
    return table


def sampling_table(fits: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Rows: the health measures (mean and worst over data sets); a column per method."""
    grouped = fits.groupby("method", sort=False)
    table = pd.DataFrame(index=pd.Index(methods, name="method"))
    table["divergences (total)"] = grouped["divergences"].sum().astype(int).astype(str)
    table["fits with divergences"] = grouped["divergences"].agg(
        lambda d: int((d > 0).sum())).astype(str)
    for col, how in HEALTH.items():
        table[f"{col} mean"] = grouped[col].mean()
        table[f"{col} worst ({how})"] = grouped[col].agg(how)
    return table.T.rename_axis("measure")


def perfit_table(fits: pd.DataFrame, n_events: pd.Series) -> pd.DataFrame:
    """One row per data set and method."""
    cols = {"method": "method", "events": "events", "cate_logit_corr": "correlation",
            "cate_logit_rmse": "rmse", "cate_logit_mae": "mae", "cate_logit_bias": "bias",
            "cate_logit_cover": "coverage", "divergences": "divergences",
            "max_r_hat": "max_r_hat", "min_ess_bulk": "min_ess_bulk",
            "min_ess_tail": "min_ess_tail", "ess_per_s": "ess_per_s", "wall_s": "wall_s"}
    fits = fits.join(n_events, on=["scenario", "replicate"])
    table = fits.set_index("replicate")[list(cols)].rename(columns=cols)
    return table.astype({"divergences": int, "events": int}).astype(
        {"divergences": str, "events": str})


def _settings(out: Path) -> str:
    """The sampler settings of the spec's methods, in words."""
    spec = _spec(out)
    combos = []
    for table in spec["methods"].values():
        text = (f"{table.get('chains', 4)} chains x {table.get('draws', 1000)} draws "
                f"({table.get('tune', 1000)} tuning), sampler "
                f"{table.get('sampler') or bh.inference.default_sampler()}, target_accept "
                f"{table.get('target_accept', 0.9)}")
        if text not in combos:
            combos.append(text)
    n = spec.get("data", {}).get("params", {}).get("n", 2000)
    return f"n = {n}, " + "; ".join(combos)


def blocks(out: Path, *, store: Path | None = None, command: str = COMMAND
           ) -> dict[str, str]:
    """The markdown of each docs block: marker name -> text."""
    est = estimates(out, store)
    methods = _methods(est)
    ok = est[est["error"] == ""]
    fits = per_fit(est)
    reps = ok["replicate"].nunique()
    failed = est[est["error"] != ""].groupby("method")["replicate"].nunique()
    fit_minutes = ok.groupby(["scenario", "replicate", "method"])["seconds"].first().sum() / 60
    head = (f"{reps} data sets (replicates of `models/studies/tzimas2024_coverage.toml`), "
            f"{_settings(out)}; {fit_minutes:.0f} min of fitting"
            + (f"; failed fits: {failed.to_dict()}" if len(failed) else "")
            + f". Made by `{command}`.\n\n")
    return {
        "tzimas-metrics": head + "Mean (Monte Carlo SE) over the data sets of each "
        "metric of the posterior-mean CATE against the patients' true effects; log-odds "
        "scale unless `rd_` (risk difference); `coverage`: share of patients whose 95 % "
        "interval holds their true effect.\n\n" + fmt_table(metrics_table(est)),
        "tzimas-population": head + "Bias and coverage of the 95 % credible interval of "
        "the population estimands (Monte Carlo SE); `truth`: the exact value "
        "(`bayes_hte.studies.simulators`, `tzimas2024`).\n\n"
        + fmt_table(population_table(est)),
        "tzimas-sampling": head + "Mean and worst value over the data sets of each fit's "
        "worst parameter (`max_r_hat`: largest rank-normalised R-hat; `min_ess_*`: "
        "smallest bulk/tail ESS; `wall_s`: the method's wall time — compilation, tuning, "
        "sampling and the CATEs; `ess_per_s`: smallest bulk ESS per second of it; "
        "`geweke_over_2`: share of |z| > 2 over parameters x chains).\n\n"
        + fmt_table(sampling_table(fits, methods), 3),
        "tzimas-perfit": fmt_table(perfit_table(fits, events(out, est))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT,
                    help="the study's output folder ([output] dir of the spec)")
    ap.add_argument("--store", type=Path, default=None,
                    help="root of the store when not <out>/store")
    ap.add_argument("--doc", type=Path, default=DOCS / "subgroup.md",
                    help="the page whose blocks are written")
    ap.add_argument("--command", default=COMMAND,
                    help="the commands that made the store and the tables, quoted in the docs")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    for name, text in blocks(args.out, store=args.store, command=args.command).items():
        print(f"<!-- {name} -->\n{text}\n")
        if args.write_docs:
            write_block(name, text, doc=args.doc)


if __name__ == "__main__":
    main()
