"""Scoring of ITE predictions shared by :func:`bayes_hte.workflows.compare.evaluate_models`
and the cross-validation process (:func:`bayes_hte.workflows.iecv.submit_iecv`): the
outcome arrays, the truths, the thinned draws, the random streams and the scoring of
held-out predictions (:func:`score_iecv`), with the TOC and calibration curves.

It imports neither :mod:`~bayes_hte.workflows.compare` nor
:mod:`~bayes_hte.workflows.iecv` (the cross-validation's own process scores its result
with it), so a cross-validation result is taken by its attributes (``data``, ``ite``,
``ite_new``, ``held_out``, ``horizon``, ``labels``, ``metrics``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike

from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError
from bayes_hte.evaluation.benefit_curve import e_for_benefit
from bayes_hte.evaluation.metrics import (
    benefit_from_ite,
    calibration_for_benefit,
    event_by_horizon,
)
from bayes_hte.evaluation.ranking import rate

#: Grid of the TOC curves of :attr:`ITEComparison.toc` (fractions treated).
TOC_GRID = tuple(np.round(np.arange(1, 21) / 20, 10))
#: Bootstrap resamples of the pairs for the band of the smoothed calibration curve.
CURVE_BOOTSTRAP = 100


@dataclass
class IECVScores:
    """The scoring of a cross-validation's held-out predictions
    (:func:`score_iecv`).

    Parameters
    ----------
    table : pandas.DataFrame
        :meth:`~bayes_hte.workflows.iecv_result.IECVResult.metrics` of every model (per
        held-out trial, pooled, median).
    calibration, toc, curves : dict of str to pandas.DataFrame
        Per model label: the calibration-for-benefit groups, the TOC curve and the
        smoothed calibration curve of benefit of the posterior-mean held-out benefit.
    settings : dict
        What the scores depend on besides the predictions: ``truth`` (the resolved
        per-patient target or None), ``groups``, ``ci_prob``, ``random_state``.
    seconds : float
        Wall time of the scoring.
    """

    table: pd.DataFrame
    calibration: dict[str, pd.DataFrame]
    toc: dict[str, pd.DataFrame]
    curves: dict[str, pd.DataFrame]
    settings: dict
    seconds: float = 0.0


#: Posterior draws scored per model by default (in sample and of the IECV predictions):
#: the per-draw metrics cost time in proportion to the draws.
DEFAULT_MAX_DRAWS = 500


def thin(values: np.ndarray, max_draws: int | None) -> np.ndarray:
    """At most ``max_draws`` evenly spaced draws, the chains laid end to end.

    Parameters
    ----------
    values : array, shape (chain, draw, n)
        Draws.
    max_draws : int or None
        Most draws kept (None: all).

    Returns
    -------
    numpy.ndarray, shape (m, n)
        The kept draws, m = min(chain x draw, max_draws), in order.
    """
    flat = np.asarray(values, dtype=float).reshape(-1, values.shape[-1])
    if max_draws is None or flat.shape[0] <= max_draws:
        return flat
    idx = np.linspace(0, flat.shape[0] - 1, int(max_draws)).round().astype(int)
    return flat[idx]


def thin_draws(draws: xr.DataArray, max_draws: int | None) -> xr.DataArray:
    """The draws :func:`~bayes_hte.workflows.compare.evaluate_models` scores: at most
    ``max_draws`` evenly spaced over the chains laid end to end.

    Parameters
    ----------
    draws : xarray.DataArray
        Dims (chain, draw, patient), e.g. :meth:`IPDMetaModel.ite`.
    max_draws : int or None
        As for :func:`~bayes_hte.workflows.compare.evaluate_models` (None: all).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, patient) with one chain holding the kept draws in order;
        ``attrs`` kept. Given to ``evaluate_models(ite_draws=...)`` it is scored as the
        full draws would be.
    """
    values = thin(draws.values, max_draws)
    return xr.DataArray(values[None], dims=("chain", "draw", draws.dims[-1]),
                        attrs=dict(draws.attrs), name=draws.name)


def outcome_arrays(data: IPDData, *, horizon: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, treatment, known)``: the outcome the metrics score, per patient.

    Parameters
    ----------
    data : IPDData
        The meta-analysis.
    horizon : float, optional
        Time-to-event data: the horizon of the ITE (data's time unit).

    Returns
    -------
    tuple of numpy.ndarray, each shape (patient,)
        Binary: the outcome, the treatment and a mask of every patient. Time-to-event:
        the event-by-``horizon`` indicator, the treatment and the mask of patients whose
        status at the horizon is known
        (:func:`~bayes_hte.evaluation.metrics.event_by_horizon`).

    Raises
    ------
    DataError
        Time-to-event data without a horizon.
    """
    if data.outcome_type == "binary":
        return data.y, data.z, np.ones(data.n_patients, dtype=bool)
    if horizon is None:
        raise DataError("time-to-event evaluation needs the horizon of the ITE (the model's "
                        "horizon option)")
    y, known = event_by_horizon(data.t, data.y, horizon)
    return y, data.z, known


