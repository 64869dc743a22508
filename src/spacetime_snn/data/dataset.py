"""SpikeDataset: binned events of a whole split in RAM, and the loader that bins SHD-format files (with a cache).

Events are kept as flat arrays (CSR-like) instead of dense (S, T, C) tensors: SHD's train split is 8,156 samples x
~1,400 steps x 700 channels, which is 8 G cells of which < 1 % are non-zero. Flat arrays also make an epoch's
augmented copy and a batch's gather single vectorised numpy operations.

Binning a file costs a full HDF5 read (seconds for SHD), so the binned form is cached as .npz: written once,
atomically, under a file lock, so that concurrent training runs share it without racing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..errors import DataError
from ..io_utils import atomic_path, file_lock
from .shd_format import SHD_FILES, SYNTHETIC_FILES, ShdEvents, read_shd_file, require_file

_CACHE_VERSION = 1
"""Bump when the binning or the cache layout changes, so that old cache files are ignored."""

MAX_STEPS_PER_SAMPLE = 50_000
"""Longest sample accepted after binning, in steps: the model keeps every step of a batch for the backward pass
(SHD at 1 ms: ~1,370 steps; 50,000 steps of a batch of 256 x 128 neurons are ~10 GB of state alone)."""


class Sample(NamedTuple):
    """One sample's events (views into the dataset's arrays), label and speaker."""

    times: np.ndarray
    units: np.ndarray
    label: int
    speaker: int


@dataclass
class SpikeDataset:
    """Binned spike events of S samples (see docs/architecture.md).

    Events of sample s are [offsets[s], offsets[s+1]). `times` are time bins of width `dt_ms` (0 <= t < num_steps),
    `units` input channels (0 <= u < num_channels). Loaded samples are in time order; augmented ones need not be
    (a batch sums events, so order never matters). `speakers` is -1 for a sample with no single speaker (a blend).
    """

    times: np.ndarray  # int32 (E,)
    units: np.ndarray  # int32 (E,)
    offsets: np.ndarray  # int64 (S+1,)
    labels: np.ndarray  # int64 (S,)
    speakers: np.ndarray  # int64 (S,)
    num_channels: int
    num_steps: int
    num_classes: int
    dt_ms: float

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=np.int32)
        self.units = np.asarray(self.units, dtype=np.int32)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.speakers = np.asarray(self.speakers, dtype=np.int64)
        if self.times.shape != self.units.shape or self.offsets[0] != 0 or self.offsets[-1] != self.times.size:
            raise ValueError("times and units must have equal length and offsets must run from 0 to their length")
        if not self.labels.shape == self.speakers.shape == (self.offsets.size - 1,):
            raise ValueError("labels and speakers need one entry per sample (len(offsets) - 1)")

    def __len__(self) -> int:
        return self.labels.size

    def counts(self) -> np.ndarray:
        """Events per sample, int64 (S,)."""
        return np.diff(self.offsets)

    def sample(self, index: int) -> Sample:
        start, stop = self.offsets[index], self.offsets[index + 1]
        label, speaker = int(self.labels[index]), int(self.speakers[index])
        return Sample(self.times[start:stop], self.units[start:stop], label, speaker)

    def subset(self, indices: Sequence[int] | np.ndarray) -> SpikeDataset:
        """The samples `indices`, in that order (repeats allowed), as a new dataset with copied arrays."""
        indices = np.asarray(indices, dtype=np.int64)
        events, offsets = event_ranges(self.offsets, indices)
        return replace(
            self,
            times=self.times[events],
            units=self.units[events],
            offsets=offsets,
            labels=self.labels[indices],
            speakers=self.speakers[indices],
        )

    def with_num_steps(self, num_steps: int) -> SpikeDataset:
        """The same samples cut (or padded) to `num_steps` bins: events at t >= num_steps are dropped."""
        if num_steps >= self.num_steps:
            return replace(self, num_steps=num_steps)
        kept, offsets = keep_events(self.offsets, self.times < num_steps)
        return replace(self, times=self.times[kept], units=self.units[kept], offsets=offsets, num_steps=num_steps)


def event_ranges(offsets: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather the event ranges of samples `indices` without a Python loop.

    Returns (events, new_offsets): `events` indexes the flat event arrays, sample k's events being
    events[new_offsets[k]:new_offsets[k+1]]. Built as one cumulative sum of steps (1 inside a range, a jump at each
    range start), which allocates a single event-sized array: on ~70 M events allocation dominates the cost.
    """
    starts = offsets[indices]
    counts = offsets[indices + 1] - starts
    new_offsets = np.zeros(indices.size + 1, dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    events = np.ones(new_offsets[-1], dtype=np.int64)
    nonempty = counts > 0
    range_starts, range_counts = starts[nonempty], counts[nonempty]
    if range_starts.size:
        previous_ends = np.concatenate([[1], range_starts[:-1] + range_counts[:-1]])  # 1: the sum starts at 0
        events[new_offsets[:-1][nonempty]] = range_starts - previous_ends + 1
        np.cumsum(events, out=events)
    return events, new_offsets


def keep_events(offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the events where `keep` is False: returns (indices of the kept events, new offsets).

    Samples keep their order and may become empty. Searching the kept positions is one pass over the events
    (a cumulative sum of the mask is several times slower on ~70 M events).
    """
    kept = np.flatnonzero(keep)
    return kept, np.searchsorted(kept, offsets).astype(np.int64)


EMPTIED_BY_CUT_TOLERANCE = 0.01
"""Fraction of a split's samples that `data.max_time_ms` may leave without events (an outlier recording that
starts late) before the cut is taken for a mistake: a larger share trains on blank input."""


def bin_events(events: ShdEvents, dt_ms: float, max_time_ms: float | None = None, *,
               allow_empty_samples: bool = False) -> SpikeDataset:
    """Bin spike times into steps of `dt_ms`: bin = floor(time_s * 1000 / dt_ms).

    Events at or after `max_time_ms` are dropped (the paper's v1 cuts SHD at 1 s). num_steps is the bin of the
    latest remaining spike + 1, so that no event is lost (= ceil(latest / dt) unless it falls on a bin edge).
    A cut that empties more than EMPTIED_BY_CUT_TOLERANCE of the samples (which had events before it) is a
    DataError naming data.max_time_ms and the value that keeps every sample.
    """
    if dt_ms <= 0:
        raise ValueError(f"dt_ms must be positive, got {dt_ms}")
    time_ms = events.times_s * 1000.0
    kept, offsets = keep_events(events.offsets, np.ones(time_ms.size, dtype=bool) if max_time_ms is None
                                else time_ms < max_time_ms)
    if max_time_ms is not None and not allow_empty_samples:
        _check_cut(events, time_ms, max_time_ms, np.diff(offsets))
    latest_ms = float(time_ms[kept].max()) if kept.size else 0.0
    if latest_ms / dt_ms >= MAX_STEPS_PER_SAMPLE:
        raise DataError(
            f"{events.path}: samples last up to {latest_ms:.6g} ms, which is {latest_ms / dt_ms:,.0f} steps of "
            f"data.dt_ms = {dt_ms:g} ms (more than {MAX_STEPS_PER_SAMPLE:,}: a training step would need tens of GB "
            f"and hours). Fix: check that the file's spike times are in seconds; for recordings this long, set a "
            f"larger data.dt_ms or cut them with data.max_time_ms (ms).")
    bins = np.floor(time_ms[kept] / dt_ms).astype(np.int32)
    return SpikeDataset(
        times=bins,
        units=events.units[kept],
        offsets=offsets,
        labels=events.labels,
        speakers=events.speakers,
        num_channels=events.num_channels,
        num_steps=int(bins.max()) + 1 if bins.size else 1,
        num_classes=len(events.keys),
        dt_ms=float(dt_ms),
    )


def _check_cut(events: ShdEvents, time_ms: np.ndarray, max_time_ms: float, counts_after: np.ndarray) -> None:
    had_events = np.diff(events.offsets) > 0
    emptied = np.flatnonzero(had_events & (counts_after == 0))
    if emptied.size <= EMPTIED_BY_CUT_TOLERANCE * had_events.size:
        return
    first_spike_ms = time_ms[events.offsets[:-1][had_events]]  # times are in order within a sample
    needed = float(np.ceil(first_spike_ms.max() + 1e-9))
    shown = ", ".join(map(str, emptied[:5])) + (", ..." if emptied.size > 5 else "")
    raise DataError(
        f"{events.path}: data.max_time_ms = {max_time_ms:g} ms drops every event of {emptied.size} of "
        f"{had_events.size} samples (sample(s) {shown}) and keeps {int(counts_after.sum()):,} of {time_ms.size:,} "
        f"events: the network would train on blank input. Fix: data.max_time_ms: {needed:g} or more (every "
        f"sample then keeps its first spike; the authors cut SHD at 1000) or null (keep every event).")


def load_dataset(
    h5_path: str | os.PathLike,
    dt_ms: float,
    max_time_ms: float | None = None,
    num_steps: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    allow_empty_samples: bool = False,
) -> SpikeDataset:
    """Read an SHD-format file (validated, see shd_format.read_shd_file) and bin it at `dt_ms`.

    `num_steps` (steps of dt_ms) overrides the file's own length: later events are dropped, shorter samples padded.
    With `cache_dir`, the binned form is cached there as .npz keyed by the source's size and modification time
    (a rewrite changes them; hashing the content would cost a full read per load) and the binning parameters.
    """
    h5_path = Path(h5_path)
    if cache_dir is None:
        dataset = bin_events(read_shd_file(h5_path, allow_empty_samples=allow_empty_samples), dt_ms, max_time_ms,
                             allow_empty_samples=allow_empty_samples)
    else:
        dataset = _cached(h5_path, dt_ms, max_time_ms, Path(cache_dir), allow_empty_samples)
    return dataset if num_steps is None else dataset.with_num_steps(num_steps)


def load_train_test(
    root_or_paths: str | os.PathLike | tuple[str | os.PathLike, str | os.PathLike],
    dt_ms: float,
    max_time_ms: float | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[SpikeDataset, SpikeDataset]:
    """Load a train and a test split sharing one num_steps (the longer of the two), as the model needs one T.

    `root_or_paths` is a (train, test) pair of files or a folder holding SHD's `shd_train.h5`/`shd_test.h5` or the
    synthetic task's `train.h5`/`test.h5`.
    """
    train_path, test_path = split_files(root_or_paths)
    train = load_dataset(train_path, dt_ms, max_time_ms, cache_dir=cache_dir)
    test = load_dataset(test_path, dt_ms, max_time_ms, cache_dir=cache_dir)
    for field in ("num_channels", "num_classes"):
        if getattr(train, field) != getattr(test, field):
            raise DataError(
                f"{train_path} and {test_path} differ in {field} ({getattr(train, field)} vs {getattr(test, field)})"
                f"{_channels_source(train_path, test_path) if field == 'num_channels' else ''}. "
                "Fix: use a train and a test file of the same data set."
            )
    num_steps = max(train.num_steps, test.num_steps)
    return train.with_num_steps(num_steps), test.with_num_steps(num_steps)


def _channels_source(*paths: Path) -> str:
    """Where each file's channel count came from: its num_channels attribute, or SHD's 700 assumed without one."""
    import h5py

    from .shd_format import SHD_NUM_CHANNELS

    said = []
    for path in paths:
        with h5py.File(path, "r") as handle:
            stated = handle.attrs.get("num_channels")
        said.append(f"{path.name} has num_channels = {int(stated)}" if stated is not None else
                    f"{path.name} has no num_channels attribute, so SHD's {SHD_NUM_CHANNELS} is assumed")
    return f": {'; '.join(said)}"


def split_files(root_or_paths: str | os.PathLike | tuple[str | os.PathLike, str | os.PathLike]) -> tuple[Path, Path]:
    """Resolve (train, test) files from an explicit pair or from a data folder (SHD names first)."""
    if isinstance(root_or_paths, tuple):
        return Path(root_or_paths[0]), Path(root_or_paths[1])
    root = Path(root_or_paths)
    for names in (SHD_FILES, SYNTHETIC_FILES):
        if (root / names["train"]).exists() or (root / names["test"]).exists():
            return root / names["train"], root / names["test"]
    raise DataError(
        f"{root}: no data files (expected {SHD_FILES['train']} + {SHD_FILES['test']}, or "
        f"{SYNTHETIC_FILES['train']} + {SYNTHETIC_FILES['test']}). Fix: run `spacetime-snn data shd --root {root}` "
        f"or `spacetime-snn data synthetic --out {root}` (or rerun snakemake)."
    )


def cache_path(h5_path: Path, dt_ms: float, max_time_ms: float | None, cache_dir: Path,
               allow_empty_samples: bool = False) -> Path:
    """Where the binned form of `h5_path` is cached; the name changes with the source file and the parameters."""
    stat = h5_path.stat()
    max_time = None if max_time_ms is None else float(max_time_ms)
    key = json.dumps([_CACHE_VERSION, stat.st_size, stat.st_mtime_ns, float(dt_ms), max_time, allow_empty_samples])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{h5_path.stem}-{digest}.npz"


def _cached(h5_path: Path, dt_ms: float, max_time_ms: float | None, cache_dir: Path,
            allow_empty_samples: bool) -> SpikeDataset:
    """Load the cache, or build it once: the lock makes a concurrent loader wait instead of binning again."""
    require_file(h5_path)
    target = cache_path(h5_path, dt_ms, max_time_ms, cache_dir, allow_empty_samples)
    if not target.exists():
        with file_lock(target.with_suffix(".lock")):
            if not target.exists():
                events = read_shd_file(h5_path, allow_empty_samples=allow_empty_samples)
                _save(bin_events(events, dt_ms, max_time_ms, allow_empty_samples=allow_empty_samples), target)
    return _load(target)


def _save(dataset: SpikeDataset, target: Path) -> None:
    arrays = {name: getattr(dataset, name) for name in ("times", "units", "offsets", "labels", "speakers")}
    scalars = {name: np.asarray(getattr(dataset, name))
               for name in ("num_channels", "num_steps", "num_classes", "dt_ms")}
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays, **scalars)


def _load(target: Path) -> SpikeDataset:
    try:
        with np.load(target, allow_pickle=False) as stored:
            return SpikeDataset(
                times=stored["times"],
                units=stored["units"],
                offsets=stored["offsets"],
                labels=stored["labels"],
                speakers=stored["speakers"],
                num_channels=int(stored["num_channels"]),
                num_steps=int(stored["num_steps"]),
                num_classes=int(stored["num_classes"]),
                dt_ms=float(stored["dt_ms"]),
            )
    except Exception as error:  # numpy raises many kinds for a damaged .npz: BadZipFile, EOFError, TokenError, ...
        raise DataError(
            f"{target}: binned cache is unreadable ({error}). Fix: delete {target}; it is rebuilt from its source."
        ) from error
