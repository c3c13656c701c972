# Everything that is not a rule: config validation, the expanded grid, and input functions.
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from sbp_core.cost import load_constants
from sbp_core.documents import read_document
from sbp_core.errors import SbpBenchError
from sbp_core.grid import FIGURE_KINDS, MNIST_DOWNLOAD, config_hash, validate_config
from sbp_core.grid import expand as expand_grid
from sbp_core.precompile import compile_once
from sbp_core.offchip import EPOCHS_FILE, KEEPS_EPOCHS
from sbp_core.provenance import PROVENANCE_FILE, code_version
from sbp_core.report import COST_SWEEP_FIGURES
from sbp_core.runfolder import admit
from sbp_core.spec import RunSpec, names_device_file, option_text

try:
    for path in workflow.configfiles:  # Snakemake keeps a key given twice; we refuse it
        read_document(path, "config file not found")
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    GRID = expand_grid(config)
    # what the cost job reads, checked now rather than after every run has trained
    load_constants(
        config["cost_config"], config["cost_override_files"], config["cost_overrides"]
    )
except SbpBenchError as error:
    sys.exit(f"sbp-bench: error: {error}")  # one line naming the key or file
RESULTS = f"results/{GRID.profile}"
RUNS = f"{RESULTS}/runs"
DEFAULT_SPEC = RunSpec()

if workflow.is_main_process:
    # Every finished run folder of the grid is verified before planning (and stamped once if it
    # predates the record); a damaged one is named and made unfinished, so it is retrained.
    for run_id in GRID.runs:
        rejected = admit(f"{RUNS}/{run_id}")
        if rejected:
            print(f"sbp-bench: {rejected}", file=sys.stderr)


def run_spec(run_id):
    """The spec of a run of the grid, or of a tuned final run (from its selection file)."""
    return GRID.runs.get(run_id) or tuned_final_specs()[run_id]


SBP_BENCH = str(Path(sys.executable).with_name("sbp-bench"))
"""Jobs run the `sbp-bench` of the environment Snakemake runs in (on a cluster, the same path on
every node: a shared file system)."""
KERNELS_STAMP = f"{RESULTS}/compiled_kernels.txt"
"""The fingerprint of the kernels last compiled for the profile, and what `sbp-bench compile`
said (its errors go to logs/compile_kernels.log)."""


def compile_kernels_once():
    """Every kernel of the grid (each network depth, each device kind) compiled into numba's
    on-disk cache by one single-threaded process, unless KERNELS_STAMP says it was already.
    """
    depths = ",".join(map(str, GRID.kernel_depths))
    kinds = ",".join(GRID.device_kinds)
    command = [SBP_BENCH, "compile", "--device-kinds", kinds, "--hidden-layers", depths]
    log = Path(RESULTS) / "logs" / "compile_kernels.log"
    try:
        compile_once(command, Path(KERNELS_STAMP), log, depths, kinds)
    except SbpBenchError as error:
        sys.exit(f"sbp-bench: error: {error}")


wildcard_constraints:
    run_id="[0-9a-f]{12}",
    sweep="[A-Za-z0-9_-]+",


def spec_options(wildcards):
    """`sbp-bench train` options for the fields of the run's spec that differ from the defaults.

    The CLI rebuilds the same RunSpec from them, so its run id is this job's run id.
    """
    options = []
    for field, value in run_spec(wildcards.run_id).changed().items():
        options += [f"--{field.replace('_', '-')}", option_text(value)]
    return options


def mnist_input(wildcards):
    """The downloaded MNIST files, for MNIST runs when no local mnist_dir is configured."""
    needs_download = (
        run_spec(wildcards.run_id).dataset == "mnist" and not config["mnist_dir"]
    )
    return rules.fetch_mnist.output if needs_download else []


def mnist_option(wildcards):
    """The --mnist-dir option of an MNIST run (local folder or download), empty otherwise."""
    if run_spec(wildcards.run_id).dataset != "mnist":
        return []
    return ["--mnist-dir", config["mnist_dir"] or MNIST_DOWNLOAD]


def device_file_input(wildcards):
    """The device file a run simulates, if it names one: editing the file reruns the run."""
    device = run_spec(wildcards.run_id).device
    return [device] if names_device_file(device) else []


