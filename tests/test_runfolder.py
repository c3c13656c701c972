"""Run folders verified on every read, reruns that cannot destroy a finished folder (issue 22)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sbp_core import identity, train
from sbp_core.errors import ConfigError
from sbp_core.offchip import read_run
from sbp_core.report.collect import collect
from sbp_core.runfolder import RECORD, RunFolderError, admit, stamp, verify
from sbp_core.spec import RunSpec
from sbp_core.tracking import RunFolder

TINY = {"dataset": "digits", "epochs": 3, "n_hidden": 16}
EXSITU = identity.stamped(RunSpec(method="exsitu", **TINY), *identity.of_dataset("digits", None))
OFFCHIP = EXSITU.offchip_spec()
"""An ste run writes every kind of file a run folder holds, epochs.npz included."""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One finished ste run folder, trained once; tests damage copies of it."""
    out = tmp_path_factory.mktemp("runs") / OFFCHIP.run_id
    train.run(OFFCHIP, out)
    return out


@pytest.fixture
def folder(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / finished.name))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def delete(path: Path) -> None:
    path.unlink()


def flip(path: Path, where: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(where * (len(data) - 1))] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated": truncate,
    "deleted": delete,
    "first byte flipped": lambda path: flip(path, 0.0),
    "middle byte flipped": lambda path: flip(path, 0.5),
    "last byte flipped": lambda path: flip(path, 1.0),
}
FILES = (
    "spec.json", "provenance.json", "history.csv", "arrays.npz", "timing.json", "epochs.npz",
    "metrics.json",
)  # fmt: skip


def test_a_finished_folder_certifies_every_file_it_holds(finished):
    metrics = verify(finished)
    assert sorted(metrics[RECORD]["files"]) == sorted(set(FILES) - {"metrics.json"})
    assert sorted(path.name for path in finished.iterdir()) == sorted(FILES)
    assert [path.name for path in finished.parent.iterdir()] == [finished.name]  # no leftovers


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("name", FILES)
def test_any_damaged_file_is_named_and_never_read(folder, name, damage):
    """The property: every reader refuses a folder with one damaged file, in one line naming
    it, and the workflow's check makes the run unfinished, so the pipeline retrains it."""
    DAMAGE[damage](folder / name)
    readers = {
        "verify": lambda: verify(folder),
        "collect": lambda: collect([folder], {}),
        "mlflow": lambda: RunFolder.read(folder),
        "exsitu replay": lambda: read_run(folder, EXSITU),
    }
    for reader, read in readers.items():
        with pytest.raises((RunFolderError, ConfigError)) as caught:
            read()
        message = str(caught.value)
        assert "\n" not in message, reader
        assert str(folder) in message, reader
        assert name in message, (reader, message)
    line = admit(folder)
    assert not (folder / "metrics.json").exists()  # unfinished: the workflow retrains it
    if (name, damage) != ("metrics.json", "deleted"):  # else unfinished already: nothing to say
        assert name in line and "\n" not in line


def test_a_folder_written_before_the_record_is_verified_once_and_stamped(folder):
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    legacy = {key: value for key, value in metrics.items() if key != RECORD}
    metrics_path.write_text(json.dumps(legacy, indent=2, sort_keys=True) + "\n")
    os.utime(metrics_path, (1_600_000_000, 1_600_000_000))
    assert admit(folder) is None
    stamped = json.loads(metrics_path.read_text())
    assert stamped == metrics  # the same record the run would have written, nothing retrained
    assert metrics_path.stat().st_mtime == 1_600_000_000  # the workflow sees nothing new
    flip(folder / "arrays.npz", 0.5)
    with pytest.raises(RunFolderError, match="arrays.npz: altered"):
        verify(folder)


@pytest.mark.parametrize(
    ("name", "damage", "why"),
    [
        ("history.csv", truncate, "history.csv: .* rows, not the 3 epochs run"),  # issue item 1
        ("history.csv", delete, "history.csv: missing"),  # item 9
        ("arrays.npz", truncate, "arrays.npz: not a whole .npz archive"),  # item 2
        ("epochs.npz", truncate, "epochs.npz: not a whole .npz archive"),  # item 8
        ("metrics.json", truncate, "metrics.json: unreadable"),  # item 9
    ],
)
def test_a_damaged_folder_without_the_record_is_refused_by_content(folder, name, damage, why):
    metrics = json.loads((folder / "metrics.json").read_text())
    del metrics[RECORD]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    damage(folder / name)
    with pytest.raises(RunFolderError, match=why):
        stamp(folder)
    assert RECORD not in (folder / "metrics.json").read_text()


