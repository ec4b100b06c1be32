"""One- vs two-step GMM in CIMA-AgD when the CATE is linear and the tilting exact.

Four trials with normal x1 and Bernoulli x2 (exact exponential tilts of the target's
distribution), a continuous outcome with CATE 0.5 + 0.3 x1 - 0.4 x2, n = 20,000 per
trial; reported: difference-in-means effects overall, by x2 (0/1) and by x1 (<=0, >0).
Compares the default one-step estimator with ``steps=2`` when each trial reports one
partition only (non-redundant moments) and when it reports the overall effect and two
complete partitions (the usual trial report, nearly singular moment covariance).

Run (writes the table into docs/cima.md between the ``cima-two-step`` markers)::

    nice -n 10 .venv/bin/python validation/cima_two_step.py --reps 40 --write-docs
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_hte.comparators.cima import cima
from bayes_hte.errors import DataWarning

THETA = np.array([0.5, 0.3, -0.4])
TRIALS = {"T1": (-0.8, 0.8, 0.2), "T2": (0.0, 1.2, 0.5), "T3": (0.7, 0.9, 0.7),
          "T4": (1.2, 1.0, 0.35)}


def simulate(rng, n_trial=20_000, n_target=5000):
    eff, cov = [], []
    for t, (m, s, p) in TRIALS.items():
        x1 = m + s * rng.standard_normal(n_trial)
        x2 = (rng.random(n_trial) < p).astype(float)
        a = rng.random(n_trial) < 0.5
        y = 1 + 0.5 * x1 + 0.3 * x2 + a * (THETA[0] + THETA[1] * x1 + THETA[2] * x2) \
            + rng.standard_normal(n_trial)
        for sg, st, mask in [("overall", None, np.ones(n_trial, bool)), ("x2", 1, x2 == 1),
                             ("x2", 0, x2 == 0), ("x1", "<=0", x1 <= 0), ("x1", ">0", x1 > 0)]:
            yt, yc = y[mask & a], y[mask & ~a]
            eff.append(dict(trial=t, subgroup=sg, stratum=st, estimate=yt.mean() - yc.mean(),
                            se=np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)),
                            n=int(mask.sum()), prop=mask.mean()))
        cov += [dict(trial=t, covariate="x1", mean=x1.mean(), sd=x1.std(ddof=1)),
                dict(trial=t, covariate="x2", mean=x2.mean(), sd=np.nan)]
    target = pd.DataFrame({"x1": 0.3 + 1.1 * rng.standard_normal(n_target),
                           "x2": (rng.random(n_target) < 0.45).astype(float)})
    truth = float(np.mean(THETA[0] + THETA[1] * target["x1"] + THETA[2] * target["x2"]))
    return pd.DataFrame(eff), pd.DataFrame(cov), target, truth


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    res: dict = {}
    for _ in range(args.reps):
        eff, cov, target, truth = simulate(rng)
        for name, e in [("x1 strata only", eff[eff["subgroup"] == "x1"]),
                        ("overall + x1 and x2 strata", eff)]:
            for steps in (1, 2):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DataWarning)
                    f = cima(e, cov, target, cate="~ x1 + x2", steps=steps)
                res.setdefault((name, steps), []).append(
                    (f.ate.estimate - truth, f.ate.se, f.ate.ci[0] <= truth <= f.ate.ci[1]))
    lines = [f"Reproduce: `nice -n 10 .venv/bin/python validation/cima_two_step.py --reps "
             f"{args.reps} --write-docs` ({time.perf_counter() - t0:.0f} s).", "",
             "| reported effects | GMM steps | bias | empirical SD | mean SE | coverage |",
             "|---|---|---|---|---|---|"]
    for (name, steps), v in res.items():
        v = np.array(v, dtype=float)
        lines.append(f"| {name} | {steps} | {v[:, 0].mean():.4f} | {v[:, 0].std(ddof=1):.4f} "
                     f"| {v[:, 1].mean():.4f} | {v[:, 2].mean():.2f} |")
    md = "\n".join(lines)
    print(md)
    if args.write_docs:
        doc = Path(__file__).resolve().parents[1] / "docs" / "cima.md"
        text = doc.read_text()
        pat = re.compile(r"(<!-- cima-two-step:start -->\n).*?(\n?<!-- cima-two-step:end -->)",
                         re.S)
        if not pat.search(text):
            raise SystemExit("docs/cima.md has no cima-two-step markers")
        doc.write_text(pat.sub(lambda m: m.group(1) + md + "\n" + m.group(2).lstrip("\n"),
                               text))
        print(f"wrote the table into {doc}")


if __name__ == "__main__":
    main()
