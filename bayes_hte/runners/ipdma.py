"""Runner for ``family = "ipdma"``: fit a grid of structures x learners and report.

Spec keys (declared in :data:`bayes_hte.runners.schema.SCHEMA`)::

    [model]
    family = "ipdma"
    heterogeneity = ["naive", "random_intercept", ...]   # or one string
    learner = ["s", "t"]
    outcome = "binary"                                   # or "time_to_event"
    parameterization = "auto"
    # time-to-event options: baseline, n_intervals, cuts, horizon

    [priors]                                             # per structure, or "all"
    random_intercept = { tau_alpha = { dist = "HalfNormal", sigma = 0.5 } }
    # each model takes the priors of its own parameters (a T-learner has no gamma); a
    # name that no model of the structure has is refused before the first fit

    [evaluation]                                         # optional
    compare = true            # c-for-benefit, calibration, PAPE, ... per model
    cv = "iecv"               # leave-one-trial-out validation (or "none")

Outputs in ``[output].dir``: ``posteriors/<label>.nc``, ``ite_summary.csv``,
``parameters.csv``, ``diagnostics.csv``, ``loo_compare.csv``, ``evaluation_*.csv`` /
``evaluation_*.png`` (with ``[evaluation] compare = true``), ``report.md`` /
``report.html`` with PNG figures.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_hte import diagnostics, effects, plots
from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.estimators import IPDMetaModel
from bayes_hte.inference import large_arrays_on_heap
from bayes_hte.models.priors import priors_for_models
from bayes_hte.options import check_sampler_settings
from bayes_hte.report import Report
from bayes_hte.runners.base import Log, Runner, load_ipd
from bayes_hte.runners.ipd_aggregate import (
    load_aggregate,
    loo_view,
    true_marginal_rd,
    write_aggregate_section,
)
from bayes_hte.runners.schema import EVALUATION, UNSET, SpecError, check_keys
from bayes_hte.workflows import ITEComparison, check_iecv, evaluate_models
from bayes_hte.workflows.compare import METRIC_ORDER
from bayes_hte.workflows.iecv import (
    BackgroundIECV,
    process_context,
    r_hat_sentence,
    submit_iecv,
)
from bayes_hte.workflows.scoring import thin_draws

#: Time-to-event options of ``[model]`` passed on to :class:`~bayes_hte.IPDMetaModel`.
TTE_OPTIONS = ("baseline", "cuts", "n_intervals", "horizon")
#: ``[evaluation]`` keys passed on to :func:`bayes_hte.workflows.iecv.iecv`.
IECV_OPTIONS = ("draws", "tune", "chains", "sampler", "random_seed", "target_accept",
                "mass_matrix", "workers", "recalibrate")
#: Truth columns of simulated data: the ITE in an average trial, in the patient's trial.
TRUTH_COLUMNS = ("true_ite_average", "true_ite")


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def _plot_kinds(idata, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The convergence figures defined for a fit: rank plots need two chains."""
    one = idata["posterior"].sizes["chain"] < 2
    return tuple(k for k in kinds if not (one and k == "rank"))


def _post_fit_work(tasks: list[dict]) -> dict[str, dict]:
    """Each fit's trace and rank plots and prior-sensitivity table, from its saved
    posterior (the body of the second process started by :meth:`IPDMARunner.write`).

    Parameters
    ----------
    tasks : list of dict
        ``label``, ``path`` (the posterior file), ``outdir``, ``kinds`` and
        ``var_names`` of each fit (:func:`bayes_hte.plots.convergence_plots`).

    Returns
    -------
    dict of str to dict
        By label: ``figures`` (list of pathlib.Path, in the order of ``kinds``) and
        ``sensitivity`` (the :meth:`~bayes_hte.IPDMetaModel.prior_sensitivity` table, or
        the ``ValueError`` / ``KeyError`` that said why it cannot be computed).
    """
    out = {}
    with large_arrays_on_heap():
        for task in tasks:
            m = IPDMetaModel.load(task["path"])
            figures = plots.convergence_plots(
                m.idata, task["outdir"], prefix=task["label"], kinds=task["kinds"],
                grid=True, var_names=task["var_names"])
            try:
                sensitivity = m.prior_sensitivity()
            except (ValueError, KeyError) as err:
                sensitivity = err
            out[task["label"]] = {"figures": figures, "sensitivity": sensitivity}
    return out


