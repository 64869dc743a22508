"""Faults seen through the Snakemake workflow, typed in the repository root (working in a scratch directory):

* a bad study config (`--configfile bad.yaml`) fails at start-up, before any job, naming the key;
* a training job killed mid-epoch (SIGKILL of the job alone, as by the OOM killer; then of Snakemake and all its
  jobs, as by a lost node): Snakemake never takes the killed job's outputs for complete, the checkpoint survives
  (it is not a declared output, so Snakemake does not delete it), and the rerun resumes and ends bit-identical to
  an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reliability_helpers import (REPO, RUN_OUTPUTS, assert_same_run, backticked_commands, checkpoint_epoch,
                                 cli_in_process, copy_data, descendants, command_line, files, finish, quiet_env,
                                 run_snakemake, start_snakemake, start_train, wait_for)
from spacetime_snn.training import run_io

pytestmark = pytest.mark.skipif(not (REPO / "Snakefile").exists(), reason="the workflow is not in this checkout")

# ---- bad study configs --------------------------------------------------------------------------------------

CONFIG_CASES = {  # id: (config merged over config.yaml, texts the message must contain)
    "unknown-key": ({"train": {"lerning_rate": 0.001}},
                    ["unknown key 'train.lerning_rate'; allowed keys here: batch_size, dead_neuron_boost,"]),
    "number-yaml-reads-as-text": ("train: {lr: 1e-3}\n",
                                  ["'train.lr': '1e-3' is a string, expected number",
                                   "YAML reads '1e-3' as text: write it with a decimal point, e.g. 1.0e-3"]),
    "negative-lr": ({"train": {"lr": -0.001}}, ["'train.lr': -0.001 is out of range; allowed: number > 0"]),
    "dims-0": ({"model": {"dims": 0}}, ["'model.dims': 0 is out of range; allowed: integer >= 1"]),
    "dims-0-in-a-condition": ({"conditions": {"spatial3d": {"extends": "spatial", "model": {"dims": 0}}}},
                              ["'conditions.spatial3d.model.dims': 0 is out of range; allowed: integer >= 1"]),
    "integer-yaml-reads-as-text": ("main: {seeds: ['0']}\n",
                                   ["'main.seeds[0]': '0' is a string, expected integer",
                                    "it is text (quoted): write it without quotes, e.g. 0"]),
    "max-delay-0": ({"model": {"max_delay_steps": 0}},
                    ["'model.max_delay_steps': 0 is out of range; allowed: integer >= 1"]),
    "empty-seed-list": ({"main": {"seeds": []}}, ["'main.seeds': [] is too short; give at least 1 item(s)"]),
    "unknown-delay-mode": ({"model": {"delay_mode": "wormhole"}},
                           ["'model.delay_mode': 'wormhole' is not allowed; allowed values: none, axonal, "
                            "synaptic, spatial"]),
    "unknown-condition": ({"main": {"conditions": ["spatail"]}},
                          ["'main.conditions[0]': unknown condition 'spatail'; defined conditions: axonal, none,"]),
    "invalid-run-settings": ({"data": {"selection": "validation", "validation_fraction": 0.0}},
                             ["invalid value for 'data.validation_fraction': must be > 0 when data.selection is "
                              "'validation'"]),
}
REAL_RUN = "negative-lr"  # also tried without -n: nothing may start


@pytest.fixture(scope="module")
def bad_config_runs(tmp_path_factory) -> dict:
    """Every bad config through `snakemake -n --configfile bad.yaml`, started together (start-up is the cost)."""
    base = tmp_path_factory.mktemp("bad-configs")
    started = {}
    for case, (override, _) in CONFIG_CASES.items():
        config = base / f"{case}.yaml"
        config.write_text(override if isinstance(override, str) else yaml.safe_dump(override))
        for mode in (["-n"], ["-c1"]) if case == REAL_RUN else (["-n"],):
            workdir = base / f"{case}{mode[0]}"
            workdir.mkdir()
            command = [sys.executable, "-m", "snakemake", *mode, "--configfile", str(config), "--directory",
                       str(workdir)]
            started[case, mode[0]] = (workdir, time.monotonic(), subprocess.Popen(
                command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=quiet_env()))
    results = {}
    for key, (workdir, start, process) in started.items():
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        # CPU seconds of the start-up, not wall clock: eleven start together on a shared 2-core machine
        results[key] = (workdir, process.returncode, output, usage.ru_utime + usage.ru_stime)
    return results


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_a_bad_study_config_fails_at_start_up_naming_the_key(bad_config_runs, case):
    for (name, mode), (workdir, code, output, seconds) in bad_config_runs.items():
        if name != case:
            continue
        assert code != 0, output[-3000:]
        assert "invalid study config:" in output
        for text in CONFIG_CASES[case][1]:
            assert text in output, output[-3000:]
        assert "(every key with its range and default: workflow/schemas/config.schema.yaml)" in output
        assert "Building DAG of jobs" not in output and "Job stats" not in output
        assert not (workdir / "results").exists() and not (workdir / "resources").exists()
        assert seconds < 20  # CPU seconds: ~2-3 (Snakemake's start-up and the config check), never a job


# ---- a training job killed under Snakemake ------------------------------------------------------------------

RUN = "results/rel/runs/spatial/h8/s0"
TARGET = f"{RUN}/summary.json"
TRAIN_LOG = "results/rel/logs/train/spatial/h8/s0.log"
STUDY = {  # one tiny run (spatial, 8 neurons, seed 0) on the suite's synthetic files, 8 epochs of ~0.5 s (the
    # kills land in epochs 3 and 4: the later epochs are margin for a machine whose speed changes between steps)
    "study": "rel",
    "data": {"source": "synthetic", "root": "resources/synthetic/rel", "dt_ms": 2.0, "validation_fraction": 0.25,
             "augment": {"shift_channels": 2, "blend_samples": 120}},
    "model": {"max_delay_steps": 10, "init": {"w_in_mean": 0.3, "w_in_std": 0.1}},
    "train": {"epochs": 8, "patience": 8, "batch_size": 16, "eval_batch_size": 64, "delay_lr": 0.05},
    "main": {"conditions": ["spatial"], "hidden": 8, "seeds": [0]},
    "architecture": {"conditions": ["spatial"], "hidden": [8], "seeds": [0]},
    "analysis": {"null_cache": None, "inputmaps": {"conditions": ["spatial"], "seeds": [0]}},
    "figures": {"fig1": {"condition": "spatial"}, "fig2": {"without_cost": "spatial", "with_cost": "spatial"}},
    "resources": {"train": {"threads": 1, "mem_mb": 1000, "runtime": 10, "gpu": 0}},
}


def training_process(snakemake_pid: int) -> int:
    """The `spacetime-snn train` process among Snakemake's descendants (not the shell that started it)."""
    found = [pid for pid in descendants(snakemake_pid) if "spacetime-snn train" in command_line(pid)
             and Path(command_line(pid).split(" ")[0]).name not in ("bash", "sh")]
    assert len(found) == 1, {pid: command_line(pid) for pid in descendants(snakemake_pid)}
    return found[0]


