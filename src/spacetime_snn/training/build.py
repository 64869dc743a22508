"""Building the data and the model a run needs from its settings (shared by training, evaluation, analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import RunSettings, settings_from_dict
from ..data.dataset import SpikeDataset, load_train_test
from ..data.shd_format import SHD_FILES, SPOKEN_FILES, SYNTHETIC_FILES
from ..model.network import SpatialSNN

def data_paths(settings: RunSettings) -> tuple[Path, Path]:
    """The train and test HDF5 files of the run's data source."""
    names = {"shd": SHD_FILES, "synthetic": SYNTHETIC_FILES, "spoken": SPOKEN_FILES}[settings.data.source]
    root = Path(settings.data.root)
    return root / names["train"], root / names["test"]


def load_data(settings: RunSettings, cache_dir: str | Path | None = None) -> tuple[SpikeDataset, SpikeDataset]:
    """Train and test sets binned at dt, sharing one number of steps."""
    return load_train_test(data_paths(settings), dt_ms=settings.data.dt_ms,
                           max_time_ms=settings.data.max_time_ms, cache_dir=cache_dir)


def build_model(settings: RunSettings, num_inputs: int, num_outputs: int) -> SpatialSNN:
    """A freshly initialised model, deterministic in the run's seed."""
    generator = torch.Generator().manual_seed(settings.seed)
    return SpatialSNN(num_inputs, num_outputs, settings.model, settings.data.dt_ms, generator=generator,
                      gradient=settings.train.gradient)


def model_from_file(saved: dict[str, Any]) -> SpatialSNN:
    """The model stored in a run's model.pt (see run_io.load_model_file)."""
    settings = settings_from_dict(saved["settings"])
    model = build_model(settings, saved["num_inputs"], saved["num_outputs"])
    model.load_state_dict(saved["state_dict"])
    return model
