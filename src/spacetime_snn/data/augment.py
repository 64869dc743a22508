"""Per-epoch augmentation of a SpikeDataset (paper-notes, "Training"): channel shift and same-class blend.

Both are redrawn every epoch from the caller's Generator, so a run is reproducible from its seed and resumable from
a checkpointed Generator state. Everything is vectorised over events: an SHD epoch (8,156 samples plus 7,644
blends, ~70 M events) takes seconds, not minutes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .dataset import SpikeDataset, event_ranges, keep_events


def augment_epoch(ds: SpikeDataset, rng: np.random.Generator, shift_channels: int, blend_samples: int) -> SpikeDataset:
    """One epoch's training set: `ds` plus `blend_samples` blends, then every sample shifted along the channels.

    Blends are made from the unshifted samples and are shifted like the originals, as both are training samples.
    Zero disables either augmentation.
    """
    augmented = ds
    if blend_samples > 0:
        augmented = concatenate(ds, blend(ds, rng, blend_samples))
    if shift_channels > 0:
        augmented = shift(augmented, rng, shift_channels)
    return augmented


def checked_augment_epoch(ds: SpikeDataset, rng: np.random.Generator, shift_channels: int, blend_samples: int,
                          epoch: int) -> SpikeDataset:
    """augment_epoch, then the check that it did not empty the training set (checks.check_augmented)."""
    from .checks import check_augmented

    augmented = augment_epoch(ds, rng, shift_channels, blend_samples)
    check_augmented(ds, augmented, epoch)
    return augmented


def shift(ds: SpikeDataset, rng: np.random.Generator, max_shift: int) -> SpikeDataset:
    """Move all events of each sample by one random integer number of channels in [-max_shift, max_shift).

    Events pushed outside [0, num_channels) are dropped (SHD channels are cochlear frequencies: a shift is a pitch
    change, and what leaves the range is lost).
    """
    offsets_per_sample = rng.integers(-max_shift, max_shift, size=len(ds), dtype=np.int32)
    units = ds.units + np.repeat(offsets_per_sample, ds.counts())
    kept, offsets = keep_events(ds.offsets, (units >= 0) & (units < ds.num_channels))
    return replace(ds, times=ds.times[kept], units=units[kept], offsets=offsets)


def blend(ds: SpikeDataset, rng: np.random.Generator, num_samples: int) -> SpikeDataset:
    """`num_samples` new samples, each mixing two different samples of one class.

    The first sample is drawn uniformly (so classes keep their frequencies), the second uniformly among the other
    samples of its class. Both are moved halfway towards each other's mean channel and mean time (rounded to whole
    channels and steps), each event is kept with probability 0.5, and events moved out of range are dropped.
    A blend has no single speaker: its speaker is -1.
    """
    first = rng.integers(0, len(ds), size=num_samples)
    second = _same_class_partner(ds.labels, first, rng)
    sources = np.stack([first, second], axis=1).ravel()  # blend k is sources 2k and 2k+1
    events, source_offsets = event_ranges(ds.offsets, sources)
    coin = np.unpackbits(np.frombuffer(rng.bytes(-(-events.size // 8)), dtype=np.uint8), count=events.size)
    chosen, source_offsets = keep_events(source_offsets, coin.view(bool))  # thin first: half the events to move
    events = events[chosen]

    mean_time, mean_unit = _sample_means(ds)
    partner = sources.reshape(-1, 2)[:, ::-1].ravel()
    time_shift = np.rint((mean_time[partner] - mean_time[sources]) / 2).astype(np.int32)
    unit_shift = np.rint((mean_unit[partner] - mean_unit[sources]) / 2).astype(np.int32)
    source_counts = np.diff(source_offsets)
    times = ds.times[events] + np.repeat(time_shift, source_counts)
    units = ds.units[events] + np.repeat(unit_shift, source_counts)

    inside = (times >= 0) & (times < ds.num_steps) & (units >= 0) & (units < ds.num_channels)
    kept, source_offsets = keep_events(source_offsets, inside)
    return replace(ds, times=times[kept], units=units[kept], offsets=source_offsets[::2], labels=ds.labels[first],
                   speakers=np.full(num_samples, -1))


def concatenate(a: SpikeDataset, b: SpikeDataset) -> SpikeDataset:
    """The samples of `a` followed by those of `b` (same channels, steps and classes)."""
    offsets = np.concatenate([a.offsets, a.offsets[-1] + b.offsets[1:]])
    return replace(
        a,
        times=np.concatenate([a.times, b.times]),
        units=np.concatenate([a.units, b.units]),
        offsets=offsets,
        labels=np.concatenate([a.labels, b.labels]),
        speakers=np.concatenate([a.speakers, b.speakers]),
    )


def _same_class_partner(labels: np.ndarray, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each index in `first`, a uniformly drawn other sample of the same class (itself if it is alone)."""
    by_class = np.argsort(labels, kind="stable")
    class_start = np.searchsorted(labels[by_class], np.arange(labels.max() + 1))
    class_size = np.bincount(labels, minlength=class_start.size)
    rank = np.empty_like(by_class)
    rank[by_class] = np.arange(by_class.size) - class_start[labels[by_class]]  # position within its class

    size = class_size[labels[first]]
    pick = (rng.random(first.size) * np.maximum(size - 1, 1)).astype(np.int64)
    pick += (pick >= rank[first]) & (size > 1)  # skip the first sample itself
    return by_class[class_start[labels[first]] + pick]


def _sample_means(ds: SpikeDataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean time bin and mean channel of each sample (0 for an empty sample), in one pass over the events."""
    counts = ds.counts()
    nonempty = counts > 0
    starts = ds.offsets[:-1][nonempty]  # the ranges between non-empty starts are exactly their samples' events
    mean_time, mean_unit = np.zeros(len(ds)), np.zeros(len(ds))
    if starts.size:
        mean_time[nonempty] = np.add.reduceat(ds.times, starts, dtype=np.int64) / counts[nonempty]
        mean_unit[nonempty] = np.add.reduceat(ds.units, starts, dtype=np.int64) / counts[nonempty]
    return mean_time, mean_unit
