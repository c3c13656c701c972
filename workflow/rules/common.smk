# Everything that is not a rule: config validation, the expanded grid, and input functions.
import json
import sys
from pathlib import Path

from sbp_core.cost import load_constants
from sbp_core.documents import read_document
from sbp_core.errors import SbpBenchError
from sbp_core.grid import FIGURE_KINDS, MNIST_DOWNLOAD, config_hash, validate_config
from sbp_core.grid import expand as expand_grid
from sbp_core.jit import compiled_sources
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


wildcard_constraints:
    run_id="[0-9a-f]{12}",
    sweep="[A-Za-z0-9_-]+",


def spec_options(wildcards):
    """`sbp-bench train` options for the fields of the run's spec that differ from the defaults.

    The CLI rebuilds the same RunSpec from them, so its run id is this job's run id.
    """
    spec = run_spec(wildcards.run_id)
    options = []
    for field, value in spec.to_dict().items():
        if value != getattr(DEFAULT_SPEC, field):
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
    """The run ids of the grid whose method writes EPOCHS_FILE, as a regex, or (keeps_epochs
    false) every other run id: a tuned final run is known only after its selection (tune.smk),
    and no exsitu run programs a tuned ste run, so `train` runs those."""
    run_ids = [
        run_id for run_id, spec in GRID.runs.items() if spec.method == KEEPS_EPOCHS
    ]
    if keeps_epochs:
        return "|".join(run_ids) or "(?!)"  # (?!) matches nothing
    return f"(?!(?:{'|'.join(run_ids) or '(?!)'})(?![0-9a-f]))[0-9a-f]{{12}}"


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
    ]


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
    """Everything the periphery cost rule (workflow/rules/cost.smk) writes; nothing when the
    profile has no SBP run to cost."""
    return list(rules.cost_report.output) if has_sbp_runs() else []


def mlflow_cost_input():
    """The per-run cost table, so MLflow runs carry the cost metrics too (if there is one)."""
    return rules.cost_report.output.per_run if has_sbp_runs() else []
