"""The `spacetime-snn` command: every Snakemake rule calls one of its sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from threadpoolctl import threadpool_limits

from .errors import ConfigError, SpacetimeError
from .io_utils import UNWRITABLE, unwritable_error

# Each area of the package registers its own sub-commands. Only the module owning the requested command is
# imported: the areas pull in torch, scipy or seaborn, and a pipeline makes hundreds of short CLI calls.
_COMMAND_MODULES = {
    "spacetime_snn.data.commands": ("data",),
    "spacetime_snn.training.commands": ("train", "prune"),
    "spacetime_snn.analysis.commands": ("metrics", "inputmaps", "networkdata"),
    "spacetime_snn.figures.commands": ("aggregate", "figure", "table", "claims", "results-page", "publish-results"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every sub-command, or only for `command`'s module when it is a known command."""
    parser = argparse.ArgumentParser(prog="spacetime-snn", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    owners = [name for name, commands in _COMMAND_MODULES.items() if command in commands] or list(_COMMAND_MODULES)
    for name in owners:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    # BLAS threads: a command's --threads, else 1. The analysis works on small matrices, where threads that
    # compete with other jobs for the cores make numpy 5-100x slower (measured in benchmarks/metrics_benchmark.py).
    threads = getattr(args, "threads", None)
    try:
        if threads is not None and threads < 1:
            raise ConfigError(f"--threads {threads}: must be an integer >= 1. Fix: --threads 1 (or leave it out)")
        with threadpool_limits(limits=threads or 1, user_api="blas"):
            args.func(args)
    except SpacetimeError as error:
        print(f"spacetime-snn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # any write outside atomic_path (mkdir of a run directory, a lock, a log)
        if error.errno not in UNWRITABLE:
            raise
        message = unwritable_error(error.filename or "(unnamed file)", error)
        print(f"spacetime-snn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: every writer is atomic, so what was finished is kept
        print(f"spacetime-snn {args.command}: interrupted; files written so far are complete. Fix: rerun the same "
              f"command to continue (training resumes from its checkpoint, data generation from its cached chunks)",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
