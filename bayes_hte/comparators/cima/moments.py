r"""The linear moment system of CIMA-AgD, for a likelihood of the reported effects.

:func:`cima_moments` runs the steps of :func:`~bayes_hte.comparators.cima.cima` up to
its moment equations -- the same input checks, target and base samples, exponential
tilting and representers (it calls them, it does not repeat them) -- and returns the
linear Gaussian system of the Bayesian CIMA (:class:`bayes_hte.CIMAModel`):

.. math::

    \hat\tau = D\theta + \varepsilon, \qquad \varepsilon \sim N(0, V), \qquad
    D_{j\cdot} = n_q^{-1}\textstyle\sum_i \alpha_j(x_i)\, b(x_i)',

:math:`V` block diagonal by trial (trials are independent).

**Working covariance** :math:`V` (``covariance=``; trial reports give only the SEs
:math:`s_j`, so the correlations are modelled):

``"tilted"`` (default)
    :math:`V_{jj'} = s_j s_{j'} R_{jj'}` with
    :math:`R_{jj'} = \overline{w_k 1_{S_j} 1_{S_{j'}}} /
    (\overline{w_k 1_{S_j}}\;\overline{w_k 1_{S_{j'}}})^{1/2}` (means over the base
    sample, :math:`w_k` the trial's tilting weights): the correlation of two
    difference-in-means estimators on overlapping strata under a common outcome
    variance, in the tilted trial population (overall vs stratum
    :math:`\sqrt{p_j}`, disjoint strata 0). :math:`R` is a Gram matrix, positive
    semi-definite without repair, and its null space is that of the representers.
``"reported"``
    :math:`V^{rep}` exactly as :func:`~bayes_hte.comparators.cima.cima` builds it
    (:func:`~bayes_hte.comparators.cima.variance.reported_covariance`, with
    ``correlation=``).
``"independent"``
    :math:`\mathrm{diag}(s_j^2)`.

**Redundant reports.** A trial that reports its overall effect and every stratum of a
covariate (the usual report) gives effects whose representers are linearly dependent:
:math:`\sum_{j \in g} p_j\alpha_j = \alpha_{overall}` for the strata :math:`g` of one
covariate (with the default representers), so for every such combination :math:`c`,
:math:`c'D = 0` for every :math:`\theta`. These combinations say nothing about
:math:`\theta`; the reported effects satisfy them only approximately (a risk difference
is not exactly the share-weighted mean of its strata' risk differences), and a working
:math:`V` that makes them nearly deterministic (as :math:`V^{rep}` does, after
``nearPD``) turns the small discrepancies into spurious certainty -- the likelihood
counterpart of the two-step GMM caveat of ``docs/cima.md``. Each trial's effects are
therefore reduced to the directions the representers span: with :math:`K_k` an
orthonormal basis of the row space of trial :math:`k`'s representers (eigenvectors of
:math:`n_q^{-1}A_k'A_k` with eigenvalue above :math:`10^{-9}` of the largest),

.. math::

    K_k'\hat\tau_k \sim N(K_k'D_k\theta,\; K_k'V_kK_k).

This is the limit of giving the combinations :math:`c` infinite variance
(:math:`V + \lambda CC'`, :math:`\lambda \to \infty`; the restricted-likelihood
identity :math:`V^{-1} - V^{-1}C(C'V^{-1}C)^{-1}C'V^{-1} = K(K'VK)^{-1}K'`). When
:math:`V` itself is singular exactly on those combinations (``covariance="tilted"``
with SEs proportional to :math:`\overline{w_k 1_{S_j}}^{1/2}/p_j`, about
:math:`p_j^{-1/2}` as under a common outcome variance) the reduction loses nothing.
:meth:`CIMAMoments.blocks` returns the reduced blocks.

Source: Shi et al., *Causally-interpretable meta-analysis using aggregate data* (seed
``shi_cima_aggregate_data.txt``), method note ``methods/cima_agd.md`` sections 2-4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import pandas as pd

from bayes_hte.comparators.cima.core import _moment_setup, _term_names
from bayes_hte.comparators.cima.formula import design_matrix, parse_formula
from bayes_hte.comparators.cima.variance import reported_covariance
from bayes_hte.data.summaries import CovariateSummary
from bayes_hte.errors import DataError
from bayes_hte.options import (
    CIMACorrelation,
    CIMACovariance,
    CopulaMethod,
    Representer,
)

__all__ = ["CIMAMoments", "cima_moments", "informative_basis", "tilted_correlation"]

#: Relative eigenvalue below which a direction of a trial's representers is a linear
#: dependency (exact up to rounding: strata indicators sum to one).
BASIS_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class CIMAMoments:
    r"""The linear moment system of CIMA-AgD (module docstring), built by :func:`cima_moments`.

    Parameters
    ----------
    effects : pandas.DataFrame
        One row per reported effect (J rows, in the order of the other arrays):
        ``trial, subgroup, stratum, estimate, se, n, prop, tilted_prop``.
    trials : tuple of str
        Trial labels, in order of first appearance.
    terms : tuple of str
        Names of the p CATE coefficients, ``"(Intercept)"`` first.
    design : ndarray, shape (J, p)
        :math:`D`: the model mean of each reported effect is ``design @ theta``.
    covariance : ndarray, shape (J, J)
        The working covariance :math:`V` (block diagonal by trial).
    basis : ndarray, shape (J, R)
        Block-diagonal :math:`K`: column ``r`` spans informative directions of the
        effects of trial ``component_trial[r]`` (orthonormal within a trial).
    component_trial : ndarray of int, shape (R,)
        Trial (index into ``trials``) of each column of ``basis``.
    target : pandas.DataFrame
        The target sample (one row per individual) the CATE is averaged over.
    cate : str
        The CATE formula.
    kinds : dict of str to str
        ``covariate -> "binary" | "continuous"``.
    options : dict
        How the system was built (tilting formula, representer, covariance, samples).
    """

    effects: pd.DataFrame
    trials: tuple[str, ...]
    terms: tuple[str, ...]
    design: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    component_trial: np.ndarray = field(repr=False)
    target: pd.DataFrame = field(repr=False)
    cate: str = ""
    kinds: dict[str, str] = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    @property
    def trial_index(self) -> np.ndarray:
        """Trial (index into :attr:`trials`) of each reported effect, shape (J,)."""
        codes = {t: i for i, t in enumerate(self.trials)}
        return self.effects["trial"].map(codes).to_numpy(dtype=int)

    def blocks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        r"""The reduced system of each trial, :math:`(K_k'\hat\tau_k, K_k'D_k, K_k'V_kK_k)`.

        Returns
        -------
        list of (ndarray, ndarray, ndarray)
            One tuple per trial (order of :attr:`trials`): the reduced effects, shape
            (r_k,), their design, shape (r_k, p), and covariance, shape (r_k, r_k).
        """
        tau = self.effects["estimate"].to_numpy(dtype=float)
        ti = self.trial_index
        out = []
        for k in range(len(self.trials)):
            rows, cols = np.flatnonzero(ti == k), np.flatnonzero(self.component_trial == k)
            K = self.basis[np.ix_(rows, cols)]
            V = self.covariance[np.ix_(rows, rows)]
            S = K.T @ V @ K
            out.append((K.T @ tau[rows], K.T @ self.design[rows], (S + S.T) / 2))
        return out

    def target_design(self, rows: pd.DataFrame | None = None) -> np.ndarray:
        """CATE model matrix :math:`b(x)` of the target sample (or of other rows).

        Parameters
        ----------
        rows : pandas.DataFrame, optional
            Covariate rows (a column per CATE variable); default the target sample.

        Returns
        -------
        ndarray, shape (n_rows, p)

        Raises
        ------
        DataError
            A CATE variable missing from ``rows`` or a term not finite on a row.
        """
        frame = self.target if rows is None else rows
        return design_matrix(parse_formula(self.cate, what="cate"), frame,
                             what="target sample" if rows is None else "newdata")


def tilted_correlation(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r"""Correlation of a trial's reported effects implied by its tilted population.

    :math:`R_{jj'} = \overline{w 1_{S_j} 1_{S_{j'}}} /
    (\overline{w 1_{S_j}}\;\overline{w 1_{S_{j'}}})^{1/2}`: two difference-in-means
    estimators on strata :math:`S_j, S_{j'}` of one trial with a common outcome variance
    (module docstring, ``covariance="tilted"``).

    Parameters
    ----------
    masks : ndarray, shape (n_q, J)
        Stratum membership (0/1) of the base-sample rows (all ones for an overall
        effect).
    weights : ndarray, shape (n_q,)
        The trial's tilting weights (mean 1).

    Returns
    -------
    ndarray, shape (J, J)
        Positive semi-definite, unit diagonal.
    """
    G = (masks * weights[:, None]).T @ masks / len(weights)
    d = np.sqrt(np.diag(G))
    R = G / np.outer(d, d)
    np.fill_diagonal(R, 1.0)
    return (R + R.T) / 2


def informative_basis(representers: np.ndarray, *, tol: float = BASIS_TOL) -> np.ndarray:
    r"""Orthonormal basis of the directions of a trial's effects that inform :math:`\theta`.

    The eigenvectors of :math:`n_q^{-1}A'A` whose eigenvalues exceed ``tol`` times the
    largest: the complement of the exact linear dependencies among the representers
    (module docstring, "Redundant reports").

    Parameters
    ----------
    representers : ndarray, shape (n_q, J)
        :math:`\alpha_j(x_i)` of the trial's J reported effects.
    tol : float
        Relative eigenvalue threshold.

    Returns
    -------
    ndarray, shape (J, r)
        Orthonormal columns, r = the rank of the representers.
    """
    G = representers.T @ representers / len(representers)
    ev, U = np.linalg.eigh((G + G.T) / 2)
    keep = ev > tol * ev.max()
    return U[:, keep][:, ::-1]


def cima_moments(
    effects: pd.DataFrame,
    covariates: pd.DataFrame | CovariateSummary,
    target: pd.DataFrame | CovariateSummary,
    *,
    cate: str,
    tilting: str | None = None,
    base: pd.DataFrame | None = None,
    representer: Representer = "reported",
    correlation: CIMACorrelation = "reference",
    covariance: CIMACovariance = "tilted",
    target_corr: pd.DataFrame | np.ndarray | None = None,
    target_n: int = 50_000,
    target_method: CopulaMethod = "sobol",
    seed: int | None = None,
) -> CIMAMoments:
    r"""The moment system of CIMA-AgD with a working covariance of the reported effects.

    The inputs, samples, tilting and representers of
    :func:`~bayes_hte.comparators.cima.cima` (same arguments, same checks and errors),
    then the working covariance ``covariance`` and the informative basis of each trial
    (module docstring). ``cima_moments(...).design`` equals the ``D`` of the
    :func:`~bayes_hte.comparators.cima.cima` fit with the same arguments.

    Parameters
    ----------
    effects : pandas.DataFrame
        Reported effects on an additive scale: ``trial, subgroup, stratum, estimate, se,
        n`` (+ ``prop``).
    covariates : DataFrame or CovariateSummary
        Per-trial covariate summaries ``trial, covariate, mean, sd``.
    target : DataFrame or CovariateSummary
        Target population: covariate rows, or a summary from which ``target_n`` rows
        are drawn by a Gaussian copula.
    cate : str
        CATE working model, e.g. ``"~ lvef + prehhf + diabetes"`` (intercept implied).
    tilting : str, optional
        Tilting features (default: means and squares of continuous covariates).
    base : DataFrame, optional
        Base sample tilted to each trial (default: the target sample).
    representer : {"reported", "tilted"}
        Divide stratum representers by the reported or the tilted share.
    correlation : {"reference", "paper"}
        Working correlations of :math:`V^{rep}` (used by ``covariance="reported"``).
    covariance : {"tilted", "reported", "independent"}
        Working covariance :math:`V` of the reported effects (module docstring).
    target_corr : DataFrame or array, optional
        Latent correlations when ``target`` is a summary frame.
    target_n : int
        Size of the copula sample drawn from a target summary.
    target_method : {"sobol", "scrambled_sobol", "random"}
        Point set of the copula sample.
    seed : int, optional
        Seed of a scrambled or random copula sample.

    Returns
    -------
    CIMAMoments
        The system: reported effects, :math:`D`, :math:`V`, the informative basis and
        the target sample.

    Raises
    ------
    DataError
        An unknown ``representer``, ``correlation`` or ``covariance``; invalid effects,
        summaries or samples (the messages name the row, trial or covariate); fewer
        reported effects than CATE parameters or a CATE the strata do not identify;
        tilting that does not converge (names the trial).
    """
    for name, value, allowed in (("representer", representer, Representer),
                                 ("correlation", correlation, CIMACorrelation),
                                 ("covariance", covariance, CIMACovariance)):
        if value not in get_args(allowed):
            raise DataError(f"{name} must be one of {get_args(allowed)}, got {value!r}")
    inp, smp, Q, B, _, fits, _, mom = _moment_setup(
        effects, covariates, target, cate=cate, tilting=tilting, base=base,
        target_corr=target_corr, target_n=target_n, target_method=target_method,
        seed=seed, representer=representer)

    J = len(mom.tau)
    V = np.zeros((J, J))
    basis_blocks, comp_trial = [], []
    for k, t in enumerate(inp.trials):
        idx = np.flatnonzero(mom.trial_idx == k)
        se = mom.se[idx]
        if covariance == "tilted":
            Vk = np.outer(se, se) * tilted_correlation(mom.masks[:, idx], fits[k].weights)
        elif covariance == "reported":
            Vk = reported_covariance(se, mom.prop[idx], mom.is_overall[idx],
                                     mom.subgroup[idx], mom.masks[:, idx], fits[k].weights,
                                     correlation)
        else:
            Vk = np.diag(se**2)
        K = informative_basis(mom.A[:, idx])
        S = K.T @ Vk @ K
        ev = np.linalg.eigvalsh((S + S.T) / 2)
        if ev.min() <= 1e-12 * ev.max():
            raise DataError(f"trial {t!r}: the working covariance ({covariance!r}) of its "
                            "reported effects is singular on the directions they inform; "
                            "use covariance='tilted' or 'independent'")
        V[np.ix_(idx, idx)] = Vk
        basis_blocks.append((idx, K))
        comp_trial += [k] * K.shape[1]
    basis = np.zeros((J, len(comp_trial)))
    col = 0
    for idx, K in basis_blocks:
        basis[np.ix_(idx, np.arange(col, col + K.shape[1]))] = K
        col += K.shape[1]

    eff = inp.eff[["trial", "subgroup", "stratum", "estimate", "se", "n", "prop"]].copy()
    eff["tilted_prop"] = mom.tilted_share
    options = dict(cate=cate, tilting="~ " + " + ".join(t.label for t in inp.tilt_terms),
                   representer=representer, correlation=correlation,
                   covariance=covariance, target=smp.target_source, base=smp.base_source,
                   n_base=len(Q), n_target=len(smp.target))
    return CIMAMoments(
        effects=eff, trials=tuple(inp.trials), terms=tuple(_term_names(inp)),
        design=mom.D, covariance=V, basis=basis,
        component_trial=np.asarray(comp_trial, dtype=int), target=smp.target, cate=cate,
        kinds=dict(inp.kinds), options=options,
    )