def evaluation_streams(random_state: int | np.random.Generator | None
                       ) -> tuple[np.random.Generator, np.random.Generator,
                                  tuple[np.random.Generator, np.random.Generator]]:
    """The random streams of an evaluation.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        The evaluation's seed.

    Returns
    -------
    tuple
        The in-sample metrics' stream (``random_state``'s own), the in-sample curves'
        and, for the IECV, its metrics' and its curves' (three children spawned from
        it, so the IECV streams do not depend on how much the in-sample scoring drew and
        are rebuilt in another process from the same integer seed).
    """
    rng = np.random.default_rng(random_state)
    curve_rng, iecv_rng, iecv_curve_rng = rng.spawn(3)
    return rng, curve_rng, (iecv_rng, iecv_curve_rng)


def score_settings(truth: np.ndarray | None, groups: int, ci_prob: float,
                   random_state: int | np.random.Generator | None,
                   max_draws: int | None) -> dict:
    """What scores depend on besides the predictions (:attr:`IECVScores.settings`).

    Parameters
    ----------
    truth : numpy.ndarray, shape (patient,), or None
        The resolved target of the truth-based metrics.
    groups : int
        Quantile groups for calibration for benefit.
    ci_prob : float
        Probability of the equal-tailed intervals.
    random_state : int, numpy.random.Generator or None
        The evaluation's seed.
    max_draws : int or None
        Most posterior draws scored per model (:func:`thin`; None: all).

    Returns
    -------
    dict
        Keys ``truth``, ``groups``, ``ci_prob``, ``random_state``, ``max_draws``.
    """
    return {"truth": truth, "groups": int(groups), "ci_prob": float(ci_prob),
            "random_state": random_state,
            "max_draws": None if max_draws is None else int(max_draws)}


def same_settings(a: Mapping, b: Mapping) -> bool:
    """Whether scores made with settings ``a`` are those ``b`` asks for.

    Parameters
    ----------
    a, b : mapping
        Made by :func:`score_settings`.

    Returns
    -------
    bool
        Same target, groups, interval probability and seed (an integer seed or None; a
        Generator's state cannot be compared, so its scores are made again).
    """
    seeds = [x["random_state"] for x in (a, b)]
    if not all(s is None or isinstance(s, (int, np.integer)) for s in seeds):
        return False
    if (seeds[0] != seeds[1] or a["groups"] != b["groups"] or a["ci_prob"] != b["ci_prob"]
            or a["max_draws"] != b["max_draws"]):
        return False
    if a["truth"] is None or b["truth"] is None:
        return a["truth"] is None and b["truth"] is None
    return bool(np.array_equal(a["truth"], b["truth"]))


def score_predictions(cv_result: Any, settings: dict,
                      rngs: tuple[np.random.Generator, np.random.Generator]) -> IECVScores:
    """:func:`score_iecv` with resolved settings and given streams.

    Parameters
    ----------
    cv_result : bayes_hte.workflows.iecv_result.IECVResult
        The cross-validation.
    settings : dict
        From :func:`score_settings`.
    rngs : tuple of two numpy.random.Generator
        The IECV metrics' and curves' streams (:func:`evaluation_streams`).

    Returns
    -------
    IECVScores
        Tables by model label.
    """
    start = time.perf_counter()
    data, groups, ci_prob = cv_result.data, settings["groups"], settings["ci_prob"]
    rng, curve_rng = rngs
    y, z, known = outcome_arrays(data, horizon=cv_result.horizon)
    trials = np.asarray(data.study_labels, dtype=object)[data.study_idx]
    max_draws = settings["max_draws"]
    table = cv_result.metrics(truth=settings["truth"], groups=groups, ci_prob=ci_prob,
                              random_state=rng, outcome_arrays=(y, z, known),
                              max_draws=max_draws)
    held = known & np.isin(trials, cv_result.held_out)
    calibration, toc, curves = {}, {}, {}
    for label in cv_result.labels:
        # the posterior mean of the scored draws, as in sample
        b = benefit_from_ite(thin(cv_result.ite[label], max_draws).mean(0),
                             data.outcome_type)
        calibration[label] = calibration_for_benefit(
            y[held], z[held], b[held], groups=groups).table(ci_prob=ci_prob)
        toc[label], curves[label] = benefit_curves(y[held], z[held], b[held], trials[held],
                                                   ci_prob, curve_rng)
    return IECVScores(table=table, calibration=calibration, toc=toc, curves=curves,
                      settings=settings, seconds=time.perf_counter() - start)


