"""``inference.large_arrays_on_heap``: large arrays from glibc's heap inside the block.

Checked with glibc's own count of memory-mapped chunks (``mallinfo2().hblks``): a 48 MB
array is mapped (above glibc's largest dynamic threshold, 32 MiB) outside the block and
comes from the heap inside it; a ``MALLOC_*_`` variable the process was started with
switches the block off (one put into ``os.environ`` later, as Dask's nanny does, not);
nested blocks keep the setting until the outermost one ends. Where the block is used
(``bayes-hte run``'s tables, its second process, the IECV scoring) the outputs are
those of the tests of those steps.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

from bayes_hte import inference
from bayes_hte.inference import large_arrays_on_heap


def _libc():
    lib = inference._glibc()
    if lib is None or not hasattr(lib, "mallinfo2"):
        pytest.skip("not glibc >= 2.33 (mallinfo2)")
    if inference._malloc_configured_at_startup():
        pytest.skip("this process was started with glibc's malloc configured")
    lib.mallinfo2.restype = inference._mallinfo2_type()
    return lib


def _mapped_by(nbytes: int = 48 << 20) -> int:
    """How many memory-mapped chunks a live array of ``nbytes`` adds."""
    libc = _libc()
    libc.malloc_trim(ctypes.c_size_t(0))  # no free memory at the heap's top to serve it
    before = libc.mallinfo2().hblks
    arr = np.empty(nbytes // 8)
    arr[::512] = 1.0
    added = libc.mallinfo2().hblks - before
    del arr
    return int(added)


def test_large_array_comes_from_the_heap_inside_the_block_only():
    assert _mapped_by() == 1
    with large_arrays_on_heap() as changed:
        assert changed is True
        assert _mapped_by() == 0
        assert _mapped_by(200 << 20) == 0
    assert _mapped_by() == 1


def test_threshold_bounds_what_comes_from_the_heap():
    with large_arrays_on_heap(threshold=8 << 20):
        assert _mapped_by(4 << 20) == 0
        assert _mapped_by(48 << 20) == 1


def test_nested_blocks_keep_the_setting_until_the_outermost_ends():
    _libc()
    with large_arrays_on_heap():
        with large_arrays_on_heap() as inner:
            assert inner is True
        assert _mapped_by() == 0
    assert _mapped_by() == 1


@pytest.mark.parametrize("env", ["MALLOC_MMAP_THRESHOLD_=1048576",
                                 "MALLOC_TRIM_THRESHOLD_=1048576",
                                 "GLIBC_TUNABLES=glibc.malloc.trim_threshold=1048576"])
def test_a_users_malloc_environment_wins(env):
    _libc()
    name, value = env.split("=", 1)
    code = ("from bayes_hte.inference import large_arrays_on_heap\n"
            "with large_arrays_on_heap() as changed:\n    print(changed)\n")
    out = subprocess.run([sys.executable, "-c", code], env=os.environ | {name: value},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_variable_set_after_startup_does_not_count(monkeypatch):
    _libc()
    # Dask's nanny puts MALLOC_TRIM_THRESHOLD_ into os.environ for the workers it spawns;
    # glibc read this process's settings at its start
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with large_arrays_on_heap() as changed:
        assert changed is True
        assert _mapped_by() == 0


def test_memory_kept_inside_the_block_is_given_back_at_its_end():
    libc = _libc()
    # relative to the free memory glibc already holds (a long process has fragments),
    # after giving back what sits at the top of the heap
    libc.malloc_trim(ctypes.c_size_t(0))
    before = libc.mallinfo2().fordblks
    with large_arrays_on_heap():
        arr = np.ones(300 << 17)  # 300 MiB from the heap, then freed: kept
        del arr
        assert libc.mallinfo2().fordblks - before >= 300 << 20
    assert libc.mallinfo2().fordblks - before < 32 << 20


def test_available_memory_counts_the_memory_kept_for_reuse():
    import psutil

    from bayes_hte.inference import available_memory

    _libc()
    with large_arrays_on_heap():
        arr = np.ones(300 << 17)
        del arr
        kept = available_memory() - psutil.virtual_memory().available
        assert kept >= 250 << 20
    assert inference._kept_heap_bytes() == 0  # outside a block: psutil's figure alone
