r"""The data-generating mechanisms a study spec can name: simulators of :mod:`bayes_hte.simulate`.

A study spec's ``[data] simulator`` is a key of :data:`SIMULATORS`. Each entry says how
to call the simulator, what its draw becomes for the methods (one of the data types
below) and how the true values of the estimands follow from the design parameters
alone (analytically or by deterministic quadrature, never from a draw):

======================== ================ ==================================================
simulator                data             estimands (truth)
======================== ================ ==================================================
``berenfeld2026``        ArmTable         ``RD``, ``RR``, ``OR`` of :math:`\theta(P^*)`
``berenfeld2026_counts`` ArmTable         the same, counts drawn from their exact law
``normal_meta``          EffectTable      ``mu`` (also ``tau2``, ``tau``)
``shi_cima``             TrialSummaries   ``ate``: the target-population ATE
``tzimas2024``           TrialIPD         ``ate_logit``, ``ate_rd``, ``hte_<covariate>``
                                          (the patients' true CATEs ride along to
                                          score per-patient predictions), in each
                                          ``design`` of the BMI modifier
``bouvier2024``          MetaIPD          ``ate_heldout``: the held-out trial's mean true
                                          ITE (per replicate, from the data)
``bouvier2024_fit``      MetaIPD          the design's coefficients ``gamma``,
                                          ``eta[x]``, ``theta[x]``, ``tau_alpha``
                                          (``shape``), all trials fitted (parameter
                                          recovery; binary or time to event)
``ipd_aggregate``        IPDAggregateData ``RD`` (the target population's RD), the
                                          coefficients ``theta[x]``, ``gamma``, ``eta[x]``
``two_step``             LongitudinalData the grand-mean coefficients :math:`\mu` of model
                                          (3), named as the design's columns (``treat``,
                                          ``visit[3]``, ``treat:z``, ...)
``cima_linear``          TrialSummaries   ``ate``: the mean true CATE over the target rows
                                          (per replicate, from the data)
``maic_stc``             IPDAggregateData ``RD``, ``RR``, ``OR`` in the target (one IPD
                                          trial, no aggregate trial; 2e6 fixed draws)
======================== ================ ==================================================

A simulator whose truth depends on the draw (``bouvier2024``: the patients of the
held-out trial; ``cima_linear``: the target rows; ``bouvier2024_fit`` reads the
design's coefficients from the draw) has ``truth_reads_data``; its truth
is then computed per replicate by :func:`bayes_hte.studies.run` (``truth(data=...,
**scenario)``).

:func:`data_seed` gives a method that samples (MCMC, a random split) a seed fixed by
the data set, so that a replicate's results do not depend on the worker that ran it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtr

from bayes_hte import simulate
from bayes_hte.data import ArmTable, CovariateSummary, EffectTable, IPDData, LongitudinalData
from bayes_hte.errors import DataError
from bayes_hte.options import (
    TZIMAS_DESIGN_NAMES,
    BouvierCovariates,
    Outcome,
    TzimasDesign,
    check_choice,
)
from bayes_hte.simulate.bouvier2024 import SimulatedIPDMA
from bayes_hte.simulate.cima_linear import SimulatedLinearCIMA, linear_cate_truth
from bayes_hte.simulate.ipd_aggregate import SimulatedIPDAggregate, ipd_aggregate_truth
from bayes_hte.simulate.shi_cima import BETA, ETA, THETA, SimulatedCIMA
from bayes_hte.simulate.two_step import COEF_NAMES as TWO_STEP_COEFS
from bayes_hte.simulate.two_step import MU as TWO_STEP_MU
from bayes_hte.simulate.two_step import TwoStepSimulation
from bayes_hte.simulate.tzimas2024 import BASELINE, EFFECT, SimulatedRCT


# =========================================================================== data types
@dataclass(frozen=True, eq=False)
class TrialSummaries:
    """Aggregate data of randomised trials and the covariates of a target population.

    What aggregate-data methods of a study read (CIMA-AgD, meta-analysis and
    meta-regression of the trials' overall effects); the estimand is the average
    treatment effect in the target population, ``"ate"``, on the scale of the reported
    effects.

    Parameters
    ----------
    effects : pandas.DataFrame
        Reported effects, one row per trial and subgroup stratum: ``trial, subgroup,
        stratum, estimate, se, n`` (optionally ``prop``); the trial's overall effect has
        ``subgroup == "overall"`` (the input of :func:`bayes_hte.comparators.cima`).
    covariates : pandas.DataFrame
        Per-trial covariate summaries ``trial, covariate, mean, sd`` (the proportion as
        ``mean`` and an empty ``sd`` for a binary covariate).
    target : pandas.DataFrame
        Covariate rows of the target population (one column per covariate).
    measure : str, optional
        Label of the effect measure (e.g. ``"RD"``).

    Raises
    ------
    DataError
        A frame misses a column named above, or a trial has no overall effect.
    """

    effects: pd.DataFrame
    covariates: pd.DataFrame
    target: pd.DataFrame
    measure: str | None = None

    def __post_init__(self) -> None:
        for what, frame, cols in (("effects", self.effects, ("trial", "subgroup", "estimate",
                                                              "se")),
                                  ("covariates", self.covariates, ("trial", "covariate",
                                                                   "mean"))):
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise DataError(f"TrialSummaries {what} has no column(s) {missing}")
        trials = set(self.covariates["trial"])
        overall = set(self.effects.loc[self.effects["subgroup"] == "overall", "trial"])
        if trials - overall:
            raise DataError(f"TrialSummaries: trial(s) {sorted(map(str, trials - overall))} "
                            "have no overall effect (subgroup 'overall')")

    @property
    def overall(self) -> EffectTable:
        """The trials' overall effects (``yi``) and their squared SEs (``vi``)."""
        rows = self.effects[self.effects["subgroup"] == "overall"]
        return EffectTable(yi=rows["estimate"].to_numpy(dtype=float),
                           vi=rows["se"].to_numpy(dtype=float) ** 2,
                           labels=[str(t) for t in rows["trial"]], measure=self.measure)

    @property
    def trial_means(self) -> pd.DataFrame:
        """Covariate means per trial: index the trials of :attr:`overall`, a column each."""
        wide = self.covariates.pivot(index="trial", columns="covariate", values="mean")
        wide.index = wide.index.map(str)
        return wide.loc[list(self.overall.labels)]


@dataclass(frozen=True, eq=False)
class TrialIPD:
    """Individual patient data of one randomised trial with a binary outcome.

    What IPD methods of a study read (the subgroup model); the truth columns of the
    simulator are not in ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient: outcome, 0/1 treatment and covariate columns.
    outcome : str
        Outcome column (0/1).
    treatment : str
        Treatment column (0/1).
    true_effects : pandas.DataFrame, optional
        The simulator's true CATE of each patient, one row per row of ``frame`` in the
        same order: ``true_te`` (log-odds scale) and ``true_cate`` (risk difference
        :math:`p_{1i} - p_{0i}`). Read only to score a method's per-patient predictions
        (:func:`bayes_hte.studies.ipd_methods.fit_subgroup_model`), never by a fit, and
        not part of :func:`data_seed`. None for data without a known truth.

    Raises
    ------
    DataError
        ``true_effects`` without the columns ``true_te`` and ``true_cate``, with another
        number of rows than ``frame``, or with non-finite values.
    """

    frame: pd.DataFrame
    outcome: str = "event"
    treatment: str = "treatment"
    true_effects: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        truth = self.true_effects
        if truth is None:
            return
        missing = [c for c in ("true_te", "true_cate") if c not in truth.columns]
        if missing:
            raise DataError(f"true_effects lacks the column(s) {missing}")
        if len(truth) != len(self.frame):
            raise DataError(f"true_effects has {len(truth)} rows but the trial has "
                            f"{len(self.frame)} patients; give one row per patient")
        values = truth[["true_te", "true_cate"]].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise DataError("true_effects has missing or non-finite values at rows "
                            f"{np.flatnonzero(~np.isfinite(values).all(axis=1))[:5].tolist()}")


@dataclass(frozen=True, eq=False)
class MetaIPD:
    """Individual patient data of several trials, one of them held out for validation.

    What IPD meta-analysis methods of a study read (:func:`bayes_hte.studies.ipd_methods.
    fit_ipdma_holdout`): they fit on the other trials and score their predictions in
    the held-out one, the replicate's single fold of internal–external cross-validation.

    Parameters
    ----------
    data : IPDData
        All trials (binary outcome; time to event for ``bouvier2024_fit``); the
        simulator's truth columns are not in it.
    holdout : str or None
        Label of the held-out trial (drawn uniformly by the simulator), or None when
        the methods fit every trial (``bouvier2024_fit``, parameter recovery).
    true_ite : numpy.ndarray, shape (patient,)
        True ITE (risk difference, treated minus control; survival difference at the
        horizon for time to event) of each patient of ``data`` in the patient's own
        trial, in the order of ``data``'s patients. Read only to score predictions
        (MSE, interval coverage), never by a fit.
    true_ite_average : numpy.ndarray, shape (patient,), optional
        The same in an average trial (trial effects at their means): what
        :meth:`bayes_hte.IPDMetaModel.ite` estimates. Read only to score predictions.
    coefficients : mapping of str to float, optional
        The design's population coefficients named as
        :meth:`bayes_hte.IPDMetaModel.parameters` names them (``gamma``, ``eta[x1]``,
        ``theta[x1]``, ...; log-odds, or log-hazard for time to event): the truth of a
        parameter-recovery study. Neither optional field enters :func:`data_seed`.
    """

    data: IPDData
    holdout: str | None
    true_ite: np.ndarray
    true_ite_average: np.ndarray | None = None
    coefficients: Mapping[str, float] | None = None

    @property
    def held_mask(self) -> np.ndarray:
        """Boolean mask of the held-out trial's patients, shape (patient,); all False
        without a held-out trial."""
        if self.holdout is None:
            return np.zeros(self.data.n_patients, dtype=bool)
        labels = np.asarray(self.data.study_labels, dtype=object)
        return labels[self.data.study_idx] == self.holdout


@dataclass(frozen=True, eq=False)
class IPDAggregateData:
    """IPD trials, aggregate-data trials and a target population (issue 16's design).

    What the population-adjustment methods of a study read: the Bayesian IPD + aggregate
    data model (:func:`bayes_hte.studies.ipd_methods.fit_ipd_aggregate`), MAIC and STC
    (:mod:`bayes_hte.studies.comparator_methods`).

    Parameters
    ----------
    ipd : IPDData
        The IPD trials (binary outcome; no truth columns).
    aggregate : ArmTable or None
        Arm events / totals of the aggregate trials (None without any: ``maic_stc``).
    aggregate_covariates : CovariateSummary or None
        Their covariate summaries, one row set per aggregate trial (None without any).
    target : CovariateSummary
        The target population (one population).
    full : IPDData
        Every trial as IPD (the aggregate trials' patients too): the all-IPD reference
        fit, which a real analysis would not have.
    """

    ipd: IPDData
    aggregate: ArmTable | None
    aggregate_covariates: CovariateSummary | None
    target: CovariateSummary
    full: IPDData


#: What a simulator's data become for the methods.
StudyData = (ArmTable | EffectTable | TrialSummaries | TrialIPD | MetaIPD | IPDAggregateData
             | LongitudinalData)


def data_seed(data: StudyData, seed: int = 0) -> int:
    """A seed fixed by the data set (and ``seed``), the same in every process.

    Parameters
    ----------
    data : ArmTable, EffectTable, TrialSummaries or TrialIPD
        The data of one replicate.
    seed : int
        Added entropy (>= 0), so that two methods on the same data can use different
        streams.

    Returns
    -------
    int
        In ``[0, 2**32)``: the first 4 bytes of the SHA-256 of ``seed`` and the data's
        numbers (counts; effect sizes and variances; reported effects and target rows;
        the patient rows), so a replicate's sampler runs are reproducible whatever
        worker runs them.

    Raises
    ------
    TypeError
        ``data`` is none of the types above.
    """
    h = hashlib.sha256(str(int(seed)).encode())
    if isinstance(data, ArmTable | EffectTable):
        names = ("n11", "n10", "n01", "n00") if isinstance(data, ArmTable) else ("yi", "vi")
        arrays = [getattr(data, name) for name in names]
    elif isinstance(data, TrialSummaries):
        arrays = [data.effects[["estimate", "se"]].to_numpy(), data.target.to_numpy()]
    elif isinstance(data, TrialIPD):
        arrays = [pd.util.hash_pandas_object(data.frame, index=False).to_numpy()]
    elif isinstance(data, IPDAggregateData):
        arrays = [data.full.y, data.full.z, data.full.study_idx, data.full.X, *(
            () if data.aggregate is None else (data.aggregate.n11, data.aggregate.n01))]
    elif isinstance(data, MetaIPD):
        ipd = data.data
        arrays = [ipd.y, ipd.z, ipd.study_idx, ipd.X, data.held_mask]
    else:
        raise TypeError(f"no data seed for {type(data).__name__}")
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype=float).tobytes())
    return int.from_bytes(h.digest()[:4], "little")


