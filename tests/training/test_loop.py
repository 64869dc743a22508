"""The training loop: outputs, resume after interruption, divergence, corrupt checkpoints."""

import json

import pandas as pd
import pytest
import torch

from spacetime_snn.cli import main
from spacetime_snn.errors import DivergenceError
from spacetime_snn.training import run_io
from spacetime_snn.training.loop import Trainer


class Interrupt(Exception):
    pass


def _stop_after(epoch_to_stop):
    def hook(epoch, row):
        if epoch == epoch_to_stop:
            raise Interrupt
    return hook


def _final_state(run_dir):
    return run_io.load_model_file(run_dir)["state_dict"]


def _assert_same_run(dir_a, dir_b):
    a, b = _final_state(dir_a), _final_state(dir_b)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log_a = pd.read_csv(dir_a / run_io.LOG).drop(columns="seconds")
    log_b = pd.read_csv(dir_b / run_io.LOG).drop(columns="seconds")
    pd.testing.assert_frame_equal(log_a, log_b)


def test_run_writes_every_output(tiny_settings, tmp_path):
    summary = Trainer(tiny_settings(), tmp_path, log=lambda *_: None).run()
    for name in (run_io.MODEL, run_io.LOG, run_io.SNAPSHOTS, run_io.SUMMARY, run_io.CHECKPOINT):
        assert (tmp_path / name).exists(), name
    log = pd.read_csv(tmp_path / run_io.LOG)
    assert list(log.columns) == list(run_io.LOG_COLUMNS) and log["epoch"].tolist() == [0, 1, 2, 3]
    assert log["spike_rate_hz"].gt(0).all()
    assert log.loc[0, ["loss", "train_accuracy"]].isna().all()  # epoch 0: the untrained network on the test set
    trained = log[log["epoch"] > 0]
    assert (trained["grad_norm_median"] > 0).all() and (trained["grad_norm_max"] >= trained["grad_norm_median"]).all()
    assert summary["initial_spike_rate_hz"] == pytest.approx(log.loc[0, "spike_rate_hz"])
    snaps = run_io.load_snapshots(tmp_path)
    assert snaps["epochs"].tolist() == [0, 1, 2, 3]
    assert snaps["w_rec"].shape == (4, 8, 8) and snaps["positions"].shape == (4, 8, 2)
    assert not (snaps["positions"][0] == snaps["positions"][-1]).all()  # positions learn
    assert summary["trainable_params"] == 8 * 8 + 8 * 2  # paper count: N^2 + N D
    saved = json.loads((tmp_path / run_io.SUMMARY).read_text())
    assert saved["condition"] == "spatial"
    assert saved["gradient"] == tiny_settings().train.gradient  # the rule the run was trained with
    network = run_io.load_network(tmp_path)
    torch.testing.assert_close(torch.as_tensor(network.delays),
                               torch.cdist(torch.as_tensor(network.positions), torch.as_tensor(network.positions)),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["synaptic", "spatial"])
def test_resume_after_interruption_is_bit_identical(tiny_settings, tmp_path, mode):
    settings = tiny_settings(delay_mode=mode)
    Trainer(settings, tmp_path / "whole", log=lambda *_: None).run()
    with pytest.raises(Interrupt):
        Trainer(settings, tmp_path / "cut", log=lambda *_: None).run(on_epoch_end=_stop_after(2))
    assert not (tmp_path / "cut" / run_io.MODEL).exists()  # nothing looks finished after the interruption
    Trainer(settings, tmp_path / "cut", log=lambda *_: None).run()
    _assert_same_run(tmp_path / "whole", tmp_path / "cut")


@pytest.mark.parametrize("first, second", [("torch", "compiled"), ("compiled", "torch")])
def test_a_run_interrupted_on_one_backend_resumes_on_the_other(tiny_settings, tmp_path, first, second):
    """model.backend changes the loop, not the run: the checkpoint is resumed, not set aside, and the run ends as
    one trained on the second backend throughout would, up to float rounding."""
    messages = []
    with pytest.raises(Interrupt):
        Trainer(tiny_settings(backend=first), tmp_path / "cut", log=lambda *_: None).run(on_epoch_end=_stop_after(2))
    summary = Trainer(tiny_settings(backend=second), tmp_path / "cut", log=messages.append).run()
    assert summary["backend"] == second  # the summary names the last attempt's time loops
    assert any("resumed" in m and "after epoch 2" in m for m in messages), messages
    assert not any("set aside" in m for m in messages), messages
    Trainer(tiny_settings(backend=second), tmp_path / "whole", log=lambda *_: None).run()
    cut, whole = _final_state(tmp_path / "cut"), _final_state(tmp_path / "whole")
    for key in whole:
        torch.testing.assert_close(cut[key], whole[key], rtol=1e-4, atol=1e-5, msg=key)


