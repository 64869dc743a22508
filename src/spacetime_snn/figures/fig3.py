"""Figure 3: pruning costs the spatial network less accuracy (A), learnt delays are distributed differently (B),
and removing the longest delays leaves a more modular (C) and small-world (D) graph in spatial networks."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..errors import DataError
from .aggregate import mean_sd, require_columns, resolve_hidden, select
from .style import band, check_labels, new_figure, no_data, panel_title, styled

_RUN = ("condition", "hidden", "seed")
# pruning kind -> (panel title, x label)
KINDS = {"magnitude": ("Pruning weakest |w|", "Connections removed (%)"),
         "length": ("Pruning longest delays", "Longest delays removed (%)")}


def _pruning(ax: Axes, pruning: pd.DataFrame, kind: str, labels: Mapping[str, str],
             colors: Mapping[str, str]) -> None:
    """Test accuracy after removing a fraction of connections of one `kind`, mean ± sd over seeds."""
    rows = pruning[pruning["kind"] == kind]
    for condition in labels:
        chosen = rows[rows["condition"] == condition]
        if chosen.empty:
            continue
        stats = mean_sd(chosen.assign(percent=100 * chosen["test_accuracy"]), ["fraction_removed"], "percent")
        band(ax, 100 * stats["fraction_removed"], stats["mean"], stats["sd"], color=colors[condition],
             marker="o")
    ax.set_xlabel(KINDS[kind][1])


def _edges(bins: pd.DataFrame) -> np.ndarray:
    """Contiguous bin edges from (bin_start, bin_end) rows; gaps become empty bins, overlaps are an error."""
    starts, ends = bins["bin_start"].to_numpy(float), bins["bin_end"].to_numpy(float)
    if np.any(ends <= starts) or np.any(starts[1:] < ends[:-1]):
        raise DataError("delay_histogram.csv: bins overlap or have bin_end <= bin_start; runs of one "
                        "condition must share the same histogram bins.")
    return np.unique(np.concatenate([starts, ends]))


def _delay_histogram(ax: Axes, histogram: pd.DataFrame, labels: Mapping[str, str],
                     colors: Mapping[str, str], dt_ms: float) -> None:
    """Counts summed over seeds and normalised per condition; log scale, so rare long delays stay visible."""
    for condition in labels:
        rows = histogram[histogram["condition"] == condition]
        if rows.empty or rows["count"].sum() == 0:
            continue
        bins = rows.groupby(["bin_start", "bin_end"], as_index=False)["count"].sum().sort_values("bin_start")
        edges = _edges(bins)
        fraction = np.zeros(len(edges) - 1)
        fraction[np.searchsorted(edges, bins["bin_start"].to_numpy(float))] = (bins["count"] / bins["count"].sum()).to_numpy()
        ax.stairs(np.where(fraction > 0, fraction, np.nan), edges * dt_ms, color=colors[condition],
                  linewidth=1.5, baseline=None)
    ax.set_yscale("log")
    ax.set(xlabel="Delay (ms)", ylabel="Fraction of connections")


def _pruned_metric(ax: Axes, graph: pd.DataFrame, column: str, labels: Mapping[str, str],
                   colors: Mapping[str, str]) -> None:
    for condition in labels:
        rows = graph[graph["condition"] == condition].dropna(subset=[column])
        if rows.empty:
            continue
        stats = mean_sd(rows, ["fraction_removed"], column)
        band(ax, 100 * stats["fraction_removed"], stats["mean"], stats["sd"], color=colors[condition],
             marker="o")
    ax.set_xlabel("Longest delays removed (%)")


@styled
def figure3(pruning: pd.DataFrame, delay_histogram: pd.DataFrame, pruned_graph: pd.DataFrame, *,
            labels: Mapping[str, str], colors: Mapping[str, str] | None = None, hidden: int | None = None,
            dt_ms: float = 1.0) -> Figure:
    """All panels show the conditions of `labels` (mean ± sd over seeds) at one hidden size."""
    colors = check_labels(labels, colors)
    require_columns(pruning, "pruning.csv", _RUN + ("kind", "fraction_removed", "test_accuracy"))
    require_columns(delay_histogram, "delay_histogram.csv", _RUN + ("bin_start", "bin_end", "count"))
    require_columns(pruned_graph, "pruned_graph.csv", _RUN + ("fraction_removed", "modularity",
                                                               "small_worldness"))
    hidden = resolve_hidden(pruning, "pruning.csv", hidden)
    pruning = select(pruning, "pruning.csv", hidden=hidden)
    histogram = select(delay_histogram, "delay_histogram.csv", hidden=hidden)
    graph = select(pruned_graph, "pruned_graph.csv", hidden=hidden)

    fig = new_figure(9.0, 7.4)
    grid = fig.add_gridspec(2, 2)
    pair = grid[0, 0].subgridspec(1, 2)
    ax_a = fig.add_subplot(pair[0])
    ax_a2 = fig.add_subplot(pair[1], sharey=ax_a)
    ax_b, ax_c, ax_d = (fig.add_subplot(grid[i]) for i in ((0, 1), (1, 0), (1, 1)))
    _pruning(ax_a, pruning, "magnitude", labels, colors)
    ax_a.set_ylabel("Test accuracy (%)")
    _pruning(ax_a2, pruning, "length", labels, colors)
    ax_a2.tick_params(labelleft=False)
    ax_a2.set_title(KINDS["length"][0], loc="left")
    _delay_histogram(ax_b, histogram, labels, colors, dt_ms)
    _pruned_metric(ax_c, graph, "modularity", labels, colors)
    ax_c.set_ylabel("Modularity Q")
    _pruned_metric(ax_d, graph, "small_worldness", labels, colors)
    ax_d.set_ylabel("Small-worldness σ")
    titles = (KINDS["magnitude"][0], "Delays after training", "Modularity vs delay pruning",
              "Small-worldness vs delay pruning")
    for ax, letter, title in zip((ax_a, ax_b, ax_c, ax_d), "ABCD", titles):
        panel_title(ax, letter, title)
        if not ax.lines and not ax.patches:
            no_data(ax, "no data for\nthese conditions")
    handles = [Line2D([], [], color=colors[c], linewidth=2.5, label=labels[c]) for c in labels]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return fig
