"""RunSpec: everything that defines one training run, and nothing else.

The run id is a short hash of the spec's canonical JSON, so the same spec always lands in the same
results folder and a changed spec never overwrites another run.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import inspect
import json
import math
import numbers
import re
import textwrap
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sbp_core.chip.device import preset_identity
from sbp_core.documents import read_document
from sbp_core.errors import ConfigError
from sbp_core.fields import (  # noqa: F401 (the field facts below the rules, re-exported)
    DEVICE_FIELDS,
    DEVICE_FILE_ID,
    DEVICE_FILE_SUFFIXES,
    PULSE_SCHEMES,
    WIDTH_SEPARATOR,
    Widths,
    choice,
    hidden_label,
    hidden_widths,
    names_device_file,
    number,
    text,
)
from sbp_core.methods.registry import RULES

METHODS = tuple(RULES)
"""Every learning rule, from the records of sbp_core.methods (one module each)."""
DATASETS = ("digits", "mnist")
METHOD_FIELDS = {
    name: tuple(f.name for f in fields(rule.settings))
    for name, rule in RULES.items()
    if rule.settings is not None
}
"""The fields each method reads beyond the shared ones (its record's settings); other methods keep
their defaults (one run id each). A rule built on another's periphery reads that rule's fields
too: its settings subclass the other's (ttv2's SGDFields), so a field can belong to several."""
FIELD_METHODS = {
    name: tuple(method for method, names in METHOD_FIELDS.items() if name in names)
    for name in dict.fromkeys(name for names in METHOD_FIELDS.values() for name in names)
}
"""Each rule field -> the methods that read it."""
OFFCHIP_FIELDS = (
    "dataset", "data_sha256", "n_train", "val_fraction", "binarize_threshold", "input_crop",
    "n_hidden", "epochs", "epoch_samples", "seed", "lr", "batch_size", "evaluate_test",
)  # fmt: skip
"""The fields an off-chip (software) network depends on; see RunSpec.offchip_spec."""
SBP_RULE_FIELDS = (*METHOD_FIELDS["sbp"], "pulse_prob")
"""The settings of SBP's own rule (docs/method.md): its own fields and its pulse probability
(which Manhattan shares). An SBP run's conventional twin (the cost tables' on-chip sgd run on the
same chip and workload) may differ from it only in these."""
LATER_FIELDS = {
    "device_sha256": None, "pulse_prob_final": None, "refresh_every": 0, "refresh_level": 0.9,
    "evaluate_test": True,
    "r_access_ohm": None, "sigmoid_gain": 1.0, "init_levels": 0, "init_write": "exact",
    "bias_row": True, "pulse_cast": "exact", "pulse_rng": "pair",
}  # fmt: skip
"""Fields added after runs existed, with the value that reproduces those runs' numbers: while a
spec holds that value the field stays out of its run id. The value is recorded here, not read from
the field's default, so that changing a default can never let a new run reuse an old run's id."""
NUMBERS_KEY = "numbers_version"
"""The run id's key for `<rule's numbers>.<its off-chip twin's>` (`base.Method.numbers`): not a
spec field, so it cannot clash with one."""
RULE_FIELDS_IN_EVERY_RUN_ID = (
    "real_inputs", "activation", "margin_hi", "margin_lo", "error_threshold", "gate_window",
    "pulse_prob_final", "refresh_every", "refresh_level", "adc_bits", "lr_out", "program",
    "verify_tolerance", "verify_max_pulses",
)  # fmt: skip
"""The rules' own fields that were RunSpec fields before the rules declared them (243668b):
they stay in the id of every run, whatever its method. Any other rule's fields enter only the
ids of that rule's runs, so adding a rule moves no existing run id."""


