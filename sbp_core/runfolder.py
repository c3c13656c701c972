"""A finished run folder, verified on every read (README, "Troubleshooting").

metrics.json is written last and certifies the folder: its `verification` record holds the size
and SHA-256 of every other file the run wrote, and the SHA-256 of its own other keys. Every reader
of run folders (collect, MLflow logging, exsitu replay, the workflow before it plans) goes through
`verify`, so a truncated, deleted or altered file is reported in one line naming the folder and
the file, and the run counts as unfinished: it is retrained, never aggregated. A folder finished
before the record existed is checked once by content (`_check_unrecorded`) and stamped.

A run is written into a temporary sibling folder and swapped in only when it has finished
(`staging`), so a failed or interrupted rerun leaves the previous folder whole.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sbp_core import atomic
from sbp_core.errors import ConfigError, DataError

METRICS_FILE = "metrics.json"
RECORD = "verification"
"""The key of metrics.json that certifies the folder (left out of every table and MLflow)."""
REJECTED_SUFFIX = ".rejected"
"""metrics.json of a folder that failed verification is renamed to this, so the run is
unfinished (the workflow retrains it) and the evidence is kept until it is."""


class RunFolderError(DataError):
    """A run folder is unfinished, or a file it certifies is missing, truncated or altered."""


def _fail(folder: Path, name: str, why: str) -> RunFolderError:
    return RunFolderError(
        f"{folder / name}: {why}; run {folder.name} counts as unfinished (the pipeline "
        "retrains it; README, 'Troubleshooting')"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metrics_digest(metrics: dict[str, Any]) -> str:
    """SHA-256 of metrics.json's keys other than the record, as atomic.write_json writes them."""
    rest = {key: value for key, value in metrics.items() if key != RECORD}
    return hashlib.sha256(json.dumps(rest, indent=2, sort_keys=True).encode()).hexdigest()


