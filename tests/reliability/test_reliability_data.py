"""Bad input data, seen through the commands a user runs: `spacetime-snn train` and `spacetime-snn data shd`.

Every defect must stop the command with exit code 2 and one message that names the file, says what is wrong and
how to fix it (which file to delete, which command to rerun), and nothing may be trained on it: the run directory
is not even created. (The reader's own checks are unit-tested in tests/data; here the point is what a user sees.)
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from reliability_helpers import cli_in_process, settings
from spacetime_snn.data.shd_format import SHD_FILES, read_shd_file, write_shd_file
from spacetime_snn.training import run_io

TRAIN = "train.h5"


def rewrite(path: Path, edit) -> None:
    """Read a valid SHD-format file, let `edit(times, units, labels)` damage the per-sample lists, write it back."""
    events = read_shd_file(path)
    bounds = list(zip(events.offsets[:-1], events.offsets[1:]))
    times = [events.times_s[a:b].copy() for a, b in bounds]
    units = [events.units[a:b].astype(np.int64) for a, b in bounds]
    labels = events.labels.copy()
    edit(times, units, labels)
    write_shd_file(path, times, units, labels, events.speakers, events.keys, num_channels=events.num_channels)


def _label(times, units, labels):
    labels[5] = 3  # the file has 3 keys: labels 0..2


def _negative(times, units, labels):
    times[5][0] = -0.004


def _non_monotone(times, units, labels):
    times[5][[0, -1]] = times[5][[-1, 0]]


def _unit(times, units, labels):
    units[5][0] = 24  # num_channels = 24


def _empty(times, units, labels):
    times[5], units[5] = times[5][:0], units[5][:0]


def _nan(times, units, labels):
    times[5][1] = np.nan


def _missing_key(path: Path) -> None:
    with h5py.File(path, "a") as handle:
        del handle["labels"]


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # an interrupted copy or download


def _damaged_inside(path: Path) -> None:
    """Bytes of the file's metadata overwritten (a bad disk block): the file opens, its groups do not."""
    data = bytearray(path.read_bytes())
    position = data.find(b"HEAP")  # signature of a local heap (group member names)
    assert position > 0
    data[position:position + 4] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


def _garbage(path: Path) -> None:
    path.write_bytes(b"<html>404 Not Found</html>" * 20)  # what a failed download often saves


EDITS = {"label": _label, "negative": _negative, "non-monotone": _non_monotone, "unit": _unit, "empty": _empty,
         "nan": _nan}
DAMAGES = {"missing-key": _missing_key, "truncated": _truncated, "damaged-inside": _damaged_inside,
           "garbage": _garbage}
DEFECTS = {  # what the message must say is wrong
    "label": "sample(s) 5 (1 in all) has a label >= the number of keys (3)",
    "negative": "sample(s) 5 (1 in all) has negative or non-finite spike times",
    "nan": "sample(s) 5 (1 in all) has negative or non-finite spike times",
    "non-monotone": "sample(s) 5 (1 in all) has spike times that decrease (must be in time order)",
    "unit": "sample(s) 5 (1 in all) has units outside [0, 24) (num_channels=24)",
    "empty": "sample(s) 5 (1 in all) has no events (every sample needs at least one spike)",
    "missing-key": "missing dataset(s) labels; not an SHD-format file",
    "truncated": "not a readable HDF5 file, truncated or corrupt",
    "damaged-inside": "not a readable HDF5 file, truncated or corrupt",
    "garbage": "not a readable HDF5 file, truncated or corrupt",
}


def train(capsys, run_settings: dict, out: Path) -> tuple[int, str, str]:
    return cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(out))


def assert_refused(code: int, out: str, err: str, run_dir: Path) -> str:
    assert code == 2, out + err
    assert err.startswith("spacetime-snn train: error: ") and "Traceback" not in err
    assert not run_dir.exists(), f"a run directory was created on bad data: {sorted(run_dir.iterdir())}"
    return err


@pytest.mark.parametrize("defect", [*EDITS, *DAMAGES])
def test_train_refuses_a_defective_data_file(capsys, fresh_data, tmp_path, defect):
    path = fresh_data / TRAIN
    if defect in EDITS:
        rewrite(path, EDITS[defect])
    else:
        DAMAGES[defect](path)
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data), run_dir), run_dir)
    assert f"{path}: {DEFECTS[defect]}" in err
    assert f"Fix: delete {path} and run `spacetime-snn data synthetic --out {fresh_data}`" in err


