"""The two backends of the hidden layer's time loops (model.backend: torch, compiled), side by side at SHD's shape.

    python benchmarks/backend_benchmark.py [--repeats 3] [--batches 32 256] [--quick] [--first-call] [--json out.json]

One process, one thread (torch and numba), SHD's shape: 700 inputs -> 128 hidden -> 20 classes, T = 1,000 steps of
1 ms, SHD-like input batches (`training_benchmark.shd_like_batch`), the input weights of every (rule, delays) case
scaled so that the hidden neurons fire at ~20 Hz (2 % of the steps). Per backend and learning rule
(train.gradient: surrogate, eventprop), the wall-clock and CPU time of one training step (forward + backward through
`SpatialSNN` and a cross-entropy loss, no optimiser), median over repeats interleaved round-robin so that a busy
machine slows every case alike, for: no delays; spatial delays at initialisation (positions uniform in [-1, 1]^2,
0-2.8 steps); spatial delays spread over 0-62 steps (positions scaled by 62 / (2 sqrt 2)). Ratios: spatial / none
per backend, compiled / torch per case.

Epoch estimate: an SHD epoch of spatial 128 under each rule, 62 steps of batch 256 plus the evaluation of the
2,264 test samples (forward only, batches of 512), in CPU seconds on one thread, per backend; with delays at
initialisation and spread.

--first-call: what the compiled code costs on first use, in fresh processes: import plus one tiny forward and
backward, with an empty numba cache (compilation) and again with the cache it left (loading).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_benchmark import Shape, machine, shd_like_batch  # noqa: E402

TARGET_RATE = 0.02  # ~20 Hz at dt = 1 ms
SHD = Shape("SHD", inputs=700, steps=1000, hidden=128)
EPOCH_STEPS, TEST_SAMPLES, EVAL_BATCH = 62, 2264, 512  # SHD: 7,644 + 7,644 blends / 256 per step; test set


@dataclass(frozen=True)
class Case:
    rule: str  # train.gradient
    delays: str  # "none", "init", "spread"
    backend: str  # model.backend
    batch: int
    input_scale: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.rule} {self.delays} B={self.batch}"


def build(case: Case):
    from spacetime_snn.config import ModelSettings
    from spacetime_snn.model.network import SpatialSNN

    mode = "none" if case.delays == "none" else "spatial"
    settings = ModelSettings(hidden=SHD.hidden, delay_mode=mode, max_delay_steps=62, backend=case.backend)
    model = SpatialSNN(SHD.inputs, SHD.classes, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(1),
                       gradient=case.rule)
    with torch.no_grad():
        model.w_in.mul_(case.input_scale)
        if case.delays == "spread":
            model.recurrent_delays.position.uniform_(-1.0, 1.0, generator=torch.Generator().manual_seed(2))
            model.recurrent_delays.position.mul_(62 / (2.0 * math.sqrt(2.0)))
    return model


def calibrate(case: Case, batch: int = 16, iterations: int = 12) -> float:
    """Input weight scale that makes this case fire at TARGET_RATE (bisection in log scale, a small batch)."""
    inputs, _ = shd_like_batch(replace(SHD, batch=batch), seed=5)
    low, high = 0.05, 20.0
    for _ in range(iterations):
        scale = math.sqrt(low * high)
        model = build(replace(case, input_scale=scale, backend="auto"))
        with torch.no_grad():
            _, spikes = model(inputs, batch, SHD.steps)
        low, high = (scale, high) if float(spikes.mean()) < TARGET_RATE else (low, scale)
    return math.sqrt(low * high)


def train_step(model, inputs, labels, batch: int) -> tuple[float, float, float]:
    """Wall and CPU seconds of one forward + backward; the hidden rate (spikes per neuron and step)."""
    model.zero_grad(set_to_none=True)
    cpu, wall = time.process_time(), time.perf_counter()
    logits, spikes = model(inputs, batch, SHD.steps)
    F.cross_entropy(logits, labels).backward()
    return time.perf_counter() - wall, time.process_time() - cpu, float(spikes.detach().mean())


def evaluation_cpu(model, samples: int) -> float:
    """CPU seconds of the forward pass (no autograd) over `samples` SHD-like samples in batches of EVAL_BATCH."""
    total = 0.0
    for start in range(0, samples, EVAL_BATCH):
        batch = min(EVAL_BATCH, samples - start)
        inputs, _ = shd_like_batch(replace(SHD, batch=batch), seed=start)
        cpu = time.process_time()
        with torch.no_grad():
            model(inputs, batch, SHD.steps)
        total += time.process_time() - cpu
    return total


def run(args) -> dict:
    torch.set_num_threads(1)
    rules = ["surrogate"] if args.quick else ["surrogate", "eventprop"]
    delays = ["none", "init", "spread"]
    scales = {(rule, d): calibrate(Case(rule, d, "auto", 16)) for rule in rules for d in delays}
    cases = [Case(rule, d, backend, batch, scales[(rule, d)])
             for batch in args.batches for rule in rules for d in delays for backend in ("torch", "compiled")]
    data = {batch: shd_like_batch(replace(SHD, batch=batch), seed=0) for batch in args.batches}
    models = {case: build(case) for case in cases}
    for case in cases:  # warm-up (compilation, allocator)
        train_step(models[case], *data[case.batch], case.batch)
    times = {case: [] for case in cases}
    for _ in range(args.repeats):
        for case in cases:
            times[case].append(train_step(models[case], *data[case.batch], case.batch))
    rows = []
    for case in cases:
        samples = times[case]
        rows.append({"rule": case.rule, "delays": case.delays, "backend": case.backend, "batch": case.batch,
                     "wall_s": statistics.median(s[0] for s in samples),
                     "cpu_s": statistics.median(s[1] for s in samples), "rate_hz": 1000 * samples[-1][2]})
    epochs = []
    for case in (c for c in cases if c.batch == max(args.batches) and c.delays != "none"):
        step = _find(rows, rule=case.rule, delays=case.delays, backend=case.backend, batch=case.batch)["cpu_s"]
        evaluation = evaluation_cpu(build(replace(case, batch=EVAL_BATCH)),
                                    TEST_SAMPLES if not args.quick else EVAL_BATCH)
        if args.quick:
            evaluation *= TEST_SAMPLES / EVAL_BATCH
        steps = EPOCH_STEPS * step * 256 / case.batch  # 62 steps of 256 samples
        epochs.append({"rule": case.rule, "delays": case.delays, "backend": case.backend, "steps_cpu_s": steps,
                       "evaluation_cpu_s": evaluation, "epoch_cpu_s": steps + evaluation})
    return {"machine": machine(), "rows": rows, "epochs": epochs,
            "repeats": args.repeats}


def _find(rows, **keys):
    return next((r for r in rows if all(r[k] == v for k, v in keys.items())), None)


def print_report(result: dict) -> None:
    rows = result["rows"]
    print(f"# backends at SHD's shape (700 -> 128 -> 20, T = 1000), one thread, ~{1000 * TARGET_RATE:.0f} Hz; "
          f"median of {result['repeats']}; {result['machine'].get('cpu', '')}")
    print("| rule | delays | batch | torch s | compiled s | compiled / torch | rate Hz |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        if row["backend"] != "torch":
            continue
        other = _find(rows, rule=row["rule"], delays=row["delays"], batch=row["batch"], backend="compiled")
        compiled = f"{other['cpu_s']:.3f}"
        ratio = f"{other['cpu_s'] / row['cpu_s']:.2f}x"
        print(f"| {row['rule']} | {row['delays']} | {row['batch']} | {row['cpu_s']:.3f} | {compiled} | {ratio} "
              f"| {row['rate_hz']:.1f} |")
    print("\n(CPU seconds per training step; wall clock in --json.)\n")
    print("| rule | backend | batch | spatial init / none | spatial spread 0-62 / none |")
    print("|---|---|---|---|---|")
    for row in rows:
        if row["delays"] != "none":
            continue
        keys = dict(rule=row["rule"], backend=row["backend"], batch=row["batch"])
        init, spread = _find(rows, delays="init", **keys), _find(rows, delays="spread", **keys)
        print(f"| {row['rule']} | {row['backend']} | {row['batch']} | {init['cpu_s'] / row['cpu_s']:.2f}x "
              f"| {spread['cpu_s'] / row['cpu_s']:.2f}x |")
    print(f"\n# SHD epoch estimate, spatial 128: {EPOCH_STEPS} steps of 256 (scaled from the largest batch measured) + "
          f"evaluation of {TEST_SAMPLES} samples (CPU s, one thread)")
    print("| rule | delays | backend | steps | evaluation | epoch |")
    print("|---|---|---|---|---|---|")
    for epoch in result["epochs"]:
        print(f"| {epoch['rule']} | {epoch['delays']} | {epoch['backend']} | {epoch['steps_cpu_s']:.1f} "
              f"| {epoch['evaluation_cpu_s']:.1f} | {epoch['epoch_cpu_s']:.1f} |")


_FIRST_CALL = """
import time
start = time.perf_counter()
import torch
from spacetime_snn.model.compiled_recurrence import compiled_lif_recurrence
from spacetime_snn.model.recurrence import LIFParameters
imported = time.perf_counter()
for dtype in (torch.float32, torch.float64):
    for delays in (None, torch.rand(8, 8, dtype=dtype) * 4):
        x = torch.rand(2, 20, 8, dtype=dtype, requires_grad=True)
        w = torch.randn(8, 8, dtype=dtype, requires_grad=True)
        compiled_lif_recurrence(x, w, delays, LIFParameters(max_delay=6)).sum().backward()
print(imported - start, time.perf_counter() - imported)
"""


def first_call() -> list[dict]:
    """Import and first use (float32 and float64, with and without delays) in fresh processes: cold, then warm."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for state in ("cold (empty cache: compiles)", "warm (cache from the cold run)"):
            result = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True,
                                    check=True)
            imported, used = map(float, result.stdout.split())
            out.append({"cache": state, "import_s": imported, "first_calls_s": used})
            print(f"first call, {state}: import {imported:.2f} s, first forward+backward (4 signatures) {used:.2f} s")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--quick", action="store_true", help="surrogate only; evaluation of one batch, scaled")
    parser.add_argument("--first-call", action="store_true", help="also measure the first call (cold/warm cache)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args(argv)
    result = {"first_call": first_call()} if args.first_call else {}
    result.update(run(args))
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
