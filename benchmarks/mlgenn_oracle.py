"""The authors' simulator as the judge: our EventProp against mlGeNN's EventPropCompiler on the same small networks.

    python benchmarks/mlgenn_oracle.py [--cases NAME,...] [--keep-build DIR]

Needs pygenn 5.4.0 and ml_genn 2.3.1 (neither is on the package index; docs/fidelity.md, "The mlGeNN oracle", has
the recipe). Each case builds one network twice from the same numbers (weights, integer delays, input spikes, label):

- in mlGeNN: SpikeInput -> LeakyIntegrateFire (recurrent Dense(W, D), Exponential(5 ms)) -> LeakyIntegrate with the
  `avg_var_exp_weight` readout, EventPropCompiler with the authors' defaults (scale_i, hard reset to 0), the
  single_threaded_cpu backend, batch size 1, float32. The backward pass of an example runs during the next one, so
  each case trains on [example, empty dummy]; the gradients are read by a callback placed before the compiler's own
  (the optimiser would zero them), the readout VAvg at the end of the example, the loss recomputed from it;
- in ours, float64: the eventprop layer (`event_recurrence`, rounded delays, the training path's code) for the
  raster, the loss and the gradients, read out as mlGeNN reads out (`mlgenn_kernel`), and the surrogate rule's
  hard-reset forward model (`recurrence.simulate`), which is mlGeNN's forward model, for the exact forward check.

mlGeNN's gradients are converted to ours: its adjoint is LambdaV = -dL/dV (1 - beta) / (tau_mem dt) (ms), so its
`Gradient` is dL/dw / tau_mem and its `DelayGradient` dL/d(arrival time in ms) / tau_mem; both are multiplied by
tau_mem here (our delay gradient is per step; at dt 1 ms the two coincide).

Time alignment: our step t is mlGeNN's step t (the voltage after the update at time t dt); an input spike that
mlGeNN emits at time k dt reaches the membrane at step k + 1, so it is our input event at step k + 1; a recurrent
spike at step t arrives at t + 1 + d in both.

Tables: (1) per case, the first step where the hidden rasters differ (ours eventprop and ours hard-reset against
mlGeNN, with the spike counts), the relative VAvg difference of the hard-reset model and of ours with the project's
own readout (lag0), and max abs / relative differences of the readout (VAvg = logits), the loss and dL/dw_in,
dL/dw_rec, dL/dw_out, dL/dd (relative: max |ours - theirs| / max |theirs|); (2) the gradients' cosines and
least-squares factors, and mlGeNN's dL/dw_out against the exact one of its own forward model; (3) for the cases
that differ only in dt, both sides against ours at dt = 1/16 ms. The last line is the worst relative gradient
error. docs/fidelity.md, "The mlGeNN oracle", explains every difference.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from spacetime_snn.config import SpikeRegSettings
from spacetime_snn.model.eventprop import event_recurrence
from spacetime_snn.model.readout import readout_kernel, readout_weights
from spacetime_snn.model.recurrence import LIFParameters, simulate
from spacetime_snn.training.objective import spike_count_penalty

TAU_MEM_MS, TAU_SYN_MS, THRESHOLD = 20.0, 5.0, 1.0


@dataclass(frozen=True)
class Case:
    """One small network: sizes, trial length, delays (None: no delays), input rate and weight scales."""

    name: str
    seed: int = 0
    inputs: int = 10
    hidden: int = 8
    outputs: int = 3
    duration_ms: int = 60
    dt_ms: float = 1.0
    max_delay_ms: int | None = None  # delays drawn uniformly in 0 .. max (whole ms); None: no delays
    input_rate: float = 0.1  # spikes per channel per ms
    w_in: tuple[float, float] = (0.5, 0.3)  # mean, std
    w_rec_std: float = 0.3
    w_out_std: float = 0.5
    reg: tuple[float, float] | None = None  # (strength k, target spikes per neuron) of the spike regulariser
    label: int = 1

    @property
    def steps(self) -> int:
        return round(self.duration_ms / self.dt_ms)

    @property
    def max_delay_steps(self) -> int:
        return round((self.max_delay_ms or 0) / self.dt_ms)


CASES = [
    Case("no_delays"),
    Case("delays_0-4", max_delay_ms=4),
    Case("delays_0-10", max_delay_ms=10, seed=1),
    Case("delays_0-25", max_delay_ms=25, seed=2, duration_ms=80),
    Case("many_spikes", max_delay_ms=6, seed=3, input_rate=0.2, w_in=(0.6, 0.3)),
    Case("regulariser", max_delay_ms=6, seed=4, reg=(5e-5, 2.0)),
    Case("seed_5", max_delay_ms=8, seed=5),
    Case("seed_6", max_delay_ms=8, seed=6),
    Case("dt_0.5", max_delay_ms=8, seed=5, dt_ms=0.5),
    Case("dt_0.25", max_delay_ms=8, seed=5, dt_ms=0.25),
    Case("dt_0.125", max_delay_ms=8, seed=5, dt_ms=0.125),
]


@dataclass
class Draw:
    """The numbers both simulators get: weights [pre, post], integer delays in steps, input spikes in ms."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    delays: np.ndarray | None
    spike_ms: np.ndarray  # input spike times (whole ms), emitted by mlGeNN at that time
    spike_ids: np.ndarray


