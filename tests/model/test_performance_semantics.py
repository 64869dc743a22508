"""The fast paths of the delay machinery compute exactly what the naive definitions do.

`delays.py` chooses between dense and CSR lead matrices (`_DENSE_FACTOR`) and between three ways of computing the
weight and delay gradients (its cost constants `_NS_*`); each choice is forced here and checked against the
autograd oracle, gradcheck, a brute-force correlation and the other choices.
"""

import pytest
import torch

from spacetime_snn.model import delays as delay_module
from spacetime_snn.model.delays import correlate, delay_propagate, make_transmission, one_thread
from spacetime_snn.model.parameterisation import SpatialDelays
from spacetime_snn.model.recurrence import (LIFParameters, lif_recurrence, reference_recurrence, simulate,
                                            surrogate_derivative)

REPRESENTATIONS = {"dense": 10**9, "sparse": 0}
CORRELATIONS = {  # cost constants that force each way of computing correlations
    "product": {"_NS_PRODUCT": 0.0},
    "by_lead": {"_NS_PRODUCT": 1e9, "_NS_GATHER": 1e9},
    "by_synapse": {"_NS_PRODUCT": 1e9, "_NS_BAG": 1e9},
}


@pytest.fixture(params=sorted(REPRESENTATIONS))
def representation(request, monkeypatch):
    monkeypatch.setattr(delay_module, "_DENSE_FACTOR", REPRESENTATIONS[request.param])
    return request.param


def _problem(seed, batch=3, steps=40, n=6, max_delay=8, kind="synaptic"):
    g = torch.Generator().manual_seed(seed)
    inputs = (torch.rand(batch, steps, n, generator=g, dtype=torch.double) * 0.9).requires_grad_()
    weight = (torch.randn(n, n, generator=g, dtype=torch.double) * 0.8).requires_grad_()
    if kind == "synaptic":  # away from integers, where delivery is differentiable
        whole = torch.randint(0, max_delay, (n, n), generator=g).double()
        delays = whole + 0.1 + 0.8 * torch.rand(n, n, generator=g, dtype=torch.double)
    elif kind == "spatial":
        delays = SpatialDelays(n, 2, max_delay, init_range=2.0, generator=g).double()().detach()
    else:  # some delays beyond the maximum: clamped
        delays = torch.rand(n, n, generator=g, dtype=torch.double) * 1.5 * max_delay
    return inputs, weight, delays.requires_grad_()


def _assert_matches_oracle(inputs, weight, delays, params, delay_gradient=True):
    ours = lif_recurrence(inputs, weight, delays, params)
    oracle = reference_recurrence(inputs, weight, delays, params)
    assert torch.equal(ours, oracle) and 0.05 < float(ours.detach().mean()) < 0.9
    probe = torch.randn(ours.shape, generator=torch.Generator().manual_seed(9), dtype=ours.dtype)
    wrt = [inputs, weight] + ([delays] if delays is not None and delay_gradient else [])
    expected = torch.autograd.grad((oracle * probe).sum(), wrt)
    for a, b in zip(torch.autograd.grad((ours * probe).sum(), wrt), expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["synaptic", "spatial", "clamped"])
def test_both_representations_match_the_oracle(representation, kind):
    inputs, weight, delays = _problem(10, kind=kind)
    _assert_matches_oracle(inputs, weight, delays, LIFParameters(tau_mem_ms=5.0, max_delay=8, scale_input=False))


def test_rounded_delays_and_input_gain_match_the_oracle(representation):
    inputs, weight, delays = _problem(11)
    # rounded delays: the oracle has no delay gradient (ours is a straight-through estimate), the rest must agree
    _assert_matches_oracle(inputs, weight, delays, LIFParameters(tau_mem_ms=5.0, max_delay=8, interpolate=False, scale_input=False),
                           delay_gradient=False)
    params = LIFParameters(tau_mem_ms=5.0, max_delay=8, scale_input=True)  # mlGeNN scale_i: g = (1 - beta) IScale
    _assert_matches_oracle(inputs, weight, delays, params)


def test_single_sample_single_step_and_no_delays(representation):
    inputs, weight, delays = _problem(12, batch=1, steps=25)
    _assert_matches_oracle(inputs, weight, delays, LIFParameters(tau_mem_ms=5.0, max_delay=8, scale_input=False))
    _assert_matches_oracle(inputs, weight, None, LIFParameters(tau_mem_ms=5.0, max_delay=8, scale_input=False))
    one = inputs[:, :1].detach().clone().requires_grad_()
    assert lif_recurrence(one, weight, delays, LIFParameters(max_delay=8, scale_input=False)).shape == (1, 1, 6)


@pytest.mark.parametrize("method", sorted(CORRELATIONS))
def test_every_correlation_method_matches_the_oracle(monkeypatch, method):
    for name, value in CORRELATIONS[method].items():
        monkeypatch.setattr(delay_module, name, value)
    inputs, weight, delays = _problem(21, kind="spatial")
    _assert_matches_oracle(inputs, weight, delays, LIFParameters(tau_mem_ms=5.0, max_delay=8, scale_input=False))


