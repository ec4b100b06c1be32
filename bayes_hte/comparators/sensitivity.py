r"""Leave-one-out sensitivity analysis of a univariate meta-analysis (metafor's
``leave1out``).

Each study :math:`j = 1..K` is left out in turn and the meta-analysis of the other
:math:`K - 1` studies refitted with the same estimator and options: a study whose removal
moves the pooled estimate, :math:`\tau^2` or :math:`I^2` much is influential (Viechtbauer
& Cheung 2010, "Outlier and influence diagnostics for meta-analysis", *Research
Synthesis Methods* 1:112-125). The :math:`K` fits run at once on the vectorised core of
:func:`bayes_hte.comparators.meta_analysis` (one replicate per left-out study).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from bayes_hte.comparators.univariate import MetaAnalysisResult, meta_analysis
from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import MetaMethod, Transform

__all__ = ["leave_one_out"]

#: Columns of :func:`leave_one_out`'s table (metafor's estimate, se, zval, pval, ci.lb,
#: ci.ub, Q, Qp, tau2, I2, H2, with the prediction interval added).
LEAVE_ONE_OUT_COLUMNS: tuple[str, ...] = (
    "estimate", "se", "statistic", "p", "ci_low", "ci_high", "pi_low", "pi_high", "q",
    "q_df", "q_p", "tau2", "i2", "h2", "converged")


def leave_one_out(
    yi: EffectTable | npt.ArrayLike,
    vi: npt.ArrayLike | None = None,
    *,
    method: MetaMethod = "REML",
    knha: bool = False,
    ci_prob: float = 0.95,
    labels: Sequence[str] | None = None,
    transform: Transform | Callable | None = None,
) -> pd.DataFrame:
    r"""The meta-analysis refitted without each study in turn (metafor's ``leave1out``).

    Parameters
    ----------
    yi : EffectTable or array_like, shape (K,)
        An :class:`~bayes_hte.EffectTable` (it supplies the variances and labels), or the
        effect sizes on the analysis scale (e.g. log risk ratios).
    vi : array_like, shape (K,), optional
        Sampling variances (required with arrays; not with an EffectTable).
    method, knha, ci_prob
        As in :func:`bayes_hte.comparators.meta_analysis` (estimator of
        :math:`\tau^2`, Hartung–Knapp–Sidik–Jonkman test, interval probability).
    labels : sequence of str, optional
        Study labels (default: the EffectTable's, else positions from 1).
    transform : {None, "exp"} or callable
        Applied to the estimate and the interval limits, as in
        :meth:`~bayes_hte.comparators.univariate.MetaAnalysisResult.summary`
        (``"exp"``: risk or odds ratios from their logarithms; the standard error is
        then named ``se_untransformed``).

    Returns
    -------
    pandas.DataFrame
        One row per left-out study (index ``left_out``, the study labels), columns
        :data:`LEAVE_ONE_OUT_COLUMNS`: the pooled estimate of the other studies with its
        SE, Wald (or t) statistic, p-value, confidence and prediction interval, Cochran's
        :math:`Q` with its degrees of freedom (:math:`K - 2`) and p-value,
        :math:`\tau^2`, :math:`I^2` (percent), :math:`H^2` and whether the
        :math:`\tau^2` iteration converged.

    Raises
    ------
    DataError
        Fewer than 3 studies (two are needed after leaving one out), or the inputs
        :func:`~bayes_hte.comparators.meta_analysis` refuses (text, non-finite values,
        variances <= 0, repeated labels).
    ValueError
        An unknown ``method`` or ``transform``, or ``ci_prob`` outside (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_hte.comparators import leave_one_out
    >>> yi = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47])
    >>> vi = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.007, 0.22, 0.004, 0.06])
    >>> table = leave_one_out(yi, vi)
    >>> table.shape, table.index[0]
    ((9, 15), '1')
    """
    full: MetaAnalysisResult = meta_analysis(yi, vi, method=method, knha=knha,
                                             ci_prob=ci_prob, labels=labels)
    y, v, names = np.ravel(full.yi), np.ravel(full.vi), list(full.labels)
    k = y.size
    if k < 3:
        raise DataError(f"leaving one study out needs at least 3 studies, got {k}")
    keep = ~np.eye(k, dtype=bool)  # column j: every study but j
    Y = np.stack([y[keep[:, j]] for j in range(k)], axis=1)
    V = np.stack([v[keep[:, j]] for j in range(k)], axis=1)
    with warnings.catch_warnings():  # the full fit has warned about its inputs already
        warnings.simplefilter("ignore", DataWarning)
        fits = meta_analysis(Y, V, method=method, knha=knha, ci_prob=ci_prob)
    table = fits.summary(transform=transform)
    table.index = pd.Index(names, name="left_out")
    se = "se" if "se" in table.columns else "se_untransformed"
    return table[[se if c == "se" else c for c in LEAVE_ONE_OUT_COLUMNS]]
