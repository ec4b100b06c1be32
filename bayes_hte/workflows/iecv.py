r"""Internal–external cross-validation (IECV) of one-stage IPD-MA ITE models.

For each trial :math:`j` of the meta-analysis (Bouvier et al. 2024, "Model
validation"; Royston et al. 2004; Debray et al. 2013):

1. fit the model on the other :math:`J - 1` trials;
2. predict the held-out patients' linear predictors under control and under
   treatment, :math:`\ell_0(x), \ell_1(x)`, for an average trial of the training set,
   per posterior draw;
3. **recalibrate the intercept** in the held-out trial: with the linear predictor of
   each patient's own arm, :math:`o_i = \ell_{z_i}(x_i)`, as an offset (coefficient
   fixed at one), estimate the shift :math:`\delta` of

   .. math:: \mathrm{logit}\, P(y_i = 1) = \delta + o_i

   by maximum likelihood, separately for every posterior draw (Newton's method,
   :func:`bayes_hte.evaluation.recalibration.recalibrate_intercept`); the
   recalibrated ITE is :math:`\mathrm{expit}(\ell_1 + \delta) - \mathrm{expit}(\ell_0 +
   \delta)`. One shift for both arms: the baseline risk is adapted to the new trial
   while the treatment effect (and, for the T-learner, the difference between the
   arm predictors) stays as learned from the training trials. The naive model is not
   recalibrated, as in the paper (it ignores between-trial heterogeneity by design);
4. compute the metrics (:mod:`bayes_hte.evaluation.metrics`) in the held-out trial.

Results are given per held-out trial and pooled over all held-out patients (each
predicted by the model that did not see their trial; c-for-benefit pairs are matched
within trials). The new-trial prediction (:meth:`IPDMetaModel.ite` with
``new_trial=True``, not recalibrated) is kept as well, for the coverage of the
prediction intervals: a held-out trial *is* a new trial.

Time-to-event models are evaluated without recalibration (their baseline hazard
cannot be shifted by one offset regression here); see :mod:`bayes_hte.evaluation.metrics`
for the event-by-horizon simplification.

The fits are the expensive part (:math:`J \times` models). By default each is a full
fit with the settings of :meth:`bayes_hte.IPDMetaModel.fit` (four nutpie chains of
1000 tuning + 1000 kept draws, as brms's ``kfold`` repeats the original fit's
settings), so that every refit is a valid set of chains whose R-hat and ESS are
reported; shorter chains are cheaper but do not converge (measured on the demo data in
``docs/performance.md``, item 21: with two chains of 200 tuning + 100 draws the
largest R-hat over the refits of each structure was 1.05-1.17). Each structure is
compiled once and the later folds' data swapped in (:func:`bayes_hte.inference.fit`
``reuse_compiled``; where a trial without patients leaves the posterior unchanged,
:func:`empty_trial_fold`, the fold's model is the model of all the trials, so the main
fit of the same structure finds its compiled code too), optionally in ``workers``
processes (nutpie's chains already use two cores).
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from bayes_hte.data.ipd import IPDData
from bayes_hte.data.survival import median_follow_up
from bayes_hte.diagnostics import (
    MAX_R_HAT,
    convergence_warnings,
    fit_warnings,
    sampling_summary,
)
from bayes_hte.effects.ipdma import synthesize_intercepts
from bayes_hte.errors import DataError
from bayes_hte.estimators import IPDMetaModel
from bayes_hte.evaluation.recalibration import recalibrate_intercept
from bayes_hte.inference import large_arrays_on_heap
from bayes_hte.models.ipdma import intercept_form
from bayes_hte.options import (
    FIT_COST,
    Learner,
    MassMatrix,
    Outcome,
    Sampler,
    check_sampler_settings,
)
from bayes_hte.workflows.iecv_result import IECVResult
from bayes_hte.workflows.scoring import DEFAULT_MAX_DRAWS, score_iecv

#: Forms of the random trial intercepts without a funnel in a trial without patients
#: (:func:`empty_trial_fold`).
NO_FUNNEL_FORMS = ("non_centered", "partially_centered")
#: Default sampler settings of the IECV fits: those of a main fit
#: (:meth:`bayes_hte.IPDMetaModel.fit`), so that the refits are valid chains (R-hat
#: and ESS reported per refit); each structure compiled once and its folds' data
#: swapped in.
IECV_SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "sampler": "nutpie"}


# --------------------------------------------------------------------------- one fit
#: Structures whose held-out trial may stay in the fold's model as a trial without
#: patients (:func:`empty_trial_fold`): every trial-level parameter of theirs is
#: independent of the others' given the population parameters, so a trial without
#: data leaves the posterior of everything else unchanged. Not rank-1: its trial scales
#: are constrained over the trials. The naive model has no trial-level parameters: its
#: folds already share the compiled model of all the trials.
EMPTY_TRIAL_STRUCTURES = ("random_intercept", "stratified_intercept", "fully_stratified")


def empty_trial_fold(data: IPDData, train: IPDData, options: Mapping) -> IPDData | None:
    r"""The training data of a fold with the held-out trial kept as a trial without
    patients, when that leaves the fold's posterior unchanged; else None.

    With trial-level parameters :math:`u_j` that are a priori independent given the
    population parameters :math:`\psi` and a trial :math:`h` without patients,

    .. math::

        p(\psi, u_{-h}, u_h \mid y) \propto p(\psi) \prod_{j \ne h} p(u_j \mid \psi)
        p(y_j \mid \psi, u_j) \; p(u_h \mid \psi),

    and :math:`\int p(u_h \mid \psi)\, du_h = 1`: the posterior of :math:`(\psi, u_{-h})`
    is that of the model fitted on the other trials, and :math:`u_h` is drawn from its
    prior given :math:`\psi`. The fold's model then has the parameters of the model
    fitted on all the trials, so its compiled log density is that model's (the same
    graph; only the data differ: PyTensor's and numba's caches and
    ``reuse_compiled`` find it) instead of a graph of its own. :func:`_fit_one` removes
    the empty trial from the posterior after sampling.

    Used when the structure is in :data:`EMPTY_TRIAL_STRUCTURES`, the outcome binary,
    the trial-level effects non-centred or partially centred (a centred effect without
    data is a funnel for the sampler; the partially centred intercept of a trial
    without patients is non-centred, its anchor's standard error being
    :data:`bayes_hte.models.ipdma.NO_PATIENTS_SE`: the form ``parameterization="auto"``
    picks on the fold's own trials must be one of these, or the structure has none),
    the covariates not centred within trials, and no aggregate-data trials are
    involved.

    Parameters
    ----------
    data : IPDData
        All the trials.
    train : IPDData
        The fold's training trials (``data.subset(...)``).
    options : mapping
        The model's constructor options (:func:`template_options`).

    Returns
    -------
    IPDData or None
        ``train`` with the study labels of ``data`` (the held-out trial without
        patients; the same covariate matrix and centring as ``train``), or None.
    """
    het = options["heterogeneity"]
    if (het not in EMPTY_TRIAL_STRUCTURES or options.get("outcome", "binary") != "binary"
            or data.outcome_type != "binary" or train.center == "within_study"
            or options.get("parameterization", "auto") not in ("auto", *NO_FUNNEL_FORMS)
            or options.get("aggregate") is not None):
        return None
    position = {str(s): i for i, s in enumerate(data.study_labels)}
    kept = [position[str(s)] for s in train.study_labels]
    if kept != sorted(kept):  # the fold keeps the trials' order
        return None
    fold = replace(train, study_labels=data.study_labels,
                   study_idx=np.asarray(kept, dtype=np.int64)[train.study_idx])
    form = {"heterogeneity": het, "learner": options["learner"],
            "parameterization": options.get("parameterization", "auto")}
    kept_form = intercept_form(train, **form)
    if (kept_form not in (None, *NO_FUNNEL_FORMS)
            or intercept_form(fold, **form) != kept_form):
        return None
    return fold


def _drop_empty_trials(model: IPDMetaModel, train: IPDData) -> None:
    """Remove the trials without patients of :func:`empty_trial_fold` from a model fitted
    on that fold (in place): its posterior keeps the training trials (the stratified
    intercepts' synthesis recomputed over them), its data become ``train`` and the
    patients' trial index in ``constant_data`` indexes ``train``'s trials."""
    node = model.idata["posterior"]
    post = node.to_dataset().sel(study=[str(s) for s in train.study_labels])
    post.attrs = dict(node.attrs)
    model.idata["posterior"] = xr.DataTree(post)
    if "constant_data" in model.idata:
        const = model.idata["constant_data"].to_dataset()
        if "study" in const.dims:  # e.g. the partially centred form's anchors
            const = const.sel(study=[str(s) for s in train.study_labels])
        if "study_idx" in const:
            const["study_idx"] = const["study_idx"].copy(data=train.study_idx)
            model.idata["constant_data"] = xr.DataTree(const)
    if model.heterogeneity == "stratified_intercept":
        model.idata = synthesize_intercepts(model.idata)
    model.data = train
    model.idata[model.data_group] = xr.DataTree(train.to_dataset())


def _fit_one(task: dict) -> dict:
    """Fit one model on the training trials and predict the held-out trial (worker)."""
    start, cpu = time.perf_counter(), time.process_time()
    m = IPDMetaModel(**task["options"])
    fold = task.get("fold_data")
    with warnings.catch_warnings(record=True) as caught, convergence_warnings(False):
        warnings.simplefilter("always")
        m.fit(task["train"] if fold is None else fold, **task["sampler"],
              log_likelihood=False, posterior_predictive=False,
              reuse_compiled=True)  # nutpie only
    if fold is not None:
        _drop_empty_trials(m, task["train"])
    test = task["test"]
    health = sampling_summary(m.idata)
    out = {"label": task["label"], "fold": task["fold"], "warnings": fit_warnings(caught),
           "min_ess_bulk": health["min_ess_bulk"], "max_r_hat": health["max_r_hat"],
           "notes": health["notes"]}
    if m.outcome == "binary":
        lp0, lp1 = m.linear_predictors(test)
        out["lp0"], out["lp1"] = lp0.values, lp1.values
        out["ite_new"] = m.ite(test, new_trial=True, random_seed=task["seed"]).values
    else:
        out["ite"] = m.ite(test, horizon=task["horizon"]).values
        out["ite_new"] = m.ite(test, new_trial=True, random_seed=task["seed"],
                               horizon=task["horizon"]).values
    out["divergences"] = health["divergences"]
    out["seconds"] = time.perf_counter() - start
    out["cpu_seconds"] = time.process_time() - cpu
    return out


# --------------------------------------------------------------------------- driver
def template_options(model: IPDMetaModel) -> dict:
    """The constructor options of an IPD-MA model, to build an unfitted copy of it.

    Parameters
    ----------
    model : IPDMetaModel
        Fitted or not; only its options are read.

    Returns
    -------
    dict
        ``heterogeneity, learner, outcome, priors, parameterization`` and the
        time-to-event options given (``baseline, cuts, n_intervals, horizon``):
        ``IPDMetaModel(**template_options(model))`` is an unfitted copy.
    """
    return {"heterogeneity": model.heterogeneity, "learner": model.learner,
            "outcome": model.outcome, "priors": model.priors,
            "parameterization": model.parameterization, **model.model_options}


def _templates(data, models, heterogeneity, learner, outcome) -> dict:
    if models is None:
        hets = [heterogeneity] if isinstance(heterogeneity, str) else list(heterogeneity or [])
        lrs = [learner] if isinstance(learner, str) else list(learner or [])
        if not hets or not lrs:
            raise ValueError("give models=... or heterogeneity=[...] and learner=[...]")
        models = [IPDMetaModel(heterogeneity=h, learner=lr, outcome=outcome or data.outcome_type)
                  for h in hets for lr in lrs]
    if isinstance(models, Mapping):
        items = list(models.items())
    else:
        items = [(m.label, m) for m in models]
    return {label: template_options(m) for label, m in items}


def check_iecv(data: IPDData, structures: Mapping[str, str]) -> None:
    """Raise :class:`DataError` when the data cannot be cross-validated by trial.

    Called by :func:`iecv` before any fit, and by the ``bayes-hte run`` runner to skip
    the cross-validation (with a message) after the main fits.

    Parameters
    ----------
    data : IPDData
        The meta-analysis.
    structures : mapping of str to str
        Label -> heterogeneity structure of each model to cross-validate.

    Raises
    ------
    DataError
        Fewer than 3 trials (4 for a fully stratified model, which needs 3 training
        trials), or covariates centred within study (a held-out trial cannot be encoded).
    """
    if data.n_studies < 3:
        raise DataError(f"internal-external cross-validation needs at least 3 trials (study "
                        f"column {data.study!r}); the data have {data.n_studies}")
    if data.center == "within_study":
        raise DataError("covariates centred within study cannot be encoded for a held-out "
                        "trial; use center=None or 'overall' for cross-validation")
    for label, het in structures.items():
        if het == "fully_stratified" and data.n_studies < 4:
            raise DataError(f"{label}: the fully stratified model needs 3 training trials, so "
                            f"cross-validation needs 4 trials; the data have {data.n_studies}")


def iecv(
    data: IPDData,
    models: Sequence | Mapping | None = None,
    *,
    heterogeneity: str | Sequence[str] | None = None,
    learner: Learner | Sequence[Learner] | None = None,
    outcome: Outcome | None = None,
    draws: int = IECV_SAMPLER["draws"],
    tune: int = IECV_SAMPLER["tune"],
    chains: int = IECV_SAMPLER["chains"],
    sampler: Sampler | None = IECV_SAMPLER["sampler"],
    random_seed: int | None = None,
    target_accept: float | None = None,
    mass_matrix: MassMatrix = "auto",
    recalibrate: bool = True,
    horizon: float | None = None,
    folds: Sequence | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
) -> IECVResult:
    r"""Leave-one-trial-out cross-validation of ITE models with intercept recalibration.

    Parameters
    ----------
    data : IPDData
        The meta-analysis (at least 3 trials; 4 for the fully stratified model, which
        needs 3 training trials).
    models : sequence of IPDMetaModel, or mapping label -> IPDMetaModel, optional
        Templates: only their options (structure, learner, outcome, priors,
        parameterization, time-to-event options) are used; fitted or not.
    heterogeneity, learner : str or sequence of str
        Alternatively, the grid of structures x learners to build.
    outcome : {"binary", "time_to_event"}, optional
        Default: the data's outcome type.
    draws, tune, chains, sampler, random_seed, target_accept
        Sampler settings of every fold's fit (see :data:`IECV_SAMPLER`).
    mass_matrix : {"auto", "diag", "low_rank"}
        Every fold's mass matrix (:meth:`bayes_hte.IPDMetaModel.fit`; ``"auto"``
        resolves per model and fold, as in the main fits).
    recalibrate : bool
        Recalibrate the intercept in the held-out trial (never for the naive model).
    horizon : float, optional
        Time-to-event models: the horizon of the ITE (survival difference) and of the
        event indicator; default the models' ``horizon`` option, else the median
        follow-up of all the data (so that every fold predicts at the same horizon).
    folds : sequence of trial labels, optional
        Hold out only these trials (default: every trial in turn). Patients of the
        other trials get no held-out prediction (NaN) and are left out of the metrics;
        used by simulation studies that score one rotating fold per replicate.
    workers : int
        Processes fitting folds in parallel (each fit then samples its chains one
        after the other); 1 = in this process. The workers are started by the
        ``forkserver`` method (``spawn`` on Windows), so a script calling this with
        ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard
        (notebooks and ``bayes-hte run`` need nothing).
    log : callable, optional
        Progress messages.

    Returns
    -------
    IECVResult
        Use :meth:`IECVResult.metrics` for the metric table.

    Raises
    ------
    DataError
        ``data`` is not an ``IPDData``, cannot be cross-validated by trial
        (:func:`check_iecv`), ``folds`` are not trial labels, or a held-out trial has no
        events (or only events) to recalibrate on.
    ValueError
        Neither ``models`` nor ``heterogeneity`` and ``learner`` given; a sampler
        setting outside its values (:func:`bayes_hte.options.check_sampler_settings`),
        raised before any fit.

    Notes
    -----
    The procedure of Bouvier et al. (2024, "Model validation"), after Royston et al.
    (2004) and Debray et al. (2013); steps in the module docstring.
    """
    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData, got {type(data).__name__}")
    log = log or (lambda msg: None)
    sampler_opts = {"draws": draws, "tune": tune, "chains": chains, "sampler": sampler,
                    "target_accept": target_accept, "mass_matrix": mass_matrix}
    check_sampler_settings({**sampler_opts, "random_seed": random_seed})
    sampler_opts |= {k: int(sampler_opts[k]) for k in ("draws", "tune", "chains")}
    templates = _templates(data, models, heterogeneity, learner, outcome)
    check_iecv(data, {label: opts["heterogeneity"] for label, opts in templates.items()})
    if data.outcome_type == "time_to_event" and horizon is None:
        options = {opts.get("horizon") for opts in templates.values()}
        horizon = (options.pop() if len(options) == 1 and None not in options
                   else median_follow_up(data.t, data.y))
    horizon = None if horizon is None else float(horizon)
    base_seed = 0 if random_seed is None else int(random_seed)

    if folds is None:
        held = list(range(data.n_studies))
    else:
        labels = [str(v) for v in data.study_labels]
        unknown = [f for f in folds if str(f) not in labels]
        if unknown or not folds:
            raise DataError(f"folds {list(folds)} must be trial labels of the data "
                            f"(study column {data.study!r}: {labels})")
        held = sorted({labels.index(str(f)) for f in folds})

    tasks = []
    for j in held:
        train = data.subset(data.study_idx != j)
        test = data.frame.loc[data.study_idx == j]
        for k, (label, opts) in enumerate(templates.items()):
            seed = base_seed + 1000 * (j + 1) + k
            tasks.append({"label": label, "fold": j, "options": opts, "train": train,
                          "fold_data": empty_trial_fold(data, train, opts), "test": test,
                          "sampler": {**sampler_opts, "random_seed": seed},
                          "seed": seed, "horizon": horizon})
    tasks.sort(key=lambda t: -FIT_COST.get(t["options"]["heterogeneity"], 1))

    start = time.perf_counter()
    results = []
    total = len(tasks)

    def report(res):
        results.append(res)
        log(_fit_line(len(results), total, res["label"], data.study_labels[res["fold"]],
                      res["seconds"], res["divergences"], res["max_r_hat"]))

    if workers > 1:
        # forkserver: no fork of this (possibly multi-threaded) process; the workers
        # import bayes_hte once. Scripts need the ``if __name__ == "__main__":`` guard.
        ctx = process_context()
        with ProcessPoolExecutor(max_workers=int(workers), mp_context=ctx) as pool:
            futures = [pool.submit(_fit_one, t) for t in tasks]
            for fut in as_completed(futures):
                report(fut.result())
    else:
        for t in tasks:
            report(_fit_one(t))
    wall = time.perf_counter() - start

    # ------------------------------------------------------------------ assemble
    n = data.n_patients
    ite, ite_new, recal_rows, fit_rows = {}, {}, [], []
    for label, opts in templates.items():
        mine = sorted((r for r in results if r["label"] == label), key=lambda r: r["fold"])
        shape = (mine[0]["ite_new"].shape[0], mine[0]["ite_new"].shape[1], n)
        full, full_new = np.full(shape, np.nan), np.full(shape, np.nan)
        for r in mine:
            mask = data.study_idx == r["fold"]
            trial = data.study_labels[r["fold"]]
            fit_rows.append({"model": label, "trial": trial, "seconds": r["seconds"],
                             "cpu_seconds": r["cpu_seconds"], "divergences": r["divergences"],
                             "max_r_hat": r["max_r_hat"], "min_ess_bulk": r["min_ess_bulk"],
                             "warnings": " | ".join(r["warnings"])})
            full_new[..., mask] = r["ite_new"]
            if "lp0" in r:
                lp0, lp1 = r["lp0"], r["lp1"]
                if recalibrate and opts["heterogeneity"] != "naive":
                    own = np.where(data.z[mask] == 1, lp1, lp0).reshape(-1, mask.sum())
                    delta = recalibrate_intercept(own, data.y[mask]).reshape(lp0.shape[:2])
                    recal_rows.append({"model": label, "trial": trial,
                                       "shift_mean": float(delta.mean()),
                                       "shift_sd": float(delta.std(ddof=1))
                                       if delta.size > 1 else 0.0})
                    lp0, lp1 = lp0 + delta[..., None], lp1 + delta[..., None]
                full[..., mask] = expit(lp1) - expit(lp0)
            else:
                full[..., mask] = r["ite"]
        ite[label], ite_new[label] = full, full_new
    recal = pd.DataFrame(recal_rows, columns=["model", "trial", "shift_mean", "shift_sd"])
    fits = pd.DataFrame(fit_rows)
    result = IECVResult(data=data, ite=ite, ite_new=ite_new, recalibration=recal, fits=fits,
                        wall_seconds=wall, held_out=[data.study_labels[j] for j in held],
                        horizon=horizon,
                        options={"sampler": sampler_opts, "recalibrate": recalibrate,
                                 "workers": workers, "random_seed": random_seed},
                        notes=_notes(results, total))
    _log_summary(result, log)
    return result


def _fit_line(k: int, total: int, label: str, trial, seconds: float, divergences: int,
              max_r_hat: float) -> str:
    """The log line of the k-th of ``total`` finished refits."""
    return (f"IECV [{k}/{total}] {label} without trial {trial}: {seconds:.1f} s, "
            f"{int(divergences)} divergences"
            + (f", max R-hat {max_r_hat:.3f}" if np.isfinite(max_r_hat) else ""))


def r_hat_sentence(max_r_hat: pd.Series) -> str:
    """The refits' largest R-hat and how many exceed the target, for the log and the
    report, e.g. ``", largest R-hat 1.006 (every refit <= 1.01)"``.

    Parameters
    ----------
    max_r_hat : pandas.Series
        ``IECVResult.fits["max_r_hat"]``: each refit's largest rank-normalised R-hat
        (NaN for single-chain refits).

    Returns
    -------
    str
        The clause, counting the refits above :data:`bayes_hte.diagnostics.MAX_R_HAT`
        as not converged; ``""`` when no refit has an R-hat.
    """
    finite = max_r_hat[np.isfinite(max_r_hat)]
    if finite.empty:
        return ""
    target = MAX_R_HAT
    above = int((finite > target).sum())
    which = (f"every refit <= {target}" if above == 0
             else f"{above} of {len(finite)} refits above {target}: not converged")
    return f", largest R-hat {finite.max():.3f} ({which})"


def _log_summary(result: IECVResult, log: Callable[[str], None]) -> None:
    """The closing log lines of a cross-validation: totals and the refits' notes."""
    fits = result.fits
    log(f"IECV: {len(fits)} fits in {result.wall_seconds:.0f} s wall time, "
        f"{int(fits['divergences'].sum())} divergences in total, smallest bulk ESS "
        f"{fits['min_ess_bulk'].min():.0f}{r_hat_sentence(fits['max_r_hat'])}")
    for note in result.notes:
        log(f"IECV: {note}")


def log_iecv(result: IECVResult, log: Callable[[str], None]) -> None:
    """Log a finished cross-validation as :func:`iecv` logs while it runs: one line per
    refit (in the order of ``result.fits``), then the totals and the refits' notes.

    For a cross-validation run in another process (:func:`submit_iecv`), whose
    messages could not reach this process's log while it ran.

    Parameters
    ----------
    result : IECVResult
        From :func:`iecv` or :func:`submit_iecv`.
    log : callable
        Receives each message (str).
    """
    total = len(result.fits)
    for k, row in enumerate(result.fits.itertuples(index=False), start=1):
        log(_fit_line(k, total, row.model, row.trial, row.seconds, row.divergences,
                      row.max_r_hat))
    _log_summary(result, log)


def _notes(results: list[dict], total: int) -> list[str]:
    """Each distinct diagnostic note and warning of the refits once, with its count."""
    counts: dict[str, int] = {}
    for r in results:
        for text in [n for n in r["notes"].split("; ") if n] + r["warnings"]:
            counts[text] = counts.get(text, 0) + 1
    return [f"{text} ({k} of {total} fits)" if k < total else f"{text} (every fit)"
            for text, k in counts.items()]


def process_context() -> multiprocessing.context.BaseContext:
    """How this package starts worker processes: ``forkserver`` (no fork of a possibly
    multi-threaded process), or ``spawn`` where there is none (Windows).

    Returns
    -------
    multiprocessing.context.BaseContext
        For ``ProcessPoolExecutor(mp_context=...)`` or ``.Process``.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class BackgroundIECV:
    """A cross-validation running in another process (made by :func:`submit_iecv`).

    Call :meth:`result` to wait for it, or :meth:`cancel` to stop it.

    Parameters
    ----------
    data : IPDData
        The meta-analysis.
    models : mapping of str to IPDMetaModel, or None
        Unfitted templates by label (``None``: the grid given in ``options``).
    options : dict
        Keywords of :func:`iecv` other than ``log``.
    score : dict, optional
        Keywords of :func:`bayes_hte.workflows.scoring.score_iecv`: the result is
        scored in the other process when its fits end (:attr:`IECVResult.scores`).
    """

    def __init__(self, data: IPDData, models: Mapping | None, options: dict,
                 score: dict | None = None) -> None:
        ctx = process_context()
        self._recv, send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_iecv_to_pipe,
                                    args=(send, data, models, options, score),
                                    name="bayes-hte-iecv")
        self._process.start()
        send.close()
        self._outcome: tuple | None = None

    def result(self) -> IECVResult:
        """Wait for the cross-validation and return it.

        Returns
        -------
        IECVResult
            As :func:`iecv` returns it.

        Raises
        ------
        Exception
            What :func:`iecv` raised in the other process (e.g. :class:`DataError`).
        RuntimeError
            The process ended without a result (killed, out of memory, cancelled).
        """
        if self._outcome is None:
            try:
                self._outcome = self._recv.recv()
            except EOFError:
                self._outcome = ("error", RuntimeError(
                    f"the cross-validation process ended without a result (exit code "
                    f"{self._process.exitcode})"))
            self._process.join()
        kind, value = self._outcome
        if kind == "error":
            raise value
        return value

    def cancel(self) -> None:
        """Stop the process if it still runs (nothing happens once it has finished)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _iecv_to_pipe(send, data: IPDData, models: Mapping | None, options: dict,
                  score: dict | None = None) -> None:
    """The body of the :class:`BackgroundIECV` process: run :func:`iecv` (and score it
    with ``score``), send back the result or the exception."""
    try:
        outcome = ("ok", iecv(data, models, **options))
    except Exception as err:  # noqa: BLE001 - re-raised by BackgroundIECV.result
        outcome = ("error", err)
    if score is not None and outcome[0] == "ok":
        try:
            with large_arrays_on_heap():  # the scoring's (draw, patient) temporaries
                outcome[1].scores = score_iecv(outcome[1], **score)
        except Exception:  # noqa: BLE001 - evaluate_models scores it again and raises
            pass
        # only the draws scored travel back (4 chains x 1000 draws x 10 models of the
        # demo's held-out predictions would be 1.8 GB in the other process)
        outcome = ("ok", outcome[1].thinned(score.get("max_draws", DEFAULT_MAX_DRAWS)))
    send.send(outcome)
    send.close()


def submit_iecv(data: IPDData, models: Sequence | Mapping | None = None, *,
                options: Mapping | None = None,
                score: Mapping | None = None) -> BackgroundIECV:
    """Start :func:`iecv` in a separate process and return at once.

    The cross-validation does not need the main fits (it refits from the data), so
    ``bayes-hte run`` starts it before them: its compilation (one core) and short
    chains overlap with the main fits' compilation and sampling instead of following
    them (``docs/performance.md``, "The main job"). The result is that of
    ``iecv(data, models, **options)`` in this process (same seeds, same draws); its
    progress messages are not logged while it runs: give the result to
    :func:`log_iecv`.

    Parameters
    ----------
    data : IPDData
        The meta-analysis.
    models : sequence or mapping of IPDMetaModel, optional
        Templates, as for :func:`iecv` (fitted or not: only their options are sent).
    options : mapping, optional
        Keywords of :func:`iecv` other than ``log`` (e.g. ``heterogeneity``,
        ``learner``, sampler settings, ``workers``, ``random_seed``).
    score : mapping, optional
        Keywords of :func:`bayes_hte.workflows.scoring.score_iecv` (``truth``,
        ``truth_new``, ``groups``, ``ci_prob``, ``random_state``, ``max_draws``): the
        held-out predictions are also scored in the other process when its fits end
        (:attr:`IECVResult.scores`), and :func:`~bayes_hte.workflows.compare.evaluate_models`
        given the same settings uses these scores instead of computing them again
        (same numbers). If this scoring fails, ``scores`` stays None. With ``score``
        the result holds only the draws scored (:meth:`IECVResult.thinned` with its
        ``max_draws``, default 500), so that the held-out predictions of full refits
        do not fill this process's memory; scoring them again with the same
        ``max_draws`` gives the same metrics.

    Returns
    -------
    BackgroundIECV
        Its ``result()`` waits and returns the :class:`IECVResult` (or raises what
        :func:`iecv` raised); ``cancel()`` stops it.

    Raises
    ------
    TypeError
        ``log`` among the options.
    ValueError
        A sampler setting among the options outside its values
        (:func:`bayes_hte.options.check_sampler_settings`): raised here, not when the
        other process reaches its first fit.
    DataError
        ``data`` is not an ``IPDData``.

    Notes
    -----
    The process is started by the ``forkserver`` method (``spawn`` on Windows; no fork
    of this possibly multi-threaded process), so a script calling this needs the usual
    ``if __name__ == "__main__":`` guard (``bayes-hte run`` and notebooks need nothing).
    """
    options = dict(options or {})
    if "log" in options:
        raise TypeError("submit_iecv takes no log: give the result to log_iecv")
    check_sampler_settings(options)
    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData, got {type(data).__name__}")
    if models is not None:  # unfitted copies: a fitted model's draws need not travel
        models = {label: IPDMetaModel(**opts) for label, opts in
                  _templates(data, models, None, None, None).items()}
    return BackgroundIECV(data, models, options, None if score is None else dict(score))
