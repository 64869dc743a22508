"""What the workflow tells the user (spacetime_snn.study): which --configfile selects a study, the message for a
target of another study, and the summary a successful run ends with."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacetime_snn import study

from workflow_helpers import REPO, load_config


@pytest.fixture
def repo(tmp_path) -> Path:
    (tmp_path / "configs").mkdir()
    (tmp_path / "config.yaml").write_text("study: shd\n")
    (tmp_path / "configs" / "demo.yaml").write_text("study: demo\n")
    (tmp_path / "configs" / "broken.yaml").write_text("study: [unclosed\n")
    return tmp_path


def test_the_config_file_of_a_study_is_found_by_its_study_name(repo):
    assert study.study_config_files("demo", repo) == [Path("configs/demo.yaml")]
    assert study.configfile_option("demo", repo) == " --configfile=configs/demo.yaml"
    assert study.configfile_option("shd", repo) == ""  # config.yaml's own study needs no option
    assert study.configfile_option("other", repo) == " --configfile=<the config file that sets study: other>"
    assert study.configfile_option(None, repo) == " --configfile=<the config file of this study>"


def test_the_repository_configs_declare_the_studies_the_readme_names():
    assert study.configfile_option("demo", REPO) == " --configfile=configs/demo.yaml"
    assert study.configfile_option("shd", REPO) == ""


def test_config_files_are_given_back_as_a_user_types_them(repo):
    assert study.configfile_arguments([repo / "configs" / "demo.yaml"], repo) == ["--configfile=configs/demo.yaml"]
    assert study.configfile_arguments(["a.yaml", "/elsewhere/b.yaml"], repo) == ["--configfile", "a.yaml",
                                                                                 "/elsewhere/b.yaml"]
    assert study.configfile_arguments([], repo) == []


def test_a_target_of_another_study_gets_the_command_that_builds_it(repo):
    message = study.wrong_study_message("results/demo/figures/fig3.pdf", "demo", {"study": "shd"}, repo)
    assert message.startswith("results/demo/figures/fig3.pdf belongs to study 'demo', but the config of this "
                              "command is study 'shd' (its results go to results/shd/). Fix: `snakemake --cores 2 "
                              "--configfile=configs/demo.yaml results/demo/figures/fig3.pdf`.")


def test_a_finished_run_says_where_its_results_are(tmp_path):
    config = load_config("configs/demo.yaml")
    partial = study.finished_message(config, [REPO / "configs" / "demo.yaml"], workdir=tmp_path, repo=REPO)
    assert partial.splitlines()[0] == "Study 'demo': results in results/demo/"
    assert "figures:" not in partial and "Table 1:" not in partial and "results page" not in partial
    assert "HTML report: once every figure and Table 1 exist, `snakemake --report results/demo/report.html " \
           "--configfile=configs/demo.yaml`" in partial
    for target in study.final_targets(config):
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).touch()
    done = study.finished_message(config, [REPO / "configs" / "demo.yaml"], workdir=tmp_path, repo=REPO)
    assert "  figures:  results/demo/figures/fig1.pdf, results/demo/figures/fig2.pdf, results/demo/figures/fig3.pdf, " \
           "results/demo/figures/fig4.pdf (a PNG beside each)" in done
    assert "  Table 1:  results/demo/tables/table1.md (and table1.csv)" in done
    assert "  results page: results/demo/results.md" in done
    assert "  HTML report with the captions: `snakemake --report results/demo/report.html " \
           "--configfile=configs/demo.yaml` writes results/demo/report.html" in done


def test_start_up_warnings_name_the_conditions_once_per_warning():
    config = load_config("configs/demo.yaml")
    assert study.config_warnings(config) == []
    config["data"]["dt_ms"] = 0.1
    config["model"]["scale_input"] = False
    warnings = study.config_warnings(config)
    assert len(warnings) == 2
    assert warnings[0].startswith("condition(s) synaptic, spatial, spatial_cost, spatial2d, spatial3d, spatial4d, "
                                  "nonspatial, axonal, none: data.dt_ms = 0.1 with model.scale_input: false")
    assert "none" not in warnings[1].split(":")[0]  # delays in steps: not a concern without delays
