r"""Exact data reduction of the one-stage IPD-MA likelihoods (binary, piecewise hazard).

The linear predictor of :func:`bayes_hte.models.ipdma.ipdma_linear_predictor` depends on
a patient only through their covariate row, arm and trial, so patients sharing the
three (a *cell*, :func:`bayes_hte.data.reduction.covariate_cells`) share it, and their
likelihood terms add up exactly (:mod:`bayes_hte.data.reduction` gives the algebra):

binary outcome (``form="binomial"``)
    one :math:`\mathrm{Binomial}(n_c, \mathrm{expit}\,\ell_c)` per cell instead of
    :math:`n_c` Bernoulli terms; the log density differs from the per-patient one by
    :math:`\sum_c \log\binom{n_c}{k_c}`, a constant, so the posterior is the same.
piecewise-constant hazard (``form="poisson"``)
    per (cell, interval) row, events :math:`D_{cm}` with the Poisson kernel
    :math:`D_{cm}(\lambda_m + \ell_c) - E_{cm} e^{\lambda_m + \ell_c}` (log-exposure
    offset; Holford 1980, Laird & Olivier 1981). Its sum equals the per-patient
    log likelihood exactly; the full Poisson log pmf would add the constant
    :math:`\sum D_{cm}\log E_{cm} - \log D_{cm}!`, which is undefined when an event
    falls on a cut point of a cell with no time at risk beyond it, hence the kernel.

The cost of one log-density gradient is then proportional to the number of cells
(rows), not patients. The reduced model names its data ``X_cell``, ``treatment_cell``,
``study_idx_cell`` (dims ``cell``), and its observed data ``events_observed``
(binomial: events per cell, with ``n_cell`` patients per cell; poisson: events per
(cell, interval) row, dims ``cell_interval``, with ``exposure_observed``,
``cell_of_row``, ``interval_of_row``); the observed variable is ``events``. To swap in
new outcomes (e.g. simulation-based calibration), set ``events_observed`` (and
``exposure_observed``) — or use the per-patient form (``data_reduction="never"``,
observed data ``y_observed`` / ``time_observed``).

The per-patient model stays available (:func:`per_unit_model`): :func:`bayes_hte.inference.fit`
evaluates the pointwise log likelihood (one value per patient, for LOO) and the
posterior predictive draws (``y`` per patient) with it, at the reduced model's
posterior draws — both models have the same free variables.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.model.core import MODEL_MANAGER

from bayes_hte.data.ipd import IPDData
from bayes_hte.data.reduction import (
    MIN_PATIENTS_PER_CELL,
    Cells,
    IntervalCells,
    covariate_cells,
    few_values,
    interval_cells,
)
from bayes_hte.errors import DataWarning
from bayes_hte.models.likelihood import binomial_logit
from bayes_hte.options import DATA_REDUCTIONS, DataReduction, check_choice


def plan_reduction(data: IPDData, data_reduction: DataReduction = "auto", *,
                   baseline: str | None = None,
                   min_patients_per_cell: float = MIN_PATIENTS_PER_CELL) -> Cells | None:
    """The cells to pool the patients into, or ``None`` for the per-patient likelihood.

    Parameters
    ----------
    data : IPDData
        The fit data.
    data_reduction : {"auto", "always", "never"}
        ``"auto"``: reduce when the form is exact (binary outcome, or the piecewise
        baseline) and there are at least ``min_patients_per_cell`` patients per cell on
        average (only discrete covariates; a continuous covariate makes nearly every
        patient a cell of one and the reduction saves nothing); ``"always"``: whenever
        exact; ``"never"``: the per-patient likelihood.
    baseline : {"weibull", "piecewise"}, optional
        Time-to-event baseline (``None`` for a binary outcome). The Weibull likelihood
        depends on each patient's own time and is never reduced.
    min_patients_per_cell : float
        The ``"auto"`` threshold on :math:`N / C` (patients over cells).

    Returns
    -------
    Cells or None
        The (trial, arm, covariate row) cells, or ``None``.

    Raises
    ------
    ValueError
        An unknown ``data_reduction``, or ``"always"`` for the Weibull baseline.
    """
    check_choice("data_reduction", data_reduction, DATA_REDUCTIONS)
    if data_reduction == "never":
        return None
    if data.outcome_type != "binary" and baseline != "piecewise":
        if data_reduction == "always":
            raise ValueError("data_reduction='always' needs a binary outcome or the piecewise "
                             f"baseline; the {baseline!r} likelihood depends on each "
                             "patient's own time")
        return None
    if data_reduction == "auto" and not few_values(
            data.X, data.n_patients / min_patients_per_cell):
        return None  # a (near-)continuous covariate: not worth sorting every row
    cells = covariate_cells(data.X, data.z, data.study_idx)
    if data_reduction == "auto" and not cells.worth_reducing(min_patients_per_cell):
        return None
    return cells


def cell_design(cells: Cells) -> tuple[pt.TensorVariable, pt.TensorVariable,
                                       pt.TensorVariable]:
    """Declare the cells' design as data of the model in context (coord ``cell``).

    Parameters
    ----------
    cells : Cells
        From :func:`plan_reduction`.

    Returns
    -------
    tuple of pytensor.tensor.TensorVariable
        ``(X, z, study_idx)`` of the cells: ``X_cell`` (cell, covariate),
        ``treatment_cell`` and ``study_idx_cell`` (cell,) — the inputs of
        :func:`bayes_hte.models.ipdma.ipdma_linear_predictor` in place of the patients'.
    """
    model = pm.modelcontext(None)
    model.add_coord("cell", np.arange(cells.n_cells))
    X = pm.Data("X_cell", cells.X, dims=("cell", "covariate"))
    z = pm.Data("treatment_cell", cells.z, dims="cell")
    sidx = pm.Data("study_idx_cell", cells.study_idx, dims="cell")
    return X, z, sidx


def binomial_likelihood(cells: Cells, y: np.ndarray, lp: pt.TensorVariable
                        ) -> pt.TensorVariable:
    r"""Observed ``events`` :math:`\sim \mathrm{Binomial}(n_c, \mathrm{expit}\,\ell_c)`.

    Parameters
    ----------
    cells : Cells
        The cells (declared by :func:`cell_design`).
    y : ndarray, shape (patient,)
        Binary outcomes of the patients.
    lp : pytensor.tensor.TensorVariable
        Log-odds of each cell, shape (cell,).

    Returns
    -------
    pytensor.tensor.TensorVariable
        The observed variable ``events`` (dims ``cell``; data ``n_cell`` and
        ``events_observed``).
    """
    n = pm.Data("n_cell", cells.size, dims="cell")
    k = pm.Data("events_observed", np.rint(cells.sum(y)).astype(np.int64), dims="cell")
    return binomial_logit("events", n, lp, observed=k, dims="cell")


def piecewise_poisson_likelihood(cells: Cells, exposure: np.ndarray,
                                 interval_idx: np.ndarray, event: np.ndarray, *,
                                 lp: pt.TensorVariable, log_lambda: pt.TensorVariable,
                                 z: pt.TensorVariable, learner: str) -> IntervalCells:
    r"""Observed ``events`` per (cell, interval) with the Poisson kernel (module docstring).

    :math:`\log L = \sum_{c,m} D_{cm}\eta_{cm} - E_{cm} e^{\eta_{cm}}`,
    :math:`\eta_{cm} = \lambda_m + \ell_c` (:math:`\lambda_{z_c m}` for the T-learner):
    equal to the sum of the per-patient log likelihoods of
    :func:`bayes_hte.models.survival.build_ipdma_survival_model`.

    Parameters
    ----------
    cells : Cells
        The cells (declared by :func:`cell_design`).
    exposure : ndarray of float, shape (patient, interval)
        Time at risk per patient and interval (scaled times).
    interval_idx : ndarray of int, shape (patient,)
        Interval of each patient's time.
    event : ndarray, shape (patient,)
        Event indicators.
    lp : pytensor.tensor.TensorVariable
        Log-hazard linear predictor of each cell, shape (cell,).
    log_lambda : pytensor.tensor.TensorVariable
        Log baseline hazard per interval, shape (interval,) or (arm, interval).
    z : pytensor.tensor.TensorVariable
        Arm of each cell, shape (cell,).
    learner : {"s", "t"}
        The T-learner's baseline has an arm dimension.

    Returns
    -------
    IntervalCells
        The rows (declared as coord ``cell_interval``; data ``cell_of_row``,
        ``interval_of_row``, ``exposure_observed``, ``events_observed``).
    """
    rows = interval_cells(cells, exposure, interval_idx, event)
    pm.modelcontext(None).add_coord("cell_interval", np.arange(rows.n_rows))
    cell = pm.Data("cell_of_row", rows.cell, dims="cell_interval")
    interval = pm.Data("interval_of_row", rows.interval, dims="cell_interval")
    expo = pm.Data("exposure_observed", rows.exposure, dims="cell_interval")
    d = pm.Data("events_observed", rows.events, dims="cell_interval")
    log_h0 = log_lambda[z[cell], interval] if learner == "t" else log_lambda[interval]
    pm.CustomDist("events", lp[cell] + log_h0, expo, logp=_poisson_kernel,
                  random=_poisson_random, observed=d, dims="cell_interval")
    return rows


def _poisson_kernel(value, eta, exposure):
    """Poisson log pmf of ``value`` with mean ``exposure * exp(eta)``, less its constant."""
    return value * eta - exposure * pt.exp(eta)


def _poisson_random(eta, exposure, rng=None, size=None):
    return rng.poisson(np.asarray(exposure) * np.exp(eta), size=size).astype(float)


def describe(data: IPDData, cells: Cells | None, *, data_reduction: str,
             rows: IntervalCells | None = None) -> dict:
    """The ``data_reduction`` entry of ``model.bayes_hte`` (JSON-serialisable).

    Parameters
    ----------
    data : IPDData
        The fit data.
    cells : Cells or None
        The cells used, or ``None`` for the per-patient likelihood.
    data_reduction : {"auto", "always", "never"}
        The option asked for.
    rows : IntervalCells, optional
        The (cell, interval) rows of the piecewise form.

    Returns
    -------
    dict
        ``form`` (``"none"``, ``"binomial"`` or ``"poisson"``), ``option``,
        ``observed`` (name of the observed variable: ``"events"``, or ``"y"`` /
        ``"time"`` per patient), ``patients`` and, when reduced, ``cells`` (and
        ``rows``, the likelihood terms of the piecewise form).
    """
    if cells is None:
        return {"form": "none", "option": data_reduction, "patients": data.n_patients,
                "observed": "y" if data.outcome_type == "binary" else "time"}
    out = {"form": "binomial" if rows is None else "poisson", "option": data_reduction,
           "observed": "events", "patients": cells.n_units, "cells": cells.n_cells}
    if rows is not None:
        out["rows"] = rows.n_rows
    return out


def attach_per_unit_model(model: pm.Model, build: Callable[[], pm.Model]) -> None:
    """Record how to build the per-patient form of a reduced model (built once, on demand).

    Parameters
    ----------
    model : pymc.Model
        The reduced model (its ``bayes_hte`` dict gains ``"per_unit_model"``).
    build : callable
        No arguments; returns the same model with ``data_reduction="never"``.
    """
    cache: dict[str, pm.Model] = {}

    def twin() -> pm.Model:
        if "model" not in cache:
            # built outside any model context (e.g. inside ``with model:`` of a fit), so
            # that it is a model of its own, not a sub-model of the one in context
            active = MODEL_MANAGER.active_contexts
            saved = active[:]
            active.clear()
            try:
                with warnings.catch_warnings():  # its data checks warned for ``model``
                    warnings.simplefilter("ignore", DataWarning)
                    cache["model"] = build()
            finally:
                active[:] = saved
        return cache["model"]

    model.bayes_hte["per_unit_model"] = twin


def per_unit_model(model: pm.Model) -> pm.Model:
    """The per-patient form of a reduced model (the model itself when not reduced).

    Used for what needs one value per patient: the pointwise log likelihood and the
    posterior predictive draws. Both forms have the same free variables, so the reduced
    model's posterior draws are draws of the per-patient model's posterior.

    Parameters
    ----------
    model : pymc.Model
        Any model; a reduced one carries ``model.bayes_hte["per_unit_model"]``.

    Returns
    -------
    pymc.Model
        The per-patient model, or ``model``.

    Raises
    ------
    RuntimeError
        The two forms have different free variables (a reduced model extended after it
        was built).
    """
    build = (getattr(model, "bayes_hte", None) or {}).get("per_unit_model")
    if build is None:
        return model
    twin = build()
    mine = sorted(rv.name for rv in model.free_RVs)
    theirs = sorted(rv.name for rv in twin.free_RVs)
    if mine != theirs:
        raise RuntimeError(f"the per-patient form of the reduced model has the free "
                           f"variables {theirs}, the model {mine}")
    return twin
