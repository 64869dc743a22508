"""Pruning masks: exact counts, the right connections, deterministic ties."""

import numpy as np
import pytest

from spacetime_snn.analysis.pruning import length_remove_mask, length_threshold_graph, magnitude_keep_mask


def test_removing_30_percent_by_length_removes_exactly_the_longest_30_percent():
    delays = np.random.default_rng(0).permutation(100).reshape(10, 10).astype(float)
    removed = length_remove_mask(delays, 0.3)
    assert removed.sum() == 30
    assert np.array_equal(removed, delays >= 70)


def test_length_pruning_only_among_existing_connections():
    delays = np.arange(16, dtype=float).reshape(4, 4)
    existing = np.ones((4, 4), dtype=bool)
    existing[3] = False  # the longest row does not exist
    removed = length_remove_mask(delays, 0.25, existing=existing)
    assert removed.sum() == 3 and not removed[3].any()
    assert np.array_equal(np.flatnonzero(removed), [9, 10, 11])


def test_ties_are_broken_by_row_major_index():
    removed = length_remove_mask(np.ones((3, 3)), 1 / 3)
    assert np.flatnonzero(removed).tolist() == [0, 1, 2]
    kept = magnitude_keep_mask(-np.ones((3, 3)), 1 / 3)
    assert np.flatnonzero(kept).tolist() == [0, 1, 2]


def test_counts_round_half_up():
    assert length_remove_mask(np.arange(105.0)[None], 0.3).sum() == 32  # 31.5
    assert length_remove_mask(np.arange(101.0)[None], 0.3).sum() == 30  # 30.3
    with pytest.raises(ValueError):
        length_remove_mask(np.ones((2, 2)), 1.5)


def test_magnitude_keep_fraction_is_exact_and_keeps_the_strongest():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(20, 20))
    w[rng.random((20, 20)) < 0.5] = 0.0
    kept = magnitude_keep_mask(w, 0.1)
    existing = np.count_nonzero(w)
    assert kept.sum() == int(np.floor(0.1 * existing + 0.5))
    assert np.abs(w[kept]).min() >= np.abs(w[(w != 0) & ~kept]).max()
    assert (w[kept] != 0).all()
    assert magnitude_keep_mask(w, 1.0).sum() == existing


def test_length_threshold_graph_is_d_below_percentile_without_self_loops():
    delays = np.random.default_rng(2).random((12, 12)) * 60
    graph = length_threshold_graph(delays, 80)
    off = ~np.eye(12, dtype=bool)
    assert np.array_equal(graph, (delays < np.percentile(delays[off], 80)) & off)
    assert graph.sum() == pytest.approx(0.8 * 132, abs=1)
    assert np.array_equal(length_threshold_graph(delays, 100), off)


def test_length_threshold_graph_with_self_loops_is_the_authors_whole_matrix_graph():
    delays = np.random.default_rng(3).random((10, 10)) * 60
    np.fill_diagonal(delays, 0.0)  # a neuron's distance to itself
    graph = length_threshold_graph(delays, 70, self_loops=True)
    assert np.array_equal(graph, delays < np.percentile(np.abs(delays), 70))  # fig6.py / prunefig.py
    assert graph.diagonal().all()
    assert length_threshold_graph(delays, 100, self_loops=True).all()


def test_random_removal_removes_exactly_the_fraction_of_existing_connections_at_random():
    from spacetime_snn.analysis.pruning import random_remove_mask

    existing = np.random.default_rng(4).random((20, 20)) < 0.5
    removed = random_remove_mask(existing, 0.3, seed=1)
    assert removed.sum() == int(np.floor(0.3 * existing.sum() + 0.5))
    assert not (removed & ~existing).any()
    assert np.array_equal(removed, random_remove_mask(existing, 0.3, seed=1))
    assert not np.array_equal(removed, random_remove_mask(existing, 0.3, seed=[1, 2]))
    assert random_remove_mask(existing, 0.0).sum() == 0
