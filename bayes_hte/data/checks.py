"""Validation shared by the data containers (:mod:`bayes_hte.data`).

Every check raises :class:`bayes_hte.errors.DataError` with a message that names the
column and its role (``"treatment column 'treat'"``) and, where rows are at fault, the
offending rows of the frame (:func:`bayes_hte.errors.format_rows`). The containers
(:class:`~bayes_hte.data.IPDData`, :class:`~bayes_hte.data.LongitudinalData`, the
aggregate tables) call these functions so that one kind of bad input gives one message
whichever container reads it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_hte.data.covariate_text import (  # noqa: F401 (their home before)
    MAX_NUMERIC_CODES,
    check_text_covariate,
    reads_as_number,
)
from bayes_hte.data.numbers import real_values
from bayes_hte.errors import DataError, format_rows

__all__ = [
    "MAX_COUNT",
    "CovariateEncoding",
    "binary_column",
    "check_both_arms",
    "check_centred",
    "check_columns",
    "check_finite",
    "check_frame",
    "check_missing",
    "check_roles",
    "check_text_covariate",
    "check_unique_column",
    "count_column",
    "encode_covariates",
    "is_categorical",
    "label_levels",
    "levels_of",
    "name_studies",
    "real_column",
    "real_values",
    "refuse_text_counts",
]


def check_frame(df: object) -> None:
    """Check that ``df`` is a non-empty data frame.

    Parameters
    ----------
    df : object
        What the user passed as data.

    Raises
    ------
    DataError
        ``df`` is not a :class:`pandas.DataFrame`, or has no rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if df.shape[0] == 0:
        raise DataError("the data frame has no rows")


def check_columns(df: pd.DataFrame, names: Mapping[str, str | None]) -> None:
    """Check that every named column is in the frame.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    names : mapping of str to str or None
        Role (used in the message, e.g. ``"outcome"``) to column name; ``None`` columns
        (an optional role left out) are skipped.

    Raises
    ------
    DataError
        A name is not a column label (e.g. a list), or a column is not in ``df``; the
        message lists the available columns.
    """
    for role, col in names.items():
        if col is not None and not isinstance(col, Hashable):
            raise DataError(f"{role} column must be one column name, got {col!r}")
        if col is not None and col not in df.columns:
            raise DataError(
                f"{role} column {col!r} is not in the data frame; "
                f"available columns: {list(map(str, df.columns))}"
            )
        if col is not None:
            check_unique_column(df, col, role)


def check_unique_column(df: pd.DataFrame, col: Hashable, role: str) -> None:
    """Check that a column label occurs once in the frame.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    col : hashable
        A column label of ``df``.
    role : str
        Its role, for the message.

    Raises
    ------
    DataError
        ``col`` labels two or more columns of ``df`` (e.g. after ``pd.concat`` along
        the columns), so which one is meant is ambiguous.
    """
    times = int((df.columns == col).sum())
    if times > 1:
        raise DataError(
            f"{role} column {col!r} appears {times} times in the data frame; keep one "
            "(e.g. df.loc[:, ~df.columns.duplicated()]) or rename the others"
        )


def check_roles(roles: Mapping[str, str | None], covariates: Sequence[str]) -> None:
    """Check that every column has one role only.

    Parameters
    ----------
    roles : mapping of str to str or None
        Role (``"outcome"``, ``"treatment"``, ``"study"``, ...) to column name; ``None``
        marks a role left out.
    covariates : sequence of str
        Covariate columns.

    Raises
    ------
    DataError
        Two roles name the same column, a covariate is also used in another role, or a
        covariate is listed twice.
    """
    used = {k: v for k, v in roles.items() if v is not None}
    if len(set(used.values())) != len(used):
        raise DataError(f"{'/'.join(roles)} columns must differ, got {used}")
    for c in covariates:
        if c in used.values():
            raise DataError(f"column {c!r} is used both as a covariate and as "
                            f"{'/'.join(roles)}; a column can have one role only")
    if len(set(covariates)) != len(covariates):
        raise DataError(f"covariates {list(covariates)} contain duplicates")


