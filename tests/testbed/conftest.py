"""Fixtures of the testbed tests: a clean run folder, and proof that a run left nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import require_root, require_tool
from tests.testbed._nets import leftovers, root_links

from cranewatch.testbed import netns

RUN_ID = "c0ffee"


@pytest.fixture
def clean_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Root and tools, a known run id; afterwards: nothing of the run is left anywhere."""
    require_root()
    for tool in ("ip", "nft", "ping"):
        require_tool(tool)
    ids = iter(f"{RUN_ID[:5]}{k}" for k in range(10))
    monkeypatch.setattr(netns, "new_run_id", lambda: next(ids))
    before = root_links()
    out = tmp_path / "run"
    yield out
    for k in range(10):
        assert leftovers(f"{RUN_ID[:5]}{k}", str(out)) == []
    assert root_links() == before
