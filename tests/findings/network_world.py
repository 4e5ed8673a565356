"""A capture of crane STS03 of the example port, built frame by frame, for the network rules.

The hosts take the addresses the example port (``examples/port``) declares, so its conduits and
agreements apply. It starts on Tuesday 2026-03-03 at 10:00 in Amsterdam (09:00 UTC), inside the
weekday window of the crane maker's VPN agreement ``ecw-vendor-vpn`` and outside the Saturday
window of the drive maker's jump-host agreement ``drive-vendor-jump``. What it holds:

- the CMS polls the PLC over S7 (declared by conduit ``cms-plc-s7``);
- an undeclared laptop writes a PLC variable and stops the CPU over S7;
- the vendor VPN gateway (``T1/vpn-gw``) reads the PLC over S7 (agreement ``ecw-vendor-vpn``);
- the jump host (``T1/jump-host``) opens SSH to the hoist drive (agreement ``drive-vendor-jump``,
  but on a Tuesday);
- an undeclared box contacts 203.0.113.50:8443 every 30 s (a beacon), 203.0.113.60:8080 at
  irregular times, keeps an SSH session to 198.51.100.99 alive every 10 s and, during it,
  reads the PLC over S7;
- the CMS sends telemetry to 198.51.100.80:443 every 30 s (conduit ``vendor-telemetry``);
- the HMI connects to the terminal's TOS server on TCP 1433 (between zones, no conduit);
- housekeeping: a DHCP discover, a datagram to the servers zone's directed broadcast address
  and a multicast datagram.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from tests.capture_builder import ACK, ETH_IPV4, FIN, PSH, SYN, ether, ipv4, pcap, tcp, udp
from tests.findings.s7_pdus import PLC_STOP, READ_JOB, SETUP, WRITE_ACK, WRITE_JOB

from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import Indicator, Rule, RulePack
from cranewatch.fleet.linking import link_report, observed_devices
from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import AssetLink, Evidence, Port
from cranewatch.ingest import ingest_paths
from cranewatch.store.query import connect
from cranewatch.store.registry import Registry
from cranewatch.store.registry.url import registry_url
from cranewatch.store.workspace import Workspace

EXAMPLE_PORT = Path(__file__).resolve().parents[2] / "examples" / "port"
ROUTER = "00:80:63:67:52:99"  # STS03/switch: frames from outside the crane LAN carry its MAC
CMS = ("18:66:da:01:cf:42", "10.20.3.10")
PLC = ("28:63:36:20:a9:b8", "10.20.3.20")
HOIST = ("00:1c:01:81:34:7b", "10.20.3.31")
HMI = ("28:63:36:d3:b1:7d", "10.20.3.60")
LAPTOP = ("54:ee:75:3a:91:0c", "10.20.3.150")
BOX = ("00:1e:42:00:00:c9", "10.20.3.201")
VPN_GW = (ROUTER, "10.10.9.10")
JUMP = (ROUTER, "10.10.9.20")
TOS = (ROUTER, "10.10.0.30")
BEACON, IRREGULAR, SSH_OUT = "203.0.113.50", "203.0.113.60", "198.51.100.99"
TELEMETRY = "198.51.100.80"
START = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
T0 = int(START.timestamp()) * 10**9
S = 10**9


class Conversation:
    """One TCP connection between two (MAC, IP) hosts, segment by segment."""

    def __init__(self, client: tuple[str, str], server: tuple[str, str], port: int, sport: int):
        self.client, self.server, self.port, self.sport = client, server, port, sport
        self.seq = {True: 1000, False: 5000}
        self.frames: list[tuple[int, bytes]] = []

    def _frame(self, t: int, from_client: bool, flags: int, data: bytes = b"") -> None:
        (smac, sip), (dmac, dip) = (
            (self.client, self.server) if from_client else (self.server, self.client)
        )
        sport, dport = (self.sport, self.port) if from_client else (self.port, self.sport)
        seg = tcp(
            sport, dport, flags, data, seq=self.seq[from_client], ack=self.seq[not from_client]
        )
        self.seq[from_client] += len(data) + (1 if flags & (SYN | FIN) else 0)
        self.frames.append((t, ether(dmac, smac, ETH_IPV4, ipv4(sip, dip, 6, seg))))

    def open(self, t: int) -> int:
        self._frame(t, True, SYN)
        self._frame(t + 1_000_000, False, SYN | ACK)
        self._frame(t + 2_000_000, True, ACK)
        return t + 3_000_000

    def send(self, t: int, from_client: bool, data: bytes) -> int:
        self._frame(t, from_client, PSH | ACK, data)
        return t + 1_000_000

    def close(self, t: int) -> int:
        self._frame(t, True, FIN | ACK)
        self._frame(t + 1_000_000, False, FIN | ACK)
        self._frame(t + 2_000_000, True, ACK)
        return t + 3_000_000


def s7_session(t: int, client: tuple[str, str], sport: int, *jobs: str) -> list[tuple[int, bytes]]:
    c = Conversation(client, PLC, 102, sport)
    t = c.open(t)
    for from_client, pdu in SETUP:
        t = c.send(t, from_client, bytes.fromhex(pdu))
    for job in jobs:
        t = c.send(t + 50_000_000, True, bytes.fromhex(job))
        if job == WRITE_JOB:
            t = c.send(t, False, bytes.fromhex(WRITE_ACK))
    return c.frames


def ssh_session(
    t: int, client: tuple[str, str], server: tuple[str, str], sport: int, beats: int, every_s: int
) -> list[tuple[int, bytes]]:
    c = Conversation(client, server, 22, sport)
    t = c.open(t)
    t = c.send(t, False, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    t = c.send(t, True, b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n")
    for k in range(beats):
        at = t + k * every_s * S
        c.send(at, True, bytes(48))
        c.send(at + 2_000_000, False, bytes(48))
    return c.frames


def short_connection(
    t: int, client: tuple[str, str], server: tuple[str, str], port: int, sport: int
) -> list[tuple[int, bytes]]:
    c = Conversation(client, server, port, sport)
    t = c.open(t)
    t = c.send(t, True, b"\x17\x03\x03\x00\x20" + bytes(32))
    t = c.send(t, False, b"\x17\x03\x03\x00\x20" + bytes(32))
    c.close(t)
    return c.frames


def datagram(
    t: int, src: tuple[str, str], dst: tuple[str, str], sport: int, dport: int
) -> tuple[int, bytes]:
    return t, ether(
        dst[0], src[0], ETH_IPV4, ipv4(src[1], dst[1], 17, udp(sport, dport, b"x" * 40))
    )


def write_capture(path: Path) -> Path:
    outside = ROUTER
    frames: list[tuple[int, bytes]] = []
    frames += s7_session(T0, CMS, 50100, READ_JOB, READ_JOB)
    frames += s7_session(T0 + 2 * S, LAPTOP, 50200, WRITE_JOB, PLC_STOP)
    frames += s7_session(T0 + 4 * S, VPN_GW, 50300, READ_JOB)
    frames += ssh_session(T0 + 6 * S, JUMP, HOIST, 50400, beats=2, every_s=1)
    frames += ssh_session(T0 + 8 * S, BOX, (outside, SSH_OUT), 50500, beats=8, every_s=10)
    frames += s7_session(T0 + 30 * S, BOX, 50600, READ_JOB)  # during the box's SSH session
    for k in range(6):
        frames += short_connection(T0 + (10 + 30 * k) * S, BOX, (outside, BEACON), 8443, 51000 + k)
        frames += short_connection(
            T0 + (12 + 30 * k) * S, CMS, (outside, TELEMETRY), 443, 52000 + k
        )
    for k, at in enumerate([0, 2, 40, 45, 130, 131.5]):
        frames += short_connection(
            T0 + int((11 + at) * S), BOX, (outside, IRREGULAR), 8080, 53000 + k
        )
    frames += short_connection(T0 + 20 * S, HMI, TOS, 1433, 54000)
    frames.append(
        datagram(T0 + 21 * S, (BOX[0], "0.0.0.0"), ("ff:ff:ff:ff:ff:ff", "255.255.255.255"), 68, 67)
    )
    frames.append(datagram(T0 + 22 * S, HMI, (ROUTER, "10.10.0.255"), 9999, 9999))
    frames.append(datagram(T0 + 23 * S, HMI, ("01:00:5e:01:01:01", "239.1.1.1"), 5000, 5000))
    path.write_bytes(pcap(sorted(frames), nanos=True))
    return path


# --------------------------------------------------------------------------- contexts


@dataclass
class World:
    """A workspace with the example port imported and linked, and what checks read of it."""

    ws: Workspace
    registry: Registry
    port: Port
    tables: dict[str, pa.Table]
    links: list[AssetLink]
    evidence: Evidence


def open_world(root: Path, capture: Path) -> World:
    """``capture`` ingested into a workspace with the example port imported and linked."""
    ws = Workspace.open(root / "ws", create=True)
    report = ingest_paths(ws, [capture])
    assert not report.failed, report.failed
    registry = Registry.open(registry_url(ws.root, None))
    port = load_port(EXAMPLE_PORT)
    registry.save_port(port, source="examples/port", actor="tester")
    registry.save_links(link_report(port, observed_devices(ws), site="T1").links, site="T1")
    stored = registry.load_port()
    assert stored is not None
    return World(
        ws, registry, stored, registry.tables(), registry.load_links(), registry.load_evidence()
    )


def context(
    world: World, port: Port | None = None, indicators: list[Indicator] | None = None
) -> AnalysisContext:
    """A fresh analysis context (``port`` replaces the registry's, e.g. with other windows)."""
    return AnalysisContext(
        world.ws,
        connect(world.ws, world.tables),
        port or world.port,
        world.links,
        world.evidence,
        indicators or [],
        None,
        "T1",
    )


PACK = RulePack(pack="test-network", version="1", attack_version="ATT&CK for ICS v15", rules=[])


def rule(rule_id: str, check: str, severity: str = "high", **params: object) -> Rule:
    return Rule(
        id=rule_id,
        version=1,
        title=rule_id,
        description="d",
        severity=severity,
        techniques=["T0886"],
        rationale="r",
        check=check,
        params=dict(params),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("network-world")
    return open_world(root, write_capture(root / "sts03.pcap"))


@pytest.fixture(scope="module")
def synth_world(tmp_path_factory: pytest.TempPathFactory, synth_capture: Path) -> World:
    return open_world(tmp_path_factory.mktemp("network-synth"), synth_capture)
