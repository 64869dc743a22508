"""The training objective: cross-entropy on the readout plus the paper's regularisers, term by term.

The terms are returned separately (`loss_terms`) so that the training log can show whether a regulariser
swamps the cross-entropy; the loss is their sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import SpikeRegSettings, TrainSettings


def spike_count_penalty(spikes: torch.Tensor, reg: SpikeRegSettings) -> torch.Tensor:
    """mlGeNN's spike regulariser: sum over hidden neurons of (k / 2) (c_n - target)^2, where c_n is neuron n's
    spike count per sample averaged over the batch and k is upper_strength above the target, lower_strength below.

    Its gradient per sample, k (c_n - target) / B, is exactly the jump mlGeNN's EventProp adds to the adjoint at
    each spike (RegLambda (C_n - target B) / B^2 with C_n the batch's total count), so the strengths are the
    authors' k_reg; the gradient rule that carries it to the weights differs (docs/fidelity.md).
    """
    counts = spikes.sum(dim=1).mean(dim=0)  # (N,) spikes per neuron per sample
    excess = counts - reg.target
    strength = torch.where(excess > 0, reg.upper_strength, reg.lower_strength)
    return 0.5 * (strength * excess.pow(2)).sum()


def distance_cost(w_rec: torch.Tensor, delays: torch.Tensor, power: float, moves_positions: bool) -> torch.Tensor:
    """sum_ij |w_ij| d_ij^power. With moves_positions=False (the authors' choice) only the weights feel the cost."""
    lengths = delays if moves_positions else delays.detach()
    return (w_rec.abs() * lengths.pow(power)).sum()


def loss_terms(logits: torch.Tensor, labels: torch.Tensor, spikes: torch.Tensor, w_rec: torch.Tensor,
               delays: torch.Tensor | None, train: TrainSettings) -> dict[str, torch.Tensor]:
    """Cross-entropy, spike regulariser, L1 on recurrent weights and the distance-dependent wiring cost."""
    terms = {"cross_entropy": F.cross_entropy(logits, labels),
             "spike_reg": spike_count_penalty(spikes, train.spike_reg)}
    if train.l1:
        terms["l1"] = train.l1 * w_rec.abs().sum()
    if train.distance_cost and delays is not None:
        terms["distance_cost"] = train.distance_cost * distance_cost(
            w_rec, delays, train.distance_power, train.distance_cost_moves_positions)
    return terms


def training_loss(logits: torch.Tensor, labels: torch.Tensor, spikes: torch.Tensor, w_rec: torch.Tensor,
                  delays: torch.Tensor | None, train: TrainSettings) -> torch.Tensor:
    """The sum of `loss_terms`: what the optimisers minimise."""
    return sum(loss_terms(logits, labels, spikes, w_rec, delays, train).values())
