#!/usr/bin/env python3
"""Our cost model (sbp_core/cost.py, config/cost.yaml) beside NeuroSim's printed area and energy.

Reads a NeuroSim run's `summary.json` (written by neurosim_io.py) and a finished `sgd` run folder
of the same device in NeuroSim's setting, and prints a markdown table, part by part: NeuroSim's
figure, ours at the project's constants, and ours with NeuroSim's structure (one device per weight,
binary hidden activations driving layer 2, no backward read through the arrays: NeuroSim's MLP
computes the errors in software, with the pulses of our pair scheme halved to one device's).
Energies are for the training images of one epoch (`--epoch`); NeuroSim's are cumulative, so its
epoch-e figure minus its epoch-(e-1) figure. Both sides cost the same device: the Table II column
NeuroSim ran with (DEVICES below). README.md here says how to run it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from sbp_core import cost

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Device:
    """The values of one Table II column the cost model takes (voltages as magnitudes)."""

    n_states: int  # conductance states for weight increase (LTP)
    r_on_ohm: float
    on_off: float
    volts: tuple[float, float]  # |write voltage| LTP / LTD
    pulse_s: tuple[float, float]  # write pulse width LTP / LTD
    r_access_ohm: float = 15e3  # NeuroSim's 1T1R access transistor (0: the FeFET cell)


# Table II of the manual (pp. 23-24); GST PCM's "100-120" states as 100 (README.md here).
DEVICES: dict[str, Device] = {
    "ag_si": Device(97, 26e6, 12.5, (3.2, 2.8), (300e-6, 300e-6)),
    "taox_hfox": Device(128, 100e3, 10.0, (1.6, 1.6), (50e-9, 50e-9)),
    "pcmo": Device(50, 23e6, 6.84, (2.0, 2.0), (1e-3, 1e-3)),
    "alox_hfo2": Device(40, 16.9e3, 4.43, (0.9, 1.0), (100e-6, 100e-6)),
    "gst_pcm": Device(100, 4.71e3, 19.8, (0.7, 3.0), (6e-6, 125e-9)),
    "epiram": Device(64, 81e3, 50.2, (5.0, 3.0), (5e-6, 5e-6)),
    "hzo_fefet": Device(32, 559.28e3, 45.0, (3.65, 2.95), (75e-9, 75e-9), r_access_ohm=0.0),
}

# NeuroSim's parts (the log's `Part area` lines) under the component of ours that does the job.
AREA_PARTS = {
    "array": ("areaArray",),
    "decoders": (
        "wlDecoder.area",
        "wlDecoderOutput.area",
        "wlSwitchMatrix.area",
        "slSwitchMatrix.area",
        "blSwitchMatrix.area",
        "muxDecoder.area",
    ),
    "readout": (
        "mux.area",
        "readCircuit.area",
        "voltageSenseAmp.area",
        "subtractor.area",
        "shiftAdd.area",
    ),
    "storage": ("neuron.dff",),
    "error_compute": ("neuron.adder", "neuron.subtractor", "neuron.mux", "neuron.muxDecoder"),
}
NEUROSIM_STRUCTURE = {"conventional.activation_bits": 1.0, "array.devices_per_weight": 1.0}


def device_of(name: str) -> cost.PulseDevice:
    """Table II's column as the cost model takes it, read through NeuroSim's access
    transistor as the presets are."""
    d = DEVICES[name]
    g_max = 1.0 / d.r_on_ohm
    return cost.PulseDevice(
        v_set=d.volts[0],
        v_reset=d.volts[1],
        g_min_s=g_max / d.on_off,
        g_max_s=g_max,
        pulse_width_s=d.pulse_s[0],
        reset_pulse_width_s=d.pulse_s[1],
        n_states=d.n_states,
        r_access_ohm=d.r_access_ohm,
    )


def our_layers(run: Path, epoch: int, pulse_scale: float, line_activity: float) -> list:
    """The sgd run's layers with its epoch-`epoch` pulses per training sample."""
    metrics = json.loads((run / "metrics.json").read_text())
    spec = json.loads((run / "spec.json").read_text())
    rows = list(csv.DictReader((run / "history.csv").open()))
    row = next(r for r in rows if int(r["epoch"]) == epoch)
    shapes = metrics["layers"]
    scale = pulse_scale / spec["epoch_samples"]
    sets = [scale * float(row[f"set_pulses_l{i + 1}"]) for i in range(len(shapes))]
    resets = [scale * float(row[f"reset_pulses_l{i + 1}"]) for i in range(len(shapes))]
    return cost.make_layers(shapes, sets, resets, metrics["input_activity"], line_activity)


