"""Fixtures of the SLURM tests: the one-node cluster (one_node_cluster.py), started for the tests that need it and
stopped after them, also when a test fails; and a section at the end of pytest's output that shows what the cluster did
(job ids and states, the sbatch resources of a training job, the resume), so CI's log holds the evidence."""

from __future__ import annotations

import shutil
import signal

import pytest

from one_node_cluster import OneNodeCluster, install_packages

REPORT = pytest.StashKey[list]()


def report_lines(config: pytest.Config) -> list[str]:
    if REPORT not in config.stash:
        config.stash[REPORT] = []
    return config.stash[REPORT]


@pytest.fixture(scope="session")
def slurm_report(request) -> list[str]:
    """Lines the tests add for the closing "SLURM one-node cluster" section of pytest's output."""
    return report_lines(request.config)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(REPORT, [])
    if lines:
        terminalreporter.write_sep("=", "SLURM one-node cluster (tests/slurm)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, slurm_report):
    """A running one-node cluster with accounting, for the tests of one module (stopped after them); skips,
    saying why, where it cannot be installed."""
    reason = install_packages(tmp_path_factory.mktemp("slurm-apt") / "apt-get.log")
    if reason:
        slurm_report.append(f"skipped: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("cluster")
    cluster = OneNodeCluster(root)
    # A test run ended with SIGTERM (a CI time-out) unwinds like Ctrl-C, so the daemons are still stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        cluster.start()
        slurm_report.append(cluster.describe())
        yield cluster
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(root / "mysql", ignore_errors=True)  # the database files (tens of MB) are of no further use


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
