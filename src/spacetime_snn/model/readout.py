"""The leaky-integrator readout, collapsed to one weighted time sum.

The output layer (exponential synapse, leaky membrane, no spikes) is linear and time invariant, and the
paper's readout is mlGeNN's `avg_var_exp_weight`: a weighted time average of the output voltage,
sum_t w(t) V(t) with w(t) = exp(-t/T) / T for steps t = 0 ... T-1, so EARLY times weigh most (loss shaping,
Nowotny et al. 2024). So the logits equal (sum_t kernel(t) s(t)) @ W_out for a kernel computed once per T by
running the filter's adjoint backwards: no per-step loop over the output layer, and exact gradients by ordinary
autograd. The output membrane has the same input gain g as the hidden layer (mlGeNN's scale_i on
LeakyIntegrate and Exponential; see `recurrence.scaled_input_gain`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


def readout_weights(steps: int) -> np.ndarray:
    """w(t) = exp(-t/T) / T for t = 0 ... T-1: mlGeNN's avg_var_exp_weight (VAvg += exp(-t/T) V / T)."""
    return np.exp(-np.arange(steps) / steps) / steps


@functools.lru_cache(maxsize=32)
def _readout_kernel(steps: int, alpha: float, beta: float, gain: float) -> np.ndarray:
    weights = readout_weights(steps)
    kernel = np.empty(steps)
    grad_voltage = grad_current = 0.0
    for t in reversed(range(steps)):
        grad_voltage = weights[t] + beta * grad_voltage
        grad_current = gain * grad_voltage + alpha * grad_current
        kernel[t] = grad_current
    return kernel


def readout_kernel(steps: int, tau_mem_ms: float, tau_syn_ms: float, dt_ms: float, gain: float) -> np.ndarray:
    """kernel(t) = d logits / d (output input current at step t), for a unit weight (length T).

    The membrane update is V = beta V + g I (g: `LIFParameters.gain`).
    """
    return _readout_kernel(steps, math.exp(-dt_ms / tau_syn_ms), math.exp(-dt_ms / tau_mem_ms), float(gain))


def reference_readout(spikes: torch.Tensor, weight: torch.Tensor, tau_mem_ms: float, tau_syn_ms: float,
                      dt_ms: float, gain: float) -> torch.Tensor:
    """The output layer simulated step by step (the definition `readout_kernel` must reproduce)."""
    alpha, beta = math.exp(-dt_ms / tau_syn_ms), math.exp(-dt_ms / tau_mem_ms)
    batch, steps, _ = spikes.shape
    current = voltage = spikes.new_zeros(batch, weight.shape[1])
    logits = 0.0
    for t in range(steps):
        current = alpha * current + spikes[:, t] @ weight
        voltage = beta * voltage + gain * current
        logits = logits + voltage * math.exp(-t / steps) / steps
    return logits