RUN_FILES = {
    "spec": "spec.json",
    "provenance": PROVENANCE_FILE,
    "history": "history.csv",
    "arrays": "arrays.npz",
    "timing": "timing.json",
    "metrics": "metrics.json",
}
"""Every file a train job writes into its run folder (metrics.json last); `ste` runs write
EPOCHS_FILE too (rule train_ste)."""


def run_outputs():
    """RUN_FILES of the run folder whose run id is the wildcard."""
    return {name: f"{RUNS}/{{run_id}}/{file}" for name, file in RUN_FILES.items()}


def run_id_pattern(keeps_epochs):
    """The run ids `train_ste` (keeps_epochs) or `train` writes, as a regex: the grid's ste runs
    go to train_ste and every other run id to train, since a tuned final run is known only after
    its selection (tune.smk) and no exsitu run programs a tuned ste run. Runs trained in batches
    (TRAIN_BATCHES) are left to their batch rules."""
    batched = {run_id for run_ids in TRAIN_BATCHES.values() for run_id in run_ids}
    ste = [run_id for run_id, spec in GRID.runs.items() if spec.method == KEEPS_EPOCHS]
    if keeps_epochs:
        return "|".join(run_id for run_id in ste if run_id not in batched) or "(?!)"
    excluded = sorted(batched.union(ste))
    return f"(?!(?:{'|'.join(excluded) or '(?!)'})(?![0-9a-f]))[0-9a-f]{{12}}"


def train_batches(size):
    """Batch name -> the run ids one `train-batch` job trains, `size` at most, or none for size
    1 (one job per run). ste runs are batched apart, since exsitu runs read them; runs reading
    the same data split are put together, so a batch decodes it once."""

    def order(run_id):
        spec = GRID.runs[run_id]
        return (spec.method == KEEPS_EPOCHS, spec.dataset, spec.val_fraction, spec.n_train,
                spec.seed, run_id)  # fmt: skip

    if size <= 1:
        return {}
    run_ids = sorted(GRID.runs, key=order)
    batches = {}
    for keeps_epochs in (True, False):
        kind = [
            run_id
            for run_id in run_ids
            if (GRID.runs[run_id].method == KEEPS_EPOCHS) == keeps_epochs
        ]
        for start in range(0, len(kind), size):
            batches[f"{'ste' if keeps_epochs else 'runs'}{start // size:03d}"] = kind[
                start : start + size
            ]
    return batches


TRAIN_BATCHES = train_batches(config["train"]["batch_runs"])


def batch_outputs(run_ids):
    """Every file the runs of a batch write, flagged `update`: Snakemake keeps the finished runs
    of a batch it reruns (after a kill or a failed run), which train-batch then skips.
    """
    files = []
    for run_id in run_ids:
        names = [*RUN_FILES.values()]
        if GRID.runs[run_id].method == KEEPS_EPOCHS:
            names.append(EPOCHS_FILE)
        files += [update(f"{RUNS}/{run_id}/{name}") for name in names]
    return files


def batch_lines(run_ids):
    """The batch's run specs as `train-batch` reads them: JSON lines of the fields that differ
    from the defaults, each with its run id (checked against them)."""
    lines = []
    for run_id in run_ids:
        changed = run_spec(run_id).changed()
        lines.append(json.dumps({**changed, "run_id": run_id}, sort_keys=True))
    return "\n".join(lines)


def batch_inputs(run_ids):
    """What the runs of a batch read: the MNIST download, device files, exsitu runs' ste runs."""
    runs = [SimpleNamespace(run_id=run_id) for run_id in run_ids]
    files = [
        file
        for run in runs
        for file in (*mnist_input(run), *device_file_input(run), *offchip_input(run))
    ]
    return sorted(set(map(str, files)))


def batch_mnist_option(run_ids):
    """--mnist-dir when a run of the batch reads MNIST."""
    options = [mnist_option(SimpleNamespace(run_id=run_id)) for run_id in run_ids]
    return next((option for option in options if option), [])


