"""The Snakemake workflow end to end, in a temporary copy of the checkout."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sbp_core import identity
from sbp_core.grid import expand, validate_config
from sbp_core.jit import sources_fingerprint
from sbp_core.runfolder import RECORD, verify

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SBP_BENCH = str(Path(sys.executable).with_name("sbp-bench"))

TINY = {
    "profile": "tiny",
    "base": {"dataset": "digits", "epochs": 3},
    "seeds": [0],
    "sweeps": {
        "methods": {"methods": ["sbp", "float"]},
        "states": {"methods": ["sbp"], "axes": {"n_states": [4, 16]}},
        "devices": {"methods": ["sbp"], "axes": {"device": ["ideal", "ag_si"]}},
        "grid": {
            "methods": ["sbp", "exsitu"],
            "axes": {"c2c_sigma": [0.0, 0.05], "d2d_sigma": [0.1]},
        },
    },
}


def workflow_copy(tmp_path: Path, config: dict) -> Path:
    """A fresh copy of the workflow (as in a new clone) with `config` as config/test.yaml."""
    tmp_path.mkdir(exist_ok=True)
    for name in ("Snakefile", "workflow", "config"):
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / name)
    (tmp_path / "config" / "test.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, *args, "--configfile", "config/test.yaml"]  # it takes several values
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def test_paper_profile_dry_run_prints_the_job_count(tmp_path):
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "config/paper.yaml"],
        cwd=workflow_copy(tmp_path, {}), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "fetch_mnist" in result.stdout
    batches = [line for line in result.stdout.splitlines() if line.startswith("train_batch_")]
    assert len(batches) * 8 > 300  # train.batch_runs: 8, so more than 300 runs


MNIST_PROFILE = {
    "profile": "m",
    "base": {"dataset": "mnist"},
    "sweeps": {"s": {"methods": ["sbp"]}},
}


def test_exsitu_jobs_wait_for_and_program_their_offchip_run(tmp_path):
    config = {**TINY, "sweeps": {"grid": TINY["sweeps"]["grid"]}}
    result = snakemake(workflow_copy(tmp_path, config), "-n", "-p")
    grid = expand(validate_config(copy.deepcopy(config), ROOT / "config" / "schema.yaml"))
    (offchip,) = {
        spec.offchip_spec().run_id for spec in grid.runs.values() if spec.method == "exsitu"
    }
    commands = [line for line in result.stdout.splitlines() if "sbp-bench train" in line]
    assert sum(f"--offchip-run results/tiny/runs/{offchip}" in c for c in commands) == 2
    assert sum("--method ste" in c for c in commands) == 1  # trained once, an input of both


def test_local_mnist_dir_skips_the_download_and_names_its_data(tmp_path, fake_mnist_dir):
    local = {**MNIST_PROFILE, "mnist_dir": str(fake_mnist_dir)}
    result = snakemake(workflow_copy(tmp_path / "w", local), "-n", "-p")
    assert "fetch_mnist" not in result.stdout
    assert f"--mnist-dir {fake_mnist_dir}" in result.stdout
    assert f"--data-sha256 {identity.of_folder(fake_mnist_dir)}" in result.stdout


def test_a_missing_mnist_dir_stops_snakemake_with_one_line_naming_it(tmp_path):
    missing = {**MNIST_PROFILE, "mnist_dir": str(tmp_path / "nowhere")}
    result = snakemake(workflow_copy(tmp_path / "w", missing), "-n", check=False)
    assert result.returncode != 0
    assert f"sbp-bench: error: {tmp_path / 'nowhere'}: MNIST folder not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.mnist
def test_fetch_mnist_rule_downloads_and_verifies_from_a_mirror(tmp_path, mnist_dir):
    mirror = {**MNIST_PROFILE, "mnist": {"mirrors": [mnist_dir.as_uri()]}}
    workdir = workflow_copy(tmp_path, mirror)
    dry = snakemake(workdir, "-n", "-p")
    assert "--mnist-dir resources/mnist" in dry.stdout
    snakemake(workdir, "resources/mnist/t10k-labels-idx1-ubyte.gz", "--cores", "1")
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        fetched = workdir / "resources" / "mnist" / name
        assert fetched.read_bytes() == (mnist_dir / name).read_bytes()


def test_bad_config_stops_snakemake_with_one_line_naming_the_key(tmp_path):
    bad = {**TINY, "sweeps": {"s": {"methods": ["sbp"], "axes": {"n_statez": [4]}}}}
    result = snakemake(workflow_copy(tmp_path, bad), "-n", check=False)
    assert result.returncode != 0
    assert "sbp-bench: error: config key sweeps.s.axes.n_statez:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_tiny_profile_produces_every_output(tmp_path):
    from mlflow.tracking import MlflowClient

    workdir = workflow_copy(tmp_path, TINY)
    snakemake(workdir, "--cores", "2")
    results = workdir / "results" / "tiny"
    expected = [f"tables/{sweep}.{ext}" for sweep in TINY["sweeps"] for ext in ("csv", "md", "tex")]
    kinds = {"methods": ["methods", "curves", "pulses"], "states": ["axis"]}
    kinds |= {"devices": ["presets"], "grid": ["heatmap"]}
    expected += [
        f"figures/{sweep}.{kind}.{ext}"
        for sweep, names in kinds.items()
        for kind in names
        for ext in ("png", "pdf")
    ]
    expected += ["collected/runs.csv", "collected/history.csv", "mlflow/logged.json"]
    expected += ["cost/cost_per_run.csv", "cost/figures/cost_saving_vs_adc_bits.png"]
    expected += [
        f"cost/figures/{sweep}.{kind}.{ext}"
        for sweep in TINY["sweeps"]  # every sweep has SBP runs
        for kind in ("cost_breakdown", "cost_energy_per_epoch")
        for ext in ("png", "pdf")
    ]
    missing = [name for name in expected if not (results / name).is_file()]
    assert not missing
    runs = (results / "collected" / "runs.csv").read_text().splitlines()
    # header + runs (sbp/ideal shared by methods and devices) + the off-chip ste run of exsitu,
    # trained once for both of its chips (the grid holds no other ste run)
    assert len(runs) == 1 + 9 + 1
    assert sum(",ste," in line for line in runs) == 1

    logged = json.loads((results / "mlflow" / "logged.json").read_text())
    assert logged["logged"] == 9 + 1  # the shared run appears under both sweeps
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    assert len(client.search_runs([logged["experiment_id"]], max_results=100)) == 10 + 4

    again = snakemake(workdir, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # runs.csv as collected when the spec had one field less (its record of collect's params):
    # collected again, so the cost and summary rules never read a CSV without the new column
    record = workdir / ".snakemake" / "metadata"
    record /= base64.b64encode(b"results/tiny/collected/runs.csv").decode()
    metadata = json.loads(record.read_text())
    metadata["params"] = [value.replace("'pulse_rng', ", "") for value in metadata["params"]]
    record.write_text(json.dumps(metadata))
    stale = snakemake(workdir, "-n")
    assert re.search(r"^collect\s+1$", stale.stdout, flags=re.MULTILINE), stale.stdout
    snakemake(workdir, "--report", "results/tiny/report.html")
    assert (results / "report.html").stat().st_size > 10_000


STALE = {
    "profile": "stale",
    "base": {"dataset": "digits", "epochs": 2, "n_hidden": 16},
    "seeds": [0],
    "sweeps": {"exsitu": {"methods": ["exsitu"]}},
}


@pytest.mark.slow
def test_an_offchip_run_without_its_epochs_is_retrained_before_exsitu_replays_it(tmp_path):
    workdir = workflow_copy(tmp_path, STALE)
    grid = expand(validate_config(copy.deepcopy(STALE), ROOT / "config" / "schema.yaml"))
    (exsitu,) = [run_id for run_id, spec in grid.runs.items() if spec.method == "exsitu"]
    offchip = grid.runs[exsitu].offchip_spec().run_id
    target = f"results/stale/runs/{exsitu}/metrics.json"
    snakemake(workdir, "--cores", "2", target)
    runs = workdir / "results" / "stale" / "runs"
    (runs / offchip / "epochs.npz").unlink()  # a finished ste folder without its epochs: stale
    (runs / exsitu / "metrics.json").unlink()
    snakemake(workdir, "--cores", "2", target)
    assert (runs / offchip / "epochs.npz").is_file() and (runs / exsitu / "metrics.json").is_file()
    again = snakemake(workdir, "-n", target)
    assert "Nothing to be done" in again.stdout + again.stderr


KILL = {
    "profile": "kill",
    "base": {"dataset": "digits", "epochs": 60},
    "seeds": [0],
    "sweeps": {"only": {"methods": ["sbp"]}},
}


def cli_processes(workdir: Path, command: str) -> list[int]:
    """Ids of the `sbp-bench <command>` processes (`train`, `train-batch`) running in `workdir`
    (ours only, found via /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            in_workdir = (proc / "cwd").resolve() == workdir.resolve()
        except (OSError, RuntimeError):
            continue
        if (
            in_workdir
            and any(part.endswith(b"sbp-bench") for part in cmdline)
            and command.encode() in cmdline
        ):
            found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc to find the job")
def test_killed_train_job_reruns_to_complete_correct_outputs(tmp_path):
    workdir = workflow_copy(tmp_path, KILL)
    (run_id,) = expand(validate_config(copy.deepcopy(KILL), ROOT / "config" / "schema.yaml")).runs
    target = f"results/kill/runs/{run_id}/metrics.json"
    first = subprocess.Popen(
        [SNAKEMAKE, "--configfile", "config/test.yaml", "--cores", "1", target],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    pids: list[int] = []
    while not pids and time.monotonic() < deadline and first.poll() is None:
        pids = cli_processes(workdir, "train")
        time.sleep(0.05)
    assert pids, "no train job started"
    time.sleep(0.2)  # let it get going
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    output, _ = first.communicate(timeout=120)
    assert first.returncode != 0, "the job finished before it could be killed"
    run_dir = (workdir / target).parent
    assert not (run_dir / "metrics.json").exists()

    snakemake(workdir, "--cores", "1", target)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = (run_dir / "history.csv").read_text().splitlines()
    assert metrics["epochs_run"] == len(history) - 1 == KILL["base"]["epochs"]

    reference = tmp_path / "reference_run"
    spec = run_dir / "spec.json"
    subprocess.run(
        [SBP_BENCH, "train", "--spec", str(spec), "--out", str(reference), "--quiet"], check=True
    )
    reference_metrics = json.loads((reference / "metrics.json").read_text())
    for certified in (metrics, reference_metrics):  # history.csv, which it certifies, has times
        del certified[RECORD]
    assert metrics == reference_metrics  # bit for bit


PARALLEL = {
    "profile": "parallel",
    "base": {"dataset": "digits", "epochs": 1, "n_hidden": 16},
    "seeds": [0, 1],
    "sweeps": {"methods": {"methods": ["sbp", "exsitu", "manhattan"]}},
}


@pytest.mark.slow
def test_parallel_train_jobs_on_an_empty_numba_cache_only_load_it(tmp_path, monkeypatch):
    """Snakemake compiles every kernel into an empty cache before its first job (here one run);
    two parallel train jobs at a time then load it: no cache file is written or rewritten while
    they run, and the kernels are not compiled again."""
    cache = tmp_path / "numba-cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    workdir = workflow_copy(tmp_path / "work", PARALLEL)
    snakemake(workdir, run_targets(PARALLEL)[0], "--cores", "1")
    before = {path: path.stat().st_mtime_ns for path in cache.rglob("*.nb?")}
    assert any(path.suffix == ".nbi" for path in before)  # the kernels are cached
    stamp = workdir / "results" / "parallel" / "compiled_kernels.txt"
    stamped = stamp.stat().st_mtime_ns
    snakemake(workdir, "--cores", "2")
    after = {path: path.stat().st_mtime_ns for path in cache.rglob("*.nb?")}
    assert after == before and stamp.stat().st_mtime_ns == stamped
    runs = (workdir / "results" / "parallel" / "runs").glob("*/metrics.json")
    assert len(list(runs)) == 3 * 2 + 2  # and the two off-chip ste runs


@pytest.mark.slow
def test_runs_a_grid_gains_are_trained_when_the_kernels_compile_again(tmp_path):
    """Edited kernels (their fingerprint in the stamp no longer matches) and a new seed: the
    rerun compiles again and trains and collects the new runs. With the compilation as a job
    upstream of the train jobs, Snakemake 9.15 ran only that job and exited 0 without them
    (snakemake/snakemake issue 4166)."""
    workdir = workflow_copy(tmp_path, PARALLEL)
    snakemake(workdir, "--cores", "2")
    stamp = workdir / "results" / "parallel" / "compiled_kernels.txt"
    stamp.write_text("a fingerprint of other sources\n")
    grown = {**PARALLEL, "seeds": [0, 1, 2]}
    (workdir / "config" / "test.yaml").write_text(yaml.safe_dump(grown))
    snakemake(workdir, "--cores", "2")
    collected = pd.read_csv(workdir / "results" / "parallel" / "collected" / "runs.csv")
    assert sorted(collected["seed"].value_counts().to_dict().items()) == [(0, 4), (1, 4), (2, 4)]
    assert stamp.read_text().startswith(sources_fingerprint("1", "neurosim"))  # compiled again


@pytest.mark.slow
def test_a_profile_without_sbp_runs_has_no_cost_report_and_completes(tmp_path):
    """The cost report compares SBP with the conventional design; without SBP runs it has
    nothing to cost, so it is not a job (it used to fail the whole pipeline)."""
    config = {
        "profile": "nosbp",
        "base": {"dataset": "digits", "epochs": 1, "n_hidden": 8},
        "sweeps": {"states": {"methods": ["exsitu"], "axes": {"n_states": [2, 4]}}},
    }
    workdir = workflow_copy(tmp_path, config)
    dry = snakemake(workdir, "-n")
    assert "cost_report" not in dry.stdout + dry.stderr
    snakemake(workdir, "--cores", "2")
    results = workdir / "results" / "nosbp"
    assert (results / "tables" / "states.md").is_file() and not (results / "cost").exists()
    assert json.loads((results / "mlflow" / "logged.json").read_text())["logged"] == 2


FITTED = {
    "profile": "fitted",
    "base": {"dataset": "digits", "epochs": 2, "n_hidden": 16, "device": "devices/mine.yaml"},
    "seeds": [0],
    "sweeps": {"fitted": {"methods": ["sbp"]}},
}
"""SBP on a device fitted to the README's example curves, its file beside the workflow."""
EXAMPLE_CURVES = ROOT / "examples" / "curves.csv"


def fitted_workflow(tmp_path: Path) -> Path:
    """A workflow copy whose profile names devices/mine.yaml, fitted to the example curves."""
    from sbp_core.cli import main

    workdir = workflow_copy(tmp_path, FITTED)
    assert (
        main(["fit-device", str(EXAMPLE_CURVES), "--out", str(workdir / "devices/mine.yaml")]) == 0
    )
    return workdir


def fitted_run(workdir: Path, config: dict) -> str:
    """The run id of the profile's one run, as the grid builds it in the workflow's folder."""
    here = Path.cwd()
    os.chdir(workdir)  # device files are named relative to the workflow's folder
    try:
        (run_id,) = expand(
            validate_config(copy.deepcopy(config), ROOT / "config" / "schema.yaml")
        ).runs
    finally:
        os.chdir(here)
    return run_id


@pytest.mark.slow
def test_sbp_trains_on_a_fitted_device_file_and_the_file_is_the_runs_input(tmp_path):
    from sbp_core.chip.device import read_device_file
    from sbp_core.cli import main

    workdir = fitted_workflow(tmp_path)
    device = workdir / "devices" / "mine.yaml"
    run_id = fitted_run(workdir, FITTED)
    target = f"results/fitted/runs/{run_id}/metrics.json"
    snakemake(workdir, "--cores", "2", target)
    metrics = json.loads((workdir / target).read_text())
    assert metrics["status"] == "ok" and metrics["final_test_acc"] > 0.3
    assert metrics["device"] == read_device_file(device).to_dict()
    spec = json.loads((workdir / target).with_name("spec.json").read_text())
    assert spec["device"] == "devices/mine.yaml"
    assert spec["device_sha256"] == identity.of_device_file(device)

    # a copy elsewhere is the same device: the same run (Snakemake's default triggers would
    # run it again, into the same folder with the same numbers, as its command names the path)
    moved = copy.deepcopy(FITTED)
    moved["base"]["device"] = "elsewhere/copy.yaml"
    (workdir / "elsewhere").mkdir()
    shutil.copy2(device, workdir / "elsewhere" / "copy.yaml")
    (workdir / "config" / "test.yaml").write_text(yaml.safe_dump(moved))
    assert fitted_run(workdir, moved) == run_id
    again = snakemake(workdir, "-n", target, "--rerun-triggers", "mtime")
    assert "Nothing to be done" in again.stdout + again.stderr
    # the file is an input of its run: touched, the run is due again
    (workdir / "elsewhere" / "copy.yaml").touch()
    touched = snakemake(workdir, "-n", target, "--rerun-triggers", "mtime")
    assert re.search(r"^train\s+1$", touched.stdout, flags=re.MULTILINE), touched.stdout
    # an edited file is another device: another run id
    with open(workdir / "elsewhere" / "copy.yaml", "a") as edited:
        edited.write("# measured again\n")
    assert fitted_run(workdir, moved) != run_id
    # a lookup-table device's kernels are compiled apart, so they are compiled too
    table = workdir / "devices" / "table.yaml"
    assert (
        main(["fit-device", str(EXAMPLE_CURVES), "--out", str(table), "--model", "lookup_table"])
        == 0
    )
    moved["base"]["device"] = "devices/table.yaml"
    (workdir / "config" / "test.yaml").write_text(yaml.safe_dump(moved))
    snakemake(
        workdir, "--cores", "1", f"results/fitted/runs/{fitted_run(workdir, moved)}/metrics.json"
    )
    stamp = (workdir / "results" / "fitted" / "compiled_kernels.txt").read_text()
    assert "lookup_table" in stamp.split("\n", 1)[1], stamp  # what `sbp-bench compile` said


BATCHED = {
    "profile": "batched",
    "base": {"dataset": "digits", "epochs": 2, "n_hidden": 16},
    "seeds": [0],
    "sweeps": {
        "methods": {"methods": ["sbp", "exsitu", "sgd"]},
        "c2c": {"methods": ["sbp"], "axes": {"c2c_sigma": [0.0, 0.05]}},
    },
}


def run_targets(config: dict) -> list[str]:
    grid = expand(validate_config(copy.deepcopy(config), ROOT / "config" / "schema.yaml"))
    return [f"results/{config['profile']}/runs/{run_id}/metrics.json" for run_id in grid.runs]


def certified_numbers(folder: Path) -> tuple[dict, bytes]:
    """metrics.json but for its verification record (it certifies wall times), arrays.npz."""
    metrics = json.loads((folder / "metrics.json").read_text())
    del metrics[RECORD]
    return metrics, (folder / "arrays.npz").read_bytes()


@pytest.mark.slow
def test_batched_train_jobs_write_the_same_run_folders_as_one_job_per_run(tmp_path):
    targets = run_targets(BATCHED)
    batched = workflow_copy(tmp_path / "batched", {**BATCHED, "train": {"batch_runs": 3}})
    dry = snakemake(batched, "-n", *targets)
    assert "train_batch_runs000" in dry.stdout and re.search(r"^train\s", dry.stdout, re.M) is None
    snakemake(batched, "--cores", "2", *targets)
    single = workflow_copy(tmp_path / "single", BATCHED)
    snakemake(single, "--cores", "2", *targets)
    for target in targets:
        assert certified_numbers((batched / target).parent) == certified_numbers(
            (single / target).parent
        )
    again = snakemake(batched, "-n", *targets)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc to find the job")
def test_a_killed_batch_job_keeps_its_finished_runs_and_its_rerun_trains_only_the_rest(tmp_path):
    config = {
        "profile": "killbatch",
        "base": {"dataset": "digits", "epochs": 40, "c2c_sigma": 0.05},
        "seeds": [0, 1, 2],
        "sweeps": {"only": {"methods": ["sbp"]}},
        "train": {"batch_runs": 3},
    }
    targets = run_targets(config)
    workdir = workflow_copy(tmp_path, config)
    profile = ["--workflow-profile", "workflow/profiles/default"]  # as `make run`: keep-incomplete
    first = subprocess.Popen(
        [SNAKEMAKE, *profile, "--configfile", "config/test.yaml", "--cores", "1", *targets],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if any((workdir / target).exists() for target in targets):
            break
        time.sleep(0.02)
    pids = cli_processes(workdir, "train-batch")
    assert pids, "the batch job ended before it could be killed"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    first.communicate(timeout=120)
    assert first.returncode != 0
    finished = [target for target in targets if (workdir / target).exists()]
    assert 1 <= len(finished) < len(targets)
    for target in finished:  # kept whole: not deleted as the outputs of a failed job
        verify((workdir / target).parent)

    snakemake(workdir, *profile, "--cores", "1", *targets)
    log = (workdir / "results" / "killbatch" / "logs" / "train_batch" / "runs000.log").read_text()
    for target in targets:
        run_id = Path(target).parent.name
        verify((workdir / target).parent)
        said = "finished before" if target in finished else "ok"
        assert f"{run_id} {said}:" in log
