"""Hostile and broken input through ``cranewatch -w WS ingest``: counted, reported, never a crash.

Each case of the issue's list is a small file built here; the command runs through
``cranewatch.cli.main`` (the console-script entry point) in-process, or in a child process
where the process boundary matters (signals, tracebacks). For every case the test checks the
exit status, that errors are one line on stderr without a traceback, and what the workspace
holds afterwards (``cranewatch query ... --format json`` on ``captures`` and ``flows``).

Problems inside a readable file are skips with a reason and leave the frames before them in
place; a file that cannot be read at all is reported in one line and publishes nothing; the
exit status is 1 only when nothing could be read (or with ``--strict``, on any skip).
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.capture_builder import (
    ETH_IPV4,
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    Packet,
    Pcapng,
    ether,
    ipv4,
    pcap,
    pcap_header,
    pcap_record,
    pcapng_block,
    udp,
)
from tests.conftest import shared_capture
from tests.runners import CliResult, cli_env, cli_subprocess, query_json, run_cli

from cranewatch.engine._kernels import layout as L

SEC = 1_000_000_000
CUT_AT_EOF = L.SKIP_REASONS[L.SK_TRUNCATED_AT_EOF]
TOO_LARGE = L.SKIP_REASONS[L.SK_RECORD_TOO_LARGE]
BAD_BLOCK = L.SKIP_REASONS[L.SK_BAD_BLOCK]


def frame(i: int) -> bytes:
    return ether(
        "00:1b:1b:00:00:02", "00:1e:42:00:00:01", ETH_IPV4,
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000 + i, 53, b"query")),
    )  # fmt: skip


def frames(n: int) -> list[Packet]:
    return [Packet(i * SEC, frame(i)) for i in range(n)]


def ingest(ws: Path, *paths: Path, flags: tuple[str, ...] = ()) -> CliResult:
    return run_cli("-w", ws, "ingest", *flags, *paths)


def captures(ws: Path) -> list[dict[str, Any]]:
    rows = query_json(ws, "SELECT path, packets, skipped, skip_reasons FROM captures ORDER BY path")
    for row in rows:
        row["skip_reasons"] = {r["reason"]: r["count"] for r in row["skip_reasons"]}
    return rows


def flow_count(ws: Path) -> int:
    return int(query_json(ws, "SELECT count(*) AS n FROM flows")[0]["n"])


def published(ws: Path) -> list[Path]:
    return sorted((ws / "observations").glob("capture=*"))


def error_lines(res: CliResult) -> list[str]:
    return [line for line in res.err.splitlines() if line.strip()]


def assert_one_line_error(res: CliResult, *words: str) -> None:
    lines = error_lines(res)
    assert len(lines) == 1, res.err
    assert lines[0].startswith("error:"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in res.output


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------ classic pcap


def test_truncated_file_keeps_earlier_frames(workspace: Path, tmp_path: Path) -> None:
    data = pcap(frames(5))
    path = write(tmp_path / "cut.pcap", data[:-20])  # in the middle of the last record
    res = ingest(workspace, path)
    assert res.code == 0, res.output
    assert "Traceback" not in res.output
    (row,) = captures(workspace)
    assert row["packets"] == 4
    assert row["skipped"] == 1 and row["skip_reasons"] == {CUT_AT_EOF: 1}
    assert flow_count(workspace) == 4
    assert CUT_AT_EOF in res.out  # the summary names the reason


def test_cut_inside_a_record_header(workspace: Path, tmp_path: Path) -> None:
    data = pcap(frames(3)) + pcap_record(9 * SEC, frame(9))[:10]
    res = ingest(workspace, write(tmp_path / "cut.pcap", data))
    assert res.code == 0
    (row,) = captures(workspace)
    assert (row["packets"], row["skip_reasons"]) == (3, {CUT_AT_EOF: 1})


def test_record_longer_than_256_kib_stops_reading(workspace: Path, tmp_path: Path) -> None:
    data = pcap(frames(3)) + pcap_record(9 * SEC, b"\x00" * 64, caplen=300_000)
    data += b"".join(pcap_record(p.ts_ns, p.data) for p in frames(4))  # never read
    res = ingest(workspace, write(tmp_path / "big.pcap", data))
    assert res.code == 0, res.output
    (row,) = captures(workspace)
    assert (row["packets"], row["skip_reasons"]) == (3, {TOO_LARGE: 1})
    assert flow_count(workspace) == 3
    assert "stopped reading at a corrupt record" in res.out


def test_record_longer_than_256_kib_first_is_a_failure(workspace: Path, tmp_path: Path) -> None:
    data = pcap_header() + pcap_record(0, b"\x00" * 64, caplen=300_000)
    res = ingest(workspace, write(tmp_path / "big.pcap", data))
    assert res.code == 1, res.output
    assert "Traceback" not in res.output


def test_record_length_larger_than_the_file(workspace: Path, tmp_path: Path) -> None:
    data = pcap(frames(3)) + pcap_record(9 * SEC, b"\x00" * 100, caplen=200_000)
    res = ingest(workspace, write(tmp_path / "long.pcap", data))
    assert res.code == 0
    (row,) = captures(workspace)
    assert (row["packets"], row["skip_reasons"]) == (3, {CUT_AT_EOF: 1})


def test_zero_snap_length_in_global_header(workspace: Path, tmp_path: Path) -> None:
    res = ingest(workspace, write(tmp_path / "snap0.pcap", pcap(frames(4), snaplen=0)))
    assert res.code == 0
    (row,) = captures(workspace)
    assert (row["packets"], row["skipped"]) == (4, 0)
    assert flow_count(workspace) == 4


def test_header_only_pcap_is_an_empty_capture(workspace: Path, tmp_path: Path) -> None:
    res = ingest(workspace, write(tmp_path / "header.pcap", pcap_header()))
    assert res.code == 0, res.output
    (row,) = captures(workspace)
    assert (row["packets"], row["skipped"]) == (0, 0)


def test_unknown_link_type(workspace: Path, tmp_path: Path) -> None:
    res = ingest(workspace, write(tmp_path / "dlt147.pcap", pcap(frames(3), linktype=147)))
    assert res.code == 1
    assert_one_line_error(res, "link type 147 is not supported")
    assert published(workspace) == []
    assert captures(workspace) == []


# ------------------------------------------------------------------------------ not captures


def test_random_bytes(workspace: Path, tmp_path: Path) -> None:
    noise = random.Random(1).randbytes(5000)
    res = ingest(workspace, write(tmp_path / "noise.pcap", noise))
    assert res.code == 1
    assert_one_line_error(res, "pcap", "pcapng")
    assert published(workspace) == []


def test_empty_file(workspace: Path, tmp_path: Path) -> None:
    res = ingest(workspace, write(tmp_path / "empty.pcap", b""))
    assert res.code == 1
    assert_one_line_error(res, "empty")
    assert published(workspace) == []


def test_missing_file(workspace: Path, tmp_path: Path) -> None:
    res = ingest(workspace, tmp_path / "nope.pcap")
    assert res.code == 1
    assert_one_line_error(res, "no such file")


def test_folder_with_a_non_capture_file(workspace: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    (folder / "sub").mkdir(parents=True)
    write(folder / "notes.txt", b"crane 7, SPAN port on switch 2\n")
    write(folder / "sub" / "a.pcap", pcap(frames(2)))
    res = ingest(workspace, folder)
    assert res.code == 0, res.output
    assert "1 file(s) in the given folders are not captures and were ignored" in res.out
    (row,) = captures(workspace)
    assert row["path"].endswith("a.pcap") and row["packets"] == 2


def test_folder_without_captures(workspace: Path, tmp_path: Path) -> None:
    folder = tmp_path / "empty-case"
    folder.mkdir()
    write(folder / "readme.md", b"nothing here")
    res = ingest(workspace, folder)
    assert res.code == 1
    assert "no capture files found" in res.err
    assert "Traceback" not in res.output


def test_one_bad_file_among_good_ones(workspace: Path, tmp_path: Path) -> None:
    good = write(tmp_path / "good.pcap", pcap(frames(2)))
    bad = write(tmp_path / "bad.pcap", b"\x00" * 100)
    res = ingest(workspace, bad, good)
    assert res.code == 0  # something was read
    assert_one_line_error(res, "not a pcap")
    assert len(captures(workspace)) == 1


@pytest.mark.parametrize("quiet", [False, True])
def test_error_line_names_the_file(workspace: Path, tmp_path: Path, quiet: bool) -> None:
    """With many files ingested at once, the error line must say which one it is about."""
    good = write(tmp_path / "good.pcap", pcap(frames(2)))
    bad = write(tmp_path / "crane07-span.pcap", b"\x00" * 100)
    res = ingest(workspace, good, bad, flags=("-q",) if quiet else ())
    assert_one_line_error(res, "crane07-span.pcap")


# ------------------------------------------------------------------------------ pcapng


def pcapng_with(bad_block: bytes, after: int = 2) -> bytes:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    for p in frames(3):
        cap.packet(0, p.ts_ns, p.data)
    cap.raw(bad_block)
    for p in frames(after):
        cap.packet(0, 100 * SEC + p.ts_ns, p.data)
    return cap.bytes()


@pytest.mark.parametrize(
    "bad_block",
    [
        pcapng_block(6, bytes(40), length=54),  # not a multiple of 4
        pcapng_block(6, bytes(40), length=8),  # shorter than a block header
        pcapng_block(6, bytes(40), trailing_length=56),  # trailing length mismatch
        pcapng_block(0xBAD, bytes(40), trailing_length=0),  # the same on a custom block
        pcapng_block(1, bytes(8), length=21),  # interface block, bad length
        pcapng_block(1, bytes(8), trailing_length=4),
        bytes.fromhex("0a0d0d0a1c00000000000000") + bytes(16),  # section header, bad BOM
    ],
    ids=["len%4", "len<12", "trailer", "custom-trailer", "idb-len", "idb-trailer", "shb-bom"],
)
def test_pcapng_bad_block_length(workspace: Path, tmp_path: Path, bad_block: bytes) -> None:
    res = ingest(workspace, write(tmp_path / "bad.pcapng", pcapng_with(bad_block)))
    assert res.code == 0, res.output
    assert "Traceback" not in res.output
    (row,) = captures(workspace)
    assert (row["packets"], row["skip_reasons"]) == (3, {BAD_BLOCK: 1})
    assert flow_count(workspace) == 3


def test_pcapng_block_length_beyond_the_end_of_file(workspace: Path, tmp_path: Path) -> None:
    """A block claiming 1 MiB in a file that ends 100 bytes later is a cut-off record."""
    cut = pcapng_block(0xBAD, bytes(100))[:-4]
    cut = cut[:4] + (1 << 20).to_bytes(4, "little") + cut[8:]
    res = ingest(workspace, write(tmp_path / "cut.pcapng", pcapng_with(cut, after=0)))
    assert res.code == 0
    (row,) = captures(workspace)
    assert row["packets"] == 3
    assert row["skipped"] == 1, row


def test_pcapng_truncated_in_a_packet(workspace: Path, tmp_path: Path) -> None:
    data = pcapng_with(b"", after=1)
    res = ingest(workspace, write(tmp_path / "cut.pcapng", data[:-7]))
    assert res.code == 0
    (row,) = captures(workspace)
    assert (row["packets"], row["skip_reasons"]) == (3, {CUT_AT_EOF: 1})


def test_pcapng_section_header_only(workspace: Path, tmp_path: Path) -> None:
    res = ingest(workspace, write(tmp_path / "shb.pcapng", Pcapng().section().bytes()))
    assert res.code == 0, res.output
    (row,) = captures(workspace)
    assert (row["packets"], row["skipped"]) == (0, 0)


# ------------------------------------------------------------------------------ many at once


def test_no_traceback_for_any_bad_file(workspace: Path, tmp_path: Path) -> None:
    """All bad files in one run of the real entry point: one error line per unreadable file."""
    bad = {
        "empty.pcap": b"",
        "noise.bin": random.Random(2).randbytes(300),
        "dlt147.pcap": pcap(frames(2), linktype=147),
        "short-header.pcap": pcap_header()[:10],
        "gzip-header.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
    }
    paths = [write(tmp_path / name, data) for name, data in bad.items()]
    readable = [
        write(tmp_path / "cut.pcap", pcap(frames(3))[:-5]),
        write(tmp_path / "huge.pcap", pcap(frames(1)) + pcap_record(0, b"", caplen=1 << 30)),
        write(tmp_path / "bad.pcapng", pcapng_with(pcapng_block(6, bytes(8), length=13))),
    ]
    res = cli_subprocess("-w", workspace, "ingest", *paths, *readable)
    assert "Traceback" not in res.output
    assert res.code == 0, res.output  # the readable ones were ingested
    assert len(error_lines(res)) == len(bad), res.err
    assert all(line.startswith("error:") for line in error_lines(res))
    assert len(published(workspace)) == len(readable)


# ------------------------------------------------------------------------------ idempotence


def tree_state(ws: Path) -> dict[str, int]:
    return {str(p.relative_to(ws)): p.stat().st_mtime_ns for p in (ws / "observations").rglob("*")}


def test_same_capture_twice_changes_nothing(workspace: Path, tmp_path: Path) -> None:
    path = shutil.copy(shared_capture("modbus_tcp_icsnpp_example.pcap"), tmp_path / "m.pcap")
    first = ingest(workspace, Path(path))
    assert first.code == 0 and "ingested" in first.out
    before = tree_state(workspace)
    counts = query_json(
        workspace,
        "SELECT (SELECT count(*) FROM flows) AS f, (SELECT count(*) FROM capture_assets) AS a, (SELECT count(*) FROM captures) AS c",
    )
    again = ingest(workspace, Path(path))
    renamed = Path(shutil.copy(path, tmp_path / "renamed-copy.pcap"))
    copy = ingest(workspace, renamed)
    for res in (again, copy):
        assert res.code == 0 and "already" in res.out, res.out
    assert tree_state(workspace) == before
    assert (
        query_json(
            workspace,
            "SELECT (SELECT count(*) FROM flows) AS f, (SELECT count(*) FROM capture_assets) AS a, (SELECT count(*) FROM captures) AS c",
        )
        == counts
    )
    assert [r["status"] for r in _log(workspace)] == ["ingested", "already", "already"]


def _log(ws: Path) -> list[dict[str, Any]]:
    from cranewatch.store.workspace import Workspace

    return Workspace.open(ws).ingest_log()


# ------------------------------------------------------------------------------ interruptions


@pytest.fixture(scope="module")
def growing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30,000 one-packet UDP flows 1 ms apart: with a 1 s idle timeout the engine hands
    flows out while it is still walking the file (when its flow table fills up)."""
    packets = [
        Packet(
            i * 1_000_000,
            ipv4(
                f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
                "10.0.0.53",
                17,
                udp(1024 + i % 60000, 53),
            ),
        )
        for i in range(30_000)
    ]
    return write(
        tmp_path_factory.mktemp("growing") / "growing.pcap", pcap(packets, linktype=LINKTYPE_RAW)
    )


