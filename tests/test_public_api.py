"""Every public function, class and estimator method is typed and documented (numpydoc).

Public: defined in a bayes_hte module whose path has no private part, with a name that
does not start with an underscore (methods of public classes included). Each must have a
numpydoc docstring whose ``Parameters`` section names every parameter, a ``Returns``
(or ``Yields``) section unless it returns nothing, no ``**kwargs`` (options are named
keywords), and type hints on every parameter.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import warnings

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

import bayes_hte

SKIP_METHODS = {"__init__", "__post_init__", "__repr__", "__str__"}


def _public_modules():
    for info in pkgutil.walk_packages(bayes_hte.__path__, "bayes_hte."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        yield importlib.import_module(info.name)


def _public_objects():
    seen = set()
    for mod in [bayes_hte, *_public_modules()]:
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                key = f"{mod.__name__}.{name}"
                if key not in seen:
                    seen.add(key)
                    yield key, obj, None
            elif inspect.isclass(obj) and not issubclass(obj, BaseException):
                key = f"{mod.__name__}.{name}"
                if key in seen:
                    continue
                seen.add(key)
                yield key, obj, None
                for mname, member in vars(obj).items():
                    if mname.startswith("_") and mname not in SKIP_METHODS:
                        continue
                    if mname in SKIP_METHODS:
                        continue
                    func = member.__func__ if isinstance(member, classmethod | staticmethod) \
                        else member
                    if inspect.isfunction(func):
                        yield f"{key}.{mname}", func, obj


OBJECTS = sorted(_public_objects(), key=lambda t: t[0])


def _documented_names(params) -> set[str]:
    names = set()
    for p in params:
        for part in re.split(r",\s*", p.name):
            names.add(part.strip().lstrip("*"))
    return names


def _signature_params(func, *, drop_first: bool):
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if drop_first and params:
        params = params[1:]
    return sig, params


def _problems(key, obj, owner) -> list[str]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = ClassDoc(obj, config={"show_class_members": False}) if inspect.isclass(obj) \
            else FunctionDoc(obj)
    if not (obj.__doc__ or "").strip():
        return [f"{key}: no docstring"]
    if inspect.isclass(obj):
        init = obj.__dict__.get("__init__")
        if init is None or not inspect.isfunction(init):
            return out
        func, drop = init, True
    else:
        func = obj
        drop = owner is not None and not isinstance(owner.__dict__.get(obj.__name__),
                                                    staticmethod)
    sig, params = _signature_params(func, drop_first=drop)
    documented = _documented_names(doc["Parameters"]) | _documented_names(
        doc["Other Parameters"])
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out.append(f"{key}: takes **{p.name} (name the options)")
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if p.name not in documented:
            out.append(f"{key}: parameter {p.name!r} not in the Parameters section")
        if p.annotation is inspect.Parameter.empty:
            out.append(f"{key}: parameter {p.name!r} has no type hint")
    if not inspect.isclass(obj):
        ret = sig.return_annotation
        returns_nothing = ret in (None, "None")
        if not returns_nothing and not (doc["Returns"] or doc["Yields"]):
            out.append(f"{key}: no Returns section")
    return out


@pytest.mark.parametrize("key,obj,owner", OBJECTS, ids=[o[0] for o in OBJECTS])
def test_public_api_documented(key, obj, owner):
    problems = _problems(key, obj, owner)
    assert not problems, "\n".join(problems)
