"""The off-chip network an `exsitu` run programs: written by its `ste` run, read back checked.

An `ste` run folder keeps the weights after every epoch in epochs.npz (stacked on a leading epoch
axis, with each epoch's loss), so every exsitu run whose `RunSpec.offchip_spec()` it is can
replay them instead of training the same network again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sbp_core import atomic, runfolder
from sbp_core.documents import read_document
from sbp_core.errors import ConfigError

if TYPE_CHECKING:
    from sbp_core.spec import RunSpec  # the spec sits above exsitu, which imports this module

EPOCHS_FILE = "epochs.npz"
KEEPS_EPOCHS = "ste"
"""The method whose runs write EPOCHS_FILE (RunSpec.offchip_spec names such a run)."""

Snapshot = tuple[dict[str, np.ndarray], float]
"""One epoch of an off-chip network: its weights and the epoch's training loss."""


def write_epochs(out_dir: str | Path, snapshots: list[Snapshot]) -> None:
    """Write every epoch's weights and loss into the run folder, atomically."""
    names = snapshots[0][0]
    arrays = {name: np.stack([weights[name] for weights, _ in snapshots]) for name in names}
    arrays["loss"] = np.array([loss for _, loss in snapshots])
    atomic.write_npz(Path(out_dir) / EPOCHS_FILE, arrays)


def read_run(run_dir: str | Path, spec: RunSpec) -> list[Snapshot]:
    """The snapshots of the finished run `spec.offchip_spec()` in run_dir, or a one-line error
    (the folder is verified first: sbp_core.runfolder)."""
    folder, expected = Path(run_dir), spec.offchip_spec().run_id
    runfolder.verify(folder)
    found = read_document(folder / "spec.json", "off-chip run folder has no spec.json")
    if not isinstance(found, dict) or found.get("run_id") != expected:
        raise ConfigError(f"{folder}: not the off-chip run {expected} that this exsitu run needs")
    if not (folder / EPOCHS_FILE).is_file():
        raise ConfigError(f"{folder}: off-chip run {expected} has no {EPOCHS_FILE}; rerun it")
    with np.load(folder / EPOCHS_FILE) as arrays:
        stacked = {name: arrays[name] for name in arrays.files}
    losses = stacked.pop("loss")
    return [
        ({name: values[epoch] for name, values in stacked.items()}, float(loss))
        for epoch, loss in enumerate(losses)
    ]
