"""Fixtures of the resilience tests: the example port, small hand-made ports, scenario files.

``analysed_workspace`` (the demo's job run once per session: example port, evidence,
captures, analysis) comes from tests/analysed_fixtures.py, a plugin of the root conftest.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_PORT = EXAMPLES / "port"


@pytest.fixture(scope="session")
def example_port() -> Port:
    return load_port(EXAMPLE_PORT)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def two_crane_port(folder: Path) -> Path:
    """One terminal T1, one berth B1 for up to 2 cranes, quay cranes C1 and C2 at 30 moves/h."""
    return write(
        folder / "port.yaml",
        """
        id: tiny
        name: Tiny Port
        terminals:
          - id: T1
            name: Only Terminal
            berths:
              - {id: B1, max_cranes: 2}
            cranes:
              - {id: C1, type: STS, manufacturer: Maker A, model: Q1, berth: B1, moves_per_hour: 30}
              - {id: C2, type: STS, manufacturer: Maker B, model: Q2, berth: B1, moves_per_hour: 30}
        """,
    )
