"""Runner for ``family = "ipdma"``: fit a grid of structures x learners and report.

Spec keys (besides ``[data]``, ``[sampler]``, ``[output]``)::

    [model]
    family = "ipdma"
    heterogeneity = ["naive", "random_intercept", ...]   # or one string
    learner = ["s", "t"]
    outcome = "binary"                                   # or "time_to_event"
    parameterization = "auto"
    # time-to-event options: baseline, n_intervals, cuts, horizon

    [evaluation]                                         # optional
    compare = true            # c-for-benefit, calibration, PAPE, ... per model
    cv = "iecv"               # leave-one-trial-out validation (or "none")

Outputs in ``[output].dir``: ``posteriors/<label>.nc``, ``ite_summary.csv``,
``parameters.csv``, ``diagnostics.csv``, ``loo_compare.csv``, ``report.md`` /
``report.html`` with PNG figures.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayes_hte import diagnostics, effects, plots, report
from bayes_hte.data.ipd import IPDData
from bayes_hte.estimators import IPDMetaModel
from bayes_hte.spec import SpecError, load_frame

SAMPLER_KEYS = {"draws", "tune", "chains", "random_seed", "sampler", "target_accept",
                "mass_matrix"}
DATA_KEYS = {"outcome", "treatment", "study", "covariates", "time", "center"}


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def load_ipd(spec: dict):
    """Data container and (for simulations) the true ITE from a spec's ``[data]``."""
    data_spec = spec["data"]
    spec_dir = Path(spec.get("_path", ".")).parent
    source = load_frame(data_spec, spec_dir=spec_dir)
    frame = getattr(source, "data", source)
    if not isinstance(frame, pd.DataFrame):
        raise SpecError(f"[data] source {data_spec['source']!r} does not give a data frame")
    kwargs = {k: data_spec[k] for k in DATA_KEYS if k in data_spec}
    for key in ("outcome", "treatment"):
        if key not in kwargs:
            raise SpecError(f"[data] needs {key!r} (the column name)")
    data = IPDData.from_frame(frame, **kwargs)
    truth = None
    for col in ("true_ite_average", "true_ite"):
        if col in frame.columns:
            truth = frame[col].to_numpy()
            break
    return data, truth, source


def _sampler_options(spec: dict) -> dict:
    sampler = dict(spec.get("sampler", {}))
    unknown = set(sampler) - SAMPLER_KEYS
    if unknown:
        raise SpecError(f"[sampler] has unknown keys {sorted(unknown)}; "
                        f"allowed: {sorted(SAMPLER_KEYS)}")
    return sampler


def fit_grid(data: IPDData, spec: dict, outdir: Path, log) -> dict[str, IPDMetaModel]:
    """Fit every structure x learner of ``[model]``; save each posterior as it finishes."""
    model_spec = dict(spec["model"])
    hets = _as_list(model_spec.pop("heterogeneity", ["random_intercept"]))
    learners = _as_list(model_spec.pop("learner", ["s"]))
    model_spec.pop("family")
    outcome = model_spec.pop("outcome", data.outcome_type)
    parameterization = model_spec.pop("parameterization", "auto")
    sampler = _sampler_options(spec)
    priors = spec.get("priors", {})
    (outdir / "posteriors").mkdir(exist_ok=True)
    fitted: dict[str, IPDMetaModel] = {}
    grid = [(h, lr) for h in hets for lr in learners]
    for k, (het, learner) in enumerate(grid, start=1):
        m = IPDMetaModel(heterogeneity=het, learner=learner, outcome=outcome,
                         priors=priors.get(het, priors.get("all", {})),
                         parameterization=parameterization, **model_spec)
        log(f"[{k}/{len(grid)}] {m.label}: fitting ({sampler.get('chains', 4)} chains x "
            f"{sampler.get('draws', 1000)} draws)...")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            m.fit(data, **sampler)
        health = diagnostics.sampling_summary(m.idata)
        log(f"[{k}/{len(grid)}] {m.label}: {time.perf_counter() - start:.0f} s, "
            f"{health['divergences']} divergences, max R-hat {health['max_r_hat']:.3f}, "
            f"min bulk ESS {health['min_ess_bulk']:.0f}")
        m.save(outdir / "posteriors" / f"{m.label}.nc")
        fitted[m.label] = m
    return fitted


def run(spec: dict, outdir: Path, log) -> None:
    """Fit the grid, then write tables, plots and the diagnostics report."""
    data, truth, _ = load_ipd(spec)
    log(f"data: {data.n_patients} patients, {data.n_studies} studies, "
        f"{int(data.y.sum())} events, covariates {list(data.covariate_names)}")
    fitted = fit_grid(data, spec, outdir, log)
    write_outputs(fitted, data, truth, spec, outdir, log)


