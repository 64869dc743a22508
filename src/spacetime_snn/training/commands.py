"""CLI: `spacetime-snn train` (one run of any condition) and `spacetime-snn prune` (pruning sweeps)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from ..config import dt_warnings, settings_from_dict
from ..errors import ConfigError, SpacetimeError
from ..io_utils import atomic_path


def _read_settings(text: str) -> dict:
    """Settings as a JSON string, or @path to a JSON or YAML file."""
    source = "--settings"
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.exists():
            raise ConfigError(f"settings file {path} does not exist")
        if path.suffix != ".json":
            import yaml

            try:
                values = yaml.safe_load(path.read_text())
            except yaml.YAMLError as error:
                raise ConfigError(f"settings file {path} is not valid YAML ({error}); fix its syntax") from error
            if values is None:  # an empty file would silently mean "every default": SHD's full paper protocol
                raise ConfigError(f"settings file {path} is empty (or only comments); a run's settings are needed. "
                                  f"Fix: write them into it (a run's settings.json from results/<study>/runs/... "
                                  f"shows every key), or pass --settings '{{}}' to train with every default (the "
                                  f"paper's protocol on SHD)")
            return values
        text, source = path.read_text(), f"settings file {path}"  # JSON proper: YAML 1.1 reads 1e-09 as text
        if not text.strip():
            raise ConfigError(f"settings file {path} is empty; a run's settings are needed. Fix: write them into it, "
                              f"or pass --settings '{{}}' to train with every default (the paper's protocol on SHD)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source} is not valid JSON ({error}); pass a JSON object or @file.yaml") from error


def _set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def _check_out(out: Path) -> None:
    """--out must be a directory or a path where one can be made (not a file, nor under a file)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a run directory; nothing was changed. Fix: give a directory "
                          f"path that does not exist yet or holds a run, e.g. --out {out.with_suffix('')}-run")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--out {out}: {parent} is a file, so no directory can be made under it. Fix: "
                                  f"give a run directory outside it, e.g. --out {parent.parent / out.name}")
            break


def _device(text: str | None) -> torch.device | None:
    """The --device as a torch device this machine can use (None: CUDA when present, else CPU)."""
    if text is None:
        return None
    fix = ("Fix: leave --device out (CUDA when present, else CPU) or give --device cpu; --device cuda (or cuda:N) "
           "needs a GPU and a CUDA build of torch")
    try:
        device = torch.device(text)
    except RuntimeError as error:
        raise ConfigError(f"--device {text!r}: not a torch device ({str(error).splitlines()[0][:120]}...). "
                          f"{fix}") from error
    try:
        torch.empty(1, device=device)
    except (AssertionError, RuntimeError) as error:  # "Torch not compiled with CUDA enabled", no such ordinal
        raise ConfigError(f"--device {text}: not available on this machine ({error}; torch {torch.__version__}, "
                          f"CUDA available: {torch.cuda.is_available()}). Nothing was created. {fix}") from error
    return device


def _train(args: argparse.Namespace) -> None:
    from . import run_io
    from .loop import Trainer

    _check_out(args.out)
    device = _device(args.device)  # before the run directory exists: a wrong device leaves nothing behind
    _set_threads(args.threads)
    settings = settings_from_dict(_read_settings(args.settings))
    cache_dir = args.cache_dir or Path(settings.data.root) / "cache"
    log = run_io.RunLog(args.out)  # <run>/train.log: every attempt, kept across Snakemake's reruns
    log.start_attempt(f"spacetime-snn train --out {args.out}")  # kept back until the run directory exists
    try:
        trainer = Trainer(settings, args.out, device=device, cache_dir=cache_dir, log=log)
        for warning in dt_warnings(settings, trainer.test_set.num_steps):
            log(f"warning: {warning}")
        trainer.run()
        log(f"finished: {', '.join(run_io.OUTPUTS)} written in {args.out}")
    except SpacetimeError as error:
        log.record(f"spacetime-snn train: error: {error}")
        raise


def _prune(args: argparse.Namespace) -> None:
    from ..analysis.pruning import length_remove_mask, magnitude_keep_mask, random_remove_mask
    from . import run_io
    from .build import load_data, model_from_file
    from .evaluate import evaluate

    _check_fractions("--magnitude-keep", args.magnitude_keep, "of the strongest recurrent synapses kept",
                     one_allowed=True)
    _check_fractions("--length-remove", args.length_remove, "of the longest-delay synapses removed",
                     one_allowed=False)
    _set_threads(args.threads)
    saved = run_io.load_model_file(args.run_dir)
    settings = settings_from_dict(saved["settings"])
    _, test_set = load_data(settings, cache_dir=args.cache_dir or Path(settings.data.root) / "cache")
    model = model_from_file(saved)
    network = run_io.load_network(args.run_dir)
    existing = network.w_rec != 0
    masks = [("magnitude", 1.0 - keep, magnitude_keep_mask(network.w_rec, keep)) for keep in args.magnitude_keep]
    if network.delays is not None:
        masks += [("length", remove, existing & ~length_remove_mask(network.delays, remove, existing=existing))
                  for remove in args.length_remove]
    # The geometry-only control of length pruning (analysis/controls.py): as many connections, chosen at random.
    # Drawn from (analysis seed, run seed), so different runs lose different random sets.
    masks += [("random", remove, existing & ~random_remove_mask(existing, remove, seed=[args.seed, settings.seed]))
              for remove in args.length_remove if remove > 0]
    rows = []
    for kind, removed, mask in masks:
        accuracy = evaluate(model, test_set, settings.train.eval_batch_size, recurrent_mask=mask)
        rows.append({**settings.run, "kind": kind, "fraction_removed": round(float(removed), 6),
                     "test_accuracy": accuracy, "connections": int((mask & existing).sum())})
    with atomic_path(args.out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def _check_fractions(option: str, values: list[float], meaning: str, *, one_allowed: bool) -> None:
    """Every value of a fraction option in [0, 1] (or [0, 1)), NaN in neither, else a ConfigError with the range."""
    for value in values:
        if not (0.0 <= value <= 1.0 and (one_allowed or value < 1.0)):
            example = "1.0 0.5 0.1" if one_allowed else "0.0 0.1 0.3"
            raise ConfigError(f"{option} {value:g}: each value is a fraction {meaning} and must lie in "
                              f"[0, 1{']' if one_allowed else ')'}. Fix: e.g. {option} {example}")


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train one run (any condition); resumes from its checkpoint")
    train.add_argument("--settings", required=True, help="run settings as JSON, or @file.json/@file.yaml")
    train.add_argument("--out", required=True, type=Path, help="run directory")
    train.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    train.add_argument("--cache-dir", type=Path, default=None, help="binned-data cache (default: <data root>/cache)")
    train.set_defaults(func=_train)

    prune = subparsers.add_parser("prune", help="test accuracy after magnitude and delay-length pruning")
    prune.add_argument("--run-dir", required=True, type=Path)
    prune.add_argument("--magnitude-keep", type=float, nargs="+", default=[1.0, 0.5, 0.3, 0.2, 0.1],
                       help="fractions of the strongest recurrent synapses to keep")
    prune.add_argument("--length-remove", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
                       help="fractions of the longest-delay recurrent synapses to remove")
    prune.add_argument("--out", required=True, type=Path, help="CSV, one row per (kind, fraction)")
    prune.add_argument("--seed", type=int, default=0,
                       help="seed of the random-removal control (kind random, at the --length-remove fractions)")
    prune.add_argument("--threads", type=int, default=None)
    prune.add_argument("--cache-dir", type=Path, default=None)
    prune.set_defaults(func=_prune)
