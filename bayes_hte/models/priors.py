"""Priors as data.

A prior is a plain mapping ``{"dist": "Normal", "mu": 0, "sigma": 1}``: it can be
written in a TOML spec, stored in the posterior's attributes and compared. Each model
family keeps its defaults in one dictionary; :func:`resolve_priors` overlays a user's
choices by parameter name and never mutates either input.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import betaln

PriorSpec = dict
PriorDict = dict[str, PriorSpec]

#: Parameters renamed in 0.2 so that every between-trial SD is ``tau_<parameter>``
#: (old name -> new name); :func:`resolve_priors` still accepts the old names.
RENAMED_PRIORS: dict[str, str] = {
    "sd_study": "tau_b", "corr_study": "corr_b", "sd_log_shape": "tau_log_shape",
    "sigma_alpha_study": "tau_alpha", "sigma_tau_study": "tau_tau",
}

#: Distributions a prior may name, with their parameters.
_ALLOWED = {
    "Normal": ("mu", "sigma"),
    "StudentT": ("nu", "mu", "sigma"),
    "Cauchy": ("alpha", "beta"),
    "HalfNormal": ("sigma",),
    "HalfCauchy": ("beta",),
    "HalfStudentT": ("nu", "sigma"),
    "Exponential": ("lam",),
    "Gamma": ("alpha", "beta"),
    "InverseGamma": ("alpha", "beta"),
    "Uniform": ("lower", "upper"),
    "LKJ": ("eta",),
}


#: Parameters that are scales, rates, shapes or degrees of freedom (> 0); the Cauchy's
#: ``alpha`` is its location.
_POSITIVE = frozenset({"sigma", "nu", "lam", "eta", "alpha", "beta"})


def _check_spec(name: str, spec: Mapping) -> None:
    if not isinstance(spec, Mapping) or "dist" not in spec:
        raise ValueError(f"prior {name!r} must be a mapping with a 'dist' key, got {spec!r}")
    dist = spec["dist"]
    if dist not in _ALLOWED:
        raise ValueError(f"prior {name!r}: unknown distribution {dist!r}; "
                         f"choose one of {sorted(_ALLOWED)}")
    extra = set(spec) - {"dist"} - set(_ALLOWED[dist])
    if extra:
        raise ValueError(f"prior {name!r}: {dist} takes {_ALLOWED[dist]}, not {sorted(extra)}")
    for key in set(spec) - {"dist"}:
        value = spec[key]
        try:
            if isinstance(value, bool | str | bytes):
                raise TypeError
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"prior {name!r}: {dist} {key} must be a number (or numbers), "
                             f"got {value!r}") from None
        if not np.isfinite(arr).all():
            raise ValueError(f"prior {name!r}: {dist} {key} must be finite, got {value!r}")
        positive = key in _POSITIVE and not (dist == "Cauchy" and key == "alpha")
        if positive and (arr <= 0).any():
            raise ValueError(f"prior {name!r}: {dist} {key} must be > 0, got {value!r}")
    if dist == "Uniform" and {"lower", "upper"} <= set(spec) and (
            np.asarray(spec["lower"], dtype=float) >= np.asarray(spec["upper"], dtype=float)
    ).any():
        raise ValueError(f"prior {name!r}: Uniform lower must be below upper, got "
                         f"{spec['lower']!r} and {spec['upper']!r}")


def resolve_priors(defaults: Mapping[str, PriorSpec], user: Mapping | None,
                   *, family: str) -> PriorDict:
    """Overlay ``user`` priors on ``defaults`` by name.

    A user entry may give a whole spec (``{"dist": "StudentT", "nu": 3, ...}``) or only
    some parameters of the default distribution (``{"sigma": 0.5}``).

    Parameters
    ----------
    defaults : mapping of str to dict
        The model family's default priors by parameter name (not modified).
    user : mapping of str to dict, optional
        The user's overrides (not modified); ``None`` keeps the defaults.
    family : str
        Name of the model family, for error messages (e.g. ``"ipdma/rank1/s"``).

    Returns
    -------
    dict of str to dict
        A fresh dict: every default parameter, with its (merged) spec checked against
        the allowed distributions and their parameters.

    Raises
    ------
    ValueError
        For a parameter name the model does not have, or an invalid spec: an unknown
        distribution or argument, a value that is not a finite number, a scale, rate,
        shape or degrees of freedom <= 0, or a Uniform whose lower bound is not below
        its upper one.
    """
    out = copy.deepcopy(dict(defaults))
    for given, spec in (user or {}).items():
        name = given
        if given not in out and RENAMED_PRIORS.get(given) in out:
            name = RENAMED_PRIORS[given]
            warnings.warn(f"{family}: the prior {given!r} is now called {name!r} "
                          "(between-trial SDs are named tau_<parameter>)", FutureWarning,
                          stacklevel=3)
        if name not in out:
            raise ValueError(f"{family}: no parameter {given!r} to set a prior on; "
                             f"this model's priors are {sorted(out)}")
        spec = dict(spec)
        if "dist" not in spec or spec["dist"] == out[name]["dist"]:
            merged = {**out[name], **spec}
        else:
            merged = spec
        _check_spec(name, merged)
        out[name] = merged
    for name, spec in out.items():
        _check_spec(name, spec)
    return out


def _shape_kwargs(dims: str | Sequence[str] | None, shape: int | Sequence[int] | None) -> dict:
    return {k: v for k, v in (("dims", dims), ("shape", shape)) if v is not None}


def make_rv(name: str, spec: PriorSpec, *, dims: str | Sequence[str] | None = None,
            shape: int | Sequence[int] | None = None) -> pt.TensorVariable:
    """Create the random variable ``name`` from its spec inside the current model.

    Parameters
    ----------
    name : str
        Name of the variable in the model (and in the posterior).
    spec : dict
        A resolved prior, ``{"dist": <PyMC distribution>, <its parameters>...}``
        (:func:`resolve_priors`).
    dims : str or sequence of str, optional
        Model dims of the variable (the model must hold these coords).
    shape : int or sequence of int, optional
        Shape, for a variable without named dims.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The free random variable, registered in the model on the context stack.
    """
    params = {k: v for k, v in spec.items() if k != "dist"}
    return getattr(pm, spec["dist"])(name, **params, **_shape_kwargs(dims, shape))


def make_dist(spec: PriorSpec, *, shape: int | Sequence[int] | None = None
              ) -> pt.TensorVariable:
    """An unnamed distribution (``.dist``) from a spec, e.g. for ``sd_dist``.

    Parameters
    ----------
    spec : dict
        A resolved prior (:func:`resolve_priors`).
    shape : int or sequence of int, optional
        Shape of the distribution (e.g. the number of SDs of an ``LKJCholeskyCov``).

    Returns
    -------
    pytensor.tensor.TensorVariable
        An unregistered random variable: for ``sd_dist`` arguments, or for
        ``pm.logp(dist, value)`` (a prior kept as a potential).
    """
    params = {k: v for k, v in spec.items() if k != "dist"}
    return getattr(pm, spec["dist"]).dist(**params, **_shape_kwargs(None, shape))


def priors_for_models(priors: Mapping | None, defaults: Mapping) -> dict:
    """Priors given once for several models (e.g. every learner of a grid): each model
    gets those of its own parameters.

    A T-learner has no treatment effect ``gamma``, an S-learner no arm-specific
    intercepts: a prior named once for both applies where the parameter exists.

    Parameters
    ----------
    priors : mapping of str to dict, or None
        Prior overrides by parameter name.
    defaults : mapping of model key to dict
        Each model's default priors (their names are the model's parameters).

    Returns
    -------
    dict
        Model key -> the overrides of ``priors`` that name one of its parameters.

    Raises
    ------
    ValueError
        A name in ``priors`` that no model has (naming the models' parameters).
    """
    priors = dict(priors or {})
    known = set().union(*(set(d) for d in defaults.values())) if defaults else set()
    unknown = sorted(name for name in priors
                     if name not in known and RENAMED_PRIORS.get(name) not in known)
    if unknown:
        raise ValueError(f"no model has the parameter(s) {unknown} to set a prior on; the "
                         f"models' priors are {sorted(known)}")
    return {key: {name: spec for name, spec in priors.items()
                  if name in d or RENAMED_PRIORS.get(name) in d}
            for key, d in defaults.items()}


def priors_to_json(priors: PriorDict) -> str:
    """Serialise resolved priors for the posterior's attributes.

    Parameters
    ----------
    priors : dict of str to dict
        Resolved priors (:func:`resolve_priors`): JSON-serialisable numbers and strings.

    Returns
    -------
    str
        JSON text with sorted keys, so equal priors give equal text.
    """
    return json.dumps(priors, sort_keys=True)


def random_effect(name: str, mu: float | pt.TensorVariable, sigma: float | pt.TensorVariable,
                  *, dims: str | Sequence[str], parameterization: str) -> pt.TensorVariable:
    r"""Normal random effect, centred or non-centred, always stored under ``name``.

    :math:`u_k \sim N(\mu, \sigma^2)`: centred, ``pm.Normal(name, mu, sigma)``;
    non-centred, :math:`u_k = \mu + \sigma r_k` with :math:`r_k \sim N(0, 1)` stored as
    ``<name>_raw`` and ``name`` a deterministic (the same model, without the funnel
    between :math:`u_k` and a small :math:`\sigma`; Papaspiliopoulos et al. 2007).

    Parameters
    ----------
    name : str
        Name of the effects in the posterior (e.g. ``"alpha_study"``).
    mu, sigma : float or pytensor.tensor.TensorVariable
        Mean and SD, broadcasting against ``dims``.
    dims : str or sequence of str
        Dims of the effects (e.g. ``("study",)``).
    parameterization : {"centered", "non_centered"}
        Form of the effects; anything but ``"centered"`` is non-centred.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The effects, dims ``dims``.
    """
    if parameterization == "centered":
        return pm.Normal(name, mu=mu, sigma=sigma, dims=dims)
    raw = pm.Normal(f"{name}_raw", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mu + sigma * raw, dims=dims)


def lkj_covariance(name: str, *, n: int, eta: float, sd_prior: PriorSpec, sd_name: str,
                   corr_name: str, dims: tuple[str, str]):
    r"""A covariance matrix by SDs and an LKJ correlation, kept as named deterministics.

    :math:`\Sigma = \mathrm{diag}(\sigma) R\, \mathrm{diag}(\sigma)`, :math:`R \sim
    \mathrm{LKJ}(\eta)`, :math:`\sigma_k` from ``sd_prior`` (PyMC's
    ``LKJCholeskyCov``; Lewandowski, Kurowicka & Joe 2009).

    Parameters
    ----------
    name : str
        Name of the Cholesky factor variable.
    n : int
        Dimension of the matrix.
    eta : float
        LKJ shape (1: uniform over correlation matrices; larger: towards identity).
    sd_prior : dict
        Prior of each SD (a prior spec, see :func:`make_dist`).
    sd_name, corr_name : str
        Names of the deterministic SD vector (dims ``dims[0]``) and correlation matrix
        (dims ``dims``).
    dims : tuple of str
        The matrix's two dims, e.g. ``("coef", "coef_")``.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The lower Cholesky factor of :math:`\Sigma`, shape (n, n).
    """
    chol, corr, sds = pm.LKJCholeskyCov(name, n=n, eta=eta,
                                        sd_dist=make_dist(sd_prior, shape=n),
                                        compute_corr=True)
    pm.Deterministic(sd_name, sds, dims=dims[0])
    pm.Deterministic(corr_name, corr, dims=dims)
    return chol


def _log_cosh(y):
    """``log(cosh(y))`` without overflow: ``|y| + log1p(exp(-2|y|)) - log 2``."""
    ay = pt.abs(y)
    return ay + pt.log1p(pt.exp(-2.0 * ay)) - np.log(2.0)


def lkj_corr_cholesky(name: str, *, n: int, eta: float, dims: tuple[str, str] | None = None,
                      cpc_name: str, cpc_dim: str | None = None) -> pt.TensorVariable:
    r"""The Cholesky factor of an LKJ-distributed correlation matrix, by its partial
    correlations.

    :math:`R = LL^\top \sim \mathrm{LKJ}(\eta)`, :math:`p(R) \propto
    \det(R)^{\eta - 1}` (Lewandowski, Kurowicka & Joe 2009), built from the canonical
    partial correlations (CPCs) :math:`z_{ij}`, :math:`i > j` (0-based), as in the Stan
    Reference Manual ("Cholesky factors of correlation matrices"):

    .. math::

        L_{ij} = z_{ij} \prod_{k<j} \sqrt{1 - z_{ik}^2}, \qquad
        L_{ii} = \prod_{k<i} \sqrt{1 - z_{ik}^2}, \qquad L_{ij} = 0 \ (j > i).

    With :math:`\det R = \prod_i L_{ii}^2` and the Jacobian of :math:`z \mapsto L`
    (:math:`\prod_{i>j}\prod_{k<j}\sqrt{1-z_{ik}^2}`), the LKJ density factorises: the
    CPCs are independent, :math:`(z_{ij} + 1)/2 \sim \mathrm{Beta}(a_j, a_j)` with
    :math:`a_j = \eta + (n - 2 - j)/2` (for :math:`j = 0`, the marginal of a
    correlation, :math:`\mathrm{Beta}(\eta - 1 + n/2)` on :math:`(-1, 1)`). The free
    variable is each CPC's Fisher transform :math:`y = \operatorname{atanh} z` on the
    real line, with the exact log density :math:`-2a_j \log\cosh y - (2a_j - 1)\log 2
    - \log B(a_j, a_j)`, and :math:`L_{ij} = \tanh(y_{ij}) \exp(-\sum_{k<j} \log\cosh
    y_{ik})`.

    The same distribution as PyMC's ``pm.LKJCorr``; written with two constant matrix
    products and element-wise functions, it compiles in a fraction of the time
    (numba, ``docs/performance.md``) and needs no ``Scan`` for its initial point.

    Parameters
    ----------
    name : str
        Name of the Cholesky factor (a deterministic, shape (n, n), lower triangular
        with a positive diagonal and rows of unit length).
    n : int
        Dimension of the matrix (at least 2).
    eta : float
        LKJ shape, > 0 (1: uniform over correlation matrices; larger: towards identity).
    dims : tuple of str, optional
        The factor's two dims, e.g. ``("coef", "coef_")``.
    cpc_name : str
        Name of the free variable: the Fisher transforms of the :math:`n(n-1)/2` CPCs,
        in the order of ``numpy.tril_indices(n, -1)`` (row by row).
    cpc_dim : str, optional
        Its dim. When the model has no such coordinate yet, it is added, labelled
        ``"<row> | <column>"`` by the labels of ``dims[0]`` (by index without ``dims``).

    Returns
    -------
    pytensor.tensor.TensorVariable
        :math:`L`, shape (n, n).

    Raises
    ------
    ValueError
        ``n < 2`` or ``eta <= 0``.
    """
    if int(n) < 2 or not float(eta) > 0:
        raise ValueError(f"lkj_corr_cholesky needs n >= 2 and eta > 0, got n={n}, eta={eta}")
    n = int(n)
    rows, cols = np.tril_indices(n, -1)
    a = float(eta) + (n - 2 - cols) / 2.0
    log_norm = pt.constant(-(2.0 * a - 1.0) * np.log(2.0) - betaln(a, a))

    def draws(a, size):  # the generator: the CPCs' Beta law, moved to atanh z
        return pt.arctanh(2.0 * pm.Beta.dist(a, a, size=size) - 1.0)

    def logp(value, a):  # the same law's density, written out
        return -2.0 * a * _log_cosh(value) + log_norm

    model = pm.modelcontext(None)
    if cpc_dim is not None and cpc_dim not in model.coords:
        labels = list(model.coords[dims[0]]) if dims else list(range(n))
        model.add_coord(cpc_dim, [f"{labels[i]} | {labels[j]}"
                                  for i, j in zip(rows, cols, strict=True)])
    y = pm.CustomDist(cpc_name, a, dist=draws, logp=logp, signature="()->()", dims=cpc_dim)
    # scatter the CPCs below the diagonal, and sum log cosh over k < j, by constant matrices
    scatter = np.zeros((rows.size, n * n))
    scatter[np.arange(rows.size), rows * n + cols] = 1.0
    before = np.triu(np.ones((n, n)), 1)  # before[k, j] = 1 for k < j
    ys = (y @ scatter).reshape((n, n))
    scale = pt.exp(-(_log_cosh(ys) @ before))
    return pm.Deterministic(name, pt.tanh(ys) * scale + pt.eye(n) * scale, dims=dims)
