"""Helpers of the workflow tests: run Snakemake on the repository's Snakefile in a scratch working directory and
read what it printed (job counts, job resources). (A plain module, not conftest.py: other test folders have
their own conftest modules.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from snakemake.utils import update_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def load_config(*overrides: str | Path) -> dict:
    """config.yaml with the given config files merged over it, as `snakemake --configfile` merges them."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in overrides:
        update_config(config, yaml.safe_load((REPO / path).read_text()))
    return config


def grid(config: dict, name: str) -> set[tuple[str, int, int]]:
    """(condition, hidden, seed) of one grid, computed independently of spacetime_snn.study."""
    spec = config[name]
    sizes = spec["hidden"] if isinstance(spec["hidden"], list) else [spec["hidden"]]
    return {(c, h, s) for c in spec["conditions"] for h in sizes for s in spec["seeds"]}


def run_snakemake(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`snakemake ARGS` typed in the repository root, working in `workdir` (results, .snakemake) so nothing is
    written into the checkout. stdout and stderr are merged into `.stdout`."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table Snakemake prints: {rule: number of jobs} (without the total)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["job", "count"])
    counts = {}
    for line in lines[start + 2:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def job_resources(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, {resource: value}) of every job block of a dry run."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in output.splitlines():
        rule = re.match(r"^(?:local)?rule (\w+):$", line)
        if rule:
            jobs.append((rule.group(1), {}))
            continue
        resources = re.match(r"^\s+resources: (.*)$", line)
        if resources and jobs:
            jobs[-1][1].update(item.split("=", 1) for item in resources.group(1).split(", ") if "=" in item)
    return jobs
