"""Delayed synaptic transmission with O(B * N * Dmax) state, differentiable in weights and delays.

A spike of presynaptic neuron i at step t reaches postsynaptic neuron j after 1 + d_ij steps (one step is the
minimum latency of any synapse, so d = 0 means "next step"). A fractional delay d = k + f is delivered by linear
interpolation: (1 - f) * w_ij at step t + 1 + k and f * w_ij at step t + 2 + k. Delivery is continuous and
piecewise linear in d, so dL/dd exists and integer delays (f = 0) are the special case the authors use.

Forward, the future input of every postsynaptic neuron lives in a ring buffer of L = Dmax + 3 slots
(slot t mod L holds what arrives at step t): only the spikes that occurred are scattered into it, so the cost is
O(spikes * N) per step, independent of Dmax. Backward, the adjoint of the arrivals lives in a ring of the same
size; each step gathers, for every presynaptic neuron, the adjoint at the arrival times of its synapses, giving

    dL/ds_i(t) = sum_j w_ij [(1 - f_ij) g_j(t+1+k_ij) + f_ij g_j(t+2+k_ij)]
    dL/dw_ij  += s_i(t) [(1 - f_ij) g_j(t+1+k_ij) + f_ij g_j(t+2+k_ij)]
    dL/dd_ij  += s_i(t) w_ij [g_j(t+2+k_ij) - g_j(t+1+k_ij)]

where g_j(tau) = dL/d(arrival at j, step tau). The gather at t + 2 + k equals the gather at (t + 1) + 1 + k made
one reverse step earlier, so one gather per step suffices.

`ImmediateTransmission` is the same interface without delays (a matmul); `DelayPropagation` applies either to a
given spike train as a differentiable function, which is what gradcheck tests.
"""

from __future__ import annotations

import torch


