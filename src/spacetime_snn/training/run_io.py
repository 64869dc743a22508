"""The files of a run directory (see docs/architecture.md): the one place that knows their names and layout."""

from __future__ import annotations

import csv
import datetime
import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, DataError
from ..io_utils import atomic_path

MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
LOG = "log.csv"
SNAPSHOTS = "snapshots.npz"
SUMMARY = "summary.json"
TRAIN_LOG = "train.log"
OUTPUTS = (MODEL, LOG, SNAPSHOTS, SUMMARY)  # what the training rule declares; written last, once training ended
# delay_clamp_share: share of recurrent delays at the clamp (empty without delays; loop.Trainer._clamp_share)
LOG_COLUMNS = ("epoch", "loss", "train_accuracy", "val_accuracy", "test_accuracy", "spike_rate_hz",
               "delay_clamp_share", "seconds")


@dataclass
class NetworkArrays:
    """A trained network as numpy arrays for analysis. Weights are [pre, post]; delays are in steps."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    delays: np.ndarray | None
    positions: np.ndarray | None
    delay_mode: str
    identifiers: dict[str, Any] = field(default_factory=dict)


def _torch_save(obj: Any, tmp: Path) -> None:
    """torch.save through a Python file object: a failed write then raises the OSError (e.g. ENOSPC, which
    atomic_path reports as a full disk) instead of torch's `[enforce fail at inline_container.cc]`."""
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)


class RunLog:
    """The history of a run's training attempts, appended to `<run>/train.log` (and printed).

    Snakemake deletes a job's log before it reruns the job, never this file (it is not a declared output), so the
    log of a resumed run keeps the attempts that were killed: each starts with an `attempt started` line, and a
    resumed one says `resumed <run> after epoch N`. Nothing is written before the run directory exists (bad data
    stops a run before it is created); writing is best effort, so a full disk is reported by the checkpoint's
    writer, not by the log.
    """

    def __init__(self, run_dir: str | Path, stream=None):
        self.path = Path(run_dir) / TRAIN_LOG
        self.stream = stream
        self.pending: list[str] = []

    def __call__(self, message: str) -> None:
        print(message, file=self.stream or sys.stdout, flush=True)
        self.record(message)

    def record(self, message: str) -> None:
        """Append `message` to the file only (e.g. an error the CLI prints itself)."""
        stamp = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
        self.pending += [f"[{stamp}] {line}" for line in message.splitlines() or [""]]
        if not self.path.parent.is_dir():
            return
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write("\n".join(self.pending) + "\n")
            self.pending.clear()
        except OSError:
            pass

    def start_attempt(self, command: str) -> None:
        self(f"attempt started: {command} (host {socket.gethostname()}, pid {os.getpid()})")


def save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        _torch_save(obj, tmp)


def rerun_training_fix(path: Path) -> str:
    """How to rewrite `path`, a damaged output of a training run, with commands that work.

    Deleting the file is not enough under Snakemake: a missing intermediate file does not make it rerun the job
    ("Nothing to be done" while the files built from it exist), so the fix forces the job that writes it.
    `--forcerun=FILE` with "=": without it the option takes every word after it, targets included.
    """
    run_dir = path.parent
    study = _study_of(run_dir)
    settings = run_dir / "settings.json"
    if study is None or not settings.exists():  # not laid out by the workflow: trained by hand
        return (f"Fix: rerun the `spacetime-snn train` command that made this run (it resumes from "
                f"{run_dir / CHECKPOINT} if present and rewrites {path.name}).")
    from ..study import configfile_option  # local: the plan is not needed to write or read a run

    return (f"Fix: `snakemake --cores 1{configfile_option(study)} --forcerun={path}` retrains this run (resuming "
            f"from its checkpoint, so usually in seconds) and redoes what was built from it; without Snakemake: "
            f"`spacetime-snn train --settings @{settings} --out {run_dir}`.")


def _study_of(run_dir: Path) -> str | None:
    """The study name in a run directory's path, results/<study>/runs/<condition>/h<hidden>/s<seed>."""
    parts = run_dir.parts
    return parts[-5] if len(parts) >= 5 and parts[-4] == "runs" else None


def unreadable(path: Path, error: BaseException) -> str:
    return f"{path}: cannot be read ({type(error).__name__}: {error}); it is corrupt or truncated"


def load_torch(path: Path) -> Any:
    """A torch file of a run. An unreadable checkpoint raises CheckpointError (the trainer falls back to the
    previous one); an unreadable run output (model.pt) raises it with the commands that rewrite the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises many kinds for a truncated or foreign file
        message = unreadable(path, error)
        if path.name == MODEL:
            message += f". {rerun_training_fix(path)}"
        raise CheckpointError(message) from error


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint atomically, keeping the one before it in case this one is ever found corrupt."""
    current = run_dir / CHECKPOINT
    with atomic_path(current) as tmp:
        _torch_save(state, tmp)
        if current.exists():
            current.replace(run_dir / PREVIOUS_CHECKPOINT)


def load_latest_checkpoint(run_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest readable checkpoint (or None) and warnings about unreadable ones that were skipped."""
    warnings = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            return load_torch(path), warnings
        except CheckpointError as error:
            warnings.append(str(error))
    return None, warnings


def set_aside_checkpoints(run_dir: Path) -> list[Path]:
    """Rename the checkpoints to *.stale.pt (kept, never resumed from) and return their new paths."""
    moved = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = run_dir / name
        if path.exists():
            moved.append(path.replace(path.with_suffix(".stale.pt")))
    return moved


def write_log(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(run_dir / LOG) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_snapshots(run_dir: Path, snapshots: dict[str, list[np.ndarray]]) -> None:
    arrays = {key: np.stack(values) for key, values in snapshots.items() if values}
    with atomic_path(run_dir / SNAPSHOTS) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def load_snapshots(run_dir: str | Path) -> dict[str, np.ndarray]:
    """epochs (E,), w_rec (E, N, N), and delays (E, N, N) / positions (E, N, D) where the mode has them.

    A missing file raises FileNotFoundError; a damaged one DataError with the commands that rewrite it.
    """
    path = Path(run_dir) / SNAPSHOTS
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except Exception as error:  # a damaged .npz: BadZipFile, EOFError, zlib.error, ValueError, OSError, ...
        raise DataError(f"{unreadable(path, error)}. {rerun_training_fix(path)}") from error


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    with atomic_path(run_dir / SUMMARY) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY).read_text())


def load_model_file(run_dir: str | Path) -> dict[str, Any]:
    """The selected model: {"settings": dict, "state_dict": ..., "epoch": int, "num_inputs", "num_outputs"}."""
    return load_torch(Path(run_dir) / MODEL)


def load_network(run_dir: str | Path) -> NetworkArrays:
    """The selected model's arrays, with its delays evaluated from whatever parameterises them."""
    from .build import model_from_file  # local: keeps this module free of the model at import time

    saved = load_model_file(run_dir)
    model = model_from_file(saved)
    with torch.no_grad():
        delays = model.recurrent_delays()
        positions = getattr(model.recurrent_delays, "position", None)
    settings = saved["settings"]
    return NetworkArrays(
        w_in=model.w_in.detach().numpy().copy(),
        w_rec=model.w_rec.detach().numpy().copy(),
        w_out=model.w_out.detach().numpy().copy(),
        delays=None if delays is None else delays.numpy().copy(),
        positions=None if positions is None else positions.detach().numpy().copy(),
        delay_mode=settings["model"]["delay_mode"],
        identifiers=dict(settings.get("run", {})),
    )
