"""Settings that empty the data are stopped where they would do it, with the value that works: `data.max_time_ms`
that cuts away the samples' events (checked after the cut, not only before it) and `data.augment.shift_channels`
beyond the data's channel count (bounded against the file it applies to). Before, both trained with exit 0 on
near-blank input. A training set lacking classes of the test set trains, with a warning."""

from __future__ import annotations

import json
import re

import numpy as np

from reliability_helpers import cli_in_process, settings
from spacetime_snn.data.shd_format import read_shd_file, write_shd_file
from spacetime_snn.training import run_io


def train(capsys, run_settings, run_dir):
    return cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(run_dir))


def test_time_cut_that_empties_the_samples(fresh_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = train(capsys, settings(fresh_data, data={"max_time_ms": 1}), run_dir)
    assert code == 2 and not run_dir.exists(), out + err
    assert f"{fresh_data / 'train.h5'}: data.max_time_ms = 1 ms drops every event of" in err, err
    assert "the network would train on blank input" in err and "Traceback" not in err
    assert not list((fresh_data / "cache").glob("*.npz")), "a binned cache of the emptied data was written"
    fix = float(re.search(r"Fix: data\.max_time_ms: ([0-9.]+) or more", err).group(1))
    code, out, err = train(capsys, settings(fresh_data, data={"max_time_ms": fix}, train={"epochs": 1}), run_dir)
    assert code == 0, err  # the Fix's value trains


def test_channel_shift_beyond_the_channels(fresh_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = train(capsys, settings(fresh_data, data={"augment": {"shift_channels": 1000}}), run_dir)
    assert code == 2 and not run_dir.exists(), out + err
    assert "invalid value for 'data.augment.shift_channels': 1000" in err, err
    assert f"{fresh_data / 'train.h5'} has 24 channels" in err, err
    fix = int(re.search(r"Fix: data\.augment\.shift_channels: (\d+) or less", err).group(1))
    assert fix == 6
    code, out, err = train(capsys, settings(fresh_data, data={"augment": {"shift_channels": fix}},
                                            train={"epochs": 1}), run_dir)
    assert code == 0, err


def test_training_set_missing_a_class_warns(fresh_data, tmp_path, capsys):
    path = fresh_data / "train.h5"
    events = read_shd_file(path)
    keep = np.flatnonzero(events.labels != 2)  # class 2 only in the test set
    bounds = list(zip(events.offsets[:-1], events.offsets[1:]))
    write_shd_file(path, [events.times_s[a:b] for a, b in (bounds[i] for i in keep)],
                   [events.units[a:b] for a, b in (bounds[i] for i in keep)], events.labels[keep],
                   events.speakers[keep], events.keys, num_channels=events.num_channels,
                   attributes={"synthetic_spec": json.dumps({"duration_ms": 200.0})})
    run_dir = tmp_path / "run"
    code, out, err = train(capsys, settings(fresh_data, train={"epochs": 1}), run_dir)
    assert code == 0, err
    assert (f"warning: {path} has no sample of class(es) 2 (1 of 3), which {fresh_data / 'test.h5'} has: 33% of "
            f"the test set can never be classified correctly") in out, out
    assert "has no sample of class(es) 2" in (run_dir / run_io.TRAIN_LOG).read_text()
