"""Ordinary mistakes on the command line get `error: ... Fix: ...` (exit 2), never a traceback, and leave nothing
behind: an output path that is a file or under one, a device this machine lacks or that does not exist, a negative
thread count, a read-only file system, fractions out of range or NaN, a missing run directory, and a checkpoint
that is a valid torch file holding something else (the previous checkpoint is then used)."""

from __future__ import annotations

import errno
import json
import pathlib
import shutil
import tempfile

import pytest
import torch

from reliability_helpers import assert_same_run, cli_in_process, settings
from spacetime_snn.training import run_io


def train(capsys, run_settings, out, *extra):
    return cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(out), *extra)


def refused(code, out, err):
    assert code == 2, out + err
    assert "Traceback" not in err and "error: " in err and "Fix: " in err, err
    return err


def test_out_is_a_file_or_under_one(fresh_data, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("keep me")
    err = refused(*train(capsys, settings(fresh_data), readme))
    assert f"--out {readme}: is a file, not a run directory; nothing was changed. Fix: " in err, err
    err = refused(*train(capsys, settings(fresh_data), readme / "run"))
    assert f"--out {readme / 'run'}: {readme} is a file, so no directory can be made under it" in err, err
    assert readme.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "data"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device, message", [("cuda", "--device cuda: not available on this machine"),
                                             ("foo", "--device 'foo': not a torch device")])
def test_device_this_machine_lacks(fresh_data, tmp_path, capsys, device, message):
    run_dir = tmp_path / "run"
    err = refused(*train(capsys, settings(fresh_data), run_dir, "--device", device))
    assert message in err and "Fix: leave --device out (CUDA when present, else CPU) or give --device cpu" in err
    assert not run_dir.exists(), "an empty run directory was left behind"
    code, _, err = train(capsys, settings(fresh_data, train={"epochs": 1}), run_dir, "--device", "cpu")  # the Fix
    assert code == 0, err


def test_negative_threads(fresh_data, tmp_path, capsys):
    err = refused(*train(capsys, settings(fresh_data), tmp_path / "run", "--threads", "-1"))
    assert "--threads -1: must be an integer >= 1. Fix: --threads 1" in err and not (tmp_path / "run").exists()


def read_only_below(monkeypatch, root: pathlib.Path) -> None:
    """Simulate a read-only file system at `root` (the suite runs as root, where permissions do not stop writes):
    creating a folder or a temporary file below it fails with EROFS, as the kernel reports it."""
    real_mkdir, real_mkstemp = pathlib.Path.mkdir, tempfile.mkstemp

    def mkdir(self, *args, **kwargs):
        if self.is_relative_to(root) and not self.exists():
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and pathlib.Path(dir).is_relative_to(root):
            raise OSError(errno.EROFS, "Read-only file system", str(pathlib.Path(dir) / "tmpXXXX"))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_read_only_file_system(fresh_data, tmp_path, capsys, monkeypatch, trained):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only_below(monkeypatch, read_only)
    err = refused(*train(capsys, settings(fresh_data), read_only / "run"))  # mkdir of the run directory
    assert f"{read_only / 'run'}: cannot be written (Read-only file system): the file system is mounted " \
           f"read-only" in err, err
    err = refused(*cli_in_process(capsys, "prune", "--run-dir", str(trained), "--magnitude-keep", "1.0",
                                  "--length-remove", "0.0", "--out", str(read_only / "prune.csv")))  # a temp file
    assert f"{read_only}/tmpXXXX: cannot be written (Read-only file system)" in err, err
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (("prune", "--magnitude-keep", "1.5"), "--magnitude-keep 1.5: each value is a fraction of the strongest "
                                           "recurrent synapses kept and must lie in [0, 1]"),
    (("prune", "--magnitude-keep", "nan"), "--magnitude-keep nan: each value"),
    (("prune", "--length-remove", "2"), "--length-remove 2: each value is a fraction of the longest-delay synapses "
                                        "removed and must lie in [0, 1)"),
    (("metrics", "--binary-keep-fraction", "1.7"), "--binary-keep-fraction 1.7 must lie in (0, 1]"),
    (("metrics", "--binary-keep-fraction", "0"), "--binary-keep-fraction 0 must lie in (0, 1]: it is the share of "
                                                 "the strongest synapses kept for the binary metrics (0 keeps none"),
], ids=["keep-1.5", "keep-nan", "remove-2", "binary-1.7", "binary-0"])
def test_fraction_out_of_range(trained, tmp_path, capsys, argv, message):
    out = ("--out", str(tmp_path / "p.csv")) if argv[0] == "prune" else ("--out-dir", str(tmp_path / "m"))
    err = refused(*cli_in_process(capsys, argv[0], "--run-dir", str(trained), *argv[1:], *out))
    assert message in err, err
    assert list(tmp_path.iterdir()) == []


def test_prune_on_a_missing_run_directory(tmp_path, capsys):
    missing = tmp_path / "missing"
    err = refused(*cli_in_process(capsys, "prune", "--run-dir", str(missing), "--out", str(tmp_path / "p.csv")))
    assert f"{missing}: no such run directory. Fix: pass the directory of a trained run" in err, err


def test_checkpoint_holding_a_model_file_falls_back_to_the_previous(trained, tmp_path, capsys):
    reference = tmp_path / "reference"
    shutil.copytree(trained, reference)
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    for name in run_io.OUTPUTS:
        (run_dir / name).unlink()
    shutil.copy2(run_dir.parent / "reference" / run_io.MODEL, run_dir / run_io.CHECKPOINT)  # a copied model.pt
    code, out, err = train(capsys, run_io.load_model_file(reference)["settings"], run_dir)
    assert code == 0, err
    assert (f"warning: {run_dir / run_io.CHECKPOINT}: a readable torch file, but not a training checkpoint: it lacks "
            f"model, weight_opt") in out, out
    assert "using the previous checkpoint" in out and f"resumed {run_dir} after epoch 2" in out, out
    assert_same_run(reference, run_dir)
