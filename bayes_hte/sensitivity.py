r"""Prior and likelihood sensitivity of a fit by power-scaling (no refitting).

Power-scaling perturbs one component of the posterior, :math:`p(\theta \mid y) \propto
p(\theta)\, p(y \mid \theta)`, by raising it to a power :math:`\alpha` close to 1 —
:math:`p(\theta)^\alpha p(y \mid \theta)` for the prior, :math:`p(\theta)\,p(y \mid
\theta)^\alpha` for the likelihood — and measures how far each parameter's posterior
moves. The perturbed posteriors are importance-reweighted posterior draws (weights
:math:`\propto p(\theta)^{\alpha-1}`, Pareto-smoothed), so no model is refitted. The
sensitivity is the derivative, at :math:`\alpha = 1`, of the cumulative Jensen–Shannon
distance between the base and the perturbed marginal posterior, estimated by finite
differences at :math:`\alpha \in \{0.99, 1.01\}` (Kallioinen, Paananen, Bürkner &
Vehtari 2024, "Detecting and diagnosing prior and likelihood sensitivity with
power-scaling", Stat Comput 34:57; R package priorsense; here ArviZ's
``arviz_stats.psense``).

Reading the table (:func:`prior_sensitivity`), with the paper's threshold 0.05:

* prior **and** likelihood sensitivity above it: "potential prior-data conflict" — the
  prior pulls the posterior away from where the data put it;
* prior sensitivity above it, likelihood sensitivity below: "potential strong prior /
  weak likelihood" — the data say little about the parameter, the prior decides;
* otherwise "✓" (ArviZ's names, :func:`arviz_stats.psense_summary`).

**Which prior is scaled.** The log prior (:func:`log_prior`) is the sum of the priors a
user sets by name — the resolved priors a fit stores in its posterior's attrs
(``bayes_hte_priors``, :mod:`bayes_hte.models.priors`): each evaluated at the posterior
draws of the parameter of that name (or its per-arm copies ``<name>_control`` /
``<name>_treated``). Hierarchical terms (trial effects given their mean and SD), the
standard-normal innovations of non-centred parameterisations and the ``Flat`` variables
are not priors one chooses and are left alone, as brms' ``lprior`` and priorsense do.
Evaluating the named priors at the parameters rather than PyMC's per-variable
log densities (``pymc.stats.compute_log_prior``) is what makes this exact for the
models that keep a prior as a potential on a deterministic (the anchored intercepts of
:mod:`bayes_hte.models.ipdma` and :mod:`bayes_hte.models.subgroup`). An LKJ prior on a
correlation matrix :math:`R` enters as :math:`(\eta - 1)\log\det R` (its normalising
constant does not change the weights). Constants of each density cancel in the
normalised weights.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from arviz_stats import psense

from bayes_hte.diagnostics import population_vars
from bayes_hte.models.priors import make_dist

#: Posterior attribute holding the resolved priors (JSON), as written by the estimators.
ATTR_PRIORS = "bayes_hte_priors"
#: Threshold of the diagnosis (Kallioinen et al. 2024, Sect. 4; ArviZ's default).
THRESHOLD = 0.05
#: Diagnoses, worded as :func:`arviz_stats.psense_summary` words them.
CONFLICT = "potential prior-data conflict"
WEAK_LIKELIHOOD = "potential strong prior / weak likelihood"
FINE = "✓"
#: Per-arm copies of a parameter (the T-learner of the fully stratified IPD model).
ARM_SUFFIXES = ("control", "treated")

_SAMPLE_DIMS = ("chain", "draw")


def _stored_priors(idata: xr.DataTree) -> dict:
    text = idata["posterior"].attrs.get(ATTR_PRIORS)
    if not text:
        raise ValueError("the fit stores no priors (posterior attribute "
                         f"{ATTR_PRIORS!r}): pass priors=")
    return json.loads(text)


def _targets(name: str, post: xr.DataTree | xr.Dataset) -> list[str]:
    """The posterior variables a named prior applies to."""
    cands = [name, *(f"{name}_{s}" for s in ARM_SUFFIXES)]
    return [v for v in cands if v in post.data_vars]


def _lkj_term(values: np.ndarray, eta: float) -> np.ndarray:
    """(eta - 1) log det R per draw of correlation matrices ``values`` (chain, draw, n, n)."""
    _sign, logdet = np.linalg.slogdet(values)
    return (eta - 1.0) * logdet


def log_prior(idata: xr.DataTree, *, priors: Mapping[str, Mapping] | None = None
              ) -> xr.Dataset:
    r"""The log density of each named prior at the posterior draws (a ``log_prior`` group).

    Parameters
    ----------
    idata : xarray.DataTree
        A fit of a bayes_hte estimator (its ``posterior`` group is read).
    priors : mapping of str to dict, optional
        Resolved priors by parameter name (``{"mu": {"dist": "Normal", "mu": 0,
        "sigma": 10}, ...}``, :func:`bayes_hte.models.priors.resolve_priors`); default
        the ones the fit stores in its posterior's attrs (``bayes_hte_priors``).

    Returns
    -------
    xarray.Dataset
        One variable per prior term, named after the posterior variable it scores, with
        that variable's dims (chain, draw, ...): :math:`\log p(\theta)` elementwise
        (natural log, up to a constant). An LKJ prior on a correlation matrix gives one
        value per draw, :math:`(\eta-1)\log\det R`. Priors of parameters absent from
        the posterior (or constant there, e.g. a plug-in SD) are left out;
        ``attrs["prior_terms"]`` lists the variables kept.

    Raises
    ------
    ValueError
        No ``priors`` given and none stored in the fit; or no named prior matches a
        posterior variable.

    Notes
    -----
    This is the quantity whose power :math:`p(\theta)^\alpha` power-scaling perturbs
    (Kallioinen et al. 2024; module docstring: which terms and why).
    """
    post = idata["posterior"]
    priors = dict(priors) if priors is not None else _stored_priors(idata)
    terms: dict[str, xr.DataArray] = {}
    for name, spec in priors.items():
        for var in _targets(name, post):
            da = post[var]
            if float(da.std()) == 0.0:  # a plug-in constant, not a sampled parameter
                continue
            values = np.asarray(da.values, dtype=float)
            if spec["dist"] == "LKJ":
                if da.ndim != 4 or values.shape[-1] != values.shape[-2]:
                    continue
                lp = _lkj_term(values, float(spec["eta"]))
                terms[var] = xr.DataArray(lp, dims=_SAMPLE_DIMS,
                                          coords={d: da[d] for d in _SAMPLE_DIMS})
                continue
            lp = pm.logp(make_dist(spec), values).eval()
            terms[var] = da.copy(data=np.broadcast_to(lp, values.shape).astype(float))
    if not terms:
        raise ValueError(f"no prior of {sorted(priors)} matches a posterior variable")
    out = xr.Dataset(terms)
    out.attrs["prior_terms"] = list(terms)
    return out


def prior_sensitivity(idata: xr.DataTree, *, var_names: Sequence[str] | None = None,
                      priors: Mapping[str, Mapping] | None = None,
                      threshold: float = THRESHOLD,
                      alphas: tuple[float, float] = (0.99, 1.01)) -> pd.DataFrame:
    r"""Prior and likelihood power-scaling sensitivity of each parameter, with a diagnosis.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit with ``posterior`` and ``log_likelihood`` groups (every bayes_hte
        estimator fitted with ``log_likelihood=True``, the default). The ``log_prior``
        group is computed by :func:`log_prior` (a ``log_prior`` group in ``idata``
        is not used: PyMC's holds other terms, see the module docstring).
    var_names : sequence of str, optional
        Posterior variables to assess; default the population-level ones
        (:func:`bayes_hte.diagnostics.population_vars`: no per-patient, raw or
        Cholesky variables, no constants, at most 60 elements each).
    priors : mapping of str to dict, optional
        The priors to scale (default: those stored in the fit), as in :func:`log_prior`.
    threshold : float
        Sensitivity above which a component counts as influential (0.05: Kallioinen
        et al. 2024).
    alphas : tuple of float
        The power-scaling exponents of the finite-difference derivative.

    Returns
    -------
    pandas.DataFrame
        One row per scalar parameter element that varies over the draws (not the unit
        diagonal of a correlation matrix), in posterior order, columns
        ``parameter`` (e.g. ``"mu"``, ``"theta[age]"``), ``prior_sensitivity``,
        ``likelihood_sensitivity`` (derivative of the cumulative Jensen–Shannon
        distance, dimensionless, :math:`\ge 0`) and ``diagnosis``
        (:data:`CONFLICT`, :data:`WEAK_LIKELIHOOD` or :data:`FINE`, ArviZ's rule).
        ``attrs``: ``prior_terms`` (the posterior variables whose priors were scaled),
        ``threshold``.

    Raises
    ------
    ValueError
        The fit has no ``log_likelihood`` group, no priors, or none of ``var_names``.

    Notes
    -----
    Method: Kallioinen, Paananen, Bürkner & Vehtari (2024), Stat Comput 34:57 (priorsense's
    ``powerscale_sensitivity``); computation: :func:`arviz_stats.psense`, on the
    prior of :func:`log_prior` and the sum of the pointwise log likelihood.
    """
    if "log_likelihood" not in idata.children:
        raise ValueError("the fit has no log_likelihood group: refit with "
                         "log_likelihood=True")
    names = list(var_names) if var_names is not None else population_vars(idata)
    missing = [v for v in names if v not in idata["posterior"].data_vars]
    if missing or not names:
        raise ValueError(f"no posterior variable(s) {missing or names} to assess")
    lp = log_prior(idata, priors=priors)
    tree = xr.DataTree.from_dict({
        "posterior": idata["posterior"].to_dataset()[names],
        "log_likelihood": idata["log_likelihood"].to_dataset(),
        "log_prior": lp,
    })
    logger = logging.getLogger("arviz_stats")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the PSIS k warnings are the weights' business here
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # constant elements: 0 / 0
            sens = {group: psense(tree, group=group, alphas=alphas,
                                  sample_dims=list(_SAMPLE_DIMS))
                    for group in ("prior", "likelihood")}
    finally:
        logger.setLevel(level)
    rows = []
    post = tree["posterior"]
    for v in names:
        p, lik = sens["prior"][v], sens["likelihood"][v]
        spread = post[v].std(list(_SAMPLE_DIMS)).transpose(*p.dims).values
        for idx in np.ndindex(p.shape):
            if spread[idx] == 0.0:  # a constant element (a correlation's diagonal)
                continue
            sel = dict(zip(p.dims, idx, strict=True))
            label = v if not p.dims else v + "[" + ", ".join(
                str(p[d].values[i]) for d, i in sel.items()) + "]"
            ps, ls = float(p.values[idx]), float(lik.values[idx])
            rows.append({"parameter": label, "prior_sensitivity": ps,
                         "likelihood_sensitivity": ls,
                         "diagnosis": diagnose(ps, ls, threshold=threshold)})
    out = pd.DataFrame(rows)
    out.attrs["prior_terms"] = list(lp.attrs["prior_terms"])
    out.attrs["threshold"] = threshold
    return out


def diagnose(prior: float, likelihood: float, *, threshold: float = THRESHOLD) -> str:
    """The diagnosis of one parameter from its two sensitivities (ArviZ's rule).

    Parameters
    ----------
    prior, likelihood : float
        Prior and likelihood power-scaling sensitivity.
    threshold : float
        Sensitivity above which a component counts as influential.

    Returns
    -------
    str
        :data:`CONFLICT` when both reach ``threshold``; :data:`WEAK_LIKELIHOOD` when
        the prior exceeds it and the likelihood does not; :data:`FINE` otherwise
        (as :func:`arviz_stats.psense_summary`; Kallioinen et al. 2024, Sect. 4).
    """
    if prior >= threshold and likelihood >= threshold:
        return CONFLICT
    if prior > threshold > likelihood:
        return WEAK_LIKELIHOOD
    return FINE
