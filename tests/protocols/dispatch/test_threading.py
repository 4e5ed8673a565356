"""The dispatcher's own thread: same tables as analysing in line, and failures that surface.

The engine hands each packet batch to the analysis thread and keeps the batch's rows and work
buffer untouched until that batch is done (three buffers in turn). Small chunks make the engine
go round its buffers hundreds of times per capture, so a buffer reused too early would change
the operations counted.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from tests.runners import plain_rows

import cranewatch.ingest
from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_file
from cranewatch.protocols.dispatch import Dispatcher
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

SMALL_CHUNKS = EngineOptions(chunk_size=64 * 1024)


def _tables(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    return {
        "operations": plain_rows(
            run_query(ws, "SELECT * EXCLUDE (capture_sha256) FROM operations ORDER BY ALL")
        ),
        "coverage": plain_rows(
            run_query(ws, "SELECT * EXCLUDE (capture_sha256) FROM coverage ORDER BY flow_id")
        ),
        "identities": plain_rows(
            run_query(ws, "SELECT * EXCLUDE (capture_sha256) FROM identities ORDER BY ALL")
        ),
    }


def _ingest(tmp: Path, capture: Path, threaded: bool, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    ws = Workspace.open(tmp, create=True)
    with monkeypatch.context() as m:
        m.setattr(cranewatch.ingest, "Dispatcher", functools.partial(Dispatcher, threaded=threaded))
        outcome = ingest_file(ws, capture, SMALL_CHUNKS)
    assert outcome.status == "ingested", outcome.error
    return ws


def test_the_analysis_thread_gives_the_tables_of_in_line_analysis(
    tmp_path: Path, synth_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded = _tables(_ingest(tmp_path / "threaded", synth_capture, True, monkeypatch))
    in_line = _tables(_ingest(tmp_path / "in-line", synth_capture, False, monkeypatch))
    assert sum(r["pdus"] for r in threaded["operations"]) > 10_000
    assert threaded == in_line


def test_a_failure_on_the_analysis_thread_fails_the_file_without_hanging(
    tmp_path: Path, synth_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = Dispatcher._packets

    def failing(self: Dispatcher, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("analysis thread broke")
        original(self, batch)

    monkeypatch.setattr(Dispatcher, "_packets", failing)
    ws = Workspace.open(tmp_path / "ws", create=True)
    outcome = ingest_file(ws, synth_capture, SMALL_CHUNKS)
    assert outcome.status == "failed"
    assert outcome.error is not None and "analysis thread broke" in outcome.error
    assert ws.capture_shas() == []  # nothing published
    assert list(ws.tmp.iterdir()) == []  # staging removed
    # the next ingest in the same process is unaffected
    monkeypatch.setattr(Dispatcher, "_packets", original)
    assert ingest_file(ws, synth_capture, SMALL_CHUNKS).status == "ingested"
