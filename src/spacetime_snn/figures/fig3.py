"""Figure 3: pruning costs the spatial network less accuracy (A1, A2), learnt delays are distributed differently
(B), and removing the longest delays leaves a more modular (C) and small-world (D) graph in spatial networks.

Each panel carries its control: random removal of as many connections beside length pruning (A2, dashed: what
length pruning gives when the positions carry no information), the initial networks (epoch 0: random positions)
in a panel of their own under B's histogram (B2) and dashed in C and D. Panel B follows the authors'
presentation by default (mean count per network, about 50 equal bins from 0 to the longest delay, linear y;
`histogram_scale="log"` keeps the rare long delays visible)."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..analysis.controls import INITIAL
from ..errors import ConfigError, DataError
from .aggregate import mean_sd, require_columns, require_filled, resolve_hidden, select
from .style import BAND_ALPHA, FONT_SIZE, band, check_labels, new_figure, no_data, panel_title, styled

_RUN = ("condition", "hidden", "seed")
# pruning kind -> (panel title, x label)
KINDS = {"magnitude": ("Pruning the weakest |w|", "Connections removed (%)"),
         "length": ("Pruning the longest delays", "Longest delays removed (%)")}
HISTOGRAM_SCALES = ("linear", "log")
GRAPH = "binary graph: delay < percentile"


def _pruning(ax: Axes, pruning: pd.DataFrame, kind: str, labels: Mapping[str, str], colors: Mapping[str, str],
             *, linestyle: str = "-", bands: bool = True) -> None:
    """Test accuracy after removing a fraction of connections of one `kind` (magnitude, length, random), mean ±
    sd over seeds (a control: its mean, without band); the unpruned accuracy (fraction 0, shared by every kind)
    starts each curve."""
    unpruned = pruning[pruning["fraction_removed"] == 0].drop_duplicates(subset=list(_RUN))
    rows = pd.concat([unpruned.assign(kind=kind), pruning[(pruning["kind"] == kind)
                                                           & (pruning["fraction_removed"] > 0)]])
    for condition in labels:
        chosen = rows[rows["condition"] == condition]
        if chosen[chosen["fraction_removed"] > 0].empty:
            continue
        stats = mean_sd(chosen.assign(percent=100 * chosen["test_accuracy"]), ["fraction_removed"], "percent")
        if bands:
            band(ax, 100 * stats["fraction_removed"], stats["mean"], stats["sd"], color=colors[condition],
                 marker="o", linestyle=linestyle)
        else:
            ax.plot(100 * stats["fraction_removed"], stats["mean"], color=colors[condition], linestyle=linestyle,
                    marker="x", markersize=3.5, linewidth=1.0)


def _edges(bins: pd.DataFrame) -> np.ndarray:
    """Contiguous bin edges from (bin_start, bin_end) rows; gaps become empty bins, overlaps are an error."""
    starts, ends = bins["bin_start"].to_numpy(float), bins["bin_end"].to_numpy(float)
    if np.any(ends <= starts) or np.any(starts[1:] < ends[:-1]):
        raise DataError("delay_histogram.csv: bins overlap or have bin_end <= bin_start; runs of one "
                        "condition must share the same histogram bins.")
    return np.unique(np.concatenate([starts, ends]))


def merged_histogram(rows: pd.DataFrame, target_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(edges, mean count per network) of one condition's per-run histograms, consecutive bins merged so that
    about `target_bins` equal bins span 0 to the longest delay (the authors: 50). Counts are summed over runs and
    divided by the number of runs (the authors' counts / 20 seeds)."""
    bins = rows.groupby(["bin_start", "bin_end"], as_index=False)["count"].sum().sort_values("bin_start")
    edges = _edges(bins)
    counts = np.zeros(len(edges) - 1)
    counts[np.searchsorted(edges, bins["bin_start"].to_numpy(float))] = bins["count"].to_numpy(float)
    occupied = np.flatnonzero(counts)
    counts = counts[: occupied[-1] + 1] if occupied.size else counts[:1]
    edges = edges[: len(counts) + 1]
    group = max(1, math.ceil(len(counts) / target_bins))
    padded = np.concatenate([counts, np.zeros((-len(counts)) % group)])
    merged = padded.reshape(-1, group).sum(axis=1)
    width = edges[1] - edges[0]
    merged_edges = edges[0] + np.arange(len(merged) + 1) * group * width
    return merged_edges, merged / rows["seed"].nunique()


