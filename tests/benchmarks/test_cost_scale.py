"""benchmarks/cost_scale.py: the distance cost's gradient against the cross-entropy's, on a trained run."""

import subprocess
import sys
from pathlib import Path

import pytest

from spacetime_snn.config import settings_from_dict
from spacetime_snn.data.synthetic import SyntheticSpec, generate_synthetic
from spacetime_snn.training.loop import Trainer

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "cost_scale.py"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    generate_synthetic(SyntheticSpec(num_channels=16, num_classes=3, num_train=24, num_test=12, group_size=4,
                                     num_groups=3, duration_ms=100.0, seed=0), root)
    run = tmp_path_factory.mktemp("run")
    settings = settings_from_dict({
        "data": {"source": "synthetic", "root": str(root), "dt_ms": 1.0, "augment": {"shift_channels": 0,
                                                                                    "blend_samples": 0}},
        "model": {"hidden": 8, "delay_mode": "spatial", "max_delay_steps": 20,
                  "init": {"w_in_mean": 0.3, "w_in_std": 0.1, "position_range": 5.0}},
        "train": {"epochs": 1, "batch_size": 12},
        "seed": 0, "run": {"study": "test", "condition": "spatial", "hidden": 8, "seed": 0}})
    Trainer(settings, run, log=lambda *_: None).run()
    return run


def test_the_ratio_grows_with_the_strength_and_the_power(trained_run):
    result = subprocess.run([sys.executable, str(BENCHMARK), str(trained_run), "--batches", "1", "--batch-size", "8",
                             "--strengths", "1e-9", "1e-8", "--powers", "1", "2"],
                            capture_output=True, text=True, timeout=600, check=True)
    row = next(line for line in result.stdout.splitlines() if line.startswith(f"| {trained_run} |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "surrogate" and float(cells[2]) > 1 and float(cells[3]) > 0  # rule, median delay, |dCE/dw|
    p1_weak, p1_strong, p2_weak, p2_strong = map(float, cells[4:8])
    assert p1_strong == pytest.approx(10 * p1_weak, rel=0.1)  # linear in lambda (2 significant digits printed)
    assert p2_strong == pytest.approx(10 * p2_weak, rel=0.1)
    assert p2_weak > p1_weak  # delays above one step: d^2 > d
