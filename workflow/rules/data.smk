# Data: the HDF5 files training reads. Only the rule of the configured data.source is ever needed.
# Both run on the submitting machine under SLURM (compute nodes often have no internet).

localrules:
    data_shd,
    data_synthetic,


rule data_shd:
    output:
        train=study.data_files(config["data"]["root"], "shd")["train"],
        test=study.data_files(config["data"]["root"], "shd")["test"],
    params:
        root=dir_of_output,
    log:
        f"{LOGS}/data/shd.log",
    threads: rule_threads("data")
    resources:
        **rule_resources("data"),
    conda:
        ENV
    shell:
        "spacetime-snn data shd --root {params.root} > {log} 2>&1"


rule data_synthetic:
    output:
        train=study.data_files(config["data"]["root"], "synthetic")["train"],
        test=study.data_files(config["data"]["root"], "synthetic")["test"],
    params:
        out_dir=dir_of_output,
        options=command_line(study.synthetic_options(config)),
    log:
        f"{LOGS}/data/synthetic.log",
    threads: rule_threads("data")
    resources:
        **rule_resources("data"),
    conda:
        ENV
    shell:
        "spacetime-snn data synthetic --out {params.out_dir} {params.options} > {log} 2>&1"