# =========================================================================== adapters
@dataclass(frozen=True)
class Simulator:
    """How a study uses one simulator of :mod:`bayes_hte.simulate`.

    Parameters
    ----------
    function : callable
        The simulator (``seed=`` takes a :class:`numpy.random.Generator`).
    data : callable
        ``data(result) -> StudyData``: what the methods read.
    truth : callable
        ``truth(**params) -> {estimand: float}``: the true values from the design
        parameters alone (the simulator's defaults fill the ones not given).
    data_type : type
        The type ``data`` returns.
    fixed : tuple of str
        Parameters that are not design parameters (e.g. ``replicates``), set by the
        study and not allowed in a spec.
    truth_reads_data : bool
        ``truth`` is ``truth(*, data, **params)``: the true values depend on the draw
        (e.g. the patients of a held-out trial) and are computed per replicate.
    """

    function: Callable[..., Any]
    data: Callable[[Any], StudyData]
    truth: Callable[..., dict[str, float]]
    data_type: type
    fixed: tuple[str, ...] = ()
    truth_reads_data: bool = False


_BERENFELD_TRUTH_KEYS = ("beta1", "beta0", "mu", "sigma", "p_study")


def _berenfeld_truth(**params: Any) -> dict[str, float]:
    truth = simulate.berenfeld_truth(**{k: params[k] for k in _BERENFELD_TRUTH_KEYS
                                        if k in params})
    return {m: float(v) for m, v in truth["theta_causal"].items()}


