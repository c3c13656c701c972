"""The compiled pulse engine equals its readable numpy twins bit for bit, noise included."""

from __future__ import annotations

import numpy as np
import pytest

from sbp_core import jit
from sbp_core.chip import engine
from sbp_core.chip.crossbar import Crossbar
from sbp_core.chip.device import PRESETS
from sbp_core.chip.kinds.lookup_table import TableDeviceParams
from sbp_core.fitting.curves import simulate_curves
from sbp_core.fitting.fit import fit_device


def crossbar(params, scheme="pair", seed=3, shape=(30, 20)):
    return Crossbar(*shape, params, np.random.default_rng(seed), 0.5, scheme)


NOISY = PRESETS["ag_si"].with_overrides(
    d2d_sigma=0.1, stuck_gmax=0.05, read_noise=0.05, r_access_ohm=2e7
)
"""Every noise source on, and an access transistor of 0.77 / Gmax in series with each cell."""
TABLES = fit_device(
    simulate_curves(PRESETS["ag_si"].with_overrides(d2d_sigma=0.1), n_devices=3, seed=1),
    model="lookup_table",
    bins=8,
).params
"""A lookup-table device of three measured devices (each simulated device follows one)."""
NOISY_TABLES = TABLES.with_overrides(stuck_gmax=0.05, read_noise=0.05)
BOTH = pytest.mark.parametrize("params", [NOISY, NOISY_TABLES], ids=["neurosim", "table"])


def test_layer_layout_places_each_layer_in_the_flat_buffers():
    """Hand-worked, 4-3-2-2 with bias rows: layers of 5x3, 4x2 and 3x2 devices. Rows start at
    0, 5, 9 (12 in all), columns at 0, 3, 5 (7 in all); the largest layer has 15 pairs."""
    layers = tuple(
        crossbar(PRESETS["ideal"], shape=shape).arrays() for shape in ((5, 3), (4, 2), (3, 2))
    )
    row_start, col_start, biggest = engine.layer_layout(layers)
    assert row_start.tolist() == [0, 5, 9, 12]
    assert col_start.tolist() == [0, 3, 5, 7]
    assert biggest == 15


@BOTH
@pytest.mark.parametrize("scheme", ["pair", "single", "set_only"])
def test_compiled_apply_equals_the_numpy_reference(scheme, params):
    bars = [crossbar(params, scheme) for _ in range(2)]
    index = np.random.default_rng(1).choice(600, 250, replace=False)
    raise_weight = np.random.default_rng(2).random(250) < 0.5
    bars[0].apply(index, raise_weight, np.random.default_rng(4))
    counts = engine.apply_pulses(bars[1].arrays(), index, raise_weight, np.random.default_rng(4))
    bars[1].count_pulses(*counts)
    assert np.array_equal(bars[0].g_plus, bars[1].g_plus)
    assert np.array_equal(bars[0].g_minus, bars[1].g_minus)
    assert bars[0].take_pulse_counts() == bars[1].take_pulse_counts()


@BOTH
@pytest.mark.parametrize("probability", [1.0, 0.6])
@pytest.mark.parametrize("scheme", ["pair", "single", "set_only"])
def test_compiled_pulses_against_a_gradient_equal_the_numpy_reference(scheme, probability, params):
    """The Manhattan rule's update: a pulse against the sign of every non-zero gradient entry."""
    bars = [crossbar(params, scheme) for _ in range(2)]
    draws = np.random.default_rng(1)
    gradient = (draws.standard_normal((30, 20)) * (draws.random((30, 20)) < 0.7)).astype(np.float32)
    bars[0].pulse_against(gradient, np.random.default_rng(4), probability)
    bars[1].pulse_against_compiled(gradient, np.random.default_rng(4), probability)
    assert np.array_equal(bars[0].g_plus, bars[1].g_plus)
    assert np.array_equal(bars[0].g_minus, bars[1].g_minus)
    counts = bars[0].take_pulse_counts()
    assert counts == bars[1].take_pulse_counts()
    pairs = np.count_nonzero(gradient)
    pulsed = counts[0] + counts[1] if scheme != "pair" else counts[0]
    assert pulsed == pairs if probability == 1.0 else 0 < pulsed < pairs


