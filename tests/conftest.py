"""Shared fixtures and the skip policy for tests that need system parts.

Tests that need a system tool (tshark, root for network namespaces, PostgreSQL, Chromium) call
``require_tool`` / ``require_root``. On a user's machine without them the test is skipped with the
reason; under CI (``CRANEWATCH_REQUIRE_SYSTEM=1``, set by ``.ci/run``) the same situation fails
the test, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines"

pytest_plugins = [
    "tests.registry_fixtures",  # registry_url, registry: SQLite and PostgreSQL
    "tests.analysed_fixtures",  # analysed_workspace: the demo's job, run once per session
]

REQUIRE_SYSTEM = os.environ.get("CRANEWATCH_REQUIRE_SYSTEM", "") not in ("", "0", "false")


def missing(reason: str) -> None:
    """Skip on a user's machine, fail under CI where every system part must be present."""
    if REQUIRE_SYSTEM:
        pytest.fail(f"{reason} (CRANEWATCH_REQUIRE_SYSTEM is set, so this is a failure)")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Path of a system tool, or skip/fail with a clear reason when it is not installed."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (Debian: apt-get install {name})")
    assert path is not None
    return path


def require_module(name: str) -> None:
    """Skip (fail under CI) when an optional Python package is not installed."""
    import importlib.util

    if importlib.util.find_spec(name) is None:
        missing(f"the Python package {name} is not installed (pip install -e '.[test]')")


def require_root() -> None:
    if os.geteuid() != 0:
        missing("needs root (network namespaces)")


@pytest.fixture
def tshark() -> str:
    return require_tool("tshark")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh, empty workspace folder for one test."""
    return tmp_path / "ws"


def shared_capture(name: str) -> Path:
    """A capture from tests/captures (copied from ../shared/captures with its MANIFEST line)."""
    path = CAPTURES / name
    assert path.exists(), (
        f"{path} is missing: copy it from ../shared/captures with its MANIFEST line"
    )
    return path


@pytest.fixture(scope="session")
def synth_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000-frame synthetic crane-network capture (seed 1), written once per session and
    shared by the protocol tests that compare against it."""
    from cranewatch.testbed.synth import write_synthetic_capture

    path = tmp_path_factory.mktemp("synth") / "synth-20k.pcap"
    write_synthetic_capture(path, 20_000, seed=1)
    return path
