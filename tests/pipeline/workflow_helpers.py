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


# ---- the environment of a user who installed the package without its test extra ---------------------------------

def _dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_closure(requirements: list[str]) -> set[str]:
    """The installed distributions `requirements` pull in, transitively (markers evaluated here, extras followed)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    stack = [Requirement(text) for text in requirements]
    while stack:
        requirement = stack.pop()
        name = _dist_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ["", *requirement.extras]):
                sub.marker = None
                stack.append(sub)
    return seen


def project_requirements() -> tuple[list[str], dict[str, list[str]]]:
    """pyproject.toml's core dependencies and its optional ones, by extra."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pytest brings tomli
        import tomli as tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["dependencies"], project.get("optional-dependencies", {})


def modules_only_the_test_extra_brings() -> set[str]:
    """Top-level import names of the distributions that only the test extra brings (pytest, pygments, ...)."""
    from importlib import metadata

    core, extras = project_requirements()
    only_test = installed_closure(extras.get("test", [])) - installed_closure(core)
    names = set()
    for dist_name in only_test:
        dist = metadata.distribution(dist_name)
        listed = dist.read_text("top_level.txt")
        if listed:
            names.update(line.strip() for line in listed.splitlines() if line.strip())
            continue
        for file in dist.files or []:
            top = file.parts[0]
            if not top.endswith((".dist-info", ".egg-info", ".pth")) and top != "..":
                names.add(top.removesuffix(".py"))
    return names


def snakemake_without_test_extra(blocked: set[str]) -> list[str]:
    """argv of `python -m snakemake` in which importing any of `blocked` fails as if it were not installed."""
    code = ("import sys, runpy, importlib.abc\n"
            f"BLOCKED = {sorted(blocked)!r}\n"
            "class Absent(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in BLOCKED:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r} (test extra not installed)', name=name)\n"
            "sys.meta_path.insert(0, Absent())\n"
            "runpy.run_module('snakemake', run_name='__main__', alter_sys=True)\n")
    return [sys.executable, "-c", code]
