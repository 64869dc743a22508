"""Accuracy of a model on a data set (optionally with recurrent synapses pruned), and recorded hidden spikes."""

from __future__ import annotations

import numpy as np
import torch

from ..data.batching import iterate_batches
from ..data.dataset import SpikeDataset
from ..model.network import SpatialSNN


@torch.no_grad()
def measure(model: SpatialSNN, dataset: SpikeDataset, batch_size: int = 512,
            recurrent_mask: torch.Tensor | np.ndarray | None = None,
            device: torch.device | str = "cpu") -> dict[str, float]:
    """Accuracy (fraction correct) and mean hidden firing rate (Hz) on a data set; `recurrent_mask` (N, N) of 0/1
    keeps only chosen synapses."""
    model.eval()
    if recurrent_mask is not None:
        recurrent_mask = torch.as_tensor(recurrent_mask, dtype=model.w_rec.dtype, device=device)
    correct, spikes, steps = 0, 0.0, 0
    for batch in iterate_batches(dataset, batch_size, shuffle=False, device=device):
        logits, hidden = model(batch.inputs, batch.batch_size, batch.num_steps, recurrent_mask=recurrent_mask)
        correct += int((logits.argmax(1) == batch.labels).sum())
        spikes += float(hidden.sum())
        steps = batch.num_steps
    samples = max(len(dataset), 1)
    seconds = samples * steps * dataset.dt_ms / 1000.0
    return {"accuracy": correct / samples,
            "spike_rate_hz": spikes / (seconds * model.w_rec.shape[0]) if seconds else 0.0}


def evaluate(model: SpatialSNN, dataset: SpikeDataset, batch_size: int = 512,
             recurrent_mask: torch.Tensor | np.ndarray | None = None, device: torch.device | str = "cpu") -> float:
    """Fraction of samples classified correctly; `recurrent_mask` (N, N) of 0/1 keeps only chosen synapses."""
    return measure(model, dataset, batch_size, recurrent_mask, device)["accuracy"]


@torch.no_grad()
def record_hidden_spikes(model: SpatialSNN, dataset: SpikeDataset, indices, batch_size: int = 256,
                         device: torch.device | str = "cpu") -> np.ndarray:
    """Hidden spike events of the chosen samples as an (E, 3) int array of (sample index, step, neuron).

    `sample index` is the position in `dataset` (not in `indices`), so it matches the input events' sample.
    """
    model.eval()
    indices = np.asarray(indices, dtype=np.int64)
    subset = dataset.subset(indices)
    events = []
    start = 0
    for batch in iterate_batches(subset, batch_size, shuffle=False, device=device):
        _, spikes = model(batch.inputs, batch.batch_size, batch.num_steps)
        sample, step, neuron = (spikes > 0).nonzero(as_tuple=True)
        sample = indices[start + sample.cpu().numpy()]
        events.append(np.stack([sample, step.cpu().numpy(), neuron.cpu().numpy()], axis=1))
        start += batch.batch_size
    return np.concatenate(events) if events else np.zeros((0, 3), dtype=np.int64)
