"""A deterministic synthetic temporal task in SHD's file format, so that the whole pipeline runs offline.

Every sample is a sequence of bursts of channel groups (A, B, C for three groups) spaced one gap apart (default
45 ms, i.e. > 2 tau_mem and 9 tau_syn of the paper's LIF neurons). A class is a group order followed by its
mirror image, e.g. with three groups the 6 classes are

    ABCCBA   ACBBCA   BACCAB   BCAACB   CABBAC   CBAABC

This palindrome design hides the class from every cue a delay-free network can read cheaply:
  * per-channel spike counts: every class activates every group twice;
  * local structure: bursts are one gap apart, so within a membrane time constant a sample shows one burst;
  * each group's mean time relative to the others, which a time-averaged readout integrates linearly: in a
    palindrome every group is centred on the middle of the sequence.
What tells classes apart is which groups follow each other one gap later (ABCCBA pairs B with C, BACCAB pairs A
with C), i.e. coincidences across ~45 ms, which a recurrent synaptic delay of that length turns into a local
coincidence.

Nuisances: a random global onset (absolute time carries nothing), a random subset of each group's channels
firing, ~2 ms Gaussian jitter per spike and a few ms per gap, Poisson background noise on every channel, and a
per-speaker tempo factor that stretches all gaps (so a speaker-wise validation split tests a new tempo).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from math import factorial
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .shd_format import SYNTHETIC_FILES, write_shd_file


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the synthetic task; the defaults give a 64-channel, 6-class task of 380 ms samples.

    The `help` metadata is the CLI's help text (`spacetime-snn data synthetic --help`).
    """

    num_channels: int = field(default=64, metadata={"help": "input channels"})
    num_classes: int = field(default=6, metadata={"help": "classes, at most num_groups! (group orders)"})
    num_train: int = field(default=1200, metadata={"help": "samples in train.h5"})
    num_test: int = field(default=300, metadata={"help": "samples in test.h5"})
    num_speakers: int = field(default=6, metadata={"help": "speakers (each with its own tempo)"})
    duration_ms: float = field(default=380.0, metadata={"help": "sample length (ms)"})
    num_groups: int = field(default=3, metadata={"help": "channel groups; a sample has 2 x num_groups bursts"})
    gap_ms: float = field(default=45.0, metadata={"help": "inter-onset gap between successive bursts (ms)"})
    gap_jitter_ms: float = field(default=4.0, metadata={"help": "each gap varies uniformly by +- this (ms)"})
    group_size: int = field(default=12, metadata={"help": "channels per group"})
    channel_fire_prob: float = field(default=0.7, metadata={"help": "probability that a group channel fires"})
    spikes_per_channel: int = field(default=2, metadata={"help": "spikes of a firing channel per burst"})
    jitter_ms: float = field(default=2.0, metadata={"help": "s.d. of each spike's time around its burst onset (ms)"})
    noise_rate_hz: float = field(default=2.0, metadata={"help": "background Poisson rate per channel (Hz)"})
    tempo_spread: float = field(default=0.1, metadata={"help": "speaker tempo factors span 1 +- this fraction"})
    seed: int = field(default=0, metadata={"help": "random seed; equal specs give equal files"})

    def __post_init__(self) -> None:
        max_classes = factorial(self.num_groups) if self.num_groups >= 2 else 0
        checks = {
            "num_groups": (2 <= self.num_groups <= 6, "must be in [2, 6]"),
            "num_classes": (2 <= self.num_classes <= max_classes, f"must be in [2, {max_classes}] (group orders)"),
            "num_train": (self.num_train >= self.num_classes, "must be >= num_classes"),
            "num_test": (self.num_test >= self.num_classes, "must be >= num_classes"),
            "num_speakers": (self.num_speakers >= 1, "must be >= 1"),
            "group_size": (1 <= self.group_size and self.num_groups * self.group_size <= self.num_channels,
                           "num_groups x group_size must fit in num_channels"),
            "gap_ms": (self.gap_ms > 0, "must be > 0"),
            "gap_jitter_ms": (0 <= self.gap_jitter_ms < self.gap_ms, "must be in [0, gap_ms)"),
            "duration_ms": (self.duration_ms > self.longest_span_ms() + 2 * self.margin_ms(),
                            f"must exceed the longest burst sequence ({self.longest_span_ms():g} ms) plus "
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
        """First-to-last burst onset of the slowest speaker with the longest gaps (ms)."""
        return (2 * self.num_groups - 1) * (self.gap_ms + self.gap_jitter_ms) * (1 + self.tempo_spread)

    def margin_ms(self) -> float:
        """Distance kept between bursts and the sample's edges, so that spike jitter rarely crosses them (ms)."""
        return 4 * self.jitter_ms


def class_table(spec: SyntheticSpec) -> list[tuple[int, ...]]:
    """The burst sequence (group indices) of each class: the c-th group order followed by its mirror image."""
    orders = itertools.permutations(range(spec.num_groups))
    return [order + order[::-1] for order in itertools.islice(orders, spec.num_classes)]


def class_names(spec: SyntheticSpec) -> list[str]:
    """Readable class keys, the burst sequence in letters, e.g. 'ABCCBA'."""
    return ["".join(chr(ord("A") + group) for group in sequence) for sequence in class_table(spec)]


def group_channels(spec: SyntheticSpec) -> list[np.ndarray]:
    """Channels of each group: contiguous blocks spread evenly over the channel axis (like SHD's tonotopy)."""
    starts = np.round(np.linspace(0, spec.num_channels - spec.group_size, spec.num_groups)).astype(int)
    return [np.arange(start, start + spec.group_size) for start in starts]


def speaker_tempos(spec: SyntheticSpec) -> np.ndarray:
    """Gap stretch factor of each speaker, evenly spaced in [1 - spread, 1 + spread] and shuffled by the seed."""
    rng = np.random.default_rng([spec.seed, 0])
    return rng.permutation(np.linspace(1 - spec.tempo_spread, 1 + spec.tempo_spread, spec.num_speakers))


def make_split(spec: SyntheticSpec, num_samples: int, stream: int) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Draw one split: (times per sample [s], units per sample, labels, speakers); `stream` separates splits."""
    rng = np.random.default_rng([spec.seed, stream])
    labels = rng.permutation(np.arange(num_samples) % spec.num_classes)
    speakers = rng.integers(0, spec.num_speakers, size=num_samples)
    tempos = speaker_tempos(spec)
    table = class_table(spec)
    groups = group_channels(spec)
    times, units = [], []
    for label, speaker in zip(labels, speakers):
        t_ms, u = _sample_events(spec, rng, table[label], tempos[speaker], groups)
        times.append(t_ms / 1000.0)
        units.append(u)
    return times, units, labels, speakers


def _sample_events(
    spec: SyntheticSpec, rng: np.random.Generator, sequence: tuple[int, ...], tempo: float, groups: list
) -> tuple[np.ndarray, np.ndarray]:
    """One sample's spikes sorted by time (ms): the bursts of `sequence`, gaps stretched by `tempo`, plus noise."""
    gaps = tempo * (spec.gap_ms + rng.uniform(-spec.gap_jitter_ms, spec.gap_jitter_ms, size=len(sequence) - 1))
    onsets = np.concatenate([[0.0], np.cumsum(gaps)])
    start = rng.uniform(spec.margin_ms(), spec.duration_ms - spec.margin_ms() - onsets[-1])
    times, units = [], []
    for group, onset in zip(sequence, start + onsets):
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
