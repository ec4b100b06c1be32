r"""Hierarchical population → subgroup → individual treatment-effect model.

Source: Tzimas (2024), section 2.2 (equations 5-11) and the JAGS model of appendix B.
For patient :math:`i` with treatment :math:`z_i`, covariates :math:`x_i` (standardised,
see below), level :math:`k_g[i]` of each named subgrouping :math:`g = 1..G` and, with
several trials, trial :math:`j[i]`:

.. math::

    \mathrm{logit}\, P(y_i = 1) &= \underbrace{\alpha + x_i'\beta
        + \sum_g a_{g,k_g[i]} + a_{j[i]}}_{\text{baseline log-odds } \ell_{0i}}
        + z_i\,\eta_i, \\
    \eta_i &= \tau(x_i, k[i], j[i]) + \sigma_\eta\,\epsilon_i,
        \qquad \epsilon_i \sim N(0, 1), \\
    \tau(x_i, k[i], j[i]) &= \mu_\tau + x_i^{(I)\prime}\gamma
        + \sum_g (\tau_{g,k_g[i]} - \mu_\tau) + (\tau_{j[i]} - \mu_\tau).

Population level
    intercept :math:`\alpha`, covariate effects :math:`\beta`, treatment effect
    :math:`\mu_\tau` and treatment × covariate interactions :math:`\gamma` (for the
    covariates named in ``interactions``, :math:`x^{(I)}`); equation 5 of the paper.
Subgroup level
    for every named subgrouping :math:`g` (several allowed), level intercepts
    :math:`\alpha_{g,k} \sim N(\alpha, \sigma_{\alpha,g}^2)` (stored as
    ``alpha_subgroup``; :math:`a_{g,k} = \alpha_{g,k} - \alpha`) and level treatment
    effects :math:`\tau_{g,k} \sim N(\mu_\tau, \sigma_{\tau,g}^2)` (``tau_subgroup``;
    equation 6; the paper's ``te_gender[k] = b_trt + re_trt[k]``). With several
    subgroupings :math:`\tau_{g,k}` is the effect in level :math:`k` of :math:`g` at the
    average level of the others.
Trial level (several trials only)
    :math:`\alpha_j \sim N(\alpha, \sigma_{\alpha,\mathrm{study}}^2)` and
    :math:`\tau_j \sim N(\mu_\tau, \sigma_{\tau,\mathrm{study}}^2)` (``alpha_study``,
    ``tau_study``): trial is one more grouping level, with its own priors.
Individual level (``individual_effects=True``)
    :math:`\eta_i \sim N(\tau(x_i, k[i], j[i]), \sigma_\eta^2)` (equation 7). By
    default (``individual_form="marginalized"``) the deviations
    :math:`\epsilon_i` are integrated out of the likelihood by Gauss-Hermite
    quadrature — each patient's outcome has probability :math:`\bar p_i = \int
    \mathrm{expit}(\ell_{0i} + z_i(\tau_i + \sigma_\eta e))\,\phi(e)\,de` — so the
    sampler sees one scalar :math:`\sigma_\eta` instead of one latent per patient; the
    posterior of :math:`\epsilon_i` is drawn afterwards, exactly, from its conditional
    given each posterior draw (:func:`individual_deviations`). ``"non_centered"``
    samples :math:`\epsilon_i` (``eta_raw``) with the rest: the same posterior, but
    :math:`\sigma_\eta` then mixes slowly (its bulk ESS is about a quarter of the
    other parameters' on the paper's design, and its R-hat reaches 1.016), because the
    treated patients with an event tie their :math:`\epsilon_i` to it.

Subgroup and trial levels are non-centred by default (``parameterization``), and the
sampler moves the intercept and treatment effect of the *data's average level*
rather than the population means :math:`\alpha, \mu_\tau` (a shear with unit
Jacobian that keeps their priors exactly). With two levels of a subgrouping (gender)
the data pin the two level intercepts down, while the population mean
:math:`\alpha` varies with :math:`\sigma_{\alpha}` (its conditional SD is
:math:`\sigma_\alpha/\sqrt 2`): a funnel between :math:`\alpha` and
:math:`\sigma_\alpha`. On the paper's design (seeds 1-3, 4 x 1000 draws, target
acceptance 0.9) the plain non-centred form diverged 6, 5 and 1 times with smallest bulk
ESS down to 600; the anchored form not at all (``docs/subgroup.md``). The centred form
diverges hundreds of times.

What the individual layer can and cannot learn
----------------------------------------------
Each patient is observed once, in one arm. A control patient's :math:`\epsilon_i` does
not enter the likelihood: its posterior is its prior. A treated patient's outcome is
one Bernoulli draw with probability :math:`\mathrm{expit}(\ell_{0i} + \tau_i +
\sigma_\eta\epsilon_i)`, and a Bernoulli mixture over :math:`\epsilon` is again a
Bernoulli, with the *marginal* probability
:math:`\bar p_{1i} = \int \mathrm{expit}(\ell_{0i} + \tau_i + \sigma_\eta e)\,\phi(e)\,de`.
So the data inform :math:`\sigma_\eta` only through this marginal probability, which
the population and subgroup parameters can match for any :math:`\sigma_\eta`: the
posterior of :math:`\sigma_\eta` is essentially its prior, and the conditional effect
:math:`\tau_i` trades off against it (for rare events
:math:`\bar p_{1i} \approx \mathrm{expit}(\ell_{0i} + \tau_i + \sigma_\eta^2/2)`, so
:math:`\tau_i` is pulled down by about :math:`\sigma_\eta^2/2`). The posterior of a treated
patient's :math:`\epsilon_i` leans towards the outcome it had — a description of that
outcome, not a prediction. What *is* identified is the marginal CATE
:math:`\mathrm{logit}\,\bar p_{1i} - \ell_{0i}` (see :func:`cate_draws`, ``kind=
"marginal"``), which is what the data-generating truth of a simulation is compared with.
Hence the regularising default :math:`\sigma_\eta \sim \mathrm{HalfNormal}(0.5)`; the
layer is kept because it is the paper's model and because it widens the intervals of
*individual* effects (``ite(individual=True)``) by the assumed within-subgroup spread.

Covariates are standardised by default (``standardize=True``): every column of the
encoded covariate matrix is centred at its mean in the fit data and columns that are
not 0/1 are divided by their SD, so :math:`\beta` and :math:`\gamma` are per SD (per
unit for binary columns), :math:`\alpha` and :math:`\mu_\tau` refer to a patient with
average covariates, and the N(0, 1) priors of the paper (equation 10) are on a
sensible scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import expit

from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError, format_rows
from bayes_hte.models.ipdma import _random_effect
from bayes_hte.models.priors import PriorDict, make_dist, make_rv, resolve_priors

Parameterization = Literal["centered", "non_centered"]
IndividualForm = Literal["marginalized", "non_centered"]
CateKind = Literal["marginal", "conditional"]

#: Default priors (logit scale; covariate effects per SD of standardised covariates).
DEFAULT_PRIORS: PriorDict = {
    "alpha": {"dist": "Normal", "mu": 0.0, "sigma": 2.5},
    "beta": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "mu_tau": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "gamma": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "sigma_alpha_subgroup": {"dist": "HalfNormal", "sigma": 0.5},
    "sigma_tau_subgroup": {"dist": "HalfNormal", "sigma": 0.5},
    "sigma_alpha_study": {"dist": "HalfNormal", "sigma": 1.0},
    "sigma_tau_study": {"dist": "HalfNormal", "sigma": 0.5},
    "sigma_eta": {"dist": "HalfNormal", "sigma": 0.5},
}

#: Gauss-Hermite nodes used to integrate the individual deviations out: with 20 nodes the
#: relative error of the marginal risk is below 2e-5 for sigma_eta up to 2 (against
#: adaptive quadrature; 12 nodes: 3e-4).
N_QUADRATURE = 20


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """How a data set maps onto the model: standardisation, interactions, groupings.

    Built by :func:`layout` from the fit data; applied to new data by :meth:`design`
    and :meth:`subgroup_index`, so predictions are encoded like the fit.
    """

    covariate_names: tuple[str, ...]
    interaction_names: tuple[str, ...]
    interaction_idx: tuple[int, ...]
    center: np.ndarray
    scale: np.ndarray
    subgroups: tuple[str, ...]
    subgroup_levels: tuple[tuple, ...]
    multi_study: bool

    @property
    def subgroup_labels(self) -> list[str]:
        """Coordinates of the ``subgroup`` dim: ``"gender[Female]"``, ..."""
        return [f"{g}[{lv}]" for g, levels in zip(self.subgroups, self.subgroup_levels,
                                                  strict=True) for lv in levels]

    @property
    def level_grouping(self) -> np.ndarray:
        """Index of each subgroup level's subgrouping (length = number of levels)."""
        return np.concatenate([np.full(len(lv), g, dtype=np.int64)
                               for g, lv in enumerate(self.subgroup_levels)]
                              or [np.zeros(0, dtype=np.int64)])

    def design(self, data: IPDData, newdata: pd.DataFrame | None = None) -> np.ndarray:
        """Standardised covariate matrix of the fit data or of ``newdata``."""
        return (data.design(newdata) - self.center) / self.scale

    def subgroup_index(self, frame: pd.DataFrame) -> np.ndarray:
        """(patient, subgrouping) indices into the flattened ``subgroup`` dim."""
        offsets = np.cumsum([0] + [len(lv) for lv in self.subgroup_levels])
        out = np.zeros((len(frame), len(self.subgroups)), dtype=np.int64)
        for g, (name, levels) in enumerate(zip(self.subgroups, self.subgroup_levels,
                                               strict=True)):
            if name not in frame.columns:
                raise DataError(f"subgrouping column {name!r} is not in the data; "
                                f"available columns: {list(map(str, frame.columns))}")
            s = frame[name]
            if s.isna().any():
                raise DataError(f"subgrouping column {name!r} has missing values at "
                                f"{format_rows(frame.index[s.isna()])}; impute or remove "
                                "these rows")
            mapping = {lv: i for i, lv in enumerate(levels)}
            mapping.update({str(lv): i for i, lv in enumerate(levels)})
            idx = s.map(lambda v, m=mapping: m.get(v, m.get(str(v), -1))).to_numpy()
            if (idx < 0).any():
                bad = sorted(map(str, s[idx < 0].unique()))
                raise DataError(f"subgrouping column {name!r} has levels {bad} at "
                                f"{format_rows(frame.index[idx < 0])} that the model does "
                                f"not know (known levels: {list(levels)})")
            out[:, g] = idx + offsets[g]
        return out


