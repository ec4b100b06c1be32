"""Runner for ``family = "two_step"``: two-step IPD meta-analysis of longitudinal trials.

Spec keys::

    [data]
    source = "simulate:two_step"     # or "dataset:<name>" or a CSV/Parquet path (long format)
    params = { design = "simulation2", trials = 8, tau2 = 0.1, missing_visit_fraction = 0.4 }
    outcome = "y"                    # column roles (LongitudinalData.from_frame)
    treatment = "treat"
    study = "trial"
    subject = "subject"
    visit = "visit"
    covariates = ["z"]
    reference_visit = 1              # optional
    missing_outcome = "raise"        # optional: "drop"

    [model]
    family = "two_step"
    covariance = "random_intercept"  # step 1: | "unstructured" (MMRM)
    lmm_method = "REML"              # step 1: | "ML"
    method = "REML"                  # step 2: | "ML" | "FE"
    structure = "compound_symmetry"  # step 2 Omega: | "unstructured" | "diagonal" | "identity"
    compare_structures = ["compound_symmetry", "diagonal", "identity"]   # BIC table
    bayesian = true                  # Bayesian multivariate synthesis of the step-1 estimates
    bayesian_structure = "compound_symmetry"
    one_stage = false                # one-stage Bayesian LMM over all trials' IPD
    one_stage_structure = "compound_symmetry"
    one_stage_within = "random_intercept"

    [priors]                          # optional overrides by name, per Bayesian model
    synthesis = { tau = { dist = "HalfNormal", sigma = 0.5 } }
    one_stage = { sigma_error = { dist = "HalfNormal", sigma = 5 } }

    [sampler]                         # draws, tune, chains, random_seed, sampler, target_accept

    [output]
    dir = "results/two_step_longitudinal"
    ci_prob = 0.95

Outputs in ``[output].dir``: ``step1_estimates.csv`` (trial x coefficient, long),
``step1_variances.csv``, ``step2_summary.csv``, ``step2_omega.csv``,
``structures.csv`` (log-likelihood / AIC / BIC per Omega structure), ``comparison.csv``
(two-step, Bayesian synthesis, one-stage and, for simulated data, the truth, side by
side), ``posteriors/{synthesis,one_stage}.nc``, ``forest.png`` (one panel per
coefficient: trials and pooled), ``comparison.png`` and ``report.md``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pymc as pm  # noqa: E402
import xarray as xr  # noqa: E402

from bayes_hte.comparators.mixed import per_trial_mixed_models  # noqa: E402
from bayes_hte.comparators.multivariate import compare_structures  # noqa: E402
from bayes_hte.data.longitudinal import LongitudinalData  # noqa: E402
from bayes_hte.inference import divergences, fit  # noqa: E402
from bayes_hte.models.synthesis_multivariate import (  # noqa: E402
    build_mvmeta_model,
    build_one_stage_lmm,
    coefficient_table,
    new_trial_coefficients,
)
from bayes_hte.plots_multivariate import compare_estimates, forest_coefficients  # noqa: E402
from bayes_hte.spec import SpecError, load_frame  # noqa: E402

MODEL_KEYS = {"family", "covariance", "lmm_method", "method", "structure",
              "compare_structures", "bayesian", "bayesian_structure", "one_stage",
              "one_stage_structure", "one_stage_within", "treatment_by_visit",
              "covariate_by_visit", "treatment_by_covariate"}
DATA_KEYS = {"source", "params", "outcome", "treatment", "study", "subject", "visit",
             "covariates", "reference_visit", "missing_outcome", "center"}
SAMPLER_KEYS = {"draws", "tune", "chains", "random_seed", "sampler", "target_accept"}
PRIOR_KEYS = {"synthesis", "one_stage"}


def _check_keys(table: dict, allowed: set, name: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise SpecError(f"[{name}] has unknown keys {sorted(unknown)} for family 'two_step'; "
                        f"allowed: {sorted(allowed)}")


def _fit(model, sample: dict):
    """Sample, then add the pointwise log-likelihood with PyMC's own routine, which keeps
    the dims of multivariate observed nodes right (one value per study / participant)."""
    idata = fit(model, log_likelihood=False, **sample)
    with model:
        ll = pm.compute_log_likelihood(idata, extend_inferencedata=False, progressbar=False)
    idata["log_likelihood"] = ll if isinstance(ll, xr.DataTree) else xr.DataTree(ll)
    return idata


def load_data(spec: dict) -> tuple[LongitudinalData, pd.Series | None]:
    """The LongitudinalData a spec describes, and the true coefficients if simulated."""
    data = spec["data"]
    _check_keys(data, DATA_KEYS, "data")
    missing = [k for k in ("outcome", "treatment", "study", "subject", "visit") if k not in data]
    if missing:
        raise SpecError(f"[data] needs the column roles {missing}")
    obj = load_frame(data, spec_dir=Path(spec.get("_path", ".")).parent)
    frame = obj.data if hasattr(obj, "data") else obj
    if not isinstance(frame, pd.DataFrame):
        raise SpecError(f"[data] source {data['source']!r} gives no long-format data frame")
    truth = getattr(obj, "mu", None)
    ld = LongitudinalData.from_frame(
        frame, outcome=data["outcome"], treatment=data["treatment"], study=data["study"],
        subject=data["subject"], visit=data["visit"], covariates=data.get("covariates", []),
        center=data.get("center"), missing_outcome=data.get("missing_outcome", "raise"))
    return ld, truth


def run(spec: dict, outdir: Path, log) -> None:
    model = dict(spec["model"])
    _check_keys(model, MODEL_KEYS, "model")
    sampler = dict(spec.get("sampler", {}))
    _check_keys(sampler, SAMPLER_KEYS, "sampler")
    priors = dict(spec.get("priors", {}))
    _check_keys(priors, PRIOR_KEYS, "priors")
    ci_prob = float(spec.get("output", {}).get("ci_prob", 0.95))
    data, truth = load_data(spec)
    design = {k: model[k] for k in ("treatment_by_visit", "covariate_by_visit",
                                     "treatment_by_covariate") if k in model}
    reference_visit = spec["data"].get("reference_visit")

    # step 1 -----------------------------------------------------------------------
    log(f"two_step: {data.n_studies} trials, {data.n_subjects} participants, "
        f"{data.n_obs} measurements; visits {list(data.visit_labels)}")
    step1 = per_trial_mixed_models(data, covariance=model.get("covariance", "random_intercept"),
                                   method=model.get("lmm_method", "REML"),
                                   reference_visit=reference_visit, **design)
    step1.summary().to_csv(outdir / "step1_estimates.csv", index=False)
    step1.variance_summary().to_csv(outdir / "step1_variances.csv")
    n_nan = int(pd.isna(step1.estimates).sum())
    log(f"step 1: {len(step1.names)} coefficients per trial ({n_nan} not estimable: visits "
        "never measured)")

    # step 2 -----------------------------------------------------------------------
    method = model.get("method", "REML")
    structure = model.get("structure", "compound_symmetry")
    step2 = step1.mvmeta(method=method, structure=structure, ci_prob=ci_prob)
    step2.summary().to_csv(outdir / "step2_summary.csv")
    step2.omega_table().to_csv(outdir / "step2_omega.csv")
    structures = model.get("compare_structures", ["compound_symmetry", "diagonal", "identity"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        table = compare_structures(step1.estimates, step1.covariances,
                                   method="ML" if method == "ML" else "REML",
                                   structures=structures, names=step1.names)
    for w in caught:
        log(f"structures: {w.message}")
    table.to_csv(outdir / "structures.csv", index=False)
    best = table.loc[table["bic"].idxmin(), "structure"]
    log(f"step 2 ({method}, {structure}): loglik {step2.loglik:.3f}, BIC {step2.bic:.2f}; "
        f"lowest BIC: {best}")

    tables = {"two-step": step2.summary()[["estimate", "ci_low", "ci_high"]]}
    comparison = {"two_step": step2.estimate, "two_step_se": step2.se}
    sample = {"draws": 1000, "tune": 1000, "chains": 4, **sampler}
    (outdir / "posteriors").mkdir(exist_ok=True)
    lines_bayes: list[str] = []
    if model.get("bayesian", True):
        bstruct = model.get("bayesian_structure", structure)
        m = build_mvmeta_model(step1.estimates, step1.covariances, structure=bstruct,
                               priors=priors.get("synthesis"), names=step1.names,
                               study_labels=[str(s) for s in step1.study_labels])
        log(f"Bayesian synthesis ({bstruct}): sampling {sample['chains']} x "
            f"{sample['draws']}...")
        idata = _fit(m, sample)
        idata.to_netcdf(outdir / "posteriors" / "synthesis.nc")
        tab = coefficient_table(idata, ci_prob=ci_prob)
        new = coefficient_table(idata, ci_prob=ci_prob,
                                draws=new_trial_coefficients(idata,
                                                             random_seed=sample.get(
                                                                 "random_seed")))
        tab.join(new.add_prefix("new_trial_")).to_csv(outdir / "synthesis_summary.csv")
        tables["Bayesian synthesis"] = tab
        comparison.update(bayes_synthesis=tab["estimate"].to_numpy(),
                          bayes_synthesis_sd=tab["sd"].to_numpy())
        lines_bayes.append(f"- Bayesian synthesis ({bstruct}): {divergences(idata)} "
                           "divergences")
    if model.get("one_stage", False):
        ostruct = model.get("one_stage_structure", structure)
        within = model.get("one_stage_within", "random_intercept")
        m = build_one_stage_lmm(data, structure=ostruct, within=within,
                                priors=priors.get("one_stage"),
                                reference_visit=reference_visit, **design)
        log(f"one-stage Bayesian LMM ({ostruct}, {within}): sampling...")
        idata = _fit(m, sample)
        idata.to_netcdf(outdir / "posteriors" / "one_stage.nc")
        tab = coefficient_table(idata, ci_prob=ci_prob)
        tab.to_csv(outdir / "one_stage_summary.csv")
        tables["one-stage Bayesian"] = tab
        comparison.update(one_stage=tab["estimate"].to_numpy(),
                          one_stage_sd=tab["sd"].to_numpy())
        lines_bayes.append(f"- one-stage Bayesian LMM ({ostruct}, {within}): "
                           f"{divergences(idata)} divergences")
    comp = pd.DataFrame(comparison, index=pd.Index(list(step2.names), name="coef"))
    if truth is not None:
        comp.insert(0, "truth", truth.reindex(comp.index).to_numpy())
    comp.to_csv(outdir / "comparison.csv")

    others = {k: v for k, v in tables.items() if k != "two-step"}
    fig = forest_coefficients(step2, others=others, truth=truth)
    fig.savefig(outdir / "forest.png", dpi=90)
    plt.close(fig)
    fig = compare_estimates(tables, truth=truth)
    fig.savefig(outdir / "comparison.png", dpi=90)
    plt.close(fig)

    lines = [
        "# Two-step IPD meta-analysis of longitudinal trials", "",
        f"- data: {data.n_studies} trials, {data.n_subjects} participants, {data.n_obs} "
        f"measurements; visits {list(data.visit_labels)}",
        f"- step 1: per-trial LMM ({step1.covariance}, {step1.method}); {n_nan} trial "
        "coefficients not estimable (visits never measured) passed to step 2 as missing",
        f"- step 2: multivariate meta-analysis ({method}, Omega {structure}); "
        f"loglik {step2.loglik:.3f}, AIC {step2.aic:.2f}, BIC {step2.bic:.2f}; "
        f"Q = {step2.q:.1f} on {step2.q_df} df",
        *lines_bayes, "",
        "## Pooled coefficients (two-step)", "", step2.summary().round(4).to_string(), "",
        "## Between-trial SDs (diagonal) and correlations", "",
        step2.omega_table().round(3).to_string(), "",
        "## Omega structures", "", table.round(3).to_string(index=False), "",
        "## Side by side", "", comp.round(4).to_string(), "",
    ]
    (outdir / "report.md").write_text("\n".join(lines))
