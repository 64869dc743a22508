"""`spacetime-snn data spoken --threads 2` killed while its workers make chunks (SIGKILL as the OOM killer or a lost
job, SIGTERM as Snakemake's cancellation or SLURM's scancel, SIGINT as Ctrl-C): no worker outlives it (checked in
the process table within seconds; before, they finished every chunk and then slept forever on a pipe)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from reliability_helpers import cli_command, descendants, quiet_env

def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _as_in_a_terminal() -> None:
    """SIGINT handled as in a terminal's foreground job: a suite started in the background of a non-interactive
    shell (`pytest ... &`, as CI may be) ignores SIGINT, and its children would inherit that and never see Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_workers_die_with_the_command(tmp_path, signum):
    out, log = tmp_path / "spoken", tmp_path / "spoken.log"
    with open(log, "w") as handle:  # a file, not a pipe: an orphan holding the pipe would block the reading
        process = subprocess.Popen(
            [*cli_command(), "data", "spoken", "--out", str(out), "--num-train", "80", "--num-test", "80",
             "--channels", "16", "--threads", "2"],
            stdout=handle, stderr=subprocess.STDOUT, env=quiet_env(), start_new_session=True,
            preexec_fn=_as_in_a_terminal)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
            workers = [pid for pid in descendants(process.pid) if alive(pid)]
        time.sleep(1.0)  # the workers are inside their first chunks (each takes seconds; 6 chunks for 2 workers, so
        # the command cannot have finished however fast the machine: it must be stopped by the signal)
        # SIGINT as a terminal sends it: to the whole foreground process group, workers included
        os.killpg(process.pid, signum) if signum == signal.SIGINT else process.send_signal(signum)
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in workers if alive(pid)]
        assert not left, f"worker(s) {left} outlived the command killed by {signum.name}"
    finally:  # never leave them burning the CPU of the rest of the suite
        for pid in [process.pid, *workers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    output = log.read_text()
    assert process.returncode != 0
    if signum != signal.SIGKILL:
        assert "Traceback" not in output, output
    if signum == signal.SIGINT:
        assert "interrupted" in output and "rerun the same command" in output, output
    if signum == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM, output
