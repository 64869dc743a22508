"""Model files and checkpoints are loaded with `torch.load(..., weights_only=True)`: a model.pt carrying Python
objects is refused before any of its code can run (the test's payload would create a file), the files this package
writes hold only tensors and plain data, and checkpoints of older versions (numpy arrays inside) still resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import torch
from torch.serialization import get_unsafe_globals_in_checkpoint

from reliability_helpers import assert_same_run, cli_in_process
from spacetime_snn.training import run_io


class Payload:
    """What a hostile model.pt could carry: unpickling it calls open(marker, "w")."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_written_files_hold_plain_data_only(trained):
    for name in (run_io.MODEL, run_io.CHECKPOINT, run_io.PREVIOUS_CHECKPOINT):
        assert get_unsafe_globals_in_checkpoint(str(trained / name)) == [], name


def test_model_file_carrying_code_is_refused(trained, tmp_path, capsys):
    run_dir = tmp_path / "shared-run"
    shutil.copytree(trained, run_dir)
    marker = tmp_path / "code-ran"
    saved = run_io.load_model_file(run_dir)
    torch.save({**saved, "extra": Payload(marker)}, run_dir / run_io.MODEL)
    code, out, err = cli_in_process(capsys, "prune", "--run-dir", str(run_dir), "--out", str(tmp_path / "p.csv"))
    assert code == 2 and "Traceback" not in err, out + err
    assert f"{run_dir / run_io.MODEL}: holds Python objects other than tensors and plain data" in err, err
    assert "could run code carried by the file" in err and "Fix: " in err, err
    assert not marker.exists(), "loading the model file ran code it carried"
    assert not (tmp_path / "p.csv").exists()


def test_older_checkpoint_with_numpy_arrays_still_resumes(trained, tmp_path, capsys):
    run_dir = tmp_path / "old-run"
    shutil.copytree(trained, run_dir)
    for name in (run_io.CHECKPOINT, run_io.PREVIOUS_CHECKPOINT):  # the format before this change
        state = torch.load(run_dir / name, weights_only=True)
        state["snapshots"] = {key: [value.numpy() for value in values] for key, values in state["snapshots"].items()}
        torch.save(state, run_dir / name)
        assert "numpy.ndarray" in get_unsafe_globals_in_checkpoint(str(run_dir / name))
    for name in run_io.OUTPUTS:
        (run_dir / name).unlink()
    run_settings = run_io.load_model_file(trained)["settings"]
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(run_dir))
    assert code == 0, err
    assert f"resumed {run_dir} after epoch 3" in out and "checkpoint" not in out.replace(str(run_dir), ""), out
    assert_same_run(trained, run_dir)
    snapshots = run_io.load_snapshots(run_dir)
    assert isinstance(snapshots["w_rec"], np.ndarray) and snapshots["w_rec"].shape[0] == 4  # epochs 0-3