class IPDMARunner(Runner):
    """``bayes-hte run`` for one-stage IPD meta-analyses (:class:`~bayes_hte.IPDMetaModel`)."""

    family = "ipdma"
    #: Aggregate-data trials of the spec (:mod:`bayes_hte.runners.ipd_aggregate`).
    aggregate = None
    #: The cross-validation running alongside the main fits (:meth:`_start_iecv`).
    _iecv: BackgroundIECV | None = None

    def load(self) -> tuple[IPDData, np.ndarray | None]:
        """The data container and, for simulations, the true ITE in an average trial.

        Returns
        -------
        data : IPDData
            From ``[data]``.
        truth : numpy.ndarray, shape (patient,), or None
            Column ``true_ite_average`` (else ``true_ite``) of simulated data.
        """
        data, frame, _ = load_ipd(self.tables["data"], family=self.family,
                                  spec_dir=self.spec_dir)
        truth = next((frame[c].to_numpy() for c in TRUTH_COLUMNS if c in frame.columns), None)
        self.log(f"data: {data.n_patients} patients, {data.n_studies} studies, "
                 f"{int(data.y.sum())} events, covariates {list(data.covariate_names)}")
        self.aggregate = load_aggregate(self.tables["data"], self.tables["model"],
                                        spec_dir=self.spec_dir)
        if self.aggregate is not None:
            if self.tables["evaluation"].get("cv") == "iecv":
                raise SpecError("[evaluation] cv = 'iecv' refits on the IPD alone; with "
                                "aggregate-data trials use cv = 'none'")
            self.log(f"aggregate data: {self.aggregate.arms.k} trials "
                     f"{list(self.aggregate.arms.labels)}, "
                     f"{self.aggregate.integration_points} integration points each")
            self._truth_rd = true_marginal_rd(frame, study=data.study or "")
        return data, truth

    def fit(self, inputs: tuple[IPDData, np.ndarray | None]) -> dict[str, IPDMetaModel]:
        """Fit every structure x learner of ``[model]``; save each posterior as it finishes.

        Parameters
        ----------
        inputs : tuple of (IPDData, numpy.ndarray or None)
            The container and the true ITE, from :meth:`load` (only the data are used).

        Returns
        -------
        dict of str to IPDMetaModel
            Fitted models by label (e.g. ``"RI-S"``), in grid order. A model whose
            posterior file in ``posteriors/`` matches the spec (an interrupted run,
            :meth:`~bayes_hte.runners.base.Runner.reusable`) is loaded, not refitted.
        """
        data, truth = inputs
        model, priors = self.tables["model"], self.tables["priors"]
        hets, learners = _as_list(model["heterogeneity"]), _as_list(model["learner"])
        options = {k: model[k] for k in TTE_OPTIONS if k in model}
        (self.outdir / "posteriors").mkdir(exist_ok=True)
        fitted: dict[str, IPDMetaModel] = {}
        grid = [dict(heterogeneity=het, learner=learner,
                     outcome=model.get("outcome", data.outcome_type),
                     parameterization=model["parameterization"], **options)
                for het in hets for learner in learners]
        # a structure's priors (else "all") for both learners: each model takes those of
        # its own parameters; every name is checked before the first fit
        defaults = [IPDMetaModel(**g).default_priors() for g in grid]
        keys = [g["heterogeneity"] if g["heterogeneity"] in priors else "all" for g in grid]
        try:
            for key in set(keys):
                group = [k for k, kk in enumerate(keys) if kk == key]
                own = priors_for_models(priors.get(key, {}), {k: defaults[k] for k in group})
                for k in group:
                    grid[k]["priors"] = own[k]
            models = [IPDMetaModel(**settings) for settings in grid]
        except ValueError as err:
            raise SpecError(f"[priors] {err}") from err
        self._start_iecv(data, models, truth)  # unfitted copies, before the fits below
        for k, (settings, m) in enumerate(zip(grid, models, strict=True), start=1):
            label = f"[{k}/{len(grid)}] {m.label}"
            path = self.outdir / "posteriors" / f"{m.label}.nc"
            extra = {} if self.aggregate is None else self.aggregate.digests | {
                "integration_points": self.aggregate.integration_points}
            key = self.fingerprint(settings | extra)
            if self.reusable(path, key, label=label):
                fitted[m.label] = IPDMetaModel.load(path)
                self.log_health(label, diagnostics.sampling_summary(fitted[m.label].idata))
                continue
            wall = self.sample(m, data, label=label, fit_options=None if self.aggregate is None
                               else self.aggregate.fit_options())
            self.log_health(label, diagnostics.sampling_summary(m.idata), wall=wall)
            self.save_posterior(m, path, key)
            fitted[m.label] = m
        return fitted

    def _start_iecv(self, data: IPDData, models: list[IPDMetaModel],
                    truth: np.ndarray | None) -> None:
        """Start the ``[evaluation]`` cross-validation in another process, before the main
        fits, when it is asked for and possible (:func:`~bayes_hte.workflows.iecv.submit_iecv`:
        it refits from the data, so it runs alongside the main fits, and scores its
        predictions there as :func:`evaluate_fitted` would); otherwise
        :func:`evaluate_fitted` skips it or runs it itself."""
        spec = evaluation_spec(self.tables["evaluation"])
        if not spec["compare"] or spec["cv"] != "iecv" or not models:
            return
        try:
            check_iecv(data, {m.label: m.heterogeneity for m in models})
        except DataError:
            return  # evaluate_fitted says why, after the main fits
        self._iecv = submit_iecv(data, {m.label: m for m in models},
                                 options=iecv_options(spec),
                                 score=_scoring(data, truth, spec, self.ci_prob))
        self.log("evaluation: internal-external cross-validation started in a second "
                 "process, alongside the main fits")

    def run(self) -> None:
        """:meth:`Runner.run`, stopping a cross-validation process left running by an
        error."""
        try:
            super().run()
        finally:
            if self._iecv is not None:
                self._iecv.cancel()

    def write(self, inputs: tuple[IPDData, np.ndarray | None],
              results: dict[str, IPDMetaModel]) -> None:
        """ITE tables, diagnostics, LOO, the evaluation, figures and the report sections.

        Parameters
        ----------
        inputs : tuple of (IPDData, numpy.ndarray or None)
            The container and the true ITE of simulated data (:meth:`load`).
        results : dict of str to IPDMetaModel
            The fitted models by label (:meth:`fit`).
        """
        data, truth = inputs
        fitted, ci_prob, outdir = results, self.ci_prob, self.outdir
        # the trace and rank plots and the prior sensitivity (a third of what follows the
        # fits) are made from the posteriors fit() saved, in a second process while this
        # one makes the tables
        tasks = {label: {"label": label, "path": self.outdir / "posteriors" / f"{label}.nc",
                         "outdir": outdir, "kinds": _plot_kinds(m.idata, ("trace", "rank")),
                         "var_names": diagnostics.population_vars(m.idata, max_size=12)}
                 for label, m in fitted.items()}
        pool = ProcessPoolExecutor(max_workers=1, mp_context=process_context())
        drawn = pool.submit(_post_fit_work, list(tasks.values()))
        pool.shutdown(wait=False)
        rep = self.new_report(
            f"{data.n_patients} patients in {data.n_studies} studies, {int(data.y.sum())} "
            f"events; covariates: {', '.join(data.covariate_names)}. Intervals are "
            f"equal-tailed at {ci_prob:.0%}.")
        ites, ites_new, diag_tables = self._ite_tables(fitted, truth)
        if self.aggregate is not None:
            truths = [t for t in (getattr(self, "_truth_rd", None), self.aggregate.true_rd)
                      if t is not None]
            write_aggregate_section(fitted, self.aggregate, outdir=outdir, rep=rep,
                                    ci_prob=ci_prob,
                                    truth=pd.concat(truths) if truths else None)
        self._loo(fitted)
        compared = bool(self.tables["evaluation"]["compare"] and len(fitted) > 0)
        if compared:  # its section shows the ITE distributions per model (ite_by_model)
            evaluate_fitted(fitted, data, truth=truth, spec=self.tables["evaluation"],
                            outdir=outdir, rep=rep, log=self.log, ci_prob=ci_prob,
                            cv_result=self._iecv,
                            ite_draws={k: (ites[k], ites_new[k]) for k in ites},
                            diagnostics_tables=diag_tables)
        else:
            rep.heading("ITE distributions")
        self.save_figure(plots.plot_ite_distribution(ites, truth=truth),
                         "ite_distribution.png", None if compared else
                         "Posterior-mean ITE per patient for each model (grey: true ITE "
                         "when simulated)", dpi=90)
        rep.heading("Per-model diagnostics")
        for label, m in fitted.items():
            rep.heading(label, level=3)
            rep.table(diag_tables[label]
                      [["mean", "sd", "ess_bulk", "ess_tail", "r_hat", "r_hat_classic"]])
            for note in diag_tables[label].attrs.get("notes", []):
                rep.text(f"{note}.")
            done = drawn.result()[label]
            self.prior_sensitivity(label, m, computed=done["sensitivity"])
            if "rank" not in tasks[label]["kinds"]:
                self.notes.append(f"{label}: no rank plot: 1 chain (rank plots compare "
                                  "chains)")
            for path in done["figures"]:
                rep.image(path, f"{label}: {path.stem.split('_')[-1]} plot")
            if "posterior_predictive" in m.idata and data.outcome_type == "binary":
                self.save_figure(
                    plots.plot_ppc_event_rates(m.idata, data, title=f"{label}: event rates"),
                    f"{label}_ppc.png", f"{label}: observed event rate per trial and arm "
                    "(dots) against the posterior predictive interval")
            if data.outcome_type == "time_to_event":
                times = np.linspace(0, np.quantile(m.data.t, 0.98), 60)
                self.save_figure(
                    plots.plot_km_ppc(m.predictive_survival(times), m.data, title=label),
                    f"{label}_km_ppc.png", f"{label}: Kaplan-Meier per trial and arm against "
                    "posterior predictive survival")

    def _ite_tables(self, fitted: dict[str, IPDMetaModel], truth) -> tuple[dict, dict, dict]:
        """``ite_summary.csv``, ``parameters.csv``, ``diagnostics.csv`` and their section;
        returns each model's ITE draws, its new-trial ITE draws thinned as the evaluation
        scores them (:func:`~bayes_hte.workflows.scoring.thin_draws`) and its
        diagnostics table."""
        ci_prob, outdir = self.ci_prob, self.outdir
        ites, ites_new, rows, params, health_rows, diag_tables = {}, {}, [], [], [], {}
        max_draws = evaluation_spec(self.tables["evaluation"])["max_draws"]
        for label, m in fitted.items():
            ite = m.ite()
            ites[label] = ite
            tab = effects.summarize(ite, ci_prob=ci_prob)
            ite_new = m.ite(new_trial=True)
            new = effects.summarize(ite_new, ci_prob=ci_prob)
            # kept (thinned as the evaluation scores them) so it is not computed again
            ites_new[label] = thin_draws(ite_new, max_draws)
            del ite_new
            tab["pi_low"], tab["pi_high"] = new["ci_low"].to_numpy(), new["ci_high"].to_numpy()
            tab.insert(0, "model", label)
            # each patient's trial, to join the table back to the data (patient = row
            # position in the data)
            tab.insert(1, "study", np.asarray(m.data.study_labels, dtype=object)[
                m.data.study_idx])
            rows.append(tab.reset_index())
            p = diagnostics.diagnostics_table(m.idata, ci_prob=ci_prob)
            diag_tables[label] = p
            p = p.copy()
            p.insert(0, "model", label)
            params.append(p)
            health = diagnostics.sampling_summary(m.idata, table=diag_tables[label])
            if truth is not None:
                est = ite.mean(("chain", "draw")).to_numpy()
                health["ite_corr_truth"] = float(np.corrcoef(est, truth)[0, 1])
                health["ite_rmse_truth"] = float(np.sqrt(np.mean((est - truth) ** 2)))
                # the table's equal-tailed intervals (effects.interval_coverage's)
                health["ite_ci_coverage"] = float(np.mean((truth >= tab["ci_low"])
                                                          & (truth <= tab["ci_high"])))
                health["ite_pi_coverage"] = float(np.mean((truth >= tab["pi_low"])
                                                          & (truth <= tab["pi_high"])))
            health_rows.append({"model": label, **health})
        pd.concat(rows, ignore_index=True).to_csv(outdir / "ite_summary.csv", index=False)
        pd.concat(params).to_csv(outdir / "parameters.csv", index_label="parameter")
        health = pd.DataFrame(health_rows).set_index("model")
        health.to_csv(outdir / "diagnostics.csv")
        self.report.heading("Sampling diagnostics")
        self.report.text(
            "Divergent transitions after tuning, worst rank-normalised R-hat, smallest bulk "
            "and tail ESS over the population-level parameters, bulk ESS per second of "
            "sampling, and the sampler settings each fit used (target acceptance, mass "
            "matrix and form of the trial intercepts: what 'auto' chose). Targets: 0 "
            "divergences, R-hat <= 1.01.")
        self.report.table(health)
        return ites, ites_new, diag_tables

    def _loo(self, fitted: dict[str, IPDMetaModel]) -> None:
        """``loo_compare.csv`` (:func:`bayes_hte.diagnostics.loo_table`) and its section:
        elpd_loo with its Pareto k reliability flag and ArviZ's warnings, also logged."""
        self.report.heading("Model comparison (PSIS-LOO)")
        try:
            loo = diagnostics.loo_table({k: loo_view(m.idata) for k, m in fitted.items()})
        except Exception as err:  # noqa: BLE001 - reported, not hidden
            loo = pd.DataFrame({"error": [str(err)]})
            self.log(f"LOO: failed: {err}")
            self.notes.append(f"PSIS-LOO failed: {err}")
            loo.to_csv(self.outdir / "loo_compare.csv")
            self.report.text(f"PSIS-LOO could not be computed: {err}")
            return
        loo.to_csv(self.outdir / "loo_compare.csv")
        self.report.text(
            "Expected log pointwise predictive density (elpd_loo) per model, ranked; "
            "elpd_diff and dse are relative to the best model. pareto_k_bad counts the "
            "observations whose Pareto k exceeds pareto_k_threshold (0.7 for large posterior "
            "samples; Vehtari et al. 2024): for them the importance-sampling estimate is "
            "unreliable, and so is the model's elpd_loo (loo_reliable = False).")
        self.report.table(loo.drop(columns="warning"))
        for label, row in loo.iterrows():
            if row["warning"]:
                self.log(f"LOO {label}: {row['warning']}")
                self.notes.append(f"PSIS-LOO of {label}: {row['warning']}")
                self.report.text(f"**{label}**: {row['warning']}")


