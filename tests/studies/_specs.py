"""Helpers shared by the study-spec tests (imported as ``from tests.studies._specs import ...``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: The study specs of the package (``models/studies``).
SPECS = Path(__file__).resolve().parents[2] / "models" / "studies"


def edited_spec(name: str, tmp_path: Path, edits: Iterable[tuple[str, str]] = (), *,
                text: str | None = None) -> Path:
    """``models/studies/<name>.toml`` (or ``text``, already edited from it) with each
    ``(old, new)`` of ``edits`` replaced in turn (each ``old`` must be in the text) and its
    output ``dir`` moved to ``tmp_path / "out"``; written to ``tmp_path / "<name>.toml"``,
    whose path is returned."""
    text = (SPECS / f"{name}.toml").read_text() if text is None else text
    for old, new in [*edits, (f'dir = "results/studies/{name}"', f'dir = "{tmp_path / "out"}"')]:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path
