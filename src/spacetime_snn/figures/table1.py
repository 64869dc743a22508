"""Table 1: test accuracy per condition and hidden size, mean ± sd over seeds with a 95 % bootstrap interval of
the mean and the seed count, from accuracy.csv."""

from __future__ import annotations

import math
import os
from typing import Mapping

import pandas as pd

from ..errors import DataError
from ..io_utils import atomic_path
from ..analysis.statistics import bootstrap_interval
from .aggregate import mean_sd, require_columns, write_csv

COLUMNS = ["condition", "label", "hidden", "n_seeds", "trainable_params", "test_accuracy_mean_pct",
           "test_accuracy_sd_pct", "test_accuracy_ci_low_pct", "test_accuracy_ci_high_pct"]
CI_RESAMPLES = 2000


def _interval(percent: pd.Series) -> pd.Series:
    """95 % percentile bootstrap interval of the mean over seeds (NaN for one seed: no spread to resample)."""
    values = percent.dropna().to_numpy(float)
    if values.size < 2:
        return pd.Series({"ci_low": float("nan"), "ci_high": float("nan")})
    low, high = bootstrap_interval(values, resamples=CI_RESAMPLES, seed=0)
    return pd.Series({"ci_low": float(low), "ci_high": float(high)})


def table1(accuracy: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (condition, hidden): seeds counted, accuracy in % with the sample sd (ddof 1) and the 95 %
    bootstrap interval of the mean (both NaN for one seed). `labels` chooses and orders the conditions; without it
    every condition appears, sorted by name."""
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
    order = {condition: i for i, condition in enumerate(labels)}
    table = table.sort_values(["condition", "hidden"], key=lambda c: c.map(order) if c.name == "condition" else c)
    return table[COLUMNS].reset_index(drop=True)


def _accuracy_text(mean: float, sd: float) -> str:
    return f"{mean:.1f}" if math.isnan(sd) else f"{mean:.1f} ± {sd:.1f}"


def _interval_text(low: float, high: float) -> str:
    return "—" if math.isnan(low) else f"[{low:.1f}, {high:.1f}]"


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, written by hand so no optional dependency (tabulate) is needed."""
    header = ["Condition", "Hidden neurons", "Trainable parameters (recurrent layer)", "Test accuracy (%)",
              "95 % CI of the mean", "Seeds (n)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---:", "---:", "---:", "---:", "---:"]) + "|"]
    for row in table.itertuples(index=False):
        cells = [str(row.label).replace("|", r"\|"), str(row.hidden), f"{int(row.trainable_params):,}",
                 _accuracy_text(row.test_accuracy_mean_pct, row.test_accuracy_sd_pct),
                 _interval_text(row.test_accuracy_ci_low_pct, row.test_accuracy_ci_high_pct), str(row.n_seeds)]
        lines.append("| " + " | ".join(cells) + " |")
    note = ("\nMean ± sample standard deviation over seeds; 95 % percentile bootstrap interval of the mean over "
            "seeds (— for a single seed); trainable parameters of the recurrent layer (weights + delays or "
            "positions).")
    return "\n".join(lines) + "\n" + note + "\n"


def write_table1(table: pd.DataFrame, csv_path: str | os.PathLike, markdown_path: str | os.PathLike) -> None:
    """Both renderings, each written atomically."""
    write_csv(table, csv_path)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(to_markdown(table))
