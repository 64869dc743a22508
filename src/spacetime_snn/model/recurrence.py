"""The recurrent LIF layer with delayed recurrent synapses, as one autograd Function with a hand-written BPTT.

Dynamics per step t (dt folded into the decay factors alpha = exp(-dt/tau_syn), beta = exp(-dt/tau_mem)):

    I(t) = alpha I(t-1) + x(t) + r(t)             exponential synaptic current; r = recurrent arrivals
    V(t) = beta V(t-1) (1 - s(t-1)) + g I(t)      leaky membrane, reset to 0 after a spike
    s(t) = H(V(t) - threshold)                      spike, with a fast-sigmoid surrogate derivative

The input gain g is 1, as in mlGeNN's LIF (its default `scale_i=False`), the scale the paper's weight
initialisation is calibrated for; `scale_input=True` gives g = 1 - beta (V then settles at I).

Why a custom Function instead of autograd over the loop: autograd would keep every step's ring buffer and
intermediate tensors alive (O(B N Dmax T)); here the forward keeps only the spikes (bool) and the surrogate
derivative per step, and the backward replays the adjoint recursion with the O(B N Dmax) adjoint ring of
`delays.DelayedTransmission`. The reset is treated as a constant in the backward pass (the usual choice in
surrogate-gradient training). `reference_recurrence` is the same model written with plain autograd, for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .delays import make_transmission, split_delays


@dataclass(frozen=True)
class LIFParameters:
    """Neuron constants of the hidden layer (times in ms, delays in steps)."""

    tau_mem_ms: float = 20.0
    tau_syn_ms: float = 5.0
    dt_ms: float = 1.0
    threshold: float = 1.0
    surrogate_slope: float = 10.0
    max_delay: int = 62
    interpolate: bool = True
    scale_input: bool = False

    @property
    def gain(self) -> float:
        """Weight of the synaptic current in the membrane update."""
        return 1.0 - self.beta if self.scale_input else 1.0

    @property
    def alpha(self) -> float:
        return math.exp(-self.dt_ms / self.tau_syn_ms)

    @property
    def beta(self) -> float:
        return math.exp(-self.dt_ms / self.tau_mem_ms)


def surrogate_derivative(voltage: torch.Tensor, threshold: float, slope: float) -> torch.Tensor:
    """d spike / d V of the fast sigmoid (SuperSpike): 1 / (1 + slope |V - threshold|)^2."""
    return (1.0 + slope * (voltage - threshold).abs()).pow(-2)


def simulate(inputs: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None, params: LIFParameters,
             record_slopes: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the layer forward: spikes (B, T, N) as bool, and the surrogate slopes the backward pass needs."""
    batch, steps, neurons = inputs.shape
    alpha, beta = params.alpha, params.beta
    transmission = make_transmission(weight, delays, params.max_delay, params.interpolate)
    transmission.reset(batch)
    current = inputs.new_zeros(batch, neurons)
    voltage = inputs.new_zeros(batch, neurons)
    spike = inputs.new_zeros(batch, neurons)
    spikes = torch.empty(batch, steps, neurons, dtype=torch.bool, device=inputs.device)
    slopes = inputs.new_empty(batch, steps, neurons) if record_slopes else None
    for t in range(steps):
        current = alpha * current + inputs[:, t] + transmission.arrivals(t)
        voltage = beta * voltage * (1.0 - spike) + params.gain * current
        if record_slopes:
            slopes[:, t] = surrogate_derivative(voltage, params.threshold, params.surrogate_slope)
        spike = (voltage >= params.threshold).to(inputs.dtype)
        spikes[:, t] = spike.bool()
        transmission.send(t, spike)
    return spikes, slopes


