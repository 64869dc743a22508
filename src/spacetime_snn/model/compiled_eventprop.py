"""EventProp's layer (`eventprop`) as compiled, event-driven CPU loops: the same forward model, the same gradients,
at a cost that follows the spikes rather than the synapses times the steps, whatever the delays.

`compiled_event_recurrence` is a drop-in for `eventprop.event_recurrence` (same arguments, results and gradients
to float rounding). Why it is faster: the torch layer multiplies every step's whole activity vector by the lead
matrices side by side (one weight matrix per delay in use), although ~98 % of its entries are zero at 20 Hz. Here,
per sample:

Forward, per step: every neuron's membrane update (the operations of `eventprop._simulate` in its order, so float32
agrees to rounding; one branch-free vectorised pass, then the resets of the neurons that fired), then each spike
is delivered at once: its activity e at t and 1 - e at t + 1 times row i of the tap weights, added into a buffer of
arrivals at t + lead_ij and t + lead_ij + 1 (linear delays: the second tap f_ij takes the same two parts one step
later): two (rounded) or three (linear) additions per synapse and spike, whatever the delays. The
input drive is summed from the step's input events (the sparse input as CSR), so no (B, T, N) drive exists. Per
spike the step, neuron, e, V - U(t-1) and D are recorded (the three numbers the adjoint's jump needs).

Backward, per step in reverse: J(t) = alpha J(t+1) + W(t), W(t-1) = beta W(t) for every neuron; at each spike
(t, i) the jump of `eventprop._jumps`, which reads A = dL/da only through Delta = A(t, i) - A(t+1, i). So A is
computed only there: A(t, i) = kernel(t) dL/dz_i + sum_j [w1_ij J_j(t + L_ij) + w2_ij J_j(t + L_ij + 1)] and
A(t+1, i) likewise (A(T) = 0), with w1 = (1 - f) w, w2 = f w on the UNSCALED weights (the torch backward's
transmission is built on w, its forward's on g w). The same three adjoint values J_j(t + L), J_j(t + L + 1),
J_j(t + L + 2) per synapse give the spike's share of the lagged correlations: its activity is e at t and 1 - e at
t + 1, so first_ij += e J_j(t+L) + (1-e) J_j(t+L+1), second_ij += e J_j(t+L+1) + (1-e) J_j(t+L+2), and
dL/dw = first + f (second - first), dL/dd = w (second - first) [0 <= d <= max_delay], as in
`delays.DelayedTransmission.gradients`. dL/dw_in[c] += v J(t) at every input event (c, t, v) once J(t) is final.

Memory: arrivals and J live in a per-thread buffer of T + max lead + 3 rows of N (rows past the window receive
what arrives after it, and stay zero for J), addressed by the precomputed flat offsets lead_ij N + j. Indexing
goes through row views and unsigned offsets: numba checks computed signed indices for negative wraparound, and
that check kept the loops scalar (5x slower per multiply-add, measured). Saved for backward: the spikes' records,
as in the torch layer, plus per-sample offsets into them.

Batch elements are independent: both loops run `numba.prange` over blocks of samples, one block per thread
(torch.get_num_threads() at call time), each block with its own scratch and gradient accumulators (float64 for
dL/dw and dL/dd), summed afterwards. Compiled with `cache=True`: the first call with an empty cache compiles for
~15-30 s (both kernels, per dtype); later processes load the cached machine code (benchmarks/eventprop_backend.py
measures both).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import prange

from .delays import split_delays
from .kernel_threads import use_kernel_threads
from .eventprop import regulariser_gain
from .recurrence import LIFParameters

_capacity_hint = {"per_step_and_neuron": 1.0 / 32.0}  # spike records reserved per sample, grown when exceeded


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _forward_kernel(crow, col, val, gw_in, offset, longest, gw1, gw2, linear, kernel, alpha, beta, threshold, tiny,
                    one, blocks, record, capacity, spikes, readout, counts, rec_t, rec_n, rec_e, rec_rise, rec_drive):
    """`offset[i, j]` = lead_ij N + j: synapse ij's first tap lands at flat position t N + offset[i, j] of the
    arrival buffer (rows = steps, plus the longest lead + 1 rows that receive what arrives after the window)."""
    batch, steps, neurons = spikes.shape
    zero = one - one  # constants of the working dtype: float32 stays float32 throughout
    rows = steps + longest + 3
    for block in prange(blocks):
        arrivals = np.zeros(rows * neurons, dtype=gw1.dtype)  # in drive units; row t is zeroed once it is read
        current = np.zeros(neurons, dtype=gw1.dtype)  # D(t - 1)
        reset = np.zeros(neurons, dtype=gw1.dtype)  # U(t - 1)
        drive_in = np.zeros(neurons, dtype=gw1.dtype)
        before = np.zeros(neurons, dtype=gw1.dtype)  # U(t - 1)
        fired = np.zeros(neurons, dtype=np.int64)
        early = np.zeros(neurons, dtype=gw1.dtype)
        for b in range(block, batch, blocks):
            current[:] = 0.0
            reset[:] = 0.0
            count = 0
            for t in range(steps):
                drive_in[:] = 0.0
                row = b * steps + t
                for k in range(crow[row], crow[row + 1]):
                    v = val[k]
                    source = gw_in[col[k]]
                    for n in range(neurons):
                        drive_in[n] += v * source[n]
                base = t * neurons
                arrived = arrivals[base:base + neurons]
                fired_now = spikes[b, t]
                weight_t = kernel[t]
                n_fired = 0
                for n in range(neurons):  # every neuron, branch-free (vectorised): the step without resets
                    d = alpha * current[n] + arrived[n]
                    arrived[n] = 0.0
                    d = d + drive_in[n]
                    current[n] = d
                    u = reset[n]
                    voltage = d + beta * u
                    before[n] = u
                    reset[n] = voltage
                    fired_now[n] = one if voltage >= threshold else zero
                for n in range(neurons):  # then the neurons that fired
                    if fired_now[n] != zero:
                        d = current[n]
                        u = before[n]
                        voltage = reset[n]
                        rise = voltage - u
                        if rise < tiny:
                            rise = tiny
                        e = (voltage - threshold) / rise  # >= 0 here (rise > 0)
                        if e > one:
                            e = one
                        reset[n] = voltage - (voltage - e * d)
                        if record:
                            if count < capacity:
                                rec_t[b, count] = t
                                rec_n[b, count] = n
                                rec_e[b, count] = e
                                rec_rise[b, count] = rise
                                rec_drive[b, count] = d
                        count += 1
                        readout[b, n] += weight_t * e
                        if t + 1 < steps:  # the part 1 - e at t + 1 (dropped after the window)
                            readout[b, n] += kernel[t + 1] * (one - e)
                        fired[n_fired] = n
                        early[n_fired] = e
                        n_fired += 1
                at_lead = arrivals[base:]  # views indexed by the (unsigned) offsets: no wraparound checks
                after_lead = arrivals[base + neurons:]
                after_next = arrivals[base + 2 * neurons:]
                for k in range(n_fired):  # deliver each spike at once: e at t, 1 - e at t + 1, each through
                    i = fired[k]  # its taps at lead and lead + 1
                    e = early[k]
                    late = one - e
                    offset_i, first_i = offset[i], gw1[i]
                    if linear:
                        second_i = gw2[i]
                        for j in range(neurons):
                            position = offset_i[j]
                            at_lead[position] += e * first_i[j]
                            after_lead[position] += e * second_i[j] + late * first_i[j]
                            after_next[position] += late * second_i[j]
                    else:
                        for j in range(neurons):
                            position = offset_i[j]
                            at_lead[position] += e * first_i[j]
                            after_lead[position] += late * first_i[j]
            arrivals[steps * neurons:] = 0.0  # what arrived after the window
            counts[b] = count


@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath={"reassoc", "nsz", "contract"})
def _backward_kernel(offsets, rec_t, rec_n, rec_e, rec_rise, rec_drive, rho, crow, col, val, offset, longest, w1,
                     w2, linear, kernel, grad_readout, alpha, beta, gain, steps, blocks, grad_w_in, first, second):
    """J(t) is row t of a per-block buffer of steps + longest + 3 rows (the last ones stay zero: J after the
    window); a spike of neuron i at t reads J_j at flat positions t N + offset[i, j] + (0, N, 2N)."""
    batch = grad_readout.shape[0]
    neurons = w1.shape[0]
    rows = steps + longest + 3
    for block in prange(blocks):
        adjoint = np.zeros(rows * neurons, dtype=w1.dtype)  # rows < steps are written before they are read
        state = np.zeros(neurons, dtype=w1.dtype)  # W(t) = g dL/dU(t)
        jump_w = np.zeros(neurons, dtype=w1.dtype)
        jumped = np.zeros(neurons, dtype=np.int64)
        g0 = np.zeros(neurons, dtype=w1.dtype)  # the adjoint at a spike's arrival steps, per synapse
        g1 = np.zeros(neurons, dtype=w1.dtype)
        g2 = np.zeros(neurons, dtype=w1.dtype)
        gw_in = grad_w_in[block]
        gfirst = first[block]
        gsecond = second[block]
        for b in range(block, batch, blocks):
            state[:] = 0.0
            k = offsets[b + 1] - 1  # the sample's spikes, in time order: walk them backwards
            begin = offsets[b]
            for t in range(steps - 1, -1, -1):
                base = t * neurons
                adjoint_t = adjoint[base:base + neurons]
                adjoint_next = adjoint[base + neurons:base + 2 * neurons]
                at_lead = adjoint[base:]  # views indexed by the (unsigned) offsets: no wraparound checks
                after_lead = adjoint[base + neurons:]
                after_next = adjoint[base + 2 * neurons:]
                for n in range(neurons):
                    adjoint_t[n] = state[n] + alpha * adjoint_next[n]  # J = alpha J(t+1) + W
                n_jumped = 0
                while k >= begin and rec_t[k] == t:
                    i = rec_n[k]
                    e = rec_e[k]
                    late = 1.0 - e
                    now = 0.0  # sum_j of the taps at t and at t + 1
                    later = 0.0
                    offset_i, first_tap, second_tap = offset[i], w1[i], w2[i]
                    first_i, second_i = gfirst[i], gsecond[i]
                    for j in range(neurons):  # gather the adjoint where synapse ij delivers the spike
                        position = offset_i[j]
                        g0[j] = at_lead[position]
                        g1[j] = after_lead[position]
                        g2[j] = after_next[position]
                    if linear:
                        for j in range(neurons):
                            now += first_tap[j] * g0[j] + second_tap[j] * g1[j]
                            later += first_tap[j] * g1[j] + second_tap[j] * g2[j]
                    else:
                        for j in range(neurons):
                            now += first_tap[j] * g0[j]
                            later += first_tap[j] * g1[j]
                    for j in range(neurons):
                        first_i[j] += e * g0[j] + late * g1[j]
                        second_i[j] += e * g1[j] + late * g2[j]
                    a_now = kernel[t] * grad_readout[b, i] + now
                    a_later = kernel[t + 1] * grad_readout[b, i] + later if t + 1 < steps else 0.0
                    delta = a_now - a_later
                    rise = rec_rise[k]
                    drive = rec_drive[k]
                    if e > 0.0 and e < 1.0:
                        c1 = (1.0 - e) / rise
                        back = beta * c1 + e / rise
                    else:
                        c1 = 0.0
                        back = 0.0
                    w_t = state[i]
                    r = rho[k]
                    adjoint_t[i] += gain * r + (gain * c1) * delta + (c1 * drive + e - 1.0) * w_t
                    jump_w[n_jumped] = (gain * beta) * r + (gain * back) * delta + (back * drive - beta) * w_t
                    jumped[n_jumped] = i
                    n_jumped += 1
                    k -= 1
                for n in range(neurons):
                    state[n] = beta * state[n]
                for m in range(n_jumped):
                    state[jumped[m]] += jump_w[m]
                row = b * steps + t
                for q in range(crow[row], crow[row + 1]):  # input events against the final J(t)
                    v = val[q]
                    target = gw_in[col[q]]
                    for n in range(neurons):
                        target[n] += v * adjoint_t[n]


@numba.njit(cache=True)
def _compact(offsets, rec_t, rec_n, rec_e, rec_rise, rec_drive, out_t, out_n, out_e, out_rise, out_drive):
    """The per-sample spike records (B, capacity), first counts[b] of each row, one after the other."""
    for b in range(offsets.size - 1):
        begin = offsets[b]
        for k in range(offsets[b + 1] - begin):
            out_t[begin + k] = rec_t[b, k]
            out_n[begin + k] = rec_n[b, k]
            out_e[begin + k] = rec_e[b, k]
            out_rise[begin + k] = rec_rise[b, k]
            out_drive[begin + k] = rec_drive[b, k]


def _csr(inputs: torch.Tensor, rows: int, dtype: torch.dtype):
    """Row pointers, channels and values of the coalesced sparse (B T, C) input, as numpy arrays."""
    indices = inputs.indices()
    counts = torch.bincount(indices[0], minlength=rows)
    crow = torch.zeros(rows + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=crow[1:])
    return crow.numpy(), indices[1].contiguous().numpy(), inputs.values().to(dtype).contiguous().numpy()


def _taps(weight: torch.Tensor, delays: torch.Tensor | None, params: LIFParameters):
    """Flat offsets lead_ij N + j, the longest lead, the first and second tap weights (as `delays` builds them)
    and whether the second tap is used, as numpy arrays and Python values for the kernels."""
    neurons = weight.shape[1]
    if delays is None:
        lead, first, second = torch.ones(weight.shape, dtype=torch.long), weight, torch.zeros_like(weight)
        linear = False
    else:
        whole, fraction = split_delays(delays, params.max_delay, params.interpolate)
        linear = bool(params.interpolate and bool((fraction > 0).any()))
        lead, first, second = whole + 1, weight * (1.0 - fraction), weight * fraction
    offset = (lead * neurons + torch.arange(neurons)).numpy().astype(np.uint64)  # unsigned: no wraparound checks
    return offset, int(lead.max()), first.contiguous().numpy(), second.contiguous().numpy(), linear


def _simulate(inputs, batch, steps, w_in, weight, delays, kernel, params: LIFParameters, record: bool):
    """Spikes (B, T, N), readout drive (B, N) and, if `record`, the spikes' (offsets per sample, t, n, e, rise, D)."""
    dtype = weight.dtype
    neurons = weight.shape[0]
    gain = params.gain
    taps = _taps(gain * weight, delays, params)
    crow, col, val = _csr(inputs, batch * steps, dtype)
    gw_in = (gain * w_in).contiguous().numpy()
    spikes = torch.empty(batch, steps, neurons, dtype=dtype)
    readout = torch.zeros(batch, neurons, dtype=dtype)
    counts = np.zeros(batch, dtype=np.int64)
    capacity = max(16, int(steps * neurons * _capacity_hint["per_step_and_neuron"])) if record else 0
    np_dtype = spikes.numpy().dtype
    scalar = np_dtype.type  # the constants in the working dtype, as torch's float32 ops use them
    constants = (scalar(params.alpha), scalar(params.beta), scalar(params.threshold), scalar(torch.finfo(dtype).tiny),
                 scalar(1.0))
    blocks = use_kernel_threads(batch)
    arrays = (crow, col, val, gw_in, *taps, kernel.to(dtype).contiguous().numpy(), *constants, blocks, record)
    while True:
        rec = (np.empty((batch, capacity), np.int32), np.empty((batch, capacity), np.int32),
               *(np.empty((batch, capacity), np_dtype) for _ in range(3)))
        _forward_kernel(*arrays, capacity, spikes.numpy(), readout.numpy(), counts, *rec)
        most = int(counts.max()) if batch else 0
        if not record or most <= capacity:
            break
        _capacity_hint["per_step_and_neuron"] = 1.5 * most / (steps * neurons)  # rerun (same result) with room
        capacity = int(1.5 * most)
        readout.zero_()
    if not record:
        return spikes, readout, None
    offsets = torch.zeros(batch + 1, dtype=torch.int64)
    torch.cumsum(torch.from_numpy(counts), 0, out=offsets[1:])
    total = int(offsets[-1])
    records = (torch.empty(total, dtype=torch.int32), torch.empty(total, dtype=torch.int32),
               *(torch.empty(total, dtype=dtype) for _ in range(3)))
    _compact(offsets.numpy(), *rec, *(part.numpy() for part in records))
    return spikes, readout, (offsets, *records)


