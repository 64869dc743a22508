"""Shared fixtures of the data-layer tests: small SHD-format files and SpikeDatasets built by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spacetime_snn.data.dataset import SpikeDataset
from spacetime_snn.data.shd_format import write_shd_file


def random_samples(rng: np.random.Generator, num_samples: int, num_channels: int, max_time_s: float = 0.2):
    """Per-sample sorted spike times (s) and channels, 1-30 events each."""
    times, units = [], []
    for _ in range(num_samples):
        count = int(rng.integers(1, 31))
        times.append(np.sort(rng.uniform(0, max_time_s, count)))
        units.append(rng.integers(0, num_channels, count))
    return times, units


@pytest.fixture
def shd_file(tmp_path: Path):
    """Factory: write a valid SHD-format file of `num_samples` random samples and return its path."""

    def make(name: str = "data.h5", num_samples: int = 12, num_channels: int = 700, num_classes: int = 3,
             seed: int = 0, max_time_s: float = 0.2) -> Path:
        rng = np.random.default_rng(seed)
        times, units = random_samples(rng, num_samples, num_channels, max_time_s)
        labels = np.arange(num_samples) % num_classes
        speakers = np.arange(num_samples) % 4
        keys = [f"class{k}" for k in range(num_classes)]
        channels = None if num_channels == 700 else num_channels
        return write_shd_file(tmp_path / name, times, units, labels, speakers, keys, num_channels=channels)

    return make


@pytest.fixture
def make_dataset():
    """Factory: a SpikeDataset from per-sample (times, units) lists in steps and channels."""

    def make(samples, labels, speakers=None, num_channels: int = 10, num_steps: int = 20,
             num_classes: int | None = None) -> SpikeDataset:
        counts = [len(times) for times, _ in samples]
        return SpikeDataset(
            times=np.concatenate([np.asarray(t, dtype=np.int32) for t, _ in samples] or [np.zeros(0)]),
            units=np.concatenate([np.asarray(u, dtype=np.int32) for _, u in samples] or [np.zeros(0)]),
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            labels=np.asarray(labels),
            speakers=np.zeros(len(labels)) if speakers is None else np.asarray(speakers),
            num_channels=num_channels,
            num_steps=num_steps,
            num_classes=int(max(labels)) + 1 if num_classes is None else num_classes,
            dt_ms=1.0,
        )

    return make


@pytest.fixture
def random_dataset():
    """Factory: a random SpikeDataset (S samples, ~`mean_events` events each)."""

    def make(num_samples: int = 40, num_channels: int = 30, num_steps: int = 50, num_classes: int = 4,
             num_speakers: int = 5, mean_events: int = 40, seed: int = 0) -> SpikeDataset:
        rng = np.random.default_rng(seed)
        counts = rng.poisson(mean_events, num_samples)
        total = int(counts.sum())
        return SpikeDataset(
            times=rng.integers(0, num_steps, total),
            units=rng.integers(0, num_channels, total),
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            labels=np.arange(num_samples) % num_classes,
            speakers=rng.integers(0, num_speakers, num_samples),
            num_channels=num_channels,
            num_steps=num_steps,
            num_classes=num_classes,
            dt_ms=1.0,
        )

    return make
