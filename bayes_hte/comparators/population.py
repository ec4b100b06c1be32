r"""Population-adjusted comparisons of IPD with an aggregate trial: shared inputs and results.

Matching-adjusted indirect comparison (MAIC, :func:`bayes_hte.comparators.maic`) and
simulated treatment comparison (STC, :func:`bayes_hte.comparators.stc`) carry the
treatment effect seen in individual participant data (IPD) to the population of a trial
known only from its report: arm-level counts (an :class:`~bayes_hte.ArmTable`) and a
"Table 1" of covariate summaries (a :class:`~bayes_hte.CovariateSummary`: means and SDs
of continuous covariates, proportions of binary ones). Both arms (treatment 1 vs
control 0) are in both sources, so the comparison is pairwise: the estimand is

.. math::

    \theta(P_{AgD}) = \Phi(\psi_1, \psi_0), \qquad
    \psi_z = E_{P_{AgD}}[P(Y = 1 \mid X, Z = z)],

the risk difference, risk ratio or odds ratio (``measure``) of the marginal risks of the
aggregate trial's population :math:`P_{AgD}` (NICE DSU TSD 18, Phillippo et al. 2016;
Remiro-Azócar et al. 2021 on marginal vs conditional estimands). Ratios are estimated
and tested on the log scale: a result's ``estimate`` and ``ci`` are on the natural scale
(the CI exponentiated from the log-scale Wald or percentile interval), ``log_se`` is the
standard error of the log ratio and ``se`` its delta-method image
:math:`e^{\hat\mu}\,\mathrm{se}(\hat\mu)` (as
:class:`~bayes_hte.comparators.causal.CausalMetaResult`).

This module resolves the inputs once for both methods (which covariates, which trial,
the IPD columns on their raw scale — the IPD's centring undone —, the checks that name a
covariate or trial) and holds the result classes. The aggregate trial's own observed
effect (its arms' counts; :meth:`~bayes_hte.ArmTable.effects`, metafor ``escalc``
conventions) is reported next to the adjusted one, with their difference: both estimate
the same quantity when the adjustment's assumptions hold, so a large difference questions
them (shared effect modifiers, no unmeasured ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from bayes_hte.comparators.printout import maic_text, stc_text
from bayes_hte.comparators.results import IntervalBounds, check_ci_prob, critical_value
from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.errors import DataError
from bayes_hte.options import MEASURES, Measure

__all__ = ["MAICResult", "PopulationAdjustedResult", "STCResult", "contrast_gradient",
           "log_contrast"]


# =========================================================================== contrasts
def log_contrast(psi1: float, psi0: float, measure: Measure) -> float:
    r"""The contrast on its analysis scale: RD, log RR or log OR.

    Parameters
    ----------
    psi1, psi0 : float
        Risks under treatment and control.
    measure : {"RD", "RR", "OR"}
        The contrast.

    Returns
    -------
    float
        :math:`\psi_1 - \psi_0`, :math:`\log(\psi_1/\psi_0)` or
        :math:`\log\frac{\psi_1/(1-\psi_1)}{\psi_0/(1-\psi_0)}` (``nan``/``inf`` where
        undefined).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RD":
            return float(psi1 - psi0)
        if measure == "RR":
            return float(np.log(psi1) - np.log(psi0))
        return float(np.log(psi1) - np.log1p(-psi1) - np.log(psi0) + np.log1p(-psi0))


