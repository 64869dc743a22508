"""CLI: `metrics`, `networkdata` and `inputmaps` — the per-run analysis CSVs of docs/architecture.md.

Each command reads one run directory and writes its tables to `<run-dir>/analysis/<name>.csv` (or --out-dir),
atomically, every row led by the run identifiers (study, condition, hidden, seed) so aggregation is concatenation.
A table that does not apply to a run (delays of a run without delays, positions of a non-spatial run) is written
with its header only, so every run has the same files.

The table builders (`metric_tables`, `network_tables`, `input_map_tables`, `raster_table`, `ridge_table`) take
arrays and return DataFrames; the command functions only load, call them and write.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..io_utils import atomic_path
from .controls import CONTROL_NETWORKS, INITIAL, SHUFFLED, initial_network, shuffled_weights
from .graph_metrics import (delay_clamp_shares, delay_histogram, delay_statistics, modularity, network_metrics,
                            small_worldness, strength_weighted_delay)
from .input_maps import (RIDGE_METHODS, preferred_positions_from_activity, preferred_positions_from_weights,
                         preferred_positions_over_time, ridge_r2)
from .nulls import NullCache
from .pruning import length_threshold_graph

IDENTIFIERS = ("study", "condition", "hidden", "seed")

COLUMNS = {
    "training_dynamics": ("epoch", "metric", "value"),
    "final_metrics": ("metric", "value"),
    "control_metrics": ("network", "metric", "value"),
    "delay_histogram": ("network", "bin_start", "bin_end", "count"),
    "pruned_graph": ("network", "fraction_removed", "modularity", "small_worldness"),
    "network_nodes": ("neuron", "x", "y"),
    "network_edges": ("pre", "post", "weight"),
    "input_maps": ("method", "channel", "x", "y"),
    "input_maps_time": ("channel", "time_ms", "x", "y"),
    "input_raster": ("sample", "label", "time_ms", "channel"),
    "ridge": ("method", "network", "r2"),
}


SELF_CONNECTIONS = ("keep", "exclude")


@dataclass(frozen=True)
class MetricOptions:
    """Settings of `metrics`. seed is the analysis seed (Louvain, nulls, control shuffles), the same for every run
    so that nulls are shared; epoch_every picks the snapshots whose epoch is a multiple of it (paper: 5);
    self_connections: keep the diagonal of W in every metric (the authors) or exclude it; control_shuffles:
    geometry-only controls (trained weights permuted) averaged per run."""

    seed: int = 0
    binary_nulls: int = 100
    weighted_nulls: int = 50
    binary_keep_fraction: float | None = None
    epoch_every: int = 5
    delay_bin_steps: float = 1.0
    prune_fractions: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    self_connections: str = "keep"
    control_shuffles: int = 3

    def __post_init__(self) -> None:
        if min(self.binary_nulls, self.weighted_nulls, self.epoch_every, self.control_shuffles) < 1 \
                or self.delay_bin_steps <= 0:
            raise ConfigError("metrics: --binary-nulls, --weighted-nulls, --epoch-every and --control-shuffles "
                              "must be >= 1 and --delay-bin-steps > 0")
        if self.self_connections not in SELF_CONNECTIONS:
            raise ConfigError(f"metrics: --self-connections must be one of {', '.join(SELF_CONNECTIONS)}, "
                              f"got {self.self_connections!r}")
        keep = self.binary_keep_fraction
        if keep is not None and not 0.0 < keep <= 1.0:
            raise ConfigError(f"metrics: --binary-keep-fraction {keep:g} must lie in (0, 1]: it is the share of "
                              f"the strongest synapses kept for the binary metrics"
                              f"{' (0 keeps none: small-worldness is undefined and clustering 0)' if keep == 0 else ''}. "
                              f"Fix: e.g. --binary-keep-fraction 0.1, or leave it out (every existing synapse)")
        if not all(0.0 <= f < 1.0 for f in self.prune_fractions):
            raise ConfigError(f"metrics: --prune-fractions must lie in [0, 1), got {list(self.prune_fractions)}")

    @property
    def self_loops(self) -> bool:
        return self.self_connections == "keep"


@dataclass(frozen=True)
class InputMapOptions:
    """Settings of `inputmaps`. window_steps: hidden spikes counted after an input spike (paper: 5 ms);
    bin_ms: time bins of the time-resolved map; random_networks: randomly initialised networks for ridge."""

    window_steps: int = 5
    bin_ms: float = 50.0
    ridge_alpha: float = 1.0
    ridge_folds: int = 5
    random_networks: int = 10
    seed: int = 0


def run_identifiers(identifiers: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The four identifier values of a run; missing ones are an error naming the run."""
    missing = [key for key in IDENTIFIERS if key not in identifiers]
    if missing:
        raise DataError(f"{source}: run settings lack identifier(s) {missing} under 'run'; retrain with "
                        f"settings that set run.study, run.condition, run.hidden and run.seed.")
    return {key: identifiers[key] for key in IDENTIFIERS}


