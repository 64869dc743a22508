"""Training at SHD's shape: does a protocol start in a sane regime and learn timing on 700 channels and 1 s?

    python benchmarks/shd_shape_check.py TASK PROTOCOL [--hidden 128] [--conditions none synaptic spatial]
        [--seeds 0 1] [--epochs N] [--jobs 2] [--set key=value ...] [--report-only]

TASK is a synthetic timing task at SHD's shape, made by `spacetime-snn data synthetic` into
results/shd_shape_check/data/TASK if missing (600 training, 300 test samples, 6 classes = intervals of 10-60 ms
between two bursts of channel groups):
  bursts     7 groups of 100 channels cover all 700; 0.4 Hz background (~280 burst and ~280 background spikes
             per sample, the demo task's ratio)
  noisy      4 groups of 60 channels; 2 Hz background on all 700 (~170 burst spikes in ~1,400 background ones)
PROTOCOL is `paper` (config.yaml as it is: the authors' experiment) or `demo` (config.yaml + configs/demo.yaml:
the demo's four deviations, see its header). Both train with batch 32 and test on all 300 samples; `paper` also
scales SHD's augmentation to the set (shift 40 channels, 600 blends). Every other setting is the protocol's, per
condition; `--set` adds dotted overrides (YAML values), e.g. `--set train.gradient=eventprop`.

Each run is one `spacetime-snn train` (nice 10, one thread) in
results/shd_shape_check/TASK/PROTOCOL/h<hidden>[_<each --set item>]/<condition>/s<seed>/; finished runs are
reused. The report: per run the hidden rate at epoch 0 (after the rate
calibration) and at the last epoch, the selected epoch, epochs run, training and test accuracy at the selected
epoch; per condition the mean and sd over seeds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gradient_rules import _env, dotted, train  # noqa: E402  (one runner for both benchmarks)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "shd_shape_check"
SHAPE = ["--num-channels", "700", "--duration-ms", "1000", "--num-train", "600", "--num-test", "300"]
TASKS = {
    "bursts": SHAPE + ["--num-groups", "7", "--group-size", "100", "--noise-rate-hz", "0.4", "--seed", "5"],
    "noisy": SHAPE + ["--num-groups", "4", "--group-size", "60", "--noise-rate-hz", "2", "--seed", "11"],
}
PROTOCOLS = {
    "paper": {"files": [], "settings": {"data": {"augment": {"shift_channels": 40, "blend_samples": 600}},
                                        "train": {"epochs": 40, "batch_size": 32, "eval_batch_size": 300}}},
    "demo": {"files": ["configs/demo.yaml"], "settings": {"train": {"batch_size": 32, "eval_batch_size": 300}}},
}






def settings_for(task: str, protocol: str, condition: str, hidden: int, seed: int, overrides: dict) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from spacetime_snn import study

    config = study.load_yaml(ROOT / "config.yaml")
    for name in PROTOCOLS[protocol]["files"]:
        config = study.deep_merge(config, study.load_yaml(ROOT / name))
    config = study.check_config(config, study.load_yaml(ROOT / "workflow/schemas/config.schema.yaml"))
    settings = study.run_settings(config, condition, hidden, seed)
    settings = study.deep_merge(settings, PROTOCOLS[protocol]["settings"])
    settings = study.deep_merge(settings, {"data": {"source": "synthetic", "root": str(OUT / "data" / task)}})
    settings = study.deep_merge(settings, overrides)
    settings["run"] = {**settings["run"], "study": f"shd_shape_check-{task}-{protocol}"}
    return settings


def ensure_data(task: str) -> None:
    root = OUT / "data" / task
    if not (root / "train.h5").exists():
        subprocess.run([sys.executable, "-m", "spacetime_snn", "data", "synthetic", "--out", str(root),
                        *TASKS[task]], check=True, env=_env())




def run_row(directory: Path, condition: str, seed: int) -> dict:
    log = pd.read_csv(directory / "log.csv")
    summary = json.loads((directory / "summary.json").read_text())
    return {"condition": condition, "seed": seed, "rate_epoch0_hz": log["spike_rate_hz"].iloc[0],
            "rate_last_hz": log["spike_rate_hz"].iloc[-1], "best_epoch": summary["best_epoch"],
            "epochs": summary["epochs_run"], "train_pct": 100 * summary["train_accuracy"],
            "test_pct": 100 * summary["test_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("protocol", choices=sorted(PROTOCOLS))
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--conditions", nargs="+", default=["none", "synaptic", "spatial"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, help="at most this many epochs (default: the protocol's)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()

    overrides = dotted(args.set + ([f"train.epochs={args.epochs}"] if args.epochs else []))
    # One folder per hidden size and set of overrides, e.g. h64_train.gradient=eventprop
    variant = f"h{args.hidden}" + "".join(f"_{item.replace('/', '-')}" for item in args.set)
    runs = [(condition, seed, OUT / args.task / args.protocol / variant / condition / f"s{seed}")
            for condition in args.conditions for seed in args.seeds]
    if not args.report_only:
        ensure_data(args.task)
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda run: train(run[2], settings_for(args.task, args.protocol, run[0], args.hidden,
                                                                  run[1], overrides)), runs))
    table = pd.DataFrame([run_row(directory, condition, seed) for condition, seed, directory in runs
                          if (directory / "summary.json").exists()])
    if table.empty:
        sys.exit("no finished runs; run without --report-only")
    pd.set_option("display.width", 200)
    print(f"task {args.task}, protocol {args.protocol}, {args.hidden} hidden (chance 16.7 %); accuracy at the "
          f"selected epoch")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    summary = table.groupby("condition", sort=False)[["rate_epoch0_hz", "rate_last_hz", "test_pct"]].agg(
        ["mean", "std", "count"])
    print(summary.to_string(float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
