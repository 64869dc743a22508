"""EventProp for the recurrent LIF layer: a forward model whose loss is continuous in every parameter, and its
exact gradients by an adjoint that jumps only at spikes and keeps only the spikes (`train.gradient: eventprop`).

The forward model (docs/architecture.md, "Event-based gradients", has the derivation). Per step t, for every
neuron and sample, with U the membrane voltage after the reset (U(-1) = 0) and D = g I the step's drive:

    I(t) = alpha I(t-1) + x(t) + r(t)                     as in `recurrence` (r: recurrent arrivals)
    V(t) = beta U(t-1) + D(t)                             voltage before any reset
    s(t) = [V(t) >= threshold]
    e(t) = (V(t) - threshold) / (V(t) - U(t-1))           at a spike: the voltage, linear within the step from
                                                          U(t-1) to V(t), crossed threshold at t + 1 - e
    U(t) = e(t) D(t)  at a spike, V(t) otherwise          reset at the crossing; the rest e of the step integrates
                                                          its drive from zero
    a(t) = e(t) + (s(t-1) - e(t-1))                       the spike at t + 1 - e, interpolated onto steps t, t + 1

The activity a, not s, is what the synapses and the readout receive: a spike at fractional time t + 1 - e is split
(e at t, 1 - e at t + 1) and delivered through the same lead matrices as the surrogate model's spikes (`delays`), so
with linear delay interpolation everything a spike does moves continuously with its crossing time. When a crossing
slides over a step boundary (e -> 0 at step t, e -> 1 at step t + 1) the activity, the reset and the later
voltages agree on both sides: the loss is continuous in every parameter except where spikes are created or deleted.
The part 1 - e of a spike in the last step would arrive after the window and is dropped; the readout sees
z = sum_t kernel(t) a(t) (`readout`). `s` is returned as the layer's spikes (counts, rates, the regulariser).

The adjoint. Write A(t) = dL/da(t) = kernel(t) dL/dz + sum_l M_l J(t + l) (J = dL/dI = dL/dx, the same window
product as the surrogate backward). Between spikes the recursion is linear with constant coefficients,

    J(t) = alpha J(t+1) + W(t),   W(t-1) = beta W(t)                      (W = g dL/dU),

and at a spike (t, n, b) it jumps by a 2 x 2 map of (A(t) - A(t+1), W(t)) whose coefficients come from the spike's
e, V - U(t-1) and D, the three numbers kept per spike. So the backward pass needs no voltage history: the forward
keeps the spikes, the backward keeps J for a window of the longest lead plus a chunk of steps, and dL/dw_in,
dL/dw_rec and dL/dd are accumulated chunk by chunk as sums over input events and hidden activity (`delays.correlate`).

The spike regulariser's value depends only on counts, so its exact gradient is zero almost everywhere; as mlGeNN's
EventProp does (its jump LambdaV -= k (C - nu) / B^2 at every hidden spike, with dL/dV = -LambdaV tau_mem dt /
(1 - beta)), the gradient dR/ds at a spike, times `regulariser_gain`, is added to dL/dV(t) of that spike.
"""

from __future__ import annotations

import torch

from .delays import make_transmission, one_thread, split_delays
from .recurrence import LIFParameters

_CHUNK = 64  # steps per chunk of the spike recording (forward) and of the gradient accumulation (backward)


def _chunk_length(hi: int) -> int:
    """Steps per chunk: at least one longer than the longest lead, so a window never reaches past the next chunk."""
    return max(_CHUNK, hi + 1)


def regulariser_gain(params: LIFParameters) -> float:
    """Factor from dR/ds at a spike to the jump of dL/dV, times in ms: tau_mem dt / (1 - beta) (410 at dt 1 ms,
    tau_mem 20 ms; tau_mem^2 as dt -> 0).

    mlGeNN subtracts k (c - nu) / B from LambdaV at every spike. Its adjoint steps exactly, LambdaV <- beta LambdaV +
    (1 - beta) drive, and the readout's source is drive = -(dL/dV of the step) / (tau_mem dt), so LambdaV =
    -dL/dV (1 - beta) / (tau_mem dt) and its jump is one of dL/dV by tau_mem dt / (1 - beta) k (c - nu) / B.
    `benchmarks/mlgenn_oracle.py` measures this ratio against mlGeNN (docs/fidelity.md, "The mlGeNN oracle")."""
    return params.tau_mem_ms * params.dt_ms / (1.0 - params.beta)


