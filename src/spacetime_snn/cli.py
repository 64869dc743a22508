"""The `spacetime-snn` command: every Snakemake rule calls one of its sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from threadpoolctl import threadpool_limits

from .errors import SpacetimeError

# Each area of the package registers its own sub-commands; a module missing here is a bug, not an option.
_COMMAND_MODULES = (
    "spacetime_snn.data.commands",
    "spacetime_snn.training.commands",
    "spacetime_snn.analysis.commands",
    "spacetime_snn.figures.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacetime-snn", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # BLAS threads: a command's --threads, else 1. The analysis works on small matrices, where threads that
    # compete with other jobs for the cores make numpy 5-100x slower (measured in benchmarks/metrics_benchmark.py).
    threads = getattr(args, "threads", None)
    try:
        with threadpool_limits(limits=threads or 1, user_api="blas"):
            args.func(args)
    except SpacetimeError as error:
        print(f"spacetime-snn {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