def _is_binary(col: np.ndarray) -> bool:
    return bool(np.isin(col, (0.0, 1.0)).all())


def layout(data: IPDData, *, subgroups: Sequence[str] = (),
           interactions: Sequence[str] | None = None, standardize: bool = True) -> Layout:
    """Validate the subgroupings and interactions against ``data`` and fix the encoding.

    Raises
    ------
    DataError
        A subgrouping that is not a column, has missing values, a single level, plays
        another role (outcome, treatment, study, covariate), or is named twice; an
        interaction that is not a covariate.
    """
    subgroups = (subgroups,) if isinstance(subgroups, str) else tuple(subgroups)
    frame = data.frame
    if len(set(subgroups)) != len(subgroups):
        raise DataError(f"subgroups {list(subgroups)} contain duplicates")
    levels = []
    for g in subgroups:
        if g not in frame.columns:
            raise DataError(f"subgrouping column {g!r} is not in the data frame; available "
                            f"columns: {list(map(str, frame.columns))}")
        roles = {data.outcome: "outcome", data.treatment: "treatment", data.study: "study",
                 data.time: "time"}
        if g in roles:
            raise DataError(f"column {g!r} is the {roles[g]} column and cannot be a subgrouping")
        if g in data.covariates:
            raise DataError(f"column {g!r} is both a covariate and a subgrouping: its main "
                            "effect and interaction would duplicate the subgroup intercepts "
                            "and treatment effects; keep it in one role")
        s = frame[g]
        if s.isna().any():
            raise DataError(f"subgrouping column {g!r} has missing values at "
                            f"{format_rows(frame.index[s.isna()])}; impute or remove these "
                            "rows")
        lv = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
              else sorted(s.unique().tolist(), key=lambda v: (str(type(v)), v)))
        lv = [v for v in lv if (s == v).any()]
        if len(lv) < 2:
            raise DataError(f"subgrouping column {g!r} has a single level {lv[0]!r}; a "
                            "subgrouping needs at least two levels")
        levels.append(tuple(lv))

    names = tuple(data.covariate_names)
    if interactions is None:
        inter_idx = tuple(range(len(names)))
    else:
        interactions = ((interactions,) if isinstance(interactions, str)
                        else tuple(interactions))
        inter_idx = []
        for c in interactions:
            if c not in data.covariates:
                raise DataError(f"interaction {c!r} is not one of the covariates "
                                f"{list(data.covariates)}; a treatment interaction needs the "
                                "covariate's main effect too")
            cols = [k for k, nm in enumerate(names) if nm == c or nm.startswith(f"{c}[")]
            inter_idx += cols
        inter_idx = tuple(sorted(set(inter_idx)))
    X = data.X
    if standardize and X.shape[1]:
        center = X.mean(axis=0)
        scale = np.array([1.0 if _is_binary(X[:, k]) else X[:, k].std()
                          for k in range(X.shape[1])])
        scale[scale == 0] = 1.0
    else:
        center, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
    return Layout(covariate_names=names,
                  interaction_names=tuple(names[k] for k in inter_idx),
                  interaction_idx=inter_idx, center=center, scale=scale,
                  subgroups=subgroups, subgroup_levels=tuple(levels),
                  multi_study=data.n_studies > 1)


