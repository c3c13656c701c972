"""The `sbp-bench` command: `train` one run into a folder, `train-batch` many in one process,
`fetch-mnist`, `compile` the kernels, `fit-device` a device file to measured pulse-response curves.

Every RunSpec field is an option (`--n-hidden 200`), its help text is the field's docstring, and
a spec file (`--spec FILE.json`) may give the rest. Errors print as one line and exit with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path

from sbp_core.errors import SbpBenchError
from sbp_core.methods import DEPTH_COMPILED
from sbp_core.spec import DEVICE_FIELDS, METHOD_FIELDS, RunSpec, field_docs

DESCRIPTION = "Sign backpropagation on simulated RRAM crossbars: one run, MNIST, kernels, devices."
TRAIN_GROUPS = {
    "data": ("data", "what the network reads"),
    "network": ("network and training", "the network, its training budget and seed"),
    "device": (
        "device",
        "a preset or a device file; each field below overrides the device's own value",
    ),
    "rule": ("learning rule", "the rule and its settings; a rule's own fields name their rule"),
    "output": ("output", "where the run goes"),
}
"""The groups of `train --help`, in the order a run is described."""
FIELD_GROUPS = {
    **dict.fromkeys(
        ("dataset", "data_sha256", "n_train", "val_fraction", "binarize_threshold", "input_crop"),
        "data",
    ),
    **dict.fromkeys(("n_hidden", "epochs", "epoch_samples", "seed", "lr", "batch_size"), "network"),
    **dict.fromkeys(("device", "device_sha256", *DEVICE_FIELDS), "device"),
}
"""The group of each shared spec field not in `rule` (the method, crossbar and rule settings)."""
HIDDEN_FIELDS = ("data_sha256", "device_sha256")
"""Spec fields the run fills in itself (the data's and device file's identity): options for the
workflow's jobs, left out of --help."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SbpBenchError as err:
        print(f"sbp-bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sbp-bench: interrupted; no finished outputs were changed", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sbp-bench", description=DESCRIPTION)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train one run and write its folder",
        description="Train one run and write its folder. Every RunSpec field is an option; "
        "a spec file (--spec) may give the rest.",
    )
    train.add_argument("--spec", type=Path, help="JSON spec file; options below override it")
    groups = {
        name: train.add_argument_group(title, description)
        for name, (title, description) in TRAIN_GROUPS.items()
    }
    for field in fields(RunSpec):
        groups[_group_of(field.name)].add_argument(
            f"--{field.name.replace('_', '-')}", dest=f"spec_{field.name}", **_field_option(field)
        )
    groups["data"].add_argument(
        "--mnist-dir", type=Path, help="folder with the four MNIST IDX files"
    )
    groups["rule"].add_argument(
        "--offchip-run",
        type=Path,
        help="exsitu only: finished ste run folder whose network to program (else trained here)",
    )
    groups["output"].add_argument("--out", required=True, type=Path, help="run folder to write")
    groups["output"].add_argument(
        "--replace",
        action="store_true",
        help="let --out replace a folder that holds another spec's run",
    )
    groups["output"].add_argument(
        "--quiet", action="store_true", help="no per-epoch progress lines"
    )
    train.set_defaults(handler=_train)

    batch = commands.add_parser(
        "train-batch", help="train many runs in one process, each into its own folder"
    )
    batch.add_argument(
        "batch_file", type=Path, help="JSON lines, one run spec per line (sbp_core.batch)"
    )
    batch.add_argument(
        "--runs-dir", required=True, type=Path, help="folder to write each run's folder into"
    )
    batch.add_argument("--mnist-dir", type=Path, help="folder with the four MNIST IDX files")
    batch.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    batch.set_defaults(handler=_train_batch)

    fetch = commands.add_parser("fetch-mnist", help="download and verify the MNIST IDX files")
    fetch.add_argument("--dest", required=True, type=Path, help="folder to download into")
    fetch.add_argument("--mirror", action="append", help="base URL (repeatable); default: public")
    fetch.add_argument(
        "--checksums", default="official", help="official | none | path of a SHA256SUMS file"
    )
    fetch.add_argument("--retries", type=int, default=3, help="attempts per mirror")
    fetch.set_defaults(handler=_fetch)

    warm = commands.add_parser("compile", help="compile and cache every numba kernel once")
    warm.add_argument(
        "--device-kinds",
        default="neurosim",
        help="device kinds (sbp_core.chip.kinds) to compile the kernels for, e.g. "
        "neurosim,lookup_table [default: neurosim]",
    )
    warm.add_argument(
        "--hidden-layers",
        default="1",
        help=f"numbers of hidden layers to compile the {', '.join(DEPTH_COMPILED)} epochs for, "
        "e.g. 1,2,3",
    )
    warm.set_defaults(handler=_compile)

    fit = commands.add_parser("fit-device", help="fit a device file to measured curves (CSV)")
    fit.add_argument("curves", type=Path, help="CSV, one row per pulse (docs/measured_devices.md)")
    fit.add_argument("--out", required=True, type=Path, help="device file to write (.yaml)")
    fit.add_argument("--figure", type=Path, help="PNG of measured and fitted curves [--out .png]")
    fit.add_argument(
        "--model",
        choices=("neurosim", "lookup_table"),
        default="neurosim",
        help="the NeuroSim model, or lookup tables of the measured steps [default: neurosim]",
    )
    fit.add_argument(
        "--bins",
        type=int,
        help="lookup_table: bins per direction [default: one per 20 steps measured, at most 32]",
    )
    fit.add_argument(
        "--columns",
        default="",
        metavar="NAME=HEADER,...",
        help="the file's column for ours (device, cycle, direction, pulse, conductance_S)",
    )
    fit.add_argument(
        "--directions",
        default="",
        metavar="set=LABEL,reset=LABEL",
        help="the file's direction labels [default: set/reset, ltp/ltd, potentiation/depression]",
    )
    fit.add_argument(
        "--conductance-scale",
        type=float,
        default=1.0,
        help="siemens per unit of the file's conductances (1e-6 for uS) [default: 1]",
    )
    fit.add_argument("--name", help="device name [default: the stem of --out]")
    fit.add_argument(
        "--accept-poor-fit",
        action="store_true",
        help="write the device file even when the fit fails its quality check",
    )
    for option, what in (
        ("--v-set", "SET pulse amplitude, volts"),
        ("--v-reset", "RESET pulse amplitude, volts"),
        ("--pulse-width-s", "programming pulse width (SET's, and RESET's unless given), seconds"),
        ("--reset-pulse-width-s", "RESET pulse width where it differs, seconds"),
    ):
        fit.add_argument(option, type=float, help=f"{what} (for the energy; assumed otherwise)")
    fit.set_defaults(handler=_fit_device)
    _add_compare(commands)
    return parser