def check_missing(df: pd.DataFrame, col: str, role: str, *,
                  advice: str = "impute or remove these rows before building the data "
                                "container") -> None:
    """Check that a column has no missing values.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    col : str
        Column to check.
    role : str
        Its role, for the message (``"study"``, ``"covariate"``, ...).
    advice : str
        What to do, ending the message.

    Raises
    ------
    DataError
        ``df[col]`` has missing values; the message names the rows.
    """
    missing = df[col].isna()
    if missing.any():
        raise DataError(
            f"{role} column {col!r} has missing values at {format_rows(df.index[missing])}; "
            f"{advice}"
        )


def check_finite(df: pd.DataFrame, values: np.ndarray, what: str) -> None:
    """Check that values read from the rows of ``df`` are finite.

    Parameters
    ----------
    df : pandas.DataFrame
        The frame the values come from (its index names the rows in the message).
    values : ndarray of float, shape (len(df),)
        The values, one per row.
    what : str
        What they are, for the message (``"covariate 'age'"``, ``"outcome column 'y'"``).

    Raises
    ------
    DataError
        A value is NaN or infinite; the message names the rows.
    """
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what} has non-finite values at {format_rows(df.index[bad])}")


def real_column(df: pd.DataFrame, col: str, role: str, *,
                allow_bool: bool = False) -> np.ndarray:
    """A column of real numbers as floats (missing values as NaN).

    Numeric dtypes (nullable ones included) are read as they are; an ``object`` column
    is accepted when every entry is a real number or missing. Nothing is coerced.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    col : str
        The column.
    role : str
        Its role, for the message (``"time"``, ``"covariate"``, ``"yi"``, ...).
    allow_bool : bool
        Accept a bool column (read as 0.0 / 1.0), e.g. a binary covariate.

    Returns
    -------
    ndarray of float64, shape (len(df),)
        The values; NaN where missing (not checked here).

    Raises
    ------
    DataError
        A text, categorical, date or complex column, a bool column (unless
        ``allow_bool``), or an ``object`` column with entries that are not numbers
        (the message names the rows).
    """
    s = df[col]
    if pd.api.types.is_bool_dtype(s) and allow_bool:
        return s.to_numpy(dtype=float, na_value=np.nan)
    if s.dtype == object:
        arr, bad = real_values(s)
        if not bad.any():
            return arr
        raise DataError(
            f"{role} column {col!r} must be numeric (real numbers), but has "
            f"{sorted(map(repr, set(s[bad].tolist())), key=str)[:5]} at "
            f"{format_rows(df.index[bad])}; nothing is converted: fix these values")
    if (not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_complex_dtype(s)):
        raise DataError(f"{role} column {col!r} must be numeric (real numbers), but has dtype "
                        f"{s.dtype}; nothing is converted: recode it as numbers")
    return s.to_numpy(dtype=float, na_value=np.nan)


def check_centred(X: np.ndarray, names: Sequence[str]) -> None:
    """Check that centring left the covariate matrix finite.

    Covariates near the largest float (about 1e308) pass :func:`check_finite` but their
    sum, hence their mean, overflows; centring then turns them into ``inf`` / NaN.

    Parameters
    ----------
    X : ndarray of float, shape (n, p)
        The centred covariate matrix.
    names : sequence of str, length p
        Its column names, for the message.

    Raises
    ------
    DataError
        A column of ``X`` has a non-finite value; the message names the covariates.
    """
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        raise DataError(f"covariates {[names[k] for k in np.flatnonzero(bad)]} are too large "
                        "to centre (their mean overflows); rescale them, e.g. to other units")


