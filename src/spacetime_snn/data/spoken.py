"""Spoken digits made the way SHD was made: speech -> lauscher's cochlea model -> 700 channels of spikes.

SHD (Cramer et al. 2020) is the digits zero to nine spoken in English and German by 12 people, converted by a
cochlea model into spikes of 700 frequency channels. Here the speakers are synthetic (eSpeak NG, data/speech.py)
and the cochlea is the same model (data/cochlea.py). The classes and their order are SHD's: label 0-9 are
English zero-nine, 10-19 German null-neun.

A speaker is a fixed voice: an eSpeak variant (a formant and voice-quality set), an English accent, base pitch,
intonation range, speaking rate and loudness. Every utterance varies rate, pitch and intonation around the
speaker's values, starts at a random time in the clip and is mixed with coloured background noise (spectral
slope f^-beta/2, beta from white 0 to brown 2) at a random signal-to-noise ratio; a louder speaker has a higher
SNR (the cochlea normalises each clip's RMS, so loudness only matters against the noise). Speakers of the test
set never occur in the training set, as SHD's held-out speakers.

Every clip has the same length (default 22,048 samples at 22,050 Hz, just under 1 s: a length whose spectrum,
22,048 / 2 + 1 = 3^2 5^2 7^2 bins, transforms fast), so the membrane's transfer function is computed once.
Each sample draws its randomness from its own generator (seed, split, index): files are identical for any
number of worker processes. Finished chunks of samples are cached on disk, so an interrupted run resumes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..io_utils import atomic_path
from .cochlea import BasilarMembraneParams, cochlea_spikes, membrane_transfer
from .shd_format import SHD_NUM_CHANNELS, SPOKEN_FILES, read_shd_file, write_shd_file
from .speech import Voice, synthesise

DIGITS = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "de": ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
}
"""What is spoken for each class, per language (SHD's class order: English 0-9, then German 10-19)."""

KEYS = (*DIGITS["en"], *(word.replace("ü", "ue") for word in DIGITS["de"]))
"""Class names written to extra/keys (ASCII, as SHD's)."""

VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "aunty", "boris", "david", "edward",
    "grandma", "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "quincy", "rob", "robert",
    "steph", "travis", "victor", "zac",
)
"""eSpeak voice variants that sound like people (no whisper, robot or effect voices); one per speaker."""

ENGLISH_ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")
"""eSpeak's English voices; each speaker has one (SHD's speakers were German natives speaking English too)."""

SAMPLE_RATE = 22050
"""eSpeak NG's output rate (Hz)."""


@dataclass(frozen=True)
class SpokenSpec:
    """What the spoken data set is made of; equal specs give equal files.

    The `help` metadata is the CLI's help text (`spacetime-snn data spoken --help`).
    """

    num_train: int = field(default=4000, metadata={"help": "samples in spoken_train.h5"})
    num_test: int = field(default=1000, metadata={"help": "samples in spoken_test.h5"})
    channels: int = field(default=700, metadata={"help": "cochlea channels (SHD: 700)"})
    train_speakers: int = field(default=16, metadata={"help": "speakers of the training set"})
    test_speakers: int = field(default=4, metadata={"help": "speakers of the test set only"})
    clip_samples: int = field(default=22048, metadata={"help": "samples per clip at 22,050 Hz (all clips alike)"})
    rate_wpm: tuple[float, float] = field(default=(120.0, 200.0),
                                          metadata={"help": "speakers' speaking rates, min max (words/min)"})
    pitch: tuple[float, float] = field(default=(20.0, 80.0), metadata={"help": "speakers' base pitch, min max (0-100)"})
    pitch_range: tuple[float, float] = field(default=(20.0, 80.0),
                                             metadata={"help": "speakers' intonation range, min max (0-100)"})
    loudness_db: float = field(default=6.0, metadata={"help": "speakers' loudness spans +- this (dB, adds to the SNR)"})
    rate_jitter: float = field(default=0.1, metadata={"help": "s.d. of an utterance's rate / its speaker's (fraction)"})
    pitch_jitter: float = field(default=5.0, metadata={"help": "s.d. of an utterance's pitch and range (0-100 units)"})
    snr_db: tuple[float, float] = field(default=(0.0, 20.0),
                                        metadata={"help": "utterances' signal-to-noise ratio, min max (dB)"})
    seed: int = field(default=0, metadata={"help": "random seed; equal specs give equal files"})

    def __post_init__(self) -> None:
        pairs = {"rate_wpm": (80, 450), "pitch": (0, 100), "pitch_range": (0, 100), "snr_db": (-40, 80)}
        checks = {
            "num_train": (self.num_train >= len(KEYS), f"must be >= {len(KEYS)} (one sample per class)"),
            "num_test": (self.num_test >= len(KEYS), f"must be >= {len(KEYS)} (one sample per class)"),
            "channels": (1 <= self.channels <= SHD_NUM_CHANNELS * 4, "must be in [1, 2800]"),
            "train_speakers": (self.train_speakers >= 1, "must be >= 1"),
            "test_speakers": (self.test_speakers >= 1, "must be >= 1"),
            "clip_samples": (SAMPLE_RATE // 4 <= self.clip_samples <= SAMPLE_RATE * 3,
                             f"must be in [{SAMPLE_RATE // 4}, {SAMPLE_RATE * 3}] (0.25-3 s)"),
            "loudness_db": (self.loudness_db >= 0, "must be >= 0"),
            "rate_jitter": (0 <= self.rate_jitter < 1, "must be in [0, 1)"),
            "pitch_jitter": (self.pitch_jitter >= 0, "must be >= 0"),
        }
        for name, (low, high) in pairs.items():
            value = getattr(self, name)
            checks[name] = (len(value) == 2 and low <= value[0] <= value[1] <= high,
                            f"must be two numbers min <= max within [{low}, {high}]")
        for name, (ok, rule) in checks.items():
            if not ok:
                raise ConfigError(f"spoken spec: {name}={getattr(self, name)!r} {rule}")

    @property
    def num_speakers(self) -> int:
        return self.train_speakers + self.test_speakers

    def fingerprint(self) -> str:
        """Short hash of the spec (names the chunk cache)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: voice variant, accent and the values every utterance varies around."""

    variant: str
    accent: str
    rate_wpm: float
    pitch: float
    pitch_range: float
    loudness_db: float

    def voice_name(self, language: str) -> str:
        return f"{self.accent if language == 'en' else 'de'}+{self.variant}"


