"""Null graphs: exact density, reproducible per seed; statistics cached in memory and on disk."""

import numpy as np
import pytest

from spacetime_snn.analysis import graph_metrics as gm
from spacetime_snn.analysis.nulls import NullCache, NullKey, random_digraphs, row_shuffles


def test_random_digraphs_have_exact_density_and_no_self_loops():
    graphs = random_digraphs(size=20, edges=57, count=8, seed=0)
    assert graphs.shape == (8, 20, 20) and graphs.dtype == bool
    assert (graphs.sum(axis=(1, 2)) == 57).all()
    assert not graphs[:, np.arange(20), np.arange(20)].any()
    assert len({g.tobytes() for g in graphs}) == 8  # the nulls differ from each other
    with pytest.raises(ValueError):
        random_digraphs(size=3, edges=7, count=1, seed=0)


def test_nulls_are_reproducible_per_seed():
    assert np.array_equal(random_digraphs(15, 40, 3, seed=4), random_digraphs(15, 40, 3, seed=4))
    assert not np.array_equal(random_digraphs(15, 40, 3, seed=4), random_digraphs(15, 40, 3, seed=5))
    w = np.random.default_rng(0).random((10, 10))
    assert np.array_equal(row_shuffles(w, 4, seed=2), row_shuffles(w, 4, seed=2))
    assert not np.array_equal(row_shuffles(w, 4, seed=2), row_shuffles(w, 4, seed=3))


def test_row_shuffles_keep_each_rows_weights_off_the_diagonal():
    w = np.random.default_rng(1).random((12, 12))
    np.fill_diagonal(w, 0)
    nulls = row_shuffles(w, count=5, seed=0)
    assert not nulls[:, np.arange(12), np.arange(12)].any()
    assert np.allclose(np.sort(nulls, axis=-1), np.sort(w, axis=-1)[None])
    assert not np.allclose(nulls[0], w)


def _counting(stats):
    calls = []

    def compute():
        calls.append(1)
        return stats
    return compute, calls


def test_cache_computes_each_key_once_and_evicts_least_recently_used():
    cache = NullCache(max_entries=2)
    keys = [NullKey("binary", 10, m, 5, 0) for m in (1, 2, 3)]
    compute, calls = _counting({"clustering": 0.5})
    assert cache.statistics(keys[0], compute) == {"clustering": 0.5}
    cache.statistics(keys[0], compute)
    assert len(calls) == 1
    cache.statistics(keys[1], compute)
    cache.statistics(keys[0], compute)  # key 0 is now the most recently used
    cache.statistics(keys[2], compute)  # evicts key 1
    cache.statistics(keys[0], compute)
    assert len(calls) == 3
    cache.statistics(keys[1], compute)
    assert len(calls) == 4


def test_disk_cache_is_shared_between_instances_and_survives_corruption(tmp_path):
    key = NullKey("binary", 10, 20, 5, 0)
    compute, calls = _counting({"clustering": 0.25, "efficiency": 0.75})
    NullCache(tmp_path).statistics(key, compute)
    assert [p.name for p in tmp_path.iterdir()] == [key.filename()]  # no temporary file left behind
    assert NullCache(tmp_path).statistics(key, compute) == {"clustering": 0.25, "efficiency": 0.75}
    assert len(calls) == 1
    (tmp_path / key.filename()).write_bytes(b"truncated")
    assert NullCache(tmp_path).statistics(key, compute)["efficiency"] == 0.75
    assert len(calls) == 2


def test_small_worldness_reuses_cached_null_statistics(monkeypatch, tmp_path):
    generated = []
    original = gm.random_digraphs

    def counting(*args):
        generated.append(args)
        return original(*args)

    monkeypatch.setattr(gm, "random_digraphs", counting)
    a = (np.random.default_rng(0).random((30, 30)) < 0.2).astype(float)
    np.fill_diagonal(a, 0)
    order = np.roll(np.arange(30), 1)
    b = a[order][:, order]  # another graph with the same number of edges
    cache = NullCache(tmp_path)
    first = gm.small_worldness(a, seed=0, null_count=10, nulls=cache)
    gm.small_worldness(b, seed=0, null_count=10, nulls=cache)
    assert len(generated) == 1
    assert gm.small_worldness(a, seed=0, null_count=10, nulls=NullCache(tmp_path)) == first
    assert len(generated) == 1
    gm.small_worldness(a, seed=1, null_count=10, nulls=cache)
    assert len(generated) == 2


def test_nulls_with_self_loops_use_the_diagonal_as_a_slot():
    from spacetime_snn.analysis.nulls import flat_shuffles

    graphs = random_digraphs(size=6, edges=36, count=2, seed=0, self_loops=True)
    assert graphs.all()  # every one of the N² slots, diagonal included
    with pytest.raises(ValueError, match="edges"):
        random_digraphs(size=6, edges=31, count=1, seed=0)  # 30 off-diagonal slots only
    w = np.arange(1.0, 17.0).reshape(4, 4)
    rows = row_shuffles(w, count=20, seed=0, self_loops=True)
    assert np.array_equal(np.sort(rows, axis=2), np.broadcast_to(np.sort(w, axis=1), rows.shape))
    assert (rows.diagonal(axis1=1, axis2=2) != np.diag(w)).any()  # weights moved onto the diagonal
    flat = flat_shuffles(w, count=20, seed=0, self_loops=True)
    assert np.array_equal(np.sort(flat.reshape(20, -1), axis=1), np.broadcast_to(np.sort(w.ravel()), (20, 16)))
    assert len({tuple(f.sum(axis=1)) for f in flat}) > 1  # rows do not keep their strength
    off = flat_shuffles(w, count=5, seed=0)
    assert (off.diagonal(axis1=1, axis2=2) == 0).all()
    assert np.array_equal(np.sort(off[:, ~np.eye(4, dtype=bool)], axis=1),
                          np.broadcast_to(np.sort(w[~np.eye(4, dtype=bool)]), (5, 12)))
