r"""Coverage of the per-patient log-odds treatment effect (issue 13, item f).

On data of the Tzimas (2024) design (``bayes_hte.simulate.tzimas2024``), each fit's 95 %
equal-tailed intervals of the per-patient log-odds CATE are scored against the true
``true_te`` (coverage, mean width, correlation of the posterior mean with the truth,
bias), for the subgroup model (:class:`bayes_hte.SubgroupHTEModel`) with and without its
individual layer and for a plain S-learner (:class:`bayes_hte.IPDMetaModel`, naive
structure, N(0, 1) interactions).

Designs (``--designs``), each with n patients and the generator of appendix A:

``threshold``
    the generator as published: the log-odds effect falls by 0.2 at BMI > 30; the
    analysis models take BMI as a *linear* effect modifier (misspecified form);
``threshold_strong``
    the same with a fall of 1.0 at BMI > 30 (a misspecification large enough to show);
``linear``
    the BMI step replaced by a linear modifier of -0.04 per kg/m² from 28 (-0.2 per SD
    of BMI): the analysis models are correctly specified.

Analysis covariates: age, anticoagulant, diabetes, prior bleeding, SBP, BMI (main
effects); interactions: age, anticoagulant, diabetes, prior bleeding, BMI; subgrouping
gender (the subgroup models). The S-learner interacts every covariate (SBP too) and
reads the covariates standardised as the subgroup model does internally (centred,
non-binary ones divided by their SD), so its N(0, 1) priors act per SD as well.

Methods (``--methods``, :data:`METHODS`): ``subgroup`` (individual layer, marginalized),
``subgroup_no_individual``, ``s_learner`` (the default three); ``*_wide``: the subgroup
models with N(``--wide-sigma``², default 2.5²) priors on the interactions and the
treatment effect (is the shrinkage too tight?); ``subgroup_no_individual_step``: BMI
replaced by ``bmi_over_30`` (the step's own form); ``subgroup_paper``,
``subgroup_paper_all``, ``s_learner_paper``: the paper's covariates with its three
interactions, with all five, and the S-learner on them (the report of the issue);
``s_learner_raw``: the S-learner on unstandardised covariates.

Besides the default interval every fit records diagnostics: ``coverage_debiased`` (the
truth shifted by the fit's mean error: what is left once the error all patients share
is removed), ``average_z`` / ``average_covered`` (the patients' average effect against
the true average), and for the subgroup models ``coverage_conditional`` (intervals of
:math:`\tau_i`) and ``coverage_individual`` (intervals of ``eta()``, which add the
individual deviation :math:`\sigma_\eta\epsilon_i`).

Run (one fit at a time, 3-80 s each at n = 2000, 2 x 500 draws; rows are appended to
``--csv`` as fits finish and reused when rerun; the commands behind the table of
docs/subgroup.md are listed under it)::

    P="nice -n 10 .venv/bin/python validation/subgroup_ite_coverage.py"
    $P --replicates 24 --designs threshold,linear
    $P --replicates 0 --report-all --show-seed 10 --write-docs
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

import bayes_hte as bh
from bayes_hte.simulate.tzimas2024 import tzimas2024

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import write_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "subgroup.md"
CSV = ROOT / "validation" / "results" / "subgroup_ite_coverage.csv"

COVARIATES = ["age", "anticoagulant", "diabetes", "prior_bleeding", "sbp", "bmi"]
INTERACTIONS = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"]
#: Design -> modifier of the log-odds effect by BMI: ("step", fall at BMI > 30) or
#: ("slope", per kg/m² from 28).
DESIGNS = {"threshold": ("step", -0.2), "threshold_strong": ("step", -1.0),
           "linear": ("slope", -0.04)}
PAPER_COVARIATES = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"]
PAPER_INTERACTIONS = ["age", "anticoagulant", "diabetes"]
_SUB, _S = {"model": "subgroup"}, {"model": "s_learner"}
#: Method -> how it is fitted (``model``; ``individual`` layer; ``wide`` priors;
#: ``raw``: the S-learner on unstandardised covariates; ``covariates`` and
#: ``interactions`` of the analysis, default :data:`COVARIATES`, :data:`INTERACTIONS`).
METHODS: dict[str, dict] = {
    "subgroup": {**_SUB, "individual": True},
    "subgroup_no_individual": {**_SUB, "individual": False},
    "s_learner": dict(_S),
    "subgroup_wide": {**_SUB, "individual": True, "wide": True},
    "subgroup_no_individual_wide": {**_SUB, "individual": False, "wide": True},
    "s_learner_raw": {**_S, "raw": True},
    # the models of the report: the paper's analysis (no prior-bleeding or BMI
    # interaction) and an S-learner on the paper's covariates (every one interacted)
    "subgroup_paper": {**_SUB, "individual": True, "covariates": PAPER_COVARIATES,
                       "interactions": PAPER_INTERACTIONS},
    "s_learner_paper": {**_S, "covariates": PAPER_COVARIATES},
    # BMI given the form it has in the step designs (the indicator of BMI > 30)
    "subgroup_no_individual_step": {
        **_SUB, "individual": False,
        "covariates": [*COVARIATES[:-1], "bmi_over_30"],
        "interactions": [*INTERACTIONS[:-1], "bmi_over_30"]},
    # the subgroup model on the paper's covariates with its default: every one interacted
    "subgroup_paper_all": {**_SUB, "individual": True, "covariates": PAPER_COVARIATES,
                           "interactions": None},
}
DEFAULT_METHODS = ("subgroup", "subgroup_no_individual", "s_learner")


def simulate(design: str, *, n: int, seed: int) -> pd.DataFrame:
    """One data set of a design (:data:`DESIGNS`): the Tzimas (2024) trial and its truth.

    A step: the published generator with ``effect["bmi_over_30"] = step``. A slope: the
    generator without the BMI step, plus ``slope * (bmi - 28)`` on the log-odds effect;
    the treated risk and every outcome are then redrawn (a stream of their own).
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {list(DESIGNS)}, got {design!r}")
    form, value = DESIGNS[design]
    if form == "step":
        return tzimas2024(n=n, seed=seed, effect={"bmi_over_30": value}).data
    slope = value
    df = tzimas2024(n=n, seed=seed, effect={"bmi_over_30": 0.0}).data.copy()
    te = df["true_te"].to_numpy() + slope * (df["bmi"].to_numpy() - 28.0)
    p1 = expit(logit(df["p0"].to_numpy()) + te)
    rng = np.random.default_rng([seed, 2])
    p = np.where(df["treatment"].to_numpy() == 1, p1, df["p0"].to_numpy())
    df["event"] = rng.binomial(1, p)
    df["true_te"], df["p1"] = te, p1
    df["true_cate"] = p1 - df["p0"]
    return df


