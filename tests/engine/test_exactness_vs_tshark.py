"""The packet engine against tshark: flows and assets of every capture versus the stored oracle.

For each capture in tests/captures, ingesting it must give:

- the same multiset of TCP/UDP conversations as tshark 4.0.17, a conversation being its two
  address/port ends and, for each end, the frames and bytes it sent (from ``flows``);
- the same IP addresses and MAC addresses (from ``assets``), and the same frame count (from
  ``captures``).

The tshark side is tests/baselines/tshark/<capture>.json (tests/oracles/make_tshark_baselines.py),
so this test needs no tshark. Where cranewatch counts differently on purpose, the difference is
applied by one of the rules below, by name, and nothing else is tolerated. Each rule is
explained in docs/validation.md, section "Rules of the comparison":

- R-FRAG  every fragment frame counts (tshark counts a reassembled datagram once);
- R-SNMP  tshark's SNMP dissector splits one 5-tuple into two streams; they are merged;
- R-VLAN  flows that differ only in vlan/outer_vlan/tunnel are summed (tshark's key has none);
- R-IDLE  flows of one 5-tuple ended by the idle timeout are joined (tshark has no timeout);
- R-REUSE TCP port reuse: no adjustment, both start a new conversation on a SYN with a new ISN.

"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cranewatch.ingest import ingest_paths
from cranewatch.store.query import connect
from cranewatch.store.workspace import Workspace

TESTS = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_tshark_baselines", TESTS / "oracles" / "make_tshark_baselines.py"
)
assert _spec is not None and _spec.loader is not None
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)

DOC = "docs/validation.md"
PROTO = {"tcp": 6, "udp": 17}
FLOW_COLUMNS = (
    "proto, vlan, outer_vlan, tunnel, src_ip, dst_ip, src_port, dst_port, "
    "src_packets, src_bytes, dst_packets, dst_bytes, packets, bytes, "
    "first_frame, last_frame, end_reason"
)

# A conversation as both sides are compared: (proto, ((ip, port, frames sent, bytes sent), ...)).
Conversation = tuple[int, tuple[tuple[str, int, int, int], ...]]


# ------------------------------------------------------------------------------ running the engine


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """Every capture ingested once, in-process, into one workspace (the CLI path is covered by
    tests/cli); rows are told apart by capture."""
    ws = Workspace.open(tmp_path_factory.mktemp("exactness") / "ws", create=True)
    report = ingest_paths(ws, baselines.captures())
    failed = [(o.path.name, o.error) for o in report.outcomes if o.status != "ingested"]
    assert not failed, failed
    return connect(ws)


def query(con: duckdb.DuckDBPyConnection, capture: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` over the views restricted to one capture (``{capture}`` in the SQL)."""
    path = str(capture.absolute()).replace("'", "''")
    restricted = sql.format(capture=f"(SELECT sha256 FROM captures WHERE path = '{path}')")
    return con.sql(restricted).to_arrow_table().to_pylist()


def ip(text: str) -> str:
    """One text form for both sides (tshark and Python differ on IPv4-mapped IPv6)."""
    return str(ipaddress.ip_address(text))


def conversation(proto: int, sent: dict[tuple[str, int], list[int]]) -> Conversation:
    return (proto, tuple(sorted((addr, port, f, b) for (addr, port), (f, b) in sent.items())))


# ------------------------------------------------------------------------------ tshark side


def tshark_conversations(oracle: dict[str, Any]) -> Counter[Conversation]:
    """tshark's conversations with the rules applied: R-FRAG, R-SNMP (and R-REUSE: no change)."""
    if oracle["orphan_fragments"]:
        pytest.fail(
            f"{oracle['capture']}: fragments without ports that no conversation can own "
            f"({oracle['orphan_fragments']}); write a rule in {DOC} first"
        )
    sent: dict[tuple[str, int], dict[tuple[str, int], list[int]]] = {}
    for c in oracle["conversations"]:
        per_end: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for side in ("a", "b"):
            end = (ip(c[side]["ip"]), c[side]["port"])
            per_end[end][0] += c[side]["frames"]
            per_end[end][1] += c[side]["bytes"]
            for kind in ("uncounted_fragments", "orphan_fragments"):  # R-FRAG
                extra = c.get(kind, {}).get(side)
                if extra:
                    per_end[end][0] += extra["frames"]
                    per_end[end][1] += extra["bytes"]
        sent[(c["proto"], c["stream"])] = per_end

    for split in oracle["stream_splits"]:  # R-SNMP, R-REUSE
        proto, streams = split["proto"], split["streams"]
        keep = streams[0]["stream"]
        for s in streams[1:]:
            if proto == "tcp" and s["starts_with_syn"]:
                keep = s["stream"]  # R-REUSE: a new conversation in both tools
                continue
            if "snmp" not in split["next_protocols"]:
                pytest.fail(
                    f"{oracle['capture']}: tshark split {split['endpoints']} into streams "
                    f"{[x['stream'] for x in streams]} for no documented reason; see {DOC}"
                )
            for end, (frames, nbytes) in sent.pop((proto, s["stream"])).items():
                sent[(proto, keep)][end][0] += frames
                sent[(proto, keep)][end][1] += nbytes
    return Counter(conversation(PROTO[proto], ends) for (proto, _), ends in sent.items())


