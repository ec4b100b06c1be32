r"""Value of an individualized treatment rule in a randomized trial (PAPE).

The rule "treat if the predicted benefit exceeds a threshold" is scored against
treat-all, treat-none and random treatment of the same proportion, with the
inverse-probability-weighted estimators of Imai & Li (2021), as reported for ITE models
by Bouvier et al. (2024, Table 3). Conventions as in :mod:`bayes_hte.evaluation.metrics`:
``y`` = 1 is the unfavourable event and the benefit is larger when treatment is better.

References
----------
Imai K, Li ML (2021). Experimental evaluation of individualized treatment rules.
J Am Stat Assoc 118:242-256 (published online 2021).

Bouvier F, et al. (2024). Estimating individualized treatment effects using an
individual participant data meta-analysis. BMC Med Res Methodol.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bayes_hte.evaluation._inputs import Draws, Metric, as_rows, check_outcomes
from bayes_hte.options import check_flag, check_real

__all__ = ["policy_metrics"]


def policy_metrics(y: ArrayLike, treatment: ArrayLike, benefit: Draws, *,
                   threshold: float = 0.0, centered: bool = False) -> dict[str, Metric]:
    r"""Value of the rule "treat if predicted benefit > threshold" in a randomized trial.

    With :math:`f_i = 1(\hat b_i > c)`, :math:`n_1, n_0` the arm sizes and
    :math:`p_f = \frac1n \sum_i f_i` the proportion the rule treats, the event risk
    under the rule is estimated by inverse probability weighting (Imai & Li 2021),

    .. math::

        \hat R(f) = \frac{1}{n_1}\sum_i y_i z_i f_i
                  + \frac{1}{n_0}\sum_i y_i (1 - z_i)(1 - f_i),

    treat-all and treat-none have :math:`\hat R_1 = \bar y_{treated}`,
    :math:`\hat R_0 = \bar y_{control}`, and the population average prescriptive effect
    (PAPE) of Imai & Li (2021), estimated with the favourable outcome :math:`-y`,
    compares the rule with random treatment of the same proportion :math:`p_f`:

    .. math::

        \widehat{\mathrm{PAPE}} = \frac{n}{n-1}\,\{ p_f \hat R_1 + (1 - p_f) \hat R_0
                                   - \hat R(f) \}.

    All differences are risk reductions: positive = fewer events under the rule.
    Bouvier et al. (2024, Table 3) report the PAPE and the gains against treat-all and
    treat-none for the rules of their ITE models.

    The sampling variance of the PAPE estimator is that of Imai & Li (2021, Theorem 1),
    for a rule fixed before the trial is looked at (the rule of a model fitted on other
    trials, as in leave-one-trial-out validation; a rule fitted on the same patients
    adds variance this formula does not hold). With :math:`Y = -y` the favourable
    outcome, :math:`\hat\tau_f` the PAPE estimate, :math:`\hat\tau = \bar Y_{treated}
    - \bar Y_{control}` and :math:`S^2_{ft}` the sample variance (divisor
    :math:`n_t - 1`) of :math:`(f_i - p_f) Y_i` over arm :math:`t`,

    .. math::

        \widehat{\mathrm{Var}}(\hat\tau_f) = \frac{n^2}{(n-1)^2}\Big[
            \frac{S^2_{f1}}{n_1} + \frac{S^2_{f0}}{n_0}
            + \frac{1}{n^2}\big\{\hat\tau_f^2 + 2(n-1)(2p_f - 1)\hat\tau_f\hat\tau
            - n p_f (1 - p_f)\hat\tau^2\big\}\Big],

    truncated at 0, as in the authors' R package evalITR (``PAPE``, which gives the same
    estimate and SD: ``tests/evaluation/test_policy_variance.py``). ``centered=True``
    centres the outcome at its mean first, evalITR's default, which its authors give
    to reduce the variance: the estimate then differs from the uncentred one by a term
    that is 0 in expectation.

    Parameters
    ----------
    y : array (n,)
        Binary outcome, 1 = event (the unfavourable outcome).
    treatment : array (n,)
        0/1 randomized treatment (the estimator assumes randomization).
    benefit : array (n,), array (..., n) or DataArray with a ``patient`` dim
        Predicted benefit (larger = treatment better, e.g. :math:`P(y|x,0) -
        P(y|x,1)`); draws give every metric per draw.
    threshold : float
        The rule treats patients with benefit strictly above it (benefit scale; 0 =
        treat whoever is predicted to benefit).
    centered : bool
        Centre the outcome at its mean before estimating the PAPE and its variance
        (evalITR's ``centered = TRUE``). Default False: the estimator above, with the
        events themselves. The risks and gains are unaffected.

    Returns
    -------
    dict
        ``pape``, ``pape_se`` (the square root of the variance above; NaN when an arm
        has a single patient), ``gain_vs_treat_all`` (:math:`\hat R_1 - \hat R(f)`),
        ``gain_vs_treat_none`` (:math:`\hat R_0 - \hat R(f)`), ``risk_rule``,
        ``risk_treat_all``, ``risk_treat_none``, ``proportion_treated``; each a float
        for a benefit vector or an array / DataArray over the draws (the rule of each
        draw). Risks, gains and the PAPE are probabilities (events per patient).

    Raises
    ------
    DataError
        Non-binary ``y`` or ``treatment``, a missing arm, or non-finite benefit.
    ValueError
        A ``threshold`` that is not a finite number, or ``centered`` not a bool.
    """
    y, z = check_outcomes(y, treatment)
    rows, restore = as_rows(benefit, y.size)
    threshold = check_real("threshold", threshold)
    centered = check_flag("centered", centered)
    n = y.size
    n1, n0 = z.sum(), n - z.sum()
    f = (rows > threshold).astype(float)
    risk_rule = f @ (y * z) / n1 + (1 - f) @ (y * (1 - z)) / n0
    r1 = (y * z).sum() / n1
    r0 = (y * (1 - z)).sum() / n0
    pf = f.mean(axis=1)
    pape, pape_se = _pape_and_se(f, pf, -(y - y.mean()) if centered else -y, z)
    ones = np.ones(rows.shape[0])
    return {
        "pape": restore(pape),
        "pape_se": restore(pape_se),
        "gain_vs_treat_all": restore(r1 - risk_rule),
        "gain_vs_treat_none": restore(r0 - risk_rule),
        "risk_rule": restore(risk_rule),
        "risk_treat_all": restore(r1 * ones),
        "risk_treat_none": restore(r0 * ones),
        "proportion_treated": restore(pf),
    }


def _pape_and_se(f: np.ndarray, pf: np.ndarray, fav: np.ndarray,
                 z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PAPE estimate and Theorem 1 SE of Imai & Li (2021) for each rule (row of ``f``).

    ``f`` is (rules, n) of 0/1, ``pf`` its row means, ``fav`` the favourable outcome.
    The arm sums of :math:`(f_i - p_f) Y_i` and of its square come from ``f @ (w Y)``
    and ``f @ (w Y^2)`` (:math:`f_i^2 = f_i`), so no (rules, n) array is formed.
    """
    n = fav.size
    arms = []
    for w in (z, 1 - z):
        n_t, wy, wy2 = w.sum(), w * fav, w * fav ** 2
        fy, fy2 = f @ wy, f @ wy2
        total, total2 = wy.sum(), wy2.sum()
        s = fy - pf * total                            # sum of (f - p) Y over the arm
        ss = (1 - 2 * pf) * fy2 + pf ** 2 * total2     # sum of (f - p)^2 Y^2
        var = (ss - s ** 2 / n_t) / (n_t - 1) if n_t > 1 else np.full(pf.shape, np.nan)
        arms.append((n_t, fy, total, np.maximum(var, 0.0)))
    (n1, fy1, t1, s1), (n0, fy0, t0, s0) = arms
    m1, m0 = t1 / n1, t0 / n0
    value_rule = fy1 / n1 + (t0 - fy0) / n0           # mean favourable outcome under f
    pape = n / (n - 1) * (value_rule - pf * m1 - (1 - pf) * m0)
    ate = m1 - m0
    cov = (pape ** 2 + 2 * (n - 1) * (2 * pf - 1) * pape * ate
           - n * pf * (1 - pf) * ate ** 2) / n ** 2
    var = (n / (n - 1)) ** 2 * (s1 / n1 + s0 / n0 + cov)
    return pape, np.sqrt(np.maximum(var, 0.0))
