"""The delay machinery: gradcheck, agreement with a naive autograd oracle, delays = cdist of positions."""

import pytest
import torch

from spacetime_snn.model.delays import delay_propagate, split_delays
from spacetime_snn.model.parameterisation import AxonalDelays, SpatialDelays, SynapticDelays
from spacetime_snn.model.recurrence import LIFParameters, lif_recurrence, reference_recurrence


def _off_integer(shape, high, generator):
    """Delays away from integers, where the piecewise-linear delivery is differentiable."""
    whole = torch.randint(0, high, shape, generator=generator).double()
    return whole + 0.1 + 0.8 * torch.rand(shape, generator=generator, dtype=torch.double)


def test_gradcheck_delay_propagation():
    g = torch.Generator().manual_seed(0)
    activity = torch.randn(2, 12, 4, generator=g, dtype=torch.double, requires_grad=True)
    weight = torch.randn(4, 3, generator=g, dtype=torch.double, requires_grad=True)
    delays = _off_integer((4, 3), 5, g).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, w, d: delay_propagate(a, w, d, max_delay=6), (activity, weight, delays))


def test_gradcheck_without_delays():
    g = torch.Generator().manual_seed(1)
    activity = torch.randn(2, 9, 4, generator=g, dtype=torch.double, requires_grad=True)
    weight = torch.randn(4, 4, generator=g, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, w: delay_propagate(a, w, None, max_delay=6), (activity, weight))


def test_delivery_times_and_split():
    """A single spike at t=0 with delay 2.25 arrives 0.75 w at step 3 and 0.25 w at step 4."""
    activity = torch.zeros(1, 8, 1, dtype=torch.double)
    activity[0, 0, 0] = 1.0
    out = delay_propagate(activity, torch.tensor([[2.0]], dtype=torch.double),
                          torch.tensor([[2.25]], dtype=torch.double), max_delay=4)
    assert out[0, :, 0].tolist() == [0, 0, 0, 1.5, 0.5, 0, 0, 0]
    rounded = delay_propagate(activity, torch.tensor([[2.0]], dtype=torch.double),
                              torch.tensor([[2.25]], dtype=torch.double), max_delay=4, interpolate=False)
    assert rounded[0, :, 0].tolist() == [0, 0, 0, 2, 0, 0, 0, 0]
    whole, fraction = split_delays(torch.tensor([-1.0, 0.5, 9.0]), max_delay=4, interpolate=True)
    assert whole.tolist() == [0, 0, 4] and fraction.tolist() == [0.0, 0.5, 0.0]


@pytest.mark.parametrize("mode", ["none", "synaptic", "max_delay_edge"])
def test_custom_bptt_matches_autograd_oracle(mode):
    g = torch.Generator().manual_seed(2)
    batch, steps, n = 3, 40, 6
    inputs = (torch.rand(batch, steps, n, generator=g, dtype=torch.double) * 0.9).requires_grad_()
    weight = (torch.randn(n, n, generator=g, dtype=torch.double) * 0.8).requires_grad_()
    max_delay = 8
    delays = None
    if mode == "synaptic":
        delays = _off_integer((n, n), max_delay, g).requires_grad_()
    elif mode == "max_delay_edge":  # some delays at and beyond the maximum: clamped, still consistent
        delays = (torch.rand(n, n, generator=g, dtype=torch.double) * 12).requires_grad_()
    params = LIFParameters(tau_mem_ms=5.0, max_delay=max_delay, scale_input=False)
    ours = lif_recurrence(inputs, weight, delays, params)
    oracle = reference_recurrence(inputs, weight, delays, params)
    assert torch.equal(ours, oracle) and 0.05 < ours.mean() < 0.9
    probe = torch.randn(batch, steps, n, generator=g, dtype=torch.double)
    wrt = [inputs, weight] + ([delays] if delays is not None else [])
    for a, b in zip(torch.autograd.grad((ours * probe).sum(), wrt), torch.autograd.grad((oracle * probe).sum(), wrt)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_spatial_delays_equal_cdist():
    module = SpatialDelays(7, dims=3, max_delay=100, init_range=5.0, generator=torch.Generator().manual_seed(3))
    expected = torch.cdist(module.position, module.position)
    torch.testing.assert_close(module(), expected, atol=1e-6, rtol=1e-6)


def test_position_gradient_matches_finite_differences():
    """dL/dx from autograd through delays matches central differences on a smooth loss of the arrivals."""
    g = torch.Generator().manual_seed(4)
    n = 5
    module = SpatialDelays(n, dims=2, max_delay=20, init_range=4.0, generator=g).double()
    activity = torch.rand(2, 25, n, generator=g, dtype=torch.double)
    weight = torch.randn(n, n, generator=g, dtype=torch.double)
    probe = torch.randn(2, 25, n, generator=g, dtype=torch.double)

    def loss():
        out = delay_propagate(activity, weight, module(), max_delay=20)
        return (out * probe).sum() + 0.1 * out.pow(2).sum()

    grad = torch.autograd.grad(loss(), module.position)[0]
    numeric = torch.zeros_like(grad)
    step = 1e-6
    with torch.no_grad():
        for index in range(module.position.numel()):
            flat = module.position.view(-1)
            flat[index] += step
            up = loss()
            flat[index] -= 2 * step
            down = loss()
            flat[index] += step
            numeric.view(-1)[index] = (up - down) / (2 * step)
    torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-7)
    # the paper's formula: dL/dx_i = sum_j (dL/dd_ij + dL/dd_ji) (x_i - x_j) / d_ij
    delays = module().detach().requires_grad_()
    grad_d = torch.autograd.grad(
        (lambda out: (out * probe).sum() + 0.1 * out.pow(2).sum())(delay_propagate(activity, weight, delays, 20)),
        delays)[0]
    x = module.position.detach()
    diff = x.unsqueeze(1) - x.unsqueeze(0)
    formula = (((grad_d + grad_d.t()) / delays.detach()).unsqueeze(-1) * diff).sum(1)
    torch.testing.assert_close(grad, formula, rtol=1e-5, atol=1e-7)


def test_free_delays_stay_in_range_and_axonal_shares_rows():
    synaptic = SynapticDelays(4, max_delay=5)
    with torch.no_grad():
        synaptic.delay.fill_(-1.0)
        synaptic.delay[0, 0] = 9.0
    synaptic.constrain_()
    assert synaptic.delay.min() == 0 and synaptic.delay.max() == 5
    axonal = AxonalDelays(4, max_delay=5)
    with torch.no_grad():
        axonal.delay.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert torch.equal(axonal()[2], torch.full((4,), 2.0)) and axonal.trainable_count() == 4
