"""The compiled backend (model.backend): the same spikes and gradients as the torch loops and the autograd oracle,
in every delay mode, with rounded and linear delays, delays at and over the clamp, pruning masks; checkpoints
resume on either backend; the switch resolves and fails as documented."""

import io

import numba
import pytest
import torch

from spacetime_snn.config import ModelSettings, settings_from_dict
from spacetime_snn.errors import ConfigError
from spacetime_snn.model import compiled_recurrence
from spacetime_snn.model.backend import resolve_backend
from spacetime_snn.model.compiled_recurrence import _Taps, compiled_lif_recurrence, spike_gradients
from spacetime_snn.model.delays import delay_propagate
from spacetime_snn.model.network import SpatialSNN
from spacetime_snn.model.parameterisation import AxonalDelays, SpatialDelays, SynapticDelays
from spacetime_snn.model.recurrence import LIFParameters, lif_recurrence, reference_recurrence

MAX_DELAY = 8


def _layer_problem(mode: str, seed: int, dtype=torch.double, batch: int = 5, steps: int = 40, n: int = 6):
    """Inputs, weight (a leaf), the delay module's parameters and a function giving the delays (or None)."""
    g = torch.Generator().manual_seed(seed)
    inputs = (torch.rand(batch, steps, n, generator=g, dtype=dtype) * 0.9).requires_grad_()
    weight = (torch.randn(n, n, generator=g, dtype=dtype) * 0.8).requires_grad_()
    if mode == "none":
        return inputs, weight, [], lambda: None
    if mode == "spatial":
        module = SpatialDelays(n, dims=2, max_delay=MAX_DELAY, init_range=4.0, generator=g).to(dtype)
    elif mode == "axonal":
        module = AxonalDelays(n, MAX_DELAY).to(dtype)
        with torch.no_grad():
            module.delay.uniform_(0.0, MAX_DELAY, generator=g)
    elif mode == "synaptic":
        module = SynapticDelays(n, MAX_DELAY).to(dtype)
        with torch.no_grad():
            module.delay.uniform_(0.0, MAX_DELAY, generator=g)
    else:  # "clamp": raw delays below 0, at the maximum and beyond it, straight into the layer
        raw = (torch.rand(n, n, generator=g, dtype=dtype) * 14 - 2)
        raw[0, :3] = torch.tensor([0.0, float(MAX_DELAY), float(MAX_DELAY) + 0.5])
        raw.requires_grad_()
        return inputs, weight, [raw], lambda: raw
    return inputs, weight, list(module.parameters()), module


MODES = ["none", "synaptic", "axonal", "spatial", "clamp"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interpolate", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_compiled_equals_torch_and_the_autograd_oracle(monkeypatch, mode, interpolate, masked):
    monkeypatch.setattr(compiled_recurrence, "_BATCH_CHUNK", 2)  # 5 samples: chunks of 2, 2 and 1
    inputs, weight, delay_params, delays = _layer_problem(mode, seed=MODES.index(mode))
    mask = (torch.rand(weight.shape, generator=torch.Generator().manual_seed(9)) > 0.3).double() if masked else 1.0
    params = LIFParameters(tau_mem_ms=5.0, max_delay=MAX_DELAY, scale_input=False, interpolate=interpolate)
    probe = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(7), dtype=torch.double)
    wrt = [inputs, weight, *delay_params]
    results = []
    for layer in (compiled_lif_recurrence, lif_recurrence, reference_recurrence):
        spikes = layer(inputs, weight * mask, delays(), params)
        results.append((spikes, torch.autograd.grad((spikes * probe).sum(), wrt, allow_unused=True)))
    (compiled, grads), (torch_spikes, torch_grads), (oracle, oracle_grads) = results
    assert torch.equal(compiled, torch_spikes) and torch.equal(compiled, oracle)
    assert 0.05 < compiled.mean() < 0.9 and compiled.sum((0, 1)).min() >= 3  # every neuron spikes, several times
    for ours, theirs, reference in zip(grads, torch_grads, oracle_grads):
        assert ours.abs().max() > 0
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
        if reference is not None:  # the oracle rounds delays without a gradient: rounded dL/dd is torch's only
            torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
    assert mode == "none" or (oracle_grads[2] is None) == (not interpolate)
    with torch.no_grad():  # evaluation: the forward alone, nothing recorded
        assert torch.equal(compiled_lif_recurrence(inputs, weight * mask, delays(), params), compiled)


