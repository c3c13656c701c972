"""Config grids -> RunSpecs: the only place that knows how a profile's sweeps become runs.

A sweep is a base spec, axes whose values are crossed, and the methods run at every point. Runs are
keyed by `RunSpec.run_id`, so a grid point shared by two sweeps runs once and belongs to both.
Every spec carries the identity of the data the config points at and of the device file it names,
if any (sbp_core.identity), so runs on other data or another device file never share a run id.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sbp_core import identity
from sbp_core.chip.device import device_for, read_device_file
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.documents import read_document
from sbp_core.errors import ConfigError, DataError
from sbp_core.fetch import load_checksums
from sbp_core.methods import CROSSBAR_METHODS, DEPTH_COMPILED
from sbp_core.spec import METHODS, RunSpec, hidden_widths, spec_schema
from sbp_core.tuning import plan
from sbp_core.tuning.select import SELECTION_RULES

MNIST_DOWNLOAD = "resources/mnist"
"""Where the pipeline downloads MNIST when no mnist_dir is set (relative to its working folder)."""

FIGURES_BY_AXES = {0: ("methods", "curves"), 1: ("axis",), 2: ("heatmap",)}
"""Figures a sweep gets, by its number of axes (more than two axes: tables only)."""
FIGURE_KINDS = ("methods", "curves", "pulses", "axis", "presets", "heatmap")
"""Every figure kind; a device-preset sweep gets `presets`, a comparison with crossbars `pulses`."""


@dataclass(frozen=True)
class Sweep:
    """One named sweep after expansion: what varies, over which methods and seeds."""

    name: str
    description: str
    methods: tuple[str, ...]
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: tuple[int, ...]
    run_ids: tuple[str, ...]

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    @property
    def figures(self) -> tuple[str, ...]:
        """Figure kinds this sweep has data for; pulses only when a crossbar method ran."""
        kinds = FIGURES_BY_AXES.get(len(self.axes), ())
        if self.axis_names == ("device",):
            kinds = ("presets",)
        if kinds == FIGURES_BY_AXES[0] and set(self.methods) & set(CROSSBAR_METHODS):
            kinds += ("pulses",)
        return kinds

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form for Snakemake params and MLflow."""
        return {
            "name": self.name,
            "description": self.description,
            "methods": list(self.methods),
            "axes": {name: list(values) for name, values in self.axes},
            "seeds": list(self.seeds),
        }


@dataclass(frozen=True)
class Grid:
    """Every run of a profile, deduplicated, with the sweeps each belongs to.

    `runs` also holds the off-chip `ste` run of every `exsitu` run and the trials of the tuning
    plan (`tuning`, sbp_core.tuning.plan); a run no sweep names has no sweeps in `memberships`.
    The tuned final runs are not in `runs`: they follow from the trials. `device_kinds`: the
    kinds of the devices its runs name (each device file read once; `sbp-bench compile
    --device-kinds`).
    """

    profile: str
    sweeps: dict[str, Sweep]
    runs: dict[str, RunSpec]
    memberships: dict[str, tuple[str, ...]]
    device_kinds: tuple[str, ...]
    tuning: tuple[plan.Unit, ...] = ()

    @property
    def kernel_depths(self) -> tuple[int, ...]:
        """The numbers of hidden layers the grid's SBP and SGD runs have (their compiled epochs
        are specialised to it; `sbp-bench compile --hidden-layers`), at least (1,)."""
        depths = {
            len(hidden_widths(spec.n_hidden))
            for spec in self.runs.values()
            if spec.method in DEPTH_COMPILED
        }
        return tuple(sorted(depths)) or (1,)


def load_config(path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """Read a YAML config and validate it (defaults filled in)."""
    config = read_document(path, "config file not found")
    return validate_config(config or {}, schema_path)


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check `config` against the JSON Schema, fill defaults in place, and return it.

    Raises ConfigError with one line naming the first offending key.
    """
    schema = with_spec_parts(yaml.safe_load(Path(schema_path).read_text()))
    validator = _defaulting_validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(_describe(error))
    return config


NOT_AXES = ("method", "seed", "data_sha256", "device_sha256")
"""Spec fields a sweep does not vary by axis: method and seed have their own keys, the two
identities follow from the data and device file a config points at."""


def with_spec_parts(schema: dict[str, Any]) -> dict[str, Any]:
    """The config schema with its run-spec parts filled in from RunSpec's declarations: the spec
    properties, the fields a sweep may vary and the methods (so a new rule's module is all it
    takes for configs to name it and its fields)."""
    properties = spec_schema()
    definitions = schema["$defs"]
    definitions["spec"]["properties"] = properties
    definitions["axis_field"]["enum"] = [name for name in properties if name not in NOT_AXES]
    definitions["sweep"]["properties"]["methods"]["items"]["enum"] = list(METHODS)
    definitions["tuning"]["properties"]["selection"]["enum"] = list(SELECTION_RULES)
    return schema


def _defaulting_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator that also writes each property's `default` into the instance."""
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = json.loads(json.dumps(sub["default"]))
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties})(schema)


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        if extra and allowed:
            key = ".".join(filter(None, [where, extra[0]]))
            return f"config key {key}: unknown key (allowed: {', '.join(allowed)})"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"config key {'.'.join(filter(None, [where, missing[0]]))}: required but missing"
    if "propertyNames" in error.absolute_schema_path:
        key = ".".join(filter(None, [where, str(error.instance)]))
        allowed = error.validator_value if error.validator == "enum" else None
        reason = f"allowed: {', '.join(allowed)}" if allowed else " ".join(error.message.split())
        return f"config key {key}: not an allowed name ({reason})"
    return f"config key {where or '(top level)'}: {' '.join(error.message.split())}"


