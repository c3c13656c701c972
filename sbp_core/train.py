"""Train one RunSpec and write its run folder.

spec.json (with the identity of the data read: sbp_core.identity), provenance.json (the code
version: sbp_core.provenance), history.csv (one row per epoch, rewritten after each), arrays.npz
(learned state), timing.json (when training started and ended, wall time, samples per second),
for `ste` runs epochs.npz (the weights after every epoch, which exsitu runs program:
sbp_core.offchip) and, last, metrics.json: its presence marks a finished run, and it holds only
numbers the spec and seed determine, so a rerun reproduces it byte for byte, apart from its
verification record (the size and SHA-256 of every other file: sbp_core.runfolder). The run is
written into a temporary sibling folder and swapped in when finished, so an interrupted or failed
rerun leaves the previous folder whole. Training never imports mlflow or plotting libraries: runs
only write files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np

from sbp_core import atomic, identity, offchip, provenance, runfolder
from sbp_core.data import Dataset, binarize, centre_crop, load_dataset, to_unit_float
from sbp_core.errors import ConfigError
from sbp_core.methods import CROSSBAR_METHODS, make_learner
from sbp_core.methods.base import EpochStats, Learner
from sbp_core.spec import RunSpec, hidden_widths

HISTORY_COLUMNS = (
    "epoch", "train_acc", "val_acc", "test_acc", "loss", "set_pulses", "reset_pulses",
    "set_pulses_l1", "reset_pulses_l1", "set_pulses_l2", "reset_pulses_l2",
    "saturated_fraction", "wall_time_s",
)  # fmt: skip
"""The columns of history.csv with one hidden layer; a deeper network's pulses per layer follow
layer 2's (`history_columns`), then any counters of its method."""


def history_columns(n_layers: int) -> tuple[str, ...]:
    """HISTORY_COLUMNS with the SET and RESET pulses of each of `n_layers` layers."""
    split = HISTORY_COLUMNS.index("saturated_fraction")
    deeper = [f"{kind}_pulses_l{k}" for k in range(3, n_layers + 1) for kind in ("set", "reset")]
    return (*HISTORY_COLUMNS[:split], *deeper, *HISTORY_COLUMNS[split:])


def n_layers(spec: RunSpec) -> int:
    """Crossbars (or weight matrices) of the spec's network: one per hidden layer, plus one."""
    return len(hidden_widths(spec.n_hidden)) + 1


#: Training accuracy is measured on the first images of the (seeded, shuffled) training set: an
#: unbiased estimate that keeps per-epoch evaluation cheap on all of MNIST.
TRAIN_ACC_SAMPLES = 10_000


def network_inputs(spec: RunSpec, data: Dataset) -> Dataset:
    """The dataset as the method sees it: the centre crop, if any, as bool read pulses or unit
    floats in place of pixels.

    The pixels are not kept: a train job holds one copy of the images, not two.
    """

    def convert(X: np.ndarray) -> np.ndarray:
        if spec.input_crop:
            X = centre_crop(X, spec.input_crop, data.name)
        if spec.real_inputs:
            return to_unit_float(X, data.max_value)
        return binarize(X, spec.binarize_threshold, data.max_value)

    return dataclasses.replace(
        data, X_train=convert(data.X_train), X_val=convert(data.X_val), X_test=convert(data.X_test)
    )


def run(
    spec: RunSpec,
    out_dir: str | Path,
    mnist_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    offchip_run: str | Path | None = None,
    replace: bool = True,
    load: Callable[..., Dataset] = load_dataset,
) -> dict:
    """Train, evaluate every epoch, write the run folder and return the metrics.

    A spec without `data_sha256` gets the identity of the data it reads; a spec naming other data
    is refused with a one-line DataError (likewise `device_sha256` and its device file). An
    exsitu run given `offchip_run` (the finished folder of `spec.offchip_spec()`) replays that
    network instead of training it again; the numbers are the same either way. Without
    `replace`, a folder holding another spec's run is refused (`sbp-bench train --out`). `load`
    reads the data (`load_dataset`, or a batch's loader that keeps it for the next run:
    sbp_core.batch).
    """
    if offchip_run is not None and spec.method != "exsitu":
        raise ConfigError(f"offchip_run applies to method exsitu only, not {spec.method!r}")
    spec = identity.stamped(spec, *identity.of_dataset(spec.dataset, mnist_dir))
    spec = identity.device_stamped(spec)
    if not replace:
        runfolder.refuse_another_run(out_dir, spec.run_id)
    with runfolder.staging(out_dir) as out:
        return _train(spec, out, mnist_dir, progress, offchip_run, load)


