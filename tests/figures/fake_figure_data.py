"""Realistic fake aggregated tables (3 conditions x 3 seeds, plus an architecture sweep) for the figure tests.

The shapes follow docs/architecture.md and the trends follow the paper's captions, so rendered figures look like
the real thing and can be inspected by eye (see render_examples.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STUDY = "shd"
HIDDEN = 128
SEEDS = (0, 1, 2)
MAIN = ("synaptic", "spatial", "spatial_cost")
SPATIAL = ("spatial", "spatial_cost")
LABELS = {
    "synaptic": "Non-spatial", "spatial": "Spatial", "spatial_cost": "Spatial + cost",
    "spatial_3d": "Spatial 3D", "spatial_4d": "Spatial 4D", "axonal": "Axonal delays", "none": "No delays",
}
MAIN_LABELS = {condition: LABELS[condition] for condition in MAIN}
ARCHITECTURES = {  # condition -> (delay_mode, dims, recurrent trainable parameters as a function of N)
    "spatial": ("spatial", 2, lambda n: n * 2 + n * n),
    "spatial_3d": ("spatial", 3, lambda n: n * 3 + n * n),
    "spatial_4d": ("spatial", 4, lambda n: n * 4 + n * n),
    "synaptic": ("synaptic", 0, lambda n: 2 * n * n),
    "axonal": ("axonal", 0, lambda n: n + n * n),
    "none": ("none", 0, lambda n: n * n),
}


def _ids(condition: str, seed: int, hidden: int = HIDDEN) -> dict:
    return {"study": STUDY, "condition": condition, "hidden": hidden, "seed": seed}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def accuracy() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = {"none": 0.72, "axonal": 0.78, "synaptic": 0.86, "spatial": 0.84, "spatial_3d": 0.85,
            "spatial_4d": 0.855}
    rows = []
    for condition, (mode, dims, params) in ARCHITECTURES.items():
        for hidden in (32, 64, 128):
            for seed in SEEDS:
                test = base[condition] - 0.08 * (128 / hidden - 1) / 3 + rng.normal(0, 0.012)
                n_trainable = 700 * hidden + params(hidden) + hidden * 20
                rows.append({**_ids(condition, seed, hidden), "delay_mode": mode, "dims": dims,
                             "distance_cost": 0.0, "best_epoch": 40 + seed, "epochs_run": 55 + seed,
                             "train_accuracy": min(test + 0.1, 1.0), "val_accuracy": test + 0.02,
                             "test_accuracy": test, "trainable_params": n_trainable,
                             "total_params": n_trainable + hidden})
    return _frame(rows)


# communicability, modularity, weight entropy, spectral entropy, small-worldness, clustering ratio at the end
METRICS = ("communicability_entropy", "modularity", "weight_entropy", "spectral_entropy", "small_worldness",
           "clustering_ratio")
METRIC_STARTS = (6.9, 0.05, 6.95, 6.9, 1.0, 1.0)
FINAL_METRICS = {
    "synaptic": (6.2, 0.10, 6.6, 6.5, 1.05, 1.01), "spatial": (6.1, 0.14, 6.2, 6.3, 1.15, 1.03),
    "spatial_cost": (5.6, 0.30, 6.1, 6.0, 1.45, 1.08),
}


DELAY_STATISTICS = {  # fraction below half a step, longest delay, interquartile range, |W|-weighted delay (steps)
    "synaptic": {"delay_fraction_zero": 0.9, "delay_max": 60.0, "delay_iqr": 0.2, "strength_weighted_delay": 1.5},
    "spatial": {"delay_fraction_zero": 0.05, "delay_max": 25.0, "delay_iqr": 6.0, "strength_weighted_delay": 12.0},
    "spatial_cost": {"delay_fraction_zero": 0.06, "delay_max": 20.0, "delay_iqr": 5.0,
                     "strength_weighted_delay": 6.0},
}


def final_metrics() -> pd.DataFrame:
    """The selected networks: the end of training_dynamics, plus the delay statistics."""
    rng = np.random.default_rng(10)
    rows = []
    for condition in MAIN:
        for seed in SEEDS:
            values = {**dict(zip(METRICS, FINAL_METRICS[condition])), **DELAY_STATISTICS[condition]}
            rows += [{**_ids(condition, seed), "metric": metric, "value": value + rng.normal(0, 0.01)}
                     for metric, value in values.items()]
    return _frame(rows)


def control_metrics() -> pd.DataFrame:
    """The initial networks (epoch 0) and the shuffled-weights control: structure gone, distribution kept."""
    rng = np.random.default_rng(9)
    rows = []
    for condition in MAIN:
        for seed in SEEDS:
            for metric, start, final in zip(METRICS, METRIC_STARTS, FINAL_METRICS[condition]):
                shuffled = start + 0.3 * (final - start)
                for network, value in (("initial", start), ("shuffled", shuffled)):
                    rows.append({**_ids(condition, seed), "network": network, "metric": metric,
                                 "value": value + rng.normal(0, 0.01)})
    return _frame(rows)


def training_dynamics() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    metrics, starts = METRICS, METRIC_STARTS
    finals = FINAL_METRICS
    rows = []
    for condition in MAIN:
        for seed in SEEDS:
            last = 50 + 5 * seed
            for epoch in range(last + 1):
                progress = 1 - np.exp(-epoch / 12)
                for metric, start, final in zip(metrics, starts, finals[condition]):
                    if metric == "modularity" and epoch % 5:
                        continue  # the authors evaluate modularity every 5 epochs
                    value = start + (final - start) * progress + rng.normal(0, 0.02 * abs(final - start) + 1e-3)
                    rows.append({**_ids(condition, seed), "epoch": epoch, "metric": metric, "value": value})
    return _frame(rows)


def delay_histogram() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    edges = np.arange(0, 63)
    rows = []
    for condition in MAIN:
        for seed in SEEDS:
            if condition == "synaptic":
                delays = np.concatenate([np.zeros(15000), rng.uniform(0, 62, 1384)])
            else:
                scale = 3.0 if condition == "spatial" else 2.2
                delays = rng.gamma(2.5, scale, 16384)
            initial = np.zeros(16384) if condition == "synaptic" else rng.uniform(0, 2.8, 16384)
            for network, values in (("trained", delays), ("initial", initial)):
                counts, _ = np.histogram(np.clip(values, 0, 61.99), bins=edges)
                rows += [{**_ids(condition, seed), "network": network, "bin_start": float(a), "bin_end": float(b),
                          "count": int(c)} for a, b, c in zip(edges[:-1], edges[1:], counts)]
    return _frame(rows)


def pruned_graph() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    level = {"synaptic": (0.05, 1.0), "spatial": (0.18, 1.4), "spatial_cost": (0.3, 1.8)}
    rows = []
    for condition in MAIN:
        q0, s0 = level[condition]
        for seed in SEEDS:
            for network in ("trained", "initial"):
                for fraction in (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30):
                    if network == "initial" and condition == "synaptic" and fraction > 0:
                        continue  # all-zero initial delays: an empty graph, no value
                    scale = 1.0 if network == "trained" else 0.8
                    rows.append({**_ids(condition, seed), "network": network, "fraction_removed": fraction,
                                 "modularity": scale * (q0 + 0.4 * fraction * (q0 > 0.1)) * (fraction > 0)
                                 + rng.normal(0, 0.01),
                                 "small_worldness": 1 + scale * fraction * (s0 - 0.9) * 3 + rng.normal(0, 0.03)})
    return _frame(rows)


def pruning() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    drop = {"synaptic": 0.5, "spatial": 0.25, "spatial_cost": 0.2}
    rows = []
    for condition in MAIN:
        for seed in SEEDS:
            for kind, fractions in (("magnitude", (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)),
                                    ("length", (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)),
                                    ("random", (0.05, 0.1, 0.15, 0.2, 0.25, 0.3))):
                slope = drop[condition] * {"length": 2.5, "random": 2.0}.get(kind, 1.0)
                for fraction in fractions:
                    accuracy = 0.85 - slope * fraction ** 3 + rng.normal(0, 0.008)
                    rows.append({**_ids(condition, seed), "kind": kind, "fraction_removed": fraction,
                                 "test_accuracy": accuracy, "connections": int(16384 * (1 - fraction))})
    return _frame(rows)


def _positions(seed: int, n: int = HIDDEN) -> np.ndarray:
    """Neurons pushed towards the perimeter of a disc (as the paper observes), radius ~12 ms."""
    rng = np.random.default_rng(100 + seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 12 * np.sqrt(rng.beta(5, 1, n))
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def network() -> tuple[pd.DataFrame, pd.DataFrame]:
    nodes, edges = [], []
    for condition in SPATIAL:
        for seed in SEEDS:
            rng = np.random.default_rng(200 + seed)
            xy = _positions(seed)
            n = len(xy)
            distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
            scale = 0.02 * (np.exp(-distance / 6) * 3 if condition == "spatial_cost" else 1.0)
            weights = rng.normal(0, 1, (n, n)) * scale
            pre, post = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            ids = _ids(condition, seed)
            nodes.append(pd.DataFrame({**ids, "neuron": np.arange(n), "x": xy[:, 0], "y": xy[:, 1]}))
            edges.append(pd.DataFrame({**ids, "pre": pre.ravel(), "post": post.ravel(),
                                       "weight": weights.ravel()}))
    return pd.concat(nodes, ignore_index=True), pd.concat(edges, ignore_index=True)


def _channel_xy(channel: np.ndarray, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Preferred positions that vary smoothly with channel (tonotopy-like), plus noise."""
    angle = channel / 700 * 1.6 * np.pi
    return (8 * np.cos(angle) + rng.normal(0, noise, channel.size),
            8 * np.sin(angle) + rng.normal(0, noise, channel.size))


