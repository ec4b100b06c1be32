r"""Simulation-based calibration (SBC) of the package's Bayesian models.

:func:`run` draws parameters from a model's own prior, simulates outcomes on a fixed
design from the same generative model, fits the model with nutpie and records the rank
of every true parameter, of the simulated data's log likelihood and of a few patients'
individual treatment effects among thinned posterior draws (Talts et al. 2018;
Modrák et al. 2023, *Bayesian Analysis*). The simulations run on the simulation-study
engine (:mod:`bayes_hte.studies`): seeded per simulation, streamed to a resumable
Parquet store, in process or on a Dask cluster. :mod:`bayes_hte.sbc.families` holds
every model family on a small design; :func:`bayes_hte.plots.sbc.plot_sbc` draws the
PIT-ECDF difference plots with simultaneous bands.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from bayes_hte.options import check_count, check_sampler_settings
from bayes_hte.sbc.core import FitSettings, SBCFit, SBCGenerate, SBCModel
from bayes_hte.sbc.families import FAMILIES, models, wrong_prior_model
from bayes_hte.sbc.result import SBCResult
from bayes_hte.studies.design import Study
from bayes_hte.studies.engine import run as run_study

__all__ = ["FAMILIES", "FitSettings", "SBCModel", "SBCResult", "models", "run",
           "wrong_prior_model"]


def _no_truth(**scenario: Any) -> dict[str, float]:
    """SBC truths are drawn per simulation, not per scenario."""
    return {}


def run(models: Sequence[SBCModel], *, simulations: int = 200, seed: int = 2026,
        draws: int = 500, tune: int = 500, chains: int = 2, thin: int = 5,
        target_accept: float = 0.9, store: str | os.PathLike | None = None,
        workers: int = 1, client: Any = None, progress: bool = True,
        overwrite: bool = False, chunk: int = 5, name: str = "sbc") -> SBCResult:
    r"""Simulation-based calibration of each model: simulate, fit, rank; resumable.

    Each model is one scenario (factor ``model``) of a :class:`bayes_hte.studies.Study`
    with ``simulations`` replicates; simulation :math:`s` of model :math:`m` draws all
    its random numbers (prior draw, data, sampler seed) from
    ``SeedSequence(seed, spawn_key=(m, s))``, so results are identical whatever the
    number of workers, and raising ``simulations`` adds simulations. A fit that raises
    is recorded with its error (``SBCResult.fits``), a fit with divergent transitions is
    kept and counted.

    Parameters
    ----------
    models : sequence of SBCModel
        The models, e.g. ``bayes_hte.sbc.models("ipdma/binary")``; names must be unique.
    simulations : int
        Simulations per model (Talts et al. suggest at least a few hundred to detect
        moderate miscalibration).
    seed : int
        Master seed.
    draws, tune, chains, thin : int
        NUTS settings (nutpie); :math:`L = \text{chains} \cdot \lceil \text{draws} /
        \text{thin} \rceil` thinned draws are ranked, so ranks lie in :math:`0..L`.
    target_accept : float
        Target acceptance rate.
    store : str or path-like, optional
        Parquet store of the study (resumable; see :func:`bayes_hte.studies.run`).
    workers : int
        Dask worker processes (1: in process).
    client : distributed.Client or str, optional
        An existing Dask cluster (client or scheduler address).
    progress : bool
        Show a progress bar.
    overwrite : bool
        Discard a store holding another definition.
    chunk : int
        Simulations per task (each worker compiles each model once per process).
    name : str
        Name of the study (and of the store's ``study.json``).

    Returns
    -------
    SBCResult
        ``ranks``, ``fits``, ``uniformity()``, ``summary()``, ``pit_tree(model)``.

    Raises
    ------
    ValueError
        Empty or duplicate model names; ``draws``, ``chains`` or ``thin`` not an
        integer >= 1, ``tune`` not one >= 0, ``target_accept`` outside (0, 1)
        (:func:`bayes_hte.options.check_sampler_setting`); or a bad option of the study
        (see :func:`bayes_hte.studies.run`).

    Examples
    --------
    >>> import bayes_hte as bh
    >>> res = bh.sbc.run(bh.sbc.models("synthesis/univariate"), simulations=20,
    ...                  progress=False)  # doctest: +SKIP
    >>> res.summary()[["model", "verdict"]]  # doctest: +SKIP
    """
    models = tuple(models)
    names = [m.name for m in models]
    if not names:
        raise ValueError("models is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    # checked here, not in every fit: a bad setting made every fit fail (or rank
    # nonsense, thin=-1), which read as miscalibration
    check_sampler_settings({"draws": draws, "tune": tune, "chains": chains,
                            "target_accept": target_accept})
    check_count("thin", thin, low=1)
    settings = FitSettings(draws=draws, tune=tune, chains=chains, thin=thin,
                           target_accept=target_accept)
    study = Study(name=name, generate=SBCGenerate(models),
                  methods={"nuts": SBCFit(models, settings)}, truth=_no_truth,
                  scenarios=[{"model": n} for n in names], replicates=simulations,
                  seed=seed)
    res = run_study(study, store=store, client=client, workers=workers, progress=progress,
                    overwrite=overwrite, chunk=chunk)
    return SBCResult(res)
