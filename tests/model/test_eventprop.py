"""EventProp (`train.gradient: eventprop`): the event-based layer against its autograd oracle and finite differences.

The fast layer (`event_recurrence`) keeps only the spikes and accumulates gradients chunk by chunk; the oracle
(`reference_event_recurrence`) is the same forward model written naively, differentiated by autograd. Chunks are
made short here so that every test crosses chunk boundaries.
"""

import pytest
import torch

from spacetime_snn.config import ModelSettings, SpikeRegSettings, TrainSettings, settings_from_dict
from spacetime_snn.errors import ConfigError
from spacetime_snn.model import delays as delay_module
from spacetime_snn.model import eventprop
from spacetime_snn.model.eventprop import event_recurrence, reference_event_recurrence, regulariser_gain
from spacetime_snn.model.network import SpatialSNN
from spacetime_snn.model.parameterisation import SpatialDelays
from spacetime_snn.model.readout import readout_kernel
from spacetime_snn.model.recurrence import LIFParameters, lif_recurrence
from spacetime_snn.training.objective import loss_terms


@pytest.fixture(autouse=True)
def short_chunks(monkeypatch):
    monkeypatch.setattr(eventprop, "_CHUNK", 8)


def _problem(seed, kind="synaptic", batch=3, steps=40, channels=5, n=6, max_delay=8):
    g = torch.Generator().manual_seed(seed)
    inputs = (torch.rand(batch * steps, channels, generator=g) < 0.2).double()
    inputs[::7] *= 2.0  # some bins hold two events
    inputs = inputs.to_sparse().coalesce()
    w_in = (torch.rand(channels, n, generator=g, dtype=torch.double) * 1.2 + 0.4).requires_grad_()
    weight = (torch.randn(n, n, generator=g, dtype=torch.double) * 0.6).requires_grad_()
    if kind == "synaptic":  # away from whole steps, where delivery is differentiable
        delays = torch.randint(0, max_delay, (n, n), generator=g).double() + 0.1 + 0.8 * torch.rand(
            n, n, generator=g, dtype=torch.double)
    elif kind == "spatial":
        delays = SpatialDelays(n, 2, max_delay, init_range=2.0, generator=g).double()().detach()
    elif kind == "clamped":  # some beyond the maximum
        delays = torch.rand(n, n, generator=g, dtype=torch.double) * 1.5 * max_delay
    else:
        delays = None
    if delays is not None:
        delays.requires_grad_()
    return inputs, w_in, weight, delays


def _params(**changes):
    return LIFParameters(**{"max_delay": 8, **changes})


def _oracle(inputs, w_in, weight, delays, params, batch, steps):
    currents = torch.sparse.mm(inputs, w_in).view(batch, steps, -1)
    return reference_event_recurrence(currents, weight, delays, params)


CORRELATIONS = {  # cost constants of `delays.correlate` that force each way of computing the chunks' correlations
    "product": {"_NS_PRODUCT": 0.0},
    "by_lead": {"_NS_PRODUCT": 1e9, "_NS_GATHER": 1e9},
    "by_synapse": {"_NS_PRODUCT": 1e9, "_NS_BAG": 1e9},
}


@pytest.mark.parametrize("representation", [10**9, 0])  # dense and CSR lead matrices
@pytest.mark.parametrize("kind,interpolate,method", [
    ("synaptic", True, "product"), ("synaptic", True, "by_lead"), ("synaptic", True, "by_synapse"),
    ("spatial", True, "product"), ("clamped", True, "by_lead"), ("none", True, "product"),
    ("synaptic", False, "by_synapse")])
