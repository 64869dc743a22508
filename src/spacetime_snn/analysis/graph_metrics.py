"""Graph metrics of the recurrent layer: arrays in, numbers out, one function per metric.

The graph of a recurrent weight matrix W ((N, N), [pre, post]) is |W|: weighted, directed and unthresholded
unless a function says otherwise. Binary metrics use the edges that exist (|w| > 0). Entropies are in bits (log2).

Self-connections: the network has them (w_ii is a trained weight), but they are not edges between two nodes.
Every metric takes `self_loops`: False (the default here) zeroes the diagonal first, the graph-theory convention
and this project's variant; True keeps it, as the authors' analysis does (config `analysis.self_connections:
keep`, the paper protocol). Nulls then treat the diagonal as a slot as well. Path lengths and efficiency never
count a node's distance to itself. spectral_entropy measures the matrix it is given.

Small-worldness follows Humphries & Gurney: sigma = (C / C_null) / (E_null / E), with clustering C, global
efficiency E and the means over seeded random nulls (nulls.py). The null ensembles are what makes sigma slow, so
their statistics are cached by a NullCache: pass the same one to every call of a process.

Everything is vectorised (matrix products for triangles, scipy.sparse.csgraph for shortest paths); networkx's
sigma/omega take minutes per graph and are never used.
"""

from __future__ import annotations

import bct
import numpy as np
from scipy import sparse
from scipy.linalg import expm
from scipy.sparse import csgraph

from .nulls import NullCache, NullKey, flat_shuffles, null_kind, random_digraphs, row_shuffles, weights_digest
from .pruning import magnitude_keep_mask


def recurrent_graph(w: np.ndarray, self_loops: bool = False) -> np.ndarray:
    """|w| as float64, the diagonal zeroed unless `self_loops`: the weighted directed graph every metric here
    measures."""
    graph = np.abs(np.asarray(w, dtype=np.float64))
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ValueError(f"expected a square (N, N) matrix, got shape {graph.shape}")
    if not self_loops:
        np.fill_diagonal(graph, 0.0)
    return graph


def binary_graph(w: np.ndarray, self_loops: bool = False) -> np.ndarray:
    """The existing edges of `w` (bool; the diagonal False unless `self_loops`)."""
    return recurrent_graph(w, self_loops) > 0


def slot_count(size: int, self_loops: bool = False) -> int:
    """Entries of an (N, N) matrix that can hold an edge: N(N - 1), or N² with self-loops."""
    return size * size if self_loops else size * (size - 1)


# --- modularity -------------------------------------------------------------------------------------------------

def directed_modularity(w: np.ndarray, partition: np.ndarray, self_loops: bool = False) -> float:
    """Newman's modularity Q of a partition of the directed weighted graph |w| (Leicht & Newman 2008).

    Q = (1/m) sum_ij [g_ij - k_i^out k_j^in / m] [c_i == c_j], m = total weight. Q is 0 for a partition no
    better than chance; two equal disconnected cliques split into their cliques give Q = 0.5.
    """
    graph = recurrent_graph(w, self_loops)
    total = graph.sum()
    if total == 0:
        raise ValueError("modularity is undefined for a graph without edges")
    partition = np.asarray(partition)
    same_module = partition[:, None] == partition[None, :]
    expected = np.outer(graph.sum(axis=1), graph.sum(axis=0)) / total
    return float(((graph - expected) * same_module).sum() / total)


def modularity(w: np.ndarray, seed: int = 0, self_loops: bool = False) -> tuple[float, np.ndarray]:
    """Louvain communities of |w| (seeded, so results repeat) and their directed modularity Q.

    Returns (Q, partition) with partition an int array (N,) of module labels 0..k-1.
    """
    graph = recurrent_graph(w, self_loops)
    if graph.sum() == 0:
        raise ValueError("modularity is undefined for a graph without edges")
    # bctpy 0.6.1 under numpy 2: modularity_und / modularity_dir fail on ragged arrays, and community_louvain
    # crashes when given its own objective matrix B (it compares an array with strings). Its default objective
    # is not symmetrised for directed input (MATLAB BCT's is), which can loop forever; on a symmetric matrix it
    # is the standard, fast (~10 ms for N = 128) Louvain. So communities are found on (|W| + |W|^T) / 2 and Q is
    # then evaluated on the directed graph itself.
    labels, _ = bct.community_louvain((graph + graph.T) / 2, seed=seed)
    partition = np.unique(labels, return_inverse=True)[1]
    return directed_modularity(graph, partition, self_loops), partition


