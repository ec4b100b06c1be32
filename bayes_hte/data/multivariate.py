r"""Coefficient vectors of a multivariate meta-analysis: validation of the study inputs.

Each study :math:`i` reports estimates :math:`\hat\beta_i` of some of ``p`` coefficients
and their within-study covariance :math:`S_i` (e.g. step 1 of the two-step IPD-MA of
longitudinal trials). :func:`validate_multivariate` checks them for the frequentist
:func:`bayes_hte.comparators.mvmeta` and the Bayesian
:func:`bayes_hte.models.synthesis_multivariate.build_mvmeta_model`, allowing missing
components (NaN) and naming the studies at fault by label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.data.checks import name_studies
from bayes_hte.data.numbers import real_numbers
from bayes_hte.errors import DataError

__all__ = ["multivariate_inputs", "validate_multivariate"]


def _numbers(values, what: str, labels: Sequence[str] | None,
             names: Sequence[str] | None) -> np.ndarray:
    """Float copy of ``values`` (studies by coefficients); text (even ``"0.4"``), booleans
    and other objects are refused, naming the study and the coefficient."""
    def place(w: tuple[int, ...]) -> str:
        study = labels[w[0]] if labels is not None else str(w[0] + 1)
        coef = (f", coefficient {names[w[1]]!r}" if names is not None and len(w) > 1
                and w[1] < len(names) else "")
        return f" in study {study!r}{coef}"
    return real_numbers(values, what, place=place,
                      note="; NaN marks a component a study does not report")


def _block(values, what: str, names: Sequence[str] | None) -> np.ndarray:
    """Float copy of one study's covariance block, refusing text and bools by row and
    column (their coefficients when named)."""
    def place(w: tuple[int, ...]) -> str:
        if names is not None and len(w) == 2 and max(w) < len(names):
            return f" at ({names[w[0]]!r}, {names[w[1]]!r})"
        return f" at {w}"
    return real_numbers(values, what, place=place)


def _unique(labels: Sequence[str], what: str) -> None:
    seen = pd.Index(labels)
    if seen.has_duplicates:
        dup = sorted(set(seen[seen.duplicated()].astype(str)))
        raise DataError(f"{what} are repeated: {dup}; give each study one row")


def _agree(given: Sequence | None, frame_labels: Sequence, what: str, where: str) -> None:
    if given is not None and [str(g) for g in given] != [str(f) for f in frame_labels]:
        raise DataError(f"{what}={[str(g) for g in given]} differ from the {where} of "
                        f"estimates {[str(f) for f in frame_labels]}; the {where} label the "
                        f"estimates: rename them instead of passing {what}")


def _aligned_covariances(covariances, labels: Sequence[str], names: Sequence[str] | None,
                         p: int) -> np.ndarray:
    """Covariances given by study label (a Mapping, or a DataArray with coordinates on
    its first dimension), in the order of ``labels``; per-study DataFrames (or the
    DataArray's other two dimensions) aligned to the coefficient ``names``."""
    if isinstance(covariances, xr.DataArray):
        if covariances.ndim != 3:
            raise DataError(f"covariances as a DataArray need 3 dimensions (study, coef, "
                            f"coef_), got {covariances.dims}")
        d0, d1, d2 = covariances.dims
        keys = [str(x) for x in covariances[d0].values]
        items = {}
        for i, key in enumerate(keys):
            block = covariances.isel({d0: i})
            if names is not None and d1 in block.coords and d2 in block.coords:
                block = pd.DataFrame(block.values, index=[str(x) for x in block[d1].values],
                                     columns=[str(x) for x in block[d2].values])
            else:
                block = block.values
            items[key] = block
        _unique(keys, "covariances' study labels")
    else:
        items = {str(k): v for k, v in covariances.items()}
        if len(items) != len(covariances):
            raise DataError("covariances has study labels that are equal as text")
    missing = [lab for lab in labels if lab not in items]
    extra = [key for key in items if key not in set(labels)]
    if missing or extra:
        parts = ([f"no covariance for studies {missing}"] if missing else []) + (
            [f"covariances of studies not in the estimates: {extra}"] if extra else [])
        raise DataError(f"covariances are labelled by study: {'; '.join(parts)}")
    out = np.empty((len(labels), p, p))
    for i, lab in enumerate(labels):
        block = items[lab]
        if isinstance(block, pd.DataFrame):
            rows, cols = [str(x) for x in block.index], [str(x) for x in block.columns]
            if names is None or sorted(rows) != sorted(names) or sorted(cols) != sorted(names):
                raise DataError(f"the covariance of study {lab!r} is labelled {rows} x "
                                f"{cols}; the coefficients are {list(names or [])}")
            block = block.set_axis(rows, axis=0).set_axis(cols, axis=1).loc[
                list(names), list(names)]
        arr = _block(block, f"the covariance of study {lab!r}", names)
        if arr.shape != (p, p):
            raise DataError(f"the covariance of study {lab!r} has shape {arr.shape}, "
                            f"expected ({p}, {p})")
        out[i] = arr
    return out


def multivariate_inputs(estimates: pd.DataFrame | np.ndarray | Sequence,
                        covariances: np.ndarray | Sequence | Mapping | xr.DataArray, *,
                        names: Sequence | None = None,
                        study_labels: Sequence | None = None
                        ) -> tuple[np.ndarray, np.ndarray, tuple | None, tuple | None]:
    r"""The estimates and covariances of a multivariate meta-analysis as float arrays,
    matched by label where they carry labels (the entry point of
    :func:`bayes_hte.comparators.mvmeta` and :class:`bayes_hte.MultivariateMetaModel`).

    Parameters
    ----------
    estimates : pandas.DataFrame (k, p) or array_like (k, p) or (k, p, R)
        Study estimates; a DataFrame's index labels the studies and its columns the
        coefficients. NaN marks a component a study does not report.
    covariances : array_like (k, p, p) or (k, p, p, R), Mapping or xarray.DataArray
        Within-study covariances: by position (the rows of ``estimates``), or by study
        label — a mapping ``{label: (p, p) array or DataFrame}`` or a DataArray whose
        first dimension has the study labels as coordinates (e.g.
        :meth:`bayes_hte.comparators.mixed.PerTrialMixedModels.covariance_array`); a
        DataFrame's (or the DataArray's) row and column labels are matched to the
        coefficient names.
    names, study_labels : sequence, optional
        Coefficient names and study labels; with a DataFrame they must equal its
        columns and index (they label the estimates).

    Returns
    -------
    (ndarray, ndarray, tuple or None, tuple or None)
        Float copies of the estimates and covariances (the covariances in the order of
        the estimates' studies), and the coefficient names and study labels as text
        (None where neither the input nor the arguments give them).

    Raises
    ------
    DataError
        Text (even ``"0.4"``), booleans or other objects among the numbers, repeated
        study labels, ``names`` / ``study_labels`` that contradict a DataFrame's labels,
        labelled covariances missing a study of the estimates (or holding others), a
        study's covariance labelled with other coefficients or of the wrong shape.
    """
    if isinstance(estimates, pd.DataFrame):
        _agree(names, estimates.columns, "names", "columns")
        _agree(study_labels, estimates.index, "study_labels", "index (rows)")
        names, study_labels = list(estimates.columns), list(estimates.index)
    labels = None if study_labels is None else tuple(str(s) for s in study_labels)
    coefs = None if names is None else tuple(str(n) for n in names)
    if labels is not None:
        _unique(labels, "study labels")
    y = _numbers(estimates, "estimates", labels, coefs)
    if isinstance(covariances, Mapping | xr.DataArray):
        if y.ndim != 2:
            raise DataError("labelled covariances (a mapping or DataArray) need estimates "
                            "of shape (k, p), without a replicate axis")
        if labels is None:
            raise DataError("covariances are labelled by study, the estimates are not: "
                            "pass the estimates as a DataFrame indexed by study, or "
                            "study_labels")
        S = _aligned_covariances(covariances, labels, coefs, y.shape[1])
    else:
        S = _numbers(covariances, "covariances", labels, None)
    return y, S, coefs, labels


def validate_multivariate(estimates: np.ndarray | Sequence,
                          covariances: np.ndarray | Sequence, *,
                          study_labels: Sequence | None = None,
                          names: Sequence | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    r"""Validate the study estimates and within-study covariances of a multivariate
    meta-analysis (Jackson, Riley & White 2011), allowing missing components.

    Parameters
    ----------
    estimates : array_like, shape (k, p) or (k, p, R)
        Estimates :math:`\hat\beta_i` of ``k`` studies and ``p`` coefficients (trailing
        replicate axis optional); NaN marks a component a study does not report.
    covariances : array_like, shape (k, p, p) or (k, p, p, R)
        Within-study covariances :math:`S_i`; entries of unreported components are
        ignored (may be NaN).
    study_labels : sequence, optional
        One label per study, used to name the studies at fault in the messages;
        default: the positions ``1`` ... ``k``.
    names : sequence, optional
        One name per coefficient (column of ``estimates``), used to name the
        coefficients at fault; default (or when it does not have ``p`` entries, which
        the caller reports): the column indices ``0`` ... ``p-1``.

    Returns
    -------
    (ndarray, ndarray)
        Copies of shape (k, p, R) and (k, p, p, R) (``R = 1`` when there was no
        replicate axis).

    Raises
    ------
    DataError
        Wrong dimensions or mismatched shapes, a number of labels other than ``k``,
        infinite estimates, a study reporting no component, a coefficient no study
        reports, or covariances of the reported components that are not finite, not
        symmetric or not positive definite (the message names the studies by label,
        and the replicate).
    """
    y = np.array(estimates, dtype=float, copy=True)
    S = np.array(covariances, dtype=float, copy=True)
    if y.ndim == 1:
        raise DataError("estimates must be 2-dimensional (studies x coefficients); for a "
                        "single coefficient pass shape (k, 1)")
    if y.ndim not in (2, 3):
        raise DataError(f"estimates must have shape (k, p) or (k, p, R), got {y.shape}")
    k, p = y.shape[:2]
    want = (k, p, p) + y.shape[2:]
    if S.shape != want:
        raise DataError(f"covariances must have shape {want} to match estimates {y.shape}, "
                        f"got {S.shape}")
    # default labels: positions from 1, as meta_analysis and EffectTable label studies
    labels = [str(s) for s in (study_labels if study_labels is not None else range(1, k + 1))]
    if len(labels) != k:
        raise DataError(f"study_labels has {len(labels)} entries for {k} studies; give one "
                        "label per study (row of estimates)")
    # the callers check the number of names (with their own messages)
    coefs = ([str(c) for c in names] if names is not None and len(names) == p else None)
    if y.ndim == 2:
        y, S = y[..., None], S[..., None]
    if np.isinf(y).any():
        raise DataError(f"estimates are infinite in "
                        f"{name_studies(labels, np.isinf(y).any(axis=(1, 2)))}; use NaN "
                        "for a component a study does not report")
    for r in range(y.shape[-1]):
        o = np.isfinite(y[..., r])
        tag = f" (replicate {r})" if y.shape[-1] > 1 else ""
        empty = ~o.any(axis=1)
        if empty.any():
            raise DataError(f"no component is reported in {name_studies(labels, empty)}"
                            f"{tag}; remove the studies without estimates")
        none = np.flatnonzero(~o.any(axis=0))
        if none.size:
            which = ([coefs[j] for j in none] if coefs is not None
                     else f"(columns) {none.tolist()}")
            raise DataError(f"coefficients {which} are missing in every study{tag}; drop "
                            "them from the analysis")
        mask = o[:, :, None] & o[:, None, :]
        Sr = S[..., r]
        bad = (~np.isfinite(Sr) & mask).any(axis=(1, 2))
        if bad.any():
            raise DataError(f"covariances are not finite for the reported components in "
                            f"{name_studies(labels, bad)}{tag}")
        S0 = np.where(mask, np.nan_to_num(Sr), 0.0)
        asym = np.abs(S0 - S0.transpose(0, 2, 1)).max(axis=(1, 2)) > 1e-8 * (
            1.0 + np.abs(S0).max(axis=(1, 2)))
        if asym.any():
            raise DataError(f"covariance matrices are not symmetric in "
                            f"{name_studies(labels, asym)}{tag}")
        padded = S0 + np.eye(p)[None] * (~o)[:, :, None]
        eig = np.linalg.eigvalsh(padded)
        notpd = eig.min(axis=1) <= 0
        if notpd.any():
            raise DataError(f"covariance matrices are not positive definite on the reported "
                            f"components in {name_studies(labels, notpd)}{tag}")
    return y, S
