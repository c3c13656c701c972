"""The pipeline's compilation before its first job (`sbp_core.precompile.compile_once`): once per
change of the compiled sources or of what is compiled, and a failure named in one line."""

from __future__ import annotations

import sys

import pytest

from sbp_core.errors import SbpBenchError
from sbp_core.jit import sources_fingerprint
from sbp_core.precompile import compile_once


def command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_compiles_once_per_fingerprint_and_stamps_what_it_said(tmp_path):
    stamp, log = tmp_path / "compiled_kernels.txt", tmp_path / "logs" / "compile.log"
    said = command("print('compiled the kernels')")
    assert compile_once(said, stamp, log, "1", "neurosim")
    assert stamp.read_text() == f"{sources_fingerprint('1', 'neurosim')}\ncompiled the kernels\n"
    assert not compile_once(command("raise SystemExit(1)"), stamp, log, "1", "neurosim")
    assert compile_once(said, stamp, log, "1,2", "neurosim")  # another depth: compiled again
    assert stamp.read_text().startswith(sources_fingerprint("1,2", "neurosim"))


def test_the_compiler_runs_single_threaded(tmp_path):
    stamp, log = tmp_path / "stamp.txt", tmp_path / "compile.log"
    compile_once(command("import os; print(os.environ['NUMBA_NUM_THREADS'])"), stamp, log, "1")
    assert stamp.read_text().split("\n")[1] == "1"


def test_a_failed_compilation_names_its_log_and_keeps_the_old_stamp(tmp_path):
    stamp, log = tmp_path / "compiled_kernels.txt", tmp_path / "compile.log"
    stamp.write_text("an older fingerprint\n")
    failing = command("import sys; print('numba failed', file=sys.stderr); sys.exit(3)")
    with pytest.raises(
        SbpBenchError, match=f"^compiling the kernels failed \\(exit 3\\): see {log}$"
    ):
        compile_once(failing, stamp, log, "1")
    assert log.read_text() == "numba failed\n"
    assert stamp.read_text() == "an older fingerprint\n"
