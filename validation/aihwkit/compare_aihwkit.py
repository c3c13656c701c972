"""Our ttv2, cttv2, agad and mixed_precision beside IBM aihwkit's TTv2, c-TTv2, AGAD and mixed
precision on the same task, data and devices (validation/aihwkit/README.md).

Run it with the python of a venv that holds aihwkit and torch; it runs our side and reads our data
and device mapping through the project venv's python (`--sbp-python`), so aihwkit never enters the
project's environment:

    $AIHWKIT_VENV/bin/python validation/aihwkit/compare_aihwkit.py --out $WORK

The same file, run by the project's python as `export`, writes what the aihwkit side needs: the
run's data (sbp_core.data, the run seed's validation split, binary inputs) and the device mapped
by sbp_core.chip.aihwkit_mapping.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RULES = {"ttv2": "ttv2", "cttv2": "c-ttv2", "agad": "agad", "mixed_precision": "mp"}
"""Our --method beside the name of aihwkit's own configuration of it (configs.build_config)."""

PAIR_SCALE = 2.0
"""aihwkit holds one device per weight, we a pair: aihwkit's weight unit is taken as a pair's,
so its dw_min and bounds are twice the one-device mapping (one aihwkit pulse = one pair pulse)."""

HIDDEN_LR, OUTPUT_LR = 0.4, 0.2
"""Our rules' defaults (lr, lr_out: sgd.py, SGDLearner.default_lr), given to aihwkit per layer."""

TRANSFER_LR, BL, ADC_BITS = 0.01, 31, 8
"""Our TTv2 defaults (ttv2_transfer_lr, ttv2_bl) and adc_bits."""
CHOP_EVERY = {"cttv2": 30, "agad": 5}
"""Our chopper periods (cttv2_chop_every, agad_chop_every): aihwkit's in_chop_prob is 1 / these."""
TAIL_WEIGHT = 5.0
"""Our agad_tail_weight: aihwkit's tail_weightening (its default too)."""


# --- the project side (run by the project venv's python) ------------------------------------


def export(device: str, seed: int, path: Path) -> None:
    """Write the run's binary inputs and labels and the mapped device to one .npz file."""
    from sbp_core.chip.aihwkit_mapping import linear_step_parameters
    from sbp_core.chip.device import preset
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=seed)
    device_params = preset(device)
    params = linear_step_parameters(device_params)
    arrays = {
        name: binarize(getattr(data, f"X_{name}"), 0.5, data.max_value).astype(np.float32)
        for name in ("train", "val", "test")
    }
    labels = {f"y_{name}": getattr(data, f"y_{name}") for name in ("train", "val", "test")}
    # our nominal step: a linear device's mean change per pulse, in weight units (one device)
    mapping = json.dumps({**params._asdict(), "nominal_step": 1.0 / (device_params.n_states - 1)})
    np.savez(path, **arrays, **labels, mapping=np.array(mapping))


def run_ours(args, device: str, rule: str, seed: int) -> float:
    """Train our rule with `sbp-bench train` (reused where its folder holds a finished run) and
    return its final test accuracy. `--calibrate`: ours with aihwkit's calibration (below)."""
    out = args.out / "ours" / f"{device}-{rule}-s{seed}{suffix(args)}"
    metrics = out / "metrics.json"
    if not metrics.exists():
        sbp_bench = Path(args.sbp_python).parent / "sbp-bench"
        command = [str(sbp_bench), "train", "--method", rule, "--dataset", "digits"]
        command += ["--n-hidden", str(args.n_hidden), "--epochs", str(args.epochs)]
        command += ["--device", device, "--r-access-ohm", "0", "--seed", str(seed)]
        command += ["--pulse-scheme", "single"] if args.single else []
        command += calibration(args, device, rule) if args.calibrate else []
        subprocess.run([*command, "--out", str(out), "--quiet"], check=True)
    return json.loads(metrics.read_text())["final_test_acc"]