def default_priors(lay: Layout, *, individual_effects: bool) -> PriorDict:
    """The default priors a configuration uses (a fresh copy)."""
    names = {"alpha", "mu_tau"}
    if lay.covariate_names:
        names.add("beta")
    if lay.interaction_names:
        names.add("gamma")
    if lay.subgroups:
        names |= {"sigma_alpha_subgroup", "sigma_tau_subgroup"}
    if lay.multi_study:
        names |= {"sigma_alpha_study", "sigma_tau_study"}
    if individual_effects:
        names.add("sigma_eta")
    return {k: dict(v) for k, v in DEFAULT_PRIORS.items() if k in names}


# --------------------------------------------------------------------------- factory
def build_subgroup_model(
    data: IPDData,
    *,
    subgroups: Sequence[str] = (),
    individual_effects: bool = True,
    priors: Mapping | None = None,
    interactions: Sequence[str] | None = None,
    standardize: bool = True,
    parameterization: Parameterization = "non_centered",
    individual_form: IndividualForm = "marginalized",
    n_quadrature: int = N_QUADRATURE,
) -> pm.Model:
    r"""Build the hierarchical population → subgroup → individual model (binary outcome).

    Parameters
    ----------
    data : IPDData
        Validated data with a binary outcome; one trial (``study=None``) or several
        (trial becomes a grouping level).
    subgroups : sequence of str
        Columns of ``data.frame`` defining subgroupings (any column that is not the
        outcome, treatment, study or a covariate; strings, categories or numbers).
        Each gets subgroup intercepts and subgroup treatment effects.
    individual_effects : bool
        Add the individual layer :math:`\eta_i \sim N(\tau_i, \sigma_\eta^2)`.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS` by name (only the parameters the
        configuration has, see :func:`default_priors`).
    interactions : sequence of str, optional
        Covariates with a treatment interaction; ``None`` = every covariate.
    standardize : bool
        Centre the covariates and scale non-binary ones to unit SD (module docstring).
    parameterization : {"non_centered", "centered"}
        Form of the subgroup and trial levels (see the module docstring).
    individual_form : {"marginalized", "non_centered"}
        Integrate the individual deviations out of the likelihood (Gauss-Hermite with
        ``n_quadrature`` nodes), or sample them.
    n_quadrature : int
        Gauss-Hermite nodes for the marginalized form.

    Returns
    -------
    pymc.Model
        Dims ``patient``, ``covariate``, ``interaction``, ``subgroup`` (all levels of
        all subgroupings, labelled ``"col[level]"``), ``subgrouping``, ``study``
        (several trials only). Observed variable ``y``. ``model.bayes_hte`` records the
        family, the options, the resolved priors and the :class:`Layout`.

    Examples
    --------
    >>> from bayes_hte.simulate.tzimas2024 import tzimas2024
    >>> sim = tzimas2024(n=500, seed=1)
    >>> data = IPDData.from_frame(sim.data, outcome="event", treatment="treatment",
    ...                           covariates=sim.covariates)
    >>> model = build_subgroup_model(data, subgroups=["gender"],
    ...                              interactions=sim.interactions)
    >>> model.coords["subgroup"]
    ('gender[Female]', 'gender[Male]')
    """
    if not isinstance(data, IPDData):
        raise DataError(f"expected an IPDData (bh.IPDData.from_frame), got {type(data).__name__}")
    if data.outcome_type != "binary":
        raise DataError("build_subgroup_model is for binary outcomes; the data have a time "
                        f"column {data.time!r}")
    if parameterization not in ("centered", "non_centered"):
        raise ValueError(f"parameterization must be 'centered' or 'non_centered', got "
                         f"{parameterization!r}")
    if not isinstance(individual_effects, bool | np.bool_):
        raise ValueError(f"individual_effects must be True or False, got {individual_effects!r}")
    if individual_form not in ("marginalized", "non_centered"):
        raise ValueError(f"individual_form must be 'marginalized' or 'non_centered', got "
                         f"{individual_form!r}")
    if not isinstance(n_quadrature, int | np.integer) or n_quadrature < 2:
        raise ValueError(f"n_quadrature must be an integer >= 2, got {n_quadrature!r}")
    lay = layout(data, subgroups=subgroups, interactions=interactions, standardize=standardize)
    resolved = resolve_priors(default_priors(lay, individual_effects=bool(individual_effects)),
                              priors, family="subgroup")

    coords: dict = {"patient": np.arange(data.n_patients),
                    "covariate": list(lay.covariate_names),
                    "interaction": list(lay.interaction_names)}
    if lay.subgroups:
        coords["subgroup"] = lay.subgroup_labels
        coords["subgrouping"] = list(lay.subgroups)
    if lay.multi_study:
        coords["study"] = list(map(str, data.study_labels))

    with pm.Model(coords=coords) as model:
        X = pm.Data("X", lay.design(data), dims=("patient", "covariate"))
        z = pm.Data("treatment", data.z.astype("float64"), dims="patient")
        grouped = bool(lay.subgroups) or lay.multi_study
        anchored = grouped and parameterization == "non_centered"
        if anchored:
            alpha_anchor = pm.Flat("alpha_anchor")
            mu_tau_anchor = pm.Flat("mu_tau_anchor")
            shift_a, shift_t = 0.0, 0.0
        else:
            alpha = make_rv("alpha", resolved["alpha"])
            mu_tau = make_rv("mu_tau", resolved["mu_tau"])
        base_dev = pt.zeros(data.n_patients)
        effect_dev = pt.zeros(data.n_patients)

        levels = []  # (name, sigma_a, sigma_t, idx, weights, dims)
        if lay.subgroups:
            sg = pm.Data("subgroup_idx", lay.subgroup_index(data.frame),
                         dims=("patient", "subgrouping"))
            of = lay.level_grouping
            s_a = make_rv("sigma_alpha_subgroup", resolved["sigma_alpha_subgroup"],
                          dims="subgrouping")
            s_t = make_rv("sigma_tau_subgroup", resolved["sigma_tau_subgroup"],
                          dims="subgrouping")
            counts = np.bincount(lay.subgroup_index(data.frame).ravel(),
                                 minlength=len(of)) / data.n_patients
            levels.append(("subgroup", s_a[of], s_t[of], sg, counts, "subgroup"))
        if lay.multi_study:
            sidx = pm.Data("study_idx", data.study_idx, dims="patient")
            s_as = make_rv("sigma_alpha_study", resolved["sigma_alpha_study"])
            s_ts = make_rv("sigma_tau_study", resolved["sigma_tau_study"])
            counts = np.bincount(data.study_idx, minlength=data.n_studies) / data.n_patients
            levels.append(("study", s_as, s_ts, sidx, counts, "study"))

        if anchored:
            # Non-centred levels, and the sampler moves the intercept (and treatment
            # effect) of the data's patient-weighted average level instead of the
            # population mean: alpha = anchor - sum_g sum_k w_gk sigma_g raw_gk. A shear
            # with unit Jacobian (the prior of alpha is kept exactly, as a potential); it
            # removes the funnel between alpha and sigma that few levels (two genders)
            # leave in the plain non-centred form.
            raws = {}
            for name, s_lev_a, s_lev_t, _, w, dims in levels:
                ra = pm.Normal(f"alpha_{name}_raw", 0.0, 1.0, dims=dims)
                rt = pm.Normal(f"tau_{name}_raw", 0.0, 1.0, dims=dims)
                raws[name] = (s_lev_a * ra, s_lev_t * rt)
                shift_a = shift_a + pt.sum(w * raws[name][0])
                shift_t = shift_t + pt.sum(w * raws[name][1])
            alpha = pm.Deterministic("alpha", alpha_anchor - shift_a)
            mu_tau = pm.Deterministic("mu_tau", mu_tau_anchor - shift_t)
            pm.Potential("alpha_prior", pm.logp(make_dist(resolved["alpha"]), alpha))
            pm.Potential("mu_tau_prior", pm.logp(make_dist(resolved["mu_tau"]), mu_tau))
            for name, _, _, idx, _, dims in levels:
                dev_a, dev_t = raws[name]
                pm.Deterministic(f"alpha_{name}", alpha + dev_a, dims=dims)
                pm.Deterministic(f"tau_{name}", mu_tau + dev_t, dims=dims)
                if name == "subgroup":
                    base_dev = base_dev + dev_a[idx].sum(axis=-1)
                    effect_dev = effect_dev + dev_t[idx].sum(axis=-1)
                else:
                    base_dev = base_dev + dev_a[idx]
                    effect_dev = effect_dev + dev_t[idx]
        else:
            for name, s_lev_a, s_lev_t, idx, _, dims in levels:
                a_k = _random_effect(f"alpha_{name}", alpha, s_lev_a, dims=dims,
                                     parameterization=parameterization)
                t_k = _random_effect(f"tau_{name}", mu_tau, s_lev_t, dims=dims,
                                     parameterization=parameterization)
                if name == "subgroup":
                    base_dev = base_dev + (a_k - alpha)[idx].sum(axis=-1)
                    effect_dev = effect_dev + (t_k - mu_tau)[idx].sum(axis=-1)
                else:
                    base_dev = base_dev + (a_k - alpha)[idx]
                    effect_dev = effect_dev + (t_k - mu_tau)[idx]

        base = alpha + base_dev
        effect = mu_tau + effect_dev
        if lay.covariate_names:
            beta = make_rv("beta", resolved["beta"], dims="covariate")
            base = base + pt.dot(X, beta)
        if lay.interaction_names:
            gamma = make_rv("gamma", resolved["gamma"], dims="interaction")
            effect = effect + pt.dot(X[:, list(lay.interaction_idx)], gamma)
        if not individual_effects:
            logit_p = base + z * effect
        elif individual_form == "non_centered":
            s_eta = make_rv("sigma_eta", resolved["sigma_eta"])
            eps = pm.Normal("eta_raw", 0.0, 1.0, dims="patient")
            logit_p = base + z * (effect + s_eta * eps)
        else:
            s_eta = make_rv("sigma_eta", resolved["sigma_eta"])
            # only treated patients carry eta_i; integrate it out of their likelihood
            treated = np.flatnonzero(data.z == 1)
            logit_p = base + z * effect
            logit_p = pt.set_subtensor(
                logit_p[treated],
                marginal_logit(logit_p[treated], s_eta, n_nodes=n_quadrature))
        pm.Bernoulli("y", logit_p=logit_p, observed=data.y, dims="patient")
    model.bayes_hte = {"family": "subgroup", "subgroups": list(lay.subgroups),
                       "individual_effects": bool(individual_effects),
                       "interactions": list(lay.interaction_names),
                       "standardize": standardize, "parameterization": parameterization,
                       "individual_form": individual_form if individual_effects else None,
                       "n_quadrature": n_quadrature, "priors": resolved, "layout": lay}
    return model


