"""Read, write and validate SHD-format HDF5 files.

The layout is the one the Spiking Heidelberg Digits ship in, and the one `tonic.datasets.SHD` reads
(`tonic/datasets/hsd.py`: `spikes/times`, `spikes/units`, `labels`, `extra/keys`, `extra/speaker`):

    spikes/times    vlen float16 (S,)  one array per sample, spike times in seconds, non-decreasing
    spikes/units    vlen uint16  (S,)  input channel of each spike, same length as that sample's times
    labels          uint16       (S,)  class index, < number of keys
    extra/keys      bytes        (K,)  class names; label k is named keys[k]
    extra/speaker   uint16       (S,)  speaker id of each sample

float16 times are inferred from tonic, which casts them to float64 before scaling to microseconds (float16 would
overflow). Files this package writes may carry one extra root attribute, `num_channels`, because the synthetic
task has fewer channels than SHD's 700; tonic ignores it.

`read_shd_file` is the single place where a file is checked: every defect raises a DataError that names the file,
the defect and the fix, so a truncated download fails at load time instead of as a shape error deep in training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from ..errors import DataError
from ..io_utils import atomic_path

SHD_NUM_CHANNELS = 700
"""Input channels of SHD (the cochlea model's output channels); the default when a file has no attribute."""

SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
"""File names of SHD's splits, as tonic extracts them (its zip names minus `.zip`)."""

SYNTHETIC_FILES = {"train": "train.h5", "test": "test.h5"}
"""File names of the synthetic task's splits (data/synthetic.py)."""

SPOKEN_FILES = {"train": "spoken_train.h5", "test": "spoken_test.h5"}
"""File names of the spoken digits' splits (data/spoken.py)."""

_REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")

SHD_LONGEST_SAMPLE_S = 2.0
"""Bound on SHD's samples (seconds): its recordings are spoken digits, the longest ~1.37 s; 2 s leaves a margin."""

LONGEST_PLAUSIBLE_SAMPLE_S = 60.0
"""Longest sample accepted in an SHD-format file that states no duration: times beyond are not seconds."""


@dataclass(frozen=True)
class ShdEvents:
    """The validated content of one SHD-format file, flattened (CSR-like) so that binning is vectorised.

    Events of sample s are [offsets[s], offsets[s+1]); within a sample they are in time order.
    """

    path: Path
    times_s: np.ndarray  # float64 (E,), seconds
    units: np.ndarray  # int32 (E,), 0 <= unit < num_channels
    offsets: np.ndarray  # int64 (S+1,)
    labels: np.ndarray  # int64 (S,), 0 <= label < len(keys)
    speakers: np.ndarray  # int64 (S,)
    keys: tuple[str, ...]
    num_channels: int


def regenerate_hint(path: Path) -> str:
    """The command that rebuilds `path`, judged from its name (SHD download, synthetic task, or anything else)."""
    folder = path.parent
    if path.name in SHD_FILES.values():
        command = f"`spacetime-snn data shd --root {folder}`"
    elif path.name in SYNTHETIC_FILES.values():
        command = f"`spacetime-snn data synthetic --out {folder}`"
    elif path.name in SPOKEN_FILES.values():
        command = f"`spacetime-snn data spoken --out {folder}`"
    else:
        return "rewrite it with spacetime_snn.data.shd_format.write_shd_file"
    return f"run {command} (or rerun snakemake, which runs it)"


def require_file(path: Path) -> None:
    """Raise the DataError for a missing data file, with the command that creates it."""
    if not path.is_file():
        raise DataError(f"{path}: file not found. Fix: {regenerate_hint(path)}.")


def _defect(path: Path, defect: str) -> DataError:
    """A DataError for a file that exists but is unusable: the fix is to delete and rebuild it."""
    return DataError(f"{path}: {defect}. Fix: delete {path} and {regenerate_hint(path)}.")


def write_shd_file(
    path: str | os.PathLike,
    samples_times: Sequence[np.ndarray],
    samples_units: Sequence[np.ndarray],
    labels: Sequence[int],
    speakers: Sequence[int],
    keys: Sequence[str],
    *,
    num_channels: int | None = None,
    attributes: dict[str, str] | None = None,
) -> Path:
    """Write one SHD-format file atomically (a reader never sees a half-written file).

    `samples_times[s]` are spike times in seconds, `samples_units[s]` their channels. Nothing is validated here:
    the reader is the one gate, which also lets tests write defective files. `num_channels` and `attributes`
    (strings, e.g. provenance) become root attributes; SHD itself has none.
    """
    if not len(samples_times) == len(samples_units) == len(labels) == len(speakers):
        raise ValueError("samples_times, samples_units, labels and speakers must have one entry per sample")
    path = Path(path)
    times = np.empty(len(samples_times), dtype=object)
    times[:] = [np.asarray(t, dtype=np.float16) for t in samples_times]
    units = np.empty(len(samples_units), dtype=object)
    units[:] = [np.asarray(u, dtype=np.uint16) for u in samples_units]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("spikes/times", data=times, dtype=h5py.vlen_dtype(np.float16))
        handle.create_dataset("spikes/units", data=units, dtype=h5py.vlen_dtype(np.uint16))
        handle.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        handle.create_dataset("extra/keys", data=np.array([key.encode() for key in keys], dtype=bytes))
        handle.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
        if num_channels is not None:
            handle.attrs["num_channels"] = int(num_channels)
        for name, value in (attributes or {}).items():
            handle.attrs[name] = value
    return path


def read_shd_file(
    path: str | os.PathLike, num_channels: int | None = None, *, allow_empty_samples: bool = False
) -> ShdEvents:
    """Read and validate an SHD-format file.

    `num_channels` bounds the unit ids; None takes the file's `num_channels` attribute, else SHD's 700.
    Raises DataError (naming the file, the defect and the fix) for: a missing or unreadable file, a missing
    dataset, per-sample length mismatches, empty samples (unless `allow_empty_samples`: strict by default because
    an empty sample in SHD or the synthetic task means a broken file), negative / non-finite / decreasing times,
    units out of range, and labels without a key.
    """
    path = Path(path)
    require_file(path)
    try:
        with h5py.File(path, "r") as handle:
            missing = [key for key in _REQUIRED_KEYS if key not in handle]
            if missing:
                raise _defect(path, f"missing dataset(s) {', '.join(missing)}; not an SHD-format file")
            if num_channels is None:
                num_channels = int(handle.attrs.get("num_channels", SHD_NUM_CHANNELS))
            _require_integers(path, handle)
            times = handle["spikes/times"][()]
            units = handle["spikes/units"][()]
            labels = handle["labels"][()].astype(np.int64)
            speakers = handle["extra/speaker"][()].astype(np.int64)
            keys = tuple(key.decode() if isinstance(key, bytes) else str(key) for key in handle["extra/keys"][()])
            stated = stated_duration(path, dict(handle.attrs))
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        # A truncated file fails to open (OSError); damage inside the file surfaces from HDF5 as RuntimeError
        # ("bad local heap signature"), KeyError ("bad object header version number") or ValueError.
        raise _defect(path, f"not a readable HDF5 file, truncated or corrupt ({error})") from error
    return _validated(path, times, units, labels, speakers, keys, num_channels, allow_empty_samples, stated)


def _base_dtype(dataset) -> np.dtype:
    """The element type of a dataset, looking through a variable-length type (spikes/units)."""
    dtype = dataset.dtype
    return h5py.check_vlen_dtype(dtype) or dtype


def _require_integers(path: Path, handle) -> None:
    """Labels, units and speakers are integers (SHD: uint16); floats are refused, not truncated to integers."""
    for name in ("spikes/units", "labels", "extra/speaker"):
        dtype = _base_dtype(handle[name])
        if dtype.kind not in "iu":
            raise _defect(path, f"{name} is stored as {dtype} ({'fractional ' if dtype.kind == 'f' else ''}values "
                          f"would be cut to integers); SHD stores {name} as integers (uint16)")


def stated_duration(path: Path, attributes: dict) -> tuple[float, str]:
    """The longest sample (seconds) the file's data set allows, and where that comes from: the synthetic task's
    spec (root attribute `synthetic_spec`), SHD's own recordings (by file name), else a generous bound."""
    spec = attributes.get("synthetic_spec")
    if spec is not None:
        import json

        try:
            duration_ms = float(json.loads(spec)["duration_ms"])
            return duration_ms / 1000.0, f"its synthetic_spec says samples last {duration_ms:g} ms"
        except (ValueError, KeyError, TypeError):
            pass
    if path.name in SHD_FILES.values():
        return SHD_LONGEST_SAMPLE_S, "SHD's samples last about 1.4 s at most"
    return LONGEST_PLAUSIBLE_SAMPLE_S, (f"samples of spoken audio last well under {LONGEST_PLAUSIBLE_SAMPLE_S:g} s "
                                        "(SHD's about 1.4 s at most)")


def _time_unit_guess(latest_s: float, longest_s: float) -> str:
    """The unit the times were probably written in, judged from how far they overshoot (a 1 s scale if the file
    states none)."""
    ratio = latest_s / min(longest_s, 1.0)
    if 30 <= ratio < 3e5:
        return "milliseconds"
    return "microseconds" if ratio >= 3e5 else "a unit other than seconds"


def _validated(
    path: Path,
    times: np.ndarray,
    units: np.ndarray,
    labels: np.ndarray,
    speakers: np.ndarray,
    keys: tuple[str, ...],
    num_channels: int,
    allow_empty_samples: bool,
    stated: tuple[float, str] = (LONGEST_PLAUSIBLE_SAMPLE_S, "samples are expected to last seconds"),
) -> ShdEvents:
    """Check the raw per-sample arrays and flatten them; the checks are vectorised over all events."""
    num_samples = len(times)
    lengths = {"spikes/units": len(units), "labels": len(labels), "extra/speaker": len(speakers)}
    for name, length in lengths.items():
        if length != num_samples:
            raise _defect(path, f"{name} has {length} entries but spikes/times has {num_samples} samples")
    counts = np.fromiter(map(len, times), dtype=np.int64, count=num_samples)
    unit_counts = np.fromiter(map(len, units), dtype=np.int64, count=num_samples)
    _first_bad(path, counts != unit_counts, "spikes/times and spikes/units differ in length")
    if not allow_empty_samples:
        _first_bad(path, counts == 0, "has no events (every sample needs at least one spike)")
    offsets = np.zeros(num_samples + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat_times = np.concatenate(times).astype(np.float64) if num_samples else np.zeros(0)
    flat_units = np.concatenate(units).astype(np.int64) if num_samples else np.zeros(0, dtype=np.int64)

    sample_of = np.repeat(np.arange(num_samples), counts)
    _first_bad(path, ~np.isfinite(flat_times) | (flat_times < 0), "has negative or non-finite spike times", sample_of)
    decreasing = np.diff(flat_times) < 0
    starts = offsets[1:-1]
    starts = starts[(starts > 0) & (starts < flat_times.size)]
    decreasing[starts - 1] = False  # a sample may start before the previous one ended
    _first_bad(path, np.append(decreasing, False), "has spike times that decrease (must be in time order)", sample_of)
    longest_s, source = stated
    too_late = flat_times > longest_s * 1.01 + 1e-3  # float16 rounding and the generator's jitter
    if too_late.any():
        latest = float(flat_times.max())
        _first_bad(path, too_late, f"has spike times up to {latest:.6g} s, but {source}: the times look like "
                   f"{_time_unit_guess(latest, longest_s)}; spikes/times must be in seconds (the file was written "
                   f"with the wrong unit)", sample_of)
    out_of_range = (flat_units < 0) | (flat_units >= num_channels)
    _first_bad(path, out_of_range, f"has units outside [0, {num_channels}) (num_channels={num_channels})", sample_of)
    _first_bad(path, labels < 0, f"has a negative label (labels index extra/keys: 0 to {len(keys) - 1})")
    _first_bad(path, labels >= len(keys), f"has a label >= the number of keys ({len(keys)})")
    return ShdEvents(
        path=path,
        times_s=flat_times,
        units=flat_units.astype(np.int32),
        offsets=offsets,
        labels=labels,
        speakers=speakers,
        keys=keys,
        num_channels=num_channels,
    )


def _first_bad(path: Path, bad: np.ndarray, defect: str, sample_of: np.ndarray | None = None) -> None:
    """Raise for the first flagged sample (or event, mapped to its sample through `sample_of`)."""
    flagged = np.flatnonzero(bad)
    if flagged.size == 0:
        return
    samples = np.unique(flagged if sample_of is None else sample_of[flagged])
    shown = ", ".join(map(str, samples[:5])) + (", ..." if samples.size > 5 else "")
    raise _defect(path, f"sample(s) {shown} ({samples.size} in all) {defect}")
