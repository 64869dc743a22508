"""Bad run settings, seen through `spacetime-snn train --settings`: refused before any data is read or any file
is written, with exit code 2 and a message naming the dotted key, the value and what is allowed.
(The study config, through Snakemake, is in test_reliability_snakemake.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reliability_helpers import cli_in_process, merge, settings

CASES = {  # id: (override of the tiny run's settings, text the message must contain)
    "unknown-key": ({"model": {"hiden": 8}},
                    "unknown key 'model.hiden'; allowed keys here: backend, delay_interpolation, delay_mode, dims, "
                    "hidden,"),
    "unknown-top-level-key": ({"epochs": 3},
                              "unknown key 'epochs'; allowed keys here: data, model, run, seed, train"),
    "unknown-nested-key": ({"train": {"spike_reg": {"upper": 1.0}}}, "unknown key 'train.spike_reg.upper'"),
    "section-not-a-mapping": ({"data": {"augment": 40}}, "'data.augment' must be a mapping, got int"),
    "lr-as-text": ({"train": {"lr": "fast"}}, "invalid value for 'train.lr': 'fast'; must be a number > 0"),
    "hidden-as-text": ({"model": {"hidden": "8"}}, "invalid value for 'model.hidden': '8'; must be an integer >= 1"),
    "epochs-fractional": ({"train": {"epochs": 2.5}},
                          "invalid value for 'train.epochs': 2.5; must be an integer >= 1"),
    "flag-as-text": ({"model": {"scale_input": "no"}},
                     "invalid value for 'model.scale_input': 'no'; must be true or false"),
    "root-not-a-path": ({"data": {"root": 5}}, "invalid value for 'data.root': 5; must be a non-empty path"),
    "run-not-a-mapping": ({"run": "spatial"}, "invalid value for 'run': 'spatial'; must be a mapping"),
    "negative-lr": ({"train": {"lr": -1e-3}}, "invalid value for 'train.lr': -0.001; must be a number > 0"),
    "zero-delay-lr": ({"train": {"delay_lr": 0}}, "invalid value for 'train.delay_lr': 0; must be a number > 0"),
    "infinite-lr": ({"train": {"lr": float("inf")}}, "invalid value for 'train.lr': inf; must be a number > 0"),
    "dims-0-spatial": ({"model": {"delay_mode": "spatial", "dims": 0}},
                       "invalid value for 'model.dims': 0; must be an integer >= 1"),
    "max-delay-0": ({"model": {"max_delay_steps": 0}},
                    "invalid value for 'model.max_delay_steps': 0; must be an integer >= 1"),
    "unknown-delay-mode": ({"model": {"delay_mode": "wormhole"}},
                           "invalid value for 'model.delay_mode': 'wormhole'; allowed: none, axonal, synaptic, "
                           "spatial"),
    "hidden-0": ({"model": {"hidden": 0}}, "invalid value for 'model.hidden': 0; must be an integer >= 1"),
    "dt-0": ({"data": {"dt_ms": 0}}, "invalid value for 'data.dt_ms': 0; must be a number > 0 (ms)"),
    "validation-fraction-1": ({"data": {"validation_fraction": 1.0}},
                              "invalid value for 'data.validation_fraction': 1.0; must be in [0, 1)"),
    "negative-init-std": ({"model": {"init": {"w_rec_std": -0.02}}},
                          "invalid value for 'model.init.w_rec_std': -0.02; must be a number >= 0"),
    "zero-position-range": ({"model": {"init": {"position_range": 0}}},
                            "invalid value for 'model.init.position_range': 0; must be a number > 0"),
    "clip-factor-1": ({"train": {"surrogate_clip_factor": 1}},
                      "invalid value for 'train.surrogate_clip_factor': 1; must be a number > 1, or null (no clipping)"),
    "negative-seed": ({"seed": -1}, "invalid value for 'seed': -1; must be an integer >= 0"),
    "empty-seed-list": ({"seed": []}, "invalid value for 'seed': []; must be an integer >= 0"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_run_settings_are_refused_before_anything_runs(capsys, fresh_data, tmp_path, case):
    override, expected = CASES[case]
    run_settings = merge(settings(fresh_data), override)
    run_dir = tmp_path / "run"
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(run_dir))
    assert code == 2, out + err
    assert err.startswith("spacetime-snn train: error: ") and "Traceback" not in err
    assert expected in err
    assert not run_dir.exists()
    assert not (fresh_data / "cache").exists(), "the data were read although the settings are invalid"


def test_a_settings_file_that_does_not_exist(capsys, tmp_path):
    code, out, err = cli_in_process(capsys, "train", "--settings", f"@{tmp_path / 'nope.yaml'}",
                                    "--out", str(tmp_path / "run"))
    assert code == 2 and f"settings file {tmp_path / 'nope.yaml'} does not exist" in err


def test_settings_that_are_not_json(capsys, tmp_path):
    code, out, err = cli_in_process(capsys, "train", "--settings", "{model: spatial}", "--out", str(tmp_path / "r"))
    assert code == 2 and "--settings is not valid JSON" in err and "pass a JSON object or @file.yaml" in err


def test_a_yaml_settings_file_with_a_number_yaml_reads_as_text(capsys, tiny_data, tmp_path):
    """YAML 1.1 (PyYAML) reads 1e-3 as the string '1e-3': the key and the quoted value show it."""
    path = tmp_path / "settings.yaml"
    path.write_text(f"data: {{source: synthetic, root: {tiny_data}}}\ntrain: {{lr: 1e-3}}\n")
    code, out, err = cli_in_process(capsys, "train", "--settings", f"@{path}", "--out", str(tmp_path / "run"))
    assert code == 2 and "invalid value for 'train.lr': '1e-3'; must be a number > 0" in err
    assert not Path(tmp_path / "run").exists()


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("settings.yaml", "train: {lr: [1\n", "is not valid YAML (while parsing a flow sequence"),
    ("settings.json", '{"train": {"lr": 1e-3,}}', "is not valid JSON (Expecting property name"),
], ids=["yaml", "json"])
def test_a_malformed_settings_file_is_named(capsys, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    code, out, err = cli_in_process(capsys, "train", "--settings", f"@{path}", "--out", str(tmp_path / "run"))
    assert code == 2 and "Traceback" not in err
    assert f"spacetime-snn train: error: settings file {path} {expected}" in err
    assert not (tmp_path / "run").exists()


# ---- a time step other than 1 ms: valid, but it changes what the settings mean -----------------------------

DT_CASES = {  # id: (settings override, texts of the warning)
    "dt-0.1-unscaled": ({"data": {"dt_ms": 0.1}, "model": {"scale_input": False}, "train": {"epochs": 1}},
                        ["warning: data.dt_ms = 0.1 with model.scale_input: false: the input gain is 1 per step, "
                         "so the same weights drive the neurons ~10x as hard per ms as at 1 ms; the start-up "
                         "calibration (model.init.rate_window_hz) then rescales the input gain",
                         "but with other effective weights and learning rates than at 1 ms. Fix: "
                         "model.scale_input: true"]),
    "dt-5-delays-past-the-sample": ({"data": {"dt_ms": 5.0}, "model": {"max_delay_steps": 62},
                                     "train": {"epochs": 1}},
                                    ["warning: model.max_delay_steps = 62 steps is 310 ms at data.dt_ms = 5, as long "
                                     "as the samples or longer (40 steps, 200 ms): a spike delayed that long arrives "
                                     "after the sample has ended. Fix: model.max_delay_steps: 39 or less"]),
    "dt-2-delays-in-steps": ({"train": {"epochs": 1}},  # the suite's own settings: dt 2 ms, max delay 10 steps
                             ["warning: data.dt_ms = 2: delays and positions are in steps (one distance unit = one "
                              "step), so model.max_delay_steps = 10 is 20 ms (at 1 ms: 10 ms)",
                              "Fix (the same delays in ms as at 1 ms): model.max_delay_steps: 5 and "
                              "model.init.position_range: 0.5"]),
}


@pytest.mark.parametrize("case", DT_CASES)
def test_a_time_step_other_than_1_ms_is_warned_about_with_the_fix(capsys, tiny_data, tmp_path, case):
    from reliability_helpers import settings as run_settings
    from spacetime_snn.training import run_io

    override, texts = DT_CASES[case]
    run_dir = tmp_path / "run"
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(run_settings(tiny_data, **override)),
                                    "--out", str(run_dir), "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, err
    log = (run_dir / run_io.TRAIN_LOG).read_text()
    for text in texts:
        assert text in out and text in log, out
