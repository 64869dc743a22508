"""Figure 2: the learnt network layout without and with the distance cost, and how graph structure develops
over training (communicability entropy, modularity, weight entropy, small-worldness σ and the authors' clustering
ratio; spectral entropy if given), beside the geometry-only control (the trained weights shuffled)."""

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
from matplotlib.patches import Patch

from ..analysis.controls import SHUFFLED
from ..errors import DataError
from .aggregate import mean_sd, require_columns, resolve_hidden, resolve_seed, select
from .style import (BAND_ALPHA, FONT_SIZE, band, check_labels, new_figure, no_data, panel_title, position_label,
                    styled)

CONTROL_MARKER = "D"  # the geometry-only control of the selected network (C-G)
_RUN = ("condition", "hidden", "seed")
# metric -> (panel letter, panel title, y label, required?). Entropies are Shannon entropies in bits (log2). The
# y label names the graph each metric is computed on; "{binary}" is filled in with the binary graph of sigma.
METRICS = {
    "communicability_entropy": ("C", "Communicability", "Communicability entropy (bits)\nof |W|, weighted", True),
    "modularity": ("D", "Modularity", "Modularity Q\nof |W|, weighted (Louvain)", True),
    "weight_entropy": ("E", "Weights", "Weight entropy (bits)\nof the rows of |W|", True),
    "small_worldness": ("F1", "Small-worldness σ", "Small-worldness σ\nof {binary}", True),
    "clustering_ratio": ("F2", "Clustering ratio (authors' v2)",
                         "Clustering ratio C / C(shuffled)\nof |W| / max, weighted", False),
    "spectral_entropy": ("G", "Spectrum", "Spectral entropy (bits)\nof the eigenvalues of W", False),
}


def _binary_graph_text(binary_keep_fraction: float | None) -> str:
    if binary_keep_fraction is None:
        return "every edge of |W|, binary"
    return f"the strongest {100 * binary_keep_fraction:g} % of |W|, binary"


def _strongest_edges(edges: pd.DataFrame, count: int) -> pd.DataFrame:
    """The `count` strongest connections by |w| (self-connections have no length and are skipped)."""
    edges = edges[edges["pre"] != edges["post"]].assign(strength=edges["weight"].abs())
    return edges.nlargest(count, "strength").sort_values("strength")  # strongest drawn last, on top


def _edge_lengths(nodes: pd.DataFrame, edges: pd.DataFrame, dt_ms: float) -> np.ndarray:
    """Length (ms, first two coordinates) of each edge between distinct neurons."""
    xy = nodes.set_index("neuron")[["x", "y"]] * dt_ms
    unknown = set(edges["pre"]).union(edges["post"]) - set(xy.index)
    if unknown:
        raise DataError(f"network_edges.csv names neurons absent from network_nodes.csv: {sorted(unknown)[:5]}")
    return np.linalg.norm(xy.loc[edges["pre"]].to_numpy() - xy.loc[edges["post"]].to_numpy(), axis=1)


def locality(nodes: pd.DataFrame, edges: pd.DataFrame, drawn: pd.DataFrame, dt_ms: float = 1.0) -> dict[str, float]:
    """What the drawing shows about locality, measured: mean length (ms) of the drawn (strongest) edges and of all
    edges, and Pearson's r between |w| and length over all edges (negative: strong connections are short)."""
    edges = edges[edges["pre"] != edges["post"]]
    lengths = _edge_lengths(nodes, edges, dt_ms)
    strength = edges["weight"].abs().to_numpy(float)
    r = float(np.corrcoef(strength, lengths)[0, 1]) if len(edges) > 2 and strength.std() > 0 else float("nan")
    return {"drawn_ms": float(_edge_lengths(nodes, drawn, dt_ms).mean()), "all_ms": float(lengths.mean()), "r": r}


def _draw_network(ax: Axes, nodes: pd.DataFrame, edges: pd.DataFrame, *, color: str, max_strength: float,
                  limits, dt_ms: float) -> None:
    """Edges as straight lines whose width and opacity grow with |w| (scaled like the other panel)."""
    xy = nodes.set_index("neuron")[["x", "y"]] * dt_ms
    _edge_lengths(nodes, edges, dt_ms)  # checks that every drawn neuron has a position
    relative = (edges["strength"] / max_strength).to_numpy()
    segments = np.stack([xy.loc[edges["pre"]].to_numpy(), xy.loc[edges["post"]].to_numpy()], axis=1)
    rgba = np.tile(to_rgba(color), (len(edges), 1))
    rgba[:, 3] = 0.1 + 0.8 * relative
    ax.add_collection(LineCollection(segments, colors=rgba, linewidths=0.2 + 2.3 * relative,
                                     capstyle="round", rasterized=True))
    ax.scatter(xy["x"], xy["y"], s=9, color="black", zorder=3, linewidths=0)
    ax.set(xlim=limits, ylim=limits, aspect="equal", xlabel=position_label("x"), ylabel=position_label("y"))


