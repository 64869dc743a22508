"""batching: the sparse batch equals a dense reference; iteration order, coverage and device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spacetime_snn.data.batching import iterate_batches, make_batch


def dense_reference(ds, indices):
    """(B, T, C) event counts by a plain loop: the obvious, slow definition."""
    dense = np.zeros((len(indices), ds.num_steps, ds.num_channels), dtype=np.float32)
    for b, index in enumerate(indices):
        sample = ds.sample(index)
        for t, u in zip(sample.times, sample.units):
            dense[b, t, u] += 1
    return dense


def test_batch_equals_dense_reference(random_dataset):
    ds = random_dataset(num_samples=12, num_channels=7, num_steps=9, mean_events=60)  # many repeated cells
    indices = [5, 0, 11, 5]
    batch = make_batch(ds, indices)
    assert batch.inputs.is_sparse and batch.inputs.is_coalesced()
    assert batch.inputs.dtype == torch.float32 and batch.inputs.shape == (4 * 9, 7)
    assert (batch.batch_size, batch.num_steps) == (4, 9)
    expected = dense_reference(ds, indices).reshape(4 * 9, 7)
    np.testing.assert_array_equal(batch.inputs.to_dense().numpy(), expected)
    assert batch.inputs.values().max() > 1
    np.testing.assert_array_equal(batch.labels.numpy(), ds.labels[indices])
    assert batch.labels.dtype == torch.long
    weights = torch.randn(7, 3)
    torch.testing.assert_close(torch.sparse.mm(batch.inputs, weights), torch.from_numpy(expected) @ weights)


def test_empty_samples_give_empty_rows(make_dataset):
    ds = make_dataset([([], []), ([1], [2])], labels=[0, 1], num_channels=3, num_steps=2)
    batch = make_batch(ds, [0, 1])
    np.testing.assert_array_equal(batch.inputs.to_dense().numpy(), [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]])


def test_iteration_covers_every_sample_once(random_dataset):
    ds = random_dataset(num_samples=23)
    batches = list(iterate_batches(ds, 5, shuffle=False))
    assert [b.batch_size for b in batches] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(torch.cat([b.labels for b in batches]).numpy(), ds.labels)

    shuffled = list(iterate_batches(ds, 5, shuffle=True, rng=np.random.default_rng(0)))
    again = list(iterate_batches(ds, 5, shuffle=True, rng=np.random.default_rng(0)))
    labels = torch.cat([b.labels for b in shuffled]).numpy()
    assert sorted(labels) == sorted(ds.labels)
    np.testing.assert_array_equal(labels, torch.cat([b.labels for b in again]).numpy())
    total = sum(b.inputs.to_dense().sum() for b in shuffled)
    assert total == ds.times.size


def test_shuffle_needs_an_rng(random_dataset):
    with pytest.raises(ValueError, match="rng"):
        next(iterate_batches(random_dataset(), 4, shuffle=True))
