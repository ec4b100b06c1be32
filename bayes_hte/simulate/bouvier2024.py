r"""IPD meta-analyses as in the Monte Carlo study of Bouvier et al. (2024).

Source: Bouvier F, Chaimani A, Peyrot E, Gueyffier F, Grenet G, Porcher R. Estimating
individualized treatment effects using an individual participant data meta-analysis.
BMC Med Res Methodol 2024 (section "Monte Carlo simulation study").

For patient :math:`i` of trial :math:`j`, treatment :math:`t_{ij} \sim Bern(0.5)`,
continuous covariates :math:`N(0, 1)`, binary covariates Bernoulli, and

.. math::

    \mathrm{logit}\, p_{ij} = \alpha_j + \theta_j' x_{ij} + \gamma_j t_{ij}
        + \eta' x_{ij} t_{ij},

with :math:`y_{ij} \sim Bern(p_{ij})`. The paper's main text gives the design (7 trials;
3 covariates — 1 binary, 2 continuous — with 3 treatment interactions, or 9 covariates
— 6 binary, 3 continuous — with 4 interactions; equal trial sizes, total 2800, 1400 or
700; optional between-trial variation of some predictor effects) but its coefficient
values are in an additional file we do not have. The values below are ours, chosen
to give a baseline risk near 25 %, a treatment effect near −5 percentage points on
average and clear heterogeneity of the ITE; they are returned in ``truth`` so every
analysis can be scored.

Trial intercepts vary: :math:`\alpha_j \sim N(\alpha, \tau_\alpha^2)`. With
``effect_variation=True`` (scenarios 7–12) the main effects of the first two covariates
and the treatment effect also vary: :math:`\theta_{jk} \sim N(\theta_k, \sigma_\theta^2)`,
:math:`\gamma_j \sim N(\gamma, \sigma_\gamma^2)`.

The true ITE of each patient is the risk difference
:math:`\tau_{ij} = \mathrm{expit}(\ell_{ij}(1)) - \mathrm{expit}(\ell_{ij}(0))`, both in the
patient's own trial (``true_ite``) and in an average trial, with :math:`\alpha, \theta,
\gamma` at their means (``true_ite_average``; what the models' ``ite()`` estimates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_hte.errors import DataError
from bayes_hte.options import BouvierCovariates, Outcome
from bayes_hte.simulate._weibull import add_weibull_outcome

#: Coefficients of the two covariate designs (logit scale).
DESIGNS: dict[int, dict] = {
    3: {
        "continuous": ["x1", "x2"],
        "binary": {"x3": 0.5},
        "theta": {"x1": 0.6, "x2": -0.4, "x3": 0.5},
        "eta": {"x1": -0.5, "x2": 0.4, "x3": -0.6},
        "varying": ["x1", "x2"],
    },
    9: {
        "continuous": ["x1", "x2", "x3"],
        "binary": {"x4": 0.5, "x5": 0.4, "x6": 0.3, "x7": 0.5, "x8": 0.2, "x9": 0.35},
        "theta": {"x1": 0.5, "x2": -0.4, "x3": 0.3, "x4": 0.4, "x5": -0.3, "x6": 0.3,
                  "x7": 0.2, "x8": -0.25, "x9": 0.15},
        "eta": {"x1": -0.5, "x2": 0.4, "x4": -0.5, "x5": 0.45},
        "varying": ["x1", "x4"],
    },
}


@dataclass
class SimulatedIPDMA:
    """A simulated IPD meta-analysis and its truth.

    Built by :func:`bouvier2024`; the fields are also its attributes. The remaining
    fields name the columns of ``data`` for ``IPDData.from_frame``.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``trial``, ``treat``, ``y`` (binary) or ``time``/``event``, the
        covariates, and the truth per patient: ``true_ite`` (own trial),
        ``true_ite_average`` (average trial), ``p0``, ``p1`` (binary: risks under
        control / treatment) or ``s0``, ``s1`` (time-to-event: survival at the
        horizon). The ITE is a risk (survival) difference, treated minus control.
    truth : dict
        Data-generating parameters (``alpha``, ``tau_alpha``, ``theta``, ``gamma``,
        ``eta`` and the per-trial ``alpha_j``, ``theta_j``, ``gamma_j``; logit scale,
        or log time-scale for time-to-event, where the Weibull settings, ``horizon``
        and ``log_hazard`` are added).
    covariates : list of str
        Covariate column names.
    outcome : str
        Outcome column: ``"y"`` (binary) or ``"event"`` (time-to-event).
    treatment : str
        0/1 treatment column.
    study : str
        Trial column (labels ``T1``, ``T2``, ...).
    time : str or None
        Follow-up time column (time-to-event only).
    extra : dict
        Free-form additional information; empty from :func:`bouvier2024`.
    """

    data: pd.DataFrame
    truth: dict
    covariates: list[str]
    outcome: str = "y"
    treatment: str = "treat"
    study: str = "trial"
    time: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def true_ite(self) -> np.ndarray:
        """True ITE per patient in the patient's own trial, shape (n,)."""
        return self.data["true_ite"].to_numpy()


