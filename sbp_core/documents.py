"""Reading the project's JSON and YAML files with one-line errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sbp_core.errors import ConfigError, SbpBenchError

YAML_SUFFIXES = (".yaml", ".yml")
"""Suffixes (in any case) read as YAML; a .json file is read as JSON; any other file as JSON if
it parses as JSON, else as YAML."""


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping: PyYAML keeps the last
    value silently (a sweep or `epochs` written twice would lose the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key]} and {line})"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """YAML text parsed safely, duplicate keys refused (yaml.YAMLError)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)


def read_document(path: str | Path, missing: str, error: type[SbpBenchError] = ConfigError) -> Any:
    """Parsed content of a JSON or YAML file; `missing` says what an absent file means."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise error(f"{path}: unreadable ({err.strerror})") from None
    suffix = path.suffix.lower()
    if suffix not in YAML_SUFFIXES:
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except (json.JSONDecodeError, ValueError) as err:
            if suffix == ".json":
                raise error(f"{path}: not valid JSON ({_json_reason(err)})") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({_yaml_reason(err)})") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json keeps the last silently)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"key {key!r} given twice")
        data[key] = value
    return data


def _json_reason(err: ValueError) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg}, line {err.lineno}"
    return str(err)


def _yaml_reason(err: yaml.YAMLError) -> str:
    """The first line of a YAML error, with the line it points at."""
    reason = str(err).splitlines()[0]
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if problem and mark is not None:
        reason = f"{problem}, line {mark.line + 1}"
    return reason