def _simulate(input_drive: torch.Tensor, transmission, params: LIFParameters, kernel: torch.Tensor, record: bool):
    """The forward model (module docstring) on the input drive g x (B, T, N), `transmission` built on g w (so the
    state is the drive D = g I itself).

    Returns the spikes (T, B, N) as 0/1 floats, the readout drive z = sum_t kernel(t) a(t) as (N, B) and, if
    `record`, the spikes as flat indices t N B + n B + b (time order) with their e, V(t) - U(t-1) and D(t).
    The activity is kept in a sliding window of hi + R steps, the per-spike values in R-step chunks.
    """
    batch, steps, neurons = input_drive.shape
    alpha, beta = params.alpha, params.beta
    hi, lo = transmission.hi, transmission.lo
    width = (hi - lo + 1) * neurons
    chunk = _chunk_length(hi)
    new = input_drive.new_zeros
    history = new(hi + chunk, neurons, batch)  # row j: a(c0 - hi + j) for the chunk starting at c0
    rows = history.view(-1, batch)
    fired = input_drive.new_empty(chunk, neurons, batch)  # s(t) as 0/1
    early = input_drive.new_empty(chunk, neurons, batch)  # e(t), 0 where no spike
    rise = input_drive.new_empty(chunk if record else 1, neurons, batch)  # V(t) - U(t-1)
    drive = input_drive.new_empty(chunk, neurons, batch)  # D(t) = g I(t)
    spikes = input_drive.new_empty(steps, batch, neurons)
    readout = new(neurons, batch)
    reset, not_late = new(neurons, batch), new(neurons, batch)
    current = new(neurons, batch)  # D(t - 1) when the step begins
    voltage, scratch = input_drive.new_empty(neurons, batch), input_drive.new_empty(neurons, batch)
    threshold = input_drive.new_full((), params.threshold)  # a tensor: Python scalars are converted at every call
    tiny = torch.finfo(input_drive.dtype).tiny
    records = []
    with one_thread():
        for c0 in range(0, steps, chunk):
            length = min(chunk, steps - c0)
            for r in range(length):
                t = c0 + r
                d = torch.addmm(current, transmission.forward_matrix, rows[r * neurons:r * neurons + width],
                                beta=alpha, out=drive[r])  # D = alpha D + g (arrivals of a(t - hi .. t - lo) ...
                current = d.add_(input_drive[:, t].t())  # ... + x)
                torch.add(d, reset, alpha=beta, out=voltage)  # V = beta U + D
                s = torch.ge(voltage, threshold, out=fired[r])
                rising = torch.sub(voltage, reset, out=rise[r if record else 0]).clamp_(min=tiny)
                # e: 0 without a spike (V < threshold, rise > 0), in [0, 1] at a spike
                e = torch.sub(voltage, threshold, out=early[r]).div_(rising).clamp_(0.0, 1.0)
                torch.addcmul(voltage, s, torch.addcmul(voltage, e, d, value=-1.0, out=scratch), value=-1.0,
                              out=reset)  # U = V - s (V - e D): e D at a spike, V otherwise
                torch.sub(e, not_late, out=history[hi + r])  # a(t) = e(t) + (s - e)(t - 1)
                torch.sub(e, s, out=not_late)  # e - s = -(the part of the spike at t + 1)
            readout.view(-1).addmv_(history[hi:hi + length].view(length, -1).t(), kernel[c0:c0 + length])
            spikes[c0:c0 + length].copy_(fired[:length].transpose(1, 2))
            if record:
                flat = fired[:length].view(-1).nonzero().squeeze(1)
                records.append((flat + c0 * neurons * batch, early.view(-1)[flat], rise.view(-1)[flat],
                                drive.view(-1)[flat]))
            if c0 + chunk < steps:
                history[:hi].copy_(history[chunk:chunk + hi])
    if not record:
        return spikes, readout, None
    index, e, rise_k, drive_k = (torch.cat(parts) for parts in zip(*records))
    return spikes, readout, (index, e, rise_k, drive_k)


