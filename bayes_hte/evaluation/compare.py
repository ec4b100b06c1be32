r"""Compare ITE models on one meta-analysis: which structure and learner to trust?

:func:`compare_ite_models` fits a grid of heterogeneity structures x learners and
scores them; :func:`evaluate_models` scores models already fitted; the ``bayes-hte run``
runner calls :func:`evaluate_fitted`. Every metric is computed per posterior draw (so it
has an interval) and for the posterior-mean ITE, in the fitting data ("in-sample") and,
with ``cv="iecv"``, by internal–external cross-validation (:mod:`.iecv`):

============================  ==========================================================
metric                        definition (:mod:`bayes_hte.evaluation.metrics`)
============================  ==========================================================
``c_for_benefit``             concordance of predicted and observed benefit in pairs
                              matched on predicted benefit within trials
``calibration_intercept``,    least-squares line of observed on predicted benefit
``calibration_slope``         over quintiles of predicted benefit
``mse``                       mean squared error of the ITE against the truth
``ci_coverage``,              coverage of the true ITE by the credible / new-trial
``pi_coverage``               prediction intervals
``pape``                      PAPE (Imai & Li 2021) of "treat if benefit > 0"
``gain_vs_treat_all``, ...    risk reduction of the rule against treat-all / treat-none
``elpd_loo``                  PSIS-LOO expected log predictive density (ArviZ)
============================  ==========================================================

The tidy table has one row per model x validation x trial x metric, with columns
``model, heterogeneity, learner, validation, trial, metric, estimate, mean, sd, ci_low,
ci_high, n``: ``estimate`` is the metric of the posterior-mean ITE, ``mean``/``sd``/
``ci_*`` summarise the per-draw metrics (for ``elpd_loo``: the estimate, its standard
error and a normal interval).

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
from typing import Literal

import numpy as np
import pandas as pd

from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.evaluation.iecv import IECVResult, check_iecv
from bayes_hte.evaluation.iecv import iecv as run_iecv
from bayes_hte.evaluation.metrics import (
    METRICS,
    benefit_from_ite,
    calibration_for_benefit,
    event_by_horizon,
    metric_table,
)

CV = Literal["iecv", "none"] | None
ALL_STRUCTURES = ("naive", "random_intercept", "stratified_intercept", "rank1",
                  "fully_stratified")
COLUMNS = ["model", "heterogeneity", "learner", "validation", "trial", "metric", "estimate",
           "mean", "sd", "ci_low", "ci_high", "n"]

#: Keys allowed in a spec's ``[evaluation]`` table.
EVAL_KEYS = {"compare", "cv", "draws", "tune", "chains", "sampler", "random_seed",
             "target_accept", "workers", "recalibrate", "groups", "max_draws", "loo"}


# --------------------------------------------------------------------------- helpers
def _thin(values: np.ndarray, max_draws: int | None) -> np.ndarray:
    """(chain, draw, n) -> (m, n) with at most ``max_draws`` evenly spaced draws."""
    flat = np.asarray(values, dtype=float).reshape(-1, values.shape[-1])
    if max_draws is None or flat.shape[0] <= max_draws:
        return flat
    idx = np.linspace(0, flat.shape[0] - 1, int(max_draws)).round().astype(int)
    return flat[idx]


def outcome_arrays(data: IPDData, *, horizon: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, treatment, known)`` for the metrics.

    Binary: the outcome and every patient. Time-to-event: the event-by-``horizon``
    indicator and the mask of patients whose status at the horizon is known (see
    :func:`~bayes_hte.evaluation.metrics.event_by_horizon`).
    """
    if data.outcome_type == "binary":
        return data.y, data.z, np.ones(data.n_patients, dtype=bool)
    if horizon is None:
        raise DataError("time-to-event evaluation needs the horizon of the ITE (the model's "
                        "horizon option)")
    y, known = event_by_horizon(data.t, data.y, horizon)
    return y, data.z, known


def _label_parts(model, label: str) -> tuple[str, str]:
    het = getattr(model, "heterogeneity", None)
    lr = getattr(model, "learner", None)
    if het is None and "-" in label:
        het, lr = label.rsplit("-", 1)
    return str(het), str(lr).lower()


