"""Tests of the tshark oracle (cranewatch.testing.tshark) and of the baselines it wrote.

- Every capture in tests/captures has a baseline in tests/baselines/tshark, equal to a live
  tshark run (the ``tshark`` fixture skips on a user's machine without tshark and fails in CI).
- Each baseline is consistent in itself: the sides add up to the totals, the conversations
  match the ``-z conv`` counts stored with them, and the SHA-256 is the capture's, as listed in
  tests/captures/MANIFEST.md.
- Small captures built here pin each tshark behaviour that docs/validation.md describes but no
  real capture shows (ICMP errors, fragments, SYNs, SNMP, VLAN/MPLS, tunnels), so a tshark
  upgrade that changes one fails here, with the page to update named in the failure.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import ipaddress
import itertools
import json
import re
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from cranewatch.testing import format_tshark_bytes, tshark_oracle, tshark_version

TESTS = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_tshark_baselines", TESTS / "oracles" / "make_tshark_baselines.py"
)
assert _spec is not None and _spec.loader is not None
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)

CAPTURES = baselines.captures()
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def load(capture: Path) -> dict[str, Any]:
    return json.loads(baselines.baseline_path(capture).read_text())


def test_every_capture_has_a_baseline_and_no_baseline_is_stale() -> None:
    assert len(CAPTURES) == 40
    have = {p.name for p in baselines.BASELINES.glob("*.json")}
    assert have == {f"{p.stem}.json" for p in CAPTURES}


# ------------------------------------------------------------------------------ live tshark


@pytest.mark.needs_tshark
@pytest.mark.slow
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_baseline_equals_live_tshark(capture: Path, tshark: str) -> None:
    stored = baselines.baseline_path(capture).read_text()
    live_version = tshark_version(tshark)
    assert json.loads(stored)["tshark_version"] == live_version, (
        f"{capture.name}'s baseline was made with another tshark than {live_version}; "
        "run tests/oracles/make_tshark_baselines.py, review the diff and docs/validation.md"
    )
    live = baselines.render(tshark_oracle(capture, tshark=tshark))
    diff = "".join(
        difflib.unified_diff(stored.splitlines(True), live.splitlines(True), "stored", "live", n=2)
    )
    assert live == stored, f"regenerate with tests/oracles/make_tshark_baselines.py:\n{diff[:4000]}"


# ------------------------------------------------------------------------------ stored baselines


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_baseline_is_consistent(capture: Path) -> None:
    text = baselines.baseline_path(capture).read_text()
    oracle = json.loads(text)
    assert baselines.render(oracle) == text, "not canonical JSON"
    assert oracle["capture"] == capture.name
    assert oracle["sha256"] == hashlib.sha256(capture.read_bytes()).hexdigest()

    convs = oracle["conversations"]
    order = [(c["proto"] != "tcp", c["stream"]) for c in convs]
    assert order == sorted(order) and len(set(order)) == len(order)
    counted: dict[int, int] = {}
    for c in convs:
        assert c["proto"] in ("tcp", "udp")
        assert c["a"]["frames"] + c["b"]["frames"] == c["frames"] >= 1
        assert c["a"]["bytes"] + c["b"]["bytes"] == c["bytes"]
        assert c["a"]["frames"] >= 1, "side A sent the first counted frame"
        assert 1 <= c["first_frame"] <= c["last_frame"] <= oracle["frames"]
        assert ("starts_with_syn" in c) == (c["proto"] == "tcp")
        for side in ("a", "b"):
            ipaddress.ip_address(c[side]["ip"])
            assert 0 <= c[side]["port"] <= 65535
            assert c[side]["bytes"] >= 14 * c[side]["frames"] or c["paths"][0].startswith("null")
        for kind in ("uncounted_fragments", "orphan_fragments"):
            for side, frags in c.get(kind, {}).items():
                assert frags["frames"] == len(frags["frame_numbers"]), (kind, side)
                assert frags["bytes"] >= frags["frames"]
                for frame in frags["frame_numbers"]:
                    counted[frame] = counted.get(frame, 0) + 1
    for proto in ("tcp", "udp"):
        mine = [c for c in convs if c["proto"] == proto]
        assert oracle["conv_table"][proto] == {
            "conversations": len(mine),
            "frames": sum(c["frames"] for c in mine),
        }, proto
    assert counted.keys().isdisjoint(f["frame"] for f in oracle["orphan_fragments"])

    ips = oracle["ip_addresses"]
    keys = [(a.version, int(a)) for a in map(ipaddress.ip_address, ips)]
    assert keys == sorted(set(keys))
    assert not set(ips) & set(oracle["ip_addresses_outside_endpoints"])
    assert {ep for c in convs for ep in (c["a"]["ip"], c["b"]["ip"])} <= set(ips)
    assert oracle["mac_addresses"] == sorted(set(oracle["mac_addresses"]))
    assert all(MAC.match(m) for m in oracle["mac_addresses"])

    for split in oracle["stream_splits"]:
        streams = {(c["proto"], c["stream"]): c for c in convs}
        assert len(split["streams"]) >= 2
        for s in split["streams"]:
            conv = streams[(split["proto"], s["stream"])]
            assert conv["first_frame"] == s["first_frame"]
            ends = sorted((e["ip"], e["port"]) for e in split["endpoints"])
            assert (
                sorted([(conv["a"]["ip"], conv["a"]["port"]), (conv["b"]["ip"], conv["b"]["port"])])
                == ends
            )


def test_manifest_lists_every_capture_with_its_sha256() -> None:
    manifest = (TESTS / "captures" / "MANIFEST.md").read_text()
    listed = dict(
        re.findall(r"^\| `([^`]+\.pcap(?:ng)?)` \|.*\| `([0-9a-f]{64})` \|", manifest, re.M)
    )
    assert listed == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in CAPTURES}
    for folder in re.findall(r"^\| `(zeek-baseline/[^`]+)/` \|", manifest, re.M):
        assert any((TESTS / "captures" / folder).iterdir()), folder


def test_baselines_record_the_questionable_figures_docs_describe() -> None:
    """The numbers docs/validation.md quotes for the real captures."""
    by_name = {p.name: load(p) for p in CAPTURES}
    gtp = by_name["gtpv1_cellular_gn_http_ip_fragmented.pcap"]
    for conv in gtp["conversations"]:
        assert (conv["frames"], conv["bytes"]) == (68, 6278)
        extra = [conv[k][s] for k in ("uncounted_fragments", "orphan_fragments") for s in "ab"]
        assert sum(e["frames"] for e in extra) == 40 and sum(e["bytes"] for e in extra) == 60560
        assert conv["orphan_fragments"]["b"]["frame_numbers"] == [56, 80, 90, 92]
    snmp = by_name["snmp_v1_get.pcap"]
    assert len(snmp["conversations"]) == 58 and len(snmp["stream_splits"]) == 28
    walk = by_name["snmp_v2c_walk_short.pcap"]
    assert [c["frames"] for c in walk["conversations"]] == [1, 399]
    assert all(
        s["next_protocols"] == ["snmp"] for s in snmp["stream_splits"] + walk["stream_splits"]
    )
    others = [n for n, o in by_name.items() if o["stream_splits"] and not n.startswith("snmp_")]
    assert others == []
    loopback = by_name["opcua_binary_open62541_mainloop_ipv6_loopback.pcap"]
    assert loopback["mac_addresses"] == [] and loopback["ip_addresses"] == ["127.0.0.1", "::1"]
    sll = by_name["s7comm_plus_icsnpp.pcap"]
    assert len(sll["mac_addresses"]) == 3
    assert {p for c in sll["conversations"] for p in c["paths"]} == {"sll:ethertype:ip:tcp"}


# ------------------------------------------------------------------------------ pinned semantics

M1, M2, M3 = (bytes.fromhex(f"0200000000{i:02x}") for i in (1, 2, 3))
A, B, C, R = "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.254"


def _sum16(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def eth(
    payload: bytes,
    etype: int = 0x0800,
    src: bytes = M1,
    dst: bytes = M2,
    vlans: tuple[int, ...] = (),
) -> bytes:
    tags = b"".join(struct.pack("!HH", 0x8100, v) for v in vlans)
    return dst + src + tags + struct.pack("!H", etype) + payload


def ip4(
    src: str, dst: str, proto: int, payload: bytes, ident: int = 1, mf: int = 0, off: int = 0
) -> bytes:
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, mf << 13 | off // 8, 64, proto, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    return head[:10] + struct.pack("!H", _sum16(head)) + head[12:] + payload


def ip6(src: str, dst: str, nxt: int, payload: bytes) -> bytes:
    a, b = (socket.inet_pton(socket.AF_INET6, x) for x in (src, dst))
    return struct.pack("!IHBB", 6 << 28, len(payload), nxt, 64) + a + b + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, seq: int, ack: int, flags: str, payload: bytes = b"") -> bytes:
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[f] for f in flags)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, bits, 8192, 0, 0) + payload


def icmp(kind: int, code: int, quoted: bytes, v6: bool = False) -> bytes:
    body = struct.pack("!BBHI", kind, code, 0, 0) + quoted
    return body if v6 else body[:2] + struct.pack("!H", _sum16(body)) + body[4:]


def t4(
    src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: str, **kw: Any
) -> bytes:
    macs = {"src": M1, "dst": M2} if src == A else {"src": M2, "dst": M1}
    return eth(ip4(src, dst, 6, tcp(sport, dport, seq, ack, flags)), **macs, **kw)


def write_pcap(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            fh.write(struct.pack("<IIII", 1000 + i, 0, len(frame), len(frame)) + frame)
    return path


def shape(oracle: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(proto, stream, first frame, last frame, frames sent by A, frames sent by B) per conv."""
    return [
        (
            c["proto"],
            c["stream"],
            c["first_frame"],
            c["last_frame"],
            c["a"]["frames"],
            c["b"]["frames"],
        )
        for c in oracle["conversations"]
    ]