def calibration(args, device: str, rule: str) -> list[str]:
    """Our options that calibrate a rule as aihwkit does: aihwkit counts pulses in its device's
    dw_min (for TTv2's A the mean of A's and C's dw_min, `update_granularity`; the array's for
    mixed precision), ours in the nominal step, the mean step of a linear device. Rates scaled by
    nominal / that step give our rule aihwkit's pulse counts, and TTv2's threshold becomes A's
    dw_min (aihwkit's buffer granularity 1)."""
    mapping = json.loads(str(np.load(exported(args, device, 0))["mapping"]))
    fast, slow = devices(mapping, args.single)
    nominal = (1.0 if args.single else PAIR_SCALE) * mapping["nominal_step"]
    ratio = nominal / (slow.dw_min if rule == "mixed_precision" else update_granularity(fast, slow))
    if abs(ratio - 1.0) < 1e-9:  # the ideal device: already aihwkit's, and the same run as ours
        return []
    options = ["--lr", f"{HIDDEN_LR * ratio:.6g}", "--lr-out", f"{OUTPUT_LR * ratio:.6g}"]
    return options + (
        [] if rule == "mixed_precision" else ["--ttv2-threshold", f"{fast.dw_min:.6g}"]
    )


def update_granularity(fast, slow) -> float:
    """The step aihwkit's pulsed update of A counts pulses in (TTv2, c-TTv2, AGAD): the transfer
    compound's weight granularity, which VectorRPUDevice::populate (rpu_vector_device.cpp) sets to
    the mean of its devices' dw_min, A's and C's, overriding TransferRPUDeviceMetaParameter's
    calcWeightGranularity (A's only); PulsedRPUWeightUpdater (rpu_weight_updater.cpp) takes BL and
    the firing probabilities from it. It is A's dw_min only where C's equals it (pairs, the ideal
    device); with one device per weight C's is taken at our mid-range origin (pcmo: 0.092 against
    A's 0.050). H's threshold is A's own dw_min (ChoppedTransferRPUDevice reads
    rpu_device_vec_[0]->getWeightGranularity())."""
    return (fast.dw_min + slow.dw_min) / 2


def suffix(args) -> str:
    """The run folders' suffix of a reading: '', '-single', '-cal' or '-single-cal'."""
    return ("-single" if args.single else "") + (
        "-cal" if getattr(args, "calibrate", False) else ""
    )


def exported(args, device: str, seed: int) -> Path:
    """The .npz of one seed's data and the mapped device, written by the project's python."""
    npz = args.out / "data" / f"{device}-s{seed}.npz"
    if not npz.exists():
        npz.parent.mkdir(parents=True, exist_ok=True)
        command = [args.sbp_python, __file__, "export", "--device", device]
        subprocess.run([*command, "--seed", str(seed), "--npz", str(npz)], check=True)
    return npz


# --- the aihwkit side -----------------------------------------------------------------------


def aihwkit_device(mapping: dict, single: bool = False):
    """aihwkit's LinearStepDevice with our device's mapped steps, at a pair's weight scale (or
    one device's, `single`): no device-to-device spread, additive C2C noise of a pair pulse
    (two devices' draws) or of one device."""
    scale = 1.0 if single else PAIR_SCALE
    from aihwkit.simulator.configs.devices import LinearStepDevice

    return LinearStepDevice(
        dw_min=scale * mapping["dw_min"],
        up_down=mapping["up_down"],
        w_max=scale * mapping["w_max"],
        w_min=scale * mapping["w_min"],
        gamma_up=mapping["ls_decrease_up"],  # aihwkit's python names of ls_decrease_*
        gamma_down=mapping["ls_decrease_down"],
        allow_increasing=mapping["ls_allow_increasing_slope"],
        mean_bound_reference=True,
        mult_noise=False,
        # a pair pulse's noise is sqrt(2) sigma against a step of twice dw_min
        dw_min_std=mapping["dw_min_std"] / math.sqrt(scale),
        dw_min_dtod=0.0,
        up_down_dtod=0.0,
        w_max_dtod=0.0,
        w_min_dtod=0.0,
        gamma_up_dtod=0.0,
        gamma_down_dtod=0.0,
        write_noise_std=0.0,
        construction_seed=0,
    )


