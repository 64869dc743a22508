"""Fixtures of the model tests.

`directional_derivatives`: the finite-difference check both EventProp implementations are held to. EventProp's
gradient is exact only while no spike appears or disappears, so the check asserts that too.
"""

from __future__ import annotations

import pytest
import torch

STEP = 1e-6


def _check_directional_derivatives(loss, parameters, grads, seed):
    """Compare each gradient, along one random direction, with a central difference of `loss`.

    `loss()` returns (scalar, spikes); the spikes at both probes must equal those at the point itself.
    """
    _, spikes = loss()
    generator = torch.Generator().manual_seed(seed)
    for param, grad in zip(parameters, grads):
        direction = torch.randn(param.shape, generator=generator, dtype=torch.double)
        with torch.no_grad():
            param += STEP * direction
            up, up_spikes = loss()
            param -= 2 * STEP * direction
            down, down_spikes = loss()
            param += STEP * direction
        assert torch.equal(up_spikes, spikes) and torch.equal(down_spikes, spikes)  # no spike added or lost
        numeric = (float(up) - float(down)) / (2 * STEP)
        assert float((grad * direction).sum()) == pytest.approx(numeric, rel=1e-5, abs=1e-9)


@pytest.fixture
def directional_derivatives():
    return _check_directional_derivatives
