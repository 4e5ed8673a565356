"""The workspace folder: creation, refusal of foreign folders, catalogue, ingest log, staging.

A workspace is created on first ingest and recognised by its marker file; any other non-empty
folder is refused rather than written into. The catalogue remembers (path, size, mtime) ->
SHA-256 so an unchanged file is not read again, and the append-only ingest log records every
attempt with who ran it and with which version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.capture_builder import ETH_IPV4, Packet, ether, ipv4, pcap, udp
from tests.runners import run_cli

import cranewatch.ingest
from cranewatch._version import __version__
from cranewatch.engine.session import EngineOptions
from cranewatch.errors import WorkspaceError
from cranewatch.ingest import ingest_file, ingest_paths
from cranewatch.store.workspace import (
    ENV_WORKSPACE,
    LAYOUT_VERSION,
    MARKER,
    Workspace,
    default_workspace,
)

SEC = 1_000_000_000


def capture(path: Path, n: int = 3, port: int = 1000) -> Path:
    frames = [
        Packet(i * SEC, ether("00:1b:1b:00:00:02", "00:1e:42:00:00:01", ETH_IPV4,
                              ipv4("10.0.0.1", "10.0.0.2", 17, udp(port, 53, b"q"))))
        for i in range(n)
    ]  # fmt: skip
    path.write_bytes(pcap(frames))
    return path


# ------------------------------------------------------------------------------ opening


def test_create_workspace(workspace: Path) -> None:
    ws = Workspace.open(workspace, create=True)
    assert ws.root == workspace.absolute()
    info = json.loads((workspace / MARKER).read_text())
    assert (info["layout_version"], info["created_by"]) == (LAYOUT_VERSION, __version__)
    for name in ("observations", "tmp", "catalogue.sqlite"):
        assert (workspace / name).exists(), name
    assert ws.capture_shas() == [] and ws.ingest_log() == []
    # opening again keeps it as it is
    again = Workspace.open(workspace)
    assert json.loads((workspace / MARKER).read_text()) == info
    assert again.root == ws.root


def test_create_inside_missing_parents(tmp_path: Path) -> None:
    Workspace.open(tmp_path / "a" / "b" / "case", create=True)
    assert (tmp_path / "a" / "b" / "case" / MARKER).exists()


def test_empty_existing_folder_becomes_a_workspace(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    Workspace.open(folder, create=True)
    assert (folder / MARKER).exists()


def test_missing_workspace_is_not_created_without_asking(workspace: Path) -> None:
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Workspace.open(workspace)
    assert not workspace.exists()


def test_refuses_a_non_empty_foreign_folder(tmp_path: Path) -> None:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "thesis.docx").write_bytes(b"precious")
    with pytest.raises(WorkspaceError, match="exists but is not a cranewatch workspace"):
        Workspace.open(folder, create=True)
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.docx"]


def test_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(WorkspaceError, match="not a cranewatch workspace"):
        Workspace.open(path, create=True)


def test_refuses_a_newer_layout(workspace: Path) -> None:
    Workspace.open(workspace, create=True)
    (workspace / MARKER).write_text(json.dumps({"layout_version": LAYOUT_VERSION + 1}))
    with pytest.raises(WorkspaceError, match="newer cranewatch"):
        Workspace.open(workspace)


def test_unreadable_marker(workspace: Path) -> None:
    Workspace.open(workspace, create=True)
    (workspace / MARKER).write_text("{not json")
    with pytest.raises(WorkspaceError, match="unreadable"):
        Workspace.open(workspace)


def test_cli_refuses_a_foreign_folder(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "report.txt").write_text("keep me")
    res = run_cli("-w", folder, "ingest", capture(tmp_path / "a.pcap"))
    assert res.code == 1
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a cranewatch workspace" in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == ["report.txt"]


# ------------------------------------------------------------------------------ environment


def test_workspace_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_WORKSPACE, raising=False)
    assert default_workspace() == Path("cranewatch-workspace")
    target = tmp_path / "from-env"
    monkeypatch.setenv(ENV_WORKSPACE, str(target))
    assert default_workspace() == target
    res = run_cli("ingest", capture(tmp_path / "a.pcap"))
    assert res.code == 0, res.output
    assert len(Workspace.open(target).capture_shas()) == 1
    rows = run_cli("query", "SELECT count(*) AS n FROM captures", "--format", "json")
    assert rows.json() == [{"n": 1}]


def test_option_overrides_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_WORKSPACE, str(tmp_path / "from-env"))
    res = run_cli("-w", tmp_path / "from-option", "ingest", capture(tmp_path / "a.pcap"))
    assert res.code == 0, res.output
    assert (tmp_path / "from-option" / MARKER).exists()
    assert not (tmp_path / "from-env").exists()


# ------------------------------------------------------------------------------ ingest log


def test_ingest_log_has_one_line_per_attempt(workspace: Path, tmp_path: Path) -> None:
    good = capture(tmp_path / "good.pcap")
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture")
    ws = Workspace.open(workspace, create=True)
    report = ingest_paths(ws, [good, bad, good])
    assert [o.status for o in report.outcomes] == ["ingested", "failed"]  # duplicates dropped
    ingest_paths(ws, [good])
    log = ws.ingest_log()
    assert [e["status"] for e in log] == ["ingested", "failed", "already"]
    sha = report.outcomes[0].sha256
    assert sha is not None and len(sha) == 64
    for entry in log:
        assert entry["user"] and entry["host"] and entry["time"]
        assert entry["tool_version"] == __version__
    assert (log[0]["sha256"], log[0]["packets"], log[0]["path"]) == (sha, 3, str(good.absolute()))
    assert (log[1]["sha256"], log[1]["path"]) == (None, str(bad.absolute()))
    assert "not a pcap or pcapng capture" in log[1]["error"]
    assert log[2]["sha256"] == sha
    # append-only: every line is one JSON object, earlier lines unchanged
    lines = (workspace / "ingest-log.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == log


def test_ingest_log_user_without_a_login_name(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    def no_user() -> str:
        raise KeyError("uid not in passwd")  # a container user without a passwd entry

    monkeypatch.setattr(getpass, "getuser", no_user)
    ws = Workspace.open(workspace, create=True)
    ws.log_ingest({"status": "test"})
    assert ws.ingest_log()[0]["user"] == str(os.getuid())


# ------------------------------------------------------------------------------ catalogue


class _MustNotRead:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the capture was read again")


def test_unchanged_file_is_not_read_again(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = capture(tmp_path / "a.pcap")
    ws = Workspace.open(workspace, create=True)
    first = ingest_file(ws, path, EngineOptions())
    assert first.status == "ingested"
    monkeypatch.setattr(cranewatch.ingest, "CaptureScan", _MustNotRead)
    again = ingest_file(ws, path, EngineOptions())
    assert (again.status, again.sha256, again.error) == ("already", first.sha256, None)


def test_touched_file_is_read_again_and_recognised(workspace: Path, tmp_path: Path) -> None:
    path = capture(tmp_path / "a.pcap")
    ws = Workspace.open(workspace, create=True)
    first = ingest_file(ws, path, EngineOptions())
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert ws.known_sha256(path.absolute()) is None  # (path, size, mtime) changed
    again = ingest_file(ws, path, EngineOptions())
    assert again.packets == 3  # it was read: the outcome carries the frame count
    assert (again.status, again.sha256) == ("already", first.sha256)
    assert ws.known_sha256(path.absolute()) == first.sha256  # remembered again


def test_changed_content_is_a_new_capture(workspace: Path, tmp_path: Path) -> None:
    path = capture(tmp_path / "a.pcap", n=3)
    ws = Workspace.open(workspace, create=True)
    first = ingest_file(ws, path, EngineOptions())
    capture(path, n=4)
    second = ingest_file(ws, path, EngineOptions())
    assert second.status == "ingested" and second.sha256 != first.sha256
    assert sorted(ws.capture_shas()) == sorted([first.sha256, second.sha256])


def test_deleted_observations_are_ingested_again(workspace: Path, tmp_path: Path) -> None:
    import shutil

    path = capture(tmp_path / "a.pcap")
    ws = Workspace.open(workspace, create=True)
    first = ingest_file(ws, path, EngineOptions())
    assert first.sha256 is not None
    shutil.rmtree(ws.capture_dir(first.sha256))
    assert ws.known_sha256(path.absolute()) is None
    assert ingest_file(ws, path, EngineOptions()).status == "ingested"
    assert ws.has_capture(first.sha256)


def test_observation_files_of_a_capture(workspace: Path, tmp_path: Path) -> None:
    ws = Workspace.open(workspace, create=True)
    outcome = ingest_file(ws, capture(tmp_path / "a.pcap"), EngineOptions())
    assert outcome.sha256 is not None
    folder = ws.capture_dir(outcome.sha256)
    assert folder.name == f"capture={outcome.sha256}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "assets.parquet",
        "captures.parquet",
        "coverage.parquet",
        "flows.parquet",
        "identities.parquet",
        "names.parquet",
        "operations.parquet",
        "roles.parquet",
        "sessions.parquet",
    ]
    assert list(ws.tmp.iterdir()) == []


# ------------------------------------------------------------------------------ staging


def test_abandoned_staging_of_a_dead_process_is_removed(workspace: Path) -> None:
    ws = Workspace.open(workspace, create=True)
    dead = ws.tmp / "ingest-999999999-abc"  # above the kernel's pid limit: never alive
    (dead / "flows.partial.parquet").parent.mkdir(parents=True)
    (dead / "flows.partial.parquet").write_bytes(b"half")
    alive = ws.tmp / f"ingest-{os.getpid()}-def"
    alive.mkdir()
    Workspace.open(workspace)
    assert not dead.exists()
    assert alive.exists()  # a running ingest's folder is left alone


def test_staging_is_removed_when_not_published(workspace: Path) -> None:
    ws = Workspace.open(workspace, create=True)
    with pytest.raises(RuntimeError), ws.staging() as staged:
        (staged / "flows.parquet").write_bytes(b"x")
        raise RuntimeError("interrupted")
    assert list(ws.tmp.iterdir()) == []
    assert ws.capture_shas() == []


def test_publish_twice_keeps_the_first(workspace: Path) -> None:
    ws = Workspace.open(workspace, create=True)
    sha = "ab" * 32
    for content, expected in ((b"first", True), (b"second", False)):
        with ws.staging() as staged:
            (staged / "captures.parquet").write_bytes(content)
            assert ws.publish(staged, sha) is expected
    assert (ws.capture_dir(sha) / "captures.parquet").read_bytes() == b"first"
    assert ws.capture_shas() == [sha]
