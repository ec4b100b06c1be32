"""Sphinx configuration of the bayes_hte documentation site.

Build (from the repository root, in the venv with the ``docs`` extra)::

    .venv/bin/sphinx-build -W --keep-going -n docs docs/_build/html

Sources: the user guide (the Markdown pages of ``docs/``, read by MyST), one page per
model family (``docs/models/``: the factories' module docstrings, with their equations,
through autodoc), the "coming from metafor / brms / Bambi / grf" page, the example
notebooks (``examples/*.ipynb``, executed, rendered by MyST-NB) and the API reference
(``docs/api/``: one page per public module, written by :func:`write_api_pages` from
:data:`API_SECTIONS` when the build starts).

Notebooks. The test suite already executes them (``tests/test_examples.py``, small
sampler settings); given ``BH_EXECUTED_NOTEBOOKS=<dir>`` (``.ci/run`` sets it) it writes
the executed copies there. :func:`stage_notebooks` copies each notebook to
``docs/examples/`` with the outputs of such a copy when its code cells are the current
ones, else keeps an earlier build's outputs of the same code, else executes it here with
the test suite's settings (:data:`NOTEBOOK_ENV`). So CI runs each notebook once, and a
build from a fresh clone executes them itself. ``BH_DOCS_EXECUTE=always`` re-executes
every notebook; ``BH_DOCS_EXECUTE=never`` executes none (a quick look at the text).

Cross-references. ``-n`` (nitpicky) with ``-W``: every reference to a bayes_hte object
must resolve. Docstrings name objects as users import them (``bayes_hte.IPDMetaModel``),
by an inherited member or relative to another layer; :func:`resolve_reexport` finds the
documented object. The build is offline (no intersphinx): other packages' names are
text (:data:`EXTERNAL_PACKAGES`), as are private names.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import sys
import time
import types
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

from sphinx.util import logging as sphinx_logging  # noqa: E402

import bayes_hte  # noqa: E402

LOG = sphinx_logging.getLogger("bayes_hte.docs")

# -- project ------------------------------------------------------------------------------
project = "bayes_hte"
author = "the bayes_hte authors"
copyright = "the bayes_hte authors"  # noqa: A001
version = release = bayes_hte.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path: list[str] = []

# -- warnings as errors: every cross-reference must resolve (sphinx-build -W -n) -----------
nitpicky = True
#: The build runs offline (no intersphinx inventories): names of other packages and of
#: Python's builtins are shown as text, never linked. Every bayes_hte name must resolve.
EXTERNAL_PACKAGES = (
    "numpy", "np", "npt", "pandas", "pd", "xarray", "xr", "scipy", "matplotlib", "mpl",
    "plt", "pymc", "pm", "pytensor", "pt", "arviz", "az", "arviz_base", "arviz_stats",
    "arviz_plots", "dask", "distributed", "pyarrow", "nutpie", "numba", "statsmodels",
    "typing", "collections", "pathlib", "os", "datetime", "json", "argparse", "logging",
    "concurrent", "dataclasses", "enum", "abc", "io", "h5netcdf", "tqdm", "bambi",
    "DataTree", "functools", "itertools", "inspect", "ast", "builtins", "tomllib",
    "re", "hashlib", "warnings", "multiprocessing", "sqlite3", "textwrap", "math",
)
BUILTINS = (
    "int", "float", "str", "bool", "bytes", "dict", "list", "tuple", "set", "frozenset",
    "object", "None", "type", "callable", "Callable", "Any", "Sequence", "Mapping",
    "Iterable", "Iterator", "Literal", "ValueError", "TypeError", "KeyError", "Exception",
    "UserWarning", "Warning", "RuntimeWarning", "RuntimeError", "NotImplementedError",
    "FileNotFoundError", "OSError", "ArrayLike", "slice", "complex", "range",
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(EXTERNAL_PACKAGES)})(\..*)?"),
    (r"py:.*", rf"({'|'.join(BUILTINS)})"),
    # private names (a leading underscore in any part) are not in the reference
    (r"py:.*", r"(.*\.)?_[A-Za-z]\w*(\..*)?"),
]

# -- autodoc / numpydoc -------------------------------------------------------------------
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "ignore-module-all": True,
}
#: Types are written in the numpydoc ``Parameters`` / ``Returns`` sections; the
#: signatures show names and defaults only.
autodoc_typehints = "none"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autosummary_generate = False

# -- MyST / MyST-NB -----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
#: Notebooks are executed (or their test-suite outputs reused) by :func:`stage_notebooks`
#: before the build reads them; MyST-NB renders what it finds.
nb_execution_mode = "off"
nb_merge_streams = True
#: The samplers' progress messages (stderr) are left out of the rendered notebooks.
nb_output_stderr = "remove"

# -- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"bayes_hte {release}"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
#: Pages without a section of their own get the full width (no left sidebar).
html_sidebars = {"index": [], "coming_from": [], "examples": []}
html_static_path = ["_static"]
html_css_files = ["bayes_hte.css"]

# -- API reference ------------------------------------------------------------------------
#: The API reference: section title -> the modules it documents. A package listed here
#: brings all its public submodules (no part of the name starts with "_"), as
#: autosummary's ``:recursive:`` would; every public module must be in exactly one
#: section (checked when the build starts and by tests/test_docs_site.py).
API_SECTIONS: dict[str, list[str]] = {
    "Top level": ["bayes_hte"],
    "Data containers and data sets": ["bayes_hte.data"],
    "Simulators (data with their truth)": ["bayes_hte.simulate"],
    "Frequentist comparators": ["bayes_hte.comparators"],
    "Model factories (PyMC)": ["bayes_hte.models"],
    "Sampling and convergence": ["bayes_hte.inference", "bayes_hte.graph_modes",
                                 "bayes_hte.nutpie_callbacks",
                                 "bayes_hte.diagnostics",
                                 "bayes_hte.sensitivity"],
    "Estimands": ["bayes_hte.effects"],
    "Estimators": ["bayes_hte.estimators"],
    "Evaluation of ITE models": ["bayes_hte.evaluation"],
    "Workflows": ["bayes_hte.workflows"],
    "Simulation studies": ["bayes_hte.studies"],
    "Simulation-based calibration": ["bayes_hte.sbc"],
    "Figures": ["bayes_hte.plots"],
    "Report": ["bayes_hte.report"],
    "Specs and command line": ["bayes_hte.spec", "bayes_hte.cli", "bayes_hte.runners"],
    "Errors and options": ["bayes_hte.errors", "bayes_hte.options"],
}
API_DIR = DOCS / "api"
GENERATED = API_DIR / "generated"


def public_modules() -> list[str]:
    """Every public module of bayes_hte (no part of its dotted name starts with "_")."""
    names = ["bayes_hte"]
    for info in pkgutil.walk_packages(bayes_hte.__path__, "bayes_hte."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def section_modules(entries: list[str], *, top_level: bool = True) -> list[str]:
    """The modules a section documents: each entry and, for a package other than the
    top level, its public submodules."""
    out: list[str] = []
    for entry in entries:
        out.append(entry)
        module = importlib.import_module(entry)
        if entry != "bayes_hte" and hasattr(module, "__path__"):
            out.extend(m for m in public_modules() if m.startswith(entry + "."))
    return out


def api_modules() -> dict[str, list[str]]:
    """Section title -> its modules, in order; raises when a public module is in no
    section or in two."""
    sections = {title: section_modules(entries) for title, entries in API_SECTIONS.items()}
    listed = [m for mods in sections.values() for m in mods]
    missing = sorted(set(public_modules()) - set(listed))
    twice = sorted({m for m in listed if listed.count(m) > 1})
    if missing or twice:
        raise RuntimeError(f"docs/conf.py API_SECTIONS: modules in no section {missing}, "
                           f"in two {twice}")
    return sections


def _own_members(module) -> tuple[list[str], list[str]]:
    """Public classes and functions defined in `module` (not imported into it)."""
    classes, functions = [], []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            classes.append(name)
        elif inspect.isfunction(obj):
            functions.append(name)
    return classes, functions


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def _from_private_module(module) -> list[str]:
    """Public classes and functions a package imports from one of its private modules
    (defined in a module whose name starts with ``_``): they
    are documented on the package's page, under the name users import."""
    if not hasattr(module, "__path__"):
        return []
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
            and getattr(obj, "__module__", "").startswith(module.__name__ + ".")
            and _private(obj.__module__)]


