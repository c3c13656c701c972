"""Measured pulse-response curves: the CSV format, column mappings, one-line errors, and the
example file the README fits (regenerated here, so it cannot go stale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbp_core.chip.device import PRESETS
from sbp_core.errors import ConfigError
from sbp_core.fitting.curves import (
    COLUMNS,
    curves_text,
    parse_mapping,
    read_curves,
    simulate_curves,
    write_curves,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "curves.csv"
EXAMPLE_DEVICE = PRESETS["epiram"].with_overrides(d2d_sigma=0.05)
"""The device examples/curves.csv was simulated from: three EpiRAMs with 5 % D2D spread."""


def example_curves():
    """The README's example experiment: three devices, three cycles each (seed 12)."""
    return simulate_curves(EXAMPLE_DEVICE, n_devices=3, cycles=3, seed=12)


def test_the_example_file_is_what_the_generator_gives():
    assert EXAMPLE.read_text() == curves_text(example_curves())


def test_curves_survive_a_round_trip_through_a_file(tmp_path):
    curves = example_curves()
    write_curves(tmp_path / "c.csv", curves)
    again = read_curves(tmp_path / "c.csv")
    assert again.devices == ("d1", "d2", "d3") and len(again.ramps) == len(curves.ramps) == 18
    for ramp, read in zip(curves.ramps, again.ramps, strict=True):
        assert (read.device, read.cycle, read.direction) == (
            ramp.device,
            ramp.cycle,
            ramp.direction,
        )
        np.testing.assert_array_equal(read.pulse, ramp.pulse)
        np.testing.assert_allclose(read.conductance_s, ramp.conductance_s, rtol=1e-8)


def test_a_simulated_experiment_overdrives_both_bounds():
    curves = simulate_curves(PRESETS["epiram"], cycles=2, seed=1)
    (set_ramp, reset_ramp, *_) = curves.ramps
    assert set_ramp.pulse[-1] == 70 and reset_ramp.pulse[-1] == 70  # 63 pulses and 10 % more
    params = PRESETS["epiram"]
    g_max, g_min = params.g_max_s, params.g_max_s / params.on_off
    assert set_ramp.conductance_s[0] == pytest.approx(g_min, rel=1e-6)
    assert curves.conductances("d1").max() == pytest.approx(g_max, rel=1e-6)


def test_a_probe_station_export_reads_with_column_and_label_mappings(tmp_path):
    export = tmp_path / "export.tsv"
    export.write_text(
        "# probe station 7, 2026-01-01\n"
        "Polarity\tPulse #\tG (uS)\tNotes\n"
        "Positive\t0\t1.0\tstart\n"
        "Positive\t1\t1.5\t\n"
        "Positive\t2\t1.9\t\n"
        "Negative\t0\t1.9\t\n"
        "Negative\t1\t1.2\t\n"
    )
    curves = read_curves(
        export,
        columns=parse_mapping(
            "direction=Polarity, pulse=Pulse #,conductance_S=G (uS)", "c", COLUMNS
        ),
        directions={"set": "positive", "reset": "NEGATIVE"},
        conductance_scale=1e-6,
    )
    assert curves.devices == ("1",)  # no device column: one device, one cycle
    set_ramp, reset_ramp = curves.ramps
    assert set_ramp.direction == "set" and reset_ramp.direction == "reset"
    np.testing.assert_allclose(set_ramp.conductance_s, [1.0e-6, 1.5e-6, 1.9e-6])
    before, after = reset_ramp.steps()
    np.testing.assert_allclose([before, after], [[1.9e-6], [1.2e-6]])


def test_steps_are_consecutive_pulses_only(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(
        "direction,pulse,conductance_S\nset,0,1\nset,1,2\nset,3,4\nset,4,5\nreset,0,5\nreset,1,3\n"
    )
    before, after = read_curves(path).ramps[0].steps()
    np.testing.assert_array_equal(before, [1, 4])
    np.testing.assert_array_equal(after, [2, 5])


GOOD = "device,cycle,direction,pulse,conductance_S\n" + "".join(
    f"A,1,{d},{p},{g}\n" for d, values in (("set", (1, 2, 3)), ("reset", (3, 2, 1)))
    for p, g in enumerate(values)
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("conductance_S", "G"), r"missing column 'conductance_S'.*--columns"),
        (GOOD.replace("A,1,set,2,3", "A,1,set,0,3"), r"line 4: pulse 0 follows pulse 1 in the set"),
        (GOOD.replace("A,1,set,1,2", "A,1,set,1,-2"), r"line 3: negative conductance -2"),
        (
            GOOD.replace("A,1,reset,1,2\nA,1,reset,2,1\n", ""),
            r"reset ramp of device A, cycle 1 has",
        ),
        (
            GOOD.replace("A,1,set,1,2", "A,1,set,1,two"),
            r"line 3: conductance 'two' is not a number",
        ),
        (GOOD.replace("A,1,set,1,2", "A,1,set,1.5,2"), r"line 3: pulse '1.5' is not a whole"),
        (GOOD.replace("A,1,set,1,2", "A,1,up,1,2"), r"line 3: direction 'up' is none of"),
        (GOOD.replace("A,1,set,1,2", "A,1,set,1"), r"line 3: 4 fields where the header has 5"),
        (GOOD.replace("A,1,set,1,2", "A,1,set,1,nan"), r"line 3: conductance 'nan' is not a fin"),
        (GOOD.split("A,1,reset")[0], r"no reset ramp of device A; a fit needs both directions"),
        (GOOD.replace("A,1,set,1,2\nA,1,set,2,3", "A,1,set,2,1\nA,1,set,4,1"), r"no two consec"),
        (GOOD.replace(",3\n", ",1\n").replace(",2\n", ",1\n"), r"conductance of device A never"),
        (GOOD.splitlines()[0] + "\n", r"no data rows after the header"),
        ("", r"no header row"),
    ],
)
def test_a_malformed_curves_file_stops_with_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "curves.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        read_curves(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_bad_mappings_and_a_missing_file_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"--columns: unknown name 'colour'"):
        parse_mapping("colour=red", "--columns", COLUMNS)
    with pytest.raises(ConfigError, match=r"--columns: expected NAME=VALUE, got 'pulse'"):
        parse_mapping("pulse", "--columns", COLUMNS)
    with pytest.raises(ConfigError, match=r"missing column 'pulse' \(mapped to 'P'\)"):
        (tmp_path / "c.csv").write_text(GOOD)
        read_curves(tmp_path / "c.csv", columns={"pulse": "P"})
    with pytest.raises(ConfigError, match=r"set and reset need different labels"):
        read_curves(tmp_path / "c.csv", directions={"set": "x", "reset": "X"})
    with pytest.raises(ConfigError, match=r"nowhere.csv: curves file not found"):
        read_curves(tmp_path / "nowhere.csv")