def test_a_failed_rerun_leaves_the_finished_folder_whole(folder, monkeypatch):
    """Issue item 7: a rerun that fails (here a later error, as Ctrl-C) changes nothing."""
    before = {path.name: path.read_bytes() for path in folder.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.run(OFFCHIP, folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]
    with pytest.raises(Exception, match="n_train"):
        train.run(dataclasses.replace(OFFCHIP, n_train=99_999), folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_rerun_removes_a_killed_writers_staging_folder_and_keeps_a_live_writers(folder):
    """A SIGKILLed writer leaves its staging folder, named with its process id; the next run of
    that folder removes it, and leaves one whose process still runs."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                           capture_output=True, check=True).stdout.strip()  # fmt: skip
    orphan = folder.with_name(f".{folder.name}.{ended}.0badc0de.new")
    live = folder.with_name(f".{folder.name}.{os.getpid()}.0badc0de.new")
    for staged in (orphan, live):
        staged.mkdir()
        (staged / "spec.json").write_text("{}")
    train.run(OFFCHIP, folder)
    assert not orphan.exists() and (live / "spec.json").exists()
    verify(folder)


def test_a_rerun_replaces_the_folder_only_when_finished(folder):
    (folder / "stale.txt").write_text("from an older run")
    train.run(OFFCHIP, folder)
    assert not (folder / "stale.txt").exists()
    verify(folder)


def test_out_naming_a_file_is_refused_in_one_line(tmp_path):
    existing = tmp_path / "taken"
    existing.write_text("")
    with pytest.raises(ConfigError, match="taken: exists and is not a folder"):
        train.run(OFFCHIP, existing)


PIPELINE = {
    "profile": "damage",
    "base": {"dataset": "digits", "epochs": 2, "n_hidden": 16},
    "seeds": [0],
    "sweeps": {"methods": {"methods": ["sbp", "float", "exsitu"]}},
}


def test_the_pipeline_retrains_damaged_runs_and_never_aggregates_them(tmp_path):
    """Issue items 1, 2, 8 and 9 end to end: a truncated history.csv, a truncated arrays.npz, a
    damaged ste epochs.npz and a truncated metrics.json are each named in one line and retrained
    by the next run, which exits 0 with collected tables of whole runs (every table, figure, cost
    and MLflow rule reads those)."""
    from test_pipeline import snakemake, workflow_copy

    workdir = workflow_copy(tmp_path, PIPELINE)
    collected = [f"results/damage/collected/{name}.csv" for name in ("runs", "history")]
    snakemake(workdir, "--cores", "2", *collected)  # what aggregates runs; no figures or report
    runs = workdir / "results" / "damage" / "runs"
    by_method = {json.loads((d / "spec.json").read_text())["method"]: d for d in runs.iterdir()}
    damaged = {
        by_method["sbp"] / "history.csv": truncate,
        by_method["float"] / "arrays.npz": truncate,
        by_method["ste"] / "epochs.npz": lambda path: flip(path, 0.5),
        by_method["exsitu"] / "metrics.json": truncate,
    }
    for path, damage in damaged.items():
        damage(path)
    result = snakemake(workdir, "--cores", "2", *collected)
    lines = [line for line in result.stderr.splitlines() if "counts as unfinished" in line]
    assert len(lines) == len(damaged)
    for path in damaged:
        assert any(str(path.relative_to(workdir)) in line for line in lines), (path, lines)
        assert verify(path.parent)["epochs_run"] == 2  # retrained, whole
    history = pd.read_csv(workdir / collected[1])
    sbp = history[history["run_id"] == by_method["sbp"].name]
    assert sbp["epoch"].tolist() == [1, 2] and sbp["test_acc"].notna().all()
    assert sbp["set_pulses"].notna().all()


def test_a_run_folder_gets_the_permissions_of_any_new_folder(tmp_path):
    """Written through a hidden sibling, the folder is still readable by others (umask)."""
    (tmp_path / "plain").mkdir()
    out = tmp_path / "run"
    train.run(dataclasses.replace(OFFCHIP, epochs=1), out)
    assert out.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
