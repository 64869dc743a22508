"""Seeded random null graphs for small-worldness, and a cache of their statistics.

Small-worldness compares a network with the mean of many random graphs. Generating and measuring those graphs
dominates the cost of the metrics, yet the binary nulls depend only on (size, edge count, count, seed): every
snapshot and every run of the same density can share them. So the *statistics* of a null ensemble (mean
clustering, efficiency, ...) are cached, in memory (LRU) and optionally on disk, under a key naming everything
they depend on. The graphs themselves are cheap to regenerate from their seed and are not stored.

Three null kinds (their statistics are computed in graph_metrics.py, which passes the computation in):

- ``random_digraphs``: directed Erdős–Rényi G(n, m) graphs with exactly the observed number of edges m, i.e. the
  same density (the paper's binary nulls).
- ``row_shuffles``: each row of a weight matrix permuted (this project's weighted nulls): every neuron keeps its
  own outgoing weights, and so its out-strength, but not their targets.
- ``flat_shuffles``: all entries of a weight matrix permuted together (the authors' v2 clustering-ratio nulls,
  `np.random.shuffle` of the flattened |W|): only the distribution of weight values is kept.

Each takes `self_loops`: False (the default) treats the diagonal as no slot at all (it stays 0, and nothing is
moved onto it); True makes it a slot like any other, as the authors' analysis does (config
`analysis.self_connections: keep`).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..io_utils import atomic_path

# Bump when a statistic's definition changes, so stale files in a shared cache directory are not reused.
STATISTICS_VERSION = 1


@dataclass(frozen=True)
class NullKey:
    """Everything a null ensemble's statistics depend on.

    kind:   "binary" (random_digraphs), "row_shuffle" (row_shuffles) or "flat_shuffle" (flat_shuffles), with the
            suffix "_loops" when the diagonal is a slot (self_loops=True)
    size:   number of nodes N
    edges:  number of directed edges (nonzero slots) of the observed graph: its density, exactly
    count:  number of null graphs averaged
    seed:   seed of the null generator
    digest: for nulls built from the observed weights (row_shuffle), a hash of those weights; else ""
    """

    kind: str
    size: int
    edges: int
    count: int
    seed: int
    digest: str = ""

    def filename(self) -> str:
        digest = f"_{self.digest}" if self.digest else ""
        return (f"{self.kind}_v{STATISTICS_VERSION}_n{self.size}_m{self.edges}_k{self.count}_s{self.seed}"
                f"{digest}.npz")


def weights_digest(w: np.ndarray) -> str:
    """A short content hash of a weight matrix, for cache keys of nulls derived from it."""
    data = np.ascontiguousarray(w, dtype=np.float64)
    return hashlib.sha1(data.tobytes() + str(data.shape).encode()).hexdigest()[:16]


def null_kind(base: str, self_loops: bool) -> str:
    """The NullKey kind of a null family with or without the diagonal as a slot."""
    return f"{base}_loops" if self_loops else base


def _slots(size: int, self_loops: bool) -> np.ndarray:
    """(N, N) bool: the entries a null may fill (every entry, or every entry off the diagonal)."""
    return np.ones((size, size), dtype=bool) if self_loops else ~np.eye(size, dtype=bool)


def random_digraphs(size: int, edges: int, count: int, seed: int, self_loops: bool = False) -> np.ndarray:
    """`count` directed random graphs (bool, (count, N, N)), each with exactly `edges` edges among the N(N - 1)
    off-diagonal slots (or the N² slots with `self_loops`).

    Every graph is drawn uniformly among all graphs with that many edges (G(n, m)), so each null has exactly
    the observed density rather than only in expectation.
    """
    slot_index = np.flatnonzero(_slots(size, self_loops))
    if not 0 <= edges <= slot_index.size:
        raise ValueError(f"edges must lie in [0, {slot_index.size}] for {size} nodes, got {edges}")
    rng = np.random.default_rng(seed)
    graphs = np.zeros((count, size * size), dtype=bool)
    for graph in graphs:
        graph[slot_index[rng.choice(slot_index.size, size=edges, replace=False)]] = True
    return graphs.reshape(count, size, size)


def row_shuffles(w: np.ndarray, count: int, seed: int, self_loops: bool = False) -> np.ndarray:
    """`count` copies of `w` ((count, N, N)), each row's entries independently permuted among its slots.

    Without `self_loops` the diagonal stays zero and no weight moves onto it.
    """
    size = w.shape[0]
    slots = _slots(size, self_loops)
    width = int(slots[0].sum())
    rows = w[slots].reshape(size, width)
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((count, size, width)), axis=-1)
    shuffled = np.take_along_axis(np.broadcast_to(rows, order.shape), order, axis=-1)
    nulls = np.zeros((count, size, size), dtype=w.dtype)
    nulls[:, slots] = shuffled.reshape(count, -1)
    return nulls


def flat_shuffles(w: np.ndarray, count: int, seed: int, self_loops: bool = False) -> np.ndarray:
    """`count` copies of `w` ((count, N, N)), all its entries permuted together among the slots.

    The authors' null of the v2 clustering ratio (fig5.py: `np.random.shuffle` of the flattened N² weights, the
    diagonal included, i.e. self_loops=True). Without `self_loops` the diagonal stays zero.
    """
    size = w.shape[0]
    slots = _slots(size, self_loops)
    values = w[slots]
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((count, values.size)), axis=-1)
    nulls = np.zeros((count, size, size), dtype=w.dtype)
    nulls[:, slots] = values[order]
    return nulls


class NullCache:
    """Statistics of null ensembles, kept in memory (least recently used dropped first) and optionally on disk.

    Pass one instance to every metric call of a process (e.g. all snapshots of a run) so that nulls of the same
    key are measured once; give `directory` to share them between processes and reruns. Files are written
    atomically, so concurrent jobs at worst compute the same statistics twice.
    """

    def __init__(self, directory: str | os.PathLike | None = None, max_entries: int = 256):
        self.directory = None if directory is None else Path(directory)
        self.max_entries = max_entries
        self._memory: OrderedDict[NullKey, dict[str, float]] = OrderedDict()

    def statistics(self, key: NullKey, compute: Callable[[], Mapping[str, float]]) -> dict[str, float]:
        """The statistics stored under `key`, calling `compute()` (and storing its result) only on a miss."""
        if key in self._memory:
            self._memory.move_to_end(key)
            return dict(self._memory[key])
        stats = self._read(key)
        if stats is None:
            stats = {name: float(value) for name, value in compute().items()}
            self._write(key, stats)
        self._remember(key, stats)
        return dict(stats)

    def _remember(self, key: NullKey, stats: dict[str, float]) -> None:
        self._memory[key] = stats
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)

    def _read(self, key: NullKey) -> dict[str, float] | None:
        """Statistics from disk, or None when absent or unreadable (an unreadable file is simply recomputed)."""
        if self.directory is None:
            return None
        path = self.directory / key.filename()
        try:
            with np.load(path) as data:
                return {name: float(data[name]) for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            return None

    def _write(self, key: NullKey, stats: dict[str, float]) -> None:
        if self.directory is None:
            return
        with atomic_path(self.directory / key.filename()) as tmp:
            with open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to a bare path
                np.savez(handle, **stats)