def test_a_damaged_shd_file_names_the_download_command(capsys, fresh_data, tmp_path):
    for split, name in SHD_FILES.items():
        shutil.copy(fresh_data / f"{split}.h5", fresh_data / name)
    _truncated(fresh_data / SHD_FILES["train"])
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data, data={"source": "shd"}), run_dir), run_dir)
    path = fresh_data / SHD_FILES["train"]
    assert f"{path}: not a readable HDF5 file, truncated or corrupt" in err
    assert f"Fix: delete {path} and run `spacetime-snn data shd --root {fresh_data}`" in err


def test_a_missing_data_file_names_the_command_that_makes_it(capsys, fresh_data, tmp_path):
    (fresh_data / "test.h5").unlink()
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data), run_dir), run_dir)
    assert f"{fresh_data / 'test.h5'}: file not found. Fix: run `spacetime-snn data synthetic --out {fresh_data}`" \
        in err


def test_a_stale_cache_never_hides_a_file_damaged_later(capsys, fresh_data, tmp_path):
    """The binned cache of a good file must not be used once the file has changed (here: truncated)."""
    code, out, err = train(capsys, settings(fresh_data), tmp_path / "good")
    assert code == 0, err
    assert list((fresh_data / "cache").glob("train-*.npz"))
    _truncated(fresh_data / TRAIN)
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data), run_dir), run_dir)
    assert f"{fresh_data / TRAIN}: not a readable HDF5 file, truncated or corrupt" in err


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_binned_cache_is_named_for_deletion(capsys, fresh_data, tmp_path, damage):
    code, out, err = train(capsys, settings(fresh_data), tmp_path / "good")
    assert code == 0, err
    (cache,) = (fresh_data / "cache").glob("train-*.npz")
    cache.write_bytes(cache.read_bytes()[:200] if damage == "truncated" else b"")
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data), run_dir), run_dir)
    assert f"{cache}: binned cache is unreadable" in err
    assert f"Fix: delete {cache}; it is rebuilt from its source." in err


