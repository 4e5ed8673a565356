"""Property tests: whatever the bytes, the engine returns a result or a ``CaptureError``.

Three generators feed the engine (through tests/runners.py ``scan``, so the Arrow conversion of
flows, assets and the captures row is exercised too):

- random bytes behind a valid classic pcap header (any byte order, any link type);
- the real captures of tests/captures with bit flips, truncations, insertions and corrupted
  record or block lengths;
- random sequences of pcapng blocks (sections, interfaces with any if_tsresol/if_tsoffset,
  EPB/SPB/OPB with any interface id and timestamp, NRB/ISB/custom blocks).

Besides "no other exception", each run checks invariants that hold for any input: a flow's
packets are the sum of both directions, frame numbers stay within the frames counted, no frame
is counted twice in the outer (untunnelled) flows, and for classic pcap and well-formed pcapng
the frames counted equal the records an independent reader finds. Every input that once broke
one of these is kept under tests/captures/fuzz/ and replayed by ``test_regression_file``.

The runs are derandomized (the same examples every time, as CI needs); set
``CRANEWATCH_FUZZ_EXAMPLES=5000`` to search longer with fresh random examples.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.capture_builder import (
    ACK,
    ETH_IPV4,
    ETH_IPV6,
    ETH_MPLS,
    ETH_PPPOE,
    ETH_QINQ,
    SYN,
    Pcapng,
    ether,
    gre,
    gtpu,
    ipv4,
    ipv6,
    ipv6_fragment_header,
    ipv6_option_header,
    mpls,
    pcap_header,
    ppp_ip,
    pppoe_session,
    pptp_gre,
    sll,
    tcp,
    udp,
    vlan_tag,
    vxlan,
)
from tests.conftest import CAPTURES
from tests.fuzzing import fuzz_settings
from tests.runners import Scan, scan

from cranewatch.capture.reader import GZIP_MAGIC, PCAP_MAGICS, PCAPNG_MAGIC
from cranewatch.engine._kernels import layout as L
from cranewatch.errors import CaptureError

FUZZ_DIR = CAPTURES / "fuzz"


LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 105, 0xFFFF]
SLOW_SECONDS = 5.0  # one scan of these few kilobytes takes milliseconds; more means a hang

# frames of every layer the decoder follows, to be cut and mutated
A, B = "00:1e:42:00:00:01", "00:1b:1b:00:00:02"
_UDP = ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 2, b"abc"))
SEED_FRAMES = [
    ether(B, A, ETH_IPV4, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, SYN, seq=5))),
    ether(B, A, ETH_IPV4, _UDP, tags=[vlan_tag(5, ETH_QINQ), vlan_tag(6)]),
    ether(B, A, ETH_MPLS, mpls([1, 2], bytes(4) + ether(B, A, ETH_IPV4, _UDP))),
    ether(B, A, ETH_PPPOE, pppoe_session(1, 0x21, _UDP)),
    ether(B, A, ETH_IPV4, ipv4("1.1.1.1", "2.2.2.2", 17, udp(2152, 2152, gtpu(1, _UDP, True)))),
    ether(B, A, ETH_IPV4, ipv4("1.1.1.1", "2.2.2.2", 47, gre(ETH_IPV4, _UDP, key=1))),
    ether(B, A, ETH_IPV4, ipv4("1.1.1.1", "2.2.2.2", 47, pptp_gre(1, ppp_ip(_UDP), ack=1))),
    ether(
        B,
        A,
        ETH_IPV4,
        ipv4("1.1.1.1", "2.2.2.2", 17, udp(1, 4789, vxlan(1, ether(B, A, ETH_IPV4, _UDP)))),
    ),
    ether(
        B,
        A,
        ETH_IPV4,
        ipv4(
            "1.1.1.1",
            "2.2.2.2",
            4,
            ipv4("3.3.3.3", "4.4.4.4", 41, ipv6("::1", "::2", 17, udp(1, 2))),
        ),
    ),
    ether(
        B,
        A,
        ETH_IPV6,
        ipv6(
            "::1",
            "::2",
            0,
            ipv6_option_header(44, ipv6_fragment_header(6, tcp(1, 2, ACK), more=True)),
        ),
    ),
    ether(
        B,
        A,
        ETH_IPV4,
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 2, bytes(100)), ident=7, more_fragments=True),
    ),
    ether(B, A, ETH_IPV4, ipv4("10.0.0.1", "10.0.0.2", 17, bytes(64), ident=7, frag_offset=104)),
    sll(_UDP, src=A),
    _UDP,
]


@st.composite
def frame_bytes(draw: st.DrawFn) -> bytes:
    """A frame: random bytes, or a seed frame cut short and with a few bytes changed."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=120))
    data = bytearray(draw(st.sampled_from(SEED_FRAMES)))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


