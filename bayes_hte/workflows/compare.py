r"""Compare ITE models on one meta-analysis: which structure and learner to trust?

:func:`compare_ite_models` fits a grid of heterogeneity structures x learners and
scores them; :func:`evaluate_models` scores models already fitted (the ``bayes-hte run``
runner of family ``ipdma`` calls it). Every metric is computed per posterior draw (so it
has an interval) and for the posterior-mean ITE, in the fitting data ("in-sample") and,
with ``cv="iecv"``, by internal–external cross-validation
(:mod:`bayes_hte.workflows.iecv`):

============================  ==========================================================
metric                        definition (:mod:`bayes_hte.evaluation.metrics`)
============================  ==========================================================
``c_for_benefit``             concordance of predicted and observed benefit in pairs
                              matched on predicted benefit within trials
``calibration_intercept``,    least-squares line of observed on predicted benefit
``calibration_slope``         over quintiles of predicted benefit
``eavg_for_benefit``,         E-for-benefit: mean / median / 90th percentile of the
``e50_…``, ``e90_…``          distance of the loess curve of observed on predicted
                              pair benefit from the diagonal (the c-for-benefit pairs)
``autoc``, ``qini``           RATE of the ranking by predicted benefit (Yadlowsky et
                              al. 2025; :mod:`bayes_hte.evaluation.ranking`)
``mse``                       mean squared error of the ITE against the truth
``ci_coverage``,              coverage of the true ITE by the credible / new-trial
``pi_coverage``               prediction intervals
``pape``                      PAPE (Imai & Li 2021) of "treat if benefit > 0"
``gain_vs_treat_all``, ...    risk reduction of the rule against treat-all / treat-none
``elpd_loo``                  PSIS-LOO expected log predictive density (ArviZ)
============================  ==========================================================

The tidy table has one row per model x validation x trial x metric, with columns
``model, heterogeneity, learner, validation, trial, metric, estimate, mean, sd, ci_low,
ci_high, n, note``: ``estimate`` is the metric of the posterior-mean ITE, ``mean``/``sd``/
``ci_*`` summarise the per-draw metrics (for ``elpd_loo``: the estimate, its standard
error and a normal interval), ``note`` says in words what makes a row unreliable or
undefined (``""`` otherwise).

The diagnostics of the fits are rows of the same table (:data:`DIAGNOSTICS`), so none
is lost on the way to a report: per model ``divergences``, ``max_r_hat``,
``min_ess_bulk``, ``min_ess_tail`` (in-sample; R-hat is not defined for a single chain,
and the note says so) and, with LOO, ``pareto_k_max`` and ``pareto_k_bad`` (the number
of observations whose Pareto :math:`\hat k` exceeds ArviZ's threshold, 0.7 for large
posterior samples: their ``elpd_loo`` is unreliable, and the note of the ``elpd_loo``
row says so with ArviZ's warning text); with IECV, ``divergences`` of each refit (per
held-out trial, summed in ``pooled``). They are also in :attr:`ITEComparison.diagnostics`
and, in words, in the ``log``.

In-sample, the truth for ``mse`` and ``ci_coverage`` is the ITE in an average trial
(what :meth:`IPDMetaModel.ite` estimates); prediction intervals are scored against
``truth_new`` (the ITE in the patient's own trial) when given. In cross-validation the
recalibrated ITE predicts the held-out trial, so ``truth_new`` (own trial) is used for
all truth-based metrics when given.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike
from scipy.stats import norm

from bayes_hte.data.ipd import IPDData
from bayes_hte.diagnostics import (
    convergence_warnings,
    fit_warnings,
    format_health,
    health_problems,
    loo_table,
    sampling_summary,
)
from bayes_hte.errors import DataError
from bayes_hte.estimators import IPDMetaModel
from bayes_hte.evaluation.metrics import (
    BENEFIT_METRICS,
    METRICS,
    benefit_from_ite,
    calibration_for_benefit,
    metric_table,
)
from bayes_hte.models.priors import priors_for_models
from bayes_hte.options import (
    CV,
    HETEROGENEITY,
    Baseline,
    Heterogeneity,
    Learner,
    Outcome,
    Sampler,
    SummaryValue,
)
from bayes_hte.workflows.iecv import BackgroundIECV, IECVResult, log_iecv
from bayes_hte.workflows.iecv import iecv as run_iecv
from bayes_hte.workflows.scoring import (
    DEFAULT_MAX_DRAWS,
    benefit_curves,
    evaluation_streams,
    outcome_arrays,
    same_settings,
    score_predictions,
    score_settings,
    thin,
    truth_vector,
)

#: Columns of the tidy metric table.
COLUMNS = ["model", "heterogeneity", "learner", "validation", "trial", "metric", "estimate",
           "mean", "sd", "ci_low", "ci_high", "n", "note"]
#: Order of the metrics in the wide tables (``ITEComparison.summary``).
METRIC_ORDER = (*METRICS, *BENEFIT_METRICS, "elpd_loo", "elpd_diff")
#: Note of the in-sample ``pape_se`` rows (Imai & Li 2021's variance is that of a rule
#: fixed before the patients are seen).
IN_SAMPLE_PAPE_SE_NOTE = ("the rule was learnt from these patients: this SE leaves that "
                          "out and is too small; the IECV rows have the valid one")
#: Diagnostic rows of the tidy table (not metrics of the ITE; see the module docstring).
DIAGNOSTICS = ("divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail", "pareto_k_max",
               "pareto_k_bad")


# --------------------------------------------------------------------------- helpers
def _label_parts(model, label: str) -> tuple[str, str]:
    het = getattr(model, "heterogeneity", None)
    lr = getattr(model, "learner", None)
    if het is None and "-" in label:
        het, lr = label.rsplit("-", 1)
    return str(het), str(lr).lower()


def _row(model: str, metric: str, estimate: float, *, n: float = np.nan, note: str = "",
         sd: float = np.nan, ci: tuple[float, float] = (np.nan, np.nan)) -> dict:
    return {"model": model, "metric": metric, "estimate": estimate,
            "mean": estimate if np.isfinite(sd) else np.nan, "sd": sd, "ci_low": ci[0],
            "ci_high": ci[1], "n": n, "note": note}


def _loo_rows(fitted: Mapping, ci_prob: float, log) -> tuple[list[dict], pd.DataFrame | None]:
    """``elpd_loo``, ``elpd_diff``, ``pareto_k_max``, ``pareto_k_bad`` rows per model."""
    missing = [k for k, m in fitted.items()
               if m.idata is not None and "log_likelihood" not in m.idata]
    for k in missing:
        log(f"LOO {k}: not computed (fitted with log_likelihood=False)")
    idatas = {k: m.idata for k, m in fitted.items()
              if m.idata is not None and "log_likelihood" in m.idata}
    if not idatas:
        return [], None
    q = norm.ppf(0.5 + ci_prob / 2)
    try:
        tab = loo_table(idatas)
    except Exception as err:  # noqa: BLE001 - reported in the log, not hidden
        log(f"LOO comparison failed: {err}")
        return [], None
    rows = []
    for k in tab.index:
        r = tab.loc[k]
        elpd, se, note = float(r["elpd_loo"]), float(r["se"]), str(r["warning"])
        if note:
            log(f"LOO {k}: {note}")
        rows.append(_row(k, "elpd_loo", elpd, sd=se, note=note,
                         ci=(elpd - q * se, elpd + q * se)))
        if len(tab) > 1:
            d, dse = float(r["elpd_diff"]), float(r["dse"])
            rows.append(_row(k, "elpd_diff", d, sd=dse, ci=(d - q * dse, d + q * dse),
                             note="" if r["loo_reliable"] else "from an unreliable elpd_loo"))
        rows.append(_row(k, "pareto_k_max", float(r["pareto_k_max"]), n=float(r["n_obs"])))
        rows.append(_row(k, "pareto_k_bad", float(r["pareto_k_bad"]), n=float(r["n_obs"]),
                         note=f"observations with Pareto k > {r['pareto_k_threshold']:.2f}"))
    return rows, tab


def _sampling_rows(label: str, m, log, table: pd.DataFrame | None = None
                   ) -> tuple[list[dict], dict]:
    """Divergences, R-hat and ESS of one fitted model (of its diagnostics ``table`` when
    given): tidy rows and the summary."""
    health = sampling_summary(m.idata, table=table)
    problems = health_problems(health)
    log(f"{label}: {format_health(health)}"
        + "".join(f"; {t}" for t in [health["notes"], *problems] if t))

    texts = [t for t in health["notes"].split("; ") if t] + problems

    def pick(*keys: str) -> str:  # the notes and missed targets of one diagnostic
        return "; ".join(t for t in texts if any(k in t for k in keys))

    rows = [_row(label, "divergences", float(health["divergences"]), note=pick("divergent")),
            _row(label, "max_r_hat", health["max_r_hat"], note=pick("R-hat")),
            _row(label, "min_ess_bulk", health["min_ess_bulk"],
                 note=pick("bulk ESS", "R-hat and ESS")),
            _row(label, "min_ess_tail", health["min_ess_tail"],
                 note=pick("tail ESS", "R-hat and ESS"))]
    health["problems"] = "; ".join(problems)
    return rows, health


# --------------------------------------------------------------------------- result
@dataclass
class ITEComparison:
    """Scores of several ITE models on one meta-analysis.

    Made by :func:`evaluate_models`; figures of it are drawn by
    :mod:`bayes_hte.plots.evaluation`.

    Parameters
    ----------
    table : pandas.DataFrame
        The tidy metric table (columns :data:`COLUMNS`; see the module docstring).
    ite : dict of str to numpy.ndarray, shape (patient,)
        Posterior-mean ITE of each model (in-sample), by model label.
    calibration : dict of (str, str) to pandas.DataFrame
        Calibration groups of the posterior-mean benefit (observed vs predicted), by
        ``(validation, label)``.
    iecv : IECVResult, optional
        The cross-validation predictions, when ``cv="iecv"``.
    loo : pandas.DataFrame, optional
        PSIS-LOO per model with its Pareto k diagnostic and ArviZ's warning text
        (:func:`bayes_hte.diagnostics.loo_table`).
    truth : numpy.ndarray, shape (patient,), optional
        True ITE in an average trial (simulations).
    seconds : dict
        Wall time (seconds) of the steps: ``in_sample_metrics``, ``loo``,
        ``iecv_fits``, ``iecv_total``.
    diagnostics : pandas.DataFrame, optional
        One row per model: the main fit's :func:`bayes_hte.diagnostics.sampling_summary`
        (divergences, worst R-hat, smallest ESS, ``notes`` on what is not defined) and
        ``problems`` (the targets it misses, :func:`bayes_hte.diagnostics.health_problems`),
        its
        Pareto k summary (``pareto_k_max``, ``pareto_k_bad``, ``loo_warning``) and, with
        IECV, ``iecv_divergences`` summed over the refits.
    toc : dict of (str, str) to pandas.DataFrame
        TOC curve of the posterior-mean benefit by ``(validation, label)``
        (:meth:`bayes_hte.evaluation.ranking.RankAverageEffect.toc_table`: ``q``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``; half-sample bootstrap, risk
        reduction scale).
    benefit_curve : dict of (str, str) to pandas.DataFrame
        Loess calibration curve of benefit of the posterior-mean benefit by
        ``(validation, label)``
        (:meth:`bayes_hte.evaluation.benefit_curve.EForBenefit.curve_table`:
        ``predicted``, ``observed``, ``ci_low``, ``ci_high``; band over bootstrap
        resamples of the pairs; its ``attrs["eavg"]`` is the Eavg-for-benefit).
    """

    table: pd.DataFrame
    ite: dict[str, np.ndarray]
    calibration: dict[tuple[str, str], pd.DataFrame]
    iecv: IECVResult | None = None
    loo: pd.DataFrame | None = None
    truth: np.ndarray | None = None
    seconds: dict = field(default_factory=dict)
    diagnostics: pd.DataFrame | None = None
    toc: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    benefit_curve: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)

    def summary(self, *, validation: str = "in-sample", trial: str | None = None,
                value: SummaryValue = "estimate"
                ) -> pd.DataFrame:
        """Wide table: one row per model, one column per metric.

        Parameters
        ----------
        validation : {"in-sample", "iecv"}
            Which validation's rows.
        trial : str, optional
            ``"all"`` (in-sample), a trial label, ``"pooled"`` or ``"median"`` (IECV);
            default ``"all"`` in-sample and ``"pooled"`` for IECV.
        value : {"estimate", "mean", "ci_low", "ci_high"}
            Which column of the tidy table fills the cells.

        Returns
        -------
        pandas.DataFrame
            Models (in fitting order) x metrics (in the order of :data:`METRIC_ORDER`).

        Raises
        ------
        ValueError
            No rows with this validation and trial.
        """
        trial = trial or ("all" if validation == "in-sample" else "pooled")
        sub = self.table[(self.table["validation"] == validation)
                         & (self.table["trial"] == trial)]
        if sub.empty:
            raise ValueError(f"no rows with validation={validation!r}, trial={trial!r}")
        wide = sub.pivot(index="model", columns="metric", values=value)
        order = [m for m in METRIC_ORDER if m in wide.columns]
        models = list(dict.fromkeys(sub["model"]))
        return wide.loc[models, order]

    def save(self, outdir: str | Path, *, prefix: str = "evaluation") -> dict[str, Path]:
        """Write the tables to ``outdir`` as CSV files.

        The figures are written by :func:`bayes_hte.plots.save_comparison_figures`.

        Parameters
        ----------
        outdir : str or pathlib.Path
            Directory to write to (created if missing).
        prefix : str
            File name prefix: ``<prefix>_<name>.csv``.

        Returns
        -------
        dict of str to pathlib.Path
            ``table`` (the tidy metric table), ``calibration_table`` (the calibration
            groups of every model and validation), ``diagnostics`` (one row per model,
            :attr:`diagnostics`), ``toc`` and ``benefit_curve`` (the curves of
            :attr:`toc` and :attr:`benefit_curve`, when computed) and, with
            cross-validation, ``iecv_recalibration`` and ``iecv_fits``.
        """
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        paths = {"table": outdir / f"{prefix}_metrics.csv"}
        self.table.to_csv(paths["table"], index=False)
        cal = pd.concat([t.assign(validation=v, model=lab) for (v, lab), t
                         in self.calibration.items()]).reset_index()
        paths["calibration_table"] = outdir / f"{prefix}_calibration_groups.csv"
        cal.to_csv(paths["calibration_table"], index=False)
        for name in ("toc", "benefit_curve"):
            curves = getattr(self, name)
            if curves:
                paths[name] = outdir / f"{prefix}_{name}.csv"
                pd.concat([t.assign(validation=v, model=lab) for (v, lab), t
                           in curves.items()]).to_csv(paths[name], index=False)
        if self.diagnostics is not None:
            paths["diagnostics"] = outdir / f"{prefix}_diagnostics.csv"
            self.diagnostics.to_csv(paths["diagnostics"])
        if self.iecv is not None:
            paths["iecv_recalibration"] = outdir / f"{prefix}_iecv_recalibration.csv"
            self.iecv.recalibration.to_csv(paths["iecv_recalibration"], index=False)
            paths["iecv_fits"] = outdir / f"{prefix}_iecv_fits.csv"
            self.iecv.fits.to_csv(paths["iecv_fits"], index=False)
        return paths


# --------------------------------------------------------------------------- evaluation
def _check_same_data(label: str, own: IPDData, data: IPDData) -> None:
    """DataError unless ``data`` holds the patients ``label`` was fitted on (its ITEs
    are those patients')."""
    same = (own is data or (own.n_patients == data.n_patients
                            and np.array_equal(own.y, data.y) and np.array_equal(own.z, data.z)
                            and list(own.study_labels) == list(data.study_labels)
                            and np.array_equal(own.study_idx, data.study_idx)))
    if not same:
        raise DataError(f"model {label!r} was fitted on other data ({own.n_patients} "
                        f"patients) than the data given ({data.n_patients}): the models are "
                        "scored on the patients they were fitted on; for other patients "
                        "use m.ite(newdata) and the metric functions of bayes_hte.evaluation")


def evaluate_models(
    fitted: Mapping[str, IPDMetaModel],
    data: IPDData,
    *,
    truth: ArrayLike | str | None = None,
    truth_new: ArrayLike | str | None = None,
    cv: CV | None = None,
    cv_options: Mapping | None = None,
    groups: int = 5,
    ci_prob: float = 0.95,
    max_draws: int | None = DEFAULT_MAX_DRAWS,
    loo: bool = True,
    random_state: int | np.random.Generator | None = None,
    log: Callable[[str], None] | None = None,
    cv_result: IECVResult | BackgroundIECV | None = None,
    ite_draws: Mapping[str, tuple[xr.DataArray, xr.DataArray]] | None = None,
    diagnostics_tables: Mapping[str, pd.DataFrame] | None = None,
) -> ITEComparison:
    """Score models already fitted on ``data`` (in-sample and, optionally, by IECV).

    Parameters
    ----------
    fitted : mapping of str to IPDMetaModel
        Fitted models by label.
    data : IPDData
        The data the models were fitted on.
    truth : array_like, shape (patient,), or str, optional
        True ITE in an average trial (or the name of a column of ``data.frame``), on
        the scale of the ITE (risk or survival difference).
    truth_new : array_like, shape (patient,), or str, optional
        True ITE in each patient's own trial (or a column name): the target of the
        new-trial prediction intervals and of the cross-validated predictions.
    cv : {"iecv", "none", None}
        Add internal–external cross-validation (:func:`bayes_hte.workflows.iecv.iecv`).
    cv_options : mapping, optional
        Keyword arguments of :func:`bayes_hte.workflows.iecv.iecv` (sampler settings,
        ``workers``, ``recalibrate``).
    cv_result : IECVResult or BackgroundIECV, optional
        With ``cv="iecv"``: the cross-validation already run, or still running in
        another process (:func:`bayes_hte.workflows.iecv.submit_iecv`, started before
        the models were fitted), of the same models on the same data; it is scored
        instead of refitting, and ``cv_options`` are not used. A running one is waited
        for after the in-sample metrics (and LOO), so that they are computed while it
        runs; its per-refit lines are then logged (:func:`~bayes_hte.workflows.iecv.log_iecv`)
        with the seconds waited.
    ite_draws : mapping of str to (DataArray, DataArray), optional
        Per model label, its ``ite()`` and ``ite(new_trial=True)`` draws when the caller
        has them already (dims (chain, draw, patient); the new-trial draws may be
        thinned to ``max_draws`` by :func:`~bayes_hte.workflows.scoring.thin_draws`);
        models not in it have theirs computed here. The posterior-mean ITE is taken from
        the first.
    diagnostics_tables : mapping of str to pandas.DataFrame, optional
        Per model label, its :func:`bayes_hte.diagnostics.diagnostics_table` when the
        caller has it already (its R-hat and ESS give the sampling rows); models not in
        it have theirs computed here.
    groups : int
        Quantile groups for calibration for benefit.
    ci_prob : float
        Probability of the equal-tailed intervals.
    max_draws : int or None
        Posterior draws (evenly thinned) used for the per-draw metrics, in sample and
        of the IECV predictions alike (None: all).
    loo : bool
        Add PSIS-LOO rows (``elpd_loo``, ``elpd_diff``) from ArviZ (needs the models'
        pointwise log likelihood).
    random_state : int or numpy.random.Generator, optional
        Seed of the matching (subsampling, ties) of c-for-benefit.
    log : callable, optional
        Progress messages.

    Returns
    -------
    ITEComparison
        The tidy metric table (one row per model x validation x trial x metric), the
        posterior-mean ITEs, the calibration groups and the IECV predictions.

    Raises
    ------
    DataError
        ``data`` is not an ``IPDData`` or not the data a model was fitted on; a truth
        that is not a column, has the wrong length or non-finite values; data that
        cannot be cross-validated.
    ValueError
        No models, an unfitted model, ``cv`` not one of ``"iecv"``, ``"none"``,
        ``None``, or a ``cv_result`` of other models or data.
    """
    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData, got {type(data).__name__}")
    if not fitted:
        raise ValueError("no models to evaluate")
    if cv not in ("iecv", "none", None):
        raise ValueError(f"cv must be 'iecv', 'none' or None, got {cv!r}")
    log = log or (lambda msg: None)
    truth = truth_vector(truth, data, "truth")
    truth_new = truth_vector(truth_new, data, "truth_new")
    rng, curve_rng, iecv_rngs = evaluation_streams(random_state)
    trials = np.asarray(data.study_labels, dtype=object)[data.study_idx]
    seconds = {}

    start = time.perf_counter()
    rows, ite_means, calibration, health = [], {}, {}, {}
    toc, curves = {}, {}
    for label, m in fitted.items():
        if getattr(m, "idata", None) is None:
            raise ValueError(f"model {label!r} is not fitted")
        _check_same_data(label, m.data, data)
        het, lr = _label_parts(m, label)
        sampling, health[label] = _sampling_rows(label, m, log,
                                                 (diagnostics_tables or {}).get(label))
        given = (ite_draws or {}).get(label)
        ite_da = m.ite() if given is None else given[0]
        y, z, known = outcome_arrays(data, horizon=ite_da.attrs.get("horizon"))
        ite = thin(ite_da.values, max_draws)[:, known]
        kw = {"horizon": ite_da.attrs["horizon"]} if data.outcome_type != "binary" else {}
        new_da = m.ite(new_trial=True, **kw) if given is None else given[1]
        ite_new = thin(new_da.values, max_draws)[:, known]
        ite_means[label] = ite_da.mean(("chain", "draw")).values
        tab = metric_table(
            y[known], z[known], ite, outcome=data.outcome_type,
            truth=None if truth is None else truth[known], ite_new=ite_new,
            truth_new=None if truth_new is None else truth_new[known],
            strata=trials[known], groups=groups, ci_prob=ci_prob, random_state=rng,
            benefit_metrics=True)
        tab.insert(0, "trial", "all")
        tab.insert(0, "validation", "in-sample")
        tab.insert(0, "learner", lr)
        tab.insert(0, "heterogeneity", het)
        tab.insert(0, "model", label)
        rows.append(tab)
        rows.append(pd.DataFrame([{**r, "heterogeneity": het, "learner": lr,
                                   "validation": "in-sample", "trial": "all"}
                                  for r in sampling]))
        benefit = benefit_from_ite(ite.mean(axis=0), data.outcome_type)
        calibration[("in-sample", label)] = calibration_for_benefit(
            y[known], z[known], benefit, groups=groups).table(ci_prob=ci_prob)
        toc[("in-sample", label)], curves[("in-sample", label)] = benefit_curves(
            y[known], z[known], benefit, trials[known], ci_prob, curve_rng)
    seconds["in_sample_metrics"] = time.perf_counter() - start
    log(f"evaluation: in-sample metrics of {len(fitted)} models in "
        f"{seconds['in_sample_metrics']:.1f} s")

    loo_tab = None
    if loo:
        start = time.perf_counter()
        loo_rows, loo_tab = _loo_rows(fitted, ci_prob, log)
        for r in loo_rows:
            het, lr = _label_parts(fitted[r["model"]], r["model"])
            rows.append(pd.DataFrame([{**r, "heterogeneity": het, "learner": lr,
                                       "validation": "in-sample", "trial": "all"}]))
        seconds["loo"] = time.perf_counter() - start

    if cv != "iecv":
        cv_result = None
    else:
        start = time.perf_counter()
        opts = dict(cv_options or {})
        if isinstance(cv_result, BackgroundIECV):
            cv_result = cv_result.result()
            log_iecv(cv_result, log)
            log(f"evaluation: the cross-validation ran alongside the main fits; "
                f"{time.perf_counter() - start:.0f} s waited for it after the in-sample "
                f"metrics")
            start = time.perf_counter()
        refitted_here = cv_result is None
        if refitted_here:
            cv_result = run_iecv(data, dict(fitted), log=log, **opts)
        elif (set(cv_result.labels) != set(fitted)
              or cv_result.data.n_patients != data.n_patients):
            raise ValueError(f"cv_result cross-validates models {cv_result.labels} on "
                             f"{cv_result.data.n_patients} patients, not the models "
                             f"{list(fitted)} on {data.n_patients}")
        seconds["iecv_fits"] = cv_result.wall_seconds
        settings = score_settings(truth_new if truth_new is not None else truth, groups,
                                   ci_prob, random_state, max_draws)
        scores = cv_result.scores
        if scores is not None and same_settings(scores.settings, settings):
            log(f"evaluation: IECV metrics computed in the cross-validation process "
                f"({scores.seconds:.1f} s)")
        else:
            scores = score_predictions(cv_result, settings, iecv_rngs)
        seconds["iecv_metrics"] = scores.seconds
        parts = {k: _label_parts(m, k) for k, m in fitted.items()}
        tab = scores.table.copy()
        tab.insert(1, "heterogeneity", tab["model"].map(lambda k: parts[k][0]))
        tab.insert(2, "learner", tab["model"].map(lambda k: parts[k][1]))
        tab.insert(3, "validation", "iecv")
        rows.append(tab)
        rows.append(_iecv_rows(cv_result, parts))
        for label in cv_result.labels:
            calibration[("iecv", label)] = scores.calibration[label]
            toc[("iecv", label)], curves[("iecv", label)] = (scores.toc[label],
                                                             scores.curves[label])
        seconds["iecv_total"] = time.perf_counter() - start
        log(f"evaluation: IECV (fits + metrics) in {seconds['iecv_total']:.0f} s"
            if refitted_here else
            f"evaluation: IECV tables from the given cross-validation in "
            f"{seconds['iecv_total']:.1f} s (its fits took {cv_result.wall_seconds:.0f} s)")

    table = pd.concat(rows, ignore_index=True).reindex(columns=COLUMNS)
    table["note"] = table["note"].fillna("")
    table.loc[(table["metric"] == "pape_se") & (table["validation"] == "in-sample"),
              "note"] = IN_SAMPLE_PAPE_SE_NOTE
    table.loc[(table["metric"] == "pape_se") & (table["trial"] == "median"),
              "note"] = "the median of the held-out trials' SEs, not the SE of the median"
    diag = pd.DataFrame.from_dict(health, orient="index")
    if loo_tab is not None:
        diag = diag.join(loo_tab[["pareto_k_max", "pareto_k_bad", "warning"]]
                         .rename(columns={"warning": "loo_warning"}))
    if cv_result is not None:
        diag["iecv_divergences"] = cv_result.fits.groupby("model")["divergences"].sum()
    diag.index.name = "model"
    return ITEComparison(table=table, ite=ite_means, calibration=calibration, iecv=cv_result,
                         loo=loo_tab, truth=truth, seconds=seconds, diagnostics=diag,
                         toc=toc, benefit_curve=curves)


def _iecv_rows(cv_result: IECVResult, parts: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """``divergences`` of every IECV refit (per held-out trial, summed in ``pooled``)."""
    note = "; ".join(cv_result.notes)
    rows = []
    for label, fits in cv_result.fits.groupby("model", sort=False):
        for trial, d in zip(fits["trial"], fits["divergences"], strict=True):
            rows.append(_row(label, "divergences", float(d), note=note) | {"trial": str(trial)})
        rows.append(_row(label, "divergences", float(fits["divergences"].sum()), note=note)
                    | {"trial": "pooled"})
    out = pd.DataFrame(rows)
    out["heterogeneity"] = out["model"].map(lambda k: parts[k][0])
    out["learner"] = out["model"].map(lambda k: parts[k][1])
    out["validation"] = "iecv"
    return out


def compare_ite_models(
    data: IPDData,
    *,
    heterogeneity: Heterogeneity | Sequence[Heterogeneity] = HETEROGENEITY,
    learner: Learner | Sequence[Learner] = ("s", "t"),
    outcome: Outcome | None = None,
    priors: Mapping | None = None,
    baseline: Baseline | None = None,
    cuts: Sequence[float] | None = None,
    n_intervals: int | None = None,
    horizon: float | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: Sampler | None = None,
    cv: CV | None = "iecv",
    cv_options: Mapping | None = None,
    truth: ArrayLike | str | None = None,
    truth_new: ArrayLike | str | None = None,
    groups: int = 5,
    ci_prob: float = 0.95,
    max_draws: int | None = DEFAULT_MAX_DRAWS,
    loo: bool = True,
    outdir: str | Path | None = None,
    save_figures: Callable[[ITEComparison, Path], Mapping[str, Path]] | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    r"""Fit a grid of ITE models and score them in one tidy table.

    Every structure in ``heterogeneity`` is fitted with every learner in ``learner``
    (:class:`~bayes_hte.IPDMetaModel`), then scored in-sample and, with
    ``cv="iecv"``, by internal–external cross-validation with intercept recalibration
    (Bouvier et al. 2024). See :mod:`bayes_hte.workflows.compare` for the metrics.

    Parameters
    ----------
    data : IPDData
        The meta-analysis.
    heterogeneity : str or sequence of str
        Structures (default all five).
    learner : {"s", "t"} or sequence of them
        Learners.
    outcome : {"binary", "time_to_event"}, optional
        Default: the data's outcome type.
    priors : mapping, optional
        Prior overrides by parameter name for every model: each model takes those of
        its own parameters (a T-learner has no ``gamma``); a name no model has is a
        ``ValueError`` before any fit.
    baseline, cuts, n_intervals, horizon
        Time-to-event options of the models (:class:`~bayes_hte.IPDMetaModel`);
        ``None`` keeps the model's default.
    draws, tune, chains, random_seed, sampler
        Sampler settings of the main fits (:meth:`IPDMetaModel.fit`).
    cv : {"iecv", "none", None}
        Add internal–external cross-validation (costs trials x models extra fits with
        the settings of ``cv_options``, default
        :data:`bayes_hte.workflows.iecv.IECV_SAMPLER`: those of a main fit).
    cv_options : mapping, optional
        Keyword arguments of :func:`bayes_hte.workflows.iecv.iecv`.
    truth, truth_new : array_like, shape (patient,), or str, optional
        True ITE in an average trial / in each patient's own trial (simulations), or
        column names of ``data.frame``.
    groups, ci_prob, max_draws, loo
        See :func:`evaluate_models`.
    outdir : str or pathlib.Path, optional
        Also write the tables there (:meth:`ITEComparison.save`).
    save_figures : callable, optional
        Called as ``save_figures(comparison, outdir)`` when ``outdir`` is given to
        write the figures too, e.g. :func:`bayes_hte.plots.save_comparison_figures`
        (this layer draws nothing itself).
    log : callable, optional
        Progress messages.

    Returns
    -------
    pandas.DataFrame
        One row per model x validation x trial x metric: ``model, heterogeneity,
        learner, validation, trial, metric, estimate, mean, sd, ci_low, ci_high, n``.
        For figures use :func:`evaluate_models` (returns an :class:`ITEComparison`) and
        :mod:`bayes_hte.plots.evaluation`, or ``outdir`` and ``save_figures``.

    Raises
    ------
    DataError
        ``data`` is not an ``IPDData``, or as :func:`evaluate_models`.
    ValueError
        An unknown structure, learner or time-to-event option.

    Examples
    --------
    >>> tab = bh.compare_ite_models(data, heterogeneity=["naive", "random_intercept"],
    ...                             learner=["s"], cv="iecv")          # doctest: +SKIP
    >>> tab.query("validation == 'iecv' and trial == 'pooled'")         # doctest: +SKIP
    """
    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData (bh.IPDData.from_frame), got "
                        f"{type(data).__name__}")
    hets = [heterogeneity] if isinstance(heterogeneity, str) else list(heterogeneity)
    lrs = [learner] if isinstance(learner, str) else list(learner)
    log = log or (lambda msg: None)
    fitted = {}
    options = dict(outcome=outcome or data.outcome_type, baseline=baseline, cuts=cuts,
                   n_intervals=n_intervals, horizon=horizon)
    # one set of priors for every model: each gets those of its own parameters, and a
    # name that no model has is refused before any fit
    own = priors_for_models(priors, {
        (het, lr): IPDMetaModel(heterogeneity=het, learner=lr, **options).default_priors()
        for het in hets for lr in lrs})
    for het in hets:
        for lr in lrs:
            m = IPDMetaModel(heterogeneity=het, learner=lr, priors=own[(het, lr)], **options)
            log(f"fitting {m.label}...")
            with warnings.catch_warnings(record=True) as caught, convergence_warnings(False):
                warnings.simplefilter("always")  # the health is logged and tabulated
                m.fit(data, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                      sampler=sampler, log_likelihood=loo, posterior_predictive=False)
            for msg in fit_warnings(caught):
                log(f"{m.label}: warning: {msg}")
            fitted[m.label] = m
    result = evaluate_models(fitted, data, truth=truth, truth_new=truth_new, cv=cv,
                             cv_options=cv_options, groups=groups, ci_prob=ci_prob,
                             max_draws=max_draws, loo=loo, random_state=random_seed, log=log)
    if outdir is not None:
        result.save(outdir)
        if save_figures is not None:
            save_figures(result, Path(outdir))
    return result.table
