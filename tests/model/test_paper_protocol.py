"""The paper protocol's formulas, pinned to the authors' code (docs/fidelity.md rows 1, 2, 3, 8)."""

import math

import pytest
import torch

from spacetime_snn.config import ModelSettings, SpikeRegSettings, TrainSettings
from spacetime_snn.model.network import SpatialSNN
from spacetime_snn.model.readout import readout_kernel, readout_weights
from spacetime_snn.model.recurrence import LIFParameters, lif_recurrence, scaled_input_gain
from spacetime_snn.training.objective import loss_terms, spike_count_penalty


def test_input_scaling_is_mlgenns_scale_i():
    """LIF: V = Alpha V + (1 - Alpha) Isyn; Exponential synapse: Isyn = inSyn * tau/dt (1 - exp(-dt/tau))."""
    assert scaled_input_gain(20.0, 5.0, 1.0) == pytest.approx((1 - math.exp(-1 / 20)) * 5 * (1 - math.exp(-1 / 5)))
    assert scaled_input_gain(20.0, 5.0, 1.0) == pytest.approx(0.04420, abs=1e-5)
    assert LIFParameters().scale_input and LIFParameters().gain == pytest.approx(0.04420, abs=1e-5)
    assert LIFParameters(scale_input=False).gain == 1.0
    assert ModelSettings().scale_input  # the paper protocol's default


@pytest.mark.parametrize("dt_ms", [0.5, 1.0, 2.0])
def test_scaled_membrane_settles_at_the_synaptic_drive_whatever_dt(dt_ms):
    """A constant input x per ms: inSyn settles at x dt / (1 - alpha) and V at inSyn * IScale = x tau_syn (to
    O(dt)), so the sub-threshold dynamics barely depend on dt (the reason mlGeNN scales)."""
    steps = int(400 / dt_ms)
    params = LIFParameters(dt_ms=dt_ms, threshold=1e9)  # no spikes: read V off the membrane
    weight = torch.zeros(1, 1)
    drive = torch.full((1, steps, 1), 0.01 * dt_ms)  # 0.01 per ms of input current
    from spacetime_snn.model.delays import make_transmission
    from spacetime_snn.model.recurrence import _run
    _, voltages, _ = _run(drive, make_transmission(weight, None, 1, False), params, record=True)
    assert float(voltages[-1].squeeze()) == pytest.approx(0.01 * 5.0, rel=0.06)


def test_readout_weighs_early_times_most():
    """mlGeNN avg_var_exp_weight: VAvg += exp(-t/T) V / T for t = 0 ... T-1."""
    weights = readout_weights(100)
    assert weights[0] == pytest.approx(1 / 100) and weights[-1] == pytest.approx(math.exp(-99 / 100) / 100)
    kernel = readout_kernel(200, 20.0, 5.0, 1.0, LIFParameters().gain)
    assert kernel[10] > kernel[100] > kernel[190] > 0  # a spike early moves the logits more than the same late


def test_an_early_spike_moves_the_logits_more_than_the_same_spike_late():
    model = SpatialSNN(2, 1, ModelSettings(hidden=1, delay_mode="none"), dt_ms=1.0)
    with torch.no_grad():
        model.w_out.fill_(1.0)
    steps = 300
    early = torch.zeros(1, steps, 1)
    early[0, 20] = 1.0
    late = torch.zeros(1, steps, 1)
    late[0, 250] = 1.0
    kernel = torch.as_tensor(readout_kernel(steps, 20.0, 5.0, 1.0, model.lif.gain), dtype=torch.float32)
    logit = lambda spikes: float((torch.einsum("t,btn->bn", kernel, spikes) @ model.w_out).detach())
    assert logit(early) > 1.5 * logit(late) > 0


def test_spike_regulariser_is_mlgenns_symmetric_pull_towards_the_target():
    """Per sample and spike, the gradient is k (c_n - nu) / B: mlGeNN's RegLambda (C_n - nu B) / B^2 jump."""
    batch, steps, neurons = 4, 50, 3
    spikes = torch.zeros(batch, steps, neurons)
    spikes[:, :5, 0] = 1.0  # 5 spikes per sample: above the target
    spikes[:2, 0, 1] = 1.0  # 0.5 per sample: below the target
    spikes.requires_grad_()
    reg = SpikeRegSettings(upper_strength=2.0, lower_strength=0.5, target=1.0)
    penalty = spike_count_penalty(spikes, reg)
    assert float(penalty) == pytest.approx(0.5 * 2.0 * 4.0**2 + 0.5 * 0.5 * 0.5**2 + 0.5 * 0.5 * 1.0**2)
    (grad,) = torch.autograd.grad(penalty, spikes)
    assert torch.allclose(grad[:, :, 0], torch.full((batch, steps), 2.0 * (5 - 1) / batch))
    assert torch.allclose(grad[:, :, 1], torch.full((batch, steps), 0.5 * (0.5 - 1) / batch))
    assert torch.allclose(grad[:, :, 2], torch.full((batch, steps), 0.5 * (0 - 1) / batch))


def test_l1_and_distance_cost_terms_with_the_delay_exponent():
    w = torch.tensor([[0.0, -2.0], [1.0, 0.0]], requires_grad=True)
    delays = torch.tensor([[0.0, 3.0], [2.0, 0.0]])
    logits, labels, spikes = torch.zeros(1, 2), torch.tensor([0]), torch.zeros(1, 3, 2)
    terms = loss_terms(logits, labels, spikes, w, delays, TrainSettings(l1=0.1, distance_cost=0.01, distance_power=2.0))
    assert float(terms["l1"]) == pytest.approx(0.1 * 3.0)
    assert float(terms["distance_cost"]) == pytest.approx(0.01 * (2.0 * 9.0 + 1.0 * 4.0))
    (grad,) = torch.autograd.grad(terms["distance_cost"], w)
    assert torch.allclose(grad, torch.tensor([[0.0, -0.09], [0.04, 0.0]]))
    plain = loss_terms(logits, labels, spikes, w, delays, TrainSettings(distance_cost=0.01))
    assert float(plain["distance_cost"]) == pytest.approx(0.01 * (2.0 * 3.0 + 1.0 * 2.0))  # p = 1 (v1)
    assert "l1" not in plain


def test_rounded_delays_arrive_at_t_plus_one_plus_round_d():
    """GeNN's integer delays: a spike of neuron 0 at step t reaches neuron 1 at t + 1 + round(d)."""
    params = LIFParameters(max_delay=10, interpolate=False, scale_input=False, threshold=0.5)
    inputs = torch.zeros(1, 20, 2)
    inputs[0, 2, 0] = 1.0  # neuron 0 fires at step 2
    weight = torch.tensor([[0.0, 10.0], [0.0, 0.0]])
    for delay, arrival in ((3.4, 6), (3.6, 7), (0.0, 3)):
        delays = torch.tensor([[0.0, delay], [0.0, 0.0]])
        spikes = lif_recurrence(inputs, weight, delays, params)
        assert int(spikes[0, :, 1].nonzero()[0]) == 2 + 1 + round(delay) == arrival
