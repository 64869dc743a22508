"""Checks of a run's data against the settings that transform it (augmentation) and against each other (classes).

The files themselves are checked where they are read (shd_format.read_shd_file) and the time cut where it is
made (dataset.bin_events); what is left depends on settings and on both splits together, so it is checked here,
before a run directory is created.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .dataset import SpikeDataset

MAX_SHIFT_FRACTION = 0.25
"""data.augment.shift_channels may move a sample by at most this share of the channels: a shift by s pushes the
events of s channels out of range, so at a quarter every sample keeps at least three quarters of its channel span
(SHD: 40 of 700 channels, 6 %)."""

AUGMENT_EMPTY_TOLERANCE = 0.05
"""Share of an epoch's samples that augmentation (shift, blend) may leave without events before it is an error."""


def check_shift(shift_channels: int, train: SpikeDataset, source: Path) -> None:
    """data.augment.shift_channels bounded by the data's channel count."""
    limit = int(train.num_channels * MAX_SHIFT_FRACTION)
    if shift_channels > limit:
        raise ConfigError(
            f"invalid value for 'data.augment.shift_channels': {shift_channels}: it shifts samples by up to "
            f"{shift_channels} channels, but {source} has {train.num_channels} channels, so events of up to "
            f"{min(shift_channels, train.num_channels)} channels are pushed out of range and many samples become "
            f"near-blank. Fix: data.augment.shift_channels: {limit} or less (at most a quarter of the channels; "
            f"SHD uses 40 of 700), or 0 to turn the shift off.")


def check_augmented(original: SpikeDataset, augmented: SpikeDataset, epoch: int) -> None:
    """After an epoch's augmentation: too many samples left without events is an error naming the settings."""
    empty = int((augmented.counts() == 0).sum()) - int((original.counts() == 0).sum())
    if empty > AUGMENT_EMPTY_TOLERANCE * len(augmented):
        raise DataError(
            f"epoch {epoch}: the augmentation left {empty} of {len(augmented)} training samples without any event "
            f"(data.augment.shift_channels pushes events out of the {original.num_channels} channels; blends keep "
            f"half of two samples' events). Fix: a smaller data.augment.shift_channels, or 0 / "
            f"data.augment.blend_samples: 0 to turn the augmentation off.")


def class_warnings(train: SpikeDataset, test: SpikeDataset, train_path: Path, test_path: Path) -> list[str]:
    """Warnings for classes the test set has and the training set lacks (they can never be learned)."""
    missing = sorted(set(np.unique(test.labels).tolist()) - set(np.unique(train.labels).tolist()))
    if not missing:
        return []
    shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
    share = float(np.isin(test.labels, missing).mean())
    return [f"{train_path} has no sample of class(es) {shown} ({len(missing)} of {test.num_classes}), which "
            f"{test_path} has: {share:.0%} of the test set can never be classified correctly. Fix: a training file "
            f"with every class (for the generators: more --num-train samples than classes)"]
