"""The one module that decides how numba compiles cranewatch's kernels.

Every kernel module imports ``njit`` or ``kernel`` from here instead of from numba, so caching,
threading and the cache location are set in one place.

``kernel`` compiles a function without numba's reference counting (the private ``_nrt=False``
flag). Numba increments and decrements an atomic reference count for every array handed to a
function that LLVM does not inline; measured here, that cost 100 ns per packet, four times the
whole decode. Kernels never allocate arrays, so they need no reference counting; functions that
do allocate (table growth) use ``njit``. If a numba release drops the flag, ``kernel`` falls back
to ``njit``: slower, never wrong. numba writes its cache next to the source by default; when the
package directory is read-only (a system install) and ``$HOME`` is unwritable too, importing a
cached kernel raises. We therefore always point ``NUMBA_CACHE_DIR`` at a writable folder before
numba is imported: the user's setting if given, else ``$XDG_CACHE_HOME/cranewatch/numba`` (or
``~/.cache/...``), else a folder under the system temporary directory.

numba's cache only notices changes to the file of the cached function itself, not to the kernels
it calls or inlines, so an upgraded cranewatch could run a stale kernel. The cache therefore
lives in a subfolder named after a digest of every kernel source file (this module, everything
under ``engine/_kernels/`` and every ``*_kernel.py``): any change to any of them gives a fresh
cache. Kernel modules import nothing else from cranewatch, which keeps that list complete.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
import warnings
from pathlib import Path
from types import CodeType
from typing import Any

PACKAGE = Path(__file__).resolve().parent


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def _choose_cache_dir() -> str:
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return configured
    xdg = os.environ.get("XDG_CACHE_HOME") or ""
    candidates = []
    if xdg.strip():
        candidates.append(Path(xdg) / "cranewatch" / "numba")
    candidates.append(Path.home() / ".cache" / "cranewatch" / "numba")
    candidates.append(
        Path(tempfile.gettempdir()) / f"cranewatch-numba-{getattr(os, 'getuid', lambda: 0)()}"
    )
    for candidate in candidates:
        if _writable(candidate):
            return str(candidate)
    return str(candidates[-1])


def _source_digest() -> str:
    digest = hashlib.sha256()
    kernel_sources = {PACKAGE / "_jit.py"}
    kernel_sources.update((PACKAGE / "engine" / "_kernels").glob("*.py"))
    kernel_sources.update(PACKAGE.rglob("*_kernel.py"))
    for path in sorted(kernel_sources):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


os.environ["NUMBA_CACHE_DIR"] = str(Path(_choose_cache_dir()) / _source_digest())

import numba  # noqa: E402  (must follow the cache-directory choice)
from numba.core.errors import NumbaExperimentalFeatureWarning  # noqa: E402

# the stream kernel calls the protocols' compiled tiers as first-class functions (a tuple of
# functions of one signature, see ``protocols/_pdu_kernel.py``); numba marks the feature
# experimental and warns on every load, which would reach the user's terminal. Tests check the
# results of both tiers against each other and against tshark.
warnings.filterwarnings("ignore", category=NumbaExperimentalFeatureWarning)


def njit(*args: Any, **kwargs: Any) -> Any:
    """``numba.njit`` with cranewatch's defaults: cached, GIL released, no Python fallback."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    kwargs.setdefault("boundscheck", False)
    return numba.njit(*args, **kwargs)


def _nrt_flag_supported() -> bool:
    from numba.core.cpu import CPUTargetOptions

    return hasattr(CPUTargetOptions, "_nrt")


_NO_REFCOUNT = {"_nrt": False} if _nrt_flag_supported() else {}


#: code objects of the functions compiled without numba's runtime (``kernel``): loading them
#: from the cache needs no runtime either (see ``_load_cranewatch_kernels_without_refresh``)
_WITHOUT_RUNTIME: set[CodeType] = set()


def kernel(*args: Any, **kwargs: Any) -> Any:
    """``njit`` for per-packet functions that never allocate: no reference counting."""
    if not _NO_REFCOUNT:
        return njit(*args, **kwargs)
    kwargs.update(_NO_REFCOUNT)
    if args and inspect.isfunction(args[0]):  # @kernel
        _WITHOUT_RUNTIME.add(args[0].__code__)
        return njit(*args, **kwargs)
    decorate = njit(*args, **kwargs)  # @kernel(...): a signature or options

    def register(function: Any) -> Any:
        _WITHOUT_RUNTIME.add(function.__code__)  # before numba compiles or loads it
        return decorate(function)

    return register


def _load_cranewatch_kernels_without_refresh() -> None:
    """Load cranewatch's cached kernels without first loading all of numba's implementations.

    Before it reads a cached function, numba refreshes the target context: it imports and
    registers every implementation module it has (array math, linear algebra, random
    generators, typed containers, cffi, ...), about 0.15 s and 10 MiB on every start, more than
    ingesting half a million packets. A cached function is machine code already and needs none
    of them, only the runtime its code may call (``rtsys.initialize``, which compiles the
    runtime's own functions: 25 ms), and a ``kernel`` not even that: it allocates nothing and
    calls no function that does. For functions defined in cranewatch's own package this hook
    skips the refresh; everything else, and every compile (a cache miss), goes numba's normal
    way, which refreshes the context itself. If a numba release renames the parts used here the
    hook is not installed: slower, never wrong.
    """
    from numba.core import caching
    from numba.core.runtime import nrt

    runtime = nrt.rtsys

    cache = caching.Cache
    needed = ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")
    if not all(hasattr(cache, name) for name in needed) or hasattr(cache, "_cranewatch_hook"):
        return
    load_with_refresh: Any = cache.load_overload
    package = str(PACKAGE) + os.sep

    def load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        source = getattr(getattr(self, "_py_func", None), "__code__", None)
        if source is None or not source.co_filename.startswith(package):
            return load_with_refresh(self, sig, target_context)
        if source not in _WITHOUT_RUNTIME:
            runtime.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    setattr(cache, "load_overload", load_overload)  # noqa: B010  (numba's class, patched once)
    setattr(cache, "_cranewatch_hook", True)  # noqa: B010


_load_cranewatch_kernels_without_refresh()


__all__ = ["kernel", "njit"]
