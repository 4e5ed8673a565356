"""What the real stacks put on the wire decodes cleanly in tshark: S7comm, Modbus, OPC UA, TLS, SSH.

One capture on ``lo`` (tshark) records every server program talking to its clients on high
ports: the CMS poller, an engineering-station script with every S7 action (SZL reads, write,
stop, OB1 and DB12 downloads, upload, restarts) and a Modbus write, the OPC UA client, TLS
heartbeats and a tunnel, and an SSH session. The issue's bar is that tshark decodes S7comm,
Modbus and OPC UA with no malformed packet; the tests also check that each decodes as the
operation the program's event claims.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import missing, require_tool
from tests.testbed._hostprocs import (
    HostProc,
    TsharkCapture,
    capture_refusal,
    free_port,
    tshark_lines,
)

SERVERS = ("s7_plc", "modbus_io", "opcua_cms", "tls_server", "ssh_server")


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    tshark = require_tool("tshark")
    if (refusal := capture_refusal(tshark)) is not None:
        missing(refusal)
    folder = tmp_path_factory.mktemp("wire")
    events, pcap = folder / "events.jsonl", folder / "lo.pcap"
    ports = {name: free_port() for name in SERVERS}
    local = {"bind": "127.0.0.1"}
    servers = [
        HostProc(name, {**local, "port": ports[name]}, events, host=name) for name in SERVERS
    ]
    try:
        for server in servers:
            server.wait_ready()
        capture_filter = " or ".join(f"tcp port {p}" for p in ports.values())
        with TsharkCapture(tshark, pcap, capture_filter):
            s7, mb = ports["s7_plc"], ports["modbus_io"]
            actions = [
                {"at_s": 0, "do": "read_szl", "szl_id": "0x001C"},
                {"at_s": 0, "do": "read_szl", "szl_id": "0x0011"},
                {"at_s": 0, "do": "read_szl", "szl_id": "0x0424"},
                {"at_s": 0, "do": "db_read", "db": 1, "start": 0, "size": 64},
                {"at_s": 0, "do": "db_write", "db": 12, "start": 4, "hex": "40800000"},
                {"at_s": 0, "do": "plc_stop"},
                {"at_s": 0, "do": "download", "block": "OB1", "size": 900},
                {"at_s": 0, "do": "download", "block": "DB12", "size": 32},
                {"at_s": 0, "do": "upload", "block": "DB1"},
                {"at_s": 0, "do": "plc_hot_start"},
                {"at_s": 0, "do": "plc_cold_start"},
                {"at_s": 0, "do": "modbus_write", "port": mb, "register": 101, "values": [900]},
                {"at_s": 0, "do": "modbus_write", "port": mb, "register": 2, "values": [1, 2]},
            ]
            url = f"opc.tcp://127.0.0.1:{ports['opcua_cms']}/cranewatch/cms/"
            tls = {"address": "127.0.0.1", "port": ports["tls_server"], "interval_s": 0.1}
            clients = [
                ("cms_poller", {"plc": "127.0.0.1", "plc_port": s7, "drives": [f"127.0.0.1:{mb}"],
                                "interval_s": 0.1, "count": 3}),
                ("eng_station", {"target": "127.0.0.1", "port": s7, "actions": actions,
                                 "linger_s": 0}),
                ("opcua_client", {"url": url, "interval_s": 0.1, "count": 2}),
                ("tls_client", {**tls, "server_name": "rms.teltonika-networks.com", "count": 1}),
                ("tls_client", {**tls, "server_name": "tunnel.vendor.example", "count": 2,
                                "persistent": True}),
                ("ssh_client", {"target": "127.0.0.1", "port": ports["ssh_server"],
                                "duration_s": 1.0, "commands": ["uname -a"]}),
            ]  # fmt: skip
            running = [HostProc(p, c, events, host=f"{p}{i}") for i, (p, c) in enumerate(clients)]
            for client in running:
                assert client.wait() == 0, client.stderr()
                client.close()
        decode = [
            "-d", f"tcp.port=={ports['s7_plc']},tpkt",
            "-o", f"mbtcp.tcp.port:{ports['modbus_io']}",
            "-d", f"tcp.port=={ports['opcua_cms']},opcua",
            "-d", f"tcp.port=={ports['tls_server']},tls",
            "-d", f"tcp.port=={ports['ssh_server']},ssh",
        ]  # fmt: skip
        yield tshark, pcap, decode
    finally:
        for server in servers:
            server.close()


def _fields(wire: tuple[str, Path, list[str]], display: str, *fields: str) -> list[str]:
    tshark, pcap, decode = wire
    args = ["-Y", display, "-T", "fields", *(a for f in fields for a in ("-e", f))]
    return tshark_lines(tshark, pcap, decode, *args)


def test_no_packet_is_malformed(wire: tuple[str, Path, list[str]]) -> None:
    tshark, pcap, decode = wire
    assert (
        tshark_lines(tshark, pcap, decode, "-Y", "_ws.malformed || _ws.expert.severity == error")
        == []
    )
    protocols = " ".join(tshark_lines(tshark, pcap, decode, "-q", "-z", "io,phs"))
    for name in ("s7comm", "mbtcp", "opcua", "tls", "ssh"):
        assert name in protocols


def test_s7comm_shows_every_scripted_operation(wire: tuple[str, Path, list[str]]) -> None:
    functions = {int(v, 16) for v in _fields(wire, "s7comm.param.func", "s7comm.param.func")}
    # read, write, request download, download block, download ended, start upload, upload,
    # end upload, PI service (start), PLC stop, setup communication
    assert {0x04, 0x05, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x28, 0x29, 0xF0} <= functions
    szl = {
        v.lower()
        for v in _fields(wire, "s7comm.data.userdata.szl_id", "s7comm.data.userdata.szl_id")
    }
    assert {"0x001c", "0x0011", "0x0424"} <= szl
    files = set(_fields(wire, "s7comm.param.func == 0x1a", "s7comm.param.blockcontrol.filename"))
    assert files == {"_0800001P", "_0A00012P"}  # OB1 and DB12 (Wireshark's "08" / "0A")
    fields = (
        "s7comm.szl.xy11.0001.anz",
        "s7comm.szl.001c.0001.name",
        "s7comm.szl.001c.0005.serialn",
    )
    identity = " ".join(_fields(wire, "s7comm.data.userdata.szl_id", *fields))
    assert "6ES7 315-2EH14-0AB0" in identity and "STS04-PLC" in identity and "S C-H4T" in identity
    modes = _fields(wire, "s7comm.szl.0424.0000.bzu_id", "s7comm.szl.0424.0000.bzu_id.req")
    assert modes == ["0x08"]  # RUN: the script reads the mode before it stops the CPU


def test_modbus_shows_reads_writes_and_the_refusal(wire: tuple[str, Path, list[str]]) -> None:
    codes = set(_fields(wire, "modbus", "modbus.func_code"))
    assert {"3", "6", "16"} <= codes
    assert _fields(wire, "modbus.exception_code", "modbus.exception_code") == ["2"]


def test_opcua_shows_a_session_and_reads(wire: tuple[str, Path, list[str]]) -> None:
    tshark, pcap, decode = wire
    text = "\n".join(tshark_lines(tshark, pcap, decode, "-Y", "opcua"))
    for service in ("Hello", "CreateSessionRequest", "ActivateSessionRequest", "ReadRequest",
                    "ReadResponse", "TranslateBrowsePathsToNodeIdsRequest"):  # fmt: skip
        assert service in text


def test_tls_carries_the_cloud_names_as_sni(wire: tuple[str, Path, list[str]]) -> None:
    names = set(_fields(wire, "tls.handshake.type == 1", "tls.handshake.extensions_server_name"))
    assert names == {"rms.teltonika-networks.com", "tunnel.vendor.example"}


def test_ssh_banners_are_the_configured_versions(wire: tuple[str, Path, list[str]]) -> None:
    banners = set(_fields(wire, "ssh.protocol", "ssh.protocol"))
    assert banners == {"SSH-2.0-OpenSSH_8.4p1", "SSH-2.0-OpenSSH_for_Windows_8.1"}
