"""Figure 2: the learnt network layout without and with the distance cost, and how graph structure develops
over training (communicability entropy, modularity, weight entropy, small-worldness; spectral entropy if given)."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..errors import DataError
from .aggregate import mean_sd, require_columns, resolve_hidden, resolve_seed, select
from .style import band, check_labels, new_figure, no_data, panel_title, position_label, styled

_RUN = ("condition", "hidden", "seed")
# metric -> (panel title, y label, required?). Entropies are Shannon entropies in bits (log2).
METRICS = {
    "communicability_entropy": ("Communicability", "Communicability entropy (bits)", True),
    "modularity": ("Modularity", "Modularity Q", True),
    "weight_entropy": ("Weights", "Weight entropy (bits)", True),
    "small_worldness": ("Small-worldness", "Small-worldness σ", True),
    "spectral_entropy": ("Spectrum", "Spectral entropy (bits)", False),
}


def _strongest_edges(edges: pd.DataFrame, count: int) -> pd.DataFrame:
    """The `count` strongest connections by |w| (self-connections have no length and are skipped)."""
    edges = edges[edges["pre"] != edges["post"]].assign(strength=edges["weight"].abs())
    return edges.nlargest(count, "strength").sort_values("strength")  # strongest drawn last, on top


def _draw_network(ax: Axes, nodes: pd.DataFrame, edges: pd.DataFrame, *, color: str, max_strength: float,
                  limits, dt_ms: float) -> None:
    """Edges as straight lines whose width and opacity grow with |w| (scaled like the other panel)."""
    xy = nodes.set_index("neuron")[["x", "y"]] * dt_ms
    unknown = set(edges["pre"]).union(edges["post"]) - set(xy.index)
    if unknown:
        raise DataError(f"network_edges.csv names neurons absent from network_nodes.csv: {sorted(unknown)[:5]}")
    relative = (edges["strength"] / max_strength).to_numpy()
    segments = np.stack([xy.loc[edges["pre"]].to_numpy(), xy.loc[edges["post"]].to_numpy()], axis=1)
    rgba = np.tile(to_rgba(color), (len(edges), 1))
    rgba[:, 3] = 0.1 + 0.8 * relative
    ax.add_collection(LineCollection(segments, colors=rgba, linewidths=0.2 + 2.3 * relative,
                                     capstyle="round", rasterized=True))
    ax.scatter(xy["x"], xy["y"], s=9, color="black", zorder=3, linewidths=0)
    ax.set(xlim=limits, ylim=limits, aspect="equal", xlabel=position_label("x"), ylabel=position_label("y"))


def _legend(ax: Axes, labels: Mapping[str, str], colors: Mapping[str, str], max_strength: float) -> None:
    ax.axis("off")
    conditions = [Line2D([], [], color=colors[c], linewidth=2.5, label=labels[c]) for c in labels]
    first = ax.legend(handles=conditions, title="Condition", loc="upper left", alignment="left")
    ax.add_artist(first)
    widths = [Line2D([], [], color="0.2", linewidth=0.2 + 2.3 * r, alpha=0.1 + 0.8 * r,
                     label=f"{r * max_strength:.2g}") for r in (0.25, 0.5, 1.0)]
    ax.legend(handles=widths, title="|w| (A, B)", loc="lower left", alignment="left")


def _dynamics(ax: Axes, dynamics: pd.DataFrame, metric: str, labels: Mapping[str, str],
              colors: Mapping[str, str], min_seed_fraction: float) -> None:
    """Mean ± sd over seeds per epoch; late epochs reached by fewer than `min_seed_fraction` of the seeds
    (early stopping) are cut, so the curve does not jump where the average changes population."""
    rows = dynamics[dynamics["metric"] == metric]
    for condition in labels:
        stats = mean_sd(rows[rows["condition"] == condition], ["epoch"], "value")
        if stats.empty:
            continue
        stats = stats[stats["n"] >= math.ceil(min_seed_fraction * stats["n"].max())]
        band(ax, stats["epoch"], stats["mean"], stats["sd"], color=colors[condition], label=labels[condition])
    ax.set_xlabel("Epoch")


@styled
def figure2(network_nodes: pd.DataFrame, network_edges: pd.DataFrame, training_dynamics: pd.DataFrame, *,
            labels: Mapping[str, str], without_cost: str, with_cost: str,
            colors: Mapping[str, str] | None = None, hidden: int | None = None, seed: int | None = None,
            max_edges: int = 400, min_seed_fraction: float = 0.5, dt_ms: float = 1.0) -> Figure:
    """A/B draw one run each of `without_cost` and `with_cost` (seed: given or smallest); C onwards show the
    conditions of `labels` over epochs. Only the `max_edges` strongest connections are drawn, for legibility."""
    colors = check_labels(labels, colors)
    require_columns(network_nodes, "network_nodes.csv", _RUN + ("neuron", "x", "y"))
    require_columns(network_edges, "network_edges.csv", _RUN + ("pre", "post", "weight"))
    require_columns(training_dynamics, "training_dynamics.csv", _RUN + ("epoch", "metric", "value"))
    hidden = resolve_hidden(network_nodes, "network_nodes.csv", hidden)
    dynamics = select(training_dynamics, "training_dynamics.csv", hidden=hidden)

    runs = []
    for condition in (without_cost, with_cost):
        nodes = select(network_nodes, "network_nodes.csv", condition=condition, hidden=hidden)
        run = {"condition": condition, "hidden": hidden, "seed": resolve_seed(nodes, "network_nodes.csv", seed)}
        runs.append((run, select(nodes, "network_nodes.csv", **run),
                     _strongest_edges(select(network_edges, "network_edges.csv", **run), max_edges)))
    max_strength = max(edges["strength"].max() for _, _, edges in runs) or 1.0
    extent = np.concatenate([nodes[["x", "y"]].to_numpy(float).ravel() for _, nodes, _ in runs]) * dt_ms
    pad = 0.05 * (np.ptp(extent) or 1.0)
    limits = (extent.min() - pad, extent.max() + pad)

    present = [m for m in METRICS if (dynamics["metric"] == m).any()]
    missing = [m for m in METRICS if METRICS[m][2] and m not in present]
    if missing:
        raise DataError(f"training_dynamics.csv has no rows for metric(s) {missing} (hidden {hidden}).")

    fig = new_figure(11.5, 7.6)
    rows = fig.add_gridspec(2, 1, height_ratios=[1.35, 1])
    top = rows[0].subgridspec(1, 3, width_ratios=[1, 1, 0.5])
    for cell, letter, (run, nodes, edges) in zip(top, "AB", runs):
        ax = fig.add_subplot(cell)
        _draw_network(ax, nodes, edges, color=colors.get(run["condition"], "0.3"), max_strength=max_strength,
                      limits=limits, dt_ms=dt_ms)
        name = labels.get(run["condition"], run["condition"])
        panel_title(ax, letter, f"{name}, seed {run['seed']}: strongest {len(edges)} connections")
    _legend(fig.add_subplot(top[2]), labels, colors, max_strength)

    bottom = rows[1].subgridspec(1, len(present))
    for i, (cell, metric) in enumerate(zip(bottom, present)):
        ax = fig.add_subplot(cell)
        title, y_label, _ = METRICS[metric]
        _dynamics(ax, dynamics, metric, labels, colors, min_seed_fraction)
        ax.set_ylabel(y_label)
        panel_title(ax, "CDEFG"[i], title)
        if not ax.lines:
            no_data(ax, "no data for\nthese conditions")
    return fig
