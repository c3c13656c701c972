"""Periphery area and energy of one training sample: SBP versus conventional analog backprop.

The paper's second claim is that SBP's binary forward and 2-bit backward interfaces save periphery.
A saving is only meaningful if both designs pay for the same array, line switches and programming
pulses, so this model charges both designs for every part and differs only where the designs do.

One layer is an m x n crossbar (m rows including the always-on bias row, n neuron columns, each
weight a differential pair of devices). Per training sample, per layer, with the components named
in `COMPONENTS`:

array          cells' area; read energy V_read^2 G_read t_read per driven cell and read cycle
               (G_read = mean over a uniform spread of states of G / (1 + R_access G), the
               conductance a read sees through the cell's access transistor; G_mid without one).
               SBP reads once forward and once backward; the conventional design reads once per
               bit-serial input cycle.
decoders       one switch-matrix line (a flip-flop; NeuroSim pairs it with a transmission gate whose
               area is left out) per row and column, selected for each read and write phase; the
               same in both designs.
input_drivers  SBP: a 1-bit driver (1-bit DAC) per row, and per column for the ternary backward
               drive. Conventional: a `dac_bits` DAC per row and column, ceil(bits / dac_bits)
               cycles per read (bit-serial inputs and errors).
readout        SBP: one comparator per column (neuron) and two per hidden row (ternary error).
               Conventional: one ADC per `columns_per_adc` columns or rows, E = FOM_W 2^ENOB per
               conversion, plus a shift-and-add per conversion when inputs are bit-serial.
storage        SBP: 1 bit per layer input (held for the update) and 2 bits per neuron error.
               Conventional: input/activation bits and error bits per neuron, in flip-flops.
error_compute  SBP: two margin comparators per output, two gate comparators per hidden neuron when
               the gate is on. Conventional: digital output subtraction, two multiplies per hidden
               neuron (derivative h(1-h) and error), the learning-rate scaling per column, and the
               outer product x_j * delta_i where the layer input is multi-bit; one multiplier and
               adder per `columns_per_adc` columns.
write          programming energy of the pulses actually applied, (V^2 G_mid t_w) per pulse (V and
               t_w of its direction: SET's, or RESET's own where the device gives it), and
               the charge of the driven lines (NeuroSim's C V^2 term). SBP pulses every coincident
               device in one parallel step per polarity (all lines charged once per phase, an upper
               bound). The conventional multi-bit update writes row by row: each weight receives a
               pulse train whose length is its quantized update, loaded into a signed counter per
               column (ceil(log2 n_states) + 1 bits), and every pulse charges its column line.
pulse_rng      SBP with stochastic pulses (pulse_prob < 1): a `stochastic.rng_bits` LFSR per row
               and column line and a digital compare of its number with the pulse probability,
               one step per sample (the schedule only changes the threshold it compares with).
               The Manhattan rule's (conventional periphery, rows written one by one): an LFSR
               and compare per column, one step per row written, a fresh number for every pair.
refresh        SBP's pair refresh (`refresh_every`): every device read once per cycle, a
               ceil(log2 n_states)-bit ADC conversion per rewritten pair (one shared ADC per
               layer) and a ceil(log2(refresh_every + 1))-bit sample counter; the cycle's erase
               and SET pulses are in the layer's pulse counts, so `write` charges them.

The rules on the conventional periphery that buffer their update digitally (docs/
ttv2_and_mixed_precision.md) pay the conventional design and, in components of their own
(`BUFFERED_COMPONENTS`; zero in the two designs above):

fast_array     `ttv2` / `cttv2` / `agad`: A, a second array of the same cells (its area), and
               the write energy of the A pulses the run counted, each charging its column line
               as a conventional pulse does. A's stochastic pulse trains need a random number per
               line per slot: `pulse_rng` charges the LFSR and compare of SBP's stochastic pulses
               (Gokmen & Vlasov's stochastic translator) once per slot, `Layer.pulse_slots`.
transfer       `ttv2` / `cttv2` / `agad`: the transfer reads of A (one row driven, every device
               of the row read) and one conversion per column, through the layer's column ADCs
               (time-shared with the forward read, so no ADC area of its own).
buffer         H (`ttv2`, `cttv2`: one read-modify-write, add and compare per transfer
               conversion) or chi (`mixed_precision`: one per weight the sample changed, the
               driven rows of layer 1 and every row above) in SRAM of `buffer.bits_per_entry`
               bits per weight, plus c-TTv2's chopper bit per row in flip-flops. AGAD keeps
               three entries per weight (H, the running mean of A's readings, the reference),
               each read and written back per transfer conversion (an upper bound: the
               reference is written once per chopper period), with its two adds, the
               subtraction of the reference and the running mean's two multiplies, and a
               second flag bit per row.

The conventional update's pulses are simulated, not assumed: each layer is costed with the pulses
it was given, and the cost tables give the conventional design those of the matching on-chip SGD
run (`sgd`: same data, network, device, noise and seed). Only where no such run exists do they
fall back to the SBP run's own pulses times `conventional.update_pulse_ratio` (`scaled_pulses`),
and say so.
Half-selected cells during writes, leakage, control logic and the off-chip input buffer are not
modelled (they are present in both designs). Every constant is a config value with units and a
citation (config/cost.yaml); energies are per training sample, areas per layer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbp_core.documents import read_document
from sbp_core.errors import ConfigError

COMPONENTS = (
    "array",
    "decoders",
    "input_drivers",
    "readout",
    "storage",
    "error_compute",
    "write",
    "pulse_rng",
    "refresh",
)
"""The components of SBP and the conventional design, compared part by part in the cost tables."""
BUFFERED_COMPONENTS = ("fast_array", "transfer", "buffer")
"""The components only the buffered rules' designs pay (ttv2, cttv2, agad, mixed_precision)."""
ALL_COMPONENTS = COMPONENTS + BUFFERED_COMPONENTS
BUFFER_ENTRIES = {"ttv2": 1, "cttv2": 1, "agad": 3, "mixed_precision": 1}
"""The buffered designs and their digital entries per weight (H or chi; AGAD's H, running mean
and reference)."""
TRANSFER_DESIGNS = ("ttv2", "cttv2", "agad")
"""The designs with a fast array A, its pulse slots and transfers."""
DESIGNS = ("sbp", "conventional", *BUFFER_ENTRIES)