def bouvier2024(
    *,
    trials: int = 7,
    patients_per_trial: int | Sequence[int] = 400,
    covariates: BouvierCovariates = 3,
    effect_variation: bool = False,
    outcome: Outcome = "binary",
    alpha: float | None = None,
    tau_alpha: float = 0.4,
    gamma: float = -0.4,
    sd_theta: float = 0.2,
    sd_gamma: float = 0.15,
    seed: int | None = None,
    shape: float | None = None,
    a: float | None = None,
    follow_up: float | None = None,
    censoring_rate: float | None = None,
    horizon: float | None = None,
) -> SimulatedIPDMA:
    r"""Simulate one IPD meta-analysis.

    The design of Bouvier et al. (2024), section "Monte Carlo simulation study" (model
    in the module docstring): :math:`J` trials, treatment :math:`Bern(0.5)`, the
    3- or 9-covariate design of :data:`DESIGNS`, a binary outcome
    :math:`\mathrm{logit}\, p = \alpha_j + \theta_j' x + \gamma_j t + \eta' x t` or
    Weibull event times (:mod:`bayes_hte.simulate._weibull`).
    The coefficient values are ours (the paper's are in an additional file we do not
    have).

    Parameters
    ----------
    trials : int
        Number of trials J (the paper uses 7).
    patients_per_trial : int or sequence of int
        Trial size (equal sizes) or one size per trial (unequal sizes). The paper's
        totals 2800, 1400, 700 with 7 trials are 400, 200, 100 per trial.
    covariates : {3, 9}
        Covariate design: 3 covariates with 3 interactions, or 9 with 4.
    effect_variation : bool
        Let the effects of two covariates and the treatment effect vary between
        trials (the paper's scenarios 7–12).
    outcome : {"binary", "time_to_event"}
        Outcome type. Time-to-event: Weibull times as in the paper (shape 1.15,
        :mod:`bayes_hte.simulate._weibull`), columns ``time`` and ``event``, truth =
        survival difference at ``horizon``; options ``shape``, ``a``, ``follow_up``,
        ``censoring_rate``, ``horizon`` below (time-to-event only).
    alpha, tau_alpha : float
        Mean and SD of the trial intercepts (logit scale; default alpha -1.1 for a binary
        outcome, 0 for time-to-event, where it shifts the log time scale).
    gamma : float
        Treatment main effect (log-odds ratio at x = 0).
    sd_theta, sd_gamma : float
        Between-trial SDs of the varying effects when ``effect_variation``.
    seed : int, optional
        Random seed.
    shape : float, optional
        Time-to-event only: Weibull shape :math:`k` (default 1.15, the paper's).
    a : float, optional
        Time-to-event only: Weibull time scale :math:`a` in time units (default 50, the
        paper's); the event-time scale of a patient is :math:`a / e^{\ell}`.
    follow_up : float, optional
        Time-to-event only: administrative censoring time, in time units (default 100).
    censoring_rate : float, optional
        Time-to-event only: rate of the exponential random censoring, per time unit
        (default 0.002; 0 = administrative censoring only).
    horizon : float, optional
        Time-to-event only: time (time units) of the true survival difference
        ``true_ite``; default the median follow-up (reverse Kaplan–Meier) of the
        simulated data.

    Returns
    -------
    SimulatedIPDMA
        The patients (``data``, with the true ITE per patient) and the data-generating
        parameters (``truth``).

    Raises
    ------
    DataError
        ``covariates`` not 3 or 9, ``trials < 1``, ``patients_per_trial`` not one size
        or ``trials`` sizes or a trial under 4 patients, an unknown ``outcome``,
        time-to-event options with a binary outcome, or invalid Weibull settings.
    """
    if covariates not in DESIGNS:
        raise DataError(f"covariates must be 3 or 9 (the paper's designs), got {covariates!r}")
    if trials < 1:
        raise DataError(f"trials must be >= 1, got {trials}")
    sizes = (np.full(trials, int(patients_per_trial)) if np.isscalar(patients_per_trial)
             else np.asarray(patients_per_trial, dtype=int))
    if sizes.shape != (trials,):
        raise DataError(f"patients_per_trial must be an int or {trials} sizes, got {sizes}")
    if (sizes < 4).any():
        raise DataError(f"every trial needs at least 4 patients, got sizes {sizes.tolist()}")
    if alpha is None:
        alpha = -1.1 if outcome == "binary" else 0.0
    rng = np.random.default_rng(seed)
    design = DESIGNS[covariates]
    names = list(design["theta"])
    theta = np.array([design["theta"][c] for c in names])
    eta = np.array([design["eta"].get(c, 0.0) for c in names])
    varying = np.array([c in design["varying"] for c in names])

    alpha_j = alpha + tau_alpha * rng.standard_normal(trials)
    theta_j = np.tile(theta, (trials, 1))
    gamma_j = np.full(trials, gamma)
    if effect_variation:
        theta_j = theta_j + sd_theta * rng.standard_normal((trials, len(names))) * varying
        gamma_j = gamma_j + sd_gamma * rng.standard_normal(trials)

    n = int(sizes.sum())
    trial = np.repeat(np.arange(trials), sizes)
    X = np.empty((n, len(names)))
    for k, c in enumerate(names):
        if c in design["continuous"]:
            X[:, k] = rng.standard_normal(n)
        else:
            X[:, k] = rng.binomial(1, design["binary"][c], n)
    treat = rng.binomial(1, 0.5, n)
    # both arms in every trial (a trial of 4+ patients could draw one arm by chance)
    for j in range(trials):
        rows = np.flatnonzero(trial == j)
        if treat[rows].min() == treat[rows].max():
            treat[rows[: len(rows) // 2]] = 1 - treat[rows[0]]

    base = alpha_j[trial] + (X * theta_j[trial]).sum(1)
    modifier = gamma_j[trial] + X @ eta
    lp0, lp1 = base, base + modifier
    base_avg = alpha + X @ theta
    lp0_avg, lp1_avg = base_avg, base_avg + gamma + X @ eta

    df = pd.DataFrame(X, columns=names)
    for k, c in enumerate(names):
        if c not in design["continuous"]:
            df[c] = X[:, k].astype(np.int64)
    df.insert(0, "trial", [f"T{j + 1}" for j in trial])
    df.insert(1, "treat", treat)
    truth = {
        "alpha": alpha, "tau_alpha": tau_alpha, "gamma": gamma,
        "theta": dict(zip(names, theta.tolist(), strict=True)),
        "eta": dict(zip(names, eta.tolist(), strict=True)),
        "alpha_j": alpha_j.tolist(), "theta_j": theta_j.tolist(), "gamma_j": gamma_j.tolist(),
        "effect_variation": effect_variation, "covariates": covariates,
    }
    given = {"shape": shape, "a": a, "follow_up": follow_up,
             "censoring_rate": censoring_rate, "horizon": horizon}
    survival_options = {k: v for k, v in given.items() if v is not None}
    if outcome == "binary":
        if survival_options:
            raise DataError(f"options {sorted(survival_options)} apply to time-to-event only")
        p0, p1 = expit(lp0), expit(lp1)
        df["y"] = rng.binomial(1, np.where(treat == 1, p1, p0))
        df["p0"], df["p1"] = p0, p1
        df["true_ite"] = p1 - p0
        df["true_ite_average"] = expit(lp1_avg) - expit(lp0_avg)
        return SimulatedIPDMA(data=df, truth=truth, covariates=names)
    if outcome == "time_to_event":
        df, truth = add_weibull_outcome(df, truth, lp0=lp0, lp1=lp1, lp0_avg=lp0_avg,
                                        lp1_avg=lp1_avg, rng=rng, **survival_options)
        return SimulatedIPDMA(data=df, truth=truth, covariates=names, outcome="event",
                              time="time")
    raise DataError(f"outcome must be 'binary' or 'time_to_event', got {outcome!r}")
