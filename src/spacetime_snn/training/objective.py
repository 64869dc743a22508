"""The training objective: cross-entropy on the readout plus the paper's regularisers."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import SpikeRegSettings, TrainSettings


def spike_count_penalty(spikes: torch.Tensor, reg: SpikeRegSettings) -> torch.Tensor:
    """Quadratic penalty on each hidden neuron's mean spike count per sample outside [lower, upper] target.

    Keeps activity in a useful range: silent neurons pass no gradient, saturated ones carry no information.
    """
    counts = spikes.sum(dim=1).mean(dim=0)  # (N,) spikes per neuron per sample
    upper = torch.relu(counts - reg.upper_target).pow(2).sum()
    lower = torch.relu(reg.lower_target - counts).pow(2).sum()
    return reg.upper_strength * upper + reg.lower_strength * lower


def distance_cost(w_rec: torch.Tensor, delays: torch.Tensor, moves_positions: bool) -> torch.Tensor:
    """sum_ij |w_ij| d_ij. With moves_positions=False (the authors' choice) only the weights feel the cost."""
    return (w_rec.abs() * (delays if moves_positions else delays.detach())).sum()


def training_loss(logits: torch.Tensor, labels: torch.Tensor, spikes: torch.Tensor, w_rec: torch.Tensor,
                  delays: torch.Tensor | None, train: TrainSettings) -> torch.Tensor:
    """Cross-entropy + spike-count regulariser + L1 on recurrent weights + distance-dependent wiring cost."""
    loss = F.cross_entropy(logits, labels) + spike_count_penalty(spikes, train.spike_reg)
    if train.l1:
        loss = loss + train.l1 * w_rec.abs().sum()
    if train.distance_cost and delays is not None:
        loss = loss + train.distance_cost * distance_cost(w_rec, delays, train.distance_cost_moves_positions)
    return loss
