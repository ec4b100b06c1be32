"""Every option of bayes_hte declared once, and the frozen option objects resolved once.

Each ``Literal`` alias below is the single declaration of an option's allowed values;
modules import it from here (and its tuple of values, for messages and checks). A
family's options are validated and resolved once, into a frozen object
(e.g. :class:`IPDMAOptions`) that the estimator hands down to the
factory, the sampler settings and the estimand functions; no other module branches on
the raw strings.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

# --------------------------------------------------------------------------- sampling
Sampler = Literal["nutpie", "pymc", "nutpie_jax"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
#: The samplers with nutpie's low-rank corrected mass matrix (``mass_matrix="low_rank"``).
LOW_RANK_SAMPLERS: tuple[str, ...] = ("nutpie", "nutpie_jax")
MassMatrixKind = Literal["diag", "low_rank"]
MassMatrix = Literal["auto", "diag", "low_rank"]
#: What the partially centred intercepts' anchors do with a trial (arm) without events or
#: without non-events (:func:`bayes_hte.models.ipdma.intercept_anchors`).
UninformativeTrial = Literal["raise", "non_centered"]

# --------------------------------------------------------------------------- data
Outcome = Literal["binary", "time_to_event"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
IPDCentering = Literal["overall", "within_study"]
LongitudinalCentering = Literal["overall"]
MissingOutcome = Literal["raise", "drop"]
CovariateKind = Literal["binary", "continuous"]
CopulaMethod = Literal["sobol", "scrambled_sobol", "random"]
Measure = Literal["RD", "RR", "OR"]
MEASURES: tuple[str, ...] = get_args(Measure)
MeanMeasure = Literal["SMD", "MD", "ROM"]
MEAN_MEASURES: tuple[str, ...] = get_args(MeanMeasure)
ContinuityTo = Literal["only0", "all", "if0all", "none"]
EffectScale = Literal["identity", "log"]
#: Kind of a subgroup stratum: everything, a level of a binary covariate, an interval.
StratumKind = Literal["all", "level", "interval"]

# --------------------------------------------------------------------------- IPD-MA
Heterogeneity = Literal[
    "naive", "random_intercept", "stratified_intercept", "rank1", "fully_stratified"
]
HETEROGENEITY: tuple[str, ...] = get_args(Heterogeneity)
Learner = Literal["s", "t"]
LEARNERS: tuple[str, ...] = get_args(Learner)
Parameterization = Literal["auto", "centered", "non_centered", "anchored", "partially_centered"]
PARAMETERIZATIONS: tuple[str, ...] = get_args(Parameterization)
Baseline = Literal["weibull", "piecewise"]
BASELINES: tuple[str, ...] = get_args(Baseline)
#: Exact data reduction of the one-stage IPD-MA likelihood (patients pooled per
#: covariate pattern x arm x trial; :mod:`bayes_hte.models.reduction`): ``"auto"`` when
#: it is exact and saves work, ``"always"`` whenever exact, ``"never"``.
DataReduction = Literal["auto", "always", "never"]
DATA_REDUCTIONS: tuple[str, ...] = get_args(DataReduction)

#: Short labels of the structures (Bouvier et al. 2024): ``"RI"`` + ``"-S"`` = ``"RI-S"``.
ABBREVIATION: dict[str, str] = {
    "naive": "NA", "random_intercept": "RI", "stratified_intercept": "SI", "rank1": "R1",
    "fully_stratified": "FS",
}
#: Structures with trial-specific (not pooled) intercepts.
STRATIFIED: tuple[str, ...] = ("stratified_intercept", "fully_stratified")
#: Structures whose new-trial prediction adds a between-trial intercept draw.
RANDOM_INTERCEPT: tuple[str, ...] = ("random_intercept", "stratified_intercept", "rank1")
#: Minimum number of studies each structure needs.
MIN_STUDIES: dict[str, int] = {
    "naive": 1, "random_intercept": 2, "stratified_intercept": 2, "rank1": 2,
    "fully_stratified": 3,
}
#: Default NUTS target acceptance per structure (nutpie, demo data, 4 x 1000 draws:
#: 0.8 left 1-2 divergences in RI-S and R1-S; for FS, 0.9 gave no divergence in 10
#: binary fits and 7 over 12 time-to-event fits against 46 at 0.95, and 1.2-2 times the
#: smallest bulk ESS of 0.95, whose shorter steps did not shorten the trees;
#: docs/performance.md item 22).
DEFAULT_TARGET_ACCEPT: dict[str, float] = {
    "naive": 0.9, "random_intercept": 0.9, "stratified_intercept": 0.9, "rank1": 0.95,
    "fully_stratified": 0.9,
}
#: Relative cost of one fit, for scheduling many fits (IECV): most expensive first.
FIT_COST: dict[str, int] = {
    "fully_stratified": 4, "rank1": 3, "random_intercept": 2, "stratified_intercept": 1,
    "naive": 0,
}

# --------------------------------------------------------------------------- subgroup model
#: A centred or non-centred form of a random effect.
CenteredForm = Literal["centered", "non_centered"]
#: The form ``parameterization="auto"`` gives the random trial intercepts of an IPD-MA.
InterceptForm = Literal["centered", "non_centered", "anchored", "partially_centered"]
SubgroupParameterization = CenteredForm
SUBGROUP_PARAMETERIZATIONS: tuple[str, ...] = get_args(SubgroupParameterization)
IndividualForm = Literal["marginalized", "non_centered"]
INDIVIDUAL_FORMS: tuple[str, ...] = get_args(IndividualForm)
CateKind = Literal["marginal", "conditional"]
CATE_KINDS: tuple[str, ...] = get_args(CateKind)
EffectScaleHTE = Literal["risk_difference", "logit"]
EFFECT_SCALES_HTE: tuple[str, ...] = get_args(EffectScaleHTE)

# --------------------------------------------------------------------------- synthesis
#: Estimators of a univariate meta-analysis or meta-regression: fixed effects (inverse
#: variance; metafor >= 3.0 also calls it "EE", equal effects, or "CE", common effect:
#: both are read as "FE") and the estimators of tau² (metafor's names).
MetaMethod = Literal["FE", "DL", "REML", "ML", "PM", "HS", "HSk", "HE", "SJ", "EB", "EE", "CE"]
PIType = Literal["metafor", "higgins"]
CausalVariance = Literal["delta", "paper", "conditional"]
MVMethod = Literal["REML", "ML", "FE"]
OmegaStructure = Literal["unstructured", "compound_symmetry", "diagonal", "identity"]
OMEGA_STRUCTURES: tuple[str, ...] = get_args(OmegaStructure)
#: metafor's ``rma.mv(struct = ...)`` names of the structures of Omega, read as ours.
OMEGA_ALIASES: dict[str, str] = {"UN": "unstructured", "CS": "compound_symmetry",
                                 "DIAG": "diagonal", "ID": "identity"}


def canonical_structure(structure: object) -> str:
    """``structure`` with metafor's names (``"UN"``, ``"CS"``, ``"DIAG"``, ``"ID"``) read
    as ours (:func:`canonical_choice` with :data:`OMEGA_ALIASES`).

    Parameters
    ----------
    structure : str
        One of :data:`OMEGA_STRUCTURES` or a key of :data:`OMEGA_ALIASES`.

    Returns
    -------
    str
        The structure's name in :data:`OMEGA_STRUCTURES`.

    Raises
    ------
    ValueError
        Neither one of :data:`OMEGA_STRUCTURES` nor of :data:`OMEGA_ALIASES`.
    """
    return canonical_choice("structure", structure, OMEGA_STRUCTURES, OMEGA_ALIASES)


def canonical_choice(name: str, value: object, choices: tuple[str, ...],
                     aliases: Mapping[str, str]) -> str:
    """``value``, one of ``choices`` or another package's name for one (an alias).

    Parameters
    ----------
    name, value
        As in :func:`check_choice`.
    choices : tuple of str
        Our names.
    aliases : mapping of str to str
        Other names (e.g. metafor's), each to one of ``choices``.

    Returns
    -------
    str
        The name in ``choices``.

    Raises
    ------
    ValueError
        ``value`` is neither in ``choices`` nor an alias.
    """
    if isinstance(value, str) and value in aliases:
        return aliases[value]
    if not isinstance(value, str) or value not in choices:
        read = ", ".join(f"{a!r} as {t!r}" for a, t in aliases.items())
        raise ValueError(f"{name} must be one of {choices} (or metafor's names, {read}), "
                         f"got {value!r}")
    return value


WithinCovariance = Literal["random_intercept", "unstructured"]
#: Likelihood of a model with variance components: restricted or full.
LikelihoodMethod = Literal["REML", "ML"]
LMMMethod = LikelihoodMethod
TauPrior = Literal["half_normal", "half_cauchy", "half_student_t", "exponential", "uniform"]
MetaParameterization = Literal["marginal", "centered", "non_centered"]
Membership = Literal["random", "fixed"]
CIMAWeights = Literal["reference", "inverse_variance"]
Representer = Literal["reported", "tilted"]
CIMACorrelation = Literal["reference", "paper"]
#: Working covariance of the reported effects in the likelihood of the Bayesian CIMA
#: (:func:`bayes_hte.comparators.cima.moments.cima_moments`).
CIMACovariance = Literal["tilted", "reported", "independent"]
CIMA_COVARIANCES: tuple[str, ...] = get_args(CIMACovariance)
#: The default study weights of a causal meta-analysis, :math:`\omega_k = n_k/n`.
SampleSizeWeights = Literal["sample_size"]
#: Form of the trial coefficients of the one-stage Bayesian mixed model.
OneStageParameterization = CenteredForm
#: Standard error of a matching-adjusted indirect comparison (MAIC): the M-estimation
#: sandwich (weights' estimation included) or a seeded bootstrap of the patients.
MAICVariance = Literal["sandwich", "bootstrap"]
MAIC_VARIANCES: tuple[str, ...] = get_args(MAICVariance)
#: Standard error of a simulated treatment comparison (STC): the delta method or
#: parametric draws from the coefficients' normal approximation.
STCVariance = Literal["delta", "draws"]
STC_VARIANCES: tuple[str, ...] = get_args(STCVariance)

# --------------------------------------------------------------------------- evaluation
CV = Literal["iecv", "none"]

# --------------------------------------------------------------------------- studies
#: Performance measures of a simulation study, named as R rsimsum names them.
#: Which trials a study's IPD + aggregate-data method uses (issue 16's comparison):
#: IPD and aggregate trials together, the IPD trials alone, or every trial as IPD.
IPDAggregateSource = Literal["ipd_ad", "ipd_only", "all_ipd"]
IPD_AGGREGATE_SOURCES: tuple[str, ...] = get_args(IPDAggregateSource)
RegtestModel = Literal["rma", "lm"]
REGTEST_MODELS: tuple[str, ...] = get_args(RegtestModel)
RegtestPredictor = Literal["sei", "vi"]
REGTEST_PREDICTORS: tuple[str, ...] = get_args(RegtestPredictor)
TrimFillEstimator = Literal["L0", "R0", "Q0"]
TRIM_FILL_ESTIMATORS: tuple[str, ...] = get_args(TrimFillEstimator)
FunnelSide = Literal["left", "right"]
FUNNEL_SIDES: tuple[str, ...] = get_args(FunnelSide)
PerformanceMeasure = Literal[
    "thetamean", "thetamedian", "se2mean", "se2median", "bias", "rbias", "empse", "mse",
    "relprec", "modelse", "relerror", "cover", "becover", "power"
]
PERFORMANCE_MEASURES: tuple[str, ...] = get_args(PerformanceMeasure)
#: The measures a study's report shows unless ``[output] measures`` names others: those of
#: Morris, White & Crowther (2019, Table 6) and the mean estimate.
REPORT_MEASURES: tuple[str, ...] = (
    "thetamean", "bias", "empse", "mse", "relprec", "modelse", "relerror", "cover", "becover",
    "power",
)


def check_flag(name: str, value: object) -> bool:
    """``value`` as a bool, or ``ValueError`` naming the option: only ``True`` and
    ``False`` (Python's or NumPy's) are flags; ``"False"``, ``None`` or ``0`` are not
    read as one.

    Parameters
    ----------
    name, value
        As in :func:`check_choice`.

    Returns
    -------
    bool
        ``value``.

    Raises
    ------
    ValueError
        ``value`` is not a bool.
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_real(name: str, value: object) -> float:
    """A finite real number (not a bool, not text: ``"50"`` is not read as 50), or
    ``ValueError`` naming the option.

    Parameters
    ----------
    name : str
        The option, for the message (e.g. ``"horizon"``).
    value : object
        The number the user gave.

    Returns
    -------
    float
        ``value`` as a Python float.

    Raises
    ------
    ValueError
        ``value`` is not a finite real number.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_count(name: str, value: object, *, low: int, high: int | None = None,
                error: type[Exception] = ValueError) -> int:
    """An integer option (a count, a size, a number of points) of at least ``low`` (and at
    most ``high``), or ``error`` naming the option. Not a bool, not ``2.0``, not ``"2"``:
    none of them is silently read as an integer.

    Parameters
    ----------
    name : str
        The option, for the message (e.g. ``"n_boot"`` or ``"[sampler] draws"``).
    value : object
        The value the user gave.
    low, high : int
        The smallest and the largest allowed value (``high`` None: no upper bound).
    error : type of Exception
        The exception raised: ``ValueError`` for an option of a call,
        :class:`bayes_hte.DataError` for a size of data, ``SpecError`` for a spec key.

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    ValueError (or ``error``)
        ``value`` is not an integer in ``[low, high]``.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) \
            or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise error(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_seed(name: str, value: object) -> int | None:
    """A random seed: None or an integer >= 0 (not a bool), or ``ValueError`` naming the
    option.

    Parameters
    ----------
    name : str
        The keyword, for the message (e.g. ``"random_seed"``).
    value : object
        None (the caller's default seed) or the seed the user gave.

    Returns
    -------
    int or None
        ``value`` as a Python int, or None.

    Raises
    ------
    ValueError
        ``value`` is neither None nor an integer >= 0.
    """
    if value is None:
        return None
    try:
        return check_count(name, value, low=0)
    except ValueError:
        raise ValueError(f"{name} must be None or an integer >= 0, got {value!r}") from None


def check_choice(name: str, value: object, choices: tuple) -> None:
    """Raise ``ValueError`` naming the option and its allowed values if ``value`` is not one.

    Parameters
    ----------
    name : str
        The keyword the user passed (used in the message).
    value : object
        The value passed.
    choices : tuple
        The allowed values (one of the tuples of this module).

    Raises
    ------
    ValueError
        ``value`` is not in ``choices``.
    """
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def check_type_of_default(name: str, value: object, default: object, *,
                          integers: bool = False) -> None:
    """Raise ``ValueError`` when ``value`` is not of its default's type.

    For options read from TOML, where ``"no"`` or ``"5000"`` would otherwise pass for
    ``true`` or a number: a bool default takes ``True``/``False`` only, a numeric
    default numbers (integers only with ``integers``: an integer default of a function
    may stand for a real parameter, e.g. an effect of 1). Other defaults (strings,
    lists, None) are left to the code that reads the value.

    Parameters
    ----------
    name : str
        The option, for the message.
    value : object
        The value given.
    default : object
        The option's default.
    integers : bool
        An integer default takes integers only.

    Raises
    ------
    ValueError
        ``"<name> must be true or false / an integer / a number, got <value>"``.
    """
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, numbers.Integral) and integers:
        ok, kind = isinstance(value, numbers.Integral) and not isinstance(value, bool), \
            "an integer"
    elif isinstance(default, numbers.Real):
        ok, kind = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
    else:
        return
    if not ok:
        raise ValueError(f"{name} must be {kind}, got {value!r}")