def _table(name: str, ids: Mapping[str, Any], rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows of table `name`, led by the identifier columns, in the documented column order."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS[name]))
    for position, key in enumerate(IDENTIFIERS):
        frame.insert(position, key, ids[key])
    return frame


def _xy(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two coordinates of (..., D) points; y is 0 in a one-dimensional space."""
    return points[..., 0], (points[..., 1] if points.shape[-1] > 1 else np.zeros(points.shape[:-1]))


# --- metrics ----------------------------------------------------------------------------------------------------

def _metrics_of(w_rec: np.ndarray, options: MetricOptions, nulls: NullCache) -> dict[str, float]:
    return network_metrics(w_rec, options.seed, nulls, binary_nulls=options.binary_nulls,
                           weighted_nulls=options.weighted_nulls, binary_keep_fraction=options.binary_keep_fraction,
                           self_loops=options.self_loops)


def _dynamics(snapshots: Mapping[str, np.ndarray], options: MetricOptions,
              nulls: NullCache) -> dict[int, dict[str, float]]:
    """{epoch: metrics} of the snapshots whose epoch is a multiple of epoch_every."""
    return {int(epoch): _metrics_of(w_rec, options, nulls)
            for epoch, w_rec in zip(snapshots["epochs"], snapshots["w_rec"]) if epoch % options.epoch_every == 0}


def _pruned_graph_rows(delays: np.ndarray, options: MetricOptions, nulls: NullCache) -> list[dict]:
    """Q and sigma of the binary graph left after removing the longest fraction f of connections by delay."""
    rows = []
    for fraction in options.prune_fractions:
        graph = length_threshold_graph(delays, 100.0 * (1.0 - fraction), options.self_loops).astype(np.float64)
        q = modularity(graph, options.seed, options.self_loops)[0] if graph.any() else float("nan")
        rows.append({"fraction_removed": fraction, "modularity": q,
                     "small_worldness": small_worldness(graph, options.seed, options.binary_nulls, nulls,
                                                        options.self_loops)})
    return rows


def _histogram_rows(delays: np.ndarray, options: MetricOptions) -> list[dict]:
    edges, counts = delay_histogram(delays, options.delay_bin_steps, options.self_loops)
    return [{"bin_start": lo, "bin_end": hi, "count": int(n)} for lo, hi, n in zip(edges[:-1], edges[1:], counts)]


def _shuffled_metrics(w_rec: np.ndarray, delays: np.ndarray | None, options: MetricOptions,
                      nulls: NullCache) -> dict[str, float]:
    """Mean metrics over `control_shuffles` geometry-only controls (trained weights permuted, geometry kept); with
    delays also their strength_weighted_delay, so a trained network below it puts its strength on short
    connections beyond chance."""
    draws = []
    for k in range(options.control_shuffles):
        shuffled = shuffled_weights(w_rec, options.seed, k, options.self_loops)
        draw = _metrics_of(shuffled, options, nulls)
        if delays is not None:
            draw["strength_weighted_delay"] = strength_weighted_delay(shuffled, delays, options.self_loops)
        draws.append(draw)
    return {name: float(np.mean([draw[name] for draw in draws])) for name in draws[0]}


def metric_tables(ids: Mapping[str, Any], w_rec: np.ndarray, delays: np.ndarray | None,
                  snapshots: Mapping[str, np.ndarray], options: MetricOptions,
                  nulls: NullCache, max_delay: float | None = None) -> dict[str, pd.DataFrame]:
    """training_dynamics (snapshots), final_metrics (selected model), control_metrics (its controls: the initial
    network and the shuffled-weights network, controls.py), delay_histogram and pruned_graph (selected model and
    initial network, column `network`). With `max_delay` (the run's model.max_delay_steps), the delay statistics
    include the shares of delays at the clamp (graph_metrics.delay_clamp_shares)."""

    def delay_summary(network_delays: np.ndarray) -> dict[str, float]:
        stats = delay_statistics(network_delays, options.self_loops)
        return stats if max_delay is None else {**stats, **delay_clamp_shares(network_delays, max_delay)}

    final = _metrics_of(w_rec, options, nulls)
    dynamics = _dynamics(snapshots, options, nulls)
    initial = initial_network(snapshots)
    controls: dict[str, dict[str, float]] = {SHUFFLED: _shuffled_metrics(w_rec, delays, options, nulls)}
    networks = {"trained": delays}
    if initial is not None:
        controls[INITIAL] = dynamics.get(0) or _metrics_of(initial[0], options, nulls)
        networks[INITIAL] = initial[1]
    histogram, pruned = [], []
    if delays is not None:
        final.update(delay_summary(delays),
                     strength_weighted_delay=strength_weighted_delay(w_rec, delays, options.self_loops))
        if initial is not None and initial[1] is not None:
            controls[INITIAL] = {**controls[INITIAL], **delay_summary(initial[1]),
                                 "strength_weighted_delay": strength_weighted_delay(*initial, options.self_loops)}
        for network, network_delays in networks.items():
            if network_delays is None:
                continue
            histogram += [{"network": network, **row} for row in _histogram_rows(network_delays, options)]
            pruned += [{"network": network, **row} for row in _pruned_graph_rows(network_delays, options, nulls)]
    dynamics_rows = [{"epoch": epoch, "metric": name, "value": value}
                     for epoch, metrics in dynamics.items() for name, value in metrics.items()]
    control_rows = [{"network": network, "metric": name, "value": value}
                    for network in CONTROL_NETWORKS if network in controls
                    for name, value in controls[network].items()]
    return {
        "training_dynamics": _table("training_dynamics", ids, dynamics_rows),
        "final_metrics": _table("final_metrics", ids, [{"metric": k, "value": v} for k, v in final.items()]),
        "control_metrics": _table("control_metrics", ids, control_rows),
        "delay_histogram": _table("delay_histogram", ids, histogram),
        "pruned_graph": _table("pruned_graph", ids, pruned),
    }


# --- networkdata ------------------------------------------------------------------------------------------------

def network_tables(ids: Mapping[str, Any], w_rec: np.ndarray,
                   positions: np.ndarray | None) -> dict[str, pd.DataFrame]:
    """network_nodes (first two position coordinates; empty without positions) and network_edges (every
    nonzero recurrent weight between distinct neurons, signed)."""
    nodes = []
    if positions is not None:
        x, y = _xy(positions)
        nodes = pd.DataFrame({"neuron": np.arange(len(positions)), "x": x, "y": y})
    w_rec = np.asarray(w_rec)
    pre, post = np.nonzero(w_rec * ~np.eye(len(w_rec), dtype=bool))
    edges = pd.DataFrame({"pre": pre, "post": post, "weight": w_rec[pre, post]})
    return {"network_nodes": _table("network_nodes", ids, nodes), "network_edges": _table("network_edges", ids, edges)}


# --- inputmaps --------------------------------------------------------------------------------------------------

def input_map_tables(ids: Mapping[str, Any], w_in: np.ndarray, positions: np.ndarray, input_events: np.ndarray,
                     hidden_events: np.ndarray, dt_ms: float, options: InputMapOptions) -> dict[str, pd.DataFrame]:
    """input_maps (weights and activity methods, one row per channel, NaN for a channel without a preferred
    position) and input_maps_time (rows only where a bin has a position; time_ms = start of the bin)."""
    num_channels = w_in.shape[0]
    maps = []
    for method, points in (
        ("weights", preferred_positions_from_weights(w_in, positions)),
        ("activity", preferred_positions_from_activity(input_events, hidden_events, positions, num_channels,
                                                       options.window_steps)),
    ):
        x, y = _xy(points)
        maps.append(pd.DataFrame({"method": method, "channel": np.arange(num_channels), "x": x, "y": y}))
    bin_steps = max(1, int(round(options.bin_ms / dt_ms)))
    over_time = preferred_positions_over_time(input_events, hidden_events, positions, num_channels, bin_steps,
                                              options.window_steps)
    bins, channels = np.meshgrid(np.arange(over_time.shape[0]), np.arange(num_channels), indexing="ij")
    x, y = _xy(over_time)
    timed = pd.DataFrame({"channel": channels.ravel(), "time_ms": bins.ravel() * bin_steps * dt_ms,
                          "x": x.ravel(), "y": y.ravel()}).dropna(subset=["x", "y"])
    return {"input_maps": _table("input_maps", ids, pd.concat(maps, ignore_index=True)),
            "input_maps_time": _table("input_maps_time", ids, timed)}


def raster_table(ids: Mapping[str, Any], input_events: np.ndarray, labels: np.ndarray,
                 dt_ms: float) -> pd.DataFrame:
    """input_raster: the input events (sample, step, channel) of example samples, time at the bin start (ms)."""
    events = np.asarray(input_events).reshape(-1, 3)
    raster = pd.DataFrame({"sample": events[:, 0], "label": np.asarray(labels)[events[:, 0]],
                           "time_ms": events[:, 1] * dt_ms, "channel": events[:, 2]})
    return _table("input_raster", ids, raster)


def ridge_table(ids: Mapping[str, Any], w_in: np.ndarray, positions: np.ndarray, init: Any,
                options: InputMapOptions) -> pd.DataFrame:
    """ridge: R² of the trained network, each both cross-validated (method cv, this project) and in-sample
    (method in_sample, the authors'), and of two controls, `random_networks` of each:

    - random: networks drawn from the initial distribution (`init`: w_in_mean, w_in_std, position_range), the
      authors' chance level; drawn from (analysis seed, run seed, k), so the runs of a condition meet distinct ones;
    - shuffled: the trained input weights against the trained positions permuted among the neurons. It keeps the
      scale of the trained weights, to which the in-sample R² (alpha fixed at 1) is sensitive, and the trained
      positions, and removes only the mapping between the two.
    """
    networks = [("trained", w_in, positions)]
    for k in range(options.random_networks):
        rng = np.random.default_rng([options.seed, int(ids["seed"]), k])
        networks.append(("random", rng.normal(init.w_in_mean, init.w_in_std, size=w_in.shape),
                         rng.uniform(-init.position_range, init.position_range, size=positions.shape)))
    for k in range(options.random_networks):
        order = np.random.default_rng([options.seed, int(ids["seed"]), k, 1]).permutation(len(positions))
        networks.append(("shuffled", w_in, positions[order]))
    rows = [{"method": method, "network": network,
             "r2": ridge_r2(weights, points, options.ridge_alpha, options.ridge_folds, options.seed, method)}
            for method in RIDGE_METHODS for network, weights, points in networks]
    return _table("ridge", ids, rows)


def dataset_events(dataset: Any, indices: np.ndarray) -> np.ndarray:
    """Input events (sample, step, channel) of the samples `indices` of a SpikeDataset, sample = dataset index."""
    from ..data.dataset import event_ranges

    indices = np.asarray(indices, dtype=np.int64)
    events, offsets = event_ranges(dataset.offsets, indices)
    samples = np.repeat(indices, np.diff(offsets))
    return np.stack([samples, dataset.times[events], dataset.units[events]], axis=1).astype(np.int32)


# --- command functions ------------------------------------------------------------------------------------------

def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path) -> None:
    """Each table to `<out_dir>/<name>.csv`, atomically (a killed job never leaves a complete-looking file)."""
    for name, frame in tables.items():
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)


def _out_dir(args: argparse.Namespace) -> Path:
    return args.out_dir if args.out_dir is not None else args.run_dir / "analysis"


def _load_snapshots(run_dir: Path) -> dict[str, np.ndarray]:
    from ..training import run_io

    try:
        return run_io.load_snapshots(run_dir)
    except FileNotFoundError as error:
        raise DataError(f"{run_dir / run_io.SNAPSHOTS} not found; it is written by `spacetime-snn train` "
                        f"(train.snapshot_every > 0).") from error


def _metrics(args: argparse.Namespace) -> None:
    from ..training.run_io import load_model_file, load_network

    options = MetricOptions(seed=args.seed, binary_nulls=args.binary_nulls, weighted_nulls=args.weighted_nulls,
                            binary_keep_fraction=args.binary_keep_fraction, epoch_every=args.epoch_every,
                            self_connections=args.self_connections, control_shuffles=args.control_shuffles,
                            delay_bin_steps=args.delay_bin_steps, prune_fractions=tuple(args.prune_fractions))
    network = load_network(args.run_dir)  # after the options: a wrong option fails before any file is read
    max_delay = load_model_file(args.run_dir)["settings"]["model"]["max_delay_steps"]
    ids = run_identifiers(network.identifiers, str(args.run_dir))
    tables = metric_tables(ids, network.w_rec, network.delays, _load_snapshots(args.run_dir), options,
                           NullCache(args.null_cache), max_delay=max_delay)
    write_tables(tables, _out_dir(args))


def _networkdata(args: argparse.Namespace) -> None:
    from ..training.run_io import load_network

    network = load_network(args.run_dir)
    ids = run_identifiers(network.identifiers, str(args.run_dir))
    write_tables(network_tables(ids, network.w_rec, network.positions), _out_dir(args))


def _activity_events(args: argparse.Namespace, saved: dict, test_set: Any) -> tuple[np.ndarray, np.ndarray]:
    """Input and hidden spike events of the test samples used for the activity maps."""
    from ..training.build import model_from_file
    from ..training.evaluate import record_hidden_spikes

    indices = np.arange(len(test_set))
    if args.max_samples is not None and args.max_samples < len(indices):
        indices = np.sort(np.random.default_rng(args.seed).choice(indices, args.max_samples, replace=False))
    hidden = record_hidden_spikes(model_from_file(saved), test_set, indices)
    return dataset_events(test_set, indices), hidden


def _inputmaps(args: argparse.Namespace) -> None:
    import torch

    from ..config import settings_from_dict
    from ..training import run_io
    from ..training.build import load_data

    if args.threads:
        torch.set_num_threads(args.threads)
    network = run_io.load_network(args.run_dir)
    ids = run_identifiers(network.identifiers, str(args.run_dir))
    saved = run_io.load_model_file(args.run_dir)
    settings = settings_from_dict(saved["settings"])
    _, test_set = load_data(settings, cache_dir=args.cache_dir or Path(settings.data.root) / "cache")
    options = InputMapOptions(window_steps=args.window_steps, bin_ms=args.bin_ms,
                              random_networks=args.random_networks, ridge_folds=args.ridge_folds, seed=args.seed)
    examples = np.arange(min(args.raster_samples, len(test_set)))
    tables = {"input_raster": raster_table(ids, dataset_events(test_set, examples), test_set.labels,
                                           test_set.dt_ms)}
    if network.positions is None:
        tables.update({name: _table(name, ids, []) for name in ("input_maps", "input_maps_time", "ridge")})
    else:
        input_events, hidden_events = _activity_events(args, saved, test_set)
        tables.update(input_map_tables(ids, network.w_in, network.positions, input_events, hidden_events,
                                       test_set.dt_ms, options))
        tables["ridge"] = ridge_table(ids, network.w_in, network.positions, settings.model.init, options)
    write_tables(tables, _out_dir(args))


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", required=True, type=Path, help="run directory (docs/architecture.md)")
    parser.add_argument("--out-dir", type=Path, default=None, help="where the CSVs go (default: <run-dir>/analysis)")
    parser.add_argument("--seed", type=int, default=0,
                        help="analysis seed (Louvain, nulls, sample choice); keep it equal across runs")


def register(subparsers) -> None:
    metrics = subparsers.add_parser(
        "metrics", help="graph metrics over training and of the selected model, delay histogram, pruned graphs")
    _common_arguments(metrics)
    metrics.add_argument("--null-cache", type=Path, default=None,
                         help="directory caching null-graph statistics across runs (default: memory only)")
    metrics.add_argument("--binary-nulls", type=int, default=100, help="random graphs per binary sigma")
    metrics.add_argument("--weighted-nulls", type=int, default=50, help="row shuffles per weighted sigma")
    metrics.add_argument("--binary-keep-fraction", type=float, default=None,
                         help="binarise |W| by keeping its strongest fraction (default: all existing edges)")
    metrics.add_argument("--epoch-every", type=int, default=5, help="use snapshots whose epoch is a multiple")
    metrics.add_argument("--self-connections", choices=SELF_CONNECTIONS, default="keep",
                         help="keep the diagonal of W in every metric (the authors' analysis) or exclude it [keep]")
    metrics.add_argument("--control-shuffles", type=int, default=3,
                         help="geometry-only controls (trained weights permuted) averaged per run [3]")
    metrics.add_argument("--delay-bin-steps", type=float, default=1.0, help="delay histogram bin width (steps)")
    metrics.add_argument("--prune-fractions", type=float, nargs="+", default=list(MetricOptions.prune_fractions),
                         help="fractions of the longest connections removed for pruned_graph.csv")
    metrics.set_defaults(func=_metrics)

    networkdata = subparsers.add_parser("networkdata", help="neuron positions and recurrent edges for drawings")
    _common_arguments(networkdata)
    networkdata.set_defaults(func=_networkdata)

    inputmaps = subparsers.add_parser(
        "inputmaps", help="preferred input positions (weights, activity, over time), input raster, ridge R²")
    _common_arguments(inputmaps)
    inputmaps.add_argument("--window-steps", type=int, default=5, help="response window after an input spike")
    inputmaps.add_argument("--bin-ms", type=float, default=50.0, help="time bin of input_maps_time.csv (ms)")
    inputmaps.add_argument("--max-samples", type=int, default=None,
                           help="test samples recorded for the activity maps (default: all)")
    inputmaps.add_argument("--raster-samples", type=int, default=1, help="example samples in input_raster.csv")
    inputmaps.add_argument("--random-networks", type=int, default=10, help="random networks for ridge R²")
    inputmaps.add_argument("--ridge-folds", type=int, default=5, help="cross-validation folds for ridge R²")
    inputmaps.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    inputmaps.add_argument("--cache-dir", type=Path, default=None,
                           help="binned-data cache (default: <data root>/cache)")
    inputmaps.set_defaults(func=_inputmaps)
