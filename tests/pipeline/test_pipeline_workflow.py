"""The Snakemake workflow as a whole, by dry runs (fast: no job is executed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from workflow_helpers import REPO, grid, job_counts, job_resources, load_config, run_snakemake


def test_full_study_dag_trains_each_run_once(workdir: Path) -> None:
    config = load_config()
    main, architecture = grid(config, "main"), grid(config, "architecture")
    result = run_snakemake(workdir, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout)
    assert counts["train"] == len(main | architecture) == 420
    assert counts["settings"] == counts["train"]
    assert counts["prune"] == counts["metrics"] == len(main)
    assert counts["figure"] == 4 and counts["table"] == 1 and counts["data_shd"] == 1 and counts["claims"] == 1
    assert "data_synthetic" not in counts


def test_demo_and_ci_configs_build_every_target_on_synthetic_data(workdir: Path) -> None:
    for override in ("configs/demo.yaml", "configs/ci.yaml"):
        config = load_config(override)
        assert config["data"]["source"] == "synthetic" and config["study"] != "shd"
        result = run_snakemake(workdir, "-n", "--quiet", "rules", "--configfile", override)
        assert result.returncode == 0, result.stdout
        counts = job_counts(result.stdout)
        assert counts["train"] == len(grid(config, "main") | grid(config, "architecture")), override
        assert counts["data_synthetic"] == 1 and "data_shd" not in counts
        assert counts["figure"] == 4 and counts["table"] == 1 and counts["aggregate"] == 12
        assert counts["claims"] == 1


def test_spoken_config_builds_every_target_from_the_spoken_rule(workdir: Path) -> None:
    config = load_config("configs/spoken.yaml")
    assert config["data"]["source"] == "spoken" and config["data"]["spoken"]["channels"] == 700
    result = run_snakemake(workdir, "-n", "--quiet", "rules", "--configfile", "configs/spoken.yaml")
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout)
    assert counts["data_spoken"] == 1 and "data_synthetic" not in counts and "data_shd" not in counts
    assert counts["train"] == len(grid(config, "main") | grid(config, "architecture"))
    assert counts["figure"] == 4 and counts["table"] == 1


def test_lint_has_no_findings(workdir: Path) -> None:
    result = run_snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout
    assert "Congratulations, your workflow is in a good condition!" in result.stdout


def test_slurm_profile_resolves_by_name_and_training_requests_a_gpu(workdir: Path) -> None:
    assert (REPO / "slurm").resolve() == (REPO / "profiles" / "slurm").resolve()
    result = run_snakemake(workdir, "--profile", "slurm", "-n")
    assert result.returncode == 0, result.stdout
    assert re.search(r"Using profiles? slurm", result.stdout)  # "profiles slurm and workflow specific profile ..."
    jobs = job_resources(result.stdout)
    train = [resources for rule, resources in jobs if rule == "train"]
    assert len(train) == job_counts(result.stdout)["train"] > 0
    assert all(resources.get("gpu") == "1" for resources in train)
    assert not any("gpu" in resources for rule, resources in jobs if rule != "train")


def test_slurm_partitions_and_account_come_from_the_config(workdir: Path, tmp_path: Path) -> None:
    names = tmp_path / "cluster.yaml"
    names.write_text(yaml.safe_dump({"slurm": {"account": "proj42", "cpu_partition": "cpu-q",
                                               "gpu_partition": "gpu-q", "gpu_model": "a100"}}))
    result = run_snakemake(workdir, "--profile", "slurm", "-n", "--configfile", str(names))
    assert result.returncode == 0, result.stdout
    jobs = job_resources(result.stdout)
    by_rule = {rule: resources for rule, resources in jobs}
    assert by_rule["train"]["slurm_partition"] == "gpu-q" and by_rule["train"]["gpu_model"] == "a100"
    assert by_rule["train"]["slurm_account"] == "proj42"
    for rule in ("prune", "metrics", "aggregate", "figure"):
        assert by_rule[rule]["slurm_partition"] == "cpu-q", rule
        assert by_rule[rule]["slurm_account"] == "proj42", rule


def test_one_figure_runs_only_what_it_draws(workdir: Path) -> None:
    config = load_config("configs/demo.yaml")
    result = run_snakemake(workdir, "results/demo/figures/fig3.pdf", "-n", "--quiet", "rules",
                           "--configfile", "configs/demo.yaml")
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout)
    assert set(counts) == {"data_synthetic", "settings", "train", "prune", "metrics", "aggregate", "figure"}
    assert counts["train"] == len(grid(config, "main"))  # no architecture-only run (Fig. 4)
    assert counts["aggregate"] == 4 and counts["figure"] == 1  # pruning, delay_histogram, pruned_graph, final_metrics


def test_invalid_config_fails_at_start_naming_keys_and_allowed_values(workdir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "train: {lr: -0.001, lrr: 0.1}\n"
        "model: {dims: 0, max_delay_steps: 0, delay_interpolation: cubic}\n"
        "main: {seeds: []}\n"
        "conditions: {odd: {model: {delay_mode: quantum}}}\n"
    )
    result = run_snakemake(workdir, "-n", "--configfile", str(bad))
    assert result.returncode != 0
    out = result.stdout
    assert "ConfigError" in out and "invalid study config" in out
    assert "unknown key 'train.lrr' (did you mean 'lr'?)" in out
    assert "'train.lr': -0.001 is out of range; allowed: number > 0" in out
    assert "'model.dims': 0 is out of range; allowed: integer >= 1" in out
    assert "'model.max_delay_steps': 0 is out of range; allowed: integer >= 1" in out
    assert "'main.seeds': [] is too short; give at least 1 item(s)" in out
    assert "'model.delay_interpolation': 'cubic' is not allowed; allowed values: linear, round" in out
    assert ("'conditions.odd.model.delay_mode': 'quantum' is not allowed; "
            "allowed values: none, axonal, synaptic, spatial") in out
    assert "Building DAG" not in out
