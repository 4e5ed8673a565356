"""The indicators section keeps values naming the port's own equipment from partners.

Runs on the analysed demo workspace (tests/report/conftest.py): the example port and the
findings of the bundled captures, with one finding's indicator hits replaced.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cranewatch.report._index import build_index
from cranewatch.report._indicators import indicators_section
from cranewatch.report.marking import Tlp
from cranewatch.report.model import tables_of
from cranewatch.report.sources import Sources, read_sources
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace


@pytest.fixture(scope="module")
def sources(analysed_workspace: Path) -> Sources:
    ws = Workspace.open(analysed_workspace)
    with Registry.open(registry_url(ws.root, None)) as registry:
        return read_sources(ws, registry)


def _marking_of(src: Sources, value: str) -> Tlp:
    (table,) = tables_of(indicators_section(build_index(src)).blocks)
    (found,) = [r for r in table.rows if r.cells["value"].value == value]
    return found.tlp


def test_a_name_holding_a_crane_id_in_another_case_is_amber_strict(sources: Sources) -> None:
    base = next(s for s in sources.findings if s.finding.details.get("indicators"))
    crane = sorted(c.id for _, c in sources.port.cranes())[0]
    assert crane != crane.lower()  # the example port's ids are upper case ("STS01")
    name = f"{crane.lower()}.modem-cloud.example"
    hit = {"id": "test-hit", "kind": "dns-name", "value": name}
    details = {**base.finding.details, "indicators": [hit]}
    changed = dataclasses.replace(
        base, finding=base.finding.model_copy(update={"details": details})
    )
    src = dataclasses.replace(sources, findings=[changed])
    assert _marking_of(src, name) is Tlp.AMBER_STRICT  # a partner (TLP:AMBER) never gets it
