"""The compiled EventProp layer (`compiled_event_recurrence`) against the torch layer (`event_recurrence`, itself
tested against its autograd oracle) and against finite differences: same spikes, readout drive and gradients."""

import pytest
import torch

from spacetime_snn.model import compiled_eventprop
from spacetime_snn.model.compiled_eventprop import compiled_event_recurrence
from spacetime_snn.model.eventprop import event_recurrence
from spacetime_snn.model.parameterisation import SpatialDelays
from spacetime_snn.model.readout import readout_kernel
from spacetime_snn.model.recurrence import LIFParameters


def _problem(seed, kind, batch=5, steps=40, channels=6, n=7, max_delay=8, dtype=torch.double):
    g = torch.Generator().manual_seed(seed)
    inputs = (torch.rand(batch * steps, channels, generator=g) < 0.2).to(dtype)
    inputs[::7] *= 2.0  # some bins hold two events
    inputs = inputs.to_sparse().coalesce()
    w_in = (torch.rand(channels, n, generator=g, dtype=dtype) * 1.2 + 0.4).requires_grad_()
    weight = (torch.randn(n, n, generator=g, dtype=dtype) * 0.6).requires_grad_()
    if kind == "synaptic":  # away from whole steps, where delivery is differentiable
        delays = (torch.randint(0, max_delay, (n, n), generator=g).to(dtype) + 0.1
                  + 0.8 * torch.rand(n, n, generator=g, dtype=dtype))
    elif kind == "spatial":  # distances between learnable positions, as the network derives them
        delays = SpatialDelays(n, 2, max_delay, init_range=2.0, generator=g).to(dtype)().detach()
    elif kind == "clamped":  # below 0, at 0, at and beyond the maximum
        delays = torch.rand(n, n, generator=g, dtype=dtype) * 1.6 * max_delay - 0.2 * max_delay
        delays[0, :3] = torch.tensor([0.0, float(max_delay), 3.0], dtype=dtype)
    else:
        delays = None
    if delays is not None:
        delays.requires_grad_()
    return inputs, w_in, weight, delays


def _kernel(steps, params, dtype=torch.double):
    return torch.as_tensor(readout_kernel(steps, 20.0, 5.0, 1.0, params.gain), dtype=dtype)


def _both(inputs, batch, steps, w_in, weight, delays, params, wrt, dtype=torch.double, probe_seed=2, mask=None):
    """Spikes, drives and gradients of drive . p + spikes . q (q: the regulariser's dR/ds) from both layers;
    `mask` prunes the recurrent weights (as the network does, weight * mask)."""
    kernel = _kernel(steps, params, dtype)
    results = []
    for layer in (event_recurrence, compiled_event_recurrence):
        used = weight if mask is None else weight * mask
        spikes, drive = layer(inputs, batch, steps, w_in, used, delays, kernel, params)
        g = torch.Generator().manual_seed(probe_seed)
        probe_drive = torch.randn(drive.shape, generator=g, dtype=dtype)
        probe_spikes = torch.randn(spikes.shape, generator=g, dtype=dtype)
        grads = torch.autograd.grad((drive * probe_drive).sum() + (spikes * probe_spikes).sum(), wrt)
        results.append((spikes.detach(), drive.detach(), grads))
    return results


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind,interpolate,max_delay,pruned", [
    ("none", True, 8, False), ("synaptic", True, 8, False), ("synaptic", False, 8, False),
    ("spatial", True, 8, False), ("spatial", False, 8, True), ("clamped", True, 8, False),
    ("clamped", False, 8, False), ("clamped", True, 50, True)])  # 50: delays beyond the 40-step window
def test_compiled_layer_matches_the_torch_layer(threads, kind, interpolate, max_delay, pruned):
    batch, steps = 5, 40
    inputs, w_in, weight, delays = _problem(1, kind, batch, steps, max_delay=max_delay)
    params = LIFParameters(max_delay=max_delay, interpolate=interpolate)
    mask = (torch.rand(weight.shape, generator=torch.Generator().manual_seed(3)) < 0.6).double()
    wrt = [w_in, weight] + ([delays] if delays is not None else [])
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        (spikes, drive, expected), (ours, our_drive, grads) = _both(inputs, batch, steps, w_in, weight, delays, params,
                                                                   wrt, mask=mask if pruned else None)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(ours, spikes)
    per_neuron = spikes.sum(1)
    assert float(per_neuron.mean()) > 4.0 and float((spikes[:, 1:] * spikes[:, :-1]).sum()) > 0  # resets matter
    torch.testing.assert_close(our_drive, drive, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, expected):
        assert float(b.abs().max()) > 0.0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_float32_gives_the_same_spikes_and_close_gradients():
    batch, steps = 4, 60
    inputs, w_in, weight, delays = _problem(4, "spatial", batch, steps, dtype=torch.float32)
    params = LIFParameters(max_delay=8)
    (spikes, drive, expected), (ours, our_drive, grads) = _both(inputs, batch, steps, w_in, weight, delays, params,
                                                               [w_in, weight, delays], dtype=torch.float32)
    assert ours.dtype == torch.float32 and our_drive.dtype == torch.float32
    assert torch.equal(ours, spikes) and float(spikes.mean()) > 0.05
    torch.testing.assert_close(our_drive, drive, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, expected):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


