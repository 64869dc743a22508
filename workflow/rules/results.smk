# The results page: results/<study>/results.md, rendered from the aggregated tables, Table 1, the claims and the
# figures (figures/results_page.py), with the study's time from the runs' clocks and the benchmark files, the
# commit and the machine. `spacetime-snn publish-results --page results/<study>/results.md --to docs/results/<study>`
# copies a finished page with its figures into a folder to commit.
#
# The benchmark files (results/<study>/benchmarks/<rule>/...) are read, not declared inputs: a missing one would make
# Snakemake rerun the job that writes it (retrain a finished run, e.g. one trained before benchmarks existed). Every
# job upstream of the page has finished, and written its file, before the page is rendered.

localrules:
    results_page,


rule results_page:
    input:
        accuracy=f"{RESULTS}/aggregated/accuracy.csv",
        final_metrics=f"{RESULTS}/aggregated/final_metrics.csv",
        table1=f"{RESULTS}/tables/table1.md",
        claims=study.claims_paths(config)["csv"],
        claims_report=study.claims_paths(config)["md"],
        figures=expand(f"{RESULTS}/figures/{{fig}}.png", fig=study.FIGURE_TABLES),
    output:
        report(f"{RESULTS}/results.md", caption="../report/results.rst", category="Results",
               labels={"page": "results.md"}),
    params:
        results_dir=dir_of_output,
        study=config["study"],
        benchmarks=f"{RESULTS}/benchmarks",
        repo=workflow.basedir,
        options=command_line(study.results_page_options(config)),
    log:
        f"{LOGS}/results_page.log",
    threads: rule_threads("table")
    resources:
        **rule_resources("table"),
    conda:
        ENV
    shell:
        "spacetime-snn results-page --results-dir {params.results_dir} --study {params.study} --out {output}"
        " --benchmarks {params.benchmarks} --repo {params.repo:q} {params.options} > {log} 2>&1"