@dataclass(frozen=True)
class SharedSpec:
    """The fields every method shares; `RunSpec` adds each rule's own fields to them.

    Each field is declared once, here or in its rule's settings: its type (the annotation), its
    default, its range, choices or pattern (`number` / `choice` / `text`) and its docstring (the
    line under it). Validation below, the CLI options and their help, the scikit-learn
    estimators' parameters and the run-spec part of the config schema all follow from these
    declarations.
    """

    method: str = choice("sbp", METHODS)
    """Learning rule, one module each in sbp_core.methods."""
    dataset: str = choice("digits", DATASETS)
    """`digits` (UCI 8x8, ships with scikit-learn) or `mnist` (official IDX files)."""
    data_sha256: str | None = text(None, pattern="[0-9a-f]{64}")
    """SHA-256 identity of the data (sbp_core.identity), so the run id changes with the data;
    None: taken from the data when the run starts."""
    n_train: int = number(0, low=0)
    """Training images used after the validation split; 0 means all of them."""
    val_fraction: float = number(0.1, low=0.0, high=0.9)
    """Fraction of the training set held out (seeded) for choosing settings; never the test set."""
    binarize_threshold: float = number(0.5, low=0.0, high=1.0)
    """Input pixel is 1 when above this fraction of the maximum pixel value."""
    input_crop: int = number(0, low=0)
    """Side of the centred square of pixels kept (20: NeuroSim's 20x20 MNIST); 0 keeps all."""
    n_hidden: Widths = number(100, low=1)
    """Hidden layer widths, input side first: an integer (one hidden layer, n_in - n_hidden -
    n_out) or a list ([256, 128]: n_in - 256 - 128 - n_out)."""
    epochs: int = number(20, low=1)
    """Passes over the training set (the same budget for every method)."""
    epoch_samples: int = number(0, low=0)
    """Samples per epoch, drawn with replacement from the training set (NeuroSim draws 8,000);
    0: every training image once per epoch, in a new order."""
    seed: int = number(0, low=0)
    """Seeds the split, the initial conductances, the sample order and every noise draw."""
    evaluate_test: bool = True
    """Score the test set (test_acc, final_test_acc); false for a tuning trial, which is chosen
    on the validation split and never reads the test images (docs/tuning_protocol.md)."""

    # --- device (sbp_core.chip.device); None = take the preset's value ---
    device: str = "ideal"
    """Device preset name (sbp_core/chip/presets/), or the path of a device file (.yaml,
    relative to the working folder; docs/measured_devices.md)."""
    device_sha256: str | None = text(None, pattern="[0-9a-f]{64}")
    """SHA-256 of the device file's content when device names one (sbp_core.identity), so the
    run id follows the file's content, not its path; None: taken from the file when the run
    starts, and always None for a preset."""
    n_states: int | None = number(None, low=2)
    """Conductance states per device (pulses from Gmin to Gmax plus one)."""
    nl_ltp: float | None = number(None, low=-9.0, high=9.0)
    """Nonlinearity label of potentiation, NeuroSim convention (0 = linear)."""
    nl_ltd: float | None = number(None, low=-9.0, high=9.0)
    """Nonlinearity label of depression, NeuroSim convention (0 = linear)."""
    c2c_sigma: float | None = number(None, low=0.0)
    """Cycle-to-cycle noise: sigma of each pulse's step, as a fraction of the conductance range."""
    d2d_sigma: float | None = number(None, low=0.0)
    """Device-to-device spread of bounds, step and nonlinearity (relative sigma)."""
    stuck_gmin: float | None = number(None, low=0.0, high=1.0)
    """Fraction of devices stuck at Gmin."""
    stuck_gmax: float | None = number(None, low=0.0, high=1.0)
    """Fraction of devices stuck at Gmax."""
    read_noise: float | None = number(None, low=0.0)
    """Gaussian noise on every analog read, relative sigma of each device's conductance."""
    r_access_ohm: float | None = number(None, low=0.0, unit="ohm")
    """Series resistance of each cell's access transistor in every read (NeuroSim: 15 kOhm for
    1T1R cells, 0 for FeFET)."""

    # --- crossbar learners (docs/method.md; SBP's own fields: methods/sbp.py) ---
    theta: float = 0.0
    """Hidden comparator threshold h = 1[a > theta], in weight units."""
    pulse_scheme: str = choice("pair", PULSE_SCHEMES)
    """`pair`: a pulse raises G+ and lowers G- (or the reverse); `single`: only G+ moves, against
    a G- fixed at mid-range; `set_only` (sbp): a SET on G+ raises the weight, a SET on G- lowers
    it, and `refresh_every` rewrites pairs that climb too high; `reference` (sgd): one device per
    weight against a reference current midway between Gmin's and Gmax's reads, w in [-1, 1]
    (MLP+NeuroSim V3.0's cell, docs/neurosim_validation.md)."""
    pulse_prob: float = number(1.0, above=0.0, high=1.0)
    """Each coincident pulse fires with this probability (a stochastic learning rate)."""
    init_spread: float | None = number(None, low=0.0, high=1.0)
    """Initial conductances uniform in Gmin + spread * [0, range] on both devices of a pair;
    None: the method's own (0.1; sgd 1.0, as NeuroSim's initial weights over [-1, 1])."""

    # --- software baselines ---
    lr: float | None = number(None, above=0.0)
    """SGD learning rate of the float-weight methods; None takes each method's measured value."""
    batch_size: int | None = number(None, low=1)
    """Minibatch size of float / ste / binarized / manhattan (SBP is per sample); None: default."""

    def __post_init__(self) -> None:
        for spec_field in fields(self):
            value = _checked(spec_field, getattr(self, spec_field.name))
            object.__setattr__(self, spec_field.name, value)  # 1 -> 1.0: one canonical run id
        defaults = type(self).__dataclass_fields__
        own = METHOD_FIELDS.get(self.method, ())
        if own:
            RULES[self.method].settings(**{name: getattr(self, name) for name in own})
        for name, methods in FIELD_METHODS.items():
            if name not in own and getattr(self, name) != defaults[name].default:
                raise ConfigError(
                    f"{name} applies to method{'s' if len(methods) > 1 else ''} "
                    f"{', '.join(methods)} only, not {self.method!r}"
                )
        for scheme, method in (("set_only", "sbp"), ("reference", "sgd")):
            if self.pulse_scheme == scheme and self.method != method:
                raise ConfigError(
                    f"pulse_scheme {scheme} applies to method {method} only, not {self.method!r}"
                )
        if self.device_sha256 is not None and not names_device_file(self.device):
            raise ConfigError(
                f"device_sha256 applies to device files only, not preset {self.device!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the defaults: `RunSpec(**changed())` is this spec, and a
        field added later leaves it as it was, so the Snakemake params and batch files written
        from it do not change with the code."""
        defaults = default_spec(type(self))
        return {k: v for k, v in self.to_dict().items() if v != getattr(defaults, k)}

    def offchip_spec(self) -> RunSpec:
        """The run (its method's `offchip_twin`: exsitu's `ste`) whose per-epoch weights this
        run writes into its crossbars.

        Off-chip training sees no device, so every exsitu run with the same data, seed, width
        and training settings programs the same network: train it once, as this run.
        """
        twin = RULES[self.method].offchip_twin
        return RunSpec(method=twin, **{name: getattr(self, name) for name in OFFCHIP_FIELDS})

    @property
    def run_id(self) -> str:
        """Short stable hash of the canonical JSON of `identity()` and, once it is above 0, the
        rule's `numbers` version (and that of the off-chip twin it programs): code that trains a
        spec to other numbers gives it another id."""
        values = self.identity()
        rule = RULES[self.method]
        versions = [rule.numbers, RULES[rule.offchip_twin].numbers if rule.offchip_twin else 0]
        if any(versions):
            values[NUMBERS_KEY] = ".".join(map(str, versions))
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def identity(self) -> dict[str, Any]:
        """What names the spec: every field, but a field of LATER_FIELDS that holds the value it
        was introduced with is left out, so runs from before it keep their ids (their numbers
        are the same), and so are other rules' fields (always at their defaults) unless
        RULE_FIELDS_IN_EVERY_RUN_ID names them: a field added later, or a new rule's fields,
        leave every existing identity as it was. A device file enters by its content
        (device_sha256) in place of its path, so copies of one file share an identity; a preset
        by its name, and by the digest of its values once they changed
        (`chip.device.preset_identity`)."""
        own = METHOD_FIELDS.get(self.method, ())
        others = {
            name
            for name in FIELD_METHODS
            if name not in own and name not in RULE_FIELDS_IN_EVERY_RUN_ID
        }
        values = {
            name: value
            for name, value in self.to_dict().items()
            if name not in others and (name not in LATER_FIELDS or value != LATER_FIELDS[name])
        }
        if self.device_sha256 is not None:
            values["device"] = DEVICE_FILE_ID
        elif not names_device_file(self.device):
            values["device"] = preset_identity(self.device)
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "spec") -> RunSpec:
        """Build from a mapping; unknown keys and wrong types are rejected with the key named."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known) - {"run_id"})
        if unknown:
            raise ConfigError(f"{source}: unknown spec key(s) {', '.join(unknown)}")
        values = {}
        for name, value in data.items():
            if name == "run_id":
                continue
            values[name] = _coerce(known[name], value, source)
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> RunSpec:
        data = read_document(path, "spec file not found")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a spec file must hold a JSON object")
        return cls.from_dict(data, source=str(path))


def _rule_fields() -> list[tuple[str, str, dataclasses.Field]]:
    """Each rule's own fields, as make_dataclass takes them; a name declared twice is an error
    naming both declarations. A field a rule's settings inherit from another rule's (the same
    declaration) is one field, read by both."""
    declared = {f.name: "sbp_core.spec" for f in fields(SharedSpec)}
    seen: set[int] = set()  # the declarations already taken, by identity
    own = []
    for rule in RULES.values():
        for rule_field in fields(rule.settings) if rule.settings is not None else ():
            if id(rule_field) in seen:
                continue
            seen.add(id(rule_field))
            where = f"{rule.settings.__module__}.{rule.settings.__qualname__}"
            if rule_field.name in declared:
                raise ConfigError(
                    f"{where}: field {rule_field.name} is already declared by "
                    f"{declared[rule_field.name]}"
                )
            declared[rule_field.name] = where
            copied = dataclasses.field(default=rule_field.default, metadata=rule_field.metadata)
            own.append((rule_field.name, rule_field.type, copied))
    return own


RunSpec = dataclasses.make_dataclass("RunSpec", _rule_fields(), bases=(SharedSpec,), frozen=True)
RunSpec.__module__ = __name__  # where pickle finds it
RunSpec.__doc__ = """One run: the shared fields (SharedSpec), then every rule's own fields
(METHOD_FIELDS), flat, so a spec, its JSON and its run id read as one mapping. Device fields
left as None take the value of the named device preset."""


def _annotation(spec_field: dataclasses.Field) -> tuple[str, bool]:
    """(base type name, whether None is allowed) of a field's string annotation."""
    annotation = str(spec_field.type)
    return annotation.replace("| None", "").strip(), "None" in annotation


_KINDS = {
    "int": (numbers.Integral, int, "an integer"),
    "float": (numbers.Real, float, "a number"),
    "bool": (bool, bool, "true or false"),
    "str": (str, str, "text"),
}
"""Annotation -> (accepted values, the plain type stored, how an error describes it)."""


def _checked(spec_field: dataclasses.Field, value: Any) -> Any:
    """One field's value as its plain Python type, after checking its type, finiteness, range
    and choices; a one-line ConfigError naming the field otherwise."""
    name, meta = spec_field.name, spec_field.metadata
    base, optional = _annotation(spec_field)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} must not be empty")
    if base == "Widths":
        return _widths(name, value, meta["low"])
    accepted, plain, described = _KINDS[base]
    if not isinstance(value, accepted) or (base != "bool" and isinstance(value, bool)):
        raise ConfigError(f"{name} must be {described}, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{name} must be one of {', '.join(meta['choices'])}, got {value!r}")
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        raise ConfigError(f"{name} must match {meta['pattern']}, got {value!r}")
    if base == "float" and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    low, above, high = (meta.get(key) for key in ("low", "above", "high"))
    too_low = (low is not None and value < low) or (above is not None and value <= above)
    if too_low or (high is not None and value > high):
        raise ConfigError(f"{name} must be {_range_text(low, above, high)}, got {value!r}")
    return plain(value)


