"""The workspace: one folder per case, holding everything cranewatch knows about it.

    <workspace>/
      cranewatch-workspace.json      marker with the layout version
      observations/capture=<sha256>/ one folder per capture: captures/flows/assets .parquet
      catalogue.sqlite               which files (path, size, mtime) have which SHA-256
      ingest-log.jsonl               append-only: who ingested what, when, with which version
      tmp/                           staging folders of ingests in progress

A capture's observations are written into a staging folder and published with one atomic
rename, so an interrupted ingest leaves nothing half-written behind and a capture is either
fully present or absent. Observations are keyed by the capture's SHA-256: ingesting the same
bytes twice (under any name) changes nothing.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cranewatch._version import __version__
from cranewatch.errors import WorkspaceError

MARKER = "cranewatch-workspace.json"
LAYOUT_VERSION = 1
DEFAULT_WORKSPACE = "cranewatch-workspace"
ENV_WORKSPACE = "CRANEWATCH_WORKSPACE"


def default_workspace() -> Path:
    return Path(os.environ.get(ENV_WORKSPACE) or DEFAULT_WORKSPACE)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Workspace:
    """A case folder. Use :meth:`open` to get one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.observations = root / "observations"
        self.tmp = root / "tmp"
        self.log_path = root / "ingest-log.jsonl"
        self.catalogue_path = root / "catalogue.sqlite"

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: Path | str, create: bool = False) -> Workspace:
        """Open the workspace at ``root``; create it when ``create`` and it does not exist."""
        root = Path(root).expanduser().absolute()
        marker = root / MARKER
        if not marker.exists():
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise WorkspaceError(
                    f"{root} exists but is not a cranewatch workspace (no {MARKER}); "
                    "choose an empty or new folder with -w"
                )
            if not create:
                raise WorkspaceError(
                    f"no workspace at {root}; create one with `cranewatch -w {root} ingest CAPTURE`"
                )
            try:
                root.mkdir(parents=True, exist_ok=True)
                info = {"layout_version": LAYOUT_VERSION, "created_by": __version__,
                        "created_at": datetime.now(UTC).isoformat()}  # fmt: skip
                marker.write_text(json.dumps(info, indent=2) + "\n")
            except OSError as exc:
                raise WorkspaceError(f"cannot create workspace {root}: {exc.strerror}") from exc
        else:
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError) as exc:
                raise WorkspaceError(f"{marker} is unreadable: {exc}") from exc
            if info.get("layout_version", 0) > LAYOUT_VERSION:
                raise WorkspaceError(
                    f"{root} was written by a newer cranewatch (layout {info['layout_version']}); upgrade"
                )
        ws = cls(root)
        ws.observations.mkdir(exist_ok=True)
        ws.tmp.mkdir(exist_ok=True)
        ws._remove_abandoned_staging()
        ws._init_catalogue()
        return ws

    # ------------------------------------------------------------------ captures
    def capture_dir(self, sha256: str) -> Path:
        return self.observations / f"capture={sha256}"

    def has_capture(self, sha256: str) -> bool:
        return (self.capture_dir(sha256) / "captures.parquet").exists()

    def capture_shas(self) -> list[str]:
        return sorted(
            p.name.split("=", 1)[1]
            for p in self.observations.glob("capture=*")
            if (p / "captures.parquet").exists()
        )

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A private folder for one capture's files; removed unless published."""
        path = Path(tempfile.mkdtemp(prefix=f"ingest-{os.getpid()}-", dir=self.tmp))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, staged: Path, sha256: str) -> bool:
        """Move a staged capture into place atomically; False when it is already present."""
        target = self.capture_dir(sha256)
        for item in staged.iterdir():
            with open(item, "rb") as fh:
                os.fsync(fh.fileno())
        try:
            os.rename(staged, target)
        except OSError:
            if self.has_capture(sha256):
                return False
            raise
        return True

    def _remove_abandoned_staging(self) -> None:
        for item in self.tmp.glob("ingest-*"):
            try:
                pid = int(item.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(item, ignore_errors=True)

    # ------------------------------------------------------------------ catalogue
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.catalogue_path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _init_catalogue(self) -> None:
        with contextlib.closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT NOT NULL, size INTEGER NOT NULL, "
                "mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, first_seen TEXT NOT NULL, "
                "last_seen TEXT NOT NULL, PRIMARY KEY (path, size, mtime_ns))"
            )

    def known_sha256(self, path: Path) -> str | None:
        """SHA-256 recorded for this exact file (path, size, mtime), when it is still present."""
        st = path.stat()
        with contextlib.closing(self._connect()) as db:
            row = db.execute(
                "SELECT sha256 FROM files WHERE path=? AND size=? AND mtime_ns=?",
                (str(path), st.st_size, st.st_mtime_ns),
            ).fetchone()
        if row and self.has_capture(row[0]):
            return str(row[0])
        return None

    def remember(self, path: Path, sha256: str) -> None:
        st = path.stat()
        now = datetime.now(UTC).isoformat()
        with contextlib.closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?) ON CONFLICT(path, size, mtime_ns) "
                "DO UPDATE SET sha256=excluded.sha256, last_seen=excluded.last_seen",
                (str(path), st.st_size, st.st_mtime_ns, sha256, now, now),
            )

    # ------------------------------------------------------------------ ingest log
    def log_ingest(self, record: dict[str, Any]) -> None:
        """Append one line to the ingest log (who, when, what, which version)."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "user": user,
            "host": socket.gethostname(),
            "tool_version": __version__,
            **record,
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def ingest_log(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