def binary_column(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    """Validate a 0/1 column (bool allowed) and return it as integers.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    col : str
        The column (an outcome, event indicator or treatment).
    role : str
        Its role, for the message.

    Returns
    -------
    ndarray of int8, shape (len(df),)
        The column coded 0/1. Nothing is coerced: strings such as ``"yes"`` or values
        such as 2 are errors.

    Raises
    ------
    DataError
        Missing values, a non-numeric non-bool dtype, or values other than 0 and 1.
    """
    s = df[col]
    check_missing(df, col, role)
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.int8)
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_complex_dtype(s):
        kinds = sorted({type(v).__name__ for v in s.unique()})  # ['bool'] held as objects
        hint = " (.astype(int) for bools held as objects)" if kinds == ["bool"] else ""
        raise DataError(
            f"{role} column {col!r} must be coded 0/1 (or bool) but has dtype {s.dtype} "
            f"holding {'/'.join(kinds)} values {', '.join(sorted(map(repr, s.unique()))[:5])}; "
            f"recode it as 0/1{hint}"
        )
    bad = ~s.isin([0, 1])
    if bad.any():
        vals = sorted(set(s[bad].tolist()))[:5]
        raise DataError(
            f"{role} column {col!r} must be 0/1 but has values {vals} at "
            f"{format_rows(df.index[bad])}"
        )
    return s.to_numpy().astype(np.int8)


