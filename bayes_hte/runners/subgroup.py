"""Runner for ``family = "subgroup"``: the hierarchical population → subgroup → individual
model (Tzimas 2024), its CATE, the risk-stratified table and a convergence report.

Spec keys (besides ``[sampler]``; declared in :data:`bayes_hte.runners.schema.SCHEMA`)::

    [data]
    source = "simulate:tzimas2024"        # or a CSV/Parquet path, "dataset:<name>"
    params = { n = 2000, seed = 1 }
    outcome = "event"
    treatment = "treatment"
    study = "trial"                        # optional: several trials
    covariates = ["age", "anticoagulant", ...]
    truth_logit = "true_te"                # optional: true CATE per patient (log-odds);
    truth_rd = "true_cate"                 #   risk difference. Simulated data: automatic

    [model]
    family = "subgroup"
    subgroups = ["gender"]                 # any columns, several allowed
    interactions = ["age", ...]            # default: every covariate
    individual_effects = true
    individual_form = "marginalized"       # or "non_centered"
    standardize = true
    parameterization = "non_centered"

    [priors]                               # overrides by name, e.g. sigma_eta = { sigma = 0.25 }

    [output]
    dir = "results/..."
    ci_prob = 0.95
    risk_groups = 5

Outputs in ``[output].dir``: ``posterior.nc`` (reload with
``SubgroupHTEModel.load``), ``parameters.csv`` (mean, sd, interval, R-hat rank-normalised
and classic, bulk/tail ESS, MCSE), ``geweke.csv``, ``sampling.csv``,
``cate_summary.csv`` (per patient, both scales), ``subgroup_effects.csv``,
``risk_table.csv``, ``truth_metrics.csv`` (with a truth), PNG figures and
``report.md`` / ``report.html``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_hte import diagnostics, effects, plots
from bayes_hte.data.ipd import IPDData
from bayes_hte.estimators import SubgroupHTEModel
from bayes_hte.evaluation.truth import cate_accuracy
from bayes_hte.runners.base import Runner, load_ipd
from bayes_hte.runners.schema import SpecError

#: The paper's Table 7 (Tzimas 2024): CATE vs truth on the log-odds scale, one data set.
PAPER_TABLE7 = {"correlation": 0.784, "rmse": 0.529, "mae": 0.413, "coverage": 0.998}
#: ``[data]`` keys naming the true CATE columns, and their default columns (simulations).
TRUTH_KEYS = (("truth_logit", "true_te"), ("truth_rd", "true_cate"))


class SubgroupRunner(Runner):
    """``bayes-hte run`` for the subgroup model (:class:`~bayes_hte.SubgroupHTEModel`)."""

    family = "subgroup"

    def load(self) -> tuple[IPDData, np.ndarray | None, np.ndarray | None]:
        """Data container and (when available) the true CATE on both scales.

        Returns
        -------
        data : IPDData
            From ``[data]``.
        truth_logit, truth_rd : numpy.ndarray, shape (patient,), or None
            True CATE on the log-odds and risk-difference scales: the columns named by
            ``truth_logit`` / ``truth_rd``, else ``true_te`` / ``true_cate`` when present.

        Raises
        ------
        SpecError
            A truth column named in ``[data]`` that the data do not have.
        """
        spec_data = self.tables["data"]
        data, frame, _ = load_ipd(spec_data, family=self.family, spec_dir=self.spec_dir)
        truths = []
        for key, default in TRUTH_KEYS:
            col = spec_data.get(key, default if default in frame.columns else None)
            if col is not None and col not in frame.columns:
                raise SpecError(f"[data] {key} = {col!r} is not a column of the data")
            truths.append(None if col is None else frame[col].to_numpy(dtype=float))
        return data, truths[0], truths[1]

    def fit(self, inputs: tuple[IPDData, np.ndarray | None, np.ndarray | None]
            ) -> tuple[SubgroupHTEModel, dict]:
        """Fit the model of ``[model]``; save its posterior (``posterior.nc``).

        Parameters
        ----------
        inputs : tuple of (IPDData, numpy.ndarray or None, numpy.ndarray or None)
            The container and the true CATEs from :meth:`load` (only the data are used).

        Returns
        -------
        model : SubgroupHTEModel
            The fitted model (loaded from ``posterior.nc`` when that file matches the
            spec: an interrupted run, :meth:`~bayes_hte.runners.base.Runner.reusable`).
        health : dict
            :func:`bayes_hte.diagnostics.sampling_summary` and the wall time of the fit
            (NaN when reused).
        """
        data = inputs[0]
        options = {k: v for k, v in self.tables["model"].items() if k != "family"}
        sg = SubgroupHTEModel(priors=self.tables["priors"], **options)
        log = self.log
        log(f"data: {data.n_patients} patients, {data.n_studies} trial(s), "
            f"{int(data.y.sum())} events; covariates {list(data.covariate_names)}; "
            f"subgroups {sg.subgroups}")
        path = self.outdir / "posterior.nc"
        key = self.fingerprint({"priors": self.tables["priors"], **options})
        reused = self.reusable(path, key, label="subgroup model")
        if reused:
            sg, wall = SubgroupHTEModel.load(path), float("nan")
        else:
            wall = self.sample(sg, data, label="subgroup model")
        health = diagnostics.sampling_summary(sg.idata, var_names=sg.diagnostic_vars())
        health["wall_seconds"] = wall
        self.log_health("subgroup model", health, wall=wall)
        if not reused:
            self.save_posterior(sg, path, key)
        return sg, health

    def write(self, inputs: tuple[IPDData, np.ndarray | None, np.ndarray | None],
              results: tuple[SubgroupHTEModel, dict]) -> None:
        """Convergence tables and figures, CATE tables, risk table, truth metrics, report.

        Parameters
        ----------
        inputs : tuple of (IPDData, numpy.ndarray or None, numpy.ndarray or None)
            The container and the true CATE on the log-odds and risk-difference scales
            (:meth:`load`).
        results : tuple of (SubgroupHTEModel, dict)
            The fitted model and its sampling health (:meth:`fit`).
        """
        data, truth_logit, truth_rd = inputs
        sg, health = results
        ci_prob, outdir, log = self.ci_prob, self.outdir, self.log
        groups = int(self.tables["output"]["risk_groups"])
        idata = sg.idata
        rep = self.new_report(
            f"Hierarchical population → subgroup → individual model (Tzimas 2024): "
            f"{data.n_patients} patients in {data.n_studies} trial(s), {int(data.y.sum())} "
            f"events; covariates {', '.join(data.covariate_names)}; treatment interactions "
            f"{', '.join(sg.layout.interaction_names) or 'none'}; subgroupings "
            f"{', '.join(sg.subgroups) or 'none'}; individual layer "
            f"{'on (' + sg.individual_form + ')' if sg.individual_effects else 'off'}. "
            f"Intervals are equal-tailed at {ci_prob:.0%}. CATE on the log-odds scale is the "
            "marginal one (individual deviations averaged out); positive = more events "
            "under treatment.")

        # ------------------------------------------------------------ convergence
        names = sg.diagnostic_vars()
        params = diagnostics.diagnostics_table(idata, var_names=names, ci_prob=ci_prob)
        params.to_csv(outdir / "parameters.csv", index_label="parameter")
        gew = diagnostics.geweke(idata, var_names=names)
        gew.to_csv(outdir / "geweke.csv", index_label="parameter")
        health = dict(health)
        health["max_abs_geweke"] = float(np.nanmax(np.abs(gew.to_numpy())))
        health["share_abs_geweke_over_2"] = float(np.mean(np.abs(gew.to_numpy()) > 2))
        pd.DataFrame([health]).to_csv(outdir / "sampling.csv", index=False)
        rep.heading("Sampling")
        rep.text("Divergent transitions after tuning, worst rank-normalised R-hat, smallest bulk "
                 "and tail ESS over the population, subgroup and trial parameters, bulk ESS per "
                 "second of sampling, wall time of the fit (compilation, sampling, log-likelihood, "
                 "posterior predictive) and the Geweke extremes. Targets: 0 divergences, "
                 "R-hat <= 1.01.")
        rep.table(pd.DataFrame([health]).T.rename(columns={0: "value"}))
        rep.heading("Convergence diagnostics")
        rep.text("r_hat: rank-normalised split R-hat (Vehtari et al. 2021); r_hat_classic: "
                 "Gelman–Rubin potential scale reduction on split chains; ess_bulk / ess_tail; "
                 "Monte Carlo standard errors of the mean and SD.")
        rep.table(params[["mean", "sd", params.columns[2], params.columns[3], "r_hat",
                          "r_hat_classic", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd"]])
        rep.heading("Geweke z-scores", level=3)
        rep.text("First 10 % against last 50 % of each chain, variances from AR spectral "
                 "densities at zero (as R coda's geweke.diag); |z| > 2 flags a chain whose start "
                 "differs from its end (expect about 5 % by chance).")
        rep.table(gew)
        rep.heading("Prior sensitivity", level=3)
        self.prior_sensitivity("subgroup model", sg)
        captions = {"trace": "trace plots (left: density per chain)",
                    "rank": "rank plots (uniform ranks per chain = good mixing)",
                    "density": "posterior densities, one colour per chain"}
        if idata["posterior"].sizes["chain"] < 2:  # rank plots compare chains
            captions.pop("rank")
            self.notes.append("subgroup model: no rank plot: 1 chain (rank plots compare "
                              "chains)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            paths = plots.convergence_plots(idata, outdir, prefix="subgroup",
                                            var_names=sg.diagnostic_vars(max_size=12),
                                            kinds=tuple(captions), grid=True, dpi=70)
        for path, caption in zip(paths, captions.values(), strict=True):
            rep.image(path, caption)
        if "posterior_predictive" in idata:
            self.save_figure(plots.plot_ppc_event_rates(idata, data, ci_prob=ci_prob),
                             "ppc_event_rates.png", "observed event rate per trial and arm "
                             "(dots) against the posterior predictive interval")

        # ------------------------------------------------------------ estimands
        cate = sg.cate_logit()
        ite = sg.ite()
        tab = effects.summarize(cate, ci_prob=ci_prob).add_prefix("logit_")
        tab_rd = effects.summarize(ite, ci_prob=ci_prob).add_prefix("rd_")
        cate_table = pd.concat([tab, tab_rd], axis=1)
        cate_table["baseline_risk"] = sg.baseline_risk().mean(("chain", "draw")).values
        if truth_logit is not None:
            cate_table["true_logit"] = truth_logit
        if truth_rd is not None:
            cate_table["true_rd"] = truth_rd
        cate_table.to_csv(outdir / "cate_summary.csv")

        if sg.subgroups:
            rows = []
            for g in sg.subgroups:
                s = effects.summarize(sg.subgroup_effects(g), ci_prob=ci_prob).reset_index()
                s = s.rename(columns={g: "level"})
                s.insert(0, "subgrouping", g)
                m = effects.summarize(sg.cate(g, scale="logit"), ci_prob=ci_prob).reset_index(
                    drop=True).add_prefix("mean_cate_")
                rows.append(pd.concat([s, m], axis=1))
            sub = pd.concat(rows, ignore_index=True)
            sub.to_csv(outdir / "subgroup_effects.csv", index=False)
            rep.heading("Subgroup treatment effects")
            rep.text("mean/sd/ci: the subgroup treatment effect tau_k (log-odds; the paper's "
                     "te_gender = b_trt + re_trt[k]) at average covariates; mean_cate_*: the "
                     "average log-odds CATE of the subgroup's patients.")
            rep.table(sub, index=False)
            fig = plots.plot_subgroup_effects(sg.subgroup_effects(), ci_prob=ci_prob,
                                              reference=idata["posterior"]["mu_tau"])
            self.save_figure(fig, "subgroup_effects.png", "subgroup treatment effects; band: "
                             "population treatment effect mu_tau")

        risk = sg.baseline_risk()
        rt = sg.risk_table(groups=groups, scale="logit", ci_prob=ci_prob, truth=truth_logit)
        rt_rd = sg.risk_table(groups=groups, scale="risk_difference", ci_prob=ci_prob,
                              truth=truth_rd)
        pd.concat({"logit": rt, "risk_difference": rt_rd}, names=["scale"]).to_csv(
            outdir / "risk_table.csv")
        rep.heading("CATE by group of predicted baseline risk")
        rep.text("Patients in equal-sized groups of posterior-mean baseline risk (Q1 lowest; "
                 "Tzimas 2024, Table 8). mean_cate and ci_low/ci_high: the group's average CATE "
                 "and its interval; cate_sd: spread of the patients' posterior-mean CATE in the "
                 "group (the paper's te_sd); patient_ci_low/high: average of the patients' own "
                 "interval bounds (how the paper's te_lower/te_upper read). Log-odds scale:")
        rep.table(rt)
        rep.text("Risk-difference scale:")
        rep.table(rt_rd)
        fig = plots.plot_cate_by_risk(cate, risk, groups=groups, truth=truth_logit,
                                      ci_prob=ci_prob)
        self.save_figure(fig, "cate_by_risk.png", "CATE (log-odds) by group of baseline risk")

        # ------------------------------------------------------------ truth
        if truth_logit is not None or truth_rd is not None:
            metrics = {}
            if truth_logit is not None:
                metrics["logit"] = cate_accuracy(cate, truth_logit, ci_prob=ci_prob)
            if truth_rd is not None:
                metrics["risk_difference"] = cate_accuracy(ite, truth_rd, ci_prob=ci_prob)
            mt = pd.DataFrame(metrics)
            if "logit" in mt:
                mt["paper_table7"] = pd.Series(PAPER_TABLE7)
            mt.to_csv(outdir / "truth_metrics.csv", index_label="metric")
            rep.heading("CATE against the truth")
            rep.text("Posterior-mean CATE against the simulation's true CATE: correlation, RMSE, "
                     "MAE, mean error, and coverage / mean width of the per-patient intervals "
                     "(the paper's Table 7, log-odds scale, in the last column).")
            rep.table(mt)
            if truth_logit is not None:
                self.save_figure(plots.plot_cate_vs_truth(cate, truth_logit),
                                 "cate_vs_truth.png", "posterior-mean against true CATE")
            log("CATE vs truth (log-odds): " + ", ".join(
                f"{k} {v:.3f}" for k, v in metrics.get("logit", pd.Series(dtype=float)).items()))


#: The family's entry point ``run(spec, outdir, log)`` (:data:`bayes_hte.runners.FAMILIES`).
run = SubgroupRunner.main

