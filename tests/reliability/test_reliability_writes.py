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