def test_float32_spikes_identical_and_gradients_close():
    inputs, weight, delay_params, delays = _layer_problem("spatial", seed=11, dtype=torch.float32, batch=4, steps=60)
    params = LIFParameters(tau_mem_ms=5.0, max_delay=MAX_DELAY, scale_input=False, interpolate=True)
    probe = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(3))
    wrt = [inputs, weight, *delay_params]
    compiled = compiled_lif_recurrence(inputs, weight, delays(), params)
    reference = lif_recurrence(inputs, weight, delays(), params)
    assert compiled.dtype == torch.float32 and torch.equal(compiled, reference) and compiled.sum() > 100
    ours = torch.autograd.grad((compiled * probe).sum(), wrt)
    theirs = torch.autograd.grad((reference * probe).sum(), wrt)
    for a, b in zip(ours, theirs):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


@pytest.mark.parametrize("interpolate", [True, False])
def test_spike_gradients_equal_finite_differences_of_the_delivery(interpolate):
    """Given the spikes and an adjoint J, the weight and delay gradients the compiled backward forms at the spikes
    are the derivatives of sum(J * arrivals), arrivals = the spikes delivered through w and d (`delay_propagate`,
    itself gradchecked): central differences in w, and in d where the delivery is differentiable (off integers,
    linear delays; with rounded delays dL/dd is the straight-through difference, compared with torch's)."""
    g = torch.Generator().manual_seed(5)
    batch, steps, n = 3, 30, 5
    spikes = (torch.rand(batch, steps, n, generator=g) < 0.3).double()
    weight = torch.randn(n, n, generator=g, dtype=torch.double)
    delays = torch.randint(0, 6, (n, n), generator=g).double() + 0.1 + 0.8 * torch.rand(n, n, generator=g,
                                                                                          dtype=torch.double)
    adjoint = torch.randn(batch, steps, n, generator=g, dtype=torch.double)
    params = LIFParameters(max_delay=MAX_DELAY, interpolate=interpolate)
    taps = _Taps(weight, delays, params)
    grad_w, grad_d = spike_gradients(spikes, adjoint.numpy(), taps)

    def loss(w, d):
        return (delay_propagate(spikes, w, d, MAX_DELAY, interpolate) * adjoint).sum()

    w, d = weight.clone().requires_grad_(), delays.clone().requires_grad_()
    torch_w, torch_d = torch.autograd.grad(loss(w, d), (w, d))
    torch.testing.assert_close(grad_w, torch_w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_d, torch_d, rtol=1e-10, atol=1e-12)
    step = 1e-6
    for index in [(0, 0), (1, 3), (4, 2)]:
        for grad, which in ((grad_w, 0), (grad_d, 1)):
            if which == 1 and not interpolate:
                continue
            up, down = [weight.clone(), delays.clone()], [weight.clone(), delays.clone()]
            up[which][index] += step
            down[which][index] -= step
            numeric = (loss(*up) - loss(*down)) / (2 * step)
            torch.testing.assert_close(grad[index], numeric, rtol=1e-6, atol=1e-8)


def test_gradcheck_of_the_compiled_layer_through_its_delivery():
    """gradcheck where the compiled backward is a true derivative: the recurrent delivery of given spikes in the
    weights and (off-integer, linear) delays. The spikes' own surrogate gradient is not a derivative of the
    forward pass, so it is checked against the torch backward and the autograd oracle instead."""
    g = torch.Generator().manual_seed(8)
    batch, steps, n = 2, 12, 4
    spikes = (torch.rand(batch, steps, n, generator=g) < 0.3).double()
    params = LIFParameters(max_delay=6, interpolate=True)

    class Delivery(torch.autograd.Function):
        @staticmethod
        def forward(ctx, weight, delays):
            ctx.save_for_backward(weight, delays)
            return delay_propagate(spikes, weight.detach(), delays.detach(), 6, True)

        @staticmethod
        def backward(ctx, grad):
            weight, delays = ctx.saved_tensors
            taps = _Taps(weight, delays, params)
            return spike_gradients(spikes, grad.contiguous().numpy(), taps)

    weight = torch.randn(n, n, generator=g, dtype=torch.double, requires_grad=True)
    delays = (torch.randint(0, 4, (n, n), generator=g).double() + 0.2 + 0.6 * torch.rand(n, n, generator=g,
                                                                                          dtype=torch.double))
    assert torch.autograd.gradcheck(Delivery.apply, (weight, delays.requires_grad_()))


