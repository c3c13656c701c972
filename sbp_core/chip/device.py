"""Devices as a run names them: device files (docs/measured_devices.md), the
presets (device files shipped in `presets/`, NeuroSim V3's benchmark devices and `ideal`), and
the device a RunSpec asks for (`device_for`), resolved once per run and passed on.

A device file is YAML: the NeuroSim parameters of `DeviceParams` under their own names, its
`kind` (a module of `sbp_core.chip.kinds`, `neurosim` when absent) with that kind's own keys,
and optionally the `fit` that made it (informative, not read). What a kind does with its
devices is its own module's business; this module dispatches by the kind protocol
(`sbp_core.chip.kinds.DeviceKind`) only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import re
from pathlib import Path
from typing import Any

import yaml

from sbp_core.chip.kinds import kind_named
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.documents import read_document
from sbp_core.errors import ConfigError
from sbp_core.fields import DEVICE_FIELDS, names_device_file

REQUIRED_KEYS = ("n_states", "nl_ltp", "nl_ltd", "on_off", "c2c_sigma", "g_max_s")
"""Keys every device file must give; the others default to DeviceParams' defaults (name: the
file's stem; no D2D spread, stuck devices or read noise; 1 V, 10 ns pulses)."""
FILE_KEYS = ("kind", "fit")
"""Keys of every device file beyond DeviceParams': its kind and the fit's provenance and quality
(informative, not read); a kind adds its own (`file_keys`)."""
POSITIVE_KEYS = ("g_max_s", "v_set", "v_reset", "pulse_width_s", "reset_pulse_width_s")
"""Device-file keys that must be > 0 (DeviceParams checks the others)."""
PRESETS_DIR = Path(__file__).with_name("presets")
"""The presets' device files, shipped with the package (package data)."""


def read_device_file(path: str | Path) -> DeviceParams:
    """The device a device file describes; a one-line ConfigError naming the file and the key
    for a missing, unknown, mistyped or out-of-range key."""
    data = read_document(path, "device file not found")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a device file must hold a mapping of parameter names to values")
    kind = kind_named(data.get("kind", "neurosim"), str(path))
    params = {field.name: field for field in dataclasses.fields(DeviceParams)}
    allowed = [*params, *FILE_KEYS, *kind.file_keys]
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r} (a {kind.kind} device file holds: "
            f"{', '.join(allowed)})"
        )
    required = REQUIRED_KEYS + kind.file_keys
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(f"{path}: missing key {missing[0]!r} (required: {', '.join(required)})")
    values = {"name": Path(path).stem}
    for key, value in data.items():
        if key in params:
            values[key] = _file_value(path, key, value, str(params[key].type))
    for key in POSITIVE_KEYS:
        if values.get(key) is not None and not values[key] > 0:
            raise ConfigError(f"{path}: {key} must be > 0, got {values[key]!r}")
    try:
        return kind.from_file(Path(path), values, {key: data[key] for key in kind.file_keys})
    except ConfigError as err:
        message = str(err)
        raise ConfigError(
            message if message.startswith(f"{path}:") else f"{path}: {message}"
        ) from None


def _file_value(path, key: str, value: Any, annotation: str) -> Any:
    """One DeviceParams value of a device file, type-checked (`on_off: null` is infinite)."""
    if key == "on_off" and value is None:
        return math.inf
    if value is None and "None" in annotation:
        return None
    base = annotation.replace("| None", "").strip()
    if base == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be text, got {value!r}")
        return value
    integral = base == "int"
    kind = numbers.Integral if integral else numbers.Real
    if isinstance(value, str) and not integral:
        value = _yaml_float(value)
    if isinstance(value, bool) or not isinstance(value, kind):
        described = "an integer" if integral else "a number"
        raise ConfigError(f"{path}: {key} must be {described}, got {value!r}")
    if not integral and not (math.isfinite(value) or key == "on_off"):
        raise ConfigError(f"{path}: {key} must be a finite number, got {value!r}")
    return int(value) if integral else float(value)


def finite_number(path, key: str, value: Any) -> float:
    """A kind's number in a device file, as a float; a one-line ConfigError naming the file and
    `key` unless it is a finite number."""
    value = _yaml_float(value) if isinstance(value, str) else value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{path}: {key} must be a finite number, got {value!r}")
    return float(value)


def _yaml_float(text: str) -> float | str:
    """`text` as a number if it is one (1e-6, which YAML 1.1 leaves as text), else unchanged."""
    try:
        return float(text)
    except ValueError:
        return text


