"""Fingerprints of the demo specs' posteriors, to show a refactor changes no draw.

Runs every spec in ``models/`` shrunk (fewer draws, no IECV) with its own seed, and
prints one SHA-256 per saved posterior (``posteriors/*.nc``: every variable of the
``posterior`` group, bytes of the float64 arrays in sorted variable order) and of every
CSV table the runner writes. Run it before and after a change and diff the output::

    python validation/posterior_fingerprints.py > before.txt
    # ... change the code ...
    python validation/posterior_fingerprints.py > after.txt
    diff before.txt after.txt      # empty: same-seed posteriors are bit-identical

``diagnostics.csv`` and ``sampling.csv`` hold sampling times, so they differ between any
two runs. Run the "before" side from a separate checkout (``git worktree`` or a clone,
with ``PYTHONPATH`` pointing at it), never from a working tree that is being edited while
it runs: the runners import modules as they go.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
SHRINK = {"draws": 60, "tune": 80, "chains": 2}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def _dump(spec: dict) -> str:
    lines = []

    def table(prefix: str, d: dict) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) or k == "params"}
        subs = {k: v for k, v in d.items() if isinstance(v, dict) and k != "params"}
        lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in subs.items():
            table(f"{prefix}.{k}", v)

    for name, body in spec.items():
        table(name, body)
    return "\n".join(lines) + "\n"


def _hash_posterior(path: Path) -> str:
    tree = xr.open_datatree(path)
    post = tree["posterior"].to_dataset()
    h = hashlib.sha256()
    for name in sorted(post.data_vars):
        h.update(name.encode())
        h.update(np.ascontiguousarray(post[name].values, dtype=float).tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    from bayes_hte.spec import run_spec

    specs = sorted((ROOT / "models").glob("*.toml"))
    with tempfile.TemporaryDirectory() as tmp:
        for path in specs:
            spec = tomllib.loads(path.read_text())
            if "sampler" in spec:
                spec["sampler"].update(SHRINK)
            spec.pop("evaluation", None)
            model = spec["model"]
            if isinstance(model.get("heterogeneity"), list):  # keep the run short
                model["heterogeneity"] = ["random_intercept", "rank1"]
            out = Path(tmp) / path.stem
            spec["output"] = {**spec.get("output", {}), "dir": str(out)}
            src = spec["data"].get("source", "")
            if not src.startswith(("simulate:", "dataset:")):
                spec["data"]["source"] = str((path.parent / src).resolve())
            small = Path(tmp) / path.name
            small.write_text(_dump(spec))
            run_spec(small, log=lambda _m: None)
            for nc in sorted(out.rglob("*.nc")):
                print(f"{path.stem}/{nc.relative_to(out)} {_hash_posterior(nc)}")
            for csv in sorted(out.rglob("*.csv")):
                digest = hashlib.sha256(csv.read_bytes()).hexdigest()[:16]
                print(f"{path.stem}/{csv.relative_to(out)} {digest}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
