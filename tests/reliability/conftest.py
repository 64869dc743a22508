"""Fixtures of the fault-injection suite (helpers: reliability_helpers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reliability_helpers import copy_data, make_data, settings


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The tiny synthetic data set (train.h5 / test.h5), generated once; copy it before writing next to it."""
    return make_data(tmp_path_factory.mktemp("tiny-data"))


@pytest.fixture
def fresh_data(tiny_data, tmp_path) -> Path:
    """A private copy of the tiny data set, not yet binned (no cache)."""
    return copy_data(tiny_data, tmp_path / "data")


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run (3 epochs: checkpoint.pt holds epoch 3, checkpoint.prev.pt epoch 2), trained once;
    tests that change it work on a copy."""
    from spacetime_snn.cli import main

    root = tmp_path_factory.mktemp("trained")
    data = make_data(root / "data")
    assert main(["train", "--settings", json.dumps(settings(data)), "--out", str(root / "run")]) == 0
    return root / "run"
