"""Aggregate-data trials in ``family = "ipdma"`` specs (multilevel meta-regression).

Spec keys (declared in :data:`bayes_hte.runners.schema.SCHEMA`)::

    [data]
    aggregate = "aggregate.csv"               # arm counts of the aggregate trials
    aggregate_covariates = "summaries.csv"    # their covariate summaries
    target = "target.csv"                     # optional: a target population's summaries

    [model]
    integration_points = 64                   # quasi-Monte Carlo points per trial

``aggregate`` has a column ``study`` and either ``events1, total1, events0, total0``
(events and patients per arm; 1 = treated) or the 2x2 counts ``n11, n10, n01, n00``;
``aggregate_covariates`` and ``target`` have ``covariate, mean, sd`` (empty ``sd``: a
proportion), ``aggregate_covariates`` also ``trial``. Paths are relative to the spec.
A simulated aggregate file may carry ``true_rd``, each trial's true population-average
risk difference, reported next to the estimates.

With aggregate trials the runner fits the S-learner structures that allow them
(:mod:`bayes_hte.models.ipd_aggregate`), writes ``marginal_effects.csv`` (the
population-average risk difference, risk ratio and odds ratio in every included trial,
in the target, and in a new trial) and ``integration_check.csv``, and adds a
"Population-adjusted effects" section to the report. PSIS-LOO counts every patient and
every aggregate trial arm as one unit (:func:`loo_view`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from bayes_hte import effects
from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.errors import DataError
from bayes_hte.options import check_count
from bayes_hte.report import Report
from bayes_hte.runners.schema import SpecError

#: Columns of an aggregate CSV of events and totals per arm.
EVENT_COLUMNS = ("events1", "total1", "events0", "total0")
#: Measures of ``marginal_effects.csv``.
REPORTED_MEASURES = ("RD", "RR", "OR")


@dataclass
class AggregateInputs:
    """The aggregate-data inputs of a spec, read and validated.

    Parameters
    ----------
    arms : ArmTable
        Events and totals per arm of the aggregate trials.
    covariates : CovariateSummary
        Their covariate summaries.
    target : CovariateSummary or None
        A target population's summaries, if the spec names one.
    integration_points : int
        Points per aggregate trial (``[model].integration_points``, default 64).
    digests : dict of str to str
        SHA-256 of each file read (part of the posterior's fingerprint).
    true_rd : pandas.DataFrame or None
        Simulations: the true population-average risk difference of each aggregate
        trial (optional column ``true_rd`` of the aggregate file), index
        ``trial:<label>``, column ``true_RD``.
    """

    arms: ArmTable
    covariates: CovariateSummary
    target: CovariateSummary | None = None
    integration_points: int = 64
    digests: dict[str, str] = field(default_factory=dict)
    true_rd: pd.DataFrame | None = None

    def fit_options(self) -> dict:
        """Keywords of :meth:`bayes_hte.IPDMetaModel.fit` for the aggregate trials.

        Returns
        -------
        dict
            ``aggregate``, ``aggregate_covariates`` and ``integration_points``.
        """
        return {"aggregate": self.arms, "aggregate_covariates": self.covariates,
                "integration_points": self.integration_points}


def _path(value: str, key: str, spec_dir: Path) -> Path:
    p = Path(value)
    if not p.is_absolute():
        p = spec_dir / p
    if not p.exists():
        raise DataError(f"[data] {key} file {str(p)!r} does not exist")
    return p


def load_aggregate(data: Mapping, model: Mapping, *, spec_dir: Path) -> AggregateInputs | None:
    """Read the aggregate-data files a spec names (``None`` when it names none).

    Parameters
    ----------
    data : mapping
        The spec's ``[data]`` table (keys ``aggregate``, ``aggregate_covariates``,
        ``target``).
    model : mapping
        The spec's ``[model]`` table (key ``integration_points``).
    spec_dir : pathlib.Path
        Folder of the spec (relative paths).

    Returns
    -------
    AggregateInputs or None
        The validated inputs; ``None`` without ``aggregate``.

    Raises
    ------
    SpecError
        Only one of ``aggregate`` / ``aggregate_covariates``, ``target`` or
        ``integration_points`` without them.
    DataError
        A file that does not exist, or fails the validation of
        :meth:`bayes_hte.ArmTable.from_events` / ``from_frame`` or
        :meth:`bayes_hte.CovariateSummary.from_frame` (naming the column / study).
    """
    given = [k for k in ("aggregate", "aggregate_covariates") if k in data]
    if not given:
        for key, table in (("target", data), ("integration_points", model)):
            if key in table:
                raise SpecError(f"{key!r} applies to aggregate-data trials: give [data] "
                                "aggregate and aggregate_covariates too")
        return None
    if len(given) == 1:
        other = ({"aggregate", "aggregate_covariates"} - set(given)).pop()
        raise SpecError(f"[data] {given[0]} needs [data] {other} too")
    paths = {k: _path(data[k], k, spec_dir) for k in ("aggregate", "aggregate_covariates",
                                                     "target") if k in data}
    frame = pd.read_csv(paths["aggregate"])
    if "study" not in frame.columns:
        raise DataError(f"aggregate file {paths['aggregate'].name}: needs a 'study' column "
                        f"(has {list(map(str, frame.columns))})")
    if all(c in frame.columns for c in EVENT_COLUMNS):
        arms = ArmTable.from_events(frame, events1="events1", total1="total1",
                                    events0="events0", total0="total0", study="study")
    else:
        arms = ArmTable.from_frame(frame, study="study")
    covariates = CovariateSummary.from_frame(pd.read_csv(paths["aggregate_covariates"]))
    target = (CovariateSummary.from_frame(pd.read_csv(paths["target"]))
              if "target" in paths else None)
    points = check_integration_points(model.get("integration_points", 64))
    true_rd = None
    if "true_rd" in frame.columns:  # simulations: the true marginal RD of each trial
        true_rd = pd.DataFrame({"true_RD": frame["true_rd"].to_numpy(dtype=float)},
                               index=[f"trial:{s}" for s in arms.labels]
                               ).rename_axis("population")
    digests = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()}
    return AggregateInputs(arms=arms, covariates=covariates, target=target,
                           integration_points=points, digests=digests, true_rd=true_rd)


def loo_view(idata: xr.DataTree) -> xr.DataTree:
    """The fit with one log-likelihood variable over every independent unit (for LOO).

    A model with aggregate trials stores ``y`` (per patient) and ``aggregate_events``
    (per aggregate trial arm); PSIS-LOO over both treats each patient and each
    aggregate arm as one left-out unit: they are stacked along ``unit`` as ``log_lik``.
    A fit with one variable is returned unchanged.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit with a ``log_likelihood`` group.

    Returns
    -------
    xarray.DataTree
        ``idata`` itself, or a shallow copy whose ``log_likelihood`` holds ``log_lik``
        with dims (chain, draw, unit); units labelled ``patient <i>`` and
        ``<study> <arm>``.
    """
    if "log_likelihood" not in idata:
        return idata
    ll = idata["log_likelihood"].to_dataset()
    if len(ll.data_vars) < 2:
        return idata
    parts, labels = [], []
    for da in ll.data_vars.values():
        dims = [d for d in da.dims if d not in ("chain", "draw")]
        stacked = da.stack(unit=dims) if len(dims) > 1 else da.rename({dims[0]: "unit"})
        idx = stacked["unit"].to_index()
        labels += [" ".join(map(str, v)) if isinstance(v, tuple) else f"{dims[0]} {v}"
                   for v in idx]
        parts.append(stacked.drop_vars([c for c in stacked.coords if c not in
                                        ("chain", "draw")]).transpose("chain", "draw", "unit"))
    combined = xr.concat(parts, dim="unit").assign_coords(unit=labels)
    out = idata.copy()
    out["log_likelihood"] = xr.DataTree(xr.Dataset({"log_lik": combined}))
    return out


def marginal_table(fitted: Mapping, inputs: AggregateInputs, *, ci_prob: float,
                   truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Population-average effects of every fitted model in every population.

    Parameters
    ----------
    fitted : mapping of str to IPDMetaModel
        Fits with aggregate trials, by label.
    inputs : AggregateInputs
        The aggregate inputs (the target population, if any).
    ci_prob : float
        Probability of the equal-tailed intervals.
    truth : pandas.DataFrame, optional
        True effects ``model``-free, index ``population``, column ``true_RD``
        (simulations); merged in when given.

    Returns
    -------
    pandas.DataFrame
        One row per model, population and measure: ``model``, ``population``
        (``trial:<label>``, ``target``, ``new trial``), ``measure``, ``mean``, ``sd``,
        ``ci_low``, ``ci_high`` (risk difference, or ratio scale).
    """
    rows = []
    for label, m in fitted.items():
        pops: list[tuple[str, object, bool]] = [
            (f"trial:{s}", f"trial:{s}", False)
            for s in [*map(str, m.data.study_labels), *m.aggregate.labels]]
        if inputs.target is not None:
            pops.append(("target", inputs.target, False))
            pops.append(("target, new trial", inputs.target, True))
        for name, pop, new in pops:
            for measure in REPORTED_MEASURES:
                est = m.marginal_effect(pop, measure=measure, new_trial=new)
                tab = effects.summarize(est, ci_prob=ci_prob)
                rows.append({"model": label, "population": name, "measure": measure,
                             **tab.iloc[0].to_dict()})
    out = pd.DataFrame(rows)
    if truth is not None:
        out = out.merge(truth, left_on="population", right_index=True, how="left")
    return out


