r"""Normal marginals truncated to a reported range, matched to the reported mean and SD.

A covariate summary reports the mean :math:`m` and SD :math:`s` of the *observed*
values, and sometimes their range :math:`[a, b]`. The normal truncated to :math:`[a, b]`
whose own mean and SD are :math:`m` and :math:`s` has parent parameters
:math:`(\mu, \sigma)` solving

.. math::

    \mu + \sigma\,\frac{\phi(\alpha) - \phi(\beta)}{Z} = m, \qquad
    \sigma^2\Big[1 + \frac{\alpha\phi(\alpha) - \beta\phi(\beta)}{Z}
    - \Big(\frac{\phi(\alpha) - \phi(\beta)}{Z}\Big)^2\Big] = s^2,

with :math:`\alpha = (a - \mu)/\sigma`, :math:`\beta = (b - \mu)/\sigma` and
:math:`Z = \Phi(\beta) - \Phi(\alpha)` (the moments of the truncated normal: Johnson,
Kotz & Balakrishnan 1994, *Continuous Univariate Distributions* vol. 1, section 10.1).
Truncating the normal with the reported mean and SD instead moves both moments, by a lot
when the range cuts close to the mean.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from bayes_hte.errors import DataError

__all__ = ["truncated_normal_parameters"]

#: Largest relative error (of the SD) accepted in the matched mean and SD.
MOMENT_TOL = 1e-6


def truncated_normal_parameters(mean: float, sd: float, lo: float = -np.inf,
                                hi: float = np.inf, *, where: str = "covariate"
                                ) -> tuple[float, float]:
    """The parent normal :math:`(\\mu, \\sigma)` whose truncation to ``[lo, hi]`` has mean
    ``mean`` and SD ``sd`` (module docstring).

    Parameters
    ----------
    mean, sd : float
        The reported mean and SD (> 0) of the observed values, in the covariate's unit.
    lo, hi : float
        The range (``-inf`` / ``inf``: no bound on that side).
    where : str
        What the numbers describe, for the messages (e.g. ``"trial 'T1', covariate
        'age'"``).

    Returns
    -------
    tuple of float
        ``(mu, sigma)``; ``(mean, sd)`` itself without bounds.

    Raises
    ------
    DataError
        ``mean`` not strictly inside ``(lo, hi)``, or no normal truncated to the range
        has that mean and SD (an SD too large for the room the range leaves).
    """
    if np.isinf(lo) and np.isinf(hi):
        return float(mean), float(sd)
    if not lo < mean < hi:
        raise DataError(f"{where}: the mean {mean:g} is not inside the range [{lo:g}, {hi:g}] "
                        "(min, max)")

    def residuals(x: np.ndarray) -> np.ndarray:
        mu, sigma = x[0], np.exp(x[1])
        dist = stats.truncnorm((lo - mu) / sigma, (hi - mu) / sigma, loc=mu, scale=sigma)
        m, v = dist.stats(moments="mv")
        return np.array([(float(m) - mean) / sd, (np.sqrt(float(v)) - sd) / sd])

    fit = optimize.least_squares(residuals, x0=np.array([mean, np.log(sd)]), method="lm",
                                 xtol=1e-12, ftol=1e-12)
    if not np.all(np.abs(residuals(fit.x)) < MOMENT_TOL):
        raise DataError(f"{where}: no normal truncated to [{lo:g}, {hi:g}] has mean {mean:g} "
                        f"and SD {sd:g} (the SD is too large for the room the range leaves "
                        "around the mean); check the summary, or leave out min / max")
    return float(fit.x[0]), float(np.exp(fit.x[1]))
