"""A profile's tuning plan: which method is tuned at which sweep point, its trial runs, and the
points and seeds its winner's final runs take (config key `tuning`; docs/tuning_protocol.md).

Trials are ordinary runs: the untuned spec of the point with the trial budget (`trial_epochs`),
the trial seed, `evaluate_test` false (they never read the test set) and one trial's settings.
A final run is the untuned spec of a point with the chosen settings, at full budget, on each
final seed. A sweep is tuned at each of its points, or at one declared representative point
whose winner every point then takes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sbp_core.errors import ConfigError
from sbp_core.methods.registry import RULES
from sbp_core.spec import RunSpec
from sbp_core.tuning.trials import sobol_seed, trial_settings

EACH_POINT = "each_point"
"""`tuning.sweeps.<name>: each_point`: every point of the sweep is tuned on its own."""
NOT_IN_THE_TRIAL_SET = ("seed", "epochs", "evaluate_test")
"""Spec fields that do not seed the trial set: a longer trial budget or another trial seed runs
the same settings."""


@dataclass(frozen=True)
class Unit:
    """One tuning: `method` at point `point` of `sweep`, its K trials, and the points its winner
    is run at (with their untuned runs, the comparison's `untuned` column)."""

    key: str
    """`<sweep>.<method>.p<index of the tuned point>`: names its selection file."""
    sweep: str
    method: str
    point: dict[str, Any]
    """The tuned point's axis values (empty for a sweep without axes)."""
    sobol_seed: int
    trials: tuple[RunSpec, ...]
    settings: tuple[dict[str, Any], ...]
    """Each trial's searched fields, in trial order."""
    targets: tuple[dict[str, Any], ...]
    """Per point that takes the winner: `point` (axis values), `template` (its untuned spec at
    the sweep's first seed) and `untuned_runs` (its untuned run ids, one per sweep seed)."""
    final_seeds: tuple[int, ...]

    def final_specs(self, chosen: Mapping[str, Any]) -> list[tuple[dict[str, Any], RunSpec]]:
        """(point, spec) of every final run with the `chosen` settings."""
        return [
            (target["point"], dataclasses.replace(target["template"], seed=seed, **chosen))
            for target in self.targets
            for seed in self.final_seeds
        ]

    def final_run_count(self) -> int:
        """How many final runs the winner gets, known before the choice."""
        return len(self.targets) * len(self.final_seeds)

    def final_run_kinds(self) -> set[tuple]:
        """What a final run is before the choice: its target's spec but for the searched fields
        and the seed. Two units whose kinds meet may choose the same final run (shared points)."""
        searched = {name for settings in self.settings for name in settings} | {"seed"}
        return {
            tuple(sorted((k, repr(v)) for k, v in target["template"].to_dict().items()
                         if k not in searched))
            for target in self.targets
        }  # fmt: skip

    def offchip_twins(self) -> list[RunSpec]:
        """The off-chip runs the final runs of an exsitu unit program: fixed before the
        choice, since no searched exsitu field is an off-chip one."""
        if RULES[self.method].offchip_twin is None:
            return []
        return [
            dataclasses.replace(target["template"], seed=seed).offchip_spec()
            for target in self.targets
            for seed in self.final_seeds
        ]

    def to_dict(self) -> dict[str, Any]:
        """What the selection job needs and records, JSON-able."""
        return {
            "key": self.key,
            "sweep": self.sweep,
            "method": self.method,
            "point": self.point,
            "sobol_seed": self.sobol_seed,
            "trials": [
                {"run_id": spec.run_id, "settings": settings}
                for spec, settings in zip(self.trials, self.settings, strict=True)
            ],
            "targets": [
                {
                    "point": target["point"],
                    "template": target["template"].changed(),
                    "untuned_runs": list(target["untuned_runs"]),
                }
                for target in self.targets
            ],
            "final_seeds": list(self.final_seeds),
        }


def build(
    tuning: Mapping[str, Any] | None,
    sweeps: Mapping[str, Any],
    cells: Mapping[str, Mapping[tuple[str, int, int], RunSpec]],
) -> tuple[Unit, ...]:
    """The units of a validated config's `tuning` block (none without one). `sweeps`: the
    expanded sweeps; `cells[sweep][(method, point index, seed)]`: their untuned specs."""
    if not tuning:
        return ()
    units = []
    for name, how in tuning["sweeps"].items():
        where = f"config key tuning.sweeps.{name}"
        if name not in sweeps:
            raise ConfigError(f"{where}: no such sweep (sweeps: {', '.join(sweeps)})")
        sweep = sweeps[name]
        points = list(itertools.product(*(values for _, values in sweep.axes)))
        tuned = range(len(points)) if how == EACH_POINT else [_representative(how, sweep, where)]
        for method in sweep.methods:
            space = RULES[method].search_space
            if not space:
                raise ConfigError(
                    f"{where}: method {method} declares no search space "
                    f"(its METHOD record's search_space in sbp_core/methods/)"
                )
            for index in tuned:
                takers = [index] if how == EACH_POINT else range(len(points))
                units.append(
                    _unit(tuning, sweep, cells[name], method, index, points, takers, where)
                )
    return tuple(units)


def final_run_batches(units: Sequence[Unit], size: int) -> dict[str, tuple[str, ...]]:
    """Batch name -> the keys of the units whose final runs one `train-batch` job trains: units
    in plan order, packed while their final runs number at most `size` (a unit is never split).
    Units that may choose the same final run go together, to the batch of the first of them,
    so no run is trained by two jobs at once."""
    order = {unit.key: number for number, unit in enumerate(units)}
    groups: list[list[Unit]] = []  # in plan order, each group too
    for unit in units:
        kinds = unit.final_run_kinds()
        meets = [any(kinds & member.final_run_kinds() for member in g) for g in groups]
        merged = [member for g, met in zip(groups, meets, strict=True) if met for member in g]
        kept = [g for g, met in zip(groups, meets, strict=True) if not met]
        groups = [*kept, sorted([*merged, unit], key=lambda member: order[member.key])]
        groups.sort(key=lambda g: order[g[0].key])
    batches: list[list[Unit]] = []
    for group in groups:
        count = sum(unit.final_run_count() for unit in group)
        if batches and sum(unit.final_run_count() for unit in batches[-1]) + count <= size:
            batches[-1] += group
        else:
            batches.append(group)
    return {
        f"tuned{number:03d}": tuple(unit.key for unit in batch)
        for number, batch in enumerate(batches)
    }


def _unit(tuning, sweep, cells, method, index, points, takers, where) -> Unit:
    axes = [axis for axis, _ in sweep.axes]

    def point_of(i: int) -> dict[str, Any]:
        return dict(zip(axes, points[i], strict=True))

    first = sweep.seeds[0]
    template = cells[(method, index, first)]
    if template.val_fraction <= 0:
        raise ConfigError(f"{where}: tuning chooses on the validation split; val_fraction is 0")
    trial_base = dataclasses.replace(
        template, seed=tuning["trial_seed"], epochs=tuning["trial_epochs"], evaluate_test=False
    )
    # the point's identity, not every field: a rule or a field added later (at the value that
    # keeps old runs' ids) must not reshuffle the trials of every existing unit
    identity = {k: v for k, v in template.identity().items() if k not in NOT_IN_THE_TRIAL_SET}
    seed = sobol_seed(identity, method, tuning["tuning_seed"])
    settings = trial_settings(RULES[method].search_space, tuning["trials"], seed)
    try:
        trials = tuple(dataclasses.replace(trial_base, **values) for values in settings)
    except ConfigError as err:
        raise ConfigError(f"{where}: a {method} trial is not a valid run ({err})") from None
    targets = tuple(
        {
            "point": point_of(i),
            "template": cells[(method, i, first)],
            "untuned_runs": tuple(cells[(method, i, s)].run_id for s in sweep.seeds),
        }
        for i in takers
    )
    return Unit(
        key=f"{sweep.name}.{method}.p{index}",
        sweep=sweep.name,
        method=method,
        point=point_of(index),
        sobol_seed=seed,
        trials=trials,
        settings=tuple(settings),
        targets=targets,
        final_seeds=tuple(tuning["final_seeds"]),
    )


def _representative(how: Mapping[str, Any], sweep, where: str) -> int:
    """The index of the declared representative point among the sweep's points."""
    point = how["representative"]
    axes = [axis for axis, _ in sweep.axes]
    if sorted(point) != sorted(axes):
        raise ConfigError(
            f"{where}.representative: name each axis of the sweep once ({', '.join(axes)})"
        )
    choices: Sequence[int] = []
    for axis, values in sweep.axes:
        if point[axis] not in values:
            raise ConfigError(
                f"{where}.representative.{axis}: {point[axis]!r} is not one of the sweep's values"
            )
        choices = [*choices, list(values).index(point[axis])]
    index = 0
    for (_, values), chosen in zip(sweep.axes, choices, strict=True):
        index = index * len(values) + chosen
    return index
