"""Training-step benchmark: our delayed recurrent SNN against snnTorch's RSynaptic, all variants in one run.

    python benchmarks/training_benchmark.py [--repeats 5] [--threads 2] [--quick] [--no-memory] [--json out.json]

What is timed (wall clock, median over repeats, repeats interleaved round-robin over the variants so that a busy
machine slows all of them alike): one training step = forward + backward of a whole batch through input layer,
recurrent hidden layer, readout and a cross-entropy loss (`SpatialSNN`; no optimiser step), and, separately, the
forward alone without autograd (inference throughput for evaluation and pruning sweeps).

Shapes. SHD: 700 inputs, 1000 steps of 1 ms, batch 32, SHD-like inputs (a few thousand events per sample along
drifting "formant" tracks), hidden 128 and 256, 20 classes. Demo: 64 inputs, 150 steps, hidden 32, batch 32.
The input weights of every variant are scaled so that its hidden neurons fire on ~3 % of the steps (30 Hz), and
every variant reports its measured rate; the peer gets the same input weights as our delay-free network.

Variants. Ours with delay modes none / axonal / synaptic / spatial and max delay 62 and 1000, with the delays the
model is initialised with ("init": the paper's initialisation, positions uniform in [-1, 1]^2 so spatial delays are
0-2.8 steps; free delays 0) and, as a stress test, "spread" delays covering the whole range [0, max delay]
(uniform per synapse, per axon, or positions spread so that distances reach max delay). The peer: snnTorch
`RSynaptic` (recurrent LIF with synaptic current, all-to-all recurrent linear, no delays) driven the usual snnTorch
way, one time step at a time (input Linear -> RSynaptic -> output Linear -> Synaptic leaky readout, no reset), same
shapes, batch, steps, threads, input weights and loss. Rows "eventprop ...": the same network trained with
`train.gradient: eventprop` (its own forward model, calibrated to the same rate; `model/eventprop.py`).

Memory ("peak MB"): growth of the resident set during one training step, measured in a fresh process per variant
(after a warm-up step on a tiny batch, peak RSS reset through /proc/self/clear_refs, VmHWM - VmRSS; glibc's mmap
threshold pinned to 64 KiB so that freed large tensors return to the OS). It includes everything a step allocates:
activations kept for the backward pass, gradients, temporaries. "saved MB": the bytes autograd keeps from the
forward for the backward pass (besides parameters and the input batch), counted through saved-tensor hooks; "bwd MB":
the RSS growth during the backward pass alone. The last table (full run) repeats these at several firing rates and
two sample lengths: EventProp's saved memory should follow the number of spikes, the surrogate's T x N x B. "delay MB" is the state our transmission keeps
because of delays: the zero padding of its forward and backward histories, 2 x hi x N x B floats (hi = longest
lead in use, <= max delay + 2, 1 without delays); it grows with the delays actually in use, not with max delay (a
ring buffer over max delay would hold B x N x (max delay + 3) floats whatever the delays).

Threads: the run's setting (default 2) applies to everything; our layer runs its time loops on one thread by design
(`spacetime_snn.model.delays.one_thread`: a step's operations are too small to share, and on a busy machine a
second thread stalls every step). The peer is also timed on one thread ("1 thread" row). "cpu s" is the CPU time of
a step (all threads), a steadier measure than wall clock on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

TARGET_RATE = 0.03  # hidden spikes per neuron and step for the delay-free network (30 Hz at dt = 1 ms)
TARGETS = {  # (numerator, denominator) -> maximum ratio, from the issues
    ("spatial Dmax62", "none"): 1.5,
    ("spatial Dmax1000", "spatial Dmax62"): 1.2,
    ("none", "snnTorch RSynaptic"): 0.7,
    ("spatial Dmax62", "snnTorch RSynaptic"): 1.0,
    ("eventprop none", "none"): 1.0,  # EventProp: no slower than the surrogate gradient
    ("eventprop spatial Dmax62", "spatial Dmax62"): 1.0,
}


@dataclass(frozen=True)
class Shape:
    name: str
    inputs: int
    steps: int
    hidden: int
    batch: int = 32
    classes: int = 20
    events: int = 4000  # input events per sample


@dataclass(frozen=True)
class Variant:
    shape: Shape
    model: str  # "ours" or "snntorch"
    mode: str = "none"
    max_delay: int = 62
    delays: str = "init"  # "init" or "spread"
    input_scale: float = 1.0
    threads: int | None = None  # None: the run's setting
    gradient: str = "surrogate"  # ours: train.gradient

    @property
    def label(self) -> str:
        if self.model == "snntorch":
            return "snnTorch RSynaptic" + ("" if self.threads is None else f" {self.threads} thread")
        rule = "eventprop " if self.gradient == "eventprop" else ""
        if self.mode == "none":
            return rule + "none"
        return rule + f"{self.mode} Dmax{self.max_delay}" + (" spread" if self.delays == "spread" else "")


# ---------------------------------------------------------------- inputs

def shd_like_batch(shape: Shape, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse (B*T, C) float32 input (coalesced event counts, the model's input format) and labels (B,).

    Each sample: `events` spikes, 85 % along three "formant" tracks whose channel drifts linearly over the
    voiced part of the sample (5-80 % of its duration), 15 % uniform background - the look of SHD's cochleagrams.
    """
    g = torch.Generator().manual_seed(seed)
    b, t_max, c = shape.batch, shape.steps, shape.inputs
    n = shape.events
    voiced = int(0.85 * n)
    track = torch.randint(0, 3, (b, voiced), generator=g)
    start = torch.rand(b, 3, generator=g) * 0.6 * c
    drift = (torch.rand(b, 3, generator=g) - 0.5) * 0.4 * c
    frac = 0.05 + 0.75 * torch.rand(b, voiced, generator=g)
    centre = start.gather(1, track) + drift.gather(1, track) * frac
    channel = (centre + torch.randn(b, voiced, generator=g) * 0.03 * c).round().clamp(0, c - 1).long()
    step = (frac * t_max).long().clamp(0, t_max - 1)
    step = torch.cat([step, torch.randint(0, t_max, (b, n - voiced), generator=g)], 1)
    channel = torch.cat([channel, torch.randint(0, c, (b, n - voiced), generator=g)], 1)
    rows = (torch.arange(b).unsqueeze(1) * t_max + step).reshape(-1)
    inputs = torch.sparse_coo_tensor(torch.stack([rows, channel.reshape(-1)]), torch.ones(rows.numel()),
                                     (b * t_max, c), check_invariants=False).coalesce()
    labels = torch.randint(0, shape.classes, (b,), generator=g)
    return inputs, labels


