# Aggregation, figures and Table 1. A figure depends only on the aggregated CSVs it draws, so
# `snakemake results/<study>/figures/fig3.pdf` trains and analyses only what Fig. 3 needs.
#
# All of these are small (seconds, one CPU) and come at the end of the DAG: under SLURM they run on the submitting
# machine instead of waiting in the queue for a node.

localrules:
    aggregate,
    aggregate_accuracy,
    figure,
    table,
    claims,


rule aggregate:
    input:
        aggregate_inputs,
    output:
        f"{RESULTS}/aggregated/{{table}}.csv",
    log:
        f"{LOGS}/aggregate/{{table}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate/{{table}}.tsv"
    threads: rule_threads("aggregate")
    resources:
        **rule_resources("aggregate"),
    conda:
        ENV
    shell:
        "spacetime-snn aggregate --out {output} {input} > {log} 2>&1"


rule aggregate_accuracy:
    input:
        study.table_inputs(config, "accuracy"),
    output:
        f"{RESULTS}/aggregated/accuracy.csv",
    log:
        f"{LOGS}/aggregate/accuracy.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate/accuracy.tsv"
    threads: rule_threads("aggregate")
    resources:
        **rule_resources("aggregate"),
    conda:
        ENV
    shell:
        "spacetime-snn aggregate --from-summaries --out {output} {input} > {log} 2>&1"


rule figure:
    input:
        figure_inputs,
    output:
        pdf=f"{RESULTS}/figures/{{fig}}.pdf",
        png=report(
            f"{RESULTS}/figures/{{fig}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{fig}"},
        ),
    params:
        data_dir=dir_of_input,
        options=figure_options,
    log:
        f"{LOGS}/figures/{{fig}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure/{{fig}}.tsv"
    threads: rule_threads("figure")
    resources:
        **rule_resources("figure"),
    conda:
        ENV
    shell:
        "spacetime-snn figure {wildcards.fig} --data-dir {params.data_dir} --out {output.pdf} {params.options}"
        " > {log} 2>&1"


rule table:
    input:
        accuracy=f"{RESULTS}/aggregated/accuracy.csv",
    output:
        csv=report(
            f"{RESULTS}/tables/table1.csv",
            caption="../report/table1.rst",
            category="Tables",
            labels={"table": "Table 1"},
        ),
        markdown=f"{RESULTS}/tables/table1.md",
    params:
        options=command_line(study.table_options(config)),
    log:
        f"{LOGS}/tables/table1.log",
    benchmark:
        f"{RESULTS}/benchmarks/table/table1.tsv"
    threads: rule_threads("table")
    resources:
        **rule_resources("table"),
    conda:
        ENV
    shell:
        "spacetime-snn table --accuracy {input.accuracy} --out {output.csv} --markdown {output.markdown}"
        " {params.options} > {log} 2>&1"