def _counts_table(counts: dict) -> ArmTable:
    k = counts["n11"].shape[0]
    return ArmTable(**{c: counts[c][:, 0] for c in ("n11", "n10", "n01", "n00")},
                    labels=[f"study{i + 1}" for i in range(k)])


def _normal_meta_truth(**params: Any) -> dict[str, float]:
    return simulate.normal_meta_truth(**{k: params[k] for k in ("mu", "tau2") if k in params})


# ----------------------------------------------------------------------------- shi_cima
def _shi_cima(*, eta: int = 1, beta: int = 1, gamma: int = 1, theta: int = 1,
              n: int = 5000, seed: Any = None) -> SimulatedCIMA:
    """:func:`bayes_hte.simulate.shi_cima` with its four design factors as parameters.

    ``eta`` (covariate distribution), ``beta`` (selection into the trials), ``gamma``
    (allocation to the trials) and ``theta`` (potential-outcome models) each take the
    level 1 or 2 of the authors' ``expand.grid(eta, beta, gamma, theta)``; the paper's
    scenario number is ``eta + 2 (beta - 1) + 4 (gamma - 1) + 8 (theta - 1)``.
    """
    levels = {"eta": eta, "beta": beta, "gamma": gamma, "theta": theta}
    for name, level in levels.items():
        if level not in (1, 2) or isinstance(level, bool):
            raise DataError(f"shi_cima: {name} must be 1 or 2, got {level!r}")
    number = eta + 2 * (beta - 1) + 4 * (gamma - 1) + 8 * (theta - 1)
    return simulate.shi_cima(number, n=n, seed=seed)