def _exports(module) -> list[tuple[str, str]]:
    """(exported name, documented dotted name) of what a package re-exports (``__all__``
    names defined elsewhere): the package page links them to where they are documented."""
    out = []
    private = _from_private_module(module)
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if inspect.ismodule(obj):
            out.append((name, obj.__name__))
        elif name in private:
            continue
        elif getattr(obj, "__module__", module.__name__) != module.__name__ and hasattr(
                obj, "__qualname__"):
            out.append((name, f"{obj.__module__}.{obj.__qualname__}"))
    return out


def _assigned_names(node) -> list:
    """The ``ast.Name`` targets of a top-level (annotated) assignment, tuples unpacked."""
    import ast

    targets = node.targets if isinstance(node, ast.Assign) else (
        [node.target] if isinstance(node, ast.AnnAssign) else [])
    out = []
    for t in targets:
        out += t.elts if isinstance(t, ast.Tuple) else [t]
    return out


def _data_members(module) -> dict[str, str]:
    """Module-level data autodoc documents as data, by name -> how: ``"data"`` (a
    ``#:`` comment, or an UPPER_CASE constant without one), ``"alias"`` (a generic alias
    ``Estimate = dict[str, float]``, which autodoc cannot format: written out from the
    source) or ``"bound"`` (``run = Runner.main``, a bound method exposed as a function)."""
    import ast

    from sphinx.pycode import ModuleAnalyzer

    try:
        tree = ast.parse(inspect.getsource(module))
        documented = {name for (owner, name) in ModuleAnalyzer.for_module(
            module.__name__).find_attr_docs() if owner == ""}
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    for node in tree.body:
        for t in _assigned_names(node):
            if not isinstance(t, ast.Name) or t.id.startswith("_") or t.id in out:
                continue
            obj = getattr(module, t.id, None)
            if inspect.ismethod(obj):
                out[t.id] = "bound"
            elif isinstance(obj, types.GenericAlias):
                out[t.id] = "alias"
            elif t.id in documented or t.id.isupper():
                out[t.id] = "data"
    return out


