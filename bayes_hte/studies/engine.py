"""Run a simulation study: in process, or on a Dask cluster, streaming results to a store.

A *task* is one scenario and one replicate (or up to ``chunk`` consecutive replicates of
one scenario): each replicate's data set is generated once with its own generator
(:mod:`bayes_hte.studies.design`, *Seeds*) and every method is fitted to it. Tasks are
issued replicate-major (replicate 0 of every scenario, then replicate 1, ...), so a
partial run covers all scenarios. Results stream back as tasks finish and each finished
task is written to the store at once as one part (:mod:`bayes_hte.studies.store`); a
rerun on the same store skips the finished (scenario, replicate) keys.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from bayes_hte.options import check_count
from bayes_hte.studies.design import COLUMNS, VALUE_KEYS, Study, _rng
from bayes_hte.studies.result import StudyResult
from bayes_hte.studies.store import _assemble, _open_store, _read_parts, _table, _write_part

#: Seconds between two plain progress lines (when tqdm is not installed).
PLAIN_PROGRESS_INTERVAL = 5.0


# ----------------------------------------------------------------------------- one task
def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _number(value: Any, *, what: str) -> float:
    """A method's or truth's value as a float: a real number (None: NaN); text ("1.0")
    and bools are refused, not read as numbers."""
    if value is None:
        return math.nan
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise ValueError(f"{what} is not a scalar (shape {arr.shape})")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{what} must be a real number, got {value!r}")
    return float(arr)


def _method_rows(out: Any, truth: Mapping[str, float]) -> list[tuple]:
    """(estimand, truth, estimate, se, ci_low, ci_high) of one method's output."""
    if not isinstance(out, Mapping):
        raise TypeError(f"the method returned {type(out).__name__}, not a dict "
                        "{estimand: {'estimate', 'se', 'ci_low', 'ci_high'}}")
    if not out:
        raise ValueError("the method returned no estimand")
    rows = []
    for estimand, values in out.items():
        if not isinstance(estimand, str) or not estimand:
            raise ValueError(f"estimand names must be non-empty strings, got {estimand!r}")
        if not isinstance(values, Mapping):
            raise TypeError(f"estimand {estimand!r}: got {type(values).__name__}, not a dict "
                            "of 'estimate', 'se', 'ci_low', 'ci_high'")
        extra = sorted(set(values) - set(VALUE_KEYS))
        if extra:
            raise ValueError(f"estimand {estimand!r}: unknown keys {extra} "
                             f"(allowed: {list(VALUE_KEYS)})")
        nums = {k: _number(values.get(k), what=f"{estimand!r} {k}") for k in VALUE_KEYS}
        if nums["se"] < 0:  # NaN compares False: a missing se is not an error
            raise ValueError(f"estimand {estimand!r}: se is negative ({nums['se']!r})")
        if nums["ci_low"] > nums["ci_high"]:
            raise ValueError(f"estimand {estimand!r}: ci_low {nums['ci_low']!r} is above "
                             f"ci_high {nums['ci_high']!r}")
        rows.append((estimand, truth.get(estimand, math.nan), *nums.values()))
    return rows


def _empty_columns() -> dict[str, list]:
    return {c: [] for c in COLUMNS}


def _append(cols: dict[str, list], s: int, r: int, method: str, row: tuple,
            seconds: float, error: str) -> None:
    for key, value in zip(COLUMNS, (s, r, method, *row, seconds, error), strict=True):
        cols[key].append(value)


