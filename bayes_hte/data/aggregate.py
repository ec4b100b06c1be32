r"""Aggregate data of randomized trials: per-arm 2×2 counts and study effect sizes.

:class:`ArmTable` holds, for each study :math:`k`, the counts of Table 1 of Berenfeld et
al. (2026)

=========  ===============  ===============
           :math:`Y = 1`    :math:`Y = 0`
=========  ===============  ===============
A = 1      :math:`n_{11}`   :math:`n_{10}`
A = 0      :math:`n_{01}`   :math:`n_{00}`
=========  ===============  ===============

and computes effect sizes from them (:meth:`ArmTable.effects`, vectorised core
:func:`effect_sizes`), following R metafor's ``escalc``: with
:math:`p_1 = n_{11}/n_1`, :math:`p_0 = n_{01}/n_0`,

* ``"RD"``: :math:`y = p_1 - p_0`, :math:`v = p_1(1-p_1)/n_1 + p_0(1-p_0)/n_0`;
* ``"RR"``: :math:`y = \log(p_1/p_0)`, :math:`v = 1/n_{11} - 1/n_1 + 1/n_{01} - 1/n_0`;
* ``"OR"``: :math:`y = \log\frac{p_1/(1-p_1)}{p_0/(1-p_0)}`,
  :math:`v = 1/n_{11} + 1/n_{10} + 1/n_{01} + 1/n_{00}`,

after adding ``add`` (default 1/2) to every cell of the studies that have a zero cell
(``to="only0"``, metafor's default). A study with no events in either arm (or only
events in both) is kept for the RD, for which it is informative, and refused for the RR
and OR unless ``drop_double_zero`` says to drop it or to keep it corrected
(:meth:`ArmTable.effects`). :class:`EffectTable` holds effect sizes
:math:`(y_k, v_k)` directly, with optional subgroup and stratum columns.

Shared validator of aggregate inputs: :func:`check_weights` (convex study weights of a
causal meta-analysis). Study estimate vectors with their within-study covariances are
validated by :func:`bayes_hte.data.multivariate.validate_multivariate`.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from bayes_hte.data.checks import (
    check_columns,
    check_missing,
    check_unique_column,
    count_column,
    name_studies,
    real_column,
    real_values,
    refuse_text_counts,
    space_clashes,
)
from bayes_hte.data.escalc import continuity_mask, effect_sizes
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import MEASURES, ContinuityTo, EffectScale, Measure

#: Scale on which each measure's effect sizes ``yi`` live.
MEASURE_SCALE = {"RD": "identity", "RR": "log", "OR": "log"}
COUNT_COLUMNS: tuple[str, ...] = ("n11", "n10", "n01", "n00")
_CELL_ROLE = {"n11": "treated events", "n10": "treated non-events",
              "n01": "control events", "n00": "control non-events"}
#: Why a measure is undefined at a zero cell without continuity correction.
_UNDEFINED = {"RD": "the RD needs a risk strictly between 0 and 1 in at least one arm",
              "RR": "the RR needs events in both arms, its variance non-events in one",
              "OR": "the OR needs all four cells > 0"}


def _labels(labels, k: int, *, what: str = "study") -> tuple[str, ...]:
    if labels is None:
        return tuple(str(i + 1) for i in range(k))
    labels = tuple(str(s) for s in labels)
    if len(labels) != k:
        raise DataError(f"{len(labels)} {what} labels for {k} studies; give one label per study")
    seen: set[str] = set()
    dup = [s for s in labels if s in seen or seen.add(s)]
    if dup:
        raise DataError(f"{what} labels must be unique; repeated: {sorted(set(dup))[:5]}")
    # "A" and "A " (a stray space in a spreadsheet) would be two studies; "" none
    blank = [s for s in labels if not s.strip()]
    if blank:
        raise DataError(f"{what} labels must not be empty ({len(blank)} of {len(labels)} "
                        "are)")
    clash = space_clashes(labels)
    if clash:
        raise DataError(f"{what} labels differ only by spaces: {clash[:3]}; they would "
                        "count as different studies. Strip the spaces (or name them apart)")
    return labels


def _frame_labels(df: pd.DataFrame, study: str | None,
                  parts: Sequence[str | None] = ()) -> tuple[str, ...]:
    """Row labels of an aggregate frame as text: the study column, else the index.

    ``parts`` (subgroup / stratum columns) are appended as ``"study | part"``. Missing
    labels and repeated labels are errors naming the column.
    """
    if study is None:
        return _labels([str(i) for i in df.index], len(df), what="index (row)")
    cols = [study, *(p for p in parts if p is not None)]
    for col in cols:
        check_missing(df, col, "study" if col == study else "label")
    labels = df[study].astype(str)
    for col in cols[1:]:
        labels = labels + " | " + df[col].astype(str)
    with_parts = f" (with {', '.join(map(repr, cols[1:]))})" if cols[1:] else ""
    return _labels(labels.tolist(), len(df), what=f"study column {study!r}{with_parts}")


def _study_labels(df: pd.DataFrame, study: str | None) -> tuple[str, ...]:
    """Labels of a frame with one row per study: the column ``study``, else a column
    named ``"study"`` (which must be unique), else the index."""
    if study is None and "study" in df.columns:
        study = "study"
        check_unique_column(df, study, "study")
    return _frame_labels(df, study)


def _variance_from_se(se: np.ndarray, labels: Sequence[str], what: str) -> np.ndarray:
    """``se**2``, refusing standard errors whose square over- or underflows."""
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        vi = se**2
        bad = ~np.isfinite(vi) | ~np.isfinite(1 / vi)
    if bad.any():
        raise DataError(f"{what} is too large or too small in {name_studies(labels, bad)} "
                        f"(values {se[bad][:5].tolist()}): its square, the sampling variance, "
                        "overflows or its weight 1/se**2 is infinite; rescale the effect sizes")
    return vi


# ---------------------------------------------------------------------------- EffectTable
@dataclass(frozen=True, eq=False)
class EffectTable:
    r"""Study effect sizes :math:`y_k` with sampling variances :math:`v_k`.

    The input to :func:`bayes_hte.comparators.meta_analysis` and to the Bayesian
    normal–normal model :func:`bayes_hte.models.synthesis_univariate.build_meta_analysis_model`.
    Build it with :meth:`from_frame`, :meth:`from_arrays` or :meth:`ArmTable.effects`.
    The fields below are also its (read-only) attributes.

    Parameters
    ----------
    yi, vi : array_like of float, shape (k,)
        Effect sizes (on ``scale``) and sampling variances (:math:`v_k > 0`, squared
        units of ``yi``); stored as read-only float copies.
    labels : sequence of str or None
        Study labels (unique); ``None`` gives ``"1"`` ... ``"k"``. Stored as a tuple of
        str.
    measure : str or None
        ``"RD"``, ``"RR"``, ``"OR"`` when computed from counts, or a user label.
    scale : {"identity", "log"}
        Scale of ``yi``: ``"log"`` for RR and OR (``exp`` gives the natural scale).
    subgroup, stratum : array_like of str, shape (k,), optional
        Optional subgroup / stratum of each row (stored as ndarray of str).
    excluded : tuple of str
        Studies left out when the table was computed from counts (double-zero studies,
        only when asked with ``drop_double_zero=True``).
    corrected : tuple of str
        Studies whose counts received the continuity correction.

    Raises
    ------
    DataError
        ``yi`` and ``vi`` of different shapes or not one-dimensional, no study, a
        non-finite ``yi``, a ``vi`` that is not finite and > 0, an unknown ``scale``,
        wrong or repeated labels, a subgroup / stratum of the wrong length or missing.
    """

    yi: np.ndarray
    vi: np.ndarray
    labels: tuple[str, ...]
    measure: str | None = None
    scale: EffectScale = "identity"
    subgroup: np.ndarray | None = None
    stratum: np.ndarray | None = None
    excluded: tuple[str, ...] = ()
    corrected: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        yi, yi_text = real_values(self.yi)
        vi, vi_text = real_values(self.vi)
        if yi.ndim != 1 or vi.shape != yi.shape:
            raise DataError(f"yi and vi must be one-dimensional and of equal length, got "
                            f"shapes {yi.shape} and {vi.shape}")
        if yi.size == 0:
            raise DataError("the effect table has no studies")
        labels = _labels(self.labels, yi.size)
        for what, given, bad in (("effect size yi", self.yi, yi_text),
                                 ("sampling variance vi", self.vi, vi_text)):
            if bad.any():  # each value with its own study
                rows = np.flatnonzero(bad)
                values = np.array(given, dtype=object)
                shown = ", ".join(f"{values[i]!r} in study {labels[i]!r}" for i in rows[:5])
                more = f" and {rows.size - 5} more" if rows.size > 5 else ""
                raise DataError(f"{what} must hold numbers, but has {shown}{more}; nothing "
                                "is converted")
        bad = ~np.isfinite(yi)
        if bad.any():
            raise DataError(f"effect size yi is missing or not finite in "
                            f"{name_studies(labels, bad)}; fix or remove those studies")
        with np.errstate(divide="ignore", over="ignore"):
            bad = ~np.isfinite(vi) | (vi <= 0) | ~np.isfinite(1 / vi)
        if bad.any():
            why = ("a zero (or subnormal) variance would give the study infinite weight"
                   if np.all(np.isfinite(vi[bad]) & (vi[bad] >= 0)) else
                   "a variance is a squared standard error: check the column (vi, not se "
                   "or yi?) and fill in missing values")
            raise DataError(f"sampling variance vi must be finite and > 0, but is not in "
                            f"{name_studies(labels, bad)} (values {vi[bad][:5].tolist()}); "
                            f"{why}")
        if self.scale not in get_args(EffectScale):
            raise DataError(f"scale must be 'identity' or 'log', got {self.scale!r}")
        for name in ("subgroup", "stratum"):
            val = getattr(self, name)
            if val is not None:
                arr = np.array(val, dtype=object, copy=True)
                if arr.shape != yi.shape:
                    raise DataError(f"{name} must have one entry per study ({yi.size}), "
                                    f"got shape {arr.shape}")
                if pd.isna(arr).any():
                    raise DataError(f"{name} is missing in "
                                    f"{name_studies(labels, pd.isna(arr))}")
                object.__setattr__(self, name, arr.astype(str))
        object.__setattr__(self, "yi", yi)
        object.__setattr__(self, "vi", vi)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "excluded", tuple(map(str, self.excluded)))
        object.__setattr__(self, "corrected", tuple(map(str, self.corrected)))
        yi.flags.writeable = False
        vi.flags.writeable = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, yi: npt.ArrayLike, vi: npt.ArrayLike | None = None, *,
                    se: npt.ArrayLike | None = None, labels: Sequence | None = None,
                    measure: str | None = None,
                    scale: EffectScale = "identity") -> EffectTable:
        """Effect sizes from arrays; give exactly one of ``vi`` (variances) or ``se``.

        Parameters
        ----------
        yi : array_like of float, shape (k,)
            Study effect sizes, on ``scale``.
        vi : array_like of float, shape (k,), optional
            Sampling variances (> 0, squared units of ``yi``).
        se : array_like of float, shape (k,), optional
            Standard errors (> 0, units of ``yi``); ``vi = se**2``.
        labels : sequence, optional
            Study labels (unique); default ``"1"`` ... ``"k"``.
        measure : str, optional
            Name of the effect measure (``"RD"``, ``"RR"``, ``"OR"`` or a user label).
        scale : {"identity", "log"}
            Scale of ``yi``: ``"log"`` for ratio measures.

        Returns
        -------
        EffectTable

        Raises
        ------
        DataError
            Both or neither of ``vi`` and ``se``, an ``se`` that is not finite and > 0,
            or any error of :class:`EffectTable`.
        """
        if (vi is None) == (se is None):
            raise DataError("give exactly one of vi (sampling variances) or se (standard "
                            "errors)")
        if se is not None:
            se, not_number = real_values(se)
            if se.ndim != 1:
                raise DataError(f"se must be one-dimensional (one standard error per study), "
                                f"got shape {se.shape}")
            labs = _labels(labels, se.size)
            bad = not_number | ~np.isfinite(se) | (se <= 0)
            if bad.any():
                raise DataError(f"standard error se must be finite numbers > 0, but is not in "
                                f"{name_studies(labs, bad)}")
            vi = _variance_from_se(se, labs, "standard error se")
        return cls(yi=yi, vi=vi, labels=labels, measure=measure, scale=scale)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, yi: str = "yi", vi: str | None = None,
                   se: str | None = None, study: str | None = None,
                   subgroup: str | None = None, stratum: str | None = None,
                   measure: str | None = None,
                   scale: EffectScale = "identity") -> EffectTable:
        """Effect sizes from a frame with one row per study (or per study × subgroup).

        Give exactly one of ``vi`` (variance column) or ``se`` (standard error column).
        Labels come from ``study`` (plus ``subgroup``/``stratum`` when rows repeat a study).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per study (or study × subgroup / stratum).
        yi : str
            Column of effect sizes (numeric, on ``scale``).
        vi, se : str, optional
            Column of sampling variances, or of standard errors (exactly one).
        study : str, optional
            Column of study labels; default: the frame's index. Rows are labelled
            ``"study | subgroup | stratum"`` when ``subgroup`` / ``stratum`` are given.
        subgroup, stratum : str, optional
            Columns of each row's subgroup and stratum.
        measure, scale
            As in :meth:`from_arrays`.

        Returns
        -------
        EffectTable
            One row per row of ``df``.

        Raises
        ------
        DataError
            ``df`` is not a DataFrame, a column is absent or not numeric, both or
            neither of ``vi`` and ``se``, a ``yi`` that is not finite, a ``vi`` or
            ``se`` that is not finite and > 0 (naming the column and the studies), or
            any error of :class:`EffectTable` (naming the studies).
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if (vi is None) == (se is None):
            raise DataError("give exactly one of vi= (variance column) or se= (standard "
                            "error column)")
        cols = {"yi": yi, "vi": vi, "se": se, "study": study, "subgroup": subgroup,
                "stratum": stratum}
        check_columns(df, cols)
        num = {role: real_column(df, cols[role], role) for role in ("yi", "vi", "se")
               if cols[role] is not None}
        for role in ("subgroup", "stratum"):
            if cols[role] is not None:
                check_missing(df, cols[role], role)
        labels = _frame_labels(df, study, (subgroup, stratum))
        y = num["yi"]
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(f"yi column {yi!r} (effect sizes) is missing or not finite in "
                            f"{name_studies(labels, bad)}; fix or remove those studies")
        v = num.get("vi")
        s = num.get("se")
        if v is not None:
            with np.errstate(divide="ignore", over="ignore"):
                bad = ~np.isfinite(v) | ~(v > 0) | ~np.isfinite(1 / v)
            if bad.any():
                raise DataError(f"vi column {vi!r} (sampling variances) must be finite and "
                                f"> 0, but is not in {name_studies(labels, bad)}; a zero "
                                "variance would give the study infinite weight")
        if s is not None:
            bad = ~np.isfinite(s) | (s <= 0)
            if bad.any():
                raise DataError(f"se column {se!r} must be finite and > 0, but is not in "
                                f"{name_studies(labels, bad)}")
            v = _variance_from_se(s, labels, f"se column {se!r}")
        return cls(yi=y, vi=v, labels=labels, measure=measure,
                   scale=scale,
                   subgroup=None if subgroup is None else df[subgroup].to_numpy(),
                   stratum=None if stratum is None else df[stratum].to_numpy())

    # ------------------------------------------------------------------ views
    @property
    def k(self) -> int:
        """Number of rows (studies)."""
        return int(self.yi.size)

    @property
    def se(self) -> np.ndarray:
        """Standard errors :math:`\\sqrt{v_k}`."""
        return np.sqrt(self.vi)

    def to_frame(self) -> pd.DataFrame:
        """One row per study: ``yi``, ``vi``, ``se`` (and subgroup / stratum).

        Returns
        -------
        pandas.DataFrame
            Index ``study`` (the labels); columns ``yi``, ``vi``, ``se`` and, when set,
            ``subgroup`` and ``stratum``.
        """
        out = pd.DataFrame({"yi": self.yi, "vi": self.vi, "se": self.se},
                           index=pd.Index(self.labels, name="study"))
        if self.subgroup is not None:
            out["subgroup"] = self.subgroup
        if self.stratum is not None:
            out["stratum"] = self.stratum
        return out


