r"""Simulation 1 and 2 of the two-step IPD meta-analysis paper for longitudinal trials.

Source: "A two-step approach for IPD meta-analysis of longitudinal trials" (section
"Simulation studies"). Trial :math:`i` has :math:`n_i \sim U\{50, \dots, 500\}`
participants, half of them treated, each measured at visits 1, 2, 3 under the mixed model (3)

.. math::

    Y_{ijt} = b_{ij} + \beta_{i1} + \beta_{i2}\,\mathrm{treat}_{ij}
      + \beta_{i3}\,\mathrm{time}_{2,ijt} + \beta_{i4}\,\mathrm{time}_{3,ijt}
      + \beta_{i5}\,z_{ij} + \beta_{i6}\,\mathrm{treat}_{ij}\mathrm{time}_{2,ijt}
      + \beta_{i7}\,\mathrm{treat}_{ij}\mathrm{time}_{3,ijt}
      + \beta_{i8}\,\mathrm{time}_{2,ijt} z_{ij} + \beta_{i9}\,\mathrm{time}_{3,ijt} z_{ij}
      + \beta_{i10}\,\mathrm{treat}_{ij} z_{ij} + \varepsilon_{ijt},

:math:`\varepsilon_{ijt} \sim N(0, 3.2^2)`, :math:`b_{ij} \sim N(0, \zeta_i^2)`.

``design="simulation1"``
    No heterogeneity: :math:`\beta_i = \mu`, :math:`\zeta_i = 4.5` (Table 1).
``design="simulation2"``
    :math:`\beta_{ik} \sim N(\mu_k, \tau^2)` independently (compound-symmetric
    :math:`\Omega = \tau^2 I`), :math:`\tau^2 \in \{0.1, 0.2\}`, and trial-specific
    random-intercept SDs :math:`\zeta_i \sim U(2.5, 9.0)`. Setting (a) measures all
    three visits in every trial (Table 2); setting (b), ``missing_visit_fraction=0.4``,
    measures only visits 1 and 2 in 40% of the trials (Table 3).

:math:`\mu = (-0.04, 0.14, 1.56, 0.83, -0.46, 0.57, 0.14, 0.15, 0.05, -0.06)`. The paper's
text gives :math:`\mu_2 = -0.14` but its Tables 1-3 are headed ":math:`\mu_2 = 0.14`" and
report means near +0.14, so the simulations used +0.14; we do too.

The covariate :math:`z` (baseline severity, the candidate effect modifier) is not
specified in the paper. We draw :math:`z \sim N(19.3, 6.3^2)`, calibrated so that the
one-step SEs in Simulation 1 at N = 5 match Table 1 for the coefficients that depend
on :math:`z`'s scale (:math:`\mu_2, \mu_4, \mu_5, \mu_9, \mu_{10}`: about 0.87, 0.41,
0.032, 0.019, 0.042; Table 1: 0.867, 0.410, 0.032, 0.020, 0.042) -- a baseline-severity
scale far from zero, as for HRSD scores. The SE of :math:`\mu_7` (treatment x visit 3,
which does not depend on :math:`z`) is then about 0.24, above Table 1's 0.176, which no
choice of :math:`z` changes under the stated variances (:math:`4.5^2`, :math:`3.2^2`).

Optional MAR dropout (``dropout > 0``, not in the paper): after each visit a participant
leaves with probability :math:`\mathrm{dropout} \cdot 2\,\mathrm{expit}((y - m)/s)`
depending on the outcome just observed (:math:`m, s` its mean and SD at that visit), so
missingness depends on observed data only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayes_hte.options import TwoStepDesign, check_count

#: Coefficients of model (3), mimicking Furukawa et al.'s antidepressant IPD-MA.
MU = (-0.04, 0.14, 1.56, 0.83, -0.46, 0.57, 0.14, 0.15, 0.05, -0.06)
#: Names of the coefficients as :meth:`LongitudinalData.design_matrix` builds them from
#: the simulated columns (reference visit 1).
COEF_NAMES = ("(intercept)", "treat", "visit[2]", "visit[3]", "z", "treat:visit[2]",
              "treat:visit[3]", "visit[2]:z", "visit[3]:z", "treat:z")
#: Visit each coefficient involves (None: every trial estimates it).
COEF_VISIT = (None, None, 2, 3, None, 2, 3, 2, 3, None)
VISITS = (1, 2, 3)
#: The data-frame columns, ready for ``LongitudinalData.from_frame(df, **COLUMNS)``.
COLUMNS = {"outcome": "y", "treatment": "treat", "study": "trial", "subject": "subject",
           "visit": "visit", "covariates": ["z"]}

Design = TwoStepDesign


@dataclass(frozen=True)
class TwoStepSimulation:
    """Simulated longitudinal trials and their truth.

    Built by :func:`two_step`; the fields are also its attributes. Coefficients and
    SDs are in the units of the outcome ``y`` (e.g. HRSD points; ``z`` coefficients per
    unit of ``z``).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format: ``trial, subject, visit, treat, z, y`` (one row per measurement).
    mu : pandas.Series
        Grand-mean coefficients :math:`\\mu` (index: coefficient names).
    beta : pandas.DataFrame
        Trial-specific coefficients :math:`\\beta_i` (trials x coefficients).
    omega : pandas.DataFrame
        Between-trial covariance :math:`\\Omega = \\tau^2 I` (zero in simulation 1).
    sd_intercept : pandas.Series
        Random-intercept SD :math:`\\zeta_i` per trial.
    sd_error : pandas.Series
        Residual SD per trial.
    visits_measured : pandas.DataFrame
        Trials x visits, True where the trial planned the visit.
    params : dict
        The arguments that produced the data.
    """

    data: pd.DataFrame
    mu: pd.Series
    beta: pd.DataFrame
    omega: pd.DataFrame
    sd_intercept: pd.Series
    sd_error: pd.Series
    visits_measured: pd.DataFrame
    params: dict

    @property
    def columns(self) -> dict:
        """Column roles for ``LongitudinalData.from_frame``."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in COLUMNS.items()}

    def true_coefficients(self) -> pd.DataFrame:
        """Trial coefficients with NaN where a trial never measured the visit involved
        (what step 1 can estimate, Remark C).

        Returns
        -------
        pandas.DataFrame
            Trials × coefficients (:data:`COEF_NAMES`), a copy of ``beta`` with the
            visit-3 coefficients set to NaN in the trials without visit 3.
        """
        out = self.beta.copy()
        for name, v in zip(COEF_NAMES, COEF_VISIT, strict=True):
            if v is not None:
                out.loc[~self.visits_measured[v].to_numpy(), name] = np.nan
        return out

    def treatment_effect(self, z: ArrayLike, visit: int, *, trial: str | None = None
                         ) -> np.ndarray:
        r"""True treatment effect (treated minus control mean) at ``visit`` for baseline
        ``z``: in an average trial (``trial=None``) or in a given trial.

        From model (3): :math:`\beta_2 + \beta_{10} z` at visit 1, plus
        :math:`\beta_6` at visit 2 or :math:`\beta_7` at visit 3, with the grand means
        :math:`\mu` or trial ``trial``'s :math:`\beta_i`.

        Parameters
        ----------
        z : float or array_like
            Baseline covariate value(s), in the units of the simulated ``z``.
        visit : {1, 2, 3}
            Visit at which the effect is evaluated.
        trial : str, optional
            Trial label (e.g. ``"T01"``, an index of ``beta``); None = the average trial.

        Returns
        -------
        ndarray
            The effect in outcome units, same shape as ``z`` (a NumPy scalar for a
            scalar ``z``).

        Raises
        ------
        KeyError
            An unknown ``trial`` or a ``visit`` other than 1, 2, 3.
        """
        b = self.mu if trial is None else self.beta.loc[trial]
        z = np.asarray(z, dtype=float)
        eff = b["treat"] + b["treat:z"] * z
        if visit != 1:
            eff = eff + b[f"treat:visit[{visit}]"]
        return eff


