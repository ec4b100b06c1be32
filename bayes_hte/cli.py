"""Command line: ``bayes-hte run models/<name>.toml`` and
``bayes-hte study models/studies/<name>.toml``."""

from __future__ import annotations

import argparse
import sys

import matplotlib

from bayes_hte.errors import DataError
from bayes_hte.estimators.base import PACKAGE_VERSION
from bayes_hte.runners.sbc import run_sbc
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import run_spec, run_study_spec

#: What ``bayes-hte --help`` says first.
DESCRIPTION = ("Bayesian heterogeneous treatment effects from several randomized trials. "
               "bayes-hte run <spec.toml> runs an analysis (models/<name>.toml), "
               "bayes-hte study <spec.toml> a Monte Carlo simulation study "
               "(models/studies/<name>.toml), bayes-hte sbc <families> the "
               "simulation-based calibration of the model families.")


def _print(msg: str) -> None:
    print(msg, flush=True)


def _count(text: str, *, low: int = 0) -> int:
    """An integer option of at least ``low`` (argparse names the option on error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """An integer option of at least 1."""
    return _count(text, low=1)


def main(argv: list[str] | None = None) -> int:
    """The ``bayes-hte`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``), e.g.
        ``["run", "models/ipdma_binary_demo.toml", "--out", "results/demo"]`` or
        ``["study", "models/studies/bayes_meta_coverage.toml", "--workers", "2"]``.

    Returns
    -------
    int
        Exit code: 0 on success, 2 when the spec or the data are wrong (the message is
        printed to stderr).
    """
    parser = argparse.ArgumentParser(
        prog="bayes-hte", description=DESCRIPTION,
        epilog="Each command has its own --help, e.g. bayes-hte run --help.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {PACKAGE_VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an analysis spec (TOML): fit its models and "
                         "write tables, figures and a report",
                         description="Run the analysis a TOML spec describes, e.g. "
                         "bayes-hte run models/ipdma_binary_demo.toml.")
    run.add_argument("spec", help="path to a TOML spec, e.g. models/ipdma_binary_demo.toml")
    run.add_argument("--out", default=None, help="output folder (default: the spec's [output].dir)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="live progress bar of each fit (default: when run in a terminal)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the results of a finished run in the output folder "
                     "(default: refuse; an interrupted run is resumed)")
    study = sub.add_parser("study", help="run a Monte Carlo simulation study (TOML study "
                           "spec); resumes from its store")
    study.add_argument("spec", help="path to a study spec, e.g. "
                       "models/studies/berenfeld2026_coverage.toml")
    study.add_argument("--workers", type=_positive_int, default=1,
                       help="Dask worker processes on this machine (default 1: in process)")
    study.add_argument("--scheduler", default=None,
                       help="address of a running Dask scheduler, e.g. tcp://host:8786")
    study.add_argument("--replicates", type=_positive_int, default=None,
                       help="replicates per scenario (default: the spec's [study].replicates)")
    study.add_argument("--store", default=None,
                       help="results store folder (default: the spec's [output].store)")
    study.add_argument("--out", default=None,
                       help="output folder (default: the spec's [output].dir)")
    study.add_argument("--overwrite", action="store_true",
                       help="discard stored results of a changed study definition")
    cal = sub.add_parser("sbc", help="simulation-based calibration of model families; "
                         "resumes from its store")
    cal.add_argument("families", nargs="*",
                     help="family prefixes or model names, e.g. ipdma/binary synthesis "
                     "(default: every model)")
    cal.add_argument("--simulations", type=_positive_int, default=200,
                     help="simulations per model")
    cal.add_argument("--workers", type=_positive_int, default=1, help="Dask worker processes")
    cal.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    cal.add_argument("--store", default="results/sbc/store", help="resumable results store")
    cal.add_argument("--out", default="results/sbc", help="folder of the tables and figures")
    cal.add_argument("--seed", type=_count, default=2026, help="master seed (an integer >= 0)")
    cal.add_argument("--overwrite", action="store_true",
                     help="discard a store holding another definition")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")   # figures are written to files only
    try:
        if args.command == "run":
            run_spec(args.spec, log=_print, outdir=args.out, overwrite=args.overwrite,
                     progress=args.progress)
        elif args.command == "sbc":
            run_sbc(args.families, simulations=args.simulations, workers=args.workers,
                    scheduler=args.scheduler, store=args.store, out=args.out, seed=args.seed,
                    overwrite=args.overwrite, log=_print)
        else:
            run_study_spec(args.spec, log=_print, outdir=args.out, workers=args.workers,
                           scheduler=args.scheduler, replicates=args.replicates,
                           store=args.store, overwrite=args.overwrite)
    except (SpecError, DataError) as err:
        print(f"bayes-hte: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback through the sampler
        kept = "the models fitted" if args.command == "run" else "the replicates stored"
        print(f"bayes-hte: interrupted; {kept} so far are kept: rerun the same command to "
              "resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
