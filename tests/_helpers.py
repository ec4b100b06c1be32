"""Helpers shared by several test modules.

Imported as ``from tests._helpers import ...`` (pytest's importlib import mode makes the
``tests`` folder importable). ``linear_cate_trials`` is
:func:`bayes_hte.simulate.cima_linear` returning a tuple, with a caller's generator.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from bayes_hte.simulate.cima_linear import THETA, cima_linear

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
#: tau(x) = 0.5 + 0.3 x1 - 0.4 x2 (:data:`bayes_hte.simulate.cima_linear.THETA`)
CATE_THETA = np.array(THETA)


def linear_cate_trials(rng: np.random.Generator, n_trial: int = 3000, n_target: int = 5000,
                       theta: np.ndarray = CATE_THETA
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """Trials with normal x1 and Bernoulli x2 (exact exponential tilts of the target),
    continuous outcome with CATE theta'(1, x1, x2); difference-in-means effects overall,
    by x2 (0/1) and by x1 (<=0, >0): :func:`bayes_hte.simulate.cima_linear` drawing from
    ``rng`` (which it advances).

    Returns the reported effects, the covariate summaries, the target sample and the
    target's true ATE.
    """
    sim = cima_linear(n_trial=n_trial, n_target=n_target, theta=theta, seed=rng)
    return sim.effects, sim.covariates, sim.target, sim.true_ate


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


def validation_script(name: str) -> ModuleType:
    """``validation/<name>.py`` loaded as a module (the table scripts are scripts, not
    package modules)."""
    path = Path(__file__).resolve().parents[1] / "validation" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def assert_csv_columns_named(folder) -> None:
    """Every CSV table under ``folder`` names each column, its index included (no blank
    first header cell, which a spreadsheet shows as an unnamed column)."""
    import csv
    from pathlib import Path

    tables = sorted(Path(folder).rglob("*.csv"))
    assert tables, f"no CSV under {folder}"
    for path in tables:
        with path.open(newline="") as fh:
            header = next(csv.reader(fh))
        assert all(name.strip() for name in header), f"{path.name}: unnamed column in {header}"
