"""The results page (figures/results_page.py): rendered from a fake results/<study> tree, published, via the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pandas as pd
import pytest

import fake_figure_data as fake
from spacetime_snn.analysis import claims as claims_module
from spacetime_snn.analysis import statistics
from spacetime_snn.errors import DataError
from spacetime_snn.figures import results_page, table1
from test_fig_commands import run

MACHINE = {"system": "Linux-test", "cpu": "Test CPU, 2 logical cores", "python": "3.11", "torch": "2.x (CUDA: none)"}
# (rule, job, seconds, CPU seconds) of the fake benchmark files; the last one belongs to a run the study dropped.
BENCHMARKS = [("metrics", "spatial/h128/s0", 30.0, 25.0), ("metrics", "spatial/h128/s1", 50.0, 45.0),
              ("figure", "fig3", 4.0, 3.5), ("train", "spatial/h128/s0", 999.0, 999.0),
              ("metrics", "dropped/h128/s0", 7000.0, 7000.0)]


def _accuracy() -> pd.DataFrame:
    """Fake accuracy.csv with the run records: run s1 of spatial_cost ended with a loss above its epoch-1 loss,
    run s2 of synaptic with its rate outside its window; one run's summary predates the training clock."""
    accuracy = fake.accuracy()
    accuracy["train_seconds"] = 100.0
    accuracy["train_cpu_seconds"] = 180.0
    accuracy["loss_above_first_epoch"] = False
    accuracy["rate_outside_window"] = False
    accuracy["delay_clamp_share_last"] = accuracy["delay_mode"].map({"spatial": 0.1, "synaptic": 0.5}).astype(float)
    accuracy["device"] = "cpu"
    accuracy["backend"] = "compiled"
    accuracy["gradient"] = "eventprop"
    accuracy["rate_last_epoch_hz"] = 12.0 + accuracy["seed"]
    first = (accuracy["condition"] == "spatial") & (accuracy["hidden"] == 128) & (accuracy["seed"] == 0)
    accuracy.loc[first, "train_seconds"] = float("nan")  # falls back to its benchmark file: 999 s
    accuracy.loc[first, "train_cpu_seconds"] = float("nan")
    accuracy = accuracy.assign(condition=accuracy["condition"].replace({"spatial_3d": "spatial_cost"}))  # renamed
    cost = (accuracy["condition"] == "spatial_cost") & (accuracy["hidden"] == 128)
    accuracy.loc[cost & (accuracy["seed"] == 1), "loss_above_first_epoch"] = True
    accuracy.loc[cost, "delay_clamp_share_last"] = [0.2, 0.3, 0.4]
    synaptic = (accuracy["condition"] == "synaptic") & (accuracy["hidden"] == 128)
    accuracy.loc[synaptic & (accuracy["seed"] == 2), "rate_outside_window"] = True
    return accuracy


def _final_metrics() -> pd.DataFrame:
    final = fake.final_metrics()
    clamp = final[final["metric"] == "delay_max"].assign(metric="delay_clamp_share", value=0.05)
    clamp.loc[clamp["condition"] == "spatial_cost", "value"] = [0.1, 0.2, 0.3]
    at_max = clamp.assign(metric="delay_clamp_max_share", value=0.0)
    at_max.loc[at_max["condition"] == "spatial_cost", "value"] = [0.1, 0.1, 0.1]
    return pd.concat([final, clamp, at_max], ignore_index=True)


@pytest.fixture(scope="module")
def results(tables, tmp_path_factory):
    """results/shd with what the page reads: aggregated tables, Table 1, the claims, figure PNGs, benchmarks."""
    root = tmp_path_factory.mktemp("results") / "shd"
    (root / "aggregated").mkdir(parents=True)
    accuracy = _accuracy()
    accuracy.to_csv(root / "aggregated" / "accuracy.csv", index=False)
    final = _final_metrics()
    final.to_csv(root / "aggregated" / "final_metrics.csv", index=False)
    table1.write_table1(table1.table1(accuracy, fake.LABELS), root / "tables" / "table1.csv",
                        root / "tables" / "table1.md")
    settings = claims_module.ClaimsSettings(hidden=128, roles=claims_module.Roles(
        architecture_spatial="spatial", architecture_non_spatial="synaptic"),
        tests=statistics.TestSettings(resamples=100, max_exact=100, permutations=100))
    tested = claims_module.evaluate_claims({**tables, "accuracy": accuracy, "final_metrics": final}, settings)
    tested.to_csv(root / "tables" / "claims.csv", index=False)
    (root / "tables" / "claims.md").write_text("# Which claims hold\n")
    (root / "figures").mkdir()
    for figure in results_page.FIGURES:
        (root / "figures" / f"{figure}.png").write_bytes(b"\x89PNG fake " + figure.encode())
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for end, (rule, job, seconds, cpu) in enumerate(BENCHMARKS):
        path = root / "benchmarks" / rule / f"{job}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{seconds}\t0:00:{int(seconds) % 60:02d}\t1\t1\t1\t1\t0\t0\t90\t{cpu}\n")
        os.utime(path, (1_000_000 + 1000 * end, 1_000_000 + 1000 * end))  # job k ends at 1e6 + 1000 k
    return root