def device_file_text(params: DeviceParams, fit: dict | None = None, header: str = "") -> str:
    """A device file for `params` (the form `read_device_file` reads): its kind, every
    DeviceParams parameter under its own name, `on_off: null` for an infinite ratio, the fit's
    provenance and quality under `fit`, then the kind's own keys."""
    data: dict[str, Any] = {"kind": params.kind}
    for field in dataclasses.fields(DeviceParams):
        value = getattr(params, field.name)
        data[field.name] = None if field.name == "on_off" and math.isinf(value) else value
    if fit is not None:
        data["fit"] = fit
    data.update(params.file_entries())
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


PRESETS: dict[str, DeviceParams] = {
    path.stem: read_device_file(path) for path in sorted(PRESETS_DIR.glob("*.yaml"))
}
"""Named presets, from their device files: the device values of MLP+NeuroSim V3.0's Table II
(its manual, pp. 23-24; docs/neurosim_validation.md checks them value by value), with NeuroSim's
15 kOhm access transistor in every 1T1R cell, and `ideal`."""


LATER_DEVICE_FIELDS = {"r_access_ohm": 0.0, "reset_pulse_width_s": None}
"""Device parameters added after presets existed, with the value that reproduces the runs made
before: while a device holds it the parameter stays out of `values_digest`."""
NOT_PHYSICS = ("name", "citation", "neurosim_accuracy")
"""Device parameters that change no number of a run: left out of `values_digest`."""


def values_digest(params: DeviceParams) -> str:
    """SHA-256 of a device's parameters that change a run's numbers (canonical JSON)."""
    values = {
        key: value
        for key, value in params.to_dict().items()
        if key not in NOT_PHYSICS
        and not (key in LATER_DEVICE_FIELDS and value == LATER_DEVICE_FIELDS[key])
    }
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


PRESET_DIGESTS_AS_INTRODUCED = {
    "ag_si": "6c7860df57eee1cf", "alox_hfo2": "1685652b96543355", "epiram": "c9f28e0932273faf",
    "gst_pcm": "ab7a7a2bd8642fc3", "hzo_fefet": "afc0385c16d500cd", "ideal": "9d49270fe2b3f36e",
    "pcmo": "eef4bedaeafe27e7", "taox_hfox": "dceac1e486bf52e8",
}  # fmt: skip
"""The first 16 hex digits of each preset's `values_digest` as the preset was introduced (main
243668b, when the presets were Python literals): runs on a preset that still holds those values
keep the ids they had."""


def preset_identity(name: str) -> str:
    """What names preset `name` in a run id: its name while it holds the values it was introduced
    with (PRESET_DIGESTS_AS_INTRODUCED), so those runs keep their ids; its name and the digest
    of its values once they changed, so a changed preset never reuses an old run's id."""
    digest = values_digest(preset(name))[:16]
    return name if PRESET_DIGESTS_AS_INTRODUCED.get(name) == digest else f"{name}@{digest}"


PULSE_ASSUMED = re.compile(r"\b(pulse|v_set|v_reset|pulse_width_s)\b[^;]*\bassumed\b")
"""How a device records that its pulse amplitude or width was assumed: its citation says so
(`fit-device`'s "v_set, v_reset, pulse_width_s assumed (not in the curves)"). The programming
energy scales with them."""
NO_MEASURED_PULSE = ("ideal",)
"""Presets of no measured device: their pulses are DeviceParams' defaults (1 V, 10 ns)."""


def pulse_assumed(device: str, citation: Any) -> bool:
    """Whether the pulse parameters of `device` (a preset name, else a device file whose
    `citation` a run recorded) were assumed: a preset is judged by its shipped file's citation,
    so runs from before a citation changed are judged alike."""
    if device in NO_MEASURED_PULSE:
        return True
    if device in PRESETS:
        citation = PRESETS[device].citation
    return isinstance(citation, str) and PULSE_ASSUMED.search(citation) is not None


def preset(name: str) -> DeviceParams:
    """The named preset, or a one-line error listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"device: unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def device_for(spec, read=read_device_file) -> DeviceParams:
    """The device a RunSpec asks for: its preset or device file (read by `read`: a grid reads
    each file once), with the spec's non-None device fields applied, but none the device's kind
    fixes. Resolve it once per run and pass it on."""
    overrides = {name: getattr(spec, name) for name in DEVICE_FIELDS}
    if not names_device_file(spec.device):
        return preset(spec.device).with_overrides(**overrides)
    device = read(spec.device)
    fixed = [name for name in device.fixed_fields if overrides[name] is not None]
    if fixed:
        raise ConfigError(
            f"{spec.device}: {fixed[0]} does not apply to a {device.kind.replace('_', '-')} "
            "device (its own data give the response); leave it unset"
        )
    return device.with_overrides(**overrides)
