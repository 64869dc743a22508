# Training: one job per run (condition, hidden size, seed).
#
# Resuming: checkpoint.pt (and checkpoint.prev.pt) are deliberately NOT declared outputs. Snakemake deletes the
# declared outputs of a failed or interrupted job (and before re-running it), never undeclared files, so a rerun
# of the same command resumes from the last completed epoch. The CLI must therefore write the declared outputs
# only once training has finished, keeping everything it needs to resume inside the checkpoint.
# No shadow directory and no directory() output for the same reason.
# Logs: Snakemake deletes a job's log before it reruns the job, so the rule's log holds the latest attempt only.
# The run's history is <run>/train.log, which the CLI appends to (not a declared output, so never deleted): every
# attempt starts with "attempt started", a resumed one says "resumed <run> after epoch N".


localrules:
    settings,


rule settings:
    output:
        run_file("settings.json"),
    params:
        settings=run_settings,
    log:
        f"{LOGS}/settings/{RUN_LOG}",
    run:
        write_run_settings(output, params, log)


rule train:
    input:
        settings=run_file("settings.json"),
        train=DATA["train"],
        test=DATA["test"],
    output:
        model=run_file("model.pt"),
        log_csv=run_file("log.csv"),
        snapshots=run_file("snapshots.npz"),
        summary=run_file("summary.json"),
    params:
        run_dir=dir_of_output,
    log:
        f"{LOGS}/train/{RUN_LOG}",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{condition}}/h{{hidden}}/s{{seed}}.tsv"
    threads: rule_threads("train")
    resources:
        **rule_resources("train"),
    conda:
        ENV
    shell:
        "spacetime-snn train --settings @{input.settings} --out {params.run_dir} --threads {threads} > {log} 2>&1"
