# Periphery area and energy: SBP versus conventional analog backprop, from each run's pulse counts.
COST = f"{RESULTS}/cost"


rule cost_report:
    input:
        runs=f"{RESULTS}/collected/runs.csv",
        history=f"{RESULTS}/collected/history.csv",
        constants=config.get("cost_config", "config/cost.yaml"),
        override_files=config.get("cost_override_files", []),
    output:
        per_run=f"{COST}/cost_per_run.csv",
        components=multiext(f"{COST}/tables/cost_components", ".csv", ".md", ".tex"),
        summary=multiext(f"{COST}/tables/cost_summary", ".csv", ".md", ".tex"),
        assumptions=f"{COST}/tables/cost_assumptions.md",
        breakdown=report(
            f"{COST}/figures/cost_breakdown.png",
            caption="../report/cost_breakdown.rst",
            category="Periphery cost",
        ),
        breakdown_pdf=f"{COST}/figures/cost_breakdown.pdf",
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
        per_epoch=report(
            f"{COST}/figures/cost_energy_per_epoch.png",
            caption="../report/cost_energy_per_epoch.rst",
            category="Periphery cost",
        ),
        per_epoch_pdf=f"{COST}/figures/cost_energy_per_epoch.pdf",
    log:
        f"{RESULTS}/logs/cost_report.log",
    threads: 1
    params:
        overrides=config.get("cost_overrides", {}),
    script:
        "../scripts/cost_report.py"