def _members_in_source_order(module) -> list[str]:
    """The directives documenting a module's own classes, functions and data, in the
    order of its source."""
    import ast

    classes, functions = _own_members(module)
    data = _data_members(module)
    name = module.__name__
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return []
    lines: list[str] = []
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name not in seen:
            seen.add(node.name)
            if node.name in classes:
                lines += [f".. autoclass:: {name}.{node.name}", ""]
            elif node.name in functions:
                lines += [f".. autofunction:: {name}.{node.name}", ""]
            continue
        for t in _assigned_names(node):
            if not isinstance(t, ast.Name) or t.id not in data or t.id in seen:
                continue
            seen.add(t.id)
            if data[t.id] == "alias":
                value, doc = _alias_source(module, t.id)
                lines += [f".. py:data:: {t.id}", f"   :module: {name}",
                          f"   :value: {value}", ""]
                lines += [f"   {line}" for line in doc] + [""]
                continue
            value = repr(getattr(module, t.id, None))
            lines.append(f".. autodata:: {name}.{t.id}")
            if data[t.id] == "bound" or len(value) > 60 or "\n" in value:
                lines.append("   :no-value:")
            lines.append("")
    return lines


def _alias_source(module, member: str) -> tuple[str, list[str]]:
    """The source text of ``member = <value>`` and its ``#:`` doc comment lines."""
    import ast

    from sphinx.pycode import ModuleAnalyzer

    source = inspect.getsource(module)
    value = member
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == member for t in node.targets):
            value = " ".join(ast.get_source_segment(source, node.value).split())
    doc = ModuleAnalyzer.for_module(module.__name__).find_attr_docs().get(("", member), [])
    return value, [line for line in doc if line.strip()]


def _first_sentence(obj) -> str:
    """The first sentence of a docstring as plain reStructuredText (roles made literals):
    the one-line descriptions of the module tables."""
    import re

    doc = inspect.getdoc(obj) or ""
    para = " ".join(doc.strip().split("\n\n", 1)[0].split())
    # a sentence ends at ". " not after an abbreviation ("et al.", "e.g.")
    m = re.search(r"^(.*?(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)\.)(\s|$)", para)
    text = m.group(1) if m else para
    return re.sub(r":[\w:]+:`~?(?:[\w.]*\.)?([^`<]+?)`", r"``\1``", text)


def _module_table(names: list[str], *, short: bool) -> list[str]:
    lines = [".. list-table::", "   :widths: 35 65", ""]
    for name in names:
        label = name.rsplit(".", 1)[-1] if short else name
        lines += [f"   * - :py:mod:`{label} <{name}>`",
                  f"     - {_first_sentence(importlib.import_module(name))}"]
    return lines + [""]


