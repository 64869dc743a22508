"""augment: shift range and dropping, blend labels and geometry, epoch composition, determinism."""

from __future__ import annotations

import numpy as np

from spacetime_snn.data.augment import augment_epoch, blend, concatenate, shift


def test_shift_moves_each_sample_by_one_offset_in_range_and_drops_what_leaves(random_dataset):
    ds = random_dataset(num_samples=300, num_channels=30)
    shifted = shift(ds, np.random.default_rng(1), 8)
    seen = set()
    for s in range(len(ds)):
        before, after = ds.sample(s), shifted.sample(s)
        moved = (before.units[:, None] + np.arange(-8, 8)[None, :])
        inside = (moved >= 0) & (moved < 30)
        # the one offset consistent with the kept events: right count, same times, units moved by it
        candidates = [k for k in range(-8, 8) if inside[:, k + 8].sum() == after.units.size
                      and np.array_equal(before.units[inside[:, k + 8]] + k, after.units)
                      and np.array_equal(before.times[inside[:, k + 8]], after.times)]
        assert candidates, f"sample {s} is not a shifted copy"
        seen.update(candidates)
    assert min(seen) == -8 and max(seen) == 7, "offsets must cover [-8, 8) and never reach +8"
    assert shifted.units.min() >= 0 and shifted.units.max() < 30
    np.testing.assert_array_equal(shifted.labels, ds.labels)


def test_shift_drops_events_pushed_out_of_range(make_dataset):
    ds = make_dataset([([0, 1, 2], [0, 5, 9])], labels=[0], num_channels=10)
    dropped = 0
    for seed in range(30):
        out = shift(ds, np.random.default_rng(seed), 3)
        offset = int(out.units[out.times == 1][0]) - 5  # the middle event survives every shift in [-3, 3)
        expected = [(t, u + offset) for t, u in zip([0, 1, 2], [0, 5, 9]) if 0 <= u + offset < 10]
        assert list(zip(out.times.tolist(), out.units.tolist())) == expected
        dropped += 3 - len(expected)
    assert dropped > 0


def test_blend_keeps_class_and_mixes_two_samples_of_it(make_dataset):
    # class 0 lives at channels 0-1 / steps 0-1 and 8-9 / 18-19; class 1 elsewhere: a blend of class 0 must sit
    # halfway between its two class-0 sources (channels ~4-5, steps ~9-10), and never use class-1 events
    samples = [([0, 1, 0, 1] * 5, [0, 0, 1, 1] * 5), ([18, 19, 18, 19] * 5, [8, 8, 9, 9] * 5),
               ([5] * 20, [5] * 20)]
    ds = make_dataset(samples, labels=[0, 0, 1], speakers=[3, 4, 5], num_channels=10, num_steps=20)
    blends = blend(ds, np.random.default_rng(0), 200)
    assert len(blends) == 200 and np.all(blends.speakers == -1)
    for k in np.flatnonzero(blends.labels == 0):
        sample = blends.sample(k)
        assert np.all((sample.units >= 4) & (sample.units <= 5)), sample.units
        assert np.all((sample.times >= 9) & (sample.times <= 10)), sample.times
    ones = blends.labels == 1
    assert ones.any() and np.all(blends.units[np.repeat(ones, blends.counts())] == 5)  # alone in its class: itself
    kept = blends.counts()[~ones] / 40
    assert 0.4 < kept.mean() < 0.6, "each event is kept with probability 0.5"
    assert blends.num_steps == ds.num_steps and blends.num_channels == ds.num_channels


def test_blend_draws_partners_within_the_class_only(random_dataset):
    ds = random_dataset(num_samples=60, num_classes=3)
    blends = blend(ds, np.random.default_rng(5), 500)
    assert np.array_equal(np.unique(blends.labels), [0, 1, 2])
    frequencies = np.bincount(blends.labels) / 500
    assert np.all(np.abs(frequencies - 1 / 3) < 0.08)
    assert blends.times.min() >= 0 and blends.times.max() < ds.num_steps


def test_augment_epoch_composition_and_determinism(random_dataset):
    ds = random_dataset(num_samples=50)
    first = augment_epoch(ds, np.random.default_rng(3), shift_channels=4, blend_samples=20)
    again = augment_epoch(ds, np.random.default_rng(3), shift_channels=4, blend_samples=20)
    other = augment_epoch(ds, np.random.default_rng(4), shift_channels=4, blend_samples=20)
    assert len(first) == 70
    np.testing.assert_array_equal(first.labels[:50], ds.labels)
    for field in ("times", "units", "offsets", "labels", "speakers"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.units, other.units)
    untouched = augment_epoch(ds, np.random.default_rng(3), shift_channels=0, blend_samples=0)
    assert untouched is ds


def test_concatenate(random_dataset):
    a, b = random_dataset(num_samples=3, seed=1), random_dataset(num_samples=2, seed=2)
    both = concatenate(a, b)
    assert len(both) == 5
    np.testing.assert_array_equal(both.sample(4).units, b.sample(1).units)
    np.testing.assert_array_equal(both.sample(0).times, a.sample(0).times)


def test_checked_epoch_stops_an_augmentation_that_empties_the_samples(random_dataset):
    import pytest

    from spacetime_snn.data.augment import checked_augment_epoch
    from spacetime_snn.errors import DataError

    ds = random_dataset(num_samples=100, num_channels=30)
    checked_augment_epoch(ds, np.random.default_rng(0), shift_channels=7, blend_samples=10, epoch=1)  # fine
    with pytest.raises(DataError, match=r"epoch 4: the augmentation left \d+ of 110 training samples without any "
                                        r"event .* Fix: a smaller data.augment.shift_channels"):
        checked_augment_epoch(ds, np.random.default_rng(0), shift_channels=300, blend_samples=10, epoch=4)