@BOTH
@pytest.mark.parametrize("per_line", [False, True])
@pytest.mark.parametrize("scheme", ["pair", "single", "set_only"])
def test_pulsed_coincidences_equal_crossbar_pulse_and_keep_the_difference_current(
    scheme, per_line, params
):
    bars = [crossbar(params, scheme) for _ in range(2)]
    rows = np.array([0, 4, 7, 29])
    direction = np.zeros(20, dtype=np.int8)
    direction[[1, 5, 6, 19]] = [1, -1, -1, 1]
    bars[0].pulse(rows, direction, np.random.default_rng(5), probability=0.6, per_line=per_line)
    arrays = bars[1].arrays()
    scratch = np.empty(600, dtype=np.int64), np.empty(600, dtype=np.bool_)
    counts = engine.pulse_coincidences(
        arrays, rows, direction, 0.6, per_line, np.random.default_rng(5), *scratch
    )
    bars[1].count_pulses(*counts)
    assert np.array_equal(bars[0].g_plus, bars[1].g_plus)
    assert np.array_equal(bars[0].g_minus, bars[1].g_minus)
    assert np.array_equal(arrays.diff, bars[1].seen(bars[1].g_plus) - bars[1].seen(bars[1].g_minus))
    assert bars[0].take_pulse_counts() == bars[1].take_pulse_counts()


@BOTH
@pytest.mark.parametrize("scheme", ["pair", "single", "set_only"])
def test_pulse_trains_equal_crossbar_pulse_trains_and_keep_the_difference_current(scheme, params):
    bars = [crossbar(params, scheme) for _ in range(2)]
    index = np.random.default_rng(1).choice(600, 200, replace=False)
    n_pulses = np.random.default_rng(2).integers(-4, 5, size=200)
    bars[0].pulse_trains(index, n_pulses, np.random.default_rng(6))
    arrays = bars[1].arrays()
    scratch = np.empty(200, dtype=np.int64), np.empty(200, dtype=np.bool_)
    counts = engine.pulse_trains(arrays, index, n_pulses, np.random.default_rng(6), *scratch)
    bars[1].count_pulses(*counts)
    assert np.array_equal(bars[0].g_plus, bars[1].g_plus)
    assert np.array_equal(bars[0].g_minus, bars[1].g_minus)
    assert np.array_equal(arrays.diff, bars[1].seen(bars[1].g_plus) - bars[1].seen(bars[1].g_minus))
    expected = int(np.abs(n_pulses).sum())  # every pulse of every train, counted once
    set_pulses, reset_pulses = bars[0].take_pulse_counts()
    assert set_pulses + reset_pulses == (2 if scheme == "pair" else 1) * expected
    assert scheme != "set_only" or reset_pulses == 0
    assert (set_pulses, reset_pulses) == bars[1].take_pulse_counts()


def test_compiled_reads_equal_the_numpy_reads_with_read_noise():
    bar = crossbar(NOISY)
    rows = np.array([0, 2, 3, 5, 8, 13, 21, 29])  # 8 rows: the four-at-a-time path and the tail
    error = np.zeros(20, dtype=np.int8)
    error[[0, 3, 4, 17]] = [1, -1, 1, -1]
    for compiled, reference, argument in (
        (engine.read_rows, bar.read_rows, rows),
        (engine.read_columns, bar.read_columns, error),
    ):
        expected = reference(argument, np.random.default_rng(8))
        actual = compiled(bar.arrays(), argument, np.random.default_rng(8))
        assert actual.dtype == np.float32
        assert np.array_equal(actual, expected)


@pytest.mark.parametrize(
    "params", [NOISY, PRESETS["gst_pcm"].with_overrides(d2d_sigma=0.2), NOISY_TABLES]
)
def test_compiled_device_pulses_equal_device_respond(params):
    """Mixed SET and RESET pulses on one device array, C2C noise, D2D spread and stuck devices."""
    bar = crossbar(params, seed=5)
    index = np.arange(0, 600, 3)
    set_pulse = np.random.default_rng(7).random(index.size) < 0.5
    expected = bar.g_minus.copy()
    bar.minus.respond(expected, index, set_pulse, np.random.default_rng(6))
    engine.pulse_devices(
        bar.g_minus, bar.arrays().minus, index, set_pulse, True, np.random.default_rng(6)
    )
    assert np.array_equal(bar.g_minus, expected)
    assert not np.array_equal(expected, crossbar(params, seed=5).g_minus)  # the pulses moved it