class CompiledEventPropRecurrence(torch.autograd.Function):
    """`eventprop.EventPropRecurrence` with compiled event-driven loops (module docstring)."""

    @staticmethod
    def forward(ctx, inputs, batch: int, steps: int, w_in, weight, delays, kernel, params: LIFParameters):
        spikes, readout, (offsets, step, neuron, e, rise, drive) = _simulate(
            inputs, batch, steps, w_in.detach(), weight.detach(), None if delays is None else delays.detach(),
            kernel, params, record=True)
        ctx.save_for_backward(inputs, w_in, weight, delays, kernel, offsets, step, neuron, e, rise, drive)
        ctx.params, ctx.shape = params, (batch, steps)
        ctx.set_materialize_grads(False)
        return spikes, readout

    @staticmethod
    def backward(ctx, grad_spikes, grad_readout):
        inputs, w_in, weight, delays, kernel, offsets, step, neuron, e, rise, drive = ctx.saved_tensors
        params = ctx.params
        batch, steps = ctx.shape
        neurons = weight.shape[0]
        dtype = weight.dtype
        weight, w_in = weight.detach(), w_in.detach()
        delays = None if delays is None else delays.detach()
        taps = _taps(weight, delays, params)
        sample = torch.repeat_interleave(torch.arange(batch), offsets.diff())
        if grad_spikes is None:
            rho = torch.zeros_like(e)
        else:
            rho = regulariser_gain(params) * grad_spikes[sample, step.long(), neuron.long()]
        grad_readout = (torch.zeros(batch, neurons, dtype=dtype) if grad_readout is None
                        else grad_readout.to(dtype).contiguous())
        crow, col, val = _csr(inputs, batch * steps, dtype)
        blocks = use_kernel_threads(batch)
        grad_w_in = torch.zeros(blocks, *w_in.shape, dtype=dtype)
        first = torch.zeros(blocks, neurons, neurons, dtype=torch.float64)
        second = torch.zeros(blocks, neurons, neurons, dtype=torch.float64)
        records = (part.numpy() for part in (offsets, step, neuron, e, rise, drive, rho.to(dtype).contiguous()))
        _backward_kernel(*records, crow, col, val, *taps, kernel.to(dtype).contiguous().numpy(), grad_readout.numpy(),
                         params.alpha, params.beta, params.gain, steps, blocks, grad_w_in.numpy(), first.numpy(),
                         second.numpy())
        grad_w_in = grad_w_in.sum(0)
        first, second = first.sum(0).to(dtype), second.sum(0).to(dtype)
        if delays is None:
            return None, None, None, grad_w_in, first, None, None, None
        _, fraction = split_delays(delays, params.max_delay, params.interpolate)
        difference = second - first
        in_range = (delays >= 0) & (delays <= params.max_delay)
        return None, None, None, grad_w_in, first + fraction * difference, weight * difference * in_range, None, None


