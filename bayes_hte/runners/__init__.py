"""Runners behind ``bayes-hte run``: one module per model family on one skeleton.

* :mod:`~bayes_hte.runners.schema` declares every spec key once (tables, keys, defaults)
  and checks a spec against it; :class:`~bayes_hte.runners.schema.SpecError`;
* :mod:`~bayes_hte.runners.base` holds the runner skeleton
  (:class:`~bayes_hte.runners.base.Runner`: check → load → fit → write → report) and
  the data sources (:func:`~bayes_hte.runners.base.load_frame`);
* one module per family: a ``Runner`` subclass and ``run = <Subclass>.main``, the
  function ``run(spec, outdir, log)``.

To add a family: declare its tables in :data:`bayes_hte.runners.schema.SCHEMA`, write
``runners/<family>.py`` with a :class:`~bayes_hte.runners.base.Runner` subclass (its
``load``, ``fit`` and ``write`` steps) and ``run``, and register it in :data:`FAMILIES`.
The family modules are imported when a spec of theirs runs
(:func:`bayes_hte.spec.run_spec`), not with this package.
"""

#: family name -> ``"module:function"`` of its runner (imported when a spec runs).
FAMILIES: dict[str, str] = {
    "ipdma": "bayes_hte.runners.ipdma:run",
    "cima": "bayes_hte.runners.cima:run",
    "two_step": "bayes_hte.runners.two_step:run",
    "subgroup": "bayes_hte.runners.subgroup:run",
    "meta_analysis": "bayes_hte.runners.meta_analysis:run",
}

__all__ = ["FAMILIES"]
