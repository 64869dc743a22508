"""Control networks: what the metrics give without learning, so that a claim can be measured beyond them.

Pruning the longest edges of any set of points in the plane leaves a local, clustered graph, and a sparse or
heavy-tailed weight matrix is more "modular" to Louvain than a dense one whatever its wiring. A metric of a trained
network therefore says something about learning only next to the same metric of networks that did not learn:

- initial: the network before training (epoch 0 of snapshots.npz): the same initialisation and, for spatial runs,
  positions drawn uniformly at random, i.e. a random set of points in the plane.
- shuffled (the geometry-only control): the trained weights permuted at random among the connections while the
  trained geometry (positions, hence delays) stays. It keeps everything the geometry and the distribution of
  weight values can give (sparsity and heavy tails from L1 or the distance cost) and removes what learning put
  where.

Why shuffled weights rather than re-drawn positions: every Fig. 2 metric is a function of |W| alone, so re-drawn
positions would leave it unchanged and control nothing, while the Fig. 3C/D graphs are functions of the delays
alone, and for those the initial network already is the re-drawn-positions control. For length pruning
(Fig. 3A) re-drawn positions would make the longest connections a random set: that control is random removal of
the same number of connections (pruning.random_remove_mask, kind "random" of pruning.csv).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .nulls import flat_shuffles

INITIAL, SHUFFLED = "initial", "shuffled"
CONTROL_NETWORKS = (INITIAL, SHUFFLED)


def shuffled_weights(w_rec: np.ndarray, seed: int, index: int = 0, self_loops: bool = False) -> np.ndarray:
    """The trained recurrent weights (signed, [pre, post]) permuted among the connections: the `index`-th
    geometry-only control of a run, drawn from (seed, index). Without `self_loops` the self-connections keep
    their own weights and nothing moves onto the diagonal."""
    w_rec = np.asarray(w_rec, dtype=np.float64)
    shuffled = flat_shuffles(w_rec, 1, [seed, index], self_loops)[0]
    if not self_loops:
        np.fill_diagonal(shuffled, np.diag(w_rec))
    return shuffled


def initial_network(snapshots: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(w_rec, delays or None) of the epoch-0 snapshot (the initialisation), or None when it was not saved."""
    epochs = np.asarray(snapshots["epochs"])
    first = np.flatnonzero(epochs == 0)
    if first.size == 0:
        return None
    delays = snapshots.get("delays")
    return np.asarray(snapshots["w_rec"][first[0]]), None if delays is None else np.asarray(delays[first[0]])
