"""The on-disk store of a simulation study: ``study.json`` and one Parquet file per task.

Layout of a store folder::

    study.json                      # fingerprint, definition, factors, methods, replicates
    parts/s{scenario}_r{replicate}.parquet           # a task of one replicate
    parts/s{scenario}_r{first}-{last}.parquet        # a task of replicates first..last

``study.json`` is written before any work starts. Each finished task (all methods of
one scenario on one replicate, or on a run of consecutive replicates of that scenario
when the run has ``chunk > 1``) is written to a temporary file in ``parts/`` and renamed
with :func:`os.replace`, which is atomic: a run killed at any moment leaves only complete
parts (and perhaps a stray ``.tmp`` file, removed by the next run). A part's name says
which (scenario, replicate) keys it holds, so finding the finished keys reads no file.
A part holds the columns :data:`bayes_hte.studies.design.COLUMNS` (scenario factors are
added from ``study.json`` when a store is read). Stores written with one part per
replicate (format 1) are read and resumed as they are. One run should write to a store
at a time.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_hte.studies.design import COLUMNS, Study
from bayes_hte.studies.result import StudyResult

STUDY_FILE = "study.json"
PARTS_DIR = "parts"
#: Version of the store layout written in ``study.json`` (1: one part per replicate;
#: 2: one part per task, named by its scenario and range of replicates).
STORE_FORMAT = 2
_PART_RE = re.compile(r"^s(\d+)_r(\d+)(?:-(\d+))?\.parquet$")
_INT = ("scenario", "replicate")
_STR = ("method", "estimand", "error")


def _schema():
    import pyarrow as pa

    types = {**dict.fromkeys(_INT, pa.int64()), **dict.fromkeys(_STR, pa.string())}
    return pa.schema([(c, types.get(c, pa.float64())) for c in COLUMNS])


def _part_name(scenario: int, replicates: Sequence[int]) -> str:
    """File name of the part of one scenario and a run of consecutive replicates."""
    first, last = int(replicates[0]), int(replicates[-1])
    if list(replicates) != list(range(first, last + 1)):
        raise ValueError(f"a part holds consecutive replicates of one scenario, got "
                         f"{list(replicates)} (scenario {scenario})")
    return f"s{scenario}_r{first}.parquet" if first == last else \
        f"s{scenario}_r{first}-{last}.parquet"


def _part_keys(name: str) -> list[tuple[int, int]] | None:
    """The (scenario, replicate) keys a part holds, read from its name (None: not a part)."""
    m = _PART_RE.match(name)
    if m is None:
        return None
    s, first = int(m.group(1)), int(m.group(2))
    last = int(m.group(3)) if m.group(3) is not None else first
    return [(s, r) for r in range(first, last + 1)]


def _table(columns: dict[str, list]):
    """A pyarrow table of part rows (the schema of :data:`COLUMNS`)."""
    import pyarrow as pa

    return pa.table(columns, schema=_schema())


def _write_part(root: Path, scenario: int, replicates: Sequence[int], table) -> None:
    """Write one task's rows atomically (temporary file, then :func:`os.replace`).

    ``replicates`` are the task's consecutive replicates of ``scenario``; they name the
    part (:func:`_part_name`).
    """
    import pyarrow.parquet as pq

    final = root / PARTS_DIR / _part_name(scenario, replicates)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def _finished(root: Path) -> dict[tuple[int, int], Path]:
    """``{(scenario, replicate): path}`` of the complete parts in a store.

    A key held by two parts (stores merged by hand) is read from the part whose name
    sorts first.
    """
    out: dict[tuple[int, int], Path] = {}
    parts = root / PARTS_DIR
    if not parts.is_dir():
        return out
    for path in sorted(parts.iterdir()):
        for key in _part_keys(path.name) or ():
            out.setdefault(key, path)
    return out


def _read_json(root: Path) -> dict[str, Any]:
    path = root / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a study store: it has no {STUDY_FILE}")
    return json.loads(path.read_text())


def _write_json(root: Path, info: dict[str, Any]) -> None:
    path = root / STUDY_FILE
    tmp = path.with_name(f".{STUDY_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=1, allow_nan=True) + "\n")
    os.replace(tmp, path)


def _describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two study definitions, in words."""
    out = []
    if old.get("name") != new.get("name"):
        out.append(f"name {old.get('name')!r} -> {new.get('name')!r}")
    for what in ("generate", "truth"):
        a, b = old.get(what) or {}, new.get(what) or {}
        if a.get("name") != b.get("name"):
            out.append(f"{what}: {a.get('name')} -> {b.get('name')}")
        elif a != b:
            out.append(f"{what}: source or bound arguments of {b.get('name')} changed")
    ma, mb = old.get("methods") or {}, new.get("methods") or {}
    if set(mb) - set(ma):
        out.append(f"methods added: {sorted(set(mb) - set(ma))}")
    if set(ma) - set(mb):
        out.append(f"methods removed: {sorted(set(ma) - set(mb))}")
    for key in sorted(set(ma) & set(mb)):
        if ma[key] != mb[key]:
            out.append(f"method {key!r}: {ma[key].get('name')} -> {mb[key].get('name')}"
                       if ma[key].get("name") != mb[key].get("name")
                       else f"method {key!r}: source or bound arguments changed")
    sa, sb = old.get("scenarios") or [], new.get("scenarios") or []
    if sa != sb:
        out.append(f"scenarios changed ({len(sa)} stored, {len(sb)} now"
                   + (f"; first difference at scenario {_first_diff(sa, sb)}" if sa and sb
                      else "") + ")")
    if old.get("seed") != new.get("seed"):
        out.append(f"seed {old.get('seed')} -> {new.get('seed')}")
    return "; ".join(out) or "definition differs"