def test_gradcheck_in_both_representations(representation):
    g = torch.Generator().manual_seed(13)
    activity = torch.randn(2, 14, 4, generator=g, dtype=torch.double, requires_grad=True)
    weight = torch.randn(4, 3, generator=g, dtype=torch.double, requires_grad=True)
    delays = (torch.randint(0, 9, (4, 3), generator=g) + 0.1 + 0.8 * torch.rand(4, 3, generator=g)).double()
    assert torch.autograd.gradcheck(lambda a, w, d: delay_propagate(a, w, d, max_delay=10),
                                    (activity, weight, delays.requires_grad_()))


def test_dense_and_sparse_lead_matrices_deliver_the_same(monkeypatch):
    g = torch.Generator().manual_seed(14)
    activity = (torch.rand(3, 30, 5, generator=g, dtype=torch.double) < 0.3).double()
    weight = torch.randn(5, 4, generator=g, dtype=torch.double)
    delays = torch.rand(5, 4, generator=g, dtype=torch.double) * 9
    out = {}
    for name, factor in REPRESENTATIONS.items():
        monkeypatch.setattr(delay_module, "_DENSE_FACTOR", factor)
        assert make_transmission(weight, delays, 9, True).forward_matrix.layout == (
            torch.strided if name == "dense" else torch.sparse_csr)
        out[name] = delay_propagate(activity, weight, delays, max_delay=9)
    torch.testing.assert_close(out["dense"], out["sparse"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", sorted(CORRELATIONS))
def test_correlations_equal_brute_force(monkeypatch, method):
    for name, value in CORRELATIONS[method].items():
        monkeypatch.setattr(delay_module, name, value)
    g = torch.Generator().manual_seed(15)
    steps, batch, num_pre, num_post = 20, 3, 5, 4
    activity = (torch.rand(steps, batch, num_pre, generator=g, dtype=torch.double) < 0.4).double()
    activity[3, 1, 2] = 2.5  # a non-binary event
    adjoint = torch.randn(steps, batch, num_post, generator=g, dtype=torch.double)
    lead = torch.randint(1, 23, (num_pre, num_post), generator=g)  # some beyond the last step
    expected = torch.zeros(num_pre, num_post, dtype=torch.double)
    for i in range(num_pre):
        for j in range(num_post):
            lag = int(lead[i, j])
            if lag < steps:
                expected[i, j] = (activity[:steps - lag, :, i] * adjoint[lag:, :, j]).sum()
    first, second = correlate(activity, adjoint, [lead, lead + 1])
    torch.testing.assert_close(first, expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(correlate(torch.zeros_like(activity), adjoint, [lead])[0], torch.zeros_like(expected))


def test_delay_state_follows_the_delays_in_use_not_max_delay():
    weight = torch.randn(8, 8)
    positions = SpatialDelays(8, 2, max_delay=1000, init_range=1.0, generator=torch.Generator().manual_seed(16))
    transmission = make_transmission(weight, positions().detach(), max_delay=1000, interpolate=True)
    assert transmission.hi <= 4  # distances < 2.9 steps: leads 1..4
    assert transmission.begin(50, 2).shape == (50, 8, 2)
    assert transmission._history.shape[0] == 50 + transmission.hi


def test_simulate_contract_and_inference_path():
    inputs, weight, delays = _problem(17)
    params = LIFParameters(tau_mem_ms=5.0, max_delay=8, scale_input=False)
    spikes, slopes = simulate(inputs.detach(), weight.detach(), delays.detach(), params, record_slopes=True)
    assert spikes.dtype == torch.bool and spikes.shape == slopes.shape == inputs.shape
    assert simulate(inputs.detach(), weight.detach(), delays.detach(), params)[1] is None
    with torch.no_grad():
        plain = lif_recurrence(inputs, weight, delays, params)
    assert torch.equal(plain, spikes.double()) and torch.equal(plain, lif_recurrence(inputs, weight, delays, params))
    assert float(slopes.max()) <= 1.0 and float(slopes.min()) > 0.0
    probe = torch.linspace(0.0, 2.0, 11, dtype=torch.double)
    torch.testing.assert_close(surrogate_derivative(probe, 1.0, 10.0), (1 + 10 * (probe - 1).abs()) ** -2)


def test_time_loops_run_on_one_thread_and_restore_the_setting():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_thread():
            raise RuntimeError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_network_with_input_delays_trains_through_both_delay_layers():
    """Input-layer delays (DelayPropagation, 20 inputs) and recurrent delays in one network step."""
    from spacetime_snn.config import ModelSettings
    from spacetime_snn.model.network import SpatialSNN

    settings = ModelSettings(hidden=8, delay_mode="spatial", max_delay_steps=6, input_delays=True)
    model = SpatialSNN(20, 3, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(18))
    with torch.no_grad():
        model.input_delays.delay.uniform_(0.0, 6.0, generator=torch.Generator().manual_seed(19))
    batch, steps = 2, 25
    g = torch.Generator().manual_seed(20)
    rows, cols = torch.randint(0, batch * steps, (150,), generator=g), torch.randint(0, 20, (150,), generator=g)
    inputs = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(150), (batch * steps, 20)).coalesce()
    logits, spikes = model(inputs, batch, steps)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    for parameter in model.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()
    assert model.input_delays.delay.grad.abs().sum() > 0
