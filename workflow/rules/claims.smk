# The claims report: which claims of the paper the study's runs support, with effect sizes, bootstrap intervals,
# permutation tests and the controls that separate learning from geometry (analysis/claims.py). The HTML report
# shows claims.rst on its front page (workflow/report/workflow.rst).


rule claims:
    input:
        study.claims_inputs(config),
    output:
        csv=report(
            study.claims_paths(config)["csv"],
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "claims"},
        ),
        markdown=study.claims_paths(config)["md"],
        rst=study.claims_paths(config)["rst"],
    params:
        data_dir=dir_of_input,
        options=command_line(study.claims_options(config)),
    log:
        f"{LOGS}/tables/claims.log",
    benchmark:
        f"{RESULTS}/benchmarks/claims/claims.tsv"
    threads: rule_threads("table")
    resources:
        **rule_resources("table"),
    conda:
        ENV
    shell:
        "spacetime-snn claims --data-dir {params.data_dir} --out {output.csv} --markdown {output.markdown}"
        " --rst {output.rst} {params.options} > {log} 2>&1"
