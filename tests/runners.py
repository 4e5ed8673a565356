"""Runs the packet engine and the ``cranewatch`` command in-process for tests.

``scan(path)`` gives a capture's flows and assets rows straight from the engine (no workspace),
with timestamps as integer nanoseconds so they can be compared exactly. ``run_cli(...)`` calls
``cranewatch.cli.main`` (the console-script entry point, with its error handling) with its own
stdout/stderr and returns the exit status and both texts; ``cli_subprocess`` does the same in a
child process where a real process boundary matters (signals, tracebacks on stderr).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from cranewatch.engine.session import CaptureScan, EngineOptions, ScanResult
from cranewatch.engine.tables import assets_table, captures_table, flows_batch
from cranewatch.observe.schemas import FLOWS


def plain_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, timestamps as int nanoseconds (to_pylist would round them to µs)."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns[name] = column
    return pa.table(columns).to_pylist()


@dataclass
class Scan:
    """What the engine produced for one capture."""

    result: ScanResult
    flows: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)
    sink_calls: int = 0

    @property
    def skips(self) -> dict[str, int]:
        return self.result.skips

    def captures_row(self) -> dict[str, Any]:
        return plain_rows(captures_table(self.result, str(self.result.path), 900.0))[0]

    def ip_flows(self) -> list[dict[str, Any]]:
        return [f for f in self.flows if f["ip_version"] is not None]

    def flow(self, **match: Any) -> dict[str, Any]:
        """The one flow whose columns equal ``match``."""
        found = [f for f in self.flows if all(f[k] == v for k, v in match.items())]
        assert len(found) == 1, f"{len(found)} flows match {match}: {self.flows}"
        return found[0]

    def asset(self, **match: Any) -> dict[str, Any]:
        found = [a for a in self.assets if all(a[k] == v for k, v in match.items())]
        assert len(found) == 1, f"{len(found)} assets match {match}: {self.assets}"
        return found[0]


def scan(
    path: Path,
    chunk_size: int | None = None,
    idle_timeout_s: float = 900.0,
) -> Scan:
    """Run the engine over ``path``; flows sorted by flow id."""
    batches: list[pa.RecordBatch] = []
    calls = 0

    def sink(keys: Any, stats: Any) -> None:
        nonlocal calls
        calls += 1
        batches.append(flows_batch(keys, stats, ""))

    options = EngineOptions(idle_timeout_s=idle_timeout_s)
    if chunk_size is not None:
        options.chunk_size = chunk_size
    result = CaptureScan(path, sink, options).run()
    flows = pa.Table.from_batches(batches, schema=FLOWS.arrow).sort_by("flow_id")
    return Scan(result, plain_rows(flows), plain_rows(assets_table(result)), calls)


# ------------------------------------------------------------------------------ the CLI


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def run_cli(*args: str | Path) -> CliResult:
    """``cranewatch ARGS`` through ``cranewatch.cli.main`` in this process."""
    from cranewatch.cli import main

    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", write_through=True)
    argv = sys.argv
    sys.argv = ["cranewatch", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = _exit_code(exc)
    finally:
        sys.argv = argv
        out.flush()
        err.flush()
    return CliResult(code, out_bytes.getvalue().decode(), err_bytes.getvalue().decode())


def cli_env() -> dict[str, str]:
    env = dict(os.environ, TZ="UTC", LC_ALL="C.UTF-8", COLUMNS="80")
    env.pop("CRANEWATCH_DEBUG", None)
    return env


def cli_subprocess(*args: str | Path, timeout: float = 120) -> CliResult:
    """``cranewatch ARGS`` in a child process, through the executable's entry point."""
    code = "import sys; sys.argv[0] = 'cranewatch'; from cranewatch._launch import run; run()"
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def query_json(workspace: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of ``cranewatch -w WS query SQL --format json`` (in-process)."""
    res = run_cli("-w", workspace, "query", sql, "--format", "json")
    assert res.code == 0, res.output
    return res.json()
