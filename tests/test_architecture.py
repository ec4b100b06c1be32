"""The layering of ARCHITECTURE.md, enforced on the import graph of bayes_hte.

Every import counts: module level and inside functions. A module imports only from its
own layer or lower ones; no cycles; no private name (or private module) imported from
another package; no package file over 800 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "bayes_hte"

#: Layer rank of each top-level module / package of bayes_hte (ARCHITECTURE.md).
RANK = {
    "errors": 0, "options": 0,
    "data": 1,
    "simulate": 2, "comparators": 2,
    "models": 3,
    "graph_modes": 3.5, "nutpie_callbacks": 3.5,
    "inference": 4, "diagnostics": 4.5, "sensitivity": 4.5,
    "effects": 5,
    "estimators": 6,
    "evaluation": 7,
    "workflows": 8, "studies": 8.2, "sbc": 8.3,
    "plots": 9,
    "report": 10,
    "runners": 11, "spec": 11.5, "cli": 12,
    "__init__": 13,
}
#: Lower-layer modules that may import each other only inside their own package.
SAME_RANK_ISOLATED = {"simulate", "comparators"}
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The bayes_hte module an import refers to (longest existing prefix)."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in MODULES:
            return cand
        parts.pop()
    return None


def _imports(module: str, path: Path):
    """(imported module, imported name or None, line) for every bayes_hte import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bayes_hte"):
                    yield _resolve(alias.name), None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("bayes_hte"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                else:
                    yield _resolve(target), alias.name, node.lineno


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


EDGES = [(m, *imp) for m, p in MODULES.items() for imp in _imports(m, p)]


def test_every_module_has_a_layer():
    missing = sorted({_top(m) for m in MODULES} - set(RANK))
    assert not missing, f"add these to RANK and ARCHITECTURE.md: {missing}"


def test_no_upward_import():
    bad = []
    for src, dst, _name, line in EDGES:
        if dst is None:
            continue
        a, b = _top(src), _top(dst)
        if a == b:
            continue
        if RANK[b] > RANK[a]:
            bad.append(f"{src}:{line} imports {dst} (layer {RANK[b]} above {RANK[a]})")
        elif RANK[b] == RANK[a] and (a in SAME_RANK_ISOLATED or b in SAME_RANK_ISOLATED):
            bad.append(f"{src}:{line} imports {dst} (a sibling layer)")
    assert not bad, "\n".join(bad)


def test_no_private_name_across_packages():
    bad = []
    for src, dst, name, line in EDGES:
        if dst is None or _top(src) == _top(dst):
            continue
        private_module = any(p.startswith("_") and p != "__init__" for p in dst.split("."))
        if private_module or (name is not None and name.startswith("_")):
            bad.append(f"{src}:{line} imports {dst}{'.' + name if name else ''}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for src, dst, _name, _line in EDGES:
        # a package's __init__ re-exporting its own submodules is not a cycle
        if dst is not None and dst != src and not dst.startswith(src + ".") \
                and not src.startswith(dst + "."):
            graph[src].add(dst)
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for m in sorted(graph):
        visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_file_size(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[module]} has {n} lines (split it by concern)"


def test_models_are_pure_factories():
    """Factories import neither matplotlib nor anything above them."""
    bad = []
    for m, path in MODULES.items():
        if _top(m) != "models":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            bad += [f"{m}: {n}" for n in names if n.startswith("matplotlib")]
    assert not bad, bad


def test_every_literal_declared_once_in_options():
    """Options are declared in ``bayes_hte/options.py`` only, each set of values once."""
    outside = [f"{m}:{node.lineno}" for m, path in MODULES.items() if m != "bayes_hte.options"
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
               and node.value.id == "Literal"]
    assert not outside, f"declare these Literal options in bayes_hte/options.py: {outside}"
    tree = ast.parse(MODULES["bayes_hte.options"].read_text())
    values = [ast.unparse(node.slice) for node in ast.walk(tree)
              if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
              and node.value.id == "Literal"]
    twice = sorted({v for v in values if values.count(v) > 1})
    assert not twice, f"declared more than once: {twice} (alias the first declaration)"