# Every constant the model reads, with the kind of value it must hold.
SCHEMA: dict[str, str] = {
    "technology.feature_size_m": "positive",
    "array.cell_area_F2": "positive",
    "array.devices_per_weight": "count",
    "array.read_voltage_V": "nonneg",
    "array.read_pulse_s": "nonneg",
    "array.wire_capacitance_F_per_m": "nonneg",
    "comparator.area_um2": "nonneg",
    "comparator.energy_J": "nonneg",
    "register.area_um2_per_bit": "nonneg",
    "register.energy_J_per_bit": "nonneg",
    "dac.area_um2_1bit": "nonneg",
    "dac.power_W_1bit": "nonneg",
    "dac.cycle_s": "nonneg",
    "adc.walden_fom_J_per_step": "nonneg",
    "adc.area_um2_per_bit": "nonneg",
    "adc.area_um2_per_level": "nonneg",
    "digital.add_energy_J_per_bit": "nonneg",
    "digital.mult_energy_J_per_bit2": "nonneg",
    "digital.add_area_um2_per_bit": "nonneg",
    "digital.mult_area_um2_per_bit2": "nonneg",
    "stochastic.rng_bits": "count",
    "sram.area_um2_per_bit": "nonneg",
    "sram.energy_J_per_bit": "nonneg",
    "buffer.bits_per_entry": "count",
    "conventional.adc_bits": "count",
    "conventional.columns_per_adc": "count",
    "conventional.dac_bits": "count",
    "conventional.input_bits": "count",
    "conventional.activation_bits": "count",
    "conventional.error_bits": "count",
    "conventional.update_pulse_ratio": "nonneg",
    "workload.line_activity": "fraction",
}


@dataclass(frozen=True)
class Constant:
    """One model constant as it appears in the config: the number, its unit and its source."""

    value: float
    unit: str
    citation: str


