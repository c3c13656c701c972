"""validation/neurosim/neurosim_io.py and cost_crosscheck.py on hand-written stand-ins (the
repository holds none of NeuroSim's code; CI never builds or runs NeuroSim itself)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import struct
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "validation" / "neurosim" / "neurosim_io.py"
spec = importlib.util.spec_from_file_location("neurosim_io", SCRIPT)
ns = importlib.util.module_from_spec(spec)
sys.modules["neurosim_io"] = ns
spec.loader.exec_module(ns)


def write_idx(path: Path, shape: tuple[int, ...], values: bytes) -> None:
    header = struct.pack(">I", 0x0800 | len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    with gzip.open(path, "wb") as f:
        f.write(header + values)


def test_patch_files_hold_the_centre_pixel_by_pixel(tmp_path):
    for images, labels, count in (
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 3),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 2),
    ):
        pixels = bytearray(count * 28 * 28)
        for i in range(count):
            pixels[i * 784 + 4 * 28 + 4] = 255 * (i % 2)  # the crop's first pixel
            pixels[i * 784 + 23 * 28 + 23] = 51  # the crop's last pixel
            pixels[i * 784 + 3 * 28 + 3] = 200  # outside the crop
        write_idx(tmp_path / f"{images}.gz", (count, 28, 28), bytes(pixels))
        write_idx(tmp_path / f"{labels}.gz", (count,), bytes(range(count)))
    ns.write_patch_files(tmp_path, tmp_path / "data")
    lines = (tmp_path / "data" / "patch60000_train.txt").read_text().splitlines()
    assert len(lines) == 400
    assert lines[0] == "0 1.000000 0"
    assert lines[-1] == "0.200000 0.200000 0.200000"
    assert all(line == "0 0 0" for line in lines[1:-1])
    assert (tmp_path / "data" / "label10000_test.txt").read_text() == "0\n1\n"


def test_the_log_is_read_into_areas_accuracies_and_parts():
    log = (
        "Total SubArray (synaptic core) area=5.0841e-09 m^2\n"
        "Total Neuron (neuron peripheries) area=1.2082e-09 m^2\n"
        "Total area=6.2923e-09 m^2\nPart area IH areaArray=1.0000e-09 m^2\n"
        "Accuracy at 1 epochs is : 60.64%\n\tRead latency=3.2472e-02 s\n"
        "\tWrite latency=7.6871e+02 s\n\tRead energy=3.3554e-06 J\n"
        "\tWrite energy=3.0864e-04 J\n\tPart IH cell read energy=1.5e-07\n"
        "Accuracy at 2 epochs is : 64.37%\n\tRead latency=6.5e-02 s\n"
    )
    summary = ns.parse_log(log)
    assert summary["total_area_m2"] == 6.2923e-9
    assert summary["parts_area_m2"] == {"IH areaArray": 1e-9}
    first, second = summary["epochs"]
    assert first["accuracy_pct"] == 60.64 and first["write_energy_j"] == 3.0864e-4
    assert first["parts"] == {"IH cell read energy": 1.5e-7}
    assert second == {"epoch": 2, "accuracy_pct": 64.37, "read_latency_s": 0.065, "parts": {}}


def test_a_workdir_inside_the_repository_is_refused(tmp_path):
    inside = SCRIPT.parents[2] / "neurosim-runs"
    argv = ["--binary", str(tmp_path), "--mnist", str(tmp_path), "--name", "x"]
    with pytest.raises(SystemExit, match="must lie outside this repository"):
        ns.main([*argv, "--workdir", str(inside)])
    assert not inside.exists()


def test_a_binary_that_is_not_executable_is_named(tmp_path):
    argv = ["--binary", str(tmp_path / "main"), "--mnist", str(tmp_path), "--name", "x"]
    with pytest.raises(SystemExit, match=r"--binary .*main: not an executable file"):
        ns.main([*argv, "--workdir", str(tmp_path / "work")])


def stand_in_binary(path: Path, body: str) -> Path:
    """A shell script in place of the user's NeuroSim build."""
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_the_binary_runs_beside_its_inputs_and_its_log_is_summarized(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for names in ns.PATCH_FILES.values():
        for name in names:
            (data / name).write_text(f"{name}\n")
    binary = stand_in_binary(
        tmp_path / "main",
        "head -n 1 patch60000_train.txt label10000_test.txt > seen.txt\n"
        "echo 'Total area=6.2923e-09 m^2'\necho 'Accuracy at 1 epochs is : 60.64%'",
    )
    summary = ns.run(binary, data, tmp_path / "runs" / "r")
    run_dir = tmp_path / "runs" / "r"
    assert "patch60000_train.txt\n" in (run_dir / "seen.txt").read_text()
    assert "label10000_test.txt\n" in (run_dir / "seen.txt").read_text()
    assert summary["total_area_m2"] == 6.2923e-9
    assert summary["epochs"] == [{"epoch": 1, "accuracy_pct": 60.64, "parts": {}}]
    assert json.loads((run_dir / "summary.json").read_text()) == summary


def test_a_failing_binary_stops_with_its_log_named(tmp_path):
    binary = stand_in_binary(tmp_path / "main", "echo 'Transistor width too large'; exit 3")
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit, match=r"neurosim.log: NeuroSim exited with 3"):
        ns.run(binary, tmp_path / "data", tmp_path / "run")
    assert "Transistor width" in (tmp_path / "run" / "neurosim.log").read_text()
    assert not (tmp_path / "run" / "summary.json").exists()


