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
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bayes_hte.comparators.cima import cima
from bayes_hte.errors import DataWarning

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "validation"), str(ROOT)]
from _docs import DOCS, report  # noqa: E402

# the data generator of tests/comparators/test_cima.py's recovery tests
from tests._helpers import linear_cate_trials  # noqa: E402


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
        eff, cov, target, truth = linear_cate_trials(rng, n_trial=20_000)
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
    report("cima-two-step", "\n".join(lines), doc=DOCS / "cima.md", write=args.write_docs)


if __name__ == "__main__":
    main()