def _train(
    spec: RunSpec,
    out: Path,
    mnist_dir: str | Path | None,
    progress: Callable[[str], None] | None,
    offchip_run: str | Path | None,
    load: Callable[..., Dataset],
) -> dict:
    """`run` into the new folder `out`."""
    atomic.write_json(out / "spec.json", {**spec.to_dict(), "run_id": spec.run_id})
    atomic.write_json(out / provenance.PROVENANCE_FILE, provenance.record())

    data = network_inputs(
        spec,
        without_test_unless_scored(
            spec,
            load(
                spec.dataset,
                mnist_dir=mnist_dir,
                val_fraction=spec.val_fraction,
                n_train=spec.n_train,
                seed=spec.seed,
            ),
        ),
    )
    init_rng, train_rng = np.random.default_rng(spec.seed).spawn(2)
    learner = make_learner(spec, data.n_features, data.n_classes, init_rng)
    if offchip_run is not None:
        learner.replay(offchip.read_run(offchip_run, spec))
    snapshots: list[offchip.Snapshot] | None = [] if spec.method == offchip.KEEPS_EPOCHS else None

    history: list[dict] = []
    status, stop_reason = "ok", None
    started_at = time.time()  # the clock MLflow shows; perf_counter measures the durations
    start = time.perf_counter()
    train_time = 0.0
    for epoch in range(1, spec.epochs + 1):
        tick = time.perf_counter()
        X_epoch, y_epoch = epoch_samples(spec, data, train_rng)
        stats = learner.fit_epoch(X_epoch, y_epoch, train_rng)
        train_time += time.perf_counter() - tick
        if snapshots is not None:
            snapshots.append((learner.state(), stats.loss))
        row = _history_row(epoch, learner, stats, data, n_layers(spec))
        row["wall_time_s"] = round(time.perf_counter() - start, 3)
        history.append(row)
        atomic.write_text(out / "history.csv", _history_csv(history))
        if progress:
            progress(_progress_line(spec, row))
        stop_reason = _divergence(stats, learner)
        if stop_reason:
            status = "diverged"
            break

    test_pred = learner.predict(data.X_test) if spec.evaluate_test else None
    atomic.write_npz(out / "arrays.npz", learner.state())
    if snapshots is not None:
        offchip.write_epochs(out, snapshots)
    samples = len(history) * (spec.epoch_samples or len(data.y_train))
    timing = {
        "wall_time_s": history[-1]["wall_time_s"],
        "train_time_s": round(train_time, 3),
        "train_samples_per_s": round(samples / train_time, 1) if train_time > 0 else None,
        # a replaying exsitu run programs and reads, it does not train: say so beside its speed
        "replayed_offchip_run": None if offchip_run is None else spec.offchip_spec().run_id,
        "started_at": round(started_at, 3),  # Unix time: training's first epoch began
        "finished_at": round(time.time(), 3),  # Unix time: evaluated, state written
    }
    atomic.write_json(out / "timing.json", timing)
    metrics = _metrics(spec, data, history, test_pred, status, stop_reason, learner)
    metrics[runfolder.RECORD] = runfolder.record(out, metrics)
    atomic.write_json(out / runfolder.METRICS_FILE, metrics)
    return metrics


def without_test_unless_scored(spec: RunSpec, data: Dataset) -> Dataset:
    """The dataset with its test images and labels emptied when the spec does not score the test
    set (a tuning trial): nothing downstream can read what is not there."""
    if spec.evaluate_test:
        return data
    return dataclasses.replace(data, X_test=data.X_test[:0], y_test=data.y_test[:0])