def _legend(ax: Axes, labels: Mapping[str, str], colors: Mapping[str, str], max_strength: float,
            seeds: Mapping[str, int]) -> None:
    ax.axis("off")
    conditions = [Line2D([], [], color=colors[c], linewidth=2.5, label=f"{labels[c]} (n = {seeds.get(c, 0)})")
                  for c in labels]
    first = ax.legend(handles=conditions, title="Condition (n = seeds)", loc="upper left", alignment="left")
    ax.add_artist(first)
    widths = [Line2D([], [], color="0.2", linewidth=0.2 + 2.3 * r, alpha=0.1 + 0.8 * r,
                     label=f"{r * max_strength:.2g}") for r in (0.25, 0.5, 1.0)]
    ax.legend(handles=widths, title="|w| (A, B)", loc="lower left", alignment="left")


def _dynamics(ax: Axes, dynamics: pd.DataFrame, controls: pd.DataFrame | None, metric: str,
              labels: Mapping[str, str], colors: Mapping[str, str], min_seed_fraction: float) -> None:
    """Mean ± sd over seeds per epoch; late epochs reached by fewer than `min_seed_fraction` of the seeds
    (early stopping) are cut, so the curve does not jump where the average changes population. The geometry-only
    control (the selected network's weights shuffled over its geometry) is a property of the trained network,
    not of training: one hollow marker with its ± 1 sd bar just right of the last epoch, not a line across all."""
    rows = dynamics[dynamics["metric"] == metric]
    drawn = [(condition, stats) for condition in labels
             if not (stats := mean_sd(rows[rows["condition"] == condition], ["epoch"], "value")).empty]
    last = max((stats["epoch"].max() for _, stats in drawn), default=0)
    for k, (condition, stats) in enumerate(drawn):
        stats = stats[stats["n"] >= math.ceil(min_seed_fraction * stats["n"].max())]
        band(ax, stats["epoch"], stats["mean"], stats["sd"], color=colors[condition], label=labels[condition])
        if controls is not None:
            shuffled = controls[(controls["condition"] == condition) & (controls["metric"] == metric)
                                & (controls["network"] == SHUFFLED)]["value"].dropna()
            if not shuffled.empty:
                x = last + (0.6 + 0.45 * k) * max(1.0, last / 16)
                ax.errorbar([x], [shuffled.mean()], yerr=[shuffled.std(ddof=1) if len(shuffled) > 1 else 0.0],
                            color=colors[condition], marker=CONTROL_MARKER, markerfacecolor="white",
                            markersize=5, capsize=2, linewidth=1.0, linestyle="none")
    ax.set_xlabel("Epoch (0 = initial network)")


def _key(ax: Axes, has_controls: bool) -> None:
    """What the lines, bands and dashes of C onwards mean."""
    handles = [Line2D([], [], color="0.3", linewidth=1.5, label="mean over seeds"),
               Patch(facecolor="0.3", alpha=BAND_ALPHA, label="± 1 sd over seeds")]
    if has_controls:
        handles.append(Line2D([], [], color="0.3", marker=CONTROL_MARKER, markerfacecolor="white", markersize=5,
                              linestyle="none", label="control, right of the last\nepoch: selected network's\n"
                                                      "weights shuffled, geometry\nkept (mean ± 1 sd over seeds)"))
    ax.legend(handles=handles, loc="center left", alignment="left", title="C–G")
    ax.axis("off")


