"""Write a validation script's results into a page of docs/ between markers."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = DOCS / "meta_analysis.md"


def write_block(name: str, text: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` of `doc`.

    Raises ``SystemExit`` when `doc` lacks either marker.
    """
    src = doc.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in src or end not in src:
        raise SystemExit(f"{doc} has no {start} ... {end} block")
    new = re.sub(re.escape(start) + r".*?" + re.escape(end),
                 lambda _: f"{start}\n{text.rstrip()}\n{end}", src, flags=re.S)
    doc.write_text(new)


def report(name: str, text: str, *, doc: Path = DOC, write: bool = False) -> None:
    """Print `text` and, with `write`, put it between the `name` markers of `doc`."""
    print(text)
    if write:
        write_block(name, text, doc)
        print(f"wrote the {name} block of {doc}")
