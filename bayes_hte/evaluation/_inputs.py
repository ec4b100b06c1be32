"""Input checks and the vector / draws convention shared by the evaluation metrics.

A metric takes one value per patient (a vector ``(n,)``) or posterior draws (an array
``(..., n)`` with the patient last, or an ``xarray.DataArray`` with a ``patient`` dim such
as ``(chain, draw, patient)``); :func:`as_rows` flattens the draws to ``(m, n)`` and gives
back a function that restores the metric's shape (float, ``(...)`` or a DataArray without
the ``patient`` dim).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from bayes_hte.data.checks import real_values
from bayes_hte.errors import DataError, format_rows
from bayes_hte.options import check_count, check_real

#: Predicted benefit or ITE: a vector (n,), draws (..., n) with the patient last, or an
#: ``xarray.DataArray`` with a ``patient`` dim such as (chain, draw, patient).
Draws = ArrayLike | xr.DataArray
#: One metric: a float (vector input), an ndarray of the leading shape (draws as an
#: array) or a DataArray with the ``patient`` dim dropped, e.g. (chain, draw).
Metric = float | np.ndarray | xr.DataArray
#: Seed or generator of :func:`numpy.random.default_rng`.
RandomState = int | np.random.Generator | None


def binary_vector(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as an int8 0/1 vector (n,); a DataError names the bad rows."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional (one value per patient), got shape "
                        f"{arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{name} must be coded 0/1, got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise DataError(f"{name} must be 0/1 but has values {sorted(set(arr[bad].tolist()))[:5]}"
                        f" at {format_rows(np.flatnonzero(bad))}; recode it as 0/1")
    return arr.astype(np.int8)


def check_outcomes(y: ArrayLike, treatment: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcome and treatment vectors of equal length, with both arms present."""
    y = binary_vector(y, "y")
    z = binary_vector(treatment, "treatment")
    if y.shape != z.shape:
        raise DataError(f"y has {y.size} patients but treatment has {z.size}")
    for arm, label in ((1, "treated"), (0, "control")):
        if not (z == arm).any():
            raise DataError(f"there are no {label} patients (treatment == {arm}); the metrics "
                            "for benefit compare the two randomized arms")
    return y, z


def as_rows(benefit: Draws, n: int, name: str = "benefit", *,
            against: str = "y") -> tuple[np.ndarray, Callable]:
    """Benefit as a 2-D array (rows = draws, columns = patients) and an un-flattener.

    The un-flattener maps a ``(rows,)`` result back to the input's non-patient shape:
    a float for a vector, an array for an ndarray, a DataArray (patient dim dropped)
    for a DataArray. ``against`` names the argument whose length ``n`` is (for the
    message). Text (even ``"0.1"``), booleans, complex numbers, no draws and non-finite
    values are DataErrors naming the patient (and the draw).
    """
    if isinstance(benefit, xr.DataArray):
        if "patient" not in benefit.dims:
            raise DataError(f"{name} has dims {benefit.dims}; it needs a 'patient' dim")
        da = benefit.transpose(..., "patient")
        raw = da.values
        template = da.isel(patient=0, drop=True)

        def restore(res: np.ndarray):
            return xr.DataArray(np.asarray(res).reshape(template.shape), dims=template.dims,
                                coords=template.coords)
    else:
        raw = benefit

        def restore(res: np.ndarray):
            res = np.asarray(res)
            return float(res.reshape(())) if not lead else res.reshape(lead)
    if (isinstance(raw, np.ndarray) and raw.dtype.kind in "iuf"):  # numbers: no copy
        values, not_number = np.asarray(raw, dtype=float), np.zeros(raw.shape, dtype=bool)
    else:
        values, not_number = real_values(raw)
    if values.ndim == 0:
        raise DataError(f"{name} must have one value per patient, got a scalar")
    lead = values.shape[:-1]
    if not_number.any():
        where = np.argwhere(not_number)[0]
        value = np.asarray(raw, dtype=object)[tuple(where)]
        raise DataError(f"{name} must be numbers: {value!r} at {_where(where)} is not "
                        f"({int(not_number.sum())} such entries)")
    if values.shape[-1] != n:
        raise DataError(f"{name} has {values.shape[-1]} patients along its last axis "
                        f"(patient dim) but {against} has {n}")
    rows = values.reshape(-1, n)
    if rows.shape[0] == 0:
        raise DataError(f"{name} has no draws (shape {values.shape})")
    bad = ~np.isfinite(values)
    if bad.any():
        patients = np.flatnonzero(bad.reshape(-1, n).any(axis=0)).tolist()
        more = f" and {len(patients) - 5} more" if len(patients) > 5 else ""
        raise DataError(f"{name} has non-finite values at {_where(np.argwhere(bad)[0])} "
                        f"({int(bad.sum())} entries; patients {patients[:5]}{more})")
    return rows, restore


def _where(index: np.ndarray) -> str:
    """``patient 7`` for a vector, ``draw (1, 2), patient 11`` for draws."""
    *draw, patient = (int(i) for i in index)
    return (f"draw {tuple(draw) if len(draw) > 1 else draw[0]}, " if draw else "") + \
        f"patient {patient}"


def count_option(value: object, name: str, *, low: int, error: type = ValueError) -> int:
    """An integer option (not a bool, not 2.5, not text) of at least ``low``."""
    return check_count(name, value, low=low, error=error)


def real_option(value: object, name: str) -> float:
    """A finite real option (not a bool, not text): :func:`bayes_hte.options.check_real`."""
    return check_real(name, value)


def as_rng(random_state: RandomState) -> np.random.Generator:
    """A generator from a seed (an integer >= 0), a generator (used as is) or None."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    return np.random.default_rng(count_option(random_state, "random_state", low=0))


def posterior_row(name: str, values: np.ndarray, ci_prob: float, *, sd_name: str) -> dict:
    """One metric's posterior summary: mean, SD (column ``sd_name``), equal-tailed interval.

    Parameters
    ----------
    name : str
        Metric name (the ``metric`` column).
    values : ndarray
        The metric's posterior draws (any shape; flattened).
    ci_prob : float
        Probability of the equal-tailed interval, in (0, 1).
    sd_name : str
        Name of the SD column (``"sd"`` or ``"se"``, as the calling table names it).

    Returns
    -------
    dict
        ``metric``, ``estimate``, ``sd_name``, ``ci_low``, ``ci_high``, ``interval``
        (``"posterior"``); the SD is NaN for a single draw.
    """
    v = np.asarray(values).ravel()
    lo, hi = np.quantile(v, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    return {"metric": name, "estimate": float(v.mean()),
            sd_name: float(v.std(ddof=1)) if v.size > 1 else np.nan,
            "ci_low": lo, "ci_high": hi, "interval": "posterior"}
