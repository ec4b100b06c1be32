"""MAIC and STC measured (docs/ipd_aggregate.md, "Frequentist comparators: MAIC and STC").

    python validation/maic_stc.py demo       # the demo data of models/ipdma_ipd_ad_demo.toml
    python validation/maic_stc.py coverage   # 300 replicates: bias, SEs, coverage

``demo``: MAIC (means matched) and STC (all interactions) on the demo CSV files, in the
aggregate trials T5, T6 and the target, with the observed effects (risk differences).

``coverage``: one IPD trial of 400 patients, x1 ~ N(0, 1), x2 ~ Bernoulli(0.4), 1:1
treatment, logit P(y) = -1 + 0.8 x1 + 0.5 x2 + z (-0.5 + 0.6 x1 - 0.4 x2); the target
x1 ~ N(0.4, 0.9^2), x2 ~ Bernoulli(0.6) (independent), its true marginal RD and log OR a
Monte Carlo integral of 2e6 draws. Seed 0.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

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


def _linear(x1, x2, z):
    return -1 + 0.8 * x1 + 0.5 * x2 + z * (-0.5 + 0.6 * x1 - 0.4 * x2)


def coverage(replicates: int = 300) -> None:
    """Print bias (MCSE), empirical SE, mean model SE and coverage."""
    rng = np.random.default_rng(0)
    x1 = rng.normal(0.4, 0.9, 2_000_000)
    x2 = rng.binomial(1, 0.6, x1.size)
    p1, p0 = expit(_linear(x1, x2, 1)).mean(), expit(_linear(x1, x2, 0)).mean()
    truth = {"RD": p1 - p0, "OR": np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))}
    target = bh.CovariateSummary.from_frame(pd.DataFrame(
        {"covariate": ["x1", "x2"], "mean": [0.4, 0.6], "sd": [0.9, np.nan]}))
    out: dict[str, list] = {}
    t0 = time.perf_counter()
    for _ in range(replicates):
        n = 400
        a, b, z = rng.normal(size=n), rng.binomial(1, 0.4, n), rng.integers(0, 2, n)
        y = rng.binomial(1, expit(_linear(a, b, z)))
        ipd = bh.IPDData.from_frame(pd.DataFrame({"x1": a, "x2": b, "z": z, "y": y}),
                                    outcome="y", treatment="z", covariates=["x1", "x2"])
        for measure in ("RD", "OR"):
            for name, fit in (("MAIC", bh.comparators.maic(ipd, None, target, measure=measure)),
                              ("STC", bh.comparators.stc(ipd, None, target, measure=measure,
                                                         n_points=1024))):
                est = fit.estimate if measure == "RD" else np.log(fit.estimate)
                out.setdefault(f"{name} {measure}", []).append((est, fit.log_se))
    print(f"truth {truth}; {time.perf_counter() - t0:.0f} s")
    for key, rows in out.items():
        v = np.array(rows)
        t = truth[key.split()[1]]
        cover = np.mean(np.abs(v[:, 0] - t) < 1.959964 * v[:, 1])
        print(f"{key}: bias {v[:, 0].mean() - t:.4f} (MCSE {v[:, 0].std() / np.sqrt(len(v)):.4f})"
              f", empirical SE {v[:, 0].std(ddof=1):.4f}, mean SE {v[:, 1].mean():.4f}, "
              f"coverage {cover:.3f} (MCSE {np.sqrt(cover * (1 - cover) / len(v)):.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["demo", "coverage"])
    {"demo": demo, "coverage": coverage}[parser.parse_args().what]()
