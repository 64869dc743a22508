"""The recurrent LIF layer of `recurrence` as compiled, event-driven CPU loops (numba): the `compiled` backend.

Same model, same spikes, same gradients as `LIFRecurrence` (to float rounding; tests/model/test_compiled_recurrence.py),
but the time loop is one compiled function per pass instead of a few small torch operations per step, and the
recurrent synapses cost what the spikes cost rather than what the lead matrices cost:

- forward, per sample: the membrane update of every neuron in `_run`'s operation order, then, for each neuron that
  spiked at step t, its row of tap weights added into a ring buffer of future arrivals, at t + lead_ij (and, with
  linear interpolation, the second tap at t + lead_ij + 1). The cost is the same for any delays.
- backward, per chunk of samples (state laid out neurons x samples, so the inner loops run over samples): the
  adjoint recursion of `LIFRecurrence.backward`. Its recurrent part, dL/ds_i(t) = sum_j w0_ij J_j(t + lead_ij) +
  w1_ij J_j(t + lead_ij + 1), is dense in j (every J is nonzero), so it is gathered straight from a ring of J,
  with no lead matrices: N^2 per step and sample, whatever the delays. Both taps read the same J_j(t + lead_ij):
  the second tap's sum at step t is the one formed at step t + 1, so one read serves both.
- weight and delay gradients, per sample: only at the spikes. For a spike of i at t, C1_ij += J_j(t + lead_ij) and
  C2_ij += J_j(t + lead_ij + 1); then dL/dw = C1 + f (C2 - C1), dL/dd = w (C2 - C1) [d in range], exactly
  `DelayedTransmission.gradients`.

Samples are independent, so the loops run in parallel over the batch (numba prange) on torch's thread count at
call time (`train --threads`, Snakemake's threads), so two trainings side by side do not oversubscribe the machine.
Compiled once per machine and dtype (`cache=True`; docs/architecture.md gives the first-call costs).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from .delays import split_delays
from .kernel_threads import use_kernel_threads
from .recurrence import LIFParameters

_BATCH_CHUNK = 64  # samples per chunk of the backward pass: long inner loops, and its ring of J fits the L2 cache


class _Taps:
    """The tap weights and leads of a delay matrix as the kernels read them (numpy views of torch tensors)."""

    def __init__(self, weight: torch.Tensor, delays: torch.Tensor | None, params: LIFParameters):
        weight = weight.detach()
        self.delayed = delays is not None
        if delays is None:
            self.lead = torch.ones(weight.shape, dtype=torch.int64)
            self.fraction = torch.zeros_like(weight)
            self.in_range = None
        else:
            whole, self.fraction = split_delays(delays.detach(), params.max_delay, params.interpolate)
            self.lead = whole + 1
            self.in_range = (delays.detach() >= 0) & (delays.detach() <= params.max_delay)
        self.weight = weight
        self.first = (weight * (1.0 - self.fraction)).contiguous()
        self.interpolate = bool(params.interpolate and delays is not None and (self.fraction > 0).any())
        self.second = (weight * self.fraction).contiguous()
        self.hi = int(self.lead.max()) + 1  # the longest lead read (second taps and the delay gradient)
        self.uniform = not self.delayed  # every lead is 1

    def ring_size(self) -> int:
        """Steps a ring buffer holds: a power of two > hi, so that slots are t & (size - 1)."""
        return 1 << int(self.hi).bit_length()


def _constants(params: LIFParameters, dtype: torch.dtype) -> np.ndarray:
    """alpha, beta, gain, threshold, surrogate slope, 0 and 1 in the layer's dtype (torch computes in it too; a
    float64 literal would promote a float32 kernel's arithmetic)."""
    values = [params.alpha, params.beta, params.gain, params.threshold, params.surrogate_slope, 0.0, 1.0]
    return np.array(values, dtype=torch.empty((), dtype=dtype).numpy().dtype)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


def check_supported(*tensors: torch.Tensor | None) -> None:
    """The compiled kernels run on CPU tensors of float32 or float64."""
    for tensor in tensors:
        if tensor is None:
            continue
        if tensor.device.type != "cpu":
            raise ValueError(f"the compiled backend runs on CPU tensors only, got a tensor on {tensor.device}")
        if tensor.dtype not in (torch.float32, torch.float64) and tensor.is_floating_point():
            raise ValueError(f"the compiled backend supports float32 and float64, got {tensor.dtype}")


