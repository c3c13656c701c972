# The declared tuning protocol (docs/tuning_protocol.md). Trials are ordinary runs of the grid
# (rule train; GRID.runs holds them). Per tuning unit (a method at a tuned sweep point), the
# checkpoint select_settings reads the trials' validation accuracy and writes the chosen settings
# and the final runs they imply; `train_tuned` then trains the final runs of a few units in one
# `train-batch` process (FINAL_BATCHES; their run ids are known only after the selections, so
# its output is a record of the runs it finished), and the tuning tables and figures read them
# beside the untuned runs of the same points.
wildcard_constraints:
    unit="[A-Za-z0-9_-]+\.[A-Za-z0-9_]+\.p[0-9]+",


if workflow.is_main_process:
    for run_id in tuned_final_specs():  # verified like the grid's runs (common.smk)
        rejected = admit(f"{RUNS}/{run_id}")
        if rejected:
            print(f"sbp-bench: {rejected}", file=sys.stderr)
    # a batch's record naming a run that is gone or damaged is removed: the batch runs again
    for batch in FINAL_BATCHES:
        record = Path(f"{TUNING}/trained/{batch}.txt")
        trained = record.read_text().split() if record.is_file() else []
        if any(
            not Path(f"{RUNS}/{run_id}/metrics.json").is_file() for run_id in trained
        ):
            record.unlink()


checkpoint select_settings:
    input:
        trials=lambda wildcards: [
            f"{RUNS}/{spec.run_id}/metrics.json"
            for spec in UNITS[wildcards.unit].trials
        ],
    output:
        f"{TUNING}/selected/{{unit}}.json",
    log:
        f"{RESULTS}/logs/select_settings/{{unit}}.log",
    localrule: True
    params:
        unit=lambda wildcards: UNITS[wildcards.unit].to_dict(),
        rule=(config["tuning"] or {}).get("selection"),
    script:
        "../scripts/select_settings.py"


rule train_tuned:
    input:
        selections=lambda wildcards: [
            f"{TUNING}/selected/{key}.json" for key in FINAL_BATCHES[wildcards.batch]
        ],
        runs=train_tuned_inputs,
    output:
        f"{TUNING}/trained/{{batch}}.txt",
    log:
        f"{RESULTS}/logs/train_tuned/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_tuned/{{batch}}.tsv"
    threads: 1
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=lambda wildcards: config["train"]["runtime_min"]
        * sum(UNITS[key].final_run_count() for key in FINAL_BATCHES[wildcards.batch]),
    params:
        cli=SBP_BENCH,
        specs=lambda wildcards: batch_lines(
            final_run_ids(FINAL_BATCHES[wildcards.batch])
        ),
        run_ids=lambda wildcards: final_run_ids(FINAL_BATCHES[wildcards.batch]),
        runs=RUNS,
        mnist=lambda wildcards: batch_mnist_option(
            final_run_ids(FINAL_BATCHES[wildcards.batch])
        ),
    shell:
        "printf '%s\\n' {params.specs:q} |"
        " OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1"
        " {params.cli} train-batch - --runs-dir {params.runs} {params.mnist:q} --quiet"
        " > {log} 2>&1 && printf '%s\\n' {params.run_ids:q} > {output}"


TUNING_REPORT_INPUT = {
    "selections": lambda wildcards: [
        f"{TUNING}/selected/{key}.json" for key in units_of(wildcards.sweep)
    ],
    "tuned": lambda wildcards: trained_records(sweep=wildcards.sweep),
    "untuned": lambda wildcards: [
        f"{RUNS}/{run_id}/metrics.json"
        for run_id in GRID.sweeps[wildcards.sweep].run_ids
    ],
}
"""A tuned sweep's selections, its tuned final runs and its untuned runs: every table and
figure of the sweep reads them."""


rule tuning_table:
    input:
        **TUNING_REPORT_INPUT,
    output:
        csv=report(
            f"{TUNING}/{{sweep}}.csv",
            caption="../report/tuning_table.rst",
            category="Tuning",
        ),
        md=f"{TUNING}/{{sweep}}.md",
    log:
        f"{RESULTS}/logs/tuning/{{sweep}}.table.log",
    params:
        kind="table",
        runs=RUNS,
        tuning=config["tuning"],
    script:
        "../scripts/tuning_report.py"


TUNING_FIGURE_INPUT = {
    "expected_best": TUNING_REPORT_INPUT,
    "profile": {"table": f"{TUNING}/{{sweep}}.csv"},
}
"""The profile plots the sweep's table (its medians), so it never redoes the table's bootstrap."""


for kind in TUNING_FIGURES:

    rule:
        name:
            f"tuning_{kind}"
        input:
            **TUNING_FIGURE_INPUT[kind],
        output:
            png=report(
                f"{TUNING}/figures/{{sweep}}.{kind}.png",
                caption=f"../report/tuning_{kind}.rst",
                category="Tuning",
            ),
            pdf=f"{TUNING}/figures/{{sweep}}.{kind}.pdf",
        log:
            f"{RESULTS}/logs/tuning/{{sweep}}.{kind}.log",
        params:
            kind=kind,
            runs=RUNS,
            tuning=config["tuning"],
        script:
            "../scripts/tuning_report.py"
