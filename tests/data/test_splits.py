"""splits: whole speakers held out when possible (every class on both sides), else stratified by label."""

from __future__ import annotations

import numpy as np
import pytest

from spacetime_snn.data.splits import validation_split
from spacetime_snn.errors import ConfigError


def test_speakers_are_held_out_whole_and_classes_stay_on_both_sides(random_dataset):
    ds = random_dataset(num_samples=400, num_classes=4, num_speakers=8)
    train, val = validation_split(ds, 0.25, seed=0)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(400))
    assert not set(ds.speakers[train]) & set(ds.speakers[val])
    assert set(ds.labels[val]) == set(ds.labels[train]) == {0, 1, 2, 3}
    assert 0.15 < val.size / 400 < 0.35
    assert train.dtype == val.dtype == np.int64


def test_split_is_deterministic_per_seed(random_dataset):
    ds = random_dataset(num_samples=200, num_speakers=10)
    first, again = validation_split(ds, 0.1, seed=3), validation_split(ds, 0.1, seed=3)
    np.testing.assert_array_equal(first[1], again[1])
    others = [validation_split(ds, 0.1, seed=s)[1] for s in range(4, 10)]
    assert any(not np.array_equal(first[1], other) for other in others)


def test_falls_back_to_stratified_with_two_speakers(random_dataset):
    ds = random_dataset(num_samples=200, num_classes=4, num_speakers=2)
    train, val = validation_split(ds, 0.2, seed=0)
    assert np.array_equal(np.bincount(ds.labels[val]), [10, 10, 10, 10])
    assert set(ds.speakers[val]) == {0, 1}  # speakers are shared: no speaker-wise split was possible


def test_falls_back_when_a_speaker_holdout_would_lose_a_class(make_dataset):
    # class 1 is spoken only by speaker 0: holding out any speaker set containing 0 empties it from training,
    # any other leaves it out of validation; so the split must be stratified
    samples = [([0], [0])] * 60
    labels = [0] * 50 + [1] * 10
    speakers = [1, 2, 3, 4, 5] * 10 + [0] * 10
    ds = make_dataset(samples, labels, speakers)
    train, val = validation_split(ds, 0.2, seed=0)
    assert set(ds.labels[val]) == {0, 1} and set(ds.labels[train]) == {0, 1}
    assert np.array_equal(np.bincount(ds.labels[val]), [10, 2])


def test_fraction_bounds(random_dataset):
    ds = random_dataset(num_samples=20)
    train, val = validation_split(ds, 0.0, seed=0)
    assert train.size == 20 and val.size == 0
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="validation_fraction"):
            validation_split(ds, bad, seed=0)