@pytest.mark.needs_tshark
def test_icmp_errors_quote_headers_the_tap_never_counts(tmp_path: Path, tshark: str) -> None:
    query = ip4(A, B, 17, udp(5000, 53, b"x" * 20))
    syn = ip4(A, C, 6, tcp(40000, 80, 1000, 0, "S"))
    unseen = ip4("10.9.9.9", A, 17, udp(1234, 9999))
    v6 = ip6("fd00::1", "fd00::2", 17, udp(6000, 53, b"y" * 10))
    frames = [
        eth(query),
        eth(ip4(B, A, 1, icmp(3, 3, query[:28])), src=M2, dst=M1),
        eth(syn),
        eth(ip4(R, A, 1, icmp(3, 1, syn)), src=M3, dst=M1),
        eth(ip4(R, A, 1, icmp(11, 0, unseen)), src=M3, dst=M1),
        eth(v6, 0x86DD),
        eth(ip6("fd00::2", "fd00::1", 58, icmp(1, 4, v6, v6=True)), 0x86DD, src=M2, dst=M1),
    ]
    oracle = tshark_oracle(write_pcap(tmp_path / "icmp.pcap", frames), tshark=tshark)
    # the quoted 10.9.9.9 datagram took udp.stream 1, which no conversation row shows
    assert shape(oracle) == [("tcp", 0, 3, 3, 1, 0), ("udp", 0, 1, 1, 1, 0), ("udp", 2, 6, 6, 1, 0)]
    assert "10.9.9.9" not in oracle["ip_addresses"] + oracle["ip_addresses_outside_endpoints"]


