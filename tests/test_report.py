"""Collect, tables and figures from synthetic run folders in the run-folder contract format."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sbp_core import provenance
from sbp_core.chip.device import PRESETS
from sbp_core.errors import DataError
from sbp_core.report import page
from sbp_core.report.collect import collect, in_sweep, run_row
from sbp_core.report.figures import AXIS_UNITS, draw
from sbp_core.report.tables import display, summarize, write_tables
from sbp_core.spec import RunSpec

EPOCHS = 3
DATA = "d1a7" * 16
"""The data identity of every synthetic run."""


STARTED_AT, TRAINING_S = 1_700_000_000.0, 12.5
"""When a made-up run's training started (Unix time) and how long it took."""


def write_run_folder(root: Path, spec: RunSpec, accuracy: float) -> Path:
    """A finished run folder as `sbp-bench train` writes it, with made-up numbers."""
    folder = root / spec.run_id
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({**spec.to_dict(), "run_id": spec.run_id}))
    crossbar = spec.method in ("sbp", "exsitu", "manhattan")
    pulses = 1000 if crossbar else 0
    history = pd.DataFrame(
        {
            "epoch": range(1, EPOCHS + 1),
            "train_acc": [accuracy - 0.1 + 0.05 * e for e in range(EPOCHS)],
            "val_acc": accuracy - 0.01,
            "test_acc": [accuracy - 0.1 + 0.05 * e for e in range(EPOCHS)],
            "loss": None if crossbar else 0.5,
            "set_pulses": pulses,
            "reset_pulses": pulses // 2,
            "set_pulses_l1": pulses // 2,
            "reset_pulses_l1": pulses // 4,
            "set_pulses_l2": pulses // 2,
            "reset_pulses_l2": pulses // 4,
            "saturated_fraction": 0.01 if crossbar else None,
            "wall_time_s": [0.1 * e for e in range(1, EPOCHS + 1)],
        }
    )
    history.to_csv(folder / "history.csv", index=False)
    device = {"name": spec.device, "n_states": spec.n_states or 100, "g_max_s": 1e-6}
    metrics = {
        "run_id": spec.run_id,
        "method": spec.method,
        "dataset": spec.dataset,
        "status": "ok",
        "stop_reason": None,
        "epochs_run": EPOCHS,
        "final_train_acc": accuracy,
        "final_val_acc": accuracy - 0.01,
        "final_test_acc": accuracy,
        "best_val_acc": accuracy - 0.01,
        "best_epoch": EPOCHS,
        "test_acc_at_best_val": accuracy,
        "wall_time_s": 0.3,
        "n_train": 100,
        "n_val": 10,
        "n_test": 50,
        "layers": [[65, 4], [5, 10]],
        "set_pulses_per_layer": [pulses * EPOCHS // 2] * 2,
        "reset_pulses_per_layer": [pulses * EPOCHS // 4] * 2,
        "total_set_pulses": pulses * EPOCHS,
        "total_reset_pulses": pulses * EPOCHS // 2,
        "saturated_fraction": 0.01 if crossbar else None,
        "confusion_matrix": np.eye(10, dtype=int).tolist(),
        "device": device if crossbar else None,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "provenance.json").write_text(json.dumps(provenance.record()))
    timing = {"started_at": STARTED_AT, "finished_at": STARTED_AT + TRAINING_S, "wall_time_s": 0.3}
    (folder / "timing.json").write_text(json.dumps(timing))
    state = {"G_plus_l1": np.full((65, 4), 1e-7)} if crossbar else {"W1": np.zeros((64, 4))}
    np.savez(folder / "arrays.npz", **state)
    return folder


def sweep(name: str, methods: list[str], **axes: list) -> dict:
    """A sweep as sbp_core.grid.Sweep.to_dict() gives it to the scripts."""
    return {"name": name, "description": "", "methods": methods, "axes": axes, "seeds": [0, 1]}


SWEEPS = {
    "methods": sweep("methods", ["sbp", "float"]),
    "states": sweep("states", ["sbp"], n_states=[16, 4]),
    "devices": sweep("devices", ["sbp"], device=["ideal", "pcmo"]),
    "grid": sweep("grid", ["sbp", "exsitu"], c2c_sigma=[0.0, 0.1], d2d_sigma=[0.0, 0.2]),
}


def synthetic_runs(root: Path) -> tuple[list[Path], dict[str, list[str]]]:
    """Two seeds of every grid point of SWEEPS; accuracy = 0.8 + seed/100 (+ 0.1 for float)."""
    folders, memberships = [], {}

    def add(sweep: str, **fields) -> None:
        for seed in (0, 1):
            spec = RunSpec(epochs=EPOCHS, seed=seed, data_sha256=DATA, **fields)
            if spec.run_id not in memberships:
                accuracy = 0.8 + seed / 100 + (0.1 if fields["method"] == "float" else 0.0)
                accuracy -= fields.get("c2c_sigma") or 0.0
                folders.append(write_run_folder(root, spec, accuracy))
            memberships.setdefault(spec.run_id, []).append(sweep)

    for method in ("sbp", "float"):
        add("methods", method=method)
    for n_states in (4, 16):
        add("states", method="sbp", n_states=n_states)
    for device in ("ideal", "pcmo"):
        add("devices", method="sbp", device=device)
    for method in ("sbp", "exsitu"):
        for c2c in (0.0, 0.1):
            for d2d in (0.0, 0.2):
                add("grid", method=method, c2c_sigma=c2c, d2d_sigma=d2d)
    return folders, memberships


@pytest.fixture
def tidy(tmp_path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folders, memberships = synthetic_runs(tmp_path / "runs")
    runs, history = collect(folders, memberships)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    history.to_csv(tmp_path / "history.csv", index=False)
    return pd.read_csv(tmp_path / "runs.csv"), pd.read_csv(tmp_path / "history.csv")


def test_collect_makes_one_row_per_run_with_every_field(tidy):
    runs, history = tidy
    assert len(runs) == runs["run_id"].nunique() == 2 * (2 + 2 + 1 + 8)  # ideal sbp is shared
    for column in ("method", "n_states", "seed", "final_test_acc", "total_set_pulses", "sweeps"):
        assert column in runs
    assert {"device.n_states", "device.g_max_s"} <= set(runs.columns)
    assert json.loads(runs["layers"].iloc[0]) == [[65, 4], [5, 10]]
    assert len(json.loads(runs["confusion_matrix"].iloc[0])) == 10
    shared = runs[runs["sweeps"].str.contains(";")]
    assert set(shared["sweeps"]) == {"methods;devices"}
    assert len(history) == EPOCHS * len(runs)
    assert {"epoch", "test_acc", "method", "c2c_sigma", "sweeps"} <= set(history.columns)


def test_in_sweep_selects_members_only(tidy):
    runs, _ = tidy
    assert len(in_sweep(runs, "devices")) == 4
    assert len(in_sweep(runs, "grid")) == 16
    assert in_sweep(runs, "nothing").empty


def test_collect_names_an_unfinished_run(tmp_path):
    folder = write_run_folder(tmp_path, RunSpec(epochs=EPOCHS), 0.5)
    (folder / "metrics.json").unlink()
    with pytest.raises(DataError, match=r"metrics\.json: missing"):
        collect([folder], {})


def test_summary_is_mean_and_sd_over_seeds_in_config_order(tidy):
    runs, _ = tidy
    summary = summarize(runs, SWEEPS["states"])
    assert list(summary["n_states"]) == [16, 4]
    assert summary["n_seeds"].tolist() == [2, 2]
    assert summary["final_test_acc_mean"].tolist() == pytest.approx([0.805, 0.805])
    assert summary["final_test_acc_std"].tolist() == pytest.approx([0.00707107] * 2)
    grid = summarize(runs, SWEEPS["grid"])
    assert len(grid) == 8 and list(grid["method"][:4]) == ["sbp"] * 4


def test_runs_on_other_data_are_never_averaged_together(tidy):
    runs, _ = tidy
    other = runs[runs["seed"] == 1].assign(data_sha256="0" * 64, final_test_acc=0.1)
    summary = summarize(pd.concat([runs[runs["seed"] == 0], other]), SWEEPS["states"])
    assert summary["n_seeds"].tolist() == [1, 1, 1, 1]
    assert set(summary["data_sha256"]) == {DATA, "0" * 64}
    assert summary["final_test_acc_mean"].min() == pytest.approx(0.1)


def test_device_table_sits_beside_the_neurosim_figures(tidy):
    runs, _ = tidy
    summary = summarize(runs, SWEEPS["devices"])
    pcmo = summary.set_index("device").loc["pcmo", "neurosim_accuracy"]
    assert pcmo == PRESETS["pcmo"].neurosim_accuracy
    assert np.isnan(summary.set_index("device").loc["ideal", "neurosim_accuracy"])


def test_device_table_gives_each_presets_symmetry_point(tidy):
    """docs/symmetry_points.md's table: pcmo's point at 27 % of its range, attracting; the
    linear ideal device balances everywhere (mid-range, not attracting)."""
    runs, _ = tidy
    summary = summarize(runs, SWEEPS["devices"]).set_index("device")
    assert summary.loc["pcmo", "symmetry_point"] == pytest.approx(0.2724, abs=5e-5)
    assert summary.loc["pcmo", "symmetry_point_attracting"]
    assert summary.loc["ideal", "symmetry_point"] == 0.5
    assert not summary.loc["ideal", "symmetry_point_attracting"]
    shown = display(summarize(runs, SWEEPS["devices"]), SWEEPS["devices"]).set_index("device")
    assert shown.loc["pcmo", "symmetry point (% of range)"] == "27"
    assert shown.loc["ideal", "symmetry point (% of range)"] == "50, not attracting"


def test_tables_are_written_as_csv_markdown_and_latex(tidy, tmp_path):
    runs, _ = tidy
    paths = [tmp_path / f"devices.{ext}" for ext in ("csv", "md", "tex")]
    write_tables(runs, SWEEPS["devices"], *map(str, paths))
    assert len(pd.read_csv(paths[0])) == 2
    markdown = paths[1].read_text()
    assert f"| sbp | pcmo | data {DATA[:12]} | 2 | 33 | 27 | 80.5 ± 0.7 |" in markdown
    latex = paths[2].read_text()
    assert r"\begin{tabular}{lllrrrrrr}" in latex
    assert r"80.5 $\pm$ 0.7" in latex and r"test acc. (\%)" in latex


@pytest.mark.parametrize(
    ("kind", "sweep"),
    [
        ("methods", "methods"),
        ("curves", "methods"),
        ("pulses", "methods"),
        ("axis", "states"),
        ("presets", "devices"),
        ("heatmap", "grid"),
    ],
)
def test_every_figure_kind_fits_a_page_and_labels_its_axes_with_units(
    tidy, tmp_path, readable, kind, sweep
):
    runs, history = tidy
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    readable(
        draw(kind, runs, history, SWEEPS[sweep]), png, lambda fig, png: page.save(fig, png, pdf)
    )
    assert png.read_bytes().startswith(b"\x89PNG") and pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("kind, sweep", [("methods", "methods"), ("axis", "states")])
def test_a_figure_drawn_twice_from_the_same_runs_is_the_same_file(tidy, tmp_path, kind, sweep):
    runs, history = tidy
    drawn = []
    for attempt in range(2):
        png, pdf = tmp_path / f"{attempt}.png", tmp_path / f"{attempt}.pdf"
        page.save(draw(kind, runs, history, SWEEPS[sweep]), png, pdf)
        drawn.append((png.read_bytes(), pdf.read_bytes()))
    assert drawn[0] == drawn[1]


def test_every_numeric_field_a_sweep_can_vary_has_a_unit():
    from sbp_core.grid import with_spec_parts

    schema = with_spec_parts(
        yaml.safe_load((Path(__file__).resolve().parents[1] / "config/schema.yaml").read_text())
    )
    types = {f.name: str(f.type) for f in dataclasses.fields(RunSpec)}
    numeric = [
        name
        for name in schema["$defs"]["axis_field"]["enum"]
        if "int" in types[name] or "float" in types[name]
    ]
    assert "c2c_sigma" in numeric and "device" not in numeric
    assert [name for name in numeric if name not in AXIS_UNITS] == []


def svg_texts(svg: str) -> tuple[tuple[float, float], list[tuple[str, tuple[float, ...]]]]:
    """The canvas size and every text of an SVG with its box, estimated from the font size (a
    character is at most 0.62 em wide in DejaVu Sans; a box is one em high)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    texts = []
    for node in root.iter("{http://www.w3.org/2000/svg}text"):
        x, y, size = (float(node.get(key)) for key in ("x", "y", "font-size"))
        width = 0.62 * size * len(node.text)
        start = {"start": 0.0, "middle": 0.5, "end": 1.0}[node.get("text-anchor")] * width
        box = (x - start, y - size, x - start + width, y)
        if node.get("transform"):  # rotated a quarter turn about (x, y)
            box = (x - size, y - start, x, y - start + width)
        texts.append((node.text, box))
    return (float(root.get("width")), float(root.get("height"))), texts


DEVICE_STATE = {
    "G_plus_l1": np.full((65, 4), 0.1), "G_minus_l1": np.full((65, 4), 0.2),
    "A_plus_l1": np.linspace(0.0, 1.0, 260).reshape(65, 4),
    "H_l1": np.ones((65, 4)),  # TTv2's digital buffer: not a device
}  # fmt: skip
"""Saved conductances are fractions of the device's Gmax."""


@pytest.mark.parametrize(
    "kind, arrays, g_max_s, legend, x_label, y_label",
    [
        ("confusion", None, None, [], "predicted class (label index)", "true class (label index)"),
        ("histogram", DEVICE_STATE, 2e-5, ["G_plus_l1", "G_minus_l1", "A_plus_l1"],
         "conductance (µS)", "devices (count)"),
        ("histogram", DEVICE_STATE, None, ["G_plus_l1", "G_minus_l1", "A_plus_l1"],
         "conductance (G / Gmax)", "devices (count)"),
        ("histogram", {"W1": np.zeros((64, 4)), "b1": np.arange(4.0)}, None, ["W1", "b1"],
         "weight (unitless)", "weights (count)"),
    ],
)  # fmt: skip
def test_run_figures_for_mlflow_are_labelled_and_no_text_overlaps(
    kind, arrays, g_max_s, legend, x_label, y_label
):
    from sbp_core.report import run_figures

    counts = np.arange(100).reshape(10, 10)
    if kind == "confusion":
        svg = run_figures.confusion(counts)
    else:
        svg = run_figures.histogram(arrays, g_max_s)
    (width, height), texts = svg_texts(svg)
    words = [text for text, _ in texts]
    assert x_label in words and y_label in words
    if g_max_s:  # Gmax 20 uS: the x axis (its tick labels share a baseline) spans 0 to 20 uS
        numbers = [(box[3], float(text)) for text, box in texts if text.replace(".", "").isdigit()]
        baseline = max(bottom for bottom, _ in numbers)
        ticks = [value for bottom, value in numbers if bottom == baseline]
        assert min(ticks) == 0 and max(ticks) == 20
    assert [word for word in words if word.startswith(("G_", "A_", "H_", "W", "b"))] == legend
    if kind == "confusion":
        numbers = sorted(int(word) for word in words if word.isdigit())
        assert numbers == sorted([*range(100), *range(10), *range(10)])  # cells, then the ticks
    for text, (left, top, right, bottom) in texts:
        assert min(left, top) >= 0 and right <= width and bottom <= height, text
    for index, (text, box) in enumerate(texts):
        for other, other_box in texts[index + 1 :]:
            apart = (box[2] <= other_box[0] or other_box[2] <= box[0]
                     or box[3] <= other_box[1] or other_box[3] <= box[1])  # fmt: skip
            assert apart, (text, box, other, other_box)


def test_a_sweep_without_runs_gets_a_labelled_empty_figure(tidy):
    runs, history = tidy
    empty = {**SWEEPS["states"], "name": "absent"}
    figure = draw("axis", runs, history, empty)
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert texts == ["no finished runs in sweep 'absent'"]


def test_a_run_from_before_a_rules_fields_collects_them_at_their_defaults():
    """An sbp run's spec.json written before ttv2 existed lacks ttv2_bl: its row holds the
    default 31 (the value it ran with), so it groups with the same configuration run since."""
    old = {k: v for k, v in RunSpec().to_dict().items() if not k.startswith(("ttv2_", "cttv2_"))}
    row = run_row(old, {"run_id": "x"}, "devices")
    now = run_row(RunSpec().to_dict(), {"run_id": "x"}, "devices")
    assert row["ttv2_bl"] == 31 and row["cttv2_chop_every"] == 30
    assert row == now
    assert list(now) == [*RunSpec().to_dict(), "run_id", "sweeps"]  # the column order of before


def test_known_data_are_named_in_words_and_the_digits_identity_is_recomputed():
    from sbp_core.identity import of_digits
    from sbp_core.report.names import DIGITS_SHA256, data_name

    assert of_digits() == DIGITS_SHA256
    assert data_name(DIGITS_SHA256) == "UCI digits"
    assert data_name("554dd433904b005dbec8dca91b28e2cb0905b5b094d63147726af5a8a1d4e3de") == "MNIST"
    assert data_name(DATA) == f"data {DATA[:12]}"


def test_tables_and_figures_name_their_dataset(tidy, tmp_path):
    from sbp_core.report.names import DIGITS_SHA256

    runs, history = tidy
    runs["data_sha256"], history["data_sha256"] = DIGITS_SHA256, DIGITS_SHA256
    paths = [tmp_path / f"devices.{ext}" for ext in ("csv", "md", "tex")]
    write_tables(runs, SWEEPS["devices"], *map(str, paths))
    markdown = paths[1].read_text()
    assert markdown.startswith("**devices (UCI digits)") and "| UCI digits |" in markdown
    for kind, name in [("methods", "methods"), ("curves", "methods"), ("presets", "devices")]:
        title = draw(kind, runs, history, SWEEPS[name]).axes[0].get_title()
        assert title.endswith("(UCI digits)")


def test_neurosim_diamonds_only_beside_mnist_runs(tidy):
    from sbp_core.fetch import OFFICIAL_SHA256
    from sbp_core.identity import of_checksums

    runs, history = tidy
    on_digits = draw("presets", runs, history, SWEEPS["devices"]).axes[0]
    assert "NeuroSim V3 (MNIST)" not in on_digits.get_legend_handles_labels()[1]
    runs["data_sha256"] = of_checksums(OFFICIAL_SHA256)
    on_mnist = draw("presets", runs, history, SWEEPS["devices"]).axes[0]
    assert "NeuroSim V3 (MNIST)" in on_mnist.get_legend_handles_labels()[1]


def test_a_device_axis_of_only_a_device_file_draws_its_figure(tidy, tmp_path, readable):
    """Every NeuroSim reference is NaN there: the figure drew nothing but a ConversionError."""
    from sbp_core.fetch import OFFICIAL_SHA256
    from sbp_core.identity import of_checksums

    runs, history = tidy
    devices = runs[runs["sweeps"].str.contains("devices")].copy()
    devices["device"] = "my_device.yaml"
    devices["data_sha256"] = of_checksums(OFFICIAL_SHA256)
    files_only = sweep("devices", ["sbp"], device=["my_device.yaml"])
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    fig = draw("presets", devices, history, files_only)
    assert [bar.get_height() > 0 for bar in fig.axes[0].patches].count(True) >= 1
    readable(fig, png, lambda fig, png: page.save(fig, png, pdf))


def test_pulses_figure_tells_set_from_reset_by_line_and_marker(tidy):
    runs, history = tidy
    ax = draw("pulses", runs, history, SWEEPS["methods"]).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    styles = {
        label: (h.get_linestyle(), h.get_marker()) for h, label in zip(handles, labels, strict=True)
    }
    assert styles["SET"] != styles["RESET"]
    assert styles["SET"][0] != styles["RESET"][0] and styles["SET"][1] != styles["RESET"][1]


@pytest.mark.mnist
def test_the_official_mnist_files_are_named_mnist(mnist_dir):
    from sbp_core.identity import of_folder
    from sbp_core.report.names import data_name

    assert data_name(of_folder(mnist_dir)) == "MNIST"
