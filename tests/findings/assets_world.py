"""Workspaces for the asset, role and inspection rules: crane STS03 of the example port.

``write_sts03`` builds a small capture frame by frame (hosts at the addresses ``examples/port``
declares for STS03, untagged like the testbed's captures). What it holds:

- the CMS polls the PLC over S7 (both declared);
- an undeclared laptop writes a PLC variable and stops the CPU over S7;
- a hidden Teltonika router (a MAC of Teltonika's OUI that is not the walk-down's) asks DHCP
  with host name RUT955 and vendor class Teltonika-RUT955, takes 10.20.3.201, asks the
  terminal DNS for rms.teltonika-networks.com, sends UDP to 203.0.113.7:1194 (OpenVPN's port,
  outside the port) and leaks a carrier-grade NAT address 100.70.1.2;
- the declared switch-router and an undeclared box (10.20.3.240) both offer DHCP leases, the
  box naming itself gateway and DNS server;
- an undeclared industrial PC joins the server zone and the crane LAN: it sends from its own
  10.20.3.99 and forwards the historian's (10.10.0.20) OPC UA connection to the PLC;
- the PLC sends a datagram to 10.20.3.77, a device that never sends anything itself;
- a second Teltonika device (10.20.3.202) sends one datagram to the PLC: only its maker shows;
- the declared remote-maintenance gateway (``STS03/ra-gateway``) sends one datagram to the CMS;
- the declared CMS asks the terminal DNS for a TeamViewer name;
- an undeclared host of the server zone (10.10.0.99) sends to the PLC through the crane router.

``open_world`` ingests captures into a workspace with the example port and its inspection
evidence imported and links the devices of terminal T1, as ``cranewatch analyze`` will. The
module-scoped fixtures ``world`` (the STS03 capture) and ``synth`` (the synthetic capture) give
the analysis context over such a workspace to the test modules that import them. The S7 PDUs
come from ``s7_pdus``.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.capture_builder import (
    ACK,
    BROADCAST,
    ETH_ARP,
    ETH_IPV4,
    PSH,
    SYN,
    arp_request,
    ether,
    ip,
    ipv4,
    mac,
    pcap,
    tcp,
    udp,
)
from tests.findings.s7_pdus import PLC_STOP, READ_JOB, SETUP, WRITE_ACK, WRITE_JOB

from cranewatch.findings.context import AnalysisContext, ApprovedBaseline
from cranewatch.findings.model import Indicator, IndicatorPack, Rule, RulePack
from cranewatch.fleet._yaml_lines import read_yaml
from cranewatch.fleet.evidence import read_evidence
from cranewatch.fleet.linking import link_report, observed_devices
from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Port
from cranewatch.ingest import ingest_paths
from cranewatch.store.query import connect
from cranewatch.store.registry import Registry
from cranewatch.store.registry.url import registry_url
from cranewatch.store.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PORT = ROOT / "examples" / "port"
PACKS = ROOT / "src" / "cranewatch" / "findings" / "packs"

ROUTER = ("00:80:63:67:52:99", "10.20.3.1")  # STS03/switch (declared router)
CMS = ("18:66:da:01:cf:42", "10.20.3.10")
PLC = ("28:63:36:20:a9:b8", "10.20.3.20")
LAPTOP = ("54:ee:75:3a:91:0c", "10.20.3.150")
MODEM = ("00:1e:42:11:22:33", "10.20.3.201")
MODEM_CGNAT = "100.70.1.2"
ROGUE = ("b8:27:eb:5d:20:41", "10.20.3.240")
BRIDGE = ("00:d0:c9:7e:11:58", "10.20.3.99")
HISTORIAN_IP = "10.10.0.20"
SILENT = ("02:aa:bb:cc:dd:01", "10.20.3.77")
QUIET_TELTONIKA = ("00:1e:42:99:99:01", "10.20.3.202")
RA_GATEWAY = ("00:03:27:c9:00:29", "10.20.3.250")  # STS03/ra-gateway (declared remote-access)
BEHIND_ROUTER = "10.10.0.99"  # an undeclared server-zone host, seen behind the crane router
CLIENT_MAC = "02:00:00:00:00:42"
START = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
T0 = int(START.timestamp()) * 10**9
MS = 10**6

Frames = list[tuple[int, bytes]]


def _ip_frame(src: tuple[str, str], dst: tuple[str, str], proto: int, payload: bytes) -> bytes:
    return ether(dst[0], src[0], ETH_IPV4, ipv4(src[1], dst[1], proto, payload))


def tcp_exchange(
    t: int,
    client: tuple[str, str],
    server: tuple[str, str],
    sport: int,
    dport: int,
    messages: list[tuple[bool, bytes]],
) -> Frames:
    """A TCP connection: handshake, then each (from_client, payload) in turn."""
    seq = {True: 1000, False: 5000}
    out: Frames = []

    def send(from_client: bool, flags: int, data: bytes = b"") -> None:
        src, dst = (client, server) if from_client else (server, client)
        ports = (sport, dport) if from_client else (dport, sport)
        seg = tcp(*ports, flags, data, seq=seq[from_client], ack=seq[not from_client])
        seq[from_client] += len(data) + (1 if flags & SYN else 0)
        out.append((t + len(out) * MS, _ip_frame(src, dst, 6, seg)))

    send(True, SYN)
    send(False, SYN | ACK)
    send(True, ACK)
    for from_client, data in messages:
        send(from_client, PSH | ACK, data)
    return out


def s7(t: int, client: tuple[str, str], sport: int, *jobs: str) -> Frames:
    talk = list(SETUP)
    for job in jobs:
        talk.append((True, job))
        if job == WRITE_JOB:
            talk.append((False, WRITE_ACK))
    return tcp_exchange(t, client, PLC, sport, 102, [(c, bytes.fromhex(p)) for c, p in talk])


def dhcp(op: int, xid: int, client: str, yiaddr: str, options: list[tuple[int, bytes]]) -> bytes:
    """A BOOTP/DHCP message (RFC 2131) with the given options."""
    head = struct.pack("!BBBBIHH", op, 1, 6, 0, xid, 0, 0)
    addrs = ip("0.0.0.0") + ip(yiaddr) + ip("0.0.0.0") + ip("0.0.0.0")
    body = head + addrs + mac(client) + bytes(10) + bytes(64 + 128) + b"\x63\x82\x53\x63"
    for code, value in options:
        body += bytes([code, len(value)]) + value
    return body + b"\xff"


def dns_query(qid: int, name: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


def _udp(
    t: int, src: tuple[str, str], dst: tuple[str, str], sport: int, dport: int, data: bytes
) -> tuple[int, bytes]:
    return t, _ip_frame(src, dst, 17, udp(sport, dport, data))


def _offer(t: int, server: tuple[str, str], router: str, dns: str, xid: int) -> tuple[int, bytes]:
    options = [
        (53, b"\x02"),
        (54, ip(server[1])),
        (1, ip("255.255.255.0")),
        (3, ip(router)),
        (6, ip(dns)),
        (51, struct.pack("!I", 3600)),
    ]
    payload = dhcp(2, xid, CLIENT_MAC, "10.20.3.180", options)
    return _udp(t, server, (CLIENT_MAC, "255.255.255.255"), 67, 68, payload)


def write_sts03(path: Path) -> Path:
    outside = ROUTER[0]
    frames: Frames = []
    frames += s7(T0, CMS, 50100, READ_JOB, READ_JOB)
    frames += s7(T0 + 2_000 * MS, LAPTOP, 50200, WRITE_JOB, PLC_STOP)
    # the hidden router: DHCP with its names, DNS for its cloud, OpenVPN out, a CGNAT address
    discover = dhcp(
        1, 0x5A5A, MODEM[0], "0.0.0.0", [(53, b"\x01"), (12, b"RUT955"), (60, b"Teltonika-RUT955")]
    )
    frames.append(
        _udp(
            T0 + 4_000 * MS, (MODEM[0], "0.0.0.0"), (BROADCAST, "255.255.255.255"), 68, 67, discover
        )
    )
    frames.append(
        _udp(
            T0 + 4_100 * MS,
            MODEM,
            (outside, "10.10.0.53"),
            40001,
            53,
            dns_query(7, "rms.teltonika-networks.com"),
        )
    )
    for k in range(3):
        at = T0 + (4_200 + 500 * k) * MS
        frames.append(_udp(at, MODEM, (outside, "203.0.113.7"), 40002, 1194, b"\x38" + bytes(40)))
        frames.append(_udp(at + MS, (outside, "203.0.113.7"), MODEM, 1194, 40002, bytes(60)))
    frames.append(
        _udp(
            T0 + 5_800 * MS,
            (MODEM[0], MODEM_CGNAT),
            (outside, "100.64.0.1"),
            40003,
            53,
            dns_query(8, "example.net"),
        )
    )
    # two DHCP servers: the declared switch-router and an undeclared box
    frames.append(_offer(T0 + 6_000 * MS, ROUTER, ROUTER[1], "10.10.0.53", 0x1111))
    frames.append(_offer(T0 + 6_010 * MS, ROGUE, ROGUE[1], ROGUE[1], 0x1111))
    # the bridge: its own address on the crane LAN, and the historian's connection to the PLC
    arp = arp_request(BRIDGE[0], BRIDGE[1], PLC[1])
    frames.append((T0 + 7_000 * MS, ether(BROADCAST, BRIDGE[0], ETH_ARP, arp)))
    frames.append(_udp(T0 + 7_001 * MS, BRIDGE, PLC, 5353, 5353, b"hello"))
    frames += tcp_exchange(
        T0 + 7_100 * MS,
        (BRIDGE[0], HISTORIAN_IP),
        PLC,
        50700,
        4840,
        [(True, b"HELF" + bytes(28)), (False, b"ACKF" + bytes(24))],
    )
    # a device that only receives; a device whose maker is all that shows; declared ones
    frames.append(_udp(T0 + 8_000 * MS, PLC, SILENT, 2000, 2000, b"status"))
    frames.append(_udp(T0 + 8_100 * MS, QUIET_TELTONIKA, PLC, 3000, 3000, b"ping"))
    frames.append(_udp(T0 + 8_200 * MS, RA_GATEWAY, CMS, 4000, 4000, b"sync"))
    frames.append(
        _udp(
            T0 + 8_300 * MS,
            CMS,
            (outside, "10.10.0.53"),
            40100,
            53,
            dns_query(9, "router4.teamviewer.com"),
        )
    )
    frames.append(_udp(T0 + 8_400 * MS, (outside, BEHIND_ROUTER), PLC, 5000, 5000, b"poll"))
    path.write_bytes(pcap(sorted(frames), nanos=True))
    return path


def write_more_modem(path: Path) -> Path:
    """A later capture: the same hidden router, more traffic to its cloud."""
    frames = [
        _udp(
            T0 + 3_600_000 * MS + k * 1_000 * MS,
            MODEM,
            (ROUTER[0], "203.0.113.7"),
            40010 + k,
            1194,
            b"\x38" + bytes(40),
        )
        for k in range(5)
    ]
    path.write_bytes(pcap(frames, nanos=True))
    return path


# --------------------------------------------------------------------------- contexts


def core_indicators() -> list[Indicator]:
    found, problems = read_yaml(PACKS / "indicators-core.yaml", "indicators-core.yaml")
    assert found is not None and not problems, problems
    return IndicatorPack.model_validate(found.data).indicators


def assets_pack() -> RulePack:
    found, problems = read_yaml(PACKS / "rules-assets.yaml", "rules-assets.yaml")
    assert found is not None and not problems, problems
    return RulePack.model_validate(found.data)


@functools.cache
def example_port() -> Port:
    """The example port, read once per test session (reading its YAML takes seconds)."""
    return load_port(EXAMPLE_PORT)


def open_world(root: Path, *captures: Path, evidence: bool = True) -> tuple[Workspace, Registry]:
    """Captures ingested, the example port (and its evidence) imported, T1's devices linked."""
    ws = Workspace.open(root / "ws", create=True)
    report = ingest_paths(ws, list(captures))
    assert not report.failed, report.failed
    registry = Registry.open(registry_url(ws.root, None))
    port = example_port()
    registry.save_port(port, source="examples/port", actor="tester")
    if evidence:
        registry.save_evidence(read_evidence(EXAMPLE_PORT / "evidence"), source="ex", actor="t")
    registry.save_links(link_report(port, observed_devices(ws), site="T1").links, site="T1")
    return ws, registry


