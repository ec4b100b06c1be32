"""Runner for ``family = "two_step"``: two-step IPD meta-analysis of longitudinal trials.

Spec keys (declared in :data:`bayes_hte.runners.schema.SCHEMA`)::

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
from collections.abc import Callable, Mapping

import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte import plots
from bayes_hte.comparators.mixed import per_trial_mixed_models
from bayes_hte.comparators.multivariate import compare_structures
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.diagnostics import fit_warnings, format_health, sampling_summary
from bayes_hte.effects.synthesis import coefficient_table, new_trial_coefficients
from bayes_hte.inference import fit
from bayes_hte.models.synthesis_multivariate import build_mvmeta_model, build_one_stage_lmm
from bayes_hte.runners.base import Runner, load_frame
from bayes_hte.runners.schema import SpecError, required

#: ``[model]`` keys of the design of the per-trial mixed models (step 1, one-stage model).
DESIGN_KEYS = ("treatment_by_visit", "covariate_by_visit", "treatment_by_covariate")


class TwoStepRunner(Runner):
    """``bayes-hte run`` for two-step IPD meta-analyses of longitudinal trials.

    Step 1 fits a mixed model per trial, step 2 pools the coefficient vectors by
    multivariate meta-analysis; optionally a Bayesian synthesis of the step-1 estimates
    and a one-stage Bayesian mixed model over all trials' IPD.
    """

    family = "two_step"

    def load(self) -> tuple[LongitudinalData, pd.Series | None]:
        """The LongitudinalData a spec describes, and the true coefficients if simulated.

        Returns
        -------
        data : LongitudinalData
            One row per measurement, with the column roles of ``[data]``.
        truth : pandas.Series or None
            The simulator's true pooled coefficients (``.mu``).

        Raises
        ------
        SpecError
            A column role missing, or a source without a long-format data frame.
        """
        data = self.tables["data"]
        missing = [k for k in required(self.family, "data") if k not in data]
        if missing:
            raise SpecError(f"[data] needs the column roles {missing}")
        obj = load_frame(data, spec_dir=self.spec_dir)
        frame = getattr(obj, "data", obj)
        if not isinstance(frame, pd.DataFrame):
            raise SpecError(f"[data] source {data['source']!r} gives no long-format data "
                            "frame")
        ld = LongitudinalData.from_frame(
            frame, outcome=data["outcome"], treatment=data["treatment"], study=data["study"],
            subject=data["subject"], visit=data["visit"], covariates=data["covariates"],
            center=data["center"], missing_outcome=data["missing_outcome"])
        return ld, getattr(obj, "mu", None)

    def fit(self, inputs: tuple[LongitudinalData, pd.Series | None]) -> dict:
        """Step 1, step 2, the Omega structures and the Bayesian fits (posteriors saved).

        Parameters
        ----------
        inputs : tuple of (LongitudinalData, pandas.Series or None)
            The container and the true coefficients from :meth:`load` (only the data
            are used).

        Returns
        -------
        dict
            ``step1``, ``step2``, ``structures`` (BIC table), ``design``, ``posteriors``
            (name -> fitted DataTree, with the settings used).
        """
        data, _ = inputs
        model, log = self.tables["model"], self.log
        design = {k: model[k] for k in DESIGN_KEYS if k in model}
        reference_visit = self.tables["data"]["reference_visit"]
        log(f"two_step: {data.n_studies} trials, {data.n_subjects} participants, "
            f"{data.n_obs} measurements; visits {list(data.visit_labels)}")
        step1 = per_trial_mixed_models(data, covariance=model["covariance"],
                                       method=model["lmm_method"],
                                       reference_visit=reference_visit, **design)
        n_nan = int(pd.isna(step1.estimates).sum())
        log(f"step 1: {len(step1.names)} coefficients per trial ({n_nan} not estimable: "
            "visits never measured)")
        method, structure = model["method"], model["structure"]
        step2 = step1.mvmeta(method=method, structure=structure, ci_prob=self.ci_prob)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            table = compare_structures(step1.estimates, step1.covariances,
                                       method="ML" if method == "ML" else "REML",
                                       structures=model["compare_structures"],
                                       names=step1.names)
        for w in caught:
            log(f"structures: {w.message}")
            self.notes.append(f"Omega structures: {w.message}")
        best = table.loc[table["bic"].idxmin(), "structure"]
        log(f"step 2 ({method}, {structure}): loglik {step2.loglik:.3f}, BIC "
            f"{step2.bic:.2f}; lowest BIC: {best}")

        priors = self.tables["priors"]
        (self.outdir / "posteriors").mkdir(exist_ok=True)
        posteriors = {}
        if model["bayesian"]:
            bstruct = model.get("bayesian_structure", structure)
            posteriors["synthesis"] = self._posterior(
                "synthesis", f"Bayesian synthesis ({bstruct})",
                lambda: build_mvmeta_model(step1.estimates, step1.covariances,
                                           structure=bstruct, priors=priors.get("synthesis"),
                                           names=step1.names,
                                           study_labels=[str(s) for s in step1.study_labels]),
                priors=priors.get("synthesis"))
        if model["one_stage"]:
            ostruct = model.get("one_stage_structure", structure)
            within = model["one_stage_within"]
            posteriors["one_stage"] = self._posterior(
                "one_stage", f"one-stage Bayesian LMM ({ostruct}, {within})",
                lambda: build_one_stage_lmm(data, structure=ostruct, within=within,
                                            priors=priors.get("one_stage"),
                                            reference_visit=reference_visit, **design),
                priors=priors.get("one_stage"))
        return {"step1": step1, "step2": step2, "structures": table, "n_nan": n_nan,
                "posteriors": posteriors}

    def _posterior(self, name: str, title: str, build: Callable[[], pm.Model], *,
                   priors: Mapping | None) -> tuple[xr.DataTree, str]:
        """``posteriors/<name>.nc``: reused when it matches the spec, else sampled (with
        the default pointwise log likelihood), logged and saved."""
        path = self.outdir / "posteriors" / f"{name}.nc"
        key = self.fingerprint({"name": name, "model": self.tables["model"], "priors": priors})
        if self.reusable(path, key, label=title):
            with xr.open_datatree(path) as tree:
                return tree.load(), title
        sample = self.tables["sampler"]
        self.log(f"{title}: sampling {sample['chains']} x {sample['draws']}...")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            idata = fit(build(), **sample)
        for msg in fit_warnings(caught):
            self.log(f"{title}: warning: {msg}")
            self.notes.append(f"{title}: {msg}")
        self.log_health(title, sampling_summary(idata))
        self.save_posterior(idata, path, key)
        return idata, title

    def write(self, inputs: tuple[LongitudinalData, pd.Series | None], results: dict) -> None:
        """The step-1 and step-2 tables, the side-by-side comparison, figures, report.md.

        Parameters
        ----------
        inputs : tuple of (LongitudinalData, pandas.Series or None)
            The container and, for simulated data, the true pooled coefficients
            (:meth:`load`).
        results : dict
            Step 1, step 2, the structure table and the posteriors (:meth:`fit`).
        """
        data, truth = inputs
        outdir, ci_prob = self.outdir, self.ci_prob
        step1, step2, table = results["step1"], results["step2"], results["structures"]
        method, structure = self.tables["model"]["method"], self.tables["model"]["structure"]
        step1.summary().to_csv(outdir / "step1_estimates.csv", index=False)
        step1.variance_summary().to_csv(outdir / "step1_variances.csv")
        step2.summary().to_csv(outdir / "step2_summary.csv")
        step2.omega_table().to_csv(outdir / "step2_omega.csv", index_label="coef")
        table.to_csv(outdir / "structures.csv", index=False)

        tables = {"two-step": step2.summary()[["estimate", "ci_low", "ci_high"]]}
        comparison = {"two_step": step2.estimate, "two_step_se": step2.se}
        lines_bayes: list[str] = []
        if "synthesis" in results["posteriors"]:
            idata, title = results["posteriors"]["synthesis"]
            tab = coefficient_table(idata, ci_prob=ci_prob)
            draws = new_trial_coefficients(idata,
                                           random_seed=self.tables["sampler"]["random_seed"])
            new = coefficient_table(idata, ci_prob=ci_prob, draws=draws)
            tab.join(new.add_prefix("new_trial_")).to_csv(outdir / "synthesis_summary.csv")
            tables["Bayesian synthesis"] = tab
            comparison.update(bayes_synthesis=tab["estimate"].to_numpy(),
                              bayes_synthesis_sd=tab["sd"].to_numpy())
            lines_bayes.append(f"- {title}: {format_health(sampling_summary(idata))}")
        if "one_stage" in results["posteriors"]:
            idata, title = results["posteriors"]["one_stage"]
            tab = coefficient_table(idata, ci_prob=ci_prob)
            tab.to_csv(outdir / "one_stage_summary.csv")
            tables["one-stage Bayesian"] = tab
            comparison.update(one_stage=tab["estimate"].to_numpy(),
                              one_stage_sd=tab["sd"].to_numpy())
            lines_bayes.append(f"- {title}: {format_health(sampling_summary(idata))}")
        comp = pd.DataFrame(comparison, index=pd.Index(list(step2.names), name="coef"))
        if truth is not None:
            comp.insert(0, "truth", truth.reindex(comp.index).to_numpy())
        comp.to_csv(outdir / "comparison.csv")

        others = {k: v for k, v in tables.items() if k != "two-step"}
        self.save_figure(plots.forest_coefficients(step2, others=others, truth=truth),
                         "forest.png", dpi=90)
        self.save_figure(plots.compare_estimates(tables, truth=truth), "comparison.png",
                         dpi=90)

        lines = [
            "# Two-step IPD meta-analysis of longitudinal trials", "",
            f"- data: {data.n_studies} trials, {data.n_subjects} participants, {data.n_obs} "
            f"measurements; visits {list(data.visit_labels)}",
            f"- step 1: per-trial LMM ({step1.covariance}, {step1.method}); "
            f"{results['n_nan']} trial coefficients not estimable (visits never measured) "
            "passed to step 2 as missing",
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
        if self.notes:
            lines += ["## Warnings and diagnostic notes", "",
                      *[f"- {n}" for n in dict.fromkeys(self.notes)], ""]
        (outdir / "report.md").write_text("\n".join(lines))


#: The family's entry point ``run(spec, outdir, log)`` (:data:`bayes_hte.runners.FAMILIES`).
run = TwoStepRunner.main
