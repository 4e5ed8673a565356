"""The capture reader: format recognition by content, SHA-256 of the stored bytes, gzip.

``sniff_format`` and ``PcapHeader`` are checked on inline header bytes (the four classic pcap
magics and pcapng); ``FileHasher``, ``ContentReader`` and the engine on files built by
tests/capture_builder.py:
the SHA-256 must be hashlib's over the file as stored (the compressed bytes for .gz), one or
several gzip members must give the same frames as the plain file, and a cut-off or corrupt
gzip stream must keep the frames before the damage and count the damage as a skip.
"""

from __future__ import annotations

import gzip
import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.capture_builder import (
    ETH_IPV4,
    LINKTYPE_ETHERNET,
    Packet,
    Pcapng,
    ether,
    gzip_members,
    ipv4,
    pcap,
    udp,
)
from tests.runners import scan

from cranewatch.capture import _sha256_file, reader
from cranewatch.capture.discovery import looks_like_capture
from cranewatch.capture.reader import (
    ContentReader,
    FileHasher,
    PcapHeader,
    StreamState,
    sniff_format,
)
from cranewatch.engine._kernels import layout as L
from cranewatch.errors import CaptureError, UnknownFormatError

SEC = 1_000_000_000
COMPRESSION = L.SKIP_REASONS[L.SK_COMPRESSION]
CUT_AT_EOF = L.SKIP_REASONS[L.SK_TRUNCATED_AT_EOF]


def frame(port: int, size: int = 0) -> bytes:
    return ether(
        "00:1b:1b:00:00:02", "00:1e:42:00:00:01", ETH_IPV4,
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(port, 9, bytes(size))),
    )  # fmt: skip


def many_frames(n: int, size: int = 200) -> list[Packet]:
    """``n`` frames, one UDP flow per 100 frames, timestamps 1 ms apart."""
    return [Packet(i * 1_000_000, frame(1000 + i // 100, size)) for i in range(n)]


# ------------------------------------------------------------------------------ sniffing

# the 24-byte global headers as written by libpcap (version 2.4, snaplen 65535, Ethernet)
HEADERS = {
    "le-usec": "d4c3b2a1020004000000000000000000ffff000001000000",
    "be-usec": "a1b2c3d40002000400000000000000000000ffff00000001",
    "le-nsec": "4d3cb2a1020004000000000000000000ffff000001000000",
    "be-nsec": "a1b23c4d0002000400000000000000000000ffff00000001",
}


@pytest.mark.parametrize(
    ("name", "big", "frac_ns"),
    [
        ("le-usec", False, 1000),
        ("be-usec", True, 1000),
        ("le-nsec", False, 1),
        ("be-nsec", True, 1),
    ],
)
def test_pcap_magics(name: str, big: bool, frac_ns: int) -> None:
    head = bytes.fromhex(HEADERS[name])
    assert sniff_format(head) == "pcap"
    h = PcapHeader.parse(head)
    assert (h.big_endian, h.frac_ns, h.version, h.snaplen, h.linktype) == (
        big,
        frac_ns,
        (2, 4),
        65535,
        1,
    )


def test_fcs_bits_of_the_link_type_are_ignored() -> None:
    # pcap-savefile(5): bits 28-31 of the link-type field say whether frames carry an FCS
    head = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000010")
    assert PcapHeader.parse(head).linktype == 1


def test_pcapng_magic() -> None:
    assert sniff_format(Pcapng().section().bytes()) == "pcapng"


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "the file is empty"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "47 45 54 20 2f 20 48 54"),
        (bytes.fromhex("d4c3b2a10200"), "pcap global header cut off (6 of 24 bytes)"),
    ],
    ids=["empty", "http", "short-pcap-header"],
)
def test_unknown_formats(head: bytes, message: str) -> None:
    with pytest.raises(UnknownFormatError) as err:
        sniff_format(head)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_formats_decode_the_same(tmp_path: Path, big: bool, nanos: bool) -> None:
    packets = [Packet(SEC + 123_456_000, frame(1)), Packet(2 * SEC + 999_999_000, frame(1, 10))]
    path = tmp_path / "f.pcap"
    path.write_bytes(pcap(packets, big_endian=big, nanos=nanos))
    s = scan(path)
    assert (s.result.format, s.result.compression, s.result.packets) == ("pcap", None, 2)
    (flow,) = s.flows
    assert (flow["first_ts"], flow["last_ts"]) == (SEC + 123_456_000, 2 * SEC + 999_999_000)
    assert flow["bytes"] == 42 + 52


