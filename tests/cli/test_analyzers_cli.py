"""The protocol analyzers from the command line: ``ingest --no-analyzer(s)``, ``analyzers``,
``assets show`` and the analyzer tables of ``query``.

Real captures from tests/captures: an S7-300 answering SZL identity requests (order number,
firmware), Modbus/TCP, and EtherNet/IP (a ListIdentity exchange between two hosts with
distinct addresses, for ``sent`` / ``received``). Expected values come from the observation
tables, from the capture bytes themselves and from tshark, never from the output under test.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from tests.conftest import shared_capture
from tests.runners import CliResult, cli_subprocess, query_json, run_cli

from cranewatch.observe.schemas import COVERAGE, IDENTITIES, OPERATIONS
from cranewatch.protocols._base import CompiledTier, ParseResult
from cranewatch.protocols.registry import BUILTIN_MODULES, Registry, load_registry, transport_of
from cranewatch.testing.protocols import sha256_of, tshark_fields

S7 = "s7comm_ident_szl_icsnpp.pcap"
MODBUS = "modbus_tcp_icsnpp_example.pcap"
ENIP = "enip_cip_icsnpp_example.pcap"

PLC_IP = "172.17.0.2"  # the snap7 S7-300 of the S7 capture (its client runs on the same host)
ORDER_NUMBER = "6ES7 315-2EH14-0AB0"
FIRMWARE = "V3.2.6"
ENBT_MAC, ENBT_IP, ENBT_PEER = "00:19:07:24:3c:ca", "10.1.1.164", "10.1.1.167"  # 1756-ENBT/A


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """One line per table row: no wrapped or truncated cells to reassemble."""
    import cranewatch.cli

    monkeypatch.setattr(cranewatch.cli.console, "width", 1000)


# ------------------------------------------------------------------------------ helpers


def one_error_line(res: CliResult) -> str:
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1, res.err
    assert "Traceback" not in res.output
    return lines[0]


def rich_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Rich table in ``text``: its rows as {header: cell} (one line per row)."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("┃"):
            header = [c.strip() for c in line.strip("┃").split("┃")]
            tables.append([])
        elif line.startswith("│") and header is not None:
            cells = [c.strip() for c in line.strip("│").split("│")]
            assert len(cells) == len(header), line
            tables[-1].append(dict(zip(header, cells, strict=True)))
        elif line.startswith("└"):
            header = None
    return tables


def sections(out: str) -> dict[str, str]:
    """The text under each heading of ``assets show`` (a heading is a line outside a table)."""
    found: dict[str, str] = {}
    title = ""
    for line in out.splitlines():
        if line and line[0] not in "┏┃┡│└" and not re.fullmatch(r"\d+ row\(s\)", line.strip()):
            title = line.strip()
            found[title] = ""
        elif title:
            found[title] += line + "\n"
    return found


def ingest_table(res: CliResult) -> dict[str, dict[str, str]]:
    (rows,) = [t for t in rich_tables(res.out) if t and "operations" in t[0]]
    return {row["file"]: row for row in rows}


def frame_bytes(path: Path, number: int) -> bytes:
    """Frame ``number`` (1-based, as tshark counts) of a classic little-endian pcap."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "expected a little-endian classic pcap"
    offset = 24
    for n in range(1, number + 1):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        offset += 16
        if n == number:
            return data[offset : offset + incl]
        offset += incl
    raise AssertionError("unreachable")


def normalised(text: str) -> str:
    """Help text with Rich's line wrapping undone."""
    return " ".join(text.split())


# ------------------------------------------------------------------------------ workspaces


def _ingest(folder: Path, *options: str, captures: tuple[str, ...] = (S7, MODBUS)) -> Iterator[Any]:
    ws = folder / "ws"
    res = run_cli("-w", ws, "ingest", *options, *(shared_capture(c) for c in captures))
    assert res.code == 0, res.output
    yield ws, res


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CliResult]]:
    """S7 SZL and Modbus captures with every analyzer."""
    yield from _ingest(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def without_s7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CliResult]]:
    yield from _ingest(tmp_path_factory.mktemp("no-s7"), "--no-analyzer", "s7comm")


@pytest.fixture(scope="module")
def without_any(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CliResult]]:
    yield from _ingest(tmp_path_factory.mktemp("none"), "--no-analyzers")