def expand(config: Mapping[str, Any]) -> Grid:
    """Expand a validated config into deduplicated RunSpecs and sweep memberships."""
    runs: dict[str, RunSpec] = {}
    memberships: dict[str, list[str]] = {}
    sweeps = {}
    cells: dict[str, dict[tuple[str, int, int], RunSpec]] = {}
    identity_of = functools.cache(lambda dataset: data_identity(dataset, config))
    read = functools.cache(read_device_file)
    kinds: set[str] = set()
    for name, sweep_config in config["sweeps"].items():
        cells[name] = {}
        sweep = _expand_sweep(
            name, sweep_config, config, runs, identity_of, read, kinds, cells[name]
        )
        sweeps[name] = sweep
        for run_id in sweep.run_ids:
            memberships.setdefault(run_id, []).append(name)
    units = plan.build(config.get("tuning"), sweeps, cells)
    for unit in units:
        for spec in (*unit.trials, *unit.offchip_twins()):
            runs.setdefault(spec.run_id, spec)
    for spec in list(runs.values()):
        if spec.method == "exsitu":  # its off-chip network is a run too, in a sweep or not
            runs.setdefault(spec.offchip_spec().run_id, spec.offchip_spec())
    return Grid(
        profile=config["profile"],
        sweeps=sweeps,
        runs=runs,
        memberships={run_id: tuple(memberships.get(run_id, ())) for run_id in runs},
        device_kinds=tuple(sorted(kinds)),
        tuning=units,
    )


def data_identity(dataset: str, config: Mapping[str, Any]) -> tuple[str, str]:
    """(identity, where the data is) of the `dataset` the config's runs read, hashed once per grid.

    A local mnist_dir is hashed; a download is named by the checksums it will be verified
    against. With `checksums: none` nothing names the data before it is downloaded, so the files
    already in MNIST_DOWNLOAD are hashed, and without them the grid cannot be built.
    """
    if dataset == "digits" or config["mnist_dir"]:
        return identity.of_dataset(dataset, config["mnist_dir"])
    checksums_key = config["mnist"]["checksums"]
    checksums = load_checksums(checksums_key)
    if checksums is not None:
        return identity.of_checksums(checksums), f"config key mnist.checksums ({checksums_key})"
    try:
        return identity.of_dataset(dataset, MNIST_DOWNLOAD)
    except DataError as err:
        raise ConfigError(
            f"config key mnist.checksums: 'none' names no data until it is downloaded ({err}); "
            f"run `sbp-bench fetch-mnist --dest {MNIST_DOWNLOAD} --checksums none --mirror URL` "
            "first, or give a SHA256SUMS file"
        ) from None


def _expand_sweep(
    name: str,
    sweep: Mapping[str, Any],
    config: Mapping[str, Any],
    runs: dict[str, RunSpec],
    identity_of: Callable[[str], tuple[str, str]],
    read: Callable,
    kinds: set[str],
    cells: dict[tuple[str, int, int], RunSpec],
) -> Sweep:
    """One sweep's runs, added to `runs`; `cells[(method, point index, seed)]` gets each spec."""
    axes = tuple((axis, tuple(values)) for axis, values in sweep.get("axes", {}).items())
    seeds = tuple(sweep.get("seeds") or config["seeds"])
    base = {**config.get("base", {}), **sweep.get("base", {})}
    source = f"config sweeps.{name}"
    names = [axis for axis, _ in axes]
    run_ids = []
    for method, (index, point), seed in itertools.product(
        sweep["methods"], enumerate(itertools.product(*(values for _, values in axes))), seeds
    ):
        fields = {**base, "method": method, "seed": seed, **dict(zip(names, point, strict=True))}
        spec, device = _spec(fields, source, read)
        kinds.add(device.kind)
        spec = identity.device_stamped(identity.stamped(spec, *identity_of(spec.dataset)))
        runs.setdefault(spec.run_id, spec)
        cells[(method, index, seed)] = spec
        if spec.run_id not in run_ids:
            run_ids.append(spec.run_id)
    return Sweep(
        name=name,
        description=sweep.get("description", ""),
        methods=tuple(sweep["methods"]),
        axes=axes,
        seeds=seeds,
        run_ids=tuple(run_ids),
    )


def _spec(fields: dict[str, Any], source: str, read: Callable) -> tuple[RunSpec, DeviceParams]:
    """A RunSpec whose errors name the sweep, and its device (preset or file, read by `read`)."""
    try:
        spec = RunSpec.from_dict(fields, source=source)
        device = device_for(spec, read)
    except ConfigError as err:
        message = str(err)
        raise ConfigError(
            message if message.startswith(source) else f"{source}: {message}"
        ) from None
    return spec, device


def config_hash(config: Mapping[str, Any]) -> str:
    """Short hash of the validated config, tagged on every MLflow run for provenance."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
