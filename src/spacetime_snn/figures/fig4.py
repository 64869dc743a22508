"""Figure 4: accuracy against parameter budget — is a spatial network's N·D position parameters a cheaper way
to learn delays than N² free delays? One line per architecture, one point per hidden size."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from .aggregate import mean_sd, require_columns
from .style import FONT_SIZE, check_labels, new_figure, styled

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _count_label(value: float, _position) -> str:
    """Log-axis tick text like "30k": only leading digits 1, 2, 3 and 5 are labelled, so labels never crowd."""
    if value <= 0:
        return ""
    exponent = np.floor(np.log10(value))
    if round(value / 10 ** exponent) not in (1, 2, 3, 5):
        return ""
    for scale, suffix in ((1e6, "M"), (1e3, "k"), (1.0, "")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


@styled
def figure4(accuracy: pd.DataFrame, *, labels: Mapping[str, str],
            colors: Mapping[str, str] | None = None) -> Figure:
    """Test accuracy (mean ± sd over seeds) vs trainable parameters (log axis) for the conditions of `labels`.
    Marker shape and the label above each group give the hidden size."""
    colors = check_labels(labels, colors)
    require_columns(accuracy, "accuracy.csv", ("condition", "hidden", "seed", "test_accuracy",
                                               "trainable_params"))
    shown = accuracy[accuracy["condition"].isin(list(labels))]
    percent = shown.assign(percent=100 * shown["test_accuracy"])
    stats = mean_sd(percent, ["condition", "hidden"], "percent")
    params = shown.groupby(["condition", "hidden"])["trainable_params"].mean().rename("params")
    stats = stats.join(params, on=["condition", "hidden"])
    sizes = sorted(stats["hidden"].unique())
    markers = dict(zip(sizes, _MARKERS * (len(sizes) // len(_MARKERS) + 1)))

    fig = new_figure(7.0, 4.6)
    ax = fig.add_subplot()
    for condition in labels:
        rows = stats[stats["condition"] == condition].sort_values("params")
        if rows.empty:
            continue
        colour = colors[condition]
        ax.errorbar(rows["params"], rows["mean"], yerr=rows["sd"], color=colour, capsize=2.5, linewidth=1.3,
                    label=labels[condition])
        for _, row in rows.iterrows():
            ax.plot(row["params"], row["mean"], marker=markers[row["hidden"]], color=colour, markersize=6,
                    markeredgecolor="white", markeredgewidth=0.6, linestyle="none")
    for size in sizes:  # one size label above each group of points, instead of one label per point
        group = stats[stats["hidden"] == size]
        ax.annotate(f"N = {size}", (np.exp(np.log(group["params"]).mean()), (group["mean"] + group["sd"]).max()),
                    xytext=(0, 8), textcoords="offset points", ha="center", fontsize=FONT_SIZE - 1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.xaxis.set_minor_formatter(FuncFormatter(_count_label))
    ax.margins(x=0.08, y=0.12)
    ax.set(xlabel="Trainable parameters (log scale)", ylabel="Test accuracy (%)")
    ax.set_title("Architecture comparison", loc="left")
    shapes = [Line2D([], [], marker=markers[s], color="0.3", linestyle="none", label=str(s)) for s in sizes]
    fig.legend(title="Architecture", loc="outside right upper", alignment="left")
    fig.legend(handles=shapes, title="Hidden neurons", loc="outside right lower", alignment="left")
    return fig
