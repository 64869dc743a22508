"""The leaky-integrator readout, collapsed to one weighted time sum.

The output layer (exponential synapse, leaky membrane, no spikes) is linear and time invariant, and the
paper's readout is a weighted time average of its voltage, sum_t w(t) V(t) / T with w(t) = exp(-(1 - t/T)).
So the logits equal (sum_t kernel(t) s(t)) @ W_out for a kernel computed once per T by running the filter's
adjoint backwards: no per-step loop over the output layer, and exact gradients by ordinary autograd.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


@functools.lru_cache(maxsize=32)
def _readout_kernel(steps: int, alpha: float, beta: float, gain: float) -> np.ndarray:
    weights = np.exp(-(1.0 - np.arange(1, steps + 1) / steps)) / steps
    kernel = np.empty(steps)
    grad_voltage = grad_current = 0.0
    for t in reversed(range(steps)):
        grad_voltage = weights[t] + beta * grad_voltage
        grad_current = gain * grad_voltage + alpha * grad_current
        kernel[t] = grad_current
    return kernel


def readout_kernel(steps: int, tau_mem_ms: float, tau_syn_ms: float, dt_ms: float,
                   scale_input: bool = False) -> np.ndarray:
    """kernel(t) = d logits / d (output input current at step t), for a unit weight (length T).

    The membrane update is V = beta V + g I with g = 1 (mlGeNN's default) or 1 - beta (scale_input).
    """
    beta = math.exp(-dt_ms / tau_mem_ms)
    return _readout_kernel(steps, math.exp(-dt_ms / tau_syn_ms), beta, 1.0 - beta if scale_input else 1.0)


def reference_readout(spikes: torch.Tensor, weight: torch.Tensor, tau_mem_ms: float, tau_syn_ms: float,
                      dt_ms: float, scale_input: bool = False) -> torch.Tensor:
    """The output layer simulated step by step (the definition `readout_kernel` must reproduce)."""
    alpha, beta = math.exp(-dt_ms / tau_syn_ms), math.exp(-dt_ms / tau_mem_ms)
    gain = 1.0 - beta if scale_input else 1.0
    batch, steps, _ = spikes.shape
    current = voltage = spikes.new_zeros(batch, weight.shape[1])
    logits = 0.0
    for t in range(steps):
        current = alpha * current + spikes[:, t] @ weight
        voltage = beta * voltage + gain * current
        logits = logits + voltage * math.exp(-(1.0 - (t + 1) / steps)) / steps
    return logits
