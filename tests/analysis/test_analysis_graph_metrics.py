"""Graph metrics against known answers and against networkx / bctpy reference implementations."""

import itertools

import bct
import networkx as nx
import numpy as np
import pytest

from spacetime_snn.analysis import graph_metrics as gm
from spacetime_snn.analysis.nulls import NullCache


def _two_cliques(size=6):
    block = np.ones((size, size)) - np.eye(size)
    w = np.zeros((2 * size, 2 * size))
    w[:size, :size] = block
    w[size:, size:] = block
    return w


def _random_digraph(size=30, density=0.2, seed=1):
    rng = np.random.default_rng(seed)
    a = (rng.random((size, size)) < density).astype(float)
    np.fill_diagonal(a, 0)
    return a


def test_two_disconnected_cliques_have_q_one_half_and_two_modules():
    q, partition = gm.modularity(_two_cliques(6), seed=0)
    assert q == pytest.approx(0.5)
    assert len(set(partition[:6])) == 1 and len(set(partition[6:])) == 1
    assert partition[0] != partition[6]


def test_modularity_is_seeded_and_repeats():
    w = np.abs(np.random.default_rng(0).normal(size=(40, 40)))
    first, second = gm.modularity(w, seed=5), gm.modularity(w, seed=5)
    assert first[0] == second[0] and np.array_equal(first[1], second[1])


def test_directed_modularity_matches_networkx():
    w = np.abs(np.random.default_rng(2).normal(size=(20, 20)))
    np.fill_diagonal(w, 0)
    partition = np.arange(20) % 3
    graph = nx.from_numpy_array(w, create_using=nx.DiGraph)
    expected = nx.community.modularity(graph, [set(np.flatnonzero(partition == k)) for k in range(3)])
    assert gm.directed_modularity(w, partition) == pytest.approx(expected)


def test_watts_strogatz_is_small_world_and_erdos_renyi_is_not():
    cache = NullCache()
    lattice = nx.to_numpy_array(nx.watts_strogatz_graph(100, 10, 0.1, seed=1))
    random = nx.to_numpy_array(nx.gnp_random_graph(100, 0.1, seed=1, directed=True))
    assert gm.small_worldness(lattice, seed=0, null_count=50, nulls=cache) > 3
    assert gm.small_worldness(random, seed=0, null_count=50, nulls=cache) == pytest.approx(1.0, abs=0.05)


def test_dense_graph_has_sigma_exactly_one():
    w = np.random.default_rng(0).normal(size=(20, 20))
    assert gm.small_worldness(w, null_count=5) == pytest.approx(1.0)


def test_weighted_small_worldness_near_one_for_iid_weights():
    w = np.abs(np.random.default_rng(3).normal(size=(40, 40)))
    assert gm.weighted_small_worldness(w, null_count=10) == pytest.approx(1.0, abs=0.05)


def test_binary_measures_match_bctpy_and_networkx():
    a = _random_digraph()
    graph = nx.from_numpy_array(a, create_using=nx.DiGraph)
    assert gm.clustering_coefficient(a) == pytest.approx(bct.clustering_coef_bd(a).mean())
    assert gm.global_efficiency(a) == pytest.approx(bct.efficiency_bin(a))
    assert gm.global_efficiency(a) == pytest.approx(nx.global_efficiency(graph.to_undirected()), rel=0.3)
    symmetric = nx.to_numpy_array(nx.watts_strogatz_graph(40, 6, 0.2, seed=2))
    undirected = nx.from_numpy_array(symmetric)
    assert gm.clustering_coefficient(symmetric) == pytest.approx(nx.average_clustering(undirected))
    assert gm.characteristic_path_length(symmetric, weighted=False) == pytest.approx(
        nx.average_shortest_path_length(undirected))


def test_weighted_measures_match_bctpy_and_networkx():
    w = np.abs(np.random.default_rng(4).normal(size=(25, 25)))
    np.fill_diagonal(w, 0)
    assert gm.weighted_clustering_coefficient(w) == pytest.approx(bct.clustering_coef_wd(w / w.max()).mean())
    lengths = nx.DiGraph()
    for pre, post in zip(*np.nonzero(w)):
        lengths.add_edge(pre, post, length=w.max() / w[pre, post])
    assert gm.characteristic_path_length(w) == pytest.approx(
        nx.average_shortest_path_length(lengths, weight="length"))


def test_weight_entropy_of_uniform_rows_is_log2_n_minus_1():
    n = 16
    assert gm.weight_entropy(np.ones((n, n))) == pytest.approx(np.log2(n - 1))  # diagonal ignored
    assert gm.weight_entropy(-np.ones((n, n))) == pytest.approx(np.log2(n - 1))  # signs ignored
    assert gm.weight_entropy(np.roll(np.eye(n), 1, axis=1)) == pytest.approx(0.0)  # one target each