def test_corrupt_checkpoint_falls_back_to_previous(tiny_settings, tmp_path):
    settings = tiny_settings()
    Trainer(settings, tmp_path / "whole", log=lambda *_: None).run()
    with pytest.raises(Interrupt):
        Trainer(settings, tmp_path / "cut", log=lambda *_: None).run(on_epoch_end=_stop_after(2))
    checkpoint = tmp_path / "cut" / run_io.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated, as by a full disk
    messages = []
    Trainer(settings, tmp_path / "cut", log=messages.append).run()
    assert any("corrupt or truncated" in m and "previous checkpoint" in m for m in messages)
    assert any("resumed" in m and "after epoch 1" in m for m in messages)
    _assert_same_run(tmp_path / "whole", tmp_path / "cut")


def test_nan_stops_with_epoch_and_batch_and_keeps_checkpoint(tiny_settings, tmp_path):
    trainer = Trainer(tiny_settings(), tmp_path, log=lambda *_: None)

    def poison(epoch, row):
        with torch.no_grad():
            trainer.model.w_out[0, 0] = float("nan")

    with pytest.raises(DivergenceError, match=r"epoch 2, batch 0") as error:
        trainer.run(on_epoch_end=poison)
    assert "last good checkpoint" in str(error.value)
    assert run_io.load_torch(tmp_path / run_io.CHECKPOINT)["epoch"] == 1
    assert not (tmp_path / run_io.MODEL).exists()


