"""`agad`: AGAD (Rasch, Carta, Fagbohungbe, Gokmen, "Fast and robust analog in-memory deep neural
network training", Nat. Commun. 15, 7133, 2024).

c-TTv2 (`cttv2.py`) whose readings of A enter H relative to a reference estimated on the fly: the
running mean of each weight's readings as it stood at the row's last chopper flip (aihwkit's
DynamicTransferRPUDevice). A's offset from its symmetry point then cancels in every reading,
not only on average over a chopper period. The rule, its kernel and its tests are TTv2's
(`ttv2.py`, `ttv2_kernel.py`); this module declares the variant.
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
class AGADFields(TTv2Fields):
    """AGAD's own fields, beside TTv2's and on-chip SGD's periphery fields."""

    agad_chop_every: int = fields.number(5, low=2, unit="sweeps")
    """Method agad only: a row's chopper flips after every agad_chop_every-th read of that row
    (aihwkit's regular in-chopper, in_chop_prob = 1 / agad_chop_every); 5 was chosen on the
    digits' validation split over four devices (docs/ttv2_and_mixed_precision.md)."""
    agad_tail_weight: float = fields.number(5.0, above=0.0, unit="")
    """Method agad only: a reading enters its weight's running mean with weight
    min(agad_tail_weight / agad_chop_every, 1), so the mean forgets the start of a chopper
    period (aihwkit's tail_weightening, default 5)."""


class AGADLearner(TTv2Learner):
    """TTv2Learner with the chopper and the running reference on (from the spec)."""

    @staticmethod
    def spec_keywords(spec) -> dict[str, Any]:
        return {
            **TTv2Learner.spec_keywords(spec),
            "chop_every": spec.agad_chop_every,
            "tail_weight": spec.agad_tail_weight,
        }


METHOD = Method(
    name="agad",
    learner=AGADLearner,
    classifier="AGADClassifier",
    summary=(
        "AGAD: chopped TTv2 whose fast-array readings are taken against a running reference "
        "per weight, so A needs no symmetry point (Rasch et al. 2024)."
    ),
    settings=AGADFields,
    counts_pulses=True,
    on_chip=True,
    depth_compiled=True,  # its epoch takes a tuple of crossbars
    cost_design="agad",
    style={"label": "AGAD", "marker": ">", "colour": 9},
    search_space=(
        *TTV2_SEARCH_SPACE,
        Dimension(
            "agad_chop_every",
            "reads of a row between chopper flips, around the 5 chosen",
            "categorical",
            choices=(2, 5, 10),
        ),  # fmt: skip
    ),
)