# ------------------------------------------------------------------------------------------------ kernels

@njit(parallel=True, cache=True, error_model="numpy")  # numpy's: no zero-division branch in the loops
def _forward_kernel(inputs, first, second, lead, interpolate, uniform, consts, ring_size, spikes, voltages, record):
    """Spikes (B, T, N) and, if `record`, voltages V(t) (B, T, N) of the layer; see the module docstring."""
    batch, steps, neurons = inputs.shape
    alpha, beta, gain, threshold = consts[0], consts[1], consts[2], consts[3]
    mask = ring_size - 1
    for b in prange(batch):
        ring = np.zeros((ring_size, neurons), dtype=inputs.dtype)
        current = np.zeros(neurons, dtype=inputs.dtype)
        voltage = np.zeros(neurons, dtype=inputs.dtype)
        keep = np.ones(neurons, dtype=inputs.dtype)
        spiking = np.empty(neurons, dtype=np.int64)
        for t in range(steps):
            arrivals = ring[t & mask]
            count = 0
            for j in range(neurons):
                c = alpha * current[j] + arrivals[j]  # I = alpha I + recurrent arrivals + x, as `_run`
                arrivals[j] = 0.0
                c = c + inputs[b, t, j]
                current[j] = c
                v = c * gain + beta * voltage[j] * keep[j]
                voltage[j] = v
                if record:
                    voltages[b, t, j] = v
                if v >= threshold:
                    keep[j] = 0.0
                    spikes[b, t, j] = 1.0
                    spiking[count] = j
                    count += 1
                else:
                    keep[j] = 1.0
                    spikes[b, t, j] = 0.0
            for k in range(count):  # delivery: only the neurons that spiked
                i = spiking[k]
                if uniform:
                    target = ring[(t + 1) & mask]
                    for j in range(neurons):
                        target[j] += first[i, j]
                else:
                    for j in range(neurons):
                        slot = t + lead[i, j]
                        ring[slot & mask, j] += first[i, j]
                        if interpolate:
                            ring[(slot + 1) & mask, j] += second[i, j]