# ---------------------------------------------------------------- models

def build_ours(variant: Variant):
    from spacetime_snn.config import ModelSettings
    from spacetime_snn.model.network import SpatialSNN

    shape = variant.shape
    settings = ModelSettings(hidden=shape.hidden, delay_mode=variant.mode, max_delay_steps=variant.max_delay)
    model = SpatialSNN(shape.inputs, shape.classes, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(1),
                       gradient=variant.gradient)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        model.w_in.mul_(variant.input_scale)
        if variant.delays == "spread":  # delays covering [0, max delay]
            d = model.recurrent_delays
            if variant.mode == "spatial":
                d.position.uniform_(-1.0, 1.0, generator=g).mul_(variant.max_delay / (2.0 * math.sqrt(2.0)))
            elif variant.mode in ("synaptic", "axonal"):
                d.delay.uniform_(0.0, float(variant.max_delay), generator=g)
    return model


class RSynapticPeer(torch.nn.Module):
    """The snnTorch way: per step input Linear -> RSynaptic (all-to-all) -> output Linear -> Synaptic readout."""

    def __init__(self, shape: Shape, w_in: torch.Tensor, w_rec: torch.Tensor, w_out: torch.Tensor):
        super().__init__()
        import snntorch as snn

        alpha, beta = math.exp(-1.0 / 5.0), math.exp(-1.0 / 20.0)
        self.fc_in = torch.nn.Linear(shape.inputs, shape.hidden, bias=False)
        self.hidden = snn.RSynaptic(alpha, beta, linear_features=shape.hidden, all_to_all=True,
                                    reset_mechanism="zero")
        self.fc_out = torch.nn.Linear(shape.hidden, shape.classes, bias=False)
        self.readout = snn.Synaptic(alpha, beta, reset_mechanism="none")
        with torch.no_grad():  # the same weights as ours ([pre, post] -> Linear's [out, in])
            self.fc_in.weight.copy_(w_in.t())
            self.hidden.recurrent.weight.copy_(w_rec.t())
            self.hidden.recurrent.bias.zero_()
            self.fc_out.weight.copy_(w_out.t())
        steps = shape.steps
        self.register_buffer("time_weight", torch.exp(-(1.0 - torch.arange(1, steps + 1) / steps)) / steps)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, O) from dense frames (T, B, C); also the hidden spike rate."""
        spk, syn, mem = self.hidden.init_rsynaptic()
        syn_out, mem_out = self.readout.init_synaptic()
        logits, count = 0.0, 0.0
        for t in range(frames.shape[0]):
            spk, syn, mem = self.hidden(self.fc_in(frames[t]), spk, syn, mem)
            _, syn_out, mem_out = self.readout(self.fc_out(spk), syn_out, mem_out)
            logits = logits + self.time_weight[t] * mem_out
            count = count + spk.detach().mean()
        return logits, count / frames.shape[0]


@contextlib.contextmanager
def threads(count: int | None):
    """Temporarily run torch on `count` threads (None: unchanged)."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Case:
    """A variant ready to run: model, inputs, labels; `step()` trains once, `infer()` runs without autograd."""

    def __init__(self, variant: Variant, inputs: torch.Tensor, labels: torch.Tensor):
        self.variant = variant
        self.labels = labels
        shape = variant.shape
        ours = build_ours(variant if variant.model == "ours" else replace(variant, mode="none", gradient="surrogate"))
        if variant.model == "ours":
            self.model, self.inputs = ours, inputs
        else:
            self.model = RSynapticPeer(shape, ours.w_in.detach(), ours.w_rec.detach(), ours.w_out.detach())
            self.inputs = inputs.to_dense().view(shape.batch, shape.steps, -1).transpose(0, 1).contiguous()
        self.rate = float("nan")

    def _forward(self):
        if self.variant.model == "ours":
            logits, spikes = self.model(self.inputs, self.variant.shape.batch, self.variant.shape.steps)
            return logits, spikes.detach().mean()
        return self.model(self.inputs)

    def step(self) -> tuple[float, float, float]:
        """Wall-clock seconds of forward and backward of one training step, and its CPU seconds (all threads)."""
        self.model.zero_grad(set_to_none=True)
        with threads(self.variant.threads):
            cpu = time.process_time()
            start = time.perf_counter()
            logits, rate = self._forward()
            loss = F.cross_entropy(logits, self.labels)
            middle = time.perf_counter()
            loss.backward()
            end = time.perf_counter()
            cpu = time.process_time() - cpu
        self.rate = float(rate)
        return middle - start, end - middle, cpu

    def infer(self) -> float:
        with torch.no_grad(), threads(self.variant.threads):
            start = time.perf_counter()
            self._forward()
            return time.perf_counter() - start

    def delay_state_mb(self) -> float:
        """Floats our transmission pads its two histories with: 2 x hi x N x B (hi = 1 without delays)."""
        if self.variant.model != "ours":
            return 0.0
        from spacetime_snn.model.delays import make_transmission

        model = self.model
        delays = model.recurrent_delays()
        transmission = make_transmission(model.w_rec.detach(), None if delays is None else delays.detach(),
                                         model.lif.max_delay, model.lif.interpolate)
        shape = self.variant.shape
        return 2 * transmission.hi * shape.hidden * shape.batch * 4 / 2**20


