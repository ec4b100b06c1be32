r"""Exact data reduction: patients who share covariates, arm and trial pooled into cells.

A one-stage IPD-MA model's linear predictor depends on a patient only through the
covariate row :math:`x_i`, the arm :math:`z_i` and the trial :math:`j_i`. Patients with
the same triple — a *cell* :math:`c` — share their linear predictor :math:`\ell_c`, so
their likelihood terms can be summed exactly:

binary outcome
    :math:`\prod_{i\in c} p_c^{y_i}(1-p_c)^{1-y_i} = p_c^{k_c}(1-p_c)^{n_c-k_c}`, the
    Binomial likelihood of the cell's :math:`k_c` events in :math:`n_c` patients without
    its coefficient :math:`\binom{n_c}{k_c}` (a constant);
piecewise-constant hazard
    :math:`\sum_{i\in c} [d_i(\lambda_{m_i} + \ell_c) - \sum_m E_{im} e^{\lambda_m +
    \ell_c}] = \sum_m [D_{cm}(\lambda_m + \ell_c) - E_{cm} e^{\lambda_m + \ell_c}]` with
    :math:`D_{cm}` the events and :math:`E_{cm}` the time at risk of cell :math:`c` in
    interval :math:`m`: the kernel of a Poisson likelihood with log-exposure offset
    (Holford 1980, *Biometrics* 36:299; Laird & Olivier 1981, *JASA* 76:231).

This module does the counting (numpy only); :mod:`bayes_hte.models.reduction` writes
the likelihoods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ``data_reduction="auto"`` pools patients when there are at least this many patients
#: per cell on average (the likelihood's cost is proportional to the number of cells).
MIN_PATIENTS_PER_CELL = 2.0


@dataclass(frozen=True, eq=False)
class Cells:
    """Patients grouped by (trial, arm, covariate row).

    Parameters
    ----------
    index : ndarray of int, shape (patient,)
        Cell of each patient (0 .. n_cells - 1).
    X : ndarray of float, shape (cell, covariate)
        The cells' covariate rows (encoded, as ``IPDData.X``).
    z : ndarray of int, shape (cell,)
        The cells' arm (1 = treated).
    study_idx : ndarray of int, shape (cell,)
        The cells' trial index.
    size : ndarray of int, shape (cell,)
        Patients per cell.
    """

    index: np.ndarray
    X: np.ndarray
    z: np.ndarray
    study_idx: np.ndarray
    size: np.ndarray

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.size.shape[0])

    @property
    def n_units(self) -> int:
        """Number of patients pooled."""
        return int(self.index.shape[0])

    def worth_reducing(self, min_patients_per_cell: float = MIN_PATIENTS_PER_CELL) -> bool:
        """Whether pooling saves work: at least ``min_patients_per_cell`` patients per cell.

        Parameters
        ----------
        min_patients_per_cell : float
            Threshold on the mean cell size :math:`N / C`.

        Returns
        -------
        bool
            ``True`` when :math:`N \\ge` ``min_patients_per_cell`` :math:`\\times C` (a
            continuous covariate makes nearly every patient a cell of one: ``False``).
        """
        return self.n_units >= min_patients_per_cell * self.n_cells

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-patient ``values`` summed within each cell.

        Parameters
        ----------
        values : ndarray, shape (patient,) or (patient, k)
            E.g. the outcomes, or the exposure of each patient per interval.

        Returns
        -------
        ndarray of float, shape (cell,) or (cell, k)
            The cell totals.
        """
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            return np.bincount(self.index, weights=values, minlength=self.n_cells)
        out = np.empty((self.n_cells, values.shape[1]))
        for k in range(values.shape[1]):
            out[:, k] = np.bincount(self.index, weights=values[:, k], minlength=self.n_cells)
        return out


