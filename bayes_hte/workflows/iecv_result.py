"""The result of an internal-external cross-validation: held-out predictions of every
model, the refits' diagnostics, and the metric table of the held-out patients
(:class:`IECVResult`, made by :func:`bayes_hte.workflows.iecv.iecv`; the procedure is in
that module's docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bayes_hte.data.ipd import IPDData
from bayes_hte.evaluation.metrics import metric_table
from bayes_hte.workflows.scoring import IECVScores, thin
from bayes_hte.workflows.scoring import outcome_arrays as data_outcome_arrays

__all__ = ["IECVResult"]


@dataclass
class IECVResult:
    """Held-out predictions of every model, in the order of the data's patients.

    Made by :func:`bayes_hte.workflows.iecv.iecv`; use :meth:`metrics` for the metric table.

    Parameters
    ----------
    data : IPDData
        The cross-validated meta-analysis.
    ite : dict of str to numpy.ndarray, shape (chain, draw, patient)
        Recalibrated ITE (risk difference; time-to-event: survival difference at
        ``horizon``) of each patient, predicted by the model fitted without the
        patient's trial (not recalibrated for the naive model, for time-to-event models
        or when ``recalibrate=False``); NaN for patients of trials not held out.
    ite_new : dict of str to numpy.ndarray, shape (chain, draw, patient)
        New-trial ITE (prediction-interval draws), not recalibrated.
    recalibration : pandas.DataFrame
        Intercept shift (log-odds) per model and held-out trial: columns ``model, trial,
        shift_mean, shift_sd`` (mean and sd over the draws).
    fits : pandas.DataFrame
        ``model, trial, seconds, cpu_seconds, divergences, max_r_hat, min_ess_bulk,
        warnings`` of every fit (CPU seconds of the fitting process; chains sampled in
        this process with ``chains=1`` or ``workers > 1``; ``max_r_hat`` NaN for
        single-chain fits, see ``notes``; ``warnings``: the fit's warning messages,
        ``" | "``-separated).
    wall_seconds : float
        Wall time of the whole cross-validation (seconds).
    held_out : list
        Labels of the trials held out (all, unless ``folds`` was given).
    horizon : float or None
        Time-to-event: the horizon of the ITE and of the event indicator (data's time
        unit); ``None`` for binary outcomes.
    options : dict
        ``sampler`` (settings of every fit), ``recalibrate``, ``workers``,
        ``random_seed``.
    notes : list of str
        The fits' diagnostics that are not defined and why, and their warnings, each
        said once in words (e.g. "R-hat not computed: 1 chain ...").
    scores : IECVScores or None
        The held-out predictions already scored (by :func:`submit_iecv` with ``score``,
        in the cross-validation's own process); None until then.
    """

    data: IPDData
    ite: dict[str, np.ndarray]
    ite_new: dict[str, np.ndarray]
    recalibration: pd.DataFrame
    fits: pd.DataFrame
    wall_seconds: float
    held_out: list = field(default_factory=list)
    horizon: float | None = None
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scores: IECVScores | None = None

    def thinned(self, max_draws: int | None) -> IECVResult:
        """The same result with at most ``max_draws`` draws per model, evenly spaced over
        the chains laid end to end (:func:`bayes_hte.workflows.scoring.thin`): the draws
        :meth:`metrics` scores with that ``max_draws``, so the metrics are unchanged.

        Parameters
        ----------
        max_draws : int or None
            Most draws kept per model (None: this result itself).

        Returns
        -------
        IECVResult
            ``ite`` and ``ite_new`` of shape (1, min(chain x draw, max_draws), patient);
            everything else shared with this result.
        """
        if max_draws is None:
            return self
        keep = {k: thin(v, max_draws)[None] for k, v in self.ite.items()}
        keep_new = {k: thin(v, max_draws)[None] for k, v in self.ite_new.items()}
        return replace(self, ite=keep, ite_new=keep_new)

    @property
    def labels(self) -> list[str]:
        """Model labels, in the order of the templates."""
        return list(self.ite)

    def metrics(self, *, truth: np.ndarray | None = None, groups: int = 5,
                ci_prob: float = 0.95, random_state: int | np.random.Generator | None = None,
                outcome_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                max_draws: int | None = None) -> pd.DataFrame:
        """Tidy metric table per model, per held-out trial, pooled and median over trials.

        Parameters
        ----------
        truth : numpy.ndarray, shape (patient,), optional
            True ITE of each patient in their own trial (simulations), on the scale of
            the ITE; adds ``mse`` and ``ci_coverage`` and is the target of
            ``pi_coverage``.
        groups : int
            Quantile groups of predicted benefit for calibration for benefit.
        ci_prob : float
            Probability of the equal-tailed intervals of the per-draw metrics.
        random_state : int or numpy.random.Generator, optional
            Seed of the c-for-benefit matching (subsampling, ties).
        outcome_arrays : tuple of numpy.ndarray, optional
            ``(y, treatment, known)``, each shape (patient,), to score instead of the
            data's (default: the outcome, or for time-to-event data the event-by-horizon
            indicator and the mask of patients with known status at ``horizon``).
        max_draws : int, optional
            Score at most this many posterior draws per model, evenly spaced over the
            chains laid end to end (:func:`bayes_hte.workflows.scoring.thin`), as
            :func:`~bayes_hte.workflows.compare.evaluate_models` does in sample; None:
            every draw (the per-draw metrics cost time in proportion to the draws).

        Returns
        -------
        pandas.DataFrame
            Columns ``model, trial, metric, estimate, mean, sd, ci_low, ci_high, n``
            (:func:`bayes_hte.evaluation.metrics.metric_table`). ``trial`` is a trial
            label, ``"pooled"`` (all held-out predictions together; c-for-benefit pairs
            matched within trials) or ``"median"`` (median of the per-trial estimates,
            the summary of Bouvier et al. 2024, Table 2). The rows include the
            E-for-benefit and RATE rows (``benefit_metrics=True`` of
            :func:`~bayes_hte.evaluation.metrics.metric_table`).
        """
        data = self.data
        y, z, known = (outcome_arrays if outcome_arrays is not None
                       else data_outcome_arrays(data, horizon=self.horizon))
        trials = np.asarray(data.study_labels, dtype=object)[data.study_idx]
        held = [j for j, lab in enumerate(data.study_labels) if lab in self.held_out]
        known = known & np.isin(data.study_idx, held)
        rng = np.random.default_rng(random_state)
        parts = []
        for label in self.labels:
            ite, ite_new = (thin(self.ite[label], max_draws),
                            thin(self.ite_new[label], max_draws))  # (draw, patient)
            per_trial = []
            for j in held:
                lab = data.study_labels[j]
                mask = (data.study_idx == j) & known
                tab = metric_table(
                    y[mask], z[mask], ite[..., mask], outcome=data.outcome_type,
                    truth=None if truth is None else truth[mask],
                    ite_new=ite_new[..., mask], groups=groups, ci_prob=ci_prob,
                    random_state=rng, benefit_metrics=True)
                tab.insert(0, "trial", str(lab))
                per_trial.append(tab)
            tabs = pd.concat(per_trial, ignore_index=True)
            pooled = metric_table(
                y[known], z[known], ite[..., known], outcome=data.outcome_type,
                truth=None if truth is None else truth[known], ite_new=ite_new[..., known],
                strata=trials[known], groups=groups, ci_prob=ci_prob, random_state=rng,
                benefit_metrics=True)
            pooled.insert(0, "trial", "pooled")
            med = (tabs.groupby("metric", sort=False)["estimate"].median().rename("estimate")
                   .reset_index())
            med.insert(0, "trial", "median")
            med["n"] = tabs.groupby("metric", sort=False)["n"].sum().to_numpy()
            out = pd.concat([tabs, pooled, med], ignore_index=True)
            out.insert(0, "model", label)
            parts.append(out)
        return pd.concat(parts, ignore_index=True)
