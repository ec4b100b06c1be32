r"""Bayesian multivariate random-effects synthesis and a one-stage Bayesian mixed model.

**Multivariate random-effects synthesis** (:func:`build_mvmeta_model`), the Bayesian
counterpart of :func:`bayes_hte.comparators.mvmeta` (step 2 of the two-step method):

.. math::

    \hat\beta_i \sim MVN(\mu, \Omega + S_i) \text{ on the components } O_i
    \text{ study } i \text{ reports}, \qquad \mu \sim p(\mu), \quad \Omega \sim p(\Omega).

Missing components are **marginalised**: the marginal of a multivariate normal over
:math:`O_i` is :math:`MVN(\mu_{O_i}, (\Omega + S_i)_{O_iO_i})`. To keep one vectorised
likelihood node with dims ``(study, coef)``, each study's vector is padded: an
unreported component gets value 0, mean 0, variance 1 and no covariance with the rest,
which multiplies the study's density by the constant :math:`\varphi(0)` per missing
component and leaves the posterior unchanged. The model's density of a study with
:math:`m` missing components is thus shifted by :math:`-\tfrac m2 \log 2\pi`; the
``log_likelihood`` group (:func:`bayes_hte.inference.pointwise_log_likelihood`) removes
the shift (``model.bayes_hte["log_likelihood_offset"]``), so it holds the exact density
of each study's reported components.

Structures of :math:`\Omega` (``structure``):

``unstructured``
    :math:`\Omega = \mathrm{diag}(\tau) R\, \mathrm{diag}(\tau)`,
    :math:`R \sim \mathrm{LKJ}(\eta)`, :math:`\tau_k \sim p(\tau)`
    (``pm.LKJCholeskyCov``)
``compound_symmetry``
    :math:`\Omega = \tau^2\{(1-\rho) I + \rho J\}`,
    :math:`\rho \sim U(-1/(p-1), 1)`
``diagonal``
    :math:`\Omega = \mathrm{diag}(\tau_1^2, \dots, \tau_p^2)`
``identity``
    :math:`\Omega = \tau^2 I`

A new trial's coefficient vector, :math:`\beta_{new} \sim MVN(\mu, \Omega)` per posterior
draw, is :func:`bayes_hte.effects.synthesis.new_trial_coefficients`.

**One-stage Bayesian linear mixed model** (:func:`build_one_stage_lmm`) over all trials'
IPD: for participant :math:`j` of trial :math:`i` with measured visits :math:`O_{ij}`,

.. math::

    Y_{ij} \sim MVN\bigl(X_{ij}\beta_i,\; \Sigma_{i,O_{ij}O_{ij}}\bigr), \qquad
    \beta_i = \mu + \Omega^{1/2} u_i,\; u_i \sim N(0, I),

with :math:`X_{ij}` the model (3) design (:meth:`LongitudinalData.design_matrix`),
trial-level random coefficients :math:`\beta_i \sim MVN(\mu, \Omega)` (same structures),
and the participant random intercept integrated out analytically:
:math:`\Sigma_i = \sigma_{b,i}^2 J + \sigma_{e,i}^2 I` with trial-specific SDs
(``within="random_intercept"``, the heterogeneous :math:`(D_i, \Sigma_i)` of the paper's
Simulation 2), or one unstructured :math:`\Sigma` with an LKJ prior
(``within="unstructured"``). The observed node ``y`` has dims ``(participant, visit)``;
unmeasured visits hold 0 and are skipped by its log-density (a custom distribution whose
density is the exact MVN density of the measured visits, so ``log_likelihood`` is per
participant and carries no padding constant). Each distinct (trial, measured-visit
pattern) covariance is factorised once per evaluation.
Coefficients of visits a trial never measured have zero design columns in that trial,
so its :math:`\beta_i` components are informed by :math:`(\mu, \Omega)` only.

Users fit these through :class:`bayes_hte.MultivariateMetaModel` and
:class:`bayes_hte.LongitudinalMetaModel`; posterior summaries are in
:mod:`bayes_hte.effects.synthesis`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.data.multivariate import validate_multivariate
from bayes_hte.errors import DataError
from bayes_hte.models.priors import PriorDict, lkj_covariance, make_rv, resolve_priors
from bayes_hte.options import (
    OMEGA_STRUCTURES,
    OmegaStructure,
    OneStageParameterization,
    WithinCovariance,
)

#: Default priors of the multivariate synthesis (coefficient scale).
DEFAULT_PRIORS: PriorDict = {
    "mu": {"dist": "Normal", "mu": 0.0, "sigma": 10.0},
    "tau": {"dist": "HalfNormal", "sigma": 1.0},
    "corr": {"dist": "LKJ", "eta": 2.0},
    "rho": {"dist": "Uniform", "lower": -1.0, "upper": 1.0},
}

#: Extra defaults of the one-stage model (outcome scale).
ONE_STAGE_PRIORS: PriorDict = {
    "sigma_intercept": {"dist": "HalfNormal", "sigma": 10.0},
    "sigma_error": {"dist": "HalfNormal", "sigma": 10.0},
    "sd_within": {"dist": "HalfNormal", "sigma": 10.0},
    "corr_within": {"dist": "LKJ", "eta": 2.0},
}

_OMEGA_USES = {"unstructured": ("mu", "tau", "corr"),
               "compound_symmetry": ("mu", "tau", "rho"),
               "diagonal": ("mu", "tau"), "identity": ("mu", "tau")}


def default_priors(structure: OmegaStructure = "unstructured", p: int = 2, *,
                   one_stage: WithinCovariance | None = None) -> PriorDict:
    """The default priors a structure uses (fresh copy). The compound-symmetry
    correlation's lower bound is :math:`-1/(p-1)`, where :math:`\\Omega` stops being
    positive definite.

    Parameters
    ----------
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of the between-study covariance :math:`\\Omega` (module docstring).
    p : int
        Number of coefficients (sets the lower bound of ``rho``).
    one_stage : {"random_intercept", "unstructured"}, optional
        Add the within-participant priors of :func:`build_one_stage_lmm` with this
        ``within``: ``sigma_intercept`` and ``sigma_error`` (HalfNormal(10), outcome
        scale), or ``sd_within`` (HalfNormal(10)) and ``corr_within`` (LKJ,
        :math:`\\eta = 2`).

    Returns
    -------
    dict of str to dict
        Prior specs by parameter name: ``mu`` (:math:`N(0, 10^2)`), ``tau``
        (HalfNormal(1)) and, per structure, ``corr`` (LKJ, :math:`\\eta = 2`) or
        ``rho`` (Uniform(:math:`-1/(p-1)`, 1)); copies, safe to modify.

    Raises
    ------
    ValueError
        An unknown ``structure``.
    """
    if structure not in OMEGA_STRUCTURES:
        raise ValueError(f"structure must be one of {OMEGA_STRUCTURES}, got {structure!r}")
    out = {k: dict(DEFAULT_PRIORS[k]) for k in _OMEGA_USES[structure]}
    if structure == "compound_symmetry":
        out["rho"]["lower"] = -1.0 / (p - 1) if p > 1 else -1.0
    if one_stage == "random_intercept":
        out.update({k: dict(ONE_STAGE_PRIORS[k]) for k in ("sigma_intercept", "sigma_error")})
    elif one_stage == "unstructured":
        out.update({k: dict(ONE_STAGE_PRIORS[k]) for k in ("sd_within", "corr_within")})
    return out


def _omega(structure: str, p: int, priors: PriorDict, *, need_root: bool):
    """Declare Omega's parameters in the current model; return (Omega, root) with
    root @ root.T == Omega (``root`` only when ``need_root``)."""
    eye = pt.eye(p)
    ones = pt.ones((p, p))
    root = None
    if structure == "unstructured":
        if p == 1:
            tau = make_rv("tau", priors["tau"], dims="coef")
            omega = pt.diag(tau**2)
            root = pt.diag(tau)
        else:
            chol = lkj_covariance("chol_omega", n=p, eta=priors["corr"]["eta"],
                                  sd_prior=priors["tau"], sd_name="tau", corr_name="corr",
                                  dims=("coef", "coef_"))
            omega = chol @ chol.T
            root = chol
    elif structure == "compound_symmetry":
        tau = make_rv("tau", priors["tau"])
        if p == 1:
            omega = (tau**2) * eye
            root = tau * eye
        else:
            rho = make_rv("rho", priors["rho"])
            omega = tau**2 * ((1.0 - rho) * eye + rho * ones)
            # symmetric square root from the eigen-decomposition of the CS matrix
            centre = eye - ones / p
            root = tau * (pt.sqrt(1.0 - rho) * centre
                          + pt.sqrt(1.0 + (p - 1) * rho) * ones / p)
    elif structure == "diagonal":
        tau = make_rv("tau", priors["tau"], dims="coef")
        omega = pt.diag(tau**2)
        root = pt.diag(tau)
    elif structure == "identity":
        tau = make_rv("tau", priors["tau"])
        omega = tau**2 * eye
        root = tau * eye
    else:
        raise ValueError(f"structure must be one of {OMEGA_STRUCTURES}, got {structure!r}")
    omega = pm.Deterministic("Omega", omega, dims=("coef", "coef_"))
    return omega, (root if need_root else None)


# =========================================================================== synthesis
def build_mvmeta_model(
    estimates: npt.ArrayLike | pd.DataFrame,
    covariances: npt.ArrayLike,
    *,
    structure: OmegaStructure = "unstructured",
    priors: Mapping | None = None,
    names: Sequence[str] | None = None,
    study_labels: Sequence | None = None,
) -> pm.Model:
    r"""Bayesian multivariate random-effects meta-analysis of coefficient vectors.

    Parameters
    ----------
    estimates : array_like, shape (k, p), or pandas.DataFrame
        Study estimates, NaN for components a study does not report (marginalised); a
        DataFrame's columns and index are the default ``names`` and ``study_labels``.
    covariances : array_like, shape (k, p, p)
        Within-study covariances :math:`S_i` (entries of unreported components ignored).
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of :math:`\Omega` (see the module docstring).
    priors : mapping, optional
        Overrides of :func:`default_priors` by name: ``mu`` (Normal by default,
        :math:`N(0, 10^2)`), ``tau`` (between-study SDs, HalfNormal(1)), ``corr``
        (LKJ, :math:`\eta = 2`, unstructured), ``rho`` (Uniform, compound symmetry).
    names, study_labels : sequence, optional
        Coordinates of the ``coef`` and ``study`` dims.

    Returns
    -------
    pymc.Model
        Free variables ``mu`` (coef) and the structure's parameters; deterministics
        ``Omega`` (coef, coef\_) and, unstructured, ``tau`` and ``corr``; observed
        ``beta_hat`` (study, coef). ``model.bayes_hte`` records options and priors.

    Raises
    ------
    DataError
        ``estimates`` not of shape (k, p), names or labels of the wrong length, or
        invalid estimates / covariances
        (:func:`~bayes_hte.data.multivariate.validate_multivariate`, naming the studies
        by label).
    ValueError
        An unknown ``structure``, or a prior override naming an unknown parameter.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, np.nan]])
    >>> S = np.tile(np.diag([0.01, 0.01]), (3, 1, 1))
    >>> m = build_mvmeta_model(y, S, structure="diagonal", names=["PD", "AL"])
    >>> sorted(m.named_vars)
    ['Omega', 'beta_hat', 'estimates', 'mu', 'observed', 'tau', 'within_cov']
    """
    if structure not in OMEGA_STRUCTURES:
        raise ValueError(f"structure must be one of {OMEGA_STRUCTURES}, got {structure!r}")
    if hasattr(estimates, "columns") and hasattr(estimates, "index"):
        names = list(estimates.columns) if names is None else names
        study_labels = list(estimates.index) if study_labels is None else study_labels
        estimates = estimates.to_numpy(dtype=float)
    if np.ndim(estimates) != 2:
        raise DataError(f"estimates must have shape (k, p), got {np.shape(estimates)} (one "
                        "meta-analysis at a time; no replicate axis)")
    y, S = validate_multivariate(estimates, covariances, study_labels=study_labels,
                                 names=names)
    y, S = y[..., 0], S[..., 0]
    k, p = y.shape
    names = [str(n) for n in (names if names is not None else range(p))]
    study_labels = [str(s) for s in (study_labels if study_labels is not None else range(1, k + 1))]
    if len(names) != p or len(study_labels) != k:
        raise DataError(f"names ({len(names)}) / study_labels ({len(study_labels)}) must "
                        f"match the {p} coefficients and {k} studies")
    o = np.isfinite(y)
    mask = o[:, :, None] & o[:, None, :]
    y0 = np.where(o, y, 0.0)
    S0 = np.where(mask, np.nan_to_num(S), 0.0)
    resolved = resolve_priors(default_priors(structure, p), priors,
                              family=f"mvmeta/{structure}")
    coords = {"study": study_labels, "coef": names, "coef_": names}
    with pm.Model(coords=coords) as model:
        obs = pm.Data("observed", o.astype("float64"), dims=("study", "coef"))
        yd = pm.Data("estimates", y0, dims=("study", "coef"))
        Sd = pm.Data("within_cov", S0, dims=("study", "coef", "coef_"))
        mu = make_rv("mu", resolved["mu"], dims="coef")
        omega, _ = _omega(structure, p, resolved, need_root=False)
        m2 = obs[:, :, None] * obs[:, None, :]
        V = (omega[None] + Sd) * m2 + pt.eye(p)[None] * (1.0 - obs)[:, :, None]
        pm.MvNormal("beta_hat", mu=mu[None, :] * obs, cov=V, observed=yd,
                    dims=("study", "coef"))
    model.bayes_hte = {"family": "mvmeta", "structure": structure, "priors": resolved,
                       "missing": int((~o).sum()),
                       # the padding's constant, removed from the log_likelihood group
                       "log_likelihood_offset": {"beta_hat": 0.5 * _LOG2PI * (~o).sum(1)}}
    return model


# =========================================================================== one-stage model
def build_one_stage_lmm(
    data: LongitudinalData,
    *,
    structure: OmegaStructure = "diagonal",
    within: WithinCovariance = "random_intercept",
    priors: Mapping | None = None,
    reference_visit: object | None = None,
    treatment_by_visit: bool = True,
    covariate_by_visit: bool = True,
    treatment_by_covariate: bool = True,
    parameterization: OneStageParameterization = "non_centered",
) -> pm.Model:
    r"""One-stage Bayesian linear mixed model over all trials' IPD.

    Parameters
    ----------
    data : LongitudinalData
        Repeated measures from at least two trials.
    structure : {"diagonal", "compound_symmetry", "unstructured", "identity"}
        Structure of the between-trial covariance :math:`\Omega` of the coefficients.
    within : {"random_intercept", "unstructured"}
        Within-participant covariance: a participant random intercept (integrated out)
        with trial-specific :math:`\sigma_{b,i}, \sigma_{e,i}`, or one unstructured
        :math:`\Sigma` over the visits shared by all trials (LKJ prior).
    priors : mapping, optional
        Overrides of :func:`default_priors` (``one_stage=within``): ``mu``, ``tau``,
        ``corr``/``rho``, and ``sigma_intercept``, ``sigma_error`` (HalfNormal(10)) or
        ``sd_within``, ``corr_within``.
    reference_visit : object, optional
        Visit the visit indicators are contrasted with (default: the first visit every
        trial measured), as in :meth:`LongitudinalData.design_matrix`.
    treatment_by_visit, covariate_by_visit, treatment_by_covariate : bool
        Interactions of the design of model (3), as in
        :meth:`LongitudinalData.design_matrix`.
    parameterization : {"non_centered", "centered"}
        Form of the trial coefficients :math:`\beta_i` (non-centred suits few trials
        or coefficients some trials cannot inform).

    Returns
    -------
    pymc.Model
        Dims ``study``, ``coef``, ``participant``, ``visit``; free ``mu`` (coef),
        ``beta_study`` (study, coef; a deterministic when non-centred), ``Omega``;
        observed ``y`` (participant, visit).

    Raises
    ------
    DataError
        ``data`` is not a :class:`LongitudinalData`, has fewer than 2 trials, or has no
        valid reference visit.
    ValueError
        An unknown ``structure``, ``within`` or ``parameterization``, or a prior
        override naming an unknown parameter.
    """
    if not isinstance(data, LongitudinalData):
        raise DataError(f"data must be a LongitudinalData, got {type(data).__name__}")
    if data.n_studies < 2:
        raise DataError(f"the one-stage model needs at least 2 trials (study column "
                        f"{data.study!r}); for one trial use comparators.mixed_model")
    if structure not in OMEGA_STRUCTURES:
        raise ValueError(f"structure must be one of {OMEGA_STRUCTURES}, got {structure!r}")
    if within not in get_args(WithinCovariance):
        raise ValueError(f"within must be 'random_intercept' or 'unstructured', got {within!r}")
    if parameterization not in get_args(OneStageParameterization):
        raise ValueError(f"parameterization must be 'centered' or 'non_centered', got "
                         f"{parameterization!r}")
    design = data.design_matrix(reference_visit=reference_visit,
                                treatment_by_visit=treatment_by_visit,
                                covariate_by_visit=covariate_by_visit,
                                treatment_by_covariate=treatment_by_covariate)
    P = len(design.names)
    T = data.n_visits
    n = data.n_subjects
    Y, M = data.to_padded()
    Xp = np.zeros((n, T, P))
    Xp[data.subject_idx, data.visit_idx] = design.X
    resolved = resolve_priors(default_priors(structure, P, one_stage=within), priors,
                              family=f"one_stage_lmm/{structure}/{within}")
    visits = [str(v) for v in data.visit_labels]
    coords = {"study": [str(s) for s in data.study_labels], "coef": list(design.names),
              "coef_": list(design.names), "participant": np.arange(n), "visit": visits,
              "visit_": visits, "design_coef": list(design.names)}
    with pm.Model(coords=coords) as model:
        Xd = pm.Data("X", Xp, dims=("participant", "visit", "design_coef"))
        Md = pm.Data("measured", M.astype("float64"), dims=("participant", "visit"))
        sidx = pm.Data("study_idx", data.subject_study, dims="participant")
        mu = make_rv("mu", resolved["mu"], dims="coef")
        _, root = _omega(structure, P, resolved, need_root=True)
        if parameterization == "non_centered":
            raw = pm.Normal("beta_study_raw", 0.0, 1.0, dims=("study", "coef"))
            beta = pm.Deterministic("beta_study", mu[None, :] + raw @ root.T,
                                    dims=("study", "coef"))
        else:
            beta = pm.MvNormal("beta_study", mu=mu, chol=root if structure == "unstructured"
                               else None, cov=None if structure == "unstructured"
                               else root @ root.T, dims=("study", "coef"))
        mean = (Xd * beta[sidx][:, None, :]).sum(-1)
        eye = pt.eye(T)
        if within == "random_intercept":
            sb = make_rv("sigma_intercept", resolved["sigma_intercept"], dims="study")
            se = make_rv("sigma_error", resolved["sigma_error"], dims="study")
            Vt = (sb**2)[:, None, None] * pt.ones((T, T)) + (se**2)[:, None, None] * eye
        else:
            chol = lkj_covariance("chol_within", n=T, eta=resolved["corr_within"]["eta"],
                                  sd_prior=resolved["sd_within"], sd_name="sd_within",
                                  corr_name="corr_within", dims=("visit", "visit_"))
            Vt = (chol @ chol.T)[None]
        # one covariance per (trial, pattern of measured visits): few distinct matrices
        trial_of = data.subject_study if within == "random_intercept" else np.zeros(n, int)
        g_trial, g_mask, g_idx = _covariance_groups(trial_of, M)
        gm = pt.constant(g_mask.astype("float64"))
        Vg = Vt[g_trial] * (gm[:, :, None] * gm[:, None, :]) + eye[None] * (1.0 - gm)[:, :, None]
        Lg = pt.linalg.cholesky(Vg)
        prec = pt.linalg.inv(Vg)
        logdet = 2.0 * pt.log(pt.diagonal(Lg, axis1=-2, axis2=-1)).sum(-1)
        gidx = pm.Data("cov_group", g_idx, dims="participant")
        pm.CustomDist("y", mean * Md, prec[gidx], logdet[gidx], Md, logp=_padded_mvn_logp,
                      random=_padded_mvn_random, signature="(t),(t,t),(),(t)->(t)",
                      observed=pm.Data("y_observed", Y, dims=("participant", "visit")),
                      dims=("participant", "visit"))
    model.bayes_hte = {"family": "one_stage_lmm", "structure": structure, "within": within,
                       "priors": resolved, "parameterization": parameterization,
                       "reference_visit": str(design.reference_visit)}
    return model


# --------------------------------------------------------------------------- helpers
_LOG2PI = float(np.log(2.0 * np.pi))


def _covariance_groups(trial_of: np.ndarray, M: np.ndarray):
    """Distinct (trial, measured-visit pattern) combinations: their trial, mask and each
    participant's group index."""
    T = M.shape[1]
    key = trial_of.astype(np.int64) * (1 << T) + (M.astype(np.int64) @ (1 << np.arange(T)))
    uniq, idx = np.unique(key, return_inverse=True)
    g_trial = uniq // (1 << T)
    bits = uniq % (1 << T)
    g_mask = ((bits[:, None] >> np.arange(T)[None, :]) & 1).astype(bool)
    return g_trial, g_mask, idx.astype(np.int64)


