r"""Aggregate-data trials in :class:`~bayes_hte.IPDMetaModel`: population-adjusted effects.

The methods here are those of :class:`~bayes_hte.IPDMetaModel` that concern trials
reported only as arm-level counts (multilevel meta-regression, Phillippo et al. 2020,
JRSS A; R package multinma): the population-average effect in any target population
(:meth:`AggregateTrialsMixin.marginal_effect`), the integration-error check
(:meth:`AggregateTrialsMixin.integration_check`), and saving / loading the aggregate
data with the fit. Equations in :mod:`bayes_hte.models.ipd_aggregate`.

>>> m = bh.IPDMetaModel(heterogeneity="random_intercept")                    # doctest: +SKIP
>>> m.fit(ipd, aggregate=arms, aggregate_covariates=summaries, integration_points=64)
>>> m.marginal_effect("trial:T4", measure="RD")      # (chain, draw)          # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte.data import integration
from bayes_hte.data.integration import AggregateData
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.diagnostics import convergence_warnings, diagnostics_table
from bayes_hte.effects import ipdma as ipdma_effects
from bayes_hte.errors import DataError, DataWarning
from bayes_hte.models.ipd_aggregate import build_ipd_aggregate_model
from bayes_hte.options import MEASURES, Measure, check_choice, check_flag

#: DataTree group holding the aggregate trials of a fit (counts, points, summaries).
AGGREGATE_GROUP = "aggregate_data"
#: Largest change of an aggregate arm risk's posterior mean, in posterior SDs, that the
#: integration check accepts (multinma's criterion, Phillippo et al. 2020, section 3.4).
INTEGRATION_TOLERANCE = 0.05
#: Population-level parameters compared by ``integration_check(refit=True)``.
CHECKED_VARS = ("alpha", "theta", "gamma", "eta", "tau_alpha")


class AggregateTrialsMixin:
    """Aggregate-data trials of a one-stage IPD-MA (methods of :class:`~bayes_hte.IPDMetaModel`).

    Holds :attr:`aggregate` (an :class:`~bayes_hte.data.integration.AggregateData`, or
    ``None`` for an IPD-only fit) and the methods that use it. A subclass supplies the
    estimator protocol (``fit``, ``options``, ``data``, ``idata``).
    """

    #: The aggregate-data trials of the fit (``None``: IPD only).
    aggregate: AggregateData | None = None
    #: The integration check of the last fit (:meth:`integration_check`), or ``None``.
    integration: pd.DataFrame | None = None
    _fit_settings: dict | None = None

    # ------------------------------------------------------------------ set-up
    def _prepare_aggregate(self, data: IPDData, aggregate, aggregate_covariates,
                           integration_points: int, seed: int | None) -> None:
        """Validate the aggregate inputs and draw the integration points (or clear them)."""
        self.aggregate, self.integration = None, None
        if aggregate is None and aggregate_covariates is None:
            return
        if aggregate is None or aggregate_covariates is None:
            given, needed = (("aggregate", "aggregate_covariates") if aggregate is not None
                             else ("aggregate_covariates", "aggregate"))
            raise DataError(f"{given} was given without {needed}: aggregate-data trials need "
                            "both their arm counts (aggregate=ArmTable) and their covariate "
                            "summaries (aggregate_covariates=CovariateSummary)")
        if self.outcome != "binary":
            raise DataError("aggregate-data trials are supported for a binary outcome only")
        self._check_data(data)
        self.aggregate = AggregateData.from_summaries(
            aggregate, aggregate_covariates, ipd=data, n_points=integration_points,
            seed=0 if seed is None else int(seed))

    def _build_aggregate(self, data: IPDData) -> pm.Model:
        return build_ipd_aggregate_model(
            data, self.aggregate, heterogeneity=self.heterogeneity, learner=self.learner,
            priors=self.priors, parameterization=self.parameterization)

    def _finish_aggregate(self, idata: xr.DataTree) -> xr.DataTree:
        """Store the aggregate trials in the fit and run the cheap integration check."""
        if self.aggregate is None:
            return idata
        idata[AGGREGATE_GROUP] = xr.DataTree(self.aggregate.to_dataset())
        self.idata = idata
        self.integration, message = self._integration_table(refit=False,
                                                            tolerance=INTEGRATION_TOLERANCE)
        if message:
            warnings.warn(message, DataWarning, stacklevel=3)  # at the user's fit() call
        worst = float(self.integration["change_sd"].max())
        post = idata["posterior"].to_dataset()
        post.attrs = dict(idata["posterior"].attrs)
        post.attrs["integration_points"] = self.aggregate.n_points
        post.attrs["integration_change_sd"] = worst
        idata["posterior"] = xr.DataTree(post)
        return idata

    def _rebuild(self, data: IPDData) -> pm.Model:
        """The model of the fitted data, with the aggregate trials when there were any."""
        return (self._build_aggregate(data) if self.aggregate is not None
                else self.build(data))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Rebuild a fitted estimator saved by ``save``, with its aggregate trials.

        As :meth:`bayes_hte.estimators.base.Estimator.load`; the aggregate trials (counts,
        summaries and the integration points used in the fit) are restored from the
        group :data:`AGGREGATE_GROUP`.

        Parameters
        ----------
        path : str or pathlib.Path
            A file written by ``save``.

        Returns
        -------
        IPDMetaModel
            Fitted, with ``idata``, ``data``, :attr:`aggregate` and :attr:`integration`
            (recomputed: the same points and draws give the same table) restored.

        Raises
        ------
        ValueError
            The file holds another estimator or a fit of a different model.
        """
        obj = super().load(path)
        if AGGREGATE_GROUP in obj.idata:
            obj.aggregate = AggregateData.from_dataset(obj.idata[AGGREGATE_GROUP].to_dataset())
            obj._model = None
            # the fit's integration check, recomputed from the same points and draws
            obj.integration, _ = obj._integration_table(refit=False,
                                                        tolerance=INTEGRATION_TOLERANCE)
        return obj

    # ------------------------------------------------------------------ estimands
    def _population_design(self, population, *, integration_points: int,
                           seed: int) -> tuple[np.ndarray, str | None, str]:
        """Design rows of the population, the included trial it is (if any), a label."""
        if isinstance(population, pd.DataFrame):
            return self.data.design(population), None, f"{len(population)} patients"
        if isinstance(population, CovariateSummary):
            if len(population.trials) > 1:
                raise DataError(f"the target CovariateSummary describes several populations "
                                f"{population.trials}; give one")
            trial = population.trials[0] if population.trials else None
            corr = population.corr
            X = integration.integration_points(population, data=self.data, corr=corr,
                                               n_points=integration_points, seed=seed,
                                               trial=trial)
            return X, None, "covariate summaries"
        if isinstance(population, str) and population.startswith("trial:"):
            label = population.split(":", 1)[1]
            ipd_labels = [str(s) for s in self.data.study_labels]
            if label in ipd_labels:
                return self.data.X[self.data.study_idx == ipd_labels.index(label)], label, \
                    population
            agg = self.aggregate
            if agg is not None and label in agg.labels:
                more = agg.with_points(max(integration_points, agg.n_points), ipd=self.data)
                return more.points[agg.labels.index(label)], label, population
            known = ipd_labels + (list(agg.labels) if agg is not None else [])
            raise DataError(f"population {population!r}: no included trial {label!r}; "
                            f"included trials: {known}")
        raise DataError("population must be a DataFrame of patients, a CovariateSummary or "
                        f"'trial:<label>', got {population!r}")

    def marginal_effect(self, population: pd.DataFrame | CovariateSummary | str, *,
                        measure: Measure = "RD", new_trial: bool = False,
                        integration_points: int = 1024,
                        random_seed: int | None = None) -> xr.DataArray:
        r"""Population-average treatment effect in a target population, per draw.

        :math:`\bar p_z = \int \mathrm{expit}\{a + \theta'x + z(\gamma + \eta'x)\}
        dF(x)` averaged over the population's covariate distribution :math:`F`, and the
        marginal risk difference :math:`\bar p_1 - \bar p_0`, risk ratio or odds ratio
        (:func:`bayes_hte.effects.ipdma.marginal_effect`; the population-adjusted
        estimand of Phillippo et al. 2020, section 3.3; multinma's
        ``marginal_effects``). :math:`F` is the patients of a data frame, the Gaussian
        copula of a ``CovariateSummary`` (scrambled Sobol points, as in the fit), or an
        included trial's patients (IPD) or integration points (aggregate data).

        The intercept :math:`a`: an included trial's own (``"trial:<label>"``), else the
        average trial's :math:`\alpha`; ``new_trial=True`` draws, per posterior draw, a
        new trial's intercept :math:`N(\alpha, \tau_\alpha^2)` instead (random and
        stratified intercepts; the naive model has none to draw).

        Parameters
        ----------
        population : pandas.DataFrame, CovariateSummary or str
            Patients with the covariate columns of the fit data; a one-population
            ``CovariateSummary`` (its ``corr`` if given, else the IPD's pooled
            correlation, :func:`bayes_hte.data.integration.ipd_correlation`); or
            ``"trial:<label>"`` for an included trial (IPD or aggregate).
        measure : {"RD", "RR", "OR"}
            Risk difference, risk ratio or odds ratio (treated vs control).
        new_trial : bool
            Use a new trial's intercept drawn from the between-trial distribution.
        integration_points : int
            Points for a ``CovariateSummary`` or an aggregate trial (a nested extension
            of the fitted points).
        random_seed : int, optional
            Seed of the new-trial draws and of the Sobol scrambling (default the fit's).

        Returns
        -------
        xarray.DataArray
            Named ``marginal_effect``, dims (chain, draw): risk difference in [-1, 1]
            (negative = fewer events when treated), or a ratio (not logged).
            ``attrs``: ``measure``, ``population``, ``new_trial``, ``model``.

        Raises
        ------
        DataError
            An unknown trial label (the message lists the included ones), a frame
            lacking a covariate, summaries lacking a covariate (named), a summary of
            several populations, a time-to-event model.
        ValueError
            An unknown ``measure``.
        RuntimeError
            The estimator is not fitted.
        """
        new_trial = check_flag("new_trial", new_trial)
        self._require_fit()
        check_choice("measure", measure, MEASURES)
        if self.outcome != "binary":
            raise DataError("marginal_effect() is for binary outcomes")
        if self.learner != "s" or self.heterogeneity not in (
                "naive", "random_intercept", "stratified_intercept"):
            raise DataError("marginal_effect() is defined for the S-learner with naive, "
                            "random or stratified intercepts")
        seed = self._seed_or(random_seed)
        X, label, what = self._population_design(
            population, integration_points=integration_points, seed=0 if seed is None else seed)
        post = self._posterior()
        if label is not None and not new_trial:
            post = ipdma_effects.own_trial_posterior(post, label, options=self.options)
        lp0, lp1 = ipdma_effects.linear_predictors(post, X, options=self.options,
                                                   new_trial=new_trial, rng=self._rng(seed))
        out = ipdma_effects.marginal_effect(lp0, lp1, measure=measure)
        out.attrs.update(population=what, new_trial=int(new_trial), model=self.label)
        return out

    def integration_check(self, *, refit: bool = False,
                          tolerance: float = INTEGRATION_TOLERANCE) -> pd.DataFrame:
        r"""Is the numerical integration over the aggregate trials accurate enough?

        Two versions of multinma's check (Phillippo et al. 2020, section 3.4):

        * ``refit=False`` (run after every fit): the integrated arm risks
          :math:`\bar p_{kz}` are recomputed at the posterior draws with twice the
          integration points (the nested Sobol sequence) and compared with those of the
          fitted points (:func:`bayes_hte.effects.ipdma.integration_error`).
        * ``refit=True``: the model is fitted again with twice the points (same sampler
          settings) and the posterior means of the population parameters
          :data:`CHECKED_VARS` are compared. Monte Carlo error enters this comparison
          too: the table gives each fit's MCSE; use enough draws that it is well below
          ``tolerance`` SDs.

        A change above ``tolerance`` posterior SDs raises a warning: increase
        ``integration_points``.

        Parameters
        ----------
        refit : bool
            Refit with twice the points instead of recomputing the risks.
        tolerance : float
            Largest acceptable change, in posterior SDs (0.05, as multinma).

        Returns
        -------
        pandas.DataFrame
            ``refit=False``: per aggregate trial and arm, ``risk_mean``,
            ``risk_mean_more``, ``risk_sd``, ``change_sd``, ``max_abs_diff``.
            ``refit=True``: per parameter element, ``mean``, ``mean_more``, ``sd``,
            ``change_sd``, ``mcse``, ``mcse_more``. ``attrs["points"]`` and
            ``attrs["more_points"]`` give the numbers of points.

        Warns
        -----
        DataWarning
            Some ``change_sd`` exceeds ``tolerance`` (the message names the worst).

        Raises
        ------
        RuntimeError
            Not fitted, or fitted without aggregate trials.
        """
        self._require_fit()
        if self.aggregate is None:
            raise RuntimeError("integration_check() needs a fit with aggregate-data trials")
        table, message = self._integration_table(refit=refit, tolerance=tolerance)
        if message:
            warnings.warn(message, DataWarning, stacklevel=2)
        return table

    def _integration_table(self, *, refit: bool, tolerance: float
                           ) -> tuple[pd.DataFrame, str | None]:
        """The check's table and, when it fails, the warning's text."""
        agg = self.aggregate
        more = agg.with_points(2 * agg.n_points, ipd=self.data)
        if not refit:
            table = ipdma_effects.integration_error(self._posterior(), agg.points, more.points)
            what = "aggregate arm risk"
        else:
            table = self._refit_check(more)
            what = "posterior mean"
        if not float(table["change_sd"].max()) > tolerance:
            return table, None
        return table, (
            f"integration check: with {2 * agg.n_points} instead of {agg.n_points} "
            f"integration points the {what} of {table['change_sd'].idxmax()} moves by "
            f"{table['change_sd'].max():.3f} posterior SD (> {tolerance}); increase "
            "integration_points")

    def _refit_check(self, more: AggregateData) -> pd.DataFrame:
        other = type(self)(**self._options())
        settings = dict(self._fit_settings or {})
        arms, cov = self.aggregate.arms, self.aggregate.covariates
        with warnings.catch_warnings(), convergence_warnings(False):
            warnings.simplefilter("ignore", DataWarning)
            other.fit(self.data, aggregate=arms, aggregate_covariates=cov,
                      integration_points=more.n_points, **settings)
        names = [v for v in CHECKED_VARS if v in self.idata["posterior"]]
        a = diagnostics_table(self.idata, var_names=names)
        b = diagnostics_table(other.idata, var_names=names)
        table = pd.DataFrame({"mean": a["mean"], "mean_more": b["mean"], "sd": b["sd"],
                              "mcse": a["mcse_mean"], "mcse_more": b["mcse_mean"]})
        table.insert(3, "change_sd", (table["mean"] - table["mean_more"]).abs() / table["sd"])
        table.attrs["points"] = self.aggregate.n_points
        table.attrs["more_points"] = more.n_points
        return table
