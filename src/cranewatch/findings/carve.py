"""Carving a finding's evidence: the frames it names, into a small pcap, with a manifest.

``carve(ws, finding, out_dir)`` writes, for every capture the finding's evidence names, a
classic pcap holding exactly the named frames (same bytes, link type and timestamps) and a
``manifest.json`` recording the chain of custody: which source file (path, size, SHA-256) each
result came from, the frame numbers, the result's SHA-256, and the evidence files (walk-down
photos) with where they are stored. Every source is re-hashed and must equal the SHA-256 the
evidence names before it is used; it is hashed again while it is read, so a file that changes
during the carve is refused too. Sources are streamed (``cranewatch.capture.records``): memory does not grow
with the capture.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cranewatch._version import __version__
from cranewatch.capture.records import Record, RecordReader
from cranewatch.errors import CaptureError, CranewatchError, QueryError
from cranewatch.findings.model import Finding
from cranewatch.store.workspace import Workspace

CHUNK = 1024 * 1024
MANIFEST = "manifest.json"
PCAP_SNAPLEN = 262144


@dataclass(frozen=True)
class CarvedCapture:
    """One result file: the frames of one source capture."""

    capture_sha256: str
    source: Path
    source_size: int
    frames: list[int]
    result: Path
    result_sha256: str
    result_frames: int
    linktype: int


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence file (walk-down photo) the finding names, verified in the workspace store."""

    sha256: str
    stored: Path
    size: int


@dataclass
class CarveResult:
    finding_key: str
    out_dir: Path
    manifest: Path
    captures: list[CarvedCapture] = field(default_factory=list)
    files: list[EvidenceFile] = field(default_factory=list)


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, streamed."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def workspace_capture_paths(ws: Workspace) -> dict[str, Path]:
    """SHA-256 → the path each capture of the workspace was ingested from."""
    from cranewatch.store.query import run_query

    try:
        table = run_query(ws, "SELECT sha256, path FROM captures WHERE path IS NOT NULL")
    except QueryError:
        return {}  # nothing ingested yet
    return {row["sha256"]: Path(row["path"]) for row in table.to_pylist()}


def match_capture_paths(finding: Finding, paths: Iterable[Path]) -> dict[str, Path]:
    """The user's ``--capture`` files matched to the captures the finding names, by SHA-256.

    A file matching none is assigned to the finding's only capture when there is just one (so
    the verification refuses it with the reason); with several, it is an error.
    """
    wanted = sorted({r.capture_sha256 for r in finding.evidence if r.capture_sha256})
    matched: dict[str, Path] = {}
    for path in paths:
        try:
            sha, _size = file_sha256(path)
        except OSError as exc:
            raise CranewatchError(f"cannot read --capture {path}: {exc.strerror or exc}") from None
        if sha in wanted:
            matched[sha] = path
        elif len(wanted) == 1:
            matched[wanted[0]] = path
        else:
            names = ", ".join(s[:12] for s in wanted)
            raise CranewatchError(
                f"--capture {path} (SHA-256 {sha[:12]}) is none of the captures finding "
                f"{finding.key} names ({names})"
            )
    return matched


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _safe_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key.replace(":", "_"))


def _verify_source(sha: str, path: Path | None, from_user: bool) -> tuple[Path, int]:
    """Check the source exists and hashes to ``sha``; the path and its size."""
    short = sha[:12]
    if path is None:
        raise CranewatchError(
            f"capture {short} is not among this workspace's captures; give the file with "
            "--capture PATH"
        )
    if not path.is_file():
        where = "given with --capture" if from_user else "the capture was ingested from"
        raise CranewatchError(
            f"capture {short}: {path} ({where}) does not exist; give its current place "
            "with --capture PATH"
        )
    try:
        actual, size = file_sha256(path)
    except OSError as exc:
        raise CranewatchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if actual != sha:
        raise CranewatchError(
            f"{path} is not capture {short}: its SHA-256 is {actual[:12]}, the evidence names "
            f"{short}; the file was changed or is another one. Nothing was carved from it; give "
            "the original file with --capture PATH"
        )
    return path, size


class _PcapWriter:
    """A classic little-endian pcap written while hashed."""

    def __init__(self, out: IO[bytes], linktype: int, frac_ns: int) -> None:
        self.out = out
        self.frac_ns = frac_ns
        self.digest = hashlib.sha256()
        magic = 0xA1B2C3D4 if frac_ns == 1000 else 0xA1B23C4D
        self._put(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, PCAP_SNAPLEN, linktype))
        self.count = 0

    def _put(self, data: bytes) -> None:
        self.digest.update(data)
        self.out.write(data)

    def write(self, rec: Record) -> None:
        assert rec.data is not None
        secs, frac = divmod(rec.ts_ns or 0, 1_000_000_000)
        if not 0 <= secs <= 0xFFFFFFFF:
            raise CaptureError(f"frame {rec.frame}: timestamp outside what a classic pcap can hold")
        frac //= self.frac_ns
        self._put(struct.pack("<IIII", secs, frac, len(rec.data), rec.wirelen) + rec.data)
        self.count += 1


