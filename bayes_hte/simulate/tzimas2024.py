r"""The synthetic bleeding-risk RCT of Tzimas (2024).

Source: Tzimas G. *Estimating heterogeneous treatment effects using hierarchical
Bayesian models: a simulation-based study* (2024), section 2.1, Table 2 and the
generator of appendix A.

Covariates (Table 2), for patient :math:`i`:

* age :math:`\sim N(55, 12^2)`, clipped to [25, 85];
* gender :math:`\sim \mathrm{Bern}(0.52)` (1 = female);
* :math:`(\mathrm{SBP}, \mathrm{DBP}) \sim N\big((130, 80), [[200, 100], [100, 100]]\big)`,
  clipped to [80, 220] and [40, 130] mmHg ("truncated at realistic values": the bounds
  are ours and bind for fewer than 1 in 10,000 patients);
* BMI :math:`\sim N(28, 5^2)`, clipped to [16, 50];
* hypertension :math:`= 1\{\mathrm{SBP} \ge 140 \text{ or } \mathrm{DBP} \ge 90\}`;
* diabetes :math:`\sim \mathrm{Bern}(0.2 + 0.2\cdot 1\{\mathrm{BMI} > 30\})`;
* smoking :math:`\sim \mathrm{Bern}(0.25 - 0.1\cdot 1\{\mathrm{age} > 65\})`;
* anticoagulant :math:`\sim \mathrm{Bern}(0.3)`, prior bleeding :math:`\sim \mathrm{Bern}(0.1)`;
* treatment :math:`T_i \sim \mathrm{Bern}(0.5)`.

Baseline risk (equations 1-2 with the coefficients of appendix A)

.. math::

    \mathrm{logit}\, p_{0i} = -3.5 + 0.02(\mathrm{age}_i - 55) + 0.8\,\mathrm{anticoag}_i
        + 1.2\,\mathrm{prior\_bleeding}_i + 0.3\,\mathrm{diabetes}_i
        + 0.01(\mathrm{SBP}_i - 130),

treatment effect on the log-odds scale (appendix A; equation 3 of the text names the
terms without values and uses :math:`1\{\mathrm{age} > 65\}`, the generator that produced
the paper's results uses the centred age below)

.. math::

    TE_i = -0.2 + 0.05(\mathrm{age}_i - 55) + 0.4\,\mathrm{anticoag}_i
        - 0.3\,\mathrm{diabetes}_i - 0.2\cdot 1\{\mathrm{BMI}_i > 30\}
        + 0.3\,\mathrm{prior\_bleeding}_i,

and the outcome (a major bleed, the unfavourable event; equation 4)
:math:`y_i \sim \mathrm{Bern}(\mathrm{expit}(\mathrm{logit}\, p_{0i} + T_i\, TE_i))`.
A positive :math:`TE_i` means *more* bleeding under treatment (harm).

Departures from the paper's R code, each deliberate:

* its generator draws the treatment and the baseline risk twice (the second draw
  overwrites the first); we draw each once, as the equations say;
* gender uses :math:`p = 0.52` of Table 2 (the R code has 0.5; gender enters neither
  equation, so this changes nothing else);
* continuous covariates are rounded as in the paper's data frame (age and BMI to 0.1,
  blood pressures to whole mmHg) *before* the derived variables and the truth are
  computed, so the truth is an exact function of the recorded covariates.

The truth per patient: ``true_te`` (:math:`TE_i`, log-odds scale; the paper's
``true_te``), ``p0``, ``p1`` (risk without / with treatment) and ``true_cate``
(:math:`p_{1i} - p_{0i}`, the CATE on the risk-difference scale; the data-generating
process has no individual deviations, so each patient's effect *is* the CATE of
patients with the same covariates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_hte.errors import DataError
from bayes_hte.options import check_count

#: Baseline-risk coefficients (logit scale) of appendix A.
BASELINE: dict[str, float] = {
    "intercept": -3.5, "age": 0.02, "anticoagulant": 0.8, "prior_bleeding": 1.2,
    "diabetes": 0.3, "sbp": 0.01,
}
#: Treatment-effect coefficients (log-odds scale) of appendix A; ``age`` is per year.
EFFECT: dict[str, float] = {
    "intercept": -0.2, "age": 0.05, "anticoagulant": 0.4, "diabetes": -0.3,
    "bmi_over_30": -0.2, "prior_bleeding": 0.3,
}
#: Every baseline covariate the generator writes.
ALL_COVARIATES = ["age", "gender", "bmi", "sbp", "dbp", "hypertension", "diabetes", "smoking",
                  "anticoagulant", "prior_bleeding"]
#: The paper's model (appendix B): main effects, treatment interactions, subgrouping.
PAPER_COVARIATES = ["age", "anticoagulant", "diabetes", "prior_bleeding", "bmi"]
PAPER_INTERACTIONS = ["age", "anticoagulant", "diabetes"]
PAPER_SUBGROUPS = ["gender"]


@dataclass
class SimulatedRCT:
    """A simulated trial and its truth.

    Built by :func:`tzimas2024`; the fields are also its attributes. The event is a
    major bleed (unfavourable), so a positive effect means harm.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient: ``subject_id``, the covariates of :data:`ALL_COVARIATES`
        (binary ones coded 0/1; ``gender`` as ``"Female"``/``"Male"``), ``treatment``
        (0/1), ``event`` (0/1) and the truth ``true_te`` (log-odds), ``p0``, ``p1``,
        ``true_cate`` (risk difference ``p1 - p0``).
    truth : dict
        The data-generating coefficients (``baseline``, ``effect``) and settings.
    covariates, interactions, subgroups : list of str
        The paper's analysis model (appendix B): covariates with main effects, those
        with a treatment interaction, and the subgrouping with random effects.
    outcome : str
        Outcome column (``"event"``, 1 = major bleed).
    treatment : str
        0/1 treatment column (``"treatment"``).
    study : str or None
        Study column; None (one trial).
    """

    data: pd.DataFrame
    truth: dict
    covariates: list[str] = field(default_factory=lambda: list(PAPER_COVARIATES))
    interactions: list[str] = field(default_factory=lambda: list(PAPER_INTERACTIONS))
    subgroups: list[str] = field(default_factory=lambda: list(PAPER_SUBGROUPS))
    outcome: str = "event"
    treatment: str = "treatment"
    study: str | None = None

    @property
    def true_te(self) -> np.ndarray:
        """True treatment effect per patient on the log-odds scale."""
        return self.data["true_te"].to_numpy()

    @property
    def true_cate(self) -> np.ndarray:
        """True CATE per patient on the risk-difference scale (``p1 - p0``)."""
        return self.data["true_cate"].to_numpy()


def _override(defaults: dict[str, float], user: Mapping | None, what: str) -> dict[str, float]:
    out = dict(defaults)
    for k, v in (user or {}).items():
        if k not in out:
            raise DataError(f"{what}: no coefficient {k!r}; the coefficients are {sorted(out)}")
        out[k] = float(v)
    return out


def tzimas2024(
    n: int = 2000,
    *,
    seed: int | None = None,
    p_female: float = 0.52,
    baseline: Mapping[str, float] | None = None,
    effect: Mapping[str, float] | None = None,
) -> SimulatedRCT:
    """Simulate the paper's randomized trial.

    Source: Tzimas (2024), section 2.1, Table 2 and the generator of appendix A
    (covariates, baseline risk and log-odds treatment effect in the module docstring).

    Parameters
    ----------
    n : int
        Number of patients (the paper's analysis has 2000; at least 20).
    seed : int, optional
        Random seed (``numpy.random.default_rng``).
    p_female : float
        Probability of ``gender == "Female"`` (Table 2: 0.52; the R code: 0.5).
    baseline, effect : mapping, optional
        Overrides of :data:`BASELINE` and :data:`EFFECT` by name, e.g.
        ``effect={"prior_bleeding": 0.0}`` (log-odds; ``age`` per year from 55,
        ``sbp`` per mmHg from 130).

    Returns
    -------
    SimulatedRCT
        The patients (``data``, with the true effect per patient on the log-odds
        scale, ``true_te``, and the risk-difference scale, ``true_cate``) and the
        data-generating coefficients (``truth``).

    Raises
    ------
    DataError
        ``n`` not an integer >= 20, ``p_female`` outside (0, 1), or an override naming
        an unknown coefficient.

    Examples
    --------
    >>> sim = tzimas2024(n=2000, seed=1)
    >>> sim.data.shape
    (2000, 17)
    >>> round(float(sim.data["true_te"].std()), 1)
    0.7
    """
    check_count("n (patients)", n, low=20, error=DataError)
    if not 0 < p_female < 1:
        raise DataError(f"p_female must be in (0, 1), got {p_female!r}")
    b = _override(BASELINE, baseline, "baseline")
    g = _override(EFFECT, effect, "effect")
    rng = np.random.default_rng(seed)
    n = int(n)

    age = np.round(np.clip(rng.normal(55.0, 12.0, n), 25.0, 85.0), 1)
    female = rng.binomial(1, p_female, n)
    bp = rng.multivariate_normal([130.0, 80.0], [[200.0, 100.0], [100.0, 100.0]], size=n)
    sbp = np.round(np.clip(bp[:, 0], 80.0, 220.0))
    dbp = np.round(np.clip(bp[:, 1], 40.0, 130.0))
    bmi = np.round(np.clip(rng.normal(28.0, 5.0, n), 16.0, 50.0), 1)
    hypertension = ((sbp >= 140) | (dbp >= 90)).astype(np.int64)
    diabetes = rng.binomial(1, 0.2 + 0.2 * (bmi > 30))
    smoking = rng.binomial(1, 0.25 - 0.1 * (age > 65))
    anticoagulant = rng.binomial(1, 0.3, n)
    prior_bleeding = rng.binomial(1, 0.1, n)
    treatment = rng.binomial(1, 0.5, n)

    lp0 = (b["intercept"] + b["age"] * (age - 55) + b["anticoagulant"] * anticoagulant
           + b["prior_bleeding"] * prior_bleeding + b["diabetes"] * diabetes
           + b["sbp"] * (sbp - 130))
    te = (g["intercept"] + g["age"] * (age - 55) + g["anticoagulant"] * anticoagulant
          + g["diabetes"] * diabetes + g["bmi_over_30"] * (bmi > 30)
          + g["prior_bleeding"] * prior_bleeding)
    p0, p1 = expit(lp0), expit(lp0 + te)
    event = rng.binomial(1, np.where(treatment == 1, p1, p0))

    df = pd.DataFrame({
        "subject_id": np.arange(1, n + 1),
        "age": age,
        "gender": np.where(female == 1, "Female", "Male"),
        "bmi": bmi,
        "sbp": sbp,
        "dbp": dbp,
        "hypertension": hypertension,
        "diabetes": diabetes.astype(np.int64),
        "smoking": smoking.astype(np.int64),
        "anticoagulant": anticoagulant.astype(np.int64),
        "prior_bleeding": prior_bleeding.astype(np.int64),
        "treatment": treatment.astype(np.int64),
        "event": event.astype(np.int64),
        "true_te": te,
        "p0": p0,
        "p1": p1,
        "true_cate": p1 - p0,
    })
    truth = {"baseline": b, "effect": g, "p_female": p_female, "n": n, "seed": seed}
    return SimulatedRCT(data=df, truth=truth)