def two_step(
    *,
    design: Design = "simulation2",
    trials: int = 5,
    tau2: float | None = None,
    missing_visit_fraction: float = 0.0,
    size_range: tuple[int, int] = (50, 500),
    sd_intercept: float = 4.5,
    sd_intercept_range: tuple[float, float] = (2.5, 9.0),
    sd_error: float = 3.2,
    z_mean: float = 19.3,
    z_sd: float = 6.3,
    mu: tuple[float, ...] | None = None,
    dropout: float = 0.0,
    seed: int | np.random.Generator | None = None,
) -> TwoStepSimulation:
    """Simulate one meta-analysis of longitudinal trials under model (3).

    Source: simulations 1 and 2 of the two-step IPD meta-analysis paper
    ("A two-step approach for IPD meta-analysis of longitudinal trials", section
    "Simulation studies"); the model and our choices (the covariate ``z``, the sign of
    :math:`\\mu_2`) are in the module docstring. Outcome units are those of the paper's
    depression scores.

    Parameters
    ----------
    design : {"simulation1", "simulation2"}
        Simulation 1 (no heterogeneity, common random-intercept SD ``sd_intercept``)
        or Simulation 2 (coefficients :math:`N(\\mu_k, \\tau^2)`, random-intercept SDs
        uniform on ``sd_intercept_range``).
    trials : int
        Number of trials N (the paper: 5, 10, 15, 20).
    tau2 : float, optional
        Between-trial variance of every coefficient (simulation 2; default 0.1).
        Must be 0 or None in simulation 1.
    missing_visit_fraction : float
        Fraction of trials (rounded to a count, chosen at random) that measure only
        visits 1 and 2 (0.4 in the paper's setting (b)).
    size_range : (int, int)
        Trial sizes are discrete uniform on this closed range.
    sd_intercept, sd_intercept_range : float, (float, float)
        Random-intercept SD :math:`\\zeta` (simulation 1; the paper's 4.5) or its uniform
        range (simulation 2; (2.5, 9.0)), outcome units.
    sd_error : float
        Residual SD (outcome units; the paper's 3.2).
    z_mean, z_sd : float
        Mean and SD of the normal baseline covariate z (ours: 19.3 and 6.3, a
        severity-score scale).
    mu : sequence of 10 floats, optional
        Grand-mean coefficients (default :data:`MU`).
    dropout : float
        MAR monotone dropout intensity in [0, 0.5] (0: complete follow-up).
    seed : int or Generator, optional
        Random seed (``numpy.random.default_rng``).

    Returns
    -------
    TwoStepSimulation
        The long-format measurements (``data``) and the truth: grand-mean and
        trial coefficients, :math:`\\Omega`, random-intercept and residual SDs, and which
        visits each trial measured.

    Raises
    ------
    ValueError
        An unknown ``design``, ``trials`` not an integer >= 1, ``tau2`` given in
        simulation 1 or negative, ``missing_visit_fraction`` outside [0, 1), a bad
        ``size_range`` or ``sd_intercept_range``, ``dropout`` outside [0, 0.5], a
        non-positive SD, or ``mu`` not of length 10.

    Examples
    --------
    >>> sim = two_step(design="simulation2", trials=5, tau2=0.1,
    ...                missing_visit_fraction=0.4, seed=1)
    >>> int(sim.visits_measured[3].sum())
    3
    """
    if design not in ("simulation1", "simulation2"):
        raise ValueError(f"design must be 'simulation1' or 'simulation2', got {design!r}")
    trials = check_count("trials", trials, low=1)
    if design == "simulation1":
        if tau2 not in (None, 0, 0.0):
            raise ValueError("simulation1 has no heterogeneity: leave tau2 unset (or 0); "
                             "use design='simulation2' for tau2 > 0")
        tau2 = 0.0
    else:
        tau2 = 0.1 if tau2 is None else float(tau2)
        if not np.isfinite(tau2) or tau2 < 0:
            raise ValueError(f"tau2 must be finite and >= 0, got {tau2!r}")
    if not 0.0 <= missing_visit_fraction < 1.0:
        raise ValueError(f"missing_visit_fraction must be in [0, 1), got "
                         f"{missing_visit_fraction!r}")
    lo, hi = (int(v) for v in size_range)
    if not 4 <= lo <= hi:
        raise ValueError(f"size_range must be (low, high) with 4 <= low <= high, got "
                         f"{size_range!r}")
    if not 0.0 <= dropout <= 0.5:
        raise ValueError(f"dropout must be in [0, 0.5], got {dropout!r}")
    for name, v in (("sd_intercept", sd_intercept), ("sd_error", sd_error), ("z_sd", z_sd)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be positive, got {v!r}")
    mu_arr = np.asarray(MU if mu is None else mu, dtype=float)
    if mu_arr.shape != (len(COEF_NAMES),):
        raise ValueError(f"mu must have {len(COEF_NAMES)} values, got shape {mu_arr.shape}")

    rng = np.random.default_rng(seed)
    labels = [f"T{i + 1:02d}" for i in range(trials)]
    sizes = rng.integers(lo, hi + 1, size=trials)
    beta = mu_arr + np.sqrt(tau2) * rng.standard_normal((trials, len(mu_arr)))
    if design == "simulation1":
        zeta = np.full(trials, float(sd_intercept))
    else:
        a, b = sd_intercept_range
        if not 0 < a <= b:
            raise ValueError(f"sd_intercept_range must be (low, high) with 0 < low <= high, "
                             f"got {sd_intercept_range!r}")
        zeta = rng.uniform(a, b, size=trials)
    n_two = int(round(missing_visit_fraction * trials))
    two_visit = np.zeros(trials, dtype=bool)
    two_visit[rng.choice(trials, size=n_two, replace=False)] = True

    trial_of = np.repeat(np.arange(trials), sizes)
    n_tot = int(sizes.sum())
    treat = np.concatenate([rng.permutation(np.arange(n) < (n + 1) // 2) for n in sizes])
    treat = treat.astype(np.int64)
    z = z_mean + z_sd * rng.standard_normal(n_tot)
    b_int = zeta[trial_of] * rng.standard_normal(n_tot)
    B = beta[trial_of]  # (n_tot, 10)
    means = np.empty((n_tot, 3))
    for t, visit in enumerate(VISITS):
        t2, t3 = float(visit == 2), float(visit == 3)
        X = np.column_stack([np.ones(n_tot), treat, np.full(n_tot, t2), np.full(n_tot, t3), z,
                             treat * t2, treat * t3, t2 * z, t3 * z, treat * z])
        means[:, t] = (X * B).sum(axis=1)
    Y = means + b_int[:, None] + sd_error * rng.standard_normal((n_tot, 3))
    observed = np.ones((n_tot, 3), dtype=bool)
    observed[two_visit[trial_of], 2] = False
    if dropout > 0:
        present = np.ones(n_tot, dtype=bool)
        for t in (1, 2):
            prev = Y[:, t - 1]
            s = (prev - prev.mean()) / prev.std()
            p_leave = dropout * 2.0 / (1.0 + np.exp(-s))
            present &= rng.uniform(size=n_tot) >= p_leave
            observed[:, t] &= present
    subj = np.concatenate([np.arange(1, n + 1) for n in sizes])
    rows, cols = np.nonzero(observed)
    data = pd.DataFrame({
        "trial": np.asarray(labels, dtype=object)[trial_of[rows]],
        "subject": subj[rows],
        "visit": np.asarray(VISITS)[cols],
        "treat": treat[rows],
        "z": z[rows],
        "y": Y[rows, cols],
    })
    visits_measured = pd.DataFrame(
        {v: (~two_visit if v == 3 else np.ones(trials, dtype=bool)) for v in VISITS},
        index=pd.Index(labels, name="trial"))
    params = {"design": design, "trials": trials, "tau2": tau2,
              "missing_visit_fraction": missing_visit_fraction, "size_range": (lo, hi),
              "sd_intercept": sd_intercept, "sd_intercept_range": tuple(sd_intercept_range),
              "sd_error": sd_error, "z_mean": z_mean, "z_sd": z_sd, "mu": tuple(mu_arr),
              "dropout": dropout, "seed": seed if isinstance(seed, int | None) else "generator",
              "sizes": sizes.tolist()}
    names = list(COEF_NAMES)
    return TwoStepSimulation(
        data=data,
        mu=pd.Series(mu_arr, index=names, name="mu"),
        beta=pd.DataFrame(beta, index=pd.Index(labels, name="trial"), columns=names),
        omega=pd.DataFrame(tau2 * np.eye(len(names)), index=names, columns=names),
        sd_intercept=pd.Series(zeta, index=pd.Index(labels, name="trial"), name="sd_intercept"),
        sd_error=pd.Series(np.full(trials, float(sd_error)), index=pd.Index(labels, name="trial"),
                           name="sd_error"),
        visits_measured=visits_measured,
        params=params,
    )