# ---------------------------------------------------------------- calibration

def calibrate_input_scale(variant: Variant, inputs: torch.Tensor, labels: torch.Tensor,
                          bracket: tuple[float, float] = (1e-2, 100.0), iterations: int = 14,
                          target: float = TARGET_RATE) -> float:
    """Scale of the paper's input weights that makes this variant's hidden neurons fire at TARGET_RATE.

    Every variant is calibrated on its own: spread delays carry recurrent excitation beyond the sample's end, so
    they need more input for the same rate.
    """
    low, high = bracket
    for _ in range(iterations):
        scale = math.sqrt(low * high)
        case = Case(replace(variant, input_scale=scale), inputs, labels)
        with torch.no_grad():
            _, rate = case._forward()
        low, high = (scale, high) if float(rate) < target else (low, scale)
    return math.sqrt(low * high)


# ---------------------------------------------------------------- memory (one fresh process per variant)

def _resident_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _saved_bytes(case: "Case") -> tuple[int, "torch.Tensor", "torch.Tensor"]:
    """Forward pass of `case` recording the tensors autograd keeps for the backward pass; returns the bytes of
    those that are neither parameters nor the input batch (each storage once), and the logits and spikes."""
    own = {p.untyped_storage().data_ptr() for p in case.model.parameters()}
    if case.inputs.is_sparse:
        own |= {case.inputs._indices().untyped_storage().data_ptr(), case.inputs._values().untyped_storage().data_ptr()}
    else:
        own.add(case.inputs.untyped_storage().data_ptr())
    kept: dict[int, int] = {}

    def pack(tensor):
        parts = [tensor._indices(), tensor._values()] if tensor.is_sparse else [tensor]
        for part in parts:
            storage = part.untyped_storage()
            if storage.data_ptr() not in own:
                kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        logits, rate = case._forward()
    return sum(kept.values()), logits, rate


