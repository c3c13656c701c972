# From finished runs to tidy tables, tables per sweep, seaborn figures, and the MLflow store.


rule collect:
    input:
        runs=run_metrics(),
        tuned=trained_records(),  # the tuned final runs, finished (if the profile tunes)
        selections=[f"{TUNING}/selected/{key}.json" for key in UNITS],  # which they are
    output:
        runs=f"{RESULTS}/collected/runs.csv",
        history=f"{RESULTS}/collected/history.csv",
    log:
        f"{RESULTS}/logs/collect.log",
    params:
        memberships=GRID.memberships,
        runs=lambda wildcards, input: Path(input.runs[0]).parent.parent,
        # runs.csv has a column per spec field: a field added since it was written (new code,
        # the same run folders) changes this, and Snakemake collects again
        columns=list(DEFAULT_SPEC.to_dict()),
    script:
        "../scripts/collect.py"


rule summary:
    input:
        unpack(summary_input),
    output:
        md=f"{RESULTS}/summary.md",
        rst=f"{RESULTS}/summary.rst",
    log:
        f"{RESULTS}/logs/summary.log",
    params:
        profile=GRID.profile,
    script:
        "../scripts/summary.py"


rule table:
    input:
        runs=rules.collect.output.runs,
    output:
        csv=report(
            f"{RESULTS}/tables/{{sweep}}.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        md=f"{RESULTS}/tables/{{sweep}}.md",
        tex=f"{RESULTS}/tables/{{sweep}}.tex",
    log:
        f"{RESULTS}/logs/table/{{sweep}}.log",
    params:
        sweep=sweep_of,
    script:
        "../scripts/table.py"


for kind in FIGURE_KINDS:

    rule:
        name:
            f"figure_{kind}"
        input:
            runs=rules.collect.output.runs,
            history=rules.collect.output.history,
        output:
            png=report(
                f"{RESULTS}/figures/{{sweep}}.{kind}.png",
                caption=f"../report/{kind}.rst",
                category="Figures",
                subcategory="{sweep}",
            ),
            pdf=f"{RESULTS}/figures/{{sweep}}.{kind}.pdf",
        log:
            f"{RESULTS}/logs/figure/{{sweep}}.{kind}.log",
        params:
            sweep=sweep_of,
            kind=kind,
        script:
            "../scripts/figure.py"


rule log_mlflow:
    input:
        metrics=run_metrics(),  # the grid's runs and the tuning's trials
        tuned=trained_records(),  # the tuned final runs, finished (if the profile tunes)
        selections=[f"{TUNING}/selected/{key}.json" for key in UNITS],
        cost=mlflow_cost_input(),
    output:
        f"{RESULTS}/mlflow/logged.json",
    log:
        f"{RESULTS}/logs/log_mlflow.log",
    priority: 10  # the longest job of the last ones: it starts first when cores are scarce
    localrule: True
    params:
        sweeps={name: sweep.to_dict() for name, sweep in GRID.sweeps.items()},
        memberships=GRID.memberships,
        runs=lambda wildcards, input: Path(input.metrics[0]).parent.parent,
        tracking_uri=MLFLOW_URI,
        artifact_root=MLFLOW_ARTIFACTS,
        experiment=config["mlflow"]["experiment"] or f"sbp-bench/{GRID.profile}",
        provenance=mlflow_provenance,
    script:
        "../scripts/log_mlflow.py"