def _loo_rows(fitted: Mapping, ci_prob: float, log) -> tuple[list[dict], pd.DataFrame | None]:
    import arviz as az
    from scipy.stats import norm

    idatas = {k: m.idata for k, m in fitted.items()
              if m.idata is not None and "log_likelihood" in m.idata}
    if not idatas:
        return [], None
    q = norm.ppf(0.5 + ci_prob / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if len(idatas) > 1:
                tab = az.compare(idatas, round_to="none")
            else:
                (k, idata), = idatas.items()
                res = az.loo(idata)
                tab = pd.DataFrame({"elpd": [res.elpd], "se": [res.se]}, index=[k])
        except Exception as err:  # noqa: BLE001 - reported in the log, not hidden
            log(f"LOO comparison failed: {err}")
            return [], None
    rows = []
    for k in tab.index:
        elpd, se = float(tab.loc[k, "elpd"]), float(tab.loc[k, "se"])
        rows.append({"model": k, "metric": "elpd_loo", "estimate": elpd, "mean": elpd,
                     "sd": se, "ci_low": elpd - q * se, "ci_high": elpd + q * se, "n": np.nan})
        if "elpd_diff" in tab.columns:
            d, dse = float(tab.loc[k, "elpd_diff"]), float(tab.loc[k, "dse"])
            rows.append({"model": k, "metric": "elpd_diff", "estimate": d, "mean": d,
                         "sd": dse, "ci_low": d - q * dse, "ci_high": d + q * dse,
                         "n": np.nan})
    keep = [c for c in tab.columns if tab[c].dtype != object]
    return rows, tab[keep]


# --------------------------------------------------------------------------- result
@dataclass
class ITEComparison:
    """Scores of several ITE models on one meta-analysis.

    Attributes
    ----------
    table : pandas.DataFrame
        The tidy metric table (see the module docstring for its columns).
    ite : dict label -> ndarray (patient,)
        Posterior-mean ITE of each model (in-sample).
    calibration : dict (validation, label) -> DataFrame
        Calibration groups of the posterior-mean benefit (observed vs predicted).
    iecv : IECVResult or None
        The cross-validation predictions, when ``cv="iecv"``.
    loo : DataFrame or None
        ArviZ's ``compare`` table.
    """

    table: pd.DataFrame
    ite: dict[str, np.ndarray]
    calibration: dict[tuple[str, str], pd.DataFrame]
    iecv: IECVResult | None = None
    loo: pd.DataFrame | None = None
    truth: np.ndarray | None = None
    seconds: dict = field(default_factory=dict)

    def summary(self, *, validation: str = "in-sample", trial: str | None = None,
                value: Literal["estimate", "mean", "ci_low", "ci_high"] = "estimate"
                ) -> pd.DataFrame:
        """Wide table: one row per model, one column per metric.

        ``trial`` defaults to ``"all"`` in-sample and ``"pooled"`` for IECV.
        """
        trial = trial or ("all" if validation == "in-sample" else "pooled")
        sub = self.table[(self.table["validation"] == validation)
                         & (self.table["trial"] == trial)]
        if sub.empty:
            raise ValueError(f"no rows with validation={validation!r}, trial={trial!r}")
        wide = sub.pivot(index="model", columns="metric", values=value)
        order = [m for m in [*METRICS, "elpd_loo", "elpd_diff"] if m in wide.columns]
        models = list(dict.fromkeys(sub["model"]))
        return wide.loc[models, order]

    def plot_calibration(self, *, validation: str = "in-sample", **kwargs):
        """Calibration-for-benefit curves, one panel per model."""
        from bayes_hte.evaluation.plots import plot_calibration

        tabs = {lab: t for (v, lab), t in self.calibration.items() if v == validation}
        return plot_calibration(tabs, title=f"Calibration for benefit ({validation})", **kwargs)

    def plot_ite(self, **kwargs):
        """Distribution of the posterior-mean ITE per model (S- and T-learners paired)."""
        from bayes_hte.evaluation.plots import plot_ite_distributions

        return plot_ite_distributions(self.ite, truth=self.truth, **kwargs)

    def plot_forest(self, **kwargs):
        """Forest plot of the metrics (in-sample and IECV pooled)."""
        from bayes_hte.evaluation.plots import plot_metric_forest

        return plot_metric_forest(self.table, **kwargs)

    def save(self, outdir: str | Path, *, prefix: str = "evaluation") -> dict[str, Path]:
        """Write the tables (CSV) and figures (PNG) to ``outdir``; returns the paths."""
        import matplotlib.pyplot as plt

        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        paths = {"table": outdir / f"{prefix}_metrics.csv"}
        self.table.to_csv(paths["table"], index=False)
        cal = pd.concat([t.assign(validation=v, model=lab) for (v, lab), t
                         in self.calibration.items()]).reset_index()
        paths["calibration_table"] = outdir / f"{prefix}_calibration_groups.csv"
        cal.to_csv(paths["calibration_table"], index=False)
        if self.iecv is not None:
            paths["iecv_recalibration"] = outdir / f"{prefix}_iecv_recalibration.csv"
            self.iecv.recalibration.to_csv(paths["iecv_recalibration"], index=False)
            paths["iecv_fits"] = outdir / f"{prefix}_iecv_fits.csv"
            self.iecv.fits.to_csv(paths["iecv_fits"], index=False)
        figures = {"calibration_in_sample": lambda: self.plot_calibration(),
                   "ite_by_model": self.plot_ite, "metric_forest": self.plot_forest}
        if self.iecv is not None:
            figures["calibration_iecv"] = lambda: self.plot_calibration(validation="iecv")
        for name, make in figures.items():
            fig = make()
            paths[name] = outdir / f"{prefix}_{name}.png"
            fig.savefig(paths[name], dpi=90)
            plt.close(fig)
        return paths


# --------------------------------------------------------------------------- evaluation
def evaluate_models(
    fitted: Mapping,
    data: IPDData,
    *,
    truth=None,
    truth_new=None,
    cv: CV = None,
    cv_options: Mapping | None = None,
    groups: int = 5,
    ci_prob: float = 0.95,
    max_draws: int | None = 500,
    loo: bool = True,
    random_state=None,
    log: Callable[[str], None] | None = None,
) -> ITEComparison:
    """Score models already fitted on ``data``.

    Parameters
    ----------
    fitted : mapping label -> fitted IPDMetaModel
    data : IPDData
        The data the models were fitted on.
    truth : array (n,) or str, optional
        True ITE in an average trial (or the name of a column of ``data.frame``).
    truth_new : array (n,) or str, optional
        True ITE in each patient's own trial (or a column name): the target of the
        new-trial prediction intervals and of the cross-validated predictions.
    cv : {"iecv", "none", None}
        Add internal–external cross-validation.
    cv_options : mapping, optional
        Keyword arguments of :func:`bayes_hte.evaluation.iecv.iecv` (sampler settings,
        ``workers``, ``recalibrate``).
    groups : int
        Quantile groups for calibration for benefit.
    ci_prob : float
        Probability of the equal-tailed intervals.
    max_draws : int or None
        Posterior draws (evenly thinned) used for the per-draw metrics.
    loo : bool
        Add PSIS-LOO rows (``elpd_loo``, ``elpd_diff``) from ArviZ.
    random_state : int, optional
        Seed of the matching (subsampling, ties) of c-for-benefit.
    log : callable, optional
        Progress messages.
    """
    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData, got {type(data).__name__}")
    if not fitted:
        raise ValueError("no models to evaluate")
    if cv not in ("iecv", "none", None):
        raise ValueError(f"cv must be 'iecv', 'none' or None, got {cv!r}")
    log = log or (lambda msg: None)
    truth = _truth_vector(truth, data, "truth")
    truth_new = _truth_vector(truth_new, data, "truth_new")
    rng = np.random.default_rng(random_state)
    trials = np.asarray(data.study_labels, dtype=object)[data.study_idx]
    seconds = {}

    start = time.perf_counter()
    rows, ite_means, calibration = [], {}, {}
    for label, m in fitted.items():
        if getattr(m, "idata", None) is None:
            raise ValueError(f"model {label!r} is not fitted")
        het, lr = _label_parts(m, label)
        ite_da = m.ite()
        y, z, known = outcome_arrays(data, horizon=ite_da.attrs.get("horizon"))
        ite = _thin(ite_da.values, max_draws)[:, known]
        kw = {"horizon": ite_da.attrs["horizon"]} if data.outcome_type != "binary" else {}
        ite_new = _thin(m.ite(new_trial=True, **kw).values, max_draws)[:, known]
        ite_means[label] = ite_da.mean(("chain", "draw")).values
        tab = metric_table(
            y[known], z[known], ite, outcome=data.outcome_type,
            truth=None if truth is None else truth[known], ite_new=ite_new,
            truth_new=None if truth_new is None else truth_new[known],
            strata=trials[known], groups=groups, ci_prob=ci_prob, random_state=rng)
        tab.insert(0, "trial", "all")
        tab.insert(0, "validation", "in-sample")
        tab.insert(0, "learner", lr)
        tab.insert(0, "heterogeneity", het)
        tab.insert(0, "model", label)
        rows.append(tab)
        benefit = benefit_from_ite(ite.mean(axis=0), data.outcome_type)
        calibration[("in-sample", label)] = calibration_for_benefit(
            y[known], z[known], benefit, groups=groups).table(ci_prob=ci_prob)
    seconds["in_sample_metrics"] = time.perf_counter() - start
    log(f"evaluation: in-sample metrics of {len(fitted)} models in "
        f"{seconds['in_sample_metrics']:.1f} s")

    loo_table = None
    if loo:
        start = time.perf_counter()
        loo_rows, loo_table = _loo_rows(fitted, ci_prob, log)
        for r in loo_rows:
            het, lr = _label_parts(fitted[r["model"]], r["model"])
            rows.append(pd.DataFrame([{**r, "heterogeneity": het, "learner": lr,
                                       "validation": "in-sample", "trial": "all"}]))
        seconds["loo"] = time.perf_counter() - start

    cv_result = None
    if cv == "iecv":
        start = time.perf_counter()
        opts = dict(cv_options or {})
        cv_result = run_iecv(data, dict(fitted), log=log, **opts)
        seconds["iecv_fits"] = cv_result.wall_seconds
        y, z, known = outcome_arrays(data, horizon=cv_result.horizon)
        target = truth_new if truth_new is not None else truth
        tab = cv_result.metrics(truth=target, groups=groups, ci_prob=ci_prob,
                                random_state=rng, outcome_arrays=(y, z, known))
        parts = {k: _label_parts(m, k) for k, m in fitted.items()}
        tab.insert(1, "heterogeneity", tab["model"].map(lambda k: parts[k][0]))
        tab.insert(2, "learner", tab["model"].map(lambda k: parts[k][1]))
        tab.insert(3, "validation", "iecv")
        rows.append(tab)
        held = known & np.isin(trials, cv_result.held_out)
        for label in cv_result.labels:
            b = benefit_from_ite(cv_result.ite[label].reshape(-1, data.n_patients).mean(0),
                                 data.outcome_type)
            calibration[("iecv", label)] = calibration_for_benefit(
                y[held], z[held], b[held], groups=groups).table(ci_prob=ci_prob)
        seconds["iecv_total"] = time.perf_counter() - start
        log(f"evaluation: IECV (fits + metrics) in {seconds['iecv_total']:.0f} s")

    table = pd.concat(rows, ignore_index=True)[COLUMNS]
    return ITEComparison(table=table, ite=ite_means, calibration=calibration, iecv=cv_result,
                         loo=loo_table, truth=truth, seconds=seconds)


def _truth_vector(truth, data: IPDData, name: str) -> np.ndarray | None:
    if truth is None:
        return None
    if isinstance(truth, str):
        if truth not in data.frame.columns:
            raise DataError(f"{name}={truth!r} is not a column of the data; available: "
                            f"{list(map(str, data.frame.columns))}")
        truth = data.frame[truth].to_numpy()
    arr = np.asarray(truth, dtype=float)
    if arr.shape != (data.n_patients,):
        raise DataError(f"{name} must have one value per patient ({data.n_patients}), got "
                        f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{name} has non-finite values")
    return arr


def compare_ite_models(
    data: IPDData,
    *,
    heterogeneity: str | Sequence[str] = ALL_STRUCTURES,
    learner: str | Sequence[str] = ("s", "t"),
    outcome: Literal["binary", "time_to_event"] | None = None,
    cv: CV = "iecv",
    truth=None,
    truth_new=None,
    priors: Mapping | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: str | None = None,
    cv_options: Mapping | None = None,
    groups: int = 5,
    ci_prob: float = 0.95,
    max_draws: int | None = 500,
    loo: bool = True,
    outdir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    **model_options,
) -> pd.DataFrame:
    r"""Fit a grid of ITE models and score them in one tidy table.

    Every structure in ``heterogeneity`` is fitted with every learner in ``learner``
    (:class:`~bayes_hte.IPDMetaModel`), then scored in-sample and, with
    ``cv="iecv"``, by internal–external cross-validation with intercept recalibration
    (Bouvier et al. 2024). See :mod:`bayes_hte.evaluation.compare` for the metrics.

    Parameters
    ----------
    data : IPDData
    heterogeneity : str or sequence of str
        Structures (default all five).
    learner : str or sequence of {"s", "t"}
    outcome : {"binary", "time_to_event"}, optional
        Default: the data's outcome type.
    cv : {"iecv", "none", None}
        Add internal–external cross-validation (costs trials x models extra fits with
        the cheap settings of ``cv_options``, default
        :data:`bayes_hte.evaluation.iecv.IECV_SAMPLER`).
    truth, truth_new : array (n,) or str, optional
        True ITE in an average trial / in each patient's own trial (simulations), or
        column names of ``data.frame``.
    priors : mapping, optional
        Prior overrides passed to every model.
    draws, tune, chains, random_seed, sampler
        Sampler settings of the main fits.
    cv_options : mapping, optional
        Keyword arguments of :func:`bayes_hte.evaluation.iecv.iecv`.
    groups, ci_prob, max_draws, loo
        See :func:`evaluate_models`.
    outdir : path, optional
        Also write the tables and figures there (:meth:`ITEComparison.save`).
    **model_options
        Time-to-event options of the models (e.g. ``horizon``).

    Returns
    -------
    pandas.DataFrame
        One row per model x validation x trial x metric: ``model, heterogeneity,
        learner, validation, trial, metric, estimate, mean, sd, ci_low, ci_high, n``.
        For figures use :func:`evaluate_models` (returns an :class:`ITEComparison`) or
        ``outdir``.

    Examples
    --------
    >>> tab = bh.compare_ite_models(data, heterogeneity=["naive", "random_intercept"],
    ...                             learner=["s"], cv="iecv")          # doctest: +SKIP
    >>> tab.query("validation == 'iecv' and trial == 'pooled'")         # doctest: +SKIP
    """
    from bayes_hte.estimators import IPDMetaModel

    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData (bh.IPDData.from_frame), got "
                        f"{type(data).__name__}")
    hets = [heterogeneity] if isinstance(heterogeneity, str) else list(heterogeneity)
    lrs = [learner] if isinstance(learner, str) else list(learner)
    log = log or (lambda msg: None)
    fitted = {}
    for het in hets:
        for lr in lrs:
            m = IPDMetaModel(heterogeneity=het, learner=lr,
                             outcome=outcome or data.outcome_type, priors=priors,
                             **model_options)
            log(f"fitting {m.label}...")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                m.fit(data, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                      sampler=sampler, log_likelihood=loo, posterior_predictive=False)
            fitted[m.label] = m
    result = evaluate_models(fitted, data, truth=truth, truth_new=truth_new, cv=cv,
                             cv_options=cv_options, groups=groups, ci_prob=ci_prob,
                             max_draws=max_draws, loo=loo, random_state=random_seed, log=log)
    if outdir is not None:
        result.save(outdir)
    return result.table


# --------------------------------------------------------------------------- runner hook
def _fmt_interval(est, lo, hi) -> str:
    if not np.isfinite(est):
        return ""
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{est:.3g} [{lo:.3g}, {hi:.3g}]"
    return f"{est:.3g}"


def formatted_summary(table: pd.DataFrame, *, validation: str, trial: str) -> pd.DataFrame:
    """Wide table of ``estimate [ci_low, ci_high]`` strings (models x metrics) for reports."""
    sub = table[(table["validation"] == validation) & (table["trial"] == trial)]
    cells = sub.assign(cell=[_fmt_interval(e, lo, hi) for e, lo, hi in
                             zip(sub["estimate"], sub["ci_low"], sub["ci_high"], strict=True)])
    wide = cells.pivot(index="model", columns="metric", values="cell")
    order = [m for m in [*METRICS, "elpd_loo", "elpd_diff"] if m in wide.columns]
    return wide.loc[list(dict.fromkeys(sub["model"])), order]


def evaluate_fitted(fitted: Mapping, data: IPDData, *, truth=None, spec: Mapping | None = None,
                    outdir: Path, rep, log: Callable[[str], None], ci_prob: float = 0.95
                    ) -> ITEComparison:
    """The ``[evaluation]`` step of ``bayes-hte run`` (family ``ipdma``).

    Spec keys (all optional besides ``compare``)::

        [evaluation]
        compare = true
        cv = "iecv"            # or "none"
        draws = 100            # IECV fits: one chain, 150 tuning + 100 draws, PyMC NUTS
        tune = 150
        chains = 1
        sampler = "pymc"
        workers = 2            # processes for the IECV fits
        random_seed = 1
        recalibrate = true
        groups = 5             # quantile groups for calibration
        max_draws = 500        # posterior draws used for per-draw metrics
        loo = false            # LOO rows in the metric table (the runner reports LOO)

    Writes ``evaluation_*.csv`` and ``evaluation_*.png`` to ``outdir`` and adds an
    "Evaluation of the ITE models" section to the report ``rep``. A column
    ``true_ite`` in the data frame (simulations) is used as the own-trial truth.
    """
    from bayes_hte.spec import SpecError

    spec = dict(spec or {})
    unknown = set(spec) - EVAL_KEYS
    if unknown:
        raise SpecError(f"[evaluation] has unknown keys {sorted(unknown)}; allowed: "
                        f"{sorted(EVAL_KEYS)}")
    cv = spec.get("cv", "none")
    if cv not in ("iecv", "none"):
        raise SpecError(f"[evaluation] cv must be 'iecv' or 'none', got {cv!r}")
    cv_options = {k: spec[k] for k in ("draws", "tune", "chains", "sampler", "random_seed",
                                       "target_accept", "workers", "recalibrate") if k in spec}
    cv_options.setdefault("workers", 2)
    truth_new = "true_ite" if "true_ite" in data.frame.columns else None
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
    result = evaluate_models(
        fitted, data, truth=truth, truth_new=truth_new, cv=cv, cv_options=cv_options,
        groups=int(spec.get("groups", 5)), ci_prob=ci_prob,
        max_draws=spec.get("max_draws", 500), loo=bool(spec.get("loo", False)),
        random_state=spec.get("random_seed"), log=log)
    paths = result.save(outdir)
    total = time.perf_counter() - start

    rep.heading("Evaluation of the ITE models")
    rep.text(
        "Discrimination (c-for-benefit: treated and control patients matched 1:1 on the "
        "rank of predicted benefit within each trial, Harrell's C between predicted and "
        "observed pair benefit), calibration for benefit (least-squares intercept and slope "
        f"of observed on predicted benefit over {int(spec.get('groups', 5))} quantile "
        "groups), policy value of the rule 'treat if predicted benefit > 0' (PAPE of Imai & "
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
            f"{int(it.fits['divergences'].sum())} divergences in total. Pooled over the "
            "held-out predictions:")
        rep.table(formatted_summary(result.table, validation="iecv", trial="pooled"))
        rep.text("Median over the held-out trials (as Bouvier et al. 2024, Table 2):")
        rep.table(result.summary(validation="iecv", trial="median"))
        rep.image(paths["calibration_iecv"],
                  "Calibration for benefit in cross-validation: observed (control minus "
                  "treated event rate, 95% interval) against mean predicted benefit per "
                  "quintile of predicted benefit; dashed: ideal; line: least squares fit")
    rep.image(paths["calibration_in_sample"],
              "Calibration for benefit in the fitting data, per model")
    rep.image(paths["metric_forest"], "Metrics per model with their posterior intervals")
    rep.image(paths["ite_by_model"], "Distribution of the posterior-mean ITE per model "
              "(S-learner blue, T-learner red; grey: truth)")
    log(f"evaluation: {total:.0f} s in total; tables {paths['table'].name}")
    return result