#: The sampler settings :func:`check_sampler_setting` knows.
SAMPLER_SETTINGS: tuple[str, ...] = ("draws", "tune", "chains", "random_seed",
                                     "target_accept", "sampler", "mass_matrix")


def check_sampler_setting(name: str, value: object) -> None:
    """Raise ``ValueError`` for a sampler setting outside its allowed values.

    Used where settings are stored to be used later (a study method, the cross-validation
    refits of another process), so that a wrong value is reported at once, not at the
    first fit.

    Parameters
    ----------
    name : str
        One of :data:`SAMPLER_SETTINGS`.
    value : object
        The value given.

    Raises
    ------
    ValueError
        ``draws`` or ``chains`` not an integer >= 1; ``tune`` or ``random_seed`` not an
        integer >= 0 (the seed may be None); ``target_accept``
        outside (0, 1) (None: the structure's default); ``sampler`` not None or one of
        :data:`SAMPLERS`; ``mass_matrix`` not ``"auto"``, ``"diag"`` or ``"low_rank"``;
        an unknown ``name``.
    """
    if name in ("draws", "tune", "chains", "random_seed"):
        if value is None and name == "random_seed":
            return
        check_count(name, value, low=0 if name in ("tune", "random_seed") else 1)
    elif name == "target_accept":
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, numbers.Real)
                                  or not 0 < value < 1):
            raise ValueError(f"target_accept must be in (0, 1), got {value!r}")
    elif name == "sampler":
        check_choice(name, value, (None, *SAMPLERS))
    elif name == "mass_matrix":
        check_choice(name, value, get_args(MassMatrix))
    else:
        raise ValueError(f"{name!r} is not a sampler setting ({', '.join(SAMPLER_SETTINGS)})")


