"""The whole workflow on configs/ci.yaml: data -> training -> pruning / metrics / maps -> aggregates -> figures and
Table 1, really executed (a few minutes on 2 cores). Skipped while `spacetime-snn` lacks a command it needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from spacetime_snn import study
from workflow_helpers import (REPO, grid, load_config, run_snakemake, snakemake_without_test_extra,
                              modules_only_the_test_extra_brings)

COMMANDS = ("data", "train", "prune", "metrics", "inputmaps", "networkdata", "aggregate", "figure", "table",
            "claims", "results-page", "publish-results")
IDENTIFIERS = ["study", "condition", "hidden", "seed"]


def missing_commands() -> list[str]:
    """The sub-commands the workflow calls that `spacetime-snn --help` does not list (all, if it fails)."""
    executable = shutil.which("spacetime-snn")
    if executable is None:
        return list(COMMANDS)
    probe = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=120)
    listed = re.search(r"\{([\w,-]+)\}", probe.stdout) if probe.returncode == 0 else None
    available = set(listed.group(1).split(",")) if listed else set()
    return [command for command in COMMANDS if command not in available]


MISSING = missing_commands()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"spacetime-snn lacks {', '.join(MISSING)}")


@pytest.fixture(scope="module")
def ci_run(local_ci_study) -> tuple[Path, dict, subprocess.CompletedProcess]:
    """`snakemake --cores 2 --configfile configs/ci.yaml`, run once per session (tests/conftest.py)."""
    return local_ci_study.workdir, load_config("configs/ci.yaml"), local_ci_study.result


def failure_report(workdir: Path, result: subprocess.CompletedProcess) -> str:
    """Snakemake's last lines plus the end of every job log that mentions an error."""
    logs = [f"--- {path.relative_to(workdir)}\n{path.read_text()[-1500:]}"
            for path in sorted((workdir / "results" / "ci" / "logs").rglob("*.log"))
            if "error" in path.read_text().lower()]
    return "\n".join([result.stdout[-3000:], *logs[:5]])


def runs(frame: pd.DataFrame) -> set[tuple[str, int, int]]:
    return {(c, int(h), int(s)) for c, h, s in frame[["condition", "hidden", "seed"]].drop_duplicates().values}


def test_the_ci_study_completes(ci_run) -> None:
    workdir, config, result = ci_run
    assert result.returncode == 0, failure_report(workdir, result)
    for target in study.final_targets(config):
        path = workdir / target
        assert path.is_file() and path.stat().st_size > 0, target
    again = run_snakemake(workdir, "-n", "--configfile", "configs/ci.yaml")
    assert "Nothing to be done" in again.stdout, again.stdout[-3000:]


def test_aggregated_tables_hold_one_block_per_run(ci_run) -> None:
    workdir, config, result = ci_run
    assert result.returncode == 0
    aggregated = workdir / "results" / "ci" / "aggregated"
    main = grid(config, "main")
    accuracy = pd.read_csv(aggregated / "accuracy.csv")
    assert set(IDENTIFIERS) <= set(accuracy.columns) and set(accuracy["study"]) == {"ci"}
    assert len(accuracy) == len(main | grid(config, "architecture")) == 8
    assert accuracy["test_accuracy"].between(0, 1).all()
    for table in ("training_dynamics", "final_metrics", "control_metrics", "delay_histogram", "pruned_graph",
                  "pruning"):
        frame = pd.read_csv(aggregated / f"{table}.csv")
        assert set(IDENTIFIERS) <= set(frame.columns), table
        assert runs(frame) == main, table
    pruning = pd.read_csv(aggregated / "pruning.csv")
    assert set(pruning["kind"]) == {"magnitude", "length", "random"}
    controls = pd.read_csv(aggregated / "control_metrics.csv")
    assert set(controls["network"]) == {"initial", "shuffled"}
    for table in ("delay_histogram", "pruned_graph"):
        assert set(pd.read_csv(aggregated / f"{table}.csv")["network"]) == {"trained", "initial"}, table
    assert set(pd.read_csv(aggregated / "ridge.csv")["method"]) == {"cv", "in_sample"}
    drawn = {(config["figures"]["fig2"][panel], config["main"]["hidden"], config["figures"]["seed"])
             for panel in ("without_cost", "with_cost")}
    assert runs(pd.read_csv(aggregated / "network_nodes.csv")) == drawn
    mapped = {(c, h, s) for c, h, s in main if c in config["analysis"]["inputmaps"]["conditions"]}
    assert runs(pd.read_csv(aggregated / "ridge.csv")) == mapped


def test_figures_and_table_are_written(ci_run) -> None:
    workdir, config, result = ci_run
    assert result.returncode == 0
    results = workdir / "results" / "ci"
    for fig in study.FIGURE_TABLES:
        assert (results / "figures" / f"{fig}.pdf").read_bytes().startswith(b"%PDF")
        assert (results / "figures" / f"{fig}.png").read_bytes().startswith(b"\x89PNG")
    markdown = (results / "tables" / "table1.md").read_text()
    for label in study.labels(config).values():
        assert label in markdown


