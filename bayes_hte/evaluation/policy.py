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

from bayes_hte.evaluation._inputs import Draws, Metric, as_rows, check_outcomes, real_option

__all__ = ["policy_metrics"]


def policy_metrics(y: ArrayLike, treatment: ArrayLike, benefit: Draws, *,
                   threshold: float = 0.0) -> dict[str, Metric]:
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

    Returns
    -------
    dict
        ``pape``, ``gain_vs_treat_all`` (:math:`\hat R_1 - \hat R(f)`),
        ``gain_vs_treat_none`` (:math:`\hat R_0 - \hat R(f)`), ``risk_rule``,
        ``risk_treat_all``, ``risk_treat_none``, ``proportion_treated``; each a float
        for a benefit vector or an array / DataArray over the draws. Risks and gains
        are probabilities (events per patient).

    Raises
    ------
    DataError
        Non-binary ``y`` or ``treatment``, a missing arm, or non-finite benefit.
    """
    y, z = check_outcomes(y, treatment)
    rows, restore = as_rows(benefit, y.size)
    threshold = real_option(threshold, "threshold")
    n = y.size
    n1, n0 = z.sum(), n - z.sum()
    f = (rows > threshold).astype(float)
    risk_rule = f @ (y * z) / n1 + (1 - f) @ (y * (1 - z)) / n0
    r1 = (y * z).sum() / n1
    r0 = (y * (1 - z)).sum() / n0
    pf = f.mean(axis=1)
    pape = n / (n - 1) * (pf * r1 + (1 - pf) * r0 - risk_rule)
    ones = np.ones(rows.shape[0])
    return {
        "pape": restore(pape),
        "gain_vs_treat_all": restore(r1 - risk_rule),
        "gain_vs_treat_none": restore(r0 - risk_rule),
        "risk_rule": restore(risk_rule),
        "risk_treat_all": restore(r1 * ones),
        "risk_treat_none": restore(r0 * ones),
        "proportion_treated": restore(pf),
    }
