"""Fixtures shared across test folders.

`local_ci_study`: the CI study (configs/ci.yaml) run once per session with `snakemake --cores 2`, in a scratch
directory. The end-to-end tests (tests/pipeline) check it; the SLURM tests (tests/slurm) compare the cluster's
results with it, so the few minutes it costs are spent once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class StudyRun:
    """One `snakemake` run: where it worked, what it printed (stdout and stderr merged), its wall-clock time."""

    workdir: Path
    result: subprocess.CompletedProcess
    seconds: float


@pytest.fixture(scope="session")
def local_ci_study(tmp_path_factory) -> StudyRun:
    workdir = tmp_path_factory.mktemp("ci")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "configs/ci.yaml",
         "--directory", str(workdir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800,
    )
    return StudyRun(workdir, result, time.perf_counter() - start)
