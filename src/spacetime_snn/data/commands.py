"""CLI of the data layer: `spacetime-snn data synthetic --out DIR [...]`, `spacetime-snn data spoken --out DIR
[...]` and `spacetime-snn data shd --root DIR`.

Every option of `data synthetic` / `data spoken` is a SyntheticSpec / SpokenSpec field (same name with dashes,
same default and help), so each spec is documented in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import ConfigError
from .download import download_shd
from .spoken import SpokenSpec, generate_spoken
from .synthetic import SyntheticSpec, generate_synthetic


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `data` command and its sub-commands to the `spacetime-snn` parser."""
    data = subparsers.add_parser("data", help="create the input data sets (SHD format)")
    commands = data.add_subparsers(dest="data_command", required=True)

    synthetic = commands.add_parser("synthetic", help="write the synthetic temporal task (train.h5, test.h5)")
    synthetic.add_argument("--out", type=Path, required=True, help="folder for train.h5 and test.h5")
    _add_spec_options(synthetic, SyntheticSpec)
    synthetic.set_defaults(func=run_synthetic)

    spoken = commands.add_parser(
        "spoken", help="write spoken digits through the SHD cochlea model (spoken_train.h5, spoken_test.h5)")
    spoken.add_argument("--out", type=Path, required=True, help="folder for spoken_train.h5 and spoken_test.h5")
    spoken.add_argument("--threads", type=int, default=1, help="worker processes (default: 1)")
    _add_spec_options(spoken, SpokenSpec)
    spoken.set_defaults(func=run_spoken)

    shd = commands.add_parser("shd", help="download SHD through tonic (or unpack hand-placed zips)")
    shd.add_argument("--root", type=Path, required=True, help="folder for shd_train.h5 and shd_test.h5")
    shd.set_defaults(func=run_shd)


def _add_spec_options(parser: argparse.ArgumentParser, spec_class) -> None:
    """One option per field of a spec dataclass; a tuple field takes as many values as its default has."""
    for spec_field in dataclasses.fields(spec_class):
        default = spec_field.default
        is_tuple = isinstance(default, tuple)
        parser.add_argument(
            "--" + spec_field.name.replace("_", "-"),
            type=type(default[0]) if is_tuple else type(default),
            nargs=len(default) if is_tuple else None,
            default=default,
            help=f"{spec_field.metadata['help']} (default: {' '.join(map(str, default)) if is_tuple else default})",
        )


def _spec(args: argparse.Namespace, spec_class):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(spec_class)}
    return spec_class(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})


def run_synthetic(args: argparse.Namespace) -> None:
    for path in generate_synthetic(_spec(args, SyntheticSpec), args.out):
        print(f"wrote {path}")


def run_spoken(args: argparse.Namespace) -> None:
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: must be >= 1")
    generate_spoken(_spec(args, SpokenSpec), args.out, threads=args.threads, progress=lambda line: print(line, flush=True))


def run_shd(args: argparse.Namespace) -> None:
    for path in download_shd(args.root):
        print(f"ready {path}")