def test_interrupt_midway_leaves_nothing(
    workspace: Path, growing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cranewatch.ingest

    calls: list[int] = []

    def interrupted(self: object, batch: Any) -> None:
        calls.append(batch.num_rows)
        raise KeyboardInterrupt

    monkeypatch.setattr(cranewatch.ingest._StagedTable, "write", interrupted)
    res = ingest(workspace, growing, flags=("--idle-timeout", "1"))
    assert calls, "the flow sink was never called"
    assert res.code == 130
    assert "Traceback" not in res.output
    assert published(workspace) == []
    assert list((workspace / "tmp").iterdir()) == []  # the staging folder was removed
    monkeypatch.undo()
    res = ingest(workspace, growing, flags=("--idle-timeout", "1"))
    assert res.code == 0, res.output
    assert len(published(workspace)) == 1
    assert captures(workspace)[0]["packets"] == 30_000
    assert [r["status"] for r in _log(workspace)] == ["failed", "ingested"]


def test_interrupt_message(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cranewatch.ingest

    def interrupted(self: object, batch: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cranewatch.ingest._StagedTable, "write", interrupted)
    res = ingest(workspace, write(tmp_path / "a.pcap", pcap(frames(2))))
    assert res.code == 130
    assert "interrupted; nothing half-written was kept" in res.err


# The child runs the real entry point with one change: after writing its first batch of flows
# the flow sink blocks, so the ingest is surely in progress (staging folder and a partial
# Parquet file on disk, nothing published) when the signal arrives.
_BLOCKING_CHILD = """
import sys, time
import cranewatch.ingest
from cranewatch.cli import main

write = cranewatch.ingest._StagedTable.write

def blocking(self, batch):
    write(self, batch)
    time.sleep(3600)

cranewatch.ingest._StagedTable.write = blocking
sys.argv[0] = "cranewatch"
main()
"""


def _wait_for_partial_flows(workspace: Path, proc: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for staged in (workspace / "tmp").glob("ingest-*"):
            if (staged / "flows.partial.parquet").exists():
                return staged
        if proc.poll() is not None:
            raise AssertionError(f"the ingest ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("the ingest never reached its flow sink")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_ingest_leaves_nothing_published(workspace: Path, growing: Path, sig: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BLOCKING_CHILD, "-w", str(workspace), "ingest", "-q",
         "--idle-timeout", "1", str(growing)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        staged = _wait_for_partial_flows(workspace, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 130), err
    assert "Traceback" not in err
    assert published(workspace) == []
    assert staged.exists() == (sig == signal.SIGKILL)  # SIGINT cleans up on the way out
    # the next run removes what a killed run left behind and ingests normally
    res = ingest(workspace, shared_capture("lldp_single_frame.pcap"))
    assert res.code == 0, res.output
    assert not staged.exists()
    assert len(published(workspace)) == 1


# ------------------------------------------------------------------------------ --strict


def test_strict_exit_status(workspace: Path, tmp_path: Path) -> None:
    clean = write(tmp_path / "clean.pcap", pcap(frames(2)))
    cut = write(tmp_path / "cut.pcap", pcap(frames(3))[:-4])
    assert ingest(workspace, clean, flags=("--strict",)).code == 0
    assert ingest(workspace, cut).code == 0
    assert ingest(workspace / "other", cut, flags=("--strict",)).code == 1
    bad = write(tmp_path / "bad.pcap", b"nonsense")
    assert ingest(workspace, clean, bad).code == 0
    assert ingest(workspace, clean, bad, flags=("--strict",)).code == 1


def test_negative_idle_timeout_is_refused(workspace: Path, tmp_path: Path) -> None:
    res = ingest(
        workspace, write(tmp_path / "a.pcap", pcap(frames(1))), flags=("--idle-timeout", "-1")
    )
    assert res.code == 1
    assert_one_line_error(res, "--idle-timeout")