def draw(case: Case) -> Draw:
    rng = np.random.default_rng(case.seed)
    f32 = np.float32  # both sides get the float32 values mlGeNN stores
    w_in = (rng.normal(case.w_in[0], case.w_in[1], (case.inputs, case.hidden))).astype(f32)
    w_rec = rng.normal(0.0, case.w_rec_std, (case.hidden, case.hidden)).astype(f32)
    w_out = rng.normal(0.0, case.w_out_std, (case.hidden, case.outputs)).astype(f32)
    delays = None
    if case.max_delay_ms is not None:
        delays_ms = rng.integers(0, case.max_delay_ms + 1, (case.hidden, case.hidden))
        delays = np.round(delays_ms / case.dt_ms).astype(f32)
    # input spikes on the whole-ms grid, at most one per channel and ms, none in the last 2 ms (they must arrive)
    grid = rng.random((case.duration_ms - 2, case.inputs)) < case.input_rate
    times, ids = np.nonzero(grid)
    return Draw(w_in, w_rec, w_out, delays, times.astype(np.float64), ids.astype(np.int64))


@dataclass
class Result:
    spikes: set  # {(step, neuron)}
    logits: np.ndarray  # (O,)
    loss: float
    grads: dict = field(default_factory=dict)  # w_in, w_rec, w_out, delays -> (pre, post) arrays


def cross_entropy(logits: np.ndarray, label: int) -> float:
    z = logits.astype(np.float64)
    return float(np.log(np.exp(z - z.max()).sum()) + z.max() - z[label])


# ---------------------------------------------------------------------------------------------------- mlGeNN side