def load_constants(
    path: str | Path,
    override_files: Sequence[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Constant]:
    """Read the constants file, merge override files then config overrides over it, validate.

    Overrides may be nested like the defaults or use dotted keys; a bare number replaces the value
    and keeps the unit, with the citation marked as a user override naming where it came from.
    """
    constants = {
        key: _entry(key, raw, str(path)) for key, raw in _flatten(_read_yaml(path)).items()
    }
    sources = [(str(p), _read_yaml(p)) for p in override_files]
    if overrides:
        sources.append(("cost_overrides", dict(overrides)))
    for source, data in sources:
        for key, raw in _flatten(data).items():
            if key not in SCHEMA:
                raise ConfigError(f"{source}: unknown cost constant {key}")
            if isinstance(raw, Mapping):
                constants[key] = _entry(key, raw, source)
            else:
                base = constants.get(key, Constant(0.0, "", ""))
                entry = {"value": raw, "unit": base.unit, "citation": f"user override ({source})"}
                constants[key] = _entry(key, entry, source)
    for key, kind in SCHEMA.items():
        if key not in constants:
            raise ConfigError(f"{path}: missing cost constant {key}")
        _check_kind(key, constants[key].value, kind, str(path))
    return constants


def constant_values(constants: Mapping[str, Constant]) -> dict[str, float]:
    """The plain numbers the model functions take."""
    return {key: entry.value for key, entry in constants.items()}


def _read_yaml(path: str | Path) -> dict[str, Any]:
    data = read_document(path, "cost constants file not found")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a cost constants file must hold a mapping")
    return data


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys down to a leaf: an entry with a `value` key, or a bare scalar."""
    flat: dict[str, Any] = {}
    for name, item in data.items():
        key = f"{prefix}{name}"
        if isinstance(item, Mapping) and "value" not in item:
            flat.update(_flatten(item, key + "."))
        else:
            flat[key] = item
    return flat


def _entry(key: str, raw: Any, source: str) -> Constant:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {key} must have value, unit and citation")
    value = _number(raw.get("value"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{source}: {key} value must be a finite number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{source}: {key} must not be negative, got {value!r}")
    for part in ("unit", "citation"):
        text = raw.get(part)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{source}: {key} has no {part}")
    return Constant(float(value), raw["unit"], raw["citation"])


def _number(value: Any) -> Any:
    """Numbers given as text (YAML 1.1 reads 1e-8 as a string; so do command-line configs)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _check_kind(key: str, value: float, kind: str, source: str) -> None:
    if kind == "positive" and value <= 0:
        raise ConfigError(f"{source}: {key} must be > 0, got {value!r}")
    if kind == "count" and (value < 1 or not float(value).is_integer()):
        raise ConfigError(f"{source}: {key} must be a whole number >= 1, got {value!r}")
    if kind == "fraction" and value > 1:
        raise ConfigError(f"{source}: {key} must be a fraction in [0, 1], got {value!r}")


@dataclass(frozen=True)
class PulseDevice:
    """What the model needs of a device preset: pulse amplitudes, width, conductance bounds."""

    v_set: float
    """SET (potentiating) pulse amplitude, volts."""
    v_reset: float
    """RESET (depressing) pulse amplitude magnitude, volts."""
    g_min_s: float
    """Lowest conductance, siemens."""
    g_max_s: float
    """Highest conductance, siemens."""
    pulse_width_s: float
    """SET pulse width, seconds; RESET's too unless `reset_pulse_width_s` is set."""
    n_states: int
    """Conductance states, sets the width of the conventional pulse counters."""
    r_access_ohm: float = 0.0
    """Series resistance of the cell's access transistor, ohms (0: none, as in FeFET cells)."""
    reset_pulse_width_s: float | None = None
    """RESET pulse width, seconds, where it differs from SET's."""

    @property
    def g_mid_s(self) -> float:
        """Mean conductance over a uniform spread of states, for write energy."""
        return (self.g_min_s + self.g_max_s) / 2

    @property
    def g_read_s(self) -> float:
        """Mean conductance a read sees over a uniform spread of states, through the access
        transistor in series: the mean of G / (1 + R G) over [g_min, g_max], exactly
        (G - ln(1 + R G) / R) / R integrated; G_mid when R is 0."""
        r, low, high = self.r_access_ohm, self.g_min_s, self.g_max_s
        if r == 0:
            return self.g_mid_s
        if high == low:
            return low / (1 + r * low)
        log_ratio = math.log1p(r * high) - math.log1p(r * low)
        return ((high - low) - log_ratio / r) / (r * (high - low))


@dataclass(frozen=True)
class Layer:
    """One crossbar layer and what one training sample did to it."""

    rows: int
    """Input lines including the bias line."""
    cols: int
    """Neurons (each a differential pair of device columns)."""
    set_pulses: float
    """SET pulses applied per sample (mean over the run)."""
    reset_pulses: float
    """RESET pulses applied per sample (mean over the run)."""
    input_activity: float
    """Fraction of the non-bias rows driven in one read cycle."""
    first: bool
    """First layer: its rows are network inputs, so no error is read back through them."""
    last: bool
    """Last layer: the output error is formed at its columns."""
    stochastic: bool = False
    """SBP's or the Manhattan rule's pulses fire with a probability below 1 (`pulse_prob`):
    random numbers per line."""
    refresh_every: int = 0
    """SBP's samples between refresh cycles; 0: no refresh."""
    refresh_reads: float = 0.0
    """Device reads of refresh cycles per sample (mean over the run)."""
    refresh_pairs: float = 0.0
    """Pairs rewritten by refresh cycles per sample (mean over the run)."""
    fast_set_pulses: float = 0.0
    """TTv2: SET pulses on the fast array A per sample (mean over the run)."""
    fast_reset_pulses: float = 0.0
    """TTv2: RESET pulses on A per sample (mean over the run)."""
    transfer_reads: float = 0.0
    """TTv2: rows of A read into H per sample (mean over the run)."""
    transfer_conversions: float = 0.0
    """TTv2: ADC conversions of those reads per sample, one per column read."""
    pulse_slots: float = 0.0
    """TTv2: slots of A's stochastic pulse trains per sample: at most `ttv2_bl` (an upper
    bound: update management shortens trains where the gradient is small)."""


@dataclass
class Cost:
    """Area (um^2) and energy per training sample (J) by component."""

    area_um2: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ALL_COMPONENTS, 0.0))
    energy_J: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ALL_COMPONENTS, 0.0))

    @property
    def total_area_um2(self) -> float:
        return sum(self.area_um2.values())

    @property
    def total_energy_J(self) -> float:
        return sum(self.energy_J.values())

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            {k: self.area_um2[k] + other.area_um2[k] for k in ALL_COMPONENTS},
            {k: self.energy_J[k] + other.energy_J[k] for k in ALL_COMPONENTS},
        )