def _module_page(name: str) -> str:
    """The page of one module: its docstring, what a package re-exports, a summary
    table, its submodules, then every class, function and datum in source order."""
    module = importlib.import_module(name)
    lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", ""]
    for member in _from_private_module(module):
        kind = "autoclass" if inspect.isclass(getattr(module, member)) else "autofunction"
        lines += [f".. {kind}:: {name}.{member}", ""]
    exports = _exports(module)
    if exports:
        lines += [".. rubric:: Exported names", "", ".. list-table::", "   :widths: 30 70", ""]
        for short, canonical in exports:
            role = "mod" if inspect.ismodule(sys.modules.get(canonical)) else "obj"
            lines += [f"   * - ``{name}.{short}``", f"     - :py:{role}:`{canonical}`"]
        lines.append("")
    if hasattr(module, "__path__"):
        subs = [m for m in public_modules() if m != name and m.rsplit(".", 1)[0] == name]
        if subs:
            lines += [".. rubric:: Modules", ""] + _module_table(subs, short=True)
    classes, functions = _own_members(module)
    if classes or functions:
        lines += [".. rubric:: Summary", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {member}" for member in classes + functions]
        lines.append("")
    members = _members_in_source_order(module)
    if members:
        lines += [".. rubric:: Contents", ""] + members
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_api_pages(app=None) -> None:
    """Write ``docs/api/generated/<module>.rst`` for every public module and the
    section tables and toctrees of ``docs/api/sections.inc`` (included by
    ``docs/api/index.md``)."""
    sections = api_modules()
    GENERATED.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for mods in sections.values():
        for name in mods:
            wanted.add(f"{name}.rst")
            _write_if_changed(GENERATED / f"{name}.rst", _module_page(name) + "\n")
    for stale in GENERATED.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()
    out = []
    for title, mods in sections.items():
        out += [title, "-" * len(title), ""] + _module_table(mods, short=False)
        out += [".. toctree::", "   :hidden:", ""]
        out += [f"   generated/{m}" for m in mods]
        out.append("")
    _write_if_changed(API_DIR / "sections.inc", "\n".join(out))


# -- example notebooks --------------------------------------------------------------------
EXAMPLES = ROOT / "examples"
STAGED = DOCS / "examples"
#: Sampler settings of a notebook executed by the docs build: those of
#: tests/test_examples.py (few draws; inline figures).
NOTEBOOK_ENV = {
    "ipdma_binary.ipynb": {},
    "subgroup_hte.ipynb": {"BH_EXAMPLE_DRAWS": "500"},   # 4 nutpie chains (its defaults)
    "two_step_longitudinal.ipynb": {"BH_EXAMPLE_DRAWS": "150", "BH_EXAMPLE_CHAINS": "2",
                                    "BH_EXAMPLE_SAMPLER": "pymc"},
    "ipd_aggregate.ipynb": {},          # its own settings: nutpie, 2 chains x 500 draws
}
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def _code_cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def _with_outputs(source: dict, executed: dict) -> dict:
    """`source` with the outputs (and execution counts) of `executed`, code cell by code
    cell (their code is the same)."""
    out = json.loads(json.dumps(source))
    done = iter(c for c in executed["cells"] if c["cell_type"] == "code")
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            ran = next(done)
            cell["outputs"] = ran.get("outputs", [])
            cell["execution_count"] = ran.get("execution_count")
    return out


def _execute(path: Path, settings: dict[str, str]) -> dict:
    """Execute a notebook with nbclient in a temporary folder (kernel environment: this
    process's, plus `settings` and inline figures); raise on the first error."""
    import tempfile

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, MPLBACKEND=INLINE_BACKEND, **settings)
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        client.execute(env=env)
    return json.loads(nbformat.writes(nb))


