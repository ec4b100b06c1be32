"""MAIC and STC on the demo data (docs/ipd_aggregate.md, "Frequentist comparators: MAIC and STC").

    python validation/maic_stc.py demo       # the demo data of models/ipdma_ipd_ad_demo.toml

``demo``: MAIC (means matched) and STC (all interactions) on the demo CSV files, in the
aggregate trials T5, T6 and the target, with the observed effects (risk differences).

The coverage over repeated data (300 replicates of one IPD trial carried to a target
population) is the study spec ``models/studies/maic_stc_coverage.toml``
(``bayes-hte study``; simulator ``bayes_hte.simulate.maic_stc``); its docs paragraph is
written from the stored results by ``python validation/study_tables.py maic_stc_coverage``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import bayes_hte as bh

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "data" / "ipd_ad_demo"


def demo() -> None:
    """Print the demo table."""
    ipd = bh.IPDData.from_frame(pd.read_csv(DEMO / "ipd.csv"), outcome="y", treatment="treat",
                                study="trial", covariates=["x1", "x2", "x3"])
    agg = pd.read_csv(DEMO / "aggregate.csv")
    arms = bh.ArmTable.from_events(agg, events1="events1", total1="total1",
                                   events0="events0", total0="total0", study="study")
    covs = bh.CovariateSummary.from_frame(pd.read_csv(DEMO / "aggregate_covariates.csv"))
    target = bh.CovariateSummary.from_frame(pd.read_csv(DEMO / "target.csv"))
    fmt = "{:.3f} [{:.3f}, {:.3f}]"
    for label in ("T5", "T6", "target"):
        args = (None, target) if label == "target" else (arms, covs)
        kw = {} if label == "target" else {"trial": label}
        m = bh.comparators.maic(ipd, *args, **kw)
        s = bh.comparators.stc(ipd, *args, **kw)
        obs = "—" if m.observed is None else fmt.format(
            m.observed["estimate"], m.observed["ci_low"], m.observed["ci_high"])
        print(f"{label}: MAIC {fmt.format(m.estimate, m.ci_low, m.ci_high)} (ESS {m.ess:.0f}); "
              f"STC {fmt.format(s.estimate, s.ci_low, s.ci_high)}; plug-in "
              f"{s.conditional['estimate']:.3f}; observed {obs}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["demo"])
    {"demo": demo}[parser.parse_args().what]()