def epoch_samples(
    spec: RunSpec, data: Dataset, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The training images of one epoch: all of them (the learner orders them), or
    `epoch_samples` drawn with replacement, as NeuroSim draws each epoch's images."""
    if not spec.epoch_samples:
        return data.X_train, data.y_train
    chosen = rng.integers(len(data.y_train), size=spec.epoch_samples)
    return data.X_train[chosen], data.y_train[chosen]


def _history_row(
    epoch: int, learner: Learner, stats: EpochStats, data: Dataset, layers: int
) -> dict:
    return {
        "epoch": epoch,
        "train_acc": _accuracy(
            learner, data.X_train[:TRAIN_ACC_SAMPLES], data.y_train[:TRAIN_ACC_SAMPLES]
        ),
        "val_acc": _accuracy(learner, data.X_val, data.y_val),
        "test_acc": _accuracy(learner, data.X_test, data.y_test),
        "loss": stats.loss,
        **pulse_counts(stats, layers),
        "saturated_fraction": stats.saturated_fraction,
        **stats.counters,
    }


def pulse_counts(stats: EpochStats, layers: int) -> dict:
    """One epoch's pulse columns of history.csv: SET and RESET pulses in all, then per layer
    (zeros for a software method)."""
    sets = list(stats.set_pulses) or [0] * layers
    resets = list(stats.reset_pulses) or [0] * layers
    per_layer = {}
    for k, (n_set, n_reset) in enumerate(zip(sets, resets, strict=True), start=1):
        per_layer[f"set_pulses_l{k}"], per_layer[f"reset_pulses_l{k}"] = n_set, n_reset
    return {"set_pulses": sum(sets), "reset_pulses": sum(resets), **per_layer}


def _accuracy(learner: Learner, X: np.ndarray, y: np.ndarray) -> float | None:
    if len(X) == 0:
        return None
    return float(np.mean(learner.predict(X) == y))


def _divergence(stats: EpochStats, learner: Learner) -> str | None:
    """Why training must stop, or None: a non-finite loss or non-finite learned state."""
    if stats.loss is not None and not math.isfinite(stats.loss):
        return f"training loss became {stats.loss}"
    for name, array in learner.state().items():
        if not np.all(np.isfinite(array)):
            return f"{name} holds non-finite values"
    return None


def _history_csv(history: list[dict]) -> str:
    buffer = io.StringIO()
    columns = _columns_of(history[0])
    counters = tuple(key for key in history[0] if key not in columns)
    writer = csv.DictWriter(buffer, fieldnames=columns + counters, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def _progress_line(spec: RunSpec, row: dict) -> str:
    def pct(value: float | None) -> str:
        return "  n/a" if value is None else f"{100 * value:5.2f}"

    pulses = row["set_pulses"] + row["reset_pulses"]
    return (
        f"{spec.method} epoch {row['epoch']:>3}/{spec.epochs}  train {pct(row['train_acc'])}  "
        f"val {pct(row['val_acc'])}  test {pct(row['test_acc'])}  "
        f"pulses {pulses:>11,}  {row['wall_time_s']:.1f} s"
    )


def outcome(metrics: dict) -> str:
    """A finished run in one line, in percent as the epoch lines: its test accuracy, or that it
    read no test set (a tuning trial), and its epochs."""
    scored = metrics["final_test_acc"]
    score = "test set not read" if scored is None else f"test accuracy {100 * scored:.2f} %"
    return f"{score} after {metrics['epochs_run']} epochs"


def _columns_of(row: dict) -> tuple[str, ...]:
    """The history columns of a row's network (its pulses per layer), counters left out."""
    return history_columns(sum(1 for key in row if key.startswith("set_pulses_l")))


def counter_totals(spec: RunSpec, history: list[dict]) -> dict:
    """`total_<counter>` of every method-specific counter (SBP's refresh reads and rewritten
    pairs, exsitu's erase pulses and verify reads), summed over the epochs.

    exsitu rewrites the chip every epoch only to draw its learning curve: its last write is the
    one deployment, the pulses and reads its cost is (`deployment_*`); its totals, like
    `total_set_pulses`, sum every epoch's rewrite."""
    last = history[-1]
    counters = [key for key in last if key not in _columns_of(last)]
    totals = {f"total_{key}": sum(row[key] for row in history) for key in counters}
    if spec.method != "exsitu":
        return totals
    deployment = {f"deployment_{kind}_pulses": last[f"{kind}_pulses"] for kind in ("set", "reset")}
    deployment.update({f"deployment_{key}": last[key] for key in counters})
    return {**deployment, **totals}


def _metrics(spec, data, history, test_pred, status, stop_reason, learner) -> dict:
    last = history[-1]
    best = max(history, key=lambda row: (row["val_acc"] or 0.0, -row["epoch"]))
    n_classes = data.n_classes
    confusion = None
    if test_pred is not None:
        confusion = np.bincount(
            data.y_test.astype(np.int64) * n_classes + test_pred, minlength=n_classes**2
        ).reshape(n_classes, n_classes)
    layers = range(1, n_layers(spec) + 1)
    sets = [sum(row[f"set_pulses_l{k}"] for row in history) for k in layers]
    resets = [sum(row[f"reset_pulses_l{k}"] for row in history) for k in layers]
    on_chip = spec.method in CROSSBAR_METHODS
    sizes = (data.n_features, *hidden_widths(spec.n_hidden), data.n_classes)
    return {
        "run_id": spec.run_id,
        "method": spec.method,
        "dataset": spec.dataset,
        "status": status,
        "stop_reason": stop_reason,
        "epochs_run": len(history),
        "final_train_acc": last["train_acc"],
        "final_val_acc": last["val_acc"],
        "final_test_acc": None if test_pred is None else float(np.mean(test_pred == data.y_test)),
        "best_val_acc": best["val_acc"],
        "best_epoch": best["epoch"],
        "test_acc_at_best_val": best["test_acc"],
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "n_test": len(data.y_test),
        # the share of input rows driven per sample, as the run's own inputs have it (cost model)
        "input_activity": float(np.mean(data.X_train)) if data.X_train.dtype == bool else None,
        "layers": [[rows + 1, cols] for rows, cols in pairwise(sizes)],
        "set_pulses_per_layer": sets,
        "reset_pulses_per_layer": resets,
        "total_set_pulses": sum(sets),
        "total_reset_pulses": sum(resets),
        **counter_totals(spec, history),
        "saturated_fraction": last["saturated_fraction"],
        "confusion_matrix": None if confusion is None else confusion.tolist(),
        "device": learner.device.to_dict() if on_chip else None,  # as the learner resolved it
    }