def is_categorical(s: pd.Series) -> bool:
    """Whether a column is categorical (neither numeric nor bool).

    Parameters
    ----------
    s : pandas.Series
        A column.

    Returns
    -------
    bool
        ``True`` for strings, objects and ``category`` columns: they are expanded to
        indicator columns by :func:`encode_covariates`.
    """
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def levels_of(s: pd.Series) -> list:
    """The levels of a categorical column, in a reproducible order.

    Parameters
    ----------
    s : pandas.Series
        A categorical column (or study labels of any type).

    Returns
    -------
    list
        The categories of a ``category`` column in their declared order (unused ones
        included); otherwise the distinct values sorted as text. The first level is the
        reference of the indicator coding.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    return sorted(s.unique().tolist(), key=str)


def label_levels(df: pd.DataFrame, col: str, role: str) -> list:
    """Validate a column of labels (study, participant, visit) and return its levels.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    col : str
        The label column.
    role : str
        Its role, for the message (``"study"``, ``"subject"``, ...).

    Returns
    -------
    list
        The labels present in ``df``, in the order of :func:`levels_of` (a declared
        category that no row has is left out).

    Raises
    ------
    DataError
        Missing labels, or two different labels written alike (``1`` and ``"1"``) or
        taken as one label although written differently (``1`` and ``True``): they
        would be merged or confused in messages, tables and saved results.
    """
    check_missing(df, col, role)
    s = df[col]
    _check_label_text(df, col, role)
    levels = [v for v in levels_of(s) if (s == v).any()]
    if s.dtype == object:
        pair = pd.DataFrame({"label": pd.factorize(s)[0],
                             "text": pd.factorize(s.map(str).to_numpy())[0]})
        bad = ((pair.groupby("label")["text"].transform("nunique") > 1)
               | (pair.groupby("text")["label"].transform("nunique") > 1)).to_numpy()
        if bad.any():
            raise DataError(
                f"{role} column {col!r} mixes labels of different types that read alike "
                f"({', '.join(sorted({repr(v) for v in s[bad]}))}) at "
                f"{format_rows(df.index[bad])}; give each {role} one label of one type")
    return levels


def space_clashes(labels: Sequence[str]) -> list[list[str]]:
    """Groups of distinct labels that differ only by surrounding spaces (``"A"``,
    ``"A "``): a stray space in a spreadsheet would make them two studies.

    Parameters
    ----------
    labels : sequence of str
        The labels (repeats allowed: one per row).

    Returns
    -------
    list of list of str
        Each group's spellings in order of first appearance; empty when there is none.
    """
    spellings: dict[str, list[str]] = {}
    for label in labels:
        group = spellings.setdefault(label.strip(), [])
        if label not in group:
            group.append(label)
    return [g for g in spellings.values() if len(g) > 1]


def _check_label_text(df: pd.DataFrame, col: str, role: str) -> None:
    """Text labels are not blank, and no two differ only by spaces ("A" and "A ", a
    stray space in a spreadsheet, would be two studies), as for the aggregate tables."""
    values = pd.Series(df[col].to_numpy(dtype=object), index=df.index)
    text = values[values.map(lambda v: isinstance(v, str))]
    if text.empty:
        return
    stripped = text.map(str.strip)
    blank = stripped == ""
    if blank.any():
        raise DataError(f"{role} column {col!r} has empty labels at "
                        f"{format_rows(text.index[blank.to_numpy()])}; give every row its "
                        f"{role}'s label")
    clash = space_clashes(list(text))
    if clash:
        rows = text.index[text.isin(clash[0]).to_numpy()]
        raise DataError(f"{role} column {col!r} has labels that differ only by spaces "
                        f"({', '.join(repr(v) for v in clash[0])}, at {format_rows(rows)}): "
                        f"they would count as different {role} labels. Strip the spaces (or name "
                        "them apart)")


def check_both_arms(z: np.ndarray, study_idx: np.ndarray, study_labels: Sequence, *,
                    treatment: str, single_trial: bool, unit: str = "patients") -> None:
    """Check that every trial has treated and control units.

    Parameters
    ----------
    z : ndarray of int, shape (n,)
        Treatment indicator (0/1) per row.
    study_idx : ndarray of int, shape (n,)
        Trial of each row, as an index into ``study_labels``.
    study_labels : sequence
        Trial labels.
    treatment : str
        Treatment column name, for the message.
    single_trial : bool
        The data have no study column (the message then says "the trial").
    unit : str
        What a row's unit is called in the message (``"patients"``, ``"participants"``).

    Raises
    ------
    DataError
        A trial has only treated or only control units.
    """
    for j, lab in enumerate(study_labels):
        arms = set(z[study_idx == j].tolist())
        if arms != {0, 1}:
            only = "treated" if arms == {1} else "control"
            where = "the trial" if single_trial else f"study {lab!r}"
            raise DataError(
                f"{where} has only {only} {unit} (treatment column {treatment!r}); "
                "every trial needs both arms for a treatment-effect analysis"
            )


@dataclass(frozen=True, eq=False)
class CovariateEncoding:
    """Covariates encoded as a numeric matrix (the result of :func:`encode_covariates`).

    The fields below are also its (read-only) attributes.

    Parameters
    ----------
    X : ndarray of float, shape (n, p)
        Numeric covariates as they are; each categorical covariate as indicator columns
        of its levels but the first (the reference).
    names : tuple of str
        Column names of ``X``: the covariate name, or ``"col[level]"`` for an indicator.
    levels : dict of str to list
        Levels of each categorical covariate.
    values : dict of str to ndarray of float, shape (n,)
        Per covariate one number per row: the value (numeric covariates) or the level's
        index (categorical covariates); used to check that a covariate is constant
        within a unit.
    """

    X: np.ndarray
    names: tuple[str, ...]
    levels: dict[str, list] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)


def encode_covariates(df: pd.DataFrame, covariates: Sequence[str], *,
                      levels: Mapping[str, list] | None = None,
                      allow_constant: bool = False) -> CovariateEncoding:
    """Validate covariate columns and encode them as a numeric matrix.

    Numeric and bool columns are used as they are; other columns (strings,
    categoricals) are expanded to 0/1 indicators against their first level: the
    levels present in ``df`` in the order of :func:`levels_of` (a declared category
    that no row has is left out), or the levels given.

    Parameters
    ----------
    df : pandas.DataFrame
        The data, n rows.
    covariates : sequence of str
        Covariate columns (checked to exist beforehand).
    levels : mapping of str to list, optional
        Fixed levels per categorical covariate, so that subsets and new data are
        encoded like the data a model was fitted on.
    allow_constant : bool
        Accept constant covariates (a subset such as one held-out trial).

    Returns
    -------
    CovariateEncoding
        ``X`` of shape (n, p), its column names, the levels used and the values per
        covariate.

    Raises
    ------
    DataError
        Missing, non-finite, complex or non-numeric (in an ``object`` column) values, a
        level not in ``levels``, ``levels`` for a column that is not a covariate, or a
        constant covariate (unless ``allow_constant``).
    """
    levels = dict(levels or {})
    stray = sorted(str(c) for c in levels if c not in covariates)
    if stray:  # a misspelt name would otherwise be ignored without a word
        raise DataError(f"levels are given for {stray}, which are not covariates "
                        f"{list(covariates)}")
    cols: list[np.ndarray] = []
    names: list[str] = []
    values: dict[str, np.ndarray] = {}
    for c in covariates:
        s = df[c]
        check_missing(df, c, "covariate")
        if is_categorical(s) and c not in levels:
            check_text_covariate(df, c)
        if is_categorical(s):
            # a declared category that no row has would be an all-zero indicator (or,
            # as the reference, make the indicators sum to 1): only levels present count
            lv = levels.get(c) or [v for v in levels_of(s) if (s == v).any()]
            unknown = ~s.isin(lv)
            if unknown.any():
                raise DataError(
                    f"covariate {c!r} has levels {sorted(map(str, s[unknown].unique()))} "
                    f"at {format_rows(df.index[unknown])} that the model does not "
                    f"know (known levels: {lv})"
                )
            if len(lv) < 2 and not allow_constant:
                raise DataError(f"covariate {c!r} is constant (single level {lv[0]!r}); "
                                "remove it from the covariates")
            levels[c] = lv
            values[c] = s.map({v: i for i, v in enumerate(lv)}).to_numpy(dtype=float)
            for level in lv[1:]:
                cols.append((s == level).to_numpy(dtype=float))
                names.append(f"{c}[{level}]")
        else:
            if c in levels:  # levels of a numeric column would be ignored without a word
                raise DataError(f"levels are given for covariate {c!r}, which is numeric; "
                                "make it a pandas category (or text) to use levels")
            v = real_column(df, c, "covariate", allow_bool=True)
            check_finite(df, v, f"covariate {c!r}")
            if v.min() == v.max() and not allow_constant:
                raise DataError(f"covariate {c!r} is constant (every value is {v[0]:g}); "
                                "remove it from the covariates")
            values[c] = v
            cols.append(v)
            names.append(str(c))
    X = np.column_stack(cols) if cols else np.zeros((len(df), 0))
    if not allow_constant:
        check_collinear(X, names)
    return CovariateEncoding(X=X, names=tuple(names), levels=levels, values=values)


def check_collinear(X: np.ndarray, names: Sequence[str]) -> None:
    """Refuse a design whose columns, with an intercept, are linearly dependent (``age``
    and ``2 * age``, or a categorical's indicators and a column equal to one of them):
    their coefficients are not identified, and the sampler would wander along the ridge.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        The encoded covariates.
    names : sequence of str
        Their column names.

    Raises
    ------
    DataError
        Naming the first column that is (to a relative 1e-9) a linear combination of the
        intercept and the columns before it.
    """
    if X.shape[1] == 0:
        return
    Z = np.column_stack([np.ones(len(X)), X])
    Z = Z / np.maximum(np.abs(Z).max(axis=0), np.finfo(float).tiny)  # no overflow below
    Z = Z / np.maximum(np.linalg.norm(Z, axis=0), np.finfo(float).tiny)  # unit columns
    r = np.abs(np.diag(np.linalg.qr(Z, mode="r")))
    dependent = np.flatnonzero(r < 1e-9)
    if dependent.size:
        j = int(dependent[0]) - 1  # column of X (0: the intercept cannot be)
        raise DataError(f"covariate column {names[j]!r} is a linear combination of the "
                        f"intercept and {list(names[:j])} (collinear): their coefficients "
                        "are not identified. Leave one of them out")


#: Largest count accepted: 2**53, beyond which floats do not hold every whole number.
MAX_COUNT = float(2**53)


def name_studies(labels: Sequence, mask: np.ndarray, limit: int = 5) -> str:
    """The studies where ``mask`` is true, by label, for a message.

    Parameters
    ----------
    labels : sequence
        Study labels, one per study.
    mask : ndarray of bool, shape (len(labels),)
        The studies at fault.
    limit : int
        Labels written out; the rest are counted.

    Returns
    -------
    str
        ``"study 'A'"`` or ``"studies 'A', 'B' (and 3 more)"``.
    """
    bad = [labels[i] for i in np.flatnonzero(mask)]
    more = f" (and {len(bad) - limit} more)" if len(bad) > limit else ""
    word = "study" if len(bad) == 1 else "studies"
    return f"{word} {', '.join(map(repr, bad[:limit]))}{more}"


def count_column(values: object, column: str, role: str,
                 labels: Sequence[str] | None) -> np.ndarray:
    """Validate one column of counts of patients: numbers, finite, >= 0, whole, at most
    :data:`MAX_COUNT`.

    Parameters
    ----------
    values : array_like, shape (K,)
        The counts, one per study.
    column : str
        The user's column name, for the messages.
    role : str
        What it holds (e.g. ``"treated events"``), for the messages.
    labels : sequence of str, optional
        Study labels naming the studies at fault (default ``"1"``, ``"2"``, ...).

    Returns
    -------
    ndarray of float64, shape (K,)
        A copy of the counts.

    Raises
    ------
    DataError
        Not one-dimensional, a length other than ``labels``', text, missing or
        non-finite, negative, non-integer or too large counts (the studies named).
    """
    arr, not_number = real_values(values)
    if arr.ndim != 1:
        raise DataError(f"column {column!r} ({role}) must be one-dimensional (one count per "
                        f"study), got shape {arr.shape}")
    labs = labels if labels is not None else [str(i + 1) for i in range(arr.size)]
    if len(labs) != arr.size:
        raise DataError(f"column {column!r} ({role}) has {arr.size} counts but n11 has "
                        f"{len(labs)}; give one count per study in every column")
    if not_number.any():
        shown = sorted({repr(v) for v in np.array(values, dtype=object)[not_number]})[:5]
        raise DataError(f"column {column!r} ({role}) must hold numbers of patients, but has "
                        f"{', '.join(shown)} in {name_studies(labs, not_number)}; nothing "
                        "is converted: fix these counts")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(f"column {column!r} ({role}) is missing or not finite in "
                        f"{name_studies(labs, bad)}; fill in the counts or remove the study")
    bad = arr < 0
    if bad.any():
        raise DataError(f"column {column!r} ({role}) is negative in "
                        f"{name_studies(labs, bad)}; counts must be >= 0")
    bad = arr != np.round(arr)
    if bad.any():
        raise DataError(f"column {column!r} ({role}) has non-integer counts in "
                        f"{name_studies(labs, bad)}; give whole numbers of patients")
    bad = arr > MAX_COUNT
    if bad.any():
        raise DataError(f"column {column!r} ({role}) has counts above {MAX_COUNT:.0e} in "
                        f"{name_studies(labs, bad)}: beyond the whole numbers a float holds "
                        "exactly (2**53), and no trial has that many patients")
    return arr


def _parses_as_number(value: object) -> bool:
    """Whether ``float(value)`` would read ``value`` (e.g. the text ``"6"``)."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def refuse_text_counts(s: pd.Series, what: str, labels: Sequence[str]) -> None:
    """A count column must be a numeric column: text (even ``"4"``) is named with its
    study; other dtypes (booleans, categories, objects) are refused by dtype.

    Parameters
    ----------
    s : pandas.Series
        The column.
    what : str
        The column in words, for the message (e.g. ``"count column 'n11'"``).
    labels : sequence of str
        The study of each row, to name the first bad one.

    Raises
    ------
    DataError
        Text among the counts (naming a value and its study), or a dtype that is not
        numeric.
    """
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) or \
            s.isna().all():
        return
    _, bad = real_values(s)
    bad &= ~s.isna().to_numpy()
    if bad.any():
        # name an entry that is no number even as text ('nine'), the likely cause of a
        # column read from a file as text, before one that merely is text ('6')
        rows = np.flatnonzero(bad)
        first = next((int(i) for i in rows if not _parses_as_number(s.iloc[i])), int(rows[0]))
        raise DataError(f"{what} must be numeric: {s.iloc[first]!r} in study "
                        f"{labels[first]!r} is not a number ({int(bad.sum())} text entries "
                        "in the column); nothing is converted")
    raise DataError(f"{what} must be numeric, got dtype {s.dtype}; nothing is converted")
