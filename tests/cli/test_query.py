"""``cranewatch query`` and ``captures``, and the help of every command.

The query command runs one DuckDB statement over the workspace's views (captures, flows,
capture_assets, assets) and prints a table, CSV or JSON. A fresh workspace has the same views,
empty, with the right columns; a bad statement is a one-line "query failed" error; the
``assets`` view merges the per-capture rows of the same (vlan, MAC, IP) across captures.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from tests.capture_builder import ETH_IPV4, Packet, ether, ipv4, pcap, udp
from tests.runners import CliResult, run_cli

from cranewatch.observe.schemas import ASSETS, CAPTURES, FLOWS
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

SEC = 1_000_000_000
MODEM, PLC = "00:1e:42:00:00:01", "00:1b:1b:00:00:02"


def capture(path: Path, start_s: int, n: int) -> Path:
    """UDP 10.0.0.1:1000 -> 10.0.0.2:53 and back, ``n`` exchanges from ``start_s``."""
    frames = []
    for i in range(n):
        frames.append(
            Packet(
                (start_s + i) * SEC,
                ether(PLC, MODEM, ETH_IPV4, ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 53, b"q"))),
            )
        )
        frames.append(
            Packet(
                (start_s + i) * SEC + 1000,
                ether(
                    MODEM, PLC, ETH_IPV4, ipv4("10.0.0.2", "10.0.0.1", 17, udp(53, 1000, b"answer"))
                ),
            )
        )
    path.write_bytes(pcap(frames))
    return path


@pytest.fixture(scope="module")
def two_captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with two captures of the same two hosts (one day apart)."""
    folder = tmp_path_factory.mktemp("query")
    ws = folder / "ws"
    first = capture(folder / "monday.pcap", 1_700_000_000, 2)
    second = capture(folder / "tuesday.pcap", 1_700_086_400, 3)
    res = run_cli("-w", ws, "ingest", first, second)
    assert res.code == 0, res.output
    return ws


def query(ws: Path, sql: str, fmt: str = "json") -> CliResult:
    return run_cli("-w", ws, "query", sql, "--format", fmt)


def one_error_line(res: CliResult) -> str:
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1, res.err
    assert "Traceback" not in res.output
    return lines[0]


# ------------------------------------------------------------------------------ formats

SQL = "SELECT src_ip, dst_port, packets FROM flows ORDER BY packets"


def test_json_format(two_captures: Path) -> None:
    res = query(two_captures, SQL)
    assert res.code == 0, res.output
    assert res.json() == [
        {"src_ip": "10.0.0.1", "dst_port": 53, "packets": 4},
        {"src_ip": "10.0.0.1", "dst_port": 53, "packets": 6},
    ]


def test_csv_format(two_captures: Path) -> None:
    res = query(two_captures, SQL, "csv")
    assert res.code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.out)))
    assert rows == [
        ["src_ip", "dst_port", "packets"],
        ["10.0.0.1", "53", "4"],
        ["10.0.0.1", "53", "6"],
    ]


def test_table_format(two_captures: Path) -> None:
    res = query(two_captures, SQL, "table")
    assert res.code == 0, res.output
    for text in ("src_ip", "dst_port", "packets", "10.0.0.1", "2 row(s)"):
        assert text in res.out
    assert query(two_captures, SQL).out != res.out


def test_short_format_option(two_captures: Path) -> None:
    res = run_cli("-w", two_captures, "query", SQL, "-f", "json")
    assert res.code == 0 and len(res.json()) == 2


def test_json_timestamps_and_lists(two_captures: Path) -> None:
    res = query(
        two_captures, "SELECT first_ts, link_types, skip_reasons FROM captures ORDER BY first_ts"
    )
    assert res.code == 0, res.output
    rows = res.json()
    assert [r["link_types"] for r in rows] == [["ethernet"], ["ethernet"]]
    assert [r["skip_reasons"] for r in rows] == [[], []]
    # ISO 8601 with all nine decimals: capture timestamps are nanoseconds
    assert re.fullmatch(r"2023-11-14T22:13:20\.\d{9}\+0000", rows[0]["first_ts"])


def test_unknown_format_is_a_usage_error(two_captures: Path) -> None:
    res = query(two_captures, SQL, "xml")
    assert res.code == 2
    assert "Traceback" not in res.output


# ------------------------------------------------------------------------------ views


def test_assets_view_merges_captures(two_captures: Path) -> None:
    rows = query(
        two_captures,
        "SELECT mac, ip, vendor, captures, packets_sent, packets_received, first_ts, last_ts FROM assets ORDER BY ip",
    ).json()
    assert [(r["mac"], r["ip"], r["captures"]) for r in rows] == [
        (MODEM, "10.0.0.1", 2),
        (PLC, "10.0.0.2", 2),
    ]
    assert (rows[0]["packets_sent"], rows[0]["packets_received"]) == (5, 5)
    assert rows[0]["vendor"] == "Teltonika"
    assert rows[0]["first_ts"].startswith("2023-11-14") and rows[0]["last_ts"].startswith(
        "2023-11-15"
    )
    per_capture = query(two_captures, "SELECT count(*) AS n FROM capture_assets").json()
    assert per_capture == [{"n": 4}]


def test_views_hold_every_capture(two_captures: Path) -> None:
    rows = query(
        two_captures,
        "SELECT regexp_extract(path, '[^/]+$') AS file, packets FROM captures ORDER BY file",
    ).json()
    assert rows == [{"file": "monday.pcap", "packets": 4}, {"file": "tuesday.pcap", "packets": 6}]
    sha = query(two_captures, "SELECT count(DISTINCT capture_sha256) AS n FROM flows").json()
    assert sha == [{"n": 2}]