class LIFRecurrence(torch.autograd.Function):
    """Spikes (B, T, N) of the recurrent layer given input currents x (B, T, N), weights and delays."""

    @staticmethod
    def forward(ctx, inputs, weight, delays, params: LIFParameters):
        spikes, slopes = simulate(inputs, weight.detach(), None if delays is None else delays.detach(), params,
                                  record_slopes=True)
        ctx.save_for_backward(spikes, slopes, weight, delays)
        ctx.params = params
        ctx.no_delays = delays is None
        return spikes.to(inputs.dtype)

    @staticmethod
    def backward(ctx, grad_spikes):
        spikes, slopes, weight, delays = ctx.saved_tensors
        params = ctx.params
        alpha, beta = params.alpha, params.beta
        batch, steps, neurons = spikes.shape
        transmission = make_transmission(weight, None if ctx.no_delays else delays,
                                         params.max_delay, params.interpolate)
        transmission.reset_adjoint(batch)
        grad_voltage = grad_spikes.new_zeros(batch, neurons)
        grad_current = grad_spikes.new_zeros(batch, neurons)
        grad_inputs = torch.empty_like(grad_spikes)
        for t in reversed(range(steps)):
            spike = spikes[:, t].to(grad_spikes.dtype)
            grad_spike = grad_spikes[:, t] + transmission.backward_step(t, spike)
            grad_voltage = grad_spike * slopes[:, t] + beta * (1.0 - spike) * grad_voltage
            grad_current = params.gain * grad_voltage + alpha * grad_current
            grad_inputs[:, t] = grad_current
            transmission.record_adjoint(t, grad_current)
        grad_delays = None if ctx.no_delays else transmission.grad_delays
        return grad_inputs, transmission.grad_weight, grad_delays, None


def lif_recurrence(inputs: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                   params: LIFParameters) -> torch.Tensor:
    """Hidden spikes (B, T, N) as float; differentiable in inputs, weight and delays (steps, (N, N) or None).

    Without autograd (evaluation) the layer is only simulated: no surrogate slopes are stored.
    """
    if not torch.is_grad_enabled():
        return simulate(inputs, weight, delays, params)[0].to(inputs.dtype)
    return LIFRecurrence.apply(inputs, weight, delays, params)


class _SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, voltage, threshold, slope):
        ctx.save_for_backward(voltage)
        ctx.constants = (threshold, slope)
        return (voltage >= threshold).to(voltage.dtype)

    @staticmethod
    def backward(ctx, grad):
        (voltage,) = ctx.saved_tensors
        return grad * surrogate_derivative(voltage, *ctx.constants), None, None


def reference_recurrence(inputs: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                         params: LIFParameters) -> torch.Tensor:
    """The same layer written naively with autograd and a dense (T, N, N) delivery: the oracle for tests."""
    batch, steps, neurons = inputs.shape
    alpha, beta = params.alpha, params.beta
    if delays is None:
        whole = torch.zeros_like(weight, dtype=torch.long)
        fraction = torch.zeros_like(weight)
    else:
        clamped = delays.clamp(0.0, float(params.max_delay))
        whole, _ = split_delays(clamped, params.max_delay, params.interpolate)
        fraction = clamped - whole if params.interpolate else torch.zeros_like(clamped)
    arrivals = [inputs.new_zeros(batch, neurons) for _ in range(steps + params.max_delay + 3)]
    current = voltage = spike = inputs.new_zeros(batch, neurons)
    out = []
    for t in range(steps):
        current = alpha * current + inputs[:, t] + arrivals[t]
        voltage = beta * voltage * (1.0 - spike.detach()) + params.gain * current
        spike = _SurrogateSpike.apply(voltage, params.threshold, params.surrogate_slope)
        out.append(spike)
        for lead in torch.unique(whole).tolist():
            on_lead = (whole == lead).to(weight.dtype)
            arrivals[t + 1 + lead] = arrivals[t + 1 + lead] + spike @ (weight * (1 - fraction) * on_lead)
            arrivals[t + 2 + lead] = arrivals[t + 2 + lead] + spike @ (weight * fraction * on_lead)
    return torch.stack(out, dim=1)
