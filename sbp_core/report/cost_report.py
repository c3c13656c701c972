"""Every periphery cost output of a profile: cost_per_run.csv, tables/ and figures/.

The tables and figures cost each rule's tuned final runs where the profile tunes it; the
per-run file costs every untuned SBP run besides (against its untuned twin).

The rule `cost_per_run` calls `per_run_from_snakemake`, the rule `cost_report` `from_snakemake`;
the tables come from `cost_tables`, the figures from `cost_figures`: the profile's ADC
sensitivity, and a breakdown and an energy-per-epoch figure for each sweep with SBP runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sbp_core import cost
from sbp_core.report import COST_SWEEP_FIGURES, cost_figures, cost_tables, page, rule_log
from sbp_core.report.collect import at_preset, read_csv
from sbp_core.report.names import data_names
from sbp_core.tuning.final_runs import tuned_in_place_of_untuned, untuned_runs

MISSING = "missing (run the collect rule first)"
ADC_BITS, ADC_FOM = "conventional.adc_bits", "adc.walden_fom_J_per_step"


def write_cost_report(
    runs_csv: str | Path,
    history_csv: str | Path,
    constants: Mapping[str, cost.Constant],
    out_dir: str | Path,
    sweeps: Sequence[Mapping[str, Any]],
) -> None:
    """Every cost output under out_dir: cost_per_run.csv, tables/, figures/ (`sweeps`: the
    sweeps with SBP runs, as grid.Sweep.to_dict() gives them)."""
    write_per_run_costs(runs_csv, constants, out_dir)
    write_tables_and_figures(runs_csv, history_csv, constants, out_dir, sweeps)


def write_per_run_costs(
    runs_csv: str | Path, constants: Mapping[str, cost.Constant], out_dir: str | Path
) -> None:
    """cost_per_run.csv under out_dir: a job of its own (rule `cost_per_run`), so that MLflow's
    logging, which carries these costs, need not wait for the figures."""
    values = cost.constant_values(constants)
    everything = read_csv(runs_csv, MISSING)
    runs = cost_tables.sbp_runs(tuned_in_place_of_untuned(everything))
    per_run = cost_tables.per_run_costs(runs, values)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    per_run_with_untuned(per_run, everything, values).to_csv(
        Path(out_dir) / cost_tables.PER_RUN_FILE, index=False
    )


def write_tables_and_figures(
    runs_csv: str | Path,
    history_csv: str | Path,
    constants: Mapping[str, cost.Constant],
    out_dir: str | Path,
    sweeps: Sequence[Mapping[str, Any]],
) -> None:
    """tables/ and figures/ under out_dir (rule `cost_report`)."""
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    values = cost.constant_values(constants)
    collected = tuned_in_place_of_untuned(read_csv(runs_csv, MISSING))
    runs = cost_tables.sbp_runs(collected)
    per_run = cost_tables.per_run_costs(runs, values)

    components = cost_tables.component_table(runs, values)
    summary = cost_tables.summary_table(runs, per_run)
    notes = cost_tables.notes_lines(constants)
    for name, table in zip(cost_tables.TABLES, (components, summary), strict=True):
        cost_tables.write_table(table, out / "tables" / name, notes)
    methods = cost_tables.method_table(collected, values)
    cost_tables.write_table(methods, out / "tables" / cost_tables.METHODS_TABLE, notes)
    (out / "tables" / cost_tables.ASSUMPTIONS_FILE).write_text("\n".join(notes) + "\n")

    history = read_csv(history_csv, MISSING)
    energies = cost_tables.epoch_energies(history, runs, values)
    sensitivity = (
        cost_figures.plot_sensitivity(
            cost_tables.sensitivity(runs, values, ADC_BITS, cost_tables.ADC_BITS_SWEPT),
            ADC_BITS,
            values[ADC_BITS],
            "conventional ADC (effective bits)",
        ),
        cost_figures.plot_sensitivity(
            cost_tables.sensitivity(runs, values, ADC_FOM, cost_tables.ADC_FOM_SWEPT),
            ADC_FOM,
            values[ADC_FOM],
            "conventional ADC Walden figure of merit (J per conversion step)",
            metrics=("energy_saving",),
            log_x=True,
        ),
        cost_figures.plot_sensitivity(
            cost_tables.pulse_sensitivity(runs, values),
            "pulse_scale",
            1.0,
            ("pulse amplitude (× device's)", "pulse width (× device's)"),
            metrics=cost_tables.PULSE_METRICS,
            log_x=True,
        ),
    )
    for name, fig in zip(cost_figures.FIGURES, sensitivity, strict=True):
        page.save(fig, out / "figures" / f"{name}.png", out / "figures" / f"{name}.pdf")
    tradeoff = cost_figures.plot_tradeoff(
        cost_tables.method_energies(at_preset(collected), values),
        data_names(collected["data_sha256"]),
    )
    name = cost_figures.TRADEOFF_FIGURE
    page.save(tradeoff, out / "figures" / f"{name}.png", out / "figures" / f"{name}.pdf")
    for sweep in sweeps:
        stem = out / "figures" / sweep["name"]
        drawn = (
            cost_figures.plot_breakdown(components, sweep),
            cost_figures.plot_energy_per_epoch(energies, sweep),
        )
        for name, fig in zip(COST_SWEEP_FIGURES, drawn, strict=True):
            page.save(fig, f"{stem}.{name}.png", f"{stem}.{name}.pdf")


def per_run_with_untuned(
    per_run: pd.DataFrame, everything: pd.DataFrame, values: Mapping[str, float]
) -> pd.DataFrame:
    """`per_run` (the tuned comparison's SBP runs) and every other untuned SBP run, costed
    against its untuned conventional twin: the summary's saving then comes from the very runs
    whose accuracy it reports, tuned or not, and MLflow gets the cost of every SBP run."""
    untuned = cost_tables.sbp_runs(untuned_runs(everything))
    others = untuned[~untuned["run_id"].isin(per_run["run_id"])]
    if others.empty:
        return per_run
    return pd.concat([per_run, cost_tables.per_run_costs(others, values)], ignore_index=True)


def per_run_from_snakemake(smk: Any) -> None:
    """Rule `cost_per_run`: cost_per_run.csv."""
    with rule_log(smk):
        write_per_run_costs(smk.input.runs, _constants(smk), Path(smk.output[0]).parent)


def from_snakemake(smk: Any) -> None:
    """Rule `cost_report`: the cost tables and figures; the log gets the headline saving factors
    of the configurations that learned."""
    with rule_log(smk) as log:
        out_dir = Path(smk.output.assumptions).parent.parent
        write_tables_and_figures(
            smk.input.runs, smk.input.history, _constants(smk), out_dir, smk.params.sweeps
        )
        summary = pd.read_csv(smk.output.summary[0])  # the .csv of the multiext
        learned = summary[summary[cost_tables.LEARNED_SBP]]
        log.write(
            f"{summary['n_runs'].sum()} SBP runs costed in {len(summary)} configurations, "
            f"{len(summary) - len(learned)} of which did not learn; over those that learned, "
            f"median energy saving {learned['energy_saving'].median():.3g}, median area saving "
            f"{learned['area_saving'].median():.3g}\n"
        )


def _constants(smk: Any) -> dict[str, cost.Constant]:
    """The cost constants of config/cost.yaml with the profile's override files and overrides."""
    return cost.load_constants(
        smk.input.constants,
        override_files=list(smk.input.override_files),
        overrides=smk.params.overrides,
    )
