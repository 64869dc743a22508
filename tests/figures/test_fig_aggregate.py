"""Aggregation: per-run CSVs and summary.json files become one table; bad inputs give errors naming the file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spacetime_snn.errors import DataError
from spacetime_snn.figures import aggregate


def _write_runs(tmp_path, frame: pd.DataFrame, name: str) -> list:
    paths = []
    for (condition, hidden, seed), run in frame.groupby(["condition", "hidden", "seed"]):
        path = tmp_path / condition / f"h{hidden}" / f"s{seed}" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        run.to_csv(path, index=False)
        paths.append(path)
    return paths


def test_concatenation_keeps_every_row_and_ignores_input_order(tmp_path, tables):
    frame = tables["pruned_graph"]
    paths = _write_runs(tmp_path, frame, "pruned_graph")
    joined = aggregate.concatenate_csvs(paths[::-1])
    assert len(joined) == len(frame)
    assert list(joined.columns) == list(frame.columns)
    expected = frame.sort_values(list(aggregate.IDENTIFIERS), kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(joined, expected, check_dtype=False)
    assert joined.equals(aggregate.concatenate_csvs(paths))


def test_empty_input_list_is_a_clear_error():
    with pytest.raises(DataError, match="no input CSV"):
        aggregate.concatenate_csvs([])
    with pytest.raises(DataError, match="no summary.json"):
        aggregate.accuracy_from_summaries([])


def test_missing_identifier_names_file_and_column(tmp_path):
    path = tmp_path / "ridge.csv"
    pd.DataFrame({"study": ["shd"], "condition": ["spatial"], "hidden": [128], "network": ["trained"],
                  "r2": [0.5]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"ridge\.csv.*'seed'"):
        aggregate.concatenate_csvs([path])


def test_missing_and_empty_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        aggregate.concatenate_csvs([tmp_path / "absent.csv"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        aggregate.concatenate_csvs([empty])


def test_same_run_twice_is_rejected(tmp_path, tables):
    paths = _write_runs(tmp_path, tables["pruned_graph"], "pruned_graph")
    copy = tmp_path / "copy.csv"
    copy.write_text(paths[0].read_text())
    with pytest.raises(DataError, match="several input files"):
        aggregate.concatenate_csvs(paths + [copy])


def _summary(condition: str, seed: int, test: float) -> dict:
    return {"study": "shd", "condition": condition, "hidden": 64, "seed": seed, "delay_mode": "spatial",
            "dims": 2, "distance_cost": 0.0, "best_epoch": 10, "epochs_run": 25, "train_accuracy": 0.9,
            "val_accuracy": None, "test_accuracy": test, "trainable_params": 49000, "total_params": 49100,
            "settings": {"ignored": True}}


def test_accuracy_table_from_summaries(tmp_path):
    paths = []
    for i, (condition, seed) in enumerate([("spatial", 1), ("synaptic", 0), ("spatial", 0)]):
        path = tmp_path / f"run{i}" / "summary.json"
        path.parent.mkdir()
        path.write_text(json.dumps(_summary(condition, seed, 0.8 + i / 100)))
        paths.append(path)
    table = aggregate.accuracy_from_summaries(paths)
    assert list(table.columns) == [*aggregate.ACCURACY_COLUMNS, *aggregate.RUN_RECORD_COLUMNS]
    assert table[["condition", "seed"]].values.tolist() == [["spatial", 0], ["spatial", 1], ["synaptic", 0]]
    assert table["test_accuracy"].tolist() == pytest.approx([0.82, 0.80, 0.81])
    assert table["val_accuracy"].isna().all()
    assert table["train_seconds"].isna().all()  # summaries from before the run records: empty, not an error


def test_run_records_of_a_summary_reach_the_accuracy_table(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({**_summary("spatial", 0, 0.8), "delay_clamp_share": 0.25, "train_seconds": 12.5,
                                "loss_above_first_epoch": True, "rate_outside_window": False}))
    row = aggregate.accuracy_from_summaries([path]).iloc[0]
    assert (row["delay_clamp_share"], row["train_seconds"]) == (0.25, 12.5)
    assert bool(row["loss_above_first_epoch"]) and not bool(row["rate_outside_window"])


def test_the_learning_rule_comes_from_the_summary_or_else_the_runs_settings(tmp_path):
    named = tmp_path / "named" / "summary.json"
    older = tmp_path / "older" / "summary.json"
    bare = tmp_path / "bare" / "summary.json"
    for path in (named, older, bare):
        path.parent.mkdir()
    named.write_text(json.dumps({**_summary("spatial", 0, 0.8), "gradient": "surrogate"}))
    older.write_text(json.dumps(_summary("spatial", 1, 0.8)))  # written before summaries named the rule
    (older.parent / "settings.json").write_text(json.dumps({"train": {"gradient": "eventprop"}}))
    bare.write_text(json.dumps(_summary("spatial", 2, 0.8)))  # neither: left empty, not an error
    table = aggregate.accuracy_from_summaries([named, older, bare])
    assert table["gradient"].tolist()[:2] == ["surrogate", "eventprop"]
    assert pd.isna(table["gradient"].iloc[2])


def test_bad_summaries_name_file_and_field(tmp_path):
    incomplete = tmp_path / "incomplete.json"
    summary = _summary("spatial", 0, 0.8)
    del summary["trainable_params"]
    incomplete.write_text(json.dumps(summary))
    with pytest.raises(DataError, match=r"incomplete\.json.*'trainable_params'"):
        aggregate.accuracy_from_summaries([incomplete])
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(DataError, match=r"broken\.json.*not valid JSON"):
        aggregate.accuracy_from_summaries([broken])


def test_write_csv_is_atomic_and_leaves_no_temporary_files(tmp_path, tables):
    out = tmp_path / "aggregated" / "ridge.csv"
    aggregate.write_csv(tables["ridge"], out)
    assert pd.read_csv(out).shape == tables["ridge"].shape
    assert [p.name for p in out.parent.iterdir()] == ["ridge.csv"]


def test_mean_sd_uses_sample_sd_and_counts_seeds():
    frame = pd.DataFrame({"group": ["a", "a", "a", "b"], "value": [1.0, 2.0, 4.0, 3.0]})
    stats = aggregate.mean_sd(frame, ["group"], "value").set_index("group")
    assert stats.loc["a", "mean"] == pytest.approx(7 / 3)
    assert stats.loc["a", "sd"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert stats.loc["a", "n"] == 3
    assert stats.loc["b", "sd"] == 0.0 and stats.loc["b", "n"] == 1
