"""Which recurrent connections survive pruning: by weight magnitude or by delay length.

Masks are bool (N, N) in the weight layout [pre, post]. Counts are exact: a fraction f of n candidate connections
means round(f * n) connections, rounding halves up (f = 0.3 of 101 -> 30, of 105 -> 32). Ties are broken by the
connection's row-major index (pre, then post), so the same matrix always gives the same mask.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _connection_count(fraction: float, candidates: int) -> int:
    """round(fraction * candidates), halves up; fraction must be in [0, 1]."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    return int(math.floor(fraction * candidates + 0.5))


def _first_k(values: np.ndarray, candidates: np.ndarray, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """Mask of the k candidates (flat indices) with the largest values; among equal values the lower index."""
    order = np.argsort(-values, kind="stable")
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[candidates[order[:k]]] = True
    return mask.reshape(shape)


def magnitude_keep_mask(w: np.ndarray, keep_fraction: float) -> np.ndarray:
    """Keep the strongest `keep_fraction` of the existing (nonzero) connections by |w|.

    Returns True for a kept connection; connections that were already zero are never kept.
    """
    w = np.asarray(w)
    candidates = np.flatnonzero(w)
    k = _connection_count(keep_fraction, candidates.size)
    return _first_k(np.abs(w.ravel()[candidates]), candidates, k, w.shape)


def length_remove_mask(delays: np.ndarray, remove_fraction: float,
                       existing: np.ndarray | None = None) -> np.ndarray:
    """Remove exactly the longest `remove_fraction` of the connections, by delay (steps).

    existing: bool mask of the connections that can be removed (default: every entry of `delays`).
    Returns True for a removed connection.
    """
    delays = np.asarray(delays, dtype=np.float64)
    candidates = np.flatnonzero(np.ones(delays.shape, dtype=bool) if existing is None else existing)
    k = _connection_count(remove_fraction, candidates.size)
    return _first_k(delays.ravel()[candidates], candidates, k, delays.shape)


def random_remove_mask(existing: np.ndarray, remove_fraction: float, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Remove exactly `remove_fraction` of the `existing` connections, chosen at random (seed: an int or a
    sequence of ints for numpy's default_rng).

    The geometry-only control of length pruning: removing the longest connections of a network whose positions
    are re-drawn at random removes a random set of the same size. Returns True for a removed connection.
    """
    existing = np.asarray(existing, dtype=bool)
    candidates = np.flatnonzero(existing)
    k = _connection_count(remove_fraction, candidates.size)
    mask = np.zeros(existing.size, dtype=bool)
    mask[np.random.default_rng(seed).choice(candidates, size=k, replace=False)] = True
    return mask.reshape(existing.shape)


def length_threshold_graph(delays: np.ndarray, percentile: float, self_loops: bool = False) -> np.ndarray:
    """Binary graph A = (d < the `percentile`-th percentile of d), the paper's graph after delay-length pruning.

    Percentile and graph are over pairs of distinct neurons (a neuron's distance to itself is 0 and not a
    connection; the diagonal of A is False), or over all N² entries with `self_loops` (the authors:
    `d < np.percentile(np.abs(d), p)` of the whole matrix, so every zero-length self-connection stays).
    Delays equal to the threshold are removed with the longer ones, so with ties A can hold fewer than
    `percentile` % of the pairs; length_remove_mask counts exactly instead. Percentile 100 removes nothing (A holds
    every pair), the unpruned reference.
    """
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile}")
    delays = np.asarray(delays, dtype=np.float64)
    slots = np.ones(delays.shape, dtype=bool) if self_loops else ~np.eye(delays.shape[0], dtype=bool)
    if percentile == 100.0:
        return slots
    threshold = np.percentile(delays[slots], percentile)
    return (delays < threshold) & slots
