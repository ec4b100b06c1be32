r"""Bayesian evidence synthesis estimators: aggregate data and one-stage longitudinal IPD.

Thin classes over the factories of :mod:`bayes_hte.models.synthesis_univariate` and
:mod:`bayes_hte.models.synthesis_multivariate` (the equations are in those modules) and
the summaries of :mod:`bayes_hte.effects.synthesis`; each has a frequentist
counterpart among the comparators:

* :class:`MetaAnalysisModel` -- an ``EffectTable`` (or ``yi``, ``vi``);
  :func:`bayes_hte.comparators.meta_analysis`.
* :class:`CausalMetaModel` -- an ``ArmTable`` (2x2 counts per study);
  :func:`bayes_hte.comparators.causal_meta_analysis`.
* :class:`~bayes_hte.estimators.synthesis_multivariate.MultivariateMetaModel` and
  :class:`~bayes_hte.estimators.synthesis_multivariate.LongitudinalMetaModel` (in
  :mod:`bayes_hte.estimators.synthesis_multivariate`) -- coefficient vectors;
  :func:`bayes_hte.comparators.mvmeta`, :func:`bayes_hte.comparators.two_step_ipdma`.

>>> m = MetaAnalysisModel(tau_prior="half_cauchy")                    # doctest: +SKIP
>>> m.fit(effect_table, draws=1000, chains=4, random_seed=1)          # doctest: +SKIP
>>> m.summary()        # mu, tau, theta_new: mean, sd, ci_low, ci_high  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Self, get_args

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte import effects, inference
from bayes_hte.data.aggregate import ArmTable, EffectTable
from bayes_hte.diagnostics import diagnostics_table, population_vars
from bayes_hte.effects import synthesis as synthesis_effects
from bayes_hte.effects.synthesis import PosteriorSummary
from bayes_hte.errors import DataError
from bayes_hte.estimators.base import Estimator
from bayes_hte.models.synthesis_univariate import (
    build_causal_meta_model,
    build_meta_analysis_model,
)
from bayes_hte.options import (
    MEASURES,
    Measure,
    Membership,
    MetaParameterization,
    Sampler,
    SampleSizeWeights,
    TauPrior,
    check_choice,
)

__all__ = ["CausalMetaModel", "MetaAnalysisModel", "SynthesisEstimator"]


# =========================================================================== shared base
class SynthesisEstimator(Estimator):
    """Base of the synthesis estimators: one ``build``, ``fit`` and ``parameters``.

    Subclasses set :attr:`population` (the posterior variables :meth:`parameters`
    diagnoses), ``_factory`` (their factory of :mod:`bayes_hte.models`, as a
    ``staticmethod``) and ``_option_names``, and implement ``summary`` and the data
    (de)serialisation of :class:`~bayes_hte.estimators.base.Estimator`.
    """

    #: Posterior variables reported by :meth:`parameters` (those present).
    population: ClassVar[tuple[str, ...]] = ()
    _factory: ClassVar[Callable[..., pm.Model]]

    def _prepare(self, data):
        """The container stored as :attr:`data` (subclasses convert user input)."""
        return data

    def _factory_arguments(self, data) -> tuple[tuple, dict]:
        """Positional and keyword arguments of ``_factory`` for the container ``data``."""
        return (data,), self._options()

    def build(self, data: object) -> pm.Model:
        """Build (but do not fit) the model for ``data`` with the estimator's options.

        Parameters
        ----------
        data : EffectTable, ArmTable, CoefficientEstimates or LongitudinalData
            The estimator's container (see its class docstring; :meth:`fit` also takes
            the other forms of input it lists).

        Returns
        -------
        pymc.Model
            From the estimator's factory in :mod:`bayes_hte.models.synthesis_univariate`
            or :mod:`bayes_hte.models.synthesis_multivariate`, named in its class
            docstring.

        Raises
        ------
        DataError
            Data the factory rejects, e.g. another container, too few studies, invalid
            counts, covariances or weights (the message names the study or column).
        """
        args, options = self._factory_arguments(data)
        return self._factory(*args, **options)

    def fit(self, data: object, *, draws: int = 1000, tune: int = 1000,
            chains: int = 4, random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = None, progressbar: bool = False,
            log_likelihood: bool = True, posterior_predictive: bool = True) -> Self:
        """Sample the posterior; returns ``self`` with :attr:`idata` set.

        Parameters
        ----------
        data : EffectTable, ArmTable, pandas.DataFrame, LongitudinalData or \
