"""A one-node SLURM cluster with accounting, started in a scratch directory for the slurm tests.

The daemons a real cluster runs (munged, MariaDB, slurmdbd, slurmctld, slurmd) are started in the foreground as
child processes of the test, with every config, socket, spool, state, database and log file inside `root`,
on free TCP ports, so nothing is written to /etc or /var and nothing clashes with another cluster on the
machine. `stop()` cancels the jobs left in the queue and ends each daemon by the pid it was started with.
Clients (sbatch, sacct, squeue, and the jobs themselves) find this cluster through SLURM_CONF (`env()`).

Accounting is not optional: snakemake-executor-plugin-slurm follows its jobs with `sacct`, and without
slurmdbd a finished job is never reported as finished.

Packages: Debian's slurm-wlm, slurmdbd, munge and mariadb-server (`install_packages`), installed as root with
apt-get; the caller skips with the returned reason where that is impossible.
(A plain module, not conftest.py: other test folders have their own conftest modules.)
"""

from __future__ import annotations

import getpass
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("slurm-wlm", "slurmdbd", "munge", "mariadb-server")
BINARIES = ("sbatch", "srun", "sacct", "sacctmgr", "squeue", "sinfo", "scancel", "slurmctld", "slurmd", "slurmdbd",
            "munged", "munge", "unmunge", "mariadbd", "mariadb-install-db")
CLUSTER = "spacetime"
PARTITION = "ci"            # the partition the tests' config names; not the default one, so a job found in it
DEFAULT_PARTITION = "other"  # proves that `-p` came from the config
ACCOUNT = "ci"
POLICY_RC = Path("/usr/sbin/policy-rc.d")  # Debian's hook that lets package scripts start services, or not


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def install_packages(log: Path) -> str | None:
    """Install what is missing with apt-get; return why not (a skip reason), or None when all is there.

    Debian's packages start their services on installation unless /usr/sbin/policy-rc.d forbids it; one that
    forbids it is put in place for the install (and removed again) so that no daemon runs that the tests did
    not start themselves."""
    if not missing_binaries():
        return None
    if os.geteuid() != 0:
        return f"not root: cannot install {', '.join(PACKAGES)} with apt-get (missing: {', '.join(missing_binaries())})"
    if shutil.which("apt-get") is None:
        return f"no apt-get on this machine to install {', '.join(PACKAGES)}"
    policy = POLICY_RC
    added_policy = not policy.exists()
    if added_policy:
        policy.write_text("#!/bin/sh\n# written by the spacetime slurm tests during apt-get install\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    try:
        with log.open("a") as out:
            result = subprocess.run(install, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900)
            if result.returncode != 0:  # stale or empty package lists: update them once and try again
                subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=subprocess.STDOUT, env=env,
                               timeout=600)
                result = subprocess.run(install, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900)
    except subprocess.TimeoutExpired:
        return f"apt-get timed out installing {', '.join(PACKAGES)} (log: {log})"
    finally:
        if added_policy:
            policy.unlink(missing_ok=True)
    if result.returncode != 0 or missing_binaries():
        tail = " | ".join(log.read_text().strip().splitlines()[-3:])
        return f"apt-get could not install {', '.join(PACKAGES)} (package registry unreachable?): {tail}"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen
    log: Path


