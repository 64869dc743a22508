"""How the recurrent delay matrix (N_pre, N_post, in steps) is parameterised: one module per delay mode.

Each module returns the delay matrix (or None for no delays) from its own parameters, so the network and the
training loop never branch on the mode. Delays are clamped to [0, max_delay]; the clamp passes no gradient
outside that range, as for any bounded parameter.
"""

from __future__ import annotations

import torch
from torch import nn


class NoDelays(nn.Module):
    """Every recurrent spike arrives after the minimum latency of one step."""

    def forward(self) -> None:
        return None

    def constrain_(self) -> None:
        """Nothing to keep in range."""

    def trainable_count(self) -> int:
        return 0


class _FreeDelays(nn.Module):
    """Delays that are parameters themselves, initialised at 0 as in the paper and kept in [0, max_delay]."""

    def __init__(self, shape: tuple[int, ...], max_delay: int):
        super().__init__()
        self.max_delay = max_delay
        self.delay = nn.Parameter(torch.zeros(shape))

    def clamped(self) -> torch.Tensor:
        return self.delay.clamp(0.0, float(self.max_delay))

    @torch.no_grad()
    def constrain_(self) -> None:
        """Keep the raw parameter where the clamp passes gradient (call after each optimiser step)."""
        self.delay.clamp_(0.0, float(self.max_delay))

    def trainable_count(self) -> int:
        return self.delay.numel()


class SynapticDelays(_FreeDelays):
    """One free delay per synapse (N_pre x N_post, square unless num_post is given)."""

    def __init__(self, num_neurons: int, max_delay: int, num_post: int | None = None):
        super().__init__((num_neurons, num_post or num_neurons), max_delay)

    def forward(self) -> torch.Tensor:
        return self.clamped()


class AxonalDelays(_FreeDelays):
    """One delay per presynaptic neuron, shared by all its outgoing synapses."""

    def __init__(self, num_neurons: int, max_delay: int):
        super().__init__((num_neurons,), max_delay)

    def forward(self) -> torch.Tensor:
        n = self.delay.shape[0]
        return self.clamped().unsqueeze(1).expand(n, n)


class SpatialDelays(nn.Module):
    """Learnable neuron positions in D dimensions; the delay of i -> j is ||x_i - x_j|| (1 unit = 1 step).

    The norm is smoothed as sqrt(|x_i - x_j|^2 + eps^2) so that the gradient of the zero-length diagonal is
    defined; autograd then gives dL/dx_i = sum_j (dL/dd_ij + dL/dd_ji) (x_i - x_j) / d_ij.
    """

    def __init__(self, num_neurons: int, dims: int, max_delay: int, init_range: float = 1.0,
                 eps: float = 1e-8, generator: torch.Generator | None = None):
        super().__init__()
        self.max_delay = max_delay
        self.eps = eps
        init = (torch.rand(num_neurons, dims, generator=generator) * 2.0 - 1.0) * init_range
        self.position = nn.Parameter(init)

    def distances(self) -> torch.Tensor:
        diff = self.position.unsqueeze(1) - self.position.unsqueeze(0)
        return (diff.pow(2).sum(-1) + self.eps**2).sqrt()

    def forward(self) -> torch.Tensor:
        return self.distances().clamp(0.0, float(self.max_delay))

    def constrain_(self) -> None:
        """Positions are unbounded; distances beyond max_delay are clamped in forward()."""

    def trainable_count(self) -> int:
        return self.position.numel()


def make_delays(mode: str, num_neurons: int, dims: int, max_delay: int, init_range: float,
                generator: torch.Generator | None = None) -> nn.Module:
    """The delay module of a delay mode (none, axonal, synaptic, spatial)."""
    if mode == "none":
        return NoDelays()
    if mode == "synaptic":
        return SynapticDelays(num_neurons, max_delay)
    if mode == "axonal":
        return AxonalDelays(num_neurons, max_delay)
    if mode == "spatial":
        return SpatialDelays(num_neurons, dims, max_delay, init_range, generator=generator)
    raise ValueError(f"unknown delay mode {mode!r}")
