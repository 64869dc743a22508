"""EventProp's hidden layer, torch loop (`eventprop.event_recurrence`) against the compiled event-driven one
(`compiled_eventprop.compiled_event_recurrence`), side by side in one process on one thread.

    python benchmarks/eventprop_backend.py [--repeats 3] [--batches 32 256] [--no-compile-cost]

What is timed: forward + backward of the layer alone (input events -> hidden spikes and readout drive z; the loss
is z . p, no regulariser), float32, SHD's shape (700 -> 128, T = 1,000 steps, SHD-like inputs from
training_benchmark.shd_like_batch), input weights scaled so that the delay-free network fires at ~20 Hz. Delays:
none; spatial at initialisation (positions uniform in [-1, 1]^2, delays 0-3 steps); spatial spread over 0-62
steps (positions scaled as in training_benchmark's "spread"), with the default rounded delays and with linear
interpolation (`model.delay_interpolation: linear`: two taps per synapse). Median over repeats, interleaved
round-robin so a busy machine slows every variant alike; wall clock and CPU time (one thread: CPU time is the
work done, steadier when other processes share the cores). Columns: the two backends, their ratio (speed-up),
and each backend's time relative to its delay-free case at the same batch (the cost of delays).

First call: the compiled kernels are cached on disk (numba `cache=True`); the first call in a process with an empty
cache compiles them, later processes load them. Measured in fresh subprocesses with NUMBA_CACHE_DIR set to an empty
folder (cold) and then to the same folder again (cached): import + the first forward + backward of a tiny float32
problem.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_benchmark import Shape, shd_like_batch  # noqa: E402

from spacetime_snn.config import ModelSettings  # noqa: E402
from spacetime_snn.model.compiled_eventprop import compiled_event_recurrence  # noqa: E402
from spacetime_snn.model.eventprop import event_recurrence  # noqa: E402
from spacetime_snn.model.network import SpatialSNN  # noqa: E402
from spacetime_snn.model.readout import readout_kernel  # noqa: E402

RATE = 0.02  # spikes per neuron and step of the delay-free network (20 Hz at dt = 1 ms)
BACKENDS = {"torch": event_recurrence, "compiled": compiled_event_recurrence}
DELAYS = ("none", "spatial init", "spatial spread 0-62", "spatial spread 0-62 linear")


def network(delays: str, shape: Shape):
    """(w_in, w_rec, delays or None, kernel, params) of an initialised SpatialSNN, float32."""
    mode = "none" if delays == "none" else "spatial"
    interpolation = "linear" if delays.endswith("linear") else "round"
    settings = ModelSettings(hidden=shape.hidden, delay_mode=mode, max_delay_steps=62,
                             delay_interpolation=interpolation)
    model = SpatialSNN(shape.inputs, shape.classes, settings, dt_ms=1.0, generator=torch.Generator().manual_seed(1),
                       gradient="eventprop")
    if delays.startswith("spatial spread"):
        with torch.no_grad():
            model.recurrent_delays.position.uniform_(-1.0, 1.0, generator=torch.Generator().manual_seed(2))
            model.recurrent_delays.position.mul_(62 / (2.0 * math.sqrt(2.0)))
    params = model.lif
    kernel = torch.as_tensor(readout_kernel(shape.steps, params.tau_mem_ms, params.tau_syn_ms, params.dt_ms,
                                            params.gain), dtype=torch.float32)
    d = None if mode == "none" else model.recurrent_delays().detach()
    return model.w_in.detach().clone(), model.w_rec.detach().clone(), d, kernel, params


def rate(inputs, shape, w_in, w_rec, delays, kernel, params) -> float:
    with torch.no_grad():
        spikes, _ = compiled_event_recurrence(inputs, shape.batch, shape.steps, w_in, w_rec, delays, kernel, params)
    return float(spikes.mean())


def calibrate(inputs, shape, w_in, w_rec, kernel, params) -> float:
    """Input-weight scale giving the delay-free network RATE (bisection on log scale)."""
    low, high = 0.01, 100.0
    for _ in range(30):
        mid = math.sqrt(low * high)
        if rate(inputs, shape, w_in * mid, w_rec, None, kernel, params) < RATE:
            low = mid
        else:
            high = mid
    return math.sqrt(low * high)


def step(layer, inputs, shape, w_in, w_rec, delays, kernel, params, probe) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one forward + backward."""
    w_in, w_rec = w_in.clone().requires_grad_(), w_rec.clone().requires_grad_()
    delays = None if delays is None else delays.clone().requires_grad_()
    start, cpu = time.perf_counter(), time.process_time()
    spikes, drive = layer(inputs, shape.batch, shape.steps, w_in, w_rec, delays, kernel, params)
    (drive * probe).sum().backward()
    return time.perf_counter() - start, time.process_time() - cpu


