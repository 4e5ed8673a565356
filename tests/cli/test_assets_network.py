"""``cranewatch assets show`` on network captures: roles, names and sessions of one device.

The expected rows come from the tables (``cranewatch query``) and from Zeek's logs of the same
captures, so the test checks that the command shows what the workspace knows, no more, no less.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.test_analyzers_cli import rich_tables, sections
from tests.cli.test_analyzers_cli import wide_console as wide_console  # autouse fixture
from tests.conftest import shared_capture
from tests.runners import query_json, run_cli

DHCP = "dhcp_all_message_types.pcap"
SSH = "ssh_multiple_sessions.pcap"
TLS = "tls_sni_with_extensions.pcap"
ZEEK_DHCP = shared_capture("zeek-baseline") / "dhcp" / "dhcp_all_message_types" / "dhcp.log"


def zeek_column(path: Path, column: str) -> list[str]:
    lines = path.read_text().splitlines()
    (fields,) = [line.split("\t")[1:] for line in lines if line.startswith("#fields")]
    at = fields.index(column)
    return [line.split("\t")[at] for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("network") / "ws"
    res = run_cli("-w", root, "ingest", *(shared_capture(c) for c in (DHCP, SSH, TLS)))
    assert res.code == 0, res.output
    yield root


def test_the_dhcp_server_shows_its_role_and_what_it_offered(ws: Path) -> None:
    servers = {a for a in zeek_column(ZEEK_DHCP, "server_addr") if a != "-"}
    assert len(servers) == 1
    (server,) = servers
    res = run_cli("-w", ws, "assets", "show", server)
    assert res.code == 0, res.output
    (roles,) = rich_tables(sections(res.out)["roles on the network"])
    assert {r["role"] for r in roles} == {"dhcp_server"}
    assert all("dhcp" in r["basis"] for r in roles)
    offered = query_json(
        ws, f"SELECT DISTINCT value FROM identities WHERE ip = '{server}' "
        "AND attribute = 'offered_router'"
    )  # fmt: skip
    assert offered, "the server offers a router in this capture"
    (gateway,) = {o["value"] for o in offered}
    res = run_cli("-w", ws, "assets", "show", gateway)
    # the offered router sent nothing in the capture: no device row, a clear error
    assert res.code == 1 and "no device" in res.err


def test_the_dhcp_client_announces_its_host_name(ws: Path) -> None:
    macs = set(zeek_column(ZEEK_DHCP, "mac"))
    (mac,) = macs
    hosts = {h for h in zeek_column(ZEEK_DHCP, "host_name") if h != "-"}
    res = run_cli("-w", ws, "assets", "show", mac)
    assert res.code == 0, res.output
    parts = sections(res.out)
    (identity,) = rich_tables(parts["identity (what the device says about itself)"])
    assert hosts <= {r["value"] for r in identity if r["attribute"] == "hostname"}
    (names,) = rich_tables(parts["names (asked, resolved, connected to, announced)"])
    assert hosts <= {r["name"] for r in names if r["action"] == "announced"}


def test_an_ssh_client_lists_its_sessions(ws: Path) -> None:
    expected = query_json(
        ws,
        "SELECT server_ip, count(*) AS n FROM sessions WHERE protocol = 'ssh' "
        "AND client_ip = '192.168.1.32' GROUP BY server_ip ORDER BY server_ip",
    )
    assert sum(e["n"] for e in expected) >= 5
    res = run_cli("-w", ws, "assets", "show", "192.168.1.32")
    assert res.code == 0, res.output
    (shown,) = rich_tables(sections(res.out)["remote-access and tunnel sessions"])
    ssh = [r for r in shown if r["protocol"] == "ssh" and r["side"] == "client"]
    got: dict[str, int] = {}
    for r in ssh:
        got[r["peer"]] = got.get(r["peer"], 0) + 1
    assert got == {e["server_ip"]: e["n"] for e in expected}
    assert {r["kind"] for r in ssh} == {"remote_access"}


def test_a_tls_client_connected_to_its_sni(ws: Path) -> None:
    expected = query_json(
        ws, "SELECT DISTINCT ip, name FROM names WHERE protocol = 'tls' AND action = 'connected'"
    )
    (client,) = {e["ip"] for e in expected}
    res = run_cli("-w", ws, "assets", "show", client)
    assert res.code == 0, res.output
    (names,) = rich_tables(sections(res.out)["names (asked, resolved, connected to, announced)"])
    assert {(r["name"], r["action"], r["protocol"]) for r in names} >= {
        (e["name"], "connected", "tls") for e in expected
    }
