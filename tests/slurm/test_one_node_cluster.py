"""The cluster helper's decisions that need no cluster: when the SLURM tests skip, and why (fast, no root)."""

from __future__ import annotations

import one_node_cluster


def test_without_root_the_packages_are_not_installed_and_the_reason_says_so(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(one_node_cluster.shutil, "which", lambda name: None)
    monkeypatch.setattr(one_node_cluster.os, "geteuid", lambda: 1000)
    calls = []
    monkeypatch.setattr(one_node_cluster.subprocess, "run", lambda *a, **k: calls.append(a))
    reason = one_node_cluster.install_packages(tmp_path / "apt.log")
    assert reason.startswith("not root") and "slurm-wlm" in reason and "sbatch" in reason
    assert calls == []


def test_an_unreachable_registry_is_a_skip_reason_with_apts_last_words(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(one_node_cluster.shutil, "which", lambda name: "/usr/bin/apt" if name == "apt-get" else None)
    monkeypatch.setattr(one_node_cluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(one_node_cluster, "POLICY_RC", tmp_path / "policy-rc.d")  # never /usr/sbin
    log = tmp_path / "apt.log"
    commands = []

    def apt(command, stdout, **kwargs):
        commands.append(command[:2])
        assert "exit 101" in (tmp_path / "policy-rc.d").read_text()  # no package starts a daemon meanwhile
        stdout.write("E: Failed to fetch http://deb.debian.org/debian  Could not resolve host\n")
        return one_node_cluster.subprocess.CompletedProcess(command, 100)

    monkeypatch.setattr(one_node_cluster.subprocess, "run", apt)
    reason = one_node_cluster.install_packages(log)
    assert commands == [["apt-get", "install"], ["apt-get", "update"], ["apt-get", "install"]]
    assert "could not install" in reason and "Could not resolve host" in reason
    assert not (tmp_path / "policy-rc.d").exists()  # the temporary policy is gone again
