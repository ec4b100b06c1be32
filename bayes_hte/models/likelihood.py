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

Both the softplus and its derivative :math:`\mathrm{expit}(l)` are computed here from
the one exponential :math:`e = \exp(-|l|)`,

.. math::

    \mathrm{softplus}(l) = \max(l, 0) + \log(1 + e), \qquad
    \mathrm{expit}(l) = \begin{cases} 1 / (1 + e) & l \ge 0 \\
                                        e / (1 + e) & l < 0, \end{cases}

as the two outputs of one PyTensor scalar operation (:data:`softplus_expit`), whose
gradient takes the second output of the node that computed the first: one exponential
per patient for the log density and its gradient (``docs/performance.md``, item 17).
It is an operation of its own, not a graph of ``exp`` and ``log1p``, because PyTensor
rewrites :math:`\log(1 + \exp(\cdot))` back into its ``softplus``, which takes one
exponential for the value and, through ``sigmoid``, another for the gradient. Neither
output overflows for any finite :math:`l`.

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

import math
from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.link.numba.dispatch import basic as _numba_basic
from pytensor.link.numba.dispatch.scalar import register_scalar_funcify, scalar_op_cache_key
from pytensor.scalar.basic import ScalarOp, float64, upgrade_to_float_no_complex
from pytensor.tensor.elemwise import Elemwise

#: Class names of the observed variables (``type(rv.owner.op).__name__``).
BERNOULLI_LOGIT, BINOMIAL_LOGIT = "BernoulliLogit", "BinomialLogit"
#: Position of the log-odds among each variable's distribution parameters.
_LOGIT_PARAM = {BERNOULLI_LOGIT: 0, BINOMIAL_LOGIT: 1}


def softplus_expit_numpy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\mathrm{softplus}(x)` and :math:`\mathrm{expit}(x)` from one
    :math:`e = e^{-|x|}`, in NumPy's functions: what PyTensor's Python linker calls for
    :data:`softplus_expit` (its ``nfunc_spec``).

    Parameters
    ----------
    x : array-like
        Log-odds, any shape.

    Returns
    -------
    tuple of numpy.ndarray
        :math:`\max(x, 0) + \log(1 + e)` and :math:`1/(1 + e)` (:math:`x \ge 0`) or
        :math:`e/(1 + e)` (:math:`x < 0`), each the shape of ``x``; finite for every
        finite ``x``.
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.maximum(x, 0) + np.log1p(e), np.where(x >= 0, 1.0, e) / (1.0 + e)


def _softplus_expit_scalar(x: float) -> tuple[float, float]:
    """:func:`softplus_expit_numpy` for one float: the Python implementation of
    :data:`softplus_expit` and, compiled by numba, its numba implementation."""
    e = math.exp(-abs(x))
    return max(x, 0.0) + math.log1p(e), (1.0 if x >= 0 else e) / (1.0 + e)


def _two_floats(*types):
    (out,) = upgrade_to_float_no_complex(*types)
    return out, out


class _SoftplusExpit(ScalarOp):
    r"""Two outputs of one input :math:`x`: :math:`\log(1 + e^x)` and
    :math:`1 / (1 + e^{-x})`, both from :math:`e = e^{-|x|}` (module docstring).

    The second output is the derivative of the first, so the gradient of a log density
    that uses the softplus reads it from the node that computed the softplus: no
    exponential more, wherever PyTensor places the gradient's loop.
    """

    nin = 1
    nout = 2
    nfunc_spec = ("bayes_hte.models.likelihood.softplus_expit_numpy", 1, 2)

    def impl(self, x):
        return _softplus_expit_scalar(x)

    def pullback(self, inp, outputs, grads):
        (x,), (_, p), (g_softplus, g_expit) = inp, outputs, grads
        terms = []
        if not isinstance(g_softplus.type, DisconnectedType):
            terms.append(g_softplus * p)
        if not isinstance(g_expit.type, DisconnectedType):
            terms.append(g_expit * p * (1.0 - p))
        if not terms:
            return [x.zeros_like()]
        return [terms[0] if len(terms) == 1 else terms[0] + terms[1]]

    def c_code(self, node, name, inp, out, sub):
        (x,), (z_softplus, z_expit) = inp, out
        ct = "double" if node.outputs[0].type == float64 else "float"
        return (f"{{ {ct} e_ = exp(-fabs(({ct}){x})); "
                f"{z_softplus} = fmax(({ct}){x}, ({ct})0) + log1p(e_); "
                f"{z_expit} = ({x} >= 0 ? ({ct})1 : e_) / (({ct})1 + e_); }}")

    def c_code_cache_version(self):
        return (1,)


#: Element-wise :math:`(\mathrm{softplus}(x), \mathrm{expit}(x))` of a float tensor,
#: each the shape and float dtype of ``x``, both from one :math:`e^{-|x|}`; the
#: gradient of the first output is the second (module docstring).
softplus_expit = Elemwise(_SoftplusExpit(_two_floats, name="softplus_expit"))


def softplus(x: pt.TensorLike) -> pt.TensorVariable:
    r""":math:`\log(1 + e^x)`, element-wise: the first output of :data:`softplus_expit`,
    whose gradient is the second output of the same node.

    Parameters
    ----------
    x : pytensor.tensor.TensorLike
        Float tensor (log-odds), any shape.

    Returns
    -------
    pytensor.tensor.TensorVariable
        Same shape and float dtype as ``x``.
    """
    return softplus_expit(x)[0]


@register_scalar_funcify(_SoftplusExpit)
def _numba_softplus_expit(op, node, **kwargs):
    return (_numba_basic.numba_njit(_softplus_expit_scalar),
            scalar_op_cache_key(op, cache_version=1))


def register_jax() -> None:
    """Give :data:`softplus_expit` its JAX implementation (``jax.nn.softplus``,
    ``jax.nn.sigmoid``), for graphs compiled by PyTensor's JAX linker
    (``fit(sampler="nutpie_jax")`` calls it). Imports JAX; calling it again does nothing.

    Raises
    ------
    ImportError
        JAX is not installed.
    """
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    if _SoftplusExpit in jax_funcify.registry:
        return

    @jax_funcify.register(_SoftplusExpit)
    def _jax_softplus_expit(op, **kwargs):
        def softplus_expit(x):
            return jax.nn.softplus(x), jax.nn.sigmoid(x)

        return softplus_expit


def _bernoulli_logit_logp(value, logit_p):
    return value * logit_p - softplus(logit_p)


def _bernoulli_logit_dist(logit_p, size):
    return pm.Bernoulli.dist(logit_p=logit_p, size=size)


def _binomial_logit_logp(value, n, logit_p):
    log_choose = pt.gammaln(n + 1) - pt.gammaln(value + 1) - pt.gammaln(n - value + 1)
    return log_choose + value * logit_p - n * softplus(logit_p)


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