def stage_notebooks(app=None) -> None:
    """Copy every ``examples/*.ipynb`` to ``docs/examples/`` with outputs, taken from
    (first that applies):

    1. the test suite's executed copy ``$BH_EXECUTED_NOTEBOOKS/<name>``, when its code
       cells are the current ones and it is newer than the staged copy;
    2. the staged copy of an earlier build, when it was made from the same code cells;
    3. an execution here (:func:`_execute`, settings :data:`NOTEBOOK_ENV`).

    ``BH_DOCS_EXECUTE=always`` skips 1 and 2; ``never`` keeps what is staged and stages
    the other notebooks without outputs (default ``auto``)."""
    mode = os.environ.get("BH_DOCS_EXECUTE", "auto")
    if mode not in ("auto", "always", "never"):
        raise RuntimeError(f"BH_DOCS_EXECUTE={mode!r}: expected auto, always or never")
    executed_dir = os.environ.get("BH_EXECUTED_NOTEBOOKS")
    STAGED.mkdir(exist_ok=True)
    names = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))
    for stale in STAGED.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    for name in names:
        source = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
        key = hashlib.sha256(json.dumps(_code_cells(source)).encode()).hexdigest()
        staged = STAGED / name
        old = json.loads(staged.read_text(encoding="utf-8")) if staged.exists() else None
        if mode == "never" and old is not None:
            continue                    # keep what an earlier build staged
        old_ok = (old is not None and
                  old["metadata"].get("bayes_hte_docs", {}).get("code_sha256") == key)
        executed, origin = None, None
        copy = Path(executed_dir) / name if executed_dir else None
        if mode == "auto" and copy is not None and copy.exists() and (
                not old_ok or copy.stat().st_mtime > staged.stat().st_mtime):
            candidate = json.loads(copy.read_text(encoding="utf-8"))
            if _code_cells(candidate) == _code_cells(source):
                executed, origin = candidate, f"test suite ({copy})"
        if executed is None and mode == "auto" and old_ok:
            executed, origin = old, old["metadata"]["bayes_hte_docs"]["executed_by"]
        if executed is None and mode != "never":
            start = time.perf_counter()
            executed = _execute(EXAMPLES / name, NOTEBOOK_ENV.get(name, {}))
            origin = f"docs build ({time.perf_counter() - start:.0f} s)"
        nb = _with_outputs(source, executed) if executed is not None else source
        origin = origin or "nobody (BH_DOCS_EXECUTE=never)"
        nb["metadata"]["bayes_hte_docs"] = {
            "code_sha256": key if executed is not None else "", "executed_by": origin}
        LOG.info(f"[bayes_hte docs] {name}: outputs of the {origin}")
        _write_if_changed(staged, json.dumps(nb, indent=1) + "\n")


