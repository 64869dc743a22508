"""CLI of the data layer: `spacetime-snn data synthetic --out DIR [...]` and `spacetime-snn data shd --root DIR`.

Every option of `data synthetic` is a SyntheticSpec field (same name with dashes, same default and help), so the
spec is documented in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .download import download_shd
from .synthetic import SyntheticSpec, generate_synthetic


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `data` command and its sub-commands to the `spacetime-snn` parser."""
    data = subparsers.add_parser("data", help="create the input data sets (SHD format)")
    commands = data.add_subparsers(dest="data_command", required=True)

    synthetic = commands.add_parser("synthetic", help="write the synthetic temporal task (train.h5, test.h5)")
    synthetic.add_argument("--out", type=Path, required=True, help="folder for train.h5 and test.h5")
    for spec_field in dataclasses.fields(SyntheticSpec):
        default = spec_field.default
        is_tuple = isinstance(default, tuple)
        synthetic.add_argument(
            "--" + spec_field.name.replace("_", "-"),
            type=type(default[0]) if is_tuple else type(default),
            nargs="+" if is_tuple else None,
            default=default,
            help=f"{spec_field.metadata['help']} (default: {' '.join(map(str, default)) if is_tuple else default})",
        )
    synthetic.set_defaults(func=run_synthetic)

    shd = commands.add_parser("shd", help="download SHD through tonic (or unpack hand-placed zips)")
    shd.add_argument("--root", type=Path, required=True, help="folder for shd_train.h5 and shd_test.h5")
    shd.set_defaults(func=run_shd)


def run_synthetic(args: argparse.Namespace) -> None:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticSpec)}
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in values.items()}
    for path in generate_synthetic(SyntheticSpec(**values), args.out):
        print(f"wrote {path}")


def run_shd(args: argparse.Namespace) -> None:
    for path in download_shd(args.root):
        print(f"ready {path}")