def make_speakers(spec: SpokenSpec) -> list[Speaker]:
    """Every speaker (training speakers first, then test speakers), drawn from the seed.

    Variants are dealt without repetition until all have been used, so speakers sound as different as eSpeak
    allows; each speaker's numbers are uniform within the spec's ranges.
    """
    rng = np.random.default_rng([spec.seed, 0])
    deals = -(-spec.num_speakers // len(VARIANTS))
    variants = np.concatenate([rng.permutation(len(VARIANTS)) for _ in range(deals)])[: spec.num_speakers]
    return [
        Speaker(
            variant=VARIANTS[variant],
            accent=ENGLISH_ACCENTS[int(rng.integers(len(ENGLISH_ACCENTS)))],
            rate_wpm=float(rng.uniform(*spec.rate_wpm)),
            pitch=float(rng.uniform(*spec.pitch)),
            pitch_range=float(rng.uniform(*spec.pitch_range)),
            loudness_db=float(rng.uniform(-spec.loudness_db, spec.loudness_db)),
        )
        for variant in variants
    ]


_SPLITS = {"train": 1, "test": 2}  # random stream of each split


def split_plan(spec: SpokenSpec, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, speaker ids) of a split: classes and speakers balanced, in shuffled order; the test split uses
    only the test speakers (ids train_speakers .. num_speakers - 1)."""
    rng = np.random.default_rng([spec.seed, _SPLITS[split], 0])
    size = spec.num_train if split == "train" else spec.num_test
    first, count = (0, spec.train_speakers) if split == "train" else (spec.train_speakers, spec.test_speakers)
    labels = rng.permutation(np.arange(size) % len(KEYS))
    speakers = first + rng.permutation(np.arange(size) % count)
    return labels, speakers


def utterance_voice(speaker: Speaker, language: str, rng: np.random.Generator, spec: SpokenSpec) -> Voice:
    """The speaker's voice with this utterance's rate, pitch and intonation drawn around the speaker's values."""
    rate = speaker.rate_wpm * float(np.exp(rng.normal(0.0, spec.rate_jitter)))
    pitch = speaker.pitch + rng.normal(0.0, spec.pitch_jitter)
    pitch_range = speaker.pitch_range + rng.normal(0.0, spec.pitch_jitter)
    return Voice(speaker.voice_name(language), rate=int(round(np.clip(rate, 80, 450))),
                 pitch=int(round(np.clip(pitch, 0, 100))), pitch_range=int(round(np.clip(pitch_range, 0, 100))))


def coloured_noise(num_samples: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of unit RMS with power spectrum ~ f^-beta (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    frequency = np.fft.rfftfreq(num_samples)
    frequency[0] = frequency[1]
    noise = np.fft.irfft(spectrum * frequency ** (-beta / 2.0), n=num_samples)
    return noise / np.sqrt(np.mean(noise**2))


def trim_silence(samples: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """The span from the first to the last sample above `threshold` x the peak (eSpeak pads with silence)."""
    loud = np.flatnonzero(np.abs(samples) > threshold * np.abs(samples).max()) if samples.size else []
    return samples[loud[0]: loud[-1] + 1] if len(loud) else samples


def make_clip(spec: SpokenSpec, speaker: Speaker, label: int, rng: np.random.Generator) -> np.ndarray:
    """One utterance of class `label` by `speaker`: speech at a random onset plus noise, `clip_samples` long."""
    language = "en" if label < len(DIGITS["en"]) else "de"
    voice = utterance_voice(speaker, language, rng, spec)
    speech, _ = synthesise(DIGITS[language][label % len(DIGITS["en"])], voice, int(rng.integers(1, 2**31)))
    speech = trim_silence(speech)
    margin = SAMPLE_RATE // 50  # 20 ms of noise before and after the word at least
    speech = speech[: spec.clip_samples - 2 * margin]
    onset = int(rng.integers(margin, spec.clip_samples - margin - speech.size + 1))
    clip = np.zeros(spec.clip_samples)
    clip[onset: onset + speech.size] = speech
    snr_db = rng.uniform(*spec.snr_db) + speaker.loudness_db
    noise_rms = np.sqrt(np.mean(speech**2)) / 10 ** (snr_db / 20.0)
    return clip + noise_rms * coloured_noise(spec.clip_samples, float(rng.uniform(0.0, 2.0)), rng)


def make_sample(spec: SpokenSpec, speakers: list[Speaker], split: str, index: int, label: int,
                speaker: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s) and channels of sample `index` of `split`; its randomness is its own (seed, split, index)."""
    rng = np.random.default_rng([spec.seed, _SPLITS[split], 1, index])
    clip = make_clip(spec, speakers[speaker], label, rng)
    return cochlea_spikes(clip, SAMPLE_RATE, spec.channels, rng)


# --------------------------------------------------------------------------------------------------------------
# Writing the files (parallel, resumable)

CHUNK = 32
"""Samples per cached chunk (and per job of a worker process)."""


def _chunk_size(spec: SpokenSpec, split: str, start: int) -> int:
    return min(CHUNK, (spec.num_train if split == "train" else spec.num_test) - start)


def _chunk_path(cache: Path, split: str, start: int) -> Path:
    return cache / f"{split}-{start:06d}.npz"


def _make_chunk(spec: SpokenSpec, split: str, start: int, cache: str) -> str:
    """Make samples [start, start + CHUNK) of a split and store them in the cache; returns the chunk's path."""
    path = _chunk_path(Path(cache), split, start)
    speakers = make_speakers(spec)
    labels, speaker_ids = split_plan(spec, split)
    stop = min(start + CHUNK, labels.size)
    if _chunk_complete(path, stop - start):
        return str(path)
    times, units = [], []
    for index in range(start, stop):
        t, u = make_sample(spec, speakers, split, index, int(labels[index]), int(speaker_ids[index]))
        times.append(t)
        units.append(u)
    counts = np.array([t.size for t in times])
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, counts=counts, times=np.concatenate(times), units=np.concatenate(units).astype(np.uint16))
    return str(path)


def _chunk_complete(path: Path, size: int) -> bool:
    """Whether a cached chunk holds `size` samples (a chunk of another CHUNK or a damaged file is made anew)."""
    try:
        with np.load(path) as chunk:
            return chunk["counts"].size == size and int(chunk["counts"].sum()) == chunk["times"].size
    except (OSError, ValueError, KeyError, EOFError):
        return False


def _read_chunks(paths: list[Path]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    times, units = [], []
    for path in paths:
        with np.load(path) as chunk:
            bounds = np.concatenate([[0], np.cumsum(chunk["counts"])])
            times += [chunk["times"][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            units += [chunk["units"][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return times, units


def _up_to_date(path: Path, spec_json: str) -> bool:
    """Whether `path` is a readable data file made from this very spec (then it is kept as it is)."""
    if not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            made_from = handle.attrs.get("spoken_spec")
        read_shd_file(path)
    except Exception:  # unreadable or defective: rebuilt
        return False
    return made_from == spec_json


def generate_spoken(spec: SpokenSpec, out_dir: str | os.PathLike, threads: int = 1,
                    progress: Callable[[str], None] = print) -> tuple[Path, Path]:
    """Write spoken_train.h5 and spoken_test.h5 (SHD format, atomically) into `out_dir`; returns their paths.

    Files already made from the same spec are kept. Samples are made in chunks of CHUNK by `threads` worker
    processes and cached under out_dir/.spoken-cache/<spec hash>/ until both files are written, so a killed run
    resumes where it stopped. The spec and the speakers are stored as JSON root attributes.
    """
    out_dir = Path(out_dir)
    spec_json = json.dumps(asdict(spec), sort_keys=True)
    paths = {split: out_dir / SPOKEN_FILES[split] for split in _SPLITS}
    if all(_up_to_date(path, spec_json) for path in paths.values()):
        progress(f"up to date: {paths['train']}, {paths['test']}")
        return paths["train"], paths["test"]
    cache = out_dir / ".spoken-cache" / spec.fingerprint()
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(split, start) for split in _SPLITS
            for start in range(0, spec.num_train if split == "train" else spec.num_test, CHUNK)]
    _run_jobs(spec, jobs, cache, threads, progress)

    speakers = make_speakers(spec)
    attributes = {"spoken_spec": spec_json, "speakers": json.dumps([asdict(s) for s in speakers])}
    for split, path in paths.items():
        labels, speaker_ids = split_plan(spec, split)
        times, units = _read_chunks([_chunk_path(cache, split, start) for s, start in jobs if s == split])
        write_shd_file(path, times, units, labels, speaker_ids, KEYS,
                       num_channels=None if spec.channels == SHD_NUM_CHANNELS else spec.channels,
                       attributes=attributes)
        progress(f"wrote {path}")
    shutil.rmtree(cache, ignore_errors=True)
    if not any(cache.parent.iterdir()):
        cache.parent.rmdir()
    return paths["train"], paths["test"]


def _run_jobs(spec: SpokenSpec, jobs: list[tuple[str, int]], cache: Path, threads: int,
              progress: Callable[[str], None]) -> None:
    """Make every chunk not yet cached, in `threads` processes (forked: the membrane transfer is shared)."""
    todo = [(split, start) for split, start in jobs
            if not _chunk_complete(_chunk_path(cache, split, start), _chunk_size(spec, split, start))]
    progress(f"{len(jobs) - len(todo)} of {len(jobs)} chunks cached; making {len(todo)} with {threads} process(es)")
    membrane_transfer(spec.clip_samples, SAMPLE_RATE, spec.channels, BasilarMembraneParams())  # once, shared
    if threads <= 1 or len(todo) <= 1:
        for done, (split, start) in enumerate(todo, start=1):
            _make_chunk(spec, split, start, str(cache))
            progress(f"chunk {done}/{len(todo)} ({split} from {start})")
        return
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=threads, mp_context=context,
                                                  initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        with _sigterm_as_exit():
            futures = {pool.submit(_make_chunk, spec, split, start, str(cache)): (split, start)
                       for split, start in todo}
            for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                future.result()
                split, start = futures[future]
                progress(f"chunk {done}/{len(todo)} ({split} from {start})")
    except BaseException:  # an error, Ctrl-C or SIGTERM: stop the workers now instead of finishing every chunk
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


# --------------------------------------------------------------------------------------------------------------
# Worker processes never outlive the command (killed, interrupted, cancelled by Snakemake or SLURM, OOM-killed)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_WATCH_SECONDS = 1.0
"""How often a worker checks that its parent is alive where the kernel cannot tell it (not Linux)."""


def _die_with_parent(parent_pid: int) -> None:
    """Initializer of a worker process: end when the parent process ends, however it ends.

    On Linux the kernel sends SIGKILL to the worker when its parent dies (prctl PR_SET_PDEATHSIG; it fires even
    when the parent is SIGKILLed, where no cleanup of the parent can run). A thread that polls the parent's pid
    is the fallback elsewhere, and also covers the parent dying before prctl took effect. Ctrl-C reaches the
    whole process group: the workers ignore SIGINT and the parent stops them, so the user sees one message.
    """
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl (e.g. a libc without it): the watching thread alone
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="watch-parent").start()


def _watch_parent(parent_pid: int) -> None:
    """End this worker once its parent is gone (it is then re-parented: getppid changes)."""
    import time

    while os.getppid() == parent_pid:
        time.sleep(PARENT_WATCH_SECONDS)
    os._exit(1)


@contextlib.contextmanager
def _sigterm_as_exit():
    """Within the block, SIGTERM (Snakemake's cancellation, SLURM's scancel / time limit, `kill`) raises SystemExit
    (exit code 143) in the main thread, so that the workers are stopped and the chunks written so far are kept.
    The previous handler is restored afterwards. Outside the main thread, signals cannot be handled: no-op."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel what is queued and kill the running workers (their chunk is lost, every finished chunk is cached)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)