def context(
    ws: Workspace, registry: Registry, approved: ApprovedBaseline | None = None
) -> AnalysisContext:
    """A context as the engine builds it: a connection with every view, site T1."""
    port = registry.load_port()
    assert port is not None
    return AnalysisContext(
        ws=ws,
        con=connect(ws, registry.tables()),
        port=port,
        links=registry.load_links(),
        evidence=registry.load_evidence(),
        indicators=core_indicators(),
        approved=approved,
        site="T1",
    )


def rule_of(pack: RulePack, rule_id: str, **params: object) -> Rule:
    """The pack's rule, with some params replaced."""
    found = next(r for r in pack.rules if r.id == rule_id)
    return found.model_copy(update={"params": {**found.params, **params}})


def _contexts(ws: Workspace, registry: Registry) -> Iterator[AnalysisContext]:
    ctx = context(ws, registry)
    yield ctx
    ctx.con.close()
    registry.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisContext]:
    """A context over the hand-built STS03 capture (``write_sts03``), one per test module."""
    root = tmp_path_factory.mktemp("assets-world")
    yield from _contexts(*open_world(root, write_sts03(root / "sts03.pcap")))


@pytest.fixture(scope="module")
def synth(
    tmp_path_factory: pytest.TempPathFactory, synth_capture: Path
) -> Iterator[AnalysisContext]:
    """A context over the synthetic capture, one per test module."""
    yield from _contexts(*open_world(tmp_path_factory.mktemp("assets-synth"), synth_capture))
