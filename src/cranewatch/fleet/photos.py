"""Walk-down photos: located safely, identified by SHA-256, stored content-addressed, re-verifiable.

A photo is evidence: who took it matters less than proving later that the file in the case folder
is the one imported. So each photo is known by the SHA-256 of its bytes and stored as
``<store>/sha256/<first two hex digits>/<all 64 hex digits>``: the same photo imported twice is
stored once, and ``verify_photo_store`` re-hashes every stored file and lists any whose content
no longer matches its name (chain of custody).

Writing is atomic and checked: the copy goes to a temporary file in the target folder, is
hashed while copied (it must equal the hash taken when the evidence was validated, so a photo
changed in between is refused), flushed to disk with fsync, read back and hashed again, made
read-only and renamed into place. An existing stored file of the same hash is kept, not rewritten.

Photo paths come from untrusted sheets: they are relative to the evidence file's folder and may
not leave it (``../../etc/passwd`` and symlinks pointing outside are refused); folders, devices,
pipes and files over ``MAX_PHOTO_BYTES`` are refused too. The media type comes from the first
bytes (JPEG, PNG, HEIC/HEIF, PDF), never from the extension; four signatures are hand-written
here rather than adding a file-type detection dependency.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cranewatch.errors import WorkspaceError

MAX_PHOTO_BYTES = 200 * 1000 * 1000  # 200 MB: far above any camera's photo, below a disk image
CHUNK = 1024 * 1024
_INCOMING = ".incoming-"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1"}


class PhotoError(Exception):
    """A photo reference cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class PhotoFile:
    """A photo found next to an evidence file and hashed."""

    path: Path  # resolved, inside the evidence folder
    sha256: str
    size: int
    media_type: str | None


def media_type_of(head: bytes) -> str | None:
    """The media type told by a file's first bytes: JPEG, PNG, HEIC/HEIF or PDF, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS:
        return "image/heic"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def locate_photo(reference: str, evidence_folder: Path) -> Path:
    """The real path of a photo named relative to the evidence file's folder, refusing any path
    that leaves the folder, and anything that is not a regular file of at most 200 MB."""
    text = reference.strip().replace("\\", "/")
    if not text:
        raise PhotoError("empty photo path")
    if "\x00" in text or len(text) > 4096:
        raise PhotoError(f"{text[:60]!r} is not a usable file path")
    if PurePosixPath(text).is_absolute() or re.match(r"[A-Za-z]:/", text):
        raise PhotoError(
            f"{text!r} is an absolute path; name photos relative to the evidence file's folder"
        )
    folder = evidence_folder.resolve()
    try:
        real = (folder / text).resolve(strict=True)
    except FileNotFoundError:
        if not (folder / text).resolve().is_relative_to(folder):
            raise PhotoError(_outside(text)) from None
        raise PhotoError(
            f"photo {text!r} not found in {folder}; photo paths are relative to the evidence file"
        ) from None
    except (OSError, RuntimeError) as exc:
        raise PhotoError(f"photo {text!r} cannot be opened ({exc})") from None
    if not real.is_relative_to(folder):
        raise PhotoError(_outside(text))
    try:
        info = real.stat()
    except OSError as exc:
        raise PhotoError(f"photo {text!r} cannot be opened ({exc.strerror or exc})") from None
    _check_regular(text, info)
    return real


def _outside(text: str) -> str:
    return (
        f"photo {text!r} lies outside the evidence file's folder (refused); copy the photo into "
        "that folder and name it relative to it"
    )


def _check_regular(text: str, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise PhotoError(f"{text!r} is a folder, not a photo file; name the photo files in it")
    if not stat.S_ISREG(info.st_mode):
        raise PhotoError(f"{text!r} is not a regular file (a device or pipe?)")
    if info.st_size > MAX_PHOTO_BYTES:
        raise PhotoError(
            f"photo {text!r} is {info.st_size / 1e6:.0f} MB, over the limit of "
            f"{MAX_PHOTO_BYTES // 1_000_000} MB; store large media elsewhere and reference it"
        )


def hash_photo(path: Path, reference: str | None = None) -> PhotoFile:
    """SHA-256 (streamed in 1 MiB chunks), size and media type of a located photo."""
    text = reference or path.name
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
        with os.fdopen(fd, "rb") as handle:
            _check_regular(text, os.fstat(handle.fileno()))
            while chunk := handle.read(CHUNK):
                if not head:
                    head = chunk[:32]
                size += len(chunk)
                if size > MAX_PHOTO_BYTES:
                    raise PhotoError(f"photo {text!r} grew over {MAX_PHOTO_BYTES} bytes")
                digest.update(chunk)
    except OSError as exc:
        raise PhotoError(f"photo {text!r} cannot be read ({exc.strerror or exc})") from None
    return PhotoFile(path, digest.hexdigest(), size, media_type_of(head))


def stored_path(store: Path, sha256: str) -> Path:
    """Where a photo of this hash lives in the store."""
    return store / "sha256" / sha256[:2] / sha256


def store_photo(photo: PhotoFile, store: Path) -> Path:
    """Copy a hashed photo into the store (atomically, verified); return its stored path.

    Raises ``PhotoError`` when the source changed since it was hashed, ``WorkspaceError`` when
    the store cannot be written or the written copy does not read back the same.
    """
    target = stored_path(store, photo.sha256)
    if target.is_file() and not target.is_symlink():
        return target  # same content already stored: kept, not rewritten
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=_INCOMING, dir=target.parent)
    except OSError as exc:
        raise WorkspaceError(f"cannot write the photo store {store}: {exc}") from None
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, photo.path.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != photo.sha256:
            raise PhotoError(
                f"photo {photo.path.name!r} changed while it was imported; import it again"
            )
        if file_sha256(temp) != photo.sha256:
            raise WorkspaceError(
                f"the copy of {photo.path.name} in {store} does not read back the same; "
                "check the disk and import again"
            )
        temp.chmod(0o444)
        os.replace(temp, target)
        _fsync_folder(target.parent)
    except OSError as exc:
        raise WorkspaceError(f"cannot write the photo store {store}: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return target


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_photo_store(photo_store: Path) -> list[str]:
    """Re-hash every stored photo; list each file whose content or place no longer matches its
    name, and anything else found in the store. An empty list: every stored photo is intact.
    A store that does not exist yet holds nothing to verify."""
    root = photo_store / "sha256"
    if not root.is_dir():
        return []
    findings: list[str] = []
    for folder in sorted(root.iterdir()):
        if (
            folder.is_symlink()
            or not folder.is_dir()
            or not re.fullmatch(r"[0-9a-f]{2}", folder.name)
        ):
            findings.append(f"{_rel(folder, photo_store)}: not a folder of the photo store")
            continue
        for item in sorted(folder.iterdir()):
            finding = _check_stored(item, folder.name)
            if finding:
                findings.append(f"{_rel(item, photo_store)}: {finding}")
    return findings


def _check_stored(item: Path, prefix: str) -> str | None:
    if item.name.startswith(_INCOMING):
        return "left over from an interrupted import; safe to delete"
    if item.is_symlink() or not item.is_file():
        return "not a regular file; stored photos are plain files"
    if not _HEX64.fullmatch(item.name) or item.name[:2] != prefix:
        return "not named by a SHA-256 of its folder; not a stored photo"
    try:
        actual = file_sha256(item)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if actual != item.name:
        return f"content changed after import: it now hashes to {actual}"
    return None


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()