@styled
def figure2(network_nodes: pd.DataFrame, network_edges: pd.DataFrame, training_dynamics: pd.DataFrame, *,
            labels: Mapping[str, str], without_cost: str, with_cost: str,
            colors: Mapping[str, str] | None = None, hidden: int | None = None, seed: int | None = None,
            max_edges: int = 400, min_seed_fraction: float = 0.5, dt_ms: float = 1.0,
            control_metrics: pd.DataFrame | None = None, binary_keep_fraction: float | None = 0.1,
            self_connections: str = "keep") -> Figure:
    """A/B draw one run each of `without_cost` and `with_cost` (seed: given or smallest); C onwards show the
    conditions of `labels` over epochs, with the geometry-only control of `control_metrics` (optional) dashed.
    Only the `max_edges` strongest connections are drawn, for legibility; the panel titles give the measured
    locality (mean length of drawn vs all edges, r of |w| with length). `binary_keep_fraction` and
    `self_connections` only name the graphs the metrics were computed on."""
    colors = check_labels(labels, colors)
    require_columns(network_nodes, "network_nodes.csv", _RUN + ("neuron", "x", "y"))
    require_columns(network_edges, "network_edges.csv", _RUN + ("pre", "post", "weight"))
    require_columns(training_dynamics, "training_dynamics.csv", _RUN + ("epoch", "metric", "value"))
    if control_metrics is not None:
        require_columns(control_metrics, "control_metrics.csv", _RUN + ("network", "metric", "value"))
    hidden = resolve_hidden(network_nodes, "network_nodes.csv", hidden)
    dynamics = select(training_dynamics, "training_dynamics.csv", hidden=hidden)
    controls = None if control_metrics is None else control_metrics[control_metrics["hidden"] == hidden]

    runs = []
    for condition in (without_cost, with_cost):
        nodes = select(network_nodes, "network_nodes.csv", condition=condition, hidden=hidden)
        run = {"condition": condition, "hidden": hidden, "seed": resolve_seed(nodes, "network_nodes.csv", seed)}
        nodes = select(nodes, "network_nodes.csv", **run)
        edges = select(network_edges, "network_edges.csv", **run)
        drawn = _strongest_edges(edges, max_edges)
        runs.append((run, nodes, drawn, locality(nodes, edges, drawn, dt_ms)))
    max_strength = max(edges["strength"].max() for _, _, edges, _ in runs) or 1.0
    extent = np.concatenate([nodes[["x", "y"]].to_numpy(float).ravel() for _, nodes, _, _ in runs]) * dt_ms
    pad = 0.05 * (np.ptp(extent) or 1.0)
    limits = (extent.min() - pad, extent.max() + pad)

    present = [m for m in METRICS if (dynamics["metric"] == m).any()]
    missing = [m for m in METRICS if METRICS[m][3] and m not in present]
    if missing:
        raise DataError(f"training_dynamics.csv has no rows for metric(s) {missing} (hidden {hidden}).")
    seeds = dynamics.groupby("condition")["seed"].nunique().to_dict()

    columns = 3
    metric_rows = math.ceil(len(present) / columns)
    fig = new_figure(11.5, 5.2 + 2.7 * metric_rows)
    rows = fig.add_gridspec(2, 1, height_ratios=[1.55, 1.05 * metric_rows])
    top = rows[0].subgridspec(1, 3, width_ratios=[1, 1, 0.62])
    for cell, letter, (run, nodes, edges, measured) in zip(top, "AB", runs):
        ax = fig.add_subplot(cell)
        _draw_network(ax, nodes, edges, color=colors.get(run["condition"], "0.3"), max_strength=max_strength,
                      limits=limits, dt_ms=dt_ms)
        name = labels.get(run["condition"], run["condition"])
        panel_title(ax, letter, f"{name}, seed {run['seed']}:\nstrongest {len(edges)} connections")
        ax.text(0.02, 0.02, f"mean length: drawn {measured['drawn_ms']:.1f} ms, all {measured['all_ms']:.1f} ms\n"
                f"r(|w|, length), all edges: {measured['r']:.2f}", transform=ax.transAxes, fontsize=FONT_SIZE - 1,
                va="bottom", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.5})
    side = top[2].subgridspec(2, 1, height_ratios=[1.2, 1])
    _legend(fig.add_subplot(side[0]), labels, colors, max_strength, seeds)
    has_controls = controls is not None and (controls["network"] == SHUFFLED).any()
    _key(fig.add_subplot(side[1]), has_controls)

    bottom = rows[1].subgridspec(metric_rows, columns)
    binary = _binary_graph_text(binary_keep_fraction)
    for i, metric in enumerate(present):
        ax = fig.add_subplot(bottom[i // columns, i % columns])
        letter, title, y_label, _ = METRICS[metric]
        _dynamics(ax, dynamics, controls, metric, labels, colors, min_seed_fraction)
        ax.set_ylabel(y_label.format(binary=binary))
        panel_title(ax, letter, title)
        if not ax.lines:
            no_data(ax, "no data for\nthese conditions")
    diagonal = "kept" if self_connections == "keep" else "excluded"
    fig.suptitle(f"Graphs are of the recurrent weights W (self-connections {diagonal}); lengths in ms "
                 f"(1 distance unit = 1 step of {dt_ms:g} ms)", fontsize=FONT_SIZE)
    return fig
