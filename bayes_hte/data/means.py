r"""Two-group summaries of a continuous outcome: means, SDs and sizes per arm and study.

:class:`MeanTable` holds, for each study :math:`i`, the treated arm's mean
:math:`\bar x_{1i}`, standard deviation :math:`s_{1i}` and size :math:`n_{1i}`, and the
control arm's :math:`\bar x_{0i}, s_{0i}, n_{0i}`. :meth:`MeanTable.effects` gives the
effect sizes of metafor's ``escalc`` with its default ``vtype="LS"``:

* ``"MD"``, the raw mean difference :math:`y_i = \bar x_{1i} - \bar x_{0i}`,
  :math:`v_i = s_{1i}^2/n_{1i} + s_{0i}^2/n_{0i}` (unequal variances);
* ``"SMD"``, Hedges' :math:`g` (Hedges 1981, *J Educ Stat* 6:107):
  :math:`y_i = c(m_i)\,(\bar x_{1i} - \bar x_{0i})/s_{pi}`, the pooled SD
  :math:`s_{pi} = \sqrt{((n_{1i}-1)s_{1i}^2 + (n_{0i}-1)s_{0i}^2)/m_i}`, :math:`m_i = n_{1i}
  + n_{0i} - 2`, the exact bias correction :math:`c(m) = \Gamma(m/2) / (\sqrt{m/2}\,
  \Gamma((m-1)/2))`, and :math:`v_i = 1/n_{1i} + 1/n_{0i} + y_i^2/(2(n_{1i}+n_{0i}))`;
* ``"ROM"``, the log ratio of means (Hedges, Gurevitch & Curtis 1999, *Ecology*
  80:1150): :math:`y_i = \log(\bar x_{1i}/\bar x_{0i})`, :math:`v_i = s_{1i}^2/(n_{1i}
  \bar x_{1i}^2) + s_{0i}^2/(n_{0i}\bar x_{0i}^2)`, for positive means.

Checked against metafor 3.8-1 (``validation/metafor_means.R``,
``tests/data/metafor_means.json``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from bayes_hte.data.aggregate import EffectTable, _labels, _study_labels
from bayes_hte.data.checks import check_columns, check_unique_column, count_column, name_studies
from bayes_hte.data.numbers import real_numbers
from bayes_hte.errors import DataError
from bayes_hte.options import MEAN_MEASURES, MeanMeasure, check_choice

__all__ = ["MeanTable"]

#: The fields of a MeanTable and what each holds.
MEAN_COLUMNS: dict[str, str] = {
    "mean1": "treated mean", "sd1": "treated SD", "n1": "treated size",
    "mean0": "control mean", "sd0": "control SD", "n0": "control size",
}


def _column(values: object, column: str, role: str, labels: Sequence[str]) -> np.ndarray:
    """A mean or SD column: real numbers, finite, one per study (SDs >= 0)."""
    arr = real_numbers(values, f"column {column!r} ({role})",
                       place=lambda w: f" in study {labels[w[0]]!r}" if w[0] < len(labels)
                       else f" at row {w[0]}")
    if arr.ndim != 1 or arr.size != len(labels):
        raise DataError(f"column {column!r} ({role}) must have one value per study "
                        f"({len(labels)}), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(f"column {column!r} ({role}) is missing or not finite in "
                        f"{name_studies(labels, bad)}; fill it in or remove the study")
    if role.endswith("SD") and (arr < 0).any():
        raise DataError(f"column {column!r} ({role}) is negative in "
                        f"{name_studies(labels, arr < 0)}; an SD is >= 0 (a variance or a "
                        "standard error in the column?)")
    return arr


def _size(values: object, column: str, role: str, labels: Sequence[str]) -> np.ndarray:
    """An arm-size column: whole numbers >= 1."""
    arr = count_column(values, column, role, labels)
    if (arr < 1).any():
        raise DataError(f"column {column!r} ({role}) is 0 in {name_studies(labels, arr < 1)};"
                        " every arm needs patients")
    return arr


@dataclass(frozen=True)
class MeanTable:
    r"""Per-study means, standard deviations and sizes of a continuous outcome by arm.

    The fields below are also its (read-only) attributes.

    Parameters
    ----------
    mean1, sd1, n1 : array_like, shape (k,)
        The treated arm's mean, standard deviation (>= 0, the outcome's units) and number
        of patients (a whole number >= 1).
    mean0, sd0, n0 : array_like, shape (k,)
        The same for the control arm.
    labels : sequence of str, optional
        Study labels (unique); default ``"1"`` ... ``"k"``. Stored as a tuple of str.

    Raises
    ------
    DataError
        A value that is text, missing or not finite, a negative SD, a size that is not a
        whole number >= 1 (naming the column and the studies), columns of different
        lengths, no study, wrong or repeated labels.

    Examples
    --------
    >>> t = MeanTable(mean1=[55, 27], sd1=[47, 7], n1=[155, 31], mean0=[75, 29],
    ...               sd0=[64, 4], n0=[156, 32], labels=["Edinburgh", "Orpington"])
    >>> t.effects("MD").yi
    array([-20.,  -2.])
    """

    mean1: np.ndarray
    sd1: np.ndarray
    n1: np.ndarray
    mean0: np.ndarray
    sd0: np.ndarray
    n0: np.ndarray
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        k = np.size(self.mean1)
        if k == 0:
            raise DataError("the mean table has no studies")
        labels = _labels(self.labels, k)
        for name, role in MEAN_COLUMNS.items():
            values = getattr(self, name)
            read = _size if role.endswith("size") else _column
            arr = read(values, name, role, labels)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "labels", labels)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, mean1: str = "mean1", sd1: str = "sd1",
                   n1: str = "n1", mean0: str = "mean0", sd0: str = "sd0", n0: str = "n0",
                   study: str | None = None) -> MeanTable:
        """Summaries from a frame with one row per study (labels as
        :meth:`~bayes_hte.data.aggregate.ArmTable.from_frame` reads them).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per study.
        mean1, sd1, n1, mean0, sd0, n0 : str
            Columns of the treated arm's mean, SD and size and of the control arm's (e.g.
            metafor's ``m1i, sd1i, n1i, m2i, sd2i, n2i``).
        study : str, optional
            Column of study labels (default: a column ``"study"`` if any, else the
            index).

        Returns
        -------
        MeanTable

        Raises
        ------
        DataError
            ``df`` is not a DataFrame, a column is absent, repeated or holds text, or any
            error of :class:`MeanTable` (naming the frame's column).
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        names = {"mean1": mean1, "sd1": sd1, "n1": n1, "mean0": mean0, "sd0": sd0, "n0": n0}
        for field_name, col in names.items():
            if not isinstance(col, Hashable) or col not in df.columns:
                raise DataError(f"column {col!r} ({MEAN_COLUMNS[field_name]}) is not in the "
                                f"data frame; available columns: {list(map(str, df.columns))}")
            check_unique_column(df, col, MEAN_COLUMNS[field_name])
        check_columns(df, {"study": study})
        labels = _study_labels(df, study)
        values = {}
        for field_name, col in names.items():  # checked here to name the frame's column
            role = MEAN_COLUMNS[field_name]
            read = _size if role.endswith("size") else _column
            values[field_name] = read(df[col].to_numpy(), str(col), role, labels)
        return cls(**values, labels=labels)

    @property
    def k(self) -> int:
        """Number of studies."""
        return int(self.mean1.size)

    def to_frame(self) -> pd.DataFrame:
        """The summaries as a frame.

        Returns
        -------
        pandas.DataFrame
            One row per study (index ``study``), columns ``mean1 sd1 n1 mean0 sd0 n0``.
        """
        return pd.DataFrame({name: getattr(self, name) for name in MEAN_COLUMNS},
                            index=pd.Index(self.labels, name="study"))

    def effects(self, measure: MeanMeasure = "SMD") -> EffectTable:
        """Per-study effect sizes and variances (metafor ``escalc``, ``vtype="LS"``).

        Parameters
        ----------
        measure : {"SMD", "MD", "ROM"}
            Hedges' g (default), the raw mean difference, or the log ratio of means
            (formulas in :mod:`bayes_hte.data.means`).

        Returns
        -------
        EffectTable
            One row per study; ``scale`` ``"log"`` for ROM (``exp`` gives the ratio of
            means), else ``"identity"``.

        Raises
        ------
        DataError
            For SMD a study with fewer than 4 patients in all or with both SDs 0 (no
            pooled SD); for ROM a mean that is not > 0; for any measure a variance that
            is 0 (both SDs 0 for MD or ROM).
        ValueError
            An unknown ``measure``.
        """
        check_choice("measure", measure, MEAN_MEASURES)
        m1, s1, n1, m0, s0, n0 = (getattr(self, f) for f in MEAN_COLUMNS)
        if measure == "MD":
            yi, vi = m1 - m0, s1**2 / n1 + s0**2 / n0
        elif measure == "SMD":
            m = n1 + n0 - 2
            small = m < 2
            if small.any():  # Hedges' correction c(m) is 0 at m = 1 (metafor: NA)
                raise DataError(f"{name_studies(self.labels, small)}: the SMD needs at "
                                "least 4 patients in all (its bias correction needs "
                                "n1 + n0 - 2 >= 2 df)")
            sp = np.sqrt(((n1 - 1) * s1**2 + (n0 - 1) * s0**2) / m)
            if (sp == 0).any():
                raise DataError(f"{name_studies(self.labels, sp == 0)}: both SDs are 0, so "
                                "the SMD is undefined; use the MD")
            corr = np.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2)) / np.sqrt(m / 2)
            yi = corr * (m1 - m0) / sp
            vi = 1 / n1 + 1 / n0 + yi**2 / (2 * (n1 + n0))
        else:
            bad = (m1 <= 0) | (m0 <= 0)
            if bad.any():
                raise DataError(f"{name_studies(self.labels, bad)}: the ratio of means needs "
                                "positive means in both arms")
            yi = np.log(m1 / m0)
            vi = s1**2 / (n1 * m1**2) + s0**2 / (n0 * m0**2)
        zero = vi <= 0
        if zero.any():
            raise DataError(f"{name_studies(self.labels, zero)}: both SDs are 0, so the "
                            f"{measure}'s variance is 0 (infinite weight); check the SDs")
        return EffectTable(yi=yi, vi=vi, labels=self.labels, measure=measure,
                           scale="log" if measure == "ROM" else "identity")

