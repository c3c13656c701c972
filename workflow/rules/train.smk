# One job per run id. A job writes only files; metrics.json comes last and marks the run finished.


rule train:
    input:
        mnist=mnist_input,
        offchip=offchip_input,
    output:
        spec=f"{RUNS}/{{run_id}}/spec.json",
        history=f"{RUNS}/{{run_id}}/history.csv",
        arrays=f"{RUNS}/{{run_id}}/arrays.npz",
        metrics=f"{RUNS}/{{run_id}}/metrics.json",
    log:
        f"{RESULTS}/logs/train/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{run_id}}.tsv"
    conda:
        "../envs/sbp-bench.yaml"
    threads: 1
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime_min"],
    params:
        cli=sbp_bench_command(),
        spec_options=spec_options,
        out=lambda wildcards, output: Path(output.metrics).parent,
        mnist=mnist_option,
        offchip=offchip_option,
    shell:
        "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1"
        " {params.cli} train {params.spec_options:q} --out {params.out} {params.mnist:q} {params.offchip:q}"
        " --quiet"
        " > {log} 2>&1"
