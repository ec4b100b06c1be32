"""Runners behind ``bayes-hte run``: one module per model family, each with
``run(spec: dict, outdir: pathlib.Path, log: Callable[[str], None]) -> None``.
Register a new family in :data:`bayes_hte.spec.FAMILIES`."""
