"""How smoothly did a study's runs train? Loss jumps, divergence, clipping and cost per condition, from the logs.

    python benchmarks/training_stability.py results/spoken [results/spoken_surrogate ...] [--rise 0.1]

Reads every finished run of each study (results/<study>/runs/<condition>/h<N>/s<seed>/: summary.json, log.csv,
settings.json) and prints one row per study and condition: the learning rule, runs, test accuracy (mean ± sd),
runs whose training loss rose by more than --rise from one epoch to the next and how many such rises, the largest
rise, runs that diverged (loss above its epoch-1 loss at the end, or a hidden rate above the window's top,
model.init.rate_window_hz, in any epoch), batches clipped (train.surrogate_clip_factor), median seconds per epoch
and mean minutes per run. This is the evidence behind config.yaml's learning rule (docs/fidelity.md, row 17).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

RUNS = "runs/*/h*/s*/summary.json"


def run_record(summary_path: Path, rise: float) -> dict:
    """One finished run: its rule, accuracy, loss rises, peak rate and cost."""
    summary = json.loads(summary_path.read_text())
    settings = json.loads((summary_path.parent / "settings.json").read_text())
    log = pd.read_csv(summary_path.parent / "log.csv")
    trained = log[log["epoch"] > 0]
    steps = trained["loss"].diff()
    window_top = settings["model"].get("init", {}).get("rate_window_hz", [None, math.inf])[1]
    peak_rate = float(trained["spike_rate_hz"].max())
    return {"condition": summary["condition"], "seed": summary["seed"], "gradient": settings["train"]["gradient"],
            "test_pct": 100 * summary["test_accuracy"], "rises": int((steps > rise).sum()),
            "largest_rise": float(steps.max()) if len(steps) > 1 else 0.0, "peak_rate_hz": peak_rate,
            "diverged": bool(summary.get("loss_above_first_epoch")) or peak_rate > window_top,
            "clipped": int(trained["clipped_batches"].sum()) if "clipped_batches" in trained else 0,
            "seconds_per_epoch": float(trained["seconds"].median()), "minutes": summary["train_seconds"] / 60}


def study_table(results_dir: Path, rise: float) -> pd.DataFrame:
    records = [run_record(path, rise) for path in sorted(results_dir.glob(RUNS))]
    if not records:
        raise SystemExit(f"{results_dir}: no finished runs ({RUNS}). Fix: train the study first, e.g. "
                         f"`snakemake --cores 2 --configfile=configs/<study>.yaml`.")
    runs = pd.DataFrame(records)
    return runs.groupby("condition", sort=True).agg(
        gradient=("gradient", lambda g: ", ".join(sorted(set(g)))), runs=("seed", "size"),
        test_mean=("test_pct", "mean"), test_sd=("test_pct", "std"),
        runs_with_rises=("rises", lambda r: int((r > 0).sum())), rises=("rises", "sum"),
        largest_rise=("largest_rise", "max"), diverged=("diverged", "sum"), peak_rate_hz=("peak_rate_hz", "max"),
        clipped=("clipped", "sum"), seconds_per_epoch=("seconds_per_epoch", "median"),
        minutes=("minutes", "mean")).reset_index()


def markdown(study: str, table: pd.DataFrame, rise: float) -> str:
    header = ["study", "condition", "rule", "runs", "test % (mean ± sd)", f"runs with a loss rise > {rise}",
              "rises", "largest rise", "diverged", "peak rate (Hz)", "clipped batches", "s per epoch",
              "min per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        sd = "" if math.isnan(row.test_sd) else f" ± {row.test_sd:.1f}"
        lines.append(f"| {study} | {row.condition} | {row.gradient} | {row.runs} | {row.test_mean:.1f}{sd} | "
                     f"{row.runs_with_rises} | {row.rises} | {row.largest_rise:.2f} | {row.diverged} | "
                     f"{row.peak_rate_hz:.0f} | {row.clipped} | {row.seconds_per_epoch:.1f} | {row.minutes:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="results/<study> folders")
    parser.add_argument("--rise", type=float, default=0.1, help="a loss rise between epochs larger than this counts")
    args = parser.parse_args(argv)
    for results_dir in args.results:
        print(markdown(results_dir.name, study_table(results_dir, args.rise), args.rise))
        print()


if __name__ == "__main__":
    main()
