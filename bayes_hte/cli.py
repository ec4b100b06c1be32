"""Command line: ``bayes-hte run models/<name>.toml``."""

from __future__ import annotations

import argparse
import sys

from bayes_hte.errors import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayes-hte", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the analysis an analysis spec (TOML) describes")
    run.add_argument("spec", help="path to a TOML spec, e.g. models/ipdma_binary_demo.toml")
    run.add_argument("--out", default=None, help="output folder (default: the spec's [output].dir)")
    args = parser.parse_args(argv)
    if args.command == "run":
        import matplotlib

        matplotlib.use("Agg")
        from bayes_hte.spec import SpecError, run_spec

        def log(msg: str) -> None:
            print(msg, flush=True)

        try:
            run_spec(args.spec, log=log, outdir=args.out)
        except (SpecError, DataError) as err:
            print(f"bayes-hte: error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
