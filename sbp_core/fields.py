"""How a run-spec field is declared, and the few field facts the chip and the learners need.

Below every learning rule: `RunSpec` (sbp_core.spec) is assembled from the shared fields and each
rule's own settings, both declared with `number` / `choice` / `text`, so this module must not
import the rules or the spec.
"""

from __future__ import annotations

import dataclasses
from typing import Any

PULSE_SCHEMES = ("pair", "single", "set_only", "reference")
"""How one weight pulse moves a pair; sbp_core.chip.engine numbers them in this order."""
DEVICE_FIELDS = (
    "n_states", "nl_ltp", "nl_ltd", "c2c_sigma", "d2d_sigma", "stuck_gmin", "stuck_gmax",
    "read_noise", "r_access_ohm",
)  # fmt: skip
"""The fields that override the device preset's parameter of the same name when not None."""
DEVICE_FILE_SUFFIXES = (".yaml", ".yml")
"""A `device` ending in one of these names a device file; any other names a preset."""
DEVICE_FILE_ID = "device file"
"""What `device` is in the canonical JSON of a run id when it names a file: the file's content
(device_sha256) identifies the device, not where the file lies."""


def names_device_file(device: str) -> bool:
    """Whether a spec's `device` is the path of a device file rather than a preset name."""
    return device.lower().endswith(DEVICE_FILE_SUFFIXES)


Widths = int | tuple[int, ...]
"""Hidden layer widths: one integer (one hidden layer) or a tuple of two or more, input side
first. A list of one width is that integer, so each network has one canonical spec."""
WIDTH_SEPARATOR = "-"
"""Joins the widths of several hidden layers in labels and table cells (`256-128`)."""


def hidden_widths(n_hidden: Widths | list[int]) -> tuple[int, ...]:
    """The hidden layer widths of a spec's n_hidden, input side first, always as a tuple."""
    return tuple(n_hidden) if isinstance(n_hidden, list | tuple) else (n_hidden,)


def hidden_label(n_hidden: Widths | list[int]) -> str:
    """n_hidden as one label: `100`, or the widths joined (`256-128`)."""
    return WIDTH_SEPARATOR.join(str(width) for width in hidden_widths(n_hidden))


def choice(default: str, options: tuple[str, ...]) -> Any:
    """A text field that takes one of `options`."""
    return dataclasses.field(default=default, metadata={"choices": options})


def text(default: str | None, pattern: str) -> Any:
    """A text field whose whole value matches the regular expression `pattern`."""
    return dataclasses.field(default=default, metadata={"pattern": pattern})


def number(
    default: float | None,
    *,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    unit: str | None = None,
) -> Any:
    """A numeric field in range: >= low (or > above) and <= high, each bound optional; `unit`
    labels a figure axis that varies the field (sbp_core.report.figures.AXIS_UNITS)."""
    bounds = {"low": low, "above": above, "high": high, "unit": unit}
    return dataclasses.field(
        default=default, metadata={k: v for k, v in bounds.items() if v is not None}
    )
