"""Bundled real data sets, transcribed from the seed papers.

Each loader returns a data frame, or a small object whose attributes are ready for the
matching analysis; the files sit next to this module (``*.csv``, ``*.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from bayes_hte.data.summaries import CovariateSummary

__all__ = ["SGLT2HF", "bcg", "sglt2_hf"]


def _read_csv(name: str) -> pd.DataFrame:
    with resources.files(__package__).joinpath(name).open("r") as fh:
        return pd.read_csv(fh, dtype={"stratum": str})


@dataclass(frozen=True, eq=False)
class SGLT2HF:
    """SGLT2 inhibitors in heart failure: aggregate data of four trials + a target.

    Returned by :func:`sglt2_hf`; the fields below are also its (read-only) attributes.

    Parameters
    ----------
    effects : pandas.DataFrame
        Risk differences of CV death or HF hospitalisation, overall and by subgroup:
        ``trial, subgroup, stratum, estimate, se, n, prop`` (``prop = n / n_overall``).
    counts : pandas.DataFrame
        The transcribed event counts behind ``effects``: ``events_trt, n_trt,
        events_ctl, n_ctl`` per row.
    covariates : pandas.DataFrame
        Per-trial summaries ``trial, covariate, n, mean, sd`` (LVEF mean/SD; prior HF
        hospitalisation and diabetes as proportions).
    target : CovariateSummary
        The PULSE target population (means, LVEF SD, latent correlations).
    info : dict
        Sources and notes, and the target's covariate names, latent correlation matrix
        (``"covariates"``, ``"corr"``) and population size (``"population_size"``), as
        read from ``sglt2_hf_target.json``.
    """

    effects: pd.DataFrame
    counts: pd.DataFrame
    covariates: pd.DataFrame
    target: CovariateSummary
    info: dict


def sglt2_hf() -> SGLT2HF:
    """SGLT2 inhibitors in heart failure (Shi et al., CIMA-AgD application, Tables 1-2).

    Four trials (EMPEROR-Preserved, DELIVER, DAPA-HF, EMPEROR-Reduced; outcome CV death
    or hospitalisation for heart failure) report the overall effect and one-at-a-time
    subgroups by LVEF (``"40-50"`` = 40 <= LVEF < 50, the report's "40-49%";
    ``"50-60"``; ``">=60"``; HFpEF trials only), prior HF hospitalisation (``prehhf``,
    1 = yes) and diabetes (1 = yes). Risk differences and SEs follow from the counts:
    :math:`\\hat\\tau = e_t/n_t - e_c/n_c`,
    :math:`s = \\sqrt{e_t(n_t-e_t)/n_t^3 + e_c(n_c-e_c)/n_c^3}`.

    The target is the PULSE study (383,896 patients): mean LVEF 45.4, 9.1% prior HF
    hospitalisation, 26.5% diabetes (seed, section 4.3). The LVEF SD (14.0) and the
    latent correlations (LVEF-preHHF -0.22, LVEF-diabetes -0.046, preHHF-diabetes 0.7)
    are not in the seed's text; they are those of the CIMAgD reference example.

    Returns
    -------
    SGLT2HF
        ``.effects``, ``.covariates``, ``.target`` for :func:`bayes_hte.comparators.cima`.

    Examples
    --------
    >>> d = sglt2_hf()
    >>> d.effects.shape
    (26, 7)
    """
    raw = _read_csv("sglt2_hf_effects.csv")
    et, nt = raw["events_trt"].to_numpy(float), raw["n_trt"].to_numpy(float)
    ec, nc = raw["events_ctl"].to_numpy(float), raw["n_ctl"].to_numpy(float)
    est = et / nt - ec / nc
    se = np.sqrt(et * (nt - et) / nt**3 + ec * (nc - ec) / nc**3)
    n = nt + nc
    effects = pd.DataFrame({
        "trial": raw["trial"], "subgroup": raw["subgroup"], "stratum": raw["stratum"],
        "estimate": est, "se": se, "n": n,
    })
    n_overall = effects[effects["subgroup"] == "overall"].set_index("trial")["n"]
    effects["prop"] = effects["n"] / effects["trial"].map(n_overall)
    covariates = _read_csv("sglt2_hf_covariates.csv")
    with resources.files(__package__).joinpath("sglt2_hf_target.json").open("r") as fh:
        info = json.load(fh)
    tframe = _read_csv("sglt2_hf_target.csv")
    names = list(tframe["covariate"])
    corr = pd.DataFrame(info["corr"], index=info["covariates"], columns=info["covariates"])
    target = CovariateSummary.from_frame(tframe, corr=corr.loc[names, names],
                                         n=int(info["population_size"]))
    counts = raw.copy()
    return SGLT2HF(effects=effects, counts=counts, covariates=covariates, target=target,
                   info=info)


def bcg() -> pd.DataFrame:
    """BCG vaccine against tuberculosis: 13 trials (Colditz et al. 1994, JAMA 271:698-702).

    The data of R metafor's ``dat.bcg`` (metadat package; Colditz, Brewer, Berkey et al.
    1994, "Efficacy of BCG vaccine in the prevention of tuberculosis: meta-analysis of
    the published literature", JAMA 271(9), 698-702; also Berkey et al. 1995, Stat Med
    14, 395-411): per trial the 2x2 counts of tuberculosis cases among vaccinated and
    unvaccinated participants, the absolute latitude of the trial site and how
    participants were allocated.

    Returns
    -------
    pandas.DataFrame
        13 rows, one per trial, with the columns of ``dat.bcg``: ``trial`` (1-13),
        ``author``, ``year`` (of publication), ``tpos`` / ``tneg`` (vaccinated with /
        without tuberculosis), ``cpos`` / ``cneg`` (not vaccinated, with / without
        tuberculosis), ``ablat`` (absolute latitude of the site, degrees), ``alloc``
        (``"random"``, ``"alternate"`` or ``"systematic"``); and ``study``, the label
        ``"<author> <year>"`` (unique, unlike ``author``). In the package's 2x2 vocabulary
        ``n11 = tpos``, ``n10 = tneg``, ``n01 = cpos``, ``n00 = cneg``.

    Examples
    --------
    >>> import bayes_hte as bh
    >>> d = bh.datasets.bcg()
    >>> counts = bh.ArmTable.from_frame(d, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
    ...                                 study="study")
    >>> counts.k, int(counts.n.sum())
    (13, 357347)
    """
    with resources.files(__package__).joinpath("bcg.csv").open("r") as fh:
        out = pd.read_csv(fh, dtype={"author": str, "alloc": str})
    out["study"] = out["author"] + " " + out["year"].astype(str)
    return out
