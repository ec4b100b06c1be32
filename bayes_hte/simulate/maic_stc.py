r"""One IPD trial with effect modification and a target population known by its summaries.

The design of the MAIC / STC coverage study (``models/studies/maic_stc_coverage.toml``,
docs/ipd_aggregate.md, "Frequentist comparators: MAIC and STC"): the setting of NICE DSU
TSD 18 (Phillippo et al. 2016) in which individual patient data of one randomised trial
are carried to a population that is described only by covariate means (and SDs),
with the marginal treatment effect in that population as the estimand.

The trial: :math:`n` patients, :math:`x_{1} \sim N(0, 1)`,
:math:`x_{2} \sim \mathrm{Bern}(q)` (:math:`q = 0.4`), treatment
:math:`z \sim \mathrm{Bern}(1/2)` (independent 1:1 randomisation), and

.. math::

    \mathrm{logit}\, P(y = 1 \mid x, z) = \alpha + \beta' x
        + z\,(\gamma + \eta' x),
    \qquad \alpha = -1,\ \beta = (0.8, 0.5),\ \gamma = -0.5,\ \eta = (0.6, -0.4),

so both covariates modify the effect (on the log-odds scale). The target population has
shifted means: independent :math:`x_{1} \sim N(0.4, 0.9^2)` and
:math:`x_{2} \sim \mathrm{Bern}(0.6)`, reported as a one-population
:class:`~bayes_hte.CovariateSummary` (means, the SD of :math:`x_1`).

Estimands (:func:`maic_stc_truth`): with :math:`p_t = E^*\{\mathrm{expit}(\alpha +
\beta'x + t(\gamma + \eta'x))\}` the marginal risks under treatment :math:`t` over the
target distribution :math:`E^*`, the risk difference :math:`p_1 - p_0`, the risk ratio
:math:`p_1 / p_0` and the marginal odds ratio
:math:`\{p_1/(1-p_1)\}/\{p_0/(1-p_0)\}` (not the conditional :math:`e^{\gamma}`). The
expectation is the Monte Carlo integral of the validation script this design comes
from: 2,000,000 target draws from ``numpy.random.default_rng(0)`` (:math:`x_1` first,
then :math:`x_2`), deterministic; it differs from Gauss–Hermite quadrature by 6e-7 on
the RD and 6e-5 on the log OR (``tests/studies/test_maic_stc_spec.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_hte.data import CovariateSummary
from bayes_hte.errors import DataError
from bayes_hte.options import check_count

#: Covariates of the design.
COVARIATES: tuple[str, ...] = ("x1", "x2")
#: Target draws of the truth's Monte Carlo integral and their seed.
TRUTH_DRAWS = 2_000_000
TRUTH_SEED = 0


@dataclass(frozen=True, eq=False)
class SimulatedMAICSTC:
    """One simulated IPD trial, the target population's summaries and the truth.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient: ``x1`` (float), ``x2`` (0/1), ``z`` (0/1 treatment),
        ``y`` (0/1 outcome).
    target : CovariateSummary
        The target population: ``covariate, mean, sd`` of ``x1`` and ``x2`` (the
        proportion as mean, no SD), independent covariates.
    truth : dict
        ``RD``, ``RR``, ``OR`` (natural scale) and ``log_OR``, ``p1``, ``p0`` in the
        target (:func:`maic_stc_truth`), and the design's ``alpha``, ``beta``,
        ``gamma``, ``eta``.
    """

    data: pd.DataFrame
    target: CovariateSummary
    truth: dict


def _check(*, beta: Sequence[float], eta: Sequence[float], target_x1_sd: float,
           target_x2_prob: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    beta, eta = tuple(float(b) for b in beta), tuple(float(e) for e in eta)
    if len(beta) != 2 or len(eta) != 2:
        raise DataError(f"beta and eta must have 2 values (x1, x2), got beta={beta}, "
                        f"eta={eta}")
    if not target_x1_sd > 0:
        raise DataError(f"target_x1_sd must be > 0, got {target_x1_sd!r}")
    if not 0 < target_x2_prob < 1:
        raise DataError(f"target_x2_prob must be in (0, 1), got {target_x2_prob!r}")
    return beta, eta


def _linear(x1: np.ndarray, x2: np.ndarray, z: np.ndarray | int, alpha: float,
            beta: Sequence[float], gamma: float, eta: Sequence[float]) -> np.ndarray:
    return alpha + beta[0] * x1 + beta[1] * x2 + z * (gamma + eta[0] * x1 + eta[1] * x2)


@functools.lru_cache(maxsize=32)
def _truth(alpha: float, beta: tuple[float, ...], gamma: float, eta: tuple[float, ...],
           mean: float, sd: float, prob: float) -> tuple[float, float]:
    rng = np.random.default_rng(TRUTH_SEED)
    x1 = rng.normal(mean, sd, TRUTH_DRAWS)
    x2 = rng.binomial(1, prob, x1.size)
    p1 = expit(_linear(x1, x2, 1, alpha, beta, gamma, eta)).mean()
    p0 = expit(_linear(x1, x2, 0, alpha, beta, gamma, eta)).mean()
    return float(p1), float(p0)


def maic_stc_truth(*, alpha: float = -1.0, beta: Sequence[float] = (0.8, 0.5),
                   gamma: float = -0.5, eta: Sequence[float] = (0.6, -0.4),
                   target_x1_mean: float = 0.4, target_x1_sd: float = 0.9,
                   target_x2_prob: float = 0.6) -> dict[str, float]:
    r"""The marginal treatment effects of :func:`maic_stc` in its target population.

    Parameters
    ----------
    alpha, gamma : float
        Intercept and main treatment effect (log-odds).
    beta, eta : (float, float)
        Prognostic and effect-modifying coefficients of ``x1``, ``x2`` (log-odds).
    target_x1_mean, target_x1_sd : float
        Mean and SD (> 0) of the normal ``x1`` in the target.
    target_x2_prob : float
        Proportion with ``x2 = 1`` in the target, in (0, 1).

    Returns
    -------
    dict of str to float
        ``p1``, ``p0`` (the marginal risks :math:`E^*\{\mathrm{expit}(\cdot)\}` under
        treatment and control), ``RD`` :math:`= p_1 - p_0`, ``RR`` :math:`= p_1/p_0`,
        ``OR`` :math:`= \{p_1/(1-p_1)\}/\{p_0/(1-p_0)\}` and ``log_OR``. The
        expectations are Monte Carlo integrals over :data:`TRUTH_DRAWS` target draws
        from ``numpy.random.default_rng(TRUTH_SEED)`` — :math:`x_1` then :math:`x_2`,
        exactly the truth of the former ``validation/maic_stc.py coverage`` — cached per
        parameter set.

    Raises
    ------
    DataError
        ``beta`` or ``eta`` without two values, ``target_x1_sd <= 0`` or
        ``target_x2_prob`` outside (0, 1).

    Examples
    --------
    >>> round(maic_stc_truth()["RD"], 4)
    -0.0791
    """
    beta, eta = _check(beta=beta, eta=eta, target_x1_sd=target_x1_sd,
                       target_x2_prob=target_x2_prob)
    p1, p0 = _truth(float(alpha), beta, float(gamma), eta, float(target_x1_mean),
                    float(target_x1_sd), float(target_x2_prob))
    log_or = float(np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)))
    return {"p1": p1, "p0": p0, "RD": p1 - p0, "RR": p1 / p0, "OR": float(np.exp(log_or)),
            "log_OR": log_or}


def maic_stc(n: int = 400, *, x2_prob: float = 0.4, alpha: float = -1.0,
             beta: Sequence[float] = (0.8, 0.5), gamma: float = -0.5,
             eta: Sequence[float] = (0.6, -0.4), target_x1_mean: float = 0.4,
             target_x1_sd: float = 0.9, target_x2_prob: float = 0.6,
             seed: int | np.random.Generator | None = None) -> SimulatedMAICSTC:
    r"""Simulate one IPD trial of the MAIC / STC design and its target (module doc).

    The draws, in this order from one generator: ``x1`` (:math:`n` standard normals),
    ``x2`` (:math:`n` Bernoulli(``x2_prob``)), ``z`` (:math:`n` integers in {0, 1}),
    ``y`` (Bernoulli of :math:`\mathrm{expit}(\alpha + \beta'x + z(\gamma + \eta'x))`)
    — the order of the former ``validation/maic_stc.py coverage``, so the same
    generator gives the same patients.

    Parameters
    ----------
    n : int
        Patients in the trial (>= 10).
    x2_prob : float
        Proportion with ``x2 = 1`` in the trial, in (0, 1).
    alpha, gamma : float
        Intercept and main treatment effect (log-odds).
    beta, eta : (float, float)
        Prognostic and effect-modifying coefficients of ``x1``, ``x2`` (log-odds).
    target_x1_mean, target_x1_sd : float
        Mean and SD (> 0) of the normal ``x1`` in the target population.
    target_x2_prob : float
        Proportion with ``x2 = 1`` in the target, in (0, 1).
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    SimulatedMAICSTC
        The patients, the target's summaries and the truth (:func:`maic_stc_truth`).

    Raises
    ------
    DataError
        ``n`` not an integer >= 10, ``x2_prob`` outside (0, 1), or a bad parameter of
        :func:`maic_stc_truth`.

    Examples
    --------
    >>> sim = maic_stc(200, seed=1)
    >>> sim.data.shape, list(sim.target.covariates)
    ((200, 4), ['x1', 'x2'])
    """
    check_count("n (patients)", n, low=10, error=DataError)
    if not 0 < x2_prob < 1:
        raise DataError(f"x2_prob must be in (0, 1), got {x2_prob!r}")
    truth = maic_stc_truth(alpha=alpha, beta=beta, gamma=gamma, eta=eta,
                           target_x1_mean=target_x1_mean, target_x1_sd=target_x1_sd,
                           target_x2_prob=target_x2_prob)
    beta, eta = _check(beta=beta, eta=eta, target_x1_sd=target_x1_sd,
                       target_x2_prob=target_x2_prob)
    rng = np.random.default_rng(seed)
    n = int(n)
    x1, x2, z = rng.normal(size=n), rng.binomial(1, x2_prob, n), rng.integers(0, 2, n)
    y = rng.binomial(1, expit(_linear(x1, x2, z, alpha, beta, gamma, eta)))
    data = pd.DataFrame({"x1": x1, "x2": x2, "z": z, "y": y})
    target = CovariateSummary.from_frame(pd.DataFrame(
        {"covariate": list(COVARIATES), "mean": [target_x1_mean, target_x2_prob],
         "sd": [target_x1_sd, np.nan]}))
    return SimulatedMAICSTC(data=data, target=target,
                            truth={**truth, "alpha": float(alpha), "beta": beta,
                                   "gamma": float(gamma), "eta": eta})
