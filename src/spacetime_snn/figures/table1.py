"""Table 1: test accuracy per condition and hidden size, mean ± sd over seeds with a 95 % t-interval of the mean
(from 3 seeds on) and the seed count, from accuracy.csv; rows grouped into the main comparison and Fig. 4's grid,
whose conditions are trained with different settings."""

from __future__ import annotations

import math
import os
from typing import Mapping

import pandas as pd

from ..errors import DataError
from ..io_utils import atomic_path
from ..analysis.statistics import t_interval
from .aggregate import mean_sd, require_columns, write_csv

COLUMNS = ["group", "condition", "label", "hidden", "n_seeds", "trainable_params", "test_accuracy_mean_pct",
           "test_accuracy_sd_pct", "test_accuracy_ci_low_pct", "test_accuracy_ci_high_pct"]
# Below this many seeds no interval is given: a t-interval of 2 runs is mean ± 12.7 sd/√2 (it says only that 2
# runs pin down little), and a percentile bootstrap of 2 runs merely spans them (narrower than ± 1 sd).
MIN_SEEDS_FOR_INTERVAL = 3
MAIN, ARCHITECTURE = "main", "architecture"
GROUP_TITLES = {
    MAIN: "Main comparison (Figs. 1-3): the main study's settings",
    ARCHITECTURE: "Architectures and sizes (Fig. 4): each with its own per-architecture and per-size settings",
}


def _interval(percent: pd.Series) -> pd.Series:
    """95 % t-interval of the mean over seeds; NaN below MIN_SEEDS_FOR_INTERVAL seeds."""
    values = percent.dropna().to_numpy(float)
    if values.size < MIN_SEEDS_FOR_INTERVAL:
        return pd.Series({"ci_low": float("nan"), "ci_high": float("nan")})
    low, high = t_interval(values)
    return pd.Series({"ci_low": low, "ci_high": high})


def table1(accuracy: pd.DataFrame, labels: Mapping[str, str] | None = None,
           main: Mapping[str, object] | None = None) -> pd.DataFrame:
    """One row per (condition, hidden): seeds counted, accuracy in % with the sample sd (ddof 1, NaN for one seed)
    and the 95 % t-interval of the mean (NaN below MIN_SEEDS_FOR_INTERVAL seeds). `labels` chooses and orders the
    conditions; without it every condition appears, sorted by name. `main` ({"conditions": [...], "hidden": N}, the
    main grid) puts its rows first in group "main" and the others in "architecture"; without it `group` is empty."""
    require_columns(accuracy, "accuracy.csv", ("condition", "hidden", "seed", "test_accuracy",
                                               "trainable_params"))
    labels = dict(labels) if labels else {c: c for c in sorted(accuracy["condition"].unique())}
    shown = accuracy[accuracy["condition"].isin(list(labels))]
    if shown.empty:
        raise DataError(f"accuracy.csv has no rows for conditions {list(labels)}; "
                        f"present: {sorted(accuracy['condition'].unique())}.")
    stats = mean_sd(shown.assign(percent=100 * shown["test_accuracy"]), ["condition", "hidden"], "percent")
    single = stats["n"] == 1
    stats.loc[single, "sd"] = float("nan")  # one seed has no spread; do not print a misleading ± 0
    params = (shown.groupby(["condition", "hidden"])["trainable_params"].median().round().astype("int64")
              .rename("trainable_params"))  # identical over seeds; the median only guards against a stray run
    percent = shown.assign(percent=100 * shown["test_accuracy"])
    intervals = percent.groupby(["condition", "hidden"])["percent"].apply(_interval).unstack()
    table = stats.join(params, on=["condition", "hidden"]).join(intervals, on=["condition", "hidden"]).rename(
        columns={"n": "n_seeds", "mean": "test_accuracy_mean_pct", "sd": "test_accuracy_sd_pct",
                 "ci_low": "test_accuracy_ci_low_pct", "ci_high": "test_accuracy_ci_high_pct"})
    table["label"] = table["condition"].map(labels)
    if main is None:
        table["group"] = ""
    else:
        in_main = table["condition"].isin(list(main["conditions"])) & (table["hidden"] == int(main["hidden"]))
        table["group"] = in_main.map({True: MAIN, False: ARCHITECTURE})
    order = {condition: i for i, condition in enumerate(labels)}
    group_order = {"": 0, MAIN: 0, ARCHITECTURE: 1}
    table = table.sort_values(["group", "condition", "hidden"], key=lambda c: (
        c.map(group_order) if c.name == "group" else c.map(order) if c.name == "condition" else c))
    return table[COLUMNS].reset_index(drop=True)


def _accuracy_text(mean: float, sd: float) -> str:
    return f"{mean:.1f}" if math.isnan(sd) else f"{mean:.1f} ± {sd:.1f}"


def _interval_text(low: float, high: float) -> str:
    return "—" if math.isnan(low) else f"[{low:.1f}, {high:.1f}]"


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, written by hand so no optional dependency (tabulate) is needed; a bold
    row opens each group."""
    header = ["Condition", "Hidden neurons", "Trainable parameters (recurrent layer)", "Test accuracy (%)",
              "95 % CI of the mean", "Seeds (n)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---:", "---:", "---:", "---:", "---:"]) + "|"]
    group = None
    for row in table.itertuples(index=False):
        if row.group and row.group != group:
            lines.append(f"| **{GROUP_TITLES.get(row.group, row.group)}** |" + " |" * (len(header) - 1))
        group = row.group
        cells = [str(row.label).replace("|", r"\|"), str(row.hidden), f"{int(row.trainable_params):,}",
                 _accuracy_text(row.test_accuracy_mean_pct, row.test_accuracy_sd_pct),
                 _interval_text(row.test_accuracy_ci_low_pct, row.test_accuracy_ci_high_pct), str(row.n_seeds)]
        lines.append("| " + " | ".join(cells) + " |")
    note = (f"\nMean ± sample standard deviation over seeds. 95 % CI: Student-t interval of the mean over seeds "
            f"(mean ± t(n-1) · sd/√n), given from {MIN_SEEDS_FOR_INTERVAL} seeds on (— below: 2 seeds cannot "
            f"bound a mean usefully). Trainable parameters of the recurrent layer (weights + delays or positions).")
    if set(table["group"]) >= {MAIN, ARCHITECTURE}:
        note += (" A condition can appear in both groups under different names: Fig. 4 trains its architectures "
                 "with their own settings (per-architecture and per-size learning rates and regularisers; "
                 "config.yaml, `conditions`), so e.g. synaptic delays at the main size are two different runs.")
    return "\n".join(lines) + "\n" + note + "\n"


def write_table1(table: pd.DataFrame, csv_path: str | os.PathLike, markdown_path: str | os.PathLike) -> None:
    """Both renderings, each written atomically."""
    write_csv(table, csv_path)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(to_markdown(table))
