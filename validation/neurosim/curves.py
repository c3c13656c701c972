#!/usr/bin/env python3
"""NeuroSim's own per-epoch test accuracy beside our runs of the same devices, as a markdown table.

For each device, NeuroSim's row comes from the `neurosim.log` of a `neurosim_io.py` run folder,
and each reading's row from the `history.csv` of an `sbp-bench train` run folder (its test
accuracy per epoch). Folder arguments are templates in which `{device}` stands for the device.
The mean runs over the epochs NeuroSim reached, for every row, so rows compare like with like;
the last column is a reading's mean minus NeuroSim's. README.md here says how to run it.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from neurosim_io import parse_log  # noqa: E402

DEVICES = ("ag_si", "taox_hfox", "pcmo", "alox_hfo2", "gst_pcm", "epiram", "hzo_fefet")


def neurosim_curve(folder: Path) -> list[float]:
    """NeuroSim's test accuracy (%) after each epoch it finished."""
    log = folder / "neurosim.log"
    if not log.is_file():
        raise SystemExit(f"{log}: not found (a neurosim_io.py run folder holds it)")
    return [row["accuracy_pct"] for row in parse_log(log.read_text())["epochs"]]


def our_curve(folder: Path) -> list[float]:
    """A run's test accuracy (%) after each epoch, from its history.csv."""
    history = folder / "history.csv"
    if not history.is_file():
        raise SystemExit(f"{history}: not found (an sbp-bench train run folder holds it)")
    with history.open() as rows:
        return [100 * float(row["test_acc"]) for row in csv.DictReader(rows)]


def table(devices, neurosim: str, readings: list[tuple[str, str]], epochs: int) -> str:
    """The markdown table: per device NeuroSim's row, then one row per reading."""
    header = ["device", "run", *(f"ep{e}" for e in range(1, epochs + 1)), "mean", "- NeuroSim"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for device in devices:
        reference = neurosim_curve(Path(neurosim.format(device=device)))[:epochs]
        reached = len(reference)
        base = sum(reference) / reached if reached else float("nan")
        rows = [("NeuroSim", reference)]
        rows += [(name, our_curve(Path(t.format(device=device)))[:epochs]) for name, t in readings]
        for name, curve in rows:
            cells = [f"{value:.2f}" for value in curve] + ["—"] * (epochs - len(curve))
            mean = sum(curve[:reached]) / reached if reached else float("nan")
            span = f" (1-{reached})" if reached < epochs else ""
            diff = "" if name == "NeuroSim" else f"{mean - base:+.2f}"
            lines.append(f"| {device} | {name} | {' | '.join(cells)} | {mean:.2f}{span} | {diff} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurosim", required=True, help="NeuroSim run folder, with {device}")
    parser.add_argument(
        "--reading", action="append", default=[], metavar="NAME=FOLDER",
        help="a row: its name and our run folder, with {device} (repeat for more rows)",
    )  # fmt: skip
    parser.add_argument("--devices", nargs="+", default=list(DEVICES))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    if any("=" not in reading for reading in args.reading):
        parser.error("--reading takes NAME=FOLDER")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    readings = [tuple(reading.split("=", 1)) for reading in args.reading]
    print(table(args.devices, args.neurosim, readings, args.epochs))


if __name__ == "__main__":
    main()
