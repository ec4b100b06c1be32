"""Text covariates that are numbers, codes with a missing-value marker, dates or
identifiers rather than categories: the checks before a text column becomes indicators
(:func:`bayes_hte.data.checks.encode_covariates`)."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from bayes_hte.errors import DataError, format_rows

__all__ = ["MAX_NUMERIC_CODES", "MISSING_CODES", "check_text_covariate", "reads_as_number"]

#: Text that marks a missing value in exported data (compared without case and spaces).
MISSING_CODES = frozenset({"", ".", "na", "n/a", "nan", "null", "none", "-", "?", "missing"})


#: Most distinct values a text covariate whose every value reads as a number may have
#: and still be taken as category codes (``"1"``, ``"2"``, ``"3"``).
MAX_NUMERIC_CODES = 10


def reads_as_number(s: pd.Series) -> np.ndarray:
    """Which values of a text column read as numbers (a decimal point or comma).

    Parameters
    ----------
    s : pandas.Series
        A text (or object) column.

    Returns
    -------
    ndarray of bool, shape (len(s),)
        ``True`` where the value, as text without surrounding spaces, parses as a
        number (``"1.5"``, ``"1,5"``, ``" 3 "``).
    """
    text = s.astype(str).str.strip()
    point = pd.to_numeric(text, errors="coerce")
    comma = pd.to_numeric(text.str.replace(",", ".", n=1, regex=False), errors="coerce")
    return (point.notna() | comma.notna()).to_numpy()


def check_text_covariate(df: pd.DataFrame, col: str) -> None:
    """Refuse a text covariate that would be expanded to indicators by mistake.

    A text (``object`` or string) column becomes one indicator per level but the
    first (:func:`encode_covariates`). Three kinds of columns are numbers or
    identifiers rather than categories, and would silently become hundreds of
    indicator columns: numbers stored as text (a CSV read with decimal commas, or
    ``astype(str)``), numbers mixed with a few text entries (a missing-value
    placeholder such as ``"."`` or ``"NA "``), and a label per patient. A ``category``
    column is taken as declared.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    col : str
        A text covariate column of ``df`` without missing values.

    Raises
    ------
    DataError
        More than :data:`MAX_NUMERIC_CODES` distinct values of which every one reads as
        a number; at least half the values reading as numbers (with more than
        :data:`MAX_NUMERIC_CODES` distinct ones) and some not (the message names those
        rows and values); or more distinct values than half the rows (and more than
        :data:`MAX_NUMERIC_CODES`).
    """
    s = df[col]
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        raise DataError(f"covariate {col!r} holds dates or durations ({s.dtype}); as "
                        "categories every date would be a level: convert it to a number "
                        "first (e.g. days since a reference date, or the year)")
    if isinstance(s.dtype, pd.CategoricalDtype):
        return
    n_levels = s.nunique()
    numeric = reads_as_number(s)
    if numeric.all() and n_levels > MAX_NUMERIC_CODES:
        raise DataError(
            f"covariate {col!r} holds numbers as text or objects ({n_levels} distinct "
            f"values, "
            f"e.g. {s.iloc[0]!r}); as text it would become {n_levels - 1} indicator "
            "columns. Convert it to numbers (pd.to_numeric; a CSV with decimal commas "
            "needs pd.read_csv(..., decimal=',')), or make it a pandas category if its "
            "values are codes"
        )
    if (numeric.mean() >= 0.5 and not numeric.all()
            and s[numeric].nunique() > MAX_NUMERIC_CODES):
        bad = ~numeric
        raise DataError(
            f"covariate {col!r} is text, but {int(numeric.sum())} of {len(s)} values read "
            f"as numbers and {sorted(map(str, s[bad].unique()))[:5]} at "
            f"{format_rows(df.index[bad])} do not: a missing-value code? Mark missing "
            "values as NaN (then impute or remove those rows) and convert the column "
            "with pd.to_numeric"
        )
    _mixed_numbers_and_text(s, col, df.index)  # few codes, with a marker or with text
    _text_spellings(s, col, df.index)
    if n_levels > max(MAX_NUMERIC_CODES, len(s) // 2):
        raise DataError(
            f"covariate {col!r} has {n_levels} distinct text values in {len(s)} rows: as "
            f"a categorical covariate it would become {n_levels - 1} indicator columns, "
            "about one per patient. Is it an identifier? Leave it out of the covariates, "
            "or group its values"
        )


def _text_spellings(s: pd.Series, col: str, index: pd.Index) -> None:
    """Refuse text levels that are a missing-value code (``"NA"``, ``""``: it would be a
    level of its own, maybe the reference) or that differ only by surrounding spaces or
    by case (``"mild"``, ``" mild"``, ``"Mild"``: one patient's typo would make a level,
    maybe the reference), as the study column's labels are checked."""
    objs = s.to_numpy(dtype=object)
    is_text = np.array([isinstance(v, str) for v in objs])
    if not is_text.any():
        return
    marker = is_text & np.array([str(v).strip().lower() in MISSING_CODES for v in objs])
    if marker.any():
        raise DataError(f"covariate {col!r} has the missing-value code(s) "
                        f"{', '.join(sorted(set(map(repr, objs[marker])))[:3])} at "
                        f"{format_rows(index[marker])}: as text it would become a level of "
                        "its own. Mark missing values as NaN (then impute or remove those "
                        "rows)")
    spellings: dict[str, list[str]] = {}
    for v in dict.fromkeys(objs[is_text]):
        spellings.setdefault(v.strip().casefold(), []).append(v)
    clash = next((g for g in spellings.values() if len(g) > 1), None)
    if clash:  # the rows of the rarer spellings
        common = max(clash, key=lambda v: int((s == v).sum()))
        rows = index[(s.isin(clash) & (s != common)).to_numpy()]
        raise DataError(f"covariate {col!r} has levels that differ only by spaces or case "
                        f"({', '.join(map(repr, clash))}, at {format_rows(rows)}): they would "
                        "be different levels. Strip the spaces and unify the case (or name "
                        "them apart)")


def _mixed_numbers_and_text(s: pd.Series, col: str, index: pd.Index) -> None:
    """Refuse number codes with a missing-value marker (``"0"``, ``"1"`` and ``"."``: the
    marker would become a level, maybe the reference) and numbers held as objects mixed
    with text (``0``, ``1`` and ``"a"``: the numbers would silently become text)."""
    objs = s.to_numpy(dtype=object)
    is_number = np.array([isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
                          for v in objs])
    is_text = np.array([isinstance(v, str) for v in objs])
    if is_number.any() and is_text.any():
        raise DataError(f"covariate {col!r} mixes numbers {sorted(set(objs[is_number]))[:3]} "
                        f"and text {sorted(set(objs[is_text]))[:3]} (e.g. at "
                        f"{format_rows(index[is_text])}): give every value as a number, or "
                        "every value as text")
    marker = np.array([str(v).strip().lower() in MISSING_CODES for v in objs])
    numeric = reads_as_number(s) & ~marker
    if marker.any() and numeric.any() and (numeric | marker).all():
        raise DataError(f"covariate {col!r} holds number codes with the missing-value code "
                        f"{sorted(set(map(str, objs[marker])))[:3]} at "
                        f"{format_rows(index[marker])}: as text it would become a level of "
                        "its own. Mark missing values as NaN (then impute or remove those "
                        "rows)")