def _first_diff(a: Sequence, b: Sequence) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _clear_parts(root: Path) -> None:
    parts = root / PARTS_DIR
    if parts.is_dir():
        for path in parts.iterdir():
            if _part_keys(path.name) is not None or path.name.endswith(".tmp"):
                path.unlink()


def _open_store(path: str | os.PathLike, study: Study, *, replicates: int,
                overwrite: bool) -> tuple[Path, dict[tuple[int, int], Path]]:
    """Create or reopen a store for ``study``; returns its root and its finished parts.

    Raises ValueError when the store holds another study (unless ``overwrite``) or the
    folder is not a store.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ValueError(f"store {root} exists and is not a folder")
    definition = study.definition()
    fingerprint = study.fingerprint()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    info = None
    if (root / STUDY_FILE).is_file():
        info = _read_json(root)
        if info.get("fingerprint") != fingerprint:
            if not overwrite:
                raise ValueError(
                    f"store {root} holds results of a different study definition: "
                    f"{_describe_change(info.get('definition', {}), definition)}. Pass "
                    "overwrite=True to discard its results, or use another store.")
            info = None
        elif overwrite:
            info = None
    elif root.is_dir() and any(root.iterdir()):
        raise ValueError(f"store {root} is a non-empty folder without {STUDY_FILE}; "
                         "give a new or empty folder")
    if info is None:
        (root / PARTS_DIR).mkdir(parents=True, exist_ok=True)
        _clear_parts(root)
        info = {"format": STORE_FORMAT, "name": study.name, "fingerprint": fingerprint,
                "factors": study.factors, "methods": list(study.methods),
                "replicates": replicates, "created": now, "definition": definition}
    else:
        (root / PARTS_DIR).mkdir(exist_ok=True)
        for stray in (root / PARTS_DIR).glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        info["replicates"] = max(int(info.get("replicates", 0)), replicates)
        info["format"] = STORE_FORMAT
        info["methods"] = list(study.methods)
    info["updated"] = now
    _write_json(root, info)
    return root, _finished(root)


def _assemble(tables: Iterable, *, scenarios: Sequence[dict], methods: Sequence[str]
              ) -> pd.DataFrame:
    """The estimates table from part tables: factors, then :data:`COLUMNS`, sorted."""
    import pyarrow as pa

    tables = list(tables)
    table = pa.concat_tables(tables) if tables else _schema().empty_table()
    est = table.to_pandas()
    order = {m: i for i, m in enumerate(methods)}
    rank = est["method"].map(order).fillna(len(order)).to_numpy()
    est = (est.assign(_rank=rank)
              .sort_values(["scenario", "replicate", "_rank", "method", "estimand"],
                           kind="stable")
              .drop(columns="_rank").reset_index(drop=True))
    factors = pd.DataFrame(list(scenarios))
    if factors.shape[1]:
        idx = est["scenario"].to_numpy(dtype=np.int64)
        levels = factors.iloc[idx].reset_index(drop=True)
        est = pd.concat([levels, est], axis=1)
    return est


def _read_parts(root: Path, info: dict[str, Any], *, replicates: int | None = None
                ) -> pd.DataFrame:
    """The estimates of a store (replicates < ``replicates`` when given).

    Each part is read once; rows of keys the part does not own (beyond ``replicates``,
    or held by another part as well) are dropped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = _schema()
    owned: dict[Path, list[tuple[int, int]]] = {}
    for key, path in _finished(root).items():
        if replicates is None or key[1] < replicates:
            owned.setdefault(path, []).append(key)
    tables = []
    for path in sorted(owned):
        table = pq.read_table(path, schema=schema)
        keys = owned[path]
        if len(keys) != len(_part_keys(path.name)):  # a part holds one scenario
            keep = pa.array(sorted(r for _, r in keys), pa.int64())
            table = table.filter(pc.is_in(table["replicate"], value_set=keep))
        tables.append(table)
    scenarios = info.get("definition", {}).get("scenarios", [{}])
    return _assemble(tables, scenarios=scenarios, methods=info.get("methods", []))


def load(store: str | os.PathLike) -> StudyResult:
    """Read the results of a study back from its store.

    Parameters
    ----------
    store : str or path-like
        The folder given as ``store=`` to :func:`~bayes_hte.studies.run` (it holds
        ``study.json`` and ``parts/``). It may be incomplete (a run still going or
        interrupted): every finished replicate is read.

    Returns
    -------
    StudyResult
        ``estimates`` (every finished replicate, sorted by scenario, replicate, method,
        estimand), the stored ``definition``; ``study`` is ``None`` (the callables are not
        stored).

    Raises
    ------
    FileNotFoundError
        The folder has no ``study.json``.
    """
    root = Path(store)
    info = _read_json(root)
    est = _read_parts(root, info)
    return StudyResult(name=info.get("name", root.name), estimates=est,
                       definition=info.get("definition", {}),
                       factors=list(info.get("factors", [])),
                       methods=list(info.get("methods", [])), store=root, study=None)
