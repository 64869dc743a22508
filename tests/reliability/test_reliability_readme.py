"""Every `snakemake ...` command the README shows runs as written: each one, with `-n --quiet` appended, is a dry
run that builds its DAG and exits 0 (in a scratch working directory, so nothing is written into the checkout).

Commands are taken from fenced code blocks, indented code blocks and inline backticks, as a reader would copy them:
`a && b` and `a; b` are split, a trailing `# comment` is dropped.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from reliability_helpers import REPO, quiet_env

README = REPO / "README.md"


def shell_commands(line: str) -> list[str]:
    """The commands of one shell line: comment dropped, split at && and ;."""
    line = re.sub(r"(^|\s)#.*$", "", line).strip()
    return [part.strip() for part in re.split(r"&&|;", line) if part.strip()]


def readme_commands(text: str, program: str = "snakemake") -> list[str]:
    """The `program ...` commands of a Markdown text (those in code blocks first), each once."""
    found, in_fence, prose = [], False, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or line.startswith("    "):
            found += shell_commands(line)
        else:
            prose.append(line)
    found += [span.strip() for span in re.findall(r"`([^`\n]+)`", "\n".join(prose))]
    commands = [command for command in found if command.split()[0] == program]
    return list(dict.fromkeys(commands))


def test_the_extraction_finds_commands_in_blocks_backticks_and_chains():
    text = ("```bash\npip install -e . && snakemake --cores 2 --configfile=a.yaml  # demo\n```\n"
            "| `snakemake --profile slurm` | x |\n    snakemake -c1 t.pdf\nrun `spacetime-snn train` then\n")
    assert sorted(readme_commands(text)) == ["snakemake --cores 2 --configfile=a.yaml", "snakemake --profile slurm",
                                             "snakemake -c1 t.pdf"]


ALL_COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
# `--report` reads a finished study's results, so it has no dry run; each is checked against the command a finished
# study prints, which tests/pipeline/test_pipeline_end_to_end.py runs for real.
REPORT_COMMANDS = [command for command in ALL_COMMANDS if "--report" in command.split()]
COMMANDS = [command for command in ALL_COMMANDS if command not in REPORT_COMMANDS]
PAPER_STUDY = "snakemake --cores 8"  # its dry run's job stats: the size of the paper's study


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict[str, tuple[int, str, float]]:
    """Every README command with `-n --quiet`, started together (Snakemake's start-up is the cost)."""
    started = {}
    for index, command in enumerate(COMMANDS):
        workdir = tmp_path_factory.mktemp(f"readme-{index}")
        quiet = [] if command == PAPER_STUDY else ["--quiet"]  # its job stats (not printed with --quiet) are used
        argv = [sys.executable, "-m", *command.split(), "-n", *quiet, "--directory", str(workdir)]
        started[command] = (time.monotonic(), subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=quiet_env()))
    results = {}
    for command, (start, process) in started.items():
        output = process.communicate(timeout=300)[0]
        results[command] = (process.returncode, output, time.monotonic() - start)
    return results


def test_the_readme_shows_the_commands_a_new_user_needs():
    assert "snakemake --cores 2 --configfile=configs/demo.yaml" in COMMANDS
    assert "snakemake --cores 2 --configfile=configs/demo.yaml results/demo/figures/fig3.pdf" in COMMANDS
    assert any(command.startswith("snakemake --cores 2 results/demo/") and "--configfile configs/demo.yaml" in
               command for command in COMMANDS), "the targets-first form"
    assert "snakemake --cores 2 results/shd/figures/fig3.pdf" in COMMANDS
    assert PAPER_STUDY in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_command_runs_as_written(dry_runs, command):
    code, output, seconds = dry_runs[command]
    assert code == 0, f"{command} -n --quiet failed:\n{output[-3000:]}"
    assert "Traceback" not in output and "Exception" not in output, output[-3000:]


def test_the_readme_gives_the_size_of_the_papers_study(dry_runs):
    """The numbers the cost statement rests on follow config.yaml (`snakemake --cores 8 -n`'s job stats)."""
    code, output, _ = dry_runs[PAPER_STUDY]
    assert code == 0, output[-3000:]
    table = re.search(r"^job +count\n-+ +-+\n((?:\w+ +\d+\n)+)", output, re.MULTILINE)
    assert table, output[-3000:]
    counts = {rule: int(n) for rule, n in (line.split() for line in table.group(1).splitlines()) if rule != "total"}
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert f"{sum(counts.values()):,} jobs" in text and f"{counts['train']} trainings" in text, counts


def test_what_the_report_command_needs_is_installed_with_the_package():
    """`snakemake --report` (the command every study's last lines give) imports what Snakemake's "reports" extra
    lists (pygments); `pip install -e .` must bring it, not only the test extra (pytest pulls pygments in)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pytest brings tomli
        import tomli as tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    def name(text: str) -> str:
        return re.sub(r"[-_.]+", "-", Requirement(text).name).lower()

    report_needs = {name(text) for text in metadata.requires("snakemake") or []
                    if Requirement(text).marker and Requirement(text).marker.evaluate({"extra": "reports"})
                    and not Requirement(text).marker.evaluate({"extra": ""})}
    assert "pygments" in report_needs, report_needs
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {name(text) for text in project["dependencies"]}
    snakemake_extras = {extra for text in project["dependencies"] if name(text) == "snakemake"
                        for extra in Requirement(text).extras}
    assert "reports" in snakemake_extras or report_needs <= core, report_needs - core
    conda = (REPO / "envs" / "spacetime.yaml").read_text()
    assert all(re.search(rf"^\s+- {package}\b", conda, re.MULTILINE) for package in report_needs), report_needs


def test_the_readmes_report_command_is_the_one_a_finished_study_prints(tmp_path):
    import yaml
    from snakemake.utils import update_config

    from spacetime_snn import study

    def merged_config(*files: str) -> dict:
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        for path in files:
            update_config(config, yaml.safe_load((REPO / path).read_text()))
        return config

    assert REPORT_COMMANDS, "the README shows how to build the HTML report"
    for command in REPORT_COMMANDS:
        configfiles = [word.removeprefix("--configfile=") for word in command.split()
                       if word.startswith("--configfile=")]
        message = study.finished_message(merged_config(*configfiles), configfiles, tmp_path, repo=REPO)
        assert f"`{command}`" in message, message


def test_the_readmes_spacetime_snn_commands_parse():
    """Each `spacetime-snn ...` command of the README names a sub-command and options the CLI has."""
    from spacetime_snn.cli import build_parser

    commands = [command for command in readme_commands(README.read_text(encoding="utf-8"), program="spacetime-snn")
                if len(command.split()) > 2]  # `spacetime-snn train` alone names the command in prose
    assert any(command.startswith("spacetime-snn train ") for command in commands), commands
    assert any(command.startswith("spacetime-snn data shd ") for command in commands), commands
    for command in commands:
        words = command.split()[1:]
        build_parser(words[0]).parse_args(words)  # exits (SystemExit 2) on an unknown command or option


def test_the_readmes_worked_overlay_is_the_file_it_names():
    """The Configuration section's YAML is configs/demo_claims.yaml (without comments and the keys it leaves out)."""
    import yaml

    text = README.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(study: demo_claims.*?)```", text, re.DOTALL)
    assert block, "the worked overlay"
    shown = yaml.safe_load(block.group(1))
    real = yaml.safe_load((REPO / "configs" / "demo_claims.yaml").read_text())
    assert {key: real[key] for key in shown} == shown
