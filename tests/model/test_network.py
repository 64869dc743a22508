"""The network: parameter counts per the paper, readout kernel, one code path for every delay mode."""

import pytest
import torch

from spacetime_snn.config import ModelSettings
from spacetime_snn.model.network import SpatialSNN
from spacetime_snn.model.readout import readout_kernel, reference_readout

PAPER_COUNTS = {  # recurrent-layer trainable parameters (paper, Fig. 4)
    ("none", 2): lambda n: n * n,
    ("synaptic", 2): lambda n: 2 * n * n,
    ("axonal", 2): lambda n: n + n * n,
    ("spatial", 2): lambda n: 2 * n + n * n,
    ("spatial", 3): lambda n: 3 * n + n * n,
}


@pytest.mark.parametrize("mode,dims", list(PAPER_COUNTS))
def test_trainable_counts_and_forward(mode, dims):
    settings = ModelSettings(hidden=16, delay_mode=mode, dims=dims, max_delay_steps=12)
    model = SpatialSNN(20, 4, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(0))
    assert model.recurrent_trainable_count() == PAPER_COUNTS[(mode, dims)](16)
    batch, steps = 3, 30
    rows = torch.randint(0, batch * steps, (200,))
    cols = torch.randint(0, 20, (200,))
    inputs = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(200), (batch * steps, 20),
                                     check_invariants=True).coalesce()
    logits, spikes = model(inputs, batch, steps)
    assert logits.shape == (batch, 4) and spikes.shape == (batch, steps, 16)
    logits.sum().backward()
    assert model.w_in.grad is not None and model.w_rec.grad is not None


@pytest.mark.parametrize("gain", [1.0, 0.0442])
def test_readout_kernel_equals_stepwise_output_layer(gain):
    spikes = (torch.rand(2, 50, 5, generator=torch.Generator().manual_seed(1)) < 0.2).double()
    weight = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    kernel = torch.as_tensor(readout_kernel(50, 20.0, 5.0, 1.0, gain))
    torch.testing.assert_close(torch.einsum("t,btn->bn", kernel, spikes) @ weight,
                               reference_readout(spikes, weight, 20.0, 5.0, 1.0, gain))


def test_pruning_mask_removes_synapses():
    settings = ModelSettings(hidden=6, delay_mode="spatial", max_delay_steps=5)
    model = SpatialSNN(4, 2, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(0))
    inputs = torch.ones(40, 4).to_sparse()
    with torch.no_grad():
        model.w_in.fill_(0.1)  # with mlGeNN's input scaling V settles near I: ~2.2 for 4 inputs of 0.1
        model.w_rec.fill_(0.3)
        full, spikes = model(inputs, 1, 40)
        empty, _ = model(inputs, 1, 40, recurrent_mask=torch.zeros(6, 6))
        model.w_rec.zero_()
        no_rec, _ = model(inputs, 1, 40)
    assert spikes.sum() > 0
    torch.testing.assert_close(empty, no_rec)
    assert not torch.equal(full, empty)
