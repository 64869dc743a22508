"""Aggregated tables: per-run CSVs (and summary.json files) concatenated into `results/<study>/aggregated/*.csv`.

Every per-run file carries the identifiers `study, condition, hidden, seed` (docs/architecture.md), so aggregation
is a concatenation; this module also holds the checks and the mean ± sd over seeds that every figure shares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io_utils import atomic_path

IDENTIFIERS = ("study", "condition", "hidden", "seed")

ACCURACY_COLUMNS = IDENTIFIERS + (
    "delay_mode", "dims", "distance_cost", "best_epoch", "epochs_run",
    "train_accuracy", "val_accuracy", "test_accuracy", "trainable_params", "total_params",
)
# How each run went (training/loop.py), for the results page: summaries written before these fields existed leave
# them empty rather than failing. The share of delays at the clamp (selected model, last epoch), the end-of-run
# flags, the training's own clock (all attempts of a resumed run) and the device it trained on.
RUN_RECORD_COLUMNS = ("delay_clamp_share", "delay_clamp_share_last", "loss_above_first_epoch", "rate_outside_window",
                      "train_seconds", "train_cpu_seconds", "device")

# Which CLI command writes each aggregated table: error messages point the user at the missing step.
PRODUCERS = {
    "accuracy": "train", "training_dynamics": "metrics", "final_metrics": "metrics",
    "control_metrics": "metrics", "delay_histogram": "metrics", "pruned_graph": "metrics", "pruning": "prune",
    "network_nodes": "networkdata", "network_edges": "networkdata", "input_maps": "inputmaps",
    "input_maps_time": "inputmaps", "input_raster": "inputmaps", "ridge": "inputmaps",
}


def require_columns(frame: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    """Fail early, naming table and column, rather than with a KeyError deep inside a plot."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(
            f"{table} lacks column(s) {', '.join(map(repr, missing))}; it has {list(frame.columns)}. "
            f"Regenerate it with the producer listed in docs/architecture.md."
        )


def require_filled(frame: pd.DataFrame, table: str, column: str) -> None:
    """A column that some runs' files lack (written by an older version of the producer) is an error naming the
    runs and the rerun that fixes it."""
    missing = frame[frame[column].isna()]
    if missing.empty:
        return
    runs = missing[[c for c in IDENTIFIERS if c in missing]].drop_duplicates().head(3).to_dict("records")
    producer = PRODUCERS.get(Path(table).stem, "the producer")
    raise DataError(f"{table}: {len(missing)} row(s) have no '{column}' (e.g. runs {runs}): their per-run files "
                    f"predate that column. Rewrite them with `snakemake --forcerun {producer} ...` (the same "
                    f"command with --forcerun {producer}).")


def _check_unique_runs(frame: pd.DataFrame, sources: pd.Series) -> None:
    """The same run arriving from two files means a duplicated input (e.g. a path listed twice)."""
    files_per_run = sources.groupby([frame[c] for c in IDENTIFIERS], dropna=False).nunique()
    duplicated = files_per_run[files_per_run > 1]
    if len(duplicated):
        run = dict(zip(IDENTIFIERS, duplicated.index[0]))
        names = sorted(sources[(frame[list(IDENTIFIERS)] == pd.Series(run)).all(axis=1)].unique())
        raise DataError(f"run {run} appears in several input files: {names}; pass each run's file once.")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by run identifiers, keeping each run's own row order, so the output ignores input order."""
    return frame.sort_values(list(IDENTIFIERS), kind="stable", ignore_index=True)


def concatenate_csvs(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-run CSVs; each must carry the identifier columns."""
    if not paths:
        raise DataError("aggregate: no input CSV files given; pass at least one per-run CSV.")
    frames, sources = [], []
    for path in paths:
        frame = read_csv(path, allow_empty=True)
        require_columns(frame, str(path), IDENTIFIERS)
        frames.append(frame)
        sources.append(pd.Series(str(path), index=frame.index))
    joined = pd.concat(frames, ignore_index=True)
    _check_unique_runs(joined, pd.concat(sources, ignore_index=True))
    return _sorted(joined)


def read_summary(path: str | os.PathLike) -> dict:
    """One run's summary.json reduced to the `accuracy` columns and the run records (extra fields are ignored)."""
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DataError(f"{path}: summary.json not found; has the run finished training?") from error
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error}); re-run training to rewrite it.") from error
    if not isinstance(summary, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(summary).__name__}.")
    missing = [key for key in ACCURACY_COLUMNS if key not in summary]
    if missing:
        raise DataError(f"{path}: summary lacks field(s) {', '.join(map(repr, missing))}.")
    return {**{key: summary[key] for key in ACCURACY_COLUMNS},
            **{key: summary.get(key) for key in RUN_RECORD_COLUMNS}}


