"""Sampling: one entry point, :func:`fit`, for every model family."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from bayes_hte.errors import MemoryBudgetError, MemoryBudgetWarning
from bayes_hte.graph_modes import FAST_COMPILE_MAX_UNITS, helper_mode, numpy_evaluable
from bayes_hte.models.likelihood import register_jax
from bayes_hte.models.reduction import per_unit_model
from bayes_hte.nutpie_callbacks import straight_line_extraction
from bayes_hte.options import (
    LOW_RANK_SAMPLERS,
    SAMPLERS,
    MassMatrixKind,
    Sampler,
    check_choice,
    check_count,
    check_sampler_settings,
)


def default_sampler() -> Sampler:
    """``"nutpie"`` when installed (PyMC's default then), else PyMC's own NUTS.

    Returns
    -------
    {"nutpie", "pymc"}
        The NUTS implementation :func:`fit` uses when none is named.
    """
    return "nutpie" if importlib.util.find_spec("nutpie") else "pymc"


def resolve_sampler(sampler: Sampler | None) -> Sampler:
    """``sampler`` checked, or :func:`default_sampler` for ``None``.

    Parameters
    ----------
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        The sampler the user asked for.

    Returns
    -------
    {"nutpie", "pymc", "nutpie_jax"}
        ``sampler``, or the default when it is ``None``.

    Raises
    ------
    ValueError
        Not one of ``"nutpie"``, ``"pymc"``, ``"nutpie_jax"``.
    ImportError
        ``"nutpie_jax"`` without JAX installed (``pip install "bayes_hte[jax]"``).
    """
    if sampler is None:
        return default_sampler()
    check_choice("sampler", sampler, SAMPLERS)
    if sampler == "nutpie_jax" and importlib.util.find_spec("jax") is None:
        raise ImportError('sampler="nutpie_jax" needs JAX: pip install "bayes_hte[jax]" '
                          '(or jax[cuda] for a GPU)')
    return sampler


#: Largest per-draw x per-unit array (bytes) that ``log_likelihood="auto"`` and
#: ``posterior_predictive="auto"`` keep: 2 GiB, e.g. 4 chains x 1000 draws x 67,000
#: patients of float64.
PER_UNIT_BUDGET = 2 * 1024**3


def available_memory() -> int:
    """Bytes of memory the operating system can give now (``psutil``'s ``available``),
    plus the freed memory this process keeps for reuse inside
    :func:`large_arrays_on_heap` (glibc's ``mallinfo2().fordblks``).

    Returns
    -------
    int
        Available physical memory in bytes.
    """
    import psutil

    return int(psutil.virtual_memory().available) + _kept_heap_bytes()


#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Where glibc's dynamic thresholds settle once large arrays have been freed: the mmap
#: threshold at its maximum (32 MiB on 64-bit systems), the trim threshold at twice it.
_GLIBC_SETTLED = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 64 << 20}
#: Environment variables through which a user sets the same glibc parameters.
_GLIBC_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
#: Blocks of :func:`large_arrays_on_heap` open now (the outermost one resets glibc).
_HEAP_BLOCKS = [0]


def _glibc():
    """glibc through ctypes, or None (another C library, or no ``mallopt``)."""
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return lib if hasattr(lib, "mallopt") and hasattr(lib, "gnu_get_libc_version") else None


def _malloc_configured_at_startup() -> bool:
    """Whether the process started with glibc's malloc set through its environment
    (``MALLOC_*_`` or ``GLIBC_TUNABLES`` with ``glibc.malloc.``), which glibc reads at
    startup only: read from ``/proc/self/environ``, so a variable put into
    ``os.environ`` later (Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` there for its
    workers) does not count; ``os.environ`` where that file cannot be read."""
    try:
        with open("/proc/self/environ", "rb") as fh:
            items = [i.decode(errors="replace") for i in fh.read().split(b"\0") if i]
        env = dict(i.split("=", 1) for i in items if "=" in i)
    except OSError:
        env = dict(os.environ)
    return (any(k in env for k in _GLIBC_MALLOC_ENV)
            or "glibc.malloc." in env.get("GLIBC_TUNABLES", ""))


@functools.cache
def _mallinfo2_type() -> type:
    """ctypes layout of glibc's ``struct mallinfo2`` (``malloc.h``), ten ``size_t``."""
    import ctypes

    return type("MallInfo2", (ctypes.Structure,), {"_fields_": [
        (name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]})


def _kept_heap_bytes() -> int:
    """Free bytes glibc holds for this process while a :func:`large_arrays_on_heap`
    block keeps freed memory (0 outside one, or without glibc's ``mallinfo2``)."""
    libc = _glibc() if _HEAP_BLOCKS[0] else None
    if libc is None or not hasattr(libc, "mallinfo2"):
        return 0

    libc.mallinfo2.restype = _mallinfo2_type()
    return int(libc.mallinfo2().fordblks)


@contextlib.contextmanager
def large_arrays_on_heap(threshold: int = 1 << 30) -> Iterator[bool]:
    """Serve arrays up to ``threshold`` bytes from glibc's heap and keep freed memory for
    reuse, inside the block.

    glibc's ``malloc`` gives every allocation above its mmap threshold (at most 32 MiB
    by default) fresh pages from the operating system and returns them on ``free``;
    each new page then costs a page fault. A (chain, draw, patient) array of 4000 draws
    x 2,800 patients is 90 MB, so each temporary of the ITE tables, the evaluation or
    PSIS-LOO is faulted in anew — on the machine of ``docs/performance.md`` (item 16)
    that system time was as large as the arithmetic. Inside the block such arrays come
    from the heap, and freed memory is kept there (not trimmed) for the next one: the
    process's resident memory stays at its peak until the block ends, when the free
    memory is given back (``malloc_trim``); meanwhile :func:`available_memory` counts
    the kept memory as available, so the memory checks of :func:`check_memory` still
    see it.

    Changes only glibc's process-wide parameters ``M_MMAP_THRESHOLD`` and
    ``M_TRIM_THRESHOLD`` (``mallopt(3)``). On exit they are set where glibc's own
    dynamic adjustment settles in a process that has freed large arrays (32 MiB and
    64 MiB; ``mallopt`` turns that adjustment off for good, so they are set, not
    restored).
    Does nothing on other C libraries, or when the process was started with glibc's
    ``MALLOC_*_`` variables (or ``GLIBC_TUNABLES`` for malloc) set. Blocks may nest;
    the outermost one's end resets them.

    Parameters
    ----------
    threshold : int
        Bytes: allocations below it come from the heap.

    Yields
    ------
    bool
        Whether the parameters were changed.
    """
    import ctypes

    if _HEAP_BLOCKS[0]:
        _HEAP_BLOCKS[0] += 1
        try:
            yield True
        finally:
            _HEAP_BLOCKS[0] -= 1
        return
    libc = None if _malloc_configured_at_startup() else _glibc()
    changed = False
    if libc is not None and libc.mallopt(_M_TRIM_THRESHOLD,
                                         ctypes.c_int(min(2 * threshold, 2**31 - 1))):
        changed = bool(libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(threshold)))
        if not changed:
            libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(_GLIBC_SETTLED[_M_TRIM_THRESHOLD]))
    _HEAP_BLOCKS[0] += changed
    try:
        yield changed
    finally:
        if changed:
            _HEAP_BLOCKS[0] -= 1
            for param, value in _GLIBC_SETTLED.items():
                libc.mallopt(param, ctypes.c_int(value))
            libc.malloc_trim(ctypes.c_size_t(0))  # give the kept memory back


def per_unit_size(unit: pm.Model) -> int:
    """Number of independent observation units (values of the observed variables).

    Parameters
    ----------
    unit : pymc.Model
        A model's per-unit (per-patient) form (:func:`per_unit_model`).

    Returns
    -------
    int
        Total size of the observed variables.
    """
    total = 0
    for rv in unit.observed_RVs:
        value = unit.rvs_to_values[rv]
        data = value.get_value() if hasattr(value, "get_value") else getattr(value, "data", None)
        total += np.size(value.eval() if data is None else data)
    return int(total)


def check_memory(what: str, *, values: int, budget: int | None = None,
                 hint: str = "") -> None:
    """Raise :class:`~bayes_hte.errors.MemoryBudgetError` before building an array of
    ``values`` float64 numbers that would not fit in memory.

    Parameters
    ----------
    what : str
        The output, as the message names it, e.g. ``"log_likelihood (4 chains x 1000
        draws x 1,000,000 patients)"``.
    values : int
        Number of float64 values (8 bytes each); twice that must be available (the
        array and one working copy).
    budget : int, optional
        Bytes allowed; default :func:`available_memory`.
    hint : str
        What to ask for instead, appended to the message.

    Raises
    ------
    MemoryBudgetError
        ``2 x 8 x values`` exceeds ``budget``.
    """
    need = 16 * int(values)
    budget = available_memory() if budget is None else int(budget)
    if need > budget:
        raise MemoryBudgetError(
            f"{what} needs {8 * values / 1e9:.1f} GB (x2 while it is built) but "
            f"{budget / 1e9:.1f} GB of memory are available. {hint}".rstrip())


def _keep_per_unit(flag: bool | str, name: str, *, values: int, units: int, chains: int,
                   draws: int) -> bool:
    """Resolve ``"auto"`` for a per-draw x per-unit group; check an explicit ``True``."""
    if flag not in (True, False, "auto"):
        raise ValueError(f"{name} must be True, False or 'auto', got {flag!r}")
    what = f"{name} ({chains} chains x {draws} draws x {units:,} units)"
    if flag == "auto":
        if 8 * values <= PER_UNIT_BUDGET:
            return True
        warnings.warn(
            f"{what} not kept: {8 * values / 1e9:.2f} GB exceeds the "
            f"{PER_UNIT_BUDGET / 1e9:.2f} GB default budget "
            f"(bayes_hte.inference.PER_UNIT_BUDGET). Pass {name}=True to keep it anyway "
            f"(checked against the memory available), or refit with fewer draws.",
            MemoryBudgetWarning, stacklevel=3)
        return False
    if flag:
        check_memory(what, values=values,
                     hint=f"Pass {name}=False, or fewer chains or draws.")
    return bool(flag)


#: nutpie models compiled in this process, by :func:`structure_key` (at most
#: :data:`MAX_COMPILED` kept, oldest dropped first).
_COMPILED: dict[str, object] = {}
MAX_COMPILED = 32


def structure_key(model: pm.Model) -> str:
    """A key equal for two models whose log density is the same function of the same
    free variables and data containers: the printed graph of the log density (names
    of the ``pm.Data`` inputs included; its gradient is a function of it), a hash of
    every constant in it (prior parameters, fixed sizes) and the lengths of the parameters' dims
    (trials, covariates, arms); the length of a dim only data have (patients) may
    differ.

    Parameters
    ----------
    model : pymc.Model
        Any model.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    from pytensor.graph.traversal import ancestors
    from pytensor.printing import debugprint
    from pytensor.tensor.variable import TensorConstant

    outputs = [model.logp()]
    digest = hashlib.sha256(debugprint(outputs, file="str", print_type=True).encode())
    for var in ancestors(outputs):
        if isinstance(var, TensorConstant):
            data = np.asarray(var.data)
            digest.update(f"{data.dtype}{data.shape}".encode())
            digest.update(np.ascontiguousarray(data).tobytes())
    # the lengths of the parameters' dims are shared variables (not constants) in PyMC:
    # hash them; a data-only dim (patients) may differ between the fits
    dims = {dim for var in (*model.free_RVs, *model.deterministics)
            for dim in (model.named_vars_to_dims.get(var.name) or ()) if dim is not None}
    for dim in sorted(dims):
        length = model.dim_lengths[dim]
        value = length.get_value() if hasattr(length, "get_value") else length.eval()
        digest.update(f"{dim}={int(value)}".encode())
    return digest.hexdigest()


#: LLVM optimisation level numba uses while nutpie compiles a log density (numba's own
#: default is 3). Measured on the demo job with empty caches: level 1 compiles the 20
#: log densities 22 s faster (5 min 54 s against 6 min 16.5 s for the whole job) with
#: the same gradient cost (FS-S 139 against 142 microseconds); level 0 made each
#: gradient 8-17x dearer (``docs/performance.md``). A ``NUMBA_OPT`` set in the
#: environment wins.
NUTPIE_NUMBA_OPT = 1


@contextlib.contextmanager
def numba_opt_level(level: int | None) -> Iterator[None]:
    """Within the block, numba optimises new code at LLVM level ``level``.

    numba reads ``numba.core.config.OPT`` each time it builds a pass manager, so the
    level holds for every function compiled inside the block; the previous level is
    restored on exit. Does nothing when the user set ``NUMBA_OPT`` in the environment
    or ``level`` is None.

    Parameters
    ----------
    level : int or None
        0-3, as ``NUMBA_OPT``; None leaves numba's level alone.

    Yields
    ------
    None
        Control, with the level set, until the block ends.
    """
    if level is None or "NUMBA_OPT" in os.environ:
        yield
        return
    from numba.core import config

    before = config.OPT
    config.OPT = config._OptLevel(level)
    try:
        yield
    finally:
        config.OPT = before


#: PyTensor's ``numba__fastmath`` while :func:`fit` samples and :func:`compile_nutpie`
#: compiles: off, so a seed gives the same draws whether the log density was compiled
#: in the process or loaded from the compilation cache. With fastmath's reassociation
#: and contraction, numba optimises nutpie's callback together with the log density it
#: calls only when it compiles both in one process, and the code — and, for the fully
#: stratified models, the last bit of a few gradient entries — then depends on the
#: cache's state (``docs/performance.md``, item 18). A ``numba__fastmath`` named in
#: ``PYTENSOR_FLAGS`` wins.
NUTPIE_NUMBA_FASTMATH = False


@contextlib.contextmanager
def numba_fastmath(flag: bool | None) -> Iterator[None]:
    """Within the block, PyTensor compiles numba code with ``numba__fastmath=flag``.

    PyTensor reads the flag when it generates each numba function and keys its
    compilation cache on it, so code compiled with either setting is never loaded for
    the other. Does nothing when ``PYTENSOR_FLAGS`` names ``numba__fastmath`` or
    ``flag`` is None; the previous setting is restored on exit.

    Parameters
    ----------
    flag : bool or None
        The setting inside the block; None leaves PyTensor's alone.

    Yields
    ------
    None
        Control, with the setting in force, until the block ends.
    """
    if flag is None or "numba__fastmath" in os.environ.get("PYTENSOR_FLAGS", ""):
        yield
        return
    with pytensor.config.change_flags(numba__fastmath=flag):
        yield


@contextlib.contextmanager
def nutpie_numba_settings() -> Iterator[None]:
    """Within the block, nutpie's numba compilation uses the package's settings: numba
    level :data:`NUTPIE_NUMBA_OPT`, fastmath :data:`NUTPIE_NUMBA_FASTMATH` and the
    straight-line data read of the callbacks
    (:func:`bayes_hte.nutpie_callbacks.straight_line_extraction`); each yields to a
    setting the user made in the environment, as documented there.

    Yields
    ------
    None
        Control, with the settings in force, until the block ends.
    """
    with (numba_opt_level(NUTPIE_NUMBA_OPT), numba_fastmath(NUTPIE_NUMBA_FASTMATH),
          straight_line_extraction()):
        yield


def compile_nutpie(model: pm.Model):
    """``nutpie.compile_pymc_model(model, backend="numba")`` at numba optimisation level
    :data:`NUTPIE_NUMBA_OPT`, with fastmath :data:`NUTPIE_NUMBA_FASTMATH`, its callbacks
    reading the data containers by straight-line code
    (:func:`bayes_hte.nutpie_callbacks.straight_line_extraction`).

    Parameters
    ----------
    model : pymc.Model
        The model to compile.

    Returns
    -------
    nutpie.compiled_pyfunc / CompiledPyMCModel
        nutpie's compiled model.
    """
    import nutpie

    with nutpie_numba_settings():
        return nutpie.compile_pymc_model(model, backend="numba")


def _sample_nutpie_reused(model: pm.Model, *, draws: int, tune: int, chains: int, cores: int,
                          random_seed: int | None, progressbar: bool,
                          nuts_kwargs: dict) -> xr.DataTree:
    """``pm.sample(nuts_sampler="nutpie")`` with the compiled model reused by structure."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.util import get_random_generator

    key = structure_key(model)
    compiled = _COMPILED.pop(key, None)
    if compiled is None:
        compiled = compile_nutpie(model)
    _COMPILED[key] = compiled  # most recently used last
    while len(_COMPILED) > MAX_COMPILED:
        _COMPILED.pop(next(iter(_COMPILED)))
    names = {var.name for var in compiled.shared_var_keys}
    compiled = compiled.with_data(**{name: model[name].get_value() for name in names})
    seed = int(get_random_generator(random_seed).spawn(chains)[0].integers(2**30))
    start = time.time()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains,
                          cores=cores, seed=seed, save_warmup=False, progress_bar=progressbar,
                          **nuts_kwargs)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - start)
    # the compiled model carries the coordinates of the fit it was compiled for
    for group in ("posterior", "sample_stats"):
        ds = idata[group].to_dataset()
        fix = {dim: list(model.coords[dim]) for dim in ds.dims
               if dim in model.coords and model.coords[dim] is not None}
        idata[group] = xr.DataTree(ds.assign_coords(fix))
    return idata


#: Posterior attribute holding the sampler settings a fit used (JSON: ``sampler``,
#: ``target_accept``, ``mass_matrix``; :meth:`bayes_hte.IPDMetaModel.fit` adds
#: ``intercept_form``), written by :func:`fit`; read by
#: :func:`bayes_hte.diagnostics.sampler_settings`.
ATTR_SAMPLING = "bayes_hte_sampling"
#: NUTS's target acceptance when none is given (PyMC's and nutpie's default).
DEFAULT_NUTS_TARGET_ACCEPT = 0.8


def fit(
    model: pm.Model,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: Sampler | None = None,
    target_accept: float | None = None,
    mass_matrix: MassMatrixKind = "diag",
    log_likelihood: bool | str = True,
    posterior_predictive: bool | str = True,
    progressbar: bool = False,
    cores: int | None = None,
    reuse_compiled: bool = False,
) -> xr.DataTree:
    """Sample a model's posterior with NUTS and return ArviZ data.

    Parameters
    ----------
    model : pymc.Model
        Built by one of the factories in :mod:`bayes_hte.models`.
    draws, tune, chains : int
        Kept draws per chain, tuning steps per chain, number of chains.
    random_seed : int, optional
        Seed for the sampler and for the posterior predictive draws. The draws for a
        seed repeat on one machine, in any process, whether the log density is compiled
        afresh or loaded from the compilation caches: the log density is compiled
        without fastmath (:data:`NUTPIE_NUMBA_FASTMATH`; ``docs/performance.md``,
        item 18).
    sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
        NUTS implementation; default nutpie (log density compiled with numba) when
        installed. ``"nutpie_jax"`` is nutpie with the log density and its gradient
        compiled by JAX (optional extra ``bayes_hte[jax]``): the same posterior, for
        machines with a GPU (on this project's 2-core CPU it is slower:
        ``docs/performance.md``).
    target_accept : float, optional
        Target acceptance rate (raise towards 0.95 if divergences appear).
    mass_matrix : {"diag", "low_rank"}
        Mass matrix adapted during tuning. ``"low_rank"`` (nutpie only) adds a low-rank
        correction learned from draws and gradients (nutpie's
        ``low_rank_modified_mass_matrix``): it removes strong linear correlations, such
        as that of a pooled intercept with its non-centred trial offsets.
    log_likelihood, posterior_predictive : bool or "auto"
        Add the ``log_likelihood`` group (for LOO; :func:`pointwise_log_likelihood`, one
        value per independent observation unit) and the ``posterior_predictive`` group
        (for checks) to the result. A model whose observed density has no random
        generator (the censored time-to-event likelihood) gets no
        ``posterior_predictive`` group, with a ``UserWarning`` saying so. A model whose
        patients were pooled into cells (:mod:`bayes_hte.models.reduction`) gets both
        groups from its per-patient form (:func:`~bayes_hte.models.reduction.per_unit_model`),
        one value per patient, at its own posterior draws. Each is a float64 array of
        chains x draws x units: ``"auto"`` keeps it when that is at most
        :data:`PER_UNIT_BUDGET` bytes (2 GiB) and otherwise leaves it out with a
        :class:`~bayes_hte.errors.MemoryBudgetWarning`; ``True`` keeps it, after
        checking (before sampling) that it fits in the memory available.
    progressbar : bool
        Show the sampler's progress bar.
    cores : int, optional
        Chains run in parallel; default ``min(chains, 2)`` (the machines this runs on
        are small; raise it on a larger one).
    reuse_compiled : bool
        nutpie only: reuse the model compiled for an earlier fit in this process whose
        log density is the same graph with the same constants — only the data
        (``pm.Data``) differ, e.g. the folds of a leave-one-trial-out validation, whose
        trials all have the same number of parameters — swapping the new data in
        (nutpie's ``with_data``) instead of compiling again (:func:`structure_key`).
        The draws are those of a fresh compilation with the same seed.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``
        and, as requested, ``log_likelihood`` and ``posterior_predictive``; posterior
        variables have dims (chain, draw, ...) with the model's own dims after. The
        posterior's attrs hold ``bayes_hte_data_reduction`` (JSON: the form of the
        likelihood, ``model.bayes_hte["data_reduction"]``) when the model records it.

    Raises
    ------
    ValueError
        An unknown ``sampler`` or ``mass_matrix``, ``mass_matrix="low_rank"`` with
        PyMC's sampler, ``draws``, ``chains`` or ``cores`` not an integer >= 1, ``tune``
        or ``random_seed`` not an integer >= 0, or ``target_accept`` outside (0, 1)
        (:func:`bayes_hte.options.check_sampler_settings`); raised before anything is
        compiled.
    MemoryBudgetError
        ``log_likelihood=True`` or ``posterior_predictive=True`` asks for an array
        that would not fit in the memory available (raised before sampling).
    """
    check_sampler_settings({"draws": draws, "tune": tune, "chains": chains,
                            "random_seed": random_seed, "target_accept": target_accept})
    if cores is not None:
        check_count("cores", cores, low=1)
    sampler = resolve_sampler(sampler)
    if log_likelihood or posterior_predictive:
        unit = per_unit_model(model)  # the per-patient form of a reduced model
        units = per_unit_size(unit)
        size = dict(values=units * chains * draws, units=units, chains=chains, draws=draws)
        log_likelihood = _keep_per_unit(log_likelihood, "log_likelihood", **size)
        posterior_predictive = _keep_per_unit(posterior_predictive, "posterior_predictive",
                                              **size)
    kwargs: dict = {}
    if target_accept is not None:
        kwargs["target_accept"] = target_accept
    if mass_matrix not in ("diag", "low_rank"):
        raise ValueError(f"mass_matrix must be 'diag' or 'low_rank', got {mass_matrix!r}")
    if mass_matrix == "low_rank":
        if sampler not in LOW_RANK_SAMPLERS:
            raise ValueError("mass_matrix='low_rank' needs sampler='nutpie' or 'nutpie_jax'")
        kwargs["nuts_sampler_kwargs"] = {"low_rank_modified_mass_matrix": True}
    with model, warnings.catch_warnings(), numba_fastmath(NUTPIE_NUMBA_FASTMATH):
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*number of samples is too small.*")
        if reuse_compiled and sampler == "nutpie":
            idata = _sample_nutpie_reused(
                model, draws=draws, tune=tune, chains=chains, cores=cores or min(chains, 2),
                random_seed=random_seed, progressbar=progressbar,
                nuts_kwargs={**kwargs.pop("nuts_sampler_kwargs", {}), **kwargs})
        else:
            if sampler == "nutpie_jax":
                register_jax()  # the logit likelihoods' own scalar operations
                kwargs |= {"backend": "jax", "compile_kwargs": {"gradient_backend": "jax"}}
            with (nutpie_numba_settings() if sampler == "nutpie"
                  else contextlib.nullcontext()):
                idata = pm.sample(
                    draws=draws, tune=tune, chains=chains, cores=cores or min(chains, 2),
                    random_seed=random_seed, progressbar=progressbar,
                    nuts_sampler="nutpie" if sampler == "nutpie_jax" else sampler,
                    compute_convergence_checks=False, **kwargs,
                )
        idata["posterior"].attrs[ATTR_SAMPLING] = json.dumps(
            {"sampler": sampler, "mass_matrix": mass_matrix,
             "target_accept": DEFAULT_NUTS_TARGET_ACCEPT if target_accept is None
             else float(target_accept)})
        reduction = (getattr(model, "bayes_hte", None) or {}).get("data_reduction")
        if reduction is not None:
            idata["posterior"].attrs["bayes_hte_data_reduction"] = json.dumps(reduction)
        if log_likelihood:
            idata["log_likelihood"] = xr.DataTree(pointwise_log_likelihood(idata, model))
        if posterior_predictive:
            # every free variable is in the posterior, so none is drawn from its prior
            # and PyMC's warning that potentials are ignored does not apply (the
            # partially centred and anchored intercepts are written with potentials)
            warnings.filterwarnings("ignore", message="The effect of Potentials on other "
                                    "parameters is ignored", category=UserWarning)
            # PyMC logs "Sampling: [y]" (the observed variables it draws) at INFO: after
            # every fit that read as if the outcome itself were being sampled
            forward_log = logging.getLogger("pymc.sampling.forward")
            level = forward_log.level
            forward_log.setLevel(logging.WARNING)
            try:
                pp = pm.sample_posterior_predictive(
                    idata, model=unit, extend_inferencedata=unit is model,
                    progressbar=False,
                    compile_kwargs={"mode": helper_mode(units, outputs=unit.observed_RVs)},
                    random_seed=None if random_seed is None else random_seed + 1,
                )
                if unit is not model:  # keep the data groups of the model sampled
                    idata["posterior_predictive"] = pp["posterior_predictive"]
            except NotImplementedError as err:
                # e.g. the censored proportional-hazards density has no generator
                first = str(err).strip().splitlines()[0]
                warnings.warn(f"posterior_predictive group not added: the model cannot "
                              f"simulate its observed data ({first})", UserWarning,
                              stacklevel=2)
            finally:
                forward_log.setLevel(level)
    return idata


def pointwise_log_likelihood(idata: xr.DataTree, model: pm.Model) -> xr.Dataset:
    """Log likelihood of every observation at every draw (the ``log_likelihood`` group).

    Evaluates the model's element-wise observed log density at the posterior draws,
    matching inputs to the free random variables by name. (PyMC 6.4's
    ``compute_log_likelihood`` mis-names the value variable of ``LKJCorr`` after
    removing transforms and fails on models that contain it.)

    Parameters
    ----------
    idata : xarray.DataTree
        Result of sampling ``model`` (its ``posterior`` group is read).
    model : pymc.Model
        The model that was sampled.

    Returns
    -------
    xarray.Dataset
        One variable per observed variable of the model (e.g. ``y`` or ``time``) with
        dims (chain, draw, <the observed variable's dims>, e.g. patient): the log
        density (natural log) of each observation, for PSIS-LOO / WAIC. A
        multivariate node (MvNormal, Multinomial, a custom vector density) has one value
        per vector: its trailing support dims are dropped (e.g. ``beta_hat`` (study,
        coef) gives dims (chain, draw, study); a single Multinomial vector, (chain,
        draw)). A model that pads a vector with constants to vectorise its density
        declares the constant per unit in ``model.bayes_hte["log_likelihood_offset"]``
        (``{observed name: array of the unit dims}``, added here), so each value is the
        exact density of the unit's data (e.g. the reported components of a study in
        :func:`bayes_hte.models.synthesis_multivariate.build_mvmeta_model`). A model
        whose patients were pooled into cells is evaluated in its per-patient form
        (:func:`bayes_hte.models.reduction.per_unit_model`): ``y`` or ``time`` per
        patient, as without the reduction.
    """
    from pymc.model.transform.conditioning import remove_value_transforms

    model = per_unit_model(model)

    umodel = remove_value_transforms(model)
    free = list(umodel.free_RVs)
    observed = list(umodel.observed_RVs)
    units = per_unit_size(model)
    outs = umodel.logp(vars=observed, sum=False)
    if units <= FAST_COMPILE_MAX_UNITS:
        outs = numpy_evaluable(outs)
    fn = umodel.compile_fn(
        inputs=[umodel.rvs_to_values[rv] for rv in free], outs=outs,
        on_unused_input="ignore", point_fn=False, mode=helper_mode(units, outputs=outs),
    )
    post = idata["posterior"]
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    values = [post[rv.name].values for rv in free]
    dtypes = [umodel.rvs_to_values[rv].type.dtype for rv in free]
    out = None
    for c in range(n_chain):
        for d in range(n_draw):
            res = fn(*[v[c, d].astype(t, copy=False) for v, t in zip(values, dtypes,
                                                                     strict=True)])
            if out is None:
                out = [np.empty((n_chain, n_draw, *np.shape(r))) for r in res]
            for o, r in zip(out, res, strict=True):
                o[c, d] = r
    data_vars = {}
    coords = {"chain": post["chain"].values, "draw": post["draw"].values}
    offsets = getattr(model, "bayes_hte", {}).get("log_likelihood_offset", {})
    for rv, arr in zip(observed, out, strict=True):
        if rv.name in offsets:  # a padding constant of the model's density
            arr = arr + np.asarray(offsets[rv.name], dtype=float)
        # a multivariate node (MvNormal, Multinomial, ...) has one density per vector:
        # its trailing (support) dims are not dims of the log likelihood
        dims = tuple(model.named_vars_to_dims.get(rv.name, ()))[: arr.ndim - 2]
        dims += tuple(f"{rv.name}_dim_{i}" for i in range(len(dims), arr.ndim - 2))
        data_vars[rv.name] = (("chain", "draw", *dims), arr)
        for dim in dims:
            if dim in model.coords:
                coords[dim] = np.asarray(model.coords[dim])
    return xr.Dataset(data_vars, coords=coords)


def divergences(idata: xr.DataTree) -> int:
    """Number of divergent transitions after tuning.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit (its ``sample_stats`` group is read).

    Returns
    -------
    int
        Divergent transitions summed over chains and draws; 0 when the sampler does not
        report them.
    """
    stats = idata["sample_stats"]
    name = "diverging" if "diverging" in stats else None
    if name is None:
        return 0
    return int(np.asarray(stats[name]).sum())
