"""benchmarks/training_stability.py: loss rises, divergence and cost per condition, read from a study's runs."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from spacetime_snn.config import settings_from_dict
from spacetime_snn.data.synthetic import SyntheticSpec, generate_synthetic
from spacetime_snn.training.loop import Trainer

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "training_stability.py"


def _module():
    spec = importlib.util.spec_from_file_location("training_stability", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A study folder with one trained run per seed; seed 1's log is doctored into a jump and a runaway rate."""
    data = tmp_path_factory.mktemp("data")
    generate_synthetic(SyntheticSpec(num_channels=16, num_classes=3, num_train=24, num_test=12, group_size=4,
                                     num_groups=3, duration_ms=100.0, seed=0), data)
    results = tmp_path_factory.mktemp("results") / "toy"
    settings = settings_from_dict({
        "data": {"source": "synthetic", "root": str(data), "dt_ms": 1.0, "augment": {"shift_channels": 0,
                                                                                    "blend_samples": 0}},
        "model": {"hidden": 8, "delay_mode": "spatial", "max_delay_steps": 20,
                  "init": {"w_in_mean": 0.3, "w_in_std": 0.1, "position_range": 5.0}},
        "train": {"epochs": 3, "batch_size": 12, "gradient": "eventprop"},
        "seed": 0, "run": {"study": "toy", "condition": "spatial", "hidden": 8, "seed": 0}})
    first = results / "runs" / "spatial" / "h8" / "s0"
    Trainer(settings, first, log=lambda *_: None).run()
    (first / "settings.json").write_text(json.dumps(settings.to_dict()))
    second = results / "runs" / "spatial" / "h8" / "s1"
    shutil.copytree(first, second)
    log = pd.read_csv(second / "log.csv")
    log.loc[log["epoch"] == 2, "loss"] = log.loc[log["epoch"] == 1, "loss"].item() + 0.5  # a jump at epoch 2
    log.loc[log["epoch"] == 3, "spike_rate_hz"] = 150.0  # above the window's top (100 Hz)
    log.to_csv(second / "log.csv", index=False)
    return results


def test_rises_divergence_and_rule_per_condition(study):
    table = _module().study_table(study, rise=0.1).set_index("condition")
    row = table.loc["spatial"]
    assert row["gradient"] == "eventprop" and row["runs"] == 2
    assert row["runs_with_rises"] >= 1 and row["largest_rise"] >= 0.5  # seed 1's jump
    assert row["diverged"] == 1 and row["peak_rate_hz"] == 150.0  # seed 1 only
    assert row["clipped"] == 0  # EventProp is never clipped
    assert row["seconds_per_epoch"] > 0 and row["minutes"] > 0


def test_the_script_prints_a_table_and_names_the_fix_for_an_empty_study(study, tmp_path):
    printed = subprocess.run([sys.executable, str(BENCHMARK), str(study)], capture_output=True, text=True,
                             timeout=300, check=True).stdout
    assert "| toy | spatial | eventprop | 2 |" in printed
    empty = subprocess.run([sys.executable, str(BENCHMARK), str(tmp_path)], capture_output=True, text=True,
                           timeout=300)
    assert empty.returncode != 0 and "no finished runs" in empty.stderr and "snakemake --cores 2" in empty.stderr