def memory_child(spec: dict) -> dict:
    """Memory of one training step of the variant `spec`, in this fresh process (MB).

    peak_mb: peak RSS growth during a whole step (forward + backward). A warm-up step on a tiny batch of the same
    variant first loads and initialises everything (libraries, thread pools, code paths) without leaving large
    blocks behind; then the peak RSS is reset and the real step measured. saved_mb: what autograd keeps from the
    forward for the backward pass, besides parameters and the input batch. backward_mb: peak RSS growth during the
    backward pass alone (its own allocations: adjoints, gradients, temporaries), from a second step.
    """
    torch.set_num_threads(spec["threads"])
    variant = Variant(shape=Shape(**spec["shape"]), **{k: v for k, v in spec.items() if k in
                                                          ("model", "mode", "max_delay", "delays", "input_scale",
                                                           "gradient")})
    tiny = replace(variant, shape=replace(variant.shape, batch=2, steps=20, events=40))
    Case(tiny, *shd_like_batch(tiny.shape)).step()
    case = Case(variant, *shd_like_batch(variant.shape))
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    before = _resident_kib("VmRSS")
    case.step()
    peak = (_resident_kib("VmHWM") - before) / 1024
    case.model.zero_grad(set_to_none=True)
    saved, logits, rate = _saved_bytes(case)
    loss = F.cross_entropy(logits, case.labels)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _resident_kib("VmRSS")
    loss.backward()
    return {"peak_mb": peak, "saved_mb": saved / 2**20, "backward_mb": (_resident_kib("VmHWM") - before) / 1024,
            "rate": float(rate)}


def measure_memory(variant: Variant, threads: int) -> dict:
    spec = {"shape": asdict(variant.shape), "model": variant.model, "mode": variant.mode,
            "max_delay": variant.max_delay, "delays": variant.delays, "input_scale": variant.input_scale,
            "gradient": variant.gradient, "threads": variant.threads or threads}
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    try:
        out = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(spec)], env=env,
                             capture_output=True, text=True, check=True, timeout=1800)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, KeyError) as error:
        print(f"  memory of {variant.label} not measured: {error}", file=sys.stderr)
        return {"peak_mb": float("nan"), "saved_mb": float("nan"), "backward_mb": float("nan"), "rate": float("nan")}


