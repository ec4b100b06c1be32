"""Runner for ``family = "cima"``: CIMA-AgD transport of a parametric CATE to a target.

Spec keys::

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

from bayes_hte.comparators.cima import cima
from bayes_hte.spec import SpecError, load_frame

OPTION_KEYS = {"cate", "tilting", "weights", "steps", "representer", "correlation",
               "target_n", "target_method", "seed", "ci_prob"}


def _read(path: str, spec_dir: Path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_absolute():
        p = spec_dir / p
    if not p.exists():
        raise SpecError(f"[data] file {str(p)!r} does not exist")
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)


def load_inputs(spec: dict) -> dict:
    """``effects``, ``covariates``, ``target`` (and ``base``, ``target_corr``) of a spec."""
    data = spec["data"]
    spec_dir = Path(spec.get("_path", ".")).parent
    if data.get("source"):
        obj = load_frame(data, spec_dir=spec_dir)
        missing = [a for a in ("effects", "covariates", "target") if not hasattr(obj, a)]
        if missing:
            raise SpecError(f"[data] source {data['source']!r} gives no {missing}; the cima "
                            "family needs effects, covariates and a target")
        out = {"effects": obj.effects, "covariates": obj.covariates, "target": obj.target}
    else:
        missing = [k for k in ("effects", "covariates", "target") if k not in data]
        if missing:
            raise SpecError(f"[data] needs 'source', or the files {missing}")
        out = {k: _read(data[k], spec_dir) for k in ("effects", "covariates", "target")}
    if "base" in data:
        out["base"] = _read(data["base"], spec_dir)
    if "target_corr" in data:
        corr = _read(data["target_corr"], spec_dir)
        out["target_corr"] = corr.set_index(corr.columns[0])
    return out


def run(spec: dict, outdir: Path, log) -> None:
    model = {k: v for k, v in spec["model"].items() if k != "family"}
    joint = model.pop("joint_subgroups", None)
    unknown = set(model) - OPTION_KEYS
    if unknown:
        raise SpecError(f"[model] has unknown keys {sorted(unknown)} for family 'cima'; "
                        f"allowed: {sorted(OPTION_KEYS | {'joint_subgroups'})}")
    if "cate" not in model:
        raise SpecError("[model] needs 'cate', e.g. cate = \"~ x1 + x2\"")
    inputs = load_inputs(spec)
    log(f"cima: {len(inputs['effects'])} reported effects, CATE {model['cate']}")
    fit = cima(inputs.pop("effects"), inputs.pop("covariates"), inputs.pop("target"),
               **inputs, **model)
    fit.summary().rename_axis("term").to_csv(outdir / "summary.csv")
    fit.vcov.to_csv(outdir / "vcov.csv")
    fit.subgroups.to_csv(outdir / "subgroups.csv", index=False)
    fit.moments.to_csv(outdir / "moments.csv", index=False)
    fit.tilting.to_csv(outdir / "tilting.csv")
    lo, hi = fit.ate.ci
    lines = [
        "# CIMA-AgD", "",
        f"- CATE: `{fit.options['cate']}`; tilting: `{fit.options['tilting']}`",
        f"- target: {fit.options['target']}; base sample: {fit.options['base']}",
        f"- options: weights={fit.options['weights']}, steps={fit.options['steps']}, "
        f"representer={fit.options['representer']}, correlation={fit.options['correlation']}",
        "", f"**Target ATE: {fit.ate.estimate:.4f} (SE {fit.ate.se:.4f}; "
        f"{100 * fit.ci_prob:.0f}% CI {lo:.4f} to {hi:.4f})**", "",
        "## CATE coefficients", "", fit.coef.to_string(), "",
        "## Reported strata in the target", "", fit.subgroups.to_string(index=False),
    ]
    log(f"cima: target ATE {fit.ate.estimate:.4f} ({lo:.4f}, {hi:.4f})")
    if joint:
        tab = fit.subgroup_effects(joint)
        tab.to_csv(outdir / "joint_subgroups.csv", index=False)
        lines += ["", "## Joint subgroups in the target", "", tab.to_string(index=False)]
    (outdir / "report.md").write_text("\n".join(lines) + "\n")