def test_nanosecond_timestamps_keep_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    path.write_bytes(pcap([Packet(SEC + 1, frame(1))], nanos=True))
    assert scan(path).flows[0]["first_ts"] == SEC + 1
    path.write_bytes(pcap([Packet(SEC + 1, frame(1))], nanos=False))
    assert scan(path).flows[0]["first_ts"] == SEC  # microseconds cannot hold it


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
@pytest.mark.parametrize("compressed", [False, True])
def test_format_recognised_by_content_not_name(tmp_path: Path, kind: str, compressed: bool) -> None:
    if kind == "pcap":
        data = pcap([Packet(SEC, frame(1))])
    else:
        cap = Pcapng().section()
        cap.interface(LINKTYPE_ETHERNET)
        data = cap.packet(0, SEC, frame(1)).bytes()
    if compressed:
        data = gzip.compress(data)
    path = tmp_path / "capture.txt"  # the name says nothing
    path.write_bytes(data)
    assert looks_like_capture(path)
    s = scan(path)
    assert (s.result.format, s.result.compression) == (kind, "gzip" if compressed else None)
    assert s.result.packets == 1 and len(s.flows) == 1


# ------------------------------------------------------------------------------ SHA-256


def read_content(path: Path, chunk_size: int) -> tuple[bytes, StreamState]:
    """Everything ``ContentReader`` delivers, read ``chunk_size`` bytes at a time."""
    reader = ContentReader(path, chunk_size)
    view = memoryview(bytearray(chunk_size))
    parts = []
    try:
        while n := reader.readinto(view):
            parts.append(bytes(view[:n]))
    finally:
        reader.close()
    return b"".join(parts), reader.state


@pytest.mark.parametrize("chunk_size", [4096, 65537, 4 << 20])
@pytest.mark.parametrize("compressed", [False, True])
def test_sha256_is_hashlib_of_the_stored_bytes(
    tmp_path: Path, chunk_size: int, compressed: bool
) -> None:
    data = pcap(many_frames(2000))
    if compressed:
        data = gzip_members(data, members=2)
    path = tmp_path / "c.pcap"
    path.write_bytes(data)
    assert FileHasher(path, chunk_size).result() == (hashlib.sha256(data).hexdigest(), len(data))
    content, state = read_content(path, chunk_size)
    assert state.raw_bytes == len(data) == path.stat().st_size
    assert state.compression == ("gzip" if compressed else None)
    assert content == (gzip.decompress(data) if compressed else data)
    r = scan(path, chunk_size=chunk_size).result
    assert (r.sha256, r.size) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize("in_child", [False, True], ids=["thread", "child"])
def test_sha256_of_an_empty_file(tmp_path: Path, in_child: bool) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert FileHasher(path, in_child=in_child).result() == (hashlib.sha256(b"").hexdigest(), 0)
    assert read_content(path, 4096)[0] == b""


def test_a_child_process_hashes_like_the_thread(tmp_path: Path) -> None:
    data = pcap(many_frames(3000)) * 8  # 5 MB: more than one of its 4 MiB reads
    path = tmp_path / "c.pcap"
    path.write_bytes(data)
    expected = (hashlib.sha256(data).hexdigest(), len(data))
    child = FileHasher(path, in_child=True)
    assert child._process is not None  # it really ran in a child process
    assert child.result() == expected == FileHasher(path, in_child=False).result()
    assert child.result() == expected  # asked again
    child.cancel()  # after the end: nothing to stop
    assert child.result() == expected


def test_large_files_hash_in_a_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(b"x" * 1000)
    monkeypatch.setattr(reader, "CHILD_HASH_MIN_BYTES", 1000)
    big = FileHasher(path)
    monkeypatch.setattr(reader, "CHILD_HASH_MIN_BYTES", 1001)
    small = FileHasher(path)
    assert (big._process is not None, small._process is not None) == (True, False)
    assert big.result() == small.result() == (hashlib.sha256(b"x" * 1000).hexdigest(), 1000)


def test_a_child_hash_can_be_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(b"\0" * (8 << 20))
    hasher = FileHasher(path, in_child=True)
    hasher.cancel()
    assert hasher._process is not None and hasher._process.returncode is not None
    hasher.cancel()  # twice is harmless


