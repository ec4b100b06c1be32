r"""Longitudinal individual participant data: repeated measures from several trials.

One row per measurement: participant :math:`j` of trial :math:`i` measured at visit
:math:`t`. Visits a participant missed are simply absent (missing at random, MAR, is
what the likelihood-based analyses assume); visits a whole trial never planned are
absent for every participant of that trial. The design matrix of the paper's model (3)
(Hirakawa/Noma et al., two-step IPD-MA of longitudinal trials),

.. math::

    Y_{ijt} = b_{ij} + \beta_{i1} + \beta_{i2}\,\mathrm{treat}_{ij}
      + \sum_{v \ne r} \beta_{iv}\,\mathrm{visit}_{v,ijt}
      + \beta_{iz}\, z_{ij}
      + \sum_{v \ne r} \beta_{i,tv}\,\mathrm{treat}_{ij}\,\mathrm{visit}_{v,ijt}
      + \sum_{v \ne r} \beta_{i,vz}\,\mathrm{visit}_{v,ijt}\, z_{ij}
      + \beta_{i,tz}\,\mathrm{treat}_{ij}\, z_{ij} + \varepsilon_{ijt},

with visit indicators against a reference visit :math:`r`, is built by
:meth:`LongitudinalData.design_matrix`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import pandas as pd

from bayes_hte.data.checks import (
    binary_column,
    check_both_arms,
    check_centred,
    check_columns,
    check_finite,
    check_frame,
    check_roles,
    encode_covariates,
    label_levels,
    real_column,
    real_values,
)
from bayes_hte.errors import DataError, DataWarning, format_rows
from bayes_hte.options import LongitudinalCentering, MissingOutcome


def _natural_key(label: str) -> tuple:
    """``"week 10"`` -> ``("week ", 10, "")``: digits compare as numbers."""
    parts = re.split(r"(\d+)", label)
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _text_visit_order(vis: pd.Series, column: str) -> tuple:
    """The order of a visit column that is neither numeric nor categorical: numbers held
    as objects numerically; text as text, with a DataWarning when the numbers inside the
    labels would order them otherwise; a mix of numbers and text refused."""
    values = vis.unique().tolist()
    _, bad = real_values(np.asarray(values, dtype=object))
    if not bad.any():  # numbers (ints, floats) in an object column
        return tuple(sorted(values))
    if not bad.all():
        nums = [v for v, b in zip(values, bad, strict=True) if not b][:3]
        text = [v for v, b in zip(values, bad, strict=True) if b][:3]
        raise DataError(f"visit column {column!r} mixes numbers {nums} and text {text}; "
                        "give every visit as a number, or every visit as text")
    order = tuple(sorted(values, key=str))
    natural = tuple(sorted(values, key=lambda v: _natural_key(str(v))))
    if order != natural:
        warnings.warn(f"visit column {column!r} is text and is ordered as text: "
                      f"{list(order)}, not by the numbers in the labels {list(natural)}; the "
                      "order sets the reference visit and the coefficient names: pass an "
                      "ordered pandas Categorical to choose it", DataWarning, stacklevel=3)
    return order


@dataclass(frozen=True)
class DesignMatrix:
    """Fixed-effects design of model (3) for every observation.

    Built by :meth:`LongitudinalData.design_matrix`; the fields below are also its
    (read-only) attributes.

    Parameters
    ----------
    X : ndarray of float, shape (n_obs, n_coef)
        One row per measurement (in the order of the data's rows), one column per
        coefficient: 1, the treatment indicator, 0/1 visit indicators, covariates and
        their products.
    names : tuple of str
        Coefficient names, in the paper's order: intercept, treatment, visit
        indicators, covariates, treatment x visit, visit x covariate, treatment x
        covariate.
    reference_visit : object
        The visit label the visit indicators are contrasted with (a value of the visit
        column).
    visit_of_coef : tuple, length n_coef
        For each coefficient, the visit label it involves (``None`` for coefficients
        that every trial estimates).
    """

    X: np.ndarray
    names: tuple[str, ...]
    reference_visit: object
    visit_of_coef: tuple


@dataclass(frozen=True, eq=False)
class LongitudinalData:
    """Validated repeated-measures data from one or several randomized trials.

    Build it with :meth:`LongitudinalData.from_frame` (which validates and encodes;
    calling the class directly does not); the fields below are also its read-only
    attributes.

    Parameters
    ----------
    frame : pandas.DataFrame
        A copy of the input rows that were used (all columns).
    outcome, treatment, subject, visit : str
        Names of the outcome, treatment, participant and visit columns of ``frame``.
    study : str or None
        Name of the study column; ``None`` for a single trial (labelled ``"trial"``).
    covariates : tuple of str
        Names of the covariate columns, as given (before encoding).
    center : {None, "overall"}
        Centring applied to ``X`` (see :meth:`from_frame`).
    y : ndarray of float, shape (n_obs,)
        Continuous outcome.
    z : ndarray of int8, shape (n_obs,)
        Treatment indicator (constant within participant).
    X : ndarray of float, shape (n_obs, n_covariates)
        Encoded baseline covariates (constant within participant; categorical columns
        expanded to indicators ``"col[level]"``).
    study_idx, subject_idx, visit_idx : ndarray of int, shape (n_obs,)
        Index of each measurement's trial (into ``study_labels``), participant (into
        ``subject_labels``, numbered across trials) and visit (into ``visit_labels``).
    subject_study : ndarray of int, shape (n_subjects,)
        Trial of each participant.
    study_labels : tuple
        The trials that have rows, in the order of
        :func:`bayes_hte.data.checks.levels_of`.
    subject_labels : tuple of (study label, subject label), length n_subjects
        Participants, identified within their trial.
    visit_labels : tuple
        The visits measured anywhere, in their natural order (numeric, or the
        categorical order, or sorted as text).
    covariate_names : tuple of str
        Column names of ``X`` (``"col[level]"`` for an indicator).
    levels : dict of str to list
        Levels of each categorical covariate (the first is the reference).
    centers : ndarray of float, shape (n_covariates,), or None
        The participant-level means subtracted from ``X`` (``center="overall"``).
    """

    frame: pd.DataFrame
    outcome: str
    treatment: str
    study: str | None
    subject: str
    visit: str
    covariates: tuple[str, ...]
    center: LongitudinalCentering | None
    y: np.ndarray
    z: np.ndarray
    X: np.ndarray
    study_idx: np.ndarray
    subject_idx: np.ndarray
    visit_idx: np.ndarray
    subject_study: np.ndarray
    study_labels: tuple
    subject_labels: tuple
    visit_labels: tuple
    covariate_names: tuple[str, ...]
    levels: dict[str, list] = field(default_factory=dict)
    centers: np.ndarray | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        outcome: str,
        treatment: str,
        study: str | None,
        subject: str,
        visit: str,
        covariates: Sequence[str] = (),
        center: LongitudinalCentering | None = None,
        missing_outcome: MissingOutcome = "raise",
        levels: dict[str, list] | None = None,
    ) -> LongitudinalData:
        """Validate a long-format frame (one row per participant and visit).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per measurement. Copied, never modified.
        outcome : str
            Continuous outcome column (finite numbers).
        treatment : str
            Treatment column coded 0/1 (or bool), constant within participant.
        study : str or None
            Trial identifier; ``None`` for a single trial.
        subject : str
            Participant identifier. Identifiers are nested in trials: the same label in
            two trials denotes two participants.
        visit : str
            Visit (time point) column. Numeric visits are ordered numerically (also in
            a column of object dtype holding only numbers), a categorical by its
            categories, text as text (a ``DataWarning`` when that is not the order of
            the numbers in the labels, e.g. ``"week 10"`` before ``"week 2"``: pass an
            ordered categorical to set the order). Visits may differ between trials.
        covariates : sequence of str
            Baseline covariates (constant within participant); categorical columns are
            expanded to indicators against their first level.
        center : {None, "overall"}
            ``"overall"`` subtracts the pooled participant-level mean from each encoded
            covariate (the main effects then refer to an average participant).
        missing_outcome : {"raise", "drop"}
            Rows with a missing outcome are an error by default. A missed visit is
            represented by leaving out its row; ``"drop"`` removes such rows
            explicitly (the MAR analysis then uses the remaining visits).
        levels : dict, optional
            Fixed category levels per categorical covariate.

        Returns
        -------
        LongitudinalData
            The validated container: ``y``, ``z``, ``X`` and the indices per
            measurement, with the labels and encoding.

        Raises
        ------
        DataError
            Unknown or reused columns; missing values; a non-numeric or non-finite
            outcome; treatment not 0/1 or varying within a participant; a covariate
            varying within a participant, non-finite or constant; a participant
            measured twice at one visit; a trial with a single arm.
        """
        check_frame(df)
        if missing_outcome not in get_args(MissingOutcome):
            raise DataError(f"missing_outcome must be 'raise' or 'drop', got {missing_outcome!r}")
        if center not in (None, *get_args(LongitudinalCentering)):
            raise DataError(f"center must be None or 'overall', got {center!r}")
        covariates = (covariates,) if isinstance(covariates, str) else tuple(covariates)
        roles = {"outcome": outcome, "treatment": treatment, "study": study,
                 "subject": subject, "visit": visit}
        check_columns(df, roles)
        for c in covariates:
            check_columns(df, {"covariate": c})
        check_roles(roles, covariates)

        frame = df.copy()
        # outcome ---------------------------------------------------------------
        if not pd.api.types.is_numeric_dtype(frame[outcome]) or \
                pd.api.types.is_bool_dtype(frame[outcome]) or \
                pd.api.types.is_complex_dtype(frame[outcome]):
            raise DataError(f"outcome column {outcome!r} must be numeric (a continuous "
                            f"measurement), has dtype {frame[outcome].dtype}")
        miss = frame[outcome].isna()
        if miss.any():
            if missing_outcome == "raise":
                raise DataError(
                    f"outcome column {outcome!r} has missing values at "
                    f"{format_rows(frame.index[miss])}; a missed visit is represented by "
                    "leaving out its row: remove these rows, or pass missing_outcome='drop' "
                    "to drop them explicitly")
            frame = frame.loc[~miss]
            if frame.shape[0] == 0:
                raise DataError(f"outcome column {outcome!r} is missing in every row")
        y = real_column(frame, outcome, "outcome")
        check_finite(frame, y, f"outcome column {outcome!r}")

        # identifiers -------------------------------------------------------------
        labs = label_levels(frame, study, "study") if study is not None else []
        label_levels(frame, subject, "subject")
        label_levels(frame, visit, "visit")
        if study is None:
            study_labels: tuple = ("trial",)
            study_idx = np.zeros(len(frame), dtype=np.int64)
        else:
            study_labels = tuple(labs)
            study_idx = frame[study].map({lab: i for i, lab in enumerate(labs)}).to_numpy(
                dtype=np.int64)
        vis = frame[visit]
        if isinstance(vis.dtype, pd.CategoricalDtype):
            visit_labels = tuple(c for c in vis.cat.categories if (vis == c).any())
        elif pd.api.types.is_numeric_dtype(vis) and not pd.api.types.is_bool_dtype(vis) \
                and not pd.api.types.is_complex_dtype(vis):
            check_finite(frame, vis.to_numpy(dtype=float), f"visit column {visit!r}")
            visit_labels = tuple(sorted(vis.unique().tolist()))
        else:
            visit_labels = _text_visit_order(vis, visit)
        visit_idx = vis.map({v: i for i, v in enumerate(visit_labels)}).to_numpy(dtype=np.int64)

        keys = pd.MultiIndex.from_arrays([study_idx, frame[subject].to_numpy()])
        codes, uniq = pd.factorize(keys, sort=False)
        subject_idx = codes.astype(np.int64)
        subject_labels = tuple((study_labels[s], lab) for s, lab in uniq.to_list())
        subject_study = np.asarray([s for s, _ in uniq.to_list()], dtype=np.int64)

        dup = pd.DataFrame({"s": subject_idx, "v": visit_idx}).duplicated(keep=False).to_numpy()
        if dup.any():
            raise DataError(
                f"participants (column {subject!r}"
                f"{'' if study is None else f', within study column {study!r}'}) "
                "measured more than once at the same "
                f"visit (column {visit!r}) at {format_rows(frame.index[dup])}; keep one row "
                "per participant and visit")

        # treatment -----------------------------------------------------------------
        z = binary_column(frame, treatment, "treatment")
        _check_constant_within(frame, treatment, z.astype(float), subject_idx, "treatment",
                               subject=subject)
        check_both_arms(z, study_idx, study_labels, treatment=treatment,
                        single_trial=study is None, unit="participants")

        # covariates ------------------------------------------------------------------
        enc = encode_covariates(frame, covariates, levels=levels)
        for c in covariates:
            _check_constant_within(frame, c, enc.values[c], subject_idx, "covariate",
                                   subject=subject)
        X = enc.X
        first = np.unique(subject_idx, return_index=True)[1]
        centers = None
        if center == "overall":
            with np.errstate(over="ignore", invalid="ignore"):
                centers = X[first].mean(axis=0)
                X = X - centers
            check_centred(X, enc.names)

        return cls(
            frame=frame, outcome=outcome, treatment=treatment, study=study, subject=subject,
            visit=visit, covariates=covariates, center=center, y=y, z=z, X=X,
            study_idx=study_idx, subject_idx=subject_idx, visit_idx=visit_idx,
            subject_study=subject_study, study_labels=study_labels,
            subject_labels=subject_labels, visit_labels=visit_labels,
            covariate_names=enc.names, levels=enc.levels, centers=centers,
        )

    # ------------------------------------------------------------------ properties
    @property
    def n_obs(self) -> int:
        """Number of measurements (rows)."""
        return int(self.y.shape[0])

    @property
    def n_subjects(self) -> int:
        """Number of participants (over all trials)."""
        return len(self.subject_labels)

    @property
    def n_studies(self) -> int:
        """Number of trials."""
        return len(self.study_labels)

    @property
    def n_visits(self) -> int:
        """Number of distinct visits (over all trials)."""
        return len(self.visit_labels)

    @property
    def n_covariates(self) -> int:
        """Number of encoded covariate columns (columns of ``X``)."""
        return int(self.X.shape[1])

    def visits_by_study(self) -> pd.DataFrame:
        """Number of measurements per trial (rows) and visit (columns); 0 = never measured.

        Returns
        -------
        pandas.DataFrame of int, shape (n_studies, n_visits)
            Index ``study`` (the trial labels), columns ``visit`` (the visit labels).
        """
        tab = np.zeros((self.n_studies, self.n_visits), dtype=np.int64)
        np.add.at(tab, (self.study_idx, self.visit_idx), 1)
        return pd.DataFrame(tab, index=pd.Index(list(self.study_labels), name="study"),
                            columns=pd.Index(list(self.visit_labels), name="visit"))

    def study_table(self) -> pd.DataFrame:
        """Participants per trial and arm, and measurements per trial.

        Returns
        -------
        pandas.DataFrame
            Index ``study``; columns ``n_control``, ``n_treated`` (participants) and
            ``n_obs`` (measurements).
        """
        z_subj = np.zeros(self.n_subjects, dtype=np.int64)
        z_subj[self.subject_idx] = self.z
        rows = []
        for j, lab in enumerate(self.study_labels):
            in_j = self.subject_study == j
            rows.append({"study": lab, "n_control": int((in_j & (z_subj == 0)).sum()),
                         "n_treated": int((in_j & (z_subj == 1)).sum()),
                         "n_obs": int((self.study_idx == j).sum())})
        return pd.DataFrame(rows).set_index("study")

    # ------------------------------------------------------------------ subsets
    def study_subset(self, study: object) -> LongitudinalData:
        """The data of one trial (by label), encoded with the same levels and centring.

        Parameters
        ----------
        study : object
            A trial label, one of :attr:`study_labels`.

        Returns
        -------
        LongitudinalData
            That trial's measurements, with the full data's visit labels, covariate
            encoding and centres (its participants renumbered from 0).

        Raises
        ------
        DataError
            ``study`` is not a trial of the data.
        """
        if study not in self.study_labels:
            raise DataError(f"study {study!r} is not in the data (study column "
                            f"{self.study!r}); known: {list(self.study_labels)}")
        j = self.study_labels.index(study)
        mask = self.study_idx == j
        sub_subj, sub_idx = np.unique(self.subject_idx[mask], return_inverse=True)
        return LongitudinalData(
            frame=self.frame.loc[mask], outcome=self.outcome, treatment=self.treatment,
            study=self.study, subject=self.subject, visit=self.visit,
            covariates=self.covariates, center=self.center, y=self.y[mask], z=self.z[mask],
            X=self.X[mask], study_idx=np.zeros(int(mask.sum()), dtype=np.int64),
            subject_idx=sub_idx.astype(np.int64), visit_idx=self.visit_idx[mask],
            subject_study=np.zeros(len(sub_subj), dtype=np.int64), study_labels=(study,),
            subject_labels=tuple(self.subject_labels[s] for s in sub_subj),
            visit_labels=self.visit_labels, covariate_names=self.covariate_names,
            levels=self.levels, centers=self.centers,
        )

    # ------------------------------------------------------------------ design
    def design_matrix(
        self,
        *,
        reference_visit: object | None = None,
        treatment_by_visit: bool = True,
        covariate_by_visit: bool = True,
        treatment_by_covariate: bool = True,
    ) -> DesignMatrix:
        """Fixed-effects design of the paper's model (3), visits as factors.

        Parameters
        ----------
        reference_visit : object, optional
            Visit (a value of the visit column) the indicators are contrasted with.
            Default: the first visit that every trial measured (it must be measured by
            every trial, or the intercepts of the trials would mean different things).
        treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
            Include the treatment x visit, visit x covariate and treatment x covariate
            interactions (all three, as in model (3), by default).

        Returns
        -------
        DesignMatrix
            ``X`` of shape (n_obs, n_coef), the coefficient names, the reference visit
            and the visit each coefficient involves.

        Raises
        ------
        DataError
            An unknown reference visit, or one that some trial never measured.
        """
        counts = self.visits_by_study().to_numpy()
        measured_by_all = [v for k, v in enumerate(self.visit_labels) if (counts[:, k] > 0).all()]
        if reference_visit is None:
            if not measured_by_all:
                raise DataError(f"no visit (column {self.visit!r}) is measured by every "
                                "trial; the model needs a common reference visit")
            reference_visit = measured_by_all[0]
        elif reference_visit not in self.visit_labels:
            raise DataError(f"reference_visit {reference_visit!r} is not a visit in column "
                            f"{self.visit!r}; visits: {list(self.visit_labels)}")
        elif reference_visit not in measured_by_all:
            lack = [str(s) for s, c in zip(self.study_labels,
                                           counts[:, self.visit_labels.index(reference_visit)],
                                           strict=True) if c == 0]
            raise DataError(f"reference_visit {reference_visit!r} is not measured in studies "
                            f"{lack}; choose a visit every trial measured: {measured_by_all}")
        others = [v for v in self.visit_labels if v != reference_visit]
        n = self.n_obs
        V = np.column_stack([(self.visit_idx == self.visit_labels.index(v)).astype(float)
                             for v in others]) if others else np.zeros((n, 0))
        z = self.z.astype(float)[:, None]
        tr = self.treatment
        vnames = [f"{self.visit}[{v}]" for v in others]
        cnames = list(self.covariate_names)
        blocks = [np.ones((n, 1)), z, V, self.X]
        names = ["(intercept)", tr, *vnames, *cnames]
        vis: list = [None, None, *others, *([None] * len(cnames))]
        if treatment_by_visit:
            blocks.append(z * V)
            names += [f"{tr}:{v}" for v in vnames]
            vis += others
        if covariate_by_visit:
            for k, v in enumerate(others):
                blocks.append(V[:, [k]] * self.X)
                names += [f"{vnames[k]}:{c}" for c in cnames]
                vis += [v] * len(cnames)
        if treatment_by_covariate:
            blocks.append(z * self.X)
            names += [f"{tr}:{c}" for c in cnames]
            vis += [None] * len(cnames)
        X = np.column_stack(blocks)
        return DesignMatrix(X=X, names=tuple(names), reference_visit=reference_visit,
                            visit_of_coef=tuple(vis))

    def to_padded(self) -> tuple[np.ndarray, np.ndarray]:
        """Outcomes as a (n_subjects, n_visits) array with a boolean mask of measured cells.

        Unmeasured cells hold 0.0 (placeholders; use the mask).

        Returns
        -------
        Y : ndarray of float, shape (n_subjects, n_visits)
            Outcome of participant ``subject_idx`` at visit ``visit_idx`` (outcome's
            unit), 0.0 where not measured.
        M : ndarray of bool, shape (n_subjects, n_visits)
            ``True`` where measured.
        """
        Y = np.zeros((self.n_subjects, self.n_visits))
        M = np.zeros((self.n_subjects, self.n_visits), dtype=bool)
        Y[self.subject_idx, self.visit_idx] = self.y
        M[self.subject_idx, self.visit_idx] = True
        return Y, M


def _check_constant_within(frame: pd.DataFrame, col: str, values: np.ndarray,
                           subject_idx: np.ndarray, role: str, *, subject: str) -> None:
    """Raise when ``values`` vary within a participant (baseline quantities)."""
    n = int(subject_idx.max()) + 1
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, subject_idx, values)
    np.maximum.at(hi, subject_idx, values)
    varying = (hi > lo)[subject_idx]
    if varying.any():
        raise DataError(
            f"{role} column {col!r} varies within participants (column {subject!r}) at "
            f"{format_rows(frame.index[varying])}; a {role} must be a baseline value, "
            "constant over a participant's visits")