@njit(parallel=True, cache=True, error_model="numpy")  # numpy's: no zero-division branch in the loops
def _backward_kernel(grad_spikes, voltages, first, second, lead, interpolate, consts, ring_size, chunk, adjoint):
    """J = dL/dI = dL/dx (B, T, N) by the adjoint recursion of
    `LIFRecurrence.backward`, per chunk of samples with the state laid out (N, samples)."""
    batch, steps, neurons = grad_spikes.shape
    alpha, beta, gain, threshold, slope = consts[0], consts[1], consts[2], consts[3], consts[4]
    zero, one = consts[5], consts[6]
    mask = ring_size - 1
    chunks = (batch + chunk - 1) // chunk
    for c in prange(chunks):
        b0 = c * chunk
        width = min(chunk, batch - b0)
        ring = np.zeros((ring_size, neurons, width), dtype=grad_spikes.dtype)  # J(t) for the steps ahead
        u = np.zeros((neurons, width), dtype=grad_spikes.dtype)  # g dL/dV
        grad = np.empty((neurons, width), dtype=grad_spikes.dtype)
        later = np.zeros((neurons, width), dtype=grad_spikes.dtype)  # second taps' sum formed at step t + 1
        now = np.zeros((neurons, width), dtype=grad_spikes.dtype)
        for t in range(steps - 1, -1, -1):
            for i in range(neurons):
                for bb in range(width):
                    grad[i, bb] = grad_spikes[b0 + bb, t, i]
            inside = t + ring_size <= steps  # every arrival step exists (leads < ring_size)
            # recurrent adjoint: sum_j w0_ij J_j(t + lead_ij) (+ the second taps, w1_ij J_j(t + 1 + lead_ij));
            # indexed element by element (a view per synapse would cost more than its arithmetic)
            for i in range(neurons):
                if interpolate:
                    for bb in range(width):
                        now[i, bb] = zero
                start = 0
                if inside:  # four synapses per pass: one load and store of the accumulators per four reads of J
                    start = neurons - neurons % 4
                    for j in range(0, start, 4):
                        a0, a1 = (t + lead[i, j]) & mask, (t + lead[i, j + 1]) & mask
                        a2, a3 = (t + lead[i, j + 2]) & mask, (t + lead[i, j + 3]) & mask
                        w0, w1, w2, w3 = first[i, j], first[i, j + 1], first[i, j + 2], first[i, j + 3]
                        if interpolate:
                            v0, v1, v2, v3 = second[i, j], second[i, j + 1], second[i, j + 2], second[i, j + 3]
                            for bb in range(width):
                                r0, r1 = ring[a0, j, bb], ring[a1, j + 1, bb]
                                r2, r3 = ring[a2, j + 2, bb], ring[a3, j + 3, bb]
                                grad[i, bb] += w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3
                                now[i, bb] += v0 * r0 + v1 * r1 + v2 * r2 + v3 * r3
                        else:
                            for bb in range(width):
                                grad[i, bb] += (w0 * ring[a0, j, bb] + w1 * ring[a1, j + 1, bb]
                                                + w2 * ring[a2, j + 2, bb] + w3 * ring[a3, j + 3, bb])
                for j in range(start, neurons):
                    arrival = t + lead[i, j]
                    if not inside and arrival >= steps:
                        continue
                    a = arrival & mask
                    w = first[i, j]
                    if interpolate:
                        w_second = second[i, j]
                        for bb in range(width):
                            value = ring[a, j, bb]
                            grad[i, bb] += w * value
                            now[i, bb] += w_second * value
                    else:
                        for bb in range(width):
                            grad[i, bb] += w * ring[a, j, bb]
            if interpolate:
                for i in range(neurons):
                    for bb in range(width):
                        grad[i, bb] += later[i, bb]
                later, now = now, later
            here, following = t & mask, (t + 1) & mask
            last = t + 1 == steps
            for i in range(neurons):
                for bb in range(width):
                    v = voltages[b0 + bb, t, i]
                    x = abs(v - threshold) * slope + one
                    sigma = (one / (x * x)) * gain
                    keep = one if v < threshold else zero
                    value = grad[i, bb] * sigma + beta * keep * u[i, bb]  # the reset is a constant here
                    u[i, bb] = value
                    j_next = zero if last else ring[following, i, bb]
                    ring[here, i, bb] = value + alpha * j_next
            for bb in range(width):
                for i in range(neurons):
                    adjoint[b0 + bb, t, i] = ring[here, i, bb]
        # (the slot of step t is overwritten only after every step that reads it: leads < ring_size)


@njit(parallel=True, cache=True, error_model="numpy")  # numpy's: no zero-division branch in the loops
def _gradient_kernel(spikes, adjoint, lead, hi, with_second, chunk, first_sums, second_sums):
    """Per chunk of samples, C1_ij = sum over spikes (t, i) of J_j(t + lead_ij) and C2_ij of J_j(t + lead_ij + 1),
    J (B, T, N) counting as zero from step T on; hi = the largest lead + 1."""
    batch, steps, neurons = spikes.shape
    chunks = (batch + chunk - 1) // chunk
    for c in prange(chunks):
        c1 = first_sums[c]
        c2 = second_sums[c]
        for b in range(c * chunk, min(batch, (c + 1) * chunk)):
            for t in range(steps):
                inside = t + hi < steps  # every arrival step exists: no bounds to check
                for i in range(neurons):
                    if spikes[b, t, i] == 0.0:
                        continue
                    for j in range(neurons):
                        arrival = t + lead[i, j]
                        if inside or arrival < steps:
                            c1[i, j] += adjoint[b, arrival, j]
                        if with_second and (inside or arrival + 1 < steps):
                            c2[i, j] += adjoint[b, arrival + 1, j]


# ------------------------------------------------------------------------------------------------ drivers

