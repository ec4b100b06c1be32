"""docs/evaluation.md's Bouvier et al. (2024) Monte Carlo table, from the study's store.

The study is ``models/studies/bouvier2024_iecv.toml`` (``bayes-hte study``); this script
only reads its stored estimates and writes the table between the
``bouvier2024-simulation`` markers of docs/evaluation.md. Means over replicates with
their Monte Carlo SEs are ``bh.studies.performance(..., measures=["thetamean"])``; the
paired differences to NA-S are per-replicate differences (the models of a replicate
share its data), their MCSE SD / sqrt(n) (Morris, White & Crowther 2019, section 5.2).

    bayes-hte study models/studies/bouvier2024_iecv.toml --workers 2
    python validation/bouvier2024_tables.py [--out results/studies/bouvier2024_iecv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))
from _docs import DOCS, write_block  # noqa: E402

#: Paper scenario of each number of covariates (Bouvier et al. 2024, Figures 1-2).
SCENARIOS = {3: 7, 9: 10}
MODELS = [f"{a}-{lr}" for a in ("NA", "RI", "SI", "R1", "FS") for lr in ("S", "T")]
METRICS = (("c_for_benefit", 1, 3), ("calibration_intercept", 1, 3),
           ("calibration_slope", 1, 3), ("mse", 1000, 3))
REFERENCE = "NA-S"


def _cell(value: float, mcse: float, *, digits: int, sign: bool = False) -> str:
    fmt = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{fmt.format(value)} ({mcse:.{digits}f})"


def paired_differences(est: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Mean and MCSE over replicates of each model's metric minus ``reference``'s."""
    ok = est[est["error"] == ""]
    wide = ok.pivot_table(index=["covariates", "replicate", "estimand"], columns="method",
                          values="estimate")
    diff = wide.sub(wide[reference], axis=0).stack().rename("diff").reset_index()
    g = diff.groupby(["covariates", "method", "estimand"])["diff"]
    return pd.DataFrame({"mean": g.mean(), "mcse": g.std(ddof=1) / np.sqrt(g.count()),
                         "n": g.count()}).reset_index()


def markdown(est: pd.DataFrame, *, command: str) -> str:
    """The docs block: one table per scenario."""
    perf = bh.studies.performance(est, measures=["thetamean", "cover"])
    perf = perf.set_index(["covariates", "method", "estimand", "measure"])
    diffs = paired_differences(est).set_index(["covariates", "method", "estimand"])
    ok = est[est["error"] == ""]
    lines = []
    for ncov, number in SCENARIOS.items():
        if ncov not in perf.index.get_level_values("covariates"):
            continue
        reps = ok[ok["covariates"] == ncov]["replicate"].nunique()
        lines += [
            f"**Scenario {number}** ({ncov} covariates, 7 trials x 400, varying predictor "
            f"effects; {reps} replicates; mean (Monte Carlo SE))", "",
            "| model | c-for-benefit | calibration intercept | calibration slope | "
            "MSE x 1000 | c-for-benefit − NA-S | MSE x 1000 − NA-S | coverage of the "
            "held-out ATE: CrI / PI (%) | divergent fits | failed |",
            "|---|---|---|---|---|---|---|---|---|---|"]
        for m in MODELS:
            cells = []
            for metric, scale, digits in METRICS:
                key = (ncov, m, metric, "thetamean")
                if key not in perf.index:
                    cells.append("")
                    continue
                r = perf.loc[key]
                cells.append(_cell(r["value"] * scale, r["mcse"] * scale, digits=digits))
            for metric, scale, digits in (("c_for_benefit", 1, 4), ("mse", 1000, 4)):
                key = (ncov, m, metric)
                cells.append("" if m == REFERENCE or key not in diffs.index else _cell(
                    diffs.loc[key, "mean"] * scale, diffs.loc[key, "mcse"] * scale,
                    digits=digits, sign=True))
            cover = [perf.loc[(ncov, m, e, "cover")] for e in ("ate_heldout", "ate_heldout_new")
                     if (ncov, m, e, "cover") in perf.index]
            cells.append(" / ".join(f"{100 * c['value']:.0f} ({100 * c['mcse']:.0f})"
                                    for c in cover))
            sub = ok[(ok["covariates"] == ncov) & (ok["method"] == m)
                     & (ok["estimand"] == "divergences")]
            cells.append(str(int((sub["estimate"] > 0).sum())))
            failed = est[(est["covariates"] == ncov) & (est["method"] == m)
                         & (est["error"] != "")]
            cells.append(str(failed["replicate"].nunique()))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"Made by `{command}`.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results/studies/bouvier2024_iecv",
                    help="the study's output folder ([output] dir of the spec)")
    ap.add_argument("--command", default="bayes-hte study "
                    "models/studies/bouvier2024_iecv.toml --workers 2",
                    help="the command that made the store, quoted in the docs")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    est = bh.studies.load(args.out / "store" / "main").estimates
    text = markdown(est, command=f"{args.command}; python validation/bouvier2024_tables.py "
                    "--write-docs")
    print(text)
    if args.write_docs:
        write_block("bouvier2024-simulation", text, doc=DOCS / "evaluation.md")


if __name__ == "__main__":
    main()
