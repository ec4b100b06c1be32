"""Exact data reduction on an INDANA-sized binary IPD-MA: reduced vs per-patient, one process.

The INDANA subset of Bouvier et al. (2024) has 40,237 patients in 4 trials, ~2.1%
deaths, and age, sex, systolic blood pressure and serum creatinine as covariates. This
script simulates a data set of that size and event rate with the four covariates
*categorised* (age 4 bands, sex, SBP 3 bands, creatinine 3 bands: 72 patterns, at most
72 x 2 arms x 4 trials = 576 cells), and fits the random-intercept S-learner

    logit p_ij = alpha_j + theta'x + gamma z + eta'x z,   alpha_j ~ N(alpha, tau^2)

twice with nutpie — one Bernoulli term per patient (``data_reduction="never"``) and one
Binomial term per (pattern x arm x trial) cell (``data_reduction="auto"``, which picks
the reduced form here) — and prints, per form and as reduced / per-patient ratios:

* the time of one log-density gradient evaluation (nutpie's compiled numba function,
  called directly, the median of repeated timings),
* compile time, sampling time and the smallest bulk ESS over the population parameters
  (effective draws per second = that ESS / sampling seconds; and per wall second,
  compilation included),
* posterior agreement: the largest |difference of posterior means| / posterior SD.

The machine may be loaded by other jobs; both forms run in this one process, one after
the other, so the ratios compare like with like.

    python benchmarks/bench_data_reduction.py [--draws 1000] [--tune 1000] [--chains 4]
                                              [--scale 1.0] [--seed 1]

``--scale`` multiplies every trial's size; several scales run one after the other and
the ratios of their wall times are printed (``--scale 1 10 24.853`` for 40,237,
~402,000 and ~1,000,000 patients).
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import arviz as az
import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.inference import fit
from bayes_hte.models import ipdma
from bayes_hte.options import IPDMAOptions

SIZES = (10_512, 12_020, 8_705, 9_000)  # 40,237 patients in 4 trials (INDANA subset)
POP = ["alpha", "theta", "gamma", "eta", "tau_alpha"]
COVARIATES = ["age", "sex", "sbp", "creat"]


def indana_discrete(seed: int = 2024, scale: float = 1.0) -> pd.DataFrame:
    """4 trials, 40,237 patients (x ``scale``), ~2% events, 4 categorised covariates."""
    rng = np.random.default_rng(seed)
    sizes = [int(round(s * scale)) for s in SIZES]
    n = sum(sizes)
    trial = np.repeat(np.arange(4), sizes)
    age = rng.choice(["<60", "60-69", "70-79", "80+"], n, p=[0.3, 0.35, 0.25, 0.1])
    sex = rng.binomial(1, 0.45, n)
    sbp = rng.choice(["<160", "160-179", "180+"], n, p=[0.4, 0.35, 0.25])
    creat = rng.choice(["normal", "raised", "high"], n, p=[0.6, 0.3, 0.1])
    treat = rng.binomial(1, 0.5, n)
    x = np.column_stack([
        pd.Series(age).map({"<60": -1.0, "60-69": 0.0, "70-79": 1.0, "80+": 2.0}),
        sex,
        pd.Series(sbp).map({"<160": 0.0, "160-179": 0.5, "180+": 1.0}),
        pd.Series(creat).map({"normal": 0.0, "raised": 0.5, "high": 1.0}),
    ])
    theta = np.array([0.8, 0.4, 0.3, 0.25])
    eta = np.array([-0.15, 0.1, -0.1, 0.05])
    alpha_j = -4.6 + np.array([-0.39, 0.13, -0.13, 0.39])  # between-trial SD 0.3
    lp = alpha_j[trial] + x @ theta + treat * (-0.15 + x @ eta)
    return pd.DataFrame({"trial": [f"T{j + 1}" for j in trial], "treat": treat,
                         "age": age, "sex": sex, "sbp": sbp, "creat": creat,
                         "y": rng.binomial(1, 1 / (1 + np.exp(-lp)))})


def gradient_seconds(model, *, repeats: int = 7, min_seconds: float = 0.5) -> tuple[float,
                                                                                     float]:
    """(seconds per log-density + gradient evaluation, nutpie compile seconds)."""
    import nutpie

    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - start
    fn = compiled.logp_func
    shared = [compiled.shared_data[compiled.shared_var_keys[v]] for v in fn.get_shared()]
    jit = fn.vm.jit_fn
    x = np.random.default_rng(0).normal(scale=0.1, size=compiled.n_dim)
    jit(x, *shared)  # warm up
    n = 1
    while True:  # calls per timing: enough for min_seconds
        start = time.perf_counter()
        for _ in range(n):
            jit(x, *shared)
        if time.perf_counter() - start > min_seconds / repeats:
            break
        n *= 4
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            jit(x, *shared)
        times.append((time.perf_counter() - start) / n)
    return float(np.median(times)), compile_s


def sample(model, args) -> tuple[dict, object]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the mass matrix and target_accept IPDMetaModel.fit picks for the model
        options = IPDMAOptions.resolve(heterogeneity="random_intercept", learner="s",
                                       outcome="binary", parameterization="auto",
                                       model_options={})
        idata = fit(model, draws=args.draws, tune=args.tune, chains=args.chains,
                    random_seed=args.seed, sampler="nutpie",
                    mass_matrix=options.mass_matrix(
                        "auto", sampler="nutpie",
                        intercept_form=model.bayes_hte.get("intercept_form")),
                    target_accept=options.target_accept(),
                    log_likelihood=False, posterior_predictive=False)
    wall = time.perf_counter() - start
    names = [v for v in POP if v in idata["posterior"]]
    ess = az.ess(idata, var_names=names)
    min_ess = min(float(ess[v].min()) for v in names)
    secs = float(idata["posterior"].attrs["sampling_time"])
    return {"min_bulk_ess": min_ess, "sampling_s": secs, "wall_s": wall,
            "ess_per_s": min_ess / secs, "ess_per_wall_s": min_ess / wall,
            "divergences": bh.inference.divergences(idata)}, idata


def compare(scale: float, args) -> dict:
    """Fit both forms at one size; print their table and agreement; return wall times."""
    df = indana_discrete(scale=scale)
    data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                 covariates=COVARIATES)
    models = {form: ipdma.build_ipdma_model(data, heterogeneity="random_intercept",
                                            learner="s", data_reduction=form)
              for form in ("never", "auto")}
    info = models["auto"].bayes_hte["data_reduction"]
    print(f"\n{data.n_patients} patients, {data.n_studies} trials, {int(data.y.sum())} "
          f"events ({data.y.mean():.2%}), {data.n_covariates} encoded covariates; "
          f"data_reduction='auto' -> {info['form']} with {info.get('cells')} cells; "
          f"intercepts {models['auto'].bayes_hte.get('intercept_form')}; "
          f"{args.chains} chains x {args.draws} draws (+{args.tune} tuning), nutpie",
          flush=True)
    rows, fits = {}, {}
    for form, model in models.items():
        grad, compile_s = gradient_seconds(model)
        res, fits[form] = sample(model, args)
        rows["per patient" if form == "never" else "reduced"] = {
            "gradient_us": grad * 1e6, "compile_s": compile_s, **res}
    table = pd.DataFrame(rows).T
    ratio = table.loc["reduced"] / table.loc["per patient"]
    pd.set_option("display.width", 160)
    print(table.round(2).to_string())

    a, b = fits["auto"]["posterior"], fits["never"]["posterior"]
    agree = {v: float((abs(a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw")))
                       / b[v].std(("chain", "draw"))).max()) for v in POP}
    print("reduced / per patient:")
    print(f"  gradient evaluation time   {ratio['gradient_us']:.4f} "
          f"({1 / ratio['gradient_us']:.0f}x faster)")
    print(f"  effective draws per second {ratio['ess_per_s']:.1f}x (sampling time only)")
    print(f"  effective draws per wall s {ratio['ess_per_wall_s']:.1f}x (compilation included)")
    print(f"  wall time                  {ratio['wall_s']:.3f}")
    print("posterior agreement, max |mean difference| / posterior SD: "
          + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()), flush=True)
    return {"n": data.n_patients, **table["wall_s"].to_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    walls = [compare(scale, args) for scale in args.scale]
    for small, large in itertools.pairwise(walls):
        print(f"\nwall time({large['n']:,}) / wall time({small['n']:,}) "
              f"(N ratio {large['n'] / small['n']:.2f}): "
              f"per patient {large['per patient'] / small['per patient']:.2f}, "
              f"reduced {large['reduced'] / small['reduced']:.2f}")


if __name__ == "__main__":
    main()