def compile_cost() -> tuple[float, float]:
    """Seconds for import + first forward/backward in a fresh process: empty numba cache, then cached."""
    code = ("import time; t = time.perf_counter(); import torch; "
            "from spacetime_snn.model.compiled_eventprop import compiled_event_recurrence; "
            "from spacetime_snn.model.recurrence import LIFParameters; "
            "x = (torch.rand(2 * 20, 5) < 0.3).float().to_sparse().coalesce(); "
            "w = torch.rand(5, 4, requires_grad=True); r = torch.randn(4, 4, requires_grad=True); "
            "d = (torch.rand(4, 4) * 3).requires_grad_(); "
            "s, z = compiled_event_recurrence(x, 2, 20, w, r, d, torch.ones(20), LIFParameters(max_delay=4)); "
            "z.sum().backward(); print(time.perf_counter() - t)")
    times = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--no-compile-cost", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import numba
    numba.set_num_threads(1)
    print(f"EventProp layer, forward + backward, float32, 700 -> 128, T = 1000, one thread, "
          f"median of {args.repeats}")
    print("(wall-clock s; in brackets CPU s, steadier on a busy machine; ratios from CPU s)")
    print("| batch | delays | rate Hz | torch s | compiled s | speed-up | torch / none | compiled / none |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in args.batches:
        shape = Shape("SHD", 700, 1000, 128, batch=batch)
        inputs, _ = shd_like_batch(shape)
        cases = {name: network(name, shape) for name in DELAYS}
        w_in, w_rec, _, kernel, params = cases["none"]
        scale = calibrate(inputs, shape, w_in, w_rec, kernel, params)
        cases = {name: (w * scale, *rest) for name, (w, *rest) in cases.items()}
        probe = torch.randn(batch, shape.hidden, generator=torch.Generator().manual_seed(3))
        times = {(name, backend): [] for name in DELAYS for backend in BACKENDS}
        tiny = Shape("warm-up", 700, 50, 128, batch=2)
        tiny_inputs = (torch.rand(2 * 50, 700) < 0.01).float().to_sparse().coalesce()
        for layer in BACKENDS.values():  # warm-up (compilation or cache load, allocator)
            step(layer, tiny_inputs, tiny, *cases["spatial init"][:3], kernel[:50], params, probe[:2])
        for _ in range(args.repeats):
            for name in DELAYS:
                for backend, layer in BACKENDS.items():
                    times[name, backend].append(step(layer, inputs, shape, *cases[name], probe))
        wall = {key: statistics.median(w for w, _ in value) for key, value in times.items()}
        cpu = {key: statistics.median(c for _, c in value) for key, value in times.items()}
        for name in DELAYS:
            hz = 1000.0 * rate(inputs, shape, *cases[name])
            t_torch, t_ours = cpu[name, "torch"], cpu[name, "compiled"]
            print(f"| {batch} | {name} | {hz:.1f} | {wall[name, 'torch']:.3f} ({t_torch:.3f}) | "
                  f"{wall[name, 'compiled']:.3f} ({t_ours:.3f}) | {t_torch / t_ours:.1f}x | "
                  f"{t_torch / cpu['none', 'torch']:.2f} | {t_ours / cpu['none', 'compiled']:.2f} |")
    if not args.no_compile_cost:
        cold, cached = compile_cost()
        print(f"\nfirst call (import + tiny forward/backward, fresh process): empty numba cache {cold:.1f} s, "
              f"cached {cached:.1f} s")


if __name__ == "__main__":
    main()
