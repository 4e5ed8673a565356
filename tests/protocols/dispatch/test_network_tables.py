"""The dispatcher's network contract and the tables derived per capture: ``names``, ``sessions``
and ``roles``.

Small test analyzers stand for the real ones so each rule is checked in isolation: a TCP
"tunnel" that says ``stop`` after its handshake, a UDP resolver that emits names, an analyzer
reached only by IP protocol number, and one that announces roles and ARP claims. Captures are
built frame by frame, so every expected value (bytes, intervals, addresses) is known exactly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from tests.capture_builder import (
    ACK,
    ETH_ARP,
    ETH_IPV4,
    PSH,
    SYN,
    Packet,
    ether,
    gtpu,
    ipv4,
    pcap,
    tcp,
    udp,
    vlan_tag,
)
from tests.protocols.dispatch.conftest import mbap, write_single
from tests.runners import plain_rows

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_file
from cranewatch.protocols import modbus
from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult
from cranewatch.protocols.dispatch.sessions import FOLLOW_WINDOW_S, periodicity
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

T0 = 1_750_000_000 * 1_000_000_000
S = 1_000_000_000
MAC = {
    "client": "02:00:00:00:00:01",
    "server": "02:00:00:00:00:02",
    "plc": "02:00:00:00:00:03",
    "router": "02:00:00:00:00:04",
    "other": "02:00:00:00:00:05",
}


# ------------------------------------------------------------------------------ test analyzers


class ToyTunnel:
    """TCP: 2-byte length framing; the client's first PDU starts with TOYV. Says ``stop`` with
    ``encrypted`` at its second PDU, so later PDUs must never reach it."""

    name = "toyvpn"
    description = "test tunnel"
    status = "beta"
    ports = (7777,)
    session_kind = "tunnel"

    def __init__(self) -> None:
        self.parsed: list[bytes] = []

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        return 0.95 if client[2:6] == b"TOYV" else 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        if len(buf) - offset < 2:
            return 0
        return 2 + int.from_bytes(buf[offset : offset + 2], "big")

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        self.parsed.append(pdu)
        state["n"] = state.get("n", 0) + 1
        op = Operation(self.name, state["n"], f"msg_{state['n']}", "request")
        if state["n"] == 1:
            return ParseResult(
                [op],
                [IdentityFact(self.name, "software", "toyvpn 1.0", source="toy banner")],
                names=[NameFact(self.name, "VPN.Example.NET.", "connected")],
            )
        return ParseResult([op], error="encrypted", stop=True)


def toy_pdu(body: bytes) -> bytes:
    return struct.pack("!H", len(body)) + body


class ToyResolver:
    """UDP 53: "Q name" asks, "A name addr,addr" answers (about the receiver)."""

    name = "toydns"
    description = "test resolver"
    status = "beta"
    ports = (53,)
    ethertypes = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return 0.95 if payload[:2] in (b"Q ", b"A ") else 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        parts = payload.decode().split(" ")
        if parts[0] == "Q":
            return ParseResult(names=[NameFact(self.name, parts[1], "asked", "A")])
        addresses = tuple(parts[2].split(",")) if len(parts) > 2 else ()
        return ParseResult(
            names=[NameFact(self.name, parts[1], "resolved", "A", addresses, about="receiver")],
            identities=[IdentityFact(self.name, "role", "dns_server", source="toy answer")],
        )


class ToyIpProto:
    """Reached only by IP protocol 50 (no ports): takes every payload it is offered."""

    name = "toyesp"
    description = "test IP-protocol analyzer"
    status = "beta"
    ports = ()
    ethertypes = ()
    ip_protocols = (50,)
    session_kind = "tunnel"

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return 0.8

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        spi = int.from_bytes(payload[:4], "big")
        return ParseResult([Operation(self.name, 0, "packet", "request", target=f"spi={spi:x}")])


class ToyArp:
    """EtherType 0x0806: the sender claims its address (protocol ``arp`` like the real one)."""

    name = "arp"
    description = "test ARP"
    status = "beta"
    ports = ()
    ethertypes = (ETH_ARP,)

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return 0.95 if len(payload) >= 28 else 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        ip = ".".join(str(b) for b in payload[14:18])
        return ParseResult(identities=[IdentityFact("arp", "ip_address", ip, source="arp reply")])


# ------------------------------------------------------------------------------ frames


@dataclass
class Wire:
    """Frames in capture order, with a clock."""

    packets: list[Packet]

    def __init__(self) -> None:
        self.packets = []

    def ip(self, t: int, src: str, dst: str, proto: int, payload: bytes, smac: str, dmac: str,
           vlan: int | None = None) -> int:  # fmt: skip
        tags = [vlan_tag(vlan)] if vlan is not None else []
        frame = ether(dmac, smac, ETH_IPV4, ipv4(src, dst, proto, payload), tags=tags)
        self.packets.append(Packet(t, frame))
        return len(self.packets)

    def arp_reply(self, t: int, mac: str, ip: str) -> None:
        mac_b = bytes.fromhex(mac.replace(":", ""))
        ip_b = bytes(int(x) for x in ip.split("."))
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + mac_b + ip_b + bytes(6) + bytes(4)
        self.packets.append(Packet(t, ether("ff:ff:ff:ff:ff:ff", mac, ETH_ARP, body)))


class Tcp:
    """One TCP connection written into a :class:`Wire`."""

    def __init__(self, wire: Wire, client: tuple[str, str, int], server: tuple[str, str, int]):
        self.wire, self.client, self.server = wire, client, server
        self.seq = [1000, 900_000]

    def _send(self, t: int, side: int, flags: int, payload: bytes) -> int:
        (sip, smac, sport), (dip, dmac, dport) = (
            (self.client, self.server) if side == 0 else (self.server, self.client)
        )
        segment = tcp(sport, dport, flags, payload, seq=self.seq[side], ack=self.seq[1 - side])
        self.seq[side] += len(payload) + (1 if flags & SYN else 0)
        return self.wire.ip(t, sip, dip, 6, segment, smac, dmac)

    def open(self, t: int) -> None:
        self._send(t, 0, SYN, b"")
        self._send(t + 1000, 1, SYN | ACK, b"")
        self._send(t + 2000, 0, ACK, b"")

    def send(self, t: int, side: int, payload: bytes) -> int:
        return self._send(t, side, PSH | ACK, payload)


def ingest(tmp_path: Path, wire: Wire, analyzers: list[Any]) -> Workspace:
    path = tmp_path / "capture.pcap"
    path.write_bytes(pcap(sorted(wire.packets, key=lambda p: p.ts_ns)))
    ws = Workspace.open(tmp_path / "ws", create=True)
    outcome = ingest_file(ws, path, EngineOptions(), analyzers=analyzers)
    assert outcome.status == "ingested", outcome.error
    return ws


def rows(ws: Workspace, sql: str) -> list[dict[str, Any]]:
    return plain_rows(run_query(ws, sql))


# ------------------------------------------------------------------------------ stop + sessions


def tunnel_capture(intervals_s: list[float]) -> tuple[Wire, int]:
    """A toyvpn session: handshake PDU, an "encrypted" PDU, then one heartbeat (request and
    answer) after each interval. Returns the wire and the total payload bytes."""
    wire = Wire()
    c = Tcp(wire, ("10.0.0.1", MAC["client"], 40000), ("198.51.100.7", MAC["router"], 7777))
    c.open(T0)
    hello = toy_pdu(b"TOYV hello")
    total = len(hello)
    c.send(T0 + 10_000, 0, hello)
    sealed = toy_pdu(b"\x99" * 40)
    c.send(T0 + 20_000, 1, sealed)
    total += len(sealed)
    t = T0 + 20_000
    for gap in intervals_s:
        t += int(gap * S)
        for side in (0, 1):
            beat = toy_pdu(b"\x42" * 30)
            c.send(t + side * 2_000_000, side, beat)
            total += len(beat)
    return wire, total


def test_stop_hands_no_further_pdus_and_coverage_keeps_the_protocol(tmp_path: Path) -> None:
    toy = ToyTunnel()
    wire, total = tunnel_capture([10.0] * 6)
    ws = ingest(tmp_path, wire, [toy])
    assert len(toy.parsed) == 2  # hello, then the PDU that said stop; no heartbeat
    [cov] = rows(ws, "SELECT * FROM coverage WHERE dst_port = 7777")
    assert cov["protocol"] == "toyvpn" and cov["method"] == "content"
    assert cov["encrypted"] is True and cov["errors"] == 0
    assert cov["pdus"] == 2
    assert cov["payload_bytes"] == total and cov["undecoded_bytes"] == 0
    ops = rows(ws, "SELECT operation, pdus FROM operations ORDER BY operation")
    assert ops == [{"operation": "msg_1", "pdus": 1}, {"operation": "msg_2", "pdus": 1}]


def test_a_session_row_with_volumes_and_a_periodic_keepalive(tmp_path: Path) -> None:
    wire, _ = tunnel_capture([10.0] * 6)
    ws = ingest(tmp_path, wire, [ToyTunnel()])
    [s] = rows(ws, "SELECT * FROM sessions")
    [f] = rows(ws, "SELECT * FROM flows WHERE dst_port = 7777")
    assert (s["protocol"], s["kind"], s["transport"]) == ("toyvpn", "tunnel", "tcp")
    assert (s["client_ip"], s["client_port"], s["client_mac"]) == ("10.0.0.1", 40000, MAC["client"])
    assert (s["server_ip"], s["server_port"]) == ("198.51.100.7", 7777)
    assert s["flow_id"] == f["flow_id"]
    assert (s["client_packets"], s["server_packets"]) == (f["src_packets"], f["dst_packets"])
    assert (s["client_bytes"], s["server_bytes"]) == (f["src_bytes"], f["dst_bytes"])
    assert (s["start_ts"], s["end_ts"]) == (f["first_ts"], f["last_ts"])
    assert s["duration_s"] == pytest.approx((f["last_ts"] - f["first_ts"]) / 1e9)
    assert s["encrypted"] is True
    assert s["contacts"] == 7  # the handshake burst and six heartbeats
    assert s["keepalive_interval_s"] == pytest.approx(10.0)
    assert s["regularity"] == pytest.approx(1.0)
    assert (s["industrial_pdus"], s["industrial_writes"], s["controllers"]) == (0, 0, None)
    assert s["follow_window_s"] == FOLLOW_WINDOW_S


def test_irregular_contacts_have_no_keepalive(tmp_path: Path) -> None:
    wire, _ = tunnel_capture([3.0, 41.0, 7.5, 19.0, 2.0, 60.0])
    ws = ingest(tmp_path, wire, [ToyTunnel()])
    [s] = rows(ws, "SELECT * FROM sessions")
    assert s["contacts"] == 7
    assert s["keepalive_interval_s"] is None
    assert s["regularity"] < 0.5


@pytest.mark.parametrize(
    ("intervals", "keepalive", "regularity"),
    [
        ([30e9] * 5, 30.0, 1.0),
        ([30e9, 30.5e9, 29.6e9, 30.2e9], 30.1, 1.0),  # jitter inside 10 %
        ([30e9, 30e9, 30e9], None, 1.0),  # too few intervals to call it periodic
        ([30e9, 30e9, 30e9, 5e9, 90e9, 31e9], None, 4 / 6),
        ([1e9], None, None),
    ],
)
def test_periodicity(
    intervals: list[float], keepalive: float | None, regularity: float | None
) -> None:
    got_keepalive, got_regularity = periodicity(__import__("numpy").array(intervals))
    assert got_keepalive == (pytest.approx(keepalive, rel=0.01) if keepalive else None)
    assert got_regularity == (pytest.approx(regularity) if regularity is not None else None)


def test_industrial_operations_after_a_session_are_linked_to_it(tmp_path: Path) -> None:
    """A remote session into an engineering station (server 10.0.0.2), which then writes to
    the PLC: counted. The same writes from an unrelated host, or long after, are not."""
    wire = Wire()
    vpn = Tcp(wire, ("198.51.100.9", MAC["router"], 40001), ("10.0.0.2", MAC["server"], 7777))
    vpn.open(T0)
    vpn.send(T0 + 10_000, 0, toy_pdu(b"TOYV hello"))
    vpn.send(T0 + 20_000, 1, toy_pdu(b"\x01" * 8))
    vpn.send(T0 + 5 * S, 0, toy_pdu(b"\x01" * 8))  # session ends at ~5 s
    plc = ("10.0.0.3", MAC["plc"], 502)
    during = Tcp(wire, ("10.0.0.2", MAC["server"], 40002), plc)
    during.open(T0 + 2 * S)
    during.send(T0 + 2 * S + 10_000, 0, write_single(1))
    during.send(T0 + 2 * S + 20_000, 1, write_single(1))
    after = Tcp(wire, ("10.0.0.2", MAC["server"], 40003), plc)
    after.open(T0 + 65 * S)  # within the follow window
    for tid in (2, 3):
        after.send(T0 + 65 * S + tid * 10_000, 0, mbap(tid, 3, struct.pack("!HH", 0, 1)))
    late = Tcp(wire, ("10.0.0.2", MAC["server"], 40004), plc)
    late.open(T0 + int((FOLLOW_WINDOW_S + 60) * S))
    late.send(T0 + int((FOLLOW_WINDOW_S + 60) * S) + 10_000, 0, write_single(9))
    stranger = Tcp(wire, ("10.0.0.5", MAC["other"], 40005), plc)
    stranger.open(T0 + 3 * S)
    stranger.send(T0 + 3 * S + 10_000, 0, write_single(7))
    ws = ingest(tmp_path, wire, [ToyTunnel(), modbus.ANALYZER])
    [s] = rows(ws, "SELECT * FROM sessions")
    assert s["server_ip"] == "10.0.0.2"
    assert s["industrial_pdus"] == 3  # one write during, two reads after; responses left out
    assert s["industrial_writes"] == 1
    assert s["controllers"] == ["10.0.0.3"]


def test_a_gtp_carrier_is_a_tunnel_session_and_links_its_inner_hosts(tmp_path: Path) -> None:
    """GTP-U datagrams the engine decapsulates never reach the analyzers: the outer flow is
    still covered as ``gtp`` and becomes a session, and an inner host's Modbus write counts."""

    class NoGtp(ToyIpProto):  # stands for the gtp analyzer (none of its frames arrive)
        name = "gtp"
        ip_protocols = (254,)

    wire = Wire()
    teid = count(1)
    inner_frames = []
    inner = Tcp(Wire(), ("10.45.0.7", MAC["client"], 41000), ("10.0.0.3", MAC["plc"], 502))
    inner.open(T0)
    inner.send(T0 + 10_000, 0, write_single(1))
    inner_frames = inner.wire.packets
    for p in inner_frames:
        ip_packet = p.data[14:]
        wire.ip(p.ts_ns, "192.0.2.1", "192.0.2.2", 17, udp(2152, 2152, gtpu(next(teid), ip_packet)),
                MAC["router"], MAC["server"])  # fmt: skip
    ws = ingest(tmp_path, wire, [NoGtp(), modbus.ANALYZER])
    [cov] = rows(ws, "SELECT * FROM coverage WHERE dst_port = 2152")
    assert (cov["protocol"], cov["method"], cov["undecoded_bytes"]) == ("gtp", "content", 0)
    assert "decapsulated" in cov["notes"][0]
    [s] = rows(ws, "SELECT * FROM sessions")
    assert (s["protocol"], s["kind"], s["contacts"]) == ("gtp", "tunnel", None)
    assert (s["client_ip"], s["server_ip"]) == ("192.0.2.1", "192.0.2.2")
    assert s["industrial_writes"] == 1 and s["controllers"] == ["10.0.0.3"]
    tunnelled = rows(ws, "SELECT tunnel FROM flows WHERE dst_port = 502")
    assert tunnelled == [{"tunnel": "gtp"}]


