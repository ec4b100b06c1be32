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
    :math:`\alpha_j \sim N(\alpha, \tau_\alpha^2)` and
    :math:`\tau_j \sim N(\mu_\tau, \tau_\tau^2)` (``alpha_study``,
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

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError, format_rows
from bayes_hte.models.likelihood import bernoulli_logit
from bayes_hte.models.priors import PriorDict, make_dist, make_rv, random_effect, resolve_priors
from bayes_hte.options import IndividualForm, check_count
from bayes_hte.options import SubgroupParameterization as Parameterization

#: Default priors (logit scale; covariate effects per SD of standardised covariates).
DEFAULT_PRIORS: PriorDict = {
    "alpha": {"dist": "Normal", "mu": 0.0, "sigma": 2.5},
    **{name: {"dist": "Normal", "mu": 0.0, "sigma": 1.0} for name in ("beta", "mu_tau", "gamma")},
    **{name: {"dist": "HalfNormal", "sigma": 0.5}
       for name in ("sigma_alpha_subgroup", "sigma_tau_subgroup")},
    "tau_alpha": {"dist": "HalfNormal", "sigma": 1.0},
    **{name: {"dist": "HalfNormal", "sigma": 0.5} for name in ("tau_tau", "sigma_eta")},
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

    Parameters
    ----------
    covariate_names : tuple of str
        Columns of the encoded covariate matrix (``IPDData.covariate_names``; a
        categorical covariate gives ``"col[level]"`` columns).
    interaction_names : tuple of str
        The encoded columns with a treatment interaction (:math:`x^{(I)}`).
    interaction_idx : tuple of int
        Their positions among ``covariate_names``.
    center, scale : numpy.ndarray
        Per encoded column, shape (covariate,): the fit data's mean and the divisor
        (the SD, or 1 for a 0/1 column or without standardisation).
    subgroups : tuple of str
        The subgrouping columns, in the model's order.
    subgroup_levels : tuple of tuple
        Levels of each subgrouping present in the fit data (category order, or sorted).
    multi_study : bool
        Whether the fit data have several trials (trial is then a grouping level).
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
        """Standardised covariate matrix of the fit data or of ``newdata``.

        Parameters
        ----------
        data : IPDData
            The fit data (its covariate encoding).
        newdata : pandas.DataFrame, optional
            Patients to encode; default the fit patients.

        Returns
        -------
        numpy.ndarray
            Shape (patient, covariate): :math:`(x - \\text{center}) / \\text{scale}`.

        Raises
        ------
        DataError
            ``newdata`` lacks a covariate or has values the encoding cannot take.
        """
        return (data.design(newdata) - self.center) / self.scale

    def subgroup_index(self, frame: pd.DataFrame) -> np.ndarray:
        """(patient, subgrouping) indices into the flattened ``subgroup`` dim.

        Parameters
        ----------
        frame : pandas.DataFrame
            Patients with the subgrouping columns (fit data or new data).

        Returns
        -------
        numpy.ndarray
            Integer array, shape (patient, subgrouping): each patient's level of each
            subgrouping, as a position in :attr:`subgroup_labels`.

        Raises
        ------
        DataError
            A subgrouping column missing, with missing values, or with a level the fit
            data did not have.
        """
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


#: Most levels a numeric subgrouping column may have (more reads as a continuous variable;
#: as :data:`bayes_hte.estimators.base.MAX_CATE_LEVELS` for ``cate(by=...)``).
MAX_SUBGROUP_LEVELS = 20


def layout(data: IPDData, *, subgroups: Sequence[str] = (),
           interactions: Sequence[str] | None = None, standardize: bool = True) -> Layout:
    """Validate the subgroupings and interactions against ``data`` and fix the encoding.

    Parameters
    ----------
    data : IPDData
        The fit data.
    subgroups : sequence of str
        Subgrouping columns of ``data.frame`` (a single string is one subgrouping).
    interactions : sequence of str, optional
        Covariates with a treatment interaction; ``None``: every covariate. A
        categorical covariate brings all its encoded columns.
    standardize : bool
        Centre every encoded column and divide non-binary ones by their SD (Tzimas
        2024, equation 10 priors then act per SD).

    Returns
    -------
    Layout
        The encoding, applied to new data by :meth:`Layout.design` and
        :meth:`Layout.subgroup_index`.

    Raises
    ------
    DataError
        A subgrouping that is not a column, has missing values, a single level, more
        than :data:`MAX_SUBGROUP_LEVELS` numeric levels or about one level per patient,
        plays another role (outcome, treatment, study, covariate), or is named twice; an
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
        numeric = (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                   and not isinstance(s.dtype, pd.CategoricalDtype))
        if ((numeric and len(lv) > MAX_SUBGROUP_LEVELS)
                or len(lv) > max(MAX_SUBGROUP_LEVELS, len(s) // 2)):
            raise DataError(
                f"subgrouping column {g!r} has {len(lv)} levels in {len(s)} rows (a "
                "continuous variable, or an identifier?): each level would get its own "
                "intercept and treatment effect. Group it first, e.g. "
                f"df.assign(group=pd.qcut(df[{g!r}], 4)), and subgroups=['group']")
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
    """The default priors a configuration uses (a fresh copy).

    Parameters
    ----------
    lay : Layout
        The data's encoding (which covariates, interactions, subgroupings and trials
        the model has).
    individual_effects : bool
        Whether the individual layer (and so ``sigma_eta``) is included.

    Returns
    -------
    dict of str to dict
        The entries of :data:`DEFAULT_PRIORS` the configuration declares (log-odds
        scale; covariate effects per SD), each a fresh dict.
    """
    names = {"alpha", "mu_tau"}
    if lay.covariate_names:
        names.add("beta")
    if lay.interaction_names:
        names.add("gamma")
    if lay.subgroups:
        names |= {"sigma_alpha_subgroup", "sigma_tau_subgroup"}
    if lay.multi_study:
        names |= {"tau_alpha", "tau_tau"}
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
    >>> from bayes_hte.simulate import tzimas2024
    >>> frame = tzimas2024(n=500, seed=1).data
    >>> data = IPDData.from_frame(frame, outcome="event", treatment="treatment",
    ...                           covariates=["age", "anticoagulant", "prior_bleeding"])
    >>> model = build_subgroup_model(data, subgroups=["gender"], interactions=["age"])
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
    check_count("n_quadrature", n_quadrature, low=2)
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
            s_as = make_rv("tau_alpha", resolved["tau_alpha"])
            s_ts = make_rv("tau_tau", resolved["tau_tau"])
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
                a_k = random_effect(f"alpha_{name}", alpha, s_lev_a, dims=dims,
                                     parameterization=parameterization)
                t_k = random_effect(f"tau_{name}", mu_tau, s_lev_t, dims=dims,
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
        y = pm.Data("y_observed", data.y.astype("int64"), dims="patient")
        bernoulli_logit("y", logit_p, observed=y, dims="patient")
    model.bayes_hte = {"family": "subgroup", "subgroups": list(lay.subgroups),
                       "individual_effects": bool(individual_effects),
                       "interactions": list(lay.interaction_names),
                       "standardize": standardize, "parameterization": parameterization,
                       "individual_form": individual_form if individual_effects else None,
                       "n_quadrature": n_quadrature, "priors": resolved, "layout": lay}
    return model


def gauss_hermite(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for expectations over N(0, 1): E f(e) = sum_k w_k f(x_k).

    Parameters
    ----------
    n_nodes : int
        Number of nodes; exact for polynomials of degree up to ``2 * n_nodes - 1``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x, w)``, each shape (n_nodes,): nodes :math:`\\sqrt 2\\, t_k` and weights
        :math:`v_k / \\sqrt\\pi` from the physicists' rule :math:`(t_k, v_k)` of
        ``numpy.polynomial.hermite.hermgauss``; the weights sum to 1.
    """
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    return np.sqrt(2.0) * x, w / np.sqrt(np.pi)


def marginal_logit(lp: pt.TensorVariable, sigma: float | pt.TensorVariable, *,
                   n_nodes: int = N_QUADRATURE) -> pt.TensorVariable:
    r"""Log-odds of :math:`\bar p = \int \mathrm{expit}(\ell + \sigma e)\,\phi(e)\,de` (PyTensor).

    Gauss-Hermite sums :math:`\bar p = \sum_k w_k \mathrm{expit}(\ell + \sigma x_k)` and
    :math:`1 - \bar p = \sum_k w_k \mathrm{expit}(-\ell - \sigma x_k)`, each computed
    directly so that neither loses precision near 0 or 1; returns
    :math:`\log\bar p - \log(1 - \bar p)`. (Ten times faster, with its gradient, than
    log-sum-exp over :math:`\log\mathrm{expit}`, which it matches to rounding.)
    ``sigma`` is a scalar or broadcasts against ``lp``.

    Parameters
    ----------
    lp : pytensor.tensor.TensorVariable
        Conditional log-odds :math:`\ell` (any shape).
    sigma : float or pytensor.tensor.TensorVariable
        SD :math:`\sigma` of the normal deviation on the log-odds scale (Tzimas 2024,
        :math:`\sigma_\eta`).
    n_nodes : int
        Gauss-Hermite nodes (:func:`gauss_hermite`).

    Returns
    -------
    pytensor.tensor.TensorVariable
        :math:`\mathrm{logit}\,\bar p`, shape of ``lp``.
    """
    x, w = gauss_hermite(n_nodes)
    v = lp[..., None] + pt.as_tensor(sigma)[..., None] * x
    p = pt.sum(w * pt.sigmoid(v), axis=-1)
    q = pt.sum(w * pt.sigmoid(-v), axis=-1)
    return pt.log(p) - pt.log(q)
