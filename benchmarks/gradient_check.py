"""Gradient check: the computed gradient of the training loss against central finite differences, per parameter group.

    python benchmarks/gradient_check.py [--gradient eventprop|surrogate] [--epsilon 1e-6] [--seed 0]

Small networks in double precision (8 inputs -> 10 hidden -> 4 outputs, 80 steps, batch 3), one per recurrent delay
mode (synaptic: free per-synapse delays; spatial: positions in 2D; axonal; none), inputs scaled so that every
hidden neuron fires several times per sample. The loss is the training loss of `training.objective` (cross-entropy
on the readout + L1 + distance cost with distance_cost_moves_positions on, so that every term is a function of the
parameters) with delay_interpolation linear. Each parameter entry is perturbed by +-epsilon; the difference is
used only if the spike raster is the same at both ends (spike times may move within their steps, no spike may be
added, removed or moved to another step); otherwise epsilon / 100 is tried, then the entry is skipped (counted).

Tables:
1. The chosen rule's gradient against the finite differences of ITS OWN forward model. eventprop: the loss is
   continuous and piecewise smooth, so the two must agree (relative error = ||g - fd|| / ||fd|| per group).
   surrogate: its forward model puts spikes on whole steps, so its loss is piecewise constant in everything but
   w_out (finite differences 0): the surrogate gradient is not the gradient of its own loss.
2. The spike regulariser. Its value depends on spike counts only, so its finite differences are 0 under both rules.
   eventprop applies mlGeNN's pseudo-gradient, a jump of dL/dV at every spike (`eventprop.regulariser_gain`);
   the check: that jump equals the exact gradient of the frozen-coefficient term sum_spikes rho_n V(t_spike)
   (rho_n = regulariser_gain * dR/ds_n, regulariser_gain = tau_mem dt / (1 - beta)), whose finite differences are
   taken with the reference forward model.
3. For contrast, the other rule's gradient against the eventprop finite differences (relative error and cosine).
The last line is `max relative error: X`, the largest relative error of the chosen rule in tables 1 and 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace

import torch

from spacetime_snn.config import InitSettings, ModelSettings, SpikeRegSettings, TrainSettings
from spacetime_snn.model.eventprop import reference_event_recurrence, regulariser_gain
from spacetime_snn.model.network import SpatialSNN
from spacetime_snn.training.objective import loss_terms

MODES = ("synaptic", "spatial", "axonal", "none")


@dataclass(frozen=True)
class Problem:
    mode: str
    inputs: int = 8
    hidden: int = 10
    outputs: int = 4
    steps: int = 80
    batch: int = 3
    max_delay: int = 12


TRAIN = TrainSettings(l1=1e-3, distance_cost=1e-3, distance_cost_moves_positions=True,
                      spike_reg=SpikeRegSettings(upper_strength=0.0, lower_strength=0.0))
REGULARISED = replace(TRAIN, l1=0.0, distance_cost=0.0,
                      spike_reg=SpikeRegSettings(upper_strength=2e-4, lower_strength=2e-4, target=5.0))


def build(problem: Problem, gradient: str, seed: int) -> tuple[SpatialSNN, torch.Tensor, torch.Tensor]:
    """The model (double precision, delays spread over [0, 10] steps away from whole steps), inputs and labels."""
    settings = ModelSettings(hidden=problem.hidden, delay_mode=problem.mode, max_delay_steps=problem.max_delay,
                             delay_interpolation="linear", init=InitSettings(position_range=3.0))
    g = torch.Generator().manual_seed(seed)
    model = SpatialSNN(problem.inputs, problem.outputs, settings, dt_ms=1.0, generator=g, gradient=gradient).double()
    with torch.no_grad():
        model.w_in.normal_(0.6, 0.25, generator=g)  # 3 - 13 spikes per neuron and sample (mean 9, rate 11 %)
        model.w_rec.normal_(0.0, 0.5, generator=g)
        model.w_out.normal_(0.0, 1.0, generator=g)
        delays = getattr(model.recurrent_delays, "delay", None)
        if delays is not None:
            delays.copy_(torch.randint(0, 10, delays.shape, generator=g) + 0.1
                         + 0.8 * torch.rand(delays.shape, generator=g))
    events = (torch.rand(problem.batch * problem.steps, problem.inputs, generator=g) < 0.12).double()
    labels = torch.randint(0, problem.outputs, (problem.batch,), generator=g)
    return model, events.to_sparse().coalesce(), labels


def groups(model: SpatialSNN) -> dict[str, torch.nn.Parameter]:
    out = {"w_in": model.w_in, "w_rec": model.w_rec, "w_out": model.w_out}
    for name, param in model.recurrent_delays.named_parameters():
        out["positions" if name == "position" else "delays"] = param
    return out


def loss_of(model: SpatialSNN, inputs, labels, problem: Problem, train: TrainSettings):
    logits, spikes = model(inputs, problem.batch, problem.steps)
    delays = model.recurrent_delays()
    return sum(loss_terms(logits, labels, spikes, model.w_rec, delays, train).values()), spikes


def finite_differences(function, param: torch.nn.Parameter, epsilon: float) -> tuple[torch.Tensor, int]:
    """Central differences of `function() -> (value, raster)` for every entry of `param`; entries whose raster
    changes even at epsilon / 100 are skipped (NaN). Returns the differences and the number skipped."""
    with torch.no_grad():
        _, base = function()
        out = torch.full_like(param, float("nan"))
        skipped = 0
        flat, result = param.view(-1), out.view(-1)
        for i in range(flat.numel()):
            original = float(flat[i])
            for eps in (epsilon, epsilon / 100):
                flat[i] = original + eps
                up, raster_up = function()
                flat[i] = original - eps
                down, raster_down = function()
                flat[i] = original
                if torch.equal(raster_up, base) and torch.equal(raster_down, base):
                    result[i] = (float(up) - float(down)) / (2 * eps)
                    break
            else:
                skipped += 1
    return out, skipped


def gradient_of(model, inputs, labels, problem, train) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss, _ = loss_of(model, inputs, labels, problem, train)
    loss.backward()
    return {name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for name, p in groups(model).items()}


def compare(computed: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    keep = ~torch.isnan(reference)
    g, f = computed[keep], reference[keep]
    norm = float(f.norm())
    error = float((g - f).norm())
    cosine = float(torch.dot(g, f) / (g.norm() * f.norm())) if norm > 0 and float(g.norm()) > 0 else float("nan")
    return {"fd_norm": norm, "grad_norm": float(g.norm()), "relative": error / norm if norm > 0 else
            (0.0 if error == 0 else float("inf")), "cosine": cosine}


def regulariser_probe(model: SpatialSNN, inputs, problem: Problem, train: TrainSettings):
    """sum over the base spikes of rho_n V(t_spike), with rho_n = regulariser_gain dR/ds_n frozen, by the reference model;
    returned as a function for `finite_differences` (value, raster)."""
    with torch.no_grad():
        _, spikes = model(inputs, problem.batch, problem.steps)
        counts = spikes.sum(1).mean(0)
        reg = train.spike_reg
        excess = counts - reg.target
        strength = torch.where(excess > 0, reg.upper_strength, reg.lower_strength)
        rho = regulariser_gain(model.lif) * strength * excess / problem.batch  # (N,)
        base = spikes.clone()

    def probe():
        currents = torch.sparse.mm(inputs, model.w_in).view(problem.batch, problem.steps, -1)
        fired, _, voltages = reference_event_recurrence(currents, model.w_rec, model.recurrent_delays(), model.lif)
        return (base * voltages * rho).sum(), fired

    return probe


def check(problem: Problem, gradient: str, seed: int, epsilon: float) -> list[dict]:
    rows = []
    model, inputs, labels = build(problem, gradient, seed)
    other, _, _ = build(problem, "surrogate" if gradient == "eventprop" else "eventprop", seed)
    eventprop_model = model if gradient == "eventprop" else other
    rate = float(model(inputs, problem.batch, problem.steps)[1].detach().sum(1).mean())
    own = gradient_of(model, inputs, labels, problem, TRAIN)
    contrast = gradient_of(other, inputs, labels, problem, TRAIN)
    with_reg = gradient_of(model, inputs, labels, problem, REGULARISED)
    without_reg = gradient_of(model, inputs, labels, problem, replace(REGULARISED, spike_reg=SpikeRegSettings(
        upper_strength=0.0, lower_strength=0.0)))
    probe = regulariser_probe(eventprop_model, inputs, problem, REGULARISED)
    for name, param in groups(model).items():
        fd_own, skip_own = finite_differences(lambda: loss_of(model, inputs, labels, problem, TRAIN), param, epsilon)
        if gradient == "eventprop":
            fd_event, skip_event = fd_own, skip_own
        else:
            fd_event, skip_event = finite_differences(
                lambda: loss_of(other, inputs, labels, problem, TRAIN), groups(other)[name], epsilon)
        row = {"mode": problem.mode, "group": name, "entries": param.numel(), "spikes_per_neuron": rate,
               "own": compare(own[name], fd_own), "own_skipped": skip_own,
               "contrast": compare(contrast[name] if gradient == "eventprop" else own[name], fd_event),
               "contrast_skipped": skip_event}
        if name in ("w_out",):
            row["regulariser"] = None  # the regulariser does not depend on the readout weights
        else:
            event_param = groups(eventprop_model)[name]
            fd_probe, skip_probe = finite_differences(probe, event_param, epsilon)
            jump = (with_reg[name] - without_reg[name]) if gradient == "eventprop" else None
            row["regulariser"] = {"fd_norm": float(fd_probe[~torch.isnan(fd_probe)].norm()), "skipped": skip_probe,
                                  **({"eventprop": compare(jump, fd_probe)} if jump is not None else {}),
                                  "surrogate_norm": None}
            if gradient == "surrogate":
                row["regulariser"]["surrogate_norm"] = float((with_reg[name] - without_reg[name]).norm())
        rows.append(row)
    return rows


def print_report(rows: list[dict], gradient: str) -> float:
    other = "surrogate" if gradient == "eventprop" else "eventprop"
    print(f"1. {gradient} gradient against central finite differences of its own forward model's loss "
          f"(cross-entropy + L1 + distance cost)")
    header = (f"{'network':<10} {'group':<10} {'entries':>7} {'spikes/n':>8} {'|fd|':>10} {'|grad|':>10} "
              f"{'rel. error':>11} {'cosine':>8} {'skipped':>7}")
    print(header)
    print("-" * len(header))
    worst = 0.0
    for r in rows:
        o = r["own"]
        worst = max(worst, o["relative"])
        print(f"{r['mode']:<10} {r['group']:<10} {r['entries']:>7} {r['spikes_per_neuron']:>8.1f} {o['fd_norm']:>10.3e} "
              f"{o['grad_norm']:>10.3e} {o['relative']:>11.2e} {o['cosine']:>8.4f} {r['own_skipped']:>7}")
    print()
    print("2. spike regulariser: its finite differences are 0 (counts are piecewise constant); eventprop applies "
          "mlGeNN's jump, checked against")
    print("   the finite differences of sum_spikes rho_n V(t_spike) (rho_n = regulariser_gain dR/ds_n frozen; "
          "reference forward model)")
    header = f"{'network':<10} {'group':<10} {'|fd probe|':>11} {'|eventprop jump|':>17} {'rel. error':>11} {'skipped':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        reg = r["regulariser"]
        if reg is None:
            continue
        if "eventprop" in reg:
            e = reg["eventprop"]
            worst = max(worst, e["relative"])
            print(f"{r['mode']:<10} {r['group']:<10} {reg['fd_norm']:>11.3e} {e['grad_norm']:>17.3e} "
                  f"{e['relative']:>11.2e} {reg['skipped']:>7}")
        else:
            print(f"{r['mode']:<10} {r['group']:<10} {reg['fd_norm']:>11.3e} {'(surrogate: ' + format(reg['surrogate_norm'], '.3e') + ')':>17} "
                  f"{'n/a':>11} {reg['skipped']:>7}")
    print()
    print(f"3. for contrast: the {other if gradient == 'eventprop' else gradient} gradient against the finite "
          f"differences of the eventprop model's loss (same parameters and data)")
    header = f"{'network':<10} {'group':<10} {'|fd eventprop|':>14} {'|grad|':>10} {'rel. error':>11} {'cosine':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        c = r["contrast"]
        print(f"{r['mode']:<10} {r['group']:<10} {c['fd_norm']:>14.3e} {c['grad_norm']:>10.3e} {c['relative']:>11.2e} "
              f"{c['cosine']:>8.4f}")
    print()
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gradient", choices=("eventprop", "surrogate"), default="eventprop")
    parser.add_argument("--epsilon", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for mode in args.modes:
        rows += check(Problem(mode), args.gradient, args.seed, args.epsilon)
    worst = print_report(rows, args.gradient)
    print(f"max relative error: {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
