"""Runner of ``bayes-hte study``: a Monte Carlo simulation study from a TOML spec.

Spec keys (declared in :data:`bayes_hte.runners.schema.SCHEMA`, family ``"study"``)::

    [study]
    name = "berenfeld2026_coverage"     # default: the file name
    replicates = 1000                   # per scenario (--replicates overrides)
    seed = 2026                         # replicate r of scenario s: SeedSequence(seed, (s, r))
    chunk = 50                          # replicates per task (fast methods: raise it)
    ci_prob = 0.95                      # level of every method's interval

    [ademp]                             # Morris, White & Crowther (2019): the plan, in words
    aims = "..."
    data = "..."                        # data-generating mechanisms
    estimands = "..."
    methods = "..."
    performance = "..."                 # performance measures

    [data]
    simulator = "berenfeld2026_counts"  # bayes_hte.studies.methods.SIMULATORS
    params = { n = 1000 }               # fixed design parameters

    [scenarios]                         # factor = [levels]: the full factorial ...
    k = [5, 10]
    tau2 = [0.0, 0.1]
    # ... or one table per scenario:  [[scenario]]  k = 5  tau2 = 0.0

    [methods.REML]                      # one table per method; the label names it
    kind = "meta_analysis"              # bayes_hte.studies.methods.METHOD_KINDS
    method = "REML"                     # the kind's options (method_options(kind))
    [methods.bayes]
    kind = "bayes_meta_analysis"
    draws = 500
    replicates = 200                    # this method on replicates 0..199 only
    chunk = 1

    [output]
    dir = "results/studies/<name>"      # default results/studies/<file stem>
    store = "<dir>/store"               # the Parquet store (--store overrides)
    measures = ["cover", "bias", "empse", "modelse"]   # default: REPORT_MEASURES (ten)
    figures = ["performance", "zip", "estimates"]

Methods without their own ``replicates`` run together (one task fits all of them to the
same data set) in the sub-store ``<store>/main``; a method with its own ``replicates``
runs in ``<store>/<label>``. Every sub-store is a :func:`bayes_hte.studies.load`-able store,
and because replicate ``r`` of scenario ``s`` always draws the same data, a method with
fewer replicates sees the first of the data sets the others see. A rerun skips the
finished replicates; raising ``replicates`` adds replicates.

Outputs in ``[output].dir``: ``performance.csv`` (:func:`bayes_hte.studies.performance`
of every method, with Monte Carlo SEs), ``performance_<measure>.png``,
``zip_<method>_<estimand>.png`` (with ``cover``), ``estimates_<estimand>.png`` and the
report (``report.md`` / ``report.html``: the ADEMP plan, one table per measure, the cost
of each method and the failures). The estimates themselves stay in the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.options import check_count, check_type_of_default
from bayes_hte.plots.studies import plot_estimates, plot_performance, plot_zip
from bayes_hte.report import Report
from bayes_hte.runners.base import Log, Runner
from bayes_hte.runners.schema import (
    STUDY_FIGURES,
    STUDY_METHOD,
    SpecError,
    check_keys,
    required,
)
from bayes_hte.studies import Study, StudyResult, performance
from bayes_hte.studies import load as load_store
from bayes_hte.studies import run as run_study
from bayes_hte.studies.methods import (
    check_method_data,
    make_generate,
    make_method,
    make_truth,
    method_options,
    simulator_params,
)
from bayes_hte.studies.performance import MEASURES

#: Sub-store of the methods that run on ``[study].replicates``.
MAIN_GROUP = "main"
#: Measures reported in percent.
PERCENT_MEASURES = ("cover", "becover", "power")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
_ADEMP_TITLES = {"aims": "Aims", "data": "Data-generating mechanisms",
                 "estimands": "Estimands", "methods": "Methods",
                 "performance": "Performance measures"}


@dataclass
class StudyGroup:
    """Methods that share a number of replicates, run as one study into one sub-store.

    Parameters
    ----------
    label : str
        ``"main"`` or the label of the method with its own replicates.
    study : Study
        The study of these methods.
    store : pathlib.Path
        Its sub-store.
    replicates : int
        Replicates per scenario of this run.
    chunk : int
        Replicates per task.
    """

    label: str
    study: Study
    store: Path
    replicates: int
    chunk: int


@dataclass
class StudyPlan:
    """Everything a study spec resolves to (the result of :meth:`StudyRunner.load`).

    Parameters
    ----------
    name : str
        The study's name.
    groups : list of StudyGroup
        The groups to run, ``"main"`` first.
    factors : list of str
        Scenario factor names.
    methods : dict
        Method label -> ``{"kind", "options", "replicates"}`` (for the report).
    measures : list of str
        Performance measures to report.
    store : pathlib.Path
        Root of the store.
    estimands : list of str
        Estimands in the order the truth of the first scenario names them (table
        columns).
    """

    name: str
    groups: list[StudyGroup]
    factors: list[str]
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    measures: list[str] = field(default_factory=list)
    store: Path = Path("store")
    estimands: list[str] = field(default_factory=list)


def _integer(value: Any, what: str, *, low: int) -> int:
    return check_count(what, value, low=low, error=SpecError)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(text)).strip("_") or "x"


def _fmt(value: float, mcse: float, *, percent: bool) -> str:
    if not np.isfinite(value):
        return ""
    if percent:
        out = f"{100 * value:.1f}"
        return out + (f" ({100 * mcse:.1f})" if np.isfinite(mcse) else "")
    return f"{value:.4g}" + (f" ({mcse:.2g})" if np.isfinite(mcse) else "")


def measure_table(perf: pd.DataFrame, *, measure: str, factors: Sequence[str] = (),
                  methods: Sequence[str] | None = None,
                  estimands: Sequence[str] | None = None) -> pd.DataFrame:
    """One performance measure as a table: a row per scenario and method, a column per
    estimand, each cell ``value (MCSE)``.

    Parameters
    ----------
    perf : pandas.DataFrame
        The table of :func:`bayes_hte.studies.performance` (factor columns, ``method``,
        ``estimand``, ``measure``, ``value``, ``mcse``, ``n_ok``, ``n_failed``).
    measure : str
        The measure to tabulate; ``cover``, ``becover`` and ``power`` in percent (one
        decimal), others with 4 significant digits and a 2-digit MCSE.
    factors : sequence of str
        Scenario factor columns (kept as the first columns).
    methods : sequence of str, optional
        Row order of the methods (default: as they appear in ``perf``).
    estimands : sequence of str, optional
        Column order of the estimands (default: as they appear in ``perf``); estimands
        of ``perf`` not listed follow.

    Returns
    -------
    pandas.DataFrame
        Columns: the factors, ``method``, one per estimand (strings, empty where the
        value is NaN), ``n`` (the largest number of replicates a cell used) and, when a
        method raised in some replicate, ``failed``.

    Raises
    ------
    SpecError
        ``perf`` has no row of ``measure``.
    """
    rows = perf[perf["measure"] == measure]
    if rows.empty:
        raise SpecError(f"the performance table has no measure {measure!r}")
    factors = list(factors)
    present = list(pd.unique(rows["estimand"]))
    first = [e for e in (estimands or ()) if e in present]
    estimands = first + [e for e in present if e not in first]
    order = list(methods) if methods is not None else list(pd.unique(rows["method"]))
    percent = measure in PERCENT_MEASURES
    out = []
    keys = [*factors, "method"]
    for key, sub in rows.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key, strict=True))
        for _, r in sub.iterrows():
            row[r["estimand"]] = _fmt(float(r["value"]), float(r["mcse"]), percent=percent)
        row["n"] = int(sub["n_ok"].max())
        row["failed"] = int(sub["n_failed"].max())
        out.append(row)
    table = pd.DataFrame(out, columns=[*keys, *estimands, "n", "failed"])
    table["_rank"] = table["method"].map({m: i for i, m in enumerate(order)})
    sort = [*factors, "_rank"] if factors else ["_rank"]
    table = table.sort_values(sort, kind="stable").drop(columns="_rank")
    if not table["failed"].any():
        table = table.drop(columns="failed")
    return table.fillna("").reset_index(drop=True)



def _check_scenarios(simulator: str, study: Study) -> None:
    """Each scenario's levels by the simulator's defaults (``k = "twenty"``), then one
    draw of each scenario's data and its truth (``k = -3``): a SpecError naming the
    scenario before any replicate runs (the draw uses its own generator, not a
    replicate's)."""
    defaults = simulator_params(simulator)
    for i, scenario in enumerate(study.scenarios):
        where = f"[scenarios] scenario {i} ({scenario})"
        for factor, level in scenario.items():
            if level is not None and factor in defaults:
                try:
                    check_type_of_default(f"level of {factor!r}", level, defaults[factor])
                except ValueError as err:
                    raise SpecError(f"{where}: {err}") from err
        try:
            data = study.generate(np.random.default_rng(0), **scenario)
            study.truth(**scenario, **({"data": data} if study.truth_reads_data else {}))
        except Exception as err:  # any failure of the draw is the spec's
            raise SpecError(f"{where} cannot be simulated with {simulator!r}: "
                            f"{type(err).__name__}: {err}") from err

class StudyRunner(Runner):
    """``bayes-hte study``: a simulation study (:mod:`bayes_hte.studies`) from a spec.

    Parameters
    ----------
    spec : mapping
        The parsed study spec (:func:`bayes_hte.spec.load_study_spec`).
    outdir : str or pathlib.Path
        Existing output folder.
    log : callable
        Progress messages.
    workers : int
        ``1``: in this process; ``N > 1``: a Dask ``LocalCluster`` of N single-threaded
        worker processes, shared by all groups of the run.
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``) to run on instead.
    replicates : int, optional
        Replicates per scenario instead of ``[study].replicates``; a method with its own
        smaller ``replicates`` keeps it (capped at this number).
    store : str or pathlib.Path, optional
        Root of the store instead of ``[output].store``.
    overwrite : bool
        Discard stored results of a changed study definition instead of refusing.
    progress : bool
        Show the progress bar of each group.

    Raises
    ------
    SpecError
        The spec does not match the schema.
    """

    family = "study"

    def __init__(self, spec: Mapping, outdir: str | Path, log: Log, *, workers: int = 1,
                 scheduler: str | None = None, replicates: int | None = None,
                 store: str | Path | None = None, overwrite: bool = False,
                 progress: bool = True):
        super().__init__(spec, outdir, log)
        self.workers = _integer(workers, "--workers", low=1)
        self.replicates = None if replicates is None else _integer(
            replicates, "--replicates", low=1)
        if scheduler and self.workers > 1:
            raise SpecError("give --workers (a local cluster) or --scheduler (a running "
                            "one), not both")
        self.scheduler = scheduler
        self.store = store
        self.overwrite = overwrite
        self.progress = progress

    @classmethod
    def main(cls, spec: Mapping, outdir: str | Path, log: Log, *, workers: int = 1,
             scheduler: str | None = None, replicates: int | None = None,
             store: str | Path | None = None, overwrite: bool = False,
             progress: bool = True) -> None:
        """Run one study spec: ``run(spec, outdir, log, ...)`` of this module.

        Parameters
        ----------
        spec, outdir, log, workers, scheduler, replicates, store, overwrite, progress
            As in :class:`StudyRunner`.

        Raises
        ------
        SpecError
            A spec that cannot be run (the message names the table and key).
        """
        cls(spec, outdir, log, workers=workers, scheduler=scheduler, replicates=replicates,
            store=store, overwrite=overwrite, progress=progress).run()

    # ------------------------------------------------------------------ load
    def _require(self) -> None:
        for section in ("study", "ademp", "data"):
            for key in required(self.family, section):
                if key not in self.tables[section]:
                    raise SpecError(f"[{section}] needs {key!r}")

    def _scenarios(self) -> tuple[Any, list[str]]:
        grid, rows = self.tables["scenarios"], self.tables["scenario"]
        if grid and rows:
            raise SpecError("give the scenarios either as [scenarios] factor = [levels] "
                            "(a full factorial) or as [[scenario]] tables, not both")
        for factor, levels in grid.items():
            if not isinstance(levels, list) or not levels:
                raise SpecError(f"[scenarios] {factor!r} must be a non-empty list of "
                                f"levels, got {levels!r}")
        if rows:
            names = list(dict.fromkeys(k for row in rows for k in row))
            return rows, names
        return (dict(grid) if grid else [{}]), list(grid)

    def _methods(self, simulator: str, ci_prob: float) -> dict[str, dict[str, Any]]:
        tables = self.tables["methods"]
        if not tables:
            raise SpecError("the spec has no method: add a [methods.<label>] table with "
                            "a 'kind'")
        out = {}
        for label, table in tables.items():
            where = f"[methods.{label}]"
            if not _LABEL_RE.match(label):
                raise SpecError(f"{where}: a method label may hold letters, digits and "
                                "_ . + - only (it names files and folders)")
            if not isinstance(table, Mapping):
                raise SpecError(f"{where} must be a table, got {table!r}")
            if "kind" not in table:
                raise SpecError(f"{where} needs 'kind' (one of the method kinds of "
                                "bayes_hte.studies.methods.METHOD_KINDS)")
            kind = table["kind"]
            try:
                allowed = method_options(kind)
                check_method_data(kind, simulator)
            except ValueError as err:
                raise SpecError(f"{where}: {err}") from err
            check_keys(table, {**STUDY_METHOD, **allowed}, f"methods.{label}",
                       family=self.family)
            options = {k: v for k, v in table.items() if k not in STUDY_METHOD}
            if "ci_prob" in allowed:
                options.setdefault("ci_prob", ci_prob)
            try:
                func = make_method(kind, options=options)
            except ValueError as err:
                raise SpecError(f"{where}: {err}") from err
            reps = table.get("replicates")
            if reps is not None:
                _integer(reps, f"{where} replicates", low=1)
                if label == MAIN_GROUP:
                    raise SpecError(f"{where}: the label {MAIN_GROUP!r} names the sub-store "
                                    "of the other methods; rename this method")
            elif "chunk" in table:
                raise SpecError(f"{where}: 'chunk' is for a method with its own "
                                "'replicates' (the others use [study].chunk)")
            chunk = _integer(table.get("chunk", 1), f"{where} chunk", low=1)
            out[label] = {"kind": kind, "options": options, "replicates": reps,
                          "chunk": chunk, "func": func}
        return out

    def load(self) -> StudyPlan:
        """Resolve the spec into the groups of methods to run.

        Returns
        -------
        StudyPlan
            The study's name, its groups (a :class:`~bayes_hte.studies.Study` each), the
            factors, methods, measures and store.

        Raises
        ------
        SpecError
            A missing required key, an unknown simulator, parameter, factor, method kind,
            option or measure (named), a method that cannot read the simulator's data,
            or invalid scenarios.
        """
        self._require()
        st, data, out = self.tables["study"], self.tables["data"], self.tables["output"]
        name = st.get("name") or Path(self.spec.get("_path", "study")).stem
        replicates = _integer(st["replicates"], "[study] replicates", low=1)
        seed = _integer(st["seed"], "[study] seed", low=0)
        chunk = _integer(st["chunk"], "[study] chunk", low=1)
        ci_prob = st["ci_prob"]
        try:
            check_ci_prob(ci_prob, error=SpecError)
        except SpecError as err:
            raise SpecError(f"[study] {err}") from None
        for key in required(self.family, "ademp"):
            if not isinstance(self.tables["ademp"][key], str):
                raise SpecError(f"[ademp] {key!r} must be text")
        simulator = data["simulator"]
        if not isinstance(data["params"], Mapping):
            raise SpecError(f"[data] params must be a table, got {data['params']!r}")
        scenarios, factors = self._scenarios()
        try:
            generate = make_generate(simulator, params=data["params"], factors=factors)
            truth = make_truth(simulator, params=data["params"])
        except ValueError as err:
            raise SpecError(f"[data] {err}") from err
        methods = self._methods(simulator, float(ci_prob))
        measures = list(out["measures"])
        bad = sorted(set(measures) - set(MEASURES))
        if bad:
            raise SpecError(f"[output] measures {bad} are unknown; choose from {list(MEASURES)}")
        bad = sorted(set(out["figures"]) - set(STUDY_FIGURES))
        if bad:
            raise SpecError(f"[output] figures {bad} are unknown; choose from "
                            f"{list(STUDY_FIGURES)}")
        # checked before the study runs: a bad dpi failed in matplotlib after all the fits
        check_count("[output] dpi", out["dpi"], low=10, high=1200, error=SpecError)
        if "zip" in out["figures"] and "cover" not in measures:
            raise SpecError(f"[output] figures has 'zip' (the intervals against the truth), "
                            f"which needs 'cover' in [output] measures {measures}")
        root = Path(self.store or out.get("store") or self.outdir / "store")
        n_main = self.replicates or replicates
        members = {MAIN_GROUP: [m for m, info in methods.items() if info["replicates"] is None]}
        members.update({m: [m] for m, info in methods.items() if info["replicates"] is not None})
        groups = []
        for label, labels in members.items():
            if not labels:
                continue
            if label == MAIN_GROUP:
                reps, group_chunk = n_main, chunk
            else:
                reps = methods[label]["replicates"]
                reps = min(reps, self.replicates) if self.replicates else reps
                group_chunk = methods[label]["chunk"]
            try:
                study = Study(name=f"{name}:{label}", generate=generate,
                              methods={m: methods[m]["func"] for m in labels}, truth=truth,
                              scenarios=scenarios, replicates=reps, seed=seed)
            except (TypeError, ValueError) as err:
                raise SpecError(f"[scenarios] {err}") from err
            groups.append(StudyGroup(label=label, study=study, store=root / _slug(label),
                                     replicates=reps, chunk=group_chunk))
        _check_scenarios(simulator, groups[0].study)
        try:  # a truth that reads the data names its estimands in the results
            estimands = ([] if groups[0].study.truth_reads_data
                         else list(truth(**groups[0].study.scenarios[0])))
        except Exception as err:  # the engine reports it with the scenario
            raise SpecError(f"[data] the truth of simulator {simulator!r} cannot be "
                            f"computed: {type(err).__name__}: {err}") from err
        return StudyPlan(name=name, groups=groups, factors=factors, methods=methods,
                         measures=measures, store=root, estimands=estimands)

    # ------------------------------------------------------------------ fit
    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        if self.scheduler:
            import distributed

            client = distributed.Client(self.scheduler)
            try:
                yield client
            finally:
                client.close()
        elif self.workers > 1:
            import distributed

            with distributed.LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                          processes=True, dashboard_address=None) as cluster, \
                    distributed.Client(cluster) as client:
                yield client
        else:
            yield None

    def fit(self, inputs: StudyPlan) -> list[StudyResult]:
        """Run every group (on one Dask cluster when asked), streaming to its sub-store.

        Parameters
        ----------
        inputs : StudyPlan
            From :meth:`load`.

        Returns
        -------
        list of StudyResult
            One per group, in the order of ``inputs.groups``.

        Raises
        ------
        SpecError
            A store that holds another definition of the study (rerun with
            ``--overwrite`` to discard it), or a truth that cannot be computed.
        """
        results = []
        n_scen = len(inputs.groups[0].study.scenarios)
        where = (f"scheduler {self.scheduler}" if self.scheduler else
                 f"{self.workers} Dask workers" if self.workers > 1 else "in process")
        with self._client() as client:
            for i, g in enumerate(inputs.groups, start=1):
                self.log(f"[{i}/{len(inputs.groups)}] {g.label}: {list(g.study.methods)} on "
                         f"{g.replicates} replicates x {n_scen} scenarios ({where}) -> "
                         f"{g.store}/")
                try:
                    res = run_study(g.study, store=g.store, client=client, progress=self.progress,
                              replicates=g.replicates, overwrite=self.overwrite,
                              chunk=g.chunk)
                except ValueError as err:
                    raise SpecError(f"{g.label}: {err} (on the command line: --overwrite)"
                                    if "overwrite" in str(err) else f"{g.label}: {err}") from err
                self.log(f"    {res.n_run} replicates run, {res.n_skipped} found in the "
                         f"store, {res.wall_seconds:.1f} s")
                stored = load_store(g.store).estimates  # a rerun with fewer replicates:
                more = stored[stored["replicate"] >= g.replicates]  # the tables use them all
                if len(more):
                    self.log(f"    the store holds {int(stored['replicate'].max()) + 1} "
                             f"replicates per scenario (more than this run's {g.replicates}):"
                             " the tables and figures use every stored replicate")
                    res = dataclasses.replace(res, estimates=stored)
                results.append(res)
        return results

    # ------------------------------------------------------------------ write
    def write(self, inputs: StudyPlan, results: list[StudyResult]) -> None:
        """Write ``performance.csv``, the figures and the report.

        Parameters
        ----------
        inputs : StudyPlan
            From :meth:`load`.
        results : list of StudyResult
            From :meth:`fit`.
        """
        plan, order = inputs, list(inputs.methods)
        est = pd.concat([r.estimates for r in results], ignore_index=True)
        rank = est["method"].map({m: i for i, m in enumerate(order)})
        est = (est.assign(_rank=rank)
                  .sort_values(["scenario", "replicate", "_rank", "estimand"], kind="stable")
                  .drop(columns="_rank").reset_index(drop=True))
        perf = performance(est, factors=plan.factors, measures=plan.measures,
                           ci_prob=float(self.tables["study"]["ci_prob"]))
        perf = (perf.assign(_rank=perf["method"].map({m: i for i, m in enumerate(order)}))
                    .sort_values([*plan.factors, "_rank"], kind="stable")
                    .drop(columns="_rank").reset_index(drop=True))
        perf.to_csv(self.outdir / "performance.csv", index=False)
        self.log(f"performance: {self.outdir / 'performance.csv'} ({len(perf)} rows)")
        self._report_head(plan, results, est)
        report = self.report
        report.heading("Performance")
        report.text("One table per measure: value (Monte Carlo SE) of each method and "
                    "estimand in each scenario; coverage, bias-eliminated coverage and "
                    "power in percent; `n` is the number of replicates used (Morris, White "
                    "& Crowther 2019, Table 6; the MCSE formulas of rsimsum). All rows: "
                    "`performance.csv`.")
        for measure in plan.measures:
            report.heading(measure, level=3)
            report.table(measure_table(perf, measure=measure, factors=plan.factors,
                                       methods=order, estimands=plan.estimands),
                         index=False)
        self._report_costs(est, order)
        self._figures(plan, est, perf, order)

    def _report_head(self, plan: StudyPlan, results: list[StudyResult],
                     est: pd.DataFrame) -> None:
        spec_name = Path(self.spec.get("_path", "study.toml")).name
        self.report = report = Report(title=f"Simulation study: {plan.name}")
        n_scen = len(plan.groups[0].study.scenarios)
        wall = sum(r.wall_seconds for r in results)
        run_now = sum(r.n_run for r in results)
        skipped = sum(r.n_skipped for r in results)
        st = self.tables["study"]
        report.text(f"Made by `bayes-hte study {spec_name}`: {n_scen} scenario(s), "
                    f"{len(plan.methods)} method(s), seed {st['seed']}; store "
                    f"`{plan.store}` (the estimates of every replicate). This run: "
                    f"{run_now} replicate task(s) run, {skipped} found in the store, "
                    f"{wall:.1f} s.")
        report.heading("ADEMP")
        data = self.tables["data"]
        auto = {
            "data": f"Simulator `{data['simulator']}` of `bayes_hte.simulate` with fixed "
                    f"parameters {dict(data['params']) or '{}'}; scenarios: "
                    + (", ".join(plan.factors) or "one, no factor")
                    + ". Replicate r of scenario s draws its data with "
                      f"`numpy.random.SeedSequence({st['seed']}, spawn_key=(s, r))`.",
            "methods": "; ".join(
                f"`{m}`: {info['kind']}"
                + (f" ({', '.join(f'{k}={v!r}' for k, v in info['options'].items())})"
                   if info["options"] else "")
                + (f", {info['replicates']} replicates" if info["replicates"] else "")
                for m, info in plan.methods.items()) + ".",
        }
        for key, title in _ADEMP_TITLES.items():
            report.heading(title, level=3)
            report.text(self.tables["ademp"][key].strip())
            if key in auto:
                report.text(auto[key])
            if key == "data" and plan.factors:
                report.table(pd.DataFrame(list(plan.groups[0].study.scenarios))
                             .rename_axis("scenario"), index=True)
        reps = est.groupby("method", sort=False)["replicate"].max() + 1
        report.text("Replicates per scenario: " + ", ".join(
            f"{m} {int(reps.get(m, 0))}" for m in plan.methods) + ".")

    def _report_costs(self, est: pd.DataFrame, order: list[str]) -> None:
        fits = est.drop_duplicates(["scenario", "replicate", "method"])
        ok = fits["error"] == ""
        cost = pd.DataFrame({
            "fits": fits.groupby("method", sort=False).size(),
            "failed": (~ok).groupby(fits["method"], sort=False).sum(),
            "mean seconds": fits.groupby("method", sort=False)["seconds"].mean(),
            "total seconds": fits.groupby("method", sort=False)["seconds"].sum(),
        }).reindex([m for m in order if m in set(fits["method"])])
        self.report.heading("Cost")
        self.report.text("Fits per method, failed fits, and wall seconds per fit (on "
                         "the worker that ran it).")
        self.report.table(cost.rename_axis("method"), index=True)
        failed = est[est["error"] != ""]
        if len(failed):
            top = (failed.groupby(["method", "error"], sort=False).size()
                   .rename("replicates").reset_index()
                   .sort_values("replicates", ascending=False).head(10))
            self.report.heading("Failures", level=3)
            self.report.text("The most frequent errors (a failed fit is recorded, counted "
                             "in `failed` and `n_failed`, and left out of the measures).")
            self.report.table(top, index=False)
        self.log(f"cost: {int(len(fits))} fits, {int((~ok).sum())} failed")

    def _figures(self, plan: StudyPlan, est: pd.DataFrame, perf: pd.DataFrame,
                 order: list[str]) -> None:
        figures = self.tables["output"]["figures"]
        dpi = self.tables["output"]["dpi"]
        ci_prob = float(self.tables["study"]["ci_prob"])
        present = list(pd.unique(perf["estimand"]))
        estimands = [e for e in plan.estimands if e in present]
        estimands += [e for e in present if e not in estimands]
        if figures:
            self.report.heading("Figures")
        if "performance" in figures:
            for measure in plan.measures:
                rows = perf[(perf["measure"] == measure) & np.isfinite(perf["value"])]
                if rows.empty:
                    continue
                # estimands without this measure (a metric has no bias) get no panel
                fig = plot_performance(perf, measure=measure, methods=order, estimands=[
                    e for e in estimands if (rows["estimand"] == e).any()], ci_prob=ci_prob)
                self.save_figure(fig, f"performance_{measure}.png",
                                 f"{measure} of each method by scenario (bars: ±1.96 MCSE)",
                                 dpi=dpi)
        ok = est[(est["error"] == "") & np.isfinite(est["estimate"])]
        if "zip" in figures and "cover" in plan.measures:
            for method in order:
                for estimand in estimands:
                    sub = ok[(ok["method"] == method) & (ok["estimand"] == estimand)]
                    if not (np.isfinite(sub["ci_low"]) & np.isfinite(sub["ci_high"])).any():
                        continue
                    scen = sorted(pd.unique(sub["scenario"]))
                    # one panel is too narrow for the figure's legend row
                    size = (7.0, 4.8) if len(scen) == 1 else None
                    fig = plot_zip(est, method=method, estimand=estimand, scenario=scen,
                                   ci_prob=ci_prob, figsize=size)
                    self.save_figure(fig, f"zip_{_slug(method)}_{_slug(estimand)}.png",
                                     f"zip plot of {method}, {estimand}", dpi=dpi)
        if "estimates" in figures:
            for estimand in [e for e in estimands if (ok["estimand"] == e).any()]:
                fig = plot_estimates(est, estimand=estimand, methods=[
                    m for m in order if ((ok["method"] == m) & (ok["estimand"] == estimand)).any()])
                self.save_figure(fig, f"estimates_{_slug(estimand)}.png",
                                 f"estimates of {estimand} by method and scenario "
                                 "(truth marked)", dpi=dpi)


run = StudyRunner.main

__all__ = ["MAIN_GROUP", "StudyGroup", "StudyPlan", "StudyRunner", "measure_table", "run"]

