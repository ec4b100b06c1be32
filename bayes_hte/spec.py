"""Declarative analysis specs (TOML) and their runner.

A spec is one reproducible analysis::

    [data]      where the data come from (``source``) and which columns play which role
    [model]     ``family`` (ipdma, subgroup, two_step, cima) and its options
    [priors]    optional overrides by parameter name
    [sampler]   draws, tune, chains, random_seed, sampler
    [output]    dir

Every table and key is declared once, in :mod:`bayes_hte.runners.schema`. ``run_spec``
reads the file and hands the spec to the family's runner (:data:`bayes_hte.runners.
FAMILIES`), a function ``run(spec, outdir, log)`` built on
:class:`bayes_hte.runners.base.Runner`.
"""

from __future__ import annotations

import importlib
import json
import time
import tomllib
from pathlib import Path

from bayes_hte.runners import FAMILIES
from bayes_hte.runners.base import Log
from bayes_hte.runners.schema import SpecError


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
        The file does not exist, has no ``[data]`` or ``[model]`` table, or no
        ``[model].family``.
    """
    path = Path(path)
    if not path.exists():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    with path.open("rb") as fh:
        spec = tomllib.load(fh)
    for key in ("data", "model"):
        if key not in spec:
            raise SpecError(f"{path}: the spec needs a [{key}] table")
    if "family" not in spec["model"]:
        raise SpecError(f"{path}: [model] needs 'family' (one of {sorted(FAMILIES)})")
    spec.setdefault("output", {}).setdefault("dir", f"results/{path.stem}")
    spec["_path"] = str(path.resolve())
    return spec


def run_spec(path: str | Path, *, log: Log = print, outdir: str | Path | None = None) -> Path:
    """Run the analysis a spec describes and return its output folder.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML spec.
    log : callable
        Progress messages (default ``print``).
    outdir : str or pathlib.Path, optional
        Output folder (default the spec's ``[output].dir``); created if missing.

    Returns
    -------
    pathlib.Path
        The output folder; it also holds ``spec.json``, the spec as run.

    Raises
    ------
    SpecError
        A spec that cannot be run as written (unknown family, table or key).
    DataError
        Data that fail validation.
    """
    spec = load_spec(path)
    family = spec["model"]["family"]
    if family not in FAMILIES:
        raise SpecError(f"[model] family {family!r} is unknown; choose one of {sorted(FAMILIES)}")
    out = Path(outdir or spec["output"]["dir"])
    out.mkdir(parents=True, exist_ok=True)
    module, func = FAMILIES[family].split(":")
    runner = getattr(importlib.import_module(module), func)
    start = time.perf_counter()
    log(f"bayes-hte: running {Path(path).name} (family {family}) -> {out}/")
    runner(spec, out, log)
    (out / "spec.json").write_text(json.dumps({k: v for k, v in spec.items()}, indent=2,
                                              default=str))
    log(f"bayes-hte: done in {time.perf_counter() - start:.0f} s; outputs in {out}/")
    return out
