"""A diverging run (NaN / inf loss or gradient), through `spacetime-snn train`: exit code 2, a message naming the
epoch and the batch and what to do, no run outputs, and the last good checkpoint kept."""

from __future__ import annotations

import json

import torch

from reliability_helpers import RUN_OUTPUTS, checkpoint_epoch, cli_in_process, files, settings
from spacetime_snn.training import loop, run_io


def test_absurd_settings_diverge_in_the_first_batch(capsys, fresh_data, tmp_path):
    run_dir = tmp_path / "run"
    absurd = settings(fresh_data, train={"l1": 1e300})  # l1 * sum |w| overflows float32
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(absurd), "--out", str(run_dir))
    assert code == 2, out + err
    assert err.startswith("spacetime-snn train: error: the loss became NaN/inf at epoch 1, batch 0; ")
    assert "the run stopped without writing its outputs and no checkpoint was written" in err
    assert "Fix: lower train.lr / train.delay_lr or the regulariser strengths, rerun." in err
    assert files(run_dir) == [run_io.TRAIN_LOG]  # the attempt's own log, ending with the error
    log = (run_dir / run_io.TRAIN_LOG).read_text()
    assert "attempt started: spacetime-snn train" in log and "error: the loss became NaN/inf at epoch 1" in log


def test_divergence_mid_training_keeps_the_last_good_checkpoint(capsys, fresh_data, tmp_path, monkeypatch):
    """NaN injected into the input of epoch 2, batch 1. The NaN membranes never cross the threshold, so the loss
    stays finite; the gradient guard is what stops the run."""
    real_iterate = loop.iterate_batches
    epochs = []

    def poisoned(*args, **kwargs):
        epochs.append(len(epochs) + 1)
        for index, batch in enumerate(real_iterate(*args, **kwargs)):
            if epochs[-1] == 2 and index == 1:
                batch.inputs = torch.sparse_coo_tensor(batch.inputs.indices(), batch.inputs.values() * float("nan"),
                                                       batch.inputs.shape, check_invariants=False).coalesce()
            yield batch

    monkeypatch.setattr(loop, "iterate_batches", poisoned)
    run_dir = tmp_path / "run"
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(settings(fresh_data)),
                                    "--out", str(run_dir))
    assert code == 2, out + err
    checkpoint, previous = run_dir / run_io.CHECKPOINT, run_dir / run_io.PREVIOUS_CHECKPOINT
    assert err.startswith("spacetime-snn train: error: a gradient became NaN/inf at epoch 2, batch 1; ")
    assert f"its last good checkpoint ({checkpoint}, end of epoch 1) is kept for inspection" in err
    assert f"delete {checkpoint} and {previous}" in err
    assert checkpoint_epoch(run_dir) == 1
    assert not set(RUN_OUTPUTS) & set(files(run_dir))