def compiled_simulate(inputs: torch.Tensor, taps: _Taps, params: LIFParameters, record: bool
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Spikes (B, T, N) as 0/1 floats and, if `record`, the voltages (B, T, N)."""
    x = _numpy(inputs)
    spikes = np.empty_like(x)
    voltages = np.empty_like(x) if record else np.empty((0, 0, 0), dtype=x.dtype)
    use_kernel_threads()
    _forward_kernel(x, _numpy(taps.first.to(inputs.dtype)), _numpy(taps.second.to(inputs.dtype)),
                    _numpy(taps.lead), taps.interpolate, taps.uniform, _constants(params, inputs.dtype),
                    taps.ring_size(), spikes, voltages, record)
    return torch.from_numpy(spikes), torch.from_numpy(voltages) if record else None


def compiled_backward(grad_spikes: torch.Tensor, spikes: torch.Tensor, voltages: torch.Tensor, taps: _Taps,
                      params: LIFParameters, need_weights: bool):
    """dL/dinputs (B, T, N), dL/dw (or None) and dL/dd (None without delays or when not needed)."""
    batch, steps, neurons = spikes.shape
    dtype = spikes.dtype
    adjoint = np.empty((batch, steps, neurons), dtype=voltages.numpy().dtype)
    first, second = _numpy(taps.first.to(dtype)), _numpy(taps.second.to(dtype))
    use_kernel_threads()
    grad = grad_spikes.detach().to(dtype).numpy()  # any strides: the readout's gradient comes (T, B, N)-major
    _backward_kernel(grad, voltages.numpy(), first, second, _numpy(taps.lead), taps.interpolate,
                     _constants(params, dtype), taps.ring_size(), _BATCH_CHUNK, adjoint)
    grad_inputs = torch.from_numpy(adjoint)
    if not need_weights:
        return grad_inputs, None, None
    return (grad_inputs, *spike_gradients(spikes, adjoint, taps))


def spike_gradients(spikes: torch.Tensor, adjoint: np.ndarray, taps: _Taps
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """dL/dw and dL/dd (None without delays) of the delivery of `spikes` (B, T, N) through the taps, given the
    adjoint J = dL/d(arrivals) (B, T, N; zero after the last step): the sums of J at each spike's arrival steps,
    as `DelayedTransmission.gradients` forms them."""
    batch, _, neurons = spikes.shape
    chunks = (batch + _BATCH_CHUNK - 1) // _BATCH_CHUNK
    sums = np.zeros((2 if taps.delayed else 1, chunks, neurons, neurons), dtype=adjoint.dtype)
    use_kernel_threads()
    activity = np.ascontiguousarray(spikes.detach().numpy(), dtype=adjoint.dtype)
    _gradient_kernel(activity, adjoint, _numpy(taps.lead), taps.hi, taps.delayed, _BATCH_CHUNK, sums[0], sums[-1])
    totals = torch.from_numpy(sums.sum(axis=1))
    if not taps.delayed:
        return totals[0], None
    first, second = totals[0], totals[1]
    difference = second - first
    dtype = first.dtype
    return first + taps.fraction.to(dtype) * difference, taps.weight.to(dtype) * difference * taps.in_range


class CompiledLIFRecurrence(torch.autograd.Function):
    """`LIFRecurrence` on the compiled kernels: spikes (B, T, N) given input currents x (B, T, N), weights, delays."""

    @staticmethod
    def forward(ctx, inputs, weight, delays, params: LIFParameters):
        taps = _Taps(weight, delays, params)
        spikes, voltages = compiled_simulate(inputs.detach(), taps, params, record=True)
        ctx.save_for_backward(spikes, voltages, weight, delays)
        ctx.params = params
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        spikes, voltages, weight, delays = ctx.saved_tensors
        taps = _Taps(weight, delays, ctx.params)
        need_weights = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        grad_inputs, grad_weight, grad_delays = compiled_backward(grad_spikes, spikes, voltages, taps, ctx.params,
                                                                  need_weights)
        return (grad_inputs, grad_weight if ctx.needs_input_grad[1] else None,
                grad_delays if ctx.needs_input_grad[2] else None, None)


def compiled_lif_recurrence(inputs: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                            params: LIFParameters) -> torch.Tensor:
    """`recurrence.lif_recurrence` on the compiled backend: hidden spikes (B, T, N) as float, differentiable in
    inputs, weight and delays; without autograd the layer is only simulated (nothing kept for a backward pass)."""
    check_supported(inputs, weight, delays)
    if not torch.is_grad_enabled():
        return compiled_simulate(inputs, _Taps(weight, delays, params), params, record=False)[0]
    return CompiledLIFRecurrence.apply(inputs, weight, delays, params)
