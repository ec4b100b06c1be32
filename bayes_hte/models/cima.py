r"""Bayesian causally interpretable meta-analysis from aggregate data (PyMC factory).

The Bayesian counterpart of CIMA-AgD (Shi et al., *Causally-interpretable meta-analysis
using aggregate data*;
:func:`bayes_hte.comparators.cima`). The CATE is linear in its coefficients,
:math:`\tau(x;\theta) = b(x)'\theta`; each trial :math:`k` is represented by the
exponential tilting of a base sample to its reported covariate moments, which makes the
model mean of a reported (overall or subgroup) effect :math:`j` linear in
:math:`\theta`: :math:`m_j(\theta) = n_q^{-1}\sum_i \alpha_j(x_i)\,b(x_i)'\theta =
(D\theta)_j` (representers :math:`\alpha_j`; built by
:func:`bayes_hte.comparators.cima.moments.cima_moments`). The reported effects
:math:`\hat\tau_k` of trial :math:`k`, reduced to the directions that inform
:math:`\theta` (:math:`y_k = K_k'\hat\tau_k`, :math:`X_k = K_k'D_k`,
:math:`\Sigma_k = K_k'V_kK_k`, with :math:`V_k` the working covariance of the reported
effects; see :mod:`bayes_hte.comparators.cima.moments`), are the data:

.. math::

    y_k \sim N\bigl(X_k\theta + u_k\, x_{k,0},\; \Sigma_k\bigr), \qquad
    \theta_r \sim N(0, 0.5^2),

independently over trials, where :math:`x_{k,0}` is the intercept column of
:math:`X_k` (a shift of the trial's CATE by :math:`u_k`). Without heterogeneity
(default, as CIMA) :math:`u_k = 0`; with it, :math:`u_k = \tau r_k`,
:math:`r_k \sim N(0, 1)` (non-centred), :math:`\tau \sim \mathrm{HalfNormal}(0.025)`.

The target-population ATE is a deterministic node,

.. math::

    \psi = \frac1{N_T}\sum_{l=1}^{N_T} b(x_l)'\theta = \bar b_T'\theta,

the CATE averaged over the target sample (the same estimand as CIMA's
:math:`\hat\psi`, conditional on the target sample); with heterogeneity also
:math:`\psi_{new} = \psi + \tau z_{new}`, the ATE of a new trial's population-level
effect. Subgroup effects are :math:`\bar b_g'\theta` over the target rows of a
subgroup (:func:`bayes_hte.effects.cima.linear_effects`).

**Priors.** On the risk-difference scale a CATE lies in :math:`[-1, 1]`; a coefficient
SD of 0.5 lets the intercept or a binary covariate's coefficient move the effect by half
that range, and a covariate in large units (LVEF in %) even more per unit of its range,
so the prior is weak wherever the reported effects inform :math:`\theta` (on the SGLT2
data it moves the posterior mean of the ATE by less than :math:`10^{-4}`). It becomes
informative for a covariate coded so that plausible coefficients exceed about 1 (e.g. a
fraction in [0, 0.01]): rescale the covariate or the prior
(``priors={"theta": {"sigma": ...}}``). :math:`\tau` is a between-trial SD of risk
differences: HalfNormal(0.025) puts 95 % of its mass below 0.05, an unexplained
heterogeneity as large as the typical effects of cardiovascular trials; rescale for
other effect measures.

Vectorised form: the trials' reduced vectors are padded to a common length with value
0, mean 0, variance 1 and no covariance (a constant factor :math:`\varphi(0)` per padded
component), so one MvNormal node has dims ``(trial, component)``; the ``log_likelihood``
group removes the constant (``model.bayes_hte["log_likelihood_offset"]``) and holds the
exact density of each trial's reduced effects.

Users fit this through :class:`bayes_hte.CIMAModel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pymc as pm
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform

from bayes_hte.errors import DataError
from bayes_hte.models.priors import PriorDict, make_rv, random_effect, resolve_priors

#: Default priors (risk-difference scale); ``tau`` only with heterogeneity.
DEFAULT_PRIORS: PriorDict = {
    "theta": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "tau": {"dist": "HalfNormal", "sigma": 0.025},
}

INTERCEPT = "(Intercept)"
_LOG2PI = float(np.log(2.0 * np.pi))
#: Prior families of ``theta`` whose support is the real line (sampled whitened).
_UNBOUNDED = ("Normal", "StudentT", "Cauchy")


class _Whiten(Transform):
    r"""Affine map :math:`\theta = m + L\eta` between a coefficient vector and its value.

    NUTS samples :math:`\eta`; with :math:`m, L` the Gaussian posterior's mean and
    Cholesky factor at :math:`\tau = 0` the posterior of :math:`\eta` is close to
    standard normal whatever the covariates' scales and correlations (an intercept and
    the slope of an uncentred covariate are correlated near -1). The model is
    unchanged: the log Jacobian :math:`\log|L|` is constant.
    """

    name = "whiten"

    def __init__(self, loc: np.ndarray, chol: np.ndarray):
        self.loc = pt.as_tensor(np.asarray(loc, dtype=float))
        self.chol = pt.as_tensor(np.asarray(chol, dtype=float))
        self.inv = pt.as_tensor(np.linalg.inv(chol))
        self.log_diag = pt.as_tensor(np.log(np.diag(chol)))

    def forward(self, value, *inputs):
        return (value - self.loc) @ self.inv.T

    def backward(self, value, *inputs):
        return self.loc + value @ self.chol.T

    def log_jac_det(self, value, *inputs):
        # elementwise terms whose sum is log|det L| (the prior's density is elementwise)
        return pt.zeros_like(value) + self.log_diag


def _whitening(y, X, V, spec) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Cholesky factor of the Gaussian posterior of theta at tau = 0."""
    sd = float(spec.get("sigma", spec.get("beta", 1.0)))
    P = X.T @ np.linalg.solve(V, X)
    A = P + np.eye(len(P)) / sd**2
    C = np.linalg.inv((A + A.T) / 2)
    m = C @ (X.T @ np.linalg.solve(V, y)) + C @ (np.full(len(P), float(spec.get("mu", 0.0)))
                                                 / sd**2)
    return m, np.linalg.cholesky((C + C.T) / 2)


