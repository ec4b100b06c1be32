r"""Intercept recalibration of predicted log-odds in a new trial (numpy only).

Used by internal–external cross-validation (:mod:`bayes_hte.workflows.iecv`): the
baseline risk of a held-out trial is re-estimated with the model's linear predictor as an
offset, one shift per posterior draw (Bouvier et al. 2024, "Model validation"; Debray et
al. 2013).

References
----------
Bouvier F, et al. (2024). Estimating individualized treatment effects using an
individual participant data meta-analysis. BMC Med Res Methodol.

Debray TPA, Moons KGM, Ahmed I, Koffijberg H, Riley RD (2013). A framework for
developing, implementing, and evaluating clinical prediction models in an individual
participant data meta-analysis. Stat Med 32:3158-3180.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

from bayes_hte.errors import DataError
from bayes_hte.evaluation._inputs import as_rows, binary_vector
from bayes_hte.options import check_count, check_real

__all__ = ["recalibrate_intercept"]


def recalibrate_intercept(offset: ArrayLike, y: ArrayLike, *, max_iter: int = 100,
                          tol: float = 1e-10) -> np.ndarray:
    r"""Maximum-likelihood intercept shift with a fixed offset, per row.

    Solves the score equation :math:`\sum_i \{y_i - \mathrm{expit}(\delta + o_i)\} = 0`
    of the logistic model :math:`\mathrm{logit}\, P(y_i = 1) = \delta + o_i` (offset
    coefficient fixed at one; R's ``glm(y ~ 1 + offset(o), binomial)``) for each row of
    ``offset``, by Newton's method started at
    :math:`\mathrm{logit}\,\bar y - \mathrm{logit}\,\bar p` with steps clipped to
    :math:`\pm 2`.

    Parameters
    ----------
    offset : array_like, shape (m, n) or (n,)
        Linear predictors (log-odds) of the ``n`` patients, one row per posterior draw;
        finite real numbers.
    y : array_like, shape (n,)
        Observed binary outcome (0/1, or bool).
    max_iter : int
        Maximum number of Newton steps (an integer >= 1).
    tol : float
        Stop when every row's step is smaller than this (log-odds; a number > 0).

    Returns
    -------
    numpy.ndarray, shape (m,)
        The shift :math:`\delta` of each row, on the log-odds scale.

    Raises
    ------
    DataError
        ``y`` not 0/1 (text such as ``"1"`` is refused), ``offset`` not finite real
        numbers (text and bools are refused, naming the patient), ``offset`` with a
        different number of patients than ``y`` or more than two dimensions, or ``y``
        with no events or only events (the shift is infinite).
    ValueError
        ``max_iter`` not an integer >= 1, or ``tol`` not a number > 0.
    """
    y = binary_vector(y, "y").astype(float)
    if np.ndim(offset) > 2:
        raise DataError(f"offset must be (n,) or (m, n), got shape {np.shape(offset)}")
    offset, _ = as_rows(offset, y.size, name="offset")
    max_iter = check_count("max_iter", max_iter, low=1)
    tol = check_real("tol", tol)
    if tol <= 0:
        raise ValueError(f"tol must be a number > 0, got {tol!r}")
    events = y.sum()
    if events == 0 or events == y.size:
        raise DataError(f"cannot recalibrate the intercept: the held-out patients have "
                        f"{int(events)} events out of {y.size}; the trial needs both events "
                        "and non-events")
    ybar = y.mean()
    pbar = expit(offset).mean(axis=1)
    delta = np.log(ybar / (1 - ybar)) - np.log(pbar / (1 - pbar))
    for _ in range(max_iter):
        p = expit(offset + delta[:, None])
        grad = (y - p).sum(axis=1)
        hess = (p * (1 - p)).sum(axis=1)
        step = np.clip(grad / hess, -2.0, 2.0)
        delta = delta + step
        if np.max(np.abs(step)) < tol:
            break
    return delta
