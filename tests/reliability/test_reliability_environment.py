"""The rules' conda environment (envs/spacetime.yaml, used with `snakemake --sdm conda`) installs every runtime
dependency of the package, each pinned: a module the CLI imports must not arrive only as a dependency of another
package (threadpoolctl came only through tonic -> librosa -> scikit-learn)."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

from reliability_helpers import REPO

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")

NOT_IN_THE_RULES_ENV = {"snakemake", "snakemake-executor-plugin-slurm"}  # the tool that runs the rules


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_rules_environment_pins_every_runtime_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = {_name(r) for r in project["dependencies"]} - NOT_IN_THE_RULES_ENV
    environment = yaml.safe_load((REPO / "envs" / "spacetime.yaml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict) and "pip" in item)
    pinned = {_name(r): r for r in pip}
    assert needed - set(pinned) == set(), f"missing from envs/spacetime.yaml: {sorted(needed - set(pinned))}"
    assert all("==" in pinned[name] for name in needed), {name: pinned[name] for name in needed}

