"""Runner for ``family = "meta_analysis"``: aggregate-data meta-analysis of one table.

One row per study — 2×2 counts, events and totals per arm, or effect sizes with their
variances (or standard errors) — analysed every way the package knows, side by side:
the classical fixed-effect and random-effects models (FE, DL, REML, PM, ML; each
random-effects model also with the Hartung–Knapp–Sidik–Jonkman adjustment; prediction
intervals; :func:`bayes_hte.comparators.meta_analysis`, as R metafor's ``rma``), the
causal estimator of Berenfeld et al. (2026) for the RD, RR and OR
(:func:`bayes_hte.comparators.causal_meta_analysis`; counts only), and the Bayesian
normal–normal and causal models (:class:`bayes_hte.MetaAnalysisModel`,
:class:`bayes_hte.CausalMetaModel`).

Spec keys (declared in :data:`bayes_hte.runners.schema.SCHEMA`)::

    [data]
    source = "dataset:bcg"           # a CSV / Parquet path, or a bundled data set
    study = "study"                  # label column (default: a column "study", else the row)
    n11 = "tpos"                     # 2x2 counts: treated events, treated non-events,
    n10 = "tneg"                     #   control events, control non-events
    n01 = "cpos"
    n00 = "cneg"
    # or events and totals per arm:  events1, total1, events0, total0
    # or effect sizes:               yi = "yi", and vi = "vi" or se = "sei";
    #                                scale = "log" | "identity" (default: log for RR / OR)

    [model]
    family = "meta_analysis"
    measure = "RR"                   # counts: "RD" | "RR" | "OR" (metafor's escalc rules);
                                     #   effect sizes: an optional label
    add = 0.5                        # continuity correction (counts; ArmTable.effects)
    to = "only0"                     #   "all" | "if0all" | "none"
    drop_double_zero = true          #   optional: drop (true) or keep (false) double zeros
    methods = ["FE", "DL", "REML", "PM", "ML"]
    hksj = true                      # every random-effects method also with HKSJ
    pi_type = "metafor"              # | "higgins" (t_{k-2})
    forest = "REML"                  # the classical fit drawn in forest.png (a method,
                                     #   or e.g. "REML + HKSJ")
    causal = ["RD", "RR", "OR"]      # causal estimator (default with counts: all three)
    causal_variance = "delta"        # | "paper" | "conditional"
    bayesian = true                  # normal-normal random effects (MetaAnalysisModel)
    tau_prior = "half_normal"        # | "half_cauchy" | "half_student_t" | ...
    parameterization = "marginal"
    bayesian_causal = true           # CausalMetaModel (default: with counts)
    membership = "random"            # | "fixed"
    moderators = ["ablat"]           # study-level columns of the data: a meta-regression
                                     #   (rma(yi, vi, mods = ~ ablat)) per classical fit;
                                     #   text columns are coded as factors (name[level])

    [priors]                         # optional overrides by name, per Bayesian model
    meta = { tau = { dist = "HalfNormal", sigma = 0.5 } }
    causal = { logit_risk = { dist = "Normal", mu = 0, sigma = 2 } }

    [sampler]                        # draws, tune, chains, random_seed, sampler, target_accept

    [output]
    dir = "results/meta_analysis_bcg"
    ci_prob = 0.95
    digits = 4                       # decimals of printout.txt

Outputs in ``[output].dir``: ``comparison.csv`` (the tidy table: one row per approach,
method and measure; estimate, SE, CI and PI on the analysis scale — log for RR and OR —
and on the natural scale, test statistic and p-value, tau², its interval, tau, I², H²,
Q), ``studies.csv`` (the effect sizes, counts and weights), ``printout.txt`` (the
metafor-style printout of every fit), ``forest.png`` (the ``forest`` fit with its
prediction interval), ``comparison_forest.png`` (every pooled answer on one axis),
``posteriors/{meta_analysis,causal}.nc``, ``bayesian_parameters.csv`` (R-hat, ESS),
``sampling.csv``, with ``moderators`` ``metaregression.csv`` (one row per classical fit
and coefficient: the coefficient table, residual tau², I², R², QE and QM) and one
``bubble_<moderator>.png`` per numeric moderator (the ``forest`` fit's meta-regression), and
``report.md`` / ``report.html``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pandas as pd

from bayes_hte import plots
from bayes_hte.comparators.causal import CausalMetaResult, causal_meta_analysis
from bayes_hte.comparators.heterogeneity import canonical_method
from bayes_hte.comparators.metareg import meta_regression
from bayes_hte.comparators.printout import (
    causal_meta_text,
    format_number,
    meta_analysis_text,
    metareg_text,
    text_table,
)
from bayes_hte.comparators.univariate import MetaAnalysisResult, meta_analysis
from bayes_hte.data.aggregate import ArmTable, EffectTable
from bayes_hte.data.checks import check_columns
from bayes_hte.diagnostics import format_health, sampling_summary
from bayes_hte.errors import DataWarning
from bayes_hte.estimators.synthesis import CausalMetaModel, MetaAnalysisModel
from bayes_hte.options import (
    MEASURES,
    CausalVariance,
    ContinuityTo,
    EffectScale,
    Membership,
    MetaMethod,
    MetaParameterization,
    PIType,
    TauPrior,
)
from bayes_hte.runners.base import Runner, source_frame
from bayes_hte.runners.schema import META_INPUTS, SpecError

#: ``[model]`` keys passed to :meth:`bayes_hte.ArmTable.effects` (counts only).
ESCALC_KEYS = ("add", "to", "drop_double_zero")
#: Column order of ``comparison.csv``.
COLUMNS = ("approach", "method", "measure", "scale", "estimate", "se", "ci_low", "ci_high",
           "pi_low", "pi_high", "statistic", "df", "p", "tau2", "tau2_ci_low",
           "tau2_ci_high", "tau", "i2", "h2", "q", "q_df", "q_p", "k", "natural_estimate",
           "natural_ci_low", "natural_ci_high", "natural_pi_low", "natural_pi_high")
_DESCRIBE = {"counts": "2x2 counts", "events": "events and totals per arm",
             "effects": "effect sizes"}


@dataclass(frozen=True)
class MetaInputs:
    """The validated tables of a ``meta_analysis`` spec.

    Parameters
    ----------
    effects : EffectTable
        The effect sizes analysed by the classical and normal–normal models (computed
        from the counts with metafor's ``escalc`` rules, or read).
    counts : ArmTable or None
        The per-arm counts (``None`` for effect-size input: no causal analyses).
    kind : {"counts", "events", "effects"}
        Which input the spec named.
    columns : dict
        The ``[data]`` column roles used (role -> column).
    moderators : pandas.DataFrame or None
        The ``[model].moderators`` columns, one row per study of ``effects`` (indexed by
        its labels); ``None`` without moderators.
    """

    effects: EffectTable
    counts: ArmTable | None
    kind: str
    columns: dict
    moderators: pd.DataFrame | None = None


def _choice(key: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise SpecError(f"[model] {key} = {value!r} is not one of {list(choices)}")


def _as_list(key: str, value: object) -> list:
    out = [value] if isinstance(value, str) else value
    if not isinstance(out, list | tuple):
        raise SpecError(f"[model] {key} must be a string or a list of strings, got {value!r}")
    return list(out)


def _method_label(method: str, knha: bool) -> str:
    return f"{method}{' + HKSJ' if knha else ''}"


def _natural(scale: str, values):
    return np.exp(values) if scale == "log" else values


class MetaAnalysisRunner(Runner):
    """``bayes-hte run`` for an aggregate-data meta-analysis: classical, causal and
    Bayesian answers side by side (module docstring)."""

    family = "meta_analysis"

    # ------------------------------------------------------------------ load
    def load(self) -> MetaInputs:
        """The effect sizes (and counts) a spec's ``[data]`` and ``[model]`` describe.

        Returns
        -------
        MetaInputs
            The effect table, the counts (or ``None``), the kind of input and its columns.

        Raises
        ------
        SpecError
            ``[data]`` naming the columns of no input or of several, an input with some of
            its column roles missing, counts without ``[model].measure``, a measure,
            scale or option outside its values, escalc options or causal analyses asked
            for effect-size input.
        DataError
            A column absent from the data or with bad values (named), as
            :meth:`bayes_hte.ArmTable.from_frame`, :meth:`~bayes_hte.ArmTable.from_events`,
            :meth:`bayes_hte.EffectTable.from_frame` and :meth:`~bayes_hte.ArmTable.effects`.
        """
        data, model = self.tables["data"], self.tables["model"]
        kinds = [k for k, roles in META_INPUTS.items() if any(r in data for r in roles)]
        if "se" in data and "effects" not in kinds:
            kinds.append("effects")
        if len(kinds) != 1:
            found = f"the roles of {[_DESCRIBE[k] for k in kinds]}" if kinds else "none"
            raise SpecError(
                "[data] must name the columns of one input: 2x2 counts (n11, n10, n01, n00), "
                "events and totals per arm (events1, total1, events0, total0) or effect "
                f"sizes (yi, with vi or se); found {found}")
        kind = kinds[0]
        roles = list(META_INPUTS[kind])
        if kind == "effects":
            roles = ["yi"] + [r for r in ("vi", "se") if r in data]
            if ("vi" in data) == ("se" in data):
                raise SpecError("[data] effect sizes need exactly one of 'vi' (variance "
                                "column) or 'se' (standard-error column)")
        missing = [r for r in roles if r not in data]
        if missing:
            raise SpecError(f"[data] {_DESCRIBE[kind]} need the column roles {missing} "
                            f"(all of {roles})")
        columns = {r: data[r] for r in roles}
        for role, col in columns.items():
            if not isinstance(col, str):
                raise SpecError(f"[data] {role} must be a column name (a string), got {col!r}")
        frame, _ = source_frame(data, spec_dir=self.spec_dir)
        study = data.get("study")
        measure = model.get("measure")
        escalc = {k: model[k] for k in ESCALC_KEYS if k in model}
        if kind == "effects":
            if escalc:
                raise SpecError(f"[model] {sorted(escalc)} are options of effect sizes "
                                "computed from counts; the data are effect sizes already")
            scale = data.get("scale", "log" if measure in ("RR", "OR") else "identity")
            if scale not in get_args(EffectScale):
                raise SpecError(f"[data] scale = {scale!r} is not one of "
                                f"{list(get_args(EffectScale))}")
            effects = EffectTable.from_frame(frame, yi=columns["yi"], vi=columns.get("vi"),
                                             se=columns.get("se"), study=study,
                                             measure=measure, scale=scale)
            counts = None
        else:
            if "scale" in data:
                raise SpecError("[data] scale is for effect sizes; counts give the scale of "
                                "their measure (log for RR and OR)")
            if measure is None:
                raise SpecError("[model] needs 'measure' for counts: \"RD\", \"RR\" or \"OR\" "
                                "(as metafor's escalc)")
            _choice("measure", measure, MEASURES)
            if "to" in escalc:
                _choice("to", escalc["to"], get_args(ContinuityTo))
            if kind == "counts":
                counts = ArmTable.from_frame(frame, **columns, study=study)
            else:
                counts = ArmTable.from_events(frame, **columns, study=study)
            effects = counts.effects(measure, **escalc)
        self._check_model(counts is not None)
        mods = None
        if model["moderators"]:
            names = model["moderators"]
            for name in names:
                if name not in frame.columns and any(c in name for c in ":*()~^+"):
                    raise SpecError(f"[model] moderators: {name!r} is not a column; formulas "
                                    "are not read (add the column to the data, e.g. an "
                                    "interaction as the product of two columns; text "
                                    "columns are coded as factors by themselves)")
                check_columns(frame, {"moderator": name})
            rows = (counts if counts is not None else effects).labels  # one per frame row
            mods = frame[names].set_axis(list(rows)).loc[list(effects.labels)]
            # refuse bad moderators here, before any fit of the run (FE: no iteration)
            meta_regression(effects, mods=mods, method="FE")
        return MetaInputs(effects=effects, counts=counts, kind=kind,
                          columns={**columns, **({"study": study} if study else {})},
                          moderators=mods)

    def _check_model(self, has_counts: bool) -> None:
        """Check the ``[model]`` options once (SpecError naming the key); fill the lists."""
        model = self.tables["model"]
        methods = _as_list("methods", model["methods"])
        for m in methods:
            _choice("methods", m, get_args(MetaMethod))
        canonical = [canonical_method(m) for m in methods]  # "EE", "CE" -> "FE"
        repeated = sorted({m for m in canonical if canonical.count(m) > 1})
        if repeated:
            raise SpecError(f"[model] methods {methods} name the same estimator more than once "
                            f"({repeated}; 'EE' and 'CE' are 'FE')")
        model["methods"] = canonical
        _choice("pi_type", model["pi_type"], get_args(PIType))
        _choice("causal_variance", model["causal_variance"], get_args(CausalVariance))
        _choice("tau_prior", model["tau_prior"], get_args(TauPrior))
        _choice("parameterization", model["parameterization"],
                get_args(MetaParameterization))
        _choice("membership", model["membership"], get_args(Membership))
        causal = _as_list("causal", model.get("causal", list(MEASURES) if has_counts else []))
        for m in causal:
            _choice("causal", m, MEASURES)
        bayes_causal = model.get("bayesian_causal", has_counts)
        if (causal or bayes_causal) and not has_counts:
            key = "causal" if causal else "bayesian_causal"
            raise SpecError(f"[model] {key} needs per-arm counts; the data are effect sizes "
                            "(name n11 n10 n01 n00, or events1 total1 events0 total0)")
        model["causal"], model["bayesian_causal"] = causal, bool(bayes_causal)
        mods = _as_list("moderators", model["moderators"])
        if not all(isinstance(c, str) for c in mods) or len(set(mods)) != len(mods):
            raise SpecError(f"[model] moderators must be distinct column names (strings), "
                            f"got {mods!r}")
        model["moderators"] = mods
        labels = self.classical_labels()
        if model["forest"] not in labels:
            raise SpecError(f"[model] forest = {model['forest']!r} is not one of the classical "
                            f"fits {labels}")

    def classical_labels(self) -> list[str]:
        """Labels of the classical fits of the spec, e.g. ``["FE", "DL", "DL + HKSJ"]``.

        Returns
        -------
        list of str
            Each method of ``[model].methods`` and, with ``hksj``, each random-effects
            method followed by ``" + HKSJ"``.
        """
        model = self.tables["model"]
        out = []
        for m in _as_list("methods", model["methods"]):
            out.append(m)
            if model["hksj"] and m != "FE":
                out.append(_method_label(m, True))
        return out

    # ------------------------------------------------------------------ fit
    def fit(self, inputs: MetaInputs) -> dict:
        """The classical and causal fits, and the Bayesian models (posteriors saved).

        Parameters
        ----------
        inputs : MetaInputs
            From :meth:`load`.

        Returns
        -------
        dict
            ``classical`` (label -> MetaAnalysisResult), ``causal`` (measure ->
            CausalMetaResult), ``bayes`` and ``bayes_causal`` (fitted estimators or
            ``None``), ``health`` (model name -> sampling summary), ``metareg`` (label
            -> MetaRegression; empty without moderators).
        """
        model, ci_prob, eff = self.tables["model"], self.ci_prob, inputs.effects
        measure = eff.measure or "effect"
        self.log(f"meta_analysis: {eff.k} studies ({_DESCRIBE[inputs.kind]}); {measure} on "
                 f"the {eff.scale} scale" + (f"; continuity correction in "
                                             f"{list(eff.corrected)}" if eff.corrected else ""))
        classical: dict[str, MetaAnalysisResult] = {}
        for label in self.classical_labels():
            method, knha = label.split(" + ")[0], label.endswith("HKSJ")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = meta_analysis(eff, method=method, knha=knha, ci_prob=ci_prob,
                                    pi_type=model["pi_type"])
            for w in caught:
                self.log(f"{label}: {w.message}")
                self.notes.append(f"{label}: {w.message}")
            classical[label] = res
            f = lambda v: format_number(v, digits=4)  # noqa: E731
            nat = _natural(eff.scale, np.array([res.estimate, *res.ci, *res.pi]))
            pi = "" if method == "FE" else f"; PI {f(nat[3])} to {f(nat[4])}"
            self.log(f"{label}: {measure} {f(nat[0])} ({f(nat[1])} to {f(nat[2])}){pi}; "
                     f"tau^2 {f(res.tau2)}, I^2 {res.i2:.1f}%")
        metareg = {}
        for label in self.classical_labels() if inputs.moderators is not None else []:
            method, knha = label.split(" + ")[0], label.endswith("HKSJ")
            reg = meta_regression(eff, mods=inputs.moderators, method=method, knha=knha,
                                  ci_prob=ci_prob)
            metareg[label] = reg
            r2 = f", R^2 {reg.r2:.1f}%" if np.isfinite(reg.r2) else ""
            rest = ("fixed effects" if method == "FE" else
                    f"residual tau^2 {format_number(reg.tau2, digits=4)}{r2}")
            self.log(f"{label} meta-regression on {', '.join(inputs.moderators)}: test of "
                     f"the moderators p = {reg.qm_p:.3g}; {rest}")
        causal: dict[str, CausalMetaResult] = {}
        for m in model["causal"]:
            causal[m] = causal_meta_analysis(inputs.counts, m, variance=model["causal_variance"],
                                             ci_prob=ci_prob)
            r = causal[m]
            self.log(f"causal {m}: {r.estimate:.4g} ({r.ci_low:.4g} to {r.ci_high:.4g})")
        (self.outdir / "posteriors").mkdir(exist_ok=True)
        priors = self.tables["priors"]
        health: dict[str, dict] = {}
        bayes = bayes_causal = None
        if model["bayesian"] and eff.scale != "log" and "tau" not in (priors.get("meta") or {}):
            note = (f"Bayesian normal-normal: the default tau prior ({model['tau_prior']}) has "
                    f"the scale of log RR / log OR; for the {measure} set [priors] meta = "
                    "{ tau = { sigma = ... } } on the scale of the effect sizes")
            self.log(note)
            self.notes.append(note)
        if model["bayesian"]:
            est = MetaAnalysisModel(tau_prior=model["tau_prior"], priors=priors.get("meta"),
                                    parameterization=model["parameterization"])
            with warnings.catch_warnings():
                # the note above says it for the spec's [priors] table
                warnings.filterwarnings("ignore", message="the risk differences get tau's "
                                        "prior", category=DataWarning)
                bayes = self._bayesian(
                    est, eff, "meta_analysis", "Bayesian normal-normal",
                    {"tau_prior": model["tau_prior"], "priors": priors.get("meta"),
                     "parameterization": model["parameterization"],
                     "measure": model.get("measure"),
                     **{k: model[k] for k in ESCALC_KEYS if k in model}}, health)
        if model["bayesian_causal"]:
            est = CausalMetaModel(membership=model["membership"], priors=priors.get("causal"))
            bayes_causal = self._bayesian(est, inputs.counts, "causal", "Bayesian causal",
                                          {"membership": model["membership"],
                                           "priors": priors.get("causal")}, health)
        return {"classical": classical, "causal": causal, "bayes": bayes,
                "bayes_causal": bayes_causal, "health": health, "metareg": metareg}

    def _bayesian(self, est: Any, data: Any, name: str, label: str, options: dict,
                  health: dict) -> Any:
        """Fit (or reuse, when ``posteriors/<name>.nc`` matches the spec) one model."""
        path = self.outdir / "posteriors" / f"{name}.nc"
        key = self.fingerprint({"name": name, **options})
        if self.reusable(path, key, label=label):
            est, wall = type(est).load(path), float("nan")
        else:
            wall = self.sample(est, data, label=label)
            self.save_posterior(est, path, key)
        names = [v for v in est.population if v in est.idata["posterior"]]
        health[label] = {**sampling_summary(est.idata, var_names=names),
                         "wall_seconds": wall}
        self.log_health(label, health[label], wall=wall)
        return est

    # ------------------------------------------------------------------ write
    def write(self, inputs: MetaInputs, results: dict) -> None:
        """The tidy comparison table, the study table, forest plots, printout and report.

        Parameters
        ----------
        inputs : MetaInputs
            From :meth:`load`.
        results : dict
            From :meth:`fit`.
        """
        outdir, ci_prob, eff = self.outdir, self.ci_prob, inputs.effects
        model, digits = self.tables["model"], int(self.tables["output"]["digits"])
        classical, causal = results["classical"], results["causal"]
        bayes, bayes_causal = results["bayes"], results["bayes_causal"]
        table = comparison_table(eff, classical, causal, bayes, bayes_causal,
                                 ci_prob=ci_prob, tau_prior=model["tau_prior"])
        table.to_csv(outdir / "comparison.csv", index=False)
        forest = classical[model["forest"]]
        studies = eff.to_frame()
        lo, hi = forest.study_table()[["ci_low", "ci_high"]].to_numpy().T
        studies["ci_low"], studies["ci_high"] = lo, hi
        studies[f"weight_{model['forest']}"] = forest.weights
        if inputs.counts is not None:
            studies = studies.join(inputs.counts.to_frame(), how="left")
        studies.to_csv(outdir / "studies.csv")
        if results["health"]:
            pd.DataFrame(results["health"]).T.rename_axis("model").to_csv(
                outdir / "sampling.csv")
            params = [m.parameters(ci_prob=ci_prob).assign(model=label)
                      for m, label in ((bayes, "Bayesian normal-normal"),
                                       (bayes_causal, "Bayesian causal")) if m is not None]
            pd.concat(params).to_csv(outdir / "bayesian_parameters.csv", index_label="parameter")
        reg_tab = metaregression_table(results["metareg"]) if results["metareg"] else None
        if reg_tab is not None:
            reg_tab.to_csv(outdir / "metaregression.csv", index=False)
        text = printout(inputs, results, spec_name=self.spec.get("_path", "spec"),
                        source=self.tables["data"].get("source", ""), digits=digits,
                        ci_prob=ci_prob, tau_prior=model["tau_prior"])
        (outdir / "printout.txt").write_text(text)

        measure = eff.measure or "effect"
        rep = self.new_report(
            f"Aggregate-data meta-analysis of {eff.k} studies ({_DESCRIBE[inputs.kind]}; "
            f"{measure}{', log scale' if eff.scale == 'log' else ''}): classical "
            f"({', '.join(classical)}), causal ({', '.join(causal) or 'none'}) and Bayesian "
            f"({'normal-normal' if bayes else ''}{', ' if bayes and bayes_causal else ''}"
            f"{'causal' if bayes_causal else ''}{'none' if not (bayes or bayes_causal) else ''}"
            f") answers side by side. Intervals at {ci_prob:.0%}; the metafor-style "
            "printout of every fit is in printout.txt."
            + (f" Left out of the effect sizes as double zeros (no event in either arm): "
               f"{', '.join(eff.excluded)}"
               + (f"; the causal analyses keep them (all {inputs.counts.k} studies)."
                  if causal or bayes_causal else ".") if eff.excluded else ""))
        rep.heading("Pooled estimates")
        rep.text("Natural scale (RR and OR exponentiated). Classical rows: confidence "
                 "interval and prediction interval (PI) of a new study; Bayesian rows: "
                 "posterior median and equal-tailed credible interval, and the posterior "
                 "predictive interval of a new study's effect. tau2: estimate (classical) or "
                 "posterior median, on the analysis scale; I2 in percent.")
        cols = ["approach", "method", "measure", "natural_estimate", "natural_ci_low",
                "natural_ci_high", "natural_pi_low", "natural_pi_high", "p", "tau2", "i2"]
        rep.table(table[cols], index=False)
        if reg_tab is not None:
            rep.heading("Meta-regression")
            rep.text(f"Moderators {', '.join(inputs.moderators)} (rma(yi, vi, mods = ...); "
                     "text moderators coded as indicators, name[level]): coefficients on "
                     "the analysis scale; the residual tau2, I2 and R2 (percent), the "
                     "p-values of QE (residual heterogeneity) and QM (the moderators; F "
                     "with HKSJ) are the fit's, repeated on its rows.")
            rep.table(reg_tab[["method", "coefficient", "estimate", "se", "p", "ci_low",
                               "ci_high", "tau2", "i2", "r2", "qe_p", "qm_p"]], index=False)
            reg = results["metareg"][model["forest"]]
            for mod in [m for m in inputs.moderators if m in reg.names]:  # not factors
                self.save_figure(
                    plots.bubble_plot(reg, mod, transform="exp" if eff.scale == "log"
                                      else None),
                    f"bubble_{mod}.png", f"the {model['forest']} meta-regression against "
                    f"{mod}: studies sized by weight, fitted line, confidence band and "
                    "prediction interval (others at their means)")
        fig = plots.forest_plot(forest, title=f"{model['forest']}: {eff.k} studies",
                                figsize=(10.0, 0.36 * (eff.k + 5) + 1.0))
        self.save_figure(fig,
                         "forest.png", f"forest plot of the {model['forest']} fit: studies, "
                         "pooled estimate (diamond) and its prediction interval (dashed)")
        pooled: dict[str, Any] = {f"classical {model['forest']}": forest}
        hksj = _method_label(model["forest"].split(" + ")[0], True)
        if hksj in classical and hksj != model["forest"]:
            pooled[f"classical {hksj}"] = classical[hksj]
        if eff.measure in causal:
            pooled[f"causal {eff.measure}"] = causal[eff.measure]
        if bayes is not None:
            pooled["Bayesian normal-normal"] = bayes.result(ci_prob=ci_prob)
        if bayes_causal is not None and eff.measure in MEASURES:
            pooled["Bayesian causal"] = bayes_causal.result(eff.measure, ci_prob=ci_prob)
        self.save_figure(plots.combined_forest_plot(pooled, studies=forest,
                                                    measure=eff.measure,
                                                    title=f"{measure}: pooled answers"),
                         "comparison_forest.png", "every pooled answer for the "
                         f"{measure} on one axis (dashed: prediction intervals)")
        if results["health"]:
            rep.heading("Sampling")
            rep.text("; ".join(f"{k}: {format_health(h)}"
                               for k, h in results["health"].items()))
            for m, label in ((bayes, "Bayesian normal-normal"),
                             (bayes_causal, "Bayesian causal")):
                if m is not None:
                    rep.heading(f"Prior sensitivity: {label}", level=3)
                    self.prior_sensitivity(label, m)


# =========================================================================== tables
def _quantiles(draws: np.ndarray, ci_prob: float) -> np.ndarray:
    return np.quantile(draws, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])


def _draw_row(draws: np.ndarray, ci_prob: float) -> dict:
    lo, hi = _quantiles(draws, ci_prob)
    return {"estimate": float(np.median(draws)), "se": float(np.std(draws, ddof=1)),
            "ci_low": lo, "ci_high": hi}


def comparison_table(effects: EffectTable, classical: dict, causal: dict,
                     bayes: MetaAnalysisModel | None, bayes_causal: CausalMetaModel | None,
                     *, ci_prob: float, tau_prior: str = "") -> pd.DataFrame:
    r"""Every pooled answer as one tidy table (``comparison.csv``).

    Parameters
    ----------
    effects : EffectTable
        The effect sizes of the classical and normal–normal models.
    classical : dict of str to MetaAnalysisResult
        Classical fits by label (``"REML"``, ``"REML + HKSJ"``, ...).
    causal : dict of str to CausalMetaResult
        Causal fits by measure.
    bayes : MetaAnalysisModel or None
        The fitted normal–normal model.
    bayes_causal : CausalMetaModel or None
        The fitted causal model (rows for RD, RR and OR).
    ci_prob : float
        Probability of the credible intervals of the Bayesian rows.
    tau_prior : str
        Name of the normal–normal model's tau prior (in its ``method`` label).

    Returns
    -------
    pandas.DataFrame
        One row per approach (``classical``, ``causal``, ``Bayesian``, ``Bayesian
        causal``), method and measure; columns :data:`COLUMNS`. ``estimate``, ``se``,
        ``ci_*``, ``pi_*`` are on the analysis scale ``scale`` (``"log"`` for RR and OR,
        where ``se`` is the SE of the log; ``"identity"`` otherwise), the ``natural_*``
        columns on the measure's scale (exponentiated for ``"log"``). Bayesian rows:
        posterior median, SD and equal-tailed interval; ``pi_*`` from a new study's
        effect; ``tau2``, ``tau``, ``i2``, ``h2`` posterior medians with ``tau2_ci_*``
        the credible interval of :math:`\tau^2` (:math:`I^2 = 100\tau^2/(\tau^2 + s^2)`
        with metafor's typical within-study variance :math:`s^2`).
    """
    rows = []
    measure, scale = effects.measure or "", effects.scale
    for label, res in classical.items():
        s = res.summary().iloc[0].to_dict()
        s.update(approach="classical", method=label, measure=measure, scale=scale,
                 df=res.df if res.knha else np.nan)
        if res.method == "FE":  # tau^2 fixed at 0: no prediction interval, no tau^2 interval
            s.update(pi_low=np.nan, pi_high=np.nan, tau2_ci_low=np.nan, tau2_ci_high=np.nan)
        rows.append(s)
    for m, res in causal.items():
        log = m != "RD"
        tr = np.log if log else (lambda x: x)
        rows.append({"approach": "causal", "method": f"variance {res.variance}",
                     "measure": m, "scale": "log" if log else "identity",
                     "estimate": float(tr(res.estimate)), "se": res.log_se,
                     "ci_low": float(tr(res.ci_low)), "ci_high": float(tr(res.ci_high)),
                     "statistic": res.z, "p": res.p, "k": res.table.k})
    if bayes is not None:
        post = bayes.idata["posterior"]
        mu, tau = post["mu"].values.ravel(), post["tau"].values.ravel()
        new = post["theta_new"].values.ravel()
        v = effects.vi
        k = effects.k
        s1, s2 = (1 / v).sum(), (1 / v**2).sum()
        s2typ = (k - 1) * s1 / (s1**2 - s2)
        t2 = tau**2
        row = _draw_row(mu, ci_prob)
        row["pi_low"], row["pi_high"] = _quantiles(new, ci_prob)
        t2lo, t2hi = _quantiles(t2, ci_prob)
        row.update(approach="Bayesian", method=f"normal-normal (tau prior {tau_prior})",
                   measure=measure, scale=scale, tau2=float(np.median(t2)),
                   tau2_ci_low=t2lo, tau2_ci_high=t2hi, tau=float(np.median(tau)),
                   i2=float(np.median(100 * t2 / (t2 + s2typ))),
                   h2=float(np.median((t2 + s2typ) / s2typ)), k=k)
        rows.append(row)
    if bayes_causal is not None:
        theta = bayes_causal.idata["posterior"]["theta"]
        for m in MEASURES:
            draws = theta.sel(measure=m).values.ravel()
            log = m != "RD"
            row = _draw_row(np.log(draws) if log else draws, ci_prob)
            row.update(approach="Bayesian causal",
                       method=f"{bayes_causal.membership} membership", measure=m,
                       scale="log" if log else "identity", k=bayes_causal.data.k)
            rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    log_rows = (out["scale"] == "log").to_numpy()
    for col in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        vals = out[col].to_numpy(dtype=float)
        out[f"natural_{col}"] = np.where(log_rows, np.exp(vals), vals)
    return out


def metaregression_table(fits: dict) -> pd.DataFrame:
    """The meta-regressions of a run as one tidy table (``metaregression.csv``).

    Parameters
    ----------
    fits : dict
        Classical fit label (e.g. ``"REML + HKSJ"``) -> MetaRegression (one analysis).

    Returns
    -------
    pandas.DataFrame
        One row per fit and coefficient: ``method``, ``coefficient``, ``estimate``,
        ``se``, ``statistic`` (z, or t with HKSJ), ``p``, ``ci_low``, ``ci_high`` (the
        analysis scale, e.g. log RR), then the fit's ``tau2`` (residual), ``tau2_se``,
        ``i2``, ``h2``, ``r2`` (percent; for FE the adjusted R² of the weighted least
        squares, as metafor), ``qe``, ``qe_df``, ``qe_p``, ``qm``,
        ``qm_df``, ``qm_p`` (QM is an F statistic with HKSJ).
    """
    rows = []
    for label, reg in fits.items():
        fit = {k: float(getattr(reg, k)) for k in
               ("tau2", "tau2_se", "i2", "h2", "r2", "qe", "qe_p", "qm", "qm_p")}
        coef = reg.summary().reset_index()
        for rec in coef.to_dict("records"):
            rows.append({"method": label, **rec, **fit, "qe_df": reg.qe_df,
                         "qm_df": reg.qm_df})
    cols = ["method", "coefficient", "estimate", "se", "statistic", "p", "ci_low",
            "ci_high", "tau2", "tau2_se", "i2", "h2", "r2", "qe", "qe_df", "qe_p", "qm",
            "qm_df", "qm_p"]
    return pd.DataFrame(rows)[cols]


# =========================================================================== printout
def _bayes_text(title: str, rows: dict, *, scale: str, measure: str, ci_prob: float,
                health: dict, digits: int) -> str:
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    frame = pd.DataFrame({name: {"median": f(np.median(d)), "mean": f(np.mean(d)),
                                 "sd": f(np.std(d, ddof=1)),
                                 "ci_low": f(_quantiles(d, ci_prob)[0]),
                                 "ci_high": f(_quantiles(d, ci_prob)[1])}
                          for name, d in rows.items()}).T
    where = f"log {measure}" if scale == "log" else (measure or "effect")
    return "\n".join([title, f"Posterior ({ci_prob:.0%} equal-tailed intervals), on the "
                      f"{where} scale:", text_table(frame),
                      f"Sampling: {health['chains']} chains x {health['draws']} draws; "
                      f"{format_health(health)}"])


def printout(inputs: MetaInputs, results: dict, *, spec_name: str, source: str,
             digits: int = 4, ci_prob: float = 0.95, tau_prior: str = "") -> str:
    """The text of ``printout.txt``: every fit of a run, metafor-style.

    Parameters
    ----------
    inputs : MetaInputs
        From :meth:`MetaAnalysisRunner.load`.
    results : dict
        From :meth:`MetaAnalysisRunner.fit`.
    spec_name : str
        The spec's path (first line).
    source : str
        The data source (``[data].source``).
    digits : int
        Decimals of the numbers.
    ci_prob : float
        Probability of the Bayesian intervals.
    tau_prior : str
        Name of the normal–normal model's tau prior.

    Returns
    -------
    str
        A header (data, columns, effect sizes), then one section per classical fit
        (:func:`bayes_hte.comparators.printout.meta_analysis_text`), per causal fit
        (:func:`~bayes_hte.comparators.printout.causal_meta_text`) and per Bayesian model
        (posterior median, mean, SD and interval of the pooled effect, tau, tau² and a
        new study's effect; the causal RD, RR and OR; sampling diagnostics).
    """
    eff = inputs.effects
    measure = eff.measure or "effect"
    cols = ", ".join(f"{k} = {v}" for k, v in inputs.columns.items())
    head = [f"bayes-hte run {spec_name}", f"Data: {source}; {eff.k} studies; "
            f"{_DESCRIBE[inputs.kind]} ({cols})"]
    if inputs.kind != "effects":
        head.append(f"Effect sizes: {measure} per study as metafor's escalc"
                    + (f"; 1/2 added to the cells of {list(eff.corrected)}"
                       if eff.corrected else "; no continuity correction needed")
                    + (f"; excluded (double zero): {list(eff.excluded)}"
                       if eff.excluded else ""))
    sections = ["\n".join(head)]
    for label, res in results["classical"].items():
        sections.append(f"== Classical: {label} ==\n\n{meta_analysis_text(res, digits=digits)}")
    for label, reg in results.get("metareg", {}).items():
        sections.append(f"== Meta-regression: {label} ==\n\n"
                        f"{metareg_text(reg, digits=digits)}")
    for m, res in results["causal"].items():
        sections.append(f"== Causal: {m} ==\n\n{causal_meta_text(res, digits=digits)}")
    health = results["health"]
    if results["bayes"] is not None:
        post = results["bayes"].idata["posterior"]
        tau = post["tau"].values.ravel()
        draws = {"mu": post["mu"].values.ravel(), "tau": tau, "tau^2": tau**2,
                 "theta_new": post["theta_new"].values.ravel()}
        text = _bayes_text(
            f"Bayesian Random-Effects Model (k = {eff.k}; tau prior: {tau_prior}; "
            "theta_new: a new study's effect)", draws, scale=eff.scale, measure=measure,
            ci_prob=ci_prob, health=health["Bayesian normal-normal"], digits=digits)
        if eff.scale == "log":
            f = lambda v: format_number(v, digits=digits)  # noqa: E731
            lo, hi = _quantiles(draws["mu"], ci_prob)
            plo, phi = _quantiles(draws["theta_new"], ci_prob)
            text += (f"\nOn the {measure} scale: median {f(np.exp(np.median(draws['mu'])))}, "
                     f"{ci_prob:.0%} interval {f(np.exp(lo))} to {f(np.exp(hi))}; "
                     f"new study {f(np.exp(plo))} to {f(np.exp(phi))}")
        sections.append(f"== Bayesian: normal-normal ==\n\n{text}")
    if results["bayes_causal"] is not None:
        m = results["bayes_causal"]
        theta = m.idata["posterior"]["theta"]
        draws = {f"theta {k}": theta.sel(measure=k).values.ravel() for k in MEASURES}
        text = _bayes_text(
            f"Bayesian Causal Meta-Analysis (k = {m.data.k}; membership: {m.membership}; "
            "theta: RD, RR, OR of the pooled risks in P*)", draws, scale="identity",
            measure="natural (RD, RR, OR)", ci_prob=ci_prob,
            health=health["Bayesian causal"], digits=digits)
        sections.append(f"== Bayesian: causal ==\n\n{text}")
    return "\n\n".join(sections) + "\n"


#: The family's entry point ``run(spec, outdir, log)`` (:data:`bayes_hte.runners.FAMILIES`).
run = MetaAnalysisRunner.main
