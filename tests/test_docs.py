"""The documentation site (mkdocs.yml, docs/) builds with --strict, as `make docs` builds it:
every page in the nav, no broken link between pages, the API reference rendered from the
docstrings by mkdocstrings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def build(project: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the project's mkdocs.yml into `site`, as `make docs` runs it."""
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=project, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip


def test_the_documentation_site_builds_with_strict(tmp_path):
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "energy_per_sample_" in api and "network_cost" in api  # docstrings rendered
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    built = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert pages - {"index"} <= built  # every page of docs/ is on the site


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The check can fail: the same site with one page linking to a page that does not exist."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "index.md").write_text((docs / "index.md").read_text() + "\n[gone](no_such_page.md)\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(config)
    result = build(tmp_path, tmp_path / "site")
    assert result.returncode != 0 and "no_such_page.md" in result.stderr
