# The tuning protocol's names and input functions (rules: workflow/rules/tune.smk).
from sbp_core.tuning.plan import final_run_batches
from sbp_core.tuning.select import final_specs

TUNING = f"{RESULTS}/tuning"
UNITS = {unit.key: unit for unit in GRID.tuning}
TUNED_SWEEPS = list(dict.fromkeys(unit.sweep for unit in GRID.tuning))
TUNING_FIGURES = ("expected_best", "profile")
"""expected_best: expected best validation accuracy against trials, per tuned sweep;
profile: the performance profile over a sweep's devices (sweeps whose axis is `device`)."""
FINAL_BATCHES = final_run_batches(GRID.tuning, config["train"]["batch_runs"])
"""Batch name -> the units whose final runs one `train_tuned` job trains (tune.smk)."""
BATCH_OF = {key: batch for batch, keys in FINAL_BATCHES.items() for key in keys}
_FINAL_SPECS = {}
"""Unit key -> (modification time of its selection file, its final runs' specs)."""


def tuned_final_specs():
    """Run id -> spec of every tuned final run whose selection file exists (each file read again
    only when it changed): `train_tuned` jobs find their runs' specs here, on a cluster node too.
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


def final_run_ids(keys):
    """The final runs the units `keys` chose, each once (a point shared by two tuned sweeps, the
    ideal device of `methods` and `devices`, has the same trials, hence the same final runs).
    """
    return list(
        dict.fromkeys(
            run["run_id"] for key in keys for run in selection_of(key)["final_runs"]
        )
    )


def trained_records(sweep=None):
    """The records of the `train_tuned` jobs that train the final runs of `sweep`'s units (or of
    every unit): a record is written when all of its batch's final runs are finished."""
    keys = units_of(sweep) if sweep else UNITS
    return sorted({f"{TUNING}/trained/{BATCH_OF[key]}.txt" for key in keys})


def train_tuned_inputs(wildcards):
    """What a batch's final runs read (data, device files, exsitu's ste runs), and those of its
    final runs that are runs of the grid, trained by the grid's jobs and only verified here.
    """
    run_ids = final_run_ids(FINAL_BATCHES[wildcards.batch])
    grid_runs = [
        f"{RUNS}/{run_id}/metrics.json" for run_id in run_ids if run_id in GRID.runs
    ]
    return [*batch_inputs(run_ids), *grid_runs]


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