def make_layers(
    shapes: Sequence[Sequence[int]],
    set_pulses: Sequence[float],
    reset_pulses: Sequence[float],
    input_activity: float,
    line_activity: float,
    *,
    stochastic: bool = False,
    refresh_every: int = 0,
    refresh_reads: Sequence[float] | None = None,
    refresh_pairs: Sequence[float] | None = None,
    pulse_slots: float = 0.0,
    **fast_counts: Sequence[float],
) -> list[Layer]:
    """Layers of an MLP from [[rows, cols], ...] and per-sample pulse counts per layer, with
    SBP's mechanisms (docs/method.md): stochastic pulses, and refresh cycles every
    `refresh_every` samples with their device reads and rewritten pairs per sample and layer;
    and TTv2's: `pulse_slots` per sample, and per layer `FAST_COUNTS` (A's pulses, transfer
    reads and conversions) as keywords."""
    n = len(shapes)
    refresh_reads = [0.0] * n if refresh_reads is None else refresh_reads
    refresh_pairs = [0.0] * n if refresh_pairs is None else refresh_pairs
    unknown = sorted(set(fast_counts) - set(FAST_COUNTS))
    if unknown:
        raise ConfigError(f"unknown layer count(s) {', '.join(unknown)}")
    fast = {name: fast_counts.get(name) or [0.0] * n for name in FAST_COUNTS}
    if not n or any(
        len(counts) != n
        for counts in (set_pulses, reset_pulses, refresh_reads, refresh_pairs, *fast.values())
    ):
        raise ConfigError("layers, pulses and refresh counts must list the same layers")
    return [
        Layer(
            rows=int(rows),
            cols=int(cols),
            set_pulses=float(set_pulses[i]),
            reset_pulses=float(reset_pulses[i]),
            input_activity=input_activity if i == 0 else line_activity,
            first=i == 0,
            last=i == n - 1,
            stochastic=stochastic,
            refresh_every=int(refresh_every),
            refresh_reads=float(refresh_reads[i]),
            refresh_pairs=float(refresh_pairs[i]),
            pulse_slots=float(pulse_slots),
            **{name: float(counts[i]) for name, counts in fast.items()},
        )
        for i, (rows, cols) in enumerate(shapes)
    ]


FAST_COUNTS = ("fast_set_pulses", "fast_reset_pulses", "transfer_reads", "transfer_conversions")
"""TTv2's per-layer counts of `Layer` (per sample), named as the run's counters are."""


