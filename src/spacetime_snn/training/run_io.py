"""The files of a run directory (see docs/architecture.md): the one place that knows their names and layout."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from ..io_utils import atomic_path

MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
LOG = "log.csv"
SNAPSHOTS = "snapshots.npz"
SUMMARY = "summary.json"
LOG_COLUMNS = ("epoch", "loss", "train_accuracy", "val_accuracy", "test_accuracy", "spike_rate_hz", "seconds")


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


def save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises many kinds for a truncated or foreign file
        raise CheckpointError(f"{path}: cannot be read ({type(error).__name__}: {error}); it is corrupt or "
                              f"truncated — delete it and rerun the training rule") from error


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint atomically, keeping the one before it in case this one is ever found corrupt."""
    current = run_dir / CHECKPOINT
    with atomic_path(current) as tmp:
        torch.save(state, tmp)
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
    """epochs (E,), w_rec (E, N, N), and delays (E, N, N) / positions (E, N, D) where the mode has them."""
    with np.load(Path(run_dir) / SNAPSHOTS) as data:
        return {key: data[key] for key in data.files}


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
