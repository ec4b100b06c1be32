"""Individual participant data (IPD) from one or several randomized trials."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.errors import DataError, DataWarning, format_rows

Centering = Literal["overall", "within_study"] | None

SINGLE_STUDY_LABEL = "trial"


def _check_columns(df: pd.DataFrame, names: dict[str, str | None]) -> None:
    for role, col in names.items():
        if col is not None and col not in df.columns:
            raise DataError(
                f"{role} column {col!r} is not in the data frame; "
                f"available columns: {list(map(str, df.columns))}"
            )


def _check_missing(df: pd.DataFrame, col: str, role: str) -> None:
    missing = df[col].isna()
    if missing.any():
        raise DataError(
            f"{role} column {col!r} has missing values at {format_rows(df.index[missing])}; "
            "impute or remove these rows before building the data container"
        )


def _binary(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    """Validate a 0/1 column (bool allowed) and return it as int8."""
    s = df[col]
    _check_missing(df, col, role)
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.int8)
    if not pd.api.types.is_numeric_dtype(s):
        raise DataError(
            f"{role} column {col!r} must be coded 0/1 (or bool) but has dtype {s.dtype} "
            f"with values {sorted(map(str, s.unique()))[:5]}; recode it as 0/1"
        )
    bad = ~s.isin([0, 1])
    if bad.any():
        vals = sorted(set(s[bad].tolist()))[:5]
        raise DataError(
            f"{role} column {col!r} must be 0/1 but has values {vals} at "
            f"{format_rows(df.index[bad])}"
        )
    return s.to_numpy().astype(np.int8)


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _levels_of(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    return sorted(s.unique().tolist(), key=str)


@dataclass(frozen=True, eq=False)
class IPDData:
    """Validated, encoded individual participant data.

    Build it with :meth:`IPDData.from_frame`; the attributes below are read-only.

    Attributes
    ----------
    frame : pandas.DataFrame
        A copy of the original frame (all columns), kept for ``newdata`` predictions,
        subgroup summaries and saving with the posterior.
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
    """

    frame: pd.DataFrame
    outcome: str
    treatment: str
    study: str | None
    covariates: tuple[str, ...]
    time: str | None
    center: Centering
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
        center: Centering = None,
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

        Raises
        ------
        DataError
            Unknown column, missing values, non-binary outcome or treatment, a trial
            with a single arm, no events at all, a constant covariate, negative or
            non-finite times.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if df.shape[0] == 0:
            raise DataError("the data frame has no rows")
        covariates = tuple(covariates) if not isinstance(covariates, str) else (covariates,)
        _check_columns(
            df, {"outcome": outcome, "treatment": treatment, "study": study, "time": time}
        )
        for c in covariates:
            _check_columns(df, {"covariate": c})
        roles = [outcome, treatment, study, time]
        for c in covariates:
            if c in roles:
                raise DataError(f"column {c!r} is used both as a covariate and as outcome/"
                                "treatment/study/time; a column can have one role only")
        if len(set(covariates)) != len(covariates):
            raise DataError(f"covariates {list(covariates)} contain duplicates")
        used = [r for r in roles if r is not None]
        if len(set(used)) != len(used):
            raise DataError(f"outcome/treatment/study/time columns must differ, got {used}")
        if center not in (None, "overall", "within_study"):
            raise DataError(f"center must be None, 'overall' or 'within_study', got {center!r}")
        if center == "within_study" and study is None:
            raise DataError("center='within_study' needs a study column")

        frame = df.copy()
        y = _binary(frame, outcome, "outcome" if time is None else "event indicator")
        z = _binary(frame, treatment, "treatment")

        # study ---------------------------------------------------------------
        if study is None:
            study_idx = np.zeros(len(frame), dtype=np.int64)
            study_labels: tuple = (SINGLE_STUDY_LABEL,)
        else:
            _check_missing(frame, study, "study")
            labels = _levels_of(frame[study])
            mapping = {lab: i for i, lab in enumerate(labels)}
            study_idx = frame[study].map(mapping).to_numpy(dtype=np.int64)
            study_labels = tuple(labels)

        # time ----------------------------------------------------------------
        t = None
        if time is not None:
            _check_missing(frame, time, "time")
            if not pd.api.types.is_numeric_dtype(frame[time]):
                raise DataError(f"time column {time!r} must be numeric, has dtype "
                                f"{frame[time].dtype}")
            t = frame[time].to_numpy(dtype=float)
            bad = ~np.isfinite(t) | (t < 0)
            if bad.any():
                raise DataError(
                    f"time column {time!r} must be finite and >= 0; bad values at "
                    f"{format_rows(frame.index[bad])}"
                )

        # arms and events -------------------------------------------------------
        for j, lab in enumerate(study_labels):
            arms = set(z[study_idx == j].tolist())
            if arms != {0, 1}:
                only = "treated" if arms == {1} else "control"
                where = f"study {lab!r}" if study is not None else "the trial"
                raise DataError(
                    f"{where} has only {only} patients (treatment column {treatment!r}); "
                    "every trial needs both arms for a treatment-effect analysis"
                )
        if y.sum() == 0:
            raise DataError(f"outcome column {outcome!r} has no events (all 0)")
        if time is not None:
            for arm in (0, 1):
                if y[z == arm].sum() == 0:
                    raise DataError(
                        f"the {'treated' if arm else 'control'} arm has no events "
                        f"(event column {outcome!r}); a time-to-event model needs at least "
                        "one event per arm"
                    )

        # covariates --------------------------------------------------------------
        levels = dict(levels or {})
        cols: list[np.ndarray] = []
        names: list[str] = []
        for c in covariates:
            s = frame[c]
            _check_missing(frame, c, "covariate")
            if _is_categorical(s):
                lv = levels.get(c) or _levels_of(s)
                unknown = ~s.isin(lv)
                if unknown.any():
                    raise DataError(
                        f"covariate {c!r} has levels {sorted(map(str, s[unknown].unique()))} "
                        f"at {format_rows(frame.index[unknown])} that the model does not "
                        f"know (known levels: {lv})"
                    )
                if len(lv) < 2 and not allow_constant_covariates:
                    raise DataError(f"covariate {c!r} is constant (single level {lv[0]!r}); "
                                    "remove it from the covariates")
                levels[c] = lv
                for level in lv[1:]:
                    cols.append((s == level).to_numpy(dtype=float))
                    names.append(f"{c}[{level}]")
            else:
                v = s.to_numpy(dtype=float)
                bad = ~np.isfinite(v)
                if bad.any():
                    raise DataError(f"covariate {c!r} has non-finite values at "
                                    f"{format_rows(frame.index[bad])}")
                if np.ptp(v) == 0 and not allow_constant_covariates:
                    raise DataError(f"covariate {c!r} is constant (every value is {v[0]:g}); "
                                    "remove it from the covariates")
                cols.append(v)
                names.append(str(c))
        X = np.column_stack(cols) if cols else np.zeros((len(frame), 0))

        centers = None
        if center == "overall":
            centers = X.mean(axis=0)
            X = X - centers
        elif center == "within_study":
            centers = np.vstack([X[study_idx == j].mean(axis=0)
                                 for j in range(len(study_labels))])
            X = X - centers[study_idx]

        return cls(
            frame=frame, outcome=outcome, treatment=treatment, study=study,
            covariates=covariates, time=time, center=center, y=y, z=z, X=X, t=t,
            study_idx=study_idx, study_labels=study_labels, covariate_names=tuple(names),
            levels=levels, centers=centers,
        )

    # ------------------------------------------------------------------ properties
    @property
    def n_patients(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_studies(self) -> int:
        return len(self.study_labels)

    @property
    def n_covariates(self) -> int:
        return int(self.X.shape[1])

    @property
    def outcome_type(self) -> Literal["binary", "time_to_event"]:
        return "binary" if self.time is None else "time_to_event"

    def study_table(self) -> pd.DataFrame:
        """Patients and events per study and arm."""
        df = pd.DataFrame({"study": np.asarray(self.study_labels, dtype=object)[self.study_idx],
                           "arm": self.z, "y": self.y})
        out = df.groupby(["study", "arm"], sort=False).agg(n=("y", "size"), events=("y", "sum"))
        out = out.unstack("arm")
        out.columns = [f"{a}_{'treated' if arm else 'control'}" for a, arm in out.columns]
        return out.reindex(list(self.study_labels))

    # ------------------------------------------------------------------ checks used by models
    def require_studies(self, minimum: int, *, model: str) -> None:
        """Raise :class:`DataError` when fewer than ``minimum`` studies are present."""
        if self.n_studies < minimum:
            raise DataError(
                f"the {model} model needs at least {minimum} studies but the data have "
                f"{self.n_studies} (study column {self.study!r}); use heterogeneity='naive' "
                "for a single trial"
            )

    def warn_studies_without_events(self, *, model: str, by_arm: bool = False) -> None:
        """Warn (``DataWarning``) about studies (or study arms) with no events."""
        tab = self.study_table()
        if by_arm:
            cols = [c for c in tab.columns if c.startswith("events_")]
            empty = [(s, c.removeprefix("events_")) for s in tab.index for c in cols
                     if tab.loc[s, c] == 0]
            if empty:
                warnings.warn(
                    f"{model}: study arms with no events {empty}; their stratified "
                    "intercepts are identified by the prior only", DataWarning, stacklevel=3)
        else:
            empty = [s for s in tab.index if tab.loc[s, ["events_control", "events_treated"]]
                     .sum() == 0]
            if empty:
                warnings.warn(
                    f"{model}: studies with no events {empty}; their stratified intercepts "
                    "are identified by the prior only", DataWarning, stacklevel=3)

    # ------------------------------------------------------------------ new data
    def design(self, newdata: pd.DataFrame | None = None) -> np.ndarray:
        """Covariate matrix for ``newdata`` encoded (and centred) like the fitted data.

        ``newdata`` needs the covariate columns (and, with within-study centring, the
        study column with studies seen in the fit). ``None`` returns the fitted matrix.
        """
        if newdata is None:
            return self.X
        if not isinstance(newdata, pd.DataFrame):
            raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
        for c in self.covariates:
            if c not in newdata.columns:
                raise DataError(f"newdata lacks covariate column {c!r}")
        cols = []
        for c in self.covariates:
            s = newdata[c]
            _check_missing(newdata, c, "covariate")
            if c in self.levels:
                lv = self.levels[c]
                unknown = ~s.isin(lv)
                if unknown.any():
                    raise DataError(f"newdata covariate {c!r} has unknown levels "
                                    f"{sorted(map(str, s[unknown].unique()))} at "
                                    f"{format_rows(newdata.index[unknown])}; known: {lv}")
                cols += [(s == level).to_numpy(dtype=float) for level in lv[1:]]
            else:
                if _is_categorical(s):
                    raise DataError(f"newdata covariate {c!r} must be numeric as in the fit")
                cols.append(s.to_numpy(dtype=float))
        X = np.column_stack(cols) if cols else np.zeros((len(newdata), 0))
        if self.center == "overall":
            X = X - self.centers
        elif self.center == "within_study":
            if self.study not in newdata.columns:
                raise DataError(f"covariates were centred within study: newdata needs the "
                                f"study column {self.study!r}")
            mapping = {lab: i for i, lab in enumerate(self.study_labels)}
            idx = newdata[self.study].map(mapping)
            if idx.isna().any():
                raise DataError(f"newdata has studies not seen in the fit at "
                                f"{format_rows(newdata.index[idx.isna()])}; within-study "
                                "centring needs known studies")
            X = X - self.centers[idx.to_numpy(dtype=np.int64)]
        return X

    def subset(self, mask: np.ndarray) -> IPDData:
        """The same container restricted to rows where ``mask`` is true (levels kept)."""
        return IPDData.from_frame(
            self.frame.loc[np.asarray(mask, dtype=bool)], outcome=self.outcome,
            treatment=self.treatment, study=self.study, covariates=self.covariates,
            time=self.time, center=self.center, levels=self.levels,
            allow_constant_covariates=True,
        )

    # ------------------------------------------------------------------ serialisation
    def config(self) -> dict:
        """The arguments that rebuild this container from :attr:`frame`."""
        return {"outcome": self.outcome, "treatment": self.treatment, "study": self.study,
                "covariates": list(self.covariates), "time": self.time, "center": self.center,
                "levels": {k: [str(v) if not isinstance(v, int | float) else v for v in lv]
                           for k, lv in self.levels.items()}}

    def to_dataset(self) -> xr.Dataset:
        """The original frame as an ``xarray.Dataset`` (dim ``patient``) with the config."""
        frame = self.frame.reset_index(drop=True)
        data_vars = {}
        for c in frame.columns:
            s = frame[c]
            values = s.to_numpy(dtype=str) if _is_categorical(s) else s.to_numpy()
            data_vars[str(c)] = ("patient", values)
        ds = xr.Dataset(data_vars, coords={"patient": np.arange(len(frame))})
        ds.attrs["ipd_config"] = json.dumps(self.config())
        ds.attrs["column_dtypes"] = json.dumps({str(c): str(frame[c].dtype) for c in frame})
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> IPDData:
        """Inverse of :meth:`to_dataset`."""
        cfg = json.loads(ds.attrs["ipd_config"])
        frame = pd.DataFrame({k: ds[k].values for k in ds.data_vars})
        return cls.from_frame(frame, **cfg)
