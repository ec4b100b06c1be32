"""Command line: ``bayes-hte run models/<name>.toml``."""

from __future__ import annotations

import argparse
import sys

import matplotlib

from bayes_hte.errors import DataError
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import run_spec


def _print(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    """The ``bayes-hte`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``), e.g.
        ``["run", "models/ipdma_binary_demo.toml", "--out", "results/demo"]``.

    Returns
    -------
    int
        Exit code: 0 on success, 2 when the spec or the data are wrong (the message is
        printed to stderr).
    """
    parser = argparse.ArgumentParser(prog="bayes-hte", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the analysis an analysis spec (TOML) describes")
    run.add_argument("spec", help="path to a TOML spec, e.g. models/ipdma_binary_demo.toml")
    run.add_argument("--out", default=None, help="output folder (default: the spec's [output].dir)")
    args = parser.parse_args(argv)
    if args.command == "run":
        matplotlib.use("Agg")   # figures are written to files only
        try:
            run_spec(args.spec, log=_print, outdir=args.out)
        except (SpecError, DataError) as err:
            print(f"bayes-hte: error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
