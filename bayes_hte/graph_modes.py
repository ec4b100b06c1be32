"""How the per-draw helper functions are evaluated: NumPy's functions or compiled code.

The pointwise log likelihood and the posterior predictive draws evaluate a graph once
per draw over every observation unit. PyTensor's Python linker (``FAST_COMPILE``)
compiles nothing and calls NumPy's functions on whole arrays, unless an element-wise
operation has no NumPy function, which it then calls once per element. These functions
find such operations, rewrite the one PyMC's own logit densities use (PyTensor's
softplus; the package's logit likelihoods have their own, with a NumPy function), and
choose the mode (``docs/performance.md``, items 3 and 12).
"""

from __future__ import annotations

from collections.abc import Sequence

from pytensor.graph.basic import Variable

#: Observation units up to which the per-draw helper functions (the pointwise log
#: likelihood, the posterior predictive draws) run in PyTensor's ``FAST_COMPILE`` mode
#: (NumPy, nothing compiled) when every element-wise operation of their graph has a
#: NumPy or SciPy function: on the demo's 2,800 patients x 4,000 draws this took
#: 0.9-1.4 s per model against 1.7-4.2 s for the numba-compiled functions with empty
#: caches, same values (``docs/performance.md``). Above it the compiled functions'
#: faster calls win.
FAST_COMPILE_MAX_UNITS = 50_000


def python_loop_ops(outputs: Sequence[Variable]) -> list[str]:
    """The element-wise operations of a graph that PyTensor's Python linker (the
    ``FAST_COMPILE`` mode) evaluates with a Python call per element.

    PyTensor's ``Elemwise.perform`` calls the NumPy or SciPy function named by the
    operation's ``nfunc_spec`` (e.g. ``scipy.special.expit`` for the sigmoid), folds
    variadic additions and products and casts with NumPy, and otherwise wraps the
    scalar operation's Python ``impl`` in ``numpy.frompyfunc``: one Python call per
    element and draw. PyTensor's ``softplus`` is such an operation: evaluated so, the
    demo's pointwise log likelihood of 2,800 patients x 4,000 draws took 12 s per model
    against 3.2 s compiled by numba with empty caches (the logit likelihoods now use
    their own softplus, which has a NumPy function: :mod:`bayes_hte.models.likelihood`).

    Parameters
    ----------
    outputs : sequence of pytensor.graph.basic.Variable
        Outputs of the graph (its ancestors are searched).

    Returns
    -------
    list of str
        The names of those operations (e.g. ``["Softplus"]``), sorted, each once;
        empty when every element-wise operation has a vectorised implementation.
    """
    from pytensor.graph.traversal import applys_between
    from pytensor.scalar import Add, Cast, Mul
    from pytensor.tensor.elemwise import Elemwise

    names = set()
    for node in applys_between([], list(outputs)):
        op = node.op
        if not isinstance(op, Elemwise) or isinstance(op.scalar_op, Add | Mul | Cast):
            continue
        spec = op.nfunc_spec
        if spec is None or spec[1] != len(node.inputs):
            names.add(str(op.scalar_op))
    return sorted(names)


def numpy_evaluable(outputs: Sequence[Variable]) -> list[Variable]:
    """The graph of ``outputs`` with each softplus written in NumPy's functions, for the
    values (not the gradient) of a helper function in ``FAST_COMPILE`` mode.

    ``softplus(x) = log(1 + exp(x))`` has no NumPy function, so PyTensor's Python linker
    evaluates it element by element (:func:`python_loop_ops`); here it becomes
    ``max(x, 0) + log1p(exp(-|x|))``, the same value to rounding, without overflow for
    any ``x``. On the demo's fully stratified S-learner (2,800 patients x 4,000 draws)
    the pointwise log likelihood took 1.9-2.2 s so, against 9.4 s with the softplus
    evaluated per element and 5.2 s compiled by numba with empty caches; largest
    difference 1.3e-15.

    Parameters
    ----------
    outputs : sequence of pytensor.graph.basic.Variable
        Outputs of the graph.

    Returns
    -------
    list of pytensor.graph.basic.Variable
        The outputs of the rewritten graph (the same variables when there is no
        softplus).
    """
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import applys_between
    from pytensor.scalar.math import Softplus
    from pytensor.tensor.elemwise import Elemwise

    replace = {}
    for node in applys_between([], list(outputs)):
        if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Softplus):
            x = node.inputs[0]
            replace[node.outputs[0]] = pt.maximum(x, 0) + pt.log1p(pt.exp(-pt.abs(x)))
    if not replace:
        return list(outputs)
    return list(graph_replace(list(outputs), replace, strict=False))


def helper_mode(units: int, *, outputs: Sequence[Variable] = ()) -> str | None:
    """PyTensor mode of a per-draw helper function over ``units`` observation units:
    ``"FAST_COMPILE"`` up to :data:`FAST_COMPILE_MAX_UNITS` when no element-wise
    operation of ``outputs`` would run as a Python loop (:func:`python_loop_ops`), else
    ``None`` (the default mode, numba).

    Parameters
    ----------
    units : int
        Observation units (patients) the function evaluates per draw.
    outputs : sequence of pytensor.graph.basic.Variable, optional
        The function's outputs (for a posterior predictive function, the observed
        random variables); empty: only ``units`` decides.

    Returns
    -------
    str or None
        A mode for ``pytensor.function`` / ``compile_kwargs``.
    """
    if units > FAST_COMPILE_MAX_UNITS or python_loop_ops(outputs):
        return None
    return "FAST_COMPILE"
