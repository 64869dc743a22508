"""How strong is the distance cost against the cross-entropy, on trained networks?

    python benchmarks/cost_scale.py RUN_DIR [RUN_DIR ...] [--batches 2] [--batch-size 64]
        [--strengths 1e-10 1e-9 1e-8] [--powers 1 2]

The cost (train.distance_cost, lambda sum_ij |w_ij| d_ij^p) reaches the recurrent weights through Adam together
with the cross-entropy. Adam divides each weight's step by the root mean square of its whole gradient, so a term
moves the weights only where its gradient is not negligible beside the cross-entropy's. This script loads each
trained run (model.pt and its settings: rule, data, delays), computes on the first training batches the
cross-entropy's gradient on w_rec under the run's own rule, and the cost's gradient lambda |d_ij|^p sign(w_ij)
at each strength and power, and prints the ratio of their root mean squares: at a ratio of 1e-5 the cost
cannot shape the network, at ~1 it competes with the task. Which strengths the study's spatial + cost runs need
is read off this table, not off the claims' verdicts (docs/fidelity.md, "The distance cost's strength").
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def cross_entropy_gradient(run_dir: Path, batches: int, batch_size: int):
    """(rms of dCE/dw_rec over the batches, the run's recurrent delays, its w_rec, its settings)."""
    import torch
    import torch.nn.functional as F

    from spacetime_snn.config import settings_from_dict
    from spacetime_snn.data.batching import iterate_batches
    from spacetime_snn.training.build import load_data, model_from_file
    from spacetime_snn.training.run_io import load_model_file

    saved = load_model_file(run_dir)
    settings = settings_from_dict(saved["settings"])
    model = model_from_file(saved)
    train_set, _ = load_data(settings)
    square, count = 0.0, 0
    for index, batch in enumerate(iterate_batches(train_set, batch_size, shuffle=False)):
        if index == batches:
            break
        model.zero_grad(set_to_none=True)
        logits, _ = model(batch.inputs, batch.batch_size, batch.num_steps)
        F.cross_entropy(logits, batch.labels).backward()
        square += float(model.w_rec.grad.pow(2).mean())
        count += 1
    with torch.no_grad():
        delays = model.recurrent_delays().detach().double()
    return math.sqrt(square / count), delays, model.w_rec.detach().double(), settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="trained run directories (with model.pt)")
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--strengths", nargs="+", type=float, default=[1e-10, 1e-9, 1e-8])
    parser.add_argument("--powers", nargs="+", type=float, default=[1.0, 2.0])
    args = parser.parse_args()
    print("rms dCE/dw_rec against rms d(cost)/dw_rec = lambda |d|^p on trained networks "
          f"(first {args.batches} batches of {args.batch_size})")
    header = "| run | rule | median d (steps) | rms dCE/dw | " + " | ".join(
        f"λ={s:g}, p={p:g}" for p in args.powers for s in args.strengths) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for run in args.runs:
        ce, delays, w_rec, settings = cross_entropy_gradient(run, args.batches, args.batch_size)
        ratios = []
        for power in args.powers:
            for strength in args.strengths:
                cost = (strength * delays.pow(power) * (w_rec != 0)).pow(2).mean().sqrt()
                ratios.append(f"{float(cost) / ce:.2g}")
        print(f"| {run} | {settings.train.gradient} | {float(delays.median()):.1f} | {ce:.3g} | "
              + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
