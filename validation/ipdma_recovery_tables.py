"""The parameter-recovery pages of docs/ from the stored results of their study.

The study is ``models/studies/ipdma_recovery.toml`` (``bayes-hte study``; it replaced
``validation/ipdma_recovery.py``); this script only reads its stored estimates
(``<out>/store/main``, :func:`bayes_hte.studies.load`) and writes one page per outcome,
docs/validation_ipdma_recovery_binary.md and
docs/validation_ipdma_recovery_time_to_event.md, with the tables the script wrote:

* *Overall* — per model: ``coverage_all``, the share of the 95% intervals of the 7
  S-learner coefficients (gamma, eta[x], theta[x]) over all replicates that hold the
  truth, ``intervals`` (their number), and the mean and the smallest over replicates
  of the correlation of the posterior-mean ITE with the true average-trial ITE;
* *Per parameter* — per model and coefficient with a truth (also tau_alpha and the
  Weibull shape, which the script did not check): ``coverage``, ``mean_estimate``
  (``bh.studies.performance``'s ``cover`` and ``thetamean``) and ``truth``;
* *Sampling* (new) — per model: fits with divergent transitions, the largest R-hat
  and the smallest bulk ESS over the replicates, failed replicates.

    bayes-hte study models/studies/ipdma_recovery.toml --workers 2
    python validation/ipdma_recovery_tables.py [--out results/studies/ipdma_recovery] \
        [--write-docs]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.report import markdown_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Posterior variables whose elements ``coverage_all`` pools (the script's 7 checks).
COEFFICIENTS = ("gamma", "eta", "theta")
COMMAND = "bayes-hte study models/studies/ipdma_recovery.toml --workers 2"
SCRIPT = "python validation/ipdma_recovery_tables.py --write-docs"


def _is_coefficient(estimand: pd.Series) -> pd.Series:
    base = estimand.str.replace(r"\[.*\]$", "", regex=True)
    return base.isin(COEFFICIENTS)


def tables(est: pd.DataFrame, outcome: str) -> dict[str, pd.DataFrame]:
    """The Overall, Per parameter and Sampling tables of one outcome.

    ``est`` is a study's estimates table (columns ``outcome``, ``replicate``,
    ``method``, ``estimand``, ``truth``, ``estimate``, ``ci_low``, ``ci_high``,
    ``error``); rows with an error or a non-finite estimate are left out.
    """
    rows = est[est["outcome"] == outcome]
    ok = rows[(rows["error"] == "") & np.isfinite(rows["estimate"])]
    with_truth = ok[np.isfinite(ok["truth"])]
    coefs = with_truth[_is_coefficient(with_truth["estimand"])]
    covered = (coefs["ci_low"] <= coefs["truth"]) & (coefs["truth"] <= coefs["ci_high"])
    overall = covered.groupby(coefs["method"]).agg(["mean", "size"]).rename(
        columns={"mean": "coverage_all", "size": "intervals"})
    corr = ok[ok["estimand"] == "ite_corr"].groupby("method")["estimate"].agg(
        ["mean", "min"]).rename(columns={"mean": "ite_corr_mean", "min": "ite_corr_min"})
    overall = overall.join(corr)
    overall.index.name = "model"

    perf = bh.studies.performance(with_truth, factors=["outcome"],
                                  measures=["thetamean", "cover"])
    wide = perf.pivot_table(index=["method", "estimand"], columns="measure",
                            values="value").reset_index()
    truth = with_truth.groupby(["method", "estimand"])["truth"].first().rename("truth")
    per = wide.join(truth, on=["method", "estimand"]).rename(
        columns={"method": "model", "estimand": "parameter", "cover": "coverage",
                 "thetamean": "mean_estimate"})
    per = per[["model", "parameter", "coverage", "mean_estimate", "truth"]].sort_values(
        ["model", "parameter"]).reset_index(drop=True)

    def health(name: str) -> pd.Series:
        return ok[ok["estimand"] == name].groupby("method")["estimate"]

    failed = rows[rows["error"] != ""].groupby("method")["replicate"].nunique()
    sampling = pd.DataFrame({
        "fits": ok.groupby("method")["replicate"].nunique(),
        "divergent_fits": health("divergences").apply(lambda v: int((v > 0).sum())),
        "max_r_hat": health("max_r_hat").max(),
        "min_ess_bulk": health("min_ess_bulk").min(),
    })
    sampling["failed"] = failed.reindex(sampling.index).fillna(0).astype(int)
    sampling.index.name = "model"
    return {"overall": overall, "per_parameter": per, "sampling": sampling}


def settings(spec: dict) -> str:
    """The fit settings of each method of a run's ``spec.json``, in words."""
    parts = []
    for label, opts in spec.get("methods", {}).items():
        sampler = opts.get("sampler") or "nutpie"
        parts.append(f"{label}: {opts.get('chains', 2)} chains x {opts.get('draws', 500)} "
                     f"draws after {opts.get('tune', 500)} tuning, {sampler}")
    return "; ".join(parts)


def page(est: pd.DataFrame, outcome: str, *, command: str, fits: str = "") -> str:
    """The whole docs page of one outcome (Markdown); ``fits`` describes the fits
    (:func:`settings`)."""
    tabs = tables(est, outcome)
    rows = est[(est["outcome"] == outcome) & (est["error"] == "")]
    n = rows["replicate"].nunique()
    reps = f"replicates 0..{n - 1}" if n else "no replicates"
    per_fit = rows.groupby(["method", "replicate"])["seconds"].first()
    cost = (f"{per_fit.mean():.0f} s per fit, {per_fit.sum():.0f} s in all"
            if len(per_fit) else "no fits")
    scale = (" (log-hazard scale: shape x the simulator's coefficients)"
             if outcome == "time_to_event" else "")
    mcse = np.sqrt(0.95 * 0.05 / n) if n else float("nan")
    return (
        f"# Parameter recovery, {outcome} outcome\n\n"
        f"Command: `{command}` then `{SCRIPT}` ({fits + '; ' if fits else ''}{cost}).\n\n"
        f"Data: Bouvier et al. (2024) design, 7 trials x 400 patients, 3 covariates, "
        f"{reps} of the study (seed 2024). Coverage = share of replicates whose 95% "
        f"interval holds the truth{scale}; its Monte Carlo SE near 0.95 is "
        f"{mcse:.3f}.\n\n"
        "## Overall\n\n" + markdown_table(tabs["overall"]) + "\n\n"
        "## Per parameter\n\n" + markdown_table(tabs["per_parameter"], index=False)
        + "\n\n## Sampling\n\n" + markdown_table(tabs["sampling"]) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results/studies/ipdma_recovery",
                    help="the study's output folder ([output] dir of the spec)")
    ap.add_argument("--command", default=COMMAND,
                    help="the command that made the store, quoted in the pages")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    est = bh.studies.load(args.out / "store" / "main").estimates
    spec_file = args.out / "spec.json"
    fits = settings(json.loads(spec_file.read_text())) if spec_file.exists() else ""
    for outcome in pd.unique(est["outcome"]):
        text = page(est, outcome, command=args.command, fits=fits)
        print(text)
        if args.write_docs:
            path = DOCS / f"validation_ipdma_recovery_{outcome}.md"
            path.write_text(text)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