# ------------------------------------------------------------------------------ checks


def checked_scan(path: Path, chunk_size: int | None = None) -> Scan | None:
    """Scan ``path``: a result with its invariants, or None when a CaptureError was raised."""
    started = time.perf_counter()
    try:
        s = scan(path, chunk_size=chunk_size)
    except CaptureError as err:
        assert str(err) and "\n" not in str(err)
        return None
    assert time.perf_counter() - started < SLOW_SECONDS, "the engine took too long"
    check_invariants(s)
    return s


def check_invariants(s: Scan) -> None:
    r = s.result
    frames = r.packets
    assert 0 <= r.decoded <= frames
    assert r.skipped == sum(r.skips.values()) and all(n > 0 for n in r.skips.values())
    assert set(r.skips) <= set(L.SKIP_REASONS)
    for f in s.flows:
        assert f["packets"] == f["src_packets"] + f["dst_packets"] >= 1, f
        assert f["bytes"] == f["src_bytes"] + f["dst_bytes"], f
        assert 1 <= f["first_frame"] <= f["last_frame"] <= frames, f
        assert f["first_ts"] <= f["last_ts"], f
        assert 0 <= f["fragments"] <= f["packets"], f
        assert f["src_payload_bytes"] >= 0 and f["dst_payload_bytes"] >= 0, f
        assert (f["src_port"] is None) == (f["dst_port"] is None), f
    outer = sum(f["packets"] for f in s.flows if f["tunnel"] is None)
    assert outer <= frames, "a frame was counted twice in the outer flows"
    assert len({f["flow_id"] for f in s.flows}) == len(s.flows)
    for a in s.assets:
        assert a["packets_sent"] + a["packets_received"] >= 1, a
        assert 1 <= a["first_frame"] <= frames, a
    if frames == 0:
        assert s.flows == [] and s.assets == []


def pcap_records(data: bytes) -> tuple[int, str | None]:
    """An independent count of classic pcap records: (records, how the walk ended)."""
    big = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    pos, n = 24, 0
    while len(data) - pos >= 16:
        caplen = int.from_bytes(data[pos + 8 : pos + 12], "big" if big else "little")
        if caplen > L.MAX_RECORD:
            return n, L.SKIP_REASONS[L.SK_RECORD_TOO_LARGE]
        if pos + 16 + caplen > len(data):
            break
        n += 1
        pos += 16 + caplen
    return n, (L.SKIP_REASONS[L.SK_TRUNCATED_AT_EOF] if pos < len(data) else None)


def check_pcap_count(s: Scan, data: bytes) -> None:
    n, ending = pcap_records(data)
    assert s.result.packets == n
    if ending is not None:
        assert s.skips.get(ending) == 1, (ending, s.skips)


def same_result(a: Scan, b: Scan) -> None:
    assert a.flows == b.flows
    assert a.assets == b.assets
    assert a.skips == b.skips
    assert a.result.packets == b.result.packets


# ------------------------------------------------------------------------------ random pcap


@fuzz_settings(150)
@given(
    magic=st.sampled_from(sorted(PCAP_MAGICS)),
    linktype=st.sampled_from(LINK_TYPES),
    snaplen=st.integers(0, 2**32 - 1),
    body=st.binary(max_size=3000),
)
def test_random_bytes_after_a_pcap_header(
    tmp_path_factory: pytest.TempPathFactory, magic: bytes, linktype: int, snaplen: int, body: bytes
) -> None:
    big = PCAP_MAGICS[magic][0]
    header = magic + struct.pack(">HHiIII" if big else "<HHiIII", 2, 4, 0, 0, snaplen, linktype)
    data = header + body
    path = tmp_path_factory.mktemp("fuzz") / "random.pcap"
    path.write_bytes(data)
    s = checked_scan(path)
    assert s is not None  # a valid header: never an error
    check_pcap_count(s, data)


