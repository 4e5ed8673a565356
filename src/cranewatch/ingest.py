"""The ingest job: capture files in, one published observation folder per capture out.

For each file: skip it when the catalogue already knows its bytes, else run the packet engine
once over it, stream finished flows into a staging Parquet file, write the assets and the
captures row, and publish the folder atomically under the capture's SHA-256. A file that cannot
be read at all is reported with a one-line reason and the run goes on with the next one; every
attempt is written to the workspace's append-only ingest log.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cranewatch.capture.discovery import discover
from cranewatch.capture.reader import cancel_prefetch
from cranewatch.engine._kernels import layout as L
from cranewatch.engine.session import CaptureScan, EngineOptions, ScanResult
from cranewatch.engine.tables import assets_table, captures_table, flows_batch
from cranewatch.errors import CaptureError, UnsupportedLinkTypeError, UsageError
from cranewatch.observe.columns import empty_table, repeated_string
from cranewatch.observe.derive import derive
from cranewatch.observe.schemas import (
    COVERAGE,
    FLOWS,
    IDENTITIES,
    NAMES,
    OPERATIONS,
    SESSIONS,
)
from cranewatch.protocols.dispatch import Dispatcher
from cranewatch.protocols.registry import Analyzer, load_registry
from cranewatch.store.workspace import Workspace

PARQUET_OPTIONS = {"compression": "zstd"}


@dataclass
class FileOutcome:
    """What happened to one input file."""

    path: Path
    status: str  # "ingested", "already", "failed"
    sha256: str | None = None
    packets: int = 0
    flows: int = 0
    assets: int = 0
    operations: int = 0
    identities: int = 0
    names: int = 0
    sessions: int = 0
    roles: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # non-capture files found in folders

    @property
    def nothing_read(self) -> bool:
        return not any(o.status in ("ingested", "already") for o in self.outcomes)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


class _StagedTable:
    """Streams record batches of one table into a Parquet file while the capture's SHA-256 is
    still unknown; ``finish`` writes the final file with it filled in.

    Batches arrive small and often (the flows and coverage rows of each chunk, the operations of
    each ended flow); they are gathered into row groups of ``ROW_GROUP_ROWS``. A row group per
    batch would make the file's footer, kept in memory by the writer and read back whole by
    ``finish``, grow with the length of the capture."""

    ROW_GROUP_ROWS = 1 << 16

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:  # the partial file exists from the first rows on
            self.writer = pq.ParquetWriter(self.path, self.schema, **PARQUET_OPTIONS)
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self.pending_rows >= self.ROW_GROUP_ROWS:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        for batch in table.to_batches():
            self.write(batch)

    def _flush(self) -> None:
        if not self.pending or self.writer is None:
            return
        self.writer.write_table(pa.Table.from_batches(self.pending, self.schema))
        self.pending, self.pending_rows = [], 0

    def finish(self, target: Path, sha256: str, tail: pa.Table | None = None) -> None:
        """Write the final file with the capture's SHA-256 filled in, batch by batch: the
        staged batches, then ``tail`` (rows that were kept in memory to the end)."""
        tail_batches = tail.to_batches() if tail is not None else []
        self.rows += sum(b.num_rows for b in tail_batches)
        # rows not written yet go first, straight from memory
        tail_batches = [*self.pending, *tail_batches]
        self.pending, self.pending_rows = [], 0
        if self.writer is None and not tail_batches:
            pq.write_table(empty_table(self.schema), target, **PARQUET_OPTIONS)
            return
        if self.writer is not None:
            self.writer.close()
        staged = (
            pq.ParquetFile(self.path).iter_batches(batch_size=self.ROW_GROUP_ROWS)
            if self.writer
            else ()
        )
        # the rows held in memory, in row groups of the same size as the staged ones
        held = (
            pa.Table.from_batches(tail_batches, self.schema)
            .combine_chunks()
            .to_batches(max_chunksize=self.ROW_GROUP_ROWS)
            if tail_batches
            else []
        )
        with pq.ParquetWriter(target, self.schema, **PARQUET_OPTIONS) as out:
            for batch in (*staged, *held):
                sha = repeated_string(sha256, batch.num_rows)
                out.write_batch(batch.set_column(0, self.schema.field(0), sha))
        if self.writer is not None:
            self.path.unlink()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def enabled_analyzers(disabled: Iterable[str] = (), all_off: bool = False) -> tuple[Analyzer, ...]:
    """The analyzers an ingest runs: every registered one minus those switched off by name
    (an unknown name is a :class:`~cranewatch.errors.UsageError`)."""
    if all_off:
        return ()
    registry = load_registry()
    try:
        return registry.enabled(disabled)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_readable(result: ScanResult) -> None:
    if result.packets == 0 and result.skipped:
        reasons = "; ".join(result.skips)
        raise CaptureError(f"no frame could be read ({reasons})")
    unsupported = result.skips.get(L.SKIP_REASONS[L.SK_LINKTYPE], 0)
    if result.packets and result.decoded == 0 and unsupported == result.packets:
        names = ", ".join(str(t) for t in result.link_types)
        raise UnsupportedLinkTypeError(
            f"link type {names} is not supported; nothing was decoded. Supported: Ethernet (1), "
            "Linux cooked SLL (113) and SLL2 (276), raw IP (101, 228, 229), BSD loopback (0, 108)"
        )


def _stored_counts(ws: Workspace, outcome: FileOutcome) -> None:
    """Packets and skips of a capture ingested before, so ``--strict`` judges it the same."""
    assert outcome.sha256 is not None
    row = pq.read_table(
        ws.capture_dir(outcome.sha256) / "captures.parquet", columns=["packets", "skipped"]
    ).to_pylist()[0]
    outcome.packets, outcome.skipped = int(row["packets"]), int(row["skipped"])


def ingest_file(
    ws: Workspace,
    path: Path,
    options: EngineOptions,
    progress: Callable[[int], None] | None = None,
    on_scan: Callable[[CaptureScan], None] | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    compiled_tier: bool = True,
) -> FileOutcome:
    """Ingest one capture file into the workspace (see the module docstring).

    ``analyzers`` are the protocol analyzers to run (default: every registered one; an empty
    sequence runs none). ``compiled_tier=False`` decodes every PDU with the analyzers' Python
    parsers (slower; the tests compare both ways)."""
    if analyzers is None:
        analyzers = enabled_analyzers()
    started = time.perf_counter()
    abs_path = path.expanduser().absolute()
    outcome = FileOutcome(path=abs_path, status="failed")
    try:
        if not abs_path.exists():
            raise CaptureError(f"{path}: no such file")
        if abs_path.is_dir():
            raise CaptureError(f"{path}: is a folder")
        if not abs_path.is_file():
            raise CaptureError(
                f"{path}: not a regular file (pipes and devices cannot be hashed and read "
                "twice; copy the capture to a file first)"
            )
        known = ws.known_sha256(abs_path)
        if known:
            cancel_prefetch(abs_path)
            outcome.status, outcome.sha256 = "already", known
            _stored_counts(ws, outcome)
            return outcome
        with ws.staging() as staged:
            flows = _StagedTable(staged / "flows.partial.parquet", FLOWS.arrow)
            coverage = _StagedTable(staged / "coverage.partial.parquet", COVERAGE.arrow)
            operations = _StagedTable(staged / "operations.partial.parquet", OPERATIONS.arrow)
            dispatcher = (
                Dispatcher(
                    analyzers,
                    coverage.write,
                    compiled=compiled_tier,
                    operations_sink=operations.write_table,
                )
                if analyzers
                else None
            )

            def flow_sink(keys: np.ndarray, stats: np.ndarray) -> None:
                flows.write(flows_batch(keys, stats, ""))
                if dispatcher is not None:
                    dispatcher.on_flows(keys, stats)

            try:
                scan = CaptureScan(
                    abs_path,
                    flow_sink,
                    options,
                    packet_sink=dispatcher.on_packets if dispatcher is not None else None,
                    progress=progress,
                )
                if on_scan is not None:
                    on_scan(scan)
                result = scan.run()
                # the engine's buffers (hundreds of MB) are not needed for the tables written
                # below: free them before the derived tables' queries allocate their own
                del scan
                if dispatcher is not None:
                    dispatcher.finish()
            finally:
                if dispatcher is not None:
                    dispatcher.close()
                flows.close()
                coverage.close()
                operations.close()
            _check_readable(result)
            outcome.sha256 = result.sha256
            outcome.packets = result.packets
            outcome.skipped = result.skipped
            outcome.skip_reasons = dict(result.skips)
            outcome.notes = list(result.notes)
            if ws.has_capture(result.sha256):
                outcome.status = "already"
                _stored_counts(ws, outcome)
            else:
                flows.finish(staged / "flows.parquet", result.sha256)
                coverage.finish(staged / "coverage.parquet", result.sha256)
                if dispatcher is not None:
                    rest = dispatcher.operations_table("")
                    identities = dispatcher.identities_table(result.sha256)
                    names = dispatcher.names_table(result.sha256)
                    sessions = dispatcher.sessions_table(result.sha256)
                    # its facts and buffers are in these tables now: free them before the
                    # tables are written and the derived ones built (the peak of a long capture)
                    dispatcher = None
                else:
                    rest = None
                    identities = empty_table(IDENTITIES.arrow)
                    names = empty_table(NAMES.arrow)
                    sessions = empty_table(SESSIONS.arrow)
                operations.finish(staged / "operations.parquet", result.sha256, rest)
                assets = assets_table(result)
                derived = derive(
                    result.sha256,
                    staged / "flows.parquet",
                    staged / "coverage.parquet",
                    names,
                    sessions,
                    staged / "operations.parquet",
                    identities,
                    assets,
                )
                for name, table in (
                    ("identities", identities),
                    ("names", derived.names),
                    ("sessions", derived.sessions),
                    ("roles", derived.roles),
                    ("assets", assets),
                ):
                    pq.write_table(table, staged / f"{name}.parquet", **PARQUET_OPTIONS)
                outcome.operations = operations.rows
                outcome.identities = identities.num_rows
                outcome.names = derived.names.num_rows
                outcome.sessions = derived.sessions.num_rows
                outcome.roles = derived.roles.num_rows
                captures = captures_table(
                    result,
                    str(abs_path),
                    options.idle_timeout_s,
                    datetime.now(UTC),
                    [a.name for a in analyzers],
                )
                pq.write_table(captures, staged / "captures.parquet", **PARQUET_OPTIONS)
                outcome.flows = flows.rows
                outcome.assets = assets.num_rows
                outcome.status = "ingested" if ws.publish(staged, result.sha256) else "already"
            ws.remember(abs_path, result.sha256)
    except CaptureError as exc:
        outcome.error = str(exc)
    except OSError as exc:
        outcome.error = f"{path}: {exc.strerror or exc}"
    except Exception as exc:  # a bug: keep the traceback for the developers, not the user
        log = ws.root / "errors.log"
        with open(log, "a") as fh:
            fh.write(f"--- {datetime.now(UTC).isoformat()} {abs_path}\n{traceback.format_exc()}\n")
        outcome.error = f"internal error ({type(exc).__name__}: {exc}); details in {log}"
    finally:
        outcome.seconds = time.perf_counter() - started
        ws.log_ingest(
            {
                "path": str(abs_path),
                "sha256": outcome.sha256,
                "status": outcome.status,
                "packets": outcome.packets,
                "flows": outcome.flows,
                "skipped": outcome.skipped,
                "error": outcome.error,
            }
        )
    return outcome


def ingest_paths(
    ws: Workspace,
    paths: Iterable[Path],
    options: EngineOptions | None = None,
    progress_factory: Callable[[Path, int], Callable[[int], None] | None] | None = None,
    on_scan: Callable[[CaptureScan], None] | None = None,
    discovered: tuple[list[Path], list[Path]] | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    compiled_tier: bool = True,
) -> IngestReport:
    """Ingest files and folders; ``progress_factory(path, size)`` gives a per-file callback.

    ``discovered`` is the result of :func:`discover` when the caller already has it.
    """
    options = options or EngineOptions()
    if analyzers is None:
        analyzers = enabled_analyzers()
    files, ignored = discovered if discovered is not None else discover(paths)
    report = IngestReport(ignored=ignored)
    for path in files:
        progress = None
        if progress_factory is not None:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            progress = progress_factory(path, size)
        report.outcomes.append(
            ingest_file(ws, path, options, progress, on_scan, analyzers, compiled_tier)
        )
    return report