def record(folder: str | Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """The verification record of `metrics` and of every other file in `folder`."""
    folder = Path(folder)
    files = {
        path.name: {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != METRICS_FILE and not path.name.startswith(".")
    }
    return {"files": files, "metrics_sha256": _metrics_digest(metrics)}


def read_metrics(folder: Path) -> dict[str, Any]:
    """metrics.json as a dict, or a one-line RunFolderError."""
    path = folder / METRICS_FILE
    try:
        metrics = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _fail(folder, METRICS_FILE, "missing (the run has not finished)") from None
    except (ValueError, OSError) as err:
        raise _fail(folder, METRICS_FILE, f"unreadable ({err.__class__.__name__})") from None
    if not isinstance(metrics, dict):
        raise _fail(folder, METRICS_FILE, "not a JSON object")
    return metrics


def verify(folder: str | Path) -> dict[str, Any]:
    """The metrics of a finished, intact run folder; else a one-line RunFolderError naming the
    folder and the file. A folder without a record is checked by content instead."""
    folder = Path(folder)
    metrics = read_metrics(folder)
    certified = metrics.get(RECORD)
    if certified is None:
        _check_unrecorded(folder, metrics)
        return metrics
    if not isinstance(certified, dict) or not isinstance(certified.get("files"), dict):
        raise _fail(folder, METRICS_FILE, f"malformed {RECORD!r} record")
    if certified.get("metrics_sha256") != _metrics_digest(metrics):
        raise _fail(folder, METRICS_FILE, "altered since the run wrote it")
    for name, expected in sorted(certified["files"].items()):
        path = folder / name
        if not path.is_file():
            raise _fail(folder, name, "missing")
        if not isinstance(expected, dict) or path.stat().st_size != expected.get("bytes"):
            raise _fail(folder, name, "truncated or extended (its size differs from the record)")
        if _sha256(path) != expected.get("sha256"):
            raise _fail(folder, name, "altered (its SHA-256 differs from the record)")
    return metrics


def _check_unrecorded(folder: Path, metrics: dict[str, Any]) -> None:
    """What a folder finished before the record existed can be checked against: JSON files
    parse, history.csv holds `epochs_run` whole rows, the .npz archives pass their CRC check."""
    spec = _json_object(folder, "spec.json")
    if spec.get("run_id") != folder.name or metrics.get("run_id") != folder.name:
        raise _fail(folder, "spec.json", "its run_id is not the folder's name")
    for name in ("provenance.json", "timing.json"):
        _json_object(folder, name)
    _check_history(folder, metrics.get("epochs_run"))
    names = ["arrays.npz"] + (["epochs.npz"] if spec.get("method") == "ste" else [])
    for name in names:
        try:
            with zipfile.ZipFile(folder / name) as archive:
                broken = archive.testzip()
        except FileNotFoundError:
            raise _fail(folder, name, "missing") from None
        except (zipfile.BadZipFile, OSError, EOFError):
            raise _fail(folder, name, "not a whole .npz archive") from None
        if broken is not None:
            raise _fail(folder, name, f"damaged member {broken}")


def _json_object(folder: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads((folder / name).read_bytes())
    except FileNotFoundError:
        raise _fail(folder, name, "missing") from None
    except (ValueError, OSError):
        raise _fail(folder, name, "not valid JSON") from None
    if not isinstance(data, dict):
        raise _fail(folder, name, "not a JSON object")
    return data


def _check_history(folder: Path, epochs_run: Any) -> None:
    path = folder / "history.csv"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise _fail(folder, "history.csv", "missing") from None
    except (UnicodeDecodeError, OSError):
        raise _fail(folder, "history.csv", "unreadable") from None
    rows = list(csv.reader(text.splitlines()))
    whole = text.endswith("\n") and rows and all(len(row) == len(rows[0]) for row in rows)
    if not whole or len(rows) - 1 != epochs_run:
        raise _fail(folder, "history.csv", f"{len(rows) - 1} rows, not the {epochs_run} epochs run")


def stamp(folder: str | Path) -> dict[str, Any]:
    """Verify the folder and, if it has no record yet, add one to metrics.json (keeping the
    file's modification time, so the workflow sees nothing new); returns the metrics."""
    folder = Path(folder)
    metrics = verify(folder)
    if RECORD not in metrics:
        path = folder / METRICS_FILE
        times = path.stat()
        atomic.write_json(path, {**metrics, RECORD: record(folder, metrics)})
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    return metrics


def admit(folder: str | Path) -> str | None:
    """For the workflow before it plans: stamp a finished folder, or reject a damaged one by
    renaming its metrics.json (the run is then unfinished and retrained); returns the one line
    saying why, or None. A folder without metrics.json is left as it is."""
    folder = Path(folder)
    if not (folder / METRICS_FILE).exists():
        return None
    try:
        stamp(folder)
    except RunFolderError as err:
        os.replace(folder / METRICS_FILE, folder / (METRICS_FILE + REJECTED_SUFFIX))
        return str(err)
    return None


def refuse_another_run(out: str | Path, run_id: str) -> None:
    """Refuse `out` when its spec.json names another run id (or cannot be read), so one run
    never silently replaces another's folder; a folder of the same run, or none, is fine."""
    written = Path(out) / "spec.json"
    if not written.is_file():
        return
    try:
        found = json.loads(written.read_text()).get("run_id")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != run_id:
        raise ConfigError(
            f"--out {out} holds another run ({found or 'unreadable spec.json'}, not {run_id}); "
            "choose another folder or add --replace"
        )


@contextmanager
def staging(out: str | Path) -> Iterator[Path]:
    """A new, empty sibling folder to write a run into; swapped in as `out` when the block
    ends without error, removed otherwise (Ctrl-C too), so `out` is never half rewritten."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(out)
    temporary = _sibling(out, ".new")
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _swap(temporary, out)


def _sibling(out: Path, suffix: str) -> Path:
    """A new hidden folder beside `out`, named with this process's id (so that a later run can
    tell a killed process's leftovers from a live writer's) and made as any new folder is (the
    umask's permissions, not tempfile's owner-only ones: a results folder others read)."""
    while True:
        path = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def _remove_orphans(out: Path) -> None:
    """Remove the staging folders of `out` whose process no longer runs: a SIGKILL (a cancelled
    cluster job, the OOM killer) skips `staging`'s cleanup, and such a folder never holds a
    finished run. One whose process still runs is another writer's and stays (a writer on
    another machine of a shared file system is not seen; the workflow never runs two jobs that
    write one run folder)."""
    prefix = f".{out.name}."
    for path in out.parent.iterdir():
        pid = path.name.removeprefix(prefix).split(".")[0]
        if path.name.startswith(prefix) and path.name.endswith(".new") and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(path, ignore_errors=True)
            except PermissionError:  # another user's live process
                pass


def _swap(new: Path, out: Path) -> None:
    """Move `new` to `out`; a previous `out` is moved aside first and deleted after."""
    if not out.exists():
        os.replace(new, out)
        return
    old = _sibling(out, ".old")
    os.replace(out, old / out.name)
    try:
        os.replace(new, out)
    except BaseException:
        os.replace(old / out.name, out)
        raise
    shutil.rmtree(old)
