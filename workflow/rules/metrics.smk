# Per-run analyses: graph metrics over training (Figs. 2-3) with their controls (the initial network and the
# shuffled-weights network, analysis/controls.py), input maps (Fig. 1), network drawings (Fig. 2A/B).
# networkdata only tabulates the nodes and edges of the two networks Fig. 2 draws (seconds): under SLURM it runs on
# the submitting machine instead of waiting in the queue.

localrules:
    networkdata,


rule metrics:
    input:
        model=run_file("model.pt"),
        snapshots=run_file("snapshots.npz"),
    output:
        training_dynamics=analysis_file("training_dynamics"),
        final_metrics=analysis_file("final_metrics"),
        control_metrics=analysis_file("control_metrics"),
        delay_histogram=analysis_file("delay_histogram"),
        pruned_graph=analysis_file("pruned_graph"),
    params:
        run_dir=run_dir_of_input,
        out_dir=dir_of_output,
        options=command_line(study.metrics_options(config)),
    log:
        f"{LOGS}/metrics/{RUN_LOG}",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/{{condition}}/h{{hidden}}/s{{seed}}.tsv"
    threads: rule_threads("metrics")
    resources:
        **rule_resources("metrics"),
    conda:
        ENV
    shell:
        "spacetime-snn metrics --run-dir {params.run_dir} --out-dir {params.out_dir} {params.options}"
        " > {log} 2>&1"


rule inputmaps:
    input:
        model=run_file("model.pt"),
        test=DATA["test"],
    output:
        input_maps=analysis_file("input_maps"),
        input_maps_time=analysis_file("input_maps_time"),
        input_raster=analysis_file("input_raster"),
        ridge=analysis_file("ridge"),
    params:
        run_dir=run_dir_of_input,
        out_dir=dir_of_output,
        options=command_line(study.inputmaps_options(config)),
    log:
        f"{LOGS}/inputmaps/{RUN_LOG}",
    benchmark:
        f"{RESULTS}/benchmarks/inputmaps/{{condition}}/h{{hidden}}/s{{seed}}.tsv"
    threads: rule_threads("inputmaps")
    resources:
        **rule_resources("inputmaps"),
    conda:
        ENV
    shell:
        "spacetime-snn inputmaps --run-dir {params.run_dir} --out-dir {params.out_dir} {params.options}"
        " --threads {threads} > {log} 2>&1"


rule networkdata:
    input:
        model=run_file("model.pt"),
    output:
        network_nodes=analysis_file("network_nodes"),
        network_edges=analysis_file("network_edges"),
    params:
        run_dir=run_dir_of_input,
        out_dir=dir_of_output,
    log:
        f"{LOGS}/networkdata/{RUN_LOG}",
    benchmark:
        f"{RESULTS}/benchmarks/networkdata/{{condition}}/h{{hidden}}/s{{seed}}.tsv"
    threads: rule_threads("networkdata")
    resources:
        **rule_resources("networkdata"),
    conda:
        ENV
    shell:
        "spacetime-snn networkdata --run-dir {params.run_dir} --out-dir {params.out_dir} > {log} 2>&1"
