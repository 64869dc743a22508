"""data/spoken.py and data/speech.py: the spoken-digit set in SHD's format, deterministic per seed, speakers
disjoint between the splits, cached; and a training step on it (what CI runs: a few samples, 16 channels,
0.25 s clips)."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from spacetime_snn.data import spoken
from spacetime_snn.data.dataset import load_train_test
from spacetime_snn.data.shd_format import SHD_FILES, SPOKEN_FILES, read_shd_file
from spacetime_snn.data.speech import Voice, synthesise
from spacetime_snn.errors import ConfigError, DataError

SPEC = spoken.SpokenSpec(num_train=20, num_test=20, channels=16, train_speakers=3, test_speakers=2,
                         clip_samples=5512, seed=4)


@pytest.fixture(scope="module")
def spoken_set(tmp_path_factory):
    """The small set, made by two worker processes."""
    root = tmp_path_factory.mktemp("spoken")
    spoken.generate_spoken(SPEC, root, threads=2, progress=lambda line: None)
    return root


def test_files_are_shd_format_read_by_the_projects_loader(spoken_set):
    for split, size in (("train", SPEC.num_train), ("test", SPEC.num_test)):
        events = read_shd_file(spoken_set / SPOKEN_FILES[split])
        assert events.num_channels == SPEC.channels and events.keys == spoken.KEYS
        assert events.keys[:3] == ("zero", "one", "two") and events.keys[10:13] == ("null", "eins", "zwei")
        assert events.labels.size == size and set(events.labels) == set(range(20))  # every class once
        assert events.times_s.max() < SPEC.clip_samples / spoken.SAMPLE_RATE
        assert np.all(np.diff(events.offsets) > 0)
    train, test = load_train_test((spoken_set / SPOKEN_FILES["train"], spoken_set / SPOKEN_FILES["test"]), dt_ms=1.0)
    assert train.num_channels == test.num_channels == SPEC.channels and train.num_classes == 20
    assert train.num_steps == test.num_steps <= 250


def test_tonic_reads_the_files(spoken_set, tmp_path):
    """tonic's SHD reader (the field layout of the real data set): events in µs, channel x, label, speaker, keys."""
    from tonic.datasets import SHD

    folder = tmp_path / "SHD"
    folder.mkdir()
    (folder / SHD.train_zip).write_bytes(b"")
    shutil.copy(spoken_set / SPOKEN_FILES["train"], folder / SHD_FILES["train"])
    data = SHD(save_to=str(tmp_path), train=True)
    ours = read_shd_file(spoken_set / SPOKEN_FILES["train"])
    events, target = data[3]
    first, last = ours.offsets[3], ours.offsets[4]
    np.testing.assert_array_equal(events["x"], ours.units[first:last])
    np.testing.assert_array_equal(events["t"], (ours.times_s[first:last] * 1e6).astype(int))
    assert target == ours.labels[3] and len(data) == SPEC.num_train
    np.testing.assert_array_equal(data.speaker, ours.speakers)
    assert tuple(key.decode() for key in data.classes) == spoken.KEYS


def test_speakers_are_disjoint_between_train_and_test(spoken_set):
    train = read_shd_file(spoken_set / SPOKEN_FILES["train"])
    test = read_shd_file(spoken_set / SPOKEN_FILES["test"])
    assert set(train.speakers) == {0, 1, 2} and set(test.speakers) == {3, 4}
    with h5py.File(spoken_set / SPOKEN_FILES["test"], "r") as handle:
        speakers = json.loads(handle.attrs["speakers"])
        assert json.loads(handle.attrs["spoken_spec"])["seed"] == SPEC.seed
    assert len(speakers) == SPEC.num_speakers
    assert len({speaker["variant"] for speaker in speakers}) == SPEC.num_speakers  # every speaker its own voice


def test_a_sample_is_determined_by_seed_split_and_index(spoken_set):
    """Made again in this process, alone, sample 7 equals the one a worker made among others; another seed differs."""
    events = read_shd_file(spoken_set / SPOKEN_FILES["test"])
    labels, speakers = spoken.split_plan(SPEC, "test")
    times, units = spoken.make_sample(SPEC, spoken.make_speakers(SPEC), "test", 7, int(labels[7]), int(speakers[7]))
    first, last = events.offsets[7], events.offsets[8]
    np.testing.assert_array_equal(units, events.units[first:last])
    np.testing.assert_array_equal(np.float16(times), np.float16(events.times_s[first:last]))
    other = spoken.SpokenSpec(**{**SPEC.__dict__, "seed": 5})
    again = spoken.make_sample(other, spoken.make_speakers(other), "test", 7, int(labels[7]), int(speakers[7]))
    assert again[0].size != times.size or not np.array_equal(again[1], units)


