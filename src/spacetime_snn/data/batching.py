"""SpikeDataset -> SpikeBatch: a batch's events as one sparse (B*T, C) tensor, built without a loop over events.

A sparse input lets the model compute all input currents of a batch with one `torch.sparse.mm(inputs, w_in)`:
SHD's input is < 1 % dense, so a dense (B, T, 700) tensor would waste memory and time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from .dataset import SpikeDataset, event_ranges


@dataclass
class SpikeBatch:
    """`inputs`: sparse COO float32 (batch_size * num_steps, num_channels), coalesced; row b * num_steps + t holds
    sample b's spike counts at step t. `labels`: long (batch_size,)."""

    inputs: torch.Tensor
    labels: torch.Tensor
    batch_size: int
    num_steps: int


def make_batch(ds: SpikeDataset, indices: Sequence[int] | np.ndarray, device: str | torch.device = "cpu") -> SpikeBatch:
    """The samples `indices` of `ds` as one SpikeBatch; repeated events of a (step, channel) are summed."""
    indices = np.asarray(indices, dtype=np.int64)
    events, offsets = event_ranges(ds.offsets, indices)
    rows = np.repeat(np.arange(indices.size, dtype=np.int64), np.diff(offsets)) * ds.num_steps + ds.times[events]
    cells, counts = np.unique(rows * ds.num_channels + ds.units[events], return_counts=True)  # sorted = coalesced
    coordinates = torch.from_numpy(np.stack([cells // ds.num_channels, cells % ds.num_channels]))
    inputs = torch.sparse_coo_tensor(
        coordinates,
        torch.from_numpy(counts.astype(np.float32)),
        size=(indices.size * ds.num_steps, ds.num_channels),
        is_coalesced=True,
        check_invariants=False,  # built sorted and unique above; checking would cost another pass
    )
    labels = torch.from_numpy(ds.labels[indices])
    return SpikeBatch(inputs.to(device), labels.to(device), batch_size=int(indices.size), num_steps=ds.num_steps)


def iterate_batches(
    ds: SpikeDataset,
    batch_size: int,
    shuffle: bool,
    rng: np.random.Generator | None = None,
    device: str | torch.device = "cpu",
) -> Iterator[SpikeBatch]:
    """Batches of `batch_size` samples covering `ds` once (the last may be smaller).

    With `shuffle`, the order is a permutation drawn from `rng` (required, so that runs are reproducible).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shuffle and rng is None:
        raise ValueError("shuffle=True needs an rng (a seeded numpy Generator) so that runs are reproducible")
    order = rng.permutation(len(ds)) if shuffle else np.arange(len(ds))
    for start in range(0, len(ds), batch_size):
        yield make_batch(ds, order[start:start + batch_size], device)
