# Data: the HDF5 files training reads. Only the rule of the configured data.source is ever needed.
# data_shd and data_synthetic run on the submitting machine under SLURM (compute nodes often have no internet);
# data_spoken needs no internet but hours of CPU at full size, so it is a job like training.

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
    benchmark:
        f"{RESULTS}/benchmarks/data/shd.tsv"
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
    benchmark:
        f"{RESULTS}/benchmarks/data/synthetic.tsv"
    threads: rule_threads("data")
    resources:
        **rule_resources("data"),
    conda:
        ENV
    shell:
        "spacetime-snn data synthetic --out {params.out_dir} {params.options} > {log} 2>&1"


rule data_spoken:
    output:
        train=study.data_files(config["data"]["root"], "spoken")["train"],
        test=study.data_files(config["data"]["root"], "spoken")["test"],
    params:
        out_dir=dir_of_output,
        options=command_line(study.spoken_options(config)),
    log:
        f"{LOGS}/data/spoken.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/spoken.tsv"
    threads: rule_threads("data")
    resources:
        **rule_resources("data"),
    conda:
        ENV
    shell:
        "spacetime-snn data spoken --out {params.out_dir} --threads {threads} {params.options} > {log} 2>&1"
