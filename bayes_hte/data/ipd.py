"""Individual participant data (IPD) from one or several randomized trials."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.data.checks import (
    binary_column,
    check_both_arms,
    check_centred,
    check_columns,
    check_finite,
    check_frame,
    check_missing,
    check_roles,
    encode_covariates,
    is_categorical,
    label_levels,
    real_column,
)
from bayes_hte.errors import DataError, DataWarning, format_rows
from bayes_hte.options import IPDCentering, Outcome

SINGLE_STUDY_LABEL = "trial"


@dataclass(frozen=True, eq=False)
class IPDData:
    """Validated, encoded individual participant data.

    Build it with :meth:`IPDData.from_frame` (which validates and encodes; calling the
    class directly does not); the fields below are also its read-only attributes.

    Parameters
    ----------
    frame : pandas.DataFrame
        A copy of the original frame (all columns), kept for ``newdata`` predictions,
        subgroup summaries and saving with the posterior.
    outcome, treatment : str
        Names of the outcome (event indicator) and treatment columns of ``frame``.
    study : str or None
        Name of the study column; ``None`` for a single trial (labelled ``"trial"``).
    covariates : tuple of str
        Names of the covariate columns, as given (before encoding).
    time : str or None
        Name of the follow-up time column (time-to-event data), else ``None``.
    center : {None, "overall", "within_study"}
        Centring applied to ``X`` (see :meth:`from_frame`).
    y : ndarray of int8, shape (n,)
        Binary outcome, or the event indicator when ``time`` is given.
    z : ndarray of int8, shape (n,)
        Treatment indicator (1 = treated).
    X : ndarray of float, shape (n, p)
        Encoded (and optionally centred) covariate matrix; categorical covariates are
        expanded to indicator columns named ``"col[level]"`` (first level = reference).
    t : ndarray of float, shape (n,) or None
        Follow-up times for time-to-event data.
    study_idx : ndarray of int, shape (n,)
        Index of each patient's study into ``study_labels``.
    study_labels : tuple
        The studies present, in the order of :func:`bayes_hte.data.checks.levels_of` (category
        order, else sorted as text).
    covariate_names : tuple of str
        Column names of ``X`` (``"col[level]"`` for an indicator).
    levels : dict of str to list
        Levels of each categorical covariate (the first is the reference).
    centers : ndarray of float, shape (p,) or (n_studies, p), or None
        The means subtracted from ``X``: pooled (``"overall"``), one row per study
        (``"within_study"``), or ``None`` (no centring).
    """

    frame: pd.DataFrame
    outcome: str
    treatment: str
    study: str | None
    covariates: tuple[str, ...]
    time: str | None
    center: IPDCentering | None
    y: np.ndarray
    z: np.ndarray
    X: np.ndarray
    t: np.ndarray | None
    study_idx: np.ndarray
    study_labels: tuple
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
        study: str | None = None,
        covariates: Sequence[str] = (),
        time: str | None = None,
        center: IPDCentering | None = None,
        levels: dict[str, list] | None = None,
        allow_constant_covariates: bool = False,
    ) -> IPDData:
        """Validate a data frame and encode it for the model factories.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per patient. It is copied, never modified.
        outcome : str
            Binary outcome column (0/1 or bool; 1 = event, the unfavourable outcome).
            With ``time`` given, the event indicator (1 = event, 0 = censored).
        treatment : str
            Treatment column coded 0/1 (or bool); 1 = experimental arm.
        study : str or None
            Trial identifier column. ``None`` means a single trial.
        covariates : sequence of str
            Baseline covariates. Numeric and bool columns are used as they are;
            other columns (strings, categoricals) are expanded to indicators
            ``"col[level]"`` against the first level.
        time : str or None
            Follow-up time column for time-to-event outcomes (finite, >= 0).
        center : {None, "overall", "within_study"}
            Centring of the encoded covariates. ``"within_study"`` subtracts each
            trial's mean, so that treatment-covariate interactions use within-trial
            information only (the aggregation-bias remedy of Riley et al. 2020,
            discussed by Bouvier et al. 2024). ``"overall"`` subtracts the pooled mean,
            which helps the sampler when covariates are far from zero.
        levels : dict, optional
            Fixed category levels per categorical covariate (used internally so that
            subsets and new data are encoded like the data a model was fitted on).
        allow_constant_covariates : bool
            Accept covariates that are constant in ``df`` (for a subset such as one
            held-out trial, whose encoding must match the full data's).

        Returns
        -------
        IPDData
            The validated container: ``y``, ``z`` (n,), ``X`` (n, p), ``t`` and
            ``study_idx`` (n,), with the labels and encoding.

        Raises
        ------
        DataError
            Unknown column, missing values, non-binary outcome or treatment, a trial
            with a single arm, no events at all, only events in a binary outcome
            (time-to-event data without censoring are fine), an arm without events
            in time-to-event data, a constant covariate, negative or non-finite times.
        """
        check_frame(df)
        covariates = tuple(covariates) if not isinstance(covariates, str) else (covariates,)
        roles = {"outcome": outcome, "treatment": treatment, "study": study, "time": time}
        check_columns(df, roles)
        for c in covariates:
            check_columns(df, {"covariate": c})
        check_roles(roles, covariates)
        if center not in (None, *get_args(IPDCentering)):
            raise DataError(f"center must be None, 'overall' or 'within_study', got {center!r}")
        if center == "within_study" and study is None:
            raise DataError("center='within_study' needs a study column")

        frame = df.copy()
        y = binary_column(frame, outcome, "outcome" if time is None else "event indicator")
        z = binary_column(frame, treatment, "treatment")

        # study ---------------------------------------------------------------
        if study is None:
            study_idx = np.zeros(len(frame), dtype=np.int64)
            study_labels: tuple = (SINGLE_STUDY_LABEL,)
        else:
            labels = label_levels(frame, study, "study")
            mapping = {lab: i for i, lab in enumerate(labels)}
            study_idx = frame[study].map(mapping).to_numpy(dtype=np.int64)
            study_labels = tuple(labels)

        # time ----------------------------------------------------------------
        t = None
        if time is not None:
            check_missing(frame, time, "time")
            t = real_column(frame, time, "time")
            bad = ~np.isfinite(t) | (t < 0)
            if bad.any():
                raise DataError(
                    f"time column {time!r} must be finite and >= 0; bad values at "
                    f"{format_rows(frame.index[bad])}"
                )

        # arms and events -------------------------------------------------------
        check_both_arms(z, study_idx, study_labels, treatment=treatment,
                        single_trial=study is None)
        role = "outcome" if time is None else "event indicator"
        if y.sum() == 0:
            raise DataError(f"{role} column {outcome!r} has no events (all 0); an effect on "
                            "the risk of the event cannot be estimated")
        if time is None and y.sum() == y.size:
            # the twin of "no events"; with event times, all events (no censoring) is fine
            raise DataError(f"outcome column {outcome!r} has only events (all 1); an effect "
                            "on the risk of the event cannot be estimated")
        if time is not None:
            for arm in (0, 1):
                if y[z == arm].sum() == 0:
                    raise DataError(
                        f"the {'treated' if arm else 'control'} arm has no events "
                        f"(event column {outcome!r}); a time-to-event model needs at least "
                        "one event per arm"
                    )

        # covariates --------------------------------------------------------------
        enc = encode_covariates(frame, covariates, levels=levels,
                                allow_constant=allow_constant_covariates)
        X = enc.X

        centers = None
        with np.errstate(over="ignore", invalid="ignore"):
            if center == "overall":
                centers = X.mean(axis=0)
                X = X - centers
            elif center == "within_study":
                centers = np.vstack([X[study_idx == j].mean(axis=0)
                                     for j in range(len(study_labels))])
                X = X - centers[study_idx]
        check_centred(X, enc.names)

        return cls(
            frame=frame, outcome=outcome, treatment=treatment, study=study,
            covariates=covariates, time=time, center=center, y=y, z=z, X=X, t=t,
            study_idx=study_idx, study_labels=study_labels, covariate_names=enc.names,
            levels=enc.levels, centers=centers,
        )

    # ------------------------------------------------------------------ properties
    @property
    def n_patients(self) -> int:
        """Number of patients (rows)."""
        return int(self.y.shape[0])

    @property
    def n_studies(self) -> int:
        """Number of studies."""
        return len(self.study_labels)

    @property
    def n_covariates(self) -> int:
        """Number of encoded covariate columns (columns of ``X``)."""
        return int(self.X.shape[1])

    @property
    def outcome_type(self) -> Outcome:
        """``"time_to_event"`` when a time column was given, else ``"binary"``."""
        return "binary" if self.time is None else "time_to_event"

    def __repr__(self) -> str:
        """One line per part: patients, studies, outcome, treatment, covariates (the
        dataclass's own repr printed the whole frame and every array)."""
        labels = list(map(str, self.study_labels))
        shown = ", ".join(labels[:6]) + (f", ... ({len(labels)} in all)" if len(labels) > 6
                                         else "")
        outcome = (f"outcome {self.outcome!r} (binary, {int(self.y.sum())} events)"
                   if self.time is None else
                   f"event {self.outcome!r} and time {self.time!r} ({int(self.y.sum())} "
                   "events)")
        names = list(self.covariate_names)
        cov = ", ".join(names[:8]) + (f", ... ({len(names)} columns)" if len(names) > 8 else "")
        return (f"IPDData: {self.n_patients} patients in {self.n_studies} studies "
                f"({shown})\n  {outcome}; treatment {self.treatment!r}\n"
                f"  covariates [{cov}] (X: {self.X.shape[0]} x {self.X.shape[1]}, "
                f"centring {self.center or 'none'})")

    def study_table(self) -> pd.DataFrame:
        """Patients and events per study and arm.

        Returns
        -------
        pandas.DataFrame
            Index: the study labels, in order; columns ``n_control``, ``n_treated``
            (patients) and ``events_control``, ``events_treated``.
        """
        df = pd.DataFrame({"study": np.asarray(self.study_labels, dtype=object)[self.study_idx],
                           "arm": self.z, "y": self.y.astype("int64")})
        out = df.groupby(["study", "arm"], sort=False).agg(n=("y", "size"), events=("y", "sum"))
        out = out.unstack("arm")
        out.columns = [f"{a}_{'treated' if arm else 'control'}" for a, arm in out.columns]
        return out.reindex(list(self.study_labels))

    # ------------------------------------------------------------------ checks used by models
    def require_studies(self, minimum: int, *, model: str) -> None:
        """Raise :class:`DataError` when fewer than ``minimum`` studies are present.

        Parameters
        ----------
        minimum : int
            The number of studies the model needs
            (:data:`bayes_hte.options.MIN_STUDIES`).
        model : str
            The model's name, for the message (e.g. ``"random_intercept"``).

        Raises
        ------
        DataError
            The data have fewer than ``minimum`` studies.
        """
        if self.n_studies < minimum:
            raise DataError(
                f"the {model} model needs at least {minimum} studies but the data have "
                f"{self.n_studies} (study column {self.study!r}); use heterogeneity='naive' "
                "for a single trial"
            )

    def warn_studies_without_events(self, *, model: str, by_arm: bool = False) -> None:
        """Warn (``DataWarning``) about studies (or study arms) with no events, and, for a
        binary outcome, with only events.

        A stratified intercept is then identified by the prior only: with no events its
        log odds (or log hazard) runs to :math:`-\\infty`, with only events the log odds
        runs to :math:`+\\infty`. With event times, a study whose patients all had the
        event (no censoring) is informative and not warned about.

        Parameters
        ----------
        model : str
            The model's name, for the message.
        by_arm : bool
            Check each study arm (T-learner, one intercept per arm) rather than each
            study.

        Warns
        -----
        DataWarning
            Naming the studies (``['A', 'B']``) or study arms (``[('A', 'control')]``)
            with no events, and, separately, those with only events.
        """
        tab = self.study_table()
        arms = ("control", "treated")
        if by_arm:
            units = [((s, arm), tab.loc[s, f"events_{arm}"], tab.loc[s, f"n_{arm}"])
                     for s in tab.index for arm in arms]
            what = "study arms"
        else:
            units = [(s, sum(tab.loc[s, f"events_{a}"] for a in arms),
                      sum(tab.loc[s, f"n_{a}"] for a in arms)) for s in tab.index]
            what = "studies"
        none = [u for u, events, _ in units if events == 0]
        only = ([u for u, events, n in units if events == n]
                if self.outcome_type == "binary" else [])
        for bad, kind in ((none, "no events"), (only, "only events")):
            if bad:
                warnings.warn(
                    f"{model}: {what} with {kind} {bad}; their stratified intercepts are "
                    "identified by the prior only", DataWarning, stacklevel=3)

    # ------------------------------------------------------------------ new data
    def design(self, newdata: pd.DataFrame | None = None) -> np.ndarray:
        """Covariate matrix for ``newdata`` encoded (and centred) like the fitted data.

        ``newdata`` needs the covariate columns (and, with within-study centring, the
        study column with studies seen in the fit). ``None`` returns the fitted matrix.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            New patients, one per row.

        Returns
        -------
        ndarray of float, shape (len(newdata), p)
            Encoded with the fit's levels and centred with its centres (``X`` when
            ``newdata`` is ``None``).

        Raises
        ------
        DataError
            ``newdata`` is not a DataFrame, lacks a covariate (or the study column),
            has missing values, unknown levels or studies, or a non-numeric column
            where the fit had a numeric one.
        """
        if newdata is None:
            return self.X
        if not isinstance(newdata, pd.DataFrame):
            raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
        if len(newdata) == 0:
            raise DataError("newdata has no rows: give at least one patient to predict for")
        needed = [*self.covariates, *([self.study] if self.study is not None else [])]
        repeated = sorted({str(c) for c in newdata.columns[newdata.columns.duplicated()]
                           if c in needed})
        if repeated:
            raise DataError(f"newdata has the columns {repeated} more than once; which one "
                            "to use is ambiguous: keep one of each")
        for c in self.covariates:
            if c not in newdata.columns:
                raise DataError(f"newdata lacks covariate column {c!r}")
        cols = []
        for c in self.covariates:
            s = newdata[c]
            check_missing(newdata, c, "newdata covariate",
                          advice="impute or remove these rows: a prediction needs every "
                                 "covariate")
            if c in self.levels:
                lv = self.levels[c]
                unknown = ~s.isin(lv)
                if unknown.any():
                    raise DataError(f"newdata covariate {c!r} has unknown levels "
                                    f"{sorted(map(str, s[unknown].unique()))} at "
                                    f"{format_rows(newdata.index[unknown])}; known: {lv}")
                cols += [(s == level).to_numpy(dtype=float) for level in lv[1:]]
            else:
                if is_categorical(s):
                    raise DataError(f"newdata covariate {c!r} must be numeric as in the fit; "
                                    f"it holds text or categories, e.g. {s.iloc[0]!r} at "
                                    f"{format_rows(newdata.index[:1])}")
                v = real_column(newdata, c, "newdata covariate", allow_bool=True)
                check_finite(newdata, v, f"newdata covariate {c!r}")
                cols.append(v)
        X = np.column_stack(cols) if cols else np.zeros((len(newdata), 0))
        if self.center == "overall":
            X = X - self.centers
        elif self.center == "within_study":
            X = X - self.centers[self.study_index(newdata, why="within-study centring")]
        return X

    def study_index(self, newdata: pd.DataFrame | None = None, *,
                    why: str = "predictions in their own trials") -> np.ndarray:
        """Each row's trial, as the index of its label in :attr:`study_labels`.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows with the study column of the fit data; default the fit patients.
        why : str
            What needs the trials (for the messages).

        Returns
        -------
        numpy.ndarray of int, shape (n,)
            0 .. n_studies - 1.

        Raises
        ------
        DataError
            The data have no study column, ``newdata`` lacks it, or it holds trials not in
            the fit (named, with their rows).
        """
        if newdata is None:
            return np.asarray(self.study_idx, dtype=np.int64)
        if self.study is None:
            raise DataError(f"{why}: the fit data have no study column")
        if self.study not in newdata.columns:
            raise DataError(f"{why}: newdata needs the study column {self.study!r}")
        mapping = {lab: i for i, lab in enumerate(self.study_labels)}
        idx = newdata[self.study].map(mapping)
        if idx.isna().any():
            unseen = sorted(map(str, newdata.loc[idx.isna(), self.study].unique()))
            raise DataError(f"newdata has studies not seen in the fit, {unseen[:5]}, at "
                            f"{format_rows(newdata.index[idx.isna()])}; {why} needs known "
                            f"studies ({list(self.study_labels)})")
        return idx.to_numpy(dtype=np.int64)

    def subset(self, mask: np.ndarray) -> IPDData:
        """The same container restricted to rows where ``mask`` is true (levels kept).

        Parameters
        ----------
        mask : ndarray of bool, shape (n,)
            Rows (patients) to keep.

        Returns
        -------
        IPDData
            Rebuilt from the kept rows with the same roles, centring and levels
            (constant covariates allowed). Centres are recomputed on the subset.

        Raises
        ------
        DataError
            The subset fails validation (e.g. a trial left with a single arm).
        """
        return IPDData.from_frame(
            self.frame.loc[np.asarray(mask, dtype=bool)], outcome=self.outcome,
            treatment=self.treatment, study=self.study, covariates=self.covariates,
            time=self.time, center=self.center, levels=self.levels,
            allow_constant_covariates=True,
        )

    # ------------------------------------------------------------------ serialisation
    def config(self) -> dict:
        """The arguments that rebuild this container from :attr:`frame`.

        Returns
        -------
        dict
            JSON-serialisable keywords of :meth:`from_frame`: ``outcome``,
            ``treatment``, ``study``, ``covariates``, ``time``, ``center``, ``levels``.
        """
        return {"outcome": self.outcome, "treatment": self.treatment, "study": self.study,
                "covariates": list(self.covariates), "time": self.time, "center": self.center,
                "levels": {k: [str(v) if not isinstance(v, int | float) else v for v in lv]
                           for k, lv in self.levels.items()}}

    def to_dataset(self) -> xr.Dataset:
        """The original frame as an ``xarray.Dataset`` (dim ``patient``) with the config.

        Returns
        -------
        xarray.Dataset
            One variable per column of :attr:`frame` (dim ``patient``; categorical
            columns as text); attrs ``ipd_config`` (:meth:`config`, JSON) and
            ``column_dtypes`` (JSON).
        """
        frame = self.frame.reset_index(drop=True)
        data_vars = {}
        for c in frame.columns:
            s = frame[c]
            values = s.to_numpy(dtype=str) if is_categorical(s) else s.to_numpy()
            data_vars[str(c)] = ("patient", values)
        ds = xr.Dataset(data_vars, coords={"patient": np.arange(len(frame))})
        ds.attrs["ipd_config"] = json.dumps(self.config())
        ds.attrs["column_dtypes"] = json.dumps({str(c): str(frame[c].dtype) for c in frame})
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> IPDData:
        """Inverse of :meth:`to_dataset`.

        Parameters
        ----------
        ds : xarray.Dataset
            Written by :meth:`to_dataset`.

        Returns
        -------
        IPDData
            Rebuilt (and re-validated) from the stored columns and config.
        """
        cfg = json.loads(ds.attrs["ipd_config"])
        frame = pd.DataFrame({k: ds[k].values for k in ds.data_vars})
        return cls.from_frame(frame, **cfg)