# --------------------------------------------------------------------------- post-processing
def _da(values, dims) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=float), dims=dims)


def linear_predictors(
    posterior: xr.Dataset,
    lay: Layout,
    X: np.ndarray,
    subgroup_idx: np.ndarray | None,
    *,
    new_trial: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[xr.DataArray, xr.DataArray]:
    r"""Baseline log-odds :math:`\ell_{0i}` and conditional effect :math:`\tau_i` per draw.

    Subgroup terms use each patient's own levels. With several trials the patient is
    placed in an average trial (:math:`\alpha_j = \alpha`, :math:`\tau_j = \mu_\tau`), or
    with ``new_trial=True`` in a new trial drawn per posterior draw,
    :math:`\alpha_{new} \sim N(\alpha, \sigma_{\alpha,\mathrm{study}}^2)`,
    :math:`\tau_{new} \sim N(\mu_\tau, \sigma_{\tau,\mathrm{study}}^2)` (a single trial has
    no between-trial variation to add). Returns ``(lp0, tau)``, dims (chain, draw,
    patient).
    """
    rng = np.random.default_rng(rng)
    Xs = _da(X, ("patient", "covariate"))
    alpha, mu_tau = posterior["alpha"], posterior["mu_tau"]
    zeros = _da(np.zeros(X.shape[0]), ("patient",))
    base, effect = alpha + zeros, mu_tau + zeros
    if lay.covariate_names:
        base = base + xr.dot(Xs, posterior["beta"].drop_vars("covariate", errors="ignore"),
                             dim="covariate")
    if lay.interaction_names:
        Xi = _da(X[:, list(lay.interaction_idx)], ("patient", "interaction"))
        effect = effect + xr.dot(Xi, posterior["gamma"].drop_vars("interaction",
                                                                 errors="ignore"),
                                 dim="interaction")
    if lay.subgroups:
        a_dev = (posterior["alpha_subgroup"] - alpha).values  # (c, d, K)
        t_dev = (posterior["tau_subgroup"] - mu_tau).values
        idx = np.asarray(subgroup_idx)
        base = base + _da(a_dev[:, :, idx].sum(-1), ("chain", "draw", "patient"))
        effect = effect + _da(t_dev[:, :, idx].sum(-1), ("chain", "draw", "patient"))
    if lay.multi_study and new_trial:
        shape = alpha.shape
        base = base + posterior["sigma_alpha_study"] * _da(rng.standard_normal(shape),
                                                           alpha.dims)
        effect = effect + posterior["sigma_tau_study"] * _da(rng.standard_normal(shape),
                                                             alpha.dims)
    order = ("chain", "draw", "patient")
    return base.transpose(*order), effect.transpose(*order)


def _gauss_hermite(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for expectations over N(0, 1): E f(e) = sum_k w_k f(x_k)."""
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    return np.sqrt(2.0) * x, w / np.sqrt(np.pi)


def marginal_logit(lp, sigma, *, n_nodes: int = N_QUADRATURE):
    r"""Log-odds of :math:`\bar p = \int \mathrm{expit}(\ell + \sigma e)\,\phi(e)\,de` (PyTensor).

    Gauss-Hermite sums :math:`\bar p = \sum_k w_k \mathrm{expit}(\ell + \sigma x_k)` and
    :math:`1 - \bar p = \sum_k w_k \mathrm{expit}(-\ell - \sigma x_k)`, each computed
    directly so that neither loses precision near 0 or 1; returns
    :math:`\log\bar p - \log(1 - \bar p)`. (Ten times faster, with its gradient, than
    log-sum-exp over :math:`\log\mathrm{expit}`, which it matches to rounding.)
    ``sigma`` is a scalar or broadcasts against ``lp``.
    """
    x, w = _gauss_hermite(n_nodes)
    v = lp[..., None] + pt.as_tensor(sigma)[..., None] * x
    p = pt.sum(w * pt.sigmoid(v), axis=-1)
    q = pt.sum(w * pt.sigmoid(-v), axis=-1)
    return pt.log(p) - pt.log(q)


def _marginal_treated(lp1: np.ndarray, sigma: np.ndarray, n_nodes: int) -> tuple:
    r"""NumPy :math:`\int \mathrm{expit}(\ell + \sigma e)\phi(e)de` and its complement."""
    x, w = _gauss_hermite(n_nodes)
    lp1 = np.asarray(lp1, dtype=float)
    p = np.zeros_like(lp1)
    q = np.zeros_like(lp1)
    for xk, wk in zip(x, w, strict=True):
        v = lp1 + xk * sigma
        p += wk * expit(v)
        q += wk * expit(-v)
    return p, q


def individual_deviations(
    posterior: xr.Dataset,
    lp0: xr.DataArray,
    tau: xr.DataArray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    grid: int = 241,
    chunk: int = 32,
    max_rounds: int = 50,
) -> xr.DataArray:
    r"""Posterior draws of the individual deviations :math:`\epsilon_i` (marginalized form).

    Given a posterior draw, the :math:`\epsilon_i` are independent with density
    :math:`\propto \phi(e)\,P(y_i \mid \ell_{0i} + z_i(\tau_i + \sigma_\eta e))`. A
    control patient's is :math:`\phi` itself. A treated patient's is sampled exactly by
    rejection (propose from :math:`\phi`, accept with probability
    :math:`P(y_i \mid e) \le 1`) for up to ``max_rounds`` rounds; what remains (the rare
    outcomes, whose acceptance rate is low) is sampled from a fine grid on [-8, 8]
    (``grid`` points; a bin by its weight, then uniformly within it). Returns dims
    (chain, draw, patient).
    """
    rng = np.random.default_rng(rng)
    eps = rng.standard_normal(lp0.shape)
    treated = np.asarray(z) == 1
    if "sigma_eta" not in posterior or not treated.any():
        return lp0.copy(data=eps).rename("eta_raw")
    sigma = np.broadcast_to(posterior["sigma_eta"].values[:, :, None], lp0.shape)
    lp1 = (lp0 + tau).values
    sign = np.where(np.asarray(y) == 1, 1.0, -1.0)
    # rejection: flat indices of the (draw, patient) cells still to sample
    todo = np.flatnonzero(np.broadcast_to(treated, lp0.shape).ravel())
    flat_eps, flat_lp1, flat_sigma = eps.reshape(-1), lp1.reshape(-1), sigma.reshape(-1)
    flat_sign = np.broadcast_to(sign, lp0.shape).reshape(-1)
    for _ in range(max_rounds):
        if todo.size == 0:
            break
        prop = rng.standard_normal(todo.size)
        accept = rng.random(todo.size) < expit(flat_sign[todo]
                                               * (flat_lp1[todo] + flat_sigma[todo] * prop))
        flat_eps[todo[accept]] = prop[accept]
        todo = todo[~accept]
    e = np.linspace(-8.0, 8.0, grid)
    width = e[1] - e[0]
    for start in range(0, todo.size, chunk * 1000):
        cells = todo[start:start + chunk * 1000]
        v = flat_lp1[cells, None] + flat_sigma[cells, None] * e
        logw = -0.5 * e**2 - np.logaddexp(0.0, -flat_sign[cells, None] * v)
        logw -= logw.max(axis=-1, keepdims=True)
        cdf = np.cumsum(np.exp(logw), axis=-1)
        u = rng.random((cells.size, 1)) * cdf[:, -1:]
        k = np.minimum((cdf < u).sum(axis=-1), grid - 1)
        flat_eps[cells] = e[k] + width * (rng.random(cells.size) - 0.5)
    return lp0.copy(data=flat_eps.reshape(lp0.shape)).rename("eta_raw")


def cate_draws(
    posterior: xr.Dataset,
    lay: Layout,
    X: np.ndarray,
    subgroup_idx: np.ndarray | None,
    *,
    kind: CateKind = "marginal",
    scale: Literal["logit", "risk_difference"] = "logit",
    new_trial: bool = False,
    rng: np.random.Generator | None = None,
    n_nodes: int = N_QUADRATURE,
) -> xr.DataArray:
    r"""Per-patient CATE draws, dims (chain, draw, patient).

    ``kind="marginal"`` (default) averages the treated risk over the individual
    deviations, :math:`\bar p_{1i} = \int \mathrm{expit}(\ell_{0i} + \tau_i +
    \sigma_\eta e)\phi(e)de` (Gauss-Hermite, ``n_nodes`` nodes), and returns
    :math:`\mathrm{logit}\,\bar p_{1i} - \ell_{0i}` (``scale="logit"``) or
    :math:`\bar p_{1i} - \mathrm{expit}(\ell_{0i})` (``"risk_difference"``): the
    effect identified by the data. ``kind="conditional"`` returns :math:`\tau_i` (the
    mean of the individual log-odds effects :math:`\eta_i`) or
    :math:`\mathrm{expit}(\ell_{0i} + \tau_i) - \mathrm{expit}(\ell_{0i})`. Without the
    individual layer both kinds coincide.
    """
    if kind not in ("marginal", "conditional"):
        raise ValueError(f"kind must be 'marginal' or 'conditional', got {kind!r}")
    if scale not in ("logit", "risk_difference"):
        raise ValueError(f"scale must be 'logit' or 'risk_difference', got {scale!r}")
    lp0, tau = linear_predictors(posterior, lay, X, subgroup_idx, new_trial=new_trial, rng=rng)
    if kind == "conditional" or "sigma_eta" not in posterior:
        if scale == "logit":
            out = tau
        else:
            out = xr.apply_ufunc(expit, lp0 + tau) - xr.apply_ufunc(expit, lp0)
    else:
        sigma = posterior["sigma_eta"].values[:, :, None]
        p, q = _marginal_treated((lp0 + tau).values, sigma, n_nodes)
        if scale == "logit":
            vals = np.log(p) - np.log(q) - lp0.values
        else:
            vals = p - expit(lp0.values)
        out = lp0.copy(data=vals)
    return out.rename("cate")


def risk_table(
    baseline_risk: xr.DataArray,
    cate: xr.DataArray,
    *,
    groups: int = 5,
    ci_prob: float = 0.95,
    truth: np.ndarray | None = None,
) -> pd.DataFrame:
    r"""CATE by groups of predicted baseline risk (Tzimas 2024, Table 8).

    Patients are split into ``groups`` equal-sized groups (quintiles by default,
    labelled ``Q1`` … lowest risk first) of their posterior-mean baseline risk
    :math:`\hat p_{0i}`. Per group:

    ``n``
        patients;
    ``mean_risk``
        mean of :math:`\hat p_{0i}`;
    ``mean_cate``
        posterior mean of the group's average CATE;
    ``cate_sd``
        SD across the group's patients of their posterior-mean CATE (the spread of
        effects within the group; the paper's ``te_sd``);
    ``ci_low``, ``ci_high``
        equal-tailed ``ci_prob`` posterior interval of the group's average CATE;
    ``patient_ci_low``, ``patient_ci_high``
        mean over the group's patients of their own interval bounds (how the paper's
        ``te_lower``/``te_upper`` read: they are far wider than the interval of the
        mean);
    ``true_mean_cate``
        mean of ``truth`` in the group, when given.
    """
    if not isinstance(groups, int | np.integer) or isinstance(groups, bool) or groups < 2:
        raise DataError(f"groups must be an integer >= 2, got {groups!r}")
    n = cate.sizes["patient"]
    if baseline_risk.sizes["patient"] != n:
        raise DataError(f"baseline_risk has {baseline_risk.sizes['patient']} patients but "
                        f"cate has {n}")
    if groups > n:
        raise DataError(f"groups={groups} is more than the {n} patients")
    if not 0 < ci_prob < 1:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob}")
    sample = ("chain", "draw")
    risk = baseline_risk.mean(sample).values
    group = risk_groups(risk, groups=groups)
    labels = list(group.categories)
    codes = group.codes
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    point = cate.mean(sample).values
    bounds = cate.quantile([lo, hi], dim=list(sample)).transpose("quantile", "patient").values
    cv = cate.transpose("chain", "draw", "patient").values
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (n,):
            raise DataError(f"truth has shape {truth.shape}; expected one value per patient "
                            f"({n})")
    rows = []
    for k, lab in enumerate(labels):
        m = codes == k
        gmean = cv[:, :, m].mean(axis=-1)
        row = {"risk_group": lab, "n": int(m.sum()), "mean_risk": float(risk[m].mean()),
               "mean_cate": float(gmean.mean()), "cate_sd": float(point[m].std(ddof=1)),
               "ci_low": float(np.quantile(gmean, lo)), "ci_high": float(np.quantile(gmean, hi)),
               "patient_ci_low": float(bounds[0, m].mean()),
               "patient_ci_high": float(bounds[1, m].mean())}
        if truth is not None:
            row["true_mean_cate"] = float(truth[m].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("risk_group")


def risk_groups(risk: np.ndarray, *, groups: int = 5) -> pd.Categorical:
    """Equal-sized groups ``Q1`` (lowest) … ``Q<groups>`` of a per-patient risk.

    Ties are broken by order of appearance so the groups have equal sizes (to within
    one patient), as in the paper's Table 8.
    """
    risk = np.asarray(risk, dtype=float)
    if not np.isfinite(risk).all():
        raise DataError("risk has non-finite values; cannot form risk groups")
    labels = [f"Q{k + 1}" for k in range(groups)]
    ranks = pd.Series(risk).rank(method="first").to_numpy()
    return pd.Categorical(pd.qcut(ranks, groups, labels=labels))