# ------------------------------------------------------------------------------ engine side


def engine_conversations(flows: list[dict[str, Any]]) -> Counter[Conversation]:
    """The engine's TCP/UDP flows with R-VLAN and R-IDLE applied, split only by R-REUSE."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for f in flows:
        assert f["src_port"] is not None and f["dst_port"] is not None, f"flow without ports: {f}"
        ends = frozenset({(ip(f["src_ip"]), f["src_port"]), (ip(f["dst_ip"]), f["dst_port"])})
        groups[(f["proto"], ends)].append(f)
    out: Counter[Conversation] = Counter()
    for (proto, _), group in groups.items():
        segments: list[dict[tuple[str, int], list[int]]] = []
        reused: set[tuple[Any, ...]] = set()  # lanes whose last flow ended with a new SYN
        for f in sorted(group, key=lambda f: f["first_frame"]):
            lane = (f["vlan"], f["outer_vlan"], f["tunnel"])  # R-VLAN: lanes share a segment
            if not segments or lane in reused:  # R-IDLE: otherwise the flow continues
                segments.append(defaultdict(lambda: [0, 0]))
                reused.discard(lane)
            src, dst = (ip(f["src_ip"]), f["src_port"]), (ip(f["dst_ip"]), f["dst_port"])
            assert f["src_packets"] + f["dst_packets"] == f["packets"], f
            assert f["src_bytes"] + f["dst_bytes"] == f["bytes"], f
            segments[-1][src][0] += f["src_packets"]
            segments[-1][src][1] += f["src_bytes"]
            segments[-1][dst][0] += f["dst_packets"]
            segments[-1][dst][1] += f["dst_bytes"]
            if f["end_reason"] == "reused":  # R-REUSE
                reused.add(lane)
        for seg in segments:
            out[conversation(proto, {end: v for end, v in seg.items()})] += 1
    return out


# ------------------------------------------------------------------------------ the tests


@pytest.mark.slow
@pytest.mark.parametrize("capture", baselines.captures(), ids=lambda p: p.name)
def test_flows_match_tshark_conversations(
    capture: Path, workspace: duckdb.DuckDBPyConnection
) -> None:
    oracle = json.loads(baselines.baseline_path(capture).read_text())
    flows = query(
        workspace,
        capture,
        f"SELECT {FLOW_COLUMNS} FROM flows WHERE proto IN (6, 17) AND capture_sha256 = {{capture}}",
    )
    expected, got = tshark_conversations(oracle), engine_conversations(flows)
    assert got == expected, (
        f"{capture.name}: flows differ from tshark after the rules of {DOC}\n"
        f"  tshark only: {sorted((expected - got).elements())[:15]}\n"
        f"  engine only: {sorted((got - expected).elements())[:15]}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("capture", baselines.captures(), ids=lambda p: p.name)
def test_assets_and_frames_match_tshark(
    capture: Path, workspace: duckdb.DuckDBPyConnection
) -> None:
    oracle = json.loads(baselines.baseline_path(capture).read_text())
    rows = query(
        workspace,
        capture,
        "SELECT DISTINCT mac, ip FROM capture_assets WHERE capture_sha256 = {capture}",
    )
    ips = {ip(r["ip"]) for r in rows if r["ip"] is not None}
    macs = {r["mac"].lower() for r in rows if r["mac"] is not None}
    assert ips == {ip(a) for a in oracle["ip_addresses"]}, f"IP addresses differ; see {DOC}"
    assert macs == set(oracle["mac_addresses"]), f"MAC addresses differ; see {DOC}"
    (row,) = query(workspace, capture, "SELECT packets FROM captures WHERE sha256 = {capture}")
    assert row["packets"] == oracle["frames"]
