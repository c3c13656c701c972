"""Every periphery cost output of a profile: cost_per_run.csv, tables/ and figures/.

The rule `cost_report` calls `from_snakemake`; the tables come from `cost_tables`, the figures
from `cost_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from sbp_core import cost
from sbp_core.report import cost_figures, cost_tables, rule_log
from sbp_core.report.collect import read_csv

MISSING = "missing (run the collect rule first)"
ADC_BITS, ADC_FOM = "conventional.adc_bits", "adc.walden_fom_J_per_step"


def write_cost_report(
    runs_csv: str | Path,
    history_csv: str | Path,
    constants: Mapping[str, cost.Constant],
    out_dir: str | Path,
) -> None:
    """Every cost output under out_dir: cost_per_run.csv, tables/, figures/."""
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    values = cost.constant_values(constants)
    runs = cost_tables.sbp_runs(read_csv(runs_csv, MISSING))
    per_run = cost_tables.per_run_costs(runs, values)
    per_run.to_csv(out / cost_tables.PER_RUN_FILE, index=False)

    components = cost_tables.component_table(runs, values)
    summary = cost_tables.summary_table(runs, per_run)
    notes = cost_tables.notes_lines(constants)
    for name, table in zip(cost_tables.TABLES, (components, summary), strict=True):
        cost_tables.write_table(table, out / "tables" / name, notes)
    (out / "tables" / cost_tables.ASSUMPTIONS_FILE).write_text("\n".join(notes) + "\n")

    history = read_csv(history_csv, MISSING)
    energies = cost_tables.epoch_energies(history, runs, values)
    figures = {
        "cost_breakdown": cost_figures.plot_breakdown(components),
        "cost_saving_vs_adc_bits": cost_figures.plot_sensitivity(
            cost_tables.sensitivity(runs, values, ADC_BITS, cost_tables.ADC_BITS_SWEPT),
            ADC_BITS,
            values[ADC_BITS],
            "conventional ADC resolution (effective bits)",
        ),
        "cost_saving_vs_adc_fom": cost_figures.plot_sensitivity(
            cost_tables.sensitivity(runs, values, ADC_FOM, cost_tables.ADC_FOM_SWEPT),
            ADC_FOM,
            values[ADC_FOM],
            "ADC Walden figure of merit (J per conversion step)",
            metrics=("energy_saving",),
            log_x=True,
        ),
        "cost_energy_per_epoch": cost_figures.plot_energy_per_epoch(energies),
    }
    for name, fig in figures.items():
        fig.savefig(
            out / "figures" / f"{name}.png",
            dpi=150,
            bbox_inches="tight",
            metadata={"Software": None},
        )
        fig.savefig(
            out / "figures" / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None}
        )
        plt.close(fig)


def from_snakemake(smk: Any) -> None:
    """Rule `cost_report`: every cost output; the log gets the headline saving factors."""
    with rule_log(smk) as log:
        constants = cost.load_constants(
            smk.input.constants,
            override_files=list(smk.input.override_files),
            overrides=smk.params.overrides,
        )
        out_dir = Path(smk.output.per_run).parent
        write_cost_report(smk.input.runs, smk.input.history, constants, out_dir)
        per_run = pd.read_csv(smk.output.per_run)
        log.write(
            f"{len(per_run)} SBP runs costed; median energy saving "
            f"{per_run['energy_saving'].median():.3g}, median area saving "
            f"{per_run['area_saving'].median():.3g}\n"
        )
