r"""Bayesian univariate and causal meta-analysis models (PyMC factories).

**Normal–normal random-effects model** (:func:`build_meta_analysis_model`). For studies
:math:`k` with estimates :math:`y_k` and known standard errors :math:`s_k`:

.. math::

    y_k \mid \theta_k \sim N(\theta_k, s_k^2), \qquad
    \theta_k \sim N(\mu, \tau^2), \qquad
    \mu \sim p(\mu),\; \tau \sim p(\tau),

and the effect of a new study :math:`\theta_{new} = \mu + \tau z_{new}`,
:math:`z_{new} \sim N(0, 1)`: its posterior is the Bayesian prediction "interval". The
study effects are sampled in one of three forms (``parameterization=``):
``"marginal"`` (default) integrates them out, :math:`y_k \sim N(\mu, s_k^2 + \tau^2)`,
and reconstructs them exactly from their conditional posterior,
:math:`\theta_k = m_k + \sqrt{V_k}\, z_k`, :math:`V_k = (s_k^{-2} + \tau^{-2})^{-1}`,
:math:`m_k = V_k(y_k/s_k^2 + \mu/\tau^2)`, :math:`z_k \sim N(0, 1)` a priori and
a posteriori — no funnel whatever the informativeness of the studies;
``"non_centered"`` (:math:`\theta_k = \mu + \tau z_k`) and ``"centered"`` are the usual
forms. The prior on :math:`\tau` is chosen by name (:data:`TAU_PRIORS`: half-normal, half-Cauchy,
half-Student-t, exponential, uniform; scales suit log risk / odds ratios) or given as a
spec in ``priors={"tau": ...}``.

**Bayesian causal meta-analysis** (:func:`build_causal_meta_model`), the Bayesian
counterpart of Berenfeld et al. (2026): per-arm binomial likelihoods

.. math::

    n_{a1}(k) \sim \mathrm{Binomial}(n_a(k), \psi_a(k)), \qquad
    \mathrm{logit}\,\psi_a(k) \sim N(0, 2^2),

the target population :math:`P^* = \sum_k \omega_k P_k` and

.. math::

    \psi_a = \sum_k \omega_k \psi_a(k), \qquad \theta(P^*) = \Phi(\psi_1, \psi_0)
    \in \{\psi_1 - \psi_0,\; \psi_1/\psi_0,\; \tfrac{\psi_1/(1-\psi_1)}{\psi_0/(1-\psi_0)}\}.

With ``membership="random"`` (default) the weights are uncertain: study sizes
:math:`(n_k) \sim \mathrm{Multinomial}(n, \omega)`, :math:`\omega \sim
\mathrm{Dirichlet}(1, \dots, 1)`, the Bayesian analogue of the frequentist "delta"
variance (random study membership); ``membership="fixed"`` sets :math:`\omega_k = n_k/n`
(or user weights). All three contrasts are deterministic nodes ``theta`` (dim
``measure``), so one posterior serves RD, RR and OR.

Users fit these through :class:`bayes_hte.MetaAnalysisModel` and
:class:`bayes_hte.CausalMetaModel`; posterior summaries are in
:mod:`bayes_hte.effects.synthesis`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import get_args

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

from bayes_hte.data.aggregate import ArmTable, EffectTable, check_weights
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.models.likelihood import binomial_logit
from bayes_hte.models.priors import PriorDict, make_rv, resolve_priors
from bayes_hte.options import (
    MEASURES,
    Membership,
    MetaParameterization,
    SampleSizeWeights,
    TauPrior,
)

ARMS = ("control", "treated")

#: Named priors for the between-study SD tau (scales suit log RR / log OR; rescale for
#: other effect measures with ``priors={"tau": {"sigma": ...}}``).
TAU_PRIORS: dict[str, dict] = {
    "half_normal": {"dist": "HalfNormal", "sigma": 0.5},
    "half_cauchy": {"dist": "HalfCauchy", "beta": 0.5},
    "half_student_t": {"dist": "HalfStudentT", "nu": 3, "sigma": 0.5},
    "exponential": {"dist": "Exponential", "lam": 2.0},
    "uniform": {"dist": "Uniform", "lower": 0.0, "upper": 5.0},
}

#: Default priors of the normal–normal model (``tau`` replaced by the named choice).
META_PRIORS: PriorDict = {
    "mu": {"dist": "Normal", "mu": 0.0, "sigma": 10.0},
    "tau": dict(TAU_PRIORS["half_normal"]),
}

#: Default priors of the causal model: logit risk per study and arm.
CAUSAL_PRIORS: PriorDict = {
    "logit_risk": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
}


# ---------------------------------------------------------------------------- normal–normal
def build_meta_analysis_model(
    data: EffectTable,
    *,
    tau_prior: TauPrior = "half_normal",
    priors: Mapping | None = None,
    parameterization: MetaParameterization = "marginal",
) -> pm.Model:
    r"""Bayesian normal–normal random-effects meta-analysis (module docstring).

    Parameters
    ----------
    data : EffectTable
        Study estimates ``yi`` and variances ``vi`` (e.g. ``ArmTable.effects("RR")``).
    tau_prior : {"half_normal", "half_cauchy", "half_student_t", "exponential", "uniform"}
        Named prior for :math:`\tau` (:data:`TAU_PRIORS`).
    priors : mapping, optional
        Overrides by name: ``"mu"``, ``"tau"`` (e.g. ``{"tau": {"sigma": 0.02}}`` keeps
        the named distribution with a new scale; a full spec replaces it).
    parameterization : {"marginal", "centered", "non_centered"}
        Form of the study effects :math:`\theta_k` (module docstring). ``"marginal"``
        (default) samples without divergences both for informative studies with small
        :math:`\tau` (where the non-centred form diverges) and for weak ones (where the
        centred form does); its ``y`` likelihood is the marginal one,
        :math:`N(\mu, s_k^2 + \tau^2)`.

    Returns
    -------
    pymc.Model
        Dims ``study``; free ``mu``, ``tau``, ``z`` (``theta`` when centred), ``z_new``;
        deterministics ``theta`` (study), ``theta_new``, ``tau2``; observed ``y``.
        ``model.bayes_hte`` records the family, options and resolved priors.

    Raises
    ------
    DataError
        ``data`` is not an :class:`~bayes_hte.data.aggregate.EffectTable`, or has fewer
        than 2 studies.
    ValueError
        An unknown ``tau_prior`` or ``parameterization``, or a prior override naming
        an unknown parameter (:func:`~bayes_hte.models.priors.resolve_priors`).

    Examples
    --------
    >>> table = EffectTable.from_arrays([-0.9, -1.6, -0.2, 0.0], [0.3, 0.2, 0.05, 0.01],
    ...                                 measure="RR", scale="log")
    >>> m = build_meta_analysis_model(table, tau_prior="half_cauchy")
    >>> sorted(m.named_vars)
    ['mu', 'se', 'tau', 'tau2', 'theta', 'theta_new', 'y', 'y_obs', 'z', 'z_new']
    """
    if not isinstance(data, EffectTable):
        raise DataError(f"data must be an EffectTable (see EffectTable.from_arrays / "
                        f"ArmTable.effects), got {type(data).__name__}")
    if data.k < 2:
        raise DataError(f"a random-effects meta-analysis needs at least 2 studies, got "
                        f"{data.k}")
    if tau_prior not in TAU_PRIORS:
        raise ValueError(f"tau_prior must be one of {sorted(TAU_PRIORS)}, got {tau_prior!r}")
    if parameterization not in get_args(MetaParameterization):
        raise ValueError(f"parameterization must be 'marginal', 'centered' or "
                         f"'non_centered', got {parameterization!r}")
    defaults = {"mu": dict(META_PRIORS["mu"]), "tau": dict(TAU_PRIORS[tau_prior])}
    resolved = resolve_priors(defaults, priors, family="meta_analysis")
    if data.measure == "RD" and not (priors or {}).get("tau"):
        warnings.warn(
            f"the risk differences get tau's prior {tau_prior!r} "
            f"({_prior_text(resolved['tau'])}), whose scale is set for log risk and odds "
            "ratios: on the risk-difference scale it puts more than 80% of its mass on "
            "heterogeneity above 0.1 (10 percentage points). Give tau a scale for risk "
            f"differences, e.g. priors={{'tau': {rd_tau_scale(resolved['tau'])!r}}} (the "
            "same prior with its 95th percentile at 0.1).",
            DataWarning, stacklevel=3)
    elif data.measure == "MD" and not (priors or {}).get("tau"):
        warnings.warn(
            f"the raw mean differences get tau's prior {tau_prior!r} "
            f"({_prior_text(resolved['tau'])}) and mu's ({_prior_text(resolved['mu'])}), "
            "whose scales are set for log risk and odds ratios, not for the outcome's "
            "units: give priors on the outcome's scale (priors={'tau': ..., 'mu': ...}), "
            "or analyse the standardised mean differences (MeanTable.effects('SMD'))",
            DataWarning, stacklevel=3)
    coords = {"study": list(data.labels)}
    with pm.Model(coords=coords) as model:
        se = pm.Data("se", np.sqrt(data.vi), dims="study")
        mu = make_rv("mu", resolved["mu"])
        tau = make_rv("tau", resolved["tau"])
        pm.Deterministic("tau2", tau**2)
        if parameterization == "marginal":
            y_obs = pm.Data("y_obs", data.yi, dims="study")
            z = pm.Normal("z", 0.0, 1.0, dims="study")
            var = 1.0 / (1.0 / se**2 + 1.0 / tau**2)
            mean = var * (y_obs / se**2 + mu / tau**2)
            pm.Deterministic("theta", mean + pt.sqrt(var) * z, dims="study")
            pm.Normal("y", mu=mu, sigma=pt.sqrt(se**2 + tau**2), observed=y_obs,
                      dims="study")
        else:
            if parameterization == "non_centered":
                z = pm.Normal("z", 0.0, 1.0, dims="study")
                theta = pm.Deterministic("theta", mu + tau * z, dims="study")
            else:
                theta = pm.Normal("theta", mu=mu, sigma=tau, dims="study")
            y_obs = pm.Data("y_obs", data.yi, dims="study")
            pm.Normal("y", mu=theta, sigma=se, observed=y_obs, dims="study")
        z_new = pm.Normal("z_new", 0.0, 1.0)
        pm.Deterministic("theta_new", mu + tau * z_new)
    model.bayes_hte = {"family": "meta_analysis", "tau_prior": tau_prior,
                       "parameterization": parameterization, "priors": resolved,
                       "measure": data.measure, "scale": data.scale}
    return model


#: The 95th percentile of each named tau prior (:data:`TAU_PRIORS`), from its parameters.
_TAU_Q95 = {
    "HalfNormal": lambda p: p["sigma"] * stats.norm.ppf(0.975),
    "HalfCauchy": lambda p: p["beta"] * np.tan(0.475 * np.pi),
    "HalfStudentT": lambda p: p["sigma"] * stats.t.ppf(0.975, p["nu"]),
    "Exponential": lambda p: -np.log(0.05) / p["lam"],
    "Uniform": lambda p: p["lower"] + 0.95 * (p["upper"] - p["lower"]),
}


def rd_tau_scale(spec: Mapping) -> dict:
    """The scale parameter of a named tau prior (:data:`TAU_PRIORS`) that puts its 95th
    percentile at 0.1, a heterogeneity of 10 percentage points of risk, to 3 significant
    digits (the suggestion of :func:`build_meta_analysis_model`'s warning on risk
    differences).

    Parameters
    ----------
    spec : mapping
        A prior spec of :data:`TAU_PRIORS` (``dist`` and its parameters).

    Returns
    -------
    dict
        ``{"sigma": ...}``, ``{"beta": ...}``, ``{"lam": ...}`` or ``{"upper": ...}``.
    """
    factor = 0.1 / _TAU_Q95[spec["dist"]](spec)
    key = {"HalfNormal": "sigma", "HalfCauchy": "beta", "HalfStudentT": "sigma",
           "Exponential": "lam", "Uniform": "upper"}[spec["dist"]]
    value = spec[key] / factor if key == "lam" else spec[key] * factor
    return {key: float(f"{value:.3g}")}


def _prior_text(spec: Mapping) -> str:
    """``HalfNormal(sigma=0.5)``: a prior spec in words."""
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "dist")
    return f"{spec['dist']}({args})"


# ---------------------------------------------------------------------------- causal
def build_causal_meta_model(
    counts: ArmTable | pd.DataFrame,
    *,
    weights: SampleSizeWeights | Sequence[float] | np.ndarray | pd.Series = "sample_size",
    membership: Membership = "random",
    priors: Mapping | None = None,
) -> pm.Model:
    r"""Bayesian causal meta-analysis with per-arm binomial likelihoods (module docstring).

    Parameters
    ----------
    counts : ArmTable or pandas.DataFrame
        Per-study counts ``n11 n10 n01 n00`` (a DataFrame is read by
        :meth:`~bayes_hte.data.aggregate.ArmTable.from_frame`).
    weights : "sample_size", array_like of shape (K,) or pandas.Series
        :math:`\omega_k = n_k/n` (default) or user convex weights (fixed; >= 0, summing
        to 1; a Series is aligned by study label), see
        :func:`~bayes_hte.data.aggregate.check_weights`.
    membership : {"random", "fixed"}
        With ``"sample_size"`` weights: ``"random"`` gives :math:`\omega` a posterior
        (Dirichlet–multinomial on the study sizes), ``"fixed"`` plugs in :math:`n_k/n`.
        User weights are always fixed.
    priors : mapping, optional
        Override ``"logit_risk"`` (default :math:`N(0, 2^2)` per study and arm).

    Returns
    -------
    pymc.Model
        Dims ``study``, ``arm`` (control, treated), ``measure`` (RD, RR, OR); data
        ``n_arm``, ``n_events`` (study, arm) and ``n_per_study`` (swap them with
        ``pm.set_data`` to refit new counts without rebuilding); free
        ``logit_risk`` (study, arm) and, for random membership, ``weight`` (study);
        deterministics ``risk`` (study, arm), ``psi`` (arm), ``theta`` (measure),
        ``theta_study`` (study, measure); observed ``events`` (study, arm) and
        ``n_study``. ``theta`` holds the risk difference and the risk and odds ratios
        on their natural (not log) scale.

    Raises
    ------
    DataError
        Invalid counts (see :class:`~bayes_hte.data.aggregate.ArmTable`) or weights
        (see :func:`~bayes_hte.data.aggregate.check_weights`), or ``counts`` of another
        type.
    ValueError
        An unknown ``membership``, or a prior override naming an unknown parameter.

    Examples
    --------
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"n11": [20, 5], "n10": [80, 95], "n01": [30, 10],
    ...                        "n00": [70, 90]})
    >>> m = build_causal_meta_model(counts)
    >>> m.named_vars_to_dims["theta"]
    ('measure',)
    """
    table = ArmTable.from_any(counts)
    if membership not in get_args(Membership):
        raise ValueError(f"membership must be 'random' or 'fixed', got {membership!r}")
    w_user = check_weights(weights, table)
    resolved = resolve_priors(CAUSAL_PRIORS, priors, family="causal_meta_analysis")
    events = np.column_stack([table.n01, table.n11]).astype("int64")
    totals = np.column_stack([table.n0, table.n1]).astype("int64")
    nk = table.n.astype("int64")
    coords = {"study": list(table.labels), "arm": list(ARMS), "measure": list(MEASURES)}
    random_w = w_user is None and membership == "random" and table.k > 1
    with pm.Model(coords=coords) as model:
        n_arm = pm.Data("n_arm", totals, dims=("study", "arm"))
        logit_risk = make_rv("logit_risk", resolved["logit_risk"], dims=("study", "arm"))
        risk = pm.Deterministic("risk", pm.math.invlogit(logit_risk), dims=("study", "arm"))
        ev = pm.Data("n_events", events, dims=("study", "arm"))
        binomial_logit("events", n_arm, logit_risk, observed=ev, dims=("study", "arm"))
        if random_w:
            w = pm.Dirichlet("weight", a=np.ones(table.k), dims="study")
            size = pm.Data("n_per_study", nk, dims="study")
            pm.Multinomial("n_study", n=size.sum(), p=w, observed=size, dims="study")
        else:
            fixed = w_user if w_user is not None else nk / nk.sum()
            w = pm.Data("weight", np.asarray(fixed, dtype=float), dims="study")
        psi = pm.Deterministic("psi", (w[:, None] * risk).sum(axis=0), dims="arm")
        pm.Deterministic("theta", _contrasts(psi[1], psi[0]), dims="measure")
        pm.Deterministic("theta_study", _contrasts(risk[:, 1], risk[:, 0], axis=-1),
                         dims=("study", "measure"))
    model.bayes_hte = {"family": "causal_meta_analysis",
                       "weights": "sample_size" if w_user is None else "user",
                       "membership": "random" if random_w else "fixed", "priors": resolved}
    return model


def _contrasts(p1, p0, axis: int = 0):
    rd = p1 - p0
    rr = p1 / p0
    odds = (p1 / (1 - p1)) / (p0 / (1 - p0))
    return pt.stack([rd, rr, odds], axis=axis)

