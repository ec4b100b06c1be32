"""Every key of an analysis spec (``bayes-hte run``), declared once, and the spec check.

A spec is a TOML file of tables::

    [data]        where the data come from (``source``, ``params``) and column roles
    [model]       ``family`` and the family's options
    [priors]      prior overrides (by structure, by parameter or by model; per family)
    [sampler]     NUTS settings of the Bayesian fits
    [evaluation]  (family ``ipdma``) model comparison and cross-validation
    [output]      ``dir`` and the family's reporting options

A simulation-study spec (``bayes-hte study``, family ``"study"``, runner
:mod:`bayes_hte.runners.study`) has the tables ``[study]``, ``[ademp]``, ``[data]``,
``[scenarios]`` or ``[[scenario]]``, ``[methods.<label>]`` and ``[output]``
(:data:`STUDY_METHOD` lists the keys of a method table besides its kind's options).

:data:`SCHEMA` maps each family to its tables and each table to its keys and their
defaults. A default of :data:`UNSET` means "no default here: the function the value is
passed to applies its own" (the key is then simply not passed on). A table declared as
``None`` takes free keys (e.g. prior overrides by parameter name, checked by the model
factory). :data:`REQUIRED` lists, per family and table, the keys a spec must give; the
family's runner raises for them with a message naming what they mean.

:func:`check_spec` checks a spec against its family's declaration and returns the
tables with the defaults filled in, leaving the spec itself untouched (it is written
back unchanged as ``spec.json``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.options import (
    HETEROGENEITY,
    REPORT_MEASURES,
    check_sampler_settings,
    check_type_of_default,
)


class SpecError(ValueError):
    """An analysis spec that cannot be run as written (names the key)."""


class _Unset:
    """Marker of a key without a default in the schema (see :data:`UNSET`)."""

    def __repr__(self) -> str:
        return "UNSET"


#: Default of a key that is allowed but not filled in: the callee's default applies.
UNSET = _Unset()

#: Sampler settings shared by the Bayesian families (:func:`bayes_hte.inference.fit`).
SAMPLER: dict[str, object] = {
    "draws": 1000, "tune": 1000, "chains": 4, "random_seed": None, "sampler": None,
    "target_accept": UNSET,
}
#: Keys of ``[data]`` every data source understands (:func:`bayes_hte.runners.base.load_frame`).
SOURCE: dict[str, object] = {"source": UNSET, "params": {}}
#: Column roles of an IPD table, in the order of :meth:`bayes_hte.IPDData.from_frame`.
IPD_ROLES: tuple[str, ...] = ("outcome", "treatment", "study", "covariates", "time", "center")

#: Keys of the ``[evaluation]`` table of family ``ipdma``
#: (:func:`bayes_hte.runners.ipdma.evaluate_fitted`).
EVALUATION: dict[str, object] = {
    "compare": False,       # score the fitted models (c-for-benefit, calibration, PAPE, ...)
    "cv": "none",           # "iecv": internal-external cross-validation
    "draws": UNSET,         # IECV fits: bayes_hte.workflows.iecv.IECV_SAMPLER
    "tune": UNSET,
    "chains": UNSET,
    "sampler": UNSET,
    "random_seed": UNSET,   # IECV fits and c-for-benefit matching
    "target_accept": UNSET,
    "mass_matrix": UNSET,   # IECV fits: "auto" (as the main fits), "diag" or "low_rank"
    "workers": 1,           # processes for the IECV fits (nutpie's chains use 2 cores)
    "recalibrate": UNSET,   # intercept recalibration in the held-out trial (default true)
    "groups": 5,            # quantile groups of predicted benefit (calibration)
    "max_draws": 500,       # posterior draws used for the per-draw metrics
    "loo": False,           # LOO rows in the metric table (the runner reports LOO anyway)
}

#: Keys of one ``[methods.<label>]`` table of a study spec, besides the options of its
#: kind (:func:`bayes_hte.studies.methods.method_options`, checked by the study runner).
STUDY_METHOD: dict[str, object] = {
    "kind": UNSET,          # a key of bayes_hte.studies.methods.METHOD_KINDS (required)
    "replicates": UNSET,    # this method's own number of replicates (default [study])
    "chunk": UNSET,         # replicates per task for a method with its own replicates
}
#: Figures a study can draw (``[output].figures``).
STUDY_FIGURES: tuple[str, ...] = ("performance", "zip", "estimates")

#: Column roles of the three inputs of family ``meta_analysis``: 2x2 counts
#: (:meth:`bayes_hte.ArmTable.from_frame`), events and totals per arm
#: (:meth:`bayes_hte.ArmTable.from_events`), effect sizes (:meth:`bayes_hte.EffectTable.
#: from_frame`, with ``vi`` or ``se``).
META_INPUTS: dict[str, tuple[str, ...]] = {
    "counts": ("n11", "n10", "n01", "n00"),
    "events": ("events1", "total1", "events0", "total0"),
    "effects": ("yi", "vi"),
}

#: family -> table -> key -> default (``None`` for a table with free keys).
SCHEMA: dict[str, dict[str, dict[str, object] | None]] = {
    "ipdma": {
        "data": {**SOURCE, **{role: UNSET for role in IPD_ROLES},
                 # aggregate-data trials (bayes_hte.runners.ipd_aggregate): CSV files of
                 # arm counts and covariate summaries, and a target population's summaries
                 "aggregate": UNSET, "aggregate_covariates": UNSET, "target": UNSET},
        "model": {
            "family": "ipdma",
            "heterogeneity": ["random_intercept"],   # one string or a list
            "learner": ["s"],
            "outcome": UNSET,                        # default: the data's outcome type
            "parameterization": "auto",
            # time-to-event options of IPDMetaModel
            "baseline": UNSET, "cuts": UNSET, "n_intervals": UNSET, "horizon": UNSET,
            "integration_points": UNSET,             # with aggregate trials (default 64)
        },
        # overrides by parameter name, per structure or for "all" structures
        "priors": {key: UNSET for key in (*HETEROGENEITY, "all")},
        "sampler": {**SAMPLER, "mass_matrix": "auto"},
        "evaluation": EVALUATION,
        "output": {"dir": UNSET, "ci_prob": 0.95},
    },
    "subgroup": {
        "data": {**SOURCE, **{role: UNSET for role in IPD_ROLES if role != "time"},
                 "truth_logit": UNSET,    # default: column "true_te" when present
                 "truth_rd": UNSET},      # default: column "true_cate" when present
        "model": {
            "family": "subgroup", "subgroups": [], "interactions": UNSET,
            "individual_effects": UNSET, "individual_form": UNSET, "standardize": UNSET,
            "parameterization": UNSET,
        },
        "priors": None,                           # overrides by parameter name
        "sampler": dict(SAMPLER),
        "output": {"dir": UNSET, "ci_prob": 0.95, "risk_groups": 5},
    },
    "two_step": {
        "data": {**SOURCE, "outcome": UNSET, "treatment": UNSET, "study": UNSET,
                 "subject": UNSET, "visit": UNSET, "covariates": [], "reference_visit": None,
                 "missing_outcome": "raise", "center": None},
        "model": {
            "family": "two_step",
            "covariance": "random_intercept",    # step 1 within-participant covariance
            "lmm_method": "REML",                # step 1
            "method": "REML",                    # step 2
            "structure": "compound_symmetry",    # step 2 Omega
            "compare_structures": ["compound_symmetry", "diagonal", "identity"],
            "bayesian": True,
            "bayesian_structure": UNSET,         # default: structure
            "one_stage": False,
            "one_stage_structure": UNSET,        # default: structure
            "one_stage_within": "random_intercept",
            "treatment_by_visit": UNSET, "covariate_by_visit": UNSET,
            "treatment_by_covariate": UNSET,
        },
        "priors": {"synthesis": UNSET, "one_stage": UNSET},  # overrides by parameter name
        "sampler": dict(SAMPLER),
        "output": {"dir": UNSET, "ci_prob": 0.95},
    },
    "cima": {
        "data": {**SOURCE, "effects": UNSET, "covariates": UNSET, "target": UNSET,
                 "target_corr": UNSET, "base": UNSET},
        # options of bayes_hte.comparators.cima.cima (its defaults apply)
        "model": {
            "family": "cima", "cate": UNSET, "tilting": UNSET, "weights": UNSET,
            "steps": UNSET, "representer": UNSET, "correlation": UNSET, "target_n": UNSET,
            "target_method": UNSET, "seed": UNSET, "ci_prob": UNSET,
            "joint_subgroups": UNSET,
        },
        "output": {"dir": UNSET},
    },
    "meta_analysis": {
        # one table per study: 2x2 counts, events / totals per arm, or effect sizes
        "data": {**SOURCE, "study": UNSET,
                 **{role: UNSET for role in META_INPUTS["counts"] + META_INPUTS["events"]
                    + META_INPUTS["effects"]},
                 "se": UNSET,             # instead of vi: standard errors
                 "scale": UNSET},         # of yi: default "log" for measure RR / OR
        "model": {
            "family": "meta_analysis",
            "measure": UNSET,            # counts: "RD" | "RR" | "OR"; effect sizes: a label
            "add": UNSET, "to": UNSET, "drop_double_zero": UNSET,   # ArmTable.effects
            "methods": ["FE", "DL", "REML", "PM", "ML"],
            "hksj": True,                # each random-effects method also with HKSJ
            "pi_type": "metafor",
            "forest": "REML",            # the classical fit of forest.png
            "causal": UNSET,             # measures of the causal estimator (counts: all)
            "causal_variance": "delta",
            "bayesian": True,            # normal-normal random effects (MetaAnalysisModel)
            "tau_prior": "half_normal", "parameterization": "marginal",
            "bayesian_causal": UNSET,    # CausalMetaModel (default: with counts)
            "membership": "random",
            "moderators": [],            # study-level columns: meta-regression per method
        },
        "priors": {"meta": UNSET, "causal": UNSET},   # overrides by parameter name
        "sampler": dict(SAMPLER),
        "output": {"dir": UNSET, "ci_prob": 0.95, "digits": 4},
    },
    # ``bayes-hte study``: a Monte Carlo simulation study (bayes_hte.runners.study)
    "study": {
        "study": {"name": UNSET,          # default: the spec's file name
                  "replicates": UNSET, "seed": UNSET,
                  "chunk": 1,             # replicates per task (raise for fast methods)
                  "ci_prob": 0.95},       # level of every method's interval
        # ADEMP (Morris, White & Crowther 2019): free text, written into the report
        "ademp": {"aims": UNSET, "data": UNSET, "estimands": UNSET, "methods": UNSET,
                  "performance": UNSET},
        "data": {"simulator": UNSET,      # a key of bayes_hte.studies.methods.SIMULATORS
                 "params": {}},           # fixed design parameters
        "scenarios": None,                # factor = [levels]: the full factorial
        "scenario": None,                 # or [[scenario]] tables, one per scenario
        "methods": None,                  # [methods.<label>]: STUDY_METHOD + kind options
        "output": {"dir": UNSET,
                   "store": UNSET,        # default: <dir>/store
                   "measures": list(REPORT_MEASURES),
                   "figures": list(STUDY_FIGURES),
                   "dpi": 80},
    },
}

#: family -> tables given as arrays of tables (``[[name]]``) rather than one table.
TABLE_ARRAYS: dict[str, tuple[str, ...]] = {"study": ("scenario",)}

#: family -> table -> keys the spec must give (the runner raises, naming them).
REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "ipdma": {"data": ("source", "outcome", "treatment")},
    "subgroup": {"data": ("source", "outcome", "treatment")},
    "two_step": {"data": ("outcome", "treatment", "study", "subject", "visit")},
    "cima": {"model": ("cate",)},
    "study": {"study": ("replicates", "seed"), "data": ("simulator",),
              "ademp": ("aims", "data", "estimands", "methods", "performance")},
}

def check_keys(table: Mapping, allowed: Mapping | set, section: str, *, family: str) -> None:
    """Raise :class:`SpecError` naming the keys of ``table`` that are not ``allowed``.

    Parameters
    ----------
    table : mapping
        One table of the spec, e.g. ``spec["sampler"]``.
    allowed : mapping or set
        The allowed keys (a schema table).
    section : str
        The table's name, for the message (``[section]``).
    family : str
        The model family, for the message.

    Raises
    ------
    SpecError
        ``[section] has unknown keys [...] for family '...'; allowed: [...]``.
    """
    unknown = set(table) - set(allowed)
    if unknown:
        raise SpecError(f"[{section}] has unknown keys {sorted(unknown)} for family "
                        f"{family!r}; allowed: {sorted(allowed)}")


def check_value_types(table: Mapping, defaults: Mapping, section: str) -> None:
    """Raise :class:`SpecError` for a value whose type is not its default's.

    A key whose schema default is a bool takes ``true`` / ``false`` only (a string such
    as ``"no"`` would otherwise be read as true), an integer default takes integers, a
    float default numbers; ``ci_prob`` lies in (0, 1) wherever it is given. Keys with
    other defaults (strings, lists, :data:`UNSET`) are checked by the code that reads
    them.

    Parameters
    ----------
    table : mapping
        One table of the spec.
    defaults : mapping
        Its schema table (key -> default).
    section : str
        The table's name, for the message.

    Raises
    ------
    SpecError
        ``[section] key must be ..., got ...``.
    """
    for key, value in table.items():
        # ci_prob is a number wherever it is given, even where the schema has no default
        default = 0.95 if key == "ci_prob" else defaults.get(key, UNSET)
        try:
            check_type_of_default(key, value, default, integers=True)
            if key == "ci_prob":
                check_ci_prob(value, error=ValueError)
        except ValueError as err:
            raise SpecError(f"[{section}] {err}") from None


def required(family: str, section: str) -> tuple[str, ...]:
    """The keys a spec of ``family`` must give in ``[section]``.

    Parameters
    ----------
    family : str
        A key of :data:`SCHEMA`.
    section : str
        A table name.

    Returns
    -------
    tuple of str
        From :data:`REQUIRED` (empty when nothing is required).
    """
    return REQUIRED.get(family, {}).get(section, ())


def check_spec(spec: Mapping, family: str) -> dict[str, dict]:
    """Check every table of a spec against its family's schema; fill in the defaults.

    Parameters
    ----------
    spec : mapping
        The parsed spec (:func:`bayes_hte.spec.load_spec`); keys starting with ``_``
        (e.g. ``_path``) are the loader's and not checked.
    family : str
        The model family (``[model].family``).

    Returns
    -------
    dict of str to dict
        One dict per table of the family: the spec's values, and the schema's default
        for every key not given (keys whose default is :data:`UNSET` are left out);
        a section of :data:`TABLE_ARRAYS` is a list of dicts (empty when not given).
        Copies: changing them does not change ``spec``.

    Raises
    ------
    SpecError
        An unknown family, a table the family does not read, a table that is not a
        table (or an array of tables that is not one), an unknown key, a sampler
        setting of ``[sampler]`` or ``[evaluation]`` outside its values (``draws = "1000"``;
        :func:`bayes_hte.options.check_sampler_settings`), or a value of another type
        than its default's (``hksj = "no"``; :func:`check_value_types`).
    """
    if family not in SCHEMA:
        raise SpecError(f"[model] family {family!r} is unknown; choose one of "
                        f"{sorted(SCHEMA)}")
    tables = SCHEMA[family]
    given = [k for k in spec if not str(k).startswith("_")]
    unknown = set(given) - set(tables)
    if unknown:
        raise SpecError(f"the spec has unknown tables {sorted(unknown)} for family "
                        f"{family!r}; allowed: {sorted(tables)}")
    out: dict[str, dict] = {}
    for section, keys in tables.items():
        if section in TABLE_ARRAYS.get(family, ()):
            rows = spec.get(section, [])
            if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
                raise SpecError(f"[[{section}]] must be an array of tables, got {rows!r}")
            out[section] = copy.deepcopy([dict(r) for r in rows])
            continue
        table = spec.get(section, {})
        if not isinstance(table, Mapping):
            raise SpecError(f"[{section}] must be a table, got {table!r}")
        table = copy.deepcopy(dict(table))
        if keys is not None:
            check_keys(table, keys, section, family=family)
            if section in ("sampler", "evaluation"):
                try:
                    check_sampler_settings(table)
                except ValueError as err:
                    raise SpecError(f"[{section}] {err}") from None
            check_value_types(table, keys, section)
            for key, default in keys.items():
                if key not in table and default is not UNSET:
                    table[key] = copy.deepcopy(default)
        out[section] = table
    return out