#: The family's entry point ``run(spec, outdir, log)`` (:data:`bayes_hte.runners.FAMILIES`).
run = IPDMARunner.main


# --------------------------------------------------------------------------- evaluation
def _fmt_interval(est, lo, hi) -> str:
    if not np.isfinite(est):
        return ""
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{est:.3g} [{lo:.3g}, {hi:.3g}]"
    return f"{est:.3g}"


def formatted_summary(table: pd.DataFrame, *, validation: str, trial: str) -> pd.DataFrame:
    """Wide table of ``estimate [ci_low, ci_high]`` strings (models x metrics) for reports.

    Parameters
    ----------
    table : pandas.DataFrame
        The tidy metric table of :class:`~bayes_hte.workflows.ITEComparison`.
    validation : {"in-sample", "iecv"}
        Which validation's rows.
    trial : str
        ``"all"`` (in-sample), ``"pooled"``, ``"median"`` or a trial label.

    Returns
    -------
    pandas.DataFrame
        Models (in fitting order) x metrics, cells formatted to 3 significant digits.
    """
    sub = table[(table["validation"] == validation) & (table["trial"] == trial)]
    cells = sub.assign(cell=[_fmt_interval(e, lo, hi) for e, lo, hi in
                             zip(sub["estimate"], sub["ci_low"], sub["ci_high"], strict=True)])
    wide = cells.pivot(index="model", columns="metric", values="cell")
    order = [m for m in METRIC_ORDER if m in wide.columns]
    return wide.loc[list(dict.fromkeys(sub["model"])), order]


