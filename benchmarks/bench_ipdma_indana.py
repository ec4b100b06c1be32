"""Effective draws per second on an INDANA-sized IPD meta-analysis: bayes_hte vs Bambi.

The INDANA subset analysed by Bouvier et al. (2024) has 40,237 patients in 4 trials
and 836 deaths (~2.1%), with age, sex, systolic blood pressure and serum creatinine
as covariates. The data are not public, so this script simulates a data set of that
size and event rate (4 standardised covariates, 4 treatment interactions, trial
intercepts -4.3 + (-0.39, 0.13, -0.13, 0.39), i.e. between-trial SD 0.3) and fits the
random-intercept S-learner

    logit p_ij = alpha_j + theta'x + gamma z + eta'x z,   alpha_j ~ N(alpha, tau^2)

(a) with bayes_hte (nutpie; the centred intercepts that ``parameterization="auto"``
chooses here, the non-centred form and the anchored form for comparison), and (b) the
same model written in Bambi (``y ~ (age + sex + sbp + creat) * treat + (1 | trial)``,
Bambi's default non-centred group effects) sampled with nutpie and with PyMC's NUTS. Every run uses
the same data, chains, draws and seed in this one process. Effective draws per second
= the smallest bulk ESS over the population parameters / sampling seconds (compile
time excluded, reported separately).

    python benchmarks/bench_ipdma_indana.py [--draws 1000] [--chains 4] [--outcome binary]

``--outcome time_to_event`` times the Weibull random-intercept S-learner on the same
patients with Weibull event times (no Bambi peer: Bambi has no censored Weibull PH).
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz as az
import numpy as np
import pandas as pd

import bayes_hte as bh
from bayes_hte.inference import fit
from bayes_hte.models import ipdma, survival

SIZES = (10_512, 12_020, 8_705, 9_000)  # 40,237 patients in 4 trials
POP = ["alpha", "theta", "gamma", "eta", "tau_alpha"]


def indana_like(seed: int = 2024, outcome: str = "binary", *,
                scale: float = 1.0) -> pd.DataFrame:
    """4 trials, 40,237 patients x ``scale``, ~2.1% events, 4 covariates (age, sex, sbp,
    creat)."""
    rng = np.random.default_rng(seed)
    sizes = [round(size * scale) for size in SIZES]
    n = sum(sizes)
    trial = np.repeat(np.arange(4), sizes)
    df = pd.DataFrame({
        "trial": [f"T{j + 1}" for j in trial],
        "treat": rng.binomial(1, 0.5, n),
        "age": rng.standard_normal(n),
        "sex": rng.binomial(1, 0.45, n).astype(float),
        "sbp": rng.standard_normal(n),
        "creat": rng.standard_normal(n),
    })
    x = df[["age", "sex", "sbp", "creat"]].to_numpy()
    theta = np.array([0.8, 0.4, 0.3, 0.25])
    eta = np.array([-0.15, 0.1, -0.1, 0.05])
    # trial baseline risks differ as between INDANA's trials: fixed offsets with SD 0.3
    alpha_j = -4.3 + np.array([-0.39, 0.13, -0.13, 0.39])
    lp = alpha_j[trial] + x @ theta + df["treat"] * (-0.15 + x @ eta)
    if outcome == "binary":
        df["y"] = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    else:
        # Weibull PH, shape 1.15, about 2% events by 5 years of follow-up
        t = (-np.log(rng.uniform(size=n)) / np.exp(lp - 1.9)) ** (1 / 1.15)
        df["time"] = np.minimum(t, 5.0)
        df["y"] = (t <= 5.0).astype(int)
    return df


def ess_per_second(idata, names) -> tuple[float, float]:
    names = [v for v in names if v in idata["posterior"]]
    ess = az.ess(idata, var_names=names)
    min_ess = min(float(ess[v].min()) for v in names)
    secs = float(idata["posterior"].attrs["sampling_time"])
    return min_ess, secs


def ri_s_model(data, *, outcome: str, parameterization: str):
    """The random-intercept S-learner, logistic or Weibull PH."""
    if outcome == "binary":
        return ipdma.build_ipdma_model(data, heterogeneity="random_intercept", learner="s",
                                       parameterization=parameterization)
    return survival.build_ipdma_survival_model(
        data, heterogeneity="random_intercept", learner="s", baseline="weibull",
        parameterization=parameterization)


def run_ours(data, *, outcome, parameterization, args):
    model = ri_s_model(data, outcome=outcome, parameterization=parameterization)
    start = time.perf_counter()
    idata = fit(model, draws=args.draws, tune=args.tune, chains=args.chains,
                random_seed=args.seed, sampler="nutpie", log_likelihood=False,
                posterior_predictive=False)
    total = time.perf_counter() - start
    ess, secs = ess_per_second(idata, POP + ["log_shape"])
    return {"ess": ess, "seconds": secs, "total": total,
            "divergences": bh.inference.divergences(idata)}


def run_bambi(df, *, method, args):
    import bambi as bmb

    formula = "y ~ (age + sex + sbp + creat) * treat + (1 | trial)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bmb.Model(formula, df, family="bernoulli")
        start = time.perf_counter()
        idata = model.fit(draws=args.draws, tune=args.tune, chains=args.chains,
                          random_seed=args.seed, inference_method=method, progressbar=False)
        total = time.perf_counter() - start
    post = idata["posterior"]
    names = [v for v in post.data_vars if "__obs__" not in post[v].dims
             and not v.endswith("_offset")]
    ess = az.ess(idata, var_names=names)
    min_ess = min(float(ess[v].min()) for v in names)
    secs = float(post.attrs.get("sampling_time", total))
    return {"ess": min_ess, "seconds": secs, "total": total,
            "divergences": int(np.asarray(idata["sample_stats"]["diverging"]).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outcome", choices=["binary", "time_to_event"], default="binary")
    parser.add_argument("--skip-pymc", action="store_true", help="skip Bambi + PyMC NUTS")
    args = parser.parse_args()

    df = indana_like(outcome=args.outcome)
    time_col = "time" if args.outcome == "time_to_event" else None
    data = bh.IPDData.from_frame(df, outcome="y", treatment="treat", study="trial",
                                 covariates=["age", "sex", "sbp", "creat"], time=time_col)
    print(f"{data.n_patients} patients, {data.n_studies} trials, {int(data.y.sum())} events "
          f"({data.y.mean():.2%}); auto parameterisation: "
          f"{ipdma.choose_parameterization(data)}; {args.chains} chains x {args.draws} draws")
    rows = {}
    for par in ("centered", "non_centered", "anchored"):
        rows[f"bayes_hte RI-S {par} (nutpie)"] = run_ours(data, outcome=args.outcome,
                                                          parameterization=par, args=args)
    if args.outcome == "binary":
        rows["Bambi (nutpie)"] = run_bambi(df, method="nutpie", args=args)
        if not args.skip_pymc:
            rows["Bambi (PyMC NUTS)"] = run_bambi(df, method="pymc", args=args)
    table = pd.DataFrame(rows).T
    table["ess_per_s"] = table["ess"] / table["seconds"]
    ref = table["ess_per_s"].iloc[0]
    table["ratio_vs_ours"] = ref / table["ess_per_s"]
    pd.set_option("display.width", 140)
    print(table.round(2).to_string())
    print("\nbayes_hte (centred, nutpie) effective draws/s over each peer: "
          + ", ".join(f"{k}: {v:.1f}x" for k, v in table["ratio_vs_ours"].iloc[1:].items()))


if __name__ == "__main__":
    main()
