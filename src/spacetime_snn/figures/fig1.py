"""Figure 1: input channels map onto space — raster, preferred input positions (weights, activity, over time),
and how well a hidden neuron's input weights predict its position (ridge R², trained vs random network)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .aggregate import mean_sd, require_columns, require_filled, resolve_hidden, resolve_seed, rows_where, select
from .style import (FONT_SIZE, REFERENCE_COLOR, SEQUENTIAL_CMAP, check_labels, new_figure, no_data,
                    panel_title, position_label, styled, wrap)

_RUN = ("condition", "hidden", "seed")


def _raster(ax: Axes, raster: pd.DataFrame) -> None:
    sample = raster["sample"].min()
    spikes = raster[raster["sample"] == sample]
    ax.scatter(spikes["time_ms"], spikes["channel"], s=0.6, color="black", linewidths=0, rasterized=True)
    ax.set_xlabel("Time (ms)")
    ax.set_ylabel("Input channel")
    panel_title(ax, "A", f"Input spikes (sample {sample}, class {spikes['label'].iloc[0]})")


def _plane(ax: Axes, maps: pd.DataFrame, nodes: pd.DataFrame | None, limits, channel_max: int, dt_ms: float,
           *, y_label: bool = True):
    """Scatter of preferred positions coloured by channel, over the hidden neurons' positions (grey rings)."""
    if nodes is not None and not nodes.empty:
        ax.scatter(nodes["x"] * dt_ms, nodes["y"] * dt_ms, s=14, facecolors="none", edgecolors=REFERENCE_COLOR,
                   linewidths=0.6)
    maps = maps.dropna(subset=["x", "y"])
    points = ax.scatter(maps["x"] * dt_ms, maps["y"] * dt_ms, c=maps["channel"], s=5, cmap=SEQUENTIAL_CMAP,
                        vmin=0, vmax=channel_max, linewidths=0, rasterized=True)
    ax.set(xlim=limits, ylim=limits, aspect="equal")
    ax.set_xlabel(position_label("x"))
    ax.set_ylabel(position_label("y") if y_label else "")
    if not y_label:
        ax.tick_params(labelleft=False)
    return points


def _limits(frames, dt_ms: float) -> tuple[float, float]:
    """One square extent for every spatial panel, so positions can be compared across B–D."""
    values = np.concatenate([f[["x", "y"]].to_numpy(float).ravel() for f in frames if f is not None])
    values = values[np.isfinite(values)] * dt_ms
    if values.size == 0:
        return -1.0, 1.0
    low, high = values.min(), values.max()
    pad = 0.05 * (high - low or 1.0)
    return low - pad, high + pad


def _time_windows(maps_time: pd.DataFrame, count: int) -> tuple[list, float, int]:
    """The time bins D shows (their start times), the bin width (ms) and the stride between shown bins: every bin
    when there are at most `count`, else every k-th from the first, k the smallest stride that fits in `count`."""
    times = np.sort(maps_time["time_ms"].unique())
    width = float(np.median(np.diff(times))) if len(times) > 1 else float("nan")
    stride = max(1, int(np.ceil(len(times) / max(1, count))))
    return list(times[::stride]), width, stride


def _window_text(start: float, width: float) -> str:
    return f"{start:g} ms" if np.isnan(width) else f"{start:g}–{start + width:g} ms"


RIDGE_METHODS = {"cv": "cross-validated", "in_sample": "in-sample\n(authors')"}


