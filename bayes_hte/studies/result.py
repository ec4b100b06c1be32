"""The result of a simulation study: its estimates table and the study it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_hte.studies.design import Study
from bayes_hte.studies.performance import MEASURES, performance


@dataclass(frozen=True, kw_only=True, eq=False)
class StudyResult:
    """Estimates of every method in every replicate of a study (from a run or a store).

    Parameters
    ----------
    name : str
        Name of the study.
    estimates : pandas.DataFrame
        One row per (scenario, replicate, method, estimand): one column per scenario
        factor, then ``scenario`` (int, 0-based index of the study's scenario),
        ``replicate`` (int, 0-based), ``method`` (str), ``estimand`` (str), ``truth``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high`` (float, on the estimand's scale),
        ``seconds`` (float, wall-clock seconds of the method on that replicate, the same
        for all its estimands), ``error`` (str, ``""`` when the method succeeded; when it
        raised, one row with estimand ``""``, NaN values and ``"ExceptionType: message"``,
        prefixed ``"generate: "`` when the data generator raised). Sorted by scenario,
        replicate, method (in the study's order), estimand.
    definition : dict
        The study's :meth:`~bayes_hte.studies.Study.definition` (as stored).
    factors : list of str
        Names of the scenario factor columns.
    methods : list of str
        Method names, in the study's order.
    store : pathlib.Path or None
        The store folder, or ``None`` for a run without store.
    study : Study or None
        The study (``None`` when read by :func:`~bayes_hte.studies.load`).
    n_run : int
        Replicates (scenario × replicate tasks) computed by this run.
    n_skipped : int
        Replicates found finished in the store and not recomputed.
    wall_seconds : float
        Wall-clock seconds of the run (NaN for a loaded store).
    """

    name: str
    estimates: pd.DataFrame
    definition: dict[str, Any] = field(default_factory=dict)
    factors: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    store: Path | None = None
    study: Study | None = None
    n_run: int = 0
    n_skipped: int = 0
    wall_seconds: float = float("nan")

    def performance(self, *, measures: Sequence[str] = MEASURES,
                    ref: str | None = None, ci_prob: float = 0.95) -> pd.DataFrame:
        """Performance measures with Monte Carlo SEs, by scenario, method and estimand.

        Parameters
        ----------
        measures : sequence of str
            Measures to compute (default: all), named as rsimsum names them:
            ``thetamean``, ``thetamedian``, ``se2mean``, ``se2median``, ``bias``,
            ``rbias``, ``empse``, ``mse``, ``relprec``, ``modelse``, ``relerror``,
            ``cover``, ``becover``, ``power``.
        ref : str, optional
            Reference method of ``relprec`` (default: the first method).
        ci_prob : float
            Level of the Wald intervals (estimate ± z SE) that stand in where a method
            gave an SE but no interval.

        Returns
        -------
        pandas.DataFrame
            :func:`bayes_hte.studies.performance` of :attr:`estimates` grouped by the
            study's factors: factor columns, ``method``, ``estimand``, ``measure``,
            ``value``, ``mcse``, ``n_ok``, ``n_failed``, ``n_missing``.
        """
        return performance(self.estimates, factors=self.factors, measures=measures, ref=ref,
                           ci_prob=ci_prob)

    def failures(self) -> pd.DataFrame:
        """The rows of the methods (or generators) that raised.

        Returns
        -------
        pandas.DataFrame
            The rows of :attr:`estimates` whose ``error`` is not empty (regenerate a
            replicate's data with :meth:`Study.data` to debug it).
        """
        est = self.estimates
        return est[est["error"] != ""].reset_index(drop=True)

    def __repr__(self) -> str:
        est = self.estimates
        n_rep = est[["scenario", "replicate"]].drop_duplicates().shape[0] if len(est) else 0
        n_fail = int((est["error"] != "").sum()) if len(est) else 0
        where = f", store={str(self.store)!r}" if self.store is not None else ""
        return (f"StudyResult({self.name!r}: {n_rep} replicates, methods {self.methods}, "
                f"{len(est)} rows, {n_fail} failed fits{where})")