def test_made_files_are_kept_and_a_damaged_one_is_remade_alike_by_one_process(spoken_set, tmp_path):
    lines = []
    target = tmp_path / "copy"
    shutil.copytree(spoken_set, target)
    before = (target / SPOKEN_FILES["train"]).stat().st_mtime_ns
    spoken.generate_spoken(SPEC, target, progress=lines.append)
    assert lines[0].startswith("up to date") and (target / SPOKEN_FILES["train"]).stat().st_mtime_ns == before
    (target / SPOKEN_FILES["test"]).write_bytes(b"truncated")
    lines.clear()
    spoken.generate_spoken(SPEC, target, threads=1, progress=lines.append)
    assert not lines[0].startswith("up to date")
    for name in SPOKEN_FILES.values():  # one process now, two for the fixture: the same files
        with h5py.File(spoken_set / name, "r") as a, h5py.File(target / name, "r") as b:
            for key in ("spikes/times", "spikes/units", "labels", "extra/speaker", "extra/keys"):
                assert all(np.array_equal(x, y) for x, y in zip(a[key][()], b[key][()])), key


def test_an_interrupted_run_resumes_from_cached_chunks(tmp_path, monkeypatch):
    """The chunk bookkeeping alone (samples stubbed): finished chunks are kept, a damaged one is made again."""
    monkeypatch.setattr(spoken, "CHUNK", 10)
    monkeypatch.setattr(spoken, "make_sample", lambda spec, speakers, split, index, label, speaker: (
        np.array([0.001 * (index + 1)]), np.array([label % SPEC.channels])))
    cache = tmp_path / ".spoken-cache" / SPEC.fingerprint()
    cache.mkdir(parents=True)
    spoken._make_chunk(SPEC, "train", 0, str(cache))  # as if a killed run had finished these two chunks
    spoken._make_chunk(SPEC, "test", 10, str(cache))
    (cache / "test-000010.npz").write_bytes(b"cut short")  # ... and died writing this one
    made = []
    real = spoken._make_chunk
    monkeypatch.setattr(spoken, "_make_chunk", lambda *args: made.append(args[1:3]) or real(*args))
    lines = []
    spoken.generate_spoken(SPEC, tmp_path, progress=lines.append)
    assert lines[0].startswith("1 of 4 chunks cached") and sorted(made) == [("test", 0), ("test", 10), ("train", 10)]
    events = read_shd_file(tmp_path / SPOKEN_FILES["train"])
    np.testing.assert_allclose(events.times_s, np.float16(0.001 * np.arange(1, 21)))
    assert not cache.parent.exists()  # removed once both files are written


def test_speech_is_deterministic_after_other_utterances():
    voice = Voice("en-us+f3", rate=160, pitch=60)
    first, rate = synthesise("seven", voice, seed=3)
    synthesise("sieben", Voice("de+m2"), seed=9)
    again, _ = synthesise("seven", voice, seed=3)
    assert rate == spoken.SAMPLE_RATE and first.size > 0.2 * rate
    np.testing.assert_array_equal(first, again)
    slower, _ = synthesise("seven", Voice("en-us+f3", rate=100, pitch=60), seed=3)
    assert slower.size > 1.2 * first.size


def test_unknown_voice_is_a_data_error():
    with pytest.raises(DataError, match="no voice 'xx\\+nobody'"):
        synthesise("one", Voice("xx+nobody"), seed=0)


@pytest.mark.parametrize("change, key", [({"num_train": 5}, "num_train"), ({"snr_db": (20.0, 0.0)}, "snr_db"),
                                         ({"rate_wpm": (50.0, 100.0)}, "rate_wpm"), ({"channels": 0}, "channels")])
def test_bad_spec_names_the_field(change, key):
    with pytest.raises(ConfigError, match=key):
        spoken.SpokenSpec(**change)


def test_clip_mixes_speech_and_noise_at_the_drawn_snr():
    spec = spoken.SpokenSpec(snr_db=(10.0, 10.0), loudness_db=0.0)
    speaker = spoken.make_speakers(spec)[0]
    clip = spoken.make_clip(spec, speaker, 13, np.random.default_rng(0))
    quiet = np.abs(clip[:100]).mean()  # noise only: the word starts 20 ms in at the earliest
    assert clip.size == spec.clip_samples and quiet > 0
    power_ratio = np.mean(clip**2) / np.mean(clip[:400] ** 2)
    assert power_ratio > 2  # the word stands out of the noise


def test_a_training_step_on_the_spoken_set(spoken_set, tmp_path):
    """What CI does with the set: `spacetime-snn train` for one epoch on it."""
    from spacetime_snn.cli import main
    from spacetime_snn.training import run_io

    settings = {
        "data": {"source": "spoken", "root": str(spoken_set), "dt_ms": 2.0, "selection": "train",
                 "augment": {"shift_channels": 2, "blend_samples": 4}},
        "model": {"hidden": 8, "delay_mode": "spatial", "max_delay_steps": 8},
        "train": {"epochs": 1, "batch_size": 10},
        "run": {"study": "test", "condition": "spatial", "hidden": 8, "seed": 0},
    }
    assert main(["train", "--settings", json.dumps(settings), "--out", str(tmp_path / "run")]) == 0
    summary = run_io.load_summary(tmp_path / "run")
    assert 0 <= summary["test_accuracy"] <= 1
