"""Reading the project's JSON and YAML files with one-line errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sbp_core.errors import ConfigError, SbpBenchError


def read_document(path: str | Path, missing: str, error: type[SbpBenchError] = ConfigError) -> Any:
    """Parsed content of a .json, .yaml or .yml file; `missing` says what an absent file means."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise error(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