def _truth_values(value: Any, *, where: str) -> dict[str, float]:
    """A truth's ``{estimand: float}``, checked."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} returned {type(value).__name__}, not a dict "
                         "{estimand: float}")
    return {str(k): _number(v, what=f"truth {k!r}") for k, v in value.items()}


def _run_replicates(generate: Callable, methods: Sequence[tuple[str, Callable]],
                    scenario: Mapping[str, Any], s: int, replicates: Sequence[int],
                    seed: int, truth: Mapping[str, float] | Callable[..., Any]
                    ) -> list[tuple[int, int, dict]]:
    """Run one task: ``[(s, r, columns)]`` for each replicate ``r`` (on a worker or here).

    ``truth`` is the scenario's ``{estimand: float}``, or the study's ``truth`` callable
    when it reads the data (called as ``truth(data=data, **scenario)`` per replicate).
    Never raises for an exception of ``generate``, of a data-dependent truth or of a
    method: it becomes an error row.
    """
    nan_row = ("", math.nan, math.nan, math.nan, math.nan, math.nan)
    out = []
    for r in replicates:
        cols = _empty_columns()
        where = "generate"
        try:
            data = generate(_rng(seed, s, r), **scenario)
            where = "truth"
            values = (_truth_values(truth(data=copy.deepcopy(data), **scenario),
                                    where="truth(data=...)")
                      if callable(truth) else truth)
        except Exception as exc:  # recorded, never fatal
            for name, _ in methods:
                _append(cols, s, r, name, nan_row, math.nan, f"{where}: {_error_text(exc)}")
            out.append((s, r, cols))
            continue
        for k, (name, method) in enumerate(methods):
            t0 = time.perf_counter()
            try:
                # each method gets the data as generated, whatever an earlier one did to it
                own = data if k == len(methods) - 1 else copy.deepcopy(data)
                rows = _method_rows(method(own), values)
            except Exception as exc:  # recorded, never fatal
                _append(cols, s, r, name, nan_row, time.perf_counter() - t0, _error_text(exc))
                continue
            seconds = time.perf_counter() - t0
            for row in rows:
                _append(cols, s, r, name, row, seconds, "")
        out.append((s, r, cols))
    return out


# ----------------------------------------------------------------------------- progress
class _Progress:
    """done / total replicates and the time left: tqdm when installed, else plain lines."""

    def __init__(self, *, name: str, total: int, done: int, enabled: bool) -> None:
        self.name, self.total, self.done, self.start = name, total, done, done
        self.t0 = self.last = time.monotonic()
        self.bar = None
        self.enabled = enabled and total > done
        if not self.enabled:
            return
        try:
            from tqdm.std import tqdm
        except ImportError:
            print(f"{name}: {total - done} replicates to run ({done} of {total} already "
                  "in the store)", file=sys.stderr, flush=True)
        else:
            self.bar = tqdm(total=total, initial=done, desc=name, unit="rep",
                            file=sys.stderr, dynamic_ncols=True, smoothing=0.05)

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= PLAIN_PROGRESS_INTERVAL or self.done == self.total:
            self.last = now
            print(self._line(now), file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        elapsed = now - self.t0
        ran = self.done - self.start
        left = elapsed / ran * (self.total - self.done) if ran else math.nan
        return (f"{self.name}: {self.done}/{self.total} replicates, "
                f"{_clock(elapsed)} elapsed, ~{_clock(left)} left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ----------------------------------------------------------------------------- running
def _tasks(pending: Sequence[tuple[int, int]], chunk: int) -> list[tuple[int, list[int]]]:
    """Group pending (scenario, replicate) pairs, replicate-major, into tasks.

    A task holds up to ``chunk`` consecutive replicates of one scenario (a gap left by
    replicates already in the store starts a new task), so that its part can be named
    by its scenario and range of replicates.
    """
    tasks, buffers = [], {}
    for s, r in pending:
        buf = buffers.setdefault(s, [])
        if buf and r != buf[-1] + 1:
            tasks.append((s, buf))
            buf = buffers[s] = []
        buf.append(r)
        if len(buf) == chunk:
            tasks.append((s, buf))
            buffers[s] = []
    tasks.extend((s, buf) for s, buf in buffers.items() if buf)
    return tasks


def _truths(study: Study) -> list[dict[str, float] | Callable[..., Any]]:
    """Each scenario's truth; the truth callable itself when it reads the data."""
    if study.truth_reads_data:
        return [study.truth] * len(study.scenarios)
    out = []
    for s, scenario in enumerate(study.scenarios):
        try:
            value = study.truth(**scenario)
        except Exception as exc:
            raise ValueError(f"truth(**{scenario}) (scenario {s}) raised "
                             f"{_error_text(exc)}") from exc
        out.append(_truth_values(value, where=f"truth(**{scenario})"))
    return out


