# One job per run id. A job writes only files; metrics.json comes last and marks the run finished.
# Before them, one local job compiles every numba kernel into the on-disk cache (the SBP and SGD
# epochs for every network depth of the grid), so parallel jobs load it instead of compiling and
# writing the same cache files at once.
# `ste` runs also write the per-epoch weights exsitu runs program (epochs.npz), so they are their
# own rule, `train_ste`: each rule declares every file its jobs write.


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