def write_aggregate_section(fitted: Mapping, inputs: AggregateInputs, *, outdir: Path,
                            rep: Report, ci_prob: float,
                            truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """``marginal_effects.csv``, ``integration_check.csv`` and their report section.

    Parameters
    ----------
    fitted : mapping of str to IPDMetaModel
        Fits with aggregate trials, by label.
    inputs : AggregateInputs
        The aggregate inputs.
    outdir : pathlib.Path
        Output folder.
    rep : Report
        The report to add the section to.
    ci_prob : float
        Probability of the intervals.
    truth : pandas.DataFrame, optional
        True population-average risk differences (index ``population``, column
        ``true_RD``), for simulated data.

    Returns
    -------
    pandas.DataFrame
        The marginal-effects table (:func:`marginal_table`).
    """
    table = marginal_table(fitted, inputs, ci_prob=ci_prob, truth=truth)
    table.to_csv(outdir / "marginal_effects.csv", index=False)
    checks = []
    for label, m in fitted.items():
        chk = m.integration if m.integration is not None else m.integration_check()
        checks.append(chk.reset_index().assign(model=label))
    check = pd.concat(checks, ignore_index=True)
    check.to_csv(outdir / "integration_check.csv", index=False)
    n_int = inputs.integration_points
    rep.heading("Population-adjusted effects (IPD + aggregate data)")
    rep.text(
        f"{inputs.arms.k} trial(s) reported as arm-level counts "
        f"({', '.join(inputs.arms.labels)}) enter the fit through the individual model "
        f"integrated over their covariate distributions ({n_int} scrambled Sobol points "
        "per trial through a Gaussian copula with the reported means / SDs / proportions "
        "and the IPD's pooled within-trial correlations; multilevel meta-regression, "
        "Phillippo et al. 2020). Population-average effects per included trial (its own "
        "intercept), in the target population (average trial; and a new trial drawn from "
        f"the between-trial distribution): posterior mean [{ci_prob:.0%} interval]; RR and "
        "OR on the ratio scale.")
    rd = table[table["measure"] == "RD"].copy()
    rd["RD"] = [f"{a:.3f} [{b:.3f}, {c:.3f}]" for a, b, c in
                zip(rd["mean"], rd["ci_low"], rd["ci_high"], strict=True)]
    wide = rd.pivot(index="population", columns="model", values="RD")
    if "true_RD" in rd.columns:
        wide["truth"] = rd.groupby("population")["true_RD"].first().map(
            lambda v: "" if pd.isna(v) else f"{v:.3f}")
    rep.table(wide)
    worst = check.groupby("model")["change_sd"].max()
    rep.text(
        f"Integration check (multinma's criterion): with {2 * n_int} instead of {n_int} "
        "points the posterior mean of an aggregate arm's risk moves by at most "
        + ", ".join(f"{v:.3f} SD ({k})" for k, v in worst.items())
        + " (warned above 0.05 SD).")
    return table


def true_marginal_rd(frame: pd.DataFrame, *, study: str, columns: tuple[str, str] = ("p0", "p1")
                     ) -> pd.DataFrame | None:
    """True population-average risk difference per trial of a simulated frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Simulated patients with their risks under control and treatment in their own
        trial (``p0``, ``p1`` of :func:`bayes_hte.simulate.bouvier2024`).
    study : str
        The trial column.
    columns : tuple of str
        The risk columns (control, treated).

    Returns
    -------
    pandas.DataFrame or None
        Index ``trial:<label>``, column ``true_RD`` (mean ``p1 - p0`` of the trial's
        patients); ``None`` when the columns are absent.
    """
    if not all(c in frame.columns for c in (*columns, study)):
        return None
    diff = (frame[columns[1]] - frame[columns[0]]).groupby(frame[study].astype(str)).mean()
    return pd.DataFrame({"true_RD": diff.to_numpy()},
                        index=[f"trial:{s}" for s in diff.index]).rename_axis("population")


def check_integration_points(value: object) -> int:
    """``[model].integration_points`` as an int >= 2.

    Parameters
    ----------
    value : object
        The spec's value.

    Returns
    -------
    int
        The number of points.

    Raises
    ------
    SpecError
        Not an integer >= 2.
    """
    return check_count("[model] integration_points", value, low=2, error=SpecError)