def memory_scaling(threads: int, shape: Shape, targets=(0.015, 0.03, 0.06), steps=(500, 1000)) -> list[dict]:
    """Saved and backward memory of one step against the number of hidden spikes: surrogate and eventprop, spatial
    delays (Dmax 62), at several firing rates and sample lengths; eventprop's should follow the spikes, the
    surrogate gradient's T x N x B."""
    rows = []
    for gradient in ("surrogate", "eventprop"):
        for length in steps:
            sized = replace(shape, steps=length, events=shape.events * length // shape.steps)
            inputs, labels = shd_like_batch(sized)
            for target in targets:
                variant = Variant(sized, "ours", "spatial", 62, gradient=gradient)
                variant = replace(variant, input_scale=calibrate_input_scale(variant, inputs, labels, target=target))
                memory = measure_memory(variant, threads)
                spikes = memory["rate"] * length * sized.hidden * sized.batch
                rows.append({"gradient": gradient, "steps": length, "target_rate": target, **memory,
                             "spikes": spikes, "tnb_mb": length * sized.hidden * sized.batch * 4 / 2**20})
                print(f"  memory scaling: {gradient} T={length} rate {memory['rate']:.4f}", flush=True)
    return rows


# ---------------------------------------------------------------- the run

def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import snntorch
        snn_version = snntorch.__version__
    except ImportError:
        snn_version = "not installed"
    return {"cpu": model, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "snntorch": snn_version, "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def variants_for(shape: Shape, quick: bool, peer: bool) -> list[Variant]:
    out = [Variant(shape, "ours", "none")]
    modes = ("spatial",) if quick else ("axonal", "synaptic", "spatial")
    for delays in ("init",) if quick else ("init", "spread"):
        for mode in modes:
            for max_delay in (62, 1000):
                out.append(Variant(shape, "ours", mode, max_delay, delays))
    # EventProp (train.gradient: eventprop) on the same layer
    out.append(Variant(shape, "ours", "none", gradient="eventprop"))
    out += [Variant(shape, "ours", "spatial", max_delay, gradient="eventprop") for max_delay in (62, 1000)]
    if not quick:
        out += [Variant(shape, "ours", mode, 62, "spread", gradient="eventprop") for mode in ("synaptic", "spatial")]
    if peer:
        out.append(Variant(shape, "snntorch"))
        out.append(Variant(shape, "snntorch", threads=1))  # immune to busy-machine stalls
    return out


def calibrated(variants: list[Variant], inputs: torch.Tensor, labels: torch.Tensor) -> list[Variant]:
    """The variants with their input scales; the peer gets the delay-free network's (the same input weights)."""
    reference = calibrate_input_scale(variants[0], inputs, labels)
    out = []
    for variant in variants:
        if variant.model == "snntorch" or variant == variants[0]:
            out.append(replace(variant, input_scale=reference))
        else:
            scale = calibrate_input_scale(variant, inputs, labels, (reference / 10, reference * 10), iterations=8)
            out.append(replace(variant, input_scale=scale))
    return out


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    shapes = [Shape("SHD", 700, 1000, 128)]
    if not args.quick:
        shapes.append(Shape("SHD", 700, 1000, 256))
    shapes.append(Shape("demo", 64, 150, 32, events=300))
    info = machine()
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    cases = []
    for shape in shapes:
        inputs, labels = shd_like_batch(shape)
        print(f"calibrating the input of {shape.name} hidden {shape.hidden} ...", flush=True)
        for variant in calibrated(variants_for(shape, args.quick, peer=not args.no_peer), inputs, labels):
            cases.append(Case(variant, inputs, labels))
    print(f"{len(cases)} variants, {args.repeats} repeats, interleaved; warming up ...", flush=True)
    for case in cases:
        case.step()
        case.infer()
    forward = {id(c): [] for c in cases}
    backward = {id(c): [] for c in cases}
    cpu = {id(c): [] for c in cases}
    inference = {id(c): [] for c in cases}
    for repeat in range(args.repeats):
        for case in cases:
            f, b, c = case.step()
            forward[id(case)].append(f)
            backward[id(case)].append(b)
            cpu[id(case)].append(c)
            inference[id(case)].append(case.infer())
        print(f"  repeat {repeat + 1}/{args.repeats} done", flush=True)
    rows = []
    for case in cases:
        v = case.variant
        steps = [f + b for f, b in zip(forward[id(case)], backward[id(case)])]
        rows.append({
            "shape": f"{v.shape.name} {v.shape.inputs}-{v.shape.hidden}-{v.shape.classes} T={v.shape.steps}",
            "hidden": v.shape.hidden, "variant": v.label, "model": v.model, "mode": v.mode,
            "max_delay": v.max_delay, "delays": v.delays,
            "step_s": statistics.median(steps), "step_cpu_s": statistics.median(cpu[id(case)]),
            "forward_s": statistics.median(forward[id(case)]),
            "backward_s": statistics.median(backward[id(case)]),
            "inference_samples_per_s": v.shape.batch / statistics.median(inference[id(case)]),
            "hidden_rate": case.rate, "delay_state_mb": case.delay_state_mb(),
            "peak_mb": float("nan"), "saved_mb": float("nan"), "backward_mb": float("nan"),
        })
    scaling = []
    if not args.no_memory:
        print("measuring memory, one process per variant ...", flush=True)
        for row, case in zip(rows, cases):
            memory = measure_memory(case.variant, args.threads)
            row.update({key: memory[key] for key in ("peak_mb", "saved_mb", "backward_mb")})
        if not args.quick:
            print("memory against the number of spikes ...", flush=True)
            scaling = memory_scaling(args.threads, shapes[0])
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return {"machine": info, "rows": rows, "ratios": ratios(rows), "repeats": args.repeats, "scaling": scaling}


def ratios(rows: list[dict]) -> list[dict]:
    """Ratios of step times (wall clock; CPU time alongside) for the targets and for information."""
    out = []
    for shape in dict.fromkeys(r["shape"] for r in rows):
        wall = {r["variant"]: r["step_s"] for r in rows if r["shape"] == shape}
        cpu = {r["variant"]: r["step_cpu_s"] for r in rows if r["shape"] == shape}
        pairs = list(TARGETS) + [(f"spatial Dmax62", "snnTorch RSynaptic 1 thread"),
                                 ("none", "snnTorch RSynaptic 1 thread"),
                                 ("eventprop spatial Dmax1000", "spatial Dmax1000"),
                                 ("eventprop synaptic Dmax62 spread", "synaptic Dmax62 spread"),
                                 ("eventprop spatial Dmax62 spread", "spatial Dmax62 spread")]
        pairs += [(f"{m} Dmax{d}{s}", "none") for s in ("", " spread") for m in ("axonal", "synaptic", "spatial")
                  for d in (62, 1000) if (m, d, s) != ("spatial", 62, "")]
        for num, den in pairs:
            if num in wall and den in wall:
                value = wall[num] / wall[den]
                target = TARGETS.get((num, den))
                out.append({"shape": shape, "ratio": f"{num} / {den}", "value": value,
                            "cpu_value": cpu[num] / cpu[den], "target": target,
                            "met": None if target is None else value <= target})
    return out


def print_report(result: dict) -> None:
    m = result["machine"]
    print()
    print(f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} with {m['torch_threads']} "
          f"threads, snnTorch {m['snntorch']}, Python {m['python']}; load average {m['load_average']} at start, "
          f"{m.get('load_average_end')} at end")
    print(f"Median over {result['repeats']} interleaved repeats. step = forward + backward, wall clock (s); cpu = its "
          f"CPU time, all threads; inference = samples/s forward without autograd; rate = hidden spikes per neuron "
          f"and step (Hz at dt = 1 ms); delay MB = our delay state; peak MB = RSS growth during a step; saved MB = "
          f"what autograd keeps for the backward pass (besides parameters and input); bwd MB = RSS growth during "
          f"the backward pass. Variants 'eventprop ...': train.gradient eventprop (the others: surrogate).")
    header = (f"{'shape':<26} {'variant':<34} {'step s':>7} {'cpu s':>7} {'fwd s':>7} {'bwd s':>7} {'infer/s':>8} "
              f"{'rate %':>6} {'Hz':>4} {'delay MB':>8} {'peak MB':>8} {'saved MB':>8} {'bwd MB':>7}")
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        print(f"{r['shape']:<26} {r['variant']:<34} {r['step_s']:7.3f} {r['step_cpu_s']:7.3f} {r['forward_s']:7.3f} "
              f"{r['backward_s']:7.3f} {r['inference_samples_per_s']:8.0f} {100 * r['hidden_rate']:6.2f} "
              f"{1000 * r['hidden_rate']:4.0f} {r['delay_state_mb']:8.1f} {r['peak_mb']:8.1f} "
              f"{r.get('saved_mb', float('nan')):8.1f} {r.get('backward_mb', float('nan')):7.1f}")
    print()
    print(f"{'shape':<26} {'ratio of step times':<64} {'wall':>6} {'cpu':>6} {'target':>7}")
    for q in result["ratios"]:
        target = "" if q["target"] is None else f"<= {q['target']}"
        mark = "" if q["met"] is None else ("  met" if q["met"] else "  NOT met")
        print(f"{q['shape']:<26} {q['ratio']:<64} {q['value']:6.2f} {q['cpu_value']:6.2f} {target:>7}{mark}")
    if result.get("scaling"):
        print()
        print("Memory of one step against the number of hidden spikes (SHD shape, spatial Dmax62, batch 32): saved "
              "MB and bwd MB as above; T x N x B MB = one float per step, neuron and sample")
        header = (f"{'gradient':<10} {'steps':>5} {'rate %':>6} {'spikes':>8} {'T x N x B MB':>12} {'saved MB':>8} "
                  f"{'bwd MB':>7} {'peak MB':>8} {'saved B/spike':>13}")
        print(header)
        print("-" * len(header))
        for r in result["scaling"]:
            print(f"{r['gradient']:<10} {r['steps']:>5} {100 * r['rate']:6.2f} {r['spikes']:8.0f} {r['tnb_mb']:12.1f} "
                  f"{r['saved_mb']:8.1f} {r['backward_mb']:7.1f} {r['peak_mb']:8.1f} "
                  f"{r['saved_mb'] * 2**20 / max(r['spikes'], 1):13.1f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="SHD hidden 128 and demo; none and spatial only")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-variant memory processes")
    parser.add_argument("--no-peer", action="store_true", help="skip snnTorch")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return 0
    result = run(args)
    print_report(result)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