def accuracy_from_summaries(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The `accuracy` table: one row per run, from each run's summary.json."""
    if not paths:
        raise DataError("aggregate: no summary.json files given; pass at least one.")
    rows = [read_summary(path) for path in paths]
    frame = pd.DataFrame(rows, columns=[*ACCURACY_COLUMNS, *RUN_RECORD_COLUMNS])
    _check_unique_runs(frame, pd.Series([str(p) for p in paths]))
    return _sorted(frame)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write atomically, so a killed job never leaves a half-written table that looks complete."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _producer(name: str) -> str:
    return f" (written by `spacetime-snn {PRODUCERS[name]}` per run, then `aggregate`)" if name in PRODUCERS else ""


def read_csv(path: str | os.PathLike, *, allow_empty: bool = False) -> pd.DataFrame:
    """Read one CSV, turning a missing or unparsable file into a DataError that names it.

    A header without rows is an error too, naming the file, unless `allow_empty` (a per-run table that does not
    apply to its run, e.g. the delay histogram of a run without delays, is written with its header only).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found{_producer(path.stem)}.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable CSV ({error}).") from error
    if frame.empty and not allow_empty:
        raise DataError(
            f"{path}: has a header ({', '.join(frame.columns)}) but no rows{_producer(path.stem)}, so there is "
            f"nothing to draw. Fix: `snakemake --cores 2{_configfile_option(path)} --forcerun={path}` rebuilds it "
            f"from the per-run tables; if it stays empty, no run of the study has rows for it: check the runs' "
            f"logs and the study's conditions (a network that never spikes has no input maps; the delay tables "
            f"need a condition with delays).")
    return frame


def _configfile_option(path: Path) -> str:
    """--configfile=... of the study an aggregated table belongs to (results/<study>/aggregated/<name>.csv)."""
    from ..study import configfile_option

    parts = path.parts
    return configfile_option(parts[-3] if len(parts) >= 3 and parts[-2] == "aggregated" else None)


def read_table(data_dir: str | os.PathLike, name: str, *, required: bool = True) -> pd.DataFrame | None:
    """Read the aggregated `<data_dir>/<name>.csv`; a missing optional table gives None."""
    path = Path(data_dir) / f"{name}.csv"
    if not required and not path.is_file():
        return None
    return read_csv(path)


def mean_sd(frame: pd.DataFrame, by: Sequence[str], value: str) -> pd.DataFrame:
    """Mean, sample sd (ddof 1; 0 for a single seed) and seed count of `value` per group of `by`."""
    grouped = frame.groupby(list(by), sort=True)[value]
    stats = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    stats["sd"] = stats["sd"].fillna(0.0)
    return stats


def rows_where(frame: pd.DataFrame, **where) -> pd.DataFrame:
    """Rows matching every `column=value` (possibly none)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


def select(frame: pd.DataFrame, table: str, **where) -> pd.DataFrame:
    """Rows matching every `column=value`; an empty result is an error naming what is present instead."""
    chosen = rows_where(frame, **where)
    if chosen.empty:
        present = {column: sorted(frame[column].dropna().unique().tolist()) for column in where}
        raise DataError(f"{table} has no rows for {where}; present values: {present}.")
    return chosen


def resolve_hidden(frame: pd.DataFrame, table: str, hidden: int | None) -> int:
    """The hidden size to plot: the given one, or the only one present (several present need a choice)."""
    sizes = sorted(frame["hidden"].dropna().unique().tolist())
    if hidden is not None:
        return int(hidden)
    if len(sizes) != 1:
        raise DataError(f"{table} holds hidden sizes {sizes}; choose one (--hidden).")
    return int(sizes[0])


def resolve_seed(frame: pd.DataFrame, table: str, seed: int | None) -> int:
    """The example run's seed: the given one or the smallest present."""
    if seed is not None:
        return int(seed)
    if frame.empty:
        raise DataError(f"{table} has no rows to choose an example run from.")
    return int(frame["seed"].min())
