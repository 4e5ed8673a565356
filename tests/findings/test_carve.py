"""Carving a finding's frames: exact frames, verified hashes, refused sources, the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from tests import capture_builder as cb

from cranewatch.capture.records import RecordReader, units_to_ns
from cranewatch.errors import CaptureError, CranewatchError
from cranewatch.findings.carve import carve, match_capture_paths
from cranewatch.findings.model import EvidenceRef, Finding, Severity, State, Subject, finding_key
from cranewatch.ingest import ingest_paths
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.registry.findings_store import RunInfo
from cranewatch.store.workspace import Workspace

T0 = 1_772_352_000_000_000_000  # 2026-03-01T08:00Z in ns
FRAMES = [2, 5, 6]


def frame(n: int) -> bytes:
    payload = cb.udp(40000 + n, 502, bytes([n]) * (10 + n))
    return cb.ether(
        "00:1e:42:00:00:01", "00:1e:42:00:00:02", cb.ETH_IPV4,
        cb.ipv4("10.20.1.2", "10.20.1.1", 17, payload),
    )  # fmt: skip


PACKETS = [cb.Packet(T0 + n * 1_234_567, frame(n)) for n in range(1, 9)]


def pcap_bytes(nanos: bool = False, big_endian: bool = False) -> bytes:
    return cb.pcap(PACKETS, nanos=nanos, big_endian=big_endian)


def pcapng_bytes() -> bytes:
    cap = cb.Pcapng()
    cap.section()
    eth = cap.interface(cb.LINKTYPE_ETHERNET, tsresol=9)
    for p in PACKETS:
        cap.packet(eth, p.ts_ns, p.data)
    return cap.bytes()


def make_finding(sha: str, frames: list[int] = FRAMES, file_sha: str | None = None) -> Finding:
    return Finding(
        key=finding_key("CW-TEST-001", "T1", sha),
        rule="CW-TEST-001",
        rule_version=1,
        pack="test",
        title="Undeclared modem",
        severity=Severity.HIGH,
        confidence=0.9,
        techniques=["T0883"],
        attack_version="ATT&CK for ICS v15",
        state=State.ACTIVITY,
        subject=Subject(site="T1", ip="10.20.1.2"),
        summary="modem talks Modbus",
        evidence=[
            EvidenceRef(capture_sha256=sha, frames=frames[:2]),
            EvidenceRef(capture_sha256=sha, frames=frames[2:], file_sha256=file_sha),
        ],
    )


def ingested(tmp_path: Path, name: str, data: bytes) -> tuple[Workspace, Path, str]:
    capture = cb.write(tmp_path / name, data)
    ws = Workspace.open(tmp_path / "ws", create=True)
    ingest_paths(ws, [capture])
    return ws, capture, hashlib.sha256(data).hexdigest()


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_pcap(frames: list[int], nanos: bool) -> bytes:
    chosen = [PACKETS[n - 1] for n in frames]
    return cb.pcap(chosen, nanos=nanos)


@pytest.mark.parametrize(
    ("name", "data", "nanos"),
    [
        ("a.pcap", pcap_bytes(), False),
        ("b.pcap", pcap_bytes(nanos=True, big_endian=True), True),
        ("c.pcapng", pcapng_bytes(), True),
        ("d.pcapng.gz", cb.gzip_members(pcapng_bytes(), members=3), True),
        ("e.pcap.gz", cb.gzip_members(pcap_bytes()), False),
    ],
)
def test_carve_writes_exactly_the_frames(
    tmp_path: Path, name: str, data: bytes, nanos: bool
) -> None:
    ws, capture, sha = ingested(tmp_path, name, data)
    finding = make_finding(sha)
    result = carve(ws, finding, tmp_path / "out")

    [carved] = result.captures
    assert carved.result.name == f"{finding.key.replace(':', '_')}-{sha[:12]}.pcap"
    body = carved.result.read_bytes()
    # header + records byte for byte (snap length and link type as the builder writes them)
    assert body == expected_pcap(FRAMES, nanos)
    with RecordReader(carved.result) as reader:
        records = list(reader)
    assert [r.data for r in records] == [PACKETS[n - 1].data for n in FRAMES]
    unit = 1 if nanos else 1000  # the source's own resolution
    assert [r.ts_ns for r in records] == [PACKETS[n - 1].ts_ns // unit * unit for n in FRAMES]

    manifest = json.loads(result.manifest.read_text())
    assert manifest["finding"] == finding.key
    assert manifest["rule"] == "CW-TEST-001"
    assert manifest["summary"] == "modem talks Modbus"
    assert manifest["cranewatch_version"]
    assert dt.datetime.fromisoformat(manifest["carved_at"]).tzinfo is not None
    [entry] = manifest["captures"]
    assert entry["source"] == str(capture.absolute())
    assert entry["source_sha256"] == sha == sha_of(capture)
    assert entry["source_size"] == capture.stat().st_size
    assert entry["frames"] == FRAMES
    assert entry["result_sha256"] == sha_of(carved.result)
    assert entry["result_frames"] == 3
    assert (tmp_path / "out" / entry["result"]) == carved.result


def test_a_changed_source_is_refused(tmp_path: Path) -> None:
    ws, capture, sha = ingested(tmp_path, "a.pcap", pcap_bytes())
    changed = bytearray(capture.read_bytes())
    changed[-1] ^= 0xFF
    copy = cb.write(tmp_path / "copy.pcap", bytes(changed))
    finding = make_finding(sha)
    paths = match_capture_paths(finding, [copy])
    with pytest.raises(CranewatchError, match=r"is not capture .*--capture PATH"):
        carve(ws, finding, tmp_path / "out", capture_paths=paths)
    assert not (tmp_path / "out").exists()
    # the same file changed in place
    capture.write_bytes(bytes(changed))
    with pytest.raises(CranewatchError, match="changed or is another one"):
        carve(ws, finding, tmp_path / "out")


def test_a_missing_source_says_what_to_do(tmp_path: Path) -> None:
    ws, capture, sha = ingested(tmp_path, "a.pcap", pcap_bytes())
    moved = capture.rename(tmp_path / "moved.pcap")
    finding = make_finding(sha)
    with pytest.raises(
        CranewatchError, match=r"does not exist; give its current place with --capture PATH"
    ):
        carve(ws, finding, tmp_path / "out")
    result = carve(
        ws, finding, tmp_path / "out", capture_paths=match_capture_paths(finding, [moved])
    )
    assert result.captures[0].source == moved
    with pytest.raises(CranewatchError, match="not among this workspace's captures"):
        carve(ws, make_finding("0" * 64), tmp_path / "out")


def test_frames_not_in_the_capture(tmp_path: Path) -> None:
    ws, _capture, sha = ingested(tmp_path, "a.pcap", pcap_bytes())
    with pytest.raises(CaptureError, match="has no frame 42"):
        carve(ws, make_finding(sha, frames=[1, 2, 42]), tmp_path / "out")


def test_mixed_link_types_are_refused(tmp_path: Path) -> None:
    cap = cb.Pcapng()
    cap.section()
    eth = cap.interface(cb.LINKTYPE_ETHERNET)
    raw = cap.interface(cb.LINKTYPE_RAW)
    cap.packet(eth, T0, frame(1))
    cap.packet(raw, T0 + 1000, cb.ipv4("10.0.0.1", "10.0.0.2", 17, cb.udp(1, 2)))
    cap.packet(eth, T0 + 2000, frame(3))
    ws, _capture, sha = ingested(tmp_path, "mixed.pcapng", cap.bytes())
    with pytest.raises(CaptureError, match="several link types"):
        carve(ws, make_finding(sha, frames=[1, 2]), tmp_path / "out")
    result = carve(ws, make_finding(sha, frames=[1, 3]), tmp_path / "out")
    assert result.captures[0].result_frames == 2


def test_evidence_files_are_verified(tmp_path: Path) -> None:
    ws, _capture, sha = ingested(tmp_path, "a.pcap", pcap_bytes())
    photo = b"\xff\xd8\xff photo bytes"
    photo_sha = hashlib.sha256(photo).hexdigest()
    finding = make_finding(sha, file_sha=photo_sha)
    with pytest.raises(CranewatchError, match="evidence import"):
        carve(ws, finding, tmp_path / "out")
    stored = ws.root / "evidence" / "sha256" / photo_sha[:2] / photo_sha
    stored.parent.mkdir(parents=True)
    stored.write_bytes(photo)
    result = carve(ws, finding, tmp_path / "out")
    manifest = json.loads(result.manifest.read_text())
    assert manifest["evidence_files"] == [
        {"sha256": photo_sha, "stored": str(stored), "size": len(photo), "verified": True}
    ]
    stored.write_bytes(photo + b"x")
    with pytest.raises(CranewatchError, match="no longer matches"):
        carve(ws, finding, tmp_path / "out")


def test_pcapng_timestamp_resolutions() -> None:
    assert units_to_ns(1_500_000, 6, 0) == 1_500_000_000
    assert units_to_ns(3 << 20 | 1 << 19, 0x80 | 20, 10) == 13_500_000_000
    assert units_to_ns(12_345, 12, 0) == 12


def test_cli_carves_a_stored_finding(tmp_path: Path) -> None:
    from tests.runners import run_cli

    import cranewatch.cli.carve  # noqa: F401 - registers `evidence carve`

    ws, capture, sha = ingested(tmp_path, "a.pcapng.gz", cb.gzip_members(pcapng_bytes()))
    finding = make_finding(sha)
    run = RunInfo(id="run-1", at=dt.datetime.now(dt.UTC), actor="ana", version="test",
                  rules=["CW-TEST-001"], captures=[sha])  # fmt: skip
    with Registry.open(registry_url(ws.root, None)) as registry:
        registry.save_analysis(run, [finding])

    out = tmp_path / "carved"
    res = run_cli("-w", ws.root, "evidence", "carve", finding.key, "-o", out)
    assert res.code == 0, res.err
    target = out / f"{finding.key.replace(':', '_')}-{sha[:12]}.pcap"
    assert "wrote" in res.out and "manifest.json" in res.out
    assert target.read_bytes() == expected_pcap(FRAMES, nanos=True)

    changed = bytearray(capture.read_bytes())
    changed[20] ^= 0x01
    bad = cb.write(tmp_path / "bad.pcapng.gz", bytes(changed))
    res = run_cli("-w", ws.root, "evidence", "carve", finding.key, "-o", out, "--capture", bad)
    assert res.code != 0
    assert "--capture PATH" in res.err

    res = run_cli("-w", ws.root, "evidence", "carve", "CW-NOPE-001:00", "-o", out)
    assert res.code != 0 and "no finding" in res.err
