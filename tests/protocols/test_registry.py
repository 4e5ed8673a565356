"""The analyzer registry: built-ins, plugins through entry points, and what a broken plugin does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cranewatch.protocols import registry
from cranewatch.protocols._base import DatagramAnalyzer, StreamAnalyzer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocols"


def test_every_builtin_module_gives_analyzers_on_the_contract() -> None:
    analyzers = registry.builtin_analyzers()
    assert {a.name for a in analyzers} == set(registry.BUILTIN_MODULES)
    for a in analyzers:
        assert isinstance(a, StreamAnalyzer) != isinstance(a, DatagramAnalyzer), a.name
        assert a.status in ("stable", "beta")
        assert a.description.strip()
        assert all(isinstance(p, int) and 0 < p < 65536 for p in a.ports)
    keys = [(a.name, registry.transport_of(a)) for a in analyzers]
    assert len(keys) == len(set(keys)), "one analyzer per name and transport"


def test_every_builtin_analyzer_is_documented() -> None:
    for name in registry.BUILTIN_MODULES:
        page = DOCS / f"{name}.md"
        assert page.exists(), f"docs/protocols/{name}.md is missing"


def test_transports() -> None:
    by = {(a.name, registry.transport_of(a)) for a in registry.builtin_analyzers()}
    assert {("dnp3", "tcp"), ("dnp3", "udp"), ("goose", "ethernet"), ("modbus", "tcp")} <= by


def test_disabling_by_name() -> None:
    reg = registry.Registry(registry.builtin_analyzers())
    left = reg.enabled(["modbus", "dnp3"])
    assert not {"modbus", "dnp3"} & {a.name for a in left}
    assert len(left) == len(reg.analyzers) - 3  # dnp3 has a TCP and a UDP analyzer
    with pytest.raises(ValueError, match="unknown analyzer"):
        reg.enabled(["nosuch"])


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """A real distribution on sys.path whose entry point names ``target``."""
    pkg = tmp_path / "cw_test_plugin.py"
    pkg.write_text(
        "from cranewatch.protocols.modbus import ANALYZER as _M\n"
        "class Hoist:\n"
        "    name = 'hoist_bus'\n"
        "    description = 'test plugin'\n"
        "    status = 'beta'\n"
        "    ports = (5555,)\n"
        "    def detect(self, client, server, server_port): return 0.0\n"
        "    def pdu_length(self, buf, offset): return -1\n"
        "    def parse(self, pdu, from_client, state): return _M.parse(b'', True, {})\n"
        "ANALYZER = Hoist()\n"
        "def broken(): raise RuntimeError('boom')\n"
        "CLASH = _M\n"
    )
    dist = tmp_path / "cw_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cw-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{target}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cw_test_plugin", raising=False)


def test_a_plugin_analyzer_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, monkeypatch, "hoist = cw_test_plugin:ANALYZER")
    reg = registry.load_registry()
    assert "hoist_bus" in reg.names()
    assert not reg.problems


def test_a_broken_plugin_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, monkeypatch, "broken = cw_test_plugin:broken")
    reg = registry.load_registry()
    assert set(registry.BUILTIN_MODULES) <= set(reg.names())
    assert len(reg.problems) == 1 and "boom" in reg.problems[0]


def test_a_plugin_may_not_replace_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, monkeypatch, "clash = cw_test_plugin:CLASH")
    reg = registry.load_registry()
    assert sum(a.name == "modbus" for a in reg.analyzers) == 1
    assert any("clashes" in p for p in reg.problems)
