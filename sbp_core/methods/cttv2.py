"""`cttv2`: chopped Tiki-Taka v2 (Rasch, Carta, Fagbohungbe, Gokmen, arXiv:2305.16274, 2023).

TTv2 (`ttv2.py`) with a chopper sign per row of A: A's pulses on a row and the row's reading
into H are multiplied by it, so the offset of A's symmetry point cancels in H while the gradient
does not; a row's sign flips after every `cttv2_chop_every`-th read of that row. The rule, its
kernel and its tests are TTv2's; this module declares the variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sbp_core import fields
from sbp_core.methods.base import Method
from sbp_core.methods.ttv2 import SEARCH_SPACE as TTV2_SEARCH_SPACE
from sbp_core.methods.ttv2 import TTv2Fields, TTv2Learner
from sbp_core.tuning.space import Dimension


@dataclass(frozen=True)
class CTTv2Fields(TTv2Fields):
    """c-TTv2's own field, beside TTv2's and on-chip SGD's periphery fields."""

    cttv2_chop_every: int = fields.number(30, low=1, unit="sweeps")
    """Method cttv2 only: a row's chopper flips after every cttv2_chop_every-th read of that
    row (aihwkit's regular in-chopper, in_chop_prob = 1 / chop_every); 30 was chosen on the
    digits' validation split (docs/ttv2_and_mixed_precision.md)."""


class CTTv2Learner(TTv2Learner):
    """TTv2Learner with the chopper on (chop_every from the spec)."""

    @staticmethod
    def spec_keywords(spec) -> dict[str, Any]:
        return {**TTv2Learner.spec_keywords(spec), "chop_every": spec.cttv2_chop_every}


METHOD = Method(
    name="cttv2",
    learner=CTTv2Learner,
    classifier="CTTv2Classifier",
    summary=(
        "Chopped TTv2: TTv2 whose fast-array pulses and reads are sign-chopped per row, so the "
        "fast array's symmetry-point offset cancels (Rasch et al. 2023)."
    ),
    settings=CTTv2Fields,
    counts_pulses=True,
    on_chip=True,
    depth_compiled=True,  # its epoch takes a tuple of crossbars
    cost_design="cttv2",
    style={"label": "c-TTv2", "marker": "<", "colour": 5},
    search_space=(
        *TTV2_SEARCH_SPACE,
        Dimension(
            "cttv2_chop_every",
            "reads of a row between chopper flips, around the 30 chosen",
            "categorical",
            choices=(10, 30, 100),
        ),  # fmt: skip
    ),
)