def input_maps() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    channel = np.arange(700)
    frames = []
    for condition in SPATIAL:
        for seed in SEEDS:
            for method, noise in (("weights", 0.8), ("activity", 2.0)):
                x, y = _channel_xy(channel, rng, noise)
                if method == "activity":
                    x[rng.random(700) < 0.05] = np.nan  # channels that never drove a hidden spike
                frames.append(pd.DataFrame({**_ids(condition, seed), "method": method, "channel": channel,
                                            "x": x, "y": y}))
    return pd.concat(frames, ignore_index=True)


def input_maps_time() -> pd.DataFrame:
    rng = np.random.default_rng(6)
    channel = np.arange(0, 700)
    frames = []
    for condition in SPATIAL:
        for seed in SEEDS:
            for time_ms in range(0, 1000, 100):
                x, y = _channel_xy(channel, rng, 1.0 + time_ms / 300)
                frames.append(pd.DataFrame({**_ids(condition, seed), "channel": channel, "time_ms": time_ms,
                                            "x": x, "y": y}))
    return pd.concat(frames, ignore_index=True)


def input_raster() -> pd.DataFrame:
    """One spoken-digit-like sample: a few formant bands sweeping through the channels."""
    rng = np.random.default_rng(7)
    times, channels = [], []
    for centre, slope in ((150, 0.15), (380, -0.1), (560, 0.05)):
        t = rng.uniform(80, 820, 1500)
        times.append(t)
        channels.append(np.clip(centre + slope * (t - 400) + rng.normal(0, 25, t.size), 0, 699))
    frames = []
    for condition in MAIN:
        for seed in SEEDS:
            frames.append(pd.DataFrame({**_ids(condition, seed), "sample": 0, "label": 7,
                                        "time_ms": np.round(np.concatenate(times)),
                                        "channel": np.concatenate(channels).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def ridge() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    rows = []
    for condition in SPATIAL:
        for seed in SEEDS:
            for method, base in (("cv", 0.0), ("in_sample", 0.3)):
                rows.append({**_ids(condition, seed), "method": method, "network": "trained",
                             "r2": base + 0.6 + rng.normal(0, 0.05)})
                rows += [{**_ids(condition, seed), "method": method, "network": network,
                          "r2": base + offset + rng.normal(0, 0.02)}
                         for network, offset in (("random", 0.02), ("shuffled", 0.05)) for _ in range(3)]
    return _frame(rows)


def all_tables() -> dict[str, pd.DataFrame]:
    """Every aggregated table, keyed by its name in docs/architecture.md."""
    nodes, edges = network()
    return {
        "accuracy": accuracy(), "training_dynamics": training_dynamics(), "delay_histogram": delay_histogram(),
        "pruned_graph": pruned_graph(), "pruning": pruning(), "network_nodes": nodes, "network_edges": edges,
        "input_maps": input_maps(), "input_maps_time": input_maps_time(), "input_raster": input_raster(),
        "ridge": ridge(), "control_metrics": control_metrics(), "final_metrics": final_metrics(),
    }
