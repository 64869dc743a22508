"""Messages that named the wrong cause (issue 20, item 7), through `spacetime-snn train`: a negative label, a file
without the num_channels attribute, float labels / units (refused, no longer cut to integers), an empty settings
file. (A quoted integer in a study config: test_reliability_snakemake.py; `--binary-keep-fraction 0`:
test_reliability_mistakes.py; a class missing from the training set: test_reliability_emptied_data.py.)"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from reliability_helpers import cli_in_process, settings


def train(capsys, run_settings, run_dir):
    return cli_in_process(capsys, "train", "--settings", run_settings if isinstance(run_settings, str)
                          else json.dumps(run_settings), "--out", str(run_dir))


def refused(code, out, err, run_dir):
    assert code == 2 and "Traceback" not in err and "Fix: " in err, out + err
    assert not run_dir.exists()
    return err


def replace_dataset(path, name, data, dtype=None):
    with h5py.File(path, "a") as handle:
        del handle[name]
        handle.create_dataset(name, data=data, dtype=dtype)


def test_negative_label(fresh_data, tmp_path, capsys):
    path = fresh_data / "train.h5"
    with h5py.File(path, "r") as handle:
        labels = handle["labels"][()].astype(np.int64)
    labels[5] = -1
    replace_dataset(path, "labels", labels)
    err = refused(*train(capsys, settings(fresh_data), tmp_path / "run"), tmp_path / "run")
    assert f"{path}: sample(s) 5 (1 in all) has a negative label (labels index extra/keys: 0 to 2)" in err, err
    assert ">= the number of keys" not in err


def test_missing_num_channels_attribute(fresh_data, tmp_path, capsys):
    with h5py.File(fresh_data / "test.h5", "a") as handle:
        del handle.attrs["num_channels"]
    err = refused(*train(capsys, settings(fresh_data), tmp_path / "run"), tmp_path / "run")
    assert ("differ in num_channels (24 vs 700): train.h5 has num_channels = 24; test.h5 has no num_channels "
            "attribute, so SHD's 700 is assumed") in err, err


@pytest.mark.parametrize("name", ["labels", "spikes/units"])
def test_float_labels_or_units_are_refused(fresh_data, tmp_path, capsys, name):
    path = fresh_data / "train.h5"
    with h5py.File(path, "r") as handle:
        values = handle[name][()]
    if name == "labels":
        replace_dataset(path, name, values.astype(np.float64) + 0.7)
    else:
        floats = np.empty(len(values), dtype=object)
        floats[:] = [v.astype(np.float32) + 0.5 for v in values]
        replace_dataset(path, name, floats, dtype=h5py.vlen_dtype(np.float32))
    err = refused(*train(capsys, settings(fresh_data), tmp_path / "run"), tmp_path / "run")
    kind = "float64" if name == "labels" else "float32"
    assert f"{path}: {name} is stored as {kind} (fractional values would be cut to integers)" in err, err
    assert f"Fix: delete {path} and run `spacetime-snn data synthetic --out {fresh_data}`" in err, err


@pytest.mark.parametrize("name, text", [("empty.yaml", ""), ("comments.yaml", "# nothing yet\n"),
                                        ("empty.json", "  \n")])
def test_empty_settings_file(fresh_data, tmp_path, capsys, name, text):
    path = tmp_path / name
    path.write_text(text)
    err = refused(*train(capsys, f"@{path}", tmp_path / "run"), tmp_path / "run")
    assert f"settings file {path} is empty" in err and "--settings '{}'" in err, err