#: Gauss–Hermite (probabilists') nodes and weights for the normal covariate X3.
_HERMITE = np.polynomial.hermite_e.hermegauss(80)


def _shi_cima_truth(*, eta: int = 1, beta: int = 1, gamma: int = 1, theta: int = 1,
                    n: int = 5000) -> dict[str, float]:
    r"""The target ATE :math:`E\{Y(1) - Y(0) \mid R = 0\}` of the CIMA-AgD setting.

    .. math::

        \frac{E[\{\mathrm{expit}(\theta_1'x) - \mathrm{expit}(\theta_0'x)\}
               \{1 - \mathrm{expit}(\beta'x)\}]}{E[1 - \mathrm{expit}(\beta'x)]}

    over :math:`X_1 \sim Bern(\eta_1)`, :math:`X_2 \sim Bern(\eta_2)`,
    :math:`X_3 \sim N(\eta_3, 1)` (the sum over :math:`X_1, X_2` exact, the integral
    over :math:`X_3` by 80-point Gauss–Hermite quadrature). It is the expectation of the
    script's "true value", the mean of :math:`Y(1) - Y(0)` over a draw's target rows;
    ``gamma`` (allocation among the trials) and ``n`` do not enter.
    """
    e, b, th = ETA[eta], np.asarray(BETA[beta]), THETA[theta]
    nodes, weights = _HERMITE
    x3 = e[2] + nodes
    num = den = 0.0
    for x1 in (0.0, 1.0):
        for x2 in (0.0, 1.0):
            p = (e[0] if x1 else 1 - e[0]) * (e[1] if x2 else 1 - e[1])
            X = np.column_stack([np.ones_like(x3), np.full_like(x3, x1),
                                 np.full_like(x3, x2), x3])
            target = 1 - expit(X @ b)
            effect = expit(X @ th[0]) - expit(X @ th[1])
            num += p * np.sum(weights * target * effect)
            den += p * np.sum(weights * target)
    return {"ate": float(num / den)}


def _summaries(sim: SimulatedCIMA) -> TrialSummaries:
    return TrialSummaries(effects=sim.effects, covariates=sim.covariates, target=sim.target,
                          measure="RD")


# ----------------------------------------------------------------------------- tzimas2024
#: Columns of the Tzimas data that hold the truth (kept from the methods).
_TZIMAS_TRUTH = ("true_te", "p0", "p1", "true_cate")
#: Binary covariates whose CATE contrast ``hte_<name>`` the truth knows.
TZIMAS_CONTRASTS = ("anticoagulant", "prior_bleeding", "diabetes", "female")


def _trial_ipd(sim: SimulatedRCT) -> TrialIPD:
    frame = sim.data.drop(columns=list(_TZIMAS_TRUTH))
    frame = frame.assign(bmi_over_30=(frame["bmi"] > 30).astype(np.int64),
                         female=(frame["gender"] == "Female").astype(np.int64))
    return TrialIPD(frame=frame, outcome=sim.outcome, treatment=sim.treatment,
                    true_effects=sim.data[["true_te", "true_cate"]].reset_index(drop=True))


#: Design of the Tzimas trial (the ``design`` parameter of the ``tzimas2024`` adapter)
#: -> how BMI modifies the log-odds effect: (the step at BMI > 30, or None for the
#: ``effect``'s own ``bmi_over_30``, default −0.2; the slope per kg/m² of BMI from 28).
TZIMAS_DESIGNS: dict[str, tuple[float | None, float]] = {
    "threshold": (None, 0.0), "threshold_strong": (-1.0, 0.0), "linear": (0.0, -0.04)}


def _tzimas_design(design: str, effect: Mapping[str, float] | None
                   ) -> tuple[dict[str, float], float]:
    """The effect overrides and the BMI slope of a design (:data:`TZIMAS_DESIGNS`)."""
    check_choice("design", design, TZIMAS_DESIGN_NAMES)
    step, slope = TZIMAS_DESIGNS[design]
    eff = dict(effect or {})
    if step is not None:
        if "bmi_over_30" in eff:
            raise DataError(f"tzimas2024: design {design!r} sets effect['bmi_over_30'] to "
                            f"{step}; do not also give it in effect")
        eff["bmi_over_30"] = step
    return eff, slope


