"""The runner skeleton shared by every family of ``bayes-hte run``, and the data sources.

Every analysis a spec describes runs the same steps (:meth:`Runner.run`)::

    check the spec (schema) → load the data → fit / estimate → write tables, figures,
    posteriors and report sections → write the report

A family is a subclass of :class:`Runner` that names its ``family`` (its tables and
keys are declared in :mod:`bayes_hte.runners.schema`) and supplies :meth:`Runner.load`,
:meth:`Runner.fit` and :meth:`Runner.write`; the skeleton holds the checked tables, the
output folder, the progress log and the report, and writes the report at the end.

**Resuming.** Each posterior file a runner writes carries, in its posterior's attrs
(:data:`ATTR_SPEC_HASH`), a hash of what determines it: the family, the model's
options and prior overrides, the ``[sampler]`` table and the data source (the ``[data]``
table and, for a file, its contents) — :meth:`Runner.fingerprint`. Re-running a spec
into the folder of an interrupted run reuses every posterior whose hash matches
(:meth:`Runner.reusable`) and fits only the rest; files are written whole or not at all
(:meth:`Runner.save_posterior`), so a run killed mid-write leaves no half file.

**Warnings.** Warnings raised while fitting (e.g. a :class:`~bayes_hte.DataWarning`
about a trial without events) are not silenced: :meth:`Runner.sample` logs each once
and :meth:`Runner.finish` lists them, with the diagnostic notes the family added to
:attr:`Runner.notes`, in a "Warnings and diagnostic notes" section of the report.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from bayes_hte import simulate
from bayes_hte.data import IPDData, datasets
from bayes_hte.diagnostics import (
    convergence_warnings,
    fit_warnings,
    format_health,
    health_problems,
)
from bayes_hte.errors import DataError
from bayes_hte.inference import large_arrays_on_heap
from bayes_hte.report import Report
from bayes_hte.runners.schema import IPD_ROLES, SpecError, check_spec, required

#: Progress messages of a run (``print`` on the command line).
Log = Callable[[str], None]
#: Posterior attribute holding the hash of the spec parts that determine a saved fit.
ATTR_SPEC_HASH = "bayes_hte_spec_hash"


# --------------------------------------------------------------------------- data sources
def _exported_function(module, name: str):
    obj = getattr(module, name, None) if name in getattr(module, "__all__", ()) else None
    return obj if inspect.isfunction(obj) else None


def load_frame(data: Mapping, *, spec_dir: Path | None = None) -> Any:
    """Resolve ``[data].source``: ``"simulate:<name>"``, ``"dataset:<name>"`` or a file.

    Parameters
    ----------
    data : mapping
        The spec's ``[data]`` table: ``source`` and, for simulators and data sets, the
        keyword arguments ``params``.
    spec_dir : pathlib.Path, optional
        Folder of the spec: a relative file path is resolved against it.

    Returns
    -------
    object
        Whatever the source gives: a simulator's result object (with ``.data`` and the
        truth, :mod:`bayes_hte.simulate`), a bundled data set
        (:mod:`bayes_hte.data.datasets`), or a ``pandas.DataFrame`` read from a CSV or
        Parquet file.

    Raises
    ------
    SpecError
        No ``source``, or an unknown simulator or data set.
    DataError
        The file does not exist; the simulator rejects ``params``.
    """
    source = data.get("source")
    if not source:
        raise SpecError("[data] needs 'source'")
    params = dict(data.get("params", {}))
    if source.startswith("simulate:"):
        name = source.split(":", 1)[1]
        func = _exported_function(simulate, name)
        if func is None:
            raise SpecError(f"[data] source {source!r}: no simulator {name!r} in "
                            "bayes_hte.simulate")
        accepted = inspect.signature(func).parameters
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise DataError(f"[data] params: unknown options {unknown} for {source!r}; "
                            f"{name} takes {sorted(accepted)}")
        return func(**params)
    if source.startswith("dataset:"):
        name = source.split(":", 1)[1]
        func = _exported_function(datasets, name)
        if func is None:
            raise SpecError(f"[data] source {source!r}: no bundled data set {name!r}")
        return func(**params)
    p = Path(source)
    if not p.is_absolute() and spec_dir is not None:
        p = spec_dir / p
    if not p.exists():
        raise DataError(f"[data] source file {str(p)!r} does not exist")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p)


def source_frame(data: Mapping, *, spec_dir: Path | None = None
                 ) -> tuple[pd.DataFrame, Any]:
    """The data frame of ``[data].source`` and the object the source gave.

    Parameters
    ----------
    data : mapping
        The spec's ``[data]`` table.
    spec_dir : pathlib.Path, optional
        Folder of the spec (relative file paths).

    Returns
    -------
    frame : pandas.DataFrame
        The source itself, or its ``.data`` attribute (simulators).
    source : object
        As :func:`load_frame` (simulators also carry the truth).

    Raises
    ------
    SpecError
        As :func:`load_frame`, or a source that gives no data frame.
    """
    source = load_frame(data, spec_dir=spec_dir)
    frame = getattr(source, "data", source)
    if not isinstance(frame, pd.DataFrame):
        raise SpecError(f"[data] source {data['source']!r} does not give a data frame")
    return frame, source


def load_ipd(data: Mapping, *, family: str, spec_dir: Path | None = None
             ) -> tuple[IPDData, pd.DataFrame, Any]:
    """The validated IPD container a spec's ``[data]`` describes.

    Parameters
    ----------
    data : mapping
        The spec's ``[data]`` table: ``source`` (and ``params``) and the column roles
        (:data:`bayes_hte.runners.schema.IPD_ROLES`) of
        :meth:`bayes_hte.IPDData.from_frame`.
    family : str
        The model family (which roles are required).
    spec_dir : pathlib.Path, optional
        Folder of the spec (relative file paths).

    Returns
    -------
    data : IPDData
        The container.
    frame : pandas.DataFrame
        The source's frame (truth columns of simulations).
    source : object
        As :func:`load_frame`.

    Raises
    ------
    SpecError
        As :func:`source_frame`, or a required column role missing.
    DataError
        As :meth:`bayes_hte.IPDData.from_frame`.
    """
    frame, source = source_frame(data, spec_dir=spec_dir)
    for key in required(family, "data"):
        if key != "source" and key not in data:
            raise SpecError(f"[data] needs {key!r} (the column name)")
    roles = {k: data[k] for k in IPD_ROLES if k in data}
    return IPDData.from_frame(frame, **roles), frame, source


# --------------------------------------------------------------------------- skeleton
class Runner:
    """One analysis of a spec: check → load → fit → write → report.

    Subclasses set :attr:`family` and implement :meth:`load`, :meth:`fit` and
    :meth:`write`; ``run(spec, outdir, log)`` of a family module is the subclass's
    :meth:`main`.

    Parameters
    ----------
    spec : mapping
        The parsed spec (:func:`bayes_hte.spec.load_spec`); not modified.
    outdir : str or pathlib.Path
        Existing output folder.
    log : callable
        Progress messages.
    reuse : bool
        Reuse posterior files in ``outdir`` that match the spec (an interrupted run);
        ``False`` fits every model again (``bayes-hte run --overwrite``).
    progress : bool
        Show the sampler's live progress bar during each fit (draws done, divergences
        so far, step size, time left; nutpie's or PyMC's own display).

    Raises
    ------
    SpecError
        The spec does not match the family's schema
        (:func:`~bayes_hte.runners.schema.check_spec`).
    """

    #: The family name (a key of :data:`bayes_hte.runners.schema.SCHEMA`).
    family: ClassVar[str]

    def __init__(self, spec: Mapping, outdir: str | Path, log: Log, *, reuse: bool = True,
                 progress: bool = False):
        self.spec = spec
        self.outdir = Path(outdir)
        self.log = log
        self.reuse = reuse
        self.progress = progress
        #: The spec's tables with the schema's defaults filled in.
        self.tables = check_spec(spec, self.family)
        self.spec_dir = Path(spec.get("_path", ".")).parent
        self.report: Report | None = None
        #: Warnings and diagnostic notes (sentences), listed at the end of the report.
        self.notes: list[str] = []
        #: Prior-sensitivity tables by model label (:meth:`prior_sensitivity`).
        self.sensitivity: dict[str, pd.DataFrame] = {}

    @classmethod
    def main(cls, spec: Mapping, outdir: str | Path, log: Log, *, reuse: bool = True,
             progress: bool = False) -> None:
        """Run one spec with this family's runner: ``run(spec, outdir, log)`` of a family
        module, the function :data:`bayes_hte.runners.FAMILIES` registers.

        Parameters
        ----------
        spec, outdir, log, reuse, progress
            As in :class:`Runner`.

        Raises
        ------
        SpecError
            The spec does not match the schema, or misses a required key.
        DataError
            Data that fail validation.
        """
        cls(spec, outdir, log, reuse=reuse, progress=progress).run()

    @property
    def ci_prob(self) -> float:
        """Probability of the reported intervals (``[output].ci_prob``, default 0.95)."""
        return float(self.tables["output"].get("ci_prob", 0.95))

    # ------------------------------------------------------------------ the steps
    def run(self) -> None:
        """Run the steps: load, fit, write, then write the report.

        Raises
        ------
        SpecError
            A spec value the steps cannot use.
        DataError
            Data that fail validation.
        """
        inputs = self.load()
        results = self.fit(inputs)
        with large_arrays_on_heap():  # the tables' (draw, patient) temporaries
            self.write(inputs, results)
        self.finish()

    def load(self) -> Any:  # pragma: no cover - abstract
        """Load the data and build the validated containers.

        Returns
        -------
        object
            Whatever :meth:`fit` and :meth:`write` take as ``inputs``.
        """
        raise NotImplementedError

    def fit(self, inputs: Any) -> Any:  # pragma: no cover - abstract
        """Fit the models (or compute the estimates); save posteriors as they finish.

        Parameters
        ----------
        inputs : object
            From :meth:`load`.

        Returns
        -------
        object
            Whatever :meth:`write` takes as ``results``.
        """
        raise NotImplementedError

    def write(self, inputs: Any, results: Any) -> None:  # pragma: no cover - abstract
        """Write the tables and figures and add the report's sections.

        Parameters
        ----------
        inputs : object
            From :meth:`load`.
        results : object
            From :meth:`fit`.
        """
        raise NotImplementedError

    def finish(self) -> None:
        """Write the report (Markdown + HTML) when the family made one, ending with the
        warnings and diagnostic notes of the run (:attr:`notes`), if any."""
        if self.sensitivity:
            pd.concat(self.sensitivity, names=["model", "row"]).reset_index(
                level="row", drop=True).to_csv(self.outdir / "prior_sensitivity.csv")
        if self.report is not None:
            if self.notes:
                self.report.heading("Warnings and diagnostic notes")
                self.report.text("\n".join(f"- {n}" for n in dict.fromkeys(self.notes)))
            _md, html_path = self.report.write(self.outdir)
            self.log(f"report: {html_path}")

    # ------------------------------------------------------------------ helpers
    def sample(self, estimator: Any, data: Any, *, label: str,
               fit_options: Mapping[str, Any] | None = None) -> float:
        """Fit an estimator with the ``[sampler]`` settings, logging the start.

        Parameters
        ----------
        estimator : object
            An unfitted estimator of :mod:`bayes_hte.estimators` (``fit(data, **sampler)``);
            fitted in place (sampler ``UserWarning`` messages silenced).
        data : object
            Its data container.
        label : str
            Start of the progress message, e.g. ``"[1/4] RI-S"``.
        fit_options : mapping, optional
            Further keywords of the estimator's ``fit`` (e.g. the aggregate-data trials
            of :meth:`bayes_hte.IPDMetaModel.fit`).

        Returns
        -------
        float
            Wall time of the fit in seconds (compilation, sampling, log likelihood,
            posterior predictive).

        Notes
        -----
        Warnings raised by the fit (data warnings, sampler warnings) are logged once
        each, as ``"<label>: warning: <category>: <message>"``, and kept in
        :attr:`notes` for the report.
        """
        sampler = self.tables["sampler"]
        self.log(f"{label}: fitting ({sampler['chains']} chains x {sampler['draws']} draws)...")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, convergence_warnings(False):
            warnings.simplefilter("always")  # the health is logged by log_health
            estimator.fit(data, **sampler, progressbar=self.progress,
                          **dict(fit_options or {}))
        for msg in fit_warnings(caught):
            self.log(f"{label}: warning: {msg}")
            self.notes.append(f"{label}: {msg}")
        return time.perf_counter() - start

    def prior_sensitivity(self, label: str, estimator: Any, *,
                          computed: pd.DataFrame | Exception | None = None
                          ) -> pd.DataFrame | None:
        """Add a fitted model's prior-sensitivity table to the report (and its flags to
        the notes); all tables go to ``prior_sensitivity.csv`` when the run finishes.

        Parameters
        ----------
        label : str
            The model's label, e.g. ``"RI-S"``.
        estimator : object
            A fitted estimator (its ``prior_sensitivity()``,
            :func:`bayes_hte.sensitivity.prior_sensitivity`).
        computed : pandas.DataFrame or Exception, optional
            Its table (or the ``ValueError`` / ``KeyError`` saying why there is none)
            already computed elsewhere, e.g. in a second process from the saved
            posterior; default: computed here.

        Returns
        -------
        pandas.DataFrame or None
            The table; ``None`` when it cannot be computed (e.g. no log likelihood),
            which the report and the notes say.
        """
        try:
            if isinstance(computed, Exception):
                raise computed
            tab = estimator.prior_sensitivity() if computed is None else computed
        except (ValueError, KeyError) as err:
            self.notes.append(f"{label}: prior sensitivity not computed: {err}")
            if self.report is not None:
                self.report.text(f"Prior sensitivity not computed: {err}")
            return None
        self.sensitivity[label] = tab
        if self.report is not None:
            self.report.text(
                "Prior sensitivity (power-scaling; Kallioinen et al. 2024): how much each "
                "posterior moves when the prior, or the likelihood, is raised to a power "
                "near 1. Above 0.05 for both: potential prior-data conflict; prior above "
                "and likelihood below: the prior decides (weak likelihood). Scaled priors: "
                + ", ".join(f"`{t}`" for t in tab.attrs["prior_terms"]) + ".")
            self.report.table(tab, index=False)
        for row in tab[tab["diagnosis"] != "✓"].itertuples():
            self.notes.append(f"{label}: {row.parameter}: {row.diagnosis} (prior "
                              f"sensitivity {row.prior_sensitivity:.3f}, likelihood "
                              f"{row.likelihood_sensitivity:.3f})")
        return tab

    def log_health(self, label: str, health: Mapping, *, wall: float | None = None) -> None:
        """Log a fit's diagnostics in words and keep what needs attention for the report.

        Parameters
        ----------
        label : str
            The model, e.g. ``"[2/3] RI-S"``.
        health : mapping
            From :func:`bayes_hte.diagnostics.sampling_summary`.
        wall : float, optional
            Wall time of the fit (seconds), shown first.
        """
        start = f"{wall:.0f} s, " if wall is not None and wall == wall else ""
        self.log(f"{label}: {start}{format_health(health)}")
        for text in [*([health["notes"]] if health.get("notes") else []),
                     *health_problems(health)]:
            self.log(f"{label}: {text}")
            self.notes.append(f"{label}: {text}")

    # ------------------------------------------------------------------ resuming
    def fingerprint(self, options: Mapping[str, Any]) -> str:
        """Hash of what determines one model's posterior under this spec.

        Parameters
        ----------
        options : mapping
            The model's options and prior overrides as the runner passes them (any
            JSON-serialisable values; ``str`` is used for others).

        Returns
        -------
        str
            16 hexadecimal digits of the SHA-256 of the family, ``options``, the
            ``[sampler]`` table and the data source (the ``[data]`` table and, for a
            data file, the SHA-256 of its contents).
        """
        data = dict(self.tables.get("data", {}))
        source = str(data.get("source", ""))
        if source and not source.startswith(("simulate:", "dataset:")):
            p = Path(source)
            p = p if p.is_absolute() else self.spec_dir / p
            if p.exists():
                data["source_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
        payload = {"family": self.family, "model": dict(options),
                   "sampler": self.tables.get("sampler", {}), "data": data}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def reusable(self, path: Path, key: str, *, label: str) -> bool:
        """Whether ``path`` holds a posterior of this spec to reuse instead of refitting.

        Parameters
        ----------
        path : pathlib.Path
            A posterior file (NetCDF) of the output folder.
        key : str
            The model's :meth:`fingerprint`.
        label : str
            Start of the progress message, e.g. ``"[2/3] RI-S"``.

        Returns
        -------
        bool
            ``True`` when reuse is on, the file exists and its posterior's
            :data:`ATTR_SPEC_HASH` equals ``key`` (logged as "reusing ...");
            ``False`` otherwise (a file that does not match, or cannot be read, is
            logged and will be replaced).
        """
        if not self.reuse or not path.exists():
            return False
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                stored = tree["posterior"].attrs.get(ATTR_SPEC_HASH)
        except Exception as err:  # noqa: BLE001 - an unreadable file is refitted, said
            self.log(f"{label}: {path.name} cannot be read ({type(err).__name__}): refitting")
            return False
        if stored == key:
            self.log(f"{label}: reusing {path.relative_to(self.outdir)} (matches the spec)")
            return True
        self.log(f"{label}: {path.relative_to(self.outdir)} was fitted under other options, "
                 "priors, sampler settings or data: refitting")
        return False

    def save_posterior(self, fitted: Any, path: Path, key: str) -> Path:
        """Stamp a fit with its :meth:`fingerprint` and write it whole, atomically.

        Parameters
        ----------
        fitted : estimator or xarray.DataTree
            A fitted estimator (written by its ``save``) or a fit (``to_netcdf``).
        path : pathlib.Path
            Target file; replaced only once the new file is complete.
        key : str
            The model's :meth:`fingerprint`, stored as :data:`ATTR_SPEC_HASH`.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        idata = fitted if isinstance(fitted, xr.DataTree) else fitted.idata
        idata["posterior"].attrs[ATTR_SPEC_HASH] = key
        part = path.with_name(path.name + ".part")
        if isinstance(fitted, xr.DataTree):
            fitted.to_netcdf(part)
        else:
            fitted.save(part)
        os.replace(part, path)
        return path

    def new_report(self, intro: str) -> Report:
        """Start the report: title from the spec's file name, then ``intro``.

        Parameters
        ----------
        intro : str
            The first paragraph.

        Returns
        -------
        Report
            Also kept as :attr:`report` and written by :meth:`finish`.
        """
        self.report = Report(title=f"bayes_hte report: {Path(self.spec.get('_path', 'spec')).name}")
        self.report.text(intro)
        return self.report

    def save_figure(self, fig: Figure, name: str, caption: str | None = None, *,
                    dpi: int = 80) -> Path:
        """Save a figure as a PNG in the output folder, close it, add it to the report.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
            The figure (from :mod:`bayes_hte.plots`).
        name : str
            File name, e.g. ``"ite_distribution.png"``.
        caption : str, optional
            Add the image to the report with this caption (``None``: do not).
        dpi : int
            Resolution of the PNG.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = self.outdir / name
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        if caption is not None and self.report is not None:
            self.report.image(path, caption)
        return path
