"""The training benchmark runs end to end and reports every variant (slow: a few minutes on 2 cores)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "training_benchmark.py"


@pytest.mark.slow
def test_training_benchmark_quick_run(tmp_path):
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, str(BENCHMARK), "--quick", "--repeats", "1", "--json", str(out)],
                   check=True, timeout=3600)
    result = json.loads(out.read_text())
    rows = {(r["shape"].split()[0], r["variant"]): r for r in result["rows"]}
    for shape in ("SHD", "demo"):
        for variant in ("none", "spatial Dmax62", "spatial Dmax1000", "snnTorch RSynaptic",
                        "snnTorch RSynaptic 1 thread"):
            row = rows[(shape, variant)]
            assert row["step_s"] > 0 and row["inference_samples_per_s"] > 0
            assert 0.005 <= row["hidden_rate"] <= 0.10, (shape, variant, row["hidden_rate"])  # realistic rates
            assert row["peak_mb"] > 0
    # the delay state follows the delays in use (paper initialisation: a few steps), not the maximum delay
    assert rows[("SHD", "spatial Dmax1000")]["delay_state_mb"] == rows[("SHD", "spatial Dmax62")]["delay_state_mb"]
    assert {q["ratio"] for q in result["ratios"]} >= {"spatial Dmax62 / none", "spatial Dmax1000 / spatial Dmax62",
                                                     "none / snnTorch RSynaptic",
                                                     "spatial Dmax62 / snnTorch RSynaptic"}
    assert result["machine"]["torch_threads"] == 2
