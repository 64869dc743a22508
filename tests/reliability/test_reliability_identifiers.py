"""Identifiers agree with what they identify: settings whose `run.hidden` / `run.seed` differ from `model.hidden` /
`seed` are refused before anything is read or written (before, summary.json and every CSV filed a 32-neuron network
as an 8-neuron run); left out, they are taken from the run."""

from __future__ import annotations

import json

import pytest

from reliability_helpers import cli_in_process, settings
from spacetime_snn.training import run_io


@pytest.mark.parametrize("section, fix", [({"model": {"hidden": 12}}, "run.hidden: 12"),
                                          ({"seed": 5}, "run.seed: 5")], ids=["hidden", "seed"])
def test_identifier_that_disagrees_is_refused(fresh_data, tmp_path, capsys, section, fix):
    run_dir = tmp_path / "run"
    run_settings = settings(fresh_data, seed=3)  # run: {hidden: 8, seed: 3}
    run_settings.update({k: v if not isinstance(v, dict) else {**run_settings[k], **v} for k, v in section.items()})
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(run_dir))
    assert code == 2 and not run_dir.exists(), out + err
    key = fix.split(":")[0]
    assert f"invalid value for '{key}'" in err and "labels the run in summary.json and every CSV" in err, err
    assert f"Fix: {fix} (or leave {key} out" in err, err


def test_identifiers_left_out_are_taken_from_the_run(fresh_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_settings = settings(fresh_data, seed=3, model={"hidden": 12}, train={"epochs": 1})
    run_settings["run"] = {"study": "reliability", "condition": "spatial"}  # the Fix's other option
    code, out, err = cli_in_process(capsys, "train", "--settings", json.dumps(run_settings), "--out", str(run_dir))
    assert code == 0, err
    summary = run_io.load_summary(run_dir)
    assert (summary["hidden"], summary["seed"]) == (12, 3)
