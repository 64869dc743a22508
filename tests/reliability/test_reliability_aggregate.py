"""`spacetime-snn aggregate` checks every row of every per-run table against the table's schema (identifiers filled
and typed, one value per column, numbers in columns of numbers, a final newline) and names the file and row; before,
a file cut mid-row became a row `ci,no,,,,,,` and turned every integer column into floats."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reliability_helpers import cli_in_process


def per_run_table(tmp_path, seed: int):
    """A pruning table as `spacetime-snn prune` writes it, in the study layout."""
    path = tmp_path / f"results/rel/runs/spatial/h8/s{seed}/analysis/pruning.csv"
    path.parent.mkdir(parents=True)
    rows = [{"study": "rel", "condition": "spatial", "hidden": 8, "seed": seed, "delay_mode": "spatial",
             "kind": kind, "fraction_removed": fraction, "test_accuracy": 0.8125, "connections": 56}
            for kind in ("magnitude", "length") for fraction in (0.0, 0.5)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def tables(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return per_run_table(tmp_path, 0).relative_to(tmp_path), per_run_table(tmp_path, 1).relative_to(tmp_path)


def aggregate(capsys, *paths):
    return cli_in_process(capsys, "aggregate", "--out", "a.csv", *map(str, paths))


def test_good_tables_keep_their_types(tables, capsys):
    code, _, err = aggregate(capsys, *tables)
    assert code == 0, err
    frame = pd.read_csv("a.csv")
    assert len(frame) == 8 and frame["hidden"].dtype.kind == "i" and frame["connections"].dtype.kind == "i"


def test_file_cut_mid_row(tables, capsys, tmp_path):
    good, damaged = tables
    damaged.write_bytes(damaged.read_bytes()[:130])  # `head -c 130`: inside the first data row
    code, _, err = aggregate(capsys, good, damaged)
    assert code == 2 and not (tmp_path / "a.csv").exists()
    assert f"{damaged}: its last line (2) does not end with a newline: the file was cut" in err, err
    assert f"--forcerun={damaged}`" in err, err


@pytest.mark.parametrize("edit, message", [
    (lambda lines: lines[:2] + ["rel,no"] + lines[3:], "row 2 (line 3): 2 value(s) for 9 columns"),
    (lambda lines: [lines[0], lines[1].replace("rel,spatial,8,", "rel,spatial,,")] + lines[2:],
     "row 1 (line 2): 'hidden' is empty"),
    (lambda lines: [lines[0], lines[1].replace("rel,spatial,8,", "rel,spatial,8.5,")] + lines[2:],
     "row 1 (line 2): 'hidden' is '8.5', not an integer >= 1"),
    (lambda lines: lines[:3] + [lines[3].replace("0.8125", "0.8x")] + lines[4:],
     "row 3 (line 4): 'test_accuracy' is '0.8x', not a number"),
], ids=["short-row", "empty-identifier", "fractional-hidden", "text-in-numbers"])
def test_damaged_row_is_named(tables, capsys, tmp_path, edit, message):
    good, damaged = tables
    damaged.write_text("\n".join(edit(damaged.read_text().splitlines())) + "\n")
    code, _, err = aggregate(capsys, good, damaged)
    assert code == 2 and not (tmp_path / "a.csv").exists(), err
    assert f"{damaged}: {message}" in err and "Fix: `snakemake --cores 1" in err, err


def test_summary_with_wrong_types(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = {"study": "rel", "condition": "spatial", "hidden": "8", "seed": 0, "delay_mode": "spatial", "dims": 2,
               "distance_cost": 0.0, "best_epoch": 3, "epochs_run": 3, "train_accuracy": 0.9, "val_accuracy": None,
               "test_accuracy": 0.8, "trainable_params": 10, "total_params": 20}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    code, _, err = cli_in_process(capsys, "aggregate", "--from-summaries", "--out", "a.csv", str(path))
    assert code == 2 and "'hidden' is '8', not an integer >= 0" in err and str(path) in err, err