def default_priors(*, heterogeneity: bool = False) -> PriorDict:
    """The default priors the model uses (fresh copy).

    Parameters
    ----------
    heterogeneity : bool
        Whether the model has the between-trial SD ``tau``.

    Returns
    -------
    dict of str to dict
        ``theta`` (and ``tau`` with heterogeneity).
    """
    names = ("theta", "tau") if heterogeneity else ("theta",)
    return {n: dict(DEFAULT_PRIORS[n]) for n in names}


def _labels_of(trial: Sequence) -> tuple[list[str], np.ndarray]:
    labels = [str(t) for t in trial]
    order = list(dict.fromkeys(labels))
    return order, np.array([order.index(t) for t in labels], dtype=int)


def _check_inputs(y, X, V, trial, terms, target):
    R = y.shape[0] if y.ndim == 1 else -1
    if y.ndim != 1 or R == 0:
        raise DataError(f"estimates must be a non-empty vector, got shape {y.shape}")
    if X.ndim != 2 or X.shape[0] != R:
        raise DataError(f"design must have shape ({R}, p) (one row per estimate), got "
                        f"{X.shape}")
    p = X.shape[1]
    if V.shape != (R, R):
        raise DataError(f"covariance must have shape ({R}, {R}), got {V.shape}")
    if len(trial) != R:
        raise DataError(f"trial must label each of the {R} estimates, got {len(trial)} labels")
    if len(terms) != p or len(set(terms)) != p:
        raise DataError(f"terms must name the {p} design columns once each, got "
                        f"{list(terms)}")
    if target.shape != (p,):
        raise DataError(f"target must be the mean design row, shape ({p},), got "
                        f"{target.shape}")
    if not np.isfinite(target).all():
        raise DataError("target (the mean design row of the target population) is not "
                        "finite")


