"""Simulation studies: ADEMP definitions, seeded and resumable runs, performance measures.

A :class:`Study` names the data-generating mechanism, the scenarios, the methods and the
true values of the estimands; :func:`run` executes it in process or on a Dask cluster,
streaming one Parquet file per finished task (a chunk of replicates) to a store it can
resume from; :func:`load` reads a store back; :func:`performance` computes the measures
of Morris, White & Crowther (2019) with their Monte Carlo standard errors.
"""

from bayes_hte.studies.design import Study
from bayes_hte.studies.engine import run
from bayes_hte.studies.performance import performance
from bayes_hte.studies.result import StudyResult
from bayes_hte.studies.store import load

__all__ = ["Study", "StudyResult", "load", "performance", "run"]