def split_delays(delays: torch.Tensor, max_delay: int, interpolate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole steps k (long) and fraction f in [0, 1) of delays clamped to [0, max_delay] (steps)."""
    clamped = delays.detach().clamp(0.0, float(max_delay))
    whole = clamped.floor() if interpolate else clamped.round()
    fraction = clamped - whole if interpolate else torch.zeros_like(clamped)
    return whole.long(), fraction


class ImmediateTransmission:
    """Recurrent input without delays: a spike at step t arrives at step t + 1 (dense matmul both ways)."""

    def __init__(self, weight: torch.Tensor):
        self.weight = weight
        self.grad_weight = torch.zeros_like(weight)
        self.grad_delays = None

    def reset(self, batch: int) -> None:
        self._sent = self.weight.new_zeros(batch, self.weight.shape[1])

    def arrivals(self, t: int) -> torch.Tensor:
        return self._sent

    def send(self, t: int, activity: torch.Tensor) -> None:
        self._sent = activity @ self.weight

    def reset_adjoint(self, batch: int) -> None:
        self._adjoint_next = self.weight.new_zeros(batch, self.weight.shape[1])

    def backward_step(self, t: int, activity: torch.Tensor) -> torch.Tensor:
        """dL/d(activity at t) through this synapse; accumulates dL/dw. Call in reverse time order."""
        self.grad_weight.addmm_(activity.t(), self._adjoint_next)
        return self._adjoint_next @ self.weight.t()

    def record_adjoint(self, t: int, grad_arrival: torch.Tensor) -> None:
        self._adjoint_next = grad_arrival


class DelayedTransmission:
    """Transmission through per-synapse delays (N_pre, N_post, in steps) with a future-input ring buffer.

    See the module docstring for the delivery rule and the gradients it accumulates.
    """

    def __init__(self, weight: torch.Tensor, delays: torch.Tensor, max_delay: int, interpolate: bool = True):
        num_pre, num_post = weight.shape
        self.weight = weight
        self.length = max_delay + 3  # arrivals reach at most t + 2 + max_delay; slot t itself is being read
        whole, self.fraction = split_delays(delays, max_delay, interpolate)
        self._lead = whole + 1  # steps from a spike to its first arrival
        self._weight_first = weight * (1.0 - self.fraction)
        self._weight_second = weight * self.fraction
        self._has_second = bool(interpolate) and bool((self.fraction > 0).any())
        self._columns = torch.arange(num_post, device=weight.device)
        self._in_range = (delays >= 0) & (delays <= max_delay)  # the clamp passes no gradient outside
        self.grad_weight = torch.zeros_like(weight)
        self._grad_delays = torch.zeros_like(weight)

    @property
    def grad_delays(self) -> torch.Tensor:
        return self._grad_delays * self._in_range

    # ---- forward: scatter spikes into the future, read the present ----
    def reset(self, batch: int) -> None:
        self._ring = self.weight.new_zeros(batch, self.length, self.weight.shape[1])

    def arrivals(self, t: int) -> torch.Tensor:
        slot = t % self.length
        current = self._ring[:, slot].clone()
        self._ring[:, slot].zero_()
        return current

    def send(self, t: int, activity: torch.Tensor) -> None:
        """Scatter the nonzero entries of activity (B, N_pre) to their arrival slots: O(events * N_post)."""
        batch_idx, pre_idx = activity.nonzero(as_tuple=True)
        if batch_idx.numel() == 0:
            return
        values = activity[batch_idx, pre_idx].unsqueeze(1)
        num_post = self.weight.shape[1]
        base = batch_idx.unsqueeze(1) * (self.length * num_post) + self._columns
        slot = (t + self._lead[pre_idx]) % self.length
        flat = self._ring.view(-1)
        flat.index_add_(0, (base + slot * num_post).view(-1), (values * self._weight_first[pre_idx]).view(-1))
        if self._has_second:
            slot = (slot + 1) % self.length
            flat.index_add_(0, (base + slot * num_post).view(-1), (values * self._weight_second[pre_idx]).view(-1))

    # ---- backward: gather the adjoint at each synapse's arrival times ----
    def reset_adjoint(self, batch: int) -> None:
        num_pre, num_post = self.weight.shape
        self._adjoint = self.weight.new_zeros(batch, self.length, num_post)
        self._later = self.weight.new_zeros(batch, num_pre, num_post)  # gather of step t + 1: g at t + 2 + k

    def backward_step(self, t: int, activity: torch.Tensor) -> torch.Tensor:
        """dL/d(activity at t) through this synapse; accumulates dL/dw and dL/dd. Call in reverse time order."""
        batch = activity.shape[0]
        num_post = self.weight.shape[1]
        index = ((t + self._lead) % self.length) * num_post + self._columns
        first = self._adjoint.view(batch, -1).index_select(1, index.view(-1)).view(batch, *self.weight.shape)
        second = self._later
        self._later = first
        grad_activity = torch.einsum("bij,ij->bi", first, self._weight_first)
        grad_activity += torch.einsum("bij,ij->bi", second, self._weight_second)
        batch_idx, pre_idx = activity.nonzero(as_tuple=True)
        if batch_idx.numel():
            values = activity[batch_idx, pre_idx].unsqueeze(1)
            first_e, second_e = first[batch_idx, pre_idx], second[batch_idx, pre_idx]
            delivered = first_e + self.fraction[pre_idx] * (second_e - first_e)
            self.grad_weight.index_add_(0, pre_idx, values * delivered)
            self._grad_delays.index_add_(0, pre_idx, values * self.weight[pre_idx] * (second_e - first_e))
        return grad_activity

    def record_adjoint(self, t: int, grad_arrival: torch.Tensor) -> None:
        self._adjoint[:, t % self.length] = grad_arrival


def make_transmission(weight: torch.Tensor, delays: torch.Tensor | None, max_delay: int, interpolate: bool):
    """The transmission for a delay matrix, or the immediate one when there are no delays."""
    if delays is None:
        return ImmediateTransmission(weight)
    return DelayedTransmission(weight, delays, max_delay, interpolate)


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
        transmission.reset(batch)
        out = activity.new_empty(batch, steps, weight.shape[1])
        for t in range(steps):
            out[:, t] = transmission.arrivals(t)
            transmission.send(t, activity[:, t])
        ctx.save_for_backward(activity, weight, delays)
        ctx.config = (max_delay, interpolate, delays is None)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        activity, weight, delays = ctx.saved_tensors
        max_delay, interpolate, no_delays = ctx.config
        transmission = make_transmission(weight, None if no_delays else delays, max_delay, interpolate)
        batch, steps, _ = activity.shape
        transmission.reset_adjoint(batch)
        grad_activity = torch.empty_like(activity)
        for t in reversed(range(steps)):
            grad_activity[:, t] = transmission.backward_step(t, activity[:, t])
            transmission.record_adjoint(t, grad_out[:, t])
        grad_delays = None if no_delays else transmission.grad_delays
        return grad_activity, transmission.grad_weight, grad_delays, None, None


def delay_propagate(activity: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor | None,
                    max_delay: int, interpolate: bool = True) -> torch.Tensor:
    """Differentiable arrivals of `activity` (B, T, N_pre) through `weight` (N_pre, N_post) and `delays` (steps)."""
    return DelayPropagation.apply(activity, weight, delays, max_delay, interpolate)