def standardized(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` centred and non-0/1 ones divided by their SD (ddof 0),
    as :func:`bayes_hte.models.subgroup.layout` encodes them."""
    out = frame.copy()
    for c in columns:
        x = out[c].to_numpy(dtype=float)
        sd = 1.0 if np.isin(x, (0.0, 1.0)).all() else x.std()
        out[c] = (x - x.mean()) / sd
    return out


def _flat(da) -> np.ndarray:
    """(chain, draw, patient) draws as (sample, patient)."""
    return da.transpose("chain", "draw", "patient").values.reshape(-1, da.sizes["patient"])


def score(draws: np.ndarray, truth: np.ndarray, *, ci_prob: float = 0.95,
          prefix: str = "") -> dict[str, float]:
    """Coverage, mean width, correlation, bias, RMSE of (sample, patient) draws."""
    lo, hi = np.quantile(draws, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
    est = draws.mean(axis=0)
    out = {"coverage": np.mean((truth >= lo) & (truth <= hi)), "mean_width": np.mean(hi - lo),
           "correlation": np.corrcoef(est, truth)[0, 1], "bias": np.mean(est - truth),
           "rmse": np.sqrt(np.mean((est - truth) ** 2))}
    if not prefix:
        shift = out["bias"]
        out["coverage_debiased"] = np.mean((truth + shift >= lo) & (truth + shift <= hi))
        # the patient-average effect: its error is what every patient's interval shares
        avg = draws.mean(axis=1)
        out["average_sd"] = avg.std(ddof=1)
        out["average_z"] = (avg.mean() - truth.mean()) / out["average_sd"]
        a_lo, a_hi = np.quantile(avg, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
        out["average_covered"] = float(a_lo <= truth.mean() <= a_hi)
    return {f"{prefix}{k}": float(v) for k, v in out.items()}


def fit_one(design: str, method: str, seed: int, args) -> dict:
    """Fit one method to one data set and score it against the truth."""
    frame = simulate(design, n=args.n, seed=seed)
    frame["bmi_over_30"] = (frame["bmi"] > 30).astype(int)
    truth = frame["true_te"].to_numpy()
    opts = dict(draws=args.draws, tune=args.tune, chains=args.chains, random_seed=seed,
                log_likelihood=False, posterior_predictive=False)
    row: dict = {"design": design, "method": method, "seed": seed, "n": args.n,
                 "events": int(frame["event"].sum())}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = METHODS[method]
        covariates = spec.get("covariates", COVARIATES)
        if spec["model"] == "s_learner":
            raw = spec.get("raw", False)
            data = bh.IPDData.from_frame(frame if raw else standardized(frame, covariates),
                                         outcome="event", treatment="treatment",
                                         covariates=covariates)
            m = bh.IPDMetaModel(heterogeneity="naive", learner="s").fit(data, **opts)
            lp0, lp1 = m.linear_predictors()
            row.update(score(_flat(lp1 - lp0), truth, ci_prob=args.ci_prob))
        else:
            priors = ({k: {"dist": "Normal", "mu": 0.0, "sigma": args.wide_sigma}
                       for k in ("gamma", "mu_tau")} if spec.get("wide") else None)
            individual = spec["individual"]
            data = bh.IPDData.from_frame(frame, outcome="event", treatment="treatment",
                                         covariates=covariates)
            m = bh.SubgroupHTEModel(subgroups=["gender"], individual_effects=individual,
                                    interactions=spec.get("interactions", INTERACTIONS),
                                    priors=priors)
            m.fit(data, **opts)
            row.update(score(_flat(m.cate_logit()), truth, ci_prob=args.ci_prob))
            cond = score(_flat(m.cate_logit(kind="conditional")), truth,
                         ci_prob=args.ci_prob, prefix="conditional_")
            row["coverage_conditional"] = cond["conditional_coverage"]
            if individual:
                ind = score(_flat(m.eta()), truth, ci_prob=args.ci_prob, prefix="individual_")
                row["coverage_individual"] = ind["individual_coverage"]
                row["width_individual"] = ind["individual_mean_width"]
                row["sigma_eta_mean"] = float(m.idata["posterior"]["sigma_eta"].mean())
        stats = m.idata["sample_stats"]
    row["divergences"] = int(stats["diverging"].sum())
    row["wall_s"] = time.perf_counter() - start
    return row


def fmt_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A Markdown table of ``df`` (index as the first column)."""
    def f(v):
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)
    df = df.astype(object)  # keep integer columns integer row by row
    names = list(df.index.names) if isinstance(df.index, pd.MultiIndex) else [df.index.name]
    lines = ["| " + " | ".join([str(n or "") for n in names] + list(map(str, df.columns)))
             + " |", "|" + "---|" * (len(names) + len(df.columns))]
    for idx, row in df.iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        lines.append("| " + " | ".join([str(i) for i in idx] + [f(v) for v in row]) + " |")
    return "\n".join(lines)


def summarize(res: pd.DataFrame) -> pd.DataFrame:
    """Mean over replicates per design x method (MC SE of coverage across replicates)."""
    g = res.groupby(["design", "method"], sort=False)
    cols = [c for c in ("coverage", "mean_width", "correlation", "bias", "rmse",
                        "coverage_debiased", "average_covered", "coverage_conditional",
                        "coverage_individual", "width_individual") if c in res]
    out = g[cols].mean()
    out.insert(1, "coverage_se", g["coverage"].std() / np.sqrt(g.size()))
    out.insert(0, "replicates", g.size())
    out.insert(out.columns.get_loc("average_covered") + 1, "average_z_sd",
               g["average_z"].std())
    out["divergences"] = g["divergences"].sum().astype(int)
    order = sorted(out.index, key=lambda k: (list(DESIGNS).index(k[0]),
                                             list(METHODS).index(k[1])))
    return out.loc[order]


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicates", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--ci-prob", type=float, default=0.95)
    ap.add_argument("--wide-sigma", type=float, default=2.5)
    ap.add_argument("--designs", default="threshold,linear")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--report-all", action="store_true",
                    help="tabulate every row of --csv with this --n (not only this run's)")
    ap.add_argument("--show-seed", type=int, default=None,
                    help="also tabulate the fits of this one data set")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    designs, methods = args.designs.split(","), args.methods.split(",")
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {METHODS}")
    logging.getLogger("pymc").setLevel(logging.ERROR)
    seeds = list(range(args.first_seed, args.first_seed + args.replicates))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    keys = ["design", "method", "seed", "n"]
    done = (set(map(tuple, pd.read_csv(args.csv)[keys].astype(str).to_numpy()))
            if args.csv.exists() else set())
    for seed in seeds:
        for design in designs:
            for method in methods:
                if (design, method, str(seed), str(args.n)) in done:
                    continue
                row = fit_one(design, method, seed, args)
                old = pd.read_csv(args.csv) if args.csv.exists() else pd.DataFrame()
                pd.concat([old, pd.DataFrame([row])]).to_csv(args.csv, index=False)
                print(f"{design:9s} {method:28s} seed {seed} cov {row['coverage']:.3f} "
                      f"width {row['mean_width']:.2f} r {row['correlation']:.3f} bias "
                      f"{row['bias']:+.3f} ({row['wall_s']:.0f}s)", flush=True)
    res = pd.read_csv(args.csv)
    if args.report_all:  # every replicate in the csv, whatever run made it
        res = res[(res["n"] == args.n)]
    else:
        res = res[res["seed"].isin(seeds) & res["design"].isin(designs)
                  & res["method"].isin(methods) & (res["n"] == args.n)]
    table = summarize(res)
    print(table.round(3).to_string())
    one = None
    if args.show_seed is not None:
        one = (res[res["seed"] == args.show_seed]
               .set_index(["design", "method"])[["coverage", "mean_width", "correlation",
                                                 "bias", "coverage_debiased",
                                                 "average_z"]])
        one = one.loc[sorted(one.index, key=lambda k: (list(DESIGNS).index(k[0]),
                                                       list(METHODS).index(k[1])))]
        print(one.round(3).to_string())
    if args.write_docs:
        cmd = ("nice -n 10 .venv/bin/python validation/subgroup_ite_coverage.py "
               + " ".join(a for a in (argv if argv is not None else sys.argv[1:])))
        head = (f"Data sets: seeds 1, 2, ... (`replicates` per row), n = {args.n}, "
                f"{args.chains} chains x {args.draws} draws ({args.tune} "
                f"tuning), nutpie, {args.ci_prob:.0%} equal-tailed intervals of the "
                "per-patient log-odds CATE against `true_te`; every number is the mean "
                "over data sets of the per-data-set value (`coverage_se`: SD over data "
                f"sets / sqrt(replicates)). Tabulated by `{cmd}`.\n\n")
        write_block("subgroup-coverage", head + fmt_table(table), doc=DOC)
        if one is not None:
            write_block("subgroup-coverage-seed", f"Data set {args.show_seed} alone (same "
                        "fits):\n\n" + fmt_table(one), doc=DOC)
    return table


if __name__ == "__main__":
    main()