def _check_blocks(y, X, V, order, codes) -> list[np.ndarray]:
    """Per trial: finite values, no covariance with other trials, positive definite."""
    chols = []
    for k, t in enumerate(order):
        rows = codes == k
        if not (np.isfinite(y[rows]).all() and np.isfinite(X[rows]).all()
                and np.isfinite(V[np.ix_(rows, rows)]).all()):
            raise DataError(f"trial {t!r}: its estimates, design rows or covariance hold "
                            "missing or non-finite values")
        cross = np.abs(V[np.ix_(rows, ~rows)])
        if cross.size and cross.max() > 0:
            other = order[int(codes[~rows][np.argmax(cross.max(axis=0))])]
            raise DataError(f"trials {t!r} and {other!r}: the covariance links estimates of "
                            "different trials; it must be block diagonal by trial "
                            "(independent trials)")
        Vk = V[np.ix_(rows, rows)]
        if not np.allclose(Vk, Vk.T, rtol=1e-8, atol=1e-14 * np.abs(Vk).max()):
            raise DataError(f"trial {t!r}: its covariance block is not symmetric")
        try:
            chols.append(np.linalg.cholesky((Vk + Vk.T) / 2))
        except np.linalg.LinAlgError as err:
            raise DataError(f"trial {t!r}: its covariance block is not positive definite; "
                            "reduce the trial's estimates to the directions they inform "
                            "(bayes_hte.comparators.cima.moments.cima_moments)") from err
    return chols


def build_cima_model(
    estimates: npt.ArrayLike,
    design: npt.ArrayLike,
    covariance: npt.ArrayLike,
    *,
    trial: Sequence[str],
    terms: Sequence[str],
    target: npt.ArrayLike,
    heterogeneity: bool = False,
    priors: Mapping | None = None,
) -> pm.Model:
    r"""Bayesian CIMA: a linear Gaussian model of the reported effects (module docstring).

    Parameters
    ----------
    estimates : array_like, shape (R,)
        The (reduced) reported effects :math:`y`, on an additive scale (e.g. risk
        differences): the trials' :meth:`~bayes_hte.comparators.cima.moments.CIMAMoments.blocks`
        stacked.
    design : array_like, shape (R, p)
        Their model means per unit of each coefficient, :math:`X` (the intercept's
        column first when ``heterogeneity``).
    covariance : array_like, shape (R, R)
        Their covariance :math:`\Sigma`, block diagonal by trial, each block positive
        definite.
    trial : sequence of str, length R
        Trial of each estimate; trials are the blocks of ``covariance`` and the dim
        ``trial`` (order of first appearance).
    terms : sequence of str, length p
        Names of the coefficients (dim ``coef``), e.g. ``("(Intercept)", "lvef")``.
    target : array_like, shape (p,)
        Mean design row of the target sample, :math:`\bar b_T`: ``ate`` is
        :math:`\bar b_T'\theta`.
    heterogeneity : bool
        Add a between-trial shift of each trial's CATE, :math:`u_k \sim N(0, \tau^2)`
        (integrated out).
    priors : mapping, optional
        Overrides by name: ``"theta"`` (each coefficient) and, with heterogeneity,
        ``"tau"``.

    Returns
    -------
    pymc.Model
        Dims ``trial``, ``component`` (padded position in a trial's vector), ``coef``;
        data ``reported`` (trial, component), ``design`` (trial, component, coef),
        ``target_design`` (coef) and ``within_chol`` (``trial, component, component_``:
        the Cholesky factors of the blocks); free ``theta`` (coef; sampled whitened,
        :math:`\theta = m + L\eta` with the Gaussian posterior's mean and Cholesky
        factor at :math:`\tau = 0`, for a Normal, Student-t or Cauchy prior) and, with
        heterogeneity, ``tau``, ``trial_effect_raw`` (trial) and ``z_new``;
        deterministics ``ate`` and, with heterogeneity, ``trial_effect`` (trial) and
        ``ate_new``; observed ``y`` (trial, component). ``model.bayes_hte`` records the family,
        options, resolved priors and the padding constant.

    Raises
    ------
    DataError
        Arrays of inconsistent shapes, non-finite values (naming the trial), a
        covariance that links trials or whose block is not positive definite (naming the
        trial(s)), ``heterogeneity`` without ``"(Intercept)"`` as the first term.
    ValueError
        A prior override naming an unknown parameter
        (:func:`~bayes_hte.models.priors.resolve_priors`).

    Examples
    --------
    >>> import numpy as np
    >>> m = build_cima_model([-0.03, -0.05], [[1.0, 54.0], [1.0, 30.0]],
    ...                      np.diag([1e-4, 1e-4]), trial=["A", "B"],
    ...                      terms=["(Intercept)", "lvef"], target=[1.0, 45.0])
    >>> sorted(m.named_vars)
    ['ate', 'design', 'reported', 'target_design', 'theta', 'within_chol', 'y']
    """
    y = np.asarray(estimates, dtype=float)
    X = np.asarray(design, dtype=float)
    V = np.asarray(covariance, dtype=float)
    bT = np.asarray(target, dtype=float)
    terms = [str(t) for t in terms]
    _check_inputs(y, X, V, trial, terms, bT)
    if heterogeneity and terms[0] != INTERCEPT:
        raise DataError(f"heterogeneity shifts each trial's CATE through its intercept: the "
                        f"first term must be {INTERCEPT!r}, got {terms[0]!r}")
    order, codes = _labels_of(trial)
    chols = _check_blocks(y, X, V, order, codes)
    resolved = resolve_priors(default_priors(heterogeneity=heterogeneity), priors,
                              family="cima")

    K, p = len(order), X.shape[1]
    sizes = np.bincount(codes, minlength=K)
    r = int(sizes.max())
    y_pad = np.zeros((K, r))
    X_pad = np.zeros((K, r, p))
    L_pad = np.tile(np.eye(r), (K, 1, 1))
    for k in range(K):
        rows = np.flatnonzero(codes == k)
        n = len(rows)
        y_pad[k, :n], X_pad[k, :n] = y[rows], X[rows]
        L_pad[k, :n, :n] = chols[k]
    coords = {"trial": order, "component": list(range(r)), "component_": list(range(r)),
              "coef": terms}
    with pm.Model(coords=coords) as model:
        y_obs = pm.Data("reported", y_pad, dims=("trial", "component"))
        Xd = pm.Data("design", X_pad, dims=("trial", "component", "coef"))
        bt = pm.Data("target_design", bT, dims="coef")
        spec = resolved["theta"]
        if spec["dist"] in _UNBOUNDED:
            params = {k: v for k, v in spec.items() if k != "dist"}
            theta = getattr(pm, spec["dist"])(
                "theta", **params, dims="coef",
                default_transform=_Whiten(*_whitening(y, X, V, spec)))
        else:
            theta = make_rv("theta", spec, dims="coef")
        mu = (Xd * theta[None, None, :]).sum(axis=-1)
        ate = pm.Deterministic("ate", (bt * theta).sum())
        if heterogeneity:
            tau = make_rv("tau", resolved["tau"])
            u = random_effect("trial_effect", 0.0, tau, dims="trial",
                              parameterization="non_centered")
            mu = mu + u[:, None] * Xd[:, :, 0]
            z_new = pm.Normal("z_new", 0.0, 1.0)
            pm.Deterministic("ate_new", ate + tau * z_new * bt[0])
        Ld = pm.Data("within_chol", L_pad, dims=("trial", "component", "component_"))
        pm.MvNormal("y", mu=mu, chol=Ld, observed=y_obs, dims=("trial", "component"))
    model.bayes_hte = {
        "family": "cima", "heterogeneity": bool(heterogeneity), "priors": resolved,
        "components": sizes.tolist(),
        # the padding's constant, removed from the log_likelihood group
        "log_likelihood_offset": {"y": 0.5 * _LOG2PI * (r - sizes)},
    }
    return model