@pytest.mark.needs_tshark
def test_fragments_count_once_in_the_frame_that_completes_the_datagram(
    tmp_path: Path, tshark: str
) -> None:
    datagram = udp(9000, 9001, b"z" * 100)

    def frags(ident: int, src: str = A, dst: str = B, data: bytes = datagram) -> list[bytes]:
        cuts = [0, 48, 96, len(data)]
        return [
            ip4(src, dst, 17, data[lo:hi], ident=ident, mf=int(hi < len(data)), off=lo)
            for lo, hi in itertools.pairwise(cuts)
        ]

    done, shuffled, broken = frags(0x10), frags(0x11), frags(0x12)
    back = frags(0x13, B, A, udp(9001, 9000, b"w" * 100))
    frames = [eth(f) for f in done]  # 1-3: complete, in order
    frames += [eth(f) for f in (shuffled[2], shuffled[0], shuffled[1])]  # 4-6: completes at 6
    frames += [eth(broken[0]), eth(broken[2])]  # 7-8: middle fragment missing
    frames += [eth(f, src=M2, dst=M1) for f in back]  # 9-11: other direction
    frames += [eth(done[0])]  # 12: duplicate after completion
    oracle = tshark_oracle(write_pcap(tmp_path / "frag.pcap", frames), tshark=tshark)
    (conv,) = oracle["conversations"]
    assert (conv["a"]["frames"], conv["b"]["frames"]) == (2, 1)
    assert (conv["first_frame"], conv["last_frame"]) == (3, 11)
    assert conv["a"]["bytes"] == len(eth(done[2])) + len(eth(shuffled[1]))
    assert conv["uncounted_fragments"]["a"]["frame_numbers"] == [1, 2, 4, 5]
    assert conv["uncounted_fragments"]["b"]["frame_numbers"] == [9, 10]
    assert conv["orphan_fragments"]["a"]["frame_numbers"] == [7, 12]
    assert [(f["frame"], f["first_fragment"]) for f in oracle["orphan_fragments"]] == [(8, False)]


