"""Runner for ``family = "cima"``: CIMA-AgD transport of a parametric CATE to a target.

Spec keys (declared in :data:`bayes_hte.runners.schema.SCHEMA`)::

    [data]
    source = "dataset:sglt2_hf"      # or "simulate:shi_cima" (any source whose object has
                                     #   .effects, .covariates, .target)
    # or, instead of source, three CSV files (paths relative to the spec):
    # effects = "effects.csv"; covariates = "covariates.csv"; target = "target.csv"
    # target_corr = "corr.csv"       # for a summary target (covariate, mean, sd)
    # base = "base.csv"              # optional base sample rows

    [model]
    family = "cima"
    cate = "~ lvef + prehhf + diabetes"
    tilting = "~ lvef + I(lvef^2) + prehhf + diabetes"    # optional (default: means + squares)
    weights = "reference"            # | "inverse_variance"
    steps = 1                        # | 2
    representer = "reported"         # | "tilted"
    correlation = "reference"        # | "paper"
    target_n = 50000
    target_method = "sobol"          # | "scrambled_sobol" | "random"
    seed = 1                         # for scrambled_sobol / random
    ci_prob = 0.95

    [model.joint_subgroups]          # optional: joint subgroups in the target
    lvef = ["<=40", ">40"]
    prehhf = [0, 1]

Outputs in ``[output].dir``: ``summary.csv`` (target ATE + CATE coefficients),
``vcov.csv``, ``subgroups.csv`` (reported strata in the target), ``joint_subgroups.csv``,
``moments.csv`` (reported vs fitted moments), ``tilting.csv`` and ``report.md``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bayes_hte.comparators.cima import CIMAResult, cima
from bayes_hte.runners.base import Runner, load_frame
from bayes_hte.runners.schema import SpecError, required

#: The inputs of CIMA-AgD (a source object's attributes, or files).
INPUTS = ("effects", "covariates", "target")


def _read(path: str, spec_dir: Path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_absolute():
        p = spec_dir / p
    if not p.exists():
        raise SpecError(f"[data] file {str(p)!r} does not exist")
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)


def load_inputs(data: dict, *, spec_dir: Path) -> dict:
    """``effects``, ``covariates``, ``target`` (and ``base``, ``target_corr``) of a spec.

    Parameters
    ----------
    data : dict
        The spec's ``[data]`` table: a ``source`` whose object has ``effects``,
        ``covariates`` and ``target`` (e.g. ``"dataset:sglt2_hf"``), or the three CSV /
        Parquet files; optionally ``base`` and ``target_corr`` files.
    spec_dir : pathlib.Path
        Folder of the spec (relative file paths).

    Returns
    -------
    dict
        Keyword arguments of :func:`bayes_hte.comparators.cima.cima`.

    Raises
    ------
    SpecError
        A source without the three inputs, neither a source nor the files, or a
        missing file.
    """
    if data.get("source"):
        obj = load_frame(data, spec_dir=spec_dir)
        missing = [a for a in INPUTS if not hasattr(obj, a)]
        if missing:
            raise SpecError(f"[data] source {data['source']!r} gives no {missing}; the cima "
                            "family needs effects, covariates and a target")
        out = {k: getattr(obj, k) for k in INPUTS}
    else:
        missing = [k for k in INPUTS if k not in data]
        if missing:
            raise SpecError(f"[data] needs 'source', or the files {missing}")
        out = {k: _read(data[k], spec_dir) for k in INPUTS}
    if "base" in data:
        out["base"] = _read(data["base"], spec_dir)
    if "target_corr" in data:
        corr = _read(data["target_corr"], spec_dir)
        out["target_corr"] = corr.set_index(corr.columns[0])
    return out


class CIMARunner(Runner):
    """``bayes-hte run`` for CIMA-AgD (:func:`bayes_hte.comparators.cima.cima`)."""

    family = "cima"

    def load(self) -> dict:
        """The inputs of :func:`~bayes_hte.comparators.cima.cima` (see :func:`load_inputs`).

        Returns
        -------
        dict
            Keyword arguments of ``cima``.

        Raises
        ------
        SpecError
            No ``cate`` in ``[model]``, or as :func:`load_inputs`.
        """
        for key in required(self.family, "model"):
            if key not in self.tables["model"]:
                raise SpecError(f"[model] needs {key!r}, e.g. cate = \"~ x1 + x2\"")
        return load_inputs(self.tables["data"], spec_dir=self.spec_dir)

    def fit(self, inputs: dict) -> CIMAResult:
        """Fit CIMA-AgD with the options of ``[model]``.

        Parameters
        ----------
        inputs : dict
            Keyword arguments of ``cima`` (:meth:`load`); ``effects``, ``covariates``
            and ``target`` are passed by position.

        Returns
        -------
        CIMAResult
            The fit.
        """
        options = {k: v for k, v in self.tables["model"].items()
                   if k not in ("family", "joint_subgroups")}
        self.log(f"cima: {len(inputs['effects'])} reported effects, CATE {options['cate']}")
        inputs = dict(inputs)
        return cima(inputs.pop("effects"), inputs.pop("covariates"), inputs.pop("target"),
                    **inputs, **options)

    def write(self, inputs: dict, results: CIMAResult) -> None:
        """The tables (CSV), the joint subgroups in the target and ``report.md``.

        Parameters
        ----------
        inputs : dict
            The inputs of ``cima`` (:meth:`load`; not used: the fit carries its options).
        results : CIMAResult
            The fit (:meth:`fit`).
        """
        fit, outdir = results, self.outdir
        fit.summary().rename_axis("term").to_csv(outdir / "summary.csv")
        fit.vcov.to_csv(outdir / "vcov.csv", index_label="term")
        fit.subgroups.to_csv(outdir / "subgroups.csv", index=False)
        fit.moments.to_csv(outdir / "moments.csv", index=False)
        fit.tilting.to_csv(outdir / "tilting.csv")
        lo, hi = fit.ate.ci
        lines = [
            "# CIMA-AgD", "",
            f"- CATE: `{fit.options['cate']}`; tilting: `{fit.options['tilting']}`",
            f"- target: {fit.options['target']}; base sample: {fit.options['base']}",
            f"- options: weights={fit.options['weights']}, steps={fit.options['steps']}, "
            f"representer={fit.options['representer']}, "
            f"correlation={fit.options['correlation']}",
            "", f"**Target ATE: {fit.ate.estimate:.4f} (SE {fit.ate.se:.4f}; "
            f"{100 * fit.ci_prob:.0f}% CI {lo:.4f} to {hi:.4f})**", "",
            "## CATE coefficients", "", fit.coef.to_string(), "",
            "## Reported strata in the target", "", fit.subgroups.to_string(index=False),
        ]
        self.log(f"cima: target ATE {fit.ate.estimate:.4f} ({lo:.4f}, {hi:.4f})")
        joint = self.tables["model"].get("joint_subgroups")
        if joint:
            tab = fit.subgroup_effects(joint)
            tab.to_csv(outdir / "joint_subgroups.csv", index=False)
            lines += ["", "## Joint subgroups in the target", "", tab.to_string(index=False)]
        (outdir / "report.md").write_text("\n".join(lines) + "\n")


#: The family's entry point ``run(spec, outdir, log)`` (:data:`bayes_hte.runners.FAMILIES`).
run = CIMARunner.main
