"""The benchmark suite's own modules, for tests that check its logic without timing anything.

``benchmarks/`` is a folder of scripts, not a package: ``run.py`` imports its helpers as
``_tools``, ``_captures`` and so on. The fixtures import them the same way, so a test that
patches ``_tools`` patches what ``run.py`` uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

import pytest
from tests.conftest import TESTS

BENCHMARKS = TESTS.parent / "benchmarks"


def _import_benchmarks(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.append(str(BENCHMARKS))
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def bench_tools() -> ModuleType:
    """``benchmarks/_tools.py``: the compared tools and their command lines."""
    return _import_benchmarks("_tools")


@pytest.fixture(scope="session")
def bench_run() -> ModuleType:
    """``benchmarks/run.py``, imported under the name ``bench_run`` (it runs nothing on import)."""
    _import_benchmarks("_tools")
    if "bench_run" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_run", BENCHMARKS / "run.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_run"] = module  # its dataclasses look their module up while defined
        spec.loader.exec_module(module)
    return sys.modules["bench_run"]