# ---------------------------------------------------------------------------- ArmTable

@dataclass(frozen=True, eq=False)
class ArmTable:
    r"""Per-study 2×2 counts of a binary outcome by randomized arm.

    The fields below are also its (read-only) attributes.

    Parameters
    ----------
    n11, n10, n01, n00 : array_like, shape (k,)
        Treated events, treated non-events, control events, control non-events
        (numbers of patients: whole numbers >= 0, validated; stored as read-only
        float arrays).
    labels : sequence of str, optional
        Study labels (unique); default ``"1"`` ... ``"k"``. Stored as a tuple of str.

    Raises
    ------
    DataError
        A count that is missing, not finite, negative or not a whole number (naming
        the column and the studies), columns of different lengths, no study, an empty
        arm, wrong or repeated labels.

    Examples
    --------
    >>> t = ArmTable(n11=[4, 6], n10=[119, 300], n01=[11, 29], n00=[128, 274],
    ...              labels=["Aronson", "Ferguson"])
    >>> t.effects("RR").yi.round(3)
    array([-0.889, -1.585])
    """

    n11: np.ndarray
    n10: np.ndarray
    n01: np.ndarray
    n00: np.ndarray
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        k = np.size(self.n11)
        labels = _labels(self.labels, k)
        arrays = {}
        for name in COUNT_COLUMNS:
            arr = count_column(getattr(self, name), name, _CELL_ROLE[name], labels)
            if arr.size != k:
                raise DataError(f"column {name!r} has {arr.size} counts but n11 has {k}; "
                                "give one count per study in every column")
            arrays[name] = arr
        if k == 0:
            raise DataError("the arm table has no studies")
        n1 = arrays["n11"] + arrays["n10"]
        n0 = arrays["n01"] + arrays["n00"]
        for arm, n in (("treated (n11 + n10)", n1), ("control (n01 + n00)", n0)):
            if (n == 0).any():
                raise DataError(f"the {arm} arm is empty in {name_studies(labels, n == 0)}; "
                                "every study needs patients in both arms")
        for name, arr in arrays.items():
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "labels", labels)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_any(cls, counts: ArmTable | pd.DataFrame, *, name: str = "counts") -> ArmTable:
        """``counts`` as an :class:`ArmTable`: itself, or read by :meth:`from_frame`.

        Parameters
        ----------
        counts : ArmTable or pandas.DataFrame
            A table of 2x2 counts, or a frame with columns ``n11 n10 n01 n00``.
        name : str
            The argument's name, for the message.

        Returns
        -------
        ArmTable
            ``counts`` itself when it is one (never a copy).

        Raises
        ------
        DataError
            ``counts`` is neither, or any error of :meth:`from_frame`.
        """
        if isinstance(counts, ArmTable):
            return counts
        if isinstance(counts, pd.DataFrame):
            return cls.from_frame(counts)
        raise DataError(f"{name} must be an ArmTable or a DataFrame with columns n11 n10 n01 "
                        f"n00, got {type(counts).__name__}")

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, n11: str = "n11", n10: str = "n10",
                   n01: str = "n01", n00: str = "n00",
                   study: str | None = None) -> ArmTable:
        """Counts from a frame with one row per study and columns ``n11 n10 n01 n00``.

        ``study`` names the label column; without it a column named ``"study"`` is used
        when present, else the frame's index.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per study.
        n11, n10, n01, n00 : str
            Columns of treated events, treated non-events, control events and control
            non-events (numbers of patients).
        study : str, optional
            Column of study labels.

        Returns
        -------
        ArmTable

        Raises
        ------
        DataError
            ``df`` is not a DataFrame, a count column is absent or not numeric, or any
            error of :class:`ArmTable`.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame with columns n11 n10 n01 n00, got "
                            f"{type(df).__name__}")
        names = {"n11": n11, "n10": n10, "n01": n01, "n00": n00}
        arm_counts = {"events1", "total1", "events0", "total0"} <= set(map(str, df.columns))
        for role, col in names.items():
            if not isinstance(col, Hashable) or col not in df.columns:
                hint = ("; the frame has events1 / total1 / events0 / total0: read it with "
                        "ArmTable.from_events(df, events1='events1', total1='total1', "
                        "events0='events0', total0='total0')" if arm_counts else "")
                raise DataError(f"count column {col!r} ({_CELL_ROLE[role]}) is not in the "
                                f"data frame; available columns: {list(map(str, df.columns))}"
                                + hint)
            check_unique_column(df, col, f"count ({_CELL_ROLE[role]})")
        check_columns(df, {"study": study})
        labels = _study_labels(df, study)
        for role, col in names.items():
            refuse_text_counts(df[col], f"count column {col!r} ({_CELL_ROLE[role]})",
                                labels)
        # checked here so that the message names the frame's column, not the role
        counts = {role: count_column(df[col], col, _CELL_ROLE[role], labels)
                  for role, col in names.items()}
        for arm, (a, b) in (("treated", ("n11", "n10")), ("control", ("n01", "n00"))):
            empty = counts[a] + counts[b] == 0
            if empty.any():
                raise DataError(f"the {arm} arm (columns {names[a]!r} + {names[b]!r}) is "
                                f"empty in {name_studies(labels, empty)}; every study needs "
                                "patients in both arms")
        return cls(**counts, labels=labels)

    @classmethod
    def from_events(cls, df: pd.DataFrame, *, events1: str, total1: str, events0: str,
                    total0: str, study: str | None = None) -> ArmTable:
        """Counts from events / totals per arm (the usual "events/N" table of a paper).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per study.
        events1, total1 : str
            Columns of events and of patients in the treated arm.
        events0, total0 : str
            Columns of events and of patients in the control arm.
        study : str, optional
            Column of study labels; default: a column named ``study`` when there is
            one (as :meth:`from_frame`), else the frame's index.

        Returns
        -------
        ArmTable
            ``n11 = events1``, ``n10 = total1 - events1``, ``n01 = events0``,
            ``n00 = total0 - events0``.

        Raises
        ------
        DataError
            A column is absent, not numeric, missing, negative or not a whole number
            (naming the column and the studies), events exceed the total in some study
            (named), repeated study labels, or any error of :class:`ArmTable`.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        check_columns(df, {"events1": events1, "total1": total1, "events0": events0,
                           "total0": total0, "study": study})
        labels = _study_labels(df, study)
        roles = {events1: "treated events", total1: "treated patients",
                 events0: "control events", total0: "control patients"}
        for col, role in roles.items():
            refuse_text_counts(df[col], f"column {col!r} ({role})", labels)
        counts = {col: count_column(df[col], col, role, labels) for col, role in roles.items()}
        for ev, tot in ((events1, total1), (events0, total0)):
            bad = counts[ev] > counts[tot]
            if bad.any():
                raise DataError(f"events column {ev!r} exceeds total column {tot!r} in "
                                f"{name_studies(labels, bad)}")
            if (counts[tot] == 0).any():  # named by the user's column, not n11 + n10
                raise DataError(f"total column {tot!r} is 0 in "
                                f"{name_studies(labels, counts[tot] == 0)}; every study "
                                "needs patients in both arms")
        return cls(n11=counts[events1], n10=counts[total1] - counts[events1],
                   n01=counts[events0], n00=counts[total0] - counts[events0], labels=labels)

    # ------------------------------------------------------------------ views
    @property
    def k(self) -> int:
        """Number of studies."""
        return int(self.n11.size)

    @property
    def n1(self) -> np.ndarray:
        """Treated-arm sizes :math:`n_1(k)`."""
        return self.n11 + self.n10

    @property
    def n0(self) -> np.ndarray:
        """Control-arm sizes :math:`n_0(k)`."""
        return self.n01 + self.n00

    @property
    def n(self) -> np.ndarray:
        """Study sizes :math:`n_k = n_1(k) + n_0(k)`."""
        return self.n1 + self.n0

    @property
    def risk1(self) -> np.ndarray:
        r"""Treated-arm risks :math:`\hat\psi_1(k) = n_{11}/n_1`."""
        return self.n11 / self.n1

    @property
    def risk0(self) -> np.ndarray:
        r"""Control-arm risks :math:`\hat\psi_0(k) = n_{01}/n_0`."""
        return self.n01 / self.n0

    @property
    def double_zero(self) -> np.ndarray:
        """Studies with no events in either arm, or only events in both arms."""
        return ((self.n11 == 0) & (self.n01 == 0)) | ((self.n10 == 0) & (self.n00 == 0))

    def to_frame(self) -> pd.DataFrame:
        """One row per study: the four counts, arm sizes and risks.

        Returns
        -------
        pandas.DataFrame
            Index ``study`` (the labels); columns ``n11 n10 n01 n00`` and ``n1``, ``n0``
            (arm sizes), ``risk1``, ``risk0`` (event proportions per arm).
        """
        return pd.DataFrame(
            {"n11": self.n11, "n10": self.n10, "n01": self.n01, "n00": self.n00,
             "n1": self.n1, "n0": self.n0, "risk1": self.risk1, "risk0": self.risk0},
            index=pd.Index(self.labels, name="study"),
        )

    def subset(self, keep: npt.ArrayLike) -> ArmTable:
        """The studies where boolean mask ``keep`` is true (a new table).

        Parameters
        ----------
        keep : array_like of bool, shape (k,)
            Which studies to keep, in the order of :attr:`labels`.

        Returns
        -------
        ArmTable
            The kept studies, with their labels.
        """
        keep = np.asarray(keep, dtype=bool)
        return ArmTable(n11=self.n11[keep], n10=self.n10[keep], n01=self.n01[keep],
                        n00=self.n00[keep],
                        labels=[s for s, k in zip(self.labels, keep, strict=True) if k])

    # ------------------------------------------------------------------ effect sizes
    def effects(self, measure: Measure = "RR", *, add: float = 0.5,
                to: ContinuityTo = "only0",
                drop_double_zero: bool | None = None) -> EffectTable:
        r"""Per-study effect sizes and variances (metafor ``escalc`` conventions).

        Zero cells follow what each measure needs (``docs/meta_analysis.md``, "Zero
        cells"): a double-zero study (:attr:`double_zero`) is informative for the RD and
        kept, as metafor's default; for the RR and OR it carries no information on the
        ratio and is refused unless ``drop_double_zero`` says what to do.

        Parameters
        ----------
        measure : {"RD", "RR", "OR"}
            Risk difference, log risk ratio or log odds ratio (formulas in the module
            docstring); RR and OR tables have ``scale="log"``.
        add : float
            Continuity correction (default 1/2, as metafor).
        to : {"only0", "all", "if0all", "none"}
            Studies receiving ``add``: those with a zero cell (default, as metafor),
            all, all if any has a zero cell, or none.
        drop_double_zero : bool or None
            ``None`` (default): kept (corrected) for the RD, a DataError for the RR and
            OR. ``True``: left out, named in a :class:`~bayes_hte.DataWarning` and in
            ``EffectTable.excluded`` (metafor's ``drop00=TRUE``). ``False``: kept with
            the correction (metafor's default ``drop00=FALSE``).

        Returns
        -------
        EffectTable
            One row per (analysed) study; ``scale`` ``"identity"`` for RD, ``"log"``
            for RR and OR; ``corrected`` names the studies that received ``add``.

        Raises
        ------
        DataError
            An unknown measure, a negative or non-finite ``add``, double-zero studies
            under the RR or OR (unless ``drop_double_zero`` is given), every study
            double-zero when they are dropped, or zero cells that leave the measure or
            its variance undefined when no correction applies (``to="none"`` or
            ``add=0``): for the RD a study whose arms both have risk 0 or 1, for the RR
            a study without events in an arm, for the OR any zero cell.
        """
        if measure not in MEASURES:
            raise DataError(f"measure must be one of {MEASURES}, got {measure!r}")
        if not np.isfinite(add) or add < 0:
            raise DataError(f"continuity correction add must be finite and >= 0, got {add!r}")
        if drop_double_zero not in (None, True, False):
            raise DataError(f"drop_double_zero must be None, True or False, got "
                            f"{drop_double_zero!r}")
        dz = self.double_zero
        table = self
        excluded: tuple[str, ...] = ()
        if drop_double_zero is None and measure != "RD" and dz.any():
            raise DataError(
                f"{name_studies(self.labels, dz)} {'has' if dz.sum() == 1 else 'have'} "
                "no events in both arms (or only "
                "events in both arms): they carry no information on the "
                f"{measure} and are not analysed silently. Remove them, pass "
                "drop_double_zero=True to exclude them (they are then reported), or "
                "drop_double_zero=False to keep them with the continuity correction "
                "(metafor's default); the RD keeps them")
        if drop_double_zero and dz.any():
            if dz.all():
                raise DataError("every study is a double-zero study; there is nothing to "
                                "meta-analyse")
            excluded = tuple(s for s, d in zip(self.labels, dz, strict=True) if d)
            warnings.warn(f"excluded double-zero {name_studies(self.labels, dz)} from the "
                          f"{measure} effect sizes", DataWarning, stacklevel=2)
            table = self.subset(~dz)
        corr = continuity_mask(table.n11, table.n10, table.n01, table.n00, to=to)
        if add == 0 or to == "none":
            corr = np.zeros_like(corr)
        yi, vi = effect_sizes(table.n11, table.n10, table.n01, table.n00, measure=measure,
                              add=add, to=to)
        bad = ~np.isfinite(yi) | ~np.isfinite(vi) | ~(vi > 0)
        if bad.any():
            raise DataError(
                f"{name_studies(table.labels, bad)} have a zero cell and no continuity "
                f"correction applies (add={add}, to={to!r}): the {measure} or its variance "
                f"is not finite and positive there ({_UNDEFINED[measure]}). Use the "
                "default add=0.5, to='only0'")
        corrected = tuple(s for s, c in zip(table.labels, corr, strict=True) if c)
        return EffectTable(yi=yi, vi=vi, labels=table.labels, measure=measure,
                           scale=MEASURE_SCALE[measure], excluded=excluded,
                           corrected=corrected)