# --- clustering, efficiency, path length ------------------------------------------------------------------------

def _mean_triangle_clustering(cube_roots: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """Mean directed clustering (Fagiolo 2007, "total": all directed triangles) of a stack of graphs.

    cube_roots: (..., N, N) edge weights to the power 1/3 (the adjacency itself for binary graphs);
    adjacency:  (..., N, N) bool. Returns (...,). A node closing no possible triangle counts as 0 (BCT convention).
    On a symmetric binary graph this is the usual undirected clustering coefficient.
    """
    adjacency = adjacency.astype(np.float64)
    both = cube_roots + np.swapaxes(cube_roots, -1, -2)
    triangles = np.einsum("...ij,...ij->...i", both @ both, both) / 2
    degree = (adjacency + np.swapaxes(adjacency, -1, -2)).sum(axis=-1)
    reciprocal = (adjacency * np.swapaxes(adjacency, -1, -2)).sum(axis=-1)
    possible = degree * (degree - 1) - 2 * reciprocal
    ratio = np.divide(triangles, possible, out=np.zeros_like(triangles), where=possible > 0)
    return ratio.mean(axis=-1)


def clustering_coefficient(a: np.ndarray, self_loops: bool = False) -> float:
    """Mean binary directed clustering coefficient of the graph of edges a != 0 (fraction, 0..1)."""
    adjacency = binary_graph(a, self_loops)
    return float(_mean_triangle_clustering(adjacency.astype(np.float64), adjacency))


def _scaled_to_max(graph: np.ndarray) -> np.ndarray:
    """Weights divided by the largest one (per graph of a stack), so metrics ignore the overall weight scale."""
    peak = graph.max(axis=(-2, -1), keepdims=True)
    return np.divide(graph, peak, out=np.zeros_like(graph), where=peak > 0)


def weighted_clustering_coefficient(w: np.ndarray, self_loops: bool = False) -> float:
    """Mean weighted directed clustering of |w| (Fagiolo's generalisation of Onnela et al.: triangles weighted by
    the geometric mean of their weights, scaled by the largest weight); equals the binary coefficient when all
    weights are equal, and bct.clustering_coef_wd(|w| / max |w|).mean() of the same matrix (diagonal included
    with `self_loops`)."""
    graph = recurrent_graph(w, self_loops)
    return float(_mean_triangle_clustering(np.cbrt(_scaled_to_max(graph)), graph > 0))


def _hop_distances(adjacency: np.ndarray) -> np.ndarray:
    """Shortest directed path lengths in edges (inf where unreachable) by breadth-first search.

    Given as CSR: csgraph would otherwise convert the dense matrix itself, through slower masked arrays.
    """
    return csgraph.shortest_path(sparse.csr_matrix(adjacency, dtype=np.float64), method="D", directed=True,
                                 unweighted=True)


def _weighted_distances(graph: np.ndarray) -> np.ndarray:
    """Shortest directed path lengths with edge length 1/w (weights scaled to max 1): strong = short."""
    lengths = np.divide(1.0, _scaled_to_max(graph), out=np.zeros_like(graph), where=graph > 0)
    return csgraph.shortest_path(lengths, method="auto", directed=True)


def _efficiency(distances: np.ndarray) -> float:
    """Mean inverse distance over ordered pairs of distinct nodes (unreachable pairs contribute 0)."""
    size = distances.shape[0]
    off_diagonal = distances[~np.eye(size, dtype=bool)]
    return float((1.0 / off_diagonal).sum() / (size * (size - 1)))


def _mean_finite(distances: np.ndarray) -> float:
    """Mean distance over ordered pairs of distinct, mutually reachable nodes (nan if there are none)."""
    off_diagonal = distances[~np.eye(distances.shape[0], dtype=bool)]
    finite = off_diagonal[np.isfinite(off_diagonal)]
    return float(finite.mean()) if finite.size else float("nan")


def global_efficiency(a: np.ndarray) -> float:
    """Binary global efficiency (Latora & Marchiori) of the graph of edges a != 0: mean 1/hops, 0..1."""
    return _efficiency(_hop_distances(binary_graph(a)))


def characteristic_path_length(w: np.ndarray, weighted: bool = True) -> float:
    """Mean shortest path length over reachable pairs: in edges (binary), or in units of 1/w with weights
    scaled to a maximum of 1 (weighted: a path through strong connections is short)."""
    if weighted:
        return _mean_finite(_weighted_distances(recurrent_graph(w)))
    return _mean_finite(_hop_distances(binary_graph(w)))


# --- small-worldness --------------------------------------------------------------------------------------------

def _binary_null_statistics(nulls: np.ndarray) -> dict[str, float]:
    """Mean clustering and global efficiency over a stack of binary null graphs."""
    clustering = _mean_triangle_clustering(nulls.astype(np.float64), nulls)
    efficiency = [_efficiency(_hop_distances(null)) for null in nulls]
    return {"clustering": float(clustering.mean()), "efficiency": float(np.mean(efficiency))}


def _weighted_null_statistics(nulls: np.ndarray) -> dict[str, float]:
    """Mean weighted clustering and weighted characteristic path length over a stack of weighted nulls."""
    clustering = _mean_triangle_clustering(np.cbrt(_scaled_to_max(nulls)), nulls > 0)
    path_length = [_mean_finite(_weighted_distances(null)) for null in nulls]
    return {"clustering": float(clustering.mean()), "path_length": float(np.nanmean(path_length))}


def _cache(nulls: NullCache | None) -> NullCache:
    return nulls if nulls is not None else NullCache()


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else float("nan")


def small_worldness(a: np.ndarray, seed: int = 0, null_count: int = 100, nulls: NullCache | None = None,
                    self_loops: bool = False) -> float:
    """Binary small-worldness sigma = (C / C_null) / (E_null / E) of the graph of edges a != 0.

    C: binary clustering, E: global efficiency; nulls: `null_count` random directed graphs with exactly the same
    number of edges, drawn from `seed`. sigma > 1 means more clustered than chance at comparable efficiency. An
    unthresholded dense network is complete, its nulls too, and sigma is exactly 1.
    """
    adjacency = binary_graph(a, self_loops)
    size, edges = adjacency.shape[0], int(adjacency.sum())
    # With no edges or all of them there is a single graph of that density: one null is the exact mean.
    count = 1 if edges in (0, slot_count(size, self_loops)) else null_count
    key = NullKey(null_kind("binary", self_loops), size, edges, count, seed)
    stats = _cache(nulls).statistics(
        key, lambda: _binary_null_statistics(random_digraphs(size, edges, count, seed, self_loops)))
    relative_clustering = _ratio(clustering_coefficient(adjacency, self_loops), stats["clustering"])
    return _ratio(relative_clustering, _ratio(stats["efficiency"], global_efficiency(adjacency)))


def weighted_small_worldness(w: np.ndarray, seed: int = 0, null_count: int = 50,
                             nulls: NullCache | None = None, self_loops: bool = False) -> float:
    """Weighted small-worldness (Cw / Cw_null) / (Lw / Lw_null) of |w|.

    Cw: weighted clustering, Lw: weighted characteristic path length; nulls: `null_count` row shuffles of |w|
    (every neuron keeps its outgoing weights but not their targets), drawn from `seed`.
    """
    graph = recurrent_graph(w, self_loops)
    key = NullKey(null_kind("row_shuffle", self_loops), graph.shape[0], int((graph > 0).sum()), null_count, seed,
                  weights_digest(graph))
    stats = _cache(nulls).statistics(
        key, lambda: _weighted_null_statistics(row_shuffles(graph, null_count, seed, self_loops)))
    relative_clustering = _ratio(weighted_clustering_coefficient(graph, self_loops), stats["clustering"])
    return _ratio(relative_clustering, _ratio(characteristic_path_length(graph), stats["path_length"]))


def clustering_ratio(w: np.ndarray, seed: int = 0, null_count: int = 50, nulls: NullCache | None = None,
                     self_loops: bool = False) -> float:
    """The authors' v2 small-worldness proxy (fig5.py): mean weighted clustering of |w| / max |w| divided by its
    mean over `null_count` nulls that shuffle all weights together (flat_shuffles), with no path-length term.

    Above 1: the strong weights close more triangles than the same weights placed at random. The authors keep the
    diagonal (`self_loops=True`) in the matrix and among the shuffled entries.
    """
    graph = recurrent_graph(w, self_loops)
    key = NullKey(null_kind("flat_shuffle", self_loops), graph.shape[0], int((graph > 0).sum()), null_count, seed,
                  weights_digest(graph))

    def null_clustering() -> dict[str, float]:
        shuffled = flat_shuffles(graph, null_count, seed, self_loops)
        return {"clustering": float(_mean_triangle_clustering(np.cbrt(_scaled_to_max(shuffled)), shuffled > 0).mean())}

    stats = _cache(nulls).statistics(key, null_clustering)
    return _ratio(weighted_clustering_coefficient(graph, self_loops), stats["clustering"])


# --- entropies --------------------------------------------------------------------------------------------------

def _row_entropies(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of each row of a row-stochastic matrix (0 log 0 = 0)."""
    safe = np.where(probabilities > 0, probabilities, 1.0)
    return -(probabilities * np.log2(safe)).sum(axis=1)


def weight_entropy(w: np.ndarray, self_loops: bool = False) -> float:
    """Mean over neurons of the entropy (bits) of their outgoing |weights| normalised to sum 1.

    log2(N - 1) (log2 N with self-loops) when every neuron spreads its weight evenly, 0 when each drives a
    single target. Neurons without outgoing connections have no distribution and are left out.
    """
    graph = recurrent_graph(w, self_loops)
    strength = graph.sum(axis=1)
    active = strength > 0
    if not active.any():
        return float("nan")
    return float(_row_entropies(graph[active] / strength[active, None]).mean())


def communicability_entropy(w: np.ndarray, self_loops: bool = False) -> float:
    """Mean row entropy (bits) of the normalised communicability expm(S^-1/2 |W| S^-1/2), S = diag(out-strength).

    Communicability counts walks of every length (longer ones discounted), so this entropy measures how evenly
    a neuron's influence spreads over the network through indirect paths as well as direct ones.
    """
    graph = recurrent_graph(w, self_loops)
    strength = graph.sum(axis=1)
    scale = np.divide(1.0, np.sqrt(strength), out=np.zeros_like(strength), where=strength > 0)
    communicability = expm(scale[:, None] * graph * scale[None, :])
    return float(_row_entropies(communicability / communicability.sum(axis=1, keepdims=True)).mean())


def spectral_entropy(w: np.ndarray) -> float:
    """Entropy (bits) of the eigenvalue magnitudes of `w`, normalised to sum 1 (0 for the zero matrix).

    Measures `w` as given, signs included: network_metrics passes the signed recurrent matrix, whose spectrum
    describes the linearised recurrent dynamics (as in the authors' analysis script).
    """
    magnitudes = np.abs(np.linalg.eigvals(np.asarray(w, dtype=np.float64)))
    total = magnitudes.sum()
    if total == 0:
        return 0.0
    return float(_row_entropies((magnitudes / total)[None, :])[0])


# --- delays -----------------------------------------------------------------------------------------------------

def _delay_values(delays: np.ndarray, self_loops: bool) -> np.ndarray:
    """The delays (steps) of every connection: between distinct neurons, and self-connections with `self_loops`."""
    delays = np.asarray(delays, dtype=np.float64)
    values = delays.ravel() if self_loops else delays[~np.eye(delays.shape[0], dtype=bool)]
    if (values < 0).any():
        raise ValueError("delays must be non-negative")
    return values


def delay_histogram(delays: np.ndarray, bin_steps: float = 1.0,
                    self_loops: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the recurrent delays (steps) between distinct neurons (and of self-connections with
    `self_loops`, as the authors' np.histogram of all N² delays).

    Bins are [k * bin_steps, (k + 1) * bin_steps) from 0 up to the first multiple of `bin_steps` reaching the
    longest delay (the last bin is closed), so every run shares one grid and histograms add across seeds.
    Returns (edges (B + 1,), counts (B,)).
    """
    if bin_steps <= 0:
        raise ValueError(f"bin_steps must be positive, got {bin_steps}")
    values = _delay_values(delays, self_loops)
    bins = max(1, int(np.ceil(values.max() / bin_steps))) if values.size else 1
    edges = np.arange(bins + 1) * float(bin_steps)
    counts, _ = np.histogram(values, bins=edges)
    return edges, counts


def delay_statistics(delays: np.ndarray, self_loops: bool = False) -> dict[str, float]:
    """Summaries of the delay distribution (steps) that Fig. 3B's caption makes claims about.

    delay_fraction_zero: fraction of delays below half a step, i.e. delivered without delay by the authors'
    rounding forward pass; delay_median, delay_iqr (interquartile range): where and how widely they spread;
    delay_max: the longest delay.
    """
    values = _delay_values(delays, self_loops)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"delay_fraction_zero": float((values < 0.5).mean()), "delay_median": float(median),
            "delay_iqr": float(q3 - q1), "delay_max": float(values.max())}


def strength_weighted_delay(w: np.ndarray, delays: np.ndarray, self_loops: bool = False) -> float:
    """Mean delay (steps) of the connections weighted by |w|: how far the strong connections reach.

    Fig. 2B's caption says the distance cost leaves "fewer long strong connections"; this is that quantity as one
    number (lower: more local), and the quantity the cost penalises (lambda sum |w| d^p) at p = 1. NaN when every
    weight is 0.
    """
    graph = recurrent_graph(w, self_loops)
    delays = np.asarray(delays, dtype=np.float64)
    if delays.shape != graph.shape:
        raise ValueError(f"weights {graph.shape} and delays {delays.shape} differ in shape")
    total = graph.sum()
    return float((graph * delays).sum() / total) if total > 0 else float("nan")


def delay_clamp_shares(delays: np.ndarray, max_delay: float) -> dict[str, float]:
    """Shares of the recurrent delays between distinct neurons that sit at the clamp [0, max_delay] (steps).

    A distance beyond max_delay gets no gradient at all (the clamp passes none outside [0, max_delay],
    model/delays.py), and a free delay held at an end by `constrain_` moves only when its gradient points inside, so
    a growing share means the delays are leaving training. delay_clamp_share: at either end (d <= 0 or
    d >= max_delay); delay_clamp_max_share: at the long end only (free delays start at 0, and 0 is where the paper
    says non-spatial delays end). Self-connections are left out: a spatial network's are at distance 0 by
    construction, not by the clamp.
    """
    delays = np.asarray(delays, dtype=np.float64)
    values = delays[~np.eye(delays.shape[0], dtype=bool)]
    if values.size == 0:
        return {"delay_clamp_share": float("nan"), "delay_clamp_max_share": float("nan")}
    at_max = values >= max_delay
    return {"delay_clamp_share": float((at_max | (values <= 0)).mean()), "delay_clamp_max_share": float(at_max.mean())}

# --- everything -------------------------------------------------------------------------------------------------

def network_metrics(w_rec: np.ndarray, seed: int = 0, nulls: NullCache | None = None, *,
                    binary_nulls: int = 100, weighted_nulls: int = 50,
                    binary_keep_fraction: float | None = None, self_loops: bool = False) -> dict[str, float]:
    """Every graph metric of a recurrent weight matrix, by name (the `metric` column of the output CSVs).

    seed:  seeds Louvain and the null generators. Keep it fixed across runs and epochs (it is an analysis seed,
           not the training seed) so that binary nulls of equal density are shared through `nulls`.
    nulls: the cache of null statistics; pass one instance for all calls of a process (a fresh one otherwise).
    binary_nulls, weighted_nulls: null graphs averaged for sigma and for the weighted sigma (paper: 1000 / 50);
           weighted_nulls also sets the flat shuffles of the clustering ratio (the authors: 50).
    binary_keep_fraction: None measures the binary metrics on all existing edges; for a dense trained network
           that graph is complete and sigma is 1. A fraction q keeps the strongest q of |w| instead
           (magnitude_keep_mask), giving the binary metrics something to measure.
    self_loops: keep the diagonal in every metric (the authors' analysis) instead of zeroing it.
    """
    graph = recurrent_graph(w_rec, self_loops)
    if binary_keep_fraction is None:
        adjacency = graph > 0
    else:
        adjacency = magnitude_keep_mask(graph, binary_keep_fraction)
    nulls = _cache(nulls)
    q, partition = modularity(graph, seed, self_loops)
    signed = np.array(w_rec, dtype=np.float64)
    if not self_loops:
        np.fill_diagonal(signed, 0.0)
    return {
        "modularity": q,
        "modules": float(partition.max() + 1),
        "small_worldness": small_worldness(adjacency, seed, binary_nulls, nulls, self_loops),
        "small_worldness_weighted": weighted_small_worldness(graph, seed, weighted_nulls, nulls, self_loops),
        "clustering_ratio": clustering_ratio(graph, seed, weighted_nulls, nulls, self_loops),
        "clustering": clustering_coefficient(adjacency, self_loops),
        "clustering_weighted": weighted_clustering_coefficient(graph, self_loops),
        "global_efficiency": global_efficiency(adjacency),
        "path_length": characteristic_path_length(adjacency, weighted=False),
        "path_length_weighted": characteristic_path_length(graph, weighted=True),
        "density": float(adjacency.sum() / slot_count(adjacency.shape[0], self_loops)),
        "weight_entropy": weight_entropy(graph, self_loops),
        "communicability_entropy": communicability_entropy(graph, self_loops),
        "spectral_entropy": spectral_entropy(signed),
    }
