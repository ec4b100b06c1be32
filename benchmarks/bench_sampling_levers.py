"""Sampling efficiency per lever on an INDANA-sized random-intercept S-learner, in one run.

Data: ``bench_ipdma_indana.indana_like`` (40,237 patients in 4 trials, ~2 % events, 4
covariates with 4 treatment interactions; trial intercepts -4.3 + (-0.39, 0.13, -0.13,
0.39)). Every row samples the same posterior, 4 chains x 1000 draws, seed 1, in this
one process, and reports

* ``wall``: seconds from the call to the returned posterior, *including compilation*;
* ``ESS/s``: the smallest bulk ESS over the population parameters (``alpha``,
  ``theta``, ``gamma``, ``eta``, ``tau_alpha``) / ``wall``;
* ``ESS/grad``: the same ESS per log-density gradient evaluation (sum of ``n_steps``
  over tuning and draws);
* divergences, the largest rank-normalised R-hat, mean leapfrog steps per draw;
* ``vs Bambi`` and ``vs current``: ESS/s over the Bambi row and over the "current" row.

Rows (one lever changed at a time from the *current* setting = the centred intercepts
that ``parameterization="auto"`` chose before this benchmark, nutpie's diagonal mass
matrix, 1000 tuning steps):

* **Bambi defaults**: ``y ~ (age + sex + sbp + creat) * treat + (1 | trial)``,
  ``family="bernoulli"``, ``Model.fit()`` with its default ``inference_method="pymc"``
  (PyMC's NUTS, 1000 tuning steps; non-centred group effects).
* **low-rank mass matrix**: nutpie's low-rank modified mass matrix (Seyboldt, Carlson &
  Carpenter 2026, Fisher-divergence adaptation).
* **anchored intercepts**: the anchored form (``bayes_hte.models.ipdma`` docs).
* **QR design**: the thin QR reparameterisation of the full design (trial indicators,
  covariates, treatment, interactions; Stan User's Guide, "QR reparameterization"):
  ``W = Q* R*``, the sampler moves ``beta~ = R* beta``, the priors (centred random
  intercepts, N(0, s^2) coefficients) act on ``beta = R*^-1 beta~`` as a potential.
  Written here, not in the package (it lost, see docs/performance.md).
* **tune 300 / 500**: fewer tuning steps.
* **compile reuse**: the current setting again: nutpie compiles anew, the seconds
  saved would be compile time (reported in the ``compile`` column: wall - sampling).
* **bayes_hte default** (``parameterization="auto"``, ``mass_matrix="auto"``): anchored
  intercepts + low-rank mass matrix, 1000 tuning steps.

``--outcome time_to_event`` runs the Weibull RI-S on the same patients (current vs
levers vs default; no Bambi peer).

    python benchmarks/bench_sampling_levers.py [--outcome binary] [--skip ROW ...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

sys.path.insert(0, str(Path(__file__).parent))
from bench_ipdma_indana import indana_like, ri_s_model  # noqa: E402

import bayes_hte as bh  # noqa: E402
from bayes_hte.inference import fit  # noqa: E402
from bayes_hte.models.ipdma import default_priors  # noqa: E402

POP = ["alpha", "theta", "gamma", "eta", "tau_alpha", "log_shape"]
COVARIATES = ["age", "sex", "sbp", "creat"]


def summarise(idata, wall: float, names: list[str]) -> dict:
    post = idata["posterior"]
    names = [v for v in names if v in post]
    s = az.summary(idata, var_names=names)
    stats = idata["sample_stats"]
    grads = float(stats["n_steps"].sum())
    warm = idata.get("warmup_sample_stats")
    if warm is not None and "n_steps" in warm:
        grads += float(warm["n_steps"].sum())
    ess = float(s["ess_bulk"].min())
    sampling = float(post.attrs.get("sampling_time", np.nan))
    return {"wall": wall, "compile": wall - sampling, "min_ess": ess, "ESS/s": ess / wall,
            "ESS/grad": ess / grads if grads else np.nan,
            "divergences": int(stats["diverging"].sum()), "max_rhat": float(s["r_hat"].max()),
            "steps": float(stats["n_steps"].mean())}


def run_ours(data, outcome, *, parameterization="centered", mass_matrix="diag", tune=1000,
             args) -> dict:
    model = ri_s_model(data, outcome=outcome, parameterization=parameterization)
    start = time.perf_counter()
    idata = fit(model, draws=args.draws, tune=tune, chains=args.chains, random_seed=args.seed,
                sampler="nutpie", mass_matrix=mass_matrix, target_accept=0.9,
                log_likelihood=False, posterior_predictive=False)
    return summarise(idata, time.perf_counter() - start, POP)


def run_default(data, outcome, args) -> dict:
    model = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s", outcome=outcome)
    start = time.perf_counter()
    model.fit(data, draws=args.draws, chains=args.chains, random_seed=args.seed,
              log_likelihood=False, posterior_predictive=False)
    out = summarise(model.idata, time.perf_counter() - start, POP)
    return out


def run_qr(data, args) -> dict:
    """Centred RI-S with the thin QR reparameterisation of the whole design."""
    pri = default_priors("random_intercept", "s")
    n, j = data.n_patients, data.n_studies
    onehot = np.eye(j)[data.study_idx]
    z = data.z.astype(float)
    design = np.column_stack([onehot, data.X, z, data.X * z[:, None]])
    q, r = np.linalg.qr(design)
    q, r = q * np.sqrt(n - 1), r / np.sqrt(n - 1)
    p = design.shape[1]
    k = data.X.shape[1]
    with pm.Model() as model:
        bt = pm.Flat("beta_tilde", shape=p)
        beta = pt.linalg.solve_triangular(r, bt, lower=False)
        a_s = pm.Deterministic("alpha_study", beta[:j])
        pm.Deterministic("theta", beta[j:j + k])
        pm.Deterministic("gamma", beta[j + k])
        pm.Deterministic("eta", beta[j + k + 1:])
        alpha = bh.models.priors.make_rv("alpha", pri["alpha"])
        tau = bh.models.priors.make_rv("tau_alpha", pri["tau_alpha"])
        prior = pm.logp(pm.Normal.dist(alpha, tau), a_s).sum()
        for name, part in (("theta", beta[j:j + k]), ("gamma", beta[j + k]),
                           ("eta", beta[j + k + 1:])):
            prior += pm.logp(bh.models.priors.make_dist(pri[name]), part).sum()
        pm.Potential("priors", prior)
        pm.Bernoulli("y", logit_p=pt.dot(q, bt), observed=data.y)
    start = time.perf_counter()
    idata = fit(model, draws=args.draws, tune=1000, chains=args.chains, random_seed=args.seed,
                sampler="nutpie", target_accept=0.9, log_likelihood=False,
                posterior_predictive=False)
    return summarise(idata, time.perf_counter() - start, POP)


def run_bambi(df, args) -> dict:
    import bambi as bmb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bmb.Model("y ~ (age + sex + sbp + creat) * treat + (1 | trial)", df,
                          family="bernoulli")
        start = time.perf_counter()
        idata = model.fit(draws=args.draws, chains=args.chains, random_seed=args.seed,
                          progressbar=False)
        wall = time.perf_counter() - start
    post = idata["posterior"]
    names = [v for v in post.data_vars if "__obs__" not in post[v].dims
             and not v.endswith("_offset")]
    return summarise(idata, wall, names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outcome", choices=["binary", "time_to_event"], default="binary")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], help="row labels to leave out")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    df = indana_like(outcome=args.outcome)
    data = bh.IPDData.from_frame(
        df, outcome="y", treatment="treat", study="trial", covariates=COVARIATES,
        time="time" if args.outcome == "time_to_event" else None)
    print(f"{data.n_patients} patients, {data.n_studies} trials, {int(data.y.sum())} events; "
          f"{args.outcome}; {args.chains} chains x {args.draws} draws; seed {args.seed}",
          flush=True)
    o = args.outcome
    rows = {
        "Bambi defaults (PyMC NUTS)": lambda: run_bambi(df, args),
        "current (centred, diag, tune 1000)": lambda: run_ours(data, o, args=args),
        "low-rank mass matrix": lambda: run_ours(data, o, mass_matrix="low_rank", args=args),
        "anchored intercepts": lambda: run_ours(data, o, parameterization="anchored",
                                                args=args),
        "QR design": lambda: run_qr(data, args),
        "tune 300": lambda: run_ours(data, o, tune=300, args=args),
        "tune 500": lambda: run_ours(data, o, tune=500, args=args),
        "compile reuse (current again)": lambda: run_ours(data, o, args=args),
        "anchored + low-rank, tune 500": lambda: run_ours(
            data, o, parameterization="anchored", mass_matrix="low_rank", tune=500,
            args=args),
        "partially centred": lambda: run_ours(
            data, o, parameterization="partially_centered", args=args),
        "partially centred + low-rank": lambda: run_ours(
            data, o, parameterization="partially_centered", mass_matrix="low_rank",
            args=args),
        "bayes_hte default (auto, auto)": lambda: run_default(data, o, args),
    }
    if o != "binary":
        rows.pop("Bambi defaults (PyMC NUTS)")
        rows.pop("QR design")
        rows.pop("partially centred")  # binary outcomes only
        rows.pop("partially centred + low-rank")
    table = {}
    for label, run in rows.items():
        if label in args.skip:
            continue
        table[label] = run()
        print(label, {k: round(v, 3) for k, v in table[label].items()}, flush=True)
    out = pd.DataFrame(table).T
    if "Bambi defaults (PyMC NUTS)" in out.index:
        out["vs Bambi"] = out["ESS/s"] / out.loc["Bambi defaults (PyMC NUTS)", "ESS/s"]
    out["vs current"] = out["ESS/s"] / out.loc["current (centred, diag, tune 1000)", "ESS/s"]
    pd.set_option("display.width", 200)
    print()
    print(out.round({"wall": 1, "compile": 1, "min_ess": 0, "ESS/s": 1, "ESS/grad": 4,
                     "max_rhat": 4, "steps": 1, "vs Bambi": 1, "vs current": 2}).to_string())


if __name__ == "__main__":
    main()
