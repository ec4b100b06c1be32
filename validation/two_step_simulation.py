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
import re
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.comparators.mixed import mixed_model, per_trial_mixed_models
from bayes_hte.simulate.two_step import COEF_NAMES, MU, two_step

DOC = Path(__file__).resolve().parents[1] / "docs" / "multivariate.md"
SHOW = {"treat": "mu2", "visit[3]": "mu4", "z": "mu5", "treat:visit[3]": "mu7",
        "visit[3]:z": "mu9", "treat:z": "mu10"}
STATS = ("Mean", "SE", "estSE", "Coverage", "Power")

# The paper's tables (two-step columns; Table 1 also one-step): {coef: {stat: values}}
# Table 1 columns: N = 5, 10, 15, 20.
PAPER1_TWO = {
    "mu2": {"Mean": (.135, .146, .136, .130), "SE": (.867, .613, .496, .435),
            "estSE": (.866, .606, .494, .427), "Coverage": (.950, .947, .947, .948),
            "Power": (.053, .058, .059, .070)},
    "mu4": {"Mean": (.826, .836, .829, .824), "SE": (.416, .287, .236, .205),
            "estSE": (.410, .287, .234, .202), "Coverage": (.950, .951, .947, .941),
            "Power": (.533, .825, .937, .978)},
    "mu5": {"Mean": (-.461, -.460, -.460, -.461), "SE": (.032, .023, .018, .016),
            "estSE": (.032, .022, .018, .016), "Coverage": (.948, .947, .955, .949),
            "Power": (1.0, 1.0, 1.0, 1.0)},
    "mu7": {"Mean": (.139, .141, .143, .144), "SE": (.178, .122, .100, .088),
            "estSE": (.176, .123, .100, .087), "Coverage": (.947, .949, .949, .942),
            "Power": (.128, .215, .297, .381)},
    "mu9": {"Mean": (.050, .050, .050, .050), "SE": (.020, .014, .011, .010),
            "estSE": (.020, .014, .011, .010), "Coverage": (.947, .951, .952, .940),
            "Power": (.735, .947, .995, .999)},
    "mu10": {"Mean": (-.060, -.060, -.060, -.059), "SE": (.042, .030, .024, .021),
             "estSE": (.042, .029, .024, .021), "Coverage": (.949, .947, .950, .945),
             "Power": (.302, .543, .701, .811)},
}
PAPER1_ONE = {
    "mu2": {"Mean": (.135, .146, .135, .130), "SE": (.866, .612, .495, .434),
            "estSE": (.867, .608, .495, .428), "Coverage": (.949, .948, .949, .950),
            "Power": (.052, .056, .058, .071)},
    "mu4": {"Mean": (.827, .836, .828, .825), "SE": (.415, .287, .236, .206),
            "estSE": (.410, .287, .234, .202), "Coverage": (.950, .951, .948, .939),
            "Power": (.533, .825, .936, .978)},
    "mu5": {"Mean": (-.461, -.460, -.460, -.461), "SE": (.032, .023, .018, .016),
            "estSE": (.032, .022, .018, .016), "Coverage": (.949, .949, .953, .951),
            "Power": (1.0, 1.0, 1.0, 1.0)},
    "mu7": {"Mean": (.139, .141, .143, .144), "SE": (.178, .122, .100, .088),
            "estSE": (.176, .123, .100, .087), "Coverage": (.948, .949, .949, .940),
            "Power": (.127, .211, .295, .382)},
    "mu9": {"Mean": (.050, .050, .050, .050), "SE": (.020, .014, .011, .010),
            "estSE": (.020, .014, .011, .010), "Coverage": (.947, .951, .949, .941),
            "Power": (.734, .947, .995, .999)},
    "mu10": {"Mean": (-.060, -.060, -.060, -.059), "SE": (.042, .030, .024, .021),
             "estSE": (.042, .029, .024, .021), "Coverage": (.949, .948, .949, .946),
             "Power": (.301, .540, .700, .811)},
}
# Tables 2 and 3 columns: (N, tau2) = (5, .1), (5, .2), (10, .1), (10, .2), (15, .1), (15, .2).
# (Table 2's N = 5 columns repeat its N = 10 columns in the paper, apparently a
# typesetting error: mu5's SE 0.104 there is sqrt(0.1/10), not sqrt(0.1/5) = 0.141.)
PAPER2 = {
    "mu2": {"Mean": (.141, .144, .141, .144, .145, .143),
            "SE": (.694, .709, .694, .709, .564, .565),
            "estSE": (.680, .692, .680, .692, .553, .562),
            "Coverage": (.946, .947, .946, .947, .947, .950),
            "Power": (.061, .057, .061, .057, .059, .057)},
    "mu4": {"Mean": (.828, .831, .828, .831, .832, .833),
            "SE": (.306, .323, .306, .323, .252, .268),
            "estSE": (.307, .325, .307, .325, .251, .265),
            "Coverage": (.951, .950, .951, .950, .948, .947),
            "Power": (.773, .725, .773, .725, .912, .877)},
    "mu5": {"Mean": (-.459, -.458, -.459, -.458, -.461, -.460),
            "SE": (.104, .143, .104, .143, .084, .117),
            "estSE": (.103, .143, .103, .143, .084, .117),
            "Coverage": (.944, .947, .944, .947, .949, .949),
            "Power": (.992, .890, .992, .890, 1.0, .976)},
    "mu7": {"Mean": (.142, .141, .142, .141, .138, .140),
            "SE": (.163, .193, .163, .193, .134, .157),
            "estSE": (.163, .192, .163, .192, .133, .157),
            "Coverage": (.947, .948, .947, .948, .947, .951),
            "Power": (.140, .115, .140, .115, .181, .146)},
    "mu9": {"Mean": (.051, .050, .051, .050, .048, .050),
            "SE": (.101, .140, .101, .140, .082, .116),
            "estSE": (.100, .141, .100, .141, .082, .116),
            "Coverage": (.944, .945, .944, .945, .947, .947),
            "Power": (.091, .071, .091, .071, .091, .076)},
    "mu10": {"Mean": (-.061, -.058, -.061, -.058, -.060, -.061),
             "SE": (.106, .145, .106, .145, .087, .119),
             "estSE": (.105, .145, .105, .145, .086, .119),
             "Coverage": (.945, .944, .945, .944, .945, .947),
             "Power": (.096, .074, .096, .074, .110, .084)},
}
PAPER3 = {
    "mu2": {"Mean": (.140, .142, .144, .136, .136, .139),
            "SE": (1.026, 1.026, .693, .702, .483, .559),
            "estSE": (.989, 1.004, .681, .690, .475, .561),
            "Coverage": (.947, .950, .948, .946, .948, .953),
            "Power": (.057, .052, .058, .058, .061, .053)},
    "mu4": {"Mean": (.825, .822, .823, .828, .873, .836),
            "SE": (.546, .584, .377, .404, .283, .329),
            "estSE": (.537, .574, .376, .402, .257, .328),
            "Coverage": (.948, .950, .950, .947, .907, .947),
            "Power": (.347, .316, .591, .548, .892, .717)},
    "mu5": {"Mean": (-.459, -.459, -.460, -.459, -.460, -.461),
            "SE": (.147, .204, .103, .143, .073, .118),
            "estSE": (.143, .200, .102, .143, .073, .117),
            "Coverage": (.931, .932, .944, .944, .944, .945),
            "Power": (.874, .625, .994, .890, 1.0, .974)},
    "mu7": {"Mean": (.145, .145, .136, .135, .138, .141),
            "SE": (.295, .359, .207, .245, .147, .202),
            "estSE": (.291, .346, .206, .245, .145, .201),
            "Coverage": (.943, .936, .947, .950, .946, .949),
            "Power": (.088, .083, .105, .082, .167, .110)},
    "mu9": {"Mean": (.051, .052, .051, .055, .049, .050),
            "SE": (.185, .263, .133, .184, .093, .151),
            "estSE": (.178, .252, .128, .181, .091, .149),
            "Coverage": (.925, .927, .935, .940, .941, .943),
            "Power": (.086, .080, .084, .070, .089, .070)},
    "mu10": {"Mean": (-.062, -.063, -.060, -.060, -.060, -.059),
             "SE": (.150, .205, .106, .146, .075, .118),
             "estSE": (.147, .203, .105, .145, .074, .118),
             "Coverage": (.934, .937, .942, .943, .947, .948),
             "Power": (.084, .074, .096, .079, .130, .083)},
}
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
    print(text)
    if args.write_docs:
        src = DOC.read_text()
        start_m, end_m = "<!-- two-step-simulation:start -->", "<!-- two-step-simulation:end -->"
        if start_m not in src:
            raise SystemExit(f"{DOC} has no {start_m} ... {end_m} block")
        DOC.write_text(re.sub(re.escape(start_m) + r".*?" + re.escape(end_m),
                              lambda _: f"{start_m}\n{text}\n{end_m}", src, flags=re.S))
        print(f"written to {DOC}")


if __name__ == "__main__":
    main()
