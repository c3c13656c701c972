"""`sbp-bench compare`: which on-chip rule to use on one device, and what it saves.

It writes a small profile (every on-chip rule of sbp_core.methods on the one device) and runs it
through the same Snakemake workflow as every profile (`--configfile`), so finished runs are reused
on a rerun. Then it reads the collected runs, costs each with the periphery model
(`cost_tables.method_energies`) and prints a row per rule and setting: test accuracy (median and
95 % interval over seeds), energy and area per training sample, and the energy saving against
the conventional design (on-chip sgd). The same table goes to summary.md beside compare.png.

With `trials` K > 0 (the command's default is 16, chosen by the measurement in
docs/tuning_protocol.md, "On one device") the profile has a `tuning` block: every rule gets the
same K trials on the device by the declared protocol, chosen on the validation split, and the
table holds each rule's tuned final runs beside its untuned defaults.
With K = 0 nothing is tuned: the rules run at their defaults and SBP also at its documented
reading for the device (SBP_READINGS), as before the protocol existed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sbp_core.errors import ConfigError, SbpBenchError
from sbp_core.methods import RULES
from sbp_core.report import ACCURACY, SWEEP_SEPARATOR
from sbp_core.spec import names_device_file
from sbp_core.tuning.final_runs import TUNED_MARK

REPOSITORY = Path(__file__).resolve().parents[1]
"""The checkout whose Snakefile, config/ and workflow/ the command runs (an editable install)."""
CONVENTIONAL = "sgd"
"""The conventional design every saving is measured against: on-chip SGD with its ADCs."""
ON_CHIP = tuple(name for name, rule in RULES.items() if rule.on_chip)
"""Every rule that trains on the chip (`Method.on_chip`): a rule added later joins the table."""
INTERVAL = (2.5, 97.5)
"""Percentiles over seeds of the accuracy interval (linear interpolation; with three seeds it
spans nearly their range)."""

TRIAL_FRACTION = 5
"""A trial trains a fifth of the final epochs (at least one), as the profiles' trials do."""
SWEEP = "rules"
"""The generated profile's sweep: every on-chip rule at its defaults on the device."""

WIDE = {"pulse_prob": 0.1, "margin_hi": 2.0, "margin_lo": -2.0, "gate_window": 2.0}
SET_ONLY_WIDE = {"pulse_scheme": "set_only", "refresh_every": 1000, **WIDE}


@dataclass(frozen=True)
class Reading:
    """Settings a rule runs at, and the words that label its row."""

    label: str
    fields: Mapping[str, Any]


SBP_READINGS = {
    "ideal": None,
    "ag_si": Reading("set-only + refresh, wide", SET_ONLY_WIDE),
    "pcmo": Reading("set-only + refresh, wide", SET_ONLY_WIDE),
    "gst_pcm": Reading("set-only + refresh, wide", SET_ONLY_WIDE),
    "epiram": Reading("set-only + refresh, wide", SET_ONLY_WIDE),
    "taox_hfox": Reading("pair, wide", WIDE),
    "alox_hfo2": Reading("pair, wide", WIDE),
    "hzo_fefet": Reading("pair, wide", WIDE),
}
"""SBP's documented reading per preset: the one chosen on MNIST validation accuracy in NeuroSim's
setting (docs/sbp_on_real_devices.md, closing table); on the ideal device its defaults. A device
file gets set-only + refresh, wide: the reading chosen on 4 of the 7 presets. These are not tuned
for the dataset or budget at hand (on the UCI digits the defaults do better on the ideal device,
same document); SBP at its defaults runs beside it."""
DEFAULT_LABEL = "defaults"
TUNED_LABEL = "tuned"
DOCUMENTED_LABEL = "documented"
READING_SWEEP = "sbp_reading"


def sbp_reading(device: str) -> Reading | None:
    """SBP's documented reading on `device` (a preset name or a device file), None: defaults."""
    if names_device_file(device):
        return SBP_READINGS["epiram"]
    return SBP_READINGS.get(device)


def profile_name(device: str, dataset: str) -> str:
    stem = Path(device).stem if names_device_file(device) else device
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"compare-{stem}-{dataset}")


def trial_epochs(epochs: int) -> int:
    return max(1, round(epochs / TRIAL_FRACTION))


BATCH_RUNS = 8
"""Runs per train job, as the paper profile's: one job per run started a process (imports,
kernels, MNIST decoded) for each of EpiRAM's 133 untuned runs and trials on MNIST."""


