"""Priors as data.

A prior is a plain mapping ``{"dist": "Normal", "mu": 0, "sigma": 1}``: it can be
written in a TOML spec, stored in the posterior's attributes and compared. Each model
family keeps its defaults in one dictionary; :func:`resolve_priors` overlays a user's
choices by parameter name and never mutates either input.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

import pymc as pm

PriorSpec = dict
PriorDict = dict[str, PriorSpec]

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


def resolve_priors(defaults: Mapping[str, PriorSpec], user: Mapping | None,
                   *, family: str) -> PriorDict:
    """Overlay ``user`` priors on ``defaults`` by name.

    A user entry may give a whole spec (``{"dist": "StudentT", "nu": 3, ...}``) or only
    some parameters of the default distribution (``{"sigma": 0.5}``).

    Raises
    ------
    ValueError
        For a parameter name the model does not have, or an invalid spec.
    """
    out = copy.deepcopy(dict(defaults))
    for name, spec in (user or {}).items():
        if name not in out:
            raise ValueError(f"{family}: no parameter {name!r} to set a prior on; "
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


def make_rv(name: str, spec: PriorSpec, **kwargs):
    """Create the random variable ``name`` from its spec inside the current model.

    Extra keyword arguments (``dims``, ``shape``) pass through to PyMC.
    """
    params = {k: v for k, v in spec.items() if k != "dist"}
    return getattr(pm, spec["dist"])(name, **params, **kwargs)


def make_dist(spec: PriorSpec, **kwargs):
    """An unnamed distribution (``.dist``) from a spec, e.g. for ``sd_dist``."""
    params = {k: v for k, v in spec.items() if k != "dist"}
    return getattr(pm, spec["dist"]).dist(**params, **kwargs)


def priors_to_json(priors: PriorDict) -> str:
    """Serialise resolved priors for the posterior's attributes."""
    return json.dumps(priors, sort_keys=True)


def random_effect(name: str, mu, sigma, *, dims, parameterization: str):
    """Normal random effect, centred or non-centred, always stored under ``name``."""
    if parameterization == "centered":
        return pm.Normal(name, mu=mu, sigma=sigma, dims=dims)
    raw = pm.Normal(f"{name}_raw", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mu + sigma * raw, dims=dims)
