"""Shared look of every figure: palette, fonts, panel letters, mean ± sd drawing, and saving (PDF + PNG).

Colours are assigned by a condition's position in the study's label mapping, so a condition keeps its colour in
every figure as long as all figure commands receive the same mapping (the config's).
"""

from __future__ import annotations

import functools
import os
import textwrap
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ..errors import ConfigError
from ..io_utils import atomic_path

# seaborn "colorblind" without its grey (kept for null / random references) and yellow (invisible on white).
_COLORBLIND = sns.color_palette("colorblind")
CONDITION_COLORS = [to_hex(_COLORBLIND[i]) for i in (0, 1, 2, 3, 4, 5, 6, 9)]
REFERENCE_COLOR = to_hex(_COLORBLIND[7])
SEQUENTIAL_CMAP = "viridis"  # perceptually uniform and colour-blind safe, for channel indices

FONT_SIZE = 9
RC_PARAMS = {
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "legend.title_fontsize": FONT_SIZE - 1,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.5,
    "pdf.fonttype": 42,  # TrueType in PDFs: text stays editable in vector editors
    "svg.fonttype": "none",
}
PNG_DPI = 200
BAND_ALPHA = 0.25


def styled(make_figure: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure under the shared rc parameters without touching the caller's global matplotlib state."""
    import matplotlib

    @functools.wraps(make_figure)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(RC_PARAMS):
            return make_figure(*args, **kwargs)

    return wrapper


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure outside pyplot's registry (no global state, no leaks in long runs), laid out by constraints."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def condition_colors(conditions: Sequence[str]) -> dict[str, str]:
    """One colour per condition, by position in the study's condition order."""
    conditions = list(conditions)
    if len(conditions) > len(CONDITION_COLORS):
        raise ConfigError(f"{len(conditions)} conditions but only {len(CONDITION_COLORS)} colour-blind-safe "
                          "colours; show fewer conditions per figure.")
    return dict(zip(conditions, CONDITION_COLORS))


def check_labels(labels: Mapping[str, str], colors: Mapping[str, str] | None) -> dict[str, str]:
    """Validate the condition -> display label mapping and return the colour of every shown condition."""
    if not labels:
        raise ConfigError("labels: give at least one condition and its display label, "
                          'e.g. {"spatial": "Spatial"}.')
    colors = dict(colors) if colors is not None else condition_colors(list(labels))
    missing = [condition for condition in labels if condition not in colors]
    if missing:
        raise ConfigError(f"colors: no colour for condition(s) {missing}.")
    return colors


def panel_title(ax: Axes, letter: str, title: str = "") -> None:
    """Bold panel letter, then a short title, as a left-aligned axes title (the layout engine keeps it clear)."""
    text = rf"$\bf{{{letter}}}$" + (f"   {title}" if title else "")
    ax.set_title(text, loc="left", fontsize=FONT_SIZE + 1)


def band(ax: Axes, x, mean, sd, *, color: str, label: str | None = None, linestyle: str = "-",
         marker: str | None = None) -> None:
    """Mean line with a shaded ± sd band: the figures' one way of showing variability over seeds."""
    x, mean, sd = (np.asarray(v, dtype=float) for v in (x, mean, sd))
    ax.plot(x, mean, color=color, label=label, linestyle=linestyle, marker=marker, markersize=3.5)
    ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=BAND_ALPHA, linewidth=0)


def no_data(ax: Axes, message: str) -> None:
    """Mark a panel whose optional data are absent, instead of dropping it and shifting the layout."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=REFERENCE_COLOR)
    ax.set_xticks([])
    ax.set_yticks([])


def wrap(label: str, width: int = 12) -> str:
    """Break a long display label over lines so tick labels never collide."""
    return textwrap.fill(label, width=width, break_long_words=False)


def position_label(axis: str) -> str:
    """Axis label for neuron coordinates, which the figures scale to ms (distance = delay)."""
    return f"{axis} position (ms)"


def save_figure(fig: Figure, path_pdf: str | os.PathLike) -> tuple[Path, Path]:
    """Write `path_pdf` and a PNG beside it, each atomically; metadata dates removed so reruns are identical."""
    path_pdf = Path(path_pdf)
    if path_pdf.suffix.lower() != ".pdf":
        raise ConfigError(f"{path_pdf}: figure output must end in .pdf (a PNG is written beside it).")
    path_png = path_pdf.with_suffix(".png")
    with atomic_path(path_pdf) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    with atomic_path(path_png) as tmp:
        fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return path_pdf, path_png