def scaled_pulses(layers: Sequence[Layer], ratio: float) -> list[Layer]:
    """The layers with their pulses times `ratio`: the conventional update assumed from SBP's
    pulses (`conventional.update_pulse_ratio`) where no on-chip SGD run measured it."""
    return [
        dataclasses.replace(
            layer, set_pulses=ratio * layer.set_pulses, reset_pulses=ratio * layer.reset_pulses
        )
        for layer in layers
    ]


def network_cost(
    design: str,
    layers: Sequence[Layer],
    device: PulseDevice,
    c: Mapping[str, float],
    gated: bool = True,
) -> Cost:
    """Sum of the per-layer costs of one design; `gated`: SBP's hidden error window is on."""
    if design == "sbp":
        parts = [sbp_layer_cost(layer, device, c, gated) for layer in layers]
    elif design == "conventional":
        parts = [conventional_layer_cost(layer, device, c) for layer in layers]
    elif design in TRANSFER_DESIGNS:
        parts = [ttv2_layer_cost(layer, device, c, design) for layer in layers]
    elif design == "mixed_precision":
        parts = [mixed_precision_layer_cost(layer, device, c) for layer in layers]
    else:
        raise ConfigError(f"cost design must be one of {', '.join(DESIGNS)}, got {design!r}")
    total = Cost()
    for part in parts:
        total = total + part
    return total


def sbp_layer_cost(layer: Layer, device: PulseDevice, c: Mapping[str, float], gated: bool) -> Cost:
    """SBP: binary forward drive and comparators, ternary backward, one parallel pulse step."""
    cost = Cost()
    hidden_rows = 0 if layer.first else layer.rows - 1
    back_cols = 0 if layer.first else layer.cols
    _array(cost, layer, device, c, forward_cycles=1, backward_cycles=1)
    _decoders(cost, layer, c)
    drivers = layer.rows + back_cols
    cost.area_um2["input_drivers"] = drivers * c["dac.area_um2_1bit"]
    cost.energy_J["input_drivers"] = drivers * _dac_energy(c, 1)
    comparators = layer.cols + 2 * hidden_rows
    cost.area_um2["readout"] = comparators * c["comparator.area_um2"]
    cost.energy_J["readout"] = comparators * c["comparator.energy_J"]
    _registers(cost, bits=(layer.rows - 1) * 1 + layer.cols * 2, c=c)
    error_comparators = 2 * layer.cols if (layer.last or gated) else 0
    cost.area_um2["error_compute"] = error_comparators * c["comparator.area_um2"]
    cost.energy_J["error_compute"] = error_comparators * c["comparator.energy_J"]
    v_write = max(device.v_set, device.v_reset)
    lines_charge = layer.rows * _row_capacitance(layer, c) + (
        c["array.devices_per_weight"] * layer.cols * _column_capacitance(layer, c)
    )
    cost.energy_J["write"] = (
        programming_energy(device, layer.set_pulses, layer.reset_pulses)
        + 2 * lines_charge * v_write**2
    )
    if layer.stochastic:
        _pulse_rng(cost, c, lines=layer.rows + layer.cols, steps=1.0)
    if layer.refresh_every:
        _refresh(cost, layer, device, c)
    return cost


def _pulse_rng(cost: Cost, c: Mapping[str, float], lines: float, steps: float) -> None:
    """An LFSR and a compare with the pulse probability per line, `steps` per sample (SBP: every
    row and column line, one step; TTv2: one per slot of its pulse trains; the Manhattan rule:
    every column, one step per row written)."""
    bits = c["stochastic.rng_bits"]
    cost.area_um2["pulse_rng"] = (
        lines * bits * (c["register.area_um2_per_bit"] + c["digital.add_area_um2_per_bit"])
    )
    cost.energy_J["pulse_rng"] = (
        steps * lines * bits * (c["register.energy_J_per_bit"] + c["digital.add_energy_J_per_bit"])
    )


def _refresh(cost: Cost, layer: Layer, device: PulseDevice, c: Mapping[str, float]) -> None:
    """Refresh cycles: device reads, an ADC conversion per rewritten pair, a sample counter."""
    adc_bits = math.ceil(math.log2(max(device.n_states, 2)))
    counter_bits = math.ceil(math.log2(layer.refresh_every + 1))
    per_read = c["array.read_voltage_V"] ** 2 * device.g_read_s * c["array.read_pulse_s"]
    cost.area_um2["refresh"] = (
        adc_area_um2(adc_bits, c) + counter_bits * c["register.area_um2_per_bit"]
    )
    cost.energy_J["refresh"] = (
        layer.refresh_reads * per_read
        + layer.refresh_pairs * adc_energy_J(adc_bits, c)
        + counter_bits * c["register.energy_J_per_bit"]
    )


