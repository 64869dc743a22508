"""shd_format: round trip, SHD's exact layout (also read back through tonic), and one DataError per defect."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from spacetime_snn.data.shd_format import SHD_FILES, read_shd_file, write_shd_file
from spacetime_snn.errors import DataError


def write(path: Path, times, units, labels=None, keys=("zero", "one"), num_channels=None) -> Path:
    labels = [0] * len(times) if labels is None else labels
    return write_shd_file(path, times, units, labels, [0] * len(times), keys, num_channels=num_channels)


def test_round_trip_keeps_events_labels_speakers_and_keys(tmp_path):
    times = [np.array([0.0, 0.01, 0.25]), np.array([0.5])]
    units = [np.array([3, 699, 0]), np.array([42])]
    path = write_shd_file(tmp_path / "a.h5", times, units, [1, 0], [7, 2], ["zero", "one"])
    events = read_shd_file(path)
    np.testing.assert_allclose(events.times_s, np.concatenate(times).astype(np.float16))
    np.testing.assert_array_equal(events.units, [3, 699, 0, 42])
    np.testing.assert_array_equal(events.offsets, [0, 3, 4])
    np.testing.assert_array_equal(events.labels, [1, 0])
    np.testing.assert_array_equal(events.speakers, [7, 2])
    assert events.keys == ("zero", "one")
    assert events.num_channels == 700


def test_num_channels_attribute_bounds_units(tmp_path):
    path = write(tmp_path / "a.h5", [np.array([0.1])], [np.array([63])], num_channels=64)
    assert read_shd_file(path).num_channels == 64
    path = write(tmp_path / "b.h5", [np.array([0.1])], [np.array([64])], num_channels=64)
    with pytest.raises(DataError, match="outside"):
        read_shd_file(path)


def write_like_shd(path: Path, times, units, labels, speakers, keys) -> None:
    """The layout and dtypes SHD ships (as tonic/datasets/hsd.py reads it), written with h5py alone."""
    with h5py.File(path, "w") as handle:
        spikes = handle.create_group("spikes")
        spikes.create_dataset("times", data=np.array([np.asarray(t, np.float16) for t in times], dtype=object),
                              dtype=h5py.vlen_dtype(np.float16))
        spikes.create_dataset("units", data=np.array([np.asarray(u, np.uint16) for u in units], dtype=object),
                              dtype=h5py.vlen_dtype(np.uint16))
        handle.create_dataset("labels", data=np.asarray(labels, np.uint16))
        extra = handle.create_group("extra")
        extra.create_dataset("keys", data=np.array([k.encode() for k in keys]))
        extra.create_dataset("speaker", data=np.asarray(speakers, np.uint16))
        meta = extra.create_group("meta_info")
        meta.create_dataset("age", data=np.array([30, 41], np.uint16))


def test_reads_a_file_in_shds_exact_layout(tmp_path):
    times = [[0.001, 0.002, 0.9], [0.3, 0.31]]
    units = [[10, 20, 699], [0, 1]]
    write_like_shd(tmp_path / "shd_train.h5", times, units, [1, 0], [0, 1], ["zero", "one"])
    events = read_shd_file(tmp_path / "shd_train.h5")
    np.testing.assert_allclose(events.times_s, np.float16(np.concatenate(times)))
    np.testing.assert_array_equal(events.units, np.concatenate(units))
    assert events.keys == ("zero", "one")
    with h5py.File(write(tmp_path / "ours.h5", [np.array([0.1])], [np.array([1])]), "r") as ours, \
            h5py.File(tmp_path / "shd_train.h5", "r") as shd:
        for key in ("spikes/times", "spikes/units", "labels", "extra/speaker"):
            assert ours[key].dtype == shd[key].dtype, key
            assert h5py.check_vlen_dtype(ours[key].dtype) == h5py.check_vlen_dtype(shd[key].dtype), key


def test_tonic_reads_files_we_write(tmp_path):
    from tonic.datasets import SHD

    folder = tmp_path / "SHD"  # tonic looks in save_to/<class name>/ and skips the download when a zip and an h5 exist
    folder.mkdir()
    (folder / SHD.train_zip).write_bytes(b"")
    times = [np.array([0.001, 0.5]), np.array([0.25])]
    write_shd_file(folder / SHD_FILES["train"], times, [np.array([5, 6]), np.array([699])], [1, 0], [3, 4],
                   ["zero", "one"])
    data = SHD(save_to=str(tmp_path), train=True)
    events, target = data[0]
    np.testing.assert_array_equal(events["t"], (np.float16(times[0]).astype(np.float64) * 1e6).astype(int))  # µs
    np.testing.assert_array_equal(events["x"], [5, 6])
    assert target == 1 and len(data) == 2
    np.testing.assert_array_equal(data.speaker, [3, 4])
    assert [key.decode() for key in data.classes] == ["zero", "one"]


def test_missing_file_names_the_file_and_the_command(tmp_path):
    with pytest.raises(DataError) as error:
        read_shd_file(tmp_path / SHD_FILES["test"])
    message = str(error.value)
    assert str(tmp_path / "shd_test.h5") in message and "not found" in message
    assert f"spacetime-snn data shd --root {tmp_path}" in message


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file" * 10], ids=["empty", "garbage"])
def test_unreadable_file(tmp_path, content):
    path = tmp_path / "train.h5"
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        read_shd_file(path)
    message = str(error.value)
    assert str(path) in message and "corrupt" in message
    assert f"delete {path}" in message and f"spacetime-snn data synthetic --out {tmp_path}" in message


def test_truncated_download(tmp_path, shd_file):
    path = shd_file(SHD_FILES["train"], num_samples=200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as error:
        read_shd_file(path)
    assert str(path) in str(error.value) and f"delete {path}" in str(error.value)
    assert "spacetime-snn data shd" in str(error.value)


def test_missing_dataset(tmp_path, shd_file):
    path = shd_file()
    with h5py.File(path, "a") as handle:
        del handle["extra/speaker"]
    with pytest.raises(DataError, match="missing dataset.*extra/speaker") as error:
        read_shd_file(path)
    assert str(path) in str(error.value)


OK_T, OK_U = np.array([0.1, 0.2]), np.array([1, 2])


@pytest.mark.parametrize(
    ("times", "units", "labels", "defect"),
    [
        ([OK_T, OK_T], [OK_U, OK_U], [0, 2], "label >= the number of keys"),
        ([OK_T, np.array([-0.1, 0.2])], [OK_U, OK_U], None, "negative or non-finite"),
        ([OK_T, np.array([0.1, np.nan])], [OK_U, OK_U], None, "negative or non-finite"),
        ([OK_T, np.array([0.2, 0.1])], [OK_U, OK_U], None, "decrease"),
        ([OK_T, OK_T], [OK_U, np.array([1, 700])], None, "outside \\[0, 700\\)"),
        ([OK_T, np.array([])], [OK_U, np.array([])], None, "no events"),
        ([OK_T, OK_T], [OK_U, np.array([1])], None, "differ in length"),
    ],
    ids=["label", "negative", "nan", "non-monotone", "unit", "empty", "length"],
)
def test_each_defect_names_file_sample_and_fix(tmp_path, times, units, labels, defect):
    path = write(tmp_path / SHD_FILES["train"], times, units, labels)
    with pytest.raises(DataError, match=defect) as error:
        read_shd_file(path)
    message = str(error.value)
    assert str(path) in message and f"delete {path}" in message
    assert f"spacetime-snn data shd --root {tmp_path}" in message
    if labels is None:
        assert "sample(s) 1 " in message


def test_samples_may_restart_in_time_and_empty_samples_can_be_allowed(tmp_path):
    path = write(tmp_path / "x.h5", [np.array([0.5, 0.9]), np.array([]), np.array([0.1])],
                 [np.array([1, 2]), np.array([]), np.array([3])])
    with pytest.raises(DataError, match="sample\\(s\\) 1 .*no events"):
        read_shd_file(path)
    events = read_shd_file(path, allow_empty_samples=True)
    np.testing.assert_array_equal(events.offsets, [0, 2, 2, 3])


def test_mismatched_per_sample_array_counts(tmp_path, shd_file):
    path = shd_file(num_samples=4)
    with h5py.File(path, "a") as handle:
        del handle["labels"]
        handle.create_dataset("labels", data=np.zeros(3, np.uint16))
    with pytest.raises(DataError, match="labels has 3 entries but spikes/times has 4"):
        read_shd_file(path)
