"""What a whole study costs on CPU: measured training-step times x the study's plan of trainings.

    python benchmarks/study_cost.py [--configfile configs/x.yaml] [--steps 1000] [--repeats 2] [--threads 1]

For every distinct (delay mode, dims, hidden size) among the study's trainings (`spacetime_snn.study.all_runs`:
the paper's config.yaml has 380), one training step at the study's batch size and T time steps (default: SHD at
1 ms up to 1,000 ms, the paper's protocol) is timed (forward + backward, `training_benchmark.Case`: SHD-like
inputs, 700 channels, input weights calibrated to ~30 Hz hidden rate), and so is evaluation (forward only).

An epoch of SHD = ceil((train samples x (1 - validation_fraction) + blend_samples) / batch) steps plus one forward
pass over the validation and test sets. A run costs up to `train.epochs` epochs (early stopping ends most runs
sooner, so the totals are upper bounds). The per-run analyses (prune, metrics, inputmaps, networkdata) are not
timed here: they are minutes per run, against hours for a training (benchmarks/metrics_benchmark.py).

The layer runs its time loop on one thread by design, so with --threads 1 the wall-clock time of a step is the
CPU time it costs: totals are given in CPU-hours and CPU-days (one core busy for that long).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_benchmark import Case, Shape, Variant, calibrate_input_scale, machine, shd_like_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHD_TRAIN_SAMPLES, SHD_TEST_SAMPLES, SHD_CHANNELS, SHD_CLASSES = 8156, 2264, 700, 20


def study_config(overrides: list[str]) -> dict:
    """config.yaml with --configfile overrides merged over it, validated and filled with the schema's defaults."""
    from snakemake.utils import update_config

    from spacetime_snn import study

    config = study.load_yaml(REPO / "config.yaml")
    for path in overrides:
        update_config(config, study.load_yaml(path))
    return study.check_config(config, study.load_yaml(REPO / "workflow/schemas/config.schema.yaml"))


def training_plan(config: dict) -> dict[tuple[str, int, int, int, int], int]:
    """{(delay_mode, dims, hidden, max_delay_steps, epochs): number of trainings}."""
    from spacetime_snn import study

    plan: dict[tuple[str, int, int, int, int], int] = {}
    for run in study.all_runs(config):
        settings = study.run_settings(config, run.condition, run.hidden, run.seed)
        model = settings["model"]
        key = (model["delay_mode"], model["dims"] if model["delay_mode"] == "spatial" else 0, run.hidden,
               model["max_delay_steps"], settings["train"]["epochs"])
        plan[key] = plan.get(key, 0) + 1
    return plan


def time_variant(mode: str, dims: int, hidden: int, max_delay: int, steps: int, batch: int, eval_batch: int,
                 repeats: int) -> tuple[float, float]:
    """(CPU seconds per training step, CPU seconds per evaluated sample) of one variant, median over `repeats`.

    CPU time (all threads of this process), not wall clock: on a shared machine the wall clock of a step
    grows with the load of the other processes, its CPU time hardly does, and CPU time is what a study costs."""
    del dims  # the cost of spatial delays does not depend on the dimension of the space (distances are N x N)
    shape = Shape("SHD", SHD_CHANNELS, steps, hidden, batch=32, classes=SHD_CLASSES)
    variant = Variant(shape, "ours", mode, max_delay=max_delay)
    scale = calibrate_input_scale(variant, *shd_like_batch(shape), iterations=8)
    big = replace(variant, input_scale=scale, shape=replace(shape, batch=batch))
    case = Case(big, *shd_like_batch(big.shape))
    case.step()  # warm-up
    step = statistics.median(case.step()[2] for _ in range(repeats))
    evaluation = replace(big, shape=replace(shape, batch=eval_batch))
    infer = Case(evaluation, *shd_like_batch(evaluation.shape))
    per_sample = statistics.median(_cpu_seconds(infer.infer) for _ in range(repeats)) / eval_batch
    return step, per_sample


def _cpu_seconds(function) -> float:
    start = time.process_time()
    function()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="*", default=[], help="study overrides, as given to snakemake")
    parser.add_argument("--steps", type=int, default=1000, help="time steps per sample (SHD at 1 ms, cut at 1 s)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = study_config(args.configfile)
    train, data = config["train"], config["data"]
    batch, eval_batch = train["batch_size"], min(train["eval_batch_size"], 256)
    validation = data["validation_fraction"] if data["selection"] == "validation" else 0.0
    train_samples = round(SHD_TRAIN_SAMPLES * (1 - validation))
    steps_per_epoch = math.ceil((train_samples + data["augment"]["blend_samples"]) / batch)
    evaluated = SHD_TRAIN_SAMPLES - train_samples + SHD_TEST_SAMPLES
    plan = training_plan(config)
    if data["source"] != "shd":
        print(f"# note: data.source is {data['source']!r}; the sizes below are SHD's (samples, channels, classes)")
    print(f"# study '{config['study']}': {sum(plan.values())} trainings; batch {batch}, T = {args.steps} steps, "
          f"{steps_per_epoch} training steps + {evaluated} evaluated samples per epoch; threads {args.threads}")
    print(f"# machine: {machine()}")
    print("| delay mode | dims | hidden | runs | CPU s / step | CPU s / epoch | CPU-h / run (max epochs) | CPU-h, all |")
    print("|---|---|---|---|---|---|---|---|")
    total = 0.0
    timed: dict[tuple[str, int, int], tuple[float, float]] = {}
    for (mode, dims, hidden, max_delay, epochs), runs in sorted(plan.items(), key=lambda item: item[0][:3]):
        key = (mode, hidden, max_delay)
        if key not in timed:
            timed[key] = time_variant(mode, dims, hidden, max_delay, args.steps, batch, eval_batch, args.repeats)
        step, per_sample = timed[key]
        epoch = steps_per_epoch * step + evaluated * per_sample
        run_hours = epoch * epochs / 3600
        total += run_hours * runs
        print(f"| {mode} | {dims or '-'} | {hidden} | {runs} | {step:.2f} | {epoch:.0f} | {run_hours:.1f} "
              f"| {run_hours * runs:.0f} |", flush=True)
    print(f"\nTotal, every run to {max(key[4] for key in plan)} epochs: {total:.0f} CPU-hours = "
          f"{total / 24:.0f} CPU-days (one core each; early stopping ends most runs sooner).")


if __name__ == "__main__":
    main()