def offchip_input(wildcards):
    """An exsitu run programs the per-epoch weights of its finished off-chip ste run."""
    spec = run_spec(wildcards.run_id)
    if spec.method != "exsitu":
        return []
    folder = f"{RUNS}/{spec.offchip_spec().run_id}"
    return [f"{folder}/{EPOCHS_FILE}", f"{folder}/metrics.json"]


def offchip_option(wildcards, input):
    """--offchip-run for an exsitu run: replay that network instead of training it again."""
    folders = sorted({str(Path(path).parent) for path in input.offchip})
    return [option for folder in folders for option in ("--offchip-run", folder)]


def run_metrics():
    """metrics.json of every run in the grid: written last, so present means finished."""
    return [f"{RUNS}/{run_id}/metrics.json" for run_id in GRID.runs]


def sweep_of(wildcards):
    return GRID.sweeps[wildcards.sweep].to_dict()


def figure_files(ext="png"):
    """One file per figure the sweeps present call for (see sbp_core.grid.FIGURES_BY_AXES)."""
    return [
        f"{RESULTS}/figures/{name}.{kind}.{ext}"
        for name, sweep in GRID.sweeps.items()
        for kind in sweep.figures
    ]


def table_files():
    return [
        f"{RESULTS}/tables/{name}.{ext}"
        for name in GRID.sweeps
        for ext in ("csv", "md", "tex")
    ]


if config["mlflow"]["tracking_uri"]:
    # a tracking server keeps the artifacts where it was told to (--artifacts-destination)
    MLFLOW_URI, MLFLOW_ARTIFACTS = config["mlflow"]["tracking_uri"], None
else:
    MLFLOW_URI, MLFLOW_ARTIFACTS = (
        f"sqlite:///{RESULTS}/mlflow.db",
        f"{RESULTS}/mlartifacts",
    )


def mlflow_provenance(wildcards):
    """Tags every MLflow run carries: the code version and the config it came from."""
    return {
        "git_commit": code_version(),
        "config_hash": config_hash(config),
        "profile": GRID.profile,
    }


def final_outputs():
    return [
        *run_metrics(),
        f"{RESULTS}/collected/runs.csv",
        *table_files(),
        *figure_files("png"),
        *figure_files("pdf"),
        f"{RESULTS}/mlflow/logged.json",
        *cost_outputs(),
        f"{RESULTS}/summary.md",
    ]


def summary_input(wildcards):
    """The collected tables, and the per-run cost when the profile has SBP runs to cost."""
    inputs = {
        "runs": f"{RESULTS}/collected/runs.csv",
        "history": f"{RESULTS}/collected/history.csv",
    }
    if has_sbp_runs():
        inputs["per_run"] = f"{RESULTS}/cost/cost_per_run.csv"
    return inputs


def has_sbp_runs():
    """The periphery cost compares SBP with the conventional design: SBP runs are costed."""
    return any(spec.method == "sbp" for spec in GRID.runs.values())


def cost_sweeps():
    """The sweeps with SBP runs: each gets its own cost figures (sbp_core.report.cost_figures)."""
    return [sweep for sweep in GRID.sweeps.values() if "sbp" in sweep.methods]


def cost_sweep_figures():
    """PNG (in the report, under the sweep) and PDF of each COST_SWEEP_FIGURES kind of every
    sweep with SBP runs."""
    outputs = {}
    for index, sweep in enumerate(cost_sweeps()):
        for kind in COST_SWEEP_FIGURES:
            stem = f"{RESULTS}/cost/figures/{sweep.name}.{kind}"
            outputs[f"{kind}_{index}"] = report(
                f"{stem}.png",
                caption=f"../report/{kind}.rst",
                category="Periphery cost",
                subcategory=sweep.name,
            )
            outputs[f"{kind}_{index}_pdf"] = f"{stem}.pdf"
    return outputs


def cost_outputs():
    """Everything the periphery cost rules (workflow/rules/cost.smk) write; nothing when the
    profile has no SBP run to cost."""
    if not has_sbp_runs():
        return []
    return [*rules.cost_per_run.output, *rules.cost_report.output]


def mlflow_cost_input():
    """The per-run cost table, so MLflow runs carry the cost metrics too (if there is one)."""
    return rules.cost_per_run.output[0] if has_sbp_runs() else []