def check_sampler_settings(settings: Mapping[str, object]) -> None:
    """:func:`check_sampler_setting` for every key of ``settings`` among
    :data:`SAMPLER_SETTINGS` (other keys, e.g. ``workers``, are left to their callee).

    Parameters
    ----------
    settings : mapping
        Keyword arguments of a fit or of the cross-validation.

    Raises
    ------
    ValueError
        The first sampler setting outside its allowed values.
    """
    for name in SAMPLER_SETTINGS:
        if name in settings:
            check_sampler_setting(name, settings[name])


@dataclass(frozen=True)
class IPDMAOptions:
    """The resolved options of a one-stage IPD-MA model (validated once, then read-only).

    Parameters
    ----------
    heterogeneity : {"naive", "random_intercept", "stratified_intercept", "rank1", \
"fully_stratified"}
        Between-trial structure (Bouvier et al. 2024).
    learner : {"s", "t"}
        S-learner (one predictor with treatment terms) or T-learner (one per arm).
    outcome : {"binary", "time_to_event"}
        Logit-link Bernoulli or proportional-hazards survival outcome.
    parameterization : {"auto", "centered", "non_centered", "anchored", "partially_centered"}
        Form of the trial-level effects (see :func:`bayes_hte.models.ipdma.build_ipdma_model`).
    baseline : {"weibull", "piecewise"}
        Baseline hazard of a time-to-event model (ignored for binary outcomes).
    cuts : tuple of float, optional
        Piecewise baseline cut points, in the data's time unit.
    n_intervals : int
        Number of quantile-based intervals when ``cuts`` is not given.
    horizon : float, optional
        Time (data's unit) at which a time-to-event ITE is a survival difference;
        ``None``: the median follow-up of the fit data.
    data_reduction : {"auto", "always", "never"}
        Exact data reduction of the likelihood (binary outcome, or the piecewise
        baseline): patients pooled per covariate pattern x arm x trial
        (:mod:`bayes_hte.models.reduction`).

    Raises
    ------
    ValueError
        An option outside its allowed values, a time-to-event option given for a
        binary outcome, or ``data_reduction="always"`` with the Weibull baseline.
    """

    heterogeneity: Heterogeneity = "random_intercept"
    learner: Learner = "s"
    outcome: Outcome = "binary"
    parameterization: Parameterization = "auto"
    baseline: Baseline = "weibull"
    cuts: tuple[float, ...] | None = None
    n_intervals: int = 6
    horizon: float | None = None
    data_reduction: DataReduction = "auto"

    def __post_init__(self) -> None:
        check_choice("heterogeneity", self.heterogeneity, HETEROGENEITY)
        check_choice("data_reduction", self.data_reduction, DATA_REDUCTIONS)
        check_choice("learner", self.learner, LEARNERS)
        check_choice("outcome", self.outcome, OUTCOMES)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        check_choice("baseline", self.baseline, BASELINES)
        if self.cuts is not None:
            object.__setattr__(self, "cuts", tuple(float(c) for c in self.cuts))
        object.__setattr__(self, "n_intervals", check_count("n_intervals", self.n_intervals,
                                                            low=1))
        if self.horizon is not None and not float(self.horizon) > 0:
            raise ValueError(f"horizon must be > 0, got {self.horizon!r}")
        if (self.data_reduction == "always" and self.outcome == "time_to_event"
                and self.baseline == "weibull"):
            raise ValueError("data_reduction='always' needs a binary outcome or "
                             "baseline='piecewise' (the Weibull likelihood depends on each "
                             "patient's own time)")

    @classmethod
    def resolve(cls, *, heterogeneity: str, learner: str, outcome: str,
                parameterization: str, model_options: dict,
                data_reduction: str = "auto") -> IPDMAOptions:
        """Validate the estimator's keywords and the time-to-event options once.

        Parameters
        ----------
        heterogeneity, learner, outcome, parameterization : str
            As in :class:`IPDMAOptions`.
        model_options : dict
            Time-to-event options ``baseline``, ``cuts``, ``n_intervals``, ``horizon``.
        data_reduction : {"auto", "always", "never"}
            As in :class:`IPDMAOptions`.

        Returns
        -------
        IPDMAOptions

        Raises
        ------
        ValueError
            Unknown or invalid options; time-to-event options for a binary outcome;
            ``cuts`` or ``n_intervals`` without ``baseline="piecewise"``.
        """
        tte_keys = {"baseline", "cuts", "n_intervals", "horizon"}
        unknown = set(model_options) - tte_keys
        if unknown:
            raise ValueError(f"unknown model options {sorted(unknown)}; allowed: "
                             f"{sorted(tte_keys)}")
        if outcome == "binary" and model_options:
            raise ValueError(f"options {sorted(model_options)} apply to time-to-event models "
                             "only")
        piecewise_only = sorted({"cuts", "n_intervals"} & set(model_options))
        if model_options.get("baseline", "weibull") != "piecewise" and piecewise_only:
            raise ValueError(f"options {piecewise_only} set the intervals of "
                             "baseline='piecewise'; the Weibull baseline has none")
        return cls(heterogeneity=heterogeneity, learner=learner, outcome=outcome,
                   parameterization=parameterization, data_reduction=data_reduction,
                   **model_options)

    @property
    def label(self) -> str:
        """Short label, e.g. ``"RI-S"``."""
        return f"{ABBREVIATION[self.heterogeneity]}-{self.learner.upper()}"

    @property
    def min_studies(self) -> int:
        """The number of studies the structure needs."""
        return MIN_STUDIES[self.heterogeneity]

    @property
    def stratified(self) -> bool:
        """Whether trials keep their own (unpooled) intercepts."""
        return self.heterogeneity in STRATIFIED

    def target_accept(self, value: float | None = None) -> float:
        """``value``, or the structure's default (:data:`DEFAULT_TARGET_ACCEPT`).

        Parameters
        ----------
        value : float, optional
            The NUTS target acceptance rate the user asked for, in (0, 1).

        Returns
        -------
        float
            ``value`` when given; else 0.9, or 0.95 for the rank-1 structure (fewer
            divergences, measured on the demo data; :data:`DEFAULT_TARGET_ACCEPT`).
        """
        return DEFAULT_TARGET_ACCEPT[self.heterogeneity] if value is None else value

    def mass_matrix(self, value: str, *, sampler: str,
                    intercept_form: str | None = None) -> MassMatrixKind:
        """Resolve ``mass_matrix="auto"``: nutpie's low-rank corrected mass matrix for
        rank-1 models and for anchored or partially centred random intercepts, a
        diagonal one otherwise.

        Measured in ``docs/ipdma.md`` (rank-1, demo data: about twice the effective
        draws per second) and ``docs/performance.md`` (anchored random intercepts on an
        INDANA-sized random-intercept S-learner: about nine times those of the centred
        form with a diagonal mass matrix, no divergences).

        Parameters
        ----------
        value : {"auto", "diag", "low_rank"}
            The mass matrix the user asked for.
        sampler : {"nutpie", "pymc", "nutpie_jax"}
            The resolved sampler (the low-rank correction exists in nutpie only).
        intercept_form : {"centered", "non_centered", "anchored", "partially_centered"}, optional
            The resolved form of the random trial intercepts
            (:func:`bayes_hte.models.ipdma.intercept_form`).

        Returns
        -------
        {"diag", "low_rank"}
            ``value`` unless it is ``"auto"``.

        Raises
        ------
        ValueError
            ``value`` is not one of the three choices.
        """
        check_choice("mass_matrix", value, get_args(MassMatrix))
        if value != "auto":
            return value
        low_rank = (self.heterogeneity == "rank1"
                    or intercept_form in ("anchored", "partially_centered"))
        return "low_rank" if sampler in LOW_RANK_SAMPLERS and low_rank else "diag"

    def model_options(self) -> dict:
        """The time-to-event options as keywords (empty for a binary outcome).

        Returns
        -------
        dict
            ``baseline`` and ``n_intervals``, plus ``cuts`` (list of float, data's time
            unit) and ``horizon`` when set: the keywords of
            :func:`bayes_hte.models.survival.build_ipdma_survival_model`.
        """
        if self.outcome == "binary":
            return {}
        out = {"baseline": self.baseline, "n_intervals": self.n_intervals}
        if self.cuts is not None:
            out["cuts"] = list(self.cuts)
        if self.horizon is not None:
            out["horizon"] = self.horizon
        return out

# --------------------------------------------------------------------------- more options
#: Number of covariates of the Bouvier et al. (2024) design.
BouvierCovariates = Literal[3, 9]
#: Designs of the two-step simulation (Simulation 1 / 2 of the seed paper).
TwoStepDesign = Literal["simulation1", "simulation2"]
#: How BMI modifies the log-odds effect in the Tzimas (2024) trial of a study
#: (``bayes_hte.studies.simulators.TZIMAS_DESIGNS``): the published step at BMI > 30, a
#: stronger step, or a linear modifier.
TzimasDesign = Literal["threshold", "threshold_strong", "linear"]
TZIMAS_DESIGN_NAMES: tuple[str, ...] = get_args(TzimasDesign)
#: One- or two-step GMM of CIMA.
CIMASteps = Literal[1, 2]
#: Back-transformation of a meta-analysis table.
Transform = Literal["exp"]
#: Column of a metric table read by ``ITEComparison.summary``.
SummaryValue = Literal["estimate", "mean", "ci_low", "ci_high"]