@pytest.mark.parametrize("kind", ["synaptic", "none"])
def test_compiled_gradient_equals_finite_differences(kind, directional_derivatives):
    """Directional derivatives of drive . p + spikes . 0 in every parameter, the spike pattern held fixed."""
    batch, steps = 3, 40
    inputs, w_in, weight, delays = _problem(5, kind, batch, steps)
    params = LIFParameters(max_delay=8)
    kernel = _kernel(steps, params)
    probe = torch.randn(batch, weight.shape[0], generator=torch.Generator().manual_seed(6), dtype=torch.double)
    parameters = [w_in, weight] + ([delays] if delays is not None else [])

    def loss():
        spikes, drive = compiled_event_recurrence(inputs, batch, steps, w_in, weight, delays, kernel, params)
        return (drive * probe).sum(), spikes

    grads = torch.autograd.grad(loss()[0], parameters)
    directional_derivatives(loss, parameters, grads, seed=7)


def test_evaluation_runs_the_same_forward_model():
    inputs, w_in, weight, delays = _problem(8, "spatial")
    params = LIFParameters(max_delay=8)
    kernel = _kernel(40, params)
    spikes, drive = compiled_event_recurrence(inputs, 5, 40, w_in, weight, delays, kernel, params)
    with torch.no_grad():
        spikes_eval, drive_eval = compiled_event_recurrence(inputs, 5, 40, w_in, weight, delays, kernel, params)
    assert torch.equal(spikes, spikes_eval) and torch.equal(drive.detach(), drive_eval)


def test_more_spikes_than_reserved_are_recorded_by_a_rerun(monkeypatch):
    """The spike records are reserved from a running estimate; a batch that exceeds it runs again with room."""
    inputs, w_in, weight, delays = _problem(9, "synaptic")
    params = LIFParameters(max_delay=8)
    monkeypatch.setitem(compiled_eventprop._capacity_hint, "per_step_and_neuron", 1e-6)
    (spikes, drive, expected), (ours, our_drive, grads) = _both(inputs, 5, 40, w_in, weight, delays, params,
                                                               [w_in, weight, delays])
    assert torch.equal(ours, spikes) and compiled_eventprop._capacity_hint["per_step_and_neuron"] > 1e-3
    torch.testing.assert_close(our_drive, drive, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_backward_keeps_the_spikes_not_the_history():
    """Everything saved for the backward pass is a parameter, the sparse input, the kernel, per spike, or the
    per-sample offsets of the spike records."""
    inputs, w_in, weight, delays = _problem(6, "synaptic")
    params = LIFParameters(max_delay=8)
    kernel = _kernel(40, params)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        spikes, _ = compiled_event_recurrence(inputs, 5, 40, w_in, weight, delays, kernel, params)
    count = int(spikes.sum())
    allowed = {id(t) for t in (inputs, w_in, weight, delays, kernel)}
    kept = [tuple(t.shape) for t in saved if id(t) not in allowed]
    assert sorted(kept) == [(5 + 1,)] + [(count,)] * 5


def test_a_silent_layer_and_a_single_sample():
    """No spikes at all (zero records, zero gradients) and a batch of one, as the torch layer."""
    for scale, batch in ((0.0, 3), (1.0, 1)):
        inputs, w_in, weight, delays = _problem(10, "synaptic", batch=batch)
        with torch.no_grad():
            w_in.mul_(scale)
        params = LIFParameters(max_delay=8)
        (spikes, drive, expected), (ours, our_drive, grads) = _both(inputs, batch, 40, w_in, weight, delays, params,
                                                                   [w_in, weight, delays])
        assert torch.equal(ours, spikes) and (float(spikes.sum()) == 0.0) == (scale == 0.0)
        torch.testing.assert_close(our_drive, drive, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, expected):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
