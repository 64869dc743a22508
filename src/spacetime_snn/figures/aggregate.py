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
# flags, the hidden rate at the last epoch, the training's own clock (all attempts of a resumed run), the device it
# trained on, the time loops' backend (model.backend as resolved) and the learning rule (train.gradient).
RUN_RECORD_COLUMNS = ("delay_clamp_share", "delay_clamp_share_last", "loss_above_first_epoch", "rate_outside_window",
                      "rate_last_epoch_hz", "train_seconds", "train_cpu_seconds", "device", "backend", "gradient")

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
    """Concatenate per-run CSVs of one table; every row of every file is checked against the table's schema
    (check_rows) before anything is joined, so a damaged file cannot turn into rows of a figure."""
    if not paths:
        raise DataError("aggregate: no input CSV files given; pass at least one per-run CSV.")
    frames, sources = [], []
    for path in paths:
        frame = read_csv(path, allow_empty=True)
        require_columns(frame, str(path), IDENTIFIERS)
        frames.append(frame)
        sources.append(pd.Series(str(path), index=frame.index))
    check_rows([Path(path) for path in paths])
    joined = pd.concat(frames, ignore_index=True)
    _check_unique_runs(joined, pd.concat(sources, ignore_index=True))
    return _sorted(joined)


# The schema of a per-run table: the identifiers are filled and typed (study and condition text, hidden an
# integer >= 1, seed an integer >= 0); every file has the same columns; every row has one value per column; a
# column of numbers holds numbers (or nothing: NaN, e.g. a metric that is undefined for a run) in every row. A
# column is of numbers when most of its filled cells, over all files, are numbers.
_INTEGER_IDENTIFIERS = {"hidden": 1, "seed": 0}


def check_rows(paths: Sequence[Path]) -> None:
    """Raise DataError naming the file, the row (1 = the first after the header) and the fix, for the first row
    that does not fit the table's schema."""
    tables = {path: _raw_rows(path) for path in paths}
    header = next(iter(tables.values()))[0]
    for path, (columns, _) in tables.items():
        if columns != header:
            first = next(iter(tables))
            raise DataError(f"{path}: its columns {columns} differ from those of {first} ({header}): the files are "
                            f"not the same table. {_rewrite_fix(path)}")
    numeric = _numeric_columns(header, [rows for _, rows in tables.values()])
    for path, (_, rows) in tables.items():
        for number, row in enumerate(rows, start=1):
            problem = _row_problem(header, row, numeric)
            if problem:
                raise DataError(f"{path}: row {number} (line {number + 1}): {problem}; the file is damaged or was "
                                f"cut while being written, and nothing was aggregated. {_rewrite_fix(path)}")


def _raw_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) as text, with an unterminated last line (a file cut mid-row) reported."""
    import csv

    text = path.read_text(encoding="utf-8")
    lines = list(csv.reader(text.splitlines()))
    if text and not text.endswith("\n"):
        raise DataError(f"{path}: its last line ({len(lines)}) does not end with a newline: the file was cut while "
                        f"being written (every row this package writes ends with one). {_rewrite_fix(path)}")
    return lines[0], [line for line in lines[1:] if line]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_columns(header: list[str], tables: list[list[list[str]]]) -> set[str]:
    numeric = set()
    for index, column in enumerate(header):
        cells = [row[index] for rows in tables for row in rows if index < len(row) and row[index] != ""]
        if cells and sum(map(_is_number, cells)) * 2 > len(cells):
            numeric.add(column)
    return numeric


def _row_problem(header: list[str], row: list[str], numeric: set[str]) -> str | None:
    if len(row) != len(header):
        return f"{len(row)} value(s) for {len(header)} columns ({', '.join(header)})"
    values = dict(zip(header, row))
    for column in IDENTIFIERS:
        if values[column].strip() == "":
            return f"'{column}' is empty (every row names its run: {', '.join(IDENTIFIERS)})"
    for column, low in _INTEGER_IDENTIFIERS.items():
        text = values[column]
        if not _is_number(text) or float(text) != int(float(text)) or int(float(text)) < low:
            return f"'{column}' is {text!r}, not an integer >= {low}"
    for column in header:
        if column in numeric and values[column] != "" and not _is_number(values[column]):
            return f"'{column}' is {values[column]!r}, not a number (the column holds numbers)"
    return None


def _rewrite_fix(path: Path) -> str:
    """How to rewrite a damaged per-run table: force its job under Snakemake (results/<study>/runs/...)."""
    from ..study import configfile_option

    parts = path.parts
    study = next((parts[i - 1] for i in range(len(parts) - 1, 0, -1) if parts[i] == "runs"), None)
    producer = PRODUCERS.get(path.stem, "the producer")
    if study is None:
        return f"Fix: rewrite {path} with the `spacetime-snn {producer} ...` command that made it, then rerun."
    return (f"Fix: `snakemake --cores 1{configfile_option(study)} --forcerun={path}` rewrites it and redoes the "
            f"aggregation.")


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
        raise DataError(f"{path}: summary lacks field(s) {', '.join(map(repr, missing))}. {_rerun_training(path)}")
    problem = _summary_problem(summary)
    if problem:
        raise DataError(f"{path}: {problem}. {_rerun_training(path)}")
    return {**{key: summary[key] for key in ACCURACY_COLUMNS},
            **{key: summary.get(key) for key in RUN_RECORD_COLUMNS},
            "gradient": summary.get("gradient") or _learning_rule_of(path.parent)}


def _learning_rule_of(run_dir: Path) -> str | None:
    """train.gradient from the run's settings.json: summaries written before they named the rule still get it."""
    try:
        return json.loads((run_dir / "settings.json").read_text())["train"]["gradient"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


_SUMMARY_INTEGERS = ("hidden", "seed", "dims", "best_epoch", "epochs_run", "trainable_params", "total_params")
_SUMMARY_NUMBERS = ("train_accuracy", "val_accuracy", "test_accuracy")  # null where undefined (no validation set)


def _summary_problem(summary: dict) -> str | None:
    """What in a summary does not fit the accuracy table's schema (types of every field it contributes)."""
    for key in ("study", "condition", "delay_mode"):
        if not isinstance(summary[key], str) or not summary[key]:
            return f"'{key}' is {summary[key]!r}, not a non-empty text"
    for key in _SUMMARY_INTEGERS:
        if isinstance(summary[key], bool) or not isinstance(summary[key], int) or summary[key] < 0:
            return f"'{key}' is {summary[key]!r}, not an integer >= 0"
    for key in _SUMMARY_NUMBERS + ("distance_cost",):
        if summary[key] is not None and (isinstance(summary[key], bool) or not isinstance(summary[key], (int, float))):
            return f"'{key}' is {summary[key]!r}, not a number"
    return None


def _rerun_training(path: Path) -> str:
    from ..training.run_io import rerun_training_fix

    return rerun_training_fix(path)


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
