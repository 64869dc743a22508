"""dataset: binning, num_steps, train/test alignment, subset/sample, and the binned cache (reuse, keying, races)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from spacetime_snn.data import dataset as dataset_module
from spacetime_snn.data.dataset import cache_path, load_dataset, load_train_test, split_files
from spacetime_snn.data.shd_format import SHD_FILES, SYNTHETIC_FILES, write_shd_file
from spacetime_snn.errors import DataError


def one_sample_file(path: Path, times_s, units, num_channels=None) -> Path:
    return write_shd_file(path, [np.asarray(times_s)], [np.asarray(units)], [0], [0], ["only"],
                          num_channels=num_channels)


def test_binning_follows_the_contract_formula(tmp_path):
    times_s = np.array([0.0, 0.0009765625, 0.0029296875, 0.25, 0.5])  # float16-exact values
    path = one_sample_file(tmp_path / "a.h5", times_s, [0, 1, 2, 3, 4], num_channels=8)
    for dt_ms in (1.0, 2.0, 0.5):
        ds = load_dataset(path, dt_ms)
        expected = np.floor(times_s * 1000 / dt_ms).astype(np.int32)
        np.testing.assert_array_equal(ds.times, expected)
        assert ds.times.dtype == np.int32 and ds.units.dtype == np.int32 and ds.offsets.dtype == np.int64
        assert ds.num_steps == expected[-1] + 1  # 500 ms lies on a bin edge: ceil would lose it
        assert (ds.num_channels, ds.num_classes, ds.dt_ms) == (8, 1, dt_ms)


def test_max_time_drops_later_events_and_num_steps_overrides(tmp_path):
    path = one_sample_file(tmp_path / "a.h5", [0.0625, 0.25, 0.875, 1.25], [0, 1, 2, 3])  # float16-exact
    ds = load_dataset(path, 1.0, max_time_ms=1000.0)
    np.testing.assert_array_equal(ds.times, [62, 250, 875])
    assert ds.num_steps == 876
    cut = load_dataset(path, 1.0, num_steps=300)
    np.testing.assert_array_equal(cut.times, [62, 250])
    np.testing.assert_array_equal(cut.offsets, [0, 2])
    assert cut.num_steps == 300
    assert load_dataset(path, 1.0, num_steps=5000).num_steps == 5000


def test_train_and_test_share_num_steps(tmp_path):
    one_sample_file(tmp_path / SYNTHETIC_FILES["train"], [0.125, 0.25], [0, 1])
    one_sample_file(tmp_path / SYNTHETIC_FILES["test"], [0.0625, 0.5], [0, 1])
    train, test = load_train_test(tmp_path, 2.0)
    assert train.num_steps == test.num_steps == 251
    train, test = load_train_test((tmp_path / "train.h5", tmp_path / "test.h5"), 1.0, max_time_ms=300)
    assert train.num_steps == test.num_steps == 251


def test_split_files_prefers_shd_names_and_explains_an_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no data files") as error:
        split_files(tmp_path)
    assert f"spacetime-snn data shd --root {tmp_path}" in str(error.value)
    one_sample_file(tmp_path / SHD_FILES["train"], [0.125], [0])
    assert split_files(tmp_path) == (tmp_path / "shd_train.h5", tmp_path / "shd_test.h5")
    with pytest.raises(DataError, match="shd_test.h5: file not found"):
        load_train_test(tmp_path, 1.0)


def test_train_test_mismatch_is_reported(tmp_path):
    one_sample_file(tmp_path / "train.h5", [0.1], [0], num_channels=8)
    one_sample_file(tmp_path / "test.h5", [0.1], [0], num_channels=16)
    with pytest.raises(DataError, match="num_channels"):
        load_train_test(tmp_path, 1.0)


def test_subset_and_sample(random_dataset):
    ds = random_dataset(num_samples=10)
    sub = ds.subset([7, 2, 7])
    assert len(sub) == 3
    for k, index in enumerate([7, 2, 7]):
        original, picked = ds.sample(index), sub.sample(k)
        np.testing.assert_array_equal(original.times, picked.times)
        np.testing.assert_array_equal(original.units, picked.units)
        assert (original.label, original.speaker) == (picked.label, picked.speaker)
    assert sub.num_steps == ds.num_steps and sub.num_channels == ds.num_channels


def test_spike_dataset_rejects_inconsistent_arrays(random_dataset):
    ds = random_dataset(num_samples=3)
    with pytest.raises(ValueError):
        type(ds)(ds.times, ds.units[:-1], ds.offsets, ds.labels, ds.speakers, 30, 50, 4, 1.0)
    with pytest.raises(ValueError):
        type(ds)(ds.times, ds.units, ds.offsets, ds.labels[:2], ds.speakers, 30, 50, 4, 1.0)


def test_cache_is_reused_and_follows_the_source(tmp_path, shd_file, monkeypatch):
    source = shd_file("train.h5", num_samples=30)
    cache = tmp_path / "cache"
    first = load_dataset(source, 1.0, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("the source was read although the cache is valid")

    monkeypatch.setattr(dataset_module, "read_shd_file", no_reading)
    second = load_dataset(source, 1.0, cache_dir=cache)
    for field in ("times", "units", "offsets", "labels", "speakers"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert (first.num_steps, first.num_channels, first.num_classes) == (second.num_steps, second.num_channels,
                                                                         second.num_classes)
    assert cache_path(source, 2.0, None, cache) != cache_path(source, 1.0, None, cache)
    assert cache_path(source, 1.0, 100.0, cache) != cache_path(source, 1.0, None, cache)
    monkeypatch.undo()

    old_key = cache_path(source, 1.0, None, cache)
    shd_file("train.h5", num_samples=31, seed=1)  # rewritten in place: a new key, a fresh binning
    os.utime(source, ns=(1, 1))
    assert cache_path(source, 1.0, None, cache) != old_key
    assert len(load_dataset(source, 1.0, cache_dir=cache)) == 31


def test_corrupt_cache_is_reported(tmp_path, shd_file):
    source = shd_file()
    cache = tmp_path / "cache"
    load_dataset(source, 1.0, cache_dir=cache)
    cached = cache_path(source, 1.0, None, cache)
    cached.write_bytes(b"broken")
    with pytest.raises(DataError, match=f"delete {cached}"):
        load_dataset(source, 1.0, cache_dir=cache)


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from spacetime_snn.data import dataset

    source, cache, marker_dir, out = map(Path, sys.argv[1:])
    real_bin = dataset.bin_events

    def slow_bin(*args, **kwargs):  # slow and recorded: a second binning would show as a second marker
        (marker_dir / f"binned-{out.stem}").touch()
        time.sleep(1.0)
        return real_bin(*args, **kwargs)

    dataset.bin_events = slow_bin
    ds = dataset.load_dataset(source, 1.0, cache_dir=cache)
    np.savez(out, times=ds.times, units=ds.units, offsets=ds.offsets)
    """
)


def test_two_processes_share_one_cache(tmp_path, shd_file):
    source = shd_file(num_samples=50)
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    outs = [tmp_path / f"out{k}.npz" for k in range(2)]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(cache), str(markers), str(out)])
                for out in outs]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    assert len(list(markers.iterdir())) == 1, "the binning ran more than once"
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == [cache_path(source, 1.0, None,
                                                                                             cache).name]
    first, second = (np.load(out) for out in outs)
    for field in ("times", "units", "offsets"):
        np.testing.assert_array_equal(first[field], second[field])


def test_empty_samples_are_an_error_unless_allowed(tmp_path):
    path = write_shd_file(tmp_path / "a.h5", [np.array([0.125]), np.array([])], [np.array([1]), np.array([])],
                          [0, 0], [0, 0], ["only"])
    with pytest.raises(DataError, match="sample\\(s\\) 1 .*no events"):
        load_dataset(path, 1.0, cache_dir=tmp_path / "cache")
    ds = load_dataset(path, 1.0, cache_dir=tmp_path / "cache", allow_empty_samples=True)
    np.testing.assert_array_equal(ds.counts(), [1, 0])
