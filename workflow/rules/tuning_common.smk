# The tuning protocol's names and input functions (rules: workflow/rules/tune.smk).
from sbp_core.tuning.final_runs import TUNED_MARK
from sbp_core.tuning.select import final_specs

TUNING = f"{RESULTS}/tuning"
UNITS = {unit.key: unit for unit in GRID.tuning}
TUNED_SWEEPS = list(dict.fromkeys(unit.sweep for unit in GRID.tuning))
TUNING_FIGURES = ("expected_best", "profile")
"""expected_best: expected best validation accuracy against trials, per tuned sweep;
profile: the performance profile over a sweep's devices (sweeps whose axis is `device`)."""
_FINAL_SPECS = {}
"""Unit key -> (modification time of its selection file, its final runs' specs)."""


def tuned_final_specs():
    """Run id -> spec of every tuned final run whose selection file exists (each file read again
    only when it changed): train jobs of final runs find their spec here, on a cluster node too.
    """
    for key in UNITS:
        path = Path(f"{TUNING}/selected/{key}.json")
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        if stamp is not None and _FINAL_SPECS.get(key, (None,))[0] != stamp:
            record = read_document(path, "selection file missing")
            _FINAL_SPECS[key] = (stamp, final_specs(record))
    return {
        run_id: spec
        for _, specs in _FINAL_SPECS.values()
        for run_id, spec in specs.items()
    }


def selection_of(key):
    """The selection record of unit `key`, once its checkpoint has run."""
    path = checkpoints.select_settings.get(unit=key).output[0]
    return read_document(path, "selection file missing")


def units_of(sweep):
    return [key for key, unit in UNITS.items() if unit.sweep == sweep]


def tuned_run_metrics(wildcards=None, sweep=None):
    """metrics.json of the tuned final runs (of `sweep`, or of every tuned sweep), each once: a
    point shared by two tuned sweeps (the ideal device of `methods` and `devices`) has the same
    trials, hence the same final runs, and a final run may be a run of the grid already.
    """
    keys = units_of(sweep) if sweep else UNITS
    run_ids = [run["run_id"] for key in keys for run in selection_of(key)["final_runs"]]
    return [
        f"{RUNS}/{run_id}/metrics.json"
        for run_id in dict.fromkeys(run_ids)
        if sweep or run_id not in GRID.runs
    ]


def tuning_outputs():
    """The tuning tables and figures of every tuned sweep."""
    outputs = []
    for sweep in TUNED_SWEEPS:
        outputs += [f"{TUNING}/{sweep}.{ext}" for ext in ("csv", "md")]
        kinds = (
            TUNING_FIGURES
            if GRID.sweeps[sweep].axis_names == ("device",)
            else TUNING_FIGURES[:1]
        )
        outputs += [
            f"{TUNING}/figures/{sweep}.{kind}.{ext}"
            for kind in kinds
            for ext in ("png", "pdf")
        ]
    return outputs


def collected_memberships(wildcards):
    """The sweeps of every run collected; a tuned final run's are marked
    `tuned:<sweep>` (sbp_core.tuning.final_runs), so the sweep tables keep the untuned runs.
    """
    memberships = {run_id: list(sweeps) for run_id, sweeps in GRID.memberships.items()}
    for key, unit in UNITS.items():
        for run in selection_of(key)["final_runs"]:
            memberships.setdefault(run["run_id"], []).append(
                f"{TUNED_MARK}{unit.sweep}"
            )
    return memberships
