# The declared tuning protocol (docs/tuning_protocol.md). Trials are ordinary runs of the grid
# (rule train; GRID.runs holds them). Per tuning unit (a method at a tuned sweep point), the
# checkpoint select_settings reads the trials' validation accuracy and writes the chosen settings
# and the final runs they imply; the final runs are then ordinary train jobs too, and the tuning
# tables and figures read them beside the untuned runs of the same points.
wildcard_constraints:
    unit="[A-Za-z0-9_-]+\.[A-Za-z0-9_]+\.p[0-9]+",


if workflow.is_main_process:
    for run_id in tuned_final_specs():  # verified like the grid's runs (common.smk)
        rejected = admit(f"{RUNS}/{run_id}")
        if rejected:
            print(f"sbp-bench: {rejected}", file=sys.stderr)


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


TUNING_REPORT_INPUT = {
    "selections": lambda wildcards: [
        f"{TUNING}/selected/{key}.json" for key in units_of(wildcards.sweep)
    ],
    "tuned": lambda wildcards: tuned_run_metrics(sweep=wildcards.sweep),
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


for kind in TUNING_FIGURES:

    rule:
        name:
            f"tuning_{kind}"
        input:
            **TUNING_REPORT_INPUT,
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
