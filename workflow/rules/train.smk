# One job per run id. A job writes only files; metrics.json comes last and marks the run finished.
# Before them, one local job compiles every numba kernel into the on-disk cache (the SBP and SGD
# epochs for every network depth of the grid), so parallel jobs load it instead of compiling and
# writing the same cache files at once.
# `ste` runs also write the per-epoch weights exsitu runs program (epochs.npz), so they are their
# own rule, `train_ste`: each rule declares every file its jobs write.
# With train.batch_runs > 1, the grid's runs are trained in batches instead, one `train-batch`
# process per batch (its start-up paid once), one rule per batch whose outputs are the files of
# its runs: every other rule still reads individual run folders.


rule compile_kernels:
    input:
        [str(path) for path in compiled_sources()],
    output:
        f"{RESULTS}/compiled_kernels.txt",
    log:
        f"{RESULTS}/logs/compile_kernels.log",
    localrule: True
    params:
        cli=SBP_BENCH,
        depths=",".join(map(str, GRID.kernel_depths)),
        kinds=",".join(GRID.device_kinds),
    shell:
        "NUMBA_NUM_THREADS=1 {params.cli} compile --device-kinds {params.kinds} --hidden-layers {params.depths}"
        " > {output} 2> {log}"


rule train:
    input:
        mnist=mnist_input,
        offchip=offchip_input,
        device=device_file_input,
        # every kernel compiled and cached once before the train jobs load it; ancient: an
        # edited kernel recompiles here without retraining finished runs
        kernels=ancient(rules.compile_kernels.output[0]),
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
            kernels=ancient(rules.compile_kernels.output[0]),
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
