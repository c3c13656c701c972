"""Cases shared by the tests of the rules on the sgd periphery (mixed precision, TTv2): the
noisy devices their kernels are checked on, and the digits they train on."""

from __future__ import annotations

import numpy as np

from sbp_core.chip.device import device_file_text
from sbp_core.chip.kinds.lookup_table import LookupTable, TableDeviceParams


def table_device_file(folder) -> str:
    """A lookup-table device file, two measured devices, with noise."""
    set_knots = np.array([[0.05, 0.5, 1.0], [0.03, 0.02, 0.005], [0.004, 0.003, 0.002]])
    reset_knots = np.array([[0.05, 0.5, 1.0], [-0.004, -0.02, -0.03], [0.002, 0.003, 0.004]])
    table = LookupTable.from_knots(
        ("a", "b"), [(0.05, 1.0), (0.04, 0.95)],
        [(set_knots, reset_knots), (set_knots * [[1], [0.8], [1]], reset_knots)],
    )  # fmt: skip
    device = TableDeviceParams(name="two", n_states=40, c2c_sigma=0.01, table=table)
    path = folder / "two.yaml"
    path.write_text(device_file_text(device))
    return str(path)


NOISY = {"c2c_sigma": 0.03, "d2d_sigma": 0.1, "read_noise": 0.03, "stuck_gmin": 0.03}
CASES = [
    {"device": "ag_si", **NOISY},
    {"device": "pcmo", "pulse_scheme": "single", "adc_bits": 5, **NOISY},
    {"device": "epiram", "n_hidden": [12, 8], "lr": 1.0, **NOISY},
    {"device": "table", "read_noise": 0.03, "stuck_gmax": 0.05},
]


def digits_inputs(n: int = 200):
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=0)
    return binarize(data.X_train[:n], 0.5, data.max_value), data.y_train[:n]
