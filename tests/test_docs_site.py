"""The documentation site's sources are complete (cheap checks; the build itself runs in
.ci/run with warnings as errors, and here under ``-m slow``).

* the API reference (``API_SECTIONS`` of docs/conf.py, one page per module) lists every
  public module of bayes_hte, each once;
* every model factory module has a page in docs/models/ showing its docstring (the
  equations);
* every page of docs/ and every example notebook is in a toctree (Sphinx would warn, and
  ``-W`` fail, on an orphan);
* the README and .ci/run build the site with the same ``sphinx-build`` command.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bayes_hte

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD_COMMAND = "sphinx-build -W --keep-going -n"


def load_conf():
    """docs/conf.py as a module (it imports bayes_hte and sphinx only)."""
    spec = importlib.util.spec_from_file_location("bayes_hte_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def public_modules() -> set[str]:
    """Modules with no private part in their dotted name (as tests/test_public_api.py)."""
    names = {"bayes_hte"}
    for info in pkgutil.walk_packages(bayes_hte.__path__, "bayes_hte."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.add(info.name)
    return names


def toctree_entries(page: Path) -> set[str]:
    """The document names of the ```{toctree} blocks of a MyST page, relative to docs/."""
    entries = set()
    text = page.read_text(encoding="utf-8")
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                entries.add((page.parent / line).relative_to(DOCS).as_posix())
    return entries


def test_api_reference_lists_every_public_module_once():
    conf = load_conf()
    sections = conf.api_modules()              # raises on a module in none or in two
    listed = [m for mods in sections.values() for m in mods]
    assert sorted(listed) == sorted(set(listed)), "a module is in two sections"
    assert set(listed) == public_modules()
    for entries in conf.API_SECTIONS.values():
        for name in entries:
            importlib.import_module(name)


def test_api_pages_document_members_once():
    """The page of a module documents its own classes and functions; a package's page
    links what it re-exports to where it is documented (no object twice)."""
    conf = load_conf()
    page = conf._module_page("bayes_hte.evaluation")
    assert ".. automodule:: bayes_hte.evaluation" in page
    assert ":py:obj:`bayes_hte.evaluation.ranking.rate`" in page
    assert ".. autofunction:: bayes_hte.evaluation.ranking.rate" not in page
    page = conf._module_page("bayes_hte.evaluation.ranking")
    assert ".. autofunction:: bayes_hte.evaluation.ranking.rate" in page
    assert ".. autoclass:: bayes_hte.evaluation.ranking.RankAverageEffect" in page
    page = conf._module_page("bayes_hte.comparators.metareg")
    assert ".. autofunction:: bayes_hte.comparators.metareg.meta_regression" in page
    # a public function defined in a private module is documented where users import it
    pkg = types.ModuleType("fakepkg")
    pkg.__path__ = []

    def f():
        """Public, defined in a private module."""

    f.__module__ = "fakepkg._impl"
    pkg.f = f
    assert conf._from_private_module(pkg) == ["f"]


def test_every_model_family_has_an_equations_page():
    factories = []
    for info in pkgutil.iter_modules(bayes_hte.models.__path__, "bayes_hte.models."):
        module = importlib.import_module(info.name)
        if any(name.startswith("build_") and inspect.isfunction(obj)
               and obj.__module__ == info.name for name, obj in vars(module).items()):
            factories.append(info.name)
    assert factories
    listed = toctree_entries(DOCS / "models" / "index.md")
    for name in factories:
        page = DOCS / "models" / f"{name.rsplit('.', 1)[1]}.md"
        assert page.exists(), f"no docs/models page for {name}"
        assert f".. automodule:: {name}\n" in page.read_text(encoding="utf-8"), page
        assert f"models/{page.stem}" in listed, f"{page} not in docs/models/index.md"


def test_every_page_and_notebook_is_in_a_toctree():
    pages = [DOCS / "index.md", DOCS / "user_guide.md", DOCS / "examples.md",
             DOCS / "models" / "index.md", DOCS / "api" / "index.md"]
    listed = set().union(*(toctree_entries(p) for p in pages)) | {"index"}
    for page in [*DOCS.glob("*.md"), *(DOCS / "models").glob("*.md")]:
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        assert name in listed, f"docs/{name}.md is in no toctree"
    for notebook in (ROOT / "examples").glob("*.ipynb"):
        assert f"examples/{notebook.stem}" in listed, f"{notebook.name} is in no toctree"


def test_notebook_outputs_are_merged_by_code_cell():
    conf = load_conf()
    source = {"cells": [{"cell_type": "markdown", "source": "# new title"},
                        {"cell_type": "code", "source": ["x = 1\n", "x"], "outputs": []}],
              "metadata": {}}
    executed = {"cells": [{"cell_type": "markdown", "source": "# old title"},
                          {"cell_type": "code", "source": "x = 1\nx", "execution_count": 1,
                           "outputs": [{"output_type": "execute_result"}]}]}
    assert conf._code_cells(source) == conf._code_cells(executed)
    merged = conf._with_outputs(source, executed)
    assert merged["cells"][0]["source"] == "# new title"
    assert merged["cells"][1]["outputs"] == [{"output_type": "execute_result"}]
    assert source["cells"][1]["outputs"] == []      # the source is not modified


def test_readme_and_ci_build_the_site_the_same_way():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f'pip install -e ".[docs]" && .venv/bin/{BUILD_COMMAND} docs docs/_build/html' \
        in readme
    assert f"{BUILD_COMMAND} -q docs docs/_build/html" in ci
    extras = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]["docs"]
    for package in ("sphinx", "numpydoc", "myst-nb", "pydata-sphinx-theme"):
        assert any(req.startswith(package) for req in extras), package


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path):
    """The whole build, warnings as errors (notebooks as staged, or without outputs)."""
    pytest.importorskip("myst_nb")
    pytest.importorskip("pydata_sphinx_theme")
    env = dict(os.environ, BH_DOCS_EXECUTE="never")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q",
                          "-b", "html", str(DOCS), str(tmp_path / "html")],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-5000:]
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "coming_from.html" in index and "api/index.html" in index
    inventory = json.dumps(sorted(p.name for p in (tmp_path / "html" / "models").iterdir()))
    assert "ipdma.html" in inventory
