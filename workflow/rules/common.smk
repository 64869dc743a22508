# Helpers the rules call: paths, run selections, settings and resources all come from spacetime_snn.study,
# so the rules stay declarations and the logic is unit-tested (tests/pipeline/test_pipeline_study.py).

import os
import shlex
import sys

from spacetime_snn import study

RESULTS = study.results_dir(config)
LOGS = f"{RESULTS}/logs"
# One run's directory as a wildcard pattern: results/<study>/runs/{condition}/h{hidden}/s{seed}
RUN = study.run_dir(config, "{condition}", "{hidden}", "{seed}")
RUN_LOG = "{condition}/h{hidden}/s{seed}.log"
DATA = study.data_files(config["data"]["root"], config["data"]["source"])
ENV = "../../envs/spacetime.yaml"


wildcard_constraints:
    other_study=f"(?!{study.regex_alternatives([config['study']])}/)[^/]+",
    condition=study.regex_alternatives(config["conditions"]),
    hidden=r"[1-9][0-9]*",
    seed=r"[0-9]+",
    table=study.regex_alternatives(study.TABLE_PRODUCER),
    fig=study.regex_alternatives(study.FIGURE_TABLES),


def run_file(name):
    """A file of one run (wildcards condition, hidden, seed)."""
    return f"{RUN}/{name}"


def analysis_file(table):
    """A per-run analysis table, concatenated later into results/<study>/aggregated/<table>.csv."""
    return f"{RUN}/analysis/{table}.csv"


def rule_resources(rule):
    """Resources of one job of `rule`: config `resources`, SLURM names from config `slurm`, a runtime that grows
    with the attempt (study.job_resources)."""
    return study.job_resources(config, rule)


def rule_threads(rule):
    return config["resources"][rule]["threads"]


def run_settings(wildcards):
    """The settings dict of the run named by the wildcards (written to settings.json)."""
    return study.run_settings(config, wildcards.condition, int(wildcards.hidden), int(wildcards.seed))


def write_run_settings(output, params, log):
    """Body of the `settings` rule: write settings.json and say so in the log."""
    study.write_settings(output[0], params.settings)
    with open(log[0], "w", encoding="utf-8") as handle:
        print(f"wrote {output[0]}", file=handle)


def run_dir_of_input(wildcards, input):
    """The run directory, derived from the run's model file among the inputs."""
    return os.path.dirname(input.model)


def dir_of_output(wildcards, output):
    """The directory the outputs are written to, derived from the first output."""
    return os.path.dirname(output[0])


def dir_of_input(wildcards, input):
    """The directory of the inputs, derived from the first input."""
    return os.path.dirname(input[0])


def aggregate_inputs(wildcards):
    """Every per-run table concatenated into results/<study>/aggregated/<table>.csv."""
    return study.table_inputs(config, wildcards.table)


def figure_inputs(wildcards):
    """The aggregated CSVs one figure draws (and nothing else)."""
    return study.figure_inputs(config, wildcards.fig)


def command_line(tokens):
    """CLI tokens as one shell-quoted string, for `{params.options}` in a shell command."""
    return shlex.join(tokens)


def figure_options(wildcards):
    """Options of `spacetime-snn figure <fig>`: labels, conditions shown, example run (study.figure_options)."""
    return command_line(study.figure_options(config, wildcards.fig))


def other_study_target(wildcards):
    """Input of `other_study`: stops Snakemake, telling which --configfile selects the study the target belongs to.
    SystemExit, not an exception: Snakemake would wrap an exception in an InputFunctionException with a traceback
    around the one line that matters."""
    target = f"results/{wildcards.other_study}/{wildcards.path}"
    print(f"error: {study.wrong_study_message(target, wildcards.other_study, config, workflow.basedir)}",
          file=sys.stderr, flush=True)
    raise SystemExit(1)

