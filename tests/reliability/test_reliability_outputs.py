"""Damaged or empty outputs, seen by the commands that read them (`spacetime-snn metrics`, `prune`, `figure`,
`table`): exit code 2, a message naming the file, and a Fix that works under Snakemake. Deleting a damaged
intermediate file is not enough there (Snakemake does not rerun a job for a missing intermediate while the files
built from it exist: "Nothing to be done"), so the Fix forces the job that writes the file; that the command
really rebuilds the file is shown in test_reliability_snakemake.py.

Every run here is laid out as the workflow lays it out (results/<study>/runs/..., relative to the working
directory, which holds configs/rel.yaml declaring `study: rel`), so the messages carry the --configfile option.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from reliability_helpers import backticked_commands, cli_in_process, settings, study_run_dir
from spacetime_snn.training import run_io

RUN = study_run_dir()
CONFIGFILE = "--configfile=configs/rel.yaml"


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """One finished tiny run in a study layout (settings.json beside it, as the settings rule writes it)."""
    root = tmp_path_factory.mktemp("outputs")
    run_settings = settings(tiny_data)
    (root / RUN).mkdir(parents=True)
    (root / RUN / "settings.json").write_text(json.dumps(run_settings))
    from spacetime_snn.cli import main

    assert main(["train", "--settings", f"@{root / RUN / 'settings.json'}", "--out", str(root / RUN)]) == 0
    return root


@pytest.fixture
def study(trained, tmp_path, monkeypatch) -> Path:
    """A private copy of the trained study as the working directory, with its config in configs/."""
    shutil.copytree(trained, tmp_path / "study")
    (tmp_path / "study" / "configs").mkdir()
    (tmp_path / "study" / "configs" / "rel.yaml").write_text("study: rel\n")
    monkeypatch.chdir(tmp_path / "study")
    return tmp_path / "study"


def assert_fix_forces_the_training(err: str, damaged: Path) -> None:
    assert f"Fix: `snakemake --cores 1 {CONFIGFILE} --forcerun={damaged}` retrains this run" in err
    assert f"without Snakemake: `spacetime-snn train --settings @{RUN}/settings.json --out {RUN}`" in err
    assert backticked_commands(err) == [f"snakemake --cores 1 {CONFIGFILE} --forcerun={damaged}"]


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_snapshots_file_stops_metrics_naming_it_and_the_fix(capsys, study, damage):
    snapshots = RUN / run_io.SNAPSHOTS
    data = snapshots.read_bytes()
    snapshots.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    code, out, err = cli_in_process(capsys, "metrics", "--run-dir", str(RUN), "--binary-nulls", "2",
                                    "--weighted-nulls", "2")
    assert code == 2 and "Traceback" not in err, err
    raised = {"truncated": "BadZipFile", "empty": "EOFError"}[damage]
    assert err.startswith(f"spacetime-snn metrics: error: {snapshots}: cannot be read ({raised}: ")
    assert "; it is corrupt or truncated. Fix: " in err
    assert_fix_forces_the_training(err, snapshots)
    assert not (RUN / "analysis").exists()


def test_a_truncated_model_file_stops_prune_naming_it_and_the_fix(capsys, study):
    model = RUN / run_io.MODEL
    model.write_bytes(model.read_bytes()[:300])
    code, out, err = cli_in_process(capsys, "prune", "--run-dir", str(RUN), "--out", "p.csv")
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith(f"spacetime-snn prune: error: {model}: cannot be read (")
    assert_fix_forces_the_training(err, model)
    assert not Path("p.csv").exists()


def test_a_run_outside_a_study_layout_is_told_to_rerun_its_training(capsys, trained, tmp_path):
    """Trained by hand (no results/<study>/ layout, no settings.json): no snakemake command to give."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained / RUN, run_dir)
    (run_dir / "settings.json").unlink()
    (run_dir / run_io.SNAPSHOTS).write_bytes(b"PK\x03\x04 not a zip")
    code, out, err = cli_in_process(capsys, "metrics", "--run-dir", str(run_dir))
    assert code == 2 and "Traceback" not in err, err
    assert f"{run_dir / run_io.SNAPSHOTS}: cannot be read" in err
    assert "Fix: rerun the `spacetime-snn train` command that made this run" in err and "snakemake" not in err


AGGREGATED = {"fig4": ["accuracy"], "fig3": ["pruning", "delay_histogram", "pruned_graph"]}


@pytest.mark.parametrize("command", ["table", "fig4", "fig3"])
def test_an_aggregated_table_with_a_header_and_no_rows_is_named(capsys, study, command):
    aggregated = Path("results/rel/aggregated")
    aggregated.mkdir(parents=True)
    columns = {"accuracy": "delay_mode,test_accuracy", "pruning": "kind,fraction_removed,test_accuracy",
               "delay_histogram": "bin_start,bin_end,count", "pruned_graph": "fraction_removed,modularity"}
    for name, extra in columns.items():
        (aggregated / f"{name}.csv").write_text(f"study,condition,hidden,seed,{extra}\n")
    labels = json.dumps({"spatial": "Spatial"})
    if command == "table":
        argv = ["table", "--accuracy", str(aggregated / "accuracy.csv"), "--out", "t.csv", "--markdown", "t.md"]
        empty = aggregated / "accuracy.csv"
    else:
        argv = ["figure", command, "--data-dir", str(aggregated), "--out", f"{command}.pdf", "--labels", labels]
        empty = aggregated / f"{AGGREGATED[command][0]}.csv"
    code, out, err = cli_in_process(capsys, *argv)
    assert code == 2 and "Traceback" not in err, err
    assert f"error: {empty}: has a header (study, condition, hidden, seed, " in err
    assert "but no rows (written by `spacetime-snn " in err
    assert f"Fix: `snakemake --cores 2 {CONFIGFILE} --forcerun={empty}` rebuilds it" in err
    assert not list(Path(".").glob("*.pdf")) and not Path("t.csv").exists()
    pd.read_csv(empty)  # the file itself is left as it was