def _tzimas(*, n: int = 2000, p_female: float = 0.52,
            baseline: Mapping[str, float] | None = None,
            effect: Mapping[str, float] | None = None, design: TzimasDesign = "threshold",
            seed: Any = None) -> SimulatedRCT:
    r""":func:`bayes_hte.simulate.tzimas2024` with a ``design`` of the BMI modifier.

    ``"threshold"``: the generator as published (the log-odds effect falls by
    ``effect["bmi_over_30"]``, default 0.2, at BMI > 30), the draw of
    ``tzimas2024(n, seed=rng, ...)`` unchanged; ``"threshold_strong"``: a fall of 1.0;
    ``"linear"``: no step, and :math:`-0.04\,(\mathrm{BMI}_i - 28)` added to
    :math:`TE_i` (−0.2 per SD of BMI), the treated risk recomputed and every outcome
    redrawn from the same generator (:data:`TZIMAS_DESIGNS`). The designs of issue
    13 f (``models/studies/subgroup_ite_coverage.toml``).
    """
    eff, slope = _tzimas_design(design, effect)
    rng = np.random.default_rng(seed)
    sim = simulate.tzimas2024(n=n, seed=rng, p_female=p_female, baseline=baseline,
                              effect=eff or None)
    if slope == 0.0:
        return sim
    df = sim.data.copy()
    p0 = df["p0"].to_numpy()
    te = df["true_te"].to_numpy() + slope * (df["bmi"].to_numpy() - 28.0)
    p1 = expit(logit(p0) + te)
    df["event"] = rng.binomial(1, np.where(df["treatment"].to_numpy() == 1, p1, p0)
                               ).astype(np.int64)
    df["true_te"], df["p1"], df["true_cate"] = te, p1, p1 - p0
    return replace(sim, data=df, truth={**sim.truth, "design": design, "bmi_slope": slope})


