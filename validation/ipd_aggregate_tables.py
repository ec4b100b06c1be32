"""docs/ipd_aggregate.md's simulation tables, from the store of the study spec.

The study is ``models/studies/ipd_aggregate_target.toml`` (``bayes-hte study``); this
script reads its stored estimates (the Bayesian fits in ``store/main``, MAIC and STC in
their own sub-stores) and writes the tables between the ``ipd-aggregate-simulation``
markers of docs/ipd_aggregate.md:

1. the target-population risk difference: bias, empirical and model SE, coverage, each
   with its Monte Carlo SE (``bh.studies.performance``), for every method;
2. per coefficient, replicate by replicate: the IPD + AgD posterior mean minus the
   all-IPD one in all-IPD posterior SDs (mean of its absolute value, share of replicates
   within 0.5 SD) and the ratio of the IPD + AgD posterior SD to the IPD-only one (mean,
   share below 1), with the coverage of the three Bayesian fits.

    bayes-hte study models/studies/ipd_aggregate_target.toml --workers 2
    python validation/ipd_aggregate_tables.py --write-docs
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

BAYES = ("IPD-AgD", "IPD-only", "all-IPD")
METHODS = (*BAYES, "MAIC", "STC")
PARAMETERS = ("alpha", "theta[x1]", "theta[x2]", "theta[x3]", "gamma", "eta[x1]", "eta[x2]",
              "eta[x3]", "tau_alpha")


def load_estimates(out: Path) -> pd.DataFrame:
    """Every sub-store's estimates, one table."""
    parts = [bh.studies.load(p).estimates for p in sorted((out / "store").iterdir())
             if (p / "study.json").exists()]
    return pd.concat(parts, ignore_index=True)


def _pm(value: float, mcse: float, digits: int = 4) -> str:
    return f"{value:.{digits}f} ({mcse:.{digits}f})"


def rd_table(est: pd.DataFrame) -> str:
    perf = bh.studies.performance(est[est["estimand"] == "RD"],
                                  measures=["bias", "empse", "modelse", "cover"])
    perf = perf.set_index(["method", "measure"])
    truth = est.loc[est["estimand"] == "RD", "truth"].iloc[0]
    lines = [f"Target-population risk difference (truth {truth:.4f}); value (Monte Carlo SE):",
             "", "| method | replicates | bias | empirical SE | model SE | coverage of 95% "
             "interval (%) |", "|---|--:|--:|--:|--:|--:|"]
    for m in METHODS:
        if (m, "bias") not in perf.index:
            continue
        cov = perf.loc[(m, "cover")]
        lines.append(
            f"| {m} | {int(perf.loc[(m, 'bias'), 'n_ok'])} | "
            f"{_pm(perf.loc[(m, 'bias'), 'value'], perf.loc[(m, 'bias'), 'mcse'])} | "
            f"{_pm(perf.loc[(m, 'empse'), 'value'], perf.loc[(m, 'empse'), 'mcse'])} | "
            f"{_pm(perf.loc[(m, 'modelse'), 'value'], perf.loc[(m, 'modelse'), 'mcse'])} | "
            f"{100 * cov['value']:.1f} ({100 * cov['mcse']:.1f}) |")
    return "\n".join(lines)


def parameter_table(est: pd.DataFrame) -> str:
    ok = est[(est["error"] == "") & est["method"].isin(BAYES)]
    mean = ok.pivot_table(index=["replicate", "estimand"], columns="method", values="estimate")
    sd = ok.pivot_table(index=["replicate", "estimand"], columns="method", values="se")
    z = ((mean["IPD-AgD"] - mean["all-IPD"]) / sd["all-IPD"]).rename("z")
    z_only = ((mean["IPD-only"] - mean["all-IPD"]) / sd["all-IPD"]).rename("z_only")
    ratio = (sd["IPD-AgD"] / sd["IPD-only"]).rename("ratio")
    cover = bh.studies.performance(ok, measures=["cover"]).set_index(["method", "estimand"])
    lines = ["Coefficients (logit scale), replicate by replicate: d = (IPD + AgD posterior "
             "mean − all-IPD posterior mean) / all-IPD posterior SD (and the same for the IPD-only "
             "fit); r = IPD + AgD posterior SD / IPD-only posterior SD; mean (Monte Carlo SE) "
             "over replicates.", "",
             "| parameter | truth | mean \\|d\\| | share \\|d\\| ≤ 0.5 (%) | mean \\|d\\| of "
             "IPD only | mean r | share r < 1 (%) | coverage (%): IPD + AgD / IPD only / "
             "all IPD |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    truth = ok.groupby("estimand")["truth"].first()
    for p in PARAMETERS:
        if p not in z.index.get_level_values("estimand"):
            continue
        zp = z.xs(p, level="estimand").dropna().abs().to_numpy()
        zo = z_only.xs(p, level="estimand").dropna().abs().to_numpy()
        rp = ratio.xs(p, level="estimand").dropna().to_numpy()
        n = zp.size

        def share(hits: np.ndarray) -> str:
            q = hits.mean()
            return f"{100 * q:.0f} ({100 * np.sqrt(q * (1 - q) / hits.size):.0f})"

        covs = " / ".join(f"{100 * cover.loc[(m, p), 'value']:.0f}" for m in BAYES
                          if (m, p) in cover.index)
        lines.append(f"| {p} | {truth[p]:g} | {_pm(zp.mean(), zp.std(ddof=1) / np.sqrt(n), 2)} "
                     f"| {share(zp <= 0.5)} "
                     f"| {_pm(zo.mean(), zo.std(ddof=1) / np.sqrt(zo.size), 2)} "
                     f"| {_pm(rp.mean(), rp.std(ddof=1) / np.sqrt(n), 3)} "
                     f"| {share(rp < 1)} | {covs} |")
    return "\n".join(lines)


def cost_line(est: pd.DataFrame) -> str:
    sec = est.drop_duplicates(["replicate", "method"]).groupby("method")["seconds"].median()
    return ("Median wall seconds per fit (2 chains × 500 draws after 500 tuning steps, "
            "compilation included, on the shared 2-core machine): " + ", ".join(
                f"{m} {sec[m]:.1f}" if sec[m] >= 1 else f"{m} {sec[m]:.3f}"
                for m in METHODS if m in sec) + ".")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results/studies/ipd_aggregate_target")
    ap.add_argument("--command", default="bayes-hte study "
                    "models/studies/ipd_aggregate_target.toml --workers 2")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    est = load_estimates(args.out)
    failed = est[est["error"] != ""].drop_duplicates(["replicate", "method"])
    text = "\n\n".join([
        rd_table(est), parameter_table(est), cost_line(est),
        f"Failed fits: {len(failed)}. Made by `{args.command}; python "
        "validation/ipd_aggregate_tables.py --write-docs`."])
    print(text)
    if args.write_docs:
        write_block("ipd-aggregate-simulation", text, doc=DOCS / "ipd_aggregate.md")


if __name__ == "__main__":
    main()
