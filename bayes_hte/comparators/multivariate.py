r"""Multivariate random-effects meta-analysis (step 2 of the two-step IPD-MA).

Each study :math:`i = 1..k` reports estimates :math:`\hat\beta_i` of a :math:`p`-vector of
coefficients (some components possibly missing) with within-study covariance
:math:`S_i`. The model (Jackson, Riley & White 2011; the two-step paper's eq. (2)) is

.. math::

    \hat\beta_i \mid \beta_i \sim MVN(\beta_i, S_i), \qquad
    \beta_i \sim MVN(\mu, \Omega),
    \quad\text{so}\quad \hat\beta_i \sim MVN(\mu, \Omega + S_i).

With :math:`O_i` the components study :math:`i` reports, :math:`p_i = |O_i|`,
:math:`V_i = (\Omega + S_i)_{O_iO_i}` and :math:`W_i` the inverse of :math:`V_i`
placed in the :math:`O_i` rows and columns of a :math:`p \times p` zero matrix, the
log-likelihood and restricted log-likelihood are (the paper's formulas, extended to
missing components by using only what each study has; Jackson et al. 2011)

.. math::

    \ell(\mu, \Omega) = -\tfrac12 \sum_i \{\log|V_i| + (\hat\beta_i - \mu)^T W_i
        (\hat\beta_i - \mu) + p_i \log 2\pi\},

    \ell_R(\Omega) = \ell(\hat\mu(\Omega), \Omega)
        - \tfrac12 \log\Bigl|\sum_i W_i\Bigr| + \tfrac12 p \log 2\pi,

where :math:`\hat\mu(\Omega) = (\sum_i W_i)^{-1} \sum_i W_i \hat\beta_i` (generalised
least squares) and :math:`\mathrm{Cov}(\hat\mu) = (\sum_i W_i)^{-1}`. :math:`\ell_R` is
the restricted likelihood of the R package mvmeta (Gasparrini et al. 2012); metafor's
``rma.mv`` adds the constant :math:`\tfrac12 \log|X^TX| = \tfrac12 \sum_k \log k_k`
(:math:`k_k` = studies reporting component :math:`k`), which changes no estimate.

Between-study covariance structures:

``unstructured``
    :math:`\Omega = LL^T` (any positive semi-definite matrix, :math:`p(p+1)/2`
    parameters)
``compound_symmetry``
    :math:`\Omega = \tau^2\{(1-\rho) I + \rho J\}` (common variance and correlation,
    2 parameters; the paper's choice in Simulation 2)
``diagonal``
    :math:`\Omega = \mathrm{diag}(\tau_1^2, \dots, \tau_p^2)`
``identity``
    :math:`\Omega = \tau^2 I`

``method="FE"`` fixes :math:`\Omega = 0`. ML and REML maximise :math:`\ell` or
:math:`\ell_R` over the structure's parameters (L-BFGS-B with analytic gradients; the
unstructured :math:`\Omega` through an unconstrained Cholesky factor, so every iterate
is positive semi-definite). AIC and BIC count :math:`p` + the structure's parameters;
BIC uses :math:`\log(\sum_i p_i - p)` under REML and :math:`\log \sum_i p_i` under ML
(as metafor and mvmeta). The multivariate Cochran statistic is
:math:`Q = \sum_i (\hat\beta_i - \hat\mu_{FE})^T S_{i}^{-1} (\hat\beta_i - \hat\mu_{FE})`
over the reported components, with :math:`\sum_i p_i - p` degrees of freedom.

The numpy core is vectorised over a trailing replicate axis: ``estimates`` of shape
(k, p, R) and ``covariances`` (k, p, p, R) fit R meta-analyses in one call (the
likelihood is evaluated for all studies at once; the optimiser loops over replicates).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from bayes_hte.comparators.mvmeta_likelihood import (
    _fit_one,
    mvmeta_loglik,
    n_omega_params,
)
from bayes_hte.comparators.printout import mvmeta_text
from bayes_hte.comparators.results import WaldInterval, check_ci_prob, wald_interval
from bayes_hte.data.multivariate import multivariate_inputs, validate_multivariate
from bayes_hte.errors import ConvergenceWarning, DataError
from bayes_hte.options import (
    OMEGA_STRUCTURES,
    LikelihoodMethod,
    MVMethod,
    OmegaStructure,
    canonical_structure,
)

METHODS: tuple[str, ...] = get_args(MVMethod)


def mvmeta_core(estimates: npt.ArrayLike, covariances: npt.ArrayLike, *,
                method: MVMethod = "REML",
                structure: OmegaStructure = "unstructured", maxiter: int = 1000) -> dict:
    """Numpy core of :func:`mvmeta`: arrays with a trailing replicate axis.

    Parameters
    ----------
    estimates, covariances, method, structure, maxiter
        As in :func:`mvmeta` (arrays only).

    Returns
    -------
    dict
        ``mu`` (p, R), ``cov`` (p, p, R), ``omega`` (p, p, R), ``loglik`` (R,), ``q``
        (R,), ``q_df`` (R,), ``n_obs`` (R,), ``converged`` (R,), ``blup`` (k, p, R),
        ``observed`` (k, p, R) and ``squeeze`` (True when the input had no replicate
        axis).

    Raises
    ------
    ValueError
        An unknown method or structure.
    DataError
        Invalid inputs (see :func:`bayes_hte.data.multivariate.validate_multivariate`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    structure = canonical_structure(structure)
    squeeze = np.ndim(estimates) == 2
    y, S = validate_multivariate(estimates, covariances)
    k, p, R = y.shape
    if k < 2 and method != "FE":
        raise DataError(f"a between-study covariance ({method}) needs at least 2 studies, "
                        "got 1; use method='FE' for one study")
    fits = [_fit_one(y[..., r], S[..., r], method, structure, maxiter) for r in range(R)]
    out = {
        "mu": np.stack([f["mu"] for f in fits], axis=-1),
        "cov": np.stack([f["cov"] for f in fits], axis=-1),
        "omega": np.stack([f["omega"] for f in fits], axis=-1),
        "loglik": np.array([f["loglik"] for f in fits]),
        "q": np.array([f["q"] for f in fits]),
        "q_df": np.array([f["q_df"] for f in fits]),
        "n_obs": np.array([f["n_obs"] for f in fits]),
        "converged": np.array([f["converged"] for f in fits]),
        "blup": (np.stack([f["blup"] for f in fits], axis=-1) if method != "FE"
                 else np.repeat(np.stack([f["mu"] for f in fits], axis=-1)[None], k, axis=0)),
        "squeeze": squeeze,
        "observed": np.isfinite(y),
    }
    if not out["converged"].all():
        warnings.warn(f"mvmeta: the optimiser did not converge in "
                      f"{int((~out["converged"]).sum())} of {R} fits", ConvergenceWarning,
                      stacklevel=3)
    return out


# =========================================================================== result object
@dataclass(frozen=True, eq=False)
class MVMetaResult(WaldInterval):
    r"""Result of :func:`mvmeta`.

    Arrays have a trailing replicate axis when the input had one.

    Parameters
    ----------
    estimate : ndarray (p,)
        Pooled coefficients :math:`\hat\mu`; standard errors ``se``, Wald interval
        ``ci`` (shape (2, p); ``ci_low``, ``ci_high``) at ``ci_prob``.
    cov : ndarray (p, p)
        :math:`\mathrm{Cov}(\hat\mu) = (\sum_i W_i)^{-1}`.
    Omega : ndarray (p, p)
        Between-study covariance :math:`\hat\Omega`.
    loglik : float
        (Restricted, for REML) log-likelihood; ``aic``, ``bic`` are derived from it.
    q, q_df : float, int
        Multivariate Cochran Q and its degrees of freedom (p-value ``q_p``).
    n_obs : int
        Number of reported components :math:`\sum_i p_i`.
    converged : bool
        Whether the optimiser converged.
    method : {"REML", "ML", "FE"}
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
    names : tuple of str
        Coefficient names.
    study_labels : tuple
        Study labels.
    estimates : ndarray (k, p)
        The study estimates (NaN: not reported).
    covariances : ndarray (k, p, p)
        The within-study covariances.
    blups : ndarray (k, p)
        Shrunken trial coefficients (:meth:`blup`).
    ci_prob : float
        Probability of the confidence and prediction intervals.
    """

    estimate: np.ndarray
    cov: np.ndarray
    Omega: np.ndarray
    loglik: np.ndarray | float
    q: np.ndarray | float
    q_df: np.ndarray | int
    n_obs: np.ndarray | int
    converged: np.ndarray | bool
    method: str
    structure: str
    names: tuple[str, ...]
    study_labels: tuple
    estimates: np.ndarray = field(repr=False)
    covariances: np.ndarray = field(repr=False)
    blups: np.ndarray = field(repr=False)
    ci_prob: float = 0.95

    # ------------------------------------------------------------------ basic vocabulary
    @property
    def p(self) -> int:
        return len(self.names)

    @property
    def k(self) -> int:
        return len(self.study_labels)

    @property
    def se(self) -> np.ndarray:
        """Standard errors of the pooled coefficients."""
        return np.sqrt(np.diagonal(self.cov, axis1=0, axis2=1).T)

    @property
    def tau2(self) -> np.ndarray:
        """Between-study variances (diagonal of Omega)."""
        return np.diagonal(self.Omega, axis1=0, axis2=1).T

    @property
    def tau(self) -> np.ndarray:
        """Between-study SDs."""
        return np.sqrt(np.clip(self.tau2, 0.0, None))

    @property
    def corr(self) -> np.ndarray:
        """Between-study correlation matrix (NaN where an SD is 0)."""
        t = self.tau
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.Omega.ndim == 3:
                return self.Omega / (t[:, None] * t[None, :])
            return self.Omega / np.outer(t, t)

    @property
    def pi(self) -> np.ndarray:
        r"""Prediction interval for a new trial's coefficients (leading axis low, high),
        :math:`\hat\mu \pm z \sqrt{\mathrm{diag}(\mathrm{Cov}(\hat\mu) + \hat\Omega)}`."""
        s = np.sqrt(np.diagonal(self.cov + self.Omega, axis1=0, axis2=1).T)
        return wald_interval(self.estimate, s, self.ci_prob)

    @property
    def pi_low(self) -> np.ndarray:
        return self.pi[0]

    @property
    def pi_high(self) -> np.ndarray:
        return self.pi[1]

    @property
    def n_params(self) -> int:
        base = n_omega_params(self.structure, self.p) if self.method != "FE" else 0
        return self.p + base

    @property
    def aic(self):
        return -2.0 * np.asarray(self.loglik) + 2.0 * self.n_params

    @property
    def bic(self):
        n = np.asarray(self.n_obs) - (self.p if self.method == "REML" else 0)
        return -2.0 * np.asarray(self.loglik) + self.n_params * np.log(n)

    @property
    def q_p(self):
        """Chi-square p-value of the multivariate Q test."""
        return stats.chi2.sf(self.q, self.q_df)

    @property
    def i2(self):
        """Multivariate :math:`I^2 = 100 \\max(0, (Q - df)/Q)` in percent (Jackson, White &
        Riley 2012)."""
        q = np.asarray(self.q, dtype=float)
        return 100.0 * np.clip((q - self.q_df) / q, 0.0, None)

    # ------------------------------------------------------------------ tables
    def _one(self, replicate: int | None):
        if np.ndim(self.loglik) == 0:
            return self
        if replicate is None:
            raise ValueError("this result holds several replicates; pass replicate=<index>")
        sl = (..., replicate)
        return MVMetaResult(
            estimate=self.estimate[sl], cov=self.cov[sl], Omega=self.Omega[sl],
            loglik=float(self.loglik[replicate]), q=float(self.q[replicate]),
            q_df=int(self.q_df[replicate]), n_obs=int(self.n_obs[replicate]),
            converged=bool(self.converged[replicate]), method=self.method,
            structure=self.structure, names=self.names, study_labels=self.study_labels,
            estimates=self.estimates[sl], covariances=self.covariances[sl],
            blups=self.blups[sl], ci_prob=self.ci_prob)

    def summary(self, *, replicate: int | None = None) -> pd.DataFrame:
        """One row per coefficient: estimate, se, z, p, CI, between-study SD, PI.

        Parameters
        ----------
        replicate : int, optional
            Which replicate, when the result holds several (required then).

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: ``estimate, se, z, p, ci_low, ci_high, tau, pi_low,
            pi_high, n_studies``.
        """
        r = self._one(replicate)
        lo, hi = r.ci
        plo, phi = r.pi
        z = r.estimate / r.se
        return pd.DataFrame({
            "estimate": r.estimate, "se": r.se, "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": lo, "ci_high": hi,
            "tau": r.tau, "pi_low": plo, "pi_high": phi,
            "n_studies": np.isfinite(r.estimates).sum(axis=0),
        }, index=pd.Index(list(r.names), name="coef"))

    def omega_table(self, *, replicate: int | None = None) -> pd.DataFrame:
        """Between-study SDs (diagonal) and correlations (off-diagonal) as a table.

        Parameters
        ----------
        replicate : int, optional
            Which replicate's :math:`\\hat\\Omega`, as in :meth:`summary`.

        Returns
        -------
        pandas.DataFrame
            Coefficients x coefficients.
        """
        r = self._one(replicate)
        tab = r.corr.copy()
        np.fill_diagonal(tab, r.tau)
        names = list(r.names)
        return pd.DataFrame(tab, index=names, columns=names)

    def fit_table(self, *, replicate: int | None = None) -> pd.Series:
        """Method, structure, log-likelihood, AIC, BIC, Q test and parameter count.

        Parameters
        ----------
        replicate : int, optional
            Which replicate's fit, as in :meth:`summary`.

        Returns
        -------
        pandas.Series
            ``method, structure, loglik, n_params, aic, bic, q, q_df, q_p, i2, converged``.
        """
        r = self._one(replicate)
        return pd.Series({"method": r.method, "structure": r.structure if r.method != "FE"
                          else "fixed_effect", "loglik": r.loglik, "n_params": r.n_params,
                          "aic": float(r.aic), "bic": float(r.bic), "q": r.q, "q_df": r.q_df,
                          "q_p": float(r.q_p), "i2": float(r.i2),
                          "converged": r.converged})

    def blup(self, *, replicate: int | None = None) -> pd.DataFrame:
        r"""Shrunken trial coefficients
        :math:`\tilde\beta_i = \hat\mu + \hat\Omega W_i(\hat\beta_i - \hat\mu)` (components
        a study did not report are predicted through the between-study correlations).

        Parameters
        ----------
        replicate : int, optional
            Which replicate's shrunken coefficients, as in :meth:`summary`.

        Returns
        -------
        pandas.DataFrame
            Studies x coefficients.
        """
        r = self._one(replicate)
        return pd.DataFrame(r.blups, index=pd.Index(list(r.study_labels), name="study"),
                            columns=list(r.names))

    def __str__(self) -> str:
        """metafor-style printout (:func:`bayes_hte.comparators.printout.mvmeta_text`)."""
        return mvmeta_text(self)

    __repr__ = __str__


def mvmeta(
    estimates: npt.ArrayLike | pd.DataFrame,
    covariances: npt.ArrayLike,
    *,
    method: MVMethod = "REML",
    structure: OmegaStructure = "unstructured",
    names: Sequence[str] | None = None,
    study_labels: Sequence | None = None,
    ci_prob: float = 0.95,
    maxiter: int = 1000,
) -> MVMetaResult:
    r"""Multivariate random-effects meta-analysis, :math:`\hat\beta_i \sim MVN(\mu, \Omega + S_i)`.

    Parameters
    ----------
    estimates : array-like (k, p) or (k, p, R), or DataFrame (k, p)
        Study estimates; NaN marks a component a study does not report (it then
        contributes its other components, Remark C of the two-step paper).
    covariances : array-like (k, p, p) or (k, p, p, R), Mapping or xarray.DataArray
        Within-study covariance matrices :math:`S_i`; entries of unreported
        components are ignored (may be NaN). An array is read by position (the rows of
        ``estimates``); a mapping ``{study label: (p, p) array or DataFrame}`` or a
        DataArray with the study labels on its first dimension (e.g.
        ``step1.covariance_array()``) is matched to the estimates by label
        (:func:`bayes_hte.data.multivariate.multivariate_inputs`).
    method : {"REML", "ML", "FE"}
        Restricted or full maximum likelihood, or fixed effect (:math:`\Omega = 0`).
    structure : {"unstructured", "compound_symmetry", "diagonal", "identity"}
        Structure of :math:`\Omega` (ignored for FE; metafor's ``"UN"``, ``"CS"``,
        ``"DIAG"``, ``"ID"`` are read as these).
    names, study_labels : sequence, optional
        Coefficient and study labels (default: the DataFrame's, which they must equal
        when given, else 0..p-1 / 1..k: studies by position from 1).
    ci_prob : float
        Probability of the confidence and prediction intervals, in (0, 1).
    maxiter : int
        Iteration limit of the optimiser.

    Returns
    -------
    MVMetaResult
        ``.estimate``, ``.se``, ``.cov``, ``.ci``, ``.pi``, ``.Omega``, ``.tau``,
        ``.corr``, ``.loglik``, ``.aic``, ``.bic``, ``.q``, ``.i2`` (percent),
        ``.summary()``, ``.omega_table()``, ``.fit_table()``, ``.blup()``.

    Raises
    ------
    DataError
        Shapes that do not match, a study reporting nothing, a coefficient no study
        reports, non-finite, asymmetric or non-positive-definite covariances, text
        among the numbers, repeated study labels, labels that contradict the
        DataFrame's or the labelled covariances', or one study with ``"REML"`` or
        ``"ML"`` (:math:`\Omega` needs two).
    ValueError
        An unknown method or structure, or ``ci_prob`` outside (0, 1).

    Examples
    --------
    Berkey et al. (1998) periodontal trials (metafor's ``dat.berkey1998``)::

        >>> import numpy as np
        >>> y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, -0.12], [0.26, -0.31],
        ...               [0.56, -0.39]])
        >>> S = np.array([[[0.0075, 0.0030], [0.0030, 0.0077]],
        ...               [[0.0057, 0.0009], [0.0009, 0.0008]],
        ...               [[0.0021, 0.0007], [0.0007, 0.0014]],
        ...               [[0.0029, 0.0009], [0.0009, 0.0015]],
        ...               [[0.0148, 0.0072], [0.0072, 0.0304]]])
        >>> res = mvmeta(y, S, method="REML", structure="unstructured", names=["PD", "AL"])
        >>> np.round(res.estimate, 4)
        array([ 0.3534, -0.3392])
    """
    check_ci_prob(ci_prob, error=ValueError)
    structure = canonical_structure(structure)
    estimates, covariances, names, study_labels = multivariate_inputs(
        estimates, covariances, names=names, study_labels=study_labels)
    validate_multivariate(estimates, covariances, study_labels=study_labels,
                          names=names)  # names the studies and coefficients at fault
    core = mvmeta_core(estimates, covariances, method=method, structure=structure,
                       maxiter=maxiter)
    y = np.array(estimates, dtype=float)
    S = np.array(covariances, dtype=float)
    if y.ndim == 2:
        y, S = y[..., None], S[..., None]
    k, p = y.shape[:2]
    names = tuple(str(n) for n in (names if names is not None else range(p)))
    study_labels = tuple(str(s) for s in (study_labels if study_labels is not None
                                          else range(1, k + 1)))
    if len(names) != p:
        raise DataError(f"names has {len(names)} entries for {p} coefficients")
    if len(study_labels) != k:
        raise DataError(f"study_labels has {len(study_labels)} entries for {k} studies")

    def sq(a):
        return a[..., 0] if core["squeeze"] else a

    def sq0(a):
        return a[0].item() if core["squeeze"] else a

    return MVMetaResult(
        estimate=sq(core["mu"]), cov=sq(core["cov"]), Omega=sq(core["omega"]),
        loglik=sq0(core["loglik"]), q=sq0(core["q"]), q_df=sq0(core["q_df"]),
        n_obs=sq0(core["n_obs"]), converged=sq0(core["converged"]), method=method,
        structure=structure, names=names, study_labels=study_labels,
        estimates=sq(y), covariances=sq(S), blups=sq(core["blup"]), ci_prob=ci_prob,
    )


def compare_structures(
    estimates: npt.ArrayLike | pd.DataFrame,
    covariances: npt.ArrayLike,
    *,
    method: LikelihoodMethod = "REML",
    structures: Sequence[str] = OMEGA_STRUCTURES,
    include_fixed: bool = True,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    r"""Fit several Omega structures and tabulate log-likelihood, AIC and BIC.

    The paper's application chooses :math:`\Omega` by BIC among structures and the
    fixed-effect model. For a like-for-like comparison the fixed-effect row
    (``include_fixed``) is the same (restricted, for REML) likelihood evaluated at
    :math:`\Omega = 0`, with :math:`p` parameters.

    Parameters
    ----------
    estimates, covariances : array_like
        As in :func:`mvmeta` (no replicate axis).
    method : {"REML", "ML"}
        Likelihood compared across structures.
    structures : sequence of str
        Structures of :math:`\Omega` to fit (default: all four).
    include_fixed : bool
        Add the fixed-effect row (:math:`\Omega = 0`).
    names : sequence of str, optional
        Coefficient labels.

    Returns
    -------
    pandas.DataFrame
        One row per model (:meth:`MVMetaResult.fit_table`): ``method, structure, loglik,
        n_params, aic, bic, q, q_df, q_p, i2, converged``.

    Raises
    ------
    ValueError
        ``method`` not REML or ML.
    DataError
        Invalid inputs (see :func:`mvmeta`).
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    estimates, covariances, names, _ = multivariate_inputs(estimates, covariances,
                                                           names=names)
    rows = []
    for s in structures:
        rows.append(mvmeta(estimates, covariances, method=method, structure=s,
                           names=names).fit_table())
    if include_fixed:
        fe = mvmeta(estimates, covariances, method="FE", names=names)
        p = fe.p
        ll = mvmeta_loglik(estimates, covariances, np.zeros((p, p)), method=method)
        n = fe.n_obs - (p if method == "REML" else 0)
        row = fe.fit_table()
        row["method"] = method
        row["loglik"] = ll
        row["aic"] = -2 * ll + 2 * p
        row["bic"] = -2 * ll + p * np.log(n)
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)