def test_layer_matches_the_autograd_oracle(monkeypatch, representation, kind, interpolate, method):
    monkeypatch.setattr(delay_module, "_DENSE_FACTOR", representation)
    for name, value in CORRELATIONS[method].items():
        monkeypatch.setattr(delay_module, name, value)
    batch, steps = 3, 40
    inputs, w_in, weight, delays = _problem(1, kind)
    params = _params(interpolate=interpolate)
    kernel = torch.as_tensor(readout_kernel(steps, 20.0, 5.0, 1.0, params.gain))
    spikes, drive = event_recurrence(inputs, batch, steps, w_in, weight, delays, kernel, params)
    fired, activity, voltages = _oracle(inputs, w_in, weight, delays, params, batch, steps)
    assert torch.equal(spikes, fired) and 0.05 < float(spikes.detach().mean()) < 0.5
    oracle_drive = torch.einsum("t,btn->bn", kernel, activity)
    torch.testing.assert_close(drive, oracle_drive, rtol=1e-12, atol=1e-13)
    g = torch.Generator().manual_seed(2)
    probe_drive = torch.randn(drive.shape, generator=g, dtype=torch.double)
    probe_spikes = torch.randn(spikes.shape, generator=g, dtype=torch.double)  # stands in for dR/ds
    wrt = [w_in, weight] + ([delays] if delays is not None and interpolate else [])
    ours = torch.autograd.grad((drive * probe_drive).sum() + (spikes * probe_spikes).sum(), wrt)
    # the regulariser's jump: dR/ds at a spike, times regulariser_gain (tau_mem dt / (1 - beta)), added to dL/dV
    # of that spike (mlGeNN's choice)
    jump = regulariser_gain(params) * (fired * probe_spikes * voltages).sum()
    expected = torch.autograd.grad((oracle_drive * probe_drive).sum() + jump, wrt)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_evaluation_runs_the_same_forward_model():
    inputs, w_in, weight, delays = _problem(3, "spatial")
    params = _params()
    kernel = torch.as_tensor(readout_kernel(40, 20.0, 5.0, 1.0, params.gain))
    spikes, drive = event_recurrence(inputs, 3, 40, w_in, weight, delays, kernel, params)
    with torch.no_grad():
        spikes_eval, drive_eval = event_recurrence(inputs, 3, 40, w_in, weight, delays, kernel, params)
    assert torch.equal(spikes, spikes_eval) and torch.equal(drive.detach(), drive_eval)


def _network(mode, seed=0):
    settings = ModelSettings(hidden=8, delay_mode=mode, max_delay_steps=10, delay_interpolation="linear")
    g = torch.Generator().manual_seed(seed)
    model = SpatialSNN(6, 3, settings, dt_ms=1.0, generator=g, gradient="eventprop").double()
    with torch.no_grad():
        model.w_in.normal_(0.7, 0.25, generator=g)
        model.w_rec.normal_(0.0, 0.5, generator=g)
        model.w_out.normal_(0.0, 1.0, generator=g)
        if mode == "synaptic":
            model.recurrent_delays.delay.copy_(torch.randint(0, 8, (8, 8), generator=g) + 0.1
                                               + 0.8 * torch.rand(8, 8, generator=g))
        if mode == "spatial":
            model.recurrent_delays.position.mul_(3.0)
    inputs = (torch.rand(2 * 50, 6, generator=g) < 0.15).double().to_sparse().coalesce()
    return model, inputs, torch.tensor([0, 2])


@pytest.mark.parametrize("mode", ["synaptic", "spatial"])
def test_gradient_equals_finite_differences_of_the_loss(mode, directional_derivatives):
    """Directional derivatives of the training loss (cross-entropy, L1, distance cost moving positions)."""
    model, inputs, labels = _network(mode)
    train = TrainSettings(l1=1e-3, distance_cost=1e-3, distance_cost_moves_positions=True,
                          spike_reg=SpikeRegSettings(upper_strength=0.0, lower_strength=0.0))

    def loss():
        logits, spikes = model(inputs, 2, 50)
        return sum(loss_terms(logits, labels, spikes, model.w_rec, model.recurrent_delays(), train).values()), spikes

    value, spikes = loss()
    assert 2.0 < float(spikes.detach().sum(1).mean()) < 15.0  # several spikes per neuron and sample
    value.backward()
    parameters = list(model.parameters())
    directional_derivatives(loss, parameters, [param.grad for param in parameters], seed=4)


def test_loss_is_continuous_when_a_spike_crosses_a_step_boundary():
    """Moving one input weight: wherever the raster changes but no neuron's spike count does, the loss is continuous
    (a spike slid to the neighbouring step); jumps come only with spikes created or deleted."""
    model, inputs, labels = _network("synaptic", seed=5)
    crossings = 0
    with torch.no_grad():
        base = float(model.w_in[0, 0])
        previous = None
        for x in torch.linspace(base - 0.3, base + 0.3, 601).tolist():
            model.w_in[0, 0] = x
            logits, spikes = model(inputs, 2, 50)
            if previous is not None and not torch.equal(spikes, previous[1]):
                if torch.equal(spikes.sum(1), previous[1].sum(1)):
                    crossings += 1
                    assert float((logits - previous[0]).abs().max()) < 1e-2  # steps of 1e-3 in the weight
            previous = (logits, spikes)
    assert crossings >= 3