def test_a_child_that_cannot_read_says_why(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"cannot read .*: Is a directory"):
        FileHasher(tmp_path, in_child=True).result()


def test_the_child_script_alone(tmp_path: Path) -> None:
    script = Path(reader.__file__).with_name("_sha256_file.py")
    path = tmp_path / "c.pcap"
    path.write_bytes(b"abc" * 5000)
    ok = subprocess.run([sys.executable, "-I", "-S", str(script), str(path)], capture_output=True)
    assert (ok.returncode, ok.stdout.decode()) == (
        0,
        f"{hashlib.sha256(b'abc' * 5000).hexdigest()} 15000\n",
    )
    usage = subprocess.run([sys.executable, "-I", "-S", str(script)], capture_output=True)
    assert usage.returncode == 2 and b"usage" in usage.stderr
    missing = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(tmp_path / "nope")], capture_output=True
    )
    assert missing.returncode == 1 and b"No such file" in missing.stderr


def test_the_child_hashes_a_mapped_file_in_pieces(tmp_path: Path) -> None:
    """The child script hashes from a memory map, piece by piece, the same as a read; an
    empty file (which cannot be mapped) is read."""
    path = tmp_path / "c.pcap"
    data = bytes(range(256)) * 97  # not a whole number of pieces
    path.write_bytes(data)
    assert _sha256_file.sha256_of_mapped(str(path), 4096) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    path.write_bytes(b"")
    assert _sha256_file.sha256_of_mapped(str(path)) == (hashlib.sha256(b"").hexdigest(), 0)


def test_a_file_cut_short_under_the_child_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file truncated while the child hashes its map kills the child with SIGBUS (made
    certain here: a driver around the script cuts the file right after mapping it); the
    parent says what happened."""
    path = tmp_path / "c.pcap"
    path.write_bytes(b"\1" * (1 << 20))
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(_sha256_file.__file__).parent)!r})\n"
        "import _sha256_file as h\n"
        "real = h.hashlib.sha256\n"
        "class CutFirst:\n"
        "    def __init__(self): self.digest = real()\n"
        "    def update(self, piece):\n"
        "        os.truncate(sys.argv[1], 0)\n"
        "        self.digest.update(piece)\n"
        "h.hashlib.sha256 = CutFirst\n"
        "sys.exit(h.main(sys.argv))\n"
    )
    monkeypatch.setattr(reader, "_CHILD_SCRIPT", driver)
    hasher = FileHasher(path, in_child=True)
    with pytest.raises(CaptureError, match="could not be read while it was hashed: it got shorter"):
        hasher.result()
    assert hasher._process is not None and hasher._process.returncode == -signal.SIGBUS


def test_sha256_covers_bytes_after_a_gzip_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(pcap(many_frames(3000)), compresslevel=1))
    data[len(data) // 2] ^= 0xFF  # corrupt the deflate stream in the middle
    path = tmp_path / "bad.pcap.gz"
    path.write_bytes(bytes(data))
    _, state = read_content(path, 4096)
    assert state.error is not None
    r = scan(path, chunk_size=4096).result
    assert (r.sha256, r.size) == (hashlib.sha256(bytes(data)).hexdigest(), len(data))


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        ContentReader(tmp_path / "nope.pcap")
    for in_child in (False, True):
        with pytest.raises(CaptureError, match="cannot read"):
            FileHasher(tmp_path / "nope.pcap", in_child=in_child).result()
    with pytest.raises(CaptureError, match="cannot read"):
        scan(tmp_path / "nope.pcap")


# ------------------------------------------------------------------------------ gzip


@pytest.mark.parametrize("members", [1, 2, 7])
def test_gzip_members_give_the_plain_result(tmp_path: Path, members: int) -> None:
    data = pcap(many_frames(3000))
    plain = tmp_path / "plain.pcap"
    plain.write_bytes(data)
    packed = tmp_path / "packed.pcap.gz"
    packed.write_bytes(gzip_members(data, members))
    a, b = scan(plain), scan(packed, chunk_size=8192)
    assert b.result.compression == "gzip" and b.skips == {} and b.result.notes == []
    assert b.flows == a.flows
    assert b.result.packets == a.result.packets == 3000


@pytest.mark.parametrize("extra", [0, 1, 2, 10])
def test_gzip_member_boundary_on_a_read_boundary(tmp_path: Path, extra: int) -> None:
    """The reader's chunk ends exactly at (or just after) the end of a gzip member."""
    data = pcap(many_frames(600))
    first = gzip.compress(data[:20000], mtime=0)
    second = gzip.compress(data[20000:], mtime=0)
    path = tmp_path / "two.pcap.gz"
    path.write_bytes(first + second)
    content, state = read_content(path, len(first) + extra)
    assert (state.error, state.notes) == (None, [])
    assert content == data


