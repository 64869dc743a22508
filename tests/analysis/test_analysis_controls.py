"""Control networks: the shuffled-weights control keeps the weight values and the self-connections' place, and
destroys structure; the initial network is the epoch-0 snapshot."""

import numpy as np
import pytest

from spacetime_snn.analysis import controls
from spacetime_snn.analysis import graph_metrics as gm


def test_shuffled_weights_keep_the_values_and_lose_the_wiring():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.02, size=(30, 30))
    w[np.kron(np.eye(3), np.ones((10, 10))).astype(bool)] *= 20  # three strong modules
    shuffled = controls.shuffled_weights(w, seed=0)
    off = ~np.eye(30, dtype=bool)
    assert np.array_equal(np.sort(shuffled[off]), np.sort(w[off]))
    assert np.array_equal(np.diag(shuffled), np.diag(w))  # excluded self-connections keep their own weights
    assert gm.modularity(w)[0] > 0.4 > gm.modularity(shuffled)[0]
    kept = controls.shuffled_weights(w, seed=0, self_loops=True)
    assert np.array_equal(np.sort(kept.ravel()), np.sort(w.ravel()))
    assert not np.array_equal(np.diag(kept), np.diag(w))
    assert np.array_equal(shuffled, controls.shuffled_weights(w, seed=0))
    assert not np.array_equal(shuffled, controls.shuffled_weights(w, seed=0, index=1))


def test_initial_network_is_the_epoch_zero_snapshot():
    w = np.arange(3 * 4.0).reshape(3, 2, 2)
    delays = w + 100
    w_0, delays_0 = controls.initial_network({"epochs": np.array([0, 5, 10]), "w_rec": w, "delays": delays})
    assert np.array_equal(w_0, w[0]) and np.array_equal(delays_0, delays[0])
    assert controls.initial_network({"epochs": np.array([0, 1, 2]), "w_rec": w})[1] is None
    assert controls.initial_network({"epochs": np.array([5, 10]), "w_rec": w[1:]}) is None


def test_shuffled_control_is_what_the_weight_distribution_alone_gives():
    """A sparse heavy-tailed matrix without structure has the same Louvain Q as its shuffle: the control catches
    the sparsity confound the claims report subtracts."""
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.02, size=(40, 40)) * (rng.random((40, 40)) < 0.1)
    q, q_shuffled = gm.modularity(w)[0], gm.modularity(controls.shuffled_weights(w, seed=3))[0]
    assert q == pytest.approx(q_shuffled, abs=0.05)
    assert q > gm.modularity(rng.normal(0, 0.02, size=(40, 40)))[0] + 0.1  # sparser: more "modular" anyway