def test_backward_keeps_the_spikes_not_the_history():
    """Everything saved for the backward pass is a parameter, the sparse input, the kernel, or per spike."""
    inputs, w_in, weight, delays = _problem(6, "synaptic", steps=40)
    params = _params()
    kernel = torch.as_tensor(readout_kernel(40, 20.0, 5.0, 1.0, params.gain))
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        spikes, drive = event_recurrence(inputs, 3, 40, w_in, weight, delays, kernel, params)
    count = int(spikes.sum())
    allowed = {id(t) for t in (inputs, w_in, weight, delays, kernel)}
    per_spike = [t for t in saved if id(t) not in allowed]
    assert per_spike and all(t.shape == (count,) for t in per_spike)


def test_surrogate_path_is_unchanged():
    """gradient: surrogate computes exactly what the network computed before the switch existed (on the torch
    backend, bit for bit; the compiled one agrees to rounding: test_compiled_recurrence.py)."""
    settings = ModelSettings(hidden=8, delay_mode="spatial", max_delay_steps=6, backend="torch")
    model = SpatialSNN(6, 3, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.w_in.mul_(20.0)
    inputs = (torch.rand(2 * 30, 6, generator=torch.Generator().manual_seed(1)) < 0.3).float().to_sparse().coalesce()
    logits, spikes = model(inputs, 2, 30)
    currents = torch.sparse.mm(inputs, model.w_in).view(2, 30, -1)
    expected_spikes = lif_recurrence(currents, model.w_rec, model.recurrent_delays(), model.lif)
    kernel = torch.as_tensor(readout_kernel(30, 20.0, 5.0, 1.0, model.lif.gain), dtype=expected_spikes.dtype)
    expected = torch.einsum("t,btn->bn", kernel, expected_spikes) @ model.w_out
    assert float(spikes.detach().mean()) > 0.01
    assert torch.equal(logits, expected) and torch.equal(spikes, expected_spikes)
    grads = torch.autograd.grad(logits.sum(), [model.w_in, model.w_rec, model.recurrent_delays.position])
    for a, b in zip(grads, torch.autograd.grad(expected.sum(), [model.w_in, model.w_rec,
                                                                model.recurrent_delays.position])):
        assert torch.equal(a, b)


def test_gradient_setting_is_validated():
    assert settings_from_dict({}).train.gradient == "surrogate"
    assert settings_from_dict({"train": {"gradient": "eventprop"}}).train.gradient == "eventprop"
    with pytest.raises(ConfigError, match="train.gradient"):
        settings_from_dict({"train": {"gradient": "exact"}})
    with pytest.raises(ConfigError, match="input_delays"):
        settings_from_dict({"train": {"gradient": "eventprop"}, "model": {"input_delays": True}})


@pytest.mark.parametrize("density,method", [(0.0, "_by_lead"), (1.0, "_by_product")])
def test_a_given_activity_density_changes_only_how_correlations_are_computed(monkeypatch, density, method):
    """The event-based layer tells `correlate` its activity density instead of letting it sample one."""
    g = torch.Generator().manual_seed(7)
    activity = torch.rand(30, 3, 40, generator=g, dtype=torch.double) * (torch.rand(30, 3, 40, generator=g) < 0.1)
    adjoint = torch.randn(40, 3, 40, generator=g, dtype=torch.double)
    adjoint[30:] = 0.0  # as `correlate` requires: zero beyond the activity's steps
    lead = torch.randint(1, 6, (40, 40), generator=g)
    expected = delay_module.correlate(activity, adjoint, [lead, lead + 1])
    used = []
    original = getattr(delay_module, method)
    monkeypatch.setattr(delay_module, method, lambda *args: used.append(method) or original(*args))
    for a, b in zip(delay_module.correlate(activity, adjoint, [lead, lead + 1], density), expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert used == [method]