# ------------------------------------------------------------------------------ IP protocols


def test_ip_protocol_analyzers_get_esp_and_never_udp(tmp_path: Path) -> None:
    wire = Wire()
    for i in range(3):
        esp = struct.pack("!II", 0xC0FFEE, i + 1) + bytes(24)
        wire.ip(T0 + i * S, "10.0.0.1", "203.0.113.5", 50, esp, MAC["client"], MAC["router"])
    wire.ip(T0, "10.0.0.1", "203.0.113.5", 17, udp(4000, 4001, b"\x00" * 32),
            MAC["client"], MAC["router"])  # fmt: skip
    ws = ingest(tmp_path, wire, [ToyIpProto()])
    cov = {r["transport"]: r for r in rows(ws, "SELECT * FROM coverage")}
    assert cov["ip"]["protocol"] == "toyesp" and cov["ip"]["pdus"] == 3
    assert cov["udp"]["protocol"] is None  # not offered to an analyzer without ports
    [op] = rows(ws, "SELECT * FROM operations")
    assert (op["pdus"], op["target"]) == (3, "spi=c0ffee")
    [s] = rows(ws, "SELECT * FROM sessions")
    assert (s["transport"], s["client_port"], s["client_packets"]) == ("ip", None, 3)


# ------------------------------------------------------------------------------ names