class OneNodeCluster:
    """One node with every CPU and 90 % of the memory, partitions `ci` and `other` (the default), accounting
    in a private MariaDB, an account `ci` for the current user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.daemons: list[Daemon] = []
        self.conf = root / "etc" / "slurm.conf"
        self.munge_socket = root / "munge" / "munge.socket"
        self.ports = {name: free_port() for name in ("mysql", "slurmdbd", "slurmctld", "slurmd")}
        self.node = ""

    # ---- clients ----
    def env(self) -> dict[str, str]:
        """The environment of every client command (and of the jobs, which sbatch --export=ALL passes on).

        PATH starts with a directory whose `srun` execs the real one with SLURM_CONF set: inside a job,
        snakemake-executor-plugin-slurm-jobstep starts the rule with `srun` after removing every SLURM_*
        variable but the job's ids, so SLURM_CONF, this cluster's only way to its config, would be lost. (A real
        cluster's nodes read /etc/slurm/slurm.conf or get it from slurmctld, "configless"; this one writes
        nothing outside its directory.)"""
        return {**os.environ, "SLURM_CONF": str(self.conf),
                "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(self, *command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env(), capture_output=True, text=True, check=check,
                              timeout=timeout)

    def sacct(self, fields: tuple[str, ...]) -> list[dict[str, str]]:
        """One dict per job allocation (no steps) of every user, since the cluster started."""
        out = self.run("sacct", "-X", "-a", "--parsable2", "--noheader", "--starttime", "2000-01-01",
                       "--format", ",".join(fields)).stdout
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]

    # ---- life cycle ----
    def start(self) -> None:
        began = time.monotonic()
        for sub in ("bin", "etc", "munge", "mysql", "state", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        srun = self.root / "bin" / "srun"
        srun.write_text(f"#!/bin/sh\nSLURM_CONF={shlex.quote(str(self.conf))} exec {shutil.which('srun')} \"$@\"\n")
        srun.chmod(0o700)
        self._write_slurm_conf()  # the clients (sacctmgr too) need it from the start
        self._start_munge()
        self._start_mariadb()
        self._start_slurmdbd()
        self._register_accounts()
        self._start("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait(lambda: self.run("scontrol", "ping", check=False).stdout.count("UP") > 0, "slurmctld")
        self._start("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.node])
        self._wait(self._node_idle, "the node to become idle")
        self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Cancel what is still queued or running, then end each daemon (newest first) by its pid."""
        if any(d.name == "slurmctld" and d.process.poll() is None for d in self.daemons):
            self.run("scancel", "--full", "--user", getpass.getuser(), check=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.run("squeue", "-h", check=False).stdout.strip():
                time.sleep(1)
        for daemon in reversed(self.daemons):
            if daemon.process.poll() is None:
                os.kill(daemon.process.pid, signal.SIGTERM)
                try:
                    daemon.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.kill(daemon.process.pid, signal.SIGKILL)
                    daemon.process.wait(timeout=30)
        self.daemons.clear()

    def describe(self) -> str:
        """One line: versions, the node, the partitions, how long the start took."""
        version = self.run("sinfo", "--version").stdout.strip()
        node = self.run("scontrol", "show", "node", self.node).stdout
        cpus = next(item for item in node.split() if item.startswith("CPUTot="))
        memory = next(item for item in node.split() if item.startswith("RealMemory="))
        return (f"cluster: {version}, node {self.node} ({cpus}, {memory} MB), partitions {PARTITION} and "
                f"{DEFAULT_PARTITION} (default), accounting slurmdbd + MariaDB; started in {self.start_seconds:.0f} s")

    def logs(self) -> str:
        """The last lines of every daemon's log (for failure messages)."""
        parts = []
        for daemon in self.daemons:
            text = daemon.log.read_text(errors="replace") if daemon.log.exists() else ""
            parts.append(f"--- {daemon.name} ({daemon.log})\n" + "\n".join(text.splitlines()[-15:]))
        return "\n".join(parts)

    # ---- the daemons ----
    def _start(self, name: str, command: list[str]) -> Daemon:
        """Start a daemon in the foreground, as a child in a session of its own (a Ctrl-C meant for pytest does
        not reach it, so that `stop` can still cancel jobs through slurmctld and end the daemons in order)."""
        log = self.root / "log" / f"{name}.out"
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env(),
                                       start_new_session=True)
        daemon = Daemon(name, process, log)
        self.daemons.append(daemon)
        return daemon

    def _wait(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [d.name for d in self.daemons if d.process.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}\n{self.logs()}")
            try:
                if ready():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        munge = self.root / "munge"
        self._start("munged", ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                               f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}",
                               f"--seed-file={munge / 'munged.seed'}", f"--log-file={munge / 'munged.log'}"])

        def credential_round_trip() -> bool:
            token = subprocess.run(["munge", "-n", "-S", str(self.munge_socket)], capture_output=True,
                                   timeout=10)
            decoded = subprocess.run(["unmunge", "-S", str(self.munge_socket)], input=token.stdout,
                                     capture_output=True, timeout=10)
            return token.returncode == 0 and decoded.returncode == 0

        self._wait(credential_round_trip, "munged")

    def _start_mariadb(self) -> None:
        data = self.root / "mysql"
        self.db_password = secrets.token_hex(16)
        install = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                                  "--auth-root-authentication-method=normal", "--skip-test-db",
                                  "--innodb-log-file-size=16M"],
                                 capture_output=True, text=True, timeout=300)
        if install.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout[-2000:]}{install.stderr[-2000:]}")
        init = self.root / "etc" / "mysql-init.sql"
        init.write_text(f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{self.db_password}';\n"
                        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';\n")
        init.chmod(0o600)
        self._start("mariadbd", ["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
                                 f"--socket={self.root / 'run' / 'mysql.sock'}", f"--port={self.ports['mysql']}",
                                 "--bind-address=127.0.0.1", "--skip-name-resolve", f"--init-file={init}",
                                 f"--pid-file={self.root / 'run' / 'mysql.pid'}", "--innodb-buffer-pool-size=512M",
                                 "--innodb-lock-wait-timeout=900",
                                 "--innodb-log-file-size=16M",
                                 f"--log-error={self.root / 'log' / 'mariadb.log'}"])

        def accepts_connections() -> bool:
            with socket.create_connection(("127.0.0.1", self.ports["mysql"]), timeout=1):
                return True

        self._wait(accepts_connections, "MariaDB")

    def _start_slurmdbd(self) -> None:
        conf = self.root / "etc" / "slurmdbd.conf"  # read from SLURM_CONF's directory
        conf.write_text("\n".join([
            "AuthType=auth/munge", f"AuthInfo=socket={self.munge_socket}",
            "DbdHost=localhost", "DbdAddr=127.0.0.1", f"DbdPort={self.ports['slurmdbd']}",
            f"SlurmUser={getpass.getuser()}", "DebugLevel=info",
            f"LogFile={self.root / 'log' / 'slurmdbd.log'}", f"PidFile={self.root / 'run' / 'slurmdbd.pid'}",
            "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1", f"StoragePort={self.ports['mysql']}",
            "StorageUser=slurm", f"StoragePass={self.db_password}", "StorageLoc=slurm_acct_db", "",
        ]))
        conf.chmod(0o600)  # slurmdbd refuses a config readable by others (it holds the password)
        self._start("slurmdbd", ["slurmdbd", "-D"])
        self._wait(lambda: self.run("sacctmgr", "-n", "list", "cluster", check=False).returncode == 0, "slurmdbd")

    def _register_accounts(self) -> None:
        self.run("sacctmgr", "-i", "add", "cluster", CLUSTER)
        self.run("sacctmgr", "-i", "add", "account", ACCOUNT, f"Cluster={CLUSTER}",
                 "Description=spacetime tests", "Organization=spacetime")
        self.run("sacctmgr", "-i", "add", "user", getpass.getuser(), f"Account={ACCOUNT}",
                 f"DefaultAccount={ACCOUNT}", f"Cluster={CLUSTER}")

    def _write_slurm_conf(self) -> None:
        # This machine's node line (CPUs, sockets, cores, threads, memory) as slurmd itself detects it.
        detected = dict(item.split("=", 1) for item in
                        subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True,
                                       timeout=60).stdout.split("\n")[0].split())
        self.node = detected["NodeName"]
        detected["RealMemory"] = str(int(int(detected["RealMemory"]) * 0.9))
        node_line = " ".join(f"{key}={value}" for key, value in detected.items() if key != "NodeName")
        root = self.root
        self.conf.write_text("\n".join([
            f"ClusterName={CLUSTER}",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={self.ports['slurmctld']}", f"SlurmdPort={self.ports['slurmd']}",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.munge_socket}",
            f"SlurmUser={getpass.getuser()}", "SlurmdUser=root",
            f"StateSaveLocation={root / 'state'}", f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}", f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}", f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info", "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2", "KillWait=5", "MailProg=/bin/true",
            "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=127.0.0.1",
            f"AccountingStoragePort={self.ports['slurmdbd']}", "AccountingStoreFlags=job_comment",
            f"AccountingStoragePass={self.munge_socket}",  # the munge socket of connections to slurmdbd
            "JobAcctGatherType=jobacct_gather/linux", "JobCompType=jobcomp/none",
            f"NodeName={self.node} NodeAddr=127.0.0.1 {node_line} State=UNKNOWN",
            f"PartitionName={DEFAULT_PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName={PARTITION} Nodes={self.node} Default=NO MaxTime=INFINITE State=UP",
            "",
        ]))

    def _node_idle(self) -> bool:
        state = self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T", check=False).stdout.split()
        return bool(state) and all(s == "idle" for s in state)
