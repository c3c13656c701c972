# Periphery area and energy: SBP versus conventional analog backprop, from each run's pulse counts.
# The per-run costs are a job of their own, which MLflow's logging waits for; the tables and
# figures another, drawn beside that logging.
COST = f"{RESULTS}/cost"


rule cost_per_run:
    input:
        runs=f"{RESULTS}/collected/runs.csv",
        constants=config.get("cost_config", "config/cost.yaml"),
        override_files=config.get("cost_override_files", []),
    output:
        f"{COST}/cost_per_run.csv",
    log:
        f"{RESULTS}/logs/cost_per_run.log",
    threads: 1
    params:
        overrides=config.get("cost_overrides", {}),
    script:
        "../scripts/cost_per_run.py"


rule cost_report:
    input:
        runs=f"{RESULTS}/collected/runs.csv",
        history=f"{RESULTS}/collected/history.csv",
        constants=config.get("cost_config", "config/cost.yaml"),
        override_files=config.get("cost_override_files", []),
    output:
        **cost_sweep_figures(),
        components=multiext(f"{COST}/tables/cost_components", ".csv", ".md", ".tex"),
        summary=multiext(f"{COST}/tables/cost_summary", ".csv", ".md", ".tex"),
        methods=multiext(f"{COST}/tables/cost_methods", ".csv", ".md", ".tex"),
        assumptions=f"{COST}/tables/cost_assumptions.md",
        adc_bits=report(
            f"{COST}/figures/cost_saving_vs_adc_bits.png",
            caption="../report/cost_saving_vs_adc_bits.rst",
            category="Periphery cost",
        ),
        adc_bits_pdf=f"{COST}/figures/cost_saving_vs_adc_bits.pdf",
        adc_fom=report(
            f"{COST}/figures/cost_saving_vs_adc_fom.png",
            caption="../report/cost_saving_vs_adc_fom.rst",
            category="Periphery cost",
        ),
        adc_fom_pdf=f"{COST}/figures/cost_saving_vs_adc_fom.pdf",
        pulse=report(
            f"{COST}/figures/cost_saving_vs_pulse.png",
            caption="../report/cost_saving_vs_pulse.rst",
            category="Periphery cost",
        ),
        pulse_pdf=f"{COST}/figures/cost_saving_vs_pulse.pdf",
        tradeoff=report(
            f"{COST}/figures/cost_accuracy_vs_energy.png",
            caption="../report/cost_accuracy_vs_energy.rst",
            category="Periphery cost",
        ),
        tradeoff_pdf=f"{COST}/figures/cost_accuracy_vs_energy.pdf",
    log:
        f"{RESULTS}/logs/cost_report.log",
    threads: 1
    params:
        overrides=config.get("cost_overrides", {}),
        sweeps=[sweep.to_dict() for sweep in cost_sweeps()],
    script:
        "../scripts/cost_report.py"
