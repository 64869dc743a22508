"""Interrupted and repeated training jobs, as separate `spacetime-snn train` processes:

* SIGKILL during an epoch, then the same command again: it resumes from the last checkpoint and ends
  bit-identical to an uninterrupted run (model.pt tensors, snapshots, log.csv without its seconds column);
* the same, with the newest checkpoint truncated as by a full disk: the previous one is used, same result;
* the same settings and seed twice: bit-identical results (CPU determinism).

The processes run two or three at a time (the machine has 2 cores); one module-scoped fixture runs them all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest

from reliability_helpers import (RUN_OUTPUTS, assert_same_run, checkpoint_epoch, cli_in_process, copy_data, files,
                                 finish, settings, start_train, wait_for)
from spacetime_snn.training import run_io

EPOCHS = 5


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("jobs")
    data = copy_data(tiny_data, base / "data")
    # ~0.5 s per epoch (120 blends), so that a kill lands inside an epoch, not between two.
    run_settings = settings(data, train={"epochs": EPOCHS}, data={"augment": {"blend_samples": 120}})
    dirs = {name: base / name for name in ("whole", "again", "killed", "corrupt")}
    logs = {name: base / f"{name}.log" for name in ("whole", "again", "killed", "resumed", "corrupt")}

    whole = start_train(run_settings, dirs["whole"], logs["whole"])
    again = start_train(run_settings, dirs["again"], logs["again"])
    killed = start_train(run_settings, dirs["killed"], logs["killed"])
    # Kill in the middle of epoch 3: half an epoch after the second checkpoint (epochs 1 and 2) is complete.
    wait_for((dirs["killed"] / run_io.CHECKPOINT).exists, killed, logs["killed"])
    first = time.monotonic()
    wait_for((dirs["killed"] / run_io.PREVIOUS_CHECKPOINT).exists, killed, logs["killed"])
    wait_for((dirs["killed"] / run_io.CHECKPOINT).exists, killed, logs["killed"])  # the replace is two steps
    time.sleep((time.monotonic() - first) / 2)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    after_kill = files(dirs["killed"])
    killed_at = checkpoint_epoch(dirs["killed"])

    # The corrupt-checkpoint case starts from a copy of the killed run, its newest checkpoint cut short.
    shutil.copytree(dirs["killed"], dirs["corrupt"])
    checkpoint = dirs["corrupt"] / run_io.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    previous_epoch = checkpoint_epoch(dirs["corrupt"], run_io.PREVIOUS_CHECKPOINT)

    resumed = start_train(run_settings, dirs["killed"], logs["resumed"])
    corrupt = start_train(run_settings, dirs["corrupt"], logs["corrupt"])
    outputs = {name: finish(process, logs[name]) for name, process in
               (("whole", whole), ("again", again), ("resumed", resumed), ("corrupt", corrupt))}
    return {"dirs": dirs, "outputs": outputs, "after_kill": after_kill, "killed_at": killed_at,
            "previous_epoch": previous_epoch}


def test_a_killed_run_leaves_only_its_checkpoints(runs):
    assert 2 <= runs["killed_at"] < EPOCHS, "the kill did not land inside a later epoch"
    assert not set(RUN_OUTPUTS) & set(runs["after_kill"]), runs["after_kill"]
    assert {run_io.CHECKPOINT, run_io.PREVIOUS_CHECKPOINT} <= set(runs["after_kill"])


def test_a_killed_run_resumes_and_ends_bit_identical(runs):
    killed_dir = runs["dirs"]["killed"]
    assert f"resumed {killed_dir} after epoch {runs['killed_at']}" in runs["outputs"]["resumed"]
    assert_same_run(runs["dirs"]["whole"], killed_dir)


def test_the_run_log_keeps_the_killed_attempt(runs):
    """<run>/train.log is appended to by every attempt (Snakemake's job log is deleted before a rerun)."""
    log = (runs["dirs"]["killed"] / run_io.TRAIN_LOG).read_text()
    attempts = log.split("attempt started: ")[1:]
    assert len(attempts) == 2, log
    killed, resumed = attempts
    assert f"epoch={runs['killed_at']} " in killed and "finished" not in killed  # epochs up to the kill
    assert f"resumed {runs['dirs']['killed']} after epoch {runs['killed_at']}" in resumed
    assert f"finished: model.pt, log.csv, snapshots.npz, summary.json written in " in resumed


def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(runs):
    corrupt_dir = runs["dirs"]["corrupt"]
    output = runs["outputs"]["corrupt"]
    assert f"warning: {corrupt_dir / run_io.CHECKPOINT}: cannot be read" in output
    assert "it is corrupt or truncated" in output and "; using the previous checkpoint" in output
    assert f"resumed {corrupt_dir} after epoch {runs['previous_epoch']}" in output
    assert runs["previous_epoch"] == runs["killed_at"] - 1
    assert_same_run(runs["dirs"]["whole"], corrupt_dir)


def test_the_same_settings_and_seed_give_bit_identical_runs(runs):
    assert_same_run(runs["dirs"]["whole"], runs["dirs"]["again"])


def test_a_rerun_with_other_settings_sets_the_old_checkpoint_aside(capsys, fresh_data, tmp_path):
    """Changed settings make a new run (as when Snakemake reruns a job whose settings changed): resuming would
    mix two runs, so the old checkpoints are kept as *.stale.pt and training starts from scratch."""
    run_dir = tmp_path / "run"
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(settings(fresh_data)),
                                    "--out", str(run_dir))
    assert code == 0, err
    old_checkpoint = (run_dir / run_io.CHECKPOINT).read_bytes()
    changed = settings(fresh_data, train={"epochs": 4})
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(changed), "--out", str(run_dir))
    assert code == 0, err
    stale = run_dir / "checkpoint.stale.pt"
    assert (f"warning: the checkpoint was written with other settings; set aside as {stale}") in out
    assert "training starts from scratch with the new settings" in out
    assert stale.read_bytes() == old_checkpoint
    assert json.loads((run_dir / run_io.SUMMARY).read_text())["epochs_run"] == 4


def test_with_no_readable_checkpoint_training_restarts_and_says_so(capsys, fresh_data, tmp_path):
    run_dir, first = tmp_path / "run", tmp_path / "first"
    argv = ("train", "--settings", json.dumps(settings(fresh_data)), "--out", str(run_dir))
    assert cli_in_process(capsys, *argv)[0] == 0
    shutil.copytree(run_dir, first)
    for name in (run_io.CHECKPOINT, run_io.PREVIOUS_CHECKPOINT):
        (run_dir / name).write_bytes(b"\0" * 64)  # both damaged
    for name in RUN_OUTPUTS:
        (run_dir / name).unlink()
    code, out, err = cli_in_process(capsys, *argv)
    assert code == 0, err
    for name in (run_io.CHECKPOINT, run_io.PREVIOUS_CHECKPOINT):
        assert (f"warning: {run_dir / name}: cannot be read" in out
                and "; no readable checkpoint is left: training starts from scratch" in out), out
    assert "resumed" not in out
    assert_same_run(first, run_dir)
