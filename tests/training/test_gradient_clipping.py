"""train.surrogate_clip_factor: under the surrogate gradient a batch whose gradient norm exceeds the factor times
the previous epoch's median is scaled down to it; the log keeps the norms before clipping and counts the batches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from spacetime_snn import study
from spacetime_snn.training import run_io
from spacetime_snn.training.loop import Trainer, _clip_gradients, _weight_gradient_norm


def _with_train(settings, **train):
    return dataclasses.replace(settings, train=dataclasses.replace(settings.train, **train))


def _log(settings, run_dir) -> pd.DataFrame:
    Trainer(settings, run_dir, log=lambda *_: None).run()
    return pd.read_csv(run_dir / run_io.LOG)


def test_a_factor_just_above_one_clips_batches_from_epoch_two_on(tiny_settings, tmp_path):
    log = _log(_with_train(tiny_settings(), surrogate_clip_factor=1.0001, epochs=6), tmp_path)
    assert log.loc[log["epoch"] == 1, "clipped_batches"].item() == 0  # no previous epoch: never clipped
    assert log.loc[log["epoch"] >= 2, "clipped_batches"].sum() > 0
    assert (log.loc[log["epoch"] > 0, "grad_norm_max"] >= log.loc[log["epoch"] > 0, "grad_norm_median"]).all()


def test_no_factor_and_eventprop_never_clip(tiny_settings, tmp_path):
    plain = _log(tiny_settings(), tmp_path / "plain")
    assert (plain.loc[plain["epoch"] > 0, "clipped_batches"] == 0).all()
    eventprop = _with_train(tiny_settings(), gradient="eventprop", surrogate_clip_factor=1.0001)
    log = _log(eventprop, tmp_path / "eventprop")
    assert (log.loc[log["epoch"] > 0, "clipped_batches"] == 0).all()


def test_a_clipped_batch_is_scaled_to_the_limit(tiny_settings, tmp_path):
    """The limit is the factor times the previous epoch's median norm, and the clipped gradient's norm is it."""
    trainer = Trainer(_with_train(tiny_settings(), surrogate_clip_factor=2.0), tmp_path, log=lambda *_: None)
    trainer.rows = [{"epoch": 0}]
    assert trainer._clip_limit() is None
    trainer.rows.append({"epoch": 1, "grad_norm_median": 0.25})
    assert trainer._clip_limit() == pytest.approx(0.5)
    model = trainer.model
    for param in model.parameters():
        param.grad = torch.ones_like(param)
    norm = _weight_gradient_norm(model)
    assert norm == pytest.approx(np.sqrt(sum(p.numel() for p in model.weight_parameters())))
    assert not _clip_gradients(model, norm, None) and not _clip_gradients(model, norm, 2 * norm)
    assert _weight_gradient_norm(model) == pytest.approx(norm)  # untouched
    assert _clip_gradients(model, norm, trainer._clip_limit())
    assert _weight_gradient_norm(model) == pytest.approx(0.5)
    delays = model.delay_parameters()[0]
    assert torch.allclose(delays.grad, torch.full_like(delays, 0.5 / norm))  # delays scaled alike


def test_eventprop_run_settings_leave_out_what_only_the_surrogate_rule_reads() -> None:
    config = study.check_config(study.deep_merge(study.load_yaml("config.yaml"),
                                                 {"train": {"gradient": "eventprop"}}),
                                study.load_yaml("workflow/schemas/config.schema.yaml"))
    train = study.run_settings(config, "spatial", 128, 0)["train"]
    assert not set(study.SURROGATE_ONLY) & set(train)
    surrogate = study.run_settings(study.check_config(study.deep_merge(study.load_yaml("config.yaml"),
                                                                       {"train": {"gradient": "surrogate"}}),
                                                      study.load_yaml("workflow/schemas/config.schema.yaml")),
                                   "spatial", 128, 0)["train"]
    assert surrogate["surrogate_clip_factor"] == 5.0 and set(study.SURROGATE_ONLY) <= set(surrogate)
