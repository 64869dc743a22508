"""`snakemake --profile slurm` for real, on a one-node SLURM cluster with accounting (one_node_cluster.py).

1. The CI study (configs/ci.yaml) goes through sbatch: every job that is not a localrule has a job id in sacct,
   COMPLETED, with the partition, account, memory, time limit and CPUs of the config.
2. Its results equal those of the local run of the same config (tests/conftest.py, `local_ci_study`).
3. A training job whose time limit (1 minute, SLURM's least) is too short is killed by SLURM (TIMEOUT), submitted
   again by the profile's retry with a longer limit (runtime x attempt, study.attempt_runtime), resumes from its
   checkpoint ("resumed ... after epoch N" in its log) and ends with the parameters of an uninterrupted run.

What the cluster did is printed at the end of pytest's output (conftest.py). The runs use the user-facing profile,
profiles/slurm, with two changes on the command line: the plugin's first status check is brought forward (its
default waits 40 s), and the resume run may retry 3 times (the profile: once) in case the machine is loaded.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from snakemake.utils import update_config

from one_node_cluster import ACCOUNT, PARTITION
from spacetime_snn import study

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CLUSTER_NAMES = {"slurm": {"cpu_partition": PARTITION, "gpu_partition": PARTITION, "account": ACCOUNT}}
# The plugin checks job states after this many seconds, then 10 s later for every check that found nothing new.
FIRST_STATUS_CHECK = ("--slurm-init-seconds-before-status-checks", "2")
SACCT_FIELDS = ("JobID", "Comment", "State", "Partition", "Account", "ReqMem", "Timelimit", "ReqCPUS", "Elapsed",
                "SubmitLine")
# Rules whose resources come from another key of config `resources`.
RESOURCE_KEY = {"aggregate_accuracy": "aggregate", "data_synthetic": "data", "data_shd": "data"}

# The resume run: one training that lasts ~100 s on this machine (alone; longer beside the uninterrupted local run), so that SLURM, which checks time limits every
# 30 s, kills its first attempt (1 minute, SLURM's least) 60-95 s after it started, after some checkpoints, and
# the first retry (2 minutes) can finish it. Its epochs are set from the seconds per epoch of a 2-epoch local run
# of the same training (the machine may be idle, as in CI, or shared); retries 2 and 3 (3, 4 minutes) are for a
# load that grows meanwhile.
RESUME_TRAINING_SECONDS = 100
RESUME_RUN = ("spatial", 64, 0)
RESUME_CONFIG = {
    "study": "resume",
    "data": {"root": "resources/synthetic/resume", "synthetic": {"seed": 0, "num_train": 2400, "num_test": 300}},
    "main": {"conditions": ["spatial", "spatial_cost"], "hidden": 64, "seeds": [0]},
    "architecture": {"conditions": ["spatial"], "hidden": [64], "seeds": [0]},
    "resources": {"train": {"threads": 1, "mem_mb": 2000, "runtime": 1, "gpu": 0}},
}
RESUME_RETRIES = ("--retries", "3")


@dataclass
class StudyRun:
    """One finished `snakemake` run (same fields as tests/conftest.py's)."""

    workdir: Path
    result: subprocess.CompletedProcess
    seconds: float


class Snakemake:
    """`snakemake ARGS` started in the repository root, working in `workdir`, in a process group of its own so
    that a run over its time can be ended with everything it started locally. Its wall-clock time is taken
    when it exits (a thread waits for it), also while another run is being waited for."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str]) -> None:
        self.workdir = workdir
        self.out = (workdir / "snakemake.out").open("w+")
        self.start = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)],
                                        cwd=REPO, env=env, stdout=self.out, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.seconds = float("nan")
        self.waiter = threading.Thread(target=self._time, daemon=True)
        self.waiter.start()

    def kill(self) -> None:
        """End the run and what it started locally, if it is still running."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.waiter.join()

    def _time(self) -> None:
        self.process.wait()
        self.seconds = time.perf_counter() - self.start

    def finish(self, timeout: float) -> StudyRun:
        try:
            self.waiter.join(timeout=max(0.0, timeout - (time.perf_counter() - self.start)))
        finally:
            self.kill()  # over its time, or the test run was interrupted
        self.out.seek(0)
        output = self.out.read()
        self.out.close()
        return StudyRun(self.workdir, subprocess.CompletedProcess(self.process.args, self.process.returncode,
                                                                  output), self.seconds)


def study_config(*overrides: dict) -> dict:
    """config.yaml with configs/ci.yaml and `overrides` merged over it, as snakemake --configfile does."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for override in (yaml.safe_load((REPO / "configs" / "ci.yaml").read_text()), *overrides):
        update_config(config, override)
    return study.check_config(config, study.load_yaml(SCHEMA))


def write_yaml(path: Path, content: dict) -> str:
    path.write_text(yaml.safe_dump(content))
    return str(path)


def submitted_job_ids(output: str) -> list[str]:
    """The SLURM job ids Snakemake reported ("Job 3 has been submitted with SLURM jobid 12 (log: ...)")."""
    return re.findall(r"has been submitted with SLURM jobid (\d+)", output)


def local_rules(output: str) -> set[str]:
    return set(re.findall(r"^localrule (\w+):$", output, flags=re.MULTILINE))


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table: {rule: jobs}."""
    block = output[output.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in block:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def rule_of(comment: str) -> tuple[str, str]:
    """(rule, wildcards) from the job comment the plugin sets: rule_<rule>_wildcards_<values joined by _>."""
    match = re.fullmatch(r"rule_(.+?)(?:_wildcards_(.*))?", comment)
    assert match, f"unexpected job comment {comment!r}"
    return match.group(1), match.group(2) or ""


def cluster_jobs(cluster, run: StudyRun) -> list[dict[str, str]]:
    """The sacct record of every job this run submitted, in submission order."""
    ids = submitted_job_ids(run.result.stdout)
    records = {row["JobID"]: row for row in cluster.sacct(SACCT_FIELDS)}
    missing = [job for job in ids if job not in records]
    assert not missing, f"submitted jobs without a sacct record: {missing}"
    return [records[job] for job in ids]


def hms(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def sbatch_resources(submit_line: str) -> str:
    """The sbatch options of a submission, without the job's name, log, comment and command."""
    options = submit_line.split(" --wrap")[0]
    return re.sub(r" --(job-name|output|comment) \S+", "", options)


def job_table(jobs: list[dict[str, str]]) -> list[str]:
    header = f"  {'JobID':>5}  {'rule':<10} {'wildcards':<16} {'State':<10} {'Partition':<9} {'Account':<7} " \
             f"{'ReqMem':>6} {'Timelimit':>9} {'CPUs':>4} {'Elapsed':>8}"
    lines = [header]
    for job in jobs:
        rule, wildcards = rule_of(job["Comment"])
        lines.append(f"  {job['JobID']:>5}  {rule:<10} {wildcards:<16} {job['State']:<10} {job['Partition']:<9} "
                     f"{job['Account']:<7} {job['ReqMem']:>6} {job['Timelimit']:>9} {job['ReqCPUS']:>4} "
                     f"{job['Elapsed']:>8}")
    return lines


def failure(run: StudyRun, cluster) -> str:
    return f"{run.result.stdout[-4000:]}\n{cluster.logs()}"


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A table without its wall-clock columns (seconds per epoch differ between any two runs)."""
    return frame.drop(columns=[c for c in frame.columns if "seconds" in c])


def same_parameters(a: Path, b: Path) -> int:
    """Assert two model.pt files hold identical parameters; return how many tensors were compared."""
    first = torch.load(a, map_location="cpu", weights_only=False)["state_dict"]
    second = torch.load(b, map_location="cpu", weights_only=False)["state_dict"]
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), f"{a} and {b} differ in {name}"
    return len(first)


# ---- the runs ----

@pytest.fixture(scope="module")
def slurm_ci_study(cluster, tmp_path_factory) -> StudyRun:
    workdir = tmp_path_factory.mktemp("slurm-ci")
    names = write_yaml(workdir / "cluster.yaml", CLUSTER_NAMES)
    args = ["--profile", "slurm", "--configfile", "configs/ci.yaml", names, *FIRST_STATUS_CHECK]
    return Snakemake(workdir, args, cluster.env()).finish(timeout=1500)


def resume_epochs(workdir: Path, target: str, run: Path) -> int:
    """Epochs that make the resume run's training last ~RESUME_TRAINING_SECONDS here (from a 2-epoch run)."""
    config = write_yaml(workdir / "calibration.yaml", {**RESUME_CONFIG, "train": {"epochs": 2, "patience": 2}})
    calibration = Snakemake(workdir, [target, "--cores", "1", "--configfile", "configs/ci.yaml", config],
                            dict(os.environ)).finish(timeout=600)
    assert calibration.result.returncode == 0, calibration.result.stdout[-3000:]
    seconds = pd.read_csv(workdir / run / "log.csv")["seconds"].mean()
    return int(min(max(round(RESUME_TRAINING_SECONDS / seconds), 20), 150))


@pytest.fixture(scope="module")
def resume(cluster, tmp_path_factory) -> tuple[StudyRun, StudyRun, int]:
    """(the run on the cluster with a 1-minute first attempt, the same training locally and uninterrupted, its
    epochs)."""
    run = study.run_dir(study_config(RESUME_CONFIG), *RESUME_RUN)
    target = f"{run}/summary.json"
    epochs = resume_epochs(tmp_path_factory.mktemp("calibration"), target, Path(run))
    slurm_dir, local_dir = tmp_path_factory.mktemp("slurm-resume"), tmp_path_factory.mktemp("local-resume")
    resume_config = write_yaml(slurm_dir / "resume.yaml",
                               {**RESUME_CONFIG, "train": {"epochs": epochs, "patience": epochs}})
    names = write_yaml(slurm_dir / "cluster.yaml", CLUSTER_NAMES)
    on_cluster = Snakemake(slurm_dir, [target, "--profile", "slurm", "--configfile", "configs/ci.yaml",
                                       resume_config, names, *FIRST_STATUS_CHECK, *RESUME_RETRIES], cluster.env())
    uninterrupted = Snakemake(local_dir, [target, "--cores", "1", "--configfile", "configs/ci.yaml", resume_config],
                              dict(os.environ))
    try:
        return on_cluster.finish(timeout=1500), uninterrupted.finish(timeout=1500), epochs
    finally:
        uninterrupted.kill()


# ---- the tests ----

def test_every_cluster_job_of_the_ci_study_went_through_sbatch_with_its_resources(
        cluster, slurm_ci_study, slurm_report) -> None:
    run = slurm_ci_study
    assert run.result.returncode == 0, failure(run, cluster)
    config = study_config(CLUSTER_NAMES)
    jobs = cluster_jobs(cluster, run)
    slurm_report.append(f"CI study, snakemake --profile slurm --configfile configs/ci.yaml: {len(jobs)} SLURM jobs, "
                        f"{run.seconds:.0f} s wall-clock")
    slurm_report.extend(job_table(jobs))
    train = next(job for job in jobs if rule_of(job["Comment"])[0] == "train")
    slurm_report.append(f"sbatch of training job {train['JobID']}: {sbatch_resources(train['SubmitLine'])}")

    # Every job Snakemake ran is either a localrule or one of these SLURM jobs, and nothing ran twice.
    counts, local = job_counts(run.result.stdout), local_rules(run.result.stdout)
    submitted = collections.Counter(rule_of(job["Comment"])[0] for job in jobs)
    assert submitted == {rule: n for rule, n in counts.items() if rule not in local}
    assert {"aggregate", "aggregate_accuracy", "figure", "table", "claims"} <= local  # small jobs skip the queue
    assert submitted["train"] == len(study.all_runs(config)) and submitted["prune"] == len(study.grid_runs(config,
                                                                                                            "main"))
    slurm_report.append("run on the submitting machine (localrules): " +
                        ", ".join(f"{rule} {counts[rule]}" for rule in sorted(local)))
    for job in jobs:
        rule = rule_of(job["Comment"])[0]
        requested = config["resources"][RESOURCE_KEY.get(rule, rule)]
        assert job["State"] == "COMPLETED", job
        assert (job["Partition"], job["Account"]) == (PARTITION, ACCOUNT), job  # not the cluster's default
        assert job["ReqMem"] == f"{requested['mem_mb']}M", job
        assert job["Timelimit"] == hms(requested["runtime"]), job
        assert job["ReqCPUS"] == str(requested["threads"]), job
        for option in (f"-p {PARTITION}", f"-A {ACCOUNT}", f"-t {requested['runtime']}",
                       f"--mem {requested['mem_mb']}", f"--cpus-per-task={requested['threads']}"):
            assert f" {option} " in job["SubmitLine"], (option, job["SubmitLine"][:400])


def test_the_cluster_results_equal_a_local_run(cluster, slurm_ci_study, local_ci_study, slurm_report) -> None:
    assert slurm_ci_study.result.returncode == 0, failure(slurm_ci_study, cluster)
    assert local_ci_study.result.returncode == 0, local_ci_study.result.stdout[-3000:]
    slurm_report.append(f"wall-clock time of the CI study: {slurm_ci_study.seconds:.0f} s on the one-node cluster, "
                        f"{local_ci_study.seconds:.0f} s locally (snakemake --cores 2)")
    config = study_config()
    results = Path(study.results_dir(config))
    tables = sorted((local_ci_study.workdir / results).glob("aggregated/*.csv")) + [
        local_ci_study.workdir / results / "tables" / "table1.csv"]
    assert len(tables) == len(study.AGGREGATED_TABLES) + 1
    for local in tables:
        relative = local.relative_to(local_ci_study.workdir)
        on_cluster = pd.read_csv(slurm_ci_study.workdir / relative)
        pd.testing.assert_frame_equal(comparable(on_cluster), comparable(pd.read_csv(local)), check_exact=False,
                                      rtol=1e-9, obj=str(relative))
    markdown = results / "tables" / "table1.md"
    assert (slurm_ci_study.workdir / markdown).read_text() == (local_ci_study.workdir / markdown).read_text()
    tensors = sum(same_parameters(slurm_ci_study.workdir / study.run_dir(config, *run) / "model.pt",
                                  local_ci_study.workdir / study.run_dir(config, *run) / "model.pt")
                  for run in ((r.condition, r.hidden, r.seed) for r in study.all_runs(config)))
    for target in study.final_targets(config):
        assert (slurm_ci_study.workdir / target).stat().st_size > 0, target
    slurm_report.append(f"results equal to the local run: {len(tables) - 1} aggregated tables and Table 1, "
                        f"{tensors} parameter tensors of {len(study.all_runs(config))} trained models")


def test_a_training_killed_at_its_time_limit_resumes_and_ends_with_the_same_parameters(
        cluster, resume, slurm_report) -> None:
    on_cluster, uninterrupted, epochs = resume
    assert on_cluster.result.returncode == 0, failure(on_cluster, cluster)
    assert uninterrupted.result.returncode == 0, uninterrupted.result.stdout[-3000:]
    jobs = cluster_jobs(cluster, on_cluster)
    slurm_report.append(f"resume: one training of {epochs} epochs (set for ~{RESUME_TRAINING_SECONDS} s here) "
                        f"with a 1-minute first attempt "
                        f"({on_cluster.seconds:.0f} s wall-clock; uninterrupted locally {uninterrupted.seconds:.0f} s)")
    slurm_report.extend(job_table(jobs))
    states = [job["State"] for job in jobs]
    assert len(jobs) >= 2, (f"the training finished inside its 1-minute limit ({states}): raise "
                            f"RESUME_TRAINING_SECONDS")
    assert {rule_of(job["Comment"])[0] for job in jobs} == {"train"}
    assert states[-1] == "COMPLETED" and set(states[:-1]) == {"TIMEOUT"}, states
    assert [job["Timelimit"] for job in jobs] == [hms(attempt) for attempt in range(1, len(jobs) + 1)]
    first_log = on_cluster.workdir / "logs" / "slurm" / "rule_train" / "_".join(map(str, RESUME_RUN)) / \
        f"{jobs[0]['JobID']}.log"
    killed = [line for line in first_log.read_text().splitlines() if "DUE TO TIME LIMIT" in line]
    assert killed, first_log.read_text()[-2000:]

    run = Path(study.run_dir(study_config(RESUME_CONFIG), *RESUME_RUN))
    log = on_cluster.workdir / "results" / "resume" / "logs" / "train" / RESUME_RUN[0] / \
        f"h{RESUME_RUN[1]}" / f"s{RESUME_RUN[2]}.log"
    resumed = re.findall(rf"^resumed {re.escape(str(run))} after epoch (\d+)$", log.read_text(), flags=re.MULTILINE)
    # The last retry may find every epoch done (its predecessor killed while writing the final files).
    assert resumed and 1 <= int(resumed[-1]) <= epochs, log.read_text()[-2000:]
    # The run's own history (<run>/train.log, which Snakemake never deletes) holds every attempt: each retry
    # resumed where the attempt before it was stopped.
    history = (on_cluster.workdir / run / "train.log").read_text()
    attempts = re.findall(r"\] attempt started: ", history)
    resumes = [int(epoch) for epoch in re.findall(rf"\] resumed {re.escape(str(run))} after epoch (\d+)$", history,
                                                   flags=re.MULTILINE)]
    assert len(attempts) == len(jobs) and len(resumes) == len(jobs) - 1, history[-3000:]
    assert resumes == sorted(resumes) and resumes[-1] == int(resumed[-1]), resumes
    assert 1 <= resumes[0] < epochs, resumes  # the first retry resumed in the middle of the training
    tensors = same_parameters(on_cluster.workdir / run / "model.pt", uninterrupted.workdir / run / "model.pt")
    pd.testing.assert_frame_equal(comparable(pd.read_csv(on_cluster.workdir / run / "log.csv")),
                                  comparable(pd.read_csv(uninterrupted.workdir / run / "log.csv")))
    slurm_report.append(f"  {killed[-1].strip()}")
    slurm_report.append(f"  {run / 'train.log'}: {len(attempts)} attempts, resumed after epoch "
                        f"{', '.join(map(str, resumes))}; {log.relative_to(on_cluster.workdir)}: "
                        f"resumed {run} after epoch {resumed[-1]}")
    slurm_report.append(f"  final parameters equal to the uninterrupted run: {tensors} tensors, bit for bit; "
                        f"log.csv equal in all {epochs} epochs")
