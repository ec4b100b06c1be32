"""The inputs of :func:`bayes_hte.comparators.meta_regression`, validated.

The studies' estimates and variances (arrays, Series or an EffectTable), the moderators
(DataFrame, Series, mapping or array; matched to the studies by label or by position)
and the design. Every refusal is a :class:`~bayes_hte.DataError` naming the moderator,
and the rows by the user's own index labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayes_hte.comparators.univariate import _unpack_effects
from bayes_hte.data.checks import reads_as_number, real_values
from bayes_hte.errors import DataError, format_rows

#: Name of the intercept column, as metafor names it.
INTERCEPT = "intrcpt"
#: Columns whose scaled singular values fall below this share of the largest are
#: (numerically) linear combinations of the others.
RANK_TOL = 1e-10


def real_matrix(values: pd.DataFrame | np.ndarray, what: str, *,
                columns: Sequence[str]) -> np.ndarray:
    """A (n, m) matrix of finite numbers; True / False read as 1 / 0 (indicator coding).

    Parameters
    ----------
    values : DataFrame or array_like of shape (n, m)
        The moderator values (a DataFrame's index labels name its rows in messages).
    what : str
        The argument's name, for messages (``"mods"``, ``"newmods"``).
    columns : sequence of str
        The moderators' names.

    Returns
    -------
    ndarray of float, shape (n, m)

    Raises
    ------
    DataError
        A missing value, or an entry that is not a number (text, dates), naming the
        moderator and the rows.
    """
    index = values.index if isinstance(values, pd.DataFrame) else None
    frame = pd.DataFrame(values) if index is not None else pd.DataFrame(
        np.asarray(values, dtype=object).reshape(len(values), -1))
    out = np.empty(frame.shape)
    for j in range(frame.shape[1]):
        col = frame.iloc[:, j]
        if pd.api.types.is_bool_dtype(col.dtype):  # pandas.get_dummies' default dtype
            col = col.astype(float)
        elif col.dtype == object and col.dropna().map(
                lambda v: isinstance(v, bool | np.bool_)).all() and col.notna().any():
            col = col.map(lambda v: np.nan if pd.isna(v) else float(v))
        arr, bad = real_values(col)
        name = columns[j] if j < len(columns) else f"column {j}"
        rows = index if index is not None else pd.RangeIndex(len(arr))
        if bad.any():
            value = col.iloc[int(np.flatnonzero(bad)[0])]
            raise DataError(f"{what}: moderator {name!r} is not a number at "
                            f"{format_rows(rows[bad])} (value {value!r})")
        missing = ~np.isfinite(arr)
        if missing.any():
            raise DataError(f"{what}: moderator {name!r} is missing (or infinite) at "
                            f"{format_rows(rows[missing])}; a meta-regression needs every "
                            "study's value (drop those studies first)")
        out[:, j] = arr
    return out


def _as_frame(mods: object, k: int) -> pd.DataFrame:
    """The moderators as a DataFrame (names from columns, Series name or mapping keys)."""
    if isinstance(mods, str):
        raise DataError(f"mods={mods!r}: formulas and column names are not read; pass the "
                        "moderators' values, e.g. mods=df[['ablat', 'year']]")
    if isinstance(mods, pd.Series):
        return mods.to_frame(name=mods.name if mods.name is not None else "mods")
    if isinstance(mods, Mapping) and not isinstance(mods, pd.DataFrame):
        scalar = [str(n) for n, v in mods.items() if np.ndim(v) == 0]
        if scalar:
            raise DataError(f"mods: moderator {scalar[0]!r} is one value; give one value "
                            f"per study ({k})")
        return pd.DataFrame({str(n): list(v) if not isinstance(v, pd.Series) else v
                             for n, v in mods.items()})
    if isinstance(mods, pd.DataFrame):
        return mods
    arr = np.asarray(mods)
    if arr.ndim == 1 and len(arr) != k and arr.size and all(isinstance(v, str) for v in
                                                            arr.tolist()):
        raise DataError(f"mods={arr.tolist()[:3]!r}... holds names, not values: pass the "
                        "moderators' values, e.g. mods=df[['ablat']]")
    if arr.ndim == 1:
        return pd.DataFrame({"mods": list(arr)})
    if arr.ndim != 2:
        raise DataError(f"mods must be 1-D or 2-D (studies x moderators), got {arr.ndim}-D")
    return pd.DataFrame(arr.tolist(), columns=[f"mods{j + 1}" for j in range(arr.shape[1])])


def mods_matrix(mods: object, labels: tuple[str, ...], named: bool, *,
                intercept: bool = True) -> tuple[np.ndarray, list[str]]:
    """Moderators as a (K, m) matrix with their names, aligned to the studies.

    A DataFrame or Series indexed 0..K-1 is read by position; any other index must hold
    every study's label (rows matched by label; rows of other studies, e.g. one dropped
    as a double zero, are left out), and without study labels it is refused rather than
    read by position.
    """
    frame = _as_frame(mods, len(labels))
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"mods: column {dup[0]!r} appears "
                        f"{int((frame.columns == dup[0]).sum())} times")
    names = [str(c) for c in frame.columns]
    if INTERCEPT in names:
        raise DataError(f"mods: {INTERCEPT!r} is the intercept's name; the intercept is "
                        "added for you (intercept=False to leave it out)")
    by_label = not frame.index.equals(pd.RangeIndex(len(frame)))
    if len(frame) != len(labels) and not (by_label and named):  # by label: below
        raise DataError(f"mods has {len(frame)} rows for {len(labels)} studies")
    if by_label:
        index = [str(i) for i in frame.index]
        if not named:
            raise DataError(f"mods is indexed by {index[:3]}..., but the studies have no "
                            "labels to match it to: give labels= (or an EffectTable, or "
                            "yi as a Series indexed by study), or reset the index "
                            "(mods.reset_index(drop=True)) to pair the rows by position")
        if len(set(index)) != len(index):
            dup = sorted({i for i in index if index.count(i) > 1})
            raise DataError(f"mods has several rows for the studies {dup[:5]}; give one row "
                            "per study")
        missing = [lab for lab in labels if lab not in set(index)]
        if missing:
            unknown = [i for i in index if i not in set(labels)]
            raise DataError(f"mods has no row for the studies {missing[:5]} (its index "
                            f"holds {unknown[:5]} instead); index it by the study labels, "
                            "or reset its index to align by position")
        frame = frame.set_axis(index).loc[list(labels)]
    frame, names = _factors(frame, intercept=intercept)
    return real_matrix(frame, "mods", columns=names), names


def _factors(frame: pd.DataFrame, *, intercept: bool = True
             ) -> tuple[pd.DataFrame, list[str]]:
    """Text and category moderators coded as indicators (R's ``factor()`` contrasts).

    Each level but the first (a category's first level present in the data, else the
    first in R's case-insensitive sorted order) becomes a 0/1 column ``"name[level]"``;
    without an intercept the first factor keeps every level (R's ``~ factor(x) - 1``).
    A text column whose values read as numbers (all, or most of them: a typo or a
    missing-value code) is refused instead, naming the values that do not, and so is a
    factor with a single level.
    """
    parts, names = [], []
    full = not intercept  # the first factor of a model without intercept: all levels
    for col in frame.columns:
        s = frame[col]
        is_cat = isinstance(s.dtype, pd.CategoricalDtype)
        text = is_cat or pd.api.types.is_string_dtype(s.dtype) and \
            s.map(lambda v: isinstance(v, str)).any()
        if not text:  # numbers, bools, or objects that real_matrix names
            parts.append(s.rename(str(col)))
            names.append(str(col))
            continue
        if s.isna().any():
            raise DataError(f"mods: moderator {str(col)!r} is missing at "
                            f"{format_rows(s.index[s.isna().to_numpy()])}; a meta-regression "
                            "needs every study's value (drop those studies first)")
        if not is_cat:
            numeric = reads_as_number(s)
            if numeric.all():
                raise DataError(f"mods: moderator {str(col)!r} holds numbers as text (e.g. "
                                f"{s.iloc[0]!r}); convert it (pandas.to_numeric), or make it "
                                "a pandas category to code it as a factor")
            if numeric.mean() >= 0.5:
                bad = ~numeric
                shown = ", ".join(repr(v) for v in pd.unique(s[bad])[:3])
                raise DataError(f"mods: moderator {str(col)!r} is text, but {int(numeric.sum())}"
                                f" of {len(s)} values read as numbers; {shown} at "
                                f"{format_rows(s.index[bad])} do not (a typo or a "
                                "missing-value code?)")
        present = set(pd.unique(s))
        levels = ([c for c in s.cat.categories if c in present] if is_cat else
                  sorted(present, key=lambda v: (str(v).casefold(), str(v))))
        if len(levels) < 2:
            raise DataError(f"mods: moderator {str(col)!r} has one level ({levels[0]!r}) in "
                            "these studies: a factor needs two or more (drop it)")
        for level in levels if full else levels[1:]:
            name = f"{col}[{level}]"
            parts.append((s == level).astype(float).rename(name))
            names.append(name)
        full = False
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"mods: the coefficient name {dup[0]!r} is given twice (a column "
                        "and a level of a text moderator); rename the column")
    return pd.concat(parts, axis=1) if parts else frame.iloc[:, :0], names


def check_rank(X: np.ndarray, names: Sequence[str]) -> None:
    """The design's columns are linearly independent, also numerically, in every replicate.

    Raises
    ------
    DataError
        Naming the first column that is (nearly) a linear combination of those before it.
    """
    for r in range(X.shape[2]):
        Xr = X[:, :, r]
        norms = np.linalg.norm(Xr, axis=0)
        scaled = Xr / np.where(norms > 0, norms, 1.0)
        for j in range(1, Xr.shape[1] + 1):
            sv = np.linalg.svd(scaled[:, :j], compute_uv=False)
            if norms[j - 1] == 0 or sv[-1] < RANK_TOL * sv[0]:
                raise DataError(f"the design is rank-deficient: {names[j - 1]!r} is (nearly) "
                                f"a linear combination of {list(names[:j - 1])} (or "
                                "constant); drop it or recode the moderators")


def design_inputs(yi, vi, X, mods, intercept: bool, labels):
    """Estimates (K, R), variances, design (K, p, R), names, labels, measure, scale,
    whether there is an intercept, and whether the input was one analysis (1-D)."""
    if isinstance(yi, pd.Series) and labels is None and \
            not yi.index.equals(pd.RangeIndex(len(yi))):
        labels = [str(i) for i in yi.index]
    yi, vi, labels, measure, scale = _unpack_effects(yi, vi, labels)
    y = np.array(yi, dtype=float, copy=True)
    v = np.array(vi, dtype=float, copy=True)
    single = y.ndim == 1
    if single:
        y, v = y[:, None], v[:, None]
    if y.ndim != 2 or v.shape != y.shape:
        raise DataError(f"yi and vi must both have shape (K,) or (K, R); got {y.shape} and "
                        f"{v.shape}")
    K, R = y.shape
    named = labels is not None
    labels = tuple(map(str, labels)) if named else tuple(str(i + 1) for i in range(K))
    if len(labels) != K:
        raise DataError(f"{len(labels)} labels for {K} studies")
    if X is not None and mods is not None:
        raise DataError("give either X (the full design, intercept column included) or "
                        "mods (the moderators; the intercept is added), not both")
    if X is not None:
        names = ([str(c) for c in X.columns] if isinstance(X, pd.DataFrame)
                 else [f"X{j + 1}" for j in range(np.shape(X)[1] if np.ndim(X) > 1 else 0)])
        if np.ndim(X) == 2:  # numbers only, named by column
            X = real_matrix(X if isinstance(X, pd.DataFrame) else np.asarray(X), "X",
                            columns=names)
        X = np.array(X, dtype=float, copy=True)
        if X.ndim == 3 and not np.isfinite(X).all():
            raise DataError("X holds values that are missing or not finite")
        if X.ndim == 1:
            raise DataError("X must be 2-D (studies x coefficients) with its intercept "
                            "column; for one moderator pass mods=x instead, which adds "
                            "the intercept")
        if X.ndim == 2:
            X = np.broadcast_to(X[:, :, None], (*X.shape, R)).copy()
        has_intercept = bool(np.all(X[:, 0, :] == 1.0))
        if has_intercept and names[0] == "X1":
            names[0] = INTERCEPT
    else:
        m, names = (np.empty((K, 0)), []) if mods is None else mods_matrix(
            mods, labels, named, intercept=intercept)
        if intercept:
            m, names = np.column_stack([np.ones(K), m]), [INTERCEPT, *names]
        if not names:
            raise DataError("no coefficients: give mods, or keep intercept=True")
        X = np.broadcast_to(m[:, :, None], (*m.shape, R)).copy()
        has_intercept = intercept
    Kx, p, Rx = X.shape
    if y.shape != (Kx, Rx):
        raise DataError(f"yi and vi must have shape ({Kx}, {Rx}) to match X")
    bad_v = ~(np.isfinite(v) & (v > 0)).all(axis=1)
    bad_y = ~np.isfinite(y).all(axis=1)
    if bad_v.any() or bad_y.any():
        which = [labels[i] for i in np.flatnonzero(bad_v | bad_y)]
        raise DataError(f"meta-regression needs finite estimates and positive variances; "
                        f"studies {which[:5]} have "
                        + ("a variance that is not a positive number" if bad_v.any()
                           else "an estimate that is not finite"))
    if Kx <= p:
        raise DataError(f"meta-regression with {p} coefficients needs more than {p} studies, "
                        f"has {Kx}")
    check_rank(X, names)
    return y, v, X, names, labels, measure, scale, has_intercept, single