@st.composite
def pcap_of_frames(draw: st.DrawFn) -> bytes:
    """A valid pcap of mutated seed frames: the decoder, not the record walker, is fuzzed."""
    big = draw(st.booleans())
    nanos = draw(st.booleans())
    linktype = draw(st.sampled_from([1, 1, 1, 113, 101, 0, 276]))
    parts = [pcap_header(linktype, big, nanos)]
    ts = 0
    order = ">" if big else "<"
    for data in draw(st.lists(frame_bytes(), max_size=30)):
        ts += draw(st.integers(0, 2000 * 10**9))
        wirelen = len(data) + draw(st.sampled_from([0, 0, 1, 1500]))
        secs, frac = divmod(ts, 10**9)
        frac = frac if nanos else frac // 1000
        parts.append(
            struct.pack(order + "IIII", secs & 0xFFFFFFFF, frac, len(data), wirelen) + data
        )
    return b"".join(parts)


@fuzz_settings(200)
@given(data=pcap_of_frames())
def test_mutated_frames_decode_without_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "frames.pcap"
    path.write_bytes(data)
    s = checked_scan(path)
    assert s is not None
    check_pcap_count(s, data)
    assert s.result.decoded <= s.result.packets


# ------------------------------------------------------------------------------ mutations

SMALL_CAPTURES = sorted(p.name for p in CAPTURES.glob("*.pcap*") if p.stat().st_size <= 64 * 1024)


