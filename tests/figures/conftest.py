"""Fixtures for the figure tests: realistic fake aggregated tables, shared across the session (built once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fake_figure_data, whatever pytest's import mode

import fake_figure_data as fake  # noqa: E402

from spacetime_snn.figures.style import condition_colors  # noqa: E402


@pytest.fixture(scope="session")
def tables() -> dict:
    return fake.all_tables()


@pytest.fixture(scope="session")
def colors() -> dict:
    return condition_colors(list(fake.LABELS))


@pytest.fixture(scope="session")
def main_labels() -> dict:
    return dict(fake.MAIN_LABELS)


@pytest.fixture(scope="session")
def all_labels() -> dict:
    return dict(fake.LABELS)