def load_crosscheck():
    path = SCRIPT.with_name("cost_crosscheck.py")
    module_spec = importlib.util.spec_from_file_location("cost_crosscheck", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["cost_crosscheck"] = module
    module_spec.loader.exec_module(module)
    return module


def test_neurosims_parts_are_summed_over_both_layers_and_epochs_differenced():
    cc = load_crosscheck()
    parts = {
        f"{layer} {p}": 0.0
        for layer in ("IH", "HO")
        for names in cc.AREA_PARTS.values()
        for p in names
    }
    parts.update({"IH areaArray": 3e-10, "HO areaArray": 1e-10, "HO neuron.dff": 2e-12})
    keys = (
        "cell read energy",
        "periphery read energy",
        "cell write energy",
        "periphery write energy",
        "read latency",
        "write latency",
    )
    epochs = [
        {
            "epoch": e,
            "parts": {
                f"{layer} {k}": e * (1.0 if layer == "IH" else 0.5)
                for layer in ("IH", "HO")
                for k in keys
            },
        }
        for e in (1, 2)
    ]
    area, energy = cc.neurosim_figures({"parts_area_m2": parts, "epochs": epochs}, epoch=2)
    assert area["array"] == pytest.approx(400.0) and area["storage"] == pytest.approx(2.0)
    assert energy["cell write energy"] == pytest.approx(1.5)  # (2 + 1) - (1 + 0.5)


def test_our_side_is_the_cost_model_on_the_runs_epoch_pulses(tmp_path):
    from sbp_core import cost

    cc = load_crosscheck()
    (tmp_path / "metrics.json").write_text(
        '{"layers": [[401, 100], [101, 10]], "input_activity": 0.25}'
    )
    (tmp_path / "spec.json").write_text('{"epoch_samples": 8000}')
    (tmp_path / "history.csv").write_text(
        "epoch,set_pulses_l1,reset_pulses_l1,set_pulses_l2,reset_pulses_l2\n"
        "1,8000,16000,800,0\n2,1,1,1,1\n"
    )
    device = cc.device_of("ag_si")
    assert device.g_max_s == 1 / 26e6 and device.v_reset == 2.8
    yaml = SCRIPT.parents[2] / "config" / "cost.yaml"
    area, energy, cells = cc.ours(tmp_path, device, 1, yaml, structure=False)
    c = cost.constant_values(cost.load_constants(yaml))
    layers = cost.make_layers(
        [[401, 100], [101, 10]], [1, 0.1], [2, 0], 0.25, c["workload.line_activity"]
    )
    expected = cost.network_cost("conventional", layers, device, c)
    assert area == expected.area_um2
    assert energy["write"] == pytest.approx(8000 * expected.energy_J["write"])
    assert cells == pytest.approx(
        8000 * (cost.programming_energy(device, 1, 2) + cost.programming_energy(device, 0.1, 0))
    )
    _, _, halved = cc.ours(tmp_path, device, 1, yaml, structure=True)
    assert halved == pytest.approx(cells / 2)


def test_the_curves_table_sets_our_runs_beside_neurosims_epochs(tmp_path):
    """NeuroSim reached 2 epochs, our run 3: the mean runs over epochs 1-2 on both rows."""
    curves_path = SCRIPT.with_name("curves.py")
    spec_ = importlib.util.spec_from_file_location("curves", curves_path)
    curves = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(curves)
    (tmp_path / "ns_a").mkdir()
    (tmp_path / "ns_a" / "neurosim.log").write_text(
        "Accuracy at 1 epochs is : 60.00%\nAccuracy at 2 epochs is : 64.00%\n"
    )
    (tmp_path / "ours_a").mkdir()
    (tmp_path / "ours_a" / "history.csv").write_text("epoch,test_acc\n1,0.5\n2,0.7\n3,0.9\n")
    table = curves.table(
        ["a"], str(tmp_path / "ns_{device}"), [("mine", str(tmp_path / "ours_{device}"))], 3
    )
    lines = table.splitlines()
    assert lines[2] == "| a | NeuroSim | 60.00 | 64.00 | — | 62.00 (1-2) |  |"
    assert lines[3] == "| a | mine | 50.00 | 70.00 | 90.00 | 60.00 (1-2) | -2.00 |"
    with pytest.raises(SystemExit, match="history.csv: not found"):
        curves.table(["b"], str(tmp_path / "ns_a"), [("x", str(tmp_path / "none"))], 3)
