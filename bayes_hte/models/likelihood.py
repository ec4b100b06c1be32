r"""Observed binary and binomial outcomes on the log-odds scale, with a lean log density.

PyMC's ``Bernoulli(logit_p=l)`` evaluates :math:`\log p` and :math:`\log(1 - p)` of
:math:`p = \mathrm{expit}(l)` for every patient, keeps the branch that :math:`y` selects,
and checks :math:`0 \le p \le 1` by computing :math:`p` once more; with their gradients
that is several ``exp``/``log1p`` per patient and draw. The same log density is

.. math::

    \log p(y \mid l) = y\,l - \log(1 + e^{l}) = y\,l - \mathrm{softplus}(l),
    \qquad y \in \{0, 1\},

one softplus and, in the gradient :math:`y - \mathrm{expit}(l)`, one exponential more.
For :math:`k` events in :math:`n` trials,

.. math::

    \log p(k \mid n, l) = \log\binom{n}{k} + k\,l - n\,\mathrm{softplus}(l).

These are exact identities, so the posterior, the pointwise log likelihood (LOO) and
the posterior predictive draws are those of the plain distributions; only the work per
gradient changes (``docs/performance.md``, item 11: one gradient costs 0.53-0.68 times
PyMC's for the demo's ten IPD-MA models, 2,800 patients). The observed variables are
PyMC ``CustomDist`` s whose random draws are the plain ``Bernoulli`` / ``Binomial``
ones (so posterior predictive sampling compiles in every PyTensor mode) and whose log
density is the one above.
The outcomes are checked before they reach here (``IPDData`` takes 0/1 outcomes only),
so the log density need not test its value's support.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

#: Class names of the observed variables (``type(rv.owner.op).__name__``).
BERNOULLI_LOGIT, BINOMIAL_LOGIT = "BernoulliLogit", "BinomialLogit"
#: Position of the log-odds among each variable's distribution parameters.
_LOGIT_PARAM = {BERNOULLI_LOGIT: 0, BINOMIAL_LOGIT: 1}


def _bernoulli_logit_logp(value, logit_p):
    return value * logit_p - pt.softplus(logit_p)


def _bernoulli_logit_dist(logit_p, size):
    return pm.Bernoulli.dist(logit_p=logit_p, size=size)


def _binomial_logit_logp(value, n, logit_p):
    log_choose = pt.gammaln(n + 1) - pt.gammaln(value + 1) - pt.gammaln(n - value + 1)
    return log_choose + value * logit_p - n * pt.softplus(logit_p)


def _binomial_logit_dist(n, logit_p, size):
    return pm.Binomial.dist(n=n, logit_p=logit_p, size=size)


def bernoulli_logit(name: str, logit_p: pt.TensorVariable, *,
                    observed: np.ndarray | pt.TensorVariable,
                    dims: str | Sequence[str] | None = None) -> pt.TensorVariable:
    r"""Observed :math:`y \sim \mathrm{Bernoulli}(\mathrm{expit}\,l)` with log density
    :math:`y\,l - \mathrm{softplus}(l)` (module docstring).

    Must be called inside a ``pymc.Model``.

    Parameters
    ----------
    name : str
        Name of the observed variable.
    logit_p : pytensor.tensor.TensorVariable
        Log-odds :math:`l` of each observation, shape as ``observed``.
    observed : array-like or pytensor.tensor.TensorVariable
        0/1 outcomes (integer).
    dims : str or sequence of str, optional
        Dims of the variable.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The observed variable (integer draws; same log density, pointwise log likelihood
        and posterior predictive distribution as ``pm.Bernoulli(logit_p=logit_p)``).
    """
    return pm.CustomDist(name, logit_p, dist=_bernoulli_logit_dist,
                         logp=_bernoulli_logit_logp, class_name=BERNOULLI_LOGIT,
                         observed=observed, dims=dims)


def binomial_logit(name: str, n: np.ndarray | pt.TensorVariable, logit_p: pt.TensorVariable,
                   *, observed: np.ndarray | pt.TensorVariable,
                   dims: str | Sequence[str] | None = None) -> pt.TensorVariable:
    r"""Observed :math:`k \sim \mathrm{Binomial}(n, \mathrm{expit}\,l)` with log density
    :math:`\log\binom{n}{k} + k\,l - n\,\mathrm{softplus}(l)` (module docstring).

    Must be called inside a ``pymc.Model``.

    Parameters
    ----------
    name : str
        Name of the observed variable.
    n : array-like or pytensor.tensor.TensorVariable
        Number of trials (patients) per observation, integer.
    logit_p : pytensor.tensor.TensorVariable
        Log-odds :math:`l` per observation.
    observed : array-like or pytensor.tensor.TensorVariable
        Events per observation, integers in :math:`[0, n]`.
    dims : str or sequence of str, optional
        Dims of the variable.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The observed variable (same log density, pointwise log likelihood and posterior
        predictive distribution as ``pm.Binomial(n=n, logit_p=logit_p)``).
    """
    return pm.CustomDist(name, n, logit_p, dist=_binomial_logit_dist,
                         logp=_binomial_logit_logp, class_name=BINOMIAL_LOGIT,
                         observed=observed, dims=dims)


def event_probability(rv: pt.TensorVariable) -> pt.TensorVariable | None:
    r"""The event probability :math:`\mathrm{expit}(l)` of an observed variable made by
    :func:`bernoulli_logit` or :func:`binomial_logit`, as a graph of its parameters.

    Parameters
    ----------
    rv : pytensor.tensor.TensorVariable
        A model's observed random variable.

    Returns
    -------
    pytensor.tensor.TensorVariable or None
        Same shape as ``rv``; ``None`` when ``rv`` was not made by this module.
    """
    node = rv.owner
    at = _LOGIT_PARAM.get(type(node.op).__name__) if node is not None else None
    return None if at is None else pt.sigmoid(node.op.dist_params(node)[at])
