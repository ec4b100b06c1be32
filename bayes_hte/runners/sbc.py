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
        Folder of ``summary.csv`` (one row per model), ``uniformity.csv`` (model,
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
    log(summary.to_string(index=False))
    log(f"tables and figures in {outdir}")
    return res
