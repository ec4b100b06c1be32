r"""IPD meta-analyses in which some trials report only aggregate data (issue 16's design).

The trials follow the Bouvier et al. (2024) binary design with 3 covariates
(:func:`bayes_hte.simulate.bouvier2024`: :math:`x_1, x_2 \sim N(0, 1)`,
:math:`x_3 \sim Bern(0.5)`, trial intercepts :math:`\alpha_j \sim N(\alpha, \tau_\alpha^2)`,
common :math:`\theta, \gamma, \eta`), but their populations differ: trial :math:`j`'s
patients are drawn without replacement from a pool of ``pool`` × ``patients_per_trial``
simulated patients of that trial with probabilities
:math:`\propto \exp\{d_j(x_1 + x_3)\}` — an exponential tilt that shifts the covariate
distribution and keeps every patient's outcome model (selection on covariates only),
with tilts :math:`d_j` evenly spaced on :math:`[-\mathrm{shift}, \mathrm{shift}]`. Every
other trial (the 2nd, 4th, ...) is then reduced to what a publication reports: arm
events and totals and covariate summaries (:func:`bayes_hte.data.integration.to_aggregate`).

The estimand is the population-average risk difference in a **target population** in an
average trial (:math:`\alpha_j = \alpha`): independent :math:`x_1 \sim N(m_1, s_1^2)`,
:math:`x_2 \sim N(m_2, s_2^2)`, :math:`x_3 \sim Bern(p_3)`,

.. math::

    \mathrm{RD}^* = E_{x}\{\mathrm{expit}(\alpha + \theta'x + \gamma + \eta'x) -
    \mathrm{expit}(\alpha + \theta'x)\},

computed exactly up to quadrature (:func:`target_rd`: 60 × 60 Gauss–Hermite nodes for
:math:`x_1, x_2`, the sum over :math:`x_3`). This is the target-population estimand of
Phillippo et al. (2020, JRSS A 183:1189, section 3.3) for a pairwise meta-analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_hte.data import ArmTable, CovariateSummary
from bayes_hte.data.integration import to_aggregate
from bayes_hte.errors import DataError
from bayes_hte.simulate.bouvier2024 import DESIGNS, bouvier2024

#: Covariates of the design (Bouvier et al. 2024, 3-covariate design).
COVARIATES: tuple[str, ...] = ("x1", "x2", "x3")
_HERMITE = np.polynomial.hermite_e.hermegauss(60)


@dataclass(frozen=True, eq=False)
class SimulatedIPDAggregate:
    """One simulated meta-analysis of IPD and aggregate-data trials, and its truth.

    Parameters
    ----------
    frame : pandas.DataFrame
        Every trial's patients (also the aggregate ones): ``trial``, ``treat``, ``y``,
        ``x1``–``x3`` and the truth columns of :func:`bayes_hte.simulate.bouvier2024`
        (``p0``, ``p1``, ``true_ite``, ``true_ite_average``).
    ipd : pandas.DataFrame
        The rows of the IPD trials (``frame`` without the aggregate trials).
    aggregate : ArmTable
        Arm events / totals of the aggregate trials.
    aggregate_covariates : CovariateSummary
        Their covariate summaries (mean and SD of ``x1``, ``x2``; proportion of ``x3``).
    target : CovariateSummary
        The target population's covariate distribution (one population, independent
        covariates).
    truth : dict
        The data-generating parameters (``alpha``, ``tau_alpha``, ``theta``, ``gamma``,
        ``eta``, per-trial values; logit scale) and ``rd_target`` (:func:`target_rd`).
    """

    frame: pd.DataFrame
    ipd: pd.DataFrame
    aggregate: ArmTable
    aggregate_covariates: CovariateSummary
    target: CovariateSummary
    truth: dict


def target_summary(*, x1_mean: float = 0.6, x1_sd: float = 0.9, x2_mean: float = -0.3,
                   x2_sd: float = 1.0, x3_prob: float = 0.7) -> CovariateSummary:
    """The target population as a :class:`~bayes_hte.CovariateSummary`.

    Parameters
    ----------
    x1_mean, x1_sd, x2_mean, x2_sd : float
        Means and SDs of the normal covariates (SDs > 0).
    x3_prob : float
        Proportion with :math:`x_3 = 1`, in (0, 1).

    Returns
    -------
    CovariateSummary
        ``covariate, mean, sd`` of ``x1``–``x3`` (empty SD for the binary ``x3``), no
        correlation (independent covariates).

    Raises
    ------
    DataError
        An SD <= 0 or a proportion outside (0, 1).
    """
    if x1_sd <= 0 or x2_sd <= 0:
        raise DataError(f"target SDs must be > 0, got x1_sd={x1_sd}, x2_sd={x2_sd}")
    if not 0 < x3_prob < 1:
        raise DataError(f"x3_prob must be in (0, 1), got {x3_prob}")
    return CovariateSummary.from_frame(pd.DataFrame(
        {"covariate": list(COVARIATES), "mean": [x1_mean, x2_mean, x3_prob],
         "sd": [x1_sd, x2_sd, np.nan]}))


def target_rd(truth: dict, target: CovariateSummary) -> float:
    r"""True population-average risk difference in ``target`` for an average trial.

    Parameters
    ----------
    truth : dict
        ``alpha``, ``gamma`` (floats) and ``theta``, ``eta`` (dicts by covariate), logit
        scale, as :func:`bayes_hte.simulate.bouvier2024` reports them.
    target : CovariateSummary
        Independent ``x1``, ``x2`` (normal) and ``x3`` (binary).

    Returns
    -------
    float
        :math:`E_x\{\mathrm{expit}(\alpha + \theta'x + \gamma + \eta'x) -
        \mathrm{expit}(\alpha + \theta'x)\}` by 60 × 60-node Gauss–Hermite quadrature
        over :math:`x_1, x_2` and the exact sum over :math:`x_3` (error far below 1e-8).
    """
    row = target.frame.set_index("covariate")
    nodes, weights = _HERMITE
    w = weights / weights.sum()
    x1 = row.loc["x1", "mean"] + row.loc["x1", "sd"] * nodes[:, None]
    x2 = row.loc["x2", "mean"] + row.loc["x2", "sd"] * nodes[None, :]
    w2 = w[:, None] * w[None, :]
    th, et = truth["theta"], truth["eta"]
    out = 0.0
    p3 = float(row.loc["x3", "mean"])
    for x3, p in ((0.0, 1 - p3), (1.0, p3)):
        lp0 = truth["alpha"] + th["x1"] * x1 + th["x2"] * x2 + th["x3"] * x3
        te = truth["gamma"] + et["x1"] * x1 + et["x2"] * x2 + et["x3"] * x3
        out += p * float(np.sum(w2 * (expit(lp0 + te) - expit(lp0))))
    return out


def ipd_aggregate(*, trials: int = 6, patients_per_trial: int = 300, pool: int = 20,
                  shift: float = 0.9, tau_alpha: float = 0.4, x1_mean: float = 0.6,
                  x1_sd: float = 0.9, x2_mean: float = -0.3, x2_sd: float = 1.0,
                  x3_prob: float = 0.7, seed: int | np.random.Generator | None = None
                  ) -> SimulatedIPDAggregate:
    r"""Simulate an IPD meta-analysis whose every other trial reports aggregate data only.

    Parameters
    ----------
    trials : int
        Number of trials (>= 4; the even-numbered ones, ``trials // 2`` of them, become
        aggregate).
    patients_per_trial : int
        Patients per trial (>= 20).
    pool : int
        Size of each trial's pool as a multiple of ``patients_per_trial`` (>= 2).
    shift : float
        Largest tilt :math:`|d_j|` (>= 0); 0 gives every trial the same population.
    tau_alpha : float
        Between-trial SD of the intercepts (logit scale).
    x1_mean, x1_sd, x2_mean, x2_sd, x3_prob : float
        The target population (:func:`target_summary`).
    seed : int or numpy.random.Generator, optional
        Seed of every draw.

    Returns
    -------
    SimulatedIPDAggregate
        The data and the truth (``truth["rd_target"]``: the target RD).

    Raises
    ------
    DataError
        ``trials < 4``, ``patients_per_trial < 20``, ``pool < 2``, ``shift < 0``, or a bad
        target (:func:`target_summary`).
    """
    if trials < 4:
        raise DataError(f"trials must be >= 4 (half of them aggregate), got {trials}")
    if patients_per_trial < 20 or pool < 2 or shift < 0:
        raise DataError("patients_per_trial must be >= 20, pool >= 2 and shift >= 0; got "
                        f"{patients_per_trial}, {pool}, {shift}")
    target = target_summary(x1_mean=x1_mean, x1_sd=x1_sd, x2_mean=x2_mean, x2_sd=x2_sd,
                            x3_prob=x3_prob)
    rng = np.random.default_rng(seed)
    sim = bouvier2024(trials=trials, patients_per_trial=pool * patients_per_trial,
                      covariates=3, tau_alpha=tau_alpha, seed=rng)
    tilts = np.linspace(-shift, shift, trials)
    order = rng.permutation(trials)  # which tilt each trial gets
    parts = []
    for j in range(trials):
        sub = sim.data[sim.data["trial"] == f"T{j + 1}"]
        w = np.exp(tilts[order[j]] * (sub["x1"] + sub["x3"])).to_numpy()
        keep = rng.choice(len(sub), size=patients_per_trial, replace=False, p=w / w.sum())
        parts.append(sub.iloc[np.sort(keep)])
    frame = pd.concat(parts, ignore_index=True)
    aggregate = [f"T{j + 1}" for j in range(1, trials, 2)]
    ipd, arms, summ = to_aggregate(frame, trials=aggregate, study="trial",
                                   treatment="treat", outcome="y",
                                   covariates=list(COVARIATES))
    truth = dict(sim.truth)
    truth["rd_target"] = target_rd(truth, target)
    return SimulatedIPDAggregate(frame=frame, ipd=ipd, aggregate=arms,
                                 aggregate_covariates=summ, target=target, truth=truth)


def ipd_aggregate_truth(*, tau_alpha: float = 0.4, x1_mean: float = 0.6, x1_sd: float = 0.9,
                        x2_mean: float = -0.3, x2_sd: float = 1.0, x3_prob: float = 0.7
                        ) -> dict[str, float]:
    """The true values of the design's estimands, from its parameters alone.

    Parameters
    ----------
    tau_alpha : float
        Between-trial SD of the intercepts.
    x1_mean, x1_sd, x2_mean, x2_sd, x3_prob : float
        The target population (:func:`target_summary`).

    Returns
    -------
    dict
        ``rd_target`` (:func:`target_rd`), ``alpha``, ``gamma``, ``tau_alpha`` and
        ``theta[x]``, ``eta[x]`` for each covariate (logit scale; the 3-covariate design
        of :data:`bayes_hte.simulate.bouvier2024.DESIGNS`, intercept −1.1, γ = −0.4, the
        defaults of :func:`bayes_hte.simulate.bouvier2024`), named as
        :meth:`bayes_hte.IPDMetaModel.parameters` names them.
    """
    design = DESIGNS[3]
    truth = {"alpha": -1.1, "gamma": -0.4, "tau_alpha": float(tau_alpha),
             "theta": dict(design["theta"]), "eta": dict(design["eta"])}
    target = target_summary(x1_mean=x1_mean, x1_sd=x1_sd, x2_mean=x2_mean, x2_sd=x2_sd,
                            x3_prob=x3_prob)
    out = {"rd_target": target_rd(truth, target), "alpha": truth["alpha"],
           "gamma": truth["gamma"], "tau_alpha": truth["tau_alpha"]}
    out.update({f"theta[{c}]": float(v) for c, v in truth["theta"].items()})
    out.update({f"eta[{c}]": float(v) for c, v in truth["eta"].items()})
    return out
