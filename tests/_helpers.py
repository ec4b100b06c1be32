"""Helpers shared by several test modules.

Imported as ``from tests._helpers import ...`` (pytest's importlib import mode makes the
``tests`` folder importable). ``linear_cate_trials`` draws the same numbers as
:func:`bayes_hte.simulate.cima_linear` (tests/studies/test_longitudinal_specs.py checks it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


def reference(name: str) -> dict:
    """The reference values in ``tests/data/<name>.json`` (written by the R scripts in
    validation/; each file's "source" gives the R and package versions)."""
    return json.loads((DATA / f"{name}.json").read_text())


def berkey1998() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Berkey et al. (1998), metafor's dat.berkey1998 (tests/data/metafor_berkey1998.json):
    the five trials' estimates Y (5, 2) of (PD, AL), their covariances S (5, 2, 2), and YM,
    Y with two components removed (PD of trial 2, AL of trial 5)."""
    data = reference("metafor_berkey1998")["data"]
    y = np.array(data["estimates"])
    ym = y.copy()
    ym[1, 0] = np.nan
    ym[4, 1] = np.nan
    return y, np.array(data["covariances"]), ym


def sampler_toml(draws: int = 150, tune: int = 200) -> str:
    """The ``[sampler]`` table of the small runner specs: 2 PyMC chains, seed 1."""
    return (f"[sampler]\ndraws = {draws}\ntune = {tune}\nchains = 2\nrandom_seed = 1\n"
            'sampler = "pymc"\n')


# ------------------------------------------------------- CIMA: a linear CATE, exact tilts
#: tau(x) = 0.5 + 0.3 x1 - 0.4 x2
CATE_THETA = np.array([0.5, 0.3, -0.4])
#: per trial: mean and SD of the normal x1, P(x2 = 1)
CATE_TRIALS = {"T1": (-0.8, 0.8, 0.2), "T2": (0.0, 1.2, 0.5), "T3": (0.7, 0.9, 0.7),
               "T4": (1.2, 1.0, 0.35)}


def linear_cate_trials(rng: np.random.Generator, n_trial: int = 3000, n_target: int = 5000,
                       theta: np.ndarray = CATE_THETA
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """Trials with normal x1 and Bernoulli x2 (exact exponential tilts of the target),
    continuous outcome with CATE theta'(1, x1, x2); difference-in-means effects overall,
    by x2 (0/1) and by x1 (<=0, >0).

    Returns the reported effects, the covariate summaries, the target sample and the
    target's true ATE.
    """
    eff, cov = [], []
    for t, (m, s, p) in CATE_TRIALS.items():
        x1 = m + s * rng.standard_normal(n_trial)
        x2 = (rng.random(n_trial) < p).astype(float)
        a = rng.random(n_trial) < 0.5
        tau = theta[0] + theta[1] * x1 + theta[2] * x2
        y = 1 + 0.5 * x1 + 0.3 * x2 + a * tau + rng.standard_normal(n_trial)
        for sg, st, mask in [("overall", None, np.ones(n_trial, bool)),
                             ("x2", 1, x2 == 1), ("x2", 0, x2 == 0),
                             ("x1", "<=0", x1 <= 0), ("x1", ">0", x1 > 0)]:
            yt, yc = y[mask & a], y[mask & ~a]
            eff.append(dict(trial=t, subgroup=sg, stratum=st, estimate=yt.mean() - yc.mean(),
                            se=np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)),
                            n=int(mask.sum()), prop=mask.mean()))
        cov += [dict(trial=t, covariate="x1", mean=x1.mean(), sd=x1.std(ddof=1)),
                dict(trial=t, covariate="x2", mean=x2.mean(), sd=np.nan)]
    target = pd.DataFrame({"x1": 0.3 + 1.1 * rng.standard_normal(n_target),
                           "x2": (rng.random(n_target) < 0.45).astype(float)})
    truth = float(np.mean(theta[0] + theta[1] * target["x1"] + theta[2] * target["x2"]))
    return pd.DataFrame(eff), pd.DataFrame(cov), target, truth


# ------------------------------------------------------------ small runner specs (TOML)
def bouvier_ipdma_toml(*, patients_per_trial: int, heterogeneity: list[str]) -> str:
    """The ``[data]`` and ``[model]`` tables of the small IPD-MA runner specs: 3 simulated
    bouvier2024 trials with 3 covariates (seed 4), S-learner models of the given
    heterogeneity structures. Braces are doubled: the text is part of a ``str.format``
    template (the specs' ``{out}``)."""
    return ('\n[data]\nsource = "simulate:bouvier2024"\n'
            f"params = {{{{ trials = 3, patients_per_trial = {patients_per_trial}, "
            "covariates = 3, seed = 4 }}\n"
            'outcome = "y"\ntreatment = "treat"\nstudy = "trial"\n'
            'covariates = ["x1", "x2", "x3"]\n\n'
            '[model]\nfamily = "ipdma"\n'
            f"heterogeneity = {json.dumps(list(heterogeneity))}\n"
            'learner = ["s"]\n')


def two_step_data_toml(params: str = "") -> str:
    """The ``[data]`` table of the small two-step runner specs (simulate:two_step; columns
    y, treat, trial, subject, visit, z). ``params``: an inline ``params = ...`` line put
    after ``source`` (braces doubled, as in a ``str.format`` template), or none when the
    spec gives a ``[data.params]`` table."""
    return ('\n[data]\nsource = "simulate:two_step"\n' + params
            + 'outcome = "y"\ntreatment = "treat"\nstudy = "trial"\nsubject = "subject"\n'
            'visit = "visit"\ncovariates = ["z"]\n')