def test_cli_train_and_prune(tiny_settings, tmp_path):
    settings = tiny_settings(delay_mode="synaptic")
    assert main(["train", "--settings", json.dumps(settings.to_dict()), "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "prune.csv"
    assert main(["prune", "--run-dir", str(tmp_path / "run"), "--magnitude-keep", "1.0", "0.5",
                 "--length-remove", "0.0", "0.3", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table["kind"]) == {"magnitude", "length", "random"} and len(table) == 5
    # The geometry-only control removes as many connections as length pruning, at each nonzero fraction.
    random = table.query("kind == 'random'")
    assert list(random["fraction_removed"]) == [0.3]
    assert random["connections"].item() == table.query("kind == 'length' and fraction_removed == 0.3")[
        "connections"].item()
    full = table.query("kind == 'magnitude' and fraction_removed == 0")["connections"].item()
    half = table.query("kind == 'magnitude' and fraction_removed == 0.5")["connections"].item()
    assert half == full // 2
    unpruned = table.query("kind == 'magnitude' and fraction_removed == 0")["test_accuracy"].item()
    length = table.query("kind == 'length'").set_index("fraction_removed")
    assert length.loc[0.0, "test_accuracy"] == unpruned and length.loc[0.0, "connections"] == full
    assert length.loc[0.3, "connections"] == full - round(0.3 * full)
    assert table["test_accuracy"].between(0, 1).all()


def test_cli_reports_bad_settings(capsys, tmp_path):
    assert main(["train", "--settings", '{"model": {"delay_mode": "wormhole"}}', "--out", str(tmp_path)]) == 2
    assert "model.delay_mode" in capsys.readouterr().err


def test_a_rate_driven_out_of_the_starting_window_is_warned_about_once(tiny_settings, tmp_path):
    lines: list[str] = []
    trainer = Trainer(tiny_settings(), tmp_path, log=lines.append)  # rate_window_hz: [10, 100] by default
    trainer._warn_if_rate_left_window({"epoch": 1, "spike_rate_hz": 40.0})
    assert lines == []
    trainer._warn_if_rate_left_window({"epoch": 2, "spike_rate_hz": 285.0})
    trainer._warn_if_rate_left_window({"epoch": 3, "spike_rate_hz": 290.0})
    assert len(lines) == 1 and lines[0].startswith("warning: epoch 2: the hidden rate is 285 Hz, outside "
                                                   "model.init.rate_window_hz [10, 100] Hz")


def test_each_epoch_logs_the_share_of_delays_at_the_clamp(tiny_settings, tmp_path):
    lines: list[str] = []
    summary = Trainer(tiny_settings(), tmp_path, log=lines.append).run()
    log = pd.read_csv(tmp_path / run_io.LOG)
    assert log["delay_clamp_share"].between(0, 1).all() and len(log) == 4  # epoch 0 (the initialisation) too
    assert sum("delay_clamp_share=" in line for line in lines) == 3  # one line per trained epoch
    assert summary["delay_clamp_share"] == log.loc[log["epoch"] == summary["best_epoch"], "delay_clamp_share"].item()
    assert summary["delay_clamp_share_last"] == log["delay_clamp_share"].iloc[-1]


def test_no_delays_leave_the_clamp_share_empty(tiny_settings, tmp_path):
    summary = Trainer(tiny_settings(delay_mode="none"), tmp_path, log=lambda *_: None).run()
    assert pd.read_csv(tmp_path / run_io.LOG)["delay_clamp_share"].isna().all()
    assert summary["delay_clamp_share"] is None and summary["delay_clamp_share_last"] is None


def test_the_clamp_share_counts_distances_at_the_longest_delay(tiny_settings, tmp_path):
    trainer = Trainer(tiny_settings(), tmp_path, log=lambda *_: None)  # max_delay_steps 10, 8 neurons in 2-D
    with torch.no_grad():
        trainer.model.recurrent_delays.position.zero_()
        trainer.model.recurrent_delays.position[0, 0] = 50.0  # neuron 0 beyond the clamp from every other one
    assert trainer._clamp_share()["delay_clamp_share"] == pytest.approx(14 / 56)  # 2 x 7 of 8 x 7 delays


def test_a_run_that_ends_worse_than_it_started_says_so(tiny_settings, tmp_path):
    lines: list[str] = []
    trainer = Trainer(tiny_settings(), tmp_path, log=lines.append)  # rate_window_hz: [10, 100] by default
    trainer.rows = [{"epoch": 0, "loss": float("nan"), "spike_rate_hz": 30.0},
                    {"epoch": 1, "loss": 2.0, "spike_rate_hz": 30.0},
                    {"epoch": 2, "loss": 1.5, "spike_rate_hz": 60.0},
                    {"epoch": 3, "loss": 2.6, "spike_rate_hz": 240.0}]
    flags = trainer._end_of_run()
    assert flags["loss_above_first_epoch"] and flags["rate_outside_window"]
    assert (flags["loss_first_epoch"], flags["loss_last_epoch"], flags["rate_window_hz"]) == (2.0, 2.6, [10, 100])
    assert len(flags["end_warnings"]) == 2 and [line[len("warning: "):] for line in lines] == flags["end_warnings"]
    assert "loss 2.6 above its epoch-1 loss 2" in lines[0] and "240 Hz outside" in lines[1]
    trainer.rows[-1] = {"epoch": 3, "loss": 1.2, "spike_rate_hz": 50.0}
    lines.clear()
    flags = trainer._end_of_run()
    assert not flags["loss_above_first_epoch"] and flags["rate_outside_window"] is False and lines == []


def test_the_summary_carries_the_end_of_run_flags_and_the_training_time(tiny_settings, tmp_path):
    with pytest.raises(Interrupt):
        Trainer(tiny_settings(), tmp_path, log=lambda *_: None).run(on_epoch_end=_stop_after(2))
    first_attempt = run_io.load_torch(tmp_path / run_io.CHECKPOINT)["elapsed"]
    assert first_attempt["wall"] > 0 and first_attempt["cpu"] > 0
    Trainer(tiny_settings(), tmp_path, log=lambda *_: None).run()
    summary = run_io.load_summary(tmp_path)
    assert summary["train_seconds"] > first_attempt["wall"]  # the resumed run counts its first attempt
    assert summary["train_cpu_seconds"] > first_attempt["cpu"]
    assert isinstance(summary["loss_above_first_epoch"], bool) and isinstance(summary["rate_outside_window"], bool)
    assert isinstance(summary["end_warnings"], list)