def test_names_asked_resolved_and_connected_by_address(tmp_path: Path) -> None:
    wire = Wire()
    dns = ("10.0.0.53", MAC["router"])
    ask = ("10.0.0.1", MAC["client"])
    wire.ip(T0, ask[0], dns[0], 17, udp(5000, 53, b"Q Cloud.Vendor.example."), ask[1], dns[1])
    wire.ip(T0 + 1000, dns[0], ask[0], 17, udp(53, 5000, b"A cloud.vendor.example 203.0.113.9"),
            dns[1], ask[1])  # fmt: skip
    # a connection to the resolved address after the answer, one before it, one elsewhere
    for port, t, dst in ((41000, T0 + S, "203.0.113.9"), (41001, T0 - S, "203.0.113.9"),
                         (41002, T0 + 2 * S, "203.0.113.10")):  # fmt: skip
        c = Tcp(wire, (ask[0], ask[1], port), (dst, MAC["router"], 8883))
        c.open(t)
        c.send(t + 5000, 0, b"\x10\x00")
    ws = ingest(tmp_path, wire, [ToyResolver()])
    got = rows(ws, "SELECT * FROM names ORDER BY action")
    by_action = {r["action"]: r for r in got}
    assert set(by_action) == {"asked", "resolved", "connected"}
    asked, resolved, connected = (by_action[a] for a in ("asked", "resolved", "connected"))
    assert (asked["ip"], asked["mac"], asked["peer_ip"]) == (ask[0], ask[1], dns[0])
    assert asked["name"] == "cloud.vendor.example" and asked["record_type"] == "A"
    assert (resolved["ip"], resolved["addresses"]) == (ask[0], ["203.0.113.9"])
    assert connected["inferred"] is True and connected["protocol"] == "tcp"
    assert (connected["peer_ip"], connected["count"]) == ("203.0.113.9", 1)
    [flow] = rows(ws, "SELECT flow_id FROM flows WHERE src_port = 41000")
    assert connected["flow_id"] == flow["flow_id"]
    assert not asked["inferred"] and not resolved["inferred"]