def reduced_stack(blocks: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  trials: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  list[str]]:
    """Stack per-trial blocks into the arguments of :func:`build_cima_model`.

    Parameters
    ----------
    blocks : sequence of (ndarray, ndarray, ndarray)
        Per trial: estimates (r_k,), design (r_k, p), covariance (r_k, r_k), e.g.
        :meth:`bayes_hte.comparators.cima.moments.CIMAMoments.blocks`.
    trials : sequence of str
        The trials' labels, in the order of ``blocks``.

    Returns
    -------
    (ndarray, ndarray, ndarray, list of str)
        ``estimates`` (R,), ``design`` (R, p), block-diagonal ``covariance`` (R, R) and
        the trial label of each estimate.

    Raises
    ------
    DataError
        ``blocks`` and ``trials`` of different lengths.
    """
    if len(blocks) != len(trials):
        raise DataError(f"{len(blocks)} blocks but {len(trials)} trial labels")
    y = np.concatenate([np.asarray(b[0], dtype=float) for b in blocks])
    X = np.vstack([np.asarray(b[1], dtype=float) for b in blocks])
    R = len(y)
    V = np.zeros((R, R))
    labels: list[str] = []
    start = 0
    for (yk, _, Vk), t in zip(blocks, trials, strict=True):
        n = len(yk)
        V[start:start + n, start:start + n] = Vk
        labels += [str(t)] * n
        start += n
    return y, X, V, labels
