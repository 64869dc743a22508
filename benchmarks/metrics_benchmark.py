"""Time all graph metrics of one recurrent network (default 128 neurons), with cold and warm null caches.

    python benchmarks/metrics_benchmark.py [--hidden 128] [--repeats 5] [--binary-nulls 100] [--weighted-nulls 50]

Unthresholded, the binary graph of a dense network is complete and needs a single null; the "strongest 10%"
case measures sigma against 100 distinct random graphs. Each BLAS thread setting runs in its own process, because
OpenBLAS reads OPENBLAS_NUM_THREADS only at start-up: "1" is one thread; "default" lets OpenBLAS use every core,
which on a busy 2-core machine is many times slower for these small matrices. Times are medians over repeats, in
seconds. Target: <= 2 s per network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

THREAD_SETTINGS = ("1", "default")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _measure(hidden: int, repeats: int, binary_nulls: int, weighted_nulls: int) -> dict[str, float]:
    """Seconds per case, measured in this process."""
    import numpy as np

    from spacetime_snn.analysis import graph_metrics as gm
    from spacetime_snn.analysis.nulls import NullCache

    rng = np.random.default_rng(0)
    w = rng.normal(0.0, 0.02, size=(hidden, hidden))  # the paper's initial recurrent weights
    # later snapshots: new weights (weighted nulls recomputed), same density (binary nulls reused)
    snapshots = iter([w + rng.normal(0.0, 0.002, size=w.shape) for _ in range(repeats)])
    sparse = gm.recurrent_graph(w) * (rng.random(w.shape) < 0.1)  # not complete: 100 distinct binary nulls

    def all_metrics(cache, weights=w, keep=None, self_loops=False):
        return gm.network_metrics(weights, 0, cache, binary_nulls=binary_nulls, weighted_nulls=weighted_nulls,
                                  binary_keep_fraction=keep, self_loops=self_loops)

    warm = NullCache()
    all_metrics(warm)
    with tempfile.TemporaryDirectory() as directory:
        all_metrics(NullCache(directory))
        from_disk = _median_seconds(lambda: all_metrics(NullCache(directory)), repeats)
    return {
        "all metrics, cold cache": _median_seconds(lambda: all_metrics(NullCache()), repeats),
        "all metrics, binary graph = strongest 10%, cold": _median_seconds(
            lambda: all_metrics(NullCache(), keep=0.1), repeats),
        "all metrics, warm cache (same weights)": _median_seconds(lambda: all_metrics(warm), repeats),
        "all metrics, next snapshot (binary nulls cached)": _median_seconds(
            lambda: all_metrics(warm, next(snapshots)), repeats),
        "all metrics, warm disk cache (new process)": from_disk,
        "all metrics, self-connections kept, strongest 10%, cold": _median_seconds(
            lambda: all_metrics(NullCache(), keep=0.1, self_loops=True), repeats),
        "  modularity (Louvain)": _median_seconds(lambda: gm.modularity(w), repeats),
        f"  sigma, {binary_nulls} binary nulls, 10% density, cold": _median_seconds(
            lambda: gm.small_worldness(sparse, 0, binary_nulls, NullCache()), repeats),
        f"  weighted sigma, {weighted_nulls} row shuffles, cold": _median_seconds(
            lambda: gm.weighted_small_worldness(w, 0, weighted_nulls, NullCache()), repeats),
        f"  clustering ratio (authors' v2), {weighted_nulls} flat shuffles, cold": _median_seconds(
            lambda: gm.clustering_ratio(w, 0, weighted_nulls, NullCache(), self_loops=True), repeats),
        "  three entropies": _median_seconds(
            lambda: (gm.weight_entropy(w), gm.communicability_entropy(w), gm.spectral_entropy(w)), repeats),
    }


def _run_worker(threads: str, args: argparse.Namespace) -> dict[str, float]:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    if threads != "default":
        env.update({key: threads for key in THREAD_VARIABLES})
    command = [sys.executable, __file__, "--worker", "--hidden", str(args.hidden), "--repeats", str(args.repeats),
               "--binary-nulls", str(args.binary_nulls), "--weighted-nulls", str(args.weighted_nulls)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _print_table(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    cases = list(next(iter(results.values())))
    width = max(map(len, cases))
    load = os.getloadavg()[0]
    print(f"graph metrics of one {args.hidden}-neuron network (median of {args.repeats}, seconds; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end)")
    print(f"{'case':<{width}}  " + "  ".join(f"BLAS threads={t:>7}" for t in results))
    for case in cases:
        print(f"{case:<{width}}  " + "  ".join(f"{results[t][case]:>21.3f}" for t in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--binary-nulls", type=int, default=100)
    parser.add_argument("--weighted-nulls", type=int, default=50)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_measure(args.hidden, args.repeats, args.binary_nulls, args.weighted_nulls)))
        return
    _print_table({threads: _run_worker(threads, args) for threads in THREAD_SETTINGS}, args)


if __name__ == "__main__":
    main()
