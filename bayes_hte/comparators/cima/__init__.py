r"""Causally interpretable meta-analysis from aggregate data (CIMA-AgD).

Shi et al., *Causally-interpretable meta-analysis using aggregate data* (seed
``shi_cima_aggregate_data.txt``; formulas in ``methods/cima_agd.md``). From published
trial reports alone -- overall and one-at-a-time subgroup treatment effects and
covariate means/SDs -- a parametric CATE :math:`\tau(x;\theta) = b(x)'\theta` is
estimated and marginalised over a target population.

**Exponential tilting.** A base sample :math:`Q = \{x_i\}_{i=1}^{n_q}` is tilted to
each trial :math:`k`'s reported moments :math:`\mu_k^+ = (1, \mu_k)` of features
:math:`h^+(x) = (1, h(x))`: :math:`w_k(x) = \exp(\lambda_k' h^+(x))` with

.. math::

    \frac1{n_q}\sum_i h^+(x_i)\, w_k(x_i) = \mu_k^+ ,

the minimiser of the convex :math:`L(\lambda) = \overline{\exp(\lambda'h^+)} -
\lambda'\mu_k^+` (Newton with the analytic Hessian and a line search).

**Moments.** A reported effect :math:`\hat\tau_j` of trial :math:`k(j)` in stratum
:math:`S_j` (share :math:`p_j`) has representer
:math:`\alpha_j(x) = w_{k(j)}(x)\,1\{x \in S_j\}/p_j` and model moment
:math:`m_j(\theta) = n_q^{-1}\sum_i \alpha_j(x_i) b(x_i)'\theta = (D\theta)_j`.

**GMM.** :math:`\hat\theta = \arg\min (D\theta - \hat\tau)'W(D\theta-\hat\tau) =
(D'WD)^{-1}D'W\hat\tau`. The reference weighting is block diagonal by trial,
:math:`W_k = (n_k\,\mathrm{diag}(s_j^2) + 10^{-8}I)^{-1}`; a second step uses
:math:`W = \hat\Omega^{-1}`.

**Target ATE.** :math:`\hat\psi = N_T^{-1}\sum_l b(x_l)'\hat\theta`, with

.. math::

    \widehat{\mathrm{Var}}(\hat\psi) = \frac1{N_T^2}\sum_l \{b(x_l)'\hat\theta -
    \hat\psi\}^2 + \bar b' V_\theta \bar b, \qquad
    V_\theta = J\hat\Omega J', \quad J = -(D'WD)^{-1}D'W,

where :math:`\hat\Omega` collects the base-sample error of the moments, the tilting
error (base sample and reported means) and the reported effects' covariance
:math:`V^{rep}`, whose unreported off-diagonal entries use the working
approximations of the method note (section 4). Subgroup effects average over the
target rows of a subgroup with the same variance formula.

Defaults reproduce the authors' reference implementation (R package CIMAgD):
representers divided by the *reported* :math:`p_j`, the :math:`n_k`-scaled weighting
matrix and one GMM step, :math:`V^{rep}` correlations overlap/:math:`(p_jp_{j'})` passed
through ``nearPD`` twice. The paper-faithful alternatives are options
(``representer="tilted"``, ``weights="inverse_variance"``, ``steps=2``,
``correlation="paper"``).

Layout (by concern): :mod:`~bayes_hte.comparators.cima.formula` (formula parser and
model matrices), :mod:`~bayes_hte.comparators.cima.solver` (Newton tilting solver,
nearest-PD repair), :mod:`~bayes_hte.comparators.cima.inputs` (samples and reported
moments), :mod:`~bayes_hte.comparators.cima.variance` (:math:`V^{rep}`,
:math:`\hat\Omega`), :mod:`~bayes_hte.comparators.cima.results` (result classes) and
:mod:`~bayes_hte.comparators.cima.core` (:func:`cima`, :func:`cima_indirect`);
:mod:`~bayes_hte.comparators.cima.moments` (:func:`cima_moments`: the moment system
with a working covariance of the reported effects, the likelihood of the Bayesian
:class:`bayes_hte.CIMAModel`).
"""

from bayes_hte.comparators.cima.core import cima, cima_indirect
from bayes_hte.comparators.cima.formula import Term, parse_formula
from bayes_hte.comparators.cima.moments import CIMAMoments, cima_moments
from bayes_hte.comparators.cima.results import CIMAEstimate, CIMAResult
from bayes_hte.comparators.cima.solver import TiltingFit, nearest_pd, solve_tilting

__all__ = ["CIMAEstimate", "CIMAMoments", "CIMAResult", "Term", "TiltingFit", "cima",
           "cima_indirect", "cima_moments", "nearest_pd", "parse_formula", "solve_tilting"]
