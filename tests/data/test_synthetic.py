"""synthetic: determinism, valid SHD files, the interval class design, and that only timing separates classes.

The separability tests are the task's contract with the training code: per-channel counts and each group's mean
time are at chance (so neither rates nor a time-averaged readout solve it), coincidences within a membrane time
constant (0-15 ms) only single out the shortest interval, while coincidences at each lag, what a recurrent delay
provides, separate every class.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from spacetime_snn.data.dataset import load_train_test
from spacetime_snn.data.shd_format import read_shd_file
from spacetime_snn.data.synthetic import (
    SyntheticSpec,
    class_names,
    class_table,
    generate_synthetic,
    group_channels,
)
from spacetime_snn.errors import ConfigError

SMALL = dict(num_train=120, num_test=60)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    first = generate_synthetic(SyntheticSpec(seed=4, **SMALL), tmp_path / "a")
    again = generate_synthetic(SyntheticSpec(seed=4, **SMALL), tmp_path / "b")
    other = generate_synthetic(SyntheticSpec(seed=5, **SMALL), tmp_path / "c")
    for one, two in zip(first, again):
        assert one.read_bytes() == two.read_bytes()
    assert not np.array_equal(read_shd_file(first[0]).times_s, read_shd_file(other[0]).times_s)
    assert not np.array_equal(read_shd_file(first[0]).times_s, read_shd_file(first[1]).times_s)  # train != test


def test_files_are_valid_shd_format_with_balanced_classes_and_speakers(tmp_path):
    spec = SyntheticSpec(**SMALL)
    train_path, test_path = generate_synthetic(spec, tmp_path)
    assert (train_path.name, test_path.name) == ("train.h5", "test.h5")
    train = read_shd_file(train_path)
    assert train.num_channels == 64 and train.keys == tuple(class_names(spec))
    assert np.array_equal(np.bincount(train.labels), [20] * 6)
    assert set(train.speakers) == set(range(6))
    assert train.times_s.max() <= spec.duration_ms / 1000  # float16 storage may round up to the edge
    with h5py.File(train_path, "r") as handle:
        assert json.loads(handle.attrs["synthetic_spec"])["seed"] == 0
    assert len(read_shd_file(test_path).labels) == 60


def test_classes_are_intervals_between_two_bursts():
    spec = SyntheticSpec()
    assert class_table(spec) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert class_names(spec)[2] == "interval_30ms"
    groups = group_channels(spec)
    assert all(group.size == 12 for group in groups) and not set(groups[0]) & set(groups[1])


@pytest.mark.parametrize(
    "bad", [dict(num_classes=1), dict(num_groups=1), dict(duration_ms=60.0), dict(group_size=30),
            dict(interval_step_ms=3.0), dict(channel_fire_prob=0.0)],
)
def test_invalid_specs_name_the_field(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        SyntheticSpec(**bad)


def softmax_regression_accuracy(train_x, train_y, test_x, test_y, steps=400, rate=0.5, l2=1e-3):
    """Test accuracy of a multinomial logistic regression (full-batch gradient descent, standardised inputs)."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-9
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    classes = int(train_y.max()) + 1
    weights, bias = np.zeros((train_x.shape[1], classes)), np.zeros(classes)
    targets = np.eye(classes)[train_y]
    for _ in range(steps):
        logits = train_x @ weights + bias
        probabilities = np.exp(logits - logits.max(1, keepdims=True))
        probabilities /= probabilities.sum(1, keepdims=True)
        error = (probabilities - targets) / len(train_y)
        weights -= rate * (train_x.T @ error + l2 * weights)
        bias -= rate * error.sum(0)
    return float(np.mean((test_x @ weights + bias).argmax(1) == test_y))


def group_activity(ds, spec):
    """(S, groups, T) spike counts of each group's channels."""
    group_of = np.full(ds.num_channels, -1)
    for index, channels in enumerate(group_channels(spec)):
        group_of[channels] = index
    sample_of = np.repeat(np.arange(len(ds)), ds.counts())
    group = group_of[ds.units]
    inside = group >= 0
    activity = np.zeros((len(ds), spec.num_groups, ds.num_steps))
    np.add.at(activity, (sample_of[inside], group[inside], ds.times[inside]), 1)
    return activity


def channel_counts(ds, spec):
    counts = np.zeros((len(ds), ds.num_channels))
    np.add.at(counts, (np.repeat(np.arange(len(ds)), ds.counts()), ds.units), 1)
    return counts


def group_mean_times(ds, spec):
    """Each group's mean spike time relative to the sample's mean over groups (what a linear readout integrates)."""
    activity = group_activity(ds, spec)
    total = activity.sum(2)
    mean = (activity * np.arange(ds.num_steps)).sum(2) / np.maximum(total, 1)
    mean[total == 0] = (ds.num_steps - 1) / 2  # a silent group: no timing, centred
    return mean - mean.mean(1, keepdims=True)


def coincidences(ds, spec, lags):
    """Spikes of group b preceded by spikes of another group a `lag` steps earlier, summed over groups."""
    activity = group_activity(ds, spec)
    different = 1.0 - np.eye(spec.num_groups)
    return sum(np.einsum("sbt,sat,ab->s", activity[:, :, lag:], activity[:, :, :activity.shape[2] - lag], different)
               for lag in lags)


def local_coincidences(ds, spec):
    """Coincidences across groups within 0-15 ms: what a delay-free LIF neuron (tau_mem 20 ms) can relate."""
    return coincidences(ds, spec, range(0, 16))[:, None]


def lagged_coincidences(ds, spec):
    """Coincidences across groups in 5 ms lag windows up to 75 ms: what recurrent delays of those lengths give."""
    return np.stack([coincidences(ds, spec, range(start, start + 5)) for start in range(0, 75, 5)], axis=1)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    spec, folder = SyntheticSpec(), tmp_path_factory.mktemp("synthetic")
    generate_synthetic(spec, folder)
    return (spec, *load_train_test(folder, dt_ms=1.0))


@pytest.mark.parametrize(("features", "low", "high"), [
    (channel_counts, 0.0, 0.3),  # chance is 1/6
    (group_mean_times, 0.0, 0.3),
    (local_coincidences, 0.0, 0.45),  # tells the 10 ms class from the rest, little more
    (lagged_coincidences, 0.9, 1.0),
])
def test_only_timing_across_a_gap_separates_the_classes(task, features, low, high):
    spec, train, test = task
    accuracy = softmax_regression_accuracy(features(train, spec), train.labels, features(test, spec), test.labels)
    print(f"{features.__name__}: test accuracy {accuracy:.3f}")
    assert low <= accuracy <= high