def evaluation_spec(spec: Mapping | None) -> dict:
    """The ``[evaluation]`` table checked and completed with its defaults.

    Parameters
    ----------
    spec : mapping or None
        The table as written.

    Returns
    -------
    dict
        Every key of :data:`~bayes_hte.runners.schema.EVALUATION` that has a default,
        overridden by ``spec``.

    Raises
    ------
    SpecError
        An unknown key, ``cv`` not ``"iecv"`` or ``"none"``, or a sampler setting of
        the IECV fits outside its values (:func:`bayes_hte.options.check_sampler_settings`).
    """
    spec = dict(spec or {})
    check_keys(spec, EVALUATION, "evaluation", family="ipdma")
    spec = {**{k: v for k, v in EVALUATION.items() if v is not UNSET}, **spec}
    if spec["cv"] not in ("iecv", "none"):
        raise SpecError(f"[evaluation] cv must be 'iecv' or 'none', got {spec['cv']!r}")
    try:
        check_sampler_settings(spec)
    except ValueError as err:
        raise SpecError(f"[evaluation] {err}") from None
    return spec


def iecv_options(spec: Mapping) -> dict:
    """The keywords of :func:`~bayes_hte.workflows.iecv.iecv` in an ``[evaluation]``
    table.

    Parameters
    ----------
    spec : mapping
        The table completed by :func:`evaluation_spec`.

    Returns
    -------
    dict
        Its keys among :data:`IECV_OPTIONS` (sampler settings including
        ``mass_matrix``, ``workers``, ``random_seed``, ``recalibrate``).
    """
    return {k: spec[k] for k in IECV_OPTIONS if k in spec}


