"""The package's layering, read from its own import statements: no cycles, each room its job."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sbp_core"


def imports_by_module() -> dict[str, set[str]]:
    """Module -> every module it imports (top-level or inside a function), sbp_core or not.

    `from a import b` counts as importing `a.b` when b is a module, else `a`. A package's
    __init__ importing its own submodules is left out (that is not a cycle at run time), and so
    are imports for type checkers only (`if TYPE_CHECKING:`). The rule registry imports every
    module of the methods package by name (a rule is its module alone): those edges are added.
    """
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        found = set()
        tree = ast.parse(path.read_text())
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in paths else node.module)
        if path.name == "__init__.py":
            found = {name for name in found if not name.startswith(module + ".")}
        graph[module] = found - {module}
    graph[REGISTRY] |= {name for name in paths if name.startswith("sbp_core.methods.")}
    graph[REGISTRY] -= {REGISTRY}
    return graph


REGISTRY = "sbp_core.methods.registry"


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


def test_the_spec_sits_above_the_rules_and_the_chip_below_them():
    """RunSpec is assembled from the rules' records, so nothing a rule imports may import it."""
    assert REGISTRY in internal("sbp_core.spec")
    below_the_spec = set()
    todo = [REGISTRY]
    while todo:
        current = todo.pop()
        if current not in below_the_spec:
            below_the_spec.add(current)
            todo += internal(current)
    assert "sbp_core.spec" not in below_the_spec
    assert {"sbp_core.methods.sbp", "sbp_core.chip.device", "sbp_core.fields"} <= below_the_spec


def test_a_train_job_loads_no_report_stack_at_run_time():
    """The registry imports every rule by name, which the static graph above only models: import
    `sbp_core.train` for real and look."""
    heavy = ("pandas", "matplotlib", "seaborn", "mlflow")
    code = f"import sys, sbp_core.train; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


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