def kill_mid_epoch(run: Path, process: subprocess.Popen, log: Path, kill, epoch_seconds: float | None = None) -> float:
    """Wait for the next checkpoint (and, without `epoch_seconds`, the one after it, to time an epoch), then
    `kill()` half an epoch later; returns the epoch's duration."""
    def checkpoint_id():
        try:
            return os.stat(run / run_io.CHECKPOINT).st_ino
        except FileNotFoundError:
            return None

    current = checkpoint_id()
    wait_for(lambda: checkpoint_id() not in (None, current), process, log, timeout=180)
    if epoch_seconds is None:
        first, current = time.monotonic(), checkpoint_id()
        wait_for(lambda: checkpoint_id() not in (None, current), process, log, timeout=180)
        epoch_seconds = time.monotonic() - first
    time.sleep(epoch_seconds / 2)
    kill()
    return epoch_seconds


@pytest.fixture(scope="module")
def killed_under_snakemake(tiny_data, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("snakemake-kill")
    workdir = base / "work"
    copy_data(tiny_data, workdir / STUDY["data"]["root"])  # in place: the data rule has nothing to do
    config = base / "study.yaml"
    config.write_text(yaml.safe_dump(STUDY))
    args = (TARGET, "--configfile", str(config))
    run = workdir / RUN
    steps: dict = {}

    # 1. The training job alone is killed (SIGKILL) in epoch 3 of 8; Snakemake itself survives.
    log = base / "first.log"
    first = start_snakemake(workdir, log, "-c1", "--workflow-profile", "none", *args)  # job blocks shown
    wait_for((run / "settings.json").exists, first, log, timeout=120)
    reference = start_train(json.loads((run / "settings.json").read_text()), workdir / "reference",
                            base / "reference.log", cwd=workdir)
    epoch_seconds = kill_mid_epoch(run, first, log, lambda: os.kill(training_process(first.pid), signal.SIGKILL))
    steps["job-killed"] = (first.wait(timeout=120), log.read_text(), files(run), checkpoint_epoch(run))

    # 2. Rerun: resumes after epoch 2; Snakemake and every job of it are killed at once in epoch 4 (a lost node,
    #    `scancel -s KILL`).
    log = base / "second.log"
    second = start_snakemake(workdir, log, "-c1", *args)

    def kill_everything() -> None:
        tree = descendants(second.pid)
        os.killpg(second.pid, signal.SIGKILL)
        for pid in tree:  # in the same process group already; made sure of, should a job have left it
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    kill_mid_epoch(run, second, log, kill_everything, epoch_seconds)  # in epoch 4 of 8
    second.wait(timeout=60)
    steps["all-killed"] = (second.returncode, log.read_text(), files(run), checkpoint_epoch(run))
    # As if the kill had hit the job while it wrote its outputs: a model.pt that looks like one.
    (run / run_io.MODEL).write_bytes((run / run_io.CHECKPOINT).read_bytes()[:1000])

    steps["dry-run"] = run_snakemake(workdir, "-n", *args)
    steps["locked"] = run_snakemake(workdir, "-c1", "--rerun-incomplete", *args)
    steps["unlock"] = run_snakemake(workdir, "--unlock", *args)
    steps["rerun"] = run_snakemake(workdir, "-c1", "--rerun-incomplete", *args)
    steps["rerun-log"] = (workdir / TRAIN_LOG).read_text()
    steps["done"] = run_snakemake(workdir, "-n", *args)
    steps["train-log"] = (run / run_io.TRAIN_LOG).read_text()
    finish(reference, base / "reference.log", timeout=300)
    return {"workdir": workdir, "run": run, "steps": steps}


def test_the_training_rule_does_not_declare_its_checkpoints(killed_under_snakemake):
    output = killed_under_snakemake["steps"]["job-killed"][1]
    declared = re.search(r"rule train:\n(?:    .*\n)*?    output: (.*)\n", output)
    assert declared, output[-3000:]
    outputs = declared.group(1).split(", ")
    assert sorted(Path(p).name for p in outputs) == sorted(RUN_OUTPUTS)


def test_a_killed_training_job_fails_and_keeps_its_checkpoint(killed_under_snakemake):
    code, output, left, epoch = killed_under_snakemake["steps"]["job-killed"]
    assert code != 0
    assert "Error in rule train:" in output and "returned non-zero exit status 137" in output  # 128 + SIGKILL
    assert left == sorted([run_io.CHECKPOINT, run_io.PREVIOUS_CHECKPOINT, "settings.json", run_io.TRAIN_LOG,
                           run_io.LOCK]), left  # the lock of the killed process: taken over by the rerun
    assert 2 <= epoch < STUDY["train"]["epochs"]


def test_after_snakemake_itself_was_killed_the_outputs_are_not_taken_for_complete(killed_under_snakemake):
    steps = killed_under_snakemake["steps"]
    code, _, left, epoch = steps["all-killed"]
    assert code == -signal.SIGKILL and not set(RUN_OUTPUTS) & set(left)
    assert epoch > steps["job-killed"][3], "the second attempt did not resume and checkpoint further"
    dry_run = steps["dry-run"]
    assert dry_run.returncode != 0 and "IncompleteFilesException" in dry_run.stdout
    assert f"Incomplete files:\n{RUN}/{run_io.MODEL}" in dry_run.stdout
    assert "rerun your command with the --rerun-incomplete flag" in dry_run.stdout
    locked = steps["locked"]  # Snakemake's own lock outlives a SIGKILL; its message says what to do
    assert locked.returncode != 0 and "LockException" in locked.stdout and "--unlock" in locked.stdout
    assert steps["unlock"].returncode == 0


def test_the_rerun_resumes_and_ends_bit_identical_to_an_uninterrupted_run(killed_under_snakemake):
    steps, run = killed_under_snakemake["steps"], killed_under_snakemake["run"]
    assert steps["rerun"].returncode == 0, steps["rerun"].stdout[-3000:]
    assert f"resumed {RUN} after epoch {steps['all-killed'][3]}" in steps["rerun-log"]
    assert_same_run(killed_under_snakemake["workdir"] / "reference", run)
    assert "Nothing to be done" in steps["done"].stdout, steps["done"].stdout[-2000:]


def test_the_run_log_keeps_every_attempt_across_snakemake_reruns(killed_under_snakemake):
    """Snakemake deletes the job's log (results/<study>/logs/train/...) before it reruns the job; the run's own
    train.log, not a declared output, keeps the killed attempts."""
    steps = killed_under_snakemake["steps"]
    attempts = steps["train-log"].split("attempt started: ")[1:]
    assert len(attempts) == 3, steps["train-log"]
    assert "resumed" not in attempts[0] and "finished" not in attempts[0]
    assert f"resumed {RUN} after epoch {steps['job-killed'][3]}" in attempts[1] and "finished" not in attempts[1]
    assert f"resumed {RUN} after epoch {steps['all-killed'][3]}" in attempts[2] and "finished: " in attempts[2]
    assert "attempt started" in steps["rerun-log"] and steps["rerun-log"].count("attempt started") == 1


def test_a_successful_run_ends_saying_where_the_results_are(killed_under_snakemake):
    output = killed_under_snakemake["steps"]["rerun"].stdout
    tail = output[output.index("Study 'rel': results in results/rel/"):]
    assert "the data they are drawn from: results/rel/aggregated/*.csv; each run: results/rel/runs/" in tail
    assert "HTML report: once every figure and Table 1 exist, `snakemake --report results/rel/report.html " in tail


def test_a_damaged_run_output_is_rebuilt_by_the_command_its_message_gives(killed_under_snakemake, tmp_path, capsys,
                                                                          monkeypatch):
    """The Fix of a damaged snapshots.npz forces its training job: deleting the file is not enough, Snakemake
    answers "Nothing to be done" while the files built from it exist."""
    workdir = tmp_path / "work"
    shutil.copytree(killed_under_snakemake["workdir"], workdir, symlinks=True)
    (workdir / "configs").mkdir()
    (workdir / "configs" / "rel.yaml").write_text(yaml.safe_dump(STUDY))
    snapshots = f"{RUN}/{run_io.SNAPSHOTS}"
    (workdir / snapshots).write_bytes((workdir / snapshots).read_bytes()[:500])

    monkeypatch.chdir(workdir)  # `spacetime-snn metrics` as the rule runs it, in the study's folder
    metrics = ("metrics", "--run-dir", RUN, "--binary-nulls", "2", "--weighted-nulls", "2")
    code, _, err = cli_in_process(capsys, *metrics)
    assert code == 2 and "Traceback" not in err, err
    (fix,) = backticked_commands(err)
    assert fix == f"snakemake --cores 1 --configfile=configs/rel.yaml --forcerun={snapshots}"

    in_workdir = ("--snakefile", str(REPO / "Snakefile"))  # the command as typed in the study's folder
    (workdir / snapshots).rename(workdir / "damaged.npz")  # deleted, as an older message said to do
    stale = run_snakemake_in(workdir, "-n", "--configfile=configs/rel.yaml", TARGET, *in_workdir)
    assert "Nothing to be done" in stale.stdout, stale.stdout[-2000:]  # the trap the Fix avoids
    (workdir / "damaged.npz").rename(workdir / snapshots)

    rebuilt = run_snakemake_in(workdir, *fix.split()[1:], TARGET, *in_workdir,  # a target may follow: "--forcerun="
                               "--workflow-profile", "none")  # the job blocks it reads
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert "rule train:" in rebuilt.stdout and "reason: Forced execution" in rebuilt.stdout
    assert "rule metrics:" not in rebuilt.stdout  # only what TARGET needs
    assert run_io.load_snapshots(workdir / RUN)["w_rec"].shape[1:] == (8, 8)
    assert f"resumed {RUN} after epoch {STUDY['train']['epochs']}" in (workdir / RUN / run_io.TRAIN_LOG).read_text()
    code, _, err = cli_in_process(capsys, *metrics)
    assert code == 0, err


def run_snakemake_in(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """`snakemake ARGS` typed in `workdir` itself (relative --configfile paths resolve there)."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, env=quiet_env())


# ---- targets of another study (a forgotten --configfile, or `--configfile FILE TARGET`) -------------------------

def test_a_target_of_another_study_names_the_config_file_that_builds_it(tmp_path):
    """`snakemake results/demo/figures/fig3.pdf` without --configfile: the study of config.yaml is 'shd'."""
    result = run_snakemake(tmp_path, "-n", "--cores", "2", "results/demo/figures/fig3.pdf")
    assert result.returncode != 0
    assert "results/demo/figures/fig3.pdf belongs to study 'demo', but the config of this command is study " \
           "'shd' (its results go to results/shd/). Fix: `snakemake --cores 2 --configfile=configs/demo.yaml " \
           "results/demo/figures/fig3.pdf`." in result.stdout, result.stdout[-3000:]
    assert "`--configfile FILE TARGET` reads TARGET as a second config file" in result.stdout
    assert "Traceback" not in result.stdout and "InputFunctionException" not in result.stdout, result.stdout[-3000:]
    fixed = run_snakemake(tmp_path, "-n", "--quiet", *backticked_commands(result.stdout)[0].split()[1:])
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert not (tmp_path / "results").exists()


def test_a_time_step_other_than_1_ms_is_warned_about_at_start_up(tmp_path):
    config = tmp_path / "dt.yaml"
    config.write_text("data: {dt_ms: 0.1}\nmodel: {scale_input: false}\n")
    result = run_snakemake(tmp_path, "-n", "--quiet", "--configfile", "configs/demo.yaml", str(config))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "warning: condition(s) synaptic, spatial, spatial_cost, spatial2d, spatial3d, spatial4d, nonspatial, axonal, " \
           "none: data.dt_ms = " \
           "0.1 with model.scale_input: false:" in result.stdout
    assert "warning: condition(s) synaptic, spatial, spatial_cost, spatial2d, spatial3d, spatial4d, nonspatial, axonal: " \
           "data.dt_ms = 0.1: " \
           "delays and positions are in steps" in result.stdout
