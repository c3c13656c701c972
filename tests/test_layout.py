"""The package's layering, read from its own import statements: no cycles, each room its job."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sbp_core"


def imports_by_module() -> dict[str, set[str]]:
    """Module -> every module it imports (top-level or inside a function), sbp_core or not.

    `from a import b` counts as importing `a.b` when b is a module, else `a`. A package's
    __init__ importing its own submodules is left out (that is not a cycle at run time).
    """
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in paths else node.module)
        if path.name == "__init__.py":
            found = {name for name in found if not name.startswith(module + ".")}
        graph[module] = found - {module}
    return graph


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


GRAPH = imports_by_module()


def internal(module: str) -> set[str]:
    return {name for name in GRAPH[module] if name.split(".")[0] == "sbp_core"}


DEVICE_MODULES = tuple(
    module for module in GRAPH if module == "sbp_core.chip.curve" or ".chip.kinds" in module
) + ("sbp_core.chip.device",)
"""The device modules: the curve, the kinds (each a module of sbp_core.chip.kinds), device files."""


def test_the_import_graph_has_no_cycle():
    sorter = graphlib.TopologicalSorter({module: internal(module) for module in GRAPH})
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_pulse_engine_is_the_bottom_of_the_graph():
    assert internal("sbp_core.jit") == set()
    assert internal("sbp_core.chip.engine") == {"sbp_core.jit"}
    below_the_learners = ("sbp_core.chip.engine", "sbp_core.chip.crossbar", *DEVICE_MODULES)
    for module in below_the_learners:
        assert not any(name.startswith("sbp_core.methods") for name in internal(module)), module


def test_tracking_logs_and_draws_nothing_itself():
    assert not any(
        name.split(".")[0] in ("matplotlib", "seaborn") for name in GRAPH["sbp_core.tracking"]
    )


@pytest.mark.parametrize(
    "module", ["sbp_core.spec", "sbp_core.chip.crossbar", "sbp_core.train", *DEVICE_MODULES]
)
def test_training_never_loads_the_report_stack(module):
    """A train job imports neither pandas nor plotting nor MLflow (seconds per job)."""
    heavy = {"pandas", "matplotlib", "seaborn", "mlflow"}
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen or current not in GRAPH:
            continue
        seen.add(current)
        assert not {name.split(".")[0] for name in GRAPH[current]} & heavy, current
        todo += internal(current)
