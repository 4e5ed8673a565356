"""An analysed workspace for the report tests: the demo's job (example port, evidence, the
bundled testbed captures and a small synthetic capture, analysis) run once per test session."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from cranewatch import demo

REPORT_TEST_PACKETS = 30_000


@pytest.fixture(scope="session")
def analysed_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the example port, its evidence and an analysis with findings."""
    root = tmp_path_factory.mktemp("report") / "ws"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "DEMO_PACKETS", REPORT_TEST_PACKETS)
        demo.run(root, Console(file=io.StringIO(), width=200))
    return root