def _group_of(name: str) -> str:
    return FIELD_GROUPS.get(name, "rule")


def _field_option(field) -> dict:
    """argparse keywords of one spec field's option: its docstring as help, its choices, its
    real default (a device field's is the preset's), booleans as flags that still take a value
    (`--real-inputs`, or `--real-inputs false` as the workflow's jobs pass it)."""
    if field.name in HIDDEN_FIELDS:
        return {"help": argparse.SUPPRESS}
    option = {"metavar": field.name.upper()}
    help_text = field_docs().get(field.name, "")
    choices = field.metadata.get("choices")
    if choices:
        option["metavar"] = "{" + ",".join(choices) + "}"
    if field.name == "device":
        from sbp_core.chip.device import PRESETS

        option["metavar"] = "PRESET|FILE.yaml"
        help_text += f" Presets: {', '.join(PRESETS)}."
    if str(field.type) == "bool":
        option.update(nargs="?", const="true", metavar="BOOL")
    owners = [method for method, names in METHOD_FIELDS.items() if field.name in names]
    if owners and " only" not in help_text:
        help_text = f"({', '.join(owners)} only) {help_text}"
    if field.name in DEVICE_FIELDS:
        from sbp_core.chip.device import PRESETS

        preset = RunSpec.device  # the default device
        default = f"the preset's ({preset}: {getattr(PRESETS[preset], field.name)})"
    else:
        default = None if field.default is None else field.default
    option["help"] = help_text if default is None else f"{help_text} [default: {default}]"
    return option