def compiled_event_recurrence(inputs: torch.Tensor, batch: int, steps: int, w_in: torch.Tensor,
                              weight: torch.Tensor, delays: torch.Tensor | None, kernel: torch.Tensor,
                              params: LIFParameters):
    """Hidden spikes (B, T, N) and readout drive z (B, N): `eventprop.event_recurrence` on compiled CPU loops.

    `inputs`: sparse (B T, C) event counts (coalesced, row b T + t); `w_in` (C, N), `weight` (N, N) [pre, post],
    `delays` (N, N) steps or None, `kernel` (T,). Differentiable in w_in, weight and delays; CPU tensors only.
    """
    tensors = [inputs, w_in, weight, kernel] + ([] if delays is None else [delays])
    if any(t.device.type != "cpu" for t in tensors):
        raise ValueError("compiled_event_recurrence runs on CPU tensors only; use eventprop.event_recurrence "
                         "(the torch layer) for tensors on " + ", ".join({str(t.device) for t in tensors}))
    if not inputs.is_coalesced():
        inputs = inputs.coalesce()
    if not torch.is_grad_enabled():
        spikes, readout, _ = _simulate(inputs, batch, steps, w_in, weight, delays, kernel, params, record=False)
        return spikes, readout
    return CompiledEventPropRecurrence.apply(inputs, batch, steps, w_in, weight, delays, kernel, params)
