"""Every rule's numbers, pinned to its `numbers` version (sbp_core.methods.base.Method.numbers).

A run folder is reused whenever its run id comes up again, and a run id hashes the spec, not the
code. So a change that makes some spec train to other numbers must raise the rule's `numbers`,
which enters its run ids; otherwise the pipeline would reuse folders holding the old numbers. This
test trains one small spec per rule, every device noise source on, and holds its learning curve,
pulses and final state against what was recorded at the rule's current version.

After a change that moves a rule's numbers on purpose: raise its `numbers` in its module, then
run `.venv/bin/python tests/test_numbers.py`, which rewrites the pins (tests/numbers_pinned.json),
and commit both. The tolerance
(relative 1e-4) covers numpy's matrix products, whose last bits depend on the CPU's BLAS
kernels (docs/paper_profile.md): the pins hold under OpenBLAS's Prescott, Sandybridge, Haswell
and Zen kernels alike (OPENBLAS_CORETYPE). The compiled kernels repeat to the bit.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from sbp_core import train
from sbp_core.methods.registry import RULES
from sbp_core.spec import RunSpec

SPEC = {
    "dataset": "digits", "n_hidden": 12, "epochs": 2, "seed": 3, "device": "ag_si",
    "c2c_sigma": 0.02, "d2d_sigma": 0.05, "read_noise": 0.02, "stuck_gmin": 0.02,
}  # fmt: skip
"""Small enough for a second per rule; the device and its noise are ignored by the software
rules (float, ste, binarized)."""

PINS = Path(__file__).with_name("numbers_pinned.json")
"""method -> {"numbers": its `numbers` when recorded, "fingerprint": `fingerprint` of SPEC}."""


def fingerprint(method: str) -> list[float]:
    """Every number of its history.csv but the epoch and the wall time (accuracies, loss, the
    pulses and reads of each layer); then the sums of the absolute values and of the squares of
    every saved array (conductances, weights, buffers), in name order: sums that cannot cancel
    to near zero, where a last bit would be a large relative change."""
    with tempfile.TemporaryDirectory() as folder:
        train.run(RunSpec(method=method, **SPEC), folder)
        with open(Path(folder, "history.csv")) as history:
            rows = list(csv.DictReader(history))
        numbers = [
            float(value)
            for row in rows
            for column, value in row.items()
            if column not in ("epoch", "wall_time_s") and value
        ]
        with np.load(Path(folder, "arrays.npz")) as state:
            for name in sorted(state):
                values = state[name].astype(np.float64)
                numbers += [float(np.abs(values).sum()), float((values * values).sum())]
    return numbers


@pytest.mark.parametrize("method", sorted(RULES))
def test_a_rules_numbers_are_those_of_its_numbers_version(method):
    version = RULES[method].numbers
    pins = json.loads(PINS.read_text())
    assert method in pins, f"{method} has no pinned numbers: run tests/test_numbers.py"
    pinned_version, pinned = pins[method]["numbers"], pins[method]["fingerprint"]
    assert version == pinned_version, (
        f"{method}'s numbers version is {version}, its pin's {pinned_version}: re-pin"
    )
    assert fingerprint(method) == pytest.approx(pinned, rel=1e-4, abs=1e-9), (
        f"{method} trains the same spec to other numbers than at its numbers version {version}: "
        "raise `numbers` in its METHOD record (its runs then get new ids) and re-pin"
    )


if __name__ == "__main__":
    found = {
        name: {"numbers": RULES[name].numbers, "fingerprint": fingerprint(name)}
        for name in sorted(RULES)
    }
    PINS.write_text(json.dumps(found, indent=1) + "\n")
    print(f"pinned the numbers of {len(found)} rules in {PINS}")