def _add_compare(commands) -> None:
    """`compare`: every on-chip rule on one device, through the workflow (sbp_core.compare)."""
    compare = commands.add_parser(
        "compare", help="every on-chip rule on one device: accuracy, energy, area, saving"
    )
    compare.add_argument("--device", required=True, help="device preset or device file (.yaml)")
    compare.add_argument("--dataset", choices=("digits", "mnist"), default="digits",
                         help="[default: digits]")  # fmt: skip
    compare.add_argument("--mnist-dir", type=Path, help="folder with the four MNIST IDX files")
    compare.add_argument("--epochs", type=int, default=20, help="[default: 20]")
    compare.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 [default: 3]")
    compare.add_argument("--cores", type=int, default=2, help="[default: 2]")
    compare.add_argument(
        "--trials", type=int, default=16, help="K, tuning trials per rule on the device, chosen "
        "on validation; 0: no tuning, the documented readings [default: 16, README]",
    )  # fmt: skip
    compare.add_argument(
        "--out", type=Path, help="folder for summary.md and compare.png "
        "[default: results/compare-<device>-<dataset>/compare]",
    )  # fmt: skip
    compare.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from sbp_core.compare import compare

    mnist_dir = args.mnist_dir or os.environ.get("SBP_MNIST_DIR")
    try:
        lines = compare(
            args.device, args.dataset, args.epochs, args.seeds, args.cores, args.out,
            Path(mnist_dir) if mnist_dir else None,
            show=_show_progress, trials=args.trials,
        )  # fmt: skip
    finally:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # end the bar's line, before the table or an error
    print("\n".join(lines))
    return 0


def _show_progress(line: str) -> None:
    """compare's progress on stderr: on a terminal the bar redraws in place, in a log a line
    per step."""
    if not sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
    elif line.startswith("progress:"):
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
    else:  # a workflow error: on a line of its own below the bar
        print(f"\n{line}", file=sys.stderr, flush=True)


