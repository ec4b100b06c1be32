"""The Markdown + HTML report: sections of text, tables and images (PNG files).

A :class:`Report` collects blocks in order (headings, paragraphs, tables, figures) and
writes them once, as ``<name>.md`` and a self-contained ``<name>.html`` beside the PNG
files the figures refer to (by file name, so the directory can be moved as a whole).
The runners of ``bayes-hte run`` fill one report per run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


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
        """Write the report as Markdown and HTML.

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
            ``outdir / f"{name}.md"`` and ``outdir / f"{name}.html"`` (HTML with an inline
            style sheet, images referenced by file name).
        """
        outdir = Path(outdir)
        md, body = [f"# {self.title}", ""], [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, content in self.blocks:
            if kind == "heading":
                level, text = content
                md += ["#" * level + " " + text, ""]
                body.append(f"<h{level}>{html.escape(text)}</h{level}>")
            elif kind == "text":
                md += [content, ""]
                body.append(f"<p>{html.escape(content)}</p>")
            elif kind == "table":
                df, index = content
                md += [markdown_table(df, index=index), ""]
                body.append(df.to_html(index=index, float_format=lambda v: f"{v:.4g}",
                                       border=0, classes="tbl"))
            elif kind == "image":
                fname, caption = content
                md += [f"![{caption}]({fname})", "", f"*{caption}*" if caption else "", ""]
                body.append(f'<figure><img src="{html.escape(fname)}" style="max-width:100%">'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        style = ("<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
                 ".tbl{border-collapse:collapse;font-size:12px}.tbl td,.tbl th"
                 "{padding:2px 6px;border-bottom:1px solid #ddd}</style>")
        md_path, html_path = outdir / f"{name}.md", outdir / f"{name}.html"
        md_path.write_text("\n".join(md))
        html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'>"
                             f"<title>{html.escape(self.title)}</title>{style}</head><body>"
                             + "\n".join(body) + "</body></html>")
        return md_path, html_path