def test_lookup_table_devices_follow_their_measured_devices_tables_and_stuck_ones_never_move():
    assert isinstance(NOISY_TABLES, TableDeviceParams) and NOISY_TABLES.c2c_sigma > 0
    bar = crossbar(NOISY_TABLES, seed=2)
    table = bar.plus.table
    assert set(np.unique(table)) == {-1, 0, 1, 2}  # all three tables, and stuck devices
    stuck = table == -1
    np.testing.assert_array_equal(bar.g_plus[stuck], bar.plus.g_hi[stuck])
    free = ~stuck
    np.testing.assert_array_equal(bar.plus.g_hi[free], TABLES.table.g_hi[table[free]])
    before = bar.g_plus.copy()
    index = np.arange(600)
    engine.apply_pulses(bar.arrays(), index, np.ones(600, dtype=bool), np.random.default_rng(3))
    assert np.array_equal(bar.g_plus[stuck], before[stuck])
    assert np.mean(bar.g_plus[free] > before[free]) > 0.6  # SET pulses mostly raise G+


def test_one_table_and_no_stuck_devices_share_one_record():
    one = TableDeviceParams(
        **{name: getattr(TABLES, name) for name in ("n_states", "on_off", "c2c_sigma")},
        table=type(TABLES.table).from_knots(
            TABLES.table.devices[:1],
            [(float(TABLES.table.g_lo[0]), float(TABLES.table.g_hi[0]))],
            [tuple(TABLES.table.knot_table(0, d) for d in (0, 1))],
        ),
    )
    assert crossbar(one).arrays().plus.devices.shape == (1,)
    assert crossbar(TABLES).arrays().plus.devices.shape == (600,)


def test_devices_that_respond_alike_share_one_record():
    ideal, spread = crossbar(PRESETS["ideal"]), crossbar(NOISY)
    assert ideal.arrays().plus.shape == (1,) and ideal.arrays().plus.dtype == engine.RESPONSE
    assert spread.arrays().plus.shape == (600,)
    record = spread.arrays().minus[37]
    assert record["g_hi"] == spread.minus.g_hi.flat[37]
    assert record["noise_sigma"] == spread.minus.noise_sigma.flat[37]


STALE_CACHE_PROBE = """
import sys
import numpy as np
from sbp_core.methods import sbp_kernel
from sbp_core.methods.sbp import SBPLearner
from sbp_core.spec import RunSpec
X, y = np.random.default_rng(0).random((50, 6)) < 0.5, np.arange(50) % 3
rng = np.random.default_rng(1)
SBPLearner(RunSpec(n_hidden=4), 6, 3, rng).fit_epoch(X, y, rng)
print(sum(sbp_kernel.train_epoch.stats.cache_hits.values()))
"""


@pytest.mark.slow
def test_a_changed_engine_invalidates_the_cached_kernels_that_call_it(tmp_path):
    """numba stamps a cached function with its own file only; sbp_core.jit adds engine.py, so a
    kernel cached before an engine change is compiled again, never loaded with the old engine."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    package = tmp_path / "sbp_core"
    shutil.copytree(
        Path(engine.__file__).parents[1], package, ignore=shutil.ignore_patterns("*.nb?")
    )
    environment = {"PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def cache_hits() -> int:
        probe = subprocess.run(
            [sys.executable, "-c", STALE_CACHE_PROBE], env=environment, cwd=tmp_path,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return int(probe.stdout.split()[-1])

    assert cache_hits() == 0  # compiled and cached
    assert cache_hits() == 1  # loaded from the cache
    with open(package / "chip" / "engine.py", "a") as source:
        source.write("\n# an edit\n")
    assert cache_hits() == 0  # the engine changed: compiled again
    assert cache_hits() == 1
    # a cache index pickles argument types by module path: once modules move, an old index
    # cannot be unpickled, so a new layout must never open it (it compiles again instead)
    (package / "chip" / "moved.py").write_text("")
    assert cache_hits() == 0
    assert cache_hits() == 1


def test_the_cache_layout_tag_follows_the_module_paths_not_their_order():
    assert jit.layout_tag(["a.py", "chip/engine.py"]) == jit.layout_tag(["chip/engine.py", "a.py"])
    assert jit.layout_tag(["a.py", "chip/engine.py"]) != jit.layout_tag(["a.py", "engine.py"])
