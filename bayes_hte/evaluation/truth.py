r"""Estimated treatment effects against a simulation's truth (Tzimas 2024, Table 7).

For posterior-mean estimates :math:`\hat\theta_i`, true effects :math:`\theta_i` and
equal-tailed intervals :math:`[l_i, u_i]` over :math:`i = 1..n` patients:

.. math::

    r = \mathrm{cor}(\hat\theta, \theta), \quad
    \mathrm{RMSE} = \sqrt{\tfrac1n \textstyle\sum_i (\hat\theta_i - \theta_i)^2}, \quad
    \mathrm{MAE} = \tfrac1n \textstyle\sum_i |\hat\theta_i - \theta_i|, \quad
    \mathrm{coverage} = \tfrac1n \textstyle\sum_i 1\{l_i \le \theta_i \le u_i\},

plus the mean error (``bias``) and the mean interval width. :func:`accuracy_metrics`
is the NumPy core (vectorised over trailing replicate axes);
:func:`cate_accuracy` applies it to posterior draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.data.numbers import real_numbers
from bayes_hte.errors import DataError

METRICS = ("correlation", "rmse", "mae", "bias", "coverage", "mean_width")


def _as_float(values, name: str) -> np.ndarray:
    """``values`` (n, ...) as floats: text (even ``"0.1"``), bools, complex numbers and
    non-finite values are DataErrors naming the patient (axis 0)."""
    arr = real_numbers(values, name, place=lambda w: f" at patient {w[0]}" + (
        f", replicate {w[1:]}" if len(w) > 1 else ""))
    if arr.ndim == 0:
        raise DataError(f"{name} must have one value per patient, got a scalar")
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))
        raise DataError(f"{name} has missing or non-finite values at patients "
                        f"{bad[:5].tolist()}; the truth and the estimates must be complete")
    return arr


def accuracy_metrics(estimate: ArrayLike, truth: ArrayLike, *, lower: ArrayLike | None = None,
                     upper: ArrayLike | None = None) -> dict[str, float | np.ndarray]:
    r"""Correlation, RMSE, MAE, bias and (with ``lower``/``upper``) interval coverage and
    mean width.

    The NumPy core of the module's metrics (formulas in the module docstring), as in
    Tzimas (2024, Table 7): with errors :math:`e_i = \hat\theta_i - \theta_i`,
    ``bias`` :math:`= \frac1n \sum_i e_i` (positive = overestimation) and
    ``mean_width`` :math:`= \frac1n \sum_i (u_i - l_i)`. Every metric is on the scale
    of the inputs (``correlation`` and ``coverage`` are unit-free).

    Parameters
    ----------
    estimate, truth : array_like, shape (n, ...)
        Point estimates and true values; axis 0 is the patient, trailing axes are
        replicates (e.g. simulated data sets), each scored separately.
    lower, upper : array_like, shape (n, ...), optional
        Interval bounds (e.g. equal-tailed credible interval), same scale; give both or
        neither.

    Returns
    -------
    dict
        ``correlation``, ``rmse``, ``mae``, ``bias`` (and ``coverage``, ``mean_width``),
        each an array of the trailing shape (a float for one replicate).

    Raises
    ------
    DataError
        Values that are not real numbers (text such as ``"0.1"``, bools), shapes that
        differ, fewer than 3 patients, non-finite values, a constant estimate or truth
        (correlation undefined), or ``lower > upper``.
    """
    est = _as_float(estimate, "estimate")
    tru = _as_float(truth, "truth")
    if est.shape != tru.shape:
        raise DataError(f"estimate has shape {est.shape} but truth has {tru.shape}; give one "
                        "value per patient for both")
    if est.shape[0] < 3:
        raise DataError(f"need at least 3 patients to score estimates, got {est.shape[0]}")
    for name, arr in (("estimate", est), ("truth", tru)):
        if (np.ptp(arr, axis=0) == 0).any():
            raise DataError(f"{name} is constant over the patients; the correlation with the "
                            "other is undefined")
    err = est - tru
    ec, tc = est - est.mean(axis=0), tru - tru.mean(axis=0)
    out = {
        "correlation": (ec * tc).sum(0) / np.sqrt((ec**2).sum(0) * (tc**2).sum(0)),
        "rmse": np.sqrt((err**2).mean(axis=0)),
        "mae": np.abs(err).mean(axis=0),
        "bias": err.mean(axis=0),
    }
    if (lower is None) != (upper is None):
        raise DataError("give both lower and upper interval bounds, or neither")
    if lower is not None:
        lo, hi = _as_float(lower, "lower"), _as_float(upper, "upper")
        if lo.shape != est.shape or hi.shape != est.shape:
            raise DataError(f"interval bounds have shapes {lo.shape}, {hi.shape}; expected "
                            f"{est.shape}")
        if (lo > hi).any():
            raise DataError(f"lower > upper at patients "
                            f"{np.flatnonzero((lo > hi).reshape(lo.shape[0], -1).any(1))[:5]}")
        out["coverage"] = ((tru >= lo) & (tru <= hi)).mean(axis=0)
        out["mean_width"] = (hi - lo).mean(axis=0)
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


def cate_accuracy(values: xr.DataArray, truth: ArrayLike, *, ci_prob: float = 0.95,
                  dim: str = "patient") -> pd.Series:
    """Score posterior draws of per-patient effects against the truth (the paper's Table 7).

    The xarray face of :func:`accuracy_metrics`: the point estimate is the posterior
    mean over (chain, draw) and the intervals are the equal-tailed ``ci_prob``
    quantiles, per patient (Tzimas 2024, Table 7).

    Parameters
    ----------
    values : xarray.DataArray
        Draws with dims (chain, draw, ``dim``), e.g. ``sg.cate_logit()``.
    truth : array_like
        True effect per patient on the same scale (e.g. ``sim.true_te``).
    ci_prob : float
        Probability of the equal-tailed intervals whose coverage is reported.
    dim : str
        Name of the patient dim of ``values``.

    Returns
    -------
    pandas.Series
        ``correlation``, ``rmse``, ``mae``, ``bias``, ``coverage``, ``mean_width``
        (point estimate = posterior mean), on the scale of ``values``;
        ``attrs["ci_prob"]`` records the interval probability.

    Raises
    ------
    DataError
        ``values`` not a DataArray of real numbers or without the dims (chain, draw,
        ``dim``), ``truth`` not real numbers (text, bools) or not of length
        ``values.sizes[dim]``, or the failures of :func:`accuracy_metrics`.
    ValueError
        ``ci_prob`` not in (0, 1).
    """
    if not isinstance(values, xr.DataArray):
        raise DataError(f"values must be an xarray.DataArray of draws, got "
                        f"{type(values).__name__}")
    missing = {"chain", "draw", dim} - set(values.dims)
    if missing:
        raise DataError(f"values lack dims {sorted(missing)}; expected (chain, draw, {dim})")
    if values.dtype.kind not in "iuf":
        raise DataError(f"values must be draws of real numbers, got dtype {values.dtype}")
    check_ci_prob(ci_prob, error=ValueError)
    truth = _as_float(truth, "truth")
    if truth.shape != (values.sizes[dim],):
        raise DataError(f"truth has shape {truth.shape} but values have {values.sizes[dim]} "
                        f"entries along {dim!r}")
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    q = values.quantile([lo, hi], dim=["chain", "draw"]).transpose("quantile", dim).values
    est = values.mean(["chain", "draw"]).transpose(dim).values
    res = accuracy_metrics(est, truth, lower=q[0], upper=q[1])
    out = pd.Series({k: res[k] for k in METRICS}, name="value")
    out.attrs["ci_prob"] = ci_prob
    return out