@pytest.fixture(scope="module")
def page(results) -> str:
    return results_page.render(results, "shd", fake.LABELS, benchmarks_dir=results / "benchmarks",
                               commit="abc123", machine_info=MACHINE)


def test_the_page_names_commit_machine_and_includes_table1(page, results):
    assert page.startswith("# Results of study `shd`")
    assert "- **Commit:** abc123" in page and "- **CPU:** Test CPU, 2 logical cores" in page
    assert "- **Trained on:** cpu" in page
    assert "- **Time loops:** compiled (model.backend of the runs" in page
    assert ("- **Learning rule:** EventProp, exact event-based gradients, the authors' rule (train.gradient of the "
            "runs: eventprop)") in page
    assert (results / "tables" / "table1.md").read_text().strip() in page
    assert "Seeds (n)" in page


def test_every_claim_appears_with_both_verdicts(page, results):
    summary = claims_module.summarise(pd.read_csv(results / "tables" / "claims.csv"))
    assert len(summary) > 5
    for row in summary.itertuples(index=False):
        line = f"| {row.claim} | {row.comparison} | {row.metric} | {row.verdict} | {row.verdict_beyond_controls} |"
        assert line in page, line
    counts = summary["verdict_beyond_controls"].value_counts()
    assert f"{len(summary)} comparisons; beyond their controls: " in page
    assert all(f"{count} {verdict}" in page for verdict, count in counts.items())
    assert "[claims.md](tables/claims.md)" in page


def test_the_four_figures_are_linked(page):
    for figure in results_page.FIGURES:
        assert f"(figures/{figure}.png)" in page


def test_delays_at_the_clamp_per_condition(page):
    # spatial_cost: selected 10/20/30 % -> 20.0 ± 10.0; last epoch 20/30/40 % -> 30.0 ± 10.0; largest: 40 % (s2)
    assert "| Spatial + cost | 128 | 20.0 % ± 10.0 | 10.0 % ± 0.0 | 30.0 % ± 10.0 | 3 | 40.0 % (s2) |" in page
    assert "| Non-spatial | 128 | 5.0 % ± 0.0 | 0.0 % ± 0.0 | 50.0 % ± 0.0 | 3 | 50.0 % (s0) |" in page
    assert "| Spatial 4D | 128 | — | — | 10.0 % ± 0.0 | 3 | 10.0 % (s0) |" in page  # not in final_metrics


def test_network_metrics_per_condition(page, results):
    """Each condition's selected networks: every metric the claims are about, mean ± sd over seeds, the rate, n."""
    final = pd.read_csv(results / "aggregated" / "final_metrics.csv")
    spatial = final[(final["condition"] == "spatial") & (final["hidden"] == 128)]
    modularity = spatial.loc[spatial["metric"] == "modularity", "value"]
    median_delay = spatial.loc[spatial["metric"] == "delay_median", "value"]
    line = next(line for line in page.splitlines() if line.startswith("| Spatial | 128 |")
                and "Modularity" not in line and f"{modularity.mean():.3f} ± {modularity.std():.3f}" in line)
    assert "| 13.0 ± 1.0 | 3 |" in line  # rates 12, 13, 14 Hz over seeds 0-2
    assert (f"{median_delay.mean():.1f}" in line) == (not median_delay.empty)
    reach = spatial.loc[spatial["metric"] == "strength_weighted_delay", "value"]
    assert f"| {reach.mean():.1f} ± {reach.std():.1f} |" in line  # steps: one decimal
    header = next(line for line in page.splitlines() if line.startswith("| Condition | Hidden | Modularity Q"))
    assert "Small-worldness σ" in header and header.endswith("| Rate (Hz) | n |")
    assert r"| Longest delay | \|W\|-weighted delay | Delays at 0 |" in header  # | escaped in a cell