@pytest.mark.needs_tshark
def test_a_syn_with_a_new_isn_starts_a_new_tcp_stream(tmp_path: Path, tshark: str) -> None:
    frames = [
        t4(A, B, 1111, 80, 100, 0, "S"),  # 1
        t4(A, B, 1111, 80, 100, 0, "S"),  # 2 retransmitted SYN: same stream
        t4(B, A, 80, 1111, 500, 101, "SA"),
        t4(A, B, 1111, 80, 101, 501, "FA"),
        t4(B, A, 80, 1111, 501, 102, "FA"),
        t4(A, B, 1111, 80, 9000, 0, "S"),  # 6 new ISN after FIN: new stream
        t4(B, A, 80, 1111, 7000, 9001, "SA"),
        t4(A, B, 1111, 80, 20000, 0, "S"),  # 8 new ISN, connection still open: new stream
        t4(A, B, 1111, 80, 30000, 0, "S"),  # 9 yet another ISN: new stream again
        t4(B, A, 80, 1111, 8000, 30001, "SA"),
        t4(B, A, 80, 1111, 8500, 30001, "SA"),  # 11 SYN-ACK with new ISN: same stream
        t4(A, B, 2222, 80, 5, 0, "A"),  # 12 mid-stream start, base = 5 - 1
        t4(A, B, 2222, 80, 4, 0, "S"),  # 13 SYN equal to the base: same stream
        t4(A, B, 2222, 80, 5, 0, "S"),  # 14 SYN differing from the base: new stream
        t4(B, A, 80, 3333, 50, 0, "S"),  # 15 B opens
        t4(A, B, 3333, 80, 60, 51, "SA"),
        t4(A, B, 3333, 80, 61, 0, "S"),  # 17 former responder's SYN, seq != its ISN: new
    ]
    oracle = tshark_oracle(write_pcap(tmp_path / "syn.pcap", frames), tshark=tshark)
    assert shape(oracle) == [
        ("tcp", 0, 1, 5, 3, 2),
        ("tcp", 1, 6, 7, 1, 1),
        ("tcp", 2, 8, 8, 1, 0),
        ("tcp", 3, 9, 11, 1, 2),
        ("tcp", 4, 12, 13, 2, 0),
        ("tcp", 5, 14, 14, 1, 0),
        ("tcp", 6, 15, 16, 1, 1),
        ("tcp", 7, 17, 17, 1, 0),
    ]
    assert [c["starts_with_syn"] for c in oracle["conversations"]] == [True] * 4 + [False] + [
        True
    ] * 3


def _snmp(tag: int, request_id: int) -> bytes:
    varbinds = bytes.fromhex("300e300c06082b060102010101000500")  # sysDescr.0 = NULL
    pdu = bytes([2, 1, request_id, 2, 1, 0, 2, 1, 0]) + varbinds
    body = bytes.fromhex("020100") + b"\x04\x06public" + bytes([tag, len(pdu)]) + pdu
    return bytes([0x30, len(body)]) + body


