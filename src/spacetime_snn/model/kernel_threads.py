"""Threads of the compiled kernels (`compiled_recurrence`, `compiled_eventprop`): the one place that sets them.

The kernels split the batch over numba's threads, as many as torch's setting at call time (`train --threads`,
Snakemake's threads for the job), so two trainings side by side do not oversubscribe the cores. numba's default
threading layer on Linux is OpenMP, whose idle workers spin: with one thread in use the second still burnt ~35 % of
a core (measured: a demo training took 8.7 CPU-s in 6.3 s of wall clock; 6.4 CPU-s with the workqueue layer), which
the job beside it pays for. The workqueue layer's idle threads sleep; the kernels are only ever launched from one
thread, which is all it requires. NUMBA_THREADING_LAYER in the environment still wins.
"""

from __future__ import annotations

import os

import numba
import torch

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


def use_kernel_threads(work_items: int | None = None) -> int:
    """Set and return the number of threads the next kernel runs on: torch's setting, at most numba's pool (and at
    most `work_items`, the blocks there are to share out)."""
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS, work_items or 1 << 30))
    numba.set_num_threads(threads)
    return threads
