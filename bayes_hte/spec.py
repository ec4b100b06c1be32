"""Declarative analysis specs (TOML) and their runner.

A spec is one reproducible analysis::

    [data]      where the data come from (``source``) and which columns play which role
    [model]     ``family`` (ipdma, subgroup, two_step, cima, meta_analysis, ...) and options
    [priors]    optional overrides by parameter name
    [sampler]   draws, tune, chains, random_seed, sampler
    [output]    dir

``run_spec`` reads the file, resolves the data source, and hands the spec to the
family's runner, a function ``run(spec, outdir, log)`` in :mod:`bayes_hte.runners`.
"""

from __future__ import annotations

import importlib
import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bayes_hte.errors import DataError

#: family name -> "module:function" of its runner (imported lazily).
FAMILIES: dict[str, str] = {
    "ipdma": "bayes_hte.runners.ipdma:run",
    "cima": "bayes_hte.runners.cima:run",
    "two_step": "bayes_hte.runners.two_step:run",
    "subgroup": "bayes_hte.runners.subgroup:run",
}

Log = Callable[[str], None]


class SpecError(ValueError):
    """An analysis spec that cannot be run as written (names the key)."""


def load_spec(path: str | Path) -> dict:
    """Read a TOML spec; relative paths inside it are resolved against the spec's folder
    for data files and against the current directory for the output folder."""
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


def load_frame(data: dict, *, spec_dir: Path | None = None):
    """Resolve ``[data].source``: ``"simulate:<name>"``, ``"dataset:<name>"`` or a file.

    Returns whatever the source gives: a simulator's result object (with ``.data``
    and the truth), a bundled data set, or a ``pandas.DataFrame`` read from CSV/Parquet.
    """
    source = data.get("source")
    if not source:
        raise SpecError("[data] needs 'source'")
    params = dict(data.get("params", {}))
    if source.startswith("simulate:"):
        name = source.split(":", 1)[1]
        try:
            mod = importlib.import_module(f"bayes_hte.simulate.{name}")
        except ModuleNotFoundError as err:
            raise SpecError(f"[data] source {source!r}: no simulator {name!r} in "
                            "bayes_hte.simulate") from err
        return getattr(mod, name)(**params)
    if source.startswith("dataset:"):
        name = source.split(":", 1)[1]
        from bayes_hte.data import datasets

        if not hasattr(datasets, name):
            raise SpecError(f"[data] source {source!r}: no bundled data set {name!r}")
        return getattr(datasets, name)(**params)
    p = Path(source)
    if not p.is_absolute() and spec_dir is not None:
        p = spec_dir / p
    if not p.exists():
        raise DataError(f"[data] source file {str(p)!r} does not exist")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p)


def run_spec(path: str | Path, *, log: Log = print, outdir: str | Path | None = None) -> Path:
    """Run the analysis a spec describes and return its output folder."""
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
