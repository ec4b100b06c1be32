r"""Every model family of the package on a small fixed design, ready for SBC.

Each entry builds a factory's model on a design small enough that a few hundred fits
of the whole family run in under an hour on two cores, with the factory's default
priors and options (those users get). The designs are drawn once from a fixed seed; only
the outcomes are simulated by SBC. Names are ``<family>/<variant>``:

* ``ipdma/binary/<structure>/<learner>``:
  :func:`~bayes_hte.models.ipdma.build_ipdma_model` (5 structures x S/T learners);
* ``ipdma/weibull/<structure>/<learner>``, ``ipdma/piecewise/<structure>/<learner>``:
  :func:`~bayes_hte.models.survival.build_ipdma_survival_model`;
* ``subgroup/individual``, ``subgroup/no_individual``:
  :func:`~bayes_hte.models.subgroup.build_subgroup_model` with and without the
  individual layer;
* ``synthesis/univariate``, ``synthesis/causal``:
  :func:`~bayes_hte.models.synthesis_univariate.build_meta_analysis_model`,
  :func:`~bayes_hte.models.synthesis_univariate.build_causal_meta_model`;
* ``synthesis/multivariate``: :func:`~bayes_hte.models.synthesis_multivariate.build_mvmeta_model`;
* ``longitudinal/one_stage``: :func:`~bayes_hte.models.synthesis_multivariate.build_one_stage_lmm`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm

from bayes_hte.data.aggregate import ArmTable, EffectTable
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.models.ipdma import build_ipdma_model
from bayes_hte.models.subgroup import build_subgroup_model
from bayes_hte.models.survival import build_ipdma_survival_model
from bayes_hte.models.synthesis_multivariate import build_mvmeta_model, build_one_stage_lmm
from bayes_hte.models.synthesis_univariate import (
    build_causal_meta_model,
    build_meta_analysis_model,
)
from bayes_hte.options import HETEROGENEITY, LEARNERS
from bayes_hte.sbc.core import SBCModel

#: Seed of every design (covariates, treatment, placeholder outcomes).
DESIGN_SEED = 20261130
#: Family names accepted by :func:`models` (prefixes of the model names).
FAMILIES: tuple[str, ...] = ("ipdma/binary", "ipdma/weibull", "ipdma/piecewise", "subgroup",
                             "synthesis", "longitudinal")


def ipd_design(*, trials: int = 4, patients: int = 40, covariates: int = 2,
               time_to_event: bool = False, seed: int = DESIGN_SEED) -> IPDData:
    """A fixed IPD design: standard-normal covariates, 1:1 treatment, equal trials.

    Parameters
    ----------
    trials, patients, covariates : int
        Number of trials, patients per trial and covariates ``x1, x2, ...``.
    time_to_event : bool
        Add follow-up times (exponential, mean 1; their largest value is the SBC
        censoring time) and an event column.
    seed : int
        Seed of the design.

    Returns
    -------
    IPDData
        The design; its outcome values are placeholders that SBC replaces.
    """
    rng = np.random.default_rng(seed)
    n = trials * patients
    frame = pd.DataFrame({"trial": np.repeat([f"T{j + 1}" for j in range(trials)], patients),
                          "treat": np.tile([0, 1], n // 2 + 1)[:n]})
    names = [f"x{k + 1}" for k in range(covariates)]
    for name in names:
        frame[name] = rng.normal(size=n)
    frame["y"] = np.tile([0, 1, 1, 0], n // 4 + 1)[:n]
    if time_to_event:
        frame["time"] = rng.exponential(size=n)
        return IPDData.from_frame(frame, outcome="y", time="time", treatment="treat",
                                  study="trial", covariates=names)
    return IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                              covariates=names)


def _effects(k: int = 8) -> EffectTable:
    rng = np.random.default_rng(DESIGN_SEED)
    return EffectTable.from_arrays(rng.normal(size=k), rng.uniform(0.02, 0.2, size=k),
                                   labels=[f"S{i + 1}" for i in range(k)])


def _counts(k: int = 6) -> ArmTable:
    rng = np.random.default_rng(DESIGN_SEED)
    n1 = rng.integers(30, 80, size=k)
    n0 = rng.integers(30, 80, size=k)
    frame = pd.DataFrame({"study": [f"S{i + 1}" for i in range(k)], "n11": n1 // 3,
                          "n10": n1 - n1 // 3, "n01": n0 // 2, "n00": n0 - n0 // 2})
    return ArmTable.from_frame(frame, study="study")


def _mv_design(k: int = 8, p: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(DESIGN_SEED)
    est = rng.normal(size=(k, p))
    cov = np.empty((k, p, p))
    for i in range(k):
        sd = rng.uniform(0.1, 0.4, size=p)
        corr = np.array([[1.0, 0.3], [0.3, 1.0]])
        cov[i] = corr * np.outer(sd, sd)
    return est, cov


def _longitudinal(trials: int = 3, subjects: int = 12, visits: int = 3) -> LongitudinalData:
    rng = np.random.default_rng(DESIGN_SEED)
    rows = []
    for j in range(trials):
        for i in range(subjects):
            x = rng.normal()
            for v in range(visits):
                rows.append({"trial": f"T{j + 1}", "id": f"T{j + 1}-{i}", "visit": v + 1,
                             "treat": i % 2, "x": x, "y": rng.normal()})
    return LongitudinalData.from_frame(pd.DataFrame(rows), outcome="y", treatment="treat",
                                       study="trial", subject="id", visit="visit",
                                       covariates=["x"])


# module-level builders (picklable through functools.partial)

def _binary(structure: str, learner: str, priors: Mapping | None = None,
            parameterization: str = "auto") -> pm.Model:
    return build_ipdma_model(ipd_design(), heterogeneity=structure, learner=learner,
                             priors=priors, parameterization=parameterization)


def _binary_default(structure: str, learner: str) -> pm.Model:
    """The default model, fitted against simulations of its centred form: a rank-1
    model also keeps its scales' deviations ``phi_dev = phi - 1``, which the centred form
    samples and the default (non-centred scales) does not (SBC needs every simulated
    parameter in the posterior)."""
    model = _binary(structure, learner)
    if structure == "rank1":
        with model:
            dev = model["phi"] - 1.0  # (study, *arm)
            pm.Deterministic("phi_dev", dev.T if learner == "t" else dev,
                             dims=("arm", "study") if learner == "t" else ("study",))
    return model


def _survival(baseline: str, structure: str, learner: str) -> pm.Model:
    return build_ipdma_survival_model(ipd_design(time_to_event=True), heterogeneity=structure,
                                      learner=learner, baseline=baseline, n_intervals=3)


def _subgroup(individual: bool, parameterization: str = "non_centered") -> pm.Model:
    return build_subgroup_model(ipd_design(patients=50), individual_effects=individual,
                                parameterization=parameterization)


def _univariate(priors: Mapping | None = None) -> pm.Model:
    return build_meta_analysis_model(_effects(), priors=priors)


def _causal() -> pm.Model:
    return build_causal_meta_model(_counts())


def _multivariate() -> pm.Model:
    est, cov = _mv_design()
    return build_mvmeta_model(est, cov)


def _one_stage() -> pm.Model:
    return build_one_stage_lmm(_longitudinal())


def models(family: str | None = None) -> list[SBCModel]:
    """The SBC models of one family, or of every family.

    Parameters
    ----------
    family : str, optional
        A prefix of the model names: one of :data:`FAMILIES`, or a full model name
        (e.g. ``"ipdma/binary/random_intercept/s"``). ``None``: every model.

    Returns
    -------
    list of SBCModel
        In a fixed order.

    Raises
    ------
    ValueError
        No model's name starts with ``family``.
    """
    out: list[SBCModel] = []
    for structure in HETEROGENEITY:
        for learner in LEARNERS:
            # the default random intercepts (partially centred) are written with flat
            # variables that cannot be drawn forward: simulate from the centred form of
            # the same model, fit the default
            if structure in ("random_intercept", "rank1"):
                out.append(SBCModel(
                    name=f"ipdma/binary/{structure}/{learner}",
                    build=functools.partial(_binary, structure, learner,
                                            parameterization="centered"),
                    fit_build=functools.partial(_binary_default, structure, learner)))
            else:
                out.append(SBCModel(name=f"ipdma/binary/{structure}/{learner}",
                                    build=functools.partial(_binary, structure, learner)))
    for baseline in ("weibull", "piecewise"):
        for structure in HETEROGENEITY:
            for learner in LEARNERS:
                out.append(SBCModel(
                    name=f"ipdma/{baseline}/{structure}/{learner}",
                    build=functools.partial(_survival, baseline, structure, learner)))
    # the default (anchored non-centred) form has flat anchors that cannot be drawn
    # forward: simulate from the centred form of the same model, fit the default
    for label, individual in (("individual", True), ("no_individual", False)):
        out.append(SBCModel(
            name=f"subgroup/{label}",
            build=functools.partial(_subgroup, individual, "centered"),
            fit_build=functools.partial(_subgroup, individual)))
    # the marginal form's theta/z are posterior-conditional constructions, not prior draws
    out.append(SBCModel(name="synthesis/univariate", build=_univariate, n_ite=0,
                        exclude=("theta", "z")))
    out.append(SBCModel(name="synthesis/causal", build=_causal, n_ite=0))
    out.append(SBCModel(name="synthesis/multivariate", build=_multivariate, n_ite=0))
    out.append(SBCModel(name="longitudinal/one_stage", build=_one_stage, n_ite=0))
    if family is None:
        return out
    chosen = [m for m in out if m.name == family or m.name.startswith(family.rstrip("/") + "/")]
    if not chosen:
        raise ValueError(f"no SBC model named or prefixed {family!r}; families: "
                         f"{list(FAMILIES)}")
    return chosen


def wrong_prior_model() -> SBCModel:
    r"""The detection check: simulate with one prior on :math:`\mu`, fit with another.

    Simulates the univariate random-effects meta-analysis with its default
    :math:`\mu \sim N(0, \cdot)` prior but fits it with :math:`\mu \sim N(1.5, 0.5^2)`;
    a working SBC harness must flag :math:`\mu`'s ranks as non-uniform.

    Returns
    -------
    SBCModel
        Named ``"synthesis/univariate/wrong_prior"``.
    """
    return SBCModel(name="synthesis/univariate/wrong_prior", build=_univariate,
                    fit_build=functools.partial(
                        _univariate, {"mu": {"dist": "Normal", "mu": 1.5, "sigma": 0.5}}),
                    n_ite=0, exclude=("theta", "z"))