def test_runs_that_ended_worse_are_listed(page):
    assert "2 of " in page and "runs ended worse than they started" in page
    assert "| Spatial + cost | 128 | 1 | yes | no |" in page
    assert "| Non-spatial | 128 | 2 | no | yes |" in page


def test_time_sums_the_runs_clocks_and_the_benchmarks_of_this_study(page):
    accuracy = _accuracy()
    train_wall = accuracy["train_seconds"].sum() + 999.0  # one run from its benchmark file
    train_cpu = accuracy["train_cpu_seconds"].sum() + 999.0
    lines = {line.split(" | ")[0]: line for line in page.splitlines() if line.startswith("| ")}
    assert results_page.duration(train_wall) in lines["| train"] and results_page.duration(train_cpu) in lines["| train"]
    assert "| metrics | 2 | 0:01:20 | 0:01:10 |" in page  # the dropped run's 7000 s are not the study's
    total = train_wall + 80.0 + 4.0
    assert f"**{results_page.duration(total)}**" in page
    # first start: job 0 ends at 1e6 and ran 30 s; last end: job 3 (train) at 1e6 + 3000 -> 3030 s
    assert f"last one's end: {results_page.duration(3030.0)}" in page


def test_old_summaries_without_run_records_are_said_so(results):
    accuracy = pd.read_csv(results / "aggregated" / "accuracy.csv")
    lines = results_page.health_section(accuracy.drop(columns=["loss_above_first_epoch", "rate_outside_window"]),
                                        fake.LABELS)
    assert "(0 of" in lines[0] and "retrain them to check them" in lines[0]


def test_a_missing_figure_is_an_error_with_the_command_that_builds_it(results, tmp_path):
    copy = tmp_path / "shd"
    subprocess.run(["cp", "-r", str(results), str(copy)], check=True)
    (copy / "figures" / "fig2.png").unlink()
    with pytest.raises(DataError, match=r"fig2.png not found.*snakemake --cores 2"):
        results_page.render(copy, "shd", fake.LABELS, machine_info=MACHINE)


def test_publish_copies_the_page_and_what_it_links(results, page, tmp_path):
    results_page.write_page(page, results / "results.md")
    written = results_page.publish(results / "results.md", tmp_path / "docs" / "results" / "shd")
    published = tmp_path / "docs" / "results" / "shd"
    assert (published / "results.md").read_text() == page
    for link in results_page.linked_files(page):
        assert (published / link).read_bytes() == (results / link).read_bytes(), link
    assert {path.name for path in written} == {"results.md", "claims.md", *(f"{f}.png" for f in results_page.FIGURES)}


def test_publish_refuses_a_page_whose_links_are_missing(tmp_path):
    (tmp_path / "results.md").write_text("![Fig. 1](figures/fig1.png)\n[paper](https://arxiv.org/abs/2511.01632)\n")
    with pytest.raises(DataError, match=r"links to figures/fig1.png, which do not exist"):
        results_page.publish(tmp_path / "results.md", tmp_path / "out")


def test_the_commit_is_read_from_a_git_checkout_and_unknown_elsewhere(tmp_path):
    assert results_page.commit_of(tmp_path) == "unknown"
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "file.txt").write_text("a\n")
    subprocess.run([*git, "add", "file.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert results_page.commit_of(tmp_path) == head
    (tmp_path / "file.txt").write_text("b\n")
    assert results_page.commit_of(tmp_path) == f"{head} (with uncommitted changes)"


def test_the_machine_names_cpu_cores_and_torch():
    machine = results_page.machine()
    assert re.search(r"\d+ logical cores", machine["cpu"]) and machine["torch"]


def test_cli_renders_and_publishes(results, tmp_path):
    out = tmp_path / "shd" / "results.md"
    subprocess.run(["cp", "-r", str(results), str(tmp_path)], check=True)
    run(["results-page", "--results-dir", tmp_path / "shd", "--study", "shd", "--out", out,
         "--labels", json.dumps(fake.LABELS), "--benchmarks", tmp_path / "shd" / "benchmarks",
         "--repo", tmp_path])
    text = out.read_text()
    assert "- **Commit:** unknown" in text and "## Time" in text
    run(["publish-results", "--page", out, "--to", tmp_path / "published"])
    assert (tmp_path / "published" / "figures" / "fig4.png").is_file()