@pytest.mark.needs_tshark
def test_snmp_dissector_splits_a_5_tuple_after_its_first_snmp_frame(
    tmp_path: Path, tshark: str
) -> None:
    def u(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
        macs = {"src": M1, "dst": M2} if src == A else {"src": M2, "dst": M1}
        return eth(ip4(src, dst, 17, udp(sport, dport, payload)), **macs)

    def t(
        src: str, dst: str, sport: int, dport: int, seq: int, flags: str, data: bytes = b""
    ) -> bytes:
        macs = {"src": M1, "dst": M2} if src == A else {"src": M2, "dst": M1}
        return eth(ip4(src, dst, 6, tcp(sport, dport, seq, 1, flags, data)), **macs)

    get, resp = _snmp(0xA0, 1), _snmp(0xA2, 1)
    frames = [
        u(A, B, 3000, 161, b"garbage!"),  # 1 not SNMP
        u(A, B, 3000, 161, get),  # 2 first SNMP frame: still the first stream
        u(B, A, 161, 3000, resp),  # 3 second stream from here on
        u(A, B, 3000, 161, get),
        u(A, B, 3001, 161, get),  # 5 a request without answer: one stream
        u(A, B, 3003, 162, _snmp(0xA4, 5)),  # 6 traps to 162 split too
        u(A, B, 3003, 162, _snmp(0xA4, 6)),
        t(A, B, 7777, 161, 10, "PA", get),  # 8 SNMP over TCP, no handshake
        t(B, A, 161, 7777, 50, "PA", resp),  # 9 new tcp.stream without a SYN
    ]
    oracle = tshark_oracle(write_pcap(tmp_path / "snmp.pcap", frames), tshark=tshark)
    splits = [
        (s["proto"], [(x["stream"], x["first_frame"]) for x in s["streams"]], s["next_protocols"])
        for s in oracle["stream_splits"]
    ]
    assert splits == [
        ("tcp", [(0, 8), (1, 9)], ["snmp"]),
        ("udp", [(0, 1), (1, 3)], ["data", "snmp"]),
        ("udp", [(3, 6), (4, 7)], ["snmp"]),
    ]


@pytest.mark.needs_tshark
def test_vlans_mpls_labels_and_tunnels_are_not_part_of_the_key(tmp_path: Path, tshark: str) -> None:
    inner = ip4("192.168.1.1", "192.168.1.2", 17, udp(1000, 2000, b"i" * 10))
    mpls = lambda label: struct.pack("!I", label << 12 | 1 << 8 | 64)  # noqa: E731
    gtp = struct.pack("!BBHI", 0x30, 0xFF, len(inner), 1) + inner
    vxlan = struct.pack("!II", 0x08000000, 42 << 8) + eth(inner, src=M1, dst=M3)
    frames = [
        eth(inner, vlans=(10,)),
        eth(inner, vlans=(20,)),
        eth(inner, vlans=(100, 20)),  # QinQ
        eth(mpls(16) + inner, 0x8847),
        eth(mpls(17) + inner, 0x8847),
        eth(inner),
        eth(ip4(A, B, 17, udp(2152, 2152, gtp))),  # GTP-U: outer and inner UDP both count
        eth(ip4(A, B, 4, inner)),  # IP in IP
        eth(ip4(A, B, 47, struct.pack("!HH", 0, 0x0800) + inner)),  # GRE
        eth(ip4(A, B, 17, udp(40000, 4789, vxlan))),  # VXLAN
    ]
    oracle = tshark_oracle(write_pcap(tmp_path / "encaps.pcap", frames), tshark=tshark)
    by_port = {c["a"]["port"]: c for c in oracle["conversations"]}
    assert sorted(by_port) == [1000, 2152, 40000]
    assert by_port[1000]["frames"] == 10 and by_port[2152]["frames"] == 1
    assert by_port[1000]["bytes"] == sum(len(f) for f in frames)  # whole frames, every time
    assert "02:00:00:00:00:03" in oracle["mac_addresses"]  # the VXLAN inner Ethernet


def test_format_tshark_bytes_matches_the_conversation_table() -> None:
    assert format_tshark_bytes(0) == "0 bytes"
    assert format_tshark_bytes(9999) == "9999 bytes"
    assert format_tshark_bytes(10_000) == "10 kB"
    assert format_tshark_bytes(10_999) == "10 kB"
    assert format_tshark_bytes(567_123) == "567 kB"
    assert format_tshark_bytes(9_999_999) == "9999 kB"
    assert format_tshark_bytes(10_000_000) == "10 MB"
