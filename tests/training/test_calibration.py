"""The start-up rate calibration: a silent or saturated network is brought into the window, a sane one is kept."""

import pytest
import torch

from spacetime_snn.data.dataset import load_train_test
from spacetime_snn.training.build import build_model, data_paths
from spacetime_snn.training.calibration import calibrate_gain, hidden_rate_hz
from spacetime_snn.training.loop import Trainer


def _model_and_data(settings):
    train, _ = load_train_test(data_paths(settings), dt_ms=settings.data.dt_ms, max_time_ms=settings.data.max_time_ms)
    return build_model(settings, train.num_channels, train.num_classes), train


@pytest.mark.parametrize("w_in_mean, direction", [(0.03, "silent"), (3.0, "saturated")])
def test_a_network_outside_the_window_is_brought_to_its_centre(tiny_settings, w_in_mean, direction):
    settings = tiny_settings(init={"w_in_mean": w_in_mean, "w_in_std": 0.01})
    model, train = _model_and_data(settings)
    before = hidden_rate_hz(model, train)
    assert (before < 1.0) if direction == "silent" else (before > 50.0)
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    messages = []
    scale = calibrate_gain(model, train, (1.0, 50.0), log=messages.append)
    after = hidden_rate_hz(model, train)
    assert 1.0 <= after <= 50.0 and after == pytest.approx(2.0 if direction == "silent" else 25.0, rel=0.3)
    assert (scale > 1) if direction == "silent" else (scale < 1)
    assert "outside model.init.rate_window_hz" in messages[0] and f"{scale:.4g}" in messages[0]
    for name, p in model.named_parameters():  # the parameters keep the authors' initialisation
        assert torch.equal(p, weights[name]), name
    assert float(model.input_scale) == pytest.approx(scale)
    assert float(model.gain_scale) == 1.0  # the recurrent and output layers keep the authors' strength


def test_a_network_inside_the_window_is_kept_exactly(tiny_settings):
    settings = tiny_settings(init={"w_in_mean": 1.0, "w_in_std": 0.3})  # ~14 Hz on the tiny set
    model, train = _model_and_data(settings)
    rate = hidden_rate_hz(model, train)
    assert 1.0 <= rate <= 50.0
    assert calibrate_gain(model, train, (1.0, 50.0), log=lambda _: None) == 1.0
    assert float(model.input_scale) == 1.0 and hidden_rate_hz(model, train) == rate


def test_the_gain_scale_equals_scaling_every_weight(tiny_settings):
    """gain x c is the network with every weight x c: same spikes, logits x c."""
    settings = tiny_settings(delay_mode="synaptic")
    model, train = _model_and_data(settings)
    from spacetime_snn.data.batching import iterate_batches
    batch = next(iter(iterate_batches(train, 8, shuffle=False)))
    with torch.no_grad():
        model.set_gain_scale(3.0)
        logits_gain, spikes_gain = model(batch.inputs, batch.batch_size, batch.num_steps)
        model.set_gain_scale(1.0)
        for p in (model.w_in, model.w_rec, model.w_out):
            p.mul_(3.0)
        logits_weights, spikes_weights = model(batch.inputs, batch.batch_size, batch.num_steps)
    assert torch.equal(spikes_gain, spikes_weights) and spikes_gain.sum() > 0
    torch.testing.assert_close(logits_gain, logits_weights / 3.0 * 3.0, rtol=1e-4, atol=1e-6)


def test_the_input_scale_equals_scaling_the_input_weights(tiny_settings):
    """input gain x c is the network with w_in x c: same spikes, same logits, and the same gradient on every
    other parameter."""
    settings = tiny_settings(delay_mode="synaptic")
    from spacetime_snn.data.batching import iterate_batches
    results = []
    for scaled_gain in (True, False):
        model, train = _model_and_data(settings)
        batch = next(iter(iterate_batches(train, 8, shuffle=False)))
        if scaled_gain:
            model.set_input_scale(3.0)
        else:
            with torch.no_grad():
                model.w_in.mul_(3.0)
        logits, spikes = model(batch.inputs, batch.batch_size, batch.num_steps)
        logits.sum().backward()
        results.append((logits.detach(), spikes.detach(), model.w_rec.grad.clone()))
    (logits_gain, spikes_gain, grad_gain), (logits_weights, spikes_weights, grad_weights) = results
    assert torch.equal(spikes_gain, spikes_weights) and spikes_gain.sum() > 0
    torch.testing.assert_close(logits_gain, logits_weights, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad_gain, grad_weights, rtol=1e-5, atol=1e-7)


def test_the_calibrated_gain_is_saved_and_resumed(tiny_settings, tmp_path):
    settings = tiny_settings(init={"w_in_mean": 0.03, "w_in_std": 0.01})
    messages = []
    Trainer(settings, tmp_path, log=messages.append).run()
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    scale = float(saved["state_dict"]["input_scale"])
    assert scale > 1 and any("scaled by" in m for m in messages)
    from spacetime_snn.training.build import model_from_file
    assert float(model_from_file(saved).input_scale) == pytest.approx(scale)


def test_the_logit_calibration_sets_the_untrained_logits_apart_by_logit_sd(tiny_settings):
    """Logits are linear in the readout's gain: one measurement sets their spread exactly; spikes and parameters
    stay as they were, and the readout scale equals the output weights scaled by it."""
    from spacetime_snn.data.batching import iterate_batches
    from spacetime_snn.training.calibration import calibrate_readout, logit_spread

    settings = tiny_settings(init={"w_in_mean": 1.0, "w_in_std": 0.3})
    model, train = _model_and_data(settings)
    before = logit_spread(model, train)
    assert 0 < before < 0.5  # the authors' readout: a nearly flat softmax
    batch = next(iter(iterate_batches(train, 8, shuffle=False)))
    with torch.no_grad():
        logits_before, spikes_before = model(batch.inputs, batch.batch_size, batch.num_steps)
    messages = []
    scale = calibrate_readout(model, train, 1.0, log=messages.append)
    assert scale == pytest.approx(1.0 / before) and f"{scale:.4g}" in messages[0]
    assert logit_spread(model, train) == pytest.approx(1.0, rel=1e-5)
    with torch.no_grad():
        logits_after, spikes_after = model(batch.inputs, batch.batch_size, batch.num_steps)
    assert torch.equal(spikes_before, spikes_after)
    torch.testing.assert_close(logits_after, logits_before * scale, rtol=1e-4, atol=1e-6)


def test_a_model_saved_without_a_readout_scale_loads_with_the_authors_readout(tiny_settings):
    settings = tiny_settings()
    model, _ = _model_and_data(settings)
    model.set_readout_scale(7.0)
    state = {key: value for key, value in model.state_dict().items() if key != "readout_scale"}
    fresh, _ = _model_and_data(settings)
    fresh.load_state_dict(state)
    assert float(fresh.readout_scale) == 1.0
    fresh.load_state_dict(model.state_dict())
    assert float(fresh.readout_scale) == 7.0


def test_the_readout_scale_is_saved_and_resumed(tiny_settings, tmp_path):
    settings = tiny_settings(init={"w_in_mean": 1.0, "w_in_std": 0.3, "logit_sd": 2.0})
    messages = []
    Trainer(settings, tmp_path, log=messages.append).run()
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    scale = float(saved["state_dict"]["readout_scale"])
    assert scale != 1.0 and any("untrained logits lie" in m for m in messages)
    from spacetime_snn.training.build import model_from_file
    assert float(model_from_file(saved).readout_scale) == pytest.approx(scale)