# -- cross-references to re-exported names -------------------------------------------------
def _locate(name: str):
    """The object a dotted name reaches by imports and attributes, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(obj) -> str | None:
    if inspect.ismodule(obj):
        return obj.__name__
    if isinstance(obj, property):
        obj = obj.fget
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and module.startswith("bayes_hte"):
        return f"{module}.{qualname}"
    return None


def _documented(env, dotted: str) -> bool:
    return dotted in env.get_domain("py").objects


def _by_suffix(env, dotted: str) -> list[str]:
    """Documented bayes_hte objects whose dotted name ends with ``.<dotted>``."""
    return sorted(n for n in env.get_domain("py").objects
                  if n.endswith("." + dotted) and n.startswith("bayes_hte"))


#: The object types a role of the Python domain prefers when a short name is ambiguous.
ROLE_TYPES = {"func": {"function"}, "meth": {"method", "classmethod", "staticmethod"},
              "class": {"class", "exception"}, "data": {"data"},
              "attr": {"attribute", "property"}, "mod": {"module"}}


def _nearest(env, names: list[str], module: str | None, role: str) -> str | None:
    """Of several documented objects, the one a reference most plausibly means: of the
    role's type, then sharing the longest dotted prefix with the referring module, then
    of the same family (module name); None when that still leaves a tie."""
    objects = env.get_domain("py").objects
    typed = [n for n in names if objects[n].objtype in ROLE_TYPES.get(role, set())] or names
    if not typed:
        return None
    if len(typed) == 1:
        return typed[0]

    def shared(name: str) -> tuple[int, bool]:
        here = (module or "").split(".")
        n = 0
        for a, b in zip(name.split("."), here, strict=False):
            if a != b:
                break
            n += 1
        # then the same family: bayes_hte.models.ipdma -> bayes_hte.effects.ipdma
        return n, here[-1] in name.split(".")[:-1]

    best = max(shared(n) for n in typed)
    top = [n for n in typed if shared(n) == best]
    return top[0] if len(top) == 1 else None


def _candidates(env, target: str, module: str | None, cls: str | None,
                role: str) -> list[str]:
    """Where a reference written in `module` (and class `cls`) may point: the name as
    written, relative to the class and the module, or (for an unqualified ``Name`` or
    ``Class.member`` written in another layer's docstring) the documented object whose
    name ends so (:func:`_nearest` when several do)."""
    out = [target]
    if module:
        if cls:
            out.append(f"{module}.{cls}.{target}")
        out.append(f"{module}.{target}")
    if not target.startswith("bayes_hte"):
        head, _, rest = target.partition(".")
        owner = _nearest(env, _by_suffix(env, head), module, "class" if rest else role)
        if owner is not None:
            out.append(f"{owner}.{rest}" if rest else owner)
    return out


def resolve_reexport(app, env, node, contnode):
    """``missing-reference``: resolve what the Python domain does not find by itself —
    re-exported names (``bayes_hte.IPDMetaModel`` → ``bayes_hte.estimators.ipdma.
    IPDMetaModel``), inherited members (``IPDMetaModel.ite`` → ``IPDEstimator.ite``), a
    dotted name wrapped over two docstring lines, a sibling layer's object named without
    its module when only one object has that name, and an instance attribute (``idata``,
    set in ``__init__`` or ``fit``): linked to its class."""
    if node.get("refdomain") != "py":
        return None
    target = "".join(node["reftarget"].split()).lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    domain = env.get_domain("py")

    def link(dotted: str):
        for role in (node["reftype"], "obj"):
            found = domain.resolve_xref(env, node["refdoc"], app.builder, role, dotted,
                                        node, contnode)
            if found is not None:
                return found
        return None

    candidates = _candidates(env, target, module, cls, node["reftype"])
    for name in candidates:
        if not name.startswith("bayes_hte"):
            continue
        if _documented(env, name):
            return link(name)
        canonical = _canonical(_locate(name))
        if canonical and _documented(env, canonical):
            return link(canonical)
    if node["reftype"] in ("attr", "obj", "meth"):
        for name in candidates:
            owner, _, attr = name.rpartition(".")
            obj = _locate(owner) if owner.startswith("bayes_hte") else None
            canonical = _canonical(obj) if inspect.isclass(obj) else None
            if canonical and _documented(env, canonical) and _has_attribute(obj, attr):
                return link(canonical)
    return None


def _has_attribute(cls, attr: str) -> bool:
    """`attr` is an attribute of `cls`: a class attribute, an annotated or dataclass
    field, or set on ``self`` in its source."""
    if hasattr(cls, attr) or any(attr in getattr(k, "__annotations__", {})
                                 for k in cls.__mro__):
        return True
    for klass in cls.__mro__:
        if not klass.__module__.startswith("bayes_hte"):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if f"self.{attr} =" in source or f"self.{attr}:" in source:
            return True
    return False


def _prior_text(spec) -> str:
    """``{"dist": "Normal", "mu": 0, "sigma": 1}`` -> ``Normal(mu=0, sigma=1)``."""
    if not isinstance(spec, dict) or "dist" not in spec:
        return f"``{spec!r}``"
    args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in spec.items() if k != "dist")
    return f"``{spec['dist']}({args})``"


def _priors_directive():
    from sphinx.util.docutils import SphinxDirective

    class PriorTable(SphinxDirective):
        """``.. bh-priors:: bayes_hte.models.ipdma.DEFAULT_PRIORS``: a table of a
        family's default priors, read from the package (parameter, distribution)."""

        required_arguments = 1

        def run(self):
            name = self.arguments[0]
            priors = _locate(name)
            if not isinstance(priors, dict):
                raise self.error(f"bh-priors: {name} is not a dict of priors")
            rows = [".. list-table::", "   :header-rows: 1", "   :widths: 30 70", "",
                    "   * - parameter", "     - default prior"]
            for param, spec in priors.items():
                rows += [f"   * - ``{param}``", f"     - {_prior_text(spec)}"]
            rows += ["", f"Source: :py:data:`{name}`; override by name with "
                     "``priors={...}``."]
            return self.parse_text_to_nodes("\n".join(rows))

    return PriorTable


def setup(app):
    app.add_directive("bh-priors", _priors_directive())
    app.connect("builder-inited", write_api_pages)
    app.connect("builder-inited", stage_notebooks)
    app.connect("missing-reference", resolve_reexport)
    return {"parallel_read_safe": True}