def _ridge(ax: Axes, ridge: pd.DataFrame, labels: Mapping[str, str], colors: Mapping[str, str]) -> None:
    """Bars of mean R² ± 1 sd, single networks as dots; filled = trained networks (one per seed), hatched =
    untrained networks drawn from the initial distribution, dotted = the trained weights against the trained
    positions permuted among the neurons (the two controls). One group per condition and method: cross-validated
    over neurons (this project) and in-sample (the authors')."""
    stats = mean_sd(ridge, ["condition", "method", "network"], "r2")
    shown = [c for c in labels if c in set(stats["condition"])]
    if not shown:
        no_data(ax, "no ridge data\nfor these conditions")
        return
    methods = [m for m in RIDGE_METHODS if m in set(stats["method"])]
    networks = [(network, hatch) for network, hatch in (("trained", None), ("random", "////"), ("shuffled", "...."))
                if network in set(stats["network"])]
    width, groups, ticks = 0.8 / len(networks), [], []
    for i, condition in enumerate(shown):
        for j, method in enumerate(methods):
            centre = i * (len(methods) + 0.5) + j
            groups.append((centre, condition, method))
            ticks.append((centre, f"{wrap(labels[condition])}\n{RIDGE_METHODS[method]}"))
    counts = {}
    for centre, condition, method in groups:
        for k, (network, hatch) in enumerate(networks):
            offset = (k - (len(networks) - 1) / 2) * width
            row = stats[(stats["condition"] == condition) & (stats["method"] == method)
                        & (stats["network"] == network)]
            if row.empty:
                continue
            colour = colors[condition]
            ax.bar(centre + offset, row["mean"].iloc[0], width, yerr=row["sd"].iloc[0], capsize=2,
                   color="white" if hatch else colour, edgecolor=colour, hatch=hatch, linewidth=1.0)
            values = ridge[(ridge["condition"] == condition) & (ridge["method"] == method)
                           & (ridge["network"] == network)]["r2"]
            counts.setdefault(network, set()).add(len(values))
            jitter = np.linspace(-width / 5, width / 5, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(centre + offset + jitter, values, s=6, color="black", zorder=3, linewidths=0)
    ax.axhline(0, color="black", linewidth=0.6)
    highest = max((stats["mean"] + stats["sd"]).max(), ridge["r2"].max())
    lowest = min((stats["mean"] - stats["sd"]).min(), ridge["r2"].min(), 0.0)
    ax.set_ylim(top=highest + 0.55 * (max(highest, 0.05) - lowest))  # headroom keeps the legend clear of the bars
    ax.set_xticks([t for t, _ in ticks], [text for _, text in ticks], fontsize=FONT_SIZE - 2)
    ax.set_ylabel("Ridge R² (input-weight rows → position)")

    def n_text(network: str) -> str:
        sizes = sorted(counts.get(network, ()))
        return "n = " + "/".join(map(str, sizes)) if sizes else "n = 0"

    names = {"trained": f"trained ({n_text('trained')} seeds)",
             "random": f"untrained ({n_text('random')} networks)",
             "shuffled": f"positions permuted ({n_text('shuffled')})"}
    handles = [Patch(facecolor="0.3" if hatch is None else "white", edgecolor="0.3", hatch=hatch,
                     label=names[network]) for network, hatch in networks]
    ax.legend(handles=handles, loc="upper left", ncols=2, title="bars: mean ± 1 sd; dots: single networks",
              title_fontsize=FONT_SIZE - 2, fontsize=FONT_SIZE - 2)
    panel_title(ax, "E", "Position from input weights")


@styled
def figure1(input_raster: pd.DataFrame, input_maps: pd.DataFrame, input_maps_time: pd.DataFrame,
            ridge: pd.DataFrame, *, condition: str, labels: Mapping[str, str],
            colors: Mapping[str, str] | None = None, hidden: int | None = None, seed: int | None = None,
            network_nodes: pd.DataFrame | None = None, time_panels: int = 5, dt_ms: float = 1.0) -> Figure:
    """Panels A–D show one example run (`condition`, `hidden`, `seed`, default smallest seed); panel E compares
    the conditions in `labels` over seeds. `network_nodes` (optional) draws the hidden neurons behind B–D."""
    colors = check_labels(labels, colors)
    require_columns(input_raster, "input_raster.csv", _RUN + ("sample", "label", "time_ms", "channel"))
    require_columns(input_maps, "input_maps.csv", _RUN + ("method", "channel", "x", "y"))
    require_columns(input_maps_time, "input_maps_time.csv", _RUN + ("channel", "time_ms", "x", "y"))
    require_columns(ridge, "ridge.csv", _RUN + ("method", "network", "r2"))
    require_filled(ridge, "ridge.csv", "method")
    hidden = resolve_hidden(input_maps, "input_maps.csv", hidden)
    seed = resolve_seed(select(input_maps, "input_maps.csv", condition=condition, hidden=hidden),
                        "input_maps.csv", seed)
    run = {"condition": condition, "hidden": hidden, "seed": seed}
    raster = select(input_raster, "input_raster.csv", **run)
    maps = select(input_maps, "input_maps.csv", **run)
    maps_time = rows_where(input_maps_time, **run)  # empty when no hidden spike followed an input spike
    nodes = None
    if network_nodes is not None:
        require_columns(network_nodes, "network_nodes.csv", _RUN + ("neuron", "x", "y"))
        nodes = rows_where(network_nodes, **run)
    # B and C are zoomed to the preferred positions (they sit in a small part of the space the neurons span);
    # D has limits of its own, shared by its panels.
    limits = _limits([maps], dt_ms)
    time_limits = _limits([maps_time], dt_ms) if not maps_time.empty else limits
    channel_max = int(max(maps["channel"].max(), maps_time["channel"].max() if not maps_time.empty else 0))

    fig = new_figure(11.5, 7.2)
    rows = fig.add_gridspec(2, 1, height_ratios=[1.15, 1], hspace=0.45)
    top = rows[0].subgridspec(1, 4, width_ratios=[1.35, 1, 1, 0.06], wspace=0.3)
    bottom = rows[1].subgridspec(1, 2, width_ratios=[2.3, 1.7], wspace=0.2)
    _raster(fig.add_subplot(top[0]), raster)

    points = None
    for cell, (letter, method) in zip((top[1], top[2]), (("B", "weights"), ("C", "activity"))):
        ax = fig.add_subplot(cell)
        chosen = maps[maps["method"] == method].dropna(subset=["x", "y"])
        if chosen.empty:
            no_data(ax, "no hidden spike followed an input spike:\nno activity map" if method == "activity"
                    else f"no {method} map")
        else:
            points = _plane(ax, chosen, nodes, limits, channel_max, dt_ms, y_label=letter == "B")
        panel_title(ax, letter, f"Preferred position ({method})")

    windows, width, stride = _time_windows(maps_time, time_panels) if not maps_time.empty else ([], np.nan, 1)
    # D: one frame-less axes carrying the panel title, its time bins drawn as insets side by side (a title wider
    # than one small panel would otherwise widen that panel's column).
    holder = fig.add_subplot(bottom[0])
    holder.set_axis_off()
    gap = 0.04
    width_each = (1 - gap * (max(1, len(windows)) - 1)) / max(1, len(windows))
    if not windows:
        no_data(holder, "no hidden spike followed an input spike: no activity map over time")
    for i, time_ms in enumerate(windows):
        ax = holder.inset_axes([i * (width_each + gap), 0.0, width_each, 0.9])
        ax.set_anchor("N")  # under the panel title, not centred in the row's height
        points = _plane(ax, maps_time[maps_time["time_ms"] == time_ms], nodes, time_limits, channel_max, dt_ms,
                        y_label=i == 0)
        ax.text(0.03, 0.97, _window_text(time_ms, width), transform=ax.transAxes, va="top",
                fontsize=FONT_SIZE - 1, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    shown = "every bin" if stride == 1 else f"1 bin in {stride}"
    panel_title(holder, "D", f"Preferred position by input-spike time ({shown})")
    if points is not None:  # one colour bar: B, C and D share the channel colours
        fig.colorbar(points, cax=fig.add_subplot(top[3]), label="Input channel (B–D)")

    _ridge(fig.add_subplot(bottom[1]), select(ridge, "ridge.csv", hidden=hidden), labels, colors)
    rings = "; grey rings: hidden neurons" if nodes is not None and not nodes.empty else ""
    fig.suptitle(f"A–D: {labels.get(condition, condition)} network, {hidden} hidden neurons, seed {seed}{rings}",
                 fontsize=FONT_SIZE + 1)
    return fig
