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
from bayes_hte.data.numbers import real_numbers
from bayes_hte.errors import DataError, format_rows
from bayes_hte.options import check_count

#: Predicted benefit or ITE: a vector (n,), draws (..., n) with the patient last, or an
#: ``xarray.DataArray`` with a ``patient`` dim such as (chain, draw, patient).
Draws = ArrayLike | xr.DataArray
#: One metric: a float (vector input), an ndarray of the leading shape (draws as an
#: array) or a DataArray with the ``patient`` dim dropped, e.g. (chain, draw).
Metric = float | np.ndarray | xr.DataArray
#: Seed or generator of :func:`numpy.random.default_rng`.
RandomState = int | np.random.Generator | None


def binary_vector(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as an int8 0/1 vector (n,); a DataError names the bad rows.

    A bool array is read as 0/1 (as :func:`bayes_hte.data.checks.binary_column` reads a
    bool column); text (even ``"1"``), other objects and a list mixing bools with numbers
    are refused, not read as 0/1.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional (one value per patient), got shape "
                        f"{arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.dtype.kind not in "iuf":
        raise DataError(f"{name} must be coded 0/1 (or bool), got dtype {arr.dtype}"
                        + _first_bad(values, arr.dtype.kind in "OUS"))
    if getattr(values, "dtype", None) is None:  # a list: NumPy read its bools as numbers
        _, not_number = real_values(values)
        if not_number.any():
            where = np.flatnonzero(not_number)
            raise DataError(f"{name} mixes bools with numbers: {values[where[0]]!r} at "
                            f"{format_rows(where)}; code it all as 0/1 (or all as bool)")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise DataError(f"{name} must be 0/1 but has values {sorted(set(arr[bad].tolist()))[:5]}"
                        f" at {format_rows(np.flatnonzero(bad))}; recode it as 0/1")
    return arr.astype(np.int8)


def _first_bad(values: object, show: bool) -> str:
    """`` ('1' at row 0)``: the first entry that is not a real number, for a message."""
    if not show:
        return ""
    _, not_number = real_values(values)
    if not not_number.any():
        return ""
    where = np.argwhere(not_number)[0]
    return f" ({np.asarray(values, dtype=object)[tuple(where)]!r} at {_where(where)})"


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
    values = as_numbers(raw, name)
    if values.ndim == 0:
        raise DataError(f"{name} must have one value per patient, got a scalar")
    lead = values.shape[:-1]
    if values.shape[-1] != n:
        raise DataError(f"{name} has {values.shape[-1]} patients along its last axis "
                        f"(patient dim) but {against} has {n}")
    rows = values.reshape(-1, n)
    if rows.shape[0] == 0:
        raise DataError(f"{name} has no draws (shape {values.shape})")
    _check_finite(values, name)
    return rows, restore


def as_numbers(raw: object, name: str, *, patients: bool = True) -> np.ndarray:
    """``raw`` as a float array; text (even ``"0.1"``), bools, complex numbers and other
    objects are a DataError naming the first one (missing values become NaN). With
    ``patients`` the last axis is the patient (``draw 1, patient 7``), otherwise the
    entry is named by its index."""
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "iuf":  # numbers: no copy
        return np.asarray(raw, dtype=float)
    return real_numbers(raw, name, place=lambda w: f" at {_where(w)}" if patients
                      else f" at entry {_index(w)}")


def _check_finite(values: np.ndarray, name: str) -> None:
    """A DataError naming the first non-finite entry (and the patients) of ``values``
    (..., n)."""
    bad = ~np.isfinite(values)
    if bad.any():
        n = values.shape[-1]
        patients = np.flatnonzero(bad.reshape(-1, n).any(axis=0)).tolist()
        more = f" and {len(patients) - 5} more" if len(patients) > 5 else ""
        raise DataError(f"{name} has non-finite values at {_where(np.argwhere(bad)[0])} "
                        f"({int(bad.sum())} entries; patients {patients[:5]}{more})")


def real_vector(values: ArrayLike, name: str, *, n: int | None = None,
                against: str = "y") -> np.ndarray:
    """A finite real vector (n,), e.g. a truth: as :func:`as_rows`, text (even ``"0.1"``),
    bools, complex numbers and non-finite values are DataErrors naming the patient;
    ``n`` (when given) is the length required, that of the argument ``against``."""
    values = as_numbers(values, name)
    if values.ndim != 1:
        raise DataError(f"{name} must be a vector with one value per patient, got shape "
                        f"{values.shape}")
    if n is not None and values.size != n:
        raise DataError(f"{name} has {values.size} patients but {against} has {n}")
    if values.size == 0:
        raise DataError(f"{name} has no patients")
    _check_finite(values, name)
    return values


def real_array(values: ArrayLike, name: str) -> np.ndarray:
    """A float array of any shape (at least one value), not per patient (a grid, the
    points of a smoother), refusing text, bools, complex numbers and non-finite values
    with a DataError naming the entry."""
    values = as_numbers(values, name, patients=False)
    if values.size == 0:
        raise DataError(f"{name} is empty")
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0] if values.ndim else np.zeros(0, dtype=int)
        raise DataError(f"{name} must be finite: {values[tuple(where)]} at entry "
                        f"{_index(where)} ({int(bad.sum())} such entries)")
    return values


def _index(where: np.ndarray) -> str:
    """``3`` for a vector entry, ``(1, 2)`` for an array entry, ``()`` for a scalar."""
    idx = tuple(int(i) for i in where)
    return str(idx[0]) if len(idx) == 1 else str(idx)


def _where(index: np.ndarray) -> str:
    """``patient 7`` for a vector, ``draw (1, 2), patient 11`` for draws."""
    *draw, patient = (int(i) for i in index)
    return (f"draw {tuple(draw) if len(draw) > 1 else draw[0]}, " if draw else "") + \
        f"patient {patient}"


def as_rng(random_state: RandomState) -> np.random.Generator:
    """A generator from a seed (an integer >= 0), a generator (used as is) or None."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    return np.random.default_rng(check_count("random_state", random_state, low=0))


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
