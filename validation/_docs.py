"""Write a validation script's results into docs/meta_analysis.md between markers."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "meta_analysis.md"


def write_block(name: str, text: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    src = doc.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in src or end not in src:
        raise SystemExit(f"{doc} has no {start} ... {end} block")
    new = re.sub(re.escape(start) + r".*?" + re.escape(end),
                 lambda _: f"{start}\n{text.rstrip()}\n{end}", src, flags=re.S)
    doc.write_text(new)
