"""Atomic outputs: a write interrupted by an exception or by SIGKILL never leaves a file that looks complete,
and an older complete file at the same path survives untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from reliability_helpers import quiet_env
from spacetime_snn.io_utils import atomic_path


class Boom(Exception):
    pass


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_an_exception_inside_the_block_leaves_no_file(tmp_path, existing):
    target = tmp_path / "summary.json"
    if existing:
        target.write_text('{"old": true}')
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text('{"new": ')  # half written
            raise Boom
    assert (target.read_text() == '{"old": true}') if existing else not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["summary.json"] if existing else [])


WRITER = textwrap.dedent(
    """
    import sys, time
    from spacetime_snn.io_utils import atomic_path

    with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as handle:
        handle.write(b"x" * 100_000)
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)  # killed here, mid-write
        handle.write(b"end")
    """
)


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_a_writer_killed_mid_write_leaves_no_file_that_looks_complete(tmp_path, existing):
    target = tmp_path / "run" / "model.pt"
    if existing:
        target.parent.mkdir()
        target.write_bytes(b"complete old model")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                              env=quiet_env())
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    if existing:
        assert target.read_bytes() == b"complete old model"
    else:
        assert not target.exists()
    # What is left is the hidden temporary file, named so that neither Snakemake nor a reader takes it for the output.
    leftovers = [p.name for p in target.parent.iterdir() if p.name != "model.pt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.pt.") and leftovers[0].endswith(".tmp")


# ---- a full disk ------------------------------------------------------------------------------------------------
# Simulated in-process, never by filling a real disk: the writer's temporary file is swapped for /dev/full, where
# every write fails with ENOSPC as on a full file system.

def _full_disk_open(monkeypatch, module, name_part: str) -> list[str]:
    """Make `module`'s open() write files whose name contains `name_part` to /dev/full; returns their names."""
    import builtins

    hit = []

    def open_(file, mode="r", *args, **kwargs):
        if name_part in os.path.basename(str(file)) and "w" in mode:
            hit.append(os.path.basename(str(file)))
            return builtins.open("/dev/full", mode, *args, **kwargs)
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(module, "open", open_, raising=False)
    return hit


def test_a_full_disk_during_training_says_so_and_where(capsys, fresh_data, tmp_path, monkeypatch):
    """torch.save onto a full disk raised `RuntimeError: [enforce fail at inline_container.cc:672]`."""
    import json

    from reliability_helpers import cli_in_process, files, settings
    from spacetime_snn.training import run_io

    hit = _full_disk_open(monkeypatch, run_io, f".{run_io.CHECKPOINT}.")
    run_dir = tmp_path / "run"
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(settings(fresh_data)), "--out",
                                    str(run_dir))
    assert hit, "the checkpoint was not written through run_io's open()"
    assert code == 2 and "Traceback" not in err and "enforce fail" not in err, err
    checkpoint = run_dir / run_io.CHECKPOINT
    assert err.startswith(f"spacetime-snn train: error: {checkpoint}: cannot be written: the disk is full (or over "
                          f"quota) — the file system mounted at ")
    assert f", which holds {run_dir}, has " in err and " free of " in err
    assert "(OSError: [Errno 28] No space left on device)" in err
    assert f"Fix: free space on " in err and f"(`df -h {run_dir}` shows it;" in err
    assert "then rerun the same command (a training run resumes from its last checkpoint)." in err
    assert files(run_dir) == [run_io.TRAIN_LOG]  # no checkpoint, no temporary file
    assert f"error: {checkpoint}: cannot be written: the disk is full" in (run_dir / run_io.TRAIN_LOG).read_text()


def test_any_writer_on_a_full_disk_names_its_target(tmp_path):
    """The same message for every writer that goes through atomic_path (CSV tables, figures, HDF5 files)."""
    from spacetime_snn.errors import DiskFullError

    target = tmp_path / "aggregated" / "accuracy.csv"
    target.parent.mkdir()
    target.write_text("old,complete\n")
    with pytest.raises(DiskFullError) as raised:
        with atomic_path(target) as tmp, open("/dev/full", "w") as handle:
            assert tmp.parent == target.parent
            handle.write("x" * 100_000)
            handle.flush()
    message = str(raised.value)
    assert message.startswith(f"{target}: cannot be written: the disk is full")
    assert f"Nothing was replaced: {target} keeps its previous content" in message
    assert target.read_text() == "old,complete\n" and sorted(p.name for p in target.parent.iterdir()) == [target.name]