def write_outputs(fitted: dict[str, IPDMetaModel], data: IPDData, truth, spec: dict,
                  outdir: Path, log) -> None:
    ci_prob = float(spec.get("output", {}).get("ci_prob", 0.95))
    rep = report.Report(title=f"bayes_hte report: {Path(spec.get('_path', 'spec')).name}")
    rep.text(f"{data.n_patients} patients in {data.n_studies} studies, {int(data.y.sum())} "
             f"events; covariates: {', '.join(data.covariate_names)}. Intervals are "
             f"equal-tailed at {ci_prob:.0%}.")

    # ---------------------------------------------------------------- ITE tables
    ites, rows, params, health_rows, diag_tables = {}, [], [], [], {}
    for label, m in fitted.items():
        ite = m.ite()
        ites[label] = ite
        tab = effects.summarize(ite, ci_prob=ci_prob)
        new = effects.summarize(m.ite(new_trial=True), ci_prob=ci_prob)
        tab["pi_low"], tab["pi_high"] = new["ci_low"].to_numpy(), new["ci_high"].to_numpy()
        tab.insert(0, "model", label)
        rows.append(tab.reset_index())
        p = diagnostics.diagnostics_table(m.idata, ci_prob=ci_prob)
        diag_tables[label] = p
        p = p.copy()
        p.insert(0, "model", label)
        params.append(p)
        health = diagnostics.sampling_summary(m.idata)
        if truth is not None:
            est = ite.mean(("chain", "draw")).to_numpy()
            health["ite_corr_truth"] = float(np.corrcoef(est, truth)[0, 1])
            health["ite_rmse_truth"] = float(np.sqrt(np.mean((est - truth) ** 2)))
            health["ite_ci_coverage"] = effects.interval_coverage(ite, truth, ci_prob=ci_prob)
            health["ite_pi_coverage"] = float(np.mean((truth >= tab["pi_low"])
                                                      & (truth <= tab["pi_high"])))
        health_rows.append({"model": label, **health})
    ite_table = pd.concat(rows, ignore_index=True)
    ite_table.to_csv(outdir / "ite_summary.csv", index=False)
    pd.concat(params).to_csv(outdir / "parameters.csv")
    health = pd.DataFrame(health_rows).set_index("model")
    health.to_csv(outdir / "diagnostics.csv")

    rep.heading("Sampling diagnostics")
    rep.text("Divergent transitions after tuning, worst rank-normalised R-hat, smallest bulk "
             "and tail ESS over the population-level parameters, and bulk ESS per second of "
             "sampling. Targets: 0 divergences, R-hat <= 1.01.")
    rep.table(health)

    # ---------------------------------------------------------------- LOO comparison
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loo = az.compare({k: m.idata for k, m in fitted.items()}, round_to="none")
            loo = loo.drop(columns=[c for c in loo.columns if loo[c].dtype == object],
                           errors="ignore")
        except Exception as err:  # noqa: BLE001 - reported, not hidden
            loo = pd.DataFrame({"error": [str(err)]})
    loo.to_csv(outdir / "loo_compare.csv")
    rep.heading("Model comparison (PSIS-LOO)")
    rep.text("Expected log pointwise predictive density (elpd_loo) per model, ranked; "
             "elpd_diff and dse are relative to the best model.")
    rep.table(loo)

    # ---------------------------------------------------------------- evaluation (issue 5)
    eval_spec = spec.get("evaluation", {})
    if eval_spec.get("compare", False) and len(fitted) > 0:
        from bayes_hte.evaluation.compare import evaluate_fitted

        evaluate_fitted(fitted, data, truth=truth, spec=eval_spec, outdir=outdir, rep=rep,
                        log=log, ci_prob=ci_prob)

    # ---------------------------------------------------------------- figures
    rep.heading("ITE distributions")
    fig = plots.plot_ite_distribution(ites, truth=truth)
    fig.savefig(outdir / "ite_distribution.png", dpi=90)
    plt.close(fig)
    rep.image(outdir / "ite_distribution.png",
              "Posterior-mean ITE per patient for each model (grey: true ITE when simulated)")

    rep.heading("Per-model diagnostics")
    for label, m in fitted.items():
        rep.heading(label, level=3)
        rep.table(diag_tables[label]
                  [["mean", "sd", "ess_bulk", "ess_tail", "r_hat", "r_hat_classic"]])
        for path in report.convergence_plots(m.idata, outdir, prefix=label):
            rep.image(path, f"{label}: {path.stem.split('_')[-1]} plot")
        if "posterior_predictive" in m.idata and data.outcome_type == "binary":
            fig = plots.plot_ppc_event_rates(m.idata, data, title=f"{label}: event rates")
            fig.savefig(outdir / f"{label}_ppc.png", dpi=80)
            plt.close(fig)
            rep.image(outdir / f"{label}_ppc.png",
                      f"{label}: observed event rate per trial and arm (dots) against the "
                      "posterior predictive interval")
        if data.outcome_type == "time_to_event":
            from bayes_hte.models import survival

            fig = survival.plot_km_ppc(m)
            fig.savefig(outdir / f"{label}_km_ppc.png", dpi=80)
            plt.close(fig)
            rep.image(outdir / f"{label}_km_ppc.png",
                      f"{label}: Kaplan-Meier per trial and arm against posterior "
                      "predictive survival")
    md, html_path = rep.write(outdir)
    log(f"report: {html_path}")