def _scoring(data: IPDData, truth: np.ndarray | None, spec: Mapping, ci_prob: float) -> dict:
    """The scoring keywords of an ``[evaluation]`` (completed by :func:`evaluation_spec`)
    shared by :func:`~bayes_hte.workflows.evaluate_models` and
    :func:`~bayes_hte.workflows.scoring.score_iecv`: the truths (a ``true_ite`` column
    of simulated data is each patient's own-trial ITE), quantile groups, interval
    probability, seed and the most draws scored per model."""
    return {"truth": truth,
            "truth_new": "true_ite" if "true_ite" in data.frame.columns else None,
            "groups": int(spec["groups"]), "ci_prob": ci_prob,
            "random_state": spec.get("random_seed"), "max_draws": spec["max_draws"]}


def evaluate_fitted(fitted: Mapping[str, IPDMetaModel], data: IPDData, *,
                    truth: np.ndarray | None = None, spec: Mapping | None = None,
                    outdir: Path, rep: Report, log: Log, ci_prob: float = 0.95,
                    cv_result: BackgroundIECV | None = None,
                    ite_draws: Mapping | None = None,
                    diagnostics_tables: Mapping | None = None) -> ITEComparison:
    """The ``[evaluation]`` step of the ``ipdma`` runner: score the models and report.

    Spec keys (all optional besides ``compare``; defaults in
    :data:`bayes_hte.runners.schema.EVALUATION`)::

        [evaluation]
        compare = true
        cv = "iecv"            # or "none"
        draws = 1000           # IECV fits: those of a main fit (valid chains, R-hat
        tune = 1000            # reported per refit)
        chains = 4
        sampler = "nutpie"
        mass_matrix = "auto"   # IECV fits' mass matrix, resolved per model as in fit()
        workers = 1            # processes for the IECV fits
        random_seed = 1
        recalibrate = true
        groups = 5             # quantile groups for calibration
        max_draws = 500        # posterior draws used for per-draw metrics
        loo = false            # LOO rows in the metric table (the runner reports LOO)

    Writes ``evaluation_*.csv`` and ``evaluation_*.png`` to ``outdir`` and adds an
    "Evaluation of the ITE models" section to the report ``rep``. A column
    ``true_ite`` in the data frame (simulations) is used as the own-trial truth. When
    the data cannot be cross-validated by trial, the in-sample evaluation is still
    written and the log and report say why there is no IECV.

    Parameters
    ----------
    fitted : mapping of str to IPDMetaModel
        Fitted models by label.
    data : IPDData
        The data they were fitted on.
    truth : numpy.ndarray, shape (patient,), optional
        True ITE in an average trial (simulations).
    spec : mapping, optional
        The ``[evaluation]`` table.
    outdir : pathlib.Path
        Output folder.
    rep : Report
        The report to add the section to.
    log : callable
        Progress messages.
    ci_prob : float
        Probability of the reported intervals.
    cv_result : BackgroundIECV, optional
        The cross-validation of these models started before their fits
        (:func:`~bayes_hte.workflows.iecv.submit_iecv`): waited for after the in-sample
        metrics and scored instead of refitting here (its per-refit log lines are written
        when it is collected).
    ite_draws : mapping, optional
        The models' ITE draws already computed (``evaluate_models(ite_draws=...)``).
    diagnostics_tables : mapping, optional
        The models' diagnostics tables already computed
        (``evaluate_models(diagnostics_tables=...)``).

    Returns
    -------
    ITEComparison
        From :func:`bayes_hte.workflows.evaluate_models`.

    Raises
    ------
    SpecError
        An unknown key, or ``cv`` not ``"iecv"`` or ``"none"``.
    """
    spec = evaluation_spec(spec)
    cv, cv_options = spec["cv"], iecv_options(spec)
    skipped = None
    if cv == "iecv":
        try:
            check_iecv(data, {k: m.heterogeneity for k, m in fitted.items()})
        except DataError as err:
            # the main fits are done: report the in-sample evaluation, say why no IECV
            skipped = str(err)
            log(f"evaluation: IECV skipped: {skipped}")
            cv = "none"
    start = time.perf_counter()
    # a running cross-validation is waited for inside, after the in-sample metrics
    result = evaluate_models(
        fitted, data, cv=cv, cv_options=cv_options,
        loo=bool(spec["loo"]), log=log, cv_result=cv_result if cv == "iecv" else None,
        ite_draws=ite_draws,
        diagnostics_tables=diagnostics_tables,
        **_scoring(data, truth, spec, ci_prob))
    paths = result.save(outdir) | plots.save_comparison_figures(result, outdir)
    total = time.perf_counter() - start
    _report_evaluation(result, data, rep, paths, groups=int(spec["groups"]), ci_prob=ci_prob,
                       skipped=skipped)
    log(f"evaluation: {total:.0f} s in total; tables {paths['table'].name}")
    return result