def conventional_layer_cost(layer: Layer, device: PulseDevice, c: Mapping[str, float]) -> Cost:
    """Conventional: bit-serial DAC drive, shared ADCs, digital errors, row-wise pulse trains."""
    cost = Cost()
    in_bits = c["conventional.input_bits"] if layer.first else c["conventional.activation_bits"]
    err_bits = c["conventional.error_bits"]
    dac_bits = c["conventional.dac_bits"]
    adc_bits = c["conventional.adc_bits"]
    share = c["conventional.columns_per_adc"]
    fwd_cycles = math.ceil(in_bits / dac_bits)
    bwd_cycles = math.ceil(err_bits / dac_bits)
    hidden_rows = 0 if layer.first else layer.rows - 1
    back_cols = 0 if layer.first else layer.cols
    active_rows = 1 + layer.input_activity * (layer.rows - 1)

    _array(cost, layer, device, c, forward_cycles=fwd_cycles, backward_cycles=bwd_cycles)
    _decoders(cost, layer, c)

    dac_scale = 2 ** (dac_bits - 1)
    cost.area_um2["input_drivers"] = (layer.rows + back_cols) * c["dac.area_um2_1bit"] * dac_scale
    cost.energy_J["input_drivers"] = (
        (layer.rows * fwd_cycles + back_cols * bwd_cycles) * _dac_energy(c, 1) * dac_scale
    )

    adcs = math.ceil(layer.cols / share) + math.ceil(hidden_rows / share)
    fwd_conv = layer.cols * fwd_cycles
    bwd_conv = hidden_rows * bwd_cycles
    shift_add_width = adc_bits + max(in_bits, err_bits)
    shift_adds = (fwd_conv if fwd_cycles > 1 else 0) + (bwd_conv if bwd_cycles > 1 else 0)
    cost.area_um2["readout"] = adcs * (
        adc_area_um2(adc_bits, c) + shift_add_width * c["digital.add_area_um2_per_bit"]
    )
    cost.energy_J["readout"] = (fwd_conv + bwd_conv) * adc_energy_J(adc_bits, c) + (
        shift_adds * shift_add_width * c["digital.add_energy_J_per_bit"]
    )

    _registers(cost, bits=(layer.rows - 1) * in_bits + layer.cols * err_bits, c=c)

    width = max(in_bits, err_bits, c["conventional.activation_bits"])
    subtractions = layer.cols if layer.last else 0
    multiplies = (0 if layer.last else 2 * layer.cols) + layer.cols
    if in_bits > 1:
        multiplies += active_rows * layer.cols
    units = math.ceil(layer.cols / share)
    cost.area_um2["error_compute"] = units * (
        width * c["digital.add_area_um2_per_bit"] + width**2 * c["digital.mult_area_um2_per_bit2"]
    )
    cost.energy_J["error_compute"] = (
        subtractions * width * c["digital.add_energy_J_per_bit"]
        + multiplies * width**2 * c["digital.mult_energy_J_per_bit2"]
    )

    pulses = layer.set_pulses + layer.reset_pulses
    counter_bits = math.ceil(math.log2(max(device.n_states, 2))) + 1
    v_write = max(device.v_set, device.v_reset)
    cost.area_um2["write"] = layer.cols * counter_bits * c["register.area_um2_per_bit"]
    cost.energy_J["write"] = (
        programming_energy(device, layer.set_pulses, layer.reset_pulses)
        + 2 * layer.rows * _row_capacitance(layer, c) * v_write**2
        + pulses * _column_capacitance(layer, c) * v_write**2
        + active_rows * layer.cols * counter_bits * c["register.energy_J_per_bit"]
    )
    if layer.stochastic:  # the Manhattan rule's pulse_prob: the rows are written one by one,
        # so a generator per column stepped once a row draws afresh for every pair, as simulated
        _pulse_rng(cost, c, lines=layer.cols, steps=active_rows)
    return cost


