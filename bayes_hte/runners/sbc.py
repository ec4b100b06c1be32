"""``bayes-hte sbc``: simulation-based calibration of model families, tables and figures."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from bayes_hte import sbc
from bayes_hte.plots.sbc import plot_sbc
from bayes_hte.runners.schema import SpecError


def run_sbc(families: Sequence[str], *, simulations: int = 200, workers: int = 1,
            scheduler: str | None = None, store: str | os.PathLike = "results/sbc/store",
            out: str | os.PathLike = "results/sbc", seed: int = 2026, chunk: int = 10,
            overwrite: bool = False, progress: bool = True,
            log: Callable[[str], None] = print) -> sbc.SBCResult:
    """Run SBC of the named families (resumable) and write its tables and figures.

    Parameters
    ----------
    families : sequence of str
        Family prefixes or model names of :func:`bayes_hte.sbc.models` (empty: every
        model of the package).
    simulations : int
        Simulations per model.
    workers : int
        Dask worker processes on this machine (1: in process).
    scheduler : str, optional
        Address of a running Dask scheduler (instead of ``workers``).
    store : str or path-like
        Resumable Parquet store; a rerun skips finished simulations.
    out : str or path-like
        Folder of ``summary.csv`` (one row per model) and ``summary.md`` (the same and
        the failing quantities as Markdown tables), ``uniformity.csv`` (model,
        quantity, test, p-value, verdict), ``fits.csv`` (divergences, R-hat, ESS, time,
        error of every fit), ``ranks.csv`` and one ``ecdf_<model>.png`` per model.
    seed : int
        Master seed.
    chunk : int
        Simulations per task.
    overwrite : bool
        Discard a store that holds another definition.
    progress : bool
        Show a progress bar.
    log : callable
        Receives progress messages.

    Returns
    -------
    SBCResult
        The result of every model of the run.

    Raises
    ------
    SpecError
        An unknown family.
    ValueError
        A bad option of :func:`bayes_hte.sbc.run`.
    """
    chosen: list[sbc.SBCModel] = []
    for fam in families or [None]:
        try:
            found = sbc.models(fam)
        except ValueError as err:
            raise SpecError(str(err)) from None
        chosen += [m for m in found if m.name not in {c.name for c in chosen}]
    log(f"SBC of {len(chosen)} models x {simulations} simulations "
        f"({workers if scheduler is None else 'cluster'} worker(s))")
    res = sbc.run(chosen, simulations=simulations, seed=seed, store=store, workers=workers,
                  client=scheduler, progress=progress, overwrite=overwrite, chunk=chunk)
    write_outputs(res, out, log=log)
    return res


def write_outputs(res: sbc.SBCResult, out: str | os.PathLike, *,
                  log: Callable[[str], None] = print) -> None:
    """Write an SBC result's tables and figures (see :func:`run_sbc`, ``out``).

    Parameters
    ----------
    res : SBCResult
        From :func:`bayes_hte.sbc.run`, or ``SBCResult(bayes_hte.studies.load(store))``.
    out : str or path-like
        Output folder (created if needed).
    log : callable
        Receives the summary table.
    """
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    summary.to_csv(outdir / "summary.csv", index=False)
    res.uniformity().to_csv(outdir / "uniformity.csv", index=False)
    res.fits.to_csv(outdir / "fits.csv", index=False)
    res.ranks.to_csv(outdir / "ranks.csv", index=False)
    for model in summary["model"]:
        if res.ranks["model"].eq(model).any():
            fig = plot_sbc(res, model)
            fig.savefig(outdir / f"ecdf_{model.replace('/', '_')}.png", dpi=90)
            plt.close(fig)
    (outdir / "summary.md").write_text(markdown_tables(res))
    log(summary.to_string(index=False))
    log(f"tables and figures in {outdir}")


def markdown_tables(res: sbc.SBCResult) -> str:
    """The per-model verdicts and every failing quantity as Markdown tables.

    Parameters
    ----------
    res : SBCResult
        An SBC result.

    Returns
    -------
    str
        Two pipe tables: model, simulations, failed fits, fits with divergences, largest
        R-hat, quantities tested, least uniform quantity, its Holm-adjusted p-value
        (ArviZ ``pot_c`` uniformity test) and the verdict; then model, quantity, test,
        p-value, Holm p-value, 95% coverage and verdict of each failing quantity.
    """
    summary = res.summary()
    uni = res.uniformity()
    lines = ["| model | simulations | failed | divergent fits | max R-hat | quantities | "
             "least uniform | p (Holm) | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| `{r.model}` | {r.simulations} | {r.failed} | {r.divergent} | "
                     f"{r.max_rhat:.3f} | {r.quantities} | `{r.worst_quantity}` | "
                     f"{r.min_p_holm:.3g} | {r.verdict} |")
    bad = uni[uni["verdict"] == "fail"]
    lines += ["", "| model | quantity | test | p-value | p (Holm) | 95% coverage | verdict |",
              "|---|---|---|---|---|---|---|"]
    if bad.empty:
        lines.append("| (none) | | | | | | |")
    for r in bad.itertuples():
        lines.append(f"| `{r.model}` | `{r.quantity}` | {r.test} | {r.p_value:.3g} | "
                     f"{r.p_holm:.3g} | {r.coverage_95:.2f} | {r.verdict} |")
    return "\n".join(lines) + "\n"