def _padded_mvn_logp(value, mean, prec, logdet, mask):
    """Multivariate normal log-density of the measured cells of a padded vector, given the
    padded precision (inverse of the measured block, 1 on unmeasured diagonal cells)."""
    e = (value - mean) * mask
    quad = (e[..., :, None] * prec * e[..., None, :]).sum(axis=(-2, -1))
    return -0.5 * (mask.sum(axis=-1) * _LOG2PI + logdet + quad)


def _padded_mvn_random(mean, prec, logdet, mask, rng=None, size=None):
    """Draws of the padded vector (0 in unmeasured cells)."""
    rng = np.random.default_rng(rng)
    mean = np.asarray(mean)
    if size is None:
        shape = np.broadcast_shapes(mean.shape, np.shape(mask), np.shape(prec)[:-1])
    else:
        shape = (*tuple(np.atleast_1d(size)), mean.shape[-1])  # size = batch shape
    prec = np.broadcast_to(prec, (*shape, shape[-1]))
    cov = np.linalg.inv(prec)
    L = np.linalg.cholesky(0.5 * (cov + np.swapaxes(cov, -1, -2)))
    z = rng.standard_normal(shape)
    draw = np.broadcast_to(mean, shape) + np.einsum("...ij,...j->...i", L, z)
    return draw * np.broadcast_to(mask, shape)