@pytest.fixture(scope="module")
def enip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CliResult]]:
    """The EtherNet/IP capture: a 1756-ENBT/A answers a ListIdentity from another host."""
    yield from _ingest(tmp_path_factory.mktemp("enip"), captures=(ENIP,))


def counts(ws: Path, table: str) -> dict[str | None, int]:
    rows = query_json(ws, f"SELECT protocol, count(*) AS n FROM {table} GROUP BY 1")
    return {r["protocol"]: r["n"] for r in rows}


FLOW_SQL = (
    "SELECT capture_sha256, flow_id, src_ip, dst_ip, src_port, dst_port, packets, bytes "
    "FROM flows ORDER BY capture_sha256, flow_id"
)


# ------------------------------------------------------------------ ingest with analyzers


def test_query_groups_operations_by_protocol(full: tuple[Path, CliResult]) -> None:
    ws, _ = full
    res = run_cli("-w", ws, "query", "SELECT protocol, count(*) FROM operations GROUP BY 1")
    assert res.code == 0, res.output
    (rows,) = rich_tables(res.out)
    shown = {row["protocol"]: int(row["count_star()"]) for row in rows}
    assert set(shown) == {"s7comm", "modbus"}
    assert all(n > 0 for n in shown.values())
    assert "2 row(s)" in res.out


def test_ingest_table_counts_match_the_tables(full: tuple[Path, CliResult]) -> None:
    ws, res = full
    table = ingest_table(res)
    for name in (S7, MODBUS):
        sha = sha256_of(shared_capture(name))
        for column in ("operations", "identities"):
            (row,) = query_json(
                ws, f"SELECT count(*) AS n FROM {column} WHERE capture_sha256 = '{sha}'"
            )
            assert int(table[name][column].replace(",", "")) == row["n"] > 0, (name, column)


def test_no_analyzer_leaves_out_its_operations_only(
    full: tuple[Path, CliResult], without_s7: tuple[Path, CliResult]
) -> None:
    ws, res = without_s7
    all_ops = counts(full[0], "operations")
    assert "s7comm" in all_ops  # else the comparison below proves nothing
    assert counts(ws, "operations") == {k: v for k, v in all_ops.items() if k != "s7comm"}
    assert "s7comm" not in counts(ws, "identities") and "modbus" in counts(ws, "identities")
    assert ingest_table(res)[S7]["operations"] == "0"
    # the flows are written all the same; the S7 flow is no longer attributed to a protocol
    assert query_json(ws, FLOW_SQL) == query_json(full[0], FLOW_SQL)
    assert "s7comm" not in counts(ws, "coverage") and "modbus" in counts(ws, "coverage")
    assert query_json(ws, "SELECT count(*) AS n FROM coverage WHERE protocol IS NULL") == [{"n": 1}]


def test_no_analyzers_writes_flows_but_no_analyzer_table(
    full: tuple[Path, CliResult], without_any: tuple[Path, CliResult]
) -> None:
    ws, res = without_any
    for table in ("operations", "identities", "coverage"):
        assert query_json(ws, f"SELECT count(*) AS n FROM {table}") == [{"n": 0}], table
        (before,) = query_json(full[0], f"SELECT count(*) AS n FROM {table}")
        assert before["n"] > 0, table
    assert query_json(ws, FLOW_SQL) == query_json(full[0], FLOW_SQL)
    assets = "SELECT mac, ip, packets_sent FROM assets ORDER BY ip, mac"
    assert query_json(ws, assets) == query_json(full[0], assets)
    assert {row["operations"] for row in ingest_table(res).values()} == {"0"}


def test_captures_record_which_analyzers_ran(
    full: tuple[Path, CliResult],
    without_s7: tuple[Path, CliResult],
    without_any: tuple[Path, CliResult],
) -> None:
    sql = "SELECT DISTINCT analyzers FROM captures"
    (everything,) = query_json(full[0], sql)
    assert everything["analyzers"] == load_registry().names()
    (no_s7,) = query_json(without_s7[0], sql)
    assert no_s7["analyzers"] == [n for n in load_registry().names() if n != "s7comm"]
    (none,) = query_json(without_any[0], sql)
    assert none["analyzers"] == []


