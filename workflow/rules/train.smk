# One job per run id. A job writes only files; metrics.json comes last and marks the run finished.
# Before any job runs, the Snakemake process itself compiles every numba kernel into the on-disk
# cache (the epochs of every network depth and device kind of the grid; onstart, below), so
# parallel jobs load it instead of compiling and writing the same cache files at once.
# `ste` runs also write the per-epoch weights exsitu runs program (epochs.npz), so they are their
# own rule, `train_ste`: each rule declares every file its jobs write.
# With train.batch_runs > 1, the grid's runs are trained in batches instead, one `train-batch`
# process per batch (its start-up paid once), one rule per batch whose outputs are the files of
# its runs: every other rule still reads individual run folders.


# Not a job: a job that every train job waits for, even through ancient(), hides the runs a grid
# gained from Snakemake whenever that job reruns (after an edited kernel), and the pipeline then
# finished without them (Snakemake 9.15; snakemake/snakemake issue 4166). onstart runs only when
# there are jobs to run, not in a dry run.
onstart:
    compile_kernels_once()


rule train:
    input:
        mnist=mnist_input,
        offchip=offchip_input,
        device=device_file_input,
    output:
        **run_outputs(),
    log:
        f"{RESULTS}/logs/train/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{run_id}}.tsv"
    wildcard_constraints:
        run_id=run_id_pattern(keeps_epochs=False),
    threads: 1
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime_min"],
    params:
        cli=SBP_BENCH,
        spec_options=spec_options,
        out=lambda wildcards, output: Path(output.metrics).parent,
        mnist=mnist_option,
        offchip=offchip_option,
    shell:
        "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1"
        " {params.cli} train {params.spec_options:q} --out {params.out} {params.mnist:q} {params.offchip:q}"
        " --quiet"
        " > {log} 2>&1"


use rule train as train_ste with:
    output:
        **run_outputs(),
        epochs=f"{RUNS}/{{run_id}}/{EPOCHS_FILE}",
    wildcard_constraints:
        run_id=run_id_pattern(keeps_epochs=True),


for batch, run_ids in TRAIN_BATCHES.items():

    rule:
        name:
            f"train_batch_{batch}"
        input:
            batch_inputs(run_ids),
        output:
            batch_outputs(run_ids),
        log:
            f"{RESULTS}/logs/train_batch/{batch}.log",
        benchmark:
            f"{RESULTS}/benchmarks/train_batch/{batch}.tsv"
        threads: 1
        resources:
            mem_mb=config["train"]["mem_mb"],
            runtime=config["train"]["runtime_min"] * len(run_ids),
        params:
            cli=SBP_BENCH,
            specs=batch_lines(run_ids),
            runs=lambda wildcards, output: Path(output[0]).parent.parent,
            mnist=batch_mnist_option(run_ids),
        shell:
            "printf '%s\\n' {params.specs:q} |"
            " OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1"
            " {params.cli} train-batch - --runs-dir {params.runs} {params.mnist:q} --quiet"
            " > {log} 2>&1"
