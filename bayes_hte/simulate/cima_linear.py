r"""Four trials with a linear CATE and exact exponential tilts (CIMA-AgD one- vs two-step GMM).

The design of the two-step GMM check of ``docs/cima.md`` (and of the recovery tests of
``tests/comparators/test_cima.py``, whose helper ``tests._helpers.linear_cate_trials``
draws the same numbers from the same generator): a setting in which CIMA-AgD's working
model is exactly right, so that any bias or undercoverage comes from the estimator.

Trial :math:`t` (:data:`TRIALS`: T1..T4) has :math:`n` participants with

* :math:`x_1 \sim N(m_t, s_t^2)` and :math:`x_2 \sim Bern(p_t)`, independent — the
  exponential tilts of the target's distribution in :math:`(x_1, x_2)` (a normal is
  tilted to a normal by its mean and square, a Bernoulli to a Bernoulli by its mean);
* :math:`A \sim Bern(1/2)`;
* :math:`Y = 1 + 0.5\,x_1 + 0.3\,x_2 + A\,\tau(x) + \varepsilon`, :math:`\varepsilon
  \sim N(0, 1)`, with the CATE :math:`\tau(x) = \theta_0 + \theta_1 x_1 + \theta_2 x_2`
  (:data:`THETA`: 0.5, 0.3, −0.4).

Each trial reports the difference in means (treated minus control) and its SE
:math:`\sqrt{s^2_1/n_1 + s^2_0/n_0}` overall, in the strata :math:`x_2 = 1` and
:math:`x_2 = 0` and in the strata :math:`x_1 \le 0` and :math:`x_1 > 0` (a complete
second partition: the usual trial report), with the stratum size and share, and the
means of :math:`x_1, x_2` and the SD of :math:`x_1`. The target population is a sample
of :math:`n_T` rows with :math:`x_1 \sim N(0.3, 1.1^2)`, :math:`x_2 \sim Bern(0.45)`
(:data:`TARGET`).

The estimand is the target ATE. ``true_ate`` is the mean of :math:`\tau(x)` over the
target rows (what CIMA-AgD estimates when it averages its CATE over those rows);
``true_ate_population`` is its expectation :math:`\theta_0 + 0.3\,\theta_1 +
0.45\,\theta_2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_hte.options import check_count

#: Per trial: mean and SD of the normal x1, P(x2 = 1).
TRIALS: dict[str, tuple[float, float, float]] = {
    "T1": (-0.8, 0.8, 0.2), "T2": (0.0, 1.2, 0.5), "T3": (0.7, 0.9, 0.7),
    "T4": (1.2, 1.0, 0.35)}
#: Target population: mean and SD of x1, P(x2 = 1).
TARGET: tuple[float, float, float] = (0.3, 1.1, 0.45)
#: CATE coefficients: tau(x) = 0.5 + 0.3 x1 - 0.4 x2.
THETA: tuple[float, float, float] = (0.5, 0.3, -0.4)


@dataclass(frozen=True)
class SimulatedLinearCIMA:
    """One draw of the linear-CATE CIMA-AgD setting and its truth.

    Built by :func:`cima_linear`; the fields are also its attributes. Effects are
    differences in means of the continuous outcome (treated minus control).

    Parameters
    ----------
    effects : pandas.DataFrame
        Reported effects for :func:`bayes_hte.comparators.cima`: ``trial, subgroup,
        stratum, estimate, se, n, prop``, per trial the rows ``overall``, ``x2`` (1, 0)
        and ``x1`` (``"<=0"``, ``">0"``).
    covariates : pandas.DataFrame
        Trial covariate summaries ``trial, covariate, mean, sd`` (``sd`` empty for the
        binary ``x2``).
    target : pandas.DataFrame
        Target covariate rows ``x1, x2``.
    true_ate : float
        Mean of the true CATE over the target rows.
    true_ate_population : float
        Its expectation over the target population.
    params : dict
        The arguments that produced the draw.
    """

    effects: pd.DataFrame
    covariates: pd.DataFrame
    target: pd.DataFrame
    true_ate: float
    true_ate_population: float
    params: dict = field(default_factory=dict)

    @property
    def truth(self) -> dict:
        """The estimand: ``ate`` (``true_ate``) and ``ate_population``."""
        return {"ate": self.true_ate, "ate_population": self.true_ate_population}


def _theta(theta: Sequence[float] | None) -> np.ndarray:
    out = np.asarray(THETA if theta is None else theta, dtype=float)
    if out.shape != (3,) or not np.isfinite(out).all():
        raise ValueError(f"theta must be 3 finite numbers (intercept, x1, x2), got {theta!r}")
    return out


def linear_cate_truth(target: pd.DataFrame, *, theta: Sequence[float] | None = None
                      ) -> float:
    r"""Mean of the true CATE :math:`\theta_0 + \theta_1 x_1 + \theta_2 x_2` over target rows.

    Parameters
    ----------
    target : pandas.DataFrame
        Target covariate rows with columns ``x1`` and ``x2``.
    theta : sequence of 3 floats, optional
        CATE coefficients (default :data:`THETA`).

    Returns
    -------
    float
        The target-sample ATE, in outcome units.

    Raises
    ------
    ValueError
        ``theta`` is not 3 finite numbers.
    KeyError
        ``target`` lacks ``x1`` or ``x2``.
    """
    th = _theta(theta)
    return float(np.mean(th[0] + th[1] * target["x1"] + th[2] * target["x2"]))


def cima_linear(*, n_trial: int = 20_000, n_target: int = 5000,
                theta: Sequence[float] | None = None,
                seed: int | np.random.Generator | None = None) -> SimulatedLinearCIMA:
    """Simulate the four trials' reports and the target sample of the linear-CATE setting.

    The design (module docstring) of the one- vs two-step GMM comparison of CIMA-AgD
    in ``docs/cima.md`` (Shi et al., *Causally-interpretable meta-analysis using
    aggregate data*, section 2.4: the second GMM step); the numbers drawn from a
    generator equal those of ``tests._helpers.linear_cate_trials`` with the same
    generator and sizes.

    Parameters
    ----------
    n_trial : int
        Participants per trial (>= 20; the docs' check: 20,000).
    n_target : int
        Rows of the target sample (>= 2).
    theta : sequence of 3 floats, optional
        CATE coefficients (intercept, x1, x2); default :data:`THETA`.
    seed : int or Generator, optional
        Random seed (``numpy.random.default_rng``).

    Returns
    -------
    SimulatedLinearCIMA
        The reported effects, covariate summaries and target rows, and the target ATE
        (sample and population).

    Raises
    ------
    ValueError
        ``n_trial`` below 20 or ``n_target`` below 2 (not integers), or ``theta`` not 3
        finite numbers.

    Examples
    --------
    >>> sim = cima_linear(n_trial=500, n_target=100, seed=1)
    >>> sorted(set(sim.effects["subgroup"]))
    ['overall', 'x1', 'x2']
    """
    for name, value, low in (("n_trial", n_trial, 20), ("n_target", n_target, 2)):
        check_count(name, value, low=low)
    n_trial, n_target = int(n_trial), int(n_target)
    th = _theta(theta)
    rng = np.random.default_rng(seed)
    eff, cov = [], []
    for t, (m, s, p) in TRIALS.items():
        x1 = m + s * rng.standard_normal(n_trial)
        x2 = (rng.random(n_trial) < p).astype(float)
        a = rng.random(n_trial) < 0.5
        tau = th[0] + th[1] * x1 + th[2] * x2
        y = 1 + 0.5 * x1 + 0.3 * x2 + a * tau + rng.standard_normal(n_trial)
        for sg, st, mask in [("overall", None, np.ones(n_trial, bool)),
                             ("x2", 1, x2 == 1), ("x2", 0, x2 == 0),
                             ("x1", "<=0", x1 <= 0), ("x1", ">0", x1 > 0)]:
            yt, yc = y[mask & a], y[mask & ~a]
            eff.append(dict(trial=t, subgroup=sg, stratum=st, estimate=yt.mean() - yc.mean(),
                            se=np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)),
                            n=int(mask.sum()), prop=mask.mean()))
        cov += [dict(trial=t, covariate="x1", mean=x1.mean(), sd=x1.std(ddof=1)),
                dict(trial=t, covariate="x2", mean=x2.mean(), sd=np.nan)]
    m, s, p = TARGET
    target = pd.DataFrame({"x1": m + s * rng.standard_normal(n_target),
                           "x2": (rng.random(n_target) < p).astype(float)})
    return SimulatedLinearCIMA(
        effects=pd.DataFrame(eff), covariates=pd.DataFrame(cov), target=target,
        true_ate=linear_cate_truth(target, theta=th),
        true_ate_population=float(th[0] + th[1] * m + th[2] * p),
        params={"n_trial": n_trial, "n_target": n_target, "theta": tuple(th.tolist()),
                "seed": seed if isinstance(seed, int | None) else "generator"})