def _delay_histogram(ax: Axes, histogram: pd.DataFrame, network: str, labels: Mapping[str, str],
                     colors: Mapping[str, str], dt_ms: float, scale: str, target_bins: int) -> None:
    """Mean count per network in ~`target_bins` bins, of the trained networks or of their initial networks (one
    panel each: the initial non-spatial networks' all-zero delays would set a shared y axis). Conditions that start
    from the same initial networks give identical curves: a repeat is dashed over the first, colours alternating."""
    drawn: list[np.ndarray] = []
    for condition in labels:
        rows = histogram[(histogram["condition"] == condition) & (histogram["network"] == network)]
        if rows.empty or rows["count"].sum() == 0:
            continue
        edges, counts = merged_histogram(rows, target_bins)
        values = np.where(counts > 0, counts, np.nan) if scale == "log" else counts
        curve = np.concatenate([edges, counts])
        repeat = any(c.shape == curve.shape and np.allclose(c, curve) for c in drawn)
        ax.stairs(values, edges * dt_ms, color=colors[condition], linewidth=1.5, baseline=None,
                  linestyle=(0, (3, 3)) if repeat else "-")
        drawn.append(curve)
    ax.set_yscale(scale)
    ax.set_ylabel(f"Connections per network\n(mean over seeds; {scale})")


def _clamp_note(ax: Axes, final_metrics: pd.DataFrame | None, clamp_steps: float | None,
                labels: Mapping[str, str], colors: Mapping[str, str], dt_ms: float) -> None:
    """Say per condition which share of its trained delays sits at the clamp (the longest delay a connection can
    have, where no gradient reaches it): mean over seeds (largest run); where any does, mark the clamp dotted."""
    if final_metrics is None or final_metrics.empty:
        return
    shares = final_metrics[final_metrics["metric"] == "delay_clamp_max_share"].dropna(subset=["value"])
    lines = []
    for condition in labels:
        values = 100 * shares.loc[shares["condition"] == condition, "value"].to_numpy(float)
        if values.size:
            lines.append((condition, f"{labels[condition]}: {values.mean():.1f} % ({values.max():.1f} %)"))
    if not lines:
        return
    at_clamp = clamp_steps is not None and float(shares["value"].max()) > 0
    if at_clamp:
        ax.axvline(clamp_steps * dt_ms, color="0.45", linestyle=":", linewidth=1.0)
    where = f" ≥ {clamp_steps * dt_ms:g} ms" + (", dotted" if at_clamp else "") if clamp_steps is not None else ""
    ax.text(0.98, 0.97, f"at the clamp{where}: mean (largest run)", transform=ax.transAxes, ha="right",
            va="top", fontsize=FONT_SIZE - 1.5)
    for row, (condition, text) in enumerate(lines, start=1):
        ax.text(0.98, 0.97 - 0.1 * row, text, transform=ax.transAxes, ha="right", va="top",
                fontsize=FONT_SIZE - 1.5, color=colors[condition])


def _pruned_metric(ax: Axes, graph: pd.DataFrame, column: str, labels: Mapping[str, str],
                   colors: Mapping[str, str]) -> None:
    """Mean ± sd over seeds of the trained networks' pruned graph; dashed: their initial networks (undefined
    points, e.g. the empty graph of all-zero initial delays, are left out; an initial curve identical to one
    already drawn, from conditions that share their initial networks, is dashed in the gaps of the first)."""
    drawn: list[pd.DataFrame] = []
    for condition in labels:
        for network in ("trained", INITIAL):
            rows = graph[(graph["condition"] == condition) & (graph["network"] == network)].dropna(subset=[column])
            if (rows["fraction_removed"] > 0).sum() == 0:
                continue  # nothing pruned to show (e.g. the empty graphs of all-zero initial delays)
            stats = mean_sd(rows, ["fraction_removed"], column)
            if network == "trained":
                band(ax, 100 * stats["fraction_removed"], stats["mean"], stats["sd"], color=colors[condition],
                     marker="o")
            else:
                curve = stats[["fraction_removed", "mean"]].to_numpy(float)
                repeat = any(c.shape == curve.shape and np.allclose(c, curve) for c in drawn)
                drawn.append(curve)
                ax.plot(100 * stats["fraction_removed"], stats["mean"], color=colors[condition],
                        linestyle=(3, (3, 3)) if repeat else (0, (3, 3)), linewidth=1.0, marker="x",
                        markersize=3.5)
    ax.set_xlabel("Longest delays removed (%)")


def _key(fig: Figure, labels: Mapping[str, str], colors: Mapping[str, str], seeds: Mapping[str, int]) -> None:
    handles = [Line2D([], [], color=colors[c], linewidth=2.5, label=f"{labels[c]} (n = {seeds.get(c, 0)})")
               for c in labels]
    handles += [Line2D([], [], color="0.3", marker="o", markersize=3.5, label="trained: mean over seeds"),
                Patch(facecolor="0.3", alpha=BAND_ALPHA, label="± 1 sd over seeds"),
                Line2D([], [], color="0.3", linestyle="--", marker="x", markersize=3.5, linewidth=1.0,
                       label="control (mean): A2 random removal, C, D initial networks\n"
                             "(coinciding lines: spatial conditions start from one network per seed)")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3)