def test_the_claims_report_has_a_row_per_claim_and_a_verdict_rule(ci_run) -> None:
    """configs/ci.yaml trains one seed per condition: every comparison between conditions is untestable (and the
    report says so), while effects and parameter counts are still reported."""
    workdir, config, result = ci_run
    assert result.returncode == 0
    tables = workdir / "results" / "ci" / "tables"
    claims = pd.read_csv(tables / "claims.csv")
    assert list(claims.columns)[:9] == ["claim", "comparison", "metric", "effect", "ci_low", "ci_high", "p_value",
                                        "n", "verdict"]
    assert claims["claim"].nunique() >= 15
    assert set(claims["control"]) >= {"none", "initial", "shuffled", "random", "untrained"}
    between = claims[(claims["n"] == "1 vs 1") & (claims["metric"] != "trainable_params")]
    assert len(between) > 20 and set(between["verdict"]) == {"untestable"}
    fewer = claims[claims["metric"] == "trainable_params"].iloc[0]
    assert fewer["verdict"] == "holds" and fewer["effect"] < 0
    markdown = (tables / "claims.md").read_text()
    assert "**Verdict rule.**" in markdown and "untestable" in markdown
    table1 = pd.read_csv(tables / "table1.csv")
    assert {"test_accuracy_ci_low_pct", "test_accuracy_ci_high_pct", "n_seeds"} <= set(table1.columns)


def test_the_results_page_is_rendered_from_the_study_and_can_be_published(ci_run, tmp_path) -> None:
    workdir, config, result = ci_run
    assert result.returncode == 0
    results = workdir / "results" / "ci"
    page = (results / "results.md").read_text()
    assert page.startswith("# Results of study `ci`")
    assert re.search(r"- \*\*Commit:\*\* ([0-9a-f]{40}|unknown)", page)
    assert (results / "tables" / "table1.md").read_text().strip() in page
    claims = pd.read_csv(results / "tables" / "claims.csv")
    assert all(claim in page for claim in claims["claim"].unique())
    for fig in study.FIGURE_TABLES:
        assert f"](figures/{fig}.png)" in page
    runs_trained = len(study.all_runs(config))
    assert re.search(rf"^\| train \| {runs_trained} \| ", page, re.M)  # every run's own clock
    assert re.search(r"^\| metrics \| 3 \| .* \| benchmark files \|$", page, re.M)
    assert len(list((results / "benchmarks" / "train").rglob("*.tsv"))) == runs_trained
    label = re.escape(study.labels(config)["spatial_cost"])
    assert re.search(rf"^\| {label} \| 8 \| \d+\.\d % \| \d+\.\d % \| \d+\.\d % \| 1 \|", page, re.M)
    accuracy = pd.read_csv(results / "aggregated" / "accuracy.csv")
    assert accuracy["loss_above_first_epoch"].notna().all() and accuracy["train_seconds"].gt(0).all()
    published = subprocess.run(["spacetime-snn", "publish-results", "--page", str(results / "results.md"), "--to",
                                str(tmp_path / "docs")], capture_output=True, text=True, timeout=120)
    assert published.returncode == 0, published.stderr
    assert (tmp_path / "docs" / "results.md").read_text() == page
    assert (tmp_path / "docs" / "figures" / "fig2.png").read_bytes() == (results / "figures" / "fig2.png").read_bytes()


def test_the_run_ends_saying_where_the_results_are(ci_run) -> None:
    workdir, config, result = ci_run
    assert result.returncode == 0
    summary = result.stdout[result.stdout.rindex("Study 'ci': results in results/ci/"):]
    assert "  figures:  results/ci/figures/fig1.pdf, results/ci/figures/fig2.pdf, results/ci/figures/fig3.pdf, " \
           "results/ci/figures/fig4.pdf (a PNG beside each)" in summary
    assert "  Table 1:  results/ci/tables/table1.md (and table1.csv)" in summary
    assert "  HTML report with the captions: `snakemake --report results/ci/report.html " \
           "--configfile=configs/ci.yaml` writes results/ci/report.html" in summary


def test_the_report_holds_figures_and_table(ci_run) -> None:
    """Made by the command the run's last lines give, in an environment without the test extra's packages (pytest
    brings pygments, which Snakemake's report needs: a user who installed only the package must be able to run
    it)."""
    workdir, config, result = ci_run
    assert result.returncode == 0
    command = re.search(r"HTML report with the captions: `snakemake ([^`]+)`", result.stdout).group(1).split()
    blocked = modules_only_the_test_extra_brings()
    assert {"pytest", "snntorch"} <= blocked, blocked
    report = subprocess.run([*snakemake_without_test_extra(blocked), *command, "--directory", str(workdir)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert report.returncode == 0, report.stdout[-3000:]
    html = (workdir / "results" / "ci" / "report.html").read_text()
    assert all(f"{fig}.png" in html for fig in study.FIGURE_TABLES) and "table1.csv" in html
    assert "claims.csv" in html and "Which claims hold" in html


def test_training_keeps_its_checkpoint_for_resuming(ci_run) -> None:
    workdir, config, result = ci_run
    assert result.returncode == 0
    run = study.run_dir(config, "spatial", config["main"]["hidden"], config["main"]["seeds"][0])
    assert (workdir / run / "checkpoint.pt").is_file()
    assert (workdir / run / "settings.json").is_file()


def test_a_rerun_resumes_from_the_kept_checkpoint(ci_run) -> None:
    """Snakemake removes a job's declared outputs before re-running it; the checkpoint is not one of them."""
    workdir, config, result = ci_run
    assert result.returncode == 0
    run = workdir / study.run_dir(config, "spatial", config["main"]["hidden"], config["main"]["seeds"][0])
    (run / "summary.json").unlink()
    rerun = run_snakemake(workdir, f"{run.relative_to(workdir)}/summary.json", "--cores", "1",
                          "--configfile", "configs/ci.yaml")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    log = workdir / "results" / "ci" / "logs" / "train" / "spatial" / f"h{config['main']['hidden']}" / "s0.log"
    assert "resumed" in log.read_text()
    assert (run / "summary.json").is_file()