def run_mlgenn(case: Case, numbers: Draw, build_dir: str) -> Result:
    """The case in mlGeNN, trained on [example, dummy] with a zero learning rate; gradients of the example."""
    from ml_genn import Connection, Network, Population
    from ml_genn.callbacks import Callback, SpikeRecorder
    from ml_genn.compilers import EventPropCompiler
    from ml_genn.compilers.event_prop_compiler import default_params
    from ml_genn.connectivity import Dense
    from ml_genn.neurons import LeakyIntegrate, LeakyIntegrateFire, SpikeInput
    from ml_genn.optimisers import Adam
    from ml_genn.synapses import Exponential
    from ml_genn.utils.data import preprocess_spikes

    network = Network(default_params)
    with network:
        source = Population(SpikeInput(max_spikes=len(numbers.spike_ms) + 1), case.inputs)
        hidden = Population(LeakyIntegrateFire(v_thresh=THRESHOLD, tau_mem=TAU_MEM_MS, tau_refrac=None),
                            case.hidden, record_spikes=True)
        output = Population(LeakyIntegrate(tau_mem=TAU_MEM_MS, readout="avg_var_exp_weight"), case.outputs)
        c_in = Connection(source, hidden, Dense(numbers.w_in), Exponential(TAU_SYN_MS))
        if numbers.delays is None:
            c_rec = Connection(hidden, hidden, Dense(numbers.w_rec), Exponential(TAU_SYN_MS))
        else:
            c_rec = Connection(hidden, hidden, Dense(numbers.w_rec, numbers.delays), Exponential(TAU_SYN_MS),
                               max_delay_steps=case.max_delay_steps + 1)
        c_out = Connection(hidden, output, Dense(numbers.w_out), Exponential(TAU_SYN_MS))
    reg = {} if case.reg is None else dict(reg_lambda_upper=case.reg[0], reg_lambda_lower=case.reg[0],
                                            reg_nu_upper=case.reg[1])
    compiler = EventPropCompiler(example_timesteps=case.steps, losses="sparse_categorical_crossentropy",
                                 optimiser=Adam(0.0), dt=case.dt_ms, batch_size=1, max_spikes=case.steps + 1,
                                 delay_learn_conns=[] if numbers.delays is None else [c_rec],
                                 backend="single_threaded_cpu", **reg)
    structure = f"oracle_{case.inputs}_{case.hidden}_{case.outputs}_{case.steps}_{case.max_delay_steps}_" \
                f"{'d' if numbers.delays is not None else 'n'}_{'r' if case.reg else 'x'}"
    with _inside(build_dir):
        compiled = compiler.compile(network, name=structure)
    grabbed: dict = {}

    class Grab(Callback):
        """Reads VAvg after the example and the gradients after the dummy (whose steps ran the example's
        backward pass), before the compiler's own batch-end updates (the optimiser, the softmax, ZeroGradient)."""

        def set_params(self, compiled_network, **kwargs):
            self.net = compiled_network

        def on_batch_end(self, batch, metrics):
            if batch == 0:
                var = self.net.neuron_populations[output].vars["VAvg"]
                var.pull_from_device()
                grabbed["logits"] = np.array(var.view).reshape(-1)[:case.outputs].copy()
                return
            for key, conn in (("w_in", c_in), ("w_rec", c_rec), ("w_out", c_out)):
                grabbed[key] = _pull(self.net.connection_populations[conn], "Gradient", conn)
            if numbers.delays is not None:
                grabbed["delays"] = _pull(self.net.connection_populations[c_rec], "DelayGradient", c_rec)

    example = preprocess_spikes(numbers.spike_ms, numbers.spike_ids, case.inputs)
    dummy = preprocess_spikes(np.zeros(0), np.zeros(0, dtype=np.int64), case.inputs)
    recorder = SpikeRecorder(hidden, key="hidden", example_filter=0)
    with _inside(build_dir), compiled:
        compiled.base_train_callbacks.insert(0, Grab())
        _, data = compiled.train({source: [example, dummy]}, {output: [case.label, case.label]}, num_epochs=1,
                                 shuffle=False, callbacks=[recorder])
    times, ids = data["hidden"]
    spikes = {(int(round(t / case.dt_ms)), int(n)) for t, n in zip(np.concatenate(times[:1]),
                                                                 np.concatenate(ids[:1]))}
    # mlGeNN's adjoint is lambda = -dL/dV / tau_mem (tau_mem in ms; docs/fidelity.md): Gradient = dL/dw / tau_mem
    grads = {k: grabbed[k] * TAU_MEM_MS for k in ("w_in", "w_rec", "w_out", "delays") if k in grabbed}
    return Result(spikes, grabbed["logits"], cross_entropy(grabbed["logits"], case.label), grads)