def profile_config(
    device: str, dataset: str, epochs: int, seeds: int, mnist_dir: Path | None, trials: int
) -> dict[str, Any]:
    """The generated profile: sweep SWEEP runs every on-chip rule at its defaults on `device`;
    with `trials` > 0 every rule is tuned there with K = `trials`, else sweep READING_SWEEP runs
    SBP at its documented reading (when it has one)."""
    if names_device_file(device):
        path = Path(device).resolve()
        if not path.is_file():
            raise ConfigError(f"--device {device}: device file not found")
        device = str(path)
    else:
        from sbp_core.chip.device import preset

        preset(device)  # a one-line error listing the presets
    sweeps: dict[str, Any] = {
        SWEEP: {
            "description": f"Every on-chip rule at its defaults on {device}.",
            "methods": list(ON_CHIP),
        }
    }
    reading = sbp_reading(device)
    if trials == 0 and reading is not None:
        sweeps[READING_SWEEP] = {
            "description": f"SBP at its documented reading ({reading.label}, "
            "docs/sbp_on_real_devices.md).",
            "methods": ["sbp"],
            "base": dict(reading.fields),
        }
    tuning = {
        "trials": trials,
        "trial_epochs": trial_epochs(epochs),
        "final_seeds": list(range(seeds)),
        "sweeps": {SWEEP: "each_point"},
    }
    return {
        "profile": profile_name(device, dataset),
        "base": {"dataset": dataset, "epochs": epochs, "device": device},
        "seeds": list(range(seeds)),
        "mnist_dir": str(mnist_dir.resolve()) if mnist_dir else None,
        "cost_config": str(REPOSITORY / "config" / "cost.yaml"),
        "train": {"batch_runs": BATCH_RUNS},
        "sweeps": sweeps,
        "tuning": tuning if trials > 0 else None,
    }


PROGRESS = re.compile(r"(\d+) of (\d+) steps \(\d+%\) done")
BAR_WIDTH = 30


def progress_bar(done: int, total: int) -> str:
    """`progress: [#########.....................] 12 of 40 workflow steps (30%)`; the total
    grows as the tunings' selections add their final runs."""
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    percent = 100 * done // total if total else 100
    return f"progress: [{bar}] {done} of {total} workflow steps ({percent}%)"


