r"""Study methods on individual patient data: the hierarchical subgroup model.

Each function is a method kind of :data:`bayes_hte.studies.methods.METHOD_KINDS`:
``method(data, *, options) -> {estimand: {"estimate", "se", "ci_low", "ci_high"}}`` on a
:class:`~bayes_hte.studies.simulators.TrialIPD`.

Estimands (averages over the data set's patients, each summarised by its posterior
mean, SD and equal-tailed interval):

* ``ate_logit`` — the mean CATE on the log-odds scale, :math:`\frac1n\sum_i \tau(x_i)`;
* ``ate_rd`` — the mean CATE on the risk-difference scale;
* ``hte_<x>`` — for a 0/1 column :math:`x` named in ``contrasts``, the difference of the
  mean log-odds CATE of the patients with :math:`x = 1` and with :math:`x = 0`.

They estimate the population values the simulator's truth gives (for the Tzimas
design, :func:`bayes_hte.studies.simulators` ``tzimas2024``); the sample average differs
from the population one by the sampling of the covariates, an SD of about
:math:`\mathrm{SD}(TE_i)/\sqrt n` (0.016 on the log-odds scale for the Tzimas design at
n = 2000), small next to the posterior SDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayes_hte.data import IPDData
from bayes_hte.errors import DataError
from bayes_hte.estimators import SubgroupHTEModel
from bayes_hte.options import IndividualForm, Sampler, SubgroupParameterization
from bayes_hte.studies.meta_methods import Estimate, _draw_summary, _quiet, _wrong_data
from bayes_hte.studies.simulators import TrialIPD, data_seed


def fit_subgroup_model(data: TrialIPD, *, covariates: Sequence[str] = (),
                       interactions: Sequence[str] | None = None,
                       subgroups: Sequence[str] = (), individual_effects: bool = True,
                       individual_form: IndividualForm = "marginalized",
                       parameterization: SubgroupParameterization = "non_centered",
                       priors: Mapping[str, Any] | None = None,
                       contrasts: Sequence[str] = (), draws: int = 1000, tune: int = 1000,
                       chains: int = 4, sampler: Sampler | None = None,
                       target_accept: float | None = 0.9, ci_prob: float = 0.95,
                       seed: int = 0) -> dict[str, Estimate]:
    r"""The hierarchical subgroup model of Tzimas (2024) (kind ``"subgroup"``).

    :class:`bayes_hte.SubgroupHTEModel`: covariate main effects and treatment
    interactions, random subgroup effects per named subgrouping and (optionally) an
    individual layer, fitted by NUTS with the estimator's defaults unless set here; the
    sampler's seed is :func:`~bayes_hte.studies.simulators.data_seed` of the data and
    ``seed``. The CATEs are the marginal ones (:meth:`SubgroupHTEModel.cate_logit`).

    Parameters
    ----------
    data : TrialIPD
        One trial's patients.
    covariates : sequence of str
        Covariate columns with main effects (at least one).
    interactions : sequence of str, optional
        Covariates with a treatment interaction (default: all covariates).
    subgroups : sequence of str
        Subgrouping columns with random subgroup effects (e.g. ``["gender"]``).
    individual_effects : bool
        Include the individual layer.
    individual_form : {"marginalized", "non_centered"}
        Integrate the individual deviations out or sample them.
    parameterization : {"non_centered", "centered"}
        Form of the subgroup levels.
    priors : mapping, optional
        Prior overrides by parameter name.
    contrasts : sequence of str
        0/1 columns whose CATE contrast ``hte_<column>`` is reported.
    draws, tune, chains : int
        Kept draws and tuning steps per chain, number of chains.
    sampler : {"nutpie", "pymc"}, optional
        NUTS implementation (default nutpie when installed; PyMC cannot start its
        chain processes inside Dask's daemonic workers).
    target_accept : float, optional
        NUTS target acceptance (the estimator's default 0.9).
    ci_prob : float
        Probability of the equal-tailed credible intervals, in (0, 1).
    seed : int
        Added to the data's hash to seed the sampler (>= 0).

    Returns
    -------
    dict
        ``ate_logit``, ``ate_rd`` and one ``hte_<column>`` per contrast, each
        ``{"estimate", "se", "ci_low", "ci_high"}`` (posterior mean, SD, interval).

    Raises
    ------
    TypeError
        ``data`` is not TrialIPD.
    ValueError
        No covariates.
    DataError
        A contrast column that is not 0/1 or has a single value in the data; as
        :meth:`bayes_hte.IPDData.from_frame` and :meth:`bayes_hte.SubgroupHTEModel.fit`.
    """
    if not isinstance(data, TrialIPD):
        raise _wrong_data("subgroup", data, "one trial's patient data (TrialIPD)")
    if not covariates:
        raise ValueError("the subgroup model needs covariates")
    frame = data.frame
    groups = {}
    for col in contrasts:
        if col not in frame.columns:
            raise DataError(f"contrast column {col!r} is not in the data")
        values = frame[col].to_numpy()
        if not np.isin(values, (0, 1)).all() or np.unique(values).size < 2:
            raise DataError(f"contrast column {col!r} must hold 0 and 1")
        groups[col] = values == 1
    ipd = IPDData.from_frame(frame, outcome=data.outcome, treatment=data.treatment,
                             covariates=list(covariates))
    model = SubgroupHTEModel(subgroups=list(subgroups), interactions=(
        None if interactions is None else list(interactions)),
        individual_effects=individual_effects, individual_form=individual_form,
        parameterization=parameterization, priors=dict(priors) if priors else None)
    with _quiet():
        model.fit(ipd, draws=draws, tune=tune, chains=chains, sampler=sampler,
                  random_seed=data_seed(data, seed), target_accept=target_accept,
                  log_likelihood=False, posterior_predictive=False)
        logit = model.cate_logit().transpose("chain", "draw", "patient").values
        rd = model.ite().transpose("chain", "draw", "patient").values
    if logit.shape[-1] != len(frame):
        raise DataError(f"the model kept {logit.shape[-1]} of the {len(frame)} patients; "
                        "contrasts need every row")
    out = {"ate_logit": _draw_summary(logit.mean(axis=-1), ci_prob),
           "ate_rd": _draw_summary(rd.mean(axis=-1), ci_prob)}
    for col, ones in groups.items():
        diff = logit[..., ones].mean(axis=-1) - logit[..., ~ones].mean(axis=-1)
        out[f"hte_{col}"] = _draw_summary(diff, ci_prob)
    return out