def _network(mode: str, gradient: str = "surrogate", seed: int = 0, backend: str = "auto") -> SpatialSNN:
    settings = ModelSettings(hidden=8, delay_mode=mode, max_delay_steps=10, delay_interpolation="linear",
                             backend=backend)
    g = torch.Generator().manual_seed(seed)
    model = SpatialSNN(6, 3, settings, dt_ms=1.0, generator=g, gradient=gradient).double()
    with torch.no_grad():
        model.w_in.normal_(0.7, 0.25, generator=g)
        model.w_rec.normal_(0.0, 0.5, generator=g)
        model.w_out.normal_(0.0, 1.0, generator=g)
        if mode == "spatial":
            model.recurrent_delays.position.mul_(3.0)
    return model


def _inputs(seed: int = 1, batch: int = 3, steps: int = 50):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch * steps, 6, generator=g) < 0.15).double().to_sparse().coalesce(), batch, steps


@pytest.mark.parametrize("gradient", ["surrogate", "eventprop"])
@pytest.mark.parametrize("mode", ["none", "spatial"])
def test_network_on_either_backend_gives_the_same_logits_and_gradients(mode, gradient):
    inputs, batch, steps = _inputs()
    mask = (torch.rand(8, 8, generator=torch.Generator().manual_seed(4)) > 0.25).double()
    results = []
    for backend in ("auto", "torch"):
        model = _network(mode, gradient, backend=backend)
        logits, spikes = model(inputs, batch, steps, recurrent_mask=mask)
        logits.pow(2).sum().backward()
        results.append((logits.detach(), spikes.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (logits, spikes, grads), (torch_logits, torch_spikes, torch_grads) = results
    assert torch.equal(spikes, torch_spikes) and spikes.mean() > 0.02
    torch.testing.assert_close(logits, torch_logits, rtol=1e-10, atol=1e-12)
    assert grads.keys() == torch_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], torch_grads[name], rtol=1e-9, atol=1e-11, msg=name)


def test_a_checkpoint_resumes_on_the_other_backend():
    """Train a step on one backend, save, load into a model on the other, train on: the same as training both
    steps on one backend (to float rounding); the backend is not part of the saved state."""
    inputs, batch, steps = _inputs(seed=2)
    labels = torch.tensor([0, 2, 1])

    def train_step(model, optimizer):
        optimizer.zero_grad()
        logits, _ = model(inputs, batch, steps)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()

    def trained(first: str, second: str) -> dict:
        model = _network("spatial", backend=first)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        train_step(model, optimizer)
        buffer = io.BytesIO()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
        buffer.seek(0)
        saved = torch.load(buffer)
        assert not any("backend" in key for key in saved["model"])
        resumed = _network("spatial", seed=99, backend=second)
        resumed.load_state_dict(saved["model"])
        optimizer = torch.optim.Adam(resumed.parameters(), lr=0.05)
        optimizer.load_state_dict(saved["optimizer"])
        train_step(resumed, optimizer)
        return resumed.state_dict()

    reference = trained("torch", "torch")
    for first, second in (("compiled", "torch"), ("torch", "compiled")):
        state = trained(first, second)
        for key in reference:
            torch.testing.assert_close(state[key], reference[key], rtol=1e-9, atol=1e-11, msg=key)


def test_the_backend_switch_resolves_and_fails_with_a_fix():
    assert resolve_backend("auto", "cpu") == "compiled"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    assert resolve_backend("torch", "cpu") == "torch" and resolve_backend("compiled", "cpu") == "compiled"
    with pytest.raises(ConfigError, match=r"model\.backend.*Fix: set model\.backend: auto"):
        resolve_backend("compiled", torch.device("cuda"))
    with pytest.raises(ConfigError, match=r"model\.backend"):
        resolve_backend("gpu", "cpu")
    with pytest.raises(ConfigError, match=r"model\.backend"):
        settings_from_dict({"model": {"backend": "gpu"}})
    assert settings_from_dict({}).model.backend == "auto"


def test_the_kernels_use_torchs_thread_count():
    inputs, weight, _, _ = _layer_problem("none", seed=0, batch=2, steps=5)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            compiled_lif_recurrence(inputs, weight, None, LIFParameters())
        assert numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
