# The study as a DAG: data -> settings -> training -> pruning / metrics / input maps / network data
#   -> aggregated CSVs -> figures and Table 1. Every rule is one call of the `spacetime-snn` CLI.
#
#   snakemake -c2 --configfile configs/demo.yaml      # the offline demo (synthetic data, results/demo/)
#   snakemake -c2                                     # the paper's study on SHD (config.yaml, results/shd/)
#   snakemake --profile slurm                         # the same on a SLURM cluster (profiles/slurm/)
#   snakemake -c2 results/shd/figures/fig3.pdf        # one figure: runs only what it draws
#   snakemake -c2 --configfile=configs/demo.yaml results/demo/figures/fig3.pdf   # "=": see the README
#   snakemake --report results/shd/report.html        # figures and Table 1 with captions and provenance

import sys
from pathlib import Path

from snakemake.utils import min_version, validate

# The study plan comes from this checkout's package, also when Snakemake runs from an environment of its own
# (e.g. with --sdm conda, where only the rules' environment, envs/spacetime.yaml, has the package installed).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from spacetime_snn import study

min_version("8.10")


configfile: Path(workflow.basedir) / "config.yaml"


# Clear messages (key, value, what is allowed) and cross-references first; then Snakemake's own validation,
# which also fills in the schema's defaults.
study.check_config(config, study.load_yaml(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
validate(config, "workflow/schemas/config.schema.yaml")
for warning in study.config_warnings(config):  # settings that are valid but probably not what was meant
    print(f"warning: {warning}", file=sys.stderr)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/results.smk"


rule all:
    input:
        study.final_targets(config),


# A target under results/<another study>/ (a forgotten --configfile, or `--configfile FILE TARGET`, where the
# option swallows TARGET) gets a message with the command that works instead of "No rule to produce".
rule other_study:
    input:
        other_study_target,
    output:
        "results/{other_study}/{path}",
    wildcard_constraints:
        path=".+",


onsuccess:
    print(study.finished_message(config, workflow.overwrite_configfiles, repo=workflow.basedir))
