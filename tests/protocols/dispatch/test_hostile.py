"""Hostile bytes for every analyzer at once, through the whole ingest: never a crash, never a
lost capture.

Each example is one capture holding, for every registered analyzer, traffic on its own
transport and well-known port (TCP sessions with and without a handshake, UDP datagrams,
layer-2 frames of its EtherTypes or LLC SAPs) whose payloads are random bytes, real-looking
headers with lying lengths, or deep nesting of constructed BER/TLV-style bytes. The analyzers'
own fuzz tests (tests/protocols/test_*.py) go deep into each parser; this one proves the
dispatcher keeps going whatever they are fed together: the capture is ingested, nothing is
written to errors.log, and every flow with payload has a coverage row.
"""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from tests.capture_builder import ACK, ETH_IPV4, PSH, SYN, Packet, ether, ipv4, pcap, tcp, udp
from tests.fuzzing import fuzz_settings

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_file
from cranewatch.protocols._base import StreamAnalyzer
from cranewatch.protocols.registry import load_registry
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

ANALYZERS = load_registry().analyzers
STREAM_PORTS = sorted({a.ports[0] for a in ANALYZERS if isinstance(a, StreamAnalyzer) and a.ports})
UDP_PORTS = sorted(
    {
        a.ports[0]
        for a in ANALYZERS
        if not isinstance(a, StreamAnalyzer) and not a.ethertypes and a.ports
    }
)
IP_PROTOCOLS = sorted({p for a in ANALYZERS for p in getattr(a, "ip_protocols", ())})
ETHERTYPES = sorted({t for a in ANALYZERS for t in getattr(a, "ethertypes", ())})
LLC_SAPS = sorted({s for a in ANALYZERS for s in getattr(a, "llc_saps", ())})
T0 = 1_700_000_000_000_000_000


def lying_header(draw: st.DrawFn) -> bytes:
    """Bytes that start like a PDU of some framing but whose length fields lie."""
    length = draw(st.sampled_from((0, 1, 2, 7, 255, 0xFFFF, 0xFFFFFFFF)))
    kind = draw(
        st.sampled_from(
            ("mbap", "tpkt", "opcua", "enip", "iec104", "dnp3", "mqtt", "ber", "tls", "dns",
             "ssh", "length16")
        )
    )  # fmt: skip
    if kind == "mbap":
        head = struct.pack(">HHHB", 1, 0, length & 0xFFFF, 1) + bytes([draw(st.integers(0, 255))])
    elif kind == "tpkt":
        head = struct.pack(">BBH", 3, 0, length & 0xFFFF) + b"\x02\xf0\x80\x32\x01"
    elif kind == "opcua":
        head = draw(st.sampled_from((b"HEL", b"MSG", b"OPN", b"CLO"))) + b"F"
        head += struct.pack("<I", length & 0xFFFFFFFF)
    elif kind == "enip":
        head = struct.pack("<HH", draw(st.sampled_from((0x63, 0x65, 0x6F, 0x70))), length & 0xFFFF)
        head += bytes(20)
    elif kind == "iec104":
        head = bytes([0x68, length & 0xFF, 0, 0, 0, 0])
    elif kind == "dnp3":
        head = bytes([0x05, 0x64, length & 0xFF, 0xC4, 1, 0, 2, 0, 0, 0])
    elif kind == "mqtt":
        head = bytes([0x30]) + b"\xff\xff\xff\x7f"
    elif kind == "tls":  # a record, a handshake and extensions whose lengths disagree
        body = bytes([1]) + (length & 0xFFFFFF).to_bytes(3, "big") + b"\x03\x03" + bytes(32)
        body += bytes([draw(st.integers(0, 255))]) + struct.pack(">H", length & 0xFFFF)
        head = bytes([22, 3, draw(st.integers(0, 4))]) + struct.pack(">H", length & 0xFFFF) + body
    elif kind == "dns":  # labels longer than the message, or compression pointers in a loop
        name = draw(st.sampled_from((b"\xc0\x0c", b"\x3f" + b"a" * 10, b"\xc0\x0e\xc0\x0c")))
        head = struct.pack(">HHHHHH", 1, 0x0100, length & 0xFFFF, length & 0xFFFF, 0, 0) + name
        if draw(st.booleans()):  # DNS over TCP: its 2-byte length first
            head = struct.pack(">H", length & 0xFFFF) + head
    elif kind == "ssh":
        head = b"SSH-2.0-x\r\n" + struct.pack(">IB", length & 0xFFFFFFFF, 255)
    elif kind == "length16":  # OpenVPN over TCP, PPTP and friends: a 2-byte length first
        head = struct.pack(">H", length & 0xFFFF) + bytes([draw(st.integers(0, 255))]) * 4
    else:  # deep BER nesting: constructed tags with indefinite or overlong lengths
        depth = draw(st.integers(1, 400))
        head = b"\xa0\x80" * depth + b"\x30\x84\xff\xff\xff\xff"
    return head + draw(st.binary(max_size=64))


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(min_size=1, max_size=200))
    return lying_header(draw)