def _in_process(study: Study, tasks, truths) -> Iterator[list]:
    methods = list(study.methods.items())
    for s, reps in tasks:
        yield _run_replicates(study.generate, methods, study.scenarios[s], s, reps,
                              study.seed, truths[s])


def _on_dask(study: Study, tasks, truths, *, client: Any, workers: int) -> Iterator[list]:
    import distributed

    cluster = own_client = None
    if client is None:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        own_client = client = distributed.Client(cluster)
    elif isinstance(client, str | os.PathLike):
        own_client = client = distributed.Client(os.fspath(client))
    methods = list(study.methods.items())
    futures = []
    try:
        which = {}
        for s, reps in tasks:
            fut = client.submit(_run_replicates, study.generate, methods, study.scenarios[s],
                                s, reps, study.seed, truths[s], pure=False)
            which[fut.key] = (s, reps)
            futures.append(fut)
        done = distributed.as_completed(futures, with_results=True, raise_errors=False)
        for fut, result in done:
            if fut.status != "finished":
                s, reps = which[fut.key]
                exc = fut.exception() if fut.status == "error" else None
                reason = _error_text(exc) if exc is not None else f"status {fut.status!r}"
                raise RuntimeError(f"the task of scenario {s}, replicates {reps} failed on "
                                   f"the cluster: {reason}") from exc
            fut.release()
            yield result
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()
        # the run's results are stored by now: the nanny's "still alive ... killing"
        # notice about an idle worker slow to exit is not news for the user
        logger = logging.getLogger("distributed")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            if own_client is not None:
                own_client.close()
            if cluster is not None:
                cluster.close()
        finally:
            logger.setLevel(level)