def record_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset of the length field, its width) of each record or block of a capture."""
    offsets = []
    if data[:4] == PCAPNG_MAGIC:
        big = data[8:12] == b"\x1a\x2b\x3c\x4d"
        pos = 0
        while pos + 12 <= len(data):
            offsets.append((pos + 4, 4))
            blen = int.from_bytes(data[pos + 4 : pos + 8], "big" if big else "little")
            if blen < 12:
                break
            btype = int.from_bytes(data[pos : pos + 4], "big" if big else "little")
            if btype == 6:
                offsets.append((pos + 20, 4))  # captured length
            pos += blen
    elif data[:4] in PCAP_MAGICS:
        big = PCAP_MAGICS[data[:4]][0]
        pos = 24
        while pos + 16 <= len(data):
            offsets.append((pos + 8, 4))
            offsets.append((pos + 12, 4))
            pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "big" if big else "little")
    return offsets


INTERESTING = [
    0,
    1,
    3,
    4,
    11,
    12,
    13,
    15,
    16,
    28,
    32,
    0x3FFFF,
    0x40000,
    0x40001,
    0x7FFFFFFF,
    0xFFFFFFFC,
    0xFFFFFFFF,
]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("byte"), st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(
        st.just("length"),
        st.floats(0, 1, exclude_max=True),
        st.sampled_from(INTERESTING) | st.integers(0, 2**32 - 1),
    ),
)


def mutate(data: bytes, mutations: list[tuple[Any, ...]]) -> bytes:
    out = bytearray(data)
    for m in mutations:
        kind, where = m[0], m[1]
        if not out:
            break
        pos = min(int(where * len(out)), len(out) - 1)
        if kind == "flip":
            out[pos] ^= 1 << m[2]
        elif kind == "byte":
            out[pos] = m[2]
        elif kind == "truncate":
            del out[int(where * len(out)) :]
        elif kind == "insert":
            out[pos:pos] = m[2]
        elif kind == "delete":
            del out[pos : pos + m[2]]
        else:  # corrupt a length field of a record or block
            fields = record_offsets(bytes(out))
            if fields:
                offset, width = fields[min(int(where * len(fields)), len(fields) - 1)]
                big = (
                    out[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
                    or out[8:12] == b"\x1a\x2b\x3c\x4d"
                )
                out[offset : offset + width] = m[2].to_bytes(width, "big" if big else "little")
    return bytes(out)


@fuzz_settings(150)
@given(
    name=st.sampled_from(SMALL_CAPTURES),
    mutations=st.lists(mutation, min_size=1, max_size=4),
)
def test_mutated_real_captures(
    tmp_path_factory: pytest.TempPathFactory, name: str, mutations: list
) -> None:
    data = mutate((CAPTURES / name).read_bytes(), mutations)
    path = tmp_path_factory.mktemp("fuzz") / "mutated"
    path.write_bytes(data)
    s = checked_scan(path)
    if s is None:  # only a file that is not (or no longer) a capture may be refused
        assert data[:4] != PCAPNG_MAGIC
        assert data[:4] not in PCAP_MAGICS or len(data) < 24
        return
    assert data[:4] in PCAP_MAGICS or data[:4] == PCAPNG_MAGIC or data[:2] == GZIP_MAGIC
    if data[:4] in PCAP_MAGICS:
        check_pcap_count(s, data)
    # the same bytes read in small chunks give the same observations
    small = checked_scan(path, chunk_size=4096)
    assert small is not None
    same_result(s, small)


# ------------------------------------------------------------------------------ pcapng blocks

_u64 = st.integers(0, 2**64 - 1)
block = st.one_of(
    st.tuples(st.just("shb"), st.booleans()),
    st.tuples(
        st.just("idb"),
        st.sampled_from(LINK_TYPES),
        st.integers(0, 2**32 - 1),
        st.none() | st.integers(0, 255),
        st.none() | st.integers(-(2**63), 2**63 - 1),
    ),
    st.tuples(st.just("epb"), st.integers(0, 3), _u64, frame_bytes()),
    st.tuples(st.just("spb"), frame_bytes()),
    st.tuples(st.just("opb"), st.integers(0, 3), _u64, frame_bytes()),
    st.tuples(st.just("nrb")),
    st.tuples(st.just("isb"), st.integers(0, 3), _u64),
    st.tuples(st.just("custom"), st.binary(max_size=64)),
)


def build_pcapng(big: bool, blocks: list[tuple[Any, ...]]) -> tuple[bytes, int]:
    """The file and the number of frames tshark numbers in it (packet and custom blocks)."""
    cap = Pcapng().section(big_endian=big)
    packets = 0
    for b in blocks:
        kind = b[0]
        if kind == "shb":
            cap.section(big_endian=b[1])
        elif kind == "idb":
            cap.interface(b[1], snaplen=b[2], tsresol=b[3], tsoffset=b[4])
        elif kind == "epb":
            cap.epb(b[1], b[2], b[3])
        elif kind == "spb":
            cap.spb(b[1])
        elif kind == "opb":
            cap.opb(b[1], b[2], b[3])
        elif kind == "nrb":
            cap.nrb()
        elif kind == "isb":
            cap.isb(b[1], b[2])
        else:
            cap.custom(b[1])
        packets += kind in ("epb", "spb", "opb", "custom")
    return cap.bytes(), packets


@fuzz_settings(200)
@given(big=st.booleans(), blocks=st.lists(block, max_size=25))
def test_random_pcapng_block_sequences(
    tmp_path_factory: pytest.TempPathFactory, big: bool, blocks: list
) -> None:
    data, packets = build_pcapng(big, blocks)
    path = tmp_path_factory.mktemp("fuzz") / "blocks.pcapng"
    path.write_bytes(data)
    s = checked_scan(path)
    assert s is not None
    assert s.result.packets == packets  # every packet and custom block is a frame, as in tshark
    structural = {L.SK_BAD_BLOCK, L.SK_TRUNCATED_AT_EOF, L.SK_RECORD_TOO_LARGE}
    assert not set(s.skips) & {L.SKIP_REASONS[i] for i in structural}
    assert s.result.sections == 1 + sum(b[0] == "shb" for b in blocks)


@fuzz_settings(100)
@given(
    big=st.booleans(),
    blocks=st.lists(block, max_size=12),
    garbage=st.lists(
        st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=24)), min_size=1, max_size=3
    ),
)
def test_pcapng_with_garbage_between_blocks(
    tmp_path_factory: pytest.TempPathFactory, big: bool, blocks: list, garbage: list
) -> None:
    data, _ = build_pcapng(big, blocks)
    out = bytearray(data)
    for where, junk in garbage:
        pos = max(28, int(where * len(out)))  # keep the first section header
        out[pos:pos] = junk
    path = tmp_path_factory.mktemp("fuzz") / "garbage.pcapng"
    path.write_bytes(bytes(out))
    s = checked_scan(path)
    assert s is not None
    small = checked_scan(path, chunk_size=4096)
    assert small is not None
    same_result(s, small)


# ------------------------------------------------------------------------------ regressions

REGRESSIONS = sorted(p for p in FUZZ_DIR.glob("*") if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression_file(path: Path) -> None:
    """Inputs that once broke the engine; the file name says which chunk size they need."""
    chunk = None
    if ".chunk" in path.name:
        chunk = int(path.name.split(".chunk")[1].split(".")[0])
    s = checked_scan(path, chunk_size=chunk)
    if s is not None and path.read_bytes()[:4] in PCAP_MAGICS:
        check_pcap_count(s, path.read_bytes())


def test_fuzz_regressions_are_kept() -> None:
    assert REGRESSIONS, f"no regression files in {FUZZ_DIR}"
