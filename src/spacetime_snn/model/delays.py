"""Delayed synaptic transmission: a delay is a position in a window of the presynaptic history.

Delivery rule. A spike of presynaptic neuron i at step t reaches postsynaptic neuron j after 1 + d_ij steps (one
step is the minimum latency of any synapse, so d = 0 means "next step"). A fractional delay d = k + f is delivered
by linear interpolation: (1 - f) w_ij at step t + 1 + k and f w_ij at step t + 2 + k. Delivery is continuous and
piecewise linear in d, so dL/dd exists, and integer delays (f = 0, the authors' choice) are the special case.

Lead matrices. Call the number of steps from a spike to an arrival its *lead*: synapse ij delivers at lead
k_ij + 1 (first tap) and k_ij + 2 (second tap). Collecting the tap weights by lead gives matrices

    M_l[i, j] = (1 - f_ij) w_ij [k_ij + 1 = l] + f_ij w_ij [k_ij + 2 = l]          lo <= l <= hi

and, with a(t) the presynaptic activity and g(t) = dL/d(arrivals at t),

    arrivals(t) = sum_l M_l^T a(t - l)             dL/da(t) = sum_l M_l g(t + l)

Each sum is ONE matrix product: the lead matrices side by side, (N_post, K N_pre) with K = hi - lo + 1, times a
window of K consecutive steps of a time-major history (T, N, B), which is a contiguous (K N, B) slice. Delays thus
turn the recurrent matmul of a delay-free network into a matmul K times as wide, and nothing else changes: no
spike is scattered, no adjoint gathered, no per-step index arithmetic, nonzero() or host synchronisation, and one
code path for CPU and CUDA. The histories carry hi zero steps of padding (before the first step forward, after the
last one backward) so that every window is whole: B N hi floats of delay state per history, growing with the
longest delay in use. The side-by-side matrix is dense when the delays occupy few distinct leads (spatial networks,
whose delays are distances of a few steps, or free delays initialised at 0), and CSR when they spread over many
(`_DENSE_FACTOR`); the product is the same `torch.addmm` either way.

Gradients. With the lagged correlation of activity and adjoint C_ij(l) = sum_{t,b} a_bi(t) g_bj(t + l),

    dL/dw_ij = (1 - f_ij) C_ij(k_ij + 1) + f_ij C_ij(k_ij + 2)        dL/dd_ij = w_ij [C_ij(k_ij + 2) - C_ij(k_ij + 1)]

computed once after the time loop from the complete histories (`correlate`): one (N_pre, T B) x (T B, N_post)
product per lead in use, or the same sums driven by the spikes alone (event-driven, embedding bags), or, when the
delays spread over many leads, by gathering the adjoint at every (spike, synapse) pair - whichever a rough cost
model says is cheapest. With rounded delays (f = 0) the delay gradient is the same finite difference, a
straight-through estimate. The clamp of the delays to [0, max_delay] passes no gradient outside that range.

How a layer drives a transmission (states are (N, B): neurons x batch):
    history = tx.begin(steps, batch)       (T, N_pre, B); the caller writes history[t] in time order
    tx.transmit(t, base, beta, out)        out = beta * base + arrivals(t); reads history[< t]
    adjoint = tx.begin_adjoint(steps, batch)   (T, N_post, B); the caller writes adjoint[t] in reverse time order
    tx.transmit_adjoint(t, base, out)      out = base + dL/da(t); reads adjoint[> t]
    tx.gradients(activity, adjoint)        dL/dw, dL/dd from the (T, B, N) histories (one row per step and sample)
`ImmediateTransmission` is the delay-free case (every lead is 1, a one-step window, M_1 = W). `DelayPropagation`
applies a transmission to a given activity as a differentiable function: what gradcheck tests, and the building
block of input-layer delays.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

# The side-by-side lead matrices are dense if K * N_pre * N_post <= _DENSE_FACTOR * (number of taps), else CSR:
# per multiply-add a dense product is about 4x faster than a sparse one at these sizes (measured on CPU).
_DENSE_FACTOR = 4
# (event, synapse) pairs per chunk of the gather (bounds its int64 index to 16 MB).
_GATHER_CHUNK = 1 << 21


@contextlib.contextmanager
def one_thread():
    """Run a time loop on one intra-op thread (and restore the setting after).

    A step's operations are too small to share between threads: on a quiet 2-core machine a second thread saves
    5-15 % of a step, on a busy one every step waits for a descheduled partner thread (measured: 25 us -> 1 ms per
    step). The work outside the time loops keeps all threads. (Sets the process-wide count for the loop's duration.)
    """
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


def split_delays(delays: torch.Tensor, max_delay: int, interpolate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole steps k (long) and fraction f in [0, 1) of delays clamped to [0, max_delay] (steps)."""
    clamped = delays.detach().clamp(0.0, float(max_delay))
    whole = clamped.floor() if interpolate else clamped.round()
    fraction = clamped - whole if interpolate else torch.zeros_like(clamped)
    return whole.long(), fraction


class DelayedTransmission:
    """Transmission through per-synapse delays (N_pre, N_post, in steps); see the module docstring."""

    def __init__(self, weight: torch.Tensor, delays: torch.Tensor, max_delay: int, interpolate: bool = True):
        whole, fraction = split_delays(delays, max_delay, interpolate)
        self._in_range = (delays >= 0) & (delays <= max_delay)  # the clamp passes no gradient outside
        self._setup(weight, whole + 1, fraction, interpolate, delay_gradient=True)

    def _setup(self, weight: torch.Tensor, lead: torch.Tensor, fraction: torch.Tensor, interpolate: bool,
               delay_gradient: bool) -> None:
        self.weight, self.lead, self.fraction = weight, lead, fraction
        self._delay_gradient = delay_gradient
        taps = [(lead, weight * (1.0 - fraction))]
        if interpolate and bool((fraction > 0).any()):  # host synchronisations: here, once per pass
            taps.append((lead + 1, weight * fraction))
        self.lo = int(lead.min())
        self.hi = int(lead.max()) + len(taps) - 1
        self.num_pre, self.num_post = weight.shape
        width = self.hi - self.lo + 1
        self._forward_rows, self._backward_rows = width * self.num_pre, width * self.num_post  # window sizes
        # column block m holds lead hi - m forward (meeting step t - hi + m of the window), lead lo + m backward
        leads = torch.cat([lead.reshape(-1) for lead, _ in taps])
        self.forward_matrix = _side_by_side(taps, (self.hi - leads) * self.num_pre, width, forward=True)
        self.backward_matrix = _side_by_side(taps, (leads - self.lo) * self.num_post, width, forward=False)

    # ---- forward: arrivals(t) = [M_hi .. M_lo]^T @ history[t - hi : t - lo + 1] ----
    def begin(self, steps: int, batch: int) -> torch.Tensor:
        """A (T, N_pre, B) activity history to fill in time order (preceded by hi zero steps)."""
        self._history = self.weight.new_empty(self.hi + steps, self.num_pre, batch)
        self._history[:self.hi] = 0.0
        self._history_rows = self._history.view(-1, batch)
        return self._history[self.hi:]

    def transmit(self, t: int, base: torch.Tensor, beta: float, out: torch.Tensor) -> torch.Tensor:
        """out = beta * base + arrivals at step t, (N_post, B); `out` may be `base`."""
        start = t * self.num_pre
        window = self._history_rows[start:start + self._forward_rows]
        return torch.addmm(base, self.forward_matrix, window, beta=beta, out=out)

    # ---- backward: dL/da(t) = [M_lo .. M_hi] @ adjoint[t + lo : t + hi + 1] ----
    def begin_adjoint(self, steps: int, batch: int) -> torch.Tensor:
        """A (T, N_post, B) history of dL/d(arrivals) to fill in reverse time order (followed by hi zero steps)."""
        self._adjoint = self.weight.new_empty(steps + self.hi, self.num_post, batch)
        self._adjoint[steps:] = 0.0
        self._adjoint_rows = self._adjoint.view(-1, batch)
        return self._adjoint[:steps]

    def transmit_adjoint(self, t: int, base: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """out = base + dL/d(activity at step t) through these synapses, (N_pre, B)."""
        start = (t + self.lo) * self.num_post
        window = self._adjoint_rows[start:start + self._backward_rows]
        return torch.addmm(base, self.backward_matrix, window, out=out)

    # ---- weight and delay gradients, once per backward pass ----
    def gradients(self, activity: torch.Tensor, adjoint: torch.Tensor,
                  density: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """dL/dw and dL/dd (None without delays) from the activity (T, B, N_pre) and adjoint (T, B, N_post);
        `density`: the fraction of nonzero activity if known (else estimated, see `correlate`)."""
        leads = [self.lead, self.lead + 1] if self._delay_gradient else [self.lead]
        first, *second = correlate(activity, adjoint, leads, density)
        if not self._delay_gradient:
            return first, None
        difference = second[0] - first
        return first + self.fraction * difference, self.weight * difference * self._in_range


class ImmediateTransmission(DelayedTransmission):
    """Recurrent input without delays: a spike at step t arrives at step t + 1 (lead 1, a one-step window)."""

    def __init__(self, weight: torch.Tensor):
        lead = torch.ones(weight.shape, dtype=torch.long, device=weight.device)
        self._setup(weight, lead, torch.zeros_like(weight), interpolate=False, delay_gradient=False)


def make_transmission(weight: torch.Tensor, delays: torch.Tensor | None, max_delay: int, interpolate: bool):
    """The transmission for a delay matrix, or the immediate one when there are no delays."""
    if delays is None:
        return ImmediateTransmission(weight)
    return DelayedTransmission(weight, delays, max_delay, interpolate)


def _side_by_side(taps, blocks: torch.Tensor, width: int, forward: bool) -> torch.Tensor:
    """The lead matrices side by side: transposed, (N_post, width N_pre), forward; (N_pre, width N_post) backward.

    Tap (i, j) lands in row j, column blocks + i (forward) or row i, column blocks + j (backward), where `blocks`
    holds each tap's column block offset. Dense, or CSR if that is cheaper (`_DENSE_FACTOR`).
    """
    weight = taps[0][1]
    num_pre, num_post = weight.shape
    pre = torch.arange(num_pre, device=weight.device).repeat_interleave(num_post).repeat(len(taps))
    post = torch.arange(num_post, device=weight.device).repeat(num_pre * len(taps))
    rows, columns = (post, blocks + pre) if forward else (pre, blocks + post)
    values = torch.cat([value.reshape(-1) for _, value in taps])
    shape = (num_post, width * num_pre) if forward else (num_pre, width * num_post)
    if width * num_pre * num_post <= _DENSE_FACTOR * values.numel():
        return weight.new_zeros(shape).index_put_((rows, columns), values, accumulate=True)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": it is what we need
        warnings.simplefilter("ignore")
        coo = torch.sparse_coo_tensor(torch.stack([rows, columns]), values, shape, check_invariants=False)
        return coo.coalesce().to_sparse_csr()


# Rough costs on CPU (MKL, one thread), for choosing how to compute correlations: nanoseconds per multiply-add of a
# dense product, per activity element scanned for events, per event sorted, per value summed by an embedding bag
# and per value gathered one synapse at a time.
_NS_PRODUCT, _NS_SCAN, _NS_SORT, _NS_BAG, _NS_GATHER = 0.013, 2.3, 25.0, 0.17, 1.5


def correlate(activity: torch.Tensor, adjoint: torch.Tensor, leads: list[torch.Tensor],
              density: float | None = None) -> list[torch.Tensor]:
    """For each lead matrix L (N_pre, N_post), C_ij = sum_{t,b} activity[t, b, i] adjoint[t + L_ij, b, j].

    activity (T, B, N_pre) and adjoint (T', B, N_post) are time-major, one row per step and sample; the adjoint
    beyond its last row counts as zero (pass it followed by max(L) zero steps, contiguous, to save a padded copy),
    and its rows from T on must be zero (the dense product reads rows < T only).
    Three ways, whichever the cost constants `_NS_*` estimate cheapest: one dense product per lead in use
    (`_by_product`, independent of the activity); the same sums driven by the nonzero activity (the spikes) alone
    (`_by_lead`); or, when the delays spread over many leads, the adjoint gathered at every (event, synapse) pair
    (`_by_synapse`, whatever the delays). `density`: the fraction of nonzero activity if the caller knows it (the
    event-based layer does), else it is estimated from ~64 steps.
    """
    steps, batch, num_pre = activity.shape
    num_post = adjoint.shape[2]
    first = min(int(lead.min()) for lead in leads)
    span = max(int(lead.max()) for lead in leads) - first + 1  # leads in use
    product = span * num_post * _NS_PRODUCT  # costs per activity element
    if product <= _NS_SCAN:
        return _by_product(activity, adjoint, leads, first, span)
    if density is None:  # the density of events, estimated from ~64 steps
        sample = activity[::max(1, steps // 64)]
        density = int(torch.count_nonzero(sample)) / max(1, sample.numel())
    by_lead = _NS_SCAN + density * (_NS_SORT + span * num_post * _NS_BAG)
    by_synapse = _NS_SCAN + density * (_NS_SORT + len(leads) * num_post * _NS_GATHER)
    if product <= min(by_lead, by_synapse):
        return _by_product(activity, adjoint, leads, first, span)
    # the events, grouped by presynaptic neuron (in time order within each)
    flat = activity.reshape(-1)
    index = flat.nonzero().squeeze(1)  # = (t B + b) N_pre + i
    pre, order = torch.sort((index % num_pre).int(), stable=True)
    index = index[order]
    values, events = flat[index], index // num_pre  # events: rows (t, b) of the adjoint
    weights = None if bool((values == 1).all()) else values  # spikes need no weights
    longest = first + span - 1  # every shifted row must exist: pad the adjoint with zero steps if needed
    if adjoint.shape[0] < steps + longest or not adjoint.is_contiguous():
        padded = adjoint.new_zeros(steps + longest, batch, num_post)
        padded[:min(steps, adjoint.shape[0])] = adjoint[:steps]
        adjoint = padded
    rows = adjoint.view(-1, num_post)
    if by_lead <= by_synapse:
        return _by_lead(rows, batch, events, pre, weights, leads, first, span)
    return _by_synapse(rows, batch, events, pre.long(), weights, leads)


def _by_product(activity, adjoint, leads, first, span):
    """One (N_pre, T B) x (T B, N_post) product per lead in use."""
    steps, batch, num_pre = activity.shape
    rows_a, rows_g = activity.reshape(-1, num_pre), adjoint.reshape(-1, adjoint.shape[2])
    products = []
    for lag in range(first, first + span):
        pairs = max(0, min(steps, adjoint.shape[0]) - lag) * batch  # rows (t, b) of the activity with t + lag < T
        products.append(rows_a[:pairs].t() @ rows_g[lag * batch:lag * batch + pairs])
    stacked = torch.stack(products)
    return [stacked.gather(0, (lead - first).unsqueeze(0)).squeeze(0) for lead in leads]


def _by_lead(rows, batch, events, pre, weights, leads, first, span):
    """Per lead in use, the adjoint rows at each neuron's events shifted by the lead, summed (one embedding bag)."""
    num_pre = leads[0].shape[0]
    counts = torch.bincount(pre, minlength=num_pre)
    offsets = counts.cumsum(0) - counts
    stacked = torch.stack([torch.nn.functional.embedding_bag(events + lag * batch, rows, offsets, mode="sum",
                                                             per_sample_weights=weights)
                           for lag in range(first, first + span)])
    return [stacked.gather(0, (lead - first).unsqueeze(0)).squeeze(0) for lead in leads]


def _by_synapse(rows, batch, events, pre, weights, leads):
    """The adjoint gathered at every (event, synapse) pair, in chunks of events."""
    num_pre, num_post = leads[0].shape
    results = [rows.new_zeros(num_pre, num_post) for _ in leads]
    chunk = max(1, _GATHER_CHUNK // num_post)
    for begin in range(0, events.numel(), chunk):
        part = slice(begin, begin + chunk)
        neurons = pre[part].unsqueeze(1).expand(-1, num_post)
        for result, lead in zip(results, leads):
            gathered = rows.gather(0, (lead * batch)[pre[part]].add_(events[part].unsqueeze(1)))  # (events, N_post)
            if weights is not None:
                gathered *= weights[part].unsqueeze(1)
            result.scatter_add_(0, neurons, gathered)
    return results


class DelayPropagation(torch.autograd.Function):
    """Arrivals (B, T, N_post) of a given presynaptic activity (B, T, N_pre) through delayed synapses.

    Linear in activity and weight, piecewise linear in delays: the unit that gradcheck verifies, and the
    building block of input-layer delays, where the presynaptic activity is known in advance.
    """

    @staticmethod
    def forward(ctx, activity, weight, delays, max_delay: int, interpolate: bool):
        transmission = make_transmission(weight.detach(), None if delays is None else delays.detach(),
                                         max_delay, interpolate)
        batch, steps, _ = activity.shape
        transmission.begin(steps, batch).copy_(activity.detach().permute(1, 2, 0))
        arrivals = activity.new_empty(steps, weight.shape[1], batch)
        zero = activity.new_zeros(weight.shape[1], batch)
        with one_thread():
            for t in range(steps):
                transmission.transmit(t, zero, 0.0, out=arrivals[t])
        ctx.save_for_backward(activity, weight, delays)
        ctx.config = (max_delay, interpolate, delays is None)
        return arrivals.transpose(1, 2).contiguous().transpose(0, 1)  # (B, T, N_post), stored time-major

    @staticmethod
    def backward(ctx, grad_out):
        activity, weight, delays = ctx.saved_tensors
        max_delay, interpolate, no_delays = ctx.config
        transmission = make_transmission(weight.detach(), None if no_delays else delays.detach(),
                                         max_delay, interpolate)
        batch, steps, num_pre = activity.shape
        transmission.begin_adjoint(steps, batch).copy_(grad_out.permute(1, 2, 0))
        grad_activity = activity.new_empty(steps, num_pre, batch)
        zero = activity.new_zeros(num_pre, batch)
        with one_thread():
            for t in range(steps):
                transmission.transmit_adjoint(t, zero, out=grad_activity[t])
        grad_weight, grad_delays = transmission.gradients(activity.detach().transpose(0, 1),
                                                          grad_out.transpose(0, 1))
        return grad_activity.transpose(1, 2).contiguous().transpose(0, 1), grad_weight, grad_delays, None, None


def delay_propagate(activity: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                    max_delay: int, interpolate: bool = True) -> torch.Tensor:
    """Differentiable arrivals of `activity` (B, T, N_pre) through `weight` (N_pre, N_post) and `delays` (steps)."""
    return DelayPropagation.apply(activity, weight, delays, max_delay, interpolate)