@pytest.mark.parametrize(
    "options",
    [
        ("--no-analyzer", "nosuch"),
        ("--no-analyzer", "s7comm", "--no-analyzer", "nosuch"),
        ("--no-analyzers", "--no-analyzer", "nosuch"),
    ],
    ids=["alone", "with-a-known-one", "with-no-analyzers"],
)
def test_unknown_analyzer_is_a_one_line_usage_error(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    ws = tmp_path / "ws"
    res = run_cli("-w", ws, "ingest", *options, shared_capture(MODBUS))
    assert res.code == 2, res.output
    line = one_error_line(res)
    assert line.startswith("error: unknown analyzer(s): nosuch;"), line
    known = line.split("known:", 1)[1]
    assert [n.strip() for n in known.split(",")] == load_registry().names()
    assert not ws.exists(), "nothing may be ingested (not even a workspace created)"
    assert res.out == ""


def test_unknown_analyzer_leaves_an_existing_workspace_alone(
    full: tuple[Path, CliResult], tmp_path: Path
) -> None:
    ws = full[0]
    before = query_json(ws, "SELECT sha256 FROM captures ORDER BY 1")
    log = (ws / "ingest-log.jsonl").read_bytes()
    res = run_cli("-w", ws, "ingest", "--no-analyzer", "nosuch", shared_capture(ENIP))
    assert res.code == 2, res.output
    assert "nosuch" in one_error_line(res)
    assert query_json(ws, "SELECT sha256 FROM captures ORDER BY 1") == before
    assert (ws / "ingest-log.jsonl").read_bytes() == log


def test_unknown_analyzer_in_a_real_process(tmp_path: Path) -> None:
    res = cli_subprocess(
        "-w", tmp_path / "ws", "ingest", "--no-analyzer", "nosuch", shared_capture(MODBUS)
    )
    assert res.code == 2, res.output
    assert one_error_line(res).startswith("error: unknown analyzer(s): nosuch")
    assert not (tmp_path / "ws").exists()


# ------------------------------------------------------------------------------ analyzers


def test_analyzers_lists_every_builtin_and_its_compiled_tier() -> None:
    res = run_cli("analyzers")
    assert res.code == 0, res.output
    (rows,) = rich_tables(res.out)
    registry = load_registry()
    assert {row["name"] for row in rows} == set(registry.names()) >= set(BUILTIN_MODULES)
    shown = {(row["name"], row["transport"]): row["compiled tier"] for row in rows}
    expected = {
        (a.name, transport_of(a)): "yes" if getattr(a, "compiled", None) is not None else ""
        for a in registry.analyzers
    }
    assert shown == expected
    assert len(rows) == len(registry.analyzers)


class _FakeStream:
    """A minimal stream analyzer, as a plugin would register one."""

    status: Literal["stable", "beta"] = "beta"
    compiled: CompiledTier | None = None

    def __init__(self, name: str, ports: tuple[int, ...], compiled: bool) -> None:
        self.name, self.ports = name, ports
        self.description = f"{name} for the test"
        if compiled:
            self.compiled = CompiledTier(
                "mbap", lambda *a: None, str, lambda *a: None, lambda *a: None
            )

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return -1

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return ParseResult()


def test_analyzers_marks_exactly_the_compiled_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent of which built-ins have a compiled tier today."""
    import cranewatch.protocols.registry as registry

    fake = Registry(
        (_FakeStream("hoist_bus", (7000, 7001, 7002, 7010), True),
         _FakeStream("spreader", (7100,), False)),
        ("plugin broken (x:Y) not loaded: ImportError: nope",),
    )  # fmt: skip
    monkeypatch.setattr(registry, "load_registry", lambda: fake)
    res = run_cli("analyzers")
    assert res.code == 0, res.output
    (rows,) = rich_tables(res.out)
    assert [(r["name"], r["compiled tier"], r["ports / ethertypes"]) for r in rows] == [
        ("hoist_bus", "yes", "7000-7002, 7010"),
        ("spreader", "", "7100"),
    ]
    assert one_error_line(res) == "warning: plugin broken (x:Y) not loaded: ImportError: nope"


# ------------------------------------------------------------------------------ assets show


def test_assets_show_plc_identity_with_evidence(full: tuple[Path, CliResult]) -> None:
    ws, _ = full
    res = run_cli("-w", ws, "assets", "show", PLC_IP)
    assert res.code == 0, res.output
    parts = sections(res.out)
    (identity,) = rich_tables(parts["identity (what the device says about itself)"])
    shown = {row["attribute"]: row for row in identity}
    assert shown["order_number"]["value"] == ORDER_NUMBER
    assert shown["firmware"]["value"] == FIRMWARE
    sha = sha256_of(shared_capture(S7))
    for attribute in ("order_number", "firmware"):
        (row,) = query_json(
            ws,
            f"SELECT first_frame FROM identities WHERE ip = '{PLC_IP}' "
            f"AND attribute = '{attribute}' AND capture_sha256 = '{sha}'",
        )
        assert shown[attribute]["evidence"] == f"{sha[:12]} #{row['first_frame']}"
        assert shown[attribute]["protocol"] == "s7comm"
    # the frame given as evidence really carries the order number
    frame = int(shown["order_number"]["evidence"].split("#")[1])
    assert ORDER_NUMBER.encode() in frame_bytes(shared_capture(S7), frame)
    assert ORDER_NUMBER.encode() not in b"".join(
        frame_bytes(shared_capture(S7), n) for n in range(1, frame)
    ), "the evidence must be the first frame that carries it"


def test_assets_show_evidence_frame_agrees_with_tshark(
    full: tuple[Path, CliResult], tshark: str
) -> None:
    res = run_cli("-w", full[0], "assets", "show", PLC_IP)
    assert res.code == 0, res.output
    (identity,) = rich_tables(sections(res.out)["identity (what the device says about itself)"])
    (evidence,) = [row["evidence"] for row in identity if row["attribute"] == "order_number"]
    field = "s7comm.szl.xy11.0001.anz"  # MlfB, the order number in SZL 0x0011
    rows = tshark_fields(shared_capture(S7), ["frame.number", field], field, tshark=tshark)
    frames = [int(r[0][0]) for r in rows if any(v.strip() == ORDER_NUMBER for v in r[1])]
    assert frames, rows
    assert evidence.endswith(f" #{min(frames)}")


def test_assets_show_plc_operations_and_protocols(full: tuple[Path, CliResult]) -> None:
    ws, _ = full
    res = run_cli("-w", ws, "assets", "show", PLC_IP)
    assert res.code == 0, res.output
    parts = sections(res.out)
    (addresses,) = rich_tables(parts["addresses"])
    assert [(r["ip"], r["first_capture"]) for r in addresses] == [
        (PLC_IP, sha256_of(shared_capture(S7))[:12])
    ]
    (operations,) = rich_tables(parts["operations"])
    expected = query_json(
        ws,
        f"SELECT DISTINCT protocol, operation, direction FROM operations "
        f"WHERE src_ip = '{PLC_IP}' OR dst_ip = '{PLC_IP}' ORDER BY ALL",
    )
    assert sorted({(r["protocol"], r["operation"], r["direction"]) for r in operations}) == [
        tuple(e.values()) for e in expected
    ]
    assert {"read_szl", "setup_communication"} <= {r["operation"] for r in operations}
    # client and PLC share the address in this capture: every PDU went from it to itself
    assert {r["role"] for r in operations} == {"to itself"}
    assert all(re.fullmatch(r"[0-9a-f]{12} #\d+", r["evidence"]) for r in operations)
    (protocols,) = rich_tables(parts["protocols of its flows (coverage)"])
    assert [(r["protocol"], r["transport"]) for r in protocols] == [("s7comm", "tcp")]


@pytest.mark.parametrize("spelling", [ENBT_MAC, ENBT_MAC.upper(), ENBT_MAC.replace(":", "-"),
                                      ENBT_MAC.replace(":", "")])  # fmt: skip
def test_assets_show_by_mac(enip: tuple[Path, CliResult], spelling: str) -> None:
    res = run_cli("-w", enip[0], "assets", "show", spelling)
    assert res.code == 0, res.output
    parts = sections(res.out)
    (addresses,) = rich_tables(parts["addresses"])
    assert [(r["mac"], r["ip"]) for r in addresses] == [(ENBT_MAC, ENBT_IP)]
    (identity,) = rich_tables(parts["identity (what the device says about itself)"])
    assert {r["attribute"]: r["value"] for r in identity}["product_name"] == "1756-ENBT/A"
    (operations,) = rich_tables(parts["operations"])
    assert sorted((r["operation"], r["direction"], r["role"], r["peer"]) for r in operations) == [
        ("list_identity", "request", "received", ENBT_PEER),
        ("list_identity", "response", "sent", ENBT_PEER),
    ]
    (protocols,) = rich_tables(parts["protocols of its flows (coverage)"])
    assert {r["protocol"] for r in protocols} == {"enip"}


def test_assets_show_mac_and_ip_agree(enip: tuple[Path, CliResult]) -> None:
    by_mac = run_cli("-w", enip[0], "assets", "show", ENBT_MAC)
    by_ip = run_cli("-w", enip[0], "assets", "show", ENBT_IP)
    assert by_mac.code == by_ip.code == 0
    assert rich_tables(by_mac.out) == rich_tables(by_ip.out)


def test_assets_show_device_without_analyzer_facts(without_any: tuple[Path, CliResult]) -> None:
    res = run_cli("-w", without_any[0], "assets", "show", PLC_IP)
    assert res.code == 0, res.output
    assert "the device announced nothing about itself" in res.out
    assert "no operation sent or received" in res.out
    assert "no role derived" in res.out and "no name seen" in res.out
    assert "no flow with payload" in res.out
    assert ORDER_NUMBER not in res.out


@pytest.mark.parametrize("asset", ["10.9.9.9", "02:00:00:00:00:99", "fe80::1"])
def test_assets_show_unknown_device(full: tuple[Path, CliResult], asset: str) -> None:
    res = run_cli("-w", full[0], "assets", "show", asset)
    assert res.code == 1, res.output
    line = one_error_line(res)
    assert line.startswith(f"error: no device {asset} in this workspace")
    assert '`cranewatch query "SELECT ip, mac, vendor FROM assets"`' in line
    assert res.out == ""


@pytest.mark.parametrize("asset", ["banana", "10.0.0.256", "00:1b:1b:aa:bb", "10.0.0.0/24"])
def test_assets_show_malformed_address(full: tuple[Path, CliResult], asset: str) -> None:
    res = run_cli("-w", full[0], "assets", "show", asset)
    assert res.code == 2, res.output
    line = one_error_line(res)
    assert line.startswith(f"error: {asset!r} is neither an IP nor a MAC address"), line
    assert res.out == ""


def test_assets_show_malformed_address_in_a_real_process(full: tuple[Path, CliResult]) -> None:
    res = cli_subprocess("-w", full[0], "assets", "show", "banana")
    assert res.code == 2, res.output
    assert "neither an IP nor a MAC address" in one_error_line(res)


# ------------------------------------------------------------------------------ help


@pytest.mark.parametrize(
    ("command", "example"),
    [
        (("assets", "show"), "cranewatch -w case1 assets show 10.20.1.15"),
        (("assets", "show"), "cranewatch -w case1 assets show 00:1b:1b:aa:bb:cc"),
        (("assets",), "cranewatch -w case1 assets show 10.20.1.15"),
        (("analyzers",), "cranewatch analyzers"),
        (("ingest",), "ingest crane07.pcap --no-analyzer mqtt --no-analyzer bacnet"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_help_has_examples(command: tuple[str, ...], example: str) -> None:
    res = run_cli(*command, "--help")
    assert res.code == 0, res.output
    text = normalised(res.out)
    assert re.search(r"Examples?:", text)
    assert example in text.split("Example", 1)[1]


def test_ingest_help_examples_name_real_analyzers() -> None:
    text = normalised(run_cli("ingest", "--help").out)
    examples = text.split("Examples:", 1)[1].split("Arguments", 1)[0]
    named = re.findall(r"--no-analyzer (\w+)", examples)
    assert named and set(named) <= set(load_registry().names())
    assert "--no-analyzers" in text.split("Options", 1)[1]


def test_query_help_mentions_the_analyzer_tables() -> None:
    res = run_cli("query", "--help")
    assert res.code == 0, res.output
    text = normalised(res.out)
    for table in ("captures", "flows", "assets", "capture_assets", "operations", "identities",
                  "coverage"):  # fmt: skip
        assert re.search(rf"\b{table}\b", text.split("Examples")[0]), table


@pytest.mark.parametrize("schema", [OPERATIONS, IDENTITIES, COVERAGE], ids=lambda s: s.name)
def test_new_views_exist_in_an_empty_workspace(workspace: Path, schema: Any) -> None:
    from cranewatch.store.workspace import Workspace

    Workspace.open(workspace, create=True)
    res = run_cli("-w", workspace, "query", f"SELECT * FROM {schema.name}", "--format", "csv")
    assert res.code == 0, res.output
    assert res.out.splitlines() == [",".join(f'"{c}"' for c in schema.column_names)]
