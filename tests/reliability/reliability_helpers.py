"""Helpers of the fault-injection suite: tiny data, run settings, the CLI in-process and as a subprocess, waiting
for a file while a process runs, comparing two run directories bit for bit. (A plain module, not conftest.py:
other test folders have conftest modules of their own.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from spacetime_snn.data.shd_format import SYNTHETIC_FILES
from spacetime_snn.data.synthetic import SyntheticSpec, generate_synthetic
from spacetime_snn.training import run_io

REPO = Path(__file__).resolve().parents[2]

# The smallest synthetic task the generator accepts that still trains every part of the model (as
# tests/training/conftest.py): 24 channels, 3 classes, 48 / 24 samples of 200 ms.
TINY_SPEC = SyntheticSpec(num_channels=24, num_classes=3, num_train=48, num_test=24, group_size=6, num_groups=3,
                          duration_ms=200.0, seed=0)

RUN_OUTPUTS = (run_io.MODEL, run_io.LOG, run_io.SNAPSHOTS, run_io.SUMMARY)


def make_data(root: Path) -> Path:
    generate_synthetic(TINY_SPEC, root)
    return root


def copy_data(source: Path, root: Path) -> Path:
    """The two HDF5 files of `source` in a new folder, without any binned cache."""
    root.mkdir(parents=True, exist_ok=True)
    for name in SYNTHETIC_FILES.values():
        shutil.copy2(source / name, root / name)
    return root


def merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def settings(root: Path | str, seed: int = 3, **sections: dict) -> dict[str, Any]:
    """Run settings of a tiny run on the synthetic files in `root` (hidden 8, dt 2 ms, 3 epochs, batch 16);
    `sections` are merged over them, e.g. train={"epochs": 5}."""
    base = {
        "data": {"source": "synthetic", "root": str(root), "dt_ms": 2.0, "validation_fraction": 0.25,
                 "augment": {"shift_channels": 2, "blend_samples": 8}},
        "model": {"hidden": 8, "delay_mode": "spatial", "max_delay_steps": 10,
                  "init": {"w_in_mean": 0.3, "w_in_std": 0.1}},
        "train": {"epochs": 3, "patience": 5, "batch_size": 16, "delay_lr": 0.05},
        "seed": seed,
        "run": {"study": "reliability", "condition": "spatial", "hidden": 8, "seed": seed},
    }
    return merge(base, sections)


def cli_in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """`spacetime-snn ARGV` through the entry point's own function: (exit code, stdout, stderr)."""
    from spacetime_snn.cli import main

    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_command() -> list[str]:
    """The installed `spacetime-snn` script (what a user and Snakemake type), else `python -m spacetime_snn`."""
    script = shutil.which("spacetime-snn")
    return [script] if script else [sys.executable, "-m", "spacetime_snn"]


def start_train(run_settings: dict, out: Path, log: Path, *extra: str, cwd: Path | None = None) -> subprocess.Popen:
    """`spacetime-snn train` as a separate process (one torch thread), stdout + stderr into `log`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "w")
    process = subprocess.Popen(
        [*cli_command(), "train", "--settings", json.dumps(run_settings), "--out", str(out), "--threads", "1",
         *extra],
        stdout=handle, stderr=subprocess.STDOUT, cwd=cwd, env=quiet_env())
    handle.close()
    return process


def quiet_env() -> dict[str, str]:
    """The environment of a child process: one BLAS/OpenMP thread (2 cores are shared by several children)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def finish(process: subprocess.Popen, log: Path, timeout: float = 120) -> str:
    """Wait for a child; return its output and fail (showing it) if it did not exit 0."""
    code = process.wait(timeout=timeout)
    text = log.read_text()
    assert code == 0, f"exit code {code}:\n{text[-3000:]}"
    return text


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, log: Path | None = None,
             timeout: float = 120, poll: float = 0.005) -> None:
    """Poll `condition` while `process` runs; fail if it exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            text = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"the process exited ({process.returncode}) before the condition held:\n{text}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the condition")
        time.sleep(poll)


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def assert_same_run(dir_a: Path, dir_b: Path) -> None:
    """Two finished runs are bit-identical: model.pt tensors, snapshots, log.csv (minus the seconds column),
    and the summary (minus timing)."""
    a, b = run_io.load_model_file(dir_a), run_io.load_model_file(dir_b)
    assert a["epoch"] == b["epoch"] and a["settings"] == b["settings"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), f"model.pt differs in {key}"
    log_a = pd.read_csv(dir_a / run_io.LOG).drop(columns="seconds")
    log_b = pd.read_csv(dir_b / run_io.LOG).drop(columns="seconds")
    pd.testing.assert_frame_equal(log_a, log_b, check_exact=True)
    snaps_a, snaps_b = run_io.load_snapshots(dir_a), run_io.load_snapshots(dir_b)
    assert snaps_a.keys() == snaps_b.keys()
    for key in snaps_a:
        np.testing.assert_array_equal(snaps_a[key], snaps_b[key], err_msg=f"snapshots.npz differs in {key}")
    timing = ("seconds_per_epoch", "train_seconds", "train_cpu_seconds")  # clocks, not results
    summary_a = {k: v for k, v in run_io.load_summary(dir_a).items() if k not in timing}
    summary_b = {k: v for k, v in run_io.load_summary(dir_b).items() if k not in timing}
    assert summary_a == summary_b


def checkpoint_epoch(run_dir: Path, name: str = run_io.CHECKPOINT) -> int:
    return int(run_io.load_torch(run_dir / name)["epoch"])


def run_snakemake(workdir: Path, *args: str, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """`snakemake ARGS` typed in the repository root, working in `workdir` (stdout and stderr merged)."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          env=quiet_env(), **popen)


def start_snakemake(workdir: Path, log: Path, *args: str) -> subprocess.Popen:
    """`snakemake ARGS` in the background, in a session of its own so that the whole tree can be killed."""
    handle = open(log, "w")
    process = subprocess.Popen([sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)], cwd=REPO,
                               stdout=handle, stderr=subprocess.STDOUT, env=quiet_env(), start_new_session=True)
    handle.close()
    return process


def descendants(pid: int) -> list[int]:
    """Process ids of every descendant of `pid` (from /proc), children first."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(entry.name))
    return children + [grandchild for child in children for grandchild in descendants(child)]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def backticked_commands(message: str, program: str = "snakemake") -> list[str]:
    """The `program ...` commands a message gives between backticks, in order."""
    import re

    return [command for command in re.findall(r"`([^`]+)`", message) if command.split()[0] == program]


def study_run_dir(study: str = "rel", condition: str = "spatial", hidden: int = 8, seed: int = 3) -> Path:
    """A run directory as the workflow lays it out, relative to the working directory (as rules pass it)."""
    return Path(f"results/{study}/runs/{condition}/h{hidden}/s{seed}")
