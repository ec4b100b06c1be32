r"""The normal–normal random-effects meta-analysis of study effect sizes.

The model every random-effects meta-analysis assumes (DerSimonian & Laird 1986,
*Controlled Clinical Trials* 7:177; the model of
:func:`bayes_hte.comparators.meta_analysis` and :class:`bayes_hte.MetaAnalysisModel`),
used to check their intervals where it holds. For study :math:`i = 1..k`:

1. a study size :math:`n_i` drawn uniformly from the integers in ``sizes``, split into
   two equal arms (:math:`n_i/2` each, rounded down, at least 1);
2. a true study effect :math:`\theta_i \sim N(\mu, \tau^2)`;
3. the observed effect :math:`y_i \sim N(\theta_i, v_i)` with the known sampling variance
   of a difference of two arm means of an outcome with standard deviation :math:`\sigma`,
   :math:`v_i = \sigma^2 (1/n_{i1} + 1/n_{i0})`.

The estimands are :math:`\mu` (the mean effect) and :math:`\tau^2`, the parameters of the
design (:func:`normal_meta_truth`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_hte.data.aggregate import EffectTable
from bayes_hte.errors import DataError
from bayes_hte.options import check_count


@dataclass
class SimulatedMeta:
    """One simulated random-effects meta-analysis and its truth.

    Built by :func:`normal_meta`; the fields are also its attributes.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per study: ``study`` (``"1"`` ... ``"k"``), ``n`` (study size), ``theta``
        (true study effect), ``yi`` (observed effect), ``vi`` (its sampling variance).
    effects : EffectTable
        ``yi`` and ``vi`` as a validated table (the input of the meta-analyses).
    truth : dict
        ``mu``, ``tau2``, ``tau`` (floats) and ``theta`` (ndarray (k,), the true study
        effects of this draw).
    params : dict
        The design parameters used (``k``, ``mu``, ``tau2``, ``sizes``, ``sd``).
    """

    data: pd.DataFrame
    effects: EffectTable
    truth: dict
    params: dict = field(default_factory=dict)


def normal_meta_truth(*, mu: float = 0.0, tau2: float = 0.1) -> dict[str, float]:
    r"""The estimands of :func:`normal_meta`: its parameters :math:`\mu` and :math:`\tau^2`.

    Parameters
    ----------
    mu : float
        Mean of the true study effects (units of ``yi``).
    tau2 : float
        Between-study variance (>= 0, squared units of ``yi``).

    Returns
    -------
    dict of str to float
        ``mu``, ``tau2`` and ``tau`` (:math:`\sqrt{\tau^2}`).

    Raises
    ------
    DataError
        ``tau2`` negative or not finite.
    """
    if not np.isfinite(tau2) or tau2 < 0:
        raise DataError(f"tau2 must be finite and >= 0, got {tau2!r}")
    return {"mu": float(mu), "tau2": float(tau2), "tau": float(np.sqrt(tau2))}


def normal_meta(
    k: int = 10,
    *,
    mu: float = 0.0,
    tau2: float = 0.1,
    sizes: Sequence[int] = (20, 200),
    sd: float = 1.0,
    seed: int | np.random.Generator | None = None,
) -> SimulatedMeta:
    r"""Simulate one random-effects meta-analysis of ``k`` studies (model in the module doc).

    Parameters
    ----------
    k : int
        Number of studies (>= 2).
    mu : float
        Mean effect :math:`\mu` (units of the outcome, a difference of arm means).
    tau2 : float
        Between-study variance :math:`\tau^2` (>= 0; 0 gives a common effect).
    sizes : (int, int)
        Smallest and largest study size (patients in both arms, 2 <= low <= high);
        each study's size is uniform on these integers.
    sd : float
        Standard deviation :math:`\sigma` of the outcome within an arm (> 0); sets the
        sampling variances :math:`v_i = \sigma^2 (1/n_{i1} + 1/n_{i0})`.
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    SimulatedMeta
        Per-study data, the :class:`~bayes_hte.EffectTable` and the truth.

    Raises
    ------
    DataError
        ``k`` not an integer >= 2, ``tau2`` negative or not finite, ``sizes`` not two
        integers with 2 <= low <= high, or ``sd <= 0``.

    Examples
    --------
    >>> sim = normal_meta(5, mu=0.3, tau2=0.05, seed=1)
    >>> sim.effects.k, sim.truth["mu"]
    (5, 0.3)
    """
    check_count("k (number of studies)", k, low=2, error=DataError)
    truth = normal_meta_truth(mu=mu, tau2=tau2)
    lo_hi = np.asarray(sizes)
    if lo_hi.shape != (2,) or np.any(lo_hi != np.round(lo_hi)) or not 2 <= lo_hi[0] <= lo_hi[1]:
        raise DataError(f"sizes must be two integers (low, high) with 2 <= low <= high, got "
                        f"{sizes!r}")
    if not sd > 0:
        raise DataError(f"sd must be > 0, got {sd!r}")
    rng = np.random.default_rng(seed)
    k = int(k)
    n = rng.integers(int(lo_hi[0]), int(lo_hi[1]), size=k, endpoint=True)
    n1 = np.maximum(n // 2, 1)
    n0 = np.maximum(n - n1, 1)
    vi = sd**2 * (1.0 / n1 + 1.0 / n0)
    theta = rng.normal(mu, np.sqrt(tau2), size=k)
    yi = rng.normal(theta, np.sqrt(vi))
    labels = [str(i + 1) for i in range(k)]
    data = pd.DataFrame({"study": labels, "n": n, "theta": theta, "yi": yi, "vi": vi})
    effects = EffectTable(yi=yi, vi=vi, labels=labels, measure="MD")
    params = {"k": k, "mu": float(mu), "tau2": float(tau2),
              "sizes": (int(lo_hi[0]), int(lo_hi[1])), "sd": float(sd)}
    return SimulatedMeta(data=data, effects=effects, truth={**truth, "theta": theta},
                         params=params)
