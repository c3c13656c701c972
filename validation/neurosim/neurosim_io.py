#!/usr/bin/env python3
"""MLP+NeuroSim V3.0's inputs and outputs: its text input files from the MNIST IDX files, a run of
a NeuroSim binary the user built from their own checkout, and its log parsed into summary.json.

NeuroSim (github.com/neurosim/MLP_NeuroSim_V3.0) is CC BY-NC 4.0, so this repository holds none
of its code, no binary built from it and no recipe that edits or builds it: the user builds
NeuroSim themselves, as its own documentation says, and gives this script the binary's path.
Everything written goes into a work folder outside the repository. Only the standard library is
needed; CI never runs NeuroSim (validation/neurosim/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CROP = 20
PATCH_FILES = {
    "train": ("patch60000_train.txt", "label60000_train.txt"),
    "test": ("patch10000_test.txt", "label10000_test.txt"),
}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> tuple[tuple[int, ...], bytes]:
    """Shape and raw bytes of an unsigned-byte IDX file, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    (magic,) = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    ndim = magic & 0xFF
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return shape, data[4 + 4 * ndim :]


def find_idx(mnist: Path, stem: str) -> Path:
    for name in (stem, f"{stem}.gz"):
        if (mnist / name).is_file():
            return mnist / name
    raise SystemExit(f"{mnist / stem}[.gz]: MNIST IDX file not found")


def write_patch_files(mnist: Path, data_dir: Path) -> None:
    """NeuroSim's text inputs: the 20x20 centre of each image, pixel / 255, written pixel by pixel
    (all images' pixel 0 on the first line, as IO.cpp reads them), and one label per line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, (patch_name, label_name) in PATCH_FILES.items():
        if (data_dir / patch_name).is_file() and (data_dir / label_name).is_file():
            continue
        image_stem, label_stem = IDX_FILES[split]
        (count, rows, cols), pixels = read_idx(find_idx(mnist, image_stem))
        (label_count,), labels = read_idx(find_idx(mnist, label_stem))
        if label_count != count:
            raise SystemExit(f"{mnist}: {count} {split} images but {label_count} labels")
        top, left = (rows - CROP) // 2, (cols - CROP) // 2
        tmp = data_dir / f"{patch_name}.tmp"
        with tmp.open("w") as out:
            for r in range(top, top + CROP):
                for c in range(left, left + CROP):
                    offset = r * cols + c
                    values = pixels[offset :: rows * cols]
                    out.write(" ".join("0" if v == 0 else f"{v / 255:.6f}" for v in values) + "\n")
        tmp.replace(data_dir / patch_name)
        (data_dir / label_name).write_text("".join(f"{v}\n" for v in labels))


NUMBER = r"([-+0-9.eE]+)"
PATTERNS = {
    "synaptic_core_area_m2": rf"Total SubArray \(synaptic core\) area={NUMBER} m\^2",
    "neuron_periphery_area_m2": rf"Total Neuron \(neuron peripheries\) area={NUMBER} m\^2",
    "total_area_m2": rf"Total area={NUMBER} m\^2",
}
EPOCH_PATTERNS = {
    "accuracy_pct": r"Accuracy at (\d+) epochs is : ([0-9.]+)%",
    "read_latency_s": rf"Read latency={NUMBER} s",
    "write_latency_s": rf"Write latency={NUMBER} s",
    "read_energy_j": rf"Read energy={NUMBER} J",
    "write_energy_j": rf"Write energy={NUMBER} J",
}


def parse_log(text: str) -> dict:
    """Areas and the per-epoch accuracy, latencies and energies NeuroSim prints, and the per-part
    lines (`Part area LAYER PART=...`, `Part LAYER NAME=...`) where the log holds them."""
    summary = {k: float(m.group(1)) for k, p in PATTERNS.items() if (m := re.search(p, text))}
    accuracies = re.findall(EPOCH_PATTERNS["accuracy_pct"], text)
    epochs = [{"epoch": int(e), "accuracy_pct": float(a)} for e, a in accuracies]
    for key in list(EPOCH_PATTERNS)[1:]:
        for row, value in zip(epochs, re.findall(EPOCH_PATTERNS[key], text), strict=False):
            row[key] = float(value)
    summary["epochs"] = epochs
    summary["parts_area_m2"] = {
        k: float(v) for k, v in re.findall(rf"Part area (\S+ \S+)={NUMBER} m\^2", text)
    }
    for row, block in zip(epochs, re.split(r"Accuracy at \d+ epochs", text)[1:], strict=True):
        row["parts"] = {k: float(v) for k, v in re.findall(rf"Part (\w+ [\w ]+)={NUMBER}", block)}
    return summary


def run(binary: Path, data_dir: Path, run_dir: Path) -> dict:
    """Run `binary` in `run_dir` beside links to the input files; its log and summary.json stay."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for names in PATCH_FILES.values():
        for name in names:
            link = run_dir / name
            if not link.exists():
                link.symlink_to(data_dir.resolve() / name)
    command = [str(binary)]
    if shutil.which("stdbuf"):
        command = ["stdbuf", "-o0", *command]
    log = run_dir / "neurosim.log"
    with log.open("w") as out:
        done = subprocess.run(command, cwd=run_dir, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"{log}: NeuroSim exited with {done.returncode}")
    summary = parse_log(log.read_text())
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", type=Path, required=True, help="your own build of NeuroSim")
    p.add_argument("--mnist", type=Path, required=True, help="folder of the MNIST IDX files")
    p.add_argument(
        "--workdir",
        type=Path,
        required=True,
        help="input files and runs go here (outside this repository)",
    )
    p.add_argument("--name", required=True, help="run folder name, e.g. ag_si_seed0_ep5")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    if workdir == REPO_ROOT or REPO_ROOT in workdir.parents:
        raise SystemExit(
            f"--workdir {workdir}: must lie outside this repository (NeuroSim's "
            "licence keeps its code and runs out of it)"
        )
    binary = args.binary.resolve()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise SystemExit(f"--binary {binary}: not an executable file")
    data_dir = workdir / "data"
    write_patch_files(args.mnist, data_dir)
    run_dir = workdir / "runs" / args.name
    summary = run(binary, data_dir, run_dir)
    print(f"{run_dir}: " + " ".join(f"{row['accuracy_pct']:.2f}" for row in summary["epochs"]))


if __name__ == "__main__":
    main(sys.argv[1:])
