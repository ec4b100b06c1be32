"""The documented quick starts run as written.

Every ```python block of the "Quick start" section of README.md and of each page in
docs/ is executed unchanged: the blocks of one page in order, in one fresh namespace,
with a temporary working directory and the non-interactive matplotlib backend.
"""

from __future__ import annotations

import linecache
import re
import warnings
from pathlib import Path

import pytest

from bayes_hte.errors import ConvergenceWarning

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Pages that must have a runnable quick start (the generated validation reports need not).
REQUIRED = ("README.md", "docs/ipdma.md", "docs/evaluation.md", "docs/subgroup.md",
            "docs/multivariate.md", "docs/meta_analysis.md", "docs/cima.md")

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")


def quick_start_blocks(text: str, heading: str = "quick start") -> list[str]:
    """The ```python blocks of the section headed "Quick start..." (or another
    ``heading`` prefix, lower case), up to the next heading of the same or a higher
    level; headings inside code blocks do not count."""
    blocks: list[str] = []
    level = None            # heading level of the quick-start section while inside it
    fence = None            # the open fence marker, when inside a code block
    lang = ""
    lines: list[str] = []
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1).startswith(fence) and not m.group(2):
                if level is not None and lang == "python":
                    blocks.append("\n".join(lines) + "\n")
                fence, lines = None, []
            else:
                lines.append(line)
            continue
        if m:
            fence, lang, lines = m.group(1), m.group(2).lower(), []
            continue
        h = _HEADING.match(line)
        if h:
            depth = len(h.group(1))
            if level is not None and depth <= level:
                level = None
            if h.group(2).lower().startswith(heading) and level is None:
                level = depth
    return blocks


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PAGE_BLOCKS = {_rel(p): quick_start_blocks(p.read_text(encoding="utf-8")) for p in PAGES}


def test_parser_finds_python_blocks_of_the_section_only():
    text = ("# T\n```python\nx = 0\n```\n## Quick start\ntext\n```python\na = 1\n# not a "
            "heading\n```\n```bash\nls\n```\n### Sub\n```python\nb = 2\n```\n## Next\n"
            "```python\nc = 3\n```\n## Quick start (Python)\n```python\nd = 4\n```\n")
    assert quick_start_blocks(text) == ["a = 1\n# not a heading\n", "b = 2\n", "d = 4\n"]


@pytest.mark.parametrize("page", REQUIRED)
def test_page_has_a_quick_start(page):
    assert PAGE_BLOCKS[page], f"{page} has no ```python block under a 'Quick start' heading"


@pytest.mark.parametrize("page", [p for p, blocks in PAGE_BLOCKS.items() if blocks])
def test_quick_start_runs_as_written(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__main__"}
    try:
        with warnings.catch_warnings():
            # a documented fit meets the convergence targets (no bh.ConvergenceWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            for k, code in enumerate(PAGE_BLOCKS[page], start=1):
                name = f"<{page}: quick start, block {k}>"
                linecache.cache[name] = (len(code), None, code.splitlines(True), name)
                exec(compile(code, name, "exec"), namespace)
    finally:
        plt.close("all")


#: Sections outside the quick starts whose examples are self-contained: page -> heading
#: prefixes (lower case); each section's blocks run in order in one fresh namespace.
SECTIONS = {"docs/meta_analysis.md": ("data", "small-study effects", "mantel–haenszel")}


@pytest.mark.parametrize(("page", "heading"),
                         [(p, h) for p, hs in SECTIONS.items() for h in hs])
def test_section_examples_run_as_written(page, heading, tmp_path, monkeypatch):
    blocks = quick_start_blocks((ROOT / page).read_text(encoding="utf-8"), heading)
    assert blocks, f"{page} has no ```python block under a heading {heading!r}"
    monkeypatch.chdir(tmp_path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__main__"}
    try:
        for k, code in enumerate(blocks, start=1):
            exec(compile(code, f"<{page}: {heading}, block {k}>", "exec"), namespace)
    finally:
        plt.close("all")