def contrast_gradient(psi1: float | np.ndarray, psi0: float | np.ndarray,
                      measure: Measure) -> np.ndarray:
    r"""Gradient of :func:`log_contrast` in :math:`(\psi_1, \psi_0)`.

    Parameters
    ----------
    psi1, psi0 : float or numpy.ndarray
        Risks under treatment and control (arrays of one shape: one gradient per
        element, as :func:`bayes_hte.comparators.causal.causal_core` uses it).
    measure : {"RD", "RR", "OR"}
        The contrast.

    Returns
    -------
    numpy.ndarray, shape (2,) or (2, ...)
        :math:`(1, -1)`, :math:`(1/\psi_1, -1/\psi_0)` or
        :math:`(1/\{\psi_1(1-\psi_1)\}, -1/\{\psi_0(1-\psi_0)\})` (for the RD
        always shape (2,)).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RD":
            return np.array([1.0, -1.0])
        if measure == "RR":
            return np.array([1.0 / psi1, -1.0 / psi0])
        return np.array([1.0 / (psi1 * (1 - psi1)), -1.0 / (psi0 * (1 - psi0))])


def check_risks(psi1: float, psi0: float, measure: Measure, *, who: str) -> None:
    """Raise a DataError when the contrast of the two risks is undefined.

    Parameters
    ----------
    psi1, psi0 : float
        Risks under treatment and control.
    measure : {"RD", "RR", "OR"}
        The contrast.
    who : str
        What produced the risks (for the message), e.g. ``"MAIC"``.

    Raises
    ------
    DataError
        A risk of 0 for the RR, a risk of 0 or 1 for the OR.
    """
    if measure == "RR" and (psi0 <= 0 or psi1 <= 0):
        raise DataError(f"{who}: an adjusted risk is 0 (psi1={psi1:.3g}, psi0={psi0:.3g}); "
                        "the risk ratio is undefined, use measure='RD'")
    if measure == "OR" and not (0 < psi0 < 1 and 0 < psi1 < 1):
        raise DataError(f"{who}: an adjusted risk is 0 or 1 (psi1={psi1:.3g}, "
                        f"psi0={psi0:.3g}); the odds ratio is undefined, use measure='RD'")


def estimate_row(est: float, se: float, measure: Measure, ci_prob: float, *,
                 ci: Sequence[float] | None = None) -> dict[str, float]:
    r"""One estimate on the natural scale from its analysis-scale value and SE.

    Parameters
    ----------
    est, se : float
        Estimate and standard error on the analysis scale (RD, log RR, log OR).
    measure : {"RD", "RR", "OR"}
        The contrast.
    ci_prob : float
        Probability of the interval.
    ci : sequence of 2 floats, optional
        An interval on the analysis scale computed otherwise (percentile); default the
        Wald interval :math:`\hat\mu \pm c\,\mathrm{se}`.

    Returns
    -------
    dict
        ``estimate, se, log_se, ci_low, ci_high, z, p`` on the natural scale (``se`` by
        the delta method for ratios; ``log_se`` equals ``se`` for the RD); ``z`` and
        ``p`` test :math:`\mu = 0` on the analysis scale.
    """
    if ci is None:
        half = critical_value(ci_prob) * se
        ci = (est - half, est + half)
    lo, hi = float(ci[0]), float(ci[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se if se > 0 else np.nan
    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan
    if measure == "RD":
        return {"estimate": est, "se": se, "log_se": se, "ci_low": lo, "ci_high": hi,
                "z": float(z), "p": p}
    nat = float(np.exp(est))
    return {"estimate": nat, "se": nat * se, "log_se": se, "ci_low": float(np.exp(lo)),
            "ci_high": float(np.exp(hi)), "z": float(z), "p": p}


# =========================================================================== inputs
@dataclass(frozen=True)
class Inputs:
    """The resolved inputs of a MAIC or STC (internal; built by :func:`resolve_inputs`).

    Parameters
    ----------
    ipd : IPDData
        The IPD trials.
    population : str
        Label of the population the effect is carried to (the aggregate trial's label,
        or ``"target"``).
    names : tuple of str
        The covariates used, in order.
    kinds : dict
        ``covariate -> "binary" | "continuous"`` (from the summaries).
    means, sds : numpy.ndarray, shape (K,)
        The population's reported means (proportions) and SDs (``nan`` for binary).
    rows : pandas.DataFrame
        The population's summary rows of these covariates (index ``covariate``).
    X : numpy.ndarray, shape (n, K)
        The IPD's columns of these covariates on their raw scale (centring undone).
    observed : dict or None
        The aggregate trial's own effect on the analysis scale (``est``, ``se``) from its
        counts, or ``None`` without counts.
    """

    ipd: IPDData
    population: str
    names: tuple[str, ...]
    kinds: dict
    means: np.ndarray
    sds: np.ndarray
    rows: pd.DataFrame
    X: np.ndarray
    observed: dict | None = None


def raw_design(ipd: IPDData) -> np.ndarray:
    """The IPD's encoded covariates on their raw scale (its centring undone).

    Parameters
    ----------
    ipd : IPDData
        The IPD.

    Returns
    -------
    numpy.ndarray, shape (n, p)
        ``ipd.X`` plus the subtracted centres (pooled or per trial).
    """
    if ipd.center == "overall":
        return ipd.X + ipd.centers
    if ipd.center == "within_study":
        return ipd.X + ipd.centers[ipd.study_idx]
    return ipd.X


def _resolve_trial(aggregate: ArmTable | None, summary: CovariateSummary,
                   trial: str | None) -> str | None:
    if aggregate is not None:
        labels = list(aggregate.labels)
        if trial is None:
            if len(labels) > 1:
                raise DataError(f"the aggregate ArmTable holds several trials {labels}; say "
                                "which population to adjust to with trial=")
            return labels[0]
        if str(trial) not in labels:
            raise DataError(f"aggregate trial {trial!r} is not in the ArmTable (its trials: "
                            f"{labels})")
        return str(trial)
    if trial is None and len(summary.trials) > 1:
        raise DataError(f"the covariate summaries describe several trials {summary.trials}; "
                        "say which population to adjust to with trial=")
    return None if trial is None else str(trial)


def _summary_rows(summary: CovariateSummary, trial: str | None) -> pd.DataFrame:
    if summary.trials:
        label = trial if trial is not None else summary.trials[0]
        if label not in summary.trials:
            raise DataError(f"the covariate summaries have no rows for aggregate trial "
                            f"{label!r} (they describe {summary.trials})")
        return summary.rows(label)
    return summary.rows()


def _observed(aggregate: ArmTable, trial: str, measure: Measure) -> dict:
    one = aggregate.subset(np.array([lab == trial for lab in aggregate.labels]))
    eff = one.effects(measure, drop_double_zero=False)
    return {"est": float(eff.yi[0]), "se": float(np.sqrt(eff.vi[0])),
            "corrected": bool(eff.corrected)}


def resolve_inputs(ipd: IPDData, aggregate: ArmTable | pd.DataFrame | None,
                   summary: CovariateSummary, *, trial: str | None,
                   covariates: Sequence[str] | None, measure: Measure, ci_prob: float,
                   method: str) -> Inputs:
    """Check and resolve the inputs shared by MAIC and STC.

    Parameters
    ----------
    ipd : IPDData
        IPD trials with a binary outcome.
    aggregate : ArmTable, pandas.DataFrame or None
        Arm-level counts of the aggregate trials (``None``: a population described by
        summaries only).
    summary : CovariateSummary
        Covariate summaries of the aggregate trials (``trial`` column) or of one
        population.
    trial : str or None
        The aggregate trial (needed when there are several).
    covariates : sequence of str or None
        The covariates to use (default: every covariate of the population's summary).
    measure : {"RD", "RR", "OR"}
        The contrast.
    ci_prob : float
        Probability of the interval.
    method : str
        ``"MAIC"`` or ``"STC"`` (for the messages).

    Returns
    -------
    Inputs
        The resolved inputs.

    Raises
    ------
    DataError
        See :func:`bayes_hte.comparators.maic`.
    """
    if measure not in MEASURES:
        raise DataError(f"measure must be one of {MEASURES}, got {measure!r}")
    check_ci_prob(ci_prob)
    if not isinstance(ipd, IPDData):
        raise DataError(f"{method}: ipd must be an IPDData (bh.IPDData.from_frame), got "
                        f"{type(ipd).__name__}")
    if ipd.outcome_type != "binary":
        raise DataError(f"{method} is implemented for a binary outcome; the IPD have time "
                        f"column {ipd.time!r}")
    if not isinstance(summary, CovariateSummary):
        raise DataError(f"{method}: aggregate_covariates must be a CovariateSummary "
                        f"(bh.CovariateSummary.from_frame), got {type(summary).__name__}")
    table = None if aggregate is None else ArmTable.from_any(aggregate, name="aggregate")
    label = _resolve_trial(table, summary, trial)
    rows = _summary_rows(summary, label)
    who = f"aggregate trial {label!r}" if label is not None else "the target population"
    if covariates is None:
        names = tuple(rows.index)
    else:
        names = (covariates,) if isinstance(covariates, str) else tuple(covariates)
        dup = sorted({c for c in names if names.count(c) > 1})
        if dup:
            raise DataError(f"covariates lists {dup[0]!r} twice")
        for c in names:
            if c not in rows.index:
                raise DataError(f"covariate {c!r} has no summary row for {who} (summarised: "
                                f"{list(rows.index)})")
    ipd_names = list(ipd.covariate_names)
    for c in names:
        if c not in ipd_names:
            raise DataError(f"covariate {c!r} of the summaries of {who} is not an IPD covariate "
                            f"(IPD covariates: {ipd_names}); give its IPD column, or choose the "
                            "covariates to use with covariates=")
    raw = raw_design(ipd)
    X = raw[:, [ipd_names.index(c) for c in names]] if names else np.zeros((len(raw), 0))
    kinds = {c: summary.kinds[c] for c in names}
    for k, c in enumerate(names):
        is01 = np.isin(X[:, k], (0.0, 1.0))
        if kinds[c] == "binary" and not is01.all():
            bad = sorted(set(np.round(X[~is01, k], 6).tolist()))[:3]
            raise DataError(f"covariate {c!r} is binary in the summaries of {who} (a "
                            f"proportion, empty sd) but its IPD column is not 0/1 (values "
                            f"such as {bad}); code it 0/1 or give its mean and SD")
        if kinds[c] == "continuous" and is01.all():
            raise DataError(f"covariate {c!r} is binary (0/1) in the IPD, but the summaries of "
                            f"{who} give it an SD; give its proportion with an empty sd")
    means = rows.loc[list(names), "mean"].to_numpy(dtype=float) if names else np.zeros(0)
    sds = rows.loc[list(names), "sd"].to_numpy(dtype=float) if names else np.zeros(0)
    observed = None if table is None else _observed(table, label, measure)
    population = f"trial {label}" if table is not None or label is not None else "target"
    return Inputs(ipd=ipd, population=population, names=names, kinds=kinds, means=means,
                  sds=sds, rows=rows.loc[list(names)], X=X, observed=observed)


def result_fields(inp: Inputs, *, method: str, measure: Measure, est: float,
                  row: dict[str, float], psi: np.ndarray, ci_prob: float,
                  variance: str) -> dict:
    r"""The fields of :class:`PopulationAdjustedResult` that MAIC and STC fill alike.

    The adjusted estimate and, when the aggregate trial has counts, its observed effect
    and the difference adjusted minus observed on the analysis scale,
    :math:`\hat\mu - \hat\mu_{obs}` with the SE of two independent estimates
    :math:`\sqrt{\mathrm{se}(\hat\mu)^2 + \mathrm{se}(\hat\mu_{obs})^2}` (both rows by
    :func:`estimate_row`, so on the natural scale).

    Parameters
    ----------
    inp : Inputs
        The resolved inputs (:func:`resolve_inputs`).
    method : {"MAIC", "STC"}
        The adjustment.
    measure : {"RD", "RR", "OR"}
        The contrast.
    est : float
        The adjusted estimate on the analysis scale (RD, log RR, log OR).
    row : dict
        Its :func:`estimate_row` (``estimate, se, log_se, ci_low, ci_high, z, p``).
    psi : numpy.ndarray, shape (2,)
        The adjusted risks [control, treated].
    ci_prob : float
        Probability of the interval.
    variance : str
        How ``row``'s SE and interval were computed.

    Returns
    -------
    dict
        Keyword arguments of :class:`PopulationAdjustedResult`, from ``method`` to
        ``difference``.
    """
    observed = difference = None
    if inp.observed is not None:
        o = inp.observed
        observed = estimate_row(o["est"], o["se"], measure, ci_prob)
        difference = estimate_row(est - o["est"], float(np.hypot(row["log_se"], o["se"])),
                                  measure, ci_prob)
    return dict(
        method=method, measure=measure, estimate=row["estimate"], se=row["se"],
        log_se=row["log_se"], ci=np.array([row["ci_low"], row["ci_high"]]), z=row["z"],
        p=row["p"], psi1=float(psi[1]), psi0=float(psi[0]), ci_prob=ci_prob,
        variance=variance, population=inp.population, covariates=inp.names,
        ipd_trials=tuple(map(str, inp.ipd.study_labels)), n_ipd=inp.ipd.n_patients,
        observed=observed, difference=difference)


# =========================================================================== results
@dataclass(frozen=True, eq=False)
class PopulationAdjustedResult(IntervalBounds):
    r"""An effect carried from IPD to another trial's population (MAIC or STC).

    The fields below are also its read-only attributes; the subclasses
    :class:`MAICResult` and :class:`STCResult` add the method's own.

    Parameters
    ----------
    method : {"MAIC", "STC"}
        The adjustment.
    measure : {"RD", "RR", "OR"}
        The contrast.
    estimate : float
        :math:`\hat\theta(P_{AgD})` on the natural scale (RD, RR or OR).
    se : float
        Its standard error on the natural scale (delta method for ratios).
    log_se : float
        Standard error on the analysis scale (log RR, log OR; equals ``se`` for RD).
    ci : numpy.ndarray, shape (2,)
        Interval on the natural scale (exponentiated for ratios).
    z, p : float
        Wald statistic of no effect on the analysis scale and its two-sided p-value.
    psi1, psi0 : float
        Adjusted marginal risks under treatment and control in the population.
    ci_prob : float
        Probability of the interval.
    variance : str
        How ``se`` and ``ci`` were computed (``"sandwich"``, ``"bootstrap"``,
        ``"delta"``, ``"draws"``).
    population : str
        The population (``"trial <label>"`` or ``"target"``).
    covariates : tuple of str
        The covariates adjusted for.
    ipd_trials : tuple of str
        The IPD trials.
    n_ipd : int
        IPD patients.
    observed : dict or None
        The aggregate trial's own effect from its counts (keys as :meth:`summary`'s
        columns), ``None`` for a population without counts.
    difference : dict or None
        Adjusted minus observed on the analysis scale (a ratio of ratios on the natural
        scale), with the SE of two independent estimates; ``None`` without counts.
    """

    method: str
    measure: str
    estimate: float
    se: float
    log_se: float
    ci: np.ndarray
    z: float
    p: float
    psi1: float
    psi0: float
    ci_prob: float
    variance: str
    population: str
    covariates: tuple[str, ...]
    ipd_trials: tuple[str, ...]
    n_ipd: int
    observed: dict | None
    difference: dict | None

    @property
    def scale(self) -> str:
        """Scale of ``estimate`` and ``ci``: always ``"natural"``."""
        return "natural"

    def _rows(self) -> tuple[list[dict], list[str]]:
        main = {"estimate": self.estimate, "se": self.se, "log_se": self.log_se,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "z": self.z, "p": self.p,
                "psi1": self.psi1, "psi0": self.psi0}
        rows, index = [main], [f"{self.method} ({self.population})"]
        if self.observed is not None:
            rows += [self.observed, self.difference]
            index += [f"observed ({self.population})", "adjusted vs observed"]
        return rows, index

    def summary(self) -> pd.DataFrame:
        """The adjusted estimate, and with counts the observed one and their difference.

        Returns
        -------
        pandas.DataFrame
            Index ``estimate`` (``"<method> (<population>)"``, ``"observed (...)"``,
            ``"adjusted vs observed"``); columns ``estimate, se, log_se, ci_low,
            ci_high, z, p`` on the natural scale (the difference of ratios as their
            ratio) and ``psi1, psi0`` (adjusted risks); ``attrs`` hold the method,
            measure, ``ci_prob``, variance and population.
        """
        rows, index = self._rows()
        out = pd.DataFrame(rows, index=pd.Index(index, name="estimate"))
        out.attrs.update(method=self.method, measure=self.measure, ci_prob=self.ci_prob,
                         variance=self.variance, population=self.population)
        return out

    to_frame = summary


@dataclass(frozen=True, eq=False)
class MAICResult(PopulationAdjustedResult):
    r"""A matching-adjusted indirect comparison (:func:`bayes_hte.comparators.maic`).

    Parameters
    ----------
    method, measure, estimate, se, log_se, ci, z, p, psi1, psi0
        As :class:`PopulationAdjustedResult`.
    ci_prob, variance, population, covariates, ipd_trials, n_ipd, observed, difference
        As :class:`PopulationAdjustedResult`.
    weights : numpy.ndarray, shape (n,)
        :math:`w_i = \exp(\tilde x_i'\hat a)` per IPD patient (order of the IPD rows).
    coef : pandas.Series
        :math:`\hat a`, one per matched moment (``"x"`` for a mean, ``"x^2"`` for a
        second moment), on the covariates' scale.
    ess : float
        Effective sample size :math:`(\sum w)^2/\sum w^2`.
    balance : pandas.DataFrame
        Per covariate: ``target`` mean, unweighted ``ipd`` mean, ``weighted`` mean
        (equal to ``target``), and for continuous covariates the SDs ``target_sd``,
        ``ipd_sd``, ``weighted_sd``.
    trial_share : pandas.Series
        Share of each IPD trial in the weighted population,
        :math:`\pi_j = \sum_{i \in j} w_i / \sum_i w_i`.
    match_sd : bool
        Whether second moments were matched.
    n_boot : int
        Bootstrap replicates used (0 with the sandwich).
    n_failed : int
        Bootstrap replicates whose weights had no solution (left out).
    study_idx, z_arm : numpy.ndarray, shape (n,)
        The patients' IPD trial index and arm (for :meth:`weight_table`).
    """

    weights: np.ndarray = field(repr=False)
    coef: pd.Series
    ess: float
    balance: pd.DataFrame
    trial_share: pd.Series
    match_sd: bool
    n_boot: int
    n_failed: int
    study_idx: np.ndarray = field(repr=False)
    z_arm: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        """Printout (:func:`bayes_hte.comparators.printout.maic_text`)."""
        return maic_text(self)

    __repr__ = __str__

    @property
    def rescaled_weights(self) -> np.ndarray:
        """Weights rescaled to sum to the number of IPD patients (TSD 18, appendix D)."""
        return self.weights * self.n_ipd / self.weights.sum()

    def summary(self) -> pd.DataFrame:
        """As :meth:`PopulationAdjustedResult.summary`, plus the ``ess`` column.

        Returns
        -------
        pandas.DataFrame
            One row per estimate; ``ess`` (effective sample size) and ``n`` (IPD
            patients) on the MAIC row.
        """
        out = super().summary()
        out["ess"] = [self.ess] + [np.nan] * (len(out) - 1)
        out["n"] = [float(self.n_ipd)] + [np.nan] * (len(out) - 1)
        return out

    to_frame = summary

    def weight_table(self) -> pd.DataFrame:
        """One row per IPD patient: trial, arm, weight and rescaled weight.

        Returns
        -------
        pandas.DataFrame
            Columns ``study``, ``treatment`` (0/1), ``weight``
            (:math:`\\exp(\\tilde x_i'\\hat a)`), ``rescaled`` (summing to ``n``); the
            index is the IPD frame's.
        """
        labels = np.asarray(self.ipd_trials, dtype=object)[self.study_idx]
        return pd.DataFrame({"study": labels, "treatment": self.z_arm,
                             "weight": self.weights, "rescaled": self.rescaled_weights})


@dataclass(frozen=True, eq=False)
class STCResult(PopulationAdjustedResult):
    r"""A simulated treatment comparison (:func:`bayes_hte.comparators.stc`).

    Parameters
    ----------
    method, measure, estimate, se, log_se, ci, z, p, psi1, psi0
        As :class:`PopulationAdjustedResult`.
    ci_prob, variance, population, covariates, ipd_trials, n_ipd, observed, difference
        As :class:`PopulationAdjustedResult`.
    coef : pandas.DataFrame
        The logistic outcome regression: ``estimate, se, z, p, ci_low, ci_high`` per
        coefficient (trial intercepts, covariates, ``treatment``, ``treatment:<x>``).
    vcov : pandas.DataFrame
        Its covariance matrix (inverse Fisher information).
    effect_modifiers : tuple of str
        Covariates interacting with treatment.
    conditional : dict
        The plug-in effect at the population's covariate means (keys as
        :meth:`summary`'s columns): a conditional effect, not the marginal estimand.
    n_points : int
        Copula points integrating over the population's covariates.
    n_draws : int
        Parametric draws (0 with the delta method).
    """

    coef: pd.DataFrame
    vcov: pd.DataFrame = field(repr=False)
    effect_modifiers: tuple[str, ...]
    conditional: dict
    n_points: int
    n_draws: int

    def __str__(self) -> str:
        """Printout (:func:`bayes_hte.comparators.printout.stc_text`)."""
        return stc_text(self)

    __repr__ = __str__

    def _rows(self) -> tuple[list[dict], list[str]]:
        rows, index = super()._rows()
        rows.insert(1, self.conditional)
        index.insert(1, "plug-in at the means (conditional)")
        return rows, index