CoefficientEstimates
            The estimator's data (see its class docstring).
        draws, tune, chains : int
            Kept draws and tuning steps per chain, number of chains.
        random_seed : int, optional
            Seed of the sampler; also the default seed of new-trial draws.
        sampler : {"nutpie", "pymc", "nutpie_jax"}, optional
            NUTS implementation; default nutpie when installed.
        target_accept : float, optional
            NUTS target acceptance (the sampler's default, 0.8, when ``None``); raise it
            towards 0.95 if divergences appear.
        progressbar : bool
            Show the sampler's progress.
        log_likelihood : bool
            Store the pointwise log likelihood (one value per independent observation
            unit: study, study and arm, or participant) for LOO.
        posterior_predictive : bool
            Store posterior predictive draws of the observed variables.

        Returns
        -------
        SynthesisEstimator
            ``self``; ``idata`` holds the posterior, sample stats, the requested groups,
            observed and constant data, the fit data (group :attr:`data_group`) and, in
            the posterior's attrs, the options and resolved priors.

        Raises
        ------
        DataError
            Invalid data (the message names the study, column or row).
        """
        data = self._prepare(data)
        model = self.build(data)
        self.data, self._model = data, model
        idata = inference.fit(model, draws=draws, tune=tune, chains=chains,
                              random_seed=random_seed, sampler=sampler,
                              target_accept=target_accept, progressbar=progressbar,
                              log_likelihood=log_likelihood,
                              posterior_predictive=posterior_predictive)
        self.idata = self._attach(idata, model.bayes_hte["priors"], random_seed=random_seed)
        self._check_convergence()
        return self

    def parameters(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        """Convergence table of the population-level parameters.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed credible intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            One row per parameter element (:func:`bayes_hte.diagnostics.diagnostics_table`:
            mean, sd, interval, ESS, both R-hats, MCSE) for the variables of
            :attr:`population` present in the posterior (matrices over 60 elements and
            constants left out; each correlation once, without a correlation matrix's
            diagonal).

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        names = [v for v in population_vars(self.idata, exclude_dims=("participant",))
                 if v in self.population]
        table = diagnostics_table(self.idata, var_names=names, ci_prob=ci_prob)
        return table.loc[_each_correlation_once(table.index)]


def _each_correlation_once(index) -> list[bool]:
    """Rows to keep: a correlation matrix's ``corr[a, a]`` (1) and ``corr[b, a]`` (which
    repeats ``corr[a, b]``) are left out, every other row kept."""
    keep, seen = [], set()
    for row in map(str, index):
        name, _, inside = row.partition("[")
        labels = [x.strip() for x in inside.rstrip("]").split(",")]
        if not name.startswith("corr") or len(labels) != 2:
            keep.append(True)
            continue
        a, b = labels
        keep.append(a != b and (name, b, a) not in seen)
        seen.add((name, a, b))
    return keep


def _check_priors(priors: Mapping | None) -> dict:
    return json.loads(json.dumps(dict(priors or {})))  # a plain, JSON-storable copy


# =========================================================================== normal–normal
class MetaAnalysisModel(SynthesisEstimator):
    r"""Bayesian normal–normal random-effects meta-analysis of study effect sizes.

    For studies :math:`k` with estimates :math:`y_k` and known variances :math:`s_k^2`:

    .. math::

        y_k \mid \theta_k \sim N(\theta_k, s_k^2), \qquad
        \theta_k \sim N(\mu, \tau^2), \qquad \mu \sim N(0, 10^2),\;
        \tau \sim p(\tau),

    and the effect of a new study :math:`\theta_{new} = \mu + \tau z_{new}`,
    :math:`z_{new} \sim N(0, 1)`, whose posterior is the Bayesian prediction interval
    (:func:`bayes_hte.models.synthesis_univariate.build_meta_analysis_model`). The
    Bayesian counterpart of the classical random-effects model
    (:func:`bayes_hte.comparators.meta_analysis`; DerSimonian–Laird, REML).

    Parameters
    ----------
    tau_prior : {"half_normal", "half_cauchy", "half_student_t", "exponential", "uniform"}
        Named prior of :math:`\tau` (``TAU_PRIORS``: HalfNormal(0.5), HalfCauchy(0.5),
        HalfStudentT(3, 0.5), Exponential(2), Uniform(0, 5)); scales suit log RR / log
        OR, rescale for risk differences (``priors={"tau": {"sigma": 0.05}}``).
    priors : mapping, optional
        Overrides by name: ``"mu"``, ``"tau"``.
    parameterization : {"marginal", "centered", "non_centered"}
        Form of the study effects. ``"marginal"`` (default) samples
        :math:`(\mu, \tau)` from :math:`y_k \sim N(\mu, s_k^2 + \tau^2)` and
        reconstructs :math:`\theta_k` exactly from its conditional posterior (no funnel).

    Raises
    ------
    ValueError
        An option outside its allowed values.

    Warns
    -----
    DataWarning
        At build or fit, when the effects are risk differences (``measure="RD"``) and
        ``priors`` gives :math:`\tau` no prior: the named priors' scales put 82-98 % of
        their mass above :math:`\tau = 0.1` there; the message suggests the scale that
        puts the prior's 95th percentile at 0.1
        (:func:`bayes_hte.models.synthesis_univariate.rd_tau_scale`). Likewise for raw
        mean differences (``measure="MD"``, from :class:`~bayes_hte.MeanTable`), whose
        units the default priors do not know.

    Examples
    --------
    >>> import bayes_hte as bh
    >>> eff = bh.EffectTable.from_arrays([-0.9, -1.6, -0.2, 0.0], [0.3, 0.2, 0.05, 0.01])
    >>> m = bh.MetaAnalysisModel(tau_prior="half_cauchy")
    >>> m.fit(eff, draws=500, chains=2, random_seed=1)              # doctest: +SKIP
    >>> m.summary()                 # rows mu, tau, theta_new       # doctest: +SKIP
    """

    data_group: ClassVar[str] = "effect_table"
    population: ClassVar[tuple[str, ...]] = ("mu", "tau")
    data: EffectTable | None = None
    _factory = staticmethod(build_meta_analysis_model)
    _option_names = ("tau_prior", "priors", "parameterization")

    def __init__(self, *, tau_prior: TauPrior = "half_normal", priors: Mapping | None = None,
                 parameterization: MetaParameterization = "marginal"):
        check_choice("tau_prior", tau_prior, get_args(TauPrior))
        check_choice("parameterization", parameterization, get_args(MetaParameterization))
        self.tau_prior = tau_prior
        self.priors = _check_priors(priors)
        self.parameterization = parameterization

    def fit(self, data: EffectTable | pd.DataFrame | Sequence[float] | np.ndarray,
            vi: Sequence[float] | np.ndarray | None = None, *,
            labels: Sequence | None = None, draws: int = 1000, tune: int = 1000,
            chains: int = 4, random_seed: int | None = None, sampler: Sampler | None = None,
            target_accept: float | None = None, progressbar: bool = False,
            log_likelihood: bool = True, posterior_predictive: bool = True) -> Self:
        """Sample the posterior given a table or the effect sizes and their variances.

        Arrays become an :class:`~bayes_hte.EffectTable` (``EffectTable.from_arrays``),
        which checks them; the log likelihood has one value per study.

        Parameters
        ----------
        data : EffectTable, pandas.DataFrame or array_like of shape (k,)
            An ``EffectTable`` (e.g. ``ArmTable.effects("RR")``), a frame with columns
            ``yi`` and ``vi`` (and ``study``), or the effect sizes ``yi`` themselves.
        vi : array_like, shape (k,), optional
            Sampling variances (> 0) when ``data`` holds the effect sizes.
        labels : sequence, optional
            Study labels when ``data`` holds the effect sizes.
        draws, tune, chains, random_seed, sampler, target_accept, progressbar, \
log_likelihood, posterior_predictive
            As in :meth:`SynthesisEstimator.fit`.

        Returns
        -------
        MetaAnalysisModel
            ``self`` with :attr:`idata` set: ``mu``, ``tau``, the study effects ``theta``
            and ``theta_new``, on the scale of ``yi``.

        Raises
        ------
        DataError
            Missing or non-finite effect sizes, variances not > 0 (naming the studies),
            ``vi`` given with a table or missing with arrays, fewer than 2 studies.
        """
        if isinstance(data, EffectTable | pd.DataFrame):
            if vi is not None or labels is not None:
                raise DataError("vi / labels are for effect sizes given as arrays; an "
                                "EffectTable or DataFrame already holds them")
            table = data if isinstance(data, EffectTable) else EffectTable.from_frame(
                data, yi="yi", vi="vi", study="study" if "study" in data else None)
        elif vi is None:
            raise DataError("vi (sampling variances) is required unless data is an "
                            "EffectTable or a DataFrame with columns yi and vi")
        else:
            table = EffectTable.from_arrays(data, vi, labels=labels)
        return super().fit(table, draws=draws, tune=tune, chains=chains,
                           random_seed=random_seed, sampler=sampler,
                           target_accept=target_accept, progressbar=progressbar,
                           log_likelihood=log_likelihood,
                           posterior_predictive=posterior_predictive)

    def _data_to_dataset(self, data: EffectTable) -> xr.Dataset:
        ds = xr.Dataset({"yi": ("study", data.yi), "vi": ("study", data.vi)},
                        coords={"study": list(data.labels)})
        for name in ("subgroup", "stratum"):
            if getattr(data, name) is not None:
                ds[name] = ("study", np.asarray(getattr(data, name), dtype=str))
        ds.attrs["effect_table"] = json.dumps(
            {"measure": data.measure, "scale": data.scale, "excluded": list(data.excluded),
             "corrected": list(data.corrected)})
        return ds

    @classmethod
    def _data_from_dataset(cls, ds: xr.Dataset) -> EffectTable:
        cfg = json.loads(ds.attrs["effect_table"])
        extra = {n: ds[n].values.astype(str) for n in ("subgroup", "stratum") if n in ds}
        return EffectTable(yi=ds["yi"].values, vi=ds["vi"].values,
                           labels=[str(s) for s in ds["study"].values],
                           measure=cfg["measure"], scale=cfg["scale"],
                           excluded=tuple(cfg["excluded"]), corrected=tuple(cfg["corrected"]),
                           **extra)

    def summary(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        r"""Pooled effect, between-study SD and a new study's effect.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible intervals of ``mu`` and ``tau`` and of the
            prediction interval (``theta_new``), in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Rows ``mu`` (pooled effect), ``tau`` (between-study SD) and ``theta_new``
            (effect of a new study: its interval is the prediction interval); columns
            ``mean``, ``sd``, ``ci_low``, ``ci_high``, on the scale of ``yi`` (log RR or
            log OR for ``ArmTable.effects("RR" / "OR")``).

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        return synthesis_effects.parameter_table(self.idata, ["mu", "tau", "theta_new"],
                                                 ci_prob=ci_prob)

    def result(self, *, ci_prob: float = 0.95) -> PosteriorSummary:
        """The pooled effect in the comparators' vocabulary, for forest plots.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible and prediction intervals, in (0, 1).

        Returns
        -------
        PosteriorSummary
            Posterior median of ``mu``, its SD, ``ci`` and the prediction interval
            ``pi`` (of ``theta_new``); ``scale="log"`` for log-scale effect sizes, so
            :func:`bayes_hte.plots.combined_forest_plot` draws RR / OR.

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        scale = "log" if self.data.scale == "log" else "natural"
        return synthesis_effects.posterior_summary(self.idata, "mu", ci_prob=ci_prob,
                                                   predictive="theta_new", scale=scale)


# =========================================================================== causal
class CausalMetaModel(SynthesisEstimator):
    r"""Bayesian causal meta-analysis of per-arm binary outcome counts.

    The Bayesian counterpart of Berenfeld et al. (2026)
    (:func:`bayes_hte.comparators.causal_meta_analysis`): per study :math:`k` and arm
    :math:`a`,

    .. math::

        n_{a1}(k) \sim \mathrm{Binomial}(n_a(k), \psi_a(k)), \qquad
        \mathrm{logit}\,\psi_a(k) \sim N(0, 2^2),

    the target population :math:`P^* = \sum_k \omega_k P_k` and the pooled risks
    :math:`\psi_a = \sum_k \omega_k \psi_a(k)`; the causal effect
    :math:`\theta(P^*) = \Phi(\psi_1, \psi_0)` is the risk difference, risk ratio and
    odds ratio of the pooled risks (all three in one posterior, variable ``theta`` with
    dim ``measure``). With random membership the weights have a posterior,
    :math:`(n_k) \sim \mathrm{Multinomial}(n, \omega)`, :math:`\omega \sim
    \mathrm{Dirichlet}(1, \dots, 1)` — the Bayesian analogue of the "delta" variance
    (:func:`bayes_hte.models.synthesis_univariate.build_causal_meta_model`).

    Parameters
    ----------
    weights : "sample_size", sequence of float or mapping of str to float
        :math:`\omega_k = n_k/n` (default), or user convex weights (fixed; a mapping is
        matched to the study labels).
    membership : {"random", "fixed"}
        With ``"sample_size"`` weights: ``"random"`` gives :math:`\omega` a posterior,
        ``"fixed"`` plugs in :math:`n_k/n`. User weights are always fixed.
    priors : mapping, optional
        Override ``"logit_risk"`` (default :math:`N(0, 2^2)` per study and arm).

    Raises
    ------
    ValueError
        ``weights`` a string other than ``"sample_size"``, or an unknown ``membership``.

    Notes
    -----
    The log likelihood has one value per study and arm (``events``) and, with random
    membership, one for the vector of study sizes (``n_study``, a single multinomial
    observation).

    Examples
    --------
    >>> import bayes_hte as bh
    >>> sim = bh.simulate.berenfeld2026(n=2000, seed=3)
    >>> m = bh.CausalMetaModel()
    >>> m.fit(sim.arm_table(), draws=500, chains=2, random_seed=1)  # doctest: +SKIP
    >>> m.summary()                 # rows RD, RR, OR               # doctest: +SKIP
    """

    data_group: ClassVar[str] = "arm_table"
    population: ClassVar[tuple[str, ...]] = ("psi", "theta", "weight")
    data: ArmTable | None = None
    _factory = staticmethod(build_causal_meta_model)
    _option_names = ("weights", "membership", "priors")

    def __init__(self, *, weights: SampleSizeWeights | Sequence[float]
                 | Mapping[str, float] = "sample_size", membership: Membership = "random",
                 priors: Mapping | None = None):
        if isinstance(weights, str):
            check_choice("weights", weights, ("sample_size",))
        elif isinstance(weights, Mapping | pd.Series):
            weights = {str(k): float(v) for k, v in dict(weights).items()}
        else:
            weights = [float(w) for w in np.asarray(weights, dtype=float).ravel()]
        check_choice("membership", membership, get_args(Membership))
        self.weights = weights
        self.membership = membership
        self.priors = _check_priors(priors)

    def _factory_arguments(self, data: ArmTable) -> tuple[tuple, dict]:
        options = self._options()
        if isinstance(self.weights, dict):  # matched to the study labels by the factory
            options["weights"] = pd.Series(self.weights)
        return (data,), options

    def _prepare(self, data):
        return ArmTable.from_any(data, name="data")

    def _data_to_dataset(self, data: ArmTable) -> xr.Dataset:
        return xr.Dataset({c: ("study", getattr(data, c)) for c in ("n11", "n10", "n01",
                                                                     "n00")},
                          coords={"study": list(data.labels)})

    @classmethod
    def _data_from_dataset(cls, ds: xr.Dataset) -> ArmTable:
        return ArmTable(**{c: ds[c].values for c in ("n11", "n10", "n01", "n00")},
                        labels=[str(s) for s in ds["study"].values])

    def summary(self, *, ci_prob: float = 0.95) -> pd.DataFrame:
        r"""The causal effect :math:`\theta(P^*)` as RD, RR and OR.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed credible interval of each measure, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``measure`` (RD, RR, OR; natural scale, the ratios not logged);
            columns ``mean``, ``sd``, ``ci_low``, ``ci_high``.

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        return effects.summarize(self.idata["posterior"]["theta"], ci_prob=ci_prob)

    def result(self, measure: Measure = "RR", *, ci_prob: float = 0.95) -> PosteriorSummary:
        """One measure in the comparators' vocabulary, for forest plots.

        Parameters
        ----------
        measure : {"RD", "RR", "OR"}
            The contrast of the pooled risks.
        ci_prob : float
            Probability of the credible interval, in (0, 1).

        Returns
        -------
        PosteriorSummary
            Posterior median, SD and equal-tailed interval of :math:`\\theta(P^*)` on the
            natural scale.

        Raises
        ------
        ValueError
            An unknown ``measure``.
        RuntimeError
            The estimator is not fitted.
        """
        check_choice("measure", measure, MEASURES)
        self._require_fit()
        return synthesis_effects.posterior_summary(self.idata, "theta",
                                                   sel={"measure": measure},
                                                   ci_prob=ci_prob, label=measure)
