"""One writer per run directory: `spacetime-snn train --out DIR` while another training process writes DIR stops at
once (exit 2, naming that process's pid and host) and changes nothing; a lock left by a dead process is taken over
with a notice; a lock of another host is refused with the command that removes it, unless it is this very SLURM
job, requeued onto another node."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from reliability_helpers import cli_in_process, finish, settings, start_train, wait_for
from spacetime_snn.training import run_io


def lock_record(**fields) -> str:
    record = {"pid": 999999, "host": socket.gethostname(), "started": "2026-01-01 00:00:00",
              "command": "spacetime-snn train --out x", "slurm_job_id": None, "slurm_restart_count": None}
    return json.dumps({**record, **fields})


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_second_writer_stops_and_the_first_run_is_kept(fresh_data, tmp_path, capsys):
    run_dir, log = tmp_path / "run", tmp_path / "a.log"
    settings_a = settings(fresh_data, train={"epochs": 12, "patience": 20})
    first = start_train(settings_a, run_dir, log)
    try:
        wait_for(lambda: (run_dir / run_io.CHECKPOINT).exists(), first, log)
        settings_b = settings(fresh_data, train={"epochs": 2, "lr": 0.003})
        code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(settings_b), "--out", str(run_dir))
        assert first.poll() is None, "the first run should still be training"
    finally:
        text = finish(first, log)
    assert code == 2, out + err
    assert f"pid {first.pid} on host {socket.gethostname()}" in err and "another training process" in err, err
    assert "Fix: wait for it to finish" in err and f"`kill {first.pid}`" in err, err
    assert "Traceback" not in err
    assert "finished" in text and "set aside" not in text, text
    assert not list(run_dir.glob("*.stale.pt")), "the second writer set the first run's checkpoints aside"
    assert run_io.load_model_file(run_dir)["settings"]["train"]["epochs"] == 12  # the first run's results
    assert not (run_dir / run_io.LOCK).exists(), "a finished run leaves no lock behind"
    assert "another training process" in (run_dir / run_io.TRAIN_LOG).read_text()  # the refused attempt is logged


def test_lock_of_a_dead_process_on_this_host_is_taken_over(fresh_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    pid = dead_pid()
    (run_dir / run_io.LOCK).write_text(lock_record(pid=pid))
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(settings(fresh_data)), "--out",
                                    str(run_dir))
    assert code == 0, err
    assert f"taking over the lock of pid {pid} on host {socket.gethostname()}" in out, out
    assert (run_dir / run_io.MODEL).exists() and not (run_dir / run_io.LOCK).exists()


def test_lock_of_another_host_is_refused_with_the_command_that_removes_it(fresh_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = run_dir / run_io.LOCK
    lock.write_text(lock_record(host="node-that-died", pid=4321))
    argv = ("train", "--settings", json.dumps(settings(fresh_data)), "--out", str(run_dir))
    code, out, err = cli_in_process(capsys, *argv)
    assert code == 2 and "Traceback" not in err
    assert "pid 4321 on host node-that-died" in err and "another host" in err, err
    assert f"`rm {lock}`" in err and "`ps -p 4321`" in err, err
    assert not (run_dir / run_io.CHECKPOINT).exists() and lock.exists()
    subprocess.run(["rm", str(lock)], check=True)  # the Fix, as given
    code, out, err = cli_in_process(capsys, *argv)
    assert code == 0, err


def test_requeued_slurm_job_takes_its_own_lock_over_on_another_node(fresh_data, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / run_io.LOCK).write_text(lock_record(host="node-that-died", slurm_job_id="4242",
                                                   slurm_restart_count="0"))
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(settings(fresh_data)), "--out",
                                    str(run_dir))
    assert code == 0, err
    assert "the same SLURM job 4242, requeued" in out, out


def test_file_system_without_flock_judges_by_the_record(fresh_data, tmp_path, capsys, monkeypatch):
    """Lustre mounted without flock (ENOSYS) or NFS without lockd (ENOLCK): a live holder on this host is still
    refused, a dead one taken over."""
    import errno
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / run_io.LOCK).write_text(lock_record(pid=holder.pid))
        argv = ("train", "--settings", json.dumps(settings(fresh_data, train={"epochs": 1})), "--out", str(run_dir))
        code, out, err = cli_in_process(capsys, *argv)
        assert code == 2 and f"pid {holder.pid} on host {socket.gethostname()}" in err, out + err
    finally:
        holder.kill()
        holder.wait()
    code, out, err = cli_in_process(capsys, *argv)
    assert code == 0 and f"taking over the lock of pid {holder.pid}" in out, out + err
