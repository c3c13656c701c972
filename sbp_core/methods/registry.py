"""Every learning rule, found by its `METHOD` record: the only list of methods there is.

Each module on the methods package's search path that defines a module-level `METHOD` (a
`base.Method`) is a rule, so adding a rule is adding its module (docs/adding_a_rule.md). The
lists other modules use (the spec's choices and fields, the crossbar and depth-compiled methods,
the cost designs and figure styles) are derived here or from RULES.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from sbp_core.errors import ConfigError
from sbp_core.methods.base import Method


def _discover() -> dict[str, Method]:
    """Import every module of the package (in name order) and keep the records they declare.

    The package's search path is read from the already imported package rather than by
    importing it here, which would make the package and this module import each other.
    """
    package = sys.modules[__package__]
    rules: dict[str, Method] = {}
    for found in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__package__}.{found.name}")
        record = getattr(module, "METHOD", None)
        if not isinstance(record, Method):
            continue
        if record.name in rules:
            raise ConfigError(
                f"{module.__name__}: method {record.name!r} is already declared by "
                f"{rules[record.name].learner.__module__}"
            )
        rules[record.name] = record
    return rules


RULES: dict[str, Method] = _discover()
"""Method name -> its record, in the order of the modules' names."""
CROSSBAR_METHODS = tuple(name for name, rule in RULES.items() if rule.counts_pulses)
"""Methods whose weights live in a crossbar and which therefore count pulses."""
DEPTH_COMPILED = tuple(name for name, rule in RULES.items() if rule.depth_compiled)
"""Methods whose compiled epoch is specialised to the number of layers (a tuple of crossbars)."""


def learner_class(method: str) -> type:
    """The learner class of `method`."""
    return RULES[method].learner
