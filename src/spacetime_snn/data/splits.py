"""The validation split: whole speakers held out where the data allows, else stratified by label.

Why speakers: SHD's test set contains two speakers absent from training, so a validation set of unseen speakers
estimates test accuracy better than a random split, whose samples share speakers (and recording sessions) with
the training data. Holding out whole speakers needs enough of them (>= 3, so that training keeps at least two)
and must leave every class in both parts; when no speaker set does, the split falls back to per-class random
sampling (stratified by label).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .dataset import SpikeDataset

_SPEAKER_SET_TRIES = 100
"""Random speaker orders tried before concluding that no held-out speaker set keeps every class on both sides."""


def validation_split(ds: SpikeDataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), sorted int64 index arrays partitioning `ds`, with ~`fraction` of it for validation.

    Held-out speakers: >= 1 held out, >= 2 kept, every class on both sides, drawn by the seed (see
    `_speaker_holdout`); see the module docstring for when it falls back to a stratified split.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"validation_fraction={fraction} must be in [0, 1)")
    everything = np.arange(len(ds), dtype=np.int64)
    if fraction == 0.0:
        return everything, np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held_out = _speaker_holdout(ds.labels, ds.speakers, fraction, rng)
    if held_out is None:
        val = _stratified(ds.labels, fraction, rng)
    else:
        val = everything[np.isin(ds.speakers, held_out)]
    return np.setdiff1d(everything, val), val


def _speaker_holdout(
    labels: np.ndarray, speakers: np.ndarray, fraction: float, rng: np.random.Generator
) -> np.ndarray | None:
    """Speakers to hold out, or None when no valid set is found.

    Speakers are taken in a random order until their samples come closest to `fraction` (at least one speaker,
    leaving at least two); the first such set that leaves every class on both sides wins. So the seed picks the
    speakers, and the size follows the target as closely as whole speakers allow.
    """
    unique = np.unique(speakers)
    if unique.size < 3:
        return None
    classes = np.unique(labels)
    speaker_sizes = dict(zip(*np.unique(speakers, return_counts=True)))
    for _ in range(_SPEAKER_SET_TRIES):
        order = rng.permutation(unique)
        sizes = np.cumsum([speaker_sizes[speaker] for speaker in order])
        count = int(np.clip(np.argmin(np.abs(sizes - fraction * labels.size)) + 1, 1, unique.size - 2))
        in_val = np.isin(speakers, order[:count])
        if np.array_equal(np.unique(labels[in_val]), classes) and np.array_equal(np.unique(labels[~in_val]), classes):
            return np.sort(order[:count])
    return None


def _stratified(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Per class, a random round(fraction * n_class) of its samples (at least one when the class has two)."""
    val = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        take = int(round(fraction * members.size))
        take = min(max(take, 1 if members.size >= 2 else 0), members.size - 1)
        val.append(members[:take])
    return np.sort(np.concatenate(val)).astype(np.int64)
