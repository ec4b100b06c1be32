r"""Aggregate-data trials next to IPD: validation and quasi-Monte Carlo integration points.

Multilevel meta-regression (ML-NMR; Phillippo et al. 2020, JRSS A 183:1189–1210; R
package multinma) joins trials with individual participant data (IPD) and trials that
report only arm-level event counts. The individual-level model is integrated over each
aggregate trial's covariate distribution :math:`F_j`,

.. math::

    \bar p_{jz} = \int \mathrm{expit}\{a_j + \theta'x + z(\gamma + \eta'x)\}\,dF_j(x)
    \approx \frac1M \sum_{m=1}^M \mathrm{expit}\{a_j + \theta'x_{jm}
    + z(\gamma + \eta'x_{jm})\},

with integration points :math:`x_{jm}` drawn once, before sampling. As in multinma's
``add_integration``, :math:`F_j` is a Gaussian copula: its marginals match trial
:math:`j`'s reported summaries (normal with the reported mean and SD for a continuous
covariate — truncated to ``[min, max]`` when given —, Bernoulli with the reported
proportion for a binary one) and its latent correlation matrix is taken from the IPD
trials (:func:`ipd_correlation`), since aggregate reports rarely give correlations. The
uniform points are a scrambled Sobol sequence (:func:`bayes_hte.data.summaries.
gaussian_copula_sample`, method ``"scrambled_sobol"``), seeded per trial.

The points live on the scale of the IPD design: encoded like :meth:`IPDData.design`
(indicator columns ``"col[level]"`` of a two-level categorical covariate are binary
covariates of their own) and centred with the IPD's pooled means when the IPD were
centred ``"overall"``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayes_hte.data.aggregate import ArmTable
from bayes_hte.data.checks import check_columns, check_frame
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.summaries import CovariateSummary, gaussian_copula_sample
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.options import check_count

__all__ = ["AggregateData", "integration_points", "ipd_correlation", "to_aggregate"]

#: Arms of the aggregate counts, in the order of the ``arm`` coordinate.
ARM_LABELS = ("control", "treated")


def _raw_design(data: IPDData) -> np.ndarray:
    """The encoded covariates of the IPD before centring."""
    if data.center == "overall":
        return data.X + data.centers
    if data.center == "within_study":
        return data.X + data.centers[data.study_idx]
    return data.X


def _binary_columns(data: IPDData) -> dict[str, bool]:
    raw = _raw_design(data)
    return {name: bool(np.all(np.isin(np.round(raw[:, k], 12), (0.0, 1.0))))
            for k, name in enumerate(data.covariate_names)}


def ipd_correlation(data: IPDData) -> pd.DataFrame:
    r"""Pooled within-trial normal-score correlation of the IPD covariates.

    In each IPD trial every encoded covariate is replaced by its van der Waerden normal
    scores :math:`\Phi^{-1}\{r_i / (n_j + 1)\}` (:math:`r_i` the mid-rank of patient
    :math:`i` among the trial's :math:`n_j`), the Pearson correlation of the scores is
    computed, and the trials' matrices are averaged with weights :math:`n_j`
    (pairs involving a covariate constant in a trial skip that trial). The result is
    projected to the nearest positive-definite correlation matrix (eigenvalues clipped
    at :math:`10^{-6}`, unit diagonal restored). For continuous covariates this
    estimates the Gaussian copula's latent correlation; for binary ones it understates
    it (ties), which is the usual price of borrowing the IPD's correlations for the
    aggregate trials (Phillippo et al. 2020, section 3.4, take them from the IPD too).

    Parameters
    ----------
    data : IPDData
        The IPD trials (encoded covariates; centring does not change correlations).

    Returns
    -------
    pandas.DataFrame
        Correlation matrix, index and columns the encoded covariate names
        (``IPDData.covariate_names``); identity for a single covariate.
    """
    names = list(data.covariate_names)
    p = len(names)
    raw = _raw_design(data)
    total = np.zeros((p, p))
    weight = np.zeros((p, p))
    for j in range(data.n_studies):
        x = raw[data.study_idx == j]
        n = x.shape[0]
        if n < 3:
            continue
        scores = stats.norm.ppf(stats.rankdata(x, axis=0) / (n + 1))
        varies = x.std(axis=0) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.corrcoef(scores, rowvar=False).reshape(p, p)
        ok = np.outer(varies, varies) & np.isfinite(r)
        total[ok] += n * r[ok]
        weight[ok] += n
    R = np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), 0.0)
    np.fill_diagonal(R, 1.0)
    R = (R + R.T) / 2
    vals, vecs = np.linalg.eigh(R)
    if vals.min() < 1e-6:
        R = vecs @ np.diag(np.clip(vals, 1e-6, None)) @ vecs.T
        d = np.sqrt(np.diag(R))
        R = R / np.outer(d, d)
    return pd.DataFrame(R, index=names, columns=names)


def _trial_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


def integration_points(summary: CovariateSummary, *, data: IPDData,
                       corr: pd.DataFrame | None = None, n_points: int = 64, seed: int = 0,
                       trial: str | None = None) -> np.ndarray:
    r"""Quasi-Monte Carlo integration points of one population, on the IPD design scale.

    Scrambled Sobol points through a Gaussian copula
    (:func:`bayes_hte.data.summaries.gaussian_copula_sample`) whose marginals are the
    population's reported summaries and whose latent correlation is ``corr`` (default:
    :func:`ipd_correlation` of ``data``), then centred like the IPD design (pooled IPD
    means subtracted when ``data`` were centred ``"overall"``). The points of
    ``2 * n_points`` begin with those of ``n_points`` (same seed): the Sobol sequence is
    extended, not redrawn.

    Parameters
    ----------
    summary : CovariateSummary
        Summaries with a row for every encoded covariate of ``data``.
    data : IPDData
        The IPD the model is fitted on (encoding, centring, kinds, correlation).
    corr : pandas.DataFrame, optional
        Latent correlation matrix over ``data.covariate_names``.
    n_points : int
        Number of points :math:`M` (powers of 2 keep the Sobol sequence balanced).
    seed : int
        Seed of the scrambling.
    trial : str, optional
        The population of a several-trial summary.

    Returns
    -------
    numpy.ndarray, shape (n_points, n_covariates)
        Points :math:`x_{m}` in the columns of ``data.covariate_names``, design scale.

    Raises
    ------
    DataError
        A covariate without a summary row (naming the trial and the covariate), a
        covariate binary in the IPD but continuous in the summary or the reverse, IPD
        centred within study, ``n_points`` below 2.
    """
    check_count("integration_points", n_points, low=2, error=DataError)
    if data.center == "within_study":
        raise DataError(
            "the IPD covariates were centred within study (center='within_study'); "
            "integration points of another population have no trial mean to subtract, and "
            "within-trial centring removes the covariate differences between populations "
            "that population adjustment uses: build the IPDData with center=None or "
            "'overall'")
    names = list(data.covariate_names)
    who = f"trial {trial!r}" if trial is not None else "the population"
    rows = summary.rows(trial)
    missing = [c for c in names if c not in rows.index]
    if missing:
        raise DataError(f"the covariate summaries of {who} have no row for covariate "
                        f"{missing[0]!r} (missing: {missing}); every model covariate "
                        f"{names} needs a mean (and SD, or an empty SD for a proportion)")
    binary = _binary_columns(data)
    for c in names:
        kind = summary.kinds[c]
        if binary[c] and kind != "binary":
            raise DataError(f"covariate {c!r} is binary (0/1) in the IPD, but the summaries "
                            f"of {who} give it an SD; give its proportion with an empty sd")
        if not binary[c] and kind == "binary":
            raise DataError(f"covariate {c!r} is continuous in the IPD, but the summaries of "
                            f"{who} give it no SD (a proportion); give its mean and SD")
    R = ipd_correlation(data) if corr is None else corr.loc[names, names]
    frame = rows.loc[names].reset_index()
    cols = [c for c in ("covariate", "mean", "sd", "min", "max") if c in frame.columns]
    sample = gaussian_copula_sample(frame[cols], corr=R.to_numpy(), n=int(n_points),
                                    method="scrambled_sobol", seed=int(seed),
                                    kinds={c: summary.kinds[c] for c in names})
    x = sample[names].to_numpy(dtype=float)
    if data.center == "overall":
        x = x - data.centers
    return x


@dataclass(frozen=True, eq=False)
class AggregateData:
    """Aggregate-data trials with their integration points, checked against the IPD.

    Build it with :meth:`from_summaries`; the fields below are also its read-only
    attributes.

    Parameters
    ----------
    arms : ArmTable
        Arm-level events and totals of the aggregate trials.
    covariates : CovariateSummary
        Their covariate summaries (a ``trial`` column).
    points : numpy.ndarray, shape (trial, point, covariate)
        Integration points on the IPD design scale (:func:`integration_points`), trials
        in the order of ``arms.labels``.
    covariate_names : tuple of str
        The IPD's encoded covariates (last axis of ``points``).
    corr : pandas.DataFrame
        The copula's latent correlation matrix (from the IPD unless given).
    seed : int
        Seed of the scrambled Sobol points (trial :math:`k` uses a seed derived from
        ``(seed, k)``).
    """

    arms: ArmTable
    covariates: CovariateSummary
    points: np.ndarray
    covariate_names: tuple[str, ...]
    corr: pd.DataFrame
    seed: int = 0

    @classmethod
    def from_summaries(cls, arms: ArmTable | pd.DataFrame, covariates: CovariateSummary, *,
                       ipd: IPDData, n_points: int = 64, seed: int = 0,
                       corr: pd.DataFrame | None = None) -> AggregateData:
        """Validate aggregate trials against the IPD and draw their integration points.

        Parameters
        ----------
        arms : ArmTable or pandas.DataFrame
            Events and totals per arm (a frame with columns ``n11 n10 n01 n00`` is read
            by :meth:`ArmTable.from_frame`); study labels must differ from the IPD's.
        covariates : CovariateSummary
            Summaries with a ``trial`` column and, for every aggregate trial, a row per
            encoded IPD covariate. Rows of IPD trials are ignored (their IPD is used).
        ipd : IPDData
            The IPD trials (binary outcome).
        n_points : int
            Integration points per aggregate trial (multinma's ``n_int``; default 64).
        seed : int
            Seed of the scrambled Sobol sequences.
        corr : pandas.DataFrame, optional
            Latent correlation of the copula; default :func:`ipd_correlation`.

        Returns
        -------
        AggregateData
            With ``points`` of shape (trial, ``n_points``, covariate).

        Raises
        ------
        DataError
            Not an ``ArmTable`` / ``CovariateSummary``, a time-to-event IPD, an aggregate
            study label that is also an IPD study (named), a summary trial that is
            neither an aggregate nor an IPD trial (named), an aggregate trial without
            summaries or without a covariate (trial and covariate named), a covariate
            whose kind differs from the IPD's, a categorical covariate with more than two
            levels, IPD centred within study, ``n_points`` below 2.
        """
        if not isinstance(ipd, IPDData):
            raise DataError(f"ipd must be an IPDData, got {type(ipd).__name__}")
        if ipd.outcome_type != "binary":
            raise DataError("aggregate-data trials are supported for a binary outcome only "
                            f"(the IPD have time column {ipd.time!r})")
        arms = ArmTable.from_any(arms, name="aggregate")
        if not isinstance(covariates, CovariateSummary):
            raise DataError(f"aggregate_covariates must be a CovariateSummary "
                            f"(bh.CovariateSummary.from_frame), got {type(covariates).__name__}")
        ipd_labels = {str(s) for s in ipd.study_labels}
        clash = [s for s in arms.labels if s in ipd_labels]
        if clash:
            raise DataError(f"aggregate study label {clash[0]!r} is also an IPD study "
                            f"(clashing: {clash}); aggregate trials need labels of their own")
        many = [c for c, lv in ipd.levels.items() if len(lv) > 2]
        if many:
            raise DataError(f"categorical covariate {many[0]!r} has {len(ipd.levels[many[0]])} "
                            "levels; a Gaussian copula cannot keep its indicators exclusive: "
                            "recode it into binary 0/1 columns with their own summaries")
        if not covariates.trials:
            raise DataError("aggregate_covariates needs a 'trial' column naming the aggregate "
                            f"trials {list(arms.labels)}")
        unknown = [t for t in covariates.trials if t not in arms.labels and t not in ipd_labels]
        if unknown:
            raise DataError(f"the covariate summaries describe trial {unknown[0]!r}, which is "
                            f"neither an aggregate trial {list(arms.labels)} nor an IPD trial")
        absent = [t for t in arms.labels if t not in covariates.trials]
        if absent:
            raise DataError(f"aggregate trial {absent[0]!r} has no covariate summaries "
                            f"(missing for {absent}); add its rows to aggregate_covariates")
        unused = sorted(set(covariates.covariates) - set(ipd.covariate_names)
                        - set(ipd.covariates))
        if unused:
            warnings.warn(f"aggregate_covariates summarise {unused}, which are not covariates "
                          f"of the model ({list(ipd.covariate_names)}): they are not used (a "
                          "misspelt name, or a covariate left out of the IPDData?)",
                          DataWarning, stacklevel=4)
        R = ipd_correlation(ipd) if corr is None else corr
        points = np.stack([
            integration_points(covariates, data=ipd, corr=R, n_points=n_points,
                               seed=_trial_seed(seed, k), trial=t)
            for k, t in enumerate(arms.labels)])
        return cls(arms=arms, covariates=covariates, points=points,
                   covariate_names=tuple(ipd.covariate_names), corr=R, seed=int(seed))

    # ------------------------------------------------------------------ views
    @property
    def labels(self) -> tuple[str, ...]:
        """Aggregate study labels (coordinate ``aggregate_study``)."""
        return tuple(self.arms.labels)

    @property
    def n_points(self) -> int:
        """Integration points per trial."""
        return int(self.points.shape[1])

    @property
    def events(self) -> np.ndarray:
        """Events per trial and arm (control, treated), shape (trial, 2), int."""
        return np.column_stack([self.arms.n01, self.arms.n11]).astype(np.int64)

    @property
    def totals(self) -> np.ndarray:
        """Patients per trial and arm (control, treated), shape (trial, 2), int."""
        return np.column_stack([self.arms.n0, self.arms.n1]).astype(np.int64)

    def with_points(self, n_points: int, *, ipd: IPDData) -> AggregateData:
        """The same trials with ``n_points`` integration points (same seeds).

        With the same seed a longer Sobol sequence begins with the shorter one, so
        ``with_points(2 * M)`` adds points to the fitted ones (multinma's integration
        check compares such nested sets).

        Parameters
        ----------
        n_points : int
            New number of points per trial.
        ipd : IPDData
            The IPD the model was fitted on.

        Returns
        -------
        AggregateData
            A new container; ``self`` is unchanged.

        Raises
        ------
        DataError
            As :meth:`from_summaries`.
        """
        return AggregateData.from_summaries(self.arms, self.covariates, ipd=ipd,
                                            n_points=n_points, seed=self.seed, corr=self.corr)

    # ------------------------------------------------------------------ serialisation
    def to_dataset(self) -> xr.Dataset:
        """Counts, points and summaries as an ``xarray.Dataset`` (saved with a fit).

        Returns
        -------
        xarray.Dataset
            ``events``, ``totals`` (dims ``aggregate_study``, ``arm``), ``points``
            (``aggregate_study``, ``point``, ``covariate``), ``corr``; attrs
            ``covariate_summaries`` (the summary frame as JSON records) and ``seed``.
        """
        names = list(self.covariate_names)
        ds = xr.Dataset(
            {"events": (("aggregate_study", "arm"), self.events),
             "totals": (("aggregate_study", "arm"), self.totals),
             "points": (("aggregate_study", "point", "covariate"), self.points),
             "corr": (("covariate", "covariate_"), self.corr.loc[names, names].to_numpy())},
            coords={"aggregate_study": list(self.labels), "arm": list(ARM_LABELS),
                    "covariate": names, "covariate_": names})
        ds.attrs["covariate_summaries"] = self.covariates.frame.to_json(orient="records")
        ds.attrs["seed"] = int(self.seed)
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> AggregateData:
        """Inverse of :meth:`to_dataset` (points restored as stored, not redrawn).

        Parameters
        ----------
        ds : xarray.Dataset
            Written by :meth:`to_dataset`.

        Returns
        -------
        AggregateData
            The stored counts, summaries, correlation and points.
        """
        labels = [str(s) for s in ds["aggregate_study"].values]
        ev, tot = ds["events"].values, ds["totals"].values
        arms = ArmTable(n11=ev[:, 1], n10=tot[:, 1] - ev[:, 1], n01=ev[:, 0],
                        n00=tot[:, 0] - ev[:, 0], labels=labels)
        frame = pd.DataFrame(json.loads(ds.attrs["covariate_summaries"]))
        names = [str(c) for c in ds["covariate"].values]
        corr = pd.DataFrame(ds["corr"].values, index=names, columns=names)
        return cls(arms=arms, covariates=CovariateSummary.from_frame(frame),
                   points=np.asarray(ds["points"].values, dtype=float),
                   covariate_names=tuple(names), corr=corr, seed=int(ds.attrs["seed"]))


def to_aggregate(frame: pd.DataFrame, *, trials: Sequence[str], study: str, treatment: str,
                 outcome: str, covariates: Sequence[str]
                 ) -> tuple[pd.DataFrame, ArmTable, CovariateSummary]:
    """Reduce some trials of an IPD frame to what a publication reports.

    For simulations and checks: the listed trials become arm-level events / totals and
    covariate summaries (mean and SD of a numeric covariate; the proportion, with an
    empty SD, of a 0/1 covariate), the others stay IPD.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient.
    trials : sequence of str
        Labels (values of ``study``, compared as text) of the trials to aggregate.
    study, treatment, outcome : str
        Columns of the trial label, the 0/1 treatment and the 0/1 outcome.
    covariates : sequence of str
        Numeric covariate columns to summarise.

    Returns
    -------
    ipd : pandas.DataFrame
        The rows of the other trials (a copy).
    arms : ArmTable
        Events and totals per arm of the listed trials, in the order given.
    summaries : CovariateSummary
        Columns ``trial, covariate, mean, sd, n`` for the listed trials.

    Raises
    ------
    DataError
        Not a data frame, a missing column, a label not in ``study``, or every trial
        listed (no IPD left).
    """
    check_frame(frame)
    check_columns(frame, {"study": study, "treatment": treatment, "outcome": outcome})
    for c in covariates:
        check_columns(frame, {"covariate": c})
    labels = frame[study].astype(str)
    trials = [str(t) for t in trials]
    unknown = [t for t in trials if t not in set(labels)]
    if unknown:
        raise DataError(f"trial {unknown[0]!r} is not in study column {study!r}")
    agg = labels.isin(trials).to_numpy()
    if agg.all():
        raise DataError("every trial was listed for aggregation; keep at least one IPD trial")
    counts, rows = [], []
    for t in trials:
        sub = frame[(labels == t).to_numpy()]
        z = sub[treatment].to_numpy(dtype=int)
        y = sub[outcome].to_numpy(dtype=int)
        counts.append({"study": t, "events1": y[z == 1].sum(), "total1": (z == 1).sum(),
                       "events0": y[z == 0].sum(), "total0": (z == 0).sum()})
        for c in covariates:
            x = sub[c].to_numpy(dtype=float)
            binary = bool(np.isin(x, (0.0, 1.0)).all())
            rows.append({"trial": t, "covariate": c, "mean": float(x.mean()),
                         "sd": np.nan if binary else float(x.std(ddof=1)), "n": len(x)})
    arms = ArmTable.from_events(pd.DataFrame(counts), events1="events1", total1="total1",
                                events0="events0", total0="total0", study="study")
    return (frame[~agg].copy(), arms, CovariateSummary.from_frame(pd.DataFrame(rows)))