def ttv2_layer_cost(layer: Layer, device: PulseDevice, c: Mapping[str, float], design: str) -> Cost:
    """TTv2, c-TTv2 or AGAD (`design`): the conventional periphery on C, plus the fast array A
    and its stochastic pulse trains, the transfer reads of A, and the buffer (H; AGAD's running
    mean and reference beside it) with the chopper bits."""
    cost = conventional_layer_cost(layer, device, c)
    v_write = max(device.v_set, device.v_reset)
    fast_pulses = layer.fast_set_pulses + layer.fast_reset_pulses
    cost.area_um2["fast_array"] = cost.area_um2["array"]  # the same cells, one more array
    cost.energy_J["fast_array"] = (
        programming_energy(device, layer.fast_set_pulses, layer.fast_reset_pulses)
        + fast_pulses * _column_capacitance(layer, c) * v_write**2
    )
    _pulse_rng(cost, c, lines=layer.rows + layer.cols, steps=layer.pulse_slots)
    per_cell = c["array.read_voltage_V"] ** 2 * device.g_read_s * c["array.read_pulse_s"]
    cells_per_read = c["array.devices_per_weight"] * layer.cols
    cost.energy_J["transfer"] = layer.transfer_reads * cells_per_read * per_cell + (
        layer.transfer_conversions * adc_energy_J(c["conventional.adc_bits"], c)
    )
    row_bits = {"ttv2": 0, "cttv2": 1, "agad": 2}[design]
    _buffer(cost, layer, c, updates=layer.transfer_conversions, design=design)
    cost.area_um2["buffer"] += row_bits * layer.rows * c["register.area_um2_per_bit"]
    if design == "agad":
        width = c["buffer.bits_per_entry"]
        cost.energy_J["buffer"] += layer.transfer_conversions * (
            2 * width**2 * c["digital.mult_energy_J_per_bit2"]
            + width * c["digital.add_energy_J_per_bit"]
        )
    return cost


def mixed_precision_layer_cost(layer: Layer, device: PulseDevice, c: Mapping[str, float]) -> Cost:
    """Mixed precision: the conventional periphery, its pulses, plus chi in SRAM, read,
    accumulated, compared and written back for every weight the sample's update changes (the
    driven rows of layer 1, every row of the layers above)."""
    cost = conventional_layer_cost(layer, device, c)
    driven_rows = 1 + layer.input_activity * (layer.rows - 1) if layer.first else layer.rows
    _buffer(cost, layer, c, updates=driven_rows * layer.cols, design="mixed_precision")
    return cost


def buffer_bits(layer: Layer, c: Mapping[str, float], design: str) -> float:
    """Bits of a layer's digital buffer in SRAM: BUFFER_ENTRIES[design] entries per weight."""
    return BUFFER_ENTRIES[design] * layer.rows * layer.cols * c["buffer.bits_per_entry"]


def _buffer(cost: Cost, layer: Layer, c: Mapping[str, float], updates: float, design: str) -> None:
    """The SRAM buffer: its bit cells, and per update one read and one write of each entry and
    two adds of its width (the accumulation and the compare with the threshold)."""
    bits = BUFFER_ENTRIES[design] * c["buffer.bits_per_entry"]
    cost.area_um2["buffer"] = buffer_bits(layer, c, design) * c["sram.area_um2_per_bit"]
    cost.energy_J["buffer"] = updates * (
        2 * bits * c["sram.energy_J_per_bit"]
        + 2 * c["buffer.bits_per_entry"] * c["digital.add_energy_J_per_bit"]
    )


def adc_energy_J(bits: float, c: Mapping[str, float]) -> float:
    """Walden figure of merit: energy per conversion = FOM_W * 2^ENOB."""
    return c["adc.walden_fom_J_per_step"] * 2.0**bits


def adc_area_um2(bits: float, c: Mapping[str, float]) -> float:
    """SAR ADC area: per-bit logic plus a binary-weighted capacitor array."""
    return c["adc.area_um2_per_bit"] * bits + c["adc.area_um2_per_level"] * 2.0**bits


def _array(
    cost: Cost,
    layer: Layer,
    device: PulseDevice,
    c: Mapping[str, float],
    forward_cycles: int,
    backward_cycles: int,
) -> None:
    devices = c["array.devices_per_weight"]
    cost.area_um2["array"] = devices * layer.rows * layer.cols * _cell_area_um2(c)
    per_cell = c["array.read_voltage_V"] ** 2 * device.g_read_s * c["array.read_pulse_s"]
    driven_rows = 1 + layer.input_activity * (layer.rows - 1)
    forward = forward_cycles * driven_rows * devices * layer.cols
    backward = 0.0
    if not layer.first:
        driven_cols = c["workload.line_activity"] * layer.cols
        backward = backward_cycles * driven_cols * devices * (layer.rows - 1)
    cost.energy_J["array"] = (forward + backward) * per_cell