@styled
def figure3(pruning: pd.DataFrame, delay_histogram: pd.DataFrame, pruned_graph: pd.DataFrame, *,
            labels: Mapping[str, str], colors: Mapping[str, str] | None = None, hidden: int | None = None,
            dt_ms: float = 1.0, histogram_scale: str = "linear", histogram_bins: int = 50,
            self_connections: str = "keep", final_metrics: pd.DataFrame | None = None,
            clamp_steps: float | None = None) -> Figure:
    """All panels show the conditions of `labels` (mean ± sd over seeds) at one hidden size, with their controls
    dashed. `self_connections` only names what the histogram and the graphs count. With `final_metrics`
    (its delay_clamp_max_share rows) and `clamp_steps` (model.max_delay_steps), B1 marks the clamp and gives each
    condition's share of delays held there."""
    colors = check_labels(labels, colors)
    if histogram_scale not in HISTOGRAM_SCALES:
        raise ConfigError(f"histogram_scale must be one of {HISTOGRAM_SCALES}, got {histogram_scale!r}")
    if histogram_bins < 1:
        raise ConfigError(f"histogram_bins must be at least 1, got {histogram_bins}")
    require_columns(pruning, "pruning.csv", _RUN + ("kind", "fraction_removed", "test_accuracy"))
    require_columns(delay_histogram, "delay_histogram.csv", _RUN + ("network", "bin_start", "bin_end", "count"))
    require_columns(pruned_graph, "pruned_graph.csv", _RUN + ("network", "fraction_removed", "modularity",
                                                               "small_worldness"))
    require_filled(delay_histogram, "delay_histogram.csv", "network")
    require_filled(pruned_graph, "pruned_graph.csv", "network")
    hidden = resolve_hidden(pruning, "pruning.csv", hidden)
    pruning = select(pruning, "pruning.csv", hidden=hidden)
    histogram = select(delay_histogram, "delay_histogram.csv", hidden=hidden)
    graph = select(pruned_graph, "pruned_graph.csv", hidden=hidden)
    seeds = pruning.groupby("condition")["seed"].nunique().to_dict()
    if final_metrics is not None:
        require_columns(final_metrics, "final_metrics.csv", _RUN + ("metric", "value"))
        final_metrics = select(final_metrics, "final_metrics.csv", hidden=hidden)

    fig = new_figure(9.5, 8.6)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1])
    pair = grid[0, 0].subgridspec(1, 2)
    ax_a = fig.add_subplot(pair[0])
    ax_a2 = fig.add_subplot(pair[1], sharey=ax_a)
    histograms = grid[0, 1].subgridspec(2, 1, height_ratios=[1.5, 1])
    ax_b = fig.add_subplot(histograms[0])
    ax_b2 = fig.add_subplot(histograms[1], sharex=ax_b)
    ax_c, ax_d = (fig.add_subplot(grid[i]) for i in ((1, 0), (1, 1)))
    _pruning(ax_a, pruning, "magnitude", labels, colors)
    ax_a.set(xlabel=KINDS["magnitude"][1], ylabel="Test accuracy (%)")
    _pruning(ax_a2, pruning, "length", labels, colors)
    _pruning(ax_a2, pruning, "random", labels, colors, linestyle="--", bands=False)
    ax_a2.set_xlabel(KINDS["length"][1])
    ax_a2.tick_params(labelleft=False)
    _delay_histogram(ax_b, histogram, "trained", labels, colors, dt_ms, histogram_scale, histogram_bins)
    ax_b.tick_params(labelbottom=False)
    _clamp_note(ax_b, final_metrics, clamp_steps, labels, colors, dt_ms)
    _delay_histogram(ax_b2, histogram, INITIAL, labels, colors, dt_ms, histogram_scale, histogram_bins)
    ax_b2.set_xlabel("Delay (ms)")
    _pruned_metric(ax_c, graph, "modularity", labels, colors)
    ax_c.set_ylabel(f"Modularity Q\n({GRAPH})")
    _pruned_metric(ax_d, graph, "small_worldness", labels, colors)
    ax_d.set_ylabel(f"Small-worldness σ\n({GRAPH})")
    self_text = "with" if self_connections == "keep" else "without"
    titles = (("A1", KINDS["magnitude"][0]), ("A2", KINDS["length"][0]),
              ("B1", f"Delays after training ({self_text} self-connections)"),
              ("B2", "Delays of the initial networks (epoch 0)"),
              ("C", "Modularity vs delay pruning"), ("D", "Small-worldness vs delay pruning"))
    for ax, (letter, title) in zip((ax_a, ax_a2, ax_b, ax_b2, ax_c, ax_d), titles):
        panel_title(ax, letter, title)
        if not ax.lines and not ax.patches:
            no_data(ax, "no data for\nthese conditions")
    _key(fig, labels, colors, seeds)
    fig.suptitle("C, D: the graph left after removing the longest delays (0 %: every pair connected, Q = 0 and "
                 "σ = 1 by definition)", fontsize=FONT_SIZE)
    return fig
