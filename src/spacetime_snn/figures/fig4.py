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
    """Test accuracy (mean ± sd over seeds) vs trainable parameters of the recurrent layer (log axis) for the
    conditions of `labels`. Marker shape and the label above each group give the hidden size; a hollow marker is a
    single seed (no error bar); the seed count of every point is written beside it unless all are equal, when the
    title gives it once (and says that no error bars are drawn when every point is one seed). One legend, in one
    column: architectures, then hidden sizes."""
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
    uniform_n = stats["n"].nunique() == 1

    fig = new_figure(7.4, 4.9)
    ax = fig.add_subplot()
    for condition in labels:
        rows = stats[stats["condition"] == condition].sort_values("params")
        if rows.empty:
            continue
        colour = colors[condition]
        ax.errorbar(rows["params"], rows["mean"], yerr=rows["sd"], color=colour, capsize=2.5, linewidth=1.3)
        for _, row in rows.iterrows():
            single = row["n"] == 1
            ax.plot(row["params"], row["mean"], marker=markers[row["hidden"]], linestyle="none", markersize=6,
                    color=colour, markerfacecolor="white" if single else colour,
                    markeredgecolor=colour if single else "white", markeredgewidth=1.0 if single else 0.6)
            if not uniform_n:
                ax.annotate(f"n={int(row['n'])}", (row["params"], row["mean"]), xytext=(4, -9),
                            textcoords="offset points", fontsize=FONT_SIZE - 3, color=colour)
    for size in sizes:  # one size label above each group of points, instead of one label per point
        group = stats[stats["hidden"] == size]
        ax.annotate(f"{size} neurons", (np.exp(np.log(group["params"]).mean()), (group["mean"] + group["sd"]).max()),
                    xytext=(0, 8), textcoords="offset points", ha="center", fontsize=FONT_SIZE - 1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.xaxis.set_minor_formatter(FuncFormatter(_count_label))
    ax.margins(x=0.08, y=0.12)
    ax.set(xlabel="Trainable parameters of the recurrent layer\n(weights + delays or positions; log scale)",
           ylabel="Test accuracy (%)")
    single_seed = bool((stats["n"] == 1).all())
    if single_seed:
        spread = "one seed per point: no error bars"
    elif uniform_n:
        spread = f"mean ± 1 sd over {int(stats['n'].iloc[0])} seeds per point"
    else:
        spread = "mean ± 1 sd over seeds (seed count beside each point; hollow: one seed, no error bar)"
    ax.set_title(f"Architecture comparison\n{spread}", loc="left", fontsize=FONT_SIZE)
    handles = [Line2D([], [], color=colors[c], linewidth=1.8, label=labels[c]) for c in labels
               if c in set(stats["condition"])]
    handles.append(Line2D([], [], linestyle="none", label="\nHidden neurons"))  # a header within the legend
    handles += [Line2D([], [], marker=markers[s], color="0.3", markerfacecolor="white" if single_seed else "0.3",
                       linestyle="none", label=f"{s} neurons") for s in sizes]
    if not single_seed and (stats["n"] == 1).any():
        handles.append(Line2D([], [], marker="o", color="0.3", markerfacecolor="white", linestyle="none",
                              label="hollow: one seed,\nno error bar"))
    fig.legend(handles=handles, title="Architecture", loc="outside right upper", alignment="left")
    return fig
