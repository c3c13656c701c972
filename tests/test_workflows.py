"""The GitHub Actions workflows pass actionlint, and actionlint does reject a broken one."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, files)], capture_output=True, text=True
    )


def test_the_workflow_files_pass_actionlint():
    files = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "paper.yml"]
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_names_the_file_and_line_of_a_mistake(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "paper.yml"
    broken.parent.mkdir(parents=True)
    shutil.copy(ROOT / ".github" / "workflows" / "paper.yml", broken)
    text = broken.read_text()
    line = text[: text.index("timeout-minutes: 355")].count("\n") + 1
    broken.write_text(text.replace("timeout-minutes: 355", "timeout-minutes: six hours", 1))
    result = actionlint(broken)
    assert result.returncode == 1
    assert f"paper.yml:{line}:" in result.stdout