def test_hostile_names_are_bounded(tmp_path: Path) -> None:
    wire = Wire()
    huge = "x" * 5000
    many = ",".join(f"203.0.113.{i}" for i in range(100))
    wire.ip(T0, "10.0.0.1", "10.0.0.53", 17, udp(5000, 53, f"Q {huge}".encode()),
            MAC["client"], MAC["router"])  # fmt: skip
    wire.ip(T0 + 1, "10.0.0.53", "10.0.0.1", 17, udp(53, 5000, f"A many.example {many}".encode()),
            MAC["router"], MAC["client"])  # fmt: skip
    ws = ingest(tmp_path, wire, [ToyResolver()])
    names = {r["action"]: r for r in rows(ws, "SELECT * FROM names")}
    assert len(names["asked"]["name"]) == 255
    assert len(names["resolved"]["addresses"]) == 16


# ------------------------------------------------------------------------------ roles


def roles_of(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows(ws, "SELECT * FROM roles"):
        out.setdefault(r["role"], []).append(r)
    return out


def test_announced_roles_gateway_and_dual_homing(tmp_path: Path) -> None:
    wire = Wire()
    # a DNS server (announced by the resolver's answers)
    wire.ip(
        T0, "10.0.0.1", "10.0.0.53", 17, udp(5000, 53, b"Q a.example"), MAC["client"], MAC["other"]
    )
    wire.ip(T0 + 1, "10.0.0.53", "10.0.0.1", 17, udp(53, 5000, b"A a.example 1.2.3.4"),
            MAC["other"], MAC["client"])  # fmt: skip
    # the router's MAC carries four remote addresses; it claims 10.0.0.254 in ARP
    for i, remote in enumerate(("8.8.8.8", "1.1.1.1", "9.9.9.9", "203.0.113.1")):
        wire.ip(T0 + 10 + i, "10.0.0.1", remote, 17, udp(6000 + i, 123, b"\x23" + bytes(47)),
                MAC["client"], MAC["router"])  # fmt: skip
        wire.ip(T0 + 20 + i, remote, "10.0.0.1", 17, udp(123, 6000 + i, b"\x24" + bytes(47)),
                MAC["router"], MAC["client"])  # fmt: skip
    wire.arp_reply(T0 + 30, MAC["router"], "10.0.0.254")
    # the PLC's MAC sends from two subnets
    wire.ip(T0 + 40, "10.0.0.3", "10.0.0.1", 17, udp(7000, 7001, b"x"), MAC["plc"], MAC["client"])
    wire.ip(
        T0 + 41, "192.168.7.3", "192.168.7.1", 17, udp(7000, 7001, b"x"), MAC["plc"], MAC["other"]
    )
    ws = ingest(tmp_path, wire, [ToyResolver(), ToyArp()])
    roles = roles_of(ws)
    [dns] = roles["dns_server"]
    assert (dns["ip"], dns["mac"]) == ("10.0.0.53", MAC["other"])
    assert "toydns" in dns["basis"] and "toy answer" in dns["basis"]
    [gw] = roles["default_gateway"]
    assert (gw["mac"], gw["ip"], gw["evidence"]) == (MAC["router"], "10.0.0.254", 4)
    assert "next hop for 4 addresses" in gw["basis"]
    [dual] = roles["dual_homed"]
    assert dual["mac"] == MAC["plc"] and "10.0.0.3, 192.168.7.3" in dual["basis"]
    assert MAC["client"] not in {r["mac"] for r in roles.get("dual_homed", [])}


def test_nat_needs_the_same_mac_on_both_sides(tmp_path: Path) -> None:
    wire = Wire()
    server = ("203.0.113.80", MAC["other"], 443)
    for i, t in enumerate((T0, T0 + 5 * S)):
        inside = Tcp(
            wire,
            (f"10.0.0.{11 + i}", MAC["client"], 50000 + i),
            ("203.0.113.80", MAC["router"], 443),
        )
        outside = Tcp(wire, ("198.51.100.2", MAC["router"], 61000 + i), server)
        inside.open(t)
        outside.open(t + 1_000_000)
        inside.send(t + 3_000_000, 0, b"hello" * 10)
        outside.send(t + 4_000_000, 0, b"hello" * 10)
    # two hosts polling the same server with equal traffic at the same time: no NAT
    for i in range(2):
        poll = Tcp(
            wire,
            (f"10.0.0.{30 + i}", MAC["plc"] if i else MAC["other"], 52000),
            ("10.0.0.99", MAC["server"], 502),
        )
        poll.open(T0 + 9 * S + i * 1_000_000)
        poll.send(T0 + 9 * S + i * 1_000_000 + 500, 0, write_single(1))
    ws = ingest(tmp_path, wire, [])
    [nat] = roles_of(ws)["nat"]
    assert (nat["mac"], nat["ip"], nat["evidence"]) == (MAC["router"], "198.51.100.2", 2)
    assert nat["confidence"] == pytest.approx(0.9)
    assert "2 inner host(s)" in nat["basis"]


@pytest.mark.parametrize("real", [False, True], ids=["toy", "real"])
def test_address_conflicts_from_arp_claims(tmp_path: Path, real: bool) -> None:
    """Two MACs claiming one address in different flows. The real analyzer keeps no per-flow
    state, so the conflict shows here only; its repeated frames reuse one result and still
    count one by one."""
    from cranewatch.protocols.arp import ANALYZER as ARP

    wire = Wire()
    for k in range(3):
        wire.arp_reply(T0 + k * 1_000_000, MAC["plc"], "10.0.0.3")
    wire.arp_reply(T0 + S, MAC["other"], "10.0.0.3")
    wire.arp_reply(T0 + 2 * S, MAC["client"], "10.0.0.1")
    ws = ingest(tmp_path, wire, [ARP if real else ToyArp()])
    conflicts = roles_of(ws)["address_conflict"]
    assert sorted(r["mac"] for r in conflicts) == sorted([MAC["plc"], MAC["other"]])
    assert all(r["ip"] == "10.0.0.3" for r in conflicts)
    claims = {
        (r["mac"], r["value"]): r["count"]
        for r in rows(ws, "SELECT mac, value, count FROM identities WHERE attribute = 'ip_address'")
    }
    assert claims == {
        (MAC["plc"], "10.0.0.3"): 3,
        (MAC["other"], "10.0.0.3"): 1,
        (MAC["client"], "10.0.0.1"): 1,
    }


# ------------------------------------------------------------------------------ stateless


class ToyBeacon:
    """EtherType 0x88B5 (local experimental): a device announcing its name, frame after frame."""

    name = "toybeacon"
    description = "test stateless layer-2 analyzer"
    status = "beta"
    ports = ()
    ethertypes = (0x88B5,)
    stateless = True

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return 0.95 if payload.startswith(b"BEACON ") else 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        self.calls += 1
        name = payload[7:].split(b"\0")[0].decode()
        return ParseResult(
            [Operation(self.name, 1, "beacon", "unsolicited")],
            [IdentityFact(self.name, "hostname", name, source="toy beacon")],
        )


def test_a_stateless_analyzer_parses_a_repeated_frame_once_and_counts_every_one(
    tmp_path: Path,
) -> None:
    wire = Wire()
    for i in range(10):
        body = b"BEACON " + (b"crane-07" if i % 5 else b"crane-08") + bytes(40)
        wire.packets.append(
            Packet(T0 + i * S, ether("01:80:c2:00:00:0e", MAC["plc"], 0x88B5, body))
        )
    beacon = ToyBeacon()
    ws = ingest(tmp_path, wire, [beacon])
    assert beacon.calls == 2  # two distinct frames
    [op] = rows(ws, "SELECT pdus FROM operations")
    assert op["pdus"] == 10
    counts = {r["value"]: r["count"] for r in rows(ws, "SELECT value, count FROM identities")}
    assert counts == {"crane-07": 8, "crane-08": 2}


def test_only_short_frames_are_kept_for_reuse(tmp_path: Path) -> None:
    """A repeated frame longer than ``REPEATED_MAX_BYTES`` (a jumbo frame) is parsed each time:
    the results kept for reuse stay a few MiB, whatever the traffic."""
    from cranewatch.protocols.dispatch import REPEATED_MAX_BYTES

    wire = Wire()
    for i in range(3):
        body = b"BEACON crane-09" + bytes(REPEATED_MAX_BYTES)
        wire.packets.append(
            Packet(T0 + i * S, ether("01:80:c2:00:00:0e", MAC["plc"], 0x88B5, body))
        )
    beacon = ToyBeacon()
    ws = ingest(tmp_path, wire, [beacon])
    assert beacon.calls == 3
    [op] = rows(ws, "SELECT pdus FROM operations")
    assert op["pdus"] == 3


def test_a_flow_keeps_a_bounded_number_of_identity_facts(tmp_path: Path) -> None:
    """A sender with a new name in every frame: the flow keeps its first
    ``MAX_IDENTITIES_PER_FLOW`` names, counts every frame and says in its coverage row that the
    rest were dropped."""
    from cranewatch.protocols.dispatch.facts import MAX_IDENTITIES_PER_FLOW

    frames = MAX_IDENTITIES_PER_FLOW + 10
    wire = Wire()
    for i in range(frames):
        body = b"BEACON " + f"crane-{i:05d}".encode() + bytes(40)
        wire.packets.append(
            Packet(T0 + i * 1_000_000, ether("01:80:c2:00:00:0e", MAC["plc"], 0x88B5, body))
        )
    ws = ingest(tmp_path, wire, [ToyBeacon()])
    names = [r["value"] for r in rows(ws, "SELECT value FROM identities ORDER BY first_frame")]
    assert names == [f"crane-{i:05d}" for i in range(MAX_IDENTITIES_PER_FLOW)]
    [op] = rows(ws, "SELECT pdus FROM operations")
    assert op["pdus"] == frames
    [cov] = rows(ws, "SELECT notes FROM coverage WHERE protocol = 'toybeacon'")
    assert cov["notes"] == [f"more than {MAX_IDENTITIES_PER_FLOW} identity facts: the rest dropped"]
    from cranewatch.observe.schemas import IDENTITIES

    assert f"at most {MAX_IDENTITIES_PER_FLOW:,} distinct facts" in IDENTITIES.doc  # documented


# ------------------------------------------------------------------------------ bounded memory


def dns_name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".")) + b"\0"


