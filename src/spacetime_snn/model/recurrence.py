"""The recurrent LIF layer with delayed recurrent synapses, as one autograd Function with a hand-written BPTT.

Dynamics per step t (dt folded into the decay factors alpha = exp(-dt/tau_syn), beta = exp(-dt/tau_mem)):

    I(t) = alpha I(t-1) + x(t) + r(t)             exponential synaptic current; r = recurrent arrivals
    V(t) = beta V(t-1) (1 - s(t-1)) + g I(t)      leaky membrane, reset to 0 after a spike
    s(t) = H(V(t) - threshold)                      spike, with a fast-sigmoid surrogate derivative

The input gain g is mlGeNN's EventProp default (`scale_input=True`, the authors' network): the exponential
synapse injects I * tau_syn/dt * (1 - alpha) and the membrane takes (1 - beta) of it, so
g = (1 - beta) tau_syn/dt (1 - alpha) (0.0442 at dt 1 ms, tau_mem 20 ms, tau_syn 5 ms). A current I held
constant then drives V towards I tau_syn/dt (1 - alpha) ~ I, whatever dt: the dynamics are nearly dt-invariant.
`scale_input=False` gives g = 1 (mlGeNN's class default, 22x more excitable at the paper's initialisation).

Why a custom Function instead of autograd over the loop: autograd would record ~10 tensors per step and replay
them one by one; here the forward keeps three (T, N, B) histories (spikes, voltages, reset factors) and the
backward runs the adjoint recursion in four small in-place operations per step, the delayed recurrent part of
which is a single matrix product over a window of the adjoint history (see `delays`). Weight and delay gradients
come after the loop, from the complete histories. The state is laid out (N, B), neurons x batch, so that every
per-step tensor is contiguous and the histories are the time-major windows the delays read; the time loops run on
one thread (`delays.one_thread`). The reset is treated as a constant in the backward pass (the usual choice in
surrogate-gradient training). `reference_recurrence` is the same model written with plain autograd, for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .delays import make_transmission, one_thread, split_delays


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
    scale_input: bool = True
    gain_scale: float = 1.0  # every layer's gain; 1 = the authors' network (older runs' rate calibration set it)

    @property
    def gain(self) -> float:
        """Weight of the synaptic current in the membrane update (see the module docstring)."""
        base = scaled_input_gain(self.tau_mem_ms, self.tau_syn_ms, self.dt_ms) if self.scale_input else 1.0
        return base * self.gain_scale

    @property
    def alpha(self) -> float:
        return math.exp(-self.dt_ms / self.tau_syn_ms)

    @property
    def beta(self) -> float:
        return math.exp(-self.dt_ms / self.tau_mem_ms)


def scaled_input_gain(tau_mem_ms: float, tau_syn_ms: float, dt_ms: float) -> float:
    """mlGeNN's `scale_i` gain: the synapse's IScale = tau_syn/dt (1 - e^(-dt/tau_syn)) times the membrane's
    1 - e^(-dt/tau_mem) (Exponential and LeakyIntegrate(Fire) with scale_i=True, as in EventProp's default_params)."""
    synapse = tau_syn_ms / dt_ms * (1.0 - math.exp(-dt_ms / tau_syn_ms))
    return synapse * (1.0 - math.exp(-dt_ms / tau_mem_ms))


def surrogate_derivative(voltage: torch.Tensor, threshold: float, slope: float) -> torch.Tensor:
    """d spike / d V of the fast sigmoid (SuperSpike): 1 / (1 + slope |V - threshold|)^2."""
    return (1.0 + slope * (voltage - threshold).abs()).pow(-2)


def simulate(inputs: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None, params: LIFParameters,
             record_slopes: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the layer forward: spikes (B, T, N) as bool, and the surrogate slopes the backward pass needs."""
    transmission = make_transmission(weight, delays, params.max_delay, params.interpolate)
    spikes, voltages, _ = _run(inputs, transmission, params, record=record_slopes)
    slopes = _slopes(voltages, params, gain=1.0).permute(2, 0, 1) if record_slopes else None
    return spikes.transpose(0, 1).bool(), slopes


def _run(inputs: torch.Tensor, transmission, params: LIFParameters, record: bool):
    """The forward loop: spikes (T, B, N) as 0/1 floats and, if `record`, the voltages V(t) and the reset factors
    1 - s(t) as (T, N, B), which the backward pass needs.

    The state is kept as (N, B), so that every per-step tensor is contiguous and the transmission's spike history
    (T, N, B) is written in place; five small operations per step, the recurrent product fused with the decay of
    the current. The (T, B, N) spikes are one transposing copy of that history at the end.
    """
    batch, steps, neurons = inputs.shape
    alpha, beta, gain, threshold = params.alpha, params.beta, params.gain, params.threshold
    history = transmission.begin(steps, batch)
    voltages = inputs.new_empty(steps, neurons, batch) if record else None
    keeps = inputs.new_empty(steps, neurons, batch) if record else None
    current = inputs.new_zeros(neurons, batch)
    voltage = inputs.new_zeros(neurons, batch)
    keep = inputs.new_ones(neurons, batch)  # 1 - s(t-1): the reset
    scaled = inputs.new_empty(neurons, batch) if gain != 1.0 else None
    with one_thread():
        for t in range(steps):
            transmission.transmit(t, current, alpha, out=current)  # I = alpha I + recurrent arrivals ...
            current.add_(inputs[:, t].t())  # ... + x
            drive = current if scaled is None else torch.mul(current, gain, out=scaled)
            voltage = torch.addcmul(drive, voltage, keep, value=beta,
                                    out=voltage if voltages is None else voltages[t])
            keep = torch.lt(voltage, threshold, out=keep if keeps is None else keeps[t])
            torch.ge(voltage, threshold, out=history[t])
    return history.transpose(1, 2).contiguous(), voltages, keeps


def _slopes(voltages: torch.Tensor, params: LIFParameters, gain: float) -> torch.Tensor:
    """gain * surrogate_derivative(voltages), for all steps at once (a few in-place passes)."""
    slopes = (voltages - params.threshold).abs_().mul_(params.surrogate_slope).add_(1.0).pow_(-2)
    return slopes.mul_(gain) if gain != 1.0 else slopes


class LIFRecurrence(torch.autograd.Function):
    """Spikes (B, T, N) of the recurrent layer given input currents x (B, T, N), weights and delays.

    The forward keeps the spikes, the voltages and the reset factors; the backward runs the adjoint recursion

        u(t)     = (dL/ds(t) + [recurrent adjoint at t]) g sigma'(V(t)) + beta (1 - s(t)) u(t+1)      (u = g dL/dV)
        dL/dI(t) = u(t) + alpha dL/dI(t+1)          (= dL/dx(t) = dL/d(arrivals at t))

    in four small operations per step, then the weight and delay gradients in one pass over the histories.
    """

    @staticmethod
    def forward(ctx, inputs, weight, delays, params: LIFParameters):
        transmission = make_transmission(weight.detach(), None if delays is None else delays.detach(),
                                         params.max_delay, params.interpolate)
        spikes, voltages, keeps = _run(inputs.detach(), transmission, params, record=True)
        ctx.save_for_backward(spikes, voltages, keeps, weight, delays)
        ctx.params = params
        ctx.no_delays = delays is None
        return spikes.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_spikes):
        spikes, voltages, keeps, weight, delays = ctx.saved_tensors
        params = ctx.params
        alpha, beta = params.alpha, params.beta
        steps, batch, neurons = spikes.shape
        transmission = make_transmission(weight.detach(), None if ctx.no_delays else delays.detach(),
                                         params.max_delay, params.interpolate)
        slopes = _slopes(voltages, params, params.gain)
        adjoint = transmission.begin_adjoint(steps, batch)  # dL/dI(t) = dL/dx(t), as (T, N, B)
        u, scratch = spikes.new_zeros(neurons, batch), spikes.new_empty(neurons, batch)
        grad_current = spikes.new_zeros(neurons, batch)
        with one_thread():
            for t in reversed(range(steps)):
                grad = transmission.transmit_adjoint(t, grad_spikes[:, t].t(), out=scratch)  # dL/ds(t)
                grad.mul_(slopes[t]).addcmul_(keeps[t], u, value=beta)  # the reset is a constant here
                u, scratch = grad, u
                grad_current = torch.add(u, grad_current, alpha=alpha, out=adjoint[t])
        grad_inputs = spikes.new_empty(steps + transmission.hi + 1, batch, neurons)  # (T, B, N), then zero steps
        grad_inputs[:steps] = adjoint.transpose(1, 2)
        grad_inputs[steps:] = 0.0
        grad_weight, grad_delays = transmission.gradients(spikes, grad_inputs)
        return grad_inputs[:steps].transpose(0, 1), grad_weight, grad_delays, None


def lif_recurrence(inputs: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                   params: LIFParameters) -> torch.Tensor:
    """Hidden spikes (B, T, N) as float; differentiable in inputs, weight and delays (steps, (N, N) or None).

    Without autograd (evaluation) the layer is only simulated, nothing is kept for a backward pass. The spikes
    are a (B, T, N) view of time-major storage.
    """
    if not torch.is_grad_enabled():
        transmission = make_transmission(weight, delays, params.max_delay, params.interpolate)
        return _run(inputs, transmission, params, record=False)[0].transpose(0, 1)
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