def test_communicability_entropy_of_uniform_graph_matches_closed_form():
    n = 10
    # S^-1/2 W S^-1/2 = (J - I) / (n - 1): expm has diagonal a and off-diagonal b (eigenvalues 1 and -1/(n-1)).
    decay = np.exp(-1 / (n - 1))
    a = decay * (1 - 1 / n) + np.e / n
    b = (np.e - decay) / n
    p = np.array([a] + [b] * (n - 1)) / np.e
    assert gm.communicability_entropy(np.ones((n, n))) == pytest.approx(-(p * np.log2(p)).sum())


def test_spectral_entropy_of_known_spectra():
    assert gm.spectral_entropy(np.eye(4)) == pytest.approx(2.0)
    assert gm.spectral_entropy(np.diag([3.0, 0, 0, 0])) == pytest.approx(0.0)
    assert gm.spectral_entropy(np.diag([1.0, -1.0])) == pytest.approx(1.0)  # magnitudes
    assert gm.spectral_entropy(np.zeros((3, 3))) == 0.0


def test_delay_histogram_bins_in_steps_between_distinct_neurons():
    delays = np.array([[0.0, 0.5, 2.5], [1.0, 9.0, 2.0], [3.9, 0.2, 0.0]])  # diagonal (9.0) ignored
    edges, counts = gm.delay_histogram(delays, bin_steps=2.0)
    assert edges.tolist() == [0.0, 2.0, 4.0]
    assert counts.tolist() == [3, 3]
    with pytest.raises(ValueError):
        gm.delay_histogram(-delays)


