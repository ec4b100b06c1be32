"""Declarative analysis specs (TOML) and their runner.

A spec is one reproducible analysis::

    [data]      where the data come from (``source``) and which columns play which role
    [model]     ``family`` (ipdma, subgroup, two_step, cima, meta_analysis) and its options
    [priors]    optional overrides by parameter name
    [sampler]   draws, tune, chains, random_seed, sampler
    [output]    dir

Every table and key is declared once, in :mod:`bayes_hte.runners.schema`. ``run_spec``
reads the file and hands the spec to the family's runner (:data:`bayes_hte.runners.
FAMILIES`), a function ``run(spec, outdir, log)`` built on
:class:`bayes_hte.runners.base.Runner`.

A simulation-study spec (``[study]``, ``[ademp]``, ``[data]``, ``[scenarios]``,
``[methods.<label>]``, ``[output]``; :mod:`bayes_hte.runners.study`) is read by
``load_study_spec`` and run by ``run_study_spec`` (``bayes-hte study``).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path

from bayes_hte.errors import DataError
from bayes_hte.estimators.base import PACKAGE_VERSION
from bayes_hte.runners import FAMILIES
from bayes_hte.runners.base import Log
from bayes_hte.runners.schema import SpecError, check_spec


def _duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``8 min 3 s``: a job's wall time for the last log line."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"

def read_toml(path: Path) -> dict:
    """Parse a spec file, with a :class:`SpecError` for what is not one.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    dict
        Its tables.

    Raises
    ------
    SpecError
        ``path`` does not exist, is a folder, cannot be read, is not UTF-8 text or not
        valid TOML (the message gives the line and column).
    """
    if not path.exists():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    if path.is_dir():
        raise SpecError(f"{str(path)!r} is a folder; give the spec's TOML file (e.g. "
                        f"{str(path / '<name>.toml')!r})")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: not a valid TOML spec: {err}") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot be read ({err.strerror})") from None


def load_spec(path: str | Path) -> dict:
    """Read a TOML spec.

    Relative paths inside it are resolved against the spec's folder for data files and
    against the current directory for the output folder.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    dict
        The parsed tables, with ``[output].dir`` defaulting to ``results/<file stem>``
        and ``_path`` the absolute path of the file.

    Raises
    ------
    SpecError
        The file does not exist, is a folder or not valid TOML (:func:`read_toml`), has
        no ``[data]`` or ``[model]`` table, or no ``[model].family``.
    """
    path = Path(path)
    spec = read_toml(path)
    if "study" in spec and "model" not in spec:
        raise SpecError(f"{path} is a simulation-study spec ([study] table): run it with "
                        "`bayes-hte study`")
    for key in ("data", "model"):
        if key not in spec:
            raise SpecError(f"{path}: the spec needs a [{key}] table")
    if "family" not in spec["model"]:
        raise SpecError(f"{path}: [model] needs 'family' (one of {sorted(FAMILIES)})")
    spec.setdefault("output", {}).setdefault("dir", f"results/{path.stem}")
    spec["_path"] = str(path.resolve())
    return spec


#: File marking an output folder as a ``bayes-hte run`` folder: status (``"running"``
#: until the run finishes, then ``"finished"``), spec, package version, times.
RUN_FILE = "run.json"


def _claim_folder(out: Path, spec: dict, *, overwrite: bool, log: Log) -> bool:
    """Check that ``out`` may be written; mark it as running. Returns whether to reuse
    matching posteriors (an interrupted run) rather than refit everything."""
    marker = out / RUN_FILE
    state = None
    if marker.exists():
        try:
            state = json.loads(marker.read_text())
        except ValueError:
            state = {"status": "unreadable"}
    nonempty = out.exists() and any(out.iterdir())
    interrupted = state is not None and state.get("status") == "running"
    if nonempty and not interrupted and not overwrite:
        what = (f"the results of a finished run of {state.get('spec', 'a spec')!r}"
                if state is not None else "files not written by an interrupted "
                "`bayes-hte run`")
        raise SpecError(f"output folder {str(out)!r} already holds {what}; `bayes-hte run` "
                        "never overwrites results: choose another folder (--out) or pass "
                        "--overwrite (run_spec(..., overwrite=True))")
    if interrupted and not overwrite:
        log(f"bayes-hte: resuming the interrupted run in {out}/: posteriors that match the "
            "spec are reused, the other models are fitted")
    elif nonempty:
        log(f"bayes-hte: --overwrite: replacing the results in {out}/ (every model refitted)")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"status": "running", "spec": spec["_path"],
                                  "bayes_hte_version": PACKAGE_VERSION,
                                  "started": datetime.now().isoformat(timespec="seconds")},
                                 indent=2))
    return not overwrite


def run_spec(path: str | Path, *, log: Log = print, outdir: str | Path | None = None,
             overwrite: bool = False, progress: bool | None = None) -> Path:
    """Run the analysis a spec describes and return its output folder.

    The output folder is never overwritten by accident: a folder holding files is
    refused unless it is the folder of an interrupted run of ``bayes-hte run`` (its
    :data:`RUN_FILE` says ``"running"``), which is resumed — every posterior file
    that matches the spec (a hash of the model's options, priors, sampler settings and
    data source in its attrs; :meth:`bayes_hte.runners.base.Runner.reusable`) is
    reused and only the other models are fitted — or ``overwrite=True``, which refits
    every model and replaces the files.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML spec.
    log : callable
        Progress messages (default ``print``).
    outdir : str or pathlib.Path, optional
        Output folder (default the spec's ``[output].dir``); created if missing.
    overwrite : bool
        Replace the results of a finished run (or other files) in the folder, refitting
        every model (``bayes-hte run --overwrite``).
    progress : bool, optional
        Show each fit's live progress bar (the sampler's: draws done, divergences so
        far, time left) on the terminal. Default: when standard error is a terminal
        (``bayes-hte run --progress / --no-progress`` decide otherwise).

    Returns
    -------
    pathlib.Path
        The output folder; it also holds ``spec.json``, the spec as run, and
        :data:`RUN_FILE` (``"status": "finished"``, the package version, start and end
        times).

    Raises
    ------
    SpecError
        A spec that cannot be run as written (unknown family, table or key), or an
        output folder holding files of a finished run or of something else while
        ``overwrite`` is false (the message names the folder).
    DataError
        Data that fail validation. The output folder this call made is removed when
        nothing but its :data:`RUN_FILE` had been written.
    """
    spec = load_spec(path)
    family = spec["model"]["family"]
    if family not in FAMILIES:
        raise SpecError(f"[model] family {family!r} is unknown; choose one of {sorted(FAMILIES)}")
    check_spec(spec, family)  # before the output folder is made: a typo leaves nothing
    out = Path(outdir or spec["output"]["dir"])
    fresh = not out.exists()
    reuse = _claim_folder(out, spec, overwrite=overwrite, log=log)
    module, func = FAMILIES[family].split(":")
    runner = getattr(importlib.import_module(module), func)
    start = time.perf_counter()
    log(f"bayes-hte: running {Path(path).name} (family {family}) -> {out}/")
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        runner(spec, out, log, reuse=reuse, progress=bool(progress))
    except (SpecError, DataError):
        # refused before anything was written: leave no folder holding only the marker
        if fresh and [p.name for p in out.iterdir()] == [RUN_FILE]:
            (out / RUN_FILE).unlink()
            out.rmdir()
        raise
    (out / "spec.json").write_text(json.dumps({k: v for k, v in spec.items()}, indent=2,
                                              default=str))
    state = json.loads((out / RUN_FILE).read_text())
    state.update(status="finished", finished=datetime.now().isoformat(timespec="seconds"))
    (out / RUN_FILE).write_text(json.dumps(state, indent=2))
    log(f"bayes-hte: done in {_duration(time.perf_counter() - start)}; outputs in {out}/")
    return out


def load_study_spec(path: str | Path) -> dict:
    """Read a simulation-study spec (TOML, ``bayes-hte study``).

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file (its tables: :mod:`bayes_hte.runners.study`).

    Returns
    -------
    dict
        The parsed tables, with ``[output].dir`` defaulting to ``results/studies/<file
        stem>`` (relative to the current directory) and ``_path`` the absolute path of
        the file.

    Raises
    ------
    SpecError
        The file does not exist, is a folder or not valid TOML (:func:`read_toml`), or
        has no ``[study]`` table.
    """
    path = Path(path)
    spec = read_toml(path)
    if "study" not in spec:
        hint = " (an analysis spec: run it with `bayes-hte run`)" if "model" in spec else ""
        raise SpecError(f"{path}: a study spec needs a [study] table{hint}")
    output = spec.setdefault("output", {})
    if not isinstance(output, dict):
        raise SpecError(f"{path}: [output] must be a table")
    output.setdefault("dir", f"results/studies/{path.stem}")
    spec["_path"] = str(path.resolve())
    return spec


def run_study_spec(path: str | Path, *, log: Log = print, outdir: str | Path | None = None,
                   workers: int = 1, scheduler: str | None = None,
                   replicates: int | None = None, store: str | Path | None = None,
                   overwrite: bool = False, progress: bool = True) -> Path:
    """Run the simulation study a spec describes and return its output folder.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML study spec (tables in :mod:`bayes_hte.runners.study`).
    log : callable
        Progress messages (default ``print``).
    outdir : str or pathlib.Path, optional
        Output folder (default the spec's ``[output].dir``); created if missing.
    workers : int
        ``1``: in this process; ``N > 1``: a local Dask cluster of N worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler to run on (instead of ``workers``).
    replicates : int, optional
        Replicates per scenario instead of ``[study].replicates`` (methods with their
        own smaller number keep it).
    store : str or pathlib.Path, optional
        Root of the results store (default ``[output].store``, else ``<outdir>/store``).
    overwrite : bool
        Discard a store's results when the study definition changed.
    progress : bool
        Show a progress bar per group of methods.

    Returns
    -------
    pathlib.Path
        The output folder: ``performance.csv``, figures, ``report.md`` / ``report.html``
        and ``spec.json`` (the spec as run).

    Raises
    ------
    SpecError
        A spec that cannot be run as written (an unknown table, key, simulator, method
        kind or option, named), or a store holding another study without
        ``overwrite``.
    DataError
        Invalid fixed parameters of the simulator.
    """
    from bayes_hte.runners.study import run as run_study

    spec = load_study_spec(path)
    out = Path(outdir or spec["output"]["dir"])
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    log(f"bayes-hte: study {Path(path).name} -> {out}/")
    run_study(spec, out, log, workers=workers, scheduler=scheduler, replicates=replicates,
              store=store, overwrite=overwrite, progress=progress)
    (out / "spec.json").write_text(json.dumps(dict(spec), indent=2, default=str))
    log(f"bayes-hte: done in {_duration(time.perf_counter() - start)}; outputs in {out}/")
    return out
