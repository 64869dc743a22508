"""A deterministic synthetic temporal task in SHD's file format, so that the whole pipeline runs offline.

Every sample holds two bursts: one of channel group a, then one of group b, an interval later. The class is the
interval (default 10, 20, ..., 60 ms); the two groups are drawn at random for every sample, independently of
the class. So nothing but the time between the bursts tells the classes apart:
  * per-channel spike counts: every sample has two bursts of random groups;
  * group identity and order: random, the same distribution in every class;
  * absolute time: the first burst starts at a random onset.
Relating two bursts 30-60 ms apart is beyond the memory of a delay-free LIF neuron (tau_mem 20 ms,
tau_syn 5 ms), whereas a recurrent synapse whose delay matches the interval turns the pair into a coincidence.
Measured with the project's model (32 hidden neurons, 20 epochs): no delays 34 % test accuracy, learned
positions 88 % (chance 17 %).

Nuisances: a random subset of each group's channels firing, ~2 ms Gaussian jitter per spike, +-2 ms per
interval, Poisson background noise on every channel, and a per-speaker tempo factor that stretches intervals by
a few percent (so a speaker-wise validation split tests a new tempo).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .shd_format import SYNTHETIC_FILES, write_shd_file


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the synthetic task; the defaults give a 64-channel, 6-class task of 250 ms samples.

    The `help` metadata is the CLI's help text (`spacetime-snn data synthetic --help`).
    """

    num_channels: int = field(default=64, metadata={"help": "input channels"})
    num_classes: int = field(default=6, metadata={"help": "classes, one interval each"})
    num_train: int = field(default=1200, metadata={"help": "samples in train.h5"})
    num_test: int = field(default=300, metadata={"help": "samples in test.h5"})
    num_speakers: int = field(default=6, metadata={"help": "speakers (each with its own tempo)"})
    duration_ms: float = field(default=250.0, metadata={"help": "sample length (ms)"})
    num_groups: int = field(default=4, metadata={"help": "channel groups; each sample bursts two of them"})
    interval_min_ms: float = field(default=10.0, metadata={"help": "interval between the bursts of class 0 (ms)"})
    interval_step_ms: float = field(default=10.0, metadata={"help": "interval added per class (ms)"})
    interval_jitter_ms: float = field(default=2.0, metadata={"help": "each interval varies uniformly by +- this (ms)"})
    group_size: int = field(default=12, metadata={"help": "channels per group"})
    channel_fire_prob: float = field(default=0.7, metadata={"help": "probability that a group channel fires"})
    spikes_per_channel: int = field(default=2, metadata={"help": "spikes of a firing channel per burst"})
    jitter_ms: float = field(default=2.0, metadata={"help": "s.d. of each spike's time around its burst onset (ms)"})
    noise_rate_hz: float = field(default=2.0, metadata={"help": "background Poisson rate per channel (Hz)"})
    tempo_spread: float = field(default=0.03, metadata={"help": "speaker tempo factors span 1 +- this fraction"})
    seed: int = field(default=0, metadata={"help": "random seed; equal specs give equal files"})

    def __post_init__(self) -> None:
        checks = {
            "num_groups": (self.num_groups >= 2, "must be >= 2 (a sample bursts two different groups)"),
            "num_classes": (self.num_classes >= 2, "must be >= 2"),
            "num_train": (self.num_train >= self.num_classes, "must be >= num_classes"),
            "num_test": (self.num_test >= self.num_classes, "must be >= num_classes"),
            "num_speakers": (self.num_speakers >= 1, "must be >= 1"),
            "group_size": (1 <= self.group_size and self.num_groups * self.group_size <= self.num_channels,
                           "num_groups x group_size must fit in num_channels"),
            "interval_min_ms": (self.interval_min_ms > self.interval_jitter_ms, "must exceed interval_jitter_ms"),
            "interval_step_ms": (self.interval_step_ms > 2 * self.interval_jitter_ms,
                                 "must exceed 2 x interval_jitter_ms, or neighbouring classes overlap"),
            "interval_jitter_ms": (self.interval_jitter_ms >= 0, "must be >= 0"),
            "duration_ms": (self.duration_ms > self.longest_span_ms() + 2 * self.margin_ms(),
                            f"must exceed the longest interval ({self.longest_span_ms():g} ms) plus "
                            f"{2 * self.margin_ms():g} ms of margins"),
            "channel_fire_prob": (0 < self.channel_fire_prob <= 1, "must be in (0, 1]"),
            "spikes_per_channel": (self.spikes_per_channel >= 1, "must be >= 1"),
            "jitter_ms": (self.jitter_ms >= 0, "must be >= 0"),
            "noise_rate_hz": (self.noise_rate_hz >= 0, "must be >= 0"),
            "tempo_spread": (0 <= self.tempo_spread < 1, "must be in [0, 1)"),
        }
        for name, (ok, rule) in checks.items():
            if not ok:
                raise ConfigError(f"synthetic spec: {name}={getattr(self, name)!r} {rule}")

    def longest_span_ms(self) -> float:
        """Longest first-to-second burst interval: slowest speaker, longest class, largest jitter (ms)."""
        return (max(class_table(self)) + self.interval_jitter_ms) * (1 + self.tempo_spread)

    def margin_ms(self) -> float:
        """Distance kept between bursts and the sample's edges, so that spike jitter rarely crosses them (ms)."""
        return 4 * self.jitter_ms