def run_profile(
    config: Mapping[str, Any],
    config_path: Path,
    cores: int,
    log_path: Path,
    show: Callable[[str], None],
) -> None:
    """Run the profile's runs, collection and cost report through the workflow, showing
    Snakemake's progress counts as they come; the whole output goes to `log_path`."""
    snakefile = REPOSITORY / "Snakefile"
    if not snakefile.is_file():
        raise ConfigError(f"{snakefile}: not found (compare runs from a checkout's install)")
    config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    results = f"results/{config['profile']}"
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "--snakefile", str(snakefile),
        "--directory", str(Path.cwd()),
        "--workflow-profile", str(REPOSITORY / "workflow" / "profiles" / "default"),
        "--configfile", str(config_path.resolve()),
        "--cores", str(cores),
        f"{results}/cost/cost_per_run.csv",
        f"{results}/cost/tables/cost_summary.md",  # and every cost figure, from these runs
        f"{results}/summary.md",
    ]  # fmt: skip
    if config["tuning"]:  # the chosen settings and whether K was enough
        command += [
            f"{results}/tuning/{SWEEP}.md",
            f"{results}/tuning/figures/{SWEEP}.expected_best.png",
        ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            match = PROGRESS.search(line)
            if match:
                done, total = match.groups()
                show(progress_bar(int(done), int(total)))
            elif line.startswith("sbp-bench: error:"):
                show(line.rstrip())
        code = process.wait()
    if code != 0:
        raise SbpBenchError(f"the workflow failed (exit {code}); its output is in {log_path}")


def setting_of(sweeps: Any) -> str:
    """A run's setting from its sweeps cell: a rule's tuned final run, SBP's documented reading
    or the defaults."""
    names = str(sweeps).split(SWEEP_SEPARATOR)
    if any(name.startswith(TUNED_MARK) for name in names):
        return TUNED_LABEL
    return DOCUMENTED_LABEL if READING_SWEEP in names else DEFAULT_LABEL


SETTINGS = (TUNED_LABEL, DOCUMENTED_LABEL, DEFAULT_LABEL)
"""The order of a rule's rows: the answer first, then the untuned defaults."""


def rule_table(runs: pd.DataFrame, energies: pd.DataFrame) -> pd.DataFrame:
    """One row per rule and setting (tuning trials left out: they scored no test set): accuracy
    median and interval over seeds (percent), median energy (J) and area (um^2) per training
    sample, and the energy and area savings against the conventional design run the same way
    (tuned sgd for a tuned row, sgd at its defaults otherwise): its median over the same seeds
    divided by the row's."""
    data = runs[runs[ACCURACY].notna()].merge(
        energies[["run_id", "energy_per_sample_J", "area_um2"]], on="run_id"
    )
    data["setting"] = data["sweeps"].map(setting_of)
    rows = []
    for (method, setting), members in data.groupby(["method", "setting"], sort=False):
        accuracy = 100 * members[ACCURACY].to_numpy(dtype=float)
        low, high = np.percentile(accuracy, INTERVAL)
        rows.append(
            {
                "rule": method,
                "setting": setting,
                "seeds": len(members),
                "accuracy_median": float(np.median(accuracy)),
                "accuracy_low": float(low),
                "accuracy_high": float(high),
                "energy_per_sample_J": float(members["energy_per_sample_J"].median()),
                "area_um2": float(members["area_um2"].median()),
            }
        )
    table = pd.DataFrame(rows)
    conventional = table[table["rule"] == CONVENTIONAL].set_index("setting")
    reference = table["setting"].map(lambda s: TUNED_LABEL if s == TUNED_LABEL else DEFAULT_LABEL)
    missing = sorted(set(reference) - set(conventional.index))
    if missing:
        raise SbpBenchError(
            f"no finished {CONVENTIONAL} runs ({', '.join(missing)}): "
            "nothing to measure savings against"
        )
    for column, saving in (("energy_per_sample_J", "energy_saving"), ("area_um2", "area_saving")):
        table[saving] = conventional.loc[reference, column].to_numpy() / table[column]
    order = {name: index for index, name in enumerate((*ON_CHIP, *SETTINGS))}
    return table.sort_values(
        ["rule", "setting"], key=lambda col: col.map(lambda v: order.get(v, v)), kind="stable"
    ).reset_index(drop=True)


def setting_label(setting: str, config: Mapping[str, Any]) -> str:
    """The words of a row's setting in the table."""
    if setting == TUNED_LABEL:
        return f"tuned (K = {config['tuning']['trials']}, chosen on validation)"
    if setting == DEFAULT_LABEL:
        return f"{DEFAULT_LABEL} (untuned; README, Method)"
    documented = sbp_reading(config["base"]["device"])
    return f"{documented.label} (docs/sbp_on_real_devices.md)" if documented else setting


def summary_lines(
    table: pd.DataFrame, config: Mapping[str, Any], data_name: str, assumed: bool
) -> list[str]:
    """The printed table and summary.md: a title (naming K and the selection split when the
    rules are tuned), the table in Markdown, and its notes."""
    device = config["base"]["device"]
    seeds, epochs, tuning = len(config["seeds"]), config["base"]["epochs"], config["tuning"]
    title = f"# compare: {Path(device).name} on {data_name}, {epochs} epochs, {seeds} seed(s)"
    if tuning:
        title += (
            f"; every rule tuned with K = {tuning['trials']} trials of {tuning['trial_epochs']} "
            "epoch(s), chosen on the validation split"
        )
    else:
        title += "; not tuned (--trials 0)"
    lines = [
        title,
        "",
        "| rule | setting | test acc. median (%) | 95 % interval (%) | energy / sample | "
        "area (um²) | energy saving vs sgd | area saving vs sgd |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.rule} | {setting_label(row.setting, config)} | "
            f"{row.accuracy_median:.1f} | {row.accuracy_low:.1f}-{row.accuracy_high:.1f} | "
            f"{_joules(row.energy_per_sample_J)} | {row.area_um2:.3g} | "
            f"{row.energy_saving:.3g}x | {row.area_saving:.3g}x |"
        )
    lines.append("")
    if tuning:
        results = Path("results") / config["profile"] / "tuning"
        lines += [
            f"- Tuned rows: each rule's final runs after the same K = {tuning['trials']} "
            f"quasi-random trials of {tuning['trial_epochs']} epoch(s) from its declared search "
            "space (docs/tuning_protocol.md); the winner has the best mean validation accuracy "
            "of its last two epochs (the validation split: the test set is never read to "
            f"choose), rerun at {epochs} epochs on each seed. Chosen settings: "
            f"{results / (SWEEP + '.md')}; whether K was enough: "
            f"{results / 'figures' / (SWEEP + '.expected_best.png')}.",
            "- Defaults rows: the same rules untuned, to show what tuning changed.",
            "- Energy and area: the training periphery and arrays per training sample (README, "
            "\"Periphery cost\"); savings are sgd's (the conventional design) over the row's, "
            "sgd run the same way (tuned against tuned, defaults against defaults).",
        ]
    else:
        lines += [
            f"- Rules run at their documented readings, not settings tuned for this device, "
            f"data or budget (--trials K tunes them); {_reading_note(device)}",
            "- Energy and area: the training periphery and arrays per training sample "
            '(README, "Periphery cost"); savings are sgd\'s (the conventional design, at its '
            "defaults) over the row's.",
        ]
    lines.append(
        f"- The interval is the {INTERVAL[0]:g}th-{INTERVAL[1]:g}th percentile of the seeds' "
        "final test accuracies."
    )
    if assumed:
        lines.append(
            "- The device's pulse amplitude or width is assumed (its citation says so): the "
            "energies and savings scale with them (cost_saving_vs_pulse.png of the profile)."
        )
    return lines


def _reading_note(device: str) -> str:
    if sbp_reading(device) is None:
        return "on this device SBP's documented reading is its defaults."
    where = "on 4 of the 7 presets" if names_device_file(device) else "on this preset"
    return f"SBP's is the one chosen on MNIST validation in NeuroSim's setting {where}."


def _joules(value: float) -> str:
    from matplotlib.ticker import EngFormatter

    return EngFormatter(unit="J", places=3, sep=" ")(value)


def compare_figure(table: pd.DataFrame, title: str, png: Path, pdf: Path) -> None:
    """Accuracy against energy per training sample: one point per rule, with its accuracy
    interval as the error bar; the tuned runs only when the rules were tuned (the answer), else
    every setting, the documented reading filled and the defaults hollow."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter

    from sbp_core.report import page
    from sbp_core.report.cost_figures import METHOD_STYLES

    page.theme()
    fig, ax = plt.subplots(figsize=(page.TEXT_WIDTH_IN, 3.6), layout="constrained")
    colours = sns.color_palette("colorblind")
    tuned = table["setting"] == TUNED_LABEL
    shown = table[tuned] if tuned.any() else table
    for row in shown.itertuples():
        style = METHOD_STYLES.get(row.rule, {"marker": "o", "colour": 7})
        colour = colours[style["colour"]]
        hollow = row.setting == DEFAULT_LABEL
        ax.errorbar(
            row.energy_per_sample_J,
            row.accuracy_median,
            yerr=[
                [row.accuracy_median - row.accuracy_low],
                [row.accuracy_high - row.accuracy_median],
            ],
            marker=style["marker"],
            markerfacecolor="none" if hollow else colour,
            color=colour,
            capsize=3,
            linestyle="none",
            label=f"{row.rule} ({row.setting})",
        )
    energies = shown["energy_per_sample_J"]
    if energies.max() >= 10 * energies.min():  # a log axis only where it has its decades
        ax.set_xscale("log")  # ticks at 1, 2 and 5 per decade, all in one format
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(EngFormatter(unit="J", places=0, sep=" "))
    ax.set(
        xlabel="training energy per sample",  # the ticks carry the unit (nJ, µJ)
        ylabel="test accuracy (%)\nmedian, 95 % interval",
        title=title,
    )
    fig.legend(loc="outside right center", fontsize="small", frameon=False)  # off the points
    page.save(fig, png, pdf)


def compare(
    device: str,
    dataset: str,
    epochs: int,
    seeds: int,
    cores: int,
    out: Path | None,
    mnist_dir: Path | None,
    show: Callable[[str], None],
    trials: int,
) -> list[str]:
    """Run the comparison in the working folder (results/<profile>/, as `make run` does) and
    write summary.md and compare.png into `out` (default: results/<profile>/compare); returns
    the lines of the table."""
    from sbp_core import cost
    from sbp_core.chip.device import pulse_assumed
    from sbp_core.report.collect import read_csv
    from sbp_core.report.cost_tables import method_energies
    from sbp_core.report.names import data_name

    if epochs < 1 or seeds < 1 or cores < 1:
        raise ConfigError("--epochs, --seeds and --cores must be at least 1")
    if trials < 0:
        raise ConfigError("--trials must be at least 0 (0: no tuning, the documented readings)")
    config = profile_config(device, dataset, epochs, seeds, mnist_dir, trials)
    results = Path("results") / config["profile"]
    out = out or results / "compare"
    out.mkdir(parents=True, exist_ok=True)
    run_profile(config, out / "profile.yaml", cores, out / "snakemake.log", show)
    runs = read_csv(results / "collected" / "runs.csv", "missing after the workflow ran")
    values = cost.constant_values(cost.load_constants(config["cost_config"]))
    table = rule_table(runs, method_energies(runs, values))
    assumed = any(map(pulse_assumed, runs["device"], runs["device.citation"]))
    name = data_name(str(runs["data_sha256"].iloc[0]))
    lines = summary_lines(table, config, name, assumed)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    title = f"{Path(config['base']['device']).name}, {name}: {epochs} epochs, {seeds} seed(s)"
    if trials:
        title += f"\ntuned: K = {trials} trials per rule, chosen on validation"
    compare_figure(table, title, out / "compare.png", out / "compare.pdf")
    table.to_csv(out / "compare.csv", index=False)
    return lines