def devices(mapping: dict, single: bool):
    """(A, C): TTv2's fast array A and the weights C (mixed precision's array), both the mapped
    device; in the `single` reading C reads from our single scheme's origin (mid-range)."""
    fast = aihwkit_device(mapping, single)
    return fast, shifted_origin(fast, (fast.w_max + fast.w_min) / 2) if single else fast


def shifted_origin(device, delta: float):
    """The same LinearStep device with its weight read from another origin, w' = w - delta: our
    `single` scheme reads G+ against a G- at mid-range, delta = (w_max + w_min) / 2 from the
    symmetry point. The steps stay the same functions of the conductance; at the new origin they
    differ between the directions (up_down != 0), and aihwkit's noise, scale times dw_min_std,
    then differs too: dw_min_std is set so the larger step's noise is ours."""
    d, top, bottom = device.dw_min, device.w_max, device.w_min
    slope_up = -device.gamma_up * d / top  # up step d + slope_up w; down step d + slope_down w
    slope_down = -device.gamma_down * d / bottom
    up, down = d + slope_up * delta, d + slope_down * delta
    dw_min = max(up, down)
    top, bottom = top - delta, bottom - delta
    gamma_up, gamma_down = -slope_up * top / up, -slope_down * bottom / down
    device = dataclasses.replace(
        device,
        dw_min=dw_min,
        up_down=(up - down) / dw_min,
        w_max=top,
        w_min=bottom,
        gamma_up=gamma_up,
        gamma_down=gamma_down,
        allow_increasing=bool(gamma_up < 0 or gamma_down < 0),
        dw_min_std=device.dw_min_std * d / dw_min,
    )
    return device


def io_parameters(n_rows: int):
    """Our forward read: no input quantisation, no noise, the column ADC of ADC_BITS over
    +-n_rows weight units (aihwkit's step is out_res * 2 out_bound), no noise or bound
    management (they rescale inputs, which our periphery does not)."""
    from aihwkit.simulator.parameters import IOParameters
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType

    return IOParameters(
        inp_res=-1.0,
        inp_bound=1.0,
        out_bound=float(n_rows),
        out_res=1.0 / 2**ADC_BITS,
        out_noise=0.0,
        w_noise=0.0,
        noise_management=NoiseManagementType.NONE,
        bound_management=BoundManagementType.NONE,
    )


def rpu_config(rule: str, device, n_rows: int, lr: float, fast=None):
    """aihwkit's own configuration of the rule (build_config), with what ours fixes set to ours:
    the read periphery, BL, A's rate, the transfer and the chopper. `device` is C (or mixed
    precision's array), `fast` A where it differs (A's zero is always the symmetry point)."""
    from aihwkit.simulator.configs import build_config
    from aihwkit.simulator.parameters import IOParameters, UpdateParameters

    config = build_config(RULES[rule], device, io_parameters=io_parameters(n_rows))
    config.backward = IOParameters(is_perfect=True)  # ours: digital errors in full precision
    config.mapping.digital_bias = False  # ours: the bias is a row of the crossbar
    config.mapping.weight_scaling_omega = 0.0
    config.update = UpdateParameters(desired_bl=BL)  # update management on, as ours
    if rule == "mixed_precision":
        return config
    compound = config.device
    if fast is not None:
        compound.unit_cell_devices = [fast, device]
    compound.fast_lr = lr  # A's rate; the optimiser's lr (1) then leaves transfer_lr as is
    compound.transfer_lr = TRANSFER_LR
    compound.transfer_every = 1.0  # one column of A (one input line) read per sample
    compound.units_in_mbatch = False
    compound.auto_scale = False
    compound.buffer_granularity = 1.0  # C is pulsed where |H| passes one pulse of C
    compound.forget_buffer = False  # H loses what was transferred, as ours
    read = io_parameters(1)  # one pair's range, +-1 weight unit
    read.out_res = 1.0 / 2**ADC_BITS
    compound.transfer_forward = read
    compound.transfer_update = UpdateParameters(
        desired_bl=1, update_bl_management=False, update_management=False
    )
    compound.in_chop_prob = 1.0 / CHOP_EVERY[rule] if rule in CHOP_EVERY else 0.0
    compound.in_chop_random = False  # ours flips every CHOP_EVERY-th read of a line
    if rule == "agad":
        compound.tail_weightening = TAIL_WEIGHT
    return config