def test_a_corrupt_model_file_stops_the_commands_that_read_it(capsys, fresh_data, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = train(capsys, settings(fresh_data), run_dir)
    assert code == 0, err
    model = run_dir / run_io.MODEL
    model.write_bytes(model.read_bytes()[:300])
    code, out, err = cli_in_process(capsys, "prune", "--run-dir", str(run_dir), "--out", str(tmp_path / "p.csv"))
    assert code == 2 and "Traceback" not in err
    assert f"{model}: cannot be read" in err and "; it is corrupt or truncated. Fix: rerun the `spacetime-snn " \
        "train` command that made this run" in err  # in a study layout: test_reliability_outputs.py
    assert not (tmp_path / "p.csv").exists()


# ---- `spacetime-snn data shd`: checksums and damaged files, never touching the network ----

tonic_datasets = pytest.importorskip("tonic.datasets")
SHD = tonic_datasets.SHD


def shd_zip(tmp_path: Path, name: str) -> bytes:
    """A zip holding a small valid SHD-format file named like SHD's (not SHD's content, so not its md5)."""
    source = tmp_path / "zip-source" / name
    write_shd_file(source, [np.array([0.1, 0.2])], [np.array([1, 2])], [0], [0], ["zero"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(source, arcname=name)
    return buffer.getvalue()


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """tonic's downloader serves fake zips (never SHD's md5) instead of touching the network."""
    import tonic.download_utils

    fetched = []

    def retrieve(url, filename, chunk_size=1024):
        fetched.append(url)
        Path(filename).write_bytes(shd_zip(tmp_path, Path(url).name.removesuffix(".zip")))

    monkeypatch.setattr(tonic.download_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tonic.download_utils, "_urlretrieve", retrieve)
    return fetched


def data_shd(capsys, root: Path) -> tuple[int, str, str]:
    return cli_in_process(capsys, "data", "shd", "--root", str(root))


def test_a_downloaded_zip_with_the_wrong_md5_is_not_kept(capsys, tmp_path, no_network):
    root = tmp_path / "shd"
    code, out, err = data_shd(capsys, root)
    assert code == 2 and no_network, err
    assert err.startswith("spacetime-snn data: error: ") and "Traceback" not in err
    url = SHD.base_url + SHD.train_zip
    assert f"{url}: download or extraction through tonic failed" in err and "nothing was kept in" in err
    assert f"Fix: rerun `spacetime-snn data shd --root {root}`" in err
    assert f"download {url} (md5 {SHD.train_md5}) to {root / SHD.train_zip}" in err  # the offline route
    assert list(root.iterdir()) == [], "a failed download left files behind"


def test_a_hand_placed_zip_with_the_wrong_md5_is_named_for_deletion(capsys, tmp_path, no_network):
    root = tmp_path / "shd"
    root.mkdir()
    placed = root / SHD.train_zip
    placed.write_bytes(shd_zip(tmp_path, SHD_FILES["train"])[:-100])  # an interrupted browser download
    code, out, err = data_shd(capsys, root)
    assert code == 2 and not no_network, err  # checked locally, no download attempted
    assert f"{placed}: md5 differs from tonic's {SHD.train_md5} (incomplete or wrong file)" in err
    assert f"Fix: delete {placed}, then rerun `spacetime-snn data shd --root {root}`" in err
    assert sorted(p.name for p in root.iterdir()) == [SHD.train_zip], "something was extracted from a bad zip"


def test_a_damaged_extracted_file_is_named_for_deletion(capsys, tmp_path, no_network):
    root = tmp_path / "shd"
    root.mkdir()
    target = root / SHD_FILES["train"]
    target.write_bytes(hashlib.sha256(b"x").digest() * 100)
    code, out, err = data_shd(capsys, root)
    assert code == 2 and not no_network, err
    assert f"{target}: not a readable HDF5 file, truncated or corrupt" in err
    assert f"Fix: delete {target} and run `spacetime-snn data shd --root {root}`" in err


# ---- spike times written in the wrong unit ------------------------------------------------------------------

def _in_milliseconds(path: Path, keep_spec: bool = True) -> None:
    """The same events with their times multiplied by 1000 (milliseconds where the format holds seconds)."""
    with h5py.File(path, "r") as handle:
        attributes = {key: value for key, value in handle.attrs.items() if key == "synthetic_spec" and keep_spec}
    events = read_shd_file(path)
    bounds = list(zip(events.offsets[:-1], events.offsets[1:]))
    write_shd_file(path, [events.times_s[a:b] * 1000.0 for a, b in bounds], [events.units[a:b] for a, b in bounds],
                   events.labels, events.speakers, events.keys, num_channels=events.num_channels,
                   attributes=attributes)


UNIT_CASES = {  # id: (file names, keep the synthetic spec, data settings, where the stated scale comes from)
    "synthetic-spec": (None, True, {}, "but its synthetic_spec says samples last 200 ms"),
    "synthetic-spec-cut-at-150-ms": (None, True, {"max_time_ms": 150.0}, "but its synthetic_spec says samples "
                                                                          "last 200 ms"),
    "no-spec": (None, False, {}, "but samples of spoken audio last well under 60 s (SHD's about 1.4 s at most)"),
    "shd-names": (SHD_FILES, False, {"source": "shd"}, "but SHD's samples last about 1.4 s at most"),
}


@pytest.mark.parametrize("case", UNIT_CASES)
def test_spike_times_in_milliseconds_stop_training_naming_the_file(capsys, fresh_data, tmp_path, case):
    """Read as seconds, 200 ms samples became 200 s: 100,000 steps of 2 ms per sample, 1000x the work."""
    names, keep_spec, data, stated = UNIT_CASES[case]
    if names:
        for split, name in names.items():
            (fresh_data / f"{split}.h5").rename(fresh_data / name)
    path = fresh_data / (names or {"train": TRAIN})["train"]
    _in_milliseconds(path, keep_spec)
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data, data=data), run_dir), run_dir)
    assert f"{path}: sample(s) 0, 1, 2, 3, 4, ... (48 in all) has spike times up to 199." in err
    assert f" s, {stated}: the times look like milliseconds; spikes/times must be in seconds" in err
    assert f"Fix: delete {path} and run `spacetime-snn data " in err


def test_samples_too_long_for_the_time_step_stop_training(capsys, fresh_data, tmp_path):
    """Valid seconds, but a step so small that one sample would be 50,000 steps or more."""
    run_dir = tmp_path / "run"
    err = assert_refused(*train(capsys, settings(fresh_data, data={"dt_ms": 0.003}), run_dir), run_dir)
    assert f"{fresh_data / TRAIN}: samples last up to 199." in err
    assert " steps of data.dt_ms = 0.003 ms (more than 50,000: a training step would need tens of GB and hours). " \
           "Fix: check that the file's spike times are in seconds; for recordings this long, set a larger " \
           "data.dt_ms or cut them with data.max_time_ms (ms)." in err
