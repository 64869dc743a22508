"""How strong is the spike regulariser against the cross-entropy under each learning rule?

    python benchmarks/regulariser_scale.py [--tasks bursts noisy demo] [--conditions none synaptic spatial]
        [--hidden 64] [--batches 3]

The authors' k_reg was set for EventProp. The surrogate gradient carries the same two loss terms to the weights
with different weights: on the same network and batch, it gives the cross-entropy a much larger gradient against
the regulariser's. This script measures by how much, and shows that the factor moves with the task and the rate,
which is why the surrogate rule carries its own regulariser (`train.surrogate_spike_reg`, docs/fidelity.md
row 17b) instead of the authors' strengths times one factor.

For each task and condition: the untrained network of the paper protocol (config.yaml, its input gain calibrated
as a run's is; the readout left as the authors' have it),
the first `--batches` batches of 32 training samples, under both rules the gradient norm of the cross-entropy
and of the regulariser at k = 1 for each parameter group; the ratio r = |grad CE| / |grad reg| per rule, and the
factor r_surrogate / r_eventprop: the strength that gives the regulariser under the surrogate gradient the
weight against the cross-entropy that the authors' k_reg has under EventProp. Tasks: `bursts` and `noisy` are
benchmarks/shd_shape_check.py's SHD-shaped sets (700 channels, 1 s), `demo` is the demo's 64-channel set.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def gradient_norms(settings: dict, batches: int) -> dict[str, dict[str, float]]:
    """{rule: {parameter group: |grad CE| / |grad reg at k = 1|}}, summed over the first batches."""
    import torch
    import torch.nn.functional as F

    from spacetime_snn.config import SpikeRegSettings, settings_from_dict
    from spacetime_snn.data.batching import iterate_batches
    from spacetime_snn.training.build import build_model, load_data
    from spacetime_snn.training.calibration import calibrate_gain
    from spacetime_snn.training.objective import spike_count_penalty

    ratios: dict[str, dict[str, float]] = {}
    for rule in ("surrogate", "eventprop"):
        run = settings_from_dict({**settings, "train": {**settings["train"], "gradient": rule}})
        train_set, _ = load_data(run)
        model = build_model(run, train_set.num_channels, train_set.num_classes)
        if run.model.init.rate_window_hz is not None:
            calibrate_gain(model, train_set, tuple(run.model.init.rate_window_hz), log=lambda _: None)
        # the authors' regulariser (their target) at k = 1 under both rules, whatever surrogate_spike_reg says
        target = settings["train"].get("spike_reg", {}).get("target", SpikeRegSettings().target)
        unit = SpikeRegSettings(upper_strength=1.0, lower_strength=1.0, target=target)
        squares = {"cross_entropy": {}, "spike_reg": {}}
        for index, batch in enumerate(iterate_batches(train_set, 32, shuffle=False)):
            if index == batches:
                break
            for term in squares:
                model.zero_grad(set_to_none=True)
                logits, spikes = model(batch.inputs, batch.batch_size, batch.num_steps)
                loss = (F.cross_entropy(logits, batch.labels) if term == "cross_entropy"
                        else spike_count_penalty(spikes, unit))
                loss.backward()
                for name, param in model.named_parameters():
                    if param.grad is not None:
                        group = name.split(".")[0] if "delays" not in name else "delays"
                        squares[term][group] = squares[term].get(group, 0.0) + float(param.grad.pow(2).sum())
        ratios[rule] = {group: math.sqrt(squares["cross_entropy"][group] / squares["spike_reg"][group])
                        for group in squares["spike_reg"] if squares["spike_reg"][group] > 0
                        and group in squares["cross_entropy"]}
    return ratios


def settings_for(task: str, condition: str, hidden: int) -> dict:
    from shd_shape_check import ensure_data
    from shd_shape_check import settings_for as shape_settings
    from spacetime_snn import study

    if task == "demo":
        config = study.deep_merge(study.load_yaml(ROOT / "config.yaml"), study.load_yaml(ROOT / "configs/demo.yaml"))
        config = study.check_config(config, study.load_yaml(ROOT / "workflow/schemas/config.schema.yaml"))
        settings = study.run_settings(config, condition, hidden, 0)
        if not (ROOT / settings["data"]["root"] / "train.h5").exists():
            sys.exit(f"{settings['data']['root']}/train.h5 is missing: make it with "
                     f"`spacetime-snn data synthetic --out {settings['data']['root']} --seed 0`")
        # the paper protocol's model (scale_input on) on the demo's data
        return study.deep_merge(settings, {"model": {"scale_input": True}})
    ensure_data(task)
    return shape_settings(task, "paper", condition, hidden, 0, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["bursts", "noisy", "demo"])
    parser.add_argument("--conditions", nargs="+", default=["none", "synaptic", "spatial"])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for task in args.tasks:
        for condition in args.conditions:
            ratios = gradient_norms(settings_for(task, condition, args.hidden), args.batches)
            for group, surrogate in ratios["surrogate"].items():
                eventprop = ratios["eventprop"].get(group, float("nan"))
                rows.append({"task": task, "condition": condition, "parameters": group,
                             "CE/reg surrogate": surrogate, "CE/reg eventprop": eventprop,
                             "factor": surrogate / eventprop})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"|grad cross-entropy| / |grad regulariser at k = 1|, untrained paper-protocol networks, {args.hidden} "
          f"hidden, first {args.batches} batches of 32")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    factors = table["factor"]
    print(f"factor (surrogate over eventprop): geometric mean {math.exp(factors.map(math.log).mean()):.3g}, "
          f"range {factors.min():.3g} - {factors.max():.3g} over {len(factors)} task x condition x parameter rows")


if __name__ == "__main__":
    main()