def _jumps(e: torch.Tensor, rise: torch.Tensor, drive: torch.Tensor, rho: torch.Tensor | None,
           params: LIFParameters) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per spike, the jump of (J(t), W(t-1)) (W = g dL/dU) as offset + c_delta Delta + c_w W(t), each (2, K).

    With Delta = A(t) - A(t+1), c1 = de/dV = (1 - e)/rise, c2 = de/dU(t-1) = e/rise (zero where e was clipped):
        dL/de = Delta + D dL/dU(t),   dL/dV = c1 dL/de + rho,   dL/dU(t-1) = beta dL/dV + c2 dL/de,
        dL/dI(t) = alpha dL/dI(t+1) + g (dL/dV + e dL/dU(t)),
    minus what a step without a spike does (J += W, W *= beta). rho: the regulariser's jump of dL/dV, or None.
    """
    gain, beta = params.gain, params.beta
    inside = (e > 0) & (e < 1)
    c1 = torch.where(inside, (1.0 - e) / rise, torch.zeros_like(e))
    back = beta * c1 + torch.where(inside, e / rise, torch.zeros_like(e))
    offset = torch.zeros(2, e.numel(), dtype=e.dtype, device=e.device)
    if rho is not None:
        offset[0], offset[1] = gain * rho, gain * beta * rho
    return offset, torch.stack([gain * c1, gain * back]), torch.stack([c1 * drive + e - 1.0, back * drive - beta])


class EventPropRecurrence(torch.autograd.Function):
    """Spikes (B, T, N) and readout drive z (B, N) of the layer given sparse input events and the weights.

    The input layer is part of the Function so that dL/dw_in is a sum over input events too: nothing of shape
    (T, N, B) is kept for, or made by, the backward pass (except a chunk of steps; see the module docstring).
    """

    @staticmethod
    def forward(ctx, inputs, batch: int, steps: int, w_in, weight, delays, kernel, params: LIFParameters):
        gain = params.gain
        transmission = make_transmission(gain * weight.detach(), None if delays is None else delays.detach(),
                                         params.max_delay, params.interpolate)
        drive = torch.sparse.mm(inputs, gain * w_in.detach()).view(batch, steps, -1)
        spikes, readout, (index, e, rise, drive_k) = _simulate(drive, transmission, params, kernel, record=True)
        del drive
        ctx.save_for_backward(inputs, w_in, weight, delays, kernel, index, e, rise, drive_k)
        ctx.params, ctx.shape = params, (batch, steps)
        ctx.set_materialize_grads(False)  # no (B, T, N) of zeros for the spikes when no regulariser uses them
        return spikes.transpose(0, 1), readout.t()

    @staticmethod
    def backward(ctx, grad_spikes, grad_readout):
        inputs, w_in, weight, delays, kernel, index, e, rise, drive = ctx.saved_tensors
        params = ctx.params
        batch, steps = ctx.shape
        neurons = weight.shape[0]
        alpha, beta = params.alpha, params.beta
        transmission = make_transmission(weight.detach(), None if delays is None else delays.detach(),
                                         params.max_delay, params.interpolate)
        plane = neurons * batch
        step_of, entry = index // plane, index % plane  # entry = n B + b
        rho = None  # the regulariser's jump (module docstring)
        if grad_spikes is not None:
            rho = regulariser_gain(params) * grad_spikes[entry % batch, step_of, entry // batch]
        # per step: the spikes' entries n B + b and jump coefficients (views; None for a step without spikes)
        counts = torch.bincount(step_of, minlength=steps).tolist()
        offset, c_delta, c_w = _jumps(e, rise, drive, rho, params)
        at = [None if c == 0 else part for part, c in zip(torch.split(entry, counts), counts)]
        offset, c_delta, c_w = (torch.split(x, counts, dim=1) for x in (offset, c_delta, c_w))
        grad_readout = (weight.new_zeros(neurons, batch) if grad_readout is None
                        else grad_readout.t().contiguous())
        window = _AdjointWindow(transmission, steps, batch, index, e, step_of, entry)
        events = _InputEvents(inputs, batch, steps, window.chunk)
        density = min(1.0, 2.0 * e.numel() / max(1, steps * plane))  # activity: two entries per spike
        lo, hi = transmission.lo, transmission.hi
        width = (hi - lo + 1) * neurons
        backward_matrix = transmission.backward_matrix
        kernel_at = kernel.tolist()
        now, later = weight.new_zeros(neurons, batch), weight.new_zeros(neurons, batch)  # A(t), A(t + 1)
        pair = weight.new_zeros(2, neurons, batch)  # A(t) - A(t + 1) and W(t) = g dL/dU(t), side by side
        difference, state = pair[0], pair[1]
        pairs = pair.view(2, -1)
        grad_w_in = torch.zeros_like(w_in)
        grad_weight = torch.zeros_like(weight)
        grad_delays = None if delays is None else torch.zeros_like(delays)
        with one_thread():
            for c0, length in window.chunks():
                buffer, rows = window.buffer, window.rows
                for r in reversed(range(length)):
                    t = c0 + r
                    torch.addmm(grad_readout, backward_matrix, rows[(r + lo) * neurons:(r + lo) * neurons + width],
                                beta=kernel_at[t], out=now)  # A(t) = kernel(t) dL/dz + sum_l M_l J(t + l)
                    slot = torch.add(state, buffer[r + 1], alpha=alpha, out=buffer[r])  # J = alpha J(t+1) + W
                    where = at[t]
                    if where is None:
                        state.mul_(beta)
                    else:
                        torch.sub(now, later, out=difference)
                        gathered = pairs.index_select(1, where)  # (2, K): Delta, W(t) at the spikes
                        jump = torch.addcmul(offset[t], c_delta[t], gathered[0]).addcmul_(c_w[t], gathered[1])
                        slot.view(-1).index_add_(0, where, jump[0])
                        state.mul_(beta).view(-1).index_add_(0, where, jump[1])
                    now, later = later, now
                adjoint, activity = window.finish_chunk(c0, length)
                chunk_weight, chunk_delays = transmission.gradients(activity, adjoint, density)
                grad_weight += chunk_weight
                if grad_delays is not None:
                    grad_delays += chunk_delays
                events.accumulate(grad_w_in, adjoint, c0)
                window.shift()
        return None, None, None, grad_w_in, grad_weight, grad_delays, None, None


class _AdjointWindow:
    """J = dL/dI for one chunk of R steps plus the hi + 1 steps after it, filled in reverse time order.

    `rows` is the (steps x N, B) view the backward window product reads; after a chunk, `finish_chunk` gives that
    chunk's adjoint (time-major, (R + 2 hi + 2, B, N), zero-padded) and its activity a (R + hi + 1, B, N), rebuilt
    from the spikes, for the lagged correlations; `shift` moves the first hi + 1 steps to the end for the next chunk.
    """

    def __init__(self, transmission, steps: int, batch: int, index, e, step_of, entry):
        neurons = transmission.num_post
        self.hi, self.steps, self.batch, self.neurons = transmission.hi, steps, batch, neurons
        self.chunk = _chunk_length(self.hi)
        self.length = self.chunk + self.hi + 1
        new = e.new_zeros
        self.buffer = new(self.length, neurons, batch)
        self.rows = self.buffer.view(-1, batch)
        self.adjoint = new(self.length + self.hi + 1, batch, neurons)  # tail stays zero
        self.activity = new(self.length, batch, neurons)
        self.e, self.step_of = e, step_of
        self.offsets = [0] + torch.bincount(step_of, minlength=steps).cumsum(0).tolist()
        self.cell = (entry % batch) * neurons + entry // batch  # b N + n: position within a (B, N) step

    def chunks(self):
        """(first step, number of steps) of every chunk, latest first (the forward's chunks)."""
        return [(c0, min(self.chunk, self.steps - c0)) for c0 in reversed(range(0, self.steps, self.chunk))]

    def finish_chunk(self, c0: int, length: int):
        self.adjoint[:self.length].copy_(self.buffer.transpose(1, 2))
        activity = self.activity
        activity.zero_()
        flat = activity.view(-1)
        plane = self.batch * self.neurons
        begin, end = self.offsets[c0], self.offsets[c0 + length]  # spikes in the chunk: their e
        flat.index_put_(((self.step_of[begin:end] - c0) * plane + self.cell[begin:end],),
                        self.e[begin:end], accumulate=True)
        begin, end = self.offsets[max(c0 - 1, 0)], self.offsets[c0 + length - 1]  # 1 - e one step later
        flat.index_put_(((self.step_of[begin:end] + 1 - c0) * plane + self.cell[begin:end],),
                        1.0 - self.e[begin:end], accumulate=True)
        return self.adjoint, activity

    def shift(self):
        keep = self.hi + 1
        self.buffer[self.chunk:self.chunk + keep].copy_(self.buffer[:keep])


class _InputEvents:
    """The input events of a batch grouped by chunk and channel: dL/dw_in[c] = sum over c's events of v J(t)[:, b],
    one embedding bag per chunk (`accumulate`)."""

    def __init__(self, inputs: torch.Tensor, batch: int, steps: int, chunk: int):
        indices, values = inputs.indices(), inputs.values()
        step, channel = indices[0] % steps, indices[1]
        channels = inputs.shape[1]
        chunks = -(-steps // chunk)
        group = (step // chunk) * channels + channel
        if chunks * channels < 2**31:  # sorting 32-bit keys takes half the time
            group = group.int()
        order = torch.sort(group, stable=True).indices
        self.rows = ((step % chunk) * batch + indices[0] // steps)[order]  # row (t - c0) B + b of a chunk's adjoint
        self.values = None if bool((values == 1).all()) else values[order]
        counts = torch.bincount(group, minlength=chunks * channels).view(chunks, channels)
        self.starts = (counts.sum(1).cumsum(0) - counts.sum(1)).tolist()  # first event of each chunk
        self.ends = counts.sum(1).cumsum(0).tolist()
        self.offsets = counts.cumsum(1) - counts  # (chunks, C): first event of each channel within its chunk
        self.chunk = chunk

    def accumulate(self, grad_w_in: torch.Tensor, adjoint: torch.Tensor, c0: int) -> None:
        k = c0 // self.chunk
        begin, end = self.starts[k], self.ends[k]
        if end == begin:
            return
        weights = None if self.values is None else self.values[begin:end]
        grad_w_in += torch.nn.functional.embedding_bag(self.rows[begin:end], adjoint.view(-1, adjoint.shape[2]),
                                                       self.offsets[k], mode="sum", per_sample_weights=weights)


def event_recurrence(inputs: torch.Tensor, batch: int, steps: int, w_in: torch.Tensor, weight: torch.Tensor,
                     delays: torch.Tensor | None, kernel: torch.Tensor, params: LIFParameters):
    """Hidden spikes (B, T, N) and readout drive z (B, N) = sum_t kernel(t) a(t) of the event-based model.

    `inputs`: sparse (B T, C) event counts (coalesced, row b T + t); `w_in` (C, N), `weight` (N, N) [pre, post],
    `delays` (N, N) steps or None, `kernel` (T,) the readout kernel. Differentiable in w_in, weight and delays by
    EventProp; without autograd only simulated.
    """
    if not torch.is_grad_enabled():
        transmission = make_transmission(params.gain * weight, delays, params.max_delay, params.interpolate)
        drive = torch.sparse.mm(inputs, params.gain * w_in).view(batch, steps, -1)
        spikes, readout, _ = _simulate(drive, transmission, params, kernel, record=False)
        return spikes.transpose(0, 1), readout.t()
    return EventPropRecurrence.apply(inputs, batch, steps, w_in, weight, delays, kernel, params)


def reference_event_recurrence(currents: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                               params: LIFParameters) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same forward model written naively with autograd (dense delivery): spikes s, activity a and the
    voltages V before reset, each (B, T, N). Autograd differentiates it exactly (through e, not through s)."""
    batch, steps, neurons = currents.shape
    alpha, beta, gain, threshold = params.alpha, params.beta, params.gain, params.threshold
    taps = _reference_taps(weight, delays, params)
    arrivals = [currents.new_zeros(batch, neurons) for _ in range(steps + params.max_delay + 3)]
    current = reset = not_late = currents.new_zeros(batch, neurons)
    fired, activity, voltages = [], [], []
    for t in range(steps):
        current = alpha * current + currents[:, t] + arrivals[t]
        drive = gain * current
        voltage = beta * reset + drive
        s = voltage.detach() >= threshold
        rise = torch.where(s, voltage - reset, torch.ones_like(voltage))
        e = torch.where(s, ((voltage - threshold) / rise).clamp(0.0, 1.0), torch.zeros_like(voltage))
        reset = torch.where(s, e * drive, voltage)
        a = e - not_late
        not_late = e - s.to(e.dtype)
        for lead, matrix in taps:
            arrivals[t + lead] = arrivals[t + lead] + a @ matrix
        fired.append(s.to(e.dtype))
        activity.append(a)
        voltages.append(voltage)
    return torch.stack(fired, 1), torch.stack(activity, 1), torch.stack(voltages, 1)


def _reference_taps(weight: torch.Tensor, delays: torch.Tensor | None, params: LIFParameters):
    """(lead, matrix) pairs of the delivery rule of `delays` as dense (N_pre, N_post) matrices, differentiable."""
    if delays is None:
        return [(1, weight)]
    clamped = delays.clamp(0.0, float(params.max_delay))
    whole, _ = split_delays(clamped, params.max_delay, params.interpolate)
    fraction = clamped - whole if params.interpolate else torch.zeros_like(clamped)
    taps = []
    for lead in torch.unique(whole).tolist():
        on_lead = (whole == lead).to(weight.dtype)
        taps += [(1 + lead, weight * (1.0 - fraction) * on_lead), (2 + lead, weight * fraction * on_lead)]
    return taps
