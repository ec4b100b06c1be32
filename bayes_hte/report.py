"""The Markdown + HTML report: sections of text, tables and images (PNG files)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


def markdown_table(df: pd.DataFrame, *, index: bool = True, floatfmt: str = "{:.4g}") -> str:
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
    """A report assembled from sections, written as Markdown and HTML beside its PNGs."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, df: pd.DataFrame, *, index: bool = True) -> None:
        self.blocks.append(("table", (df, index)))

    def image(self, path: str | Path, caption: str = "") -> None:
        self.blocks.append(("image", (Path(path).name, caption)))

    def write(self, outdir: str | Path, name: str = "report") -> tuple[Path, Path]:
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