def test_strength_weighted_delay_weights_each_delay_by_its_connection():
    w = np.array([[5.0, -1.0, 3.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # diagonal (5.0) ignored, sign ignored
    delays = np.array([[7.0, 10.0, 2.0], [4.0, 0.0, 99.0], [6.0, 8.0, 0.0]])
    assert gm.strength_weighted_delay(w, delays) == pytest.approx((1 * 10 + 3 * 2 + 1 * 6) / 5)
    assert gm.strength_weighted_delay(w, delays, self_loops=True) == pytest.approx((5 * 7 + 22) / 10)
    assert np.isnan(gm.strength_weighted_delay(np.eye(3), delays))
    with pytest.raises(ValueError, match="differ in shape"):
        gm.strength_weighted_delay(w, delays[:2])


def test_network_metrics_names_values_and_repeatability():
    w = np.random.default_rng(5).normal(0, 0.02, size=(32, 32))
    cache = NullCache()
    metrics = gm.network_metrics(w, seed=1, nulls=cache, binary_nulls=20, weighted_nulls=10)
    assert set(metrics) >= {"modularity", "small_worldness", "small_worldness_weighted", "weight_entropy",
                            "communicability_entropy", "spectral_entropy", "path_length", "path_length_weighted"}
    assert all(np.isfinite(value) for value in metrics.values())
    assert metrics == gm.network_metrics(w, seed=1, nulls=NullCache(), binary_nulls=20, weighted_nulls=10)
    thresholded = gm.network_metrics(w, seed=1, nulls=cache, binary_nulls=20, weighted_nulls=10,
                                     binary_keep_fraction=0.2)
    assert thresholded["density"] == pytest.approx(0.2, abs=1e-3)
    assert thresholded["small_worldness"] != metrics["small_worldness"] == 1.0


def test_empty_graph_has_no_modularity():
    with pytest.raises(ValueError, match="without edges"):
        gm.modularity(np.zeros((4, 4)))


# --- the authors' variants: self-connections kept, the v2 clustering ratio ---------------------------------------

def test_clustering_ratio_on_a_hand_computable_matrix_with_self_connections():
    """W = J + 7I (3 neurons, strong self-connections). |W| / max has 1/8 off and 1 on the diagonal, cube roots
    1/2 and 1, so S = J + I, diag(S³) = 22: 11 triangles over K(K - 1) - 2 diag(A²) = 6·5 - 6 = 24 possible,
    C = 11/24 for every node. The nulls place the three 8s among the 9 entries (84 ways, enumerated with bctpy)."""
    w = np.ones((3, 3)) + 7 * np.eye(3)
    assert gm.weighted_clustering_coefficient(w, self_loops=True) == pytest.approx(11 / 24)
    placements = []
    for chosen in itertools.combinations(range(9), 3):
        null = np.ones(9)
        null[list(chosen)] = 8.0
        placements.append(bct.clustering_coef_wd(null.reshape(3, 3) / 8.0).mean())
    expected = (11 / 24) / np.mean(placements)
    tolerance = 5 * np.std(placements) / np.sqrt(20000) / np.mean(placements)
    assert gm.clustering_ratio(w, null_count=20000, self_loops=True) == pytest.approx(expected, abs=tolerance)
    # Without self-connections the diagonal is no edge: all remaining weights are equal and so is every null.
    assert gm.clustering_ratio(w, null_count=10) == pytest.approx(1.0)


def test_clustering_ratio_is_the_authors_fig5_procedure():
    """fig5.py: A = |a| / max |a| (diagonal kept), C = mean(bct.clustering_coef_wd(A)) over the mean of 50
    `np.random.shuffle`s of the flattened A. Different random draws: equal within the nulls' spread."""
    rng = np.random.default_rng(7)
    w = rng.normal(0, 0.02, size=(24, 24))
    blocks = np.kron(np.eye(3), np.ones((8, 8))).astype(bool)
    w[~blocks] *= 0.01  # weights almost only within modules: they close more triangles than when shuffled
    a = np.abs(w) / np.abs(w).max()
    nulls = []
    for _ in range(200):
        flat = a.ravel().copy()
        rng.shuffle(flat)
        nulls.append(bct.clustering_coef_wd(flat.reshape(24, 24)).mean())
    authors = bct.clustering_coef_wd(a).mean() / np.mean(nulls)
    ours = gm.clustering_ratio(w, null_count=200, seed=1, self_loops=True)
    assert ours == pytest.approx(authors, rel=0.01)
    assert ours > 1.2
    iid = np.abs(rng.normal(size=(24, 24)))
    assert gm.clustering_ratio(iid, null_count=50, self_loops=True) == pytest.approx(1.0, abs=0.03)


def test_self_loops_switch_reaches_every_metric():
    n = 8
    ones = np.ones((n, n))
    assert gm.weight_entropy(ones, self_loops=True) == pytest.approx(np.log2(n))
    assert gm.weight_entropy(ones) == pytest.approx(np.log2(n - 1))
    w = np.abs(np.random.default_rng(8).normal(size=(12, 12)))
    partition = np.arange(12) % 2
    graph = nx.from_numpy_array(w, create_using=nx.DiGraph)  # networkx keeps the self-loops
    expected = nx.community.modularity(graph, [set(np.flatnonzero(partition == k)) for k in range(2)])
    assert gm.directed_modularity(w, partition, self_loops=True) == pytest.approx(expected)
    assert gm.directed_modularity(w, partition) != pytest.approx(expected)
    assert gm.weighted_clustering_coefficient(w, self_loops=True) == pytest.approx(
        bct.clustering_coef_wd(w / w.max()).mean())
    metrics = gm.network_metrics(w, binary_nulls=5, weighted_nulls=5, self_loops=True)
    assert metrics["density"] == pytest.approx(1.0)  # every one of the N² entries
    assert gm.network_metrics(w, binary_nulls=5, weighted_nulls=5)["density"] == pytest.approx(1.0)
    assert gm.small_worldness(w, null_count=3, self_loops=True) == pytest.approx(1.0)  # complete with loops
    delays = np.arange(9.0).reshape(3, 3)
    assert gm.delay_histogram(delays, 3.0, self_loops=True)[1].sum() == 9
    assert gm.delay_histogram(delays, 3.0)[1].sum() == 6


def test_delay_statistics_of_a_known_matrix():
    delays = np.array([[0.0, 0.2, 0.4, 10.0], [0.1, 0.0, 3.0, 1.0], [0.3, 2.0, 0.0, 0.45], [6.0, 0.0, 4.0, 0.0]])
    stats = gm.delay_statistics(delays)  # 12 off-diagonal delays, 6 of them below half a step
    assert stats["delay_fraction_zero"] == pytest.approx(6 / 12)
    assert stats["delay_max"] == 10.0
    off = delays[~np.eye(4, dtype=bool)]
    assert stats["delay_median"] == pytest.approx(np.median(off))
    assert stats["delay_iqr"] == pytest.approx(np.subtract(*np.percentile(off, [75, 25])))
    assert gm.delay_statistics(delays, self_loops=True)["delay_fraction_zero"] == pytest.approx(10 / 16)


def test_delays_at_the_clamp_are_counted_at_both_ends_between_distinct_neurons():
    delays = np.array([[0.0, 0.0, 6.0, 2.0], [1.0, 0.0, 5.0, 7.5], [0.3, 2.0, 0.0, 6.0], [6.0, 0.0, 4.0, 0.0]])
    shares = gm.delay_clamp_shares(delays, max_delay=6)  # 12 off-diagonal: 2 at 0, 4 at >= 6; the diagonal ignored
    assert shares["delay_clamp_share"] == pytest.approx(6 / 12)
    assert shares["delay_clamp_max_share"] == pytest.approx(4 / 12)