def few_values(X: np.ndarray, max_values: float) -> bool:
    """Whether every covariate column takes at most ``max_values`` distinct values.

    A necessary condition for at most ``max_values`` cells, checked column by column
    (stopping at the first column with more): on data with a continuous covariate it
    costs one sort of one column instead of the sort of every row that
    :func:`covariate_cells` needs.

    Parameters
    ----------
    X : ndarray of float, shape (patient, covariate)
        Encoded covariates.
    max_values : float
        The largest number of cells worth pooling into.

    Returns
    -------
    bool
        ``False`` as soon as a column has more distinct values than ``max_values``.
    """
    X = np.asarray(X, dtype=float)
    return all(np.unique(X[:, k]).size <= max_values for k in range(X.shape[1]))


def covariate_cells(X: np.ndarray, z: np.ndarray, study_idx: np.ndarray) -> Cells:
    """Group patients by (trial, arm, covariate row).

    Parameters
    ----------
    X : ndarray of float, shape (patient, covariate)
        Encoded covariates (``IPDData.X``).
    z : ndarray of int, shape (patient,)
        Treatment indicator.
    study_idx : ndarray of int, shape (patient,)
        Trial index of each patient.

    Returns
    -------
    Cells
        The distinct (trial, arm, covariate row) triples, sorted by trial, arm, then
        covariates; each patient's cell; the cell sizes.
    """
    X = np.asarray(X, dtype=float)
    keys = np.column_stack([np.asarray(study_idx, dtype=float), np.asarray(z, dtype=float),
                            X + 0.0])  # + 0.0 turns -0.0 into 0.0: equal values, equal keys
    uniq, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return Cells(index=np.asarray(inverse).ravel().astype(np.int64), X=uniq[:, 2:],
                 z=uniq[:, 1].astype(np.int64), study_idx=uniq[:, 0].astype(np.int64),
                 size=counts.astype(np.int64))


@dataclass(frozen=True, eq=False)
class IntervalCells:
    """Events and time at risk per (cell, interval) of a piecewise-constant hazard.

    Only the rows with time at risk or events are kept (a cell whose patients all
    left before interval :math:`m` adds nothing there).

    Parameters
    ----------
    cell : ndarray of int, shape (row,)
        The row's cell (into a :class:`Cells`).
    interval : ndarray of int, shape (row,)
        The row's interval :math:`m` (0 .. M - 1).
    events : ndarray of float, shape (row,)
        Events :math:`D_{cm}`: patients of the cell whose event time lies in the interval.
    exposure : ndarray of float, shape (row,)
        Time at risk :math:`E_{cm}` of the cell's patients in the interval (the time unit
        of the exposure matrix given).
    """

    cell: np.ndarray
    interval: np.ndarray
    events: np.ndarray
    exposure: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of (cell, interval) rows."""
        return int(self.cell.shape[0])


def interval_cells(cells: Cells, exposure: np.ndarray, interval_idx: np.ndarray,
                   event: np.ndarray) -> IntervalCells:
    """Sum events and time at risk per (cell, interval).

    Parameters
    ----------
    cells : Cells
        From :func:`covariate_cells`.
    exposure : ndarray of float, shape (patient, interval)
        Time at risk of each patient in each interval
        (:func:`bayes_hte.data.survival.exposure_matrix`).
    interval_idx : ndarray of int, shape (patient,)
        Interval holding each patient's follow-up time.
    event : ndarray, shape (patient,)
        Event indicator (1 = event, 0 = censored).

    Returns
    -------
    IntervalCells
        :math:`D_{cm} = \\sum_{i\\in c} d_i [m_i = m]` and
        :math:`E_{cm} = \\sum_{i\\in c} E_{im}`, rows with :math:`E_{cm} > 0` or
        :math:`D_{cm} > 0`, ordered by cell then interval.
    """
    exposure = np.asarray(exposure, dtype=float)
    n_int = exposure.shape[1]
    flat = cells.index * n_int + np.asarray(interval_idx, dtype=np.int64)
    D = np.bincount(flat, weights=np.asarray(event, dtype=float),
                    minlength=cells.n_cells * n_int).reshape(cells.n_cells, n_int)
    E = cells.sum(exposure)
    cell, interval = np.nonzero((E > 0) | (D > 0))
    return IntervalCells(cell=cell.astype(np.int64), interval=interval.astype(np.int64),
                         events=D[cell, interval], exposure=E[cell, interval])
