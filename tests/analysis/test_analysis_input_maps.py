"""Preferred input positions (weights, activity, over time) and the ridge R² from input weights to position."""

import numpy as np
import pytest

from spacetime_snn.analysis import input_maps as im

POSITIONS = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5], [2.0, -1.0]])


def test_channel_projecting_to_one_neuron_prefers_its_position():
    w_in = np.zeros((4, 4))
    w_in[np.arange(4), [2, 0, 3, 1]] = [0.5, -0.2, 1.0, 3.0]  # sign does not matter
    assert np.allclose(im.preferred_positions_from_weights(w_in, POSITIONS), POSITIONS[[2, 0, 3, 1]])


def test_weights_map_is_the_weighted_centre_of_mass_and_nan_without_weights():
    w_in = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    points = im.preferred_positions_from_weights(w_in, POSITIONS)
    assert np.allclose(points[0], [0.5, 1.0])
    assert np.isnan(points[1]).all()


def test_activity_counts_hidden_spikes_in_the_window_after_each_input_spike():
    inputs = np.array([[0, 10, 0], [0, 20, 1], [1, 10, 1]])
    hidden = np.array([
        [0, 10, 2],  # same step as channel 0's spike: counted
        [0, 14, 3],  # 4 steps later: counted (window 5 = steps 10..14)
        [0, 15, 1],  # 5 steps later: outside
        [0, 9, 1],   # before: not a response
        [0, 22, 1],  # after channel 1's spike in sample 0
        [1, 12, 3],  # after channel 1's spike in sample 1
        [2, 10, 0],  # another sample without input spikes
    ])
    counts = im.response_counts(inputs, hidden, num_channels=3, num_hidden=4, window_steps=5)
    expected = np.zeros((3, 4))
    expected[0, [2, 3]] = 1
    expected[1, [1, 3]] = 1
    assert np.array_equal(counts, expected)
    points = im.preferred_positions_from_activity(inputs, hidden, POSITIONS, num_channels=3)
    assert np.allclose(points[0], POSITIONS[[2, 3]].mean(axis=0))
    assert np.isnan(points[2]).all()  # channel 2 never spiked


def test_channel_driving_one_neuron_gets_its_position_from_activity():
    inputs = np.array([[s, t, c] for s in range(3) for c in range(4) for t in (5 + 7 * c, 40 + 3 * c)])
    hidden = inputs + np.array([0, 2, 0])  # neuron c fires 2 steps after channel c
    points = im.preferred_positions_from_activity(inputs, hidden, POSITIONS, num_channels=4)
    assert np.allclose(points, POSITIONS)


def _brute_force_counts(inputs, hidden, channels, neurons, window):
    counts = np.zeros((channels, neurons))
    for sample, step, channel in inputs:
        same = hidden[(hidden[:, 0] == sample) & (hidden[:, 1] >= step) & (hidden[:, 1] < step + window)]
        np.add.at(counts[channel], same[:, 2], 1)
    return counts


def test_response_counts_match_brute_force_across_sample_blocks():
    rng = np.random.default_rng(0)
    samples = 150  # spans several blocks of 64 samples
    inputs = np.stack([rng.integers(0, samples, 3000), rng.integers(0, 50, 3000), rng.integers(0, 7, 3000)], 1)
    hidden = np.stack([rng.integers(0, samples, 2000), rng.integers(0, 55, 2000), rng.integers(0, 5, 2000)], 1)
    counts = im.response_counts(inputs, hidden, num_channels=7, num_hidden=5, window_steps=4)
    assert np.array_equal(counts, _brute_force_counts(inputs, hidden, 7, 5, 4))


def test_time_resolved_map_follows_the_neuron_each_bin_drives():
    # channel 0 drives neuron 1 early (bin 0) and neuron 3 late (bin 2); nothing happens in bin 1
    inputs = np.array([[0, 2, 0], [0, 25, 0]])
    hidden = np.array([[0, 3, 1], [0, 26, 3]])
    over_time = im.preferred_positions_over_time(inputs, hidden, POSITIONS, num_channels=2, bin_steps=10)
    assert over_time.shape == (3, 2, 2)
    assert np.allclose(over_time[0, 0], POSITIONS[1]) and np.allclose(over_time[2, 0], POSITIONS[3])
    assert np.isnan(over_time[1]).all() and np.isnan(over_time[:, 1]).all()


def test_events_must_have_three_columns():
    with pytest.raises(ValueError, match="columns"):
        im.response_counts(np.zeros((3, 2), dtype=int), np.zeros((0, 3)), 1, 1)


def test_ridge_r2_high_for_linear_positions_and_low_for_random():
    rng = np.random.default_rng(0)
    w_in = rng.normal(0.0, 1.0, size=(20, 128))  # 20 channels, 128 hidden neurons
    positions = w_in.T @ rng.normal(size=(20, 2))
    assert im.ridge_r2(w_in, positions, alpha=1.0, folds=5, seed=0) > 0.95
    random_positions = rng.uniform(-1, 1, size=(128, 2))
    assert im.ridge_r2(w_in, random_positions, alpha=1.0, folds=5, seed=0) < 0.1


def test_ridge_dual_form_matches_primal_solution():
    rng = np.random.default_rng(1)
    x, y, x_new = rng.normal(size=(30, 50)), rng.normal(size=(30, 2)), rng.normal(size=(4, 50))
    xc, yc = x - x.mean(0), y - y.mean(0)
    coef = np.linalg.solve(xc.T @ xc + 1.0 * np.eye(50), xc.T @ yc)
    expected = (x_new - x.mean(0)) @ coef + y.mean(0)
    assert np.allclose(im._ridge_predict(x, y, x_new, 1.0), expected)


def test_in_sample_r2_is_the_authors_sklearn_fit_and_exceeds_cv_on_noise():
    """The authors' regression_input_pos.py: Ridge(alpha=1) fitted and scored on the same neurons, mean of the
    coordinates' R². With more channels (60) than neurons (40) it explains random positions it never learnt;
    the cross-validated R² does not."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    w_in = rng.normal(0.0, 1.0, size=(60, 40))
    positions = rng.uniform(-1, 1, size=(40, 2))
    fitted = sklearn.Ridge(alpha=1.0).fit(w_in.T, positions).predict(w_in.T)
    expected = np.mean([metrics.r2_score(positions[:, k], fitted[:, k]) for k in range(2)])
    in_sample = im.ridge_r2(w_in, positions, alpha=1.0, method="in_sample")
    assert in_sample == pytest.approx(expected)
    assert in_sample > 0.9
    assert im.ridge_r2(w_in, positions, alpha=1.0, folds=5, method="cv") < 0.1
    planted = w_in.T @ rng.normal(size=(60, 2))  # positions that the weights do encode: both methods find them
    assert im.ridge_r2(w_in, planted, method="in_sample") > 0.95
    assert im.ridge_r2(w_in, planted, folds=5, method="cv") > 0.5
    with pytest.raises(ValueError, match="method"):
        im.ridge_r2(w_in, positions, method="loo")
