r"""The 5-trial simulation setting of Shi et al. (CIMA-AgD), returning data and truth.

Source: Shi et al., *Causally-interpretable meta-analysis using aggregate data*
(section 3 and appendix B.1). The parameter values missing from the paper's text are
those of the authors' simulation script
(``qingyshi/CIMA-AgD``, ``R/simstudy_5trial.R``); the scenario numbering follows its
``expand.grid(eta, beta, gamma, theta)`` (``eta`` varies fastest).

For each of :math:`N = 5000` individuals of an overall population:

1. covariates :math:`X_1 \sim Bern(\eta_1)`, :math:`X_2 \sim Bern(\eta_2)`,
   :math:`X_3 \sim N(\eta_3, 1)`, independent (the script's fourth parameter
   :math:`\eta_4`, a compound-symmetry correlation, acts on a single normal variable and
   so has no effect);
2. selection into the trials :math:`R \sim Bern\{\mathrm{expit}(\beta'(1, X))\}`;
   :math:`R = 0` is the target population;
3. allocation of :math:`R = 1` to trials :math:`S \in \{1..5\}` by a multinomial logit
   with trial 1 as reference, :math:`P(S=s) \propto \exp(\gamma_s'(1, X))`;
4. treatment :math:`A \sim Bern(0.5)`;
5. potential outcomes :math:`Y(a) \sim Bern\{\mathrm{expit}(\theta_a'(1, X))\}`,
   :math:`Y = Y(A)`.

The trials' aggregate data are the risk difference and its SE
(:math:`\sqrt{e_t(n_t-e_t)/n_t^3 + e_c(n_c-e_c)/n_c^3}`) overall and in the strata
:math:`X_1 \in \{0, 1\}`, :math:`X_2 \in \{0, 1\}`, :math:`X_3 \le 0`, :math:`X_3 > 0`,
and the covariate means (proportions) and the SD of :math:`X_3` (with ``ddof=0``, so that
mean² + SD² is the trial mean of :math:`X_3^2` used by the script). Strata whose SE is
zero or undefined (an empty arm, or all/no events) are not reported, as in the script.

The estimand is the target ATE :math:`E\{Y(1) - Y(0) \mid R = 0\}`: ``true_ate`` is the
sample mean of :math:`Y(1) - Y(0)` over the target rows (the script's "true value"),
``true_ate_expected`` the mean of :math:`\mathrm{expit}(\theta_1'x) -
\mathrm{expit}(\theta_0'x)` over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_hte.errors import DataError
from bayes_hte.options import check_count

_L = np.log

#: Parameter sets of the authors' script (appendix B.1 of the paper).
ETA = {1: (0.3, 0.3, 0.0, 0.3), 2: (0.5, 0.5, 0.0, 0.5)}
BETA = {1: (_L(2), _L(0.5), _L(0.5), _L(0.5)), 2: (_L(0.8), _L(2), _L(2), _L(2))}
GAMMA = {
    1: np.array([[_L(2), _L(0.5), _L(2), _L(0.5)],
                 [_L(2), _L(0.8), _L(1.25), _L(0.8)],
                 [_L(2), _L(0.5), _L(2), _L(0.5)],
                 [_L(2), _L(0.8), _L(1.25), _L(0.8)]]),
    2: np.array([[_L(2), _L(2), _L(0.5), _L(2)],
                 [_L(2), _L(1.25), _L(0.8), _L(1.25)],
                 [_L(2), _L(2), _L(0.5), _L(2)],
                 [_L(2), _L(1.25), _L(0.8), _L(2)]]),
}
THETA = {
    1: np.array([[_L(0.5), _L(2), _L(0.5), _L(1.25)],      # Y(1)
                 [_L(0.5), _L(0.5), _L(2), _L(0.8)]]),     # Y(0)
    2: np.array([[_L(0.5), _L(1.25), _L(0.8), _L(1.1)],
                 [_L(0.5), _L(0.8), _L(1.25), _L(0.9)]]),
}
TRIALS = ("S1", "S2", "S3", "S4", "S5")
STRATA = (("X1", "0"), ("X1", "1"), ("X2", "0"), ("X2", "1"), ("X3", "<=0"), ("X3", ">0"))


def scenario_parameters(scenario: int) -> dict[str, int]:
    r"""``eta, beta, gamma, theta`` indices (1/2) of scenario 1..16 (``eta`` fastest).

    The numbering of the authors' ``expand.grid(eta, beta, gamma, theta)``: scenario
    :math:`s` has ``eta`` index :math:`(s-1) \bmod 2 + 1`, ``beta``
    :math:`\lfloor (s-1)/2 \rfloor \bmod 2 + 1`, ``gamma``
    :math:`\lfloor (s-1)/4 \rfloor \bmod 2 + 1`, ``theta``
    :math:`\lfloor (s-1)/8 \rfloor + 1`.

    Parameters
    ----------
    scenario : int
        Scenario number 1..16, as in the rows of the paper's Tables 4-6.

    Returns
    -------
    dict
        ``{"eta": i, "beta": j, "gamma": k, "theta": l}``, each 1 or 2: the keys of
        :data:`ETA` (covariate distribution), :data:`BETA` (selection into the trials),
        :data:`GAMMA` (allocation to the trials) and :data:`THETA` (potential-outcome
        models).

    Raises
    ------
    DataError
        ``scenario`` not an integer in 1..16.
    """
    check_count("scenario", scenario, low=1, high=16, error=DataError)
    i = int(scenario) - 1
    return {"eta": i % 2 + 1, "beta": i // 2 % 2 + 1, "gamma": i // 4 % 2 + 1,
            "theta": i // 8 % 2 + 1}


@dataclass(frozen=True, eq=False)
class SimulatedCIMA:
    """One simulated data set of the CIMA-AgD 5-trial setting.

    Built by :func:`shi_cima`; the fields are also its attributes. Risk differences
    are treated minus control on the probability scale (``Y = 1`` an event).

    Parameters
    ----------
    data : pandas.DataFrame
        Individual rows: ``X1, X2, X3, R, S`` (trial label or empty), ``A, Y, Y1, Y0,
        p1, p0``.
    effects : pandas.DataFrame
        Reported effects for :func:`bayes_hte.comparators.cima`
        (``trial, subgroup, stratum, estimate, se, n, prop``).
    covariates : pandas.DataFrame
        Trial covariate summaries ``trial, covariate, n, mean, sd``.
    target : pandas.DataFrame
        Target covariate rows (:math:`R = 0`): ``X1, X2, X3``.
    counts : pandas.DataFrame
        Per trial: ``trial, events_trt, n_trt, events_ctl, n_ctl, estimate, se`` and the
        covariate means ``X1_mean, X2_mean, X3_mean`` (for meta-analysis / meta-regression).
    true_ate, true_ate_expected : float
        The target ATE (sample potential outcomes; expected risks).
    scenario : int
        Scenario number 1..16 (:func:`scenario_parameters`).
    params : dict
        ``n``, ``seed``, the ``eta``/``beta``/``gamma``/``theta`` indices and
        ``eta_values``.
    """

    data: pd.DataFrame
    effects: pd.DataFrame
    covariates: pd.DataFrame
    target: pd.DataFrame
    counts: pd.DataFrame
    true_ate: float
    true_ate_expected: float
    scenario: int
    params: dict = field(default_factory=dict)

    @property
    def truth(self) -> dict:
        """The estimand: ``ate`` (``true_ate``) and ``ate_expected`` (``true_ate_expected``)."""
        return {"ate": self.true_ate, "ate_expected": self.true_ate_expected}


def _rd(y: np.ndarray, a: np.ndarray) -> tuple[float, float, int, int, int, int]:
    yt, yc = y[a == 1], y[a == 0]
    nt, nc = len(yt), len(yc)
    et, ec = int(yt.sum()), int(yc.sum())
    if nt == 0 or nc == 0:
        return np.nan, np.nan, et, nt, ec, nc
    est = et / nt - ec / nc
    se = np.sqrt(et * (nt - et) / nt**3 + ec * (nc - ec) / nc**3)
    return est, se, et, nt, ec, nc


def shi_cima(scenario: int = 1, *, n: int = 5000, seed: int | None = None) -> SimulatedCIMA:
    """Simulate one data set of the CIMA-AgD 5-trial setting.

    Source: Shi et al., *Causally-interpretable meta-analysis using aggregate data*,
    section 3 and appendix B.1 (data-generating process in the module docstring).

    Parameters
    ----------
    scenario : int
        1..16, numbered as in the paper's Tables 4-6.
    n : int
        Size of the overall population (trials + target); the paper uses 5000.
    seed : int, optional
        Seed of the random number generator.

    Returns
    -------
    SimulatedCIMA
        The individual data, the trials' aggregate data (``effects``, ``covariates``,
        ``counts``), the target covariates and the truth (``true_ate``,
        ``true_ate_expected``).

    Raises
    ------
    DataError
        An unknown scenario, ``n < 100``, or a draw in which a trial has no participants
        or no reportable overall effect (rare; use another seed).

    Examples
    --------
    >>> sim = shi_cima(1, seed=1)
    >>> sorted(sim.effects["trial"].unique())
    ['S1', 'S2', 'S3', 'S4', 'S5']
    """
    idx = scenario_parameters(scenario)
    check_count("n", n, low=100, error=DataError)
    eta, beta = ETA[idx["eta"]], np.array(BETA[idx["beta"]])
    gamma, theta = GAMMA[idx["gamma"]], THETA[idx["theta"]]
    rng = np.random.default_rng(seed)
    x1 = (rng.random(n) < eta[0]).astype(float)
    x2 = (rng.random(n) < eta[1]).astype(float)
    x3 = eta[2] + rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x1, x2, x3])
    R = (rng.random(n) < expit(X @ beta)).astype(int)
    lp = np.column_stack([np.zeros(n), X @ gamma.T])
    prob = np.exp(lp - lp.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    cum = prob.cumsum(axis=1)
    s_idx = (rng.random(n)[:, None] > cum).sum(axis=1).clip(max=4)
    S = np.where(R == 1, np.array(TRIALS, dtype=object)[s_idx], "")
    A = (rng.random(n) < 0.5).astype(int)
    p1, p0 = expit(X @ theta[0]), expit(X @ theta[1])
    Y1 = (rng.random(n) < p1).astype(int)
    Y0 = (rng.random(n) < p0).astype(int)
    Y = np.where(A == 1, Y1, Y0)
    data = pd.DataFrame({"X1": x1, "X2": x2, "X3": x3, "R": R, "S": S, "A": A, "Y": Y,
                         "Y1": Y1, "Y0": Y0, "p1": p1, "p0": p0})

    eff_rows, cov_rows, count_rows = [], [], []
    for t in TRIALS:
        d = data[data["S"] == t]
        if len(d) == 0:
            raise DataError(f"simulated trial {t} has no participants (scenario {scenario}, "
                            f"seed {seed}); use another seed")
        a, y = d["A"].to_numpy(), d["Y"].to_numpy()
        est, se, et, nt, ec, nc = _rd(y, a)
        if not (np.isfinite(se) and se > 0):
            raise DataError(f"simulated trial {t} has no reportable overall effect (scenario "
                            f"{scenario}, seed {seed}); use another seed")
        n_all = len(d)
        eff_rows.append(dict(trial=t, subgroup="overall", stratum=None, estimate=est, se=se,
                             n=n_all))
        for cov, st in STRATA:
            v = d[cov].to_numpy()
            m = (v == float(st)) if cov != "X3" else (v <= 0 if st == "<=0" else v > 0)
            e_, s_, *_ = _rd(y[m], a[m])
            if np.isfinite(s_) and s_ > 0:
                eff_rows.append(dict(trial=t, subgroup=cov, stratum=st, estimate=e_, se=s_,
                                     n=int(m.sum())))
        for cov in ("X1", "X2"):
            cov_rows.append(dict(trial=t, covariate=cov, n=n_all, mean=d[cov].mean(),
                                 sd=np.nan))
        cov_rows.append(dict(trial=t, covariate="X3", n=n_all, mean=d["X3"].mean(),
                             sd=d["X3"].std(ddof=0)))
        count_rows.append(dict(trial=t, events_trt=et, n_trt=nt, events_ctl=ec, n_ctl=nc,
                               estimate=est, se=se, X1_mean=d["X1"].mean(),
                               X2_mean=d["X2"].mean(), X3_mean=d["X3"].mean()))
    effects = pd.DataFrame(eff_rows)
    n_ov = effects[effects["subgroup"] == "overall"].set_index("trial")["n"]
    effects["prop"] = effects["n"] / effects["trial"].map(n_ov)
    tgt = data[data["R"] == 0]
    if len(tgt) < 10:
        raise DataError(f"the simulated target population has {len(tgt)} rows; use another "
                        "seed or a larger n")
    return SimulatedCIMA(
        data=data, effects=effects, covariates=pd.DataFrame(cov_rows),
        target=tgt[["X1", "X2", "X3"]].reset_index(drop=True),
        counts=pd.DataFrame(count_rows),
        true_ate=float((tgt["Y1"] - tgt["Y0"]).mean()),
        true_ate_expected=float((tgt["p1"] - tgt["p0"]).mean()),
        scenario=int(scenario),
        params={"n": n, "seed": seed, **idx, "eta_values": eta},
    )
