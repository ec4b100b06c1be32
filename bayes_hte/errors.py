"""Exceptions and warnings raised by bayes_hte."""

from __future__ import annotations

from collections.abc import Iterable


class DataError(ValueError):
    """Bad input data.

    The message always names the offending column, study or row and says what to do.
    Nothing is silently dropped or coerced: when data cannot be used as given,
    this error is raised instead.
    """


class DataWarning(UserWarning):
    """Input data that can be used but deserves attention (e.g. a study with no events)."""


class ConvergenceWarning(RuntimeWarning):
    """A fit did not converge: MCMC chains that miss a target, or an iteration that failed.

    Bayesian estimators raise it after ``fit()`` when the sampler reports divergent
    transitions, when a parameter of their ``parameters()`` table has a rank-normalised
    R-hat above 1.01, or a bulk or tail effective sample size below 100 per chain
    (Vehtari et al. 2021); the message names the model, the targets missed and what to
    try. The frequentist comparators raise it when an iterative estimator (the
    :math:`\tau^2` of ``meta_analysis``, ``mvmeta``) did not converge for some
    replicates, whose results are then NaN. Silence it with
    ``warnings.simplefilter("ignore", ConvergenceWarning)``.
    """


class MemoryBudgetError(MemoryError):
    """A requested output would not fit in memory; raised *before* the work starts.

    The message gives the size of the output (e.g. chains x draws x patients x 8 bytes),
    the memory available and what to ask for instead (fewer draws, a chunked summary,
    ``log_likelihood=False``).
    """


class MemoryBudgetWarning(UserWarning):
    """A per-draw x per-patient output was left out by default because of its size."""


def format_rows(index: Iterable, *, limit: int = 5) -> str:
    """Format a few row labels for an error message: ``"rows 3, 17, 20 (and 4 more)"``.

    Parameters
    ----------
    index : iterable
        Labels of the offending rows (a ``pandas.Index``, an array of positions, a list).
    limit : int
        Number of labels written out; the rest are counted.

    Returns
    -------
    str
        ``"row 3"`` for one label, ``"rows 3, 17, 20 (and 4 more)"`` for several.
    """
    labels = [str(i) for i in list(index)]
    head = ", ".join(labels[:limit])
    more = f" (and {len(labels) - limit} more)" if len(labels) > limit else ""
    word = "row" if len(labels) == 1 else "rows"
    return f"{word} {head}{more}"
