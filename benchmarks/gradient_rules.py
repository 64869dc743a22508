"""Learning rules compared: accuracy and learned delays of surrogate-gradient BPTT and EventProp on one task.

    python benchmarks/gradient_rules.py TASK [--conditions synaptic spatial] [--seeds 0 1]
        [--variants surrogate:round eventprop:linear] [--set key=value ...] [--jobs 2] [--report-only]

TASK is `demo` (config.yaml + configs/demo.yaml: the synthetic demo set, 32 hidden neurons) or `shd700` (the
synthetic set at SHD's shape, 700 channels and 1 s, 600 / 300 samples, 128 hidden neurons, made with
`spacetime-snn data synthetic --out resources/synthetic/shd700 --num-channels 700 --duration-ms 1000 --num-train 600
--num-test 300 --group-size 60 --seed 11` if missing). A variant is `gradient:delay_interpolation`; every other
setting is the condition's from the study config, then the task's defaults below, then `--set` (dotted keys,
YAML values, e.g. `--set model.init.w_in_mean=0.3 train.epochs=30`). Each run is one `spacetime-snn train`
(nice 10, one thread) in results/gradient_rules/TASK/<gradient>-<interpolation>/<condition>/s<seed>/; runs that
finished are reused, interrupted ones resume.

The report: test and training accuracy at the selected epoch (mean +- sd over seeds, n shown), hidden rate, and
the learned recurrent delays of each run pooled per variant: fraction of synapses with delay < 0.5 step, median,
90th / 99th percentile and maximum (steps), and how much of the total |w| sits on synapses longer than 10 steps -
the numbers behind the paper's Fig. 3B ("non-spatial: mostly zero, a few long; spatial: spread in the low range").
A figure of the delay histograms (counts per 1-step bin, log y, pooled over seeds) is written next to the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "demo": {"config": "configs/demo.yaml", "hidden": 32, "root": "resources/synthetic/demo",
             "generate": ["--seed", "0"], "settings": {}},
    "shd700": {"config": None, "hidden": 128, "root": "resources/synthetic/shd700",
               "generate": ["--num-channels", "700", "--duration-ms", "1000", "--num-train", "600",
                            "--num-test", "300", "--group-size", "60", "--seed", "11"],
               "settings": {"data": {"source": "synthetic", "augment": {"blend_samples": 600}},
                            "train": {"epochs": 25, "batch_size": 32, "eval_batch_size": 300}}},
}


def study_config(task: str) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from spacetime_snn import study

    config = study.load_yaml(ROOT / "config.yaml")
    if TASKS[task]["config"]:
        config = study.deep_merge(config, study.load_yaml(ROOT / TASKS[task]["config"]))
    return study.check_config(config, study.load_yaml(ROOT / "workflow/schemas/config.schema.yaml"))


def dotted(assignments: list[str]) -> dict:
    import yaml

    out: dict = {}
    for item in assignments:
        key, _, value = item.partition("=")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def settings_for(task: str, condition: str, seed: int, variant: str, overrides: dict) -> dict:
    from spacetime_snn import study

    config = study_config(task)
    settings = study.run_settings(config, condition, TASKS[task]["hidden"], seed)
    settings = study.deep_merge(settings, TASKS[task]["settings"])
    gradient, interpolation = variant.split(":")
    settings = study.deep_merge(settings, {"data": {"root": str(ROOT / TASKS[task]["root"])},
                                           "model": {"delay_interpolation": interpolation},
                                           # the variant's interpolation holds under both rules
                                           "train": {"gradient": gradient, "surrogate_delay_interpolation": None}})
    settings = study.deep_merge(settings, overrides)
    settings["run"] = {**settings["run"], "study": f"gradient_rules-{task}", "condition": condition}
    return settings


def run_dir(out: Path, task: str, variant: str, condition: str, seed: int) -> Path:
    return out / task / variant.replace(":", "-") / condition / f"s{seed}"


def ensure_data(task: str) -> None:
    root = ROOT / TASKS[task]["root"]
    if not (root / "train.h5").exists():
        subprocess.run([sys.executable, "-m", "spacetime_snn", "data", "synthetic", "--out", str(root),
                        *TASKS[task]["generate"]], check=True, env=_env())


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def train(directory: Path, settings: dict) -> None:
    saved = directory / "settings.json"
    if saved.exists() and json.loads(saved.read_text()) != json.loads(json.dumps(settings)):
        sys.exit(f"{directory} holds a run with other settings (the config changed since it ran); remove it "
                 f"(rm -r '{directory}') or name this variant with --set")
    if (directory / "summary.json").exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "settings.json").write_text(json.dumps(settings, indent=1))
    with open(directory / "train.log", "a") as log:
        subprocess.run(["nice", "-n", "10", sys.executable, "-m", "spacetime_snn", "train", "--settings",
                        f"@{directory / 'settings.json'}", "--out", str(directory), "--threads", "1"],
                       check=True, stdout=log, stderr=subprocess.STDOUT, env=_env())


def delays_of(directory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    sys.path.insert(0, str(ROOT / "src"))
    from spacetime_snn.training import run_io

    network = run_io.load_network(directory)
    if network.delays is None:
        return None
    off_diagonal = ~np.eye(network.delays.shape[0], dtype=bool)
    return network.delays[off_diagonal], np.abs(network.w_rec[off_diagonal])


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):5.1f} +- {100 * sd:4.1f}"


def report(out: Path, task: str, conditions: list[str], seeds: list[int], variants: list[str]) -> None:
    print(f"task {task}: accuracy (%) at the selected epoch, mean +- sd over seeds; delays pooled over seeds "
          f"(off-diagonal synapses; steps)")
    header = (f"{'condition':<12} {'variant':<20} {'n':>2} {'test acc':>14} {'train acc':>14} {'rate Hz':>8} "
              f"{'d<0.5':>6} {'median':>7} {'p90':>6} {'p99':>6} {'max':>6} {'|w| on d>10':>11}")
    print(header)
    print("-" * len(header))
    histograms = {}
    for condition in conditions:
        for variant in variants:
            dirs = [run_dir(out, task, variant, condition, s) for s in seeds]
            done = [d for d in dirs if (d / "summary.json").exists()]
            summaries = [json.loads((d / "summary.json").read_text()) for d in done]
            test = [s["test_accuracy"] for s in summaries]
            train_acc = [s["train_accuracy"] for s in summaries]
            rate = [s["spike_rate_hz"] for s in summaries if s.get("spike_rate_hz") is not None]
            pooled = [delays_of(d) for d in done]
            pooled = [p for p in pooled if p is not None]
            stats = " " * 50
            if pooled:
                delays = np.concatenate([p[0] for p in pooled])
                weights = np.concatenate([p[1] for p in pooled])
                histograms[(condition, variant)] = delays
                long_share = float(weights[delays > 10].sum() / max(weights.sum(), 1e-30))
                stats = (f"{np.mean(delays < 0.5):6.2f} {np.median(delays):7.2f} {np.percentile(delays, 90):6.2f} "
                         f"{np.percentile(delays, 99):6.2f} {delays.max():6.2f} {long_share:11.3f}")
            print(f"{condition:<12} {variant:<20} {len(summaries):>2} {_mean_sd(test):>14} {_mean_sd(train_acc):>14} "
                  f"{(statistics.mean(rate) if rate else float('nan')):8.1f} {stats}")
    if histograms:
        figure_path = out / task / "delay_histograms.png"
        draw_histograms(histograms, conditions, variants, figure_path, len(seeds))
        print(f"\ndelay histograms: {figure_path}")


def draw_histograms(histograms: dict, conditions: list[str], variants: list[str], path: Path, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in conditions if any((c, v) in histograms for v in variants)]
    fig, axes = plt.subplots(len(rows), len(variants), figsize=(3.2 * len(variants), 2.4 * len(rows)),
                             squeeze=False, sharex=True, sharey=True)
    top = max(float(d.max()) for d in histograms.values())
    bins = np.arange(0.0, np.ceil(top) + 1.0, 1.0)
    for i, condition in enumerate(rows):
        for j, variant in enumerate(variants):
            ax = axes[i][j]
            delays = histograms.get((condition, variant))
            if delays is not None:
                ax.hist(delays, bins=bins, color="#0072B2")
                ax.set_yscale("log")
            else:
                ax.text(0.5, 0.5, "not trained", transform=ax.transAxes, ha="center", fontsize=8)
            letter = chr(ord("A") + i * len(variants) + j)
            ax.set_title(f"{letter}  {condition}, {variant.replace(':', ', ')}", fontsize=8, loc="left")
            ax.set_xlabel("delay (steps)", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"synapses (n = {seeds} seeds pooled)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle("Learned recurrent delays, off-diagonal synapses, 1-step bins", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--conditions", nargs="+", default=["synaptic", "spatial"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=["surrogate:round", "eventprop:linear"])
    parser.add_argument("--set", nargs="*", default=[], dest="assignments", help="dotted.key=value overrides")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at a time")
    parser.add_argument("--out", default=str(ROOT / "results" / "gradient_rules"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not args.report_only:
        ensure_data(args.task)
        overrides = dotted(args.assignments)
        jobs = [(run_dir(out, args.task, v, c, s), settings_for(args.task, c, s, v, overrides))
                for v in args.variants for c in args.conditions for s in args.seeds]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(train, d, s) for d, s in jobs]:
                future.result()
    report(out, args.task, args.conditions, args.seeds, args.variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
