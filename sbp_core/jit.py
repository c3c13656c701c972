"""How sbp_core compiles: numba's njit, cached on disk by the source of what a function calls.

numba keys a cached function by the source of its own file only, so a learning rule's kernel
cached before `chip/engine.py` changed would load again with the old engine compiled into it, or
with old and new pieces mixed (a silent wrong result, seen here). Every function compiled with
`compiled` is therefore cached under a stamp of its own file *and* of `chip/engine.py`, the module
all kernels call, and `methods/sgd_kernel.py`, whose forward pass and errors the ttv2 and
mixed-precision kernels call; a kernel that calls another module must add it to `SHARED_SOURCES`.

A cache index also pickles the types of a function's arguments by module path, so an index written
before a module moved cannot even be read: numba raises ModuleNotFoundError instead of treating it
as stale (seen when the engine moved into `chip/`). The cache files are therefore named by the
package's module layout too, and an index from another layout is never opened.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba import njit
from numba.core import caching

PACKAGE = Path(__file__).resolve().parent
SHARED_SOURCES = (PACKAGE / "chip" / "engine.py", PACKAGE / "methods" / "sgd_kernel.py")
"""Modules whose compiled functions other files call: part of every cached function's stamp."""


def _shared_stamp() -> str:
    digest = hashlib.sha256()
    for path in SHARED_SOURCES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def layout_tag(modules: list[str]) -> str:
    """A short name for a module layout (the package's module paths, in any order)."""
    return hashlib.sha256("\n".join(sorted(modules)).encode()).hexdigest()[:8]


@functools.cache
def _layout() -> str:
    return layout_tag([path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")])


class _StampsSharedSources:
    """Mixin for numba's cache locators: only sbp_core's files, with the shared sources stamped
    and the module layout in the cache files' names."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not Path(py_file).resolve().is_relative_to(PACKAGE):
            return None  # another package's function: numba's own locators handle it
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return super().get_source_stamp(), _shared_stamp()

    def get_disambiguator(self):
        return f"{super().get_disambiguator()}-{_layout()}"


class _UserDirLocator(_StampsSharedSources, caching.UserProvidedCacheLocator):
    """NUMBA_CACHE_DIR, when set."""


class _InTreeLocator(_StampsSharedSources, caching.InTreeCacheLocator):
    """__pycache__ beside the source, otherwise."""


class _UserWideLocator(_StampsSharedSources, caching.UserWideCacheLocator):
    """The user's cache folder, where the package's own folder is not writable."""


# numba (>= 0.68, where CacheImpl is public) picks the first locator that accepts a function;
# ours come first, for sbp_core only
for _locator in (_UserWideLocator, _InTreeLocator, _UserDirLocator):
    if _locator not in caching.CacheImpl._locator_classes:
        caching.CacheImpl._locator_classes.insert(0, _locator)


def compiled_sources() -> list[Path]:
    """The modules whose functions are compiled (they use `compiled`), and this one."""
    users = [path for path in sorted(PACKAGE.rglob("*.py")) if "@compiled" in path.read_text()]
    return [*users, Path(__file__).resolve()]


def sources_fingerprint(*settings: str) -> str:
    """sha256 of the compiled sources' bytes and `settings` (what a compilation covers, e.g. the
    network depths and device kinds): the pipeline compiles its kernels again when it changes."""
    digest = hashlib.sha256()
    for path in compiled_sources():
        digest.update(path.read_bytes())
    digest.update("\n".join(settings).encode())
    return digest.hexdigest()


def compiled(function):
    """numba's njit with the on-disk cache above, releasing the GIL."""
    return njit(cache=True, nogil=True)(function)