def ours(run: Path, device: cost.PulseDevice, epoch: int, cost_yaml: Path, structure: bool):
    """Area (um^2) and energy per epoch (J) by component, and the cells' programming energy."""
    overrides = NEUROSIM_STRUCTURE if structure else None
    c = cost.constant_values(cost.load_constants(cost_yaml, overrides=overrides))
    layers = our_layers(run, epoch, 0.5 if structure else 1.0, c["workload.line_activity"])
    if structure:  # no backward read: every layer is costed as one whose rows take no error
        layers = [dataclasses.replace(layer, first=True) for layer in layers]
    samples = json.loads((run / "spec.json").read_text())["epoch_samples"]
    total = cost.network_cost("conventional", layers, device, c)
    cells = sum(cost.programming_energy(device, x.set_pulses, x.reset_pulses) for x in layers)
    energy = {k: v * samples for k, v in total.energy_J.items()}
    return total.area_um2, energy, cells * samples


def neurosim_figures(summary: dict, epoch: int) -> tuple[dict, dict]:
    """NeuroSim's area by our component (um^2) and its energies in epoch `epoch` (J)."""
    parts = summary["parts_area_m2"]
    area = {
        ours_name: 1e12 * sum(parts[f"{layer} {p}"] for layer in ("IH", "HO") for p in names)
        for ours_name, names in AREA_PARTS.items()
    }
    rows = {row["epoch"]: row for row in summary["epochs"]}

    def in_epoch(key: str) -> float:
        now = sum(rows[epoch]["parts"][f"{layer} {key}"] for layer in ("IH", "HO"))
        if epoch == 1:
            return now
        return now - sum(rows[epoch - 1]["parts"][f"{layer} {key}"] for layer in ("IH", "HO"))

    energy = {
        key: in_epoch(key)
        for key in (
            "cell read energy",
            "periphery read energy",
            "cell write energy",
            "periphery write energy",
            "read latency",
            "write latency",
        )
    }
    return area, energy


def table(args: argparse.Namespace) -> str:
    summary = json.loads((args.neurosim / "summary.json").read_text())
    device = device_of(args.device)
    ns_area, ns_energy = neurosim_figures(summary, args.epoch)
    base = ours(args.sgd_run, device, args.epoch, args.cost, structure=False)
    same = ours(args.sgd_run, device, args.epoch, args.cost, structure=True)

    def fmt(x: float) -> str:
        return f"{x:.4g}"

    lines = [
        f"| {args.device}, epoch {args.epoch} | NeuroSim | ours | ours, NeuroSim's structure |",
        "|---|---|---|---|",
    ]
    for name in cost.COMPONENTS:
        ns_value = ns_area.get(name)
        if ns_value is None and not base[0][name] and not same[0][name]:
            continue
        ns_text = fmt(ns_value) if ns_value is not None else "-"
        lines.append(
            f"| area {name}, um^2 | {ns_text} | {fmt(base[0][name])} | {fmt(same[0][name])} |"
        )
    lines.append(
        f"| **area total, um^2** | {fmt(summary['total_area_m2'] * 1e12)} | "
        f"{fmt(sum(base[0].values()))} | {fmt(sum(same[0].values()))} |"
    )
    read_ours = [sum(v for k, v in e[1].items() if k != "write") for e in (base, same)]
    rows = [
        ("read: cells, J", ns_energy["cell read energy"], base[1]["array"], same[1]["array"]),
        (
            "read: periphery and neurons, J",
            ns_energy["periphery read energy"],
            read_ours[0] - base[1]["array"],
            read_ours[1] - same[1]["array"],
        ),
        ("write: cells (programming), J", ns_energy["cell write energy"], base[2], same[2]),
        (
            "write: periphery, J",
            ns_energy["periphery write energy"],
            base[1]["write"] - base[2],
            same[1]["write"] - same[2],
        ),
        (
            "**read energy**, J",
            ns_energy["cell read energy"] + ns_energy["periphery read energy"],
            read_ours[0],
            read_ours[1],
        ),
        (
            "**write energy**, J",
            ns_energy["cell write energy"] + ns_energy["periphery write energy"],
            base[1]["write"],
            same[1]["write"],
        ),
    ]
    for label, ns_value, ours_value, same_value in rows:
        lines.append(f"| {label} | {fmt(ns_value)} | {fmt(ours_value)} | {fmt(same_value)} |")
    for key in ("read latency", "write latency"):
        lines.append(f"| {key}, s | {fmt(ns_energy[key])} | not modelled | not modelled |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--neurosim", type=Path, required=True, help="neurosim_io.py run folder")
    p.add_argument("--sgd-run", type=Path, required=True, help="sbp-bench train run folder")
    p.add_argument("--device", choices=sorted(DEVICES), required=True)
    p.add_argument("--epoch", type=int, default=1)
    p.add_argument("--cost", type=Path, default=HERE.parents[1] / "config" / "cost.yaml")
    return p.parse_args(argv)


if __name__ == "__main__":
    print(table(parse_args(sys.argv[1:])))
