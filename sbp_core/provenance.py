"""The code version behind a result: `git describe` of the checkout sbp_core is imported from.

Every run folder records it (provenance.json; metrics.json stays a function of the spec alone) and
MLflow tags it, so each number can be traced to a commit and to whether the tree was dirty.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

PROVENANCE_FILE = "provenance.json"
UNKNOWN = "unknown"
"""The version outside a git checkout (an installed package) or without git."""


def code_version() -> str:
    """`git describe --always --dirty --abbrev=40` in the package's folder, else "unknown"."""
    command = ["git", "describe", "--always", "--dirty", "--abbrev=40"]
    try:
        result = subprocess.run(
            command, cwd=Path(__file__).parent, capture_output=True, text=True, check=False
        )
    except OSError:  # no git on this machine
        return UNKNOWN
    version = result.stdout.strip()
    return version if result.returncode == 0 and version else UNKNOWN


def record() -> dict[str, Any]:
    """What provenance.json holds: the version, its commit and whether the tree was dirty."""
    version = code_version()
    dirty = None if version == UNKNOWN else version.endswith("-dirty")
    return {"code_version": version, "git_commit": version.removesuffix("-dirty"), "dirty": dirty}
