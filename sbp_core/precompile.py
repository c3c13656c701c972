"""The pipeline's compilation before its first job: `sbp-bench compile` once per change of the
compiled sources or of what it compiles (workflow/rules/train.smk, onstart)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sbp_core.atomic import write_text
from sbp_core.errors import SbpBenchError
from sbp_core.jit import sources_fingerprint


def compile_once(command: list[str], stamp: Path, log: Path, *settings: str) -> bool:
    """Run `command` (`sbp-bench compile ...`), single-threaded, unless `stamp` starts with the
    fingerprint of today's sources and `settings`; then write that fingerprint and what the
    command printed to `stamp`, its errors to `log`. Returns whether it compiled; a failure
    raises SbpBenchError naming the log, and leaves the stamp as it was."""
    fingerprint = sources_fingerprint(*settings)
    if stamp.is_file() and stamp.read_text().split("\n", 1)[0] == fingerprint:
        return False
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as errors:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=errors, text=True,
            env={**os.environ, "NUMBA_NUM_THREADS": "1"},
        )  # fmt: skip
    if done.returncode != 0:
        raise SbpBenchError(f"compiling the kernels failed (exit {done.returncode}): see {log}")
    write_text(stamp, f"{fingerprint}\n{done.stdout}")
    return True