def _pull(genn_pop, name: str, conn) -> np.ndarray:
    var = genn_pop.vars[name]
    var.pull_from_device()
    values = np.array(var.values, dtype=np.float64)
    return values.reshape(conn.source().shape[0], conn.target().shape[0])


@contextlib.contextmanager
def _inside(directory: str):
    """mlGeNN writes its generated code into the working directory."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


# ---------------------------------------------------------------------------------------------------- our side

def lif_parameters(case: Case) -> LIFParameters:
    return LIFParameters(tau_mem_ms=TAU_MEM_MS, tau_syn_ms=TAU_SYN_MS, dt_ms=case.dt_ms, threshold=THRESHOLD,
                         max_delay=max(case.max_delay_steps, 1), interpolate=False, scale_input=True)


def input_events(case: Case, numbers: Draw) -> torch.Tensor:
    """Sparse (T, C) event counts: mlGeNN's spike at time k dt is our event at step k + 1."""
    steps = np.round(numbers.spike_ms / case.dt_ms).astype(np.int64) + 1
    index = torch.as_tensor(np.stack([steps, numbers.spike_ids]))
    values = torch.ones(index.shape[1], dtype=torch.float64)
    return torch.sparse_coo_tensor(index, values, (case.steps, case.inputs), check_invariants=True).coalesce()


def mlgenn_kernel(case: Case, gain: float) -> np.ndarray:
    """d VAvg / d a(t) for a unit output weight as mlGeNN computes VAvg: a hidden spike at step t reaches the output
    synapse at t + 1, and at the start of the last step mlGeNN zeroes every synapse's input (`ZeroOutPost`), so
    the current at T - 1 holds only that step's arrivals."""
    steps = case.steps
    alpha, beta = math.exp(-case.dt_ms / TAU_SYN_MS), math.exp(-case.dt_ms / TAU_MEM_MS)
    weights = readout_weights(steps)
    direct = np.empty(steps)  # d VAvg / d I(u) with I(u) held to step u only: gain sum_v>=u w(v) beta^(v-u)
    running = 0.0
    for u in reversed(range(steps)):
        running = weights[u] + beta * running
        direct[u] = gain * running
    kernel = np.zeros(steps)
    carried = 0.0  # sum_{u = t+1}^{T-2} direct(u) alpha^(u-t-1), built backwards
    for t in reversed(range(steps - 1)):
        kernel[t] = direct[steps - 1] if t == steps - 2 else direct[t + 1] + alpha * carried
        carried = 0.0 if t == steps - 2 else kernel[t]
    return kernel


def run_ours(case: Case, numbers: Draw, mlgenn_readout: bool = True) -> Result:
    """Loss, readout and gradients of our eventprop model (`event_recurrence`, the training path's layer).

    `mlgenn_readout` feeds the layer's activity to mlGeNN's readout (`mlgenn_kernel`: the one-step hidden -> output
    latency and the last step's cut), so that what remains of the comparison is the hidden layer; False: the
    project's readout (`readout.readout_kernel`, docs/fidelity.md row 16)."""
    params = lif_parameters(case)
    f64 = torch.float64
    w_in = torch.tensor(numbers.w_in, dtype=f64, requires_grad=True)
    w_rec = torch.tensor(numbers.w_rec, dtype=f64, requires_grad=True)
    w_out = torch.tensor(numbers.w_out, dtype=f64, requires_grad=True)
    delays = None if numbers.delays is None else torch.tensor(numbers.delays, dtype=f64, requires_grad=True)
    if mlgenn_readout:
        kernel = torch.as_tensor(mlgenn_kernel(case, params.gain), dtype=f64)
    else:
        kernel = torch.as_tensor(readout_kernel(case.steps, TAU_MEM_MS, TAU_SYN_MS, case.dt_ms, params.gain),
                                 dtype=f64)
    events = input_events(case, numbers)
    spikes, drive = event_recurrence(events, 1, case.steps, w_in, w_rec, delays, kernel, params)
    logits = drive @ w_out
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([case.label]))
    total = loss
    if case.reg is not None:
        total = total + spike_count_penalty(spikes, SpikeRegSettings(case.reg[0], case.reg[0], case.reg[1]))
    total.backward()
    grads = {"w_in": w_in.grad, "w_rec": w_rec.grad, "w_out": w_out.grad}
    if delays is not None:
        grads["delays"] = delays.grad
    raster = {(int(t), int(n)) for t, n in spikes[0].nonzero().tolist()}
    return Result(raster, logits.detach()[0].numpy(), float(loss.detach()),
                  {k: v.numpy() for k, v in grads.items()})