@st.composite
def hostile_capture(draw: st.DrawFn) -> list[Packet]:
    packets: list[Packet] = []
    clock = iter(range(1, 1_000_000))

    def add(frame: bytes) -> None:
        packets.append(Packet(T0 + next(clock) * 1000, frame))

    def frame(proto_payload: bytes, client: bool) -> bytes:
        src, dst = ("10.0.0.1", "10.0.0.2") if client else ("10.0.0.2", "10.0.0.1")
        smac, dmac = ("02:00:00:00:00:01", "02:00:00:00:00:02")
        if not client:
            smac, dmac = dmac, smac
        return ether(dmac, smac, ETH_IPV4, ipv4(src, dst, 6, proto_payload))

    for n, port in enumerate(STREAM_PORTS):
        sport = 40000 + n
        seq = [draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))]
        if draw(st.booleans()):
            add(frame(tcp(sport, port, SYN, b"", seq=seq[0]), True))
            ack = (seq[0] + 1) % 2**32
            add(frame(tcp(port, sport, SYN | ACK, b"", seq=seq[1], ack=ack), False))
            seq = [(seq[0] + 1) % 2**32, (seq[1] + 1) % 2**32]
        for _ in range(draw(st.integers(1, 6))):
            client = draw(st.booleans())
            side = 0 if client else 1
            data = draw(payloads())
            ports = (sport, port) if client else (port, sport)
            at = seq[side] + draw(st.sampled_from((0, 0, 0, -3, 5)))
            add(frame(tcp(*ports, PSH | ACK, data, seq=at % 2**32), client))
            seq[side] = (at + len(data)) % 2**32
    for n, port in enumerate(UDP_PORTS):
        for _ in range(draw(st.integers(1, 4))):
            data = udp(41000 + n, port, draw(payloads()))
            add(ether("02:00:00:00:00:02", "02:00:00:00:00:01", ETH_IPV4,
                      ipv4("10.0.0.1", "10.0.0.2", 17, data)))  # fmt: skip
    for ethertype in ETHERTYPES:
        for _ in range(draw(st.integers(1, 3))):
            add(ether("01:0e:cf:00:00:00", "02:00:00:00:00:03", ethertype, draw(payloads())))
    for number in IP_PROTOCOLS:
        for _ in range(draw(st.integers(1, 3))):
            add(ether("02:00:00:00:00:02", "02:00:00:00:00:01", ETH_IPV4,
                      ipv4("10.0.0.1", "10.0.0.2", number, draw(payloads()))))  # fmt: skip
    for sap in LLC_SAPS:
        body = bytes([sap, sap, 0x03]) + draw(payloads())
        add(ether("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:04", len(body), body))
    return packets


def test_the_hostile_set_reaches_every_transport() -> None:
    assert STREAM_PORTS and UDP_PORTS and ETHERTYPES and LLC_SAPS and IP_PROTOCOLS
    assert {502, 102, 4840, 44818, 20000, 2404, 1883} <= set(STREAM_PORTS)
    assert {3389, 5900, 1194, 5938} <= set(STREAM_PORTS)
    assert {161, 500, 51820, 1701, 2123, 123, 514, 3478} <= set(UDP_PORTS)
    assert 50 in IP_PROTOCOLS and 0xAA in LLC_SAPS and {0x0806, 0x88CC} <= set(ETHERTYPES)


@fuzz_settings(25)
@given(packets=hostile_capture(), compiled=st.booleans())
def test_hostile_payloads_for_every_analyzer_never_stop_the_ingest(
    tmp_path_factory: object, packets: list[Packet], compiled: bool
) -> None:
    folder = tmp_path_factory.mktemp("hostile")  # type: ignore[attr-defined]
    path = Path(folder) / "hostile.pcap"
    path.write_bytes(pcap(packets))
    ws = Workspace.open(Path(folder) / "ws", create=True)
    outcome = ingest_file(ws, path, EngineOptions(), compiled_tier=compiled)
    assert outcome.status == "ingested", outcome.error
    assert not (ws.root / "errors.log").exists()
    flows_with_payload = (
        run_query(
            ws,
            "SELECT count(*) AS n FROM flows "
            f"WHERE proto IN ({', '.join(map(str, [6, 17, *IP_PROTOCOLS]))}) "
            "AND src_payload_bytes + dst_payload_bytes > 0",
        )
        .column("n")[0]
        .as_py()
    )
    covered = run_query(ws, "SELECT count(*) AS n FROM coverage WHERE transport <> 'ethernet'")
    assert covered.column("n")[0].as_py() == flows_with_payload
    bad = run_query(
        ws,
        "SELECT count(*) AS n FROM coverage WHERE pdus < 0 OR undecoded_bytes < 0 "
        "OR gap_bytes < 0 OR payload_bytes < 0",
    )
    assert bad.column("n")[0].as_py() == 0