def class_table(spec: SyntheticSpec) -> list[float]:
    """The interval (ms) between the two bursts of each class."""
    return [spec.interval_min_ms + label * spec.interval_step_ms for label in range(spec.num_classes)]


def class_names(spec: SyntheticSpec) -> list[str]:
    """Readable class keys, e.g. 'interval_30ms'."""
    return [f"interval_{interval:g}ms" for interval in class_table(spec)]


def group_channels(spec: SyntheticSpec) -> list[np.ndarray]:
    """Channels of each group: contiguous blocks spread evenly over the channel axis (like SHD's tonotopy)."""
    starts = np.round(np.linspace(0, spec.num_channels - spec.group_size, spec.num_groups)).astype(int)
    return [np.arange(start, start + spec.group_size) for start in starts]


def speaker_tempos(spec: SyntheticSpec) -> np.ndarray:
    """Interval stretch factor of each speaker, evenly spaced in [1 - spread, 1 + spread], shuffled by the seed."""
    rng = np.random.default_rng([spec.seed, 0])
    return rng.permutation(np.linspace(1 - spec.tempo_spread, 1 + spec.tempo_spread, spec.num_speakers))


def make_split(spec: SyntheticSpec, num_samples: int, stream: int) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Draw one split: (times per sample [s], units per sample, labels, speakers); `stream` separates splits."""
    rng = np.random.default_rng([spec.seed, stream])
    labels = rng.permutation(np.arange(num_samples) % spec.num_classes)
    speakers = rng.integers(0, spec.num_speakers, size=num_samples)
    tempos = speaker_tempos(spec)
    intervals = class_table(spec)
    groups = group_channels(spec)
    times, units = [], []
    for label, speaker in zip(labels, speakers):
        t_ms, u = _sample_events(spec, rng, intervals[label] * tempos[speaker], groups)
        times.append(t_ms / 1000.0)
        units.append(u)
    return times, units, labels, speakers


def _sample_events(
    spec: SyntheticSpec, rng: np.random.Generator, interval_ms: float, groups: list
) -> tuple[np.ndarray, np.ndarray]:
    """One sample's spikes sorted by time (ms): bursts of two random groups `interval_ms` apart, plus noise."""
    interval = interval_ms + rng.uniform(-spec.interval_jitter_ms, spec.interval_jitter_ms)
    start = rng.uniform(spec.margin_ms(), spec.duration_ms - spec.margin_ms() - interval)
    pair = rng.choice(spec.num_groups, size=2, replace=False)
    times, units = [], []
    for group, onset in zip(pair, (start, start + interval)):
        fires = rng.random(spec.group_size) < spec.channel_fire_prob
        fires[rng.integers(spec.group_size)] = True  # a burst is never silent
        channels = np.repeat(groups[group][fires], spec.spikes_per_channel)
        times.append(onset + rng.normal(0.0, spec.jitter_ms, size=channels.size))
        units.append(channels)
    num_noise = rng.poisson(spec.noise_rate_hz * spec.duration_ms / 1000.0 * spec.num_channels)
    times.append(rng.uniform(0.0, spec.duration_ms, size=num_noise))
    units.append(rng.integers(0, spec.num_channels, size=num_noise))
    times, units = np.concatenate(times), np.concatenate(units)
    inside = (times >= 0) & (times < spec.duration_ms)
    order_in_time = np.argsort(times[inside], kind="stable")
    return times[inside][order_in_time], units[inside][order_in_time]


def generate_synthetic(spec: SyntheticSpec, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write `train.h5` and `test.h5` (SHD format, atomically) into `out_dir`; returns their paths.

    The spec is stored as the JSON root attribute `synthetic_spec`, so a file says how it was made.
    """
    out_dir = Path(out_dir)
    provenance = {"synthetic_spec": json.dumps(asdict(spec))}
    paths = []
    for stream, (split, num_samples) in enumerate((("train", spec.num_train), ("test", spec.num_test)), start=1):
        times, units, labels, speakers = make_split(spec, num_samples, stream)
        paths.append(
            write_shd_file(out_dir / SYNTHETIC_FILES[split], times, units, labels, speakers, class_names(spec),
                           num_channels=spec.num_channels, attributes=provenance)
        )
    return paths[0], paths[1]