@pytest.mark.parametrize(
    ("view", "columns"),
    [
        ("captures", CAPTURES.column_names),
        ("flows", FLOWS.column_names),
        ("capture_assets", ASSETS.column_names),
    ],
)
def test_empty_workspace_has_empty_views_with_columns(
    workspace: Path, view: str, columns: list[str]
) -> None:
    Workspace.open(workspace, create=True)
    table = run_query(Workspace.open(workspace), f"SELECT * FROM {view}")
    assert table.num_rows == 0
    assert table.column_names == columns
    assert query(workspace, f"SELECT * FROM {view}").json() == []
    res = query(workspace, f"SELECT * FROM {view} LIMIT 0", "table")
    assert res.code == 0 and "0 row(s)" in res.out


def test_empty_workspace_csv_has_the_header(workspace: Path) -> None:
    Workspace.open(workspace, create=True)
    res = query(workspace, "SELECT * FROM flows", "csv")
    assert res.code == 0, res.output
    assert res.out.splitlines() == [",".join(f'"{c}"' for c in FLOWS.column_names)]


@pytest.mark.parametrize("which", ["empty", "two"])
def test_csv_of_list_columns(workspace: Path, two_captures: Path, which: str) -> None:
    """captures.link_types and skip_reasons are lists; CSV must still come out."""
    ws = two_captures
    if which == "empty":
        Workspace.open(workspace, create=True)
        ws = workspace
    res = query(ws, "SELECT sha256, link_types, skip_reasons FROM captures", "csv")
    assert res.code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.out)))
    assert rows[0] == ["sha256", "link_types", "skip_reasons"]
    assert len(rows) == (1 if which == "empty" else 3)


def test_empty_workspace_assets_view(workspace: Path) -> None:
    Workspace.open(workspace, create=True)
    table = run_query(Workspace.open(workspace), "SELECT * FROM assets")
    assert table.num_rows == 0
    assert "captures" in table.column_names and "first_capture_sha256" in table.column_names
    res = query(workspace, "SELECT count(*) AS n FROM assets", "table")
    assert res.code == 0 and "1 row(s)" in res.out


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "sql",
    ["SELEC * FROM flows", "SELECT nope FROM flows", "SELECT * FROM no_such_table", "SELECT 1/"],
)
def test_bad_sql_is_one_line(two_captures: Path, sql: str) -> None:
    res = query(two_captures, sql)
    assert res.code == 1
    line = one_error_line(res)
    assert line.startswith("error: query failed:"), line


def test_error_text_is_not_taken_as_markup(two_captures: Path) -> None:
    """DuckDB quotes the user's identifiers in its messages; they must be printed as given."""
    res = query(two_captures, 'SELECT "[/red]" FROM flows')
    assert res.code == 1, res.output
    assert "[/red]" in one_error_line(res)


def test_values_are_not_taken_as_markup(two_captures: Path) -> None:
    res = query(two_captures, "SELECT '[bold]x[/bold]' AS a, '[/]' AS b", "table")
    assert res.code == 0, res.output
    assert "[bold]x[/bold]" in res.out and "[/]" in res.out


def test_query_needs_an_existing_workspace(tmp_path: Path) -> None:
    res = query(tmp_path / "missing", "SELECT 1")
    assert res.code == 1
    assert "no workspace at" in one_error_line(res)
    assert not (tmp_path / "missing").exists()


def test_captures_command(two_captures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cranewatch.cli

    monkeypatch.setattr(cranewatch.cli.console, "width", 160)  # no truncated cells
    res = run_cli("-w", two_captures, "captures")
    assert res.code == 0, res.output
    assert "monday.pcap" in res.out and "tuesday.pcap" in res.out and "2 row(s)" in res.out


# ------------------------------------------------------------------------------ help

COMMANDS = [(), ("ingest",), ("query",), ("captures",), ("testbed",), ("testbed", "synth")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "cranewatch")
def test_help_has_examples(command: tuple[str, ...]) -> None:
    res = run_cli(*command, "--help")
    assert res.code == 0, res.output
    assert "Usage" in res.out
    assert "Example" in res.out


def test_version() -> None:
    from cranewatch._version import __version__

    res = run_cli("--version")
    assert (res.code, res.out.strip()) == (0, f"cranewatch {__version__}")


def test_no_arguments_shows_help() -> None:
    res = run_cli()
    assert "Usage" in res.output and "Traceback" not in res.output


def test_json_is_valid_for_every_table(two_captures: Path) -> None:
    for view in ("captures", "flows", "capture_assets", "assets"):
        res = query(two_captures, f"SELECT * FROM {view}")
        assert res.code == 0, res.output
        assert isinstance(json.loads(res.out), list)


@pytest.mark.parametrize(("timeout", "flows"), [("900", 2), ("0", 1)])
def test_idle_timeout_option(tmp_path: Path, timeout: str, flows: int) -> None:
    """Two exchanges a day apart: one flow each with the default timeout, one flow with 0."""
    path = tmp_path / "two-days.pcap"
    path.write_bytes(
        capture(tmp_path / "a.pcap", 1_700_000_000, 1).read_bytes()
        + capture(tmp_path / "b.pcap", 1_700_086_400, 1).read_bytes()[24:]
    )
    ws = tmp_path / "ws"
    assert run_cli("-w", ws, "ingest", "--idle-timeout", timeout, path).code == 0
    rows = query(ws, "SELECT end_reason, packets FROM flows ORDER BY first_ts").json()
    expected = [{"end_reason": "idle", "packets": 2}, {"end_reason": "eof", "packets": 2}]
    assert rows == (expected if flows == 2 else [{"end_reason": "eof", "packets": 4}])
    stored = query(ws, "SELECT idle_timeout_s FROM captures").json()
    assert stored == [{"idle_timeout_s": float(timeout)}]