def check_weights(weights: str | Sequence[float] | np.ndarray | pd.Series,
                  table: ArmTable) -> np.ndarray | None:
    r"""Validate the study weights :math:`\omega_k` of a causal meta-analysis.

    The weights define the target population :math:`P^* = \sum_k \omega_k P_k` as a
    convex combination of the trial populations (Berenfeld et al. 2026).

    Parameters
    ----------
    weights : "sample_size" or array_like or pandas.Series
        ``"sample_size"`` (:math:`\omega_k = n_k/n`, resolved by the caller) or one
        weight per study (>= 0, summing to 1); a Series is aligned by study label.
    table : ArmTable
        The studies the weights refer to.

    Returns
    -------
    ndarray, shape (K,), or None
        The weights in the order of ``table.labels``; ``None`` for ``"sample_size"``.

    Raises
    ------
    DataError
        An unknown string, a Series whose index does not match the study labels, a
        wrong length, negative or non-finite weights, or weights not summing to 1.
    """
    if isinstance(weights, str):
        if weights != "sample_size":
            raise DataError(f"weights must be 'sample_size' or an array of convex weights, "
                            f"got {weights!r}")
        return None
    if isinstance(weights, pd.Series):
        missing = set(table.labels) - set(map(str, weights.index))
        extra = set(map(str, weights.index)) - set(table.labels)
        if missing or extra:
            raise DataError(f"weights index must match the study labels; missing "
                            f"{sorted(missing)[:5]}, unknown {sorted(extra)[:5]}")
        weights = weights.set_axis(weights.index.map(str)).loc[list(table.labels)].to_numpy()
    w = np.array(weights, dtype=float, copy=True)
    if w.shape != (table.k,):
        raise DataError(f"weights must have one entry per study ({table.k}), got shape "
                        f"{w.shape}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        names = [table.labels[i] for i in np.flatnonzero(bad)][:5]
        raise DataError(f"weights must be finite and >= 0; not so for studies {names}")
    if abs(w.sum() - 1.0) > 1e-8:
        raise DataError(f"weights must sum to 1 (a convex combination of the trial "
                        f"populations), they sum to {w.sum():.6g}; normalise them yourself "
                        "if that is what you mean")
    return w