def _normal_piece(mean: float, sd: float, low: float, high: float, size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre points in (low, high) and their probabilities under N(mean, sd²)."""
    a, b = (low - mean) / sd, (high - mean) / sd
    x, w = np.polynomial.legendre.leggauss(size)
    z = (a + b) / 2 + (b - a) / 2 * x
    return mean + sd * z, np.exp(-z**2 / 2) / np.sqrt(2 * np.pi) * (b - a) / 2 * w


def _bmi_sides(size: int = 60) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Points and probabilities of the Tzimas BMI, ``clip(N(28, 5²), 16, 50)``, on each
    side of the step: (BMI ≤ 30: the mass at 16 and nodes in (16, 30.05)), (BMI > 30:
    nodes in (30.05, 50) and the mass at 50); the rounding to 0.1 is ignored."""
    lo_x, lo_w = _normal_piece(28.0, 5.0, 16.0, 30.05, size)
    hi_x, hi_w = _normal_piece(28.0, 5.0, 30.05, 50.0, size)
    return ((np.r_[16.0, lo_x], np.r_[ndtr(-12.0 / 5.0), lo_w]),
            (np.r_[hi_x, 50.0], np.r_[hi_w, 1 - ndtr(22.0 / 5.0)]))


def _clipped_normal(mean: float, sd: float, low: float, high: float, size: int = 200
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Points and probabilities of ``clip(N(mean, sd^2), low, high)``: the two point
    masses at the bounds and Gauss–Legendre nodes between them."""
    a, b = (low - mean) / sd, (high - mean) / sd
    x, w = np.polynomial.legendre.leggauss(size)
    z = (a + b) / 2 + (b - a) / 2 * x
    dens = np.exp(-z**2 / 2) / np.sqrt(2 * np.pi) * (b - a) / 2 * w
    return (np.r_[low, mean + sd * z, high], np.r_[ndtr(a), dens, 1 - ndtr(b)])


def _tzimas_truth(*, n: int = 2000, p_female: float = 0.52,
                  baseline: Mapping[str, float] | None = None,
                  effect: Mapping[str, float] | None = None,
                  design: TzimasDesign = "threshold") -> dict[str, float]:
    r"""Population estimands of the Tzimas (2024) trial (module docstring of
    :mod:`bayes_hte.simulate.tzimas2024`).

    With :math:`q = P(\mathrm{BMI} > 30) = 1 - \Phi(2.05/5)` (the recorded BMI, rounded
    to 0.1, exceeds 30 when the draw exceeds 30.05) and :math:`E(\mathrm{age} - 55) = 0`
    (clipping and rounding are symmetric about 55):

    * ``ate_logit`` :math:`= E(TE_i) = g_0 + 0.3\,g_{ac} + (0.2 + 0.2q)\,g_{d}
      + q\,g_{B} + 0.1\,g_{pb}`;
    * ``ate_rd`` :math:`= E(p_{1i} - p_{0i})`: exact sums over anticoagulant, prior
      bleeding, BMI > 30 and diabetes | BMI > 30, numerical integration over age and SBP
      (clipped normals: point masses at the bounds, 200-point Gauss–Legendre between;
      the rounding of age to 0.1 year and SBP to 1 mmHg is ignored, an error below
      1e-5);
    * ``hte_<x>`` :math:`= E(TE_i \mid x = 1) - E(TE_i \mid x = 0)` for a binary
      covariate: :math:`g_{ac}` (anticoagulant), :math:`g_{pb}` (prior bleeding),
      :math:`g_d + g_B\{P(B \mid d=1) - P(B \mid d=0)\}` (diabetes, which depends on
      BMI > 30), 0 (female: gender enters neither equation).

    A ``design`` (:func:`_tzimas`, :data:`TZIMAS_DESIGNS`) sets :math:`g_B` and adds a
    slope :math:`s` per kg/m² of BMI from 28 to :math:`TE_i`; with :math:`s \ne 0`
    (``"linear"``) ``ate_logit`` gains :math:`s\,E(\mathrm{BMI} - 28)`, ``hte_diabetes``
    gains :math:`s\{E(\mathrm{BMI} \mid d=1) - E(\mathrm{BMI} \mid d=0)\}`, and
    ``ate_rd`` integrates over BMI too (60-point Gauss–Legendre on each side of 30.05
    plus the point masses of the clipping, :func:`_bmi_sides`; the rounding of BMI to
    0.1 is ignored).
    """
    eff, slope = _tzimas_design(design, effect)
    b = {**BASELINE, **dict(baseline or {})}
    g = {**EFFECT, **eff}
    q = 1 - ndtr((30.05 - 28.0) / 5.0)
    p_d = {0: 0.2, 1: 0.4}                                    # P(diabetes | BMI > 30)
    ate_logit = (g["intercept"] + 0.3 * g["anticoagulant"] + (0.2 + 0.2 * q) * g["diabetes"]
                 + q * g["bmi_over_30"] + 0.1 * g["prior_bleeding"])
    p_b_d1 = q * p_d[1] / (q * p_d[1] + (1 - q) * p_d[0])
    p_b_d0 = q * (1 - p_d[1]) / (q * (1 - p_d[1]) + (1 - q) * (1 - p_d[0]))
    sides = _bmi_sides()
    hte_diabetes = g["diabetes"] + g["bmi_over_30"] * (p_b_d1 - p_b_d0)
    if slope:
        (x0, w0), (x1, w1) = sides
        mass, first = (w0.sum(), w1.sum()), (np.sum(w0 * x0), np.sum(w1 * x1))
        ate_logit += slope * (first[0] + first[1] - 28.0 * (mass[0] + mass[1]))
        mean_d = [(pd_lo * first[0] + pd_hi * first[1]) / (pd_lo * mass[0] + pd_hi * mass[1])
                  for pd_lo, pd_hi in ((1 - p_d[0], 1 - p_d[1]), (p_d[0], p_d[1]))]
        hte_diabetes += slope * (mean_d[1] - mean_d[0])
    age, w_age = _clipped_normal(55.0, 12.0, 25.0, 85.0)
    sbp, w_sbp = _clipped_normal(130.0, np.sqrt(200.0), 80.0, 220.0)
    age, sbp = age[:, None] - 55.0, sbp[None, :] - 130.0
    w2 = w_age[:, None] * w_sbp[None, :]
    ate_rd = 0.0
    for ac, p_ac in ((0, 0.7), (1, 0.3)):
        for pb, p_pb in ((0, 0.9), (1, 0.1)):
            for big, p_big in ((0, 1 - q), (1, q)):
                for d in (0, 1):
                    p = p_ac * p_pb * p_big * (p_d[big] if d else 1 - p_d[big])
                    lp0 = (b["intercept"] + b["age"] * age + b["anticoagulant"] * ac
                           + b["prior_bleeding"] * pb + b["diabetes"] * d + b["sbp"] * sbp)
                    te = (g["intercept"] + g["age"] * age + g["anticoagulant"] * ac
                          + g["diabetes"] * d + g["bmi_over_30"] * big
                          + g["prior_bleeding"] * pb)
                    if not slope:
                        ate_rd += p * np.sum(w2 * (expit(lp0 + te) - expit(lp0)))
                        continue
                    # the BMI of this side of the step, its probability in place of p_big
                    x, w = sides[big]
                    te3 = te[..., None] + slope * (x - 28.0)
                    diff = expit(lp0[..., None] + te3) - expit(lp0)[..., None]
                    ate_rd += p / p_big * np.sum(w2[..., None] * w * diff)
    return {"ate_logit": float(ate_logit), "ate_rd": float(ate_rd),
            "hte_anticoagulant": float(g["anticoagulant"]),
            "hte_prior_bleeding": float(g["prior_bleeding"]),
            "hte_diabetes": float(hte_diabetes), "hte_female": 0.0}


# ----------------------------------------------------------------------------- bouvier2024
def _bouvier_holdout(*, trials: int = 7, patients_per_trial: int = 400, covariates: int = 3,
                     effect_variation: bool = False, tau_alpha: float = 0.4,
                     gamma: float = -0.4, sd_theta: float = 0.2, sd_gamma: float = 0.15,
                     seed: Any = None) -> MetaIPD:
    """:func:`bayes_hte.simulate.bouvier2024` (binary outcome) and a held-out trial.

    The trial to hold out is drawn uniformly from the same generator after the data,
    so the data equal those of ``bouvier2024(..., seed=rng)``.
    """
    rng = np.random.default_rng(seed)
    sim: SimulatedIPDMA = simulate.bouvier2024(
        trials=trials, patients_per_trial=patients_per_trial, covariates=covariates,
        effect_variation=effect_variation, tau_alpha=tau_alpha, gamma=gamma,
        sd_theta=sd_theta, sd_gamma=sd_gamma, seed=rng)
    truth_cols = [c for c in ("true_ite", "true_ite_average", "p0", "p1") if c in sim.data]
    ipd = IPDData.from_frame(sim.data.drop(columns=truth_cols), outcome=sim.outcome,
                             treatment=sim.treatment, study=sim.study,
                             covariates=sim.covariates)
    if ipd.n_patients != len(sim.data):
        raise DataError(f"bouvier2024: {len(sim.data) - ipd.n_patients} simulated rows "
                        "were dropped by IPDData")
    holdout = str(ipd.study_labels[int(rng.integers(len(ipd.study_labels)))])
    return MetaIPD(data=ipd, holdout=holdout, true_ite=sim.true_ite.astype(float))


def _bouvier_truth(*, data: MetaIPD, **params: Any) -> dict[str, float]:
    """``ate_heldout`` (and ``ate_heldout_new``): the mean true ITE of the held-out
    trial's patients."""
    value = float(data.true_ite[data.held_mask].mean())
    return {"ate_heldout": value, "ate_heldout_new": value}


#: Truth columns of a bouvier2024 draw (binary: risks; time to event: survival), kept
#: from the fits.
_BOUVIER_TRUTH_COLUMNS = ("true_ite", "true_ite_average", "p0", "p1", "s0", "s1")


def _bouvier_coefficients(truth: Mapping[str, Any]) -> dict[str, float]:
    """The design's population coefficients of a bouvier2024 draw by the names of
    :meth:`bayes_hte.IPDMetaModel.parameters`: S-learner ``gamma``, ``eta[x]``,
    ``theta[x]``; T-learner ``theta[control, x]`` (= theta) and ``theta[treated, x]``
    (= theta + eta); ``tau_alpha``. Log-odds, or for time to event log-hazard (shape
    times the simulator's coefficients) plus the Weibull ``shape`` (also per arm)."""
    shape = truth.get("shape")
    coef = truth["log_hazard"] if shape is not None else truth
    scale = 1.0 if shape is None else float(shape)
    theta, eta = coef["theta"], coef["eta"]
    out = {"gamma": float(coef["gamma"])}
    out |= {f"eta[{c}]": float(v) for c, v in eta.items()}
    out |= {f"theta[{c}]": float(v) for c, v in theta.items()}
    out |= {f"theta[control, {c}]": float(v) for c, v in theta.items()}
    out |= {f"theta[treated, {c}]": float(theta[c] + eta[c]) for c in theta}
    out["tau_alpha"] = scale * float(truth["tau_alpha"])
    if shape is not None:
        out |= {"shape": scale, "shape[control]": scale, "shape[treated]": scale}
    return out


def _bouvier_fit(*, trials: int = 7, patients_per_trial: int = 400,
                 covariates: BouvierCovariates = 3, outcome: Outcome = "binary",
                 effect_variation: bool = False,
                 tau_alpha: float = 0.4, gamma: float = -0.4, sd_theta: float = 0.2,
                 sd_gamma: float = 0.15, shape: float | None = None,
                 follow_up: float | None = None, censoring_rate: float | None = None,
                 seed: Any = None) -> MetaIPD:
    """:func:`bayes_hte.simulate.bouvier2024` (binary or Weibull time-to-event outcome)
    with every trial for the fit: the data of parameter recovery.

    ``holdout`` is None; the true ITEs in the patient's own trial and in an average
    trial and the design's coefficients (:func:`_bouvier_coefficients`) ride along.
    ``shape``, ``follow_up``, ``censoring_rate``: time to event only (None: the
    simulator's defaults); the ITE horizon is the simulator's default, the median
    follow-up, which is also the fitted model's default horizon.
    """
    sim: SimulatedIPDMA = simulate.bouvier2024(
        trials=trials, patients_per_trial=patients_per_trial, covariates=covariates,
        outcome=outcome, effect_variation=effect_variation, tau_alpha=tau_alpha,
        gamma=gamma, sd_theta=sd_theta, sd_gamma=sd_gamma, shape=shape,
        follow_up=follow_up, censoring_rate=censoring_rate, seed=seed)
    truth_cols = [c for c in _BOUVIER_TRUTH_COLUMNS if c in sim.data]
    ipd = IPDData.from_frame(sim.data.drop(columns=truth_cols), outcome=sim.outcome,
                             treatment=sim.treatment, study=sim.study,
                             covariates=sim.covariates, time=sim.time)
    if ipd.n_patients != len(sim.data):
        raise DataError(f"bouvier2024: {len(sim.data) - ipd.n_patients} simulated rows "
                        "were dropped by IPDData")
    return MetaIPD(data=ipd, holdout=None, true_ite=sim.true_ite.astype(float),
                   true_ite_average=sim.data["true_ite_average"].to_numpy(dtype=float),
                   coefficients=_bouvier_coefficients(sim.truth))


def _bouvier_fit_truth(*, data: MetaIPD, **params: Any) -> dict[str, float]:
    """The design's coefficients, as the draw carries them (:attr:`MetaIPD.coefficients`;
    the same in every replicate of a scenario)."""
    return dict(data.coefficients or {})


# ----------------------------------------------------------------------------- ipd_aggregate
_TRUTH_COLUMNS = ("true_ite", "true_ite_average", "p0", "p1")


def _ipd_aggregate_data(sim: SimulatedIPDAggregate) -> IPDAggregateData:
    def ipd(frame: pd.DataFrame) -> IPDData:
        return IPDData.from_frame(frame.drop(columns=list(_TRUTH_COLUMNS)), outcome="y",
                                  treatment="treat", study="trial",
                                  covariates=["x1", "x2", "x3"])

    return IPDAggregateData(ipd=ipd(sim.ipd), aggregate=sim.aggregate,
                            aggregate_covariates=sim.aggregate_covariates,
                            target=sim.target, full=ipd(sim.frame))


def _ipd_aggregate_truth(**params: Any) -> dict[str, float]:
    keep = ("tau_alpha", "x1_mean", "x1_sd", "x2_mean", "x2_sd", "x3_prob")
    truth = ipd_aggregate_truth(**{k: v for k, v in params.items() if k in keep})
    return {"RD": truth.pop("rd_target"), **truth}


# ----------------------------------------------------------------------------- two_step
def _longitudinal(sim: TwoStepSimulation) -> LongitudinalData:
    """The simulated measurements as :class:`~bayes_hte.LongitudinalData` (columns
    ``y, treat, trial, subject, visit, z``; the truth stays out)."""
    return LongitudinalData.from_frame(sim.data, **sim.columns)


def _two_step_truth(*, mu: Sequence[float] | None = None, **params: Any) -> dict[str, float]:
    r"""The grand-mean coefficients :math:`\mu` of model (3) by coefficient name
    (default :data:`bayes_hte.simulate.two_step.MU`): what the one-step and two-step
    methods estimate in either design, with or without heterogeneity and missing
    visits. The other design parameters do not enter."""
    values = TWO_STEP_MU if mu is None else tuple(mu)
    if len(values) != len(TWO_STEP_COEFS):
        raise DataError(f"two_step: mu must have {len(TWO_STEP_COEFS)} values, got "
                        f"{len(values)}")
    return {name: float(v) for name, v in zip(TWO_STEP_COEFS, values, strict=True)}


# ----------------------------------------------------------------------------- cima_linear
def _linear_summaries(sim: SimulatedLinearCIMA) -> TrialSummaries:
    return TrialSummaries(effects=sim.effects, covariates=sim.covariates, target=sim.target,
                          measure="MD")


def _cima_linear_truth(*, data: TrialSummaries, theta: Sequence[float] | None = None,
                       **params: Any) -> dict[str, float]:
    """``ate``: the mean true CATE over the replicate's target rows (those CIMA-AgD
    averages its CATE over; :func:`bayes_hte.simulate.cima_linear.linear_cate_truth`)."""
    return {"ate": linear_cate_truth(data.target, theta=theta)}


# ----------------------------------------------------------------------------- maic_stc
def _maic_stc_data(sim: simulate.SimulatedMAICSTC) -> IPDAggregateData:
    """The trial as ``ipd`` (also ``full``) and the target; no aggregate-data trial."""
    ipd = IPDData.from_frame(sim.data, outcome="y", treatment="z", covariates=["x1", "x2"])
    return IPDAggregateData(ipd=ipd, aggregate=None, aggregate_covariates=None,
                            target=sim.target, full=ipd)


def _maic_stc_truth(*, n: int = 400, x2_prob: float = 0.4, **params: Any) -> dict[str, float]:
    """``RD``, ``RR``, ``OR`` of :func:`bayes_hte.simulate.maic_stc_truth` (``n`` and
    ``x2_prob``, the trial's, do not enter)."""
    truth = simulate.maic_stc_truth(**params)
    return {m: truth[m] for m in ("RD", "RR", "OR")}


#: Simulator name -> how a study uses it.
SIMULATORS: dict[str, Simulator] = {
    "berenfeld2026": Simulator(function=simulate.berenfeld2026,
                               data=lambda res: res.arm_table(),
                               truth=_berenfeld_truth, data_type=ArmTable),
    "berenfeld2026_counts": Simulator(
        function=functools.partial(simulate.berenfeld2026_counts, 1),
        data=_counts_table, truth=_berenfeld_truth, data_type=ArmTable,
        fixed=("replicates",)),
    "normal_meta": Simulator(function=simulate.normal_meta, data=lambda res: res.effects,
                             truth=_normal_meta_truth, data_type=EffectTable),
    "shi_cima": Simulator(function=_shi_cima, data=_summaries, truth=_shi_cima_truth,
                          data_type=TrialSummaries),
    "tzimas2024": Simulator(function=_tzimas, data=_trial_ipd,
                            truth=_tzimas_truth, data_type=TrialIPD),
    "ipd_aggregate": Simulator(function=simulate.ipd_aggregate, data=_ipd_aggregate_data,
                               truth=_ipd_aggregate_truth, data_type=IPDAggregateData),
    "bouvier2024": Simulator(function=_bouvier_holdout, data=lambda res: res,
                             truth=_bouvier_truth, data_type=MetaIPD,
                             truth_reads_data=True),
    "bouvier2024_fit": Simulator(function=_bouvier_fit, data=lambda res: res,
                                 truth=_bouvier_fit_truth, data_type=MetaIPD,
                                 truth_reads_data=True),
    "two_step": Simulator(function=simulate.two_step, data=_longitudinal,
                          truth=_two_step_truth, data_type=LongitudinalData),
    "cima_linear": Simulator(function=simulate.cima_linear, data=_linear_summaries,
                             truth=_cima_linear_truth, data_type=TrialSummaries,
                             truth_reads_data=True),
    "maic_stc": Simulator(function=simulate.maic_stc, data=_maic_stc_data,
                          truth=_maic_stc_truth, data_type=IPDAggregateData),
}