def test_ended_flows_leave_memory_and_their_rows_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every DNS query is a flow of its own. With flows ending during the scan (idle timeout
    1 s, queries 3 s apart, a flow table of 64 slots that fills often) their operations go to
    the staging file and their identities and names merge into their device's rows: the
    per-flow memory follows the flows still open, however many have passed, and the tables
    count every message exactly."""
    from cranewatch.protocols import dns
    from cranewatch.protocols.dispatch.facts import Facts

    held: list[tuple[int, int]] = []
    flush = Facts.flush_operations

    def spy(self: Facts, ended: list[int], flows: dict[int, Any]) -> Any:
        out = flush(self, ended, flows)
        held.append((len(self.operations), len(self.identities)))
        return out

    monkeypatch.setattr(Facts, "flush_operations", spy)
    wire = Wire()
    queries = 120
    for i in range(queries):
        question = dns_name(f"plc{i % 7}.port.example") + struct.pack("!HH", 1, 1)
        query = struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + question
        answer = (
            struct.pack("!HHHHHH", i, 0x8180, 1, 1, 0, 0) + question
            + struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([10, 0, 0, 1 + i % 7])
        )  # fmt: skip
        t = T0 + i * 3 * S
        port = 20000 + i
        wire.ip(t, "10.0.0.1", "10.0.0.53", 17, udp(port, 53, query), MAC["client"], MAC["other"])
        wire.ip(t + 1000, "10.0.0.53", "10.0.0.1", 17, udp(53, port, answer), MAC["other"],
                MAC["client"])  # fmt: skip
    path = tmp_path / "dns.pcap"
    path.write_bytes(pcap(wire.packets))
    ws = Workspace.open(tmp_path / "ws", create=True)
    # a small flow table fills often, and each time the idle flows leave it
    monkeypatch.setattr("cranewatch.engine.session.FLOW_CAPACITY", 64)
    options = EngineOptions(idle_timeout_s=1.0, chunk_size=4096)  # and packets come in chunks
    outcome = ingest_file(ws, path, options, analyzers=list(dns.ANALYZERS))
    assert outcome.status == "ingested", outcome.error
    assert len(held) >= 3  # flows ended during the scan, not all at the end
    # rows in memory follow the flows still open (at most the table's 64), not the 120 flows
    # (240 operations rows, 120 identity rows) the capture holds
    assert max(ops for ops, _ in held) <= 2 * 64 < 2 * queries
    assert max(ids for _, ids in held) <= 64 < queries
    ops = {
        (r["operation"], r["direction"]): r["pdus"]
        for r in rows(ws, "SELECT operation, direction, sum(pdus)::BIGINT AS pdus FROM operations "
                          "GROUP BY ALL")
    }  # fmt: skip
    assert ops == {("query", "request"): queries, ("query", "response"): queries}
    assert rows(ws, "SELECT count(DISTINCT flow_id) AS n FROM operations") == [{"n": queries}]
    asked = rows(ws, "SELECT name, count FROM names WHERE action = 'asked' ORDER BY name")
    assert [r["count"] for r in asked] == [18, 17, 17, 17, 17, 17, 17]  # 120 over 7 names
    [server] = rows(ws, "SELECT ip, count FROM identities WHERE attribute = 'role'")
    assert server == {"ip": "10.0.0.53", "count": queries}