def score_iecv(cv_result: Any, *, truth: ArrayLike | str | None = None,
               truth_new: ArrayLike | str | None = None, groups: int = 5,
               ci_prob: float = 0.95,
               random_state: int | np.random.Generator | None = None,
               max_draws: int | None = DEFAULT_MAX_DRAWS) -> IECVScores:
    """Score a cross-validation's held-out predictions as
    :func:`~bayes_hte.workflows.compare.evaluate_models` does.

    The metric table (:meth:`~bayes_hte.workflows.iecv_result.IECVResult.metrics`), the
    calibration-for-benefit groups, the TOC curve and the smoothed calibration curve of
    benefit of every model, with the random streams ``evaluate_models`` uses for them
    given the same ``random_state``: the cross-validation's own process
    (:func:`~bayes_hte.workflows.iecv.submit_iecv` with ``score``) scores with it, and
    ``evaluate_models`` takes the result unchanged.

    Parameters
    ----------
    cv_result : bayes_hte.workflows.iecv_result.IECVResult
        The cross-validation.
    truth, truth_new : array_like, shape (patient,), or str, optional
        As for :func:`~bayes_hte.workflows.compare.evaluate_models`: the target of the
        truth-based metrics is ``truth_new`` (each patient's own trial) when given, else
        ``truth``.
    groups : int
        Quantile groups for calibration for benefit.
    ci_prob : float
        Probability of the equal-tailed intervals.
    random_state : int or numpy.random.Generator, optional
        The ``random_state`` of :func:`~bayes_hte.workflows.compare.evaluate_models`.
    max_draws : int or None
        Most posterior draws scored per model, as ``evaluate_models``'s ``max_draws``
        (:func:`thin`; None: all).

    Returns
    -------
    IECVScores
        Tables by model label, with the settings they were made with.

    Raises
    ------
    DataError
        A truth that is not a column of the data, has the wrong length or non-finite
        values.
    """
    data = cv_result.data
    truth = truth_vector(truth, data, "truth")
    truth_new = truth_vector(truth_new, data, "truth_new")
    settings = score_settings(truth_new if truth_new is not None else truth, groups,
                               ci_prob, random_state, max_draws)
    return score_predictions(cv_result, settings, evaluation_streams(random_state)[2])


def benefit_curves(y: np.ndarray, z: np.ndarray, benefit: np.ndarray, strata: np.ndarray,
                   ci_prob: float, rng: np.random.Generator
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TOC curve (half-sample bootstrap intervals, on :data:`TOC_GRID`) and smoothed
    calibration curve of benefit (pairs bootstrap band, :data:`CURVE_BOOTSTRAP`
    resamples) of one posterior-mean benefit vector.

    Parameters
    ----------
    y, z : numpy.ndarray, shape (patient,)
        Binary outcome and treatment.
    benefit : numpy.ndarray, shape (patient,)
        Predicted benefit (risk reduction; larger = treatment better).
    strata : numpy.ndarray, shape (patient,)
        Trial of each patient (pairs and halves within trials).
    ci_prob : float
        Probability of the bands.
    rng : numpy.random.Generator
        The curves' stream.

    Returns
    -------
    toc, curve : pandas.DataFrame
        ``rate(...).toc_table`` and ``e_for_benefit(...).curve_table`` (its ``eavg``
        in ``attrs``).
    """
    toc = rate(y, z, benefit, strata=strata, q=TOC_GRID, random_state=rng)
    e = e_for_benefit(y, z, benefit, strata=strata, random_state=rng,
                      n_bootstrap=CURVE_BOOTSTRAP)
    curve = e.curve_table(ci_prob=ci_prob)
    curve.attrs["eavg"] = float(e.eavg)
    return toc.toc_table(ci_prob=ci_prob), curve


def truth_vector(truth: ArrayLike | str | None, data: IPDData, name: str
                 ) -> np.ndarray | None:
    """A truth given as values or as a column of the data, checked.

    Parameters
    ----------
    truth : array_like, shape (patient,), str or None
        Values, or the name of a column of ``data.frame``.
    data : IPDData
        The meta-analysis.
    name : str
        The argument's name, for the messages.

    Returns
    -------
    numpy.ndarray, shape (patient,), or None
        Float values; None for None.

    Raises
    ------
    DataError
        Not a column of the data, the wrong length, or non-finite values.
    """
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