def run(study: Study, *, store: str | os.PathLike | None = None, client: Any = None,
        workers: int = 1, progress: bool = True, replicates: int | None = None,
        overwrite: bool = False, chunk: int = 1) -> StudyResult:
    """Run a simulation study: every method on every replicate of every scenario.

    Parameters
    ----------
    study : Study
        The study definition.
    store : str or path-like, optional
        Folder of the results (created if needed): ``study.json`` first, then one Parquet
        file per finished task (``chunk`` replicates of one scenario), written as soon as
        it finishes. Rerunning on the same store skips the finished (scenario, replicate)
        keys (after a crash, a kill, or on another machine holding the store); a task
        killed before it finished is rerun whole. ``None``: results kept in memory only.
    client : distributed.Client or str, optional
        Run on this Dask cluster (a client, or a scheduler address such as
        ``"tcp://host:8786"``; its workers need bayes_hte and the modules defining the
        study's functions). ``None``: in process when ``workers == 1``.
    workers : int
        With ``client=None``: ``1`` runs in this process without Dask; ``N > 1`` starts a
        ``distributed.LocalCluster`` of N single-threaded worker processes for this run and
        closes it at the end (a script calling this needs the
        ``if __name__ == "__main__":`` guard of multiprocessing).
    progress : bool
        Show done / total replicates and the time left on stderr (a tqdm bar, or a plain
        line every :data:`PLAIN_PROGRESS_INTERVAL` seconds when tqdm is not installed).
    replicates : int, optional
        Replicates per scenario for this run instead of ``study.replicates`` (to extend a
        study or try a few first); replicates ``0 .. replicates - 1`` are run.
    overwrite : bool
        Discard the store's previous results and start afresh. Required when the store
        holds another definition of the study (other methods, generator, truth, scenarios
        or seed; see :meth:`Study.fingerprint`); also forces a recomputation after a
        change the fingerprint cannot see (a helper in another module, a package update).
    chunk : int
        Consecutive replicates of one scenario per task (>= 1). Raise it when one
        replicate's fits take well under a second, so that scheduling overhead and the
        number of store files do not dominate: a task is stored as one part, and a run
        killed mid-task loses that task's finished replicates (they are rerun).

    Returns
    -------
    StudyResult
        ``estimates`` of replicates ``0 .. R - 1`` of every scenario (R = ``replicates``
        or ``study.replicates``), those computed now and those found in the store, sorted
        by scenario, replicate, method, estimand; ``performance()`` gives the measures.

    Raises
    ------
    TypeError
        ``study`` is not a :class:`Study`, or ``client`` has the wrong type.
    ValueError
        A bad option (``workers`` or ``chunk`` < 1, ``replicates`` < 1, ``client`` together
        with ``workers > 1``); ``truth`` raising or not returning a dict; a store holding a
        different study (the message says what changed) without ``overwrite=True``, or a
        non-empty folder that is not a store.
    RuntimeError
        A task failed on the cluster itself (e.g. a worker died); replicates already
        stored are kept.

    Notes
    -----
    Exceptions raised by ``generate`` or by a method never stop the run: they are
    recorded in the ``error`` column. Replicate ``r`` of scenario ``s`` always receives
    the generator of ``SeedSequence(seed, spawn_key=(s, r))``, so the estimates do not
    depend on ``workers``, ``client``, ``chunk`` or the order of completion (only
    ``seconds`` does).

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_hte.studies import Study, run
    >>> def generate(rng, *, n):
    ...     return rng.normal(size=n)
    >>> def mean(data):
    ...     m, se = data.mean(), data.std(ddof=1) / np.sqrt(len(data))
    ...     return {"mu": {"estimate": m, "se": se, "ci_low": m - 1.96 * se,
    ...                    "ci_high": m + 1.96 * se}}
    >>> study = Study(name="demo", generate=generate, methods={"mean": mean},
    ...               truth=lambda *, n: {"mu": 0.0}, scenarios={"n": [10, 100]},
    ...               replicates=20, seed=1)
    >>> res = run(study, progress=False)
    >>> res.estimates.shape
    (40, 12)
    """
    if not isinstance(study, Study):
        raise TypeError(f"study must be a Study, got {type(study).__name__}")
    for what, value in (("workers", workers), ("chunk", chunk)):
        check_count(what, value, low=1)
    if replicates is not None and (isinstance(replicates, bool)
                                   or not isinstance(replicates, int) or replicates < 1):
        raise ValueError(f"replicates must be an integer >= 1, got {replicates!r}")
    if client is not None and workers > 1:
        raise ValueError("give either client= (an existing cluster) or workers= (a local "
                         "cluster started for this run), not both")
    if client is not None and not isinstance(client, str | os.PathLike):
        import distributed

        if not isinstance(client, distributed.Client):
            raise TypeError("client must be a distributed.Client or a scheduler address, "
                            f"got {type(client).__name__}")
    n_rep = study.replicates if replicates is None else replicates
    t0 = time.perf_counter()
    truths = _truths(study)
    root, finished = None, {}
    if store is not None:
        root, finished = _open_store(store, study, replicates=n_rep, overwrite=overwrite)
    everything = [(s, r) for r in range(n_rep) for s in range(len(study.scenarios))]
    pending = [key for key in everything if key not in finished]
    tasks = _tasks(pending, chunk)
    bar = _Progress(name=study.name, total=len(everything),
                    done=len(everything) - len(pending), enabled=progress)
    tables = []
    if not tasks:
        stream = iter(())
    elif client is None and workers == 1:
        stream = _in_process(study, tasks, truths)
    else:
        stream = _on_dask(study, tasks, truths, client=client, workers=workers)
    try:
        for result in stream:  # one task: [(s, r, columns)] of consecutive replicates
            cols = _empty_columns()
            for _, _, part in result:
                for key, values in part.items():
                    cols[key].extend(values)
            table = _table(cols)
            if root is not None:
                _write_part(root, result[0][0], [r for _, r, _ in result], table)
            else:
                tables.append(table)
            bar.update(len(result))
    finally:
        bar.close()
        if hasattr(stream, "close"):
            stream.close()  # cancels the remaining tasks, closes a cluster started here
    methods = list(study.methods)
    if root is not None:
        info = {"definition": {"scenarios": list(study.scenarios)}, "methods": methods}
        est = _read_parts(root, info, replicates=n_rep)
    else:
        est = _assemble(tables, scenarios=study.scenarios, methods=methods)
    return StudyResult(name=study.name, estimates=est, definition=study.definition(),
                       factors=study.factors, methods=methods, store=root, study=study,
                       n_run=len(pending), n_skipped=len(everything) - len(pending),
                       wall_seconds=time.perf_counter() - t0)