def _report_evaluation(result: ITEComparison, data: IPDData, rep: Report, paths: dict, *,
                       groups: int, ci_prob: float, skipped: str | None) -> None:
    rep.heading("Evaluation of the ITE models")
    rep.text(
        "Discrimination (c-for-benefit: treated and control patients matched 1:1 on the "
        "rank of predicted benefit within each trial, Harrell's C between predicted and "
        "observed pair benefit), calibration for benefit (least-squares intercept and slope "
        f"of observed on predicted benefit over {groups} quantile "
        "groups; E-for-benefit Eavg / E50 / E90: mean, median and 90th percentile of the "
        "distance between the loess curve of observed on predicted pair benefit and the "
        "diagonal, in the c-for-benefit pairs), ranking (RATE of Yadlowsky et al.: AUTOC "
        "and Qini, areas under the TOC curve, the benefit among the top-ranked fraction "
        "minus the average benefit; 0 = no better than random), policy value of the "
        "rule 'treat if predicted benefit > 0' (PAPE of Imai & "
        "Li against random treatment of the same share; risk reduction against treat-all "
        "and treat-none; positive = fewer events) and, for simulated data, the MSE and "
        "interval coverage of the ITE. Cells: metric of the posterior-mean ITE "
        f"[{ci_prob:.0%} interval of the metric computed per posterior draw; it describes "
        "the spread over the posterior and can exclude the estimate, e.g. per-draw MSEs "
        "add the posterior variance and per-draw slopes are attenuated by its noise].")
    rep.heading("In-sample", level=3)
    rep.table(formatted_summary(result.table, validation="in-sample", trial="all"))
    if skipped:
        rep.text(f"Internal-external cross-validation was requested but skipped: {skipped}.")
    if result.iecv is not None:
        it = result.iecv
        rep.heading("Internal-external cross-validation", level=3)
        so = it.options["sampler"]
        rep.text(
            f"Each of the {data.n_studies} trials held out in turn; every model refitted on "
            f"the others ({so['chains']} chain(s) x {so['draws']} draws after {so['tune']} "
            f"tuning, sampler {so['sampler']}), intercept recalibrated in the held-out trial "
            "with the linear predictor as an offset (not for the naive model), metrics "
            f"computed on the held-out patients. {len(it.fits)} fits took "
            f"{it.wall_seconds:.0f} s wall time ({it.options['workers']} worker process(es)), "
            f"{int(it.fits['divergences'].sum())} divergences in total, smallest bulk ESS "
            f"{it.fits['min_ess_bulk'].min():.0f}{r_hat_sentence(it.fits['max_r_hat'])}."
            + "".join(f" {n[0].upper()}{n[1:]}." for n in it.notes)
            + " Pooled over the held-out predictions:")
        rep.table(formatted_summary(result.table, validation="iecv", trial="pooled"))
        rep.text("Median over the held-out trials (as Bouvier et al. 2024, Table 2):")
        rep.table(result.summary(validation="iecv", trial="median"))
        rep.image(paths["calibration_iecv"],
                  "Calibration for benefit in cross-validation: observed (control minus "
                  "treated event rate, 95% interval) against mean predicted benefit per "
                  "quintile of predicted benefit; dashed: ideal; line: least squares fit")
    rep.image(paths["calibration_in_sample"],
              "Calibration for benefit in the fitting data, per model")
    for v, where in (("iecv", "in cross-validation (pooled held-out predictions)"),
                     ("in_sample", "in the fitting data")):
        if f"benefit_curve_{v}" in paths:
            rep.image(paths[f"benefit_curve_{v}"],
                      f"Smoothed calibration for benefit {where}: loess of observed on "
                      f"predicted pair benefit with a {ci_prob:.0%} bootstrap band, "
                      "quantile groups (points), ideal (dashed)")
        if f"toc_{v}" in paths:
            rep.image(paths[f"toc_{v}"],
                      f"TOC curves {where}: benefit among the fraction q ranked first "
                      f"minus the average benefit, {ci_prob:.0%} half-sample bootstrap band")
    rep.image(paths["metric_forest"], "Metrics per model with their posterior intervals")
    rep.image(paths["ite_by_model"], "Distribution of the posterior-mean ITE per model "
              "(S-learner blue, T-learner red; grey: truth)")
