"""The Markdown + HTML report: sections of text, tables and images (PNG files).

A :class:`Report` collects blocks in order (headings, paragraphs, tables, figures) and
writes them once, as ``<name>.md`` beside the PNG files it links to (by file name, so
the directory can be moved as a whole) and as ``<name>.html``, a self-contained page:
figures embedded as base64 ``data:`` URIs, an inline style sheet, no scripts and no
external resources, a contents list linking every section (``id`` anchors made from the
headings). The runners of ``bayes-hte run`` fill one report per run: a section per model
and the comparison of the models.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: MIME types of the figures the HTML page embeds (by file suffix).
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".svg": "image/svg+xml", ".gif": "image/gif"}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:0 16px;"
    "line-height:1.45;color:#222}"
    "h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}"
    "nav.toc{background:#f6f6f6;border:1px solid #ddd;padding:6px 16px;margin:1em 0}"
    "nav.toc ul{margin:2px 0;padding-left:20px}nav.toc>ul{padding-left:4px;"
    "list-style:none}nav.toc a{text-decoration:none}"
    ".tblwrap{overflow-x:auto;margin:0.5em 0}"
    ".tbl{border-collapse:collapse;font-size:12px}.tbl td,.tbl th"
    "{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    ".tbl th{background:#f0f0f0}.tbl td:first-child,.tbl th:first-child{text-align:left}"
    "figure{margin:1em 0}figure img{max-width:100%;height:auto}"
    "figcaption{font-size:13px;color:#555}code{background:#f3f3f3;padding:0 3px}"
    ".missing{color:#a00}"
)


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}-{k}", k + 1
    taken.add(slug)
    return slug


def _inline(text: str) -> str:
    """Escaped text with the inline Markdown the runners write: **bold**, `code`."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def markdown_html(text: str) -> str:
    """A paragraph of the runners' Markdown as HTML: paragraphs, lists, bold, code.

    Parameters
    ----------
    text : str
        Plain text with the little Markdown the runners use: blank-line separated
        paragraphs, lines starting with a dash and a space (a bulleted list),
        double-asterisk bold and backquoted code. Everything else is escaped.

    Returns
    -------
    str
        HTML: ``<p>`` and ``<ul>`` elements.
    """
    parts = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = para.splitlines()
        if lines and all(ln.startswith("- ") for ln in lines):
            parts.append("<ul>" + "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines)
                         + "</ul>")
        else:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def embedded_image(path: str | Path) -> str | None:
    """An image file as a ``data:`` URI (base64), for a self-contained HTML page.

    Parameters
    ----------
    path : str or pathlib.Path
        The image; its suffix gives the MIME type (:data:`IMAGE_TYPES`).

    Returns
    -------
    str or None
        ``"data:image/png;base64,..."``; ``None`` when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        return None
    mime = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def markdown_table(df: pd.DataFrame, *, index: bool = True, floatfmt: str = "{:.4g}") -> str:
    """A data frame as a GitHub-flavoured Markdown (pipe) table.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; any column types (cells are written with ``str``, floats with
        ``floatfmt``).
    index : bool
        Write the index as the first column(s) (``df.reset_index()``).
    floatfmt : str
        ``str.format`` pattern of float cells; NaN cells are left empty.

    Returns
    -------
    str
        A header row, a ``|---|`` separator row and one row per row of ``df``, joined
        by newlines (no trailing newline).
    """
    df = df.reset_index() if index else df

    def fmt(v):
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else floatfmt.format(v)
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


@dataclass
class Report:
    """A report assembled from sections, written as Markdown and HTML beside its PNGs.

    Parameters
    ----------
    title : str
        The document's title (level-1 heading, and the HTML ``<title>``).
    blocks : list of (str, object)
        The content so far, in order: ``("heading", (level, text))``, ``("text",
        text)``, ``("table", (df, index))``, ``("image", (file name, caption))``.
        Normally left empty and filled by the methods below.
    """

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, *, level: int = 2) -> None:
        """Add a section heading.

        Parameters
        ----------
        text : str
            The heading (plain text; escaped in the HTML).
        level : int
            Heading level: 2 for a section, 3 for a subsection (level 1 is the title).
        """
        self.blocks.append(("heading", (level, text)))

    def text(self, text: str) -> None:
        """Add a paragraph.

        Parameters
        ----------
        text : str
            The paragraph: Markdown in the ``.md`` file, escaped plain text in the HTML.
        """
        self.blocks.append(("text", text))

    def table(self, df: pd.DataFrame, *, index: bool = True) -> None:
        """Add a table (floats written with 4 significant digits).

        Parameters
        ----------
        df : pandas.DataFrame
            The table; it is kept by reference and read when the report is written.
        index : bool
            Write the index as the first column(s).
        """
        self.blocks.append(("table", (df, index)))

    def image(self, path: str | Path, caption: str = "") -> None:
        """Add a figure.

        Parameters
        ----------
        path : str or pathlib.Path
            The image file (e.g. a PNG); only its name is recorded, so it must sit in
            the directory the report is written to.
        caption : str
            Caption under the figure (also its Markdown alt text); may be empty.
        """
        self.blocks.append(("image", (Path(path).name, caption)))

    def write(self, outdir: str | Path, *, name: str = "report") -> tuple[Path, Path]:
        """Write the report as Markdown and as a self-contained HTML page.

        Parameters
        ----------
        outdir : str or pathlib.Path
            Existing directory (the one holding the images); files there of the same
            names are overwritten.
        name : str
            File stem of the two documents.

        Returns
        -------
        md_path, html_path : pathlib.Path
            ``outdir / f"{name}.md"`` (images linked by file name) and
            ``outdir / f"{name}.html"``: an inline style sheet, a contents list of the
            level-2 and level-3 headings (links to their ``id`` anchors), tables, and
            every figure embedded as a base64 ``data:`` URI (:func:`embedded_image`; a
            missing image file is said in the text instead of a broken image). No
            scripts, no external resources.
        """
        outdir = Path(outdir)
        md, body = [f"# {self.title}", ""], [f"<h1>{html.escape(self.title)}</h1>"]
        toc: list[tuple[int, str, str]] = []
        taken: set[str] = set()
        for kind, content in self.blocks:
            if kind == "heading":
                level, text = content
                md += ["#" * level + " " + text, ""]
                anchor = _slug(text, taken)
                if level in (2, 3):
                    toc.append((level, anchor, text))
                body.append(f'<h{level} id="{anchor}">{html.escape(text)}</h{level}>')
            elif kind == "text":
                md += [content, ""]
                body.append(markdown_html(content))
            elif kind == "table":
                df, index = content
                md += [markdown_table(df, index=index), ""]
                body.append('<div class="tblwrap">' + df.to_html(
                    index=index, float_format=lambda v: f"{v:.4g}", na_rep="", border=0,
                    classes="tbl") + "</div>")
            elif kind == "image":
                fname, caption = content
                md += [f"![{caption}]({fname})", "", f"*{caption}*" if caption else "", ""]
                uri = embedded_image(outdir / fname)
                if uri is None:
                    body.append(f'<p class="missing">[figure {html.escape(fname)} is '
                                f"missing] {html.escape(caption)}</p>")
                else:
                    body.append(f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
                                f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        if toc:
            body.insert(1, _toc_html(toc))
        md_path, html_path = outdir / f"{name}.md", outdir / f"{name}.html"
        md_path.write_text("\n".join(md))
        html_path.write_text(
            "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
        return md_path, html_path


def _toc_html(toc: list[tuple[int, str, str]]) -> str:
    """The contents list: level-2 headings, their level-3 headings nested."""
    out, open_sub = ['<nav class="toc"><strong>Contents</strong><ul>'], False
    for level, anchor, text in toc:
        link = f'<a href="#{anchor}">{html.escape(text)}</a>'
        if level == 3:
            if not open_sub:
                out.append("<ul>")
                open_sub = True
            out.append(f"<li>{link}</li>")
            continue
        if open_sub:
            out.append("</ul>")
            open_sub = False
        out.append(f"<li>{link}</li>")
    if open_sub:
        out.append("</ul>")
    out.append("</ul></nav>")
    return "".join(out)