def _decoders(cost: Cost, layer: Layer, c: Mapping[str, float]) -> None:
    lines = layer.rows + layer.cols
    selections = layer.rows + (0 if layer.first else layer.cols) + 2 * lines
    cost.area_um2["decoders"] = lines * c["register.area_um2_per_bit"]
    cost.energy_J["decoders"] = selections * c["register.energy_J_per_bit"]


def _registers(cost: Cost, bits: float, c: Mapping[str, float]) -> None:
    cost.area_um2["storage"] = bits * c["register.area_um2_per_bit"]
    cost.energy_J["storage"] = bits * c["register.energy_J_per_bit"]


def _dac_energy(c: Mapping[str, float], bits: int) -> float:
    """Energy of one DAC over one read cycle; multi-bit DACs double per bit (MNSIM 2.0 rule)."""
    return c["dac.power_W_1bit"] * c["dac.cycle_s"] * 2 ** (bits - 1)


def programming_energy(device: PulseDevice, set_pulses: float, reset_pulses: float) -> float:
    """V^2 G t per pulse (MLP+NeuroSim Cell.cpp, with its writePulseWidthLTP / LTD), at the
    mean conductance of the device."""
    reset_width = device.reset_pulse_width_s or device.pulse_width_s
    set_energy = set_pulses * device.v_set**2 * device.pulse_width_s
    return (set_energy + reset_pulses * device.v_reset**2 * reset_width) * device.g_mid_s


def _cell_area_um2(c: Mapping[str, float]) -> float:
    return c["array.cell_area_F2"] * (c["technology.feature_size_m"] * 1e6) ** 2


def _cell_pitch_m(c: Mapping[str, float]) -> float:
    return math.sqrt(c["array.cell_area_F2"]) * c["technology.feature_size_m"]


def _row_capacitance(layer: Layer, c: Mapping[str, float]) -> float:
    """A row line spans every device of its row (both devices of each pair)."""
    length = c["array.devices_per_weight"] * layer.cols * _cell_pitch_m(c)
    return length * c["array.wire_capacitance_F_per_m"]


def _column_capacitance(layer: Layer, c: Mapping[str, float]) -> float:
    """One physical device column spans every row."""
    return layer.rows * _cell_pitch_m(c) * c["array.wire_capacitance_F_per_m"]


def assumptions() -> list[str]:
    """The modelling choices printed beneath every cost table."""
    return [
        "Per training sample and layer; area per layer summed over the network; "
        "energy per epoch = energy per sample x training samples.",
        "Both designs pay for the same array, switch matrices (one flip-flop per line) and "
        "programming pulses; they differ in drivers, readout, storage, error arithmetic and "
        "the update scheme.",
        "Conventional update: a row-by-row multi-bit pulse train per weight, with the pulses "
        "of the matching on-chip SGD run (same data, network, device, noise and seed); where "
        "there is none, the SBP run's pulses x conventional.update_pulse_ratio, marked "
        "'assumed' in the tables.",
        "ADC energy FOM_W x 2^ENOB with ENOB = conventional.adc_bits; ADC area fitted to the "
        "ISAAC/Kull SAR scaled over 4-10 bits; multi-bit DACs double area and energy per bit.",
        "Programming energy V^2 x G_mid x t_w per pulse with the device preset's amplitudes, "
        "width and mean conductance; line charging C V^2 per driven line (0.2 fF/um).",
        "TTv2, c-TTv2 and mixed precision pay the conventional design with their own pulses on "
        "C, plus their buffer (H or chi) in SRAM, read and written back per update; TTv2 also a "
        "second array A with the write energy of A's counted pulses, a random number per line "
        "per slot of A's pulse trains (ttv2_bl slots per sample, an upper bound) and the "
        "transfer reads of A with one conversion of the column ADCs per column read.",
        "Not modelled (present in both designs): half-selected cells during writes, leakage, "
        "control logic, input buffers. SBP's write lines are charged every sample even when no "
        "pulse fires (an upper bound).",
        "Where a published range leaves a choice the constant favours the conventional design, "
        "with two exceptions: digital arithmetic (45 nm figures, not scaled to 32 nm), which "
        "overstates the conventional design's digital part, and the ADC figure of merit (the "
        "survey median, about 2 pJ per 6-bit conversion; the ADC sensitivity figures show the "
        "saving against resolution and figure of merit).",
    ]
