# Pruning (Fig. 3A): re-test each main-grid run after removing its weakest or its longest connections, and, as the
# geometry-only control of length pruning, as many connections chosen at random (kind "random").


rule prune:
    input:
        model=run_file("model.pt"),
        summary=run_file("summary.json"),
        test=DATA["test"],
    output:
        pruning=analysis_file("pruning"),
    params:
        run_dir=run_dir_of_input,
        magnitude_keep=config["pruning"]["magnitude_keep"],
        length_remove=config["pruning"]["length_remove"],
        seed=config["analysis"]["seed"],
    log:
        f"{LOGS}/prune/{RUN_LOG}",
    benchmark:
        f"{RESULTS}/benchmarks/prune/{{condition}}/h{{hidden}}/s{{seed}}.tsv"
    threads: rule_threads("prune")
    resources:
        **rule_resources("prune"),
    conda:
        ENV
    shell:
        "spacetime-snn prune --run-dir {params.run_dir}"
        " --magnitude-keep {params.magnitude_keep} --length-remove {params.length_remove}"
        " --seed {params.seed} --threads {threads} --out {output.pruning} > {log} 2>&1"