def _train(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from sbp_core import train

    values = RunSpec.from_json(args.spec).to_dict() if args.spec else {}
    for field in fields(RunSpec):
        option = getattr(args, f"spec_{field.name}")
        if option is not None:
            values[field.name] = option
    spec = RunSpec.from_dict(values, source="--spec/options" if args.spec else "options")
    mnist_dir = args.mnist_dir or os.environ.get("SBP_MNIST_DIR")
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    with threadpool_limits(limits=1):  # one core per job: grids scale with --cores, not BLAS
        metrics = train.run(
            spec,
            args.out,
            mnist_dir=mnist_dir,
            progress=progress,
            offchip_run=args.offchip_run,
            replace=args.replace,
        )
    print(f"{metrics['run_id']} {metrics['status']}: {train.outcome(metrics)} -> {args.out}")
    return 0 if metrics["status"] == "ok" else 1


def _train_batch(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from sbp_core.batch import read_batch, train_batch

    specs = read_batch(args.batch_file)
    mnist_dir = args.mnist_dir or os.environ.get("SBP_MNIST_DIR")
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    statuses = []
    with threadpool_limits(limits=1):  # as `train`: one core per process
        for outcome in train_batch(specs, args.runs_dir, mnist_dir=mnist_dir, progress=progress):
            line = f"{outcome.run_id} {outcome.status}: {outcome.message} -> {outcome.folder}"
            print(line, file=sys.stderr if outcome.status == "failed" else sys.stdout)
            statuses.append(outcome.status)
    if "failed" in statuses:
        return 2
    return 0 if set(statuses) <= {"ok", "finished before"} else 1


def _compile(args: argparse.Namespace) -> int:
    from sbp_core.chip.kinds import kind_named
    from sbp_core.errors import ConfigError
    from sbp_core.methods import compile_kernels

    try:
        depths = [int(part) for part in args.hidden_layers.split(",")]
    except ValueError:
        depths = []
    if not depths or min(depths) < 1:
        raise ConfigError(f"--hidden-layers must list integers >= 1, got {args.hidden_layers!r}")
    kinds = args.device_kinds.split(",")
    for kind in kinds:
        kind_named(kind, "--device-kinds")
    methods = ", ".join(compile_kernels(depths, kinds))
    layers = ", ".join(map(str, sorted(set(depths))))
    print(
        f"compiled and cached the kernels of {methods} for {', '.join(kinds)} devices "
        f"({', '.join(DEPTH_COMPILED)} for {layers} hidden layers)"
    )
    return 0


def _fit_device(args: argparse.Namespace) -> int:
    from sbp_core.errors import ConfigError
    from sbp_core.fitting.curves import COLUMNS, DIRECTIONS, parse_mapping, read_curves
    from sbp_core.fitting.fit import (
        ASSUMED_UNLESS_GIVEN,
        ELECTRICAL,
        fit_device,
        write_device_file,
    )
    from sbp_core.spec import names_device_file

    if not names_device_file(str(args.out)):
        raise ConfigError(f"--out {args.out}: a device file ends in .yaml (or .yml)")
    curves = read_curves(
        args.curves,
        columns=parse_mapping(args.columns, "--columns", COLUMNS),
        directions=parse_mapping(args.directions, "--directions", DIRECTIONS),
        conductance_scale=args.conductance_scale,
    )
    electrical = {
        name: getattr(args, name) for name in ELECTRICAL if getattr(args, name) is not None
    }
    fit = fit_device(
        curves, model=args.model, bins=args.bins, name=args.name or args.out.stem, **electrical
    )
    if fit.check.poor and not args.accept_poor_fit:
        raise ConfigError(_poor_fit(fit, args, electrical))
    write_device_file(fit, args.out)
    assumed = [name for name in ASSUMED_UNLESS_GIVEN if name not in electrical]
    if assumed:  # the energy scales with them: say so where the user looks, not only in the YAML
        values = ", ".join(f"{name} {getattr(fit.params, name):g}" for name in assumed)
        print(
            f"sbp-bench: warning: {args.out}: {values} assumed (the curves do not give them); "
            "energies and savings scale with them: pass --v-set, --v-reset, --pulse-width-s",
            file=sys.stderr,
        )
    from sbp_core.fitting.figure import fit_figure, save_png  # matplotlib only for the figure

    figure = args.figure or args.out.with_suffix(".png")
    save_png(fit_figure(fit), figure)
    quality, p = fit.quality(), fit.params
    rms = ", ".join(f"{d} {100 * v:.2g} %" for d, v in quality["rms_error_of_range"].items())
    print(
        f"{args.out}: {fit.model} fit of {len(fit.devices)} device(s): n_states {p.n_states}, "
        f"nl_ltp {p.nl_ltp:g}, nl_ltd {p.nl_ltd:g}, c2c_sigma {p.c2c_sigma:g}, measured "
        f"d2d_sigma {quality['d2d_sigma']:g}; RMS error {rms} of the range; figure {figure}"
    )
    return 0


def _poor_fit(fit, args: argparse.Namespace, electrical: dict) -> str:
    """The one line a poor fit stops with: what is off, and the other model where that one
    passes the check (docs/measured_devices.md)."""
    from sbp_core.errors import ConfigError
    from sbp_core.fitting.fit import MODELS, fit_device

    other = next(model for model in MODELS if model != fit.model)
    try:
        alternative = fit_device(fit.curves, model=other, bins=args.bins, **electrical)
        better = not alternative.check.poor
    except ConfigError:  # e.g. too few steps for a table's bins
        better = False
    hint = f"; --model {other} fits better" if better else ""
    return (
        f"{args.curves}: poor {fit.model} fit ({'; '.join(fit.check.poor)}){hint}; nothing "
        "written (--accept-poor-fit writes it anyway)"
    )


def _fetch(args: argparse.Namespace) -> int:
    from sbp_core.fetch import DEFAULT_MIRRORS, fetch_mnist, load_checksums

    fetched = fetch_mnist(
        args.dest,
        mirrors=args.mirror or DEFAULT_MIRRORS,
        checksums=load_checksums(args.checksums),
        retries=args.retries,
    )
    for item in fetched:
        print(f"{item.path}: {'kept (verified)' if item.source is None else item.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