def test_gzip_cut_off_keeps_the_frames_before(tmp_path: Path) -> None:
    data = gzip.compress(pcap(many_frames(5000)))
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    s = scan(path, chunk_size=16384)
    assert s.skips.get(COMPRESSION) == 1
    assert s.skips.get(CUT_AT_EOF, 0) <= 1  # the record the cut went through, if any
    assert "compressed stream cut off before its end" in s.result.notes
    assert 1000 < s.result.packets < 5000
    assert s.result.decoded == s.result.packets
    assert sum(f["packets"] for f in s.flows) == s.result.packets
    assert s.result.sha256 == hashlib.sha256(data[: len(data) * 2 // 3]).hexdigest()


def stored_block_offsets(gz: bytes) -> list[int]:
    """Offsets of the deflate stored blocks of a level-0 gzip member (RFC 1951 3.2.4)."""
    offsets, pos = [], 10  # after the 10-byte gzip header (no optional fields)
    while True:
        length = int.from_bytes(gz[pos + 1 : pos + 3], "little")
        assert length == ~int.from_bytes(gz[pos + 3 : pos + 5], "little") & 0xFFFF
        offsets.append(pos)
        if gz[pos] & 1:  # the final block
            return offsets
        pos += 5 + length


def test_gzip_corrupt_keeps_the_frames_before(tmp_path: Path) -> None:
    content = pcap(many_frames(5000))
    data = bytearray(gzip.compress(content, compresslevel=0))
    blocks = stored_block_offsets(bytes(data))
    assert len(blocks) > 10
    data[blocks[10] + 3] ^= 0xFF  # NLEN of the 11th block no longer matches LEN
    path = tmp_path / "corrupt.pcap.gz"
    path.write_bytes(bytes(data))
    s = scan(path, chunk_size=16384)
    assert s.skips.get(COMPRESSION) == 1
    assert any(n.startswith("compressed stream corrupt") for n in s.result.notes)
    delivered = blocks[10] - blocks[0] - 5 * 10  # content bytes of the ten good blocks
    expected, _ = divmod(delivered - 24, len(many_frames(1)[0].data) + 16)
    assert s.result.packets == expected
    assert s.skips.get(CUT_AT_EOF, 0) <= 1
    flows = {f["src_port"]: f for f in s.flows if f["proto"] == 17}
    assert sum(f["packets"] for f in flows.values()) == expected
    assert all(flows[1000 + i]["packets"] == 100 for i in range(expected // 100))


def test_gzip_without_any_content_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "header.gz"
    path.write_bytes(gzip.compress(b"")[:10])
    with pytest.raises(CaptureError, match="gzip file unreadable") as err:
        scan(path)
    assert "\n" not in str(err.value)


def test_empty_gzip_member_is_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(UnknownFormatError, match="the file is empty"):
        scan(path)


def test_trailing_garbage_after_gzip_is_noted(tmp_path: Path) -> None:
    data = gzip.compress(pcap(many_frames(300)))
    path = tmp_path / "trailing.pcap.gz"
    path.write_bytes(data + b"this is not gzip")
    s = scan(path)
    assert s.result.packets == 300 and s.skips == {}
    assert "16 bytes after the last gzip member ignored" in s.result.notes
    assert s.result.sha256 == hashlib.sha256(data + b"this is not gzip").hexdigest()


def test_trailing_zeros_after_gzip_are_not_noted(tmp_path: Path) -> None:
    # tape and block devices pad files with zeros; gzip(1) ignores them too
    path = tmp_path / "padded.pcap.gz"
    path.write_bytes(gzip.compress(pcap(many_frames(300))) + bytes(512))
    s = scan(path)
    assert (s.result.packets, s.skips, s.result.notes) == (300, {}, [])


def test_gzip_of_random_bytes_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "random.gz"
    path.write_bytes(gzip.compress(b"\x00\x01\x02\x03 not a capture at all, really" * 3))
    with pytest.raises(UnknownFormatError, match="not a pcap or pcapng capture"):
        scan(path)