def _carve_one(sha: str, source: Path, frames: list[int], result: Path) -> tuple[int, str, int]:
    """Write ``frames`` of ``source`` to ``result``; link type, result SHA-256, frame count."""
    wanted = set(frames)
    picked: list[Record] = []  # at most MAX_FRAMES records per evidence reference
    with RecordReader(source) as reader:
        frac_ns = reader.frac_ns if reader.format == "pcap" else 1
        last = max(wanted)
        kept_bytes = 0
        for rec in reader:
            if rec.frame in wanted:
                if rec.data is None or rec.linktype is None:
                    raise CaptureError(
                        f"frame {rec.frame} of {source} holds no packet to carve "
                        "(a custom block or a packet block too large)"
                    )
                picked.append(rec)
                kept_bytes += len(rec.data)
            if rec.frame >= last:
                break
        stop = reader.stop_reason
        actual, _size = reader.finish()
    if actual != sha:
        raise CranewatchError(
            f"{source} changed while it was read (its SHA-256 is now {actual[:12]}, not "
            f"{sha[:12]}); nothing was carved from it"
        )
    missing = sorted(wanted - {r.frame for r in picked})
    if missing:
        shown = ", ".join(map(str, missing[:10]))
        why = f" ({stop})" if stop else ""
        raise CaptureError(f"{source} has no frame {shown}{why}; is it the right capture?")
    linktypes = sorted({r.linktype for r in picked if r.linktype is not None})
    if len(linktypes) != 1:
        raise CaptureError(
            f"the frames of {source} named by the finding have link types {linktypes}; "
            "carving frames of several link types into one file is not supported"
        )
    fd, temp_name = tempfile.mkstemp(prefix=".carve-", dir=result.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _PcapWriter(out, linktypes[0], frac_ns)
            for rec in picked:
                writer.write(rec)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, result)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return linktypes[0], writer.digest.hexdigest(), writer.count


def carve(
    ws: Workspace,
    finding: Finding,
    out_dir: Path,
    *,
    capture_paths: dict[str, Path] | None = None,
) -> CarveResult:
    """Carve the frames behind ``finding`` into ``out_dir`` and write its manifest.

    ``capture_paths`` (SHA-256 → file) overrides where a capture is looked for; otherwise the
    path it was ingested from (the ``captures`` table) is used. Every source and evidence file
    is verified against its SHA-256 before anything is written; a missing or changed one raises
    ``CranewatchError`` saying which and what to do.
    """
    given = capture_paths or {}
    frames_of: dict[str, set[int]] = {}
    for ref in finding.evidence:
        if ref.capture_sha256:
            frames_of.setdefault(ref.capture_sha256, set()).update(ref.frames)
    files = sorted({r.file_sha256 for r in finding.evidence if r.file_sha256})
    with_frames = {sha: sorted(f) for sha, f in frames_of.items() if f}
    if not with_frames and not files:
        raise CranewatchError(
            f"finding {finding.key} names no frames and no evidence files to carve"
        )
    ingested = workspace_capture_paths(ws) if any(s not in given for s in with_frames) else {}

    # verify everything before writing anything
    sources: dict[str, tuple[Path, int]] = {}
    for sha in with_frames:
        path = given.get(sha) or ingested.get(sha)
        sources[sha] = _verify_source(sha, path, sha in given)
    store = ws.root / "evidence"
    evidence_files = []
    for sha in files:
        stored = store / "sha256" / sha[:2] / sha
        if not stored.is_file():
            raise CranewatchError(
                f"evidence file {sha[:12]} is not in the workspace's store ({stored}); import "
                "its walk-down again with `cranewatch evidence import`"
            )
        actual, size = file_sha256(stored)
        if actual != sha:
            raise CranewatchError(
                f"evidence file {stored} no longer matches its SHA-256 ({actual[:12]}); the "
                "store was changed: import the original again with `cranewatch evidence import`"
            )
        evidence_files.append(EvidenceFile(sha, stored, size))

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CranewatchError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    result = CarveResult(finding.key, out_dir, out_dir / MANIFEST, files=evidence_files)
    for sha, frames in with_frames.items():
        source, size = sources[sha]
        target = out_dir / f"{_safe_name(finding.key)}-{sha[:12]}.pcap"
        linktype, result_sha, count = _carve_one(sha, source, frames, target)
        result.captures.append(
            CarvedCapture(sha, source, size, frames, target, result_sha, count, linktype)
        )
    _write_manifest(result, finding, sorted(set(frames_of) - set(with_frames)))
    return result


def _write_manifest(result: CarveResult, finding: Finding, frameless: list[str]) -> None:
    manifest: dict[str, Any] = {
        "finding": finding.key,
        "rule": finding.rule,
        "summary": finding.summary,
        "carved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "carved_by": _login(),
        "cranewatch_version": __version__,
        "captures": [
            {
                "source": str(c.source.absolute()),
                "source_sha256": c.capture_sha256,
                "source_sha256_verified": True,
                "source_size": c.source_size,
                "frames": c.frames,
                "link_type": c.linktype,
                "result": c.result.name,
                "result_sha256": c.result_sha256,
                "result_frames": c.result_frames,
            }
            for c in result.captures
        ],
        "captures_without_frames": frameless,
        "evidence_files": [
            {"sha256": f.sha256, "stored": str(f.stored), "size": f.size, "verified": True}
            for f in result.files
        ],
    }
    temp = result.manifest.with_name(f".{MANIFEST}.tmp")
    temp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, result.manifest)
