r"""Coefficient vectors of a multivariate meta-analysis: validation of the study inputs.

Each study :math:`i` reports estimates :math:`\hat\beta_i` of some of ``p`` coefficients
and their within-study covariance :math:`S_i` (e.g. step 1 of the two-step IPD-MA of
longitudinal trials). :func:`validate_multivariate` checks them for the frequentist
:func:`bayes_hte.comparators.mvmeta` and the Bayesian
:func:`bayes_hte.models.synthesis_multivariate.build_mvmeta_model`, allowing missing
components (NaN) and naming the studies at fault by label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayes_hte.data.checks import name_studies
from bayes_hte.errors import DataError

__all__ = ["validate_multivariate"]


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
        default: the row indices ``0`` ... ``k-1``.
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
    labels = [str(s) for s in (study_labels if study_labels is not None else range(k))]
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