def initial_weights(shape, w_min: float, w_max: float, rng, single: bool) -> np.ndarray:
    """Our initial weights (init spread 1): a pair's, the difference of two uniform
    conductances, clipped to the one aihwkit device's bounds; `single`, G+ uniform over its
    range against the fixed G-."""
    if single:
        return (w_min + (w_max - w_min) * rng.random(shape)).astype(np.float32)
    w = rng.random(shape) - rng.random(shape)
    return np.clip(w, w_min, w_max).astype(np.float32)


def run_aihwkit(args, device: str, rule: str, seed: int) -> dict:
    """Train aihwkit's rule on our data for one seed; return accuracies and speed."""
    import torch
    from aihwkit.nn import AnalogLinear
    from aihwkit.optim import AnalogSGD

    out = args.out / "aihwkit" / f"{device}-{rule}-s{seed}{'-single' if args.single else ''}.json"
    # (aihwkit's side is the same with --calibrate, which changes ours only)
    if out.exists():
        return json.loads(out.read_text())
    data = np.load(exported(args, device, seed))
    mapping = json.loads(str(data["mapping"]))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    fast, dev = devices(mapping, args.single)
    sizes = (data["train"].shape[1], args.n_hidden, 10)
    layers, optimisers = [], []
    for n_in, n_out, lr in zip(sizes, sizes[1:], (HIDDEN_LR, OUTPUT_LR), strict=False):
        layer = AnalogLinear(
            n_in, n_out, bias=True, rpu_config=rpu_config(rule, dev, n_in + 1, lr, fast)
        )
        w = initial_weights((n_out, n_in + 1), dev.w_min, dev.w_max, rng, args.single)
        layer.set_weights(torch.from_numpy(w[:, :-1]), torch.from_numpy(w[:, -1]))
        # TTv2: the optimiser's lr only scales transfer_lr; mixed precision: chi's rate
        optimiser = AnalogSGD(layer.parameters(), lr=lr if rule == "mixed_precision" else 1.0)
        optimiser.regroup_param_groups(layer)
        layers.append(layer)
        optimisers.append(optimiser)

    def forward(x):
        for layer in layers:
            x = torch.sigmoid(layer(x))
        return x

    def accuracy(name: str) -> float:
        with torch.no_grad():
            scores = forward(torch.from_numpy(data[name]))
        return float((scores.argmax(1).numpy() == data[f"y_{name}"]).mean())

    x_train, y_train = torch.from_numpy(data["train"]), data["y_train"]
    targets = torch.eye(10)[torch.from_numpy(y_train.astype(np.int64))]
    start, history = time.process_time(), []
    for _ in range(args.epochs):
        for i in rng.permutation(len(y_train)):
            for optimiser in optimisers:
                optimiser.zero_grad()
            # our output error s_L = -2 a (1 - a)(t - a): the gradient of the summed squares
            loss = ((forward(x_train[i : i + 1]) - targets[i : i + 1]) ** 2).sum()
            loss.backward()
            for optimiser in optimisers:
                optimiser.step()
        history.append(accuracy("val"))
    seconds = time.process_time() - start
    result = {
        "final_val_acc": history[-1],
        "final_test_acc": accuracy("test"),
        "val_history": history,
        "samples_per_cpu_second": args.epochs * len(y_train) / seconds,
        "device": {name: float(getattr(dev, name)) for name in ("dw_min", "w_min", "w_max")},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


def speed(args) -> None:
    """Print aihwkit's training samples per CPU second of each rule at MNIST's 784-100-10 (binary
    random inputs, the ideal preset mapped), to choose the task: MNIST or the digits."""
    import torch

    dev = aihwkit_device(json.loads(str(np.load(exported(args, "ideal", 0))["mapping"])))
    from aihwkit.nn import AnalogLinear
    from aihwkit.optim import AnalogSGD

    x = (torch.rand(args.samples, 784) > 0.5).float()
    t = torch.eye(10)[torch.randint(10, (args.samples,))]
    for rule in args.rules:
        layers = [
            AnalogLinear(784, 100, rpu_config=rpu_config(rule, dev, 785, HIDDEN_LR)),
            AnalogLinear(100, 10, rpu_config=rpu_config(rule, dev, 101, OUTPUT_LR)),
        ]
        rates = (HIDDEN_LR, OUTPUT_LR) if rule == "mixed_precision" else (1.0, 1.0)
        optimisers = [
            AnalogSGD(layer.parameters(), lr=lr) for layer, lr in zip(layers, rates, strict=True)
        ]
        for optimiser, layer in zip(optimisers, layers, strict=True):
            optimiser.regroup_param_groups(layer)
        start = time.process_time()
        for i in range(args.samples):
            out = torch.sigmoid(layers[1](torch.sigmoid(layers[0](x[i : i + 1]))))
            ((out - t[i : i + 1]) ** 2).sum().backward()
            for optimiser in optimisers:
                optimiser.step()
                optimiser.zero_grad()
        rate = args.samples / (time.process_time() - start)
        print(f"{rule}: {rate:.0f} samples per CPU second at 784-100-10", flush=True)


def mean_sd(values: list[float]) -> str:
    """Percent, mean +- sample sd over seeds."""
    values = 100 * np.asarray(values)
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.1f} ± {sd:.1f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    ex = sub.add_parser("export", help="(project python) write one seed's data and mapping")
    ex.add_argument("--device", required=True)
    ex.add_argument("--seed", type=int, required=True)
    ex.add_argument("--npz", type=Path, required=True)
    sp = sub.add_parser("speed", help="aihwkit's samples/s at MNIST's 784-100-10")
    sp.add_argument("--samples", type=int, default=500)
    parser.add_argument("--out", type=Path, help="folder for both sides' runs and the table")
    parser.add_argument("--sbp-python", default=".venv/bin/python", help="the project's python")
    parser.add_argument("--devices", nargs="+", default=["ideal", "pcmo", "alox_hfo2"])
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-hidden", type=int, default=32)
    parser.add_argument(
        "--single",
        action="store_true",
        help="one device per weight on both sides: ours --pulse-scheme single (G+ against a "
        "G- at mid-range), aihwkit's device at one device's scale with that origin",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="ours with aihwkit's calibration: rates scaled by our nominal step over the step "
        "aihwkit counts pulses in (TTv2's A: the mean of A's and C's dw_min; mixed precision: "
        "the array's), TTv2's threshold A's dw_min (aihwkit's side unchanged)",
    )
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args.device, args.seed, args.npz)
        return
    if args.out is None:
        parser.error("--out is required")
    import torch

    torch.set_num_threads(1)
    if args.command == "speed":
        speed(args)
        return
    lines = [
        "| device | rule | aihwkit test % | ours test % | difference | aihwkit samples/s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for device in args.devices:
        for rule in args.rules:
            theirs = [run_aihwkit(args, device, rule, seed) for seed in args.seeds]
            ours = [run_ours(args, device, rule, seed) for seed in args.seeds]
            gap = 100 * (np.mean([r["final_test_acc"] for r in theirs]) - np.mean(ours))
            rate = np.mean([r["samples_per_cpu_second"] for r in theirs])
            row = (
                f"| {device} | {rule} | {mean_sd([r['final_test_acc'] for r in theirs])} | "
                f"{mean_sd(ours)} | {gap:+.1f} | {rate:.0f} |"
            )
            lines.append(row)
            print(row, flush=True)
    table = "\n".join(lines)
    (args.out / f"table{suffix(args)}.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    sys.exit(main())
