"""Walk-down photos: hashed, typed by content, stored content-addressed and atomically, verified
later (chain of custody), and never read from outside the evidence file's folder.

The photos are real files made here with the standard library: a PNG (zlib + struct) and a
minimal baseline JPEG (one grey 8x8 block with one-code Huffman tables).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from cranewatch.fleet import photos as photos_module
from cranewatch.fleet.evidence import read_evidence, verify_photo_store
from cranewatch.fleet.photos import media_type_of, stored_path
from cranewatch.fleet.problems import FleetInputError, Problem

DATA = Path(__file__).parent / "data" / "evidence"


def png_bytes(width: int, height: int, shade: int = 0) -> bytes:
    """A valid greyscale PNG with a diagonal line."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + bytes(shade if x == y else 255 for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    """A 1x1 grey baseline JPEG: one block whose DC difference and AC coefficients are zero."""

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    one_code = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1 for symbol 0
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, b"\x00" + bytes([1] * 64))
        + segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code)
        + segment(0xC4, b"\x10" + one_code)
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # DC category 0 ("0"), end of block ("0"), padded with ones
        + b"\xff\xd9"
    )


@pytest.fixture
def walkdown_folder(tmp_path: Path) -> Path:
    """The real-shaped walk-down sheet with its two photos next to it."""
    folder = tmp_path / "visit"
    (folder / "photos").mkdir(parents=True)
    shutil.copy(DATA / "walkdown.csv", folder / "walkdown.csv")
    (folder / "photos" / "cabinet.png").write_bytes(png_bytes(32, 24))
    (folder / "photos" / "label.jpg").write_bytes(jpeg_bytes())
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def problems_of(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(FleetInputError) as caught:
        read_evidence(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def sheet(folder: Path, photo_cell: str) -> Path:
    path = folder / "wd.csv"
    path.write_text(
        "id,crane,description,photos,inspector,date\n"
        f'w1,STS03,router,"{photo_cell}",A. Visser,2024-04-09\n',
        encoding="utf-8",
    )
    return path


def test_walkdown_with_two_photos_is_hashed_and_typed(walkdown_folder: Path) -> None:
    evidence = read_evidence(walkdown_folder / "walkdown.csv")
    modem, antenna, plc = evidence.walkdowns
    assert [p.filename for p in modem.photos] == ["photos/cabinet.png", "photos/label.jpg"]
    cabinet, label = modem.photos
    assert cabinet.sha256 == sha256(walkdown_folder / "photos" / "cabinet.png")
    assert label.sha256 == sha256(walkdown_folder / "photos" / "label.jpg")
    assert (cabinet.media_type, label.media_type) == ("image/png", "image/jpeg")
    assert modem.label.mac == "00:1e:42:2b:7c:91"  # "00-1E-42-2B-7C-91" normalized
    assert antenna.photos == [] and antenna.description.endswith("into the E-room")
    assert plc.photos == [cabinet]  # the same file referenced twice


def test_photo_store_is_content_addressed_and_stores_once(
    walkdown_folder: Path, tmp_path: Path
) -> None:
    store = tmp_path / "ws" / "evidence"
    evidence = read_evidence(walkdown_folder / "walkdown.csv", photo_store=store)
    stored = sorted(p for p in store.rglob("*") if p.is_file())
    hashes = {p.sha256 for w in evidence.walkdowns for p in w.photos}
    assert len(stored) == len(hashes) == 2
    for digest in hashes:
        path = store / "sha256" / digest[:2] / digest
        assert path == stored_path(store, digest) and sha256(path) == digest
        assert path.stat().st_mode & 0o222 == 0  # stored read-only
    # the same photo under another name, imported again: still stored once, and not rewritten
    before = {p: p.stat().st_mtime_ns for p in stored}
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(walkdown_folder / "photos" / "cabinet.png", second / "copy-of-cabinet.png")
    read_evidence(sheet(second, "copy-of-cabinet.png"), photo_store=store)
    after = sorted(p for p in store.rglob("*") if p.is_file())
    assert after == stored and {p: p.stat().st_mtime_ns for p in after} == before
    assert verify_photo_store(store) == []


def test_verify_detects_a_tampered_and_a_foreign_file(
    walkdown_folder: Path, tmp_path: Path
) -> None:
    store = tmp_path / "evidence"
    evidence = read_evidence(walkdown_folder / "walkdown.csv", photo_store=store)
    digest = evidence.walkdowns[0].photos[0].sha256
    tampered = stored_path(store, digest)
    tampered.chmod(0o644)
    tampered.write_bytes(png_bytes(32, 24, shade=128))
    (store / "sha256" / "zz").mkdir()
    (tampered.parent / ".incoming-left").write_bytes(b"partial")
    findings = verify_photo_store(store)
    assert len(findings) == 3
    changed = next(f for f in findings if f.startswith(f"sha256/{digest[:2]}/{digest}:"))
    assert "changed after import" in changed and sha256(tampered) in changed
    assert any(f.startswith("sha256/zz") for f in findings)
    assert any("interrupted import" in f for f in findings)
    assert verify_photo_store(tmp_path / "no-store-yet") == []


def test_nothing_is_stored_when_the_sheet_has_mistakes(
    walkdown_folder: Path, tmp_path: Path
) -> None:
    path = walkdown_folder / "walkdown.csv"
    path.write_text(path.read_text().replace("2024-04-08", "2024-04-31"))
    store = tmp_path / "evidence"
    problems_of(path, photo_store=store)
    assert not store.exists()


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("../../etc/passwd", "outside the evidence file's folder"),
        ("../secret.png", "outside the evidence file's folder"),
        ("/etc/passwd", "absolute path"),
        ("C:\\photos\\a.jpg", "absolute path"),
        ("photos/missing.png", "not found"),
        ("photos", "is a folder"),
        ("link-out.png", "outside the evidence file's folder"),
    ],
)
def test_unsafe_or_missing_photos_are_refused(
    tmp_path: Path, reference: str, expected: str
) -> None:
    folder = tmp_path / "visit"
    (folder / "photos").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(png_bytes(2, 2))
    (folder / "link-out.png").symlink_to(tmp_path / "secret.png")
    (problem,) = problems_of(sheet(folder, reference))
    assert (problem.line, problem.field) == (2, 'column 4 "photos"')
    assert expected in problem.message


def test_symlink_inside_the_folder_and_backslashes_are_fine(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(png_bytes(4, 4))
    (tmp_path / "alias.png").symlink_to(tmp_path / "photos" / "a.png")
    walkdown = read_evidence(sheet(tmp_path, "alias.png;photos\\a.png")).walkdowns[0]
    assert walkdown.photos[0].sha256 == walkdown.photos[1].sha256
    assert walkdown.photos[1].filename == "photos/a.png"


def test_photo_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos_module, "MAX_PHOTO_BYTES", 1000)
    (tmp_path / "big.png").write_bytes(png_bytes(64, 64) + bytes(2000))
    (problem,) = problems_of(sheet(tmp_path, "big.png"))
    assert "over the limit" in problem.message


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    (problem,) = problems_of(sheet(tmp_path, "pipe.png"))
    assert "not a regular file" in problem.message


def test_yaml_photo_problems_point_at_the_list_item(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(2, 2))
    path = tmp_path / "ev.yaml"
    path.write_text(
        "walkdowns:\n"
        "  - id: w1\n    crane: S\n    description: d\n    inspector: i\n    date: 2024-01-01\n"
        "    photos:\n      - a.png\n      - ../../etc/passwd\n",
        encoding="utf-8",
    )
    (problem,) = problems_of(path)
    assert (problem.line, problem.field) == (9, "walkdowns[0].photos[1]")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (png_bytes(1, 1), "image/png"),
        (jpeg_bytes(), "image/jpeg"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image/heif"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        (b"GIF89a\x01\x00", None),
        (b"", None),
    ],
)
def test_media_type_from_magic_bytes(head: bytes, expected: str | None) -> None:
    assert media_type_of(head[:32]) == expected


def test_media_type_ignores_the_extension(tmp_path: Path) -> None:
    (tmp_path / "really-a-png.jpg").write_bytes(png_bytes(3, 3))
    (tmp_path / "notes.png").write_text("not an image")
    walkdown = read_evidence(sheet(tmp_path, "really-a-png.jpg;notes.png")).walkdowns[0]
    assert [p.media_type for p in walkdown.photos] == ["image/png", None]
