"""The analysed workspace shared by the report, STIX and resilience tests: the demo's job
(example port, evidence, the bundled testbed captures and a small synthetic capture, analysis)
run once per test session. A plugin of the root conftest, so one instance serves every folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from cranewatch import demo

ANALYSED_TEST_PACKETS = 30_000


@pytest.fixture(scope="session")
def analysed_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the example port, its evidence and an analysis with findings."""
    root = tmp_path_factory.mktemp("analysed") / "ws"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "DEMO_PACKETS", ANALYSED_TEST_PACKETS)
        demo.run(root, Console(file=io.StringIO(), width=200))
    return root
