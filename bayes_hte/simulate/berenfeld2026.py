r"""Two-study causal meta-analysis design of Berenfeld et al. (2026), appendix A.

Source: Berenfeld C, Boughdiri A, Colnet B, van Amsterdam W, Bellet A, Khellaf R,
Scornet E, Josse J. Causal meta-analysis: rethinking the foundations of evidence-based
medicine (2026), appendix A "Data generating process of Section 4.1", Figure 2.

Each of :math:`n` patients (default 1000 per meta-analysis) is drawn i.i.d.:

1. study membership :math:`H = 1` with probability 1/2, else :math:`H = 2`;
2. a latent covariate :math:`X \mid H = k \sim N(\mu_k, \sigma^2 I_2)` with
   :math:`\mu_1 = (1, 0)`, :math:`\mu_2 = (0, 1)`, :math:`\sigma = 0.1`;
3. treatment :math:`A \sim \mathrm{Bernoulli}(1/2)` independently of :math:`H`;
4. :math:`Y \mid X, A = a \sim \mathrm{Bernoulli}(s(X^\top \beta_a))`, :math:`s` the
   logistic function, :math:`\beta_1 = (0.36, -1.38)`, :math:`\beta_0 = (2.94, -4.60)`.

The truth: per-study risks :math:`\psi_a(k) = E[s(X^\top\beta_a) \mid H = k]` (exact by
Gauss–Hermite quadrature, since :math:`X^\top\beta_a \mid H=k \sim N(\mu_k^\top\beta_a,
\sigma^2\lVert\beta_a\rVert^2)`), the causal estimand :math:`\theta(P^*) =
\Phi(\psi_1, \psi_0)` with :math:`\psi_a = \sum_k P(H=k)\,\psi_a(k)` (RD, RR, OR), and the
limit of a classical random-effects analysis of RR/OR, the geometric average
:math:`\exp(\sum_k P(H=k) \log\theta(P_k))` (section 4.1).

Because the covariate is latent and independent of treatment, the 2×2 counts of a
meta-analysis have the exact distribution: :math:`(n_{h,a})` multinomial with
probabilities :math:`P(H=h)P(A=a)`, events :math:`\sim \mathrm{Binomial}(n_{h,a},
\psi_a(h))`. :func:`berenfeld2026_counts` samples many meta-analyses that way at once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_hte.data.aggregate import ArmTable
from bayes_hte.errors import DataError
from bayes_hte.options import check_count

BETA1 = (0.36, -1.38)
BETA0 = (2.94, -4.60)
MU = ((1.0, 0.0), (0.0, 1.0))
SIGMA = 0.1
STUDIES = ("study1", "study2")


@functools.cache
def _hermite_nodes(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.hermite_e.hermegauss(nodes)


def _gauss_hermite_mean(mean: float, sd: float, nodes: int = 80) -> float:
    """E[expit(Z)] for Z ~ N(mean, sd²) by Gauss–Hermite quadrature."""
    x, w = _hermite_nodes(nodes)
    return float((w * expit(mean + sd * x)).sum() / w.sum())


def true_risks(*, beta1: Sequence[float] = BETA1, beta0: Sequence[float] = BETA0,
               mu: Sequence[Sequence[float]] = MU, sigma: float = SIGMA) -> np.ndarray:
    r"""Exact :math:`\psi_a(k)`, shape (K, 2) with columns (control, treated).

    :math:`\psi_a(k) = E[s(X^\top\beta_a) \mid H = k]` with :math:`X^\top\beta_a \mid
    H = k \sim N(\mu_k^\top\beta_a, \sigma^2\lVert\beta_a\rVert^2)`, by 80-node
    Gauss–Hermite quadrature (Berenfeld et al. 2026, appendix A).

    Parameters
    ----------
    beta1, beta0 : sequence of float, length p
        Log-odds coefficients of the outcome on the latent covariates under treatment
        and under control (no intercept; the paper's :math:`\beta_1, \beta_0`).
    mu : sequence of K sequences of p floats
        Mean of the latent covariates in each of the K studies.
    sigma : float
        Standard deviation of each latent covariate around its study mean (covariate
        units; the paper's 0.1).

    Returns
    -------
    ndarray, shape (K, 2)
        Outcome probability (risk of ``y = 1``, the favourable outcome in the paper)
        per study, columns (control, treated).
    """
    out = np.empty((len(mu), 2))
    for k, m in enumerate(mu):
        for a, beta in ((0, beta0), (1, beta1)):
            b = np.asarray(beta, dtype=float)
            out[k, a] = _gauss_hermite_mean(float(np.dot(m, b)), sigma * float(np.linalg.norm(b)))
    return out


def _contrasts(psi1, psi0) -> dict[str, float]:
    return {"RD": psi1 - psi0, "RR": psi1 / psi0,
            "OR": (psi1 / (1 - psi1)) / (psi0 / (1 - psi0))}


@dataclass
class SimulatedCausalMA:
    """One simulated meta-analysis of the appendix-A design and its truth.

    Built by :func:`berenfeld2026`; the fields are also its attributes. Risks are of
    ``y = 1``, favourable in the paper (recovery).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient: ``study``, ``x1``, ``x2`` (latent in the paper), ``treat``,
        ``y``.
    counts : pandas.DataFrame
        One row per study: ``study``, ``n11 n10 n01 n00`` (for
        :func:`~bayes_hte.comparators.causal_meta_analysis`).
    truth : dict
        ``psi`` (DataFrame study × arm of true risks), ``p_study``, ``psi1``, ``psi0``
        (risks in :math:`P^*`), ``theta_causal`` (RD, RR, OR in :math:`P^*`),
        ``theta_study`` (per-study contrasts), ``theta_meta`` (RD: weighted mean;
        RR/OR: geometric mean, the classical RE target).
    params : dict
        The design parameters used (``n``, ``beta1``, ``beta0``, ``mu``, ``sigma``,
        ``p_study``, ``p_treat``).
    """

    data: pd.DataFrame
    counts: pd.DataFrame
    truth: dict
    params: dict = field(default_factory=dict)

    def arm_table(self) -> ArmTable:
        """The counts as a validated :class:`~bayes_hte.ArmTable`.

        Returns
        -------
        ArmTable
            One row per study from ``counts`` (``n11`` events and ``n10`` non-events
            among the treated, ``n01``, ``n00`` among the controls).
        """
        return ArmTable.from_frame(self.counts, study="study")


def berenfeld_truth(*, beta1: Sequence[float] = BETA1, beta0: Sequence[float] = BETA0,
                    mu: Sequence[Sequence[float]] = MU, sigma: float = SIGMA,
                    p_study: Sequence[float] = (0.5, 0.5)) -> dict:
    r"""The estimands of the design (see :class:`SimulatedCausalMA` ``truth``).

    With :math:`\psi_a(k)` from :func:`true_risks`, the risks in the target population
    :math:`P^* = \sum_k P(H=k) P_k` are :math:`\psi_a = \sum_k P(H=k)\,\psi_a(k)`; the
    causal estimand is :math:`\Phi(\psi_1, \psi_0)` for RD :math:`\psi_1 - \psi_0`, RR
    :math:`\psi_1/\psi_0` and OR, and the classical random-effects limit is the
    :math:`P(H=k)`-weighted mean of the per-study RDs and the weighted geometric mean of
    the per-study RRs and ORs (Berenfeld et al. 2026, section 4.1 and appendix A).

    Parameters
    ----------
    beta1, beta0 : sequence of float, length p
        Log-odds outcome coefficients on the latent covariates under treatment and
        control.
    mu : sequence of K sequences of p floats
        Latent covariate means per study.
    sigma : float
        Latent covariate standard deviation.
    p_study : sequence of K floats
        Study membership probabilities :math:`P(H = k)`, summing to 1; they weight the
        studies in :math:`P^*`.

    Returns
    -------
    dict
        ``psi`` (DataFrame study × (control, treated) of true risks), ``p_study``
        (ndarray (K,)), ``psi1``, ``psi0`` (floats, risks in :math:`P^*`),
        ``theta_causal`` (dict RD, RR, OR of floats), ``theta_study`` (dict RD, RR, OR
        of ndarrays (K,)), ``theta_meta`` (dict RD, RR, OR of floats).
    """
    p = np.asarray(p_study, dtype=float)
    psi = true_risks(beta1=beta1, beta0=beta0, mu=mu, sigma=sigma)
    psi1, psi0 = float(p @ psi[:, 1]), float(p @ psi[:, 0])
    per_study = {m: np.array([_contrasts(psi[k, 1], psi[k, 0])[m] for k in range(len(p))])
                 for m in ("RD", "RR", "OR")}
    labels = list(STUDIES) if len(p) == 2 else [f"study{k + 1}" for k in range(len(p))]
    return {
        "psi": pd.DataFrame(psi, index=pd.Index(labels, name="study"),
                            columns=["control", "treated"]),
        "p_study": p,
        "psi1": psi1,
        "psi0": psi0,
        "theta_causal": _contrasts(psi1, psi0),
        "theta_study": per_study,
        "theta_meta": {"RD": float(p @ per_study["RD"]),
                       "RR": float(np.exp(p @ np.log(per_study["RR"]))),
                       "OR": float(np.exp(p @ np.log(per_study["OR"])))},
    }


def _check(n: int, p_study, p_treat: float, mu, sigma: float) -> np.ndarray:
    check_count("n (patients per meta-analysis)", n, low=4, error=DataError)
    p = np.asarray(p_study, dtype=float)
    if p.shape != (len(mu),) or np.any(p <= 0) or abs(p.sum() - 1) > 1e-12:
        raise DataError(f"p_study must give one positive probability per study (len(mu) = "
                        f"{len(mu)}) summing to 1, got {p_study!r}")
    if not 0 < p_treat < 1:
        raise DataError(f"p_treat must be in (0, 1), got {p_treat!r}")
    if not sigma > 0:
        raise DataError(f"sigma must be > 0, got {sigma!r}")
    return p


def berenfeld2026(
    n: int = 1000,
    *,
    seed: int | np.random.Generator | None = None,
    beta1: Sequence[float] = BETA1,
    beta0: Sequence[float] = BETA0,
    mu: Sequence[Sequence[float]] = MU,
    sigma: float = SIGMA,
    p_study: Sequence[float] = (0.5, 0.5),
    p_treat: float = 0.5,
) -> SimulatedCausalMA:
    r"""Simulate one meta-analysis of ``n`` patients from the appendix-A design.

    Source: Berenfeld et al. (2026), appendix A "Data generating process of Section
    4.1" (the design of their Figure 2); model in the module docstring. The outcome
    ``y = 1`` is favourable in the paper (recovery).

    Parameters
    ----------
    n : int
        Patients in the meta-analysis (split at random between the studies), >= 4.
    seed : int or numpy.random.Generator, optional
        Random seed.
    beta1, beta0 : sequence of float
        Outcome coefficients under treatment and control (log-odds per unit of each
        latent covariate, no intercept; default the paper's (0.36, -1.38) and
        (2.94, -4.60)).
    mu : sequence of sequence of float
        Covariate means per study (2 studies × 2 covariates by default: (1, 0) and
        (0, 1)).
    sigma : float
        Covariate standard deviation (the same for every covariate and study; 0.1).
    p_study : sequence of float
        Study membership probabilities :math:`P(H = k)`, one per study, summing to 1.
    p_treat : float
        Randomisation probability :math:`P(A = 1)`, in (0, 1).

    Returns
    -------
    SimulatedCausalMA
        Patient data, per-study counts and the truth.

    Raises
    ------
    DataError
        ``n`` not an integer >= 4, ``p_study`` not one positive probability per study
        summing to 1, ``p_treat`` outside (0, 1) or ``sigma <= 0``.

    Examples
    --------
    >>> sim = berenfeld2026(1000, seed=1)
    >>> round(sim.truth["theta_causal"]["RR"], 3)
    0.828
    """
    p = _check(n, p_study, p_treat, mu, sigma)
    rng = np.random.default_rng(seed)
    mu_arr = np.asarray(mu, dtype=float)
    h = rng.choice(len(p), size=int(n), p=p)
    x = mu_arr[h] + sigma * rng.standard_normal((int(n), mu_arr.shape[1]))
    a = (rng.random(int(n)) < p_treat).astype(np.int8)
    b1, b0 = np.asarray(beta1, dtype=float), np.asarray(beta0, dtype=float)
    lin = np.where(a == 1, x @ b1, x @ b0)
    y = (rng.random(int(n)) < expit(lin)).astype(np.int8)
    labels = np.array(STUDIES if len(p) == 2 else [f"study{k + 1}" for k in range(len(p))])
    data = pd.DataFrame({"study": labels[h], "treat": a, "y": y})
    for j in range(mu_arr.shape[1]):
        data[f"x{j + 1}"] = x[:, j]
    rows = []
    for k, lab in enumerate(labels):
        s = h == k
        rows.append({"study": lab,
                     "n11": int(((a == 1) & (y == 1) & s).sum()),
                     "n10": int(((a == 1) & (y == 0) & s).sum()),
                     "n01": int(((a == 0) & (y == 1) & s).sum()),
                     "n00": int(((a == 0) & (y == 0) & s).sum())})
    counts = pd.DataFrame(rows)
    truth = berenfeld_truth(beta1=beta1, beta0=beta0, mu=mu, sigma=sigma, p_study=p)
    params = {"n": int(n), "beta1": tuple(beta1), "beta0": tuple(beta0),
              "mu": tuple(map(tuple, mu_arr.tolist())), "sigma": sigma,
              "p_study": tuple(p.tolist()), "p_treat": p_treat}
    return SimulatedCausalMA(data=data, counts=counts, truth=truth, params=params)


def berenfeld2026_counts(
    replicates: int,
    n: int = 1000,
    *,
    seed: int | np.random.Generator | None = None,
    beta1: Sequence[float] = BETA1,
    beta0: Sequence[float] = BETA0,
    mu: Sequence[Sequence[float]] = MU,
    sigma: float = SIGMA,
    p_study: Sequence[float] = (0.5, 0.5),
    p_treat: float = 0.5,
) -> dict[str, np.ndarray | dict]:
    r"""Sample the 2×2 counts of many meta-analyses at once (exact, see the module doc).

    Per replicate, the study × arm cell sizes are multinomial(:math:`n`,
    :math:`P(H=k)P(A=a)`) and the events of cell :math:`(k, a)` are
    Binomial(:math:`n_{k,a}`, :math:`\psi_a(k)`): the exact distribution of the counts
    of :func:`berenfeld2026` without drawing the patients (Berenfeld et al. 2026,
    appendix A).

    Parameters
    ----------
    replicates : int
        Number of simulated meta-analyses R (>= 1).
    n : int
        Patients per meta-analysis (>= 4).
    seed : int or numpy.random.Generator, optional
        Random seed.
    beta1, beta0 : sequence of float
        Log-odds outcome coefficients on the latent covariates under treatment and
        control (as :func:`berenfeld2026`).
    mu : sequence of K sequences of float
        Latent covariate means per study.
    sigma : float
        Latent covariate standard deviation.
    p_study : sequence of K floats
        Study membership probabilities, summing to 1.
    p_treat : float
        Randomisation probability, in (0, 1).

    Returns
    -------
    dict
        ``n11 n10 n01 n00`` arrays of shape (K, replicates) — studies first, ready for the
        vectorised cores — and ``truth`` (as :func:`berenfeld_truth`). ``n11``/``n10``:
        treated with / without the outcome; ``n01``/``n00``: the same among controls.

    Raises
    ------
    DataError
        ``replicates`` not an integer >= 1, or the parameter checks of
        :func:`berenfeld2026`.
    """
    p = _check(n, p_study, p_treat, mu, sigma)
    check_count("replicates", replicates, low=1, error=DataError)
    rng = np.random.default_rng(seed)
    psi = true_risks(beta1=beta1, beta0=beta0, mu=mu, sigma=sigma)  # (K, 2) control, treated
    K = len(p)
    cell_p = np.concatenate([p * p_treat, p * (1 - p_treat)])  # treated cells, then control
    cells = rng.multinomial(int(n), cell_p, size=int(replicates)).T  # (2K, R)
    n1, n0 = cells[:K], cells[K:]
    e1 = rng.binomial(n1, psi[:, 1:2])
    e0 = rng.binomial(n0, psi[:, 0:1])
    truth = berenfeld_truth(beta1=beta1, beta0=beta0, mu=mu, sigma=sigma, p_study=p)
    return {"n11": e1, "n10": n1 - e1, "n01": e0, "n00": n0 - e0, "truth": truth}