def hard_reset_forward(case: Case, numbers: Draw) -> Result:
    """mlGeNN's own forward model in ours: the surrogate rule's layer (spikes on whole steps, reset to 0) read out
    as mlGeNN does (`mlgenn_kernel`). Its one exact gradient is dL/dw_out = z (softmax - onehot), the loss being
    smooth in w_out at a fixed raster: it measures mlGeNN's backward discretisation alone."""
    params = lif_parameters(case)
    f64 = torch.float64
    currents = (input_events(case, numbers).to_dense() @ torch.tensor(numbers.w_in, dtype=f64))[None]
    delays = None if numbers.delays is None else torch.tensor(numbers.delays, dtype=f64)
    spikes, _ = simulate(currents, torch.tensor(numbers.w_rec, dtype=f64), delays, params)
    hidden = spikes[0].to(f64).numpy()
    drive = mlgenn_kernel(case, params.gain) @ hidden
    logits = drive @ numbers.w_out.astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    raster = {(int(t), int(n)) for t, n in zip(*np.nonzero(hidden))}
    grads = {"w_out": np.outer(drive, probabilities - np.eye(case.outputs)[case.label])}
    return Result(raster, logits, cross_entropy(logits, case.label), grads)


# ---------------------------------------------------------------------------------------------------- comparison

def first_divergence(ours: set, theirs: set) -> str:
    """'=' if the rasters are identical, else the first step where they differ and the spike counts."""
    differ = ours ^ theirs
    if not differ:
        return "="
    return f"t{min(s for s, _ in differ)} ({len(ours)}/{len(theirs)})"


