r"""The definition of a simulation study: data-generating mechanisms, methods, truth, seeds.

A :class:`Study` is the ADEMP plan of Morris, White & Crowther (2019, *Stat Med* 38:2074)
written as Python objects: the data-generating mechanism ``generate`` evaluated in each
*scenario* (one combination of the factors, e.g. number of trials and heterogeneity),
the estimands and their true values ``truth``, the ``methods`` compared, and the number
of replicates; :func:`bayes_hte.studies.run` executes it and
:func:`bayes_hte.studies.performance` computes the performance measures.

Seeds
-----
Replicate :math:`r` of scenario :math:`s` draws its data from

.. code-block:: python

    np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s, r)))

which is the generator of ``SeedSequence(seed).spawn(S)[s].spawn(R)[r]`` (numpy's
spawning appends the child's index to the ``spawn_key``). Each replicate's stream
therefore depends only on ``(seed, s, r)``: the data are bit-identical whatever the
number of workers or the order in which replicates run, and raising the number of
replicates adds new replicates without changing the old ones. The streams of different
``(s, r)`` are independent in the sense of numpy's ``SeedSequence`` (hashing of the
entropy and spawn key; O'Neill's PCG design notes, numpy NEP 19).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_hte.options import check_count

#: Columns of the estimates table after the scenario factors, in this order.
COLUMNS: tuple[str, ...] = ("scenario", "replicate", "method", "estimand", "truth",
                            "estimate", "se", "ci_low", "ci_high", "seconds", "error")
#: Keys a method may return for each estimand (missing keys are recorded as NaN).
VALUE_KEYS: tuple[str, ...] = ("estimate", "se", "ci_low", "ci_high")

_SCALAR_TYPES = (bool, int, float, str, type(None))


def _rng(seed: int, scenario: int, replicate: int) -> np.random.Generator:
    """The random generator of replicate ``replicate`` of scenario ``scenario``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(scenario, replicate)))