def _widths(name: str, value: Any, low: int) -> Widths:
    """Hidden widths as an int (one layer) or a tuple of ints (several); a one-line ConfigError
    naming the field for an empty list, a width below `low` or anything but whole numbers."""
    if not isinstance(value, list | tuple):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{name} must be an integer or a list of integers, got {value!r}")
        if value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value!r}")
        return int(value)
    if not value:
        raise ConfigError(f"{name} must list at least one hidden width, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or item < low:
            raise ConfigError(f"{name} must list integers >= {low}, got {list(value)!r}")
    return int(value[0]) if len(value) == 1 else tuple(int(item) for item in value)


def option_text(value: Any) -> str:
    """A spec field's value as `sbp-bench train` reads it back as an option: several hidden
    widths as `256,128`, anything else as its str()."""
    return ",".join(str(item) for item in value) if isinstance(value, tuple) else str(value)


def parse_widths(value: Any, name: str = "n_hidden") -> Widths:
    """n_hidden from a config, JSON or command-line value: an integer, a list, or text such as
    `100`, `256,128`, `[256, 128]` or a label `256-128`."""
    if isinstance(value, str):
        text = value.strip().removeprefix("[").removesuffix("]")
        parts = text.replace(WIDTH_SEPARATOR, ",").split(",")
        try:
            widths = [int(part) for part in parts]
        except ValueError:
            raise ConfigError(
                f"{name} must be an integer or a list of integers, got {value!r}"
            ) from None
        value = widths[0] if len(widths) == 1 else widths
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return _widths(name, value, RunSpec.__dataclass_fields__[name].metadata["low"])


def _range_text(low: float | None, above: float | None, high: float | None) -> str:
    if high is None:
        return f">= {low}" if low is not None else f"> {above}"
    return f"in [{low}, {high}]" if low is not None else f"in ({above}, {high}]"


@functools.cache
def field_docs() -> MappingProxyType[str, str]:
    """RunSpec's attribute docstrings (the string under each field, in SharedSpec or in its
    rule's settings), whitespace folded. Read once a process: `inspect.getsource` parses a
    class's whole module, and the CLI asks once per option (uncached, 1.3 s of CPU a start)."""
    docs = _attribute_docs(SharedSpec)
    for rule in RULES.values():
        if rule.settings is not None:
            docs.update(_attribute_docs(rule.settings))
    return MappingProxyType(docs)


def _attribute_docs(cls: type) -> dict[str, str]:
    """The string under each annotated attribute of class `cls`, read from its source."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, following in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}
_JSON_BOUNDS = {"low": "minimum", "above": "exclusiveMinimum", "high": "maximum"}


def spec_schema() -> dict[str, dict[str, Any]]:
    """The JSON Schema properties of a run spec, from the field declarations (sbp_core.grid
    fills them into config/schema.yaml's `$defs/spec` when it validates a config)."""
    docs = field_docs()
    properties = {}
    for spec_field in fields(RunSpec):
        base, optional = _annotation(spec_field)
        entry: dict[str, Any] = {"description": docs[spec_field.name]}
        if base == "Widths":
            width = {"type": "integer", "minimum": spec_field.metadata["low"]}
            entry["anyOf"] = [width, {"type": "array", "minItems": 1, "items": width}]
            properties[spec_field.name] = entry
            continue
        if "choices" in spec_field.metadata:
            entry["enum"] = list(spec_field.metadata["choices"])
        else:
            entry["type"] = [_JSON_TYPES[base], "null"] if optional else _JSON_TYPES[base]
        if "pattern" in spec_field.metadata:
            entry["pattern"] = f"^{spec_field.metadata['pattern']}$"
        for key, schema_key in _JSON_BOUNDS.items():
            if key in spec_field.metadata:
                entry[schema_key] = spec_field.metadata[key]
        properties[spec_field.name] = entry
    return properties


def _coerce(spec_field: dataclasses.Field, value: Any, source: str) -> Any:
    """Accept JSON/YAML/CLI values (text included) for a field; `source` names the input."""
    name = spec_field.name
    base, optional = _annotation(spec_field)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"{source}: {name} must not be empty")
    if base == "Widths":
        try:
            return parse_widths(value, name)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    try:
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} must be {_KINDS[base][2]}, got {value!r}") from None


@functools.cache
def default_spec(spec_class: type[RunSpec]) -> RunSpec:
    """The spec of every default, built once a class."""
    return spec_class()
