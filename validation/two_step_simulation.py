"""Reduced-size reproduction of Tables 1-3 of the two-step IPD-MA paper.

Source: ``seeds/two_step_mvma_longitudinal.txt``, "Simulation studies" (10,000 replicates
per scenario there; ``--reps`` here).

* **Simulation 1** (Table 1): no heterogeneity, N = 5, 10, 15, 20 trials. One-step:
  the correctly specified mixed model fitted to all trials' IPD at once (common
  coefficients, common random-intercept and residual variances; REML;
  ``bh.comparators.mixed_model(data)``). Two-step: per-trial REML mixed models, then the
  fixed-effect multivariate meta-analysis of the 10 coefficients
  (``per_trial_mixed_models(...).mvmeta(method="FE")``).
* **Simulation 2** (Tables 2 and 3): coefficients :math:`N(\\mu_k, \\tau^2)`, trial-specific
  random-intercept SDs :math:`U(2.5, 9)`, N = 5, 10, 15, :math:`\\tau^2` = 0.1, 0.2;
  (a) all trials measure three visits, (b) 40% of trials measure visits 1 and 2 only
  (their visit-3 coefficients are missing components in step 2). Two-step: per-trial
  REML, then REML multivariate meta-analysis with a compound-symmetric Omega.

For the paper's coefficients mu2, mu4, mu5, mu7, mu9, mu10 (treat, visit[3], z,
treat:visit[3], visit[3]:z, treat:z) it reports the mean of the estimates, their
empirical SE, the mean estimated SE, the coverage of the 95% Wald CI and the power
(rejection of mu = 0 at 5%); the paper's value follows in parentheses. The covariate z is
unspecified in the paper: ``bayes_hte.simulate.two_step`` draws it N(19.3, 6.3^2),
calibrated to Table 1 (see that module), so SEs are comparable to the paper's but not
identical.

Run (writes the tables into docs/multivariate.md between the ``two-step-simulation``
markers)::

    nice -n 10 .venv/bin/python validation/two_step_simulation.py --reps 1000 --workers 2 \\
        --write-docs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.comparators.mixed import mixed_model, per_trial_mixed_models
from bayes_hte.simulate.two_step import COEF_NAMES, MU, two_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import DOCS, report  # noqa: E402

DOC = DOCS / "multivariate.md"
SHOW = {"treat": "mu2", "visit[3]": "mu4", "z": "mu5", "treat:visit[3]": "mu7",
        "visit[3]:z": "mu9", "treat:z": "mu10"}
STATS = ("Mean", "SE", "estSE", "Coverage", "Power")

# The paper's tables (two-step columns; Table 1 also one-step): {coef: {stat: values}},
# one value per column: Table 1, N = 5, 10, 15, 20; Tables 2 and 3, SIM2_COLUMNS.
# (Table 2's N = 5 columns repeat its N = 10 columns: the JSON's "note".)
_PAPER = json.loads((Path(__file__).resolve().parent / "two_step_paper_tables.json")
                    .read_text())
PAPER1_TWO, PAPER1_ONE = _PAPER["table1"]["two_step"], _PAPER["table1"]["one_step"]
PAPER2, PAPER3 = _PAPER["table2"]["two_step"], _PAPER["table3"]["two_step"]
SIM2_COLUMNS = [(5, 0.1), (5, 0.2), (10, 0.1), (10, 0.2), (15, 0.1), (15, 0.2)]


# --------------------------------------------------------------------------- replicates
def _data(sim):
    return bh.LongitudinalData.from_frame(sim.data, **sim.columns)


def rep_simulation1(args: tuple[int, int]) -> np.ndarray:
    """(4, 10): one-step estimate, SE; two-step estimate, SE."""
    n_trials, seed = args
    data = _data(two_step(design="simulation1", trials=n_trials, seed=seed))
    one = mixed_model(data)
    two = per_trial_mixed_models(data).mvmeta(method="FE")
    return np.stack([one.estimate, one.se, two.estimate, two.se])


def rep_simulation2(args: tuple[int, float, float, int]) -> np.ndarray:
    """(3, 10): two-step estimate, SE, converged flag."""
    n_trials, tau2, frac, seed = args
    data = _data(two_step(design="simulation2", trials=n_trials, tau2=tau2,
                          missing_visit_fraction=frac, seed=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = per_trial_mixed_models(data).mvmeta(method="REML", structure="compound_symmetry")
    return np.stack([res.estimate, res.se, np.full(10, float(res.converged))])


def _run(fn, tasks, workers):
    if workers <= 1:
        return np.stack([fn(t) for t in tasks])
    with ProcessPoolExecutor(max_workers=workers) as ex:
        return np.stack(list(ex.map(fn, tasks, chunksize=8)))


# --------------------------------------------------------------------------- summaries
def summarise(est: np.ndarray, se: np.ndarray) -> pd.DataFrame:
    """Rows: coefficients; columns: Mean, SE, estSE, Coverage, Power, mc_cov."""
    mu = np.asarray(MU)
    cover = np.abs(est - mu) <= 1.959964 * se
    power = np.abs(est / se) > 1.959964
    cov = cover.mean(axis=0)
    return pd.DataFrame({"Mean": est.mean(axis=0), "SE": est.std(axis=0, ddof=1),
                         "estSE": se.mean(axis=0), "Coverage": cov,
                         "Power": power.mean(axis=0),
                         "mc_cov": np.sqrt(cov * (1 - cov) / est.shape[0])},
                        index=list(COEF_NAMES))


def _fmt(v: float, stat: str) -> str:
    return f"{v:.3f}"


def table_markdown(columns: list[str], ours: list[pd.DataFrame], paper: list[dict]) -> str:
    """Paper-style table: coefficient x statistic rows; 'ours (paper)' cells."""
    head = "| coefficient | statistic | " + " | ".join(columns) + " |"
    sep = "|---|---|" + "---|" * len(columns)
    lines = [head, sep]
    for coef, lab in SHOW.items():
        for stat in STATS:
            cells = []
            for df, pap in zip(ours, paper, strict=True):
                cells.append(f"{_fmt(df.loc[coef, stat], stat)} ({pap[lab][stat]:.3f})")
            name = f"{lab} = {MU[COEF_NAMES.index(coef)]:g} ({coef})" if stat == "Mean" else ""
            lines.append(f"| {name} | {stat} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def frame_markdown(df: pd.DataFrame) -> str:
    """A small DataFrame as a markdown table (3 decimals), without extra dependencies."""
    head = "| " + " | ".join([str(df.index.name or "")] + [str(c) for c in df.columns]) + " |"
    lines = [head, "|" + "---|" * (df.shape[1] + 1)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [f"{v:.3f}" for v in row]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    R = args.reps
    start = time.perf_counter()
    blocks = []

    # ------------------------------------------------------------------ Simulation 1
    ours_one, ours_two, pap_one, pap_two, cols, equiv = [], [], [], [], [], []
    for k, n in enumerate((5, 10, 15, 20)):
        tasks = [(n, args.seed + 100_000 * k + r) for r in range(R)]
        out = _run(rep_simulation1, tasks, args.workers)
        s_one = summarise(out[:, 0], out[:, 1])
        s_two = summarise(out[:, 2], out[:, 3])
        ours_one.append(s_one)
        ours_two.append(s_two)
        pap_one.append({c: {s: v[k] for s, v in d.items()} for c, d in PAPER1_ONE.items()})
        pap_two.append({c: {s: v[k] for s, v in d.items()} for c, d in PAPER1_TWO.items()})
        cols += [f"N={n} one-step", f"N={n} two-step"]
        diff = out[:, 2] - out[:, 0]
        equiv.append({"N": n,
                      "max |mean(two - one)| / MC SE of mean":
                          float(np.max(np.abs(diff.mean(0)) /
                                       (out[:, 0].std(0, ddof=1) / np.sqrt(R)))),
                      "max SD(two - one) / SE(one)":
                          float(np.max(diff.std(0, ddof=1) / out[:, 0].std(0, ddof=1))),
                      "min corr(one, two)":
                          float(min(np.corrcoef(out[:, 0, j], out[:, 2, j])[0, 1]
                                    for j in range(10))),
                      "max |estSE two / estSE one - 1|":
                          float(np.max(np.abs(out[:, 3].mean(0) / out[:, 1].mean(0) - 1)))})
        print(f"simulation 1, N={n}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    interleaved_ours = [x for pair in zip(ours_one, ours_two, strict=True) for x in pair]
    interleaved_pap = [x for pair in zip(pap_one, pap_two, strict=True) for x in pair]
    t1 = table_markdown(cols, interleaved_ours, interleaved_pap)
    eq = pd.DataFrame(equiv).set_index("N")
    cov_all = pd.concat([d["Coverage"] for d in ours_one + ours_two])
    blocks.append(
        f"**Table 1 (Simulation 1, no heterogeneity), {R} replicates per N** -- ours "
        "(paper, 10,000 replicates):\n\n" + t1 + "\n\n"
        "One-step versus two-step, replicate by replicate (all 10 coefficients):\n\n"
        + frame_markdown(eq) + "\n\n"
        f"Coverage over all 10 coefficients x 4 N x 2 methods: {cov_all.min():.3f} to "
        f"{cov_all.max():.3f} (Monte Carlo SE {np.sqrt(0.95 * 0.05 / R):.3f}).")

    # ------------------------------------------------------------------ Simulation 2
    for label, frac, paper in (("2 (Simulation 2(a), all three visits)", 0.0, PAPER2),
                               ("3 (Simulation 2(b), 40% of trials measure two visits)",
                                0.4, PAPER3)):
        ours, paps, cols, nonconv = [], [], [], 0
        for k, (n, tau2) in enumerate(SIM2_COLUMNS):
            tasks = [(n, tau2, frac, args.seed + 1_000_000 * (1 + int(frac * 10)) +
                      100_000 * k + r) for r in range(R)]
            out = _run(rep_simulation2, tasks, args.workers)
            ok = out[:, 2, 0] == 1.0
            nonconv += int((~ok).sum())
            ours.append(summarise(out[:, 0], out[:, 1]))
            paps.append({c: {s: v[k] for s, v in d.items()} for c, d in paper.items()})
            cols.append(f"N={n}, tau2={tau2}")
            print(f"simulation 2 frac={frac}, N={n}, tau2={tau2}: done "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        cov = pd.concat([d["Coverage"] for d in ours])
        cov_show = pd.concat([d.loc[list(SHOW), "Coverage"] for d in ours])
        blocks.append(
            f"**Table {label}, two-step REML with compound-symmetric Omega, {R} "
            "replicates per column** -- ours (paper):\n\n"
            + table_markdown(cols, ours, paps) + "\n\n"
            f"Coverage, the six coefficients shown: {cov_show.min():.3f} to "
            f"{cov_show.max():.3f}, mean {cov_show.mean():.3f}; all 10 coefficients: "
            f"{cov.min():.3f} to {cov.max():.3f}, mean {cov.mean():.3f} (Monte Carlo SE "
            f"{np.sqrt(0.95 * 0.05 / R):.3f}); optimiser non-convergence: {nonconv} of "
            f"{R * len(SIM2_COLUMNS)} fits.")

    elapsed = time.perf_counter() - start
    text = (f"Command: `nice -n 10 .venv/bin/python validation/two_step_simulation.py "
            f"--reps {R} --workers {args.workers} --write-docs` ({elapsed / 60:.0f} min on "
            "2 shared cores).\n\n" + "\n\n".join(blocks))
    report("two-step-simulation", text, doc=DOC, write=args.write_docs)


if __name__ == "__main__":
    main()