def _scalar(value: Any, *, where: str) -> bool | int | float | str | None:
    """A scenario level as a plain Python scalar (numpy scalars unwrapped)."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, _SCALAR_TYPES):
        raise ValueError(
            f"{where} is {value!r} ({type(value).__name__}); scenario levels must be "
            "str, int, float, bool or None (name a structured level with a string and "
            "map it to its value inside `generate`)")
    return value


def _expand_scenarios(scenarios: Any) -> tuple[dict[str, Any], ...]:
    """Scenario dicts from a list of dicts or a ``{factor: [levels]}`` full factorial."""
    if isinstance(scenarios, Mapping):
        if not scenarios:
            return ({},)
        names = list(scenarios)
        levels = []
        for name in names:
            lev = scenarios[name]
            if isinstance(lev, str | bytes) or not isinstance(lev, Sequence | np.ndarray):
                raise ValueError(f"scenarios[{name!r}] must be a list of levels, got {lev!r}")
            if len(lev) == 0:
                raise ValueError(f"scenarios[{name!r}] has no levels")
            levels.append(list(lev))
        out = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*levels)]
    elif isinstance(scenarios, Sequence) and not isinstance(scenarios, str | bytes):
        out = list(scenarios)
        if not out:
            raise ValueError("scenarios is empty: give at least one scenario dict")
    else:
        raise ValueError("scenarios must be a list of dicts or a {factor: [levels]} dict, "
                         f"got {type(scenarios).__name__}")
    clean = []
    for i, sc in enumerate(out):
        if not isinstance(sc, Mapping):
            raise ValueError(f"scenario {i} is {sc!r}, not a dict of factor levels")
        row = {}
        for key, value in sc.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"scenario {i}: factor name {key!r} is not a valid "
                                 "Python identifier (factors are passed as keywords)")
            if key in COLUMNS:
                raise ValueError(f"scenario {i}: factor name {key!r} is reserved for a "
                                 f"column of the estimates table {COLUMNS}")
            row[key] = _scalar(value, where=f"scenario {i}, factor {key!r}")
        clean.append(row)
    first = list(clean[0])
    seen: dict[tuple, int] = {}
    for i, row in enumerate(clean):
        if set(row) != set(first):
            raise ValueError(f"scenario {i} has factors {sorted(row)} but scenario 0 has "
                             f"{sorted(first)}; every scenario must set the same factors")
        key = tuple((isinstance(row[k], bool), row[k]) for k in first)  # 1 == 1.0, not True
        if key in seen:  # performance() would pool the two as one cell of twice the size
            raise ValueError(f"scenario {i} repeats scenario {seen[key]} "
                             f"({ {k: row[k] for k in first} }); give each scenario once "
                             "(more replicates instead of a repeated scenario)")
        seen[key] = i
    return tuple({k: row[k] for k in first} for row in clean)


def _describe_callable(obj: Callable, depth: int = 0) -> dict[str, Any]:
    """Qualified name, hash of the source text and bound values of a callable (the
    values a closure captures: scalars and tuples by value, arrays by content, functions
    described in turn, ``depth`` levels deep)."""
    target, bound = obj, {}
    while isinstance(target, functools.partial):
        bound.setdefault("partial", []).append(
            {"args": repr(target.args), "keywords": repr(sorted(target.keywords.items()))})
        target = target.func
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    src_obj = target if (inspect.isfunction(target) or inspect.ismethod(target)
                         or inspect.isclass(target)) else type(target)
    try:
        source = inspect.getsource(src_obj)
    except (OSError, TypeError):
        source = None
    func = getattr(target, "__func__", target)
    closure = getattr(func, "__closure__", None)
    if closure:
        names = func.__code__.co_freevars
        cells = {}
        for cname, cell in zip(names, closure, strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # empty cell
                continue
            if isinstance(value, (*_SCALAR_TYPES, tuple)):
                cells[cname] = repr(value)
            elif isinstance(value, np.ndarray):  # a captured array: its content
                cells[cname] = {"shape": list(value.shape), "dtype": str(value.dtype),
                                "sha256": hashlib.sha256(
                                    np.ascontiguousarray(value).tobytes()).hexdigest()[:16]}
            elif callable(value) and depth < 3:  # a captured function: what it is
                cells[cname] = _describe_callable(value, depth=depth + 1)
        if cells:
            bound["closure"] = cells
    describe = getattr(target, "study_definition", None)
    if callable(describe) and not inspect.isclass(target):
        # a callable object states what it computes (settings, models) as plain data
        bound["definition"] = describe()
    digest = hashlib.sha256(source.encode()).hexdigest()[:16] if source is not None else None
    return {"name": name, "source_sha256": digest, **bound}


@dataclass(frozen=True, kw_only=True, eq=False)
class Study:
    r"""A Monte Carlo simulation study: scenarios × replicates × methods (ADEMP).

    For each scenario :math:`s` and replicate :math:`r`, ``generate`` draws a data set
    with the replicate's own random generator (module doc, *Seeds*), every method is fitted
    to that same data set, and each method's estimates are compared with
    ``truth(**scenario)``. Run it with :func:`bayes_hte.studies.run`.

    Parameters
    ----------
    name : str
        Name of the study (non-empty; shown in progress lines and stored in the store's
        ``study.json``).
    generate : callable
        ``generate(rng: numpy.random.Generator, **scenario) -> data``: one simulated data
        set. It must draw all its randomness from ``rng``; ``data`` must be picklable when
        the study runs on Dask workers.
    methods : mapping of str to callable
        ``{name: method}`` with ``method(data) -> {estimand: {"estimate": float, "se":
        float, "ci_low": float, "ci_high": float}}`` (missing keys are recorded as NaN).
        Every method of a replicate receives the same ``data`` object and must not
        modify it.
        A method that needs random numbers must fix its own seed (for example from the
        data) so that a replicate's results are reproducible.
    truth : callable
        ``truth(**scenario) -> {estimand: float}``: the true value of each estimand in a
        scenario (estimands a method reports but ``truth`` does not know get NaN). When
        the true values depend on the replicate's data (a sample-average effect, the
        true ITEs of the patients a method is scored on), declare a keyword ``data``:
        ``truth(*, data, **scenario)`` is then called once per replicate with the data
        set the methods receive (:attr:`truth_reads_data`), and its errors are recorded
        like a method's.
    scenarios : list of dict, or dict of lists
        Either the scenarios themselves, ``[{"k": 5, "tau2": 0.0}, ...]`` (each dict sets
        the same factors), or ``{factor: [levels]}``, expanded to the full factorial in the
        given order (the last factor varies fastest, as :func:`itertools.product`). Factor
        names are Python identifiers (they are passed to ``generate`` and ``truth`` as
        keywords) other than the column names :data:`COLUMNS`; levels are str, int,
        float, bool or None. ``{}`` or ``[{}]`` is one scenario with no factor. Stored as a
        tuple of dicts; scenario ``s`` is ``scenarios[s]``.
    replicates : int
        Number of replicates per scenario (>= 1); not part of the fingerprint, so a study
        can be extended.
    seed : int
        Master seed (>= 0) of every replicate's generator.

    Raises
    ------
    TypeError
        ``generate``, ``truth`` or a method is not callable, or ``methods`` is not a
        mapping.
    ValueError
        An empty name, no methods, a method name that is not a non-empty string, invalid
        scenarios (empty, factors differing between scenarios, a reserved or
        non-identifier factor name, a non-scalar level), ``replicates < 1`` or a
        negative or non-integer ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> def generate(rng, *, n):
    ...     return rng.normal(size=n)
    >>> def mean(data):
    ...     se = data.std(ddof=1) / np.sqrt(len(data))
    ...     return {"mu": {"estimate": data.mean(), "se": se}}
    >>> study = Study(name="demo", generate=generate, methods={"mean": mean},
    ...               truth=lambda *, n: {"mu": 0.0}, scenarios={"n": [10, 100]},
    ...               replicates=5, seed=1)
    >>> study.scenarios
    ({'n': 10}, {'n': 100})
    """

    name: str
    generate: Callable[..., Any]
    methods: Mapping[str, Callable[[Any], Mapping[str, Mapping[str, float]]]]
    truth: Callable[..., Mapping[str, float]]
    scenarios: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
    replicates: int
    seed: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        for what in ("generate", "truth"):
            if not callable(getattr(self, what)):
                raise TypeError(f"{what} must be callable, got {getattr(self, what)!r}")
        if not isinstance(self.methods, Mapping):
            raise TypeError("methods must be a mapping {name: method}, got "
                            f"{type(self.methods).__name__}")
        if not self.methods:
            raise ValueError("methods is empty: give at least one {name: method}")
        for key, method in self.methods.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"method names must be non-empty strings, got {key!r}")
            if not callable(method):
                raise TypeError(f"method {key!r} is not callable: {method!r}")
        object.__setattr__(self, "replicates", check_count("replicates", self.replicates,
                                                           low=1))
        # the seed is a numpy SeedSequence entropy
        object.__setattr__(self, "seed", check_count("seed", self.seed, low=0))
        object.__setattr__(self, "methods", dict(self.methods))
        object.__setattr__(self, "scenarios", _expand_scenarios(self.scenarios))

    @property
    def truth_reads_data(self) -> bool:
        """Whether ``truth`` takes the replicate's data (a parameter named ``data``)."""
        try:
            params = inspect.signature(self.truth).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            return False
        return "data" in params and params["data"].kind in (
            inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

    @property
    def factors(self) -> list[str]:
        """Names of the scenario factors, in the order of the scenario dicts."""
        return list(self.scenarios[0])

    def definition(self) -> dict[str, Any]:
        """What the results depend on: the summary stored in a store's ``study.json``.

        Returns
        -------
        dict
            JSON-serialisable: ``name``; ``generate``, ``truth`` and each entry of
            ``methods`` described by their qualified name, a SHA-256 of their source
            text (``None`` when :func:`inspect.getsource` cannot read it, e.g. for a
            builtin) and the bound arguments of a :func:`functools.partial` or scalar
            closure values; ``scenarios`` (list of dicts); ``seed``. The number of
            replicates is not part of it. Code called by these functions (helpers in other
            modules, package versions) is not captured: pass ``overwrite=True`` to
            :func:`~bayes_hte.studies.run` after changing it.
        """
        return {
            "name": self.name,
            "generate": _describe_callable(self.generate),
            "methods": {k: _describe_callable(m) for k, m in self.methods.items()},
            "truth": _describe_callable(self.truth),
            "scenarios": [dict(sc) for sc in self.scenarios],
            "seed": self.seed,
        }

    def fingerprint(self) -> str:
        """A hash of :meth:`definition`: equal fingerprints mean the same study.

        Returns
        -------
        str
            Hexadecimal SHA-256 of the definition serialised as JSON with sorted keys
            (so the order of ``methods`` does not matter; the order of scenarios does,
            since it numbers them and seeds them).
        """
        text = json.dumps(self.definition(), sort_keys=True, allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def rng(self, scenario: int, replicate: int) -> np.random.Generator:
        """The random generator of one replicate (the module doc's *Seeds*).

        Parameters
        ----------
        scenario : int
            0-based index into :attr:`scenarios`.
        replicate : int
            0-based replicate number (>= 0; may exceed ``replicates``).

        Returns
        -------
        numpy.random.Generator
            A fresh generator, the one ``generate`` receives for that replicate.

        Raises
        ------
        IndexError
            ``scenario`` or ``replicate`` out of range.
        """
        if not 0 <= scenario < len(self.scenarios):
            raise IndexError(f"scenario {scenario} out of range 0..{len(self.scenarios) - 1}")
        if replicate < 0:
            raise IndexError(f"replicate must be >= 0, got {replicate}")
        return _rng(self.seed, int(scenario), int(replicate))

    def data(self, scenario: int, replicate: int) -> Any:
        """The data set of one replicate, regenerated (to inspect a failed fit, say).

        Parameters
        ----------
        scenario : int
            0-based index into :attr:`scenarios`.
        replicate : int
            0-based replicate number.

        Returns
        -------
        object
            ``generate(self.rng(scenario, replicate), **self.scenarios[scenario])``: the
            same data the methods received in :func:`~bayes_hte.studies.run`.

        Raises
        ------
        IndexError
            ``scenario`` or ``replicate`` out of range.
        """
        rng = self.rng(scenario, replicate)
        return self.generate(rng, **self.scenarios[scenario])
