"""Every command in the README's code blocks runs in a test: the quick ones here, as written, in a
scratch folder; the others where a test or CI job runs them (RUN_ELSEWHERE names the file and
what in it runs the command). Every `sbp-bench` command also parses with the real command line,
so a renamed option fails here first. The README stays short and links into docs/."""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sbp_core.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent

RUN_HERE = (
    "sbp-bench train --method sbp --dataset digits --device epiram --epochs 5 --out runs/sbp0",
    "sbp-bench train --help",
    "sbp-bench fit-device examples/crosssim/curves.csv --out devices/crosssim.yaml",
    "sbp-bench fit-device export.tsv --out devices/mine.yaml",
)
"""Commands (their start) this test runs itself, as the README writes them."""
RUN_ELSEWHERE = {
    "make run": (".github/workflows/ci.yml", "- run: make run"),
    "make test": (".ci/run", "make test"),
    "make paper": (".github/workflows/paper.yml", "make paper"),
    "make lint": (".github/workflows/ci.yml", "ruff format --check"),
    "make docs": ("tests/test_docs.py", "def test_the_documentation_site_builds_with_strict"),
    "snakemake --workflow-profile workflow/profiles/default --configfile config/paper.yaml -n": (
        "tests/test_pipeline.py",
        "def test_paper_profile_dry_run_prints_the_job_count",
    ),
    "snakemake --workflow-profile workflow/profiles/default --cores 8 --configfile "
    "config/paper.yaml --config mnist_dir=": (
        "tests/test_pipeline.py",
        "def test_local_mnist_dir_skips_the_download_and_names_its_data",
    ),
    "mlflow server --backend-store-uri postgresql+psycopg://": (
        "tests/test_cluster.py",
        "def test_log_runs_through_a_tracking_server_on_postgresql_stores_every_run_once",
    ),
    "snakemake --workflow-profile workflow/profiles/slurm --configfile config/paper.yaml": (
        "tests/test_cluster.py",
        "def test_pipeline_on_slurm_matches_a_local_run_and_loses_nothing_to_a_cancelled_job",
    ),
    "mlflow ui --backend-store-uri sqlite:///results/default/mlflow.db": (
        "tests/test_mlflow_ui.py",
        "services.mlflow_ui(",
    ),
    "sbp-bench compare": ("tests/test_compare.py", '"compare", "--device"'),
}
"""README command (its start) -> (file that runs it, what in that file runs it)."""


def readme_commands() -> list[str]:
    """The commands of the README's `sh` blocks: continuation lines joined, comments dropped,
    `.venv/bin/` left off."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                words[0] = words[0].removeprefix(".venv/bin/")
                commands.append(shlex.join(words))
    return commands


def words_of(command: str) -> list[str]:
    return shlex.split(command)


def runs_here(command: str) -> bool:
    return any(words_of(command)[: len(words_of(s))] == words_of(s) for s in RUN_HERE)


def runs_elsewhere(command: str) -> str | None:
    return next((start for start in RUN_ELSEWHERE if command.startswith(start)), None)


def test_the_readme_is_short_and_links_to_pages_that_exist():
    assert len(README.splitlines()) < 250
    links = re.findall(r"\]\(((?:docs|config)/[^)#]+)", README)
    assert "docs/method.md" in links and "docs/cost_model.md" in links
    for link in links:
        assert (ROOT / link).is_file(), link


def test_every_readme_command_is_run_by_a_test():
    commands = readme_commands()
    assert len(commands) > 10
    for command in commands:
        start = runs_elsewhere(command)
        assert runs_here(command) or start, f"no test runs the README's {command!r}"
        if start and not runs_here(command):
            path, marker = RUN_ELSEWHERE[start]
            assert marker in (ROOT / path).read_text(), (command, path)


def _commands() -> set[str]:
    """The subcommands `sbp-bench` has."""
    (subparsers,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("sbp-bench")])
def test_every_sbp_bench_command_of_the_readme_parses(command):
    argv = words_of(command)[1:]
    assert argv[0] in _commands(), command
    if "--help" in argv:
        return  # run below
    _parser().parse_args(argv)


def _export(curves: Path, export: Path) -> None:
    """examples/curves.csv as the README's probe-station export: its own column names,
    direction labels and microsiemens."""
    with curves.open() as source, export.open("w", newline="") as target:
        writer = csv.writer(target, delimiter="\t")
        writer.writerow(["device", "cycle", "Polarity", "Pulse #", "G (uS)"])
        for row in csv.DictReader(source):
            label = {"set": "Positive", "reset": "Negative"}[row["direction"]]
            siemens = float(row["conductance_S"])
            writer.writerow([row["device"], row["cycle"], label, row["pulse"], siemens * 1e6])


@pytest.mark.parametrize("command", [c for c in readme_commands() if runs_here(c)])
def test_the_quick_readme_commands_run_as_written(command, tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    _export(tmp_path / "examples" / "curves.csv", tmp_path / "export.tsv")
    words = words_of(command)
    result = subprocess.run(
        [str(BIN / words[0]), *words[1:]], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for out in re.findall(r"--out (\S+)", command):
        assert (tmp_path / out).exists(), out
