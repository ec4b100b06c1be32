"""nutpie's numba callbacks, built with the shared data read by straight-line code.

nutpie compiles a PyMC model's log density (and its "expand" function) into C callbacks
with ``numba.cfunc``. Each callback first reads the model's data containers (PyTensor
shared variables: the design matrix, the outcome, the trial index) from nutpie's
user-data record and passes them to the compiled PyTensor function. nutpie 0.16 writes
that read as a loop over the containers with numba's ``literal_unroll``; numba's
``LiteralUnroll`` pass, with the re-typing it sets off, was the largest part of the
callback's compilation when the log density itself was already compiled. The callback
is never cached (it closes over the compiled model), so every compilation paid it,
including those that load the log density from the compilation caches: the demo's 10
models compiled in 0.84 of the time with empty caches and 0.69 with filled ones
(``docs/performance.md``, item 19).

:func:`make_extraction_fn` builds the same read as generated straight-line code, one
statement per container, reading the same record fields and giving the PyTensor
function the same arrays; the callbacks compute the same log densities and gradients
bit for bit, and the draws are the same (tested). :func:`straight_line_extraction`
installs it in nutpie for the length of a block, and leaves nutpie alone when its
internals are not the ones this was written against.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

#: The parameters of ``nutpie.compile_pymc.make_extraction_fn`` this replaces (nutpie
#: 0.16); with any other signature nutpie's own is used.
NUTPIE_SIGNATURE = ("inner", "shared_data", "shared_var_keys", "record_dtype")

#: Whether :func:`straight_line_extraction` replaces nutpie's function (False: nutpie's
#: own loop, e.g. to measure the difference, ``benchmarks/bench_nutpie_callbacks.py``).
STRAIGHT_LINE_READ = True

#: The fields of nutpie's user-data record that the generated code reads.
RECORD_FIELDS = ("data", "size", "shape")

_LOCK = threading.RLock()


def _record_ok(record_dtype: np.dtype, keys: Sequence[str]) -> bool:
    """Whether nutpie's user-data record has the layout the generated code reads:
    ``shared.{data,size,shape}.<key>`` for every key."""
    try:
        shared = record_dtype["shared"]
        return all(key in shared[field].names for field in RECORD_FIELDS for key in keys)
    except (KeyError, TypeError):
        return False


def make_extraction_fn(inner: Callable, shared_data: Mapping[str, np.ndarray],
                       shared_var_keys: Sequence[str], record_dtype: np.dtype,
                       *, fallback: Callable | None = None) -> Callable:
    """A numba function ``extract(x, user_data_ptr)`` returning ``inner(x, *data)``,
    with each data container read from nutpie's user-data record by its own statement.

    For the container stored under key ``k`` (array of ``ndim`` dimensions), the record
    holds its address (``shared.data.k``), its number of elements (``shared.size.k``)
    and its shape (``shared.shape.k``, ``ndim`` unsigned integers), which nutpie updates
    when the data are swapped (``with_data``): the generated code views those elements
    (``numba.carray``) and reshapes them to that shape, as nutpie's own function does.

    Parameters
    ----------
    inner : numba dispatcher
        The compiled PyTensor function, called as ``inner(x, *data)`` with the
        containers in the order of ``shared_var_keys``.
    shared_data : mapping of str to numpy.ndarray
        The containers' current values by key (for their dtype and number of
        dimensions).
    shared_var_keys : sequence of str
        The keys of the containers ``inner`` takes, in its argument order.
    record_dtype : numpy.dtype
        The dtype of nutpie's user-data record.
    fallback : callable, optional
        nutpie's own function, used when there are no containers or the record does not
        have the layout above.

    Returns
    -------
    numba dispatcher
        ``extract(x, user_data_ptr)``, inlined into the callback (``inline="always"``).
    """
    import numba

    keys = list(shared_var_keys)
    if (not keys or not _record_ok(record_dtype, keys)) and fallback is not None:
        return fallback(inner, shared_data, shared_var_keys, record_dtype)
    from nutpie.compile_pymc import address_as_void_pointer

    namespace = {"numba": numba, "inner": inner, "record_dtype": record_dtype,
                 "address": address_as_void_pointer}
    lines = ["def extract_shared(x, user_data_):",
             "    shared = numba.carray(user_data_, (), record_dtype)['shared']"]
    for i, key in enumerate(keys):
        value = np.asarray(shared_data[key])
        namespace[f"dtype{i}"] = value.dtype
        lines.append(f"    d{i} = numba.carray(address(shared['data'][{key!r}][()]), "
                     f"int(shared['size'][{key!r}][()]), dtype{i})")
        if value.ndim == 0:
            lines.append(f"    d{i} = d{i}.reshape(())")
        else:
            lines.append(f"    s{i} = shared['shape'][{key!r}]")
            shape = ", ".join(f"int(s{i}[{j}])" for j in range(value.ndim))
            lines.append(f"    d{i} = d{i}.reshape(({shape},))")
    arguments = ", ".join(f"d{i}" for i in range(len(keys)))
    lines.append(f"    return inner(x, {arguments})" if keys else "    return inner(x)")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the keys above
    return numba.njit(inline="always")(namespace["extract_shared"])


@contextlib.contextmanager
def straight_line_extraction() -> Iterator[bool]:
    """Within the block, nutpie builds its numba callbacks with :func:`make_extraction_fn`.

    Replaces ``nutpie.compile_pymc.make_extraction_fn`` for the length of the block
    (under a lock; nutpie's own is restored on exit, also on error). Does nothing when
    :data:`STRAIGHT_LINE_READ` is False, nutpie has no such function or its parameters
    are not :data:`NUTPIE_SIGNATURE`.

    Yields
    ------
    bool
        True if nutpie's function was replaced in the block.
    """
    if not STRAIGHT_LINE_READ:
        yield False
        return
    try:
        from nutpie import compile_pymc
    except ImportError:
        yield False
        return
    own = getattr(compile_pymc, "make_extraction_fn", None)
    try:
        params = tuple(inspect.signature(own).parameters) if own is not None else ()
    except (TypeError, ValueError):
        params = ()
    if getattr(own, "_bayes_hte", False):  # a block around this one replaced it
        yield True
        return
    if params != NUTPIE_SIGNATURE or not hasattr(compile_pymc, "address_as_void_pointer"):
        yield False
        return

    def replacement(inner, shared_data, shared_var_keys, record_dtype):
        return make_extraction_fn(inner, shared_data, shared_var_keys, record_dtype,
                                  fallback=own)

    replacement._bayes_hte = True
    with _LOCK:
        compile_pymc.make_extraction_fn = replacement
        try:
            yield True
        finally:
            compile_pymc.make_extraction_fn = own
