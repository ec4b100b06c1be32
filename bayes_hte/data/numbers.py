"""Reading array-likes as real numbers without coercing anything.

:func:`real_values` flags every entry that is not a real number (text, even ``"1"``,
booleans, complex numbers, dates, other objects); :func:`real_numbers` refuses them with one
:class:`bayes_hte.errors.DataError` that names the first such entry and where it is, in
the caller's words (a study, a patient, a coefficient).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd

from bayes_hte.errors import DataError

__all__ = ["real_numbers", "real_values"]


def real_values(values: object) -> tuple[np.ndarray, np.ndarray]:
    """Array-like values as floats, flagging every entry that is not a real number.

    Nothing is coerced: text (even ``"1"``), booleans, complex numbers, dates and other
    objects are flagged, not converted. Missing entries (``None``, NaN, ``pd.NA``,
    ``pd.NaT``) become NaN and are not flagged (the caller decides on missing values);
    an integer too large for a float becomes ``inf``.

    Parameters
    ----------
    values : array_like
        A list, tuple, ndarray, pandas Series / Index / extension array, or a scalar.

    Returns
    -------
    arr : ndarray of float64
        A new array of the shape of ``values``; NaN at the flagged entries.
    bad : ndarray of bool
        Same shape: ``True`` where the entry is not a real number.
    """
    dtype = getattr(values, "dtype", None)
    if (dtype is not None and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype)):
        if isinstance(values, np.ndarray):
            arr = values.astype(float, copy=True)
        else:
            arr = np.array(pd.array(values).to_numpy(dtype=float, na_value=np.nan),
                           dtype=float, copy=True)
        return arr, np.zeros(arr.shape, dtype=bool)
    obj = np.array(values, dtype=object)
    flat = obj.ravel()
    arr = np.full(flat.shape, np.nan)
    bad = np.zeros(flat.shape, dtype=bool)
    for i, v in enumerate(flat):
        if v is None or v is pd.NA or v is pd.NaT:
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
            bad[i] = True
            continue
        try:
            arr[i] = float(v)
        except OverflowError:
            arr[i] = np.inf if v > 0 else -np.inf
    return arr.reshape(obj.shape), bad.reshape(obj.shape)


def real_numbers(values: object, what: str, *,
                 place: Callable[[tuple[int, ...]], str] | None = None,
                 note: str = "") -> np.ndarray:
    """Array-like values as a new float array, refusing every entry that is not a real
    number.

    Parameters
    ----------
    values : array_like
        As :func:`real_values` reads them; missing entries become NaN (the caller decides
        on missing values).
    what : str
        The input's name in the message (``"yi"``, ``"benefit"``).
    place : callable, optional
        Maps the index of the first refused entry (a tuple, one int per axis; empty for
        a scalar, which gets no place) to where it is, e.g. ``" at study 'b'"``.
    note : str
        Appended to the message.

    Returns
    -------
    ndarray of float64
        The shape of ``values``.

    Raises
    ------
    DataError
        ``"{what} must be real numbers: {entry!r}{place} is not ({k} such entries)"``.
    """
    arr, bad = real_values(values)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = np.asarray(values, dtype=object)[where]
        at = place(where) if place is not None and where else ""
        raise DataError(f"{what} must be real numbers: {value!r}{at} is not "
                        f"({int(bad.sum())} such entries){note}")
    return arr
