"""Effect sizes from 2x2 counts (the ``escalc`` of metafor; Viechtbauer 2010).

Risk difference, log risk ratio and log odds ratio per study with their sampling
variances, and the rule deciding which studies get a continuity correction.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bayes_hte.options import MEASURES, ContinuityTo, Measure


def continuity_mask(n11: npt.ArrayLike, n10: npt.ArrayLike, n01: npt.ArrayLike,
                    n00: npt.ArrayLike, *, to: ContinuityTo = "only0") -> np.ndarray:
    """Which studies (elementwise) receive the continuity correction.

    ``"only0"``: studies with a zero cell; ``"all"``: every study; ``"if0all"``: every
    study when any study has a zero cell (along the first, study axis); ``"none"``: none.
    These are the choices of R metafor's ``escalc(to=)``.

    Parameters
    ----------
    n11, n10, n01, n00 : array_like, broadcastable
        Treated events, treated non-events, control events, control non-events (counts
        of patients); any shape, studies on the first axis.
    to : {"only0", "all", "if0all", "none"}
        Which studies get the correction (see above).

    Returns
    -------
    ndarray of bool
        ``True`` where the study's four cells receive the correction; the broadcast
        shape of the counts.

    Raises
    ------
    ValueError
        ``to`` is not one of the four choices.
    """
    zero = (np.asarray(n11) == 0) | (np.asarray(n10) == 0) | (np.asarray(n01) == 0) | (
        np.asarray(n00) == 0)
    if to == "only0":
        return zero
    if to == "all":
        return np.ones_like(zero)
    if to == "if0all":
        return np.broadcast_to(zero.any(axis=0, keepdims=True), zero.shape).copy()
    if to == "none":
        return np.zeros_like(zero)
    raise ValueError(f"to must be 'only0', 'all', 'if0all' or 'none', got {to!r}")


def effect_sizes(n11: npt.ArrayLike, n10: npt.ArrayLike, n01: npt.ArrayLike,
                 n00: npt.ArrayLike, *, measure: Measure = "RR", add: float = 0.5,
                 to: ContinuityTo = "only0") -> tuple[np.ndarray, np.ndarray]:
    r"""Effect sizes and sampling variances from 2×2 counts (metafor ``escalc`` formulas).

    Parameters
    ----------
    n11, n10, n01, n00 : array_like, broadcastable
        Treated events, treated non-events, control events, control non-events; any
        shape (studies on the first axis when ``to="if0all"``).
    measure : {"RD", "RR", "OR"}
        Risk difference, log risk ratio, log odds ratio (formulas in the module
        docstring).
    add : float
        Continuity correction added to all four cells of the selected studies.
    to : {"only0", "all", "if0all", "none"}
        Which studies get ``add`` (see :func:`continuity_mask`).

    Returns
    -------
    yi, vi : ndarray
        Effect sizes and their variances (``inf``/``nan`` where a count is zero and no
        correction applies: the container :meth:`ArmTable.effects` refuses those), of
        the broadcast shape of the counts. ``yi`` is a difference of proportions
        (``"RD"``) or a natural log (``"RR"``, ``"OR"``).

    Raises
    ------
    ValueError
        An unknown ``measure`` or ``to``.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    a, b, c, d = (np.asarray(x, dtype=float) for x in (n11, n10, n01, n00))
    a, b, c, d = np.broadcast_arrays(a, b, c, d)
    corr = np.where(continuity_mask(a, b, c, d, to=to), float(add), 0.0)
    a, b, c, d = a + corr, b + corr, c + corr, d + corr
    n1, n0 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = a / n1, c / n0
        if measure == "RD":
            yi = p1 - p0
            vi = p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0
        elif measure == "RR":
            yi = np.log(p1) - np.log(p0)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n0
        else:
            yi = np.log(a) - np.log(b) - np.log(c) + np.log(d)
            vi = 1 / a + 1 / b + 1 / c + 1 / d
    return yi, vi