def differences(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    absolute = float(np.abs(a - b).max())
    scale = float(np.abs(b).max())
    return absolute, absolute / scale if scale > 0 else (0.0 if absolute == 0 else math.inf)


QUANTITIES = ("logits", "loss", "w_in", "w_rec", "w_out", "delays")


def compare(case: Case, build_dir: str) -> dict:
    numbers = draw(case)
    theirs = run_mlgenn(case, numbers, build_dir)
    ours = run_ours(case, numbers)
    forward = hard_reset_forward(case, numbers)
    project_readout = run_ours(case, numbers, mlgenn_readout=False)
    row = {"case": case.name, "spikes": len(theirs.spikes) / case.hidden,
           "eventprop": first_divergence(ours.spikes, theirs.spikes),
           "hard_reset": first_divergence(forward.spikes, theirs.spikes),
           "hard_reset_logits": differences(forward.logits, theirs.logits)[1],
           "no_lag_logits": differences(project_readout.logits, theirs.logits)[1],
           "own_w_out": differences(theirs.grads["w_out"], forward.grads["w_out"])[1],
           "ours": ours, "theirs": theirs}
    row["logits"] = differences(ours.logits, theirs.logits)
    row["loss"] = differences(ours.loss, theirs.loss)
    for key in GRADIENTS:
        row[key] = differences(ours.grads[key], theirs.grads[key]) if key in theirs.grads else None
        row[key + "_shape"] = direction(ours.grads[key], theirs.grads[key]) if key in theirs.grads else None
    return row


def direction(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Cosine of two gradients and the least-squares factor s with a ~ s b."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b))), float(a @ b / (b @ b))


def print_table(rows: list[dict]) -> float:
    head = f"{'case':<12} {'spk/n':>5} {'raster ep':>13} {'raster hr':>13} {'hr VAvg':>8} {'lag0 VAvg':>9}"
    for q in QUANTITIES:
        head += f" {q + ' abs':>9} {q + ' rel':>9}"
    print(head)
    worst = 0.0
    for row in rows:
        line = (f"{row['case']:<12} {row['spikes']:>5.1f} {row['eventprop']:>13} {row['hard_reset']:>13} "
                f"{row['hard_reset_logits']:>8.1e} {row['no_lag_logits']:>9.1e}")
        for q in QUANTITIES:
            if row[q] is None:
                line += f" {'-':>9} {'-':>9}"
                continue
            line += f" {row[q][0]:>9.2e} {row[q][1]:>9.2e}"
            if q in GRADIENTS:
                worst = max(worst, row[q][1])
        print(line)
    print("\nours against mlGeNN x tau_mem: cosine / least-squares factor; mlGeNN's dL/dw_out against the exact one of "
          "its own forward model (relative)")
    print(f"{'case':<12} " + " ".join(f"{q:>15}" for q in GRADIENTS) + f" {'own w_out':>10}")
    for row in rows:
        cells = [f"{'-':>15}" if row[q + '_shape'] is None else
                 f"{row[q + '_shape'][0]:>7.4f}/{row[q + '_shape'][1]:<7.3f}" for q in GRADIENTS]
        print(f"{row['case']:<12} " + " ".join(cells) + f" {row['own_w_out']:>10.2e}")
    return worst


LIMIT_DT_MS = 1.0 / 16


def limit_table(rows: list[dict]) -> None:
    """For the cases that differ only in dt: each side's gradients against ours at dt = 1/16 ms (the continuous-time
    limit both discretisations approach; delay gradients per ms)."""
    family = [r for r in rows if r["case"].startswith("dt_") or r["case"] == DT_FAMILY_BASE]
    if len(family) < 2:
        return
    base = next(c for c in CASES if c.name == DT_FAMILY_BASE)
    fine_case = replace(base, name="limit", dt_ms=LIMIT_DT_MS)
    fine = run_ours(fine_case, draw(fine_case))
    print(f"\nagainst ours at dt = {LIMIT_DT_MS} ms (relative error; delay gradients per ms)")
    print(f"{'dt ms':>6} " + " ".join(f"{q + ' ours':>12} {q + ' mlGeNN':>12}" for q in GRADIENTS))
    for row in sorted(family, key=lambda r: -case_named(r["case"]).dt_ms):
        dt = case_named(row["case"]).dt_ms
        line = f"{dt:>6} "
        for q in GRADIENTS:
            truth = fine.grads[q] / (LIMIT_DT_MS if q == "delays" else 1.0)
            ours = row["ours"].grads[q] / (dt if q == "delays" else 1.0)  # ours: per step; mlGeNN's: per ms
            line += " ".join(f"{differences(side, truth)[1]:>12.2e}" for side in (ours, row["theirs"].grads[q])) + " "
        print(line)


GRADIENTS = ("w_in", "w_rec", "w_out", "delays")
DT_FAMILY_BASE = "seed_5"


def case_named(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--keep-build", default=None, help="directory for mlGeNN's generated code (default: temp)")
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.cases or c.name in args.cases.split(",")]
    with contextlib.ExitStack() as stack:
        build_dir = args.keep_build or stack.enter_context(tempfile.TemporaryDirectory(prefix="mlgenn_oracle_"))
        os.makedirs(build_dir, exist_ok=True)
        rows = [compare(case, build_dir) for case in chosen]
    worst = print_table(rows)
    limit_table(rows)
    print(f"worst relative gradient error: {worst:.3e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
